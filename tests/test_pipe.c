/*
 * test_pipe.c - Pipe: payloads and bytes, one-way ends, poll and fds,
 * ends moved in payloads (process arguments for every start method, pool
 * tasks, Queue items, a Manager dict; duplicate use, an owner that is
 * gone, another host, callers that try to wedge the fd sharer), and a message
 * sent is a message received: a writer that closes, returns, exits or is killed
 * right after send leaves every message for the reader, then TP_EOF. Malformed
 * input and the size limit are in test_pipe_frames.c, the kill storm in
 * test_pipe_storm.c.
 *
 * Pipes do not touch nng, so the test process uses them itself and forks
 * plain children; each child closes its copy of the end it does not use.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "pipe_int.h"
#include "wire.h"
#include "pipe_util.h"

#define ITER 40 /* rounds per way of going away */

/* Both ends in one process: every call and error of a duplex pipe. */
static void test_same_process(void **state)
{
	tp_conn *a, *b;
	tp_payload *p;
	char buf[16];
	size_t n;
	int64_t v;
	int fd;
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_pipe_new(&a, &b, 1));
	assert_true(tp_conn_readable(a) && tp_conn_writable(a));
	TP_EXPECT(tp_conn_poll(b, 0), TP_ETIMEDOUT);
	TP_OK_OR_FAIL(pu_send_int(a, 42));
	TP_OK_OR_FAIL(tp_conn_poll(b, 0)); /* visible when send returned */
	TP_OK_OR_FAIL(tp_conn_poll(b, 0)); /* poll reads nothing */
	TP_OK_OR_FAIL(pu_recv_int(b, &v, 0));
	assert_int_equal(v, 42);
	TP_EXPECT(tp_conn_recv(b, &p, 20), TP_ETIMEDOUT);
	/* bytes, with a too-small buffer first: the message is kept */
	TP_OK_OR_FAIL(tp_conn_send_bytes(b, "hello world", 11));
	TP_EXPECT(tp_conn_recv_bytes(a, buf, 4, &n, 5000), TP_ETOOBIG);
	assert_int_equal(n, 11);
	TP_OK_OR_FAIL(tp_conn_poll(a, 0)); /* the kept one counts */
	TP_OK_OR_FAIL(tp_conn_recv_bytes(a, buf, sizeof(buf), &n, 0));
	assert_true(n == 11 && memcmp(buf, "hello world", 11) == 0);
	/* empty bytes; a bytes message read as a payload and vice versa */
	TP_OK_OR_FAIL(tp_conn_send_bytes(b, NULL, 0));
	TP_OK_OR_FAIL(tp_conn_recv_bytes(a, buf, sizeof(buf), &n, 0));
	assert_int_equal(n, 0);
	TP_OK_OR_FAIL(tp_conn_send_bytes(b, "xy", 2));
	TP_OK_OR_FAIL(tp_conn_recv(a, &p, 0));
	const void *d;
	TP_OK_OR_FAIL(tp_payload_get_bytes(p, 0, &d, &n));
	assert_true(n == 2 && memcmp(d, "xy", 2) == 0);
	tp_payload_free(p);
	TP_OK_OR_FAIL(pu_send_int(b, 7));
	TP_OK_OR_FAIL(tp_conn_recv_bytes(a, buf, sizeof(buf), &n, 0));
	TP_OK_OR_FAIL(tp_payload_decode(buf, n, 0, &p));
	tp_payload_free(p);
	/* the fd is readable exactly while a message waits */
	TP_OK_OR_FAIL(tp_conn_fd(a, &fd));
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, 0), 0);
	TP_OK_OR_FAIL(pu_send_int(b, 8));
	assert_int_equal(poll(&pfd, 1, 0), 1);
	int ready[1];
	assert_int_equal(tp_wait(&fd, 1, 0, ready), 1);
	TP_OK_OR_FAIL(pu_recv_int(a, &v, 0));
	assert_int_equal(v, 8);
	assert_int_equal(poll(&pfd, 1, 0), 0);
	/* bad arguments */
	TP_EXPECT(tp_conn_send(a, NULL), TP_EINVAL);
	TP_EXPECT(tp_conn_recv(a, NULL, 0), TP_EINVAL);
	TP_EXPECT(tp_conn_recv_bytes(a, NULL, 4, &n, 0), TP_EINVAL);
	TP_EXPECT(tp_pipe_new(NULL, &b, 1), TP_EINVAL);
	TP_EXPECT(tp_payload_add_conn(NULL, a), TP_EINVAL);
	TP_EXPECT(tp_conn_poll(NULL, 0), TP_EINVAL);
	/* close: the peer drains, then TP_EOF; this end says TP_ECLOSED */
	TP_OK_OR_FAIL(pu_send_int(a, 1));
	TP_OK_OR_FAIL(pu_send_int(a, 2));
	TP_OK_OR_FAIL(tp_conn_close(a));
	TP_OK_OR_FAIL(tp_conn_close(a));
	TP_EXPECT(pu_send_int(a, 3), TP_ECLOSED);
	TP_EXPECT(tp_conn_recv(a, &p, 0), TP_ECLOSED);
	TP_EXPECT(tp_conn_poll(a, 0), TP_ECLOSED);
	TP_EXPECT(tp_conn_fd(a, &fd), TP_ECLOSED);
	TP_OK_OR_FAIL(pu_recv_int(b, &v, 0));
	assert_int_equal(v, 1);
	TP_OK_OR_FAIL(pu_recv_int(b, &v, 0));
	assert_int_equal(v, 2);
	TP_OK_OR_FAIL(tp_conn_poll(b, 0)); /* EOF is "readable" */
	TP_EXPECT(pu_recv_int(b, &v, -1), TP_EOF);
	TP_EXPECT(pu_recv_int(b, &v, -1), TP_EOF);
	TP_EXPECT(pu_send_int(b, 4), TP_ECLOSED); /* Python: BrokenPipe */
	tp_conn_free(a);
	tp_conn_free(b);
	tp_conn_free(NULL);
	tp_test_fini();
}

