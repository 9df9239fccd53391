#include <troupe/troupe.h>

TP_TASK(square) /* registered by name: works with every start method */
{
	int x;
	TP_TRY(tp_unpack(args, "i", &x));   /* x, = args (TP_ETYPE if not) */
	return tp_pack(result, "i", x * x); /* returned to the parent */
}

int main(void)
{
	tp_process *p;
	tp_payload *res = NULL;
	tp_init(NULL); /* the `if __name__ == "__main__":` guard */
	tp_process_startf(&p, square, "i", 7);
	if (tp_process_result(p, &res, 5000) == TP_OK)
		tp_print("ssp", tp_process_name(p), "returned", res);
	tp_process_join(p, -1);
	tp_free("PT", res, p);
	return tp_fini();
}
