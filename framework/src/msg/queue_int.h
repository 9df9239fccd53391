/*
 * queue_int.h - internal: the shared-memory layout of a tp_queue and the
 * locking/ring primitives (queue_ring.c) that queue.c (put/get) and
 * queue_ctl.c (sizes, close, join, handles) build the API from.
 *
 * The segment is one struct q_shared followed by the ring. The ring holds
 * records: an 8-byte header (length, and its complement as a check) then
 * the protobuf-encoded payload, padded to 8 bytes. head and tail are byte
 * counters that only grow; a position in the ring is counter % cap. Every
 * change of head/tail/count/unfinished is journaled first (q_journal), so a
 * process killed in the middle of one is rolled back by whoever takes the
 * robust mutex next (EOWNERDEAD). Item bytes are copied before head/tail
 * move, so a rollback never exposes a half-written item.
 */
#ifndef TP_QUEUE_INT_H
#define TP_QUEUE_INT_H

#include <pthread.h>
#include <stdint.h>

#include "shm.h"
#include "troupe/queue.h"

#define TP_Q_MAGIC 0x74707131u /* "tpq1" */
#define TP_Q_HDR   8u
#define TP_Q_CHECK 0x5a5aa5a5u

struct q_journal {
	uint64_t active;
	uint64_t head, tail, count, unfinished;
};

struct q_shared {
	uint32_t magic;
	uint32_t kind;
	uint64_t maxsize; /* items, 0: unlimited */
	uint64_t cap;     /* ring bytes, a multiple of 8 */
	uint64_t ring_off;
	pthread_mutex_t mu;
	pthread_cond_t not_empty, not_full, all_done;
	uint64_t head, tail, count, unfinished;
	uint32_t closed;
	uint32_t pad;
	struct q_journal jr;
	uint64_t puts, gets, rejected, recovered;
};

struct tp_queue {
	struct q_shared *s;
	unsigned char *ring;
	size_t map_size;
	char name[TP_SHM_NAME_MAX];
};

/* Ring primitives (queue_ring.c); all but q_init need the lock held. */
int tp__q_init(struct q_shared *s, tp_queue_kind kind, size_t maxsize,
               size_t cap, size_t ring_off);
int tp__q_lock(tp_queue *q);
void tp__q_unlock(tp_queue *q);
/* Waits on c until woken, the deadline (ns, CLOCK_MONOTONIC; <0: none)
 * passes (TP_ETIMEDOUT) or a slice ends (TP_OK: re-check the state). */
int tp__q_wait(tp_queue *q, pthread_cond_t *c, int64_t deadline);
int64_t tp__q_deadline(int timeout_ms);
void tp__q_jr_begin(struct q_shared *s);
void tp__q_jr_end(struct q_shared *s);
void tp__q_ring_write(tp_queue *q, uint64_t at, const void *src, size_t n);
void tp__q_ring_read(tp_queue *q, uint64_t at, void *dst, size_t n);
/* Size of the record of an n-byte item. */
uint64_t tp__q_rec(uint64_t n);

#endif
