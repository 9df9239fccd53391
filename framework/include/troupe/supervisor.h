/*
 * troupe/supervisor.h - supervision trees (Erlang/OTP supervisor, with the
 * supervisord view of plain programs).
 *
 * A supervisor owns an ordered list of children. A child is a command line
 * (any executable; a troupe-aware one reports readiness with tp_ready()), a
 * registered target of this program with its arguments (what a tp_process
 * runs, started through the process layer) or a nested supervisor. The
 * supervisor starts its children in order, each only after the previous one is
 * ready, restarts them when they die according to their restart type and the
 * supervisor's strategy, and stops them in reverse order (stop signal, wait up
 * to the shutdown time, then SIGKILL). When children die more often than
 * `intensity` times within `period_ms`, the supervisor stops all its children
 * and fails: a nested supervisor then counts as a dead child of its parent; the
 * root reports TP_EDIED from tp_sup_wait().
 *
 *   tp_sup *sup;
 *   tp_sup_flags f = TP_SUP_FLAGS_INIT;       // one_for_one, 3 in 5 s
 *   tp_sup_new(&sup, &f);
 *   char *argv[] = {"/usr/bin/my-worker", "--fast", NULL};
 *   tp_child_spec c = TP_CHILD_SPEC_INIT;
 *   c.id = "worker"; c.argv = argv; c.ready = TP_READY_NOTIFY;
 *   tp_sup_add_child(sup, &c);
 *   tp_sup_start(sup);                        // returns when all are ready
 *   ...
 *   tp_sup_stop(sup);                         // reverse order
 *   tp_sup_free(sup);
 *
 * One thread per tree (started by tp_sup_start) runs the event loop: it
 * waits on pidfds, readiness pipes and timers, and never blocks on a child.
 * Every call below may be made from any thread; the runtime calls wait
 * until the loop has carried them out. Target children are started with
 * tp_process_start (troupe/process.h: fork server, spawn or fork, in their
 * own process group) and watched by pidfd like the others. Command-line
 * children are started with vfork+exec (safe after nng started), get
 * PR_SET_PDEATHSIG(SIGKILL) so they die with the supervisor, run in their
 * own process group (signals reach their descendants), and have
 * stdout/stderr appended to a log file (by default <runtime
 * dir>/log/<id>.log) or, with spec.capture, turned into records of the
 * child through the logging actor (troupe/log.h).
 */
#ifndef TROUPE_SUPERVISOR_H
#define TROUPE_SUPERVISOR_H

#include <stdint.h>
#include <sys/types.h>

#include "troupe/payload.h"
#include "troupe/process.h"
#include "troupe/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tp_sup tp_sup;

typedef enum tp_strategy {
	TP_ONE_FOR_ONE = 0,    /* restart only the child that died */
	TP_ONE_FOR_ALL,        /* stop all others, restart all */
	TP_REST_FOR_ONE,       /* stop those after it, restart it and them */
	TP_SIMPLE_ONE_FOR_ONE, /* dynamic children of one template spec */
} tp_strategy;

typedef enum tp_restart {
	TP_PERMANENT = 0, /* always restarted */
	TP_TRANSIENT,     /* restarted only after an abnormal exit */
	TP_TEMPORARY,     /* never restarted; its spec is deleted on exit */
} tp_restart;

typedef enum tp_child_type {
	TP_WORKER = 0,
	TP_SUPERVISOR,
} tp_child_type;

typedef enum tp_ready_mode {
	/* Ready once started; with startsecs_ms > 0, once it has stayed up
	 * that long (supervisord's startsecs). */
	TP_READY_STARTED = 0,
	/* Ready when the child calls tp_ready(): a command line writes to
	 * the fd named by the TROUPE_NOTIFY_FD environment variable, a
	 * registered target sends a frame on its control channel. */
	TP_READY_NOTIFY,
} tp_ready_mode;

/* Special shutdown values (otherwise milliseconds to wait, > 0). */
#define TP_SHUTDOWN_BRUTAL   0  /* SIGKILL at once */
#define TP_SHUTDOWN_INFINITY -1 /* wait for ever after the stop signal */

