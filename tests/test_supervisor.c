/*
 * test_supervisor.c - supervision trees of command-line children: ordered
 * start with readiness, reverse stop, strategies, restart types, intensity
 * escalation, shutdown timeouts, start failures, runtime calls, and no
 * orphan after the supervisor is killed.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "logtest.h"
#include "testutil.h"

static char mark_path[256];
static int base_children; /* the fork server, if any */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap(void)
{
	struct timespec ts = {0, 2 * 1000000};
	nanosleep(&ts, NULL);
}

static int setup(void **state)
{
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	base_children = tp_test_children();
	snprintf(mark_path, sizeof(mark_path), "%s/marks", tp_runtime_dir());
	unlink(mark_path);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(mark_path);
	tp_test_fini();
	return 0;
}

/* A child spec running tp-test-child ID with extra arguments. */
struct kid {
	char *argv[16];
	tp_child_spec spec;
};

static void kid_init(struct kid *k, const char *id, tp_restart r,
                     const char *extra)
{
	static char bufs[32][128];
	static int nb;
	tp_child_spec s = TP_CHILD_SPEC_INIT;
	int n = 0;
	k->argv[n++] = TP_TEST_CHILD;
	k->argv[n++] = (char *)id;
	k->argv[n++] = "--mark";
	k->argv[n++] = mark_path;
	if (extra != NULL) {
		char *b = bufs[nb++ % 32];
		snprintf(b, 128, "%s", extra);
		for (char *t = strtok(b, " "); t && n < 15;
		     t = strtok(NULL, " "))
			k->argv[n++] = t;
	}
	k->argv[n] = NULL;
	s.id = id;
	s.argv = k->argv;
	s.restart = r;
	s.ready = TP_READY_NOTIFY;
	s.shutdown_ms = 2000;
	k->spec = s;
}

static pid_t pid_of(tp_sup *s, const char *id)
{
	tp_child_info *v;
	int n;
	pid_t pid = 0;
	TP_OK_OR_FAIL(tp_sup_which_children(s, &v, &n));
	for (int i = 0; i < n; i++)
		if (strcmp(v[i].id, id) == 0 && v[i].state == TP_CHILD_RUNNING)
			pid = v[i].pid;
	free(v);
	return pid;
}

static unsigned restarts_of(tp_sup *s, const char *id)
{
	tp_child_info *v;
	int n;
	unsigned r = 0;
	TP_OK_OR_FAIL(tp_sup_which_children(s, &v, &n));
	for (int i = 0; i < n; i++)
		if (strcmp(v[i].id, id) == 0)
			r = v[i].restarts;
	free(v);
	return r;
}

/* Waits until id runs with a pid other than old; returns it. */
static pid_t wait_new_pid(tp_sup *s, const char *id, pid_t old)
{
	int64_t end = now_ms() + 10000;
	pid_t p;
	while (((p = pid_of(s, id)) == 0 || p == old) && now_ms() < end)
		nap();
	assert_true(p != 0 && p != old);
	return p;
}

