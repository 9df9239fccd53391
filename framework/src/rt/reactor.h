/*
 * reactor.h - the one event loop every service of the library stands on
 * (reactor.c): the actor loop (otp/actor.c, tp_actor_run), the logging
 * actor's server (log/log_actor.c) and the manager's server
 * (mgr/mgr_server.c, mgr_fast.c). It is in rt/ so that every layer above
 * may use it (log/ sits below otp/): libuv's lesson, one loop low in the
 * tree and every service a set of handles on it.
 *
 * A reactor is one epoll set served by one thread (the one that calls
 * tp__reactor_run). Its sources:
 *   - fd:      an fd and its epoll events (level-triggered); the reactor
 *              does not own the fd.
 *   - timer:   a one-shot deadline on the monotonic clock (tp__now_ms),
 *              re-armed with tp__reactor_timer_set; no fd, no syscall.
 *   - pid:     a process (our child or not) watched by its pidfd
 *              (rt/pidwatch.c); fires once when it exited. Reaping is the
 *              owner's business (proc/watch.c).
 *   - signals: a set of signals blocked in the calling thread and read
 *              through a signalfd; the callback gets the signal number.
 *   - wake:    an eventfd another thread pokes with tp__reactor_wake
 *              (its mailbox doorbell); the callback runs on the loop's
 *              thread. Pokes before the callback ran coalesce into one.
 * Every callback runs on the loop's thread, one at a time. Nothing is
 * added to a request's path: an fd's callback runs straight from
 * epoll_wait, and timers cost one comparison per round.
 *
 * Removal: tp__reactor_del may be called anywhere on the loop's thread,
 * also from the source's own callback and for a source whose event is
 * pending in the same round: that event is not delivered, and the memory
 * is freed after the round. Sources still there at tp__reactor_free are
 * freed without a callback.
 *
 * Errors are troupe codes (tp_strerror): TP_EINVAL, TP_ENOMEM, or the
 * wrapped errno of epoll/timerfd/signalfd/eventfd/pidfd_open.
 */
#ifndef TP_REACTOR_H
#define TP_REACTOR_H

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct tp__reactor tp__reactor;
typedef struct tp__rsrc tp__rsrc;

/* A source's callback: events are the epoll events of an fd source, the
 * signal number of a signals source, 0 for the others. */
typedef void (*tp__rsrc_fn)(tp__rsrc *src, uint32_t events, void *arg);

int tp__reactor_new(tp__reactor **out);
/* Frees r and every source left (no callbacks). NULL is accepted. */
void tp__reactor_free(tp__reactor *r);
/* In a process forked from the loop's (the fork server's children):
 * closes the fds r opened (its epoll set, pidfds, signalfds, eventfds),
 * which the copy inherited, without touching epoll or the heap; r is not
 * used again in this process. NULL is accepted. */
void tp__reactor_forget(tp__reactor *r);

/* Sources. *out (may be NULL for the caller that never removes it) is
 * valid until tp__reactor_del or tp__reactor_free. */
int tp__reactor_add_fd(tp__reactor *r, int fd, uint32_t events, tp__rsrc_fn fn,
                       void *arg, tp__rsrc **out);
/* Changes an fd source's events (e.g. EPOLLOUT while output is queued). */
int tp__reactor_mod_fd(tp__rsrc *s, uint32_t events);
/* A timer due at due_ms (tp__now_ms clock); 0: not armed. */
int tp__reactor_add_timer(tp__reactor *r, int64_t due_ms, tp__rsrc_fn fn,
                          void *arg, tp__rsrc **out);
/* (Re-)arms a timer at due_ms; 0 disarms it. A timer fires once per
 * arming, disarmed before its callback runs (which may re-arm it). */
void tp__reactor_timer_set(tp__rsrc *s, int64_t due_ms);
int64_t tp__reactor_timer_due(const tp__rsrc *s);
/* Watches pid; the callback runs once, when it exited (the source stays
 * until removed, quiet). */
int tp__reactor_add_pid(tp__reactor *r, pid_t pid, tp__rsrc_fn fn, void *arg,
                        tp__rsrc **out);
/* As tp__reactor_add_pid, watching pid by a pidfd the caller opened
 * (proc/'s own, dup'ed): the source takes pidfd, closed at removal (also
 * when this fails). For a child the caller may not be the reaper of (a
 * fork server's), whose pid must not be looked up again later. */
int tp__reactor_add_pidfd(tp__reactor *r, int pidfd, pid_t pid, tp__rsrc_fn fn,
                          void *arg, tp__rsrc **out);
/* Blocks set in the calling thread and delivers those signals here. */
int tp__reactor_add_signals(tp__reactor *r, const sigset_t *set, tp__rsrc_fn fn,
                            void *arg, tp__rsrc **out);
/* A doorbell for other threads (tp__reactor_wake). */
int tp__reactor_add_wake(tp__reactor *r, tp__rsrc_fn fn, void *arg,
                         tp__rsrc **out);
/* Rings a wake source: from any thread, async-signal-safe. */
void tp__reactor_wake(tp__rsrc *s);
/* Removes s (closing the fd the reactor opened for it: pidfd, signalfd,
 * eventfd; an fd source's own fd is the caller's). NULL is accepted. */
void tp__reactor_del(tp__rsrc *s);
/* The pid of a pid source, the fd of an fd source, else -1. */
int tp__rsrc_fd(const tp__rsrc *s);
pid_t tp__rsrc_pid(const tp__rsrc *s);

/* Called after every round of callbacks (a place to flush what a round
 * buffered); NULL: none. */
void tp__reactor_on_round(tp__reactor *r, void (*fn)(void *arg), void *arg);

/* Called on the loop's thread just before a round's wait and just after
 * it: a loop that works under a lock releases it while it sleeps there
 * (the supervisor tree's, otp/sup_loop.c). NULL: none. */
void tp__reactor_on_wait(tp__reactor *r, void (*before)(void *arg),
                         void (*after)(void *arg), void *arg);

/* Polling before sleeping: fn is called on the loop's thread before
 * every round's wait and may do work itself (e.g. serve requests that
 * came through shared memory, mgr/mgr_fast.c's lanes). It returns 1 to
 * make that wait a poll (timeout 0: it wants to be called again soon, it
 * spins), 0 to let the round wait as usual (it has armed whatever wakes
 * it: an fd of one of r's sources). NULL: none. */
void tp__reactor_on_idle(tp__reactor *r, int (*fn)(void *arg), void *arg);

/* Runs rounds until tp__reactor_stop. Returns TP_OK, or the wrapped
 * errno of a failed epoll_wait. */
int tp__reactor_run(tp__reactor *r);
/* One round: waits up to timeout_ms (-1: until something happens; the
 * next timer shortens it) and runs what is due. Returns the number of
 * callbacks run, or a negative troupe code. */
int tp__reactor_run_once(tp__reactor *r, int timeout_ms);
/* Ends tp__reactor_run after the current callback (loop thread only;
 * from another thread, ring a wake source whose callback stops it). */
void tp__reactor_stop(tp__reactor *r);
int tp__reactor_stopped(const tp__reactor *r);

#endif