typedef enum tp_child_state {
	TP_CHILD_STOPPED = 0, /* not running (never started, or stopped) */
	TP_CHILD_STARTING,    /* started, not yet ready */
	TP_CHILD_RUNNING,     /* ready */
	TP_CHILD_STOPPING,    /* stop signal sent, waiting for the exit */
	TP_CHILD_FAILED,      /* a start failed and will be retried */
} tp_child_state;

typedef struct tp_sup_event tp_sup_event;

typedef enum tp_auto_shutdown {
	TP_AUTO_NEVER = 0,       /* significant children change nothing */
	TP_AUTO_ANY_SIGNIFICANT, /* end when any significant child ends */
	TP_AUTO_ALL_SIGNIFICANT, /* end when the last significant one ends */
} tp_auto_shutdown;

typedef struct tp_sup_flags {
	tp_strategy strategy;
	int intensity; /* max restarts within period_ms (>= 0) */
	int period_ms; /* > 0 */
	/* Optional observer, called on the loop thread for every event (of
	 * a nested supervisor: of its own children); it must not call back
	 * into the supervisor and should be quick. */
	void (*on_event)(void *arg, const tp_sup_event *ev);
	void *on_event_arg;
	/* OTP's auto_shutdown: whether the supervisor ends (normally) when a
	 * significant child (tp_child_spec.significant) ends and is not
	 * restarted. A root that ends so makes tp_sup_wait return TP_OK; a
	 * nested one exits with code 0 as a child of its parent. */
	tp_auto_shutdown auto_shutdown;
} tp_sup_flags;

#define TP_SUP_FLAGS_INIT                                                      \
	{                                                                      \
		TP_ONE_FOR_ONE, 3, 5000, NULL, NULL, TP_AUTO_NEVER             \
	}

typedef struct tp_child_spec {
	const char *id;       /* unique among the siblings; [A-Za-z0-9_.-] */
	char *const *argv;    /* NULL-terminated; argv[0] is the program
	                         (searched in PATH if it has no '/') */
	char *const *env;     /* extra "NAME=VALUE" entries, or NULL */
	const char *cwd;      /* or NULL */
	const char *log_path; /* stdout+stderr; NULL: default; "" none */
	tp_restart restart;
	int shutdown_ms;    /* TP_SHUTDOWN_* or milliseconds */
	tp_child_type type; /* informative for command lines */
	tp_ready_mode ready;
	int startsecs_ms;     /* see TP_READY_STARTED */
	int start_timeout_ms; /* readiness deadline; 0: 10000 */
	int stop_signal;      /* 0: SIGTERM */
	int capture;          /* 1: stdout and stderr become records of this
	                         child (name id, its pid; INFO and ERROR)
	                         through this process's logger (troupe/log.h),
	                         log_path unused; 0: the log_path file */
	/* The fields below default to 0, which keeps the behaviour above. */
	int no_autostart; /* 1: tp_sup_start leaves it stopped (a runtime
	                     start or restart starts it) */
	/* Exit codes that count as normal for TP_TRANSIENT (bit N of
	 * exit_ok[N / 32]); all 0 means {0}. A death by signal is never
	 * normal. */
	uint32_t exit_ok[8];
	int set_umask; /* 1: umask(umask) before exec */
	int umask;
	int set_user; /* 1: setgid(gid), setgroups, setuid(uid) */
	uid_t uid;
	gid_t gid;
	int stop_pid_only; /* 1: the stop signal goes to the child alone,
	                      not its process group (supervisord's
	                      stopasgroup=false); SIGKILL and the cleanup
	                      after the exit still reach the group */
	/* Delay before a restart: restart_delay_ms, doubled after each
	 * restart that follows a short run, at most restart_delay_max_ms
	 * (0: no cap); back to restart_delay_ms once the child has run for
	 * longer than the cap. 0: restart at once. */
	int restart_delay_ms;
	int restart_delay_max_ms;
	int significant;    /* OTP: see tp_sup_flags.auto_shutdown; must not be
	                       TP_PERMANENT */
	int keep_temporary; /* TP_TEMPORARY: keep the spec after the exit (it
	                       can be started again; supervisord's
	                       autorestart = false) */
	int start_retries;  /* > 0: after that many failed starts in a row
	                       (an exit before ready) the child is left
	                       stopped, TP_EV_GAVE_UP (supervisord's FATAL) */
	/* spec.log_path with rotation: at log_max_bytes the file becomes
	 * .1 (up to log_backups files); 0: never rotated. err_log_path:
	 * stderr to its own file (NULL: with stdout); "" discards stderr. */
	uint64_t log_max_bytes;
	unsigned log_backups;
	const char *err_log_path;
	uint64_t err_log_max_bytes;
	unsigned err_log_backups;
	/* A registered target instead of a command line (argv NULL): the
	 * child is a tp_process running target(args), started with method
	 * (TP_START_DEFAULT: the runtime's) through the process layer, in
	 * its own process group, named id. Its stdout and stderr are this
	 * program's (env, cwd, log_path unused; capture is refused). With
	 * TP_READY_NOTIFY it is ready when the target calls tp_ready(). Its
	 * exit code is the target's return value. */
	tp_target_fn target;
	const tp_payload *args; /* copied; NULL: no arguments */
	tp_start_method method;
} tp_child_spec;

