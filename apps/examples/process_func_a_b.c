/* process_func_a_b - seed 001 "A simple example": two processes, each
 * given a name, print hello and are joined. */
#include <stdio.h>
#include <troupe/troupe.h>

TP_TASK(func_a)
{
	const char *name;
	return tp_unpack(args, "s", &name) || printf("hello %s\n", name) < 0;
}

TP_TASK(func_b)
{
	const char *name;
	return tp_unpack(args, "s", &name) || printf("hello %s\n", name) < 0;
}

int main(void)
{
	tp_process *procs[2];
	tp_init(NULL);
	tp_process_startf(&procs[0], func_a, "s", "bob");
	tp_process_startf(&procs[1], func_b, "s", "jerry");
	for (int i = 0; i < 2; i++)
		tp_process_join(procs[i], -1), tp_process_free(procs[i]);
	return tp_fini();
}
