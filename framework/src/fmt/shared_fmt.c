/*
 * shared_fmt.c - the concise calls on shared Values and Arrays
 * (troupe/fmt.h): Python reprs of v.value and a[:], and the
 * read-modify-write `with v.get_lock(): v.value += d` as one call. Built on
 * the public Value/Array calls only.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "repr_int.h"
#include "troupe/error.h"
#include "troupe/fmt.h"

/* One element of typecode tc at p, as a payload value (for its repr). */
static int element(tp_payload *out, char tc, const void *p)
{
	switch (tc) {
	case 'c':
		return tp_payload_add_bytes(out, p, 1);
	case 'b':
		return tp_payload_add_int(out, *(const int8_t *)p);
	case 'B':
		return tp_payload_add_int(out, *(const uint8_t *)p);
	case 'h':
		return tp_payload_add_int(out, *(const int16_t *)p);
	case 'H':
		return tp_payload_add_int(out, *(const uint16_t *)p);
	case 'i':
		return tp_payload_add_int(out, *(const int32_t *)p);
	case 'I':
		return tp_payload_add_int(out, *(const uint32_t *)p);
	case 'l':
	case 'q':
		return tp_payload_add_int(out, *(const int64_t *)p);
	case 'L':
	case 'Q':
		return tp_payload_add_int(out, (int64_t) * (const uint64_t *)p);
	case 'f':
		return tp_payload_add_double(out, *(const float *)p);
	case 'd':
		return tp_payload_add_double(out, *(const double *)p);
	default:
		return TP_EINVAL;
	}
}

/* Reads n elements (under the lock, as one step) into a payload. */
static int snapshot(tp_array *a, tp_payload **out)
{
	char tc = tp_array_typecode(a);
	size_t n = tp_array_len(a), sz = tp_typecode_size(tc);
	unsigned char *raw = malloc(n * sz + 1);
	int rv = raw ? tp_array_read(a, 0, n, raw) : TP_ENOMEM;
	if (rv == TP_OK)
		rv = tp_payload_new(out);
	for (size_t i = 0; rv == TP_OK && i < n; i++)
		rv = element(*out, tc, raw + i * sz);
	free(raw);
	return rv;
}

const char *tp_array_repr(tp_array *a, char *buf, size_t len)
{
	tp_payload *p = NULL;
	struct tp__out o;
	tp__out_init(&o, buf, len);
	if (a != NULL && snapshot(a, &p) == TP_OK)
		tp_repr(p, buf, len);
	tp_payload_free(p);
	return buf;
}

const char *tp_value_repr(tp_value *v, char *buf, size_t len)
{
	tp_payload *p = NULL;
	struct tp__out o;
	char tc = tp_value_typecode(v), c;
	int64_t i;
	double d;
	tp__out_init(&o, buf, len);
	if (v == NULL || tp_payload_new(&p) != TP_OK)
		return buf;
	if (tc == 'f' || tc == 'd') {
		if (tp_value_get_double(v, &d) == TP_OK)
			tp_payload_add_double(p, d);
	} else if (tp_value_get_long(v, &i) == TP_OK) {
		c = (char)i;
		element(p, tc == 'c' ? 'c' : 'q', tc == 'c' ? (void *)&c : &i);
	}
	tp_repr_at(p, 0, buf, len);
	tp_payload_free(p);
	return buf;
}

/* The integer at p of typecode tc, and its store (wrapping as C does). */
static int64_t load_long(char tc, const void *p)
{
	tp_payload *t;
	int64_t x = 0;
	if (tp_payload_new(&t) == TP_OK && element(t, tc, p) == TP_OK)
		tp_payload_get_int(t, 0, &x);
	tp_payload_free(t);
	return x;
}

static void store_long(char tc, void *p, int64_t x)
{
	switch (tp_typecode_size(tc)) {
	case 1:
		*(uint8_t *)p = (uint8_t)x;
		break;
	case 2:
		*(uint16_t *)p = (uint16_t)x;
		break;
	case 4:
		*(uint32_t *)p = (uint32_t)x;
		break;
	default:
		*(uint64_t *)p = (uint64_t)x;
	}
}

/*
 * Holds v's lock (none for a raw Value) around the update of its memory,
 * as Python's `with v.get_lock(): v.value += d`: the memory is used
 * directly, so a Value given a plain (non-recursive) Lock works too.
 */
static int locked_add(tp_value *v, int64_t dl, double dd, int64_t *ol,
                      double *od)
{
	char tc = tp_value_typecode(v);
	int is_float = tc == 'f' || tc == 'd';
	if (v == NULL || tc == 'c' || (od != NULL) != is_float)
		return v == NULL ? TP_EINVAL : TP_ETYPE;
	tp_lock *l = tp_value_get_lock(v);
	int rv = l ? tp_lock_acquire(l, -1) : TP_OK;
	if (rv != TP_OK && rv != TP_EOWNERDEAD)
		return rv;
	void *p = tp_value_ptr(v);
	if (tc == 'd')
		*od = *(double *)p += dd;
	else if (tc == 'f')
		*od = *(float *)p = (float)(*(float *)p + dd);
	else {
		store_long(tc, p, load_long(tc, p) + dl);
		*ol = load_long(tc, p);
	}
	int rrv = l ? tp_lock_release(l) : TP_OK;
	return rrv != TP_OK ? rrv
	                    : rv; /* TP_EOWNERDEAD: done, holder had died */
}

int tp_value_add_long(tp_value *v, int64_t delta, int64_t *out)
{
	int64_t x;
	return locked_add(v, delta, 0, out ? out : &x, NULL);
}

int tp_value_add_double(tp_value *v, double delta, double *out)
{
	double x;
	return locked_add(v, 0, delta, NULL, out ? out : &x);
}

const char *tp_slist_repr(tp_slist *l, char *buf, size_t len)
{
	tp_payload *p = NULL;
	struct tp__out o;
	tp__out_init(&o, buf, len);
	if (l == NULL || tp_payload_new(&p) != TP_OK ||
	    tp_slist_get_all(l, p) != TP_OK) {
		tp_payload_free(p);
		return buf;
	}
	tp__out_str(&o, "ShareableList([");
	for (size_t i = 0; i < tp_payload_count(p); i++) {
		int64_t b = 0;
		if (i > 0)
			tp__out_str(&o, ", ");
		if (tp_slist_is_bool(l, i) &&
		    tp_payload_get_int(p, i, &b) == TP_OK)
			tp__out_str(&o, b ? "True" : "False");
		else
			tp__out_value(&o, p, i, 0);
	}
	tp__out_str(&o, "], name=");
	tp_payload_clear(p);
	tp_payload_add_string(p, tp_slist_name(l));
	tp__out_value(&o, p, 0, 0);
	tp__out_str(&o, ")");
	tp_payload_free(p);
	return buf;
}
