/*
 * cond.c - Condition between processes.
 *
 * The condition's segment holds a tp__core and a table of waiter slots
 * (pid, ticket, state). A waiter claims a slot while it still holds the
 * user's lock, then releases the lock and sleeps on the core until its
 * slot is marked notified or its deadline passes. notify(n) marks the n
 * oldest live waiters (lowest tickets): a slot whose process has died is
 * freed instead of taking a notification, so a waiter killed by a signal
 * never swallows a wakeup meant for a live one. A waiter that times out
 * frees its own slot, so later notifications go to the others (Python's
 * semantics: a timed-out waiter is removed from the waiters list).
 *
 * The lock is recorded by segment name and offset, so a process that
 * attaches the condition from a payload finds the same lock, whether it is
 * the condition's own RLock or a Lock/RLock the user passed.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lock_int.h"
#include "troupe/error.h"

#define COND_SLOTS 128

enum { SLOT_FREE, SLOT_WAITING, SLOT_NOTIFIED };

struct tp__waiter {
	int32_t pid;
	uint32_t state;
	uint64_t ticket;
};

struct tp__condst {
	struct tp__shdr h;
	uint32_t pad;
	uint64_t next_ticket;
	uint64_t lock_off;
	char lock_name[TP_SHM_NAME_MAX];
	struct tp__core core;
	struct tp__lockst own;
	struct tp__waiter w[COND_SLOTS];
};

struct tp_cond {
	struct tp__seg *seg;
	struct tp__condst *st;
	tp_lock *lock;
};

static int cond_open(struct tp__seg *seg, struct tp__condst *st, tp_cond **out)
{
	tp_cond *c = calloc(1, sizeof(*c));
	int rv;
	if (c == NULL)
		return TP_ENOMEM;
	if (strncmp(st->lock_name, seg->name, TP_SHM_NAME_MAX) == 0 &&
	    st->lock_off == offsetof(struct tp__condst, own))
		rv = tp__lock_wrap(seg, &st->own, &c->lock);
	else
		rv = tp__lock_attach(st->lock_name, st->lock_off, &c->lock);
	if (rv != TP_OK) {
		free(c);
		return rv;
	}
	c->seg = tp__seg_ref(seg);
	c->st = st;
	*out = c;
	return TP_OK;
}

int tp_cond_new(tp_cond **out, tp_lock *lock)
{
	struct tp__seg *seg;
	int rv;
	if (out == NULL)
		return TP_EINVAL;
	if ((rv = tp__seg_create(sizeof(struct tp__condst), &seg)) != TP_OK)
		return rv;
	struct tp__condst *st = seg->base;
	st->h.magic = TP__SOBJ_MAGIC;
	st->h.kind = TP__KCOND;
	if (lock != NULL) {
		tp__lock_where(lock, st->lock_name, &st->lock_off);
	} else {
		memcpy(st->lock_name, seg->name, TP_SHM_NAME_MAX);
		st->lock_off = offsetof(struct tp__condst, own);
		rv = tp__lock_init(&st->own, 1);
	}
	if (rv == TP_OK)
		rv = tp__core_init(&st->core);
	if (rv == TP_OK)
		rv = cond_open(seg, st, out);
	tp__seg_unref(seg);
	return rv;
}

void tp_cond_free(tp_cond *c)
{
	if (c == NULL)
		return;
	tp_lock_free(c->lock);
	tp__seg_unref(c->seg);
	free(c);
}

tp_lock *tp_cond_lock(tp_cond *c)
{
	return c == NULL ? NULL : c->lock;
}

int tp_cond_acquire(tp_cond *c, int timeout_ms)
{
	return c == NULL ? TP_EINVAL : tp_lock_acquire(c->lock, timeout_ms);
}

int tp_cond_release(tp_cond *c)
{
	return c == NULL ? TP_EINVAL : tp_lock_release(c->lock);
}

/* Claims a free slot; returns its index or -1. Core held. */
static int slot_claim(struct tp__condst *st)
{
	for (int i = 0; i < COND_SLOTS; i++) {
		if (st->w[i].state == SLOT_FREE) {
			st->w[i].pid = (int32_t)getpid();
			st->w[i].ticket = st->next_ticket++;
			st->w[i].state = SLOT_WAITING;
			return i;
		}
	}
	return -1;
}

static int core_enter(struct tp__core *c)
{
	int rv = tp__core_lock(c);
	return rv == TP_EOWNERDEAD ? TP_OK : rv;
}

/* Sleeps until slot i is notified or the deadline passes; frees the slot.
 * Core held on entry and exit. */
