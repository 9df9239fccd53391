/*
 * mgr_fast.c - the manager's own stream transport, for ipc:// (a unix
 * stream socket at the address's path) and tcp:// (a TCP socket), framed
 * as [u32 length][message] and carrying the same messages, handshake and
 * core as the nng transport (which serves only tls+tcp:// now).
 *
 * Why not nng for these: nng 1.5.2's ipc listener can be wedged by one
 * peer that connects and closes or resets before its handshake, it
 * accepts frames up to the socket's receive limit from peers that never
 * authenticated (no per-connection limit), and an ipc round trip costs
 * several nng thread hand-offs (~70-160 us here against 10-60 us for a
 * plain socket). See docs/architecture.md.
 *
 * The listener and every connection are fd sources on the server's
 * reactor (rt/reactor.h, level-triggered), served by the one thread that
 * runs it; the pre-authentication deadline is a timer source. Reads and
 * writes are non-blocking: a peer that stalls mid-frame, sends garbage or
 * does not read its replies delays nobody. Frames are size-checked from
 * their header before they are read: TP__MGR_PREAUTH_MAX until the peer
 * authenticated. At most PREAUTH_CONNS connections may be
 * unauthenticated (a new one evicts the oldest), each for at most
 * PREAUTH_MS. Over tcp:// every frame after the handshake is sealed
 * (tp__auth_seal): a bad MAC, a replay or a reordering closes the
 * connection. Connection ids have the top bit set, so they never collide
 * with nng pipe ids; parked calls refer to them by id.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "mgr_int.h"
#include "mgr_lane.h"
#include "reactor.h"
#include "troupe/error.h"

#define FAST_BIT      0x80000000u
#define PREAUTH_CONNS 32
#define PREAUTH_MS    10000
#define IN_MIN        4096
#define OUT_MAX       (64u << 20) /* unread replies before a drop */

struct fconn {
	struct tp__mgr_fast *f;
	tp__rsrc *src;
	uint32_t id;
	int fd;
	void *tls;     /* tls+tcp:// session, else NULL */
	int hs;        /* its handshake is done */
	int tls_retry; /* a record send to finish */
	int mac;       /* tcp: sealed frames after the handshake */
	int authed;    /* the core said so */
	int closing;   /* closed by the core: ignore what follows */
	int64_t since;
	uint64_t order; /* accepted as the n-th */
	uint8_t *in;    /* bytes read, not yet handled */
	size_t inlen, incap;
	uint8_t *out; /* bytes not yet written */
	size_t outoff, outlen;
	uint64_t rseq, sseq;
	/* ipc://: the shared-memory lane (mgr_lane.h) */
	int lane_fd;               /* an fd received for an offer, else -1 */
	struct tp__lane_shm *lane; /* mapped, else NULL */
	uint64_t lane_seq;         /* the last request taken from it */
	int lane_busy;             /* that request's reply is due in it */
};

struct tp__mgr_fast {
	int lfd;
	int tcp;
	struct tp__mgr_tls_srv *tls; /* tls+tcp:// (owned), else NULL */
	char path[108];              /* unix: unlinked at stop */
	tp__reactor *r;
	tp__rsrc *lsrc, *timer; /* the listener; the preauth deadline */
	struct tp__mgr_core *core;
	void (*kick)(void *arg); /* after each request */
	void *kick_arg;
	size_t max;
	struct fconn **c;
	size_t n, cap, npre;
	uint32_t seq;
	uint64_t accepted;
	size_t nlane;            /* connections with a lane */
	int spin;                /* may spin: more than one CPU */
	uint64_t lane_last;      /* the last request taken from a lane (ns), 0
	                            once the spin after it ran out */
	struct tp__lane_spin sp; /* how long to spin after one (adaptive) */
	uint64_t win;            /* ... after the last one */
	uint8_t *lbuf;           /* a lane request, copied out */
};

