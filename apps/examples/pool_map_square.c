/* pool_map_square - seed 001 "Pool": Pool(5).map(f, [1, 2, 3]) prints
 * [1, 4, 9]. Freeing the pool ('O') is the `with` block's exit. */
#include <troupe/troupe.h>

TP_TASK(f)
{
	int x;
	return tp_unpack(args, "i", &x) || tp_pack(result, "i", x * x);
}

int main(void)
{
	tp_pool *p;
	tp_payload *out = NULL;
	tp_init(NULL), tp_pool_new(&p, 5, NULL, NULL, 0);
	if (tp_pool_mapf(p, f, &out, "iii", 1, 2, 3) == TP_OK)
		tp_print("P", out);
	tp_free("PO", out, p);
	return tp_fini();
}
