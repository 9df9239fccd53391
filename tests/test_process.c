/* test_process.c - tp_process under every start method: lifecycle, exit
 * codes, results, errors. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static int t_noop(const tp_payload *args, tp_payload *res)
{
	(void)args;
	(void)res;
	return 0;
}
TP_TARGET(t_noop);

/* Returns args[0] + 1 as the result and args[1] as the exit code. */
static int t_add(const tp_payload *args, tp_payload *res)
{
	int64_t v = 0, code = 0;
	tp_payload_get_int(args, 0, &v);
	tp_payload_get_int(args, 1, &code);
	tp_payload_add_int(res, v + 1);
	tp_payload_add_string(res, tp_process_name(tp_current_process()));
	return (int)code;
}
TP_TARGET(t_add);

static int t_sleep(const tp_payload *args, tp_payload *res)
{
	(void)args;
	(void)res;
	for (;;)
		pause();
	return 0;
}
TP_TARGET(t_sleep);

static int t_exit3(const tp_payload *args, tp_payload *res)
{
	(void)args;
	tp_payload_add_int(res, 1);
	exit(3);
}
TP_TARGET(t_exit3);

static int t_big(const tp_payload *args, tp_payload *res)
{
	int64_t n = 0;
	tp_payload_get_int(args, 0, &n);
	char *buf = malloc((size_t)n);
	for (int64_t i = 0; i < n; i++)
		buf[i] = (char)(i * 7);
	tp_payload_add_bytes(res, buf, (size_t)n);
	free(buf);
	return 0;
}
TP_TARGET(t_big);

static int t_unregistered(const tp_payload *args, tp_payload *res)
{
	(void)args;
	(void)res;
	return 0;
}

static const tp_start_method methods[] = {TP_START_FORKSERVER, TP_START_SPAWN,
                                          TP_START_FORK};

static void run_add(tp_start_method m)
{
	tp_payload *args, *res = NULL;
	tp_process *p;
	tp_process_opts o = {.method = m};
	int64_t v;
	int code;
	const char *name;
	TP_OK_OR_FAIL(tp_payload_new(&args));
	TP_OK_OR_FAIL(tp_payload_add_int(args, 41));
	TP_OK_OR_FAIL(tp_payload_add_int(args, 7));
	TP_OK_OR_FAIL(tp_process_new(&p, t_add, args, &o));
	tp_payload_free(args);
	TP_EXPECT(tp_process_exitcode(p, &code), TP_ESTATE);
	assert_int_equal(tp_process_pid(p), 0);
	assert_int_equal(tp_process_sentinel(p), -1);
	TP_OK_OR_FAIL(tp_process_start(p));
	assert_true(tp_process_pid(p) > 0);
	assert_true(tp_process_sentinel(p) >= 0);
	TP_OK_OR_FAIL(tp_process_result(p, &res, 10000));
	TP_OK_OR_FAIL(tp_payload_get_int(res, 0, &v));
	assert_int_equal(v, 42);
	TP_OK_OR_FAIL(tp_payload_get_string(res, 1, &name));
	assert_string_equal(name, tp_process_name(p));
	tp_payload_free(res);
	TP_EXPECT(tp_process_result(p, &res, 0), TP_ENOENT);
	TP_OK_OR_FAIL(tp_process_exitcode(p, &code));
	assert_int_equal(code, 7);
	assert_false(tp_process_is_alive(p));
	TP_OK_OR_FAIL(tp_process_join(p, 0));
	tp_process_free(p);
}

static void test_start_join_result_every_method(void **state)
{
	(void)state;
	for (size_t i = 0; i < 3; i++) {
		tp_test_init(methods[i]);
		run_add(methods[i]);
		/* and each method per process under another default */
		run_add(methods[(i + 1) % 3]);
		tp_test_fini();
	}
}

static void test_names(void **state)
{
	(void)state;
	tp_process *a, *b;
	tp_process_opts o = {.name = "worker"};
	tp_test_init(TP_START_DEFAULT);
	assert_string_equal(tp_process_name(tp_current_process()),
	                    "MainProcess");
	assert_null(tp_parent_process());
	TP_OK_OR_FAIL(tp_process_new(&a, t_noop, NULL, NULL));
	TP_OK_OR_FAIL(tp_process_new(&b, t_noop, NULL, &o));
	assert_string_equal(tp_process_name(b), "worker");
	assert_int_equal(strncmp(tp_process_name(a), "Process-", 8), 0);
	tp_process_free(a);
	tp_process_free(b);
	tp_test_fini();
}

