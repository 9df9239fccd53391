/*
 * pool_map - seeds 001 and 002: `with Pool(5) as p: print(p.map(f, [1, 2,
 * 3]))` prints [1, 4, 9]; Pool(processes=4).map(f, range(10)) prints the
 * squares of 0..9; and the same with a cube. Seed 003: Pool() (one
 * worker per CPU), map(cube, range(10)) then close() and join(), and the
 * same list from one apply per number. The list printing mimics Python's
 * repr of a list.
 */
#include <stdio.h>

#include "troupe/troupe.h"

static int square(const tp_payload *args, tp_payload *result)
{
	int64_t x;
	int rv = tp_payload_get_int(args, 0, &x);
	return rv ? rv : tp_payload_add_int(result, x * x);
}
TP_TARGET(square);

static int cube(const tp_payload *args, tp_payload *result)
{
	int64_t x;
	int rv = tp_payload_get_int(args, 0, &x);
	return rv ? rv : tp_payload_add_int(result, x * x * x);
}
TP_TARGET(cube);

static void print_list(const tp_payload *p)
{
	printf("[");
	for (size_t i = 0; i < tp_payload_count(p); i++) {
		int64_t v = 0;
		tp_payload_get_int(p, i, &v);
		printf("%s%lld", i ? ", " : "", (long long)v);
	}
	printf("]\n");
}

static int run(int procs, tp_target_fn fn, const int64_t *xs, size_t n)
{
	tp_pool *pool;
	tp_payload *items, *out;
	int rv = tp_pool_new(&pool, procs, NULL, NULL, 0);
	if (rv != TP_OK)
		return rv;
	tp_payload_new(&items);
	for (size_t i = 0; i < n; i++)
		tp_payload_add_int(items, xs[i]);
	if ((rv = tp_pool_map(pool, fn, items, 0, &out)) == TP_OK) {
		print_list(out);
		tp_payload_free(out);
	}
	tp_payload_free(items);
	tp_pool_free(pool); /* the end of the with block */
	return rv;
}

/* p = Pool(); result = p.map(cube, numbers) (or one apply per number);
 * p.close(); p.join(); print(result) */
static int seed003(int use_apply)
{
	tp_pool *p;
	tp_payload *result, *args;
	int rv = tp_pool_new(&p, 0, NULL, NULL, 0);
	if (rv != TP_OK)
		return rv;
	tp_payload_new(&args);
	tp_payload_new(&result);
	for (int64_t i = 0; i < 10; i++)
		tp_payload_add_int(args, i);
	if (!use_apply) {
		tp_payload_free(result);
		rv = tp_pool_map(p, cube, args, 0, &result);
	}
	for (int64_t i = 0; use_apply && rv == TP_OK && i < 10; i++) {
		tp_payload *one, *out;
		int64_t v = 0;
		tp_payload_new(&one);
		tp_payload_add_int(one, i);
		if ((rv = tp_pool_apply(p, cube, one, &out)) == TP_OK) {
			tp_payload_get_int(out, 0, &v);
			tp_payload_add_int(result, v);
			tp_payload_free(out);
		}
		tp_payload_free(one);
	}
	tp_pool_close(p);
	tp_pool_join(p, -1);
	if (rv == TP_OK)
		print_list(result);
	tp_payload_free(result);
	tp_payload_free(args);
	tp_pool_free(p);
	return rv;
}

int main(void)
{
	int64_t small[] = {1, 2, 3}, ten[10];
	int rv;
	for (int i = 0; i < 10; i++)
		ten[i] = i;
	if ((rv = tp_init(NULL)) != TP_OK ||
	    (rv = run(5, square, small, 3)) != TP_OK ||
	    (rv = run(4, square, ten, 10)) != TP_OK ||
	    (rv = run(4, cube, ten, 10)) != TP_OK ||
	    (rv = seed003(0)) != TP_OK || (rv = seed003(1)) != TP_OK) {
		fprintf(stderr, "pool_map: %s\n", tp_strerror(rv));
		return 1;
	}
	tp_fini();
	return 0;
}
