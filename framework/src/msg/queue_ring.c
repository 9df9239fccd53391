/*
 * queue_ring.c - the shared-memory side of tp_queue: the two side locks
 * and their recovery after a holder died, journaled publication, consumer
 * leases and the byte ring. See queue_int.h for the layout.
 *
 * Why completion and not rollback: with a lock per side, the other side
 * may already have acted on a published counter (a consumer took the item
 * whose tail store the dead producer made; a producer reused the space a
 * dead consumer's head store freed). So a recovered side never moves a
 * counter back: it completes the journaled publication. Both stores are
 * idempotent, and a journaled put's record bytes are complete (they are
 * written before the journal is armed).
 *
 * No glibc condition variable anywhere: waits are on tp__wpoint futex
 * words (rt/pshared.h), which hold no state a killed process can leave behind.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "queue_int.h"
#include "troupe/error.h"

int tp__q_init(struct q_shared *s, const tp_queue_opts *o, size_t ring_off)
{
	int rv;
	s->kind = (uint32_t)o->kind;
	s->maxsize = o->maxsize;
	s->cap = o->capacity;
	s->ring_off = ring_off;
	s->max_item = o->max_item;
	if ((rv = tp__mutex_init(&s->prod.m)) != TP_OK ||
	    (rv = tp__mutex_init(&s->cons.m)) != TP_OK)
		return rv;
	s->cons.jr.slot = -1;
	__atomic_store_n(&s->magic, TP_Q_MAGIC, __ATOMIC_RELEASE);
	return TP_OK;
}

void tp__q_handle(tp_queue *q, struct q_shared *s, size_t map_size,
                  const char *name)
{
	q->s = s;
	q->ring = (unsigned char *)s + s->ring_off;
	q->map_size = map_size;
	snprintf(q->name, sizeof(q->name), "%s", name);
	q->slot = -1;
	q->slot_pid = 0;
}

void tp__q_wake_all(struct q_shared *s)
{
	tp__wpoint_broadcast(&s->not_empty);
	tp__wpoint_broadcast(&s->not_full);
	tp__wpoint_broadcast(&s->all_done);
}

/* A hint to the CPU that this is a spin loop. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* How many times a waiter checks before it sleeps (each check is
 * followed by a few pause instructions). */
#define Q_SPINS 256

int tp__q_spin(tp_queue *q, int (*ready)(tp_queue *, uint64_t), uint64_t arg)
{
	for (int i = 0; i < Q_SPINS; i++) {
		if (ready(q, arg) ||
		    __atomic_load_n(&q->s->closed, __ATOMIC_RELAXED))
			return 1;
		for (int k = 0; k < 8; k++)
			cpu_relax();
	}
	return 0;
}

/* A producer died holding the lock: complete its journaled put. */
static void recover_prod(struct q_shared *s)
{
	struct q_jr *jr = &s->prod.jr;
	if (jr->active) {
		__atomic_store_n(&s->p.nput, jr->n, __ATOMIC_RELEASE);
		__atomic_store_n(&s->p.tail, jr->pos, __ATOMIC_RELEASE);
		jr->active = 0;
	}
}

/* A consumer died holding the lock: if its head store happened, complete
 * the get and leave the item in the dead consumer's lease (reported as
 * lost when the slot is reaped); else nothing was taken. */
static void recover_cons(struct q_shared *s)
{
	struct q_jr *jr = &s->cons.jr;
	if (jr->active) {
		if (__atomic_load_n(&s->c.head, __ATOMIC_ACQUIRE) == jr->pos) {
			__atomic_store_n(&s->c.nget, jr->n, __ATOMIC_RELEASE);
			if (jr->slot >= 0 && jr->slot < TP_Q_SLOTS)
				__atomic_store_n(&s->slots[jr->slot].held,
				                 jr->n, __ATOMIC_RELEASE);
		}
		jr->active = 0;
	}
}

int tp__q_lock(tp_queue *q, struct q_side *side, const struct timespec *dl)
{
	struct q_shared *s = q->s;
	int rv = tp__mutex_lock_until(&side->m, dl);
	if (rv != TP_EOWNERDEAD)
		return rv;
	if (side == &s->prod)
		recover_prod(s);
	else
		recover_cons(s);
	__atomic_add_fetch(&s->recovered, 1, __ATOMIC_RELAXED);
	/* the dead holder may have published without waking anyone */
	tp__q_wake_all(s);
	return TP_OK;
}

void tp__q_unlock(struct q_side *side)
{
	pthread_mutex_unlock(&side->m);
}

int tp__q_settle(tp_queue *q)
{
	struct q_shared *s = q->s;
	if (!__atomic_load_n(&s->prod.jr.active, __ATOMIC_ACQUIRE))
		return 0;
	uint64_t before = __atomic_load_n(&s->recovered, __ATOMIC_RELAXED);
	struct timespec now; /* a deadline already past: never waits */
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (tp__q_lock(q, &s->prod, &now) != TP_OK)
		return 0; /* a live producer, about to finish on its own */
	tp__q_unlock(&s->prod);
	return __atomic_load_n(&s->recovered, __ATOMIC_RELAXED) != before;
}

