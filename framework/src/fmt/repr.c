/*
 * repr.c - Python's repr of payload values (troupe/fmt.h), written into the
 * caller's buffer: no allocation, no state. Floats are Python's shortest
 * round-trip repr, strings and bytes are quoted and escaped as Python does.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dblrepr.h"
#include "repr_int.h"
#include "troupe/fmt.h"

void tp__out_init(struct tp__out *o, char *buf, size_t len)
{
	o->buf = buf;
	o->len = len;
	o->pos = 0;
	o->full = buf == NULL || len < 4;
	if (buf != NULL && len > 0)
		buf[0] = '\0';
}

/* Appends s; when it does not fit, the text ends in "..." instead. */
void tp__out_add(struct tp__out *o, const char *s, size_t n)
{
	if (o->full)
		return;
	if (o->pos + n + 1 > o->len) {
		size_t fit = o->len - 1 - o->pos;
		memcpy(o->buf + o->pos, s, fit);
		memcpy(o->buf + o->len - 4, "...", 4);
		o->full = 1;
		return;
	}
	memcpy(o->buf + o->pos, s, n);
	o->pos += n;
	o->buf[o->pos] = '\0';
}

void tp__out_str(struct tp__out *o, const char *s)
{
	tp__out_add(o, s, strlen(s));
}

void tp__out_fmt(struct tp__out *o, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	tp__out_add(o, tmp, n < (int)sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* The digits are base/'s (shared with the manager's reprs); this only
 * bounds them to the caller's buffer. */
const char *tp_repr_double(double v, char *buf, size_t len)
{
	struct tp__out o;
	char tmp[TP__DBLREPR_MAX];
	tp__out_init(&o, buf, len);
	tp__out_str(&o, tp__double_repr(v, tmp));
	return buf;
}

/* Python's repr of a str or bytes: the quote Python picks, its escapes. */
static void quoted(struct tp__out *o, const char *s, size_t n, int bytes)
{
	int sq = memchr(s, '\'', n) != NULL, dq = memchr(s, '"', n) != NULL;
	char q = sq && !dq ? '"' : '\'';
	tp__out_fmt(o, "%s%c", bytes ? "b" : "", q);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\\' || c == (unsigned char)q)
			tp__out_fmt(o, "\\%c", c);
		else if (c == '\n' || c == '\r' || c == '\t')
			tp__out_str(o, c == '\n'   ? "\\n"
			               : c == '\r' ? "\\r"
			                           : "\\t");
		else if (c < 0x20 || c == 0x7f || (c >= 0x80 && bytes))
			tp__out_fmt(o, "\\x%02x", c);
		else
			tp__out_add(o, (const char *)&s[i], 1);
	}
	tp__out_fmt(o, "%c", q);
}

void tp__out_value(struct tp__out *o, const tp_payload *p, size_t i, int str)
{
	tp_type t = TP_TNONE;
	int64_t v;
	double d;
	const char *s;
	const void *b;
	size_t n;
	char tmp[40];
	tp_payload_type(p, i, &t);
	switch (t) {
	case TP_TNONE:
		tp__out_str(o, "None");
		return;
	case TP_TINT:
		tp_payload_get_int(p, i, &v);
		tp__out_fmt(o, "%" PRId64, v);
		return;
	case TP_TDOUBLE:
		tp_payload_get_double(p, i, &d);
		tp__out_str(o, tp_repr_double(d, tmp, sizeof(tmp)));
		return;
	case TP_TSTRING:
		tp_payload_get_string(p, i, &s);
		if (str)
			tp__out_str(o, s);
		else
			quoted(o, s, strlen(s), 0);
		return;
	case TP_TBYTES:
		tp_payload_get_bytes(p, i, &b, &n);
		quoted(o, b, n, 1);
		return;
	case TP_TPROTO:
		tp_payload_proto_type(p, i, &s);
		tp__out_fmt(o, "<%.50s>", s);
		return;
	}
}

const char *tp_repr(const tp_payload *p, char *buf, size_t len)
{
	struct tp__out o;
	tp__out_init(&o, buf, len);
	tp__out_str(&o, "[");
	for (size_t i = 0; i < tp_payload_count(p); i++) {
		if (i > 0)
			tp__out_str(&o, ", ");
		tp__out_value(&o, p, i, 0);
	}
	tp__out_str(&o, "]");
	return buf;
}

static const char *one(const tp_payload *p, size_t i, char *buf, size_t len,
                       int str)
{
	struct tp__out o;
	tp__out_init(&o, buf, len);
	if (i < tp_payload_count(p))
		tp__out_value(&o, p, i, str);
	return buf;
}

const char *tp_repr_at(const tp_payload *p, size_t i, char *buf, size_t len)
{
	return one(p, i, buf, len, 0);
}

const char *tp_str_at(const tp_payload *p, size_t i, char *buf, size_t len)
{
	return one(p, i, buf, len, 1);
}