static void test_one_way(void **state)
{
	tp_conn *r, *w;
	tp_payload *p;
	int64_t v;
	int fd;
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_pipe_new(&r, &w, 0));
	assert_true(tp_conn_readable(r) && !tp_conn_writable(r));
	assert_true(!tp_conn_readable(w) && tp_conn_writable(w));
	TP_EXPECT(pu_send_int(r, 1), TP_EPERM);
	TP_EXPECT(tp_conn_recv(w, &p, 0), TP_EPERM);
	TP_EXPECT(tp_conn_poll(w, 0), TP_EPERM);
	TP_EXPECT(tp_conn_fd(w, &fd), TP_EPERM);
	TP_OK_OR_FAIL(pu_send_int(w, 5));
	TP_OK_OR_FAIL(pu_recv_int(r, &v, 0));
	assert_int_equal(v, 5);
	TP_EXPECT(tp_conn_poll(r, 0), TP_ETIMEDOUT);
	tp_conn_free(w);
	TP_EXPECT(pu_recv_int(r, &v, 5000), TP_EOF);
	tp_conn_free(r);
	tp_test_fini();
}

/* How a writer goes away after its last send. */
enum gone { G_CLOSE, G_EXIT, G_UNDERSCORE_EXIT, G_KILL, G_BIG_EXIT };