#define TP_CHILD_SPEC_INIT                                                     \
	{                                                                      \
		NULL, NULL, NULL, NULL, NULL, TP_PERMANENT, 5000, TP_WORKER,   \
		    TP_READY_STARTED, 0, 0, 0, 0, 0, {0}, 0, 0, 0, 0, 0, 0, 0, \
		    0, 0, 0, 0, 0, 0, NULL, 0, 0, NULL, NULL, TP_START_DEFAULT \
	}

typedef enum tp_sup_event_kind {
	TP_EV_STARTED,       /* a child process exists (pid set) */
	TP_EV_READY,         /* a child became ready */
	TP_EV_EXITED,        /* a child exited (status set) */
	TP_EV_RESTART,       /* a child is restarted after an exit */
	TP_EV_ESCALATE,      /* intensity exceeded: the supervisor fails */
	TP_EV_START_FAILED,  /* a child could not be started (error set) */
	TP_EV_AUTO_SHUTDOWN, /* a significant child ended: the sup ends */
	TP_EV_BACKOFF,       /* a restart waits delay_ms */
	TP_EV_GAVE_UP, /* start_retries failed starts in a row: left stopped */
} tp_sup_event_kind;

struct tp_sup_event {
	tp_sup_event_kind kind;
	const char *sup_id; /* the supervisor ("" for the root) */
	const char *id;     /* the child */
	pid_t pid;
	int exit_code;     /* exit status, or -N when killed by signal N */
	int requested;     /* TP_EV_EXITED: after a stop the supervisor sent */
	int killed;        /* TP_EV_EXITED: SIGKILL after the shutdown time (or
	                      the ready deadline) ran out */
	int stop_signal;   /* TP_EV_EXITED with requested: the signal sent */
	int error;         /* TP_EV_START_FAILED: the TP_* error */
	char *const *argv; /* TP_EV_START_FAILED: the command */
	int delay_ms;      /* TP_EV_BACKOFF */
	int64_t cpu_ms;    /* TP_EV_EXITED: user+system CPU of that run */
};

typedef struct tp_child_info {
	char id[64];
	pid_t pid; /* 0 when not running */
	tp_child_state state;
	tp_child_type type; /* TP_SUPERVISOR for nested supervisors */
	tp_restart restart;
	int nested;         /* 1: a nested supervisor (tp_sup_child_sup) */
	unsigned restarts;  /* times restarted by the supervisor */
	int64_t started_ms; /* CLOCK_MONOTONIC ms of the last start */
	int last_exit;      /* last exit code, -N for signal N */
	char log_path[256];
} tp_child_info;

