/*
 * pool_loop.c - the pool's scheduler: a set of sources on one reactor
 * (rt/reactor.h), served by the pool's thread.
 *
 * Its sources: each worker run's nng receive fd (results and hellos are
 * read as they come); the doorbell (a wake source) that submissions,
 * close/terminate and the pool's supervisor (pool_sup.c: a worker run
 * started or exited, the supervisor gave up) ring; each worker's send
 * fd, watched only while a send found its pipe full; and timers: the next
 * task deadline (task_timeout_ms), a dead run's grace for its last bytes,
 * and a retry after a failed send. Worker exits come from the supervisor
 * core (proc/watch.c watches every child by pidfd), never from a pidfd of
 * the pool's own.
 *
 * After every round of callbacks (the reactor's round hook) the pool
 * settles dead runs (the shared slot says which task a dead worker was
 * running: it fails with TP_EDIED or is queued again) and dispatches
 * queued tasks: the scheduling policy picks a worker, and the worker gets
 * a batch of as many tasks as its pipeline has room for, so it always has
 * the next task at hand. Callbacks and progress run at the end of the
 * round with no lock held. Nothing here costs a syscall per task: one
 * epoll_wait per round, the doorbell read only when it rang, epoll_ctl
 * only when a run starts or ends or a pipe is full.
 */
#include <errno.h>
#include <signal.h>
#include <sys/epoll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>

#include "clock.h"
#include "payload_int.h"
#include "pool_int.h"
#include "reactor.h"
#include "runtime_int.h"
#include "troupe/error.h"
#include "wire.h"

#define DEPTH_MAX   256
#define DEPTH_NS    2000000.0 /* keep ~2 ms of work queued per worker */
#define DEPTH_BYTES ((size_t)480 << 10) /* a full batch (pool_send.c) */
#define PIPE_GRACE  250 /* ms to wait for a dead worker's last bytes */

struct note {
	struct tp_pool_result *j;
	int became;
};

/* What a round of the loop found: jobs to notify with no lock held. */
struct pool_round {
	struct note *v;
	size_t n, cap;
};

static void note_add(struct pool_round *rd, struct tp_pool_result *j,
                     int became)
{
	if (rd->n == rd->cap) {
		size_t cap = rd->cap ? rd->cap * 2 : 16;
		struct note *v = realloc(rd->v, cap * sizeof(*v));
		if (v == NULL)
			return; /* the job's waiters still wake; no callback */
		rd->v = v;
		rd->cap = cap;
	}
	rd->v[rd->n].j = j;
	rd->v[rd->n++].became = became;
}

void tp__pool_kick(struct tp_pool *pool)
{
	tp__reactor_wake(pool->bell);
}

/* Watches w's send fd until its pipe has room again (a send found it
 * full); a failure to watch it falls back on a 1 ms retry. */
static void watch_send(struct tp_pool *pool, struct pool_worker *w, int rv);

static void job_unlink(struct tp_pool *pool, struct tp_pool_result *j)
{
	if (j->prev != NULL)
		j->prev->next = j->next;
	else if (pool->jobs == j)
		pool->jobs = j->next;
	if (j->next != NULL)
		j->next->prev = j->prev;
	j->prev = j->next = NULL;
}

/* A job became ready: the pool's reference moves to the round's notes. */
static void job_finished(struct tp_pool *pool, struct pool_round *rd,
                         struct tp_pool_result *j, int flags)
{
	if (flags & 1) {
		job_unlink(pool, j);
		note_add(rd, j, 1);
	} else if (flags & 2) {
		tp__pool_job_ref(j);
		note_add(rd, j, 0);
	}
}

void tp__pool_task_free(struct pool_task *t)
{
	tp__pool_job_unref(t->job);
	free(t);
}

static void task_done(struct tp_pool *pool, struct pool_round *rd,
                      struct pool_task *t, const struct pool_outcome *o)
{
	struct tp_pool_result *j = t->job;
	int flags = tp__pool_job_task_done(j, t->index, t->first, t->count, o);
	if (o->rv != TP_OK)
		pool->st.failed++;
	else
		pool->st.completed++;
	job_finished(pool, rd, j, flags);
	tp__pool_task_free(t);
}

/* Task t failed as a whole. */
static void task_fail(struct tp_pool *pool, struct pool_round *rd,
                      struct pool_task *t, int rv, int code, const char *origin,
                      const char *message)
{
	struct pool_outcome o = {
	    .rv = rv, .code = code, .origin = origin, .message = message};
	task_done(pool, rd, t, &o);
}

