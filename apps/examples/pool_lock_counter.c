/* pool_lock_counter - seed 000: the race of pool_race_counter, fixed with
 * a Manager Lock around each `counter.value += 1`: always 200. */
#include <troupe/troupe.h>

TP_ERROR_CALLBACK(print_traceback)
{
	return tp_print("ss", err->origin, err->message);
}

TP_TASK(add)
{
	tp_proxy *counter, *counter_lock;
	TP_TRY(tp_unpack(args, "XX", &counter, &counter_lock));
	for (int i = 0; i < 100; i++)
		tp_mvalue_add(counter, counter_lock, 1, NULL);
	return tp_free("XX", counter, counter_lock);
}

TP_TASK(sub)
{
	tp_proxy *counter, *counter_lock;
	TP_TRY(tp_unpack(args, "XX", &counter, &counter_lock));
	for (int i = 0; i < 100; i++)
		tp_mvalue_add(counter, counter_lock, -1, NULL);
	return tp_free("XX", counter, counter_lock);
}

int main(void)
{
	tp_manager *manager;
	tp_proxy *counter, *counter_lock;
	tp_payload *argv[4];
	tp_pool *add_pool, *sub_pool;
	int64_t value;
	tp_init(NULL), tp_manager_start(&manager, NULL);
	tp_manager_valuef(manager, &counter, "i", 0);
	tp_manager_lock(manager, &counter_lock);
	for (int i = 0; i < 4; i++)
		tp_pack_new(&argv[i], "XX", counter, counter_lock);
	tp_pool_new(&add_pool, 4, NULL, NULL, 0);
	tp_pool_starmap_async(add_pool, add, (const tp_payload **)argv, 4, 0,
	                      NULL, print_traceback, NULL, NULL);
	tp_pool_new(&sub_pool, 2, NULL, NULL, 0);
	tp_pool_starmap_async(sub_pool, sub, (const tp_payload **)argv, 2, 0,
	                      NULL, print_traceback, NULL, NULL);
	tp_pool_close(add_pool), tp_pool_close(sub_pool);
	tp_pool_join(add_pool, -1), tp_pool_join(sub_pool, -1);
	tp_mvalue_long(counter, &value), tp_print("l", value);
	tp_free("PPPPOOXXM", argv[0], argv[1], argv[2], argv[3], add_pool,
	        sub_pool, counter, counter_lock, manager);
	return tp_fini();
}
