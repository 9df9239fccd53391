/*
 * test_pool_fini.c - a pool still open at tp_fini is terminated and joined
 * there (as Python finalizes pools at exit): no worker outlives the run,
 * its unfinished results fail with TP_ECANCELED, and freeing the pool
 * afterwards is still allowed.
 */
#include <stdio.h>
#include <time.h>

#include "testutil.h"

static int slow(const tp_payload *args, tp_payload *res)
{
	(void)args;
	struct timespec ts = {10, 0};
	nanosleep(&ts, NULL);
	return tp_payload_add_int(res, 1);
}
TP_TARGET(slow);

static void test_fini_with_open_pool(void **state)
{
	(void)state;
	tp_pool *pool;
	tp_pool_result *r;
	tp_test_init(TP_START_FORKSERVER);
	TP_OK_OR_FAIL(tp_pool_new(&pool, 2, NULL, NULL, 0));
	TP_OK_OR_FAIL(
	    tp_pool_apply_async(pool, slow, NULL, NULL, NULL, NULL, &r));
	tp_test_fini(); /* asserts no child is left */
	TP_EXPECT(tp_pool_result_get(r, NULL, 0), TP_ECANCELED);
	tp_pool_result_free(r);
	tp_pool_free(pool);
}

int main(void)
{
	tp_spawn_guard();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fini_with_open_pool),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