static struct fconn *conn_find(struct tp__mgr_fast *f, uint32_t id)
{
	for (size_t i = 0; i < f->n; i++)
		if (f->c[i]->id == id)
			return f->c[i];
	return NULL;
}

/* Forgets the connection and tells the core. */
static void conn_close(struct tp__mgr_fast *f, struct fconn *c)
{
	uint32_t id = c->id;
	for (size_t i = 0; i < f->n; i++) {
		if (f->c[i] == c) {
			f->c[i] = f->c[--f->n];
			break;
		}
	}
	if (!c->authed)
		f->npre--;
	if (c->lane != NULL) {
		tp__lane_unmap(c->lane);
		f->nlane--;
	}
	if (c->lane_fd >= 0)
		close(c->lane_fd);
	tp__reactor_del(c->src);
	tp__mgr_tls_end(c->tls);
	close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
	tp__mgr_core_gone(f->core, id);
}

int tp__mgr_fast_is(uint32_t client)
{
	return (client & FAST_BIT) != 0;
}

static void want_out(struct tp__mgr_fast *f, struct fconn *c, int on)
{
	(void)f;
	tp__reactor_mod_fd(c->src, EPOLLIN | (on ? EPOLLOUT : 0));
}

/* Writes what is queued; -1 on a dead peer. */
static int flush_out(struct tp__mgr_fast *f, struct fconn *c)
{
	while (c->outoff < c->outlen) {
		ssize_t w;
		if (c->tls != NULL) {
			w = tp__mgr_tls_send(c->tls, c->out + c->outoff,
			                     c->outlen - c->outoff,
			                     c->tls_retry);
			c->tls_retry = w == -2;
			if (w == -2)
				return 0;
			if (w < 0)
				return -1;
			c->outoff += (size_t)w;
			continue;
		}
		w = send(c->fd, c->out + c->outoff, c->outlen - c->outoff,
		         MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return 0;
		if (w <= 0)
			return -1;
		c->outoff += (size_t)w;
	}
	free(c->out);
	c->out = NULL;
	c->outoff = c->outlen = 0;
	want_out(f, c, 0);
	return 0;
}

/* Small frames are copied into one buffer and sent with send(): cheaper
 * than sendmsg's import of an iovec array (about 0.5 us a call here). */
#define FLAT_MAX 1024

static struct iovec *flatten(const struct iovec *iov, int n, uint8_t *flat,
                             struct iovec *one)
{
	size_t off = 0;
	for (int i = 0; i < n; i++) {
		if (iov[i].iov_len > 0)
			memcpy(flat + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	one->iov_base = flat;
	one->iov_len = off;
	return one;
}

/* Sends iov without blocking; what does not fit is queued (bounded). */
static void send_iov(struct tp__mgr_fast *f, struct fconn *c, struct iovec *iov,
                     int n)
{
	size_t total = 0, done = 0;
	uint8_t flat[FLAT_MAX];
	struct iovec one;
	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	if (n > 1 && total <= sizeof(flat)) /* a small reply: one send() */
		iov = flatten(iov, n, flat, &one), n = 1;
	if (c->outlen == 0 && c->tls == NULL) {
		struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
		ssize_t w;
		do
			w = n == 1
			        ? send(c->fd, iov[0].iov_base, iov[0].iov_len,
			               MSG_NOSIGNAL | MSG_DONTWAIT)
			        : sendmsg(c->fd, &mh,
			                  MSG_NOSIGNAL | MSG_DONTWAIT);
		while (w < 0 && errno == EINTR);
		if (w < 0 && errno != EAGAIN) {
			c->closing = 1;
			shutdown(c->fd, SHUT_RDWR); /* the poller cleans up */
			return;
		}
		done = w > 0 ? (size_t)w : 0;
		if (done == total)
			return;
	}
	size_t left = total - done;
	if (c->outoff > 0) { /* drop what was written */
		memmove(c->out, c->out + c->outoff, c->outlen - c->outoff);
		c->outlen -= c->outoff;
		c->outoff = 0;
	}
	uint8_t *o = c->outlen - c->outoff + left > OUT_MAX
	                 ? NULL
	                 : realloc(c->out, c->outlen + left);
	if (o == NULL) { /* a client that does not read: dropped */
		c->closing = 1;
		shutdown(c->fd, SHUT_RDWR);
		return;
	}
	c->out = o;
	for (int i = 0; i < n; i++) {
		size_t k = iov[i].iov_len;
		const uint8_t *p = iov[i].iov_base;
		if (done >= k) {
			done -= k;
			continue;
		}
		memcpy(c->out + c->outlen, p + done, k - done);
		c->outlen += k - done;
		done = 0;
	}
	if (c->tls != NULL && flush_out(f, c) != 0) {
		c->closing = 1;
		shutdown(c->fd, SHUT_RDWR);
		return;
	}
	if (c->outlen > 0)
		want_out(f, c, 1);
}

static void put32(uint8_t *h, size_t len)
{
	h[0] = (uint8_t)len;
	h[1] = (uint8_t)(len >> 8);
	h[2] = (uint8_t)(len >> 16);
	h[3] = (uint8_t)(len >> 24);
}

/* A reply into the lane's slot; the client is woken (an empty frame)
 * when it said it may sleep. The server spins for the next request only
 * when its client was spinning for this reply (both on a CPU). */
static void lane_reply(struct tp__mgr_fast *f, struct fconn *c, const void *buf,
                       size_t len)
{
	struct tp__lane_shm *l = c->lane;
	memcpy(l->rep, buf, len);
	__atomic_store_n(&l->rep_len, (uint32_t)len, __ATOMIC_RELAXED);
	__atomic_store_n(&l->rep_seq, c->lane_seq, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* against cli_sleep's */
	if (__atomic_load_n(&l->cli_sleep, __ATOMIC_RELAXED)) {
		/* it sleeps: it has to be woken and scheduled before it can
		 * send again, which takes longer than a spin (a busy
		 * machine), and a spin here could hold the CPU it needs */
		f->win = 0;
		uint8_t hdr[4] = {0, 0, 0, 0};
		struct iovec iov = {hdr, 4};
		send_iov(f, c, &iov, 1);
	} else if (!__atomic_load_n(&l->cli_spin, __ATOMIC_RELAXED)) {
		f->win = 0; /* not spinning either: it was descheduled */
	}
}

/* The core calls it, on the reactor's thread. */
void tp__mgr_fast_send(struct tp__mgr_fast *f, uint32_t id, const void *buf,
                       size_t len)
{
	struct fconn *c = conn_find(f, id);
	uint8_t hdr[4];
	if (c == NULL || c->closing)
		return;
	int marker = 0;     /* a lane request's reply too big for the slot */
	if (c->lane_busy) { /* the reply to a request from the lane */
		c->lane_busy = 0;
		if (!__atomic_load_n(&c->lane->cli_off, __ATOMIC_ACQUIRE)) {
			if (len <= TP__LANE_SLOT) {
				lane_reply(f, c, buf, len);
				return;
			}
			marker = 1;
		}
	}
	if (marker) { /* over the socket, then the slot says so */
		put32(hdr, len);
		struct iovec iov[2] = {{hdr, 4}, {(void *)buf, len}};
		send_iov(f, c, iov, 2);
		__atomic_store_n(&c->lane->rep_len, TP__LANE_BY_SOCKET,
		                 __ATOMIC_RELAXED);
		__atomic_store_n(&c->lane->rep_seq, c->lane_seq,
		                 __ATOMIC_RELEASE);
		return;
	}
	const uint8_t *skey = c->mac ? tp__mgr_core_skey(f->core, id) : NULL;
	if (skey == NULL) {
		put32(hdr, len);
		struct iovec iov[2] = {{hdr, 4}, {(void *)buf, len}};
		send_iov(f, c, iov, 2);
		return;
	}
	uint8_t *s = malloc(len + TP__AUTH_SEAL);
	if (s == NULL) {
		c->closing = 1;
		shutdown(c->fd, SHUT_RDWR);
		return;
	}
	tp__auth_seal(skey, TP__MGR_DIR_S, ++c->sseq, buf, len, s);
	put32(hdr, len + TP__AUTH_SEAL);
	struct iovec iov[2] = {{hdr, 4}, {s, len + TP__AUTH_SEAL}};
	send_iov(f, c, iov, 2);
	free(s);
}

void tp__mgr_fast_close(struct tp__mgr_fast *f, uint32_t id)
{
	struct fconn *c = conn_find(f, id);
	if (c != NULL) {
		c->closing = 1;
		shutdown(c->fd, SHUT_RDWR);
	}
}

/* The oldest connection that has not authenticated (accept order). */
static struct fconn *oldest_preauth(struct tp__mgr_fast *f)
{
	struct fconn *o = NULL;
	for (size_t i = 0; i < f->n; i++)
		if (!f->c[i]->authed &&
		    (o == NULL || f->c[i]->order < o->order))
			o = f->c[i];
	return o;
}

static void on_conn(tp__rsrc *src, uint32_t events, void *arg);

static void fast_accept(struct tp__mgr_fast *f)
{
	int fd = accept4(f->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	struct fconn *old = f->npre >= PREAUTH_CONNS ? oldest_preauth(f) : NULL;
	if (old != NULL)
		conn_close(f, old);
	struct fconn *c = calloc(1, sizeof(*c));
	if (c == NULL || (f->n == f->cap && f->cap > 65536)) {
		free(c);
		close(fd);
		return;
	}
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 16;
		struct fconn **n = realloc(f->c, cap * sizeof(*n));
		if (n == NULL) {
			free(c);
			close(fd);
			return;
		}
		f->c = n;
		f->cap = cap;
	}
	if (f->tcp) {
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	if (f->tls != NULL &&
	    tp__mgr_tls_accept(f->tls, fd, &c->tls) != TP_OK) {
		free(c);
		close(fd);
		return;
	}
	c->fd = fd;
	c->lane_fd = -1;
	c->mac = f->tcp && f->tls == NULL; /* TLS protects the rest */
	c->since = tp__now_ms();
	c->order = ++f->accepted;
	c->id = FAST_BIT | (++f->seq & ~FAST_BIT);
	c->f = f;
	if (tp__reactor_add_fd(f->r, fd, EPOLLIN, on_conn, c, &c->src) !=
	    TP_OK) {
		tp__mgr_tls_end(c->tls);
		free(c);
		close(fd);
		return;
	}
	f->c[f->n++] = c;
	f->npre++;
}

/* A message to the core. */
static void to_core(struct tp__mgr_fast *f, struct fconn *c, const uint8_t *msg,
                    size_t mlen)
{
	tp__mgr_core_request(f->core, c->id,
	                     (void *)(((uintptr_t)c->id << 1) | 1), msg, mlen);
	if (!c->authed && tp__mgr_core_authed(f->core, c->id)) {
		c->authed = 1;
		f->npre--;
	}
	f->kick(f->kick_arg);
}

/* Takes the lane's request, if a new one is there: 1 taken, 0 none, -1
 * a bogus lane (a sequence out of order, a length out of bounds: the
 * connection is closed). The request is copied out first, then read: the
 * client may change the slot at any time. */
static int lane_take(struct tp__mgr_fast *f, struct fconn *c)
{
	struct tp__lane_shm *l = c->lane;
	uint64_t seq = __atomic_load_n(&l->req_seq, __ATOMIC_ACQUIRE);
	if (seq == c->lane_seq)
		return 0;
	if (seq != c->lane_seq + 1 || c->lane_busy)
		return -1;
	uint32_t len = __atomic_load_n(&l->req_len, __ATOMIC_RELAXED);
	if (len == 0 || len > TP__LANE_SLOT)
		return -1;
	memcpy(f->lbuf, l->req, len);
	c->lane_seq = seq;
	c->lane_busy = 1;
	__atomic_store_n(&l->srv_sleep, 0, __ATOMIC_RELAXED); /* awake */
	if (f->lane_last != 0 && f->win != 0) /* caught by a spin */
		tp__lane_hit(&f->sp, f->win);
	f->lane_last = tp__now_ns();
	/* at least a short spin: whether its client still spins decides
	 * (lane_reply) */
	f->win = !f->spin                      ? 0
	         : f->sp.ns > TP__LANE_SRV_MIN ? f->sp.ns
	                                       : TP__LANE_SRV_MIN;
	to_core(f, c, f->lbuf, len);
	return 1;
}

/* A lane offered (TP__MGR_LANE with an fd): checked, mapped, answered
 * over the socket (TP_OK, or TP_EINVAL and the socket stays the way). */
static void lane_setup(struct tp__mgr_fast *f, struct fconn *c, uint64_t corr)
{
	uint8_t small[64];
	void *out;
	size_t len;
	int code = TP_EINVAL;
	if (f->lbuf == NULL)
		f->lbuf = malloc(TP__LANE_SLOT);
	if (f->lbuf != NULL)
		code = tp__lane_map(c->lane_fd, &c->lane);
	close(c->lane_fd);
	c->lane_fd = -1;
	if (code == TP_OK) {
		c->lane_seq = 0;
		c->lane_busy = 0;
		f->nlane++;
	}
	if (tp__mgr_reply_pack(corr, code, NULL, 0, small, sizeof(small), &out,
	                       &len) != TP_OK)
		return;
	tp__mgr_fast_send(f, c->id, out, len);
	if (out != small)
		free(out);
}

/* One whole frame: unsealed if need be, then to the core; an empty one
 * on a connection with a lane is its wake, a lane offer is the
 * transport's. */
static int handle(struct tp__mgr_fast *f, struct fconn *c, const uint8_t *buf,
                  size_t len)
{
	const uint8_t *msg = buf;
	size_t mlen = len;
	if (c->mac && c->authed) {
		const uint8_t *skey = tp__mgr_core_skey(f->core, c->id);
		if (skey == NULL ||
		    tp__auth_unseal(skey, TP__MGR_DIR_C, &c->rseq, buf, len,
		                    &msg, &mlen) != TP_OK)
			return -1;
	}
	if (c->lane != NULL && mlen == 0)
		return lane_take(f, c) < 0 ? -1 : 0;
	struct tp__mgr_req_in in;
	if (c->lane_fd >= 0 && c->authed && c->lane == NULL &&
	    tp__mgr_req_read(msg, mlen, &in) && in.op == TP__MGR_LANE) {
		lane_setup(f, c, in.corr);
		return 0;
	}
	to_core(f, c, msg, mlen);
	return 0;
}

/* A unix connection's read: fds that come with the bytes are kept for a
 * lane offer (one, once authenticated), others closed. */
static ssize_t unix_read(struct fconn *c, void *buf, size_t n)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(4 * sizeof(int))];
	} cm;
	struct iovec iov = {buf, n};
	struct msghdr mh = {.msg_iov = &iov,
	                    .msg_iovlen = 1,
	                    .msg_control = cm.b,
	                    .msg_controllen = sizeof(cm.b)};
	ssize_t r = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (r < 0 || mh.msg_controllen == 0)
		return r;
	for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); h != NULL;
	     h = CMSG_NXTHDR(&mh, h)) {
		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof(fd));
			if (c->authed && c->lane == NULL && c->lane_fd < 0)
				c->lane_fd = fd;
			else
				close(fd);
		}
	}
	return r;
}

