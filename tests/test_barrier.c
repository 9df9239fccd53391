/* test_barrier.c - Barrier: indexes, action, reuse, timeouts, abort,
 * reset, a party killed while waiting or inside the action, payloads. */
#include "sync_util.h"

static tp_value *g_actions;
static pid_t g_parent;

static void count_action(void *arg)
{
	(void)arg;
	int64_t x;
	tp_value_get_long(g_actions, &x);
	tp_value_set_long(g_actions, x + 1);
}

static void test_barrier_basics(void **state)
{
	(void)state;
	tp_barrier *b;
	unsigned idx = 99;
	int64_t n;
	tp_test_init(TP_START_FORK);
	TP_OK_OR_FAIL(tp_rawvalue_new(&g_actions, 'q', NULL));
	TP_EXPECT(tp_barrier_new(&b, 0, NULL, NULL, -1), TP_EINVAL);
	TP_EXPECT(tp_barrier_new(NULL, 1, NULL, NULL, -1), TP_EINVAL);
	TP_EXPECT(tp_barrier_new(&b, 1, NULL, NULL, -5), TP_EINVAL);
	TP_OK_OR_FAIL(tp_barrier_new(&b, 1, count_action, NULL, -1));
	assert_int_equal(tp_barrier_parties(b), 1);
	assert_int_equal(tp_barrier_n_waiting(b), 0);
	assert_false(tp_barrier_broken(b));
	TP_OK_OR_FAIL(tp_barrier_wait(b, -1, &idx));
	assert_int_equal(idx, 0);
	TP_OK_OR_FAIL(tp_barrier_wait(b, TP_BARRIER_DEFAULT, NULL));
	TP_OK_OR_FAIL(tp_value_get_long(g_actions, &n));
	assert_int_equal(n, 2);
	TP_OK_OR_FAIL(tp_barrier_abort(b));
	assert_true(tp_barrier_broken(b));
	TP_EXPECT(tp_barrier_wait(b, -1, &idx), TP_EBROKEN);
	TP_OK_OR_FAIL(tp_barrier_reset(b));
	assert_false(tp_barrier_broken(b));
	TP_OK_OR_FAIL(tp_barrier_wait(b, 0, &idx));
	TP_EXPECT(tp_barrier_wait(NULL, 0, &idx), TP_EINVAL);
	TP_EXPECT(tp_barrier_wait(b, -3, &idx), TP_EINVAL);
	TP_EXPECT(tp_barrier_reset(NULL), TP_EINVAL);
	TP_EXPECT(tp_barrier_abort(NULL), TP_EINVAL);
	assert_int_equal(tp_barrier_parties(NULL), 0);
	tp_barrier_free(b);
	tp_barrier_free(NULL);
	tp_value_free(g_actions);
	su_fini();
}

static tp_barrier *g_bar;
static tp_payload *g_handles;

/* Child: waits 3 rounds; exits with the bitmask of its indexes or 100+. */
static int child_rounds(void *arg)
{
	tp_barrier *b = g_bar;
	unsigned idx;
	int mask = 0;
	if (arg != NULL) {
		tp_payload *q = su_roundtrip(g_handles);
		int err = tp_payload_get_barrier(q, 0, &b);
		if (err != TP_OK) {
			fprintf(stderr, "child attach: %s\n", tp_strerror(err));
			return 100;
		}
		tp_payload_free(q);
	}
	for (int r = 0; r < 3; r++) {
		int rv = tp_barrier_wait(b, 10000, &idx);
		if (rv != TP_OK) {
			fprintf(stderr, "child %d round %d: %s\n",
			        (int)getpid(), r, tp_strerror(rv));
			return 101 + r;
		}
		mask |= 1 << (idx + 3 * r);
	}
	if (arg != NULL)
		tp_barrier_free(b);
	return mask & 7; /* the first round's index */
}

