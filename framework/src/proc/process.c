/*
 * process.c - tp_process: multiprocessing.Process in C. The parent's side:
 * the target registry, the process objects and their lifecycle, the
 * runtime hooks that finish children at exit, current/parent/active
 * children. Watching a child's control channel is in reap.c, the start
 * methods in start.c.
 *
 * A process object is driven only by the thread that uses it (like a
 * payload); the list of children is shared and guarded by tp__pm.mu.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "process_int.h"
#include "runtime_int.h"
#include "troupe/error.h"
#include "wire.h"

int tp__start(tp_process *p);
int tp__spawn_child_check(void);

struct tp_procmod tp__pm = {
    .mu = PTHREAD_MUTEX_INITIALIZER, .server_fd = -1, .ctl_fd = -1};

/* ---- target registry ---- */

#define MAX_TARGETS 256
static struct {
	char name[TP_TARGET_MAX];
	tp_target_fn fn;
} targets[MAX_TARGETS];
static int n_targets;

int tp_target_register(const char *name, tp_target_fn fn)
{
	if (name == NULL || fn == NULL || name[0] == '\0' ||
	    strlen(name) >= TP_TARGET_MAX)
		return TP_EINVAL;
	for (int i = 0; i < n_targets; i++)
		if (strcmp(targets[i].name, name) == 0)
			return targets[i].fn == fn ? TP_OK : TP_EALREADY;
	if (n_targets == MAX_TARGETS)
		return TP_ENOMEM;
	snprintf(targets[n_targets].name, TP_TARGET_MAX, "%s", name);
	targets[n_targets++].fn = fn;
	return TP_OK;
}

tp_target_fn tp__target_find(const char *name)
{
	for (int i = 0; i < n_targets; i++)
		if (strcmp(targets[i].name, name) == 0)
			return targets[i].fn;
	return NULL;
}

const char *tp__target_name(tp_target_fn fn)
{
	for (int i = 0; i < n_targets; i++)
		if (targets[i].fn == fn)
			return targets[i].name;
	return NULL;
}

/* ---- the watcher (the root supervisor) ---- */

static const struct tp__proc_watch *watch;

void tp__process_watch(const struct tp__proc_watch *w)
{
	__atomic_store_n(&watch, w, __ATOMIC_RELEASE);
}

static void watch_started(tp_process *p)
{
	const struct tp__proc_watch *w =
	    __atomic_load_n(&watch, __ATOMIC_ACQUIRE);
	if (w != NULL && !p->owned)
		w->started(p);
}

static void watch_released(tp_process *p)
{
	const struct tp__proc_watch *w =
	    __atomic_load_n(&watch, __ATOMIC_ACQUIRE);
	if (w != NULL && !p->owned && p->state != PROC_NEW)
		w->released(p);
}

void tp__process_watch_exited(const tp_process *p, int st)
{
	const struct tp__proc_watch *w =
	    __atomic_load_n(&watch, __ATOMIC_ACQUIRE);
	if (w != NULL && !p->owned)
		w->exited(p->pid,
		          WIFSIGNALED(st) ? -WTERMSIG(st) : WEXITSTATUS(st));
}

static void kid_exited(void *arg, int status)
{
	tp__process_watch_exited(arg, status);
}

/* ---- runtime hooks ---- */

int tp__process_init(const tp_init_opts *opts)
{
	(void)opts;
	tp__spawn_child_check(); /* a spawned child never returns from it */
	if (!tp__pm.is_child) {
		memset(&tp__pm.self, 0, sizeof(tp__pm.self));
		snprintf(tp__pm.self.name, TP_NAME_MAX, "MainProcess");
		tp__pm.self.pid = getpid();
		tp__pm.self.state = PROC_SELF;
		tp__pm.self.fd = -1;
		tp__child_init(&tp__pm.self.kid);
		tp__pm.self_pid = getpid();
		tp__pm.have_parent = 0;
	}
	if (tp__rt.method == TP_START_FORKSERVER && tp__pm.server_fd < 0 &&
	    !tp__nng_was_used()) {
		int rv = tp__server_start();
		return rv == tp_err_errno(ENOSYS) ? TP_OK : rv; /* spawns */
	}
	return TP_OK;
}

void tp__process_fini(void)
{
	tp__finish_children();
	tp__exit_log_close();
}

/* ---- process objects ---- */

