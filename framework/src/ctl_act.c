/*
 * ctl_act.c - start, stop, restart and signal on a supervision tree, as
 * the control sockets serve them: the daemon's (apps/cli/ctl_cmd.c) on
 * its INI tree and every program's (ctl_status.c) on its root supervisor.
 * Names are resolved by ctl_names.c; what `all` or GROUP:* names is
 * stopped in reverse order. A Process of a program (a monitored child,
 * otp/sup_mon.c) can be stopped and signalled, not started again: its
 * program starts it.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "sup_int.h"
#include "troupe/error.h"
#include "troupe/supervisor.h"

tp_sup *tp__ctl_owner(tp_sup *s, const char *name)
{
	tp_child_info *v;
	int n;
	tp_sup *found = NULL;
	if (s == NULL || tp_sup_which_children(s, &v, &n) != TP_OK)
		return NULL;
	for (int i = 0; i < n && found == NULL; i++) {
		if (strcmp(v[i].id, name) == 0)
			found = s;
		else if (v[i].nested)
			found =
			    tp__ctl_owner(tp_sup_child_sup(s, v[i].id), name);
	}
	free(v);
	return found;
}

static int is_running(tp_sup *s, const char *name)
{
	tp_child_info *v;
	int n, running = 0;
	if (tp_sup_which_children(s, &v, &n) == TP_OK) {
		for (int i = 0; i < n; i++)
			if (strcmp(v[i].id, name) == 0)
				running = v[i].state == TP_CHILD_RUNNING;
		free(v);
	}
	return running;
}

static void say_error(tp_sup *s, const char *cmd, const char *name, int rv,
                      Troupe__SupReply *rep)
{
	if (rv == TP_ESTATE && strcmp(cmd, "signal") != 0 &&
	    strcmp(cmd, "stop") != 0 && tp__sup_is_process(s, name, NULL, 0))
		tp__ctl_say(rep, rv,
		            "%s: a Process is started by its program, "
		            "not by its supervisor",
		            name);
	else
		tp__ctl_say(rep, rv, "%s: %s", name, tp_strerror(rv));
}

static void act_one(tp_sup *root, const char *cmd, const char *name, int sig,
                    Troupe__SupReply *rep)
{
	tp_sup *s = tp__ctl_owner(root, name);
	int rv;
	if (s == NULL) {
		tp__ctl_say(rep, TP_ENOENT, "%s: no such program or group",
		            name);
		return;
	}
	if (strcmp(cmd, "stop") == 0)
		rv = tp_sup_terminate_child(s, name);
	else if (strcmp(cmd, "restart") == 0)
		rv = tp_sup_restart_child(s, name);
	else if (strcmp(cmd, "signal") == 0)
		rv = tp_sup_signal_child(s, name, sig);
	else if (is_running(s, name)) {
		tp__ctl_say(rep, TP_OK, "%s: already running", name);
		return;
	} else
		rv = tp_sup_restart_child(s, name);
	if (rv == TP_OK)
		tp__ctl_say(rep, TP_OK, "%s: %s", name,
		            strcmp(cmd, "stop") == 0     ? "stopped"
		            : strcmp(cmd, "signal") == 0 ? "signalled"
		                                         : "started");
	else
		say_error(s, cmd, name, rv, rep);
}

void tp__ctl_act(tp_sup *root, const Troupe__SupRequest *req,
                 Troupe__SupReply *rep)
{
	struct tp__ctl_targets t;
	const char *cmd = req->command ? req->command : "";
	int signal = strcmp(cmd, "signal") == 0;
	int start = strcmp(cmd, "start") == 0, sig = 0;
	if (req->n_names == 0) {
		tp__ctl_say(rep, TP_EINVAL, "%s: no name given", cmd);
		return;
	}
	if (signal && (sig = tp__signal_parse(req->arg)) == 0) {
		tp__ctl_say(rep, TP_EINVAL, "bad signal '%s'",
		            req->arg ? req->arg : "");
		return;
	}
	tp__ctl_resolve(root, req->names, req->n_names,
	                signal  ? TP_CTL_PROCS
	                : start ? TP_CTL_NODES
	                        : TP_CTL_CHILDREN,
	                &t, rep);
	int rev = t.wild && strcmp(cmd, "stop") == 0;
	for (int k = 0; k < t.n; k++) {
		const char *name = t.v[rev ? t.n - 1 - k : k];
		tp_sup *s = tp__ctl_owner(root, name);
		/* start all: say nothing of what already runs */
		if (start && t.wild && s != NULL && is_running(s, name))
			continue;
		act_one(root, cmd, name, sig, rep);
	}
	if (start && t.wild && rep->message == NULL)
		tp__ctl_say(rep, TP_OK, "everything named runs already");
	if (signal && t.n == 0 && rep->code == TP_OK)
		tp__ctl_say(rep, TP_ENOENT, "no program to signal");
	tp__ctl_targets_free(&t);
}

