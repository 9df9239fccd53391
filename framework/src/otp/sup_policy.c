/*
 * sup_policy.c - what a supervisor does with a child that is gone, beyond
 * OTP's restart types (sup_child.c): the restart delay with exponential
 * backoff and a cap, exit codes that count as normal, supervisord's
 * start retries (BACKOFF, then FATAL), and OTP's significant children
 * (auto_shutdown).
 */
#include <signal.h>
#include <stdint.h>

#include "clock.h"
#include "sup_int.h"
#include "troupe/error.h"

/* restart_delay_ms, doubled after each restart that follows a short run,
 * at most restart_delay_max_ms; back to the start after a run longer than
 * the cap. The child waits in TP_CHILD_FAILED (supervisord's BACKOFF); a
 * stop cancels the wait (sup_child.c, begin_stop). */
void tp__sup_restart(tp_sup *s, struct sup_child *c)
{
	const tp_child_spec *sp = &c->spec;
	if (sp->restart_delay_ms <= 0 || c->sub != NULL) {
		tp__sup_restart_now(s, c);
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
	c->state = TP_CHILD_FAILED;
	tp__sup_emit(s, TP_EV_BACKOFF, c, delay);
}

void tp__sup_restart_due(struct sup_child *c)
{
	c->restart_at = 0;
	if (!c->owner->shutting && !c->owner->failed && !c->deleted)
		tp__sup_restart_now(c->owner, c);
}

int tp__sup_normal_exit(const tp_child_spec *sp, int code)
{
	int any = 0;
	for (int i = 0; i < 8; i++)
		any |= sp->exit_ok[i] != 0;
	if (code < 0 || code > 255)
		return 0; /* a signal is never normal */
	if (!any)
		return code == 0;
	return (sp->exit_ok[code / 32] >> (code % 32)) & 1;
}

void tp__sup_auto_shutdown(tp_sup *s, struct sup_child *c)
{
	if (!c->spec.significant || s->flags.auto_shutdown == TP_AUTO_NEVER)
		return;
	if (s->flags.auto_shutdown == TP_AUTO_ALL_SIGNIFICANT)
		for (int i = 0; i < s->nkids; i++)
			if (s->kids[i] != c && s->kids[i]->spec.significant &&
			    !s->kids[i]->deleted &&
			    s->kids[i]->state != TP_CHILD_STOPPED)
				return;
	tp__sup_emit(s, TP_EV_AUTO_SHUTDOWN, c, 0);
	tp__sup_cancel_all(s);
	s->shutting = 1;
	if (s->parent == NULL) {
		s->stop_req = 1; /* tp_sup_wait: TP_OK */
		s->end_rv = TP_OK;
	} else {
		s->auto_done = 1; /* exits 0 to its parent (sub_check_failed) */
	}
	tp__sup_stop_all(s, NULL);
}

/* A failed start is tried again after 1 s, 2 s, 3 s ... without counting
 * against the intensity, up to start_retries times; then the child is
 * left stopped. */
void tp__sup_retry_start(tp_sup *s, struct sup_child *c)
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
