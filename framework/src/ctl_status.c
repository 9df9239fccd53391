/*
 * ctl_status.c - every program's control socket: tp_init opens
 * "<run dir>/ctl.sock" (a program that joined another's run, as the
 * command lines a supervisor starts do: "<that run dir>/ctl-PID.START.sock")
 * (mode 0600, peers of another uid refused) with the
 * same server and protocol as the troupe daemon (rt/ctlsrv.c), so
 * `troupe ps` and `troupe status|tree|top|start|stop|restart|signal -p
 * PID` work on any troupe program of the user as on the daemon. It costs
 * one thread running the server's reactor; requests are served on that
 * thread (stop, restart and start queue their operations on the tree and
 * are answered when they are done, ctl_act.c), and nothing here is on
 * any task's path.
 *
 * `status` is the program's root supervisor (tp_sup_root) flattened as
 * the daemon's tree is: its children in start order, nested supervisors
 * with theirs below them. The Processes the program started are
 * monitored children of the root (type "process", command = the target;
 * a manager's server is type "manager"); a user's own children and
 * subtrees show with their types. Each pool is a nested supervisor of the
 * root ("pool-N", docs/pool.md), shown as type "pool" (msgs_in = tasks
 * completed, msgs_out = submitted) with its workers below it (type
 * "worker", msgs_in = tasks done, msgs_out = in flight, restarts counting
 * recycles too, task = the registered function of the task it runs now,
 * task_ms = for how long, task_item = its first item); a manager's
 * server shows its objects and clients, asked of it with a bounded
 * request (mgr.c, tp__mgr_stats). Then what the program runs outside the tree:
 * each logging actor this process runs (type "logging", msgs_in = records
 * written, msgs_out = records reported lost). start, stop, restart and signal
 * act on the root's tree (ctl_act.c) with the daemon's names.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "ctl_status.h"
#include "internal.h"
#include "log_int.h"
#include "mgr_int.h"
#include "pool_int.h"
#include "process_int.h"
#include "sup_int.h"
#include "runtime_int.h"
#include "troupe/error.h"

static struct tp__ctlsrv *srv;
static int64_t started_ms;

struct nodes {
	Troupe__SupChild **v;
	size_t n, cap;
};

/* The pool whose supervisor is the nested child sup_id, if any: its
 * figures, taken while the pool is known alive (tp__pool_each). */
struct pool_view {
	const char *sup_id;
	int found, n;
	tp_pool_stats st;
	tp_pool_worker_stats w[256];
};

static Troupe__SupChild *node(struct nodes *ns, const char *name,
                              const char *parent, const char *type, int depth)
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
	c->depth = depth;
	c->msgs_in = c->msgs_out = -1;
	c->objects = c->clients = -1;
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

static const char *type_of(const tp_child_info *ci, int proc, const char *cmd)
{
	if (ci->nested)
		return "supervisor";
	if (strcmp(cmd, "tp__mgr_main") == 0)
		return "manager"; /* a target child of the root (mgr.c) */
	if (proc)
		return "process";
	return ci->type == TP_SUPERVISOR ? "supervisor" : "worker";
}

static void pool_look(void *arg, tp_pool *pool)
{
	struct pool_view *pv = arg;
	if (pv->found || strcmp(pool->sup_id, pv->sup_id) != 0)
		return;
	pv->n = tp_pool_stats_get(pool, &pv->st, pv->w, 256);
	pv->found = pv->n >= 0;
}

/* A worker of pool pv (by its child id): the pool's figures. */
static void pool_worker(const struct pool_view *pv, Troupe__SupChild *c)
{
	for (int i = 0; pv != NULL && i < pv->n; i++)
		if (strcmp(pv->w[i].name, c->name) == 0) {
			set_str(&c->type, "worker");
			c->restarts = (uint32_t)pv->w[i].restarts;
			c->msgs_in = (int64_t)pv->w[i].tasks_done;
			c->msgs_out = (int64_t)pv->w[i].inflight;
			set_str(&c->task, pv->w[i].task);
			c->task_ms = pv->w[i].task_ms;
			c->task_item = (int64_t)pv->w[i].task_item;
		}
}

