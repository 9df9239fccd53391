/*
 * mgr_conn.c - a client's connection to a manager: a req0 socket dialled
 * to the server, the mutual challenge-response on connect, and one
 * request/reply at a time. The connection watches its pipe: when the
 * server goes away (died, shut down, dropped us) the pipe-removal
 * notification marks it dead and cancels the wait in progress, so a call
 * reports TP_EDIED instead of hanging while req0 waits for a reconnect.
 * Connections taken from payloads are cached per address and key, so a
 * process holding many proxies to one manager uses one socket.
 */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "mgr_int.h"
#include "runtime_int.h"
#include "troupe/error.h"
#include "wire.h"

struct tp__mgr_conn {
	int refs;
	pid_t pid; /* the process that opened it (fork copies it) */
	struct tp__mgr_conn *next; /* in the cache */
	int cached;
	nng_socket sock;
	nng_aio *aio;
	pthread_mutex_t mu;  /* one call at a time */
	pthread_mutex_t dmu; /* dead, inflight */
	int dead, inflight;
	uint64_t corr;
	char *address;
	int fd;             /* the local fast path (mgr_fast.c), or -1: nng */
	uint8_t rbuf[1024]; /* fast path: bytes read ahead */
	size_t rpos, rlen;
	uint8_t *key;
	size_t keylen;
};

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct tp__mgr_conn *cache;

static void conn_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct tp__mgr_conn *c = arg;
	(void)p;
	(void)ev;
	pthread_mutex_lock(&c->dmu);
	c->dead = 1;
	if (c->inflight)
		nng_aio_cancel(c->aio);
	pthread_mutex_unlock(&c->dmu);
}

static void conn_free(struct tp__mgr_conn *c)
{
	if (c == NULL)
		return;
	if (c->fd >= 0)
		close(c->fd);
	if (c->fd < 0 && nng_socket_id(c->sock) > 0) /* fast: nng untouched */
		nng_close(c->sock);
	if (c->aio != NULL)
		nng_aio_free(c->aio);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->dmu);
	free(c->address);
	if (c->key != NULL)
		memset(c->key, 0, c->keylen);
	free(c->key);
	free(c);
}

/* Runs one aio operation (send or receive) unless the pipe died. */
static int conn_wait(struct tp__mgr_conn *c, int recv, int wait_ms)
{
	pthread_mutex_lock(&c->dmu);
	if (c->dead) {
		pthread_mutex_unlock(&c->dmu);
		if (!recv) { /* the message was never given to nng */
			nng_msg_free(nng_aio_get_msg(c->aio));
			nng_aio_set_msg(c->aio, NULL);
		}
		return TP_EDIED;
	}
	c->inflight = 1;
	nng_aio_set_timeout(c->aio, wait_ms < 0 ? NNG_DURATION_INFINITE
	                                        : (nng_duration)wait_ms);
	if (recv)
		nng_recv_aio(c->sock, c->aio);
	else
		nng_send_aio(c->sock, c->aio);
	pthread_mutex_unlock(&c->dmu);
	nng_aio_wait(c->aio);
	pthread_mutex_lock(&c->dmu);
	c->inflight = 0;
	int dead = c->dead;
	pthread_mutex_unlock(&c->dmu);
	int rv = nng_aio_result(c->aio);
	if (rv == 0)
		return TP_OK;
	if (!recv)
		nng_msg_free(nng_aio_get_msg(c->aio));
	if (rv == NNG_ETIMEDOUT)
		return TP_ETIMEDOUT;
	if (rv == NNG_ENOMEM || rv == NNG_EMSGSIZE)
		return tp_err_nng(rv);
	/* cancelled by the pipe watcher, reset, shut: the manager is gone
	 * for this connection (req0 would wait for a reconnect) */
	pthread_mutex_lock(&c->dmu);
	c->dead = 1;
	pthread_mutex_unlock(&c->dmu);
	(void)dead;
	return TP_EDIED;
}

static int fast_dead(struct tp__mgr_conn *c)
{
	c->dead = 1; /* only the caller's thread uses a fast connection */
	return TP_EDIED;
}

/* Reads exactly len bytes before the deadline, through a small buffer so
 * a reply usually costs one read. */
