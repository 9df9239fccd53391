/*
 * bench.h - troupe-bench workloads. Each workload parses its own options,
 * prints progress on stderr and, as its last stdout line, one
 * "METRIC value unit" line named as in shared/anchors/python/.
 */
#ifndef TP_BENCH_H
#define TP_BENCH_H

#include <stddef.h>

struct bench_workload {
	const char *name;
	const char *help;
	/* Options it takes: "name# flag! str" (main.c refuses the rest). */
	const char *opts;
	int (*run)(int argc, char **argv);
};

/* Monotonic time in seconds. */
double bench_now(void);

/* Returns the value of "--NAME V" in argv as a long, or def. */
long bench_opt_long(int argc, char **argv, const char *name, long def);

/* Returns the value of "--NAME V" in argv, or def. */
const char *bench_opt_str(int argc, char **argv, const char *name,
                          const char *def);

/* Sorts xs and returns the median. */
double bench_median(double *xs, size_t n);

/* Every workload, defined in its own bench_*.c file. */
int bench_wire(int argc, char **argv);
int bench_pool_map(int argc, char **argv);
int bench_pool_apply_async(int argc, char **argv);
int bench_pool_killed_worker(int argc, char **argv);
int bench_value_lock(int argc, char **argv);
int bench_sync_create(int argc, char **argv);
int bench_queue(int argc, char **argv);
int bench_pipe(int argc, char **argv);
int bench_supervisor_restart(int argc, char **argv);
int bench_process_spawn(int argc, char **argv);
int bench_worker_rss(int argc, char **argv);
int bench_manager_dict(int argc, char **argv);
int bench_log(int argc, char **argv);

#endif
