/*
 * test_pool_payloads.c - every payload type through the pool's general
 * path: ints, doubles, strings (empty too), bytes (0-length too), a user's
 * protobuf-c message, none, and mixed lists, through map, imap, starmap and
 * apply at several chunk sizes; the message limit and one byte over it;
 * malformed value columns; a chunk whose one call fails; long task
 * messages; the per-task time limit. Correctness only, no timings.
 */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pool_util.h"
#include "troupe.pb-c.h"
#include "values.h"

/* Appends value i of src to dst through the public API. */
static int add_value(tp_payload *dst, const tp_payload *src, size_t i)
{
	tp_type t;
	int64_t iv;
	double dv;
	const char *s;
	const void *d;
	size_t n;
	ProtobufCMessage *m = NULL;
	int rv = tp_payload_type(src, i, &t);
	if (rv != TP_OK)
		return rv;
	switch (t) {
	case TP_TNONE:
		return tp_payload_add_none(dst);
	case TP_TINT:
		tp_payload_get_int(src, i, &iv);
		return tp_payload_add_int(dst, iv);
	case TP_TDOUBLE:
		tp_payload_get_double(src, i, &dv);
		return tp_payload_add_double(dst, dv);
	case TP_TSTRING:
		tp_payload_get_string(src, i, &s);
		return tp_payload_add_string(dst, s);
	case TP_TBYTES:
		tp_payload_get_bytes(src, i, &d, &n);
		return tp_payload_add_bytes(dst, d, n);
	default:
		rv = tp_payload_get_proto(src, i,
		                          &troupe__exit_event__descriptor, &m);
		if (rv == TP_OK)
			rv = tp_payload_add_proto(dst, m);
		protobuf_c_message_free_unpacked(m, NULL);
		return rv;
	}
}

/* map: gives back its one argument. */
static int t_echo(const tp_payload *args, tp_payload *res)
{
	return add_value(res, args, 0);
}
TP_TARGET(t_echo);

/* apply: gives back every argument (all ints or all doubles: a packed
 * result of several values). */
static int t_echo_all(const tp_payload *args, tp_payload *res)
{
	int rv = 0;
	for (size_t i = 0; i < tp_payload_count(args) && rv == 0; i++)
		rv = add_value(res, args, i);
	return rv;
}
TP_TARGET(t_echo_all);

/* starmap, apply: the whole argument list, encoded, as one bytes value. */
static int t_pack(const tp_payload *args, tp_payload *res)
{
	void *buf;
	size_t len;
	int rv = tp_payload_encode(args, 0, &buf, &len);
	if (rv != TP_OK)
		return rv;
	rv = tp_payload_add_bytes(res, buf, len);
	free(buf);
	return rv;
}
TP_TARGET(t_pack);

/* Fails on odd ints, echoes the others. */
static int t_odd_fails(const tp_payload *args, tp_payload *res)
{
	int64_t x;
	int rv = tp_payload_get_int(args, 0, &x);
	if (rv != TP_OK)
		return rv;
	if (x % 2 != 0)
		return tp_task_fail(res, "odd %lld", (long long)x);
	return tp_payload_add_int(res, x);
}
TP_TARGET(t_odd_fails);

/* A result of args[0] bytes. */
static int t_bytes_of(const tp_payload *args, tp_payload *res)
{
	int64_t n;
	int rv = tp_payload_get_int(args, 0, &n);
	if (rv != TP_OK)
		return rv;
	char *b = calloc((size_t)n + 1, 1);
	if (b == NULL)
		return TP_ENOMEM;
	rv = tp_payload_add_bytes(res, b, (size_t)n);
	free(b);
	return rv;
}
TP_TARGET(t_bytes_of);

/* A string argument: an int gives TP_ETYPE back. */
static int t_upper(const tp_payload *args, tp_payload *res)
{
	const char *s;
	int rv = tp_payload_get_string(args, 0, &s);
	return rv ? rv : tp_payload_add_string(res, s);
}
TP_TARGET(t_upper);

/* A string result whatever the argument. */
static int t_echo_str(const tp_payload *args, tp_payload *res)
{
	(void)args;
	return tp_payload_add_string(res, "not an int");
}
TP_TARGET(t_echo_str);

/* A message of args[0] bytes of 'x'. */
static int t_long_msg(const tp_payload *args, tp_payload *res)
{
	int64_t n;
	tp_payload_get_int(args, 0, &n);
	char *m = malloc((size_t)n + 1);
	memset(m, 'x', (size_t)n);
	m[n] = '\0';
	int rv = tp_task_fail(res, "%s", m);
	free(m);
	return rv;
}
TP_TARGET(t_long_msg);

/* Sleeps args[0] ms (forever when < 0), returns args[0]. */
static int t_nap(const tp_payload *args, tp_payload *res)
{
	int64_t ms;
	tp_payload_get_int(args, 0, &ms);
	do {
		struct timespec ts = {ms < 0 ? 3600 : ms / 1000,
		                      ms < 0 ? 0 : (ms % 1000) * 1000000L};
		nanosleep(&ts, NULL);
	} while (ms < 0);
	return tp_payload_add_int(res, ms);
}
TP_TARGET(t_nap);

