/*
 * test_manager_lane.c - the shared-memory lane of ipc:// manager
 * connections (mgr/mgr_lane.h): calls go through it (its sequence moves);
 * a forked child's proxy gets a connection and lane of its own; values
 * too big for the slot go over the socket and the lane stays; a call that
 * times out turns the lane off and the connection keeps working (the
 * late reply skipped); a client killed mid-call leaves the server serving
 * others; a server killed while a client spins or sleeps is TP_EDIED; a
 * lane written with bogus lengths or sequences by a raw client gets that
 * connection closed and the server keeps serving; refused offers (not a
 * memfd, unsealed, wrong size, no fd) leave the connection on its socket;
 * a client bound to one CPU works by sleeping only.
 */
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mgr_int.h"
#include "mgr_lane.h"
#include "mgr_util.h"
#include "testutil.h"

static struct tp__lane_shm *lane_of(tp_proxy *px)
{
	return tp__mgr_conn_lane(tp__mgr_proxy_conn(px));
}

static uint64_t req_seq(struct tp__lane_shm *l)
{
	return __atomic_load_n(&l->req_seq, __ATOMIC_ACQUIRE);
}

/* A connection of our own to m (not the cached one). */
static struct tp__mgr_conn *raw_conn(tp_manager *m)
{
	uint8_t key[1024];
	size_t klen = 0;
	struct tp__mgr_conn *c;
	const char *a = tp_manager_address(m);
	TP_OK_OR_FAIL(tp__mgr_key_load(a, key, sizeof(key), &klen));
	TP_OK_OR_FAIL(tp__mgr_conn_open(&c, a, key, klen, NULL, 20000));
	return c;
}

static int set_get(tp_proxy *d, int64_t k, int64_t v)
{
	tp_payload out = {0};
	int64_t got = -1;
	int rv = tp_dict_set(d, tp_int(k), tp_int(v));
	if (rv == TP_OK)
		rv = tp_dict_get(d, tp_int(k), &out);
	if (rv == TP_OK)
		rv = tp_payload_get_int(&out, 0, &got);
	tp__payload_fini(&out);
	return rv == TP_OK && got != v ? TP_EPROTO : rv;
}

/* Under the fork start method a child inherits the parent's memory: the
 * proxy it takes from its arguments opens a connection and lane of its
 * own; the inherited one refuses (TP_ESTATE) and never touches the
 * parent's slots (not even mapped in the child: MADV_DONTFORK). */
static tp_proxy *g_inherited;

static int t_forked(const tp_payload *args, tp_payload *res)
{
	tp_proxy *d = arg_proxy(args, 0);
	int64_t n = 0;
	(void)res;
	if (lane_of(d) == NULL ||
	    tp__mgr_proxy_conn(d) == tp__mgr_proxy_conn(g_inherited))
		return 1;
	uint64_t s0 = req_seq(lane_of(d));
	if (set_get(d, 7, 70) != TP_OK || req_seq(lane_of(d)) != s0 + 2)
		return 2;
	if (tp_dict_len(g_inherited, &n) != TP_ESTATE)
		return 3;
	tp_proxy_free(d);
	return 0;
}
TP_TARGET(t_forked);

/* tp_test_init(method) and a manager with a dict. */
static void start_dict(tp_start_method method, tp_manager **m, tp_proxy **d)
{
	tp_test_init(method);
	TP_OK_OR_FAIL(tp_manager_start(m, NULL));
	TP_OK_OR_FAIL(tp_manager_dict(*m, d));
}

/* Stops the manager and the runtime. */
static void stop(tp_manager *m)
{
	TP_OK_OR_FAIL(tp_manager_shutdown(m));
	tp_test_fini();
}

/* start_dict, and a payload holding the dict's proxy (the argument of a
 * child that uses it). */
static tp_payload *dict_args(tp_start_method method, tp_manager **m,
                             tp_proxy **d)
{
	tp_payload *args;
	start_dict(method, m, d);
	TP_OK_OR_FAIL(tp_payload_new(&args));
	TP_OK_OR_FAIL(tp_payload_add_proxy(args, *d));
	return args;
}

