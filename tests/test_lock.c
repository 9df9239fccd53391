/* test_lock.c - Lock and RLock: semantics, errors, processes, dead holders,
 * passing through payloads. */
#include <pthread.h>
#include <sys/mman.h>

#include "runtime_int.h"
#include "shm.h"
#include "sync_util.h"
#include "troupe.pb-c.h"

static void test_lock_basics(void **state)
{
	(void)state;
	tp_lock *l;
	TP_EXPECT(tp_lock_new(&l), TP_ENOTINIT);
	tp_test_init(TP_START_FORK);
	TP_EXPECT(tp_lock_new(NULL), TP_EINVAL);
	TP_OK_OR_FAIL(tp_lock_new(&l));
	assert_false(tp_lock_is_recursive(l));
	assert_false(tp_lock_is_mine(l));
	TP_EXPECT(tp_lock_release(l), TP_EVALUE);
	TP_OK_OR_FAIL(tp_lock_acquire(l, -1));
	assert_true(tp_lock_is_mine(l));
	TP_EXPECT(tp_lock_acquire(l, 0), TP_ETIMEDOUT);
	TP_EXPECT(tp_lock_acquire(l, 20), TP_ETIMEDOUT);
	TP_EXPECT(tp_lock_acquire(l, -1), TP_ESTATE);
	TP_OK_OR_FAIL(tp_lock_release(l));
	TP_EXPECT(tp_lock_release(l), TP_EVALUE);
	TP_OK_OR_FAIL(tp_lock_acquire(l, 0));
	TP_OK_OR_FAIL(tp_lock_release(l));
	TP_EXPECT(tp_lock_acquire(NULL, 0), TP_EINVAL);
	TP_EXPECT(tp_lock_release(NULL), TP_EINVAL);
	tp_lock_free(l);
	tp_lock_free(NULL);
	assert_int_equal(su_shm_count(), 0);
	su_fini();
}

static void test_rlock_recursion(void **state)
{
	(void)state;
	tp_lock *l;
	tp_test_init(TP_START_FORK);
	TP_OK_OR_FAIL(tp_rlock_new(&l));
	assert_true(tp_lock_is_recursive(l));
	TP_EXPECT(tp_lock_release(l), TP_EPERM);
	for (int i = 0; i < 3; i++)
		TP_OK_OR_FAIL(tp_lock_acquire(l, i == 0 ? -1 : 0));
	for (int i = 0; i < 3; i++) {
		assert_true(tp_lock_is_mine(l));
		TP_OK_OR_FAIL(tp_lock_release(l));
	}
	assert_false(tp_lock_is_mine(l));
	TP_EXPECT(tp_lock_release(l), TP_EPERM);
	tp_lock_free(l);
	su_fini();
}

static tp_lock *g_lock;

/* Child: the lock is held by the parent. */
static int child_against_held(void *arg)
{
	(void)arg;
	if (tp_lock_release(g_lock) != TP_EPERM)
		return 1;
	if (tp_lock_acquire(g_lock, 0) != TP_ETIMEDOUT)
		return 2;
	double t0 = su_now();
	if (tp_lock_acquire(g_lock, 100) != TP_ETIMEDOUT)
		return 3;
	if (su_now() - t0 < 0.09)
		return 4;
	return 0;
}

static void test_held_by_other_process(void **state)
{
	(void)state;
	tp_test_init(TP_START_FORK);
	for (int r = 0; r < 2; r++) {
		TP_OK_OR_FAIL(r ? tp_rlock_new(&g_lock) : tp_lock_new(&g_lock));
		TP_OK_OR_FAIL(tp_lock_acquire(g_lock, -1));
		assert_int_equal(su_reap(su_fork(child_against_held, NULL)), 0);
		TP_OK_OR_FAIL(tp_lock_release(g_lock));
		tp_lock_free(g_lock);
	}
	su_fini();
}

struct counter_arg {
	tp_payload *handles; /* NULL: use the inherited handles */
	tp_lock *lock;
	tp_value *value;
	int k;
};

static int child_count(void *arg)
{
	struct counter_arg *a = arg;
	tp_lock *l = a->lock;
	tp_value *v = a->value;
	if (a->handles != NULL) {
		tp_payload *q = su_roundtrip(a->handles);
		if (tp_payload_get_lock(q, 0, &l) != TP_OK ||
		    tp_payload_get_value(q, 1, &v) != TP_OK)
			return 1;
		tp_payload_free(q);
	}
	int *x = tp_value_ptr(v);
	for (int i = 0; i < a->k; i++) {
		if (tp_lock_acquire(l, -1) != TP_OK)
			return 2;
		int y = *x;
		if (i % 64 == 0)
			sched_yield();
		*x = y + 1;
		if (tp_lock_release(l) != TP_OK)
			return 3;
	}
	if (a->handles != NULL) {
		tp_lock_free(l);
		tp_value_free(v);
	}
	return 0;
}