static void worker_send_stop(struct pool_worker *w)
{
	Troupe__PoolStop st = TROUPE__POOL_STOP__INIT;
	Troupe__Envelope env = TROUPE__ENVELOPE__INIT;
	if (w->stopping || !w->sock_open)
		return;
	env.body_case = TROUPE__ENVELOPE__BODY_POOL_STOP;
	env.pool_stop = &st;
	/* Never blocks the loop; a full pipe is retried when it has room. */
	int rv = tp__pool_send(w->sock, &env, NNG_FLAG_NONBLOCK);
	w->stopping = rv == TP_OK;
	if (rv != TP_OK)
		watch_send(w->pool, w, rv);
}

static void on_hello(struct tp_pool *pool, struct pool_worker *w,
                     const Troupe__PoolHello *h)
{
	if (h->error != NULL) {
		w->broken = 1;
		pool->init_failed = 1;
		fprintf(stderr,
		        "troupe: pool worker %s: initializer failed: "
		        "%s (code %d)\n",
		        w->name, h->error->message, h->error->code);
		worker_send_stop(w);
	} else {
		w->ready = 1;
	}
	pool->hellos++;
	pthread_cond_broadcast(&pool->cv);
}

static struct pool_task *held_take(struct pool_worker *w, uint64_t id)
{
	struct pool_task **pp = &w->held, *prev = NULL;
	while (*pp != NULL && (*pp)->id != id) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	struct pool_task *t = *pp;
	if (t == NULL)
		return NULL;
	*pp = t->next;
	if (w->held_tail == t)
		w->held_tail = prev;
	t->next = NULL;
	w->inflight--;
	w->inflight_bytes -=
	    t->bytes < w->inflight_bytes ? t->bytes : w->inflight_bytes;
	return t;
}

static void on_result(struct tp_pool *pool, struct pool_round *rd,
                      struct pool_worker *w, const Troupe__PoolResult *r,
                      struct tp__blob *batch)
{
	struct pool_task *t = held_take(w, r->id);
	struct pool_outcome o = {0};
	struct tp__vread vr;
	int rv;
	if (t == NULL)
		return; /* not ours (a protocol slip): ignored */
	w->done++;
	w->head_t = tp__now_s(); /* the next task starts now */
	double per_item = (double)r->ns / (double)(t->count ? t->count : 1);
	w->avg_ns =
	    w->avg_ns == 0 ? per_item : 0.8 * w->avg_ns + 0.2 * per_item;
	if (r->error != NULL) {
		int c = r->error->code;
		task_fail(pool, rd, t, c < 0 ? -c : TP_EREMOTE, c < 0 ? -c : c,
		          r->error->origin, r->error->message);
		return;
	}
	if (t->job->kind == POOL_MAPINT) {
		const struct tp_pool_result *j = t->job;
		if (r->in_seg && j->seg_map != NULL) { /* results in place */
			o.ints = j->seg_map + j->n + t->first;
			o.nints = t->count;
		} else {
			o.ints = (const int64_t *)r->ints.data;
			o.nints = r->ints.len / sizeof(int64_t);
		}
		task_done(pool, rd, t, &o);
		return;
	}
	if ((rv = tp__vread_init_at(&vr, r->values, batch)) != TP_OK) {
		task_fail(pool, rd, t, rv, rv, w->name,
		          rv == TP_ENOMEM ? "out of memory reading a result"
		                          : "malformed result from the worker");
		return;
	}
	o.vr = &vr;
	o.ierr = r->item_errors;
	o.nierr = r->n_item_errors;
	task_done(pool, rd, t, &o);
	tp__vread_done(&vr);
}

/* A batch of results, read in place: the values borrow from the message
 * (pool_wire.c); one protobuf-c'd because it failed copies its own. */
static void on_results(struct tp_pool *pool, struct pool_round *rd,
                       struct pool_worker *w, struct tp__pool_in *in)
{
	for (size_t i = 0; i < in->n; i++)
		on_result(pool, rd, w, in->results[i],
		          in->own[i] ? NULL : in->blob);
	tp__pool_in_free(in);
}

/* Closes w's local channel (pool_fast.c): the listener, its path and the
 * connection; notes go by nng again. */
static void fast_close(struct pool_worker *w)
{
	tp__reactor_del(w->lsrc);
	tp__reactor_del(w->fsrc);
	w->lsrc = w->fsrc = NULL;
	if (w->fast_lfd >= 0) {
		close(w->fast_lfd);
		(void)unlink(w->fast_path);
	}
	if (w->fast_fd >= 0)
		close(w->fast_fd);
	w->fast_lfd = w->fast_fd = -1;
}

struct fast_arg {
	struct tp_pool *pool;
	struct pool_round *rd;
	struct pool_worker *w;
};

