/*
 * test_pipe.c - Pipe: payloads and bytes, one-way ends, poll and fds,
 * oversized and malformed messages, passing an end in a payload, and a
 * peer that closes, exits or is killed (the other end drains, then gets
 * TP_ECLOSED, never hangs).
 *
 * nng cannot be used in a child forked after its parent touched nng, so
 * this test process never touches nng itself: every scenario runs in
 * forked children, which report through their exit code.
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>

#include "pipe_int.h"
#include "testutil.h"

#define CK(x)                                                                  \
	do {                                                                   \
		if (!(x)) {                                                    \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__,     \
			        #x);                                           \
			return 1;                                              \
		}                                                              \
	} while (0)

#define CKRV(expr, code)                                                       \
	do {                                                                   \
		int rv_ = (expr);                                              \
		if (rv_ != (code)) {                                           \
			fprintf(stderr, "%s:%d: %s -> %s\n", __FILE__,         \
			        __LINE__, #expr, tp_strerror(rv_));            \
			return 1;                                              \
		}                                                              \
	} while (0)

typedef int (*child_fn)(tp_conn *c, long arg);

static pid_t start(child_fn fn, tp_conn *c, long arg)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(fn(c, arg));
	assert_true(pid > 0);
	return pid;
}

static int reap(pid_t pid)
{
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int send_int(tp_conn *c, int64_t v)
{
	tp_payload *p;
	tp_payload_new(&p);
	tp_payload_add_int(p, v);
	int rv = tp_conn_send(c, p);
	tp_payload_free(p);
	return rv;
}

static int recv_int(tp_conn *c, int64_t *v, int timeout_ms)
{
	tp_payload *p;
	int rv = tp_conn_recv(c, &p, timeout_ms);
	if (rv != TP_OK)
		return rv;
	rv = tp_payload_get_int(p, 0, v);
	tp_payload_free(p);
	return rv;
}

/* Both ends in one process: every call and error of a duplex pipe. */
static int same_process(tp_conn *unused, long arg)
{
	tp_conn *a, *b;
	tp_payload *p;
	char buf[16];
	size_t n;
	int64_t v;
	int fd;
	(void)unused;
	(void)arg;
	CKRV(tp_pipe_new(&a, &b, 1), TP_OK);
	CK(tp_conn_readable(a) && tp_conn_writable(a));
	CKRV(tp_conn_poll(b, 0), TP_ETIMEDOUT);
	CKRV(send_int(a, 42), TP_OK);
	CKRV(tp_conn_poll(b, 5000), TP_OK);
	CKRV(tp_conn_poll(b, 0), TP_OK); /* still there */
	CKRV(recv_int(b, &v, 5000), TP_OK);
	CK(v == 42);
	CKRV(tp_conn_recv(b, &p, 20), TP_ETIMEDOUT);
	/* bytes, with a too-small buffer first: the message is kept */
	CKRV(tp_conn_send_bytes(b, "hello world", 11), TP_OK);
	CKRV(tp_conn_recv_bytes(a, buf, 4, &n, 5000), TP_ETOOBIG);
	CK(n == 11);
	CKRV(tp_conn_recv_bytes(a, buf, sizeof(buf), &n, 0), TP_OK);
	CK(n == 11 && memcmp(buf, "hello world", 11) == 0);
	/* a bytes message read as a payload, a payload read as bytes */
	CKRV(tp_conn_send_bytes(b, "xy", 2), TP_OK);
	CKRV(tp_conn_recv(a, &p, 5000), TP_OK);
	const void *d;
	CKRV(tp_payload_get_bytes(p, 0, &d, &n), TP_OK);
	CK(n == 2 && memcmp(d, "xy", 2) == 0);
	tp_payload_free(p);
	CKRV(send_int(b, 7), TP_OK);
	CKRV(tp_conn_recv_bytes(a, buf, sizeof(buf), &n, 5000), TP_OK);
	CKRV(tp_payload_decode(buf, n, 0, &p), TP_OK);
	tp_payload_free(p);
	/* the fd is readable while a message waits */
	CKRV(tp_conn_fd(a, &fd), TP_OK);
	CKRV(send_int(b, 8), TP_OK);
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	CK(poll(&pfd, 1, 5000) == 1);
	CKRV(recv_int(a, &v, 0), TP_OK);
	CK(v == 8);
	/* bad arguments */
	CKRV(tp_conn_send(a, NULL), TP_EINVAL);
	CKRV(tp_conn_recv(a, NULL, 0), TP_EINVAL);
	CKRV(tp_conn_recv_bytes(a, NULL, 4, &n, 0), TP_EINVAL);
	CKRV(tp_pipe_new(NULL, &b, 1), TP_EINVAL);
	CKRV(tp_payload_add_conn(NULL, a), TP_EINVAL);
	CKRV(tp_payload_new(&p), TP_OK);
	CKRV(tp_payload_add_conn(p, a), TP_ESTATE); /* opened here already */
	tp_payload_free(p);
	/* close: the peer drains, then TP_ECLOSED */
	CKRV(send_int(a, 1), TP_OK);
	CKRV(send_int(a, 2), TP_OK);
	CKRV(tp_conn_close(a), TP_OK);
	CKRV(tp_conn_close(a), TP_OK);
	CKRV(send_int(a, 3), TP_ECLOSED);
	CKRV(tp_conn_recv(a, &p, 0), TP_ECLOSED);
	CKRV(recv_int(b, &v, 5000), TP_OK);
	CK(v == 1);
	CKRV(recv_int(b, &v, 5000), TP_OK);
	CK(v == 2);
	CKRV(tp_conn_poll(b, 5000), TP_OK); /* EOF is "readable" */
	CKRV(recv_int(b, &v, -1), TP_ECLOSED);
	CKRV(send_int(b, 4), TP_ECLOSED);
	tp_conn_free(a);
	tp_conn_free(b);
	tp_conn_free(NULL);
	return 0;
}

