/*
 * barrier.c - Barrier between processes.
 *
 * A round is a generation number: waiters record the generation they
 * arrived in and sleep until it changes (released) or the barrier breaks.
 * The segment also records the pid of each waiting party. Waiters sleep in
 * bounded slices and, between slices, check that every other waiting
 * party is still alive: a party killed while waiting breaks the barrier
 * for the others (TP_EBROKEN) instead of leaving them to wait for an
 * arrival that can no longer happen. A party that dies inside the barrier's
 * own mutex (the robust mutex reports it) breaks it as well, as does an
 * action that kills its process: the same rule as Python, where an action
 * that raises breaks the barrier.
 *
 * An action given without an argument travels with the barrier to
 * processes running the same program image (children forked directly or
 * by the fork server: function addresses are the same there); it is
 * recorded with the image's identity and only used where that matches.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sobj.h"
#include "troupe/error.h"
#include "troupe/sync.h"

#define MAX_PARTIES 4096

/* Identifies a program image: the executable file and where this library
 * is loaded. A function pointer from one process is valid in another with
 * the same image: children forked directly or by the fork server. */
struct image {
	uint64_t dev, ino, anchor;
};

static void image_get(struct image *im)
{
	struct stat st;
	memset(im, 0, sizeof(*im));
	if (stat("/proc/self/exe", &st) == 0) {
		im->dev = (uint64_t)st.st_dev;
		im->ino = (uint64_t)st.st_ino;
	}
	im->anchor = (uint64_t)(uintptr_t)&tp_barrier_new;
}

static int image_same(const struct image *a)
{
	struct image b;
	image_get(&b);
	return a->ino != 0 && memcmp(a, &b, sizeof(b)) == 0;
}

struct tp__barst {
	struct tp__shdr h;
	uint32_t parties;
	uint32_t count;
	uint32_t broken;
	int32_t timeout_ms;
	uint64_t gen;
	uint64_t reset_gen; /* generation g cut by reset() is stored as g+1 */
	uint64_t act_fn;    /* the action (arg NULL), valid in act_image */
	struct image act_image;
	struct tp__core core;
	int32_t pids[];
};

struct tp_barrier {
	struct tp__seg *seg;
	struct tp__barst *st;
	void (*action)(void *);
	void *arg;
};

static size_t bar_size(uint32_t parties)
{
	return sizeof(struct tp__barst) + parties * sizeof(int32_t);
}

int tp_barrier_new(tp_barrier **out, unsigned parties, void (*action)(void *),
                   void *arg, int timeout_ms)
{
	struct tp__seg *seg;
	int rv;
	if (out == NULL || parties < 1 || parties > MAX_PARTIES ||
	    timeout_ms < -1)
		return TP_EINVAL;
	tp_barrier *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return TP_ENOMEM;
	if ((rv = tp__seg_create(bar_size(parties), &seg)) != TP_OK) {
		free(b);
		return rv;
	}
	struct tp__barst *st = seg->base;
	st->h.magic = TP__SOBJ_MAGIC;
	st->h.kind = TP__KBARRIER;
	st->parties = parties;
	st->timeout_ms = timeout_ms;
	if ((rv = tp__core_init(&st->core)) != TP_OK) {
		tp__seg_unref(seg);
		free(b);
		return rv;
	}
	b->seg = seg;
	b->st = st;
	b->action = action;
	b->arg = arg;
	if (action != NULL && arg == NULL) {
		st->act_fn = (uint64_t)(uintptr_t)action;
		image_get(&st->act_image);
	}
	*out = b;
	return TP_OK;
}

void tp_barrier_free(tp_barrier *b)
{
	if (b == NULL)
		return;
	tp__seg_unref(b->seg);
	free(b);
}

void tp_barrier_set_action(tp_barrier *b, void (*action)(void *), void *arg)
{
	if (b != NULL) {
		b->action = action;
		b->arg = arg;
	}
}

static void bar_break(struct tp__barst *st)
{
	st->broken = 1;
	tp__core_broadcast(&st->core);
}

/* Locks the core; a holder that died inside breaks the barrier. */
static int bar_enter(struct tp__barst *st)
{
	int rv = tp__core_lock(&st->core);
	if (rv == TP_EOWNERDEAD) {
		bar_break(st);
		rv = TP_OK;
	}
	return rv;
}

/* 1 if a waiting party other than this process has died. */
static int party_died(struct tp__barst *st)
{
	pid_t self = getpid();
	for (uint32_t i = 0; i < st->count && i < st->parties; i++)
		if (st->pids[i] != self && !tp__pid_alive(st->pids[i]))
			return 1;
	return 0;
}

/* Removes one entry of this process from the waiting parties. */
static void party_leave(struct tp__barst *st)
{
	pid_t self = getpid();
	for (uint32_t i = 0; i < st->count && i < st->parties; i++) {
		if (st->pids[i] == self) {
			st->pids[i] = st->pids[st->count - 1];
			st->count--;
			return;
		}
	}
}