static void fast_note(const struct tp__pool_note *n, const unsigned char *buf,
                      void *arg)
{
	struct fast_arg *a = arg;
	struct pool_worker *w = a->w;
	struct tp__pool_in in;
	int rv = TP_OK;
	if (n->kind == TP__POOL_NOTE_BYTES) {
		/* the values borrow from a copy of their own */
		unsigned char *c = malloc(n->len);
		if (c != NULL) {
			memcpy(c, buf, n->len);
			rv = tp__pool_results_read_mem(c, n->len, free, c, &in);
		}
		if (c != NULL && rv == TP_OK)
			on_results(a->pool, a->rd, w, &in);
	} else if (n->kind == TP__POOL_NOTE_RESULTS && w->ring != NULL &&
	           tp__pool_ring_results(w->ring, tp__pool_ring_path(w->ring),
	                                 n->slot, n->len, &in) == TP_OK) {
		on_results(a->pool, a->rd, w, &in);
	}
}

/* The notes on w's local channel: results in the run's ring. A note that
 * is not one, or names a slot the worker did not fill, is dropped (as a
 * malformed message is); the channel's end goes with the run. */
static void fast_drain(struct tp_pool *pool, struct pool_round *rd,
                       struct pool_worker *w)
{
	struct fast_arg a = {pool, rd, w};
	if (w->fast_fd >= 0 &&
	    tp__pool_fast_drain(w->fast_fd, pool->fast_buf, TP__POOL_FAST_MAX,
	                        fast_note, &a) == TP_ECLOSED)
		fast_close(w);
}

static void worker_drain(struct tp_pool *pool, struct pool_round *rd,
                         struct pool_worker *w)
{
	nng_msg *m;
	fast_drain(pool, rd, w);
	while (w->sock_open &&
	       nng_recvmsg(w->sock, &m, NNG_FLAG_NONBLOCK) == 0) {
		Troupe__Envelope *env = NULL;
		struct tp__pool_in in;
		int rv = tp__pool_results_read(m, &in);
		if (rv == TP_OK) {
			on_results(pool, rd, w, &in);
			continue;
		}
		if (rv != TP_ENOENT)
			continue; /* malformed: dropped, as before */
		rv = tp__envelope_unpack(nng_msg_body(m), nng_msg_len(m),
		                         (size_t)1 << 30, &env);
		nng_msg_free(m);
		if (rv != TP_OK)
			continue;
		if (env->body_case == TROUPE__ENVELOPE__BODY_POOL_HELLO)
			on_hello(pool, w, env->pool_hello);
		if (env->body_case ==
		        TROUPE__ENVELOPE__BODY_POOL_RESULTS_RING &&
		    tp__pool_ring_results(w->ring, env->pool_results_ring->ring,
		                          env->pool_results_ring->slot,
		                          env->pool_results_ring->len,
		                          &in) == TP_OK)
			on_results(pool, rd, w, &in); /* malformed: dropped */
		tp__envelope_free(env);
	}
}

static void queue_push_front(struct tp_pool *pool, struct pool_task *head,
                             struct pool_task *tail, size_t n)
{
	if (head == NULL)
		return;
	tail->next = pool->qhead;
	pool->qhead = head;
	if (pool->qtail == NULL)
		pool->qtail = tail;
	pool->queued += n;
}

/* Fails the running task of a dead worker or queues it again. */
static int task_of_dead(struct tp_pool *pool, struct pool_round *rd,
                        struct pool_worker *w, struct pool_task *t, int code)
{
	char origin[256], msg[256];
	int max = pool->max_retries > 0 ? pool->max_retries : 1;
	if (w->killed_for == t->id + 1) { /* it ran past its time limit */
		snprintf(origin, sizeof(origin), "%s (pid %d), task %llu (%s)",
		         w->name, (int)w->pid, (unsigned long long)t->id,
		         t->job->func);
		snprintf(msg, sizeof(msg),
		         "the task ran longer than its %d ms limit; its worker "
		         "was killed and replaced",
		         t->job->timeout_ms);
		task_fail(pool, rd, t, TP_ETIMEDOUT, TP_ETIMEDOUT, origin, msg);
		return 0;
	}
	if (pool->on_death == TP_POOL_RETRY && t->tries < max) {
		t->tries++;
		pool->st.retried++;
		return 1;
	}
	snprintf(origin, sizeof(origin), "%s (pid %d), task %llu (%s)", w->name,
	         (int)w->pid, (unsigned long long)t->id, t->job->func);
	if (code < 0)
		snprintf(msg, sizeof(msg),
		         "worker died by signal %d (%s) while running the task",
		         -code, strsignal(-code));
	else
		snprintf(msg, sizeof(msg),
		         "worker exited with code %d while running the task",
		         code);
	task_fail(pool, rd, t, TP_EDIED, tp__pool_death(code), origin, msg);
	return 0;
}

