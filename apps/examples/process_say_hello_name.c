/* process_say_hello_name - seed 002 "The multiprocessing.Process class":
 * the child gets a string argument. */
#include <troupe/troupe.h>

TP_TASK(sayHello) /* args: (name,) */
{
	return tp_print("sp", "Hello", args);
}

int main(void)
{
	tp_process *p;
	tp_init(NULL);
	tp_process_startf(&p, sayHello, "s", "Victor");
	tp_process_join(p, -1), tp_process_free(p);
	return tp_fini();
}
