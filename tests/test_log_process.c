/*
 * test_log_process.c - logging with the process module: every child,
 * under every start method, logs through its parent's actor under its own
 * name with no setup (the balsa_clone done for it), a cloned child may not
 * delete log files, and a child's crash report reaches the log file.
 */
#include <signal.h>
#include <sys/wait.h>

#include "log_int.h"
#include "logtest.h"
#include "testutil.h"

#define PER_CHILD 5000
#define NCHILD    3

/* Logs args[0] records "rec N" and returns what its configuration says. */
static int t_log(const tp_payload *args, tp_payload *res)
{
	int64_t n = 0;
	tp_log_config *c;
	tp_payload_get_int(args, 0, &n);
	for (int64_t i = 0; i < n; i++)
		tp_log_info("rec %lld", (long long)i);
	if (tp_log_config_get(&c) != TP_OK)
		return 1;
	tp_payload_add_string(res, tp_log_config_name(c));
	tp_payload_add_int(res, tp_log_config_delete_existing(c));
	tp_payload_add_string(res, tp_log_config_address(c));
	tp_log_config_free(c);
	return 0;
}
TP_TARGET(t_log);

/* A real fault; not instrumented, so the sanitizers let it happen. */
__attribute__((no_sanitize("address", "undefined"))) static int
t_crash(const tp_payload *args, tp_payload *res)
{
	(void)args;
	(void)res;
	volatile int *null = NULL;
	*null = 1;
	return 0;
}
TP_TARGET(t_crash);

struct target {
	tp_log_actor *a;
	uint64_t want;
};

/* Logs args[0] records "rec N", then flushes (waiting for an actor that
 * is being restarted): 0 when the actor took everything. */
static int t_log_flush(const tp_payload *args, tp_payload *res)
{
	int64_t n = 0;
	(void)res;
	tp_payload_get_int(args, 0, &n);
	for (int64_t i = 0; i < n; i++)
		tp_log_info("rec %lld", (long long)i);
	return tp_log_flush(30000) == TP_OK ? 0 : 1;
}
TP_TARGET(t_log_flush);

static int actor_has(void *arg)
{
	struct target *t = arg;
	tp_log_actor_stats st;
	tp_log_actor_stats_get(t->a, &st);
	return st.records + st.lost >= t->want;
}

static tp_log_config *file_config(const char *file)
{
	char path[128];
	tp_log_config *c;
	lt_path(path, sizeof(path), file);
	TP_OK_OR_FAIL(tp_log_config_new(&c, "test"));
	TP_OK_OR_FAIL(tp_log_config_set_console(c, 0, TP_LOG_COLOUR_NEVER));
	TP_OK_OR_FAIL(tp_log_config_set_file(c, path, 0, 0));
	TP_OK_OR_FAIL(tp_log_config_set_delete_existing(c, 1));
	TP_OK_OR_FAIL(tp_log_config_set_block(c, 10000)); /* a loaded box */
	return c;
}

static const tp_start_method methods[] = {TP_START_FORKSERVER, TP_START_SPAWN,
                                          TP_START_FORK};

static void test_children_log_under_their_names(void **state)
{
	(void)state;
	for (size_t m = 0; m < 3; m++) {
		tp_log_config *c = file_config("proc.log");
		tp_log_actor *a;
		tp_process *ps[NCHILD];
		tp_payload *args;
		tp_test_init(methods[m]);
		TP_OK_OR_FAIL(tp_log_actor_start(c, &a));
		tp_log_info("parent before children"); /* fork still works */
		TP_OK_OR_FAIL(tp_payload_new(&args));
		TP_OK_OR_FAIL(tp_payload_add_int(args, PER_CHILD));
		for (int i = 0; i < NCHILD; i++) {
			TP_OK_OR_FAIL(
			    tp_process_new(&ps[i], t_log, args, NULL));
			TP_OK_OR_FAIL(tp_process_start(ps[i]));
		}
		for (int i = 0; i < NCHILD; i++) {
			tp_payload *res;
			const char *s;
			int64_t del;
			TP_OK_OR_FAIL(tp_process_join(ps[i], 20000));
			TP_OK_OR_FAIL(tp_process_result(ps[i], &res, 0));
			TP_OK_OR_FAIL(tp_payload_get_string(res, 0, &s));
			assert_string_equal(s, tp_process_name(ps[i]));
			TP_OK_OR_FAIL(tp_payload_get_int(res, 1, &del));
			assert_int_equal(del, 0);
			TP_OK_OR_FAIL(tp_payload_get_string(res, 2, &s));
			assert_string_equal(s, tp_log_actor_address(a));
			tp_payload_free(res);
		}
		TP_OK_OR_FAIL(tp_log_flush(10000));
		struct target t = {a, NCHILD * PER_CHILD + 1};
		assert_true(lt_wait(actor_has, &t, 20000));
		TP_OK_OR_FAIL(tp_log_actor_stop(a));
		/* every child's records, in order, under its name and pid */
		struct lt_lines l = {0};
		long next[NCHILD] = {0};
		lt_read(&l, tp_log_config_file(c));
		assert_int_equal(l.n, NCHILD * PER_CHILD + 1);
		int parent = 0;
		for (size_t j = 0; j < l.n; j++) {
			int i, found = -1;
			if (strstr(l.v[j], " MainProcess[") != NULL &&
			    strstr(l.v[j], "parent before children") != NULL) {
				parent++;
				continue;
			}
			char want[64];
			for (i = 0; i < NCHILD && found < 0; i++) {
				snprintf(want, sizeof(want), " %s[%d] rec ",
				         tp_process_name(ps[i]),
				         (int)tp_process_pid(ps[i]));
				if (strstr(l.v[j], want) != NULL)
					found = i;
			}
			assert_true(found >= 0);
			long n = strtol(strstr(l.v[j], " rec ") + 5, NULL, 10);
			assert_int_equal(n, next[found]);
			next[found]++;
		}
		assert_int_equal(parent, 1);
		lt_free(&l);
		for (int i = 0; i < NCHILD; i++)
			tp_process_free(ps[i]);
		tp_payload_free(args);
		tp_log_actor_free(a);
		tp_log_config_free(c);
		tp_test_fini();
	}
}