static void test_barrier_across_processes(void **state)
{
	(void)state;
	unsigned idx;
	int64_t n;
	int seen[3] = {0};
	tp_test_init(TP_START_FORK);
	TP_OK_OR_FAIL(tp_rawvalue_new(&g_actions, 'q', NULL));
	TP_OK_OR_FAIL(tp_barrier_new(&g_bar, 3, count_action, NULL, -1));
	TP_OK_OR_FAIL(tp_payload_new(&g_handles));
	TP_OK_OR_FAIL(tp_payload_add_barrier(g_handles, g_bar));
	pid_t a = su_fork(child_rounds, NULL);
	pid_t b = su_fork(child_rounds, g_handles);
	for (int r = 0; r < 3; r++) {
		TP_OK_OR_FAIL(tp_barrier_wait(g_bar, 10000, &idx));
		assert_true(idx < 3);
		if (r == 0)
			seen[idx]++;
	}
	int ma = su_reap(a), mb = su_reap(b);
	assert_true(ma < 100 && mb < 100);
	/* First round: the three indexes are 0, 1 and 2 once each. */
	for (int i = 0; i < 3; i++)
		seen[i] += ((ma >> i) & 1) + ((mb >> i) & 1);
	assert_int_equal(seen[0] * 100 + seen[1] * 10 + seen[2], 111);
	/* The action runs once per round, whoever arrives last: the attached
	 * handle (same program image) has it too. */
	TP_OK_OR_FAIL(tp_value_get_long(g_actions, &n));
	assert_int_equal(n, 3);
	tp_payload_free(g_handles);
	tp_barrier_free(g_bar);
	tp_value_free(g_actions);
	assert_int_equal(su_shm_count(), 0);
	su_fini();
}

static void test_barrier_timeout_breaks(void **state)
{
	(void)state;
	tp_barrier *b;
	tp_test_init(TP_START_FORK);
	TP_OK_OR_FAIL(tp_barrier_new(&b, 2, NULL, NULL, 30));
	double t0 = su_now();
	TP_EXPECT(tp_barrier_wait(b, TP_BARRIER_DEFAULT, NULL), TP_ETIMEDOUT);
	assert_true(su_now() - t0 >= 0.025);
	assert_true(tp_barrier_broken(b));
	assert_int_equal(tp_barrier_n_waiting(b), 0);
	TP_EXPECT(tp_barrier_wait(b, 0, NULL), TP_EBROKEN);
	TP_OK_OR_FAIL(tp_barrier_reset(b));
	TP_EXPECT(tp_barrier_wait(b, 0, NULL), TP_ETIMEDOUT);
	tp_barrier_free(b);
	su_fini();
}

static int child_wait_forever(void *arg)
{
	(void)arg;
	int rv = tp_barrier_wait(g_bar, -1, NULL);
	return rv == TP_EBROKEN ? 0 : 1;
}

static int one_waiting(void *arg)
{
	return tp_barrier_n_waiting(arg) == 1;
}

static void test_killed_party_breaks(void **state)
{
	(void)state;
	tp_test_init(TP_START_FORK);
	TP_OK_OR_FAIL(tp_barrier_new(&g_bar, 3, NULL, NULL, -1));
	pid_t pid = su_fork(child_wait_forever, NULL);
	assert_true(su_poll(one_waiting, g_bar));
	kill(pid, SIGKILL);
	/* We wait forever in principle; the dead party breaks the round. */
	TP_EXPECT(tp_barrier_wait(g_bar, -1, NULL), TP_EBROKEN);
	assert_int_equal(su_reap(pid), 128 + SIGKILL);
	assert_true(tp_barrier_broken(g_bar));
	TP_OK_OR_FAIL(tp_barrier_reset(g_bar));
	tp_barrier_free(g_bar);
	su_fini();
}

