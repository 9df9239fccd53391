/*
 * pool_util.h - what the pool tests share: one runtime (and fork server)
 * per test file, a pool of n workers, and freeing a pool with the check
 * that it left no process behind.
 */
#ifndef TP_POOL_UTIL_H
#define TP_POOL_UTIL_H

#include "testutil.h"

#include <signal.h>
#include <time.h>
#include <unistd.h>

/* Sleeps args[0] ms and returns args[1] (or the pid). */
static int f_sleep(const tp_payload *args, tp_payload *res)
{
	int64_t ms = 0, v = getpid();
	tp_payload_get_int(args, 0, &ms);
	tp_payload_get_int(args, 1, &v);
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
	return tp_payload_add_int(res, v);
}
TP_TARGET(f_sleep);

/* Kills its own worker. */
static int f_suicide(const tp_payload *args, tp_payload *res)
{
	(void)args;
	(void)res;
	raise(SIGKILL);
	return 0;
}
TP_TARGET(f_suicide);

/* A payload of two ints. */
static inline tp_payload *pair(int64_t a, int64_t b)
{
	tp_payload *p;
	TP_OK_OR_FAIL(tp_payload_new(&p));
	TP_OK_OR_FAIL(tp_payload_add_int(p, a));
	TP_OK_OR_FAIL(tp_payload_add_int(p, b));
	return p;
}

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