/* Compiler fences keep the journal stores ahead of the stores they
 * protect: a dead process's stores are all visible to the survivor, only
 * their order matters. */
#define JR_FENCE() __atomic_signal_fence(__ATOMIC_SEQ_CST)

void tp__q_publish_put(struct q_shared *s, uint64_t tail, uint64_t nput)
{
	struct q_jr *jr = &s->prod.jr;
	jr->pos = tail;
	jr->n = nput;
	JR_FENCE();
	jr->active = 1;
	JR_FENCE();
	/* nput first: an item visible through tail is always counted (a
	 * consumer may task_done it before this producer goes on) */
	__atomic_store_n(&s->p.nput, nput, __ATOMIC_RELEASE);
	__atomic_store_n(&s->p.tail, tail, __ATOMIC_RELEASE);
	JR_FENCE();
	jr->active = 0;
	JR_FENCE();
}

void tp__q_publish_get(struct q_shared *s, uint64_t head, uint64_t nget,
                       int slot)
{
	struct q_jr *jr = &s->cons.jr;
	jr->pos = head;
	jr->n = nget;
	jr->slot = slot;
	JR_FENCE();
	jr->active = 1;
	JR_FENCE();
	__atomic_store_n(&s->c.head, head, __ATOMIC_RELEASE);
	__atomic_store_n(&s->c.nget, nget, __ATOMIC_RELEASE);
	if (slot >= 0)
		__atomic_store_n(&s->slots[slot].held, nget, __ATOMIC_RELEASE);
	JR_FENCE();
	jr->active = 0;
	JR_FENCE();
}

/* Reaps slot i if its process is gone: counts what it held as lost and
 * frees it (or hands it to the caller: claim != 0). 1 if reaped. */
static int reap_slot(struct q_shared *s, int i, int32_t claim)
{
	struct q_slot *sl = &s->slots[i];
	int32_t pid = __atomic_load_n(&sl->pid, __ATOMIC_ACQUIRE);
	if (pid == 0 || tp__pid_alive(pid))
		return 0;
	/* Take it over first: a reaper killed after this leaves the slot
	 * to the next reaper, with what it held still counted once. */
	if (!__atomic_compare_exchange_n(&sl->pid, &pid, claim ? claim : -1, 0,
	                                 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return 0;
	if (__atomic_exchange_n(&sl->held, 0, __ATOMIC_ACQ_REL) != 0)
		__atomic_add_fetch(&s->lost, 1, __ATOMIC_RELAXED);
	if (!claim) { /* unless a claimer took it meanwhile */
		int32_t mine = -1;
		__atomic_compare_exchange_n(&sl->pid, &mine, 0, 0,
		                            __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
	}
	return 1;
}

void tp__q_reap(struct q_shared *s)
{
	for (int i = 0; i < TP_Q_SLOTS; i++)
		reap_slot(s, i, 0);
}

static int claim_slot(struct q_shared *s, int32_t me)
{
	for (int i = 0; i < TP_Q_SLOTS; i++) {
		int32_t zero = 0;
		if (__atomic_compare_exchange_n(&s->slots[i].pid, &zero, me, 0,
		                                __ATOMIC_ACQ_REL,
		                                __ATOMIC_ACQUIRE))
			return i;
	}
	for (int i = 0; i < TP_Q_SLOTS; i++)
		if (reap_slot(s, i, me))
			return i;
	return -1;
}

int tp__q_slot(tp_queue *q)
{
	pid_t me = tp__pid();
	if (q->slot_pid != me) {
		q->slot = claim_slot(q->s, (int32_t)me);
		q->slot_pid = me;
	}
	if (q->slot >= 0)
		__atomic_store_n(&q->s->slots[q->slot].held, 0,
		                 __ATOMIC_RELEASE);
	return q->slot;
}

uint64_t tp__q_rec(uint64_t n)
{
	return TP_Q_HDR + ((n + 7) & ~(uint64_t)7);
}

void tp__q_ring_write(tp_queue *q, uint64_t at, const void *src, size_t n)
{
	uint64_t cap = q->s->cap, pos = at % cap;
	size_t first = (size_t)(cap - pos) < n ? (size_t)(cap - pos) : n;
	memcpy(q->ring + pos, src, first);
	if (first < n)
		memcpy(q->ring, (const char *)src + first, n - first);
}

void tp__q_ring_read(tp_queue *q, uint64_t at, void *dst, size_t n)
{
	uint64_t cap = q->s->cap, pos = at % cap;
	size_t first = (size_t)(cap - pos) < n ? (size_t)(cap - pos) : n;
	memcpy(dst, q->ring + pos, first);
	if (first < n)
		memcpy((char *)dst + first, q->ring, n - first);
}