static int send_then_go(tp_conn *w, long how)
{
	char *big = NULL;
	size_t nbig = 3 * TP_PKT_MAX + 17; /* several packets */
	for (int i = 0; i < 3; i++)
		CKRV(pu_send_int(w, i), TP_OK);
	if (how == G_BIG_EXIT) {
		CK((big = malloc(nbig)) != NULL);
		memset(big, 'z', nbig);
		CKRV(tp_conn_send_bytes(w, big, nbig), TP_OK);
		free(big);
		_exit(0);
	}
	if (how == G_CLOSE) {
		CKRV(tp_conn_close(w), TP_OK);
		pause(); /* the close alone must deliver */
	}
	if (how == G_EXIT)
		exit(0); /* returns from the program, nothing closed */
	if (how == G_KILL)
		raise(SIGKILL);
	return 0; /* pu_fork's _exit */
}

static int read_three_then_eof(tp_conn *r, int big)
{
	int64_t v;
	for (int i = 0; i < 3; i++) {
		CKRV(pu_recv_int(r, &v, 10000), TP_OK);
		CK(v == i);
	}
	if (big) {
		tp_payload *p;
		CKRV(tp_conn_recv(r, &p, 10000), TP_OK);
		tp_payload_free(p);
	}
	CKRV(pu_recv_int(r, &v, 10000), TP_EOF);
	CKRV(tp_conn_poll(r, 0), TP_OK);
	CK(tp_conn_rejected(r) == 0);
	return 0;
}

/* Every way a writer goes after send: the reader gets the messages, then
 * TP_EOF (ITER rounds each; each wait bounded). */
static void test_writer_gone_after_send(void **state)
{
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	for (int how = G_CLOSE; how <= G_BIG_EXIT; how++) {
		for (int i = 0; i < ITER; i++) {
			tp_conn *r, *w;
			TP_OK_OR_FAIL(tp_pipe_new(&r, &w, 1));
			pid_t pid = pu_fork(send_then_go, w, r, how);
			tp_conn_close(w); /* the child has the only copy */
			int rv = read_three_then_eof(r, how == G_BIG_EXIT);
			if (how == G_CLOSE)
				kill(pid, SIGKILL); /* it waits in pause() */
			int code = pu_reap(pid);
			assert_int_equal(rv, 0);
			assert_int_equal(code, how == G_KILL || how == G_CLOSE
			                           ? 128 + SIGKILL
			                           : 0);
			tp_conn_free(r);
			tp_conn_free(w);
		}
	}
	tp_test_fini();
}

/* The writer says on a second pipe that its send returned; then, with no
 * wait, the reader's tp_conn_poll(0), poll(fd, 0) and tp_wait(0) must see
 * the message (200 rounds). */
struct two {
	tp_conn *data, *sig;
};

static int send_and_tell(tp_conn *unused, long arg)
{
	struct two *t = (struct two *)arg;
	int64_t go;
	(void)unused;
	for (long i = 0; i < 200; i++) {
		CKRV(pu_send_int(t->data, i), TP_OK);
		CKRV(tp_conn_send_bytes(t->sig, "", 0), TP_OK); /* returned */
		CKRV(pu_recv_int(t->sig, &go, 10000), TP_OK);
	}
	return 0;
}

static void test_poll_sees_send_at_once(void **state)
{
	tp_conn *a, *b, *sa, *sb;
	int64_t v;
	size_t n;
	int fd, ready[1];
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_pipe_new(&a, &b, 1));
	TP_OK_OR_FAIL(tp_pipe_new(&sa, &sb, 1));
	struct two t = {b, sb};
	pid_t pid = fork();
	if (pid == 0) {
		tp_conn_close(a);
		tp_conn_close(sa);
		_exit(send_and_tell(NULL, (long)&t));
	}
	assert_true(pid > 0);
	tp_conn_close(b);
	tp_conn_close(sb);
	TP_OK_OR_FAIL(tp_conn_fd(a, &fd));
	for (int i = 0; i < 200; i++) {
		TP_OK_OR_FAIL(tp_conn_recv_bytes(sa, NULL, 0, &n, 10000));
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		TP_OK_OR_FAIL(tp_conn_poll(a, 0));
		assert_int_equal(poll(&pfd, 1, 0), 1);
		assert_int_equal(tp_wait(&fd, 1, 0, ready), 1);
		TP_OK_OR_FAIL(pu_recv_int(a, &v, 0));
		assert_int_equal(v, i);
		TP_EXPECT(tp_conn_poll(a, 0), TP_ETIMEDOUT);
		TP_OK_OR_FAIL(pu_send_int(sa, i)); /* go on */
	}
	assert_int_equal(pu_reap(pid), 0);
	TP_EXPECT(pu_recv_int(a, &v, 10000), TP_EOF);
	tp_conn_free(a);
	tp_conn_free(b);
	tp_conn_free(sa);
	tp_conn_free(sb);
	tp_test_fini();
}

