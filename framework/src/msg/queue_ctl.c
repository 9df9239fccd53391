/*
 * queue_ctl.c - the tp_queue calls that do not move items: sizes, close,
 * JoinableQueue accounting, counters, and passing a queue in a payload
 * (a troupe.Handle naming its shared-memory segment).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue_int.h"
#include "troupe/error.h"
#include "wire.h"

#define Q_HANDLE_KIND "queue"

/* Items queued now: nget first, so that nput is at least as new. */
static uint64_t q_count(tp_queue *q)
{
	struct q_shared *s = q->s;
	tp__q_settle(q);
	uint64_t nget = __atomic_load_n(&s->c.nget, __ATOMIC_ACQUIRE);
	return __atomic_load_n(&s->p.nput, __ATOMIC_ACQUIRE) - nget;
}

int tp_queue_qsize(tp_queue *q, size_t *out)
{
	if (q == NULL || out == NULL)
		return TP_EINVAL;
	*out = (size_t)q_count(q);
	return TP_OK;
}

int tp_queue_empty(tp_queue *q)
{
	size_t n;
	return tp_queue_qsize(q, &n) == TP_OK && n == 0;
}

int tp_queue_full(tp_queue *q)
{
	size_t n;
	if (tp_queue_qsize(q, &n) != TP_OK)
		return 0;
	return q->s->maxsize != 0 && n >= q->s->maxsize;
}

int tp_queue_close(tp_queue *q)
{
	int rv;
	if (q == NULL)
		return TP_EINVAL;
	/* Under the producers' lock: a put that got in before the close is
	 * published before closed is set, so a getter that sees closed also
	 * sees that item. */
	if ((rv = tp__q_lock(q, &q->s->prod, NULL)) != TP_OK)
		return rv;
	__atomic_store_n(&q->s->closed, 1, __ATOMIC_RELEASE);
	tp__q_unlock(&q->s->prod);
	tp__q_wake_all(q->s);
	return TP_OK;
}

int tp_queue_closed(tp_queue *q)
{
	return q != NULL && __atomic_load_n(&q->s->closed, __ATOMIC_ACQUIRE);
}

static uint64_t unfinished(tp_queue *q)
{
	struct q_shared *s = q->s;
	tp__q_settle(q);
	uint64_t done = __atomic_load_n(&s->ndone, __ATOMIC_ACQUIRE);
	uint64_t nput = __atomic_load_n(&s->p.nput, __ATOMIC_ACQUIRE);
	return nput > done ? nput - done : 0;
}

int tp_queue_task_done(tp_queue *q)
{
	struct q_shared *s;
	if (q == NULL)
		return TP_EINVAL;
	s = q->s;
	if (s->kind != TP_QUEUE_JOINABLE)
		return TP_ESTATE;
	/* the item this consumer took is processed: its lease ends */
	if (q->slot >= 0 && q->slot_pid == tp__pid())
		__atomic_store_n(&s->slots[q->slot].held, 0, __ATOMIC_RELEASE);
	/* one atomic step: nothing a kill can leave half done */
	uint64_t done = __atomic_load_n(&s->ndone, __ATOMIC_ACQUIRE);
	do {
		if (done >= __atomic_load_n(&s->p.nput, __ATOMIC_ACQUIRE))
			return TP_EVALUE;
	} while (!__atomic_compare_exchange_n(
	    &s->ndone, &done, done + 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
	tp__wpoint_signal(&s->all_done);
	return TP_OK;
}

int tp_queue_join(tp_queue *q, int timeout_ms)
{
	struct timespec dlbuf, *dl = NULL;
	struct q_shared *s;
	if (q == NULL)
		return TP_EINVAL;
	s = q->s;
	if (s->kind != TP_QUEUE_JOINABLE)
		return TP_ESTATE;
	if (timeout_ms >= 0) {
		tp__deadline_ts(&dlbuf, timeout_ms);
		dl = &dlbuf;
	}
	for (;;) {
		uint32_t seq = tp__wpoint_prepare(&s->all_done);
		if (unfinished(q) == 0)
			return TP_OK;
		if (__atomic_load_n(&s->closed, __ATOMIC_ACQUIRE))
			return TP_ECLOSED;
		if (timeout_ms == 0 || (dl != NULL && tp__ts_expired(dl)))
			return TP_ETIMEDOUT;
		/* (a slice at most: each round completes the put of a
		 * producer killed between its two stores, unfinished) */
		tp__wpoint_sleep(&s->all_done, seq, dl);
	}
}

int tp_queue_stats_get(tp_queue *q, tp_queue_stats *out)
{
	struct q_shared *s;
	if (q == NULL || out == NULL)
		return TP_EINVAL;
	s = q->s;
	tp__q_reap(s);
	tp__q_settle(q);
	uint64_t nget = __atomic_load_n(&s->c.nget, __ATOMIC_ACQUIRE);
	uint64_t head = __atomic_load_n(&s->c.head, __ATOMIC_ACQUIRE);
	out->puts = __atomic_load_n(&s->p.nput, __ATOMIC_ACQUIRE);
	uint64_t tail = __atomic_load_n(&s->p.tail, __ATOMIC_ACQUIRE);
	out->rejected = __atomic_load_n(&s->rejected, __ATOMIC_RELAXED);
	out->recovered = __atomic_load_n(&s->recovered, __ATOMIC_RELAXED);
	out->lost = __atomic_load_n(&s->lost, __ATOMIC_RELAXED);
	out->out_of_band = __atomic_load_n(&s->oob, __ATOMIC_RELAXED);
	/* nget counts rejected items too: gets are the ones handed out */
	out->gets = nget > out->rejected ? nget - out->rejected : 0;
	out->count = out->puts - nget;
	out->bytes = tail - head;
	out->capacity = s->cap;
	out->unfinished = s->kind == TP_QUEUE_JOINABLE ? unfinished(q) : 0;
	return TP_OK;
}

int tp_payload_add_queue(tp_payload *p, const tp_queue *q)
{
	Troupe__Handle h;
	if (p == NULL || q == NULL)
		return TP_EINVAL;
	troupe__handle__init(&h);
	h.kind = Q_HANDLE_KIND;
	h.name = (char *)q->name;
	h.size = q->map_size;
	h.id = q->s->kind;
	return tp_payload_add_proto(p, &h.base);
}

static int attach(const char *name, uint64_t want, tp_queue **out)
{
	tp_queue *q;
	void *addr;
	size_t size;
	int rv;
	if ((rv = tp__shm_attach(name, &addr, &size)) != TP_OK)
		return rv == TP_EINVAL ? TP_EDECODE : rv;
	struct q_shared *s = addr;
	if (size != want || size < sizeof(*s) ||
	    __atomic_load_n(&s->magic, __ATOMIC_ACQUIRE) != TP_Q_MAGIC ||
	    s->ring_off + s->cap != size) {
		tp__shm_detach(addr, size);
		return TP_EDECODE;
	}
	if ((q = calloc(1, sizeof(*q))) == NULL) {
		tp__shm_detach(addr, size);
		return TP_ENOMEM;
	}
	tp__q_handle(q, s, size, name);
	*out = q;
	return TP_OK;
}

int tp_payload_get_queue(const tp_payload *p, size_t i, tp_queue **out)
{
	Troupe__Handle *h;
	if (out == NULL)
		return TP_EINVAL;
	int rv = tp__payload_get_handle(p, i, Q_HANDLE_KIND, &h);
	if (rv != TP_OK)
		return rv;
	rv = attach(h->name, h->size, out);
	tp__handle_free(h);
	return rv;
}
