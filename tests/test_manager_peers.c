/* test_manager_peers.c - no bad peer wedges a manager's listener: on
 * ipc:// and tcp://, peers that connect and close, reset, stall mid-frame,
 * announce an oversized frame before authenticating, send a hello with
 * garbage at any byte or cut at any byte, and more half-open connections
 * than the manager keeps; after each, a client already connected and a
 * new one are served. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "mgr_int.h"
#include "mgr_util.h"
#include "testutil.h"
#include "wire.h"

static const char KEY[] = "peers key";

/* A raw connection (must succeed). */
static int peer(const char *addr)
{
	int fd = mgr_raw_connect(addr);
	assert_true(fd >= 0);
	return fd;
}

/* A close that resets (tcp: RST; unix: unread data makes the server's
 * write fail). */
static void reset_close(int fd)
{
	struct linger l = {1, 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

/* Waits (bounded) until the server closed fd: 1, or 0 if it is open. */
static int server_closed(int fd, int ms)
{
	char buf[512];
	struct pollfd pf = {fd, POLLIN, 0};
	while (poll(&pf, 1, ms) == 1) {
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r <= 0)
			return 1;
	}
	return 0;
}

/* A valid hello frame: [u32 length][Envelope{MgrRequest hello}]. */
static size_t hello_frame(uint8_t *out, size_t cap)
{
	uint8_t nonce[TP__AUTH_NONCE] = {1, 2, 3};
	Troupe__MgrRequest rq = TROUPE__MGR_REQUEST__INIT;
	Troupe__Envelope env = TROUPE__ENVELOPE__INIT;
	void *buf;
	size_t len;
	rq.op = TP__MGR_HELLO;
	rq.nonce.data = nonce;
	rq.nonce.len = sizeof(nonce);
	env.correlation_id = 1;
	env.body_case = TROUPE__ENVELOPE__BODY_MGR_REQUEST;
	env.mgr_request = &rq;
	TP_OK_OR_FAIL(
	    tp__pack_into(&env.base, 0, out + 4, cap - 4, &buf, &len));
	assert_ptr_equal(buf, out + 4);
	out[0] = (uint8_t)len;
	out[1] = (uint8_t)(len >> 8);
	out[2] = out[3] = 0;
	return len + 4;
}

static void write_all(int fd, const void *buf, size_t len)
{
	/* the server may close first: a short or failed write is fine */
	ssize_t w = send(fd, buf, len, MSG_NOSIGNAL);
	(void)w;
}

/* The manager still serves: the old connection and a new one. */
static void still_serving(tp_manager *m, tp_proxy *d, int64_t *count)
{
	tp_manager *c;
	tp_proxy *d2;
	int64_t n;
	TP_OK_OR_FAIL(tp_dict_set(d, tp_int(*count), tp_int(1)));
	++*count;
	TP_OK_OR_FAIL(tp_manager_connect(&c, tp_manager_address(m), KEY,
	                                 strlen(KEY), 5000));
	TP_OK_OR_FAIL(tp_manager_get(c, "dict", "d", NULL, &d2));
	TP_OK_OR_FAIL(tp_dict_len(d2, &n));
	assert_int_equal(n, *count);
	tp_proxy_free(d2);
	tp_manager_free(c);
}

static void bad_peers(const char *address)
{
	tp_manager *m;
	tp_proxy *d;
	uint8_t hello[256];
	int64_t count = 0;
	tp_manager_opts o = {
	    .address = address, .authkey = KEY, .authkey_len = strlen(KEY)};
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_manager_start(&m, &o));
	const char *a = tp_manager_address(m);
	TP_OK_OR_FAIL(tp_manager_get(m, "dict", "d", NULL, &d));
	size_t hl = hello_frame(hello, sizeof(hello));

	/* connect and close; connect and reset; hello then reset */
	close(peer(a));
	still_serving(m, d, &count);
	reset_close(peer(a));
	still_serving(m, d, &count);
	int fd = peer(a);
	write_all(fd, hello, hl);
	reset_close(fd);
	still_serving(m, d, &count);

	/* stalled mid-header and mid-body, kept open meanwhile */
	int s1 = peer(a), s2 = peer(a);
	write_all(s1, hello, 2);
	write_all(s2, hello, hl / 2);
	still_serving(m, d, &count);

	/* an oversized frame before authentication: closed unread */
	static const uint8_t huge[] = {0, 0, 0, 4, 1, 2, 3};
	fd = peer(a);
	write_all(fd, huge, sizeof(huge));
	assert_true(server_closed(fd, 5000));
	close(fd);
	still_serving(m, d, &count);

	/* garbage at every byte of a hello, and a hello cut at every byte */
	for (size_t i = 0; i < hl; i++) {
		uint8_t bad[256];
		memcpy(bad, hello, hl);
		bad[i] ^= 0xa5;
		fd = peer(a);
		write_all(fd, bad, hl);
		close(fd);
		fd = peer(a);
		write_all(fd, hello, i);
		close(fd);
	}
	still_serving(m, d, &count);

	/* more half-open connections than the manager keeps: the oldest
	 * go, honest clients still get in */
	int many[40];
	for (int i = 0; i < 40; i++) {
		many[i] = peer(a);
		write_all(many[i], hello, 1);
	}
	still_serving(m, d, &count);
	assert_true(server_closed(many[0], 5000));
	for (int i = 0; i < 40; i++)
		close(many[i]);
	close(s1);
	close(s2);
	still_serving(m, d, &count);
	tp_proxy_free(d);
	TP_OK_OR_FAIL(tp_manager_shutdown(m));
	tp_test_fini();
}

static void test_bad_peers_ipc(void **state)
{
	(void)state;
	bad_peers(NULL);
}

static void test_bad_peers_tcp(void **state)
{
	(void)state;
	bad_peers("tcp://127.0.0.1:0");
}

int main(void)
{
	tp_spawn_guard();
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bad_peers_ipc),
	    cmocka_unit_test(test_bad_peers_tcp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
