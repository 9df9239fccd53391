/* test_manager_relay.c - a relay on the path between a client and a tcp://
 * manager (an in-test TCP proxy on 127.0.0.1 ephemeral ports) reads,
 * replays, reorders, tampers with and injects frames: it can read (tcp://
 * is not confidential, as documented), every other attempt fails — the
 * server drops the connection (the client sees TP_EDIED) or the client
 * rejects the reply (TP_EAUTH) — nothing forged runs, and the manager
 * keeps serving honest clients. */
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mgr_int.h"
#include "mgr_util.h"
#include "testutil.h"
#include "tls_util.h"
#include "wire.h"

static const char KEY[] = "relay key";
static const char SECRET[] = "the relay reads this";

enum {
	PASS,     /* forward (and record) */
	REPLAY_C, /* after client frame `at`, send client frame at-1 again */
	TAMPER_C, /* flip a byte of client frame `at` */
	INJECT_C, /* before client frame `at`, an unsealed frame of its own */
	SPLICE_C, /* after client frame `at`, one from an earlier connection */
	SWAP_C,   /* client frames `at` and at+1 in the other order */
	REPLAY_S, /* instead of server frame `at`, server frame at-1 again */
	TAMPER_S, /* flip a byte of server frame `at` */
	RAW,      /* tls: bytes, forwarded as read (and recorded) */
	RAW_FLIP, /* tls: flip a byte of the client's read number `at` */
};

#define FMAX 8192

struct frame {
	uint8_t b[FMAX];
	size_t len;
};

struct relay {
	int lfd, stop[2];
	char addr[64], target[256];
	pthread_t th;
	int mode, at;
	struct frame lastc, lasts, held, spliced;
	uint8_t seen[1 << 16]; /* client-to-server bytes, as read */
	size_t nseen;
};

struct side {
	int fd;
	uint8_t buf[FMAX];
	size_t len;
	int n; /* frames seen */
};

static void put(int fd, const struct frame *f)
{
	ssize_t w = send(fd, f->b, f->len, MSG_NOSIGNAL);
	(void)w;
}

/* One whole frame from the client (c2s) or the server. */
static void act(struct relay *r, int c2s, struct side *from, int to,
                struct frame *f)
{
	int n = ++from->n;
	int at = n == r->at;
	if (c2s) {
		if (at && r->mode == INJECT_C) /* hello: a valid envelope */
			put(to, &r->held);
		if (at && r->mode == TAMPER_C)
			f->b[f->len - 40] ^= 1;
		if (at && r->mode == SWAP_C) {
			r->held = *f;
			return;
		}
		put(to, f);
		if (n == r->at + 1 && r->mode == SWAP_C)
			put(to, &r->held);
		if (at && r->mode == REPLAY_C)
			put(to, &r->lastc);
		if (at && r->mode == SPLICE_C)
			put(to, &r->spliced);
		if (n == 1 && r->mode == INJECT_C)
			r->held = *f;
		if (n == r->at && r->mode == PASS)
			r->spliced = *f; /* for a later SPLICE_C */
		r->lastc = *f;
		return;
	}
	if (at && r->mode == REPLAY_S) {
		put(to, &r->lasts);
		return;
	}
	if (at && r->mode == TAMPER_S)
		f->b[f->len - 1] ^= 1;
	put(to, f);
	r->lasts = *f;
}

/* Reads from one side; forwards whole frames. 0 on EOF. */
static int pump(struct relay *r, int c2s, struct side *from, int to)
{
	ssize_t n = read(from->fd, from->buf + from->len,
	                 sizeof(from->buf) - from->len);
	if (n <= 0)
		return 0;
	if (c2s && r->nseen + (size_t)n <= sizeof(r->seen)) {
		memcpy(r->seen + r->nseen, from->buf + from->len, (size_t)n);
		r->nseen += (size_t)n;
	}
	if (r->mode == RAW || r->mode == RAW_FLIP) {
		if (c2s && r->mode == RAW_FLIP && ++from->n == r->at)
			from->buf[from->len + (size_t)n / 2] ^= 1;
		ssize_t w =
		    send(to, from->buf + from->len, (size_t)n, MSG_NOSIGNAL);
		return w == n;
	}
	from->len += (size_t)n;
	while (from->len >= 4) {
		size_t fl =
		    4 + ((size_t)from->buf[0] | (size_t)from->buf[1] << 8 |
		         (size_t)from->buf[2] << 16);
		if (fl > FMAX)
			return 0;
		if (from->len < fl)
			break;
		struct frame f;
		memcpy(f.b, from->buf, fl);
		f.len = fl;
		memmove(from->buf, from->buf + fl, from->len - fl);
		from->len -= fl;
		act(r, c2s, from, to, &f);
	}
	return 1;
}