typedef struct tp_child_counts {
	int specs;       /* all children, running or not */
	int active;      /* running or starting */
	int supervisors; /* children of type supervisor */
	int workers;     /* children of type worker */
} tp_child_counts;

/*
 * tp_sup_root returns the program's root supervisor, made by tp_init and
 * stopped by tp_fini (its children in reverse start order, before any
 * module they use stops). A program hangs its own children under it with
 * tp_sup_start_child; the framework's own services hang there too, and
 * every Process the program starts (tp_process_start) is a temporary child
 * of it, id its name (else "NAME-PID"): listed by tp_sup_which_children
 * (running, then stopped with its exit code until the user frees the
 * tp_process), stopped by tp_sup_terminate_child and signalled by
 * tp_sup_signal_child, never restarted (TP_ESTATE) nor reaped by the tree:
 * the user still joins it and takes its exit code and result, and tp_fini
 * leaves it to the process layer (joined, or terminated if daemonic). The
 * program's control socket serves this tree to `troupe ... -p PID`. Strategy
 * one_for_one, intensity 1000 per second: one failing child does not end the
 * program (nest a supervisor for a stricter policy). In a child started by the
 * fork method it is a new, empty tree of that child, made on first use. The
 * handle belongs to the runtime: never tp_sup_free it. Returns NULL before
 * tp_init, after tp_fini, or when it cannot be made (out of memory or threads).
 */
tp_sup *tp_sup_root(void);

/*
 * tp_sup_new makes a root supervisor (not started). flags may be NULL for
 * TP_SUP_FLAGS_INIT. Errors: TP_EINVAL (bad strategy, intensity < 0,
 * period_ms <= 0), TP_ENOMEM.
 */
int tp_sup_new(tp_sup **out, const tp_sup_flags *flags);

/*
 * tp_sup_add_child appends a child spec before tp_sup_start (or to a
 * stopped nested supervisor of a started tree, see tp_sup_add_sup). The spec
 * and its strings (and args) are copied. A spec has either argv or target,
 * never both. For TP_SIMPLE_ONE_FOR_ONE exactly one spec may be added:
 * the template for tp_sup_start_child. Errors: TP_EINVAL (bad spec, bad
 * id, empty argv, both or neither of argv and target, a target with
 * capture, a bad method), TP_ENOTREG (target not
 * registered with TP_TARGET), TP_EALREADY (id taken), TP_ESTATE (already
 * started: use tp_sup_start_child), TP_ENOMEM.
 */
int tp_sup_add_child(tp_sup *sup, const tp_child_spec *spec);

/*
 * tp_sup_add_sup adds a nested supervisor child named id and stores its
 * handle in *out (owned by the tree; do not free it). Before tp_sup_start
 * it starts with the tree. On a started tree it is added stopped: add its
 * children with tp_sup_add_child (allowed while it is stopped), then start
 * it with tp_sup_restart_child(sup, id). Its flags' on_event, if set, sees
 * the events of its own children and its own TP_EV_ESCALATE (the root's
 * observer sees every event too). Its spec is kept after it ends, whatever
 * its restart type, so the handle stays valid until tp_sup_delete_child
 * (on a stopped one) or tp_sup_free of the root. Errors: as
 * tp_sup_add_child (TP_ESTATE: the tree is stopping).
 */
int tp_sup_add_sup(tp_sup *sup, const char *id, const tp_sup_flags *flags,
                   tp_restart restart, tp_sup **out);

/*
 * tp_sup_start starts the tree's loop and its children in order, each
 * after the previous one is ready. It returns TP_OK when all are ready. If
 * one cannot start (exec or tp_process_start failure, exit or timeout
 * before ready) everything started so far is stopped in reverse order and
 * its error is returned: nothing is left running half-way. Only on a root.
 * Errors: TP_ESTATE (already started, or not a root), TP_EDIED (a child
 * died before ready), TP_ETIMEDOUT (not ready in time), wrapped system
 * errors (exec), tp_process_start errors (troupe/process.h).
 */
