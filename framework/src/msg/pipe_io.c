/*
 * pipe_io.c - sending and receiving messages on a pipe end: framing into
 * SOCK_SEQPACKET packets (pipe_int.h), end of file, malformed input.
 *
 * A message that fits one packet (TP_PKT_MAX, 64 KiB, below the socket's
 * default send buffer) is one sendmsg and one recvmsg, so the receiving
 * fd is readable exactly while a message (or end of file) waits. Larger
 * messages go as several packets and are reassembled. A packet is never
 * read past: what this end holds and what the kernel holds never mix.
 *
 * End of file: a recv of 0 bytes is end of file only when the peer has
 * hung up and nothing is queued (a rogue peer can send an empty packet,
 * which is rejected instead).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "clock.h"
#include "payload_int.h"
#include "pipe_int.h"
#include "troupe/error.h"
#include "wire.h"

/* Whether c may be used to send (write) or receive (!write). */
static int check(const tp_conn *c, int write)
{
	if (c == NULL)
		return TP_EINVAL;
	if (c->state == TP_CONN_SENT)
		return TP_ESTATE;
	if (c->state != TP_CONN_OPEN)
		return TP_ECLOSED;
	return (write ? c->writable : c->readable) ? TP_OK : TP_EPERM;
}

/* 1 if the send should be retried: interrupted, or the user made the
 * socket non-blocking (then wait until it is writable). */
static int send_again(int fd)
{
	if (errno == EINTR)
		return 1;
	if (errno != EAGAIN && errno != EWOULDBLOCK)
		return 0;
	struct pollfd pfd = {.fd = fd, .events = POLLOUT};
	return poll(&pfd, 1, -1) >= 0 || errno == EINTR;
}

static int send_err(void)
{
	if (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN)
		return TP_ECLOSED;
	return tp_err_errno(errno);
}

static int send_all(tp_conn *c, struct iovec *iov, int n)
{
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
	while (sendmsg(c->fd, &mh, MSG_NOSIGNAL) < 0)
		if (!send_again(c->fd))
			return send_err();
	return TP_OK;
}

static void put_hdr(unsigned char *h, int tag, size_t len)
{
	h[0] = (unsigned char)tag;
	h[1] = (unsigned char)len;
	h[2] = (unsigned char)(len >> 8);
	h[3] = (unsigned char)(len >> 16);
	h[4] = (unsigned char)(len >> 24);
}

/* Sends a one-packet message already laid out in c->sbuf: one send(),
 * cheaper than sendmsg's iovec import on the round-trip path. */
static int send_sbuf(tp_conn *c, int tag, size_t len)
{
	put_hdr(c->sbuf, tag, len);
	while (send(c->fd, c->sbuf, TP_PKT_HDR + len, MSG_NOSIGNAL) < 0)
		if (!send_again(c->fd))
			return send_err();
	return TP_OK;
}

static int ensure_sbuf(tp_conn *c)
{
	if (c->sbuf == NULL && (c->sbuf = malloc(TP_PKT_MAX)) == NULL)
		return TP_ENOMEM;
	return TP_OK;
}

/* Sends one message: the first packet from hdr+body, the rest as 'C'. */
static int send_frames(tp_conn *c, int tag, const void *body, size_t len)
{
	unsigned char hdr[TP_PKT_HDR];
	const unsigned char *b = body;
	size_t first =
	    len < TP_PKT_MAX - TP_PKT_HDR ? len : TP_PKT_MAX - TP_PKT_HDR;
	put_hdr(hdr, tag, len);
	struct iovec iov[2] = {{hdr, TP_PKT_HDR}, {(void *)b, first}};
	int rv = send_all(c, iov, first > 0 ? 2 : 1);
	static unsigned char cont = TP_TAG_CONTINUE;
	for (size_t off = first; rv == TP_OK && off < len;) {
		size_t n =
		    len - off < TP_PKT_MAX - 1 ? len - off : TP_PKT_MAX - 1;
		struct iovec ci[2] = {{&cont, 1}, {(void *)(b + off), n}};
		rv = send_all(c, ci, 2);
		off += n;
	}
	return rv;
}

#define SMALL_COPY 4096 /* send_bytes copies up to this into sbuf */

int tp_conn_send_bytes(tp_conn *c, const void *buf, size_t len)
{
	int rv;
	if (buf == NULL && len > 0)
		return TP_EINVAL;
	if ((rv = check(c, 1)) != TP_OK)
		return rv;
	if (len > TP_BODY_MAX)
		return TP_ETOOBIG;
	if (len <= SMALL_COPY && ensure_sbuf(c) == TP_OK) {
		if (len > 0)
			memcpy(c->sbuf + TP_PKT_HDR, buf, len);
		return send_sbuf(c, TP_TAG_BYTES, len);
	}
	return send_frames(c, TP_TAG_BYTES, buf, len);
}

