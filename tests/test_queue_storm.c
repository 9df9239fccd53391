/*
 * test_queue_storm.c - kill -9 storms on Queue, JoinableQueue and
 * SimpleQueue: three producers and three consumers, one of them SIGKILLed
 * at a random point every few milliseconds and replaced, for STORM_S
 * seconds; then fresh processes must make progress within bounded
 * timeouts, and the accounting must add up: every item whose put returned
 * was received exactly once, or its loss was reported (stats.lost: an item
 * handed to a consumer that died before its next call); nothing was
 * received twice or invented. Also the minimal case of issue 13: a
 * consumer killed while it waits in get, then a put with a timeout.
 *
 * The kill pacing is a random delay (the storm itself); no test step
 * waits for another by sleeping: children report through shared memory
 * and are reaped.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "queue_int.h"
#include "sync_util.h"

#define STORM_S  1.5
#define NPROD    3
#define NCONS    3
#define MAXIDS   160     /* producer incarnations */
#define PER_ID   200000  /* items one incarnation puts at most */
#define ID_SCALE 1000000 /* item value = id * ID_SCALE + index */

/* Accounting in memory shared with every child. */
struct acct {
	long attempted[MAXIDS]; /* index of the put in progress + 1 */
	long acked[MAXIDS];     /* puts that returned TP_OK */
	long errors;            /* unexpected return codes in children */
	long last_error;
	unsigned char recv[MAXIDS][PER_ID]; /* times each item was received */
};

static struct acct *ac;

static void note_error(int rv)
{
	__atomic_store_n(&ac->last_error, rv, __ATOMIC_RELAXED);
	__atomic_add_fetch(&ac->errors, 1, __ATOMIC_RELAXED);
}

struct role {
	tp_queue *q;
	long id; /* producer incarnation */
};

/* Large items: each travels out of band, in its own segment. */
static int large;

static int put_item(tp_queue *q, int64_t v, int timeout_ms)
{
	unsigned char buf[3000] = {0};
	if (!large)
		return tp_queue_put_int(q, v, timeout_ms);
	memcpy(buf, &v, sizeof(v));
	return tp_queue_put_bytes(q, buf, sizeof(buf), timeout_ms);
}

static int get_item(tp_queue *q, int64_t *v, int timeout_ms)
{
	void *b;
	size_t n;
	if (!large)
		return tp_queue_get_int(q, v, timeout_ms);
	int rv = tp_queue_get_bytes(q, &b, &n, timeout_ms);
	if (rv == TP_OK) {
		memcpy(v, b, sizeof(*v));
		free(b);
		if (n != 3000)
			rv = TP_EVALUE;
	}
	return rv;
}

static int producer(void *arg)
{
	struct role *r = arg;
	for (long i = 0; i < PER_ID; i++) {
		__atomic_store_n(&ac->attempted[r->id], i + 1,
		                 __ATOMIC_SEQ_CST);
		int rv = put_item(r->q, r->id * ID_SCALE + i, 2000);
		if (rv == TP_ETIMEDOUT)
			continue; /* not accepted: never counted */
		if (rv != TP_OK) {
			note_error(rv);
			return 1;
		}
		__atomic_store_n(&ac->acked[r->id], i + 1, __ATOMIC_SEQ_CST);
	}
	return 0;
}

/* Records a received item; 0 if it is one that was put. */
static int record(int64_t v)
{
	long id = (long)(v / ID_SCALE), i = (long)(v % ID_SCALE);
	if (v < 0 || id >= MAXIDS || i >= PER_ID) {
		note_error(-1);
		return 1;
	}
	__atomic_add_fetch(&ac->recv[id][i], 1, __ATOMIC_SEQ_CST);
	return 0;
}

static int consumer(void *arg)
{
	struct role *r = arg;
	int joinable = tp_queue_kind_of(r->q) == TP_QUEUE_JOINABLE;
	for (;;) {
		int64_t v;
		int rv = get_item(r->q, &v, 2000);
		if (rv == TP_ETIMEDOUT)
			continue;
		if (rv == TP_ECLOSED)
			return 0;
		if (rv != TP_OK) {
			note_error(rv);
			return 1;
		}
		if (record(v))
			return 1;
		if (joinable && (rv = tp_queue_task_done(r->q)) != TP_OK) {
			note_error(rv);
			return 1;
		}
	}
}

/* A drainer: takes what is left until the queue stays empty 300 ms. */
static int drainer(void *arg)
{
	struct role *r = arg;
	int joinable = tp_queue_kind_of(r->q) == TP_QUEUE_JOINABLE;
	for (;;) {
		int64_t v;
		int rv = get_item(r->q, &v, 300);
		if (rv == TP_ETIMEDOUT)
			return 0;
		if (rv != TP_OK || record(v))
			return 2;
		if (joinable && tp_queue_task_done(r->q) != TP_OK)
			return 3;
	}
}