static void test_counter_exact_under_contention(void **state)
{
	(void)state;
	struct counter_arg a = {.k = 20000};
	pid_t pids[4];
	int64_t total;
	tp_test_init(TP_START_FORK);
	for (int r = 0; r < 2; r++) {
		TP_OK_OR_FAIL(r ? tp_rlock_new(&a.lock) : tp_lock_new(&a.lock));
		TP_OK_OR_FAIL(tp_rawvalue_new(&a.value, 'i', NULL));
		TP_OK_OR_FAIL(tp_payload_new(&a.handles));
		TP_OK_OR_FAIL(tp_payload_add_lock(a.handles, a.lock));
		TP_OK_OR_FAIL(tp_payload_add_value(a.handles, a.value));
		tp_payload *h = a.handles;
		for (int i = 0; i < 4; i++) {
			a.handles = i % 2 ? h : NULL;
			pids[i] = su_fork(child_count, &a);
		}
		a.handles = h;
		for (int i = 0; i < 4; i++)
			assert_int_equal(su_reap(pids[i]), 0);
		TP_OK_OR_FAIL(tp_value_get_long(a.value, &total));
		assert_int_equal(total, 4 * a.k);
		tp_payload_free(a.handles);
		tp_lock_free(a.lock);
		tp_value_free(a.value);
	}
	assert_int_equal(su_shm_count(), 0);
	su_fini();
}

static void *thread_count(void *arg)
{
	child_count(arg);
	return NULL;
}

/* Child: two threads of its own count too. */
static int child_threads(void *arg)
{
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, thread_count, arg);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	return 0;
}

static void test_threads_and_processes(void **state)
{
	(void)state;
	struct counter_arg a = {.k = 10000};
	pthread_t t[2];
	int64_t total;
	tp_test_init(TP_START_FORK);
	for (int r = 0; r < 2; r++) {
		TP_OK_OR_FAIL(r ? tp_rlock_new(&a.lock) : tp_lock_new(&a.lock));
		TP_OK_OR_FAIL(tp_rawvalue_new(&a.value, 'i', NULL));
		a.handles = NULL;
		pid_t pid = su_fork(child_threads, &a);
		for (int i = 0; i < 2; i++)
			pthread_create(&t[i], NULL, thread_count, &a);
		for (int i = 0; i < 2; i++)
			pthread_join(t[i], NULL);
		assert_int_equal(su_reap(pid), 0);
		TP_OK_OR_FAIL(tp_value_get_long(a.value, &total));
		assert_int_equal(total, 4 * a.k);
		tp_lock_free(a.lock);
		tp_value_free(a.value);
	}
	su_fini();
}

/* Child: takes the lock (and a second level of an RLock) and dies. */
static int child_die_holding(void *arg)
{
	tp_value *flag = arg;
	if (tp_lock_acquire(g_lock, -1) != TP_OK)
		return 1;
	if (tp_lock_is_recursive(g_lock) && tp_lock_acquire(g_lock, 0) != 0)
		return 2;
	if (flag != NULL) {
		tp_value_set_long(flag, 1);
		for (;;)
			pause();
	}
	raise(SIGKILL);
	return 3;
}

static int flag_set(void *arg)
{
	int64_t x = 0;
	tp_value_get_long(arg, &x);
	return x != 0;
}

static void test_dead_holder_gives_ownerdead(void **state)
{
	(void)state;
	tp_value *flag;
	tp_test_init(TP_START_FORK);
	TP_OK_OR_FAIL(tp_rawvalue_new(&flag, 'i', NULL));
	for (int r = 0; r < 4; r++) {
		TP_OK_OR_FAIL(r % 2 ? tp_rlock_new(&g_lock)
		                    : tp_lock_new(&g_lock));
		if (r < 2) {
			/* The holder kills itself, then we acquire. */
			pid_t pid = su_fork(child_die_holding, NULL);
			assert_int_equal(su_reap(pid), 128 + SIGKILL);
			/* Its holder is gone: not held by anyone now. */
			assert_false(tp_lock_is_mine(g_lock));
			TP_EXPECT(tp_lock_release(g_lock),
			          r ? TP_EPERM : TP_EVALUE);
			TP_EXPECT(tp_lock_acquire(g_lock, 0), TP_EOWNERDEAD);
		} else {
			/* kill -9 of the holder while we wait for it. */
			tp_value_set_long(flag, 0);
			pid_t pid = su_fork(child_die_holding, flag);
			assert_true(su_poll(flag_set, flag));
			TP_EXPECT(tp_lock_acquire(g_lock, 0), TP_ETIMEDOUT);
			kill(pid, SIGKILL);
			TP_EXPECT(tp_lock_acquire(g_lock, 10000),
			          TP_EOWNERDEAD);
			assert_int_equal(su_reap(pid), 128 + SIGKILL);
		}
		/* We hold it, once, and the lock is fully usable again. */
		assert_true(tp_lock_is_mine(g_lock));
		TP_OK_OR_FAIL(tp_lock_release(g_lock));
		assert_false(tp_lock_is_mine(g_lock));
		TP_OK_OR_FAIL(tp_lock_acquire(g_lock, 0));
		TP_OK_OR_FAIL(tp_lock_release(g_lock));
		tp_lock_free(g_lock);
	}
	tp_value_free(flag);
	su_fini();
}

