/*
 * shared_counter_lock - seed 003 "Avoid race conditions with Locks": two
 * processes add 1 to a shared Value 100 times each, and two more add 1 to
 * every element of a shared Array 100 times each. One Lock, shared by all
 * four, is held around each read-modify-write, so no update is lost: the
 * end values are exactly 200 and [200.0, 300.0, 400.0].
 *
 * The loop is shared_counter_nolock's (read, a pause standing for the
 * interpreter's time, write back) with the lock around it.
 *
 * The four processes get the objects in their args (they are started by
 * the fork server and inherit nothing from main).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "troupe/troupe.h"

#define GAP_US 2000 /* between reading and writing back */

/* Prints a double the way Python's repr does (shortest round trip). */
static void print_float(double x)
{
	char buf[48];
	int prec = 1;
	for (; prec < 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, x);
		if (strtod(buf, NULL) == x)
			break;
	}
	/* Python writes 1e-4 <= |x| < 1e16 without an exponent. */
	double ax = x < 0 ? -x : x;
	if (strchr(buf, 'e') != NULL && ax >= 1e-4 && ax < 1e16) {
		int e = 0;
		for (double t = ax; t >= 10; t /= 10)
			e++;
		for (double t = ax; t < 1; t *= 10)
			e--;
		snprintf(buf, sizeof(buf), "%.*f",
		         prec - 1 - e > 0 ? prec - 1 - e : 0, x);
	}
	printf("%s%s", buf, strpbrk(buf, ".en") ? "" : ".0");
}

static void print_array(const char *what, tp_array *a)
{
	double x;
	printf("%s [", what);
	for (size_t i = 0; i < tp_array_len(a); i++) {
		tp_array_get_double(a, i, &x);
		printf(i ? ", " : "");
		print_float(x);
	}
	printf("]\n");
}

static int add_100(const tp_payload *args, tp_payload *result)
{
	tp_value *number;
	int64_t x;
	(void)result;
	if (tp_payload_get_value(args, 0, &number) != TP_OK)
		return 1;
	tp_lock *lock;
	if (tp_payload_get_lock(args, 1, &lock) != TP_OK)
		return 1;
	for (int n = 0; n < 100; n++) {
		usleep(10000);
		tp_lock_acquire(lock, -1); /* lock the state */
		tp_value_get_long(number, &x);
		usleep(GAP_US);
		tp_value_set_long(number, x + 1);
		tp_lock_release(lock); /* unlock the state */
	}
	tp_value_free(number);
	tp_lock_free(lock);
	return 0;
}
TP_TARGET(add_100);

static int add_100_array(const tp_payload *args, tp_payload *result)
{
	tp_array *numbers;
	double x;
	(void)result;
	if (tp_payload_get_array(args, 0, &numbers) != TP_OK)
		return 1;
	tp_lock *lock;
	if (tp_payload_get_lock(args, 1, &lock) != TP_OK)
		return 1;
	for (int n = 0; n < 100; n++) {
		usleep(10000);
		for (size_t i = 0; i < tp_array_len(numbers); i++) {
			tp_lock_acquire(lock, -1);
			tp_array_get_double(numbers, i, &x);
			usleep(GAP_US / 2);
			tp_array_set_double(numbers, i, x + 1);
			tp_lock_release(lock);
		}
	}
	tp_array_free(numbers);
	tp_lock_free(lock);
	return 0;
}
TP_TARGET(add_100_array);

/* Starts target with args (obj, lock); obj is a Value or an Array. */
static int start(tp_process **p, tp_target_fn target, tp_value *v, tp_array *a,
                 tp_lock *lock)
{
	tp_payload *args;
	int rv = tp_payload_new(&args);
	if (rv == TP_OK)
		rv = v != NULL ? tp_payload_add_value(args, v)
		               : tp_payload_add_array(args, a);
	if (rv == TP_OK && lock != NULL)
		rv = tp_payload_add_lock(args, lock);
	if (rv == TP_OK)
		rv = tp_process_new(p, target, args, NULL);
	if (rv == TP_OK)
		rv = tp_process_start(*p);
	tp_payload_free(args);
	return rv;
}

int main(void)
{
	double init[3] = {0.0, 100.0, 200.0};
	tp_value *shared_number;
	tp_array *shared_array;
	tp_lock *lock = NULL;
	tp_process *procs[4];
	int64_t v;
	int rv;
	if ((rv = tp_init(NULL)) != TP_OK ||
	    (rv = tp_lock_new(&lock)) != TP_OK ||
	    (rv = tp_value_new(&shared_number, 'i', NULL, NULL)) != TP_OK ||
	    (rv = tp_array_new(&shared_array, 'd', 3, init, NULL)) != TP_OK)
		goto fail;
	tp_value_get_long(shared_number, &v);
	printf("Value at beginning: %lld\n", (long long)v);
	print_array("Array at beginning:", shared_array);
	fflush(stdout);
	for (int i = 0; i < 4; i++) {
		rv = i < 2
		         ? start(&procs[i], add_100, shared_number, NULL, lock)
		         : start(&procs[i], add_100_array, NULL, shared_array,
		                 lock);
		if (rv != TP_OK)
			goto fail;
	}
	for (int i = 0; i < 4; i++) {
		tp_process_join(procs[i], -1);
		tp_process_free(procs[i]);
	}
	tp_value_get_long(shared_number, &v);
	printf("Value at end: %lld\n", (long long)v);
	print_array("Array at end:", shared_array);
	printf("end main\n");
	tp_value_free(shared_number);
	tp_array_free(shared_array);
	tp_lock_free(lock);
	return tp_fini();
fail:
	fprintf(stderr, "shared_counter_lock: %s\n", tp_strerror(rv));
	return 1;
}
