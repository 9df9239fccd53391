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
#include <malloc.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>

#include "clock.h"
#include "log_int.h"
#include "payload_int.h"
#include "pool_int.h"
#include "process_int.h"
#include "runtime_int.h"
#include "troupe/error.h"
#include "wire.h"

#define FLUSH_RESULTS 256
#define FLUSH_NS      1000000.0

/* A call of a task that failed while the task's other calls went on. */
struct witem_err {
	size_t res; /* index of its task's result */
	uint64_t item;
	int code;
	char *origin, *message;
};

struct wresult {
	uint64_t id;
	int failed;
	int code;
	char *origin, *message;
	int64_t *ints; /* map_int */
	size_t nints;
	struct tp__cols_pos a, b; /* its values in ws->out */
	uint64_t ns;
	int in_seg;
};

struct wstate {
	nng_socket sock;
	const char *name;
	struct pool_slot *slot;
	struct wresult *res;
	size_t nres, cap;
	struct witem_err *ierr;
	size_t nierr, ierr_cap;
	struct tp__cols out; /* the values of every result not yet sent */
	size_t kept; /* references to batch held by cleared values (a task's) */
	double first_t;
	uint64_t done;
	tp_payload *iargs, *args, *result;
	char seg[256]; /* the int map segment mapped now ("" if none) */
	int64_t *seg_map;
	size_t seg_size;
	size_t max_msg;             /* the most bytes of one task's results */
	struct tp__blob *batch;     /* holds the batch's message */
	struct tp__pool_wring ring; /* the run's batch ring, once used */
	/* The run's local channel (pool_fast.c), connected at the first
	 * batch; -1 none (nng carries everything). */
	const char *addr;
	int fast, fast_tried, nngfd;
	int stopped; /* the pool sent Stop */
};

/* The message of the last tp_task_fail, whole (see TP_TASK_MSG_MAX). */
static char *fail_msg;
static int fail_set;

/* Formats into a new string; a message over TP_TASK_MSG_MAX bytes is cut
 * there and says so. */
static char *msg_vformat(const char *fmt, va_list ap)
{
	va_list aq;
	va_copy(aq, ap);
	int n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0)
		return strdup("(unprintable task error message)");
	size_t len = (size_t)n, keep = len;
	char note[64] = "";
	if (len > TP_TASK_MSG_MAX) {
		snprintf(note, sizeof(note), " [... %zu more bytes cut]",
		         len - TP_TASK_MSG_MAX);
		keep = TP_TASK_MSG_MAX;
	}
	char *m = malloc(len + sizeof(note) + 1);
	if (m == NULL)
		return NULL;
	vsnprintf(m, len + 1, fmt, ap);
	memcpy(m + keep, note, strlen(note) + 1);
	return m;
}

int tp_task_fail(tp_payload *result, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(fail_msg);
	fail_msg = msg_vformat(fmt, ap);
	va_end(ap);
	fail_set = 1;
	tp_payload_clear(result);
	return TP_EREMOTE;
}

const char *tp__task_fail_message(int reset)
{
	const char *m = fail_set ? fail_msg : NULL;
	if (reset)
		fail_set = 0;
	return m;
}

/* Sends a batch of results: a large one through a result slot of the
 * run's ring once the worker maps it (pool_ring.c), else in a message. */
