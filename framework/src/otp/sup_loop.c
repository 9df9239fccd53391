/*
 * sup_loop.c - the supervisor tree's event loop: pidfds, readiness pipes,
 * deadlines and the wake-up eventfd in one poll().
 *
 * One thread per tree runs tp__sup_loop with the root's mutex held except
 * while it sleeps in poll(). It waits on every child's pidfd, on the
 * readiness pipes of starting children, on an eventfd that callers use to
 * wake it, and on the nearest deadline (ready timeout, startsecs, kill
 * after the shutdown time). Nothing in it blocks on a child; the
 * children's state machine (sup_child.c) does the rest.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "sup_int.h"
#include "troupe/error.h"

void tp__sup_wake(tp_sup *root)
{
	uint64_t one = 1;
	(void)!write(root->wakefd, &one, sizeof(one));
}

static void on_deadline(struct sup_child *c, int64_t now)
{
	if (c->restart_at != 0 && now >= c->restart_at)
		tp__sup_restart_due(c);
	if (c->deadline_ms == 0 || now < c->deadline_ms)
		return;
	c->deadline_ms = 0;
	if (c->state == TP_CHILD_STARTING &&
	    c->spec.ready == TP_READY_STARTED) {
		tp__sup_set_ready(c); /* stayed up for startsecs */
	} else if (c->state == TP_CHILD_STARTING) {
		c->timed_out = 1;
		tp__sup_signal(c, SIGKILL);
	} else if (c->state == TP_CHILD_STOPPING) {
		c->killed = 1;
		tp__sup_signal(c, SIGKILL);
	}
}

static void on_notify(struct sup_child *c)
{
	char buf[64];
	ssize_t n = read(c->notify_fd, buf, sizeof(buf) - 1);
	if (n > 0) {
		buf[n] = '\0';
		if (strstr(buf, "READY=1") != NULL &&
		    c->state == TP_CHILD_STARTING) {
			tp__sup_set_ready(c);
			return;
		}
	}
	if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
		close(c->notify_fd); /* closed without a word: keep waiting
		                        for the deadline or the exit */
		c->notify_fd = -1;
	}
}

/* Collects poll fds and the nearest deadline of s's subtree. */
struct pollset {
	struct pollfd *fds;
	struct sup_child **who;
	int n, cap;
	int64_t next;
};

static void ps_add(struct pollset *ps, int fd, struct sup_child *c)
{
	if (ps->n == ps->cap) {
		ps->cap = ps->cap ? ps->cap * 2 : 16;
		ps->fds = realloc(ps->fds, ps->cap * sizeof(*ps->fds));
		ps->who = realloc(ps->who, ps->cap * sizeof(*ps->who));
		if (ps->fds == NULL || ps->who == NULL)
			abort();
	}
	ps->fds[ps->n] = (struct pollfd){.fd = fd, .events = POLLIN};
	ps->who[ps->n++] = c;
}

static void collect(tp_sup *s, struct pollset *ps, int64_t now)
{
	for (int i = 0; i < s->nkids; i++) {
		struct sup_child *c = s->kids[i];
		if (c->sub != NULL) {
			collect(c->sub, ps, now);
			continue;
		}
		/* The notify pipe before the pidfd: a child that said
		 * READY=1 and exited before this thread looked has both
		 * readable, and is read as started first, then exited (not
		 * as one that died before it was ready). */
		if (c->notify_fd >= 0)
			ps_add(ps, c->notify_fd, c);
		if (tp__sup_ready_fd(c) >= 0) /* a target's ready frame */
			ps_add(ps, tp__sup_ready_fd(c), c);
		if (c->pid > 0)
			ps_add(ps, tp__sup_watch_fd(c), c);
		if (c->deadline_ms &&
		    (ps->next == 0 || c->deadline_ms < ps->next))
			ps->next = c->deadline_ms;
		if (c->restart_at &&
		    (ps->next == 0 || c->restart_at < ps->next))
			ps->next = c->restart_at;
	}
}

static void deadlines(tp_sup *s, int64_t now)
{
	for (int i = 0; i < s->nkids; i++) {
		if (s->kids[i]->sub != NULL)
			deadlines(s->kids[i]->sub, now);
		else
			on_deadline(s->kids[i], now);
	}
}

static int tree_idle(tp_sup *s)
{
	if (s->head != NULL)
		return 0;
	for (int i = 0; i < s->nkids; i++) {
		struct sup_child *c = s->kids[i];
		if (c->pid > 0 || (c->sub != NULL && !tree_idle(c->sub)))
			return 0;
	}
	return 1;
}

static void dispatch(struct pollset *ps, tp_sup *root)
{
	for (int i = 0; i < ps->n; i++) {
		struct sup_child *c = ps->who[i];
		if (!(ps->fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (c == NULL) {
			uint64_t v;
			(void)!read(root->wakefd, &v, sizeof(v));
		} else if (ps->fds[i].fd == c->notify_fd) {
			on_notify(c);
		} else if (ps->fds[i].fd == tp__sup_ready_fd(c)) {
			if (tp__sup_target_ready(c))
				tp__sup_set_ready(c);
		} else if (c->pid > 0 && ps->fds[i].fd == tp__sup_watch_fd(c)) {
			tp__sup_reap_one(c);
		}
	}
}

void *tp__sup_loop(void *arg)
{
	tp_sup *root = arg;
	struct pollset ps = {0};
	pthread_mutex_lock(&root->mu);
	for (;;) {
		deadlines(root, tp__now_ms());
		while (tp__sup_advance_tree(root))
			tp__sup_sub_check_failed(root);
		tp__sup_sub_check_failed(root);
		pthread_cond_broadcast(&root->cv);
		if (root->stop_req && tree_idle(root))
			break;
		int64_t now = tp__now_ms();
		ps.n = 0;
		ps.next = 0;
		ps_add(&ps, root->wakefd, NULL);
		collect(root, &ps, now);
		root->loop_fds = ps.fds;
		root->loop_who = ps.who;
		int timeout = -1;
		if (ps.next)
			timeout = ps.next > now ? (int)(ps.next - now) : 0;
		pthread_mutex_unlock(&root->mu);
		int n = poll(ps.fds, ps.n, timeout);
		pthread_mutex_lock(&root->mu);
		if (n > 0)
			dispatch(&ps, root);
	}
	root->ended = 1;
	pthread_cond_broadcast(&root->cv);
	pthread_mutex_unlock(&root->mu);
	free(ps.fds);
	free(ps.who);
	return NULL;
}