/* A user who makes the socket non-blocking (for an event loop) still gets
 * blocking calls: a send beyond the socket buffer waits, recv(-1) waits. */
static int read_n_then_ack(tp_conn *c, long n)
{
	int64_t v;
	for (long i = 0; i < n; i++) {
		CKRV(pu_recv_int(c, &v, 10000), TP_OK);
		CK(v == i);
	}
	CKRV(pu_send_int(c, n), TP_OK);
	return 0;
}

static void test_nonblocking_fd(void **state)
{
	tp_conn *a, *b;
	int64_t v;
	int fd;
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_pipe_new(&a, &b, 1));
	TP_OK_OR_FAIL(tp_conn_fd(a, &fd));
	assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK),
	                 0);
	pid_t pid = pu_fork(read_n_then_ack, b, a, 3000);
	tp_conn_close(b);
	for (int i = 0; i < 3000; i++) /* more than the buffer holds */
		TP_OK_OR_FAIL(pu_send_int(a, i));
	TP_OK_OR_FAIL(pu_recv_int(a, &v, -1));
	assert_int_equal(v, 3000);
	TP_EXPECT(pu_recv_int(a, &v, -1), TP_EOF);
	assert_int_equal(pu_reap(pid), 0);
	tp_conn_free(a);
	tp_conn_free(b);
	tp_test_fini();
}

/* An end moved into a payload: the husk, duplicate use, reading it back
 * in the same process, a second get. */
static void test_moved_end(void **state)
{
	tp_conn *a, *b, *c;
	tp_payload *args;
	int64_t v;
	int fd;
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_pipe_new(&a, &b, 1));
	TP_OK_OR_FAIL(tp_payload_new(&args));
	TP_OK_OR_FAIL(tp_payload_add_int(args, 1));
	TP_OK_OR_FAIL(tp_payload_add_conn(args, b));
	TP_EXPECT(tp_payload_add_conn(args, b), TP_ESTATE); /* moved */
	TP_EXPECT(pu_send_int(b, 1), TP_ESTATE);
	TP_EXPECT(pu_recv_int(b, &v, 0), TP_ESTATE);
	TP_EXPECT(tp_conn_poll(b, 0), TP_ESTATE);
	TP_EXPECT(tp_conn_fd(b, &fd), TP_ESTATE);
	TP_OK_OR_FAIL(pu_send_int(a, 9)); /* queued in the moved socket */
	TP_EXPECT(tp_payload_get_conn(args, 0, &c), TP_ETYPE);
	TP_EXPECT(tp_payload_get_conn(args, 2, &c), TP_ENOENT);
	TP_EXPECT(tp_payload_get_conn(args, 1, NULL), TP_EINVAL);
	TP_OK_OR_FAIL(tp_payload_get_conn(args, 1, &c));
	TP_EXPECT(tp_payload_get_conn(args, 1, &c), TP_EALREADY);
	TP_OK_OR_FAIL(pu_recv_int(c, &v, 0)); /* nothing was lost */
	assert_int_equal(v, 9);
	/* an end holding an unread message cannot be moved */
	TP_OK_OR_FAIL(pu_send_int(a, 10));
	char small[1];
	size_t n;
	TP_EXPECT(tp_conn_recv_bytes(c, small, 0, &n, 1000), TP_ETOOBIG);
	TP_EXPECT(tp_payload_add_conn(args, c), TP_ESTATE);
	TP_OK_OR_FAIL(pu_recv_int(c, &v, 0));
	tp_conn_close(c);
	TP_EXPECT(tp_payload_add_conn(args, c), TP_ECLOSED);
	TP_EXPECT(pu_recv_int(a, &v, 1000), TP_EOF);
	tp_conn_free(c);
	tp_payload_free(args);
	tp_conn_free(a);
	tp_conn_free(b);
	tp_test_fini();
}