static int results_send(struct wstate *ws, const Troupe__Envelope *env)
{
	size_t len = protobuf_c_message_get_packed_size(&env->base);
	unsigned char *dst = NULL;
	uint32_t slot = 0;
	int rv;
	if (len >= TP__POOL_RING_MIN)
		dst = tp__pool_wring_take(&ws->ring, len, &slot);
	if (dst == NULL && ws->fast >= 0 && len <= TP__POOL_FAST_MAX) {
		/* on the run's local channel, in one record */
		unsigned char buf[TP__POOL_FAST_MAX];
		protobuf_c_message_pack(&env->base, buf);
		if (tp__pool_fast_send_bytes(ws->fast, buf, len) == TP_OK)
			return TP_OK;
	}
	if (dst == NULL) /* sized once: small batches are the common case */
		return tp__pool_send_sized(ws->sock, env, len, 0);
	Troupe__PoolTasksRing r = TROUPE__POOL_TASKS_RING__INIT;
	Troupe__Envelope e = TROUPE__ENVELOPE__INIT;
	protobuf_c_message_pack(&env->base, dst);
	r.ring = ws->ring.path;
	r.slot = slot;
	r.len = len;
	e.body_case = TROUPE__ENVELOPE__BODY_POOL_RESULTS_RING;
	e.pool_results_ring = &r;
	tp__pool_wring_mark(&ws->ring, slot, 1);
	if (ws->fast >= 0 && tp__pool_fast_send(ws->fast, TP__POOL_NOTE_RESULTS,
	                                        slot, len) == TP_OK)
		return TP_OK;
	if ((rv = tp__pool_send(ws->sock, &e, 0)) != TP_OK)
		tp__pool_wring_mark(&ws->ring, slot, 0);
	return rv;
}

static int worker_flush(struct wstate *ws)
{
	Troupe__PoolResults rs = TROUPE__POOL_RESULTS__INIT;
	Troupe__Envelope env = TROUPE__ENVELOPE__INIT;
	size_t n = ws->nres, ne = ws->nierr;
	Troupe__PoolResult *r = calloc(n + 1, sizeof(*r));
	Troupe__PoolResult **rp = calloc(n + 1, sizeof(*rp));
	Troupe__Values *vs = calloc(n + 1, sizeof(*vs));
	Troupe__Error *er = calloc(n + ne + 1, sizeof(*er));
	Troupe__PoolItemError *ie = calloc(ne + 1, sizeof(*ie));
	Troupe__PoolItemError **iep = calloc(ne + 1, sizeof(*iep));
	int rv = n == 0 ? TP_OK : TP_ENOMEM;
	if (n > 0) /* the tasks' records first: the pool may stop us after */
		tp__log_handoff(TP_LOG_HANDOFF_MS);
	if (r == NULL || rp == NULL || vs == NULL || er == NULL || ie == NULL ||
	    iep == NULL || n == 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct wresult *w = &ws->res[i];
		troupe__pool_result__init(&r[i]);
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
		} else if (w->ints != NULL || w->in_seg) {
			r[i].ints.data = (uint8_t *)w->ints;
			r[i].ints.len = w->nints * sizeof(int64_t);
		} else {
			tp__cols_to_pb(&ws->out, &w->a, &w->b, &vs[i]);
			r[i].values = &vs[i];
		}
	}
	for (size_t e = 0; e < ne; e++) { /* in result order */
		struct witem_err *x = &ws->ierr[e];
		Troupe__PoolResult *pr = &r[x->res];
		troupe__pool_item_error__init(&ie[e]);
		troupe__error__init(&er[n + e]);
		er[n + e].code = x->code;
		er[n + e].origin = x->origin;
		er[n + e].message = x->message;
		ie[e].item = x->item;
		ie[e].error = &er[n + e];
		iep[e] = &ie[e];
		if (pr->item_errors == NULL)
			pr->item_errors = &iep[e];
		pr->n_item_errors++;
	}
	rs.n_results = n;
	rs.results = rp;
	env.body_case = TROUPE__ENVELOPE__BODY_POOL_RESULTS;
	env.pool_results = &rs;
	rv = results_send(ws, &env);
out:
	for (size_t i = 0; i < n; i++) {
		free(ws->res[i].origin);
		free(ws->res[i].message);
		free(ws->res[i].ints);
	}
	for (size_t e = 0; e < ne; e++) {
		free(ws->ierr[e].origin);
		free(ws->ierr[e].message);
	}
	ws->nres = ws->nierr = 0;
	tp__cols_reset(&ws->out);
	free(r);
	free(rp);
	free(vs);
	free(er);
	free(ie);
	free(iep);
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
		ws->first_t = tp__now_s();
	struct wresult *w = &ws->res[ws->nres++];
	memset(w, 0, sizeof(*w));
	w->id = id;
	tp__cols_pos(&ws->out, &w->a);
	w->b = w->a;
	return w;
}

