/*
 * test_pool_sup.c - the pool is a supervisor policy (issue #14): its
 * workers are children of a simple_one_for_one supervisor hung under the
 * program's root supervisor. A worker killed with SIGKILL under load: its
 * task fails (or is retried), every other task completes, the supervisor
 * replaces it, and the exit it saw is the very event a monitor of a plain
 * Process receives. Workers that keep dying exceed the supervisor's restart
 * intensity: the pool gives up and fails its pending work with TP_EDIED.
 * With every start method that applies (fork server, spawn; fork is refused
 * once nng runs, as for any Process).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pool_util.h"

/* An initializer that kills its worker once the file args[0] exists. */
static int init_die_if(const tp_payload *args, tp_payload *res)
{
	const char *path = NULL;
	(void)res;
	tp_payload_get_string(args, 0, &path);
	if (path != NULL && access(path, F_OK) == 0)
		raise(SIGKILL);
	return 0;
}
TP_TARGET(init_die_if);

/* The pool's supervisor under the root: the newest nested "pool-N". */
static tp_sup *pool_sup(char *id)
{
	tp_child_info *ci;
	int n;
	tp_sup *root = tp_sup_root();
	assert_non_null(root);
	TP_OK_OR_FAIL(tp_sup_which_children(root, &ci, &n));
	id[0] = '\0';
	for (int i = 0; i < n; i++)
		if (ci[i].nested && strncmp(ci[i].id, "pool-", 5) == 0) {
			assert_int_equal(ci[i].state, TP_CHILD_RUNNING);
			snprintf(id, 64, "%s", ci[i].id);
		}
	free(ci);
	assert_true(id[0] != '\0');
	tp_sup *s = tp_sup_child_sup(root, id);
	assert_non_null(s);
	assert_int_equal(tp_sup_strategy(s), TP_SIMPLE_ONE_FOR_ONE);
	return s;
}

/* The supervisor's record of the worker named name. */
static int worker_info(tp_sup *s, const char *name, tp_child_info *out)
{
	tp_child_info *ci;
	int n, found = 0;
	TP_OK_OR_FAIL(tp_sup_which_children(s, &ci, &n));
	for (int i = 0; i < n; i++)
		if (strcmp(ci[i].id, name) == 0) {
			*out = ci[i];
			found = 1;
		}
	free(ci);
	return found;
}

/* Whether the pool is no longer a child of the root. */
static int pool_gone(const char *id)
{
	tp_child_info *ci;
	int n, gone = 1;
	TP_OK_OR_FAIL(tp_sup_which_children(tp_sup_root(), &ci, &n));
	for (int i = 0; i < n; i++)
		if (strcmp(ci[i].id, id) == 0)
			gone = 0;
	free(ci);
	return gone;
}

#define NT 30

