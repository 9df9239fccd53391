/*
 * mgr_conn.c - a client's connection to a manager over the manager's own
 * transport (mgr_fast.c): a unix socket for ipc://, TCP for tcp:// (every
 * frame after the handshake sealed: tp__auth_seal) and TLS over TCP for
 * tls+tcp:// (the server's certificate verified first, mgr_tls.c). Then
 * the mutual challenge-response, then one request/reply at a time, each
 * bounded by a deadline: a manager that dies gives EOF (TP_EDIED), one
 * that stalls a timeout. Connections are cached per address and key, so a
 * process holding many proxies to one manager uses one socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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
#include "mgr_lane.h"
#include "runtime_int.h"
#include "troupe/error.h"
#include "wire.h"

struct tp__mgr_conn {
	int refs;
	pid_t pid; /* the process that opened it (fork copies it) */
	struct tp__mgr_conn *next; /* in the cache */
	int cached;
	pthread_mutex_t mu; /* one call at a time */
	int dead;           /* under mu */
	uint64_t corr;
	char *address;
	int fd;
	struct tp__mgr_tls_cli tls; /* tls+tcp:// */
	int mac;                    /* tcp: sealed frames after the handshake */
	int seal_tx, seal_rx;       /* sealing started (each way) */
	uint8_t skey[TP__AUTH_MAC];
	uint64_t sseq, rseq;
	uint8_t rbuf[1024]; /* bytes read ahead */
	size_t rpos, rlen;
	uint8_t *key;
	size_t keylen;
	struct tp__mgr_arena arena; /* the reply being read */
	/* ipc://: the shared-memory lane (mgr_lane.h) */
	struct tp__lane_shm *lane; /* NULL: none, or turned off */
	int laned;                 /* had one: empty frames are wakes */
	uint64_t lseq;             /* the last request put in it */
	int spin;                  /* may spin: more than one CPU */
	struct tp__lane_spin sp;   /* the adaptive spin budget */
	uint8_t *lbuf;             /* a reply, copied out of the slot */
};

/* A call's reply read directly (tp__mgr_reply_read) instead of through
 * protobuf-c. */
struct tp__mgr_direct {
	struct tp__mgr_rep rep;
	tp_payload *result; /* decoded from rep.result */
	int done;           /* this call's reply was read */
};

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct tp__mgr_conn *cache;

/* getpid() is a system call; a call checks it every time (a connection
 * copied by fork is not the child's), so it is cached, and reset in a
 * forked child. */
static pid_t self_pid_v;
static pthread_once_t self_once = PTHREAD_ONCE_INIT;

static void self_reset(void)
{
	__atomic_store_n(&self_pid_v, 0, __ATOMIC_RELAXED);
}

static void self_init(void)
{
	pthread_atfork(NULL, NULL, self_reset);
}

static pid_t self_pid(void)
{
	pthread_once(&self_once, self_init);
	pid_t p = __atomic_load_n(&self_pid_v, __ATOMIC_RELAXED);
	if (p == 0) {
		p = getpid();
		__atomic_store_n(&self_pid_v, p, __ATOMIC_RELAXED);
	}
	return p;
}

static void conn_free(struct tp__mgr_conn *c)
{
	if (c == NULL)
		return;
	tp__mgr_tls_cli_end(&c->tls);
	tp__mgr_arena_reset(&c->arena);
	/* a forked child has no such mapping (MADV_DONTFORK): the range may
	 * be another mapping of its own by now */
	if (c->pid == self_pid())
		tp__lane_unmap(c->lane);
	free(c->lbuf);
	if (c->fd >= 0)
		close(c->fd);
	pthread_mutex_destroy(&c->mu);
	free(c->address);
	if (c->key != NULL)
		memset(c->key, 0, c->keylen);
	free(c->key);
	free(c);
}

static int fast_dead(struct tp__mgr_conn *c)
{
	__atomic_store_n(&c->dead, 1, __ATOMIC_RELEASE);
	return TP_EDIED;
}

