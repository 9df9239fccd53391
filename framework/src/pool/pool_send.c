/*
 * pool_send.c - sending: an envelope as one nng message, and one batch of
 * tasks to a worker.
 *
 * A batch holds as many queued tasks as the worker's pipeline has room for
 * (at most BATCH_TASKS, and about BATCH_ITEMS items), so a worker running
 * tiny tasks gets hundreds per message and the parent pays one message per
 * batch. Arguments are encoded as the batch is sent, straight from the
 * caller's payloads into the message (one copy of each value, no
 * allocation per value), and the encoding of one batch overlaps the
 * workers' work on the previous ones.
 */
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>

#include "clock.h"
#include "payload_int.h"
#include "pool_int.h"
#include "troupe/error.h"
#include "varint.h"
#include "wire.h"

/* Packs an Envelope straight into the body of one nng message and sends
 * it (flags: nng's): no copy besides protobuf-c's packing. */
int tp__pool_send(nng_socket s, const void *env_msg, int flags)
{
	const ProtobufCMessage *m = env_msg;
	return tp__pool_send_sized(s, m, protobuf_c_message_get_packed_size(m),
	                           flags);
}

int tp__pool_send_sized(nng_socket s, const void *env_msg, size_t len,
                        int flags)
{
	const ProtobufCMessage *m = env_msg;
	nng_msg *msg;
	int rv;
	if ((rv = nng_msg_alloc(&msg, len)) != 0)
		return tp_err_nng(rv);
	protobuf_c_message_pack(m, nng_msg_body(msg));
	if ((rv = nng_sendmsg(s, msg, flags)) != 0) {
		nng_msg_free(msg);
		return tp_err_nng(rv);
	}
	return TP_OK;
}

#define BATCH_TASKS 256
#define BATCH_ITEMS 65536
#define BATCH_BYTES ((size_t)480 << 10) /* a batch stops past 480 KiB... */

/*
 * The batch is written straight into the nng message, protobuf's bytes of
 * Envelope{pool_tasks} (the format protobuf-c reads: schemas/troupe.proto),
 * each value copied once from the caller's payload into its column there.
 * A first pass over a task's values sizes its columns, a second writes
 * them; nothing is allocated per value or per task.
 */
struct vsize {
	size_t count, ni, nd, nl, data, calls;
	int mixed;          /* kinds differ: a kinds column */
	unsigned char kind; /* the kind of every value when !mixed */
	size_t len;         /* the Values message's bytes */
	size_t task;        /* the PoolTask message's bytes */
};

#define FIELD_VARINT(n) ((uint64_t)(n) << 3)
#define FIELD_LEN(n)    ((uint64_t)(n) << 3 | 2)

static inline unsigned char kind_of(const struct tp_value *v)
{
	return (unsigned char)(v->type + TROUPE__VALUE__KIND_NONE);
}

static inline void size_value(struct vsize *z, const struct tp_value *v)
{
	unsigned char k = kind_of(v);
	if (z->count++ == 0)
		z->kind = k;
	else if (k != z->kind)
		z->mixed = 1;
	switch (v->type) {
	case TP_TINT:
		z->ni++;
		break;
	case TP_TDOUBLE:
		z->nd++;
		break;
	case TP_TSTRING:
	case TP_TBYTES:
	case TP_TPROTO:
		z->nl++;
		z->data += tp__value_block_size(v);
		break;
	default:
		break;
	}
}

/* The values of call i of t's job: n of them from value *at of the
 * payload returned (one value for a map). */
static const tp_payload *call_values(const struct tp_pool_result *j, size_t i,
                                     size_t *at, size_t *n)
{
	const tp_payload *p;
	if (j->kind == POOL_MAP) {
		*at = i;
		*n = 1;
		return j->items;
	}
	p = j->kind == POOL_STARMAP ? j->argv[i] : j->items;
	*at = 0;
	*n = tp_payload_count(p);
	return p;
}

/* A map over packed numbers: its items are one column as they are (8
 * bytes each, ints or doubles: *kind). NULL for any other job. */
static const char *packed_map(const struct tp_pool_result *j, unsigned *kind)
{
	*kind = TP__PK_GEN;
	return j->kind == POOL_MAP ? tp__payload_numbers(j->items, kind) : NULL;
}

static size_t bytes_field(uint32_t num, size_t len)
{
	return len ? tp__varint_size(FIELD_LEN(num)) + tp__varint_size(len) +
	                 len
	           : 0;
}

static size_t varint_field(uint32_t num, uint64_t v)
{
	return v ? tp__varint_size(FIELD_VARINT(num)) + tp__varint_size(v) : 0;
}

