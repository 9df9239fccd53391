/*
 * troupe/payload.h - the values that travel between processes.
 *
 * A tp_payload is an ordered list of typed values: process arguments, a
 * result, a queue item, a pipe message. It is the C counterpart of what
 * Python pickles. A value is one of: none, a 64-bit integer, a double, a
 * NUL-terminated string, a byte string, or a user's own protobuf-c message,
 * which travels as its packed bytes tagged with its descriptor's full name
 * (the descriptor is its type).
 *
 * Ownership: a payload owns copies of everything added to it. Pointers
 * returned by the getters are borrowed and stay valid until the payload is
 * cleared or freed. A payload is not thread-safe; use one per thread.
 */
#ifndef TROUPE_PAYLOAD_H
#define TROUPE_PAYLOAD_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tp_payload tp_payload;

typedef enum tp_type {
	TP_TNONE = 0,
	TP_TINT,
	TP_TDOUBLE,
	TP_TSTRING,
	TP_TBYTES,
	TP_TPROTO,
} tp_type;

/* The default largest encoded message accepted anywhere: 64 MiB. */
#define TP_MAX_MSG_DEFAULT ((size_t)64 << 20)

/*
 * tp_payload_new allocates an empty payload into *out.
 * Errors: TP_EINVAL (out is NULL), TP_ENOMEM.
 */
int tp_payload_new(tp_payload **out);

/* tp_payload_free frees a payload and everything it owns. NULL is allowed. */
void tp_payload_free(tp_payload *p);

/* tp_payload_clear removes every value, keeping the allocation for reuse. */
void tp_payload_clear(tp_payload *p);

/*
 * tp_payload_add_* append one value, copying it.
 * Errors: TP_EINVAL (p NULL, s NULL, data NULL with len > 0, msg NULL),
 * TP_ENOMEM. On error the payload is unchanged.
 */
int tp_payload_add_none(tp_payload *p);
int tp_payload_add_int(tp_payload *p, int64_t v);
int tp_payload_add_double(tp_payload *p, double v);
int tp_payload_add_string(tp_payload *p, const char *s);
int tp_payload_add_bytes(tp_payload *p, const void *data, size_t len);
int tp_payload_add_proto(tp_payload *p, const ProtobufCMessage *msg);

/* tp_payload_count returns the number of values (0 for NULL). */
size_t tp_payload_count(const tp_payload *p);

/*
 * tp_payload_type stores the type of value i in *out.
 * Errors: TP_EINVAL (NULL argument), TP_ENOENT (i out of range).
 */
int tp_payload_type(const tp_payload *p, size_t i, tp_type *out);

/*
 * tp_payload_get_* read value i. A value of another type gives TP_ETYPE and
 * leaves both the payload and *out untouched, so nothing is lost.
 * Errors: TP_EINVAL (NULL argument), TP_ENOENT (i out of range), TP_ETYPE.
 *
 * get_string and get_bytes return borrowed pointers (see above); the bytes
 * of a string value are NUL-terminated. get_proto unpacks the message with
 * desc, which must have the same full name as the sender's descriptor (else
 * TP_ETYPE); the caller frees *out with protobuf_c_message_free_unpacked().
 * An undecodable message gives TP_EDECODE.
 */
int tp_payload_get_int(const tp_payload *p, size_t i, int64_t *out);
int tp_payload_get_double(const tp_payload *p, size_t i, double *out);
int tp_payload_get_string(const tp_payload *p, size_t i, const char **out);
int tp_payload_get_bytes(const tp_payload *p, size_t i, const void **data,
                         size_t *len);
int tp_payload_get_proto(const tp_payload *p, size_t i,
                         const ProtobufCMessageDescriptor *desc,
                         ProtobufCMessage **out);
/* tp_payload_proto_type returns the type name of a TP_TPROTO value. */
int tp_payload_proto_type(const tp_payload *p, size_t i, const char **out);

/*
 * tp_payload_encode packs p into a new buffer of at most max bytes (0 means
 * TP_MAX_MSG_DEFAULT). On success *buf (free it with free()) and *len are
 * set. Errors: TP_EINVAL, TP_ETOOBIG (the encoding exceeds max), TP_ENOMEM.
 */
int tp_payload_encode(const tp_payload *p, size_t max, void **buf, size_t *len);

/*
 * tp_payload_decode unpacks len bytes into a new payload in *out (free it
 * with tp_payload_free). Input larger than max (0: TP_MAX_MSG_DEFAULT) is
 * rejected with TP_ETOOBIG before it is parsed; malformed input gives
 * TP_EDECODE. Never crashes on any input.
 */
int tp_payload_decode(const void *buf, size_t len, size_t max,
                      tp_payload **out);

/* tp_payload_copy makes a deep copy of src into *out. */
int tp_payload_copy(const tp_payload *src, tp_payload **out);

#ifdef __cplusplus
}
#endif
#endif
