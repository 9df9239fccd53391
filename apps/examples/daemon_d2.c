/* daemon_d2 - seed 002 "Example d2": a daemonic child; main sleeps 1 s only, so
 * the child is terminated when main exits. */
#include <unistd.h>
#include <troupe/troupe.h>

static char me[128]; /* repr(mp.current_process()) */

TP_TASK(myProcess)
{
	tp_printf("Starting the child Process\n");
	tp_process_repr(tp_current_process(), me, sizeof(me));
	tp_printf("Child process started: %s pid = %d\n", me, (int)getpid());
	sleep(3);
	tp_printf("Child process terminating ...\n");
	return 0;
}

int main(void)
{
	tp_process *p;
	tp_init(NULL);
	tp_process_repr(tp_current_process(), me, sizeof(me));
	tp_printf("Main process: %s pid = %d\n", me, (int)getpid());
	tp_process_new(&p, myProcess, NULL,
	               &(tp_process_opts){.name = "child", .daemon = 1});
	tp_process_start(p);
	tp_printf("Let's see if the child process continues to execute\n");
	sleep(1);
	tp_printf("Main process terminating ...\n");
	int rv = tp_fini(); /* daemonic children terminated, others joined */
	return tp_free("T", p) + rv;
}
