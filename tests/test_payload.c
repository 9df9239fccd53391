/* test_payload.c - payload values and the envelope on the wire. */
#include <stdlib.h>
#include <string.h>

#include "payload_int.h"
#include "testutil.h"
#include "wire.h"

/* Encodes p and decodes it again into *out. */
static void round_trip(const tp_payload *p, tp_payload **out)
{
	void *buf;
	size_t len;
	TP_OK_OR_FAIL(tp_payload_encode(p, 0, &buf, &len));
	TP_OK_OR_FAIL(tp_payload_decode(buf, len, 0, out));
	free(buf);
}

static void test_every_type_round_trips(void **state)
{
	(void)state;
	tp_payload *p, *q;
	static const unsigned char raw[] = {0, 1, 2, 255, 0, 7};
	TP_OK_OR_FAIL(tp_payload_new(&p));
	TP_OK_OR_FAIL(tp_payload_add_none(p));
	TP_OK_OR_FAIL(tp_payload_add_int(p, INT64_MIN));
	TP_OK_OR_FAIL(tp_payload_add_int(p, -42));
	TP_OK_OR_FAIL(tp_payload_add_double(p, 2.718281828459045));
	TP_OK_OR_FAIL(tp_payload_add_string(p, "héllo"));
	TP_OK_OR_FAIL(tp_payload_add_string(p, ""));
	TP_OK_OR_FAIL(tp_payload_add_bytes(p, raw, sizeof(raw)));
	TP_OK_OR_FAIL(tp_payload_add_bytes(p, NULL, 0));
	round_trip(p, &q);

	assert_int_equal(tp_payload_count(q), 8);
	tp_type t;
	TP_OK_OR_FAIL(tp_payload_type(q, 0, &t));
	assert_int_equal(t, TP_TNONE);
	int64_t i;
	TP_OK_OR_FAIL(tp_payload_get_int(q, 1, &i));
	assert_true(i == INT64_MIN);
	TP_OK_OR_FAIL(tp_payload_get_int(q, 2, &i));
	assert_int_equal(i, -42);
	double d;
	TP_OK_OR_FAIL(tp_payload_get_double(q, 3, &d));
	assert_true(d == 2.718281828459045);
	const char *s;
	TP_OK_OR_FAIL(tp_payload_get_string(q, 4, &s));
	assert_string_equal(s, "héllo");
	TP_OK_OR_FAIL(tp_payload_get_string(q, 5, &s));
	assert_string_equal(s, "");
	const void *b;
	size_t n;
	TP_OK_OR_FAIL(tp_payload_get_bytes(q, 6, &b, &n));
	assert_int_equal(n, sizeof(raw));
	assert_memory_equal(b, raw, sizeof(raw));
	TP_OK_OR_FAIL(tp_payload_get_bytes(q, 7, &b, &n));
	assert_int_equal(n, 0);
	tp_payload_free(p);
	tp_payload_free(q);
}

/* A user's own protobuf-c message travels by descriptor: the ExitEvent
 * schema stands in for any generated message here. */
static void test_user_message_by_descriptor(void **state)
{
	(void)state;
	Troupe__ExitEvent ev = TROUPE__EXIT_EVENT__INIT, *got;
	ev.pid = 1234;
	ev.name = "Process-1";
	ev.signal = 11;
	tp_payload *p, *q;
	TP_OK_OR_FAIL(tp_payload_new(&p));
	TP_OK_OR_FAIL(tp_payload_add_proto(p, &ev.base));
	round_trip(p, &q);
	const char *name;
	TP_OK_OR_FAIL(tp_payload_proto_type(q, 0, &name));
	assert_string_equal(name, "troupe.ExitEvent");
	TP_OK_OR_FAIL(tp_payload_get_proto(
	    q, 0, &troupe__exit_event__descriptor, (ProtobufCMessage **)&got));
	assert_int_equal(got->pid, 1234);
	assert_string_equal(got->name, "Process-1");
	assert_int_equal(got->signal, 11);
	protobuf_c_message_free_unpacked(&got->base, NULL);
	/* Asking with another descriptor is a type error. */
	ProtobufCMessage *other = NULL;
	TP_EXPECT(
	    tp_payload_get_proto(q, 0, &troupe__error__descriptor, &other),
	    TP_ETYPE);
	assert_null(other);
	tp_payload_free(p);
	tp_payload_free(q);
}

