/*
 * pool_starmap_counter - seed 000 "race conditions between processes": a
 * shared counter, an add pool of 4 and a sub pool of 2 running
 * starmap_async(add / sub, [(counter,)] * n); each call adds or subtracts
 * 100. Without a lock the read-modify-write races and the final value is
 * wrong (Python printed 49); with the counter's lock (seed In[95]) it is
 * 200. The shared Value and Lock travel to the pool workers inside the
 * starmap arguments — Python needs a Manager for that.
 */
#include <sched.h>
#include <stdio.h>

#include "troupe/troupe.h"

static int change(const tp_payload *args, int delta)
{
	tp_value *counter;
	tp_lock *lock = NULL;
	int rv = tp_payload_get_value(args, 0, &counter);
	if (rv != TP_OK)
		return rv;
	if (tp_payload_count(args) > 1 &&
	    (rv = tp_payload_get_lock(args, 1, &lock)) != TP_OK) {
		tp_value_free(counter);
		return rv;
	}
	volatile int *c = tp_value_ptr(counter);
	for (int i = 0; i < 100; i++) {
		if (lock != NULL)
			tp_lock_acquire(lock, -1); /* counter_lock.acquire() */
		int v = *c;                        /* counter.value += 1 */
		sched_yield(); /* widen the race window, as a Manager does */
		*c = v + delta;
		if (lock != NULL)
			tp_lock_release(lock);
	}
	tp_lock_free(lock);
	tp_value_free(counter);
	return 0;
}

static int add(const tp_payload *args, tp_payload *result)
{
	(void)result;
	return change(args, +1);
}
TP_TARGET(add);

static int sub(const tp_payload *args, tp_payload *result)
{
	(void)result;
	return change(args, -1);
}
TP_TARGET(sub);

static int print_traceback(const tp_pool_error *e, void *arg)
{
	(void)arg;
	printf("%s: %s\n", e->origin, e->message);
	return 0;
}

static int run(int with_lock)
{
	tp_value *counter;
	tp_lock *lock = NULL;
	tp_pool *add_pool, *sub_pool;
	tp_payload *argv[4];
	int64_t v = 0;
	int rv = tp_rawvalue_new(&counter, 'i', NULL);
	if (rv == TP_OK && with_lock)
		rv = tp_lock_new(&lock);
	if (rv != TP_OK)
		return rv;
	for (int i = 0; i < 4; i++) { /* [(counter, counter_lock)] * 4 */
		tp_payload_new(&argv[i]);
		tp_payload_add_value(argv[i], counter);
		if (lock != NULL)
			tp_payload_add_lock(argv[i], lock);
	}
	if ((rv = tp_pool_new(&add_pool, 4, NULL, NULL, 0)) != TP_OK)
		return rv;
	if ((rv = tp_pool_new(&sub_pool, 2, NULL, NULL, 0)) != TP_OK)
		return rv;
	const tp_payload *const *av = (const tp_payload *const *)argv;
	tp_pool_starmap_async(add_pool, add, av, 4, 0, NULL, print_traceback,
	                      NULL, NULL);
	tp_pool_starmap_async(sub_pool, sub, av, 2, 0, NULL, print_traceback,
	                      NULL, NULL);
	tp_pool_close(add_pool);
	tp_pool_close(sub_pool);
	tp_pool_join(add_pool, -1);
	tp_pool_join(sub_pool, -1);
	tp_value_get_long(counter, &v);
	printf("%lld\n", (long long)v); /* print(counter.value) */
	tp_pool_free(add_pool);
	tp_pool_free(sub_pool);
	for (int i = 0; i < 4; i++)
		tp_payload_free(argv[i]);
	tp_lock_free(lock);
	tp_value_free(counter);
	return TP_OK;
}

int main(void)
{
	int rv;
	if ((rv = tp_init(NULL)) != TP_OK || (rv = run(0)) != TP_OK ||
	    (rv = run(1)) != TP_OK) {
		fprintf(stderr, "pool_starmap_counter: %s\n", tp_strerror(rv));
		return 1;
	}
	tp_fini();
	return 0;
}