/* A pool task that logs one line per item. */
static int t_log_item(const tp_payload *args, tp_payload *res)
{
	int64_t x = 0;
	tp_payload_get_int(args, 0, &x);
	tp_log_info("task %lld", (long long)x);
	return tp_payload_add_int(res, x);
}
TP_TARGET(t_log_item);

/* The `with Pool()` pattern: map, then free at once (which terminates the
 * workers). Every record a task made before its result came back reaches
 * the log: a worker hands its records over before it returns results. */
static void test_pool_free_loses_no_record(void **state)
{
	(void)state;
	enum { ITEMS = 4, ROUNDS = 3 };
	for (int r = 0; r < ROUNDS; r++) {
		tp_log_config *c = file_config("pool.log");
		tp_log_actor *a;
		tp_pool *pool;
		tp_payload *in, *out;
		tp_log_actor_stats st;
		tp_test_init(TP_START_DEFAULT);
		TP_OK_OR_FAIL(tp_log_actor_start(c, &a));
		TP_OK_OR_FAIL(tp_pool_new(&pool, 2, NULL, NULL, 0));
		TP_OK_OR_FAIL(tp_payload_new(&in));
		for (int i = 0; i < ITEMS; i++)
			TP_OK_OR_FAIL(tp_payload_add_int(in, i));
		TP_OK_OR_FAIL(tp_pool_map(pool, t_log_item, in, 1, &out));
		assert_int_equal(tp_payload_count(out), ITEMS);
		tp_pool_free(pool);
		struct target t = {a, ITEMS};
		assert_true(lt_wait(actor_has, &t, 20000));
		TP_OK_OR_FAIL(tp_log_actor_stats_get(a, &st));
		assert_int_equal(st.lost, 0);
		TP_OK_OR_FAIL(tp_log_actor_stop(a));
		struct lt_lines l = {0};
		int seen[ITEMS] = {0};
		lt_read(&l, tp_log_config_file(c));
		for (size_t j = 0; j < l.n; j++) {
			const char *p = strstr(l.v[j], "] task ");
			if (p != NULL)
				seen[atoi(p + 7)]++;
		}
		for (int i = 0; i < ITEMS; i++)
			assert_int_equal(seen[i], 1);
		lt_free(&l);
		tp_payload_free(in);
		tp_payload_free(out);
		tp_log_actor_free(a);
		tp_log_config_free(c);
		tp_test_fini();
	}
}

static void test_crash_report_is_logged(void **state)
{
	tp_log_config *c = file_config("crash.log");
	tp_log_actor *a;
	tp_process *p;
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_log_actor_start(c, &a));
	TP_OK_OR_FAIL(tp_process_new(&p, t_crash, NULL, NULL));
	TP_OK_OR_FAIL(tp_process_start(p));
	TP_OK_OR_FAIL(tp_process_join(p, 20000));
	struct target t = {a, 1};
	assert_true(lt_wait(actor_has, &t, 20000));
	TP_OK_OR_FAIL(tp_log_actor_stop(a));
	struct lt_lines l = {0};
	lt_read(&l, tp_log_config_file(c));
	assert_true(l.n >= 2);
	char want[64];
	snprintf(want, sizeof(want), " CRITICAL %s[%d] ", tp_process_name(p),
	         (int)tp_process_pid(p));
	assert_non_null(strstr(l.v[0], want));
	assert_non_null(strstr(l.v[0], "SIGSEGV"));
	int found = 0;
	for (size_t i = 1; i < l.n; i++)
		found |= l.v[i][0] == '\t' && strstr(l.v[i], "t_crash") != NULL;
	assert_true(found);
	lt_free(&l);
	tp_process_free(p);
	tp_log_actor_free(a);
	tp_log_config_free(c);
	tp_test_fini();
}