/* A forked child takes the end from this process's fd sharer (its own
 * inherited table is closed by fork), echoes, and sees TP_EOF. */
static int echo_via_handle(tp_conn *unused, long arg)
{
	tp_conn *c;
	int64_t v;
	int rv;
	(void)unused;
	CKRV(tp_payload_get_conn((const tp_payload *)arg, 0, &c), TP_OK);
	while ((rv = pu_recv_int(c, &v, 10000)) == TP_OK)
		CKRV(pu_send_int(c, v * 2), TP_OK);
	CKRV(rv, TP_EOF);
	tp_conn_free(c);
	return 0;
}

static int get_fails(tp_conn *unused, long arg)
{
	tp_conn *c;
	(void)unused;
	CKRV(tp_payload_get_conn((const tp_payload *)arg, 0, &c), TP_EALREADY);
	return 0;
}

static void test_end_to_forked_child(void **state)
{
	tp_conn *a, *b;
	tp_payload *args;
	int64_t v;
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_pipe_new(&a, &b, 1));
	TP_OK_OR_FAIL(tp_payload_new(&args));
	TP_OK_OR_FAIL(tp_payload_add_conn(args, b));
	pid_t echo = pu_fork(echo_via_handle, NULL, a, (long)args);
	for (int i = 0; i < 500; i++) {
		TP_OK_OR_FAIL(pu_send_int(a, i));
		TP_OK_OR_FAIL(pu_recv_int(a, &v, 10000));
		assert_int_equal(v, 2 * i);
	}
	assert_int_equal(pu_reap(pu_fork(get_fails, NULL, a, (long)args)), 0);
	tp_conn_close(a); /* the echo child sees TP_EOF and exits 0 */
	assert_int_equal(pu_reap(echo), 0);
	tp_payload_free(args);
	tp_conn_free(a);
	tp_conn_free(b);
	tp_test_fini();
}

/* Ends travel as Queue items both ways; a child that added an end and
 * exited took it along: the reader of its item gets TP_ECLOSED and the
 * peer end sees TP_EOF. */
static int add_put_exit(tp_conn *end, long arg)
{
	tp_queue *q = (tp_queue *)arg;
	tp_payload *p;
	CKRV(tp_payload_new(&p), TP_OK);
	CKRV(tp_payload_add_conn(p, end), TP_OK);
	CKRV(tp_queue_put(q, p, 10000), TP_OK);
	tp_payload_free(p);
	return 0;
}

static int get_from_queue_and_echo(tp_conn *unused, long arg)
{
	tp_queue *q = (tp_queue *)arg;
	tp_payload *p;
	tp_conn *c;
	int64_t v;
	(void)unused;
	CKRV(tp_queue_get(q, &p, 10000), TP_OK);
	CKRV(tp_payload_get_conn(p, 0, &c), TP_OK);
	tp_payload_free(p);
	CKRV(pu_recv_int(c, &v, 10000), TP_OK);
	CKRV(pu_send_int(c, v + 1), TP_OK);
	tp_conn_free(c);
	return 0;
}

