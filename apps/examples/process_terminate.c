/* process_terminate - seed 002 "Example: terminate()": the child sleeps
 * 10 s; main terminates it after 1 s (SIGTERM). */
#include <unistd.h>
#include <troupe/troupe.h>

TP_TASK(myProcess)
{
	tp_printf("Starting the child Process with pid: %d\n",
	          (int)tp_process_pid(tp_current_process()));
	sleep(10);
	return tp_printf("Child process terminating normally\n");
}

int main(void)
{
	tp_process *p;
	tp_init(NULL);
	tp_process_new(&p, myProcess, NULL,
	               &(tp_process_opts){.name = "child"});
	tp_process_start(p);
	sleep(1);
	tp_print("s", "Main is to terminate the child process");
	tp_process_terminate(p);
	tp_print("s", "Child process killed by main");
	int rv = tp_fini();
	tp_process_free(p);
	return rv;
}
