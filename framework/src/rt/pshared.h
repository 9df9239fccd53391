/*
 * pshared.h - internal: waiting and locking in memory shared between
 * processes, in a way that survives the death of any participant: robust
 * process-shared mutexes (a dead holder is reported to the next locker),
 * bare futex words and wait points (a condition variable with no state a
 * killed process can leave behind), and the cached process and thread ids
 * they need. Used by the shared objects (sync/) and the queue (msg/).
 */
#ifndef TP_PSHARED_H
#define TP_PSHARED_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* How long one wait slice lasts at most (ms). */
#define TP__SLICE_MS 50

/* The calling thread's kernel thread id (cached, fork-safe). */
extern __thread pid_t tp__cached_tid;
pid_t tp__tid_slow(void);
static inline pid_t tp__tid(void)
{
	pid_t t = tp__cached_tid;
	return __builtin_expect(t != 0, 1) ? t : tp__tid_slow();
}

/* The calling process's id (cached, reset in a forked child: glibc's
 * getpid() is a system call). */
pid_t tp__pid(void);

/* The state letter of process pid in /proc/pid/stat ('R', 'S', 'Z', ...),
 * '?' if unreadable, or 0 if there is no such process. */
char tp__pid_state(pid_t pid);

/* 1 if process pid exists and is not a zombie. */
int tp__pid_alive(pid_t pid);

/* Initialises a robust process-shared mutex. */
int tp__mutex_init(pthread_mutex_t *m);

/*
 * Futexes on shared memory (not FUTEX_PRIVATE: they work across
 * processes). futex_wait sleeps while *word == val, until woken or the
 * absolute CLOCK_MONOTONIC time at passes (NULL: no limit); it may also
 * return early (a signal, a spurious wake): callers re-check their state.
 */
void tp__futex_wait(uint32_t *word, uint32_t val, const struct timespec *at);
void tp__futex_wake(uint32_t *word, int n);

/*
 * A wait point: what a condition variable is for, with no state a killed
 * process can leave behind. A waiter calls prepare (it flags itself and
 * gets the sequence to sleep on), re-checks its condition, then sleeps
 * (one TP__SLICE_MS slice at most, or until dl; NULL: no deadline). A
 * waker publishes its state change, then calls signal, which makes a
 * system call only when a waiter has flagged itself since the last wake:
 * the flag and the state are ordered by full fences on both sides, so
 * either the waker sees the flag or the waiter sees the new state. Every
 * flagged waiter wakes (a dead waiter's flag is cleared by the next wake:
 * nothing stays behind). broadcast wakes everyone unconditionally.
 */
struct tp__wpoint {
	uint32_t seq;
	uint32_t flag;
};
uint32_t tp__wpoint_prepare(struct tp__wpoint *w);
void tp__wpoint_sleep(struct tp__wpoint *w, uint32_t seq,
                      const struct timespec *dl);
void tp__wpoint_signal(struct tp__wpoint *w);
void tp__wpoint_broadcast(struct tp__wpoint *w);

/*
 * Locks the robust mutex m before the absolute CLOCK_MONOTONIC time dl
 * (NULL: no limit): TP_OK, TP_EOWNERDEAD (the holder died; the mutex is
 * consistent again and held: repair the state), TP_ETIMEDOUT, or a
 * wrapped system error.
 */
int tp__mutex_lock_until(pthread_mutex_t *m, const struct timespec *dl);

#endif
