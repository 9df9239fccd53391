/*
 * sup_rt.c - runtime calls on a running supervision tree (OTP's
 * start_child, terminate_child, restart_child, delete_child,
 * which_children, count_children) and the name tables.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sup_int.h"
#include "troupe/error.h"

#define find tp__sup_find

/* Runs ops queued for req and waits for them (mutex held). */
static int run_req(tp_sup *s, struct sup_req *req)
{
	tp_sup *root = s->root;
	tp__sup_wake(root);
	while (!req->done && !root->ended)
		pthread_cond_wait(&root->cv, &root->mu);
	if (!req->done)
		return TP_ECANCELED;
	return req->rv;
}

static int live(tp_sup *s)
{
	tp_sup *root = s->root;
	return root->started && !root->ended && !root->stop_req;
}

int tp_sup_start_child(tp_sup *sup, const tp_child_spec *spec, char *id_out)
{
	if (sup == NULL || spec == NULL)
		return TP_EINVAL;
	return tp__sup_add_started(sup, spec, id_out);
}

int tp_sup_terminate_child(tp_sup *sup, const char *id)
{
	struct sup_req req = {0};
	if (sup == NULL || id == NULL)
		return TP_EINVAL;
	pthread_mutex_lock(&sup->root->mu);
	struct sup_child *c = find(sup, id);
	int rv = c == NULL ? TP_ENOENT : live(sup) ? TP_OK : TP_ESTATE;
	if (rv == TP_OK) {
		tp__sup_enqueue(sup, SUP_OP_STOP, c, &req);
		rv = run_req(sup, &req);
	}
	pthread_mutex_unlock(&sup->root->mu);
	return rv;
}

int tp_sup_restart_child(tp_sup *sup, const char *id)
{
	struct sup_req req = {0};
	if (sup == NULL || id == NULL)
		return TP_EINVAL;
	pthread_mutex_lock(&sup->root->mu);
	struct sup_child *c = find(sup, id);
	int rv = c == NULL ? TP_ENOENT : live(sup) ? TP_OK : TP_ESTATE;
	if (rv == TP_OK && c->mon)
		rv = TP_ESTATE; /* a Process: its program starts it */
	if (rv == TP_OK) {
		if (c->state != TP_CHILD_STOPPED)
			tp__sup_enqueue(sup, SUP_OP_STOP, c, &req);
		tp__sup_enqueue(sup, SUP_OP_START, c, &req);
		rv = run_req(sup, &req);
	}
	pthread_mutex_unlock(&sup->root->mu);
	return rv;
}

int tp__sup_act_async(tp_sup *sup, const char *id, int restart,
                      struct sup_req *req)
{
	tp_sup *root = sup->root;
	struct sup_child *c = find(sup, id);
	if (c == NULL)
		return TP_ENOENT;
	if (!live(sup) || (restart && c->mon))
		return TP_ESTATE;
	void (*fn)(struct sup_req *, void *) = req->on_done;
	void *arg = req->done_arg;
	*req = (struct sup_req){.on_done = fn, .done_arg = arg};
	if (!restart || c->state != TP_CHILD_STOPPED)
		tp__sup_enqueue(sup, SUP_OP_STOP, c, req);
	if (restart)
		tp__sup_enqueue(sup, SUP_OP_START, c, req);
	req->async_next = root->async;
	root->async = req;
	tp__sup_wake(root);
	return TP_OK;
}

int tp__sup_in_tree(const tp_sup *root, const tp_sup *s)
{
	if (root == s)
		return 1;
	for (int i = 0; i < root->nkids; i++)
		if (root->kids[i]->sub != NULL &&
		    tp__sup_in_tree(root->kids[i]->sub, s))
			return 1;
	return 0;
}

int tp_sup_delete_child(tp_sup *sup, const char *id)
{
	if (sup == NULL || id == NULL)
		return TP_EINVAL;
	pthread_mutex_lock(&sup->root->mu);
	struct sup_child *c = find(sup, id);
	int rv = c == NULL ? TP_ENOENT : TP_OK;
	if (rv == TP_OK && (c->state != TP_CHILD_STOPPED || c->pid > 0))
		rv = TP_ESTATE;
	if (rv == TP_OK) {
		c->deleted = 1;
		tp__sup_wake(sup->root); /* compacts the list */
	}
	pthread_mutex_unlock(&sup->root->mu);
	return rv;
}

