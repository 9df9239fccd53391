/*
 * test_payload_packed.c - packed payloads (base/payload_int.h): a payload
 * whose values are all ints, or all doubles, keeps them 8 bytes each and
 * turns generic (24-byte values) once, at its first value of another type;
 * the public calls and the internal accessors read and write both forms
 * alike; the wire bytes of a packed payload are those of the same values
 * in the generic form (and protobuf-c's), and the decoder gives packed
 * payloads back; the empty payload; a conversion that runs out of memory
 * leaves the payload as it was. Correctness only.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "payload_int.h"
#include "payload_util.h"
#include "testutil.h"
#include "wire.h"

static const int64_t ints[] = {0, 1, -1, 63, -64, 300, INT64_MAX, INT64_MIN};
static const double dbls[] = {0.0, -0.0, 1.5, DBL_MAX, -DBL_MIN, INFINITY};
#define NI (sizeof(ints) / sizeof(ints[0]))
#define ND (sizeof(dbls) / sizeof(dbls[0]))

/* Value i of int_payload: the edge values, shifted (wrapping) by i. */
static int64_t int_val(size_t i)
{
	return (int64_t)((uint64_t)ints[i % NI] + i);
}

static tp_payload *int_payload(size_t n)
{
	tp_payload *p;
	TP_OK_OR_FAIL(tp_payload_new(&p));
	for (size_t i = 0; i < n; i++)
		TP_OK_OR_FAIL(tp_payload_add_int(p, int_val(i)));
	return p;
}

/* The first n values of p are int_payload(n)'s. */
static void assert_ints(const tp_payload *p, size_t n)
{
	assert_true(tp_payload_count(p) >= n);
	for (size_t i = 0; i < n; i++) {
		int64_t x;
		TP_OK_OR_FAIL(tp_payload_get_int(p, i, &x));
		assert_int_equal(x, int_val(i));
	}
}

/* A copy of p in the generic form, value for value. */
static tp_payload *generic_copy(const tp_payload *p)
{
	tp_payload *g;
	TP_OK_OR_FAIL(tp_payload_copy(p, &g));
	TP_OK_OR_FAIL(tp__payload_generic(g));
	assert_int_equal(g->kind, TP__PK_GEN);
	return g;
}

/* Ints stay packed; a string turns the payload generic, every value
 * intact: from the inline slot (one int, in place), a few, and many. */
static void test_ints_then_string(void **state)
{
	(void)state;
	size_t sizes[] = {1, 3, 4, 1000};
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t n = sizes[k];
		tp_payload *p = int_payload(n);
		const char *s;
		assert_int_equal(p->kind, TP__PK_INTS);
		assert_ints(p, n);
		TP_OK_OR_FAIL(tp_payload_add_string(p, "after"));
		assert_int_equal(p->kind, TP__PK_GEN);
		assert_ints(p, n);
		TP_OK_OR_FAIL(tp_payload_get_string(p, n, &s));
		assert_string_equal(s, "after");
		TP_OK_OR_FAIL(tp_payload_add_int(p, 5)); /* stays generic */
		assert_int_equal(p->kind, TP__PK_GEN);
		assert_int_equal(tp_payload_count(p), n + 2);
		tp_payload_free(p);
	}
}

