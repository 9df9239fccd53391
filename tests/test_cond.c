/* test_cond.c - Condition: semantics, errors, timeouts, notify(n) across
 * processes, killed waiters and holders, payload passing. */
#include <pthread.h>

#include "sync_util.h"

static void test_cond_basics(void **state)
{
	(void)state;
	tp_cond *c;
	tp_test_init(TP_START_FORK);
	TP_EXPECT(tp_cond_new(NULL, NULL), TP_EINVAL);
	TP_OK_OR_FAIL(tp_cond_new(&c, NULL));
	assert_true(tp_lock_is_recursive(tp_cond_lock(c)));
	TP_EXPECT(tp_cond_wait(c, 0), TP_EPERM);
	TP_EXPECT(tp_cond_notify(c, 1), TP_EPERM);
	TP_EXPECT(tp_cond_notify_all(c), TP_EPERM);
	TP_OK_OR_FAIL(tp_cond_acquire(c, -1));
	TP_OK_OR_FAIL(tp_cond_acquire(c, 0)); /* an RLock: depth 2 */
	TP_EXPECT(tp_cond_wait(c, 0), TP_ETIMEDOUT);
	double t0 = su_now();
	TP_EXPECT(tp_cond_wait(c, 30), TP_ETIMEDOUT);
	assert_true(su_now() - t0 >= 0.025);
	assert_true(tp_lock_is_mine(tp_cond_lock(c)));
	TP_OK_OR_FAIL(tp_cond_notify(c, 1)); /* nobody waits: fine */
	TP_OK_OR_FAIL(tp_cond_notify_all(c));
	TP_OK_OR_FAIL(tp_cond_release(c));
	TP_OK_OR_FAIL(tp_cond_release(c)); /* the depth was restored */
	TP_EXPECT(tp_cond_release(c), TP_EPERM);
	TP_EXPECT(tp_cond_wait(NULL, 0), TP_EINVAL);
	TP_EXPECT(tp_cond_notify(NULL, 1), TP_EINVAL);
	TP_EXPECT(tp_cond_acquire(NULL, 0), TP_EINVAL);
	TP_EXPECT(tp_cond_release(NULL), TP_EINVAL);
	assert_null(tp_cond_lock(NULL));
	tp_cond_free(c);
	tp_cond_free(NULL);
	su_fini();
}

static int yes(void *arg)
{
	(void)arg;
	return 1;
}

static int no(void *arg)
{
	(void)arg;
	return 0;
}

static void test_cond_user_lock_and_wait_for(void **state)
{
	(void)state;
	tp_lock *l;
	tp_cond *c;
	tp_test_init(TP_START_FORK);
	TP_OK_OR_FAIL(tp_lock_new(&l));
	TP_OK_OR_FAIL(tp_cond_new(&c, l));
	assert_false(tp_lock_is_recursive(tp_cond_lock(c)));
	TP_OK_OR_FAIL(tp_lock_acquire(l, -1));
	assert_true(tp_lock_is_mine(tp_cond_lock(c)));
	TP_OK_OR_FAIL(tp_cond_wait_for(c, yes, NULL, -1));
	double t0 = su_now();
	TP_EXPECT(tp_cond_wait_for(c, no, NULL, 40), TP_ETIMEDOUT);
	assert_true(su_now() - t0 >= 0.035);
	TP_EXPECT(tp_cond_wait_for(c, NULL, NULL, 0), TP_EINVAL);
	assert_true(tp_lock_is_mine(l));
	TP_OK_OR_FAIL(tp_lock_release(l));
	tp_lock_free(l); /* the condition keeps the lock alive */
	TP_OK_OR_FAIL(tp_cond_acquire(c, 0));
	TP_OK_OR_FAIL(tp_cond_release(c));
	tp_cond_free(c);
	su_fini();
}

/* Shared between the parent and its children: [waiting, woken, level]. */
static tp_cond *g_cond;
static tp_array *g_st;
static tp_payload *g_handles;

static int64_t st_get(int i)
{
	int64_t x = -1;
	tp_array_get_long(g_st, (size_t)i, &x);
	return x;
}