/* A message's type name lives right after its bytes, with no field of
 * its own: a small message (in the payload's arena) and a large one (its
 * own block), each still named and readable after a copy, the wire codec
 * and protobuf-c's own unpacking (tp__payload_from_pb). */
static void check_named(const tp_payload *q, size_t want_big)
{
	for (size_t i = 0; i < 2; i++) {
		const struct tp_value vv = tp__payload_at(q, i), *v = &vv;
		const char *name;
		Troupe__ExitEvent *got;
		TP_OK_OR_FAIL(tp_payload_proto_type(q, i, &name));
		assert_string_equal(name, "troupe.ExitEvent");
		assert_ptr_equal(name, v->data + v->len + 1);
		TP_OK_OR_FAIL(
		    tp_payload_get_proto(q, i, &troupe__exit_event__descriptor,
		                         (ProtobufCMessage **)&got));
		assert_int_equal(got->pid, i == 0 ? 7 : 8);
		assert_int_equal(strlen(got->name), i == 0 ? 1 : want_big);
		protobuf_c_message_free_unpacked(&got->base, NULL);
	}
	struct tp_value v2 = tp__payload_at(q, 2);
	assert_null(tp__value_type_name(&v2));
}

static void test_message_name_follows_bytes(void **state)
{
	(void)state;
	enum { BIG = 5000 }; /* over the arena's 2 KiB */
	char *big = malloc(BIG + 1);
	assert_non_null(big);
	memset(big, 'x', BIG);
	big[BIG] = '\0';
	Troupe__ExitEvent a = TROUPE__EXIT_EVENT__INIT;
	Troupe__ExitEvent b = TROUPE__EXIT_EVENT__INIT;
	a.pid = 7;
	a.name = "a";
	b.pid = 8;
	b.name = big;
	tp_payload *p, *c, *q, *r;
	TP_OK_OR_FAIL(tp_payload_new(&p));
	TP_OK_OR_FAIL(tp_payload_add_proto(p, &a.base));
	TP_OK_OR_FAIL(tp_payload_add_proto(p, &b.base));
	TP_OK_OR_FAIL(tp_payload_add_string(p, "not a message"));
	assert_non_null(tp__payload_at(p, 0).blob);
	assert_null(tp__payload_at(p, 1).blob);
	check_named(p, BIG);
	TP_OK_OR_FAIL(tp_payload_copy(p, &c));
	check_named(c, BIG);
	round_trip(p, &q);
	check_named(q, BIG);
	Troupe__Payload pb;
	TP_OK_OR_FAIL(tp__payload_to_pb(p, &pb));
	TP_OK_OR_FAIL(tp__payload_from_pb(&pb, &r));
	tp__payload_pb_release(&pb);
	check_named(r, BIG);
	tp_payload_free(p);
	tp_payload_free(c);
	tp_payload_free(q);
	tp_payload_free(r);
	free(big);
}

static void test_wrong_type_loses_nothing(void **state)
{
	(void)state;
	tp_payload *p;
	int64_t i = 99;
	const char *s;
	TP_OK_OR_FAIL(tp_payload_new(&p));
	TP_OK_OR_FAIL(tp_payload_add_string(p, "keep"));
	TP_EXPECT(tp_payload_get_int(p, 0, &i), TP_ETYPE);
	assert_int_equal(i, 99);
	TP_EXPECT(tp_payload_get_int(p, 1, &i), TP_ENOENT);
	TP_OK_OR_FAIL(tp_payload_get_string(p, 0, &s));
	assert_string_equal(s, "keep");
	tp_payload_free(p);
}

