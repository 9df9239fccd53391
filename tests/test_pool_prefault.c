/*
 * test_pool_prefault.c - a caller waiting for a large map faults its
 * results' slots in ahead of the pool's thread (pool_job.c, job_prefault):
 * the results stay right for packed ints and doubles and for generic
 * values; a waiter with a deadline (1 ms waits in a loop) still times out
 * and then gets everything; two threads waiting for one map share the
 * work; a map of strings to strings gets its result bytes copied into
 * spare chunks the caller made, and what the map did not use is given
 * back (at most two wait after it); a map whose results change form after the
 * slots were offered (ints first, then strings: the packed slots are freed and
 * remade while the caller may be faulting them in) is right; several maps in a
 * row. Correctness only, no timings.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "pool_int.h"
#include "pool_util.h"

#define N 600000 /* 4.8 MB of packed slots, 14 MB generic */

static int f_triple(const tp_payload *args, tp_payload *res)
{
	int64_t v;
	int rv = tp_payload_get_int(args, 0, &v);
	return rv != TP_OK ? rv : tp_payload_add_int(res, 3 * v);
}
TP_TARGET(f_triple);

static int f_half(const tp_payload *args, tp_payload *res)
{
	int64_t v;
	int rv = tp_payload_get_int(args, 0, &v);
	return rv != TP_OK ? rv : tp_payload_add_double(res, (double)v / 2);
}
TP_TARGET(f_half);

static int f_upper(const tp_payload *args, tp_payload *res)
{
	const char *s;
	char buf[64];
	size_t i = 0;
	int rv = tp_payload_get_string(args, 0, &s);
	if (rv != TP_OK)
		return rv;
	for (; s[i] != '\0' && i + 1 < sizeof(buf); i++)
		buf[i] = (char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 32 : s[i]);
	buf[i] = '\0';
	return tp_payload_add_string(res, buf);
}
TP_TARGET(f_upper);

/* ints for the first half of the items, strings after it */
static int f_mixed(const tp_payload *args, tp_payload *res)
{
	int64_t v;
	char s[32];
	int rv = tp_payload_get_int(args, 0, &v);
	if (rv != TP_OK)
		return rv;
	if (v < N / 2)
		return tp_payload_add_int(res, v + 1);
	snprintf(s, sizeof(s), "s%lld", (long long)v);
	return tp_payload_add_string(res, s);
}
TP_TARGET(f_mixed);

static tp_payload *ints(size_t n)
{
	tp_payload *p;
	TP_OK_OR_FAIL(tp_payload_new(&p));
	for (size_t i = 0; i < n; i++)
		TP_OK_OR_FAIL(tp_payload_add_int(p, (int64_t)i));
	return p;
}

static void check(const tp_payload *out, tp_target_fn fn)
{
	assert_int_equal(tp_payload_count(out), N);
	for (size_t i = 0; i < N; i++) {
		int64_t v = -1;
		double d = -1;
		const char *s = NULL;
		char want[32];
		if (fn == f_triple) {
			TP_OK_OR_FAIL(tp_payload_get_int(out, i, &v));
			assert_int_equal(v, 3 * (int64_t)i);
		} else if (fn == f_half) {
			TP_OK_OR_FAIL(tp_payload_get_double(out, i, &d));
			assert_true(d == (double)i / 2);
		} else if (i < N / 2) {
			TP_OK_OR_FAIL(tp_payload_get_int(out, i, &v));
			assert_int_equal(v, (int64_t)i + 1);
		} else {
			TP_OK_OR_FAIL(tp_payload_get_string(out, i, &s));
			snprintf(want, sizeof(want), "s%zu", i);
			assert_string_equal(s, want);
		}
	}
}

/* The blocking map, each form, twice in a row. */
static void test_blocking(void **state)
{
	(void)state;
	tp_pool *pool = mkpool(2);
	tp_payload *items = ints(N);
	tp_target_fn fns[] = {f_triple, f_half, f_mixed};
	for (int r = 0; r < 2; r++)
		for (size_t f = 0; f < 3; f++) {
			tp_payload *out = NULL;
			TP_OK_OR_FAIL(
			    tp_pool_map(pool, fns[f], items, 0, &out));
			check(out, fns[f]);
			tp_payload_free(out);
		}
	tp_payload_free(items);
	endpool(pool);
}