/* Reads exactly len bytes before the deadline, through a small buffer so
 * a reply usually costs one read. */
/* A receive bounded by dl (-2 when it passed): poll, then read what
 * came. (A reply is never there right after the request was sent, so no
 * read is tried first; a blocking recv with SO_RCVTIMEO cost more context
 * switches than poll + recv in back-to-back runs.) */
static ssize_t plain_recv(int fd, void *buf, size_t n, int64_t dl)
{
	for (;;) {
		struct pollfd pf = {fd, POLLIN, 0};
		int k = poll(&pf, 1, tp__remaining(dl));
		if (k == 0)
			return -2;
		if (k < 0 && errno != EINTR)
			return -1;
		ssize_t r = recv(fd, buf, n, MSG_DONTWAIT);
		if (r >= 0 || (errno != EAGAIN && errno != EINTR))
			return r;
	}
}

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
		void *to = big ? (void *)p : (void *)c->rbuf;
		size_t n = big ? len : sizeof(c->rbuf);
		ssize_t r;
		if (c->tls.sess != NULL) {
			r = tp__mgr_tls_cli_recv(&c->tls, c->fd, to, n, dl);
			if (r == -2)
				return TP_ETIMEDOUT;
			if (r <= 0)
				return fast_dead(c);
		} else {
			r = plain_recv(c->fd, to, n, dl);
			if (r == -2)
				return TP_ETIMEDOUT;
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

/* Writes the whole frame [u32 length][buf]. */
static int fast_send(struct tp__mgr_conn *c, const void *buf, size_t len)
{
	uint8_t hdr[4] = {(uint8_t)len, (uint8_t)(len >> 8),
	                  (uint8_t)(len >> 16), (uint8_t)(len >> 24)};
	struct iovec iov[2] = {{hdr, 4}, {(void *)buf, len}};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
	size_t want = len + 4;
	if (c->tls.sess != NULL) { /* one record when it fits */
		uint8_t small[1024],
		    *b = want <= sizeof(small) ? small : malloc(want);
		if (b == NULL)
			return TP_ENOMEM;
		memcpy(b, hdr, 4);
		memcpy(b + 4, buf, len);
		int rv =
		    tp__mgr_tls_cli_send(&c->tls, c->fd, b, want, TP_FOREVER);
		if (b != small)
			free(b);
		return rv == TP_OK ? TP_OK : fast_dead(c);
	}
	if (want <= 1024) { /* a small frame: one send(), no iovec import */
		uint8_t flat[1024];
		memcpy(flat, hdr, 4);
		if (len > 0)
			memcpy(flat + 4, buf, len);
		while (want > 0) {
			ssize_t w = send(c->fd, flat + (len + 4 - want), want,
			                 MSG_NOSIGNAL);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return fast_dead(c);
			want -= (size_t)w;
		}
		return TP_OK;
	}
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
	return TP_OK;
}

/* Receives one frame's body: into small when it fits, else malloc'd
 * (*body tells which). */
static int fast_recv(struct tp__mgr_conn *c, int64_t dl, uint8_t *small,
                     size_t cap, uint8_t **body, size_t *len)
{
	uint8_t hdr[4];
	int rv = fast_read(c, hdr, 4, dl);
	if (rv != TP_OK)
		return rv;
	uint32_t n = (uint32_t)hdr[0] | (uint32_t)hdr[1] << 8 |
	             (uint32_t)hdr[2] << 16 | (uint32_t)hdr[3] << 24;
	if (n > TP_MAX_MSG_DEFAULT + 4096 + TP__AUTH_SEAL)
		return fast_dead(c);
	*body = n <= cap ? small : malloc(n);
	if (*body == NULL)
		return TP_ENOMEM;
	if ((rv = fast_read(c, *body, n, dl)) != TP_OK) {
		if (*body != small)
			free(*body);
		return rv;
	}
	*len = n;
	return TP_OK;
}

/* The stream transport's round trip: [u32 length][Envelope] each way
 * (sealed over tcp after the handshake); replies to earlier calls that
 * timed out are skipped by correlation id. */
/* A reply in the direct form (d, from tp__mgr_conn_call): its result
 * decoded before the frame's buffer goes. 1 when it was this call's. */
static int direct_reply(struct tp__mgr_conn *c, const uint8_t *msg, size_t n,
                        struct tp__mgr_direct *d, int *rv)
{
	if (d == NULL || !tp__mgr_reply_read(msg, n, &d->rep))
		return 0;
	if (d->rep.corr != c->corr && d->rep.corr != 0)
		return 1; /* a late reply to an earlier call: skipped */
	d->done = 1;
	*rv = TP_OK;
	if (d->rep.has_result && d->rep.code == TP_OK)
		*rv = tp__payload_unpack(d->rep.result, d->rep.result_len,
		                         &d->result);
	if (*rv == TP_EDECODE)
		*rv = TP_EPROTO;
	return 1;
}

/* One message received: 1 when it ends the wait (*rv set), 0 when it
 * was a late reply to an earlier call (skipped). */
static int take_msg(struct tp__mgr_conn *c, const uint8_t *msg, size_t n,
                    Troupe__Envelope **out, struct tp__mgr_direct *d, int *rv)
{
	*rv = TP_OK;
	if (direct_reply(c, msg, n, d, rv))
		return d->done || *rv != TP_OK;
	*rv = tp__mgr_arena_unpack(&c->arena, msg, n, 0, out);
	if (*rv == TP_EDECODE)
		*rv = TP_EPROTO;
	if (*rv != TP_OK)
		return 1;
	/* 0: the server could not read our request (too big, malformed)
	 * and answers it with an error; another: a reply that came too late
	 * (the next unpack reuses it) */
	if ((*out)->correlation_id != c->corr && (*out)->correlation_id != 0)
		return 0;
	if ((*out)->body_case != TROUPE__ENVELOPE__BODY_MGR_REPLY)
		*rv = TP_EPROTO;
	return 1;
}

/* Waits for the lane's reply to request seq: 1 when it is in the slot, 0
 * when the socket has something to read (a wake, a reply too big for the
 * slot, EOF), else TP_ETIMEDOUT or an error. Spins first (an adaptive
 * budget, struct tp__lane_spin; never sched_yield: on a busy machine that
 * hands the CPU to another task for a whole slice, while a sleeper woken
 * by the socket is run at once), then says it sleeps and sleeps on the
 * socket. */
static int lane_wait(struct tp__mgr_conn *c, int64_t dl, uint64_t seq)
{
	struct tp__lane_shm *l = c->lane;
	if (__atomic_load_n(&l->rep_seq, __ATOMIC_ACQUIRE) == seq)
		return 1;
	uint64_t budget = c->spin ? tp__lane_budget(&c->sp) : 0;
	if (budget != 0 && c->rpos == c->rlen) {
		uint64_t t0 = tp__now_ns(), last = t0, t;
		int hit = 0;
		__atomic_store_n(&l->cli_spin, 1, __ATOMIC_RELAXED);
		for (unsigned i = 1;; i++) {
			tp__lane_relax();
			if (__atomic_load_n(&l->rep_seq, __ATOMIC_ACQUIRE) ==
			    seq) {
				hit = 1;
				break;
			}
			if (i % 16 != 0)
				continue;
			t = tp__now_ns();
			/* the budget spent, or this thread was descheduled
			 * meanwhile: the machine is busy, sleep */
			if (t - t0 >= budget || t - last > TP__LANE_GAP)
				break;
			last = t;
		}
		__atomic_store_n(&l->cli_spin, 0, __ATOMIC_RELAXED);
		if (hit) {
			tp__lane_hit(&c->sp, budget);
			return 1;
		}
		tp__lane_miss(&c->sp, budget);
	}
	for (;;) {
		/* wakes read ahead (empty frames) are spent: a reply in the
		 * slot, or another frame, is what ends the wait */
		static const uint8_t wake[4] = {0, 0, 0, 0};
		while (c->rlen - c->rpos >= 4 &&
		       memcmp(c->rbuf + c->rpos, wake, 4) == 0)
			c->rpos += 4;
		if (__atomic_load_n(&l->rep_seq, __ATOMIC_ACQUIRE) == seq)
			return 1;
		if (c->rpos < c->rlen)
			return 0;
		__atomic_store_n(&l->cli_sleep, 1, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_SEQ_CST); /* against rep_seq */
		int k = 1;
		if (__atomic_load_n(&l->rep_seq, __ATOMIC_ACQUIRE) != seq) {
			struct pollfd pf = {c->fd, POLLIN, 0};
			while ((k = poll(&pf, 1, tp__remaining(dl))) < 0 &&
			       errno == EINTR)
				;
		}
		__atomic_store_n(&l->cli_sleep, 0, __ATOMIC_RELAXED);
		if (k < 0)
			return tp_err_errno(errno);
		if (k == 0)
			return TP_ETIMEDOUT;
		/* read what woke us now (the wake that came with the reply
		 * too: left in the socket, it would cut the next call's sleep
		 * short, a poll and a recv more) */
		ssize_t r = recv(c->fd, c->rbuf, sizeof(c->rbuf), MSG_DONTWAIT);
		if (r == 0)
			return fast_dead(c);
		if (r < 0 && errno != EAGAIN && errno != EINTR)
			return fast_dead(c);
		c->rpos = 0;
		c->rlen = r > 0 ? (size_t)r : 0;
	}
}

/* Receives the reply to the call just sent: from the socket, and also
 * from the lane's slot when the request went through it (seq != 0).
 * Empty frames on a connection that had a lane are its wakes. */
static int fast_wait(struct tp__mgr_conn *c, int64_t dl, Troupe__Envelope **out,
                     struct tp__mgr_direct *d, uint64_t seq)
{
	for (;;) {
		uint8_t small[512], *body;
		const uint8_t *msg;
		size_t n;
		int rv;
		if (seq != 0 && c->lane != NULL) {
			int k = lane_wait(c, dl, seq);
			if (k < 0)
				return k;
			if (k == 1) {
				uint32_t len = __atomic_load_n(
				    &c->lane->rep_len, __ATOMIC_RELAXED);
				if (len == TP__LANE_BY_SOCKET) {
					seq = 0; /* the socket has it */
					continue;
				}
				if (len > TP__LANE_SLOT)
					return TP_EPROTO;
				memcpy(c->lbuf, c->lane->rep, len);
				if (!take_msg(c, c->lbuf, len, out, d, &rv))
					rv = TP_EPROTO; /* not this call's */
				return rv;
			}
		}
		if ((rv = fast_recv(c, dl, small, sizeof(small), &body, &n)) !=
		    TP_OK)
			return rv;
		if (n == 0 && c->laned)
			continue; /* a wake */
		msg = body;
		if (c->seal_rx &&
		    tp__auth_unseal(c->skey, TP__MGR_DIR_S, &c->rseq, body, n,
		                    &msg, &n) != TP_OK) {
			if (body != small)
				free(body);
			fast_dead(c);
			return TP_EAUTH; /* forged, replayed or reordered */
		}
		int fin = take_msg(c, msg, n, out, d, &rv);
		if (body != small)
			free(body);
		if (fin)
			return rv;
	}
}

/* The stream transport's round trip: [u32 length][Envelope] each way
 * (sealed over tcp after the handshake). */
static int fast_roundtrip(struct tp__mgr_conn *c, const void *buf, size_t len,
                          int wait_ms, Troupe__Envelope **out,
                          struct tp__mgr_direct *d)
{
	int64_t dl = tp__deadline(wait_ms);
	int rv;
	if (__atomic_load_n(&c->dead, __ATOMIC_ACQUIRE))
		return TP_EDIED;
	if (c->seal_tx) {
		uint8_t *s = malloc(len + TP__AUTH_SEAL);
		if (s == NULL)
			return TP_ENOMEM;
		tp__auth_seal(c->skey, TP__MGR_DIR_C, ++c->sseq, buf, len, s);
		rv = fast_send(c, s, len + TP__AUTH_SEAL);
		free(s);
	} else {
		rv = fast_send(c, buf, len);
	}
	if (rv != TP_OK)
		return rv;
	return fast_wait(c, dl, out, d, 0);
}

/* The lane's round trip: the request into the slot (a wake frame when
 * the server said it sleeps), the reply from the slot or the socket. A
 * call that times out turns the lane off: the server answers that
 * connection over its socket from then on. */
static int lane_roundtrip(struct tp__mgr_conn *c, const void *buf, size_t len,
                          int wait_ms, Troupe__Envelope **out,
                          struct tp__mgr_direct *d)
{
	struct tp__lane_shm *l = c->lane;
	int64_t dl = tp__deadline(wait_ms);
	int rv = TP_OK;
	if (__atomic_load_n(&c->dead, __ATOMIC_ACQUIRE))
		return TP_EDIED;
	memcpy(l->req, buf, len);
	__atomic_store_n(&l->req_len, (uint32_t)len, __ATOMIC_RELAXED);
	uint64_t seq = ++c->lseq;
	__atomic_store_n(&l->req_seq, seq, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* against srv_sleep's */
	if (__atomic_load_n(&l->srv_sleep, __ATOMIC_RELAXED))
		rv = fast_send(c, NULL, 0); /* the wake */
	if (rv == TP_OK)
		rv = fast_wait(c, dl, out, d, seq);
	if (rv == TP_ETIMEDOUT) {
		__atomic_store_n(&l->cli_off, 1, __ATOMIC_SEQ_CST);
		tp__lane_unmap(l);
		c->lane = NULL;
	}
	return rv;
}

/* Sends env and receives the reply envelope. */
static int conn_roundtrip(struct tp__mgr_conn *c, Troupe__Envelope *env,
                          int wait_ms, Troupe__Envelope **out)
{
	uint8_t small[512];
	void *buf;
	size_t len;
	env->correlation_id = ++c->corr;
	int rv = tp__pack_into(&env->base, 0, small, sizeof(small), &buf, &len);
	if (rv != TP_OK)
		return rv;
	rv = fast_roundtrip(c, buf, len, wait_ms, out, NULL);
	if (buf != small)
		free(buf);
	return rv;
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
	uint8_t nonce[TP__AUTH_NONCE], mac[TP__AUTH_MAC];
	Troupe__MgrRequest rq = TROUPE__MGR_REQUEST__INIT;
	Troupe__Envelope *rep;
	int rv = tp__auth_random(nonce, sizeof(nonce));
	if (rv != TP_OK)
		return rv;
	rq.op = TP__MGR_HELLO;
	rq.nonce.data = nonce;
	rq.nonce.len = sizeof(nonce);
	if ((rv = conn_request(c, &rq, wait_ms, &rep)) != TP_OK)
		return rv == TP_EDIED ? TP_EAUTH : rv;
	Troupe__MgrReply *r = rep->mgr_reply;
	int ok = r->nonce.len == TP__AUTH_NONCE &&
	         tp__auth_mac_ok(c->key, c->keylen, "troupe-mgr-server", nonce,
	                         sizeof(nonce), r->mac.data, r->mac.len);
	if (ok) {
		tp__auth_mac(c->key, c->keylen, "troupe-mgr-client",
		             r->nonce.data, r->nonce.len, mac);
		tp__auth_session_key(c->key, c->keylen, nonce, r->nonce.data,
		                     c->skey);
	}
	tp__mgr_arena_reset(&c->arena); /* rep: done with */
	if (!ok)
		return TP_EAUTH;
	c->seal_rx = c->mac; /* the answer to auth is the first sealed */
	troupe__mgr_request__init(&rq);
	rq.op = TP__MGR_AUTH;
	rq.mac.data = mac;
	rq.mac.len = sizeof(mac);
	if ((rv = conn_request(c, &rq, wait_ms, &rep)) != TP_OK)
		return rv == TP_EDIED ? TP_EAUTH : rv;
	rv = rep->mgr_reply->code == TP_OK ? TP_OK : TP_EAUTH;
	tp__mgr_arena_reset(&c->arena); /* rep: done with */
	c->seal_tx = c->mac;
	return rv;
}

/* Sends one frame with fd attached (SCM_RIGHTS). */
static int send_fd(struct tp__mgr_conn *c, const void *buf, size_t len, int fd)
{
	uint8_t hdr[4] = {(uint8_t)len, (uint8_t)(len >> 8),
	                  (uint8_t)(len >> 16), (uint8_t)(len >> 24)};
	struct iovec iov[2] = {{hdr, 4}, {(void *)buf, len}};
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} cm;
	memset(&cm, 0, sizeof(cm));
	struct msghdr mh = {.msg_iov = iov,
	                    .msg_iovlen = 2,
	                    .msg_control = cm.b,
	                    .msg_controllen = sizeof(cm.b)};
	struct cmsghdr *h = CMSG_FIRSTHDR(&mh);
	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(h), &fd, sizeof(int));
	ssize_t w;
	do
		w = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	if (w < 0 && errno == EBADF)
		return TP_EINVAL; /* fd */
	/* a short write of a few dozen bytes on a new socket: treated as
	 * the end it would be */
	return w == (ssize_t)(len + 4) ? TP_OK : fast_dead(c);
}