static int in_room(struct fconn *c, size_t need)
{
	if (need <= c->incap)
		return 0;
	uint8_t *n = realloc(c->in, need);
	if (n == NULL)
		return -1;
	c->in = n;
	c->incap = need;
	return 0;
}

/* Reads what is there (once: epoll is level-triggered) and handles every
 * whole frame; returns -1 when the connection is to be closed. */
static int fast_read_once(struct tp__mgr_fast *f, struct fconn *c)
{
	if (in_room(c, IN_MIN) != 0)
		return -1;
	ssize_t r;
	if (c->tls != NULL) {
		r = tp__mgr_tls_recv(c->tls, c->in + c->inlen,
		                     c->incap - c->inlen);
		if (r == -2)
			return 0;
	} else {
		r = f->tcp
		        ? read(c->fd, c->in + c->inlen, c->incap - c->inlen)
		        : unix_read(c, c->in + c->inlen, c->incap - c->inlen);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
	}
	if (r <= 0)
		return -1;
	c->inlen += (size_t)r;
	size_t off = 0;
	while (!c->closing && c->inlen - off >= 4) {
		const uint8_t *h = c->in + off;
		size_t len = (size_t)h[0] | (size_t)h[1] << 8 |
		             (size_t)h[2] << 16 | (size_t)h[3] << 24;
		size_t lim = !c->authed ? TP__MGR_PREAUTH_MAX
		                        : f->max + 4096 + TP__AUTH_SEAL;
		if (len > lim)
			return -1; /* before reading it */
		if (c->inlen - off - 4 < len)
			break;
		if (handle(f, c, h + 4, len) != 0)
			return -1;
		off += 4 + len;
	}
	if (c->closing)
		return 0; /* EOF follows */
	memmove(c->in, c->in + off, c->inlen - off);
	c->inlen -= off;
	if (c->inlen >= 4) { /* room for the frame being read */
		const uint8_t *h = c->in;
		size_t len = (size_t)h[0] | (size_t)h[1] << 8 |
		             (size_t)h[2] << 16 | (size_t)h[3] << 24;
		if (in_room(c, len + 4) != 0)
			return -1;
	} else if (c->incap > 65536) { /* after a big one */
		free(c->in);
		c->in = NULL;
		c->incap = 0;
	}
	return 0;
}

