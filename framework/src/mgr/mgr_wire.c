/*
 * mgr_wire.c - the two messages of every manager call written directly:
 * the client's Envelope{correlation_id, MgrRequest} and the server's
 * Envelope{correlation_id, MgrReply{code, result}}, with the payload
 * written by the payload codec (base/payload_codec.c).
 *
 * Why: protobuf-c sizes and packs an Envelope by walking every field of
 * its descriptor (some sixty, one per body), and the payload had first to
 * be described as one Troupe__Value per value (an allocation). These
 * writers produce exactly protobuf-c's bytes (tests/test_mgr_wire.c
 * compares them); the receiving side still decodes with protobuf-c.
 */
#include <stdlib.h>
#include <string.h>

#include "mgr_int.h"
#include "troupe/error.h"
#include "varint.h"
#include "wire.h"

#define T_CORR    0x18              /* Envelope.correlation_id: 3, varint */
#define T_REQUEST ((140u << 3) | 2) /* Envelope.mgr_request, bytes */
#define T_REPLY   ((141u << 3) | 2) /* Envelope.mgr_reply, bytes */

/* A varint field (tag < 0x80), absent when 0 as proto3 packs it. */
static size_t fv_size(uint64_t v)
{
	return v ? 1 + tp__varint_size(v) : 0;
}

static uint8_t *put_fv(uint8_t *o, int tag, uint64_t v)
{
	if (v == 0)
		return o;
	*o++ = (uint8_t)tag;
	return tp__varint_put(o, v);
}

/* A string field, absent when empty. */
static size_t fs_size(size_t n)
{
	return n ? 1 + tp__varint_size(n) + n : 0;
}

static uint8_t *put_fs(uint8_t *o, int tag, const char *s, size_t n)
{
	if (n == 0)
		return o;
	*o++ = (uint8_t)tag;
	o = tp__varint_put(o, n);
	memcpy(o, s, n);
	return o + n;
}

/* A payload field (present even when empty, as a set message field). */
static uint8_t *put_payload(uint8_t *o, int tag, const tp_payload *p, size_t n)
{
	*o++ = (uint8_t)tag;
	o = tp__varint_put(o, n);
	tp__payload_pack_to(p, o);
	return o + n;
}

/* The envelope around a body of n bytes. */
static size_t env_size(uint64_t corr, size_t n)
{
	return fv_size(corr) + 2 + tp__varint_size(n) + n;
}

static uint8_t *put_env(uint8_t *o, uint64_t corr, unsigned tag, size_t n)
{
	o = put_fv(o, T_CORR, corr);
	o = tp__varint_put(o, tag);
	return tp__varint_put(o, n);
}

/* Where the message goes: small when it fits, else a new buffer. */
static uint8_t *out_buf(void *small, size_t cap, size_t n, void **out)
{
	*out = n <= cap && small != NULL ? small : malloc(n ? n : 1);
	return *out;
}

int tp__mgr_req_pack(const struct tp__mgr_req *rq, size_t max, void *small,
                     size_t cap, void **out, size_t *len)
{
	size_t nl = rq->name ? strlen(rq->name) : 0;
	size_t kl = rq->key ? strlen(rq->key) : 0;
	int has_args = rq->args != NULL && rq->args->count > 0;
	size_t pl = has_args ? tp__payload_packed_size(rq->args) : 0;
	uint32_t tz = ((uint32_t)rq->timeout_ms << 1) ^
	              (uint32_t)(rq->timeout_ms >> 31); /* sint32 */
	size_t body = fv_size(rq->op) + fv_size(rq->object) + fs_size(nl) +
	              (has_args ? 1 + tp__varint_size(pl) + pl : 0) +
	              fv_size(tz) + fs_size(kl);
	size_t n = env_size(rq->corr, body);
	uint8_t *o;
	if (n > (max ? max : TP_MAX_MSG_DEFAULT))
		return TP_ETOOBIG;
	if ((o = out_buf(small, cap, n, out)) == NULL)
		return TP_ENOMEM;
	o = put_env(o, rq->corr, T_REQUEST, body);
	o = put_fv(o, 0x08, rq->op);
	o = put_fv(o, 0x10, rq->object);
	o = put_fs(o, 0x1a, rq->name, nl);
	if (has_args)
		o = put_payload(o, 0x22, rq->args, pl);
	o = put_fv(o, 0x28, tz);
	put_fs(o, 0x42, rq->key, kl);
	*len = n;
	return TP_OK;
}

