/* test_sem.c - Semaphore, BoundedSemaphore and Event: semantics, errors,
 * timeouts, processes, killed waiters and holders, payload passing. */
#include <stddef.h>

#include "sobj.h"
#include "sync_util.h"
#include "troupe.pb-c.h"

static void test_sem_basics(void **state)
{
	(void)state;
	tp_sem *s;
	unsigned v;
	tp_test_init(TP_START_FORK);
	TP_EXPECT(tp_sem_new(NULL, 1), TP_EINVAL);
	TP_EXPECT(tp_sem_new(&s, 0x80000000u), TP_EINVAL);
	TP_OK_OR_FAIL(tp_sem_new(&s, 2));
	TP_OK_OR_FAIL(tp_sem_get_value(s, &v));
	assert_int_equal(v, 2);
	TP_OK_OR_FAIL(tp_sem_acquire(s, 0));
	TP_OK_OR_FAIL(tp_sem_acquire(s, -1));
	TP_EXPECT(tp_sem_acquire(s, 0), TP_ETIMEDOUT);
	double t0 = su_now();
	TP_EXPECT(tp_sem_acquire(s, 30), TP_ETIMEDOUT);
	assert_true(su_now() - t0 >= 0.025);
	for (int i = 0; i < 3; i++) /* unbounded: may exceed the start */
		TP_OK_OR_FAIL(tp_sem_release(s));
	TP_OK_OR_FAIL(tp_sem_get_value(s, &v));
	assert_int_equal(v, 3);
	TP_EXPECT(tp_sem_acquire(NULL, 0), TP_EINVAL);
	TP_EXPECT(tp_sem_release(NULL), TP_EINVAL);
	TP_EXPECT(tp_sem_get_value(s, NULL), TP_EINVAL);
	tp_sem_free(s);
	tp_sem_free(NULL);
	/* BoundedSemaphore: no release above the initial value. */
	TP_OK_OR_FAIL(tp_bsem_new(&s, 1));
	TP_EXPECT(tp_sem_release(s), TP_EVALUE);
	TP_OK_OR_FAIL(tp_sem_acquire(s, 0));
	TP_OK_OR_FAIL(tp_sem_release(s));
	TP_EXPECT(tp_sem_release(s), TP_EVALUE);
	tp_sem_free(s);
	su_fini();
}

struct sem_arg {
	tp_payload *handles;
	tp_sem *sem;
	tp_array *stats; /* [inside, most inside, done] */
};

static int child_limited(void *arg)
{
	struct sem_arg *a = arg;
	tp_payload *q = su_roundtrip(a->handles);
	tp_sem *s;
	tp_array *st;
	int64_t in, most;
	if (tp_payload_get_sem(q, 0, &s) != TP_OK ||
	    tp_payload_get_array(q, 1, &st) != TP_OK)
		return 1;
	tp_payload_free(q);
	tp_lock *l = tp_array_get_lock(st);
	for (int i = 0; i < 50; i++) {
		if (tp_sem_acquire(s, -1) != TP_OK)
			return 2;
		tp_lock_acquire(l, -1);
		tp_array_get_long(st, 0, &in);
		tp_array_get_long(st, 1, &most);
		tp_array_set_long(st, 0, ++in);
		tp_array_set_long(st, 1, in > most ? in : most);
		tp_lock_release(l);
		usleep(200); /* work while inside */
		tp_lock_acquire(l, -1);
		tp_array_get_long(st, 0, &in);
		tp_array_set_long(st, 0, in - 1);
		tp_lock_release(l);
		if (tp_sem_release(s) != TP_OK)
			return 3;
	}
	tp_sem_free(s);
	tp_array_free(st);
	return 0;
}

static void test_sem_limits_processes(void **state)
{
	(void)state;
	struct sem_arg a;
	pid_t pids[5];
	int64_t most, in;
	unsigned v;
	tp_test_init(TP_START_FORK);
	TP_OK_OR_FAIL(tp_bsem_new(&a.sem, 2));
	TP_OK_OR_FAIL(tp_array_new(&a.stats, 'q', 3, NULL, NULL));
	TP_OK_OR_FAIL(tp_payload_new(&a.handles));
	TP_OK_OR_FAIL(tp_payload_add_sem(a.handles, a.sem));
	TP_OK_OR_FAIL(tp_payload_add_array(a.handles, a.stats));
	for (int i = 0; i < 5; i++)
		pids[i] = su_fork(child_limited, &a);
	for (int i = 0; i < 5; i++)
		assert_int_equal(su_reap(pids[i]), 0);
	TP_OK_OR_FAIL(tp_array_get_long(a.stats, 0, &in));
	TP_OK_OR_FAIL(tp_array_get_long(a.stats, 1, &most));
	assert_int_equal(in, 0);
	assert_true(most >= 1 && most <= 2);
	TP_OK_OR_FAIL(tp_sem_get_value(a.sem, &v));
	assert_int_equal(v, 2);
	tp_payload_free(a.handles);
	tp_sem_free(a.sem);
	tp_array_free(a.stats);
	su_fini();
}

