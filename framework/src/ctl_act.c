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
