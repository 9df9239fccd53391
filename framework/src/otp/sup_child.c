/*
 * sup_child.c - a supervisor's children, as one state machine: the
 * operation queue that starts and stops one child at a time, what happens
 * when a child is gone (its restart type, the restart intensity, the
 * strategy's plan: one_for_one, one_for_all, rest_for_one,
 * simple_one_for_one), escalation of a failed supervisor to its parent
 * (or the end of the tree at the root), and the completion of operations
 * (requests that wait for them, the rollback of a start that failed).
 *
 * A start is finished when the child is ready, a stop when it has exited;
 * only then does the next operation of that supervisor begin. That is what
 * makes starts ordered and stops reversed. A nested supervisor's start or
 * stop is a batch of operations in its own queue, tied to the parent's
 * operation through sup_op.sub_req.
 *
 * The loop (sup_loop.c) drives it: tp__sup_advance_tree after every
 * event, tp__sup_set_ready when a child reports ready, tp__sup_reap_one
 * when a child's pidfd fires.
 *
 *   enqueue -> begin_start / begin_stop -> (ready | exited) -> op_finish
 *   exited with no op -> restart type -> intensity -> strategy | escalate
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "sup_int.h"
#include "troupe/error.h"

/* ---- the queue ---- */

void tp__sup_emit(tp_sup *s, tp_sup_event_kind k, struct sup_child *c, int code)
{
	tp_sup *root = s->root;
	if (root->flags.on_event == NULL &&
	    (s == root || s->flags.on_event == NULL))
		return;
	tp_sup_event ev = {.kind = k,
	                   .sup_id = s->id,
	                   .id = c ? c->spec.id : "",
	                   .pid = c ? c->pid : 0,
	                   .exit_code = code};
	if (c != NULL && k == TP_EV_EXITED) {
		ev.requested = c->state == TP_CHILD_STOPPING;
		ev.killed = c->killed;
		ev.stop_signal = c->stop_sig;
		ev.cpu_ms = c->last_cpu_ms;
	} else if (c != NULL && k == TP_EV_START_FAILED) {
		ev.error = code;
		ev.exit_code = 0;
		ev.argv = c->spec.argv;
	} else if (c != NULL && k == TP_EV_BACKOFF) {
		ev.delay_ms = code;
		ev.exit_code = 0;
	}
	if (root->flags.on_event != NULL)
		root->flags.on_event(root->flags.on_event_arg, &ev);
	/* A nested sup's own observer sees its children and itself. */
	if (s != root && s->flags.on_event != NULL)
		s->flags.on_event(s->flags.on_event_arg, &ev);
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

int tp__sup_queued_start(tp_sup *s, struct sup_child *c)
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

/* ---- starting and stopping one child ---- */

void tp__sup_set_ready(struct sup_child *c)
{
	c->state = TP_CHILD_RUNNING;
	c->deadline_ms = 0;
	c->start_fails = 0;
	if (c->notify_fd >= 0) {
		close(c->notify_fd);
		c->notify_fd = -1;
	}
	tp__sup_emit(c->owner, TP_EV_READY, c, 0);
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
		c->started_ms = tp__now_ms();
		for (int i = 0; i < sub->nkids; i++)
			if (!sub->kids[i]->deleted && !sub->kids[i]->tmpl &&
			    !sub->kids[i]->spec.no_autostart)
				tp__sup_enqueue(sub, SUP_OP_START, sub->kids[i],
				                &op->sub_req);
		if (op->sub_req.pending == 0)
			op->done = 1;
		return;
	}
	c->timed_out = c->killed = c->stop_sig = 0;
	c->restart_at = 0;
	c->run++; /* new fds: the loop watches them afresh */
	int rv = tp__sup_spawn(c);
	if (rv != TP_OK) {
		c->state = TP_CHILD_FAILED;
		tp__sup_emit(c->owner, TP_EV_START_FAILED, c, rv);
		op->done = 1;
		op->rv = rv;
		return;
	}
	c->state = TP_CHILD_STARTING;
	c->cur = op;
	tp__sup_emit(c->owner, TP_EV_STARTED, c, 0);
	if (c->spec.ready == TP_READY_NOTIFY)
		c->deadline_ms = c->started_ms + (c->spec.start_timeout_ms > 0
		                                      ? c->spec.start_timeout_ms
		                                      : 10000);
	else if (c->spec.startsecs_ms > 0)
		c->deadline_ms = c->started_ms + c->spec.startsecs_ms;
	else
		tp__sup_set_ready(c);
}