/* Every kind of value, edge cases included. */
static tp_payload *mixed(void)
{
	static const unsigned char nul3[3] = {0, 1, 0};
	Troupe__ExitEvent ev = TROUPE__EXIT_EVENT__INIT;
	tp_payload *p;
	char big[3000];
	memset(big, 'b', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ev.pid = 77;
	ev.name = "Process-7";
	TP_OK_OR_FAIL(tp_payload_new(&p));
	TP_OK_OR_FAIL(tp_payload_add_int(p, 0));
	TP_OK_OR_FAIL(tp_payload_add_int(p, INT64_MIN));
	TP_OK_OR_FAIL(tp_payload_add_int(p, INT64_MAX));
	TP_OK_OR_FAIL(tp_payload_add_double(p, -0.0));
	TP_OK_OR_FAIL(tp_payload_add_double(p, DBL_MAX));
	TP_OK_OR_FAIL(tp_payload_add_double(p, 3.1415927));
	TP_OK_OR_FAIL(tp_payload_add_string(p, ""));
	TP_OK_OR_FAIL(tp_payload_add_string(p, "h\xc3\xa9llo"));
	TP_OK_OR_FAIL(tp_payload_add_string(p, big));
	TP_OK_OR_FAIL(tp_payload_add_bytes(p, NULL, 0));
	TP_OK_OR_FAIL(tp_payload_add_bytes(p, nul3, sizeof(nul3)));
	TP_OK_OR_FAIL(tp_payload_add_none(p));
	TP_OK_OR_FAIL(tp_payload_add_proto(p, &ev.base));
	return p;
}

/* Whether a and b hold the same values (compared by their encoding). */
static void assert_same(const tp_payload *a, const tp_payload *b)
{
	void *x, *y;
	size_t lx, ly;
	TP_OK_OR_FAIL(tp_payload_encode(a, 0, &x, &lx));
	TP_OK_OR_FAIL(tp_payload_encode(b, 0, &y, &ly));
	assert_int_equal(lx, ly);
	assert_memory_equal(x, y, lx);
	free(x);
	free(y);
}

/* The first k values of p. */
static tp_payload *first_of(const tp_payload *p, size_t k)
{
	tp_payload *o;
	TP_OK_OR_FAIL(tp_payload_new(&o));
	for (size_t i = 0; i < k; i++)
		TP_OK_OR_FAIL(add_value(o, p, i));
	return o;
}

/* Value i of p alone. */
static tp_payload *one_of(const tp_payload *p, size_t i)
{
	tp_payload *o;
	TP_OK_OR_FAIL(tp_payload_new(&o));
	TP_OK_OR_FAIL(add_value(o, p, i));
	return o;
}

static void test_map_every_type(void **state)
{
	(void)state;
	tp_pool *pool = mkpool(2);
	tp_payload *in = mixed(), *out;
	size_t sizes[] = {0, 1, 3, 100};
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		TP_OK_OR_FAIL(tp_pool_map(pool, t_echo, in, sizes[k], &out));
		assert_same(in, out);
		tp_payload_free(out);
	}
	/* imap, ordered and not: each item alone, all of them once */
	for (int unordered = 0; unordered < 2; unordered++) {
		tp_pool_call_opts o = {.chunksize = 4, .unordered = unordered};
		tp_pool_iter *it;
		size_t seen = 0, idx;
		tp_payload *v;
		TP_OK_OR_FAIL(tp_pool_imap_opts(pool, t_echo, in, &o, &it));
		while (tp_pool_iter_next(it, &v, &idx, 10000) == TP_OK) {
			tp_payload *want = one_of(in, idx);
			assert_same(want, v);
			tp_payload_free(want);
			tp_payload_free(v);
			seen++;
		}
		assert_int_equal(seen, tp_payload_count(in));
		tp_pool_iter_free(it);
	}
	tp_payload_free(in);
	endpool(pool);
}

static void test_starmap_apply_every_type(void **state)
{
	(void)state;
	tp_pool *pool = mkpool(2);
	tp_payload *all = mixed(), *out, *empty;
	size_t n = tp_payload_count(all);
	/* call i takes values 0..i-1 of the mixed list: 0 to n arguments */
	tp_payload **argv = calloc(n + 1, sizeof(*argv));
	for (size_t i = 0; i <= n; i++)
		argv[i] = first_of(all, i);
	TP_OK_OR_FAIL(tp_pool_starmap(
	    pool, t_pack, (const tp_payload *const *)argv, n + 1, 2, &out));
	assert_int_equal(tp_payload_count(out), n + 1);
	for (size_t i = 0; i <= n; i++) {
		const void *b;
		size_t l;
		tp_payload *got;
		TP_OK_OR_FAIL(tp_payload_get_bytes(out, i, &b, &l));
		TP_OK_OR_FAIL(tp_payload_decode(b, l, 0, &got));
		assert_same(argv[i], got);
		tp_payload_free(got);
	}
	tp_payload_free(out);
	/* apply: every value there and back */
	TP_OK_OR_FAIL(tp_pool_apply(pool, t_pack, all, &out));
	const void *b;
	size_t l;
	tp_payload *got;
	TP_OK_OR_FAIL(tp_payload_get_bytes(out, 0, &b, &l));
	TP_OK_OR_FAIL(tp_payload_decode(b, l, 0, &got));
	assert_same(all, got);
	tp_payload_free(got);
	tp_payload_free(out);
	/* apply with no arguments at all */
	TP_OK_OR_FAIL(tp_payload_new(&empty));
	TP_OK_OR_FAIL(tp_pool_apply(pool, t_pack, NULL, &out));
	TP_OK_OR_FAIL(tp_payload_get_bytes(out, 0, &b, &l));
	TP_OK_OR_FAIL(tp_payload_decode(b, l, 0, &got));
	assert_same(empty, got);
	tp_payload_free(got);
	tp_payload_free(out);
	tp_payload_free(empty);
	for (size_t i = 0; i <= n; i++)
		tp_payload_free(argv[i]);
	free(argv);
	tp_payload_free(all);
	endpool(pool);
}

