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

void ctl_reply_free_children(Troupe__SupReply *rep)
{
	for (size_t i = 0; i < rep->n_children; i++) {
		Troupe__SupChild *c = rep->children[i];
		free(c->name);
		free(c->parent);
		free(c->log_path);
		free(c->command);
		free(c);
	}
}

void ctl_reply_free(Troupe__SupReply *rep)
{
	ctl_reply_free_children(rep);
	free(rep->children);
	if (rep->message != NULL && rep->message[0] != '\0')
		free(rep->message);
	if (rep->log_file != NULL && rep->log_file[0] != '\0')
		free(rep->log_file);
}

static const char *command_of(struct daemon *d, const char *name)
{
	struct cfg_prog *p = cfg_prog(d->cfg, name);
	return p ? p->command : "";
}

static int add_child(Troupe__SupReply *rep, size_t *cap)
{
	if (rep->n_children == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		void *v = realloc(rep->children, *cap * sizeof(void *));
		if (v == NULL)
			return 0;
		rep->children = v;
	}
	Troupe__SupChild *c = malloc(sizeof(*c));
	if (c == NULL)
		return 0;
	troupe__sup_child__init(c);
	rep->children[rep->n_children++] = c;
	return 1;
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

static void flatten(struct daemon *d, tp_sup *s, int depth,
                    Troupe__SupReply *rep, size_t *cap, int64_t now, int stats)
{
	tp_child_info *v;
	int n;
	if (tp_sup_which_children(s, &v, &n) != TP_OK)
		return;
	for (int i = 0; i < n; i++) {
		if (!add_child(rep, cap))
			break;
		Troupe__SupChild *c = rep->children[rep->n_children - 1];
		tp_sup *sub = v[i].nested ? tp_sup_child_sup(s, v[i].id) : NULL;
		c->name = strdup(v[i].id);
		c->parent = strdup(tp_sup_id(s));
		c->depth = depth;
		c->pid = v[i].pid;
		c->state = (char *)tp_child_state_name(v[i].state);
		c->type = v[i].type == TP_SUPERVISOR ? "supervisor" : "worker";
		c->restart = (char *)tp_restart_name(v[i].restart);
		c->restarts = v[i].restarts;
		c->last_exit = v[i].last_exit;
		c->log_path =
		    strdup(v[i].log_path[0] || v[i].nested || !d->log_actor
		               ? v[i].log_path
		               : d->log_path);
		c->command = strdup(command_of(d, v[i].id));
		if (v[i].state == TP_CHILD_RUNNING)
			c->uptime_ms = now - v[i].started_ms;
		if (sub != NULL)
			c->strategy =
			    (char *)tp_strategy_name(tp_sup_strategy(sub));
		if (v[i].pid > 0)
			tp__ctl_proc_stats(v[i].pid, c);
		c->msgs_in = c->msgs_out = -1;
		if (stats)
			actor_stats(d, v[i].id, c);
		if (sub != NULL)
			flatten(d, sub, depth + 1, rep, cap, now, stats);
	}
	free(v);
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void status(struct daemon *d, Troupe__SupReply *rep, int stats)
{
	size_t cap = 0;
	flatten(d, d->root, 0, rep, &cap, mono_ms(), stats);
	rep->strategy = (char *)tp_strategy_name(tp_sup_strategy(d->root));
	rep->daemon_pid = getpid();
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
	size_t cap = 0;
	Troupe__SupReply all = TROUPE__SUP_REPLY__INIT;
	if (ctl_resolve(d, req->names, req->n_names, CTL_PROCS, &t, rep) !=
	    TP_OK) {
		ctl_targets_free(&t);
		return;
	}
	flatten(d, d->root, 0, &all, &cap, 0, 0);
	for (size_t k = 0; k < all.n_children; k++) {
		const Troupe__SupChild *c = all.children[k];
		if (!ctl_targets_has(&t, c->name))
			continue;
		/* A program with its own `log =` file is not captured: "p"
		 * (plain file), else "r" (records in the actor's file). */
		int own = d->log_actor == NULL ||
		          strcmp(c->log_path, d->log_path) != 0;
		if (c->log_path[0] == '\0')
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
		status(d, rep,
		       req->arg != NULL && strcmp(req->arg, "stats") == 0);
		if (req->n_names > 0)
			tp__ctl_status_filter(d->root, req, rep,
			                      ctl_reply_free_children);
	} else if (!strcmp(cmd, "start") || !strcmp(cmd, "stop") ||
	           !strcmp(cmd, "restart") || !strcmp(cmd, "signal")) {
		act(d, req, rep);
	} else if (strcmp(cmd, "logs") == 0) {
		logs(d, req, rep);
	} else if (strcmp(cmd, "reload") == 0) {
		char msg[512];
		pthread_mutex_lock(&d->mu);
		int rv = daemon_reload(d, msg, sizeof(msg));
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