static void test_bad_arguments(void **state)
{
	(void)state;
	tp_payload *p;
	void *buf;
	size_t len;
	tp_type t;
	TP_EXPECT(tp_payload_new(NULL), TP_EINVAL);
	TP_OK_OR_FAIL(tp_payload_new(&p));
	TP_EXPECT(tp_payload_add_int(NULL, 1), TP_EINVAL);
	TP_EXPECT(tp_payload_add_string(p, NULL), TP_EINVAL);
	TP_EXPECT(tp_payload_add_bytes(p, NULL, 3), TP_EINVAL);
	TP_EXPECT(tp_payload_add_proto(p, NULL), TP_EINVAL);
	TP_EXPECT(tp_payload_type(p, 0, &t), TP_ENOENT);
	TP_EXPECT(tp_payload_type(p, 0, NULL), TP_EINVAL);
	TP_EXPECT(tp_payload_encode(NULL, 0, &buf, &len), TP_EINVAL);
	TP_EXPECT(tp_payload_decode(NULL, 4, 0, &p), TP_EINVAL);
	assert_int_equal(tp_payload_count(NULL), 0);
	tp_payload_free(NULL);
	tp_payload_free(p);
}

static void test_oversized_rejected(void **state)
{
	(void)state;
	tp_payload *p, *q = NULL;
	void *buf;
	size_t len;
	char big[4096];
	memset(big, 'x', sizeof(big));
	TP_OK_OR_FAIL(tp_payload_new(&p));
	TP_OK_OR_FAIL(tp_payload_add_bytes(p, big, sizeof(big)));
	TP_EXPECT(tp_payload_encode(p, 1024, &buf, &len), TP_ETOOBIG);
	TP_OK_OR_FAIL(tp_payload_encode(p, 0, &buf, &len));
	TP_EXPECT(tp_payload_decode(buf, len, 1024, &q), TP_ETOOBIG);
	assert_null(q);
	free(buf);
	tp_payload_free(p);
}

static void test_malformed_and_truncated_rejected(void **state)
{
	(void)state;
	tp_payload *p, *q = NULL;
	void *buf;
	size_t len;
	TP_OK_OR_FAIL(tp_payload_new(&p));
	TP_OK_OR_FAIL(tp_payload_add_string(p, "a string long enough"));
	TP_OK_OR_FAIL(tp_payload_add_int(p, 7));
	TP_OK_OR_FAIL(tp_payload_encode(p, 0, &buf, &len));
	/* Every truncation of a valid message is rejected or decodes to a
	 * prefix; none crashes. Cutting inside the string must fail. */
	TP_EXPECT(tp_payload_decode(buf, 10, 0, &q), TP_EDECODE);
	for (size_t cut = 0; cut < len; cut++) {
		if (tp_payload_decode(buf, cut, 0, &q) == TP_OK)
			tp_payload_free(q);
	}
	static const unsigned char junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	                                     0xff, 0xff, 0xff, 0xff, 0x01};
	q = NULL;
	TP_EXPECT(tp_payload_decode(junk, sizeof(junk), 0, &q), TP_EDECODE);
	assert_null(q);
	/* A value with no kind set is malformed too. */
	static const unsigned char empty_value[] = {0x0a, 0x00};
	TP_EXPECT(tp_payload_decode(empty_value, sizeof(empty_value), 0, &q),
	          TP_EDECODE);
	/* Random bytes never crash the decoder. */
	unsigned char rnd[64];
	srand(1);
	for (int round = 0; round < 2000; round++) {
		for (size_t k = 0; k < sizeof(rnd); k++)
			rnd[k] = (unsigned char)rand();
		if (tp_payload_decode(rnd, 1 + (size_t)round % sizeof(rnd), 0,
		                      &q) == TP_OK)
			tp_payload_free(q);
	}
	free(buf);
	tp_payload_free(p);
}

static void test_envelope_round_trip(void **state)
{
	(void)state;
	Troupe__Envelope env = TROUPE__ENVELOPE__INIT, *got;
	Troupe__Error err = TROUPE__ERROR__INIT;
	void *buf;
	size_t len;
	env.sender = "Process-1";
	env.receiver = "sup";
	env.correlation_id = 77;
	err.code = TP_EREMOTE;
	err.origin = "worker";
	err.message = "division by zero";
	env.body_case = TROUPE__ENVELOPE__BODY_ERROR;
	env.error = &err;
	TP_OK_OR_FAIL(tp__envelope_pack(&env, 0, &buf, &len));
	TP_EXPECT(tp__envelope_unpack(buf, len, len - 1, &got), TP_ETOOBIG);
	TP_OK_OR_FAIL(tp__envelope_unpack(buf, len, 0, &got));
	assert_string_equal(got->sender, "Process-1");
	assert_int_equal(got->correlation_id, 77);
	assert_int_equal(got->body_case, TROUPE__ENVELOPE__BODY_ERROR);
	assert_string_equal(got->error->message, "division by zero");
	tp__envelope_free(got);
	TP_EXPECT(tp__envelope_unpack(buf, len / 2, 0, &got), TP_EDECODE);
	free(buf);
}

