/*
 * mgr_list.c - the manager's list (Python's list methods over payload
 * values, sort for numbers or strings) and Value (one payload value).
 */
#include <stdlib.h>
#include <string.h>

#include "mgr_int.h"
#include "troupe/error.h"

struct list {
	struct tp_value *v;
	size_t n, cap;
};

static void list_free(void *obj)
{
	struct list *l = obj;
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++)
		tp__val_free(&l->v[i]);
	free(l->v);
	free(l);
}

static int list_insert(struct list *l, size_t at, const struct tp_value *v)
{
	if (v == NULL)
		return TP_EINVAL;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct tp_value *nv = realloc(l->v, cap * sizeof(*nv));
		if (nv == NULL)
			return TP_ENOMEM;
		l->v = nv;
		l->cap = cap;
	}
	struct tp_value c;
	int rv = tp__val_copy(&c, v);
	if (rv != TP_OK)
		return rv;
	memmove(&l->v[at + 1], &l->v[at], (l->n - at) * sizeof(*l->v));
	l->v[at] = c;
	l->n++;
	return TP_OK;
}

static void list_erase(struct list *l, size_t at)
{
	tp__val_free(&l->v[at]);
	memmove(&l->v[at], &l->v[at + 1], (l->n - at - 1) * sizeof(*l->v));
	l->n--;
}

/* Python index normalisation: negative counts from the end. */
static int list_index(const struct list *l, const tp_payload *args, size_t i,
                      size_t *out)
{
	return tp__arg_index(args, i, l->n, out);
}

static int list_find(const struct list *l, const struct tp_value *v,
                     size_t *out)
{
	if (v == NULL)
		return TP_EINVAL;
	for (size_t i = 0; i < l->n; i++) {
		if (tp__val_eq(&l->v[i], v)) {
			*out = i;
			return TP_OK;
		}
	}
	return TP_ENOENT;
}

/* Insertion sort keeps it stable and simple; TP_ETYPE leaves the list in
 * a permutation of its items (as Python may). */
static int list_sort(struct list *l)
{
	for (size_t i = 1; i < l->n; i++) {
		struct tp_value x = l->v[i];
		size_t j = i;
		while (j > 0) {
			int c;
			int rv = tp__val_cmp(&l->v[j - 1], &x, &c);
			if (rv != TP_OK) {
				l->v[j] = x;
				return rv;
			}
			if (c <= 0)
				break;
			l->v[j] = l->v[j - 1];
			j--;
		}
		l->v[j] = x;
	}
	return TP_OK;
}

/* slice [start, stop): Python's clamping of out-of-range bounds. */
static int list_slice(const struct list *l, const tp_payload *args,
                      tp_payload *out)
{
	int64_t s = 0, e = (int64_t)l->n, n = (int64_t)l->n;
	const struct tp_value *a = tp__arg(args, 0), *b = tp__arg(args, 1);
	if ((a && a->type != TP_TINT && a->type != TP_TNONE) ||
	    (b && b->type != TP_TINT && b->type != TP_TNONE))
		return TP_ETYPE;
	if (a && a->type == TP_TINT)
		s = a->i < 0 ? (a->i + n < 0 ? 0 : a->i + n) : a->i;
	if (b && b->type == TP_TINT)
		e = b->i < 0 ? (b->i + n < 0 ? 0 : b->i + n) : b->i;
	s = s > n ? n : s;
	e = e > n ? n : e;
	for (int64_t i = s; i < e; i++) {
		int rv = tp__payload_push(out, &l->v[i]);
		if (rv != TP_OK)
			return rv;
	}
	return TP_OK;
}

static int list_repr(const struct list *l, tp_payload *out)
{
	struct tp__strbuf b = {0};
	tp__sb_add(&b, "[");
	for (size_t i = 0; i < l->n; i++) {
		tp__sb_add(&b, i ? ", " : "");
		tp__sb_val(&b, &l->v[i]);
	}
	tp__sb_add(&b, "]");
	return tp__sb_result(&b, out);
}

static int list_extend(struct list *l, const tp_payload *args, size_t from)
{
	for (size_t i = from; args && i < args->count; i++) {
		int rv = list_insert(l, l->n, tp__arg(args, i));
		if (rv != TP_OK)
			return rv;
	}
	return TP_OK;
}

static int list_call2(struct list *l, struct tp__mgr_ctx *c)
{
	const char *m = c->method;
	size_t i;
	int rv;
	if (strcmp(m, "insert") == 0) {
		int64_t x;
		if ((rv = tp__arg_int(c->args, 0, &x)) != TP_OK)
			return rv;
		int64_t n = (int64_t)l->n;
		x = x < 0 ? (x + n < 0 ? 0 : x + n) : (x > n ? n : x);
		return list_insert(l, (size_t)x, tp__arg(c->args, 1));
	}
	if (strcmp(m, "index") == 0) {
		if ((rv = list_find(l, tp__arg(c->args, 0), &i)) != TP_OK)
			return rv;
		return tp_payload_add_int(c->result, (int64_t)i);
	}
	if (strcmp(m, "remove") == 0) {
		if ((rv = list_find(l, tp__arg(c->args, 0), &i)) == TP_OK)
			list_erase(l, i);
		return rv;
	}
	if (strcmp(m, "pop") == 0) {
		if (c->args == NULL || c->args->count == 0) {
			if (l->n == 0)
				return TP_ENOENT;
			i = l->n - 1;
		} else if ((rv = list_index(l, c->args, 0, &i)) != TP_OK)
			return rv;
		if ((rv = tp__payload_push(c->result, &l->v[i])) == TP_OK)
			list_erase(l, i);
		return rv;
	}
	if (strcmp(m, "count") == 0) {
		const struct tp_value *v = tp__arg(c->args, 0);
		int64_t k = 0;
		for (i = 0; v && i < l->n; i++)
			k += tp__val_eq(&l->v[i], v);
		return v ? tp_payload_add_int(c->result, k) : TP_EINVAL;
	}
	return TP_ENOENT;
}

