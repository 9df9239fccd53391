/*
 * queue_get.c - get: taking the head item of a tp_queue.
 *
 * The head item is decoded (and, for a typed get, checked) under the
 * consumers' lock, straight from the ring (or its out-of-band segment),
 * before head moves: so a get that returns an error leaves the item where
 * it was, a consumer killed before head moves took nothing, and one killed
 * after is reported through its lease (queue_int.h). Decoding uses a small
 * arena on the stack, so a typed get of a number makes no allocation.
 */
#include <stdlib.h>
#include <string.h>

#include "payload_int.h"
#include "queue_int.h"
#include "troupe/error.h"
#include "wire.h"

#define Q_ARENA 2048

/* A bump allocator on the caller's stack for protobuf-c, with malloc for
 * what does not fit. */
struct arena {
	size_t used;
	_Alignas(16) unsigned char buf[Q_ARENA];
};

static void *arena_alloc(void *data, size_t n)
{
	struct arena *a = data;
	n = (n + 15) & ~(size_t)15;
	if (n <= sizeof(a->buf) - a->used) {
		void *p = a->buf + a->used;
		a->used += n;
		return p;
	}
	return malloc(n);
}

static void arena_free(void *data, void *p)
{
	struct arena *a = data;
	unsigned char *c = p;
	if (c < a->buf || c >= a->buf + sizeof(a->buf))
		free(p);
}

/* Decides whether the head item (len encoded bytes at buf) may be taken:
 * TP_OK takes it, TP_ETYPE or TP_ENOMEM leave it, TP_EDECODE drops it. */
typedef int (*q_check_fn)(const void *buf, size_t len, void *arg);
typedef int (*q_pb_fn)(const Troupe__Payload *pb, void *arg);

/* Unpacks the item with protobuf-c (on a stack arena) for check. */
static int decode(const void *buf, size_t len, q_pb_fn check, void *arg)
{
	struct arena a;
	ProtobufCAllocator al = {arena_alloc, arena_free, &a};
	a.used = 0;
	Troupe__Payload *pb = troupe__payload__unpack(&al, len, buf);
	if (pb == NULL)
		return TP_EDECODE; /* (or out of memory: indistinguishable) */
	int rv = check(pb, arg);
	troupe__payload__free_unpacked(pb, &al);
	return rv;
}

/* The head record, mapped or copied so that its body is contiguous. */
struct body {
	const unsigned char *data;
	size_t len;
	void *copy;     /* malloc'ed copy of a body that wraps */
	void *oob;      /* mapping of an out-of-band segment */
	size_t oob_map; /* its size */
	char name[TP_SHM_NAME_MAX];
};

static void body_release(struct body *b)
{
	free(b->copy);
	if (b->oob != NULL)
		tp__shm_detach(b->oob, b->oob_map);
}

/* Maps the segment an out-of-band record refers to. */
static int body_oob(tp_queue *q, uint64_t at, struct body *b)
{
	struct q_oob ref;
	tp__q_ring_read(q, at, &ref, sizeof(ref));
	ref.name[sizeof(ref.name) - 1] = '\0';
	if (ref.len > q->s->max_item)
		return TP_EDECODE;
	int rv = tp__shm_attach(ref.name, &b->oob, &b->oob_map);
	if (rv == TP_ENOENT || rv == TP_EINVAL)
		return TP_EDECODE; /* a reference to nothing */
	if (rv != TP_OK)
		return rv;
	if (b->oob_map < ref.len)
		return TP_EDECODE;
	memcpy(b->name, ref.name, sizeof(b->name));
	b->data = b->oob;
	b->len = ref.len;
	return TP_OK;
}

/* Reads the record at head (rec bytes available up to the tail): its
 * size in *rec and its body in b. TP_EPROTO: the header is scribbled and
 * nothing after it can be framed. */
static int body_get(tp_queue *q, uint64_t head, uint64_t avail, uint64_t *rec,
                    struct body *b)
{
	struct q_shared *s = q->s;
	uint32_t hdr[2];
	memset(b, 0, sizeof(*b));
	tp__q_ring_read(q, head, hdr, sizeof(hdr));
	*rec = tp__q_rec(hdr[0]);
	int oob = hdr[1] == (~hdr[0] ^ TP_Q_CHECK_OOB);
	if ((!oob && hdr[1] != (~hdr[0] ^ TP_Q_CHECK)) || *rec > avail ||
	    (oob && hdr[0] != sizeof(struct q_oob)))
		return TP_EPROTO;
	uint64_t at = head + TP_Q_HDR;
	if (oob)
		return body_oob(q, at, b);
	b->len = hdr[0];
	if (at % s->cap + b->len <= s->cap) {
		b->data = q->ring + at % s->cap;
		return TP_OK;
	}
	if ((b->copy = malloc(b->len)) == NULL)
		return TP_ENOMEM;
	tp__q_ring_read(q, at, b->copy, b->len);
	b->data = b->copy;
	return TP_OK;
}