static void test_forked_child(void **state)
{
	tp_manager *m;
	tp_proxy *d;
	tp_payload *args;
	(void)state;
	args = dict_args(TP_START_FORK, &m, &d);
	TP_OK_OR_FAIL(tp_payload_get_proxy(args, 0, NULL, 0, &g_inherited));
	assert_non_null(lane_of(g_inherited));
	TP_OK_OR_FAIL(set_get(g_inherited, 1, 10));
	uint64_t s0 = req_seq(lane_of(g_inherited));
	run_child(t_forked, args, 0);
	/* the parent's lane is as it was, and goes on */
	assert_int_equal(req_seq(lane_of(g_inherited)), s0);
	TP_OK_OR_FAIL(set_get(g_inherited, 2, 20));
	assert_int_equal(req_seq(lane_of(g_inherited)), s0 + 2);
	int64_t n = 0;
	TP_OK_OR_FAIL(tp_dict_len(d, &n));
	assert_int_equal(n, 3);
	tp_proxy_free(g_inherited);
	tp_proxy_free(d);
	tp_payload_free(args);
	stop(m);
}

/* set+get through the lane: each call moves its sequence by one. */
static void test_calls_through_lane(void **state)
{
	tp_manager *m;
	tp_proxy *d;
	(void)state;
	start_dict(TP_START_DEFAULT, &m, &d);
	struct tp__lane_shm *l = lane_of(d);
	assert_non_null(l);
	uint64_t s0 = req_seq(l);
	for (int i = 0; i < 2000; i++)
		TP_OK_OR_FAIL(set_get(d, i % 64, i));
	assert_int_equal(req_seq(l), s0 + 4000);
	int64_t n = 0;
	TP_OK_OR_FAIL(tp_dict_len(d, &n));
	assert_int_equal(n, 64);
	tp_proxy_free(d);
	stop(m);
}

/* A value over the slot's size goes over the socket (a request as a set,
 * a reply as a get's), the lane stays on for the calls that fit. */
static void test_oversized_over_socket(void **state)
{
	tp_manager *m;
	tp_proxy *d;
	tp_payload *out;
	const void *p;
	size_t len = 0, big = 3 * TP__LANE_SLOT;
	(void)state;
	start_dict(TP_START_DEFAULT, &m, &d);
	TP_OK_OR_FAIL(tp_payload_new(&out));
	struct tp__lane_shm *l = lane_of(d);
	assert_non_null(l);
	unsigned char *v = malloc(big);
	assert_non_null(v);
	for (size_t i = 0; i < big; i++)
		v[i] = (unsigned char)(i * 7 + 1);
	uint64_t s0 = req_seq(l);
	TP_OK_OR_FAIL(tp_dict_set(d, tp_str("big"), tp_bytes(v, big)));
	assert_int_equal(req_seq(l), s0); /* the socket's */
	TP_OK_OR_FAIL(tp_dict_get(d, tp_str("big"), out));
	assert_int_equal(req_seq(l), s0 + 1); /* request by lane */
	TP_OK_OR_FAIL(tp_payload_get_bytes(out, 0, &p, &len));
	assert_int_equal(len, big);
	assert_memory_equal(p, v, big);
	assert_ptr_equal(lane_of(d), l);
	TP_OK_OR_FAIL(set_get(d, 1, 2));
	assert_int_equal(req_seq(l), s0 + 3);
	free(v);
	tp_payload_free(out);
	tp_proxy_free(d);
	stop(m);
}

/* A call that times out (a get parked on an empty queue, waited for
 * 100 ms) turns the lane off; the connection goes on over its socket and
 * skips the late reply of the timed-out call. */
