/*
 * sup_mon.c - monitored children: every Process the program starts with
 * tp_process_start hangs in the root supervisor's tree as a temporary
 * child, so `troupe tree -p PID` shows it (pid, state, last exit) and
 * `troupe stop|signal -p PID NAME` reach it, while tp_process keeps its
 * meaning: the user still joins it, reaps it (spawn and fork children)
 * and takes its exit code and result. The tree never reaps such a child
 * and never restarts it.
 *
 * The process layer reports each start and each release of a process
 * object (struct tp__proc_watch); the loop watches the child by a pidfd
 * like any other. When it fires, the exit code comes from what is there
 * without taking it from the user: the zombie's status (waitid WNOWAIT:
 * a spawn or fork child the user has not joined yet), else the run's
 * exit log (a child reaped already: its reaper published the event
 * first), else the loop waits on a monitor of the pid (troupe/process.h)
 * for the fork server's report. A stopped child stays in the tree until
 * the user frees its object. When the tree itself stops (tp_fini), these
 * children are left to the process layer, which joins or terminates them
 * as Python does at exit.
 *
 * The pool's workers are listed under their pool and a supervisor's own
 * target children are its children already: neither is reported here.
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child_int.h"
#include "clock.h"
#include "process_int.h"
#include "sup_int.h"
#include "troupe/error.h"

static int id_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.';
}

/* The process's name as a child id, unique among the root's children
 * ("NAME", else "NAME-PID"). */
static void mon_id(tp_sup *root, const tp_process *p, char *id, size_t len)
{
	char base[48];
	size_t i;
	for (i = 0; p->name[i] != '\0' && i < sizeof(base) - 1; i++)
		base[i] = id_char(p->name[i]) ? p->name[i] : '_';
	base[i] = '\0';
	if (i == 0)
		snprintf(base, sizeof(base), "process");
	snprintf(id, len, "%s", base);
	if (tp__sup_find(root, id) != NULL)
		snprintf(id, len, "%s-%d", base, (int)p->pid);
}

static struct sup_child *mon_new(tp_sup *root, const tp_process *p)
{
	tp_child_spec spec = TP_CHILD_SPEC_INIT;
	char id[64];
	struct sup_child *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	mon_id(root, p, id, sizeof(id));
	c->spec = spec;
	c->spec.id = strdup(id);
	if (c->spec.id == NULL) {
		free(c);
		return NULL;
	}
	c->spec.restart = TP_TEMPORARY;
	c->spec.keep_temporary = 1; /* shown until the user frees it */
	c->spec.stop_pid_only = !p->new_group;
	c->owner = root;
	c->notify_fd = -1;
	for (int k = 0; k < SUP_W_N; k++)
		c->w.dup[k] = -1;
	c->mon = 1;
	c->mon_key = p;
	snprintf(c->mon_target, sizeof(c->mon_target), "%s", p->target);
	c->pid = p->pid;
	c->state = TP_CHILD_RUNNING;
	c->started_ms = tp__now_ms();
	/* Its own pidfd (proc/'s watch): the user may free the process
	 * object, and its child handle, at any time. */
	tp__child_init(&c->kid);
	c->kid.pid = c->pid;
	if (tp__pid_watch(c->pid, &c->kid.pidfd) != TP_OK)
		c->kid.pidfd = -1;
	if (c->kid.pidfd < 0 && tp__sup_mon_reap(c, &c->last_exit)) {
		c->pid = 0; /* gone and reaped already */
		c->state = TP_CHILD_STOPPED;
	}
	return c;
}

static void on_started(tp_process *p)
{
	if (strcmp(p->target, "tp__pool_worker") == 0)
		return; /* under its pool */
	tp_sup *root = tp__root_sup_peek();
	if (root != NULL) {
		pthread_mutex_lock(&root->mu);
		if (root->started && !root->stop_req && !root->ended) {
			struct sup_child *c = mon_new(root, p);
			if (c != NULL && tp__sup_push(root, c) != TP_OK)
				tp__sup_child_free(c);
			/* The loop is not woken (a context switch per start):
			 * it watches the pid from its next round, a stop op
			 * wakes it, and a snapshot takes in exits itself. */
		}
		pthread_mutex_unlock(&root->mu);
	}
	tp__root_sup_unpeek();
}

static unsigned released; /* under the root's mutex */

static void on_released(tp_process *p)
{
	tp_sup *root = tp__root_sup_peek();
	if (root != NULL) {
		pthread_mutex_lock(&root->mu);
		for (int i = 0; i < root->nkids; i++) {
			struct sup_child *c = root->kids[i];
			if (!c->mon || c->mon_key != p)
				continue;
			/* Forgotten once stopped (now, or at its exit). */
			c->mon_key = NULL;
			c->spec.keep_temporary = 0;
			if (c->pid == 0 && c->state == TP_CHILD_STOPPED)
				c->deleted = 1;
		}
		if (++released % 32 == 0)
			tp__sup_wake(root); /* the loop frees deleted ones */
		pthread_mutex_unlock(&root->mu);
	}
	tp__root_sup_unpeek();
}

