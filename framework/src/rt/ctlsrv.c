/*
 * ctlsrv.c - the control server of the troupe daemon (apps/cli) and of
 * any program that opens one: a Unix stream socket (mode 0600 in a
 * private directory), one request frame in, one reply frame out, then the
 * connection is closed. What a request does is the owner's handler
 * (ctlsrv.h); the frames and their I/O are here too.
 *
 * One bad peer cannot wedge it (this replaced nng req/rep, whose ipc
 * listener nng 1.5.2 wedges when a peer leaves before the SP handshake;
 * docs/architecture.md). One loop thread owns every connection that is
 * still sending its request: non-blocking sockets in a poll set, each
 * with a read deadline (CTL_READ_MS) and a frame size cap (CTL_MAX_REQ);
 * a peer that closes, resets, stalls or sends a bad length is dropped
 * without touching the others, and when CTL_MAX_CONNS are pending the
 * oldest is dropped for the newcomer. A complete request goes to a small
 * pool of workers (a `stop` waiting out a slow child does not hold up
 * `status`); a worker writes the reply with a deadline (CTL_WRITE_MS).
 *
 * With ops.workers == 0 (a program's own server, where a thread blocked
 * in poll is all it may cost) the loop thread serves each request itself
 * and keeps its reply with the connection, written as the peer takes it
 * (POLLOUT in the same poll set, deadline CTL_WRITE_MS): a peer that
 * stalls while sending its request or while reading its reply holds up
 * no other peer; the handler itself runs on the loop, so it must be
 * quick (status) or bounded (stop waits out the child's shutdown time).
 *
 * The peer's uid is read with SO_PEERCRED at accept: only the server's
 * own user (or root) is served; anyone else gets a TP_EPERM reply. A
 * malformed request gets a TP_EDECODE reply and changes nothing.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "ctlsrv.h"
#include "runtime_int.h"
#include "troupe/error.h"
#include "wire.h"

#define CTL_MAX_CONNS TP_CTL_MAX_CONNS
#define CTL_MAX_QUEUE TP_CTL_MAX_QUEUE
#define CTL_READ_MS   TP_CTL_READ_MS
#define CTL_WRITE_MS  TP_CTL_WRITE_MS
#define CTL_PAUSE_MS  TP_CTL_PAUSE_MS
#define CTL_WORKERS   8 /* at most */

struct conn {
	int fd;
	int allowed; /* SO_PEERCRED: the daemon's uid or root */
	struct tp__ctl_peer peer;
	unsigned char hdr[4];
	size_t got; /* bytes of header + body read */
	uint32_t len;
	unsigned char *body;
	int64_t deadline;
	unsigned char *out; /* the reply still to write (inline serving) */
	size_t out_len, out_at;
	struct conn *next; /* the work queue */
};

struct tp__ctlsrv {
	struct tp__ctlsrv_ops ops;
	char path[108];
	int lfd, wake;
	pthread_t loop;
	pthread_t w[CTL_WORKERS];
	int nw, loop_started;
	struct conn *pending[CTL_MAX_CONNS]; /* the loop's own */
	int npending;
	pthread_mutex_t mu; /* guards the queue and stopping */
	pthread_cond_t cv;
	struct conn *head, *tail;
	int nqueued, stopping;
	int nrunning;         /* threads that have started (guarded by mu) */
	int64_t paused_until; /* out of fds: the listener rests till then */
	dev_t dev; /* the socket file we made: removed at stop only if it */
	ino_t ino; /* is still ours (a failed daemon must not remove the
	            * next one's) */
};

static void conn_free(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->body);
	free(c->out);
	free(c);
}

/* A thread says it runs; start waits for every one (see start_threads). */
static void running(struct tp__ctlsrv *c)
{
	pthread_mutex_lock(&c->mu);
	c->nrunning++;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static void drop_pending(struct tp__ctlsrv *c, int i)
{
	conn_free(c->pending[i]);
	c->pending[i] = c->pending[--c->npending];
}

static int peer_allowed(int fd, struct tp__ctl_peer *p)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0)
		return 0;
	p->pid = cr.pid;
	p->uid = cr.uid;
	return cr.uid == geteuid() || cr.uid == 0;
}

/* Reads what is there: 1 the request is complete, 0 more to come, -1
 * drop the connection (closed, reset, oversized). */
static int conn_read(struct conn *c)
{
	for (;;) {
		unsigned char *dst;
		size_t want;
		if (c->got < 4) {
			dst = c->hdr + c->got;
			want = 4 - c->got;
		} else {
			dst = c->body + (c->got - 4);
			want = c->len - (c->got - 4);
		}
		if (want == 0)
			return 1;
		ssize_t n = recv(c->fd, dst, want, MSG_DONTWAIT);
		if (n == 0)
			return -1;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
		c->got += (size_t)n;
		if (c->got == 4) {
			c->len = tp__ctl_frame_len(c->hdr);
			if (c->len > TP_CTL_MAX_REQ ||
			    (c->body = malloc(c->len ? c->len : 1)) == NULL)
				return -1;
		}
	}
}

