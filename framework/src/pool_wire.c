/*
 * pool_wire.c - small helpers of the pool: sending an envelope as one nng
 * message (packed straight into the message body, no extra copy), the
 * clock, target names, and moving a value between payloads without
 * copying its bytes.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "payload_int.h"
#include "pool_int.h"
#include "process_int.h"
#include "troupe/error.h"
#include "wire.h"

int tp__pool_send(nng_socket s, const void *env_msg, int flags)
{
	const ProtobufCMessage *m = env_msg;
	size_t len = protobuf_c_message_get_packed_size(m);
	nng_msg *msg;
	int rv;
	if ((rv = nng_msg_alloc(&msg, len)) != 0)
		return tp_err_nng(rv);
	protobuf_c_message_pack(m, nng_msg_body(msg));
	if ((rv = nng_sendmsg(s, msg, flags)) != 0) {
		nng_msg_free(msg);
		return tp_err_nng(rv);
	}
	return TP_OK;
}

double tp__pool_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *tp__pool_target_name(tp_target_fn fn)
{
	return fn == NULL ? NULL : tp__target_name(fn);
}

tp_target_fn tp__pool_target_find(const char *name)
{
	return name == NULL ? NULL : tp__target_find(name);
}

/* Appends src's value i to dst, taking its memory; src's slot becomes an
 * empty none value. */
void tp__pool_value_move(tp_payload *dst, tp_payload *src, size_t i)
{
	if (tp_payload_add_none(dst) != TP_OK)
		return;
	struct tp_value *v = &dst->values[dst->count - 1];
	*v = src->values[i];
	memset(&src->values[i], 0, sizeof(src->values[i]));
	src->values[i].type = TP_TNONE;
}
