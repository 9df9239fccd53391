/*
 * mgr_dict.c - the manager's dict and namespace: payload values under
 * scalar keys, in insertion order (Python 3.7+), with an open-addressing
 * index so get/set stay O(1). A namespace is a dict whose keys are
 * attribute names, printed as Namespace(a=1, b='x') (sorted, names starting
 * with _ hidden, as Python's).
 */
#include <stdlib.h>
#include <string.h>

#include "mgr_int.h"
#include "troupe/error.h"

struct entry {
	struct tp_value k, v;
	int live;
};

struct dict {
	struct entry *e;
	size_t n, cap, live;
	uint32_t *idx; /* entry index + 1; 0 empty */
	size_t icap;   /* power of two, >= 2 * cap */
	int ns;
};

static int dict_new(void **obj, int ns)
{
	struct dict *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return TP_ENOMEM;
	d->ns = ns;
	*obj = d;
	return TP_OK;
}

static void dict_clear(struct dict *d)
{
	for (size_t i = 0; i < d->n; i++) {
		if (d->e[i].live) {
			tp__val_free(&d->e[i].k);
			tp__val_free(&d->e[i].v);
		}
	}
	d->n = d->live = 0;
	if (d->idx)
		memset(d->idx, 0, d->icap * sizeof(*d->idx));
}

static void dict_free(void *obj)
{
	struct dict *d = obj;
	if (d == NULL)
		return;
	dict_clear(d);
	free(d->e);
	free(d->idx);
	free(d);
}

static long dict_find(const struct dict *d, const struct tp_value *k)
{
	if (d->icap == 0)
		return -1;
	size_t mask = d->icap - 1;
	for (size_t h = tp__val_hash(k) & mask;; h = (h + 1) & mask) {
		uint32_t x = d->idx[h];
		if (x == 0)
			return -1;
		const struct entry *e = &d->e[x - 1];
		if (e->live && tp__val_eq(&e->k, k))
			return (long)(x - 1);
	}
}

static void idx_put(struct dict *d, size_t i)
{
	size_t mask = d->icap - 1;
	size_t h = tp__val_hash(&d->e[i].k) & mask;
	while (d->idx[h] != 0)
		h = (h + 1) & mask;
	d->idx[h] = (uint32_t)(i + 1);
}

/* Drops dead entries and rebuilds the index with room for one more. */
static int dict_grow(struct dict *d)
{
	size_t j = 0;
	for (size_t i = 0; i < d->n; i++)
		if (d->e[i].live)
			d->e[j++] = d->e[i];
	d->n = j;
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 8;
		if (cap > UINT32_MAX / 4)
			return TP_ENOMEM;
		struct entry *e = realloc(d->e, cap * sizeof(*e));
		if (e == NULL)
			return TP_ENOMEM;
		d->e = e;
		d->cap = cap;
	}
	size_t icap = 16;
	while (icap < 2 * d->cap)
		icap *= 2;
	uint32_t *idx = calloc(icap, sizeof(*idx));
	if (idx == NULL)
		return TP_ENOMEM;
	free(d->idx);
	d->idx = idx;
	d->icap = icap;
	for (size_t i = 0; i < d->n; i++)
		idx_put(d, i);
	return TP_OK;
}

static int key_ok(const struct dict *d, const struct tp_value *k)
{
	if (k == NULL)
		return TP_EINVAL;
	if (d->ns)
		return k->type == TP_TSTRING ? TP_OK : TP_ETYPE;
	return tp__val_is_key(k) ? TP_OK : TP_ETYPE;
}

static int dict_set(struct dict *d, const struct tp_value *k,
                    const struct tp_value *v)
{
	int rv = key_ok(d, k);
	if (rv != TP_OK || v == NULL)
		return rv != TP_OK ? rv : TP_EINVAL;
	struct tp_value nv;
	if ((rv = tp__val_copy(&nv, v)) != TP_OK)
		return rv;
	long i = dict_find(d, k);
	if (i >= 0) {
		tp__val_free(&d->e[i].v);
		d->e[i].v = nv;
		return TP_OK;
	}
	if (d->n == d->cap && (rv = dict_grow(d)) != TP_OK)
		goto fail;
	struct entry *e = &d->e[d->n];
	if ((rv = tp__val_copy(&e->k, k)) != TP_OK)
		goto fail;
	e->v = nv;
	e->live = 1;
	idx_put(d, d->n++);
	d->live++;
	return TP_OK;
fail:
	tp__val_free(&nv);
	return rv;
}

static int dict_remove(struct dict *d, const struct tp_value *k,
                       tp_payload *out)
{
	int rv = key_ok(d, k);
	if (rv != TP_OK)
		return rv;
	long i = dict_find(d, k);
	if (i < 0)
		return TP_ENOENT;
	if (out != NULL && (rv = tp__payload_push(out, &d->e[i].v)) != TP_OK)
		return rv;
	tp__val_free(&d->e[i].k);
	tp__val_free(&d->e[i].v);
	d->e[i].live = 0;
	d->live--;
	return TP_OK;
}