static void size_task(const struct pool_task *t, struct vsize *z)
{
	const struct tp_pool_result *j = t->job;
	unsigned pk;
	memset(z, 0, sizeof(*z));
	if (packed_map(j, &pk) != NULL && t->count > 0) {
		int ints = pk == TP__PK_INTS;
		z->count = t->count;
		z->kind = ints ? TROUPE__VALUE__KIND_I : TROUPE__VALUE__KIND_D;
		*(ints ? &z->ni : &z->nd) = t->count;
	} else if (j->kind != POOL_MAPINT) {
		for (size_t i = t->first; i < t->first + t->count; i++) {
			size_t at, n;
			const tp_payload *p = call_values(j, i, &at, &n);
			for (size_t k = 0; k < n; k++) {
				struct tp_value v = tp__payload_at(p, at + k);
				size_value(z, &v);
			}
			if (j->kind != POOL_MAP)
				z->calls++;
		}
	}
	if (j->kind != POOL_MAPINT) {
		z->len = varint_field(1, z->count) +
		         (z->mixed ? bytes_field(3, z->count)
		                   : varint_field(2, z->kind)) +
		         bytes_field(4, 8 * z->ni) + bytes_field(5, 8 * z->nd) +
		         bytes_field(6, 4 * z->nl) + bytes_field(7, z->data) +
		         bytes_field(8, 4 * z->calls);
	}
	z->task = varint_field(1, t->id) + bytes_field(2, strlen(j->func)) +
	          varint_field(10, t->first);
	if (j->kind == POOL_APPLY)
		z->task += varint_field(6, 1);
	if (j->kind == POOL_MAPINT && j->seg[0] != '\0')
		z->task += varint_field(5, 1) + bytes_field(7, strlen(j->seg)) +
		           varint_field(8, t->first) +
		           varint_field(9, t->count);
	else if (j->kind == POOL_MAPINT)
		z->task += varint_field(5, 1) +
		           bytes_field(4, t->count * sizeof(int64_t));
	else /* args even when empty: a task without is its apply's none */
		z->task += tp__varint_size(FIELD_LEN(3)) +
		           tp__varint_size(z->len) + z->len;
}

static unsigned char *put_varint(unsigned char *o, uint32_t num, uint64_t v)
{
	if (v == 0)
		return o;
	o = tp__varint_put(o, FIELD_VARINT(num));
	return tp__varint_put(o, v);
}

static unsigned char *put_head(unsigned char *o, uint32_t num, size_t len)
{
	o = tp__varint_put(o, FIELD_LEN(num));
	return tp__varint_put(o, len);
}

static unsigned char *put_bytes(unsigned char *o, uint32_t num, const void *p,
                                size_t len)
{
	if (len == 0)
		return o;
	o = put_head(o, num, len);
	memcpy(o, p, len);
	return o + len;
}

/* Writes column col (3 kinds, 4 ints, 5 doubles, 6 lens, 7 data, 8
 * calls) of t's values: one pass over them. */
static unsigned char *put_column(unsigned char *o, const struct pool_task *t,
                                 int col, size_t len)
{
	const struct tp_pool_result *j = t->job;
	if (len == 0)
		return o;
	o = put_head(o, (uint32_t)col, len);
	unsigned pk;
	const char *col_in = packed_map(j, &pk);
	if (col_in != NULL && (col == 4 || col == 5)) { /* the one column */
		memcpy(o, col_in + 8 * t->first, len);
		return o + len;
	}
	for (size_t i = t->first; i < t->first + t->count; i++) {
		size_t at, n;
		const tp_payload *p = call_values(j, i, &at, &n);
		if (col == 8) {
			uint32_t c = (uint32_t)n;
			memcpy(o, &c, 4);
			o += 4;
			continue;
		}
		for (size_t k = 0; k < n; k++) {
			struct tp_value x = tp__payload_at(p, at + k);
			const struct tp_value *v = &x;
			if (col == 3) {
				*o++ = kind_of(v);
			} else if (col == 4 && v->type == TP_TINT) {
				memcpy(o, &v->i, 8);
				o += 8;
			} else if (col == 5 && v->type == TP_TDOUBLE) {
				memcpy(o, &v->d, 8);
				o += 8;
			} else if (!TP__HAS_BYTES(v->type)) {
				continue;
			} else if (col == 6) {
				uint32_t l = v->len;
				memcpy(o, &l, 4);
				o += 4;
			} else if (col == 7) {
				size_t bn = tp__value_block_size(v);
				memcpy(o, v->data, bn); /* with the name */
				o += bn;
			}
		}
	}
	return o;
}

