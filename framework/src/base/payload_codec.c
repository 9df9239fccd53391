/*
 * payload_codec.c - a tp_payload's wire form (schemas/troupe.proto:
 * Payload{repeated Value values}) written and read directly, without
 * protobuf-c's message structs.
 *
 * Why: going through protobuf-c meant describing the payload as one
 * Troupe__Value per value (a malloc), sizing and packing it through the
 * descriptors, and on the way in unpacking into fresh allocations (one per
 * value and per string) that were then copied once more into the payload.
 * For a small message on a Pipe that was most of the cost above the
 * socket. Here the writer emits exactly the bytes protobuf-c produces
 * (tests/test_payload_codec.c checks it against protobuf-c), and the
 * reader decodes the same form into one values array and one blob that
 * every string and bytes value borrows from (payload_int.h). Anything the
 * reader does not recognise exactly (unknown fields, a Value with several
 * kinds, a string holding a NUL, a user message without a type name) goes
 * through protobuf-c as before, so the two accept and reject the same
 * input.
 */
#include <stdlib.h>
#include <string.h>

#include "payload_int.h"
#include "troupe/error.h"
#include "varint.h"
#include "wire.h"

#define T_VALUES 0x0a /* Payload.values: field 1, length-delimited */
#define T_NONE   0x08 /* Value.none: field 1, varint */
#define T_INT    0x10 /* Value.i: field 2, varint (zigzag) */
#define T_DOUBLE 0x19 /* Value.d: field 3, 64-bit */
#define T_STRING 0x22 /* Value.s: field 4, length-delimited */
#define T_BYTES  0x2a /* Value.b: field 5, length-delimited */
#define T_USER   0x32 /* Value.user: field 6, length-delimited */
#define T_UNAME  0x0a /* UserMessage.type_name: field 1 */
#define T_UDATA  0x12 /* UserMessage.data: field 2 */

#define NOT_DIRECT 1 /* the reader's "use protobuf-c" answer */

static uint64_t zigzag(int64_t i)
{
	return ((uint64_t)i << 1) ^ (uint64_t)(i >> 63);
}

/* A length-delimited field of n bytes, its tag included. */
static size_t ld_size(size_t n)
{
	return 1 + tp__varint_size(n) + n;
}

/* The bytes a string value packs (protobuf-c packs up to the first NUL). */
static size_t str_len(const struct tp_value *v)
{
	return strlen(v->data);
}

static size_t user_size(const struct tp_value *v)
{
	size_t tn = strlen(tp__value_type_name(v));
	return (tn ? ld_size(tn) : 0) + (v->len ? ld_size(v->len) : 0);
}

/* The size of v's Value message (without its own tag and length). */
static size_t value_size(const struct tp_value *v)
{
	switch (v->type) {
	case TP_TNONE:
		return 2;
	case TP_TINT:
		return 1 + tp__varint_size(zigzag(v->i));
	case TP_TDOUBLE:
		return 9;
	case TP_TSTRING:
		return ld_size(str_len(v));
	case TP_TBYTES:
		return ld_size(v->len);
	default:
		return ld_size(user_size(v));
	}
}

size_t tp__payload_packed_size(const tp_payload *p)
{
	size_t n = 0;
	if (p->kind == TP__PK_DBLS) /* tag, length, Value{d} */
		return p->count * ld_size(9);
	if (p->kind == TP__PK_INTS) {
		for (size_t i = 0; i < p->count; i++)
			n += ld_size(1 + tp__varint_size(zigzag(p->iv[i])));
		return n;
	}
	for (size_t i = 0; i < p->count; i++)
		n += ld_size(value_size(&p->gv[i]));
	return n;
}

static unsigned char *put_ld(unsigned char *o, int tag, const void *d, size_t n)
{
	*o++ = (unsigned char)tag;
	o = tp__varint_put(o, n);
	if (n > 0)
		memcpy(o, d, n);
	return o + n;
}

static unsigned char *put_value(unsigned char *o, const struct tp_value *v)
{
	switch (v->type) {
	case TP_TNONE:
		*o++ = T_NONE;
		*o++ = 1;
		return o;
	case TP_TINT:
		*o++ = T_INT;
		return tp__varint_put(o, zigzag(v->i));
	case TP_TDOUBLE:
		*o++ = T_DOUBLE;
		memcpy(o, &v->d, 8);
		return o + 8;
	case TP_TSTRING:
		return put_ld(o, T_STRING, v->data, str_len(v));
	case TP_TBYTES:
		return put_ld(o, T_BYTES, v->data, v->len);
	default: {
		size_t tn = strlen(tp__value_type_name(v));
		*o++ = T_USER;
		o = tp__varint_put(o, user_size(v));
		if (tn > 0)
			o = put_ld(o, T_UNAME, tp__value_type_name(v), tn);
		return v->len ? put_ld(o, T_UDATA, v->data, v->len) : o;
	}
	}
}

void tp__payload_pack_to(const tp_payload *p, void *out)
{
	unsigned char *o = out;
	for (size_t i = 0; i < p->count; i++) {
		struct tp_value v = tp__payload_at(p, i);
		*o++ = T_VALUES;
		o = tp__varint_put(o, value_size(&v));
		o = put_value(o, &v);
	}
}

/* ---- reading ---- */

struct rd {
	const unsigned char *p, *end;
};

/* Reads a varint; 0 if malformed or cut. */
static int get_varint(struct rd *r, uint64_t *out)
{
	return tp__varint_get(&r->p, r->end, out);
}

/* Reads a length and steps over that many bytes: their span in *d. */
static int get_ld(struct rd *r, struct rd *d)
{
	uint64_t n;
	if (!get_varint(r, &n) || n > (uint64_t)(r->end - r->p) ||
	    n >= UINT32_MAX)
		return 0;
	d->p = r->p;
	d->end = r->p + n;
	r->p = d->end;
	return 1;
}

