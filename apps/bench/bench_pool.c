/*
 * bench_pool.c - the pool workloads of shared/anchors/python/:
 *  pool_map            Pool(P).map(f, items) throughput through tp_pool_map,
 *                      items/s (--payload int|str|bytes1k|double as the
 *                      anchor; --payload map_int: the explicit integer API
 *                      tp_pool_map_int; --chunksize 1: pool_map_chunksize1;
 *                      --backend mpi under mpirun: the agents' workers,
 *                      --procs per agent, docs/cluster.md)
 *  pool_apply_async    N x apply_async(square, (i,)) then get() each, tasks/s
 *  pool_killed_worker  4 x apply_async(sleep 1 s) on Pool(2), SIGKILL one
 *                      worker after 0.5 s: how many results never arrive
 * Same defaults as the Python anchors; the pool is started and warmed up
 * before timing.
 */
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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

static int b_upper(const tp_payload *args, tp_payload *res)
{
	const char *s;
	char buf[256];
	size_t i;
	int rv = tp_payload_get_string(args, 0, &s);
	if (rv != TP_OK)
		return rv;
	for (i = 0; s[i] != '\0' && i + 1 < sizeof(buf); i++)
		buf[i] = (char)toupper((unsigned char)s[i]);
	buf[i] = '\0';
	return tp_payload_add_string(res, buf);
}
TP_TARGET(b_upper);

static int b_bsum(const tp_payload *args, tp_payload *res)
{
	const void *d;
	size_t len;
	int64_t sum = 0;
	int rv = tp_payload_get_bytes(args, 0, &d, &len);
	if (rv != TP_OK)
		return rv;
	for (size_t i = 0; i < len; i++)
		sum += ((const unsigned char *)d)[i];
	return tp_payload_add_int(res, sum);
}
TP_TARGET(b_bsum);

static int b_half(const tp_payload *args, tp_payload *res)
{
	double x;
	int rv = tp_payload_get_double(args, 0, &x);
	return rv ? rv : tp_payload_add_double(res, x * 0.5);
}
TP_TARGET(b_half);

static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* --task-us U: item x = i << 20 | U spins U us of CPU and gives i. The
 * worker's own CPU time, not the clock: on a loaded machine each task is
 * still U us of work, so CPU spent per task beyond U is the pool's. */
static int b_spin(const tp_payload *args, tp_payload *res)
{
	int64_t x;
	int rv = tp_payload_get_int(args, 0, &x);
	if (rv != TP_OK)
		return rv;
	double t0 = cpu_now(), us = (double)(x & 0xfffff);
	while ((cpu_now() - t0) * 1e6 < us)
		;
	return tp_payload_add_int(res, x >> 20);
}
TP_TARGET(b_spin);

/* A map of n items of us microseconds of CPU each. */
static int map_spin(tp_pool *pool, long n, long us, long cs, double *dt)
{
	tp_payload *items = NULL, *res = NULL;
	int rv = tp_payload_new(&items);
	for (long i = 0; rv == TP_OK && i < n; i++)
		rv = tp_payload_add_int(items, (int64_t)i << 20 | us);
	double t0 = bench_now();
	if (rv == TP_OK)
		rv = tp_pool_map(pool, b_spin, items, (size_t)cs, &res);
	*dt = bench_now() - t0;
	for (long i = 0; rv == TP_OK && i < n; i++) {
		int64_t v = -1;
		tp_payload_get_int(res, (size_t)i, &v);
		if (v != i)
			rv = TP_EPROTO;
	}
	tp_payload_free(items);
	tp_payload_free(res);
	return rv;
}

static int warm_up(tp_pool *pool, int procs)
{
	int64_t v[64];
	for (int i = 0; i < procs * 4 && i < 64; i++)
		v[i] = i;
	return tp_pool_map_int(pool, b_square, v,
	                       (size_t)(procs * 4 > 64 ? 64 : procs * 4), 0, v);
}

