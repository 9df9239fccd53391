/*
 * pool_worker.c - the pool worker: the target every pool process runs.
 *
 * The worker dials its pool's pair1 socket, runs the initializer, says
 * hello, then runs the batches of tasks it receives in order. Before each
 * task it writes the task's id into its slot of the pool's shared segment,
 * so that if it dies the supervisor knows exactly which task was running.
 * Results are batched: they are sent when the inbox is empty, when many
 * are waiting, or when the oldest has waited a millisecond, so the parent
 * pays one message per batch, not per task. Integer maps take a packed
 * path that reuses one argument and one result payload for every call.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>

#include "log_int.h"
#include "payload_int.h"
#include "pool_int.h"
#include "runtime_int.h"
#include "troupe/error.h"
#include "wire.h"

#define FLUSH_RESULTS 256
#define FLUSH_NS      1000000.0

struct wresult {
	uint64_t id;
	int failed;
	int code;
	char *origin, *message;
	tp_payload *values;
	int64_t *ints;
	size_t nints;
	uint64_t ns;
	int in_seg;
};

struct wstate {
	nng_socket sock;
	const char *name;
	struct pool_slot *slot;
	struct wresult *res;
	size_t nres, cap;
	double first_t;
	uint64_t done;
	tp_payload *args, *result;
	char seg[256]; /* the int map segment mapped now ("" if none) */
	int64_t *seg_map;
	size_t seg_size;
};

static char fail_msg[1024];
static int fail_set;

int tp_task_fail(tp_payload *result, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(fail_msg, sizeof(fail_msg), fmt, ap);
	va_end(ap);
	fail_set = 1;
	tp_payload_clear(result);
	return TP_EREMOTE;
}

static int worker_flush(struct wstate *ws)
{
	Troupe__PoolResults rs = TROUPE__POOL_RESULTS__INIT;
	Troupe__Envelope env = TROUPE__ENVELOPE__INIT;
	Troupe__PoolResult *r = calloc(ws->nres + 1, sizeof(*r));
	Troupe__PoolResult **rp = calloc(ws->nres + 1, sizeof(*rp));
	Troupe__Payload *pb = calloc(ws->nres + 1, sizeof(*pb));
	Troupe__Error *er = calloc(ws->nres + 1, sizeof(*er));
	int rv = TP_ENOMEM;
	if (ws->nres == 0)
		rv = TP_OK;
	else /* the tasks' records first: the pool may stop us after */
		tp__log_handoff(TP_LOG_HANDOFF_MS);
	if (r == NULL || rp == NULL || pb == NULL || er == NULL ||
	    ws->nres == 0)
		goto out;
	for (size_t i = 0; i < ws->nres; i++) {
		struct wresult *w = &ws->res[i];
		troupe__pool_result__init(&r[i]);
		troupe__payload__init(&pb[i]);
		rp[i] = &r[i];
		r[i].id = w->id;
		r[i].ns = w->ns;
		r[i].in_seg = w->in_seg;
		if (w->failed) {
			troupe__error__init(&er[i]);
			er[i].code = w->code;
			er[i].origin = w->origin;
			er[i].message = w->message;
			r[i].error = &er[i];
		} else if (w->values != NULL) {
			tp__payload_to_pb(w->values, &pb[i]);
			r[i].values = &pb[i];
		} else {
			r[i].ints.data = (uint8_t *)w->ints;
			r[i].ints.len = w->nints * sizeof(int64_t);
		}
	}
	rs.n_results = ws->nres;
	rs.results = rp;
	env.body_case = TROUPE__ENVELOPE__BODY_POOL_RESULTS;
	env.pool_results = &rs;
	rv = tp__pool_send(ws->sock, &env, 0);
	for (size_t i = 0; i < ws->nres; i++)
		tp__payload_pb_release(&pb[i]);
out:
	for (size_t i = 0; i < ws->nres; i++) {
		struct wresult *w = &ws->res[i];
		free(w->origin);
		free(w->message);
		free(w->ints);
		tp_payload_free(w->values);
	}
	ws->nres = 0;
	free(r);
	free(rp);
	free(pb);
	free(er);
	return rv;
}

static struct wresult *worker_slot_new(struct wstate *ws, uint64_t id)
{
	if (ws->nres == ws->cap) {
		size_t cap = ws->cap ? ws->cap * 2 : 64;
		struct wresult *r = realloc(ws->res, cap * sizeof(*r));
		if (r == NULL)
			return NULL;
		ws->res = r;
		ws->cap = cap;
	}
	if (ws->nres == 0)
		ws->first_t = tp__pool_now();
	struct wresult *w = &ws->res[ws->nres++];
	memset(w, 0, sizeof(*w));
	w->id = id;
	return w;
}

