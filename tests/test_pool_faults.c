/*
 * test_pool_faults.c - tp_pool when things go wrong: workers killed with
 * SIGKILL mid-task (fail and retry policies), tasks that kill or exit
 * their own worker, maxtasksperchild recycling, terminate and free with
 * tasks in flight, a stuck worker whose pipe fills up. Every result must be
 * accounted for, the pool must stay usable, and no process may be left behind.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pool_util.h"

static int f_pid(const tp_payload *args, tp_payload *res)
{
	(void)args;
	return tp_payload_add_int(res, getpid());
}
TP_TARGET(f_pid);

/* Squares its int; the value 55555 kills its worker. */
static int f_square_or_die(const tp_payload *args, tp_payload *res)
{
	int64_t x = 0;
	tp_payload_get_int(args, 0, &x);
	if (x == 55555)
		raise(SIGKILL);
	return tp_payload_add_int(res, x * x);
}
TP_TARGET(f_square_or_die);

static int f_exit3(const tp_payload *args, tp_payload *res)
{
	(void)args;
	(void)res;
	_exit(3);
}
TP_TARGET(f_exit3);

/* Blocks until the FIFO args[0] is opened for writing and closed. */
static int f_fifo_wait(const tp_payload *args, tp_payload *res)
{
	const char *path = NULL;
	char buf[16];
	tp_payload_get_string(args, 0, &path);
	int fd = path != NULL ? open(path, O_RDONLY) : -1;
	while (fd >= 0 && read(fd, buf, sizeof(buf)) > 0)
		;
	if (fd >= 0)
		close(fd);
	return tp_payload_add_int(res, fd >= 0);
}
TP_TARGET(f_fifo_wait);

/* The length of its bytes argument. */
static int f_bytes_len(const tp_payload *args, tp_payload *res)
{
	const void *d = NULL;
	size_t n = 0;
	tp_payload_get_bytes(args, 0, &d, &n);
	return tp_payload_add_int(res, (int64_t)n);
}
TP_TARGET(f_bytes_len);

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The pool still works: a few applies. */
static void still_usable(tp_pool *pool)
{
	for (int i = 0; i < 4; i++) {
		tp_payload *a = pair(0, i), *out;
		TP_OK_OR_FAIL(tp_pool_apply(pool, f_sleep, a, &out));
		int64_t v;
		TP_OK_OR_FAIL(tp_payload_get_int(out, 0, &v));
		assert_int_equal(v, i);
		tp_payload_free(out);
		tp_payload_free(a);
	}
}

/* Result i of an f_sleep(ms, i) task, then freed: its own value (ok) or
 * TP_EDIED naming SIGKILL and the task (died). */
static void settle_sleep(tp_pool_result *r, int i, int *ok, int *died)
{
	tp_payload *out = NULL;
	int rv = tp_pool_result_get(r, &out, 30000);
	if (rv == TP_OK) {
		int64_t v;
		TP_OK_OR_FAIL(tp_payload_get_int(out, 0, &v));
		assert_int_equal(v, i);
		(*ok)++;
	} else {
		tp_pool_error e;
		TP_EXPECT(rv, TP_EDIED);
		TP_OK_OR_FAIL(tp_pool_result_err(r, &e));
		assert_non_null(strstr(e.message, "signal 9"));
		assert_non_null(strstr(e.origin, "f_sleep"));
		(*died)++;
	}
	tp_payload_free(out);
	tp_pool_result_free(r);
}

#define NT 40