static int one_way(tp_conn *unused, long arg)
{
	tp_conn *r, *w;
	tp_payload *p;
	int64_t v;
	int fd;
	(void)unused;
	(void)arg;
	CKRV(tp_pipe_new(&r, &w, 0), TP_OK);
	CK(tp_conn_readable(r) && !tp_conn_writable(r));
	CK(!tp_conn_readable(w) && tp_conn_writable(w));
	CKRV(send_int(r, 1), TP_EPERM);
	CKRV(tp_conn_recv(w, &p, 0), TP_EPERM);
	CKRV(tp_conn_poll(w, 0), TP_EPERM);
	CKRV(tp_conn_fd(w, &fd), TP_EPERM);
	CKRV(send_int(w, 5), TP_OK);
	CKRV(recv_int(r, &v, 5000), TP_OK);
	CK(v == 5);
	tp_conn_free(r);
	tp_conn_free(w);
	return 0;
}

/* Both ends in one process, closed in either order, freed while the peer
 * is open: no loss, no hang, sends to the closed end fail at once
 * (nothing leaks: checked under ASan). */
static int same_process_orders(tp_conn *unused, long arg)
{
	tp_conn *a, *b;
	int64_t v;
	(void)unused;
	(void)arg;
	/* the dialing end (b) closes first */
	CKRV(tp_pipe_new(&a, &b, 1), TP_OK);
	CKRV(send_int(a, 0), TP_OK); /* a listens, b dials */
	CKRV(recv_int(b, &v, 5000), TP_OK);
	CKRV(send_int(b, 1), TP_OK);
	CKRV(send_int(b, 2), TP_OK);
	CKRV(tp_conn_close(b), TP_OK);
	for (int i = 0; i < 600; i++) {  /* more than both buffers hold */
		int rv = send_int(a, i); /* discarded, never blocks */
		CK(rv == TP_OK || rv == TP_ECLOSED);
	}
	CKRV(recv_int(a, &v, 5000), TP_OK);
	CK(v == 1);
	CKRV(recv_int(a, &v, 5000), TP_OK);
	CK(v == 2);
	CKRV(recv_int(a, &v, -1), TP_ECLOSED);
	CKRV(send_int(a, 3), TP_ECLOSED);
	tp_conn_free(a);
	tp_conn_free(b);
	/* the listening end is freed (not only closed) while b is open */
	CKRV(tp_pipe_new(&a, &b, 0), TP_OK);
	CKRV(send_int(b, 5), TP_OK);
	CKRV(recv_int(a, &v, 5000), TP_OK);
	tp_conn_free(a);
	CKRV(send_int(b, 6), TP_ECLOSED); /* nobody would read it */
	tp_conn_free(b);
	return 0;
}