static int dict_list(const struct dict *d, tp_payload *out, int keys, int vals)
{
	int rv = TP_OK;
	for (size_t i = 0; i < d->n && rv == TP_OK; i++) {
		if (!d->e[i].live)
			continue;
		if (keys)
			rv = tp__payload_push(out, &d->e[i].k);
		if (vals && rv == TP_OK)
			rv = tp__payload_push(out, &d->e[i].v);
	}
	return rv;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Python's Namespace.__repr__: "name=repr(value)" of every name not
 * starting with '_', sorted as those strings, e.g. Namespace(x=1, y='a'). */
static int ns_repr(const struct dict *d, tp_payload *out)
{
	struct tp__strbuf b = {0};
	char **items = calloc(d->n + 1, sizeof(*items));
	size_t n = 0;
	int oom = items == NULL;
	for (size_t i = 0; i < d->n && !oom; i++) {
		if (!d->e[i].live ||
		    (d->e[i].k.len > 0 && d->e[i].k.data[0] == '_'))
			continue;
		struct tp__strbuf e = {0};
		tp__sb_add(&e, d->e[i].k.data);
		tp__sb_add(&e, "=");
		tp__sb_val(&e, &d->e[i].v);
		oom = e.oom;
		if (oom)
			free(e.s);
		else
			items[n++] = e.s;
	}
	if (!oom)
		qsort(items, n, sizeof(*items), cmp_str);
	tp__sb_add(&b, "Namespace(");
	for (size_t i = 0; i < n; i++) {
		tp__sb_add(&b, i > 0 ? ", " : "");
		tp__sb_add(&b, oom ? "" : items[i]);
		free(items[i]);
	}
	tp__sb_add(&b, ")");
	free(items);
	if (oom) {
		free(b.s);
		return TP_ENOMEM;
	}
	return tp__sb_result(&b, out);
}

static int dict_repr(const struct dict *d, tp_payload *out)
{
	struct tp__strbuf b = {0};
	if (d->ns)
		return ns_repr(d, out);
	tp__sb_add(&b, "{");
	int first = 1;
	for (size_t i = 0; i < d->n; i++) {
		if (!d->e[i].live)
			continue;
		tp__sb_add(&b, first ? "" : ", ");
		first = 0;
		tp__sb_val(&b, &d->e[i].k);
		tp__sb_add(&b, ": ");
		tp__sb_val(&b, &d->e[i].v);
	}
	tp__sb_add(&b, "}");
	return tp__sb_result(&b, out);
}

static int dict_update(struct dict *d, const tp_payload *args)
{
	size_t n = args ? args->count : 0;
	if (n % 2 != 0)
		return TP_EINVAL;
	for (size_t i = 0; i < n; i += 2) {
		int rv = dict_set(d, tp__arg(args, i), tp__arg(args, i + 1));
		if (rv != TP_OK)
			return rv;
	}
	return TP_OK;
}

static int dict_call(void *obj, struct tp__mgr_ctx *c)
{
	struct dict *d = obj;
	const char *m = c->method;
	const struct tp_value *k = tp__arg(c->args, 0);
	if (strcmp(m, "set") == 0)
		return dict_set(d, k, tp__arg(c->args, 1));
	if (strcmp(m, "get") == 0) {
		int rv = key_ok(d, k);
		long i = rv == TP_OK ? dict_find(d, k) : -1;
		if (rv != TP_OK)
			return rv;
		if (i >= 0)
			return tp__payload_push(c->result, &d->e[i].v);
		const struct tp_value *def = tp__arg(c->args, 1);
		return def ? tp__payload_push(c->result, def) : TP_ENOENT;
	}
	if (strcmp(m, "del") == 0)
		return dict_remove(d, k, NULL);
	if (strcmp(m, "pop") == 0)
		return dict_remove(d, k, c->result);
	if (strcmp(m, "contains") == 0) {
		int rv = key_ok(d, k);
		return rv != TP_OK ? rv
		                   : tp_payload_add_int(c->result,
		                                        dict_find(d, k) >= 0);
	}
	if (strcmp(m, "len") == 0)
		return tp_payload_add_int(c->result, (int64_t)d->live);
	if (strcmp(m, "keys") == 0)
		return dict_list(d, c->result, 1, 0);
	if (strcmp(m, "values") == 0)
		return dict_list(d, c->result, 0, 1);
	if (strcmp(m, "items") == 0)
		return dict_list(d, c->result, 1, 1);
	if (strcmp(m, "update") == 0)
		return dict_update(d, c->args);
	if (strcmp(m, "clear") == 0) {
		dict_clear(d);
		return TP_OK;
	}
	if (strcmp(m, "repr") == 0)
		return dict_repr(d, c->result);
	return TP_ENOENT;
}

static int dict_init(void **obj, const tp_payload *args)
{
	int rv = dict_new(obj, 0);
	if (rv == TP_OK && (rv = dict_update(*obj, args)) != TP_OK)
		dict_free(*obj);
	return rv;
}

static int ns_init(void **obj, const tp_payload *args)
{
	int rv = dict_new(obj, 1);
	if (rv == TP_OK && (rv = dict_update(*obj, args)) != TP_OK)
		dict_free(*obj);
	return rv;
}

const struct tp__mgr_type tp__mgr_dict = {"dict",    dict_init, dict_call,
                                          dict_free, NULL,      NULL};
const struct tp__mgr_type tp__mgr_ns = {"namespace", ns_init, dict_call,
                                        dict_free,   NULL,    NULL};
