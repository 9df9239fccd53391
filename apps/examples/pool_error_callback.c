/*
 * pool_error_callback - seed 000: Pool(1), two apply_async tasks that
 * divide by zero, and an error_callback that prints the remote error. In
 * Python the callback prints a RemoteTraceback; here the error carries
 * where it came from (worker, pid, task, function) and the worker's
 * message, printed in the same shape.
 */
#include <stdio.h>

#include "troupe/troupe.h"

static int worker(const tp_payload *args, tp_payload *result)
{
	int64_t i = 0, zero = 0;
	tp_payload_get_int(args, 0, &i);
	if (zero == 0) /* print(i / 0) */
		return tp_task_fail(result, "ZeroDivisionError: division by "
		                            "zero");
	printf("%lld\n", (long long)(i / zero));
	return 0;
}
TP_TARGET(worker);

static int print_traceback(const tp_pool_error *e, void *arg)
{
	(void)arg;
	printf("troupe.pool.RemoteError: \n\"\"\"\n"
	       "Remote error (most recent call last):\n"
	       "  %s\n%s\n\"\"\"\n\n"
	       "The above exception was the direct cause of the following "
	       "exception:\n\n%s\n",
	       e->origin, e->message, e->message);
	fflush(stdout);
	return 0;
}

int main(void)
{
	tp_pool *p;
	int rv;
	if ((rv = tp_init(NULL)) != TP_OK ||
	    (rv = tp_pool_new(&p, 1, NULL, NULL, 0)) != TP_OK) {
		fprintf(stderr, "pool: %s\n", tp_strerror(rv));
		return 1;
	}
	for (int i = 0; i < 2; i++) {
		tp_payload *args;
		tp_payload_new(&args);
		tp_payload_add_int(args, i);
		tp_pool_apply_async(p, worker, args, NULL, print_traceback,
		                    NULL, NULL);
		tp_payload_free(args);
	}
	tp_pool_close(p);
	tp_pool_join(p, -1);
	tp_pool_free(p);
	tp_fini();
	return 0;
}
