/*
 * value.c - Value and Array (and their raw forms) in shared memory.
 *
 * A Value is an Array of one element. The segment holds a small header
 * (typecode, length, where the lock is), the Array's own RLock when it has
 * one, and the elements. When the user gives a lock of their own, the
 * header records that lock's segment name and offset so that a process
 * attaching the Array from a payload finds the same lock.
 */
#include <stdlib.h>
#include <string.h>

#include "lock_int.h"
#include "troupe/error.h"
#include "troupe/shared.h"

enum { LOCK_NONE, LOCK_OWN, LOCK_EXT };

struct tp__arrst {
	struct tp__shdr h;
	char typecode;
	uint8_t elsize;
	uint8_t lock_kind;
	uint8_t pad;
	uint64_t len;
	uint64_t data_off; /* from the start of the state */
	uint64_t ext_off;
	char ext_name[TP_SHM_NAME_MAX];
	/* The own lock starts a cache line and the elements follow it, so
	 * that a Value and its lock share one line: one transfer per
	 * critical section between processes. */
	struct tp__lockst lock __attribute__((aligned(64)));
};

#define DATA_OFF (offsetof(struct tp__arrst, lock) + sizeof(struct tp__lockst))

struct tp_array {
	struct tp__seg *seg;
	struct tp__arrst *st;
	tp_lock *lock;
	char *data;
};

/* A Value (tp_value) is an Array of one element. Its tag is not
 * tp_value: base/payload_int.h's struct tp_value is one value of a
 * payload, a different thing. */
struct tp_shared_value {
	struct tp_array a;
};

size_t tp_typecode_size(char tc)
{
	switch (tc) {
	case 'c':
	case 'b':
	case 'B':
		return 1;
	case 'h':
	case 'H':
		return 2;
	case 'i':
	case 'I':
	case 'f':
		return 4;
	case 'l':
	case 'L':
	case 'q':
	case 'Q':
	case 'd':
		return 8;
	default:
		return 0;
	}
}

static int is_float(char tc)
{
	return tc == 'f' || tc == 'd';
}

static int array_open(struct tp__seg *seg, struct tp__arrst *st,
                      struct tp_array **out)
{
	struct tp_array *a = calloc(1, sizeof(struct tp_shared_value));
	int rv = TP_OK;
	if (a == NULL)
		return TP_ENOMEM;
	a->seg = tp__seg_ref(seg);
	a->st = st;
	a->data = (char *)st + st->data_off;
	if (st->lock_kind == LOCK_OWN)
		rv = tp__lock_wrap(seg, &st->lock, &a->lock);
	else if (st->lock_kind == LOCK_EXT)
		rv = tp__lock_attach(st->ext_name, st->ext_off, &a->lock);
	if (rv != TP_OK) {
		tp__seg_unref(a->seg);
		free(a);
		return rv;
	}
	*out = a;
	return TP_OK;
}

static int array_create(struct tp_array **out, int kind, char tc, size_t n,
                        const void *init, tp_lock *lock, int raw)
{
	size_t es = tp_typecode_size(tc), off = (DATA_OFF + 7) & ~(size_t)7;
	struct tp__seg *seg;
	int rv;
	if (out == NULL || es == 0 || n == 0 || n > ((size_t)1 << 40) / es)
		return TP_EINVAL;
	size_t size = off + n * es;
	if (size < sizeof(struct tp__arrst))
		size = sizeof(struct tp__arrst);
	if ((rv = tp__seg_create(size, &seg)) != TP_OK)
		return rv;
	struct tp__arrst *st = seg->base;
	st->typecode = tc;
	st->elsize = (uint8_t)es;
	st->len = n;
	st->data_off = off;
	if (init != NULL)
		memcpy((char *)st + off, init, n * es);
	if (raw) {
		st->lock_kind = LOCK_NONE;
	} else if (lock != NULL) {
		st->lock_kind = LOCK_EXT;
		tp__lock_where(lock, st->ext_name, &st->ext_off);
	} else {
		st->lock_kind = LOCK_OWN;
		rv = tp__lock_init(&st->lock, 1);
	}
	st->h.magic = TP__SOBJ_MAGIC;
	st->h.kind = (uint32_t)kind;
	if (rv == TP_OK)
		rv = array_open(seg, st, out);
	tp__seg_unref(seg);
	return rv;
}

