/*
 * pool_send.c - sending: an envelope as one nng message, and one batch of
 * tasks to a worker.
 *
 * A batch holds as many queued tasks as the worker's pipeline has room for
 * (at most BATCH_TASKS, and about BATCH_ITEMS items), so a worker running
 * tiny tasks gets hundreds per message and the parent pays one message per
 * batch. Arguments are encoded as the batch is sent, into the pool's
 * reused scratch columns (values.h): no allocation per value, and the
 * encoding of one batch overlaps the workers' work on the previous ones.
 * map_int points its packed field straight at the caller's array.
 */
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>

#include "clock.h"
#include "payload_int.h"
#include "pool_int.h"
#include "troupe/error.h"
#include "wire.h"

/* Packs an Envelope straight into the body of one nng message and sends
 * it (flags: nng's): no copy besides protobuf-c's packing. */
int tp__pool_send(nng_socket s, const void *env_msg, int flags)
{
	const ProtobufCMessage *m = env_msg;
	size_t len = protobuf_c_message_get_packed_size(m);
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
#define BATCH_BYTES ((size_t)256 << 10) /* a batch stops past 256 KiB... */

struct batch {
	struct pool_task *t[BATCH_TASKS];
	size_t k, items, bytes;
	Troupe__PoolTask pt[BATCH_TASKS];
	Troupe__PoolTask *pp[BATCH_TASKS];
	Troupe__Values args[BATCH_TASKS];
	struct tp__cols_pos a[BATCH_TASKS], z[BATCH_TASKS];
};

/* Appends the values of p (NULL: none) as one call. */
static int encode_call(struct tp__cols *c, const tp_payload *p)
{
	size_t n = tp_payload_count(p);
	int rv = TP_OK;
	for (size_t i = 0; i < n && rv == TP_OK; i++)
		rv = tp__cols_add(c, &p->values[i]);
	return rv == TP_OK ? tp__cols_call(c, (uint32_t)n) : rv;
}

/* Encodes task t's arguments at the end of c. */
static int task_encode(struct tp__cols *c, const struct pool_task *t)
{
	const struct tp_pool_result *j = t->job;
	int rv = TP_OK;
	for (size_t i = t->first; i < t->first + t->count && rv == TP_OK; i++) {
		if (j->kind == POOL_MAP)
			rv = tp__cols_add(c, &j->items->values[i]);
		else if (j->kind == POOL_STARMAP)
			rv = encode_call(c, j->argv[i]);
		else
			rv = encode_call(c, j->items);
	}
	return rv;
}

/* Takes up to room tasks from the queue, dropping those of settled jobs. */
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
		b->t[b->k++] = t;
		b->items += t->count;
		if (t->job->tbytes != NULL)
			b->bytes += t->job->tbytes[t->index];
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

/* Fills the batch's messages; the arguments go in the pool's scratch
 * columns, which the messages then point into. */
static int batch_fill(struct tp__cols *c, struct batch *b)
{
	tp__cols_reset(c);
	c->use_calls = 1; /* a map task adds none: one value per call */
	for (size_t i = 0; i < b->k; i++) {
		tp__cols_pos(c, &b->a[i]);
		if (b->t[i]->job->kind != POOL_MAPINT &&
		    task_encode(c, b->t[i]) != TP_OK)
			return TP_ENOMEM;
		tp__cols_pos(c, &b->z[i]);
	}
	for (size_t i = 0; i < b->k; i++) {
		struct pool_task *t = b->t[i];
		struct tp_pool_result *j = t->job;
		Troupe__PoolTask *p = &b->pt[i];
		troupe__pool_task__init(p);
		b->pp[i] = p;
		p->id = t->id;
		p->func = (char *)j->func;
		p->item0 = t->first;
		if (j->kind == POOL_APPLY)
			p->whole = 1;
		if (j->kind == POOL_MAPINT && j->seg[0] != '\0') {
			p->is_int = 1;
			p->seg = j->seg;
			p->first = t->first;
			p->count = t->count;
		} else if (j->kind == POOL_MAPINT) {
			p->is_int = 1;
			p->ints.data = (uint8_t *)(j->ints_in + t->first);
			p->ints.len = t->count * sizeof(int64_t);
		} else {
			tp__cols_to_pb(c, &b->a[i], &b->z[i], &b->args[i]);
			p->args = &b->args[i];
		}
	}
	return TP_OK;
}

int tp__pool_send_batch(struct tp_pool *pool, struct pool_worker *w,
                        size_t room)
{
	struct batch *b = calloc(1, sizeof(*b));
	Troupe__PoolTasks ts = TROUPE__POOL_TASKS__INIT;
	Troupe__Envelope env = TROUPE__ENVELOPE__INIT;
	int rv;
	if (b == NULL)
		return TP_ENOMEM;
	if (pool->maxtasks > 0 && room > (size_t)pool->maxtasks - w->sent)
		room = (size_t)pool->maxtasks - w->sent;
	if (room > BATCH_TASKS)
		room = BATCH_TASKS;
	batch_take(pool, b, room);
	if (b->k == 0) {
		free(b);
		return TP_OK;
	}
	rv = batch_fill(&pool->scratch, b);
	ts.n_tasks = b->k;
	ts.tasks = b->pp;
	env.body_case = TROUPE__ENVELOPE__BODY_POOL_TASKS;
	env.pool_tasks = &ts;
	if (rv == TP_OK)
		rv = tp__pool_send(w->sock, &env, NNG_FLAG_NONBLOCK);
	if (rv != TP_OK) {
		batch_put_back(pool, b);
		free(b);
		return rv;
	}
	for (size_t i = 0; i < b->k; i++) {
		if (w->held_tail != NULL)
			w->held_tail->next = b->t[i];
		else
			w->held = b->t[i];
		w->held_tail = b->t[i];
	}
	if (w->inflight == 0)
		w->head_t = tp__now_s();
	w->inflight += b->k;
	w->sent += b->k;
	if (pool->maxtasks > 0 && w->sent >= (uint64_t)pool->maxtasks)
		w->retiring = 1;
	free(b);
	return TP_OK;
}
