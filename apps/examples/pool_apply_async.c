/*
 * pool_apply_async - seed 000 "Process Pool": Pool(4) and 8 apply_async
 * tasks; each worker sleeps a random time and prints its number, so the
 * numbers come out in whatever order the tasks finish. close() then join()
 * wait for all of them, as in Python.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "troupe/troupe.h"

static int worker(const tp_payload *args, tp_payload *result)
{
	int64_t i = 0;
	(void)result;
	tp_payload_get_int(args, 0, &i);
	srand((unsigned)(time(NULL) ^ getpid() ^ (i << 8)));
	struct timespec ts = {0, (long)(rand() % 1000) * 1000000L};
	nanosleep(&ts, NULL); /* time.sleep(random.random()) */
	printf("%lld\n", (long long)i);
	fflush(stdout);
	return 0;
}
TP_TARGET(worker);

int main(void)
{
	tp_pool *p;
	int rv;
	if ((rv = tp_init(NULL)) != TP_OK ||
	    (rv = tp_pool_new(&p, 4, NULL, NULL, 0)) != TP_OK) {
		fprintf(stderr, "pool: %s\n", tp_strerror(rv));
		return 1;
	}
	for (int i = 0; i < 8; i++) {
		tp_payload *args;
		tp_payload_new(&args);
		tp_payload_add_int(args, i);
		tp_pool_apply_async(p, worker, args, NULL, NULL, NULL, NULL);
		tp_payload_free(args);
	}
	tp_pool_close(p);
	tp_pool_join(p, -1);
	tp_pool_free(p);
	tp_fini();
	return 0;
}
