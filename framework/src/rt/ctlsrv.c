/*
 * ctlsrv.c - the control server of the troupe daemon (apps/cli) and of
 * any program that opens one: a Unix stream socket (mode 0600 in a
 * private directory), one request frame in, one reply frame out, then the
 * connection is closed. What a request does is the owner's handler
 * (ctlsrv.h); the frames and their I/O are here too.
 *
 * One bad peer cannot wedge it (this replaced nng req/rep, whose ipc
 * listener nng 1.5.2 wedges when a peer leaves before the SP handshake;
 * docs/architecture.md). One loop thread, running a reactor of its own
 * (rt/reactor.h: the listener and each connection fd sources, one timer
 * for the deadlines, a wake source for stop and for replies that come
 * later), owns every connection that is still sending its request:
 * non-blocking sockets, each with a read deadline (CTL_READ_MS) and a frame
 * size cap (CTL_MAX_REQ); a peer that closes, resets, stalls or sends a bad
 * length is dropped without touching the others, and when CTL_MAX_CONNS are
 * pending the oldest is dropped for the newcomer. A complete request goes to a
 * small pool of workers (a `stop` waiting out a slow child does not hold up
 * `status`); a worker writes the reply with a deadline (CTL_WRITE_MS).
 *
 * With ops.workers == 0 (a program's own server, where one thread
 * sleeping in epoll_wait is all it may cost) the loop thread serves each
 * request itself and keeps its reply with the connection, written as the
 * peer takes it (EPOLLOUT, deadline CTL_WRITE_MS): a peer that stalls
 * while sending its request or while reading its reply holds up no other
 * peer. The handler runs on the loop, so it must be quick (status); a
 * request that waits (a stop waiting out a child's shutdown time) is
 * taken by ops.take instead, its connection kept quiet until the owner
 * calls tp__ctlsrv_reply_later from any thread, and the loop writes that
 * reply as any other.
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
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "ctlsrv.h"
#include "reactor.h"
#include "runtime_int.h"
#include "troupe/error.h"
#include "wire.h"

#define CTL_MAX_CONNS TP_CTL_MAX_CONNS
#define CTL_MAX_QUEUE TP_CTL_MAX_QUEUE
#define CTL_READ_MS   TP_CTL_READ_MS
#define CTL_WRITE_MS  TP_CTL_WRITE_MS
#define CTL_PAUSE_MS  TP_CTL_PAUSE_MS
#define CTL_WORKERS   8 /* at most */
#define NEVER         INT64_MAX

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
	uint64_t id;       /* a request taken (ops.take): its reply's key */
	int waiting;       /* taken: its reply is not there yet */
	tp__rsrc *src;     /* the loop's fd source */
	struct conn *next; /* the work queue */
};

/* A reply that came later (tp__ctlsrv_reply_later), on its way to the
 * loop. */
struct later_rep {
	uint64_t id;
	unsigned char *buf;
	size_t len;
	struct later_rep *next;
};

struct tp__ctl_later {
	struct tp__ctlsrv *srv;
	uint64_t id;
};

struct tp__ctlsrv {
	struct tp__ctlsrv_ops ops;
	char path[108];
	int lfd;
	tp__reactor *rx;
	tp__rsrc *lsrc, *wake, *tick;
	pthread_t loop;
	pthread_t w[CTL_WORKERS];
	int nw, loop_started;
	struct conn *pending[CTL_MAX_CONNS]; /* the loop's own */
	int npending;
	uint64_t next_id;
	pthread_mutex_t mu; /* guards the queue, stopping, later, refs */
	pthread_cond_t cv;
	struct conn *head, *tail;
	int nqueued, stopping;
	int nrunning; /* threads that have started (guarded by mu) */
	int refs;     /* 1 + replies still to come later */
	int gone;     /* stopped: later replies are dropped */
	struct later_rep *later;
	int64_t paused_until; /* out of fds: the listener rests till then */
	dev_t dev; /* the socket file we made: removed at stop only if it */
	ino_t ino; /* is still ours (a failed daemon must not remove the
	            * next one's) */
};

