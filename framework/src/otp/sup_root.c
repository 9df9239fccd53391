/*
 * sup_root.c - the program's root supervisor: the one tree every child of
 * the program hangs under (issue #14).
 *
 * tp_init makes it (tp__root_sup_init) and tp_fini stops it first, before
 * any module below, so its children (pools, managers, the logging actor,
 * a user's own subtrees) stop in reverse start order while everything they
 * use still runs. A forked child does not own its parent's tree (the loop
 * thread does not exist there): it forgets the pointer and makes its own
 * on first use of tp_sup_root.
 */
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "sup_int.h"
#include "troupe/error.h"
#include "troupe/runtime.h"
#include "troupe/supervisor.h"

static pthread_mutex_t root_mu = PTHREAD_MUTEX_INITIALIZER;
static tp_sup *root;
static pid_t root_pid;
/* A forked child keeps its parent's tree reachable, unused: its memory is
 * the parent's copy, and a leak checker must not call it lost. */
static tp_sup *inherited;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* A fork taken while the tree's thread allocates can leave an allocator
 * without fork handlers (GCC 12's ASan) locked in the child: a fork waits
 * (bounded, never deadlocking) until the thread is out of its work, which
 * it does under the root's mutex. The loop thread itself, forking a child
 * it starts, skips this. */
static int fork_locked;

static void fork_prepare(void)
{
	tp_sup *s = root;
	fork_locked = 0;
	if (s == NULL || root_pid != getpid() || !s->started ||
	    pthread_equal(pthread_self(), s->thr))
		return;
	for (int i = 0; i < 2000; i++) {
		if (pthread_mutex_trylock(&s->mu) == 0) {
			fork_locked = 1;
			return;
		}
		sched_yield();
	}
}

static void fork_parent(void)
{
	if (fork_locked)
		pthread_mutex_unlock(&root->mu);
	fork_locked = 0;
}

static void forget_in_child(void)
{
	if (fork_locked)
		pthread_mutex_unlock(&root->mu);
	fork_locked = 0;
	/* The parent's tree is not ours; its memory is left alone. */
	pthread_mutex_init(&root_mu, NULL);
	if (root != NULL)
		inherited = root;
	root = NULL;
	root_pid = 0;
}

static void register_atfork(void)
{
	pthread_atfork(fork_prepare, fork_parent, forget_in_child);
}

static int make_root(void)
{
	tp_sup_flags f = TP_SUP_FLAGS_INIT;
	tp_sup *s;
	int rv;
	/* One dead child must not take the program down: the root is
	 * generous; a subtree that wants strictness nests its own sup. */
	f.intensity = 1000;
	f.period_ms = 1000;
	if ((rv = tp_sup_new(&s, &f)) != TP_OK)
		return rv;
	if ((rv = tp_sup_start(s)) != TP_OK) {
		tp_sup_free(s);
		return rv;
	}
	root = s;
	root_pid = getpid();
	return TP_OK;
}

tp_sup *tp__root_sup_peek(void)
{
	pthread_mutex_lock(&root_mu);
	return root != NULL && root_pid == getpid() ? root : NULL;
}

void tp__root_sup_unpeek(void)
{
	pthread_mutex_unlock(&root_mu);
}

int tp__root_sup_init(void)
{
	pthread_once(&atfork_once, register_atfork);
	tp__sup_mon_init();
	pthread_mutex_lock(&root_mu);
	int rv = root != NULL && root_pid == getpid() ? TP_OK : make_root();
	pthread_mutex_unlock(&root_mu);
	return rv;
}

void tp__root_sup_fini(void)
{
	pthread_mutex_lock(&root_mu);
	tp_sup *s = root_pid == getpid() ? root : NULL;
	root = NULL;
	root_pid = 0;
	pthread_mutex_unlock(&root_mu);
	tp_sup_free(s);
}

tp_sup *tp_sup_root(void)
{
	if (!tp_initialized())
		return NULL;
	if (tp__root_sup_init() != TP_OK)
		return NULL;
	pthread_mutex_lock(&root_mu);
	tp_sup *s = root;
	pthread_mutex_unlock(&root_mu);
	return s;
}

int tp__root_sup_configure(const tp_sup_flags *f)
{
	if (f == NULL || f->strategy < TP_ONE_FOR_ONE ||
	    f->strategy >= TP_SIMPLE_ONE_FOR_ONE || f->intensity < 0 ||
	    f->period_ms <= 0 || f->auto_shutdown < TP_AUTO_NEVER ||
	    f->auto_shutdown > TP_AUTO_ALL_SIGNIFICANT)
		return TP_EINVAL;
	tp_sup *s = tp_sup_root();
	if (s == NULL)
		return TP_ESTATE;
	int64_t *ring = calloc((size_t)f->intensity + 1, sizeof(*ring));
	if (ring == NULL)
		return TP_ENOMEM;
	pthread_mutex_lock(&s->mu);
	free(s->restarts);
	s->restarts = ring;
	s->nrestarts = 0;
	s->flags = *f;
	pthread_mutex_unlock(&s->mu);
	return TP_OK;
}
