/*
 * bench_value_lock.c - the value_lock workload: procs processes each do k
 * increments of a shared Value('i') under its lock, as
 * shared/anchors/python/value_lock.py (`with v.get_lock(): v.value += 1`).
 * Timed from before the children start until they are all reaped.
 *
 * For reference the same loop also runs on a bare process-shared robust
 * pthread mutex guarding an int in an anonymous shared mapping (the floor
 * troupe's Value can approach); its figure goes to stderr, or is the
 * metric with --raw 1. Children are plain fork()s: the workload touches no
 * nng.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "troupe/troupe.h"

struct raw {
	pthread_mutex_t m;
	int value;
};

static void work_troupe(tp_value *v, long k)
{
	tp_lock *l = tp_value_get_lock(v);
	int64_t x;
	for (long i = 0; i < k; i++) {
		tp_lock_acquire(l, -1);
		tp_value_get_long(v, &x);
		tp_value_set_long(v, x + 1);
		tp_lock_release(l);
	}
}

static void work_raw(struct raw *r, long k)
{
	for (long i = 0; i < k; i++) {
		pthread_mutex_lock(&r->m);
		r->value++;
		pthread_mutex_unlock(&r->m);
	}
}

/* Runs fn(arg, k) in procs children; returns the elapsed seconds or -1. */
static double run_children(int procs, long k, void (*fn)(void *, long),
                           void *arg)
{
	pid_t pids[64];
	int ok = 1, st;
	double t0 = bench_now();
	for (int i = 0; i < procs; i++) {
		if ((pids[i] = fork()) == 0) {
			fn(arg, k);
			_exit(0);
		}
		if (pids[i] < 0)
			return -1;
	}
	for (int i = 0; i < procs; i++)
		if (waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0)
			ok = 0;
	double dt = bench_now() - t0;
	return ok ? dt : -1;
}

static void troupe_fn(void *arg, long k)
{
	work_troupe(arg, k);
}

static void raw_fn(void *arg, long k)
{
	work_raw(arg, k);
}

static double raw_rate(int procs, long k)
{
	pthread_mutexattr_t a;
	struct raw *r = mmap(NULL, sizeof(*r), PROT_READ | PROT_WRITE,
	                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (r == MAP_FAILED)
		return -1;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&r->m, &a);
	r->value = 0;
	double dt = run_children(procs, k, raw_fn, r);
	int good = r->value == procs * k;
	munmap(r, sizeof(*r));
	return (dt > 0 && good) ? (double)procs * (double)k / dt : -1;
}

int bench_value_lock(int argc, char **argv)
{
	long k = bench_opt_long(argc, argv, "k", 1000000);
	int procs = (int)bench_opt_long(argc, argv, "procs", 2);
	int raw_metric = (int)bench_opt_long(argc, argv, "raw", 0);
	tp_value *v;
	int64_t final = 0;
	if (procs < 1 || procs > 64 || k < 1)
		return 2;
	double raw = raw_rate(procs, k);
	int rv = tp_value_new(&v, 'i', NULL, NULL);
	if (rv != TP_OK) {
		fprintf(stderr, "value_lock: %s\n", tp_strerror(rv));
		return 1;
	}
	double dt = run_children(procs, k, troupe_fn, v);
	tp_value_get_long(v, &final);
	tp_value_free(v);
	if (dt < 0 || final != (int64_t)procs * k || raw < 0) {
		fprintf(stderr, "value_lock: wrong result %lld\n",
		        (long long) final);
		return 1;
	}
	double rate = (double)procs * (double)k / dt;
	fprintf(stderr,
	        "procs=%d k=%ld final=%lld time=%.3fs; raw robust mutex "
	        "%.0f ops/s; troupe/raw %.2f\n",
	        procs, k, (long long) final, dt, raw, rate / raw);
	if (raw_metric)
		printf("value_lock_raw %.0f ops/s\n", raw);
	else
		printf("value_lock %.0f ops/s\n", rate);
	return 0;
}
