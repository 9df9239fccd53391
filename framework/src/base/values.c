/*
 * values.c - lists of values in columns: the builder the pool encodes a
 * map's items and a worker's results into, and the checked reader that
 * decodes them (values.h, docs/wire.md).
 */
#include <stdlib.h>
#include <string.h>

#include "troupe/error.h"
#include "values.h"

enum {
	K_NONE = TROUPE__VALUE__KIND_NONE,
	K_INT = TROUPE__VALUE__KIND_I,
	K_DOUBLE = TROUPE__VALUE__KIND_D,
	K_STRING = TROUPE__VALUE__KIND_S,
	K_BYTES = TROUPE__VALUE__KIND_B,
	K_USER = TROUPE__VALUE__KIND_USER,
};

/* The most values of a list without bytes (nones) a reader takes. */
#define NONES_MAX ((size_t)1 << 26)

static const unsigned char kind_of[] = {
    [TP_TNONE] = K_NONE,     [TP_TINT] = K_INT,     [TP_TDOUBLE] = K_DOUBLE,
    [TP_TSTRING] = K_STRING, [TP_TBYTES] = K_BYTES, [TP_TPROTO] = K_USER,
};

/* tp__vread_next relies on kind = type + 1. */
_Static_assert(K_INT - K_NONE == TP_TINT && K_DOUBLE - K_NONE == TP_TDOUBLE &&
                   K_STRING - K_NONE == TP_TSTRING &&
                   K_BYTES - K_NONE == TP_TBYTES &&
                   K_USER - K_NONE == TP_TPROTO,
               "Value kinds follow tp_type");

static char *vbuf_grow(struct tp__vbuf *b, size_t n)
{
	if (b->cap - b->n < n) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		while (cap - b->n < n)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (p == NULL)
			return NULL;
		b->p = p;
		b->cap = cap;
	}
	char *d = b->p + b->n;
	b->n += n;
	return d;
}

static int vbuf_put(struct tp__vbuf *b, const void *src, size_t n)
{
	char *d = vbuf_grow(b, n);
	if (d == NULL)
		return TP_ENOMEM;
	if (n > 0)
		memcpy(d, src, n);
	return TP_OK;
}

void tp__cols_free(struct tp__cols *c)
{
	free(c->kinds.p);
	free(c->ints.p);
	free(c->dbls.p);
	free(c->lens.p);
	free(c->data.p);
	free(c->calls.p);
	memset(c, 0, sizeof(*c));
}

void tp__cols_reset(struct tp__cols *c)
{
	c->count = 0;
	c->kinds.n = c->ints.n = c->dbls.n = 0;
	c->lens.n = c->data.n = c->calls.n = 0;
}

static int add_bytes(struct tp__cols *c, const struct tp_value *v)
{
	size_t n = tp__value_block_size(v);
	uint32_t len = v->len;
	char *d;
	if (vbuf_put(&c->lens, &len, sizeof(len)) != TP_OK ||
	    (d = vbuf_grow(&c->data, n)) == NULL)
		return TP_ENOMEM;
	memcpy(d, v->data, n); /* bytes, terminator, a message's name */
	return TP_OK;
}

/* Adds a number of kind k (K_INT or K_DOUBLE) from its 8 bytes at p. */
static int cols_add_num(struct tp__cols *c, unsigned char k, const void *p)
{
	struct tp__vbuf *num = k == K_INT ? &c->ints : &c->dbls;
	if (num->cap - num->n >= 8 && c->kinds.cap > c->kinds.n) {
		memcpy(num->p + num->n, p, 8);
		num->n += 8;
		c->kinds.p[c->kinds.n++] = (char)k;
		c->count++;
		return TP_OK;
	}
	if (vbuf_put(num, p, 8) != TP_OK || vbuf_put(&c->kinds, &k, 1) != TP_OK)
		return TP_ENOMEM;
	c->count++;
	return TP_OK;
}