/* TLS may hold decrypted bytes the socket no longer signals: drain. */
static int fast_read(struct tp__mgr_fast *f, struct fconn *c)
{
	int rv;
	do
		rv = fast_read_once(f, c);
	while (rv == 0 && !c->closing && c->tls != NULL &&
	       tp__mgr_tls_pending(c->tls));
	return rv;
}

/* Closes connections that did not authenticate in time; returns the
 * next such deadline (0: none). */
static int64_t expire_preauth(struct tp__mgr_fast *f)
{
	for (;;) {
		struct fconn *o = f->npre ? oldest_preauth(f) : NULL;
		if (o == NULL)
			return 0;
		int64_t at = o->since + PREAUTH_MS;
		if (at > tp__now_ms())
			return at;
		conn_close(f, o);
	}
}

/* A connection's events (a closed one's never come: the reactor skips
 * removed sources). */
static void on_conn(tp__rsrc *src, uint32_t events, void *arg)
{
	struct fconn *c = arg;
	struct tp__mgr_fast *f = c->f;
	(void)src;
	int bad = 0, wr, in = (events & (EPOLLIN | EPOLLHUP | EPOLLERR));
	if (c->tls != NULL && !c->hs) {
		int r = tp__mgr_tls_step(c->tls, &wr);
		if (r < 0) {
			conn_close(f, c);
			return;
		}
		if (r == 0) {
			want_out(f, c, wr);
			return;
		}
		c->hs = 1; /* the first frame may have come with it */
		want_out(f, c, 0);
		in = 1;
	}
	if ((events & EPOLLOUT) && flush_out(f, c) != 0)
		bad = 1;
	if (!bad && in)
		bad = fast_read(f, c) != 0;
	if (bad)
		conn_close(f, c);
}

