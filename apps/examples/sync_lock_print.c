/*
 * sync_lock_print - seed 001 "Synchronisation using Lock": ten processes
 * each print 'hello world i' while holding one shared Lock, so no two
 * lines ever mix:
 *
 *     hello world 0
 *     hello world 1
 *     ...
 *
 * (in the order the processes get the lock). The children are plain
 * fork()s and use the Lock they inherit.
 */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "troupe/troupe.h"

static void f(tp_lock *l, int i)
{
	tp_lock_acquire(l, -1);
	printf("hello world %d\n", i);
	fflush(stdout);
	tp_lock_release(l);
}

int main(void)
{
	tp_init_opts o = {.start_method = TP_START_FORK};
	tp_lock *lock;
	pid_t pids[10];
	int rv;
	if ((rv = tp_init(&o)) != TP_OK || (rv = tp_lock_new(&lock)) != TP_OK) {
		fprintf(stderr, "sync_lock_print: %s\n", tp_strerror(rv));
		return 1;
	}
	fflush(stdout);
	for (int num = 0; num < 10; num++) {
		if ((pids[num] = fork()) == 0) {
			f(lock, num);
			_exit(0);
		}
	}
	for (int num = 0; num < 10; num++)
		waitpid(pids[num], NULL, 0);
	tp_lock_free(lock);
	tp_fini();
	return 0;
}
