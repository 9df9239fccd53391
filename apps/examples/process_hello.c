/*
 * process_hello - seed 000 "Process": a target with an argument, start,
 * the parent is not blocked before join, join.
 *
 * Python:
 *   def worker(s):
 *       print('Start sleeping for 2 seconds...'); time.sleep(2)
 *       print('Sleeping ends.'); print(s)
 *   p = Process(target=worker, args=('Hello, world.',))
 *   p.start(); print('before join(), the parent process is not blocked')
 *   p.join(); print('After join()')
 */
#include <stdio.h>
#include <unistd.h>

#include "troupe/troupe.h"

static int worker(const tp_payload *args, tp_payload *result)
{
	const char *s = "";
	(void)result;
	tp_payload_get_string(args, 0, &s);
	printf("Start sleeping for 2 seconds...\n");
	fflush(stdout);
	sleep(2);
	printf("Sleeping ends.\n");
	printf("%s\n", s);
	return 0;
}
TP_TARGET(worker);

int main(void)
{
	tp_process *p;
	tp_payload *args;
	int rv;
	if ((rv = tp_init(NULL)) != TP_OK) {
		fprintf(stderr, "tp_init: %s\n", tp_strerror(rv));
		return 1;
	}
	tp_payload_new(&args);
	tp_payload_add_string(args, "Hello, world.");
	if ((rv = tp_process_new(&p, worker, args, NULL)) != TP_OK ||
	    (rv = tp_process_start(p)) != TP_OK) {
		fprintf(stderr, "start: %s\n", tp_strerror(rv));
		return 1;
	}
	tp_payload_free(args);
	printf("before join(), the parent process is not blocked\n");
	fflush(stdout);
	tp_process_join(p, -1);
	printf("After join()\n");
	tp_process_free(p);
	return tp_fini();
}
