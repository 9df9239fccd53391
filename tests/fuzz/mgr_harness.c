/*
 * mgr_harness.c - feeds arbitrary bytes to the manager's server core (the
 * code behind every received message), shared by the libFuzzer target
 * (fuzz_mgr.c, built with -DTP_FUZZ=ON) and the corpus replay test
 * (test_fuzz_replay, run by ctest on every build).
 *
 * Input: records [flags u8][len u16 LE][len bytes]. Each record is one
 * message from client 1 (authenticated by the harness first: flags bit 0
 * set) or client 2 (never authenticated). flags bit 1: client 1's
 * connection goes away after the message; bit 2: every parked call's
 * deadline passes. Bit 3: the bytes are a sealed frame of client 1 (as on
 * tcp://: [seq][message][MAC], tp__auth_unseal) and pass only if they
 * unseal; bit 4: the harness seals them itself with client 1's session
 * key and the next sequence number first (a valid frame carrying any
 * message). A frame that does not unseal ends client 1's connection, as
 * the transport does; the harness then authenticates it again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mgr_harness.h"
#include "mgr_int.h"
#include "troupe/error.h"
#include "wire.h"

struct fake {
	Troupe__Envelope *last; /* the last reply */
	int closed;
};

static void f_send(void *arg, void *token, const void *buf, size_t len)
{
	struct fake *f = arg;
	free(token);
	tp__envelope_free(f->last);
	f->last = NULL;
	tp__envelope_unpack(buf, len, 0, &f->last); /* replies decode */
}

static void f_drop(void *arg, void *token)
{
	(void)arg;
	free(token);
}

static void f_close(void *arg, uint32_t client)
{
	struct fake *f = arg;
	(void)client;
	f->closed++;
}

static void f_shutdown(void *arg)
{
	(void)arg;
}

static const char KEY[] = "fuzz-key";

static void request(struct tp__mgr_core *c, uint32_t client,
                    Troupe__MgrRequest *rq)
{
	Troupe__Envelope env = TROUPE__ENVELOPE__INIT;
	void *buf;
	size_t len;
	env.body_case = TROUPE__ENVELOPE__BODY_MGR_REQUEST;
	env.mgr_request = rq;
	if (tp__pack(&env.base, 0, &buf, &len) != TP_OK)
		return;
	tp__mgr_core_request(c, client, malloc(1), buf, len);
	free(buf);
}

/* The real handshake for client 1. */
static void authenticate(struct tp__mgr_core *c, struct fake *f)
{
	uint8_t nonce[TP__AUTH_NONCE] = {1}, mac[TP__AUTH_MAC];
	Troupe__MgrRequest rq = TROUPE__MGR_REQUEST__INIT;
	rq.op = TP__MGR_HELLO;
	rq.nonce.data = nonce;
	rq.nonce.len = sizeof(nonce);
	request(c, 1, &rq);
	if (f->last == NULL || f->last->mgr_reply == NULL)
		return;
	const Troupe__MgrReply *r = f->last->mgr_reply;
	tp__auth_mac(KEY, sizeof(KEY) - 1, "troupe-mgr-client", r->nonce.data,
	             r->nonce.len, mac);
	troupe__mgr_request__init(&rq);
	rq.op = TP__MGR_AUTH;
	rq.mac.data = mac;
	rq.mac.len = sizeof(mac);
	request(c, 1, &rq);
}

struct seal_state {
	uint64_t sseq, rseq;
};

/* Client 1's sealed frame, through the transport's check. */
static void sealed(struct tp__mgr_core *c, struct fake *f,
                   struct seal_state *st, const uint8_t *data, size_t len,
                   int seal_it)
{
	const uint8_t *skey = tp__mgr_core_skey(c, 1);
	const uint8_t *msg;
	size_t mlen;
	uint8_t *frame = NULL;
	if (skey == NULL)
		return;
	if (seal_it) {
		if ((frame = malloc(len + TP__AUTH_SEAL)) == NULL)
			return;
		tp__auth_seal(skey, TP__MGR_DIR_C, ++st->sseq, data, len,
		              frame);
		data = frame;
		len += TP__AUTH_SEAL;
	}
	if (tp__auth_unseal(skey, TP__MGR_DIR_C, &st->rseq, data, len, &msg,
	                    &mlen) == TP_OK) {
		tp__mgr_core_request(c, 1, malloc(1), msg, mlen);
	} else { /* the transport closes the connection */
		tp__mgr_core_gone(c, 1);
		memset(st, 0, sizeof(*st));
		authenticate(c, f);
	}
	free(frame);
}

int tp_mgr_fuzz_one(const uint8_t *data, size_t size)
{
	struct fake f = {0};
	struct tp__mgr_io io = {&f, f_send, f_drop, f_close, f_shutdown};
	struct tp__mgr_core *c;
	if (tp__mgr_core_new(&c, KEY, sizeof(KEY) - 1, 1 << 16, &io) != TP_OK)
		return 0;
	authenticate(c, &f);
	int authed =
	    f.last && f.last->mgr_reply && f.last->mgr_reply->code == TP_OK;
	struct seal_state st = {0};
	while (size >= 3) {
		uint8_t flags = data[0];
		size_t len = (size_t)data[1] | ((size_t)data[2] << 8);
		data += 3;
		size -= 3;
		if (len > size)
			len = size;
		if (flags & (8 | 16))
			sealed(c, &f, &st, data, len, flags & 16);
		else
			tp__mgr_core_request(c, (flags & 1) ? 1 : 2, malloc(1),
			                     data, len);
		data += len;
		size -= len;
		if (flags & 2)
			tp__mgr_core_gone(c, 1);
		if (flags & 4)
			tp__mgr_core_expire(c, INT64_MAX - 1);
	}
	tp__envelope_free(f.last);
	tp__mgr_core_free(c);
	return authed;
}
