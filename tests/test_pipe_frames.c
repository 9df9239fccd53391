/*
 * test_pipe_frames.c - a Pipe's reader against bad writers: malformed and
 * oversized packets, a writer that vanishes or stalls in the middle of a
 * message, and the size limit (the largest message and one byte more).
 * Each bad input gives TP_EDECODE (counted) or TP_ETOOBIG and the reader
 * keeps working; nothing sent before or after is lost.
 */
#include <signal.h>
#include <string.h>
#include <sys/socket.h>

#include "payload_int.h"
#include "pipe_int.h"
#include "pipe_util.h"
#include "wire.h"

/* Sends one raw packet on the socket of end w. */
static void raw(tp_conn *w, const void *buf, size_t len)
{
	assert_int_equal(send(w->fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* A first packet claiming len body bytes and carrying have of them. */
static void raw_start(tp_conn *w, int tag, uint32_t len, size_t have)
{
	unsigned char *b = calloc(1, TP_PKT_HDR + have);
	b[0] = (unsigned char)tag;
	memcpy(b + 1, &len, 4); /* little-endian machine */
	raw(w, b, TP_PKT_HDR + have);
	free(b);
}

static void expect_int(tp_conn *r, int64_t want)
{
	int64_t v;
	TP_OK_OR_FAIL(pu_recv_int(r, &v, 5000));
	assert_int_equal(v, want);
}

static void test_malformed_packets(void **state)
{
	tp_conn *r, *w;
	tp_payload *p;
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_pipe_new(&r, &w, 1));
	uint64_t bad = 0;
	struct {
		const char *what;
		const char *bytes;
		size_t len;
	} cases[] = {
	    {"empty packet", "", 0},
	    {"unknown tag", "Zjunk", 5},
	    {"short header", "P\x01", 2},
	    {"continuation without a start", "Cxyz", 4},
	    {"undecodable payload", "P\x03\x00\x00\x00\xff\xff\xff", 8},
	    {"body longer than declared", "B\x01\x00\x00\x00xyz", 8},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TP_OK_OR_FAIL(pu_send_int(w, (int64_t)i));
		raw(w, cases[i].bytes, cases[i].len);
		TP_OK_OR_FAIL(pu_send_int(w, 100 + (int64_t)i));
		expect_int(r, (int64_t)i);
		int rv = tp_conn_recv(r, &p, 5000);
		if (rv != TP_EDECODE)
			fail_msg("%s: %s", cases[i].what, tp_strerror(rv));
		assert_int_equal(tp_conn_rejected(r), ++bad);
		expect_int(r, 100 + (int64_t)i);
	}
	/* a declared length over the limit: it and its continuations go */
	raw_start(w, 'B', (uint32_t)TP_BODY_MAX + 1, 10);
	raw(w, "Cmore", 5);
	TP_OK_OR_FAIL(pu_send_int(w, 7));
	TP_EXPECT(tp_conn_recv(r, &p, 5000), TP_EDECODE);
	expect_int(r, 7);
	/* a packet larger than the largest frame (cut by the kernel) */
	size_t huge = TP_PKT_MAX + 100;
	char *h = calloc(1, huge);
	h[0] = 'B';
	raw(w, h, huge);
	free(h);
	TP_OK_OR_FAIL(pu_send_int(w, 8));
	TP_EXPECT(tp_conn_recv(r, &p, 5000), TP_EDECODE);
	expect_int(r, 8);
	/* a message cut short by a new one: the cut one is dropped */
	raw_start(w, 'B', 2 * TP_PKT_MAX, 100);
	TP_OK_OR_FAIL(pu_send_int(w, 9));
	expect_int(r, 9);
	assert_int_equal(tp_conn_rejected(r), bad + 3);
	/* continuations overflowing the declared length */
	raw_start(w, 'B', 10, 5);
	raw(w, "C0123456789", 11);
	TP_OK_OR_FAIL(pu_send_int(w, 10));
	TP_EXPECT(tp_conn_recv(r, &p, 5000), TP_EDECODE);
	expect_int(r, 10);
	assert_int_equal(tp_conn_rejected(r), bad + 4);
	tp_conn_free(w);
	TP_EXPECT(tp_conn_recv(r, &p, 5000), TP_EOF);
	tp_conn_free(r);
	tp_test_fini();
}

/* Payload messages whose body is not a valid payload (the codec's reader
 * and protobuf-c both refuse them): each is TP_EDECODE and counted, the
 * reader goes on with the next message, and the writer keeps running. */
static void test_malformed_payload_bodies(void **state)
{
	tp_conn *r, *w;
	tp_payload *p;
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_pipe_new(&r, &w, 1));
	static const struct {
		const char *what, *body;
		size_t len;
	} bad[] = {
	    {"value without a kind", "\x0a\x00", 2},
	    {"value length past the end", "\x0a\x09\x10\x02", 4},
	    {"string length past the end",
	     "\x0a\x04\x22\x09"
	     "ab",
	     6},
	    {"cut double", "\x0a\x05\x19\x00\x00\x00\x00", 7},
	    {"varint too long",
	     "\x0a\x0b\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 13},
	    {"user message without a type name", "\x0a\x05\x32\x03\x12\x01x",
	     7},
	    {"wrong wire type", "\x0a\x02\x12\x00", 4},
	    {"not a payload at all", "\xff\xff\xff", 3},
	};
	unsigned char pkt[64];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint32_t len = (uint32_t)bad[i].len;
		pkt[0] = TP_TAG_PAYLOAD;
		memcpy(pkt + 1, &len, 4); /* little-endian machine */
		memcpy(pkt + TP_PKT_HDR, bad[i].body, bad[i].len);
		raw(w, pkt, TP_PKT_HDR + bad[i].len);
		TP_OK_OR_FAIL(pu_send_int(w, (int64_t)i));
		int rv = tp_conn_recv(r, &p, 5000);
		if (rv != TP_EDECODE)
			fail_msg("%s: %s", bad[i].what, tp_strerror(rv));
		assert_int_equal(tp_conn_rejected(r), i + 1);
		expect_int(r, (int64_t)i);
	}
	/* and the writer's end still works both ways */
	TP_OK_OR_FAIL(pu_send_int(r, 42));
	expect_int(w, 42);
	tp_conn_free(w);
	TP_EXPECT(tp_conn_recv(r, &p, 5000), TP_EOF);
	tp_conn_free(r);
	tp_test_fini();
}

/* Every payload type and a mixed list cross the pipe unchanged,
 * including an empty string, 0-length bytes, a user message and a value
 * too large for one packet; an empty payload too. */
static void test_every_type_round_trips(void **state)
{
	tp_conn *r, *w;
	tp_payload *p, *q;
	Troupe__Error err = TROUPE__ERROR__INIT;
	size_t big = 3 * TP_PKT_MAX;
	char *blob = malloc(big);
	(void)state;
	for (size_t i = 0; i < big; i++)
		blob[i] = (char)(i * 13);
	err.code = 9;
	err.message = "m";
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_pipe_new(&r, &w, 1));
	TP_OK_OR_FAIL(tp_payload_new(&p));
	TP_OK_OR_FAIL(tp_payload_add_none(p));
	TP_OK_OR_FAIL(tp_payload_add_int(p, INT64_MIN));
	TP_OK_OR_FAIL(tp_payload_add_double(p, -2.5));
	TP_OK_OR_FAIL(tp_payload_add_string(p, ""));
	TP_OK_OR_FAIL(tp_payload_add_string(p, "h\xc3\xa9"));
	TP_OK_OR_FAIL(tp_payload_add_bytes(p, "", 0));
	TP_OK_OR_FAIL(tp_payload_add_bytes(p, blob, big));
	TP_OK_OR_FAIL(tp_payload_add_proto(p, &err.base));
	TP_OK_OR_FAIL(tp_conn_send(w, p));
	TP_OK_OR_FAIL(tp_payload_new(&q));
	TP_OK_OR_FAIL(tp_conn_send(w, q)); /* empty */
	tp_payload_free(q);
	TP_OK_OR_FAIL(tp_conn_recv(r, &q, 5000));
	assert_int_equal(tp_payload_count(q), tp_payload_count(p));
	for (size_t i = 0; i < tp_payload_count(p); i++) {
		const struct tp_value av = tp__payload_at(p, i), *a = &av;
		const struct tp_value bv = tp__payload_at(q, i), *b = &bv;
		assert_int_equal(a->type, b->type);
		if (a->type == TP_TINT || a->type == TP_TDOUBLE)
			assert_memory_equal(&a->i, &b->i, 8);
		if (a->type == TP_TSTRING || a->type == TP_TBYTES ||
		    a->type == TP_TPROTO) {
			assert_int_equal(a->len, b->len);
			assert_memory_equal(a->data, b->data, a->len);
		}
	}
	Troupe__Error *got = NULL;
	TP_OK_OR_FAIL(tp_payload_get_proto(q, 7, &troupe__error__descriptor,
	                                   (ProtobufCMessage **)&got));
	assert_int_equal(got->code, 9);
	protobuf_c_message_free_unpacked(&got->base, NULL);
	tp_payload_free(q);
	TP_OK_OR_FAIL(tp_conn_recv(r, &q, 5000));
	assert_int_equal(tp_payload_count(q), 0);
	tp_payload_free(q);
	assert_int_equal(tp_conn_rejected(r), 0);
	tp_payload_free(p);
	free(blob);
	tp_conn_free(r);
	tp_conn_free(w);
	tp_test_fini();
}

