/*
 * queue.c - Queue, JoinableQueue and SimpleQueue: the public API over the
 * shared-memory ring of queue_ring.c.
 *
 * Why shared memory and not nng: an item accepted by put must survive the
 * producer being killed right after put returns. Over a socket the item
 * could still sit in the producer's send buffer, so each put would need an
 * acknowledged round trip (~26k items/s here). In shared memory the item
 * is in the queue once put returns, and a put or get is a memcpy under a
 * mutex. Items are encoded with the payload wire format, so a queue item
 * is the same bytes as a pipe message or a process argument.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "payload_int.h"
#include "queue_int.h"
#include "troupe/error.h"
#include "wire.h"

#define Q_SMALL   512
#define Q_MIN_CAP 4096

/* A body copied out of the ring: small ones stay on the caller's stack. */
struct q_item {
	unsigned char small[Q_SMALL];
	unsigned char *data;
	size_t len;
};

static void item_release(struct q_item *it)
{
	if (it->data != it->small)
		free(it->data);
	it->data = NULL;
}

static int q_map(tp_queue **out, const char *name, void *addr, size_t size)
{
	tp_queue *q = calloc(1, sizeof(*q));
	if (q == NULL)
		return TP_ENOMEM;
	q->s = addr;
	q->ring = (unsigned char *)addr + q->s->ring_off;
	q->map_size = size;
	snprintf(q->name, sizeof(q->name), "%s", name);
	*out = q;
	return TP_OK;
}

int tp_queue_new(tp_queue **out, const tp_queue_opts *opts)
{
	tp_queue_opts o = {0};
	char name[TP_SHM_NAME_MAX];
	void *addr;
	int rv;
	if (out == NULL)
		return TP_EINVAL;
	if (opts != NULL)
		o = *opts;
	if (o.kind < TP_QUEUE || o.kind > TP_QUEUE_SIMPLE)
		return TP_EINVAL;
	if (o.capacity == 0)
		o.capacity = TP_QUEUE_CAPACITY_DEFAULT;
	if (o.capacity < Q_MIN_CAP || o.capacity > ((size_t)1 << 40))
		return TP_EINVAL;
	o.capacity = (o.capacity + 7) & ~(size_t)7;
	size_t off = (sizeof(struct q_shared) + 63) & ~(size_t)63;
	if ((rv = tp__shm_create(off + o.capacity, name, &addr)) != TP_OK)
		return rv;
	rv = tp__q_init(addr, o.kind, o.maxsize, o.capacity, off);
	if (rv == TP_OK)
		rv = q_map(out, name, addr, off + o.capacity);
	if (rv != TP_OK) {
		tp__shm_detach(addr, off + o.capacity);
		tp__shm_unlink(name);
	}
	return rv;
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
	tp__shm_detach(q->s, q->map_size);
	free(q);
}

tp_queue_kind tp_queue_kind_of(const tp_queue *q)
{
	return q == NULL ? TP_QUEUE : (tp_queue_kind)q->s->kind;
}

/* Waits for room for a rec-byte record; lock held. */
static int put_wait(tp_queue *q, uint64_t rec, int timeout_ms)
{
	struct q_shared *s = q->s;
	int64_t dl = -2;
	int rv;
	for (;;) {
		if (s->closed)
			return TP_ECLOSED;
		if ((s->maxsize == 0 || s->count < s->maxsize) &&
		    s->cap - (s->tail - s->head) >= rec)
			return TP_OK;
		if (timeout_ms == 0)
			return TP_EFULL;
		if (dl == -2)
			dl = tp__q_deadline(timeout_ms);
		if ((rv = tp__q_wait(q, &s->not_full, dl)) != TP_OK)
			return rv;
	}
}

static int put_raw(tp_queue *q, const void *buf, size_t len, int timeout_ms)
{
	struct q_shared *s = q->s;
	uint64_t rec = tp__q_rec(len);
	uint32_t hdr[2] = {(uint32_t)len, ~(uint32_t)len ^ TP_Q_CHECK};
	int rv;
	if (rec > s->cap || len > UINT32_MAX)
		return TP_ETOOBIG;
	if ((rv = tp__q_lock(q)) != TP_OK)
		return rv;
	if ((rv = put_wait(q, rec, timeout_ms)) == TP_OK) {
		/* Copy first: the record becomes visible only when tail
		 * moves, so a producer killed here leaves no trace. */
		tp__q_ring_write(q, s->tail, hdr, sizeof(hdr));
		tp__q_ring_write(q, s->tail + TP_Q_HDR, buf, len);
		tp__q_jr_begin(s);
		s->tail += rec;
		s->count++;
		if (s->kind == TP_QUEUE_JOINABLE)
			s->unfinished++;
		tp__q_jr_end(s);
		s->puts++;
		pthread_cond_signal(&s->not_empty);
	}
	tp__q_unlock(q);
	return rv;
}

