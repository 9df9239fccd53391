/*
 * print.c - tp_print: Python's print(*args) for C values and troupe
 * objects (troupe/fmt.h). It sits above every module it prints (payloads,
 * shared Values and Arrays, Manager proxies) and uses their public calls.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "troupe/error.h"
#include "troupe/fmt.h"

enum { BIG = 1 << 16 }; /* the longest repr printed whole */

/* print(*p): the str() of each value, separated by spaces. */
static void values(const tp_payload *p, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < tp_payload_count(p) && used + 2 < len; i++) {
		if (i > 0)
			buf[used++] = ' ';
		tp_str_at(p, i, buf + used, len - used);
		used += strlen(buf + used);
	}
}

/* The str() of one argument of letter c into buf. */
static int one(char c, va_list *ap, char *buf, size_t len)
{
	tp_payload *p;
	int rv;
	switch (c) {
	case 'P':
		tp_repr(va_arg(*ap, const tp_payload *), buf, len);
		break;
	case 'p':
		values(va_arg(*ap, const tp_payload *), buf, len);
		break;
	case 'V':
		tp_value_repr(va_arg(*ap, tp_value *), buf, len);
		break;
	case 'A':
		tp_array_repr(va_arg(*ap, tp_array *), buf, len);
		break;
	case 'X':
		tp_proxy_repr(va_arg(*ap, tp_proxy *), buf, len);
		break;
	default:
		if ((rv = tp_payload_new(&p)) != TP_OK)
			return rv;
		char f[2] = {c, 0};
		/* One letter of tp_pack: it takes its arguments from ap. */
		if (c == 'b') {
			const void *d = va_arg(*ap, const void *);
			rv = tp_pack(p, f, d, va_arg(*ap, size_t));
		} else if (c == 'i')
			rv = tp_pack(p, f, va_arg(*ap, int));
		else if (c == 'l')
			rv = tp_pack(p, f, va_arg(*ap, int64_t));
		else if (c == 'd')
			rv = tp_pack(p, f, va_arg(*ap, double));
		else if (c == 's' || c == 'z')
			rv = tp_pack(p, f, va_arg(*ap, const char *));
		else
			rv = tp_pack(p, f);
		if (rv == TP_OK)
			tp_str_at(p, 0, buf, len);
		tp_payload_free(p);
		return rv;
	}
	return TP_OK;
}

/* The letters tp_print takes: tp_pack's plain ones and its own. */
static int known(const char *fmt)
{
	for (; *fmt; fmt++)
		if (strchr(" nildszbPpVAX", *fmt) == NULL)
			return 0;
	return 1;
}

int tp_print(const char *fmt, ...)
{
	va_list ap;
	int rv = TP_OK;
	if (fmt == NULL || !known(fmt))
		return TP_EINVAL;
	char *buf = malloc(BIG);
	if (buf == NULL)
		return TP_ENOMEM;
	va_start(ap, fmt);
	flockfile(stdout);
	for (const char *c = fmt; *c && rv == TP_OK; c++) {
		if (*c == ' ')
			continue;
		if ((rv = one(*c, (va_list *)&ap, buf, BIG)) == TP_OK)
			fputs(buf, stdout), fputs(c[1] ? " " : "\n", stdout);
	}
	if (rv == TP_OK && *fmt == '\0')
		fputs("\n", stdout);
	fflush(stdout);
	funlockfile(stdout);
	va_end(ap);
	free(buf);
	return rv;
}

int tp_printf(const char *fmt, ...)
{
	va_list ap;
	if (fmt == NULL)
		return TP_EINVAL;
	va_start(ap, fmt);
	flockfile(stdout);
	int n = vprintf(fmt, ap);
	int rv = n < 0 || fflush(stdout) != 0 ? tp_err_errno(errno) : TP_OK;
	funlockfile(stdout);
	va_end(ap);
	return rv;
}
