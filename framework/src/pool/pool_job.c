/*
 * pool_job.c - async results (AsyncResult, MapResult) and imap iterators.
 *
 * A job is what one apply/map call submitted: n items cut into ntasks
 * chunks. The pool's thread records each finished chunk here; callers wait
 * on the job's condition variable. A job is reference counted (the
 * caller's handle, the pool while unfinished, each queued task) so a result
 * stays readable after its pool is gone. A failure that nobody looked at
 * (no get, no successful, no error callback) is logged when the last
 * reference goes, so an error never vanishes silently.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "payload_int.h"
#include "pool_int.h"
#include "troupe/error.h"

struct tp_pool_iter {
	struct tp_pool_result *j;
	size_t pos; /* items yielded */
	size_t oi;  /* unordered: index into j->order */
	size_t sub; /* unordered: item within that task */
	struct pool_terr last;
};

static char *dupstr(const char *s)
{
	return strdup(s != NULL ? s : "");
}

static void terr_set(struct pool_terr *e, int rv, int code, const char *origin,
                     const char *message)
{
	free(e->origin);
	free(e->message);
	e->rv = rv;
	e->code = code;
	e->origin = dupstr(origin);
	e->message = dupstr(message);
}

void tp__pool_err_public(const struct pool_terr *e, tp_pool_error *out)
{
	int c = e->code;
	*out = (tp_pool_error){c, e->origin, e->message, e->rv, 0, 0};
	if (e->rv != TP_EDIED)
		return;
	out->code = TP_EDIED;
	if ((c & ~0x1ff) != TP__POOL_DEATH_FLAG)
		return; /* no death of its own */
	out->signal = c & 0x100 ? c & 0xff : 0;
	out->exitcode = c & 0x100 ? -out->signal : c & 0xff;
}

static void terr_clear(struct pool_terr *e)
{
	free(e->origin);
	free(e->message);
	memset(e, 0, sizeof(*e));
}

