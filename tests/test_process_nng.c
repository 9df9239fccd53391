/* test_process_nng.c - start methods once the process touched nng: fork is
 * refused (TP_EFORKNNG), forkserver and spawn still work. In its own
 * executable because the "nng touched" flag is process-wide and final. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "process_int.h"
#include "troupe/sync.h"
#include "runtime_int.h"
#include "testutil.h"

static int t_seven(const tp_payload *args, tp_payload *res)
{
	(void)args;
	(void)res;
	return 7;
}
TP_TARGET(t_seven);

static void expect_code(tp_start_method m, int want)
{
	tp_process *p;
	tp_process_opts o = {.method = m};
	int code;
	TP_OK_OR_FAIL(tp_process_new(&p, t_seven, NULL, &o));
	TP_OK_OR_FAIL(tp_process_start(p));
	TP_OK_OR_FAIL(tp_process_join(p, 10000));
	TP_OK_OR_FAIL(tp_process_exitcode(p, &code));
	assert_int_equal(code, want);
	tp_process_free(p);
}

/* A child that writes garbage on its control channel: the parent keeps
 * its exit status (from the exit log under forkserver, from waitpid
 * otherwise) and reports the result as lost. */
static int t_garbage(const tp_payload *args, tp_payload *res)
{
	int64_t kind = 0;
	(void)res;
	tp_payload_get_int(args, 0, &kind);
	if (kind == 0) {
		/* a frame length far over the limit */
		static const unsigned char bad[] = {0xff, 0xff, 0xff,
		                                    0x7f, 'x',  'y'};
		tp__ctl_send_raw(tp__pm.ctl_fd, bad, sizeof(bad));
	} else {
		/* a well framed frame that does not decode */
		static const unsigned char bad[] = {3,    0,    0,   0,
		                                    0xff, 0xff, 0xff};
		tp__ctl_send_raw(tp__pm.ctl_fd, bad, sizeof(bad));
	}
	return 5;
}
TP_TARGET(t_garbage);

static void test_garbage_on_control_channel(void **state)
{
	(void)state;
	static const tp_start_method ms[] = {TP_START_FORKSERVER,
	                                     TP_START_SPAWN, TP_START_FORK};
	tp_test_init(TP_START_DEFAULT);
	for (int i = 0; i < 3; i++) {
		for (int kind = 0; kind < 2; kind++) {
			tp_process *p;
			tp_payload *args, *res;
			tp_process_opts o = {.method = ms[i]};
			int code;
			TP_OK_OR_FAIL(tp_payload_new(&args));
			TP_OK_OR_FAIL(tp_payload_add_int(args, kind));
			TP_OK_OR_FAIL(tp_process_new(&p, t_garbage, args, &o));
			tp_payload_free(args);
			TP_OK_OR_FAIL(tp_process_start(p));
			TP_OK_OR_FAIL(tp_process_join(p, 10000));
			TP_OK_OR_FAIL(tp_process_exitcode(p, &code));
			assert_int_equal(code, 5);
			if (kind == 0)
				TP_EXPECT(tp_process_result(p, &res, 0),
				          TP_EDIED);
			else
				TP_OK_OR_FAIL(tp_process_result(p, &res, 0));
			if (kind == 1)
				tp_payload_free(res);
			tp_process_free(p);
		}
	}
	tp_test_fini();
}

/* kill -9 of the fork server, returning once it is dead (not reaped: the
 * runtime reaps it). Its spare, if any, then exits rather than take a
 * request, so the next forkserver start finds the server gone. */
static pid_t kill_server(void)
{
	siginfo_t si;
	pid_t old = tp__pm.server_pid;
	assert_true(old > 0);
	assert_int_equal(kill(old, SIGKILL), 0);
	memset(&si, 0, sizeof(si));
	while (waitid(P_PID, (id_t)old, &si, WEXITED | WNOWAIT) != 0)
		assert_int_equal(errno, EINTR);
	return old;
}

/* A fork server killed from outside is replaced at the next start. */
static void test_dead_fork_server_is_replaced(void **state)
{
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	pid_t old = kill_server();
	expect_code(TP_START_FORKSERVER, 7);
	assert_true(tp__pm.server_pid != old);
	tp_test_fini();
}