static void enqueue(struct tp__ctlsrv *c, struct conn *k)
{
	pthread_mutex_lock(&c->mu);
	if (c->nqueued >= CTL_MAX_QUEUE || c->stopping) {
		pthread_mutex_unlock(&c->mu);
		conn_free(k);
		return;
	}
	k->next = NULL;
	if (c->tail)
		c->tail->next = k;
	else
		c->head = k;
	c->tail = k;
	c->nqueued++;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static int oldest(const struct tp__ctlsrv *c)
{
	int old = 0;
	for (int i = 1; i < c->npending; i++)
		if (c->pending[i]->deadline < c->pending[old]->deadline)
			old = i;
	return old;
}

static void accept_all(struct tp__ctlsrv *c)
{
	for (;;) {
		int fd =
		    accept4(c->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0 && (errno == EMFILE || errno == ENFILE ||
		               errno == ENOBUFS || errno == ENOMEM)) {
			/* Out of fds: a waiting peer would keep the listener
			 * readable and the loop spinning. Free one for it, or
			 * rest when there is none to free. */
			if (c->npending == 0) {
				c->paused_until = tp__now_ms() + CTL_PAUSE_MS;
				return;
			}
			drop_pending(c, oldest(c));
			continue;
		}
		if (fd < 0)
			return;
		struct conn *k = calloc(1, sizeof(*k));
		if (k == NULL) {
			close(fd);
			continue;
		}
		k->fd = fd;
		k->allowed = peer_allowed(fd, &k->peer);
		k->deadline = tp__now_ms() + CTL_READ_MS;
		if (c->npending == CTL_MAX_CONNS)
			drop_pending(c, oldest(c));
		c->pending[c->npending++] = k;
	}
}

static int reply_frame(struct tp__ctlsrv *c, struct conn *k,
                       unsigned char **buf, size_t *len);

/* Writes what the socket takes of k's reply: 1 all written, 0 more to
 * come, -1 drop the connection. */
static int conn_write(struct tp__ctlsrv *c, struct conn *k)
{
	(void)c;
	while (k->out_at < k->out_len) {
		ssize_t n =
		    send(k->fd, k->out + k->out_at, k->out_len - k->out_at,
		         MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
		k->out_at += (size_t)n;
	}
	return 1;
}

/* Without workers: the loop serves the request at once and keeps the
 * reply in k (slot i), written as the peer takes it, so a peer that does
 * not read its reply holds up nobody (it is dropped at its write
 * deadline). */
static void serve_inline(struct tp__ctlsrv *c, struct conn *k, int i)
{
	int rv = reply_frame(c, k, &k->out, &k->out_len);
	free(k->body);
	k->body = NULL;
	if (rv != TP_OK) {
		drop_pending(c, i);
		return;
	}
	k->deadline = tp__now_ms() + CTL_WRITE_MS;
	int r = conn_write(c, k);
	if (r != 0) {
		drop_pending(c, i);
		if (r > 0 && c->ops.after_reply != NULL)
			c->ops.after_reply(c->ops.arg);
	}
}

/* One turn of the loop over the pending connections' poll results. */
static void service(struct tp__ctlsrv *c, struct pollfd *p)
{
	int64_t now = tp__now_ms();
	/* Backwards: drop_pending moves the last entry into slot i. */
	for (int i = c->npending - 1; i >= 0; i--) {
		struct conn *k = c->pending[i];
		int r = 0;
		if (k->out != NULL) {
			if (p[i + 2].revents != 0)
				r = conn_write(c, k);
			if (r == 0 && now >= k->deadline)
				r = -1;
			if (r != 0)
				drop_pending(c, i);
			if (r > 0 && c->ops.after_reply != NULL)
				c->ops.after_reply(c->ops.arg);
			continue;
		}
		if (p[i + 2].revents != 0)
			r = conn_read(k);
		if (r == 0 && now >= k->deadline)
			r = -1;
		if (r < 0) {
			drop_pending(c, i);
		} else if (r > 0 && c->nw > 0) {
			c->pending[i] = c->pending[--c->npending];
			enqueue(c, k);
		} else if (r > 0) {
			serve_inline(c, k, i);
		}
	}
	if (p[0].revents & POLLIN)
		accept_all(c);
}

static void *loop(void *arg)
{
	struct tp__ctlsrv *c = arg;
	struct pollfd p[CTL_MAX_CONNS + 2];
	running(c);
	for (;;) {
		int64_t now = tp__now_ms(), wait = -1;
		int rest = now < c->paused_until;
		p[0] =
		    (struct pollfd){.fd = rest ? -1 : c->lfd, .events = POLLIN};
		if (rest)
			wait = c->paused_until - now;
		p[1] = (struct pollfd){.fd = c->wake, .events = POLLIN};
		for (int i = 0; i < c->npending; i++) {
			struct conn *k = c->pending[i];
			p[i + 2] = (struct pollfd){
			    .fd = k->fd, .events = k->out ? POLLOUT : POLLIN};
			int64_t left =
			    k->deadline > now ? k->deadline - now : 0;
			if (wait < 0 || left < wait)
				wait = left;
		}
		int n = poll(p, (nfds_t)c->npending + 2, (int)wait);
		if (n < 0 && errno != EINTR)
			break;
		if (n < 0)
			continue;
		if (p[1].revents)
			break;
		service(c, p);
	}
	while (c->npending > 0)
		drop_pending(c, 0);
	return NULL;
}

static void reply_to(struct tp__ctlsrv *c, struct conn *k,
                     Troupe__SupReply *rep)
{
	Troupe__Envelope *env = NULL;
	if (!k->allowed) {
		rep->code = TP_EPERM;
		rep->message = strdup(c->ops.denied);
		return;
	}
	int rv = tp__envelope_unpack(k->body, k->len, TP_CTL_MAX_REQ, &env);
	if (rv == TP_OK && env->body_case != TROUPE__ENVELOPE__BODY_SUP_REQUEST)
		rv = TP_EDECODE;
	if (rv != TP_OK) {
		rep->code = rv;
		rep->message = strdup("malformed request\n");
	} else {
		c->ops.handle(c->ops.arg, env->sup_request, rep, &k->peer);
	}
	tp__envelope_free(env);
}

/* k's request served and its reply packed into *buf (malloc'ed). */
static int reply_frame(struct tp__ctlsrv *c, struct conn *k,
                       unsigned char **buf, size_t *len)
{
	Troupe__SupReply rep = TROUPE__SUP_REPLY__INIT;
	Troupe__Envelope env = TROUPE__ENVELOPE__INIT;
	reply_to(c, k, &rep);
	env.body_case = TROUPE__ENVELOPE__BODY_SUP_REPLY;
	env.sup_reply = &rep;
	env.sender = (char *)c->ops.sender;
	int rv = tp__ctl_frame_pack(&env, TP_CTL_MAX_MSG, buf, len);
	c->ops.reply_free(&rep);
	if (rv != TP_OK) {
		Troupe__SupReply small = TROUPE__SUP_REPLY__INIT;
		small.code = rv;
		small.message = (char *)tp_strerror(rv);
		env.sup_reply = &small;
		rv = tp__ctl_frame_pack(&env, TP_CTL_MAX_MSG, buf, len);
	}
	return rv;
}

static void serve(struct tp__ctlsrv *c, struct conn *k)
{
	unsigned char *buf;
	size_t len;
	if (reply_frame(c, k, &buf, &len) == TP_OK) {
		tp__ctl_write_all(k->fd, buf, len, tp__now_ms() + CTL_WRITE_MS);
		free(buf);
	}
	conn_free(k);
	if (c->ops.after_reply != NULL)
		c->ops.after_reply(c->ops.arg);
}

static void *worker(void *arg)
{
	struct tp__ctlsrv *c = arg;
	running(c);
	for (;;) {
		pthread_mutex_lock(&c->mu);
		while (c->head == NULL && !c->stopping)
			pthread_cond_wait(&c->cv, &c->mu);
		struct conn *k = c->stopping ? NULL : c->head;
		if (k != NULL) {
			c->head = k->next;
			if (c->head == NULL)
				c->tail = NULL;
			c->nqueued--;
		}
		pthread_mutex_unlock(&c->mu);
		if (k == NULL)
			return NULL;
		serve(c, k);
	}
}

static int listen_at(struct tp__ctlsrv *c, const char *path)
{
	struct stat st;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return TP_EINVAL;
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return tp_err_errno(errno);
	/* No connection is possible before listen(), so chmod closes the
	 * window bind leaves open (its mode follows the umask). */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    chmod(path, 0600) != 0 || stat(path, &st) != 0 ||
	    listen(fd, 64) != 0) {
		int e = errno;
		close(fd);
		return tp_err_errno(e);
	}
	c->lfd = fd;
	c->dev = st.st_dev;
	c->ino = st.st_ino;
	return TP_OK;
}

static int start_threads(struct tp__ctlsrv *c)
{
	if (tp__thread_start(&c->loop, loop, c) != TP_OK)
		return TP_ENOMEM;
	c->loop_started = 1;
	int want = c->ops.workers < CTL_WORKERS ? c->ops.workers : CTL_WORKERS;
	int rv = TP_OK;
	for (c->nw = 0; c->nw < want; c->nw++)
		if (tp__thread_start(&c->w[c->nw], worker, c) != TP_OK) {
			rv = c->nw > 0 ? TP_OK : TP_ENOMEM;
			break;
		}
	/* Start returns once every thread runs: a fork right after (the
	 * fork start method) then never copies a thread half-way through
	 * its start-up, when a sanitizer's allocator may hold its locks. */
	pthread_mutex_lock(&c->mu);
	while (c->nrunning < 1 + c->nw)
		pthread_cond_wait(&c->cv, &c->mu);
	pthread_mutex_unlock(&c->mu);
	return rv;
}

int tp__ctlsrv_start(struct tp__ctlsrv **out, const char *path,
                     const struct tp__ctlsrv_ops *ops)
{
	struct tp__ctlsrv *c;
	int rv;
	if (out == NULL || path == NULL || ops == NULL || ops->handle == NULL ||
	    ops->reply_free == NULL || strlen(path) >= sizeof(c->path))
		return TP_EINVAL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return TP_ENOMEM;
	c->ops = *ops;
	if (c->ops.sender == NULL)
		c->ops.sender = "troupe";
	if (c->ops.denied == NULL)
		c->ops.denied = "permission denied: not the owner's user\n";
	snprintf(c->path, sizeof(c->path), "%s", path);
	c->lfd = c->wake = -1;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	if ((c->wake = eventfd(0, EFD_CLOEXEC)) < 0)
		rv = tp_err_errno(errno);
	else if ((rv = listen_at(c, path)) == TP_OK)
		rv = start_threads(c);
	if (rv != TP_OK) {
		tp__ctlsrv_stop(c);
		c = NULL;
	}
	*out = c;
	return rv;
}

void tp__ctlsrv_stop(struct tp__ctlsrv *c)
{
	uint64_t one = 1;
	if (c == NULL)
		return;
	if (c->loop_started) {
		(void)!write(c->wake, &one, sizeof(one));
		pthread_join(c->loop, NULL);
	}
	pthread_mutex_lock(&c->mu);
	c->stopping = 1;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	for (int i = 0; i < c->nw; i++)
		pthread_join(c->w[i], NULL);
	while (c->head != NULL) {
		struct conn *k = c->head;
		c->head = k->next;
		conn_free(k);
	}
	if (c->lfd >= 0) {
		struct stat st;
		close(c->lfd);
		if (stat(c->path, &st) == 0 && st.st_dev == c->dev &&
		    st.st_ino == c->ino)
			unlink(c->path);
	}
	if (c->wake >= 0)
		close(c->wake);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c);
}

