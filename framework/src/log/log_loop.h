/*
 * log_loop.h - internal: the one I/O loop of this process's logging
 * client side (log_loop.c). One thread serves one reactor (rt/reactor.h)
 * whose sources are
 *   - the flusher's timer: seals a batch older than TP_LOG_FLUSH_US and
 *     retries sends while the actor is full or down (log_client.c,
 *     tp__log_flusher_run);
 *   - every capture of a child's stdout/stderr (log_capture.c) and every
 *     rotated output file (log_filecap.c): one fd source each;
 *   - a wake source: calls from other threads, and the flusher's kick.
 * The loop is started on first use and lives as long as the process. A
 * fork child has no loop thread: it gets a loop of its own on first use,
 * and the parent's (whose epoll set and eventfd it shares) is left alone.
 */
#ifndef TP_LOG_LOOP_H
#define TP_LOG_LOOP_H

#include "reactor.h"

/* Runs fn(r, arg) on the loop's thread and returns once it ran (at once
 * when called on that thread), starting the loop when needed. Sources are
 * added and removed only this way. Must not be called with tp__logger.mu
 * held (the loop's callbacks take it). Errors: what starting the loop
 * failed with (TP_ENOMEM, wrapped errno); fn did not run then. */
int tp__log_loop_call(void (*fn)(tp__reactor *r, void *arg), void *arg);

/* Asks the flusher to look at the logger again (a batch was opened),
 * starting the loop when needed. Called with tp__logger.mu held; never
 * blocks. Errors: as tp__log_loop_call. */
int tp__log_loop_kick(void);

/* An fd source (EPOLLIN) added on the loop's thread, *out set there; fn
 * runs on that thread. Errors: as tp__log_loop_call, and the reactor's. */
int tp__log_loop_add_fd(int fd, tp__rsrc_fn fn, void *arg, tp__rsrc **out);
/* Removes *src (NULL is fine) on the loop's thread and sets it NULL, once
 * any callback running on it has returned; nothing when epoch is not this
 * process's (an inherited source: its loop is the parent's). */
void tp__log_loop_del(tp__rsrc **src, unsigned epoch);

/* This process's fork generation: a source added in another generation
 * belongs to a loop this process does not have (a fork child's inherited
 * capture), and is freed without the loop. */
unsigned tp__log_loop_epoch(void);

/* Fork handlers, called by log_client.c's (after tp__logger.mu). */
void tp__log_loop_fork_prepare(void);
void tp__log_loop_fork_parent(void);
void tp__log_loop_fork_child(void);

/* log_client.c: one round of the flusher, on the loop's thread (takes
 * tp__logger.mu). Returns when to run again, in microseconds from now,
 * or -1: only when kicked. */
int64_t tp__log_flusher_run(void);

#endif
