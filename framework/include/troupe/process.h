/*
 * troupe/process.h - processes as actors: multiprocessing.Process in C.
 *
 * A tp_process runs a target function in a child process. The target is a
 * plain C function registered by name with TP_TARGET (the spawn start method
 * finds it by that name in a fresh exec of the program; the other methods
 * use the same registry so a target behaves the same under every method).
 *
 *   static int worker(const tp_payload *args, tp_payload *result) { ... }
 *   TP_TARGET(worker);
 *   ...
 *   tp_process *p;
 *   tp_process_new(&p, worker, args, NULL);
 *   tp_process_start(p);
 *   tp_process_join(p, -1);
 *
 * The target's return value is the child's exit code (as if passed to
 * exit()); whatever it adds to `result` is returned to the parent and read
 * with tp_process_result(). Timeouts are in milliseconds; -1 waits forever.
 */
#ifndef TROUPE_PROCESS_H
#define TROUPE_PROCESS_H

#include <stddef.h>
#include <sys/types.h>

#include "troupe/payload.h"
#include "troupe/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tp_process tp_process;

/*
 * A target: args are the payload given to tp_process_new (borrowed, never
 * NULL: an empty payload when none was given); result is an empty payload
 * the target may fill. The return value is the exit code.
 */
typedef int (*tp_target_fn)(const tp_payload *args, tp_payload *result);

/*
 * tp_target_register registers fn under name. Registering the same name
 * with the same function again is allowed; with another function it gives
 * TP_EALREADY. Errors: TP_EINVAL, TP_ENOMEM, TP_EALREADY.
 */
int tp_target_register(const char *name, tp_target_fn fn);

