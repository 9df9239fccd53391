/*
 * mgr_lane.h - internal: the shared-memory lane of a local (ipc://)
 * manager connection (mgr_lane.c; client side in mgr_conn.c, server side
 * in mgr_fast.c).
 *
 * After the handshake a client creates a sealed memfd of TP__LANE_SIZE
 * bytes and offers it to the server (a TP__MGR_LANE request carrying the
 * fd by SCM_RIGHTS). The server checks it is a memfd of exactly that size
 * that can neither shrink nor grow nor take more seals, maps it and
 * answers TP_OK; any other answer (an older server's TP_EPROTO, a
 * refusal) leaves the connection on its socket. Then a call whose request
 * fits the slot goes through it:
 *
 *   client: request bytes into req[], req_len, req_seq = n (release);
 *           seq_cst fence; srv_sleep set? send a wake (an empty frame) on
 *           the socket.
 *   server: sees req_seq == n (its idle hook polls, or the wake frame),
 *           copies req[] out, then validates and handles the copy; the
 *           reply (if it fits) into rep[], rep_len, rep_seq = n (release);
 *           seq_cst fence; cli_sleep set? an empty frame on the socket.
 *           (A reply too big for the slot: over the socket first, then
 *           rep_len = TP__LANE_BY_SOCKET, rep_seq = n.)
 *
 * Each side spins a bounded, adaptive time (shorter after spins that
 * caught nothing, and cut short when the spinner finds it was
 * descheduled: on a busy machine a runnable spinner waits for a whole
 * time slice, a sleeper woken by the socket runs at once), then sets its
 * sleeping flag,
 * fences (seq_cst: Dekker's order, so that one of "the writer sees the
 * flag" and "the sleeper sees the new sequence" always holds) and
 * re-checks before sleeping on the socket. The socket still carries
 * death (EOF), oversized messages and the wakes. One call at a time per
 * connection (its mutex): one slot each way suffices. A client whose call
 * timed out sets cli_off and uses its socket only from then on; a server
 * that sees cli_off answers over the socket.
 */
#ifndef TP_MGR_LANE_H
#define TP_MGR_LANE_H

#include <stddef.h>
#include <stdint.h>

#define TP__LANE_SLOT 8192
#define TP__LANE_HDR  4096
#define TP__LANE_SIZE (TP__LANE_HDR + 2 * TP__LANE_SLOT)
/* rep_len of a reply sent over the socket (too big for the slot): the
 * client reads its socket at once instead of spinning on. */
#define TP__LANE_BY_SOCKET 0xffffffffu
/* Spin budgets, in nanoseconds. */
#define TP__LANE_SPIN_MIN 2000
#define TP__LANE_SPIN_MAX 60000
/* The server's shortest spin after a reply its client was spinning for
 * (longer than the client takes to send its next request). */
#define TP__LANE_SRV_MIN 10000
/* Two looks of a spin loop this far apart: the spinner was descheduled
 * (a busy machine), so it stops spinning and sleeps. */
#define TP__LANE_GAP 20000

struct tp__lane_shm {
	/* written by the client (accessed with __atomic builtins) */
	_Alignas(64) uint64_t req_seq;
	uint32_t req_len;
	uint32_t cli_sleep; /* 1: may sleep on its socket, wake it */
	uint32_t cli_off;   /* 1: a call timed out, replies by socket */
	uint32_t cli_spin;  /* 1: spinning for its reply right now */
	/* written by the server */
	_Alignas(64) uint64_t rep_seq;
	uint32_t rep_len;
	uint32_t srv_sleep;
	_Alignas(4096) uint8_t req[TP__LANE_SLOT];
	uint8_t rep[TP__LANE_SLOT];
};

_Static_assert(sizeof(struct tp__lane_shm) == TP__LANE_SIZE, "lane layout");

/* Every TP__LANE_PROBE-th wait, a client that stopped spinning spins
 * once more, for TP__LANE_PROBE_NS (longer than one wake-up of a sleeping
 * server on a quiet machine), to find out whether spinning pays again. */
#define TP__LANE_PROBE    64
#define TP__LANE_PROBE_NS 30000

/* An adaptive spin budget: doubled after a spin that caught what it
 * waited for (within TP__LANE_SPIN_MIN.._MAX), halved after one that did
 * not, down to 0: no spinning (a busy machine, or a peer that is slow to
 * answer), but for a probe every TP__LANE_PROBE-th wait (one that misses
 * is not repeated at half the length). */
struct tp__lane_spin {
	uint64_t ns;
	unsigned probe;
};

static inline uint64_t tp__lane_budget(struct tp__lane_spin *s)
{
	if (s->ns != 0)
		return s->ns;
	return ++s->probe % TP__LANE_PROBE == 0 ? TP__LANE_PROBE_NS : 0;
}

static inline void tp__lane_hit(struct tp__lane_spin *s, uint64_t used)
{
	uint64_t n = used * 2;
	s->ns = n < TP__LANE_SPIN_MIN   ? TP__LANE_SPIN_MIN
	        : n > TP__LANE_SPIN_MAX ? TP__LANE_SPIN_MAX
	                                : n;
}

static inline void tp__lane_miss(struct tp__lane_spin *s, uint64_t used)
{
	/* a probe that missed: back to none at once */
	s->ns = s->ns == 0 || used / 2 < TP__LANE_SPIN_MIN ? 0 : used / 2;
}

/* 1 when this process may run on more than one CPU (else spinning only
 * delays the peer it waits for). */
int tp__lane_can_spin(void);
/* A new sealed memfd of TP__LANE_SIZE, mapped (not inherited by fork:
 * MADV_DONTFORK). */
int tp__lane_create(int *fd, struct tp__lane_shm **out);
/* The server's check and map of a client's fd (not taken): TP_EINVAL
 * when it is not a sealed memfd of the size, or its sequences are not
 * fresh. */
int tp__lane_map(int fd, struct tp__lane_shm **out);
void tp__lane_unmap(struct tp__lane_shm *l);
/* A pause in a spin loop. */
void tp__lane_relax(void);

#endif
