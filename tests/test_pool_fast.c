/*
 * test_pool_fast.c - a worker run's local channel (pool/pool_fast.c): the
 * notes and small result batches it carries arrive whole, and whatever is
 * not one (a short or long record, an unknown kind, a batch cut by the
 * reader's buffer, bytes to a reader that takes none) is refused without
 * losing the next note; a closed end and a full socket are told apart.
 * The pool's listener takes only its run's pid: strangers that connect
 * and vanish, connect and send garbage, or stay connected are closed
 * unread, the workers still connect (their listeners are then gone) and
 * maps over large and small items come back right, also with one task per
 * item after the channel is up. A note about a ring the worker has not
 * yet been told of by nng waits for that message. A worker given a record
 * that is not the pool's leaves at once and is replaced; the map goes on.
 * (A worker killed while
 * its notes and results are on the channel: test_pool_ring's
 * test_kill_with_slots, whose maps now go through it.)
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "pool_bytes.h"
#include "pool_int.h"
#include "pool_util.h"
#include "runtime_int.h"

static int f_twice(const tp_payload *args, tp_payload *res)
{
	int64_t v;
	int rv = tp_payload_get_int(args, 0, &v);
	return rv ? rv : tp_payload_add_int(res, 2 * v);
}
TP_TARGET(f_twice);

static void seqpair(int sv[2])
{
	assert_int_equal(
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
}

/* Notes both ways, a batch of bytes whole, and every record that is not
 * one refused with the next note still read. */
