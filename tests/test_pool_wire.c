/*
 * test_pool_wire.c - batches of tasks and results read in place
 * (pool/pool_wire.c): every field as protobuf-c wrote it, values that
 * borrow from the received message and outlive the batch (in a worker and
 * in the parent, through map, imap and apply), and malformed messages
 * (every cut, flipped bytes, wrong wire types) giving TP_EDECODE, never a
 * crash. Correctness only, no timings.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>

#include "payload_int.h"
#include "pool_int.h"
#include "pool_util.h"
#include "troupe.pb-c.h"

/* An nng message holding the packed envelope. */
static nng_msg *msg_of(const Troupe__Envelope *env)
{
	size_t len = protobuf_c_message_get_packed_size(&env->base);
	nng_msg *m;
	assert_int_equal(nng_msg_alloc(&m, len), 0);
	protobuf_c_message_pack(&env->base, nng_msg_body(m));
	return m;
}

static nng_msg *msg_bytes(const void *p, size_t len)
{
	nng_msg *m;
	assert_int_equal(nng_msg_alloc(&m, len), 0);
	if (len > 0)
		memcpy(nng_msg_body(m), p, len);
	return m;
}

/* A batch of three tasks: a map chunk of mixed values, a map_int, an
 * apply; the caller frees *buf. */
static void tasks_env(void **buf, size_t *len)
{
	static const uint8_t kinds[4] = {2, 4, 5, 3};
	static const int64_t ints[1] = {-7};
	static const double dbl[1] = {2.5};
	static const uint32_t lens[2] = {3, 0};
	static const uint8_t data[5] = {'a', 'b', 'c', 0, 0};
	static const int64_t mi[2] = {1, 2};
	Troupe__Values v = TROUPE__VALUES__INIT;
	Troupe__PoolTask t[3], *tp[3];
	Troupe__PoolTasks ts = TROUPE__POOL_TASKS__INIT;
	Troupe__Envelope env = TROUPE__ENVELOPE__INIT;
	v.count = 4;
	v.kinds.data = (uint8_t *)kinds;
	v.kinds.len = 4;
	v.ints.data = (uint8_t *)ints;
	v.ints.len = 8;
	v.doubles.data = (uint8_t *)dbl;
	v.doubles.len = 8;
	v.lens.data = (uint8_t *)lens;
	v.lens.len = 8;
	v.data.data = (uint8_t *)data;
	v.data.len = 5;
	for (int i = 0; i < 3; i++) {
		troupe__pool_task__init(&t[i]);
		tp[i] = &t[i];
		t[i].id = 100 + (uint64_t)i;
	}
	t[0].func = "echo";
	t[0].args = &v;
	t[0].item0 = 12;
	t[1].func = "sq";
	t[1].is_int = 1;
	t[1].ints.data = (uint8_t *)mi;
	t[1].ints.len = sizeof(mi);
	t[1].seg = "/run/seg";
	t[1].first = 3;
	t[1].count = 9;
	t[2].func = "";
	t[2].whole = 1;
	ts.n_tasks = 3;
	ts.tasks = tp;
	env.sender = "parent";
	env.correlation_id = 5;
	env.body_case = TROUPE__ENVELOPE__BODY_POOL_TASKS;
	env.pool_tasks = &ts;
	*len = protobuf_c_message_get_packed_size(&env.base);
	*buf = malloc(*len);
	protobuf_c_message_pack(&env.base, *buf);
}

