/*
 * test_active_children.c - tp_active_children from another thread while
 * the root supervisor's loop starts, pumps, joins and frees its own
 * children (a pool recycling a worker after every task) and the main
 * thread starts and joins many short Processes. What a user relies on:
 * the call lists only the caller's own Processes, never a child a
 * supervisor owns (its loop may free that object at any moment: a pointer
 * to it would be a use after free, which ASan reports), and it never
 * touches such a child's channel (the loop reads it without the process
 * layer's lock). Bounded: a fixed number of rounds.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "pool_util.h"

#define PROCS 40
#define TASKS 40

static int f_quick(const tp_payload *args, tp_payload *res)
{
	(void)args;
	(void)res;
	return 0;
}
TP_TARGET(f_quick);

static atomic_int done;
static atomic_int bad;
static atomic_long calls;

/* Lists the active children over and over; reads each one listed. */
static void *hammer(void *arg)
{
	tp_process *v[64];
	(void)arg;
	while (!atomic_load(&done)) {
		int n = tp_active_children(v, 64);
		for (int i = 0; i < n && i < 64; i++) {
			const char *name = tp_process_name(v[i]);
			if (name == NULL || strncmp(name, "short-", 6) != 0) {
				fprintf(stderr, "listed: %s\n",
				        name ? name : "(null)");
				atomic_fetch_add(&bad, 1);
			}
		}
		atomic_fetch_add(&calls, 1);
	}
	return NULL;
}

static void races_the_supervisor(void **state)
{
	(void)state;
	tp_pool *pool;
	pthread_t t;
	tp_payload *r;
	/* a worker per task: the supervisor starts and frees one each time */
	TP_OK_OR_FAIL(tp_pool_new(&pool, 2, NULL, NULL, 1));
	assert_int_equal(pthread_create(&t, NULL, hammer, NULL), 0);
	/* The Processes are freed once the hammer is done: a listed object
	 * freed under a reader is the user's race, not the library's. */
	tp_process *procs[PROCS];
	for (int i = 0; i < PROCS || i < TASKS; i++) {
		tp_process_opts o = {.name = "short-x"};
		if (i < TASKS) {
			tp_payload *a = pair(0, i);
			TP_OK_OR_FAIL(tp_pool_apply(pool, f_sleep, a, &r));
			tp_payload_free(a);
			tp_payload_free(r);
		}
		if (i < PROCS) {
			TP_OK_OR_FAIL(
			    tp_process_new(&procs[i], f_quick, NULL, &o));
			TP_OK_OR_FAIL(tp_process_start(procs[i]));
			TP_OK_OR_FAIL(tp_process_join(procs[i], 10000));
		}
	}
	atomic_store(&done, 1);
	pthread_join(t, NULL);
	for (int i = 0; i < PROCS; i++)
		tp_process_free(procs[i]);
	assert_int_equal(atomic_load(&bad), 0);
	assert_true(atomic_load(&calls) > 0);
	/* the pool's workers run, yet are not the caller's children */
	assert_int_equal(tp_active_children(NULL, 0), 0);
	endpool(pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(races_the_supervisor),
	};
	return cmocka_run_group_tests(tests, pool_setup, pool_teardown);
}