static tp_payload *byte_items(const size_t *lens, size_t n)
{
	tp_payload *p;
	TP_OK_OR_FAIL(tp_payload_new(&p));
	for (size_t i = 0; i < n; i++) {
		char *b = calloc(lens[i] + 1, 1);
		TP_OK_OR_FAIL(tp_payload_add_bytes(p, b, lens[i]));
		free(b);
	}
	return p;
}

static tp_payload *int_items(int64_t from, size_t n)
{
	tp_payload *p;
	TP_OK_OR_FAIL(tp_payload_new(&p));
	for (size_t i = 0; i < n; i++)
		TP_OK_OR_FAIL(tp_payload_add_int(p, from + (int64_t)i));
	return p;
}

/* The submit's TP_ETOOBIG with max_msg 4096 whether the items know their
 * bytes (built by add calls, or copied by an async map) or not (decoded):
 * one item of 4091 bytes, and three of 1360 that are over only together
 * in one chunk (4098 bytes); nothing runs, and a byte less each fits. */
static void limit_known_or_not(tp_pool *pool)
{
	size_t one[] = {4091}, three[] = {1360, 1360, 1360};
	size_t three_fit[] = {1359, 1359, 1359}; /* 4095 */
	tp_pool_call_opts co = {.chunksize = 3};
	tp_payload *in, *dec, *out = NULL;
	tp_pool_result *r;
	void *buf;
	size_t len;
	for (int k = 0; k < 2; k++) {
		in = k == 0 ? byte_items(one, 1) : byte_items(three, 3);
		TP_OK_OR_FAIL(tp_payload_encode(in, 0, &buf, &len));
		TP_OK_OR_FAIL(tp_payload_decode(buf, len, 0, &dec));
		free(buf);
		TP_EXPECT(tp_pool_map_opts(pool, t_echo, in, &co, &out),
		          TP_ETOOBIG);
		TP_EXPECT(tp_pool_map_opts(pool, t_echo, dec, &co, &out),
		          TP_ETOOBIG);
		assert_null(out);
		TP_EXPECT(tp_pool_map_async(pool, t_echo, in, 3, NULL, NULL,
		                            NULL, &r),
		          TP_ETOOBIG);
		tp_payload_free(dec);
		tp_payload_free(in);
	}
	in = byte_items(three_fit, 3);
	TP_OK_OR_FAIL(tp_payload_encode(in, 0, &buf, &len));
	TP_OK_OR_FAIL(tp_payload_decode(buf, len, 0, &dec));
	free(buf);
	TP_OK_OR_FAIL(tp_pool_map_opts(pool, t_echo, dec, &co, &out));
	assert_same(in, out);
	tp_payload_free(out);
	TP_OK_OR_FAIL(tp_pool_map_opts(pool, t_echo, in, &co, &out));
	assert_same(in, out);
	tp_payload_free(out);
	tp_payload_free(dec);
	tp_payload_free(in);
}

/* max_msg counts a bytes value as 1 + 4 + its length + 1: the largest
 * that fits in 4096 is 4090 bytes; one more is TP_ETOOBIG, nothing is
 * submitted and the pool goes on. A result over the limit fails its task
 * alone with TP_ETOOBIG. */
