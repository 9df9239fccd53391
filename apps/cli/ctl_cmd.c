/*
 * ctl_cmd.c - what the daemon does for each control request: status (the
 * flattened tree with /proc figures), start, stop, restart, signal, logs,
 * reload, shutdown. Names are program or group names, unique in the tree;
 * "all" means every child of the root.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "ctl_int.h"

int ctl_shutdown_requested;

void ctl_reply_free(Troupe__SupReply *rep)
{
	tp__ctl_reply_free(rep);
}

static const char *command_of(struct daemon *d, const char *name)
{
	struct cfg_prog *p = cfg_prog(d->cfg, name);
	return p ? p->command : "";
}

/* An actor child's counters, asked over its own socket (-1: unknown). */
static void actor_stats(struct daemon *d, const char *name, Troupe__SupChild *c)
{
	struct cfg_prog *p = cfg_prog(d->cfg, name);
	tp_actor_ref *r;
	tp_actor_stats st;
	c->msgs_in = c->msgs_out = -1;
	if (p == NULL || p->actor[0] == '\0' || c->pid <= 0 ||
	    tp_actor_ref_open(&r, p->actor) != TP_OK)
		return;
	if (tp_actor_query_stats(r, &st, 200) == TP_OK) {
		c->msgs_in = (int64_t)st.msgs_in;
		c->msgs_out = (int64_t)st.msgs_out;
	}
	tp_actor_ref_close(r);
}

/* What the daemon adds to the framework's status of its root
 * (tp__ctl_status_fill, the same tree `troupe tree -p PID` shows): each
 * program's command as its config says it, its log file, and with
 * `stats` (top) an actor child's counters. */
struct decor_arg {
	struct daemon *d;
	int stats;
};

static void decorate(void *arg, Troupe__SupChild *c, const tp_child_info *ci)
{
	struct decor_arg *a = arg;
	struct daemon *d = a->d;
	tp__ctl_set_str(&c->log_path,
	                ci->log_path[0] || ci->nested || !d->log_actor
	                    ? ci->log_path
	                    : d->log_path);
	if (cfg_prog(d->cfg, ci->id) != NULL || ci->nested)
		tp__ctl_set_str(&c->command, command_of(d, ci->id));
	if (a->stats)
		actor_stats(d, ci->id, c);
}

static void status(struct daemon *d, const Troupe__SupRequest *req,
                   Troupe__SupReply *rep, int stats)
{
	struct decor_arg a = {d, stats};
	struct tp__ctl_decor decor = {decorate, &a};
	tp__ctl_status_fill(d->root, req, rep, &decor);
	rep->log_restarts = dlog_restarts(d);
	if (d->log_actor != NULL)
		rep->log_file = strdup(d->log_path);
}

/* The log file of each program named: one line each, "r NAME PATH" for
 * records in the logging actor's file (read with a name filter), "p NAME
 * PATH" for a plain file; without names "* PATH", every record (or the
 * event file without the actor). log_records: every line is "r" or "*"
 * with the actor running. */
static void logs(struct daemon *d, const Troupe__SupRequest *req,
                 Troupe__SupReply *rep)
{
	rep->log_records = d->log_actor != NULL;
	if (req->n_names == 0) {
		ctl_say(rep, TP_OK, "* %s", d->log_path);
		return;
	}
	struct ctl_targets t;
	Troupe__SupReply all = TROUPE__SUP_REPLY__INIT;
	Troupe__SupRequest every = TROUPE__SUP_REQUEST__INIT;
	if (ctl_resolve(d, req->names, req->n_names, CTL_PROCS, &t, rep) !=
	    TP_OK) {
		ctl_targets_free(&t);
		return;
	}
	status(d, &every, &all, 0);
	for (size_t k = 0; k < all.n_children; k++) {
		const Troupe__SupChild *c = all.children[k];
		if (!ctl_targets_has(&t, c->name))
			continue;
		/* A program with its own `log =` file is not captured: "p"
		 * (plain file), else "r" (records in the actor's file). */
		int own = d->log_actor == NULL ||
		          strcmp(c->log_path, d->log_path) != 0;
		if (c->log_path == NULL || c->log_path[0] == '\0')
			ctl_say(rep, TP_ENOENT, "%s: no log yet", c->name);
		else
			ctl_say(rep, TP_OK, "%s %s %s", own ? "p" : "r",
			        c->name, c->log_path);
		if (own)
			rep->log_records = 0;
	}
	if (t.n == 0)
		ctl_say(rep, TP_ENOENT, "no program named");
	ctl_targets_free(&t);
	ctl_reply_free(&all);
}

