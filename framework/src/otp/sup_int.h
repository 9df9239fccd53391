/*
 * sup_int.h - internal: the supervisor tree's data structures, shared by
 * sup.c (public calls, building and freeing the tree), sup_rt.c (runtime
 * calls on a running tree), sup_loop.c (the event loop), sup_child.c (the
 * children's state machine: queues, exits, intensity, strategies) and
 * sup_spawn.c (starting and signalling command-line children) and
 * sup_target.c (children that are registered targets: tp_process).
 *
 * The whole tree is guarded by the root's mutex. Each supervisor has a
 * queue of operations (start or stop one child) that the loop carries out
 * one at a time, in order: that is what makes starts ordered (the next
 * start begins only after the previous child is ready) and stops reversed.
 * A request from a caller (tp_sup_start, tp_sup_terminate_child, ...) is a
 * struct sup_req counting its pending operations; the caller sleeps on the
 * root's condition variable until the count drops to zero.
 */
#ifndef TP_SUP_INT_H
#define TP_SUP_INT_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "child_int.h"
#include "reactor.h"
#include "troupe/log.h"
#include "troupe/supervisor.h"

struct sup_op;

/* What the loop (sup_loop.c) watches of one child, as sources of the
 * root's reactor: its exit (a pid source on its pidfd, or an fd source on
 * its sentinel or monitor), its readiness pipe or ready frame, and its
 * deadlines (a timer). Each fd source holds a dup of the child's fd, so a
 * close of the original elsewhere never leaves a stale registration; num
 * and run say which fd of which run it was made for. Loop thread only. */
enum { SUP_W_PID, SUP_W_EXIT, SUP_W_NOTIFY, SUP_W_READY, SUP_W_N };
struct sup_watch {
	tp__rsrc *src[SUP_W_N];
	int num[SUP_W_N];
	unsigned run[SUP_W_N];
	int dup[SUP_W_N]; /* the dup an fd source holds (closed with it) */
	tp__rsrc *timer;  /* deadline_ms or restart_at */
};

struct sup_req {
	int pending;           /* operations not yet finished */
	int rv;                /* first error */
	int done;              /* external requests: set when pending == 0 */
	int rollback;          /* on a start failure stop the whole sup */
	struct sup_op *parent; /* internal: the op of a nested sup */
	/* An asynchronous request (tp__sup_act_async): nobody waits on
	 * it; the loop calls on_done(req, done_arg), root mutex held, once
	 * it is done (rv TP_ECANCELED if the tree ended first). */
	void (*on_done)(struct sup_req *req, void *arg);
	void *done_arg;
	struct sup_req *async_next; /* the root's list of them */
};

struct sup_child {
	tp_child_spec spec; /* deep copy: strings owned */
	tp_sup *owner;
	tp_sup *sub; /* nested supervisor, or NULL */
	tp_child_state state;
	pid_t pid;
	/* A command line's child in proc/ (a target's is its tp_process's). */
	struct tp__child kid;
	int notify_fd;       /* read end while waiting for tp_ready */
	int timed_out;       /* killed for missing the ready deadline */
	int killed;          /* SIGKILL after the shutdown time ran out */
	int stop_sig;        /* the stop signal sent by a stop op, 0 none */
	int64_t restart_at;  /* a delayed restart is due then; 0 none */
	int backoff_ms;      /* the next restart delay */
	int start_fails;     /* failed starts in a row (start_retries) */
	int64_t last_cpu_ms; /* CPU time of the run that just ended */
	int64_t started_ms;
	int64_t deadline_ms; /* ready, startsecs or kill deadline; 0 none */
	unsigned restarts;
	int last_exit;
	int deleted;
	int tmpl;           /* simple_one_for_one template */
	struct sup_op *cur; /* the op waiting on this child */
	char log_path[256];
	tp_log_capture *cap[2];      /* spec.capture: stdout, stderr readers */
	struct tp__filecap *fcap[2]; /* rotated log files: stdout, stderr */
	tp_process *proc;            /* spec.target: the running process */
	int proc_wait; /* no pidfd: watching its sentinel instead */
	/* A monitored child (sup_mon.c): a user's tp_process hung in the
	 * root's tree; the user owns, joins and reaps it, the tree watches
	 * (kid: its own pidfd, never reaped here). */
	int mon;
	const void *mon_key; /* the tp_process */
	char mon_target[64]; /* its target's name */
	tp_monitor *mon_m;   /* waiting for its exit event, or NULL */
	unsigned run;        /* starts so far: a new run has new fds */
	struct sup_watch w;
};

