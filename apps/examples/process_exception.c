/*
 * process_exception - seed 000: an error in the child is reported by the
 * parent. Python prints "Process Process-1:" and the traceback of the
 * ZeroDivisionError; in C an integer division by zero is SIGFPE, and the
 * parent prints the crash report: process name, pid, signal and the
 * child's backtrace taken at the fault. Then exitcode is -8 (-SIGFPE).
 *
 * Python:
 *   def worker(s): print(2 / 0)
 *   p = Process(target=worker, args=('Hello, world.',)); p.start()
 *   p.join()
 */
#include <stdio.h>

#include "troupe/troupe.h"

static volatile int zero;

/* Kept out of the sanitizers so the division really faults. */
__attribute__((no_sanitize("undefined"))) static int
worker(const tp_payload *args, tp_payload *result)
{
	(void)args;
	(void)result;
	printf("%d\n", 2 / zero);
	return 0;
}
TP_TARGET(worker);

int main(void)
{
	tp_process *p;
	tp_payload *args;
	char repr[160];
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
	tp_process_join(p, -1); /* the crash report is printed on stderr */
	printf("%s\n", tp_process_repr(p, repr, sizeof(repr)));
	tp_process_free(p);
	return tp_fini();
}
