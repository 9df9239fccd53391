/* test_process.c - tp_process under every start method: lifecycle, exit
 * codes, results, errors. */
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
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
	tp_exit_event ev;
	TP_EXPECT(tp_process_exit_event(p, &ev), TP_ESTATE);
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
	assert_null(tp_process_crash_report(p));
	TP_OK_OR_FAIL(tp_process_exit_event(p, &ev));
	assert_int_equal(ev.exitcode, 0);
	assert_int_equal(ev.signal, 0);
	assert_string_equal(ev.report, "");
	assert_null(tp_process_crash_report(NULL));
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

static void test_repr(void **state)
{
	(void)state;
	char buf[200], want[200];
	tp_process *p;
	tp_process_opts o = {.name = "child", .daemon = 1};
	tp_test_init(TP_START_DEFAULT);
	assert_string_equal(
	    tp_process_repr(tp_current_process(), buf, sizeof(buf)),
	    "<_MainProcess name='MainProcess' parent=None "
	    "started>");
	TP_OK_OR_FAIL(tp_process_new(&p, t_sleep, NULL, &o));
	snprintf(want, sizeof(want),
	         "<Process name='child' parent=%d "
	         "initial daemon>",
	         (int)getpid());
	assert_string_equal(tp_process_repr(p, buf, sizeof(buf)), want);
	TP_OK_OR_FAIL(tp_process_start(p));
	snprintf(want, sizeof(want),
	         "<Process name='child' pid=%d parent=%d "
	         "started daemon>",
	         (int)tp_process_pid(p), (int)getpid());
	assert_string_equal(tp_process_repr(p, buf, sizeof(buf)), want);
	TP_OK_OR_FAIL(tp_process_terminate(p));
	TP_OK_OR_FAIL(tp_process_join(p, 10000));
	snprintf(want, sizeof(want),
	         "<Process name='child' pid=%d parent=%d "
	         "stopped exitcode=-SIGTERM daemon>",
	         (int)tp_process_pid(p), (int)getpid());
	assert_string_equal(tp_process_repr(p, buf, sizeof(buf)), want);
	assert_string_equal(tp_process_repr(NULL, buf, sizeof(buf)), "");
	tp_process_free(p);
	tp_test_fini();
}

/* Process.close: refused while running (nothing released), then every
 * call on the handle says closed; a never-started one closes too. */
static void test_close(void **state)
{
	(void)state;
	char buf[200], want[200];
	tp_process *p, *idle;
	tp_payload *res = NULL;
	tp_exit_event ev;
	int code;
	tp_test_init(TP_START_DEFAULT);
	TP_EXPECT(tp_process_close(NULL), TP_EINVAL);
	TP_EXPECT(tp_process_close((tp_process *)tp_current_process()),
	          TP_EINVAL);
	TP_OK_OR_FAIL(tp_process_new(&p, t_sleep, NULL, NULL));
	TP_OK_OR_FAIL(tp_process_start(p));
	TP_EXPECT(tp_process_close(p), TP_ESTATE);
	assert_true(tp_process_is_alive(p));
	assert_true(tp_process_sentinel(p) >= 0);
	TP_OK_OR_FAIL(tp_process_kill(p));
	TP_OK_OR_FAIL(tp_process_join(p, 10000));
	TP_OK_OR_FAIL(tp_process_close(p));
	TP_OK_OR_FAIL(tp_process_close(p)); /* twice: allowed, as Python */
	TP_EXPECT(tp_process_start(p), TP_ECLOSED);
	TP_EXPECT(tp_process_join(p, 0), TP_ECLOSED);
	TP_EXPECT(tp_process_terminate(p), TP_ECLOSED);
	TP_EXPECT(tp_process_kill(p), TP_ECLOSED);
	TP_EXPECT(tp_process_exitcode(p, &code), TP_ECLOSED);
	TP_EXPECT(tp_process_exit_event(p, &ev), TP_ECLOSED);
	TP_EXPECT(tp_process_result(p, &res, 0), TP_ECLOSED);
	assert_null(res);
	assert_false(tp_process_is_alive(p));
	assert_int_equal(tp_process_pid(p), 0);
	assert_int_equal(tp_process_sentinel(p), -1);
	assert_null(tp_process_crash_report(p));
	assert_int_equal(tp_active_children(NULL, 0), 0);
	snprintf(want, sizeof(want), "<Process name='%s' parent=%d closed>",
	         tp_process_name(p), (int)getpid());
	assert_string_equal(tp_process_repr(p, buf, sizeof(buf)), want);
	tp_process_free(p);
	TP_OK_OR_FAIL(tp_process_new(&idle, t_noop, NULL, NULL));
	TP_OK_OR_FAIL(tp_process_close(idle));
	TP_EXPECT(tp_process_start(idle), TP_ECLOSED);
	tp_process_free(idle);
	tp_test_fini();
}

