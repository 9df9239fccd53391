/*
 * child_int.h - the one child abstraction of the process layer: a process
 * this process started, however it was started, and the only way the
 * library watches, signals, stops and reaps one.
 *
 * Starting: a registered target (tp_process, start.c: fork server, spawn,
 * fork) or a command line (tp__child_exec: vfork + exec); every process
 * the library starts is started in launch.c (a fork server clones its
 * children in its own process, forkserver.c). Both end in a struct
 * tp__child holding the pid and a pidfd. Watching: the pidfd (readable
 * once the child exits). Reaping: tp__child_reap, which appends the exit
 * event (code or signal, crash report) to the run's exit log, the event
 * monitors in any process receive (monitor.c), then reaps with wait4.
 * Users: tp_process (process.c, reap.c), the supervisor's command-line and
 * target children (otp/sup_spawn.c, otp/sup_target.c), the actor loop's
 * watched pids (otp/actor.c). Nothing else in the library forks, spawns,
 * execs, signals through a pidfd or waits for a process, and only
 * rt/pidwatch.c opens a pidfd (checked by the ctest layer_forks).
 */
#ifndef TP_CHILD_INT_H
#define TP_CHILD_INT_H

#include <stdint.h>
#include <sys/types.h>

#include "pidwatch.h"
#include "spin.h"
#include "troupe/process.h"

/* A child of this process. */
struct tp__child {
	struct tp__spin spin; /* a wait for the exit spins first (spin.h) */
	pid_t pid;            /* 0: none */
	int pidfd;            /* readable once it exits; -1: none */
	int reap_group;       /* 1: SIGKILL its process group at reap */
	int64_t started_ms;   /* when it was started (tp__now_ms) */
	int64_t cpu_ms;       /* user + system CPU, once reaped */
	/* Called by tp__child_reap with the wait status once the exit event
	 * is published and before the pid is gone; NULL: none. */
	void (*exited)(void *arg, int status);
	void *exited_arg;
};

/* Its exit event. */
struct tp__exit {
	int status;   /* raw wait status */
	int code;     /* exit code, or -N for signal N */
	char *report; /* crash report (malloc'd), or NULL */
};

/* Whom tp__child_signal signals. */
#define TP_SIG_CHILD 1 /* the child itself (through its pidfd) */
#define TP_SIG_GROUP 2 /* its process group (a child that leads one) */

/* The fd a readiness notifier (tp_ready) writes "READY=1\n" to in an
 * exec'd child, and the variable naming it. */
#define TP_EXEC_NOTIFY_FD  3
#define TP_EXEC_NOTIFY_ENV "TROUPE_NOTIFY_FD"

/* Starting a process (launch.c). fork() with the child's signal mask
 * emptied and stdio flushed first; returns as fork. */
pid_t tp__launch_fork(void);
/* posix_spawn of /proc/self/exe with environment env, keeping keep_fd
 * open in the child, its signal mask empty. Errors: the spawn's errno. */
int tp__launch_self(int keep_fd, char *const env[], pid_t *pid);

/* A command line to exec (tp__child_exec, launch.c). */
struct tp__exec {
	const char *path;  /* resolved (tp__exec_resolve) */
	char *const *argv; /* NULL-terminated */
	char *const *envp; /* the child's whole environment */
	const char *cwd;   /* or NULL */
	int in, out, err;  /* become fds 0, 1, 2; -1: left as they are */
	int notify;        /* becomes fd TP_EXEC_NOTIFY_FD; -1: none */
	int new_group;     /* 1: the child leads a new process group */
	int set_umask;     /* 1: umask(umask) */
	int umask;
	int set_user; /* 1: setgroups, setgid(gid), setuid(uid) */
	uid_t uid;
	gid_t gid;
};

void tp__child_init(struct tp__child *k);
/* Takes pid, a child of this process just started, into k: opens its
 * pidfd (where the kernel cannot, k->pidfd stays -1 and waits poll). */
void tp__child_adopt(struct tp__child *k, pid_t pid);
/* Finds prog as execvp would (PATH, else /usr/local/bin:/usr/bin:/bin).
 * Errors: the errno of the failed lookup (TP_ENOENT, TP_EACCES, ...). */
int tp__exec_resolve(const char *prog, char *out, size_t len);
/*
 * Starts a command line with vfork + exec (safe after nng started: no
 * pthread_atfork handler runs). The child dies with this thread
 * (PR_SET_PDEATHSIG, the race checked), gets default dispositions and an
 * empty signal mask. Returns once exec succeeded; an exec, setuid or
 * chdir failure is its errno, and no child is left.
 */
int tp__child_exec(struct tp__child *k, const struct tp__exec *x);
/* The fd that becomes readable when k exits (its pidfd; readable from
 * then on, also once reaped, until tp__child_close), or -1. */
int tp__child_watch_fd(const struct tp__child *k);
/* Sends sig to k (to: TP_SIG_CHILD, TP_SIG_GROUP or both). A child that
 * is gone is not an error. */
int tp__child_signal(struct tp__child *k, int sig, int to);
/* Waits up to timeout_ms (-1: no limit) for k to exit, without reaping:
 * TP_OK once it exited, else TP_ETIMEDOUT. */
int tp__child_wait(struct tp__child *k, int timeout_ms);
/*
 * Waits up to timeout_ms for k to exit, then (with reap_group) kills what
 * is left of its group while its zombie holds the group id, publishes the
 * exit event under name (NULL: publishes none), calls k->exited, and reaps
 * it with its CPU time. TP_OK with *ev filled (free ev->report), or
 * TP_ETIMEDOUT. A child someone else reaped reads as killed by SIGKILL.
 */
int tp__child_reap(struct tp__child *k, const char *name, int timeout_ms,
                   struct tp__exit *ev);
/* Stops k: sig to `to`, up to timeout_ms for it to exit, then SIGKILL to
 * child and group; reaps it as tp__child_reap. */
int tp__child_stop(struct tp__child *k, int sig, int to, int timeout_ms,
                   const char *name, struct tp__exit *ev);
/* Closes k's pidfd; k holds no child after (its exited hook stays). */
void tp__child_close(struct tp__child *k);

/* Watching a pid that may not be our child (a monitor, the actor loop):
 * tp__pid_watch (rt/pidwatch.h) gives its pidfd. */
/* 1 and *code (exit code, -N for signal N) when pid is our child and has
 * exited, left unreaped for its owner; else 0. */
int tp__pid_peek(pid_t pid, int *code);
/* Reaps our child pid (waiting for it), publishing no event: a fork
 * server's. */
void tp__pid_reap(pid_t pid);
/* Reaps pid if it has exited, without waiting: 1 when it is gone (reaped
 * now, or not a child of this process), 0 while it runs. */
int tp__pid_reap_if_dead(pid_t pid);

/* The child of a tp_process (process.c). */
struct tp__child *tp__process_child(tp_process *p);

#endif
