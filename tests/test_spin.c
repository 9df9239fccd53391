/*
 * test_spin.c - the spin before a pipe end sleeps (rt/spin.h): it backs
 * off for an end whose answers come late and resets on one that came in
 * time; a wait with a deadline still ends at the deadline and a wait of
 * 0 ms is a look that counts nothing; TROUPE_SPIN_US sets the budget (0:
 * no spin, malformed: the default); a peer that closes, or that is killed,
 * while the reader spins is end of file, with every message sent before
 * it read first; a reader in another process spinning or not gets every
 * message of a long exchange in order.
 *
 * Pipes do not touch nng, so the test forks plain children.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "pipe_int.h"
#include "pipe_util.h"
#include "spin.h"

/* The back-off: 2, 4, ... 64 waits skipped after 1, 2, ... misses. */
static void test_backoff(void **state)
{
	struct tp__spin s = {0};
	(void)state;
	assert_true(tp__spin_budget(&s) > 0);
	for (int m = 1; m <= 8; m++) {
		tp__spin_end(&s, 0);
		int skip = 1 << (m < 6 ? m : 6);
		for (int i = 0; i < skip; i++)
			assert_int_equal(tp__spin_budget(&s), 0);
		assert_true(tp__spin_budget(&s) > 0);
	}
	tp__spin_end(&s, 1); /* one in time: back to spinning every wait */
	assert_int_equal(s.misses, 0);
	assert_true(tp__spin_budget(&s) > 0);
	assert_true(tp__spin_budget(&s) > 0);
}

/* An empty pipe: a recv with a deadline spins, misses, sleeps and ends
 * at its deadline; the end then skips its next two spins; a look (0 ms)
 * neither spins nor counts. */
static void test_deadlines(void **state)
{
	tp_conn *a, *b;
	tp_payload *p = NULL;
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_pipe_new(&a, &b, 1));
	TP_EXPECT(tp_conn_recv(b, &p, 0), TP_ETIMEDOUT);
	TP_EXPECT(tp_conn_poll(b, 0), TP_ETIMEDOUT);
	assert_int_equal(b->spin.misses, 0);
	assert_int_equal(b->spin.skip, 0);
	int64_t t0 = tp__now_ms();
	TP_EXPECT(tp_conn_recv(b, &p, 30), TP_ETIMEDOUT);
	assert_true(tp__now_ms() - t0 >= 30);
	assert_int_equal(b->spin.misses, 1);
	assert_int_equal(b->spin.skip, 2);
	TP_EXPECT(tp_conn_poll(b, 5), TP_ETIMEDOUT);
	TP_EXPECT(tp_conn_recv(b, &p, 5), TP_ETIMEDOUT);
	assert_int_equal(b->spin.skip, 0);
	assert_int_equal(b->spin.misses, 1);
	TP_EXPECT(tp_conn_poll(b, 5), TP_ETIMEDOUT); /* spins, misses */
	assert_int_equal(b->spin.misses, 2);
	assert_int_equal(b->spin.skip, 4);
	/* a message there before the wait: no spin, nothing counted */
	TP_OK_OR_FAIL(pu_send_int(a, 7));
	int64_t v = 0;
	TP_OK_OR_FAIL(pu_recv_int(b, &v, -1));
	assert_int_equal(v, 7);
	assert_int_equal(b->spin.skip, 4);
	assert_null(p);
	tp_conn_free(a);
	tp_conn_free(b);
	tp_test_fini();
}

/* TROUPE_SPIN_US, read once per process: checked in children, forked
 * before this process reads it (so this test runs first). */
