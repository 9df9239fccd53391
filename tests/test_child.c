/*
 * test_child.c - the process layer's one child abstraction (proc/
 * child_int.h): a command line started with vfork + exec, watched by its
 * pidfd, signalled (child, group), stopped (signal, timeout, SIGKILL) and
 * reaped with its exit event published; every failure of a start leaves
 * no child. And the guarantee the supervisor builds on it: a monitor of a
 * supervised child (command line, or registered target under every start
 * method) receives the same exit event the supervisor reports.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "child_int.h"
#include "testutil.h"

extern char **environ;

/* Runs until killed. */
static int idle(const tp_payload *args, tp_payload *result)
{
	(void)args;
	(void)result;
	for (;;)
		pause();
	return 0;
}
TP_TARGET(idle);

static int setup(void **state)
{
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tp_test_fini();
	return 0;
}

/* Starts `sh -c script` in a new group, its fd 3 the write end of a pipe
 * whose read end is returned in *rd (-1: no pipe). */
static int start_sh(struct tp__child *k, const char *script, int *rd)
{
	char *argv[] = {"sh", "-c", (char *)script, NULL};
	char path[256];
	int p[2] = {-1, -1};
	TP_OK_OR_FAIL(tp__exec_resolve("sh", path, sizeof(path)));
	if (rd != NULL)
		assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	struct tp__exec x = {.path = path,
	                     .argv = argv,
	                     .envp = environ,
	                     .in = -1,
	                     .out = -1,
	                     .err = -1,
	                     .notify = p[1],
	                     .new_group = 1};
	tp__child_init(k);
	int rv = tp__child_exec(k, &x);
	if (p[1] >= 0)
		close(p[1]);
	if (rd != NULL)
		*rd = p[0];
	return rv;
}

