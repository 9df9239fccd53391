/* test_connection.c - Listener and Client: payloads both ways over a
 * Unix path and tcp, end of file, big and oversized messages, a wrong
 * authkey on either side, no authkey (Python's None), refused connections, and
 * peers that connect and say nothing, vanish halfway or send garbage (the
 * listener serves the next client at once and never returns them). */
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "conn_int.h"
#include "netaddr.h"
#include "sync_util.h"
#include "troupe/connection.h"
#include "troupe/fmt.h"

#define KEY "secret key"

static char g_addr[300];
static const char *g_key = KEY;

/*
 * The clients run in children that exec this program again ("--child N
 * ADDR KEY ARG": child_fns[N](ARG) with g_addr and g_key set), not in
 * plain forks of it: a fork of this process (the runtime's threads
 * running) may copy a lock another thread holds in the allocator, and
 * AddressSanitizer's allocator (GCC 12's libasan) takes no lock around
 * fork, so a child's allocation could wait for ever there. An exec
 * starts clean.
 */
static int child_client(void *arg);
static int child_big(void *arg);
static int child_rude(void *arg);
static int child_forger(void *arg);
static int child_then_killed(void *arg);
static int (*const child_fns[])(void *) = {
    child_client, child_big, child_rude, child_forger, child_then_killed,
};
#define N_CHILD_FNS (sizeof(child_fns) / sizeof(child_fns[0]))

