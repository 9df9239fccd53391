/* spawn_main_guard - seed 001: the `__main__` guard with the spawn start
 * method. tp_init() is the guard: a spawned child re-runs this program,
 * and tp_init() runs foo() there instead of main's body. */
#include <stdio.h>
#include <troupe/troupe.h>

TP_TASK(foo) /* registered by name: what a spawned child looks up */
{
	return printf("hello\n") < 0;
}

int main(void)
{
	tp_process *p;
	tp_init(&(tp_init_opts){.start_method = TP_START_SPAWN});
	tp_process_startf(&p, foo, "");
	int rv = tp_fini(); /* joins p, as Python does at exit */
	tp_process_free(p);
	return rv;
}
