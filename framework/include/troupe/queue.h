/*
 * troupe/queue.h - Queue, JoinableQueue and SimpleQueue across processes.
 *
 * A tp_queue is a FIFO of tp_payload items shared by any number of
 * producer and consumer processes. It lives in a run-scoped shared-memory
 * segment (a byte ring of protobuf-encoded items) guarded by a
 * process-shared robust mutex, so:
 *  - an item is in the queue as soon as put returns: a producer killed
 *    afterwards loses nothing;
 *  - a process killed while it holds the queue's lock (or while it waits)
 *    is recovered: its half-done operation is rolled back and the others
 *    keep going;
 *  - there is no host process that can die. The segment is removed when
 *    the run's owner calls tp_fini; processes still attached keep working
 *    on their mapping until they detach.
 *
 *   tp_queue *q;
 *   tp_queue_new(&q, NULL);                 // Queue()
 *   tp_queue_put_int(q, 42, -1);            // q.put(42)
 *   int64_t v;
 *   tp_queue_get_int(q, &v, -1);            // q.get()
 *   tp_queue_free(q);
 *
 * Handles: a tp_queue is a per-process handle onto the shared queue. Pass
 * it to a child (a pool worker too) inside a payload with
 * tp_payload_add_queue; the child gets its own handle with
 * tp_payload_get_queue. A child forked with plain fork() may also use the
 * parent's handle directly. Handles are thread-safe.
 *
 * Timeouts are in milliseconds: -1 waits forever, 0 does not block.
 * A blocked call never hangs past tp_queue_close(): every waiter in every
 * process wakes up with TP_ECLOSED.
 */
#ifndef TROUPE_QUEUE_H
#define TROUPE_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "troupe/payload.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tp_queue tp_queue;

typedef enum tp_queue_kind {
	TP_QUEUE = 0,      /* multiprocessing.Queue */
	TP_QUEUE_JOINABLE, /* multiprocessing.JoinableQueue */
	TP_QUEUE_SIMPLE,   /* multiprocessing.SimpleQueue */
} tp_queue_kind;

/* The default byte capacity of a queue's ring: 4 MiB. */
#define TP_QUEUE_CAPACITY_DEFAULT ((size_t)4 << 20)

typedef struct tp_queue_opts {
	tp_queue_kind kind;
	/* Most items held at once; 0 is unlimited (Python's maxsize <= 0). */
	size_t maxsize;
	/* Bytes of the ring (0: TP_QUEUE_CAPACITY_DEFAULT; at least 4 KiB).
	 * A put also waits while the ring has no room for the item. Items
	 * whose encoding is larger than a quarter of it travel out of band,
	 * each in its own shared-memory segment that the ring refers to. */
	size_t capacity;
	/* Largest encoded item accepted (0: TP_QUEUE_ITEM_MAX_DEFAULT; at
	 * most TP_QUEUE_ITEM_MAX). A larger one is refused by put with
	 * TP_ETOOBIG, and nothing is queued. */
	size_t max_item;
} tp_queue_opts;

/* The default and the largest max_item: 1 GiB and 16 GiB. */
#define TP_QUEUE_ITEM_MAX_DEFAULT ((size_t)1 << 30)
#define TP_QUEUE_ITEM_MAX         ((size_t)16 << 30)

/* Counters kept in shared memory, summed over every process. */
typedef struct tp_queue_stats {
	uint64_t puts;       /* items accepted */
	uint64_t gets;       /* items handed out */
	uint64_t rejected;   /* malformed items dropped (TP_EDECODE) */
	uint64_t recovered;  /* operations rolled back after a holder died */
	uint64_t count;      /* items in the queue now */
	uint64_t bytes;      /* ring bytes in use now */
	uint64_t capacity;   /* ring bytes */
	uint64_t unfinished; /* JoinableQueue: puts minus task_done */
	/* Items handed to a consumer that died before its next get,
	 * task_done or tp_queue_free on the queue: each may have died with
	 * it (counted once the death is seen, by tp_queue_stats_get or a new
	 * consumer's first get). An upper bound: a consumer that exits
	 * after its last get without tp_queue_free is counted too. */
	uint64_t lost;
	uint64_t out_of_band; /* items that travelled in their own segment */
} tp_queue_stats;

/*
 * tp_queue_new creates a queue (opts may be NULL: an unlimited Queue with a
 * 4 MiB ring) and returns the creating process's handle in *out.
 * Errors: TP_EINVAL (bad argument or option), TP_ENOTINIT, TP_ENOMEM,
 * wrapped system errors.
 */
int tp_queue_new(tp_queue **out, const tp_queue_opts *opts);

/* Shorthands: JoinableQueue(maxsize) and SimpleQueue(). */
int tp_joinable_queue_new(tp_queue **out, size_t maxsize);
int tp_simple_queue_new(tp_queue **out);

/*
 * tp_queue_free releases this process's handle (it detaches; the queue
 * and its items stay for the other processes). NULL is allowed.
 */
void tp_queue_free(tp_queue *q);

