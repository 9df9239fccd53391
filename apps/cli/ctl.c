/*
 * ctl.c - the daemon's control server: a Unix stream socket (mode 0600 in
 * a private directory), one request frame in, one reply frame out, then
 * the connection is closed (framing in ctl_io.c).
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
 * The peer's uid is read with SO_PEERCRED at accept: only the daemon's
 * own user (or root) is served; anyone else gets a TP_EPERM reply. A
 * malformed request gets a TP_EDECODE reply and changes nothing.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "ctl_int.h"
#include "internal.h"

struct conn {
	int fd;
	int allowed; /* SO_PEERCRED: the daemon's uid or root */
	struct ctl_peer peer;
	unsigned char hdr[4];
	size_t got; /* bytes of header + body read */
	uint32_t len;
	unsigned char *body;
	int64_t deadline;
	struct conn *next; /* the work queue */
};

struct ctl {
	struct daemon *d;
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
	free(c);
}

static void drop_pending(struct ctl *c, int i)
{
	conn_free(c->pending[i]);
	c->pending[i] = c->pending[--c->npending];
}

static int peer_allowed(int fd, struct ctl_peer *p)
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
			c->len = ctl_frame_len(c->hdr);
			if (c->len > CTL_MAX_REQ ||
			    (c->body = malloc(c->len ? c->len : 1)) == NULL)
				return -1;
		}
	}
}

static void enqueue(struct ctl *c, struct conn *k)
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

static int oldest(const struct ctl *c)
{
	int old = 0;
	for (int i = 1; i < c->npending; i++)
		if (c->pending[i]->deadline < c->pending[old]->deadline)
			old = i;
	return old;
}

static void accept_all(struct ctl *c)
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
				c->paused_until = ctl_now_ms() + CTL_PAUSE_MS;
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
		k->deadline = ctl_now_ms() + CTL_READ_MS;
		if (c->npending == CTL_MAX_CONNS)
			drop_pending(c, oldest(c));
		c->pending[c->npending++] = k;
	}
}

/* One turn of the loop over the pending connections' poll results. */
static void service(struct ctl *c, struct pollfd *p)
{
	int64_t now = ctl_now_ms();
	/* Backwards: drop_pending moves the last entry into slot i. */
	for (int i = c->npending - 1; i >= 0; i--) {
		struct conn *k = c->pending[i];
		int r = 0;
		if (p[i + 2].revents != 0)
			r = conn_read(k);
		if (r == 0 && now >= k->deadline)
			r = -1;
		if (r < 0) {
			drop_pending(c, i);
		} else if (r > 0) {
			c->pending[i] = c->pending[--c->npending];
			enqueue(c, k);
		}
	}
	if (p[0].revents & POLLIN)
		accept_all(c);
}

static void *loop(void *arg)
{
	struct ctl *c = arg;
	struct pollfd p[CTL_MAX_CONNS + 2];
	for (;;) {
		int64_t now = ctl_now_ms(), wait = -1;
		int rest = now < c->paused_until;
		p[0] =
		    (struct pollfd){.fd = rest ? -1 : c->lfd, .events = POLLIN};
		if (rest)
			wait = c->paused_until - now;
		p[1] = (struct pollfd){.fd = c->wake, .events = POLLIN};
		for (int i = 0; i < c->npending; i++) {
			struct conn *k = c->pending[i];
			p[i + 2] =
			    (struct pollfd){.fd = k->fd, .events = POLLIN};
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

static void reply_to(struct daemon *d, struct conn *k, Troupe__SupReply *rep)
{
	Troupe__Envelope *env = NULL;
	if (!k->allowed) {
		rep->code = TP_EPERM;
		rep->message = strdup("permission denied: not the daemon's "
		                      "user\n");
		return;
	}
	int rv = tp__envelope_unpack(k->body, k->len, CTL_MAX_REQ, &env);
	if (rv == TP_OK && env->body_case != TROUPE__ENVELOPE__BODY_SUP_REQUEST)
		rv = TP_EDECODE;
	if (rv != TP_OK) {
		rep->code = rv;
		rep->message = strdup("malformed request\n");
	} else {
		ctl_handle(d, env->sup_request, rep, &k->peer);
	}
	tp__envelope_free(env);
}

static void serve(struct daemon *d, struct conn *k)
{
	Troupe__SupReply rep = TROUPE__SUP_REPLY__INIT;
	Troupe__Envelope env = TROUPE__ENVELOPE__INIT;
	unsigned char *buf;
	size_t len;
	reply_to(d, k, &rep);
	env.body_case = TROUPE__ENVELOPE__BODY_SUP_REPLY;
	env.sup_reply = &rep;
	env.sender = "troupe";
	int rv = ctl_frame_pack(&env, &buf, &len);
	ctl_reply_free(&rep);
	if (rv != TP_OK) {
		Troupe__SupReply small = TROUPE__SUP_REPLY__INIT;
		small.code = rv;
		small.message = (char *)tp_strerror(rv);
		env.sup_reply = &small;
		rv = ctl_frame_pack(&env, &buf, &len);
	}
	if (rv == TP_OK) {
		ctl_write_all(k->fd, buf, len, ctl_now_ms() + CTL_WRITE_MS);
		free(buf);
	}
	conn_free(k);
	if (__atomic_load_n(&ctl_shutdown_requested, __ATOMIC_RELAXED))
		kill(getpid(), SIGTERM); /* after the reply left */
}

static void *worker(void *arg)
{
	struct ctl *c = arg;
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
		serve(c->d, k);
	}
}

static int listen_at(struct ctl *c, const char *path)
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

static int start_threads(struct ctl *c)
{
	if (pthread_create(&c->loop, NULL, loop, c) != 0)
		return TP_ENOMEM;
	c->loop_started = 1;
	for (c->nw = 0; c->nw < CTL_WORKERS; c->nw++)
		if (pthread_create(&c->w[c->nw], NULL, worker, c) != 0)
			return c->nw > 0 ? TP_OK : TP_ENOMEM;
	return TP_OK;
}

int ctl_start(struct daemon *d, const char *path)
{
	struct ctl *c = calloc(1, sizeof(*c));
	int rv;
	if (c == NULL)
		return TP_ENOMEM;
	c->d = d;
	c->lfd = c->wake = -1;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	d->ctl = c;
	if ((c->wake = eventfd(0, EFD_CLOEXEC)) < 0)
		rv = tp_err_errno(errno);
	else if ((rv = listen_at(c, path)) == TP_OK)
		rv = start_threads(c);
	if (rv != TP_OK)
		ctl_stop(d);
	return rv;
}

void ctl_stop(struct daemon *d)
{
	struct ctl *c = d->ctl;
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
		if (stat(d->socket, &st) == 0 && st.st_dev == c->dev &&
		    st.st_ino == c->ino)
			unlink(d->socket);
	}
	if (c->wake >= 0)
		close(c->wake);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c);
	d->ctl = NULL;
}
