/*
 * ctl_status.c - every program's control socket: tp_init opens
 * "<run dir>/ctl.sock" (mode 0600, peers of another uid refused) with the
 * same server and protocol as the troupe daemon (rt/ctlsrv.c), so
 * `troupe ps` and `troupe status|tree -p PID` can look into any troupe
 * program of the user. It costs one thread blocked in poll(); requests
 * are served on that thread, and nothing here is on any task's path.
 *
 * `status` (and the CLI's `tree`) lists, as SupChild nodes under the
 * program: its Processes (type "process", command = the target; a
 * manager's server is type "manager"), each pool (type "pool", msgs_in =
 * tasks completed, msgs_out = submitted) with its workers below it (type
 * "worker", msgs_in = tasks done, restarts), and each logging actor this
 * process runs (type "logging", msgs_in = records written, msgs_out =
 * records reported lost). Other commands get TP_EINVAL: a program's
 * children are not yet stopped or restarted from the CLI.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "ctl_status.h"
#include "internal.h"
#include "log_int.h"
#include "pool_int.h"
#include "process_int.h"
#include "runtime_int.h"
#include "troupe/error.h"

static struct tp__ctlsrv *srv;
static int64_t started_ms;

struct nodes {
	Troupe__SupChild **v;
	size_t n, cap;
	int npool;
};

static Troupe__SupChild *node(struct nodes *ns, const char *name,
                              const char *parent, const char *type)
{
	if (ns->n == ns->cap) {
		size_t cap = ns->cap ? ns->cap * 2 : 16;
		Troupe__SupChild **v = realloc(ns->v, cap * sizeof(*v));
		if (v == NULL)
			return NULL;
		ns->v = v;
		ns->cap = cap;
	}
	Troupe__SupChild *c = malloc(sizeof(*c));
	if (c == NULL)
		return NULL;
	troupe__sup_child__init(c);
	c->name = strdup(name);
	c->parent = strdup(parent);
	c->type = strdup(type);
	c->state = strdup("running");
	c->depth = parent[0] != '\0';
	c->msgs_in = c->msgs_out = -1;
	if (!c->name || !c->parent || !c->type || !c->state) {
		free(c->name);
		free(c->parent);
		free(c->type);
		free(c->state);
		free(c);
		return NULL;
	}
	ns->v[ns->n++] = c;
	return c;
}

static void set_str(char **field, const char *v)
{
	char *s = strdup(v);
	if (s == NULL)
		return;
	if (*field != protobuf_c_empty_string)
		free(*field);
	*field = s;
}

static void add_process(void *arg, const tp_process *p)
{
	if (strcmp(p->target, "tp__pool_worker") == 0 ||
	    strcmp(p->target, "tp__svc_log_actor") == 0)
		return; /* listed under its pool, as "logging" */
	int mgr = strcmp(p->target, "tp__mgr_main") == 0;
	Troupe__SupChild *c =
	    node(arg, p->name, "", mgr ? "manager" : "process");
	if (c == NULL)
		return;
	c->pid = p->pid;
	set_str(&c->command, p->target);
	if (p->state == PROC_EXITED)
		set_str(&c->state, "stopped");
	else if (p->state == PROC_NEW)
		set_str(&c->state, "new");
}

static void add_pool(void *arg, tp_pool *pool)
{
	struct nodes *ns = arg;
	tp_pool_stats st;
	tp_pool_worker_stats w[256];
	char name[32];
	snprintf(name, sizeof(name), "pool-%d", ++ns->npool);
	int n = tp_pool_stats_get(pool, &st, w, 256);
	Troupe__SupChild *c = node(ns, name, "", "pool");
	if (c == NULL || n < 0)
		return;
	c->pid = getpid();
	c->msgs_in = (int64_t)st.completed;
	c->msgs_out = (int64_t)st.submitted;
	for (int i = 0; i < n; i++) {
		Troupe__SupChild *k = node(ns, w[i].name, name, "worker");
		if (k == NULL)
			return;
		k->pid = w[i].pid;
		k->restarts = (uint32_t)w[i].restarts;
		k->msgs_in = (int64_t)w[i].tasks_done;
		k->msgs_out = (int64_t)w[i].inflight;
		if (w[i].pid == 0)
			set_str(&k->state, "starting");
	}
}

static void add_log_actor(void *arg, tp_log_actor *a)
{
	tp_log_actor_stats st;
	Troupe__SupChild *c = node(arg, "logging", "", "logging");
	if (c == NULL)
		return;
	c->pid = tp_log_actor_pid(a);
	if (tp_log_actor_stats_get(a, &st) == TP_OK) {
		c->msgs_in = (int64_t)st.records;
		c->msgs_out = (int64_t)st.lost;
		c->restarts = (uint32_t)st.restarts;
	}
	if (!tp_log_actor_alive(a))
		set_str(&c->state, "stopped");
}

static void reply_free(Troupe__SupReply *rep)
{
	for (size_t i = 0; i < rep->n_children; i++) {
		Troupe__SupChild *c = rep->children[i];
		free(c->name);
		free(c->parent);
		free(c->type);
		free(c->state);
		if (c->command != protobuf_c_empty_string)
			free(c->command);
		free(c);
	}
	free(rep->children);
	rep->children = NULL;
	rep->n_children = 0;
	if (rep->message != NULL && rep->message != protobuf_c_empty_string)
		free(rep->message);
	rep->message = NULL;
}

static void handle(void *arg, const Troupe__SupRequest *req,
                   Troupe__SupReply *rep, const struct tp__ctl_peer *peer)
{
	struct nodes ns = {0};
	(void)arg;
	(void)peer;
	if (strcmp(req->command, "status") != 0) {
		rep->code = TP_EINVAL;
		rep->message = strdup("not served by a program's control "
		                      "socket (only status and tree)\n");
		return;
	}
	tp__process_each(add_process, &ns);
	tp__pool_each(add_pool, &ns);
	tp__log_actor_each(add_log_actor, &ns);
	for (size_t i = 0; i < ns.n; i++)
		ns.v[i]->uptime_ms = tp__now_ms() - started_ms;
	rep->children = ns.v;
	rep->n_children = ns.n;
	rep->daemon_pid = getpid();
}

int tp__ctl_status_start(void)
{
	char path[sizeof(tp__rt.dir) + 16];
	struct tp__ctlsrv_ops ops = {.handle = handle,
	                             .reply_free = reply_free,
	                             .workers = 0,
	                             .sender = "troupe-program",
	                             .denied = "permission denied: not the "
	                                       "program's user\n"};
	if (srv != NULL || !tp__rt.owner)
		return TP_OK;
	started_ms = tp__now_ms();
	snprintf(path, sizeof(path), "%s/ctl.sock", tp__rt.dir);
	return tp__ctlsrv_start(&srv, path, &ops);
}

void tp__ctl_status_stop(void)
{
	tp__ctlsrv_stop(srv);
	srv = NULL;
}