/* Reads one line the child wrote on fd 3 (at most 10 s). */
static long read_line(int fd)
{
	char buf[64];
	size_t n = 0;
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	while (n < sizeof(buf) - 1) {
		assert_int_equal(poll(&pfd, 1, 10000), 1);
		ssize_t r = read(fd, buf + n, 1);
		if (r <= 0 || buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
	return strtol(buf, NULL, 10);
}

/* Waits (at most 10 s) until pid is gone. */
static void wait_gone(pid_t pid)
{
	int64_t end = tp_test_now_ms() + 10000;
	while (kill(pid, 0) == 0 && tp_test_now_ms() < end)
		tp_test_nap(5);
	assert_int_not_equal(kill(pid, 0), 0);
}

/* An exec'd child's exit code, through its pidfd and the reap. */
static void test_exec_exit_code(void **state)
{
	struct tp__child k;
	struct tp__exit ev;
	(void)state;
	int before = tp_test_children();
	TP_OK_OR_FAIL(start_sh(&k, "exit 7", NULL));
	assert_true(k.pid > 0);
	struct pollfd pfd = {.fd = tp__child_watch_fd(&k), .events = POLLIN};
	assert_true(pfd.fd >= 0);
	assert_int_equal(poll(&pfd, 1, 10000), 1);
	TP_OK_OR_FAIL(tp__child_reap(&k, "seven", 0, &ev));
	assert_int_equal(ev.code, 7);
	assert_true(WIFEXITED(ev.status) && WEXITSTATUS(ev.status) == 7);
	assert_null(ev.report);
	assert_int_equal(k.pid, 0);
	tp__child_close(&k);
	assert_int_equal(tp_test_children(), before);
}

/* A start that fails (no such program, exec refused, bad directory)
 * returns the errno and leaves no child. */
static void test_exec_failures(void **state)
{
	struct tp__child k;
	char path[256];
	char *argv[] = {"x", NULL};
	(void)state;
	int before = tp_test_children();
	TP_EXPECT(tp__exec_resolve("no-such-program-tp", path, sizeof(path)),
	          tp_err_errno(ENOENT));
	struct tp__exec x = {.path = "/etc/passwd", /* not executable */
	                     .argv = argv,
	                     .envp = environ,
	                     .in = -1,
	                     .out = -1,
	                     .err = -1,
	                     .notify = -1};
	tp__child_init(&k);
	TP_EXPECT(tp__child_exec(&k, &x), tp_err_errno(EACCES));
	assert_int_equal(k.pid, 0);
	assert_int_equal(k.pidfd, -1);
	TP_OK_OR_FAIL(tp__exec_resolve("true", path, sizeof(path)));
	x.path = path;
	x.cwd = "/no/such/dir/tp";
	TP_EXPECT(tp__child_exec(&k, &x), tp_err_errno(ENOENT));
	assert_int_equal(k.pid, 0);
	assert_int_equal(tp_test_children(), before);
}

/* A child that ignores the stop signal is killed when the timeout runs
 * out, and the reap says SIGKILL. */
static void test_stop_escalates(void **state)
{
	struct tp__child k;
	struct tp__exit ev;
	int rd;
	(void)state;
	TP_OK_OR_FAIL(
	    start_sh(&k, "trap '' TERM; echo 1 >&3; exec sleep 100", &rd));
	assert_int_equal(read_line(rd), 1); /* the trap is set */
	close(rd);
	TP_OK_OR_FAIL(tp__child_stop(&k, SIGTERM, TP_SIG_CHILD | TP_SIG_GROUP,
	                             100, "stubborn", &ev));
	assert_int_equal(ev.code, -SIGKILL);
	free(ev.report);
	tp__child_close(&k);
}

/* A stop signal to the group reaches a descendant; a child that exits
 * leaving one behind in its group has it killed at reap (reap_group). */
static void test_group(void **state)
{
	struct tp__child k;
	struct tp__exit ev;
	int rd;
	(void)state;
	TP_OK_OR_FAIL(start_sh(&k, "sleep 100 & echo $! >&3; wait", &rd));
	pid_t g = (pid_t)read_line(rd);
	close(rd);
	assert_true(g > 0);
	TP_OK_OR_FAIL(tp__child_stop(&k, SIGTERM, TP_SIG_CHILD | TP_SIG_GROUP,
	                             10000, "group", &ev));
	assert_int_equal(ev.code, -SIGTERM);
	tp__child_close(&k);
	wait_gone(g);

	TP_OK_OR_FAIL(start_sh(&k, "sleep 100 & echo $! >&3; exit 0", &rd));
	k.reap_group = 1;
	g = (pid_t)read_line(rd);
	close(rd);
	TP_OK_OR_FAIL(tp__child_reap(&k, "left", 10000, &ev));
	assert_int_equal(ev.code, 0);
	tp__child_close(&k);
	wait_gone(g);
}

/* The reap publishes the exit event: a monitor (any process of the run)
 * receives it, with the name given and the signal. */
static void test_exit_event_published(void **state)
{
	struct tp__child k;
	struct tp__exit ev;
	tp_monitor *m;
	tp_exit_event me;
	(void)state;
	TP_OK_OR_FAIL(start_sh(&k, "exec sleep 100", NULL));
	TP_OK_OR_FAIL(tp_monitor_new(&m, k.pid));
	TP_EXPECT(tp_monitor_next(m, &me, 0), TP_ETIMEDOUT);
	pid_t pid = k.pid;
	TP_OK_OR_FAIL(tp__child_signal(&k, SIGKILL, TP_SIG_CHILD));
	TP_OK_OR_FAIL(tp__child_reap(&k, "cmdline", 10000, &ev));
	assert_int_equal(ev.code, -SIGKILL);
	TP_OK_OR_FAIL(tp_monitor_next(m, &me, 10000));
	assert_int_equal(me.pid, pid);
	assert_string_equal(me.name, "cmdline");
	assert_int_equal(me.exitcode, -SIGKILL);
	assert_int_equal(me.signal, SIGKILL);
	tp_monitor_free(m);
	tp__child_close(&k);
}

/* A child someone else reaped reads as killed, without a hang; signals
 * to a reaped child are no error. */
static void test_reaped_elsewhere(void **state)
{
	struct tp__child k;
	struct tp__exit ev;
	(void)state;
	TP_OK_OR_FAIL(start_sh(&k, "exit 3", NULL));
	assert_int_equal(waitpid(k.pid, NULL, 0), k.pid);
	TP_OK_OR_FAIL(tp__child_reap(&k, "gone", 1000, &ev));
	assert_int_equal(ev.code, -SIGKILL);
	TP_OK_OR_FAIL(tp__child_signal(&k, SIGTERM, TP_SIG_CHILD));
	tp__child_close(&k);
	int fd;
	TP_EXPECT(tp__pid_watch(0, &fd), TP_EINVAL);
	int code;
	assert_int_equal(tp__pid_peek(getpid(), &code), 0);
}

/* ---- under a supervisor ---- */

static pthread_mutex_t ev_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ev_cv = PTHREAD_COND_INITIALIZER;
static int n_exited;
static int exit_codes[8];
static pid_t exit_pids[8];

static void on_event(void *arg, const tp_sup_event *ev)
{
	(void)arg;
	if (ev->kind != TP_EV_EXITED)
		return;
	pthread_mutex_lock(&ev_mu);
	if (n_exited < 8) {
		exit_codes[n_exited] = ev->exit_code;
		exit_pids[n_exited] = ev->pid;
	}
	n_exited++;
	pthread_cond_broadcast(&ev_cv);
	pthread_mutex_unlock(&ev_mu);
}

/* The supervisor's exit code for pid (at most 30 s). */
static int sup_exit_of(pid_t pid)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 30;
	pthread_mutex_lock(&ev_mu);
	for (;;) {
		for (int i = 0; i < n_exited && i < 8; i++) {
			if (exit_pids[i] == pid) {
				int c = exit_codes[i];
				pthread_mutex_unlock(&ev_mu);
				return c;
			}
		}
		if (pthread_cond_timedwait(&ev_cv, &ev_mu, &ts) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&ev_mu);
	fail_msg("no exit event from the supervisor for %d", (int)pid);
	return 0;
}

/*
 * A command line and a registered target (under method m) in one tree:
 * kill -9 of each is seen by a monitor (its exit event: name, signal) and
 * by the supervisor with the same code; both are restarted.
 */
static void run_sup(tp_start_method m)
{
	static char *sleeper[] = {"sleep", "100", NULL};
	tp_sup_flags f = TP_SUP_FLAGS_INIT;
	tp_child_spec c = TP_CHILD_SPEC_INIT;
	tp_child_info *v;
	tp_sup *s;
	int n;
	pthread_mutex_lock(&ev_mu);
	n_exited = 0;
	pthread_mutex_unlock(&ev_mu);
	f.intensity = 10;
	f.period_ms = 60000;
	f.on_event = on_event;
	TP_OK_OR_FAIL(tp_sup_new(&s, &f));
	c.id = "cmd";
	c.argv = sleeper;
	c.log_path = "";
	c.shutdown_ms = 2000;
	TP_OK_OR_FAIL(tp_sup_add_child(s, &c));
	c = (tp_child_spec)TP_CHILD_SPEC_INIT;
	c.id = "target";
	c.target = idle;
	c.method = m;
	c.shutdown_ms = 2000;
	TP_OK_OR_FAIL(tp_sup_add_child(s, &c));
	TP_OK_OR_FAIL(tp_sup_start(s));
	TP_OK_OR_FAIL(tp_sup_which_children(s, &v, &n));
	assert_int_equal(n, 2);
	for (int i = 0; i < 2; i++) {
		tp_monitor *mon;
		tp_exit_event me;
		pid_t pid = v[i].pid;
		assert_true(pid > 0);
		TP_OK_OR_FAIL(tp_monitor_new(&mon, pid));
		assert_int_equal(kill(pid, SIGKILL), 0);
		TP_OK_OR_FAIL(tp_monitor_next(mon, &me, 10000));
		assert_string_equal(me.name, v[i].id);
		assert_int_equal(me.signal, SIGKILL);
		assert_int_equal(me.exitcode, sup_exit_of(pid));
		tp_monitor_free(mon);
	}
	free(v);
	TP_OK_OR_FAIL(tp_sup_stop(s));
	tp_sup_free(s);
}

static void test_sup_exit_events(void **state)
{
	(void)state;
	run_sup(TP_START_FORKSERVER);
	run_sup(TP_START_SPAWN);
	run_sup(TP_START_FORK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_exec_exit_code, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_exec_failures, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_stop_escalates, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_group, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exit_event_published, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_reaped_elsewhere, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_sup_exit_events, setup,
	                                    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
