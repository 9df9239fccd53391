/*
 * pool_sup.c - the pool is a supervisor policy (issue #14).
 *
 * Each pool owns a simple_one_for_one supervisor, child "pool-N" of the
 * program's root supervisor (tp_sup_root), whose template is the worker
 * target (tp__pool_worker): its children are the pool's workers, one per
 * slot, named after the slot for the pool's life. The supervisor core
 * starts every run of a worker (through the process layer: forkserver,
 * spawn or fork), watches it by pidfd, reaps it, publishes its exit event
 * (what any tp_monitor of the pid receives) and restarts it after an
 * abnormal exit (TP_TRANSIENT); its restart intensity is the pool's "give
 * up" rule. A worker retired after maxtasksperchild tasks exits normally
 * and the pool asks the supervisor to start it again (a recycling rule:
 * not counted as a restart). The scheduling policy and the data path stay
 * on the pool thread: the supervisor's observer only queues the event and
 * wakes the pool's eventfd, so no task takes an extra hop.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>

#include "pool_int.h"
#include "runtime_int.h"
#include "troupe/error.h"

/* The default restart intensity (tp_pool_opts.max_restarts): the
 * supervisor gives up (and the pool fails its pending work with TP_EDIED)
 * when workers die more than POOL_RESTARTS x (processes + 1) times within
 * POOL_PERIOD_MS; a kill storm is survived, a crash loop is not. */
#define POOL_RESTARTS  30
#define POOL_PERIOD_MS 5000
#define POOL_SHUTDOWN  1000 /* ms between SIGTERM and SIGKILL */

static void on_event(void *arg, const tp_sup_event *ev)
{
	struct tp_pool *pool = arg;
	struct pool_ev e = {.kind = ev->kind,
	                    .slot = -1,
	                    .pid = ev->pid,
	                    .code = ev->exit_code};
	if (ev->kind != TP_EV_STARTED && ev->kind != TP_EV_EXITED &&
	    ev->kind != TP_EV_ESCALATE && ev->kind != TP_EV_START_FAILED)
		return;
	if (strcmp(ev->sup_id, pool->sup_id) != 0)
		return;
	for (int i = 0; i < pool->n && ev->kind != TP_EV_ESCALATE; i++)
		if (strcmp(pool->w[i].name, ev->id) == 0)
			e.slot = i;
	if (e.slot < 0 && ev->kind != TP_EV_ESCALATE)
		return;
	pthread_mutex_lock(&pool->evmu);
	if (pool->nev == pool->evcap) {
		size_t cap = pool->evcap ? 2 * pool->evcap : 16;
		struct pool_ev *v = realloc(pool->evq, cap * sizeof(*v));
		if (v == NULL) {
			pthread_mutex_unlock(&pool->evmu);
			abort(); /* a lost exit would hang the pool's callers */
		}
		pool->evq = v;
		pool->evcap = cap;
	}
	pool->evq[pool->nev++] = e;
	pthread_mutex_unlock(&pool->evmu);
	tp__pool_kick(pool);
}

struct pool_ev *tp__pool_sup_events(struct tp_pool *pool, size_t *n)
{
	pthread_mutex_lock(&pool->evmu);
	struct pool_ev *v = pool->evq;
	*n = pool->nev;
	pool->evq = NULL;
	pool->nev = pool->evcap = 0;
	pthread_mutex_unlock(&pool->evmu);
	return v;
}

int tp__pool_sup_new(struct tp_pool *pool)
{
	static atomic_uint seq;
	tp_sup_flags f = TP_SUP_FLAGS_INIT;
	tp_child_spec t = TP_CHILD_SPEC_INIT;
	int rv;
	if ((pool->root = tp_sup_root()) == NULL)
		return TP_ENOTINIT;
	snprintf(pool->sup_id, sizeof(pool->sup_id), "pool-%u",
	         atomic_fetch_add(&seq, 1) + 1);
	f.strategy = TP_SIMPLE_ONE_FOR_ONE;
	if (pool->sup_intensity == 0)
		pool->sup_intensity = POOL_RESTARTS * (pool->n + 1);
	if (pool->sup_period_ms == 0)
		pool->sup_period_ms = POOL_PERIOD_MS;
	f.intensity = pool->sup_intensity;
	f.period_ms = pool->sup_period_ms;
	f.on_event = on_event;
	f.on_event_arg = pool;
	rv = tp_sup_add_sup(pool->root, pool->sup_id, &f, TP_TEMPORARY,
	                    &pool->sup);
	if (rv != TP_OK)
		return rv;
	t.id = "worker";
	t.target = tp__pool_worker_target(pool); /* its worker kind */
	t.method = pool->method;
	t.restart = TP_TRANSIENT;
	t.shutdown_ms = POOL_SHUTDOWN;
	if ((rv = tp_sup_add_child(pool->sup, &t)) == TP_OK)
		rv = tp_sup_restart_child(pool->root, pool->sup_id);
	if (rv != TP_OK)
		tp__pool_sup_free(pool);
	return rv;
}

/* A worker's arguments: its address (before "-<pid>"), name, the slots
 * file, its slot, the initializer, its arguments and max_msg. */
