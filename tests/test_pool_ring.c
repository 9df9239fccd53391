/*
 * test_pool_ring.c - large batches through a worker run's ring
 * (pool/pool_ring.c): maps over large values give the right results when
 * their batches go through the ring and when every slot is busy; the
 * workers free every slot they were given; a worker killed while it holds
 * slots costs its tasks (retried) and its ring, nothing else; a ring
 * (a segment in /dev/shm) lives as long as its run and none outlives the
 * pool; the worker's reader refuses slots, lengths and segments that are
 * not a ring's, and frees a slot whose batch is malformed. Results come
 * back through the ring's result slots the same way: right, every slot
 * freed by the pool, a worker killed with results in a slot costs its
 * tasks (retried), and the pool's reader refuses what is not a result
 * slot the worker filled.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pool_int.h"
#include "pool_bytes.h"
#include "pool_util.h"
#include "runtime_int.h"
#include "shm.h"
#include "troupe.pb-c.h"

/* Its bytes argument back: results as large as the arguments. */
static int f_echo(const tp_payload *args, tp_payload *res)
{
	const void *d = NULL;
	size_t n = 0;
	if (tp_payload_get_bytes(args, 0, &d, &n) != TP_OK)
		return 1;
	return tp_payload_add_bytes(res, d, n);
}
TP_TARGET(f_echo);

/* This run's shared-memory segments (the rings: the pools of this file
 * make no other): their count; with all_free, waits (up to 10 s) until no
 * slot of any is busy and fails otherwise. */
static int rings(int all_free)
{
	char path[512], prefix[128];
	int n = 0;
	DIR *d = opendir("/dev/shm");
	struct dirent *e;
	assert_non_null(d);
	snprintf(prefix, sizeof(prefix), "troupe.%u.%s.", (unsigned)getuid(),
	         tp__rt.id);
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
			continue;
		n++;
		if (!all_free)
			continue;
		snprintf(path, sizeof(path), "/dev/shm/%s", e->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue; /* its run just ended */
		const uint32_t *h =
		    mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
		close(fd);
		assert_true(h != MAP_FAILED);
		uint32_t slots = h[1];
		const _Atomic uint32_t *busy = (const void *)(h + 4);
		assert_int_equal(slots, 16); /* 8 for tasks, 8 for results */
		/* a worker frees a slot just after its results are sent */
		int64_t t0 = tp_test_now_ms();
		for (uint32_t i = 0; i < slots; i++)
			while (atomic_load(&busy[i]) != 0) {
				assert_true(tp_test_now_ms() - t0 < 10000);
				sched_yield();
			}
		munmap((void *)h, 4096);
	}
	closedir(d);
	return n;
}

/* The most memory any of this run's rings holds (bytes reserved in its
 * file). */
static long long ring_bytes_max(void)
{
	char path[512], prefix[128];
	long long most = 0;
	DIR *d = opendir("/dev/shm");
	struct dirent *e;
	struct stat st;
	assert_non_null(d);
	snprintf(prefix, sizeof(prefix), "troupe.%u.%s.", (unsigned)getuid(),
	         tp__rt.id);
	while ((e = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "/dev/shm/%s", e->d_name);
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 &&
		    stat(path, &st) == 0 &&
		    (long long)st.st_blocks * 512 > most)
			most = (long long)st.st_blocks * 512;
	}
	closedir(d);
	return most;
}

/* Maps of 6 MiB (about 24 batches, more than a ring's 8 slots) go
 * through the rings, right each time, and every slot comes back. A
 * worker gets another batch only while it holds less than a full one
 * (here: none, a batch is two tasks of 480 KiB), so a ring's memory
 * stays within 2 slots (the batch and the slot of the one whose results
 * just came back) however fast the worker asks for more. */