static void test_timed_out_call(void **state)
{
	tp_manager *m;
	tp_payload args = {0}, out = {0};
	uint64_t q = 0, dict = 0;
	int64_t n = -1;
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_manager_start(&m, NULL));
	struct tp__mgr_conn *c = raw_conn(m);
	assert_non_null(tp__mgr_conn_lane(c));
	TP_OK_OR_FAIL(tp_payload_add_int(&args, 0));
	TP_OK_OR_FAIL(tp__mgr_conn_call(c, TP__MGR_CREATE, 0, "queue", NULL,
	                                &args, 0, 20000, NULL, &q));
	TP_OK_OR_FAIL(tp__mgr_conn_call(c, TP__MGR_CREATE, 0, "dict", NULL,
	                                NULL, 0, 20000, NULL, &dict));
	TP_EXPECT(tp__mgr_conn_call(c, TP__MGR_CALL, q, "get", NULL, NULL, -1,
	                            100, &out, NULL),
	          TP_ETIMEDOUT);
	assert_null(tp__mgr_conn_lane(c));
	/* the put answers the parked get first: its late reply is skipped */
	tp_payload_clear(&args);
	TP_OK_OR_FAIL(tp_payload_add_string(&args, "x"));
	TP_OK_OR_FAIL(tp__mgr_conn_call(c, TP__MGR_CALL, q, "put", NULL, &args,
	                                0, 20000, NULL, NULL));
	TP_OK_OR_FAIL(tp__mgr_conn_call(c, TP__MGR_CALL, q, "qsize", NULL, NULL,
	                                0, 20000, &out, NULL));
	TP_OK_OR_FAIL(tp_payload_get_int(&out, 0, &n));
	assert_int_equal(n, 0);
	for (int i = 0; i < 50; i++) {
		tp_payload_clear(&args);
		tp_payload_clear(&out);
		TP_OK_OR_FAIL(tp_payload_add_int(&args, i));
		TP_OK_OR_FAIL(tp_payload_add_int(&args, i * 3));
		TP_OK_OR_FAIL(tp__mgr_conn_call(c, TP__MGR_CALL, dict, "set",
		                                NULL, &args, 0, 20000, NULL,
		                                NULL));
		TP_OK_OR_FAIL(tp__mgr_conn_call(c, TP__MGR_CALL, dict, "len",
		                                NULL, NULL, 0, 20000, &out,
		                                NULL));
		TP_OK_OR_FAIL(tp_payload_get_int(&out, 0, &n));
		assert_int_equal(n, i + 1);
	}
	tp__payload_fini(&args);
	tp__payload_fini(&out);
	tp__mgr_conn_unref(c);
	stop(m);
}

/* A client killed (SIGKILL) in the middle of its calls: the server goes
 * on serving the others. */
static int t_hammer(const tp_payload *args, tp_payload *res)
{
	tp_proxy *d = arg_proxy(args, 0), *q = arg_proxy(args, 1);
	(void)res;
	if (lane_of(d) == NULL || tp_mqueue_put(q, tp_str("ready"), 0) != 0)
		return 1;
	for (int64_t i = 0;; i++)
		if (set_get(d, 100 + i % 16, i) != TP_OK)
			return 2;
}
TP_TARGET(t_hammer);

static void test_client_killed_mid_call(void **state)
{
	tp_manager *m;
	tp_proxy *d, *q;
	tp_payload *args, *out;
	(void)state;
	start_dict(TP_START_DEFAULT, &m, &d);
	TP_OK_OR_FAIL(tp_manager_queue(m, 0, &q));
	TP_OK_OR_FAIL(tp_payload_new(&args));
	TP_OK_OR_FAIL(tp_payload_new(&out));
	TP_OK_OR_FAIL(tp_payload_add_proxy(args, d));
	TP_OK_OR_FAIL(tp_payload_add_proxy(args, q));
	for (int round = 0; round < 3; round++) {
		tp_process *p;
		TP_OK_OR_FAIL(tp_process_new(&p, t_hammer, args, NULL));
		TP_OK_OR_FAIL(tp_process_start(p));
		TP_OK_OR_FAIL(tp_mqueue_get(q, out, 60000));
		TP_OK_OR_FAIL(set_get(d, round, round)); /* both at work */
		TP_OK_OR_FAIL(tp_process_kill(p));
		TP_OK_OR_FAIL(tp_process_join(p, 60000));
		tp_process_free(p);
		tp_payload_clear(out);
		for (int i = 0; i < 100; i++)
			TP_OK_OR_FAIL(set_get(d, i % 8, i));
	}
	tp_payload_free(args);
	tp_payload_free(out);
	tp_proxy_free(d);
	tp_proxy_free(q);
	stop(m);
}