int tp__cols_add(struct tp__cols *c, const struct tp_value *v)
{
	unsigned char k = kind_of[v->type];
	int rv = TP_OK;
	if (k == K_INT || k == K_DOUBLE)
		return cols_add_num(c, k, &v->i); /* the union's 8 bytes */
	/* The common case first: room in every column it touches. */
	if ((k == K_STRING || k == K_BYTES) && c->lens.cap - c->lens.n >= 4 &&
	    c->data.cap - c->data.n > v->len && c->kinds.cap > c->kinds.n) {
		uint32_t len = v->len;
		memcpy(c->lens.p + c->lens.n, &len, 4);
		c->lens.n += 4;
		memcpy(c->data.p + c->data.n, v->data, (size_t)len + 1);
		c->data.n += (size_t)len + 1;
		c->kinds.p[c->kinds.n++] = (char)k;
		c->count++;
		return TP_OK;
	}
	switch (k) {
	case K_STRING:
	case K_BYTES:
	case K_USER:
		rv = add_bytes(c, v);
		break;
	}
	if (rv == TP_OK)
		rv = vbuf_put(&c->kinds, &k, 1);
	if (rv == TP_OK)
		c->count++;
	return rv;
}

int tp__cols_add_result(struct tp__cols *c, const tp_payload *r, int all)
{
	struct tp_value none = {.type = TP_TNONE};
	int rv = TP_OK;
	/* A packed result (every value an int, or every one a double: a
	 * target that returns numbers) goes in from its array: a value
	 * composed on the stack for each cost a store forwarding stall,
	 * a fifth of a worker's time in a map of ints. */
	if (r->kind != TP__PK_GEN && r->count > 0) {
		unsigned char k = r->kind == TP__PK_INTS ? K_INT : K_DOUBLE;
		size_t n = all ? r->count : 1;
		for (size_t i = 0; i < n && rv == TP_OK; i++)
			rv = cols_add_num(c, k, &r->iv[i]);
		return rv;
	}
	/* generic values in place (an empty result: a none) */
	for (size_t k = 0; k < (all ? r->count : 1) && rv == TP_OK; k++)
		rv = tp__cols_add(c, k < r->count ? &r->gv[k] : &none);
	return rv;
}

int tp__cols_call(struct tp__cols *c, uint32_t n)
{
	return c->use_calls ? vbuf_put(&c->calls, &n, sizeof(n)) : TP_OK;
}

void tp__cols_pos(const struct tp__cols *c, struct tp__cols_pos *out)
{
	out->v = c->count;
	out->i = c->ints.n;
	out->d = c->dbls.n;
	out->l = c->lens.n;
	out->b = c->data.n;
	out->c = c->calls.n;
}

void tp__cols_to_pb(const struct tp__cols *c, const struct tp__cols_pos *a,
                    const struct tp__cols_pos *b, Troupe__Values *m)
{
	const unsigned char *k = (const unsigned char *)c->kinds.p + a->v;
	size_t n = b->v - a->v, same = 1;
	troupe__values__init(m);
	m->count = n;
	while (same < n && k[same] == k[0])
		same++;
	if (n > 0 && same == n) {
		m->kind = k[0];
	} else {
		m->kinds.data = (uint8_t *)k;
		m->kinds.len = n;
	}
	m->ints.data = (uint8_t *)c->ints.p + a->i;
	m->ints.len = b->i - a->i;
	m->doubles.data = (uint8_t *)c->dbls.p + a->d;
	m->doubles.len = b->d - a->d;
	m->lens.data = (uint8_t *)c->lens.p + a->l;
	m->lens.len = b->l - a->l;
	m->data.data = (uint8_t *)c->data.p + a->b;
	m->data.len = b->b - a->b;
	m->calls.data = (uint8_t *)c->calls.p + a->c;
	m->calls.len = b->c - a->c;
}

/* ---- reading ---- */

static unsigned kind_at(const Troupe__Values *m, size_t i)
{
	return m->kinds.len ? m->kinds.data[i] : m->kind;
}

static uint32_t u32_at(const uint8_t *p, size_t i)
{
	uint32_t x;
	memcpy(&x, p + 4 * i, sizeof(x));
	return x;
}

/* The calls column adds up to the values (when there is one). */
static int check_calls(const Troupe__Values *m)
{
	size_t ncalls = 0;
	for (size_t c = 0; c < m->calls.len / 4; c++)
		ncalls += u32_at(m->calls.data, c);
	return m->calls.len && ncalls != m->count ? TP_EDECODE : TP_OK;
}

/* Every value an int, or every one a double: the column's length says
 * it all, without a walk over the values. */
