/*
 * process_terminate - seed 002 "Example: terminate()": the child sleeps
 * 10 s, the main process terminates it after 1 s (SIGTERM; the child's
 * exitcode is then -15).
 */
#include <stdio.h>
#include <unistd.h>

#include "troupe/troupe.h"

static int my_process(const tp_payload *args, tp_payload *result)
{
	(void)args;
	(void)result;
	printf("Starting the child Process with pid: %d\n",
	       (int)tp_process_pid(tp_current_process()));
	fflush(stdout);
	sleep(10);
	printf("Child process terminating normally\n");
	return 0;
}
TP_TARGET(my_process);

int main(void)
{
	tp_process_opts o = {.name = "child"};
	tp_process *p;
	int rv = tp_init(NULL);
	if (rv != TP_OK) {
		fprintf(stderr, "tp_init: %s\n", tp_strerror(rv));
		return 1;
	}
	if ((rv = tp_process_new(&p, my_process, NULL, &o)) != TP_OK ||
	    (rv = tp_process_start(p)) != TP_OK) {
		fprintf(stderr, "start: %s\n", tp_strerror(rv));
		return 1;
	}
	sleep(1);
	printf("Main is to terminate the child process\n");
	tp_process_terminate(p);
	printf("Child process killed by main\n");
	fflush(stdout);
	tp_process_join(p, -1);
	tp_process_free(p);
	return tp_fini();
}