static void kill_under_load(tp_start_method method, tp_pool_on_death pol)
{
	tp_pool_opts o = {.processes = 3, .method = method, .on_death = pol};
	tp_pool_worker_stats ws[3];
	tp_pool_result *r[NT];
	tp_pool *pool;
	char id[64];
	TP_OK_OR_FAIL(tp_pool_new_opts(&pool, &o));
	tp_sup *s = pool_sup(id);
	/* Every worker is a running child of the pool's supervisor. */
	assert_int_equal(tp_pool_stats_get(pool, NULL, ws, 3), 3);
	for (int i = 0; i < 3; i++) {
		tp_child_info ci;
		assert_true(worker_info(s, ws[i].name, &ci));
		assert_int_equal(ci.pid, ws[i].pid);
		assert_int_equal(ci.state, TP_CHILD_RUNNING);
		assert_int_equal(ci.restart, TP_TRANSIENT);
	}
	for (int i = 0; i < NT; i++) {
		tp_payload *a = pair(60, i);
		TP_OK_OR_FAIL(tp_pool_apply_async(pool, f_sleep, a, NULL, NULL,
		                                  NULL, &r[i]));
		tp_payload_free(a);
	}
	/* Under load: the first task is done, the workers are busy. */
	TP_OK_OR_FAIL(tp_pool_result_wait(r[0], 30000));
	pid_t victim = ws[1].pid;
	tp_monitor *m;
	TP_OK_OR_FAIL(tp_monitor_new(&m, victim));
	assert_int_equal(kill(victim, SIGKILL), 0);
	/* The exit event of a plain Process, for a pool worker too. */
	tp_exit_event ev;
	TP_OK_OR_FAIL(tp_monitor_next(m, &ev, 30000));
	assert_int_equal(ev.pid, victim);
	assert_int_equal(ev.exitcode, -SIGKILL);
	assert_int_equal(ev.signal, SIGKILL);
	assert_string_equal(ev.name, ws[1].name);
	int ok = 0, died = 0;
	for (int i = 0; i < NT; i++) {
		tp_payload *out = NULL;
		int rv = tp_pool_result_get(r[i], &out, 30000);
		if (rv == TP_OK) {
			int64_t v;
			TP_OK_OR_FAIL(tp_payload_get_int(out, 0, &v));
			assert_int_equal(v, i);
			ok++;
		} else {
			tp_pool_error e;
			TP_EXPECT(rv, TP_EDIED);
			TP_OK_OR_FAIL(tp_pool_result_err(r[i], &e));
			assert_int_equal(e.code, TP_EDIED);
			assert_int_equal(e.exitcode, ev.exitcode);
			assert_int_equal(e.signal, ev.signal);
			assert_non_null(strstr(e.origin, ws[1].name));
			died++;
		}
		tp_payload_free(out);
		tp_pool_result_free(r[i]);
	}
	/* Its task failed or was retried; nothing else was lost. */
	assert_int_equal(ok + died, NT);
	assert_true(died <= (pol == TP_POOL_FAIL ? 1 : 0));
	/* The supervisor replaced it and recorded the same exit. */
	tp_child_info ci = {0};
	int64_t end = tp_test_now_ms() + 30000;
	while (tp_test_now_ms() < end &&
	       (!worker_info(s, ws[1].name, &ci) || ci.restarts < 1 ||
	        ci.pid == 0 || tp_pool_worker_pid(pool, 1) != ci.pid))
		tp_test_nap(2); /* bounded wait for the replacement */
	assert_int_equal(ci.restarts, 1);
	assert_int_equal(ci.last_exit, ev.exitcode);
	assert_true(ci.pid > 0 && ci.pid != victim);
	assert_int_equal(tp_pool_worker_pid(pool, 1), ci.pid);
	tp_monitor_free(m);
	tp_pool_worker_stats ws2[3];
	assert_int_equal(tp_pool_stats_get(pool, NULL, ws2, 3), 3);
	assert_int_equal(ws2[1].deaths, 1);
	assert_int_equal(ws2[1].restarts, 1);
	/* The pool still works, on every worker. */
	int64_t v[12];
	for (int i = 0; i < 12; i++)
		v[i] = i;
	TP_OK_OR_FAIL(tp_pool_map_int(pool, f_sleep, v, 12, 1, v));
	endpool(pool);
	assert_true(pool_gone(id));
}

static void test_kill_worker_forkserver(void **state)
{
	(void)state;
	kill_under_load(TP_START_FORKSERVER, TP_POOL_FAIL);
	kill_under_load(TP_START_FORKSERVER, TP_POOL_RETRY);
}

static void test_kill_worker_spawn(void **state)
{
	(void)state;
	kill_under_load(TP_START_SPAWN, TP_POOL_FAIL);
	kill_under_load(TP_START_SPAWN, TP_POOL_RETRY);
}

/* Fork is refused once nng runs in this process, as for a Process. */
static void test_fork_refused(void **state)
{
	(void)state;
	tp_pool_opts o = {.processes = 1, .method = TP_START_FORK};
	tp_pool *pool = NULL;
	TP_EXPECT(tp_pool_new_opts(&pool, &o), TP_EFORKNNG);
	assert_null(pool);
	assert_int_equal(tp_test_children(), baseline);
}

/*
 * Replacements that die at once exceed the supervisor's restart intensity:
 * the pool gives up, its pending work fails with TP_EDIED saying so, and
 * nothing is left running.
 */
