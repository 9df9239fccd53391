/*
 * queue_simple_calculate_e - a worker computes e until told to stop and
 * returns the value through a SimpleQueue (seed 004, CalculateE). The
 * seed's stop signal is an Event (the sync module); here a second
 * SimpleQueue carries it, so the example needs only this module.
 * Prints: 2.7182818284590455, as Python does.
 */
#include <stdio.h>
#include <unistd.h>

#include "troupe/troupe.h"

/* calculate "e" to do some work, until the stop queue is not empty */
static double calculate_e(tp_queue *exit_event)
{
	double k = 1.0, e_value = 0.0;
	long iteration = 0;
	while (iteration % 1000 != 0 || tp_queue_empty(exit_event)) {
		e_value += 1.0 / k;
		k *= (double)(iteration + 1);
		iteration++;
	}
	return e_value;
}

static int calculate_e_process(const tp_payload *args, tp_payload *result)
{
	tp_queue *results, *exit_event;
	(void)result;
	if (tp_payload_get_queue(args, 0, &results) != TP_OK ||
	    tp_payload_get_queue(args, 1, &exit_event) != TP_OK)
		return 1;
	int rv = tp_queue_put_double(results, calculate_e(exit_event), -1);
	tp_queue_free(results);
	tp_queue_free(exit_event);
	return rv;
}
TP_TARGET(calculate_e_process)

int main(void)
{
	tp_queue *results, *exit_event;
	tp_payload *args;
	tp_process *p;
	tp_process_opts o = {.name = "calculate_e_process"};
	double e;
	int rv = tp_init(NULL);
	if (rv != TP_OK) {
		fprintf(stderr, "tp_init: %s\n", tp_strerror(rv));
		return 1;
	}
	tp_simple_queue_new(&results);
	tp_simple_queue_new(&exit_event);
	tp_payload_new(&args);
	tp_payload_add_queue(args, results);
	tp_payload_add_queue(args, exit_event);
	tp_process_new(&p, calculate_e_process, args, &o);
	tp_process_start(p);
	usleep(300000);                             /* do other useful stuff */
	tp_queue_put_string(exit_event, "set", -1); /* tell it to stop */
	if ((rv = tp_queue_get_double(results, &e, -1)) == TP_OK)
		printf("%.17g\n", e); /* print e */
	tp_process_join(p, -1);
	tp_process_free(p);
	tp_payload_free(args);
	tp_queue_free(results);
	tp_queue_free(exit_event);
	tp_fini();
	return rv == TP_OK ? 0 : 1;
}
