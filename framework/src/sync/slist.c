/*
 * slist.c - ShareableList: a fixed-length list of int, float, bool, str,
 * bytes and None in one SharedMemory block (Python's
 * multiprocessing.shared_memory.ShareableList).
 *
 * The block holds everything another process needs to attach by name:
 *   header  { u64 magic "tpslist1", u64 count }
 *   slots   count x { u32 type, u32 cap, u64 off, u64 len }
 *   data    each slot's cap bytes at off (8 for a number, bool or None;
 *           a str's or bytes' length rounded up to 8, at least 8)
 * A slot's capacity is fixed at creation, as in Python: a later str or
 * bytes must fit it, and any value may replace any other that way.
 * As Python's, the list has no lock: a reader never reads out of its
 * slot (a length is clamped to the capacity), but two processes writing
 * one item at once need a Lock of their own. An attached block is
 * checked (magic, sizes, offsets) before use, so any other block is
 * refused rather than read out of bounds.
 */
#include <stdlib.h>
#include <string.h>

#include "shmem_int.h"
#include "troupe/error.h"
#include "troupe/shared.h"

#define SL_MAGIC 0x317473696c737074ull /* "tpslist1" */

enum { SL_NONE = 0, SL_INT, SL_DOUBLE, SL_BOOL, SL_STR, SL_BYTES, SL_MAX };

struct sl_head {
	uint64_t magic;
	uint64_t count;
};

struct sl_slot {
	uint32_t type;
	uint32_t cap;
	uint64_t off;
	uint64_t len;
};

struct tp_slist {
	tp_shmem *shm;
	size_t count;
	struct sl_slot *slots;
	unsigned char *base;
};

static size_t round8(size_t n)
{
	return n < 8 ? 8 : (n + 7) & ~(size_t)7;
}

/* The capacity value i of items needs, or 0 for a type a list cannot
 * hold (a protobuf message). */
static size_t item_cap(const tp_payload *items, size_t i)
{
	tp_type t = TP_TNONE;
	const void *b;
	const char *s;
	size_t n = 0;
	tp_payload_type(items, i, &t);
	if (t == TP_TSTRING && tp_payload_get_string(items, i, &s) == TP_OK)
		return strlen(s) <= UINT32_MAX - 8 ? round8(strlen(s)) : 0;
	if (t == TP_TBYTES && tp_payload_get_bytes(items, i, &b, &n) == TP_OK)
		return n <= UINT32_MAX - 8 ? round8(n) : 0;
	return t == TP_TPROTO ? 0 : 8;
}

/* The block size for items, or 0 when one cannot be held. */
static size_t layout_size(const tp_payload *items)
{
	size_t n = tp_payload_count(items);
	size_t size = sizeof(struct sl_head) + n * sizeof(struct sl_slot);
	for (size_t i = 0; i < n; i++) {
		size_t c = item_cap(items, i);
		if (c == 0)
			return 0;
		size += c;
	}
	return size;
}

static void bind(tp_slist *l, tp_shmem *m, size_t count)
{
	l->shm = m;
	l->count = count;
	l->base = tp_shmem_buf(m);
	l->slots = (struct sl_slot *)(l->base + sizeof(struct sl_head));
}

/* Writes the header and the slots of items into a fresh block. */
static int fill(tp_slist *l, const tp_payload *items)
{
	struct sl_head *h = (struct sl_head *)l->base;
	size_t off = sizeof(*h) + l->count * sizeof(struct sl_slot);
	int rv = TP_OK;
	h->count = l->count;
	for (size_t i = 0; i < l->count; i++) {
		l->slots[i].cap = (uint32_t)item_cap(items, i);
		l->slots[i].off = off;
		off += l->slots[i].cap;
	}
	for (size_t i = 0; i < l->count && rv == TP_OK; i++)
		rv = tp_slist_set(l, i, items, i);
	h->magic = SL_MAGIC;
	return rv;
}

