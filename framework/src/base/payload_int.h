/*
 * payload_int.h - internal: the layout of a tp_payload (an array of
 * struct tp_value, one per value the user added, or of 8-byte numbers
 * while they are all ints or all doubles; not the shared Value of
 * troupe/shared.h, whose struct is tp_shared_value). Shared by payload.c,
 * wire.c (conversion to and from Troupe__Payload), values.c (value lists
 * in columns) and the modules that read or build payload values: queue.c,
 * pipe_io.c, the pool, the cluster and the manager (mgr_int.h), which do
 * so only through the tp__payload_* helpers here and in values.h.
 *
 * A variable-size value (string, bytes, message) either owns one malloc'ed
 * block (blob NULL) or borrows its bytes from a shared, reference-counted
 * blob: the small values a payload appends are bump-allocated from its
 * current blob, and the values decoded from one received batch all point
 * into one blob holding the batch's bytes. Each such value holds one
 * reference; the blob goes with the last. So neither building nor decoding
 * a list of values costs a malloc per value, and copying a payload shares
 * the bytes instead of copying them (values never change once added).
 */
#ifndef TP_PAYLOAD_INT_H
#define TP_PAYLOAD_INT_H

#include <stdatomic.h>
#include <string.h>

#include "troupe/error.h"
#include "troupe/payload.h"

struct tp__blob {
	atomic_size_t refs;
	size_t cap, used;
	/* A wrapped buffer (tp__blob_wrap): the values point into ext, which
	 * release(ext) frees with the last reference; data is then unused. */
	void (*release)(void *ext);
	void *ext;
	char data[];
};

/* 24 bytes: a list of a million values takes 24 MB plus their bytes. A
 * message's type name is not a field: it follows the message's bytes and
 * their terminator in the same block (tp__value_type_name), wherever the
 * value was made (added, decoded, read in place from columns, copied). */
struct tp_value {
	tp_type type;
	uint32_t len; /* bytes in data, without the terminator */
	union {
		int64_t i;
		double d;
		char *data; /* string, bytes or packed message; NUL-ended */
	};
	struct tp__blob *blob; /* data lives in it (one ref); NULL: data is
	                          the value's own malloc'ed block */
};
_Static_assert(sizeof(struct tp_value) == 24, "tp_value is 24 bytes");

/* TP_TPROTO: the descriptor's full name, NUL-ended, right after the
 * message's bytes and their terminator. NULL for every other type. */
static inline char *tp__value_type_name(const struct tp_value *v)
{
	return v->type == TP_TPROTO ? v->data + v->len + 1 : NULL;
}

/* The bytes of a string, bytes or message value's block: its data, their
 * terminator and, for a message, its type name with its terminator, which
 * lie together from v->data on (one memcpy copies them all). */
static inline size_t tp__value_block_size(const struct tp_value *v)
{
	size_t n = (size_t)v->len + 1;
	return v->type == TP_TPROTO ? n + strlen(v->data + n) + 1 : n;
}

/* Whether values of type t have bytes (data, len). */
#define TP__HAS_BYTES(t)                                                       \
	((t) == TP_TSTRING || (t) == TP_TBYTES || (t) == TP_TPROTO)

/* The forms of a payload's values array (tp_payload.kind): 24-byte
 * generic values, or, while every value is an int (or every one a
 * double), 8 bytes per value. A packed payload turns generic, once, at
 * its first value of another type or when code needs generic values
 * (tp__payload_generic). An empty payload takes the form of its first
 * value. */
enum { TP__PK_GEN = 0, TP__PK_INTS = 1, TP__PK_DBLS = 2 };

struct tp_payload {
	/* Outside base/, read and write the values only through the
	 * tp__payload_* helpers below: they work on every form. */
	union {
		struct tp_value *gv; /* TP__PK_GEN */
		int64_t *iv;         /* TP__PK_INTS */
		double *dv;          /* TP__PK_DBLS */
	};
	size_t count;
	size_t cap;             /* values the array has room for, in its form */
	struct tp__blob *arena; /* where small added values go (one ref) */
	/* A payload from tp_payload_new starts with its array at &first (a
	 * generic value, or up to three packed ones): a one-value payload,
	 * the common message, costs one malloc. */
	union {
		struct tp_value first;
		int64_t first_iv[sizeof(struct tp_value) / 8];
		double first_dv[sizeof(struct tp_value) / 8];
	};
	int heap; /* made by tp_payload_new: freed by tp_payload_free, so it
	             may have an arena (a payload on the stack, freed by
	             tp__payload_fini, has none) */
	unsigned char kind; /* TP__PK_*: the array's form */
	/* The values appended through payload.c (add, copy, append) since
	 * the last clear; of them, how many have bytes (vnb), the bytes of
	 * their data and type names with their terminators, and the most
	 * one of them takes. */
	size_t vcount, vnb, vbytes, vmax;
};