static void test_message_limit(void **state)
{
	(void)state;
	tp_pool_opts o = {.processes = 1, .max_msg = 4096};
	tp_pool *pool;
	tp_payload *in, *out = NULL;
	tp_pool_error e;
	size_t fits[] = {4090}, over[] = {4091};
	TP_OK_OR_FAIL(tp_pool_new_opts(&pool, &o));
	in = byte_items(fits, 1);
	TP_OK_OR_FAIL(tp_pool_map(pool, t_echo, in, 1, &out));
	assert_same(in, out);
	tp_payload_free(out);
	tp_payload_free(in);
	in = byte_items(over, 1);
	TP_EXPECT(tp_pool_map(pool, t_echo, in, 1, &out), TP_ETOOBIG);
	assert_null(out);
	TP_EXPECT(tp_pool_apply(pool, t_echo, in, &out), TP_ETOOBIG);
	tp_payload_free(in);
	/* results: 4090 bytes fit, 4091 do not; the others are delivered */
	int64_t ns[] = {10, 4090, 4091, 20};
	tp_payload *args;
	TP_OK_OR_FAIL(tp_payload_new(&args));
	for (size_t i = 0; i < 4; i++)
		TP_OK_OR_FAIL(tp_payload_add_int(args, ns[i]));
	tp_pool_call_opts co = {.chunksize = 4};
	tp_pool_iter *it;
	tp_payload *v;
	size_t idx;
	const void *d;
	size_t len;
	TP_OK_OR_FAIL(tp_pool_imap_opts(pool, t_bytes_of, args, &co, &it));
	for (size_t i = 0; i < 4; i++) {
		int rv = tp_pool_iter_next(it, &v, &idx, 10000);
		assert_int_equal(idx, i);
		if (i == 2) {
			/* the 4091 bytes: the whole chunk's results are over
			 * the limit, so the chunk fails as one */
			assert_int_equal(rv, TP_ETOOBIG);
			TP_OK_OR_FAIL(tp_pool_iter_err(it, &e));
			assert_non_null(strstr(e.message, "message limit"));
			continue;
		}
		if (rv == TP_ETOOBIG)
			continue; /* the same chunk */
		TP_OK_OR_FAIL(rv);
		TP_OK_OR_FAIL(tp_payload_get_bytes(v, 0, &d, &len));
		assert_int_equal(len, (size_t)ns[i]);
		tp_payload_free(v);
	}
	tp_pool_iter_free(it);
	co.chunksize = 1; /* one result per task: only 4091 fails */
	TP_OK_OR_FAIL(tp_pool_imap_opts(pool, t_bytes_of, args, &co, &it));
	for (size_t i = 0; i < 4; i++) {
		int rv = tp_pool_iter_next(it, &v, &idx, 10000);
		if (i == 2) {
			assert_int_equal(rv, TP_ETOOBIG);
			continue;
		}
		TP_OK_OR_FAIL(rv);
		TP_OK_OR_FAIL(tp_payload_get_bytes(v, 0, &d, &len));
		assert_int_equal(len, (size_t)ns[i]);
		tp_payload_free(v);
	}
	tp_pool_iter_free(it);
	tp_payload_free(args);
	limit_known_or_not(pool);
	/* the pool goes on */
	in = int_items(0, 10);
	TP_OK_OR_FAIL(tp_pool_map(pool, t_echo, in, 0, &out));
	assert_same(in, out);
	tp_payload_free(out);
	tp_payload_free(in);
	endpool(pool);
}