static void test_errors(void **state)
{
	(void)state;
	tp_process *p;
	tp_payload *res;
	int code;
	TP_EXPECT(tp_process_new(&p, t_noop, NULL, NULL), TP_ENOTINIT);
	tp_test_init(TP_START_DEFAULT);
	TP_EXPECT(tp_process_new(NULL, t_noop, NULL, NULL), TP_EINVAL);
	TP_EXPECT(tp_process_new(&p, NULL, NULL, NULL), TP_EINVAL);
	TP_EXPECT(tp_process_new(&p, t_unregistered, NULL, NULL), TP_ENOTREG);
	tp_process_opts bad = {.method = (tp_start_method)9};
	TP_EXPECT(tp_process_new(&p, t_noop, NULL, &bad), TP_EINVAL);
	TP_EXPECT(tp_target_register("t_noop", t_add), TP_EALREADY);
	TP_OK_OR_FAIL(tp_target_register("t_noop", t_noop));
	TP_EXPECT(tp_target_register(NULL, t_noop), TP_EINVAL);
	TP_OK_OR_FAIL(tp_process_new(&p, t_noop, NULL, NULL));
	TP_EXPECT(tp_process_join(p, 0), TP_ESTATE);
	TP_EXPECT(tp_process_terminate(p), TP_ESTATE);
	TP_EXPECT(tp_process_kill(p), TP_ESTATE);
	TP_EXPECT(tp_process_result(p, &res, 0), TP_ESTATE);
	TP_EXPECT(tp_process_exitcode(p, &code), TP_ESTATE);
	TP_OK_OR_FAIL(tp_process_start(p));
	TP_EXPECT(tp_process_start(p), TP_EALREADY);
	TP_EXPECT(tp_process_join(p, -2), TP_EINVAL);
	TP_OK_OR_FAIL(tp_process_join(p, -1));
	TP_EXPECT(tp_process_start(p), TP_EALREADY);
	/* terminate and kill of a finished one succeed and change nothing */
	TP_OK_OR_FAIL(tp_process_terminate(p));
	TP_OK_OR_FAIL(tp_process_kill(p));
	TP_OK_OR_FAIL(tp_process_exitcode(p, &code));
	assert_int_equal(code, 0);
	tp_process_free(p);
	tp_process_free(NULL);
	TP_EXPECT(tp_process_join(NULL, 0), TP_EINVAL);
	tp_test_fini();
}

static void test_join_timeout_terminate_kill(void **state)
{
	(void)state;
	for (size_t i = 0; i < 3; i++) {
		tp_process *p, *q;
		tp_process_opts o = {.method = methods[i]};
		tp_payload *res;
		int code;
		tp_test_init(TP_START_DEFAULT);
		TP_OK_OR_FAIL(tp_process_new(&p, t_sleep, NULL, &o));
		TP_OK_OR_FAIL(tp_process_start(p));
		TP_EXPECT(tp_process_join(p, 50), TP_ETIMEDOUT);
		TP_EXPECT(tp_process_result(p, &res, 0), TP_ETIMEDOUT);
		assert_true(tp_process_is_alive(p));
		TP_EXPECT(tp_process_exitcode(p, &code), TP_ESTATE);
		TP_OK_OR_FAIL(tp_process_terminate(p));
		TP_OK_OR_FAIL(tp_process_join(p, 10000));
		TP_OK_OR_FAIL(tp_process_exitcode(p, &code));
		assert_int_equal(code, -SIGTERM);
		TP_EXPECT(tp_process_result(p, &res, 0), TP_EDIED);
		/* kill right after start */
		TP_OK_OR_FAIL(tp_process_new(&q, t_sleep, NULL, &o));
		TP_OK_OR_FAIL(tp_process_start(q));
		TP_OK_OR_FAIL(tp_process_kill(q));
		TP_OK_OR_FAIL(tp_process_join(q, 10000));
		TP_OK_OR_FAIL(tp_process_exitcode(q, &code));
		assert_int_equal(code, -SIGKILL);
		tp_process_free(p);
		tp_process_free(q);
		tp_test_fini();
	}
}

static void test_exit_from_target(void **state)
{
	(void)state;
	for (size_t i = 0; i < 3; i++) {
		tp_process *p;
		tp_process_opts o = {.method = methods[i]};
		tp_payload *res;
		int code;
		tp_test_init(TP_START_DEFAULT);
		TP_OK_OR_FAIL(tp_process_new(&p, t_exit3, NULL, &o));
		TP_OK_OR_FAIL(tp_process_start(p));
		TP_EXPECT(tp_process_result(p, &res, 10000), TP_EDIED);
		TP_OK_OR_FAIL(tp_process_exitcode(p, &code));
		assert_int_equal(code, 3);
		tp_process_free(p);
		tp_test_fini();
	}
}

static void test_big_result(void **state)
{
	(void)state;
	for (size_t i = 0; i < 3; i++) {
		tp_process *p;
		tp_process_opts o = {.method = methods[i]};
		tp_payload *args, *res;
		const void *data;
		size_t len, n = 8u << 20;
		tp_test_init(TP_START_DEFAULT);
		TP_OK_OR_FAIL(tp_payload_new(&args));
		TP_OK_OR_FAIL(tp_payload_add_int(args, (int64_t)n));
		TP_OK_OR_FAIL(tp_process_new(&p, t_big, args, &o));
		tp_payload_free(args);
		TP_OK_OR_FAIL(tp_process_start(p));
		TP_OK_OR_FAIL(tp_process_join(p, 20000));
		TP_OK_OR_FAIL(tp_process_result(p, &res, 0));
		TP_OK_OR_FAIL(tp_payload_get_bytes(res, 0, &data, &len));
		assert_int_equal(len, n);
		const char *c = data;
		for (size_t k = 0; k < n; k += 4093)
			assert_int_equal(c[k], (char)(k * 7));
		tp_payload_free(res);
		tp_process_free(p);
		tp_test_fini();
	}
}

int main(void)
{
	tp_spawn_guard();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_start_join_result_every_method),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_join_timeout_terminate_kill),
	    cmocka_unit_test(test_exit_from_target),
	    cmocka_unit_test(test_big_result),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
