/*
 * conn_relay.c - the tcp side of a connection (conn_int.h).
 *
 * A tp_conn speaks SOCK_SEQPACKET packets (pipe_io.c); tcp is a stream.
 * So the user's end is one side of a socketpair and a detached thread
 * relays between the other side and the tcp socket: each packet goes
 * over tcp as [u32 BE length][u64 seq][packet][HMAC-SHA256] (sealed with
 * this session's key, base/auth.h), and each frame that arrives is
 * checked (length at most one packet plus the seal, MAC, increasing
 * sequence) before its packet is delivered. A frame that fails ends the
 * connection: the user's end reads what came before, then end of file.
 * End of file travels both ways as a half close, so what was sent before
 * a close arrives first, as on a pipe.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn_int.h"
#include "pipe_int.h"
#include "runtime_int.h"
#include "troupe/error.h"

#define FRAME_MAX (TP_PKT_MAX + TP__AUTH_SEAL)

struct relay {
	int tcp, local;
	uint8_t dir; /* the direction of what we send */
	uint8_t skey[TP__AUTH_MAC];
	uint64_t seq;  /* last sent */
	uint64_t last; /* last received */
	uint8_t pkt[TP_PKT_MAX + 1];
	uint8_t frame[4 + FRAME_MAX];
};

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int read_all(int fd, uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t r = recv(fd, p, n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* One packet from the user's end to tcp. 0: go on; 1: the end closed;
 * -1: tcp failed. */
static int outbound(struct relay *r, short revents)
{
	ssize_t n = recv(r->local, r->pkt, sizeof(r->pkt), MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : 1;
	if (n == 0 && (revents & (POLLHUP | POLLRDHUP)) != 0)
		return 1;
	uint32_t len = htonl((uint32_t)((size_t)n + TP__AUTH_SEAL));
	memcpy(r->frame, &len, 4);
	tp__auth_seal(r->skey, r->dir, ++r->seq, r->pkt, (size_t)n,
	              r->frame + 4);
	return write_all(r->tcp, r->frame, 4 + (size_t)n + TP__AUTH_SEAL);
}

/* One frame from tcp to the user's end. 0: go on; 1: tcp end of file;
 * -1: a bad frame, tcp failed, or the user's end is gone. */
static int inbound(struct relay *r)
{
	uint32_t len;
	const uint8_t *msg;
	size_t n;
	uint8_t other =
	    r->dir == TP__CONN_DIR_C ? TP__CONN_DIR_S : TP__CONN_DIR_C;
	ssize_t got = recv(r->tcp, &len, 4, MSG_PEEK | MSG_DONTWAIT);
	if (got == 0)
		return 1;
	if (got < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (read_all(r->tcp, (uint8_t *)&len, 4) != 0)
		return -1;
	len = ntohl(len);
	if (len < TP__AUTH_SEAL || len > FRAME_MAX ||
	    read_all(r->tcp, r->frame, len) != 0 ||
	    tp__auth_unseal(r->skey, other, &r->last, r->frame, len, &msg,
	                    &n) != TP_OK)
		return -1;
	return send(r->local, msg, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1;
}

static void *relay_main(void *arg)
{
	struct relay *r = arg;
	int out_open = 1, in_open = 1;
	while (out_open || in_open) {
		struct pollfd pf[2] = {{r->local, out_open ? POLLIN : 0, 0},
		                       {r->tcp, in_open ? POLLIN : 0, 0}};
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		int rv = 0;
		if (out_open && pf[0].revents != 0 &&
		    (rv = outbound(r, pf[0].revents)) == 1) {
			shutdown(r->tcp, SHUT_WR);
			out_open = 0;
		}
		if (rv < 0)
			break;
		if (in_open && pf[1].revents != 0 && (rv = inbound(r)) == 1) {
			shutdown(r->local, SHUT_WR);
			in_open = 0;
		}
		if (rv < 0)
			break;
	}
	close(r->tcp);
	close(r->local);
	memset(r->skey, 0, sizeof(r->skey));
	free(r);
	return NULL;
}

int tp__conn_relay(int tcp, const struct tp__hs_key *k,
                   const uint8_t nonces[2 * TP__AUTH_NONCE], uint8_t dir,
                   tp_conn **out)
{
	int sv[2], rv;
	pthread_t th;
	struct relay *r = calloc(1, sizeof(*r));
	if (r == NULL) {
		close(tcp);
		return TP_ENOMEM;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		rv = tp_err_errno(errno);
		free(r);
		close(tcp);
		return rv;
	}
	r->tcp = tcp;
	r->local = sv[1];
	r->dir = dir;
	tp__auth_session_key(k->key, k->len, nonces, nonces + TP__AUTH_NONCE,
	                     r->skey);
	if ((rv = tp__conn_wrap(sv[0], 1, 1, out)) != TP_OK) {
		close(sv[0]);
		close(sv[1]);
		close(tcp);
		free(r);
		return rv;
	}
	if ((rv = tp__thread_start(&th, relay_main, r)) != TP_OK) {
		tp_conn_free(*out);
		close(sv[1]);
		close(tcp);
		free(r);
		return rv;
	}
	pthread_detach(th);
	return TP_OK;
}