static void conn_free(struct conn *c)
{
	tp__reactor_del(c->src);
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

static int slot_of(const struct tp__ctlsrv *c, const struct conn *k)
{
	for (int i = 0; i < c->npending; i++)
		if (c->pending[i] == k)
			return i;
	return -1;
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
	tp__reactor_del(k->src); /* the worker's now */
	k->src = NULL;
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

/* The connection to drop for a newcomer: the one whose deadline comes
 * first (one waiting for a later reply last). */
static int oldest(const struct tp__ctlsrv *c)
{
	int old = 0;
	for (int i = 1; i < c->npending; i++)
		if (c->pending[i]->deadline < c->pending[old]->deadline)
			old = i;
	return old;
}

static void on_conn(tp__rsrc *s, uint32_t ev, void *arg);

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
				tp__reactor_mod_fd(c->lsrc, 0);
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
		if (tp__reactor_add_fd(c->rx, fd, EPOLLIN, on_conn, c,
		                       &k->src) != TP_OK) {
			k->src = NULL;
			conn_free(k);
			continue;
		}
		if (c->npending == CTL_MAX_CONNS)
			drop_pending(c, oldest(c));
		c->pending[c->npending++] = k;
	}
}

static int reply_frame(struct tp__ctlsrv *c, struct conn *k,
                       unsigned char **buf, size_t *len);

/* Writes what the socket takes of k's reply: 1 all written, 0 more to
 * come, -1 drop the connection. */