static int direct_result(struct tp__mgr_direct *d, tp_payload *result,
                         uint64_t *obj_out);

int tp__mgr_conn_lane_offer(struct tp__mgr_conn *c, int fd, int wait_ms)
{
	struct tp__mgr_req rq = {.op = TP__MGR_LANE};
	Troupe__Envelope *rep = NULL;
	struct tp__mgr_direct d = {0};
	uint8_t small[64];
	void *buf;
	size_t len;
	if (c->seal_tx || c->tls.sess != NULL)
		return TP_EINVAL; /* ipc:// only */
	pthread_mutex_lock(&c->mu);
	rq.corr = ++c->corr;
	int rv = tp__mgr_req_pack(&rq, 0, small, sizeof(small), &buf, &len);
	if (rv == TP_OK) {
		rv =
		    fd >= 0 ? send_fd(c, buf, len, fd) : fast_send(c, buf, len);
		if (buf != small)
			free(buf);
	}
	if (rv == TP_OK)
		rv = fast_wait(c, tp__deadline(wait_ms), &rep, &d, 0);
	if (rv == TP_OK)
		rv = d.done ? direct_result(&d, NULL, NULL)
		            : rep->mgr_reply->code;
	tp__mgr_arena_reset(&c->arena);
	pthread_mutex_unlock(&c->mu);
	return rv;
}