int tp_sup_signal_child(tp_sup *sup, const char *id, int sig)
{
	if (sup == NULL || id == NULL || sig <= 0 || sig >= NSIG)
		return TP_EINVAL;
	pthread_mutex_lock(&sup->root->mu);
	struct sup_child *c = find(sup, id);
	int rv = c == NULL ? TP_ENOENT : c->pid > 0 ? TP_OK : TP_ESTATE;
	if (rv == TP_OK)
		tp__sup_signal(c, sig);
	pthread_mutex_unlock(&sup->root->mu);
	return rv;
}

static void fill_info(const struct sup_child *c, tp_child_info *ci)
{
	memset(ci, 0, sizeof(*ci));
	snprintf(ci->id, sizeof(ci->id), "%s", c->spec.id);
	ci->pid = c->pid;
	ci->state = c->state;
	ci->type = c->sub ? TP_SUPERVISOR : c->spec.type;
	ci->restart = c->spec.restart;
	ci->nested = c->sub != NULL;
	ci->restarts = c->restarts;
	ci->started_ms = c->started_ms;
	ci->last_exit = c->last_exit;
	snprintf(ci->log_path, sizeof(ci->log_path), "%s", c->log_path);
}

int tp_sup_which_children(tp_sup *sup, tp_child_info **out, int *n)
{
	if (sup == NULL || out == NULL || n == NULL)
		return TP_EINVAL;
	pthread_mutex_lock(&sup->root->mu);
	if (sup == sup->root)
		tp__sup_mon_refresh(sup); /* Processes joined a moment ago */
	tp_child_info *v = calloc(sup->nkids + 1, sizeof(*v));
	int k = 0;
	for (int i = 0; v != NULL && i < sup->nkids; i++)
		if (!sup->kids[i]->deleted && !sup->kids[i]->tmpl)
			fill_info(sup->kids[i], &v[k++]);
	pthread_mutex_unlock(&sup->root->mu);
	if (v == NULL)
		return TP_ENOMEM;
	*out = v;
	*n = k;
	return TP_OK;
}

int tp_sup_count_children(tp_sup *sup, tp_child_counts *out)
{
	if (sup == NULL || out == NULL)
		return TP_EINVAL;
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&sup->root->mu);
	for (int i = 0; i < sup->nkids; i++) {
		struct sup_child *c = sup->kids[i];
		if (c->deleted || c->tmpl)
			continue;
		out->specs++;
		if (c->state == TP_CHILD_RUNNING ||
		    c->state == TP_CHILD_STARTING)
			out->active++;
		if (c->sub != NULL || c->spec.type == TP_SUPERVISOR)
			out->supervisors++;
		else
			out->workers++;
	}
	pthread_mutex_unlock(&sup->root->mu);
	return TP_OK;
}

tp_sup *tp_sup_child_sup(tp_sup *sup, const char *id)
{
	if (sup == NULL)
		return NULL;
	pthread_mutex_lock(&sup->root->mu);
	struct sup_child *c = find(sup, id);
	tp_sup *r = c ? c->sub : NULL;
	pthread_mutex_unlock(&sup->root->mu);
	return r;
}

const char *tp_sup_id(const tp_sup *sup)
{
	return sup ? sup->id : "";
}

tp_strategy tp_sup_strategy(const tp_sup *sup)
{
	return sup ? sup->flags.strategy : TP_ONE_FOR_ONE;
}

const char *tp_strategy_name(tp_strategy s)
{
	static const char *n[] = {"one_for_one", "one_for_all", "rest_for_one",
	                          "simple_one_for_one"};
	return s >= 0 && s <= TP_SIMPLE_ONE_FOR_ONE ? n[s] : "?";
}

const char *tp_restart_name(tp_restart r)
{
	static const char *n[] = {"permanent", "transient", "temporary"};
	return r >= 0 && r <= TP_TEMPORARY ? n[r] : "?";
}

const char *tp_child_state_name(tp_child_state s)
{
	static const char *n[] = {"stopped", "starting", "running", "stopping",
	                          "failed"};
	return s >= 0 && s <= TP_CHILD_FAILED ? n[s] : "?";
}
