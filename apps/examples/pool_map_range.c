/* pool_map_range - seed 002 "Process Pool": Pool(processes=4).map(f,
 * range(10)) prints [0, 1, 4, ..., 81]. */
#include <troupe/troupe.h>

TP_TASK(f)
{
	int x;
	return tp_unpack(args, "i", &x) || tp_pack(result, "i", x * x);
}

int main(void)
{
	tp_pool *pool;
	tp_payload *range, *out = NULL;
	tp_init(NULL), tp_pool_new(&pool, 4, NULL, NULL, 0);
	if (tp_range(&range, 0, 10) == TP_OK &&
	    tp_pool_map(pool, f, range, 0, &out) == TP_OK)
		tp_print("P", out);
	tp_free("PPO", range, out, pool);
	return tp_fini();
}