static void run_alone(child_fn fn)
{
	tp_test_init(TP_START_DEFAULT);
	assert_int_equal(reap(start(fn, NULL, 0)), 0);
	tp_test_fini();
}

static void test_same_process(void **state)
{
	(void)state;
	run_alone(same_process);
}

static void test_same_process_orders(void **state)
{
	(void)state;
	run_alone(same_process_orders);
}

static void test_one_way(void **state)
{
	(void)state;
	run_alone(one_way);
}

/* The child's end arrives inside a payload, as it would in a pool task. */
static int echo_via_handle(tp_conn *unused, long arg)
{
	tp_conn *c;
	int64_t v;
	(void)unused;
	CKRV(tp_payload_get_conn((const tp_payload *)arg, 0, &c), TP_OK);
	for (;;) {
		int rv = recv_int(c, &v, -1);
		if (rv == TP_ECLOSED)
			break;
		CKRV(rv, TP_OK);
		CKRV(send_int(c, v * 2), TP_OK);
	}
	tp_conn_free(c);
	return 0;
}

static int ping_then_exit(tp_conn *c, long n)
{
	int64_t v;
	for (long i = 0; i < n; i++) {
		CKRV(send_int(c, i), TP_OK);
		CKRV(recv_int(c, &v, 10000), TP_OK);
		CK(v == 2 * i);
	}
	return 0; /* exits without closing: the peer must notice */
}

static void test_between_processes(void **state)
{
	(void)state;
	tp_conn *a, *b;
	tp_payload *args;
	tp_test_init(TP_START_DEFAULT);
	assert_int_equal(tp_pipe_new(&a, &b, 1), TP_OK);
	TP_OK_OR_FAIL(tp_payload_new(&args));
	TP_OK_OR_FAIL(tp_payload_add_conn(args, b));
	pid_t echo = start(echo_via_handle, NULL, (long)args);
	pid_t pinger = start(ping_then_exit, a, 1000);
	assert_int_equal(reap(pinger), 0);
	assert_int_equal(reap(echo), 0); /* saw TP_ECLOSED, did not hang */
	tp_conn *c;
	TP_OK_OR_FAIL(tp_payload_get_conn(args, 0, &c));
	assert_int_equal(tp_conn_readable(c), 1);
	tp_conn_free(c);
	TP_EXPECT(tp_payload_get_conn(args, 1, &c), TP_ENOENT);
	TP_EXPECT(tp_payload_get_conn(args, 0, NULL), TP_EINVAL);
	/* A handle of another kind (a queue) is not a pipe end. */
	tp_queue *q;
	TP_OK_OR_FAIL(tp_queue_new(&q, NULL));
	TP_OK_OR_FAIL(tp_payload_add_queue(args, q));
	TP_EXPECT(tp_payload_get_conn(args, 1, &c), TP_ETYPE);
	tp_queue_free(q);
	tp_payload_free(args);
	tp_conn_free(a);
	tp_conn_free(b);
	tp_test_fini();
}

/* Sends n messages and closes at once: none may be lost. */
static int burst_and_close(tp_conn *c, long n)
{
	for (long i = 0; i < n; i++)
		CKRV(send_int(c, i), TP_OK);
	CKRV(tp_conn_close(c), TP_OK);
	return 0;
}

static int drain_count(tp_conn *c, long n)
{
	int64_t v;
	long got = 0;
	int rv;
	while ((rv = recv_int(c, &v, 10000)) == TP_OK) {
		CK(v == got);
		got++;
	}
	CKRV(rv, TP_ECLOSED);
	CK(got == n);
	return 0;
}

