/*
 * test_sync_storm.c - kill -9 storms on the shared objects: Lock, RLock,
 * Semaphore, Event, Condition, Barrier, Value and Array. Four processes use
 * the object in a loop; one of them is SIGKILLed at a random point every
 * few milliseconds and replaced, for STORM_S seconds; then every worker is
 * killed at once, and fresh processes must make progress within bounded
 * timeouts. For the locks (and a Value or Array under its lock) the
 * accounting must add up: no two holders at once, and the counter kept
 * under the lock is the number of completed increments plus at most one
 * per killed worker (the one it was inside).
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "sync_util.h"
#include "troupe/troupe.h"

#define STORM_S 0.8
#define NWORK   4

struct acct {
	long inside;    /* holders of the lock right now */
	long violation; /* a second holder was seen */
	long errors;    /* unexpected return codes */
	long last_error;
	long counter;   /* incremented under the lock, non-atomically */
	long completed; /* increments whose release returned */
};

static struct acct *ac;

struct obj {
	tp_lock *lock;
	tp_sem *sem;
	tp_event *event;
	tp_cond *cond;
	tp_barrier *bar;
	tp_value *val;
	tp_array *arr;
};

static int bad(int rv)
{
	__atomic_store_n(&ac->last_error, rv, __ATOMIC_RELAXED);
	__atomic_add_fetch(&ac->errors, 1, __ATOMIC_RELAXED);
	return 1;
}

/* The critical section: one holder, a non-atomic increment. A holder
 * that died inside leaves inside at 1: the next one (told by
 * TP_EOWNERDEAD) takes that back. */
static void critical(int rv)
{
	if (rv == TP_EOWNERDEAD)
		__atomic_store_n(&ac->inside, 0, __ATOMIC_SEQ_CST);
	if (__atomic_add_fetch(&ac->inside, 1, __ATOMIC_SEQ_CST) != 1)
		__atomic_add_fetch(&ac->violation, 1, __ATOMIC_SEQ_CST);
	long c = ac->counter;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	ac->counter = c + 1;
	__atomic_sub_fetch(&ac->inside, 1, __ATOMIC_SEQ_CST);
}

static int acquired(int rv)
{
	return rv == TP_OK || rv == TP_EOWNERDEAD;
}

static int lock_worker(void *arg)
{
	tp_lock *l = ((struct obj *)arg)->lock;
	int rec = tp_lock_is_recursive(l);
	for (;;) {
		int rv = tp_lock_acquire(l, 2000);
		if (!acquired(rv))
			return bad(rv);
		int rv2 = rec ? tp_lock_acquire(l, 0) : TP_OK;
		if (rv2 != TP_OK)
			return bad(rv2);
		critical(rv); /* (the first acquire's TP_EOWNERDEAD) */
		if (rec && (rv = tp_lock_release(l)) != TP_OK)
			return bad(rv);
		if ((rv = tp_lock_release(l)) != TP_OK)
			return bad(rv);
		__atomic_add_fetch(&ac->completed, 1, __ATOMIC_SEQ_CST);
	}
}

static int value_worker(void *arg)
{
	tp_value *v = ((struct obj *)arg)->val;
	tp_lock *l = tp_value_get_lock(v);
	for (;;) {
		int rv = tp_lock_acquire(l, 2000);
		if (!acquired(rv))
			return bad(rv);
		critical(rv);
		(*(int64_t *)tp_value_ptr(v))++;
		if ((rv = tp_lock_release(l)) != TP_OK)
			return bad(rv);
		__atomic_add_fetch(&ac->completed, 1, __ATOMIC_SEQ_CST);
	}
}

static int array_worker(void *arg)
{
	tp_array *a = ((struct obj *)arg)->arr;
	tp_lock *l = tp_array_get_lock(a);
	for (;;) {
		int rv = tp_lock_acquire(l, 2000);
		if (!acquired(rv))
			return bad(rv);
		critical(rv);
		int64_t *e = tp_array_ptr(a);
		for (int i = 0; i < 8; i++)
			e[i]++;
		if ((rv = tp_lock_release(l)) != TP_OK)
			return bad(rv);
		__atomic_add_fetch(&ac->completed, 1, __ATOMIC_SEQ_CST);
	}
}

static int sem_worker(void *arg)
{
	tp_sem *s = ((struct obj *)arg)->sem;
	for (;;) {
		int rv = tp_sem_acquire(s, 20);
		if (rv == TP_ETIMEDOUT)
			continue; /* permits held by the dead are gone */
		if (rv != TP_OK || (rv = tp_sem_release(s)) != TP_OK)
			return bad(rv);
	}
}

