/*
 * sup.c - the supervisor's public calls: building the tree, starting and
 * stopping it, and the runtime calls (start/terminate/restart/delete a
 * child, which_children, count_children).
 *
 * A call that changes the tree queues operations for the loop thread
 * (sup_loop.c) and sleeps on the root's condition variable until they are
 * done, so it returns with the change carried out, while the loop itself
 * never waits for a caller.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "runtime_int.h"
#include "sup_int.h"
#include "troupe/error.h"

static int id_ok(const char *id)
{
	if (id == NULL || id[0] == '\0' || strlen(id) >= 64)
		return 0;
	for (const char *p = id; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' ||
		      *p == '.'))
			return 0;
	return 1;
}

static char **strv_dup(char *const *v, int extra_n, char *const *extra)
{
	int n = 0, x = 0;
	while (v != NULL && v[n])
		n++;
	while (extra != NULL && x < extra_n && extra[x])
		x++;
	char **out = calloc(n + x + 1, sizeof(*out));
	if (out == NULL)
		return NULL;
	for (int i = 0; i < n + x; i++) {
		out[i] = strdup(i < n ? v[i] : extra[i - n]);
		if (out[i] == NULL) {
			for (int j = 0; j < i; j++)
				free(out[j]);
			free(out);
			return NULL;
		}
	}
	return out;
}

static void strv_free(char **v)
{
	for (int i = 0; v != NULL && v[i]; i++)
		free(v[i]);
	free(v);
}

void tp__sup_child_free(struct sup_child *c)
{
	if (c == NULL)
		return;
	free((char *)c->spec.id);
	strv_free((char **)c->spec.argv);
	strv_free((char **)c->spec.env);
	free((char *)c->spec.cwd);
	free((char *)c->spec.log_path);
	free((char *)c->spec.err_log_path);
	tp_payload_free((tp_payload *)c->spec.args);
	tp_process_free(c->proc);
	tp_monitor_free(c->mon_m);
	tp__sup_free_captures(c, 0);
	tp__sup_unwatch(c);
	if (c->sub != NULL)
		tp__sup_free_tree(c->sub);
	free(c);
}

static struct sup_child *child_new(tp_sup *s, const tp_child_spec *spec,
                                   int extra_n, char *const *extra)
{
	struct sup_child *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->spec = *spec;
	c->spec.id = strdup(spec->id);
	c->spec.argv = spec->argv ? strv_dup(spec->argv, extra_n, extra) : NULL;
	c->spec.env = spec->env ? strv_dup(spec->env, 0, NULL) : NULL;
	c->spec.cwd = spec->cwd ? strdup(spec->cwd) : NULL;
	c->spec.log_path = spec->log_path ? strdup(spec->log_path) : NULL;
	c->spec.err_log_path =
	    spec->err_log_path ? strdup(spec->err_log_path) : NULL;
	tp_payload *args = NULL;
	c->spec.args = NULL;
	if (spec->args != NULL && tp_payload_copy(spec->args, &args) == TP_OK)
		c->spec.args = args;
	c->owner = s;
	c->tmpl = 0;
	tp__child_init(&c->kid);
	c->notify_fd = -1;
	for (int k = 0; k < SUP_W_N; k++)
		c->w.dup[k] = -1;
	if (c->spec.id == NULL || (spec->argv && !c->spec.argv) ||
	    (spec->env && !c->spec.env) || (spec->cwd && !c->spec.cwd) ||
	    (spec->log_path && !c->spec.log_path) ||
	    (spec->err_log_path && !c->spec.err_log_path) ||
	    (spec->args && !c->spec.args)) {
		tp__sup_child_free(c);
		return NULL;
	}
	return c;
}

struct sup_child *tp__sup_find(tp_sup *s, const char *id)
{
	for (int i = 0; id != NULL && i < s->nkids; i++)
		if (!s->kids[i]->deleted && !s->kids[i]->tmpl &&
		    strcmp(s->kids[i]->spec.id, id) == 0)
			return s->kids[i];
	return NULL;
}

int tp__sup_push(tp_sup *s, struct sup_child *c)
{
	if (s->nkids == s->cap) {
		int cap = s->cap ? s->cap * 2 : 8;
		struct sup_child **k = realloc(s->kids, cap * sizeof(*k));
		if (k == NULL)
			return TP_ENOMEM;
		s->kids = k;
		s->cap = cap;
	}
	s->kids[s->nkids++] = c;
	return TP_OK;
}

static int argv_ok(const tp_child_spec *spec)
{
	return spec->target != NULL ||
	       (spec->argv != NULL && spec->argv[0] != NULL &&
	        spec->argv[0][0] != '\0');
}

static int spec_ok(const tp_child_spec *spec)
{
	return spec != NULL && id_ok(spec->id) && argv_ok(spec) &&
	       spec->restart >= TP_PERMANENT && spec->restart <= TP_TEMPORARY &&
	       spec->shutdown_ms >= TP_SHUTDOWN_INFINITY &&
	       (spec->ready == TP_READY_STARTED ||
	        spec->ready == TP_READY_NOTIFY) &&
	       spec->startsecs_ms >= 0 && spec->start_timeout_ms >= 0 &&
	       spec->stop_signal >= 0 && spec->stop_signal < NSIG &&
	       spec->restart_delay_ms >= 0 && spec->restart_delay_max_ms >= 0 &&
	       (!spec->significant || spec->restart != TP_PERMANENT);
}

/* TP_OK, TP_EINVAL, or TP_ENOTREG for an unregistered target. */
static int spec_check(const tp_child_spec *spec)
{
	if (!spec_ok(spec))
		return TP_EINVAL;
	return spec->target != NULL ? tp__sup_target_ok(spec) : TP_OK;
}