/* A client that may use one CPU only: it never spins (the server it
 * would wait for needs that CPU), and its lane works by sleeping. */
static int t_one_cpu(const tp_payload *args, tp_payload *res)
{
	cpu_set_t set;
	(void)res;
	CPU_ZERO(&set);
	CPU_SET(sched_getcpu() >= 0 ? sched_getcpu() : 0, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0)
		return 1;
	tp_proxy *d = arg_proxy(args, 0);
	struct tp__lane_shm *l = lane_of(d);
	if (l == NULL)
		return 2;
	uint64_t s0 = req_seq(l);
	for (int i = 0; i < 500; i++)
		if (set_get(d, 200 + i % 8, i) != TP_OK)
			return 3;
	if (req_seq(l) != s0 + 1000)
		return 4;
	tp_proxy_free(d);
	return 0;
}
TP_TARGET(t_one_cpu);

static void test_one_cpu_client(void **state)
{
	tp_manager *m;
	tp_proxy *d;
	tp_payload *args;
	(void)state;
	args = dict_args(TP_START_DEFAULT, &m, &d);
	run_child(t_one_cpu, args, 0);
	int64_t n = 0;
	TP_OK_OR_FAIL(tp_dict_len(d, &n));
	assert_int_equal(n, 8);
	tp_payload_free(args);
	tp_proxy_free(d);
	stop(m);
}

/* Kills the server (pid in args) at once. */
static int t_kill_server(const tp_payload *args, tp_payload *res)
{
	int64_t pid = 0;
	(void)res;
	tp_payload_get_int(args, 0, &pid);
	return kill((pid_t)pid, SIGKILL) == 0 ? 0 : 1;
}
TP_TARGET(t_kill_server);

/* The server killed while its client spins (calls back to back) or
 * sleeps (a get parked on an empty queue): TP_EDIED, whatever the
 * order, within the test's timeout. */
static void server_killed(int parked)
{
	tp_manager *m;
	tp_proxy *d, *q;
	tp_payload *args, *out;
	tp_process *k;
	int64_t n;
	int rv;
	start_dict(TP_START_DEFAULT, &m, &d);
	TP_OK_OR_FAIL(tp_manager_queue(m, 0, &q));
	assert_non_null(lane_of(d));
	TP_OK_OR_FAIL(tp_payload_new(&args));
	TP_OK_OR_FAIL(tp_payload_new(&out));
	TP_OK_OR_FAIL(tp_payload_add_int(args, tp_manager_pid(m)));
	TP_OK_OR_FAIL(tp_process_new(&k, t_kill_server, args, NULL));
	TP_OK_OR_FAIL(tp_process_start(k));
	if (parked) {
		TP_EXPECT(tp_mqueue_get(q, out, -1), TP_EDIED);
	} else {
		int64_t i = 0;
		while ((rv = set_get(d, i % 32, i)) == TP_OK)
			i++;
		TP_EXPECT(rv, TP_EDIED);
	}
	TP_EXPECT(tp_dict_len(d, &n), TP_EDIED);
	TP_OK_OR_FAIL(tp_process_join(k, 60000));
	tp_process_free(k);
	tp_payload_free(args);
	tp_payload_free(out);
	tp_proxy_free(q);
	tp_proxy_free(d);
	stop(m);
}

static void test_server_killed_spinning(void **state)
{
	(void)state;
	server_killed(0);
}

static void test_server_killed_sleeping(void **state)
{
	(void)state;
	server_killed(1);
}

/* Waits (bounded) for the server to close c's socket. */
static void expect_closed(struct tp__mgr_conn *c)
{
	int fd = tp__mgr_conn_fd(c);
	char b[64];
	for (;;) {
		struct pollfd pf = {fd, POLLIN, 0};
		assert_int_equal(poll(&pf, 1, 60000), 1);
		ssize_t r = read(fd, b, sizeof(b));
		if (r <= 0)
			return; /* EOF (or reset) */
	}
}