/* SIGKILL a worker while 40 x 30 ms tasks run. */
static void kill_run(tp_pool_on_death policy)
{
	tp_pool_opts o = {.processes = 2, .on_death = policy};
	tp_pool *pool;
	tp_pool_result *r[NT];
	int ok = 0, died = 0;
	TP_OK_OR_FAIL(tp_pool_new_opts(&pool, &o));
	for (int i = 0; i < NT; i++) {
		tp_payload *a = pair(30, i);
		TP_OK_OR_FAIL(tp_pool_apply_async(pool, f_sleep, a, NULL, NULL,
		                                  NULL, &r[i]));
		tp_payload_free(a);
	}
	TP_OK_OR_FAIL(tp_pool_result_wait(r[4], 20000));
	pid_t victim = tp_pool_worker_pid(pool, 0);
	assert_true(victim > 0);
	kill(victim, SIGKILL);
	for (int i = 0; i < NT; i++)
		settle_sleep(r[i], i, &ok, &died);
	assert_int_equal(ok + died, NT);
	assert_true(died <= 1);
	if (policy == TP_POOL_RETRY)
		assert_int_equal(died, 0);
	still_usable(pool);
	tp_pool_worker_stats ws[2];
	assert_int_equal(tp_pool_stats_get(pool, NULL, ws, 2), 2);
	assert_int_equal(ws[0].deaths + ws[1].deaths, 1);
	assert_true(ws[0].pid > 0 && ws[0].pid != victim);
	endpool(pool);
}

static void test_kill_fail(void **state)
{
	(void)state;
	kill_run(TP_POOL_FAIL);
}

static void test_kill_retry(void **state)
{
	(void)state;
	kill_run(TP_POOL_RETRY);
}

/* SIGKILL during a map: it fails with TP_EDIED or completes (retry). */
static void test_kill_during_map(void **state)
{
	(void)state;
	for (int policy = 0; policy < 2; policy++) {
		tp_pool_opts o = {.processes = 2, .on_death = policy};
		tp_pool *pool;
		tp_pool_result *r;
		tp_payload **argv = calloc(100, sizeof(*argv)), *out = NULL;
		for (int i = 0; i < 100; i++)
			argv[i] = pair(3, i);
		TP_OK_OR_FAIL(tp_pool_new_opts(&pool, &o));
		TP_OK_OR_FAIL(tp_pool_starmap_async(
		    pool, f_sleep, (const tp_payload *const *)argv, 100, 2,
		    NULL, NULL, NULL, &r));
		size_t done = 0;
		double t0 = now_s();
		while (done < 10 && now_s() - t0 < 20) {
			tp_pool_result_wait(r, 5);
			tp_pool_result_progress(r, &done, NULL);
		}
		kill(tp_pool_worker_pid(pool, 1), SIGKILL);
		int rv = tp_pool_result_get(r, &out, 30000);
		if (policy == TP_POOL_RETRY || rv == TP_OK) {
			TP_OK_OR_FAIL(rv);
			assert_int_equal(tp_payload_count(out), 100);
			for (size_t i = 0; i < 100; i++) {
				int64_t v;
				TP_OK_OR_FAIL(tp_payload_get_int(out, i, &v));
				assert_int_equal(v, (int64_t)i);
			}
		} else {
			TP_EXPECT(rv, TP_EDIED);
		}
		tp_payload_free(out);
		tp_pool_result_free(r);
		still_usable(pool);
		for (int i = 0; i < 100; i++)
			tp_payload_free(argv[i]);
		free(argv);
		endpool(pool);
	}
}

