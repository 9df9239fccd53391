/*
 * troupe-bench - troupe's benchmark program. `troupe-bench WORKLOAD [opts]`
 * runs one workload; scripts/bench-vs-python.sh runs them side by side with
 * the Python anchors in shared/anchors/python/.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "troupe/troupe.h"

static const struct bench_workload workloads[] = {
    {"wire", "envelope encode+decode of a small payload (--n N)", "n#",
     bench_wire},
    {"process_spawn",
     "start+join of a noop target (--method forkserver|spawn|fork, --n N)",
     "method n# warmup#", bench_process_spawn},
    {"worker_rss", "VmRSS of idle children (--method M, --procs P)",
     "method procs#", bench_worker_rss},
    {"manager_dict",
     "set+get pairs on a manager dict from a child (--n N, --raw)", "n# raw!",
     bench_manager_dict},
    {"value_lock",
     "2 processes increment a Value under its lock (--k N --procs P "
     "--reps R --raw 1 --access get|ptr)",
     "k# procs# reps# raw# access", bench_value_lock},
    {"sync_create", "create+free a shared Lock / Value (--n N)", "n#",
     bench_sync_create},
    {"queue_throughput",
     "P producers, C consumers (--payload int|bytes1k, --n N, "
     "--producers P, --consumers C)",
     "payload n# producers# consumers#", bench_queue},
    {"pipe_pingpong",
     "median pipe round trip (--n N, --warmup W, --raw, --bytes, --compare, "
     "--same-cpu)",
     "n# warmup# raw! bytes! compare! same-cpu!", bench_pipe},
    {"pool_map",
     "Pool(P).map(f, N items) items/s through tp_pool_map (--payload "
     "int|str|bytes1k|double, --n, --procs, --chunksize; --payload "
     "map_int: tp_pool_map_int)",
     "payload n# procs# chunksize# backend task-us#", bench_pool_map},
    {"pool_apply_async", "N x apply_async(square) then get (--n --procs)",
     "n# procs#", bench_pool_apply_async},
    {"pool_killed_worker",
     "SIGKILL a worker under 4 x 1 s tasks: lost results (--tasks "
     "--task-s --kill-after --timeout)",
     "tasks# task-s kill-after timeout", bench_pool_killed_worker},
    {"supervisor_restart",
     "kill -9 of a permanent child to its replacement ready (--n N)", "n#",
     bench_supervisor_restart},
    {"log_throughput",
     "records/s from 2 processes into one file through the logging "
     "actor (--n N per process, --procs P, --block MS, --file PATH)",
     "n# procs# block# file", bench_log},
};

#define N_WORKLOADS (sizeof(workloads) / sizeof(workloads[0]))

double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *bench_opt_str(int argc, char **argv, const char *name,
                          const char *def)
{
	for (int i = 0; i + 1 < argc; i++)
		if (strncmp(argv[i], "--", 2) == 0 &&
		    strcmp(argv[i] + 2, name) == 0)
			return argv[i + 1];
	return def;
}

long bench_opt_long(int argc, char **argv, const char *name, long def)
{
	const char *v = bench_opt_str(argc, argv, name, NULL);
	return v == NULL ? def : strtol(v, NULL, 10);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

double bench_median(double *xs, size_t n)
{
	if (n == 0)
		return 0;
	qsort(xs, n, sizeof(*xs), cmp_double);
	return n % 2 ? xs[n / 2] : (xs[n / 2 - 1] + xs[n / 2]) / 2;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: troupe-bench WORKLOAD [--OPTION VALUE ...]\n"
	             "workloads:\n");
	for (size_t i = 0; i < N_WORKLOADS; i++)
		fprintf(out, "  %-24s %s\n", workloads[i].name,
		        workloads[i].help);
}

/*
 * Finds "NAME" in the workload's option list (space-separated names, "#"
 * after a name: an integer value, "!": a flag without a value, nothing: a
 * string value). Returns the suffix character, or -1 when unknown.
 */
static int opt_kind(const char *opts, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = opts; *p != '\0';) {
		size_t k = strcspn(p, " ");
		size_t base =
		    k > 0 && (p[k - 1] == '#' || p[k - 1] == '!') ? k - 1 : k;
		if (base == n && strncmp(p, name, n) == 0)
			return base < k ? p[base] : 0;
		p += k;
		p += *p == ' ';
	}
	return -1;
}

/* Refuses any option the workload does not take, or a bad value. */
static int check_opts(const struct bench_workload *w, int argc, char **argv)
{
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		int kind =
		    strncmp(a, "--", 2) == 0 ? opt_kind(w->opts, a + 2) : -1;
		char *end;
		if (kind < 0) {
			fprintf(stderr,
			        "troupe-bench %s: unknown option '%s' "
			        "(options: %s)\n",
			        w->name, a, w->opts);
			return 2;
		}
		if (kind == '!')
			continue;
		if (i + 1 >= argc) {
			fprintf(stderr, "troupe-bench %s: %s needs a value\n",
			        w->name, a);
			return 2;
		}
		a = argv[++i];
		if (kind == '#' &&
		    (strtol(a, &end, 10), *a == '\0' || *end != '\0')) {
			fprintf(stderr,
			        "troupe-bench %s: %s takes an integer, not "
			        "'%s'\n",
			        w->name, argv[i - 1], a);
			return 2;
		}
	}
	return 0;
}

/* --backend mpi (pool_map under mpirun, docs/cluster.md): tp_init sets
 * MPI up; ranks but 0 become node agents of --procs workers each and never
 * return from it. */
static void init_opts(int argc, char **argv, tp_init_opts *o)
{
	const char *b = bench_opt_str(argc, argv, "backend", "local");
	if (argc > 1 && strcmp(argv[1], "pool_map") == 0 &&
	    strcmp(b, "mpi") == 0) {
		o->mpi = 1;
		o->mpi_workers = (int)bench_opt_long(argc, argv, "procs", 2);
	}
}

int main(int argc, char **argv)
{
	tp_init_opts io = {0};
	init_opts(argc, argv, &io);
	int rv = tp_init(&io); /* in a spawned child: runs it, never returns */
	if (rv != TP_OK) {
		fprintf(stderr, "troupe-bench: tp_init: %s\n", tp_strerror(rv));
		return 1;
	}
	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		tp_fini();
		return argc < 2 ? 2 : 0;
	}
	for (size_t i = 0; i < N_WORKLOADS; i++) {
		if (strcmp(argv[1], workloads[i].name) == 0) {
			rv = check_opts(&workloads[i], argc, argv);
			if (rv == 0)
				rv = workloads[i].run(argc - 1, argv + 1);
			tp_fini();
			return rv;
		}
	}
	fprintf(stderr, "troupe-bench: unknown workload '%s'\n", argv[1]);
	usage(stderr);
	tp_fini();
	return 2;
}
