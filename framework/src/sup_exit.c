/*
 * sup_exit.c - what happens when a child is gone: its restart type,
 * the restart intensity, the strategy's plan (one_for_one, one_for_all,
 * rest_for_one, simple_one_for_one), and escalation of a failed
 * supervisor to its parent (or the end of the tree at the root).
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

static void sup_failed(tp_sup *s);

static void escalate(tp_sup *s)
{
	tp__sup_emit(s, TP_EV_ESCALATE, NULL, 0);
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

static void do_restart(tp_sup *s, struct sup_child *c)
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

/* The restart delay: restart_delay_ms, doubled after each short run, at
 * most restart_delay_max_ms; back to the start after a long run. */
static void restart(tp_sup *s, struct sup_child *c)
{
	const tp_child_spec *sp = &c->spec;
	if (sp->restart_delay_ms <= 0 || c->sub != NULL) {
		do_restart(s, c);
		return;
	}
	int64_t now = tp__now_ms();
	int cap = sp->restart_delay_max_ms > 0 ? sp->restart_delay_max_ms
	                                       : INT32_MAX / 2;
	int64_t ran = now - c->started_ms;
	if (c->backoff_ms <= 0 || ran > cap)
		c->backoff_ms = sp->restart_delay_ms;
	int delay = c->backoff_ms < cap ? c->backoff_ms : cap;
	c->backoff_ms = delay > cap / 2 ? cap : delay * 2;
	c->restart_at = now + delay;
	c->state = TP_CHILD_FAILED; /* waiting: supervisord's BACKOFF */
	tp__sup_emit(s, TP_EV_BACKOFF, c, delay);
}

void tp__sup_restart_due(struct sup_child *c)
{
	c->restart_at = 0;
	if (!c->owner->shutting && !c->owner->failed && !c->deleted)
		do_restart(c->owner, c);
}

static int normal_exit(const tp_child_spec *sp, int code)
{
	int any = 0;
	for (int i = 0; i < 8; i++)
		any |= sp->exit_ok[i] != 0;
	if (code < 0 || code > 255)
		return 0;
	if (!any)
		return code == 0;
	return (sp->exit_ok[code / 32] >> (code % 32)) & 1;
}

/* OTP's auto_shutdown: a significant child ended for good. */
static int auto_shutdown(tp_sup *s, struct sup_child *c)
{
	if (!c->spec.significant || s->flags.auto_shutdown == TP_AUTO_NEVER)
		return 0;
	if (s->flags.auto_shutdown == TP_AUTO_ALL_SIGNIFICANT)
		for (int i = 0; i < s->nkids; i++)
			if (s->kids[i] != c && s->kids[i]->spec.significant &&
			    !s->kids[i]->deleted &&
			    s->kids[i]->state != TP_CHILD_STOPPED)
				return 0;
	tp__sup_emit(s, TP_EV_AUTO_SHUTDOWN, c, 0);
	tp__sup_cancel_all(s);
	s->shutting = 1;
	if (s->parent == NULL) {
		s->stop_req = 1;
		s->end_rv = TP_OK;
	} else {
		s->auto_done = 1;
	}
	tp__sup_stop_all(s, NULL);
	return 1;
}

/* supervisord's BACKOFF: a failed start is tried again after 1 s, 2 s,
 * 3 s ... without counting against the intensity, up to start_retries
 * times; then the child is left stopped (FATAL). */
static void retry_start(tp_sup *s, struct sup_child *c)
{
	if (c->start_fails > c->spec.start_retries) {
		c->state = TP_CHILD_STOPPED;
		tp__sup_emit(s, TP_EV_GAVE_UP, c, c->start_fails);
		c->start_fails = 0;
		return;
	}
	int delay = c->start_fails * 1000;
	c->restart_at = tp__now_ms() + delay;
	c->state = TP_CHILD_FAILED;
	tp__sup_emit(s, TP_EV_BACKOFF, c, delay);
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
		retry_start(s, c);
		return;
	}
	int again =
	    c->spec.restart == TP_PERMANENT ||
	    (c->spec.restart == TP_TRANSIENT && !normal_exit(&c->spec, code));
	if (c->spec.restart == TP_TEMPORARY && !c->spec.significant &&
	    !c->spec.keep_temporary)
		c->deleted = 1;
	if (!again) {
		auto_shutdown(s, c);
		return;
	}
	if (intensity_exceeded(s)) {
		escalate(s);
		return;
	}
	restart(s, c);
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