enum sup_op_kind { SUP_OP_START, SUP_OP_STOP };

struct sup_op {
	enum sup_op_kind kind;
	struct sup_child *c;
	struct sup_req *req;    /* or NULL (a restart by strategy) */
	struct sup_req sub_req; /* for a nested sup's own ops */
	int begun, done, rv, canceled;
	struct sup_op *next;
};

struct tp_sup {
	char id[64];
	tp_sup_flags flags;
	tp_sup *root;
	tp_sup *parent;
	struct sup_child *self; /* this sup's entry in its parent */
	struct sup_child **kids;
	int nkids, cap;
	struct sup_op *head, *tail;
	int64_t *restarts; /* ring of restart times (intensity + 1) */
	int nrestarts;
	int shutting; /* stopping everything: no restarts */
	int failed;
	int auto_done; /* ended by auto_shutdown: exits 0 to its parent */
	unsigned dyn_seq;
	/* Root only. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thr;
	tp__reactor *rx;       /* the loop (sup_loop.c) */
	tp__rsrc *wake;        /* its doorbell (tp__sup_wake) */
	struct sup_req *async; /* asynchronous requests not yet done */
	int started, stop_req, ended, end_rv, thr_joined;
};

/* sup_root.c: the program's root supervisor (called by init.c) */
int tp__root_sup_init(void);
void tp__root_sup_fini(void);
/* Gives the root of this process the flags f (strategy, intensity,
 * period, observer, auto_shutdown; not simple_one_for_one): the daemon's
 * [supervisord] section. Children already there keep running. TP_EINVAL,
 * TP_ESTATE (no root: tp_init not called), TP_ENOMEM. Also in internal.h. */
int tp__root_sup_configure(const tp_sup_flags *f);
/* sup.c: adds a child to sup even in a running tree, where it stays
 * stopped until tp_sup_restart_child starts it (the daemon builds its
 * [program:] children into the running root so). Errors as
 * tp_sup_add_child's. Also in internal.h. */
int tp__sup_add_stopped(tp_sup *sup, const tp_child_spec *spec);

/* sup_spawn.c */
int tp__sup_spawn(struct sup_child *c);
/* c's child in the process layer: its tp_process's, or c->kid. */
struct tp__child *tp__sup_kid(struct sup_child *c);
void tp__sup_signal(struct sup_child *c, int sig);
/* Reaps c if it exited; returns 1 and the exit code (-N for signal N). */
int tp__sup_reap(struct sup_child *c, int *code);
void tp__sup_close_fds(struct sup_child *c);
/* Frees c's output captures, first waiting up to wait_ms for their end. */
void tp__sup_free_captures(struct sup_child *c, int wait_ms);

/* sup_target.c: children running a registered target (spec.target) */
int tp__sup_target_ok(const tp_child_spec *spec);
int tp__sup_spawn_target(struct sup_child *c);
/* As tp__sup_reap for a target child. */
int tp__sup_reap_target(struct sup_child *c, int *code);
/* TP_READY_NOTIFY: the fd that carries a starting target child's ready
 * frame (its control channel), else -1; tp__sup_target_ready reads it and
 * returns 1 once the child called tp_ready(). */
int tp__sup_ready_fd(const struct sup_child *c);
int tp__sup_target_ready(struct sup_child *c);
/* The fd the loop watches for c's exit: its pidfd (else its sentinel, or
 * a monitored child's monitor). */
int tp__sup_watch_fd(const struct sup_child *c);
/* 1 when tp__sup_watch_fd(c) is a pidfd (not a sentinel or a monitor). */
int tp__sup_watch_is_pidfd(const struct sup_child *c);

/* sup_mon.c: monitored children (the program's Processes in the root) */
/* Registers the process layer's watcher (tp__root_sup_init). */
void tp__sup_mon_init(void);
/* As tp__sup_reap for a monitored child: its exit code, never a reap. */
int tp__sup_mon_reap(struct sup_child *c, int *code);
/* Takes in the exits of root's monitored children that the loop has not
 * seen yet (root mutex held): a snapshot after tp_process_join is current. */
void tp__sup_mon_refresh(tp_sup *root);
/* 1 when s's child id is a monitored Process. What the child runs (a
 * Process's or target child's target, a command line's argv) goes in
 * command (len bytes; may be NULL). Takes the root's mutex. */
