/*
 * pool.c - the pool's public calls: creation, submission (apply, map,
 * starmap, imap and their async forms), close, terminate, join, free and
 * stats. The work itself happens in the supervisor thread (pool_loop.c);
 * these calls queue tasks, ring its reactor's doorbell and wait on results.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/un.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "payload_int.h"
#include "pool_int.h"
#include "process_int.h"
#include "runtime_int.h"
#include "troupe/error.h"

#define INIT_TIMEOUT_S 60
#define SEG_MIN        65536 /* int maps from this size use a shared file, */
#define SEG_CHUNK_MIN  1024  /* when their chunks are this big */
/* About the most arguments a task carries (below). With pool_send.c's
 * BATCH_BYTES of the same size, a batch (under 480 KiB, plus its last
 * task) fits a 1 MiB slot of the ring (pool_ring.c): half as many
 * messages as with 256 KiB, which measured 9-16 % faster maps of 1 KiB
 * bytes and of ints (docs/performance.md). */
#define TASK_BYTES ((size_t)480 << 10)

static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static struct tp_pool *live;

/* The last failure of a blocking call on this thread, whole (the strings
 * are kept until the next failure; a thread's last ones are not freed). */
static __thread struct {
	int code, set, exitcode, signal;
	char *origin, *message;
} last_err;

static int pool_fill_opts(struct tp_pool *pool, const tp_pool_opts *o)
{
	const tp_payload *ia = o->initargs;
	tp_payload *empty = NULL;
	int rv;
	pool->n = o->processes > 0 ? o->processes : tp_cpu_count();
	if (pool->n < 1)
		pool->n = 1;
	pool->maxtasks = o->maxtasksperchild;
	pool->on_death = o->on_death;
	pool->max_retries = o->max_retries;
	pool->pipeline = o->pipeline;
	pool->task_timeout_ms = o->task_timeout_ms;
	pool->max_msg = o->max_msg ? o->max_msg : TP_MAX_MSG_DEFAULT;
	pool->method = o->method;
	pool->sup_intensity = o->max_restarts;
	pool->sup_period_ms = o->restart_period_ms;
	pool->sched = o->sched != NULL ? o->sched : &tp_pool_sched_least_loaded;
	snprintf(pool->prefix, sizeof(pool->prefix), "%s",
	         o->name != NULL ? o->name : "PoolWorker");
	if (o->initializer != NULL) {
		const char *nm = tp__target_name(o->initializer);
		if (nm == NULL)
			return TP_ENOTREG;
		if ((pool->init_name = strdup(nm)) == NULL)
			return TP_ENOMEM;
	}
	if (ia == NULL) {
		if ((rv = tp_payload_new(&empty)) != TP_OK)
			return rv;
		ia = empty;
	}
	rv = tp_payload_encode(ia, 0, &pool->init_buf, &pool->init_len);
	tp_payload_free(empty);
	return rv;
}

static int pool_alloc(struct tp_pool **out, const tp_pool_opts *o)
{
	struct tp_pool *pool = calloc(1, sizeof(*pool));
	pthread_condattr_t ca;
	int rv;
	if (pool == NULL)
		return TP_ENOMEM;
	pthread_mutex_init(&pool->mu, NULL);
	pthread_mutex_init(&pool->evmu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&pool->cv, &ca);
	pthread_condattr_destroy(&ca);
	*out = pool;
	if ((rv = pool_fill_opts(pool, o)) != TP_OK ||
	    (rv = tp__pool_backend_open(pool, o)) != TP_OK)
		return rv;
	pool->w = calloc((size_t)pool->n, sizeof(*pool->w));
	if (pool->w == NULL)
		return TP_ENOMEM;
	for (int i = 0; i < pool->n; i++) {
		static atomic_int counter;
		pool->w[i].slot = i;
		pool->w[i].recvfd = -1;
		pool->w[i].fast_lfd = pool->w[i].fast_fd = -1;
		pool->w[i].pool = pool;
		snprintf(pool->w[i].name, sizeof(pool->w[i].name), "%s-%d",
		         pool->prefix, atomic_fetch_add(&counter, 1) + 1);
	}
	/* Each worker run dials "<addr>-<its pid>" (pool_sup.c); the pool
	 * uses nng from now on, so the fork start method is refused. */
	tp__nng_used();
	if ((rv = tp_address("pool", pool->addr, sizeof(pool->addr))) != TP_OK)
		return rv;
	/* "-<pid>" and the local channel's ".f" (pool_fast.c) */
	if (strlen(pool->addr) - strlen("ipc://") + 14 >
	    sizeof(((struct sockaddr_un *)0)->sun_path))
		return tp_err_errno(ENAMETOOLONG);
	pool->shm_size = (size_t)pool->n * sizeof(struct pool_slot);
	if ((rv = tp__pool_file_create(pool->shm_name, sizeof(pool->shm_name),
	                               "slots", pool->shm_size,
	                               (void **)&pool->slots)) != TP_OK)
		return rv;
	return tp__pool_loop_new(pool);
}