/* Takes what every lane holds; closes bogus ones. Returns how many
 * requests were taken. */
static int lane_poll(struct tp__mgr_fast *f)
{
	int did = 0;
	/* downwards: conn_close moves the last connection into i */
	for (size_t i = f->n; i-- > 0 && !tp__reactor_stopped(f->r);) {
		struct fconn *c = f->c[i];
		if (c->lane == NULL || c->closing)
			continue;
		int k = lane_take(f, c);
		if (k < 0)
			conn_close(f, c);
		else
			did += k;
	}
	return did;
}

/* 1 when a lane holds a request not yet taken. */
static int lane_pending(struct tp__mgr_fast *f)
{
	for (size_t i = 0; i < f->n; i++) {
		struct fconn *c = f->c[i];
		if (c->lane != NULL &&
		    __atomic_load_n(&c->lane->req_seq, __ATOMIC_RELAXED) !=
		        c->lane_seq)
			return 1;
	}
	return 0;
}

/* The reactor's idle hook (before it would sleep): serves the lanes;
 * within win of the last lane request it spins (polls the lanes for
 * TP__LANE_SPIN_MIN, then lets the reactor poll its fds and comes back);
 * past that it marks every lane "server sleeping" (Dekker: flag, fence,
 * check again) and lets the reactor sleep: a client then sends a wake
 * frame with its request. win is an adaptive budget (struct
 * tp__lane_spin: doubled after a spin that caught a request, halved after
 * one that ran out, at least TP__LANE_SRV_MIN), none after a reply whose
 * client slept (lane_reply), and a spin that finds it was
 * descheduled (a busy machine: a runnable spinner waits a whole time slice, a
 * sleeper woken by a socket runs at once) stops at once. No sched_yield: it
 * would hand the CPU to another task for a slice. */