static void array_free(struct tp_array *a)
{
	if (a == NULL)
		return;
	tp_lock_free(a->lock);
	tp__seg_unref(a->seg);
	free(a);
}

/* Takes the lock unless the caller holds it already (Python would
 * deadlock on a plain Lock held by the caller; we do the useful thing). */
static inline int array_lock(struct tp_array *a, int *taken)
{
	*taken = 0;
	if (a->lock == NULL || tp__lock_owner(a->lock->st) == tp__tid())
		return TP_OK;
	int rv = tp_lock_acquire(a->lock, -1);
	if (rv == TP_OK || rv == TP_EOWNERDEAD)
		*taken = 1;
	return rv;
}

static void array_unlock(struct tp_array *a, int taken)
{
	if (taken)
		tp_lock_release(a->lock);
}

static int64_t load_long(const char *p, char tc)
{
	switch (tc) {
	case 'c':
	case 'B':
		return *(const uint8_t *)p;
	case 'b':
		return *(const int8_t *)p;
	case 'h':
		return *(const int16_t *)p;
	case 'H':
		return *(const uint16_t *)p;
	case 'i':
		return *(const int32_t *)p;
	case 'I':
		return *(const uint32_t *)p;
	default:
		return *(const int64_t *)p;
	}
}

static void store_long(char *p, char tc, int64_t x)
{
	switch (tc) {
	case 'c':
	case 'B':
	case 'b':
		*(uint8_t *)p = (uint8_t)x;
		break;
	case 'h':
	case 'H':
		*(uint16_t *)p = (uint16_t)x;
		break;
	case 'i':
	case 'I':
		*(uint32_t *)p = (uint32_t)x;
		break;
	default:
		*(uint64_t *)p = (uint64_t)x;
		break;
	}
}

/* op: 0 get long, 1 set long, 2 get double, 3 set double. */
static inline int array_access(struct tp_array *a, size_t i, int op, int64_t *l,
                               double *d)
{
	int taken, rv;
	if (a == NULL || (op == 0 && l == NULL) || (op == 2 && d == NULL))
		return TP_EINVAL;
	char tc = a->st->typecode;
	if (is_float(tc) != (op >= 2))
		return TP_ETYPE;
	if (i >= a->st->len)
		return TP_ENOENT;
	char *p = a->data + i * a->st->elsize;
	if ((rv = array_lock(a, &taken)) != TP_OK && rv != TP_EOWNERDEAD)
		return rv;
	if (op == 0)
		*l = load_long(p, tc);
	else if (op == 1)
		store_long(p, tc, *l);
	else if (op == 2)
		*d = tc == 'f' ? *(float *)p : *(double *)p;
	else if (tc == 'f')
		*(float *)p = (float)*d;
	else
		*(double *)p = *d;
	array_unlock(a, taken);
	return rv;
}

int tp_array_new(tp_array **out, char tc, size_t n, const void *init,
                 tp_lock *lock)
{
	return array_create(out, TP__KARRAY, tc, n, init, lock, 0);
}

int tp_rawarray_new(tp_array **out, char tc, size_t n, const void *init)
{
	return array_create(out, TP__KARRAY, tc, n, init, NULL, 1);
}

void tp_array_free(tp_array *a)
{
	array_free(a);
}

tp_lock *tp_array_get_lock(tp_array *a)
{
	return a == NULL ? NULL : a->lock;
}

char tp_array_typecode(const tp_array *a)
{
	return a == NULL ? 0 : a->st->typecode;
}

size_t tp_array_len(const tp_array *a)
{
	return a == NULL ? 0 : (size_t)a->st->len;
}

void *tp_array_ptr(tp_array *a)
{
	return a == NULL ? NULL : a->data;
}

int tp_array_get_long(tp_array *a, size_t i, int64_t *out)
{
	return array_access(a, i, 0, out, NULL);
}

int tp_array_set_long(tp_array *a, size_t i, int64_t x)
{
	return array_access(a, i, 1, &x, NULL);
}

int tp_array_get_double(tp_array *a, size_t i, double *out)
{
	return array_access(a, i, 2, NULL, out);
}

int tp_array_set_double(tp_array *a, size_t i, double x)
{
	return array_access(a, i, 3, NULL, &x);
}

