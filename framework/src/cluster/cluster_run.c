/*
 * cluster_run.c - running a remote task: the target an agent's local pool
 * runs for each task rank 0 sent (its args: the task, packed, and where it
 * runs). It runs every call of the task as the pool's own worker does
 * (a map chunk's calls fail one by one, an apply fails whole, an int map
 * gives ints) and returns the task's PoolResult, packed, for the agent to
 * send back as it is. It runs in a local worker process: a task that
 * crashes takes down that worker only, and the local pool settles it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "cluster_int.h"
#include "payload_int.h"
#include "pool_int.h"
#include "process_int.h"
#include "troupe/error.h"
#include "values.h"

struct run {
	const Troupe__PoolTask *t;
	const char *where;
	Troupe__PoolResult r;
	Troupe__Error err;
	Troupe__PoolItemError *ie;
	Troupe__PoolItemError **iep;
	Troupe__Error *ier;
	size_t nie, cap;
	char *strs[64]; /* what the result's strings point to */
	int nstrs;
};

static char *keep(struct run *x, char *s)
{
	if (s != NULL && x->nstrs < 64)
		x->strs[x->nstrs++] = s;
	return s;
}

static char *origin(struct run *x, size_t item)
{
	char o[512];
	snprintf(o, sizeof(o), "%s, pid %d, task %llu (%s, item %llu)",
	         x->where, (int)getpid(), (unsigned long long)x->t->id,
	         x->t->func, (unsigned long long)(x->t->item0 + item));
	return keep(x, strdup(o));
}

static char *message(struct run *x, int code)
{
	const char *m = tp__task_fail_message(1);
	char buf[256];
	if (m != NULL)
		return keep(x, strdup(m));
	snprintf(buf, sizeof(buf), "%s returned %d (%s)", x->t->func, code,
	         tp_strerror(code < 0 ? -code : code));
	return keep(x, strdup(buf));
}

/* The whole task failed at call i. */
static void fail(struct run *x, size_t i, int code, const char *msg)
{
	troupe__error__init(&x->err);
	x->err.code = code;
	x->err.origin = origin(x, i);
	x->err.message = msg ? keep(x, strdup(msg)) : message(x, code);
	x->r.error = &x->err;
	x->r.values = NULL;
	x->r.ints.len = 0;
}

/* Call i of a map chunk failed on its own. */
static int item_fail(struct run *x, size_t i, int code)
{
	if (x->nie == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 16;
		void *a = realloc(x->ie, cap * sizeof(*x->ie));
		if (a != NULL)
			x->ie = a;
		void *b = realloc(x->ier, cap * sizeof(*x->ier));
		if (b != NULL)
			x->ier = b;
		if (a == NULL || b == NULL)
			return TP_ENOMEM;
		x->cap = cap;
	}
	troupe__pool_item_error__init(&x->ie[x->nie]);
	troupe__error__init(&x->ier[x->nie]);
	x->ie[x->nie].item = i;
	x->ier[x->nie].code = code;
	x->ier[x->nie].origin = x->nstrs < 62 ? origin(x, i) : "";
	x->ier[x->nie].message = x->nstrs < 62 ? message(x, code) : "";
	x->nie++;
	return TP_OK;
}