/* Malformed value columns are refused with TP_EDECODE, never read. */
static void test_malformed_values(void **state)
{
	(void)state;
	struct tp__vread r;
	uint8_t kinds2[2] = {2, 4}, bad_kind[1] = {9}, user[1] = {6};
	int64_t ints[2] = {5, 6};
	uint32_t len3 = 3, len9 = 9, calls_bad = 3;
	uint8_t abc[4] = {'a', 'b', 'c', 0}, abcx[4] = {'a', 'b', 'c', 'x'};
	uint8_t abc_tn[8] = {'a', 'b', 'c', 0, 't', '.', 'M', 0};
	Troupe__Values m;
	struct tp_value v;
#define RESET()                                                                \
	do {                                                                   \
		troupe__values__init(&m);                                      \
		m.count = 2;                                                   \
		m.kinds.data = kinds2;                                         \
		m.kinds.len = 2;                                               \
		m.ints.data = (uint8_t *)ints;                                 \
		m.ints.len = 8;                                                \
		m.lens.data = (uint8_t *)&len3;                                \
		m.lens.len = 4;                                                \
		m.data.data = abc;                                             \
		m.data.len = 4;                                                \
	} while (0)
	RESET(); /* well formed: an int and "abc" */
	TP_OK_OR_FAIL(tp__vread_init(&r, &m));
	assert_int_equal(tp__vread_call(&r), 1);
	tp__vread_next(&r, &v);
	assert_int_equal(v.type, TP_TINT);
	assert_int_equal(v.i, 5);
	tp__vread_next(&r, &v);
	assert_int_equal(v.type, TP_TSTRING);
	assert_string_equal(v.data, "abc");
	tp__value_release(&v);
	tp__vread_done(&r);
	RESET(); /* kinds shorter than count */
	m.kinds.len = 1;
	TP_EXPECT(tp__vread_init(&r, &m), TP_EDECODE);
	RESET(); /* no kind at all */
	m.kinds.len = 0;
	TP_EXPECT(tp__vread_init(&r, &m), TP_EDECODE);
	RESET(); /* an unknown kind */
	m.count = 1;
	m.kinds.data = bad_kind;
	m.kinds.len = 1;
	TP_EXPECT(tp__vread_init(&r, &m), TP_EDECODE);
	RESET(); /* ints not matching the kinds */
	m.ints.len = 16;
	TP_EXPECT(tp__vread_init(&r, &m), TP_EDECODE);
	RESET(); /* ints not a multiple of 8 */
	m.ints.len = 7;
	TP_EXPECT(tp__vread_init(&r, &m), TP_EDECODE);
	RESET(); /* a length past the data */
	m.lens.data = (uint8_t *)&len9;
	TP_EXPECT(tp__vread_init(&r, &m), TP_EDECODE);
	RESET(); /* no NUL after the bytes */
	m.data.data = abcx;
	TP_EXPECT(tp__vread_init(&r, &m), TP_EDECODE);
	RESET(); /* data left over */
	m.data.data = abc_tn;
	m.data.len = 8;
	TP_EXPECT(tp__vread_init(&r, &m), TP_EDECODE);
	RESET(); /* no length for the string */
	m.lens.len = 0;
	TP_EXPECT(tp__vread_init(&r, &m), TP_EDECODE);
	RESET(); /* calls that do not add up to count */
	m.calls.data = (uint8_t *)&calls_bad;
	m.calls.len = 4;
	TP_EXPECT(tp__vread_init(&r, &m), TP_EDECODE);
	RESET(); /* a message without its type name */
	m.count = 1;
	m.kinds.data = user;
	m.kinds.len = 1;
	m.ints.len = 0;
	TP_EXPECT(tp__vread_init(&r, &m), TP_EDECODE);
	m.data.data = abc_tn; /* with it: fine */
	m.data.len = 8;
	TP_OK_OR_FAIL(tp__vread_init(&r, &m));
	tp__vread_next(&r, &v);
	assert_int_equal(v.type, TP_TPROTO);
	assert_string_equal(tp__value_type_name(&v), "t.M");
	tp__value_release(&v);
	tp__vread_done(&r);
	/* one number column (no kinds): checked by its length alone */
	for (int d = 0; d < 2; d++) {
		troupe__values__init(&m);
		m.count = 2;
		m.kind = d ? TROUPE__VALUE__KIND_D : TROUPE__VALUE__KIND_I;
		ProtobufCBinaryData *col = d ? &m.doubles : &m.ints;
		col->data = (uint8_t *)ints;
		col->len = 16;
		TP_OK_OR_FAIL(tp__vread_init(&r, &m)); /* well formed */
		tp__vread_next(&r, &v);
		tp__vread_next(&r, &v);
		assert_int_equal(v.type, d ? TP_TDOUBLE : TP_TINT);
		tp__vread_done(&r);
		col->len = 8; /* a value short */
		TP_EXPECT(tp__vread_init(&r, &m), TP_EDECODE);
		col->len = 24; /* a value too many */
		TP_EXPECT(tp__vread_init(&r, &m), TP_EDECODE);
		col->len = 16; /* another column besides */
		m.lens.data = (uint8_t *)&len3;
		m.lens.len = 4;
		TP_EXPECT(tp__vread_init(&r, &m), TP_EDECODE);
		m.lens.len = 0;
		m.data.data = abc;
		m.data.len = 4;
		TP_EXPECT(tp__vread_init(&r, &m), TP_EDECODE);
		m.data.len = 0;
		(d ? &m.ints : &m.doubles)->data = (uint8_t *)ints;
		(d ? &m.ints : &m.doubles)->len = 8;
		TP_EXPECT(tp__vread_init(&r, &m), TP_EDECODE);
		(d ? &m.ints : &m.doubles)->len = 0;
		m.calls.data = (uint8_t *)&calls_bad; /* calls not adding up */
		m.calls.len = 4;
		TP_EXPECT(tp__vread_init(&r, &m), TP_EDECODE);
	}
#undef RESET
}

/* In a chunk, only the failing calls fail: imap delivers the rest, and a
 * map's error names the first failing item by its index in the map. */
static void test_partial_chunk(void **state)
{
	(void)state;
	tp_pool *pool = mkpool(2);
	tp_payload *in = int_items(0, 10), *v, *out = NULL;
	tp_pool_call_opts co = {.chunksize = 4};
	tp_pool_iter *it;
	tp_pool_error e;
	size_t idx;
	int64_t x;
	char want[32];
	TP_OK_OR_FAIL(tp_pool_imap_opts(pool, t_odd_fails, in, &co, &it));
	for (size_t i = 0; i < 10; i++) {
		int rv = tp_pool_iter_next(it, &v, &idx, 10000);
		assert_int_equal(idx, i);
		if (i % 2) {
			assert_int_equal(rv, TP_EREMOTE);
			TP_OK_OR_FAIL(tp_pool_iter_err(it, &e));
			snprintf(want, sizeof(want), "odd %zu", i);
			assert_string_equal(e.message, want);
			snprintf(want, sizeof(want), "item %zu)", i);
			assert_non_null(strstr(e.origin, want));
			continue;
		}
		TP_OK_OR_FAIL(rv);
		TP_OK_OR_FAIL(tp_payload_get_int(v, 0, &x));
		assert_int_equal(x, (int64_t)i);
		tp_payload_free(v);
	}
	TP_EXPECT(tp_pool_iter_next(it, &v, &idx, 0), TP_ENOENT);
	tp_pool_iter_free(it);
	tp_payload_free(in);
	in = int_items(6, 4); /* 6 7 8 9: item 1 fails first */
	TP_EXPECT(tp_pool_map(pool, t_odd_fails, in, 4, &out), TP_EREMOTE);
	TP_OK_OR_FAIL(tp_pool_last_err(&e));
	assert_non_null(strstr(e.origin, "item 1)"));
	assert_string_equal(e.message, "odd 7");
	tp_payload_free(in);
	endpool(pool);
}