/* The payload being filled, and the blob its values' bytes go to. */
struct fill {
	tp_payload *p;
	struct tp__blob *blob; /* made at the first value with bytes */
	size_t refs;           /* values pointing into it */
	size_t room;           /* buffer bytes from the current value on */
	int nomem;
};

/* Copies a value's bytes with a NUL after them into the blob. No value
 * needs more blob bytes than it takes in the buffer (each has at least two
 * bytes of tag and length per field), so a blob of the rest of the buffer
 * holds every value from here on. */
static char *put_bytes(struct fill *f, const struct rd *d)
{
	size_t n = (size_t)(d->end - d->p);
	if (f->blob == NULL && (f->blob = tp__blob_new(f->room)) == NULL) {
		f->nomem = 1;
		return NULL;
	}
	char *at = f->blob->data + f->blob->used;
	if (n > 0)
		memcpy(at, d->p, n);
	at[n] = '\0';
	f->blob->used += n + 1;
	return at;
}

static int read_user(struct rd *r, struct fill *f, struct tp_value *v)
{
	struct rd u, name = {NULL, NULL}, data = {NULL, NULL};
	if (!get_ld(r, &u) || r->p != r->end)
		return 0;
	if (u.p < u.end && *u.p == T_UNAME && (u.p++, !get_ld(&u, &name)))
		return 0;
	if (u.p < u.end && *u.p == T_UDATA && (u.p++, !get_ld(&u, &data)))
		return 0;
	/* a type name is required, and must be a C string */
	if (u.p != u.end || name.p == name.end ||
	    memchr(name.p, 0, (size_t)(name.end - name.p)) != NULL)
		return 0;
	v->type = TP_TPROTO;
	v->len = (uint32_t)(data.end - data.p);
	/* the name right after the bytes: tp__value_type_name */
	if ((v->data = put_bytes(f, &data)) == NULL ||
	    put_bytes(f, &name) == NULL)
		return 0;
	v->blob = f->blob;
	f->refs++;
	return 1;
}

/* Reads one Value message spanning all of r: 0 if not in the direct
 * form (or out of memory: f->nomem). */
static int read_value(struct rd *r, struct fill *f, struct tp_value *v)
{
	struct rd d;
	uint64_t x;
	memset(v, 0, sizeof(*v));
	if (r->p == r->end)
		return 0;
	switch (*r->p++) {
	case T_NONE:
		v->type = TP_TNONE;
		return get_varint(r, &x) && r->p == r->end;
	case T_INT:
		v->type = TP_TINT;
		if (!get_varint(r, &x) || r->p != r->end)
			return 0;
		v->i = (int64_t)((x >> 1) ^ (~(x & 1) + 1));
		return 1;
	case T_DOUBLE:
		v->type = TP_TDOUBLE;
		if (r->end - r->p != 8)
			return 0;
		memcpy(&v->d, r->p, 8);
		return 1;
	case T_STRING:
	case T_BYTES:
		v->type = r->p[-1] == T_STRING ? TP_TSTRING : TP_TBYTES;
		if (!get_ld(r, &d) || r->p != r->end ||
		    (v->type == TP_TSTRING &&
		     memchr(d.p, 0, (size_t)(d.end - d.p)) != NULL))
			return 0;
		v->len = (uint32_t)(d.end - d.p);
		if ((v->data = put_bytes(f, &d)) == NULL)
			return 0;
		v->blob = f->blob;
		f->refs++;
		return 1;
	case T_USER:
		return read_user(r, f, v);
	default:
		return 0;
	}
}

/* Reads every value of the buffer into f->p: 0 if not in the direct form
 * (or out of memory: f->nomem). */
static int walk(const unsigned char *buf, size_t len, struct fill *f)
{
	struct rd r = {buf, buf + len}, sub;
	tp_payload *p = f->p;
	struct tp_value v;
	while (r.p < r.end) {
		f->room = (size_t)(r.end - r.p);
		if (*r.p++ != T_VALUES || !get_ld(&r, &sub))
			return 0;
		if (!read_value(&sub, f, &v))
			return 0;
		/* packed while the values are all ints or all doubles */
		if (tp__payload_append(p, &v) != TP_OK) {
			f->nomem = 1;
			if (v.blob != NULL) /* its reference: not counted */
				f->refs--;
			return 0;
		}
	}
	return 1;
}

/* Decodes buf directly: TP_OK, TP_ENOMEM, or NOT_DIRECT. */
static int read_direct(const void *buf, size_t len, tp_payload **out)
{
	struct fill f = {NULL, NULL, 0, 0, 0};
	if (tp_payload_new(&f.p) != TP_OK)
		return TP_ENOMEM;
	if (!walk(buf, len, &f)) {
		f.p->count = 0; /* their blob references are not taken yet */
		tp_payload_free(f.p);
		tp__blob_unref(f.blob);
		return f.nomem ? TP_ENOMEM : NOT_DIRECT;
	}
	if (f.refs > 1) /* the blob's first reference is the first value's */
		tp__blob_ref(f.blob, f.refs - 1);
	*out = f.p;
	return TP_OK;
}

int tp__payload_unpack(const void *buf, size_t len, tp_payload **out)
{
	Troupe__Payload *pb;
	int rv = read_direct(buf, len, out);
	if (rv != NOT_DIRECT)
		return rv;
	pb = troupe__payload__unpack(NULL, len, buf);
	if (pb == NULL)
		return TP_EDECODE;
	rv = tp__payload_from_pb(pb, out);
	protobuf_c_message_free_unpacked(&pb->base, NULL);
	return rv;
}
