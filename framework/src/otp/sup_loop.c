/*
 * sup_loop.c - the supervisor tree's event loop, on the one event core
 * (rt/reactor.h): each child's pidfd a pid source, its readiness pipe or
 * ready frame and (after its pidfd fired) its sentinel or monitor fd
 * sources, its ready, startsecs, kill and restart deadlines a timer, and
 * the doorbell callers ring (tp__sup_wake) a wake source.
 *
 * One thread per tree runs the reactor with the root's mutex held except
 * while it sleeps in epoll_wait (the reactor's wait hooks), as the poll()
 * loop it replaced did: a round's callbacks and the state machine's
 * advance after them (the round hook, settle) are one critical section,
 * so no caller sees a child reaped and not yet restarted. Nothing in it
 * blocks on a child; the children's state machine (sup_child.c) does the
 * rest.
 *
 * Sources follow the tree: after every round, settle walks the children
 * and makes each one's sources match what it has now (a pidfd while it
 * runs, a readiness fd while it starts, a timer while a deadline is set),
 * as the poll set was rebuilt each round before. A child's fd is watched
 * through a dup, so the child's code may close its own at any time; a new
 * run of the child (c->run) always gets new sources, even if its fds
 * reuse the old numbers.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "clock.h"
#include "sup_int.h"
#include "troupe/error.h"

static void on_wake(tp__rsrc *s, uint32_t ev, void *arg)
{
	(void)s;
	(void)ev;
	(void)arg; /* settle, after the round, does what was asked */
}

int tp__sup_loop_new(tp_sup *root)
{
	int rv = tp__reactor_new(&root->rx);
	if (rv == TP_OK)
		rv = tp__reactor_add_wake(root->rx, on_wake, root, &root->wake);
	if (rv != TP_OK) {
		tp__reactor_free(root->rx);
		root->rx = NULL;
		root->wake = NULL;
	}
	return rv;
}

void tp__sup_wake(tp_sup *root)
{
	tp__reactor_wake(root->wake);
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

static int readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return fd >= 0 && poll(&p, 1, 0) == 1;
}

/* c's readiness, if its pipe or channel has something to say. */
static void ready_news(struct sup_child *c)
{
	if (c->notify_fd >= 0 && readable(c->notify_fd))
		on_notify(c);
	int rfd = tp__sup_ready_fd(c);
	if (rfd >= 0 && readable(rfd) && tp__sup_target_ready(c))
		tp__sup_set_ready(c);
}

static void unwatch_slot(struct sup_child *c, int k)
{
	struct sup_watch *w = &c->w;
	if (w->src[k] == NULL)
		return;
	tp__reactor_del(w->src[k]);
	if (w->dup[k] >= 0)
		close(w->dup[k]); /* an fd source's own dup */
	w->src[k] = NULL;
	w->dup[k] = -1;
}

void tp__sup_unwatch(struct sup_child *c)
{
	for (int k = 0; k < SUP_W_N; k++)
		unwatch_slot(c, k);
	tp__reactor_del(c->w.timer);
	c->w.timer = NULL;
}

static void on_src(tp__rsrc *s, uint32_t ev, void *arg)
{
	struct sup_child *c = arg;
	(void)ev;
	if (s == c->w.src[SUP_W_NOTIFY]) {
		if (c->notify_fd >= 0)
			on_notify(c);
	} else if (s == c->w.src[SUP_W_READY]) {
		if (tp__sup_ready_fd(c) >= 0 && tp__sup_target_ready(c))
			tp__sup_set_ready(c);
	} else if (c->pid > 0) {
		/* Its exit. A child that said READY=1 and exited before
		 * this thread looked is read as started first, then exited
		 * (not as one that died before it was ready). */
		ready_news(c);
		if (s == c->w.src[SUP_W_PID])
			unwatch_slot(c, SUP_W_PID); /* fired: watched again
			                              if still there */
		tp__sup_reap_one(c);
	}
}

static void on_timer(tp__rsrc *s, uint32_t ev, void *arg)
{
	(void)s;
	(void)ev;
	on_deadline(arg, tp__now_ms());
}