static int pool_live(const struct tp_pool *pool)
{
	for (int i = 0; i < pool->n; i++)
		if (pool->w[i].pid != 0 || !pool->w[i].broken)
			return 1;
	return 0;
}

static void on_recv(tp__rsrc *src, uint32_t events, void *arg);
static void on_sendable(tp__rsrc *src, uint32_t events, void *arg);
static void on_fast_accept(tp__rsrc *src, uint32_t events, void *arg);

/* Opens the pool's socket to w's run pid and reads it on the reactor. */
static void worker_attach(struct tp_pool *pool, struct pool_worker *w,
                          pid_t pid)
{
	int rv;
	if (tp__pool_worker_attach(pool, w, pid) != TP_OK)
		return; /* killed: its exit starts another run */
	rv = tp__reactor_add_fd(pool->r, w->recvfd, EPOLLIN, on_recv, w,
	                        &w->rsrc);
	if (rv != TP_OK) {
		fprintf(stderr, "troupe: pool worker %s: cannot watch: %s\n",
		        w->name, tp_strerror(rv));
		tp__pool_sup_signal(pool, w, SIGKILL);
	}
	if (w->fast_lfd >= 0 &&
	    tp__reactor_add_fd(pool->r, w->fast_lfd, EPOLLIN, on_fast_accept, w,
	                       &w->lsrc) != TP_OK)
		fast_close(w); /* notes go by nng */
}

/* Closes the socket of w's run, and its sources with it. */
static void worker_detach(struct pool_worker *w)
{
	tp__reactor_del(w->rsrc);
	tp__reactor_del(w->ssrc);
	w->rsrc = w->ssrc = NULL;
	w->send_wait = 0;
	tp__reactor_timer_set(w->grace, 0);
	fast_close(w);
	if (w->sock_open)
		nng_close(w->sock);
	w->sock_open = 0;
	w->recvfd = -1;
	tp__pool_ring_free(w->ring); /* the next run gets its own */
	w->ring = NULL;
	w->ring_told = 0;
}

/* A worker's run exited: settle every task it held; the supervisor
 * restarts it after an abnormal exit, the pool after a normal one. */
static void worker_dead(struct tp_pool *pool, struct pool_round *rd,
                        struct pool_worker *w)
{
	int code = w->exit_code, requeued = 0, failed = 0;
	uint64_t cur = atomic_load(&pool->slots[w->slot].current);
	struct pool_task *rh = NULL, *rt = NULL, *t;
	int normal = w->stopping && code == 0;
	if (!w->ready && !w->broken) { /* died before its hello */
		/* At creation the pool fails; later the supervisor's restart
		 * intensity decides. */
		if (!pool->created) {
			w->broken = 1;
			pool->init_failed = 1;
		}
		pool->hellos++;
		pthread_cond_broadcast(&pool->cv);
	}
	while ((t = w->held) != NULL) {
		w->held = t->next;
		t->next = NULL;
		if (t->id + 1 == cur && !normal &&
		    !task_of_dead(pool, rd, w, t, code)) {
			failed++;
			continue;
		}
		if (pool->state == POOL_TERMINATE) { /* its job is cancelled */
			tp__pool_task_free(t);
			continue;
		}
		requeued++;
		if (rt == NULL)
			rh = t;
		else
			rt->next = t;
		rt = t;
	}
	w->held_tail = NULL;
	w->inflight = w->inflight_bytes = 0;
	queue_push_front(pool, rh, rt, (size_t)requeued);
	if (!normal && pool->state != POOL_TERMINATE && !pool->sup_failed) {
		w->deaths++;
		fprintf(stderr,
		        "troupe: pool worker %s (pid %d) %s (%s %d); %d task "
		        "failed, %d requeued\n",
		        w->name, (int)w->pid,
		        w->killed_for ? "was killed: its task ran past its "
		                        "time limit"
		                      : "died",
		        code < 0 ? "signal" : "exit code",
		        code < 0 ? -code : code, failed, requeued);
	}
	worker_detach(w);
	w->pid = 0;
	w->exited = 0;
	atomic_store(&pool->slots[w->slot].current, 0);
	if (w->next_pid != 0) { /* the supervisor restarted it already */
		pid_t pid = w->next_pid;
		w->next_pid = 0;
		worker_attach(pool, w, pid);
		return;
	}
	/* An abnormal exit: the supervisor restarts it (TP_EV_STARTED). */
	if (code != 0 || w->broken || pool->sup_failed ||
	    pool->state == POOL_TERMINATE ||
	    (pool->state == POOL_CLOSE && pool->qhead == NULL))
		return;
	/* Recycled (maxtasksperchild) or a normal exit: start it again. */
	if (tp__pool_sup_restart(pool, w) != TP_OK) {
		fprintf(stderr, "troupe: pool: cannot replace worker %s\n",
		        w->name);
		w->broken = 1;
	}
}