/* Waits (pool->mu held) until cond or the deadline; 0 on timeout. */
static int pool_wait_locked(struct tp_pool *pool, int (*cond)(struct tp_pool *),
                            int timeout_ms)
{
	struct timespec dl;
	tp__deadline_ts(&dl, timeout_ms);
	while (!cond(pool)) {
		if (timeout_ms < 0)
			pthread_cond_wait(&pool->cv, &pool->mu);
		else if (pthread_cond_timedwait(&pool->cv, &pool->mu, &dl) != 0)
			return cond(pool);
	}
	return 1;
}

static int cond_hellos(struct tp_pool *pool)
{
	return pool->hellos >= pool->n || pool->init_failed || pool->thr_done;
}

static int cond_done(struct tp_pool *pool)
{
	return pool->thr_done;
}

static void pool_destroy(struct tp_pool *pool);

int tp_pool_new_opts(tp_pool **out, const tp_pool_opts *opts)
{
	tp_pool_opts def = {0};
	struct tp_pool *pool = NULL;
	int rv;
	if (out == NULL)
		return TP_EINVAL;
	*out = NULL;
	if (opts == NULL)
		opts = &def;
	if (opts->processes < 0 || opts->maxtasksperchild < 0 ||
	    opts->pipeline < 0 || opts->max_retries < 0 ||
	    opts->task_timeout_ms < 0 || opts->max_restarts < 0 ||
	    opts->restart_period_ms < 0 ||
	    (opts->on_death != TP_POOL_FAIL && opts->on_death != TP_POOL_RETRY))
		return TP_EINVAL;
	if (!tp_initialized())
		return TP_ENOTINIT;
	if ((rv = pool_alloc(&pool, opts)) != TP_OK ||
	    (rv = tp__pool_sup_new(pool)) != TP_OK)
		goto fail;
	if (tp__thread_start(&pool->thr, tp__pool_loop, pool) != TP_OK) {
		rv = TP_ENOMEM;
		goto fail;
	}
	pool->thr_started = 1;
	/* The supervisor starts each worker; the pool thread connects to
	 * it when it hears of the start (TP_EV_STARTED). */
	for (int i = 0; i < pool->n; i++)
		if ((rv = tp__pool_sup_start(pool, &pool->w[i])) != TP_OK)
			goto fail;
	pthread_mutex_lock(&pool->mu);
	if (!pool_wait_locked(pool, cond_hellos, INIT_TIMEOUT_S * 1000))
		rv = TP_ETIMEDOUT;
	else if (pool->init_failed)
		rv = TP_EREMOTE;
	pthread_mutex_unlock(&pool->mu);
	if (rv != TP_OK)
		goto fail;
	pthread_mutex_lock(&pool->mu);
	pool->created = 1;
	pthread_mutex_unlock(&pool->mu);
	pthread_mutex_lock(&live_mu);
	pool->live_next = live;
	live = pool;
	pthread_mutex_unlock(&live_mu);
	*out = pool;
	return TP_OK;
fail:
	if (pool != NULL)
		pool_destroy(pool);
	return rv;
}

int tp_pool_new(tp_pool **out, int processes, tp_target_fn initializer,
                const tp_payload *initargs, int maxtasksperchild)
{
	tp_pool_opts o = {0};
	o.processes = processes;
	o.initializer = initializer;
	o.initargs = initargs;
	o.maxtasksperchild = maxtasksperchild;
	return tp_pool_new_opts(out, &o);
}

/* ---- submission ---- */