static void test_map_through_ring(void **state)
{
	tp_pool *pool = mkpool(2);
	tp_payload *in = items(6000);
	(void)state;
	assert_int_equal(rings(0), 0); /* none before a large batch */
	for (int round = 0; round < 3; round++) {
		tp_payload *out = NULL;
		TP_OK_OR_FAIL(tp_pool_map(pool, f_sum, in, 0, &out));
		check_sums(out, 6000);
		tp_payload_free(out);
		int n = rings(1);
		assert_true(n >= 1 && n <= 2);
		assert_true(ring_bytes_max() <= 4096 + 2 * (1 << 20));
	}
	/* chunks of one item: small batches, no ring needed, still right */
	tp_payload *out = NULL;
	TP_OK_OR_FAIL(tp_pool_map(pool, f_sum, in, 1, &out));
	check_sums(out, 6000);
	tp_payload_free(out);
	tp_payload_free(in);
	endpool(pool);
	assert_int_equal(rings(0), 0); /* gone with the pool */
}

/* Items back as they went. */
static void check_echo(const tp_payload *out, size_t n)
{
	assert_int_equal(tp_payload_count(out), n);
	for (size_t i = 0; i < n; i++) {
		const unsigned char *d = NULL;
		size_t len = 0;
		TP_OK_OR_FAIL(
		    tp_payload_get_bytes(out, i, (const void **)&d, &len));
		assert_int_equal(len, ITEM);
		assert_int_equal(d[0], i % 251);
		assert_int_equal(d[ITEM - 1], i % 251);
	}
}

/* Results as large as the items come back through the result slots:
 * right each time (the slots are reused many times over), and the pool
 * frees every one. */
static void test_results_through_ring(void **state)
{
	tp_pool *pool = mkpool(2);
	tp_payload *in = items(6000);
	(void)state;
	for (int round = 0; round < 3; round++) {
		tp_payload *out = NULL;
		TP_OK_OR_FAIL(tp_pool_map(pool, f_echo, in, 0, &out));
		check_echo(out, 6000);
		tp_payload_free(out);
		int n = rings(1);
		assert_true(n >= 1 && n <= 2);
	}
	tp_payload_free(in);
	endpool(pool);
	assert_int_equal(rings(0), 0);
}

/* A ring that cannot be made (here: the file size limit is below a
 * ring's size, as /dev/shm with no room is): batches and results go in
 * messages, everything right, no segment left. */
static void test_no_ring(void **state)
{
	struct rlimit old, lim;
	tp_pool *pool = mkpool(2);
	tp_payload *in = items(3000), *out = NULL;
	(void)state;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 1 << 20;
	signal(SIGXFSZ, SIG_IGN); /* EFBIG instead */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	TP_OK_OR_FAIL(tp_pool_map(pool, f_echo, in, 0, &out));
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	check_echo(out, 3000);
	tp_payload_free(out);
	assert_int_equal(rings(0), 0); /* none could be made */
	tp_payload_free(in);
	endpool(pool);
}

/* A worker killed with slots in hand: with retries every item is right,
 * the dead run's ring goes, the pool goes on. */
static void test_kill_with_slots(void **state)
{
	tp_pool_opts o = {.processes = 2, .on_death = TP_POOL_RETRY};
	tp_pool *pool;
	tp_pool_result *r;
	tp_payload *in = items(20000), *out = NULL;
	(void)state;
	TP_OK_OR_FAIL(tp_pool_new_opts(&pool, &o));
	for (int k = 0; k < 4; k++) { /* 2 and 3: results in slots too */
		TP_OK_OR_FAIL(tp_pool_map_async(pool, k < 2 ? f_sum : f_echo,
		                                in, 0, NULL, NULL, NULL, &r));
		size_t done = 0;
		int64_t t0 = tp_test_now_ms();
		while (done == 0 && tp_test_now_ms() - t0 < 20000) {
			tp_pool_result_wait(r, 1);
			tp_pool_result_progress(r, &done, NULL);
		}
		pid_t victim = tp_pool_worker_pid(pool, k % 2);
		if (victim > 0)
			kill(victim, SIGKILL);
		TP_OK_OR_FAIL(tp_pool_result_get(r, &out, 60000));
		if (k < 2)
			check_sums(out, 20000);
		else
			check_echo(out, 20000);
		tp_payload_free(out);
		tp_pool_result_free(r);
		assert_true(rings(1) <= 2); /* one per live run at most */
	}
	tp_payload_free(in);
	endpool(pool);
	assert_int_equal(rings(0), 0);
}