/* Strings to strings, three maps in a row (spares made, used, kept or
 * given back), each result right; at most two spares wait after each. */
static void test_strings(void **state)
{
	(void)state;
	tp_pool *pool = mkpool(2);
	tp_payload *items;
	char s[64];
	TP_OK_OR_FAIL(tp_payload_new(&items));
	for (size_t i = 0; i < N; i++) {
		snprintf(s, sizeof(s), "item-%zu-abcdefghijklmnopqrstuvwxyz",
		         i);
		TP_OK_OR_FAIL(tp_payload_add_string(items, s));
	}
	for (int r = 0; r < 3; r++) {
		tp_payload *out = NULL;
		TP_OK_OR_FAIL(tp_pool_map(pool, f_upper, items, 0, &out));
		assert_int_equal(tp_payload_count(out), N);
		for (size_t i = 0; i < N; i++) {
			const char *got;
			TP_OK_OR_FAIL(tp_payload_get_string(out, i, &got));
			snprintf(s, sizeof(s),
			         "ITEM-%zu-ABCDEFGHIJKLMNOPQRSTUVWXYZ", i);
			assert_string_equal(got, s);
		}
		assert_true(tp__pool_out_spares() <= 2);
		tp_payload_free(out);
	}
	tp_payload_free(items);
	endpool(pool);
}

/* A waiter with 1 ms deadlines: it times out while the map runs (its
 * fault-in steps never keep it past its deadline for good), then gets
 * every result; chunksize 1000 and the default. */
static void test_deadlines(void **state)
{
	(void)state;
	tp_pool *pool = mkpool(2);
	tp_payload *items = ints(N);
	size_t sizes[] = {1000, 0};
	for (size_t c = 0; c < 2; c++) {
		tp_pool_result *r = NULL;
		tp_payload *out = NULL;
		int rv, timeouts = 0;
		TP_OK_OR_FAIL(tp_pool_map_async(pool, f_mixed, items, sizes[c],
		                                NULL, NULL, NULL, &r));
		while ((rv = tp_pool_result_get(r, &out, 1)) == TP_ETIMEDOUT)
			timeouts++;
		TP_OK_OR_FAIL(rv);
		check(out, f_mixed);
		tp_payload_free(out);
		tp_pool_result_free(r);
		(void)timeouts; /* usually > 0; a fast machine may need none */
	}
	tp_payload_free(items);
	endpool(pool);
}

struct waiter {
	tp_pool_result *r;
	tp_payload *out;
	int rv;
};

static void *wait_for(void *arg)
{
	struct waiter *w = arg;
	w->rv = tp_pool_result_get(w->r, &w->out, -1);
	return NULL;
}

/* Two threads and the caller wait for one map: each gets all of it. */
static void test_three_waiters(void **state)
{
	(void)state;
	tp_pool *pool = mkpool(2);
	tp_payload *items = ints(N);
	tp_pool_result *r = NULL;
	pthread_t t[2];
	struct waiter w[3];
	TP_OK_OR_FAIL(
	    tp_pool_map_async(pool, f_triple, items, 0, NULL, NULL, NULL, &r));
	for (int i = 0; i < 3; i++)
		w[i] = (struct waiter){.r = r};
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, wait_for, &w[i]),
		                 0);
	wait_for(&w[2]);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 3; i++) {
		TP_OK_OR_FAIL(w[i].rv);
		check(w[i].out, f_triple);
		tp_payload_free(w[i].out);
	}
	tp_pool_result_free(r);
	tp_payload_free(items);
	endpool(pool);
}

int main(void)
{
	tp_spawn_guard();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_blocking),
	    cmocka_unit_test(test_strings),
	    cmocka_unit_test(test_deadlines),
	    cmocka_unit_test(test_three_waiters),
	};
	return cmocka_run_group_tests(tests, pool_setup, pool_teardown);
}