/* Queues every task of j and hands the pool a reference to it. */
static int pool_submit(tp_pool *pool, struct tp_pool_result *j)
{
	struct pool_task *head = NULL, *tail = NULL;
	int was_empty;
	for (size_t t = 0; t < j->ntasks; t++) {
		struct pool_task *k = calloc(1, sizeof(*k));
		if (k == NULL) {
			while (head != NULL) {
				k = head->next;
				free(head);
				head = k;
			}
			return TP_ENOMEM;
		}
		k->job = j;
		k->index = t;
		k->first = t * j->chunksize;
		k->count = j->n - k->first < j->chunksize ? j->n - k->first
		                                          : j->chunksize;
		if (tail != NULL)
			tail->next = k;
		else
			head = k;
		tail = k;
	}
	pthread_mutex_lock(&pool->mu);
	if (pool->state != POOL_RUN) {
		pthread_mutex_unlock(&pool->mu);
		while (head != NULL) {
			tail = head->next;
			free(head);
			head = tail;
		}
		return TP_ESTATE;
	}
	pthread_mutex_lock(&j->mu);
	j->refs += (int)j->ntasks + 1;
	pthread_mutex_unlock(&j->mu);
	for (struct pool_task *k = head; k != NULL; k = k->next)
		k->id = pool->next_id++;
	was_empty = pool->qhead == NULL;
	if (head != NULL) {
		if (pool->qtail != NULL)
			pool->qtail->next = head;
		else
			pool->qhead = head;
		pool->qtail = tail;
	}
	pool->queued += j->ntasks;
	pool->st.submitted += j->ntasks;
	if (!tp__pool_job_settled(j)) {
		j->next = pool->jobs;
		if (pool->jobs != NULL)
			pool->jobs->prev = j;
		pool->jobs = j;
	} else {
		pthread_mutex_unlock(&pool->mu);
		tp__pool_job_notify(j, 1);
		tp__pool_job_unref(j);
		return TP_OK;
	}
	pthread_mutex_unlock(&pool->mu);
	if (was_empty)
		tp__pool_kick(pool);
	return TP_OK;
}

static size_t default_chunks(const tp_pool *pool, size_t n)
{
	size_t d = 4 * (size_t)pool->n;
	return n == 0 ? 1 : (n + d - 1) / d;
}

struct submit {
	enum pool_kind kind;
	enum pool_iter_mode iter;
	tp_target_fn fn;
	const tp_payload *items;
	const tp_payload *const *argv;
	const int64_t *in;
	int64_t *out;
	size_t n, chunksize;
	tp_pool_callback cb;
	tp_pool_error_callback ecb;
	void *arg;
	const tp_pool_call_opts *co; /* NULL: defaults */
	int borrow; /* the caller waits: its arguments need no copy */
};

/*
 * A large int map goes through a shared file: the inputs are copied in
 * once, workers read them and write results in place, and each finished
 * chunk is copied out once — instead of travelling in messages.
 */
static int job_segment(struct tp_pool_result *j)
{
	size_t sz = 2 * j->n * sizeof(int64_t);
	int rv = tp__pool_file_create(j->seg, sizeof(j->seg), "ints", sz,
	                              (void **)&j->seg_map);
	if (rv != TP_OK) {
		j->seg[0] = '\0';
		return TP_OK; /* fall back to messages */
	}
	memcpy(j->seg_map, j->ints_in, j->n * sizeof(int64_t));
	return TP_OK;
}

/* The bytes call i of j takes in a message. */
static size_t call_bytes(const struct tp_pool_result *j, size_t i)
{
	const tp_payload *p = j->kind == POOL_STARMAP ? j->argv[i] : j->items;
	size_t sz = 0;
	struct tp_value v;
	if (j->kind == POOL_MAP) {
		v = tp__payload_at(p, i);
		return tp__value_wire_bytes(&v);
	}
	for (size_t k = 0; k < tp_payload_count(p); k++) {
		v = tp__payload_at(p, k);
		sz += tp__value_wire_bytes(&v);
	}
	return sz + 4; /* its entry in calls */
}

/*
 * Whether every task of j fits in max bytes, known without reading the
 * values: a task has at most chunksize values (a map) or all of them (an
 * apply), each takes at most 9 bytes besides its data
 * (tp__value_wire_bytes), and a payload built through the add calls knows
 * the bytes of all its data. Then the submit need not walk the values (for
 * a large map, a pass over memory before the first task can leave).
 */