/* tp_wait drains a large result on the way, so the child can exit. */
static void test_wait_drains_big_result(void **state)
{
	(void)state;
	tp_process *p;
	tp_payload *args, *res;
	int fd, ready;
	const void *data;
	size_t len;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_payload_new(&args));
	TP_OK_OR_FAIL(tp_payload_add_int(args, 4 << 20));
	TP_OK_OR_FAIL(tp_process_new(&p, t_big, args, NULL));
	tp_payload_free(args);
	TP_OK_OR_FAIL(tp_process_start(p));
	fd = tp_process_sentinel(p);
	assert_int_equal(tp_wait(&fd, 1, 20000, &ready), 1);
	assert_int_equal(ready, 1);
	assert_false(tp_process_is_alive(p));
	TP_OK_OR_FAIL(tp_process_result(p, &res, 0));
	TP_OK_OR_FAIL(tp_payload_get_bytes(res, 0, &data, &len));
	assert_int_equal(len, 4 << 20);
	tp_payload_free(res);
	/* the sentinel of an exited child stays valid and ready */
	assert_int_equal(tp_process_sentinel(p), fd);
	assert_int_equal(tp_wait(&fd, 1, 0, &ready), 1);
	tp_process_free(p);
	tp_test_fini();
}

/* A freed running child is kept by the runtime: reaped by
 * tp_active_children once it exits, finished at tp_fini otherwise. */
static void test_free_running_child(void **state)
{
	(void)state;
	tp_process *p, *q, *list[4];
	tp_payload *args;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_process_new(&p, t_noop, NULL, NULL));
	TP_OK_OR_FAIL(tp_process_start(p));
	tp_process_free(p);
	for (int i = 0; i < 2000 && tp_test_children() > 1; i++)
		usleep(2000);
	assert_int_equal(tp_active_children(list, 4), 0);
	TP_OK_OR_FAIL(tp_payload_new(&args));
	TP_OK_OR_FAIL(tp_payload_add_int(args, 0));
	TP_OK_OR_FAIL(tp_payload_add_int(args, 5));
	TP_OK_OR_FAIL(tp_process_new(&q, t_add, args, NULL));
	tp_payload_free(args);
	TP_OK_OR_FAIL(tp_process_start(q));
	tp_process_free(q); /* runs on; tp_fini joins it */
	tp_test_fini();
}

/* exit without tp_fini: the atexit path joins non-daemonic children. */
static int t_touch_later(const tp_payload *args, tp_payload *res)
{
	const char *path;
	(void)res;
	tp_payload_get_string(args, 0, &path);
	usleep(100000);
	FILE *f = fopen(path, "w");
	if (f != NULL)
		fclose(f);
	return 0;
}
TP_TARGET(t_touch_later);

static void test_atexit_joins_children(void **state)
{
	(void)state;
	char path[128];
	int st;
	snprintf(path, sizeof(path), "/tmp/tp-test-%d-touched", (int)getpid());
	unlink(path);
	pid_t helper = fork();
	if (helper == 0) {
		tp_process *p, *d;
		tp_payload *args;
		tp_process_opts od = {.daemon = 1};
		tp_init_opts io = {.runtime_base = path};
		strcat(path, ".base");
		if (tp_init(&io) != TP_OK)
			_exit(10);
		path[strlen(path) - 5] = '\0';
		tp_payload_new(&args);
		tp_payload_add_string(args, path);
		if (tp_process_new(&p, t_touch_later, args, NULL) != TP_OK ||
		    tp_process_start(p) != TP_OK ||
		    tp_process_new(&d, t_sleep, NULL, &od) != TP_OK ||
		    tp_process_start(d) != TP_OK)
			_exit(11);
		exit(0);
	}
	assert_true(helper > 0);
	assert_int_equal(waitpid(helper, &st, 0), helper);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(access(path, F_OK), 0);
	unlink(path);
	strcat(path, ".base");
	assert_int_equal(rmdir(path), 0); /* empty: the run dir is gone */
}