static void test_close_after_burst(void **state)
{
	(void)state;
	tp_conn *a, *b;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_pipe_new(&a, &b, 0));
	pid_t r = start(drain_count, a, 2000);
	pid_t w = start(burst_and_close, b, 2000);
	assert_int_equal(reap(w), 0);
	assert_int_equal(reap(r), 0);
	tp_conn_free(a);
	tp_conn_free(b);
	tp_test_fini();
}

static volatile long *flag;

static int hello_then_wait(tp_conn *c, long arg)
{
	(void)arg;
	CKRV(send_int(c, 1), TP_OK);
	pause();
	return 0;
}

static int wait_for_eof(tp_conn *c, long arg)
{
	int64_t v;
	(void)arg;
	CKRV(recv_int(c, &v, 10000), TP_OK);
	__atomic_store_n(flag, 1, __ATOMIC_RELEASE);
	CKRV(recv_int(c, &v, 20000), TP_ECLOSED); /* blocked when killed */
	return 0;
}

static void test_peer_killed(void **state)
{
	(void)state;
	tp_conn *a, *b;
	tp_test_init(TP_START_DEFAULT);
	flag = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	TP_OK_OR_FAIL(tp_pipe_new(&a, &b, 1));
	pid_t r = start(wait_for_eof, a, 0);
	pid_t w = start(hello_then_wait, b, 0);
	for (int i = 0; i < 20000 && !__atomic_load_n(flag, __ATOMIC_ACQUIRE);
	     i++)
		usleep(500);
	assert_true(*flag);
	kill(w, SIGKILL);
	assert_int_equal(reap(w), 128 + SIGKILL);
	assert_int_equal(reap(r), 0);
	munmap((void *)flag, 4096);
	tp_conn_free(a);
	tp_conn_free(b);
	tp_test_fini();
}

/* A peer that does not read: close reports it after the linger time
 * instead of returning as if delivered, and never hangs. */
static int slow_reader(tp_conn *c, long arg)
{
	int64_t v;
	int rv;
	(void)arg;
	rv = tp_conn_poll(c, 0); /* opens the end; the 7 may be there already */
	CK(rv == TP_ETIMEDOUT || rv == TP_OK);
	while (!__atomic_load_n(flag, __ATOMIC_ACQUIRE))
		usleep(1000);
	CKRV(recv_int(c, &v, 10000), TP_OK); /* the data did arrive */
	CK(v == 7);
	CKRV(recv_int(c, &v, 10000), TP_ECLOSED);
	return 0;
}

static int send_and_close_unread(tp_conn *c, long arg)
{
	(void)arg;
	CKRV(send_int(c, 7), TP_OK);
	CKRV(tp_conn_close(c), TP_ETIMEDOUT);
	return 0;
}

static void test_close_reports_unread(void **state)
{
	(void)state;
	tp_conn *a, *b;
	tp_test_init(TP_START_DEFAULT);
	flag = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	TP_OK_OR_FAIL(tp_pipe_new(&a, &b, 0));
	pid_t r = start(slow_reader, a, 0);
	pid_t w = start(send_and_close_unread, b, 0);
	assert_int_equal(reap(w), 0);
	__atomic_store_n(flag, 1, __ATOMIC_RELEASE);
	assert_int_equal(reap(r), 0);
	munmap((void *)flag, 4096);
	tp_conn_free(a);
	tp_conn_free(b);
	tp_test_fini();
}

/* A raw peer sends garbage: each bad message is rejected and counted, and
 * the end keeps working. */
static int rogue_peer(tp_conn *c, long arg)
{
	static const char *bad[] = {"", "Zjunk", "P\xff\xff\xff"};
	nng_socket s;
	(void)arg;
	CK(nng_pair1_open(&s) == 0);
	CK(nng_dial(s, c->addr, NULL, NNG_FLAG_NONBLOCK) == 0);
	for (int i = 0; i < 3; i++)
		CK(nng_send(s, (void *)bad[i], strlen(bad[i]), 0) == 0);
	CK(nng_send(s, "Bok", 3, 0) == 0);
	char *m;
	size_t n;
	CK(nng_recv(s, &m, &n, NNG_FLAG_ALLOC) == 0); /* wait for the ack */
	nng_free(m, n);
	nng_close(s);
	return 0;
}

