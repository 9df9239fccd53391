/* shared_counter_lock - seed 003 "Avoid race conditions with Locks": as
 * shared_counter_nolock, with one Lock around each read-then-write: the
 * end values are exactly 200 and [200.0, 300.0, 400.0]. */
#include <unistd.h>
#include <troupe/troupe.h>

TP_TASK(add_100)
{
	tp_value *number;
	tp_lock *lock;
	int64_t x;
	TP_TRY(tp_unpack(args, "VL", &number, &lock));
	for (int i = 0; i < 100; i++) {
		usleep(10000);
		tp_lock_acquire(lock, -1); /* lock the state */
		tp_value_get_long(number, &x), tp_value_set_long(number, x + 1);
		tp_lock_release(lock); /* unlock the state */
	}
	return tp_free("VL", number, lock);
}

TP_TASK(add_100_array)
{
	tp_array *numbers;
	tp_lock *lock;
	double x;
	TP_TRY(tp_unpack(args, "AL", &numbers, &lock));
	for (int n = 0; n < 100; n++) {
		usleep(10000);
		for (size_t i = 0; i < tp_array_len(numbers); i++) {
			tp_lock_acquire(lock, -1);
			tp_array_get_double(numbers, i, &x);
			tp_array_set_double(numbers, i, x + 1);
			tp_lock_release(lock);
		}
	}
	return tp_free("AL", numbers, lock);
}

int main(void)
{
	tp_lock *lock;
	tp_value *shared_number;
	tp_array *shared_array;
	tp_process *p[4];
	tp_init(NULL), tp_lock_new(&lock); /* create a lock */
	tp_value_new(&shared_number, 'i', NULL, NULL);
	tp_print("sV", "Value at beginning:", shared_number);
	tp_array_new(&shared_array, 'd', 3, (double[]){0.0, 100.0, 200.0},
	             NULL);
	tp_print("sA", "Array at beginning:", shared_array);
	/* pass the lock to the target function */
	tp_process_startf(&p[0], add_100, "VL", shared_number, lock);
	tp_process_startf(&p[1], add_100, "VL", shared_number, lock);
	tp_process_startf(&p[2], add_100_array, "AL", shared_array, lock);
	tp_process_startf(&p[3], add_100_array, "AL", shared_array, lock);
	for (int i = 0; i < 4; i++)
		tp_process_join(p[i], -1), tp_process_free(p[i]);
	tp_print("sV", "Value at end:", shared_number);
	tp_print("sA", "Array at end:", shared_array);
	tp_print("s", "end main");
	tp_free("LVA", lock, shared_number, shared_array);
	return tp_fini();
}
