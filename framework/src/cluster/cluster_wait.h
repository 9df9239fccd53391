/*
 * cluster_wait.h - internal: the idle wait of the bridge and the agents
 * (cluster_wait.c). No MPI here, so a unit test can drive it
 * (tests/test_cluster_wait.c).
 *
 * A loop that also needs MPI's progress cannot sleep on MPI's sockets (Open
 * MPI does not hand them out), so it wakes on its own file descriptors and
 * an eventfd other threads ring, or when its wait runs out. After traffic
 * the waits are short (a message often follows another): 0, then from
 * 10 us doubling to 1 ms, and at most 1 ms for the first quiet_ns of a
 * quiet spell (a peer's answer to work in hand comes within it, and is
 * seen within a millisecond); past that they double up to the cap, half a
 * heartbeat period but at most TP__CL_WAIT_IDLE_NS, so an idle rank makes
 * some twenty rounds a second instead of a thousand, still beats in time,
 * and work after a quiet spell waits at most 50 ms.
 */
#ifndef TP_CLUSTER_WAIT_H
#define TP_CLUSTER_WAIT_H

#include <poll.h>

#define TP__CL_WAIT_FIRST_NS  10000L   /* the first wait after a quiet round */
#define TP__CL_WAIT_SHORT_NS  1000000L /* the cap early in a quiet spell */
#define TP__CL_WAIT_MOVING_NS 100000L  /* the cap while a message is moving */
#define TP__CL_WAIT_IDLE_NS                                                    \
	50000000L /* the longest idle wait (the callers'                       \
	             cap: this or half a beat) */

struct tp__cl_wait {
	int fd;        /* the eventfd (non-blocking) */
	int idle;      /* rounds since the last traffic (0, 1 or 2) */
	long last_ns;  /* the last wait given */
	long waited;   /* ns of waits given since the last traffic */
	long quiet_ns; /* how long the waits stay short */
	long cap_ns;   /* the longest wait */
};

/* Makes the eventfd; cap_ns (> 0) bounds every wait, and the waits stay
 * at most TP__CL_WAIT_SHORT_NS (or cap_ns, if less) for the first
 * quiet_ns of a quiet spell. Errors: a tp_err_errno code. */
int tp__cl_wait_init(struct tp__cl_wait *w, long quiet_ns, long cap_ns);
void tp__cl_wait_fini(struct tp__cl_wait *w);
/* Wakes the loop (any thread; async-signal-safe). */
void tp__cl_wait_ring(struct tp__cl_wait *w);
/* The next wait, in ns, after a round: busy, it had traffic (the next
 * round comes at once); moving, sends or receives still need MPI's
 * progress (at most TP__CL_WAIT_MOVING_NS). Otherwise 0 once, then from
 * TP__CL_WAIT_FIRST_NS doubling (held at TP__CL_WAIT_SHORT_NS until the
 * waits given add up to quiet_ns), never over the cap. */
long tp__cl_wait_next(struct tp__cl_wait *w, int busy, int moving);
/* Waits at most ns for fds[0..n) (n may be 0) or the ring: fds must have
 * room for one more (the eventfd goes at fds[n]). Returns 1 when the loop
 * was rung (the eventfd is then read, and only then), 0 otherwise; the
 * caller's revents say which of its own are ready. */
int tp__cl_wait_for(struct tp__cl_wait *w, struct pollfd *fds, int n, long ns);

#endif
