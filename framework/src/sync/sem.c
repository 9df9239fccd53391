/*
 * sem.c - Semaphore, BoundedSemaphore and Event between processes.
 *
 * Both are a counter (or flag) guarded by a tp__core. Their whole state is
 * one word written in one store, so a process dying inside a call cannot
 * leave it half-updated: recovering the core mutex (TP_EOWNERDEAD from
 * tp__core_lock) needs no repair and is not reported to the caller.
 */
#include <stdlib.h>

#include "sobj.h"
#include "troupe/error.h"
#include "troupe/sync.h"

struct tp__semst {
	struct tp__shdr h;
	uint32_t value;
	uint32_t max; /* BoundedSemaphore: the initial value */
	struct tp__core core;
};

struct tp_sem {
	struct tp__seg *seg;
	struct tp__semst *st;
};

struct tp__eventst {
	struct tp__shdr h;
	uint32_t flag;
	uint32_t pad;
	struct tp__core core;
};

struct tp_event {
	struct tp__seg *seg;
	struct tp__eventst *st;
};

/* Creates a segment holding state of size bytes of kind; *st points at it. */
static int state_create(size_t size, int kind, struct tp__seg **seg, void **st)
{
	int rv = tp__seg_create(size, seg);
	if (rv != TP_OK)
		return rv;
	struct tp__shdr *h = (*seg)->base;
	h->magic = TP__SOBJ_MAGIC;
	h->kind = (uint32_t)kind;
	*st = h;
	return TP_OK;
}

/* Locks a core whose state needs no repair after a holder died. */
static int core_enter(struct tp__core *c)
{
	int rv = tp__core_lock(c);
	return rv == TP_EOWNERDEAD ? TP_OK : rv;
}

static int sem_create(tp_sem **out, unsigned value, int bounded)
{
	struct tp__seg *seg;
	struct tp__semst *st;
	int rv;
	if (out == NULL || value > INT32_MAX)
		return TP_EINVAL;
	tp_sem *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return TP_ENOMEM;
	rv = state_create(sizeof(*st), bounded ? TP__KBSEM : TP__KSEM, &seg,
	                  (void **)&st);
	if (rv == TP_OK) {
		st->value = value;
		st->max = bounded ? value : 0;
		if ((rv = tp__core_init(&st->core)) != TP_OK)
			tp__seg_unref(seg);
	}
	if (rv != TP_OK) {
		free(s);
		return rv;
	}
	s->seg = seg;
	s->st = st;
	*out = s;
	return TP_OK;
}

int tp_sem_new(tp_sem **out, unsigned value)
{
	return sem_create(out, value, 0);
}

int tp_bsem_new(tp_sem **out, unsigned value)
{
	return sem_create(out, value, 1);
}

void tp_sem_free(tp_sem *s)
{
	if (s == NULL)
		return;
	tp__seg_unref(s->seg);
	free(s);
}

int tp_sem_acquire(tp_sem *s, int timeout_ms)
{
	struct timespec dl;
	int rv;
	if (s == NULL)
		return TP_EINVAL;
	tp__deadline_ts(&dl, timeout_ms);
	if ((rv = core_enter(&s->st->core)) != TP_OK)
		return rv;
	while (s->st->value == 0 && rv == TP_OK) {
		if (timeout_ms == 0)
			rv = TP_ETIMEDOUT;
		else
			rv = tp__core_wait(&s->st->core,
			                   timeout_ms < 0 ? NULL : &dl);
		if (rv == TP_EOWNERDEAD)
			rv = TP_OK;
	}
	if (s->st->value > 0) { /* a release may race with our deadline */
		s->st->value--;
		rv = TP_OK;
	}
	tp__core_unlock(&s->st->core);
	return rv;
}

int tp_sem_release(tp_sem *s)
{
	int rv;
	if (s == NULL)
		return TP_EINVAL;
	if ((rv = core_enter(&s->st->core)) != TP_OK)
		return rv;
	if (s->st->h.kind == TP__KBSEM && s->st->value >= s->st->max) {
		rv = TP_EVALUE;
	} else {
		s->st->value++;
		tp__core_wake(&s->st->core, 1);
	}
	tp__core_unlock(&s->st->core);
	return rv;
}

int tp_sem_get_value(tp_sem *s, unsigned *out)
{
	if (s == NULL || out == NULL)
		return TP_EINVAL;
	*out = __atomic_load_n(&s->st->value, __ATOMIC_ACQUIRE);
	return TP_OK;
}

