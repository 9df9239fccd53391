/* runtime_int.h - internal: the runtime's state (rt/runtime.c), the run
 * directory helpers (rt/rundir.c) and tp__nng_used, used by every layer
 * above rt and by init.c. */
#ifndef TP_RUNTIME_INT_H
#define TP_RUNTIME_INT_H

#include <pthread.h>
#include <stddef.h>
#include <sys/types.h>

#include "troupe/runtime.h"

/* Environment variable that hands the runtime directory to children. */
#define TP_ENV_RUNDIR "TROUPE_RUNDIR"

struct tp_runtime {
	int initialised;
	int owner; /* 1 in the process that created the directory */
	tp_start_method method;
	char base[256]; /* where run directories live */
	char dir[256];  /* this run's directory */
	char id[64];    /* "<pid>.<starttime>" of the owner */
};

extern struct tp_runtime tp__rt;

/* pthread_create with every signal blocked in the new thread (thread.c):
 * every thread of the library starts so. Errors: wrapped errno. */
int tp__thread_start(pthread_t *t, void *(*fn)(void *), void *arg);

/* Creates (or validates) a private 0700 directory owned by this user. */
int tp__private_dir(const char *path);

/* Removes a directory tree (best effort; returns the first error). */
int tp__rmtree(const char *path);

/* Reads the start time (clock ticks since boot) of pid from /proc. */
int tp__proc_starttime(pid_t pid, unsigned long long *out);

/* Removes run directories under base whose owner process is gone. Returns
 * the number removed, or a negative value if base cannot be read. */
int tp__rundir_clean_stale(const char *base);

/*
 * tp__nng_used marks this process as having touched nng. Every module calls
 * it before it opens its first nng socket (or calls any nng function): a
 * process forked after that cannot use nng, so the fork start method then
 * fails with TP_EFORKNNG and the fork server is no longer started lazily.
 */
void tp__nng_used(void);

/* Whether tp__nng_used was called in this process (or before its fork). */
int tp__nng_was_used(void);

/* The runtime's part of tp_init (init.c): validates opts, picks the start
 * method, creates (or, in a child, adopts) the run directory. */
int tp__runtime_start(const tp_init_opts *opts);

/* The runtime's part of tp_fini, last: removes the run's shared-memory
 * segments and directory if this process owns them, forgets the run. */
void tp__runtime_stop(void);

#endif
