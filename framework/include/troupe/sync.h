/*
 * troupe/sync.h - synchronisation between processes: Lock, RLock,
 * Semaphore, BoundedSemaphore, Event, Condition and Barrier, with the
 * meaning of Python's multiprocessing (and threading) classes.
 *
 * Every object lives in real shared memory (a run-scoped POSIX segment,
 * see docs/sync.md) and is guarded by process-shared robust mutexes:
 *  - a process that dies holding a Lock or RLock does not wedge the
 *    others: the next acquirer gets the lock together with TP_EOWNERDEAD;
 *  - a process that dies inside a semaphore, event, condition or barrier
 *    call leaves its state usable; a barrier whose waiting party dies
 *    becomes broken for the others (TP_EBROKEN), never a hang.
 *
 * Timeouts are in milliseconds: -1 waits forever, 0 only tries.
 *
 * Lifetime: tp_X_new creates an object; tp_X_free frees the process's
 * handle (NULL allowed). When the creating process frees its handle the
 * object's name is removed, so hand objects to other processes (through
 * fork, or a payload) while the creator's handle is alive; handles already
 * held elsewhere keep working. Every segment of a run is removed at the run
 * owner's tp_fini in any case. Objects need tp_init() (TP_ENOTINIT).
 *
 * Passing to any child, pool workers included: tp_payload_add_X adds a
 * handle (a troupe.Handle message naming the segment) to a payload; in the
 * receiving process tp_payload_get_X attaches to the same object and
 * returns a new handle that the receiver frees with tp_X_free (detaching,
 * never destroying). get errors: TP_EINVAL, TP_ENOENT (index out of range
 * or the object is gone), TP_ETYPE (value i is not a handle of that type),
 * TP_EDECODE (a malformed handle), wrapped system errors.
 *
 * A handle (tp_lock *, ...) may be used by every thread of its process.
 */
#ifndef TROUPE_SYNC_H
#define TROUPE_SYNC_H

#include "troupe/payload.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Lock and RLock ---------------------------------------------------- */

/*
 * A tp_lock is a Lock (tp_lock_new) or an RLock (tp_rlock_new). Unlike
 * Python's Lock, a lock belongs to the thread that acquired it: only that
 * thread may release it (this is what lets a dead holder be detected).
 */
typedef struct tp_lock tp_lock;

/* Creates a Lock / an RLock. Errors: TP_EINVAL, TP_ENOTINIT, TP_ENOMEM,
 * wrapped system errors. */
int tp_lock_new(tp_lock **out);
int tp_rlock_new(tp_lock **out);

/* Frees the handle (it must not be held by this process). NULL allowed. */
void tp_lock_free(tp_lock *l);

/*
 * tp_lock_acquire takes the lock, waiting up to timeout_ms. An RLock that
 * the calling thread holds is taken again (its count goes up).
 * Returns TP_OK; TP_ETIMEDOUT (not acquired in time, or at once for 0);
 * TP_EOWNERDEAD: acquired, but the previous holder died holding it - the
 * caller now holds the lock and should repair what it protects;
 * TP_ESTATE: a Lock acquired again by its holder with timeout -1 (this
 * would never return); TP_EINVAL.
 */
int tp_lock_acquire(tp_lock *l, int timeout_ms);

/*
 * tp_lock_release releases the lock (an RLock: one level). Errors:
 * TP_EVALUE (a Lock that is not locked: "released too many times"),
 * TP_EPERM (held by another thread or process; an RLock not held by the
 * caller), TP_EINVAL.
 */
int tp_lock_release(tp_lock *l);

/* 1 if l is an RLock, 0 if a Lock (or NULL). */
int tp_lock_is_recursive(const tp_lock *l);

/* 1 if the calling thread holds l. */
int tp_lock_is_mine(const tp_lock *l);

/* Pass a Lock/RLock to another process (see the top of this file). */
int tp_payload_add_lock(tp_payload *p, const tp_lock *l);
int tp_payload_get_lock(const tp_payload *p, size_t i, tp_lock **out);

/* ---- Semaphore and BoundedSemaphore ----------------------------------- */

typedef struct tp_sem tp_sem;

/* Creates a Semaphore / a BoundedSemaphore with the given value (>= 0).
 * Errors: TP_EINVAL, TP_ENOTINIT, TP_ENOMEM, wrapped system errors. */
int tp_sem_new(tp_sem **out, unsigned value);
int tp_bsem_new(tp_sem **out, unsigned value);

/* Frees the handle. NULL is allowed. */
void tp_sem_free(tp_sem *s);

/* Decrements the value, waiting up to timeout_ms while it is 0.
 * Returns TP_OK, TP_ETIMEDOUT, TP_EINVAL. */
int tp_sem_acquire(tp_sem *s, int timeout_ms);

/* Increments the value. Errors: TP_EVALUE (a BoundedSemaphore released
 * above its initial value; Python's ValueError), TP_EINVAL. */
int tp_sem_release(tp_sem *s);

/* Stores the current value in *out. Errors: TP_EINVAL. */
int tp_sem_get_value(tp_sem *s, unsigned *out);

/* Pass a Semaphore/BoundedSemaphore to another process. */
int tp_payload_add_sem(tp_payload *p, const tp_sem *s);
int tp_payload_get_sem(const tp_payload *p, size_t i, tp_sem **out);

/* ---- Event ------------------------------------------------------------- */

typedef struct tp_event tp_event;

/* Creates an Event, not set. Errors: TP_EINVAL, TP_ENOTINIT, TP_ENOMEM,
 * wrapped system errors. tp_event_free frees the handle (NULL allowed). */