/* The packed form for values of type t (TP__PK_GEN: none). */
static inline unsigned tp__pk_of(tp_type t)
{
	return t == TP_TINT      ? TP__PK_INTS
	       : t == TP_TDOUBLE ? TP__PK_DBLS
	                         : TP__PK_GEN;
}

/* Whether p's array is its inline slot. */
static inline int tp__payload_inline(const tp_payload *p)
{
	return p->gv == &p->first;
}

static inline tp_type tp__payload_type_at(const tp_payload *p, size_t i)
{
	return p->kind == TP__PK_INTS   ? TP_TINT
	       : p->kind == TP__PK_DBLS ? TP_TDOUBLE
	                                : p->gv[i].type;
}

/* Value i (< count) of p as a generic value: a view that borrows its
 * bytes (do not release it). */
static inline struct tp_value tp__payload_at(const tp_payload *p, size_t i)
{
	struct tp_value v = {.type = TP_TINT};
	if (p->kind == TP__PK_INTS) {
		v.i = p->iv[i];
	} else if (p->kind == TP__PK_DBLS) {
		v.type = TP_TDOUBLE;
		v.d = p->dv[i];
	} else {
		v = p->gv[i];
	}
	return v;
}

/* Value i of p, an int (or a double), read or overwritten in place. */
static inline int64_t tp__payload_int_at(const tp_payload *p, size_t i)
{
	return p->kind == TP__PK_INTS ? p->iv[i] : p->gv[i].i;
}
static inline void tp__payload_set_int(tp_payload *p, size_t i, int64_t x)
{
	if (p->kind == TP__PK_INTS)
		p->iv[i] = x;
	else
		p->gv[i].i = x;
}
static inline double tp__payload_double_at(const tp_payload *p, size_t i)
{
	return p->kind == TP__PK_DBLS ? p->dv[i] : p->gv[i].d;
}
static inline void tp__payload_set_double(tp_payload *p, size_t i, double x)
{
	if (p->kind == TP__PK_DBLS)
		p->dv[i] = x;
	else
		p->gv[i].d = x;
}

/* Value i (< count) of a generic p in place; NULL when p is packed (see
 * tp__payload_generic). */
static inline const struct tp_value *tp__payload_ref(const tp_payload *p,
                                                     size_t i)
{
	return p->kind == TP__PK_GEN ? &p->gv[i] : NULL;
}

/* A packed p's numbers, 8 bytes each (its form in *kind); NULL when p is
 * generic. */
static inline const void *tp__payload_numbers(const tp_payload *p,
                                              unsigned *kind)
{
	*kind = p->kind;
	return p->kind == TP__PK_GEN ? NULL : (const void *)p->iv;
}

/* Converts p to the generic form (once; nothing if it is). The values
 * stay as they were. Errors: TP_ENOMEM (p unchanged). */
int tp__payload_generic(tp_payload *p);

/* p's values as a generic array, converting p if needed. NULL: ENOMEM. */
static inline struct tp_value *tp__payload_values(tp_payload *p)
{
	return tp__payload_generic(p) == TP_OK ? p->gv : NULL;
}

/* Frees what a payload on the stack holds ({0} or cleared). */
void tp__payload_fini(tp_payload *p);

/* The bytes p's strings, bytes and messages take with their terminators
 * (type names included), in *out; 0 when p was not built only through
 * payload.c's add and copy calls (then the values must be walked). */
static inline int tp__payload_vbytes(const tp_payload *p, size_t *out)
{
	*out = p->vbytes;
	return p->vcount == p->count;
}
/* The same, in *most the bytes the largest of them takes and in *nb how
 * many values have bytes. */
static inline int tp__payload_vsizes(const tp_payload *p, size_t *out,
                                     size_t *most, size_t *nb)
{
	*most = p->vmax;
	*nb = p->vnb;
	return tp__payload_vbytes(p, out);
}