static int flags_ok(const tp_sup_flags *f)
{
	return f->strategy >= TP_ONE_FOR_ONE &&
	       f->strategy <= TP_SIMPLE_ONE_FOR_ONE && f->intensity >= 0 &&
	       f->period_ms > 0 && f->auto_shutdown >= TP_AUTO_NEVER &&
	       f->auto_shutdown <= TP_AUTO_ALL_SIGNIFICANT;
}

static int sup_alloc(tp_sup **out, const tp_sup_flags *flags, tp_sup *parent)
{
	tp_sup_flags def = TP_SUP_FLAGS_INIT;
	if (flags == NULL)
		flags = &def;
	if (out == NULL || !flags_ok(flags))
		return TP_EINVAL;
	tp_sup *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return TP_ENOMEM;
	s->flags = *flags;
	s->restarts = calloc(flags->intensity + 1, sizeof(*s->restarts));
	if (s->restarts == NULL) {
		free(s);
		return TP_ENOMEM;
	}
	s->parent = parent;
	s->root = parent ? parent->root : s;
	*out = s;
	return TP_OK;
}

int tp_sup_new(tp_sup **out, const tp_sup_flags *flags)
{
	int rv = sup_alloc(out, flags, NULL);
	if (rv != TP_OK)
		return rv;
	tp_sup *s = *out;
	if ((rv = tp__sup_loop_new(s)) != TP_OK) {
		tp__sup_free_tree(s);
		*out = NULL;
		return rv;
	}
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cv, &ca);
	pthread_condattr_destroy(&ca);
	return TP_OK;
}

void tp__sup_free_tree(tp_sup *s)
{
	for (int i = 0; i < s->nkids; i++)
		tp__sup_child_free(s->kids[i]);
	free(s->kids);
	free(s->restarts);
	if (s->parent == NULL && s->rx != NULL) {
		tp__reactor_free(s->rx); /* after its children's sources */
		pthread_mutex_destroy(&s->mu);
		pthread_cond_destroy(&s->cv);
	}
	free(s);
}

/* A nested sup that is stopped (added to a started tree, or stopped by
 * tp_sup_terminate_child) may still get children: they start with it. */
static int sup_stopped(const tp_sup *s)
{
	return s->parent != NULL && s->self != NULL &&
	       s->self->state == TP_CHILD_STOPPED && s->head == NULL;
}

static int add_checks(tp_sup *s, const char *id, int started_ok)
{
	if (s->root->started && !started_ok && !sup_stopped(s))
		return TP_ESTATE;
	if (s->root->started && (s->root->ended || s->root->stop_req))
		return TP_ESTATE;
	if (tp__sup_find(s, id) != NULL)
		return TP_EALREADY;
	if (s->flags.strategy == TP_SIMPLE_ONE_FOR_ONE && s->nkids > 0)
		return TP_EALREADY;
	return TP_OK;
}

