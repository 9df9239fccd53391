/*
 * mgr_val.c - the manager's value helpers: deep copies of payload values,
 * equality, ordering and hashing for dict keys and list methods, and
 * Python's repr (so a manager dict prints as Python prints it).
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dblrepr.h"
#include "mgr_int.h"
#include "troupe/error.h"

int tp__val_copy(struct tp_value *dst, const struct tp_value *src)
{
	*dst = *src;
	dst->blob = NULL; /* the copy owns its bytes */
	if (!TP__HAS_BYTES(src->type))
		return TP_OK;
	size_t n = tp__value_block_size(src); /* with a message's name */
	if ((dst->data = malloc(n)) == NULL)
		return TP_ENOMEM;
	memcpy(dst->data, src->data, n);
	return TP_OK;
}

void tp__val_free(struct tp_value *v)
{
	tp__value_release(v);
}

int tp__val_eq(const struct tp_value *a, const struct tp_value *b)
{
	if (a->type != b->type)
		return 0;
	switch (a->type) {
	case TP_TNONE:
		return 1;
	case TP_TINT:
		return a->i == b->i;
	case TP_TDOUBLE:
		return a->d == b->d;
	case TP_TPROTO:
		if (strcmp(tp__value_type_name(a), tp__value_type_name(b)) != 0)
			return 0;
		/* fall through */
	default:
		return a->len == b->len &&
		       (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
	}
}

/* Orders numbers among themselves and strings/bytes among themselves;
 * other mixes give TP_ETYPE (Python's TypeError). */
int tp__val_cmp(const struct tp_value *a, const struct tp_value *b, int *out)
{
	int an = a->type == TP_TINT || a->type == TP_TDOUBLE;
	int bn = b->type == TP_TINT || b->type == TP_TDOUBLE;
	if (an && bn) {
		if (a->type == TP_TINT && b->type == TP_TINT)
			*out = (a->i > b->i) - (a->i < b->i);
		else {
			double x = a->type == TP_TINT ? (double)a->i : a->d;
			double y = b->type == TP_TINT ? (double)b->i : b->d;
			*out = (x > y) - (x < y);
		}
		return TP_OK;
	}
	if (a->type != b->type ||
	    (a->type != TP_TSTRING && a->type != TP_TBYTES))
		return TP_ETYPE;
	size_t n = a->len < b->len ? a->len : b->len;
	int c = n ? memcmp(a->data, b->data, n) : 0;
	*out = c ? (c > 0) - (c < 0) : (a->len > b->len) - (a->len < b->len);
	return TP_OK;
}

uint64_t tp__val_hash(const struct tp_value *v)
{
	uint64_t h = 1469598103934665603ull ^ (uint64_t)v->type;
	const unsigned char *p;
	size_t n;
	if (v->type == TP_TINT) {
		p = (const unsigned char *)&v->i;
		n = sizeof(v->i);
	} else if (v->type == TP_TDOUBLE) {
		p = (const unsigned char *)&v->d;
		n = sizeof(v->d);
	} else {
		p = (const unsigned char *)v->data;
		n = v->len;
	}
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

int tp__val_is_key(const struct tp_value *v)
{
	return v->type != TP_TPROTO && !(v->type == TP_TDOUBLE && isnan(v->d));
}

int tp__payload_push(tp_payload *p, const struct tp_value *v)
{
	struct tp_value c;
	int rv = tp__val_copy(&c, v);
	if (rv == TP_OK && (rv = tp__payload_append(p, &c)) != TP_OK)
		tp__val_free(&c);
	return rv;
}

const struct tp_value *tp__arg(const tp_payload *args, size_t i)
{
	/* the core made a request's args generic (dispatch) */
	return args != NULL && i < args->count ? tp__payload_ref(args, i)
	                                       : NULL;
}

int tp__arg_int(const tp_payload *args, size_t i, int64_t *out)
{
	const struct tp_value *v = tp__arg(args, i);
	if (v == NULL)
		return TP_EINVAL;
	if (v->type != TP_TINT)
		return TP_ETYPE;
	*out = v->i;
	return TP_OK;
}

int tp__arg_index(const tp_payload *args, size_t i, size_t n, size_t *out)
{
	int64_t x;
	int rv = tp__arg_int(args, i, &x);
	if (rv != TP_OK)
		return rv;
	if (x < 0)
		x += (int64_t)n;
	if (x < 0 || (uint64_t)x >= n)
		return TP_ENOENT;
	*out = (size_t)x;
	return TP_OK;
}

static void sb_grow(struct tp__strbuf *b, size_t need)
{
	if (b->oom || b->len + need + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < b->len + need + 1)
		cap *= 2;
	char *s = realloc(b->s, cap);
	if (s == NULL) {
		b->oom = 1;
		return;
	}
	b->s = s;
	b->cap = cap;
}

void tp__sb_add(struct tp__strbuf *b, const char *s)
{
	size_t n = strlen(s);
	sb_grow(b, n);
	if (b->oom)
		return;
	memcpy(b->s + b->len, s, n + 1);
	b->len += n;
}

void tp__sb_addf(struct tp__strbuf *b, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	tp__sb_add(b, tmp);
}

/* Python's repr of a str or bytes: quotes chosen as Python does. */
static void sb_quoted(struct tp__strbuf *b, const struct tp_value *v)
{
	int has_sq = memchr(v->data, '\'', v->len) != NULL;
	int has_dq = memchr(v->data, '"', v->len) != NULL;
	char q = has_sq && !has_dq ? '"' : '\'';
	if (v->type == TP_TBYTES)
		tp__sb_add(b, "b");
	tp__sb_addf(b, "%c", q);
	for (size_t i = 0; i < v->len; i++) {
		unsigned char c = (unsigned char)v->data[i];
		if (c == '\\' || c == (unsigned char)q)
			tp__sb_addf(b, "\\%c", c);
		else if (c == '\n')
			tp__sb_add(b, "\\n");
		else if (c == '\t')
			tp__sb_add(b, "\\t");
		else if (c < 0x20 || c == 0x7f ||
		         (c >= 0x80 && v->type == TP_TBYTES))
			tp__sb_addf(b, "\\x%02x", c);
		else
			tp__sb_addf(b, "%c", c);
	}
	tp__sb_addf(b, "%c", q);
}

/* Python's repr of a float: base/'s shortest round-trip digits. */
static void sb_double(struct tp__strbuf *b, double d)
{
	char tmp[TP__DBLREPR_MAX];
	tp__sb_add(b, tp__double_repr(d, tmp));
}

void tp__sb_val(struct tp__strbuf *b, const struct tp_value *v)
{
	switch (v->type) {
	case TP_TNONE:
		tp__sb_add(b, "None");
		break;
	case TP_TINT:
		tp__sb_addf(b, "%" PRId64, v->i);
		break;
	case TP_TDOUBLE:
		sb_double(b, v->d);
		break;
	case TP_TSTRING:
	case TP_TBYTES:
		sb_quoted(b, v);
		break;
	case TP_TPROTO:
		tp__sb_addf(b, "<%.40s, %zu bytes>", tp__value_type_name(v),
		            (size_t)v->len);
		break;
	}
}

int tp__sb_result(struct tp__strbuf *b, tp_payload *result)
{
	int rv = b->oom ? TP_ENOMEM
	                : tp_payload_add_string(result, b->s ? b->s : "");
	free(b->s);
	b->s = NULL;
	return rv;
}