/* Doubles pack too; an int after them converts (a double is no int). */
static void test_doubles(void **state)
{
	(void)state;
	tp_payload *p;
	double d;
	int64_t x;
	tp_type t;
	TP_OK_OR_FAIL(tp_payload_new(&p));
	for (size_t i = 0; i < ND; i++)
		TP_OK_OR_FAIL(tp_payload_add_double(p, dbls[i]));
	TP_OK_OR_FAIL(tp_payload_add_double(p, NAN));
	assert_int_equal(p->kind, TP__PK_DBLS);
	for (size_t i = 0; i < ND; i++) {
		TP_OK_OR_FAIL(tp_payload_get_double(p, i, &d));
		assert_memory_equal(&d, &dbls[i], 8);
		TP_OK_OR_FAIL(tp_payload_type(p, i, &t));
		assert_int_equal(t, TP_TDOUBLE);
	}
	TP_OK_OR_FAIL(tp_payload_get_double(p, ND, &d));
	assert_true(isnan(d));
	TP_EXPECT(tp_payload_get_int(p, 0, &x), TP_ETYPE);
	TP_EXPECT(tp_payload_get_double(p, ND + 1, &d), TP_ENOENT);
	TP_OK_OR_FAIL(tp_payload_add_int(p, 42));
	assert_int_equal(p->kind, TP__PK_GEN);
	TP_OK_OR_FAIL(tp_payload_get_int(p, ND + 1, &x));
	assert_int_equal(x, 42);
	for (size_t i = 0; i < ND; i++) {
		TP_OK_OR_FAIL(tp_payload_get_double(p, i, &d));
		assert_memory_equal(&d, &dbls[i], 8);
	}
	tp_payload_free(p);
}

/* The wire bytes of a packed payload are those of the same values
 * generic, and protobuf-c's; decoding gives a packed payload back whose
 * values equal the generic one's. */
static void test_wire_round_trip(void **state)
{
	(void)state;
	tp_payload *pi = int_payload(500), *pd;
	TP_OK_OR_FAIL(tp_payload_new(&pd));
	for (size_t i = 0; i < 300; i++)
		TP_OK_OR_FAIL(tp_payload_add_double(pd, dbls[i % ND] / 3));
	tp_payload *forms[] = {pi, pd};
	for (size_t k = 0; k < 2; k++) {
		tp_payload *p = forms[k], *g = generic_copy(p), *q, *qg;
		void *bp, *bg, *bq;
		size_t lp, lg, lq, lr;
		assert_int_not_equal(p->kind, TP__PK_GEN);
		TP_OK_OR_FAIL(tp_payload_encode(p, 0, &bp, &lp));
		TP_OK_OR_FAIL(tp_payload_encode(g, 0, &bg, &lg));
		unsigned char *ref = pbc_pack(p, &lr);
		assert_int_equal(lp, lg);
		assert_int_equal(lp, lr);
		assert_int_equal(tp__payload_packed_size(p), lp);
		assert_memory_equal(bp, bg, lp);
		assert_memory_equal(bp, ref, lp);
		TP_OK_OR_FAIL(tp_payload_decode(bp, lp, 0, &q));
		assert_int_equal(q->kind, p->kind); /* packed directly */
		qg = generic_copy(q);
		TP_OK_OR_FAIL(tp_payload_encode(q, 0, &bq, &lq));
		assert_int_equal(lq, lp);
		assert_memory_equal(bq, bp, lp);
		assert_int_equal(tp_payload_count(qg), tp_payload_count(g));
		for (size_t i = 0; i < tp_payload_count(g); i++) {
			struct tp_value a = tp__payload_at(g, i);
			struct tp_value b = tp__payload_at(qg, i);
			assert_int_equal(a.type, b.type);
			assert_memory_equal(&a.i, &b.i, 8);
		}
		/* protobuf-c's reader (wire.c) packs too */
		tp_payload *r;
		Troupe__Payload *pb = troupe__payload__unpack(NULL, lp, bp);
		assert_non_null(pb);
		TP_OK_OR_FAIL(tp__payload_from_pb(pb, &r));
		protobuf_c_message_free_unpacked(&pb->base, NULL);
		assert_int_equal(r->kind, p->kind);
		tp_payload_free(r);
		free(bp);
		free(bg);
		free(bq);
		free(ref);
		tp_payload_free(q);
		tp_payload_free(qg);
		tp_payload_free(g);
	}
	/* a generic list with one string among ints decodes generic */
	tp_payload *m = int_payload(10), *md;
	void *b;
	size_t l;
	TP_OK_OR_FAIL(tp_payload_add_string(m, "s"));
	TP_OK_OR_FAIL(tp_payload_add_int(m, 7));
	TP_OK_OR_FAIL(tp_payload_encode(m, 0, &b, &l));
	TP_OK_OR_FAIL(tp_payload_decode(b, l, 0, &md));
	assert_int_equal(md->kind, TP__PK_GEN);
	assert_ints(md, 10);
	free(b);
	tp_payload_free(md);
	tp_payload_free(m);
	tp_payload_free(pi);
	tp_payload_free(pd);
}