/* TP_TARGET(fn) registers fn under its own name before main() runs. */
#define TP_TARGET(fn)                                                          \
	static void __attribute__((constructor)) tp_register_##fn(void)        \
	{                                                                      \
		tp_target_register(#fn, fn);                                   \
	}

/*
 * Options of a process. Children die with their real parent
 * (PR_SET_PDEATHSIG): the fork server for forkserver children, the caller
 * for spawn and fork children. Linux ties that to the *thread* that
 * started the child: with spawn or fork, start children from a thread that
 * outlives them (the main thread, or a long-lived supervisor thread).
 */
typedef struct tp_process_opts {
	const char *name;       /* NULL: "Process-N" ("Process-N:M" nested) */
	int daemon;             /* terminated, not joined, at parent exit */
	tp_start_method method; /* TP_START_DEFAULT: the runtime's default */
	int new_group;          /* own process group: terminate/kill reach
	                           every descendant */
} tp_process_opts;

/*
 * tp_process_new makes a process object (not started). target must be
 * registered (TP_TARGET); args (may be NULL) is copied; opts may be NULL.
 * Errors: TP_EINVAL, TP_ENOTREG, TP_ENOTINIT, TP_ENOMEM.
 */
int tp_process_new(tp_process **out, tp_target_fn target,
                   const tp_payload *args, const tp_process_opts *opts);

/*
 * tp_process_start starts the child; once only. It returns after the
 * child exists: its pid is known, and with new_group its process group
 * is made. If the start fails, no child is left behind. Errors: TP_EINVAL
 * (NULL, or the tp_current_process object), TP_ENOTINIT, TP_EALREADY
 * (started before), TP_EDAEMON (the caller is a daemonic process),
 * TP_EFORKNNG (fork method after this process touched nng), TP_EDIED (the
 * fork server or the child died during the start; a dead fork server is
 * replaced once, while this process may still fork), wrapped system
 * errors (socketpair, fork, posix_spawn).
 */
int tp_process_start(tp_process *p);

/*
 * tp_process_join waits for the child to exit, up to timeout_ms (-1:
 * forever). Errors: TP_ETIMEDOUT (still running: reported, never silent),
 * TP_ESTATE (not started), TP_EINVAL.
 */
int tp_process_join(tp_process *p, int timeout_ms);

/* tp_process_is_alive returns 1 while the started child runs, else 0. */
int tp_process_is_alive(tp_process *p);

/*
 * tp_process_terminate sends SIGTERM, tp_process_kill SIGKILL (to the
 * whole group with opts.new_group). A child that already exited is left
 * alone and the call succeeds, as in Python. Errors: TP_ESTATE (not
 * started).
 */
int tp_process_terminate(tp_process *p);
int tp_process_kill(tp_process *p);

/*
 * tp_process_exitcode stores the exit code: the target's return value or
 * exit() status, or -N when killed by signal N. Errors: TP_ESTATE while not
 * started or still running (Python's None).
 */
int tp_process_exitcode(tp_process *p, int *out);

/*
 * tp_process_crash_report returns the crash report of a child that died
 * from SIGSEGV, SIGBUS, SIGFPE, SIGILL or SIGABRT (owned by p, also
 * printed on stderr when the exit was observed), NULL otherwise or while
 * it runs.
 */
const char *tp_process_crash_report(const tp_process *p);

/* tp_process_pid returns the child's pid, 0 before start. */
pid_t tp_process_pid(const tp_process *p);

/* tp_process_name returns the name (owned by p). */
const char *tp_process_name(const tp_process *p);

/* tp_process_daemon returns the daemon flag. */
int tp_process_daemon(const tp_process *p);

/*
 * tp_process_repr writes Python's repr of a process into buf, e.g.
 * "<Process name='child' parent=7780 started daemon>",
 * "<_MainProcess name='MainProcess' parent=None started>",
 * "<Process name='Process-1' pid=12 parent=10 stopped exitcode=-SIGTERM>".
 * Returns buf (truncated to len), or "" for a NULL p.
 */
const char *tp_process_repr(const tp_process *p, char *buf, size_t len);

/*
 * tp_process_sentinel returns a file descriptor (owned by p, valid until
 * tp_process_free) for tp_wait() or poll(); -1 before start. tp_wait()
 * reports it ready exactly when the child has exited (Python's sentinel).
 * With poll() it is also readable while the child's frames (its result)
 * wait to be drained: then call tp_process_is_alive() or
 * tp_process_join(p, 0), which drain them and tell whether it exited.
 */
int tp_process_sentinel(const tp_process *p);

/*
 * tp_process_result waits up to timeout_ms for the child to exit and moves
 * its result payload into *out (free with tp_payload_free); it can be taken
 * once. A result larger than TP_MAX_MSG_DEFAULT is not sent (the child
 * says so on stderr) and gives TP_EDIED. Errors: TP_ETIMEDOUT, TP_ESTATE (not
 * started), TP_EDIED (the child died without returning: killed, crashed, exit()
 * from the target), TP_ENOENT (already taken).
 */
int tp_process_result(tp_process *p, tp_payload **out, int timeout_ms);

/*
 * tp_process_close is Python's Process.close: it releases what the handle
 * holds (the control channel, its arguments, an untaken result, the crash
 * report) and takes the child off the runtime's list; the object itself
 * stays until tp_process_free. Afterwards start, join, terminate, kill,
 * exitcode, exit_event and result give TP_ECLOSED, is_alive 0, pid 0,
 * sentinel -1, and the repr ends in "closed". Closing a process never
 * started, or closing twice, is allowed. Errors: TP_EINVAL (NULL, or the
 * tp_current_process/tp_parent_process object), TP_ESTATE (the child is
 * still running: nothing is released; join it first).
 */
int tp_process_close(tp_process *p);

/*
 * tp_process_free releases the object. A child still running is not
 * killed: the runtime keeps watching it, reaps it, and finishes it at exit
 * like any other child. NULL is allowed.
 */
void tp_process_free(tp_process *p);

/*
 * tp_current_process returns the calling process's own object ("MainProcess"
 * in the main program), tp_parent_process the parent's (NULL in the main
 * program). Both are owned by the runtime; only name, pid and daemon are
 * meaningful. NULL before tp_init.
 */
const tp_process *tp_current_process(void);
const tp_process *tp_parent_process(void);

/*
 * tp_active_children fills procs (up to max) with the running children this
 * process started and returns how many there are; finished ones are reaped
 * as a side effect (Python's active_children()). The processes are the
 * caller's (tp_process_start); the children a supervisor starts for the
 * library (a pool's workers, the logging actor, a manager, a tree's
 * registered targets) belong to their supervisor and are not listed (see
 * tp_sup_which_children). Safe to call from any thread.
 */
int tp_active_children(tp_process **procs, int max);

/* tp_cpu_count returns the CPUs this process may run on (affinity). */
int tp_cpu_count(void);

/*
 * tp_wait waits until at least one of the n file descriptors (sentinels,
 * pipe or queue fds) is ready, up to timeout_ms: a sentinel when its child
 * exited (its frames are drained on the way, so a child writing a large
 * result never blocks), any other fd when readable. ready[i] is set to 1
 * for each ready one. Returns the number ready (0 on timeout) or a
 * negative TP_E* code (-TP_EINVAL: NULL arrays, n <= 0, a negative fd).
 * Python's multiprocessing.connection.wait.
 */
int tp_wait(const int *fds, int n, int timeout_ms, int *ready);

/*
 * Exit events and monitors (Erlang monitors; Python has none). Every child
 * exit becomes an exit event, published by whoever reaps the child (the
 * fork server, or the parent for spawn and fork children) into the run
 * directory. Any process of the same run - the parent, a sibling, a
 * grandchild - can monitor a pid it learnt (tp_process_pid, a message):
 *
 *   tp_monitor *m;
 *   tp_monitor_new(&m, pid);
 *   tp_exit_event ev;
 *   if (tp_monitor_next(m, &ev, 5000) == TP_OK)
 *           printf("%s exited %d\n", ev.name, ev.exitcode);
 *   tp_monitor_free(m);
 *
 * The monitor's fd (tp_monitor_fd) can be given to tp_wait or poll().
 */
typedef struct tp_exit_event {
	pid_t pid;
	const char *name; /* owned by the monitor */
	int exitcode;     /* as tp_process_exitcode: status, or -signal */
	int signal;       /* terminating signal, 0 for a normal exit */
	int core_dumped;
	const char *report; /* crash report ("" if none); owned by the
	                       monitor, valid until tp_monitor_free */
} tp_exit_event;

typedef struct tp_monitor tp_monitor;

/*
 * tp_process_exit_event fills *ev with the exit event of a child this
 * process started and saw exit (pointers owned by p, valid until
 * tp_process_free). Errors: TP_EINVAL, TP_ESTATE (not started, or still
 * running).
 */
int tp_process_exit_event(tp_process *p, tp_exit_event *ev);

/*
 * tp_monitor_new watches pid, a troupe child of this run (a Process, or a
 * supervisor's child: a target or a command line, whose event is named
 * after its id; started by any process of the run). Monitoring a child
 * that already exited works: its
 * event is delivered at once. Errors: TP_EINVAL, TP_ENOTINIT, TP_ENOENT (no
 * such process and no event for it), TP_ENOMEM, wrapped system errors.
 */
int tp_monitor_new(tp_monitor **out, pid_t pid);

/* tp_monitor_fd returns an fd that becomes readable when an event may be
 * ready (owned by the monitor), for tp_wait or poll. */
int tp_monitor_fd(const tp_monitor *m);

/*
 * tp_monitor_next waits up to timeout_ms for the exit event of the watched
 * pid and fills *ev. Errors: TP_ETIMEDOUT (the process still runs),
 * TP_ENOENT (the event was already delivered), TP_EINVAL.
 */
int tp_monitor_next(tp_monitor *m, tp_exit_event *ev, int timeout_ms);

/* tp_monitor_free releases the monitor. NULL is allowed. */
void tp_monitor_free(tp_monitor *m);

/*
 * tp_spawn_guard is for programs whose main() cannot start with tp_init
 * (a test runner that calls tp_init per test): call it first in main().
 * In a child started with the spawn method it runs the child's target and
 * exits (never returns); elsewhere it returns at once.
 */
void tp_spawn_guard(void);

#ifdef __cplusplus
}
#endif
#endif