struct tp__lane_shm *tp__mgr_conn_lane(const struct tp__mgr_conn *c)
{
	return c->lane;
}

int tp__mgr_conn_fd(const struct tp__mgr_conn *c)
{
	return c->fd;
}

/* An ipc:// connection's lane: a sealed memfd offered to the server; any
 * answer but TP_OK (an older server's TP_EPROTO, a refusal) leaves the
 * connection on its socket. TROUPE_MGR_LANE=0 turns it off. */
static void lane_start(struct tp__mgr_conn *c, int wait_ms)
{
	const char *e = getenv("TROUPE_MGR_LANE");
	struct tp__lane_shm *l;
	int fd;
	if (strncmp(c->address, "ipc://", 6) != 0 ||
	    (e != NULL && strcmp(e, "0") == 0))
		return;
	if (c->lbuf == NULL && (c->lbuf = malloc(TP__LANE_SLOT)) == NULL)
		return;
	if (tp__lane_create(&fd, &l) != TP_OK)
		return;
	int rv = tp__mgr_conn_lane_offer(c, fd, wait_ms);
	close(fd);
	if (rv != TP_OK) {
		tp__lane_unmap(l);
		return;
	}
	c->spin = tp__lane_can_spin();
	c->sp.ns = TP__LANE_SPIN_MAX;
	c->laned = 1;
	c->lane = l;
}