static void test_notes(void **state)
{
	int sv[2];
	struct tp__pool_note n;
	unsigned char buf[TP__POOL_FAST_MAX], big[TP__POOL_FAST_MAX + 1];
	(void)state;
	seqpair(sv);
	TP_EXPECT(tp__pool_fast_recv(sv[1], &n, buf, sizeof(buf)), TP_EEMPTY);
	TP_OK_OR_FAIL(tp__pool_fast_send(sv[0], TP__POOL_NOTE_TASKS, 3, 4096));
	TP_OK_OR_FAIL(tp__pool_fast_recv(sv[1], &n, NULL, 0));
	assert_int_equal(n.kind, TP__POOL_NOTE_TASKS);
	assert_int_equal(n.slot, 3);
	assert_int_equal(n.len, 4096);
	TP_OK_OR_FAIL(
	    tp__pool_fast_send(sv[1], TP__POOL_NOTE_RESULTS, 9, 1 << 20));
	TP_OK_OR_FAIL(tp__pool_fast_recv(sv[0], &n, buf, sizeof(buf)));
	assert_int_equal(n.kind, TP__POOL_NOTE_RESULTS);
	assert_int_equal(n.slot, 9);

	/* the most bytes a record carries, whole */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (unsigned char)(i * 7);
	TP_OK_OR_FAIL(tp__pool_fast_send_bytes(sv[0], big, TP__POOL_FAST_MAX));
	TP_OK_OR_FAIL(tp__pool_fast_recv(sv[1], &n, buf, sizeof(buf)));
	assert_int_equal(n.kind, TP__POOL_NOTE_BYTES);
	assert_int_equal(n.len, TP__POOL_FAST_MAX);
	assert_memory_equal(buf, big, TP__POOL_FAST_MAX);
	/* none, one byte over: refused at the sender */
	TP_EXPECT(tp__pool_fast_send_bytes(sv[0], big, 0), TP_ETOOBIG);
	TP_EXPECT(tp__pool_fast_send_bytes(sv[0], big, sizeof(big)),
	          TP_ETOOBIG);

	/* malformed records, each followed by a good note */
	struct tp__pool_note bad = {.kind = 77, .slot = 1, .len = 1};
	struct tp__pool_note liar = {.kind = TP__POOL_NOTE_BYTES, .len = 999};
	unsigned char rec[64] = {0};
	memcpy(rec, &liar, sizeof(liar));
	const struct {
		const void *p;
		size_t len;
	} recs[] = {
	    {"abc", 3},           /* short */
	    {rec, sizeof(rec)},   /* BYTES whose len is not its size */
	    {&bad, sizeof(bad)},  /* an unknown kind */
	    {rec, sizeof(n) + 1}, /* BYTES, len says 999, carries 1 */
	};
	for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
		assert_int_equal(send(sv[0], recs[i].p, recs[i].len, 0),
		                 (ssize_t)recs[i].len);
		TP_OK_OR_FAIL(
		    tp__pool_fast_send(sv[0], TP__POOL_NOTE_TASKS, 1, 2));
		TP_EXPECT(tp__pool_fast_recv(sv[1], &n, buf, sizeof(buf)),
		          TP_EDECODE);
		TP_OK_OR_FAIL(tp__pool_fast_recv(sv[1], &n, buf, sizeof(buf)));
		assert_int_equal(n.kind, TP__POOL_NOTE_TASKS);
	}
	/* a TASKS note with bytes after it */
	struct tp__pool_note t = {.kind = TP__POOL_NOTE_TASKS, .len = 5};
	memcpy(rec, &t, sizeof(t));
	assert_int_equal(send(sv[0], rec, sizeof(t) + 5, 0),
	                 (ssize_t)sizeof(t) + 5);
	TP_EXPECT(tp__pool_fast_recv(sv[1], &n, buf, sizeof(buf)), TP_EDECODE);
	/* a batch larger than the reader's buffer: cut, refused */
	TP_OK_OR_FAIL(tp__pool_fast_send_bytes(sv[0], big, 1000));
	TP_EXPECT(tp__pool_fast_recv(sv[1], &n, buf, 999), TP_EDECODE);
	/* bytes to a reader that takes none (the worker) */
	TP_OK_OR_FAIL(tp__pool_fast_send_bytes(sv[0], big, 10));
	TP_EXPECT(tp__pool_fast_recv(sv[1], &n, NULL, 0), TP_EDECODE);
	TP_EXPECT(tp__pool_fast_recv(sv[1], &n, buf, sizeof(buf)), TP_EEMPTY);

	/* a full socket is not a closed one */
	int full = 0;
	for (int i = 0; i < 1000000 && !full; i++) {
		int rv = tp__pool_fast_send_bytes(sv[0], big, 4096);
		if (rv == TP_EFULL)
			full = 1;
		else
			TP_OK_OR_FAIL(rv);
	}
	assert_true(full);
	TP_EXPECT(tp__pool_fast_send(sv[0], TP__POOL_NOTE_TASKS, 0, 1),
	          TP_EFULL);
	/* what was sent before the end closed is still read, then EOF */
	close(sv[0]);
	TP_OK_OR_FAIL(tp__pool_fast_recv(sv[1], &n, buf, sizeof(buf)));
	assert_int_equal(n.len, 4096);
	while (tp__pool_fast_recv(sv[1], &n, buf, sizeof(buf)) == TP_OK)
		;
	TP_EXPECT(tp__pool_fast_recv(sv[1], &n, buf, sizeof(buf)), TP_ECLOSED);
	TP_EXPECT(tp__pool_fast_send(sv[1], TP__POOL_NOTE_TASKS, 0, 1),
	          TP_ECLOSED);
	close(sv[1]);
}

