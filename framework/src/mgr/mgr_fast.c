/*
 * mgr_fast.c - the manager's local fast path: a unix stream socket next
 * to the nng ipc socket ("<path>.fast"), framed as [u32 length][Envelope]
 * and carrying the same messages, handshake and core as the nng
 * transport. Why: a manager call is a round trip, and an nng ipc round
 * trip costs ~70-160 us on the 2-vCPU machine (several thread hand-offs
 * inside nng) against 10-60 us for a plain unix socket; Python's manager
 * uses the latter. nng stays the transport for tcp://, tls+tcp:// and
 * any client that cannot reach the fast socket.
 *
 * One thread polls every connection (epoll); reads are non-blocking and
 * incremental, so a client that sends half a frame delays nobody.
 * Frames are size-checked before they are read (pre-authentication:
 * TP__MGR_PREAUTH_MAX). Connection ids have the top bit set, so they never
 * collide with nng pipe ids; parked calls refer to them by id.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "mgr_int.h"
#include "troupe/error.h"

#define FAST_BIT 0x80000000u

struct fconn {
	uint32_t id;
	int fd;
	uint8_t hdr[4];
	size_t got; /* bytes of header + body read */
	uint32_t len;
	uint8_t *body;
};

struct tp__mgr_fast {
	int lfd, epfd, wakefd;
	char path[108];
	pthread_t th;
	int running;
	struct tp__mgr_core *core;
	pthread_mutex_t *mu;
	void (*kick)(void *arg); /* after each request, under mu */
	void *kick_arg;
	size_t max;
	struct fconn **c;
	size_t n, cap;
	uint32_t seq;
};

static struct fconn *conn_find(struct tp__mgr_fast *f, uint32_t id)
{
	for (size_t i = 0; i < f->n; i++)
		if (f->c[i]->id == id)
			return f->c[i];
	return NULL;
}

/* Under f->mu. */
static void conn_close(struct tp__mgr_fast *f, struct fconn *c)
{
	for (size_t i = 0; i < f->n; i++) {
		if (f->c[i] == c) {
			f->c[i] = f->c[--f->n];
			break;
		}
	}
	epoll_ctl(f->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->body);
	free(c);
}

int tp__mgr_fast_is(uint32_t client)
{
	return (client & FAST_BIT) != 0;
}

/* Writes a whole frame (one sendmsg when the socket has room); gives up
 * on a client that stops reading. */