static int slot_wait(struct tp__condst *st, int i, int timeout_ms)
{
	struct timespec dl;
	int rv = TP_OK;
	tp__deadline_ts(&dl, timeout_ms);
	while (st->w[i].state != SLOT_NOTIFIED && rv == TP_OK) {
		if (timeout_ms == 0)
			rv = TP_ETIMEDOUT;
		else
			rv = tp__core_wait(&st->core,
			                   timeout_ms < 0 ? NULL : &dl);
		if (rv == TP_EOWNERDEAD)
			rv = TP_OK;
	}
	if (st->w[i].state == SLOT_NOTIFIED)
		rv = TP_OK;
	st->w[i].state = SLOT_FREE;
	st->w[i].pid = 0;
	return rv;
}

int tp_cond_wait(tp_cond *c, int timeout_ms)
{
	int rv, i;
	if (c == NULL)
		return TP_EINVAL;
	if (!tp_lock_is_mine(c->lock))
		return TP_EPERM;
	if ((rv = core_enter(&c->st->core)) != TP_OK)
		return rv;
	i = slot_claim(c->st);
	tp__core_unlock(&c->st->core);
	if (i < 0)
		return TP_EFULL;
	uint32_t depth = tp__lock_release_all(c->lock);
	if ((rv = core_enter(&c->st->core)) == TP_OK) {
		rv = slot_wait(c->st, i, timeout_ms);
		tp__core_unlock(&c->st->core);
	}
	int lr = tp__lock_restore(c->lock, depth);
	return lr != TP_OK ? lr : rv;
}

int tp_cond_wait_for(tp_cond *c, int (*pred)(void *arg), void *arg,
                     int timeout_ms)
{
	struct timespec dl, now;
	int rv = TP_OK;
	if (c == NULL || pred == NULL)
		return TP_EINVAL;
	tp__deadline_ts(&dl, timeout_ms);
	while (!pred(arg)) {
		int left = -1;
		if (timeout_ms >= 0) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			long long ms = (dl.tv_sec - now.tv_sec) * 1000LL +
			               (dl.tv_nsec - now.tv_nsec) / 1000000L;
			if (ms <= 0)
				return TP_ETIMEDOUT;
			left = (int)ms;
		}
		rv = tp_cond_wait(c, left);
		if (rv != TP_OK && rv != TP_ETIMEDOUT && rv != TP_EOWNERDEAD)
			return rv;
	}
	return TP_OK;
}

/* Marks the oldest live waiter notified; 0 if there is none. */
static int notify_one(struct tp__condst *st)
{
	pid_t self = getpid();
	for (;;) {
		int best = -1;
		for (int i = 0; i < COND_SLOTS; i++)
			if (st->w[i].state == SLOT_WAITING &&
			    (best < 0 || st->w[i].ticket < st->w[best].ticket))
				best = i;
		if (best < 0)
			return 0;
		pid_t pid = st->w[best].pid;
		if (pid == self || tp__pid_alive(pid)) {
			st->w[best].state = SLOT_NOTIFIED;
			return 1;
		}
		st->w[best].state = SLOT_FREE; /* its process died */
		st->w[best].pid = 0;
	}
}

int tp_cond_notify(tp_cond *c, unsigned n)
{
	unsigned done = 0;
	int rv;
	if (c == NULL)
		return TP_EINVAL;
	if (!tp_lock_is_mine(c->lock))
		return TP_EPERM;
	if ((rv = core_enter(&c->st->core)) != TP_OK)
		return rv;
	while (done < n && notify_one(c->st))
		done++;
	if (done > 0)
		tp__core_broadcast(&c->st->core);
	tp__core_unlock(&c->st->core);
	return TP_OK;
}

int tp_cond_notify_all(tp_cond *c)
{
	return tp_cond_notify(c, COND_SLOTS);
}

int tp_payload_add_cond(tp_payload *p, const tp_cond *c)
{
	return c == NULL ? TP_EINVAL : tp__sobj_add(p, TP__KCOND, c->seg, 0);
}

int tp_payload_get_cond(const tp_payload *p, size_t i, tp_cond **out)
{
	static const int kinds[] = {TP__KCOND, 0};
	struct tp__seg *seg;
	void *st;
	if (out == NULL)
		return TP_EINVAL;
	int rv = tp__sobj_get(p, i, kinds, sizeof(struct tp__condst), &seg, &st,
	                      NULL);
	if (rv != TP_OK)
		return rv;
	rv = cond_open(seg, st, out);
	tp__seg_unref(seg);
	return rv;
}
