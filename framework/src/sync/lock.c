/*
 * lock.c - Lock and RLock between processes.
 *
 * A lock is a robust, process-shared pthread mutex in shared memory plus
 * (RLock) a recursion count. The mutex is what makes a dead holder
 * visible: the kernel hands the next acquirer EOWNERDEAD, we make the
 * mutex consistent and return TP_EOWNERDEAD with the lock held. The
 * holder's thread id (in the mutex's futex word) lets release tell "not
 * locked" (TP_EVALUE, as Python) from "locked by someone else" (TP_EPERM),
 * lets an RLock recurse without touching the mutex, and lets a Condition
 * check that its caller holds the lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lock_int.h"
#include "troupe/error.h"

#define OWNER(st) tp__lock_owner(st)

int tp__lock_init(struct tp__lockst *st, int recursive)
{
	st->h.magic = TP__SOBJ_MAGIC;
	st->h.kind = recursive ? TP__KRLOCK : TP__KLOCK;
	st->count = 0;
	return tp__mutex_init(&st->m);
}

int tp__lock_wrap(struct tp__seg *seg, struct tp__lockst *st, tp_lock **out)
{
	tp_lock *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return TP_ENOMEM;
	l->seg = tp__seg_ref(seg);
	l->st = st;
	l->recursive = st->h.kind == TP__KRLOCK;
	*out = l;
	return TP_OK;
}

static int lock_create(tp_lock **out, int recursive)
{
	struct tp__seg *seg;
	int rv;
	if (out == NULL)
		return TP_EINVAL;
	if ((rv = tp__seg_create(sizeof(struct tp__lockst), &seg)) != TP_OK)
		return rv;
	if ((rv = tp__lock_init(seg->base, recursive)) == TP_OK)
		rv = tp__lock_wrap(seg, seg->base, out);
	tp__seg_unref(seg);
	return rv;
}

int tp_lock_new(tp_lock **out)
{
	return lock_create(out, 0);
}

int tp_rlock_new(tp_lock **out)
{
	return lock_create(out, 1);
}

void tp_lock_free(tp_lock *l)
{
	if (l == NULL)
		return;
	tp__seg_unref(l->seg);
	free(l);
}

/* Waits for a lock that a trylock found busy. */
static int lock_wait(struct tp__lockst *st, int timeout_ms)
{
	struct timespec dl;
	if (timeout_ms < 0)
		return pthread_mutex_lock(&st->m);
	if (timeout_ms == 0)
		return EBUSY;
	tp__deadline_ts(&dl, timeout_ms);
	return pthread_mutex_clocklock(&st->m, CLOCK_MONOTONIC, &dl);
}

/*
 * The first move is a trylock, not a look at the owner: reading the
 * contended line before the compare-and-swap would cost a second
 * coherence transfer on every contended acquire. Only a busy lock is
 * checked for being the caller's own (an RLock recursing, or a Lock that
 * would deadlock).
 */
int tp_lock_acquire(tp_lock *l, int timeout_ms)
{
	if (l == NULL)
		return TP_EINVAL;
	struct tp__lockst *st = l->st;
	int rv = pthread_mutex_trylock(&st->m);
	if (rv == EBUSY) {
		if ((pid_t)OWNER(st) == tp__tid()) {
			if (l->recursive) {
				st->count++;
				return TP_OK;
			}
			if (timeout_ms < 0)
				return TP_ESTATE;
		}
		rv = lock_wait(st, timeout_ms);
	}
	if (rv == EOWNERDEAD) {
		pthread_mutex_consistent(&st->m);
		rv = TP_EOWNERDEAD;
	} else if (rv == EBUSY || rv == ETIMEDOUT) {
		return TP_ETIMEDOUT;
	} else if (rv != 0) {
		return tp_err_errno(rv);
	}
	st->count = 1;
	return rv;
}

int tp_lock_release(tp_lock *l)
{
	if (l == NULL)
		return TP_EINVAL;
	struct tp__lockst *st = l->st;
	pid_t owner = (pid_t)OWNER(st);
	if (owner != tp__tid())
		return (owner == 0 && !l->recursive) ? TP_EVALUE : TP_EPERM;
	if (--st->count > 0)
		return TP_OK;
	pthread_mutex_unlock(&st->m);
	return TP_OK;
}

int tp_lock_is_recursive(const tp_lock *l)
{
	return l != NULL && l->recursive;
}

int tp_lock_is_mine(const tp_lock *l)
{
	return l != NULL && (pid_t)OWNER(l->st) == tp__tid();
}

uint32_t tp__lock_release_all(tp_lock *l)
{
	uint32_t depth = l->st->count;
	l->st->count = 0;
	pthread_mutex_unlock(&l->st->m);
	return depth;
}

int tp__lock_restore(tp_lock *l, uint32_t depth)
{
	int rv = pthread_mutex_lock(&l->st->m);
	if (rv == EOWNERDEAD) {
		pthread_mutex_consistent(&l->st->m);
		rv = TP_EOWNERDEAD;
	} else if (rv != 0) {
		return tp_err_errno(rv);
	}
	l->st->count = depth;
	return rv;
}

int tp_payload_add_lock(tp_payload *p, const tp_lock *l)
{
	if (l == NULL)
		return TP_EINVAL;
	return tp__sobj_add(p, l->st->h.kind, l->seg,
	                    (size_t)((char *)l->st - (char *)l->seg->base));
}

int tp_payload_get_lock(const tp_payload *p, size_t i, tp_lock **out)
{
	static const int kinds[] = {TP__KLOCK, TP__KRLOCK, 0};
	struct tp__seg *seg;
	void *st;
	int rv;
	if (out == NULL)
		return TP_EINVAL;
	rv = tp__sobj_get(p, i, kinds, sizeof(struct tp__lockst), &seg, &st,
	                  NULL);
	if (rv != TP_OK)
		return rv;
	rv = tp__lock_wrap(seg, st, out);
	tp__seg_unref(seg);
	return rv;
}

void tp__lock_where(const tp_lock *l, char *name, uint64_t *offset)
{
	memcpy(name, l->seg->name, TP_SHM_NAME_MAX);
	*offset = (uint64_t)((char *)l->st - (char *)l->seg->base);
}

int tp__lock_attach(const char *name, uint64_t offset, tp_lock **out)
{
	struct tp__seg *seg;
	struct tp__lockst *st;
	char buf[TP_SHM_NAME_MAX];
	int rv;
	memcpy(buf, name, sizeof(buf));
	buf[sizeof(buf) - 1] = '\0';
	if ((rv = tp__seg_attach(buf, &seg)) != TP_OK)
		return rv;
	st = tp__sobj_at(seg, offset, TP__KLOCK, sizeof(*st));
	if (st == NULL)
		st = tp__sobj_at(seg, offset, TP__KRLOCK, sizeof(*st));
	rv = st == NULL ? TP_EDECODE : tp__lock_wrap(seg, st, out);
	tp__seg_unref(seg);
	return rv;
}