/* A getter on a value of another type: the task's TP_ETYPE is named. */
static void test_wrong_type(void **state)
{
	(void)state;
	tp_pool *pool = mkpool(1);
	tp_payload *in = int_items(0, 20), *out = NULL;
	tp_pool_error e;
	TP_EXPECT(tp_pool_map(pool, t_upper, in, 5, &out), TP_EREMOTE);
	TP_OK_OR_FAIL(tp_pool_last_err(&e));
	assert_int_equal(e.code, TP_ETYPE);
	assert_non_null(strstr(e.message, "t_upper returned"));
	assert_non_null(strstr(e.message, tp_strerror(TP_ETYPE)));
	assert_non_null(strstr(e.origin, "t_upper, item "));
	/* map_int: a result that is not an integer is TP_ETYPE itself */
	int64_t v[2] = {1, 2};
	TP_EXPECT(tp_pool_map_int(pool, t_echo_str, v, 2, 1, v), TP_ETYPE);
	TP_OK_OR_FAIL(tp_pool_last_err(&e));
	assert_non_null(strstr(e.message, "returned string where"));
	tp_payload_free(in);
	endpool(pool);
}

/* A task's message travels whole; past TP_TASK_MSG_MAX it says it was
 * cut and by how much. */
static void test_long_message(void **state)
{
	(void)state;
	tp_pool *pool = mkpool(1);
	tp_payload *a;
	tp_pool_error e;
	TP_OK_OR_FAIL(tp_payload_new(&a));
	TP_OK_OR_FAIL(tp_payload_add_int(a, 5000));
	TP_EXPECT(tp_pool_apply(pool, t_long_msg, a, NULL), TP_EREMOTE);
	TP_OK_OR_FAIL(tp_pool_last_err(&e));
	assert_int_equal(strlen(e.message), 5000);
	tp_payload_clear(a);
	TP_OK_OR_FAIL(tp_payload_add_int(a, (int64_t)TP_TASK_MSG_MAX + 10));
	TP_EXPECT(tp_pool_apply(pool, t_long_msg, a, NULL), TP_EREMOTE);
	TP_OK_OR_FAIL(tp_pool_last_err(&e));
	assert_int_equal(strspn(e.message, "x"), TP_TASK_MSG_MAX);
	assert_string_equal(e.message + TP_TASK_MSG_MAX,
	                    " [... 10 more bytes cut]");
	tp_payload_free(a);
	endpool(pool);
}

/* A stuck task fails with TP_ETIMEDOUT; only its worker is replaced; the
 * other worker and the pool go on; per call the limit is set or lifted. */
static void test_task_timeout(void **state)
{
	(void)state;
	tp_pool_opts o = {.processes = 2, .task_timeout_ms = 300};
	tp_pool *pool;
	tp_pool_result *stuck;
	tp_payload *a, *out = NULL, *in;
	tp_pool_error e;
	tp_pool_worker_stats ws[2];
	int64_t x;
	TP_OK_OR_FAIL(tp_pool_new_opts(&pool, &o));
	TP_OK_OR_FAIL(tp_payload_new(&a));
	TP_OK_OR_FAIL(tp_payload_add_int(a, -1)); /* forever */
	TP_OK_OR_FAIL(
	    tp_pool_apply_async(pool, t_nap, a, NULL, NULL, NULL, &stuck));
	/* meanwhile the other worker runs short tasks */
	in = int_items(1, 6);
	tp_pool_call_opts co = {.chunksize = 1};
	TP_OK_OR_FAIL(tp_pool_map_opts(pool, t_nap, in, &co, &out));
	assert_same(in, out);
	tp_payload_free(out);
	TP_EXPECT(tp_pool_result_get(stuck, NULL, 30000), TP_ETIMEDOUT);
	TP_OK_OR_FAIL(tp_pool_result_err(stuck, &e));
	assert_non_null(strstr(e.message, "300 ms limit"));
	tp_pool_result_free(stuck);
	/* per call: a limit of its own, or none */
	co.task_timeout_ms = 100;
	TP_EXPECT(tp_pool_apply_opts(pool, t_nap, a, &co, &out), TP_ETIMEDOUT);
	tp_payload_clear(a);
	TP_OK_OR_FAIL(tp_payload_add_int(a, 500));
	co.task_timeout_ms = -1;
	TP_OK_OR_FAIL(tp_pool_apply_opts(pool, t_nap, a, &co, &out));
	TP_OK_OR_FAIL(tp_payload_get_int(out, 0, &x));
	assert_int_equal(x, 500);
	tp_payload_free(out);
	/* two workers were killed for their limit, each replaced once */
	assert_int_equal(tp_pool_stats_get(pool, NULL, ws, 2), 2);
	assert_int_equal(ws[0].restarts + ws[1].restarts, 2);
	TP_OK_OR_FAIL(tp_pool_map(pool, t_echo, in, 0, &out));
	assert_same(in, out);
	tp_payload_free(out);
	tp_payload_free(in);
	tp_payload_free(a);
	endpool(pool);
}