static int check_numbers(const Troupe__Values *m)
{
	int ints = m->kind == K_INT;
	const ProtobufCBinaryData *col = ints ? &m->ints : &m->doubles;
	const ProtobufCBinaryData *other = ints ? &m->doubles : &m->ints;
	if (col->len / 8 != m->count || other->len != 0 || m->lens.len != 0 ||
	    m->data.len != 0)
		return TP_EDECODE;
	return check_calls(m);
}

/* Every value a string, or every one bytes: one walk over the lengths,
 * each block inside the data and NUL-ended, the blocks filling it. */
static int check_blocks(const Troupe__Values *m, size_t *nbytes)
{
	const uint8_t *d = m->data.data;
	size_t n = m->count, off = 0, dlen = m->data.len;
	if (m->lens.len / 4 != n || m->ints.len != 0 || m->doubles.len != 0)
		return TP_EDECODE;
	for (size_t i = 0; i < n; i++) {
		size_t len = u32_at(m->lens.data, i);
		if (len >= dlen - off || d[off + len] != 0)
			return TP_EDECODE;
		off += len + 1;
	}
	if (off != dlen)
		return TP_EDECODE;
	*nbytes = n;
	return check_calls(m);
}

/* Checks every column against the kinds; returns the values with bytes. */
static int check(const Troupe__Values *m, size_t *nbytes)
{
	size_t ni = 0, nd = 0, nl = 0, off = 0;
	if (m->kinds.len != 0 && m->kinds.len != m->count)
		return TP_EDECODE;
	if (m->lens.len % 4 || m->calls.len % 4 || m->ints.len % 8 ||
	    m->doubles.len % 8)
		return TP_EDECODE;
	/* A count no column can hold fails before the walk (a corrupt count
	 * must not make it loop for ever): every value but a none takes at
	 * least 4 bytes of some column, and nones are capped. */
	if (m->kinds.len == 0 && m->count > NONES_MAX &&
	    m->count > (m->ints.len + m->doubles.len + m->lens.len) / 4)
		return TP_EDECODE;
	*nbytes = 0;
	if (m->kinds.len == 0 && (m->kind == K_INT || m->kind == K_DOUBLE))
		return check_numbers(m);
	if (m->kinds.len == 0 && (m->kind == K_STRING || m->kind == K_BYTES))
		return check_blocks(m, nbytes);
	for (size_t i = 0; i < m->count; i++) {
		unsigned k = kind_at(m, i);
		if (k == K_INT) {
			ni++;
		} else if (k == K_DOUBLE) {
			nd++;
		} else if (k >= K_STRING && k <= K_USER) {
			if (nl >= m->lens.len / 4)
				return TP_EDECODE;
			size_t len = u32_at(m->lens.data, nl++);
			if (len >= m->data.len - off || off >= m->data.len ||
			    m->data.data[off + len] != 0)
				return TP_EDECODE;
			off += len + 1;
			if (k == K_USER) { /* then its type name, NUL-ended */
				const uint8_t *z = memchr(m->data.data + off, 0,
				                          m->data.len - off);
				if (z == NULL || z == m->data.data + off)
					return TP_EDECODE;
				off = (size_t)(z - m->data.data) + 1;
			}
		} else if (k != K_NONE) {
			return TP_EDECODE;
		}
	}
	if (ni * 8 != m->ints.len || nd * 8 != m->doubles.len ||
	    nl * 4 != m->lens.len || off != m->data.len)
		return TP_EDECODE;
	*nbytes = nl;
	return check_calls(m);
}

/* Checks m and sets r up to read it; *nb: its values with bytes. */
static int vread_start(struct tp__vread *r, const Troupe__Values *m, size_t *nb)
{
	static const Troupe__Values empty = TROUPE__VALUES__INIT;
	int rv;
	memset(r, 0, sizeof(*r));
	r->m = m != NULL ? m : &empty;
	*nb = 0;
	if ((rv = check(r->m, nb)) != TP_OK)
		return rv;
	r->count = r->m->count;
	r->calls = r->m->calls.len ? r->m->calls.len / 4 : r->count;
	return TP_OK;
}

/* Reads m with its bytes copied into one fresh blob. */
static int vread_copy(struct tp__vread *r, const Troupe__Values *m)
{
	size_t nb, len;
	int rv = vread_start(r, m, &nb);
	if (rv != TP_OK || nb == 0)
		return rv;
	len = r->m->data.len;
	if ((r->blob = tp__blob_new(len)) == NULL)
		return TP_ENOMEM;
	r->base = r->blob->data;
	memcpy(r->base, r->m->data.data, len);
	r->blob->used = len;
	tp__blob_ref(r->blob, nb);
	return TP_OK;
}