static unsigned char *put_task(unsigned char *o, const struct pool_task *t,
                               const struct vsize *z)
{
	const struct tp_pool_result *j = t->job;
	o = put_head(o, 1, z->task);
	o = put_varint(o, 1, t->id);
	o = put_bytes(o, 2, j->func, strlen(j->func));
	if (j->kind == POOL_MAPINT) {
		o = put_varint(o, 5, 1);
		if (j->seg[0] != '\0') {
			o = put_bytes(o, 7, j->seg, strlen(j->seg));
			o = put_varint(o, 8, t->first);
			o = put_varint(o, 9, t->count);
		} else {
			o = put_bytes(o, 4, j->ints_in + t->first,
			              t->count * sizeof(int64_t));
		}
	} else {
		o = put_head(o, 3, z->len);
		o = put_varint(o, 1, z->count);
		if (z->mixed)
			o = put_column(o, t, 3, z->count);
		else
			o = put_varint(o, 2, z->kind);
		o = put_column(o, t, 4, 8 * z->ni);
		o = put_column(o, t, 5, 8 * z->nd);
		o = put_column(o, t, 6, 4 * z->nl);
		o = put_column(o, t, 7, z->data);
		o = put_column(o, t, 8, 4 * z->calls);
		if (j->kind == POOL_APPLY)
			o = put_varint(o, 6, 1);
	}
	return put_varint(o, 10, t->first);
}

struct batch {
	struct pool_task *t[BATCH_TASKS];
	struct vsize z[BATCH_TASKS]; /* each task's sizes */
	size_t k, items, bytes;
};

/* Takes up to room tasks from the queue, dropping those of settled jobs;
 * sizes each (the one pass over its values before they are written). */
static void batch_take(struct tp_pool *pool, struct batch *b, size_t room)
{
	while (b->k < room && pool->qhead != NULL) {
		struct pool_task *t = pool->qhead;
		if (b->k > 0 && (b->items + t->count > BATCH_ITEMS ||
		                 b->bytes >= BATCH_BYTES))
			break; /* ...so a worker starts on it while the next
			          is packed and sent */
		pool->qhead = t->next;
		if (pool->qhead == NULL)
			pool->qtail = NULL;
		pool->queued--;
		t->next = NULL;
		if (tp__pool_job_settled(t->job)) {
			tp__pool_task_free(t);
			continue;
		}
		size_task(t, &b->z[b->k]);
		b->bytes += b->z[b->k].task;
		b->t[b->k++] = t;
		b->items += t->count;
	}
}

static void batch_put_back(struct tp_pool *pool, struct batch *b)
{
	for (size_t i = b->k; i-- > 0;) {
		b->t[i]->next = pool->qhead;
		pool->qhead = b->t[i];
		if (pool->qtail == NULL)
			pool->qtail = b->t[i];
		pool->queued++;
	}
}

/* The bytes of the batch's PoolTasks. */
static size_t batch_body(const struct batch *b)
{
	size_t body = 0;
	for (size_t i = 0; i < b->k; i++)
		body += tp__varint_size(FIELD_LEN(1)) +
		        tp__varint_size(b->z[i].task) + b->z[i].task;
	return body;
}

/* The bytes of the batch's Envelope{pool_tasks}. */
static size_t batch_len(const struct batch *b)
{
	size_t body = batch_body(b);
	return tp__varint_size(FIELD_LEN(80)) + tp__varint_size(body) + body;
}

/* Writes them, len bytes, at out. */
static int batch_write(const struct batch *b, unsigned char *out, size_t len)
{
	unsigned char *o = put_head(out, 80, batch_body(b));
	for (size_t i = 0; i < b->k; i++)
		o = put_task(o, b->t[i], &b->z[i]);
	return o == out + len ? TP_OK : TP_EPROTO;
}

/* The message saying the batch is in slot of w's ring. */
static int ring_msg(const struct pool_worker *w, uint32_t slot, size_t len,
                    nng_msg **out)
{
	Troupe__PoolTasksRing r = TROUPE__POOL_TASKS_RING__INIT;
	Troupe__Envelope env = TROUPE__ENVELOPE__INIT;
	r.ring = (char *)tp__pool_ring_path(w->ring);
	r.slot = slot;
	r.len = len;
	env.body_case = TROUPE__ENVELOPE__BODY_POOL_TASKS_RING;
	env.pool_tasks_ring = &r;
	size_t n = protobuf_c_message_get_packed_size(&env.base);
	if (nng_msg_alloc(out, n) != 0)
		return TP_ENOMEM;
	protobuf_c_message_pack(&env.base, nng_msg_body(*out));
	return TP_OK;
}

