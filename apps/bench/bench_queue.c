/*
 * bench_queue.c - queue_throughput: one producer process puts N items into
 * a tp_queue, one consumer process gets them; the same workload as
 * shared/anchors/python/queue_throughput.py. Timed from just before the two
 * fork()s until the consumer is reaped. The consumer checks the count and
 * contents and exits non-zero on a mismatch.
 *
 * The children are plain fork()s: a shared-memory queue needs no nng, and
 * this process has not touched nng, so fork is allowed (and it is what the
 * Python anchor uses too).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "troupe/troupe.h"

static unsigned char payload_1k[1024];

static int produce(tp_queue *q, long n, int ints)
{
	for (long i = 0; i < n; i++) {
		int rv = ints ? tp_queue_put_int(q, i, -1)
		              : tp_queue_put_bytes(q, payload_1k, 1024, -1);
		if (rv != TP_OK) {
			fprintf(stderr, "put: %s\n", tp_strerror(rv));
			return 1;
		}
	}
	return 0;
}

static int consume(tp_queue *q, long n, int ints)
{
	long long sum = 0;
	long bad = 0;
	for (long i = 0; i < n; i++) {
		int64_t v;
		void *b;
		size_t len;
		int rv = ints ? tp_queue_get_int(q, &v, -1)
		              : tp_queue_get_bytes(q, &b, &len, -1);
		if (rv != TP_OK) {
			fprintf(stderr, "get: %s\n", tp_strerror(rv));
			return 1;
		}
		if (ints) {
			sum += v;
		} else {
			bad += len != 1024 || memcmp(b, payload_1k, 1024);
			free(b);
		}
	}
	if (ints)
		return sum == (long long)n * (n - 1) / 2 ? 0 : 1;
	return bad == 0 ? 0 : 1;
}

static pid_t child(int (*fn)(tp_queue *, long, int), tp_queue *q, long n,
                   int ints)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(fn(q, n, ints));
	return pid;
}

static int status_ok(int st)
{
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

int bench_queue(int argc, char **argv)
{
	const char *kind = bench_opt_str(argc, argv, "payload", "int");
	int ints = strcmp(kind, "int") == 0;
	long n = bench_opt_long(argc, argv, "n", ints ? 500000 : 300000);
	tp_queue *q;
	int st1, st2, rv;
	if (!ints && strcmp(kind, "bytes1k") != 0) {
		fprintf(stderr, "queue_throughput: --payload int|bytes1k\n");
		return 2;
	}
	for (int i = 0; i < 1024; i++)
		payload_1k[i] = (unsigned char)i;
	if ((rv = tp_queue_new(&q, NULL)) != TP_OK) {
		fprintf(stderr, "tp_queue_new: %s\n", tp_strerror(rv));
		return 1;
	}
	double t0 = bench_now();
	pid_t c = child(consume, q, n, ints);
	pid_t p = child(produce, q, n, ints);
	waitpid(c, &st1, 0);
	double dt = bench_now() - t0;
	waitpid(p, &st2, 0);
	tp_queue_free(q);
	if (c < 0 || p < 0 || !status_ok(st1) || !status_ok(st2)) {
		fprintf(stderr, "queue_throughput: a child failed\n");
		return 1;
	}
	fprintf(stderr, "n=%ld payload=%s time=%.3fs\n", n, kind, dt);
	printf("queue_throughput_%s %.0f items/s\n", kind, (double)n / dt);
	return 0;
}
