/* test_process_events.c - crash reports, exit events and monitors, tp_wait,
 * no orphans (PR_SET_PDEATHSIG), daemons at exit, nested children. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime_int.h"
#include "testutil.h"

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) != 0)
		;
}

static int t_sleep_ms(const tp_payload *args, tp_payload *res)
{
	int64_t ms = 0;
	(void)res;
	tp_payload_get_int(args, 0, &ms);
	if (ms < 0)
		for (;;)
			pause();
	sleep_ms((long)ms);
	return 0;
}
TP_TARGET(t_sleep_ms);

/* A real fault; not instrumented, so the sanitizers let it happen. */
__attribute__((no_sanitize("address", "undefined"))) static int
t_segv(const tp_payload *args, tp_payload *res)
{
	(void)args;
	(void)res;
	volatile int *null = NULL;
	*null = 1;
	return 0;
}
TP_TARGET(t_segv);

static int t_abort(const tp_payload *args, tp_payload *res)
{
	(void)args;
	(void)res;
	abort();
}
TP_TARGET(t_abort);

/* Monitors the pid in args[0] and returns its event. */
static int t_monitor(const tp_payload *args, tp_payload *res)
{
	int64_t pid = 0;
	tp_monitor *m;
	tp_exit_event ev;
	tp_payload_get_int(args, 0, &pid);
	if (tp_monitor_new(&m, (pid_t)pid) != TP_OK)
		return 10;
	tp_payload_add_string(res, "watching");
	int rv = tp_monitor_next(m, &ev, 20000);
	if (rv == TP_OK) {
		tp_payload_add_int(res, ev.exitcode);
		tp_payload_add_string(res, ev.name);
	}
	tp_monitor_free(m);
	return rv == TP_OK ? 0 : 11;
}
TP_TARGET(t_monitor);

static tp_process *start(tp_target_fn fn, int64_t arg, tp_start_method m)
{
	tp_process *p;
	tp_payload *args;
	tp_process_opts o = {.method = m};
	TP_OK_OR_FAIL(tp_payload_new(&args));
	TP_OK_OR_FAIL(tp_payload_add_int(args, arg));
	TP_OK_OR_FAIL(tp_process_new(&p, fn, args, &o));
	tp_payload_free(args);
	TP_OK_OR_FAIL(tp_process_start(p));
	return p;
}

static void test_crash_report_and_monitor(void **state)
{
	(void)state;
	static const tp_start_method ms[] = {TP_START_FORKSERVER,
	                                     TP_START_SPAWN, TP_START_FORK};
	for (int i = 0; i < 3; i++) {
		tp_test_init(TP_START_DEFAULT);
		tp_process *p = start(t_segv, 0, ms[i]);
		tp_monitor *m;
		tp_exit_event ev;
		int code;
		TP_OK_OR_FAIL(tp_monitor_new(&m, tp_process_pid(p)));
		TP_OK_OR_FAIL(tp_process_join(p, 10000));
		TP_OK_OR_FAIL(tp_process_exitcode(p, &code));
		assert_int_equal(code, -SIGSEGV);
		assert_non_null(strstr(tp_process_crash_report(p), "t_segv"));
		tp_exit_event pe;
		TP_OK_OR_FAIL(tp_process_exit_event(p, &pe));
		assert_int_equal(pe.pid, tp_process_pid(p));
		assert_int_equal(pe.signal, SIGSEGV);
		assert_int_equal(pe.exitcode, -SIGSEGV);
		assert_string_equal(pe.name, tp_process_name(p));
		assert_string_equal(pe.report, tp_process_crash_report(p));
		TP_EXPECT(tp_process_exit_event(p, NULL), TP_EINVAL);
		TP_OK_OR_FAIL(tp_monitor_next(m, &ev, 10000));
		assert_int_equal(ev.pid, tp_process_pid(p));
		assert_int_equal(ev.exitcode, -SIGSEGV);
		assert_int_equal(ev.signal, SIGSEGV);
		assert_string_equal(ev.name, tp_process_name(p));
		assert_non_null(strstr(ev.report, "SIGSEGV"));
		assert_non_null(strstr(ev.report, "t_segv"));
		TP_EXPECT(tp_monitor_next(m, &ev, 0), TP_ENOENT);
		tp_monitor_free(m);
		/* a monitor made after the exit gets the event at once */
		TP_OK_OR_FAIL(tp_monitor_new(&m, tp_process_pid(p)));
		TP_OK_OR_FAIL(tp_monitor_next(m, &ev, 0));
		assert_int_equal(ev.signal, SIGSEGV);
		tp_monitor_free(m);
		tp_process_free(p);
		p = start(t_abort, 0, ms[i]);
		TP_OK_OR_FAIL(tp_process_join(p, 10000));
		TP_OK_OR_FAIL(tp_process_exitcode(p, &code));
		assert_int_equal(code, -SIGABRT);
		assert_non_null(strstr(tp_process_crash_report(p), "SIGABRT"));
		tp_process_free(p);
		tp_test_fini();
	}
}

