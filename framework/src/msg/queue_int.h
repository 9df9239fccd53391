/*
 * queue_int.h - internal: the shared-memory layout of a tp_queue and the
 * locking/ring primitives (queue_ring.c) that queue.c (put/get) and
 * queue_ctl.c (sizes, close, join, handles) build the API from.
 *
 * The segment is one struct q_shared followed by the ring. The ring holds
 * records: an 8-byte header (length, and a check word that also says
 * whether the body is the item or a reference to an out-of-band segment)
 * then the body, padded to 8 bytes. head and tail are byte counters that
 * only grow; a position in the ring is counter % cap.
 *
 * Two sides, two locks: producers serialise on the producer lock and only
 * write tail and nput; consumers serialise on the consumer lock and only
 * write head and nget. So one producer and one consumer never contend, and
 * the uncontended path makes no system call (a futex wake only when a
 * waiter has flagged itself, see tp__wpoint in rt/pshared.h).
 *
 * Kill safety: a record's bytes are written before it is published. Each
 * side journals the values it is about to publish (two stores) and the
 * next locker of a lock whose holder died (EOWNERDEAD) completes them
 * (q_recover_*): a put whose record was fully written is delivered; a get
 * whose head store happened is completed and its item is reported lost
 * through the dead consumer's lease slot (below).
 *
 * Leases: every consumer process claims a slot (pid); a get stores the
 * taken item's sequence number in it, and the next call of that consumer
 * clears it. A slot whose process died with an item in it is counted in
 * stats.lost: the item may have died with its consumer (it was handed out,
 * and the consumer never came back for another).
 */
#ifndef TP_QUEUE_INT_H
#define TP_QUEUE_INT_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "payload_int.h"
#include "shm.h"
#include "clock.h"
#include "pshared.h"
#include "troupe/queue.h"

#define TP_Q_MAGIC     0x74707132u /* "tpq2" */
#define TP_Q_HDR       8u
#define TP_Q_CHECK     0x5a5aa5a5u /* body is the item */
#define TP_Q_CHECK_OOB 0x3c3cc3c3u /* body is a struct q_oob */
#define TP_Q_SLOTS     128
#define TP_Q_LINE      64

/* The body of an out-of-band record: the item lives in its own segment. */
struct q_oob {
	uint64_t len; /* encoded item bytes at the start of the segment */
	char name[TP_SHM_NAME_MAX];
};

/* A consumer's lease: pid 0 is a free slot; held is the sequence number
 * (nget after the get, so never 0) of the item last handed out. */
struct q_slot {
	int32_t pid;
	uint32_t pad;
	uint64_t held;
};

/* A side's journal: the values being published, so that whoever recovers
 * the side's lock can complete the publication. */
struct q_jr {
	uint64_t active;
	uint64_t pos, n; /* new tail/nput, or new head/nget */
	int64_t slot;    /* consumer: the lease slot, or -1 */
};

struct q_side {
	pthread_mutex_t m;
	struct q_jr jr;
} __attribute__((aligned(TP_Q_LINE)));

struct q_shared {
	uint32_t magic;
	uint32_t kind;
	uint64_t maxsize;  /* items, 0: unlimited */
	uint64_t cap;      /* ring bytes, a multiple of 8 */
	uint64_t ring_off; /* where the ring starts in the segment */
	uint64_t max_item; /* largest encoded item accepted */
	uint32_t closed;
	uint32_t pad;
	struct q_side prod, cons;
	/* published by producers, read by consumers */
	struct {
		uint64_t tail, nput;
	} __attribute__((aligned(TP_Q_LINE))) p;
	/* published by consumers, read by producers */
	struct {
		uint64_t head, nget;
	} __attribute__((aligned(TP_Q_LINE))) c;
	struct tp__wpoint not_empty __attribute__((aligned(TP_Q_LINE)));
	struct tp__wpoint not_full __attribute__((aligned(TP_Q_LINE)));
	struct tp__wpoint all_done __attribute__((aligned(TP_Q_LINE)));
	uint64_t ndone; /* JoinableQueue: task_done calls (+ rejected items) */
	uint64_t rejected, recovered, lost, oob;
	struct q_slot slots[TP_Q_SLOTS] __attribute__((aligned(TP_Q_LINE)));
};