enum map_payload { P_INT, P_STR, P_BYTES1K, P_DOUBLE, P_MAPINT };

static const char *const payload_names[] = {"int", "str", "bytes1k", "double",
                                            "map_int"};

/* The items of the map, as the Python anchor builds them. */
static int map_items(enum map_payload k, long n, tp_payload **out)
{
	static unsigned char ones[1024];
	char s[64];
	int rv = tp_payload_new(out);
	memset(ones, 1, sizeof(ones));
	for (long i = 0; i < n && rv == TP_OK; i++) {
		switch (k) {
		case P_STR:
			snprintf(s, sizeof(s), "item-%ld-abcdef", i);
			rv = tp_payload_add_string(*out, s);
			break;
		case P_BYTES1K:
			rv = tp_payload_add_bytes(*out, ones, sizeof(ones));
			break;
		case P_DOUBLE:
			rv = tp_payload_add_double(*out, (double)i);
			break;
		default:
			rv = tp_payload_add_int(*out, i);
		}
	}
	return rv;
}

/* Checks the results as the Python anchor does. */
static int map_check(enum map_payload k, long n, const tp_payload *res)
{
	unsigned __int128 sum = 0, want = (unsigned __int128)(n - 1) *
	                                  (unsigned __int128)n *
	                                  (unsigned __int128)(2 * n - 1) / 6;
	char s[64];
	const char *got;
	int64_t x;
	double d;
	if ((long)tp_payload_count(res) != n)
		return 0;
	for (long i = 0; i < n; i++) {
		switch (k) {
		case P_STR:
			snprintf(s, sizeof(s), "ITEM-%ld-ABCDEF", i);
			if (tp_payload_get_string(res, (size_t)i, &got) ||
			    strcmp(got, s) != 0)
				return 0;
			break;
		case P_BYTES1K:
			if (tp_payload_get_int(res, (size_t)i, &x) || x != 1024)
				return 0;
			break;
		case P_DOUBLE:
			if (tp_payload_get_double(res, (size_t)i, &d) ||
			    d != (double)i * 0.5)
				return 0;
			break;
		default:
			if (tp_payload_get_int(res, (size_t)i, &x))
				return 0;
			sum += (unsigned __int128)x;
		}
	}
	return k == P_STR || k == P_BYTES1K || k == P_DOUBLE || sum == want;
}

/* The explicit integer API: tp_pool_map_int over an int64 array. */
static int map_int_api(tp_pool *pool, long n, long cs, double *dt)
{
	int64_t *in = malloc(((size_t)n + 1) * sizeof(*in));
	int64_t *out = malloc(((size_t)n + 1) * sizeof(*out));
	int rv = TP_ENOMEM;
	if (in != NULL && out != NULL) {
		double t0 = bench_now();
		for (long i = 0; i < n; i++)
			in[i] = i;
		rv = tp_pool_map_int(pool, b_square, in, (size_t)n, (size_t)cs,
		                     out);
		*dt = bench_now() - t0;
	}
	unsigned __int128 sum = 0, want = (unsigned __int128)(n - 1) *
	                                  (unsigned __int128)n *
	                                  (unsigned __int128)(2 * n - 1) / 6;
	for (long i = 0; rv == TP_OK && i < n; i++)
		sum += (unsigned __int128)out[i];
	if (rv == TP_OK && sum != want)
		rv = TP_EPROTO;
	free(in);
	free(out);
	return rv;
}

/* tp_pool_map over a payload: the path a user's code takes. The int items
 * are built inside the timing, as Python's list(range(n)) is. */
static int map_general(tp_pool *pool, enum map_payload k, long n, long cs,
                       double *dt)
{
	static const tp_target_fn fns[] = {b_square, b_upper, b_bsum, b_half};
	tp_payload *items = NULL, *res = NULL;
	double t0 = bench_now();
	int rv = k == P_INT ? map_items(k, n, &items) : TP_OK;
	if (k != P_INT) {
		rv = map_items(k, n, &items);
		t0 = bench_now();
	}
	if (rv == TP_OK)
		rv = tp_pool_map(pool, fns[k], items, (size_t)cs, &res);
	*dt = bench_now() - t0;
	if (rv == TP_OK && !map_check(k, n, res))
		rv = TP_EPROTO;
	tp_payload_free(items);
	tp_payload_free(res);
	return rv;
}