static int victim(tp_conn *c, long arg)
{
	tp_payload *p;
	char buf[8];
	size_t n;
	(void)arg;
	CKRV(tp_conn_recv(c, &p, 10000), TP_EDECODE);
	CKRV(tp_conn_recv_bytes(c, buf, sizeof(buf), &n, 10000), TP_EDECODE);
	CKRV(tp_conn_recv(c, &p, 10000), TP_EDECODE);
	CK(tp_conn_rejected(c) == 3);
	CKRV(tp_conn_recv_bytes(c, buf, sizeof(buf), &n, 10000), TP_OK);
	CK(n == 2 && memcmp(buf, "ok", 2) == 0);
	CKRV(tp_conn_send_bytes(c, "ack", 3), TP_OK);
	CKRV(tp_conn_recv(c, &p, 10000), TP_ECLOSED);
	tp_conn_free(c);
	return 0;
}

static void test_malformed_messages(void **state)
{
	(void)state;
	tp_conn *a, *b;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_pipe_new(&a, &b, 1));
	pid_t v = start(victim, a, 0);
	pid_t r = start(rogue_peer, b, 0);
	assert_int_equal(reap(r), 0);
	assert_int_equal(reap(v), 0);
	tp_conn_free(a);
	tp_conn_free(b);
	tp_test_fini();
}

/* A troupe child started by the fork server or spawn uses nng freshly,
 * even though this test process may not fork nng users itself. */
static int pipe_target(const tp_payload *args, tp_payload *result)
{
	tp_conn *c;
	int64_t v;
	(void)result;
	if (tp_payload_get_conn(args, 0, &c) != TP_OK)
		return 1;
	int rv = recv_int(c, &v, 10000);
	if (rv == TP_OK)
		rv = send_int(c, v + 1);
	if (rv == TP_OK)
		rv = tp_conn_close(c);
	tp_conn_free(c);
	return rv;
}
TP_TARGET(pipe_target)

static int parent_side(tp_conn *a, long arg)
{
	int64_t v;
	tp_process *p = (tp_process *)arg;
	(void)p;
	CKRV(send_int(a, 41), TP_OK);
	CKRV(recv_int(a, &v, 10000), TP_OK);
	CK(v == 42);
	CKRV(recv_int(a, &v, 10000), TP_ECLOSED);
	tp_conn_free(a);
	return 0;
}

static void pipe_to_process(tp_start_method m)
{
	tp_conn *a, *b;
	tp_payload *args;
	tp_process *p;
	int code;
	tp_test_init(m);
	TP_OK_OR_FAIL(tp_pipe_new(&a, &b, 1));
	TP_OK_OR_FAIL(tp_payload_new(&args));
	TP_OK_OR_FAIL(tp_payload_add_conn(args, b));
	TP_OK_OR_FAIL(tp_process_new(&p, pipe_target, args, NULL));
	TP_OK_OR_FAIL(tp_process_start(p));
	/* this end runs in a plain fork: the test process stays nng-free */
	assert_int_equal(reap(start(parent_side, a, 0)), 0);
	TP_OK_OR_FAIL(tp_process_join(p, 20000));
	TP_OK_OR_FAIL(tp_process_exitcode(p, &code));
	assert_int_equal(code, 0);
	tp_process_free(p);
	tp_payload_free(args);
	tp_conn_free(a);
	tp_conn_free(b);
	tp_test_fini();
}

static void test_pipe_to_forkserver_child(void **state)
{
	(void)state;
	pipe_to_process(TP_START_FORKSERVER);
}

static void test_pipe_to_spawned_child(void **state)
{
	(void)state;
	pipe_to_process(TP_START_SPAWN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_same_process),
	    cmocka_unit_test(test_same_process_orders),
	    cmocka_unit_test(test_one_way),
	    cmocka_unit_test(test_between_processes),
	    cmocka_unit_test(test_close_after_burst),
	    cmocka_unit_test(test_peer_killed),
	    cmocka_unit_test(test_malformed_messages),
	    cmocka_unit_test(test_close_reports_unread),
	    cmocka_unit_test(test_pipe_to_forkserver_child),
	    cmocka_unit_test(test_pipe_to_spawned_child),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
