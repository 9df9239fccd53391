/*
 * mgr_cond.c - the manager's Barrier and Condition. Both keep a list of
 * waiting connections (a connection has at most one call in flight, so
 * the connection id names the waiter): a parked wait that is called
 * again finds its own entry and knows it is a retry, not a new arrival.
 *
 * Barrier(parties): wait returns the arrival index once `parties` callers
 * arrived; a timeout, abort, or a waiter whose connection goes away
 * breaks it (TP_EBROKEN for every waiter, as Python's
 * BrokenBarrierError); reset breaks the current waiters and starts over.
 *
 * Condition: an RLock plus waiters. wait (lock held by the caller, else
 * TP_EPERM) releases the lock completely, parks until notified, then
 * retakes it at the same depth; on timeout it still retakes the lock
 * before answering TP_ETIMEDOUT (Python's wait returns False with the
 * lock held).
 */
#include <stdlib.h>
#include <string.h>

#include "mgr_int.h"
#include "troupe/error.h"

struct waiter {
	uint32_t client;
	uint64_t gen;  /* barrier: the generation it arrived in */
	int64_t index; /* barrier: arrival index; condition: lock depth */
	int flag;      /* barrier: broken; condition: notified */
	int timed_out; /* condition */
};

struct wlist {
	struct waiter *w;
	size_t n, cap;
};

static struct waiter *wl_find(struct wlist *l, uint32_t client)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->w[i].client == client)
			return &l->w[i];
	return NULL;
}

static struct waiter *wl_add(struct wlist *l, uint32_t client)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct waiter *n = realloc(l->w, cap * sizeof(*n));
		if (n == NULL)
			return NULL;
		l->w = n;
		l->cap = cap;
	}
	struct waiter *w = &l->w[l->n++];
	memset(w, 0, sizeof(*w));
	w->client = client;
	return w;
}

/* Removes w (keeps arrival order: notify wakes the oldest). */
static void wl_del(struct wlist *l, struct waiter *w)
{
	size_t i = (size_t)(w - l->w);
	memmove(&l->w[i], &l->w[i + 1], (l->n - i - 1) * sizeof(*w));
	l->n--;
}

/* ---- Barrier ---- */

struct barrier {
	int64_t parties, count;
	uint64_t gen;
	int broken;
	struct wlist wl;
};

static int barrier_init(void **obj, const tp_payload *args)
{
	int64_t parties = 0;
	int rv = tp__arg_int(args, 0, &parties);
	if (rv != TP_OK)
		return rv;
	if (parties < 1)
		return TP_EVALUE;
	struct barrier *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return TP_ENOMEM;
	b->parties = parties;
	*obj = b;
	return TP_OK;
}

static void barrier_free(void *obj)
{
	struct barrier *b = obj;
	if (b != NULL)
		free(b->wl.w);
	free(b);
}

/* Breaks the barrier for everyone waiting now. */
static void barrier_break(struct barrier *b)
{
	for (size_t i = 0; i < b->wl.n; i++)
		b->wl.w[i].flag = 1;
	b->count = 0;
	b->gen++;
}

static int barrier_wait(struct barrier *b, struct tp__mgr_ctx *c)
{
	struct waiter *w = wl_find(&b->wl, c->client);
	c->park_code = TP_EBROKEN;
	if (w != NULL && (w->flag || w->gen < b->gen)) { /* a retry */
		int64_t index = w->index;
		int broken = w->flag;
		wl_del(&b->wl, w);
		return broken ? TP_EBROKEN
		              : tp_payload_add_int(c->result, index);
	}
	if (w != NULL)
		return TP__MGR_PARK; /* still waiting */
	if (b->broken)
		return TP_EBROKEN;
	int64_t index = b->count;
	if (++b->count == b->parties) { /* the last one releases all */
		b->count = 0;
		b->gen++;
		c->changed = 1;
		return tp_payload_add_int(c->result, index);
	}
	if ((w = wl_add(&b->wl, c->client)) == NULL) {
		b->count--;
		return TP_ENOMEM;
	}
	w->gen = b->gen;
	w->index = index;
	return TP__MGR_PARK;
}

static int barrier_call(void *obj, struct tp__mgr_ctx *c)
{
	struct barrier *b = obj;
	if (strcmp(c->method, "wait") == 0)
		return barrier_wait(b, c);
	if (strcmp(c->method, "abort") == 0 ||
	    strcmp(c->method, "reset") == 0) {
		barrier_break(b);
		b->broken = c->method[0] == 'a';
		c->changed = 1;
		return TP_OK;
	}
	if (strcmp(c->method, "parties") == 0)
		return tp_payload_add_int(c->result, b->parties);
	if (strcmp(c->method, "n_waiting") == 0)
		return tp_payload_add_int(c->result, b->count);
	if (strcmp(c->method, "broken") == 0)
		return tp_payload_add_int(c->result, b->broken);
	return TP_ENOENT;
}

