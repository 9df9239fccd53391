/*
 * payload_fmt.c - tp_pack / tp_unpack: a payload built or read in one call
 * from a format string (troupe/fmt.h). Built on the public calls of the
 * payload and of every object that travels in one (locks, queues, shared
 * values, proxies), so it sits above all of them. Both check everything
 * first and act second: tp_pack validates the format and its arguments
 * before adding, tp_unpack matches every value before storing any (and
 * detaches what it attached if an object turns out to be of another kind),
 * so an error loses and changes nothing.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "troupe/error.h"
#include "troupe/fmt.h"
#include "troupe/pipe.h"
#include "troupe/queue.h"
#include "troupe/sync.h"

/* Python's name of a payload type, for the messages. */
static const char *type_name(tp_type t)
{
	static const char *const names[] = {
	    [TP_TNONE] = "NoneType", [TP_TINT] = "int",
	    [TP_TDOUBLE] = "float",  [TP_TSTRING] = "str",
	    [TP_TBYTES] = "bytes",   [TP_TPROTO] = "message",
	};
	return (unsigned)t <= TP_TPROTO ? names[t] : "?";
}

/* ---- objects: one row per letter ----------------------------------------
 * Every object travels as a troupe.Handle message; its kind is only known
 * when it is attached, so tp_unpack attaches in order and undoes on error.
 */
#define OBJ(T, name)                                                           \
	static int add_##name(tp_payload *p, const void *o)                    \
	{                                                                      \
		return tp_payload_add_##name(p, (const T *)o);                 \
	}                                                                      \
	static int get_##name(const tp_payload *p, size_t i, void **o)         \
	{                                                                      \
		return tp_payload_get_##name(p, i, (T **)o);                   \
	}                                                                      \
	static void free_##name(void *o)                                       \
	{                                                                      \
		T##_free((T *)o);                                              \
	}
OBJ(tp_lock, lock)
OBJ(tp_sem, sem)
OBJ(tp_event, event)
OBJ(tp_queue, queue)
OBJ(tp_value, value)
OBJ(tp_array, array)

/* A Pipe end moves into the payload (troupe/pipe.h): not const. */
static int add_conn(tp_payload *p, const void *o)
{
	return tp_payload_add_conn(p, (tp_conn *)(uintptr_t)o);
}
static int get_conn(const tp_payload *p, size_t i, void **o)
{
	return tp_payload_get_conn(p, i, (tp_conn **)o);
}
static void free_conn(void *o)
{
	tp_conn_free(o);
}

static int add_proxy(tp_payload *p, const void *o)
{
	return tp_payload_add_proxy(p, o);
}
static int get_proxy(const tp_payload *p, size_t i, void **o)
{
	return tp_payload_get_proxy(p, i, NULL, 0, (tp_proxy **)o);
}
static void free_proxy(void *o)
{
	tp_proxy_free(o);
}

static const struct obj {
	char letter;
	const char *name;
	int (*add)(tp_payload *, const void *);
	int (*get)(const tp_payload *, size_t, void **);
	void (*free)(void *);
} objs[] = {
    {'L', "Lock", add_lock, get_lock, free_lock},
    {'S', "Semaphore", add_sem, get_sem, free_sem},
    {'E', "Event", add_event, get_event, free_event},
    {'Q', "Queue", add_queue, get_queue, free_queue},
    {'V', "Value", add_value, get_value, free_value},
    {'A', "Array", add_array, get_array, free_array},
    {'C', "Connection", add_conn, get_conn, free_conn},
    {'X', "proxy", add_proxy, get_proxy, free_proxy},
};

static const struct obj *obj_of(char c)
{
	for (size_t i = 0; i < sizeof(objs) / sizeof(objs[0]); i++)
		if (objs[i].letter == c)
			return &objs[i];
	return NULL;
}

/* The type a letter wants (for 'z': TP_TSTRING, None also accepted). */
static int letter_type(char c, tp_type *t)
{
	switch (c) {
	case 'n':
		*t = TP_TNONE;
		return 1;
	case 'i':
	case 'l':
		*t = TP_TINT;
		return 1;
	case 'd':
		*t = TP_TDOUBLE;
		return 1;
	case 's':
	case 'z':
		*t = TP_TSTRING;
		return 1;
	case 'b':
		*t = TP_TBYTES;
		return 1;
	default:
		*t = TP_TPROTO;
		return obj_of(c) != NULL;
	}
}

/* Walks fmt past spaces; returns the next letter or 0 at the end. */
static char next_letter(const char **fmt)
{
	while (**fmt == ' ')
		(*fmt)++;
	return **fmt ? *(*fmt)++ : 0;
}

/* ---- tp_pack ----------------------------------------------------------- */

