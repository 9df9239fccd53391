/*
 * test_payload_codec.c - the direct payload codec (base/payload_codec.c)
 * against protobuf-c: the writer produces protobuf-c's bytes for every
 * value type and mixed lists; the reader accepts and rejects exactly what
 * protobuf-c does and gives the same values, on valid, odd (unknown
 * fields, repeated kinds, long varints, NULs) and malformed input; decoded
 * values outlive the buffer they came from.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "payload_int.h"
#include "payload_util.h"
#include "testutil.h"
#include "wire.h"

/* The payload the tests encode: every type, edge values, mixed. */
static tp_payload *mixed(void)
{
	tp_payload *p;
	Troupe__Error err = TROUPE__ERROR__INIT; /* packs to 0 bytes */
	Troupe__Error err2 = TROUPE__ERROR__INIT;
	err2.code = 7;
	err2.message = "boom";
	static const int64_t ints[] = {0,   1,   -1,        63,
	                               -64, 300, INT64_MAX, INT64_MIN};
	static const double dbls[] = {0.0, -0.0, 1.5, DBL_MAX, -DBL_MIN};
	char big[300];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	TP_OK_OR_FAIL(tp_payload_new(&p));
	TP_OK_OR_FAIL(tp_payload_add_none(p));
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
		TP_OK_OR_FAIL(tp_payload_add_int(p, ints[i]));
	for (size_t i = 0; i < sizeof(dbls) / sizeof(dbls[0]); i++)
		TP_OK_OR_FAIL(tp_payload_add_double(p, dbls[i]));
	TP_OK_OR_FAIL(tp_payload_add_double(p, NAN));
	TP_OK_OR_FAIL(tp_payload_add_string(p, ""));
	TP_OK_OR_FAIL(tp_payload_add_string(p, "h\xc3\xa9llo"));
	TP_OK_OR_FAIL(tp_payload_add_string(p, big));
	TP_OK_OR_FAIL(tp_payload_add_bytes(p, "", 0));
	TP_OK_OR_FAIL(tp_payload_add_bytes(p, "\0\1\2", 3));
	TP_OK_OR_FAIL(tp_payload_add_bytes(p, big, sizeof(big)));
	TP_OK_OR_FAIL(tp_payload_add_proto(p, &err.base));
	TP_OK_OR_FAIL(tp_payload_add_proto(p, &err2.base));
	TP_OK_OR_FAIL(tp_payload_add_int(p, 5));
	return p;
}

/* protobuf-c's decoding (the reference): its error, or the payload. */
static int pbc_unpack(const void *buf, size_t len, tp_payload **out)
{
	Troupe__Payload *pb = troupe__payload__unpack(NULL, len, buf);
	if (pb == NULL)
		return TP_EDECODE;
	int rv = tp__payload_from_pb(pb, out);
	protobuf_c_message_free_unpacked(&pb->base, NULL);
	return rv;
}

static void assert_same_values(const tp_payload *a, const tp_payload *b)
{
	assert_int_equal(a->count, b->count);
	for (size_t i = 0; i < a->count; i++) {
		const struct tp_value xv = tp__payload_at(a, i), *x = &xv;
		const struct tp_value yv = tp__payload_at(b, i), *y = &yv;
		assert_int_equal(x->type, y->type);
		if (x->type == TP_TINT || x->type == TP_TDOUBLE)
			assert_memory_equal(&x->i, &y->i, 8);
		if (!TP__HAS_BYTES(x->type))
			continue;
		assert_int_equal(x->len, y->len);
		assert_memory_equal(x->data, y->data, x->len + 1);
		if (x->type == TP_TPROTO)
			assert_string_equal(tp__value_type_name(x),
			                    tp__value_type_name(y));
	}
}

/* The codec and protobuf-c agree on buf: same result, same values. */
static void assert_decodes_alike(const void *buf, size_t len)
{
	tp_payload *a = NULL, *b = NULL;
	int ra = tp_payload_decode(buf, len, 0, &a);
	int rb = pbc_unpack(buf, len, &b);
	assert_int_equal(ra, rb);
	if (ra == TP_OK)
		assert_same_values(a, b);
	tp_payload_free(a);
	tp_payload_free(b);
}

static void test_same_bytes_as_protobuf_c(void **state)
{
	(void)state;
	tp_payload *p = mixed(), *one, *empty;
	void *buf;
	size_t len, rlen;
	unsigned char *ref = pbc_pack(p, &rlen);
	TP_OK_OR_FAIL(tp_payload_encode(p, 0, &buf, &len));
	assert_int_equal(len, rlen);
	assert_int_equal(tp__payload_packed_size(p), rlen);
	assert_memory_equal(buf, ref, len);
	free(buf);
	free(ref);
	/* each value alone, and the empty payload */
	for (size_t i = 0; i < p->count; i++) {
		TP_OK_OR_FAIL(tp_payload_new(&one));
		struct tp_value v = tp__payload_at(p, i);
		TP_OK_OR_FAIL(tp__payload_append(one, &v));
		ref = pbc_pack(one, &rlen);
		TP_OK_OR_FAIL(tp_payload_encode(one, 0, &buf, &len));
		assert_int_equal(len, rlen);
		assert_memory_equal(buf, ref, len);
		one->count = 0; /* the value is p's */
		tp_payload_free(one);
		free(buf);
		free(ref);
	}
	TP_OK_OR_FAIL(tp_payload_new(&empty));
	TP_OK_OR_FAIL(tp_payload_encode(empty, 0, &buf, &len));
	assert_int_equal(len, 0);
	free(buf);
	tp_payload_free(empty);
	tp_payload_free(p);
}

