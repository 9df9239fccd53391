/*
 * pool_send.c - building and sending one batch of tasks to a worker.
 *
 * A batch holds as many queued tasks as the worker's pipeline has room for
 * (at most BATCH_TASKS, and about BATCH_ITEMS items), so a worker running
 * tiny tasks gets hundreds per message and the parent pays one message per
 * batch. Arguments are described in place: the protobuf structures point
 * into the job's payloads (map items through one-value views), and an
 * integer map points its packed field straight at the caller's array.
 */
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>

#include "payload_int.h"
#include "pool_int.h"
#include "troupe/error.h"
#include "wire.h"

#define BATCH_TASKS 256
#define BATCH_ITEMS 65536

struct batch {
	struct pool_task *t[BATCH_TASKS];
	size_t k, items, npb;
	Troupe__PoolTask pt[BATCH_TASKS];
	Troupe__PoolTask *pp[BATCH_TASKS];
	Troupe__Payload *pbs, **pbp;
	tp_payload *views;
};

static size_t task_payloads(const struct pool_task *t)
{
	if (t->job->int_items != NULL)
		return 0;
	switch (t->job->kind) {
	case POOL_APPLY:
		return 1;
	case POOL_MAPINT:
		return 0;
	default:
		return t->count;
	}
}

/* Takes up to room tasks from the queue, dropping those of settled jobs. */
static void batch_take(struct tp_pool *pool, struct batch *b, size_t room)
{
	while (b->k < room && pool->qhead != NULL) {
		struct pool_task *t = pool->qhead;
		if (b->k > 0 && b->items + t->count > BATCH_ITEMS)
			break;
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
		b->npb += task_payloads(t);
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

static int batch_fill(struct batch *b)
{
	size_t x = 0;
	b->pbs = calloc(b->npb + 1, sizeof(*b->pbs));
	b->pbp = calloc(b->npb + 1, sizeof(*b->pbp));
	b->views = calloc(b->npb + 1, sizeof(*b->views));
	if (b->pbs == NULL || b->pbp == NULL || b->views == NULL)
		return TP_ENOMEM;
	for (size_t i = 0; i < b->k; i++) {
		struct pool_task *t = b->t[i];
		struct tp_pool_result *j = t->job;
		Troupe__PoolTask *p = &b->pt[i];
		troupe__pool_task__init(p);
		b->pp[i] = p;
		p->id = t->id;
		p->func = (char *)j->func;
		p->items = &b->pbp[x];
		for (size_t c = 0; c < task_payloads(t); c++, x++) {
			const tp_payload *src = j->items;
			troupe__payload__init(&b->pbs[x]);
			b->pbp[x] = &b->pbs[x];
			if (j->kind == POOL_MAP) {
				b->views[x].values =
				    &j->items->values[t->first + c];
				b->views[x].count = b->views[x].cap = 1;
				src = &b->views[x];
			} else if (j->kind == POOL_STARMAP) {
				src = j->argv[t->first + c];
			}
			if (tp__payload_to_pb(src, &b->pbs[x]) != TP_OK)
				return TP_ENOMEM;
			p->n_items++;
		}
		if (j->kind == POOL_APPLY)
			p->whole = 1;
		if (j->int_items != NULL) {
			p->is_int = 1;
			p->any_result = 1;
			p->ints.data = (uint8_t *)(j->int_items + t->first);
			p->ints.len = t->count * sizeof(int64_t);
		} else if (j->kind == POOL_MAPINT && j->seg[0] != '\0') {
			p->is_int = 1;
			p->seg = j->seg;
			p->first = t->first;
			p->count = t->count;
		} else if (j->kind == POOL_MAPINT) {
			p->is_int = 1;
			p->ints.data = (uint8_t *)(j->ints_in + t->first);
			p->ints.len = t->count * sizeof(int64_t);
		}
	}
	return TP_OK;
}

static void batch_release(struct batch *b)
{
	for (size_t x = 0; b->pbs != NULL && x < b->npb; x++)
		tp__payload_pb_release(&b->pbs[x]);
	free(b->pbs);
	free(b->pbp);
	free(b->views);
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
	rv = batch_fill(b);
	if (rv == TP_OK) {
		ts.n_tasks = b->k;
		ts.tasks = b->pp;
		env.body_case = TROUPE__ENVELOPE__BODY_POOL_TASKS;
		env.pool_tasks = &ts;
		rv = tp__pool_send(w->sock, &env, NNG_FLAG_NONBLOCK);
	}
	batch_release(b);
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
		w->head_t = tp__pool_now();
	w->inflight += b->k;
	w->sent += b->k;
	if (pool->maxtasks > 0 && w->sent >= (uint64_t)pool->maxtasks)
		w->retiring = 1;
	free(b);
	return TP_OK;
}