static int tasks_fit(const struct tp_pool_result *j, size_t max)
{
	size_t vb, most, nb, n;
	if (j->kind == POOL_STARMAP ||
	    !tp__payload_vsizes(j->items, &vb, &most, &nb))
		return 0;
	n = j->items->count;
	if (j->kind == POOL_MAP && j->chunksize < n)
		n = j->chunksize;
	size_t fixed = 9 * n + 4; /* + 4: an apply's call */
	if (n > max / 16 || fixed > max)
		return 0;
	/* all the data, or n of the largest value, is under the rest */
	return vb <= max - fixed || (most <= max && n <= (max - fixed) / most);
}

/* Copies what the job must keep once its caller has returned. */
static int job_own(struct tp_pool_result *j, const struct submit *s)
{
	int rv = TP_OK;
	if (s->kind != POOL_STARMAP) {
		rv = s->items != NULL ? tp_payload_copy(s->items, &j->own_items)
		                      : tp_payload_new(&j->own_items);
		j->items = j->own_items;
		return rv;
	}
	if ((j->own_argv = calloc(s->n + 1, sizeof(*j->own_argv))) == NULL)
		return TP_ENOMEM;
	for (size_t i = 0; i < s->n && rv == TP_OK; i++)
		rv = s->argv[i] != NULL
		         ? tp_payload_copy(s->argv[i], &j->own_argv[i])
		         : tp_payload_new(&j->own_argv[i]);
	j->argv = (const tp_payload *const *)j->own_argv;
	return rv;
}

/*
 * The arguments stay where they are: a blocking call's are borrowed (the
 * caller waits; the pool's thread stops reading them once the job is
 * settled), an async call's are copied, sharing their bytes. Each batch
 * encodes its tasks' arguments as it is sent (pool_send.c), so encoding
 * overlaps the workers' work. A task whose arguments take more than max
 * bytes fails the submit with TP_ETOOBIG before anything is queued.
 */
static int job_args(struct tp_pool_result *j, const struct submit *s,
                    size_t max)
{
	static const tp_payload none;
	int rv = TP_OK, whole;
	if (s->borrow) {
		j->items = s->items != NULL ? s->items : &none;
		j->argv = s->argv;
	} else if ((rv = job_own(j, s)) != TP_OK) {
		return rv;
	}
	whole = tasks_fit(j, max);
	for (size_t t = 0; !whole && t < j->ntasks; t++) {
		size_t first = t * j->chunksize, bytes = 0;
		size_t end =
		    first + j->chunksize < j->n ? first + j->chunksize : j->n;
		for (size_t i = first; i < end; i++)
			bytes += call_bytes(j, i);
		if (bytes > max)
			return TP_ETOOBIG;
	}
	if (s->kind != POOL_APPLY && tp_payload_new(&j->res) != TP_OK)
		return TP_ENOMEM;
	return TP_OK;
}

static int job_inputs(struct tp_pool_result *j, const struct submit *s,
                      size_t max, int files)
{
	if (s->kind == POOL_MAPINT) {
		j->ints_in = s->in;
		j->ints_out = s->out;
		return s->n >= SEG_MIN && j->chunksize >= SEG_CHUNK_MIN && files
		           ? job_segment(j)
		           : TP_OK;
	}
	return job_args(j, s, max);
}

/*
 * Keeps a task's arguments to about TASK_BYTES: a chunk of large items is
 * sent as several smaller tasks, so a worker starts on its first items
 * before the whole chunk has travelled, and the memory in flight stays
 * bounded. Nothing else changes (errors and progress are per item), except
 * with maxtasksperchild, which counts chunks: then chunks stay whole.
 */
static size_t bounded_chunks(const struct submit *s, size_t cs)
{
	size_t total = 0, per, step, seen = 0, vb, most, nb;
	if (s->kind != POOL_MAP && s->kind != POOL_STARMAP)
		return cs;
	/* A list built through the add calls knows its sizes: the average
	 * without reading a value (reading 4096 spread over a large list
	 * touched as many pages before the first task could leave). */
	if (s->kind == POOL_MAP && s->items != NULL &&
	    tp__payload_vsizes(s->items, &vb, &most, &nb) && nb <= s->n) {
		/* tp__value_wire_bytes of each */
		total = vb + 5 * nb + 9 * (s->n - nb);
		seen = s->n;
	}
	/* Else the average size from up to 4096 items spread over the list:
	 * the exact sizes are counted once, per task, in job_args. */
	step = s->n > 4096 ? s->n / 4096 : 1;
	for (size_t i = seen; i < s->n; i += step, seen++) {
		const tp_payload *p = s->kind == POOL_MAP ? NULL : s->argv[i];
		struct tp_value v;
		if (s->kind == POOL_MAP) {
			v = tp__payload_at(s->items, i);
			total += tp__value_wire_bytes(&v);
		}
		for (size_t k = 0; k < tp_payload_count(p); k++) {
			v = tp__payload_at(p, k);
			total += tp__value_wire_bytes(&v);
		}
	}
	per = seen ? total / seen + 1 : 1;
	if (per * cs > TASK_BYTES)
		cs = TASK_BYTES / per > 0 ? TASK_BYTES / per : 1;
	return cs;
}