/* Waits for the round gen to end; core held. */
static int bar_sleep(struct tp__barst *st, uint64_t gen, int timeout_ms)
{
	struct timespec dl;
	tp__deadline_ts(&dl, timeout_ms);
	for (;;) {
		if (st->gen != gen)
			return st->reset_gen == gen + 1 ? TP_EBROKEN : TP_OK;
		if (st->broken) {
			party_leave(st);
			return TP_EBROKEN;
		}
		int rv = tp__core_wait(&st->core, timeout_ms < 0 ? NULL : &dl);
		if (rv == TP_EOWNERDEAD) {
			bar_break(st);
		} else if (rv == TP_ETIMEDOUT && st->gen == gen) {
			party_leave(st);
			bar_break(st);
			return TP_ETIMEDOUT;
		} else if (st->gen == gen && party_died(st)) {
			bar_break(st);
		}
	}
}

int tp_barrier_wait(tp_barrier *b, int timeout_ms, unsigned *index)
{
	int rv;
	if (b == NULL || timeout_ms < TP_BARRIER_DEFAULT)
		return TP_EINVAL;
	struct tp__barst *st = b->st;
	if (timeout_ms == TP_BARRIER_DEFAULT)
		timeout_ms = st->timeout_ms;
	if ((rv = bar_enter(st)) != TP_OK)
		return rv;
	if (st->broken || st->count >= st->parties) {
		rv = st->broken ? TP_EBROKEN : TP_EFULL;
		tp__core_unlock(&st->core);
		return rv;
	}
	uint32_t idx = st->count++;
	st->pids[idx] = (int32_t)getpid();
	if (st->count == st->parties) {
		if (b->action != NULL)
			b->action(b->arg);
		st->count = 0;
		st->gen++;
		tp__core_broadcast(&st->core);
	} else {
		rv = bar_sleep(st, st->gen, timeout_ms);
	}
	tp__core_unlock(&st->core);
	if (rv == TP_OK && index != NULL)
		*index = idx;
	return rv;
}

int tp_barrier_reset(tp_barrier *b)
{
	int rv;
	if (b == NULL)
		return TP_EINVAL;
	if ((rv = bar_enter(b->st)) != TP_OK)
		return rv;
	if (b->st->count > 0) {
		b->st->reset_gen = b->st->gen + 1;
		b->st->gen++;
		b->st->count = 0;
	}
	b->st->broken = 0;
	tp__core_broadcast(&b->st->core);
	tp__core_unlock(&b->st->core);
	return TP_OK;
}

int tp_barrier_abort(tp_barrier *b)
{
	int rv;
	if (b == NULL)
		return TP_EINVAL;
	if ((rv = bar_enter(b->st)) != TP_OK)
		return rv;
	bar_break(b->st);
	tp__core_unlock(&b->st->core);
	return TP_OK;
}

unsigned tp_barrier_parties(tp_barrier *b)
{
	return b == NULL ? 0 : b->st->parties;
}

unsigned tp_barrier_n_waiting(tp_barrier *b)
{
	if (b == NULL)
		return 0;
	unsigned n = __atomic_load_n(&b->st->count, __ATOMIC_ACQUIRE);
	return n;
}

int tp_barrier_broken(tp_barrier *b)
{
	return b != NULL && __atomic_load_n(&b->st->broken, __ATOMIC_ACQUIRE);
}

int tp_payload_add_barrier(tp_payload *p, const tp_barrier *b)
{
	return b == NULL ? TP_EINVAL : tp__sobj_add(p, TP__KBARRIER, b->seg, 0);
}

int tp_payload_get_barrier(const tp_payload *p, size_t i, tp_barrier **out)
{
	static const int kinds[] = {TP__KBARRIER, 0};
	struct tp__seg *seg;
	void *st;
	if (out == NULL)
		return TP_EINVAL;
	int rv = tp__sobj_get(p, i, kinds, sizeof(struct tp__barst), &seg, &st,
	                      NULL);
	if (rv != TP_OK)
		return rv;
	struct tp__barst *bs = st;
	if (bs->parties < 1 || bs->parties > MAX_PARTIES ||
	    seg->size < bar_size(bs->parties)) {
		tp__seg_unref(seg);
		return TP_EDECODE;
	}
	if ((*out = calloc(1, sizeof(tp_barrier))) == NULL) {
		tp__seg_unref(seg);
		return TP_ENOMEM;
	}
	(*out)->seg = seg;
	(*out)->st = bs;
	if (bs->act_fn != 0 && image_same(&bs->act_image))
		(*out)->action = (void (*)(void *))(uintptr_t)bs->act_fn;
	return TP_OK;
}
