/*
 * values.h - internal: lists of values in columns (the Values message of
 * schemas/troupe.proto, docs/wire.md). A tp__cols is a growable column
 * builder that any range of can be described as a Values message without
 * copying; a tp__vread walks a received Values, checked once, handing out
 * values that borrow their bytes from one blob. Neither costs a malloc per
 * value.
 */
#ifndef TP_VALUES_H
#define TP_VALUES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "payload_int.h"
#include "troupe.pb-c.h"

struct tp__vbuf {
	char *p;
	size_t n, cap;
};

/* A place in a tp__cols: where each column stood at some value. */
struct tp__cols_pos {
	size_t v, i, d, l, b, c;
};

struct tp__cols {
	size_t count;
	int use_calls; /* record calls (each tp__cols_call) */
	struct tp__vbuf kinds, ints, dbls, lens, data, calls;
};

void tp__cols_free(struct tp__cols *c);
/* Empties c, keeping its buffers. */
void tp__cols_reset(struct tp__cols *c);
/* Appends a copy of v. Errors: TP_ENOMEM, TP_ETOOBIG (a value > 4 GiB). */
int tp__cols_add(struct tp__cols *c, const struct tp_value *v);
/* Appends what a pool call gave in r: every value (all: an apply), else
 * its first one (none when it gave nothing). Errors: as tp__cols_add. */
int tp__cols_add_result(struct tp__cols *c, const tp_payload *r, int all);
/* Ends a call of n values (when use_calls). */
int tp__cols_call(struct tp__cols *c, uint32_t n);
void tp__cols_pos(const struct tp__cols *c, struct tp__cols_pos *out);
/* Drops what was added after p. */
void tp__cols_truncate(struct tp__cols *c, const struct tp__cols_pos *p);
/* The bytes the values between a and b take in a message (about). */
size_t tp__cols_bytes(const struct tp__cols_pos *a,
                      const struct tp__cols_pos *b);
/* The bytes v takes in a Values message (as tp__cols_bytes counts). */
static inline size_t tp__value_wire_bytes(const struct tp_value *v)
{
	switch (v->type) {
	case TP_TINT:
	case TP_TDOUBLE:
		return 1 + 8;
	case TP_TSTRING:
	case TP_TBYTES:
		return 1 + 4 + (size_t)v->len + 1;
	case TP_TPROTO:
		return 1 + 4 + tp__value_block_size(v);
	default:
		return 1;
	}
}
/* Describes the values between a and b as m (pointers into c). */
void tp__cols_to_pb(const struct tp__cols *c, const struct tp__cols_pos *a,
                    const struct tp__cols_pos *b, Troupe__Values *m);

struct tp__vread {
	const Troupe__Values *m;
	struct tp__blob *blob; /* holds a copy of m->data (NULL: no bytes) */
	char *base;            /* where that copy starts in it */
	size_t v, i, d, l, b, c;
	size_t count, calls;
};

/*
 * Checks m (NULL: an empty list) and copies its bytes into one blob.
 * Errors: TP_EDECODE (malformed: the message names what), TP_ENOMEM.
 * Release with tp__vread_done.
 */
int tp__vread_init(struct tp__vread *r, const Troupe__Values *m);
/* tp__vread_init reading the bytes in place: m's columns point into a
 * received buffer that at (a blob from tp__blob_wrap) keeps alive; the
 * values take references to it instead of a copy (NULL at: copy). */
int tp__vread_init_at(struct tp__vread *r, const Troupe__Values *m,
                      struct tp__blob *at);
/* The number of values of the next call (1 without calls). */
static inline size_t tp__vread_call(struct tp__vread *r)
{
	uint32_t x;
	if (r->m->calls.len == 0)
		return 1;
	memcpy(&x, r->m->calls.data + 4 * r->c++, sizeof(x));
	return x;
}

/* Fills v with the next value; it holds its own reference to the blob
 * (release it with tp__value_release). Inline: it runs once per value. */
static inline void tp__vread_next(struct tp__vread *r, struct tp_value *v)
{
	const Troupe__Values *m = r->m;
	unsigned k = m->kinds.len ? m->kinds.data[r->v] : m->kind;
	uint32_t len;
	r->v++;
	/* kinds 1..6 (checked by tp__vread_init) are tp_type + 1 */
	v->type = (tp_type)(k - TROUPE__VALUE__KIND_NONE);
	v->len = 0;
	v->data = NULL;
	v->blob = NULL;
	switch (k) {
	case TROUPE__VALUE__KIND_I:
		memcpy(&v->i, m->ints.data + 8 * r->i++, sizeof(v->i));
		break;
	case TROUPE__VALUE__KIND_D:
		memcpy(&v->d, m->doubles.data + 8 * r->d++, sizeof(v->d));
		break;
	case TROUPE__VALUE__KIND_S:
	case TROUPE__VALUE__KIND_B:
	case TROUPE__VALUE__KIND_USER:
		memcpy(&len, m->lens.data + 4 * r->l++, sizeof(len));
		v->len = len;
		v->data = r->base + r->b;
		v->blob = r->blob;
		r->b += (size_t)len + 1;
		if (k == TROUPE__VALUE__KIND_USER) /* tp__value_type_name */
			r->b += strlen(r->base + r->b) + 1;
		break;
	default:
		break;
	}
}
void tp__vread_done(struct tp__vread *r);

/* TP__PK_INTS or TP__PK_DBLS when every value of r is an int, or every
 * one a double (a number column), else TP__PK_GEN. */
unsigned tp__vread_kind(const struct tp__vread *r);

/* Appends the next n values of r to p: a number column into a packed p
 * (one copy), else value by value. Errors: TP_ENOMEM (the values not
 * appended stay r's, released by tp__vread_done). */
int tp__payload_vread(tp_payload *p, struct tp__vread *r, size_t n);

/* Makes p (emptied) hold n values to be written in any order by
 * tp__payload_vread_at: packed numbers of form k (TP__PK_*), or nones
 * (TP__PK_GEN). A large array is mapped fresh, its pages touched only as
 * values arrive. Errors: TP_ENOMEM. */
int tp__payload_slots(tp_payload *p, size_t n, unsigned k);

/* Writes the next n values of r at p's values [at, at + n), which own
 * nothing (nones or numbers): a number column of p's packed form is one
 * copy; any other turns p generic first (once). Errors: TP_ENOMEM. */
int tp__payload_vread_at(tp_payload *p, size_t at, struct tp__vread *r,
                         size_t n);

#endif
