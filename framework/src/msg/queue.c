/*
 * queue.c - Queue, JoinableQueue and SimpleQueue: creation and put, over
 * the shared-memory ring of queue_ring.c (get is in queue_get.c).
 *
 * Why shared memory and not nng: an item accepted by put must survive the
 * producer being killed right after put returns. Over a socket the item
 * could still sit in the producer's send buffer, so each put would need an
 * acknowledged round trip (~26k items/s here). In shared memory the item
 * is in the queue once put returns, and a put is a memcpy under the
 * producers' lock. Items are encoded with the payload wire format, so a
 * queue item is the same bytes as a pipe message or a process argument.
 *
 * Large items: an item whose encoding exceeds a quarter of the ring is
 * packed into its own run-scoped segment (allocated up front, so a full
 * /dev/shm is an error, not a SIGBUS) and the ring carries a reference.
 * The consumer that takes the reference unlinks the segment. A producer
 * killed before publishing, or a consumer killed between taking and
 * unlinking, leaves the segment to the run owner's tp_fini.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "payload_int.h"
#include "queue_int.h"
#include "troupe/error.h"
#include "wire.h"

#define Q_SMALL   512
#define Q_MIN_CAP 4096

static int check_opts(tp_queue_opts *o)
{
	if (o->kind < TP_QUEUE || o->kind > TP_QUEUE_SIMPLE)
		return TP_EINVAL;
	if (o->capacity == 0)
		o->capacity = TP_QUEUE_CAPACITY_DEFAULT;
	if (o->capacity < Q_MIN_CAP || o->capacity > ((size_t)1 << 40))
		return TP_EINVAL;
	o->capacity = (o->capacity + 7) & ~(size_t)7;
	if (o->max_item == 0)
		o->max_item = TP_QUEUE_ITEM_MAX_DEFAULT;
	if (o->max_item > TP_QUEUE_ITEM_MAX)
		return TP_EINVAL;
	return TP_OK;
}

int tp_queue_new(tp_queue **out, const tp_queue_opts *opts)
{
	tp_queue_opts o = {0};
	char name[TP_SHM_NAME_MAX];
	tp_queue *q;
	void *addr;
	int rv;
	if (out == NULL)
		return TP_EINVAL;
	if (opts != NULL)
		o = *opts;
	if ((rv = check_opts(&o)) != TP_OK)
		return rv;
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return TP_ENOMEM;
	size_t off = (sizeof(struct q_shared) + 63) & ~(size_t)63;
	if ((rv = tp__shm_create(off + o.capacity, name, &addr)) != TP_OK) {
		free(q);
		return rv;
	}
	if ((rv = tp__q_init(addr, &o, off)) != TP_OK) {
		tp__shm_detach(addr, off + o.capacity);
		tp__shm_unlink(name);
		free(q);
		return rv;
	}
	tp__q_handle(q, addr, off + o.capacity, name);
	*out = q;
	return TP_OK;
}

int tp_joinable_queue_new(tp_queue **out, size_t maxsize)
{
	tp_queue_opts o = {.kind = TP_QUEUE_JOINABLE, .maxsize = maxsize};
	return tp_queue_new(out, &o);
}

int tp_simple_queue_new(tp_queue **out)
{
	tp_queue_opts o = {.kind = TP_QUEUE_SIMPLE};
	return tp_queue_new(out, &o);
}

void tp_queue_free(tp_queue *q)
{
	if (q == NULL)
		return;
	if (q->slot >= 0 && q->slot_pid == tp__pid()) {
		/* this consumer is done: what it took was delivered */
		struct q_slot *sl = &q->s->slots[q->slot];
		__atomic_store_n(&sl->held, 0, __ATOMIC_RELEASE);
		__atomic_store_n(&sl->pid, 0, __ATOMIC_RELEASE);
	}
	tp__shm_detach(q->s, q->map_size);
	free(q);
}

tp_queue_kind tp_queue_kind_of(const tp_queue *q)
{
	return q == NULL ? TP_QUEUE : (tp_queue_kind)q->s->kind;
}

/* Room for a rec-byte record (and an item under maxsize)? Refreshes the
 * cached consumer counters only when the cached ones say no. Producer
 * lock held. */
