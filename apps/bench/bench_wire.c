/*
 * bench_wire.c - the wire format: build, encode and decode an envelope
 * carrying a small payload (an int and a short string), the cost every
 * troupe message pays. Metric: wire_roundtrip msgs/s.
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "troupe/troupe.h"
#include "wire.h"

int bench_wire(int argc, char **argv)
{
	long n = bench_opt_long(argc, argv, "n", 1000000);
	tp_payload *p;
	Troupe__Payload pb;
	unsigned char buf[256];
	long checksum = 0;
	if (n <= 0 || tp_payload_new(&p) != TP_OK)
		return 1;
	double t0 = bench_now();
	for (long i = 0; i < n; i++) {
		Troupe__Envelope env = TROUPE__ENVELOPE__INIT, *got;
		void *out;
		size_t len;
		int64_t v;
		tp_payload_clear(p);
		tp_payload_add_int(p, i);
		tp_payload_add_string(p, "Process-1");
		if (tp__payload_to_pb(p, &pb) != TP_OK)
			return 1;
		env.sender = "bench";
		env.correlation_id = (uint64_t)i;
		env.body_case = TROUPE__ENVELOPE__BODY_PAYLOAD;
		env.payload = &pb;
		if (tp__pack_into(&env.base, 0, buf, sizeof(buf), &out, &len) !=
		    TP_OK)
			return 1;
		tp__payload_pb_release(&pb);
		if (tp__envelope_unpack(out, len, 0, &got) != TP_OK)
			return 1;
		tp_payload *q;
		if (tp__payload_from_pb(got->payload, &q) != TP_OK ||
		    tp_payload_get_int(q, 0, &v) != TP_OK)
			return 1;
		checksum += v;
		tp_payload_free(q);
		tp__envelope_free(got);
	}
	double dt = bench_now() - t0;
	tp_payload_free(p);
	if (checksum != n * (n - 1) / 2) {
		fprintf(stderr, "wire: checksum mismatch\n");
		return 1;
	}
	fprintf(stderr, "wire: n=%ld time=%.3fs (%.0f ns per message)\n", n, dt,
	        dt / (double)n * 1e9);
	printf("wire_roundtrip %.0f msgs/s\n", (double)n / dt);
	return 0;
}