static char *read_marks(void)
{
	static char buf[4096];
	int fd = open(mark_path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : 0;
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* 1 when the file at path holds s within ms milliseconds. */
static int file_gets(const char *path, const char *s, int ms)
{
	int64_t end = now_ms() + ms;
	do {
		char buf[4096];
		int fd = open(path, O_RDONLY);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : 0;
		if (fd >= 0)
			close(fd);
		buf[n > 0 ? n : 0] = '\0';
		if (strstr(buf, s) != NULL)
			return 1;
		nap();
	} while (now_ms() < end);
	return 0;
}

static tp_sup *make3(tp_strategy st, const char *extra_a)
{
	tp_sup_flags f = TP_SUP_FLAGS_INIT;
	tp_sup *s;
	struct kid a, b, c;
	f.strategy = st;
	f.intensity = 10;
	TP_OK_OR_FAIL(tp_sup_new(&s, &f));
	kid_init(&a, "a", TP_PERMANENT, extra_a);
	kid_init(&b, "b", TP_PERMANENT, NULL);
	kid_init(&c, "c", TP_PERMANENT, NULL);
	TP_OK_OR_FAIL(tp_sup_add_child(s, &a.spec));
	TP_OK_OR_FAIL(tp_sup_add_child(s, &b.spec));
	TP_OK_OR_FAIL(tp_sup_add_child(s, &c.spec));
	return s;
}

static void test_ordered_start_and_reverse_stop(void **state)
{
	(void)state;
	/* a takes 150 ms to get ready: b must not start before that. */
	tp_sup *s = make3(TP_ONE_FOR_ONE, "--delay 150");
	TP_OK_OR_FAIL(tp_sup_start(s));
	assert_string_equal(read_marks(), "up a\nready a\nup b\nready b\n"
	                                  "up c\nready c\n");
	assert_true(pid_of(s, "a") > 0 && pid_of(s, "c") > 0);
	TP_OK_OR_FAIL(tp_sup_stop(s));
	assert_string_equal(read_marks(), "up a\nready a\nup b\nready b\n"
	                                  "up c\nready c\n"
	                                  "down c\ndown b\ndown a\n");
	TP_OK_OR_FAIL(tp_sup_wait(s, 0));
	tp_sup_free(s);
}

static void check_strategy(tp_strategy st, int a_new, int c_new)
{
	tp_sup *s = make3(st, NULL);
	TP_OK_OR_FAIL(tp_sup_start(s));
	pid_t a = pid_of(s, "a"), b = pid_of(s, "b"), c = pid_of(s, "c");
	assert_int_equal(kill(b, SIGKILL), 0);
	wait_new_pid(s, "b", b);
	if (a_new)
		wait_new_pid(s, "a", a);
	if (c_new)
		wait_new_pid(s, "c", c);
	/* Let a restart plan finish, then compare. */
	int64_t end = now_ms() + 10000;
	while ((pid_of(s, "a") == 0 || pid_of(s, "c") == 0) && now_ms() < end)
		nap();
	assert_int_equal(pid_of(s, "a") != a, a_new);
	assert_int_equal(pid_of(s, "c") != c, c_new);
	assert_int_equal(restarts_of(s, "b"), 1);
	tp_sup_free(s);
}

static void test_one_for_one(void **state)
{
	(void)state;
	check_strategy(TP_ONE_FOR_ONE, 0, 0);
}

static void test_one_for_all(void **state)
{
	(void)state;
	check_strategy(TP_ONE_FOR_ALL, 1, 1);
}

static void test_rest_for_one(void **state)
{
	(void)state;
	check_strategy(TP_REST_FOR_ONE, 0, 1);
}

static void test_simple_one_for_one(void **state)
{
	(void)state;
	tp_sup_flags f = TP_SUP_FLAGS_INIT;
	tp_sup *s;
	struct kid t;
	char id1[64], id2[64];
	f.strategy = TP_SIMPLE_ONE_FOR_ONE;
	TP_OK_OR_FAIL(tp_sup_new(&s, &f));
	kid_init(&t, "w", TP_PERMANENT, NULL);
	TP_OK_OR_FAIL(tp_sup_add_child(s, &t.spec));
	TP_EXPECT(tp_sup_add_child(s, &t.spec), TP_EALREADY);
	TP_OK_OR_FAIL(tp_sup_start(s));
	tp_child_counts cc;
	TP_OK_OR_FAIL(tp_sup_count_children(s, &cc));
	assert_int_equal(cc.specs, 0);
	char *extra[] = {"--delay", "10", NULL};
	tp_child_spec dyn = {0};
	dyn.argv = extra;
	TP_OK_OR_FAIL(tp_sup_start_child(s, &dyn, id1));
	TP_OK_OR_FAIL(tp_sup_start_child(s, &dyn, id2));
	assert_string_equal(id1, "w-1");
	assert_string_equal(id2, "w-2");
	TP_OK_OR_FAIL(tp_sup_count_children(s, &cc));
	assert_int_equal(cc.specs, 2);
	assert_int_equal(cc.active, 2);
	assert_int_equal(cc.workers, 2);
	pid_t p = pid_of(s, "w-1");
	kill(p, SIGKILL);
	wait_new_pid(s, "w-1", p);
	TP_OK_OR_FAIL(tp_sup_terminate_child(s, "w-2"));
	TP_OK_OR_FAIL(tp_sup_delete_child(s, "w-2"));
	TP_OK_OR_FAIL(tp_sup_count_children(s, &cc));
	assert_int_equal(cc.specs, 1);
	tp_sup_free(s);
}

/* Waits until id has exited (state stopped or the spec is gone). */
static int wait_gone(tp_sup *s, const char *id)
{
	int64_t end = now_ms() + 10000;
	for (;;) {
		tp_child_info *v;
		int n, present = 0, running = 0;
		TP_OK_OR_FAIL(tp_sup_which_children(s, &v, &n));
		for (int i = 0; i < n; i++)
			if (strcmp(v[i].id, id) == 0) {
				present = 1;
				running = v[i].state != TP_CHILD_STOPPED;
			}
		free(v);
		if (!running)
			return present;
		if (now_ms() > end)
			fail_msg("%s still running", id);
		nap();
	}
}

static void test_restart_types(void **state)
{
	(void)state;
	tp_sup_flags f = TP_SUP_FLAGS_INIT;
	tp_sup *s;
	struct kid tn, ta, tmp;
	TP_OK_OR_FAIL(tp_sup_new(&s, &f));
	kid_init(&tn, "normal", TP_TRANSIENT, "--exit 0 --exit-after 50");
	kid_init(&ta, "abnormal", TP_TRANSIENT, "--exit 3 --exit-after 50");
	kid_init(&tmp, "temp", TP_TEMPORARY, "--exit 3 --exit-after 50");
	TP_OK_OR_FAIL(tp_sup_add_child(s, &tn.spec));
	TP_OK_OR_FAIL(tp_sup_add_child(s, &ta.spec));
	TP_OK_OR_FAIL(tp_sup_add_child(s, &tmp.spec));
	TP_OK_OR_FAIL(tp_sup_start(s));
	/* transient + exit 0: stays stopped, spec kept. */
	assert_int_equal(wait_gone(s, "normal"), 1);
	/* temporary: never restarted, spec deleted. */
	int64_t end = now_ms() + 10000;
	while (wait_gone(s, "temp") && now_ms() < end)
		nap();
	assert_int_equal(wait_gone(s, "temp"), 0);
	/* transient + exit 3: restarted. */
	end = now_ms() + 10000;
	while (restarts_of(s, "abnormal") < 1 && now_ms() < end)
		nap();
	assert_true(restarts_of(s, "abnormal") >= 1);
	assert_int_equal(restarts_of(s, "normal"), 0);
	tp_sup_free(s);
}

struct logged {
	const char *file, *id;
};

/* The program's tp_log record and its stdout line are in the file. */
static int log_has_both(void *arg)
{
	const struct logged *w = arg;
	char want[128];
	int rec = 0, out = 0;
	struct lt_lines l = {0};
	lt_read(&l, w->file);
	for (size_t j = 0; j < l.n; j++) {
		snprintf(want, sizeof(want), " WARNING %s[", w->id);
		if (strstr(l.v[j], want) && strstr(l.v[j], "] hello-log") &&
		    strstr(l.v[j], "ERROR") == NULL)
			rec++;
		snprintf(want, sizeof(want), " INFO %s[", w->id);
		if (strstr(l.v[j], want) && strstr(l.v[j], "child logger up"))
			out++;
	}
	lt_free(&l);
	return rec == 1 && out == 1;
}

/* A captured program that calls tp_log_* logs through this process's
 * logging actor under its own id and level; its stdout stays INFO lines
 * of that program. */
static void test_captured_program_logs_through_actor(void **state)
{
	(void)state;
	tp_sup_flags f = TP_SUP_FLAGS_INIT;
	tp_sup *s;
	struct kid k;
	tp_log_config *c;
	tp_log_actor *a;
	char path[128];
	lt_path(path, sizeof(path), "sup.log");
	TP_OK_OR_FAIL(tp_log_config_new(&c, "test"));
	TP_OK_OR_FAIL(tp_log_config_set_console(c, 0, TP_LOG_COLOUR_NEVER));
	TP_OK_OR_FAIL(tp_log_config_set_file(c, path, 0, 0));
	TP_OK_OR_FAIL(tp_log_actor_start(c, &a));
	TP_OK_OR_FAIL(tp_sup_new(&s, &f));
	/* it logs, says ready, then waits for the stop (no race with exit) */
	kid_init(&k, "logger", TP_TEMPORARY, "--log hello-log");
	k.spec.capture = 1;
	TP_OK_OR_FAIL(tp_sup_add_child(s, &k.spec));
	TP_OK_OR_FAIL(tp_sup_start(s));
	struct logged w = {path, "logger"};
	assert_true(lt_wait(log_has_both, &w, 20000));
	tp_sup_free(s);
	TP_OK_OR_FAIL(tp_log_actor_stop(a));
	tp_log_actor_free(a);
	tp_log_config_free(c);
	lt_clean();
}

static void test_intensity_escalation(void **state)
{
	(void)state;
	tp_sup_flags f = TP_SUP_FLAGS_INIT;
	tp_sup *s;
	struct kid ok, bad;
	f.intensity = 2;
	f.period_ms = 10000;
	TP_OK_OR_FAIL(tp_sup_new(&s, &f));
	kid_init(&ok, "ok", TP_PERMANENT, NULL);
	kid_init(&bad, "bad", TP_PERMANENT, "--exit 1 --exit-after 20");
	TP_OK_OR_FAIL(tp_sup_add_child(s, &ok.spec));
	TP_OK_OR_FAIL(tp_sup_add_child(s, &bad.spec));
	TP_OK_OR_FAIL(tp_sup_start(s));
	/* 3 exits in 10 s > intensity 2: everything stops, root fails. */
	TP_EXPECT(tp_sup_wait(s, 20000), TP_EDIED);
	assert_int_equal(tp_test_children(), base_children);
	assert_string_equal(strstr(read_marks(), "down ok") ? "y" : "n", "y");
	TP_EXPECT(tp_sup_terminate_child(s, "ok"), TP_ESTATE);
	tp_sup_free(s);
}

static void test_nested_escalates_to_parent(void **state)
{
	(void)state;
	tp_sup_flags f = TP_SUP_FLAGS_INIT, fs = TP_SUP_FLAGS_INIT;
	tp_sup *root, *sub;
	struct kid a, b;
	fs.intensity = 0; /* any crash makes the sub fail */
	TP_OK_OR_FAIL(tp_sup_new(&root, &f));
	kid_init(&a, "a", TP_PERMANENT, NULL);
	TP_OK_OR_FAIL(tp_sup_add_child(root, &a.spec));
	TP_OK_OR_FAIL(tp_sup_add_sup(root, "sub", &fs, TP_PERMANENT, &sub));
	kid_init(&b, "b", TP_PERMANENT, NULL);
	TP_OK_OR_FAIL(tp_sup_add_child(sub, &b.spec));
	TP_OK_OR_FAIL(tp_sup_start(root));
	assert_ptr_equal(tp_sup_child_sup(root, "sub"), sub);
	assert_string_equal(tp_sup_id(sub), "sub");
	tp_child_counts cc;
	TP_OK_OR_FAIL(tp_sup_count_children(root, &cc));
	assert_int_equal(cc.supervisors, 1);
	assert_int_equal(cc.workers, 1);
	pid_t pa = pid_of(root, "a"), pb = pid_of(sub, "b");
	assert_true(pb > 0);
	kill(pb, SIGKILL);
	/* The sub fails; the root restarts it (one_for_one): b is new. */
	int64_t end = now_ms() + 10000;
	while (restarts_of(root, "sub") < 1 && now_ms() < end)
		nap();
	assert_int_equal(restarts_of(root, "sub"), 1);
	wait_new_pid(sub, "b", pb);
	assert_int_equal(pid_of(root, "a"), pa);
	assert_int_equal(restarts_of(sub, "b"), 0);
	tp_sup_free(root);
}

static void test_shutdown_timeout_ends_in_sigkill(void **state)
{
	(void)state;
	tp_sup_flags f = TP_SUP_FLAGS_INIT;
	tp_sup *s;
	struct kid a, b;
	TP_OK_OR_FAIL(tp_sup_new(&s, &f));
	kid_init(&a, "stubborn", TP_PERMANENT, "--ignore-term");
	a.spec.shutdown_ms = 300;
	kid_init(&b, "brutal", TP_PERMANENT, NULL);
	b.spec.shutdown_ms = TP_SHUTDOWN_BRUTAL;
	TP_OK_OR_FAIL(tp_sup_add_child(s, &a.spec));
	TP_OK_OR_FAIL(tp_sup_add_child(s, &b.spec));
	TP_OK_OR_FAIL(tp_sup_start(s));
	int64_t t0 = now_ms();
	TP_OK_OR_FAIL(tp_sup_terminate_child(s, "stubborn"));
	assert_true(now_ms() - t0 >= 290);
	TP_OK_OR_FAIL(tp_sup_terminate_child(s, "brutal"));
	tp_child_info *v;
	int n;
	TP_OK_OR_FAIL(tp_sup_which_children(s, &v, &n));
	assert_int_equal(n, 2);
	assert_int_equal(v[0].last_exit, -SIGKILL);
	assert_int_equal(v[1].last_exit, -SIGKILL);
	assert_int_equal(v[0].state, TP_CHILD_STOPPED);
	free(v);
	/* Neither wrote "down": both were killed, not stopped politely. */
	assert_null(strstr(read_marks(), "down"));
	tp_sup_free(s);
}

static void test_start_failures_leave_nothing(void **state)
{
	(void)state;
	tp_sup_flags f = TP_SUP_FLAGS_INIT;
	tp_sup *s;
	struct kid a, b;
	char *missing[] = {"/nonexistent/program", NULL};
	/* exec failure: a is stopped again, error returned. */
	TP_OK_OR_FAIL(tp_sup_new(&s, &f));
	kid_init(&a, "a", TP_PERMANENT, NULL);
	kid_init(&b, "b", TP_PERMANENT, NULL);
	b.spec.argv = missing;
	TP_OK_OR_FAIL(tp_sup_add_child(s, &a.spec));
	TP_OK_OR_FAIL(tp_sup_add_child(s, &b.spec));
	TP_EXPECT(tp_sup_start(s), tp_err_errno(ENOENT));
	assert_int_equal(tp_test_children(), base_children);
	assert_string_equal(read_marks(), "up a\nready a\ndown a\n");
	TP_EXPECT(tp_sup_start(s), TP_ESTATE);
	tp_sup_free(s);
	/* No readiness in time. */
	TP_OK_OR_FAIL(tp_sup_new(&s, &f));
	kid_init(&a, "slow", TP_PERMANENT, "--no-ready");
	a.spec.start_timeout_ms = 200;
	TP_OK_OR_FAIL(tp_sup_add_child(s, &a.spec));
	TP_EXPECT(tp_sup_start(s), TP_ETIMEDOUT);
	tp_sup_free(s);
	/* Exit before ready. */
	TP_OK_OR_FAIL(tp_sup_new(&s, &f));
	kid_init(&a, "quitter", TP_PERMANENT, "--no-ready --exit 2");
	TP_OK_OR_FAIL(tp_sup_add_child(s, &a.spec));
	TP_EXPECT(tp_sup_start(s), TP_EDIED);
	tp_sup_free(s);
	assert_int_equal(tp_test_children(), base_children);
}

/* A child that says it is ready and exits at once was started: its start
 * succeeds even when the supervisor sees the exit and the READY=1 in the
 * same wake-up. */
static void test_ready_then_exit_is_started(void **state)
{
	(void)state;
	tp_sup_flags f = TP_SUP_FLAGS_INIT;
	for (int i = 0; i < 20; i++) {
		tp_sup *s;
		struct kid a;
		TP_OK_OR_FAIL(tp_sup_new(&s, &f));
		kid_init(&a, "brief", TP_TEMPORARY, "--exit 0");
		TP_OK_OR_FAIL(tp_sup_add_child(s, &a.spec));
		TP_OK_OR_FAIL(tp_sup_start(s));
		tp_sup_free(s);
	}
	assert_int_equal(tp_test_children(), base_children);
}

static void test_startsecs_readiness(void **state)
{
	(void)state;
	tp_sup_flags f = TP_SUP_FLAGS_INIT;
	tp_sup *s;
	struct kid a;
	TP_OK_OR_FAIL(tp_sup_new(&s, &f));
	kid_init(&a, "plain", TP_PERMANENT, "--no-ready");
	a.spec.ready = TP_READY_STARTED;
	a.spec.startsecs_ms = 200;
	TP_OK_OR_FAIL(tp_sup_add_child(s, &a.spec));
	int64_t t0 = now_ms();
	TP_OK_OR_FAIL(tp_sup_start(s));
	assert_true(now_ms() - t0 >= 190);
	tp_child_info *v;
	int n;
	TP_OK_OR_FAIL(tp_sup_which_children(s, &v, &n));
	assert_int_equal(v[0].state, TP_CHILD_RUNNING);
	/* stdout goes to the child's log file: running 200 ms does not
	 * mean it has printed yet (on a loaded box), so wait for the line. */
	assert_true(file_gets(v[0].log_path, "child plain up", 10000));
	free(v);
	tp_sup_free(s);
}

static void test_runtime_calls_and_errors(void **state)
{
	(void)state;
	tp_sup_flags f = TP_SUP_FLAGS_INIT;
	tp_sup *s;
	struct kid a, b;
	f.period_ms = 0;
	TP_EXPECT(tp_sup_new(&s, &f), TP_EINVAL);
	f.period_ms = 1000;
	f.intensity = -1;
	TP_EXPECT(tp_sup_new(&s, &f), TP_EINVAL);
	f.intensity = 3;
	TP_OK_OR_FAIL(tp_sup_new(&s, &f));
	kid_init(&a, "a", TP_PERMANENT, NULL);
	a.spec.id = "bad/id";
	TP_EXPECT(tp_sup_add_child(s, &a.spec), TP_EINVAL);
	a.spec.id = "a";
	a.spec.argv = NULL;
	TP_EXPECT(tp_sup_add_child(s, &a.spec), TP_EINVAL);
	kid_init(&a, "a", TP_PERMANENT, NULL);
	TP_OK_OR_FAIL(tp_sup_add_child(s, &a.spec));
	TP_EXPECT(tp_sup_add_child(s, &a.spec), TP_EALREADY);
	TP_EXPECT(tp_sup_terminate_child(s, "a"), TP_ESTATE);
	TP_EXPECT(tp_sup_wait(s, 0), TP_ESTATE);
	TP_OK_OR_FAIL(tp_sup_start(s));
	TP_EXPECT(tp_sup_wait(s, 10), TP_ETIMEDOUT);
	TP_EXPECT(tp_sup_add_child(s, &a.spec), TP_ESTATE);
	kid_init(&b, "b", TP_TRANSIENT, NULL);
	TP_OK_OR_FAIL(tp_sup_start_child(s, &b.spec, NULL));
	TP_EXPECT(tp_sup_start_child(s, &b.spec, NULL), TP_EALREADY);
	TP_EXPECT(tp_sup_terminate_child(s, "nope"), TP_ENOENT);
	TP_EXPECT(tp_sup_delete_child(s, "b"), TP_ESTATE);
	TP_EXPECT(tp_sup_signal_child(s, "b", 0), TP_EINVAL);
	pid_t pb = pid_of(s, "b");
	TP_OK_OR_FAIL(tp_sup_restart_child(s, "b"));
	assert_true(pid_of(s, "b") != pb);
	assert_int_equal(restarts_of(s, "b"), 0); /* not counted: asked */
	TP_OK_OR_FAIL(tp_sup_terminate_child(s, "b"));
	TP_EXPECT(tp_sup_signal_child(s, "b", SIGTERM), TP_ESTATE);
	TP_OK_OR_FAIL(tp_sup_restart_child(s, "b"));
	TP_OK_OR_FAIL(tp_sup_signal_child(s, "b", SIGTERM));
	/* transient, exit 0 on SIGTERM: not restarted. */
	wait_gone(s, "b");
	TP_OK_OR_FAIL(tp_sup_delete_child(s, "b"));
	TP_EXPECT(tp_sup_delete_child(s, "b"), TP_ENOENT);
	assert_null(tp_sup_child_sup(s, "a"));
	assert_string_equal(tp_strategy_name(TP_REST_FOR_ONE), "rest_for_one");
	assert_string_equal(tp_restart_name(TP_TRANSIENT), "transient");
	assert_string_equal(tp_child_state_name(TP_CHILD_RUNNING), "running");
	TP_OK_OR_FAIL(tp_sup_stop(s));
	TP_OK_OR_FAIL(tp_sup_stop(s)); /* idempotent */
	TP_EXPECT(tp_sup_restart_child(s, "a"), TP_ESTATE);
	tp_sup_free(s);
	tp_sup_free(NULL);
	assert_int_equal(tp_ready(), TP_OK); /* not supervised: no-op */
}

/* The supervisor process is killed with SIGKILL: its children die too. */
static void test_no_orphans_after_kill9(void **state)
{
	(void)state;
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t helper = fork();
	if (helper == 0) {
		tp_sup_flags f = TP_SUP_FLAGS_INIT;
		tp_sup *s;
		struct kid a, b;
		close(fds[0]);
		if (tp_sup_new(&s, &f) != TP_OK)
			_exit(1);
		kid_init(&a, "a", TP_PERMANENT, NULL);
		kid_init(&b, "b", TP_PERMANENT, NULL);
		tp_sup_add_child(s, &a.spec);
		tp_sup_add_child(s, &b.spec);
		if (tp_sup_start(s) != TP_OK)
			_exit(1);
		pid_t pids[2] = {pid_of(s, "a"), pid_of(s, "b")};
		(void)!write(fds[1], pids, sizeof(pids));
		for (;;)
			pause();
	}
	close(fds[1]);
	pid_t pids[2];
	assert_int_equal(read(fds[0], pids, sizeof(pids)), sizeof(pids));
	close(fds[0]);
	kill(helper, SIGKILL);
	waitpid(helper, NULL, 0);
	for (int i = 0; i < 2; i++) {
		int64_t end = now_ms() + 10000;
		char path[64], st = 0;
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pids[i]);
		for (;;) {
			FILE *f = fopen(path, "r");
			if (f == NULL)
				break;
			int ok = fscanf(f, "%*d (%*[^)]) %c", &st);
			fclose(f);
			if (ok == 1 && st == 'Z')
				break;
			if (now_ms() > end)
				fail_msg("orphan %d survived", (int)pids[i]);
			nap();
		}
	}
}

/* Collects the lines of name in the log file of c. */
struct collected {
	char buf[8192];
	size_t len;
};

static int collect(const char *line, size_t len, void *arg)
{
	struct collected *o = arg;
	if (line != NULL && o->len + len + 2 < sizeof(o->buf)) {
		memcpy(o->buf + o->len, line, len);
		o->len += len;
		o->buf[o->len++] = '\n';
		o->buf[o->len] = '\0';
	}
	return 0;
}

/* Polls the file of c until name's lines contain want (all of them). */
static void expect_records(const tp_log_config *c, const char *name,
                           const char *const *want, int n)
{
	struct collected o;
	int64_t end = now_ms() + 10000;
	for (;;) {
		int found = 0;
		o.len = 0;
		o.buf[0] = '\0';
		if (tp_log_read(c, name, 0, collect, &o) == TP_OK)
			for (int i = 0; i < n; i++)
				found += strstr(o.buf, want[i]) != NULL;
		if (found == n)
			return;
		if (now_ms() > end)
			fail_msg("%s's records lack %s: %s", name, want[n - 1],
			         o.buf);
		nap();
	}
}

/* spec.capture: stdout and stderr become records of the child (INFO and
 * ERROR, its name and pid) in the logging actor's file, including what
 * it writes while stopping; another child's lines are not its. */
static void test_capture_to_logging_actor(void **state)
{
	(void)state;
	char path[300], out_line[64], err_line[64];
	tp_log_config *c;
	tp_log_actor *a;
	tp_sup *sup;
	snprintf(path, sizeof(path), "%s/cap.log", tp_runtime_dir());
	TP_OK_OR_FAIL(tp_log_config_new(&c, "sup"));
	TP_OK_OR_FAIL(tp_log_config_set_console(c, 0, TP_LOG_COLOUR_NEVER));
	TP_OK_OR_FAIL(tp_log_config_set_file(c, path, 0, 0));
	TP_OK_OR_FAIL(tp_log_actor_start(c, &a));
	char *talk[] = {"/bin/sh", "-c",
	                "trap 'echo bye; exit 0' TERM; echo hello; "
	                "echo oops >&2; while :; do sleep 0.05; done",
	                NULL};
	char *quiet[] = {"/bin/sh", "-c", "echo other; exec sleep 30", NULL};
	tp_child_spec s = TP_CHILD_SPEC_INIT;
	s.id = "talk";
	s.argv = talk;
	s.capture = 1;
	TP_OK_OR_FAIL(tp_sup_new(&sup, NULL));
	TP_OK_OR_FAIL(tp_sup_add_child(sup, &s));
	s.id = "quiet";
	s.argv = quiet;
	TP_OK_OR_FAIL(tp_sup_add_child(sup, &s));
	TP_OK_OR_FAIL(tp_sup_start(sup));
	pid_t pid = pid_of(sup, "talk");
	snprintf(out_line, sizeof(out_line), "INFO talk[%d] hello", (int)pid);
	snprintf(err_line, sizeof(err_line), "ERROR talk[%d] oops", (int)pid);
	const char *want[] = {out_line, err_line, "bye"};
	expect_records(c, "talk", want, 2);
	const char *other[] = {"other"};
	expect_records(c, "quiet", other, 1);
	TP_OK_OR_FAIL(tp_sup_terminate_child(sup, "talk"));
	expect_records(c, "talk", want, 3);
	tp_sup_free(sup);
	struct collected o = {.len = 0};
	TP_OK_OR_FAIL(tp_log_read(c, "talk", 0, collect, &o));
	assert_null(strstr(o.buf, "other"));
	tp_log_actor_free(a);
	tp_log_config_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_captured_program_logs_through_actor, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ordered_start_and_reverse_stop,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_one_for_one, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_one_for_all, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rest_for_one, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_simple_one_for_one, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_restart_types, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_intensity_escalation, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_nested_escalates_to_parent,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_shutdown_timeout_ends_in_sigkill, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_start_failures_leave_nothing,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ready_then_exit_is_started,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_startsecs_readiness, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_runtime_calls_and_errors,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_capture_to_logging_actor,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_orphans_after_kill9, setup,
	                                    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
