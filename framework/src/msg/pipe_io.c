/*
 * pipe_io.c - sending and receiving on a pipe end, poll, and passing an
 * end in a payload. See pipe.c for the model.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "payload_int.h"
#include "pipe_int.h"
#include "troupe/error.h"
#include "wire.h"

#define TAG_PAYLOAD      'P'
#define TAG_BYTES        'B'
#define CONN_HANDLE_KIND "pipe"

/* Runs the started aio to completion; cancels it if the peer went away
 * between the caller's check and the start. */
static int aio_run(tp_conn *c, nng_aio *aio, int gone_before)
{
	if (!gone_before && tp__conn_peer_gone(c))
		nng_aio_cancel(aio);
	nng_aio_wait(aio);
	return nng_aio_result(aio);
}

static int send_msg(tp_conn *c, nng_msg *m)
{
	int rv;
	for (;;) {
		if (c->peer_fin || tp__conn_peer_gone(c) ||
		    __atomic_load_n(&c->peer_parked, __ATOMIC_SEQ_CST)) {
			rv = TP_ECLOSED;
			break;
		}
		nng_aio_set_msg(c->saio, m);
		nng_aio_set_timeout(c->saio, NNG_DURATION_INFINITE);
		nng_send_aio(c->sock, c->saio);
		if ((rv = aio_run(c, c->saio, 0)) == 0) {
			c->sent++;
			if (!c->slow_redial)
				tp__conn_slow_redial(c);
			return TP_OK;
		}
		if (rv != NNG_ECANCELED) {
			rv = rv == NNG_ECLOSED ? TP_ECLOSED : tp_err_nng(rv);
			break;
		}
	}
	nng_msg_free(m);
	return rv;
}

static int send_check(tp_conn *c)
{
	if (c == NULL)
		return TP_EINVAL;
	if (!c->writable)
		return TP_EPERM;
	return tp__conn_open(c);
}

int tp_conn_send(tp_conn *c, const tp_payload *p)
{
	Troupe__Payload pb;
	nng_msg *m;
	int rv;
	if (p == NULL)
		return TP_EINVAL;
	if ((rv = send_check(c)) != TP_OK)
		return rv;
	if ((rv = tp__payload_to_pb(p, &pb)) != TP_OK)
		return rv;
	size_t n = protobuf_c_message_get_packed_size(&pb.base);
	if (n > TP_MAX_MSG_DEFAULT - 1) {
		rv = TP_ETOOBIG;
	} else if ((rv = nng_msg_alloc(&m, n + 1)) != 0) {
		rv = TP_ENOMEM;
	} else {
		unsigned char *body = nng_msg_body(m);
		body[0] = TAG_PAYLOAD;
		protobuf_c_message_pack(&pb.base, body + 1);
	}
	tp__payload_pb_release(&pb);
	return rv == TP_OK ? send_msg(c, m) : rv;
}

int tp_conn_send_bytes(tp_conn *c, const void *buf, size_t len)
{
	nng_msg *m;
	int rv;
	if (buf == NULL && len > 0)
		return TP_EINVAL;
	if ((rv = send_check(c)) != TP_OK)
		return rv;
	if (len > TP_MAX_MSG_DEFAULT - 1)
		return TP_ETOOBIG;
	if (nng_msg_alloc(&m, len + 1) != 0)
		return TP_ENOMEM;
	unsigned char *body = nng_msg_body(m);
	body[0] = TAG_BYTES;
	if (len > 0)
		memcpy(body + 1, buf, len);
	return send_msg(c, m);
}

/* Next message, waiting in slices so a vanished peer is noticed; what is
 * already queued is handed out before TP_ECLOSED. */
static int raw_next(tp_conn *c, int64_t dl, nng_msg **out)
{
	int rv;
	for (;;) {
		int gone = tp__conn_peer_gone(c);
		int64_t left = dl < 0 ? 0 : dl - tp__now_ms();
		nng_duration to = NNG_DURATION_INFINITE;
		if (gone || (dl >= 0 && left <= 0))
			to = NNG_DURATION_ZERO;
		else if (dl >= 0)
			to = (nng_duration)left;
		nng_aio_set_timeout(c->raio, to);
		nng_recv_aio(c->sock, c->raio);
		rv = aio_run(c, c->raio, gone);
		if (rv == 0) {
			*out = nng_aio_get_msg(c->raio);
			if (!c->slow_redial)
				tp__conn_slow_redial(c);
			return TP_OK;
		}
		if (rv == NNG_ECANCELED)
			continue; /* the peer went: drain what is queued */
		if (rv == NNG_ETIMEDOUT && !gone && tp__conn_peer_gone(c))
			continue; /* went away while we waited: drain */
		if (rv == NNG_ETIMEDOUT || rv == NNG_EAGAIN)
			return gone ? TP_ECLOSED : TP_ETIMEDOUT;
		return rv == NNG_ECLOSED ? TP_ECLOSED : tp_err_nng(rv);
	}
}