/* env packed at buf (cap bytes at most): its length. */
static size_t pack_env(const Troupe__Envelope *env, unsigned char *buf,
                       size_t cap)
{
	size_t n = protobuf_c_message_get_packed_size(&env->base);
	assert_true(n <= cap);
	protobuf_c_message_pack(&env->base, buf);
	return n;
}

/* A real batch of one task, packed at buf: its length. */
static size_t one_batch(unsigned char *buf, size_t cap)
{
	Troupe__PoolTask t = TROUPE__POOL_TASK__INIT;
	Troupe__PoolTask *tp = &t;
	Troupe__PoolTasks ts = TROUPE__POOL_TASKS__INIT;
	Troupe__Envelope env = TROUPE__ENVELOPE__INIT;
	t.id = 7;
	t.func = "f_sum";
	ts.n_tasks = 1;
	ts.tasks = &tp;
	env.body_case = TROUPE__ENVELOPE__BODY_POOL_TASKS;
	env.pool_tasks = &ts;
	return pack_env(&env, buf, cap);
}

/* The worker's reader against what a ring slot may hold. */
static void test_reader_refuses(void **state)
{
	struct tp__pool_ring *r;
	struct tp__pool_wring w = {0};
	struct tp__pool_in in;
	unsigned char *slot[8];
	uint32_t num[8], s;
	(void)state;
	TP_OK_OR_FAIL(tp__pool_ring_new(&r));
	for (int i = 0; i < 8; i++) {
		slot[i] = tp__pool_ring_take(r, 100, &num[i]);
		assert_non_null(slot[i]);
	}
	assert_null(tp__pool_ring_take(r, 100, &s));            /* all busy */
	assert_null(tp__pool_ring_take(r, (1u << 20) + 1, &s)); /* too big */
	const char *path = tp__pool_ring_path(r);
	/* slots and lengths out of range, no path */
	TP_EXPECT(tp__pool_wring_read(&w, path, 8, 10, &in), TP_EDECODE);
	TP_EXPECT(tp__pool_wring_read(&w, path, 0, 0, &in), TP_EDECODE);
	TP_EXPECT(tp__pool_wring_read(&w, path, 0, (1u << 20) + 1, &in),
	          TP_EDECODE);
	TP_EXPECT(tp__pool_wring_read(&w, "", 0, 10, &in), TP_EDECODE);
	/* a malformed batch: refused, and its slot is free again */
	memset(slot[3], 0xff, 64);
	TP_EXPECT(tp__pool_wring_read(&w, path, num[3], 64, &in), TP_EDECODE);
	assert_ptr_equal(tp__pool_ring_take(r, 100, &s), slot[3]);
	assert_int_equal(s, num[3]);
	/* a real batch: read in place; its slot comes back with its values */
	size_t n = one_batch(slot[5], 4096);
	TP_OK_OR_FAIL(tp__pool_wring_read(&w, path, num[5], n, &in));
	assert_int_equal(in.n, 1);
	assert_int_equal(in.tasks[0]->id, 7);
	assert_string_equal(in.tasks[0]->func, "f_sum");
	assert_null(tp__pool_ring_take(r, 100, &s)); /* still held */
	tp__pool_in_free(&in);
	assert_ptr_equal(tp__pool_ring_take(r, 100, &s), slot[5]);
	/* another ring than the first, and a file that is not a ring */
	struct tp__pool_ring *r2;
	TP_OK_OR_FAIL(tp__pool_ring_new(&r2));
	TP_EXPECT(tp__pool_wring_read(&w, tp__pool_ring_path(r2), 0, 10, &in),
	          TP_EDECODE);
	struct tp__pool_wring w2 = {0};
	char other[300];
	void *map;
	TP_OK_OR_FAIL(
	    tp__pool_file_create(other, sizeof(other), "x", 8192, &map));
	TP_EXPECT(tp__pool_wring_read(&w2, other, 0, 10, &in), TP_EDECODE);
	char gone[320];
	snprintf(gone, sizeof(gone), "%s.none", other);
	assert_int_not_equal(tp__pool_wring_read(&w2, gone, 0, 10, &in), TP_OK);
	munmap(map, 8192);
	unlink(other);
	munmap(w.map, w.size);
	close(w.fd);
	tp__pool_ring_free(r2);
	tp__pool_ring_free(r);
	assert_int_equal(rings(0), 0);
}