/* Why call `item` (its index in the whole map) failed: the origin, and the
 * message (the tp_task_fail text, or what the return value says). */
static void fail_text(const struct wstate *ws, const Troupe__PoolTask *t,
                      uint64_t item, int code, const char *msg, char **origin,
                      char **message)
{
	char o[512];
	snprintf(o, sizeof(o), "%s (pid %d), task %llu (%s, item %llu)",
	         ws->name, (int)getpid(), (unsigned long long)t->id, t->func,
	         (unsigned long long)item);
	*origin = strdup(o);
	if (msg == NULL && fail_set && fail_msg != NULL)
		msg = fail_msg;
	if (msg != NULL) {
		*message = strdup(msg);
		return;
	}
	int c = code < 0 ? -code : code;
	size_t len = strlen(t->func) + 128;
	if ((*message = malloc(len)) != NULL)
		snprintf(*message, len, "%s returned %d (%s)", t->func, code,
		         tp_strerror(c));
}

/* The whole task failed at its call i: no value of it is sent. */
static void worker_fail(struct wresult *w, struct wstate *ws,
                        const Troupe__PoolTask *t, size_t i, int code,
                        const char *msg)
{
	free(w->ints);
	w->ints = NULL;
	tp__cols_truncate(&ws->out, &w->a);
	w->b = w->a;
	w->failed = 1;
	w->code = code;
	fail_text(ws, t, t->item0 + i, code, msg, &w->origin, &w->message);
}

