/*
 * pipe.c - multiprocessing.Pipe over a Unix SOCK_SEQPACKET socketpair.
 *
 * tp_pipe_new makes the socketpair at once; each end is one socket. An end
 * reaches another process by fork (inherited, as in Python) or inside a
 * payload (pipe_share.c: the socket itself travels with SCM_RIGHTS). The
 * kernel keeps what was sent in the receiver's queue when the sender
 * closes, exits or is killed, so the reader gets every message, then end
 * of file (TP_EOF); nothing needs a close handshake. Framing, send and
 * receive are in pipe_io.c.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "pipe_int.h"
#include "troupe/error.h"
#include "troupe/runtime.h"

int tp__conn_wrap(int fd, int readable, int writable, tp_conn **out)
{
	tp_conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return TP_ENOMEM;
	c->fd = fd;
	c->state = TP_CONN_OPEN;
	c->readable = readable;
	c->writable = writable;
	*out = c;
	return TP_OK;
}

int tp_pipe_new(tp_conn **a, tp_conn **b, int duplex)
{
	int sv[2], rv;
	if (a == NULL || b == NULL)
		return TP_EINVAL;
	if (!tp_initialized())
		return TP_ENOTINIT;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
		return tp_err_errno(errno);
	if ((rv = tp__conn_wrap(sv[0], 1, duplex, a)) != TP_OK) {
		close(sv[0]);
		close(sv[1]);
		return rv;
	}
	if ((rv = tp__conn_wrap(sv[1], duplex, 1, b)) != TP_OK) {
		tp_conn_free(*a);
		close(sv[1]);
		return rv;
	}
	if (!duplex) { /* as os.pipe(): nothing flows the other way */
		shutdown(sv[0], SHUT_WR);
		shutdown(sv[1], SHUT_RD);
	}
	return TP_OK;
}

int tp_conn_close(tp_conn *c)
{
	if (c == NULL)
		return TP_EINVAL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (c->state == TP_CONN_OPEN)
		c->state = TP_CONN_CLOSED;
	c->have = 0;
	return TP_OK;
}

void tp_conn_free(tp_conn *c)
{
	if (c == NULL)
		return;
	tp_conn_close(c);
	free(c->big);
	free(c->rbuf);
	free(c->sbuf);
	free(c);
}

int tp__conn_buffered(const tp_conn *c)
{
	return c->have || c->assembling;
}

int tp_conn_readable(const tp_conn *c)
{
	return c != NULL && c->readable;
}

int tp_conn_writable(const tp_conn *c)
{
	return c != NULL && c->writable;
}

uint64_t tp_conn_rejected(const tp_conn *c)
{
	return c == NULL ? 0 : c->rejected;
}

static int usable(const tp_conn *c)
{
	if (c->state == TP_CONN_SENT)
		return TP_ESTATE;
	return c->state == TP_CONN_OPEN ? TP_OK : TP_ECLOSED;
}

int tp_conn_fd(tp_conn *c, int *fd)
{
	int rv;
	if (c == NULL || fd == NULL)
		return TP_EINVAL;
	if ((rv = usable(c)) != TP_OK)
		return rv;
	if (!c->readable)
		return TP_EPERM;
	*fd = c->fd;
	return TP_OK;
}

int tp_conn_poll(tp_conn *c, int timeout_ms)
{
	int64_t dl = timeout_ms < 0 ? -1 : tp__now_ms() + timeout_ms;
	int rv;
	if (c == NULL)
		return TP_EINVAL;
	if ((rv = usable(c)) != TP_OK)
		return rv;
	if (!c->readable)
		return TP_EPERM;
	if (c->have || c->eof || tp__spin_poll(&c->spin, c->fd, dl))
		return TP_OK;
	for (;;) {
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		int left = dl < 0 ? -1 : (int)(dl - tp__now_ms());
		int n = poll(&pfd, 1, left < 0 && dl >= 0 ? 0 : left);
		if (n > 0)
			return TP_OK; /* a packet, or end of file */
		if (n == 0)
			return TP_ETIMEDOUT;
		if (errno != EINTR)
			return tp_err_errno(errno);
	}
}
