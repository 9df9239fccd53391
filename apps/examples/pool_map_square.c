/* pool_map_square - seed 001 "Pool": Pool(5).map(f, [1, 2, 3]) prints
 * [1, 4, 9]. tp_pool_free is the `with` block's exit. */
#include <stdio.h>
#include <troupe/troupe.h>

TP_TASK(f)
{
	int x;
	return tp_unpack(args, "i", &x) || tp_pack(result, "i", x * x);
}

int main(void)
{
	tp_pool *p;
	tp_payload *items, *out = NULL;
	char buf[64];
	tp_init(NULL);
	tp_pool_new(&p, 5, NULL, NULL, 0);
	tp_pack_new(&items, "iii", 1, 2, 3);
	if (tp_pool_map(p, f, items, 0, &out) == TP_OK)
		printf("%s\n", tp_repr(out, buf, sizeof(buf)));
	tp_payload_free(items), tp_payload_free(out), tp_pool_free(p);
	return tp_fini();
}