static void run_ints(struct run *x, tp_target_fn fn, int64_t *out)
{
	const Troupe__PoolTask *t = x->t;
	size_t n = t->ints.len / sizeof(int64_t);
	tp_payload *a = NULL, *r = NULL;
	if (tp_payload_new(&a) || tp_payload_new(&r) ||
	    tp_payload_add_int(a, 0)) {
		fail(x, 0, -TP_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		int64_t in;
		memcpy(&in, t->ints.data + i * 8, sizeof(in));
		tp__payload_set_int(a, 0, in);
		int rc = fn(a, r);
		if (rc != 0) {
			fail(x, i, rc, NULL);
			goto out;
		}
		if (r->count < 1 || tp__payload_type_at(r, 0) != TP_TINT) {
			fail(x, i, -TP_ETYPE,
			     "the task returned no integer where "
			     "tp_pool_map_int needs one");
			goto out;
		}
		out[i] = tp__payload_int_at(r, 0);
		tp_payload_clear(r);
	}
	x->r.ints.data = (uint8_t *)out;
	x->r.ints.len = n * sizeof(int64_t);
out:
	tp_payload_free(a);
	tp_payload_free(r);
}

/* The general path: the values of each call, one result value per call
 * (every value of it for an apply). */
static void run_calls(struct run *x, tp_target_fn fn, struct tp__cols *out,
                      Troupe__Values *vals)
{
	const Troupe__PoolTask *t = x->t;
	struct tp__vread vr;
	struct tp__cols_pos a, b;
	struct tp_value none = {.type = TP_TNONE};
	tp_payload *args = NULL, *res = NULL;
	int rv = tp__vread_init(&vr, t->args);
	if (rv != TP_OK) {
		fail(x, 0, -rv, "malformed task arguments");
		return;
	}
	tp__cols_pos(out, &a);
	if (tp_payload_new(&args) || tp_payload_new(&res))
		rv = TP_ENOMEM;
	for (size_t c = 0; c < vr.calls && rv == TP_OK; c++) {
		size_t k = tp__vread_call(&vr);
		if ((rv = tp__payload_vread(args, &vr, k)) != TP_OK)
			break;
		tp__task_fail_message(1);
		int rc = fn(args, res);
		tp_payload_clear(args);
		if (rc != 0 && t->whole) {
			fail(x, c, rc, NULL);
			break;
		}
		if (rc != 0) {
			tp_payload_clear(res);
			if ((rv = item_fail(x, c, rc)) == TP_OK)
				rv = tp__cols_add(out, &none);
			continue;
		}
		rv = tp__cols_add_result(out, res, t->whole);
		tp_payload_clear(res);
	}
	if (rv != TP_OK && x->r.error == NULL)
		fail(x, 0, -rv, "out of memory");
	tp__vread_done(&vr);
	tp_payload_free(args);
	tp_payload_free(res);
	if (x->r.error != NULL)
		return;
	tp__cols_pos(out, &b);
	tp__cols_to_pb(out, &a, &b, vals);
	x->r.values = vals;
}

/* args: the packed PoolTask, and where it runs ("host H rank R"). */
int tp__cl_run(const tp_payload *args, tp_payload *result)
{
	const void *buf;
	size_t len;
	const char *where;
	struct run x = {0};
	struct tp__cols out = {0};
	Troupe__Values vals = TROUPE__VALUES__INIT;
	int64_t *ints = NULL;
	double t0 = tp__now_s();
	int rv;
	if (tp_payload_get_bytes(args, 0, &buf, &len) ||
	    tp_payload_get_string(args, 1, &where))
		return TP_EINVAL;
	Troupe__PoolTask *t = troupe__pool_task__unpack(NULL, len, buf);
	if (t == NULL)
		return TP_EDECODE;
	x.t = t;
	x.where = where;
	troupe__pool_result__init(&x.r);
	x.r.id = t->id;
	tp_target_fn fn = tp__target_find(t->func);
	if (fn == NULL)
		fail(&x, 0, -TP_ENOTREG, "no such target on this host");
	else if (t->is_int &&
	         (ints = malloc(t->ints.len + sizeof(int64_t))) == NULL)
		fail(&x, 0, -TP_ENOMEM, "out of memory");
	else if (t->is_int)
		run_ints(&x, fn, ints);
	else
		run_calls(&x, fn, &out, &vals);
	x.r.ns = (uint64_t)((tp__now_s() - t0) * 1e9);
	x.iep = calloc(x.nie + 1, sizeof(*x.iep));
	for (size_t i = 0; x.iep != NULL && i < x.nie; i++) {
		x.ie[i].error = &x.ier[i];
		x.iep[i] = &x.ie[i];
	}
	if (x.iep != NULL && x.r.error == NULL) {
		x.r.n_item_errors = x.nie;
		x.r.item_errors = x.iep;
	}
	size_t n = troupe__pool_result__get_packed_size(&x.r);
	void *packed = malloc(n + 1);
	if (packed == NULL)
		rv = TP_ENOMEM;
	else {
		troupe__pool_result__pack(&x.r, packed);
		rv = tp_payload_add_bytes(result, packed, n);
	}
	free(packed);
	free(ints);
	free(x.ie);
	free(x.ier);
	free(x.iep);
	for (int i = 0; i < x.nstrs; i++)
		free(x.strs[i]);
	tp__cols_free(&out);
	troupe__pool_task__free_unpacked(t, NULL);
	return rv;
}
TP_TARGET(tp__cl_run);