static void pool_fail_all(struct tp_pool *pool, struct pool_round *rd, int rv,
                          const char *msg)
{
	struct pool_task *t;
	while ((t = pool->qhead) != NULL) {
		pool->qhead = t->next;
		tp__pool_task_free(t);
	}
	pool->qtail = NULL;
	pool->queued = 0;
	while (pool->jobs != NULL) {
		struct tp_pool_result *j = pool->jobs;
		job_unlink(pool, j);
		tp__pool_job_fail(j, rv, "pool", msg);
		note_add(rd, j, 1);
	}
}

/*
 * The pipeline depth of w: enough tasks to cover ~2 ms of work, judging
 * the next task by its items and the worker's time per item. A task
 * that has run (more than 5 ms and) longer than the average so far counts
 * with its running time, so a worker stuck in a long task stops collecting
 * short ones that an idle worker could run. Large batches bound it too
 * (DEPTH_BYTES).
 */
static size_t worker_room(const struct tp_pool *pool,
                          const struct pool_worker *w, double now)
{
	size_t cap = (size_t)pool->pipeline;
	if (cap == 0) {
		size_t items = pool->qhead != NULL ? pool->qhead->count : 1;
		double est = w->avg_ns * (double)items;
		double run = (now - w->head_t) * 1e9;
		/* Results come back in batches at least every 1 ms, so only
		 * a silence well beyond that says a task runs long. */
		if (w->inflight > 0 && run > 5e6 && run > est)
			est = run;
		double depth =
		    pool->backend != NULL && pool->backend->depth_ns > 0
		        ? pool->backend->depth_ns
		        : DEPTH_NS;
		cap = est <= 0 ? 2 : 2 + (size_t)(depth / est);
		if (cap > DEPTH_MAX)
			cap = DEPTH_MAX;
		/* A local worker gets another batch only while it holds
		 * less than a full one: the batch it runs and one more
		 * ready. Deeper, large items only fill more of the ring's
		 * slots (fresh memory on both sides at the first map) and
		 * then messages, and the worker finishes no sooner. */
		if (pool->backend == NULL && w->inflight > 0 &&
		    w->inflight_bytes >= DEPTH_BYTES)
			cap = w->inflight;
	}
	return cap;
}

static void dispatch(struct tp_pool *pool)
{
	tp_pool_load load[pool->n];
	double now = tp__now_s();
	while (pool->qhead != NULL && pool->state != POOL_TERMINATE) {
		size_t nready = 0, share;
		for (int i = 0; i < pool->n; i++) {
			struct pool_worker *w = &pool->w[i];
			load[i].ready =
			    w->pid != 0 && w->sock_open && w->ready &&
			    !w->exited && !w->retiring && w->killed_for == 0 &&
			    !w->stopping && !w->broken && !w->send_wait;
			load[i].inflight = w->inflight;
			load[i].capacity = worker_room(pool, w, now);
			load[i].done = w->done;
			nready += load[i].ready;
		}
		/* A batch takes at most a fair share of the queue, so a short
		 * burst of long tasks is spread over the workers. */
		share = nready ? (pool->queued + nready - 1) / nready : 1;
		if (share == 0) /* never a batch of nothing: always progress */
			share = 1;
		int i = pool->sched->pick(load, pool->n, &pool->sched_state);
		if (i < 0 || i >= pool->n || !load[i].ready ||
		    load[i].inflight >= load[i].capacity)
			break;
		size_t room = load[i].capacity - load[i].inflight;
		if (room > share)
			room = share;
		int rv = tp__pool_send_batch(pool, &pool->w[i], room);
		if (rv != TP_OK) {
			watch_send(pool, &pool->w[i], rv);
			break;
		}
	}
}

/* The task w runs now, if any (the one its slot names). */
static struct pool_task *running_task(const struct tp_pool *pool,
                                      const struct pool_worker *w)
{
	uint64_t cur = atomic_load(&pool->slots[w->slot].current);
	for (struct pool_task *t = w->held; cur != 0 && t != NULL; t = t->next)
		if (t->id + 1 == cur)
			return t;
	return NULL;
}

