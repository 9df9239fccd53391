/*
 * connection.c - multiprocessing.connection's Listener and Client
 * (troupe/connection.h).
 *
 * A Unix path is a SOCK_SEQPACKET socket, so an accepted connection is a
 * Pipe end as it is (pipe.c wraps the socket). tcp:// is a stream: its
 * connection is a socketpair end served by a relay thread
 * (conn_relay.c). The listener keeps every peer still in the handshake
 * in a small table and steps each one as its bytes arrive (never
 * blocking on one peer) inside tp_listener_accept; a peer that fails,
 * stalls past its deadline or is pushed out by newer ones is dropped.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "conn_int.h"
#include "netaddr.h"
#include "pipe_int.h"
#include "troupe/connection.h"
#include "troupe/error.h"

#define PENDING_MAX 32
#define KEY_MAX     1024

enum { HS_HELLO = 1, HS_PROOF };

struct pending {
	int fd; /* -1: free */
	char peer[80];
	int state;
	size_t got;
	int64_t deadline;
	uint8_t buf[TP__HS_ANSWER];
	uint8_t nonces[2 * TP__AUTH_NONCE];
};

struct tp_listener {
	int fd;
	int tcp;
	int hs_ms;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char address[300];
	uint8_t key[KEY_MAX];
	size_t keylen;
	uint64_t rejected;
	char last[80]; /* the last accepted peer's address */
	struct pending p[PENDING_MAX];
};

/* The Unix path of an ipc:// or absolute-path address, else NULL. */
static const char *unix_path(const char *address)
{
	if (strncmp(address, "ipc://", 6) == 0)
		return address + 6;
	return address[0] == '/' ? address : NULL;
}

static int unix_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (path[0] == '\0' || strlen(path) >= sizeof(sa->sun_path))
		return TP_EINVAL;
	memcpy(sa->sun_path, path, strlen(path));
	return TP_OK;
}

/* 1 when some process listens at path (a probe connect succeeds). */
static int path_served(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	int live = fd >= 0 &&
	           connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
	if (fd >= 0)
		close(fd);
	return live;
}

static int listen_unix(tp_listener *l, const char *path)
{
	struct sockaddr_un sa;
	int rv = unix_addr(path, &sa);
	if (rv != TP_OK)
		return rv;
	l->fd =
	    socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (l->fd < 0)
		return tp_err_errno(errno);
	int b = bind(l->fd, (struct sockaddr *)&sa, sizeof(sa));
	if (b != 0 && errno == EADDRINUSE) {
		if (path_served(&sa))
			return TP_EEXIST;
		unlink(path); /* the socket of a listener that died */
		b = bind(l->fd, (struct sockaddr *)&sa, sizeof(sa));
	}
	if (b != 0)
		return tp_err_errno(errno);
	snprintf(l->path, sizeof(l->path), "%s", path);
	snprintf(l->address, sizeof(l->address), "ipc://%s", path);
	return chmod(path, 0600) == 0 ? TP_OK : tp_err_errno(errno);
}