static int fast_read(struct tp__mgr_conn *c, void *buf, size_t len, int64_t dl)
{
	char *p = buf;
	while (len > 0) {
		if (c->rlen > c->rpos) {
			size_t k =
			    c->rlen - c->rpos < len ? c->rlen - c->rpos : len;
			memcpy(p, c->rbuf + c->rpos, k);
			c->rpos += k;
			p += k;
			len -= k;
			continue;
		}
		int big = len >= sizeof(c->rbuf);
		ssize_t r = recv(c->fd, big ? (void *)p : (void *)c->rbuf,
		                 big ? len : sizeof(c->rbuf), MSG_DONTWAIT);
		if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
			struct pollfd pf = {c->fd, POLLIN, 0};
			int n = poll(&pf, 1, tp__remaining(dl));
			if (n == 0)
				return TP_ETIMEDOUT;
			continue;
		}
		if (r <= 0)
			return fast_dead(c);
		if (big) {
			p += r;
			len -= (size_t)r;
		} else {
			c->rpos = 0;
			c->rlen = (size_t)r;
		}
	}
	return TP_OK;
}

/* The fast path's round trip: [u32 length][Envelope] each way; replies
 * to earlier calls that timed out are skipped by correlation id. */
static int fast_roundtrip(struct tp__mgr_conn *c, const void *buf, size_t len,
                          int wait_ms, Troupe__Envelope **out)
{
	uint8_t hdr[4] = {(uint8_t)len, (uint8_t)(len >> 8),
	                  (uint8_t)(len >> 16), (uint8_t)(len >> 24)};
	struct iovec iov[2] = {{hdr, 4}, {(void *)buf, len}};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
	int64_t dl = tp__deadline(wait_ms);
	if (c->dead)
		return TP_EDIED;
	size_t want = len + 4;
	while (want > 0) {
		ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return fast_dead(c);
		want -= (size_t)w;
		while (w > 0 && mh.msg_iovlen > 0) { /* a short write */
			size_t k = (size_t)w < mh.msg_iov[0].iov_len
			               ? (size_t)w
			               : mh.msg_iov[0].iov_len;
			mh.msg_iov[0].iov_base =
			    (char *)mh.msg_iov[0].iov_base + k;
			mh.msg_iov[0].iov_len -= k;
			w -= (ssize_t)k;
			if (mh.msg_iov[0].iov_len == 0) {
				mh.msg_iov++;
				mh.msg_iovlen--;
			}
		}
	}
	for (;;) {
		int rv = fast_read(c, hdr, 4, dl);
		if (rv != TP_OK)
			return rv;
		uint32_t n = (uint32_t)hdr[0] | (uint32_t)hdr[1] << 8 |
		             (uint32_t)hdr[2] << 16 | (uint32_t)hdr[3] << 24;
		if (n > TP_MAX_MSG_DEFAULT + 4096)
			return fast_dead(c);
		uint8_t small[512],
		    *body = n <= sizeof(small) ? small : malloc(n);
		if (body == NULL)
			return TP_ENOMEM;
		if ((rv = fast_read(c, body, n, dl)) == TP_OK)
			rv = tp__envelope_unpack(body, n, 0, out);
		if (body != small)
			free(body);
		if (rv == TP_EDECODE)
			return TP_EPROTO;
		if (rv != TP_OK)
			return rv;
		/* 0: the server could not read our request (too big,
		 * malformed) and answers it with an error */
		if ((*out)->correlation_id == c->corr ||
		    (*out)->correlation_id == 0)
			break;
		tp__envelope_free(*out); /* a reply that came too late */
	}
	if ((*out)->body_case != TROUPE__ENVELOPE__BODY_MGR_REPLY) {
		tp__envelope_free(*out);
		return TP_EPROTO;
	}
	return TP_OK;
}

/* Sends env and receives the reply envelope. */
static int conn_roundtrip(struct tp__mgr_conn *c, Troupe__Envelope *env,
                          int wait_ms, Troupe__Envelope **out)
{
	uint8_t small[512];
	void *buf;
	size_t len;
	nng_msg *m;
	env->correlation_id = ++c->corr;
	int rv = tp__pack_into(&env->base, 0, small, sizeof(small), &buf, &len);
	if (rv != TP_OK)
		return rv;
	if (c->fd >= 0) {
		rv = fast_roundtrip(c, buf, len, wait_ms, out);
		if (buf != small)
			free(buf);
		return rv;
	}
	rv = nng_msg_alloc(&m, 0);
	if (rv == 0 && (rv = nng_msg_append(m, buf, len)) != 0)
		nng_msg_free(m);
	if (buf != small)
		free(buf);
	if (rv != 0)
		return tp_err_nng(rv);
	nng_aio_set_msg(c->aio, m);
	if ((rv = conn_wait(c, 0, wait_ms)) != TP_OK ||
	    (rv = conn_wait(c, 1, wait_ms)) != TP_OK)
		return rv;
	m = nng_aio_get_msg(c->aio);
	rv = tp__envelope_unpack(nng_msg_body(m), nng_msg_len(m), 0, out);
	nng_msg_free(m);
	if (rv != TP_OK)
		return TP_EPROTO;
	if ((*out)->body_case != TROUPE__ENVELOPE__BODY_MGR_REPLY ||
	    ((*out)->correlation_id != c->corr &&
	     (*out)->correlation_id != 0)) {
		tp__envelope_free(*out);
		return TP_EPROTO;
	}
	return TP_OK;
}

