/* shared_counter_nolock - seed 003 "Share data between processes": two
 * processes add 1 to a shared Value 100 times each, two add 1 to every
 * item of a shared Array 100 times each, with no lock around the
 * read-then-write, so updates are lost (the end values vary, as in
 * Python). */
#include <unistd.h>
#include <troupe/troupe.h>

TP_TASK(add_100)
{
	tp_value *number;
	int64_t x;
	TP_TRY(tp_unpack(args, "V", &number));
	for (int i = 0; i < 100; i++) {
		usleep(10000);
		tp_value_get_long(number, &x), tp_value_set_long(number, x + 1);
	}
	return tp_free("V", number);
}

TP_TASK(add_100_array)
{
	tp_array *numbers;
	double x;
	TP_TRY(tp_unpack(args, "A", &numbers));
	for (int n = 0; n < 100; n++) {
		usleep(10000);
		for (size_t i = 0; i < tp_array_len(numbers); i++)
			tp_array_get_double(numbers, i, &x),
			    tp_array_set_double(numbers, i, x + 1);
	}
	return tp_free("A", numbers);
}

int main(void)
{
	tp_value *shared_number;
	tp_array *shared_array;
	tp_process *p[4];
	tp_init(NULL);
	tp_value_new(&shared_number, 'i', NULL, NULL);
	tp_print("sV", "Value at beginning:", shared_number);
	tp_array_new(&shared_array, 'd', 3, (double[]){0.0, 100.0, 200.0},
	             NULL);
	tp_print("sA", "Array at beginning:", shared_array);
	tp_process_startf(&p[0], add_100, "V", shared_number);
	tp_process_startf(&p[1], add_100, "V", shared_number);
	tp_process_startf(&p[2], add_100_array, "A", shared_array);
	tp_process_startf(&p[3], add_100_array, "A", shared_array);
	for (int i = 0; i < 4; i++)
		tp_process_join(p[i], -1), tp_process_free(p[i]);
	tp_print("sV", "Value at end:", shared_number);
	tp_print("sA", "Array at end:", shared_array);
	tp_print("s", "end main");
	tp_free("VA", shared_number, shared_array);
	return tp_fini();
}