int tp_payload_add_sem(tp_payload *p, const tp_sem *s)
{
	if (s == NULL)
		return TP_EINVAL;
	return tp__sobj_add(p, (int)s->st->h.kind, s->seg, 0);
}

int tp_payload_get_sem(const tp_payload *p, size_t i, tp_sem **out)
{
	static const int kinds[] = {TP__KSEM, TP__KBSEM, 0};
	struct tp__seg *seg;
	void *st;
	if (out == NULL)
		return TP_EINVAL;
	int rv = tp__sobj_get(p, i, kinds, sizeof(struct tp__semst), &seg, &st,
	                      NULL);
	if (rv != TP_OK)
		return rv;
	if ((*out = calloc(1, sizeof(tp_sem))) == NULL) {
		tp__seg_unref(seg);
		return TP_ENOMEM;
	}
	(*out)->seg = seg;
	(*out)->st = st;
	return TP_OK;
}

/* ---- Event ---- */

int tp_event_new(tp_event **out)
{
	struct tp__seg *seg;
	struct tp__eventst *st;
	int rv;
	if (out == NULL)
		return TP_EINVAL;
	tp_event *e = calloc(1, sizeof(*e));
	if (e == NULL)
		return TP_ENOMEM;
	rv = state_create(sizeof(*st), TP__KEVENT, &seg, (void **)&st);
	if (rv == TP_OK && (rv = tp__core_init(&st->core)) != TP_OK)
		tp__seg_unref(seg);
	if (rv != TP_OK) {
		free(e);
		return rv;
	}
	e->seg = seg;
	e->st = st;
	*out = e;
	return TP_OK;
}

void tp_event_free(tp_event *e)
{
	if (e == NULL)
		return;
	tp__seg_unref(e->seg);
	free(e);
}

static int event_store(tp_event *e, uint32_t flag)
{
	int rv;
	if (e == NULL)
		return TP_EINVAL;
	if ((rv = core_enter(&e->st->core)) != TP_OK)
		return rv;
	__atomic_store_n(&e->st->flag, flag, __ATOMIC_RELEASE);
	if (flag)
		tp__core_broadcast(&e->st->core);
	tp__core_unlock(&e->st->core);
	return TP_OK;
}

int tp_event_set(tp_event *e)
{
	return event_store(e, 1);
}

int tp_event_clear(tp_event *e)
{
	return event_store(e, 0);
}

int tp_event_is_set(tp_event *e)
{
	return e != NULL && __atomic_load_n(&e->st->flag, __ATOMIC_ACQUIRE);
}

int tp_event_wait(tp_event *e, int timeout_ms)
{
	struct timespec dl;
	int rv;
	if (e == NULL)
		return TP_EINVAL;
	if (tp_event_is_set(e))
		return TP_OK;
	tp__deadline_ts(&dl, timeout_ms);
	if ((rv = core_enter(&e->st->core)) != TP_OK)
		return rv;
	while (!e->st->flag && rv == TP_OK) {
		if (timeout_ms == 0)
			rv = TP_ETIMEDOUT;
		else
			rv = tp__core_wait(&e->st->core,
			                   timeout_ms < 0 ? NULL : &dl);
		if (rv == TP_EOWNERDEAD)
			rv = TP_OK;
	}
	if (e->st->flag)
		rv = TP_OK;
	tp__core_unlock(&e->st->core);
	return rv;
}

int tp_payload_add_event(tp_payload *p, const tp_event *e)
{
	return e == NULL ? TP_EINVAL : tp__sobj_add(p, TP__KEVENT, e->seg, 0);
}

int tp_payload_get_event(const tp_payload *p, size_t i, tp_event **out)
{
	static const int kinds[] = {TP__KEVENT, 0};
	struct tp__seg *seg;
	void *st;
	if (out == NULL)
		return TP_EINVAL;
	int rv = tp__sobj_get(p, i, kinds, sizeof(struct tp__eventst), &seg,
	                      &st, NULL);
	if (rv != TP_OK)
		return rv;
	if ((*out = calloc(1, sizeof(tp_event))) == NULL) {
		tp__seg_unref(seg);
		return TP_ENOMEM;
	}
	(*out)->seg = seg;
	(*out)->st = st;
	return TP_OK;
}
