/*
 * metrics_pool.c - the pools of the daemon's programs in its metrics
 * (issue 17): a program that is itself a troupe program has its own
 * control socket (its run directory, found as `troupe -p PID` finds it,
 * ps.c), whose `status` shows each pool (type "pool": tasks completed,
 * submitted) with its workers (type "worker" under it: tasks done, the
 * task it runs, restarts). Each is asked once per scrape, 1 s at most; a
 * program that is not a troupe program, or another user's, has no pool
 * series. Labels: program, group (as the daemon's other series), pool
 * (its supervisor's id, pool-N) and, per worker, worker.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"
#include "ctl_int.h"

#define POOL_ASK_MS 1000

static const struct {
	const char *name, *type, *help;
} fams[] = {
    {"troupe_pool_workers", "gauge", "Worker processes of the pool."},
    {"troupe_pool_workers_busy", "gauge",
     "Workers of the pool running a task now."},
    {"troupe_pool_tasks_submitted_total", "counter",
     "Tasks submitted to the pool."},
    {"troupe_pool_tasks_completed_total", "counter",
     "Tasks of the pool that completed."},
    {"troupe_pool_worker_tasks_total", "counter",
     "Tasks done by the worker slot, over every run of it."},
    {"troupe_pool_worker_restarts_total", "counter",
     "Replacements of the worker (death or recycling)."},
};

enum { F_WORKERS, F_BUSY, F_SUBMITTED, F_COMPLETED, F_WTASKS, F_WRESTARTS };

/* The status of program pid, or NULL when it has no control socket. */
static Troupe__Envelope *ask(int pid)
{
	Troupe__SupRequest req = TROUPE__SUP_REQUEST__INIT;
	Troupe__Envelope *env = NULL;
	char sock[700];
	req.command = "status";
	if (pid <= 0 || cli_program_socket_find(pid, sock, sizeof(sock)) != 0 ||
	    ctl_call(sock, &req, &env, POOL_ASK_MS) != TP_OK)
		return NULL;
	if (env->sup_reply == NULL || env->sup_reply->code != TP_OK) {
		tp__envelope_free(env);
		return NULL;
	}
	return env;
}

/* The value of family f for pool node k of r (and its workers). */
static void pool_lines(char **b, size_t *len, size_t *cap, int f,
                       const struct mprog *p, const Troupe__SupReply *r,
                       size_t k)
{
	const Troupe__SupChild *pool = r->children[k];
	long long workers = 0, busy = 0;
	for (size_t j = k + 1; j < r->n_children; j++) {
		const Troupe__SupChild *w = r->children[j];
		if (w->depth <= pool->depth)
			break;
		if (w->depth != pool->depth + 1 || strcmp(w->type, "worker"))
			continue;
		workers++;
		busy += w->task != NULL && w->task[0];
		if (f == F_WTASKS || f == F_WRESTARTS)
			metrics_append(
			    b, len, cap,
			    "%s{program=\"%s\",group=\"%s\",pool=\"%s\","
			    "worker=\"%s\"} %lld\n",
			    fams[f].name, p->name, p->group, pool->name,
			    w->name,
			    f == F_WTASKS ? (long long)w->msgs_in
			                  : (long long)w->restarts);
	}
	long long v = f == F_WORKERS     ? workers
	              : f == F_BUSY      ? busy
	              : f == F_SUBMITTED ? (long long)pool->msgs_out
	                                 : (long long)pool->msgs_in;
	if (f <= F_COMPLETED)
		metrics_append(b, len, cap,
		               "%s{program=\"%s\",group=\"%s\",pool=\"%s\"} "
		               "%lld\n",
		               fams[f].name, p->name, p->group, pool->name, v);
}

void metrics_pools(char **b, size_t *len, size_t *cap, const struct mprog *p,
                   int n)
{
	Troupe__Envelope **st = calloc((size_t)n + 1, sizeof(*st));
	int any = 0;
	if (st == NULL)
		return;
	for (int i = 0; i < n; i++) {
		st[i] = ask(p[i].pid);
		for (size_t k = 0; st[i] && k < st[i]->sup_reply->n_children;
		     k++)
			any |= strcmp(st[i]->sup_reply->children[k]->type,
			              "pool") == 0;
	}
	for (size_t f = 0; any && f < sizeof(fams) / sizeof(fams[0]); f++) {
		metrics_family(b, len, cap, fams[f].name, fams[f].type,
		               fams[f].help);
		for (int i = 0; i < n; i++) {
			const Troupe__SupReply *r =
			    st[i] ? st[i]->sup_reply : NULL;
			for (size_t k = 0; r != NULL && k < r->n_children; k++)
				if (strcmp(r->children[k]->type, "pool") == 0)
					pool_lines(b, len, cap, (int)f, &p[i],
					           r, k);
		}
	}
	for (int i = 0; i < n; i++)
		tp__envelope_free(st[i]);
	free(st);
}
