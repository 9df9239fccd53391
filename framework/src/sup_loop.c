/*
 * sup_loop.c - the supervisor tree's event loop: operation queues, child
 * exits, readiness, deadlines, restart strategies and intensity.
 *
 * One thread per tree runs tp__sup_loop with the root's mutex held except
 * while it sleeps in poll(). It waits on every child's pidfd, on the
 * readiness pipes of starting children, on an eventfd that callers use to
 * wake it, and on the nearest deadline (ready timeout, startsecs, kill
 * after the shutdown time). Nothing in it blocks on a child.
 *
 * Every supervisor carries out its queue one operation at a time. A start
 * is finished when the child is ready; a stop when the child has exited. A
 * nested supervisor's start or stop is a batch of operations in its own
 * queue, tied to the parent's operation through sup_op.sub_req.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "sup_int.h"
#include "troupe/error.h"

static void op_finish(tp_sup *s, struct sup_op *op);
static void child_exited(struct sup_child *c, int code);

int64_t tp__sup_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tp__sup_wake(tp_sup *root)
{
	uint64_t one = 1;
	(void)!write(root->wakefd, &one, sizeof(one));
}

static void emit(tp_sup *s, tp_sup_event_kind k, struct sup_child *c, int code)
{
	tp_sup *root = s->root;
	if (root->flags.on_event == NULL)
		return;
	tp_sup_event ev = {k, s->id, c ? c->spec.id : "", c ? c->pid : 0, code};
	root->flags.on_event(root->flags.on_event_arg, &ev);
}

struct sup_op *tp__sup_enqueue(tp_sup *s, enum sup_op_kind k,
                               struct sup_child *c, struct sup_req *req)
{
	struct sup_op *op = calloc(1, sizeof(*op));
	if (op == NULL)
		abort(); /* a few bytes; nothing sane to do without them */
	op->kind = k;
	op->c = c;
	op->req = req;
	if (req != NULL)
		req->pending++;
	if (s->tail != NULL)
		s->tail->next = op;
	else
		s->head = op;
	s->tail = op;
	return op;
}

void tp__sup_stop_all(tp_sup *s, struct sup_req *req)
{
	for (int i = s->nkids - 1; i >= 0; i--) {
		struct sup_child *c = s->kids[i];
		if (!c->deleted && !c->tmpl)
			tp__sup_enqueue(s, SUP_OP_STOP, c, req);
	}
}

static int queued_start(tp_sup *s, struct sup_child *c)
{
	for (struct sup_op *op = s->head; op != NULL; op = op->next)
		if (op->c == c && op->kind == SUP_OP_START && !op->begun)
			return 1;
	return 0;
}

/* Completes a request's share of one op. */
static void req_done(struct sup_req *req, int rv)
{
	if (rv != TP_OK && req->rv == TP_OK)
		req->rv = rv;
	if (--req->pending > 0)
		return;
	if (req->parent != NULL) {
		if (!req->parent->canceled) {
			req->parent->done = 1;
			req->parent->rv = req->rv;
		}
	} else {
		req->done = 1;
	}
}

void tp__sup_cancel_all(tp_sup *s)
{
	struct sup_op *op;
	while ((op = s->head) != NULL) {
		s->head = op->next;
		op->canceled = 1;
		if (op->c->sub != NULL && op->begun)
			tp__sup_cancel_all(op->c->sub);
		if (op->c->cur == op)
			op->c->cur = NULL;
		if (op->req != NULL)
			req_done(op->req, TP_ECANCELED);
		free(op);
	}
	s->tail = NULL;
}

static void set_ready(struct sup_child *c)
{
	c->state = TP_CHILD_RUNNING;
	c->deadline_ms = 0;
	if (c->notify_fd >= 0) {
		close(c->notify_fd);
		c->notify_fd = -1;
	}
	emit(c->owner, TP_EV_READY, c, 0);
	if (c->cur != NULL && c->cur->kind == SUP_OP_START) {
		c->cur->done = 1;
		c->cur->rv = TP_OK;
		c->cur = NULL;
	}
}