/* Call i of a map chunk failed: it alone fails (its value is a none). */
static int worker_item_fail(struct wstate *ws, const Troupe__PoolTask *t,
                            size_t i, int code)
{
	if (ws->nierr == ws->ierr_cap) {
		size_t cap = ws->ierr_cap ? ws->ierr_cap * 2 : 16;
		struct witem_err *e = realloc(ws->ierr, cap * sizeof(*e));
		if (e == NULL)
			return TP_ENOMEM;
		ws->ierr = e;
		ws->ierr_cap = cap;
	}
	struct witem_err *e = &ws->ierr[ws->nierr++];
	e->res = ws->nres - 1;
	e->item = i;
	e->code = code;
	fail_text(ws, t, t->item0 + i, code, NULL, &e->origin, &e->message);
	struct tp_value none = {.type = TP_TNONE};
	return tp__cols_add(&ws->out, &none);
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

static const char *type_word(const tp_payload *r)
{
	static const char *const names[] = {"none",   "int",   "double",
	                                    "string", "bytes", "message"};
	return r->count < 1 ? "nothing" : names[tp__payload_type_at(r, 0)];
}

/* A map_int result must be an integer: a clear TP_ETYPE otherwise. */
static int int_result(struct wresult *w, struct wstate *ws,
                      const Troupe__PoolTask *t, size_t i, tp_payload *r,
                      int64_t *out)
{
	char msg[256];
	if (r->count >= 1 && tp__payload_type_at(r, 0) == TP_TINT) {
		*out = tp__payload_int_at(r, 0);
		tp_payload_clear(r); /* packed ints: nothing to release */
		return 1;
	}
	snprintf(msg, sizeof(msg),
	         "%s returned %s where tp_pool_map_int needs an integer",
	         t->func, type_word(r));
	tp_payload_clear(r);
	worker_fail(w, ws, t, i, -TP_ETYPE, msg);
	return 0;
}

/* A large int map: read the inputs and write the results in the shared
 * segment, no copy through messages. */
static void worker_run_seg(struct wstate *ws, tp_target_fn fn,
                           const Troupe__PoolTask *t, struct wresult *w)
{
	tp_payload *a = ws->iargs, *r = ws->result;
	int64_t *map = seg_get(ws, t->seg);
	size_t n = ws->seg_size / (2 * sizeof(int64_t));
	if (map == NULL || t->first + t->count > n) {
		worker_fail(w, ws, t, 0, -TP_EPROTO, "bad int map segment");
		return;
	}
	const int64_t *in = map + t->first;
	int64_t *out = map + n + t->first;
	for (size_t i = 0; i < t->count; i++) {
		tp__payload_set_int(a, 0, in[i]);
		int rc = fn(a, r);
		if (rc != 0) {
			worker_fail(w, ws, t, i, rc, NULL);
			return;
		}
		if (!int_result(w, ws, t, i, r, &out[i]))
			return;
	}
	w->in_seg = 1;
}

/* map_int: one reused argument and result payload. */
static void worker_run_ints(struct wstate *ws, tp_target_fn fn,
                            const Troupe__PoolTask *t, struct wresult *w)
{
	tp_payload *a = ws->iargs, *r = ws->result;
	size_t n = t->ints.len / sizeof(int64_t);
	const uint8_t *in = t->ints.data; /* maybe unaligned */
	w->ints = malloc((n + 1) * sizeof(*w->ints));
	if (w->ints == NULL) {
		worker_fail(w, ws, t, 0, -TP_ENOMEM, "out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		int64_t x;
		memcpy(&x, in + i * 8, sizeof(x));
		tp__payload_set_int(a, 0, x);
		int rc = fn(a, r);
		if (rc != 0) {
			worker_fail(w, ws, t, i, rc, NULL);
			return;
		}
		if (!int_result(w, ws, t, i, r, &w->ints[i]))
			return;
	}
	w->nints = n;
}

/* Keeps what call i gave: all of r (apply), else its first value. */
static int keep_result(struct wstate *ws, const Troupe__PoolTask *t,
                       tp_payload *r)
{
	int rv = tp__cols_add_result(&ws->out, r, t->whole);
	tp__payload_clear_batched(r, ws->batch, &ws->kept);
	return rv;
}

/* Runs call i of task t with the next values of vr. */
static int run_call(struct wstate *ws, tp_target_fn fn,
                    const Troupe__PoolTask *t, struct tp__vread *vr, int *rc)
{
	tp_payload *args = ws->args;
	size_t k = tp__vread_call(vr);
	if (tp__payload_vread(args, vr, k) != TP_OK) {
		tp_payload_clear(args);
		return TP_ENOMEM;
	}
	fail_set = 0;
	*rc = fn(args, ws->result);
	/* the arguments' references to the batch go at the task's end */
	tp__payload_clear_batched(args, ws->batch, &ws->kept);
	if (*rc != 0) {
		tp_payload_clear(ws->result);
		return TP_OK;
	}
	return keep_result(ws, t, ws->result);
}

/* The general path: each call's arguments borrow from one copy of the
 * task's bytes, each result goes into the shared result columns. */
static void worker_run_calls(struct wstate *ws, tp_target_fn fn,
                             const Troupe__PoolTask *t, struct wresult *w)
{
	struct tp__vread vr;
	int rv = tp__vread_init_at(&vr, t->args, ws->batch), rc = 0;
	if (rv != TP_OK) {
		worker_fail(w, ws, t, 0, -rv,
		            rv == TP_ENOMEM ? "out of memory"
		                            : "malformed task arguments");
		return;
	}
	for (size_t c = 0; c < vr.calls; c++) {
		if ((rv = run_call(ws, fn, t, &vr, &rc)) != TP_OK) {
			worker_fail(w, ws, t, c, -rv, "out of memory");
			break;
		}
		if (rc != 0 && t->whole) {
			worker_fail(w, ws, t, c, rc, NULL);
			break;
		}
		if (rc != 0 && worker_item_fail(ws, t, c, rc) != TP_OK) {
			worker_fail(w, ws, t, c, -TP_ENOMEM, "out of memory");
			break;
		}
	}
	tp__blob_unref_n(ws->batch, ws->kept); /* before vread_done's own */
	ws->kept = 0;
	tp__vread_done(&vr);
	if (w->failed)
		return;
	tp__cols_pos(&ws->out, &w->b);
	size_t sz = tp__cols_bytes(&w->a, &w->b);
	if (sz > ws->max_msg) {
		char msg[160];
		snprintf(msg, sizeof(msg),
		         "the task's results take %zu bytes, over the %zu-byte "
		         "message limit",
		         sz, ws->max_msg);
		worker_fail(w, ws, t, 0, -TP_ETOOBIG, msg);
	}
}

static int worker_task(struct wstate *ws, const Troupe__PoolTask *t)
{
	struct wresult *w = worker_slot_new(ws, t->id);
	tp_target_fn fn;
	double t0 = tp__now_s();
	if (w == NULL)
		return TP_ENOMEM;
	atomic_store(&ws->slot->started_ns, tp__now_ns());
	atomic_store(&ws->slot->current, t->id + 1);
	fail_set = 0;
	fn = tp__target_find(t->func);
	if (fn == NULL)
		worker_fail(w, ws, t, 0, -TP_ENOTREG, "no such target");
	else if (t->seg[0] != '\0')
		worker_run_seg(ws, fn, t, w);
	else if (t->is_int)
		worker_run_ints(ws, fn, t, w);
	else
		worker_run_calls(ws, fn, t, w);
	atomic_store(&ws->slot->current, 0);
	w->ns = (uint64_t)((tp__now_s() - t0) * 1e9);
	ws->done++;
	if (ws->nres >= FLUSH_RESULTS ||
	    (tp__now_s() - ws->first_t) * 1e9 >= FLUSH_NS)
		return worker_flush(ws);
	return TP_OK;
}

/* Connects the run's local channel, once, at the first batch: the pool
 * listened before it sent any (pool_fast.c). Without it, nng. */
static void worker_fast(struct wstate *ws)
{
	char path[108];
	if (ws->fast_tried)
		return;
	ws->fast_tried = 1;
	if (tp__pool_fast_path(ws->addr, getpid(), path, sizeof(path)) !=
	        TP_OK ||
	    nng_socket_get_int(ws->sock, NNG_OPT_RECVFD, &ws->nngfd) != 0 ||
	    tp__pool_fast_dial(path, &ws->fast) != TP_OK)
		ws->fast = -1;
}

/* Runs a batch of tasks read in place: their arguments borrow from the
 * message (pool_wire.c). */
static int worker_batch(struct wstate *ws, struct tp__pool_in *in)
{
	int rv = 0;
	worker_fast(ws);
	ws->batch = in->blob;
	for (size_t i = 0; i < in->n; i++) {
		if (worker_task(ws, in->tasks[i]) != TP_OK) {
			rv = 1;
			break;
		}
	}
	ws->batch = NULL;
	tp__pool_in_free(in);
	return rv;
}

/* A batch in the ring, named by a note or a message; returns 1 when the
 * worker must exit (a batch it cannot read: as a bad message). */
static int worker_ring_batch(struct wstate *ws, const char *path, uint32_t slot,
                             uint64_t len)
{
	struct tp__pool_in in;
	int rv = tp__pool_wring_read(&ws->ring, path, slot, len, &in);
	if (rv != TP_OK) {
		fprintf(stderr,
		        "troupe: pool worker %s: a batch in its ring: %s\n",
		        ws->name, tp_strerror(rv));
		return 1;
	}
	return worker_batch(ws, &in);
}

/* Handles one message; returns 1 when the worker must exit. */
static int worker_handle(struct wstate *ws, nng_msg *m)
{
	Troupe__Envelope *env = NULL;
	struct tp__pool_in in;
	int rv = tp__pool_tasks_read(m, &in);
	if (rv == TP_OK)
		return worker_batch(ws, &in);
	if (rv != TP_ENOENT)
		return 1; /* malformed (or out of memory): m is gone */
	rv = tp__envelope_unpack(nng_msg_body(m), nng_msg_len(m), 0, &env);
	nng_msg_free(m);
	if (rv != TP_OK)
		return 1;
	if (env->body_case == TROUPE__ENVELOPE__BODY_POOL_TASKS_RING) {
		const Troupe__PoolTasksRing *r = env->pool_tasks_ring;
		rv = worker_ring_batch(ws, r->ring, r->slot, r->len);
		tp__envelope_free(env);
		return rv;
	}
	rv = env->body_case == TROUPE__ENVELOPE__BODY_POOL_STOP;
	ws->stopped |= rv;
	tp__envelope_free(env);
	return rv;
}

/* The next note on the local channel: 1 when the worker must exit, -1
 * when there is none (or no channel: gone, it is closed). */
static int worker_note(struct wstate *ws)
{
	struct tp__pool_note n;
	struct tp__pool_in in;
	unsigned char buf[TP__POOL_FAST_MAX];
	if (ws->fast < 0)
		return -1;
	int rv = tp__pool_fast_recv(ws->fast, &n, buf, sizeof(buf));
	if (rv == TP_OK && n.kind == TP__POOL_NOTE_TASKS) {
		/* The message that names the ring went before this note,
		 * but by nng: it may come later. Read messages until it
		 * is in (the pool sends no Stop while a batch is out). */
		while (ws->ring.map == NULL) {
			nng_msg *m;
			if (nng_recvmsg(ws->sock, &m, 0) != 0 ||
			    worker_handle(ws, m))
				return 1;
		}
		return worker_ring_batch(ws, ws->ring.path, n.slot, n.len);
	}
	if (rv == TP_OK && n.kind == TP__POOL_NOTE_BYTES) {
		/* a small batch: its values borrow from a copy of their own */
		unsigned char *c = malloc(n.len);
		if (c == NULL)
			return 1;
		memcpy(c, buf, n.len);
		if (tp__pool_tasks_read_mem(c, n.len, free, c, &in) != TP_OK)
			return 1; /* malformed: as a bad message */
		return worker_batch(ws, &in);
	}
	if (rv == TP_OK || rv == TP_EDECODE) { /* as a bad message */
		fprintf(stderr,
		        "troupe: pool worker %s: a record on its channel: "
		        "%s\n",
		        ws->name, tp_strerror(TP_EDECODE));
		return 1;
	}
	if (rv == TP_ECLOSED) {
		close(ws->fast);
		ws->fast = -1;
	}
	return -1;
}

/* Waits for a note or a message (either may come first). */
static void worker_wait(struct wstate *ws)
{
	struct pollfd p[2] = {{.fd = ws->fast, .events = POLLIN},
	                      {.fd = ws->nngfd, .events = POLLIN}};
	(void)poll(p, 2, -1); /* EINTR: the loop looks again */
}

static void worker_loop(struct wstate *ws)
{
	for (;;) {
		nng_msg *m;
		int rv = worker_note(ws);
		if (rv >= 0) {
			if (rv)
				return;
			continue;
		}
		/* with results to send, or a channel to watch too, nng is
		 * only looked at here */
		int flags =
		    ws->nres > 0 || ws->fast >= 0 ? NNG_FLAG_NONBLOCK : 0;
		if (ws->nres == 0) /* going idle: let the segment go */
			seg_release(ws);
		rv = nng_recvmsg(ws->sock, &m, flags);
		if (rv == NNG_EAGAIN && ws->nres > 0) {
			if (worker_flush(ws) != TP_OK)
				return;
			continue;
		}
		if (rv == NNG_EAGAIN) {
			worker_wait(ws);
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
	init = tp__target_find(init_name);
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
		             fail_set && fail_msg != NULL
		                 ? fail_msg
		                 : "initializer failed");
		return TP_EREMOTE;
	}
	return worker_hello(ws, 0, NULL);
}

/*
 * args: address (before "-<pid>"), name, shm name, slot, initializer,
 * initargs, max_msg. The
 * worker exits only when the pool sends Stop (or the socket fails), so nothing
 * it sent is dropped by closing the socket early; recycling after
 * maxtasksperchild is the pool's decision, not the worker's.
 */
/*
 * A worker receives a stream of messages of up to a few hundred KiB and
 * frees each once its tasks ran. glibc gives an arena's free top back to
 * the kernel past 128 KiB (and maps blocks over 128 KiB on their own), so
 * every message was written into fresh pages: a fault and a clear per
 * 4 KiB, as costly here as reading the message. The worker is troupe's own
 * process: it keeps up to 64 MiB of freed memory for the next messages.
 */
static void keep_freed_memory(void)
{
	(void)mallopt(M_MMAP_THRESHOLD, 4 << 20);
	(void)mallopt(M_TRIM_THRESHOLD, 64 << 20);
}

int tp__pool_worker(const tp_payload *args, tp_payload *result)
{
	struct wstate ws = {0};
	const char *addr, *shm, *init_name;
	const void *ibuf;
	size_t ilen, shm_size;
	int64_t slot, max_msg;
	void *base = NULL;
	int rv = 1;
	(void)result;
	if (tp_payload_get_string(args, 0, &addr) ||
	    tp_payload_get_string(args, 1, &ws.name) ||
	    tp_payload_get_string(args, 2, &shm) ||
	    tp_payload_get_int(args, 3, &slot) ||
	    tp_payload_get_string(args, 4, &init_name) ||
	    tp_payload_get_bytes(args, 5, &ibuf, &ilen) ||
	    tp_payload_get_int(args, 6, &max_msg))
		return 2;
	ws.max_msg = (size_t)max_msg;
	ws.addr = addr;
	ws.fast = ws.nngfd = -1;
	keep_freed_memory();
	if (tp__pool_file_attach(shm, &base, &shm_size) != TP_OK ||
	    (size_t)(slot + 1) * sizeof(struct pool_slot) > shm_size)
		return 3;
	ws.slot = (struct pool_slot *)base + slot;
	if (tp_payload_new(&ws.iargs) || tp_payload_new(&ws.args) ||
	    tp_payload_new(&ws.result) || tp_payload_add_int(ws.iargs, 0))
		goto out;
	tp__nng_used(); /* this process cannot fork children any more */
	if (nng_pair1_open(&ws.sock) != 0)
		goto out;
	nng_socket_set_size(ws.sock, NNG_OPT_RECVMAXSZ, 0);
	nng_socket_set_int(ws.sock, NNG_OPT_RECVBUF, 16);
	nng_socket_set_int(ws.sock, NNG_OPT_SENDBUF, 16);
	/* This run's own address: the pool listens there once its
	 * supervisor reported the start (pool_sup.c). */
	if (tp__pool_worker_dial(ws.sock, addr) == 0) {
		/* A failed initializer is reported in the hello; the pool
		 * then sends Stop, so the report is never cut off, and the
		 * worker exits 0 as told: its supervisor does not restart
		 * it (a broken worker stays stopped). */
		worker_init(&ws, init_name, ibuf, ilen);
		worker_loop(&ws);
		worker_flush(&ws);
		rv = 0;
	}
	if (ws.fast >= 0)
		close(ws.fast);
	/* Told to stop, nothing is left unread. Else (a bad message, the
	 * pool gone) messages may be, and nng 1.5.2's close can then wait
	 * for ever (docs/pool.md): the socket goes with the process. */
	if (ws.stopped)
		nng_close(ws.sock);
out:
	seg_release(&ws);
	free(ws.res);
	free(ws.ierr);
	tp__cols_free(&ws.out);
	tp_payload_free(ws.iargs);
	tp_payload_free(ws.args);
	tp_payload_free(ws.result);
	if (base != NULL)
		munmap(base, shm_size);
	return rv;
}
TP_TARGET(tp__pool_worker);
