/* test_cluster_wait.c - the idle wait of the MPI backend's loops
 * (cluster/cluster_wait.c): the back-off's steps (none after traffic, then
 * doubling from 10 us, never over its cap, 100 us while a message moves,
 * at most 1 ms until the waits add up to the quiet time, then on to the
 * cap), and the wait itself: a ring before or during a wait of a minute ends it
 * at once, the eventfd is read only when it was rung, the caller's own
 * descriptors end it too, and a wait of 0 returns. No sleeps: every wait
 * that must end early is a minute long (the test's timeout is the bound).
 * Without MPI built in there is nothing to test (skipped). */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#ifdef TP_HAVE_MPI
#include "cluster_wait.h"

#define MINUTE 60000000000L

static void test_backoff_steps(void **state)
{
	(void)state;
	struct tp__cl_wait w;
	long quiet = 1000000000L, cap = 500000000L; /* a 1 s beat */
	assert_int_equal(tp__cl_wait_init(&w, quiet, cap), TP_OK);
	/* traffic: the next round at once, and once more */
	assert_int_equal(tp__cl_wait_next(&w, 1, 0), 0);
	assert_int_equal(tp__cl_wait_next(&w, 0, 0), 0);
	long prev = 0, ns = 0, given = 0;
	int rounds = 0;
	for (; ns < cap && rounds < 100000; rounds++) {
		ns = tp__cl_wait_next(&w, 0, 0);
		assert_true(ns <= cap);
		if (prev == 0)
			assert_int_equal(ns, TP__CL_WAIT_FIRST_NS);
		else if (given < quiet)
			/* short while the quiet spell is young */
			assert_true(ns == 2 * prev ||
			            ns == TP__CL_WAIT_SHORT_NS);
		else
			assert_true(ns == 2 * prev || ns == cap);
		if (given < quiet)
			assert_true(ns <= TP__CL_WAIT_SHORT_NS);
		given += ns;
		prev = ns;
	}
	/* the cap is reached once the waits add up to about 2 s */
	assert_int_equal(ns, cap);
	assert_true(given >= quiet);
	assert_true(given < quiet + 3 * cap);
	/* a long quiet spell does not overflow */
	for (int i = 0; i < 5000; i++)
		assert_int_equal(tp__cl_wait_next(&w, 0, 0), cap);
	/* a message moving: 100 us at most, the back-off kept */
	assert_int_equal(tp__cl_wait_next(&w, 0, 1), TP__CL_WAIT_MOVING_NS);
	assert_int_equal(tp__cl_wait_next(&w, 0, 0), cap);
	/* traffic again starts over */
	assert_int_equal(tp__cl_wait_next(&w, 1, 0), 0);
	assert_int_equal(tp__cl_wait_next(&w, 0, 0), 0);
	assert_int_equal(tp__cl_wait_next(&w, 0, 0), TP__CL_WAIT_FIRST_NS);
	tp__cl_wait_fini(&w);
	assert_int_equal(w.fd, -1);
	/* a cap below the first step is the cap */
	assert_int_equal(tp__cl_wait_init(&w, quiet, 3000), TP_OK);
	for (int i = 0; i < 10; i++)
		assert_true(tp__cl_wait_next(&w, 0, 0) <= 3000);
	assert_int_equal(tp__cl_wait_next(&w, 0, 1), 3000);
	tp__cl_wait_fini(&w);
}

static void test_rung_before(void **state)
{
	(void)state;
	struct tp__cl_wait w;
	struct pollfd fds[1];
	uint64_t v;
	assert_int_equal(tp__cl_wait_init(&w, MINUTE, MINUTE), TP_OK);
	/* not rung: a wait of 0 returns 0 */
	assert_int_equal(tp__cl_wait_for(&w, fds, 0, 0), 0);
	tp__cl_wait_ring(&w);
	tp__cl_wait_ring(&w);
	assert_int_equal(tp__cl_wait_for(&w, fds, 0, MINUTE), 1);
	/* the rings were read: nothing is left */
	assert_int_equal(read(w.fd, &v, sizeof(v)), -1);
	assert_int_equal(tp__cl_wait_for(&w, fds, 0, 0), 0);
	tp__cl_wait_fini(&w);
}

static void *ringer(void *arg)
{
	tp__cl_wait_ring(arg);
	return NULL;
}

static void test_rung_during(void **state)
{
	(void)state;
	struct tp__cl_wait w;
	struct pollfd fds[1];
	pthread_t t;
	assert_int_equal(tp__cl_wait_init(&w, MINUTE, MINUTE), TP_OK);
	for (int i = 0; i < 20; i++) {
		/* rung before or while it waits: either way it returns 1 */
		assert_int_equal(pthread_create(&t, NULL, ringer, &w), 0);
		assert_int_equal(tp__cl_wait_for(&w, fds, 0, MINUTE), 1);
		pthread_join(t, NULL);
	}
	tp__cl_wait_fini(&w);
}

/* The caller's descriptor ends the wait; the eventfd, not rung, is not
 * read (a ring that comes later is still there). */
static void test_own_fd(void **state)
{
	(void)state;
	struct tp__cl_wait w;
	struct pollfd fds[2];
	int p[2];
	char c = 'x';
	assert_int_equal(pipe(p), 0);
	assert_int_equal(tp__cl_wait_init(&w, MINUTE, MINUTE), TP_OK);
	fds[0].fd = p[0];
	fds[0].events = POLLIN;
	assert_int_equal(write(p[1], &c, 1), 1);
	assert_int_equal(tp__cl_wait_for(&w, fds, 1, MINUTE), 0);
	assert_true(fds[0].revents & POLLIN);
	assert_int_equal(fds[1].revents, 0);
	assert_int_equal(read(p[0], &c, 1), 1);
	/* now rung: 1, and the pipe is not ready */
	tp__cl_wait_ring(&w);
	assert_int_equal(tp__cl_wait_for(&w, fds, 1, MINUTE), 1);
	assert_int_equal(fds[0].revents, 0);
	close(p[0]);
	close(p[1]);
	tp__cl_wait_fini(&w);
}
#endif

static void test_skip_without_mpi(void **state)
{
	(void)state;
#ifndef TP_HAVE_MPI
	skip();
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#ifdef TP_HAVE_MPI
	    cmocka_unit_test(test_backoff_steps),
	    cmocka_unit_test(test_rung_before),
	    cmocka_unit_test(test_rung_during),
	    cmocka_unit_test(test_own_fd),
#endif
	    cmocka_unit_test(test_skip_without_mpi),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