int tp_queue_put(tp_queue *q, const tp_payload *item, int timeout_ms)
{
	unsigned char small[Q_SMALL];
	Troupe__Payload pb;
	void *buf;
	size_t len;
	int rv;
	if (q == NULL || item == NULL)
		return TP_EINVAL;
	if ((rv = tp__payload_to_pb(item, &pb)) != TP_OK)
		return rv;
	rv = tp__pack_into(&pb.base, q->s->cap, small, sizeof(small), &buf,
	                   &len);
	tp__payload_pb_release(&pb);
	if (rv != TP_OK)
		return rv;
	rv = put_raw(q, buf, len, timeout_ms);
	if (buf != small)
		free(buf);
	return rv;
}

int tp_queue_put_nowait(tp_queue *q, const tp_payload *item)
{
	return tp_queue_put(q, item, 0);
}

/* Puts a payload holding the one value v (a stack payload: no malloc). */
static int put_one(tp_queue *q, struct tp_value *v, int timeout_ms)
{
	tp_payload p = {.values = v, .count = 1, .cap = 1};
	return tp_queue_put(q, &p, timeout_ms);
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
	struct tp_value val = {
	    .type = TP_TSTRING, .data = (char *)s, .len = strlen(s)};
	return put_one(q, &val, timeout_ms);
}

int tp_queue_put_bytes(tp_queue *q, const void *data, size_t len,
                       int timeout_ms)
{
	if (data == NULL && len > 0)
		return TP_EINVAL;
	struct tp_value val = {
	    .type = TP_TBYTES, .data = (char *)data, .len = len};
	return put_one(q, &val, timeout_ms);
}

/* Every queued item is unreadable (a scribbled record header): drop them
 * all, count them, and leave an empty, working queue. Lock held. */
static int drop_all(struct q_shared *s)
{
	uint64_t n = s->count;
	tp__q_jr_begin(s);
	s->head = s->tail;
	s->count = 0;
	if (s->kind == TP_QUEUE_JOINABLE)
		s->unfinished = s->unfinished > n ? s->unfinished - n : 0;
	tp__q_jr_end(s);
	s->rejected += n ? n : 1;
	pthread_cond_broadcast(&s->not_full);
	pthread_cond_broadcast(&s->all_done);
	return TP_EDECODE;
}

/* Removes the head record of rec bytes; rejected: it was malformed (a
 * JoinableQueue then counts it as done, since nobody can process it). */
static void advance(struct q_shared *s, uint64_t rec, int rejected)
{
	tp__q_jr_begin(s);
	s->head += rec;
	s->count--;
	if (rejected && s->kind == TP_QUEUE_JOINABLE && s->unfinished > 0)
		s->unfinished--;
	tp__q_jr_end(s);
	if (rejected)
		s->rejected++;
	else
		s->gets++;
	pthread_cond_signal(&s->not_full);
	if (rejected && s->unfinished == 0)
		pthread_cond_broadcast(&s->all_done);
}

static int get_wait(tp_queue *q, int timeout_ms)
{
	struct q_shared *s = q->s;
	int64_t dl = -2;
	int rv;
	while (s->count == 0) {
		if (s->closed)
			return TP_ECLOSED;
		if (timeout_ms == 0)
			return TP_EEMPTY;
		if (dl == -2)
			dl = tp__q_deadline(timeout_ms);
		if ((rv = tp__q_wait(q, &s->not_empty, dl)) != TP_OK)
			return rv;
	}
	return TP_OK;
}

/* Decides under the lock whether the head item may be taken: TP_OK takes
 * it, TP_ETYPE leaves it, TP_EDECODE drops it as malformed. */
typedef int (*q_check_fn)(const void *buf, size_t len, void *arg);