static void test_monitor_from_non_parent(void **state)
{
	(void)state;
	tp_monitor *m;
	tp_exit_event ev;
	tp_payload *res;
	const char *s, *name;
	int64_t code;
	TP_EXPECT(tp_monitor_new(&m, getpid()), TP_ENOTINIT);
	tp_test_init(TP_START_DEFAULT);
	TP_EXPECT(tp_monitor_new(NULL, 1), TP_EINVAL);
	assert_int_equal(tp_monitor_fd(NULL), -1);
	/* a pid that does not exist and never exited in this run */
	TP_EXPECT(tp_monitor_new(&m, 0x3ffffff0), TP_ENOENT);
	TP_EXPECT(tp_monitor_new(&m, 0), TP_EINVAL);
	TP_EXPECT(tp_monitor_next(NULL, &ev, 0), TP_EINVAL);
	tp_monitor_free(NULL);
	tp_process *a = start(t_sleep_ms, -1, TP_START_DEFAULT);
	tp_process *b = start(t_monitor, tp_process_pid(a), TP_START_SPAWN);
	TP_OK_OR_FAIL(tp_monitor_new(&m, tp_process_pid(a)));
	TP_EXPECT(tp_monitor_next(m, &ev, 20), TP_ETIMEDOUT);
	TP_EXPECT(tp_monitor_next(m, &ev, -2), TP_EINVAL);
	TP_EXPECT(tp_monitor_next(m, NULL, 0), TP_EINVAL);
	int mfd = tp_monitor_fd(m), mready;
	assert_true(mfd >= 0);
	TP_EXPECT(tp_process_join(b, 100), TP_ETIMEDOUT);
	TP_OK_OR_FAIL(tp_process_kill(a));
	/* the event is published when the parent (the real parent under
	 * every method) observes the exit */
	TP_OK_OR_FAIL(tp_process_join(a, 10000));
	assert_int_equal(tp_wait(&mfd, 1, 20000, &mready), 1);
	TP_OK_OR_FAIL(tp_process_result(b, &res, 20000));
	TP_OK_OR_FAIL(tp_payload_get_string(res, 0, &s));
	assert_string_equal(s, "watching");
	TP_OK_OR_FAIL(tp_payload_get_int(res, 1, &code));
	assert_int_equal(code, -SIGKILL);
	TP_OK_OR_FAIL(tp_payload_get_string(res, 2, &name));
	assert_string_equal(name, tp_process_name(a));
	tp_payload_free(res);
	TP_OK_OR_FAIL(tp_monitor_next(m, &ev, 10000));
	assert_int_equal(ev.exitcode, -SIGKILL);
	tp_monitor_free(m);
	tp_process_free(a);
	tp_process_free(b);
	tp_test_fini();
}

