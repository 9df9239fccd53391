/* shared_value_array - seed 001 "Example shared memory": a child sets a
 * shared Value('d') to 3.1415927 and negates a shared Array('i',
 * range(10)); the parent prints both as Python does. */
#include <troupe/troupe.h>

TP_TASK(f)
{
	tp_value *n;
	tp_array *a;
	int64_t x;
	TP_TRY(tp_unpack(args, "VA", &n, &a));
	tp_value_set_double(n, 3.1415927);
	for (size_t i = 0; i < tp_array_len(a); i++)
		tp_array_get_long(a, i, &x), tp_array_set_long(a, i, -x);
	return tp_free("VA", n, a);
}

int main(void)
{
	int32_t range[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
	tp_value *num;
	tp_array *arr;
	tp_process *p;
	tp_init(NULL), tp_value_new(&num, 'd', NULL, NULL);
	tp_array_new(&arr, 'i', 10, range, NULL);
	if (tp_process_startf(&p, f, "VA", num, arr) == TP_OK)
		tp_process_join(p, -1);
	tp_print("V", num), tp_print("A", arr);
	tp_free("TVA", p, num, arr);
	return tp_fini();
}