static void worker_fail(struct wresult *w, const struct wstate *ws,
                        const Troupe__PoolTask *t, size_t item, int code,
                        const char *msg)
{
	char origin[256];
	snprintf(origin, sizeof(origin),
	         "%s (pid %d), task %llu (%s, item %zu)", ws->name,
	         (int)getpid(), (unsigned long long)t->id, t->func, item);
	tp_payload_free(w->values);
	free(w->ints);
	w->values = NULL;
	w->ints = NULL;
	w->failed = 1;
	w->code = code;
	w->origin = strdup(origin);
	if (msg == NULL && fail_set)
		msg = fail_msg;
	if (msg == NULL) {
		snprintf(fail_msg, sizeof(fail_msg), "%s returned %d", t->func,
		         code);
		msg = fail_msg;
	}
	w->message = strdup(msg);
}

static void seg_release(struct wstate *ws)
{
	if (ws->seg_map != NULL)
		munmap(ws->seg_map, ws->seg_size);
	ws->seg_map = NULL;
	ws->seg[0] = '\0';
}

/* Maps the task's segment (kept while the next tasks use the same one). */
static int64_t *seg_get(struct wstate *ws, const char *path)
{
	void *base;
	if (ws->seg_map != NULL && strcmp(ws->seg, path) == 0)
		return ws->seg_map;
	seg_release(ws);
	if (tp__pool_file_attach(path, &base, &ws->seg_size) != TP_OK)
		return NULL;
	snprintf(ws->seg, sizeof(ws->seg), "%s", path);
	ws->seg_map = base;
	return ws->seg_map;
}

/* A large int map: read the inputs and write the results in the shared
 * segment, no copy through messages. */
static void worker_run_seg(struct wstate *ws, tp_target_fn fn,
                           const Troupe__PoolTask *t, struct wresult *w)
{
	tp_payload *a = ws->args, *r = ws->result;
	int64_t *map = seg_get(ws, t->seg);
	size_t n = ws->seg_size / (2 * sizeof(int64_t));
	if (map == NULL || t->first + t->count > n) {
		worker_fail(w, ws, t, 0, -TP_EPROTO, "bad int map segment");
		return;
	}
	const int64_t *in = map + t->first;
	int64_t *out = map + n + t->first;
	for (size_t i = 0; i < t->count; i++) {
		a->values[0].i = in[i];
		int rc = fn(a, r);
		if (rc != 0) {
			worker_fail(w, ws, t, i, rc, NULL);
			return;
		}
		if (r->count < 1 || r->values[0].type != TP_TINT) {
			worker_fail(w, ws, t, i, -TP_ETYPE,
			            "the result is not an integer");
			return;
		}
		out[i] = r->values[0].i;
		if (r->count == 1)
			r->count = 0;
		else
			tp_payload_clear(r);
	}
	w->in_seg = 1;
}

/* A general map's int task met a result that is not an int: the first k
 * results so far become values. */
static int ints_to_values(struct wresult *w, size_t k)
{
	if (tp_payload_new(&w->values) != TP_OK)
		return 0;
	for (size_t j = 0; j < k; j++)
		if (tp_payload_add_int(w->values, w->ints[j]) != TP_OK)
			return 0;
	return 1;
}

/* Keeps the first value of r (none if empty) as the next result. */
static int ints_keep_value(struct wresult *w, tp_payload *r)
{
	if (r->count == 0)
		return tp_payload_add_none(w->values) == TP_OK;
	size_t before = w->values->count;
	tp__pool_value_move(w->values, r, 0);
	tp_payload_clear(r);
	return w->values->count == before + 1;
}