static void test_payload_errors(void **state)
{
	(void)state;
	tp_payload *p;
	tp_lock *l, *got;
	tp_test_init(TP_START_FORK);
	TP_OK_OR_FAIL(tp_lock_new(&l));
	TP_OK_OR_FAIL(tp_payload_new(&p));
	TP_EXPECT(tp_payload_add_lock(p, NULL), TP_EINVAL);
	TP_EXPECT(tp_payload_add_lock(NULL, l), TP_EINVAL);
	TP_OK_OR_FAIL(tp_payload_add_int(p, 7));
	TP_OK_OR_FAIL(tp_payload_add_lock(p, l));
	TP_EXPECT(tp_payload_get_lock(p, 0, &got), TP_ETYPE);
	TP_EXPECT(tp_payload_get_lock(p, 2, &got), TP_ENOENT);
	TP_EXPECT(tp_payload_get_lock(p, 1, NULL), TP_EINVAL);
	/* Another type's handle is not a lock. */
	tp_event *e;
	TP_OK_OR_FAIL(tp_event_new(&e));
	TP_OK_OR_FAIL(tp_payload_add_event(p, e));
	TP_EXPECT(tp_payload_get_lock(p, 2, &got), TP_ETYPE);
	tp_event_free(e);
	/* Attached in the same process: the same lock. */
	TP_OK_OR_FAIL(tp_payload_get_lock(p, 1, &got));
	TP_OK_OR_FAIL(tp_lock_acquire(got, -1));
	TP_EXPECT(tp_lock_acquire(l, 0), TP_ETIMEDOUT);
	TP_OK_OR_FAIL(tp_lock_release(l));
	tp_lock_free(got);
	/* Malformed handles. */
	Troupe__Handle h = TROUPE__HANDLE__INIT;
	h.kind = "lock";
	h.name = "/etc/passwd";
	TP_OK_OR_FAIL(tp_payload_add_proto(p, &h.base));
	TP_EXPECT(tp_payload_get_lock(p, 3, &got), TP_EDECODE);
	h.name = "/troupe.0.nothing";
	TP_OK_OR_FAIL(tp_payload_add_proto(p, &h.base));
	TP_EXPECT(tp_payload_get_lock(p, 4, &got), TP_ENOENT);
	tp_payload *q;
	TP_OK_OR_FAIL(tp_payload_new(&q));
	TP_OK_OR_FAIL(tp_payload_add_lock(q, l));
	tp_payload *bad = su_roundtrip(q);
	tp_payload_free(q);
	/* The creator frees its lock: its name is gone. */
	tp_lock_free(l);
	TP_EXPECT(tp_payload_get_lock(bad, 0, &got), TP_ENOENT);
	tp_payload_free(bad);
	tp_payload_free(p);
	assert_int_equal(su_shm_count(), 0);
	su_fini();
}

static void test_fini_removes_leftovers(void **state)
{
	(void)state;
	tp_lock *l;
	tp_test_init(TP_START_FORK);
	TP_OK_OR_FAIL(tp_lock_new(&l));
	assert_int_equal(su_shm_count(), 1);
	su_fini(); /* segments gone even though l was never freed */
	tp_lock_free(l);
}

/* Regression: the owner's start time was read from the wrong /proc field
 * (vsize), so another run's tp_init unlinked a live run's segments as soon
 * as its memory map changed. */
static void test_live_segments_survive_stale_cleaning(void **state)
{
	(void)state;
	unsigned long long a, b;
	tp_payload *p;
	tp_lock *l, *got;
	tp_test_init(TP_START_FORK);
	TP_OK_OR_FAIL(tp__proc_starttime(getpid(), &a));
	void *big = mmap(NULL, 64 << 20, PROT_READ | PROT_WRITE,
	                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(big != MAP_FAILED);
	TP_OK_OR_FAIL(tp__proc_starttime(getpid(), &b));
	assert_true(a == b);
	TP_OK_OR_FAIL(tp_lock_new(&l));
	TP_OK_OR_FAIL(tp_payload_new(&p));
	TP_OK_OR_FAIL(tp_payload_add_lock(p, l));
	tp__shm_clean_stale();
	TP_OK_OR_FAIL(tp_payload_get_lock(p, 0, &got));
	munmap(big, 64 << 20);
	tp_lock_free(got);
	tp_lock_free(l);
	tp_payload_free(p);
	su_fini();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lock_basics),
	    cmocka_unit_test(test_rlock_recursion),
	    cmocka_unit_test(test_held_by_other_process),
	    cmocka_unit_test(test_counter_exact_under_contention),
	    cmocka_unit_test(test_threads_and_processes),
	    cmocka_unit_test(test_dead_holder_gives_ownerdead),
	    cmocka_unit_test(test_payload_errors),
	    cmocka_unit_test(test_fini_removes_leftovers),
	    cmocka_unit_test(test_live_segments_survive_stale_cleaning),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
