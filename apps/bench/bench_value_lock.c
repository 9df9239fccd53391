/*
 * bench_value_lock.c - the value_lock workload: procs processes each do k
 * increments of a shared Value('i') under its lock, as
 * shared/anchors/python/value_lock.py (`with v.get_lock(): v.value += 1`).
 * Timed from before the children start until they are all reaped. The
 * increment uses the synchronised accessors (tp_value_get_long/set_long,
 * which see the lock is already held), as Python's v.value does; with
 * --access ptr it writes through tp_value_ptr instead.
 *
 * The troupe workers are tp_process children (the fork server by default)
 * that receive the Value in their args. For reference the same loop also
 * runs on a bare process-shared robust pthread mutex guarding an int in an
 * anonymous shared mapping, in plain fork() children (the floor troupe's
 * Value can approach); its figure goes to stderr, or is the metric with
 * --raw 1; those children call no nng. The two alternate --reps times
 * (the median of each is reported) so both see the same machine load.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "troupe/troupe.h"

struct raw {
	pthread_mutex_t m;
	int value;
};

/* The troupe worker: args (value, k, use_ptr). With use_ptr it writes
 * through tp_value_ptr, else it uses the synchronised accessors. */
static int value_lock_worker(const tp_payload *args, tp_payload *result)
{
	tp_value *v;
	int64_t k, use_ptr, x;
	(void)result;
	if (tp_payload_get_value(args, 0, &v) != TP_OK ||
	    tp_payload_get_int(args, 1, &k) != TP_OK ||
	    tp_payload_get_int(args, 2, &use_ptr) != TP_OK)
		return 1;
	tp_lock *l = tp_value_get_lock(v);
	int32_t *p = tp_value_ptr(v);
	for (int64_t i = 0; i < k; i++) {
		tp_lock_acquire(l, -1);
		if (use_ptr) {
			(*p)++;
		} else {
			tp_value_get_long(v, &x);
			tp_value_set_long(v, x + 1);
		}
		tp_lock_release(l);
	}
	tp_value_free(v);
	return 0;
}
TP_TARGET(value_lock_worker);

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

/* Starts procs workers on v and joins them: the elapsed seconds, or -1. */
static double run_processes(int procs, long k, int use_ptr, tp_value *v)
{
	tp_process *ps[64];
	tp_payload *args;
	int ok = 1, n = 0, code = -1;
	if (tp_payload_new(&args) != TP_OK)
		return -1;
	tp_payload_add_value(args, v);
	tp_payload_add_int(args, k);
	tp_payload_add_int(args, use_ptr);
	double t0 = bench_now();
	for (; n < procs; n++)
		if (tp_process_new(&ps[n], value_lock_worker, args, NULL) !=
		        TP_OK ||
		    tp_process_start(ps[n]) != TP_OK) {
			ok = 0;
			break;
		}
	for (int i = 0; i < n; i++) {
		if (tp_process_join(ps[i], -1) != TP_OK ||
		    tp_process_exitcode(ps[i], &code) != TP_OK || code != 0) {
			fprintf(stderr, "value_lock: worker exit code %d\n",
			        code);
			ok = 0;
		}
	}
	double dt = bench_now() - t0;
	for (int i = 0; i < n; i++)
		tp_process_free(ps[i]);
	tp_payload_free(args);
	return ok ? dt : -1;
}

/* One troupe run: the rate, or -1. */
static double troupe_rate(int procs, long k, int use_ptr)
{
	tp_value *v;
	int64_t final = 0;
	int rv = tp_value_new(&v, 'i', NULL, NULL);
	if (rv != TP_OK) {
		fprintf(stderr, "value_lock: %s\n", tp_strerror(rv));
		return -1;
	}
	double dt = run_processes(procs, k, use_ptr, v);
	tp_value_get_long(v, &final);
	tp_value_free(v);
	if (dt <= 0 || final != (int64_t)procs * k) {
		fprintf(stderr, "value_lock: wrong result %lld\n",
		        (long long) final);
		return -1;
	}
	return (double)procs * (double)k / dt;
}

int bench_value_lock(int argc, char **argv)
{
	long k = bench_opt_long(argc, argv, "k", 1000000);
	int procs = (int)bench_opt_long(argc, argv, "procs", 2);
	int reps = (int)bench_opt_long(argc, argv, "reps", 5);
	int raw_metric = (int)bench_opt_long(argc, argv, "raw", 0);
	double raw[64], tp[64];
	int use_ptr =
	    strcmp(bench_opt_str(argc, argv, "access", "get"), "ptr") == 0;
	if (procs < 1 || procs > 64 || k < 1 || reps < 1 || reps > 64)
		return 2;
	/* Alternate the two so that both see the same machine load. */
	for (int r = 0; r < reps; r++) {
		if ((raw[r] = raw_rate(procs, k)) < 0 ||
		    (tp[r] = troupe_rate(procs, k, use_ptr)) < 0)
			return 1;
	}
	double mraw = bench_median(raw, (size_t)reps);
	double mtp = bench_median(tp, (size_t)reps);
	fprintf(stderr,
	        "procs=%d k=%ld reps=%d (medians) raw robust mutex %.0f "
	        "ops/s; troupe %.0f ops/s; troupe/raw %.2f\n",
	        procs, k, reps, mraw, mtp, mtp / mraw);
	if (raw_metric)
		printf("value_lock_raw %.0f ops/s\n", mraw);
	else
		printf("value_lock %.0f ops/s\n", mtp);
	return 0;
}