/* The empty payload: no form of its own; it takes its first value's,
 * after a clear too; it encodes to nothing and decodes from it. A payload
 * on the stack ({0}) packs as well and tp__payload_fini frees it. */
static void test_empty(void **state)
{
	(void)state;
	tp_payload *p, *q;
	void *b;
	size_t l;
	const char *s;
	int64_t x;
	TP_OK_OR_FAIL(tp_payload_new(&p));
	TP_OK_OR_FAIL(tp_payload_encode(p, 0, &b, &l));
	assert_int_equal(l, 0);
	TP_OK_OR_FAIL(tp_payload_decode(b, l, 0, &q));
	assert_int_equal(tp_payload_count(q), 0);
	free(b);
	tp_payload_free(q);
	TP_OK_OR_FAIL(tp__payload_generic(p)); /* nothing to convert */
	for (int i = 0; i < 10; i++)
		TP_OK_OR_FAIL(tp_payload_add_int(p, i));
	assert_int_equal(p->kind, TP__PK_INTS);
	tp_payload_clear(p);
	TP_OK_OR_FAIL(tp_payload_add_string(p, "first"));
	assert_int_equal(p->kind, TP__PK_GEN);
	TP_OK_OR_FAIL(tp_payload_get_string(p, 0, &s));
	assert_string_equal(s, "first");
	tp_payload_clear(p);
	TP_OK_OR_FAIL(tp_payload_add_double(p, 0.25));
	assert_int_equal(p->kind, TP__PK_DBLS);
	TP_OK_OR_FAIL(tp_payload_copy(p, &q));
	assert_int_equal(q->kind, TP__PK_DBLS);
	tp_payload_free(q);
	tp_payload_free(p);
	tp_payload st = {0};
	for (int i = 0; i < 100; i++)
		TP_OK_OR_FAIL(tp_payload_add_int(&st, i));
	assert_int_equal(st.kind, TP__PK_INTS);
	TP_OK_OR_FAIL(tp_payload_get_int(&st, 99, &x));
	assert_int_equal(x, 99);
	TP_OK_OR_FAIL(tp_payload_add_string(&st, "x"));
	TP_OK_OR_FAIL(tp_payload_get_int(&st, 99, &x));
	assert_int_equal(x, 99);
	tp__payload_fini(&st);
	assert_int_equal(tp_payload_count(&st), 0);
}

/* The internal accessors read and write both forms alike. */
static void test_accessors(void **state)
{
	(void)state;
	tp_payload *pi = int_payload(5), *pd, *gi, *gd;
	TP_OK_OR_FAIL(tp_payload_new(&pd));
	for (int i = 0; i < 5; i++)
		TP_OK_OR_FAIL(tp_payload_add_double(pd, i + 0.5));
	gi = generic_copy(pi);
	gd = generic_copy(pd);
	tp_payload *is[] = {pi, gi}, *ds[] = {pd, gd};
	for (int k = 0; k < 2; k++) {
		tp_payload *p = is[k], *d = ds[k];
		int64_t x;
		double y;
		tp__payload_set_int(p, 2, -77);
		assert_int_equal(tp__payload_int_at(p, 2), -77);
		TP_OK_OR_FAIL(tp_payload_get_int(p, 2, &x));
		assert_int_equal(x, -77);
		assert_int_equal(tp__payload_type_at(p, 2), TP_TINT);
		struct tp_value v = tp__payload_at(p, 2);
		assert_int_equal(v.type, TP_TINT);
		assert_int_equal(v.i, -77);
		tp__payload_set_double(d, 4, 9.75);
		assert_true(tp__payload_double_at(d, 4) == 9.75);
		TP_OK_OR_FAIL(tp_payload_get_double(d, 4, &y));
		assert_true(y == 9.75);
		v = tp__payload_at(d, 0);
		assert_int_equal(v.type, TP_TDOUBLE);
		assert_true(v.d == 0.5);
		/* moving a value out: into an empty payload, packed */
		tp_payload *one;
		TP_OK_OR_FAIL(tp_payload_new(&one));
		TP_OK_OR_FAIL(tp__payload_move_value(one, p, 2));
		assert_int_equal(one->kind, TP__PK_INTS);
		TP_OK_OR_FAIL(tp_payload_get_int(one, 0, &x));
		assert_int_equal(x, -77);
		tp_payload_free(one);
		/* the array seen generic (converting a packed one) */
		struct tp_value *a = tp__payload_values(d);
		assert_non_null(a);
		assert_int_equal(d->kind, TP__PK_GEN);
		assert_true(a[4].type == TP_TDOUBLE && a[4].d == 9.75);
	}
	tp_payload_free(pi);
	tp_payload_free(pd);
	tp_payload_free(gi);
	tp_payload_free(gd);
}

