/*
 * process_calculate_e - seed 004 CalculateE: a named process computes "e"
 * until told to stop, and its value comes back to the parent. Python
 * needed a SimpleQueue and an Event for that; here the target returns the
 * value as its result (tp_process_result), the stop request is a signal
 * (an Event from the sync module would do the same), and a monitor shows
 * the exit event the runtime publishes for every child.
 *
 * Python:
 *   e_process = CalculateE(); e_process.start()
 *   time.sleep(3); e_process.exit_event.set(); print(e_process.get())
 */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "troupe/troupe.h"

static volatile sig_atomic_t exit_event;

static void set_exit_event(int sig)
{
	(void)sig;
	exit_event = 1;
}

static double calculate_e(void)
{
	double k = 1.0, e_value = 0.0;
	long iteration = 0;
	/* exit when exit_event is set */
	while (iteration % 1000 != 0 || !exit_event) {
		e_value += 1.0 / k;
		k *= (double)(iteration + 1);
		iteration += 1;
	}
	return e_value;
}

static int calculate_e_process(const tp_payload *args, tp_payload *result)
{
	(void)args;
	signal(SIGUSR1, set_exit_event);
	tp_payload_add_double(result, calculate_e());
	return 0;
}
TP_TARGET(calculate_e_process);

int main(void)
{
	tp_process_opts o = {.name = "calculate_e_process"};
	tp_process *p;
	tp_payload *res;
	tp_monitor *m;
	tp_exit_event ev;
	double e;
	int rv = tp_init(NULL);
	if (rv != TP_OK) {
		fprintf(stderr, "tp_init: %s\n", tp_strerror(rv));
		return 1;
	}
	if ((rv = tp_process_new(&p, calculate_e_process, NULL, &o)) != TP_OK ||
	    (rv = tp_process_start(p)) != TP_OK ||
	    (rv = tp_monitor_new(&m, tp_process_pid(p))) != TP_OK) {
		fprintf(stderr, "start: %s\n", tp_strerror(rv));
		return 1;
	}
	sleep(3);                         /* do other useful stuff ... */
	kill(tp_process_pid(p), SIGUSR1); /* tell process to stop */
	if ((rv = tp_process_result(p, &res, -1)) != TP_OK ||
	    (rv = tp_payload_get_double(res, 0, &e)) != TP_OK) {
		fprintf(stderr, "result: %s\n", tp_strerror(rv));
		return 1;
	}
	printf("%.16g\n", e); /* print e */
	if (tp_monitor_next(m, &ev, 5000) == TP_OK)
		printf("exit event: pid=%d name=%s exitcode=%d signal=%d\n",
		       (int)ev.pid, ev.name, ev.exitcode, ev.signal);
	tp_payload_free(res);
	tp_monitor_free(m);
	tp_process_free(p);
	return tp_fini();
}