/* Connects to path and leaves the socket open (or -1). */
static int stranger(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The other end of fd closes within 10 s (unread: what fd sent makes
 * the close a reset). */
static void closed_soon(int fd)
{
	char c[64];
	struct pollfd p = {.fd = fd, .events = POLLIN};
	assert_true(poll(&p, 1, 10000) == 1);
	ssize_t r = recv(fd, c, sizeof(c), MSG_DONTWAIT);
	assert_true(r == 0 || (r < 0 && errno == ECONNRESET));
	close(fd);
}

/* The listener: a peer that is not the pid it waits for is closed
 * unread; its pid's connection is accepted; paths are checked. */
static void test_listener(void **state)
{
	char path[108], lpath[300];
	int lfd, fd, s1, s2;
	(void)state;
	TP_EXPECT(
	    tp__pool_fast_path("tcp://127.0.0.1:5", 1, path, sizeof(path)),
	    TP_EINVAL);
	memset(lpath, 'a', sizeof(lpath) - 1);
	memcpy(lpath, "ipc://", 6);
	lpath[sizeof(lpath) - 1] = '\0';
	TP_EXPECT(tp__pool_fast_path(lpath, 1, path, sizeof(path)),
	          tp_err_errno(ENAMETOOLONG));
	snprintf(lpath, sizeof(lpath), "ipc://%s/fast-test", tp__rt.dir);
	TP_OK_OR_FAIL(tp__pool_fast_path(lpath, 42, path, sizeof(path)));
	assert_non_null(strstr(path, "/fast-test-42.f"));

	TP_OK_OR_FAIL(tp__pool_fast_listen(path, &lfd));
	TP_EXPECT(tp__pool_fast_accept(lfd, getpid(), &fd), TP_EEMPTY);
	s1 = stranger(path);
	assert_true(s1 >= 0);
	TP_EXPECT(tp__pool_fast_accept(lfd, getpid() + 1, &fd), TP_EPERM);
	closed_soon(s1);
	s2 = stranger(path);
	assert_true(s2 >= 0);
	TP_OK_OR_FAIL(tp__pool_fast_accept(lfd, getpid(), &fd));
	TP_OK_OR_FAIL(tp__pool_fast_send(fd, TP__POOL_NOTE_TASKS, 1, 2));
	struct tp__pool_note n;
	struct pollfd p = {.fd = s2, .events = POLLIN};
	assert_int_equal(poll(&p, 1, 10000), 1);
	TP_OK_OR_FAIL(tp__pool_fast_recv(s2, &n, NULL, 0));
	close(fd);
	close(s2);
	close(lfd);
	unlink(path);
	/* a stale socket file at the path is replaced */
	int f = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(f >= 0);
	close(f);
	TP_OK_OR_FAIL(tp__pool_fast_listen(path, &lfd));
	close(lfd);
	unlink(path);
}

static void map_sums(tp_pool *pool, size_t n)
{
	tp_payload *in = items(n), *out = NULL;
	TP_OK_OR_FAIL(tp_pool_map(pool, f_sum, in, 0, &out));
	check_sums(out, n);
	tp_payload_free(in);
	tp_payload_free(out);
}

/* Strangers at the runs' listeners change nothing: the workers connect,
 * the listeners go, and maps come back right through the channel. */
static void test_strangers(void **state)
{
	tp_pool *pool = mkpool(2);
	char path[2][108];
	int keep[2] = {-1, -1};
	(void)state;
	/* the workers said hello; none has a batch yet, so none connected */
	for (int i = 0; i < 2; i++) {
		pid_t pid = tp_pool_worker_pid(pool, i);
		assert_true(pid > 0);
		TP_OK_OR_FAIL(tp__pool_fast_path(pool->addr, pid, path[i],
		                                 sizeof(path[i])));
		struct stat st;
		assert_int_equal(stat(path[i], &st), 0); /* listening */
		/* connects and vanishes */
		int s = stranger(path[i]);
		assert_true(s >= 0);
		close(s);
		/* sends what a worker would, and a note of garbage */
		s = stranger(path[i]);
		assert_true(s >= 0);
		/* (the pool may have closed it already: sent or refused) */
		ssize_t g = send(s, "garbage", 7, MSG_NOSIGNAL);
		assert_true(g == 7 ||
		            (g < 0 && (errno == EPIPE || errno == ECONNRESET)));
		struct tp__pool_note n = {
		    .kind = TP__POOL_NOTE_RESULTS, .slot = 8, .len = 64};
		(void)send(s, &n, sizeof(n), MSG_NOSIGNAL);
		closed_soon(s);
		/* stays connected */
		keep[i] = stranger(path[i]);
		assert_true(keep[i] >= 0);
	}
	/* small batches, then large ones: through the ring, their notes on
	 * the channel once the worker connected at its first batch and a
	 * message named the ring; no worker is replaced on the way */
	pid_t pids[2] = {tp_pool_worker_pid(pool, 0),
	                 tp_pool_worker_pid(pool, 1)};
	map_sums(pool, 10);
	map_sums(pool, 6000);
	map_sums(pool, 6000);
	assert_int_equal(tp_pool_worker_pid(pool, 0), pids[0]);
	assert_int_equal(tp_pool_worker_pid(pool, 1), pids[1]);
	for (int i = 0; i < 2; i++) {
		struct stat st;
		closed_soon(keep[i]);
		/* the worker connected: its listener is gone */
		assert_int_equal(stat(path[i], &st), -1);
		assert_int_equal(errno, ENOENT);
		assert_int_equal(stranger(path[i]), -1);
	}
	/* one task per item: small batches and results after it */
	tp_payload *in, *out = NULL;
	TP_OK_OR_FAIL(tp_payload_new(&in));
	for (int64_t i = 0; i < 3000; i++)
		TP_OK_OR_FAIL(tp_payload_add_int(in, i));
	TP_OK_OR_FAIL(tp_pool_map(pool, f_twice, in, 1, &out));
	assert_int_equal(tp_payload_count(out), 3000);
	for (size_t i = 0; i < 3000; i++) {
		int64_t v;
		TP_OK_OR_FAIL(tp_payload_get_int(out, i, &v));
		assert_int_equal(v, 2 * (int64_t)i);
	}
	tp_payload_free(in);
	tp_payload_free(out);
	endpool(pool);
}

/* The first batch of a run's ring goes by nng (it names the ring), the
 * next ones by notes on the channel, which may come first: the worker
 * waits for the message before it reads a slot. Fresh pools, each
 * connected by a small map and then given batches of ints two at a
 * time; no worker is replaced. */
static void test_note_before_ring(void **state)
{
	tp_payload *in, *out = NULL;
	(void)state;
	TP_OK_OR_FAIL(tp_payload_new(&in));
	for (int64_t i = 0; i < 2000000; i++)
		TP_OK_OR_FAIL(tp_payload_add_int(in, i));
	for (int round = 0; round < 6; round++) {
		tp_pool *pool = mkpool(2);
		map_sums(pool, 4); /* connects the channel */
		pid_t pids[2] = {tp_pool_worker_pid(pool, 0),
		                 tp_pool_worker_pid(pool, 1)};
		TP_OK_OR_FAIL(tp_pool_map(pool, f_twice, in, 0, &out));
		assert_int_equal(tp_payload_count(out), 2000000);
		for (size_t i = 0; i < 2000000; i += 9973) {
			int64_t v;
			TP_OK_OR_FAIL(tp_payload_get_int(out, i, &v));
			assert_int_equal(v, 2 * (int64_t)i);
		}
		tp_payload_free(out);
		assert_int_equal(tp_pool_worker_pid(pool, 0), pids[0]);
		assert_int_equal(tp_pool_worker_pid(pool, 1), pids[1]);
		endpool(pool);
	}
	tp_payload_free(in);
}

/* A record on its channel that is not the pool's (here written by this
 * test into the pool's end) is a bad message to the worker: it leaves,
 * without waiting on anything, its supervisor starts another run, and
 * the map retries what it held; the other worker and the pool go on. */
static void test_garbage_to_worker(void **state)
{
	tp_pool_opts o = {.processes = 2, .on_death = TP_POOL_RETRY};
	tp_pool *pool;
	(void)state;
	TP_OK_OR_FAIL(tp_pool_new_opts(&pool, &o));
	map_sums(pool, 4); /* connects the channels */
	pid_t victim = tp_pool_worker_pid(pool, 0);
	pid_t other = tp_pool_worker_pid(pool, 1);
	pthread_mutex_lock(&pool->mu);
	int fd = pool->w[0].fast_fd;
	pthread_mutex_unlock(&pool->mu);
	assert_true(fd >= 0);
	struct tp__pool_note bad = {.kind = 99, .slot = 1, .len = 2};
	assert_int_equal(send(fd, &bad, sizeof(bad), MSG_NOSIGNAL),
	                 (ssize_t)sizeof(bad));
	/* it left: another run has its slot (within 10 s) */
	int64_t t0 = tp_test_now_ms();
	while (tp_pool_worker_pid(pool, 0) == victim ||
	       tp_pool_worker_pid(pool, 0) <= 0) {
		assert_true(tp_test_now_ms() - t0 < 10000);
		usleep(1000);
	}
	map_sums(pool, 6000);
	map_sums(pool, 10);
	assert_int_equal(tp_pool_worker_pid(pool, 1), other);
	endpool(pool);
}

int main(void)
{
	tp_spawn_guard();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_notes),
	    cmocka_unit_test(test_listener),
	    cmocka_unit_test(test_strangers),
	    cmocka_unit_test(test_note_before_ring),
	    cmocka_unit_test(test_garbage_to_worker),
	};
	return cmocka_run_group_tests(tests, pool_setup, pool_teardown);
}