static int pool_do(tp_pool *pool, const struct submit *s,
                   struct tp_pool_result **out)
{
	struct tp_pool_result *j = NULL;
	const char *name;
	size_t cs = s->chunksize;
	int rv;
	if (out != NULL)
		*out = NULL;
	if (pool == NULL || s->fn == NULL)
		return TP_EINVAL;
	if ((name = tp__target_name(s->fn)) == NULL)
		return TP_ENOTREG;
	if (cs == 0)
		cs = s->iter != POOL_NOITER ? 1 : default_chunks(pool, s->n);
	if (pool->maxtasks == 0)
		cs = bounded_chunks(s, cs);
	if ((rv = tp__pool_job_new(&j, s->kind, name, s->n, cs)) != TP_OK)
		return rv;
	j->iter = s->iter;
	j->callback = s->cb;
	j->error_callback = s->ecb;
	j->arg = s->arg;
	j->fire_and_forget = out == NULL;
	j->timeout_ms = pool->task_timeout_ms;
	if (s->co != NULL) {
		if (s->co->task_timeout_ms != 0)
			j->timeout_ms = s->co->task_timeout_ms < 0
			                    ? 0
			                    : s->co->task_timeout_ms;
		j->progress = s->co->progress;
		j->progress_arg = s->co->progress_arg;
	}
	if ((rv = job_inputs(j, s, pool->max_msg, pool->backend == NULL)) ==
	    TP_OK)
		rv = pool_submit(pool, j);
	if (rv != TP_OK || out == NULL)
		tp__pool_job_unref(j);
	else
		*out = j;
	return rv;
}

static void save_err(tp_pool_result *r)
{
	tp_pool_error e;
	if (tp_pool_result_err(r, &e) != TP_OK)
		return;
	free(last_err.origin);
	free(last_err.message);
	last_err.code = e.code;
	last_err.exitcode = e.exitcode;
	last_err.signal = e.signal;
	last_err.origin = strdup(e.origin != NULL ? e.origin : "");
	last_err.message = strdup(e.message != NULL ? e.message : "");
	last_err.set = 1;
}

/* Submits s, waits for it and hands back the value. */
static int pool_sync(tp_pool *pool, const struct submit *s, tp_payload **out)
{
	struct submit b = *s;
	tp_pool_result *r;
	int rv;
	if (out != NULL)
		*out = NULL;
	b.borrow = 1;
	if ((rv = pool_do(pool, &b, &r)) != TP_OK)
		return rv;
	rv = tp_pool_result_wait(r, -1);
	if (rv == TP_OK && r->failed) {
		save_err(r);
		rv = r->err.rv;
	} else if (rv == TP_OK && out != NULL) {
		pthread_mutex_lock(&r->mu);
		*out = r->value; /* the only reader: take it */
		r->value = NULL;
		pthread_mutex_unlock(&r->mu);
	}
	tp_pool_result_free(r);
	return rv;
}

int tp_pool_apply(tp_pool *pool, tp_target_fn fn, const tp_payload *args,
                  tp_payload **out)
{
	struct submit s = {.kind = POOL_APPLY, .fn = fn, .items = args, .n = 1};
	return pool_sync(pool, &s, out);
}

int tp_pool_apply_async(tp_pool *pool, tp_target_fn fn, const tp_payload *args,
                        tp_pool_callback callback,
                        tp_pool_error_callback error_callback, void *arg,
                        tp_pool_result **out)
{
	struct submit s = {.kind = POOL_APPLY,
	                   .fn = fn,
	                   .items = args,
	                   .n = 1,
	                   .cb = callback,
	                   .ecb = error_callback,
	                   .arg = arg};
	return pool_do(pool, &s, out);
}