static tp_sem *g_sem;

static int child_wait_sem(void *arg)
{
	(void)arg;
	return tp_sem_acquire(g_sem, -1) == TP_OK ? 0 : 1;
}

static int child_spin_sem(void *arg)
{
	tp_value *count = arg;
	for (int64_t i = 1;; i++) {
		tp_sem_acquire(g_sem, -1);
		tp_sem_release(g_sem);
		if (i % 64 == 0)
			tp_value_set_long(count, i);
	}
	return 0;
}

static int count_big(void *arg)
{
	int64_t x = 0;
	tp_value_get_long(arg, &x);
	return x >= 2000;
}

static void test_sem_survives_killed_processes(void **state)
{
	(void)state;
	tp_value *count;
	tp_test_init(TP_START_FORK);
	/* A waiter killed inside acquire does not eat a later release. */
	TP_OK_OR_FAIL(tp_sem_new(&g_sem, 0));
	pid_t dead = su_fork(child_wait_sem, NULL);
	usleep(20000); /* let it reach its wait; either way must pass */
	kill(dead, SIGKILL);
	assert_int_equal(su_reap(dead), 128 + SIGKILL);
	pid_t live = su_fork(child_wait_sem, NULL);
	TP_OK_OR_FAIL(tp_sem_release(g_sem));
	assert_int_equal(su_reap(live), 0);
	tp_sem_free(g_sem);
	/* Processes killed at random points of acquire/release, perhaps
	 * inside the semaphore's own mutex: it stays usable. (A unit the
	 * dead process held is lost, as in Python.) */
	TP_OK_OR_FAIL(tp_rawvalue_new(&count, 'q', NULL));
	for (int r = 0; r < 5; r++) {
		unsigned v;
		TP_OK_OR_FAIL(tp_sem_new(&g_sem, 1));
		tp_value_set_long(count, 0);
		pid_t pid = su_fork(child_spin_sem, count);
		assert_true(su_poll(count_big, count));
		kill(pid, SIGKILL);
		assert_int_equal(su_reap(pid), 128 + SIGKILL);
		TP_OK_OR_FAIL(tp_sem_get_value(g_sem, &v));
		assert_true(v <= 1);
		TP_OK_OR_FAIL(tp_sem_release(g_sem));
		TP_OK_OR_FAIL(tp_sem_acquire(g_sem, 10000));
		tp_sem_free(g_sem);
	}
	tp_value_free(count);
	su_fini();
}

static void test_event_basics(void **state)
{
	(void)state;
	tp_event *e;
	tp_test_init(TP_START_FORK);
	TP_EXPECT(tp_event_new(NULL), TP_EINVAL);
	TP_OK_OR_FAIL(tp_event_new(&e));
	assert_false(tp_event_is_set(e));
	TP_EXPECT(tp_event_wait(e, 0), TP_ETIMEDOUT);
	double t0 = su_now();
	TP_EXPECT(tp_event_wait(e, 30), TP_ETIMEDOUT);
	assert_true(su_now() - t0 >= 0.025);
	TP_OK_OR_FAIL(tp_event_set(e));
	assert_true(tp_event_is_set(e));
	TP_OK_OR_FAIL(tp_event_wait(e, -1));
	TP_OK_OR_FAIL(tp_event_wait(e, 0));
	TP_OK_OR_FAIL(tp_event_clear(e));
	assert_false(tp_event_is_set(e));
	TP_EXPECT(tp_event_set(NULL), TP_EINVAL);
	TP_EXPECT(tp_event_clear(NULL), TP_EINVAL);
	TP_EXPECT(tp_event_wait(NULL, 0), TP_EINVAL);
	assert_false(tp_event_is_set(NULL));
	tp_event_free(e);
	tp_event_free(NULL);
	su_fini();
}

static tp_payload *g_handles;

static int child_event(void *arg)
{
	int timeout = *(int *)arg;
	tp_payload *q = su_roundtrip(g_handles);
	tp_event *e;
	tp_sem *s;
	if (tp_payload_get_sem(q, 0, &s) == TP_OK)
		return 9; /* an event is not a semaphore */
	int err = tp_payload_get_event(q, 0, &e);
	if (err != TP_OK) {
		fprintf(stderr, "child attach: %s\n", tp_strerror(err));
		return 1;
	}
	tp_payload_free(q);
	int rv = tp_event_wait(e, timeout);
	tp_event_free(e);
	return rv == TP_OK ? 0 : rv == TP_ETIMEDOUT ? 2 : 3;
}

