/*
 * process_daemon - seed 002 examples d1, d2 and d3: a child named "child"
 * that sleeps 3 s, with the main process sleeping 6 s (d1) or 1 s (d2,
 * d3) and then ending without join. A daemonic child is terminated when
 * the main process exits (d2 never prints "terminating"); a non-daemonic
 * one is joined (d3 finishes). Usage: process_daemon d1|d2|d3
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "troupe/troupe.h"

static int my_process(const tp_payload *args, tp_payload *result)
{
	char repr[160];
	int64_t d3 = 0;
	(void)result;
	tp_payload_get_int(args, 0, &d3);
	const tp_process *me = tp_current_process();
	printf("Starting the child Process\n");
	printf("Child process started: %s pid = %d\n",
	       tp_process_repr(me, repr, sizeof(repr)),
	       (int)tp_process_pid(me));
	fflush(stdout);
	sleep(3);
	if (d3)
		printf("Child process (parent pid = %d) terminating ...\n",
		       (int)tp_process_pid(tp_parent_process()));
	else
		printf("Child process terminating ...\n");
	return 0;
}
TP_TARGET(my_process);

int main(int argc, char **argv)
{
	const char *ex = argc > 1 ? argv[1] : "d1";
	tp_process_opts o = {.name = "child", .daemon = 1};
	tp_process *p;
	tp_payload *args;
	char repr[160];
	int rv = tp_init(NULL);
	if (rv != TP_OK) {
		fprintf(stderr, "tp_init: %s\n", tp_strerror(rv));
		return 1;
	}
	if (strcmp(ex, "d1") != 0 && strcmp(ex, "d2") != 0 &&
	    strcmp(ex, "d3") != 0) {
		fprintf(stderr, "usage: process_daemon d1|d2|d3\n");
		return 2;
	}
	o.daemon = strcmp(ex, "d3") != 0;
	const tp_process *me = tp_current_process();
	printf("Main process: %s pid = %d\n",
	       tp_process_repr(me, repr, sizeof(repr)),
	       (int)tp_process_pid(me));
	fflush(stdout);
	tp_payload_new(&args);
	tp_payload_add_int(args, strcmp(ex, "d3") == 0);
	if ((rv = tp_process_new(&p, my_process, args, &o)) != TP_OK ||
	    (rv = tp_process_start(p)) != TP_OK) {
		fprintf(stderr, "start: %s\n", tp_strerror(rv));
		return 1;
	}
	tp_payload_free(args);
	printf("Let's see if the child process continues to execute\n");
	fflush(stdout);
	sleep(strcmp(ex, "d1") == 0 ? 6 : 1);
	printf("Main process terminating ...\n");
	fflush(stdout);
	/* No join: at exit the daemon is terminated, the non-daemon joined
	 * (tp_fini runs from atexit too; here it is explicit). */
	rv = tp_fini();
	tp_process_free(p);
	return rv;
}