static int unix_connect(const char *address, int *fd)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(address + 6) >= sizeof(sa.sun_path))
		return TP_EINVAL;
	memcpy(sa.sun_path, address + 6, strlen(address + 6));
	*fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*fd < 0)
		return tp_err_errno(errno);
	if (connect(*fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;
		close(*fd);
		*fd = -1;
		return e == ENOENT || e == ECONNREFUSED ? TP_ECLOSED
		                                        : tp_err_errno(e);
	}
	return TP_OK;
}

/* TLS over the connected socket: non-blocking from here. */
static int tls_start(struct tp__mgr_conn *c, const struct tp__mgr_tls *tls,
                     int timeout_ms)
{
	char host[256], port[32];
	int fl = fcntl(c->fd, F_GETFL);
	if (fl < 0 || fcntl(c->fd, F_SETFL, fl | O_NONBLOCK) != 0)
		return tp_err_errno(errno);
	int rv =
	    tp__tcp_split(c->address, host, sizeof(host), port, sizeof(port));
	if (rv == TP_OK)
		rv = tp__mgr_tls_connect(c->fd, tls, host, timeout_ms, &c->tls);
	return rv;
}

static int conn_connect(struct tp__mgr_conn *c, const struct tp__mgr_tls *tls,
                        int timeout_ms)
{
	const char *a = c->address;
	if (strncmp(a, "ipc://", 6) == 0)
		return unix_connect(a, &c->fd);
	int istls = strncmp(a, "tls+tcp://", 10) == 0;
	if (!istls && strncmp(a, "tcp://", 6) != 0)
		return TP_EINVAL;
	if (istls && (tls == NULL || tls->ca == NULL))
		return TP_EINVAL; /* a tls client verifies its server */
	int rv = tp__tcp_connect(a, timeout_ms, &c->fd);
	if (rv == TP_OK && istls)
		rv = tls_start(c, tls, timeout_ms);
	c->mac = !istls;
	return rv;
}