static void test_end_in_queue_item(void **state)
{
	tp_conn *a, *b, *c;
	tp_payload *p;
	tp_queue *q;
	int64_t v;
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_queue_new(&q, NULL));
	/* parent -> child */
	TP_OK_OR_FAIL(tp_pipe_new(&a, &b, 1));
	TP_OK_OR_FAIL(tp_payload_new(&p));
	TP_OK_OR_FAIL(tp_payload_add_conn(p, b));
	TP_OK_OR_FAIL(tp_queue_put(q, p, 1000));
	tp_payload_free(p);
	pid_t pid = pu_fork(get_from_queue_and_echo, NULL, a, (long)q);
	TP_OK_OR_FAIL(pu_send_int(a, 41));
	TP_OK_OR_FAIL(pu_recv_int(a, &v, 10000));
	assert_int_equal(v, 42);
	TP_EXPECT(pu_recv_int(a, &v, 10000), TP_EOF);
	assert_int_equal(pu_reap(pid), 0);
	tp_conn_free(a);
	tp_conn_free(b);
	/* an end added by a child that then exited */
	TP_OK_OR_FAIL(tp_pipe_new(&a, &b, 1));
	pid = pu_fork(add_put_exit, b, a, (long)q);
	tp_conn_close(b);
	assert_int_equal(pu_reap(pid), 0);
	TP_OK_OR_FAIL(tp_queue_get(q, &p, 10000));
	TP_EXPECT(tp_payload_get_conn(p, 0, &c), TP_ECLOSED);
	TP_EXPECT(pu_recv_int(a, &v, 10000), TP_EOF);
	tp_payload_free(p);
	tp_conn_free(a);
	tp_conn_free(b);
	tp_queue_free(q);
	tp_test_fini();
}

/* A handle made on another host (another boot id) is refused. */
static void test_end_from_another_host(void **state)
{
	tp_conn *a, *b, *c;
	tp_payload *p, *q;
	Troupe__Handle *h;
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_pipe_new(&a, &b, 1));
	TP_OK_OR_FAIL(tp_payload_new(&p));
	TP_OK_OR_FAIL(tp_payload_add_conn(p, b));
	TP_OK_OR_FAIL(tp__payload_get_handle(p, 0, "pipe", &h));
	char *mine = h->name;
	h->name = "00000000-0000-0000-0000-000000000000";
	TP_OK_OR_FAIL(tp_payload_new(&q));
	TP_OK_OR_FAIL(tp_payload_add_proto(q, &h->base));
	h->name = mine; /* freed with h */
	tp__handle_free(h);
	TP_EXPECT(tp_payload_get_conn(q, 0, &c), TP_EPERM);
	TP_OK_OR_FAIL(tp_payload_get_conn(p, 0, &c)); /* still there */
	tp_conn_free(c);
	tp_payload_free(p);
	tp_payload_free(q);
	tp_conn_free(a);
	tp_conn_free(b);
	tp_test_fini();
}

/* Callers of the fd sharer that stall, send garbage, reset or ask for a
 * token that does not exist: a real reader still gets its end. */
static int connect_to(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (s >= 0 && connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(s);
		return -1;
	}
	return s;
}

static void test_sharer_survives_bad_callers(void **state)
{
	tp_conn *a, *b;
	tp_payload *p;
	Troupe__Handle *h;
	int stalled[40], s;
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_pipe_new(&a, &b, 1));
	TP_OK_OR_FAIL(tp_payload_new(&p));
	TP_OK_OR_FAIL(tp_payload_add_conn(p, b));
	TP_OK_OR_FAIL(tp__payload_get_handle(p, 0, "pipe", &h));
	for (int i = 0; i < 40; i++) /* more than the server's slots */
		assert_true((stalled[i] = connect_to(h->address)) >= 0);
	assert_true((s = connect_to(h->address)) >= 0);
	assert_int_equal(send(s, "junk", 4, 0), 4);
	close(s);
	assert_true((s = connect_to(h->address)) >= 0);
	close(s);                               /* connect and vanish */
	uint64_t req[2] = {0x44465054u, 12345}; /* a token nobody has */
	assert_true((s = connect_to(h->address)) >= 0);
	assert_int_equal(send(s, req, sizeof(req), 0), (ssize_t)sizeof(req));
	int32_t status = -1;
	assert_int_equal(recv(s, &status, sizeof(status), 0), 4);
	assert_int_equal(status, 1); /* "taken" */
	close(s);
	pid_t echo = pu_fork(echo_via_handle, NULL, a, (long)p);
	int64_t v;
	TP_OK_OR_FAIL(pu_send_int(a, 5));
	TP_OK_OR_FAIL(pu_recv_int(a, &v, 10000));
	assert_int_equal(v, 10);
	tp_conn_close(a);
	assert_int_equal(pu_reap(echo), 0);
	for (int i = 0; i < 40; i++)
		close(stalled[i]);
	tp__handle_free(h);
	tp_payload_free(p);
	tp_conn_free(a);
	tp_conn_free(b);
	tp_test_fini();
}