static int lane_idle(void *arg)
{
	struct tp__mgr_fast *f = arg;
	if (f->nlane == 0)
		return 0;
	if (lane_poll(f) > 0)
		return 1;
	uint64_t t0 = tp__now_ns(), last = t0, t = t0;
	if (f->win != 0 && t0 - f->lane_last < f->win) {
		do {
			for (int i = 0; i < 16; i++)
				tp__lane_relax();
			if (lane_pending(f)) {
				lane_poll(f);
				return 1;
			}
			t = tp__now_ns();
			if (t - last > TP__LANE_GAP)
				break; /* descheduled */
			last = t;
		} while (t - t0 < TP__LANE_SPIN_MIN);
		if (t - last <= TP__LANE_GAP)
			return 1;
	}
	if (f->lane_last != 0) { /* a spin ran out (or was cut short) */
		f->lane_last = 0;
		tp__lane_miss(&f->sp, f->win);
	}
	for (size_t i = 0; i < f->n; i++)
		if (f->c[i]->lane != NULL)
			__atomic_store_n(&f->c[i]->lane->srv_sleep, 1,
			                 __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* against req_seq's */
	return lane_poll(f) > 0;
}

static void on_listener(tp__rsrc *src, uint32_t events, void *arg)
{
	struct tp__mgr_fast *f = arg;
	(void)src;
	(void)events;
	fast_accept(f);
	if (f->npre > 0 && tp__reactor_timer_due(f->timer) == 0)
		tp__reactor_timer_set(f->timer, expire_preauth(f));
}

/* The oldest unauthenticated connection's deadline. */
static void on_preauth(tp__rsrc *src, uint32_t events, void *arg)
{
	(void)events;
	tp__reactor_timer_set(src, expire_preauth(arg));
}

static int listen_unix(struct tp__mgr_fast *f, const char *addr)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	const char *path = addr + 6; /* after ipc:// */
	if (strlen(path) >= sizeof(sa.sun_path))
		return TP_EINVAL;
	snprintf(f->path, sizeof(f->path), "%s", path);
	memcpy(sa.sun_path, path, strlen(path));
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	unlink(f->path); /* a stale socket of a dead manager */
	if (f->lfd < 0 ||
	    bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		f->path[0] = '\0';
		return tp_err_errno(errno);
	}
	return TP_OK;
}

