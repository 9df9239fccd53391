/*
 * pool_calculate_e - seed 004 "Using multiprocessing.Pool": calculate_e
 * runs in a pool worker via apply_async until the parent sets an Event,
 * then the parent prints the value get() returns. Python needs a
 * SyncManager's Event for a pool; a troupe Event travels in the task's
 * arguments. Usage: pool_calculate_e [SECONDS] (default 3, as the seed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "troupe/troupe.h"

static int calculate_e(const tp_payload *args, tp_payload *result)
{
	tp_event *exit_event;
	double k = 1.0, e_value = 0.0;
	long iteration = 0;
	int rv = tp_payload_get_event(args, 0, &exit_event);
	if (rv != TP_OK)
		return rv;
	/* exit when exit_event is set */
	while (iteration % 1000 != 0 || !tp_event_is_set(exit_event)) {
		e_value += 1.0 / k;
		k *= (double)(iteration + 1);
		iteration++;
	}
	tp_event_free(exit_event);
	return tp_payload_add_double(result, e_value);
}
TP_TARGET(calculate_e);

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 3.0;
	tp_pool *pool;
	tp_event *e_exit_event;
	tp_payload *args, *out;
	tp_pool_result *e_proc;
	double e = 0;
	int rv;
	if ((rv = tp_init(NULL)) != TP_OK ||
	    (rv = tp_pool_new(&pool, 0, NULL, NULL, 0)) != TP_OK ||
	    (rv = tp_event_new(&e_exit_event)) != TP_OK) {
		fprintf(stderr, "pool_calculate_e: %s\n", tp_strerror(rv));
		return 1;
	}
	tp_payload_new(&args);
	tp_payload_add_event(args, e_exit_event);
	tp_pool_apply_async(pool, calculate_e, args, NULL, NULL, NULL, &e_proc);
	struct timespec ts = {(time_t)secs,
	                      (long)((secs - (double)(time_t)secs) * 1e9)};
	nanosleep(&ts, NULL);       /* do other stuff */
	tp_event_set(e_exit_event); /* tell calculate_e to stop */
	rv = tp_pool_result_get(e_proc, &out, -1);
	if (rv == TP_OK) {
		tp_payload_get_double(out, 0, &e);
		printf("%.16g\n", e); /* print(e_proc.get()) */
		tp_payload_free(out);
	} else {
		fprintf(stderr, "pool_calculate_e: %s\n", tp_strerror(rv));
	}
	tp_pool_result_free(e_proc);
	tp_payload_free(args);
	tp_pool_free(pool); /* the end of the with block */
	tp_event_free(e_exit_event);
	tp_fini();
	return rv == TP_OK ? 0 : 1;
}