int tp_pool_map(tp_pool *pool, tp_target_fn fn, const tp_payload *items,
                size_t chunksize, tp_payload **out)
{
	struct submit s = {.kind = POOL_MAP,
	                   .fn = fn,
	                   .items = items,
	                   .n = tp_payload_count(items),
	                   .chunksize = chunksize};
	if (items == NULL)
		return TP_EINVAL;
	return pool_sync(pool, &s, out);
}

int tp_pool_map_async(tp_pool *pool, tp_target_fn fn, const tp_payload *items,
                      size_t chunksize, tp_pool_callback callback,
                      tp_pool_error_callback error_callback, void *arg,
                      tp_pool_result **out)
{
	struct submit s = {.kind = POOL_MAP,
	                   .fn = fn,
	                   .items = items,
	                   .n = tp_payload_count(items),
	                   .chunksize = chunksize,
	                   .cb = callback,
	                   .ecb = error_callback,
	                   .arg = arg};
	if (items == NULL)
		return TP_EINVAL;
	return pool_do(pool, &s, out);
}

int tp_pool_map_int(tp_pool *pool, tp_target_fn fn, const int64_t *in, size_t n,
                    size_t chunksize, int64_t *out)
{
	struct submit s = {.kind = POOL_MAPINT,
	                   .fn = fn,
	                   .in = in,
	                   .out = out,
	                   .n = n,
	                   .chunksize = chunksize};
	if ((in == NULL || out == NULL) && n > 0)
		return TP_EINVAL;
	return pool_sync(pool, &s, NULL);
}

int tp_pool_starmap(tp_pool *pool, tp_target_fn fn,
                    const tp_payload *const *argv, size_t n, size_t chunksize,
                    tp_payload **out)
{
	struct submit s = {.kind = POOL_STARMAP,
	                   .fn = fn,
	                   .argv = argv,
	                   .n = n,
	                   .chunksize = chunksize};
	if (argv == NULL && n > 0)
		return TP_EINVAL;
	return pool_sync(pool, &s, out);
}

int tp_pool_starmap_async(tp_pool *pool, tp_target_fn fn,
                          const tp_payload *const *argv, size_t n,
                          size_t chunksize, tp_pool_callback callback,
                          tp_pool_error_callback error_callback, void *arg,
                          tp_pool_result **out)
{
	struct submit s = {.kind = POOL_STARMAP,
	                   .fn = fn,
	                   .argv = argv,
	                   .n = n,
	                   .chunksize = chunksize,
	                   .cb = callback,
	                   .ecb = error_callback,
	                   .arg = arg};
	if (argv == NULL && n > 0)
		return TP_EINVAL;
	return pool_do(pool, &s, out);
}

static int pool_imap_submit(tp_pool *pool, const struct submit *s,
                            tp_pool_iter **out)
{
	struct tp_pool_result *j;
	int rv;
	if (out == NULL || s->items == NULL)
		return TP_EINVAL;
	*out = NULL;
	if ((rv = pool_do(pool, s, &j)) != TP_OK)
		return rv;
	if ((rv = tp__pool_iter_new(out, j)) != TP_OK)
		tp__pool_job_unref(j);
	return rv;
}

static int pool_imap(tp_pool *pool, tp_target_fn fn, const tp_payload *items,
                     size_t chunksize, enum pool_iter_mode mode,
                     tp_pool_iter **out)
{
	struct submit s = {.kind = POOL_MAP,
	                   .iter = mode,
	                   .fn = fn,
	                   .items = items,
	                   .n = tp_payload_count(items),
	                   .chunksize = chunksize};
	return pool_imap_submit(pool, &s, out);
}

int tp_pool_imap(tp_pool *pool, tp_target_fn fn, const tp_payload *items,
                 size_t chunksize, tp_pool_iter **out)
{
	return pool_imap(pool, fn, items, chunksize, POOL_ORDERED, out);
}

int tp_pool_imap_unordered(tp_pool *pool, tp_target_fn fn,
                           const tp_payload *items, size_t chunksize,
                           tp_pool_iter **out)
{
	return pool_imap(pool, fn, items, chunksize, POOL_UNORDERED, out);
}