int tp__vread_init_at(struct tp__vread *r, const Troupe__Values *m,
                      struct tp__blob *at)
{
	size_t nb;
	int rv;
	if (at == NULL)
		return vread_copy(r, m);
	if ((rv = vread_start(r, m, &nb)) != TP_OK || nb == 0)
		return rv;
	r->blob = at; /* the reader's reference, and one per value */
	r->base = (char *)r->m->data.data;
	tp__blob_ref(at, nb + 1);
	return TP_OK;
}

int tp__vread_init(struct tp__vread *r, const Troupe__Values *m)
{
	return vread_copy(r, m);
}

void tp__vread_done(struct tp__vread *r)
{
	/* Values never handed out keep their references: drop them. */
	while (r->v < r->count) {
		struct tp_value v;
		tp__vread_next(r, &v);
		tp__value_release(&v);
	}
	tp__blob_unref(r->blob);
	r->blob = NULL;
}

void tp__cols_truncate(struct tp__cols *c, const struct tp__cols_pos *p)
{
	c->count = c->kinds.n = p->v;
	c->ints.n = p->i;
	c->dbls.n = p->d;
	c->lens.n = p->l;
	c->data.n = p->b;
	c->calls.n = p->c;
}

size_t tp__cols_bytes(const struct tp__cols_pos *a,
                      const struct tp__cols_pos *b)
{
	return (b->v - a->v) + (b->i - a->i) + (b->d - a->d) + (b->l - a->l) +
	       (b->b - a->b) + (b->c - a->c);
}

unsigned tp__vread_kind(const struct tp__vread *r)
{
	const Troupe__Values *m = r->m;
	if (m->kinds.len != 0 || m->count == 0)
		return TP__PK_GEN;
	return m->kind == K_INT      ? TP__PK_INTS
	       : m->kind == K_DOUBLE ? TP__PK_DBLS
	                             : TP__PK_GEN;
}

/* The next n values of r, all of form k (a number column), copied to
 * out in one go. */
static void take_numbers(struct tp__vread *r, unsigned k, void *out, size_t n)
{
	const Troupe__Values *m = r->m;
	size_t *at = k == TP__PK_INTS ? &r->i : &r->d;
	const uint8_t *col = k == TP__PK_INTS ? m->ints.data : m->doubles.data;
	if (n > 0)
		memcpy(out, col + 8 * *at, 8 * n);
	*at += n;
	r->v += n;
}

int tp__payload_vread(tp_payload *p, struct tp__vread *r, size_t n)
{
	unsigned k = tp__vread_kind(r);
	int rv;
	if (k != TP__PK_GEN && (p->count == 0 || p->kind == k)) {
		if ((rv = tp__payload_reserve_as(p, k, n)) != TP_OK)
			return rv;
		take_numbers(r, k, p->iv + p->count, n);
		p->count += n;
		p->vcount += n;
		return TP_OK;
	}
	for (size_t i = 0; i < n; i++) {
		struct tp_value v;
		tp__vread_next(r, &v);
		if ((rv = tp__payload_append(p, &v)) != TP_OK) {
			tp__value_release(&v);
			return rv;
		}
	}
	return TP_OK;
}

int tp__payload_slots(tp_payload *p, size_t n, unsigned k)
{
	size_t es = k == TP__PK_GEN ? sizeof(struct tp_value) : 8;
	void *a = tp__big_alloc(n ? n : 1, es);
	if (a == NULL)
		return TP_ENOMEM;
	tp_payload_clear(p);
	if (!tp__payload_inline(p))
		free(p->gv);
	p->gv = a;
	p->kind = (unsigned char)k;
	p->count = p->cap = n;
	return TP_OK;
}

int tp__payload_vread_at(tp_payload *p, size_t at, struct tp__vread *r,
                         size_t n)
{
	unsigned k = tp__vread_kind(r);
	int rv;
	if (p->kind != TP__PK_GEN && k == p->kind) {
		take_numbers(r, k, p->iv + at, n);
		return TP_OK;
	}
	if ((rv = tp__payload_generic(p)) != TP_OK)
		return rv;
	for (size_t i = 0; i < n; i++)
		tp__vread_next(r, &p->gv[at + i]);
	return TP_OK;
}