/* A raw client writes its lane by hand: bogus lengths and sequences. */
static void bogus(tp_manager *m, uint64_t seq, uint32_t len, int wake)
{
	struct tp__mgr_conn *c = raw_conn(m);
	struct tp__lane_shm *l = tp__mgr_conn_lane(c);
	assert_non_null(l);
	memset(l->req, 0xa5, sizeof(l->req));
	__atomic_store_n(&l->req_len, len, __ATOMIC_RELAXED);
	__atomic_store_n(&l->req_seq, seq, __ATOMIC_SEQ_CST);
	if (wake) { /* else the server's poll finds it */
		uint8_t zero[4] = {0};
		assert_int_equal(write(tp__mgr_conn_fd(c), zero, 4), 4);
	}
	expect_closed(c);
	tp__mgr_conn_unref(c);
}

/* Garbage bytes in a well-formed lane: the core answers (an error
 * reply, in the slot) and the server goes on. */
static void garbage(tp_manager *m)
{
	struct tp__mgr_conn *c = raw_conn(m);
	struct tp__lane_shm *l = tp__mgr_conn_lane(c);
	struct tp__mgr_rep rep;
	uint8_t zero[4] = {0}, b[4];
	assert_non_null(l);
	memset(l->req, 0xa5, 40);
	__atomic_store_n(&l->cli_sleep, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&l->req_len, 40, __ATOMIC_RELAXED);
	__atomic_store_n(&l->req_seq, 1, __ATOMIC_SEQ_CST);
	assert_int_equal(write(tp__mgr_conn_fd(c), zero, 4), 4);
	/* the reply's wake: an empty frame */
	struct pollfd pf = {tp__mgr_conn_fd(c), POLLIN, 0};
	assert_int_equal(poll(&pf, 1, 60000), 1);
	assert_int_equal(read(tp__mgr_conn_fd(c), b, 4), 4);
	assert_memory_equal(b, zero, 4);
	assert_int_equal(__atomic_load_n(&l->rep_seq, __ATOMIC_ACQUIRE), 1);
	uint32_t n = __atomic_load_n(&l->rep_len, __ATOMIC_RELAXED);
	assert_true(n > 0 && n <= TP__LANE_SLOT);
	assert_int_equal(tp__mgr_reply_read(l->rep, n, &rep), 1);
	assert_int_not_equal(rep.code, TP_OK);
	tp__mgr_conn_unref(c);
}

static void test_bogus_lane(void **state)
{
	tp_manager *m;
	tp_proxy *d;
	(void)state;
	start_dict(TP_START_DEFAULT, &m, &d);
	TP_OK_OR_FAIL(set_get(d, 1, 1));
	bogus(m, 1, TP__LANE_SLOT + 1, 1); /* too long */
	TP_OK_OR_FAIL(set_get(d, 2, 2));
	bogus(m, 1, 0xffffffffu, 1);
	bogus(m, 1, 0, 1);  /* empty */
	bogus(m, 5, 10, 1); /* a sequence out of order */
	bogus(m, UINT64_MAX, 10, 1);
	TP_OK_OR_FAIL(set_get(d, 3, 3));
	garbage(m);
	bogus(m, 7, 10, 0); /* no wake: found by the server's polling */
	TP_OK_OR_FAIL(set_get(d, 4, 4));
	/* a second request while the first is unanswered (parked) */
	struct tp__mgr_conn *c = raw_conn(m);
	tp_payload args = {0};
	uint64_t q = 0;
	TP_OK_OR_FAIL(tp_payload_add_int(&args, 0));
	TP_OK_OR_FAIL(tp__mgr_conn_call(c, TP__MGR_CREATE, 0, "queue", NULL,
	                                &args, 0, 20000, NULL, &q));
	struct tp__lane_shm *l = tp__mgr_conn_lane(c);
	uint64_t s = req_seq(l);
	struct tp__mgr_req rq = {.corr = 1000,
	                         .op = TP__MGR_CALL,
	                         .object = q,
	                         .name = "get",
	                         .timeout_ms = -1};
	uint8_t small[256];
	void *buf;
	size_t len;
	TP_OK_OR_FAIL(
	    tp__mgr_req_pack(&rq, 0, small, sizeof(small), &buf, &len));
	memcpy(l->req, buf, len);
	__atomic_store_n(&l->req_len, (uint32_t)len, __ATOMIC_RELAXED);
	__atomic_store_n(&l->req_seq, s + 1, __ATOMIC_SEQ_CST);
	uint8_t zero[4] = {0};
	assert_int_equal(write(tp__mgr_conn_fd(c), zero, 4), 4);
	__atomic_store_n(&l->req_seq, s + 2, __ATOMIC_SEQ_CST);
	assert_int_equal(write(tp__mgr_conn_fd(c), zero, 4), 4);
	expect_closed(c);
	tp__mgr_conn_unref(c);
	tp__payload_fini(&args);
	TP_OK_OR_FAIL(set_get(d, 5, 5));
	int64_t n = 0;
	TP_OK_OR_FAIL(tp_dict_len(d, &n));
	assert_int_equal(n, 5);
	tp_proxy_free(d);
	stop(m);
}