/* ---- a program's stop, restart and start, without waiting ----
 *
 * A program's control socket (ctl_status.c) serves every peer on one
 * thread, so a stop that waits out a child's shutdown time must not hold
 * it: the names are resolved there, then each one's stop (or restart) is
 * queued on the tree as an asynchronous request, one name after the
 * other in the order tp__ctl_act keeps, each next step taken by the
 * tree's loop when the last one is done (root mutex held: only the
 * tree's internals are used then). The reply goes out with the last. */

struct ctl_job {
	tp_sup *root;
	int start, stop, wild, k, idx;
	struct tp__ctl_targets t;
	tp_sup **owner; /* of each name, found before the first step */
	Troupe__SupReply rep;
	struct sup_req req;
	void (*reply)(void *arg, Troupe__SupReply *rep);
	void *arg;
};

static void job_end(struct ctl_job *j)
{
	if (j->start && j->wild && j->rep.message == NULL)
		tp__ctl_say(&j->rep, TP_OK, "everything named runs already");
	j->reply(j->arg, &j->rep);
	tp__ctl_targets_free(&j->t);
	free(j->owner);
	free(j);
}

static void job_said(struct ctl_job *j, const char *name, int rv)
{
	tp_sup *s = j->owner[j->idx];
	struct sup_child *c = tp__sup_find(s, name);
	if (rv == TP_OK)
		tp__ctl_say(&j->rep, TP_OK, "%s: %s", name,
		            j->stop ? "stopped" : "started");
	else if (rv == TP_ESTATE && !j->stop && c != NULL && c->mon)
		tp__ctl_say(&j->rep, rv,
		            "%s: a Process is started by its program, "
		            "not by its supervisor",
		            name);
	else
		tp__ctl_say(&j->rep, rv, "%s: %s", name, tp_strerror(rv));
}

static void job_step(struct ctl_job *j);

static void job_done(struct sup_req *req, void *arg)
{
	struct ctl_job *j = arg;
	job_said(j, j->t.v[j->idx], req->rv);
	j->k++;
	job_step(j);
}

/* Takes the next names until one waits (root mutex held). */
static void job_step(struct ctl_job *j)
{
	int rev = j->wild && j->stop;
	for (; j->k < j->t.n; j->k++) {
		j->idx = rev ? j->t.n - 1 - j->k : j->k;
		const char *name = j->t.v[j->idx];
		tp_sup *s = j->owner[j->idx];
		if (s == NULL || !tp__sup_in_tree(j->root, s)) {
			tp__ctl_say(&j->rep, TP_ENOENT,
			            "%s: no such program or group", name);
			continue;
		}
		struct sup_child *c = tp__sup_find(s, name);
		if (j->start && c != NULL && c->state == TP_CHILD_RUNNING) {
			if (!j->wild) /* start all: say nothing of those */
				tp__ctl_say(&j->rep, TP_OK,
				            "%s: already running", name);
			continue;
		}
		j->req.on_done = job_done;
		j->req.done_arg = j;
		int rv = tp__sup_act_async(s, name, !j->stop, &j->req);
		if (rv == TP_OK)
			return; /* job_done goes on */
		job_said(j, name, rv);
	}
	job_end(j);
}

int tp__ctl_act_later(tp_sup *root, const Troupe__SupRequest *req,
                      void (*reply)(void *arg, Troupe__SupReply *rep),
                      void *arg)
{
	const char *cmd = req->command ? req->command : "";
	int stop = strcmp(cmd, "stop") == 0;
	int start = strcmp(cmd, "start") == 0;
	if (root == NULL || req->n_names == 0 ||
	    (!stop && !start && strcmp(cmd, "restart") != 0))
		return 0; /* said at once by tp__ctl_act */
	struct ctl_job *j = calloc(1, sizeof(*j));
	if (j == NULL)
		return 0;
	troupe__sup_reply__init(&j->rep);
	j->root = root;
	j->stop = stop;
	j->start = start;
	j->reply = reply;
	j->arg = arg;
	tp__ctl_resolve(root, req->names, req->n_names,
	                start ? TP_CTL_NODES : TP_CTL_CHILDREN, &j->t, &j->rep);
	j->wild = j->t.wild;
	j->owner = calloc((size_t)j->t.n + 1, sizeof(*j->owner));
	for (int i = 0; j->owner != NULL && i < j->t.n; i++)
		j->owner[i] = tp__ctl_owner(root, j->t.v[i]);
	pthread_mutex_lock(&root->mu);
	if (j->owner == NULL)
		j->k = j->t.n; /* out of memory: said as nothing done */
	job_step(j);
	pthread_mutex_unlock(&root->mu);
	return 1;
}