int tp_conn_send(tp_conn *c, const tp_payload *p)
{
	unsigned char *out;
	int rv;
	if (p == NULL)
		return TP_EINVAL;
	if ((rv = check(c, 1)) != TP_OK)
		return rv;
	size_t n = tp__payload_packed_size(p);
	if (n > TP_BODY_MAX)
		return TP_ETOOBIG;
	/* the common case: encoded straight into the packet, one send() */
	if (n <= TP_PKT_MAX - TP_PKT_HDR && ensure_sbuf(c) == TP_OK) {
		tp__payload_pack_to(p, c->sbuf + TP_PKT_HDR);
		return send_sbuf(c, TP_TAG_PAYLOAD, n);
	}
	if ((out = malloc(n ? n : 1)) == NULL)
		return TP_ENOMEM;
	tp__payload_pack_to(p, out);
	rv = send_frames(c, TP_TAG_PAYLOAD, out, n);
	free(out);
	return rv;
}

/* 1 if the peer hung up and nothing at all is queued for us. */
static int at_eof(int fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN | POLLRDHUP};
	int queued = 0;
	if (poll(&pfd, 1, 0) != 1 || !(pfd.revents & (POLLHUP | POLLRDHUP)))
		return 0;
	return ioctl(fd, FIONREAD, &queued) == 0 && queued == 0;
}

/* Nothing was there to read: 1 to read again at once (the spin of
 * rt/spin.h goes on), 0 when it is over or there is none. *spin is the
 * spin's end in ns: -1 before the first empty read, 0 once it is over.
 * (tp__spin_poll does the same with poll and then a read: one system
 * call more per message, measured 4.1-4.9 -> 5.0-5.1 us a round trip and
 * 1.08 -> 1.29x the bare socket on one vCPU, so the pipe spins on recv.) */
static int spinning(tp_conn *c, int64_t *spin, int64_t dl)
{
	if (*spin == 0)
		return 0;
	int64_t now = (int64_t)tp__now_ns();
	if (*spin < 0) {
		int64_t b = dl >= 0 && now / 1000000 >= dl
		                ? 0 /* (a wait of 0 ms is a look) */
		                : tp__spin_budget(&c->spin);
		if (b == 0) {
			*spin = 0;
			return 0;
		}
		*spin = now + b;
	}
	if (now < *spin && (dl < 0 || now / 1000000 < dl)) {
		tp__spin_yield();
		return 1;
	}
	tp__spin_end(&c->spin, 0);
	*spin = 0;
	return 0;
}

/* Reads one packet into c->rbuf: its length, or -TP_* (TP_EOF too). */
static long read_packet(tp_conn *c, int64_t dl)
{
	if (c->rbuf == NULL && (c->rbuf = malloc(TP_PKT_MAX)) == NULL)
		return -TP_ENOMEM;
	/* The spin's end (ns): -1 before the first empty read, 0 when it is
	 * over or there is none (then a read without a deadline blocks). */
	int64_t spin = -1;
	for (;;) {
		/* MSG_TRUNC: the packet's real length, to see a cut one */
		ssize_t n =
		    recv(c->fd, c->rbuf, TP_PKT_MAX,
		         MSG_TRUNC | (dl < 0 && spin == 0 ? 0 : MSG_DONTWAIT));
		if (n > 0) {
			if (spin > 0)
				tp__spin_end(&c->spin, 1);
			return n > TP_PKT_MAX ? -TP_EDECODE : n;
		}
		if (n == 0)
			return at_eof(c->fd) ? -TP_EOF : -TP_EDECODE;
		/* ECONNRESET: the peer closed with input unread; reported
		 * once (some kernels before the queued data), so read on */
		if (errno == EINTR || errno == ECONNRESET)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -(long)tp_err_errno(errno);
		int spun = spin != 0;
		if (spinning(c, &spin, dl))
			continue;
		if (spun && dl < 0)
			continue; /* the blocking read */
		/* (EAGAIN without a deadline: the user made the socket
		 * non-blocking; wait for it) */
		int64_t left = dl < 0 ? -1 : dl - tp__now_ms();
		if (dl >= 0 && left <= 0)
			return -TP_ETIMEDOUT;
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
			return -(long)tp_err_errno(errno);
	}
}

static int reject(tp_conn *c)
{
	c->rejected++;
	return TP_EDECODE;
}

/* Drops a message being assembled (truncated or interleaved). */
static void drop_partial(tp_conn *c)
{
	if (c->assembling)
		c->rejected++;
	c->assembling = 0;
	if (c->big != NULL) { /* (rare: not a call per message) */
		free(c->big);
		c->big = NULL;
	}
}