/* A sealed memfd of some size, or an unsealed one. */
static int memfd(size_t size, int seals)
{
	int fd = memfd_create("lane-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	if (seals)
		assert_int_equal(fcntl(fd, F_ADD_SEALS, seals), 0);
	return fd;
}

/* Offers the server refuses: the connection stays on its socket. */
static void test_refused_offers(void **state)
{
	tp_manager *m;
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_manager_start(&m, NULL));
	setenv("TROUPE_MGR_LANE", "0", 1);
	struct tp__mgr_conn *c = raw_conn(m);
	unsetenv("TROUPE_MGR_LANE");
	assert_null(tp__mgr_conn_lane(c));
	int all = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
	int fds[6], p[2];
	assert_int_equal(pipe(p), 0);
	fds[0] = p[0];                      /* not a file */
	fds[1] = open("/dev/null", O_RDWR); /* not a memfd */
	fds[2] = memfd(TP__LANE_SIZE, 0);   /* unsealed */
	fds[3] = memfd(TP__LANE_SIZE, F_SEAL_GROW | F_SEAL_SEAL);
	fds[4] = memfd(TP__LANE_SIZE + 4096, all); /* the wrong size */
	fds[5] = memfd(TP__LANE_SIZE, 0);
	{ /* sequences not fresh */
		uint64_t one = 1;
		assert_int_equal(pwrite(fds[5], &one, 8, 0), 8);
		assert_int_equal(fcntl(fds[5], F_ADD_SEALS, all), 0);
	}
	for (int i = 0; i < 6; i++) {
		TP_EXPECT(tp__mgr_conn_lane_offer(c, fds[i], 20000), TP_EINVAL);
		TP_OK_OR_FAIL(tp__mgr_conn_call(c, TP__MGR_PING, 0, NULL, NULL,
		                                NULL, 0, 20000, NULL, NULL));
		close(fds[i]);
	}
	close(p[1]);
	/* no fd: what an older server answers any offer with */
	TP_EXPECT(tp__mgr_conn_lane_offer(c, -1, 20000), TP_EPROTO);
	TP_OK_OR_FAIL(tp__mgr_conn_call(c, TP__MGR_PING, 0, NULL, NULL, NULL, 0,
	                                20000, NULL, NULL));
	tp__mgr_conn_unref(c);
	stop(m);
}

int main(void)
{
	tp_spawn_guard();
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	    /* first: before this process touches nng (fork needs that) */
	    cmocka_unit_test(test_forked_child),
	    cmocka_unit_test(test_calls_through_lane),
	    cmocka_unit_test(test_oversized_over_socket),
	    cmocka_unit_test(test_timed_out_call),
	    cmocka_unit_test(test_client_killed_mid_call),
	    cmocka_unit_test(test_one_cpu_client),
	    cmocka_unit_test(test_server_killed_spinning),
	    cmocka_unit_test(test_server_killed_sleeping),
	    cmocka_unit_test(test_bogus_lane),
	    cmocka_unit_test(test_refused_offers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
