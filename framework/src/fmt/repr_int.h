/*
 * repr_int.h - a bounded text writer for the repr calls (repr.c): appends
 * into the caller's buffer and ends the text in "..." when it is full.
 */
#ifndef TP_REPR_INT_H
#define TP_REPR_INT_H

#include <stddef.h>

#include "troupe/payload.h"

struct tp__out {
	char *buf;
	size_t len;
	size_t pos;
	int full;
};

void tp__out_init(struct tp__out *o, char *buf, size_t len);
void tp__out_add(struct tp__out *o, const char *s, size_t n);
void tp__out_str(struct tp__out *o, const char *s);
void tp__out_fmt(struct tp__out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* repr(value i) of p (str(value i) when str is set). */
void tp__out_value(struct tp__out *o, const tp_payload *p, size_t i, int str);

#endif