static void *relay_thread(void *arg)
{
	struct relay *r = arg;
	for (;;) {
		struct pollfd pa[2] = {{r->lfd, POLLIN, 0},
		                       {r->stop[0], POLLIN, 0}};
		if (poll(pa, 2, -1) < 0 || pa[1].revents)
			return NULL;
		struct side c = {.fd = accept(r->lfd, NULL, NULL)};
		struct side s = {.fd = mgr_raw_connect(r->target)};
		while (c.fd >= 0 && s.fd >= 0) {
			struct pollfd p[3] = {{c.fd, POLLIN, 0},
			                      {s.fd, POLLIN, 0},
			                      {r->stop[0], POLLIN, 0}};
			if (poll(p, 3, -1) < 0 || p[2].revents)
				break;
			if (p[0].revents && !pump(r, 1, &c, s.fd))
				break;
			if (p[1].revents && !pump(r, 0, &s, c.fd))
				break;
		}
		if (c.fd >= 0)
			close(c.fd);
		if (s.fd >= 0)
			close(s.fd);
	}
}

static void relay_start(struct relay *r, const char *target)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	memset(r, 0, sizeof(*r));
	snprintf(r->target, sizeof(r->target), "%s", target);
	r->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(r->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(r->lfd, 8), 0);
	assert_int_equal(getsockname(r->lfd, (struct sockaddr *)&sa, &sl), 0);
	snprintf(r->addr, sizeof(r->addr), "tcp://127.0.0.1:%u",
	         (unsigned)ntohs(sa.sin_port));
	assert_int_equal(pipe(r->stop), 0);
	assert_int_equal(pthread_create(&r->th, NULL, relay_thread, r), 0);
}

static void relay_stop(struct relay *r)
{
	assert_int_equal(write(r->stop[1], "x", 1), 1);
	pthread_join(r->th, NULL);
	close(r->stop[0]);
	close(r->stop[1]);
	close(r->lfd);
}

/* Through the relay: connect (frames 1, 2), get the list (3), append "x"
 * (4), len (5), len (6). Returns the first failing call's code. */
static int client_run(struct relay *r)
{
	tp_manager *c;
	tp_proxy *l = NULL;
	int64_t n;
	int rv = tp_manager_connect(&c, r->addr, KEY, strlen(KEY), 5000);
	if (rv != TP_OK)
		return rv;
	if ((rv = tp_manager_get(c, "list", "l", NULL, &l)) == TP_OK &&
	    (rv = tp_list_append(l, tp_str(SECRET))) == TP_OK &&
	    (rv = tp_list_len(l, &n)) == TP_OK)
		rv = tp_list_len(l, &n);
	tp_proxy_free(l);
	tp_manager_free(c);
	return rv;
}

/* What the list holds, asked directly (also: the manager serves). */
static int64_t list_len(tp_manager *m)
{
	tp_proxy *l;
	int64_t n = -1;
	TP_OK_OR_FAIL(tp_manager_get(m, "list", "l", NULL, &l));
	TP_OK_OR_FAIL(tp_list_len(l, &n));
	tp_proxy_free(l);
	return n;
}

static struct relay R;

static void attack(tp_manager *m, int mode, int at, int want, int64_t add)
{
	int64_t before = list_len(m);
	R.mode = mode;
	R.at = at;
	TP_EXPECT(client_run(&R), want);
	assert_int_equal(list_len(m), before + add);
}

/* A client speaking the protocol by hand, so it can pipeline two sealed
 * requests (the library's clients send one at a time). */
