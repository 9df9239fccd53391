/*
 * bench_pipe.c - pipe_pingpong: round trips over a tp_pipe between this
 * process and a child, the workload of shared/anchors/python/
 * pipe_pingpong.py. Each round trip (send a small int payload, the child
 * sends it back) is timed on its own after a warm-up; the median is the
 * metric. --raw measures the same loop over bare nng pair1 sockets (an
 * 8-byte message, default socket options) as the floor to compare with.
 *
 * The child is a plain fork() made before this process touches nng.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>

#include "bench.h"
#include "troupe/troupe.h"

static int echo(tp_conn *c)
{
	for (;;) {
		tp_payload *p;
		tp_type t;
		int rv = tp_conn_recv(c, &p, -1);
		if (rv != TP_OK)
			return 1;
		if (tp_payload_type(p, 0, &t) != TP_OK || t == TP_TNONE) {
			tp_payload_free(p);
			return 0;
		}
		rv = tp_conn_send(c, p);
		tp_payload_free(p);
		if (rv != TP_OK)
			return 1;
	}
}

static int ping(tp_conn *c, long i)
{
	tp_payload *p, *r;
	int64_t v = -1;
	int rv;
	tp_payload_new(&p);
	tp_payload_add_int(p, i);
	rv = tp_conn_send(c, p);
	tp_payload_free(p);
	if (rv == TP_OK && (rv = tp_conn_recv(c, &r, -1)) == TP_OK) {
		tp_payload_get_int(r, 0, &v);
		tp_payload_free(r);
	}
	return rv == TP_OK && v == i ? 0 : 1;
}

static int raw_echo(const char *addr)
{
	nng_socket s;
	if (nng_pair1_open(&s) != 0 ||
	    nng_dial(s, addr, NULL, NNG_FLAG_NONBLOCK) != 0)
		return 1;
	for (;;) {
		nng_msg *m;
		if (nng_recvmsg(s, &m, 0) != 0)
			return 1;
		if (nng_msg_len(m) == 0) {
			nng_msg_free(m);
			nng_close(s);
			return 0;
		}
		if (nng_sendmsg(s, m, 0) != 0)
			return 1;
	}
}

static int raw_ping(nng_socket s, long i)
{
	nng_msg *m;
	int64_t v = i, back = -1;
	if (nng_msg_alloc(&m, 0) != 0 || nng_msg_append(m, &v, 8) != 0 ||
	    nng_sendmsg(s, m, 0) != 0 || nng_recvmsg(s, &m, 0) != 0)
		return 1;
	if (nng_msg_len(m) == 8)
		memcpy(&back, nng_msg_body(m), 8);
	nng_msg_free(m);
	return back == i ? 0 : 1;
}

struct pp {
	int raw;
	tp_conn *conn;
	nng_socket sock;
};

static int one(struct pp *x, long i)
{
	return x->raw ? raw_ping(x->sock, i) : ping(x->conn, i);
}

static int stop(struct pp *x)
{
	if (x->raw) {
		nng_msg *m;
		if (nng_msg_alloc(&m, 0) == 0 && nng_sendmsg(x->sock, m, 0))
			nng_msg_free(m);
		return TP_OK;
	}
	tp_payload *p;
	tp_payload_new(&p);
	tp_payload_add_none(p);
	int rv = tp_conn_send(x->conn, p);
	tp_payload_free(p);
	return rv;
}

static int setup(struct pp *x, pid_t *pid)
{
	char addr[128];
	tp_conn *b;
	if (x->raw) {
		tp_address("pingpong", addr, sizeof(addr));
		if ((*pid = fork()) == 0)
			_exit(raw_echo(addr));
		if (nng_pair1_open(&x->sock) != 0 ||
		    nng_listen(x->sock, addr, NULL, 0) != 0)
			return 1;
		return *pid < 0;
	}
	if (tp_pipe_new(&x->conn, &b, 1) != TP_OK)
		return 1;
	if ((*pid = fork()) == 0)
		_exit(echo(b));
	tp_conn_free(b); /* never opened here */
	return *pid < 0;
}