/* Copies n elements from start out of a into dst, or (dst NULL) from src
 * into a, under the array's lock. */
static int array_copy(tp_array *a, size_t start, size_t n, void *dst,
                      const void *src)
{
	int taken, rv;
	if (a == NULL || (n > 0 && dst == NULL && src == NULL))
		return TP_EINVAL;
	if (start > a->st->len || n > a->st->len - start)
		return TP_ENOENT;
	if (n == 0)
		return TP_OK; /* nothing to copy, and dst and src may be NULL */
	size_t es = a->st->elsize;
	if ((rv = array_lock(a, &taken)) != TP_OK && rv != TP_EOWNERDEAD)
		return rv;
	if (dst != NULL)
		memcpy(dst, a->data + start * es, n * es);
	else if (src != NULL)
		memcpy(a->data + start * es, src, n * es);
	array_unlock(a, taken);
	return rv;
}

int tp_array_read(tp_array *a, size_t start, size_t n, void *dst)
{
	return array_copy(a, start, n, dst, NULL);
}

int tp_array_write(tp_array *a, size_t start, size_t n, const void *src)
{
	return array_copy(a, start, n, NULL, src);
}

static int array_payload_get(const tp_payload *p, size_t i, int kind,
                             struct tp_array **out)
{
	const int kinds[] = {kind, 0};
	struct tp__seg *seg;
	void *st;
	int rv;
	if (out == NULL)
		return TP_EINVAL;
	rv = tp__sobj_get(p, i, kinds, sizeof(struct tp__arrst), &seg, &st,
	                  NULL);
	if (rv != TP_OK)
		return rv;
	struct tp__arrst *a = st;
	size_t es = tp_typecode_size(a->typecode);
	if (es == 0 || es != a->elsize || a->data_off < DATA_OFF ||
	    a->data_off > seg->size || a->len > (seg->size - a->data_off) / es)
		rv = TP_EDECODE;
	else
		rv = array_open(seg, st, out);
	tp__seg_unref(seg);
	return rv;
}

int tp_payload_add_array(tp_payload *p, const tp_array *a)
{
	return a == NULL ? TP_EINVAL : tp__sobj_add(p, TP__KARRAY, a->seg, 0);
}

int tp_payload_get_array(const tp_payload *p, size_t i, tp_array **out)
{
	return array_payload_get(p, i, TP__KARRAY, out);
}

/* ---- Value: an Array of one ---- */

int tp_value_new(tp_value **out, char tc, const void *init, tp_lock *lock)
{
	return array_create((struct tp_array **)out, TP__KVALUE, tc, 1, init,
	                    lock, 0);
}

int tp_rawvalue_new(tp_value **out, char tc, const void *init)
{
	return array_create((struct tp_array **)out, TP__KVALUE, tc, 1, init,
	                    NULL, 1);
}

void tp_value_free(tp_value *v)
{
	array_free(v == NULL ? NULL : &v->a);
}

tp_lock *tp_value_get_lock(tp_value *v)
{
	return v == NULL ? NULL : v->a.lock;
}

char tp_value_typecode(const tp_value *v)
{
	return v == NULL ? 0 : v->a.st->typecode;
}

void *tp_value_ptr(tp_value *v)
{
	return v == NULL ? NULL : v->a.data;
}

int tp_value_get_long(tp_value *v, int64_t *out)
{
	return array_access(v == NULL ? NULL : &v->a, 0, 0, out, NULL);
}

int tp_value_set_long(tp_value *v, int64_t x)
{
	return array_access(v == NULL ? NULL : &v->a, 0, 1, &x, NULL);
}

int tp_value_get_double(tp_value *v, double *out)
{
	return array_access(v == NULL ? NULL : &v->a, 0, 2, NULL, out);
}

int tp_value_set_double(tp_value *v, double x)
{
	return array_access(v == NULL ? NULL : &v->a, 0, 3, NULL, &x);
}

int tp_payload_add_value(tp_payload *p, const tp_value *v)
{
	return v == NULL ? TP_EINVAL : tp__sobj_add(p, TP__KVALUE, v->a.seg, 0);
}

int tp_payload_get_value(const tp_payload *p, size_t i, tp_value **out)
{
	return array_payload_get(p, i, TP__KVALUE, (struct tp_array **)out);
}