/* A conversion that cannot get its memory fails with TP_ENOMEM and
 * leaves the payload packed, every value as it was; once memory is back
 * it converts. There is no allocation-failure hook: an address-space
 * limit makes the 24-byte array (3 times the packed one) fail. Not under
 * a sanitizer, which reserves address space of its own. */
#if defined(__SANITIZE_ADDRESS__)
#define TP_NO_RLIMIT 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define TP_NO_RLIMIT 1
#endif
#endif

#ifndef TP_NO_RLIMIT
/* The bytes of address space this process maps now (VmSize). */
static size_t vm_size(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	size_t kb = 0;
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmSize: %zu kB", &kb) == 1)
			break;
	fclose(f);
	return kb * 1024;
}
#endif

static void test_conversion_oom(void **state)
{
	(void)state;
#ifdef TP_NO_RLIMIT
	skip();
#else
	enum { N = 4 << 20 }; /* 32 MiB packed, 96 MiB generic */
	tp_payload *p;
	struct rlimit old, lim;
	const char *s;
	TP_OK_OR_FAIL(tp_payload_new(&p));
	TP_OK_OR_FAIL(tp__payload_reserve_as(p, TP__PK_INTS, N));
	for (size_t i = 0; i < N; i++)
		TP_OK_OR_FAIL(tp_payload_add_int(p, (int64_t)i * 3));
	assert_int_equal(p->kind, TP__PK_INTS);
	assert_int_equal(getrlimit(RLIMIT_AS, &old), 0);
	lim = old;
	lim.rlim_cur = vm_size() + (32u << 20); /* room, but not 96 MiB */
	assert_int_equal(setrlimit(RLIMIT_AS, &lim), 0);
	int rv = tp_payload_add_string(p, "too much");
	int rg = tp__payload_generic(p);
	assert_int_equal(setrlimit(RLIMIT_AS, &old), 0);
	TP_EXPECT(rv, TP_ENOMEM);
	TP_EXPECT(rg, TP_ENOMEM);
	assert_int_equal(p->kind, TP__PK_INTS);
	assert_int_equal(tp_payload_count(p), N);
	for (size_t i = 0; i < N; i += 4099) {
		int64_t x;
		TP_OK_OR_FAIL(tp_payload_get_int(p, i, &x));
		assert_int_equal(x, (int64_t)i * 3);
	}
	TP_OK_OR_FAIL(tp_payload_add_string(p, "now"));
	assert_int_equal(p->kind, TP__PK_GEN);
	TP_OK_OR_FAIL(tp_payload_get_string(p, N, &s));
	assert_string_equal(s, "now");
	int64_t x;
	TP_OK_OR_FAIL(tp_payload_get_int(p, N - 1, &x));
	assert_int_equal(x, (int64_t)(N - 1) * 3);
	tp_payload_free(p);
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ints_then_string),
	    cmocka_unit_test(test_doubles),
	    cmocka_unit_test(test_wire_round_trip),
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_accessors),
	    cmocka_unit_test(test_conversion_oom),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