/* A manager's server: its objects and clients, asked of it (bounded). */
static void manager_figures(Troupe__SupChild *c)
{
	int64_t objects, clients;
	if (tp__mgr_stats(c->name, &objects, &clients) == TP_OK) {
		c->objects = objects;
		c->clients = clients;
	}
}

/* s's children, depth first, as the daemon flattens its tree; pv: the
 * pool s supervises, if it is one. */
static void flatten(struct nodes *ns, tp_sup *s, int depth, int64_t now,
                    const struct pool_view *pv,
                    const struct tp__ctl_decor *decor)
{
	tp_child_info *v;
	char cmd[256];
	int n;
	if (tp_sup_which_children(s, &v, &n) != TP_OK)
		return;
	for (int i = 0; i < n; i++) {
		int proc = tp__sup_is_process(s, v[i].id, cmd, sizeof(cmd));
		if (strncmp(cmd, "tp__svc_", 8) == 0)
			continue; /* listed as "logging", with its counters */
		struct pool_view *sub_pv = NULL;
		if (v[i].nested && (sub_pv = calloc(1, sizeof(*sub_pv)))) {
			sub_pv->sup_id = v[i].id;
			tp__pool_each(pool_look, sub_pv);
			if (!sub_pv->found) {
				free(sub_pv);
				sub_pv = NULL;
			}
		}
		Troupe__SupChild *c =
		    node(ns, v[i].id, tp_sup_id(s),
		         sub_pv ? "pool" : type_of(&v[i], proc, cmd), depth);
		if (c == NULL) {
			free(sub_pv);
			break;
		}
		tp_sup *sub = v[i].nested ? tp_sup_child_sup(s, v[i].id) : NULL;
		c->pid = v[i].pid;
		set_str(&c->state, tp_child_state_name(v[i].state));
		set_str(&c->restart, tp_restart_name(v[i].restart));
		set_str(&c->command, cmd);
		c->restarts = v[i].restarts;
		c->last_exit = v[i].last_exit;
		if (v[i].state == TP_CHILD_RUNNING)
			c->uptime_ms = now - v[i].started_ms;
		if (v[i].pid > 0)
			tp__ctl_proc_stats(v[i].pid, c);
		pool_worker(pv, c);
		if (strcmp(c->type, "manager") == 0 && v[i].pid > 0)
			manager_figures(c);
		if (sub_pv != NULL) { /* the pool runs in this process */
			c->pid = getpid();
			c->msgs_in = (int64_t)sub_pv->st.completed;
			c->msgs_out = (int64_t)sub_pv->st.submitted;
		}
		if (decor != NULL && decor->node != NULL)
			decor->node(decor->arg, c, &v[i]);
		if (sub != NULL) {
			set_str(&c->strategy,
			        tp_strategy_name(tp_sup_strategy(sub)));
			flatten(ns, sub, depth + 1, now, sub_pv, decor);
		}
		free(sub_pv);
	}
	free(v);
}

static void add_log_actor(void *arg, tp_log_actor *a)
{
	tp_log_actor_stats st;
	Troupe__SupChild *c = node(arg, "logging", "", "logging", 0);
	if (c == NULL)
		return;
	c->pid = tp_log_actor_pid(a);
	set_str(&c->restart, tp_restart_name(TP_PERMANENT));
	if (tp_log_actor_stats_get(a, &st) == TP_OK) {
		c->msgs_in = (int64_t)st.records;
		c->msgs_out = (int64_t)st.lost;
		c->restarts = (uint32_t)st.restarts;
	}
	if (!tp_log_actor_alive(a))
		set_str(&c->state, "stopped");
}

static void free_str(char *s)
{
	if (s != NULL && s != protobuf_c_empty_string)
		free(s);
}

void tp__ctl_set_str(char **field, const char *v)
{
	set_str(field, v);
}

static void children_free(Troupe__SupReply *rep)
{
	for (size_t i = 0; i < rep->n_children; i++) {
		Troupe__SupChild *c = rep->children[i];
		free_str(c->name);
		free_str(c->parent);
		free_str(c->type);
		free_str(c->state);
		free_str(c->command);
		free_str(c->restart);
		free_str(c->strategy);
		free_str(c->log_path);
		free_str(c->task);
		free(c);
	}
}

