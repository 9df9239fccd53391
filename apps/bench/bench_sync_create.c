/*
 * bench_sync_create.c - the sync_create workload: the cost of creating and
 * freeing one shared object (a Lock, then a Value with its RLock), each in
 * its own shared-memory segment (shm_open + ftruncate + mmap, and unlink +
 * munmap at free). This is the figure behind docs/sync.md's choice of one
 * segment per object over an arena. No Python anchor: the Python figure
 * for comparison is `mp.Lock()` (see docs/sync.md).
 */
#include <stdio.h>

#include "bench.h"
#include "troupe/troupe.h"

int bench_sync_create(int argc, char **argv)
{
	long n = bench_opt_long(argc, argv, "n", 5000);
	tp_lock *l;
	tp_value *v;
	int rv;
	if (n < 1)
		return 2;
	double t0 = bench_now();
	for (long i = 0; i < n; i++) {
		if ((rv = tp_lock_new(&l)) != TP_OK)
			goto fail;
		tp_lock_free(l);
	}
	double lock_us = (bench_now() - t0) / (double)n * 1e6;
	t0 = bench_now();
	for (long i = 0; i < n; i++) {
		if ((rv = tp_value_new(&v, 'i', NULL, NULL)) != TP_OK)
			goto fail;
		tp_value_free(v);
	}
	double value_us = (bench_now() - t0) / (double)n * 1e6;
	fprintf(stderr, "n=%ld lock new+free %.2f us, value new+free %.2f us\n",
	        n, lock_us, value_us);
	printf("sync_create %.2f us\n", lock_us);
	return 0;
fail:
	fprintf(stderr, "sync_create: %s\n", tp_strerror(rv));
	return 1;
}
