/*
 * sobj.h - internal: the base of every shared object (locks, semaphores,
 * events, conditions, barriers, Value, Array, SharedMemory).
 *
 * Each object lives in its own run-scoped shared-memory segment (shm.h):
 * the object's shared state starts with a tp__shdr (magic, kind) at some
 * offset of the segment. A process-local tp__seg maps the segment once and
 * is reference counted, so a Value and its borrowed lock, or a Condition
 * and the lock it uses, share one mapping. The process that created a
 * segment unlinks it when its last reference goes; a process that only
 * attached never unlinks (the owner's tp_fini removes leftovers anyway).
 *
 * Internal state of semaphores, events, conditions and barriers is guarded
 * by a tp__core: a robust, process-shared mutex and a futex word. Waits on
 * it run in bounded slices so that waiters can check deadlines and whether
 * peers are alive.
 */
#ifndef TP_SOBJ_H
#define TP_SOBJ_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "clock.h"
#include "pshared.h"
#include "shm.h"
#include "troupe/payload.h"

#define TP__SOBJ_MAGIC 0x74707362u /* "tpsb" */

enum tp__kind {
	TP__KLOCK = 1,
	TP__KRLOCK,
	TP__KSEM,
	TP__KBSEM,
	TP__KEVENT,
	TP__KCOND,
	TP__KBARRIER,
	TP__KVALUE,
	TP__KARRAY,
	TP__KSHMEM,
	TP__KMAX
};

struct tp__shdr {
	uint32_t magic;
	uint32_t kind;
};

struct tp__seg {
	int refs;
	pid_t creator;
	void *base;
	size_t size;
	char name[TP_SHM_NAME_MAX];
};

/* Creates a zeroed segment of size bytes with one reference. */
int tp__seg_create(size_t size, struct tp__seg **out);
/* Attaches segment name with one reference. */
int tp__seg_attach(const char *name, struct tp__seg **out);
struct tp__seg *tp__seg_ref(struct tp__seg *s);
/* Drops a reference; the last one unmaps (and unlinks in the creator). */
void tp__seg_unref(struct tp__seg *s);

/*
 * The guard of an object's internal state: a robust process-shared mutex
 * and a futex sequence word that waiters sleep on. (Not pthread_cond_t:
 * glibc's condition variable keeps internal counters and a lock that a
 * process killed inside pthread_cond_wait or _signal leaves behind, after
 * which signalers can block forever. A bare futex has no such state.)
 *
 * lock returns TP_OK, or TP_EOWNERDEAD when the previous holder died
 * inside it (the mutex has been made consistent and is held: the caller
 * repairs the state). wait releases the mutex, sleeps one slice at most
 * or until woken, and re-locks; it returns TP_OK (woken or slice over),
 * TP_ETIMEDOUT (deadline passed; NULL deadline never expires) or
 * TP_EOWNERDEAD (re-acquired from a dead holder). The mutex is held on
 * return in every case. wake wakes up to n sleepers (INT32_MAX: all).
 */
struct tp__core {
	pthread_mutex_t m;
	uint32_t seq;
	uint32_t pad;
};
int tp__core_init(struct tp__core *c);
int tp__core_lock(struct tp__core *c);
void tp__core_unlock(struct tp__core *c);
int tp__core_wait(struct tp__core *c, const struct timespec *deadline);
void tp__core_wake(struct tp__core *c, int n);
void tp__core_broadcast(struct tp__core *c);

/* The kind name used in Handle.kind. */
const char *tp__kind_name(int kind);

/*
 * Adds a Handle for the object at offset of seg to p. Errors: TP_EINVAL,
 * TP_ENOMEM.
 */
int tp__sobj_add(tp_payload *p, int kind, const struct tp__seg *seg,
                 size_t offset);

/*
 * Reads value i of p as a Handle of one of kinds (a 0-terminated list),
 * attaches its segment and checks that a header of that kind is at its
 * offset, with need bytes of state. On success *seg holds one reference,
 * *state points at the state and *kind (may be NULL) gets the kind.
 * Errors: TP_EINVAL, TP_ENOENT (index, or segment gone), TP_ETYPE (not a
 * Handle or not one of kinds), TP_EDECODE (bad header or size).
 */
int tp__sobj_get(const tp_payload *p, size_t i, const int *kinds, size_t need,
                 struct tp__seg **seg, void **state, int *kind);

/* Checks the header at offset of seg; returns the state or NULL. */
void *tp__sobj_at(struct tp__seg *seg, size_t offset, int kind, size_t need);

#endif