int tp__sup_is_process(tp_sup *s, const char *id, char *command, size_t len);
/* The tree stops: a monitored child is left to its user, not stopped. */
void tp__sup_mon_forget(struct sup_child *c);
/* sup_root.c: the root of this process if it exists (root_mu held
 * between peek and unpeek), else NULL. */
tp_sup *tp__root_sup_peek(void);
void tp__root_sup_unpeek(void);

/* sup_loop.c */
/* The root's reactor and its doorbell (tp_sup_new). Errors: those of
 * tp__reactor_new and tp__reactor_add_wake. */
int tp__sup_loop_new(tp_sup *root);
void *tp__sup_loop(void *arg);
void tp__sup_wake(tp_sup *root);
/* Removes c's sources from the loop (the child is freed). */
void tp__sup_unwatch(struct sup_child *c);

/* sup_child.c: the children's state machine */
void tp__sup_emit(tp_sup *s, tp_sup_event_kind k, struct sup_child *c,
                  int code);
/* A starting child is ready: its start op is done. */
void tp__sup_set_ready(struct sup_child *c);
/* 1 when a start of c is queued and not begun. */
int tp__sup_queued_start(tp_sup *s, struct sup_child *c);
/* Carries out the queues of s's subtree; 1 if anything moved. */
int tp__sup_advance_tree(tp_sup *s);
struct sup_op *tp__sup_enqueue(tp_sup *s, enum sup_op_kind k,
                               struct sup_child *c, struct sup_req *req);
/* Cancels every queued op of s (and of nested sups, recursively). */
void tp__sup_cancel_all(tp_sup *s);
/* Enqueues a stop for every live child of s, in reverse order. */
void tp__sup_stop_all(tp_sup *s, struct sup_req *req);

/* A child is gone (exit code, -N for signal N): restart policy. */
void tp__sup_child_exited(struct sup_child *c, int code);
/* Reaps c if its pidfd said so, then tp__sup_child_exited. */
void tp__sup_reap_one(struct sup_child *c);
/* A failed nested sup whose children are all stopped dies as a child. */
void tp__sup_sub_check_failed(tp_sup *s);
/* Restarts c now by s's strategy (counted in c->restarts). */
void tp__sup_restart_now(tp_sup *s, struct sup_child *c);

/* sup_policy.c: the policies of a child that is gone */
/* Restarts c now, or after its restart delay (backoff with a cap). */
void tp__sup_restart(tp_sup *s, struct sup_child *c);
/* A delayed restart is due (c->restart_at passed). */
void tp__sup_restart_due(struct sup_child *c);
/* 1 when code is a normal exit of sp (exit_ok, or 0). */
int tp__sup_normal_exit(const tp_child_spec *sp, int code);
/* OTP's auto_shutdown after a significant child ended for good. */
void tp__sup_auto_shutdown(tp_sup *s, struct sup_child *c);
/* supervisord's BACKOFF and FATAL after a failed start. */
void tp__sup_retry_start(tp_sup *s, struct sup_child *c);

/* sup_rt.c: the control sockets' stop and restart, without waiting
 * (ctl_act.c). Root mutex held. Queues a stop of sup's child id (restart:
 * a stop if it is not stopped, then a start) for req, an asynchronous
 * request the caller owns until req->on_done ran (set on_done and
 * done_arg; the rest is reset here). Errors, with nothing queued:
 * TP_ENOENT (no such child), TP_ESTATE (the tree does not run, or a
 * restart of a monitored Process). */
int tp__sup_act_async(tp_sup *sup, const char *id, int restart,
                      struct sup_req *req);
/* 1 when s is root or a supervisor nested in it (root mutex held). */
int tp__sup_in_tree(const tp_sup *root, const tp_sup *s);

/* sup.c */
struct sup_child *tp__sup_find(tp_sup *s, const char *id);
/* Appends c to s's children (root mutex held). Errors: TP_ENOMEM. */
int tp__sup_push(tp_sup *s, struct sup_child *c);
/* Adds spec to a running sup and starts it (tp_sup_start_child). */
int tp__sup_add_started(tp_sup *s, const tp_child_spec *spec, char *id_out);
void tp__sup_child_free(struct sup_child *c);
void tp__sup_free_tree(tp_sup *s);

#endif
