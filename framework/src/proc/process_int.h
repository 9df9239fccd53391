/*
 * process_int.h - internal state of the process module, shared between
 * process.c (the parent's API), start.c (start methods), forkserver.c
 * (the fork server), child.c (what runs in a child before and after its
 * target), reap.c (a tp_process's channel and exit; the child itself is
 * watched and reaped through child_int.h, watch.c), ctl.c (the framed
 * control channel) and monitor.c (exit events); also by init.c
 * (tp__process_init/fini, tp_spawn_guard) and the pool (pool_wire.c).
 */
#ifndef TP_PROCESS_INT_H
#define TP_PROCESS_INT_H

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

#include "child_int.h"
#include "troupe.pb-c.h"
#include "troupe/process.h"

#define TP_NAME_MAX   128
#define TP_TARGET_MAX 64

/* Environment of a spawned child: the control channel fd and the pid the
 * child expects as its parent (checked after PR_SET_PDEATHSIG). */
#define TP_ENV_START_FD   "TROUPE_START_FD"
#define TP_ENV_PARENT_PID "TROUPE_PARENT_PID"
/* Environment of a spawned fork server: its socket (with the parent pid). */
#define TP_ENV_SERVER_FD "TROUPE_FORKSERVER_FD"

/* PROC_CLOSED: tp_process_close released the handle's resources. */
enum proc_state { PROC_NEW, PROC_RUNNING, PROC_EXITED, PROC_SELF, PROC_CLOSED };

/* A growable receive buffer for the control channel. */
struct tp_ctlbuf {
	unsigned char *data;
	size_t len, cap;
};

struct tp_process {
	struct tp__spin spin; /* a join's wait for its frames (rt/spin.h) */
	char name[TP_NAME_MAX];
	char identity[TP_NAME_MAX]; /* "3" or "3:1" */
	char target[TP_TARGET_MAX];
	tp_payload *args;
	int daemon, new_group;
	tp_start_method method;
	enum proc_state state;
	pid_t pid;
	struct tp__child kid; /* the child: watched, signalled, reaped */
	int fd;     /* parent's end of the control channel, -1 when none */
	int direct; /* this process is the real parent: it reaps */
	int eof;    /* the control channel hit end of file */
	int have_status;
	int status; /* raw wait status */
	char *report;
	tp_payload *result;
	int have_result, result_taken;
	int detached; /* freed by the user while running: runtime owns it */
	int desync;   /* the channel lost its framing: drain only */
	int ready;    /* the child sent a ready frame (tp_ready) */
	int owned;    /* a supervisor's own child (otp/sup_target.c): not
	                 reported to the watcher below */
	struct tp_ctlbuf rb;
	pthread_mutex_t pump_mu; /* one thread at a time pumps (reap.c) */
	struct tp_process *next;
};

/* Process-wide state of the module. */
struct tp_procmod {
	pthread_mutex_t mu; /* guards children and counter */
	tp_process *children;
	int counter;
	tp_process self, parent;
	int have_parent;
	int is_child;
	pid_t self_pid;
	int server_fd; /* socket to the fork server, -1 when none */
	pid_t server_pid;
	int ctl_fd; /* in a child: its own control channel, else -1 */
	int atexit_set;
};

extern struct tp_procmod tp__pm;

/* Target registry (process.c). */
tp_target_fn tp__target_find(const char *name);
const char *tp__target_name(tp_target_fn fn);

/* Control channel frames: [u32 length, little endian][Envelope]. */
int tp__ctl_send(int fd, const Troupe__Envelope *env);
int tp__ctl_send_raw(int fd, const void *buf, size_t len);
/* Reads what is available without blocking. Returns TP_OK, TP_ECLOSED at
 * end of file, or an error. */
int tp__ctl_fill(int fd, struct tp_ctlbuf *b);
/* Pops one complete frame into *env (NULL when none is complete yet). */
int tp__ctl_next(struct tp_ctlbuf *b, Troupe__Envelope **env);
/* Blocking read of one frame. */
int tp__ctl_read(int fd, struct tp_ctlbuf *b, Troupe__Envelope **env);
void tp__ctlbuf_free(struct tp_ctlbuf *b);

/* Fork server (forkserver.c). */
/* The process module's part of tp_init / tp_fini (process.c, called by
 * init.c): init starts the fork server (a spawned child never returns from
 * it); fini finishes the children and closes the exit log. */
int tp__process_init(const tp_init_opts *opts);
void tp__process_fini(void);

/* Spares the fork server keeps cloned ahead of the next starts: two by
 * default, so that starts in a row find one ready while the server clones
 * the next (docs/performance.md, "The fork server's spare");
 * TROUPE_FORKSERVER_SPARES=N in the environment sets 0 to TP__SPARES_MAX
 * (tp__server_spares_wanted). */
#define TP__SPARES     2
#define TP__SPARES_MAX 8
int tp__server_spares_wanted(void);

