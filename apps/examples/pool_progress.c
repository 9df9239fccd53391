/*
 * pool_progress - a long map with a progress bar: map_async over 2000
 * items (each a few milliseconds of work) and a progress callback that
 * redraws the bar as chunks finish; then the sum of the results.
 * Usage: pool_progress [ITEMS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "troupe/troupe.h"

static int slow_square(const tp_payload *args, tp_payload *result)
{
	int64_t x;
	int rv = tp_payload_get_int(args, 0, &x);
	struct timespec ts = {0, 2000000L}; /* 2 ms of "work" */
	nanosleep(&ts, NULL);
	return rv ? rv : tp_payload_add_int(result, x * x);
}
TP_TARGET(slow_square);

static void bar(size_t done, size_t total, void *arg)
{
	int width = 40, fill = total ? (int)(done * (size_t)width / total) : 0;
	(void)arg;
	printf("\r[");
	for (int i = 0; i < width; i++)
		putchar(i < fill ? '#' : '.');
	printf("] %3d%% %zu/%zu", total ? (int)(done * 100 / total) : 100, done,
	       total);
	if (done == total)
		putchar('\n');
	fflush(stdout);
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000;
	tp_pool *pool;
	tp_pool_result *r;
	tp_payload *items, *out;
	int rv;
	if ((rv = tp_init(NULL)) != TP_OK ||
	    (rv = tp_pool_new(&pool, 0, NULL, NULL, 0)) != TP_OK) {
		fprintf(stderr, "pool: %s\n", tp_strerror(rv));
		return 1;
	}
	tp_payload_new(&items);
	for (size_t i = 0; i < n; i++)
		tp_payload_add_int(items, (int64_t)i);
	/* Small chunks so the bar moves often. */
	rv = tp_pool_map_async(pool, slow_square, items, 10, NULL, NULL, NULL,
	                       &r);
	if (rv == TP_OK)
		rv = tp_pool_result_on_progress(r, bar, NULL);
	if (rv == TP_OK && (rv = tp_pool_result_get(r, &out, -1)) == TP_OK) {
		int64_t sum = 0, v;
		for (size_t i = 0; i < tp_payload_count(out); i++)
			if (tp_payload_get_int(out, i, &v) == TP_OK)
				sum += v;
		printf("sum of %zu squares: %lld\n", n, (long long)sum);
		tp_payload_free(out);
	}
	if (rv != TP_OK)
		fprintf(stderr, "pool_progress: %s\n", tp_strerror(rv));
	tp_pool_result_free(r);
	tp_payload_free(items);
	tp_pool_free(pool);
	tp_fini();
	return rv == TP_OK ? 0 : 1;
}
