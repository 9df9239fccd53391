/*
 * bench_pool.c - the pool workloads of shared/anchors/python/:
 *  pool_map            Pool(P).map(square, range(N)) throughput, items/s
 *                      (--chunksize 1: pool_map_chunksize1)
 *  pool_apply_async    N x apply_async(square, (i,)) then get() each, tasks/s
 *  pool_killed_worker  4 x apply_async(sleep 1 s) on Pool(2), SIGKILL one
 *                      worker after 0.5 s: how many results never arrive
 * Same defaults as the Python anchors; the pool is started and warmed up
 * before timing. map uses the packed integer path (tp_pool_map_int);
 * --generic 1 uses tp_pool_map over a payload of ints instead.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench.h"
#include "troupe/troupe.h"

static int b_square(const tp_payload *args, tp_payload *res)
{
	int64_t x;
	int rv = tp_payload_get_int(args, 0, &x);
	return rv ? rv : tp_payload_add_int(res, x * x);
}
TP_TARGET(b_square);

static int b_sleeper(const tp_payload *args, tp_payload *res)
{
	int64_t i = 0, us = 0;
	tp_payload_get_int(args, 0, &i);
	tp_payload_get_int(args, 1, &us);
	struct timespec ts = {us / 1000000, (us % 1000000) * 1000L};
	nanosleep(&ts, NULL);
	return tp_payload_add_int(res, i);
}
TP_TARGET(b_sleeper);

static int warm_up(tp_pool *pool, int procs)
{
	int64_t v[64];
	for (int i = 0; i < procs * 4 && i < 64; i++)
		v[i] = i;
	return tp_pool_map_int(pool, b_square, v,
	                       (size_t)(procs * 4 > 64 ? 64 : procs * 4), 0, v);
}

int bench_pool_map(int argc, char **argv)
{
	long cs = bench_opt_long(argc, argv, "chunksize", 0);
	long n = bench_opt_long(argc, argv, "n", cs == 1 ? 100000 : 10000000);
	long procs = bench_opt_long(argc, argv, "procs", 2);
	tp_pool *pool;
	int rv;
	if (n < 0 || procs < 1 || cs < 0)
		return 2;
	int64_t *in = malloc(((size_t)n + 1) * sizeof(*in));
	int64_t *out = malloc(((size_t)n + 1) * sizeof(*out));
	if (in == NULL || out == NULL ||
	    tp_pool_new(&pool, (int)procs, NULL, NULL, 0) != TP_OK)
		return 1;
	warm_up(pool, (int)procs);
	double t0 = bench_now();
	for (long i = 0; i < n; i++)
		in[i] = i;
	if (bench_opt_long(argc, argv, "generic", 0)) {
		/* tp_pool_map over a payload of ints (the general path) */
		tp_payload *items = NULL, *res = NULL;
		rv = tp_payload_new(&items);
		for (long i = 0; i < n && rv == TP_OK; i++)
			rv = tp_payload_add_int(items, in[i]);
		if (rv == TP_OK)
			rv = tp_pool_map(pool, b_square, items, (size_t)cs,
			                 &res);
		for (long i = 0; i < n && rv == TP_OK; i++)
			rv = tp_payload_get_int(res, (size_t)i, &out[i]);
		tp_payload_free(items);
		tp_payload_free(res);
	} else {
		rv = tp_pool_map_int(pool, b_square, in, (size_t)n, (size_t)cs,
		                     out);
	}
	double dt = bench_now() - t0;
	tp_pool_free(pool);
	unsigned __int128 sum = 0, want = (unsigned __int128)(n - 1) *
	                                  (unsigned __int128)n *
	                                  (unsigned __int128)(2 * n - 1) / 6;
	for (long i = 0; i < n; i++)
		sum += (unsigned __int128)out[i];
	free(in);
	free(out);
	if (rv != TP_OK || sum != want) {
		fprintf(stderr, "pool_map: %s, sum %s\n", tp_strerror(rv),
		        sum == want ? "ok" : "WRONG");
		return 1;
	}
	fprintf(stderr, "n=%ld chunksize=%s procs=%ld time=%.3fs\n", n,
	        cs ? bench_opt_str(argc, argv, "chunksize", "") : "None", procs,
	        dt);
	if (cs == 1)
		printf("pool_map_chunksize1 %.0f items/s\n", (double)n / dt);
	else if (cs == 0)
		printf("pool_map %.0f items/s\n", (double)n / dt);
	else
		printf("pool_map_chunksize%ld %.0f items/s\n", cs,
		       (double)n / dt);
	return 0;
}