/* A waiter timed out or went away: the barrier is broken for all. */
static int barrier_expire(void *obj, uint32_t client)
{
	struct barrier *b = obj;
	struct waiter *w = wl_find(&b->wl, client);
	if (w != NULL)
		wl_del(&b->wl, w);
	barrier_break(b);
	b->broken = 1;
	return TP__MGR_EXP_CHANGED;
}

static int barrier_gone(void *obj, uint32_t client)
{
	struct barrier *b = obj;
	if (wl_find(&b->wl, client) == NULL)
		return 0;
	barrier_expire(obj, client);
	return 1;
}

const struct tp__mgr_type tp__mgr_barrier = {"barrier",    barrier_init,
                                             barrier_call, barrier_free,
                                             barrier_gone, barrier_expire};

/* ---- Condition ---- */

struct cond {
	int held;
	uint32_t owner;
	int64_t depth;
	struct wlist wl;
};

static int cond_init(void **obj, const tp_payload *args)
{
	(void)args;
	*obj = calloc(1, sizeof(struct cond));
	return *obj == NULL ? TP_ENOMEM : TP_OK;
}

static void cond_free(void *obj)
{
	struct cond *k = obj;
	if (k != NULL)
		free(k->wl.w);
	free(k);
}

static int cond_acquire(struct cond *k, struct tp__mgr_ctx *c)
{
	if (k->held && k->owner == c->client) {
		k->depth++;
		return TP_OK;
	}
	if (k->held) {
		c->park_code = TP_ETIMEDOUT;
		return TP__MGR_PARK;
	}
	k->held = 1;
	k->owner = c->client;
	k->depth = 1;
	return TP_OK;
}

static int cond_wait(struct cond *k, struct tp__mgr_ctx *c)
{
	struct waiter *w = wl_find(&k->wl, c->client);
	c->park_code = TP_ETIMEDOUT;
	if (w == NULL) { /* arrives: give the lock up completely */
		if (!k->held || k->owner != c->client)
			return TP_EPERM;
		if ((w = wl_add(&k->wl, c->client)) == NULL)
			return TP_ENOMEM;
		w->index = k->depth;
		k->held = 0;
		k->owner = 0;
		c->changed = 1; /* lock waiters may go */
		return TP__MGR_PARK;
	}
	if (!w->flag || k->held)
		return TP__MGR_PARK; /* not notified, or the lock is taken */
	int rv = w->timed_out ? TP_ETIMEDOUT : TP_OK;
	k->held = 1;
	k->owner = c->client;
	k->depth = w->index;
	wl_del(&k->wl, w);
	return rv;
}

static int cond_notify(struct cond *k, struct tp__mgr_ctx *c, int64_t n)
{
	if (!k->held || k->owner != c->client)
		return TP_EPERM;
	for (size_t i = 0; i < k->wl.n && n > 0; i++) {
		if (!k->wl.w[i].flag) {
			k->wl.w[i].flag = 1;
			n--;
		}
	}
	c->changed = 1;
	return TP_OK;
}

static int cond_call(void *obj, struct tp__mgr_ctx *c)
{
	struct cond *k = obj;
	const char *m = c->method;
	if (strcmp(m, "acquire") == 0)
		return cond_acquire(k, c);
	if (strcmp(m, "release") == 0) {
		if (!k->held || k->owner != c->client)
			return TP_EPERM;
		if (--k->depth == 0) {
			k->held = 0;
			k->owner = 0;
			c->changed = 1;
		}
		return TP_OK;
	}
	if (strcmp(m, "wait") == 0)
		return cond_wait(k, c);
	if (strcmp(m, "notify") == 0) {
		int64_t n = 1;
		if (tp__arg(c->args, 0) != NULL &&
		    tp__arg_int(c->args, 0, &n) != TP_OK)
			return TP_ETYPE;
		return cond_notify(k, c, n);
	}
	if (strcmp(m, "notify_all") == 0)
		return cond_notify(k, c, INT64_MAX);
	return TP_ENOENT;
}

/* A wait timed out: it still retakes the lock before it answers. */
static int cond_expire(void *obj, uint32_t client)
{
	struct cond *k = obj;
	struct waiter *w = wl_find(&k->wl, client);
	if (w == NULL)
		return TP__MGR_EXP_REPLY; /* an acquire: answer now */
	w->flag = 1;
	w->timed_out = 1;
	return TP__MGR_EXP_KEEP;
}

static int cond_gone(void *obj, uint32_t client)
{
	struct cond *k = obj;
	struct waiter *w = wl_find(&k->wl, client);
	if (w != NULL)
		wl_del(&k->wl, w);
	if (!k->held || k->owner != client)
		return 0;
	k->held = 0;
	k->owner = 0;
	return 1;
}

const struct tp__mgr_type tp__mgr_cond = {"condition", cond_init, cond_call,
                                          cond_free,   cond_gone, cond_expire};