static size_t prog_calls, prog_last, prog_total;
static int prog_bad;
static void on_prog(size_t done, size_t total, void *arg)
{
	(void)arg;
	if (done != prog_last + 1)
		prog_bad = 1;
	prog_last = done;
	prog_total = total;
	prog_calls++;
}

/* The progress hook of a blocking map: once per item, 1..n in order. */
static void test_progress_items(void **state)
{
	(void)state;
	tp_pool *pool = mkpool(2);
	tp_payload *in = int_items(0, 23), *out;
	tp_pool_call_opts co = {.chunksize = 5, .progress = on_prog};
	TP_OK_OR_FAIL(tp_pool_map_opts(pool, t_echo, in, &co, &out));
	assert_same(in, out);
	assert_int_equal(prog_calls, 23);
	assert_int_equal(prog_last, 23);
	assert_int_equal(prog_total, 23);
	assert_false(prog_bad);
	tp_payload_free(out);
	/* imap too */
	tp_pool_iter *it;
	tp_payload *v;
	size_t idx, n = 0;
	prog_calls = prog_last = 0;
	TP_OK_OR_FAIL(tp_pool_imap_opts(pool, t_echo, in, &co, &it));
	while (tp_pool_iter_next(it, &v, &idx, 10000) == TP_OK) {
		tp_payload_free(v);
		n++;
	}
	tp_pool_iter_free(it);
	assert_int_equal(n, 23);
	tp_payload_free(in);
	endpool(pool); /* the pool's thread has ended: every call was made */
	assert_int_equal(prog_calls, 23);
	assert_false(prog_bad);
}

/* An int x back, or a string for an odd x above 100. */
static int t_int_or_str(const tp_payload *args, tp_payload *res)
{
	int64_t x;
	int rv = tp_payload_get_int(args, 0, &x);
	if (rv != TP_OK)
		return rv;
	if (x > 100 && x % 2 != 0)
		return tp_payload_add_string(res, "odd");
	return tp_payload_add_int(res, x);
}
TP_TARGET(t_int_or_str);

/* A map over ints, or over doubles, gives its results packed (8 bytes a
 * value, payload_int.h) with the right values, blocking, async and item
 * by item; results that are not all of one number type (a string in a
 * later chunk) turn the result generic, every value still right. */
/* A target that keeps copies of its arguments and of its results (which
 * share their bytes with the batch and the result arena) across calls,
 * checks every kept copy at each call, and frees them 64 at a time: the
 * worker's batched clearing (tp__payload_clear_batched) must leave their
 * bytes alive and drop every reference once (a sanitizer build sees a
 * use after free or a leak otherwise). */
#define KEEP 64
static tp_payload *kept_a[KEEP], *kept_r[KEEP];
static char kept_s[KEEP][48];
static int nkept;

static int t_keep(const tp_payload *args, tp_payload *res)
{
	const char *s, *a, *r;
	char buf[48];
	if (tp_payload_get_string(args, 0, &s) != TP_OK)
		return 1;
	snprintf(buf, sizeof(buf), "%s!", s);
	if (tp_payload_add_string(res, buf) != TP_OK)
		return 2;
	for (int i = 0; i < nkept; i++) {
		if (tp_payload_get_string(kept_a[i], 0, &a) != TP_OK ||
		    tp_payload_get_string(kept_r[i], 0, &r) != TP_OK ||
		    strncmp(a, kept_s[i], strlen(a)) != 0 ||
		    strcmp(r, kept_s[i]) != 0)
			return 3;
	}
	if (nkept == KEEP) {
		for (int i = 0; i < KEEP; i++) {
			tp_payload_free(kept_a[i]);
			tp_payload_free(kept_r[i]);
		}
		nkept = 0;
	}
	if (tp_payload_copy(args, &kept_a[nkept]) != TP_OK)
		return 4;
	if (tp_payload_copy(res, &kept_r[nkept]) != TP_OK) {
		tp_payload_free(kept_a[nkept]);
		return 4;
	}
	snprintf(kept_s[nkept], sizeof(kept_s[nkept]), "%s", buf);
	nkept++;
	return 0;
}
TP_TARGET(t_keep);

static void test_kept_copies(void **state)
{
	(void)state;
	tp_pool *pool = mkpool(2);
	tp_payload *items, *out = NULL;
	char s[48];
	const size_t n = 20000;
	TP_OK_OR_FAIL(tp_payload_new(&items));
	for (size_t i = 0; i < n; i++) {
		snprintf(s, sizeof(s), "kept-%zu", i);
		TP_OK_OR_FAIL(tp_payload_add_string(items, s));
	}
	size_t sizes[] = {0, 1, 7};
	for (size_t c = 0; c < 3; c++) {
		TP_OK_OR_FAIL(tp_pool_map(pool, t_keep, items, sizes[c], &out));
		assert_int_equal(tp_payload_count(out), n);
		for (size_t i = 0; i < n; i += 97) {
			const char *got;
			char want[48];
			TP_OK_OR_FAIL(tp_payload_get_string(out, i, &got));
			snprintf(want, sizeof(want), "kept-%zu!", i);
			assert_string_equal(got, want);
		}
		tp_payload_free(out);
	}
	tp_payload_free(items);
	endpool(pool);
}

