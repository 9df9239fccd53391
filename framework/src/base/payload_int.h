/*
 * payload_int.h - internal: the layout of a tp_payload (an array of
 * struct tp_value, one per value the user added; not the shared Value of
 * troupe/shared.h, whose struct is tp_shared_value). Shared by payload.c,
 * wire.c (conversion to and from Troupe__Payload) and the modules that
 * read or build payload values directly: queue.c, pipe_io.c, the pool and
 * the manager (mgr_int.h).
 */
#ifndef TP_PAYLOAD_INT_H
#define TP_PAYLOAD_INT_H

#include "troupe/payload.h"

struct tp_value {
	tp_type type;
	int64_t i;
	double d;
	char *data;      /* string, bytes or packed message; NUL-terminated */
	size_t len;      /* bytes in data, without the terminator */
	char *type_name; /* TP_TPROTO: descriptor full name */
};

struct tp_payload {
	struct tp_value *values;
	size_t count;
	size_t cap;
};

#endif