/* A task that kills its own worker fails exactly; the others complete. */
static void test_task_kills_worker(void **state)
{
	(void)state;
	tp_pool *pool;
	tp_pool_result *r[6];
	tp_payload *out;
	tp_pool_error e;
	TP_OK_OR_FAIL(tp_pool_new(&pool, 2, NULL, NULL, 0));
	for (int i = 0; i < 6; i++) {
		tp_payload *a = pair(20, i);
		TP_OK_OR_FAIL(tp_pool_apply_async(pool,
		                                  i == 2 ? f_suicide : f_sleep,
		                                  a, NULL, NULL, NULL, &r[i]));
		tp_payload_free(a);
	}
	for (int i = 0; i < 6; i++) {
		int rv = tp_pool_result_get(r[i], &out, 30000);
		if (i == 2) {
			TP_EXPECT(rv, TP_EDIED);
			TP_OK_OR_FAIL(tp_pool_result_err(r[i], &e));
			assert_int_equal(e.code, TP_EDIED);
			assert_int_equal(e.rv, TP_EDIED);
			assert_int_equal(e.exitcode, -SIGKILL);
			assert_int_equal(e.signal, SIGKILL);
			assert_non_null(strstr(e.origin, "f_suicide"));
		} else {
			TP_OK_OR_FAIL(rv);
			tp_payload_free(out);
		}
		tp_pool_result_free(r[i]);
	}
	TP_EXPECT(tp_pool_apply(pool, f_exit3, NULL, &out), TP_EDIED);
	TP_OK_OR_FAIL(tp_pool_last_err(&e));
	assert_int_equal(e.code, TP_EDIED);
	assert_int_equal(e.exitcode, 3);
	assert_int_equal(e.signal, 0);
	assert_non_null(strstr(e.message, "exited with code 3"));
	still_usable(pool);
	endpool(pool);
}

/* What an error callback received (it runs before the result is ready). */
static tp_pool_error g_cb_err;
static int g_cb_calls;

static int keep_err(const tp_pool_error *e, void *arg)
{
	(void)arg;
	g_cb_err = *e;
	g_cb_calls++;
	return 0;
}

/* A worker's death reads alike everywhere: code TP_EDIED (a TP_E* code,
 * for tp_strerror), exitcode and signal as in a tp_exit_event. */
static void expect_death(const tp_pool_error *e, int exitcode)
{
	assert_int_equal(e->code, TP_EDIED);
	assert_int_equal(e->exitcode, exitcode);
	assert_int_equal(e->signal, exitcode < 0 ? -exitcode : 0);
	assert_non_null(strstr(e->message, exitcode < 0 ? "signal" : "code"));
}

static void test_death_codes(void **state)
{
	(void)state;
	tp_pool *pool;
	tp_pool_result *r;
	tp_pool_iter *it;
	tp_payload *out = NULL, *items;
	tp_pool_error e;
	TP_OK_OR_FAIL(tp_pool_new(&pool, 2, NULL, NULL, 0));
	/* apply_async: its error callback and get */
	TP_OK_OR_FAIL(
	    tp_pool_apply_async(pool, f_exit3, NULL, NULL, keep_err, NULL, &r));
	TP_EXPECT(tp_pool_result_get(r, &out, 30000), TP_EDIED);
	assert_int_equal(g_cb_calls, 1);
	expect_death(&g_cb_err, 3);
	assert_int_equal(g_cb_err.rv, TP_EDIED);
	TP_OK_OR_FAIL(tp_pool_result_err(r, &e));
	expect_death(&e, 3);
	tp_pool_result_free(r);
	/* map (last_err), map_async (callback), imap (iter_err) */
	TP_OK_OR_FAIL(tp_payload_new(&items));
	TP_OK_OR_FAIL(tp_payload_add_int(items, 2));
	TP_OK_OR_FAIL(tp_payload_add_int(items, 55555));
	TP_OK_OR_FAIL(tp_payload_add_int(items, 4));
	TP_EXPECT(tp_pool_map(pool, f_square_or_die, items, 1, &out), TP_EDIED);
	TP_OK_OR_FAIL(tp_pool_last_err(&e));
	expect_death(&e, -SIGKILL);
	TP_OK_OR_FAIL(tp_pool_map_async(pool, f_square_or_die, items, 1, NULL,
	                                keep_err, NULL, &r));
	TP_EXPECT(tp_pool_result_get(r, &out, 30000), TP_EDIED);
	assert_int_equal(g_cb_calls, 2);
	expect_death(&g_cb_err, -SIGKILL);
	tp_pool_result_free(r);
	TP_OK_OR_FAIL(tp_pool_imap(pool, f_square_or_die, items, 1, &it));
	size_t at;
	for (size_t k = 0; k < 3; k++) {
		int rv = tp_pool_iter_next(it, &out, &at, 30000);
		assert_int_equal(at, k);
		if (k == 1) {
			TP_EXPECT(rv, TP_EDIED);
			TP_OK_OR_FAIL(tp_pool_iter_err(it, &e));
			expect_death(&e, -SIGKILL);
		} else {
			TP_OK_OR_FAIL(rv);
			tp_payload_free(out);
		}
	}
	tp_pool_iter_free(it);
	tp_payload_free(items);
	still_usable(pool);
	endpool(pool);
}

