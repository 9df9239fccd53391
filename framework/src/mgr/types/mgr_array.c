/*
 * mgr_array.c - the manager's Array (Python's Manager().Array(typecode,
 * sequence)): a fixed-length array of one C type, printed as Python's
 * array module does: array('i', [1, 2, 3]), array('b') when empty. Items are
 * checked against the typecode on the way in (TP_ETYPE for another type,
 * TP_EVALUE for an int that does not fit); 'f' items are rounded to float, as
 * Python stores them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mgr_int.h"
#include "troupe/error.h"

struct array {
	char tc;
	struct tp_value *v; /* TP_TINT or TP_TDOUBLE only */
	size_t n;
};

/* The int range of typecode tc; 0 when tc is a float or unknown code. */
static int int_range(char tc, int64_t *lo, int64_t *hi)
{
	static const struct {
		char tc;
		int64_t lo, hi;
	} r[] = {{'b', INT8_MIN, INT8_MAX},   {'B', 0, UINT8_MAX},
	         {'h', INT16_MIN, INT16_MAX}, {'H', 0, UINT16_MAX},
	         {'i', INT32_MIN, INT32_MAX}, {'I', 0, UINT32_MAX},
	         {'l', INT64_MIN, INT64_MAX}, {'L', 0, INT64_MAX},
	         {'q', INT64_MIN, INT64_MAX}, {'Q', 0, INT64_MAX}};
	for (size_t k = 0; k < sizeof(r) / sizeof(r[0]); k++) {
		if (r[k].tc == tc) {
			*lo = r[k].lo;
			*hi = r[k].hi;
			return 1;
		}
	}
	return 0;
}

/* in as an item of typecode tc, into *out. */
static int item(char tc, const struct tp_value *in, struct tp_value *out)
{
	int64_t lo, hi;
	if (in == NULL)
		return TP_EINVAL;
	memset(out, 0, sizeof(*out));
	if (int_range(tc, &lo, &hi)) {
		if (in->type != TP_TINT)
			return TP_ETYPE;
		if (in->i < lo || in->i > hi)
			return TP_EVALUE;
		*out = (struct tp_value){.type = TP_TINT, .i = in->i};
		return TP_OK;
	}
	if (in->type != TP_TINT && in->type != TP_TDOUBLE)
		return TP_ETYPE;
	double d = in->type == TP_TINT ? (double)in->i : in->d;
	*out = (struct tp_value){.type = TP_TDOUBLE,
	                         .d = tc == 'f' ? (double)(float)d : d};
	return TP_OK;
}

static void array_free(void *obj)
{
	struct array *a = obj;
	if (a != NULL)
		free(a->v);
	free(a);
}

/* args: the typecode (a one-letter str), then the items. */
static int array_init(void **obj, const tp_payload *args)
{
	const struct tp_value *t = tp__arg(args, 0);
	int64_t lo, hi;
	if (t == NULL || t->type != TP_TSTRING || t->len != 1 ||
	    (!int_range(t->data[0], &lo, &hi) && t->data[0] != 'f' &&
	     t->data[0] != 'd'))
		return TP_EINVAL;
	struct array *a = calloc(1, sizeof(*a));
	size_t n = tp_payload_count(args) - 1;
	if (a == NULL || (a->v = calloc(n + 1, sizeof(*a->v))) == NULL) {
		array_free(a);
		return TP_ENOMEM;
	}
	a->tc = t->data[0];
	for (a->n = 0; a->n < n; a->n++) {
		int rv = item(a->tc, tp__arg(args, a->n + 1), &a->v[a->n]);
		if (rv != TP_OK) {
			array_free(a);
			return rv;
		}
	}
	*obj = a;
	return TP_OK;
}

static int array_repr(const struct array *a, tp_payload *out)
{
	struct tp__strbuf b = {0};
	if (a->n == 0) { /* Python: array('b') */
		tp__sb_addf(&b, "array('%c')", a->tc);
		return tp__sb_result(&b, out);
	}
	tp__sb_addf(&b, "array('%c', [", a->tc);
	for (size_t i = 0; i < a->n; i++) {
		tp__sb_add(&b, i > 0 ? ", " : "");
		tp__sb_val(&b, &a->v[i]);
	}
	tp__sb_add(&b, "])");
	return tp__sb_result(&b, out);
}

static int array_call(void *obj, struct tp__mgr_ctx *c)
{
	struct array *a = obj;
	const char *m = c->method;
	size_t i;
	int rv;
	if (strcmp(m, "len") == 0)
		return tp_payload_add_int(c->result, (int64_t)a->n);
	if (strcmp(m, "repr") == 0)
		return array_repr(a, c->result);
	if (strcmp(m, "typecode") == 0) {
		char tc[2] = {a->tc, '\0'};
		return tp_payload_add_string(c->result, tc);
	}
	if (strcmp(m, "get") == 0) {
		if ((rv = tp__arg_index(c->args, 0, a->n, &i)) != TP_OK)
			return rv;
		return tp__payload_push(c->result, &a->v[i]);
	}
	if (strcmp(m, "set") == 0) {
		struct tp_value nv;
		if ((rv = tp__arg_index(c->args, 0, a->n, &i)) != TP_OK)
			return rv;
		if ((rv = item(a->tc, tp__arg(c->args, 1), &nv)) != TP_OK)
			return rv;
		a->v[i] = nv;
		return TP_OK;
	}
	if (strcmp(m, "tolist") == 0) {
		for (i = 0, rv = TP_OK; i < a->n && rv == TP_OK; i++)
			rv = tp__payload_push(c->result, &a->v[i]);
		return rv;
	}
	return TP_ENOENT;
}

const struct tp__mgr_type tp__mgr_array = {"array",    array_init, array_call,
                                           array_free, NULL,       NULL};