/* started_ok: the child may join a running tree (it stays stopped). */
static int add_child(tp_sup *sup, const tp_child_spec *spec, int started_ok)
{
	int rv = sup == NULL ? TP_EINVAL : spec_check(spec);
	if (rv != TP_OK)
		return rv;
	pthread_mutex_lock(&sup->root->mu);
	rv = add_checks(sup, spec->id, started_ok);
	struct sup_child *c = NULL;
	if (rv == TP_OK && (c = child_new(sup, spec, 0, NULL)) == NULL)
		rv = TP_ENOMEM;
	if (rv == TP_OK && (rv = tp__sup_push(sup, c)) != TP_OK)
		tp__sup_child_free(c);
	if (rv == TP_OK)
		c->tmpl = sup->flags.strategy == TP_SIMPLE_ONE_FOR_ONE;
	pthread_mutex_unlock(&sup->root->mu);
	return rv;
}

int tp_sup_add_child(tp_sup *sup, const tp_child_spec *spec)
{
	return add_child(sup, spec, 0);
}

int tp__sup_add_stopped(tp_sup *sup, const tp_child_spec *spec)
{
	return add_child(sup, spec, 1);
}

int tp_sup_add_sup(tp_sup *sup, const char *id, const tp_sup_flags *flags,
                   tp_restart restart, tp_sup **out)
{
	tp_child_spec spec = TP_CHILD_SPEC_INIT;
	tp_sup *sub = NULL;
	int rv;
	if (sup == NULL || out == NULL || !id_ok(id) ||
	    restart < TP_PERMANENT || restart > TP_TEMPORARY ||
	    sup->flags.strategy == TP_SIMPLE_ONE_FOR_ONE)
		return TP_EINVAL;
	if ((rv = sup_alloc(&sub, flags, sup)) != TP_OK)
		return rv;
	snprintf(sub->id, sizeof(sub->id), "%s", id);
	spec.id = id;
	spec.restart = restart;
	spec.type = TP_SUPERVISOR;
	spec.shutdown_ms = TP_SHUTDOWN_INFINITY;
	/* Its handle stays valid after it ended, whatever its restart type:
	 * only tp_sup_delete_child (or freeing the root) frees it. */
	spec.keep_temporary = 1;
	pthread_mutex_lock(&sup->root->mu);
	rv = add_checks(sup, id, 1);
	struct sup_child *c = NULL;
	if (rv == TP_OK && (c = child_new(sup, &spec, 0, NULL)) == NULL)
		rv = TP_ENOMEM;
	if (rv == TP_OK && (rv = tp__sup_push(sup, c)) != TP_OK)
		tp__sup_child_free(c);
	if (rv == TP_OK) {
		c->sub = sub;
		sub->self = c;
		*out = sub;
	} else {
		tp__sup_free_tree(sub);
	}
	pthread_mutex_unlock(&sup->root->mu);
	return rv;
}

/* Waits (mutex held) until req is done. */
static void wait_req(tp_sup *root, struct sup_req *req)
{
	tp__sup_wake(root);
	while (!req->done && !root->ended)
		pthread_cond_wait(&root->cv, &root->mu);
	if (!req->done && req->rv == TP_OK)
		req->rv = TP_ECANCELED;
}

static void join_loop(tp_sup *root)
{
	if (root->started && !root->thr_joined) {
		root->thr_joined = 1;
		pthread_mutex_unlock(&root->mu);
		pthread_join(root->thr, NULL);
		pthread_mutex_lock(&root->mu);
	}
}

int tp_sup_start(tp_sup *sup)
{
	struct sup_req req = {.rollback = 1};
	if (sup == NULL)
		return TP_EINVAL;
	if (sup->parent != NULL)
		return TP_ESTATE;
	pthread_mutex_lock(&sup->mu);
	if (sup->started) {
		pthread_mutex_unlock(&sup->mu);
		return TP_ESTATE;
	}
	for (int i = 0; i < sup->nkids; i++)
		if (sup->flags.strategy != TP_SIMPLE_ONE_FOR_ONE &&
		    !sup->kids[i]->spec.no_autostart)
			tp__sup_enqueue(sup, SUP_OP_START, sup->kids[i], &req);
	int rv = tp__thread_start(&sup->thr, tp__sup_loop, sup);
	if (rv != TP_OK) {
		tp__sup_cancel_all(sup);
		pthread_mutex_unlock(&sup->mu);
		return rv;
	}
	sup->started = 1;
	if (req.pending > 0)
		wait_req(sup, &req);
	rv = req.rv;
	if (rv != TP_OK) {
		/* The rollback stopped everything: end the loop. */
		sup->stop_req = 1;
		tp__sup_wake(sup);
		join_loop(sup);
	}
	pthread_mutex_unlock(&sup->mu);
	return rv;
}