/* Waits for the event in args (bounded), then returns 3 with a result. */
static int t_wait_event(const tp_payload *args, tp_payload *res)
{
	tp_event *e;
	if (tp_payload_get_event(args, 0, &e) != TP_OK)
		return 1;
	int rv = tp_event_wait(e, 20000);
	tp_event_free(e);
	if (rv != TP_OK)
		return 2;
	tp_payload_add_string(res, "finished");
	return 3;
}
TP_TARGET(t_wait_event);

/* kill -9 of the fork server while its children run, `rounds` times in a
 * row: the running children live on, their results and exit statuses
 * reach this process, and every later start works, with each method. */
static void kill_server_with_children(int rounds)
{
	enum { KIDS = 3 };
	tp_process *kids[KIDS * 4];
	tp_event *e;
	tp_payload *args, *res;
	int n = 0, code;
	const char *s;
	TP_OK_OR_FAIL(tp_event_new(&e));
	TP_OK_OR_FAIL(tp_payload_new(&args));
	TP_OK_OR_FAIL(tp_payload_add_event(args, e));
	for (int r = 0; r < rounds; r++) {
		for (int i = 0; i < KIDS; i++) {
			tp_process_opts o = {.method = TP_START_FORKSERVER};
			TP_OK_OR_FAIL(
			    tp_process_new(&kids[n], t_wait_event, args, &o));
			TP_OK_OR_FAIL(tp_process_start(kids[n++]));
		}
		pid_t old = kill_server();
		for (int i = 0; i < n; i++)
			assert_int_equal(tp_process_is_alive(kids[i]), 1);
		expect_code(TP_START_FORKSERVER, 7); /* a new server */
		assert_true(tp__pm.server_pid != old);
		expect_code(TP_START_SPAWN, 7);
		if (!tp__nng_was_used())
			expect_code(TP_START_FORK, 7);
	}
	TP_OK_OR_FAIL(tp_event_set(e));
	for (int i = 0; i < n; i++) {
		TP_OK_OR_FAIL(tp_process_result(kids[i], &res, 20000));
		TP_OK_OR_FAIL(tp_payload_get_string(res, 0, &s));
		assert_string_equal(s, "finished");
		tp_payload_free(res);
		TP_OK_OR_FAIL(tp_process_exitcode(kids[i], &code));
		assert_int_equal(code, 3);
		tp_process_free(kids[i]);
	}
	tp_payload_free(args);
	tp_event_free(e);
}

static void test_server_death_spares_children(void **state)
{
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	kill_server_with_children(1); /* before nng: the server is forked */
	tp_test_fini();
}

static void test_server_death_spares_children_after_nng(void **state)
{
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	tp__nng_used();
	kill_server_with_children(3); /* spawned again each time */
	tp_test_fini();
}

static void test_fork_refused_after_nng(void **state)
{
	(void)state;
	tp_process *p;
	tp_process_opts o = {.method = TP_START_FORK};
	tp_test_init(TP_START_DEFAULT);
	expect_code(TP_START_FORK, 7);
	tp__nng_used();
	TP_OK_OR_FAIL(tp_process_new(&p, t_seven, NULL, &o));
	TP_EXPECT(tp_process_start(p), TP_EFORKNNG);
	tp_process_free(p);
	expect_code(TP_START_FORKSERVER, 7);
	expect_code(TP_START_SPAWN, 7);
	/* the fork server dies now: this process may no longer fork, so the
	 * next start spawns a new server from /proc/self/exe */
	pid_t old = kill_server();
	expect_code(TP_START_DEFAULT, 7);
	assert_true(tp__pm.server_pid > 0 && tp__pm.server_pid != old);
	expect_code(TP_START_SPAWN, 7);
	tp_test_fini();
	/* a later runtime of an nng process has no fork server at tp_init:
	 * the first forkserver start spawns one */
	tp_test_init(TP_START_DEFAULT);
	assert_int_equal(tp__pm.server_fd, -1);
	expect_code(TP_START_FORKSERVER, 7);
	assert_true(tp__pm.server_fd >= 0);
	tp_test_fini();
}

int main(void)
{
	tp_spawn_guard();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_garbage_on_control_channel),
	    cmocka_unit_test(test_dead_fork_server_is_replaced),
	    cmocka_unit_test(test_server_death_spares_children),
	    cmocka_unit_test(test_fork_refused_after_nng),
	    cmocka_unit_test(test_server_death_spares_children_after_nng),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