static void test_copy(void **state)
{
	(void)state;
	tp_payload *p, *q;
	const char *s;
	TP_OK_OR_FAIL(tp_payload_new(&p));
	TP_OK_OR_FAIL(tp_payload_add_string(p, "copied"));
	TP_OK_OR_FAIL(tp_payload_add_int(p, 5));
	TP_OK_OR_FAIL(tp_payload_copy(p, &q));
	tp_payload_free(p);
	TP_OK_OR_FAIL(tp_payload_get_string(q, 0, &s));
	assert_string_equal(s, "copied");
	tp_payload_free(q);
}

/* A payload built by the add, copy and decode calls (all of them append
 * through payload.c) knows the bytes of its data (the pool's submit then
 * need not walk a large map's values), and a clear forgets. */
static void test_known_bytes(void **state)
{
	(void)state;
	static const unsigned char raw[] = {0, 1, 2};
	Troupe__ExitEvent ev = TROUPE__EXIT_EVENT__INIT;
	tp_payload *p, *q, *d;
	size_t vb, want;
	ev.pid = 3;
	TP_OK_OR_FAIL(tp_payload_new(&p));
	assert_true(tp__payload_vbytes(p, &vb) && vb == 0);
	TP_OK_OR_FAIL(tp_payload_add_int(p, 1));
	TP_OK_OR_FAIL(tp_payload_add_double(p, 0.5));
	TP_OK_OR_FAIL(tp_payload_add_none(p));
	TP_OK_OR_FAIL(tp_payload_add_string(p, ""));     /* 1: its NUL */
	TP_OK_OR_FAIL(tp_payload_add_string(p, "abc"));  /* 4 */
	TP_OK_OR_FAIL(tp_payload_add_bytes(p, NULL, 0)); /* 1 */
	TP_OK_OR_FAIL(tp_payload_add_bytes(p, raw, sizeof(raw))); /* 4 */
	TP_OK_OR_FAIL(tp_payload_add_proto(p, &ev.base));
	want = 1 + 4 + 1 + 4 + protobuf_c_message_get_packed_size(&ev.base) +
	       1 + strlen(ev.base.descriptor->name) + 1;
	assert_true(tp__payload_vbytes(p, &vb));
	assert_int_equal(vb, want);
	TP_OK_OR_FAIL(tp_payload_copy(p, &q)); /* shares the arena's bytes */
	assert_true(tp__payload_vbytes(q, &vb));
	assert_int_equal(vb, want);
	round_trip(p, &d);
	assert_int_equal(tp_payload_count(d), 8);
	assert_true(tp__payload_vbytes(d, &vb));
	assert_int_equal(vb, want);
	tp_payload_clear(d);
	assert_true(tp__payload_vbytes(d, &vb) && vb == 0);
	tp_payload_clear(p);
	assert_true(tp__payload_vbytes(p, &vb) && vb == 0);
	tp_payload_free(p);
	tp_payload_free(q);
	tp_payload_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_type_round_trips),
	    cmocka_unit_test(test_user_message_by_descriptor),
	    cmocka_unit_test(test_message_name_follows_bytes),
	    cmocka_unit_test(test_wrong_type_loses_nothing),
	    cmocka_unit_test(test_bad_arguments),
	    cmocka_unit_test(test_oversized_rejected),
	    cmocka_unit_test(test_malformed_and_truncated_rejected),
	    cmocka_unit_test(test_envelope_round_trip),
	    cmocka_unit_test(test_copy),
	    cmocka_unit_test(test_known_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
