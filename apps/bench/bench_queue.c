/*
 * bench_queue.c - queue_throughput: P producer processes put N items (in
 * all) into one tp_queue, C consumer processes get them; with P = C = 1
 * the same workload as shared/anchors/python/queue_throughput.py, with
 * more the one of scripts/queue_throughput_multi.py. Timed from just
 * before the fork()s until every consumer is reaped. After the producers
 * are done the parent puts one end marker per consumer (an int -1, or an
 * empty bytes). Each consumer adds up what it got in shared memory; the
 * parent checks that the count, the sum and the sum of squares of the
 * items are those put: no item lost or duplicated.
 *
 * The children are plain fork()s: a shared-memory queue needs no nng, and
 * this process has not touched nng, so fork is allowed (and it is what the
 * Python anchor uses too).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "troupe/troupe.h"

#define MAX_PROCS 64

static unsigned char payload_1k[1024];

struct tally {
	long count, bad;
	unsigned long long sum, sumsq;
};

static struct tally *tallies; /* one per consumer, shared */

/* Producer k of P puts items k, k + P, k + 2P, ... below n. */
static int produce(tp_queue *q, long n, int ints, long k, long procs)
{
	for (long i = k; i < n; i += procs) {
		int rv;
		if (ints) {
			rv = tp_queue_put_int(q, i, -1);
		} else {
			memcpy(payload_1k, &i, sizeof(i));
			rv = tp_queue_put_bytes(q, payload_1k, 1024, -1);
		}
		if (rv != TP_OK) {
			fprintf(stderr, "put: %s\n", tp_strerror(rv));
			return 1;
		}
	}
	return 0;
}

/* Gets one item: its number in *v, or -1 for an end marker. */
static int get_one(tp_queue *q, int ints, long *v, long *bad)
{
	int64_t x;
	void *b;
	size_t len;
	int rv = ints ? tp_queue_get_int(q, &x, -1)
	              : tp_queue_get_bytes(q, &b, &len, -1);
	if (rv != TP_OK) {
		fprintf(stderr, "get: %s\n", tp_strerror(rv));
		return rv;
	}
	if (ints) {
		*v = (long)x;
		return TP_OK;
	}
	*v = -1;
	if (len == 1024) {
		memcpy(v, b, sizeof(*v));
		*bad += memcmp((char *)b + 8, payload_1k + 8, 1016) != 0;
	} else if (len != 0) {
		(*bad)++;
	}
	free(b);
	return TP_OK;
}

static int consume(tp_queue *q, int ints, long k)
{
	struct tally t = {0};
	long v;
	for (;;) {
		if (get_one(q, ints, &v, &t.bad) != TP_OK)
			return 1;
		if (v < 0)
			break;
		t.count++;
		t.sum += (unsigned long long)v;
		t.sumsq += (unsigned long long)v * (unsigned long long)v;
	}
	tallies[k] = t;
	return 0;
}

static int status_ok(pid_t pid)
{
	int st;
	return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
	       WEXITSTATUS(st) == 0;
}

/* Count, sum and sum of squares of every consumer against 0..n-1. */
static int check(long n, long consumers)
{
	struct tally all = {0};
	unsigned long long sum = 0, sumsq = 0;
	for (long k = 0; k < consumers; k++) {
		all.count += tallies[k].count;
		all.bad += tallies[k].bad;
		all.sum += tallies[k].sum;
		all.sumsq += tallies[k].sumsq;
	}
	for (long i = 0; i < n; i++) {
		sum += (unsigned long long)i;
		sumsq += (unsigned long long)i * (unsigned long long)i;
	}
	if (all.count != n || all.bad != 0 || all.sum != sum ||
	    all.sumsq != sumsq) {
		fprintf(stderr,
		        "queue_throughput: %ld items received of %ld, %ld bad,"
		        " sums %s\n",
		        all.count, n, all.bad,
		        all.sum == sum && all.sumsq == sumsq ? "ok" : "differ");
		return 1;
	}
	return 0;
}