static int budget_with(const char *env)
{
	pid_t pid = fork();
	if (pid == 0) {
		if (env != NULL)
			setenv("TROUPE_SPIN_US", env, 1);
		else
			unsetenv("TROUPE_SPIN_US");
		_exit((int)(tp__spin_ns() / 1000 % 250));
	}
	int st = 0;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_environment(void **state)
{
	(void)state;
	assert_int_equal(budget_with(NULL), 50);
	assert_int_equal(budget_with("0"), 0);
	assert_int_equal(budget_with("7"), 7);
	assert_int_equal(budget_with("x"), 50);
	assert_int_equal(budget_with("-3"), 50);
	assert_int_equal(budget_with(""), 50);
	/* no spin at all: a wait that times out counts no miss */
	pid_t pid = fork();
	if (pid == 0) {
		tp_conn *b;
		tp_payload *p;
		int sv[2];
		setenv("TROUPE_SPIN_US", "0", 1);
		if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) != 0 ||
		    tp__conn_wrap(sv[0], 1, 1, &b) != TP_OK ||
		    tp_conn_recv(b, &p, 5) != TP_ETIMEDOUT ||
		    tp_conn_poll(b, 5) != TP_ETIMEDOUT || b->spin.misses != 0)
			_exit(1);
		_exit(0);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* A child that sends n ints and then closes its end (how = 0) or kills
 * itself with the end open (how = 1): the parent, spinning or sleeping
 * as each wait goes, reads all n in order, then end of file. */
static void peer_goes(int how)
{
	tp_conn *a, *b;
	int go[2];
	const int n = 2000;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_pipe_new(&a, &b, 1));
	assert_int_equal(pipe(go), 0);
	pid_t pid = fork();
	if (pid == 0) {
		char c;
		tp_conn_free(b);
		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(1);
		for (int i = 0; i < n; i++)
			if (pu_send_int(a, i) != TP_OK)
				_exit(2);
		if (how == 1)
			raise(SIGKILL);
		tp_conn_free(a);
		_exit(0);
	}
	tp_conn_free(a);
	close(go[0]);
	assert_int_equal(write(go[1], "g", 1), 1);
	for (int i = 0; i < n; i++) {
		int64_t v = -1;
		TP_OK_OR_FAIL(pu_recv_int(b, &v, i % 2 ? 10000 : -1));
		assert_int_equal(v, i);
	}
	tp_payload *p;
	TP_EXPECT(tp_conn_recv(b, &p, 10000), TP_EOF);
	int st;
	waitpid(pid, &st, 0);
	assert_true(how == 1 ? WIFSIGNALED(st)
	                     : WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(go[1]);
	tp_conn_free(b);
	tp_test_fini();
}

static void test_peer_closes(void **state)
{
	(void)state;
	peer_goes(0);
}

static void test_peer_killed(void **state)
{
	(void)state;
	peer_goes(1);
}

/* A long exchange with an echo in another process: every answer is the
 * right one, whichever of spinning and sleeping each wait took. */
static void test_exchange(void **state)
{
	tp_conn *a, *b;
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_pipe_new(&a, &b, 1));
	pid_t pid = fork();
	if (pid == 0) {
		tp_conn_free(a);
		for (;;) {
			int64_t v;
			int rv = pu_recv_int(b, &v, -1);
			if (rv == TP_EOF)
				_exit(0);
			if (rv != TP_OK || pu_send_int(b, v * 3) != TP_OK)
				_exit(1);
		}
	}
	tp_conn_free(b);
	for (int64_t i = 0; i < 20000; i++) {
		int64_t v = -1;
		TP_OK_OR_FAIL(pu_send_int(a, i));
		TP_OK_OR_FAIL(pu_recv_int(a, &v, i % 3 ? -1 : 10000));
		assert_int_equal(v, i * 3);
	}
	tp_conn_free(a);
	int st;
	waitpid(pid, &st, 0);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	tp_test_fini();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_environment), /* first: see above */
	    cmocka_unit_test(test_backoff),
	    cmocka_unit_test(test_deadlines),
	    cmocka_unit_test(test_peer_closes),
	    cmocka_unit_test(test_peer_killed),
	    cmocka_unit_test(test_exchange),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