/* A worker dying inside a large (shared-file) int map: the map fails with
 * TP_EDIED, the next one succeeds, nothing is left in the run directory. */
#define STORM_TASKS 300

/*
 * A kill storm: SIGKILL a random worker every ~20 ms while 300 short tasks
 * run, for at most 1.5 s. Every task either returns its own value or fails
 * with TP_EDIED naming the signal; no more tasks fail than workers were
 * killed; nothing hangs; afterwards the pool still works and every worker
 * was replaced.
 */
static void test_kill_storm(void **state)
{
	(void)state;
	tp_pool_opts o = {.processes = 3, .on_death = TP_POOL_FAIL};
	tp_pool *pool;
	tp_pool_result *r[STORM_TASKS];
	int ok = 0, died = 0, kills = 0;
	TP_OK_OR_FAIL(tp_pool_new_opts(&pool, &o));
	for (int i = 0; i < STORM_TASKS; i++) {
		tp_payload *a = pair(2, i);
		TP_OK_OR_FAIL(tp_pool_apply_async(pool, f_sleep, a, NULL, NULL,
		                                  NULL, &r[i]));
		tp_payload_free(a);
	}
	unsigned seed = (unsigned)getpid();
	double t0 = now_s();
	while (now_s() - t0 < 1.5 &&
	       tp_pool_result_wait(r[STORM_TASKS - 1], 0) != TP_OK) {
		pid_t victim =
		    tp_pool_worker_pid(pool, (int)(rand_r(&seed) % 3));
		if (victim > 0 && kill(victim, SIGKILL) == 0)
			kills++;
		struct timespec ts = {0, (10 + rand_r(&seed) % 20) * 1000000L};
		nanosleep(&ts,
		          NULL); /* the storm's pace, not a synchronisation */
	}
	for (int i = 0; i < STORM_TASKS; i++)
		settle_sleep(r[i], i, &ok, &died);
	printf("kill storm: %d kills, %d of %d tasks failed\n", kills, died,
	       STORM_TASKS);
	assert_true(kills > 0);
	assert_int_equal(ok + died, STORM_TASKS);
	assert_true(died <= kills);
	still_usable(pool);
	endpool(pool);
}

static void test_death_in_large_int_map(void **state)
{
	(void)state;
	tp_pool *pool;
	size_t n = 80000;
	int64_t *v = malloc(n * sizeof(*v));
	TP_OK_OR_FAIL(tp_pool_new(&pool, 2, NULL, NULL, 0));
	for (size_t i = 0; i < n; i++)
		v[i] = (int64_t)i;
	TP_EXPECT(tp_pool_map_int(pool, f_square_or_die, v, n, 2000, v),
	          TP_EDIED);
	tp_pool_error e;
	TP_OK_OR_FAIL(tp_pool_last_err(&e));
	assert_int_equal(e.code, TP_EDIED);
	assert_int_equal(e.exitcode, -SIGKILL);
	assert_int_equal(e.signal, SIGKILL);
	for (size_t i = 0; i < n; i++)
		v[i] = (int64_t)i + 60000;
	TP_OK_OR_FAIL(tp_pool_map_int(pool, f_square_or_die, v, n, 0, v));
	assert_int_equal(v[n - 1],
	                 (int64_t)(n - 1 + 60000) * (int64_t)(n - 1 + 60000));
	free(v);
	endpool(pool);
}

static int cmp_pid(const void *a, const void *b)
{
	return *(const int64_t *)a < *(const int64_t *)b
	           ? -1
	           : *(const int64_t *)a > *(const int64_t *)b;
}