static void test_wait_sentinels(void **state)
{
	(void)state;
	int fds[3], ready[3];
	tp_test_init(TP_START_DEFAULT);
	tp_process *p[3] = {start(t_sleep_ms, -1, TP_START_DEFAULT),
	                    start(t_sleep_ms, 0, TP_START_DEFAULT),
	                    start(t_sleep_ms, -1, TP_START_SPAWN)};
	for (int i = 0; i < 3; i++)
		fds[i] = tp_process_sentinel(p[i]);
	assert_int_equal(tp_wait(fds, 3, 10000, ready), 1);
	assert_int_equal(ready[0], 0);
	assert_int_equal(ready[1], 1);
	assert_int_equal(ready[2], 0);
	TP_OK_OR_FAIL(tp_process_join(p[1], 0)); /* ready: no wait */
	fds[1] = fds[0];
	assert_int_equal(tp_wait(fds, 3, 0, ready), 0);
	assert_int_equal(tp_wait(NULL, 3, 0, ready), -TP_EINVAL);
	assert_int_equal(tp_wait(fds, 0, 0, ready), -TP_EINVAL);
	fds[1] = -1;
	assert_int_equal(tp_wait(fds, 3, 0, ready), -TP_EINVAL);
	tp_process *active[4];
	assert_int_equal(tp_active_children(active, 4), 2);
	TP_OK_OR_FAIL(tp_process_kill(p[2]));
	TP_OK_OR_FAIL(tp_process_join(p[2], 10000));
	assert_int_equal(tp_active_children(active, 4), 1);
	assert_ptr_equal(active[0], p[0]);
	TP_OK_OR_FAIL(tp_process_terminate(p[0]));
	fds[0] = tp_process_sentinel(p[0]);
	assert_int_equal(tp_wait(fds, 1, 10000, ready), 1);
	assert_int_equal(tp_active_children(NULL, 0), 0);
	/* more fds than the stack array holds */
	int many[40], rd[40];
	for (int i = 0; i < 40; i++)
		many[i] = fds[0];
	assert_int_equal(tp_wait(many, 40, 0, rd), 40);
	assert_int_equal(tp_wait(fds, 1, -2, ready), -TP_EINVAL);
	for (int i = 0; i < 3; i++)
		tp_process_free(p[i]);
	assert_true(tp_cpu_count() >= 1);
	tp_test_fini();
}

/* Starts a child that sleeps forever, writes its pid to the file named
 * in args[0], then sleeps itself: killing this one must take the
 * grandchild with it. */
static int t_middle(const tp_payload *args, tp_payload *res)
{
	const char *path;
	int64_t method = 0;
	tp_process *g;
	tp_payload *ga;
	(void)res;
	tp_payload_get_string(args, 0, &path);
	tp_payload_get_int(args, 1, &method);
	tp_payload_new(&ga);
	tp_payload_add_int(ga, -1);
	tp_process_opts o = {.method = (tp_start_method)method};
	if (tp_process_new(&g, t_sleep_ms, ga, &o) != TP_OK ||
	    tp_process_start(g) != TP_OK)
		return 20;
	FILE *f = fopen(path, "w");
	fprintf(f, "%d\n", (int)tp_process_pid(g));
	fclose(f);
	for (;;)
		pause();
}
TP_TARGET(t_middle);

static int gone(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return 1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 1;
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	return p != NULL && (p[2] == 'Z' || p[2] == 'X');
}

static void test_no_orphans_when_parent_killed(void **state)
{
	(void)state;
	static const tp_start_method ms[] = {TP_START_FORKSERVER,
	                                     TP_START_SPAWN};
	for (int i = 0; i < 2; i++) {
		char path[128];
		tp_process *mid;
		tp_payload *args;
		int pid = 0;
		tp_test_init(TP_START_DEFAULT);
		snprintf(path, sizeof(path), "%s/gpid", tp_test_base());
		unlink(path);
		TP_OK_OR_FAIL(tp_payload_new(&args));
		TP_OK_OR_FAIL(tp_payload_add_string(args, path));
		TP_OK_OR_FAIL(tp_payload_add_int(args, ms[i]));
		TP_OK_OR_FAIL(tp_process_new(&mid, t_middle, args, NULL));
		tp_payload_free(args);
		TP_OK_OR_FAIL(tp_process_start(mid));
		for (int t = 0; t < 2000 && pid == 0; t++) {
			FILE *f = fopen(path, "r");
			if (f != NULL) {
				if (fscanf(f, "%d", &pid) != 1)
					pid = 0;
				fclose(f);
			}
			if (pid == 0)
				sleep_ms(5);
		}
		assert_true(pid > 0);
		assert_false(gone(pid));
		TP_OK_OR_FAIL(tp_process_kill(mid));
		TP_OK_OR_FAIL(tp_process_join(mid, 10000));
		for (int t = 0; t < 2000 && !gone(pid); t++)
			sleep_ms(5);
		assert_true(gone(pid));
		unlink(path);
		tp_process_free(mid);
		tp_test_fini();
	}
}