static void gives_up(tp_start_method method)
{
	char path[] = "/tmp/tp-pool-sup-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	unlink(path); /* created again below: the replacements die */
	tp_payload *ia;
	TP_OK_OR_FAIL(tp_payload_new(&ia));
	TP_OK_OR_FAIL(tp_payload_add_string(ia, path));
	tp_pool_opts o = {.processes = 1,
	                  .method = method,
	                  .initializer = init_die_if,
	                  .initargs = ia,
	                  .max_restarts = 4,
	                  .restart_period_ms = 60000};
	tp_pool *pool;
	tp_pool_result *r;
	tp_payload *a = pair(0, 7), *out = NULL;
	char id[64];
	TP_OK_OR_FAIL(tp_pool_new_opts(&pool, &o));
	pool_sup(id);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	TP_EXPECT(tp_pool_apply(pool, f_suicide, NULL, &out), TP_EDIED);
	TP_OK_OR_FAIL(
	    tp_pool_apply_async(pool, f_sleep, a, NULL, NULL, NULL, &r));
	TP_EXPECT(tp_pool_result_get(r, &out, 60000), TP_EDIED);
	tp_pool_error e;
	TP_OK_OR_FAIL(tp_pool_result_err(r, &e));
	assert_non_null(strstr(e.message, "gave up"));
	tp_pool_result_free(r);
	TP_EXPECT(tp_pool_apply(pool, f_sleep, a, &out), TP_EDIED);
	endpool(pool);
	assert_true(pool_gone(id));
	unlink(path);
	tp_payload_free(a);
	tp_payload_free(ia);
}

/* An initializer that fails once the file args[0] exists. */
static int init_fail_if(const tp_payload *args, tp_payload *res)
{
	const char *path = NULL;
	(void)res;
	tp_payload_get_string(args, 0, &path);
	return path != NULL && access(path, F_OK) == 0 ? 5 : 0;
}
TP_TARGET(init_fail_if);

/*
 * A replacement whose initializer fails is stopped and not restarted (its
 * exit is normal: no restart by the supervisor); the other worker goes on
 * serving, and once no worker is left the pool fails work at once.
 */
static void test_broken_replacement(void **state)
{
	(void)state;
	char path[] = "/tmp/tp-pool-sup-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	unlink(path);
	tp_payload *ia, *a = pair(0, 3), *out = NULL;
	TP_OK_OR_FAIL(tp_payload_new(&ia));
	TP_OK_OR_FAIL(tp_payload_add_string(ia, path));
	tp_pool_opts o = {
	    .processes = 2, .initializer = init_fail_if, .initargs = ia};
	tp_pool *pool;
	char id[64];
	TP_OK_OR_FAIL(tp_pool_new_opts(&pool, &o));
	tp_sup *s = pool_sup(id);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	tp_pool_worker_stats ws[2];
	assert_int_equal(tp_pool_stats_get(pool, NULL, ws, 2), 2);
	assert_int_equal(kill(ws[0].pid, SIGKILL), 0);
	/* Whatever worker 0 does, worker 1 serves. */
	for (int i = 0; i < 6; i++) {
		TP_OK_OR_FAIL(tp_pool_apply(pool, f_sleep, a, &out));
		tp_payload_free(out);
	}
	tp_child_info ci = {0};
	int64_t end = tp_test_now_ms() + 30000;
	while (tp_test_now_ms() < end &&
	       (!worker_info(s, ws[0].name, &ci) || ci.restarts < 1 ||
	        ci.state != TP_CHILD_STOPPED ||
	        tp_pool_worker_pid(pool, 0) != 0))
		tp_test_nap(2); /* bounded wait: the supervisor, then the
		                   pool, saw the broken replacement end */
	assert_int_equal(ci.restarts, 1);
	assert_int_equal(ci.state, TP_CHILD_STOPPED);
	assert_int_equal(ci.last_exit, 0);
	assert_int_equal(tp_pool_worker_pid(pool, 0), 0);
	/* Worker 1 killed too: its replacement is broken as well. */
	assert_int_equal(kill(ws[1].pid, SIGKILL), 0);
	int rv = TP_OK;
	for (int i = 0; i < 1000 && rv == TP_OK; i++) {
		rv = tp_pool_apply(pool, f_sleep, a, &out);
		tp_payload_free(out);
		out = NULL;
	}
	TP_EXPECT(rv, TP_EDIED);
	endpool(pool);
	assert_true(pool_gone(id));
	unlink(path);
	tp_payload_free(a);
	tp_payload_free(ia);
}

static void test_gives_up_forkserver(void **state)
{
	(void)state;
	gives_up(TP_START_FORKSERVER);
}

static void test_gives_up_spawn(void **state)
{
	(void)state;
	gives_up(TP_START_SPAWN);
}

int main(void)
{
	tp_spawn_guard();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kill_worker_forkserver),
	    cmocka_unit_test(test_kill_worker_spawn),
	    cmocka_unit_test(test_fork_refused),
	    cmocka_unit_test(test_broken_replacement),
	    cmocka_unit_test(test_gives_up_forkserver),
	    cmocka_unit_test(test_gives_up_spawn),
	};
	return cmocka_run_group_tests(tests, pool_setup, pool_teardown);
}