int tp_sup_start(tp_sup *sup);

/*
 * tp_sup_stop stops every child in reverse order, each with its shutdown
 * policy, and ends the loop. Idempotent. Only on a root. Errors: TP_ESTATE
 * (a nested supervisor).
 */
int tp_sup_stop(tp_sup *sup);

/*
 * tp_sup_wait waits up to timeout_ms (-1: for ever) for the tree to end:
 * TP_OK after tp_sup_stop, TP_EDIED when the root failed because its
 * restart intensity was exceeded (its children are then all stopped),
 * TP_ETIMEDOUT while it still runs, TP_ESTATE if never started.
 */
int tp_sup_wait(tp_sup *sup, int timeout_ms);

/* tp_sup_free stops the tree (tp_sup_stop) and frees it. NULL is allowed;
 * only roots are freed (a nested handle is ignored). */
void tp_sup_free(tp_sup *sup);

/*
 * Runtime calls on a started tree (any supervisor in it).
 *
 * tp_sup_start_child adds spec and starts it, returning once it is ready
 * (or failed: the spec is then removed). With TP_SIMPLE_ONE_FOR_ONE, spec
 * only needs argv (extra arguments appended to the template's argv) or,
 * for a target template, args (replacing the template's args when not
 * NULL), and an optional id (default "<template id>-<n>"). If id_out is not
 * NULL the child's id is copied there (64 bytes). Errors: as tp_sup_add_child
 * and tp_sup_start.
 */
int tp_sup_start_child(tp_sup *sup, const tp_child_spec *spec, char *id_out);

/* tp_sup_terminate_child stops a child (reverse-stop policy) and keeps its
 * spec (a temporary child's spec is deleted). Errors: TP_ENOENT. */
int tp_sup_terminate_child(tp_sup *sup, const char *id);

/* tp_sup_restart_child starts a stopped child again, or stops and starts a
 * running one; returns once it is ready. Errors: TP_ENOENT, start errors. */
int tp_sup_restart_child(tp_sup *sup, const char *id);

/* tp_sup_delete_child removes a stopped child's spec. Errors: TP_ENOENT,
 * TP_ESTATE (still running). */
int tp_sup_delete_child(tp_sup *sup, const char *id);

/* tp_sup_signal_child sends sig to a running child's process group.
 * Errors: TP_ENOENT, TP_ESTATE (not running), TP_EINVAL (bad signal). */
int tp_sup_signal_child(tp_sup *sup, const char *id, int sig);

/*
 * tp_sup_which_children stores a malloc'ed snapshot of the direct children
 * in *out (free() it) and their number in *n, in start order.
 */
int tp_sup_which_children(tp_sup *sup, tp_child_info **out, int *n);

/* tp_sup_count_children fills *out. */
int tp_sup_count_children(tp_sup *sup, tp_child_counts *out);

/* tp_sup_child_sup returns the nested supervisor named id, or NULL. */
tp_sup *tp_sup_child_sup(tp_sup *sup, const char *id);

/* tp_sup_id returns the supervisor's id ("" for a root). */
const char *tp_sup_id(const tp_sup *sup);

/* tp_sup_strategy returns the supervisor's strategy. */
tp_strategy tp_sup_strategy(const tp_sup *sup);

/*
 * tp_ready tells the supervisor that the calling process is ready (the
 * readiness of TP_READY_NOTIFY children): a command line through the fd
 * of TROUPE_NOTIFY_FD, a registered target (a Process child) by a frame
 * on its control channel, which its parent reads only while it waits for
 * readiness. It is a no-op returning TP_OK in a process started neither
 * way, and only reports once. Errors: wrapped write errors.
 */
int tp_ready(void);

/* Name strings for printing: "permanent", "one_for_one", "running"... */
const char *tp_strategy_name(tp_strategy s);
const char *tp_restart_name(tp_restart r);
const char *tp_child_state_name(tp_child_state s);

#ifdef __cplusplus
}
#endif
#endif