/* Every queued item is unframeable (a scribbled record header): drop
 * them all, counted, and leave an empty working queue. The producers'
 * lock freezes the tail while head jumps to it. Consumer lock held. */
static int drop_all(tp_queue *q)
{
	struct q_shared *s = q->s;
	if (tp__q_lock(q, &s->prod, NULL) != TP_OK)
		return TP_EDECODE;
	uint64_t tail = s->p.tail, nput = s->p.nput;
	uint64_t n = nput - s->c.nget;
	tp__q_publish_get(s, tail, nput, -1);
	tp__q_unlock(&s->prod);
	q->c_tail = tail;
	__atomic_add_fetch(&s->rejected, n, __ATOMIC_RELAXED);
	if (s->kind == TP_QUEUE_JOINABLE)
		__atomic_add_fetch(&s->ndone, n, __ATOMIC_RELEASE);
	return TP_EDECODE;
}

/* Takes (or leaves, or drops) the item at head; consumer lock held. */
static int take_head(tp_queue *q, uint64_t head, int slot, q_check_fn check,
                     void *arg)
{
	struct q_shared *s = q->s;
	struct body b;
	uint64_t rec;
	int rv = body_get(q, head, q->c_tail - head, &rec, &b);
	if (rv == TP_EPROTO)
		return drop_all(q);
	if (rv == TP_OK)
		rv = check(b.data, b.len, arg);
	if (rv == TP_OK || rv == TP_EDECODE) {
		uint64_t nget = s->c.nget + 1;
		tp__q_publish_get(s, head + rec, nget, rv == TP_OK ? slot : -1);
		if (b.oob != NULL)
			tp__shm_unlink(b.name);
	}
	if (rv == TP_EDECODE) {
		__atomic_add_fetch(&s->rejected, 1, __ATOMIC_RELAXED);
		/* nobody can process it: a JoinableQueue counts it done */
		if (s->kind == TP_QUEUE_JOINABLE)
			__atomic_add_fetch(&s->ndone, 1, __ATOMIC_RELEASE);
	}
	body_release(&b);
	return rv;
}

/* One attempt under the consumer lock: the take's result, or TP_EEMPTY. */
static int get_try(tp_queue *q, q_check_fn check, void *arg,
                   const struct timespec *dl)
{
	struct q_shared *s = q->s;
	int rv = tp__q_lock(q, &s->cons, dl);
	if (rv != TP_OK)
		return rv;
	int slot = tp__q_slot(q);
	uint64_t head = s->c.head;
	/* other consumers may have moved head past this handle's cache */
	if ((int64_t)(q->c_tail - head) <= 0)
		q->c_tail = __atomic_load_n(&s->p.tail, __ATOMIC_ACQUIRE);
	rv = head == q->c_tail ? TP_EEMPTY
	                       : take_head(q, head, slot, check, arg);
	tp__q_unlock(&s->cons);
	if (rv == TP_OK || rv == TP_EDECODE) {
		tp__wpoint_signal(&s->not_full);
		if (rv == TP_EDECODE)
			tp__wpoint_signal(&s->all_done);
	}
	return rv;
}

static int empty_now(struct q_shared *s)
{
	return __atomic_load_n(&s->c.head, __ATOMIC_ACQUIRE) ==
	       __atomic_load_n(&s->p.tail, __ATOMIC_ACQUIRE);
}

static int has_items(tp_queue *q, uint64_t unused)
{
	(void)unused;
	return !empty_now(q->s);
}

static int take(tp_queue *q, int timeout_ms, q_check_fn check, void *arg)
{
	struct q_shared *s = q->s;
	struct timespec dlbuf, *dl = NULL;
	int last = 0;
	if (timeout_ms >= 0) {
		tp__deadline_ts(&dlbuf, timeout_ms);
		dl = &dlbuf;
	}
	for (;;) {
		/* closed first: a put that beat close is visible after it
		 * (close takes the producers' lock) */
		int closed = __atomic_load_n(&s->closed, __ATOMIC_ACQUIRE);
		int rv = get_try(q, check, arg, dl);
		if (rv != TP_EEMPTY)
			return rv;
		if (tp__q_settle(q))
			continue; /* a dead producer's last put, completed */
		if (closed)
			return TP_ECLOSED;
		if (timeout_ms == 0)
			return TP_EEMPTY;
		if (last)
			return TP_ETIMEDOUT;
		if (tp__q_spin(q, has_items, 0)) {
			last = dl != NULL && tp__ts_expired(dl);
			continue;
		}
		uint32_t seq = tp__wpoint_prepare(&s->not_empty);
		if (empty_now(s) &&
		    !__atomic_load_n(&s->closed, __ATOMIC_ACQUIRE))
			tp__wpoint_sleep(&s->not_empty, seq, dl);
		last = dl != NULL && tp__ts_expired(dl);
	}
}

