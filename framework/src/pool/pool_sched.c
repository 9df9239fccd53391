/*
 * pool_sched.c - the pool's scheduling policies.
 *
 * A policy is a vtable with one call, pick, that chooses which worker gets
 * the next task from what the supervisor knows of each worker's load. The
 * supervisor then sends that worker a batch (as many queued tasks as its
 * pipeline has room for), so a policy decides placement while batching and
 * pipelining stay the supervisor's job.
 */
#include "pool_int.h"

static int has_room(const tp_pool_load *w)
{
	return w->ready && w->inflight < w->capacity;
}

/* Least-loaded pull: the worker with the fewest tasks in flight, so an
 * idle worker pulls work first; ties go to the one that did least. */
static int pick_least_loaded(const tp_pool_load *w, int n, uintptr_t *state)
{
	int best = -1;
	(void)state;
	for (int i = 0; i < n; i++) {
		if (!has_room(&w[i]))
			continue;
		if (best < 0 || w[i].inflight < w[best].inflight ||
		    (w[i].inflight == w[best].inflight &&
		     w[i].done < w[best].done))
			best = i;
	}
	return best;
}

/* Round-robin: the next worker in turn that has room. */
static int pick_round_robin(const tp_pool_load *w, int n, uintptr_t *state)
{
	for (int k = 0; k < n; k++) {
		int i = (int)((*state + (uintptr_t)k) % (uintptr_t)n);
		if (has_room(&w[i])) {
			*state = (uintptr_t)i + 1;
			return i;
		}
	}
	return -1;
}

const tp_pool_sched tp_pool_sched_least_loaded = {"least-loaded",
                                                  pick_least_loaded};
const tp_pool_sched tp_pool_sched_round_robin = {"round-robin",
                                                 pick_round_robin};