/* Starts a fork server: forked while this process is nng-free, else
 * spawned from /proc/self/exe. Where the kernel cannot tell the
 * tid address a clone must fix: tp_err_errno(ENOSYS), then starts spawn. */
int tp__server_start(void);
/* The server's loop (forkserver.c), also entered by a spawned server. */
_Noreturn void tp__server_run(int sock, pid_t parent);
/* Closes the server's socket; kills and reaps the listed spares (and
 * children whose start failed after they took it), then the server. */
void tp__server_stop(void);
/* Sends a start request. A start in flight from here until
 * tp__server_started, which every request that returned TP_OK must get
 * (the adopted child's pid, 0 when the start failed). */
int tp__server_request(int child_fd, const char *name);
void tp__server_started(pid_t pid);
/* Waits (up to timeout_ms) until the server has its spares
 * waiting, says it has none, or is gone, reaping the spares that died untaken:
 * a process's children are then steady (tests count them). TP_ETIMEDOUT. */
int tp__server_settle(int timeout_ms);
/* The listed spares' pids (at most max), for tests. */
int tp__server_spares(pid_t *out, int max);
/* In a forked child: forgets the parent's list of spares. */
void tp__server_forget(void);
/* The wait status of an exited child seen with waitid(WNOWAIT). */
int tp__wait_status(const siginfo_t *si);
/* 1 when the server is gone (its socket hung up); then it is reaped. */
int tp__server_dead(void);

/* Child side (child.c). Never returns. */
_Noreturn void tp__child_run(int fd, pid_t expected_parent);
/* What tp__child_run does before it reads its request, done ahead in a
 * fork server's spare: PR_SET_PDEATHSIG towards expected_parent (exits
 * when that is no longer the parent), the module's state reset, the
 * first writes to the pages a start writes. */
void tp__child_warm(pid_t expected_parent);
/* Closes, in a freshly forked process, every fd it must not keep: the
 * parent ends of sibling control channels, the fork server socket and its
 * own control channel. */
void tp__close_inherited(void);
/* Once in the fork server: what every child would otherwise do itself
 * (stdin on /dev/null, the crash handlers), inherited by its clones. */
void tp__child_prepare(void);
/* Finishes this process's children as at exit: daemons terminated, then
 * everyone joined; stops the fork server. */
void tp__finish_children(void);

/* Reads p's control channel for up to timeout_ms (0: what is there) and
 * handles its frames. TP_OK once the child exited (reaped, event
 * published, crash report printed), TP_ETIMEDOUT while it runs (reap.c). */
int tp__process_pump(tp_process *p, int timeout_ms);

/* In a Process child: sends the ready frame on its control channel, once
 * (tp_ready). TP_ENOENT when this process is no Process child. */
int tp__process_ready_send(void);
/* Reads what p's channel holds; 1 once its child sent the ready frame. */
int tp__process_ready(tp_process *p);

/* 1 unless fd is the sentinel of a child that still runs (process.c). */
int tp__sentinel_ready(int fd);

/* Exit events (monitor.c). Builds the event for pid (reading and removing
 * the crash report the child left in the run directory) and appends it to
 * the run's exit log for monitors; *report is that report (malloc'd), or
 * NULL. Called by tp__child_reap (watch.c) only. */
int tp__exit_publish(pid_t pid, const char *name, int status, char **report);
/* The crash report file of pid: "<rundir>/crash-<pid>". */
int tp__crash_path(pid_t pid, char *buf, size_t len);
/* Finds the last event of pid in the exit log (free *out with
 * protobuf_c_message_free_unpacked). Errors: TP_ENOENT. */
int tp__exit_lookup(pid_t pid, Troupe__ExitEvent **out);
/* Closes this process's exit-log fd (in a freshly forked process). */
void tp__exit_log_close(void);

/* Calls fn for each child this process started and still holds (the list
 * locked: fn must not start or free processes; it may read name, pid,
 * target, state). For the control socket's status (ctl_status.c). */
void tp__process_each(void (*fn)(void *arg, const tp_process *p), void *arg);

/* The watcher of the Processes this process starts: the root supervisor
 * (otp/sup_mon.c) hangs each one in its tree. started is called after a
 * tp_process_start succeeded, released when the user frees or closes the
 * object; both from the user's thread, without this module's lock held,
 * and never for owned processes. exited(pid, code) as soon as this
 * process learns a child's exit code (before it reaps a direct child),
 * possibly with this module's lock held: it must take no lock but its
 * own. NULL: none. */
struct tp__proc_watch {
	void (*started)(tp_process *p);
	void (*released)(tp_process *p);
	void (*exited)(pid_t pid, int code);
};
void tp__process_watch(const struct tp__proc_watch *w);
/* Tells the watcher that p's child ended with wait status st. */
void tp__process_watch_exited(const tp_process *p, int st);

#endif