/* A writer dies in the middle of a message: what came before arrives,
 * the cut message is dropped and counted, then TP_EOF. A writer that
 * stalls mid-message makes recv time out, and the message arrives whole
 * once the rest comes. */
static int half_then_die(tp_conn *w, long arg)
{
	(void)arg;
	CKRV(pu_send_int(w, 1), TP_OK);
	raw_start(w, 'B', 3 * TP_PKT_MAX, TP_PKT_MAX - TP_PKT_HDR);
	raise(SIGKILL);
	return 0;
}

static void test_writer_vanishes_mid_frame(void **state)
{
	tp_conn *r, *w;
	tp_payload *p;
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	for (int i = 0; i < 10; i++) {
		TP_OK_OR_FAIL(tp_pipe_new(&r, &w, 1));
		pid_t pid = pu_fork(half_then_die, w, r, 0);
		tp_conn_close(w);
		expect_int(r, 1);
		TP_EXPECT(tp_conn_recv(r, &p, 10000), TP_EOF);
		assert_int_equal(tp_conn_rejected(r), 1);
		assert_int_equal(pu_reap(pid), 128 + SIGKILL);
		tp_conn_free(r);
		tp_conn_free(w);
	}
	/* stalled mid-message */
	TP_OK_OR_FAIL(tp_pipe_new(&r, &w, 1));
	size_t n = TP_PKT_MAX + 1000;
	uint32_t n32 = (uint32_t)n;
	unsigned char *big = malloc(n), *got = malloc(n);
	for (size_t i = 0; i < n; i++)
		big[i] = (unsigned char)(i * 7);
	unsigned char *first = malloc(TP_PKT_MAX);
	first[0] = 'B';
	memcpy(first + 1, &n32, 4);
	memcpy(first + TP_PKT_HDR, big, TP_PKT_MAX - TP_PKT_HDR);
	raw(w, first, TP_PKT_MAX);
	size_t len;
	TP_EXPECT(tp_conn_recv_bytes(r, got, n, &len, 50), TP_ETIMEDOUT);
	size_t off = TP_PKT_MAX - TP_PKT_HDR;
	first[0] = 'C';
	memcpy(first + 1, big + off, n - off);
	raw(w, first, 1 + n - off);
	TP_OK_OR_FAIL(tp_conn_recv_bytes(r, got, n, &len, 5000));
	assert_true(len == n && memcmp(got, big, n) == 0);
	assert_int_equal(tp_conn_rejected(r), 0);
	free(first);
	free(big);
	free(got);
	tp_conn_free(r);
	tp_conn_free(w);
	tp_test_fini();
}

