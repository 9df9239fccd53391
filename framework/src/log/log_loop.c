/*
 * log_loop.c - the one I/O loop of this process's logging client side
 * (log_loop.h): the flusher's timer, the captures' pipes and the rotated
 * output files are sources of one reactor served by one thread, instead
 * of a thread each.
 *
 * The reactor is not thread-safe, so only the loop's thread touches it:
 * other threads queue a call (fn, arg, a done flag on their stack) under
 * L.mu, ring the wake source and wait for the flag. The kick of the
 * flusher is a ring without a call, so a logging thread never waits here.
 *
 * Lock order: tp__logger.mu, then L.mu (emit kicks with the logger held);
 * the loop's thread takes L.mu only to take the queue and mark calls done,
 * never while it holds the logger. The fork handlers take both in that
 * order, so the child starts with both consistent.
 *
 * Fork: the child has no loop thread, and the parent's reactor may have
 * been mid-change in it at the fork, so the child never touches it (not
 * even to free it: its epoll set is the parent's, and closing sources
 * would change nothing the child needs). It keeps the pointer (no leak
 * report) and the two close-on-exec fds, and makes its own loop on first
 * use. A child of a raw clone (the fork server's) runs no fork handler:
 * the loop remembers its process's pid, and a loop of another process is
 * forgotten the same way when first used.
 */
#include <pthread.h>
#include <sys/epoll.h>
#include <stdlib.h>
#include <unistd.h>

#include "clock.h"
#include "log_loop.h"
#include "runtime_int.h"
#include "troupe/error.h"

struct call {
	void (*fn)(tp__reactor *r, void *arg);
	void *arg;
	int done;
	struct call *next;
};

#define STALE_MAX 8 /* reactors of ancestors, kept reachable in a child */

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	tp__reactor *r;
	tp__rsrc *wake, *timer;
	pthread_t thr;
	pid_t pid; /* the process whose thread it is */
	int on;
	unsigned epoch;
	struct call *calls, *last;
	tp__reactor *stale[STALE_MAX];
} L = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void flush_tick(void)
{
	int64_t us = tp__log_flusher_run();
	tp__reactor_timer_set(L.timer,
	                      us <= 0 ? 0 : tp__now_ms() + (us + 999) / 1000);
}

static void on_timer(tp__rsrc *s, uint32_t ev, void *arg)
{
	(void)s, (void)ev, (void)arg;
	flush_tick();
}

/* Runs the queued calls, then the flusher (a kick rings without a call). */
static void on_wake(tp__rsrc *s, uint32_t ev, void *arg)
{
	(void)s, (void)ev, (void)arg;
	pthread_mutex_lock(&L.mu);
	struct call *c = L.calls;
	L.calls = L.last = NULL;
	pthread_mutex_unlock(&L.mu);
	while (c != NULL) {
		struct call *next = c->next;
		c->fn(L.r, c->arg);
		pthread_mutex_lock(&L.mu);
		c->done = 1; /* c is the caller's again */
		pthread_cond_broadcast(&L.cv);
		pthread_mutex_unlock(&L.mu);
		c = next;
	}
	flush_tick();
}

static void *loop_main(void *arg)
{
	(void)arg;
	tp__reactor_run(L.r); /* never stopped: the loop lives with us */
	return NULL;
}

static void forget(void);

/* Called with L.mu held. */
static int start(void)
{
	int rv;
	if (L.on && L.pid == getpid())
		return TP_OK;
	if (L.on)
		forget(); /* a child of a raw clone: no fork handler ran */
	if ((rv = tp__reactor_new(&L.r)) != TP_OK)
		return rv;
	if ((rv = tp__reactor_add_wake(L.r, on_wake, NULL, &L.wake)) != TP_OK ||
	    (rv = tp__reactor_add_timer(L.r, 0, on_timer, NULL, &L.timer)) !=
	        TP_OK)
		goto fail;
	/* Detached: nothing joins it, and a fork child has none. */
	if ((rv = tp__thread_start(&L.thr, loop_main, NULL)) != TP_OK)
		goto fail;
	pthread_detach(L.thr);
	L.pid = getpid();
	L.on = 1;
	return TP_OK;
fail:
	tp__reactor_free(L.r);
	L.r = NULL;
	return rv;
}

static int on_loop_thread(void)
{
	return L.on && pthread_equal(pthread_self(), L.thr);
}

int tp__log_loop_call(void (*fn)(tp__reactor *r, void *arg), void *arg)
{
	struct call c = {fn, arg, 0, NULL};
	int rv;
	if (on_loop_thread()) {
		fn(L.r, arg);
		return TP_OK;
	}
	pthread_mutex_lock(&L.mu);
	if ((rv = start()) == TP_OK) {
		if (L.last != NULL)
			L.last->next = &c;
		else
			L.calls = &c;
		L.last = &c;
		tp__reactor_wake(L.wake);
		while (!c.done)
			pthread_cond_wait(&L.cv, &L.mu);
	}
	pthread_mutex_unlock(&L.mu);
	return rv;
}

int tp__log_loop_kick(void)
{
	pthread_mutex_lock(&L.mu);
	int rv = start();
	if (rv == TP_OK)
		tp__reactor_wake(L.wake);
	pthread_mutex_unlock(&L.mu);
	return rv;
}

unsigned tp__log_loop_epoch(void)
{
	pthread_mutex_lock(&L.mu);
	if (L.on && L.pid != getpid())
		forget();
	unsigned e = L.epoch;
	pthread_mutex_unlock(&L.mu);
	return e;
}

void tp__log_loop_fork_prepare(void)
{
	pthread_mutex_lock(&L.mu);
}

void tp__log_loop_fork_parent(void)
{
	pthread_mutex_unlock(&L.mu);
}

void tp__log_loop_fork_child(void)
{
	pthread_mutex_init(&L.mu, NULL);
	pthread_cond_init(&L.cv, NULL);
	forget();
}

/* The loop is the parent's: keep its reactor reachable, touch nothing. */
static void forget(void)
{
	if (L.r != NULL) {
		for (int i = 0; i < STALE_MAX; i++)
			if (L.stale[i] == NULL) {
				L.stale[i] = L.r;
				break;
			}
	}
	L.r = NULL;
	L.wake = L.timer = NULL;
	L.on = 0;
	L.calls = L.last = NULL; /* their callers are the parent's threads */
	L.epoch++;
}

struct add_arg {
	int fd;
	tp__rsrc_fn fn;
	void *arg;
	tp__rsrc **out;
	int rv;
};

static void add_on_loop(tp__reactor *r, void *arg)
{
	struct add_arg *a = arg;
	a->rv = tp__reactor_add_fd(r, a->fd, EPOLLIN, a->fn, a->arg, a->out);
}

int tp__log_loop_add_fd(int fd, tp__rsrc_fn fn, void *arg, tp__rsrc **out)
{
	struct add_arg a = {fd, fn, arg, out, TP_OK};
	int rv = tp__log_loop_call(add_on_loop, &a);
	return rv != TP_OK ? rv : a.rv;
}

static void del_on_loop(tp__reactor *r, void *arg)
{
	tp__rsrc **src = arg;
	(void)r;
	tp__reactor_del(*src);
	*src = NULL;
}

void tp__log_loop_del(tp__rsrc **src, unsigned epoch)
{
	if (epoch == tp__log_loop_epoch())
		tp__log_loop_call(del_on_loop, src);
}