int tp__mgr_conn_open(struct tp__mgr_conn **out, const char *address,
                      const void *key, size_t keylen,
                      const struct tp__mgr_tls *tls, int timeout_ms)
{
	struct tp__mgr_conn *c = calloc(1, sizeof(*c));
	int rv;
	if (c == NULL)
		return TP_ENOMEM;
	c->fd = -1;
	c->refs = 1;
	c->pid = self_pid();
	pthread_mutex_init(&c->mu, NULL);
	c->address = strdup(address);
	c->key = malloc(keylen ? keylen : 1);
	if (c->address == NULL || c->key == NULL) {
		conn_free(c);
		return TP_ENOMEM;
	}
	memcpy(c->key, key, keylen);
	c->keylen = keylen;
	if ((rv = conn_connect(c, tls, timeout_ms)) != TP_OK ||
	    (rv = conn_handshake(c, timeout_ms)) != TP_OK) {
		conn_free(c);
		return rv;
	}
	lane_start(c, timeout_ms);
	*out = c;
	return TP_OK;
}

static int conn_dead(struct tp__mgr_conn *c)
{
	return __atomic_load_n(&c->dead, __ATOMIC_ACQUIRE);
}

void tp__mgr_conn_cache(struct tp__mgr_conn *c)
{
	pthread_mutex_lock(&cache_mu);
	if (!c->cached) {
		c->cached = 1;
		c->next = cache;
		cache = c;
	}
	pthread_mutex_unlock(&cache_mu);
}