/* Exit codes the process layer learnt (it may hold its lock: only this
 * leaf lock is taken), so the loop finds the code of a child its user
 * reaped already without reading the exit log. */
#define RING 64
static pthread_mutex_t ring_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	pid_t pid;
	int code;
} ring[RING];
static unsigned ring_next;

static void on_exited(pid_t pid, int code)
{
	pthread_mutex_lock(&ring_mu);
	ring[ring_next % RING].pid = pid;
	ring[ring_next % RING].code = code;
	ring_next++;
	pthread_mutex_unlock(&ring_mu);
}

static int ring_find(pid_t pid, int *code)
{
	int found = 0;
	pthread_mutex_lock(&ring_mu);
	for (unsigned k = 1; k <= RING && k <= ring_next && !found; k++) {
		unsigned i = (ring_next - k) % RING;
		if (ring[i].pid == pid) {
			*code = ring[i].code;
			found = 1;
		}
	}
	pthread_mutex_unlock(&ring_mu);
	return found;
}

static void ring_reset_in_child(void)
{
	pthread_mutex_init(&ring_mu, NULL);
	ring_next = 0;
}

static const struct tp__proc_watch watch = {on_started, on_released, on_exited};
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void mon_once(void)
{
	pthread_atfork(NULL, NULL, ring_reset_in_child);
	tp__process_watch(&watch);
}

void tp__sup_mon_init(void)
{
	pthread_once(&once, mon_once);
}

static int from_monitor(struct sup_child *c, int *code)
{
	tp_exit_event ev;
	if (tp_monitor_next(c->mon_m, &ev, 0) != TP_OK)
		return 0;
	*code = ev.exitcode;
	tp_monitor_free(c->mon_m);
	c->mon_m = NULL;
	return 1;
}

int tp__sup_mon_reap(struct sup_child *c, int *code)
{
	if (c->mon_m != NULL)
		return from_monitor(c, code);
	if (tp__pid_peek(c->pid, code))
		return 1; /* the zombie's status, left to its user */
	if (ring_find(c->pid, code))
		return 1; /* its user reaped it a moment ago */
	if (c->mon_key == NULL) {
		*code = -SIGKILL; /* freed by its user: forgotten at once */
		return 1;
	}
	if (tp_monitor_new(&c->mon_m, c->pid) != TP_OK) {
		*code = -SIGKILL; /* no event: the status is unknown */
		return 1;
	}
	if (from_monitor(c, code))
		return 1;
	/* Not yet reported (a fork server's child): wait on the monitor. */
	tp__child_close(&c->kid);
	return 0;
}

void tp__sup_mon_refresh(tp_sup *root)
{
	int moved = 0;
	for (int i = 0; i < root->nkids; i++) {
		struct sup_child *c = root->kids[i];
		struct pollfd pfd = {.fd = c->mon ? tp__sup_watch_fd(c) : -1,
		                     .events = POLLIN};
		if (c->pid <= 0 || pfd.fd < 0 || poll(&pfd, 1, 0) != 1)
			continue;
		tp__sup_reap_one(c); /* as the loop would */
		moved = 1;
	}
	if (moved)
		tp__sup_wake(root); /* its poll set changed */
}

void tp__sup_mon_forget(struct sup_child *c)
{
	tp__child_close(&c->kid);
	tp_monitor_free(c->mon_m);
	c->mon_m = NULL;
	c->pid = 0;
	c->state = TP_CHILD_STOPPED;
}

/* What c runs: a monitored or target child's target, else its argv. */
static void command_of(const struct sup_child *c, char *buf, size_t len)
{
	const char *t = c->spec.target ? tp__target_name(c->spec.target) : NULL;
	size_t at = 0;
	buf[0] = '\0';
	if (c->mon || t != NULL) {
		snprintf(buf, len, "%s", c->mon ? c->mon_target : t);
		return;
	}
	for (int i = 0; c->spec.argv != NULL && c->spec.argv[i] && at < len;
	     i++) {
		int n = snprintf(buf + at, len - at, "%s%s", i ? " " : "",
		                 c->spec.argv[i]);
		if (n < 0)
			break;
		at += (size_t)n;
	}
}

int tp__sup_is_process(tp_sup *s, const char *id, char *command, size_t len)
{
	pthread_mutex_lock(&s->root->mu);
	struct sup_child *c = tp__sup_find(s, id);
	int mon = c != NULL && c->mon;
	if (command != NULL && len > 0) {
		command[0] = '\0';
		if (c != NULL)
			command_of(c, command, len);
	}
	pthread_mutex_unlock(&s->root->mu);
	return mon;
}