static void test_daemon_and_non_daemon_at_exit(void **state)
{
	(void)state;
	tp_process *d, *n;
	tp_payload *args;
	tp_process_opts od = {.daemon = 1};
	int code;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_payload_new(&args));
	TP_OK_OR_FAIL(tp_payload_add_int(args, -1));
	TP_OK_OR_FAIL(tp_process_new(&d, t_sleep_ms, args, &od));
	tp_payload_clear(args);
	TP_OK_OR_FAIL(tp_payload_add_int(args, 100));
	TP_OK_OR_FAIL(tp_process_new(&n, t_sleep_ms, args, NULL));
	tp_payload_free(args);
	assert_true(tp_process_daemon(d));
	assert_false(tp_process_daemon(n));
	TP_OK_OR_FAIL(tp_process_start(d));
	TP_OK_OR_FAIL(tp_process_start(n));
	tp_test_fini(); /* terminates d, joins n */
	TP_OK_OR_FAIL(tp_process_exitcode(d, &code));
	assert_int_equal(code, -SIGTERM);
	TP_OK_OR_FAIL(tp_process_exitcode(n, &code));
	assert_int_equal(code, 0);
	tp_process_free(d);
	tp_process_free(n);
}

/* In a daemon: starting a child must fail with TP_EDAEMON. */
static int t_daemon_child(const tp_payload *args, tp_payload *res)
{
	tp_process *p;
	(void)args;
	(void)res;
	if (tp_process_new(&p, t_sleep_ms, NULL, NULL) != TP_OK)
		return 1;
	int rv = tp_process_start(p);
	tp_process_free(p);
	return rv == TP_EDAEMON ? 0 : 2;
}
TP_TARGET(t_daemon_child);

static void test_daemon_cannot_have_children(void **state)
{
	(void)state;
	tp_process *p;
	tp_process_opts o = {.daemon = 1};
	int code;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_process_new(&p, t_daemon_child, NULL, &o));
	TP_OK_OR_FAIL(tp_process_start(p));
	TP_OK_OR_FAIL(tp_process_join(p, 10000));
	TP_OK_OR_FAIL(tp_process_exitcode(p, &code));
	assert_int_equal(code, 0);
	tp_process_free(p);
	tp_test_fini();
}

/* Starts a nested child and returns its name, its parent's name as the
 * grandchild saw it, and the grandchild's exit code. */
static int t_parent_name(const tp_payload *args, tp_payload *res)
{
	(void)args;
	tp_payload_add_string(res, tp_process_name(tp_parent_process()));
	tp_payload_add_int(res, tp_process_pid(tp_parent_process()));
	return 0;
}
TP_TARGET(t_parent_name);

static int t_nested(const tp_payload *args, tp_payload *res)
{
	tp_process *g;
	tp_payload *r = NULL;
	const char *pname;
	int64_t method = 0, ppid = 0;
	tp_payload_get_int(args, 0, &method);
	tp_process_opts o = {.method = (tp_start_method)method};
	if (tp_process_new(&g, t_parent_name, NULL, &o) != TP_OK ||
	    tp_process_start(g) != TP_OK || tp_process_result(g, &r, 20000))
		return 1;
	tp_payload_add_string(res, tp_process_name(g));
	tp_payload_get_string(r, 0, &pname);
	tp_payload_add_string(res, pname);
	tp_payload_get_int(r, 1, &ppid);
	tp_payload_add_int(res, ppid == getpid());
	tp_payload_free(r);
	tp_process_free(g);
	return 0;
}
TP_TARGET(t_nested);