int tp_pool_apply_opts(tp_pool *pool, tp_target_fn fn, const tp_payload *args,
                       const tp_pool_call_opts *opts, tp_payload **out)
{
	struct submit s = {
	    .kind = POOL_APPLY, .fn = fn, .items = args, .n = 1, .co = opts};
	return pool_sync(pool, &s, out);
}

int tp_pool_map_opts(tp_pool *pool, tp_target_fn fn, const tp_payload *items,
                     const tp_pool_call_opts *opts, tp_payload **out)
{
	struct submit s = {.kind = POOL_MAP,
	                   .fn = fn,
	                   .items = items,
	                   .n = tp_payload_count(items),
	                   .chunksize = opts != NULL ? opts->chunksize : 0,
	                   .co = opts};
	if (items == NULL)
		return TP_EINVAL;
	return pool_sync(pool, &s, out);
}

int tp_pool_imap_opts(tp_pool *pool, tp_target_fn fn, const tp_payload *items,
                      const tp_pool_call_opts *opts, tp_pool_iter **out)
{
	struct submit s = {.kind = POOL_MAP,
	                   .iter = opts != NULL && opts->unordered
	                               ? POOL_UNORDERED
	                               : POOL_ORDERED,
	                   .fn = fn,
	                   .items = items,
	                   .n = tp_payload_count(items),
	                   .chunksize = opts != NULL ? opts->chunksize : 0,
	                   .co = opts};
	return pool_imap_submit(pool, &s, out);
}

int tp_pool_last_err(tp_pool_error *err)
{
	if (err == NULL)
		return TP_EINVAL;
	if (!last_err.set)
		return TP_ENOENT;
	err->code = last_err.code;
	err->origin = last_err.origin;
	err->message = last_err.message;
	err->rv = 0;
	err->exitcode = last_err.exitcode;
	err->signal = last_err.signal;
	return TP_OK;
}

/* ---- lifecycle ---- */

static int pool_set_state(tp_pool *pool, enum pool_state st)
{
	if (pool == NULL)
		return TP_EINVAL;
	pthread_mutex_lock(&pool->mu);
	if (pool->state < st)
		pool->state = st;
	pthread_mutex_unlock(&pool->mu);
	tp__pool_kick(pool);
	return TP_OK;
}

int tp_pool_close(tp_pool *pool)
{
	return pool_set_state(pool, POOL_CLOSE);
}

int tp_pool_terminate(tp_pool *pool)
{
	return pool_set_state(pool, POOL_TERMINATE);
}

int tp_pool_join(tp_pool *pool, int timeout_ms)
{
	int done;
	if (pool == NULL || timeout_ms < -1)
		return TP_EINVAL;
	pthread_mutex_lock(&pool->mu);
	if (pool->state == POOL_RUN) {
		pthread_mutex_unlock(&pool->mu);
		return TP_ESTATE;
	}
	done =
	    !pool->thr_started || pool_wait_locked(pool, cond_done, timeout_ms);
	pthread_mutex_unlock(&pool->mu);
	if (!done)
		return TP_ETIMEDOUT;
	pthread_mutex_lock(&pool->mu);
	if (pool->thr_started && !pool->joined) {
		pool->joined = 1;
		pthread_mutex_unlock(&pool->mu);
		pthread_join(pool->thr, NULL);
		return TP_OK;
	}
	pthread_mutex_unlock(&pool->mu);
	return TP_OK;
}

/* Stops whatever runs (workers started before the thread too). */
static void pool_destroy(struct tp_pool *pool)
{
	if (pool->thr_started) {
		tp_pool_terminate(pool);
		tp_pool_join(pool, -1);
	}
	tp__pool_sup_free(pool);
	for (int i = 0; pool->w != NULL && i < pool->n; i++) {
		struct pool_worker *w = &pool->w[i];
		tp__reactor_del(w->rsrc); /* the thread is gone: no race */
		tp__reactor_del(w->ssrc);
		w->rsrc = w->ssrc = NULL;
		if (w->sock_open)
			nng_close(w->sock);
		tp__pool_ring_free(w->ring);
		w->ring = NULL;
		w->ring_told = 0;
		while (w->held != NULL) {
			struct pool_task *t = w->held;
			w->held = t->next;
			tp__pool_task_free(t);
		}
	}
	while (pool->qhead != NULL) {
		struct pool_task *t = pool->qhead;
		pool->qhead = t->next;
		tp__pool_task_free(t);
	}
	while (pool->jobs != NULL) { /* never started: nothing to cancel */
		struct tp_pool_result *j = pool->jobs;
		pool->jobs = j->next;
		tp__pool_job_fail(j, TP_ECANCELED, "pool",
		                  "the pool was freed");
		tp__pool_job_notify(j, 1);
		tp__pool_job_unref(j);
	}
	if (pool->slots != NULL) {
		munmap(pool->slots, pool->shm_size);
		unlink(pool->shm_name);
	}
	/* Last: nng's pipe callbacks of the closed sockets rang the bell. */
	tp__pool_loop_free(pool);
	free(pool->w);
	free(pool->init_name);
	free(pool->init_buf);
	free(pool->evq);
	pthread_mutex_destroy(&pool->evmu);
	tp__pool_backend_close(pool);
	pthread_mutex_destroy(&pool->mu);
	pthread_cond_destroy(&pool->cv);
	free(pool);
}

