/*
 * mgr_sync.c - the manager's blocking types: Queue, Lock, RLock,
 * Semaphore, BoundedSemaphore and Event, kept in the server and operated
 * through requests, so they work across hosts. A call that cannot finish
 * returns TP__MGR_PARK: the core parks it and calls it again when the
 * object changed, or answers park_code when the caller's timeout expires.
 * Locks remember the connection that holds them and are released when it
 * goes away (its process died), so a dead holder never wedges the others.
 */
#include <stdlib.h>
#include <string.h>

#include "mgr_int.h"
#include "troupe/error.h"

/* Queue: a ring of values. */
struct queue {
	struct tp_value *v;
	size_t head, n, cap;
	int64_t maxsize;
	int joinable;
	int64_t unfinished; /* joinable: puts not yet task_done */
};

static int queue_init(void **obj, const tp_payload *args)
{
	struct queue *q = calloc(1, sizeof(*q));
	const struct tp_value *a = tp__arg(args, 0);
	if (q == NULL)
		return TP_ENOMEM;
	if (a != NULL && a->type == TP_TINT)
		q->maxsize = a->i;
	else if (a != NULL && a->type != TP_TNONE) {
		free(q);
		return TP_ETYPE;
	}
	*obj = q;
	return TP_OK;
}

static void queue_free(void *obj)
{
	struct queue *q = obj;
	if (q == NULL)
		return;
	for (size_t i = 0; i < q->n; i++)
		tp__val_free(&q->v[(q->head + i) % q->cap]);
	free(q->v);
	free(q);
}

static int queue_grow(struct queue *q)
{
	size_t cap = q->cap ? q->cap * 2 : 16;
	struct tp_value *v = malloc(cap * sizeof(*v));
	if (v == NULL)
		return TP_ENOMEM;
	for (size_t i = 0; i < q->n; i++)
		v[i] = q->v[(q->head + i) % q->cap];
	free(q->v);
	q->v = v;
	q->cap = cap;
	q->head = 0;
	return TP_OK;
}

static int queue_put(struct queue *q, struct tp__mgr_ctx *c)
{
	const struct tp_value *a = tp__arg(c->args, 0);
	int rv;
	if (a == NULL)
		return TP_EINVAL;
	if (q->maxsize > 0 && (int64_t)q->n >= q->maxsize) {
		c->park_code = TP_EFULL;
		return TP__MGR_PARK;
	}
	if (q->n == q->cap && (rv = queue_grow(q)) != TP_OK)
		return rv;
	if ((rv = tp__val_copy(&q->v[(q->head + q->n) % q->cap], a)) != TP_OK)
		return rv;
	q->n++;
	q->unfinished++;
	c->changed = 1;
	return TP_OK;
}

static int queue_get(struct queue *q, struct tp__mgr_ctx *c)
{
	if (q->n == 0) {
		c->park_code = TP_EEMPTY;
		return TP__MGR_PARK;
	}
	struct tp_value *v = &q->v[q->head];
	int rv = tp__payload_push(c->result, v);
	if (rv != TP_OK)
		return rv;
	tp__val_free(v);
	q->head = (q->head + 1) % q->cap;
	q->n--;
	c->changed = 1;
	return TP_OK;
}

static int queue_call(void *obj, struct tp__mgr_ctx *c)
{
	struct queue *q = obj;
	if (strcmp(c->method, "put") == 0)
		return queue_put(q, c);
	if (strcmp(c->method, "get") == 0)
		return queue_get(q, c);
	if (strcmp(c->method, "qsize") == 0)
		return tp_payload_add_int(c->result, (int64_t)q->n);
	if (strcmp(c->method, "empty") == 0)
		return tp_payload_add_int(c->result, q->n == 0);
	if (q->joinable && strcmp(c->method, "task_done") == 0) {
		if (q->unfinished <= 0)
			return TP_EVALUE; /* called too many times */
		if (--q->unfinished == 0)
			c->changed = 1;
		return TP_OK;
	}
	if (q->joinable && strcmp(c->method, "join") == 0) {
		if (q->unfinished == 0)
			return TP_OK;
		c->park_code = TP_ETIMEDOUT;
		return TP__MGR_PARK;
	}
	if (strcmp(c->method, "full") == 0)
		return tp_payload_add_int(
		    c->result, q->maxsize > 0 && (int64_t)q->n >= q->maxsize);
	return TP_ENOENT;
}

static int jqueue_init(void **obj, const tp_payload *args)
{
	int rv = queue_init(obj, args);
	if (rv == TP_OK)
		((struct queue *)*obj)->joinable = 1;
	return rv;
}

const struct tp__mgr_type tp__mgr_queue = {"queue",    queue_init, queue_call,
                                           queue_free, NULL,       NULL};
const struct tp__mgr_type tp__mgr_jqueue = {
    "joinable_queue", jqueue_init, queue_call, queue_free, NULL, NULL};