static int conn_request(struct tp__mgr_conn *c, Troupe__MgrRequest *rq,
                        int wait_ms, Troupe__Envelope **out)
{
	Troupe__Envelope env = TROUPE__ENVELOPE__INIT;
	env.body_case = TROUPE__ENVELOPE__BODY_MGR_REQUEST;
	env.mgr_request = rq;
	return conn_roundtrip(c, &env, wait_ms, out);
}

/* hello: our challenge out, theirs back with the answer to ours; then
 * auth: our answer to theirs. A wrong answer is TP_EAUTH at once. */
static int conn_handshake(struct tp__mgr_conn *c, int wait_ms)
{
	uint8_t nonce[TP__MGR_NONCE], mac[TP__MGR_MAC];
	Troupe__MgrRequest rq = TROUPE__MGR_REQUEST__INIT;
	Troupe__Envelope *rep;
	int rv = tp__mgr_random(nonce, sizeof(nonce));
	if (rv != TP_OK)
		return rv;
	rq.op = TP__MGR_HELLO;
	rq.nonce.data = nonce;
	rq.nonce.len = sizeof(nonce);
	if ((rv = conn_request(c, &rq, wait_ms, &rep)) != TP_OK)
		return rv == TP_EDIED ? TP_EAUTH : rv;
	Troupe__MgrReply *r = rep->mgr_reply;
	int ok = r->nonce.len == TP__MGR_NONCE &&
	         tp__mgr_mac_ok(c->key, c->keylen, "troupe-mgr-server", nonce,
	                        sizeof(nonce), r->mac.data, r->mac.len);
	if (ok)
		tp__mgr_mac(c->key, c->keylen, "troupe-mgr-client",
		            r->nonce.data, r->nonce.len, mac);
	tp__envelope_free(rep);
	if (!ok)
		return TP_EAUTH;
	troupe__mgr_request__init(&rq);
	rq.op = TP__MGR_AUTH;
	rq.mac.data = mac;
	rq.mac.len = sizeof(mac);
	if ((rv = conn_request(c, &rq, wait_ms, &rep)) != TP_OK)
		return rv == TP_EDIED ? TP_EAUTH : rv;
	rv = rep->mgr_reply->code == TP_OK ? TP_OK : TP_EAUTH;
	tp__envelope_free(rep);
	return rv;
}

static int conn_dial(struct tp__mgr_conn *c)
{
	nng_dialer d;
	int rv = nng_dialer_create(&d, c->sock, c->address);
	if (rv != 0)
		return tp_err_nng(rv);
	if (strncmp(c->address, "tls+tcp://", 10) == 0) {
		/* The peer is authenticated by the key (HMAC); TLS gives
		 * confidentiality. See docs/manager.md. */
		nng_tls_config *cfg;
		if ((rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_CLIENT)) != 0)
			return tp_err_nng(rv);
		rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_NONE);
		if (rv == 0)
			rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg);
		nng_tls_config_free(cfg);
		if (rv != 0)
			return tp_err_nng(rv);
	}
	rv = nng_dialer_start(d, 0);
	if (rv == NNG_ECONNREFUSED || rv == NNG_ENOENT)
		return TP_ECLOSED;
	return tp_err_nng(rv);
}

/* The local fast path of an ipc:// manager, or -1 (then nng is used). */
static int fast_connect(const char *address)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	const char *off = getenv("TROUPE_MGR_NOFAST"); /* tests, debugging */
	if ((off != NULL && off[0] == '1') ||
	    strncmp(address, "ipc://", 6) != 0 ||
	    strlen(address + 6) + 6 > sizeof(sa.sun_path))
		return -1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s.fast", address + 6);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