static int conn_write(struct conn *k)
{
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

/* k (slot i) has its reply in k->out: written as the peer takes it, so
 * a peer that does not read its reply holds up nobody (it is dropped at
 * its write deadline). */
static void reply_ready(struct tp__ctlsrv *c, struct conn *k, int i)
{
	k->waiting = 0;
	k->deadline = tp__now_ms() + CTL_WRITE_MS;
	int r = conn_write(k);
	if (r == 0 && tp__reactor_mod_fd(k->src, EPOLLOUT) != TP_OK)
		r = -1;
	if (r != 0) {
		drop_pending(c, i);
		if (r > 0 && c->ops.after_reply != NULL)
			c->ops.after_reply(c->ops.arg);
	}
}

/* Without workers: the loop serves the request at once (or hands it to
 * ops.take, whose reply comes later) and keeps the reply in k. */
static void serve_inline(struct tp__ctlsrv *c, struct conn *k, int i)
{
	int rv = reply_frame(c, k, &k->out, &k->out_len);
	free(k->body);
	k->body = NULL;
	if (rv != TP_OK) {
		drop_pending(c, i);
		return;
	}
	if (k->waiting) {
		/* Quiet until its reply comes (tp__ctlsrv_reply_later). */
		k->deadline = NEVER;
		if (tp__reactor_mod_fd(k->src, 0) != TP_OK)
			drop_pending(c, i);
		return;
	}
	reply_ready(c, k, i);
}

/* A connection's socket is ready. */
static void on_conn(tp__rsrc *s, uint32_t ev, void *arg)
{
	struct tp__ctlsrv *c = arg;
	struct conn *k = NULL;
	int i;
	for (i = 0; i < c->npending && k == NULL; i++)
		if (c->pending[i]->src == s)
			k = c->pending[i];
	if (k == NULL)
		return;
	i--;
	int r;
	if (k->out != NULL) {
		r = conn_write(k);
		if (r != 0)
			drop_pending(c, i);
		if (r > 0 && c->ops.after_reply != NULL)
			c->ops.after_reply(c->ops.arg);
		return;
	}
	if (k->waiting) {
		/* Quiet, but epoll tells of a hang-up anyway: the peer left,
		 * its reply will be dropped. */
		if (ev & (EPOLLHUP | EPOLLERR))
			drop_pending(c, i);
		return;
	}
	r = conn_read(k);
	if (r < 0) {
		drop_pending(c, i);
	} else if (r > 0 && c->nw > 0) {
		c->pending[i] = c->pending[--c->npending];
		enqueue(c, k);
	} else if (r > 0) {
		serve_inline(c, k, i);
	}
}

static void on_listen(tp__rsrc *s, uint32_t ev, void *arg)
{
	(void)s;
	(void)ev;
	accept_all(arg);
}

/* Replies that came later go to their connections (gone ones: dropped). */
static void on_wake(tp__rsrc *s, uint32_t ev, void *arg)
{
	struct tp__ctlsrv *c = arg;
	(void)s;
	(void)ev;
	pthread_mutex_lock(&c->mu);
	struct later_rep *l = c->later;
	c->later = NULL;
	int stop = c->stopping;
	pthread_mutex_unlock(&c->mu);
	while (l != NULL) {
		struct later_rep *next = l->next;
		struct conn *k = NULL;
		for (int i = 0; i < c->npending && k == NULL; i++)
			if (c->pending[i]->waiting &&
			    c->pending[i]->id == l->id)
				k = c->pending[i];
		if (k != NULL) {
			k->out = l->buf;
			k->out_len = l->len;
			reply_ready(c, k, slot_of(c, k));
		} else {
			free(l->buf);
		}
		free(l);
		l = next;
	}
	if (stop)
		tp__reactor_stop(c->rx);
}

static void on_tick(tp__rsrc *s, uint32_t ev, void *arg)
{
	(void)s;
	(void)ev;
	(void)arg; /* the round hook drops what is late */
}

/* After every round: connections past their deadline are dropped, the
 * listener comes back after a rest, and the tick is armed for the next
 * deadline. */
static void on_round(void *arg)
{
	struct tp__ctlsrv *c = arg;
	int64_t now = tp__now_ms(), next = 0;
	if (c->paused_until != 0 && now >= c->paused_until) {
		c->paused_until = 0;
		tp__reactor_mod_fd(c->lsrc, EPOLLIN);
	}
	if (c->paused_until != 0)
		next = c->paused_until;
	/* Backwards: drop_pending moves the last entry into slot i. */
	for (int i = c->npending - 1; i >= 0; i--) {
		int64_t d = c->pending[i]->deadline;
		if (d == NEVER)
			continue;
		if (now >= d)
			drop_pending(c, i);
		else if (next == 0 || d < next)
			next = d;
	}
	tp__reactor_timer_set(c->tick, next);
}

static void *loop(void *arg)
{
	struct tp__ctlsrv *c = arg;
	running(c);
	tp__reactor_run(c->rx);
	while (c->npending > 0)
		drop_pending(c, 0);
	return NULL;
}

/* Hands k's request to ops.take (a program's stop, whose reply comes
 * later): 1 when it took it. */
static int take(struct tp__ctlsrv *c, struct conn *k,
                const Troupe__SupRequest *req)
{
	struct tp__ctl_later *l;
	if (c->ops.take == NULL || c->nw > 0 ||
	    (l = malloc(sizeof(*l))) == NULL)
		return 0;
	l->srv = c;
	l->id = ++c->next_id;
	pthread_mutex_lock(&c->mu);
	c->refs++;
	pthread_mutex_unlock(&c->mu);
	uint64_t id = l->id; /* l may be gone when take returns */
	if (c->ops.take(c->ops.arg, req, &k->peer, l)) {
		k->waiting = 1;
		k->id = id;
		return 1;
	}
	pthread_mutex_lock(&c->mu);
	c->refs--;
	pthread_mutex_unlock(&c->mu);
	free(l);
	return 0;
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
	} else if (!take(c, k, env->sup_request)) {
		c->ops.handle(c->ops.arg, env->sup_request, rep, &k->peer);
	}
	tp__envelope_free(env);
}

/* rep packed as a reply frame into *buf (malloc'ed); what the handler
 * put in rep is freed. */