/* Sends a one-byte control message without waiting. */
static void send_ctl(tp_conn *c, char tag)
{
	nng_msg *m;
	if (nng_msg_alloc(&m, 1) != 0)
		return;
	*(char *)nng_msg_body(m) = tag;
	if (nng_sendmsg(c->sock, m, NNG_FLAG_NONBLOCK) != 0)
		nng_msg_free(m);
}

int tp__conn_send_fin(tp_conn *c)
{
	nng_msg *m;
	if (nng_msg_alloc(&m, 1) != 0)
		return 0;
	*(char *)nng_msg_body(m) = TP_TAG_FIN;
	if (nng_sendmsg(c->sock, m, NNG_FLAG_NONBLOCK) != 0) {
		nng_msg_free(m);
		return 0;
	}
	return 1;
}

/* 1 if m is a control message (consumed: freed, and a FIN answered). */
static int control(tp_conn *c, nng_msg *m)
{
	const char *b = nng_msg_body(m);
	if (nng_msg_len(m) != 1 || (b[0] != TP_TAG_FIN && b[0] != TP_TAG_ACK))
		return 0;
	if (b[0] == TP_TAG_FIN) {
		c->peer_fin = 1;
		send_ctl(c, TP_TAG_ACK);
	}
	nng_msg_free(m);
	return 1;
}

/* The next data message; after the peer's FIN, TP_ECLOSED. */
static int next_msg(tp_conn *c, int timeout_ms, nng_msg **out)
{
	int64_t dl = timeout_ms < 0 ? -1 : tp__now_ms() + timeout_ms;
	int rv;
	if (c->pending != NULL) {
		*out = c->pending;
		c->pending = NULL;
		return TP_OK;
	}
	while (!c->peer_fin) {
		if ((rv = raw_next(c, dl, out)) != TP_OK)
			return rv;
		if (!control(c, *out))
			return TP_OK;
	}
	return TP_ECLOSED;
}

int tp__conn_linger(tp_conn *c)
{
	int64_t dl = tp__now_ms() + TP_CONN_LINGER_MS;
	nng_msg *m, *fin;
	int rv;
	if (c->sent == 0 && !__atomic_load_n(&c->ever, __ATOMIC_ACQUIRE))
		return TP_OK; /* nothing to deliver, nobody to tell */
	if (c->peer_fin || tp__conn_peer_gone(c))
		return TP_OK;
	if (nng_msg_alloc(&fin, 1) != 0)
		return TP_ENOMEM;
	*(char *)nng_msg_body(fin) = TP_TAG_FIN;
	while ((rv = nng_sendmsg(c->sock, fin, 0)) == NNG_ETIMEDOUT &&
	       tp__now_ms() < dl && !tp__conn_peer_gone(c))
		;
	if (rv != 0) {
		nng_msg_free(fin);
		return tp__conn_peer_gone(c) ? TP_OK : TP_ETIMEDOUT;
	}
	while ((rv = raw_next(c, dl, &m)) == TP_OK) {
		const char *b = nng_msg_body(m);
		int ack = nng_msg_len(m) == 1 && b[0] == TP_TAG_ACK;
		if (!control(c, m))
			nng_msg_free(m); /* data nobody will read */
		if (ack)
			return TP_OK;
	}
	return rv == TP_ECLOSED ? TP_OK : rv;
}

static int recv_check(tp_conn *c)
{
	if (c == NULL)
		return TP_EINVAL;
	if (c->state == TP_CONN_CLOSED)
		return TP_ECLOSED;
	if (!c->readable)
		return TP_EPERM;
	return tp__conn_open(c);
}

static int reject(tp_conn *c, nng_msg *m)
{
	nng_msg_free(m);
	c->rejected++;
	return TP_EDECODE;
}