int tp__mgr_conn_open(struct tp__mgr_conn **out, const char *address,
                      const void *key, size_t keylen, int timeout_ms)
{
	struct tp__mgr_conn *c = calloc(1, sizeof(*c));
	int rv;
	if (c == NULL)
		return TP_ENOMEM;
	c->fd = -1;
	c->refs = 1;
	c->pid = getpid();
	pthread_mutex_init(&c->mu, NULL);
	pthread_mutex_init(&c->dmu, NULL);
	c->address = strdup(address);
	c->key = malloc(keylen ? keylen : 1);
	if (c->address == NULL || c->key == NULL) {
		conn_free(c);
		return TP_ENOMEM;
	}
	memcpy(c->key, key, keylen);
	c->keylen = keylen;
	c->fd = fast_connect(address);
	if (c->fd >= 0) {
		if ((rv = conn_handshake(c, timeout_ms)) != TP_OK) {
			conn_free(c);
			return rv;
		}
		*out = c;
		return TP_OK;
	}
	tp__nng_used();
	if ((rv = nng_req0_open(&c->sock)) != 0 ||
	    (rv = nng_aio_alloc(&c->aio, NULL, NULL)) != 0 ||
	    (rv = nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME,
	                            NNG_DURATION_INFINITE)) != 0 ||
	    (rv = nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ,
	                              TP_MAX_MSG_DEFAULT + 4096)) != 0 ||
	    (rv = nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST, conn_pipe_cb,
	                          c)) != 0) {
		conn_free(c);
		return tp_err_nng(rv);
	}
	if ((rv = conn_dial(c)) != TP_OK ||
	    (rv = conn_handshake(c, timeout_ms)) != TP_OK) {
		conn_free(c);
		return rv;
	}
	*out = c;
	return TP_OK;
}

int tp__mgr_conn_get(struct tp__mgr_conn **out, const char *address,
                     const void *key, size_t keylen)
{
	pthread_mutex_lock(&cache_mu);
	for (struct tp__mgr_conn *c = cache; c != NULL; c = c->next) {
		pthread_mutex_lock(&c->dmu);
		int dead = c->dead;
		pthread_mutex_unlock(&c->dmu);
		if (!dead && c->pid == getpid() &&
		    strcmp(c->address, address) == 0 && c->keylen == keylen &&
		    memcmp(c->key, key, keylen) == 0) {
			c->refs++;
			*out = c;
			pthread_mutex_unlock(&cache_mu);
			return TP_OK;
		}
	}
	pthread_mutex_unlock(&cache_mu);
	struct tp__mgr_conn *c;
	int rv = tp__mgr_conn_open(&c, address, key, keylen, 30000);
	if (rv != TP_OK)
		return rv;
	pthread_mutex_lock(&cache_mu);
	c->cached = 1;
	c->next = cache;
	cache = c;
	pthread_mutex_unlock(&cache_mu);
	*out = c;
	return TP_OK;
}

void tp__mgr_conn_ref(struct tp__mgr_conn *c)
{
	pthread_mutex_lock(&cache_mu);
	c->refs++;
	pthread_mutex_unlock(&cache_mu);
}

void tp__mgr_conn_unref(struct tp__mgr_conn *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&cache_mu);
	int last = --c->refs == 0;
	if (last && c->cached) {
		struct tp__mgr_conn **pp = &cache;
		while (*pp != c)
			pp = &(*pp)->next;
		*pp = c->next;
	}
	pthread_mutex_unlock(&cache_mu);
	if (last)
		conn_free(c);
}

const char *tp__mgr_conn_address(const struct tp__mgr_conn *c)
{
	return c->address;
}

int tp__mgr_conn_call(struct tp__mgr_conn *c, uint32_t op, uint64_t object,
                      const char *name, const char *key, const tp_payload *args,
                      int timeout_ms, int wait_ms, tp_payload *result,
                      uint64_t *obj_out)
{
	Troupe__MgrRequest rq = TROUPE__MGR_REQUEST__INIT;
	Troupe__Payload pb = TROUPE__PAYLOAD__INIT;
	Troupe__Envelope *rep = NULL;
	int rv = TP_OK;
	if (c->pid != getpid())
		return TP_ESTATE; /* a copy made by fork: not ours to use */
	rq.op = op;
	rq.object = object;
	rq.name = (char *)(name ? name : "");
	rq.key = (char *)(key ? key : "");
	rq.timeout_ms = timeout_ms;
	if (args != NULL && args->count > 0) {
		if ((rv = tp__payload_to_pb(args, &pb)) != TP_OK)
			return rv;
		rq.args = &pb;
	}
	pthread_mutex_lock(&c->mu);
	rv = conn_request(c, &rq, wait_ms, &rep);
	pthread_mutex_unlock(&c->mu);
	if (rq.args != NULL)
		tp__payload_pb_release(&pb);
	if (rv != TP_OK)
		return rv;
	Troupe__MgrReply *r = rep->mgr_reply;
	rv = r->code;
	if (rv == TP_OK && obj_out != NULL)
		*obj_out = r->object;
	if (rv == TP_OK && result != NULL && r->result != NULL) {
		tp_payload *p;
		if ((rv = tp__payload_from_pb(r->result, &p)) == TP_OK) {
			for (size_t i = 0; i < p->count && rv == TP_OK; i++)
				rv = tp__payload_push(result, &p->values[i]);
			tp_payload_free(p);
		}
	}
	tp__envelope_free(rep);
	return rv;
}
