/*
 * test_actor.c - actor modules: the counter module run by the generic
 * host (shared object) and linked into a program, both supervised:
 * calls, casts, caller timeouts, timers and exit events (handle_info),
 * terminate with its reason, a crash restarted with fresh state, a failed
 * init seen as a failed start.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

static char addr[300], logf[300];

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int setup(void **state)
{
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_address("actor", addr, sizeof(addr)));
	snprintf(logf, sizeof(logf), "%s/terminate.log", tp_runtime_dir());
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tp_test_fini();
	return 0;
}

/* Calls op [n] and returns the int reply (or fails the test). */
static int64_t call(tp_actor_ref *r, const char *op, int64_t n, int *err,
                    int timeout)
{
	tp_payload *req, *rep = NULL;
	int64_t v = -1;
	TP_OK_OR_FAIL(tp_payload_new(&req));
	tp_payload_add_string(req, op);
	tp_payload_add_int(req, n);
	int rv = tp_actor_call(r, req, &rep, timeout);
	if (err != NULL)
		*err = rv;
	else
		TP_OK_OR_FAIL(rv);
	if (rv == TP_OK)
		tp_payload_get_int(rep, 0, &v);
	tp_payload_free(req);
	tp_payload_free(rep);
	return v;
}

static void cast(tp_actor_ref *r, const char *op, int64_t n)
{
	tp_payload *m;
	TP_OK_OR_FAIL(tp_payload_new(&m));
	tp_payload_add_string(m, op);
	tp_payload_add_int(m, n);
	TP_OK_OR_FAIL(tp_actor_cast(r, m, 5000));
	tp_payload_free(m);
}

static void wait_value(tp_actor_ref *r, int64_t want)
{
	int64_t end = now_ms() + 10000, v;
	int err;
	while ((v = call(r, "get", 0, &err, 2000)) != want && now_ms() < end)
		usleep(2000);
	assert_int_equal(v, want);
}