/* A real batch of results of one task (id 9, the ints 1 2 3), packed at
 * buf: its length. */
static size_t one_result(unsigned char *buf, size_t cap)
{
	int64_t v[3] = {1, 2, 3};
	Troupe__PoolResult res = TROUPE__POOL_RESULT__INIT;
	Troupe__PoolResult *rp = &res;
	Troupe__PoolResults rs = TROUPE__POOL_RESULTS__INIT;
	Troupe__Envelope env = TROUPE__ENVELOPE__INIT;
	res.id = 9;
	res.ints.data = (uint8_t *)v;
	res.ints.len = sizeof(v);
	rs.n_results = 1;
	rs.results = &rp;
	env.body_case = TROUPE__ENVELOPE__BODY_POOL_RESULTS;
	env.pool_results = &rs;
	return pack_env(&env, buf, cap);
}

/* The worker's result slots and the pool's reader of them. */
static void test_result_slots(void **state)
{
	struct tp__pool_ring *r;
	struct tp__pool_wring w = {0};
	struct tp__pool_in in;
	unsigned char *slot[8], *task;
	uint32_t num[8], s, t;
	(void)state;
	TP_OK_OR_FAIL(tp__pool_ring_new(&r));
	const char *path = tp__pool_ring_path(r);
	/* no ring mapped yet: no result slot */
	assert_null(tp__pool_wring_take(&w, 100, &s));
	/* the worker maps the ring with its first batch */
	task = tp__pool_ring_take(r, 100, &t);
	size_t tn = one_batch(task, 4096);
	TP_OK_OR_FAIL(tp__pool_wring_read(&w, path, t, tn, &in));
	tp__pool_in_free(&in);
	/* eight result slots, none of them a task slot */
	assert_null(tp__pool_wring_take(&w, (1u << 20) + 1, &s)); /* too big */
	for (int i = 0; i < 8; i++) {
		slot[i] = tp__pool_wring_take(&w, 4096, &num[i]);
		assert_non_null(slot[i]);
		assert_true(num[i] >= 8 && num[i] < 16);
		tp__pool_wring_mark(&w, num[i], 1);
	}
	assert_null(tp__pool_wring_take(&w, 100, &s)); /* all full */
	/* the pool refuses another ring's name, task slots, slots out of
	 * range, bad lengths; none of these frees a slot */
	TP_EXPECT(tp__pool_ring_results(r, "/troupe.none", num[0], 10, &in),
	          TP_EDECODE);
	TP_EXPECT(tp__pool_ring_results(r, path, t, 10, &in), TP_EDECODE);
	TP_EXPECT(tp__pool_ring_results(r, path, 16, 10, &in), TP_EDECODE);
	TP_EXPECT(tp__pool_ring_results(r, path, num[0], 0, &in), TP_EDECODE);
	TP_EXPECT(tp__pool_ring_results(r, path, num[0], (1u << 20) + 1, &in),
	          TP_EDECODE);
	assert_null(tp__pool_wring_take(&w, 100, &s));
	/* malformed bytes: refused, and the slot is free again */
	memset(slot[2], 0xff, 64);
	TP_EXPECT(tp__pool_ring_results(r, path, num[2], 64, &in), TP_EDECODE);
	assert_ptr_equal(tp__pool_wring_take(&w, 100, &s), slot[2]);
	/* ... and a slot not marked full is not read */
	TP_EXPECT(tp__pool_ring_results(r, path, num[2], 64, &in), TP_EDECODE);
	/* a real batch: copied out, the slot free at once, the values
	 * still there after the slot is written over */
	size_t n = one_result(slot[5], 4096);
	TP_OK_OR_FAIL(tp__pool_ring_results(r, path, num[5], n, &in));
	memset(slot[5], 0xee, n);
	assert_int_equal(in.n, 1);
	assert_int_equal(in.results[0]->id, 9);
	assert_int_equal(in.results[0]->ints.len, 24);
	int64_t v3;
	memcpy(&v3, in.results[0]->ints.data + 16, sizeof(v3));
	assert_int_equal(v3, 3);
	tp__pool_in_free(&in);
	uint32_t s2;
	assert_non_null(tp__pool_wring_take(&w, 100, &s2));
	assert_true(s2 == num[2] || s2 == num[5]);
	munmap(w.map, w.size);
	close(w.fd);
	tp__pool_ring_free(r);
	assert_int_equal(rings(0), 0);
}

