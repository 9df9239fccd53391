/*
 * thread.c - the library's threads start with every signal blocked, so a
 * program that blocks a signal after tp_init (to sigwait or signalfd it in
 * one thread) still gets it there, never in a thread of ours.
 */
#include <pthread.h>
#include <signal.h>

#include "runtime_int.h"
#include "troupe/error.h"

int tp__thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int e = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return e == 0 ? TP_OK : tp_err_errno(e);
}