static void test_decodes_like_protobuf_c(void **state)
{
	(void)state;
	tp_payload *p = mixed();
	void *buf;
	size_t len;
	TP_OK_OR_FAIL(tp_payload_encode(p, 0, &buf, &len));
	assert_decodes_alike(buf, len);
	/* every cut of a valid message */
	for (size_t cut = 0; cut < len; cut++)
		assert_decodes_alike(buf, cut);
	/* every single-byte change of it */
	unsigned char *m = malloc(len);
	for (size_t i = 0; i < len; i++) {
		memcpy(m, buf, len);
		m[i] ^= (unsigned char)(1 + i % 255);
		assert_decodes_alike(m, len);
	}
	free(m);
	free(buf);
	tp_payload_free(p);
	static const struct {
		const char *what, *bytes;
		size_t len;
	} odd[] = {
	    {"empty payload", "", 0},
	    {"value without a kind", "\x0a\x00", 2},
	    {"kind set twice", "\x0a\x04\x10\x02\x10\x04", 6},
	    {"two kinds", "\x0a\x04\x10\x02\x08\x01", 6},
	    {"unknown field in a value", "\x0a\x04\x10\x02\x38\x01", 6},
	    {"unknown field in the payload", "\x10\x01\x0a\x02\x10\x02", 6},
	    {"long varint", "\x0a\x04\x10\x82\x80\x00", 6},
	    {"none = 0", "\x0a\x02\x08\x00", 4},
	    {"string with a NUL",
	     "\x0a\x05\x22\x03"
	     "a\0b",
	     7},
	    {"string invalid UTF-8", "\x0a\x04\x22\x02\xff\xfe", 6},
	    {"user without a type name", "\x0a\x05\x32\x03\x12\x01x", 7},
	    {"user empty type name", "\x0a\x06\x32\x04\x0a\x00\x12\x00", 8},
	    {"user data before name", "\x0a\x09\x32\x07\x12\x01x\x0a\x02t.",
	     11},
	    {"user name with a NUL", "\x0a\x06\x32\x04\x0a\x02t\0", 8},
	    {"string length past the end",
	     "\x0a\x04\x22\x09"
	     "ab",
	     6},
	    {"value length past the end", "\x0a\x09\x10\x02", 4},
	    {"double cut", "\x0a\x05\x19\x00\x00\x00\x00", 7},
	    {"varint too long",
	     "\x0a\x0b\x10\xff\xff\xff\xff\xff\xff\xff"
	     "\xff\xff\xff",
	     13},
	    {"wrong wire type", "\x0a\x02\x12\x00", 4},
	    {"group tag", "\x0b\x0c", 2},
	};
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		print_message("  %s\n", odd[i].what);
		assert_decodes_alike(odd[i].bytes, odd[i].len);
	}
	/* random input */
	unsigned char rnd[48];
	srand(7);
	for (int round = 0; round < 20000; round++) {
		size_t n = 1 + (size_t)rand() % sizeof(rnd);
		for (size_t k = 0; k < n; k++) /* mostly tag-like bytes */
			rnd[k] = (unsigned char)(rand() % 3 ? rand() % 0x40
			                                    : rand());
		assert_decodes_alike(rnd, n);
	}
}

/* Decoded values own their bytes through one blob: the buffer can go,
 * and a copy keeps them after the original is freed. */
static void test_values_outlive_buffer(void **state)
{
	(void)state;
	tp_payload *p = mixed(), *q, *c;
	void *buf;
	size_t len;
	TP_OK_OR_FAIL(tp_payload_encode(p, 0, &buf, &len));
	TP_OK_OR_FAIL(tp_payload_decode(buf, len, 0, &q));
	memset(buf, 0xee, len);
	free(buf);
	assert_same_values(p, q);
	TP_OK_OR_FAIL(tp_payload_copy(q, &c));
	tp_payload_free(q);
	TP_OK_OR_FAIL(tp_payload_add_string(c, "more"));
	const char *s;
	TP_OK_OR_FAIL(tp_payload_get_string(c, p->count, &s));
	assert_string_equal(s, "more");
	struct tp_value more = tp__payload_at(c, c->count - 1);
	c->count--;
	tp__value_release(&more);
	assert_same_values(p, c);
	tp_payload_free(c);
	tp_payload_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_same_bytes_as_protobuf_c),
	    cmocka_unit_test(test_decodes_like_protobuf_c),
	    cmocka_unit_test(test_values_outlive_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
