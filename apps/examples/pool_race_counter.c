/* pool_race_counter - seed 000: four `add` and two `sub` pool workers
 * change a Manager Value by +100 / -100 each without a lock: the
 * read-then-write races, so the end value is rarely 200 (as in Python). */
#include <troupe/troupe.h>

static int print_traceback(const tp_pool_error *e, void *arg)
{
	(void)arg;
	return tp_print("ss", e->origin, e->message);
}

TP_TASK(add)
{
	tp_proxy *counter;
	TP_TRY(tp_unpack(args, "X", &counter));
	for (int i = 0; i < 100; i++)
		tp_mvalue_add(counter, NULL, 1, NULL); /* counter.value += 1 */
	return tp_free("X", counter);
}

TP_TASK(sub)
{
	tp_proxy *counter;
	TP_TRY(tp_unpack(args, "X", &counter));
	for (int i = 0; i < 100; i++)
		tp_mvalue_add(counter, NULL, -1, NULL); /* counter.value -= 1 */
	return tp_free("X", counter);
}

int main(void)
{
	tp_manager *manager;
	tp_proxy *counter;
	tp_payload *zero, *argv[4];
	tp_pool *add_pool, *sub_pool;
	int64_t value;
	tp_init(NULL), tp_manager_start(&manager, NULL);
	tp_pack_new(&zero, "i", 0);
	tp_manager_create(manager, "value", zero, &counter);
	for (int i = 0; i < 4; i++)
		tp_pack_new(&argv[i], "X", counter); /* [(counter,)] * 4 */
	tp_pool_new(&add_pool, 4, NULL, NULL, 0);
	tp_pool_starmap_async(add_pool, add, (const tp_payload **)argv, 4, 0,
	                      NULL, print_traceback, NULL, NULL);
	tp_pool_new(&sub_pool, 2, NULL, NULL, 0);
	tp_pool_starmap_async(sub_pool, sub, (const tp_payload **)argv, 2, 0,
	                      NULL, print_traceback, NULL, NULL);
	tp_pool_close(add_pool), tp_pool_close(sub_pool);
	tp_pool_join(add_pool, -1), tp_pool_join(sub_pool, -1);
	tp_mvalue_long(counter, &value);
	tp_print("l", value);
	for (int i = 0; i < 4; i++)
		tp_payload_free(argv[i]);
	tp_free("OOPXM", add_pool, sub_pool, zero, counter, manager);
	return tp_fini();
}