static void test_maxtasksperchild(void **state)
{
	(void)state;
	tp_pool *pool;
	int64_t pids[12];
	TP_OK_OR_FAIL(tp_pool_new(&pool, 2, NULL, NULL, 2));
	for (int i = 0; i < 12; i++) {
		tp_payload *out;
		TP_OK_OR_FAIL(tp_pool_apply(pool, f_pid, NULL, &out));
		TP_OK_OR_FAIL(tp_payload_get_int(out, 0, &pids[i]));
		tp_payload_free(out);
	}
	qsort(pids, 12, sizeof(*pids), cmp_pid);
	int distinct = 1;
	for (int i = 1; i < 12; i++)
		distinct += pids[i] != pids[i - 1];
	assert_true(distinct >= 6);
	tp_pool_worker_stats ws[2];
	tp_pool_stats st;
	assert_int_equal(tp_pool_stats_get(pool, &st, ws, 2), 2);
	assert_int_equal(ws[0].deaths + ws[1].deaths, 0);
	assert_true(ws[0].restarts + ws[1].restarts >= 4);
	assert_int_equal(st.completed, 12);
	/* A map over a recycling pool still gives every result. */
	int64_t v[50];
	for (int i = 0; i < 50; i++)
		v[i] = i;
	TP_OK_OR_FAIL(tp_pool_map_int(pool, f_pid, v, 50, 1, v));
	endpool(pool);
}

static void test_terminate_in_flight(void **state)
{
	(void)state;
	tp_pool *pool;
	tp_pool_result *r[5];
	TP_OK_OR_FAIL(tp_pool_new(&pool, 2, NULL, NULL, 0));
	tp_payload *quick = pair(0, 9), *slow = pair(5000, 1), *out;
	TP_OK_OR_FAIL(
	    tp_pool_apply_async(pool, f_sleep, quick, NULL, NULL, NULL, &r[0]));
	TP_OK_OR_FAIL(tp_pool_result_wait(r[0], 20000));
	for (int i = 1; i < 5; i++)
		TP_OK_OR_FAIL(tp_pool_apply_async(pool, f_sleep, slow, NULL,
		                                  NULL, NULL, &r[i]));
	double t0 = now_s();
	TP_OK_OR_FAIL(tp_pool_terminate(pool));
	TP_OK_OR_FAIL(tp_pool_terminate(pool));
	TP_OK_OR_FAIL(tp_pool_join(pool, 20000));
	assert_true(now_s() - t0 < 4.5); /* the tasks sleep 5 s */
	for (int i = 1; i < 5; i++)
		TP_EXPECT(tp_pool_result_get(r[i], NULL, 0), TP_ECANCELED);
	TP_EXPECT(tp_pool_apply(pool, f_sleep, quick, &out), TP_ESTATE);
	endpool(pool);
	/* Results stay readable after the pool is gone. */
	TP_OK_OR_FAIL(tp_pool_result_get(r[0], &out, 0));
	tp_payload_free(out);
	for (int i = 0; i < 5; i++)
		tp_pool_result_free(r[i]);
	/* Free without close: as Python's with-exit. */
	TP_OK_OR_FAIL(tp_pool_new(&pool, 2, NULL, NULL, 0));
	TP_OK_OR_FAIL(
	    tp_pool_apply_async(pool, f_sleep, slow, NULL, NULL, NULL, &r[0]));
	t0 = now_s();
	endpool(pool);
	assert_true(now_s() - t0 < 4.5); /* the tasks sleep 5 s */
	TP_EXPECT(tp_pool_result_get(r[0], NULL, 0), TP_ECANCELED);
	tp_pool_result_free(r[0]);
	tp_payload_free(quick);
	tp_payload_free(slow);
}

/*
 * A worker stuck in a task while more batches are sent than its pipe
 * holds (the pool's send queue is 256 messages; tasks past 256 KiB go one
 * per message): sends find the pipe full and wait for it on the pool's
 * reactor. Once the worker goes on, every task completes, none is lost or
 * run twice.
 */