static int list_call(void *obj, struct tp__mgr_ctx *c)
{
	struct list *l = obj;
	const char *m = c->method;
	size_t i;
	int rv;
	if (strcmp(m, "append") == 0)
		return list_insert(l, l->n, tp__arg(c->args, 0));
	if (strcmp(m, "extend") == 0)
		return list_extend(l, c->args, 0);
	if (strcmp(m, "get") == 0) {
		if ((rv = list_index(l, c->args, 0, &i)) != TP_OK)
			return rv;
		return tp__payload_push(c->result, &l->v[i]);
	}
	if (strcmp(m, "set") == 0) {
		const struct tp_value *v = tp__arg(c->args, 1);
		struct tp_value nv;
		if ((rv = list_index(l, c->args, 0, &i)) != TP_OK)
			return rv;
		if (v == NULL)
			return TP_EINVAL;
		if ((rv = tp__val_copy(&nv, v)) != TP_OK)
			return rv;
		tp__val_free(&l->v[i]);
		l->v[i] = nv;
		return TP_OK;
	}
	if (strcmp(m, "len") == 0)
		return tp_payload_add_int(c->result, (int64_t)l->n);
	if (strcmp(m, "reverse") == 0) {
		for (i = 0; i < l->n / 2; i++) {
			struct tp_value t = l->v[i];
			l->v[i] = l->v[l->n - 1 - i];
			l->v[l->n - 1 - i] = t;
		}
		return TP_OK;
	}
	if (strcmp(m, "sort") == 0)
		return list_sort(l);
	if (strcmp(m, "slice") == 0)
		return list_slice(l, c->args, c->result);
	if (strcmp(m, "repr") == 0)
		return list_repr(l, c->result);
	return list_call2(l, c);
}

static int list_init(void **obj, const tp_payload *args)
{
	struct list *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return TP_ENOMEM;
	int rv = list_extend(l, args, 0);
	if (rv != TP_OK) {
		list_free(l);
		return rv;
	}
	*obj = l;
	return TP_OK;
}

const struct tp__mgr_type tp__mgr_list = {"list",    list_init, list_call,
                                          list_free, NULL,      NULL};

/* Value: one payload value (none until set), and the typecode it was
 * made with (Python's Value(typecode, value); shown by repr only). */
struct mvalue {
	struct tp_value v;
	struct tp_value tc; /* a str, or none */
};

static int value_init(void **obj, const tp_payload *args)
{
	struct mvalue *mv = calloc(1, sizeof(*mv));
	const struct tp_value *a = tp__arg(args, 0);
	const struct tp_value *tc = tp__arg(args, 1);
	if (mv == NULL)
		return TP_ENOMEM;
	if (tc != NULL && tc->type != TP_TSTRING && tc->type != TP_TNONE) {
		free(mv);
		return TP_ETYPE;
	}
	if ((a != NULL && tp__val_copy(&mv->v, a) != TP_OK) ||
	    (tc != NULL && tp__val_copy(&mv->tc, tc) != TP_OK)) {
		tp__val_free(&mv->v);
		free(mv);
		return TP_ENOMEM;
	}
	*obj = mv;
	return TP_OK;
}

static void value_free(void *obj)
{
	struct mvalue *mv = obj;
	if (mv != NULL) {
		tp__val_free(&mv->v);
		tp__val_free(&mv->tc);
	}
	free(mv);
}

static int value_call(void *obj, struct tp__mgr_ctx *c)
{
	struct mvalue *mv = obj;
	struct tp_value *v = &mv->v;
	const struct tp_value *a = tp__arg(c->args, 0);
	struct tp_value nv;
	int rv;
	if (strcmp(c->method, "get") == 0)
		return tp__payload_push(c->result, v);
	if (strcmp(c->method, "set") == 0) {
		if (a == NULL)
			return TP_EINVAL;
		if ((rv = tp__val_copy(&nv, a)) != TP_OK)
			return rv;
		tp__val_free(v);
		*v = nv;
		return TP_OK;
	}
	if (strcmp(c->method, "add") == 0) { /* atomic v += a for numbers */
		if (a == NULL)
			return TP_EINVAL;
		if (v->type == TP_TINT && a->type == TP_TINT)
			v->i += a->i;
		else if (v->type == TP_TDOUBLE && a->type == TP_TDOUBLE)
			v->d += a->d;
		else
			return TP_ETYPE;
		return tp__payload_push(c->result, v);
	}
	if (strcmp(c->method, "repr") == 0) {
		struct tp__strbuf b = {0};
		tp__sb_add(&b, "Value(");
		tp__sb_val(&b, &mv->tc);
		tp__sb_add(&b, ", ");
		tp__sb_val(&b, v);
		tp__sb_add(&b, ")");
		return tp__sb_result(&b, c->result);
	}
	return TP_ENOENT;
}

const struct tp__mgr_type tp__mgr_value = {"value",    value_init, value_call,
                                           value_free, NULL,       NULL};