static void test_map_packed(void **state)
{
	(void)state;
	enum { N = 1000 };
	tp_pool *pool = mkpool(2);
	tp_payload *ints = int_items(-500, N), *dbls, *out;
	TP_OK_OR_FAIL(tp_payload_new(&dbls));
	for (size_t i = 0; i < N; i++)
		TP_OK_OR_FAIL(tp_payload_add_double(dbls, (double)i / 8 - 3));
	assert_int_equal(ints->kind, TP__PK_INTS);
	assert_int_equal(dbls->kind, TP__PK_DBLS);
	tp_pool_call_opts co = {.chunksize = 7};
	TP_OK_OR_FAIL(tp_pool_map_opts(pool, t_echo, ints, &co, &out));
	assert_int_equal(out->kind, TP__PK_INTS);
	assert_int_equal(tp_payload_count(out), N);
	for (size_t i = 0; i < N; i++) {
		int64_t x;
		TP_OK_OR_FAIL(tp_payload_get_int(out, i, &x));
		assert_int_equal(x, (int64_t)i - 500);
	}
	tp_payload_free(out);
	TP_OK_OR_FAIL(tp_pool_map(pool, t_echo, dbls, 0, &out));
	assert_int_equal(out->kind, TP__PK_DBLS);
	assert_same(dbls, out);
	tp_payload_free(out);
	/* apply: a packed result of many values comes back whole */
	TP_OK_OR_FAIL(tp_pool_apply(pool, t_echo_all, ints, &out));
	assert_int_equal(out->kind, TP__PK_INTS);
	assert_same(ints, out);
	tp_payload_free(out);
	TP_OK_OR_FAIL(tp_pool_apply(pool, t_echo_all, dbls, &out));
	assert_int_equal(out->kind, TP__PK_DBLS);
	assert_same(dbls, out);
	tp_payload_free(out);
	/* async: the job's own copy of the items, its result copied out */
	tp_pool_result *r;
	TP_OK_OR_FAIL(
	    tp_pool_map_async(pool, t_echo, dbls, 13, NULL, NULL, NULL, &r));
	TP_OK_OR_FAIL(tp_pool_result_get(r, &out, 10000));
	assert_int_equal(out->kind, TP__PK_DBLS);
	assert_same(dbls, out);
	tp_payload_free(out);
	tp_pool_result_free(r);
	/* imap: each item moved out of a packed result */
	tp_pool_iter *it;
	tp_payload *v;
	size_t idx, n = 0;
	TP_OK_OR_FAIL(tp_pool_imap_opts(pool, t_echo, ints, &co, &it));
	while (tp_pool_iter_next(it, &v, &idx, 10000) == TP_OK) {
		int64_t x;
		TP_OK_OR_FAIL(tp_payload_get_int(v, 0, &x));
		assert_int_equal(x, (int64_t)idx - 500);
		tp_payload_free(v);
		n++;
	}
	tp_pool_iter_free(it);
	assert_int_equal(n, N);
	/* ints first, strings in later chunks: generic, values intact */
	tp_payload *pos = int_items(0, N);
	TP_OK_OR_FAIL(tp_pool_map_opts(pool, t_int_or_str, pos, &co, &out));
	assert_int_equal(out->kind, TP__PK_GEN);
	assert_int_equal(tp_payload_count(out), N);
	for (size_t i = 0; i < N; i++) {
		int64_t x;
		const char *str;
		if (i > 100 && i % 2 != 0) {
			TP_OK_OR_FAIL(tp_payload_get_string(out, i, &str));
			assert_string_equal(str, "odd");
		} else {
			TP_OK_OR_FAIL(tp_payload_get_int(out, i, &x));
			assert_int_equal(x, (int64_t)i);
		}
	}
	tp_payload_free(out);
	/* a mixed list of items is still right (generic results) */
	tp_payload *mix = mixed();
	TP_OK_OR_FAIL(tp_pool_map(pool, t_echo, mix, 2, &out));
	assert_same(mix, out);
	tp_payload_free(out);
	tp_payload_free(mix);
	tp_payload_free(pos);
	tp_payload_free(ints);
	tp_payload_free(dbls);
	endpool(pool);
}

int main(void)
{
	tp_spawn_guard();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_map_every_type),
	    cmocka_unit_test(test_starmap_apply_every_type),
	    cmocka_unit_test(test_message_limit),
	    cmocka_unit_test(test_malformed_values),
	    cmocka_unit_test(test_partial_chunk),
	    cmocka_unit_test(test_wrong_type),
	    cmocka_unit_test(test_long_message),
	    cmocka_unit_test(test_task_timeout),
	    cmocka_unit_test(test_progress_items),
	    cmocka_unit_test(test_map_packed),
	    cmocka_unit_test(test_kept_copies),
	};
	return cmocka_run_group_tests(tests, pool_setup, pool_teardown);
}
