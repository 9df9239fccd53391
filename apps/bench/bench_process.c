/*
 * bench_process.c - process workloads.
 *  process_spawn: start+join of a noop target, timed one by one after a
 *    warm-up, as shared/anchors/python/process_spawn.py. Metric:
 *    process_spawn_<method> <mean> ms (median, p99 on stderr).
 *  worker_rss: VmRSS of idle children (started, then waiting), as
 *    shared/anchors/python/worker_rss.py measures its pool workers. Metric:
 *    worker_rss_<method> <median> KiB.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "troupe/troupe.h"

static int noop(const tp_payload *args, tp_payload *res)
{
	(void)args;
	(void)res;
	return 0;
}
TP_TARGET(noop);

static int idle(const tp_payload *args, tp_payload *res)
{
	(void)args;
	(void)res;
	for (;;)
		pause();
	return 0;
}
TP_TARGET(idle);

static int parse_method(const char *s, tp_start_method *m)
{
	if (strcmp(s, "forkserver") == 0)
		*m = TP_START_FORKSERVER;
	else if (strcmp(s, "spawn") == 0)
		*m = TP_START_SPAWN;
	else if (strcmp(s, "fork") == 0)
		*m = TP_START_FORK;
	else
		return -1;
	return 0;
}

int bench_process_spawn(int argc, char **argv)
{
	const char *ms = bench_opt_str(argc, argv, "method", "forkserver");
	tp_process_opts o = {0};
	if (parse_method(ms, &o.method) != 0) {
		fprintf(stderr, "process_spawn: bad --method %s\n", ms);
		return 2;
	}
	long def = o.method == TP_START_FORK    ? 1000
	           : o.method == TP_START_SPAWN ? 200
	                                        : 1000;
	long n = bench_opt_long(argc, argv, "n", def);
	long warm = bench_opt_long(argc, argv, "warmup", 3);
	if (n <= 0 || warm < 0)
		return 2;
	double *t = calloc((size_t)n, sizeof(double)), sum = 0;
	for (long i = 0; i < warm + n; i++) {
		tp_process *p;
		int code = -1, rv;
		double t0 = bench_now();
		if ((rv = tp_process_new(&p, noop, NULL, &o)) != TP_OK ||
		    (rv = tp_process_start(p)) != TP_OK ||
		    (rv = tp_process_join(p, -1)) != TP_OK ||
		    (rv = tp_process_exitcode(p, &code)) != TP_OK ||
		    code != 0) {
			fprintf(stderr, "process_spawn: %s (exit %d)\n",
			        tp_strerror(rv), code);
			return 1;
		}
		double dt = (bench_now() - t0) * 1e3;
		tp_process_free(p);
		if (i >= warm) {
			t[i - warm] = dt;
			sum += dt;
		}
	}
	double mean = sum / (double)n;
	double med = bench_median(t, (size_t)n); /* sorts t */
	long i99 = (long)((double)n * 0.99);
	if (i99 > n - 1)
		i99 = n - 1;
	fprintf(stderr,
	        "method=%s n=%ld mean=%.3fms median=%.3fms p99=%.3fms\n", ms, n,
	        mean, med, t[i99]);
	free(t);
	printf("process_spawn_%s %.3f ms\n", ms, mean);
	return 0;
}

static long proc_kib(pid_t pid, const char *file, const char *key)
{
	char path[64], line[256];
	long v = -1;
	size_t kl = strlen(key);
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, kl) == 0 && line[kl] == ':')
			v = strtol(line + kl + 1, NULL, 10);
	fclose(f);
	return v;
}

int bench_worker_rss(int argc, char **argv)
{
	const char *ms = bench_opt_str(argc, argv, "method", "fork");
	long np = bench_opt_long(argc, argv, "procs", 4);
	tp_process_opts o = {0};
	tp_process *ps[64];
	double rss[64];
	if (parse_method(ms, &o.method) != 0 || np <= 0 || np > 64) {
		fprintf(stderr, "worker_rss: bad --method or --procs\n");
		return 2;
	}
	for (long i = 0; i < np; i++) {
		int rv;
		if ((rv = tp_process_new(&ps[i], idle, NULL, &o)) != TP_OK ||
		    (rv = tp_process_start(ps[i])) != TP_OK) {
			fprintf(stderr, "worker_rss: %s\n", tp_strerror(rv));
			return 1;
		}
	}
	for (long i = 0; i < np; i++) {
		pid_t pid = tp_process_pid(ps[i]);
		rss[i] = (double)proc_kib(pid, "status", "VmRSS");
		fprintf(stderr,
		        "worker pid=%d VmRSS=%.0f RssAnon=%ld RssFile=%ld "
		        "Pss=%ld KiB\n",
		        (int)pid, rss[i], proc_kib(pid, "status", "RssAnon"),
		        proc_kib(pid, "status", "RssFile"),
		        proc_kib(pid, "smaps_rollup", "Pss"));
	}
	fprintf(stderr, "parent VmRSS=%ld KiB\n",
	        proc_kib(getpid(), "status", "VmRSS"));
	for (long i = 0; i < np; i++) {
		tp_process_terminate(ps[i]);
		tp_process_join(ps[i], -1);
		tp_process_free(ps[i]);
	}
	printf("worker_rss_%s %.0f KiB\n", ms, bench_median(rss, (size_t)np));
	return 0;
}