static void test_tasks_in_place(void **state)
{
	(void)state;
	void *buf;
	size_t len;
	struct tp__pool_in in;
	struct tp__vread r;
	struct tp_value v[4];
	tasks_env(&buf, &len);
	TP_OK_OR_FAIL(tp__pool_tasks_read(msg_bytes(buf, len), &in));
	assert_int_equal(in.n, 3);
	Troupe__PoolTask *t = in.tasks[0];
	assert_int_equal(t->id, 100);
	assert_string_equal(t->func, "echo");
	assert_string_equal(t->seg, "");
	assert_int_equal(t->item0, 12);
	assert_non_null(t->args);
	TP_OK_OR_FAIL(tp__vread_init_at(&r, t->args, in.blob));
	assert_int_equal(r.count, 4);
	for (int i = 0; i < 4; i++)
		tp__vread_next(&r, &v[i]);
	tp__vread_done(&r);
	assert_string_equal(in.tasks[1]->func, "sq");
	assert_true(in.tasks[1]->is_int);
	assert_string_equal(in.tasks[1]->seg, "/run/seg");
	assert_int_equal(in.tasks[1]->first, 3);
	assert_int_equal(in.tasks[1]->count, 9);
	assert_int_equal(in.tasks[1]->ints.len, 16);
	assert_null(in.tasks[1]->args);
	assert_true(in.tasks[2]->whole);
	assert_string_equal(in.tasks[2]->func, "");
	/* the batch goes; the values read from it keep the message alive */
	tp__pool_in_free(&in);
	assert_int_equal(v[0].type, TP_TINT);
	assert_int_equal(v[0].i, -7);
	assert_int_equal(v[1].type, TP_TSTRING);
	assert_string_equal(v[1].data, "abc");
	assert_int_equal(v[2].type, TP_TBYTES);
	assert_int_equal(v[2].len, 0);
	assert_int_equal(v[3].type, TP_TDOUBLE);
	assert_true(v[3].d == 2.5);
	for (int i = 0; i < 4; i++)
		tp__value_release(&v[i]); /* the last one frees the message */
	free(buf);
}

static void test_results_in_place(void **state)
{
	(void)state;
	static const uint32_t lens[1] = {2};
	static const uint8_t data[3] = {'o', 'k', 0};
	Troupe__Values v = TROUPE__VALUES__INIT;
	Troupe__PoolResult r[2], *rp[2];
	Troupe__PoolResults rs = TROUPE__POOL_RESULTS__INIT;
	Troupe__Envelope env = TROUPE__ENVELOPE__INIT;
	Troupe__Error er = TROUPE__ERROR__INIT;
	Troupe__PoolItemError ie = TROUPE__POOL_ITEM_ERROR__INIT, *iep = &ie;
	struct tp__pool_in in;
	struct tp__vread vr;
	struct tp_value x;
	v.count = 1;
	v.kind = 4;
	v.lens.data = (uint8_t *)lens;
	v.lens.len = 4;
	v.data.data = (uint8_t *)data;
	v.data.len = 3;
	for (int i = 0; i < 2; i++) {
		troupe__pool_result__init(&r[i]);
		rp[i] = &r[i];
		r[i].id = 7 + (uint64_t)i;
		r[i].ns = 1000;
	}
	r[0].values = &v;
	r[1].values = &v;
	er.code = 3;
	er.origin = "w";
	er.message = "item 0 failed";
	ie.item = 0;
	ie.error = &er;
	r[1].n_item_errors = 1;
	r[1].item_errors = &iep;
	rs.n_results = 2;
	rs.results = rp;
	env.body_case = TROUPE__ENVELOPE__BODY_POOL_RESULTS;
	env.pool_results = &rs;
	TP_OK_OR_FAIL(tp__pool_results_read(msg_of(&env), &in));
	assert_int_equal(in.n, 2);
	assert_int_equal(in.results[0]->id, 7);
	assert_int_equal(in.results[0]->ns, 1000);
	assert_false(in.own[0]);
	assert_true(in.own[1]); /* with item errors: protobuf-c's */
	assert_int_equal(in.results[1]->n_item_errors, 1);
	assert_string_equal(in.results[1]->item_errors[0]->error->message,
	                    "item 0 failed");
	TP_OK_OR_FAIL(tp__vread_init_at(&vr, in.results[0]->values, in.blob));
	tp__vread_next(&vr, &x);
	tp__vread_done(&vr);
	tp__pool_in_free(&in);
	assert_string_equal(x.data, "ok"); /* outlives the batch */
	tp__value_release(&x);
	/* another body: not read, the message stays the caller's */
	Troupe__PoolHello h = TROUPE__POOL_HELLO__INIT;
	Troupe__Envelope he = TROUPE__ENVELOPE__INIT;
	h.pid = 1;
	h.name = "w";
	he.body_case = TROUPE__ENVELOPE__BODY_POOL_HELLO;
	he.pool_hello = &h;
	nng_msg *m = msg_of(&he);
	TP_EXPECT(tp__pool_results_read(m, &in), TP_ENOENT);
	TP_EXPECT(tp__pool_tasks_read(m, &in), TP_ENOENT);
	nng_msg_free(m);
}

