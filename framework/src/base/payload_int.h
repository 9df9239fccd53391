/* payload_int.h - the layout of a tp_payload, shared with the wire code. */
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