/*
 * Kills each worker whose running task is past its time limit (the task
 * then fails with TP_ETIMEDOUT when the worker's exit is seen, and the
 * worker is replaced). Returns the ms until the next limit (-1: none).
 */
static int check_timeouts(struct tp_pool *pool)
{
	uint64_t now = tp__now_ns();
	int next = -1;
	for (int i = 0; i < pool->n; i++) {
		struct pool_worker *w = &pool->w[i];
		if (w->pid == 0 || w->exited || w->killed_for != 0)
			continue;
		struct pool_task *t = running_task(pool, w);
		if (t == NULL) {
			/* Not started yet, as far as its slot says: look
			 * again soon if a task it holds has a limit. */
			for (t = w->held; t != NULL; t = t->next)
				if (t->job->timeout_ms > 0) {
					next = next < 0 || next > 5 ? 5 : next;
					break;
				}
			continue;
		}
		if (t->job->timeout_ms <= 0)
			continue;
		uint64_t start = atomic_load(&pool->slots[w->slot].started_ns);
		uint64_t limit = (uint64_t)t->job->timeout_ms * 1000000u;
		if (now >= start && now - start >= limit) {
			w->killed_for = t->id + 1;
			tp__pool_sup_signal(pool, w, SIGKILL);
			continue;
		}
		int left = (int)((limit - (now - start)) / 1000000u) + 1;
		if (next < 0 || left < next)
			next = left;
	}
	return next;
}

static void pool_terminate_round(struct tp_pool *pool, struct pool_round *rd)
{
	if (pool->term_t == 0) {
		pool->term_t = tp__now_s();
		pool_fail_all(pool, rd, TP_ECANCELED,
		              "the pool was terminated before the task ended");
	}
}

/* Whether worker w should be told to stop now. */
static int stop_due(const struct tp_pool *pool, const struct pool_worker *w)
{
	return w->pid != 0 && w->sock_open && !w->stopping && !w->exited &&
	       !w->send_wait && w->inflight == 0 &&
	       (w->retiring || w->broken ||
	        (pool->state == POOL_CLOSE && pool->qhead == NULL));
}

static void pool_stops(struct tp_pool *pool)
{
	for (int i = 0; i < pool->n; i++)
		if (stop_due(pool, &pool->w[i]))
			worker_send_stop(&pool->w[i]);
}

static int pool_done(const struct tp_pool *pool)
{
	if (pool->state == POOL_RUN)
		return 0;
	for (int i = 0; i < pool->n; i++)
		if (pool->w[i].pid != 0 || pool->w[i].next_pid != 0)
			return 0;
	/* Closing: a worker between two runs still has work to do. */
	if (pool->state == POOL_CLOSE && pool->jobs != NULL && pool_live(pool))
		return 0;
	return pool->state != POOL_TERMINATE || pool->sup_stopped;
}

/* The supervisor said the pool gave up: its workers died too often. */
static void sup_gave_up(struct tp_pool *pool, struct pool_round *rd)
{
	char *msg = pool->gave_up;
	pool->sup_failed = 1;
	for (int i = 0; i < pool->n; i++)
		pool->w[i].broken = 1;
	snprintf(msg, sizeof(pool->gave_up),
	         "the pool's workers died more than %d times within %d ms "
	         "(its supervisor's restart intensity): the pool gave up",
	         pool->sup_intensity, pool->sup_period_ms);
	fprintf(stderr, "troupe: pool %s: %s\n", pool->sup_id, msg);
	pool->init_failed = 1;
	pthread_cond_broadcast(&pool->cv);
	pool_fail_all(pool, rd, TP_EDIED, msg);
}

/* One event of the pool's supervisor (queued by its observer). */
static void sup_event(struct tp_pool *pool, struct pool_round *rd,
                      const struct pool_ev *e, int64_t now)
{
	struct pool_worker *w = e->slot >= 0 ? &pool->w[e->slot] : NULL;
	if (e->kind == TP_EV_ESCALATE) {
		sup_gave_up(pool, rd);
	} else if (e->kind == TP_EV_STARTED) {
		if (w->pid == 0)
			worker_attach(pool, w, e->pid);
		else
			w->next_pid = e->pid;
	} else if (e->kind == TP_EV_EXITED && w->pid != 0 && e->pid == w->pid) {
		w->exited = 1;
		w->exit_ms = now;
		w->exit_code = e->code;
		/* Its last bytes may still be on the way: settled when its
		 * pipe is gone (pipe_gone_cb rings), or after the grace. */
		tp__reactor_timer_set(w->grace, now + PIPE_GRACE + 1);
	} else if (e->kind == TP_EV_EXITED && e->pid == w->next_pid) {
		w->next_pid = 0; /* a run the pool never talked to */
	}
	if ((e->kind == TP_EV_START_FAILED ||
	     (e->kind == TP_EV_EXITED && w != NULL && w->pid == 0)) &&
	    !pool->created) {
		w->broken = 1;
		pool->init_failed = 1;
		pthread_cond_broadcast(&pool->cv);
	}
}