/* start, stop, restart, signal (framework/src/ctl_act.c), one at a
 * time with reload. */
static void act(struct daemon *d, const Troupe__SupRequest *req,
                Troupe__SupReply *rep)
{
	pthread_mutex_lock(&d->mu);
	tp__ctl_act(d->root, req, rep);
	pthread_mutex_unlock(&d->mu);
}

/* The audit line of a request that changes something. */
static void audit(struct daemon *d, const char *cmd,
                  const Troupe__SupRequest *req, const struct ctl_peer *p)
{
	static const char *changes[] = {"start",  "stop",  "restart", "signal",
	                                "reload", "clear", "shutdown"};
	char names[256] = "";
	size_t at = 0;
	int found = 0;
	for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); i++)
		found |= strcmp(cmd, changes[i]) == 0;
	if (!found)
		return;
	for (size_t i = 0; i < req->n_names && at < sizeof(names) - 1; i++)
		at += (size_t)snprintf(names + at, sizeof(names) - at, " %s",
		                       req->names[i]);
	dlog_say(d, TP_LOG_INFO, "%s%s%s%s requested by uid %u pid %d", cmd,
	         req->arg && req->arg[0] ? " " : "", req->arg ? req->arg : "",
	         names, p->uid, p->pid);
}

void ctl_handle(struct daemon *d, const Troupe__SupRequest *req,
                Troupe__SupReply *rep, const struct ctl_peer *peer)
{
	const char *cmd = req->command ? req->command : "";
	audit(d, cmd, req, peer);
	if (strcmp(cmd, "status") == 0) {
		/* top asks for actor counters too (arg "stats"). */
		status(d, req, rep,
		       req->arg != NULL && strcmp(req->arg, "stats") == 0);
	} else if (!strcmp(cmd, "start") || !strcmp(cmd, "stop") ||
	           !strcmp(cmd, "restart") || !strcmp(cmd, "signal")) {
		act(d, req, rep);
	} else if (strcmp(cmd, "logs") == 0) {
		logs(d, req, rep);
	} else if (strcmp(cmd, "reload") == 0) {
		char msg[512];
		pthread_mutex_lock(&d->mu);
		int rv = daemon_reload(d, req->names, req->n_names, msg,
		                       sizeof(msg));
		pthread_mutex_unlock(&d->mu);
		ctl_say(rep, rv, "%s", msg);
	} else if (strcmp(cmd, "reread") == 0 || strcmp(cmd, "avail") == 0) {
		pthread_mutex_lock(&d->mu);
		ctl_config_cmd(d, cmd, rep);
		pthread_mutex_unlock(&d->mu);
	} else if (strcmp(cmd, "clear") == 0) {
		ctl_clear(d, req, rep);
	} else if (strcmp(cmd, "log-stop") == 0) {
		/* Not a CLI command: lets tests kill the logging actor to
		 * see its supervisor restart it. */
		int rv = dlog_kill_actor(d);
		ctl_say(rep, rv, "logging actor killed: %s", tp_strerror(rv));
	} else if (strcmp(cmd, "shutdown") == 0) {
		ctl_say(rep, TP_OK, "shutting down");
		rep->daemon_pid = getpid(); /* the CLI waits for it to go */
		/* The worker raises SIGTERM once the reply is sent. */
		__atomic_store_n(&ctl_shutdown_requested, 1, __ATOMIC_RELAXED);
	} else {
		ctl_say(rep, TP_EINVAL, "unknown command '%s'", cmd);
	}
}