static void begin_stop(tp_sup *s, struct sup_op *op)
{
	struct sup_child *c = op->c;
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
	c->restart_at = 0; /* a stop cancels a delayed restart */
	if (c->mon && s->root->stop_req)
		tp__sup_mon_forget(c); /* its user joins or ends it */
	if (c->pid <= 0) {
		if (c->state != TP_CHILD_STOPPED)
			c->state = TP_CHILD_STOPPED;
		op->done = 1;
		return;
	}
	c->cur = op;
	c->state = TP_CHILD_STOPPING;
	if (c->spec.shutdown_ms == TP_SHUTDOWN_BRUTAL) {
		c->stop_sig = SIGKILL;
		tp__sup_signal(c, SIGKILL);
		c->deadline_ms = 0;
		return;
	}
	c->stop_sig = c->spec.stop_signal > 0 ? c->spec.stop_signal : SIGTERM;
	tp__sup_signal(c, c->stop_sig);
	c->deadline_ms =
	    c->spec.shutdown_ms > 0 ? tp__now_ms() + c->spec.shutdown_ms : 0;
}

/* ---- a child is gone: restart type, intensity, strategy ---- */

/* Records a restart; returns 1 when the intensity is exceeded. */
static int intensity_exceeded(tp_sup *s)
{
	int64_t now = tp__now_ms();
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

static void escalate(tp_sup *s)
{
	tp__sup_emit(s, TP_EV_ESCALATE, NULL, 0);
	tp__sup_cancel_all(s);
	s->shutting = 1;
	s->failed = 1;
	sup_failed(s);
}

void tp__sup_restart_now(tp_sup *s, struct sup_child *c)
{
	if (tp__sup_queued_start(s, c))
		return;
	c->restarts++;
	tp__sup_emit(s, TP_EV_RESTART, c, 0);
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
void tp__sup_child_exited(struct sup_child *c, int code)
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
	if (c->spec.start_retries > 0 && c->start_fails > 0) {
		tp__sup_retry_start(s, c); /* supervisord's BACKOFF */
		return;
	}
	int again = c->spec.restart == TP_PERMANENT ||
	            (c->spec.restart == TP_TRANSIENT &&
	             !tp__sup_normal_exit(&c->spec, code));
	if (c->spec.restart == TP_TEMPORARY && !c->spec.significant &&
	    !c->spec.keep_temporary)
		c->deleted = 1;
	if (!again) {
		tp__sup_auto_shutdown(s, c);
		return;
	}
	if (intensity_exceeded(s)) {
		escalate(s);
		return;
	}
	tp__sup_restart(s, c);
}

void tp__sup_reap_one(struct sup_child *c)
{
	int code;
	if (!tp__sup_reap(c, &code))
		return;
	tp__sup_close_fds(c);
	tp__sup_emit(c->owner, TP_EV_EXITED, c, code);
	c->pid = 0;
	tp__sup_child_exited(c, code);
}

/* A failed nested sup whose children are all stopped dies as a child. */
void tp__sup_sub_check_failed(tp_sup *s)
{
	for (int i = 0; i < s->nkids; i++) {
		struct sup_child *c = s->kids[i];
		if (c->sub == NULL)
			continue;
		tp__sup_sub_check_failed(c->sub);
		tp_sup *sub = c->sub;
		if (sub->auto_done && sub->head == NULL) {
			/* Ended by auto_shutdown: a normal exit. */
			sub->auto_done = 0;
			if (c->state != TP_CHILD_RUNNING)
				continue;
			tp__sup_emit(s, TP_EV_EXITED, c, 0);
			tp__sup_child_exited(c, 0);
			continue;
		}
		if (!sub->failed || sub->head != NULL)
			continue;
		sub->failed = 0;
		if (c->state != TP_CHILD_RUNNING)
			continue; /* its start op already failed */
		tp__sup_emit(s, TP_EV_EXITED, c, -SIGKILL);
		tp__sup_child_exited(c, -SIGKILL);
	}
}

/* ---- finishing operations ---- */

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
		if (c->spec.restart == TP_TEMPORARY &&
		    !c->spec.keep_temporary && !c->spec.significant)
			c->deleted = 1;
	} else if (op->kind == SUP_OP_START && op->rv != TP_OK) {
		if (c->sub != NULL)
			c->state = TP_CHILD_STOPPED;
		if (op->req != NULL && op->req->rollback)
			rollback(s, op->req);
	} else if (op->kind == SUP_OP_START && c->sub != NULL) {
		c->state = TP_CHILD_RUNNING;
		tp__sup_emit(s, TP_EV_READY, c, 0);
	}
	if (op->req != NULL) {
		req_done(op->req, op->rv);
	} else if (op->kind == SUP_OP_START && op->rv != TP_OK) {
		/* A restart that failed counts as another exit. */
		c->start_fails++;
		tp__sup_child_exited(c, -SIGKILL);
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

int tp__sup_advance_tree(tp_sup *s)
{
	int moved = advance(s);
	for (int i = 0; i < s->nkids; i++)
		if (s->kids[i]->sub != NULL)
			moved |= tp__sup_advance_tree(s->kids[i]->sub);
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