/* The largest message goes through; one byte more is TP_ETOOBIG on both
 * send calls, nothing is sent, and the messages around it arrive. The
 * same for a payload: one bytes value of MAX_PAYLOAD_BYTES encodes to
 * exactly TP_BODY_MAX bytes (tag, 4-byte length, Value: tag, 4-byte
 * length, the bytes), one byte more is TP_ETOOBIG. */
#define MAX_PAYLOAD_BYTES (TP_BODY_MAX - 10)

static int read_max(tp_conn *r, long arg)
{
	size_t n = TP_BODY_MAX, len;
	unsigned char *buf = malloc(n);
	int64_t v;
	(void)arg;
	CK(buf != NULL);
	CKRV(pu_recv_int(r, &v, 20000), TP_OK);
	CK(v == 1);
	CKRV(tp_conn_recv_bytes(r, buf, n, &len, 60000), TP_OK);
	CK(len == n && buf[0] == 1 && buf[n / 2] == 2 && buf[n - 1] == 3);
	CKRV(pu_recv_int(r, &v, 20000), TP_OK);
	CK(v == 2);
	/* the largest payload message: one bytes value */
	tp_payload *p = NULL;
	const void *d;
	CKRV(tp_conn_recv(r, &p, 60000), TP_OK);
	CKRV(tp_payload_get_bytes(p, 0, &d, &len), TP_OK);
	CK(tp_payload_count(p) == 1 && len == MAX_PAYLOAD_BYTES);
	CK(((const unsigned char *)d)[0] == 1 &&
	   ((const unsigned char *)d)[len - 1] == 3);
	tp_payload_free(p);
	CKRV(pu_recv_int(r, &v, 20000), TP_OK);
	CK(v == 3);
	CKRV(pu_recv_int(r, &v, 20000), TP_EOF);
	CK(tp_conn_rejected(r) == 0);
	free(buf);
	return 0;
}