static void st_add(int i, int64_t d)
{
	tp_array_set_long(g_st, (size_t)i, st_get(i) + d);
}

/* Child: attaches, registers as waiting, waits up to 10 s. */
static int child_waiter(void *arg)
{
	(void)arg;
	tp_payload *q = su_roundtrip(g_handles);
	tp_cond *c;
	int err = tp_payload_get_cond(q, 0, &c);
	if (err != TP_OK) {
		fprintf(stderr, "child: %s\n", tp_strerror(err));
		return 1;
	}
	tp_payload_free(q);
	if ((err = tp_cond_acquire(c, -1)) != TP_OK)
		fprintf(stderr, "child acquire: %s\n", tp_strerror(err));
	st_add(0, 1);
	int rv = tp_cond_wait(c, 10000);
	st_add(1, 1);
	tp_cond_release(c);
	tp_cond_free(c);
	return rv == TP_OK ? 0 : 2;
}

static int64_t locked_get(int i)
{
	tp_cond_acquire(g_cond, -1);
	int64_t x = st_get(i);
	tp_cond_release(g_cond);
	return x;
}

static int waiting_is(void *arg)
{
	return locked_get(0) == *(int *)arg;
}

static int woken_is(void *arg)
{
	return locked_get(1) == *(int *)arg;
}

static void notify(unsigned n)
{
	tp_cond_acquire(g_cond, -1);
	TP_OK_OR_FAIL(tp_cond_notify(g_cond, n));
	tp_cond_release(g_cond);
}

static void cond_setup(void)
{
	tp_test_init(TP_START_FORK);
	TP_OK_OR_FAIL(tp_cond_new(&g_cond, NULL));
	TP_OK_OR_FAIL(tp_array_new(&g_st, 'q', 3, NULL, tp_cond_lock(g_cond)));
	TP_OK_OR_FAIL(tp_payload_new(&g_handles));
	TP_OK_OR_FAIL(tp_payload_add_cond(g_handles, g_cond));
}

static void cond_teardown(void)
{
	tp_payload_free(g_handles);
	tp_array_free(g_st);
	tp_cond_free(g_cond);
	assert_int_equal(su_shm_count(), 0);
	su_fini();
}

static void test_notify_n_across_processes(void **state)
{
	(void)state;
	pid_t pids[3];
	int n3 = 3, n1 = 1;
	cond_setup();
	for (int i = 0; i < 3; i++)
		pids[i] = su_fork(child_waiter, NULL);
	/* waiting == 3 under the lock: all three are registered. */
	assert_true(su_poll(waiting_is, &n3));
	notify(1);
	assert_true(su_poll(woken_is, &n1));
	tp_cond_acquire(g_cond, -1);
	TP_OK_OR_FAIL(tp_cond_notify_all(g_cond));
	tp_cond_release(g_cond);
	assert_true(su_poll(woken_is, &n3));
	for (int i = 0; i < 3; i++)
		assert_int_equal(su_reap(pids[i]), 0);
	cond_teardown();
}

static void test_killed_waiter_does_not_eat_notify(void **state)
{
	(void)state;
	int n1 = 1, n2 = 2;
	cond_setup();
	pid_t dead = su_fork(child_waiter, NULL);
	assert_true(su_poll(waiting_is, &n1));
	kill(dead, SIGKILL);
	assert_int_equal(su_reap(dead), 128 + SIGKILL);
	pid_t live = su_fork(child_waiter, NULL);
	assert_true(su_poll(waiting_is, &n2));
	notify(1); /* the oldest slot is dead: the live waiter gets it */
	assert_int_equal(su_reap(live), 0);
	cond_teardown();
}

static int child_die_with_lock(void *arg)
{
	(void)arg;
	tp_cond_acquire(g_cond, -1);
	raise(SIGKILL);
	return 1;
}

/* Child: waits on the condition; the notifier then dies holding the lock. */
static int child_wait_ownerdead(void *arg)
{
	(void)arg;
	tp_cond_acquire(g_cond, -1);
	st_add(0, 1);
	int rv = tp_cond_wait(g_cond, 10000);
	tp_cond_release(g_cond);
	return rv == TP_EOWNERDEAD ? 0 : 1;
}

