/*
 * sync_lock_print - seed 001 "Synchronisation using Lock": ten processes
 * each print 'hello world i' while holding one shared Lock, so no two
 * lines ever mix:
 *
 *     hello world 0
 *     hello world 1
 *     ...
 *
 * (in the order the processes get the lock).
 *
 * Python:
 *   def f(l, i):
 *       l.acquire()
 *       try: print('hello world', i)
 *       finally: l.release()
 *   lock = Lock()
 *   for num in range(10): Process(target=f, args=(lock, num)).start()
 *
 * The lock travels in each process's args (the children are started by
 * the fork server, so they inherit nothing from main).
 */
#include <stdio.h>

#include "troupe/troupe.h"

static int f(const tp_payload *args, tp_payload *result)
{
	tp_lock *l;
	int64_t i;
	(void)result;
	if (tp_payload_get_lock(args, 0, &l) != TP_OK ||
	    tp_payload_get_int(args, 1, &i) != TP_OK)
		return 1;
	tp_lock_acquire(l, -1);
	printf("hello world %lld\n", (long long)i);
	fflush(stdout);
	tp_lock_release(l);
	tp_lock_free(l);
	return 0;
}
TP_TARGET(f);

int main(void)
{
	tp_process *procs[10];
	tp_payload *args;
	tp_lock *lock;
	int rv;
	if ((rv = tp_init(NULL)) != TP_OK ||
	    (rv = tp_lock_new(&lock)) != TP_OK) {
		fprintf(stderr, "sync_lock_print: %s\n", tp_strerror(rv));
		return 1;
	}
	for (int num = 0; num < 10; num++) {
		tp_payload_new(&args);
		tp_payload_add_lock(args, lock);
		tp_payload_add_int(args, num);
		if ((rv = tp_process_new(&procs[num], f, args, NULL)) !=
		        TP_OK ||
		    (rv = tp_process_start(procs[num])) != TP_OK) {
			fprintf(stderr, "sync_lock_print: %s\n",
			        tp_strerror(rv));
			return 1;
		}
		tp_payload_free(args);
	}
	for (int num = 0; num < 10; num++) {
		tp_process_join(procs[num], -1);
		tp_process_free(procs[num]);
	}
	tp_lock_free(lock);
	return tp_fini();
}