/* ---- frames ---- */

int tp__ctl_frame_pack(const Troupe__Envelope *env, size_t max,
                       unsigned char **out, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(&env->base);
	if (n > max)
		return TP_ETOOBIG;
	unsigned char *buf = malloc(n + 4);
	if (buf == NULL)
		return TP_ENOMEM;
	for (int i = 0; i < 4; i++) /* little-endian */
		buf[i] = (unsigned char)(n >> (8 * i));
	protobuf_c_message_pack(&env->base, buf + 4);
	*out = buf;
	*len = n + 4;
	return TP_OK;
}

uint32_t tp__ctl_frame_len(const unsigned char h[4])
{
	return (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 |
	       (uint32_t)h[3] << 24;
}

/* Waits until fd is ready for ev or the deadline passes. */
static int wait_fd(int fd, short ev, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - tp__now_ms();
		if (left <= 0)
			return TP_ETIMEDOUT;
		struct pollfd p = {.fd = fd, .events = ev};
		int n = poll(&p, 1, (int)left);
		if (n > 0)
			return TP_OK;
		if (n < 0 && errno != EINTR)
			return tp_err_errno(errno);
	}
}

int tp__ctl_write_all(int fd, const void *buf, size_t len, int64_t deadline)
{
	const unsigned char *p = buf;
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return errno == EPIPE || errno == ECONNRESET
			           ? TP_ECLOSED
			           : tp_err_errno(errno);
		int rv = wait_fd(fd, POLLOUT, deadline);
		if (rv != TP_OK)
			return rv;
	}
	return TP_OK;
}

int tp__ctl_read_all(int fd, void *buf, size_t len, int64_t deadline)
{
	unsigned char *p = buf;
	while (len > 0) {
		ssize_t n = recv(fd, p, len, MSG_DONTWAIT);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == 0)
			return TP_ECLOSED;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return errno == ECONNRESET ? TP_ECLOSED
			                           : tp_err_errno(errno);
		int rv = wait_fd(fd, POLLIN, deadline);
		if (rv != TP_OK)
			return rv;
	}
	return TP_OK;
}
