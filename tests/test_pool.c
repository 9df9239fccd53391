/*
 * test_pool.c - tp_pool: apply, map, starmap, imap, async results, task
 * errors, callbacks, chunk boundaries, timeouts, lifecycle errors.
 * Worker deaths, recycling and termination are in test_pool_faults.c.
 * One runtime (and fork server) for the whole file; every test checks
 * that its pool left no process behind.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pool_util.h"

static int t_square(const tp_payload *args, tp_payload *res)
{
	int64_t x;
	int rv = tp_payload_get_int(args, 0, &x);
	return rv ? rv : tp_payload_add_int(res, x * x);
}
TP_TARGET(t_square);

static int t_add(const tp_payload *args, tp_payload *res)
{
	int64_t a, b;
	if (tp_payload_get_int(args, 0, &a) || tp_payload_get_int(args, 1, &b))
		return tp_task_fail(res, "add needs two ints");
	return tp_payload_add_int(res, a + b);
}
TP_TARGET(t_add);

static int t_div(const tp_payload *args, tp_payload *res)
{
	int64_t x;
	tp_payload_get_int(args, 0, &x);
	if (x == 0)
		return tp_task_fail(res, "division by zero");
	return tp_payload_add_int(res, 100 / x);
}
TP_TARGET(t_div);

static int t_str(const tp_payload *args, tp_payload *res)
{
	(void)args;
	return tp_payload_add_string(res, "not an int");
}
TP_TARGET(t_str);

static int t_code7(const tp_payload *args, tp_payload *res)
{
	(void)args;
	(void)res;
	return 7;
}
TP_TARGET(t_code7);

static int64_t init_value;
static int t_init(const tp_payload *args, tp_payload *res)
{
	(void)res;
	return tp_payload_get_int(args, 0, &init_value);
}
TP_TARGET(t_init);

static int t_init_fail(const tp_payload *args, tp_payload *res)
{
	(void)args;
	return tp_task_fail(res, "no database");
}
TP_TARGET(t_init_fail);

static int t_get_init(const tp_payload *args, tp_payload *res)
{
	(void)args;
	return tp_payload_add_int(res, init_value);
}
TP_TARGET(t_get_init);

/* Returns the length of its bytes argument and the bytes reversed. */
static int t_rev(const tp_payload *args, tp_payload *res)
{
	const void *d;
	size_t len;
	int rv = tp_payload_get_bytes(args, 0, &d, &len);
	if (rv != TP_OK)
		return rv;
	unsigned char *r = malloc(len + 1);
	for (size_t i = 0; i < len; i++)
		r[i] = ((const unsigned char *)d)[len - 1 - i];
	rv = tp_payload_add_int(res, (int64_t)len);
	if (rv == TP_OK)
		rv = tp_payload_add_bytes(res, r, len);
	free(r);
	return rv;
}
TP_TARGET(t_rev);

/* Even ints: their half; odd: a string; 7: nothing; a string: its length. */
static int t_mixed(const tp_payload *args, tp_payload *res)
{
	int64_t x;
	const char *str;
	if (tp_payload_get_string(args, 0, &str) == TP_OK)
		return tp_payload_add_int(res, (int64_t)strlen(str));
	if (tp_payload_get_int(args, 0, &x) != TP_OK)
		return tp_task_fail(res, "neither an int nor a string");
	if (x == 7)
		return 0;
	if (x % 2 == 0)
		return tp_payload_add_int(res, x / 2);
	return tp_payload_add_string(res, "odd");
}
TP_TARGET(t_mixed);

static int not_registered(const tp_payload *args, tp_payload *res)
{
	(void)args;
	(void)res;
	return 0;
}

static tp_payload *ints(int64_t from, size_t n)
{
	tp_payload *p;
	TP_OK_OR_FAIL(tp_payload_new(&p));
	for (size_t i = 0; i < n; i++)
		TP_OK_OR_FAIL(tp_payload_add_int(p, from + (int64_t)i));
	return p;
}

static int64_t int_at(const tp_payload *p, size_t i)
{
	int64_t v = -1;
	TP_OK_OR_FAIL(tp_payload_get_int(p, i, &v));
	return v;
}