/* The pass-through reader (the MPI bridge sends a batch from its slot):
 * the slot's bytes where the pool wrote them, busy until freed; its
 * refusals; a ring gone with its run is TP_ENOENT; and the pool takes
 * the lowest free slot, so the first slots' pages stay warm. */
static void test_pass_through(void **state)
{
	struct tp__pool_ring *r;
	struct tp__pool_wring w = {0};
	const unsigned char *b;
	uint32_t s, s2;
	char name[256];
	(void)state;
	TP_OK_OR_FAIL(tp__pool_ring_new(&r));
	unsigned char *dst = tp__pool_ring_take(r, 100, &s);
	assert_non_null(dst);
	assert_int_equal(s, 0);
	assert_non_null(tp__pool_ring_take(r, 100, &s2));
	assert_int_equal(s2, 1);
	memcpy(dst, "a batch", 7);
	const char *path = tp__pool_ring_path(r);
	TP_OK_OR_FAIL(tp__pool_wring_bytes(&w, path, s, 7, &b));
	assert_memory_equal(b, "a batch", 7);
	TP_EXPECT(tp__pool_wring_bytes(&w, path, 8, 7, &b), TP_EDECODE);
	TP_EXPECT(tp__pool_wring_bytes(&w, path, s, 0, &b), TP_EDECODE);
	TP_EXPECT(tp__pool_wring_bytes(&w, path, s, (1u << 20) + 1, &b),
	          TP_EDECODE);
	/* slot 0 is busy until freed, then it is the one taken */
	assert_non_null(tp__pool_ring_take(r, 100, &s2));
	assert_int_equal(s2, 2);
	tp__pool_wring_free(&w, s);
	assert_ptr_equal(tp__pool_ring_take(r, 100, &s2), dst);
	assert_int_equal(s2, 0);
	/* another ring in the same reader: refused; closed, it maps
	 * anew */
	struct tp__pool_ring *r2;
	TP_OK_OR_FAIL(tp__pool_ring_new(&r2));
	TP_EXPECT(tp__pool_wring_bytes(&w, tp__pool_ring_path(r2), 0, 7, &b),
	          TP_EDECODE);
	tp__pool_wring_close(&w);
	assert_null(w.map);
	TP_OK_OR_FAIL(
	    tp__pool_wring_bytes(&w, tp__pool_ring_path(r2), 0, 7, &b));
	tp__pool_wring_close(&w);
	/* a ring gone with its run */
	snprintf(name, sizeof(name), "%s", tp__pool_ring_path(r2));
	tp__pool_ring_free(r2);
	TP_EXPECT(tp__pool_wring_bytes(&w, name, 0, 7, &b), TP_ENOENT);
	tp__pool_wring_close(&w);
	tp__pool_ring_free(r);
	assert_int_equal(rings(0), 0);
}

int main(void)
{
	tp_spawn_guard();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_map_through_ring),
	    cmocka_unit_test(test_results_through_ring),
	    cmocka_unit_test(test_result_slots),
	    cmocka_unit_test(test_no_ring),
	    cmocka_unit_test(test_kill_with_slots),
	    cmocka_unit_test(test_reader_refuses),
	    cmocka_unit_test(test_pass_through),
	};
	return cmocka_run_group_tests(tests, pool_setup, pool_teardown);
}