/* Checks the format and consumes the arguments as tp_pack will. */
static int pack_check(const char *fmt, va_list ap)
{
	char c;
	tp_type t;
	while ((c = next_letter(&fmt)) != 0) {
		if (c == 'r') { /* tp_pack's own: range(start, stop) */
			(void)va_arg(ap, int);
			(void)va_arg(ap, int);
			continue;
		}
		if (!letter_type(c, &t))
			return TP_EINVAL;
		if (c == 'i')
			(void)va_arg(ap, int);
		else if (c == 'l')
			(void)va_arg(ap, int64_t);
		else if (c == 'd')
			(void)va_arg(ap, double);
		else if (c == 's' && va_arg(ap, const char *) == NULL)
			return TP_EINVAL;
		else if (c == 'z')
			(void)va_arg(ap, const char *);
		else if (c == 'b') {
			const void *d = va_arg(ap, const void *);
			if (va_arg(ap, size_t) > 0 && d == NULL)
				return TP_EINVAL;
		} else if (obj_of(c) && va_arg(ap, const void *) == NULL)
			return TP_EINVAL;
	}
	return TP_OK;
}

/* Python's *range(start, stop): the ints start .. stop - 1. */
static int pack_range(tp_payload *p, int start, int stop)
{
	int rv = TP_OK;
	for (int64_t i = start; rv == TP_OK && i < stop; i++)
		rv = tp_payload_add_int(p, i);
	return rv;
}

static int pack_one(tp_payload *p, char c, va_list *ap)
{
	const char *s;
	const void *d;
	int start;
	switch (c) {
	case 'r':
		start = va_arg(*ap, int);
		return pack_range(p, start, va_arg(*ap, int));
	case 'n':
		return tp_payload_add_none(p);
	case 'i':
		return tp_payload_add_int(p, va_arg(*ap, int));
	case 'l':
		return tp_payload_add_int(p, va_arg(*ap, int64_t));
	case 'd':
		return tp_payload_add_double(p, va_arg(*ap, double));
	case 's':
	case 'z':
		s = va_arg(*ap, const char *);
		return s ? tp_payload_add_string(p, s) : tp_payload_add_none(p);
	case 'b':
		d = va_arg(*ap, const void *);
		return tp_payload_add_bytes(p, d, va_arg(*ap, size_t));
	default:
		return obj_of(c)->add(p, va_arg(*ap, const void *));
	}
}

int tp_vpack(tp_payload *p, const char *fmt, va_list ap)
{
	va_list args;
	int rv;
	char c;
	if (p == NULL || fmt == NULL)
		return TP_EINVAL;
	va_copy(args, ap);
	rv = pack_check(fmt, args);
	va_end(args);
	va_copy(args, ap);
	while (rv == TP_OK && (c = next_letter(&fmt)) != 0)
		rv = pack_one(p, c, &args);
	va_end(args);
	return rv;
}

int tp_pack(tp_payload *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rv = tp_vpack(p, fmt, ap);
	va_end(ap);
	return rv;
}

int tp_pack_new(tp_payload **out, const char *fmt, ...)
{
	va_list ap;
	int rv;
	if (out == NULL)
		return TP_EINVAL;
	*out = NULL;
	tp_payload *p;
	if ((rv = tp_payload_new(&p)) != TP_OK)
		return rv;
	va_start(ap, fmt);
	rv = tp_vpack(p, fmt, ap);
	va_end(ap);
	if (rv != TP_OK)
		tp_payload_free(p);
	else
		*out = p;
	return rv;
}

/* ---- tp_unpack --------------------------------------------------------- */

