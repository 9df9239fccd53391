/* pool_map_square - seed 001 "Pool": Pool(5).map(f, [1, 2, 3]) prints
 * [1, 4, 9]. tp_pool_run_mapf is the `with Pool(5) as p: p.map(...)`
 * block: the pool is made for the map and freed after it. */
#include <troupe/troupe.h>

TP_TASK_INT(f, x)
{
	return x * x;
}

int main(void)
{
	tp_payload *out = NULL;
	if (!tp_init(NULL) && !tp_pool_run_mapf(5, f, &out, "iii", 1, 2, 3))
		tp_print("P", out);
	return tp_free("P", out), tp_fini();
}