static int has_room(tp_queue *q, uint64_t tail, uint64_t nput, uint64_t rec)
{
	struct q_shared *s = q->s;
	if (s->maxsize != 0 && nput - q->c_nget >= s->maxsize) {
		q->c_nget = __atomic_load_n(&s->c.nget, __ATOMIC_ACQUIRE);
		if (nput - q->c_nget >= s->maxsize)
			return 0;
	}
	/* (with a stale cache, tail - c_head may exceed cap) */
	if (tail - q->c_head > s->cap - rec) {
		q->c_head = __atomic_load_n(&s->c.head, __ATOMIC_ACQUIRE);
		if (tail - q->c_head > s->cap - rec)
			return 0;
	}
	return 1;
}

/* A record's body in two pieces (a prefix, then data). */
struct piece {
	const void *p1, *p2;
	size_t n1, n2;
};

/* One attempt under the producer lock: TP_OK (published), TP_EFULL,
 * TP_ECLOSED, or the lock's error. */
static int put_try(tp_queue *q, const uint32_t hdr[2], const struct piece *b,
                   const struct timespec *dl)
{
	struct q_shared *s = q->s;
	uint64_t rec = tp__q_rec(hdr[0]);
	int rv = tp__q_lock(q, &s->prod, dl);
	if (rv != TP_OK)
		return rv;
	uint64_t tail = s->p.tail, nput = s->p.nput;
	if (__atomic_load_n(&s->closed, __ATOMIC_ACQUIRE)) {
		rv = TP_ECLOSED;
	} else if (!has_room(q, tail, nput, rec)) {
		rv = TP_EFULL;
	} else {
		/* the bytes first: the record exists once tail moves */
		tp__q_ring_write(q, tail, hdr, TP_Q_HDR);
		tp__q_ring_write(q, tail + TP_Q_HDR, b->p1, b->n1);
		if (b->n2 > 0)
			tp__q_ring_write(q, tail + TP_Q_HDR + b->n1, b->p2,
			                 b->n2);
		tp__q_publish_put(s, tail + rec, nput + 1);
	}
	tp__q_unlock(&s->prod);
	return rv;
}

/* Is there room now, without the lock (a waiter's re-check)? */
static int room_now(tp_queue *q, uint64_t rec)
{
	struct q_shared *s = q->s;
	uint64_t tail = __atomic_load_n(&s->p.tail, __ATOMIC_ACQUIRE);
	uint64_t nput = __atomic_load_n(&s->p.nput, __ATOMIC_ACQUIRE);
	uint64_t head = __atomic_load_n(&s->c.head, __ATOMIC_ACQUIRE);
	uint64_t nget = __atomic_load_n(&s->c.nget, __ATOMIC_ACQUIRE);
	if (s->maxsize != 0 && nput - nget >= s->maxsize)
		return 0;
	return tail - head <= s->cap - rec;
}

/* Appends one record of body b (hdr[0] bytes in all) after header hdr. */
static int put_record(tp_queue *q, const uint32_t hdr[2], const struct piece *b,
                      int timeout_ms)
{
	struct q_shared *s = q->s;
	struct timespec dlbuf, *dl = NULL;
	uint64_t rec = tp__q_rec(hdr[0]);
	int last = 0, rv;
	if (timeout_ms >= 0) {
		tp__deadline_ts(&dlbuf, timeout_ms);
		dl = &dlbuf;
	}
	for (;;) {
		rv = put_try(q, hdr, b, dl);
		if (rv == TP_OK)
			tp__wpoint_signal(&s->not_empty);
		if (rv != TP_EFULL || timeout_ms == 0)
			return rv;
		if (last)
			return TP_ETIMEDOUT;
		if (tp__q_spin(q, room_now, rec)) {
			last = dl != NULL && tp__ts_expired(dl);
			continue;
		}
		uint32_t seq = tp__wpoint_prepare(&s->not_full);
		if (!room_now(q, rec) &&
		    !__atomic_load_n(&s->closed, __ATOMIC_ACQUIRE))
			tp__wpoint_sleep(&s->not_full, seq, dl);
		last = dl != NULL && tp__ts_expired(dl);
	}
}

/* Packs pb into its own reserved segment and puts a reference to it. */
static int put_oob(tp_queue *q, const ProtobufCMessage *pb, size_t len,
                   int timeout_ms)
{
	struct q_oob ref = {.len = len};
	void *addr;
	int rv = tp__shm_create_reserved(len, ref.name, &addr);
	if (rv != TP_OK)
		return rv;
	protobuf_c_message_pack(pb, addr);
	tp__shm_detach(addr, len);
	uint32_t hdr[2] = {(uint32_t)sizeof(ref),
	                   ~(uint32_t)sizeof(ref) ^ TP_Q_CHECK_OOB};
	struct piece b = {.p1 = &ref, .n1 = sizeof(ref)};
	if ((rv = put_record(q, hdr, &b, timeout_ms)) == TP_OK)
		__atomic_add_fetch(&q->s->oob, 1, __ATOMIC_RELAXED);
	else
		tp__shm_unlink(ref.name);
	return rv;
}