static int pack_reply(struct tp__ctlsrv *c, Troupe__SupReply *rep,
                      unsigned char **buf, size_t *len)
{
	Troupe__Envelope env = TROUPE__ENVELOPE__INIT;
	env.body_case = TROUPE__ENVELOPE__BODY_SUP_REPLY;
	env.sup_reply = rep;
	env.sender = (char *)c->ops.sender;
	int rv = tp__ctl_frame_pack(&env, TP_CTL_MAX_MSG, buf, len);
	c->ops.reply_free(rep);
	if (rv != TP_OK) {
		Troupe__SupReply small = TROUPE__SUP_REPLY__INIT;
		small.code = rv;
		small.message = (char *)tp_strerror(rv);
		env.sup_reply = &small;
		rv = tp__ctl_frame_pack(&env, TP_CTL_MAX_MSG, buf, len);
	}
	return rv;
}

/* k's request served and its reply packed into *buf (malloc'ed); a
 * request taken for later leaves k->waiting set and *buf alone. */
static int reply_frame(struct tp__ctlsrv *c, struct conn *k,
                       unsigned char **buf, size_t *len)
{
	Troupe__SupReply rep = TROUPE__SUP_REPLY__INIT;
	reply_to(c, k, &rep);
	if (k->waiting)
		return TP_OK;
	return pack_reply(c, &rep, buf, len);
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

/* The loop's reactor: the listener, the doorbell, the deadline tick. */
static int loop_new(struct tp__ctlsrv *c)
{
	int rv = tp__reactor_new(&c->rx);
	if (rv == TP_OK)
		rv = tp__reactor_add_wake(c->rx, on_wake, c, &c->wake);
	if (rv == TP_OK)
		rv = tp__reactor_add_fd(c->rx, c->lfd, EPOLLIN, on_listen, c,
		                        &c->lsrc);
	if (rv == TP_OK)
		rv = tp__reactor_add_timer(c->rx, 0, on_tick, c, &c->tick);
	if (rv == TP_OK)
		tp__reactor_on_round(c->rx, on_round, c);
	return rv;
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
	c->lfd = -1;
	c->refs = 1;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	if ((rv = listen_at(c, path)) == TP_OK && (rv = loop_new(c)) == TP_OK)
		rv = start_threads(c);
	if (rv != TP_OK) {
		tp__ctlsrv_stop(c);
		c = NULL;
	}
	*out = c;
	return rv;
}

static void srv_free(struct tp__ctlsrv *c)
{
	while (c->later != NULL) {
		struct later_rep *l = c->later;
		c->later = l->next;
		free(l->buf);
		free(l);
	}
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c);
}

/* Drops one reference (mu held); 1 when it was the last. */
static int unref(struct tp__ctlsrv *c)
{
	return --c->refs == 0;
}

void tp__ctlsrv_stop(struct tp__ctlsrv *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	c->stopping = 1;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	if (c->loop_started) {
		tp__reactor_wake(c->wake);
		pthread_join(c->loop, NULL);
	}
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
	/* Replies still to come find it gone (and the last frees it). */
	pthread_mutex_lock(&c->mu);
	c->gone = 1;
	int last = unref(c);
	pthread_mutex_unlock(&c->mu);
	tp__reactor_free(c->rx);
	c->rx = NULL;
	if (last)
		srv_free(c);
}

void tp__ctlsrv_reply_later(struct tp__ctl_later *l, Troupe__SupReply *rep)
{
	struct tp__ctlsrv *c = l->srv;
	unsigned char *buf = NULL;
	size_t len = 0;
	struct later_rep *r = NULL;
	if (pack_reply(c, rep, &buf, &len) == TP_OK &&
	    (r = calloc(1, sizeof(*r))) != NULL) {
		r->buf = buf;
		r->len = len;
		buf = NULL;
	}
	free(buf);
	pthread_mutex_lock(&c->mu);
	if (r != NULL && !c->gone) {
		r->id = l->id;
		r->next = c->later;
		c->later = r;
		tp__reactor_wake(c->wake);
		r = NULL;
	}
	int last = unref(c);
	pthread_mutex_unlock(&c->mu);
	if (r != NULL) {
		free(r->buf);
		free(r);
	}
	free(l);
	if (last)
		srv_free(c);
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