static int has_records(void *arg)
{
	struct target *t = arg;
	tp_log_actor_stats st;
	tp_log_actor_stats_get(t->a, &st);
	return st.records >= t->want;
}

/* kill -9 of the logging actor while a child logs, under every start
 * method: the root supervisor restarts it on the same address; every
 * record of the child is in the file or counted as lost by the new actor
 * (its table of expected sequence numbers survived), none is written
 * twice, and the file says the actor was restarted. */
static void test_actor_killed_is_restarted(void **state)
{
	(void)state;
	enum { N = 200000 };
	for (size_t m = 0; m < 3; m++) {
		tp_log_config *c = file_config("killed.log");
		tp_log_actor *a;
		tp_process *p;
		tp_payload *args;
		tp_log_actor_stats st;
		tp_test_init(methods[m]);
		TP_OK_OR_FAIL(tp_log_actor_start(c, &a));
		pid_t old = tp_log_actor_pid(a);
		assert_true(old > 0 && old != getpid());
		TP_OK_OR_FAIL(tp_payload_new(&args));
		TP_OK_OR_FAIL(tp_payload_add_int(args, N));
		TP_OK_OR_FAIL(tp_process_new(&p, t_log_flush, args, NULL));
		TP_OK_OR_FAIL(tp_process_start(p));
		struct target t = {a, 1000};
		assert_true(lt_wait(has_records, &t, 20000));
		assert_int_equal(kill(old, SIGKILL), 0);
		TP_OK_OR_FAIL(tp__log_actor_wait_new(a, old, 20000));
		assert_true(tp_log_actor_alive(a));
		assert_true(tp_log_actor_pid(a) != old);
		TP_OK_OR_FAIL(tp_process_join(p, 60000));
		int code = -1;
		TP_OK_OR_FAIL(tp_process_exitcode(p, &code));
		assert_int_equal(code, 0); /* its flush reached the new actor */
		t.want = N;
		assert_true(lt_wait(actor_has, &t, 20000));
		TP_OK_OR_FAIL(tp_log_actor_stop(a));
		TP_OK_OR_FAIL(tp_log_actor_stats_get(a, &st));
		assert_true(st.restarts >= 1);
		struct lt_lines l = {0};
		lt_read(&l, tp_log_config_file(c));
		char *seen = calloc(N, 1);
		uint64_t lines = 0, reported = 0;
		int restarted = 0;
		for (size_t j = 0; j < l.n; j++) {
			const char *r = strstr(l.v[j], "] rec ");
			unsigned long long lost;
			if (strstr(l.v[j], TP_LOG_CUT_MARK) != NULL) {
				continue; /* the killed actor's torn line */
			} else if (r != NULL) {
				long n = strtol(r + 6, NULL, 10);
				assert_true(n >= 0 && n < N);
				assert_int_equal(seen[n], 0); /* never twice */
				seen[n] = 1;
				lines++;
			} else if (strstr(l.v[j], "logging actor restarted")) {
				restarted = 1;
			} else if ((r = strstr(l.v[j], "] ")) != NULL &&
			           sscanf(r + 2, "%llu log records dropped",
			                  &lost) == 1) {
				reported += lost;
			}
		}
		if (getenv("LT_DEBUG"))
			fprintf(stderr,
			        "method %zu: lines %llu lost %llu reported "
			        "%llu\n",
			        m, (unsigned long long)lines,
			        (unsigned long long)st.lost,
			        (unsigned long long)reported);
		assert_true(restarted);
		/* delivered or counted, never silently gone */
		assert_true(lines + st.lost >= N);
		assert_true(lines + reported >= N);
		free(seen);
		lt_free(&l);
		tp_process_free(p);
		tp_payload_free(args);
		tp_log_actor_free(a);
		tp_log_config_free(c);
		tp_test_fini();
	}
}

int main(void)
{
	tp_spawn_guard();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_children_log_under_their_names),
	    cmocka_unit_test(test_crash_report_is_logged),
	    cmocka_unit_test(test_actor_killed_is_restarted), /* before nng */
	    cmocka_unit_test(test_pool_free_loses_no_record),
	};
	int rv = cmocka_run_group_tests(tests, NULL, NULL);
	lt_clean();
	return rv;
}