/* troupe children (every start method) and pool workers get the end in
 * their arguments; the target returns without closing it. */
static tp_conn *kept;

static int pipe_target(const tp_payload *args, tp_payload *result)
{
	tp_conn *c;
	int64_t v;
	(void)result;
	if (tp_payload_get_conn(args, 0, &c) != TP_OK)
		return 1;
	int rv = pu_recv_int(c, &v, 10000);
	if (rv == TP_OK)
		rv = pu_send_int(c, v + 1);
	if (rv == TP_OK)
		rv = pu_send_int(c, v + 2);
	if (v % 2 == 0)
		tp_conn_free(c);
	else
		kept = c; /* returns without closing it (reachable: no leak) */
	return rv;
}
TP_TARGET(pipe_target)

static void expect_two(tp_conn *a, int64_t sent)
{
	int64_t v;
	TP_OK_OR_FAIL(pu_recv_int(a, &v, 20000));
	assert_int_equal(v, sent + 1);
	TP_OK_OR_FAIL(pu_recv_int(a, &v, 20000));
	assert_int_equal(v, sent + 2);
}

static void pipe_to_process(tp_start_method m)
{
	tp_test_init(m);
	for (int i = 0; i < 6; i++) {
		tp_conn *a, *b;
		tp_payload *args;
		tp_process *p;
		int64_t v;
		TP_OK_OR_FAIL(tp_pipe_new(&a, &b, 1));
		TP_OK_OR_FAIL(tp_payload_new(&args));
		TP_OK_OR_FAIL(tp_payload_add_conn(args, b));
		TP_OK_OR_FAIL(tp_process_new(&p, pipe_target, args, NULL));
		TP_OK_OR_FAIL(tp_process_start(p));
		TP_OK_OR_FAIL(pu_send_int(a, i));
		expect_two(a, i);
		TP_EXPECT(pu_recv_int(a, &v, 20000), TP_EOF);
		pu_join_ok(p);
		tp_payload_free(args);
		tp_conn_free(a);
		tp_conn_free(b);
	}
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

static void test_pipe_to_forked_child(void **state)
{
	(void)state;
	pipe_to_process(TP_START_FORK);
}

static void test_pipe_to_pool_task(void **state)
{
	tp_pool *pool;
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_pool_new(&pool, 2, NULL, NULL, 0));
	for (int i = 0; i < 6; i++) {
		tp_conn *a, *b;
		tp_payload *args;
		tp_pool_result *r;
		tp_payload *out;
		TP_OK_OR_FAIL(tp_pipe_new(&a, &b, 1));
		TP_OK_OR_FAIL(tp_payload_new(&args));
		TP_OK_OR_FAIL(tp_payload_add_conn(args, b));
		TP_OK_OR_FAIL(tp_pool_apply_async(pool, pipe_target, args, NULL,
		                                  NULL, NULL, &r));
		TP_OK_OR_FAIL(pu_send_int(a, 2 * i)); /* even: it frees c */
		expect_two(a, 2 * i);
		TP_OK_OR_FAIL(tp_pool_result_get(r, &out, 20000));
		tp_payload_free(out);
		tp_pool_result_free(r);
		int64_t v; /* the worker freed its end: end of file */
		TP_EXPECT(pu_recv_int(a, &v, 20000), TP_EOF);
		tp_payload_free(args);
		tp_conn_free(a);
		tp_conn_free(b);
	}
	tp_pool_free(pool);
	tp_test_fini();
}

