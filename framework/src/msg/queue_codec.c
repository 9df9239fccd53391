/*
 * queue_codec.c - the wire encoding of a one-value payload, written and
 * read directly (schemas/troupe.proto: Payload{values: [Value{kind}]}).
 *
 * Why: the typed puts and gets (tp_queue_put_int, tp_queue_get_bytes, ...)
 * move one value per item, and going through protobuf-c for that
 * (describing the message, sizing it, packing it into a buffer that is
 * then copied into the ring; unpacking it into allocations on the way out)
 * cost more than the queue itself. The bytes are exactly those protobuf-c
 * produces (tested against it), so any get reads any put. Anything this
 * reader does not recognise exactly (several values, unknown fields, a
 * user message, another kind) goes through protobuf-c as before.
 */
#include <string.h>

#include "queue_int.h"
#include "varint.h"

#define TAG_VALUES 0x0a /* Payload.values: field 1, length-delimited */

static const unsigned char kind_tag[] = {
    [TP_TNONE] = 0x08,   /* none: field 1, varint */
    [TP_TINT] = 0x10,    /* i: field 2, varint (zigzag) */
    [TP_TDOUBLE] = 0x19, /* d: field 3, 64-bit */
    [TP_TSTRING] = 0x22, /* s: field 4, length-delimited */
    [TP_TBYTES] = 0x2a,  /* b: field 5, length-delimited */
};

static size_t put_varint(unsigned char *out, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		out[n++] = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	out[n++] = (unsigned char)v;
	return n;
}

size_t tp__q_enc_prefix(const struct tp_value *v, unsigned char *out,
                        const void **data, size_t *dlen)
{
	unsigned char val[TP_Q_PREFIX_MAX];
	size_t n;
	*data = NULL;
	*dlen = 0;
	if (v->type > TP_TBYTES)
		return 0; /* a user message: protobuf-c */
	val[0] = kind_tag[v->type];
	switch (v->type) {
	case TP_TNONE:
		val[1] = 1;
		n = 2;
		break;
	case TP_TINT: {
		uint64_t u = v->i;
		n = 1 + put_varint(val + 1, (u << 1) ^ (uint64_t)(v->i >> 63));
		break;
	}
	case TP_TDOUBLE:
		memcpy(val + 1, &v->d, 8);
		n = 9;
		break;
	default:
		n = 1 + put_varint(val + 1, v->len);
		*data = v->data;
		*dlen = v->len;
		break;
	}
	out[0] = TAG_VALUES;
	size_t k = 1 + put_varint(out + 1, n + *dlen);
	memcpy(out + k, val, n);
	return k + n;
}

/* Reads a varint at *p (before end); 0 if malformed or truncated. */
static int get_varint(const unsigned char **p, const unsigned char *end,
                      uint64_t *out)
{
	return tp__varint_get(p, end, out);
}

int tp__q_dec_one(const void *buf, size_t len, tp_type type, struct tp_value *v)
{
	const unsigned char *p = buf, *end = p + len;
	uint64_t n, x;
	if (type > TP_TBYTES || len < 3 || *p++ != TAG_VALUES ||
	    !get_varint(&p, end, &n) || n != (uint64_t)(end - p) ||
	    *p++ != kind_tag[type])
		return 0;
	v->type = type;
	switch (type) {
	case TP_TINT:
		if (!get_varint(&p, end, &x))
			return 0;
		v->i = (int64_t)((x >> 1) ^ (~(x & 1) + 1));
		return p == end;
	case TP_TDOUBLE:
		if (end - p != 8)
			return 0;
		memcpy(&v->d, p, 8);
		return 1;
	case TP_TSTRING:
	case TP_TBYTES:
		if (!get_varint(&p, end, &x) || x != (uint64_t)(end - p) ||
		    x > UINT32_MAX) /* a value holds at most 4 GiB - 1 */
			return 0;
		/* a string with a NUL inside is left to protobuf-c */
		if (type == TP_TSTRING && memchr(p, 0, (size_t)x) != NULL)
			return 0;
		v->data = (char *)p;
		v->len = (uint32_t)x;
		return 1;
	default:
		return 0;
	}
}