static void test_event_wakes_processes(void **state)
{
	(void)state;
	tp_event *e;
	pid_t pids[3];
	int forever = -1, short_wait = 30;
	tp_test_init(TP_START_FORK);
	TP_OK_OR_FAIL(tp_event_new(&e));
	TP_OK_OR_FAIL(tp_payload_new(&g_handles));
	TP_OK_OR_FAIL(tp_payload_add_event(g_handles, e));
	assert_int_equal(su_reap(su_fork(child_event, &short_wait)), 2);
	for (int i = 0; i < 3; i++)
		pids[i] = su_fork(child_event, &forever);
	TP_OK_OR_FAIL(tp_event_set(e));
	for (int i = 0; i < 3; i++)
		assert_int_equal(su_reap(pids[i]), 0);
	tp_payload_free(g_handles);
	tp_event_free(e);
	assert_int_equal(su_shm_count(), 0);
	su_fini();
}

/* The internal core of the object whose handle is value 0 of p: both a
 * semaphore's and an event's state are {header, two 32-bit words, core}. */
static struct tp__core *core_of(tp_payload *p, struct tp__seg **seg)
{
	ProtobufCMessage *m;
	TP_OK_OR_FAIL(
	    tp_payload_get_proto(p, 0, &troupe__handle__descriptor, &m));
	TP_OK_OR_FAIL(tp__seg_attach(((Troupe__Handle *)m)->name, seg));
	protobuf_c_message_free_unpacked(m, NULL);
	return (struct tp__core *)((char *)(*seg)->base + 16);
}

static struct tp__core *g_core;

/* The kernel marked the core's mutex: its holder died holding it. */
static int owner_died(void)
{
	return (__atomic_load_n(&g_core->m.__data.__lock, __ATOMIC_RELAXED) &
	        0x40000000 /* FUTEX_OWNER_DIED */) != 0;
}

static int child_die_in_core(void *arg)
{
	(void)arg;
	tp__core_lock(g_core);
	raise(SIGKILL);
	return 1;
}

/* A process killed while holding the internal mutex of a semaphore or an
 * event (inside one of their calls) leaves them fully usable. */
static void test_death_inside_internal_mutex(void **state)
{
	(void)state;
	tp_sem *s;
	tp_event *e;
	tp_payload *p;
	struct tp__seg *seg;
	unsigned v;
	tp_test_init(TP_START_FORK);
	TP_OK_OR_FAIL(tp_sem_new(&s, 1));
	TP_OK_OR_FAIL(tp_payload_new(&p));
	TP_OK_OR_FAIL(tp_payload_add_sem(p, s));
	g_core = core_of(p, &seg);
	assert_int_equal(su_reap(su_fork(child_die_in_core, NULL)),
	                 128 + SIGKILL);
	assert_true(owner_died());
	TP_OK_OR_FAIL(tp_sem_acquire(s, 1000));
	TP_EXPECT(tp_sem_acquire(s, 0), TP_ETIMEDOUT);
	TP_OK_OR_FAIL(tp_sem_release(s));
	TP_OK_OR_FAIL(tp_sem_get_value(s, &v));
	assert_int_equal(v, 1);
	tp__seg_unref(seg);
	tp_payload_clear(p);
	TP_OK_OR_FAIL(tp_event_new(&e));
	TP_OK_OR_FAIL(tp_payload_add_event(p, e));
	g_core = core_of(p, &seg);
	assert_int_equal(su_reap(su_fork(child_die_in_core, NULL)),
	                 128 + SIGKILL);
	assert_true(owner_died());
	TP_OK_OR_FAIL(tp_event_set(e));
	TP_OK_OR_FAIL(tp_event_wait(e, 1000));
	TP_OK_OR_FAIL(tp_event_clear(e));
	TP_EXPECT(tp_event_wait(e, 10), TP_ETIMEDOUT);
	tp__seg_unref(seg);
	tp_payload_free(p);
	tp_sem_free(s);
	tp_event_free(e);
	su_fini();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sem_basics),
	    cmocka_unit_test(test_sem_limits_processes),
	    cmocka_unit_test(test_sem_survives_killed_processes),
	    cmocka_unit_test(test_event_basics),
	    cmocka_unit_test(test_event_wakes_processes),
	    cmocka_unit_test(test_death_inside_internal_mutex),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