int tp__slist_new_in(tp_slist **out, tp_shmem *m, const tp_payload *items)
{
	tp_slist *l = calloc(1, sizeof(*l));
	int rv;
	if (l == NULL)
		return TP_ENOMEM;
	bind(l, m, tp_payload_count(items));
	if ((rv = fill(l, items)) != TP_OK) {
		free(l);
		return rv;
	}
	*out = l;
	return TP_OK;
}

size_t tp__slist_size(const tp_payload *items)
{
	return items == NULL ? 0 : layout_size(items);
}

static int make(tp_slist **out, const char *name, const tp_payload *items)
{
	tp_shmem *m = NULL;
	size_t size;
	int rv;
	if (out == NULL || items == NULL)
		return TP_EINVAL;
	if ((size = layout_size(items)) == 0)
		return TP_ETYPE;
	rv = name ? tp_shmem_new_named(&m, name, size) : tp_shmem_new(&m, size);
	if (rv == TP_OK && (rv = tp__slist_new_in(out, m, items)) != TP_OK) {
		tp_shmem_unlink(m);
		tp_shmem_free(m);
	}
	return rv;
}

int tp_slist_new(tp_slist **out, const tp_payload *items)
{
	return make(out, NULL, items);
}

int tp_slist_new_named(tp_slist **out, const char *name,
                       const tp_payload *items)
{
	return name == NULL ? TP_EINVAL : make(out, name, items);
}

/* 1 when the block of size bytes at base is a well-formed list. */
static int valid(const unsigned char *base, size_t size)
{
	const struct sl_head *h = (const struct sl_head *)base;
	if (size < sizeof(*h) || h->magic != SL_MAGIC ||
	    h->count > (size - sizeof(*h)) / sizeof(struct sl_slot))
		return 0;
	const struct sl_slot *s = (const struct sl_slot *)(h + 1);
	size_t data = sizeof(*h) + h->count * sizeof(*s);
	for (size_t i = 0; i < h->count; i++)
		if (s[i].off < data || s[i].off > size ||
		    s[i].cap > size - s[i].off || s[i].cap < 8)
			return 0;
	return 1;
}

int tp__slist_wrap(tp_slist **out, tp_shmem *m)
{
	tp_slist *l;
	if (!valid(tp_shmem_buf(m), tp_shmem_size(m)))
		return TP_EDECODE;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return TP_ENOMEM;
	bind(l, m, ((struct sl_head *)tp_shmem_buf(m))->count);
	*out = l;
	return TP_OK;
}

int tp_slist_attach(tp_slist **out, const char *name)
{
	tp_shmem *m = NULL;
	int rv;
	if (out == NULL || name == NULL)
		return TP_EINVAL;
	if ((rv = tp_shmem_attach(&m, name)) != TP_OK)
		return rv;
	if ((rv = tp__slist_wrap(out, m)) != TP_OK)
		tp_shmem_free(m);
	return rv;
}

void tp_slist_free(tp_slist *l)
{
	if (l == NULL)
		return;
	tp_shmem_free(l->shm);
	free(l);
}

int tp_slist_unlink(tp_slist *l)
{
	return l == NULL ? TP_EINVAL : tp_shmem_unlink(l->shm);
}

size_t tp_slist_len(const tp_slist *l)
{
	return l == NULL ? 0 : l->count;
}

tp_shmem *tp_slist_shmem(tp_slist *l)
{
	return l == NULL ? NULL : l->shm;
}

const char *tp_slist_name(const tp_slist *l)
{
	return l == NULL ? NULL : tp_shmem_name(l->shm);
}

/* ---- items ------------------------------------------------------------ */

static int slot(tp_slist *l, size_t i, struct sl_slot **out)
{
	if (l == NULL)
		return TP_EINVAL;
	if (i >= l->count)
		return TP_ENOENT;
	*out = &l->slots[i];
	return TP_OK;
}

/* Stores type t with n bytes of data (NULL: none) in slot i. */
static int put(tp_slist *l, size_t i, uint32_t t, const void *data, size_t n)
{
	struct sl_slot *s;
	int rv = slot(l, i, &s);
	if (rv != TP_OK)
		return rv;
	if (n > s->cap)
		return TP_ETOOBIG;
	if (n > 0)
		memcpy(l->base + s->off, data, n);
	s->len = n;
	s->type = t;
	return TP_OK;
}