static int child_notify_and_die(void *arg)
{
	(void)arg;
	tp_cond_acquire(g_cond, -1);
	tp_cond_notify(g_cond, 1);
	raise(SIGKILL);
	return 1;
}

static void test_dead_lock_holder(void **state)
{
	(void)state;
	int n1 = 1;
	cond_setup();
	assert_int_equal(su_reap(su_fork(child_die_with_lock, NULL)),
	                 128 + SIGKILL);
	TP_EXPECT(tp_cond_acquire(g_cond, 0), TP_EOWNERDEAD);
	TP_OK_OR_FAIL(tp_cond_release(g_cond));
	/* A waiter re-acquires the lock from a notifier that died. */
	pid_t w = su_fork(child_wait_ownerdead, NULL);
	assert_true(su_poll(waiting_is, &n1));
	assert_int_equal(su_reap(su_fork(child_notify_and_die, NULL)),
	                 128 + SIGKILL);
	assert_int_equal(su_reap(w), 0);
	TP_OK_OR_FAIL(tp_cond_acquire(g_cond, 0));
	TP_OK_OR_FAIL(tp_cond_release(g_cond));
	cond_teardown();
}

static void *thread_waiter(void *arg)
{
	tp_cond_acquire(g_cond, -1);
	st_add(0, 1);
	*(int *)arg = tp_cond_wait(g_cond, 20000);
	tp_cond_release(g_cond);
	return NULL;
}

/* 128 waiters at once; one more is refused with TP_EFULL. */
static void test_waiter_table_full(void **state)
{
	(void)state;
	enum { N = 128 };
	pthread_t t[N];
	int rv[N], n = N;
	cond_setup();
	for (int i = 0; i < N; i++)
		assert_int_equal(
		    pthread_create(&t[i], NULL, thread_waiter, &rv[i]), 0);
	assert_true(su_poll(waiting_is, &n));
	tp_cond_acquire(g_cond, -1);
	TP_EXPECT(tp_cond_wait(g_cond, 0), TP_EFULL);
	assert_true(tp_lock_is_mine(tp_cond_lock(g_cond)));
	TP_OK_OR_FAIL(tp_cond_notify_all(g_cond));
	tp_cond_release(g_cond);
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		TP_EXPECT(rv[i], TP_OK);
	}
	cond_teardown();
}

static void test_payload_types(void **state)
{
	(void)state;
	tp_cond *c;
	tp_lock *l;
	tp_payload *p;
	tp_test_init(TP_START_FORK);
	TP_OK_OR_FAIL(tp_lock_new(&l));
	TP_OK_OR_FAIL(tp_payload_new(&p));
	TP_OK_OR_FAIL(tp_payload_add_lock(p, l));
	TP_EXPECT(tp_payload_get_cond(p, 0, &c), TP_ETYPE);
	TP_EXPECT(tp_payload_get_cond(p, 1, &c), TP_ENOENT);
	TP_EXPECT(tp_payload_get_cond(p, 0, NULL), TP_EINVAL);
	TP_EXPECT(tp_payload_add_cond(p, NULL), TP_EINVAL);
	/* A condition whose user lock is gone cannot be attached. */
	TP_OK_OR_FAIL(tp_cond_new(&c, l));
	TP_OK_OR_FAIL(tp_payload_add_cond(p, c));
	tp_lock_free(l);
	tp_cond *c2;
	TP_EXPECT(tp_payload_get_cond(p, 1, &c2), TP_ENOENT);
	tp_cond_free(c);
	tp_payload_free(p);
	su_fini();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cond_basics),
	    cmocka_unit_test(test_cond_user_lock_and_wait_for),
	    cmocka_unit_test(test_notify_n_across_processes),
	    cmocka_unit_test(test_killed_waiter_does_not_eat_notify),
	    cmocka_unit_test(test_dead_lock_holder),
	    cmocka_unit_test(test_waiter_table_full),
	    cmocka_unit_test(test_payload_types),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
