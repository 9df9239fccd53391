/*
 * ctl.c - the control channel between a parent and one child: a unix
 * stream socketpair carrying length-prefixed Envelope frames. A stream (not
 * a datagram socket) so that a multi-megabyte result needs no special case:
 * the parent drains it while it joins.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "process_int.h"
#include "spin.h"
#include "troupe/error.h"
#include "wire.h"

int tp__ctl_send_raw(int fd, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EPIPE ? TP_ECLOSED
			                      : tp_err_errno(errno);
		p += n;
		len -= (size_t)n;
	}
	return TP_OK;
}

int tp__ctl_send(int fd, const Troupe__Envelope *env)
{
	size_t n = protobuf_c_message_get_packed_size(&env->base);
	unsigned char small[512], *buf = small;
	int rv;
	if (n > TP_MAX_MSG_DEFAULT)
		return TP_ETOOBIG;
	if (n + 4 > sizeof(small) && (buf = malloc(n + 4)) == NULL)
		return TP_ENOMEM;
	buf[0] = (unsigned char)n;
	buf[1] = (unsigned char)(n >> 8);
	buf[2] = (unsigned char)(n >> 16);
	buf[3] = (unsigned char)(n >> 24);
	protobuf_c_message_pack(&env->base, buf + 4);
	rv = tp__ctl_send_raw(fd, buf, n + 4);
	if (buf != small)
		free(buf);
	return rv;
}

static int buf_reserve(struct tp_ctlbuf *b, size_t extra)
{
	if (b->len + extra <= b->cap)
		return TP_OK;
	size_t cap = b->cap ? b->cap : 16384;
	while (cap < b->len + extra)
		cap *= 2;
	unsigned char *d = realloc(b->data, cap);
	if (d == NULL)
		return TP_ENOMEM;
	b->data = d;
	b->cap = cap;
	return TP_OK;
}

int tp__ctl_fill(int fd, struct tp_ctlbuf *b)
{
	for (;;) {
		int rv = buf_reserve(b, 8192);
		if (rv != TP_OK)
			return rv;
		size_t room = b->cap - b->len;
		ssize_t n = recv(fd, b->data + b->len, room, MSG_DONTWAIT);
		if (n > 0) {
			b->len += (size_t)n;
			/* less than asked: the socket is drained for now, and
			 * asking again would only say EAGAIN (a system call
			 * per frame saved; what comes later, poll reports) */
			if ((size_t)n < room)
				return TP_OK;
			continue;
		}
		if (n == 0)
			return TP_ECLOSED;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return TP_OK;
		return errno == ECONNRESET ? TP_ECLOSED : tp_err_errno(errno);
	}
}

int tp__ctl_next(struct tp_ctlbuf *b, Troupe__Envelope **env)
{
	*env = NULL;
	if (b->len < 4)
		return TP_OK;
	uint32_t n = (uint32_t)b->data[0] | (uint32_t)b->data[1] << 8 |
	             (uint32_t)b->data[2] << 16 | (uint32_t)b->data[3] << 24;
	if (n > TP_MAX_MSG_DEFAULT)
		return TP_ETOOBIG;
	if (b->len < 4 + (size_t)n)
		return TP_OK;
	int rv = tp__envelope_unpack(b->data + 4, n, 0, env);
	memmove(b->data, b->data + 4 + n, b->len - 4 - n);
	b->len -= 4 + (size_t)n;
	return rv;
}

int tp__ctl_read(int fd, struct tp_ctlbuf *b, Troupe__Envelope **env)
{
	for (;;) {
		int rv = tp__ctl_next(b, env);
		if (rv != TP_OK || *env != NULL)
			return rv;
		/* What is there first (a child's start request usually is,
		 * sent with the request to the fork server): no wait, no
		 * spin to set up */
		size_t had = b->len;
		if ((rv = tp__ctl_fill(fd, b)) != TP_OK) {
			if (rv == TP_ECLOSED && tp__ctl_next(b, env) == TP_OK &&
			    *env != NULL)
				return TP_OK;
			return rv;
		}
		if (b->len != had)
			continue;
		/* (the answer of a process being started, or of the fork
		 * server: it usually comes within the spin, rt/spin.h) */
		static _Thread_local struct tp__spin spin;
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (!tp__spin_poll(&spin, fd, -1) && poll(&pfd, 1, -1) < 0 &&
		    errno != EINTR)
			return tp_err_errno(errno);
	}
}

void tp__ctlbuf_free(struct tp_ctlbuf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}