static int worker_args(struct tp_pool *pool, struct pool_worker *w,
                       tp_payload **out)
{
	tp_payload *a;
	int rv = tp_payload_new(&a);
	if (rv == TP_OK)
		rv = tp_payload_add_string(a, pool->addr);
	if (rv == TP_OK)
		rv = tp_payload_add_string(a, w->name);
	if (rv == TP_OK)
		rv = tp_payload_add_string(a, pool->shm_name);
	if (rv == TP_OK)
		rv = tp_payload_add_int(a, w->slot);
	if (rv == TP_OK)
		rv = tp_payload_add_string(a, pool->init_name ? pool->init_name
		                                              : "");
	if (rv == TP_OK)
		rv = tp_payload_add_bytes(a, pool->init_buf, pool->init_len);
	if (rv == TP_OK)
		rv = tp_payload_add_int(a, (int64_t)pool->max_msg);
	if (rv != TP_OK)
		tp_payload_free(a);
	else
		*out = a;
	return rv;
}

int tp__pool_sup_start(struct tp_pool *pool, struct pool_worker *w)
{
	tp_child_spec s = TP_CHILD_SPEC_INIT;
	tp_payload *args = NULL;
	int rv = worker_args(pool, w, &args);
	if (rv != TP_OK)
		return rv;
	s.id = w->name;
	s.args = args;
	rv = tp_sup_start_child(pool->sup, &s, NULL);
	tp_payload_free(args);
	return rv;
}

int tp__pool_sup_restart(struct tp_pool *pool, struct pool_worker *w)
{
	return tp_sup_restart_child(pool->sup, w->name);
}

void tp__pool_sup_signal(struct tp_pool *pool, struct pool_worker *w, int sig)
{
	if (pool->sup != NULL)
		tp_sup_signal_child(pool->sup, w->name, sig);
}

void tp__pool_sup_stop(struct tp_pool *pool)
{
	if (pool->sup != NULL)
		tp_sup_terminate_child(pool->root, pool->sup_id);
}

void tp__pool_sup_free(struct tp_pool *pool)
{
	if (pool->sup == NULL)
		return;
	tp_sup_terminate_child(pool->root, pool->sup_id);
	tp_sup_delete_child(pool->root, pool->sup_id);
	pool->sup = NULL;
}

int tp__pool_worker_dial(nng_socket s, const char *addr)
{
	char own[300];
	snprintf(own, sizeof(own), "%s-%d", addr, (int)getpid());
	nng_socket_set_ms(s, NNG_OPT_RECONNMINT, 1);
	nng_socket_set_ms(s, NNG_OPT_RECONNMAXT, 20);
	return nng_dial(s, own, NULL, NNG_FLAG_NONBLOCK);
}

static void pipe_gone_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct pool_worker *w = arg;
	(void)p;
	(void)ev;
	atomic_store(&w->pipe_gone, 1);
	tp__pool_kick(w->pool);
}

static int worker_listen(struct pool_worker *w, const char *addr)
{
	int rv;
	tp__nng_used();
	if ((rv = nng_pair1_open(&w->sock)) != 0)
		return tp_err_nng(rv);
	w->sock_open = 1;
	nng_socket_set_size(w->sock, NNG_OPT_RECVMAXSZ, 0);
	nng_socket_set_int(w->sock, NNG_OPT_RECVBUF, 256);
	nng_socket_set_int(w->sock, NNG_OPT_SENDBUF, 256);
	nng_pipe_notify(w->sock, NNG_PIPE_EV_REM_POST, pipe_gone_cb, w);
	if ((rv = nng_listen(w->sock, addr, NULL, 0)) != 0 ||
	    (rv = nng_socket_get_int(w->sock, NNG_OPT_RECVFD, &w->recvfd)) != 0)
		return tp_err_nng(rv);
	return TP_OK;
}

int tp__pool_worker_attach(struct tp_pool *pool, struct pool_worker *w,
                           pid_t pid)
{
	char addr[300];
	int rv;
	w->pool = pool;
	w->pid = pid;
	w->ready = w->retiring = w->stopping = w->exited = 0;
	w->inflight = w->inflight_bytes = 0;
	w->sent = 0;
	w->avg_ns = 0;
	w->killed_for = 0;
	w->held = w->held_tail = NULL;
	tp__pool_ring_free(w->ring); /* a ring is one run's */
	w->ring = NULL;
	w->ring_told = 0;
	if (w->runs++ > 0)
		w->restarts++;
	atomic_store(&w->pipe_gone, 0);
	atomic_store(&pool->slots[w->slot].current, 0);
	snprintf(addr, sizeof(addr), "%s-%d", pool->addr, (int)pid);
	if ((rv = worker_listen(w, addr)) == TP_OK) {
		/* A local run's channel for ring notes (pool_fast.c), before
		 * any batch goes: without it, notes go by nng. A backend's
		 * run gets one when its own thread dials it (fast_here). */
		if ((pool->backend == NULL || pool->backend->fast_here) &&
		    (tp__pool_fast_path(pool->addr, pid, w->fast_path,
		                        sizeof(w->fast_path)) != TP_OK ||
		     tp__pool_fast_listen(w->fast_path, &w->fast_lfd) != TP_OK))
			w->fast_lfd = -1;
		return TP_OK;
	}
	if (w->sock_open)
		nng_close(w->sock);
	w->sock_open = 0;
	w->recvfd = -1;
	fprintf(stderr, "troupe: pool worker %s: cannot listen: %s\n", w->name,
	        tp_strerror(rv));
	/* The run cannot reach the pool: its exit lets the supervisor
	 * start another one. */
	tp__pool_sup_signal(pool, w, SIGKILL);
	return rv;
}