/* The doorbell: the supervisor's events (submissions and close/terminate
 * need nothing but the round that follows). */
static void on_bell(tp__rsrc *src, uint32_t events, void *arg)
{
	struct tp_pool *pool = arg;
	int64_t now = tp__now_ms();
	size_t nev;
	(void)src;
	(void)events;
	struct pool_ev *ev = tp__pool_sup_events(pool, &nev);
	if (nev == 0) {
		free(ev);
		return;
	}
	pthread_mutex_lock(&pool->mu);
	for (size_t k = 0; k < nev; k++)
		sup_event(pool, pool->rd, &ev[k], now);
	pthread_mutex_unlock(&pool->mu);
	free(ev);
}

/* A worker run's socket has messages (its results and hello), or its
 * local channel notes: both are read. */
static void on_recv(tp__rsrc *src, uint32_t events, void *arg)
{
	struct pool_worker *w = arg;
	(void)src;
	(void)events;
	pthread_mutex_lock(&w->pool->mu);
	worker_drain(w->pool, w->pool->rd, w);
	pthread_mutex_unlock(&w->pool->mu);
}

/* A connection to a run's listener: the run's own (its pid; this
 * process for a backend whose thread dials it, fast_here) becomes the
 * channel and the listener goes; any other peer is closed unread. */
static void on_fast_accept(tp__rsrc *src, uint32_t events, void *arg)
{
	struct pool_worker *w = arg;
	struct tp_pool *pool = w->pool;
	int fd, rv;
	(void)src;
	(void)events;
	pthread_mutex_lock(&pool->mu);
	pid_t peer = pool->backend != NULL && pool->backend->fast_here
	                 ? getpid()
	                 : w->pid;
	while ((rv = tp__pool_fast_accept(w->fast_lfd, peer, &fd)) == TP_EPERM)
		;
	if (rv == TP_OK) {
		tp__reactor_del(w->lsrc);
		w->lsrc = NULL;
		close(w->fast_lfd);
		(void)unlink(w->fast_path);
		w->fast_lfd = -1;
		/* its notes are read with the run's messages */
		if (tp__reactor_add_fd(pool->r, fd, EPOLLIN, on_recv, w,
		                       &w->fsrc) == TP_OK)
			w->fast_fd = fd;
		else
			close(fd); /* the worker sees it closed: nng */
	} else if (rv != TP_EEMPTY) {
		fast_close(w); /* accept fails: notes go by nng */
	}
	pthread_mutex_unlock(&pool->mu);
}

/* A full pipe has room again: the round sends what waited. The watch
 * ends, so a pipe with room costs nothing per send. */
static void on_sendable(tp__rsrc *src, uint32_t events, void *arg)
{
	struct pool_worker *w = arg;
	(void)events;
	pthread_mutex_lock(&w->pool->mu);
	w->send_wait = 0;
	pthread_mutex_unlock(&w->pool->mu);
	tp__reactor_mod_fd(src, 0);
}

/* Timers (a task's deadline, a dead run's grace, a send retry) only
 * make a round happen: the round hook sees what is due. */
static void on_timer(tp__rsrc *src, uint32_t events, void *arg)
{
	(void)src;
	(void)events;
	(void)arg;
}

static void watch_send(struct tp_pool *pool, struct pool_worker *w, int rv)
{
	int fd;
	if (rv == tp_err_nng(NNG_EAGAIN) && w->sock_open) {
		/* Until it fires, nothing more is built for w (dispatch and
		 * stops skip it): no message is packed only to be refused. */
		if ((w->ssrc != NULL &&
		     tp__reactor_mod_fd(w->ssrc, EPOLLIN) == TP_OK) ||
		    (w->ssrc == NULL &&
		     nng_socket_get_int(w->sock, NNG_OPT_SENDFD, &fd) == 0 &&
		     tp__reactor_add_fd(pool->r, fd, EPOLLIN, on_sendable, w,
		                        &w->ssrc) == TP_OK)) {
			w->send_wait = 1;
			return;
		}
	}
	/* Out of memory, or the send fd cannot be watched: retry soon. */
	if (tp__reactor_timer_due(pool->retry) == 0)
		tp__reactor_timer_set(pool->retry, tp__now_ms() + 1);
}