int tp_process_new(tp_process **out, tp_target_fn target,
                   const tp_payload *args, const tp_process_opts *opts)
{
	const char *tname;
	tp_process *p;
	int rv;
	if (out == NULL || target == NULL)
		return TP_EINVAL;
	if (opts != NULL &&
	    (opts->method < TP_START_DEFAULT || opts->method > TP_START_FORK))
		return TP_EINVAL;
	if (!tp__rt.initialised)
		return TP_ENOTINIT;
	if ((tname = tp__target_name(target)) == NULL)
		return TP_ENOTREG;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return TP_ENOMEM;
	rv = args != NULL ? tp_payload_copy(args, &p->args)
	                  : tp_payload_new(&p->args);
	if (rv != TP_OK) {
		free(p);
		return rv;
	}
	pthread_mutex_init(&p->pump_mu, NULL);
	/* A framework service with no Python counterpart (target
	 * "tp__svc_*": the logging actor) takes no number, so the user's
	 * first Process is still Process-1. */
	int svc = strncmp(tname, "tp__svc_", 8) == 0;
	pthread_mutex_lock(&tp__pm.mu);
	int n = svc ? 0 : ++tp__pm.counter;
	pthread_mutex_unlock(&tp__pm.mu);
	const char *id = tp__pm.self.identity;
	if (snprintf(p->identity, sizeof(p->identity), "%.100s%s%d", id,
	             id[0] ? ":" : "", n) < 0)
		p->identity[0] = '\0';
	if (opts != NULL && opts->name != NULL)
		snprintf(p->name, sizeof(p->name), "%s", opts->name);
	else
		snprintf(p->name, sizeof(p->name), "Process-%.119s",
		         p->identity);
	snprintf(p->target, sizeof(p->target), "%s", tname);
	if (opts != NULL) {
		p->daemon = opts->daemon != 0;
		p->new_group = opts->new_group != 0;
		p->method = opts->method;
	}
	p->fd = -1;
	tp__child_init(&p->kid);
	p->kid.exited = kid_exited; /* the watcher learns before the reap */
	p->kid.exited_arg = p;
	*out = p;
	return TP_OK;
}

static void list_add(tp_process *p)
{
	pthread_mutex_lock(&tp__pm.mu);
	p->next = tp__pm.children;
	tp__pm.children = p;
	pthread_mutex_unlock(&tp__pm.mu);
}