int tp__pool_job_new(struct tp_pool_result **out, enum pool_kind kind,
                     const char *func, size_t n, size_t chunksize)
{
	struct tp_pool_result *j;
	pthread_condattr_t ca;
	size_t cs = chunksize ? chunksize : 1, nt = (n + cs - 1) / cs;
	/* One block: the job, then per task its place in the finishing
	 * order and its done flag. */
	size_t sz = sizeof(*j) + (nt + 1) * (sizeof(*j->order) + 1);
	if ((j = calloc(1, sz)) == NULL)
		return TP_ENOMEM;
	j->order = (size_t *)(j + 1);
	j->tdone = (unsigned char *)(j->order + nt + 1);
	j->kind = kind;
	j->n = n;
	j->chunksize = cs;
	j->ntasks = nt;
	j->refs = 1;
	j->func = func; /* a registered target's name: lives as long as the
	                   process */
	pthread_mutex_init(&j->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&j->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (nt == 0) {
		j->settled = j->ready = 1;
		if (kind != POOL_MAPINT && tp_payload_new(&j->value) != TP_OK) {
			tp__pool_job_unref(j);
			return TP_ENOMEM;
		}
	}
	*out = j;
	return TP_OK;
}

void tp__pool_job_ref(struct tp_pool_result *j)
{
	pthread_mutex_lock(&j->mu);
	j->refs++;
	pthread_mutex_unlock(&j->mu);
}

static void job_log_unseen(struct tp_pool_result *j)
{
	tp_pool_error e;
	tp__pool_err_public(&j->err, &e);
	fprintf(stderr,
	        "troupe: pool task failed and nobody read the error: %s: %s "
	        "(%s, code %d)\n",
	        e.origin ? e.origin : "?", e.message ? e.message : "",
	        tp_strerror(e.rv), e.code);
}

static void job_destroy(struct tp_pool_result *j)
{
	tp_payload_free(j->res);
	for (size_t i = 0; i < j->n && j->terr != NULL; i++)
		terr_clear(&j->terr[i]);
	free(j->terr);
	for (size_t i = 0; i < j->n && j->own_argv != NULL; i++)
		tp_payload_free(j->own_argv[i]);
	free(j->own_argv);
	tp_payload_free(j->own_items);
	if (j->seg_map != NULL) {
		munmap(j->seg_map, 2 * j->n * sizeof(int64_t));
		unlink(j->seg);
	}
	tp_payload_free(j->value);
	terr_clear(&j->err);
	pthread_mutex_destroy(&j->mu);
	pthread_cond_destroy(&j->cv);
	free(j);
}

void tp__pool_job_unref(struct tp_pool_result *j)
{
	int last;
	if (j == NULL)
		return;
	pthread_mutex_lock(&j->mu);
	last = --j->refs == 0;
	pthread_mutex_unlock(&j->mu);
	if (!last)
		return;
	if (j->failed && !j->observed)
		job_log_unseen(j);
	job_destroy(j);
}

/* The items' values become the result payload, in item order (packed
 * when they are all ints or all doubles). */
static void job_join(struct tp_pool_result *j)
{
	j->value = j->res;
	j->res = NULL;
}

/*
 * Every task is accounted for. Callers see the result ready at once, or,
 * when it has callbacks, only after they ran (tp__pool_job_notify), as
 * Python's AsyncResult runs its callback before get() returns.
 */
static void job_settle(struct tp_pool_result *j)
{
	j->settled = 1;
	/* With a progress function, a blocking map returns after its last
	 * call (tp__pool_job_notify then makes it ready). */
	if (j->iter != POOL_NOITER ||
	    (j->callback == NULL && j->error_callback == NULL &&
	     j->progress == NULL))
		j->ready = 1;
}

/* Results' slots of at least this many bytes are offered to waiters to
 * fault in; each claim is one step. */
#define PF_MIN  ((size_t)2 << 20)
#define PF_STEP ((size_t)1 << 20)

/* j->res just got its n slots (form k): offers them to a waiting caller
 * (j->mu held). */
static void job_prefault_offer(struct tp_pool_result *j, unsigned k)
{
	size_t es = k == TP__PK_GEN ? sizeof(struct tp_value) : 8;
	if (j->n * es < PF_MIN || j->iter != POOL_NOITER)
		return;
	uintptr_t a = (uintptr_t)j->res->gv & ~(uintptr_t)4095;
	j->pf_base = (unsigned char *)a;
	j->pf_len = (uintptr_t)j->res->gv + j->n * es - a;
	j->pf_done = 0;
	j->pf_chunks = 0;
	if (k == TP__PK_GEN && j->items != NULL) {
		size_t c = j->items->vbytes / TP__POOL_OUT_CHUNK + 1;
		j->pf_chunks =
		    c > TP__POOL_SPARES_MAX ? TP__POOL_SPARES_MAX : (int)c;
	}
	pthread_cond_broadcast(&j->cv); /* once per job */
}

/* A waiter's step (j->mu held, released during it): faults in the next
 * PF_STEP of the results' slots, as the pool's thread would when it
 * stores results there, but on the waiter's CPU while the workers run.
 * Returns 0 when nothing is left to do. Harmless if the slots moved
 * (MADV_POPULATE_WRITE only faults pages in: it writes nothing). */
static int job_prefault(struct tp_pool_result *j)
{
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif
	if (j->pf_done >= j->pf_len) {
		if (j->pf_chunks <= 0)
			return 0;
		j->pf_chunks--;
		pthread_mutex_unlock(&j->mu);
		int made = tp__pool_out_spare_make();
		pthread_mutex_lock(&j->mu);
		if (!made)
			j->pf_chunks = 0;
		j->pf_made += made;
		return made;
	}
	unsigned char *at = j->pf_base + j->pf_done;
	size_t n =
	    j->pf_len - j->pf_done < PF_STEP ? j->pf_len - j->pf_done : PF_STEP;
	j->pf_done += n;
	pthread_mutex_unlock(&j->mu);
	int rv = madvise(at, n, MADV_POPULATE_WRITE);
	pthread_mutex_lock(&j->mu);
	if (rv != 0 && errno == EINVAL)
		j->pf_len = 0; /* a kernel without it: stop offering */
	return 1;
}

/* Stores a successful task's values; TP_EPROTO when they do not match. */
static int job_store(struct tp_pool_result *j, size_t first, size_t count,
                     const struct pool_outcome *o)
{
	struct tp__vread *vr = o->vr;
	switch (j->kind) {
	case POOL_MAPINT:
		if (o->ints == NULL || o->nints != count)
			return TP_EPROTO;
		memcpy(j->ints_out + first, o->ints, count * sizeof(*o->ints));
		return TP_OK;
	case POOL_APPLY:
		if (vr == NULL)
			return TP_EPROTO;
		if (tp_payload_new(&j->value) != TP_OK ||
		    tp__payload_vread(j->value, vr, vr->count) != TP_OK)
			return TP_ENOMEM;
		return TP_OK;
	default:
		if (vr == NULL || vr->count != count || j->res == NULL ||
		    first + count > j->n)
			return TP_EPROTO;
		/* the first chunk stored picks the results' form */
		if (j->res->count == 0) {
			unsigned k = tp__vread_kind(vr);
			if (tp__payload_slots(j->res, j->n, k) != TP_OK)
				return TP_ENOMEM;
			job_prefault_offer(j, k);
		}
		return tp__payload_vread_at(j->res, first, vr, count);
	}
}

/* Item i failed (rv, code, origin, message): an iterator yields the error
 * at that item; anything else fails the whole job with it. Returns 1 when
 * the job became settled. */
static int job_item_failed(struct tp_pool_result *j, size_t i, int rv, int code,
                           const char *origin, const char *message)
{
	if (j->iter != POOL_NOITER) {
		if (j->terr == NULL)
			j->terr = calloc(j->n + 1, sizeof(*j->terr));
		if (j->terr != NULL && i < j->n)
			terr_set(&j->terr[i], rv, code, origin, message);
		return 0;
	}
	if (j->settled)
		return 0;
	terr_set(&j->err, rv, code, origin, message);
	j->failed = 1;
	job_settle(j);
	return 1;
}

/* The failed calls of a task whose other calls succeeded. */
static int job_item_errors(struct tp_pool_result *j, size_t first, size_t count,
                           const struct pool_outcome *o)
{
	int became = 0;
	for (size_t e = 0; e < o->nierr; e++) {
		const Troupe__PoolItemError *ie = o->ierr[e];
		const Troupe__Error *er = ie->error;
		if (ie->item >= count || er == NULL)
			continue;
		int c = er->code;
		became |= job_item_failed(
		    j, first + ie->item, c < 0 ? -c : TP_EREMOTE,
		    c < 0 ? -c : c, er->origin, er->message);
	}
	return became;
}

int tp__pool_job_task_done(struct tp_pool_result *j, size_t t, size_t first,
                           size_t count, const struct pool_outcome *o)
{
	int became = 0, rv = o->rv, code = o->code;
	const char *message = o->message;
	pthread_mutex_lock(&j->mu);
	if (j->settled || t >= j->ntasks || j->tdone[t]) {
		pthread_mutex_unlock(&j->mu);
		return 0;
	}
	if (rv == TP_OK && (rv = job_store(j, first, count, o)) != TP_OK) {
		code = rv;
		message = rv == TP_ENOMEM ? "out of memory storing a result"
		                          : "malformed result from the worker";
	}
	j->tdone[t] = 1;
	j->tasks_done++;
	j->items_done += count;
	j->order[j->norder++] = t;
	if (rv != TP_OK) {
		for (size_t i = first; i < first + count; i++)
			if (job_item_failed(j, i, rv, code, o->origin, message))
				became = 1;
	} else {
		became = job_item_errors(j, first, count, o);
	}
	if (!j->settled && j->tasks_done == j->ntasks) {
		if (j->iter == POOL_NOITER &&
		    (j->kind == POOL_MAP || j->kind == POOL_STARMAP))
			job_join(j);
		became = 1;
		job_settle(j);
	}
	/* Only an iterator's waiters wait for a task; the others wait for
	 * ready, and a broadcast per task woke a blocking map's caller
	 * (which takes a CPU from a worker) at every batch of results. */
	if (j->iter != POOL_NOITER || j->ready)
		pthread_cond_broadcast(&j->cv);
	if (j->progress != NULL)
		became |= 2;
	pthread_mutex_unlock(&j->mu);
	return became;
}

int tp__pool_job_fail(struct tp_pool_result *j, int rv, const char *origin,
                      const char *message)
{
	pthread_mutex_lock(&j->mu);
	if (j->ready) {
		pthread_mutex_unlock(&j->mu);
		return 0;
	}
	if (j->iter != POOL_NOITER) {
		if (j->terr == NULL)
			j->terr = calloc(j->n + 1, sizeof(*j->terr));
		for (size_t t = 0; t < j->ntasks; t++) {
			if (j->tdone[t])
				continue;
			j->tdone[t] = 1;
			j->tasks_done++;
			j->order[j->norder++] = t;
			for (size_t i = t * j->chunksize;
			     j->terr != NULL && i < j->n &&
			     i < (t + 1) * j->chunksize;
			     i++)
				terr_set(&j->terr[i], rv, rv, origin, message);
		}
	} else {
		terr_set(&j->err, rv, rv, origin, message);
		j->failed = 1;
	}
	job_settle(j);
	pthread_cond_broadcast(&j->cv);
	pthread_mutex_unlock(&j->mu);
	return 1;
}

int tp__pool_job_settled(struct tp_pool_result *j)
{
	int r;
	pthread_mutex_lock(&j->mu);
	r = j->settled;
	pthread_mutex_unlock(&j->mu);
	return r;
}

static void job_callbacks(struct tp_pool_result *j);

/* Tells the progress function of every item finished since last time,
 * one call per item. Runs in the pool's thread only, so in order. */
static void job_progress(struct tp_pool_result *j)
{
	tp_pool_progress_fn progress;
	size_t done, total, told;
	pthread_mutex_lock(&j->mu);
	progress = j->progress;
	done = j->items_done;
	total = j->n;
	told = j->progress_told;
	j->progress_told = done;
	pthread_mutex_unlock(&j->mu);
	for (size_t d = told + 1; progress != NULL && d <= done; d++)
		progress(d, total, j->progress_arg);
}

void tp__pool_job_notify(struct tp_pool_result *j, int became_ready)
{
	job_progress(j);
	if (!became_ready || j->iter != POOL_NOITER)
		return;
	job_callbacks(j);
	pthread_mutex_lock(&j->mu);
	j->ready = 1;
	pthread_cond_broadcast(&j->cv);
	pthread_mutex_unlock(&j->mu);
}

static void job_callbacks(struct tp_pool_result *j)
{
	if (j->failed) {
		tp_pool_error e;
		tp__pool_err_public(&j->err, &e);
		if (j->error_callback != NULL) {
			pthread_mutex_lock(&j->mu);
			j->observed = 1;
			pthread_mutex_unlock(&j->mu);
			if (j->error_callback(&e, j->arg) != 0)
				fprintf(stderr, "troupe: pool error_callback "
				                "failed (ignored)\n");
		}
	} else if (j->callback != NULL) {
		if (j->callback(j->value, j->arg) != 0)
			fprintf(stderr,
			        "troupe: pool callback failed (ignored)\n");
	}
}

/* Waits (j->mu held) until pred holds or the deadline passes. */
static int job_wait_locked(struct tp_pool_result *j, int (*pred)(void *),
                           void *arg, int timeout_ms)
{
	struct timespec dl;
	tp__deadline_ts(&dl, timeout_ms);
	while (!pred(arg)) {
		if ((timeout_ms < 0 || !tp__ts_expired(&dl)) && job_prefault(j))
			continue;
		if (timeout_ms < 0) {
			pthread_cond_wait(&j->cv, &j->mu);
		} else if (pthread_cond_timedwait(&j->cv, &j->mu, &dl) ==
		           ETIMEDOUT) {
			return pred(arg) ? TP_OK : TP_ETIMEDOUT;
		}
	}
	return TP_OK;
}

static int pred_ready(void *arg)
{
	return ((struct tp_pool_result *)arg)->ready;
}

/* Unlocks r after a wait; a map whose waiter made spare chunks gives
 * back what it did not use once it is ready. */
static void job_wait_done(struct tp_pool_result *r)
{
	int made = r->ready ? r->pf_made : 0;
	pthread_mutex_unlock(&r->mu);
	if (made > 0)
		tp__pool_out_spares_trim();
}

int tp_pool_result_wait(tp_pool_result *r, int timeout_ms)
{
	int rv;
	if (r == NULL)
		return TP_EINVAL;
	pthread_mutex_lock(&r->mu);
	rv = job_wait_locked(r, pred_ready, r, timeout_ms);
	job_wait_done(r);
	return rv;
}

int tp_pool_result_get(tp_pool_result *r, tp_payload **out, int timeout_ms)
{
	int rv;
	if (r == NULL)
		return TP_EINVAL;
	if (out != NULL)
		*out = NULL;
	pthread_mutex_lock(&r->mu);
	rv = job_wait_locked(r, pred_ready, r, timeout_ms);
	if (rv == TP_OK && r->failed) {
		r->observed = 1;
		rv = r->err.rv;
	} else if (rv == TP_OK && out != NULL && r->value != NULL) {
		rv = tp_payload_copy(r->value, out);
	}
	job_wait_done(r);
	return rv;
}

int tp_pool_result_ready(tp_pool_result *r)
{
	int ready;
	if (r == NULL)
		return 0;
	pthread_mutex_lock(&r->mu);
	ready = r->ready;
	pthread_mutex_unlock(&r->mu);
	return ready;
}

int tp_pool_result_successful(tp_pool_result *r, int *ok)
{
	int rv = TP_OK;
	if (r == NULL || ok == NULL)
		return TP_EINVAL;
	pthread_mutex_lock(&r->mu);
	if (!r->ready) {
		rv = TP_ESTATE;
	} else {
		r->observed = 1;
		*ok = !r->failed;
	}
	pthread_mutex_unlock(&r->mu);
	return rv;
}

int tp_pool_result_err(tp_pool_result *r, tp_pool_error *err)
{
	int rv = TP_OK;
	if (r == NULL || err == NULL)
		return TP_EINVAL;
	pthread_mutex_lock(&r->mu);
	if (!r->ready || !r->failed) {
		rv = TP_ESTATE;
	} else {
		r->observed = 1;
		tp__pool_err_public(&r->err, err);
	}
	pthread_mutex_unlock(&r->mu);
	return rv;
}

int tp_pool_result_progress(tp_pool_result *r, size_t *done, size_t *total)
{
	if (r == NULL)
		return TP_EINVAL;
	pthread_mutex_lock(&r->mu);
	if (done != NULL)
		*done = r->items_done;
	if (total != NULL)
		*total = r->n;
	pthread_mutex_unlock(&r->mu);
	return TP_OK;
}

int tp_pool_result_on_progress(tp_pool_result *r, tp_pool_progress_fn fn,
                               void *arg)
{
	size_t done, total;
	if (r == NULL)
		return TP_EINVAL;
	pthread_mutex_lock(&r->mu);
	r->progress = fn;
	r->progress_arg = arg;
	done = r->items_done;
	total = r->n;
	r->progress_told = done;
	pthread_mutex_unlock(&r->mu);
	if (fn != NULL)
		fn(done, total, arg);
	return TP_OK;
}

void tp_pool_result_free(tp_pool_result *r)
{
	tp__pool_job_unref(r);
}

/* ---- imap iterators ---- */

int tp__pool_iter_new(tp_pool_iter **out, struct tp_pool_result *j)
{
	tp_pool_iter *it = calloc(1, sizeof(*it));
	if (it == NULL)
		return TP_ENOMEM;
	it->j = j;
	*out = it;
	return TP_OK;
}

struct iter_wait {
	struct tp_pool_result *j;
	size_t t;  /* ordered: the task needed */
	size_t oi; /* unordered: the order slot needed */
	int unordered;
};

static int pred_iter(void *arg)
{
	struct iter_wait *w = arg;
	return w->unordered ? w->j->norder > w->oi : w->j->tdone[w->t];
}

/* Yields item `item` of task t (j->mu held). */
static int iter_take(tp_pool_iter *it, size_t t, size_t item,
                     tp_payload **value, size_t *index)
{
	struct tp_pool_result *j = it->j;
	if (index != NULL)
		*index = item;
	(void)t;
	if (j->terr != NULL && j->terr[item].rv != TP_OK) {
		struct pool_terr *e = &j->terr[item];
		terr_set(&it->last, e->rv, e->code, e->origin, e->message);
		return e->rv;
	}
	if (j->res == NULL || item >= j->res->count ||
	    tp_payload_new(value) != TP_OK ||
	    tp__payload_move_value(*value, j->res, item) != TP_OK) {
		tp_payload_free(*value);
		*value = NULL;
		return j->res == NULL || item >= j->res->count ? TP_EPROTO
		                                               : TP_ENOMEM;
	}
	return TP_OK;
}

int tp_pool_iter_next(tp_pool_iter *it, tp_payload **value, size_t *index,
                      int timeout_ms)
{
	struct tp_pool_result *j;
	struct iter_wait w;
	size_t t, item;
	int rv;
	if (it == NULL || value == NULL)
		return TP_EINVAL;
	*value = NULL;
	j = it->j;
	pthread_mutex_lock(&j->mu);
	if (it->pos >= j->n) {
		pthread_mutex_unlock(&j->mu);
		return TP_ENOENT;
	}
	w.j = j;
	w.unordered = j->iter == POOL_UNORDERED;
	w.oi = it->oi;
	w.t = it->pos / j->chunksize;
	rv = job_wait_locked(j, pred_iter, &w, timeout_ms);
	if (rv != TP_OK) {
		pthread_mutex_unlock(&j->mu);
		return rv;
	}
	if (w.unordered) {
		t = j->order[it->oi];
		item = t * j->chunksize + it->sub;
		size_t cnt = j->n - t * j->chunksize;
		if (cnt > j->chunksize)
			cnt = j->chunksize;
		if (++it->sub == cnt) {
			it->sub = 0;
			it->oi++;
		}
	} else {
		t = w.t;
		item = it->pos;
	}
	it->pos++;
	rv = iter_take(it, t, item, value, index);
	pthread_mutex_unlock(&j->mu);
	return rv;
}

int tp_pool_iter_err(const tp_pool_iter *it, tp_pool_error *err)
{
	if (it == NULL || err == NULL)
		return TP_EINVAL;
	if (it->last.rv == TP_OK)
		return TP_ESTATE;
	tp__pool_err_public(&it->last, err);
	return TP_OK;
}

void tp_pool_iter_free(tp_pool_iter *it)
{
	if (it == NULL)
		return;
	/* An iterator reads every error it returns: nothing unseen. */
	pthread_mutex_lock(&it->j->mu);
	it->j->observed = 1;
	pthread_mutex_unlock(&it->j->mu);
	tp__pool_job_unref(it->j);
	terr_clear(&it->last);
	free(it);
}