static void begin_start(tp_sup *s, struct sup_op *op)
{
	struct sup_child *c = op->c;
	(void)s;
	if (c->deleted) {
		op->done = 1;
		op->rv = TP_ENOENT;
		return;
	}
	if (c->state == TP_CHILD_RUNNING || c->state == TP_CHILD_STARTING) {
		op->done = 1;
		return;
	}
	if (c->sub != NULL) {
		tp_sup *sub = c->sub;
		sub->failed = sub->shutting = 0;
		sub->nrestarts = 0;
		memset(&op->sub_req, 0, sizeof(op->sub_req));
		op->sub_req.parent = op;
		op->sub_req.rollback = 1;
		c->state = TP_CHILD_STARTING;
		c->started_ms = tp__sup_now_ms();
		for (int i = 0; i < sub->nkids; i++)
			if (!sub->kids[i]->deleted && !sub->kids[i]->tmpl)
				tp__sup_enqueue(sub, SUP_OP_START, sub->kids[i],
				                &op->sub_req);
		if (op->sub_req.pending == 0)
			op->done = 1;
		return;
	}
	c->timed_out = 0;
	int rv = tp__sup_spawn(c);
	if (rv != TP_OK) {
		c->state = TP_CHILD_FAILED;
		op->done = 1;
		op->rv = rv;
		return;
	}
	c->state = TP_CHILD_STARTING;
	c->cur = op;
	emit(c->owner, TP_EV_STARTED, c, 0);
	if (c->spec.ready == TP_READY_NOTIFY)
		c->deadline_ms = c->started_ms + (c->spec.start_timeout_ms > 0
		                                      ? c->spec.start_timeout_ms
		                                      : 10000);
	else if (c->spec.startsecs_ms > 0)
		c->deadline_ms = c->started_ms + c->spec.startsecs_ms;
	else
		set_ready(c);
}

static void begin_stop(tp_sup *s, struct sup_op *op)
{
	struct sup_child *c = op->c;
	(void)s;
	if (c->sub != NULL) {
		tp_sup *sub = c->sub;
		if (c->state == TP_CHILD_STOPPED) {
			op->done = 1;
			return;
		}
		tp__sup_cancel_all(sub);
		sub->shutting = 1;
		memset(&op->sub_req, 0, sizeof(op->sub_req));
		op->sub_req.parent = op;
		c->state = TP_CHILD_STOPPING;
		tp__sup_stop_all(sub, &op->sub_req);
		if (op->sub_req.pending == 0)
			op->done = 1;
		return;
	}
	if (c->pid <= 0) {
		if (c->state != TP_CHILD_STOPPED)
			c->state = TP_CHILD_STOPPED;
		op->done = 1;
		return;
	}
	c->cur = op;
	c->state = TP_CHILD_STOPPING;
	if (c->spec.shutdown_ms == TP_SHUTDOWN_BRUTAL) {
		tp__sup_signal(c, SIGKILL);
		c->deadline_ms = 0;
		return;
	}
	tp__sup_signal(c,
	               c->spec.stop_signal > 0 ? c->spec.stop_signal : SIGTERM);
	c->deadline_ms = c->spec.shutdown_ms > 0
	                     ? tp__sup_now_ms() + c->spec.shutdown_ms
	                     : 0;
}

/* A start op that failed with a request asking for rollback: drop the
 * request's other queued ops and stop everything this sup runs. */
static void rollback(tp_sup *s, struct sup_req *req)
{
	struct sup_op **pp = &s->head;
	while (*pp != NULL) {
		struct sup_op *op = *pp;
		if (op->req == req && !op->begun) {
			*pp = op->next;
			req_done(req, TP_ECANCELED);
			free(op);
			continue;
		}
		pp = &op->next;
	}
	s->tail = NULL;
	for (struct sup_op *op = s->head; op != NULL; op = op->next)
		s->tail = op;
	if (req->parent == NULL)
		tp__sup_stop_all(s, req);
}