/* Encodes pb and puts it, in the ring or out of band. */
static int put_pb(tp_queue *q, const ProtobufCMessage *pb, int timeout_ms)
{
	unsigned char small[Q_SMALL];
	size_t len = protobuf_c_message_get_packed_size(pb);
	void *buf = small;
	int rv;
	if (len > q->s->max_item)
		return TP_ETOOBIG;
	if (tp__q_rec(len) > q->s->cap / 4 || len > UINT32_MAX)
		return put_oob(q, pb, len, timeout_ms);
	if (len > sizeof(small) && (buf = malloc(len)) == NULL)
		return TP_ENOMEM;
	protobuf_c_message_pack(pb, buf);
	uint32_t hdr[2] = {(uint32_t)len, ~(uint32_t)len ^ TP_Q_CHECK};
	struct piece b = {.p1 = buf, .n1 = len};
	rv = put_record(q, hdr, &b, timeout_ms);
	if (buf != small)
		free(buf);
	return rv;
}

int tp_queue_put(tp_queue *q, const tp_payload *item, int timeout_ms)
{
	Troupe__Payload pb;
	int rv;
	if (q == NULL || item == NULL)
		return TP_EINVAL;
	if ((rv = tp__payload_to_pb(item, &pb)) != TP_OK)
		return rv;
	rv = put_pb(q, &pb.base, timeout_ms);
	tp__payload_pb_release(&pb);
	return rv;
}

int tp_queue_put_nowait(tp_queue *q, const tp_payload *item)
{
	return tp_queue_put(q, item, 0);
}

/* Puts a payload holding the one value v: encoded directly (queue_codec.c)
 * into the ring, or described on the stack for protobuf-c when it is a
 * user message or travels out of band. */
static int put_one(tp_queue *q, const struct tp_value *v, int timeout_ms)
{
	unsigned char pre[TP_Q_PREFIX_MAX];
	struct piece b;
	if (q == NULL)
		return TP_EINVAL;
	b.p1 = pre;
	b.n1 = tp__q_enc_prefix(v, pre, &b.p2, &b.n2);
	size_t len = b.n1 + b.n2;
	if (b.n1 > 0 && tp__q_rec(len) <= q->s->cap / 4) {
		uint32_t hdr[2] = {(uint32_t)len, ~(uint32_t)len ^ TP_Q_CHECK};
		return put_record(q, hdr, &b, timeout_ms);
	}
	Troupe__Payload pb;
	Troupe__Value pv, *pvs = &pv;
	Troupe__UserMessage user;
	troupe__payload__init(&pb);
	tp__value_to_pb(v, &pv, &user);
	pb.n_values = 1;
	pb.values = &pvs;
	return put_pb(q, &pb.base, timeout_ms);
}

int tp_queue_put_int(tp_queue *q, int64_t v, int timeout_ms)
{
	struct tp_value val = {.type = TP_TINT, .i = v};
	return put_one(q, &val, timeout_ms);
}

int tp_queue_put_double(tp_queue *q, double v, int timeout_ms)
{
	struct tp_value val = {.type = TP_TDOUBLE, .d = v};
	return put_one(q, &val, timeout_ms);
}

int tp_queue_put_string(tp_queue *q, const char *s, int timeout_ms)
{
	if (s == NULL)
		return TP_EINVAL;
	size_t len = strlen(s);
	if (len > UINT32_MAX) /* a payload value holds at most 4 GiB - 1 */
		return TP_ETOOBIG;
	struct tp_value val = {
	    .type = TP_TSTRING, .data = (char *)s, .len = (uint32_t)len};
	return put_one(q, &val, timeout_ms);
}

int tp_queue_put_bytes(tp_queue *q, const void *data, size_t len,
                       int timeout_ms)
{
	if (data == NULL && len > 0)
		return TP_EINVAL;
	if (len > UINT32_MAX) /* a payload value holds at most 4 GiB - 1 */
		return TP_ETOOBIG;
	struct tp_value val = {
	    .type = TP_TBYTES, .data = (char *)data, .len = (uint32_t)len};
	return put_one(q, &val, timeout_ms);
}