static void test_apply(void **state)
{
	(void)state;
	tp_pool *pool = mkpool(2);
	tp_payload *a = ints(7, 1), *out;
	TP_OK_OR_FAIL(tp_pool_apply(pool, t_square, a, &out));
	assert_int_equal(int_at(out, 0), 49);
	tp_payload_free(out);
	tp_pool_result *r;
	TP_OK_OR_FAIL(
	    tp_pool_apply_async(pool, t_square, a, NULL, NULL, NULL, &r));
	TP_OK_OR_FAIL(tp_pool_result_get(r, &out, 10000));
	assert_true(tp_pool_result_ready(r));
	int ok = 0;
	TP_OK_OR_FAIL(tp_pool_result_successful(r, &ok));
	assert_true(ok);
	TP_EXPECT(tp_pool_result_err(r, &(tp_pool_error){0}), TP_ESTATE);
	assert_int_equal(int_at(out, 0), 49);
	tp_payload_free(out);
	tp_pool_result_free(r);
	/* Big arguments and results (4 MiB each way). */
	size_t big = (size_t)4 << 20;
	unsigned char *buf = malloc(big);
	for (size_t i = 0; i < big; i++)
		buf[i] = (unsigned char)(i * 13);
	tp_payload *b;
	TP_OK_OR_FAIL(tp_payload_new(&b));
	TP_OK_OR_FAIL(tp_payload_add_bytes(b, buf, big));
	TP_OK_OR_FAIL(tp_pool_apply(pool, t_rev, b, &out));
	assert_int_equal(int_at(out, 0), (int64_t)big);
	const void *d;
	size_t len;
	TP_OK_OR_FAIL(tp_payload_get_bytes(out, 1, &d, &len));
	assert_int_equal(len, big);
	for (size_t i = 0; i < big; i += 4099)
		assert_int_equal(((const unsigned char *)d)[i],
		                 buf[big - 1 - i]);
	tp_payload_free(out);
	tp_payload_free(b);
	free(buf);
	/* No args: the task sees an empty payload. */
	TP_EXPECT(tp_pool_apply(pool, t_square, NULL, &out), TP_EREMOTE);
	tp_payload_free(a);
	endpool(pool);
}

static void test_map_chunks(void **state)
{
	(void)state;
	tp_pool *pool = mkpool(2);
	size_t sizes[] = {0, 1, 2, 7, 10, 1000};
	size_t chunks[] = {0, 1, 3, 4, 1000};
	for (size_t s = 0; s < sizeof(sizes) / sizeof(*sizes); s++) {
		for (size_t c = 0; c < sizeof(chunks) / sizeof(*chunks); c++) {
			size_t n = sizes[s];
			tp_payload *in = ints(-3, n), *out;
			TP_OK_OR_FAIL(
			    tp_pool_map(pool, t_square, in, chunks[c], &out));
			assert_int_equal(tp_payload_count(out), n);
			for (size_t i = 0; i < n; i++) {
				int64_t x = -3 + (int64_t)i;
				assert_int_equal(int_at(out, i), x * x);
			}
			tp_payload_free(out);
			tp_payload_free(in);
			int64_t *vi = malloc((n + 1) * sizeof(*vi));
			for (size_t i = 0; i < n; i++)
				vi[i] = (int64_t)i - 5;
			TP_OK_OR_FAIL(tp_pool_map_int(pool, t_square, vi, n,
			                              chunks[c], vi));
			for (size_t i = 0; i < n; i++)
				assert_int_equal(vi[i], ((int64_t)i - 5) *
				                            ((int64_t)i - 5));
			free(vi);
		}
	}
	endpool(pool);
}