static int any_pb(const Troupe__Payload *pb, void *arg)
{
	int rv = tp__payload_from_pb(pb, arg);
	return rv == TP_ENOMEM ? rv : (rv == TP_OK ? TP_OK : TP_EDECODE);
}

static int check_any(const void *buf, size_t len, void *arg)
{
	return decode(buf, len, any_pb, arg);
}

int tp_queue_get(tp_queue *q, tp_payload **out, int timeout_ms)
{
	if (q == NULL || out == NULL)
		return TP_EINVAL;
	return take(q, timeout_ms, check_any, out);
}

int tp_queue_get_nowait(tp_queue *q, tp_payload **out)
{
	return tp_queue_get(q, out, 0);
}

/* Typed gets: the item must be one value of the asked type. */
struct typed {
	tp_type type;
	Troupe__Value__KindCase kind;
	struct tp_value v;
};

/* A malloc'ed, NUL-terminated copy of n bytes. */
static char *dup_bytes(const void *src, size_t n)
{
	char *d = malloc(n + 1);
	if (d != NULL) {
		if (n > 0)
			memcpy(d, src, n);
		d[n] = '\0';
	}
	return d;
}

static int typed_pb(const Troupe__Payload *pb, void *arg)
{
	struct typed *t = arg;
	if (pb->n_values != 1 || pb->values[0]->kind_case != t->kind) {
		/* a payload tp_queue_get would refuse is dropped, as there */
		tp_payload *p;
		int rv = tp__payload_from_pb(pb, &p);
		if (rv != TP_OK)
			return rv == TP_ENOMEM ? rv : TP_EDECODE;
		tp_payload_free(p);
		return TP_ETYPE;
	}
	const Troupe__Value *v = pb->values[0];
	switch (t->kind) {
	case TROUPE__VALUE__KIND_I:
		t->v.i = v->i;
		return TP_OK;
	case TROUPE__VALUE__KIND_D:
		t->v.d = v->d;
		return TP_OK;
	case TROUPE__VALUE__KIND_S:
		t->v.len = strlen(v->s);
		t->v.data = dup_bytes(v->s, t->v.len);
		break;
	default:
		t->v.len = v->b.len;
		t->v.data = dup_bytes(v->b.data, v->b.len);
		break;
	}
	return t->v.data == NULL ? TP_ENOMEM : TP_OK;
}

/* The direct reader first (queue_codec.c), protobuf-c for the rest. */
static int check_typed(const void *buf, size_t len, void *arg)
{
	struct typed *t = arg;
	if (!tp__q_dec_one(buf, len, t->type, &t->v))
		return decode(buf, len, typed_pb, arg);
	if (t->type == TP_TSTRING || t->type == TP_TBYTES) {
		if ((t->v.data = dup_bytes(t->v.data, t->v.len)) == NULL)
			return TP_ENOMEM;
	}
	return TP_OK;
}

static int get_typed(tp_queue *q, tp_type type, Troupe__Value__KindCase kind,
                     int timeout_ms, struct tp_value *v)
{
	struct typed t = {.type = type, .kind = kind};
	if (q == NULL)
		return TP_EINVAL;
	int rv = take(q, timeout_ms, check_typed, &t);
	if (rv == TP_OK)
		*v = t.v;
	return rv;
}

int tp_queue_get_int(tp_queue *q, int64_t *out, int timeout_ms)
{
	struct tp_value v;
	int rv;
	if (out == NULL)
		return TP_EINVAL;
	if ((rv = get_typed(q, TP_TINT, TROUPE__VALUE__KIND_I, timeout_ms,
	                    &v)) == TP_OK)
		*out = v.i;
	return rv;
}

int tp_queue_get_double(tp_queue *q, double *out, int timeout_ms)
{
	struct tp_value v;
	int rv;
	if (out == NULL)
		return TP_EINVAL;
	if ((rv = get_typed(q, TP_TDOUBLE, TROUPE__VALUE__KIND_D, timeout_ms,
	                    &v)) == TP_OK)
		*out = v.d;
	return rv;
}

int tp_queue_get_string(tp_queue *q, char **out, int timeout_ms)
{
	struct tp_value v;
	int rv;
	if (out == NULL)
		return TP_EINVAL;
	if ((rv = get_typed(q, TP_TSTRING, TROUPE__VALUE__KIND_S, timeout_ms,
	                    &v)) == TP_OK)
		*out = v.data;
	return rv;
}

int tp_queue_get_bytes(tp_queue *q, void **data, size_t *len, int timeout_ms)
{
	struct tp_value v;
	int rv;
	if (data == NULL || len == NULL)
		return TP_EINVAL;
	if ((rv = get_typed(q, TP_TBYTES, TROUPE__VALUE__KIND_B, timeout_ms,
	                    &v)) == TP_OK) {
		*data = v.data;
		*len = v.len;
	}
	return rv;
}
