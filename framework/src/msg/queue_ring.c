/*
 * queue_ring.c - the shared-memory side of tp_queue: the robust mutex, its
 * recovery after a holder died, bounded waits and the byte ring.
 *
 * Why a robust mutex plus a journal: a consumer or producer can be killed
 * (kill -9) at any instruction, including inside the critical section. The
 * next locker gets EOWNERDEAD; if the dead holder had begun changing the
 * ring's counters, the journal holds their old values and they are put
 * back, which undoes the half-done put or get as a whole. Compiler fences
 * keep the journal stores ahead of the changes they protect (the dead
 * process's stores are all visible to the survivor; only their order
 * matters).
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "queue_int.h"
#include "troupe/error.h"

/* A blocked waiter wakes at least this often to re-check the state, so a
 * lost wake-up (a waker killed between the state change and the signal)
 * costs at most one slice. */
#define Q_SLICE_NS 100000000LL

int tp__q_init(struct q_shared *s, tp_queue_kind kind, size_t maxsize,
               size_t cap, size_t ring_off)
{
	pthread_mutexattr_t ma;
	pthread_condattr_t ca;
	int rc;
	s->kind = (uint32_t)kind;
	s->maxsize = maxsize;
	s->cap = cap;
	s->ring_off = ring_off;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
	rc = pthread_mutex_init(&s->mu, &ma);
	pthread_mutexattr_destroy(&ma);
	if (rc != 0)
		return tp_err_errno(rc);
	pthread_condattr_init(&ca);
	pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->not_empty, &ca);
	pthread_cond_init(&s->not_full, &ca);
	pthread_cond_init(&s->all_done, &ca);
	pthread_condattr_destroy(&ca);
	__atomic_store_n(&s->magic, TP_Q_MAGIC, __ATOMIC_RELEASE);
	return TP_OK;
}

/* Undoes a half-done operation of a holder that died; wakes everyone so
 * waiters re-check a state that may have changed under them. */
static void q_recover(struct q_shared *s)
{
	if (s->jr.active) {
		s->head = s->jr.head;
		s->tail = s->jr.tail;
		s->count = s->jr.count;
		s->unfinished = s->jr.unfinished;
		s->jr.active = 0;
	}
	s->recovered++;
	/* Waiter counts of the dead process are unknown: let every waiter
	 * re-register (they are only hints for signalling). */
	pthread_cond_broadcast(&s->not_empty);
	pthread_cond_broadcast(&s->not_full);
	pthread_cond_broadcast(&s->all_done);
	pthread_mutex_consistent(&s->mu);
}

int tp__q_lock(tp_queue *q)
{
	int rc = pthread_mutex_lock(&q->s->mu);
	if (rc == EOWNERDEAD) {
		q_recover(q->s);
		return TP_OK;
	}
	return rc == 0 ? TP_OK : tp_err_errno(rc);
}

void tp__q_unlock(tp_queue *q)
{
	pthread_mutex_unlock(&q->s->mu);
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t tp__q_deadline(int timeout_ms)
{
	if (timeout_ms < 0)
		return -1;
	return now_ns() + (int64_t)timeout_ms * 1000000LL;
}

int tp__q_wait(tp_queue *q, pthread_cond_t *c, int64_t deadline)
{
	int64_t now = now_ns();
	int64_t until = now + Q_SLICE_NS;
	struct timespec ts;
	int rc;
	if (deadline >= 0 && now >= deadline)
		return TP_ETIMEDOUT;
	if (deadline >= 0 && deadline < until)
		until = deadline;
	ts.tv_sec = (time_t)(until / 1000000000LL);
	ts.tv_nsec = (long)(until % 1000000000LL);
	rc = pthread_cond_timedwait(c, &q->s->mu, &ts);
	if (rc == EOWNERDEAD)
		q_recover(q->s);
	else if (rc != 0 && rc != ETIMEDOUT)
		return tp_err_errno(rc);
	return TP_OK;
}

void tp__q_jr_begin(struct q_shared *s)
{
	s->jr.head = s->head;
	s->jr.tail = s->tail;
	s->jr.count = s->count;
	s->jr.unfinished = s->unfinished;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	s->jr.active = 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

void tp__q_jr_end(struct q_shared *s)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	s->jr.active = 0;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
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
