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

int tp_queue_qsize(tp_queue *q, size_t *out)
{
	int rv;
	if (q == NULL || out == NULL)
		return TP_EINVAL;
	if ((rv = tp__q_lock(q)) != TP_OK)
		return rv;
	*out = (size_t)q->s->count;
	tp__q_unlock(q);
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
	if ((rv = tp__q_lock(q)) != TP_OK)
		return rv;
	q->s->closed = 1;
	pthread_cond_broadcast(&q->s->not_empty);
	pthread_cond_broadcast(&q->s->not_full);
	pthread_cond_broadcast(&q->s->all_done);
	tp__q_unlock(q);
	return TP_OK;
}

int tp_queue_closed(tp_queue *q)
{
	return q != NULL && __atomic_load_n(&q->s->closed, __ATOMIC_ACQUIRE);
}

int tp_queue_task_done(tp_queue *q)
{
	struct q_shared *s;
	int rv;
	if (q == NULL)
		return TP_EINVAL;
	s = q->s;
	if (s->kind != TP_QUEUE_JOINABLE)
		return TP_ESTATE;
	if ((rv = tp__q_lock(q)) != TP_OK)
		return rv;
	if (s->unfinished == 0) {
		rv = TP_EVALUE;
	} else {
		tp__q_jr_begin(s);
		s->unfinished--;
		tp__q_jr_end(s);
		if (s->unfinished == 0)
			pthread_cond_broadcast(&s->all_done);
	}
	tp__q_unlock(q);
	return rv;
}

int tp_queue_join(tp_queue *q, int timeout_ms)
{
	struct q_shared *s;
	int64_t dl;
	int rv;
	if (q == NULL)
		return TP_EINVAL;
	s = q->s;
	if (s->kind != TP_QUEUE_JOINABLE)
		return TP_ESTATE;
	dl = tp__q_deadline(timeout_ms);
	if ((rv = tp__q_lock(q)) != TP_OK)
		return rv;
	while (rv == TP_OK && s->unfinished > 0) {
		if (s->closed)
			rv = TP_ECLOSED;
		else if (timeout_ms == 0)
			rv = TP_ETIMEDOUT;
		else
			rv = tp__q_wait(q, &s->all_done, dl);
	}
	tp__q_unlock(q);
	return rv;
}

int tp_queue_stats_get(tp_queue *q, tp_queue_stats *out)
{
	struct q_shared *s;
	int rv;
	if (q == NULL || out == NULL)
		return TP_EINVAL;
	s = q->s;
	if ((rv = tp__q_lock(q)) != TP_OK)
		return rv;
	out->puts = s->puts;
	out->gets = s->gets;
	out->rejected = s->rejected;
	out->recovered = s->recovered;
	out->count = s->count;
	out->bytes = s->tail - s->head;
	out->capacity = s->cap;
	out->unfinished = s->unfinished;
	tp__q_unlock(q);
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
	rv = TP_ENOMEM;
	if ((q = calloc(1, sizeof(*q))) != NULL) {
		q->s = s;
		q->ring = (unsigned char *)addr + s->ring_off;
		q->map_size = size;
		snprintf(q->name, sizeof(q->name), "%s", name);
		*out = q;
		return TP_OK;
	}
	tp__shm_detach(addr, size);
	return rv;
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