/* A blob of cap bytes, one reference held by the caller. NULL: ENOMEM. */
struct tp__blob *tp__blob_new(size_t cap);
/* A blob whose values live in someone else's buffer (a received message
 * read in place): release(ext) runs when the last reference goes. The
 * caller holds one reference. NULL: ENOMEM (ext is then not released). */
struct tp__blob *tp__blob_wrap(void *ext, void (*release)(void *ext));
void tp__blob_ref(struct tp__blob *b, size_t n);
void tp__blob_unref(struct tp__blob *b);
/* Drops n references of b at once (n may be 0). */
void tp__blob_unref_n(struct tp__blob *b, size_t n);

/*
 * tp_payload_clear (which is this with keep NULL), without an atomic
 * operation per value: the
 * references of values whose bytes are in blob keep are not dropped but
 * counted into *kept (the caller drops them together later with
 * tp__blob_unref_n, and keeps keep alive until then), and when nothing
 * but p and its values holds p's arena, its count is set back with a
 * plain store instead of a decrement per value (no other holder can
 * change it meanwhile).
 */
void tp__payload_clear_batched(tp_payload *p, struct tp__blob *keep,
                               size_t *kept);

/* Releases what v owns or references (v's fields are then stale). */
void tp__value_release_bytes(struct tp_value *v);
static inline void tp__value_release(struct tp_value *v)
{
	if (v->blob != NULL || TP__HAS_BYTES(v->type))
		tp__value_release_bytes(v);
}

/* Appends a copy of a string, bytes or message value (type_name: the
 * message's). own: in its own malloc'ed block (a caller may take it), else
 * small values go in p's arena. */
int tp__payload_add_blob(tp_payload *p, tp_type t, const void *data, size_t len,
                         const char *type_name, int own);

/* Exchanges the contents of a and b (a struct swap, which would leave
 * an inline values array pointing into the other payload). A payload on
 * the stack, whose array its owner frees, must not receive an inline one
 * (tp__payload_inline(b)). */
void tp__payload_swap(tp_payload *a, tp_payload *b);

/* Grows p so it has room for n more values in its form. */
int tp__payload_grow(tp_payload *p, size_t n);
static inline int tp__payload_reserve(tp_payload *p, size_t n)
{
	return p->cap - p->count >= n ? TP_OK : tp__payload_grow(p, n);
}

/* Room for n more values of form k (TP__PK_*): an empty p takes form k, a
 * p of another form than k turns generic. Check p->kind for the form p
 * has then. Errors: TP_ENOMEM. */
int tp__payload_reserve_as(tp_payload *p, unsigned k, size_t n);

/* Appends v, moved in: p takes over the references v holds (on an error
 * they stay the caller's). Errors: TP_ENOMEM. */
int tp__payload_append_slow(tp_payload *p, const struct tp_value *v);
static inline int tp__payload_append(tp_payload *p, const struct tp_value *v)
{
	unsigned k = tp__pk_of(v->type);
	if (p->count < p->cap &&
	    (k == p->kind || (p->kind == TP__PK_GEN && p->count > 0))) {
		if (p->kind == TP__PK_INTS)
			p->iv[p->count] = v->i;
		else if (p->kind == TP__PK_DBLS)
			p->dv[p->count] = v->d;
		else { /* field by field: v was often just written so, and
			* one 16-byte load of it stalls the CPU (a store
			* forwarding failure) */
			struct tp_value *d = &p->gv[p->count];
			d->type = v->type;
			d->len = v->len;
			d->i = v->i; /* the union: int, double or data */
			d->blob = v->blob;
		}
		p->count++;
		p->vcount++;
		if (TP__HAS_BYTES(v->type)) {
			size_t b = tp__value_block_size(v);
			p->vnb++;
			p->vbytes += b;
			if (b > p->vmax)
				p->vmax = b;
		}
		return TP_OK;
	}
	return tp__payload_append_slow(p, v);
}

/* Moves value i of src to the end of dst: src's slot is left a none
 * (generic) or its number (packed, which owns nothing). Errors:
 * TP_ENOMEM (src unchanged). */
int tp__payload_move_value(tp_payload *dst, tp_payload *src, size_t i);

/* A zeroed array of n values of size bytes each for a large result
 * (free() it): huge pages when it is large. NULL: ENOMEM. */
void *tp__big_alloc(size_t n, size_t size);

#endif
