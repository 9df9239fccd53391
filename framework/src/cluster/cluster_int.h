/*
 * cluster_int.h - internal: the pool's MPI backend (docs/cluster.md).
 *
 * Under mpirun, tp_init (tp_init_opts.mpi) calls tp__cluster_init once the
 * fork server exists. Rank 0 returns to the program; every other rank runs
 * tp__cluster_agent (cluster_agent.c): a node agent owning an ordinary local
 * pool, which never returns. On rank 0 a bridge thread (cluster_bridge.c)
 * is the only user of MPI: each worker slot of a TP_POOL_MPI pool is a
 * local stand-in process (cluster_proxy.c) relaying the pool's worker
 * protocol over nng to the bridge, which sends it to the agent owning the
 * slot. An agent runs each task it gets as one task of its local pool
 * (cluster_run.c), so no user code runs in a process that calls MPI.
 *
 * MPI messages: tag = slot + TP__CL_SLOTS * generation for a PoolTasks or
 * PoolResults envelope (the generation changes with each MPI pool, so a
 * late result of a freed pool is dropped), or one of the control tags.
 */
#ifndef TP_CLUSTER_INT_H
#define TP_CLUSTER_INT_H

#include <stdint.h>

#include "troupe/payload.h"
#include "troupe/runtime.h"

#define TP__CL_SLOTS    1024  /* most worker slots in a job */
#define TP__CL_GENS     28    /* generations in the tag space */
#define TP__CL_TAG_HB   30000 /* heartbeat, both ways; empty */
#define TP__CL_TAG_STOP 30001 /* rank 0 to agents: finish and exit */
#define TP__CL_TAG_OPEN 30002 /* rank 0 to agents: a new MPI pool */

/* What TP__CL_TAG_OPEN carries (int32s, little-endian): the pool's generation
 * and the options each agent's local pool takes from it. */
enum {
	CL_OPEN_GEN,
	CL_OPEN_ON_DEATH,
	CL_OPEN_RETRIES,
	CL_OPEN_MAXTASKS,
	CL_OPEN_TIMEOUT,
	CL_OPEN_N
};
/* The exit code of a job troupe ended because a rank went silent. */
#define TP__CL_EXIT_LOST 75
/* The exit code of a job refused because its hosts differ in byte order
 * (EX_CONFIG). */
#define TP__CL_EXIT_ORDER 78

struct tp__cluster {
	int rank, size;
	int nslots;       /* worker slots over all agents */
	int *slot_rank;   /* [nslots]: the agent owning each slot */
	int *workers;     /* [size]: each rank's local workers (0 for 0) */
	char (*host)[64]; /* [size]: each rank's host name */
	int hb_ms;
};
extern struct tp__cluster tp__cl;

/* cluster.c */
/* Sets MPI up. On rank 0 it returns; on every other rank it runs the
 * agent until rank 0 says Stop, then sets *agent_done: the caller (init.c)
 * then finishes the runtime (tp_fini: MPI_Finalize too) and exits. */
int tp__cluster_init(const tp_init_opts *opts, int *agent_done);
void tp__cluster_fini(void);
double tp__cl_now(void);
/* Ends the whole job: says why on stderr, then MPI_Abort. */
void tp__cl_abort(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

/* cluster_bridge.c (rank 0) */
int tp__cl_bridge_start(void);
void tp__cl_bridge_stop(void);
/* A new MPI pool: a new generation for its messages, and its options
 * (cfg, CL_OPEN_N ints; cfg[CL_OPEN_GEN] is set) sent to every agent
 * before any of its tasks. */
void tp__cl_bridge_open(int32_t *cfg);
/* The bridge's address for worker slot s. */
int tp__cl_bridge_addr(int slot, char *buf, size_t len);

/* cluster_agent.c (every other rank): returns when rank 0 says Stop. */
void tp__cluster_agent(int workers);
/* In a process of the backend's own (an agent, a stand-in): freed blocks
 * of batch size are kept for the next ones, not given back (mallopt). */
void tp__cl_keep_freed_memory(void);

/* cluster_proxy.c, cluster_run.c: pool targets. */
int tp__cl_proxy(const tp_payload *args, tp_payload *result);
int tp__cl_run(const tp_payload *args, tp_payload *result);

#endif