static char *read_log(void)
{
	static char buf[512];
	int fd = open(logf, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : 0;
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static tp_sup *start_actor(char **argv, tp_restart restart, int *rv)
{
	static char env0[400];
	static char *env[2];
	tp_sup *s;
	tp_sup_flags f = TP_SUP_FLAGS_INIT;
	tp_child_spec c = TP_CHILD_SPEC_INIT;
	snprintf(env0, sizeof(env0), "TROUPE_ACTOR_ADDR=%s", addr);
	env[0] = env0;
	env[1] = NULL;
	c.id = "counter";
	c.argv = argv;
	c.env = env;
	c.restart = restart;
	c.ready = TP_READY_NOTIFY;
	TP_OK_OR_FAIL(tp_sup_new(&s, &f));
	TP_OK_OR_FAIL(tp_sup_add_child(s, &c));
	*rv = tp_sup_start(s);
	return s;
}

static void test_module_in_host(void **state)
{
	(void)state;
	char *argv[] = {TP_ACTOR_HOST, TP_ACTOR_SO, "5", logf, NULL};
	tp_actor_ref *r;
	int rv, err;
	tp_sup *s = start_actor(argv, TP_PERMANENT, &rv);
	TP_OK_OR_FAIL(rv);
	TP_OK_OR_FAIL(tp_actor_ref_open(&r, addr));
	assert_int_equal(call(r, "get", 0, NULL, 5000), 5);
	assert_int_equal(call(r, "add", 3, NULL, 5000), 8);
	cast(r, "add", 2);
	assert_int_equal(call(r, "get", 0, NULL, 5000), 10);
	/* The handler's error reaches the caller; the actor goes on. */
	call(r, "fail", 0, &err, 5000);
	assert_int_equal(err, TP_EVALUE);
	call(r, "bogus", 0, &err, 5000);
	assert_int_equal(err, TP_EINVAL);
	/* Caller timeout; the late reply is dropped. */
	call(r, "sleep", 300, &err, 50);
	assert_int_equal(err, TP_ETIMEDOUT);
	assert_int_equal(call(r, "get", 0, NULL, 5000), 10);
	/* A timer: handle_info adds 100. */
	call(r, "timer", 20, NULL, 5000);
	wait_value(r, 110);
	/* An exit event of a watched process: handle_info adds 1000. */
	char *sl[] = {"/bin/sleep", "30", NULL};
	tp_child_spec sc = TP_CHILD_SPEC_INIT;
	sc.id = "sleeper";
	sc.argv = sl;
	sc.restart = TP_TEMPORARY;
	TP_OK_OR_FAIL(tp_sup_start_child(s, &sc, NULL));
	tp_child_info *v;
	int n;
	pid_t sp = 0;
	TP_OK_OR_FAIL(tp_sup_which_children(s, &v, &n));
	for (int i = 0; i < n; i++)
		if (strcmp(v[i].id, "sleeper") == 0)
			sp = v[i].pid;
	free(v);
	call(r, "watch", sp, NULL, 5000);
	TP_OK_OR_FAIL(tp_sup_terminate_child(s, "sleeper"));
	wait_value(r, 1110);
	assert_true(call(r, "stats", 0, NULL, 5000) > 5);
	tp_actor_stats st, st2;
	TP_OK_OR_FAIL(tp_actor_query_stats(r, &st, 5000));
	assert_true(st.msgs_in > 5);
	assert_int_equal(st.msgs_out, st.msgs_in); /* every one answered */
	assert_int_equal(st.infos, 2);             /* the timer, the exit */
	TP_OK_OR_FAIL(tp_actor_query_stats(r, &st2, 5000));
	assert_int_equal(st2.msgs_in, st.msgs_in); /* monitoring is free */
	TP_EXPECT(tp_actor_query_stats(NULL, &st, 10), TP_EINVAL);
	/* A crash: restarted by the supervisor with a fresh state. */
	tp_payload *m;
	TP_OK_OR_FAIL(tp_payload_new(&m));
	tp_payload_add_string(m, "crash");
	TP_OK_OR_FAIL(tp_actor_cast(r, m, 5000));
	tp_payload_free(m);
	wait_value(r, 5);
	/* Shutdown: terminate runs with TP_ECANCELED. */
	TP_OK_OR_FAIL(tp_sup_terminate_child(s, "counter"));
	char want[64];
	snprintf(want, sizeof(want), "terminate %d 5\n", TP_ECANCELED);
	assert_string_equal(read_log(), want);
	tp_actor_ref_close(r);
	tp_sup_free(s);
}

static void test_linked_program_stop_and_failed_init(void **state)
{
	(void)state;
	char *argv[] = {TP_ACTOR_LINKED_BIN, "1", logf, NULL};
	tp_actor_ref *r;
	int rv;
	tp_sup *s = start_actor(argv, TP_TRANSIENT, &rv);
	TP_OK_OR_FAIL(rv);
	TP_OK_OR_FAIL(tp_actor_ref_open(&r, addr));
	assert_int_equal(call(r, "add", 1, NULL, 5000), 2);
	/* A normal stop: replies, terminates with TP_OK, exits 0, and a
	 * transient child is not restarted. */
	assert_int_equal(call(r, "stop", 0, NULL, 5000), 2);
	int64_t end = now_ms() + 10000;
	tp_child_info *v;
	int n;
	for (;;) {
		TP_OK_OR_FAIL(tp_sup_which_children(s, &v, &n));
		int st = v[0].state, code = v[0].last_exit;
		free(v);
		if (st == TP_CHILD_STOPPED) {
			assert_int_equal(code, 0);
			break;
		}
		assert_true(now_ms() < end);
		usleep(2000);
	}
	assert_string_equal(read_log(), "terminate 0 2\n");
	tp_actor_ref_close(r);
	tp_sup_free(s);
	/* init fails: the start fails, nothing is left. */
	char *bad[] = {TP_ACTOR_LINKED_BIN, "-1", NULL};
	s = start_actor(bad, TP_PERMANENT, &rv);
	assert_int_equal(rv, TP_EDIED);
	tp_sup_free(s);
	/* The host refuses a file that is no module. */
	char *nomod[] = {TP_ACTOR_HOST, "/nonexistent.so", NULL};
	s = start_actor(nomod, TP_PERMANENT, &rv);
	assert_int_equal(rv, TP_EDIED);
	tp_sup_free(s);
}

static void test_client_errors(void **state)
{
	(void)state;
	tp_actor_ref *r;
	tp_payload *rep;
	TP_EXPECT(tp_actor_ref_open(NULL, addr), TP_EINVAL);
	TP_EXPECT(tp_actor_ref_open(&r, NULL), TP_EINVAL);
	TP_OK_OR_FAIL(tp_actor_ref_open(&r, addr)); /* nobody there yet */
	TP_EXPECT(tp_actor_call(r, NULL, NULL, 10), TP_EINVAL);
	TP_EXPECT(tp_actor_call(NULL, NULL, &rep, 10), TP_EINVAL);
	TP_EXPECT(tp_actor_call(r, NULL, &rep, 50), TP_ETIMEDOUT);
	TP_EXPECT(tp_actor_cast(r, NULL, 50), TP_ETIMEDOUT);
	tp_actor_ref_close(r);
	tp_actor_ref_close(NULL);
	TP_EXPECT(tp_actor_send_after(NULL, 1, 1), TP_EINVAL);
	TP_EXPECT(tp_actor_watch(NULL, 1), TP_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_module_in_host, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(
	        test_linked_program_stop_and_failed_init, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_client_errors, setup,
	                                    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