struct tp_queue {
	struct q_shared *s;
	unsigned char *ring;
	size_t map_size;
	char name[TP_SHM_NAME_MAX];
	/* Per-handle caches of the other side's counters (they only grow, so
	 * a stale value is conservative); each under its side's lock. */
	uint64_t c_head, c_nget; /* producer side */
	uint64_t c_tail;         /* consumer side */
	/* This process's lease slot (-1: none) and who claimed it (a forked
	 * child using its parent's handle claims its own). */
	int slot;
	pid_t slot_pid;
};

/* Ring primitives (queue_ring.c). */
int tp__q_init(struct q_shared *s, const tp_queue_opts *o, size_t ring_off);
void tp__q_handle(tp_queue *q, struct q_shared *s, size_t map_size,
                  const char *name);

/*
 * Takes a side's lock (prod or cons) before the absolute CLOCK_MONOTONIC
 * deadline dl (NULL: none), recovering a dead holder's half-done
 * publication. TP_OK, TP_ETIMEDOUT, or a wrapped system error.
 */
int tp__q_lock(tp_queue *q, struct q_side *side, const struct timespec *dl);
/* A producer killed between its two publishing stores (nput, then tail)
 * leaves nput one ahead of what consumers see until the producers' lock
 * is taken again. When its journal is open and its holder died, takes
 * the lock, which completes the put (readers of nput and a consumer that
 * found the queue empty call this first). 1 when it completed one. */
int tp__q_settle(tp_queue *q);
void tp__q_unlock(struct q_side *side);

/* Publishes (tail, nput) or (head, nget) journaled; side lock held. */
void tp__q_publish_put(struct q_shared *s, uint64_t tail, uint64_t nput);
void tp__q_publish_get(struct q_shared *s, uint64_t head, uint64_t nget,
                       int slot);

/*
 * Spins a few microseconds until ready(q, arg) or the queue is closed,
 * before a waiter goes to sleep: a peer on another CPU usually answers
 * within that time, and a sleep costs the peer a wake system call and
 * this side a context switch. 1 if ready (or closed).
 */
int tp__q_spin(tp_queue *q, int (*ready)(tp_queue *, uint64_t), uint64_t arg);

/* Wakes every waiter of every wait point (close, recovery). */
void tp__q_wake_all(struct q_shared *s);

/* Leases: the caller's slot (claimed on first use; -1 if the table is
 * full), clearing what it held; and reaping of dead consumers' slots
 * (counted in s->lost). */
int tp__q_slot(tp_queue *q);
void tp__q_reap(struct q_shared *s);

/*
 * The direct codec of one-value items (queue_codec.c). enc_prefix writes
 * the start of the encoding of a payload holding v into out (at most
 * TP_Q_PREFIX_MAX bytes): all of it but a string's or bytes' data, which
 * *data and *dlen point at (the item is the prefix, then the data). It
 * returns the prefix's length, or 0 for a user message (use protobuf-c).
 * dec_one reads len bytes at buf as a payload of exactly one value of
 * type: 1 with *v (data borrowed from buf), or 0 if they are anything
 * else (use protobuf-c, which knows the rest).
 */
#define TP_Q_PREFIX_MAX 24
size_t tp__q_enc_prefix(const struct tp_value *v, unsigned char *out,
                        const void **data, size_t *dlen);
int tp__q_dec_one(const void *buf, size_t len, tp_type type,
                  struct tp_value *v);

void tp__q_ring_write(tp_queue *q, uint64_t at, const void *src, size_t n);
void tp__q_ring_read(tp_queue *q, uint64_t at, void *dst, size_t n);
/* Size of the record of an n-byte body. */
uint64_t tp__q_rec(uint64_t n);

#endif
