/*
 * test_forkserver_spare.c - the fork server's spares (proc/forkserver.c):
 * children cloned ahead of the next starts. What a user relies on: every
 * start works whatever happens to the spares (killed while they wait,
 * killed while one takes a request, starts from several threads at once),
 * a start's child is a spare it took, and no spare outlives the program or
 * is left a zombie (tp_test_fini counts every child).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
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

/* One forkserver start+join: TP_OK and the exit code, or the start's
 * error. */
static int run_seven(int *code, pid_t *pid)
{
	tp_process *p;
	tp_process_opts o = {.method = TP_START_FORKSERVER};
	int rv;
	TP_OK_OR_FAIL(tp_process_new(&p, t_seven, NULL, &o));
	if ((rv = tp_process_start(p)) == TP_OK) {
		if (pid != NULL)
			*pid = tp_process_pid(p);
		TP_OK_OR_FAIL(tp_process_join(p, 20000));
		TP_OK_OR_FAIL(tp_process_exitcode(p, code));
	}
	tp_process_free(p);
	return rv;
}

/* The spares the server has once it settled: TP__SPARES, alive. */
static void the_spares(pid_t s[TP__SPARES])
{
	pid_t all[8];
	TP_OK_OR_FAIL(tp__server_settle(20000));
	assert_int_equal(tp__server_spares(all, 8), TP__SPARES);
	for (int i = 0; i < TP__SPARES; i++) {
		assert_int_equal(kill(all[i], 0), 0);
		s[i] = all[i];
	}
}

static int listed(const pid_t s[TP__SPARES], pid_t pid)
{
	for (int i = 0; i < TP__SPARES; i++)
		if (s[i] == pid)
			return 1;
	return 0;
}

/* Waits (bounded) until pid, a child of this process, has exited; does
 * not reap it. */
static void wait_dead(pid_t pid)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) != 0)
		assert_int_equal(errno, EINTR);
}

/* Waits up to 10 s for a process that is not our child to be gone. */
static void wait_gone(pid_t pid)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0) {
		assert_int_equal(errno, ESRCH); /* gone already */
		return;
	}
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, 10000), 1);
	close(fd);
}

/* A start's child is one of the spares; the server then has its spares
 * again, and the children are steady. */
static void test_start_takes_a_spare(void **state)
{
	(void)state;
	pid_t before[TP__SPARES], after[TP__SPARES];
	tp_test_init(TP_START_FORKSERVER);
	int base = tp_test_children(); /* the server and its spares */
	assert_int_equal(base, 1 + TP__SPARES);
	for (int i = 0; i < 5; i++) {
		pid_t pid = 0;
		int code = -1;
		the_spares(before);
		TP_OK_OR_FAIL(run_seven(&code, &pid));
		assert_int_equal(code, 7);
		assert_true(listed(before, pid));
		the_spares(after);
		assert_false(listed(after, pid));
		assert_int_equal(tp_test_children(), base);
	}
	tp_test_fini();
}

/* kill -9 of waiting spares, one and then all of them: the next starts
 * are served (without spares, by a clone of the server each, as before
 * spares existed), new spares follow, and the dead ones are reaped. */
static void test_spares_killed_while_waiting(void **state)
{
	(void)state;
	pid_t sp[TP__SPARES];
	tp_test_init(TP_START_FORKSERVER);
	int base = tp_test_children();
	for (int round = 0; round < 4; round++) {
		int all = round % 2; /* one spare, then every spare */
		the_spares(sp);
		for (int i = 0; i < (all ? TP__SPARES : 1); i++) {
			assert_int_equal(kill(sp[i], SIGKILL), 0);
			wait_dead(sp[i]);
		}
		for (int i = 0; i < 3; i++) {
			int code = -1;
			TP_OK_OR_FAIL(run_seven(&code, NULL));
			assert_int_equal(code, 7);
		}
		pid_t now[TP__SPARES];
		the_spares(now);
		assert_false(listed(now, sp[0]));
		assert_int_equal(tp_test_children(), base);
	}
	tp_test_fini();
}

static atomic_int storm_stop;

/* Kills every listed spare, again and again, until told to stop. */
static void *killer(void *arg)
{
	atomic_int *kills = arg;
	while (!atomic_load(&storm_stop)) {
		pid_t s[8];
		int n = tp__server_spares(s, 8);
		for (int i = 0; i < n; i++)
			if (kill(s[i], SIGKILL) == 0)
				atomic_fetch_add(kills, 1);
		sched_yield();
	}
	return NULL;
}

/* Spares killed at any moment, also while one takes a request: each start
 * succeeds (exit code 7, or -9 when the kill reached the child it became)
 * or fails with TP_EDIED (its child died before answering), none hangs,
 * and once the killing stops every start works and nothing is left. */