static int listen_tcp(tp_listener *l, const char *address)
{
	struct addrinfo *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int one = 1, rv = tp__tcp_resolve(address, 1, &ai);
	if (rv != TP_OK)
		return rv;
	l->tcp = 1;
	l->fd = socket(ai->ai_family,
	               SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (l->fd < 0 ||
	    setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(l->fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
	    getsockname(l->fd, (struct sockaddr *)&ss, &sl) != 0)
		rv = tp_err_errno(errno);
	freeaddrinfo(ai);
	if (rv != TP_OK)
		return rv;
	unsigned port = ss.ss_family == AF_INET6
	                    ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
	                    : ntohs(((struct sockaddr_in *)&ss)->sin_port);
	int k = (int)(strrchr(address, ':') - address);
	snprintf(l->address, sizeof(l->address), "%.*s:%u", k, address, port);
	return TP_OK;
}

int tp_listener_new(tp_listener **out, const char *address, const void *authkey,
                    size_t keylen)
{
	int rv;
	if (out == NULL || address == NULL || (authkey == NULL && keylen > 0) ||
	    keylen > KEY_MAX)
		return TP_EINVAL;
	tp_listener *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return TP_ENOMEM;
	l->fd = -1;
	l->hs_ms = TP_HANDSHAKE_MS_DEFAULT;
	if (keylen > 0)
		memcpy(l->key, authkey, keylen);
	l->keylen = keylen;
	for (int i = 0; i < PENDING_MAX; i++)
		l->p[i].fd = -1;
	const char *path = unix_path(address);
	if (path != NULL)
		rv = listen_unix(l, path);
	else if (strncmp(address, "tcp://", 6) == 0)
		rv = listen_tcp(l, address);
	else
		rv = TP_EINVAL;
	if (rv == TP_OK && listen(l->fd, 64) != 0)
		rv = tp_err_errno(errno);
	if (rv != TP_OK) {
		tp_listener_free(l);
		return rv;
	}
	*out = l;
	return TP_OK;
}

int tp_listener_set_handshake_ms(tp_listener *l, int ms)
{
	if (l == NULL || ms <= 0)
		return TP_EINVAL;
	l->hs_ms = ms;
	return TP_OK;
}

const char *tp_listener_address(const tp_listener *l)
{
	return l == NULL ? NULL : l->address;
}

const char *tp_listener_last_accepted(const tp_listener *l)
{
	return l == NULL ? NULL : l->last;
}

uint64_t tp_listener_rejected(const tp_listener *l)
{
	return l == NULL ? 0 : l->rejected;
}

static void drop(tp_listener *l, struct pending *p)
{
	close(p->fd);
	p->fd = -1;
	l->rejected++;
}

void tp_listener_free(tp_listener *l)
{
	if (l == NULL)
		return;
	for (int i = 0; i < PENDING_MAX; i++)
		if (l->p[i].fd >= 0)
			close(l->p[i].fd);
	if (l->fd >= 0)
		close(l->fd);
	if (l->path[0] != '\0')
		unlink(l->path);
	memset(l->key, 0, sizeof(l->key));
	free(l);
}

/* A free slot, or the oldest pending peer's (dropped). */
static struct pending *free_slot(tp_listener *l)
{
	struct pending *old = &l->p[0];
	for (int i = 0; i < PENDING_MAX; i++) {
		if (l->p[i].fd < 0)
			return &l->p[i];
		if (l->p[i].deadline < old->deadline)
			old = &l->p[i];
	}
	drop(l, old);
	return old;
}

/* A peer's address as tp_listener_last_accepted gives it. */
static void peer_name(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "";
	buf[0] = '\0';
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)ss;
		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		snprintf(buf, len, "tcp://%s:%u", host, ntohs(a->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)ss;
		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "tcp://[%s]:%u", host, ntohs(a->sin6_port));
	}
}

/* Takes new peers into the table. */
static int take_peers(tp_listener *l)
{
	for (;;) {
		struct sockaddr_storage ss = {0};
		socklen_t sl = sizeof(ss);
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl,
		                 SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return errno == EAGAIN || errno == EINTR ||
			               errno == ECONNABORTED
			           ? TP_OK
			           : tp_err_errno(errno);
		struct pending *p = free_slot(l);
		memset(p, 0, sizeof(*p));
		p->fd = fd;
		peer_name(&ss, p->peer, sizeof(p->peer));
		p->state = HS_HELLO;
		p->deadline = tp__deadline(l->hs_ms);
	}
}

/* The verdict, then the peer's connection (blocking from here). 1 when
 * the peer went away meanwhile (dropped). */
static int welcome(tp_listener *l, struct pending *p, tp_conn **out)
{
	struct tp__hs_key k = {l->key, l->keylen};
	int fd = p->fd, rv, fl = fcntl(fd, F_GETFL);
	p->fd = -1;
	if (send(fd, "TPOK", 4, MSG_NOSIGNAL | MSG_DONTWAIT) != 4 || fl < 0 ||
	    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
		close(fd);
		l->rejected++;
		return 1;
	}
	memcpy(l->last, p->peer, sizeof(l->last));
	if (l->tcp)
		rv = tp__conn_relay(fd, &k, p->nonces, TP__CONN_DIR_S, out);
	else if ((rv = tp__conn_wrap(fd, 1, 1, out)) != TP_OK)
		close(fd);
	return rv;
}

/* Reads what peer p sent and takes the next handshake step: TP_OK with
 * *out set once it is welcome, 1 while it goes on or when it was
 * dropped, another error for the caller. */