int tp_slist_set_int(tp_slist *l, size_t i, int64_t v)
{
	return put(l, i, SL_INT, &v, sizeof(v));
}

int tp_slist_set_double(tp_slist *l, size_t i, double v)
{
	return put(l, i, SL_DOUBLE, &v, sizeof(v));
}

int tp_slist_set_bool(tp_slist *l, size_t i, int v)
{
	int64_t b = v != 0;
	return put(l, i, SL_BOOL, &b, sizeof(b));
}

int tp_slist_set_none(tp_slist *l, size_t i)
{
	return put(l, i, SL_NONE, NULL, 0);
}

int tp_slist_set_str(tp_slist *l, size_t i, const char *s)
{
	return s == NULL ? TP_EINVAL : put(l, i, SL_STR, s, strlen(s));
}

int tp_slist_set_bytes(tp_slist *l, size_t i, const void *data, size_t n)
{
	if (data == NULL && n > 0)
		return TP_EINVAL;
	return put(l, i, SL_BYTES, data, n);
}

int tp_slist_set(tp_slist *l, size_t i, const tp_payload *src, size_t j)
{
	tp_type t;
	int64_t iv;
	double d;
	const char *s;
	const void *b;
	size_t n;
	int rv = tp_payload_type(src, j, &t);
	if (rv != TP_OK)
		return rv;
	switch (t) {
	case TP_TNONE:
		return tp_slist_set_none(l, i);
	case TP_TINT:
		tp_payload_get_int(src, j, &iv);
		return tp_slist_set_int(l, i, iv);
	case TP_TDOUBLE:
		tp_payload_get_double(src, j, &d);
		return tp_slist_set_double(l, i, d);
	case TP_TSTRING:
		tp_payload_get_string(src, j, &s);
		return tp_slist_set_str(l, i, s);
	case TP_TBYTES:
		tp_payload_get_bytes(src, j, &b, &n);
		return tp_slist_set_bytes(l, i, b, n);
	default:
		return TP_ETYPE;
	}
}

/* Appends a str of n bytes at p (not NUL-terminated) to dst. */
static int add_str(tp_payload *dst, const unsigned char *p, size_t n)
{
	char *s = malloc(n + 1);
	int rv;
	if (s == NULL)
		return TP_ENOMEM;
	memcpy(s, p, n);
	s[n] = '\0';
	rv = tp_payload_add_string(dst, s);
	free(s);
	return rv;
}

int tp_slist_get(tp_slist *l, size_t i, tp_payload *dst)
{
	struct sl_slot *s, c;
	int64_t iv;
	double d;
	int rv = slot(l, i, &s);
	if (rv != TP_OK)
		return rv;
	if (dst == NULL)
		return TP_EINVAL;
	c = *s; /* one snapshot: a concurrent writer cannot move us out */
	const unsigned char *p = l->base + s->off;
	size_t n = c.len < s->cap ? (size_t)c.len : s->cap;
	switch (c.type) {
	case SL_NONE:
		return tp_payload_add_none(dst);
	case SL_INT:
	case SL_BOOL:
		memcpy(&iv, p, sizeof(iv));
		return tp_payload_add_int(dst, iv);
	case SL_DOUBLE:
		memcpy(&d, p, sizeof(d));
		return tp_payload_add_double(dst, d);
	case SL_STR:
		return add_str(dst, p, n);
	case SL_BYTES:
		return tp_payload_add_bytes(dst, p, n);
	default:
		return TP_EDECODE;
	}
}

int tp_slist_get_all(tp_slist *l, tp_payload *dst)
{
	int rv = l == NULL || dst == NULL ? TP_EINVAL : TP_OK;
	for (size_t i = 0; rv == TP_OK && i < l->count; i++)
		rv = tp_slist_get(l, i, dst);
	return rv;
}

int tp_slist_is_bool(tp_slist *l, size_t i)
{
	struct sl_slot *s;
	return slot(l, i, &s) == TP_OK && s->type == SL_BOOL;
}

int tp_payload_add_slist(tp_payload *p, const tp_slist *l)
{
	return l == NULL ? TP_EINVAL : tp_payload_add_shmem(p, l->shm);
}

