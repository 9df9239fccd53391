/*
 * pidwatch.h - the pidfd of a process (pidwatch.c): the one primitive that
 * watches a pid, in rt/ so that every layer that watches one may use it
 * (log/'s logging-actor handle, proc/'s child API in watch.c, otp/'s
 * monitors). Everything else about watching and reaping a child is in
 * proc/watch.c (proc/child_int.h).
 */
#ifndef TP_PIDWATCH_H
#define TP_PIDWATCH_H

#include <sys/types.h>

/* A pidfd for pid (close-on-exec; readable once pid exited), which need
 * not be our child. Errors: TP_EINVAL (pid <= 0), the errno of
 * pidfd_open (ESRCH: no such process; ENOSYS: a kernel without pidfds). */
int tp__pid_watch(pid_t pid, int *fd);

#endif