int tp_conn_recv(tp_conn *c, tp_payload **out, int timeout_ms)
{
	nng_msg *m;
	int rv;
	if (out == NULL)
		return TP_EINVAL;
	if ((rv = recv_check(c)) != TP_OK ||
	    (rv = next_msg(c, timeout_ms, &m)) != TP_OK)
		return rv;
	const unsigned char *b = nng_msg_body(m);
	size_t n = nng_msg_len(m);
	if (n == 0 || (b[0] != TAG_PAYLOAD && b[0] != TAG_BYTES))
		return reject(c, m);
	if (b[0] == TAG_PAYLOAD) {
		rv = tp_payload_decode(b + 1, n - 1, 0, out);
		if (rv == TP_EDECODE || rv == TP_ETOOBIG)
			return reject(c, m);
	} else if ((rv = tp_payload_new(out)) == TP_OK &&
	           (rv = tp_payload_add_bytes(*out, b + 1, n - 1)) != TP_OK) {
		tp_payload_free(*out);
		*out = NULL;
	}
	nng_msg_free(m);
	return rv;
}

int tp_conn_recv_bytes(tp_conn *c, void *buf, size_t maxlen, size_t *len,
                       int timeout_ms)
{
	nng_msg *m;
	int rv;
	if (len == NULL || (buf == NULL && maxlen > 0))
		return TP_EINVAL;
	if ((rv = recv_check(c)) != TP_OK ||
	    (rv = next_msg(c, timeout_ms, &m)) != TP_OK)
		return rv;
	const unsigned char *b = nng_msg_body(m);
	size_t n = nng_msg_len(m);
	if (n == 0 || (b[0] != TAG_PAYLOAD && b[0] != TAG_BYTES))
		return reject(c, m);
	*len = n - 1;
	if (n - 1 > maxlen) {
		c->pending = m; /* kept for the next, larger, recv */
		return TP_ETOOBIG;
	}
	if (n > 1)
		memcpy(buf, b + 1, n - 1);
	nng_msg_free(m);
	return TP_OK;
}

int tp_conn_poll(tp_conn *c, int timeout_ms)
{
	nng_msg *m;
	int rv;
	if ((rv = recv_check(c)) != TP_OK)
		return rv;
	if (c->pending != NULL)
		return TP_OK;
	rv = next_msg(c, timeout_ms, &m);
	if (rv == TP_OK)
		c->pending = m;
	else if (rv == TP_ECLOSED && c->state == TP_CONN_OPEN)
		rv = TP_OK; /* end of file: recv will say TP_ECLOSED */
	return rv;
}

int tp_payload_add_conn(tp_payload *p, const tp_conn *c)
{
	Troupe__Handle h;
	if (p == NULL || c == NULL)
		return TP_EINVAL;
	if (c->state != TP_CONN_IDLE)
		return TP_ESTATE;
	troupe__handle__init(&h);
	h.kind = CONN_HANDLE_KIND;
	h.address = (char *)c->addr;
	h.id = c->role;
	h.flags = (c->readable ? 1 : 0) | (c->writable ? 2 : 0);
	return tp_payload_add_proto(p, &h.base);
}

static int conn_from_handle(const Troupe__Handle *h, tp_conn **out)
{
	tp_conn *c;
	if (strcmp(h->kind, CONN_HANDLE_KIND) != 0)
		return TP_ETYPE;
	if (strncmp(h->address, "ipc://", 6) != 0 ||
	    strlen(h->address) >= TP_CONN_ADDR_MAX || h->id < 0 || h->id > 1 ||
	    h->flags < 1 || h->flags > 3)
		return TP_EDECODE;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return TP_ENOMEM;
	strcpy(c->addr, h->address);
	c->role = (int)h->id;
	c->readable = (h->flags & 1) != 0;
	c->writable = (h->flags & 2) != 0;
	*out = c;
	return TP_OK;
}

int tp_payload_get_conn(const tp_payload *p, size_t i, tp_conn **out)
{
	Troupe__Handle *h;
	if (out == NULL)
		return TP_EINVAL;
	int rv = tp__payload_get_handle(p, i, CONN_HANDLE_KIND, &h);
	if (rv != TP_OK)
		return rv;
	rv = conn_from_handle(h, out);
	tp__handle_free(h);
	return rv;
}