int tp_event_new(tp_event **out);
void tp_event_free(tp_event *e);
/* Sets the flag and wakes every waiter. Errors: TP_EINVAL. */
int tp_event_set(tp_event *e);
/* Clears the flag. Errors: TP_EINVAL. */
int tp_event_clear(tp_event *e);
/* 1 if the flag is set, 0 if not (or e is NULL). */
int tp_event_is_set(tp_event *e);
/* Waits until the flag is set: TP_OK, or TP_ETIMEDOUT; TP_EINVAL. */
int tp_event_wait(tp_event *e, int timeout_ms);

/* Pass an Event to another process. */
int tp_payload_add_event(tp_payload *p, const tp_event *e);
int tp_payload_get_event(const tp_payload *p, size_t i, tp_event **out);

/* ---- Condition --------------------------------------------------------- */

typedef struct tp_cond tp_cond;

/*
 * Creates a Condition using lock (a Lock or RLock, shared: the condition
 * keeps its own reference), or a new RLock of its own when lock is NULL.
 * Up to 128 processes/threads may wait at once (TP_EFULL beyond).
 */
int tp_cond_new(tp_cond **out, tp_lock *lock);

/* Frees the handle (and its reference to the lock). NULL is allowed. */
void tp_cond_free(tp_cond *c);

/* The condition's lock (borrowed; valid while c is). */
tp_lock *tp_cond_lock(tp_cond *c);

/* Acquire / release the condition's lock (see tp_lock_acquire). */
int tp_cond_acquire(tp_cond *c, int timeout_ms);
int tp_cond_release(tp_cond *c);

/*
 * tp_cond_wait releases the lock (all levels of an RLock), waits until
 * notified or timeout_ms passes, and re-acquires the lock before
 * returning, in every case. Returns TP_OK (notified), TP_ETIMEDOUT,
 * TP_EOWNERDEAD (notified or not, the lock was re-acquired from a dead
 * holder), TP_EPERM (the caller does not hold the lock), TP_EFULL, TP_EINVAL.
 */
int tp_cond_wait(tp_cond *c, int timeout_ms);

/*
 * tp_cond_wait_for waits until pred(arg) returns non-zero, as Python's
 * wait_for: pred is called with the lock held, first before any wait.
 * Returns TP_OK (pred is true), TP_ETIMEDOUT (still false after
 * timeout_ms), or the errors of tp_cond_wait.
 */
int tp_cond_wait_for(tp_cond *c, int (*pred)(void *arg), void *arg,
                     int timeout_ms);

/* Wakes up to n waiters (oldest first) / every waiter. The caller must
 * hold the lock. Errors: TP_EPERM (lock not held), TP_EINVAL. */
int tp_cond_notify(tp_cond *c, unsigned n);
int tp_cond_notify_all(tp_cond *c);

/* Pass a Condition (with its lock) to another process. */
int tp_payload_add_cond(tp_payload *p, const tp_cond *c);
int tp_payload_get_cond(const tp_payload *p, size_t i, tp_cond **out);

/* ---- Barrier ----------------------------------------------------------- */

typedef struct tp_barrier tp_barrier;

/*
 * Creates a Barrier for parties (>= 1) parties. action (may be NULL) is
 * called with arg by the party whose arrival completes a round, before
 * the others are released. An action whose arg is NULL travels with the
 * barrier to every process running the same program image (children
 * forked directly or by the fork server, whether they inherit the handle
 * or attach it from a payload); a spawned child or another program has no
 * action unless it sets one with tp_barrier_set_action, and neither does
 * any receiver when arg is not NULL (a pointer means nothing elsewhere).
 * timeout_ms is the default for tp_barrier_wait(b, TP_BARRIER_DEFAULT)
 * (-1: none).
 */
int tp_barrier_new(tp_barrier **out, unsigned parties,
                   void (*action)(void *arg), void *arg, int timeout_ms);

/* Frees the handle. NULL is allowed. */
void tp_barrier_free(tp_barrier *b);

/* Sets (or clears, with NULL) the action this process runs when its
 * arrival completes a round. */
void tp_barrier_set_action(tp_barrier *b, void (*action)(void *), void *arg);

#define TP_BARRIER_DEFAULT (-2)

/*
 * Waits until parties parties have called it. On success *index (may be
 * NULL) gets the arrival index, 0 .. parties-1 (the last to arrive gets
 * parties-1). Errors: TP_EBROKEN (the barrier is or became broken: abort,
 * reset while waiting, a timeout of any party, a party died while
 * waiting); TP_ETIMEDOUT (this call's timeout passed: the barrier is now
 * broken for everyone else); TP_EFULL (more waiters than parties);
 * TP_EINVAL.
 */
int tp_barrier_wait(tp_barrier *b, int timeout_ms, unsigned *index);

/* Returns the barrier to its empty state; current waiters get TP_EBROKEN. */
int tp_barrier_reset(tp_barrier *b);
/* Breaks the barrier: current and future waiters get TP_EBROKEN. */
int tp_barrier_abort(tp_barrier *b);
/* Python's parties, n_waiting (parties waiting in the current round) and
 * broken; 0 for NULL. */
unsigned tp_barrier_parties(tp_barrier *b);
unsigned tp_barrier_n_waiting(tp_barrier *b);
int tp_barrier_broken(tp_barrier *b);

/* Pass a Barrier to another process (its action: see tp_barrier_new). */
int tp_payload_add_barrier(tp_payload *p, const tp_barrier *b);
int tp_payload_get_barrier(const tp_payload *p, size_t i, tp_barrier **out);

#ifdef __cplusplus
}
#endif
#endif