static void list_remove(tp_process *p)
{
	pthread_mutex_lock(&tp__pm.mu);
	for (tp_process **pp = &tp__pm.children; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	pthread_mutex_unlock(&tp__pm.mu);
}

/* A start that failed after the child existed: make sure it is gone. */
static void start_failed(tp_process *p)
{
	if (p->kid.pid > 0) {
		struct tp__exit ev;
		tp__child_stop(&p->kid, SIGKILL, TP_SIG_CHILD, -1, NULL, &ev);
		free(ev.report);
	} else if (p->pid > 0) {
		kill(p->pid, SIGKILL);
	}
	tp__child_close(&p->kid);
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	p->pid = 0;
	p->direct = 0;
	tp__ctlbuf_free(&p->rb);
}

int tp_process_start(tp_process *p)
{
	int rv;
	if (p == NULL)
		return TP_EINVAL;
	if (p->state == PROC_CLOSED)
		return TP_ECLOSED;
	if (p->state != PROC_NEW)
		return p->state == PROC_SELF ? TP_EINVAL : TP_EALREADY;
	if (!tp__rt.initialised)
		return TP_ENOTINIT;
	if (tp__pm.self.daemon)
		return TP_EDAEMON;
	if ((rv = tp__start(p)) != TP_OK) {
		start_failed(p);
		return rv;
	}
	p->state = PROC_RUNNING;
	list_add(p);
	watch_started(p);
	return TP_OK;
}

int tp_process_join(tp_process *p, int timeout_ms)
{
	if (p == NULL || timeout_ms < -1)
		return TP_EINVAL;
	if (p->state == PROC_CLOSED)
		return TP_ECLOSED;
	if (p->state == PROC_NEW || p->state == PROC_SELF)
		return TP_ESTATE;
	if (p->state == PROC_EXITED)
		return TP_OK;
	return tp__process_pump(p, timeout_ms);
}

int tp_process_is_alive(tp_process *p)
{
	if (p == NULL || p->state != PROC_RUNNING)
		return p != NULL && p->state == PROC_SELF;
	return tp__process_pump(p, 0) == TP_ETIMEDOUT;
}

static int process_signal(tp_process *p, int sig)
{
	if (p == NULL)
		return TP_EINVAL;
	if (p->state == PROC_CLOSED)
		return TP_ECLOSED;
	if (p->state == PROC_NEW || p->state == PROC_SELF)
		return TP_ESTATE;
	if (p->state == PROC_EXITED || tp__process_pump(p, 0) == TP_OK)
		return TP_OK; /* already gone: left alone, as in Python */
	return tp__child_signal(&p->kid, sig,
	                        p->new_group ? TP_SIG_GROUP : TP_SIG_CHILD);
}

int tp_process_terminate(tp_process *p)
{
	return process_signal(p, SIGTERM);
}

int tp_process_kill(tp_process *p)
{
	return process_signal(p, SIGKILL);
}

int tp_process_exitcode(tp_process *p, int *out)
{
	if (p == NULL || out == NULL)
		return TP_EINVAL;
	if (p->state == PROC_CLOSED)
		return TP_ECLOSED;
	if (p->state == PROC_RUNNING)
		tp__process_pump(p, 0);
	if (p->state != PROC_EXITED)
		return TP_ESTATE;
	if (WIFSIGNALED(p->status))
		*out = -WTERMSIG(p->status);
	else
		*out = WEXITSTATUS(p->status);
	return TP_OK;
}

const char *tp_process_crash_report(const tp_process *p)
{
	return p == NULL || p->state != PROC_EXITED ? NULL : p->report;
}

int tp_process_exit_event(tp_process *p, tp_exit_event *ev)
{
	int code, rv;
	if (p == NULL || ev == NULL)
		return TP_EINVAL;
	if ((rv = tp_process_exitcode(p, &code)) != TP_OK)
		return rv;
	memset(ev, 0, sizeof(*ev));
	ev->pid = p->pid;
	ev->name = p->name;
	ev->exitcode = code;
	ev->signal = WIFSIGNALED(p->status) ? WTERMSIG(p->status) : 0;
	ev->core_dumped = WIFSIGNALED(p->status) && WCOREDUMP(p->status);
	ev->report = p->report != NULL ? p->report : "";
	return TP_OK;
}

struct tp__child *tp__process_child(tp_process *p)
{
	return &p->kid;
}

pid_t tp_process_pid(const tp_process *p)
{
	return p == NULL || p->state == PROC_CLOSED ? 0 : p->pid;
}

const char *tp_process_name(const tp_process *p)
{
	return p == NULL ? NULL : p->name;
}

int tp_process_daemon(const tp_process *p)
{
	return p == NULL ? 0 : p->daemon;
}

int tp_process_sentinel(const tp_process *p)
{
	return p == NULL || p->state == PROC_NEW || p->state == PROC_SELF ||
	               p->state == PROC_CLOSED
	           ? -1
	           : p->fd;
}

/* For tp_wait: a readable sentinel may only mean "frames to drain" (the
 * start handshake, a result): drain them, and report the fd ready only
 * when its child has exited. Other fds are ready when readable. */
int tp__sentinel_ready(int fd)
{
	int ready = 1;
	pthread_mutex_lock(&tp__pm.mu);
	for (tp_process *p = tp__pm.children; p != NULL; p = p->next) {
		if (p->fd == fd && p->state == PROC_RUNNING) {
			ready = tp__process_pump(p, 0) == TP_OK;
			break;
		}
	}
	pthread_mutex_unlock(&tp__pm.mu);
	return ready;
}

int tp_process_result(tp_process *p, tp_payload **out, int timeout_ms)
{
	int rv;
	if (p == NULL || out == NULL || timeout_ms < -1)
		return TP_EINVAL;
	if (p->state == PROC_CLOSED)
		return TP_ECLOSED;
	if (p->state == PROC_NEW || p->state == PROC_SELF)
		return TP_ESTATE;
	if ((rv = tp_process_join(p, timeout_ms)) != TP_OK)
		return rv;
	if (p->result_taken)
		return TP_ENOENT;
	if (!p->have_result)
		return TP_EDIED;
	*out = p->result;
	p->result = NULL;
	p->result_taken = 1;
	return TP_OK;
}

/* Everything a process object holds but the object itself. */
static void process_release(tp_process *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	tp__child_close(&p->kid);
	tp__ctlbuf_free(&p->rb);
	tp_payload_free(p->args);
	tp_payload_free(p->result);
	free(p->report);
	p->args = p->result = NULL;
	p->report = NULL;
}

static void process_destroy(tp_process *p)
{
	process_release(p);
	pthread_mutex_destroy(&p->pump_mu);
	free(p);
}

int tp_process_close(tp_process *p)
{
	if (p == NULL || p->state == PROC_SELF)
		return TP_EINVAL;
	if (p->state == PROC_CLOSED)
		return TP_OK;
	if (p->state == PROC_RUNNING)
		tp__process_pump(p, 0);
	if (p->state == PROC_RUNNING)
		return TP_ESTATE;
	watch_released(p);
	if (p->state == PROC_EXITED)
		list_remove(p);
	process_release(p);
	p->state = PROC_CLOSED;
	return TP_OK;
}

void tp_process_free(tp_process *p)
{
	if (p == NULL || p->state == PROC_SELF)
		return;
	if (p->state != PROC_CLOSED)
		watch_released(p);
	if (p->state == PROC_RUNNING && tp__process_pump(p, 0) != TP_OK) {
		p->detached = 1; /* the runtime finishes it at exit */
		return;
	}
	if (p->state != PROC_NEW && p->state != PROC_CLOSED)
		list_remove(p);
	process_destroy(p);
}

const tp_process *tp_current_process(void)
{
	return tp__rt.initialised ? &tp__pm.self : NULL;
}

const tp_process *tp_parent_process(void)
{
	return tp__rt.initialised && tp__pm.have_parent ? &tp__pm.parent : NULL;
}

/* Reaps finished children; frees detached ones that have exited. A
 * supervisor's own children (p->owned: its targets, the pool's workers,
 * the logging actor, a manager) are its loop thread's alone: that thread
 * pumps, joins and frees them under the tree's lock, not this one, so
 * pumping one here raced it on the channel's buffer, and listing one
 * handed the caller a pointer the tree may free at any moment. */
int tp_active_children(tp_process **procs, int max)
{
	int n = 0;
	pthread_mutex_lock(&tp__pm.mu);
	tp_process **pp = &tp__pm.children;
	while (*pp != NULL) {
		tp_process *p = *pp;
		if (p->owned) {
			pp = &p->next;
			continue;
		}
		if (p->state == PROC_RUNNING)
			tp__process_pump(p, 0);
		if (p->state != PROC_RUNNING && p->detached) {
			*pp = p->next;
			process_destroy(p);
			continue;
		}
		if (p->state == PROC_RUNNING && !p->detached) {
			if (procs != NULL && n < max)
				procs[n] = p;
			n++;
		}
		pp = &p->next;
	}
	pthread_mutex_unlock(&tp__pm.mu);
	return n;
}

/*
 * At exit (tp_fini, or the end of a child): daemonic children are
 * terminated, then every child is joined, as Python's _exit_function.
 * Objects the user still holds stay valid (exited); detached ones are
 * freed. Finally the fork server is stopped.
 */
void tp__finish_children(void)
{
	pthread_mutex_lock(&tp__pm.mu);
	tp_process *list = tp__pm.children;
	tp__pm.children = NULL;
	pthread_mutex_unlock(&tp__pm.mu);
	for (tp_process *p = list; p != NULL; p = p->next)
		if (p->state == PROC_RUNNING && p->daemon)
			tp_process_terminate(p);
	while (list != NULL) {
		tp_process *p = list;
		list = p->next;
		p->next = NULL;
		if (p->state == PROC_RUNNING)
			tp__process_pump(p, -1);
		if (p->detached)
			process_destroy(p);
	}
	tp__server_stop();
}

const char *tp_process_repr(const tp_process *p, char *buf, size_t len)
{
	char pid[32] = "", parent[32] = "None", st[48];
	const char *cls = "Process";
	if (buf == NULL || len == 0)
		return buf;
	buf[0] = '\0';
	if (p == NULL)
		return buf;
	if (p == &tp__pm.self) {
		if (tp__pm.have_parent)
			snprintf(parent, sizeof(parent), "%d",
			         (int)tp__pm.parent.pid);
		else
			cls = "_MainProcess";
		snprintf(st, sizeof(st), "started");
	} else if (p == &tp__pm.parent) {
		snprintf(parent, sizeof(parent), "?");
		snprintf(st, sizeof(st), "started");
	} else {
		snprintf(parent, sizeof(parent), "%d", (int)tp__pm.self.pid);
		if (p->pid > 0 && p->state != PROC_CLOSED)
			snprintf(pid, sizeof(pid), " pid=%d", (int)p->pid);
		int code;
		if (p->state == PROC_NEW)
			snprintf(st, sizeof(st), "initial");
		else if (p->state == PROC_CLOSED)
			snprintf(st, sizeof(st), "closed");
		else if (tp_process_exitcode((tp_process *)p, &code) != TP_OK)
			snprintf(st, sizeof(st), "started");
		else if (code < 0 && sigabbrev_np(-code) != NULL)
			snprintf(st, sizeof(st), "stopped exitcode=-SIG%s",
			         sigabbrev_np(-code));
		else
			snprintf(st, sizeof(st), "stopped exitcode=%d", code);
	}
	snprintf(buf, len, "<%s name='%s'%s parent=%s %s%s>", cls, p->name, pid,
	         parent, st, p->daemon ? " daemon" : "");
	return buf;
}

void tp__process_each(void (*fn)(void *arg, const tp_process *p), void *arg)
{
	pthread_mutex_lock(&tp__pm.mu);
	for (tp_process *p = tp__pm.children; p != NULL; p = p->next)
		fn(arg, p);
	pthread_mutex_unlock(&tp__pm.mu);
}
