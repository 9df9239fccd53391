/*
 * bench_log.c - log_throughput: records per second from 2 processes into
 * one file through the logging actor (a thread of this process), and what
 * one record call costs a worker. Each worker logs --n records of a short
 * formatted message as fast as it can. The workers outpace one writer, so
 * they run with back-pressure (--block MS, default 1000: a call that finds
 * its 4 MiB buffer full waits for room; --block 0 drops instead). The rate
 * is the records written to the file divided by the time from the
 * workers' start to the last record written. The per-call cost is a
 * worker's time minus its back-pressure waits, per call. Metric:
 * log_throughput <records/s> records/s; per-call cost and drops on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "troupe/troupe.h"

static int log_worker(const tp_payload *args, tp_payload *res)
{
	int64_t n = 0;
	tp_log_stats st;
	tp_payload_get_int(args, 0, &n);
	double t0 = bench_now();
	for (int64_t i = 0; i < n; i++)
		tp_log_info("worker record %lld value %d", (long long)i, 42);
	double dt = bench_now() - t0;
	tp_log_stats_get(&st);
	/* the cost to the worker: its time minus the time it waited for
	 * the actor (back-pressure), per call */
	double busy = dt - (double)st.waited_us / 1e6;
	tp_payload_add_double(res, busy / (double)n * 1e9);
	tp_payload_add_double(res, dt / (double)n * 1e9);
	tp_log_flush(30000);
	tp_log_stats_get(&st);
	tp_payload_add_int(res, (int64_t)st.dropped);
	return 0;
}
TP_TARGET(log_worker);

static int start_workers(tp_process **ps, int procs, long n)
{
	tp_payload *args;
	if (tp_payload_new(&args) != TP_OK || tp_payload_add_int(args, n))
		return 1;
	for (int i = 0; i < procs; i++) {
		tp_process_opts o = {0};
		char name[32];
		snprintf(name, sizeof(name), "worker-%d", i);
		o.name = name;
		if (tp_process_new(&ps[i], log_worker, args, &o) != TP_OK ||
		    tp_process_start(ps[i]) != TP_OK)
			return 1;
	}
	tp_payload_free(args);
	return 0;
}

static int wait_written(tp_log_actor *a, uint64_t want, double limit_s)
{
	tp_log_actor_stats st;
	double end = bench_now() + limit_s;
	struct timespec ts = {0, 200000};
	for (;;) {
		tp_log_actor_stats_get(a, &st);
		if (st.records + st.lost >= want)
			return 0;
		if (bench_now() > end)
			return 1;
		nanosleep(&ts, NULL);
	}
}

int bench_log(int argc, char **argv)
{
	long n = bench_opt_long(argc, argv, "n", 1000000);
	int procs = (int)bench_opt_long(argc, argv, "procs", 2);
	long block = bench_opt_long(argc, argv, "block", 1000);
	const char *file =
	    bench_opt_str(argc, argv, "file", "/tmp/troupe-bench-log.log");
	tp_log_config *c;
	tp_log_actor *a;
	tp_process *ps[16];
	tp_log_actor_stats st;
	if (n <= 0 || procs < 1 || procs > 16 || block < 0 || block > 60000)
		return 1;
	if (tp_log_config_new(&c, "bench") != TP_OK ||
	    tp_log_config_set_console(c, 0, TP_LOG_COLOUR_NEVER) ||
	    tp_log_config_set_file(c, file, 0, 0) ||
	    tp_log_config_set_delete_existing(c, 1) ||
	    tp_log_config_set_buffer(c, 4 << 20) ||
	    tp_log_config_set_block(c, (unsigned)block) ||
	    tp_log_actor_start(c, &a) != TP_OK)
		return 1;
	double t0 = bench_now();
	if (start_workers(ps, procs, n) != 0)
		return 1;
	uint64_t want = (uint64_t)procs * (uint64_t)n;
	int late = wait_written(a, want, 120);
	double dt = bench_now() - t0;
	tp_log_actor_stats_get(a, &st);
	for (int i = 0; i < procs; i++) {
		tp_payload *res = NULL;
		double ns = 0, wall = 0;
		int64_t dropped = 0;
		tp_process_join(ps[i], -1);
		if (tp_process_result(ps[i], &res, 0) == TP_OK) {
			tp_payload_get_double(res, 0, &ns);
			tp_payload_get_double(res, 1, &wall);
			tp_payload_get_int(res, 2, &dropped);
		}
		fprintf(stderr,
		        "log_throughput: %s: %.0f ns per record call (%.0f ns "
		        "with back-pressure waits), %lld dropped\n",
		        tp_process_name(ps[i]), ns, wall, (long long)dropped);
		tp_payload_free(res);
		tp_process_free(ps[i]);
	}
	fprintf(stderr,
	        "log_throughput: procs=%d n=%ld written=%llu lost=%llu "
	        "time=%.3fs%s file=%s\n",
	        procs, n, (unsigned long long)st.records,
	        (unsigned long long)st.lost, dt, late ? " (timed out)" : "",
	        file);
	tp_log_actor_free(a);
	tp_log_config_free(c);
	unlink(file);
	printf("log_throughput %.0f records/s\n", (double)st.records / dt);
	return late;
}