int tp_sup_stop(tp_sup *sup)
{
	struct sup_req req = {0};
	if (sup == NULL)
		return TP_EINVAL;
	if (sup->parent != NULL)
		return TP_ESTATE;
	pthread_mutex_lock(&sup->mu);
	if (sup->started && !sup->ended) {
		tp__sup_cancel_all(sup);
		sup->stop_req = 1;
		sup->shutting = 1;
		tp__sup_stop_all(sup, &req);
		if (req.pending > 0)
			wait_req(sup, &req);
		tp__sup_wake(sup);
	}
	join_loop(sup);
	pthread_mutex_unlock(&sup->mu);
	return TP_OK;
}

int tp_sup_wait(tp_sup *sup, int timeout_ms)
{
	struct timespec ts;
	int rv = TP_OK;
	if (sup == NULL || sup->parent != NULL)
		return TP_EINVAL;
	tp__deadline_ts(&ts, timeout_ms);
	pthread_mutex_lock(&sup->mu);
	if (!sup->started) {
		pthread_mutex_unlock(&sup->mu);
		return TP_ESTATE;
	}
	while (!sup->ended && rv == TP_OK) {
		if (timeout_ms < 0)
			pthread_cond_wait(&sup->cv, &sup->mu);
		else if (pthread_cond_timedwait(&sup->cv, &sup->mu, &ts) ==
		         ETIMEDOUT)
			rv = TP_ETIMEDOUT;
	}
	if (sup->ended)
		rv = sup->end_rv;
	pthread_mutex_unlock(&sup->mu);
	return rv;
}

void tp_sup_free(tp_sup *sup)
{
	if (sup == NULL || sup->parent != NULL)
		return;
	tp_sup_stop(sup);
	tp__sup_free_tree(sup);
}

int tp__sup_add_started(tp_sup *s, const tp_child_spec *spec, char *id_out)
{
	struct sup_req req = {0};
	tp_child_spec sp;
	char id[64];
	int rv = TP_OK, simple = s->flags.strategy == TP_SIMPLE_ONE_FOR_ONE;
	pthread_mutex_lock(&s->root->mu);
	struct sup_child *tmpl = simple && s->nkids > 0 ? s->kids[0] : NULL;
	if (!s->root->started || s->root->ended || s->root->stop_req)
		rv = TP_ESTATE;
	else if (simple && tmpl == NULL)
		rv = TP_ENOENT;
	if (rv != TP_OK)
		goto out;
	sp = simple ? tmpl->spec : *spec;
	if (simple) {
		if (spec->id != NULL)
			snprintf(id, sizeof(id), "%s", spec->id);
		else
			snprintf(id, sizeof(id), "%s-%u", tmpl->spec.id,
			         ++s->dyn_seq);
		sp.id = id;
		if (tmpl->spec.target != NULL && spec->args != NULL)
			sp.args = spec->args;
	}
	if ((rv = spec_check(&sp)) != TP_OK)
		goto out;
	if (tp__sup_find(s, sp.id) != NULL) {
		rv = TP_EALREADY;
		goto out;
	}
	int extra = 0;
	while (simple && spec->argv != NULL && spec->argv[extra])
		extra++;
	struct sup_child *c =
	    child_new(s, &sp, extra, simple ? spec->argv : NULL);
	if (c == NULL || (rv = tp__sup_push(s, c)) != TP_OK) {
		tp__sup_child_free(c);
		rv = rv != TP_OK ? rv : TP_ENOMEM;
		goto out;
	}
	/* A child that is ready may exit and, temporary, be freed before
	 * this thread wakes up: keep its id, and touch c only if it is
	 * still a child of s. */
	snprintf(id, sizeof(id), "%s", c->spec.id);
	tp__sup_enqueue(s, SUP_OP_START, c, &req);
	tp__sup_wake(s->root);
	while (!req.done && !s->root->ended)
		pthread_cond_wait(&s->root->cv, &s->root->mu);
	rv = req.done ? req.rv : TP_ECANCELED;
	if (rv != TP_OK) {
		for (int i = 0; i < s->nkids; i++)
			if (s->kids[i] == c)
				c->deleted = 1;
	} else if (id_out != NULL) {
		snprintf(id_out, 64, "%s", id);
	}
out:
	pthread_mutex_unlock(&s->root->mu);
	return rv;
}