/* Reads buf as a batch of tasks: OK or TP_EDECODE, and every value read
 * from an OK one is released. */
static int try_tasks(const void *buf, size_t len)
{
	struct tp__pool_in in;
	int rv = tp__pool_tasks_read(msg_bytes(buf, len), &in);
	if (rv != TP_OK)
		return rv;
	for (size_t i = 0; i < in.n; i++) {
		struct tp__vread r;
		struct tp_value v;
		if (tp__vread_init_at(&r, in.tasks[i]->args, in.blob) != TP_OK)
			continue;
		while (r.v < r.count) {
			tp__vread_next(&r, &v);
			tp__value_release(&v);
		}
		tp__vread_done(&r);
	}
	tp__pool_in_free(&in);
	return TP_OK;
}

static void test_malformed(void **state)
{
	(void)state;
	void *buf;
	size_t len;
	unsigned char *b;
	tasks_env(&buf, &len);
	b = malloc(len);
	/* every cut of the message: never a crash, never a read past it */
	for (size_t cut = 0; cut < len; cut++) {
		int rv = try_tasks(buf, cut);
		assert_true(rv == TP_OK || rv == TP_EDECODE || rv == TP_ENOENT);
	}
	/* a cut inside the body is always caught */
	TP_EXPECT(try_tasks(buf, len - 1), TP_EDECODE);
	/* flipped bytes, one at a time, each to several values */
	static const unsigned char flips[] = {0x00, 0x01, 0x07, 0x7f,
	                                      0x80, 0xff, 0x0a, 0x12};
	for (size_t i = 0; i < len; i++) {
		for (size_t f = 0; f < sizeof(flips); f++) {
			memcpy(b, buf, len);
			b[i] = flips[f];
			int rv = try_tasks(b, len);
			assert_true(rv == TP_OK || rv == TP_EDECODE ||
			            rv == TP_ENOENT);
		}
	}
	/* a task field with the wrong wire type; a group */
	static const unsigned char wrong[] = {0x82, 0x05, 0x04, 0x0a,
	                                      0x02, 0x0a, 0x00};
	TP_EXPECT(try_tasks(wrong, sizeof(wrong)), TP_EDECODE);
	static const unsigned char group[] = {0x82, 0x05, 0x02, 0x0b, 0x0c};
	TP_EXPECT(try_tasks(group, sizeof(group)), TP_EDECODE);
	/* an empty batch and an empty message */
	static const unsigned char none[] = {0x82, 0x05, 0x00};
	TP_OK_OR_FAIL(try_tasks(none, sizeof(none)));
	TP_EXPECT(try_tasks(none, 0), TP_ENOENT);
	free(b);
	free(buf);
}

/* Returns the previous call's argument (this call's on the first): a
 * value kept from one batch used in a later one. */
static int t_prev(const tp_payload *args, tp_payload *res)
{
	static tp_payload *kept;
	tp_payload *now;
	int rv = tp_payload_copy(args, &now);
	if (rv != TP_OK)
		return rv;
	const tp_payload *give = kept != NULL ? kept : now;
	const void *d;
	size_t l;
	if ((rv = tp_payload_get_bytes(give, 0, &d, &l)) == TP_OK)
		rv = tp_payload_add_bytes(res, d, l);
	tp_payload_free(kept);
	kept = now;
	return rv;
}
TP_TARGET(t_prev);

