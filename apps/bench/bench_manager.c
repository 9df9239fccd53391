/*
 * bench_manager.c - manager_dict: set+get pairs on a manager dict from a
 * child process, as shared/anchors/python/manager_dict.py (one op = one
 * set plus one get: d[i % 1024] = i; d[i % 1024] == i). Timed in the
 * parent from the child's start to its join. Metric: manager_dict <v>
 * ops/s. With --raw, the same run also measures plain nng req/rep round
 * trips (ipc, small messages, from a child to an echo server) so the
 * cost of one manager op can be compared with two raw round trips.
 */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "runtime_int.h"
#include "troupe/troupe.h"

static int dict_client(const tp_payload *args, tp_payload *res)
{
	tp_proxy *d;
	int64_t n = 0;
	tp_payload *out;
	(void)res;
	tp_payload_get_int(args, 1, &n);
	if (tp_payload_get_proxy(args, 0, NULL, 0, &d) != TP_OK ||
	    tp_payload_new(&out) != TP_OK)
		return 2;
	for (int64_t i = 0; i < n; i++) {
		int64_t got = -1;
		int rv;
		tp_payload_clear(out);
		if ((rv = tp_dict_set(d, tp_int(i % 1024), tp_int(i))) !=
		        TP_OK ||
		    (rv = tp_dict_get(d, tp_int(i % 1024), out)) != TP_OK ||
		    (rv = tp_payload_get_int(out, 0, &got)) != TP_OK ||
		    got != i) {
			fprintf(stderr, "dict_client: op %lld: %s (got %lld)\n",
			        (long long)i, tp_strerror(rv), (long long)got);
			return 1;
		}
	}
	tp_payload_free(out);
	tp_proxy_free(d);
	return 0;
}
TP_TARGET(dict_client);

/* The raw side: an echo server and a client timing round trips. */
static int echo_server(const tp_payload *args, tp_payload *res)
{
	const char *addr;
	nng_socket s;
	nng_msg *m;
	(void)res;
	tp_payload_get_string(args, 0, &addr);
	tp__nng_used();
	if (nng_rep0_open(&s) != 0 || nng_listen(s, addr, NULL, 0) != 0)
		return 1;
	while (nng_recvmsg(s, &m, 0) == 0) {
		int stop = nng_msg_len(m) == 1;
		if (nng_sendmsg(s, m, 0) != 0)
			nng_msg_free(m);
		if (stop)
			break;
	}
	nng_msleep(20);
	nng_close(s);
	return 0;
}
TP_TARGET(echo_server);

static double raw_roundtrip_us(long n)
{
	char addr[256];
	tp_payload *args;
	tp_process *p;
	nng_socket s;
	char buf[48] = {0};
	double dt = -1;
	if (tp_address("bench", addr, sizeof(addr)) != TP_OK ||
	    tp_payload_new(&args) != TP_OK)
		return -1;
	tp_payload_add_string(args, addr);
	tp_process_new(&p, echo_server, args, NULL);
	tp_process_start(p);
	tp__nng_used();
	nng_req0_open(&s);
	while (nng_dial(s, addr, NULL, 0) != 0)
		nng_msleep(1);
	for (int warm = 1; warm >= 0; warm--) {
		long k = warm ? n / 10 : n;
		double t0 = bench_now();
		for (long i = 0; i < k; i++) {
			size_t len = sizeof(buf);
			if (nng_send(s, buf, sizeof(buf), 0) != 0 ||
			    nng_recv(s, buf, &len, 0) != 0)
				return -1;
		}
		dt = (bench_now() - t0) / (double)k * 1e6;
	}
	size_t len = sizeof(buf);
	nng_send(s, buf, 1, 0); /* stop */
	nng_recv(s, buf, &len, 0);
	nng_close(s);
	tp_process_join(p, -1);
	tp_process_free(p);
	tp_payload_free(args);
	return dt;
}

int bench_manager_dict(int argc, char **argv)
{
	long n = bench_opt_long(argc, argv, "n", 20000);
	int raw = 0;
	tp_manager *m;
	tp_proxy *d;
	tp_payload *args;
	tp_process *p;
	int code = -1;
	for (int i = 1; i < argc; i++)
		raw |= strcmp(argv[i], "--raw") == 0;
	if (tp_manager_start(&m, NULL) != TP_OK ||
	    tp_manager_dict(m, &d) != TP_OK || tp_payload_new(&args) != TP_OK)
		return 1;
	tp_payload_add_proxy(args, d);
	tp_payload_add_int(args, n);
	tp_process_new(&p, dict_client, args, NULL);
	double t0 = bench_now();
	tp_process_start(p);
	tp_process_join(p, -1);
	double dt = bench_now() - t0;
	tp_process_exitcode(p, &code);
	int64_t len = 0;
	tp_dict_len(d, &len);
	if (code != 0 || len != (n < 1024 ? n : 1024)) {
		fprintf(stderr, "manager_dict: child failed (%d)\n", code);
		return 1;
	}
	fprintf(stderr, "n=%ld time=%.3fs (%.0f proxy calls/s, %.1f us/op)\n",
	        n, dt, 2 * n / dt, dt / (double)n * 1e6);
	if (raw) {
		double rt = raw_roundtrip_us(n);
		fprintf(stderr,
		        "raw nng req/rep ipc round trip: %.1f us; two: %.1f us "
		        "(%.0f pairs/s)\n",
		        rt, 2 * rt, 1e6 / (2 * rt));
	}
	tp_process_free(p);
	tp_payload_free(args);
	tp_proxy_free(d);
	tp_manager_shutdown(m);
	printf("manager_dict %.0f ops/s\n", n / dt);
	return 0;
}