int bench_pool_apply_async(int argc, char **argv)
{
	long n = bench_opt_long(argc, argv, "n", 50000);
	long procs = bench_opt_long(argc, argv, "procs", 2);
	tp_pool *pool;
	tp_payload *a;
	int bad = 0;
	if (n < 1 || procs < 1)
		return 2;
	tp_pool_result **rs = calloc((size_t)n, sizeof(*rs));
	if (rs == NULL || tp_payload_new(&a) != TP_OK ||
	    tp_pool_new(&pool, (int)procs, NULL, NULL, 0) != TP_OK)
		return 1;
	warm_up(pool, (int)procs);
	double t0 = bench_now();
	for (long i = 0; i < n; i++) {
		tp_payload_clear(a);
		tp_payload_add_int(a, i);
		if (tp_pool_apply_async(pool, b_square, a, NULL, NULL, NULL,
		                        &rs[i]) != TP_OK)
			return 1;
	}
	double t_submit = bench_now() - t0;
	for (long i = 0; i < n; i++) {
		tp_payload *out = NULL;
		int64_t v = -1;
		if (tp_pool_result_get(rs[i], &out, -1) != TP_OK ||
		    tp_payload_get_int(out, 0, &v) != TP_OK || v != i * i)
			bad++;
		tp_payload_free(out);
		tp_pool_result_free(rs[i]);
	}
	double dt = bench_now() - t0;
	tp_pool_free(pool);
	tp_payload_free(a);
	free(rs);
	if (bad) {
		fprintf(stderr, "pool_apply_async: %d wrong results\n", bad);
		return 1;
	}
	fprintf(stderr, "n=%ld procs=%ld submit=%.3fs total=%.3fs\n", n, procs,
	        t_submit, dt);
	printf("pool_apply_async %.0f tasks/s\n", (double)n / dt);
	return 0;
}

int bench_pool_killed_worker(int argc, char **argv)
{
	long tasks = bench_opt_long(argc, argv, "tasks", 4);
	double task_s = atof(bench_opt_str(argc, argv, "task-s", "1.0"));
	double kill_after =
	    atof(bench_opt_str(argc, argv, "kill-after", "0.5"));
	double timeout = atof(bench_opt_str(argc, argv, "timeout", "10.0"));
	tp_pool *pool;
	int ok = 0, died = 0, timed_out = 0;
	if (tasks < 1 || tp_pool_new(&pool, 2, NULL, NULL, 0) != TP_OK)
		return 1;
	tp_pool_result **rs = calloc((size_t)tasks, sizeof(*rs));
	warm_up(pool, 2);
	double t0 = bench_now();
	for (long i = 0; i < tasks; i++) {
		tp_payload *a;
		tp_payload_new(&a);
		tp_payload_add_int(a, i);
		tp_payload_add_int(a, (int64_t)(task_s * 1e6));
		tp_pool_apply_async(pool, b_sleeper, a, NULL, NULL, NULL,
		                    &rs[i]);
		tp_payload_free(a);
	}
	struct timespec ts = {(time_t)kill_after,
	                      (long)((kill_after - (long)kill_after) * 1e9)};
	nanosleep(&ts, NULL);
	pid_t victim = tp_pool_worker_pid(pool, 0);
	kill(victim, SIGKILL);
	fprintf(stderr, "troupe Pool: SIGKILLed worker %d at t=%.2fs\n",
	        (int)victim, bench_now() - t0);
	for (long i = 0; i < tasks; i++) {
		tp_payload *out = NULL;
		tp_pool_error e;
		int rv = tp_pool_result_get(rs[i], &out, (int)(timeout * 1000));
		if (rv == TP_OK) {
			ok++;
		} else if (rv == TP_ETIMEDOUT) {
			timed_out++;
			fprintf(stderr, "troupe Pool: task %ld timed out\n", i);
		} else {
			died++;
			tp_pool_result_err(rs[i], &e);
			fprintf(stderr, "troupe Pool: task %ld: %s: %s: %s\n",
			        i, tp_strerror(rv), e.origin, e.message);
		}
		tp_payload_free(out);
		tp_pool_result_free(rs[i]);
	}
	fprintf(stderr,
	        "troupe Pool: %d results arrived, %d failed with a worker-died "
	        "error, %d timed out (%d of %ld accounted), t=%.2fs\n",
	        ok, died, timed_out, ok + died, tasks, bench_now() - t0);
	tp_payload *out = NULL, *a = NULL;
	int64_t sq = 0;
	tp_payload_new(&a);
	tp_payload_add_int(a, 12);
	int usable = tp_pool_apply(pool, b_square, a, &out) == TP_OK &&
	             tp_payload_get_int(out, 0, &sq) == TP_OK && sq == 144;
	tp_payload_free(out);
	tp_payload_free(a);
	int64_t v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	usable = usable &&
	         tp_pool_map_int(pool, b_square, v, 8, 0, v) == TP_OK &&
	         v[7] == 64;
	fprintf(stderr, "troupe Pool: still usable after the kill: %s\n",
	        usable ? "yes" : "NO");
	tp_pool_free(pool);
	free(rs);
	printf("killed_worker_lost_tasks %d count\n", timed_out);
	return 0;
}