static void op_finish(tp_sup *s, struct sup_op *op)
{
	struct sup_child *c = op->c;
	if (op->kind == SUP_OP_STOP) {
		c->state = TP_CHILD_STOPPED;
		if (c->spec.restart == TP_TEMPORARY)
			c->deleted = 1;
	} else if (op->kind == SUP_OP_START && op->rv != TP_OK) {
		if (c->sub != NULL)
			c->state = TP_CHILD_STOPPED;
		if (op->req != NULL && op->req->rollback)
			rollback(s, op->req);
	} else if (op->kind == SUP_OP_START && c->sub != NULL) {
		c->state = TP_CHILD_RUNNING;
		emit(s, TP_EV_READY, c, 0);
	}
	if (op->req != NULL) {
		req_done(op->req, op->rv);
	} else if (op->kind == SUP_OP_START && op->rv != TP_OK) {
		/* A restart that failed counts as another exit. */
		child_exited(c, -SIGKILL);
	}
	free(op);
}

/* Carries out s's queue as far as it goes; returns 1 if anything moved. */
static int advance(tp_sup *s)
{
	int moved = 0;
	struct sup_op *op;
	while ((op = s->head) != NULL) {
		if (!op->begun) {
			op->begun = 1;
			moved = 1;
			if (op->kind == SUP_OP_START)
				begin_start(s, op);
			else
				begin_stop(s, op);
		}
		if (!op->done)
			break;
		s->head = op->next;
		if (s->head == NULL)
			s->tail = NULL;
		moved = 1;
		op_finish(s, op);
	}
	return moved;
}

static int advance_tree(tp_sup *s)
{
	int moved = advance(s);
	for (int i = 0; i < s->nkids; i++)
		if (s->kids[i]->sub != NULL)
			moved |= advance_tree(s->kids[i]->sub);
	/* Drop deleted children nobody refers to any more. */
	if (s->head == NULL) {
		int k = 0;
		for (int i = 0; i < s->nkids; i++) {
			if (s->kids[i]->deleted && s->kids[i]->pid == 0)
				tp__sup_child_free(s->kids[i]);
			else
				s->kids[k++] = s->kids[i];
		}
		s->nkids = k;
	}
	return moved;
}

/* Records a restart; returns 1 when the intensity is exceeded. */
static int intensity_exceeded(tp_sup *s)
{
	int64_t now = tp__sup_now_ms();
	int max = s->flags.intensity, k = 0;
	for (int i = 0; i < s->nrestarts; i++)
		if (now - s->restarts[i] < s->flags.period_ms)
			s->restarts[k++] = s->restarts[i];
	s->nrestarts = k;
	if (k >= max + 1)
		return 1;
	s->restarts[s->nrestarts++] = now;
	return s->nrestarts > max;
}

static void sup_failed(tp_sup *s);

static void escalate(tp_sup *s)
{
	emit(s, TP_EV_ESCALATE, NULL, 0);
	tp__sup_cancel_all(s);
	s->shutting = 1;
	s->failed = 1;
	sup_failed(s);
}

static void sup_failed(tp_sup *s)
{
	if (s->parent == NULL) {
		/* The root: stop all, then end the loop with TP_EDIED. */
		s->stop_req = 1;
		s->end_rv = TP_EDIED;
		tp__sup_stop_all(s, NULL);
		return;
	}
	/* A nested sup: stop its children now, then die as a child of its
	 * parent once they are gone (see sub_check_failed). */
	tp__sup_stop_all(s, NULL);
}

static void restart(tp_sup *s, struct sup_child *c)
{
	if (queued_start(s, c))
		return;
	c->restarts++;
	emit(s, TP_EV_RESTART, c, 0);
	int from = 0;
	switch (s->flags.strategy) {
	case TP_ONE_FOR_ONE:
	case TP_SIMPLE_ONE_FOR_ONE:
		tp__sup_enqueue(s, SUP_OP_START, c, NULL);
		return;
	case TP_ONE_FOR_ALL:
		from = 0;
		break;
	case TP_REST_FOR_ONE:
		for (from = 0; from < s->nkids && s->kids[from] != c; from++)
			;
		break;
	}
	for (int i = s->nkids - 1; i >= from; i--)
		if (s->kids[i] != c && !s->kids[i]->deleted)
			tp__sup_enqueue(s, SUP_OP_STOP, s->kids[i], NULL);
	for (int i = from; i < s->nkids; i++)
		if (!s->kids[i]->deleted)
			tp__sup_enqueue(s, SUP_OP_START, s->kids[i], NULL);
}

