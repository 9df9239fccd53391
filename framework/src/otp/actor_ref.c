/*
 * actor_ref.c - the client side of actors: tp_actor_call and
 * tp_actor_cast over an nng req socket that dials the actor's address
 * (lazily, so the actor may start after the client).
 */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdlib.h>
#include <string.h>

#include "troupe/actor.h"
#include "troupe/error.h"
#include "runtime_int.h"
#include "wire.h"

#define ACTOR_MAX_MSG (16 * 1024 * 1024)

struct tp_actor_ref {
	nng_socket sock;
};

int tp_actor_ref_open(tp_actor_ref **out, const char *address)
{
	int rv;
	if (out == NULL || address == NULL)
		return TP_EINVAL;
	tp_actor_ref *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return TP_ENOMEM;
	tp__nng_used();
	if ((rv = nng_req0_open(&r->sock)) != 0) {
		free(r);
		return tp_err_nng(rv);
	}
	nng_setopt_size(r->sock, NNG_OPT_RECVMAXSZ, ACTOR_MAX_MSG);
	nng_setopt_ms(r->sock, NNG_OPT_RECONNMINT, 2);
	nng_setopt_ms(r->sock, NNG_OPT_RECONNMAXT, 100);
	if ((rv = nng_dial(r->sock, address, NULL, NNG_FLAG_NONBLOCK)) != 0) {
		nng_close(r->sock);
		free(r);
		return tp_err_nng(rv);
	}
	*out = r;
	return TP_OK;
}

void tp_actor_ref_close(tp_actor_ref *ref)
{
	if (ref == NULL)
		return;
	nng_close(ref->sock);
	free(ref);
}

static int send_req(tp_actor_ref *ref, const tp_payload *p, int cast,
                    int timeout_ms, int stats)
{
	Troupe__Envelope env = TROUPE__ENVELOPE__INIT;
	Troupe__ActorRequest ar = TROUPE__ACTOR_REQUEST__INIT;
	Troupe__Payload pb = TROUPE__PAYLOAD__INIT;
	void *buf;
	size_t len;
	nng_msg *m;
	int rv = p ? tp__payload_to_pb(p, &pb) : TP_OK;
	if (rv != TP_OK)
		return rv;
	ar.cast = cast;
	ar.stats = stats;
	ar.payload = &pb;
	env.body_case = TROUPE__ENVELOPE__BODY_ACTOR_REQUEST;
	env.actor_request = &ar;
	rv = tp__envelope_pack(&env, ACTOR_MAX_MSG, &buf, &len);
	tp__payload_pb_release(&pb);
	if (rv != TP_OK)
		return rv;
	nng_setopt_ms(ref->sock, NNG_OPT_SENDTIMEO, timeout_ms);
	nng_setopt_ms(ref->sock, NNG_OPT_RECVTIMEO, timeout_ms);
	if ((rv = nng_msg_alloc(&m, len)) == 0) {
		memcpy(nng_msg_body(m), buf, len);
		if ((rv = nng_sendmsg(ref->sock, m, 0)) != 0)
			nng_msg_free(m);
	}
	free(buf);
	return rv == NNG_ETIMEDOUT ? TP_ETIMEDOUT : tp_err_nng(rv);
}

static int recv_reply(tp_actor_ref *ref, tp_payload **out)
{
	Troupe__Envelope *env;
	nng_msg *m;
	int rv = nng_recvmsg(ref->sock, &m, 0);
	if (rv != 0)
		return rv == NNG_ETIMEDOUT ? TP_ETIMEDOUT : tp_err_nng(rv);
	rv = tp__envelope_unpack(nng_msg_body(m), nng_msg_len(m), ACTOR_MAX_MSG,
	                         &env);
	nng_msg_free(m);
	if (rv != TP_OK)
		return rv;
	if (env->body_case == TROUPE__ENVELOPE__BODY_ERROR)
		rv = env->error->code != TP_OK ? env->error->code : TP_EPROTO;
	else if (env->body_case != TROUPE__ENVELOPE__BODY_PAYLOAD)
		rv = TP_EPROTO;
	else if (out != NULL)
		rv = tp__payload_from_pb(env->payload, out);
	tp__envelope_free(env);
	return rv;
}

int tp_actor_call(tp_actor_ref *ref, const tp_payload *req, tp_payload **reply,
                  int timeout_ms)
{
	if (ref == NULL || reply == NULL)
		return TP_EINVAL;
	int rv = send_req(ref, req, 0, timeout_ms, 0);
	return rv == TP_OK ? recv_reply(ref, reply) : rv;
}

int tp_actor_cast(tp_actor_ref *ref, const tp_payload *msg, int timeout_ms)
{
	if (ref == NULL)
		return TP_EINVAL;
	int rv = send_req(ref, msg, 1, timeout_ms, 0);
	return rv == TP_OK ? recv_reply(ref, NULL) : rv;
}

int tp_actor_query_stats(tp_actor_ref *ref, tp_actor_stats *out, int timeout_ms)
{
	tp_payload *p = NULL;
	int64_t v[3] = {0};
	if (ref == NULL || out == NULL)
		return TP_EINVAL;
	int rv = send_req(ref, NULL, 0, timeout_ms, 1);
	if (rv == TP_OK)
		rv = recv_reply(ref, &p);
	for (int i = 0; rv == TP_OK && i < 3; i++)
		rv = tp_payload_get_int(p, (size_t)i, &v[i]);
	tp_payload_free(p);
	if (rv == TP_OK) {
		out->msgs_in = (uint64_t)v[0];
		out->msgs_out = (uint64_t)v[1];
		out->infos = (uint64_t)v[2];
	}
	return rv;
}