static void why(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	if (buf == NULL || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* A short rendering of the offending value, for the message. */
static const char *shown(const tp_payload *p, size_t i, char *buf, size_t len)
{
	tp_type t;
	if (tp_payload_type(p, i, &t) == TP_OK && t == TP_TPROTO) {
		const char *name = "";
		tp_payload_proto_type(p, i, &name);
		snprintf(buf, len, "%s", name);
		return buf;
	}
	return tp_repr_at(p, i, buf, len);
}

/* Checks value i against letter c: TP_OK, TP_ETYPE or TP_EVALUE. */
static int match_one(const tp_payload *p, size_t i, char c, char *buf,
                     size_t len)
{
	tp_type want, got;
	char val[48];
	int64_t v;
	letter_type(c, &want);
	tp_payload_type(p, i, &got);
	const struct obj *o = obj_of(c);
	const char *pname = "";
	if (o != NULL && got == TP_TPROTO)
		tp_payload_proto_type(p, i, &pname);
	if (o != NULL && strcmp(pname, "troupe.Handle") != 0) {
		why(buf, len, "value %zu: format '%c' wants %s, got %s (%s)",
		    i + 1, c, o->name, type_name(got),
		    shown(p, i, val, sizeof(val)));
		return TP_ETYPE;
	}
	if (c == '.' || got == want || (c == 'z' && got == TP_TNONE)) {
		if (c != 'i')
			return TP_OK;
		if (tp_payload_get_int(p, i, &v) == TP_OK && v >= INT_MIN &&
		    v <= INT_MAX)
			return TP_OK;
		why(buf, len, "value %zu: format 'i' wants a C int, got %lld",
		    i + 1, (long long)v);
		return TP_EVALUE;
	}
	why(buf, len, "value %zu: format '%c' wants %s, got %s (%s)", i + 1, c,
	    c == 'z' ? "str or None" : type_name(want), type_name(got),
	    shown(p, i, val, sizeof(val)));
	return TP_ETYPE;
}

int tp_unpack_why(const tp_payload *p, const char *fmt, char *buf, size_t len)
{
	size_t n = 0, count;
	const char *f = fmt;
	tp_type t;
	char c;
	int rv, rest = 0;
	why(buf, len, "%s", "");
	if (p == NULL || fmt == NULL)
		return TP_EINVAL;
	count = tp_payload_count(p);
	while ((c = next_letter(&f)) != 0) {
		if (c == '*' && next_letter(&f) == 0) {
			rest = 1;
			break;
		}
		if (c != '.' && !letter_type(c, &t)) {
			why(buf, len, "format \"%s\": unknown letter '%c'", fmt,
			    c);
			return TP_EINVAL;
		}
		if (n < count && (rv = match_one(p, n, c, buf, len)) != TP_OK)
			return rv;
		n++;
	}
	if (n == count || (rest && n <= count))
		return TP_OK;
	why(buf, len, "format \"%s\" wants %s%zu value%s, got %zu", fmt,
	    rest ? "at least " : "", n, n == 1 ? "" : "s", count);
	return TP_ETYPE;
}

static int store_one(const tp_payload *p, size_t i, char c, va_list *ap)
{
	const struct obj *o = obj_of(c);
	int64_t v;
	tp_type t;
	if (o != NULL) {
		void **out = va_arg(*ap, void **);
		void *got = NULL;
		int rv = o->get(p, i, &got);
		if (rv == TP_OK)
			*out = got;
		return rv;
	}
	switch (c) {
	case 'n':
	case '.':
		return TP_OK;
	case 'i':
		tp_payload_get_int(p, i, &v);
		*va_arg(*ap, int *) = (int)v;
		return TP_OK;
	case 'l':
		return tp_payload_get_int(p, i, va_arg(*ap, int64_t *));
	case 'd':
		return tp_payload_get_double(p, i, va_arg(*ap, double *));
	case 's':
	case 'z': {
		const char **s = va_arg(*ap, const char **);
		tp_payload_type(p, i, &t);
		*s = NULL;
		return t == TP_TSTRING ? tp_payload_get_string(p, i, s) : TP_OK;
	}
	default: {
		const void **d = va_arg(*ap, const void **);
		return tp_payload_get_bytes(p, i, d, va_arg(*ap, size_t *));
	}
	}
}

/* Frees the objects the first n letters of fmt attached (an error later). */
static void undo(const char *fmt, size_t n, va_list ap)
{
	char c;
	for (size_t i = 0; i < n && (c = next_letter(&fmt)) != 0; i++) {
		const struct obj *o = obj_of(c);
		if (o != NULL) {
			void **out = va_arg(ap, void **);
			o->free(*out);
			*out = NULL;
		} else if (c == 'b') {
			(void)va_arg(ap, void *), (void)va_arg(ap, void *);
		} else if (c != 'n' && c != '.')
			(void)va_arg(ap, void *);
	}
}

int tp_vunpack(const tp_payload *p, const char *fmt, va_list ap)
{
	int rv = tp_unpack_why(p, fmt, NULL, 0);
	va_list args;
	const char *f = fmt;
	size_t i = 0;
	char c;
	if (rv != TP_OK)
		return rv;
	va_copy(args, ap);
	while (rv == TP_OK && (c = next_letter(&f)) != 0 && c != '*')
		if ((rv = store_one(p, i, c, &args)) == TP_OK)
			i++;
	va_end(args);
	if (rv != TP_OK) {
		va_copy(args, ap);
		undo(fmt, i, args);
		va_end(args);
	}
	return rv;
}

int tp_unpack(const tp_payload *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rv = tp_vunpack(p, fmt, ap);
	va_end(ap);
	return rv;
}

int tp_range(tp_payload **out, int64_t start, int64_t stop)
{
	int rv = tp_pack_new(out, "");
	for (int64_t i = start; rv == TP_OK && i < stop; i++)
		rv = tp_payload_add_int(*out, i); /* int64_t: not pack_range */
	if (rv != TP_OK && out != NULL) {
		tp_payload_free(*out);
		*out = NULL;
	}
	return rv;
}

int tp_is_str(const tp_payload *p, size_t i, const char *s)
{
	const char *v;
	tp_type t;
	return s != NULL && tp_payload_type(p, i, &t) == TP_OK &&
	       t == TP_TSTRING && tp_payload_get_string(p, i, &v) == TP_OK &&
	       strcmp(v, s) == 0;
}