/* A child is gone (process exit, or a nested sup that failed). */
static void child_exited(struct sup_child *c, int code)
{
	tp_sup *s = c->owner;
	struct sup_op *op = c->cur;
	c->last_exit = code;
	c->cur = NULL;
	c->deadline_ms = 0;
	if (op != NULL) {
		op->done = 1;
		if (op->kind == SUP_OP_STOP)
			return; /* op_finish marks it stopped */
		c->state = TP_CHILD_STOPPED;
		op->rv = c->timed_out ? TP_ETIMEDOUT : TP_EDIED;
		return; /* a failed start: op_finish decides */
	}
	c->state = TP_CHILD_STOPPED;
	if (s->shutting || s->failed)
		return;
	int again = c->spec.restart == TP_PERMANENT ||
	            (c->spec.restart == TP_TRANSIENT && code != 0);
	if (c->spec.restart == TP_TEMPORARY)
		c->deleted = 1;
	if (!again)
		return;
	if (intensity_exceeded(s)) {
		escalate(s);
		return;
	}
	restart(s, c);
}

static void reap_one(struct sup_child *c)
{
	int code;
	if (!tp__sup_reap(c, &code))
		return;
	tp__sup_close_fds(c);
	emit(c->owner, TP_EV_EXITED, c, code);
	c->pid = 0;
	child_exited(c, code);
}

/* A failed nested sup whose children are all stopped dies as a child. */
static void sub_check_failed(tp_sup *s)
{
	for (int i = 0; i < s->nkids; i++) {
		struct sup_child *c = s->kids[i];
		if (c->sub == NULL)
			continue;
		sub_check_failed(c->sub);
		tp_sup *sub = c->sub;
		if (!sub->failed || sub->head != NULL)
			continue;
		sub->failed = 0;
		if (c->state != TP_CHILD_RUNNING)
			continue; /* its start op already failed */
		emit(s, TP_EV_EXITED, c, -SIGKILL);
		child_exited(c, -SIGKILL);
	}
}

static void on_deadline(struct sup_child *c, int64_t now)
{
	if (c->deadline_ms == 0 || now < c->deadline_ms)
		return;
	c->deadline_ms = 0;
	if (c->state == TP_CHILD_STARTING &&
	    c->spec.ready == TP_READY_STARTED) {
		set_ready(c); /* stayed up for startsecs */
	} else if (c->state == TP_CHILD_STARTING) {
		c->timed_out = 1;
		tp__sup_signal(c, SIGKILL);
	} else if (c->state == TP_CHILD_STOPPING) {
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
			set_ready(c);
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
		if (c->pid > 0)
			ps_add(ps, c->pidfd, c);
		if (c->notify_fd >= 0)
			ps_add(ps, c->notify_fd, c);
		if (c->deadline_ms &&
		    (ps->next == 0 || c->deadline_ms < ps->next))
			ps->next = c->deadline_ms;
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
		} else if (ps->fds[i].fd == c->pidfd && c->pid > 0) {
			reap_one(c);
		}
	}
}

void *tp__sup_loop(void *arg)
{
	tp_sup *root = arg;
	struct pollset ps = {0};
	pthread_mutex_lock(&root->mu);
	for (;;) {
		deadlines(root, tp__sup_now_ms());
		while (advance_tree(root))
			sub_check_failed(root);
		sub_check_failed(root);
		pthread_cond_broadcast(&root->cv);
		if (root->stop_req && tree_idle(root))
			break;
		int64_t now = tp__sup_now_ms();
		ps.n = 0;
		ps.next = 0;
		ps_add(&ps, root->wakefd, NULL);
		collect(root, &ps, now);
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