static void teardown(struct pp *x)
{
	if (x->raw)
		nng_close(x->sock);
	else
		tp_conn_free(x->conn);
}

/* Times n round trips into rtt[] (microseconds); returns nonzero on a
 * wrong echo. */
static int timed(struct pp *x, long from, long n, double *rtt)
{
	int bad = 0;
	for (long i = 0; i < n && !bad; i++) {
		double t0 = bench_now();
		bad |= one(x, from + i);
		rtt[i] = (bench_now() - t0) * 1e6;
	}
	return bad;
}

static int finish(struct pp *x, pid_t pid)
{
	int st;
	stop(x);
	waitpid(pid, &st, 0);
	teardown(x);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

static void report(const char *what, double *rtt, long n)
{
	double sum = 0;
	for (long i = 0; i < n; i++)
		sum += rtt[i];
	double med = bench_median(rtt, (size_t)n);
	fprintf(stderr, "%s n=%ld median=%.2fus p99=%.2fus mean=%.2fus\n", what,
	        n, med, rtt[(size_t)((double)n * 0.99)], sum / (double)n);
}

/* --compare: troupe pipe and bare pair1 measured in alternating blocks
 * of the same run, so machine load hits both alike. */
static int compare(long n, long warm)
{
	struct pp t = {0}, r = {.raw = 1};
	pid_t tp, rp;
	long blk = 1000, done = 0;
	double *a = calloc((size_t)n, sizeof(double));
	double *b = calloc((size_t)n, sizeof(double));
	int bad = a == NULL || b == NULL;
	if (bad || setup(&t, &tp) != 0 || setup(&r, &rp) != 0)
		return 1;
	for (long i = 0; i < warm; i++)
		bad |= one(&t, i) | one(&r, i);
	while (done < n && !bad) {
		long k = n - done < blk ? n - done : blk;
		bad |= timed(&t, done, k, a + done);
		bad |= timed(&r, done, k, b + done);
		done += k;
	}
	bad |= finish(&t, tp) | finish(&r, rp);
	if (!bad) {
		report("troupe", a, n);
		report("raw-nng-pair1", b, n);
		double ma = bench_median(a, (size_t)n);
		double mb = bench_median(b, (size_t)n);
		fprintf(stderr, "ratio troupe/raw = %.3f\n", ma / mb);
		printf("pipe_pingpong_rtt_median %.2f us\n", ma);
	}
	free(a);
	free(b);
	return bad;
}

int bench_pipe(int argc, char **argv)
{
	long n = bench_opt_long(argc, argv, "n", 50000);
	long warm = bench_opt_long(argc, argv, "warmup", 1000);
	struct pp x = {0};
	double *rtt;
	pid_t pid;
	for (int i = 1; i < argc; i++) {
		x.raw |= strcmp(argv[i], "--raw") == 0;
		if (strcmp(argv[i], "--compare") == 0)
			return n > 0 ? compare(n, warm) : 2;
	}
	rtt = calloc(n > 0 ? (size_t)n : 1, sizeof(double));
	if (rtt == NULL || n <= 0 || setup(&x, &pid) != 0) {
		fprintf(stderr, "pipe_pingpong: setup failed\n");
		return 1;
	}
	int bad = 0;
	for (long i = 0; i < warm; i++)
		bad |= one(&x, i);
	bad |= timed(&x, 0, n, rtt);
	bad |= finish(&x, pid);
	if (bad) {
		fprintf(stderr, "pipe_pingpong: echo failed\n");
		free(rtt);
		return 1;
	}
	report(x.raw ? "raw-nng-pair1" : "troupe", rtt, n);
	printf("pipe_pingpong_rtt_median %.2f us\n",
	       bench_median(rtt, (size_t)n));
	free(rtt);
	return 0;
}