/* Copies the head item into it, and removes it unless check refuses. */
static int take(tp_queue *q, int timeout_ms, q_check_fn check, void *arg,
                struct q_item *it)
{
	struct q_shared *s = q->s;
	uint32_t hdr[2];
	int rv;
	it->data = NULL;
	if ((rv = tp__q_lock(q)) != TP_OK)
		return rv;
	if ((rv = get_wait(q, timeout_ms)) != TP_OK)
		goto out;
	tp__q_ring_read(q, s->head, hdr, sizeof(hdr));
	uint64_t rec = tp__q_rec(hdr[0]);
	if (hdr[1] != (~hdr[0] ^ TP_Q_CHECK) || rec > s->tail - s->head) {
		rv = drop_all(s);
		goto out;
	}
	it->len = hdr[0];
	it->data = it->len <= Q_SMALL ? it->small : malloc(it->len);
	if (it->data == NULL) {
		rv = TP_ENOMEM;
		goto out;
	}
	tp__q_ring_read(q, s->head + TP_Q_HDR, it->data, it->len);
	rv = check == NULL ? TP_OK : check(it->data, it->len, arg);
	if (rv == TP_OK || rv == TP_EDECODE)
		advance(s, rec, rv == TP_EDECODE);
	else /* left in place: let another getter look at it */
		pthread_cond_signal(&s->not_empty);
out:
	tp__q_unlock(q);
	if (rv != TP_OK)
		item_release(it);
	return rv;
}

/* The item was taken but does not decode: count it as rejected. */
static void reject_taken(tp_queue *q)
{
	struct q_shared *s = q->s;
	if (tp__q_lock(q) != TP_OK)
		return;
	s->gets--;
	s->rejected++;
	if (s->kind == TP_QUEUE_JOINABLE && s->unfinished > 0) {
		tp__q_jr_begin(s);
		s->unfinished--;
		tp__q_jr_end(s);
		if (s->unfinished == 0)
			pthread_cond_broadcast(&s->all_done);
	}
	tp__q_unlock(q);
}

int tp_queue_get(tp_queue *q, tp_payload **out, int timeout_ms)
{
	struct q_item it;
	int rv;
	if (q == NULL || out == NULL)
		return TP_EINVAL;
	if ((rv = take(q, timeout_ms, NULL, NULL, &it)) != TP_OK)
		return rv;
	rv = tp_payload_decode(it.data, it.len, 0, out);
	item_release(&it);
	if (rv == TP_EDECODE || rv == TP_ETOOBIG) {
		reject_taken(q);
		rv = TP_EDECODE;
	}
	return rv;
}

int tp_queue_get_nowait(tp_queue *q, tp_payload **out)
{
	return tp_queue_get(q, out, 0);
}

/* Typed gets: decode under the lock and accept only one value of type. */
struct typed {
	tp_type type;
	tp_payload *p;
};

static int check_typed(const void *buf, size_t len, void *arg)
{
	struct typed *t = arg;
	int rv = tp_payload_decode(buf, len, 0, &t->p);
	if (rv != TP_OK)
		return rv == TP_ENOMEM ? rv : TP_EDECODE;
	if (t->p->count != 1 || t->p->values[0].type != t->type) {
		tp_payload_free(t->p);
		t->p = NULL;
		return TP_ETYPE;
	}
	return TP_OK;
}

static int get_typed(tp_queue *q, tp_type type, int timeout_ms,
                     struct tp_value *v)
{
	struct typed t = {.type = type};
	struct q_item it;
	int rv;
	if (q == NULL)
		return TP_EINVAL;
	if ((rv = take(q, timeout_ms, check_typed, &t, &it)) != TP_OK)
		return rv;
	item_release(&it);
	*v = t.p->values[0];
	t.p->count = 0; /* v now owns data */
	tp_payload_free(t.p);
	return TP_OK;
}

int tp_queue_get_int(tp_queue *q, int64_t *out, int timeout_ms)
{
	struct tp_value v;
	int rv;
	if (out == NULL)
		return TP_EINVAL;
	if ((rv = get_typed(q, TP_TINT, timeout_ms, &v)) == TP_OK)
		*out = v.i;
	return rv;
}

int tp_queue_get_double(tp_queue *q, double *out, int timeout_ms)
{
	struct tp_value v;
	int rv;
	if (out == NULL)
		return TP_EINVAL;
	if ((rv = get_typed(q, TP_TDOUBLE, timeout_ms, &v)) == TP_OK)
		*out = v.d;
	return rv;
}

int tp_queue_get_string(tp_queue *q, char **out, int timeout_ms)
{
	struct tp_value v;
	int rv;
	if (out == NULL)
		return TP_EINVAL;
	if ((rv = get_typed(q, TP_TSTRING, timeout_ms, &v)) == TP_OK)
		*out = v.data;
	return rv;
}

int tp_queue_get_bytes(tp_queue *q, void **data, size_t *len, int timeout_ms)
{
	struct tp_value v;
	int rv;
	if (data == NULL || len == NULL)
		return TP_EINVAL;
	if ((rv = get_typed(q, TP_TBYTES, timeout_ms, &v)) == TP_OK) {
		*data = v.data;
		*len = v.len;
	}
	return rv;
}