static int write_frame(int fd, const uint8_t hdr[4], const void *buf,
                       size_t len)
{
	struct iovec iov[2] = {{(void *)hdr, 4}, {(void *)buf, len}};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
	size_t left = len + 4;
	while (left > 0) {
		ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (w > 0) {
			left -= (size_t)w;
			while (w > 0) { /* skip what was written */
				size_t k = (size_t)w < mh.msg_iov[0].iov_len
				               ? (size_t)w
				               : mh.msg_iov[0].iov_len;
				mh.msg_iov[0].iov_base =
				    (char *)mh.msg_iov[0].iov_base + k;
				mh.msg_iov[0].iov_len -= k;
				w -= (ssize_t)k;
				if (mh.msg_iov[0].iov_len == 0 &&
				    mh.msg_iovlen > 1) {
					mh.msg_iov++;
					mh.msg_iovlen--;
				}
			}
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		struct pollfd pf = {fd, POLLOUT, 0};
		if (w < 0 && errno == EAGAIN && poll(&pf, 1, 5000) == 1)
			continue;
		return -1;
	}
	return 0;
}

/* Under f->mu (the core calls it). */
void tp__mgr_fast_send(struct tp__mgr_fast *f, uint32_t id, const void *buf,
                       size_t len)
{
	struct fconn *c = conn_find(f, id);
	uint8_t hdr[4] = {(uint8_t)len, (uint8_t)(len >> 8),
	                  (uint8_t)(len >> 16), (uint8_t)(len >> 24)};
	if (c == NULL)
		return;
	if (write_frame(c->fd, hdr, buf, len) != 0)
		shutdown(c->fd, SHUT_RDWR); /* the poller sees it and cleans */
}

void tp__mgr_fast_close(struct tp__mgr_fast *f, uint32_t id)
{
	struct fconn *c = conn_find(f, id);
	if (c != NULL)
		shutdown(c->fd, SHUT_RDWR);
}

static void fast_accept(struct tp__mgr_fast *f)
{
	int fd = accept4(f->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
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
	c->fd = fd;
	c->id = FAST_BIT | (++f->seq & ~FAST_BIT);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
	if (epoll_ctl(f->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		free(c);
		close(fd);
		return;
	}
	f->c[f->n++] = c;
}

/* Reads what is there; returns -1 when the connection is to be closed. */
static int fast_read(struct tp__mgr_fast *f, struct fconn *c)
{
	for (;;) {
		ssize_t r;
		if (c->got < 4) {
			r = read(c->fd, c->hdr + c->got, 4 - c->got);
		} else {
			r = read(c->fd, c->body + (c->got - 4),
			         c->len - (c->got - 4));
		}
		if (r == 0)
			return -1;
		if (r < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		c->got += (size_t)r;
		if (c->got == 4) {
			c->len = (uint32_t)c->hdr[0] |
			         (uint32_t)c->hdr[1] << 8 |
			         (uint32_t)c->hdr[2] << 16 |
			         (uint32_t)c->hdr[3] << 24;
			size_t lim = tp__mgr_core_authed(f->core, c->id)
			                 ? f->max + 4096
			                 : TP__MGR_PREAUTH_MAX;
			if (c->len > lim)
				return -1; /* before reading it */
			if ((c->body = malloc(c->len ? c->len : 1)) == NULL)
				return -1;
		}
		if (c->got >= 4 && c->got == 4 + (size_t)c->len) {
			uint8_t *body = c->body;
			c->body = NULL;
			c->got = 0;
			tp__mgr_core_request(
			    f->core, c->id,
			    (void *)(((uintptr_t)c->id << 1) | 1), body,
			    c->len);
			free(body);
			f->kick(f->kick_arg);
		}
	}
}

static void *fast_thread(void *arg)
{
	struct tp__mgr_fast *f = arg;
	struct epoll_event evs[32];
	for (;;) {
		int n = epoll_wait(f->epfd, evs, 32, -1);
		if (n < 0 && errno != EINTR)
			break;
		pthread_mutex_lock(f->mu);
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			if (p == &f->wakefd) {
				pthread_mutex_unlock(f->mu);
				return NULL;
			}
			if (p == &f->lfd) {
				fast_accept(f);
				continue;
			}
			struct fconn *c = p;
			uint32_t id = c->id;
			if (conn_find(f, id) != c)
				continue;
			if (fast_read(f, c) < 0) {
				conn_close(f, c);
				tp__mgr_core_gone(f->core, id);
			}
		}
		pthread_mutex_unlock(f->mu);
	}
	return NULL;
}

int tp__mgr_fast_start(struct tp__mgr_fast **out, const char *nng_addr,
                       struct tp__mgr_core *core, pthread_mutex_t *mu,
                       size_t max, void (*kick)(void *), void *kick_arg)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	const char *path = nng_addr + 6; /* after ipc:// */
	if (strncmp(nng_addr, "ipc://", 6) != 0 ||
	    strlen(path) + 6 > sizeof(sa.sun_path))
		return TP_EINVAL; /* no fast path: nng only */
	struct tp__mgr_fast *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return TP_ENOMEM;
	snprintf(f->path, sizeof(f->path), "%s.fast", path);
	memcpy(sa.sun_path, f->path, strlen(f->path));
	f->core = core;
	f->mu = mu;
	f->kick = kick;
	f->kick_arg = kick_arg;
	f->max = max;
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	f->epfd = epoll_create1(EPOLL_CLOEXEC);
	f->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	unlink(f->path);
	int rv = TP_OK;
	struct epoll_event e1 = {.events = EPOLLIN, .data.ptr = &f->lfd};
	struct epoll_event e2 = {.events = EPOLLIN, .data.ptr = &f->wakefd};
	if (f->lfd < 0 || f->epfd < 0 || f->wakefd < 0 ||
	    bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(f->lfd, 128) != 0 ||
	    epoll_ctl(f->epfd, EPOLL_CTL_ADD, f->lfd, &e1) != 0 ||
	    epoll_ctl(f->epfd, EPOLL_CTL_ADD, f->wakefd, &e2) != 0)
		rv = tp_err_errno(errno);
	if (rv == TP_OK &&
	    (errno = pthread_create(&f->th, NULL, fast_thread, f)) != 0)
		rv = tp_err_errno(errno);
	if (rv != TP_OK) {
		f->running = 0;
		tp__mgr_fast_stop(f);
		return rv;
	}
	f->running = 1;
	*out = f;
	return TP_OK;
}

void tp__mgr_fast_stop(struct tp__mgr_fast *f)
{
	if (f == NULL)
		return;
	if (f->running) {
		uint64_t one = 1;
		if (write(f->wakefd, &one, sizeof(one)) < 0) {
			/* cannot happen with an eventfd below its limit */
		}
		pthread_join(f->th, NULL);
	}
	while (f->n > 0)
		conn_close(f, f->c[0]);
	free(f->c);
	if (f->lfd >= 0) {
		close(f->lfd);
		unlink(f->path);
	}
	if (f->epfd >= 0)
		close(f->epfd);
	if (f->wakefd >= 0)
		close(f->wakefd);
	free(f);
}