/* Large int maps go through a shared file; results must be the same. */
static void test_map_int_large(void **state)
{
	(void)state;
	tp_pool *pool = mkpool(2);
	size_t n = 100003, chunks[] = {0, 7, 100003};
	int64_t *v = malloc(n * sizeof(*v)), *o = malloc(n * sizeof(*o));
	for (size_t c = 0; c < 3; c++) {
		for (size_t i = 0; i < n; i++)
			v[i] = (int64_t)i - 50000;
		TP_OK_OR_FAIL(tp_pool_map_int(pool, t_square, v, n, chunks[c],
		                              c == 1 ? v : o));
		const int64_t *r = c == 1 ? v : o;
		for (size_t i = 0; i < n; i++)
			assert_int_equal(r[i], ((int64_t)i - 50000) *
			                           ((int64_t)i - 50000));
	}
	/* A failure inside the shared-file path is reported as usual. */
	v[77777] = 0;
	TP_EXPECT(tp_pool_map_int(pool, t_div, v, n, 1000, o), TP_EREMOTE);
	tp_pool_error e;
	TP_OK_OR_FAIL(tp_pool_last_err(&e));
	assert_string_equal(e.message, "division by zero");
	free(v);
	free(o);
	endpool(pool);
}

/* General maps: int items whose results change type mid-chunk, items of
 * other types, results that add nothing (none). */
static void test_map_mixed(void **state)
{
	(void)state;
	tp_pool *pool = mkpool(2);
	tp_payload *in = ints(0, 20), *out;
	for (size_t cs = 1; cs <= 20; cs += 6) {
		TP_OK_OR_FAIL(tp_pool_map(pool, t_mixed, in, cs, &out));
		assert_int_equal(tp_payload_count(out), 20);
		for (size_t i = 0; i < 20; i++) {
			tp_type ty;
			TP_OK_OR_FAIL(tp_payload_type(out, i, &ty));
			if (i == 7) {
				assert_int_equal(ty, TP_TNONE);
			} else if (i % 2 == 0) {
				assert_int_equal(int_at(out, i),
				                 (int64_t)i / 2);
			} else {
				const char *str;
				TP_OK_OR_FAIL(
				    tp_payload_get_string(out, i, &str));
				assert_string_equal(str, "odd");
			}
		}
		tp_payload_free(out);
	}
	tp_payload *strs;
	TP_OK_OR_FAIL(tp_payload_new(&strs));
	TP_OK_OR_FAIL(tp_payload_add_string(strs, "abc"));
	TP_OK_OR_FAIL(tp_payload_add_int(strs, 4));
	TP_OK_OR_FAIL(tp_payload_add_string(strs, ""));
	TP_OK_OR_FAIL(tp_pool_map(pool, t_mixed, strs, 0, &out));
	assert_int_equal(int_at(out, 0), 3);
	assert_int_equal(int_at(out, 1), 2);
	assert_int_equal(int_at(out, 2), 0);
	tp_payload_free(out);
	tp_payload_free(strs);
	tp_payload_free(in);
	endpool(pool);
}

static int cb_count(const tp_payload *v, void *arg)
{
	(void)v;
	__atomic_add_fetch((int *)arg, 1, __ATOMIC_SEQ_CST);
	return 0;
}

