/* pool_map_range - seed 002 "Process Pool": Pool(processes=4).map(f,
 * range(10)) prints [0, 1, 4, ..., 81]; "r", 0, 10 is range(10). */
#include <troupe/troupe.h>

TP_TASK_INT(f, x)
{
	return x * x;
}

int main(void)
{
	tp_payload *out = NULL;
	if (!tp_init(NULL) && !tp_pool_run_mapf(4, f, &out, "r", 0, 10))
		tp_print("P", out);
	return tp_free("P", out), tp_fini();
}