int tp__mgr_reply_pack(uint64_t corr, int code, const tp_payload *result,
                       size_t max, void *small, size_t cap, void **out,
                       size_t *len)
{
	int has = result != NULL;
	size_t pl = has ? tp__payload_packed_size(result) : 0;
	/* int32: a negative code is a 10-byte varint, as protobuf-c packs */
	uint64_t cv = (uint64_t)(int64_t)code;
	size_t body = fv_size(cv) + (has ? 1 + tp__varint_size(pl) + pl : 0);
	size_t n = env_size(corr, body);
	uint8_t *o;
	if (n > (max ? max : TP_MAX_MSG_DEFAULT))
		return TP_ETOOBIG;
	if ((o = out_buf(small, cap, n, out)) == NULL)
		return TP_ENOMEM;
	o = put_env(o, corr, T_REPLY, body);
	o = put_fv(o, 0x08, cv);
	if (has)
		put_payload(o, 0x12, result, pl);
	*len = n;
	return TP_OK;
}

/* ---- reading a reply ---- */

/* A length and that many bytes: their span. */
static int get_span(const uint8_t **p, const uint8_t *end, const uint8_t **s,
                    size_t *n)
{
	uint64_t v;
	if (!tp__varint_get(p, end, &v) || v > (uint64_t)(end - *p))
		return 0;
	*s = *p;
	*n = (size_t)v;
	*p += v;
	return 1;
}

static int read_body(const uint8_t *p, const uint8_t *end,
                     struct tp__mgr_rep *r)
{
	uint64_t tag, v;
	while (p < end) {
		if (!tp__varint_get(&p, end, &tag))
			return 0;
		if (tag == 0x08 && tp__varint_get(&p, end, &v))
			r->code =
			    (int32_t)(uint32_t)v; /* int32, as protobuf-c */
		else if (tag == 0x18 && tp__varint_get(&p, end, &v))
			r->object = v;
		else if (tag == 0x12 && !r->has_result &&
		         get_span(&p, end, &r->result, &r->result_len))
			r->has_result = 1;
		else
			return 0;
	}
	return 1;
}

/* Reads Envelope{correlation_id, <body tag>: body} and nothing else:
 * the body's span, or 0. */
static int read_env(const uint8_t *p, const uint8_t *end, uint64_t want,
                    uint64_t *corr, const uint8_t **body, size_t *blen)
{
	uint64_t tag;
	*body = NULL;
	while (p < end) {
		if (!tp__varint_get(&p, end, &tag))
			return 0;
		if (tag == T_CORR) {
			if (!tp__varint_get(&p, end, corr))
				return 0;
		} else if (tag != want || *body != NULL ||
		           !get_span(&p, end, body, blen)) {
			return 0;
		}
	}
	return *body != NULL;
}

int tp__mgr_reply_read(const void *buf, size_t len, struct tp__mgr_rep *r)
{
	const uint8_t *body;
	size_t blen;
	memset(r, 0, sizeof(*r));
	return read_env(buf, (const uint8_t *)buf + len, T_REPLY, &r->corr,
	                &body, &blen) &&
	       read_body(body, body + blen, r);
}

/* ---- reading a request ---- */

static int read_req_body(const uint8_t *p, const uint8_t *end,
                         struct tp__mgr_req_in *r)
{
	uint64_t tag, v;
	while (p < end) {
		if (!tp__varint_get(&p, end, &tag))
			return 0;
		if (tag == 0x08 && tp__varint_get(&p, end, &v))
			r->op = (uint32_t)v;
		else if (tag == 0x10 && tp__varint_get(&p, end, &v))
			r->object = v;
		else if (tag == 0x1a &&
		         get_span(&p, end, &r->name, &r->name_len))
			continue;
		else if (tag == 0x22 && !r->has_args &&
		         get_span(&p, end, &r->args, &r->args_len))
			r->has_args = 1;
		else if (tag == 0x28 &&
		         tp__varint_get(&p, end, &v)) /* sint32 */
			r->timeout_ms = (int32_t)(((uint32_t)v >> 1) ^
			                          (~((uint32_t)v & 1) + 1));
		else if (tag == 0x42 && get_span(&p, end, &r->key, &r->key_len))
			continue;
		else
			return 0;
	}
	return 1;
}

int tp__mgr_req_read(const void *buf, size_t len, struct tp__mgr_req_in *r)
{
	const uint8_t *body;
	size_t blen;
	memset(r, 0, sizeof(*r));
	return read_env(buf, (const uint8_t *)buf + len, T_REQUEST, &r->corr,
	                &body, &blen) &&
	       read_req_body(body, body + blen, r);
}
