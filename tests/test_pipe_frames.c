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

#include "pipe_int.h"
#include "pipe_util.h"

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
 * send calls, nothing is sent, and the messages around it arrive. */
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
	    cmocka_unit_test(test_writer_vanishes_mid_frame),
	    cmocka_unit_test(test_max_size_and_one_over),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
