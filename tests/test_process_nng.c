/* test_process_nng.c - start methods once the process touched nng: fork is
 * refused (TP_EFORKNNG), forkserver and spawn still work. In its own
 * executable because the "nng touched" flag is process-wide and final. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "process_int.h"
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

/* A fork server killed from outside is replaced at the next start. */
static void test_dead_fork_server_is_replaced(void **state)
{
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	pid_t old = tp__pm.server_pid;
	assert_true(old > 0);
	kill(old, SIGKILL);
	expect_code(TP_START_FORKSERVER, 7);
	assert_true(tp__pm.server_pid != old);
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
	/* the fork server dies now: it can no longer be replaced by a fork
	 * of this process, so the start reports it */
	kill(tp__pm.server_pid, SIGKILL);
	TP_OK_OR_FAIL(tp_process_new(&p, t_seven, NULL, NULL));
	TP_EXPECT(tp_process_start(p), TP_EDIED);
	tp_process_free(p);
	expect_code(TP_START_SPAWN, 7);
	tp_test_fini();
	/* a later runtime of an nng process has no fork server: forkserver
	 * starts fall back to spawn */
	tp_test_init(TP_START_DEFAULT);
	assert_int_equal(tp__pm.server_fd, -1);
	expect_code(TP_START_FORKSERVER, 7);
	tp_test_fini();
}

int main(void)
{
	tp_spawn_guard();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_garbage_on_control_channel),
	    cmocka_unit_test(test_dead_fork_server_is_replaced),
	    cmocka_unit_test(test_fork_refused_after_nng),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
