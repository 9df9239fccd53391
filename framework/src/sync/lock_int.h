/* lock_int.h - internal: the shared state of a Lock/RLock, which a Value,
 * an Array and a Condition embed or refer to. See lock.c. */
#ifndef TP_LOCK_INT_H
#define TP_LOCK_INT_H

#include "sobj.h"
#include "troupe/sync.h"

struct tp__lockst {
	struct tp__shdr h;
	uint32_t count; /* recursion depth (RLock) */
	uint32_t pad;
	pthread_mutex_t m;
};

struct tp_lock {
	struct tp__seg *seg;
	struct tp__lockst *st;
	int recursive;
};

/* The holder's thread id, read from the robust mutex's futex word (glibc
 * layout): the kernel's own record, which it clears when the holder dies,
 * so a recycled thread id can never pass for the owner. 0: not held. */
static inline pid_t tp__lock_owner(const struct tp__lockst *st)
{
	return (pid_t)(__atomic_load_n(&st->m.__data.__lock, __ATOMIC_RELAXED) &
	               0x3fffffff /* FUTEX_TID_MASK */);
}

/* Initialises lock state st (in shared memory). */
int tp__lock_init(struct tp__lockst *st, int recursive);

/* Makes a handle on st inside seg (takes a reference on seg). */
int tp__lock_wrap(struct tp__seg *seg, struct tp__lockst *st, tp_lock **out);

/* Releases every level of l held by the caller; returns the depth. */
uint32_t tp__lock_release_all(tp_lock *l);

/* Re-acquires l (blocking) with depth levels; TP_OK or TP_EOWNERDEAD. */
int tp__lock_restore(tp_lock *l, uint32_t depth);

/* Records where l lives (segment name, offset) for another process. */
void tp__lock_where(const tp_lock *l, char *name, uint64_t *offset);

/* Attaches the lock recorded by tp__lock_where. Errors: TP_ENOENT (gone),
 * TP_EDECODE (no lock there), wrapped system errors. */
int tp__lock_attach(const char *name, uint64_t offset, tp_lock **out);

#endif