static void test_max_size_and_one_over(void **state)
{
	tp_conn *r, *w;
	tp_payload *p;
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_pipe_new(&r, &w, 0));
	pid_t pid = pu_fork(read_max, r, w, 0);
	tp_conn_close(r);
	size_t n = TP_BODY_MAX + 1;
	unsigned char *buf = calloc(1, n);
	buf[0] = 1;
	buf[(n - 1) / 2] = 2;
	buf[n - 2] = 3;
	TP_OK_OR_FAIL(pu_send_int(w, 1));
	TP_EXPECT(tp_conn_send_bytes(w, buf, n), TP_ETOOBIG);
	TP_OK_OR_FAIL(tp_payload_new(&p)); /* a payload one byte too big */
	TP_OK_OR_FAIL(tp_payload_add_bytes(p, buf, n - 8));
	TP_EXPECT(tp_conn_send(w, p), TP_ETOOBIG);
	tp_payload_free(p);
	TP_OK_OR_FAIL(tp_conn_send_bytes(w, buf, n - 1));
	TP_OK_OR_FAIL(pu_send_int(w, 2));
	/* a payload of exactly the largest size, then one byte over */
	buf[MAX_PAYLOAD_BYTES - 1] = 3;
	TP_OK_OR_FAIL(tp_payload_new(&p));
	TP_OK_OR_FAIL(tp_payload_add_bytes(p, buf, MAX_PAYLOAD_BYTES + 1));
	assert_int_equal(tp__payload_packed_size(p), TP_BODY_MAX + 1);
	TP_EXPECT(tp_conn_send(w, p), TP_ETOOBIG);
	tp_payload_free(p);
	TP_OK_OR_FAIL(tp_payload_new(&p));
	TP_OK_OR_FAIL(tp_payload_add_bytes(p, buf, MAX_PAYLOAD_BYTES));
	assert_int_equal(tp__payload_packed_size(p), TP_BODY_MAX);
	TP_OK_OR_FAIL(tp_conn_send(w, p));
	tp_payload_free(p);
	TP_OK_OR_FAIL(pu_send_int(w, 3));
	tp_conn_close(w);
	assert_int_equal(pu_reap(pid), 0);
	free(buf);
	tp_conn_free(r);
	tp_conn_free(w);
	tp_test_fini();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_malformed_packets),
	    cmocka_unit_test(test_malformed_payload_bodies),
	    cmocka_unit_test(test_every_type_round_trips),
	    cmocka_unit_test(test_writer_vanishes_mid_frame),
	    cmocka_unit_test(test_max_size_and_one_over),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