#define FULL_N   320
#define FULL_LEN ((size_t)260 << 10)
static void test_full_pipe(void **state)
{
	(void)state;
	char fifo[64];
	tp_pool_opts o = {0};
	tp_pool *pool;
	tp_pool_result *r[FULL_N], *blk;
	tp_payload *a, *big, *out;
	tp_pool_worker_stats ws;
	tp_pool_stats st;
	snprintf(fifo, sizeof(fifo), "/tmp/tp-%d-fullpipe", (int)getpid());
	unlink(fifo);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	o.processes = 1;
	o.pipeline = 1000;
	TP_OK_OR_FAIL(tp_pool_new_opts(&pool, &o));
	TP_OK_OR_FAIL(tp_payload_new(&a));
	TP_OK_OR_FAIL(tp_payload_add_string(a, fifo));
	TP_OK_OR_FAIL(
	    tp_pool_apply_async(pool, f_fifo_wait, a, NULL, NULL, NULL, &blk));
	char *bytes = calloc(1, FULL_LEN);
	assert_non_null(bytes);
	TP_OK_OR_FAIL(tp_payload_new(&big));
	TP_OK_OR_FAIL(tp_payload_add_bytes(big, bytes, FULL_LEN));
	free(bytes);
	for (int i = 0; i < FULL_N; i++)
		TP_OK_OR_FAIL(tp_pool_apply_async(pool, f_bytes_len, big, NULL,
		                                  NULL, NULL, &r[i]));
	/* Give the pool the time to fill the pipe (not needed for the
	 * result: the test passes whether it filled or not). */
	for (double t0 = now_s(); now_s() - t0 < 5;) {
		TP_EXPECT(tp_pool_stats_get(pool, &st, &ws, 1), 1);
		if (st.queued == 0 || ws.inflight >= 250)
			break;
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	/* Once the worker has the FIFO open (it runs f_fifo_wait), a
	 * writer's close lets it go on. */
	int fd = -1;
	for (double t0 = now_s(); fd < 0 && now_s() - t0 < 20;) {
		struct timespec ts = {0, 1000000};
		if ((fd = open(fifo, O_WRONLY | O_NONBLOCK)) < 0)
			nanosleep(&ts, NULL);
	}
	unlink(fifo);
	assert_true(fd >= 0);
	close(fd);
	TP_OK_OR_FAIL(tp_pool_result_get(blk, &out, 20000));
	tp_payload_free(out);
	for (int i = 0; i < FULL_N; i++) {
		int64_t v = 0;
		TP_OK_OR_FAIL(tp_pool_result_get(r[i], &out, 20000));
		TP_OK_OR_FAIL(tp_payload_get_int(out, 0, &v));
		assert_int_equal(v, (int64_t)FULL_LEN);
		tp_payload_free(out);
		tp_pool_result_free(r[i]);
	}
	TP_EXPECT(tp_pool_stats_get(pool, &st, NULL, 0), 1);
	assert_int_equal(st.completed, FULL_N + 1);
	assert_int_equal(st.failed, 0);
	tp_pool_result_free(blk);
	tp_payload_free(a);
	tp_payload_free(big);
	endpool(pool);
}

int main(void)
{
	tp_spawn_guard();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kill_fail),
	    cmocka_unit_test(test_kill_retry),
	    cmocka_unit_test(test_kill_during_map),
	    cmocka_unit_test(test_task_kills_worker),
	    cmocka_unit_test(test_death_codes),
	    cmocka_unit_test(test_death_in_large_int_map),
	    cmocka_unit_test(test_maxtasksperchild),
	    cmocka_unit_test(test_terminate_in_flight),
	    cmocka_unit_test(test_kill_storm),
	    cmocka_unit_test(test_full_pipe),
	};
	return cmocka_run_group_tests(tests, pool_setup, pool_teardown);
}