/* The child's environment as Python sets it: stdin is /dev/null, SIGINT
 * has its default action, the parent's pid and name are known. */
static int t_env(const tp_payload *args, tp_payload *res)
{
	struct stat a, b;
	struct sigaction sa;
	(void)args;
	if (fstat(0, &a) != 0 || stat("/dev/null", &b) != 0 ||
	    a.st_rdev != b.st_rdev)
		return 1;
	if (sigaction(SIGINT, NULL, &sa) != 0 || sa.sa_handler != SIG_DFL)
		return 2;
	if (tp_parent_process() == NULL ||
	    tp_process_pid(tp_parent_process()) != getppid())
		return 0; /* forkserver: the real parent is the server */
	tp_payload_add_int(res, 1);
	return 0;
}
TP_TARGET(t_env);

static void test_child_environment(void **state)
{
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	for (int i = 0; i < 3; i++) {
		tp_process *p;
		tp_process_opts o = {.method = methods[i]};
		int code;
		TP_OK_OR_FAIL(tp_process_new(&p, t_env, NULL, &o));
		TP_OK_OR_FAIL(tp_process_start(p));
		TP_OK_OR_FAIL(tp_process_join(p, 10000));
		TP_OK_OR_FAIL(tp_process_exitcode(p, &code));
		assert_int_equal(code, 0);
		tp_process_free(p);
	}
	tp_test_fini();
}

/* tp_cpu_count follows the CPU affinity mask, as os.sched_getaffinity. */
/* Leaves output in stdout's buffer (no newline, no flush) on a file
 * named by args[0]: the child's exit path must flush it. */
static int t_print_unflushed(const tp_payload *args, tp_payload *res)
{
	const char *path;
	(void)res;
	if (tp_payload_get_string(args, 0, &path) != TP_OK)
		return 1;
	fflush(stdout);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0)
		return 2;
	close(fd);
	setvbuf(stdout, NULL, _IOFBF, BUFSIZ); /* the runner may not buffer */
	printf("unflushed %d", 42);
	return 0;
}
TP_TARGET(t_print_unflushed);

static void test_stdout_flushed_at_exit(void **state)
{
	(void)state;
	char path[128], buf[64] = "";
	snprintf(path, sizeof(path), "/tmp/tp-test-%d-stdout", (int)getpid());
	for (size_t i = 0; i < 3; i++) {
		tp_payload *args;
		tp_process *p;
		tp_process_opts o = {.method = methods[i]};
		int code = -1;
		unlink(path);
		tp_test_init(methods[i]);
		TP_OK_OR_FAIL(tp_payload_new(&args));
		TP_OK_OR_FAIL(tp_payload_add_string(args, path));
		TP_OK_OR_FAIL(tp_process_new(&p, t_print_unflushed, args, &o));
		tp_payload_free(args);
		TP_OK_OR_FAIL(tp_process_start(p));
		TP_OK_OR_FAIL(tp_process_join(p, 10000));
		TP_OK_OR_FAIL(tp_process_exitcode(p, &code));
		tp_process_free(p);
		tp_test_fini();
		FILE *f = fopen(path, "r");
		size_t n = f != NULL ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
		if (f != NULL)
			fclose(f);
		unlink(path);
		buf[n] = '\0';
		assert_int_equal(code, 0);
		assert_string_equal(buf, "unflushed 42");
	}
}

static void test_cpu_count_affinity(void **state)
{
	(void)state;
	int st;
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	assert_true(tp_cpu_count() >= 1 && tp_cpu_count() <= online);
	pid_t pid = fork();
	if (pid == 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(0, &set);
		if (sched_setaffinity(0, sizeof(set), &set) != 0)
			_exit(2);
		_exit(tp_cpu_count() == 1 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
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
	    cmocka_unit_test(test_repr),
	    cmocka_unit_test(test_close),
	    cmocka_unit_test(test_wait_drains_big_result),
	    cmocka_unit_test(test_free_running_child),
	    cmocka_unit_test(test_atexit_joins_children),
	    cmocka_unit_test(test_child_environment),
	    cmocka_unit_test(test_stdout_flushed_at_exit),
	    cmocka_unit_test(test_cpu_count_affinity),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
