/*
 * shared_value_array - seed 001 "Example shared memory": a child sets a
 * shared Value('d') to 3.1415927 and negates every element of a shared
 * Array('i', range(10)); the parent prints
 *
 *     3.1415927
 *     [0, -1, -2, -3, -4, -5, -6, -7, -8, -9]
 *
 * Python: p = Process(target=f, args=(num, arr)); p.start(); p.join()
 *
 * The two objects reach the child in its args payload, and it attaches to
 * them: the child is started by the fork server and inherits nothing from
 * main (the same path takes them to a pool worker or a spawned process).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "troupe/troupe.h"

/* f(n, a): n.value = 3.1415927; a[i] = -a[i] */
static int f(const tp_payload *args, tp_payload *result)
{
	tp_value *n;
	tp_array *a;
	int64_t x;
	(void)result;
	if (tp_payload_get_value(args, 0, &n) != TP_OK ||
	    tp_payload_get_array(args, 1, &a) != TP_OK)
		return 1;
	tp_value_set_double(n, 3.1415927);
	for (size_t i = 0; i < tp_array_len(a); i++) {
		tp_array_get_long(a, i, &x);
		tp_array_set_long(a, i, -x);
	}
	tp_value_free(n); /* detaches; the parent's objects live on */
	tp_array_free(a);
	return 0;
}
TP_TARGET(f);

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
	printf("%s%s\n", buf, strpbrk(buf, ".en") ? "" : ".0");
}

int main(void)
{
	int32_t range[10];
	tp_value *num;
	tp_array *arr;
	tp_payload *args;
	tp_process *p;
	int rv;
	for (int i = 0; i < 10; i++)
		range[i] = i;
	if ((rv = tp_init(NULL)) != TP_OK ||
	    (rv = tp_value_new(&num, 'd', NULL, NULL)) != TP_OK ||
	    (rv = tp_array_new(&arr, 'i', 10, range, NULL)) != TP_OK ||
	    (rv = tp_payload_new(&args)) != TP_OK ||
	    (rv = tp_payload_add_value(args, num)) != TP_OK ||
	    (rv = tp_payload_add_array(args, arr)) != TP_OK ||
	    (rv = tp_process_new(&p, f, args, NULL)) != TP_OK ||
	    (rv = tp_process_start(p)) != TP_OK ||
	    (rv = tp_process_join(p, -1)) != TP_OK) {
		fprintf(stderr, "shared_value_array: %s\n", tp_strerror(rv));
		return 1;
	}
	double d;
	int32_t out[10];
	tp_value_get_double(num, &d);
	print_float(d);
	tp_array_read(arr, 0, 10, out);
	printf("[");
	for (int i = 0; i < 10; i++)
		printf("%s%d", i ? ", " : "", out[i]);
	printf("]\n");
	tp_process_free(p);
	tp_payload_free(args);
	tp_value_free(num);
	tp_array_free(arr);
	return tp_fini();
}