static int start_msg(tp_conn *c, long n)
{
	const unsigned char *p = c->rbuf;
	size_t len = (size_t)p[1] | (size_t)p[2] << 8 | (size_t)p[3] << 16 |
	             (size_t)p[4] << 24;
	size_t got = (size_t)n - TP_PKT_HDR;
	drop_partial(c);
	if (len > TP_BODY_MAX || got > len) {
		c->skipping = got < len; /* its continuations are junk too */
		return reject(c);
	}
	c->skipping = 0;
	c->tag = p[0];
	if (got == len) { /* the common case: one packet, no copy */
		c->body = p + TP_PKT_HDR;
		c->len = len;
		c->have = 1;
		return TP_OK;
	}
	if ((c->big = malloc(len)) == NULL) {
		c->skipping = 1; /* lost: reported, its continuations dropped */
		c->rejected++;
		return TP_ENOMEM;
	}
	memcpy(c->big, p + TP_PKT_HDR, got);
	c->big_len = len;
	c->big_got = got;
	c->assembling = 1;
	return TP_OK;
}

static int continue_msg(tp_conn *c, long n)
{
	size_t got = (size_t)n - 1;
	if (!c->assembling)
		return c->skipping ? TP_OK : reject(c);
	if (got > c->big_len - c->big_got) {
		drop_partial(c);
		c->rejected--; /* counted once, here */
		return reject(c);
	}
	memcpy(c->big + c->big_got, c->rbuf + 1, got);
	c->big_got += got;
	if (c->big_got == c->big_len) {
		c->assembling = 0;
		c->body = c->big;
		c->len = c->big_len;
		c->have = 1;
	}
	return TP_OK;
}

/* Makes c->have true: reads packets until a whole message is there. */
static int fill(tp_conn *c, int timeout_ms)
{
	int64_t dl = timeout_ms < 0 ? -1 : tp__now_ms() + timeout_ms;
	int rv;
	while (!c->have) {
		if (c->eof)
			return TP_EOF;
		long n = read_packet(c, dl);
		if (n == -TP_EOF) {
			drop_partial(c); /* the peer died mid-message */
			c->eof = 1;
			return TP_EOF;
		}
		if (n == -TP_EDECODE) {
			drop_partial(c);
			return reject(c);
		}
		if (n < 0)
			return (int)-n;
		unsigned char tag = c->rbuf[0];
		if ((tag == TP_TAG_PAYLOAD || tag == TP_TAG_BYTES) &&
		    n >= TP_PKT_HDR)
			rv = start_msg(c, n);
		else if (tag == TP_TAG_CONTINUE)
			rv = continue_msg(c, n);
		else {
			drop_partial(c);
			c->skipping = 0;
			rv = reject(c);
		}
		if (rv != TP_OK)
			return rv;
	}
	return TP_OK;
}

/* Hands out the held message: frees its storage after use. */
static void consumed(tp_conn *c)
{
	c->have = 0;
	if (c->body == c->big) {
		free(c->big);
		c->big = NULL;
	}
	c->body = NULL;
}

int tp_conn_recv(tp_conn *c, tp_payload **out, int timeout_ms)
{
	int rv;
	if (out == NULL)
		return TP_EINVAL;
	if ((rv = check(c, 0)) != TP_OK || (rv = fill(c, timeout_ms)) != TP_OK)
		return rv;
	if (c->tag == TP_TAG_PAYLOAD) {
		rv = tp__payload_unpack(c->body, c->len, out);
		if (rv == TP_EDECODE)
			rv = reject(c);
	} else if ((rv = tp_payload_new(out)) == TP_OK &&
	           (rv = tp_payload_add_bytes(*out, c->body, c->len)) !=
	               TP_OK) {
		tp_payload_free(*out);
		*out = NULL;
	}
	if (rv == TP_ENOMEM)
		return rv; /* kept: a later recv may succeed */
	consumed(c);
	return rv;
}

int tp_conn_recv_bytes(tp_conn *c, void *buf, size_t maxlen, size_t *len,
                       int timeout_ms)
{
	int rv;
	if (len == NULL || (buf == NULL && maxlen > 0))
		return TP_EINVAL;
	if ((rv = check(c, 0)) != TP_OK || (rv = fill(c, timeout_ms)) != TP_OK)
		return rv;
	*len = c->len;
	if (c->len > maxlen)
		return TP_ETOOBIG; /* kept for the next, larger, recv */
	if (c->len > 0)
		memcpy(buf, c->body, c->len);
	consumed(c);
	return TP_OK;
}