static int step(tp_listener *l, struct pending *p, tp_conn **out)
{
	struct tp__hs_key k = {l->key, l->keylen};
	uint8_t answer[TP__HS_ANSWER];
	size_t need = p->state == HS_HELLO ? TP__HS_HELLO : TP__HS_PROOF;
	ssize_t r = recv(p->fd, p->buf + p->got, need - p->got, MSG_DONTWAIT);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return 1;
	if (r <= 0) { /* gone halfway, or an error on its socket */
		drop(l, p);
		return 1;
	}
	if ((p->got += (size_t)r) < need)
		return 1;
	p->got = 0;
	if (p->state == HS_PROOF) {
		if (tp__hs_check_proof(&k, p->nonces, p->buf))
			return welcome(l, p, out);
		send(p->fd, "TPNO", 4, MSG_NOSIGNAL | MSG_DONTWAIT);
		drop(l, p);
		return 1;
	}
	if (tp__hs_answer(&k, p->buf, p->nonces, answer) != TP_OK ||
	    send(p->fd, answer, sizeof(answer), MSG_NOSIGNAL | MSG_DONTWAIT) !=
	        (ssize_t)sizeof(answer)) {
		drop(l, p);
		return 1;
	}
	p->state = HS_PROOF;
	return 1;
}

/* Drops the peers past their deadline; returns the time to the next
 * deadline (ms, capped by left; -1 for none and left -1). */
static int expire(tp_listener *l, int left)
{
	int64_t now = tp__now_ms();
	for (int i = 0; i < PENDING_MAX; i++) {
		struct pending *p = &l->p[i];
		if (p->fd < 0)
			continue;
		if (p->deadline <= now) {
			drop(l, p);
			continue;
		}
		int d = (int)(p->deadline - now);
		left = left < 0 || d < left ? d : left;
	}
	return left;
}

int tp_listener_accept(tp_listener *l, tp_conn **out, int timeout_ms)
{
	struct pollfd pf[PENDING_MAX + 1];
	struct pending *who[PENDING_MAX + 1];
	if (l == NULL || out == NULL)
		return TP_EINVAL;
	int64_t dl = tp__deadline(timeout_ms);
	for (;;) {
		int n = 1, rv;
		pf[0] = (struct pollfd){l->fd, POLLIN, 0};
		int wait = expire(l, tp__remaining(dl));
		for (int i = 0; i < PENDING_MAX; i++)
			if (l->p[i].fd >= 0) {
				pf[n] = (struct pollfd){l->p[i].fd, POLLIN, 0};
				who[n++] = &l->p[i];
			}
		int got = poll(pf, (nfds_t)n, wait);
		if (got < 0 && errno != EINTR)
			return tp_err_errno(errno);
		for (int i = 1; got > 0 && i < n; i++)
			if (pf[i].revents != 0 && who[i]->fd >= 0 &&
			    (rv = step(l, who[i], out)) != 1)
				return rv;
		if (got > 0 && pf[0].revents != 0 &&
		    (rv = take_peers(l)) != TP_OK)
			return rv;
		if (got == 0 && tp__remaining(dl) == 0)
			return TP_ETIMEDOUT;
	}
}

/* ---- the client ---------------------------------------------------------
 */

static int unix_connect(const char *path, int *fd)
{
	struct sockaddr_un sa;
	int rv = unix_addr(path, &sa);
	if (rv != TP_OK)
		return rv;
	*fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (*fd < 0)
		return tp_err_errno(errno);
	if (connect(*fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return TP_OK;
	int e = errno;
	close(*fd);
	return e == ENOENT || e == ECONNREFUSED ? TP_ECLOSED : tp_err_errno(e);
}

int tp_client_new(tp_conn **out, const char *address, const void *authkey,
                  size_t keylen, int timeout_ms)
{
	static const uint8_t none[1];
	struct tp__hs_key k = {keylen > 0 ? authkey : none, keylen};
	uint8_t nonces[2 * TP__AUTH_NONCE];
	int fd = -1, rv;
	if (out == NULL || address == NULL || (authkey == NULL && keylen > 0))
		return TP_EINVAL;
	int64_t dl = tp__deadline(timeout_ms);
	const char *path = unix_path(address);
	if (path != NULL)
		rv = unix_connect(path, &fd);
	else if (strncmp(address, "tcp://", 6) == 0)
		rv = tp__tcp_connect(address, timeout_ms, &fd);
	else
		rv = TP_EINVAL;
	if (rv == TP_OK)
		rv = tp__hs_client(fd, &k, dl, nonces);
	if (rv != TP_OK) {
		if (fd >= 0)
			close(fd);
		return rv;
	}
	if (path == NULL)
		return tp__conn_relay(fd, &k, nonces, TP__CONN_DIR_C, out);
	if ((rv = tp__conn_wrap(fd, 1, 1, out)) != TP_OK)
		close(fd);
	return rv;
}