void tp__ctl_reply_free(Troupe__SupReply *rep)
{
	children_free(rep);
	free(rep->children);
	rep->children = NULL;
	rep->n_children = 0;
	free_str(rep->message);
	rep->message = NULL;
	free_str(rep->log_file);
	rep->log_file = NULL;
}

int tp__ctl_is_service(tp_sup *s, const char *id)
{
	char cmd[64];
	tp__sup_is_process(s, id, cmd, sizeof(cmd));
	return strncmp(cmd, "tp__svc_", 8) == 0;
}

void tp__ctl_status_fill(tp_sup *root, const Troupe__SupRequest *req,
                         Troupe__SupReply *rep,
                         const struct tp__ctl_decor *decor)
{
	struct nodes ns = {0};
	int64_t now = tp__now_ms();
	if (root != NULL)
		flatten(&ns, root, 0, now, NULL, decor);
	size_t tree = ns.n;
	tp__log_actor_each(add_log_actor, &ns);
	for (size_t i = tree; i < ns.n; i++)
		ns.v[i]->uptime_ms = now - started_ms;
	rep->children = ns.v;
	rep->n_children = ns.n;
	rep->daemon_pid = getpid();
	rep->strategy = (char *)tp_strategy_name(tp_sup_strategy(root));
	if (root != NULL && req->n_names > 0)
		tp__ctl_status_filter(root, req, rep, children_free);
}

static void handle(void *arg, const Troupe__SupRequest *req,
                   Troupe__SupReply *rep, const struct tp__ctl_peer *peer)
{
	const char *cmd = req->command ? req->command : "";
	tp_sup *root = tp_sup_root();
	(void)arg;
	(void)peer;
	if (strcmp(cmd, "status") == 0) {
		tp__ctl_status_fill(root, req, rep, NULL);
	} else if (root != NULL &&
	           (!strcmp(cmd, "start") || !strcmp(cmd, "stop") ||
	            !strcmp(cmd, "restart") || !strcmp(cmd, "signal"))) {
		tp__ctl_act(root, req, rep);
	} else {
		tp__ctl_say(rep, TP_EINVAL,
		            "'%s' is not served by a program's control socket "
		            "(status, tree, top, start, stop, restart, signal)",
		            cmd);
	}
}

static void later_reply(void *arg, Troupe__SupReply *rep)
{
	tp__ctlsrv_reply_later(arg, rep);
}

/* stop, restart and start: the reply comes when the children are done,
 * and other peers are served meanwhile (ctl_act.c). */
static int take(void *arg, const Troupe__SupRequest *req,
                const struct tp__ctl_peer *peer, struct tp__ctl_later *later)
{
	(void)arg;
	(void)peer;
	return tp__ctl_act_later(tp_sup_root(), req, later_reply, later);
}

int tp__ctl_status_start(void)
{
	char path[sizeof(tp__rt.dir) + 48];
	struct tp__ctlsrv_ops ops = {.handle = handle,
	                             .take = take,
	                             .reply_free = tp__ctl_reply_free,
	                             .workers = 0,
	                             .sender = "troupe-program",
	                             .denied = "permission denied: not the "
	                                       "program's user\n"};
	unsigned long long start = 0;
	if (srv != NULL)
		return TP_OK;
	started_ms = tp__now_ms();
	/* A program that joined another's run (a command line a supervisor
	 * started: the daemon's programs) is a program too: its socket is
	 * named by its pid and start time in that run's directory. */
	if (tp__rt.owner)
		snprintf(path, sizeof(path), "%s/ctl.sock", tp__rt.dir);
	else if (tp__proc_starttime(getpid(), &start) == TP_OK)
		snprintf(path, sizeof(path), "%s/ctl-%d.%llu.sock", tp__rt.dir,
		         (int)getpid(), start);
	else
		return TP_OK;
	int rv = tp__ctlsrv_start(&srv, path, &ops);
	/* Joined: a socket path too long for the run's directory (or any
	 * other failure) leaves the program without one, never unstarted. */
	return tp__rt.owner ? rv : TP_OK;
}

void tp__ctl_status_stop(void)
{
	tp__ctlsrv_stop(srv);
	srv = NULL;
}