int tp__mgr_conn_get(struct tp__mgr_conn **out, const char *address,
                     const void *key, size_t keylen)
{
	pthread_mutex_lock(&cache_mu);
	for (struct tp__mgr_conn *c = cache; c != NULL; c = c->next) {
		if (!conn_dead(c) && c->pid == self_pid() &&
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
	struct tp__mgr_tls tls = {0};
	char buf[2048];
	if (strncmp(address, "tls+tcp://", 10) == 0)
		tp__mgr_tls_load(address, &tls, buf, sizeof(buf));
	int rv = tp__mgr_conn_open(&c, address, key, keylen, &tls, 30000);
	if (rv != TP_OK)
		return rv;
	tp__mgr_conn_cache(c);
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

/* Hands p's values to result (p is freed after). */
static int take_values(tp_payload *result, tp_payload *p)
{
	int rv = TP_OK;
	/* take the values over (not a one-value inline array: a caller's
	 * stack payload frees its array itself) */
	if (result->count == 0 && !tp__payload_inline(p))
		tp__payload_swap(result, p); /* p freed below */
	for (size_t i = 0; i < p->count && rv == TP_OK; i++) {
		struct tp_value v = tp__payload_at(p, i);
		rv = tp__payload_push(result, &v);
	}
	return rv;
}

/* Hands a direct reply's code, object and result to the caller. */
static int direct_result(struct tp__mgr_direct *d, tp_payload *result,
                         uint64_t *obj_out)
{
	int rv = d->rep.code;
	tp_payload *p = d->result;
	if (rv == TP_OK && obj_out != NULL)
		*obj_out = d->rep.object;
	if (rv == TP_OK && result != NULL && p != NULL)
		rv = take_values(result, p);
	tp_payload_free(p);
	return rv;
}

int tp__mgr_conn_call(struct tp__mgr_conn *c, uint32_t op, uint64_t object,
                      const char *name, const char *key, const tp_payload *args,
                      int timeout_ms, int wait_ms, tp_payload *result,
                      uint64_t *obj_out)
{
	struct tp__mgr_req rq = {.op = op,
	                         .object = object,
	                         .name = name,
	                         .key = key,
	                         .args = args,
	                         .timeout_ms = timeout_ms};
	Troupe__Envelope *rep = NULL;
	struct tp__mgr_direct d = {0};
	uint8_t small[512];
	void *buf;
	size_t len;
	int rv;
	if (c->pid != self_pid())
		return TP_ESTATE; /* a copy made by fork: not ours to use */
	pthread_mutex_lock(&c->mu);
	rq.corr = ++c->corr;
	rv = tp__mgr_req_pack(&rq, 0, small, sizeof(small), &buf, &len);
	if (rv == TP_OK) {
		rv = c->lane != NULL && len <= TP__LANE_SLOT
		         ? lane_roundtrip(c, buf, len, wait_ms, &rep, &d)
		         : fast_roundtrip(c, buf, len, wait_ms, &rep, &d);
		if (buf != small)
			free(buf);
	}
	pthread_mutex_unlock(&c->mu);
	if (rv != TP_OK || d.done)
		return rv != TP_OK ? rv : direct_result(&d, result, obj_out);
	Troupe__MgrReply *r = rep->mgr_reply;
	rv = r->code;
	if (rv == TP_OK && obj_out != NULL)
		*obj_out = r->object;
	if (rv == TP_OK && result != NULL && r->result != NULL) {
		tp_payload *p;
		if ((rv = tp__payload_from_pb(r->result, &p)) == TP_OK) {
			rv = take_values(result, p);
			tp_payload_free(p);
		}
	}
	tp__mgr_arena_reset(&c->arena); /* rep: done with */
	return rv;
}