static void test_spare_kill_storm(void **state)
{
	(void)state;
	pthread_t th;
	atomic_int kills = 0;
	int ok = 0, died = 0;
	tp_test_init(TP_START_FORKSERVER);
	int base = tp_test_children();
	atomic_store(&storm_stop, 0);
	assert_int_equal(pthread_create(&th, NULL, killer, &kills), 0);
	for (int i = 0; i < 100; i++) {
		int code = 0, rv = run_seven(&code, NULL);
		if (rv == TP_OK) {
			assert_true(code == 7 || code == -SIGKILL);
			ok++;
		} else {
			assert_int_equal(rv, TP_EDIED);
			died++;
		}
	}
	atomic_store(&storm_stop, 1);
	pthread_join(th, NULL);
	print_message("storm: %d kills, %d starts ok, %d died starting\n",
	              atomic_load(&kills), ok, died);
	assert_true(atomic_load(&kills) > 0);
	for (int i = 0; i < 5; i++) {
		int code = -1;
		TP_OK_OR_FAIL(run_seven(&code, NULL));
		assert_int_equal(code, 7);
	}
	assert_int_equal(tp_test_children(), base);
	tp_test_fini();
}

struct starter {
	pid_t pids[25];
	int bad;
};

static void *starter_run(void *arg)
{
	struct starter *s = arg;
	for (int i = 0; i < 25; i++) {
		int code = -1;
		if (run_seven(&code, &s->pids[i]) != TP_OK || code != 7)
			s->bad++;
	}
	return NULL;
}

/* Four threads starting at once: every start gets its own child. */
static void test_concurrent_starts(void **state)
{
	(void)state;
	enum { T = 4 };
	pthread_t th[T];
	static struct starter st[T];
	tp_test_init(TP_START_FORKSERVER);
	int base = tp_test_children();
	memset(st, 0, sizeof(st));
	for (int t = 0; t < T; t++)
		assert_int_equal(
		    pthread_create(&th[t], NULL, starter_run, &st[t]), 0);
	for (int t = 0; t < T; t++)
		pthread_join(th[t], NULL);
	for (int t = 0; t < T; t++) {
		assert_int_equal(st[t].bad, 0);
		for (int i = 0; i < 25; i++)
			for (int u = 0; u <= t; u++)
				for (int j = 0; j < (u == t ? i : 25); j++)
					assert_int_not_equal(st[t].pids[i],
					                     st[u].pids[j]);
	}
	assert_int_equal(tp_test_children(), base);
	tp_test_fini();
}

/* kill -9 of a program (here a forked child of the test that started a
 * child, so it has a fork server and a spare): its server and its spare
 * are gone too. */
static void test_program_killed_takes_its_spares(void **state)
{
	(void)state;
	int pfd[2];
	tp_test_init(TP_START_FORKSERVER);
	assert_int_equal(pipe(pfd), 0);
	pid_t prog = fork();
	if (prog == 0) {
		close(pfd[0]);
		tp__close_inherited(); /* as a fork-method child does */
		int code = -1;
		pid_t out[1 + TP__SPARES];
		if (run_seven(&code, NULL) != TP_OK || code != 7 ||
		    tp__server_settle(20000) != TP_OK ||
		    tp__server_spares(&out[1], TP__SPARES) != TP__SPARES)
			_exit(2);
		out[0] = tp__pm.server_pid;
		if (write(pfd[1], out, sizeof(out)) != (ssize_t)sizeof(out))
			_exit(3);
		for (;;)
			pause();
	}
	close(pfd[1]);
	pid_t got[1 + TP__SPARES];
	assert_int_equal(read(pfd[0], got, sizeof(got)), (ssize_t)sizeof(got));
	close(pfd[0]);
	assert_int_equal(kill(prog, SIGKILL), 0);
	int st;
	assert_int_equal(waitpid(prog, &st, 0), prog);
	for (int i = 0; i < 1 + TP__SPARES; i++) {
		assert_true(got[i] > 0);
		wait_gone(got[i]); /* the server, then each spare */
	}
	tp_test_fini();
}

/* TROUPE_FORKSERVER_SPARES: how many spares the server keeps (0: none,
 * every start a clone of its own, as before spares), clamped to
 * TP__SPARES_MAX; a malformed value means the default. */
static void test_spares_setting(void **state)
{
	(void)state;
	static const struct {
		const char *v;
		int want;
	} cases[] = {{"0", 0},          {"1", 1},
	             {"3", 3},          {"99", TP__SPARES_MAX},
	             {"x", TP__SPARES}, {"-1", TP__SPARES},
	             {"", TP__SPARES}};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		assert_int_equal(
		    setenv("TROUPE_FORKSERVER_SPARES", cases[k].v, 1), 0);
		tp_test_init(TP_START_FORKSERVER);
		assert_int_equal(tp__server_spares_wanted(), cases[k].want);
		assert_int_equal(tp_test_children(), 1 + cases[k].want);
		for (int i = 0; i < 3; i++) {
			int code = -1;
			TP_OK_OR_FAIL(run_seven(&code, NULL));
			assert_int_equal(code, 7);
		}
		assert_int_equal(tp_test_children(), 1 + cases[k].want);
		tp_test_fini();
	}
	unsetenv("TROUPE_FORKSERVER_SPARES");
}

int main(void)
{
	tp_spawn_guard();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_start_takes_a_spare),
	    cmocka_unit_test(test_spares_killed_while_waiting),
	    cmocka_unit_test(test_spare_kill_storm),
	    cmocka_unit_test(test_concurrent_starts),
	    cmocka_unit_test(test_program_killed_takes_its_spares),
	    cmocka_unit_test(test_spares_setting),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