/* Settles the runs that exited and whose last bytes are in (or whose
 * grace is over). */
static void settle_exits(struct tp_pool *pool, struct pool_round *rd)
{
	int64_t now = tp__now_ms();
	for (int i = 0; i < pool->n; i++) {
		struct pool_worker *w = &pool->w[i];
		if (w->pid != 0 && w->exited &&
		    (atomic_load(&w->pipe_gone) || !w->ready ||
		     now - w->exit_ms > PIPE_GRACE)) {
			worker_drain(pool, rd, w);
			worker_dead(pool, rd, w);
		}
	}
}

/* Arms the deadline timer at the next task time limit. */
static void arm_deadline(struct tp_pool *pool)
{
	int next = check_timeouts(pool);
	tp__reactor_timer_set(pool->tmo,
	                      next < 0 ? 0 : tp__now_ms() + (int64_t)next);
}

static void round_notify(struct pool_round *rd)
{
	for (size_t i = 0; i < rd->n; i++) {
		tp__pool_job_notify(rd->v[i].j, rd->v[i].became);
		tp__pool_job_unref(rd->v[i].j);
	}
	rd->n = 0;
}

/* The reactor's round hook: after the round's callbacks, settle, fail,
 * dispatch and stop under the lock; then callbacks with no lock held. */
static void on_round(void *arg)
{
	struct tp_pool *pool = arg;
	struct pool_round *rd = pool->rd;
	pthread_mutex_lock(&pool->mu);
	settle_exits(pool, rd);
	if (!pool_live(pool))
		pool_fail_all(pool, rd, TP_EDIED,
		              pool->sup_failed
		                  ? pool->gave_up
		                  : "no pool worker is left to run the task");
	if (pool->state == POOL_TERMINATE)
		pool_terminate_round(pool, rd);
	dispatch(pool);
	pool_stops(pool);
	arm_deadline(pool);
	int stop = pool->state == POOL_TERMINATE && !pool->sup_stopped;
	pthread_mutex_unlock(&pool->mu);
	round_notify(rd);
	/* Terminate: the supervisor stops every worker, no restarts; their
	 * exits come back as events. */
	if (stop)
		tp__pool_sup_stop(pool);
	pthread_mutex_lock(&pool->mu);
	if (stop) {
		pool->sup_stopped = 1;
		tp__pool_kick(pool);
	}
	if (pool_done(pool))
		tp__reactor_stop(pool->r);
	pthread_mutex_unlock(&pool->mu);
}

int tp__pool_loop_new(struct tp_pool *pool)
{
	int rv = tp__reactor_new(&pool->r);
	if (rv == TP_OK)
		rv = tp__reactor_add_wake(pool->r, on_bell, pool, &pool->bell);
	if (rv == TP_OK)
		rv = tp__reactor_add_timer(pool->r, 0, on_timer, pool,
		                           &pool->tmo);
	if (rv == TP_OK)
		rv = tp__reactor_add_timer(pool->r, 0, on_timer, pool,
		                           &pool->retry);
	for (int i = 0; rv == TP_OK && i < pool->n; i++)
		rv = tp__reactor_add_timer(pool->r, 0, on_timer, pool,
		                           &pool->w[i].grace);
	if (rv == TP_OK && (pool->rd = calloc(1, sizeof(*pool->rd))) == NULL)
		rv = TP_ENOMEM;
	if (rv == TP_OK && (pool->fast_buf = malloc(TP__POOL_FAST_MAX)) == NULL)
		rv = TP_ENOMEM;
	if (rv == TP_OK)
		tp__reactor_on_round(pool->r, on_round, pool);
	return rv;
}

void tp__pool_loop_free(struct tp_pool *pool)
{
	tp__reactor_free(pool->r);
	pool->r = NULL;
	pool->bell = NULL;
	if (pool->rd != NULL)
		free(pool->rd->v);
	free(pool->rd);
	pool->rd = NULL;
	free(pool->fast_buf);
	pool->fast_buf = NULL;
}

void *tp__pool_loop(void *arg)
{
	struct tp_pool *pool = arg;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	/* Whatever rang before the thread ran is in the first round. */
	tp__pool_kick(pool);
	int rv = tp__reactor_run(pool->r);
	if (rv != TP_OK)
		fprintf(stderr, "troupe: pool %s: its loop failed: %s\n",
		        pool->sup_id, tp_strerror(rv));
	pthread_mutex_lock(&pool->mu);
	pool->thr_done = 1;
	pthread_cond_broadcast(&pool->cv);
	pthread_mutex_unlock(&pool->mu);
	round_notify(pool->rd);
	return NULL;
}
