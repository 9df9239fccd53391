/* pool_race_counter - seed 000: four `add` and two `sub` pool workers
 * change a Manager Value by +100 / -100 each without a lock: the
 * read-then-write races, so the end value is rarely 200 (as in Python). */
#include <troupe/troupe.h>

TP_ERROR_CALLBACK(print_traceback)
{
	return tp_print("ss", err->origin, err->message);
}

/* add (sign +1) and sub (sign -1) differ only in the sign: one task */
TP_TASK(add_or_sub)
{
	tp_proxy *counter;
	int sign;
	TP_TRY(tp_unpack(args, "Xi", &counter, &sign));
	for (int i = 0; i < 100; i++) /* counter.value += sign, unlocked */
		tp_mvalue_add(counter, NULL, sign, NULL);
	return tp_free("X", counter);
}

int main(void)
{
	tp_manager *manager;
	tp_proxy *counter;
	tp_payload *adds[4], *subs[2];
	tp_pool *add_pool, *sub_pool;
	int64_t value;
	tp_init(NULL), tp_manager_start(&manager, NULL);
	tp_manager_valuef(manager, &counter, "i", 0);
	for (int i = 0; i < 4; i++) /* [(counter,) for _ in range(4)] */
		tp_pack_new(&adds[i], "Xi", counter, 1);
	for (int i = 0; i < 2; i++)
		tp_pack_new(&subs[i], "Xi", counter, -1);
	tp_pool_new(&add_pool, 4, NULL, NULL, 0);
	tp_pool_starmap_async(add_pool, add_or_sub, (const tp_payload **)adds,
	                      4, 0, NULL, print_traceback, NULL, NULL);
	tp_pool_new(&sub_pool, 2, NULL, NULL, 0);
	tp_pool_starmap_async(sub_pool, add_or_sub, (const tp_payload **)subs,
	                      2, 0, NULL, print_traceback, NULL, NULL);
	tp_pool_close(add_pool), tp_pool_close(sub_pool);
	tp_pool_join(add_pool, -1), tp_pool_join(sub_pool, -1);
	tp_mvalue_long(counter, &value), tp_print("l", value);
	tp_free("PPPPPPOOXM", adds[0], adds[1], adds[2], adds[3], subs[0],
	        subs[1], add_pool, sub_pool, counter, manager);
	return tp_fini();
}