struct raw {
	int fd;
	uint8_t skey[TP__AUTH_MAC];
	uint64_t sseq, rseq;
};

static void raw_send(struct raw *c, Troupe__MgrRequest *rq, int seal)
{
	Troupe__Envelope env = TROUPE__ENVELOPE__INIT;
	uint8_t buf[FMAX], out[FMAX + TP__AUTH_SEAL];
	void *p;
	size_t n;
	env.correlation_id = 1;
	env.body_case = TROUPE__ENVELOPE__BODY_MGR_REQUEST;
	env.mgr_request = rq;
	TP_OK_OR_FAIL(tp__pack_into(&env.base, 0, buf, sizeof(buf), &p, &n));
	if (seal) {
		tp__auth_seal(c->skey, TP__MGR_DIR_C, ++c->sseq, buf, n,
		              out + 4);
		n += TP__AUTH_SEAL;
	} else {
		memcpy(out + 4, buf, n);
	}
	out[0] = (uint8_t)n;
	out[1] = (uint8_t)(n >> 8);
	out[2] = out[3] = 0;
	assert_int_equal(send(c->fd, out, n + 4, MSG_NOSIGNAL), (ssize_t)n + 4);
}

static int read_n(int fd, uint8_t *b, size_t n)
{
	while (n > 0) {
		struct pollfd pf = {fd, POLLIN, 0};
		ssize_t r = poll(&pf, 1, 10000) == 1 ? read(fd, b, n) : -1;
		if (r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

/* The next reply, unsealed if asked; NULL on EOF. */
static Troupe__MgrReply *raw_recv(struct raw *c, int seal,
                                  Troupe__Envelope **env)
{
	uint8_t h[4], b[FMAX];
	const uint8_t *m = b;
	size_t n;
	if (read_n(c->fd, h, 4) != 0)
		return NULL;
	n = (size_t)h[0] | (size_t)h[1] << 8;
	assert_true(n <= sizeof(b));
	assert_int_equal(read_n(c->fd, b, n), 0);
	if (seal)
		TP_OK_OR_FAIL(tp__auth_unseal(c->skey, TP__MGR_DIR_S, &c->rseq,
		                              b, n, &m, &n));
	TP_OK_OR_FAIL(tp__envelope_unpack(m, n, 0, env));
	return (*env)->mgr_reply;
}

static void raw_connect_auth(struct raw *c, const char *addr)
{
	uint8_t cn[TP__AUTH_NONCE] = {7}, mac[TP__AUTH_MAC];
	Troupe__MgrRequest rq = TROUPE__MGR_REQUEST__INIT;
	Troupe__Envelope *env;
	memset(c, 0, sizeof(*c));
	c->fd = mgr_raw_connect(addr);
	assert_true(c->fd >= 0);
	rq.op = TP__MGR_HELLO;
	rq.nonce.data = cn;
	rq.nonce.len = sizeof(cn);
	raw_send(c, &rq, 0);
	Troupe__MgrReply *r = raw_recv(c, 0, &env);
	assert_non_null(r);
	assert_int_equal(r->nonce.len, TP__AUTH_NONCE);
	tp__auth_mac(KEY, strlen(KEY), "troupe-mgr-client", r->nonce.data,
	             r->nonce.len, mac);
	tp__auth_session_key(KEY, strlen(KEY), cn, r->nonce.data, c->skey);
	tp__envelope_free(env);
	troupe__mgr_request__init(&rq);
	rq.op = TP__MGR_AUTH;
	rq.mac.data = mac;
	rq.mac.len = sizeof(mac);
	raw_send(c, &rq, 0);
	r = raw_recv(c, 1, &env);
	assert_non_null(r);
	assert_int_equal(r->code, TP_OK);
	tp__envelope_free(env);
}

static void raw_call(struct raw *c, uint64_t obj, const char *method,
                     const char *s)
{
	Troupe__MgrRequest rq = TROUPE__MGR_REQUEST__INIT;
	Troupe__Payload pb = TROUPE__PAYLOAD__INIT;
	tp_payload *args;
	TP_OK_OR_FAIL(tp_payload_new(&args));
	TP_OK_OR_FAIL(tp_payload_add_string(args, s));
	TP_OK_OR_FAIL(tp__payload_to_pb(args, &pb));
	rq.op = TP__MGR_CALL;
	rq.object = obj;
	rq.name = (char *)method;
	rq.args = &pb;
	raw_send(c, &rq, 1);
	tp__payload_pb_release(&pb);
	tp_payload_free(args);
}

/* The id of the named object (created if need be). */
static uint64_t raw_get(struct raw *c, const char *type, const char *name)
{
	Troupe__MgrRequest rq = TROUPE__MGR_REQUEST__INIT;
	Troupe__Envelope *env;
	rq.op = TP__MGR_CREATE;
	rq.name = (char *)type;
	rq.key = (char *)name;
	raw_send(c, &rq, 1);
	Troupe__MgrReply *r = raw_recv(c, 1, &env);
	assert_non_null(r);
	uint64_t obj = r->object;
	tp__envelope_free(env);
	return obj;
}

/* Two pipelined appends, "a" then "b"; the relay swaps them: "b" runs,
 * "a" (now out of order) is dropped with the connection. */
static void reorder(tp_manager *m)
{
	struct raw c;
	Troupe__Envelope *env;
	tp_proxy *l;
	tp_payload *out;
	const char *s;
	int64_t before = list_len(m);
	R.mode = SWAP_C;
	R.at = 4;
	raw_connect_auth(&c, R.addr);
	uint64_t obj = raw_get(&c, "list", "l");
	Troupe__MgrReply *r;
	raw_call(&c, obj, "append", "a");
	raw_call(&c, obj, "append", "b");
	r = raw_recv(&c, 1, &env); /* b's answer, then the end */
	assert_non_null(r);
	assert_int_equal(r->code, TP_OK);
	tp__envelope_free(env);
	assert_null(raw_recv(&c, 1, &env));
	close(c.fd);
	assert_int_equal(list_len(m), before + 1);
	TP_OK_OR_FAIL(tp_manager_get(m, "list", "l", NULL, &l));
	TP_OK_OR_FAIL(tp_payload_new(&out));
	TP_OK_OR_FAIL(tp_list_get(l, -1, out));
	TP_OK_OR_FAIL(tp_payload_get_string(out, 0, &s));
	assert_string_equal(s, "b");
	tp_payload_free(out);
	tp_proxy_free(l);
}

/* A client that sends many calls and reads none of the answers: the
 * manager queues them (it never blocks on that client) and keeps
 * serving others; when the client reads at last, every answer is there,
 * in order (sequence numbers rise), complete. */
static void not_reading(tp_manager *m)
{
	struct raw c;
	Troupe__Envelope *env;
	tp_proxy *d;
	char *big = malloc(6001);
	enum { CALLS = 4000 };
	memset(big, 'v', 6000);
	big[6000] = '\0';
	TP_OK_OR_FAIL(tp_manager_get(m, "dict", "big", NULL, &d));
	TP_OK_OR_FAIL(tp_dict_set(d, tp_str("k"), tp_str(big)));
	raw_connect_auth(&c, tp_manager_address(m));
	uint64_t obj = raw_get(&c, "dict", "big");
	Troupe__MgrReply *r;
	for (int i = 0; i < CALLS; i++) /* 24 MB of answers */
		raw_call(&c, obj, "get", "k");
	list_len(m); /* others are served meanwhile */
	int64_t n;
	TP_OK_OR_FAIL(tp_dict_len(d, &n));
	for (int i = 0; i < CALLS; i++) {
		tp_payload *res;
		const char *v;
		assert_non_null(r = raw_recv(&c, 1, &env));
		assert_int_equal(r->code, TP_OK);
		TP_OK_OR_FAIL(tp__payload_from_pb(r->result, &res));
		TP_OK_OR_FAIL(tp_payload_get_string(res, 0, &v));
		assert_int_equal(strlen(v), 6000);
		tp_payload_free(res);
		tp__envelope_free(env);
	}
	close(c.fd);
	free(big);
	tp_proxy_free(d);
}

static void test_relay_tcp(void **state)
{
	tp_manager *m;
	tp_manager_opts o = {.address = "tcp://127.0.0.1:0",
	                     .authkey = KEY,
	                     .authkey_len = strlen(KEY)};
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_manager_start(&m, &o));
	relay_start(&R, tp_manager_address(m));
	/* an honest relay: works, and reads everything (tcp:// is not
	 * confidential); it keeps the append for the splice below */
	attack(m, PASS, 4, TP_OK, 1);
	assert_non_null(memmem(R.seen, R.nseen, SECRET, strlen(SECRET)));
	/* the append again, after a later frame: dropped, not run */
	attack(m, REPLAY_C, 5, TP_EDIED, 1);
	/* the append with a bit flipped: dropped, not run */
	attack(m, TAMPER_C, 4, TP_EDIED, 0);
	/* an unsealed frame of its own before the append */
	attack(m, INJECT_C, 4, TP_EDIED, 0);
	/* the first connection's append, in a new session */
	attack(m, SPLICE_C, 3, TP_EDIED, 0);
	/* toward the client: an old reply again, a tampered reply */
	attack(m, REPLAY_S, 5, TP_EAUTH, 1);
	attack(m, TAMPER_S, 4, TP_EAUTH, 1);
	reorder(m);
	not_reading(m);
	attack(m, PASS, 0, TP_OK, 1); /* and honest clients still work */
	relay_stop(&R);
	TP_OK_OR_FAIL(tp_manager_shutdown(m));
	tp_test_fini();
}

/* tls+tcp:// through the relay: it reads nothing, and a byte it flips
 * ends that connection (TLS's own integrity), not the manager. */
static int tls_client(const char *ca, int64_t *len)
{
	tp_manager *c;
	tp_proxy *l = NULL;
	char addr[80];
	snprintf(addr, sizeof(addr), "tls+%s", R.addr);
	tp_manager_opts o = {.address = addr,
	                     .authkey = KEY,
	                     .authkey_len = strlen(KEY),
	                     .tls_ca = ca};
	int rv = tp_manager_connect_opts(&c, &o, 5000);
	if (rv != TP_OK)
		return rv;
	if ((rv = tp_manager_get(c, "list", "l", NULL, &l)) == TP_OK &&
	    (rv = tp_list_append(l, tp_str(SECRET))) == TP_OK)
		rv = tp_list_len(l, len);
	tp_proxy_free(l);
	tp_manager_free(c);
	return rv;
}

static void test_relay_tls(void **state)
{
	tp_manager *m;
	char dir[300], cert[340], key[340], ca[340];
	int64_t n = 0;
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	snprintf(dir, sizeof(dir), "%s/tls", tp_test_base());
	if (!tls_make_certs(dir)) {
		print_message("openssl(1) failed: tls+tcp not tested\n");
		tp_test_fini();
		return;
	}
	snprintf(cert, sizeof(cert), "%s/srv.pem", dir);
	snprintf(key, sizeof(key), "%s/srv.key", dir);
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	tp_manager_opts o = {.address = "tls+tcp://127.0.0.1:0",
	                     .authkey = KEY,
	                     .authkey_len = strlen(KEY),
	                     .tls_cert = cert,
	                     .tls_key = key,
	                     .tls_ca = ca};
	TP_OK_OR_FAIL(tp_manager_start(&m, &o));
	relay_start(&R, tp_manager_address(m) + 4); /* tcp://... */
	R.mode = RAW;
	TP_OK_OR_FAIL(tls_client(ca, &n));
	assert_int_equal(n, 1);
	assert_true(R.nseen > 0);
	assert_null(memmem(R.seen, R.nseen, SECRET, strlen(SECRET)));
	R.mode = RAW_FLIP; /* a bit of the client's third read */
	R.at = 3;
	int rv = tls_client(ca, &n);
	assert_true(rv == TP_EDIED || rv == TP_EAUTH);
	assert_int_equal(list_len(m), 1 + (rv == TP_OK));
	relay_stop(&R);
	TP_OK_OR_FAIL(tp_manager_shutdown(m));
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	tp_test_fini();
}

int main(void)
{
	tp_spawn_guard();
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_relay_tcp),
	    cmocka_unit_test(test_relay_tls),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