int bench_pool_map(int argc, char **argv)
{
	static const long def_n[] = {10000000, 1000000, 100000, 2000000,
	                             10000000};
	const char *pl = bench_opt_str(argc, argv, "payload", "int");
	long cs = bench_opt_long(argc, argv, "chunksize", 0);
	long procs = bench_opt_long(argc, argv, "procs", 2);
	const char *backend = bench_opt_str(argc, argv, "backend", "local");
	long task_us = bench_opt_long(argc, argv, "task-us", 0);
	int mpi = strcmp(backend, "mpi") == 0;
	tp_pool_opts po = {0};
	enum map_payload k = P_INT;
	tp_pool *pool;
	double dt = 0;
	int rv;
	while (k <= P_MAPINT && strcmp(pl, payload_names[k]) != 0)
		k++;
	long n = k > P_MAPINT ? 0
	                      : bench_opt_long(argc, argv, "n",
	                                       cs == 1 ? 100000 : def_n[k]);
	if (task_us > 0 && k == P_INT)
		n = bench_opt_long(argc, argv, "n", 20000);
	if (k > P_MAPINT || n < 1 || procs < 1 || cs < 0 || task_us < 0 ||
	    task_us > 0xfffff || (task_us > 0 && k != P_INT) ||
	    (!mpi && strcmp(backend, "local") != 0)) {
		fprintf(stderr, "pool_map: --payload int|str|bytes1k|double|"
		                "map_int, --n >= 1, --procs >= 1, "
		                "--chunksize >= 0, --backend local|mpi, "
		                "--task-us 0..1048575 (int items)\n");
		return 2;
	}
	/* mpi: every agent's workers (--procs each, set at tp_init) */
	po.processes = mpi ? 0 : (int)procs;
	po.backend = mpi ? TP_POOL_MPI : TP_POOL_LOCAL;
	if (tp_pool_new_opts(&pool, &po) != TP_OK)
		return 1;
	if (mpi)
		procs = tp_cluster_workers();
	warm_up(pool, (int)procs);
	rv = task_us > 0     ? map_spin(pool, n, task_us, cs, &dt)
	     : k == P_MAPINT ? map_int_api(pool, n, cs, &dt)
	                     : map_general(pool, k, n, cs, &dt);
	tp_pool_free(pool);
	if (rv != TP_OK) {
		fprintf(stderr, "pool_map: %s\n",
		        rv == TP_EPROTO ? "WRONG results" : tp_strerror(rv));
		return 1;
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	fprintf(stderr,
	        "n=%ld payload=%s chunksize=%s procs=%ld backend=%s "
	        "time=%.3fs parent_maxrss=%ldKiB\n",
	        n, pl, cs ? bench_opt_str(argc, argv, "chunksize", "") : "None",
	        procs, backend, dt, ru.ru_maxrss);
	char name[64] = "pool_map";
	if (cs != 0)
		snprintf(name, sizeof(name), "pool_map_chunksize%ld", cs);
	if (k == P_MAPINT)
		snprintf(name + strlen(name), sizeof(name) - strlen(name),
		         "_int_api");
	else if (k != P_INT)
		snprintf(name + strlen(name), sizeof(name) - strlen(name),
		         "_%s", pl);
	if (task_us > 0)
		snprintf(name + strlen(name), sizeof(name) - strlen(name),
		         "_task%ldus", task_us);
	if (mpi)
		snprintf(name + strlen(name), sizeof(name) - strlen(name),
		         "_mpi");
	printf("%s %.0f items/s\n", name, (double)n / dt);
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
