/*
 * wire.c - size-checked packing and unpacking, and the bridge between the
 * public tp_payload and the generated Troupe__Payload.
 */
#include <stdlib.h>
#include <string.h>

#include "payload_int.h"
#include "troupe/error.h"
#include "wire.h"

static size_t limit(size_t max)
{
	return max == 0 ? TP_MAX_MSG_DEFAULT : max;
}

int tp__pack_into(const ProtobufCMessage *msg, size_t max, void *buf,
                  size_t cap, void **out, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	if (n > limit(max))
		return TP_ETOOBIG;
	void *dst = buf;
	if (n > cap || buf == NULL) {
		if ((dst = malloc(n ? n : 1)) == NULL)
			return TP_ENOMEM;
	}
	protobuf_c_message_pack(msg, dst);
	*out = dst;
	*len = n;
	return TP_OK;
}

int tp__pack(const ProtobufCMessage *msg, size_t max, void **buf, size_t *len)
{
	return tp__pack_into(msg, max, NULL, 0, buf, len);
}

int tp__unpack(const ProtobufCMessageDescriptor *desc, const void *buf,
               size_t len, size_t max, ProtobufCMessage **out)
{
	if (len > limit(max))
		return TP_ETOOBIG;
	*out = protobuf_c_message_unpack(desc, NULL, len, buf);
	return *out == NULL ? TP_EDECODE : TP_OK;
}

/* One allocation holds the value structs, user messages and pointers. */
struct pb_block {
	Troupe__Value value;
	Troupe__UserMessage user;
};

void tp__value_to_pb(const struct tp_value *v, Troupe__Value *pv,
                     Troupe__UserMessage *user)
{
	troupe__value__init(pv);
	switch (v->type) {
	case TP_TNONE:
		pv->kind_case = TROUPE__VALUE__KIND_NONE;
		pv->none = 1;
		break;
	case TP_TINT:
		pv->kind_case = TROUPE__VALUE__KIND_I;
		pv->i = v->i;
		break;
	case TP_TDOUBLE:
		pv->kind_case = TROUPE__VALUE__KIND_D;
		pv->d = v->d;
		break;
	case TP_TSTRING:
		pv->kind_case = TROUPE__VALUE__KIND_S;
		pv->s = v->data;
		break;
	case TP_TBYTES:
		pv->kind_case = TROUPE__VALUE__KIND_B;
		pv->b.data = (uint8_t *)v->data;
		pv->b.len = v->len;
		break;
	case TP_TPROTO:
		troupe__user_message__init(user);
		user->type_name = tp__value_type_name(v);
		user->data.data = (uint8_t *)v->data;
		user->data.len = v->len;
		pv->kind_case = TROUPE__VALUE__KIND_USER;
		pv->user = user;
		break;
	}
}

int tp__payload_to_pb(const tp_payload *p, Troupe__Payload *pb)
{
	troupe__payload__init(pb);
	if (p->count == 0)
		return TP_OK;
	size_t n = p->count;
	struct pb_block *blk = malloc(n * sizeof(*blk));
	Troupe__Value **ptrs = malloc(n * sizeof(*ptrs));
	if (blk == NULL || ptrs == NULL) {
		free(blk);
		free(ptrs);
		return TP_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		/* a view: a packed number is copied into the Value */
		struct tp_value v = tp__payload_at(p, i);
		tp__value_to_pb(&v, &blk[i].value, &blk[i].user);
		ptrs[i] = &blk[i].value;
	}
	pb->n_values = n;
	pb->values = ptrs;
	return TP_OK;
}

void tp__payload_pb_release(Troupe__Payload *pb)
{
	if (pb->n_values > 0) {
		/* values[0] is the start of the block (see tp__payload_to_pb)
		 */
		free(pb->values[0]);
		free(pb->values);
	}
	pb->values = NULL;
	pb->n_values = 0;
}

/* Decoded values own their bytes (queue.c hands them to its caller). */
static int add_from_pb(tp_payload *p, const Troupe__Value *pv)
{
	switch (pv->kind_case) {
	case TROUPE__VALUE__KIND_NONE:
		return tp_payload_add_none(p);
	case TROUPE__VALUE__KIND_I:
		return tp_payload_add_int(p, pv->i);
	case TROUPE__VALUE__KIND_D:
		return tp_payload_add_double(p, pv->d);
	case TROUPE__VALUE__KIND_S:
		return tp__payload_add_blob(p, TP_TSTRING, pv->s, strlen(pv->s),
		                            NULL, 1);
	case TROUPE__VALUE__KIND_B:
		return tp__payload_add_blob(p, TP_TBYTES, pv->b.data, pv->b.len,
		                            NULL, 1);
	case TROUPE__VALUE__KIND_USER: {
		const Troupe__UserMessage *u = pv->user;
		if (u->type_name == NULL || u->type_name[0] == '\0')
			return TP_EDECODE;
		return tp__payload_add_blob(p, TP_TPROTO, u->data.data,
		                            u->data.len, u->type_name, 1);
	}
	default:
		return TP_EDECODE; /* a value with no kind set */
	}
}

int tp__payload_from_pb(const Troupe__Payload *pb, tp_payload **out)
{
	tp_payload *p;
	int rv = tp_payload_new(&p);
	for (size_t i = 0; rv == TP_OK && i < pb->n_values; i++)
		rv = add_from_pb(p, pb->values[i]);
	if (rv != TP_OK) {
		tp_payload_free(p);
		return rv;
	}
	*out = p;
	return TP_OK;
}

int tp__envelope_pack(const Troupe__Envelope *env, size_t max, void **buf,
                      size_t *len)
{
	if (env == NULL || buf == NULL || len == NULL)
		return TP_EINVAL;
	return tp__pack(&env->base, max, buf, len);
}

int tp__envelope_unpack(const void *buf, size_t len, size_t max,
                        Troupe__Envelope **out)
{
	if ((buf == NULL && len > 0) || out == NULL)
		return TP_EINVAL;
	return tp__unpack(&troupe__envelope__descriptor, buf, len, max,
	                  (ProtobufCMessage **)out);
}

void tp__envelope_free(Troupe__Envelope *env)
{
	if (env != NULL)
		protobuf_c_message_free_unpacked(&env->base, NULL);
}

int tp__payload_get_handle(const tp_payload *p, size_t i, const char *kind,
                           Troupe__Handle **out)
{
	ProtobufCMessage *m = NULL;
	int rv;
	if (p == NULL || out == NULL)
		return TP_EINVAL;
	rv = tp_payload_get_proto(p, i, &troupe__handle__descriptor, &m);
	if (rv != TP_OK)
		return rv;
	Troupe__Handle *h = (Troupe__Handle *)m;
	if (kind != NULL && strcmp(h->kind, kind) != 0) {
		protobuf_c_message_free_unpacked(m, NULL);
		return TP_ETYPE;
	}
	*out = h;
	return TP_OK;
}

void tp__handle_free(Troupe__Handle *h)
{
	if (h != NULL)
		protobuf_c_message_free_unpacked(&h->base, NULL);
}
