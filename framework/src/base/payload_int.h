/*
 * payload_int.h - internal: the layout of a tp_payload (an array of
 * struct tp_value, one per value the user added; not the shared Value of
 * troupe/shared.h, whose struct is tp_shared_value). Shared by payload.c,
 * wire.c (conversion to and from Troupe__Payload), values.c (value lists
 * in columns) and the modules that read or build payload values directly:
 * queue.c, pipe_io.c, the pool and the manager (mgr_int.h).
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

struct tp_payload {
	struct tp_value *values;
	size_t count;
	size_t cap;
	struct tp__blob *arena; /* where small added values go (one ref) */
	/* A payload from tp_payload_new starts with values == &first (cap
	 * 1): a one-value payload, the common message, costs one malloc. */
	struct tp_value first;
	int heap; /* made by tp_payload_new: freed by tp_payload_free, so it
	             may have an arena (a payload on the stack, freed by
	             clearing it and freeing values, has none) */
	/* The values appended through payload.c (add, copy) since the last
	 * clear, and the bytes of their data and type names with their
	 * terminators. Code that writes values or count directly leaves
	 * vcount != count, which makes vbytes unknown (tp__payload_vbytes). */
	size_t vcount, vbytes;
};

/* The bytes p's strings, bytes and messages take with their terminators
 * (type names included), in *out; 0 when p was not built only through
 * payload.c's add and copy calls (then the values must be walked). */
static inline int tp__payload_vbytes(const tp_payload *p, size_t *out)
{
	*out = p->vbytes;
	return p->vcount == p->count;
}

/* A blob of cap bytes, one reference held by the caller. NULL: ENOMEM. */
struct tp__blob *tp__blob_new(size_t cap);
/* A blob whose values live in someone else's buffer (a received message
 * read in place): release(ext) runs when the last reference goes. The
 * caller holds one reference. NULL: ENOMEM (ext is then not released). */
struct tp__blob *tp__blob_wrap(void *ext, void (*release)(void *ext));
void tp__blob_ref(struct tp__blob *b, size_t n);
void tp__blob_unref(struct tp__blob *b);

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
 * (b->values == &b->first). */
void tp__payload_swap(tp_payload *a, tp_payload *b);

/* Grows p so it has room for n more values. */
int tp__payload_grow(tp_payload *p, size_t n);
static inline int tp__payload_reserve(tp_payload *p, size_t n)
{
	return p->cap - p->count >= n ? TP_OK : tp__payload_grow(p, n);
}

#endif