static void test_nested_children(void **state)
{
	(void)state;
	static const tp_start_method ms[] = {TP_START_FORKSERVER,
	                                     TP_START_SPAWN, TP_START_FORK};
	for (int i = 0; i < 3; i++) {
		tp_test_init(TP_START_DEFAULT);
		tp_process *p = start(t_nested, ms[i], ms[(i + 1) % 3]);
		tp_payload *res;
		const char *gname, *pname;
		char want[160];
		int64_t same;
		TP_OK_OR_FAIL(tp_process_result(p, &res, 20000));
		TP_OK_OR_FAIL(tp_payload_get_string(res, 0, &gname));
		snprintf(want, sizeof(want), "%s:1", tp_process_name(p));
		assert_string_equal(gname, want);
		TP_OK_OR_FAIL(tp_payload_get_string(res, 1, &pname));
		assert_string_equal(pname, tp_process_name(p));
		TP_OK_OR_FAIL(tp_payload_get_int(res, 2, &same));
		assert_int_equal(same, 1);
		tp_payload_free(res);
		tp_process_free(p);
		tp_test_fini();
	}
}

/* The parent's default start method is the child's default too. */
static int t_default_method(const tp_payload *args, tp_payload *res)
{
	(void)args;
	tp_payload_add_int(res, tp__rt.method);
	return 0;
}
TP_TARGET(t_default_method);

static void test_default_method_inherited(void **state)
{
	(void)state;
	static const tp_start_method ms[] = {TP_START_FORKSERVER,
	                                     TP_START_SPAWN, TP_START_FORK};
	for (int i = 0; i < 3; i++) {
		tp_payload *res;
		int64_t m;
		tp_test_init(ms[i]);
		tp_process *p = start(t_default_method, 0, TP_START_DEFAULT);
		TP_OK_OR_FAIL(tp_process_result(p, &res, 10000));
		TP_OK_OR_FAIL(tp_payload_get_int(res, 0, &m));
		assert_int_equal(m, ms[i]);
		tp_payload_free(res);
		tp_process_free(p);
		tp_test_fini();
	}
}

/* new_group: kill reaches the child's own children. */
static void test_new_group_kill_reaches_tree(void **state)
{
	(void)state;
	char path[128];
	tp_process *mid;
	tp_payload *args;
	tp_process_opts o = {.new_group = 1};
	int pid = 0, code;
	tp_test_init(TP_START_DEFAULT);
	snprintf(path, sizeof(path), "%s/gpid", tp_test_base());
	TP_OK_OR_FAIL(tp_payload_new(&args));
	TP_OK_OR_FAIL(tp_payload_add_string(args, path));
	TP_OK_OR_FAIL(tp_payload_add_int(args, TP_START_FORK));
	TP_OK_OR_FAIL(tp_process_new(&mid, t_middle, args, &o));
	tp_payload_free(args);
	TP_OK_OR_FAIL(tp_process_start(mid));
	assert_int_equal(getpgid(tp_process_pid(mid)), tp_process_pid(mid));
	for (int t = 0; t < 2000 && pid == 0; t++) {
		FILE *f = fopen(path, "r");
		if (f != NULL) {
			if (fscanf(f, "%d", &pid) != 1)
				pid = 0;
			fclose(f);
		}
		if (pid == 0)
			sleep_ms(5);
	}
	assert_true(pid > 0);
	assert_int_equal(getpgid(pid), tp_process_pid(mid));
	TP_OK_OR_FAIL(tp_process_terminate(mid));
	TP_OK_OR_FAIL(tp_process_join(mid, 10000));
	TP_OK_OR_FAIL(tp_process_exitcode(mid, &code));
	assert_int_equal(code, -SIGTERM);
	for (int t = 0; t < 2000 && !gone(pid); t++)
		sleep_ms(5);
	assert_true(gone(pid));
	unlink(path);
	tp_process_free(mid);
	tp_test_fini();
}

int main(void)
{
	tp_spawn_guard();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_crash_report_and_monitor),
	    cmocka_unit_test(test_monitor_from_non_parent),
	    cmocka_unit_test(test_wait_sentinels),
	    cmocka_unit_test(test_no_orphans_when_parent_killed),
	    cmocka_unit_test(test_daemon_and_non_daemon_at_exit),
	    cmocka_unit_test(test_daemon_cannot_have_children),
	    cmocka_unit_test(test_nested_children),
	    cmocka_unit_test(test_new_group_kill_reaches_tree),
	    cmocka_unit_test(test_default_method_inherited),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
