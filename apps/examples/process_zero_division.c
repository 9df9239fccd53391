/* process_zero_division - seed 000: the child divides by zero. In C that
 * is a real SIGFPE: troupe prints the child's crash report (signal and
 * backtrace) on stderr, as Python prints the traceback, and the parent
 * (and the rest of the program) goes on. */
#include <troupe/troupe.h>

static volatile int zero; /* a real division, not one the compiler folds */

/* Out of UBSan's reach so the division really traps. */
__attribute__((no_sanitize("undefined"))) TP_TASK(worker)
{
	return tp_printf("%d\n", 2 / zero);
}

int main(void)
{
	tp_process *p;
	tp_init(NULL);
	tp_process_startf(&p, worker, "s", "Hello, world.");
	tp_process_join(p, -1), tp_process_free(p);
	return tp_fini();
}