/*
 * The batch, len bytes (batch_len), as one nng message: a large batch
 * (TP__POOL_RING_MIN bytes or more) of a local worker goes into a free slot of
 * its run's ring and a note says where: on the run's local channel
 * (pool_fast.c; *out is then NULL) once a message named the ring to the
 * worker, or in the message. Else, or when every
 * slot is busy, the message carries it, or a record of the local channel
 * (*out NULL) when it is small enough. *slot: the slot taken, or
 * UINT32_MAX.
 */
static int batch_msg(struct tp_pool *pool, struct pool_worker *w,
                     struct batch *b, size_t len, nng_msg **out, uint32_t *slot)
{
	unsigned char *dst = NULL;
	int rv;
	*slot = UINT32_MAX;
	*out = NULL;
	if (len >= TP__POOL_RING_MIN &&
	    (pool->backend == NULL || pool->backend->ring) && !w->ring_off) {
		if (w->ring == NULL && tp__pool_ring_new(&w->ring) != TP_OK)
			w->ring_off = 1; /* no room in the run directory */
		if (w->ring != NULL)
			dst = tp__pool_ring_take(w->ring, len, slot);
	}
	if (dst != NULL) {
		/* the note by the run's local channel (pool_fast.c) when it
		 * has one (*out stays NULL), else by nng */
		if ((rv = batch_write(b, dst, len)) == TP_OK &&
		    (w->fast_fd < 0 || !w->ring_told ||
		     tp__pool_fast_send(w->fast_fd, TP__POOL_NOTE_TASKS, *slot,
		                        len) != TP_OK))
			rv = ring_msg(w, *slot, len, out);
		if (rv != TP_OK) {
			tp__pool_ring_put_back(w->ring, *slot);
			*slot = UINT32_MAX;
		}
		return rv;
	}
	if (w->fast_fd >= 0 && len <= TP__POOL_FAST_MAX) {
		/* a small batch in one record of the run's local channel */
		unsigned char *buf = pool->fast_buf;
		if ((rv = batch_write(b, buf, len)) != TP_OK)
			return rv;
		if (tp__pool_fast_send_bytes(w->fast_fd, buf, len) == TP_OK)
			return TP_OK;
	}
	if (nng_msg_alloc(out, len) != 0)
		return TP_ENOMEM;
	if ((rv = batch_write(b, nng_msg_body(*out), len)) != TP_OK) {
		nng_msg_free(*out);
		*out = NULL;
	}
	return rv;
}

int tp__pool_send_batch(struct tp_pool *pool, struct pool_worker *w,
                        size_t room)
{
	struct batch *b = malloc(sizeof(*b));
	int rv;
	if (b == NULL)
		return TP_ENOMEM;
	b->k = b->items = b->bytes = 0;
	if (pool->maxtasks > 0 && room > (size_t)pool->maxtasks - w->sent)
		room = (size_t)pool->maxtasks - w->sent;
	if (room > BATCH_TASKS)
		room = BATCH_TASKS;
	batch_take(pool, b, room);
	if (b->k == 0) {
		free(b);
		return TP_OK;
	}
	nng_msg *msg = NULL;
	uint32_t slot;
	size_t len = batch_len(b);
	rv = batch_msg(pool, w, b, len, &msg, &slot);
	if (rv == TP_OK && msg != NULL &&
	    (rv = nng_sendmsg(w->sock, msg, NNG_FLAG_NONBLOCK)) != 0)
		rv = tp_err_nng(rv);
	if (rv != TP_OK) {
		if (msg != NULL)
			nng_msg_free(msg);
		if (slot != UINT32_MAX)
			tp__pool_ring_put_back(w->ring, slot);
		batch_put_back(pool, b);
		free(b);
		return rv;
	}
	if (msg != NULL && slot != UINT32_MAX)
		w->ring_told = 1; /* the worker maps the ring from it */
	for (size_t i = 0; i < b->k; i++) {
		b->t[i]->bytes = i + 1 == b->k ? len : 0;
		if (w->held_tail != NULL)
			w->held_tail->next = b->t[i];
		else
			w->held = b->t[i];
		w->held_tail = b->t[i];
	}
	if (w->inflight == 0)
		w->head_t = tp__now_s();
	w->inflight += b->k;
	w->inflight_bytes += len;
	w->sent += b->k;
	if (pool->maxtasks > 0 && w->sent >= (uint64_t)pool->maxtasks)
		w->retiring = 1;
	free(b);
	return TP_OK;
}
