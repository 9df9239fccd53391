/*
 * varint.h - internal: protobuf base-128 varints, for the modules that
 * write or read a message's bytes directly (base/payload_codec.c,
 * mgr/mgr_wire.c, log/log_client.c).
 */
#ifndef TP_VARINT_H
#define TP_VARINT_H

#include <stddef.h>
#include <stdint.h>

/* The bytes v takes as a varint (1 to 10). */
static inline size_t tp__varint_size(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* Writes v at o; returns the byte after it. */
static inline unsigned char *tp__varint_put(unsigned char *o, uint64_t v)
{
	while (v >= 0x80) {
		*o++ = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	*o++ = (unsigned char)v;
	return o;
}

/* Reads a varint at *p (before end) and steps over it; 0 if it is cut or
 * longer than 10 bytes. */
static inline int tp__varint_get(const unsigned char **p,
                                 const unsigned char *end, uint64_t *out)
{
	uint64_t v = 0;
	for (int shift = 0; shift < 64 && *p < end; shift += 7) {
		unsigned char b = *(*p)++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = v;
			return 1;
		}
	}
	return 0;
}

#endif