/* Puts one end marker per consumer. */
static int put_ends(tp_queue *q, int ints, long consumers)
{
	for (long k = 0; k < consumers; k++) {
		int rv = ints ? tp_queue_put_int(q, -1, -1)
		              : tp_queue_put_bytes(q, "", 0, -1);
		if (rv != TP_OK)
			return 1;
	}
	return 0;
}

static const char *const known[] = {"payload", "n", "producers", "consumers",
                                    NULL};

/* Refuses an option this workload does not know. */
static int check_opts(int argc, char **argv)
{
	for (int i = 1; i < argc; i += 2) {
		int ok = 0;
		for (int k = 0; known[k] != NULL && !ok; k++)
			ok = strncmp(argv[i], "--", 2) == 0 &&
			     strcmp(argv[i] + 2, known[k]) == 0 && i + 1 < argc;
		if (!ok) {
			fprintf(
			    stderr,
			    "queue_throughput: unknown option '%s' (--payload "
			    "int|bytes1k, --n N, --producers P, "
			    "--consumers C)\n",
			    argv[i]);
			return 0;
		}
	}
	return 1;
}

int bench_queue(int argc, char **argv)
{
	const char *kind = bench_opt_str(argc, argv, "payload", "int");
	int ints = strcmp(kind, "int") == 0;
	long n = bench_opt_long(argc, argv, "n", ints ? 500000 : 300000);
	long np = bench_opt_long(argc, argv, "producers", 1);
	long nc = bench_opt_long(argc, argv, "consumers", 1);
	pid_t prod[MAX_PROCS], cons[MAX_PROCS];
	tp_queue *q;
	int rv, failed = 0;
	if (!check_opts(argc, argv))
		return 2;
	if ((!ints && strcmp(kind, "bytes1k") != 0) || n < 0 || np < 1 ||
	    np > MAX_PROCS || nc < 1 || nc > MAX_PROCS) {
		fprintf(stderr, "queue_throughput: --payload int|bytes1k, "
		                "--producers and --consumers 1..64\n");
		return 2;
	}
	for (int i = 0; i < 1024; i++)
		payload_1k[i] = (unsigned char)i;
	tallies =
	    mmap(NULL, sizeof(*tallies) * MAX_PROCS, PROT_READ | PROT_WRITE,
	         MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (tallies == MAP_FAILED)
		return 1;
	if ((rv = tp_queue_new(&q, NULL)) != TP_OK) {
		fprintf(stderr, "tp_queue_new: %s\n", tp_strerror(rv));
		return 1;
	}
	double t0 = bench_now();
	for (long k = 0; k < nc; k++)
		if ((cons[k] = fork()) == 0)
			_exit(consume(q, ints, k));
	for (long k = 0; k < np; k++)
		if ((prod[k] = fork()) == 0)
			_exit(produce(q, n, ints, k, np));
	for (long k = 0; k < np; k++)
		failed |= !status_ok(prod[k]);
	failed |= put_ends(q, ints, nc);
	for (long k = 0; k < nc; k++)
		failed |= !status_ok(cons[k]);
	double dt = bench_now() - t0;
	tp_queue_free(q);
	if (failed || check(n, nc)) {
		fprintf(stderr, "queue_throughput: a child failed\n");
		return 1;
	}
	munmap(tallies, sizeof(*tallies) * MAX_PROCS);
	fprintf(stderr,
	        "n=%ld payload=%s producers=%ld consumers=%ld time=%.3fs\n", n,
	        kind, np, nc, dt);
	if (np == 1 && nc == 1)
		printf("queue_throughput_%s %.0f items/s\n", kind,
		       (double)n / dt);
	else
		printf("queue_throughput_%ldx%ld_%s %.0f items/s\n", np, nc,
		       kind, (double)n / dt);
	return 0;
}
