/*
 * shared_value_array - seed 001 "Example shared memory": a child sets a
 * shared Value('d') to 3.1415927 and negates every element of a shared
 * Array('i', range(10)); the parent prints
 *
 *     3.1415927
 *     [0, -1, -2, -3, -4, -5, -6, -7, -8, -9]
 *
 * The two objects reach the child as a payload (the bytes any troupe
 * message carries), which it attaches to: the same path that takes them
 * to a pool worker or a spawned process. The child is a plain fork().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "troupe/troupe.h"

/* f(n, a): n.value = 3.1415927; a[i] = -a[i] */
static int f(const void *buf, size_t len)
{
	tp_payload *args;
	tp_value *n;
	tp_array *a;
	int64_t x;
	if (tp_payload_decode(buf, len, 0, &args) != TP_OK ||
	    tp_payload_get_value(args, 0, &n) != TP_OK ||
	    tp_payload_get_array(args, 1, &a) != TP_OK)
		return 1;
	tp_value_set_double(n, 3.1415927);
	for (size_t i = 0; i < tp_array_len(a); i++) {
		tp_array_get_long(a, i, &x);
		tp_array_set_long(a, i, -x);
	}
	tp_value_free(n); /* detaches; the parent's objects live on */
	tp_array_free(a);
	tp_payload_free(args);
	return 0;
}

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
	tp_init_opts o = {.start_method = TP_START_FORK};
	int32_t range[10];
	tp_value *num;
	tp_array *arr;
	tp_payload *args;
	void *buf;
	size_t len;
	int rv, st;
	for (int i = 0; i < 10; i++)
		range[i] = i;
	if ((rv = tp_init(&o)) != TP_OK ||
	    (rv = tp_value_new(&num, 'd', NULL, NULL)) != TP_OK ||
	    (rv = tp_array_new(&arr, 'i', 10, range, NULL)) != TP_OK ||
	    (rv = tp_payload_new(&args)) != TP_OK ||
	    (rv = tp_payload_add_value(args, num)) != TP_OK ||
	    (rv = tp_payload_add_array(args, arr)) != TP_OK ||
	    (rv = tp_payload_encode(args, 0, &buf, &len)) != TP_OK) {
		fprintf(stderr, "shared_value_array: %s\n", tp_strerror(rv));
		return 1;
	}
	pid_t p = fork();
	if (p == 0)
		_exit(f(buf, len));
	waitpid(p, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fprintf(stderr, "shared_value_array: the child failed\n");
	double d;
	int32_t out[10];
	tp_value_get_double(num, &d);
	print_float(d);
	tp_array_read(arr, 0, 10, out);
	printf("[");
	for (int i = 0; i < 10; i++)
		printf("%s%d", i ? ", " : "", out[i]);
	printf("]\n");
	free(buf);
	tp_payload_free(args);
	tp_value_free(num);
	tp_array_free(arr);
	tp_fini();
	return 0;
}