static int event_worker(void *arg)
{
	tp_event *e = ((struct obj *)arg)->event;
	for (long i = 0;; i++) {
		int rv = (i % 3 == 0)   ? tp_event_set(e)
		         : (i % 3 == 1) ? tp_event_clear(e)
		                        : tp_event_wait(e, 5);
		if (rv != TP_OK && rv != TP_ETIMEDOUT)
			return bad(rv);
	}
}

static int cond_worker(void *arg)
{
	tp_cond *c = ((struct obj *)arg)->cond;
	for (long i = 0;; i++) {
		int rv = tp_cond_acquire(c, 2000);
		if (!acquired(rv))
			return bad(rv);
		rv = (i % 2) ? tp_cond_notify_all(c) : tp_cond_wait(c, 5);
		if (rv != TP_OK && rv != TP_ETIMEDOUT && rv != TP_EOWNERDEAD)
			return bad(rv);
		if ((rv = tp_cond_release(c)) != TP_OK)
			return bad(rv);
	}
}

static int barrier_worker(void *arg)
{
	tp_barrier *b = ((struct obj *)arg)->bar;
	for (;;) {
		int rv = tp_barrier_wait(b, 50, NULL);
		if (rv == TP_EBROKEN) /* a party died: start over */
			rv = tp_barrier_reset(b);
		if (rv != TP_OK && rv != TP_ETIMEDOUT && rv != TP_EBROKEN)
			return bad(rv);
	}
}

static void rand_sleep_ms(int max_ms)
{
	struct timespec ts = {0, (long)(rand() % (max_ms * 1000)) * 1000L};
	nanosleep(&ts, NULL); /* the storm's pacing, not a synchronisation */
}

/* Runs the storm with workers fn; returns the number of kills. */
static int storm(int (*fn)(void *), struct obj *o)
{
	pid_t w[NWORK];
	int kills = 0;
	for (int k = 0; k < NWORK; k++)
		w[k] = su_fork(fn, o);
	double end = su_now() + STORM_S;
	while (su_now() < end) {
		rand_sleep_ms(20);
		int k = rand() % NWORK;
		kill(w[k], SIGKILL);
		assert_int_equal(su_reap(w[k]), 128 + SIGKILL);
		kills++;
		w[k] = su_fork(fn, o);
	}
	for (int k = 0; k < NWORK; k++)
		kill(w[k], SIGKILL);
	for (int k = 0; k < NWORK; k++)
		assert_int_equal(su_reap(w[k]), 128 + SIGKILL);
	fprintf(stderr,
	        "storm: %d kills, %ld completed, errors %ld (last %ld)\n",
	        kills + NWORK, ac->completed, ac->errors, ac->last_error);
	assert_int_equal(ac->errors, 0);
	return kills + NWORK;
}

/* The lock accounting: mutual exclusion held, and the counter lost no
 * increment: completed ones plus at most one per kill. */
static void check_counter(int kills)
{
	assert_int_equal(ac->violation, 0);
	assert_true(ac->counter >= ac->completed);
	assert_true(ac->counter <= ac->completed + kills);
}

