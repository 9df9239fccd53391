/*
 * spin.h - internal: a short, adaptive spin before a blocking wait on a
 * socket (rt/spin.c), for the calls that wait for a peer's answer on this
 * host: a pipe end's recv and poll (msg/pipe_io.c, msg/pipe.c); a
 * process start's wait for its child's first frame and a join's waits for
 * the last frames and the exit (proc/ctl.c, proc/reap.c, proc/watch.c).
 *
 * Why: on a virtual machine a process woken on another vCPU waits for
 * that vCPU to be woken by the hypervisor. Measured on the 2-vCPU KVM
 * this project runs on (AMD EPYC, 2026-12-06): a socketpair round trip
 * between two processes on different vCPUs with blocking recv 48-60 us,
 * with the receiver polling its socket (recv with MSG_DONTWAIT, then
 * sched_yield) for up to 20-50 us before it blocks 3.5-6 us; both
 * processes on one vCPU 7.6-10 us either way, because sched_yield lets
 * the peer run (a spin with only the CPU's pause instruction made that
 * case 50 us). So the wait polls, yielding between polls, for at most
 * tp__spin_ns() (default 50 us; TROUPE_SPIN_US in the environment sets
 * it, 0 turns spinning off), then sleeps in the kernel as before.
 *
 * Adaptive: an end whose answers keep coming later than the spin skips
 * spinning for its next 2, 4, ... 64 waits (after 1, 2, ... misses in a
 * row), so a peer that answers in milliseconds costs at most a spin per
 * 64 waits; one answer inside the spin resets it.
 */
#ifndef TP_SPIN_H
#define TP_SPIN_H

#include <stdint.h>

struct tp__spin {
	uint8_t misses; /* spins in a row that ended without an answer */
	uint8_t skip;   /* waits left that do not spin */
};

/* The spin budget in nanoseconds (TROUPE_SPIN_US, read once; 50 us). */
int64_t tp__spin_ns(void);

/* How long the next wait of s may spin (0: sleep at once); counts the
 * wait as one to skip when it may not. */
static inline int64_t tp__spin_budget(struct tp__spin *s)
{
	if (s->skip > 0) {
		s->skip--;
		return 0;
	}
	return tp__spin_ns();
}

/* A wait that spun is over: hit, its answer came while it spun. */
static inline void tp__spin_end(struct tp__spin *s, int hit)
{
	if (hit) {
		s->misses = 0;
		return;
	}
	if (s->misses < 6)
		s->misses++;
	s->skip = (uint8_t)(1u << s->misses);
}

/* Lets another thread of this CPU run: one step of a spin. */
void tp__spin_yield(void);

/* Spins (when s may) until fd is readable, has hung up or failed, or the
 * spin or the deadline dl (tp__now_ms(); negative: none) is over: 1 if
 * fd is ready (a read will not block), 0 if the caller must wait. */
int tp__spin_poll(struct tp__spin *s, int fd, int64_t dl);

#endif