static void rand_sleep_ms(int max_ms)
{
	struct timespec ts = {0, (long)(rand() % (max_ms * 1000)) * 1000L};
	nanosleep(&ts, NULL); /* the storm's pacing, not a synchronisation */
}

struct storm {
	tp_queue *q;
	pid_t prod[NPROD], cons[NCONS];
	struct role prole[NPROD], crole[NCONS];
	long next_id;
	int prod_kills, cons_kills;
};

static void start_producer(struct storm *st, int k)
{
	st->prole[k].q = st->q;
	st->prole[k].id = st->next_id++;
	st->prod[k] = su_fork(producer, &st->prole[k]);
}

static void kill_one(struct storm *st)
{
	int k = rand() % (NPROD + NCONS);
	if (k < NPROD) {
		if (st->next_id >= MAXIDS)
			return;
		kill(st->prod[k], SIGKILL);
		su_reap(st->prod[k]);
		st->prod_kills++;
		start_producer(st, k);
	} else {
		k -= NPROD;
		kill(st->cons[k], SIGKILL);
		su_reap(st->cons[k]);
		st->cons_kills++;
		st->cons[k] = su_fork(consumer, &st->crole[k]);
	}
}

/* Checks that fresh processes make progress on q: one puts 100 items
 * with bounded timeouts, another gets them all. */
static int fresh_put(void *arg)
{
	struct role *r = arg;
	for (long i = 0; i < 100; i++) {
		__atomic_store_n(&ac->attempted[r->id], i + 1,
		                 __ATOMIC_SEQ_CST);
		if (put_item(r->q, r->id * ID_SCALE + i, 1000) != TP_OK)
			return 1;
		__atomic_store_n(&ac->acked[r->id], i + 1, __ATOMIC_SEQ_CST);
	}
	return 0;
}

static void check_accounting(struct storm *st)
{
	tp_queue_stats qs;
	long missing = 0, received = 0;
	TP_OK_OR_FAIL(tp_queue_stats_get(st->q, &qs));
	for (long id = 0; id < st->next_id; id++) {
		for (long i = 0; i < PER_ID; i++) {
			int n = ac->recv[id][i];
			if (n > 1)
				fprintf(stderr,
				        "storm: item %ld.%ld received %d times "
				        "(acked %ld, rejected %llu)\n",
				        id, i, n, ac->acked[id],
				        (unsigned long long)qs.rejected);
			assert_true(n <= 1); /* never twice */
			if (i >= ac->attempted[id])
				assert_int_equal(n, 0); /* never invented */
			if (i < ac->acked[id] && n == 0)
				missing++;
			received += n;
		}
	}
	fprintf(stderr,
	        "storm: %ld producers, %d+%d kills, %ld received, "
	        "%ld missing, lost %llu, recovered %llu, in queue %llu, "
	        "errors %ld (last %ld)\n",
	        st->next_id, st->prod_kills, st->cons_kills, received, missing,
	        (unsigned long long)qs.lost, (unsigned long long)qs.recovered,
	        (unsigned long long)qs.count, ac->errors, ac->last_error);
	assert_int_equal(ac->errors, 0);
	assert_int_equal(qs.count, 0);
	/* every missing acknowledged item was reported lost, and each
	 * report is one dead consumer */
	assert_true((uint64_t)missing <= qs.lost);
	assert_true(qs.lost <= (uint64_t)st->cons_kills + NCONS);
	if (tp_queue_kind_of(st->q) == TP_QUEUE_JOINABLE) {
		/* what is unfinished is what dead consumers held */
		assert_true(qs.unfinished <= (uint64_t)st->cons_kills + NCONS);
		for (uint64_t k = 0; k < qs.unfinished; k++)
			TP_OK_OR_FAIL(tp_queue_task_done(st->q));
		TP_OK_OR_FAIL(tp_queue_join(st->q, 1000));
	}
}