/* Binds a tcp://host:port address; port 0 becomes the chosen one in
 * bound. */
static int listen_tcp(struct tp__mgr_fast *f, const char *addr, char *bound,
                      size_t blen)
{
	struct addrinfo *ai;
	int rv = tp__tcp_resolve(addr, 1, &ai);
	if (rv != TP_OK)
		return rv == TP_ENOENT ? TP_EINVAL : rv;
	f->tcp = 1;
	f->lfd = socket(ai->ai_family,
	                SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (f->lfd < 0 ||
	    setsockopt(f->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(f->lfd, ai->ai_addr, ai->ai_addrlen) != 0)
		rv = tp_err_errno(errno);
	freeaddrinfo(ai);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (rv == TP_OK &&
	    getsockname(f->lfd, (struct sockaddr *)&ss, &sl) == 0) {
		unsigned p =
		    ss.ss_family == AF_INET6
		        ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
		        : ntohs(((struct sockaddr_in *)&ss)->sin_port);
		size_t k = (size_t)(strrchr(addr, ':') - addr);
		snprintf(bound, blen, "%.*s:%u", (int)k, addr, p);
	}
	return rv;
}

int tp__mgr_fast_start(struct tp__mgr_fast **out, const char *addr, char *bound,
                       size_t blen, struct tp__mgr_tls_srv *tls,
                       struct tp__mgr_core *core, tp__reactor *r, size_t max,
                       void (*kick)(void *), void *kick_arg)
{
	struct tp__mgr_fast *f = calloc(1, sizeof(*f));
	if (f == NULL) {
		tp__mgr_tls_srv_free(tls);
		return TP_ENOMEM;
	}
	f->lfd = -1;
	f->tls = tls;
	f->core = core;
	f->r = r;
	f->kick = kick;
	f->kick_arg = kick_arg;
	f->max = max;
	snprintf(bound, blen, "%s", addr);
	int rv = strncmp(addr, "ipc://", 6) == 0
	             ? listen_unix(f, addr)
	             : listen_tcp(f, addr, bound, blen);
	if (rv == TP_OK && listen(f->lfd, 128) != 0)
		rv = tp_err_errno(errno);
	if (rv == TP_OK)
		rv = tp__reactor_add_fd(r, f->lfd, EPOLLIN, on_listener, f,
		                        &f->lsrc);
	if (rv == TP_OK)
		rv = tp__reactor_add_timer(r, 0, on_preauth, f, &f->timer);
	if (rv == TP_OK && !f->tcp) {
		f->spin = tp__lane_can_spin();
		f->sp.ns = TP__LANE_SPIN_MAX;
		tp__reactor_on_idle(r, lane_idle, f);
	}
	if (rv != TP_OK) {
		tp__mgr_fast_stop(f);
		return rv;
	}
	*out = f;
	return TP_OK;
}

void tp__mgr_fast_stop(struct tp__mgr_fast *f)
{
	if (f == NULL)
		return;
	while (f->n > 0) {
		flush_out(f, f->c[0]);
		conn_close(f, f->c[0]);
	}
	free(f->c);
	free(f->lbuf);
	if (!f->tcp)
		tp__reactor_on_idle(f->r, NULL, NULL);
	tp__reactor_del(f->lsrc);
	tp__reactor_del(f->timer);
	if (f->lfd >= 0)
		close(f->lfd);
	if (f->path[0] != '\0')
		unlink(f->path);
	tp__mgr_tls_srv_free(f->tls);
	free(f);
}
