/*
 * pool_util.h - what the pool tests share: one runtime (and fork server)
 * per test file, a pool of n workers, and freeing a pool with the check
 * that it left no process behind.
 */
#ifndef TP_POOL_UTIL_H
#define TP_POOL_UTIL_H

#include "testutil.h"

/* Children of this process when the file's tests start. */
static int baseline;

static inline tp_pool *mkpool(int n)
{
	tp_pool *pool;
	TP_OK_OR_FAIL(tp_pool_new(&pool, n, NULL, NULL, 0));
	return pool;
}

/* Frees pool and checks that none of its workers is left. */
static inline void endpool(tp_pool *pool)
{
	tp_pool_free(pool);
	assert_int_equal(tp_test_children(), baseline);
}

static inline int pool_setup(void **state)
{
	(void)state;
	tp_test_init(TP_START_FORKSERVER);
	baseline = tp_test_children();
	return 0;
}

static inline int pool_teardown(void **state)
{
	(void)state;
	tp_test_fini();
	return 0;
}

#endif