/* The packed integer path: one reused args and result payload. */
static void worker_run_ints(struct wstate *ws, tp_target_fn fn,
                            const Troupe__PoolTask *t, struct wresult *w)
{
	tp_payload *a = ws->args, *r = ws->result;
	size_t n = t->ints.len / sizeof(int64_t);
	const uint8_t *in = t->ints.data; /* maybe unaligned */
	w->ints = malloc((n + 1) * sizeof(*w->ints));
	if (w->ints == NULL) {
		worker_fail(w, ws, t, 0, -TP_ENOMEM, "out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		memcpy(&a->values[0].i, in + i * 8, sizeof(int64_t));
		int rc = fn(a, r);
		if (rc != 0) {
			worker_fail(w, ws, t, i, rc, NULL);
			return;
		}
		if (w->values != NULL) { /* general results: keep values */
			if (!ints_keep_value(w, r)) {
				worker_fail(w, ws, t, i, -TP_ENOMEM,
				            "out of memory");
				return;
			}
			continue;
		}
		if (r->count < 1 || r->values[0].type != TP_TINT) {
			if (!t->any_result) {
				worker_fail(w, ws, t, i, -TP_ETYPE,
				            "the result is not an integer");
				return;
			}
			if (!ints_to_values(w, i) || !ints_keep_value(w, r)) {
				worker_fail(w, ws, t, i, -TP_ENOMEM,
				            "out of memory");
				return;
			}
			continue;
		}
		w->ints[i] = r->values[0].i;
		if (r->count == 1) /* an int owns no memory: just forget it */
			r->count = 0;
		else
			tp_payload_clear(r);
	}
	if (w->values != NULL) {
		free(w->ints);
		w->ints = NULL;
	} else {
		w->nints = n;
	}
}

static void worker_run_items(struct wstate *ws, tp_target_fn fn,
                             const Troupe__PoolTask *t, struct wresult *w)
{
	if (tp_payload_new(&w->values) != TP_OK)
		goto nomem;
	for (size_t i = 0; i < t->n_items; i++) {
		tp_payload *args = NULL, *r = ws->result;
		int rc = tp__payload_from_pb(t->items[i], &args);
		if (rc != TP_OK) {
			worker_fail(w, ws, t, i, -rc, "bad arguments");
			return;
		}
		rc = fn(args, r);
		tp_payload_free(args);
		if (rc != 0) {
			worker_fail(w, ws, t, i, rc, NULL);
			return;
		}
		if (t->whole) {
			tp_payload_free(w->values);
			w->values = r;
			if (tp_payload_new(&ws->result) != TP_OK)
				goto nomem;
		} else if (r->count > 0) {
			tp__pool_value_move(w->values, r, 0);
			tp_payload_clear(r);
		} else if (tp_payload_add_none(w->values) != TP_OK) {
			goto nomem;
		}
	}
	return;
nomem:
	worker_fail(w, ws, t, 0, -TP_ENOMEM, "out of memory");
}

static int worker_task(struct wstate *ws, const Troupe__PoolTask *t)
{
	struct wresult *w = worker_slot_new(ws, t->id);
	tp_target_fn fn;
	double t0 = tp__pool_now();
	if (w == NULL)
		return TP_ENOMEM;
	atomic_store(&ws->slot->current, t->id + 1);
	fail_set = 0;
	fn = tp__pool_target_find(t->func);
	if (fn == NULL)
		worker_fail(w, ws, t, 0, -TP_ENOTREG, "no such target");
	else if (t->seg[0] != '\0')
		worker_run_seg(ws, fn, t, w);
	else if (t->is_int)
		worker_run_ints(ws, fn, t, w);
	else
		worker_run_items(ws, fn, t, w);
	atomic_store(&ws->slot->current, 0);
	w->ns = (uint64_t)((tp__pool_now() - t0) * 1e9);
	ws->done++;
	if (ws->nres >= FLUSH_RESULTS ||
	    (tp__pool_now() - ws->first_t) * 1e9 >= FLUSH_NS)
		return worker_flush(ws);
	return TP_OK;
}

/* Handles one message; returns 1 when the worker must exit. */
static int worker_handle(struct wstate *ws, nng_msg *m)
{
	Troupe__Envelope *env = NULL;
	int rv = tp__envelope_unpack(nng_msg_body(m), nng_msg_len(m), 0, &env);
	nng_msg_free(m);
	if (rv != TP_OK)
		return 1;
	if (env->body_case == TROUPE__ENVELOPE__BODY_POOL_STOP) {
		tp__envelope_free(env);
		return 1;
	}
	if (env->body_case == TROUPE__ENVELOPE__BODY_POOL_TASKS) {
		Troupe__PoolTasks *ts = env->pool_tasks;
		for (size_t i = 0; i < ts->n_tasks; i++) {
			if (worker_task(ws, ts->tasks[i]) != TP_OK) {
				rv = 1;
				break;
			}
		}
	}
	tp__envelope_free(env);
	return rv != TP_OK;
}

static void worker_loop(struct wstate *ws)
{
	for (;;) {
		nng_msg *m;
		int flags = ws->nres > 0 ? NNG_FLAG_NONBLOCK : 0;
		if (flags == 0) /* going idle: let the segment go */
			seg_release(ws);
		int rv = nng_recvmsg(ws->sock, &m, flags);
		if (rv == NNG_EAGAIN) {
			if (worker_flush(ws) != TP_OK)
				return;
			continue;
		}
		if (rv != 0)
			return;
		if (worker_handle(ws, m))
			return;
	}
}

static int worker_hello(struct wstate *ws, int rc, const char *msg)
{
	Troupe__PoolHello h = TROUPE__POOL_HELLO__INIT;
	Troupe__Envelope env = TROUPE__ENVELOPE__INIT;
	Troupe__Error er = TROUPE__ERROR__INIT;
	h.pid = (int32_t)getpid();
	h.name = (char *)ws->name;
	if (rc != 0) {
		er.code = rc;
		er.origin = (char *)ws->name;
		er.message = (char *)msg;
		h.error = &er;
	}
	env.body_case = TROUPE__ENVELOPE__BODY_POOL_HELLO;
	env.pool_hello = &h;
	return tp__pool_send(ws->sock, &env, 0);
}

static int worker_init(struct wstate *ws, const char *init_name,
                       const void *ibuf, size_t ilen)
{
	tp_target_fn init;
	tp_payload *iargs = NULL, *ires = NULL;
	int rc;
	if (init_name[0] == '\0')
		return worker_hello(ws, 0, NULL);
	init = tp__pool_target_find(init_name);
	if (init == NULL)
		return worker_hello(ws, TP_ENOTREG, "initializer not found");
	if (tp_payload_decode(ibuf, ilen, 0, &iargs) != TP_OK ||
	    tp_payload_new(&ires) != TP_OK) {
		tp_payload_free(iargs);
		return worker_hello(ws, TP_EDECODE, "bad initargs");
	}
	fail_set = 0;
	rc = init(iargs, ires);
	tp_payload_free(iargs);
	tp_payload_free(ires);
	if (rc != 0) {
		worker_hello(ws, rc,
		             fail_set ? fail_msg : "initializer failed");
		return TP_EREMOTE;
	}
	return worker_hello(ws, 0, NULL);
}

/*
 * args: address, name, shm name, slot, initializer, initargs. The worker
 * exits only when the pool sends Stop (or the socket fails), so nothing it
 * sent is dropped by closing the socket early; recycling after
 * maxtasksperchild is the pool's decision, not the worker's.
 */
int tp__pool_worker(const tp_payload *args, tp_payload *result)
{
	struct wstate ws = {0};
	const char *addr, *shm, *init_name;
	const void *ibuf;
	size_t ilen, shm_size;
	int64_t slot;
	void *base = NULL;
	int rv = 1;
	(void)result;
	if (tp_payload_get_string(args, 0, &addr) ||
	    tp_payload_get_string(args, 1, &ws.name) ||
	    tp_payload_get_string(args, 2, &shm) ||
	    tp_payload_get_int(args, 3, &slot) ||
	    tp_payload_get_string(args, 4, &init_name) ||
	    tp_payload_get_bytes(args, 5, &ibuf, &ilen))
		return 2;
	if (tp__pool_file_attach(shm, &base, &shm_size) != TP_OK ||
	    (size_t)(slot + 1) * sizeof(struct pool_slot) > shm_size)
		return 3;
	ws.slot = (struct pool_slot *)base + slot;
	if (tp_payload_new(&ws.args) || tp_payload_new(&ws.result) ||
	    tp_payload_add_int(ws.args, 0))
		goto out;
	tp__nng_used(); /* this process cannot fork children any more */
	if (nng_pair1_open(&ws.sock) != 0)
		goto out;
	nng_socket_set_size(ws.sock, NNG_OPT_RECVMAXSZ, 0);
	nng_socket_set_int(ws.sock, NNG_OPT_RECVBUF, 16);
	nng_socket_set_int(ws.sock, NNG_OPT_SENDBUF, 16);
	if (nng_dial(ws.sock, addr, NULL, 0) == 0) {
		/* A failed initializer is reported in the hello; the pool
		 * then sends Stop, so the report is never cut off. */
		rv = worker_init(&ws, init_name, ibuf, ilen) == TP_OK ? 0 : 4;
		worker_loop(&ws);
		worker_flush(&ws);
	}
	nng_close(ws.sock);
out:
	seg_release(&ws);
	free(ws.res);
	tp_payload_free(ws.args);
	tp_payload_free(ws.result);
	if (base != NULL)
		munmap(base, shm_size);
	return rv;
}
TP_TARGET(tp__pool_worker);