static pid_t exec_child(int (*fn)(void *), void *arg)
{
	char n[16], a[32];
	size_t i = 0;
	while (i < N_CHILD_FNS && child_fns[i] != fn)
		i++;
	assert_true(i < N_CHILD_FNS);
	snprintf(n, sizeof(n), "%zu", i);
	snprintf(a, sizeof(a), "%ld", (long)(intptr_t)arg);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl("/proc/self/exe", "test_connection", "--child", n, g_addr,
		      g_key, a, (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* A listener at address with key; g_addr becomes its address. */
static tp_listener *listen_at(const char *address, const char *key)
{
	tp_listener *l;
	TP_OK_OR_FAIL(tp_listener_new(&l, address, key, strlen(key)));
	snprintf(g_addr, sizeof g_addr, "%s", tp_listener_address(l));
	return l;
}

/* A tcp listener, a child running fn as its client, and the accepted
 * connection. */
static tp_conn *accept_child(tp_listener **l, int (*fn)(void *), pid_t *pid)
{
	tp_conn *c;
	*l = listen_at("tcp://127.0.0.1:0", KEY);
	*pid = exec_child(fn, NULL);
	TP_OK_OR_FAIL(tp_listener_accept(*l, &c, 10000));
	return c;
}

/* A client: sends [i, 'ping'], expects [i + 1, 'pong'], then closes. */
static int child_client(void *arg)
{
	tp_conn *c;
	tp_payload *p;
	int64_t i = (int64_t)(intptr_t)arg, j;
	const char *s;
	int rv = tp_client_new(&c, g_addr, g_key, strlen(g_key), 5000);
	if (rv != TP_OK)
		return rv == TP_EAUTH ? 10 : 1;
	if (tp_pack_new(&p, "ls", i, "ping") || tp_conn_send(c, p))
		return 2;
	tp_payload_free(p);
	if (tp_conn_recv(c, &p, 5000) || tp_unpack(p, "ls", &j, &s) ||
	    j != i + 1 || strcmp(s, "pong") != 0)
		return 3;
	tp_payload_free(p);
	tp_conn_free(c);
	return 0;
}

/* Accepts one client and answers its ping; returns what it sent. */
static int64_t serve_one(tp_listener *l)
{
	tp_conn *c;
	tp_payload *p, *q;
	int64_t i;
	const char *s;
	TP_OK_OR_FAIL(tp_listener_accept(l, &c, 10000));
	TP_OK_OR_FAIL(tp_conn_poll(c, 5000));
	TP_OK_OR_FAIL(tp_conn_recv(c, &p, 5000));
	TP_OK_OR_FAIL(tp_unpack(p, "ls", &i, &s));
	assert_string_equal(s, "ping");
	TP_OK_OR_FAIL(tp_pack_new(&q, "ls", i + 1, "pong"));
	TP_OK_OR_FAIL(tp_conn_send(c, q));
	TP_EXPECT(tp_conn_recv(c, &p, 5000) == TP_OK ? -1 : TP_EOF, TP_EOF);
	tp_payload_free(q);
	tp_payload_free(p);
	tp_conn_free(c);
	return i;
}

static void ping_pong(const char *address)
{
	tp_listener *l = listen_at(address, KEY);
	for (int k = 0; k < 3; k++) {
		pid_t pid =
		    exec_child(child_client, (void *)(intptr_t)(k * 10));
		assert_int_equal(serve_one(l), k * 10);
		assert_int_equal(su_reap(pid), 0);
		const char *last = tp_listener_last_accepted(l);
		assert_true(strncmp(address, "tcp://", 6) == 0
		                ? strncmp(last, "tcp://127.0.0.1:", 16) == 0
		                : last[0] == '\0');
	}
	assert_int_equal(tp_listener_rejected(l), 0);
	tp_listener_free(l);
}

static void test_unix(void **state)
{
	(void)state;
	char path[100];
	tp_test_init(TP_START_FORK);
	snprintf(path, sizeof path, "ipc://%s/listener.sock", tp_runtime_dir());
	ping_pong(path);
	assert_int_equal(access(path + 6, F_OK), -1); /* removed */
	snprintf(path, sizeof path, "%s/plain.sock", tp_runtime_dir());
	ping_pong(path);
	tp_test_fini();
}

static void test_tcp(void **state)
{
	(void)state;
	tp_test_init(TP_START_FORK);
	ping_pong("tcp://127.0.0.1:0");
	assert_int_equal(strncmp(g_addr, "tcp://127.0.0.1:", 16), 0);
	assert_true(atoi(g_addr + 16) > 0);
	tp_test_fini();
}

/* A client that sends a 3 MiB bytes value and one too big, then reads
 * the echo of the first. */
static int child_big(void *arg)
{
	tp_conn *c;
	tp_payload *p;
	size_t n = (size_t)3 << 20;
	char *big = malloc(TP_MAX_MSG_DEFAULT + 1);
	(void)arg;
	if (big == NULL || tp_client_new(&c, g_addr, KEY, strlen(KEY), 5000))
		return 1;
	for (size_t i = 0; i < n; i++)
		big[i] = (char)(i * 7);
	if (tp_conn_send_bytes(c, big, TP_MAX_MSG_DEFAULT) != TP_ETOOBIG)
		return 2;
	if (tp_conn_send_bytes(c, big, n))
		return 3;
	const void *b;
	size_t len;
	if (tp_conn_recv(c, &p, 10000) ||
	    tp_payload_get_bytes(p, 0, &b, &len) || len != n ||
	    memcmp(b, big, n) != 0)
		return 4;
	tp_payload_free(p);
	tp_conn_free(c);
	free(big);
	return 0;
}

static void test_big(void **state)
{
	(void)state;
	tp_listener *l;
	tp_payload *p;
	pid_t pid;
	tp_test_init(TP_START_FORK);
	tp_conn *c = accept_child(&l, child_big, &pid);
	TP_OK_OR_FAIL(tp_conn_recv(c, &p, 10000));
	TP_OK_OR_FAIL(tp_conn_send(c, p));
	tp_payload_free(p);
	assert_int_equal(su_reap(pid), 0);
	TP_EXPECT(tp_conn_recv(c, &p, 5000), TP_EOF);
	tp_conn_free(c);
	tp_listener_free(l);
	tp_test_fini();
}

static void wrong_keys(const char *address)
{
	tp_conn *c;
	tp_listener *l = listen_at(address, KEY);
	g_key = "wrong key";
	pid_t pid = exec_child(child_client, NULL);
	TP_EXPECT(tp_listener_accept(l, &c, 300), TP_ETIMEDOUT);
	assert_int_equal(su_reap(pid), 10); /* TP_EAUTH */
	assert_int_equal(tp_listener_rejected(l), 1);
	g_key = KEY;
	pid = exec_child(child_client, (void *)5);
	assert_int_equal(serve_one(l), 5);
	assert_int_equal(su_reap(pid), 0);
	tp_listener_free(l);
	/* a server that does not know the client's key: the client finds
	 * out from the server's answer, before proving anything */
	l = listen_at(address, "other");
	pid = exec_child(child_client, NULL);
	TP_EXPECT(tp_listener_accept(l, &c, 300), TP_ETIMEDOUT);
	assert_int_equal(su_reap(pid), 10);
	tp_listener_free(l);
}

static void test_authkey(void **state)
{
	(void)state;
	char path[100];
	tp_test_init(TP_START_FORK);
	snprintf(path, sizeof path, "%s/k.sock", tp_runtime_dir());
	wrong_keys(path);
	wrong_keys("tcp://127.0.0.1:0");
	tp_test_fini();
}

/* Runs a client with key in a child while the listener steps its
 * handshake (accept never returns it); the child's exit code. */
static int refused(tp_listener *l, const char *key)
{
	tp_conn *c;
	int st;
	g_key = key;
	pid_t pid = exec_child(child_client, NULL);
	while (waitpid(pid, &st, WNOHANG) == 0)
		TP_EXPECT(tp_listener_accept(l, &c, 50), TP_ETIMEDOUT);
	g_key = KEY;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* No authkey on either side (Python's authkey=None): the same ping-pong
 * over both transports; a key on one side only is TP_EAUTH both ways,
 * and the listener goes on serving. */
static void no_key(const char *address)
{
	tp_listener *l;
	TP_OK_OR_FAIL(tp_listener_new(&l, address, NULL, 0));
	snprintf(g_addr, sizeof g_addr, "%s", tp_listener_address(l));
	g_key = "";
	pid_t pid = exec_child(child_client, (void *)(intptr_t)5);
	assert_int_equal(serve_one(l), 5);
	assert_int_equal(su_reap(pid), 0);
	/* a client with a key: the keyless listener cannot prove it */
	assert_int_equal(refused(l, KEY), 10);
	assert_int_equal(tp_listener_rejected(l), 1);
	g_key = "";
	pid = exec_child(child_client, (void *)(intptr_t)6);
	assert_int_equal(serve_one(l), 6);
	assert_int_equal(su_reap(pid), 0);
	g_key = KEY;
	tp_listener_free(l);
	l = listen_at(address, KEY); /* a client without a key is refused */
	assert_int_equal(refused(l, ""), 10);
	assert_int_equal(tp_listener_rejected(l), 1);
	tp_listener_free(l);
}

static void test_no_authkey(void **state)
{
	(void)state;
	char path[100];
	tp_test_init(TP_START_FORK);
	snprintf(path, sizeof path, "%s/nokey.sock", tp_runtime_dir());
	no_key(path);
	no_key("tcp://127.0.0.1:0");
	tp_test_fini();
}

/* Raw peers: 0 silent, 1 garbage hello, 2 half a hello then gone, 3 a
 * hello then gone, 4 a very long garbage packet or stream, 5 a good
 * handshake then a forged frame (tcp only). */
static int raw_connect(const char *addr, int *fd)
{
	if (strncmp(addr, "tcp://", 6) == 0)
		return tp__tcp_connect(addr, 5000, fd);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(addr + 6) >= sizeof sa.sun_path)
		return 1;
	memcpy(sa.sun_path, addr + 6, strlen(addr + 6));
	*fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	return connect(*fd, (struct sockaddr *)&sa, sizeof sa) == 0 ? TP_OK : 1;
}

#define SILENT 40 /* more than the listener keeps pending (32) */

static int child_rude(void *arg)
{
	int fd[5], quiet[SILENT];
	static char junk[200000];
	(void)arg;
	memset(junk, 'x', sizeof junk);
	for (int i = 0; i < 5; i++)
		if (raw_connect(g_addr, &fd[i]) != TP_OK)
			return 1;
	send(fd[1], "GARBAGE-GARBAGE-GARBAGE-GARBAGE-GARB", 36, MSG_NOSIGNAL);
	send(fd[2], "TPC1abc", 7, MSG_NOSIGNAL);
	close(fd[2]);
	send(fd[3], junk, 36, MSG_NOSIGNAL);
	memcpy(junk, "TPC1", 4);
	send(fd[3], junk, 36, MSG_NOSIGNAL);
	close(fd[3]);
	send(fd[4], junk, sizeof junk, MSG_NOSIGNAL | MSG_DONTWAIT);
	for (int i = 0; i < SILENT; i++)
		if (raw_connect(g_addr, &quiet[i]) != TP_OK)
			return 1;
	/* now a good client: it must be served while the silent ones wait */
	int rv = child_client((void *)7);
	for (int i = 0; i < 5; i++)
		close(fd[i]);
	for (int i = 0; i < SILENT; i++)
		close(quiet[i]);
	return rv;
}

static void rude(const char *address)
{
	tp_conn *c;
	tp_listener *l = listen_at(address, KEY);
	TP_OK_OR_FAIL(tp_listener_set_handshake_ms(l, 60000));
	TP_EXPECT(tp_listener_set_handshake_ms(l, 0), TP_EINVAL);
	pid_t pid = exec_child(child_rude, NULL);
	assert_int_equal(serve_one(l), 7);
	assert_int_equal(su_reap(pid), 0);
	/* the silent ones went with their process; the rest were dropped */
	TP_EXPECT(tp_listener_accept(l, &c, 200), TP_ETIMEDOUT);
	assert_int_equal(tp_listener_rejected(l), 5 + SILENT);
	tp_listener_free(l);
}

static void test_rude_peers(void **state)
{
	(void)state;
	char path[100];
	tp_test_init(TP_START_FORK);
	snprintf(path, sizeof path, "ipc://%s/r.sock", tp_runtime_dir());
	rude(path);
	rude("tcp://127.0.0.1:0");
	tp_test_fini();
}

/* A peer that knows the key but then sends a forged frame: the
 * connection ends with what came before; the process keeps running. */
static int child_forger(void *arg)
{
	struct tp__hs_key k = {(const uint8_t *)KEY, strlen(KEY)};
	uint8_t nonces[2 * TP__AUTH_NONCE];
	uint8_t frame[4 + 8 + 5 + TP__AUTH_MAC] = {0, 0, 0, 8 + 5 + 32};
	int fd;
	(void)arg;
	if (tp__tcp_connect(g_addr, 5000, &fd) ||
	    tp__hs_client(fd, &k, tp_test_now_ms() + 5000, nonces))
		return 1;
	memcpy(frame + 12, "hello", 5);
	send(fd, frame, sizeof frame, MSG_NOSIGNAL);
	char c;
	recv(fd, &c, 1, 0); /* until the server closes */
	close(fd);
	return 0;
}

static void test_forged_frame(void **state)
{
	(void)state;
	tp_listener *l;
	tp_payload *p;
	pid_t pid;
	tp_test_init(TP_START_FORK);
	tp_conn *c = accept_child(&l, child_forger, &pid);
	TP_EXPECT(tp_conn_recv(c, &p, 10000), TP_EOF);
	tp_conn_free(c);
	assert_int_equal(su_reap(pid), 0);
	tp_listener_free(l);
	tp_test_fini();
}

/* A client that sends one message and waits to be killed. */
static int child_then_killed(void *arg)
{
	tp_conn *c;
	(void)arg;
	if (tp_client_new(&c, g_addr, KEY, strlen(KEY), 5000) ||
	    tp_conn_sendf(c, "s", "last words"))
		return 1;
	for (;;)
		pause();
}

/* A peer killed with SIGKILL after the handshake: what it sent arrives,
 * then end of file, on a Unix path and over tcp. */
static void test_peer_killed(void **state)
{
	(void)state;
	char path[100];
	tp_test_init(TP_START_FORK);
	snprintf(path, sizeof path, "%s/kill.sock", tp_runtime_dir());
	const char *addrs[] = {path, "tcp://127.0.0.1:0"};
	for (int i = 0; i < 2; i++) {
		tp_conn *c;
		tp_payload *p;
		tp_listener *l = listen_at(addrs[i], KEY);
		pid_t pid = exec_child(child_then_killed, NULL);
		TP_OK_OR_FAIL(tp_listener_accept(l, &c, 10000));
		TP_OK_OR_FAIL(tp_conn_recv(c, &p, 10000));
		assert_true(tp_is_str(p, 0, "last words"));
		tp_payload_free(p);
		p = NULL;
		kill(pid, SIGKILL);
		assert_int_equal(su_reap(pid), 128 + SIGKILL);
		TP_EXPECT(tp_conn_recv(c, &p, 10000), TP_EOF);
		tp_free("PC", p, c);
		tp_listener_free(l);
	}
	tp_test_fini();
}

static void test_errors(void **state)
{
	(void)state;
	tp_listener *l, *l2;
	tp_conn *c;
	char path[100];
	tp_test_init(TP_START_FORK);
	snprintf(path, sizeof path, "%s/e.sock", tp_runtime_dir());
	TP_EXPECT(tp_client_new(&c, path, KEY, 3, 1000), TP_ECLOSED);
	TP_EXPECT(tp_client_new(&c, "nope://x", KEY, 3, 1000), TP_EINVAL);
	TP_EXPECT(tp_client_new(&c, path, NULL, 3, 1000), TP_EINVAL);
	TP_EXPECT(tp_client_new(NULL, path, KEY, 3, 1000), TP_EINVAL);
	TP_EXPECT(tp_listener_new(&l, path, NULL, 3), TP_EINVAL);
	TP_EXPECT(tp_listener_new(&l, path, KEY, 1025), TP_EINVAL);
	TP_EXPECT(tp_listener_new(&l, "udp://x:1", KEY, 3), TP_EINVAL);
	TP_EXPECT(tp_listener_new(&l, "tcp://nohost.invalid:0", KEY, 3),
	          TP_ENOENT);
	TP_OK_OR_FAIL(tp_listener_new(&l, path, KEY, 3));
	TP_EXPECT(tp_listener_new(&l2, path, KEY, 3), TP_EEXIST);
	TP_EXPECT(tp_listener_accept(l, &c, 0), TP_ETIMEDOUT);
	TP_EXPECT(tp_listener_accept(NULL, &c, 0), TP_EINVAL);
	tp_listener_free(l);
	/* a stale socket file (its listener is gone) is replaced */
	int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	close(fd);
	TP_OK_OR_FAIL(tp_listener_new(&l, path, KEY, 3));
	tp_listener_free(l);
	/* a tcp port nobody listens on */
	TP_OK_OR_FAIL(tp_listener_new(&l, "tcp://127.0.0.1:0", KEY, 3));
	snprintf(g_addr, sizeof g_addr, "%s", tp_listener_address(l));
	tp_listener_free(l);
	TP_EXPECT(tp_client_new(&c, g_addr, KEY, 3, 1000), TP_ECLOSED);
	assert_null(tp_listener_address(NULL));
	assert_null(tp_listener_last_accepted(NULL));
	tp_listener_free(NULL);
	tp_test_fini();
}

int main(int argc, char **argv)
{
	if (argc == 6 && strcmp(argv[1], "--child") == 0) {
		size_t i = (size_t)atoi(argv[2]);
		snprintf(g_addr, sizeof(g_addr), "%s", argv[3]);
		g_key = argv[4];
		if (i >= N_CHILD_FNS)
			return 127;
		return child_fns[i]((void *)(intptr_t)atol(argv[5]));
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_unix),
	    cmocka_unit_test(test_tcp),
	    cmocka_unit_test(test_big),
	    cmocka_unit_test(test_authkey),
	    cmocka_unit_test(test_no_authkey),
	    cmocka_unit_test(test_rude_peers),
	    cmocka_unit_test(test_forged_frame),
	    cmocka_unit_test(test_peer_killed),
	    cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
