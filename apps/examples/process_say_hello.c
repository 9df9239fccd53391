/* process_say_hello - seed 002 "Example: using a second process". */
#include <troupe/troupe.h>

TP_TASK(sayHello)
{
	return tp_print("s", "Hello from the child process");
}

int main(void)
{
	tp_process *p1;
	tp_init(NULL);
	tp_print("s",
	         "This is the main process, before starting a new process");
	tp_process_startf(&p1, sayHello, "");
	tp_process_join(p1, -1);
	tp_print("s", "This is the main process after joining");
	tp_process_free(p1);
	return tp_fini();
}