/* Makes c's source k watch fd (-1: none) of c's current run. */
static void want(tp_sup *root, struct sup_child *c, int k, int fd)
{
	struct sup_watch *w = &c->w;
	if (w->src[k] != NULL && (w->num[k] != fd || w->run[k] != c->run))
		unwatch_slot(c, k);
	if (fd < 0 || w->src[k] != NULL)
		return;
	int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	int rv;
	if (k == SUP_W_PID && d >= 0) {
		rv = tp__reactor_add_pidfd(root->rx, d, c->pid, on_src, c,
		                           &w->src[k]);
		d = -1; /* the source's */
	} else {
		/* Out of fds: watch the child's own (a close of it before
		 * the next round is then only noticed by the exit). */
		rv = tp__reactor_add_fd(root->rx, d >= 0 ? d : fd, EPOLLIN,
		                        on_src, c, &w->src[k]);
	}
	if (rv != TP_OK) {
		if (d >= 0)
			close(d);
		w->src[k] = NULL;
		return; /* tried again next round */
	}
	w->num[k] = fd;
	w->run[k] = c->run;
	w->dup[k] = d;
}

static void sync_child(tp_sup *root, struct sup_child *c)
{
	int watch = c->pid > 0 ? tp__sup_watch_fd(c) : -1;
	int pidfd = watch >= 0 && tp__sup_watch_is_pidfd(c);
	/* Removals first: a number one source gives up may be the one
	 * another is about to take. */
	if (c->pid <= 0) {
		unwatch_slot(c, SUP_W_PID);
		unwatch_slot(c, SUP_W_EXIT);
	}
	if (c->notify_fd < 0)
		unwatch_slot(c, SUP_W_NOTIFY);
	if (tp__sup_ready_fd(c) < 0)
		unwatch_slot(c, SUP_W_READY);
	want(root, c, SUP_W_NOTIFY, c->notify_fd);
	want(root, c, SUP_W_READY, tp__sup_ready_fd(c));
	want(root, c, SUP_W_PID, pidfd ? watch : -1);
	want(root, c, SUP_W_EXIT, pidfd ? -1 : watch);
	int64_t due = c->deadline_ms;
	if (c->restart_at != 0 && (due == 0 || c->restart_at < due))
		due = c->restart_at;
	if (due != 0 && c->w.timer == NULL &&
	    tp__reactor_add_timer(root->rx, 0, on_timer, c, &c->w.timer) !=
	        TP_OK)
		c->w.timer = NULL;
	if (c->w.timer != NULL)
		tp__reactor_timer_set(c->w.timer, due);
}

static void sync_tree(tp_sup *root, tp_sup *s)
{
	for (int i = 0; i < s->nkids; i++) {
		if (s->kids[i]->sub != NULL)
			sync_tree(root, s->kids[i]->sub);
		else
			sync_child(root, s->kids[i]);
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

/* Calls on_done of the asynchronous requests that are done (all: every
 * one, the tree ended); returns how many. A callback may queue more. */
static int fire_async(tp_sup *root, int all)
{
	int n = 0;
	struct sup_req **pp = &root->async;
	while (*pp != NULL) {
		struct sup_req *r = *pp;
		if (!r->done && !all) {
			pp = &r->async_next;
			continue;
		}
		*pp = r->async_next;
		if (!r->done && r->rv == TP_OK)
			r->rv = TP_ECANCELED;
		r->on_done(r, r->done_arg);
		n++;
		pp = &root->async; /* the callback may have added one */
	}
	return n;
}

/* After every round: the state machine moves, waiters are told, and the
 * sources are made to match the tree. */
static void settle(void *arg)
{
	tp_sup *root = arg;
	do {
		while (tp__sup_advance_tree(root))
			tp__sup_sub_check_failed(root);
		tp__sup_sub_check_failed(root);
	} while (fire_async(root, 0) > 0);
	pthread_cond_broadcast(&root->cv);
	if (root->stop_req && tree_idle(root)) {
		tp__reactor_stop(root->rx);
		return;
	}
	sync_tree(root, root);
}

static void unlock(void *arg)
{
	pthread_mutex_unlock(&((tp_sup *)arg)->mu);
}

static void lock(void *arg)
{
	pthread_mutex_lock(&((tp_sup *)arg)->mu);
}

void *tp__sup_loop(void *arg)
{
	tp_sup *root = arg;
	pthread_mutex_lock(&root->mu);
	tp__reactor_on_round(root->rx, settle, root);
	tp__reactor_on_wait(root->rx, unlock, lock, root);
	settle(root);
	tp__reactor_run(root->rx);
	root->ended = 1;
	fire_async(root, 1);
	pthread_cond_broadcast(&root->cv);
	pthread_mutex_unlock(&root->mu);
	return NULL;
}
