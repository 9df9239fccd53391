/*
 * wire.h - internal: packing and unpacking of the schemas/ messages with
 * size limits, and conversion between tp_payload and Troupe__Payload.
 */
#ifndef TP_WIRE_H
#define TP_WIRE_H

#include <stddef.h>

#include "troupe.pb-c.h"
#include "troupe/payload.h"

/*
 * Packs msg into a new malloc'ed buffer. Errors: TP_ETOOBIG when the packed
 * size exceeds max (0: TP_MAX_MSG_DEFAULT), TP_ENOMEM.
 */
int tp__pack(const ProtobufCMessage *msg, size_t max, void **buf, size_t *len);

/*
 * Packs msg into buf when it fits in cap bytes, else into a new malloc'ed
 * buffer; *out points at whichever was used (free it if != buf).
 */
int tp__pack_into(const ProtobufCMessage *msg, size_t max, void *buf,
                  size_t cap, void **out, size_t *len);

/*
 * Unpacks len bytes as desc. Errors: TP_ETOOBIG (len > max, checked before
 * parsing), TP_EDECODE (malformed). Free *out with
 * protobuf_c_message_free_unpacked().
 */
int tp__unpack(const ProtobufCMessageDescriptor *desc, const void *buf,
               size_t len, size_t max, ProtobufCMessage **out);

/*
 * Fills pb so it describes p without copying (pointers into p). Release the
 * arrays with tp__payload_pb_release; p must outlive pb.
 */
int tp__payload_to_pb(const tp_payload *p, Troupe__Payload *pb);
void tp__payload_pb_release(Troupe__Payload *pb);

/* Fills pv (and user, for a TP_TPROTO value) to describe v without
 * copying; v must outlive them. */
struct tp_value;
void tp__value_to_pb(const struct tp_value *v, Troupe__Value *pv,
                     Troupe__UserMessage *user);

/*
 * p's Troupe__Payload written directly (payload_codec.c): its exact packed
 * size, and the bytes (protobuf-c's) into out, which has that much room.
 */
size_t tp__payload_packed_size(const tp_payload *p);
void tp__payload_pack_to(const tp_payload *p, void *out);

/*
 * Decodes a packed Troupe__Payload into a new tp_payload whose string and
 * bytes values share one blob. No size limit (the caller checks). Errors:
 * TP_EDECODE (malformed), TP_ENOMEM.
 */
int tp__payload_unpack(const void *buf, size_t len, tp_payload **out);

/* Copies an unpacked Troupe__Payload into a new tp_payload. */
int tp__payload_from_pb(const Troupe__Payload *pb, tp_payload **out);

/*
 * Reads value i of p as a troupe.Handle of the given kind (NULL: any kind),
 * the form every shareable object takes inside a payload. Errors:
 * TP_EINVAL, TP_ENOENT (no value i), TP_ETYPE (not a Handle, or a Handle of
 * another kind), TP_EDECODE. Free *out with tp__handle_free.
 */
int tp__payload_get_handle(const tp_payload *p, size_t i, const char *kind,
                           Troupe__Handle **out);
void tp__handle_free(Troupe__Handle *h);

/* Envelope helpers: the one format every troupe message travels in. */
int tp__envelope_pack(const Troupe__Envelope *env, size_t max, void **buf,
                      size_t *len);
int tp__envelope_unpack(const void *buf, size_t len, size_t max,
                        Troupe__Envelope **out);
void tp__envelope_free(Troupe__Envelope *env);

#endif
