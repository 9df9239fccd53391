/* pool_cube - seed 003 "Process Pools": Pool() (one worker per CPU) maps
 * cube over range(10). */
#include <troupe/troupe.h>

TP_TASK(cube)
{
	int number;
	TP_TRY(tp_unpack(args, "i", &number));
	return tp_pack(result, "i", number * number * number);
}

int main(void)
{
	tp_pool *p;
	tp_payload *numbers, *result = NULL;
	tp_init(NULL), tp_range(&numbers, 0, 10);
	tp_pool_new(&p, 0, NULL, NULL, 0); /* 0: tp_cpu_count() workers */
	tp_pool_map(p, cube, numbers, 0, &result);
	tp_pool_close(p), tp_pool_join(p, -1);
	tp_print("P", result);
	tp_free("PPO", numbers, result, p);
	return tp_fini();
}