void tp_pool_free(tp_pool *pool)
{
	if (pool == NULL)
		return;
	pthread_mutex_lock(&live_mu);
	for (struct tp_pool **pp = &live; *pp != NULL; pp = &(*pp)->live_next)
		if (*pp == pool) {
			*pp = pool->live_next;
			break;
		}
	pthread_mutex_unlock(&live_mu);
	pool_destroy(pool);
}

void tp__pool_fini(void)
{
	pthread_mutex_lock(&live_mu);
	for (struct tp_pool *p = live; p != NULL; p = p->live_next) {
		tp_pool_terminate(p);
		tp_pool_join(p, -1);
		tp__pool_sup_free(p); /* before the root supervisor stops */
	}
	pthread_mutex_unlock(&live_mu);
}

/* ---- introspection ---- */

/* The task w runs now, by the id its shared slot holds (pool->mu). */
static void worker_task(const tp_pool *pool, const struct pool_worker *w,
                        tp_pool_worker_stats *o)
{
	if (pool->slots == NULL || w->slot < 0)
		return;
	const struct pool_slot *sl = &pool->slots[w->slot];
	uint64_t cur = atomic_load(&sl->current);
	uint64_t t0 = atomic_load(&sl->started_ns);
	if (cur == 0)
		return;
	for (const struct pool_task *t = w->held; t != NULL; t = t->next) {
		if (t->id != cur - 1)
			continue;
		snprintf(o->task, sizeof(o->task), "%s",
		         t->job && t->job->func ? t->job->func : "?");
		o->task_item = t->first;
		break;
	}
	uint64_t now = tp__now_ns();
	if (o->task[0] && t0 > 0 && now > t0)
		o->task_ms = (int64_t)((now - t0) / 1000000u);
}

int tp_pool_stats_get(tp_pool *pool, tp_pool_stats *stats,
                      tp_pool_worker_stats *workers, int max)
{
	if (pool == NULL || max < 0 || (max > 0 && workers == NULL))
		return -TP_EINVAL;
	pthread_mutex_lock(&pool->mu);
	if (stats != NULL) {
		*stats = pool->st;
		stats->processes = pool->n;
		stats->queued = pool->queued;
	}
	for (int i = 0; i < pool->n && i < max; i++) {
		struct pool_worker *w = &pool->w[i];
		tp_pool_worker_stats *o = &workers[i];
		memset(o, 0, sizeof(*o));
		snprintf(o->name, sizeof(o->name), "%s", w->name);
		o->pid = w->pid;
		o->busy = w->inflight > 0;
		o->inflight = w->inflight;
		o->tasks_done = w->done;
		o->restarts = w->restarts;
		o->deaths = w->deaths;
		worker_task(pool, w, o);
	}
	pthread_mutex_unlock(&pool->mu);
	return pool->n;
}

pid_t tp_pool_worker_pid(tp_pool *pool, int i)
{
	pid_t pid = 0;
	if (pool == NULL || i < 0 || i >= pool->n)
		return 0;
	pthread_mutex_lock(&pool->mu);
	pid = pool->w[i].pid;
	pthread_mutex_unlock(&pool->mu);
	return pid;
}

void tp__pool_each(void (*fn)(void *arg, tp_pool *p), void *arg)
{
	pthread_mutex_lock(&live_mu);
	for (struct tp_pool *p = live; p != NULL; p = p->live_next)
		fn(arg, p);
	pthread_mutex_unlock(&live_mu);
}
