/*
 * bench_pipe.c - pipe_pingpong: round trips over a tp_pipe between this
 * process and a child, the workload of shared/anchors/python/
 * pipe_pingpong.py. Each round trip (send a small int payload, the child
 * sends it back) is timed on its own after a warm-up; the median is the
 * metric. --raw measures the same loop over the transport a pipe uses,
 * a bare AF_UNIX SOCK_SEQPACKET socketpair (an 8-byte message, one send
 * and one blocking recv per direction), as the floor to compare with.
 * --bytes uses tp_conn_send_bytes / tp_conn_recv_bytes of 8 bytes instead
 * of payloads: the pipe's own cost over the socket, without encoding.
 * --same-cpu pins this process (and so both children) to the CPU it runs
 * on: with --compare, the troupe pipe and the bare socket are then measured
 * under the same placement. Unpinned, each child lands on this process's
 * CPU or the other one for the whole run, and on this 2-vCPU VM a round
 * trip across CPUs costs about three times one on a CPU (a cross-CPU
 * wake-up), which swamps the difference being measured.
 * Options other than --n, --warmup, --raw, --bytes, --compare and
 * --same-cpu are refused.
 *
 * The child is a plain fork(), as in the Python anchor (fork context).
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sys/socket.h>

#include "bench.h"
#include "troupe/troupe.h"

/* --bytes: 8-byte send_bytes / recv_bytes messages (the transport and
 * framing without payload encoding); an empty message stops the echo. */
static int echo_bytes(tp_conn *c)
{
	for (;;) {
		int64_t v;
		size_t n;
		if (tp_conn_recv_bytes(c, &v, sizeof(v), &n, -1) != TP_OK)
			return 1;
		if (n == 0)
			return 0;
		if (tp_conn_send_bytes(c, &v, n) != TP_OK)
			return 1;
	}
}

static int ping_bytes(tp_conn *c, long i)
{
	int64_t v = i, back = -1;
	size_t n;
	if (tp_conn_send_bytes(c, &v, sizeof(v)) != TP_OK ||
	    tp_conn_recv_bytes(c, &back, sizeof(back), &n, -1) != TP_OK)
		return 1;
	return n == sizeof(back) && back == i ? 0 : 1;
}

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

static int raw_echo(int fd)
{
	int64_t v;
	for (;;) {
		ssize_t n = recv(fd, &v, sizeof(v), 0);
		if (n == 0)
			return 0;
		if (n != sizeof(v) ||
		    send(fd, &v, sizeof(v), MSG_NOSIGNAL) != n)
			return 1;
	}
}

static int raw_ping(int fd, long i)
{
	int64_t v = i, back = -1;
	if (send(fd, &v, sizeof(v), MSG_NOSIGNAL) != sizeof(v) ||
	    recv(fd, &back, sizeof(back), 0) != sizeof(back))
		return 1;
	return back == i ? 0 : 1;
}

struct pp {
	int raw;
	int bytes;
	tp_conn *conn;
	int fd; /* raw: this process's socket */
};

static int one(struct pp *x, long i)
{
	if (x->raw)
		return raw_ping(x->fd, i);
	return x->bytes ? ping_bytes(x->conn, i) : ping(x->conn, i);
}

static int stop(struct pp *x)
{
	if (x->raw) {
		shutdown(x->fd, SHUT_WR); /* the echo child reads end of file */
		return TP_OK;
	}
	if (x->bytes)
		return tp_conn_send_bytes(x->conn, "", 0);
	tp_payload *p;
	tp_payload_new(&p);
	tp_payload_add_none(p);
	int rv = tp_conn_send(x->conn, p);
	tp_payload_free(p);
	return rv;
}

static int setup(struct pp *x, pid_t *pid)
{
	tp_conn *b;
	int sv[2];
	if (x->raw) {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
			return 1;
		if ((*pid = fork()) == 0) {
			close(sv[0]);
			_exit(raw_echo(sv[1]));
		}
		close(sv[1]);
		x->fd = sv[0];
		return *pid < 0;
	}
	if (tp_pipe_new(&x->conn, &b, 1) != TP_OK)
		return 1;
	if ((*pid = fork()) == 0) {
		tp_conn_free(x->conn); /* the child keeps only its end */
		_exit(x->bytes ? echo_bytes(b) : echo(b));
	}
	tp_conn_free(b);
	return *pid < 0;
}

static void teardown(struct pp *x)
{
	if (x->raw)
		close(x->fd);
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

/* --compare: troupe pipe and a bare socketpair measured in alternating blocks
 * of the same run, so machine load hits both alike. */
static int compare(long n, long warm, int bytes)
{
	struct pp t = {.bytes = bytes}, r = {.raw = 1};
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
		report(t.bytes ? "troupe-bytes" : "troupe", a, n);
		report("raw-socketpair", b, n);
		double ma = bench_median(a, (size_t)n);
		double mb = bench_median(b, (size_t)n);
		fprintf(stderr, "ratio troupe/raw = %.3f\n", ma / mb);
		printf("pipe_pingpong_rtt_median %.2f us\n", ma);
		printf("pipe_pingpong_over_raw %.3f x\n", ma / mb);
	}
	free(a);
	free(b);
	return bad;
}

/* --same-cpu: this process and the children it forks run on this CPU. */
static void pin_here(void)
{
	cpu_set_t set;
	int cpu = sched_getcpu();
	CPU_ZERO(&set);
	CPU_SET(cpu < 0 ? 0 : cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0)
		perror("pipe_pingpong: sched_setaffinity");
}

int bench_pipe(int argc, char **argv)
{
	long n = bench_opt_long(argc, argv, "n", 50000);
	long warm = bench_opt_long(argc, argv, "warmup", 1000);
	struct pp x = {0};
	double *rtt;
	pid_t pid;
	int cmp = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--n") == 0 ||
		    strcmp(argv[i], "--warmup") == 0)
			i++;
		else if (strcmp(argv[i], "--raw") == 0)
			x.raw = 1;
		else if (strcmp(argv[i], "--compare") == 0)
			cmp = 1;
		else if (strcmp(argv[i], "--bytes") == 0)
			x.bytes = 1;
		else if (strcmp(argv[i], "--same-cpu") == 0)
			pin_here();
		else {
			fprintf(stderr, "pipe_pingpong: unknown option '%s'\n",
			        argv[i]);
			return 2;
		}
	}
	if (cmp)
		return n > 0 ? compare(n, warm, x.bytes) : 2;
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
	report(x.raw ? "raw-socketpair" : "troupe", rtt, n);
	printf("pipe_pingpong_rtt_median %.2f us\n",
	       bench_median(rtt, (size_t)n));
	free(rtt);
	return 0;
}