static void test_reset_while_waiting(void **state)
{
	(void)state;
	tp_test_init(TP_START_FORK);
	TP_OK_OR_FAIL(tp_barrier_new(&g_bar, 2, NULL, NULL, -1));
	pid_t pid = su_fork(child_wait_forever, NULL);
	assert_true(su_poll(one_waiting, g_bar));
	TP_OK_OR_FAIL(tp_barrier_reset(g_bar));
	assert_int_equal(su_reap(pid), 0); /* it got TP_EBROKEN */
	assert_false(tp_barrier_broken(g_bar));
	assert_int_equal(tp_barrier_n_waiting(g_bar), 0);
	tp_barrier_free(g_bar);
	su_fini();
}

static void die_unless_parent(void *arg)
{
	(void)arg;
	if (getpid() != g_parent)
		raise(SIGKILL);
}

static int child_arrive_last(void *arg)
{
	(void)arg;
	tp_barrier_wait(g_bar, -1, NULL);
	return 1;
}

static int child_abort(void *arg)
{
	(void)arg;
	return tp_barrier_abort(g_bar) == TP_OK ? 0 : 1;
}

static void test_death_in_action_and_abort(void **state)
{
	(void)state;
	tp_test_init(TP_START_FORK);
	g_parent = getpid();
	TP_OK_OR_FAIL(tp_barrier_new(&g_bar, 2, die_unless_parent, NULL, -1));
	/* A waits; B arrives second and dies inside the action, holding the
	 * barrier's own mutex: A is released with TP_EBROKEN. */
	pid_t a = su_fork(child_wait_forever, NULL);
	assert_true(su_poll(one_waiting, g_bar));
	pid_t pid = su_fork(child_arrive_last, NULL);
	assert_int_equal(su_reap(pid), 128 + SIGKILL);
	assert_int_equal(su_reap(a), 0);
	assert_true(tp_barrier_broken(g_bar));
	TP_OK_OR_FAIL(tp_barrier_reset(g_bar));
	assert_false(tp_barrier_broken(g_bar));
	/* abort() from another process releases a waiter. */
	tp_barrier_set_action(g_bar, NULL, NULL);
	pid = su_fork(child_wait_forever, NULL);
	assert_true(su_poll(one_waiting, g_bar));
	assert_int_equal(su_reap(su_fork(child_abort, NULL)), 0);
	assert_int_equal(su_reap(pid), 0);
	tp_barrier_free(g_bar);
	su_fini();
}

static void test_payload_types(void **state)
{
	(void)state;
	tp_barrier *b;
	tp_sem *s;
	tp_payload *p;
	tp_test_init(TP_START_FORK);
	TP_OK_OR_FAIL(tp_sem_new(&s, 1));
	TP_OK_OR_FAIL(tp_payload_new(&p));
	TP_OK_OR_FAIL(tp_payload_add_sem(p, s));
	TP_EXPECT(tp_payload_get_barrier(p, 0, &b), TP_ETYPE);
	TP_EXPECT(tp_payload_get_barrier(p, 1, &b), TP_ENOENT);
	TP_EXPECT(tp_payload_add_barrier(p, NULL), TP_EINVAL);
	TP_OK_OR_FAIL(tp_barrier_new(&b, 2, NULL, NULL, -1));
	TP_OK_OR_FAIL(tp_payload_add_barrier(p, b));
	tp_barrier *b2;
	TP_OK_OR_FAIL(tp_payload_get_barrier(p, 1, &b2));
	assert_int_equal(tp_barrier_parties(b2), 2);
	tp_barrier_free(b2);
	tp_barrier_free(b);
	tp_sem_free(s);
	tp_payload_free(p);
	su_fini();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_barrier_basics),
	    cmocka_unit_test(test_barrier_across_processes),
	    cmocka_unit_test(test_barrier_timeout_breaks),
	    cmocka_unit_test(test_killed_party_breaks),
	    cmocka_unit_test(test_reset_while_waiting),
	    cmocka_unit_test(test_death_in_action_and_abort),
	    cmocka_unit_test(test_payload_types),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