/* Lock, RLock, Semaphore, BoundedSemaphore. */
enum { LK_LOCK, LK_RLOCK, LK_SEM, LK_BSEM };

struct lk {
	int kind;
	int64_t value; /* lock, rlock: 1 free, 0 held; semaphores: count */
	int64_t max;   /* bounded semaphore's initial value */
	uint32_t owner;
	int64_t depth; /* rlock recursion */
};

static int lk_new(void **obj, const tp_payload *args, int kind)
{
	struct lk *l = calloc(1, sizeof(*l));
	int64_t v = 1;
	if (l == NULL)
		return TP_ENOMEM;
	if ((kind == LK_SEM || kind == LK_BSEM) && tp__arg(args, 0) != NULL) {
		int rv = tp__arg_int(args, 0, &v);
		if (rv != TP_OK || v < 0) {
			free(l);
			return rv != TP_OK ? rv : TP_EVALUE;
		}
	}
	l->kind = kind;
	l->value = l->max = v;
	*obj = l;
	return TP_OK;
}

static int lock_init(void **o, const tp_payload *a)
{
	return lk_new(o, a, LK_LOCK);
}
static int rlock_init(void **o, const tp_payload *a)
{
	return lk_new(o, a, LK_RLOCK);
}
static int sem_init(void **o, const tp_payload *a)
{
	return lk_new(o, a, LK_SEM);
}
static int bsem_init(void **o, const tp_payload *a)
{
	return lk_new(o, a, LK_BSEM);
}

static int lk_acquire(struct lk *l, struct tp__mgr_ctx *c)
{
	if (l->kind == LK_RLOCK && l->value == 0 && l->owner == c->client) {
		l->depth++;
		return TP_OK;
	}
	if (l->value == 0) {
		c->park_code = TP_ETIMEDOUT;
		return TP__MGR_PARK;
	}
	l->value--;
	l->owner = c->client;
	l->depth = 1;
	return TP_OK;
}

static int lk_release(struct lk *l, struct tp__mgr_ctx *c)
{
	switch (l->kind) {
	case LK_LOCK:
		if (l->value != 0)
			return TP_EPERM;
		break;
	case LK_RLOCK:
		if (l->value != 0 || l->owner != c->client)
			return TP_EPERM;
		if (--l->depth > 0)
			return TP_OK;
		break;
	case LK_BSEM:
		if (l->value >= l->max)
			return TP_EVALUE;
		break;
	}
	l->value++;
	l->owner = 0;
	c->changed = 1;
	return TP_OK;
}

static int lk_call(void *obj, struct tp__mgr_ctx *c)
{
	struct lk *l = obj;
	if (strcmp(c->method, "acquire") == 0)
		return lk_acquire(l, c);
	if (strcmp(c->method, "release") == 0)
		return lk_release(l, c);
	if (strcmp(c->method, "locked") == 0)
		return tp_payload_add_int(c->result, l->value == 0);
	if (strcmp(c->method, "value") == 0 && l->kind >= LK_SEM)
		return tp_payload_add_int(c->result, l->value);
	return TP_ENOENT;
}

/* A lock or rlock held by a connection that went away is released. */
static int lk_gone(void *obj, uint32_t client)
{
	struct lk *l = obj;
	if (l->kind > LK_RLOCK || l->value != 0 || l->owner != client)
		return 0;
	l->value = 1;
	l->owner = 0;
	l->depth = 0;
	return 1;
}

const struct tp__mgr_type tp__mgr_lock = {"lock", lock_init, lk_call,
                                          free,   lk_gone,   NULL};
const struct tp__mgr_type tp__mgr_rlock = {"rlock", rlock_init, lk_call,
                                           free,    lk_gone,    NULL};
const struct tp__mgr_type tp__mgr_sem = {"semaphore", sem_init, lk_call,
                                         free,        NULL,     NULL};
const struct tp__mgr_type tp__mgr_bsem = {
    "bounded_semaphore", bsem_init, lk_call, free, NULL, NULL};

/* Event: a flag; wait parks until it is set. */
static int event_init(void **obj, const tp_payload *args)
{
	(void)args;
	*obj = calloc(1, sizeof(int));
	return *obj == NULL ? TP_ENOMEM : TP_OK;
}

static int event_call(void *obj, struct tp__mgr_ctx *c)
{
	int *flag = obj;
	if (strcmp(c->method, "set") == 0) {
		*flag = 1;
		c->changed = 1;
		return TP_OK;
	}
	if (strcmp(c->method, "clear") == 0) {
		*flag = 0;
		return TP_OK;
	}
	if (strcmp(c->method, "is_set") == 0)
		return tp_payload_add_int(c->result, *flag);
	if (strcmp(c->method, "wait") == 0) {
		if (*flag)
			return TP_OK;
		c->park_code = TP_ETIMEDOUT;
		return TP__MGR_PARK;
	}
	return TP_ENOENT;
}

const struct tp__mgr_type tp__mgr_event = {"event", event_init, event_call,
                                           free,    NULL,       NULL};