/* An end stored in a Manager dict (as an encoded payload: dict values
 * are plain values) and taken by another process of the run. */
static int from_manager(const tp_payload *args, tp_payload *result)
{
	tp_proxy *d;
	tp_payload *got, *inner;
	tp_conn *c;
	const void *b;
	size_t n;
	(void)result;
	CKRV(tp_payload_get_proxy(args, 0, NULL, 0, &d), TP_OK);
	CKRV(tp_payload_new(&got), TP_OK);
	CKRV(tp_dict_get(d, tp_str("end"), got), TP_OK);
	CKRV(tp_payload_get_bytes(got, 0, &b, &n), TP_OK);
	CKRV(tp_payload_decode(b, n, 0, &inner), TP_OK);
	CKRV(tp_payload_get_conn(inner, 0, &c), TP_OK);
	CKRV(pu_send_int(c, 42), TP_OK);
	tp_conn_free(c);
	tp_payload_free(inner);
	tp_payload_free(got);
	tp_proxy_free(d);
	return 0;
}
TP_TARGET(from_manager)

static void test_end_through_manager(void **state)
{
	tp_manager *m;
	tp_proxy *d;
	tp_conn *a, *b;
	tp_payload *inner, *args;
	tp_process *p;
	void *enc;
	size_t n;
	int64_t v;
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_manager_start(&m, NULL));
	TP_OK_OR_FAIL(tp_manager_dict(m, &d));
	TP_OK_OR_FAIL(tp_pipe_new(&a, &b, 1));
	TP_OK_OR_FAIL(tp_payload_new(&inner));
	TP_OK_OR_FAIL(tp_payload_add_conn(inner, b));
	TP_OK_OR_FAIL(tp_payload_encode(inner, 0, &enc, &n));
	TP_OK_OR_FAIL(tp_dict_set(d, tp_str("end"), tp_bytes(enc, n)));
	free(enc);
	TP_OK_OR_FAIL(tp_payload_new(&args));
	TP_OK_OR_FAIL(tp_payload_add_proxy(args, d));
	TP_OK_OR_FAIL(tp_process_new(&p, from_manager, args, NULL));
	TP_OK_OR_FAIL(tp_process_start(p));
	TP_OK_OR_FAIL(pu_recv_int(a, &v, 20000));
	assert_int_equal(v, 42);
	TP_EXPECT(pu_recv_int(a, &v, 20000), TP_EOF);
	pu_join_ok(p);
	tp_payload_free(args);
	tp_payload_free(inner);
	tp_conn_free(a);
	tp_conn_free(b);
	tp_proxy_free(d);
	TP_OK_OR_FAIL(tp_manager_shutdown(m));
	tp_test_fini();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_same_process),
	    cmocka_unit_test(test_one_way),
	    cmocka_unit_test(test_writer_gone_after_send),
	    cmocka_unit_test(test_poll_sees_send_at_once),
	    cmocka_unit_test(test_nonblocking_fd),
	    cmocka_unit_test(test_moved_end),
	    cmocka_unit_test(test_end_to_forked_child),
	    cmocka_unit_test(test_end_in_queue_item),
	    cmocka_unit_test(test_end_from_another_host),
	    cmocka_unit_test(test_sharer_survives_bad_callers),
	    cmocka_unit_test(test_pipe_to_forked_child),
	    cmocka_unit_test(test_pipe_to_forkserver_child),
	    cmocka_unit_test(test_pipe_to_spawned_child),
	    cmocka_unit_test(test_pipe_to_pool_task),
	    cmocka_unit_test(test_end_through_manager),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