static void setup(void)
{
	tp_test_init(TP_START_DEFAULT);
	ac = mmap(NULL, sizeof(*ac), PROT_READ | PROT_WRITE,
	          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(ac != MAP_FAILED);
	srand((unsigned)getpid());
}

static void teardown(void)
{
	munmap(ac, sizeof(*ac));
	su_fini();
}

/* A fresh process: one more locked increment within a bounded wait. */
static int fresh_lock(void *arg)
{
	tp_lock *l = ((struct obj *)arg)->lock;
	int rv = tp_lock_acquire(l, 1000);
	if (!acquired(rv))
		return 1;
	critical(rv);
	return tp_lock_release(l) == TP_OK ? 0 : 2;
}

static void lock_storm(int recursive)
{
	struct obj o = {0};
	setup();
	TP_OK_OR_FAIL(recursive ? tp_rlock_new(&o.lock) : tp_lock_new(&o.lock));
	int kills = storm(lock_worker, &o);
	long before = ac->counter;
	assert_int_equal(su_reap(su_fork(fresh_lock, &o)), 0);
	assert_int_equal(ac->counter, before + 1);
	ac->completed++;
	check_counter(kills);
	tp_lock_free(o.lock);
	teardown();
}

static void test_storm_lock(void **state)
{
	(void)state;
	lock_storm(0);
}

static void test_storm_rlock(void **state)
{
	(void)state;
	lock_storm(1);
}

static void test_storm_value_array(void **state)
{
	(void)state;
	struct obj o = {0};
	int64_t zero[8] = {0}, x;
	setup();
	TP_OK_OR_FAIL(tp_value_new(&o.val, 'q', zero, NULL));
	int kills = storm(value_worker, &o);
	check_counter(kills);
	/* the value lost no increment either (a holder may have died
	 * between the counter's and the value's) */
	int rv = tp_value_get_long(o.val, &x);
	assert_true(acquired(rv));
	assert_true(x >= ac->completed && x <= ac->completed + kills);
	TP_OK_OR_FAIL(tp_value_set_long(o.val, x + 1));
	tp_value_free(o.val);

	memset(ac, 0, sizeof(*ac));
	TP_OK_OR_FAIL(tp_array_new(&o.arr, 'q', 8, zero, NULL));
	kills = storm(array_worker, &o);
	check_counter(kills);
	/* every element saw every completed increment, and at most one
	 * more per kill */
	for (size_t i = 0; i < 8; i++) {
		rv = tp_array_get_long(o.arr, i, &x);
		assert_true(acquired(rv));
		assert_true(x >= ac->completed && x <= ac->completed + kills);
	}
	tp_array_free(o.arr);
	teardown();
}

static int fresh_sem(void *arg)
{
	tp_sem *s = ((struct obj *)arg)->sem;
	unsigned v;
	if (tp_sem_release(s) != TP_OK || tp_sem_acquire(s, 1000) != TP_OK)
		return 1;
	return tp_sem_get_value(s, &v) == TP_OK ? 0 : 2;
}

static void test_storm_semaphore(void **state)
{
	(void)state;
	struct obj o = {0};
	setup();
	TP_OK_OR_FAIL(tp_sem_new(&o.sem, 2));
	storm(sem_worker, &o);
	assert_int_equal(su_reap(su_fork(fresh_sem, &o)), 0);
	tp_sem_free(o.sem);
	teardown();
}

static int fresh_event(void *arg)
{
	tp_event *e = ((struct obj *)arg)->event;
	if (tp_event_clear(e) != TP_OK || tp_event_wait(e, 50) != TP_ETIMEDOUT)
		return 1;
	if (tp_event_set(e) != TP_OK || tp_event_wait(e, 1000) != TP_OK)
		return 2;
	return tp_event_is_set(e) ? 0 : 3;
}

static void test_storm_event(void **state)
{
	(void)state;
	struct obj o = {0};
	setup();
	TP_OK_OR_FAIL(tp_event_new(&o.event));
	storm(event_worker, &o);
	assert_int_equal(su_reap(su_fork(fresh_event, &o)), 0);
	tp_event_free(o.event);
	teardown();
}

/* A fresh waiter and a fresh notifier: the wait ends by notification. */
static int fresh_waiter(void *arg)
{
	tp_cond *c = ((struct obj *)arg)->cond;
	if (!acquired(tp_cond_acquire(c, 1000)))
		return 1;
	__atomic_store_n(&ac->inside, 1, __ATOMIC_SEQ_CST);
	int rv = tp_cond_wait(c, 5000);
	tp_cond_release(c);
	return rv == TP_OK ? 0 : 2;
}

static int waiting(void *arg)
{
	(void)arg;
	return __atomic_load_n(&ac->inside, __ATOMIC_SEQ_CST) == 1;
}

static void test_storm_condition(void **state)
{
	(void)state;
	struct obj o = {0};
	setup();
	TP_OK_OR_FAIL(tp_cond_new(&o.cond, NULL));
	storm(cond_worker, &o);
	ac->inside = 0;
	pid_t w = su_fork(fresh_waiter, &o);
	assert_true(su_poll(waiting, NULL));
	/* the waiter is in its wait once the lock can be taken */
	int rv = tp_cond_acquire(o.cond, 1000);
	assert_true(acquired(rv));
	TP_OK_OR_FAIL(tp_cond_notify(o.cond, 1));
	TP_OK_OR_FAIL(tp_cond_release(o.cond));
	assert_int_equal(su_reap(w), 0);
	tp_cond_free(o.cond);
	teardown();
}

static int fresh_party(void *arg)
{
	tp_barrier *b = ((struct obj *)arg)->bar;
	return tp_barrier_wait(b, 2000, NULL) == TP_OK ? 0 : 1;
}

static void test_storm_barrier(void **state)
{
	(void)state;
	struct obj o = {0};
	pid_t p[3];
	setup();
	TP_OK_OR_FAIL(tp_barrier_new(&o.bar, 3, NULL, NULL, -1));
	storm(barrier_worker, &o);
	TP_OK_OR_FAIL(tp_barrier_reset(o.bar));
	for (int k = 0; k < 3; k++)
		p[k] = su_fork(fresh_party, &o);
	for (int k = 0; k < 3; k++)
		assert_int_equal(su_reap(p[k]), 0);
	tp_barrier_free(o.bar);
	teardown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_storm_lock),
	    cmocka_unit_test(test_storm_rlock),
	    cmocka_unit_test(test_storm_value_array),
	    cmocka_unit_test(test_storm_semaphore),
	    cmocka_unit_test(test_storm_event),
	    cmocka_unit_test(test_storm_condition),
	    cmocka_unit_test(test_storm_barrier),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