int tp_payload_get_slist(const tp_payload *p, size_t i, tp_slist **out)
{
	tp_shmem *m = NULL;
	int rv;
	if (out == NULL)
		return TP_EINVAL;
	if ((rv = tp_payload_get_shmem(p, i, &m)) != TP_OK)
		return rv;
	if ((rv = tp__slist_wrap(out, m)) != TP_OK)
		tp_shmem_free(m);
	return rv;
}

/* ---- count and index ------------------------------------------------- */

/* Python's int == float: exact (2**53 + 1 != 2.0**53), NaN equals
 * nothing. */
static int int_eq_double(int64_t i, double d)
{
	if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
		return 0; /* out of int64's range, or NaN */
	return (double)(int64_t)d == d && (int64_t)d == i;
}

/* What value j of v is, read once for every item it is compared with. */
struct probe {
	tp_type t;
	int64_t i;
	double d;
	const void *data;
	size_t n;
};

static int probe_of(const tp_payload *v, size_t j, struct probe *pr)
{
	const char *s;
	if (v == NULL || j >= tp_payload_count(v))
		return TP_EINVAL;
	tp_payload_type(v, j, &pr->t);
	switch (pr->t) {
	case TP_TNONE:
		return TP_OK;
	case TP_TINT:
		return tp_payload_get_int(v, j, &pr->i);
	case TP_TDOUBLE:
		return tp_payload_get_double(v, j, &pr->d);
	case TP_TSTRING:
		if (tp_payload_get_string(v, j, &s) != TP_OK)
			return TP_EDECODE;
		pr->data = s;
		pr->n = strlen(s);
		return TP_OK;
	case TP_TBYTES:
		return tp_payload_get_bytes(v, j, &pr->data, &pr->n);
	default:
		return TP_ETYPE;
	}
}

/* Python's item == value, on one snapshot of the slot. */
static int item_eq(const tp_slist *l, size_t i, const struct probe *pr)
{
	struct sl_slot c = l->slots[i];
	const unsigned char *p = l->base + l->slots[i].off;
	size_t n = c.len < l->slots[i].cap ? (size_t)c.len : l->slots[i].cap;
	int64_t iv = 0;
	double d = 0;
	int is_int = c.type == SL_INT || c.type == SL_BOOL;
	if (is_int)
		memcpy(&iv, p, sizeof(iv));
	if (c.type == SL_DOUBLE)
		memcpy(&d, p, sizeof(d));
	switch (pr->t) {
	case TP_TNONE:
		return c.type == SL_NONE;
	case TP_TINT:
		if (c.type == SL_DOUBLE)
			return int_eq_double(pr->i, d);
		return is_int && iv == pr->i;
	case TP_TDOUBLE:
		if (c.type == SL_DOUBLE)
			return d == pr->d;
		return is_int && int_eq_double(iv, pr->d);
	case TP_TSTRING:
	case TP_TBYTES:
		return c.type == (pr->t == TP_TSTRING ? SL_STR : SL_BYTES) &&
		       n == pr->n && (n == 0 || memcmp(p, pr->data, n) == 0);
	default:
		return 0;
	}
}

int tp_slist_count(tp_slist *l, const tp_payload *v, size_t j, size_t *out)
{
	struct probe pr = {0};
	int rv = l == NULL || out == NULL ? TP_EINVAL : probe_of(v, j, &pr);
	if (rv != TP_OK)
		return rv;
	*out = 0;
	for (size_t i = 0; i < l->count; i++)
		*out += (size_t)item_eq(l, i, &pr);
	return TP_OK;
}

int tp_slist_index(tp_slist *l, const tp_payload *v, size_t j, size_t *out)
{
	struct probe pr = {0};
	int rv = l == NULL || out == NULL ? TP_EINVAL : probe_of(v, j, &pr);
	if (rv != TP_OK)
		return rv;
	for (size_t i = 0; i < l->count; i++)
		if (item_eq(l, i, &pr)) {
			*out = i;
			return TP_OK;
		}
	return TP_ENOENT;
}
