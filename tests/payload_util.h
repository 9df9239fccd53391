/* payload_util.h - what the payload codec tests share: protobuf-c's own
 * encoding of a payload, the reference troupe's writer must match. */
#ifndef TP_PAYLOAD_UTIL_H
#define TP_PAYLOAD_UTIL_H

#include <stdlib.h>

#include "payload_int.h"
#include "testutil.h"
#include "wire.h"

/* protobuf-c's bytes for p (*len of them; free them). */
static inline unsigned char *pbc_pack(const tp_payload *p, size_t *len)
{
	Troupe__Payload pb;
	TP_OK_OR_FAIL(tp__payload_to_pb(p, &pb));
	*len = protobuf_c_message_get_packed_size(&pb.base);
	unsigned char *buf = malloc(*len ? *len : 1);
	assert_non_null(buf);
	protobuf_c_message_pack(&pb.base, buf);
	tp__payload_pb_release(&pb);
	return buf;
}

#endif