/* tp_queue_kind_of returns the kind the queue was created with. */
tp_queue_kind tp_queue_kind_of(const tp_queue *q);

/*
 * tp_queue_put appends a copy of item, waiting up to timeout_ms while the
 * queue is full (maxsize items, or no room in the ring).
 * Errors: TP_EINVAL, TP_EFULL (timeout_ms == 0 and full), TP_ETIMEDOUT,
 * TP_ECLOSED (the queue is closed), TP_ETOOBIG (the encoded item can
 * never fit in the ring: larger than capacity - 8 bytes).
 */
int tp_queue_put(tp_queue *q, const tp_payload *item, int timeout_ms);
int tp_queue_put_nowait(tp_queue *q, const tp_payload *item);

/* One-value shorthands for tp_queue_put; same errors (+ TP_ENOMEM, and
 * TP_ETOOBIG for a string or bytes value of 4 GiB or more, the most one
 * payload value holds). */
int tp_queue_put_int(tp_queue *q, int64_t v, int timeout_ms);
int tp_queue_put_double(tp_queue *q, double v, int timeout_ms);
int tp_queue_put_string(tp_queue *q, const char *s, int timeout_ms);
int tp_queue_put_bytes(tp_queue *q, const void *data, size_t len,
                       int timeout_ms);

/*
 * tp_queue_get removes the oldest item and returns it in *out (free with
 * tp_payload_free), waiting up to timeout_ms while the queue is empty.
 * After close, the items still queued are handed out first.
 * Errors: TP_EINVAL, TP_EEMPTY (timeout_ms == 0 and empty), TP_ETIMEDOUT,
 * TP_ECLOSED (closed and drained), TP_EDECODE (the item at the head was
 * malformed: it is dropped and counted in stats.rejected; call again for
 * the next one).
 */
int tp_queue_get(tp_queue *q, tp_payload **out, int timeout_ms);
int tp_queue_get_nowait(tp_queue *q, tp_payload **out);

/*
 * Typed gets: the head item must be a payload of exactly one value of the
 * asked type. Otherwise they return TP_ETYPE and leave the item at the
 * head of the queue, untouched (read it with tp_queue_get). get_string and
 * get_bytes return malloc'ed copies the caller frees (strings are
 * NUL-terminated; bytes too, after len). Errors: those of tp_queue_get,
 * plus TP_ETYPE.
 */
int tp_queue_get_int(tp_queue *q, int64_t *out, int timeout_ms);
int tp_queue_get_double(tp_queue *q, double *out, int timeout_ms);
int tp_queue_get_string(tp_queue *q, char **out, int timeout_ms);
int tp_queue_get_bytes(tp_queue *q, void **data, size_t *len, int timeout_ms);

/*
 * tp_queue_qsize stores the number of items now queued (a snapshot, as in
 * Python). tp_queue_empty / tp_queue_full return 1 or 0 (0 for NULL).
 */
int tp_queue_qsize(tp_queue *q, size_t *out);
int tp_queue_empty(tp_queue *q);
int tp_queue_full(tp_queue *q);

/*
 * tp_queue_close closes the queue for every process: later puts fail with
 * TP_ECLOSED, gets drain what is left and then fail with TP_ECLOSED, and
 * every blocked put, get and join wakes up with TP_ECLOSED. Closing twice
 * is allowed. Unlike Python's close() (which only stops the calling
 * process's feeder thread) this is queue-wide, because there is no feeder.
 * Errors: TP_EINVAL.
 */
int tp_queue_close(tp_queue *q);

/* tp_queue_closed returns 1 once the queue was closed, else 0. */
int tp_queue_closed(tp_queue *q);

/*
 * JoinableQueue only. tp_queue_task_done marks one item taken by get as
 * processed. tp_queue_join waits up to timeout_ms until every item ever
 * put has been marked done. Errors: TP_ESTATE (not a JoinableQueue),
 * TP_EVALUE (task_done called more times than items were put),
 * TP_ETIMEDOUT, TP_ECLOSED (join on a closed queue with work left).
 */
int tp_queue_task_done(tp_queue *q);
int tp_queue_join(tp_queue *q, int timeout_ms);

/* tp_queue_stats_get copies the shared counters. Errors: TP_EINVAL. */
int tp_queue_stats_get(tp_queue *q, tp_queue_stats *out);

/*
 * tp_payload_add_queue appends a reference to q (a troupe.Handle message)
 * to p, so that q can be passed to any process of the run, pool workers
 * included. tp_payload_get_queue attaches to the queue referenced by value
 * i and returns a new handle (free it with tp_queue_free).
 * Errors: TP_EINVAL, TP_ENOMEM; get: TP_ENOENT (no value i, or the queue
 * segment is gone), TP_ETYPE (value i is not a queue), TP_EDECODE.
 */
int tp_payload_add_queue(tp_payload *p, const tp_queue *q);
int tp_payload_get_queue(const tp_payload *p, size_t i, tp_queue **out);

#ifdef __cplusplus
}
#endif
#endif
