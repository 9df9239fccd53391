/*
 * process_say_hello - seed 002 "using a second process", cpu_count, and a
 * target with an argument; seed 001 func_a/func_b with 'bob' and 'jerry'.
 *
 * Python:
 *   print("This is the main process, before starting a new process")
 *   p1 = mp.Process(target=sayHello); p1.start(); p1.join()
 *   print("This is the main process after joining")
 *   print("CPU count: ", multiprocessing.cpu_count())
 *   p = Process(target=sayHello, args=("Victor",)); p.start(); p.join()
 *   procs = [Process(target=func_a, args=('bob',)),
 *            Process(target=func_b, args=('jerry',))]  # start all, join
 */
#include <stdio.h>

#include "troupe/troupe.h"

static int say_hello_child(const tp_payload *args, tp_payload *result)
{
	(void)args;
	(void)result;
	printf("Hello from the child process\n");
	return 0;
}
TP_TARGET(say_hello_child);

static int say_hello(const tp_payload *args, tp_payload *result)
{
	const char *name = "";
	(void)result;
	tp_payload_get_string(args, 0, &name);
	printf("Hello %s\n", name);
	return 0;
}
TP_TARGET(say_hello);

static int func_a(const tp_payload *args, tp_payload *result)
{
	const char *name = "";
	(void)result;
	tp_payload_get_string(args, 0, &name);
	printf("hello %s\n", name);
	return 0;
}
TP_TARGET(func_a);

static int func_b(const tp_payload *args, tp_payload *result)
{
	return func_a(args, result);
}
TP_TARGET(func_b);

static tp_process *start(tp_target_fn fn, const char *arg)
{
	tp_process *p = NULL;
	tp_payload *args = NULL;
	tp_payload_new(&args);
	if (arg != NULL)
		tp_payload_add_string(args, arg);
	int rv = tp_process_new(&p, fn, args, NULL);
	if (rv == TP_OK)
		rv = tp_process_start(p);
	if (rv != TP_OK)
		fprintf(stderr, "start: %s\n", tp_strerror(rv));
	tp_payload_free(args);
	fflush(stdout);
	return p;
}

int main(void)
{
	int rv = tp_init(NULL);
	if (rv != TP_OK) {
		fprintf(stderr, "tp_init: %s\n", tp_strerror(rv));
		return 1;
	}
	printf("This is the main process, before starting a new process\n");
	fflush(stdout);
	tp_process *p1 = start(say_hello_child, NULL);
	tp_process_join(p1, -1);
	printf("This is the main process after joining\n");
	printf("CPU count:  %d\n", tp_cpu_count());
	fflush(stdout);
	tp_process *p = start(say_hello, "Victor");
	tp_process_join(p, -1);
	tp_process *procs[2] = {start(func_a, "bob"), start(func_b, "jerry")};
	for (int i = 0; i < 2; i++)
		tp_process_join(procs[i], -1);
	tp_process_free(p1);
	tp_process_free(p);
	tp_process_free(procs[0]);
	tp_process_free(procs[1]);
	return tp_fini();
}