static void storm(tp_queue_opts *o)
{
	struct storm st = {0};
	struct role fresh;
	tp_test_init(TP_START_DEFAULT);
	ac = mmap(NULL, sizeof(*ac), PROT_READ | PROT_WRITE,
	          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(ac != MAP_FAILED);
	srand((unsigned)getpid());
	TP_OK_OR_FAIL(tp_queue_new(&st.q, o));
	for (int k = 0; k < NCONS; k++) {
		st.crole[k].q = st.q;
		st.cons[k] = su_fork(consumer, &st.crole[k]);
	}
	for (int k = 0; k < NPROD; k++)
		start_producer(&st, k);
	double end = su_now() + STORM_S;
	while (su_now() < end) {
		rand_sleep_ms(20);
		kill_one(&st);
	}
	/* the worst end: everyone dies at once, wherever they are */
	for (int k = 0; k < NPROD; k++)
		kill(st.prod[k], SIGKILL);
	for (int k = 0; k < NCONS; k++)
		kill(st.cons[k], SIGKILL);
	for (int k = 0; k < NPROD; k++)
		su_reap(st.prod[k]);
	for (int k = 0; k < NCONS; k++)
		su_reap(st.cons[k]);
	st.prod_kills += NPROD;
	/* fresh processes: a get with a timeout returns by its deadline,
	 * a producer and a drainer make progress */
	fresh.q = st.q;
	fresh.id = st.next_id++;
	pid_t d = su_fork(drainer, &fresh);
	assert_int_equal(su_reap(su_fork(fresh_put, &fresh)), 0);
	assert_int_equal(su_reap(d), 0);
	assert_int_equal(su_reap(su_fork(drainer, &fresh)), 0);
	double t0 = su_now();
	int64_t v;
	TP_EXPECT(tp_queue_get_int(st.q, &v, 100), TP_ETIMEDOUT);
	assert_true(su_now() - t0 < 1.0);
	check_accounting(&st);
	TP_OK_OR_FAIL(tp_queue_close(st.q));
	tp_queue_free(st.q);
	munmap(ac, sizeof(*ac));
	su_fini();
}

static void test_storm_queue(void **state)
{
	(void)state;
	/* a small bounded queue: producers wait for room as well */
	tp_queue_opts o = {.kind = TP_QUEUE, .maxsize = 64};
	storm(&o);
}

static void test_storm_joinable(void **state)
{
	(void)state;
	tp_queue_opts o = {.kind = TP_QUEUE_JOINABLE, .maxsize = 64};
	storm(&o);
}

static void test_storm_large(void **state)
{
	(void)state;
	/* 3000-byte items in a 4 KiB ring: all out of band */
	tp_queue_opts o = {.kind = TP_QUEUE, .capacity = 4096, .maxsize = 16};
	large = 1;
	storm(&o);
	large = 0;
}

static void test_storm_simple(void **state)
{
	(void)state;
	/* a 4 KiB ring: full by bytes, wrapping all the time */
	tp_queue_opts o = {.kind = TP_QUEUE_SIMPLE, .capacity = 4096};
	storm(&o);
}

/* Parks in a get on an empty queue after saying so. */
static int waiting_getter(void *arg)
{
	struct role *r = arg;
	int64_t v;
	__atomic_store_n(&ac->attempted[0], 1, __ATOMIC_SEQ_CST);
	return tp_queue_get_int(r->q, &v, -1) == TP_OK ? 0 : 1;
}

/* 1 once the process is asleep (state S in /proc/pid/stat). */
static int asleep(void *arg)
{
	return tp__pid_state(*(int *)arg) == 'S';
}

static int started(void *arg)
{
	(void)arg;
	return __atomic_load_n(&ac->attempted[0], __ATOMIC_SEQ_CST) != 0;
}

/* Issue 13's minimal case: a consumer killed while it waits in get on an
 * empty queue; the next put with a timeout returns, a fresh get gets the
 * item, and a get on the empty queue returns by its deadline. */
static void test_kill_consumer_waiting_in_get(void **state)
{
	(void)state;
	struct role r;
	int64_t v;
	tp_test_init(TP_START_DEFAULT);
	ac = mmap(NULL, sizeof(*ac), PROT_READ | PROT_WRITE,
	          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(ac != MAP_FAILED);
	TP_OK_OR_FAIL(tp_queue_new(&r.q, NULL));
	for (int round = 0; round < 3; round++) {
		ac->attempted[0] = 0;
		pid_t pid = su_fork(waiting_getter, &r);
		assert_true(su_poll(started, NULL));
		int ipid = (int)pid;
		assert_true(su_poll(asleep, &ipid)); /* in its futex wait */
		kill(pid, SIGKILL);
		assert_int_equal(su_reap(pid), 128 + SIGKILL);
		double t0 = su_now();
		TP_OK_OR_FAIL(tp_queue_put_int(r.q, round, 1000));
		TP_OK_OR_FAIL(tp_queue_get_int(r.q, &v, 1000));
		assert_int_equal(v, round);
		TP_EXPECT(tp_queue_get_int(r.q, &v, 100), TP_ETIMEDOUT);
		assert_true(su_now() - t0 < 1.0);
	}
	tp_queue_stats qs;
	TP_OK_OR_FAIL(tp_queue_stats_get(r.q, &qs));
	assert_int_equal(qs.lost, 0); /* they held nothing */
	tp_queue_free(r.q);
	munmap(ac, sizeof(*ac));
	su_fini();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kill_consumer_waiting_in_get),
	    cmocka_unit_test(test_storm_queue),
	    cmocka_unit_test(test_storm_joinable),
	    cmocka_unit_test(test_storm_simple),
	    cmocka_unit_test(test_storm_large),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