static void test_starmap(void **state)
{
	(void)state;
	tp_pool *pool = mkpool(2);
	tp_payload *argv[5], *out;
	for (int i = 0; i < 5; i++)
		argv[i] = pair(i, 10 * i);
	TP_OK_OR_FAIL(tp_pool_starmap(
	    pool, t_add, (const tp_payload *const *)argv, 5, 2, &out));
	assert_int_equal(tp_payload_count(out), 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(int_at(out, (size_t)i), 11 * i);
	tp_payload_free(out);
	int calls = 0;
	tp_pool_result *r;
	TP_OK_OR_FAIL(tp_pool_starmap_async(pool, t_add,
	                                    (const tp_payload *const *)argv, 5,
	                                    0, cb_count, NULL, &calls, &r));
	TP_OK_OR_FAIL(tp_pool_result_get(r, &out, 10000));
	assert_int_equal(int_at(out, 4), 44);
	tp_payload_free(out);
	tp_pool_result_free(r);
	for (int i = 0; i < 5; i++)
		tp_payload_free(argv[i]);
	/* A NULL argument list is an empty one. */
	const tp_payload *none[1] = {NULL};
	TP_EXPECT(tp_pool_starmap(pool, t_add, none, 1, 1, &out), TP_EREMOTE);
	tp_pool_error e;
	TP_OK_OR_FAIL(tp_pool_last_err(&e));
	assert_string_equal(e.message, "add needs two ints");
	endpool(pool);
	assert_int_equal(calls, 1);
}

static void test_imap(void **state)
{
	(void)state;
	tp_pool *pool = mkpool(2);
	tp_payload *in = ints(0, 23), *v;
	tp_pool_iter *it;
	size_t idx;
	TP_OK_OR_FAIL(tp_pool_imap(pool, t_square, in, 4, &it));
	for (size_t i = 0; i < 23; i++) {
		TP_OK_OR_FAIL(tp_pool_iter_next(it, &v, &idx, 10000));
		assert_int_equal(idx, i);
		assert_int_equal(int_at(v, 0), (int64_t)(i * i));
		tp_payload_free(v);
	}
	TP_EXPECT(tp_pool_iter_next(it, &v, &idx, 0), TP_ENOENT);
	tp_pool_iter_free(it);
	unsigned char seen[23] = {0};
	TP_OK_OR_FAIL(tp_pool_imap_unordered(pool, t_square, in, 0, &it));
	for (size_t i = 0; i < 23; i++) {
		TP_OK_OR_FAIL(tp_pool_iter_next(it, &v, &idx, 10000));
		assert_true(idx < 23 && !seen[idx]);
		seen[idx] = 1;
		assert_int_equal(int_at(v, 0), (int64_t)(idx * idx));
		tp_payload_free(v);
	}
	TP_EXPECT(tp_pool_iter_next(it, &v, NULL, 0), TP_ENOENT);
	tp_pool_iter_free(it);
	/* next with a timeout on a slow item. */
	tp_payload *slow = ints(300, 1);
	TP_OK_OR_FAIL(tp_pool_imap(pool, f_sleep, slow, 1, &it));
	TP_EXPECT(tp_pool_iter_next(it, &v, NULL, 20), TP_ETIMEDOUT);
	TP_OK_OR_FAIL(tp_pool_iter_next(it, &v, NULL, 10000));
	tp_payload_free(v);
	tp_pool_iter_free(it);
	/* An empty imap ends at once; a failing item reports, then goes on. */
	tp_payload *empty = ints(0, 0), *divs = ints(-1, 3);
	TP_OK_OR_FAIL(tp_pool_imap(pool, t_square, empty, 1, &it));
	TP_EXPECT(tp_pool_iter_next(it, &v, NULL, 0), TP_ENOENT);
	tp_pool_iter_free(it);
	TP_OK_OR_FAIL(tp_pool_imap(pool, t_div, divs, 1, &it));
	TP_OK_OR_FAIL(tp_pool_iter_next(it, &v, NULL, 10000));
	assert_int_equal(int_at(v, 0), -100);
	tp_payload_free(v);
	TP_EXPECT(tp_pool_iter_next(it, &v, &idx, 10000), TP_EREMOTE);
	assert_int_equal(idx, 1);
	tp_pool_error e;
	TP_OK_OR_FAIL(tp_pool_iter_err(it, &e));
	assert_string_equal(e.message, "division by zero");
	TP_OK_OR_FAIL(tp_pool_iter_next(it, &v, NULL, 10000));
	assert_int_equal(int_at(v, 0), 100);
	tp_payload_free(v);
	tp_pool_iter_free(it);
	tp_payload_free(empty);
	tp_payload_free(divs);
	tp_payload_free(slow);
	tp_payload_free(in);
	endpool(pool);
}

static int ecb_seen;
static char ecb_msg[256], ecb_origin[256];
static int ecb_record(const tp_pool_error *e, void *arg)
{
	(void)arg;
	snprintf(ecb_msg, sizeof(ecb_msg), "%s", e->message);
	snprintf(ecb_origin, sizeof(ecb_origin), "%s", e->origin);
	__atomic_add_fetch(&ecb_seen, 1, __ATOMIC_SEQ_CST);
	return 0;
}

static void test_task_errors(void **state)
{
	(void)state;
	tp_pool *pool = mkpool(1);
	tp_payload *zero = ints(0, 1), *out = NULL, *in = ints(-2, 5);
	tp_pool_result *r;
	tp_pool_error e;
	TP_EXPECT(tp_pool_apply(pool, t_div, zero, &out), TP_EREMOTE);
	assert_null(out);
	TP_OK_OR_FAIL(tp_pool_last_err(&e));
	assert_int_equal(e.code, TP_EREMOTE);
	assert_string_equal(e.message, "division by zero");
	assert_non_null(strstr(e.origin, "PoolWorker-"));
	assert_non_null(strstr(e.origin, "t_div"));
	/* error_callback gets the remote error. */
	TP_OK_OR_FAIL(
	    tp_pool_apply_async(pool, t_div, zero, NULL, ecb_record, NULL, &r));
	TP_EXPECT(tp_pool_result_get(r, NULL, 10000), TP_EREMOTE);
	int ok = 1;
	TP_OK_OR_FAIL(tp_pool_result_successful(r, &ok));
	assert_false(ok);
	TP_OK_OR_FAIL(tp_pool_result_err(r, &e));
	assert_string_equal(e.message, "division by zero");
	tp_pool_result_free(r);
	/* the callback ran before the result was ready for get: it is done */
	assert_int_equal(ecb_seen, 1);
	assert_string_equal(ecb_msg, "division by zero");
	/* A plain non-zero return: code and a generated message. */
	TP_EXPECT(tp_pool_apply(pool, t_code7, NULL, &out), TP_EREMOTE);
	TP_OK_OR_FAIL(tp_pool_last_err(&e));
	assert_int_equal(e.code, 7);
	assert_int_equal(e.exitcode, 0); /* no worker died */
	assert_int_equal(e.signal, 0);
	assert_string_equal(e.message, "t_code7 returned 7 (Wrong value type)");
	/* A map fails with its failing item, named by its index in the
	 * whole map (100 / 0 at index 2), chunked or not. */
	TP_EXPECT(tp_pool_map(pool, t_div, in, 1, &out), TP_EREMOTE);
	TP_OK_OR_FAIL(tp_pool_last_err(&e));
	assert_non_null(strstr(e.origin, "item 2)"));
	TP_EXPECT(tp_pool_map(pool, t_div, in, 2, &out), TP_EREMOTE);
	TP_OK_OR_FAIL(tp_pool_last_err(&e));
	assert_non_null(strstr(e.origin, "item 2)"));
	/* map_int needs int results. */
	int64_t v[3] = {1, 2, 3};
	TP_EXPECT(tp_pool_map_int(pool, t_str, v, 3, 1, v), TP_ETYPE);
	/* Fire and forget: logged on stderr, nothing else to check. */
	TP_OK_OR_FAIL(
	    tp_pool_apply_async(pool, t_div, zero, NULL, NULL, NULL, NULL));
	tp_payload_free(zero);
	tp_payload_free(in);
	endpool(pool);
}

static void test_timeouts_and_states(void **state)
{
	(void)state;
	tp_pool *pool = mkpool(1);
	tp_payload *slow = pair(300, 5), *out;
	tp_pool_result *r;
	int ok;
	TP_OK_OR_FAIL(
	    tp_pool_apply_async(pool, f_sleep, slow, NULL, NULL, NULL, &r));
	TP_EXPECT(tp_pool_result_get(r, &out, 10), TP_ETIMEDOUT);
	TP_EXPECT(tp_pool_result_wait(r, 10), TP_ETIMEDOUT);
	assert_false(tp_pool_result_ready(r));
	TP_EXPECT(tp_pool_result_successful(r, &ok), TP_ESTATE);
	TP_OK_OR_FAIL(tp_pool_result_wait(r, 10000));
	TP_OK_OR_FAIL(tp_pool_result_get(r, &out, 0));
	assert_int_equal(int_at(out, 0), 5);
	tp_payload_free(out);
	/* join before close is an error; submissions after close too. */
	TP_EXPECT(tp_pool_join(pool, 0), TP_ESTATE);
	TP_OK_OR_FAIL(tp_pool_close(pool));
	TP_OK_OR_FAIL(tp_pool_close(pool));
	TP_EXPECT(tp_pool_apply(pool, t_square, slow, &out), TP_ESTATE);
	TP_OK_OR_FAIL(tp_pool_join(pool, 20000));
	TP_OK_OR_FAIL(tp_pool_join(pool, 0));
	endpool(pool);
	/* The result outlives its pool. */
	TP_OK_OR_FAIL(tp_pool_result_get(r, &out, 0));
	assert_int_equal(int_at(out, 0), 5);
	tp_payload_free(out);
	tp_pool_result_free(r);
	tp_payload_free(slow);
}

static void test_bad_args(void **state)
{
	(void)state;
	tp_pool *pool = NULL;
	tp_payload *out;
	tp_pool_opts o = {.processes = -1};
	TP_EXPECT(tp_pool_new(NULL, 1, NULL, NULL, 0), TP_EINVAL);
	TP_EXPECT(tp_pool_new_opts(&pool, &o), TP_EINVAL);
	TP_EXPECT(tp_pool_new(&pool, 1, not_registered, NULL, 0), TP_ENOTREG);
	assert_null(pool);
	pool = mkpool(1);
	TP_EXPECT(tp_pool_apply(pool, not_registered, NULL, &out), TP_ENOTREG);
	TP_EXPECT(tp_pool_apply(pool, NULL, NULL, &out), TP_EINVAL);
	TP_EXPECT(tp_pool_apply(NULL, t_square, NULL, &out), TP_EINVAL);
	TP_EXPECT(tp_pool_map(pool, t_square, NULL, 0, &out), TP_EINVAL);
	TP_EXPECT(tp_pool_map_int(pool, t_square, NULL, 3, 0, NULL), TP_EINVAL);
	TP_EXPECT(tp_pool_result_get(NULL, &out, 0), TP_EINVAL);
	TP_EXPECT(tp_pool_iter_next(NULL, &out, NULL, 0), TP_EINVAL);
	TP_EXPECT(tp_pool_join(pool, -2), TP_EINVAL);
	tp_pool_result_free(NULL);
	tp_pool_iter_free(NULL);
	tp_pool_free(NULL);
	endpool(pool);
}

static void test_initializer(void **state)
{
	(void)state;
	tp_pool *pool;
	tp_payload *ia = ints(42, 1), *out;
	TP_OK_OR_FAIL(tp_pool_new(&pool, 2, t_init, ia, 0));
	for (int i = 0; i < 4; i++) {
		TP_OK_OR_FAIL(tp_pool_apply(pool, t_get_init, NULL, &out));
		assert_int_equal(int_at(out, 0), 42);
		tp_payload_free(out);
	}
	endpool(pool);
	pool = (tp_pool *)1;
	TP_EXPECT(tp_pool_new(&pool, 2, t_init_fail, NULL, 0), TP_EREMOTE);
	assert_null(pool);
	assert_int_equal(tp_test_children(), baseline);
	tp_payload_free(ia);
}

static int cb_fail(const tp_payload *v, void *arg)
{
	(void)v;
	__atomic_add_fetch((int *)arg, 1, __ATOMIC_SEQ_CST);
	return -1;
}

static int ecb_fail(const tp_pool_error *e, void *arg)
{
	(void)e;
	__atomic_add_fetch((int *)arg, 1, __ATOMIC_SEQ_CST);
	return -1;
}

static void test_failing_callbacks(void **state)
{
	(void)state;
	tp_pool *pool = mkpool(2);
	tp_payload *a = ints(3, 1), *zero = ints(0, 1);
	tp_pool_result *rs[20];
	int calls = 0;
	for (int i = 0; i < 20; i++)
		TP_OK_OR_FAIL(tp_pool_apply_async(pool, t_div, i % 2 ? a : zero,
		                                  cb_fail, ecb_fail, &calls,
		                                  &rs[i]));
	for (int i = 0; i < 20; i++) {
		TP_EXPECT(tp_pool_result_get(rs[i], NULL, 10000),
		          i % 2 ? TP_OK : TP_EREMOTE);
		tp_pool_result_free(rs[i]);
	}
	TP_OK_OR_FAIL(tp_pool_close(pool));
	TP_OK_OR_FAIL(tp_pool_join(pool, 20000));
	assert_int_equal(calls, 20);
	tp_payload_free(a);
	tp_payload_free(zero);
	endpool(pool);
}

static size_t prog_last, prog_calls;
static void on_prog(size_t done, size_t total, void *arg)
{
	(void)arg;
	assert_int_equal(total, 100);
	assert_true(done >= prog_last);
	prog_last = done;
	prog_calls++;
}

static void test_progress_and_sched(void **state)
{
	(void)state;
	const tp_pool_sched *scheds[] = {&tp_pool_sched_least_loaded,
	                                 &tp_pool_sched_round_robin};
	for (int s = 0; s < 2; s++) {
		tp_pool_opts o = {
		    .processes = 2, .sched = scheds[s], .pipeline = s + 1};
		tp_pool *pool;
		tp_pool_result *r;
		tp_payload *in = ints(0, 100), *out;
		size_t done, total;
		TP_OK_OR_FAIL(tp_pool_new_opts(&pool, &o));
		prog_last = prog_calls = 0;
		TP_OK_OR_FAIL(tp_pool_map_async(pool, t_square, in, 10, NULL,
		                                NULL, NULL, &r));
		TP_OK_OR_FAIL(tp_pool_result_on_progress(r, on_prog, NULL));
		TP_OK_OR_FAIL(tp_pool_result_get(r, &out, 10000));
		TP_OK_OR_FAIL(tp_pool_result_progress(r, &done, &total));
		assert_int_equal(done, 100);
		assert_int_equal(total, 100);
		assert_int_equal(int_at(out, 99), 99 * 99);
		tp_payload_free(out);
		tp_pool_result_free(r);
		tp_pool_stats st;
		tp_pool_worker_stats ws[2];
		assert_int_equal(tp_pool_stats_get(pool, &st, ws, 2), 2);
		assert_int_equal(st.processes, 2);
		assert_int_equal(ws[0].tasks_done + ws[1].tasks_done, 10);
		assert_true(ws[0].pid > 0 && ws[1].pid > 0);
		tp_payload_free(in);
		endpool(pool);
		assert_true(prog_calls >= 1);
		assert_int_equal(prog_last, 100);
	}
}

/* Workers started with spawn (fork + exec) find tasks by name too. */
static void test_spawn_workers(void **state)
{
	(void)state;
	tp_pool_opts o = {.processes = 2, .method = TP_START_SPAWN};
	tp_pool *pool;
	tp_payload *in = ints(0, 10), *out;
	int64_t v[5] = {1, 2, 3, 4, 5};
	TP_OK_OR_FAIL(tp_pool_new_opts(&pool, &o));
	TP_OK_OR_FAIL(tp_pool_map(pool, t_square, in, 3, &out));
	assert_int_equal(int_at(out, 9), 81);
	tp_payload_free(out);
	TP_OK_OR_FAIL(tp_pool_map_int(pool, t_square, v, 5, 0, v));
	assert_int_equal(v[4], 25);
	tp_payload_free(in);
	endpool(pool);
}

int main(void)
{
	tp_spawn_guard();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_apply),
	    cmocka_unit_test(test_map_chunks),
	    cmocka_unit_test(test_map_int_large),
	    cmocka_unit_test(test_map_mixed),
	    cmocka_unit_test(test_starmap),
	    cmocka_unit_test(test_imap),
	    cmocka_unit_test(test_task_errors),
	    cmocka_unit_test(test_timeouts_and_states),
	    cmocka_unit_test(test_bad_args),
	    cmocka_unit_test(test_initializer),
	    cmocka_unit_test(test_failing_callbacks),
	    cmocka_unit_test(test_progress_and_sched),
	    cmocka_unit_test(test_spawn_workers),
	};
	return cmocka_run_group_tests(tests, pool_setup, pool_teardown);
}