static int t_same(const tp_payload *args, tp_payload *res)
{
	const char *s;
	int rv = tp_payload_get_string(args, 0, &s);
	return rv ? rv : tp_payload_add_string(res, s);
}
TP_TARGET(t_same);

static void test_borrowed_outlive(void **state)
{
	(void)state;
	tp_pool *pool = mkpool(1); /* one worker: calls run in order */
	tp_payload *in, *out, *apply_out;
	tp_pool_iter *it;
	enum { N = 3000 };
	char s[64];
	TP_OK_OR_FAIL(tp_payload_new(&in));
	for (int i = 0; i < N; i++) {
		/* sizes 0..1999: many batches, empty bytes among them */
		size_t l = (size_t)(i * 37) % 2000;
		unsigned char *b = malloc(l + 1);
		memset(b, i & 0xff, l);
		TP_OK_OR_FAIL(tp_payload_add_bytes(in, b, l));
		free(b);
	}
	TP_OK_OR_FAIL(tp_pool_map(pool, t_prev, in, 1, &out));
	assert_int_equal(tp_payload_count(out), N);
	for (int i = 1; i < N; i++) {
		const void *got, *want;
		size_t gl, wl;
		TP_OK_OR_FAIL(tp_payload_get_bytes(out, (size_t)i, &got, &gl));
		TP_OK_OR_FAIL(
		    tp_payload_get_bytes(in, (size_t)i - 1, &want, &wl));
		assert_int_equal(gl, wl);
		assert_memory_equal(got, want, wl);
	}
	tp_payload_free(out);
	/* results kept past their batch, their iterator and the pool */
	tp_payload_free(in);
	TP_OK_OR_FAIL(tp_payload_new(&in));
	for (int i = 0; i < N; i++) {
		/* every 7th empty (no empty format: clang's -Wformat) */
		snprintf(s, sizeof(s), "s-%d", i);
		if (i % 7 == 0)
			s[0] = '\0';
		TP_OK_OR_FAIL(tp_payload_add_string(in, s));
	}
	tp_payload *kept[N];
	TP_OK_OR_FAIL(tp_pool_imap(pool, t_same, in, 50, &it));
	for (int i = 0; i < N; i++)
		TP_OK_OR_FAIL(tp_pool_iter_next(it, &kept[i], NULL, 30000));
	tp_pool_iter_free(it);
	TP_OK_OR_FAIL(tp_pool_map(pool, t_same, in, 0, &out));
	TP_OK_OR_FAIL(tp_pool_apply(pool, t_same, kept[1], &apply_out));
	endpool(pool);
	for (int i = 0; i < N; i++) {
		const char *a, *b;
		/* every 7th empty (no empty format: clang's -Wformat) */
		snprintf(s, sizeof(s), "s-%d", i);
		if (i % 7 == 0)
			s[0] = '\0';
		TP_OK_OR_FAIL(tp_payload_get_string(kept[i], 0, &a));
		TP_OK_OR_FAIL(tp_payload_get_string(out, (size_t)i, &b));
		assert_string_equal(a, s);
		assert_string_equal(b, s);
		tp_payload_free(kept[i]);
	}
	const char *a;
	TP_OK_OR_FAIL(tp_payload_get_string(apply_out, 0, &a));
	assert_string_equal(a, "s-1");
	tp_payload_free(apply_out);
	tp_payload_free(out);
	tp_payload_free(in);
}

int main(void)
{
	tp_spawn_guard();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tasks_in_place),
	    cmocka_unit_test(test_results_in_place),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_borrowed_outlive),
	};
	return cmocka_run_group_tests(tests, pool_setup, pool_teardown);
}
