/*
 * troupe/cluster.h - a pool over many hosts under MPI (docs/cluster.md).
 *
 * Run the program with `mpirun` or `srun`, call tp_init with opts.mpi = 1,
 * and make the pool with tp_pool_opts.backend = TP_POOL_MPI: rank 0 runs
 * the program, every other rank is a node agent whose local workers are the
 * pool's workers. These calls describe the job.
 */
#ifndef TROUPE_CLUSTER_H
#define TROUPE_CLUSTER_H

#ifdef __cplusplus
extern "C" {
#endif

/* tp_cluster_rank returns this process's MPI rank (0 on rank 0, the only
 * rank that returns from tp_init), or -1 when tp_init did not set MPI up. */
int tp_cluster_rank(void);

/* tp_cluster_size returns the number of ranks (rank 0 and the agents), or
 * 0 when tp_init did not set MPI up. */
int tp_cluster_size(void);

/* tp_cluster_workers returns the number of workers the agents offer (the
 * size of a TP_POOL_MPI pool), or 0. */
int tp_cluster_workers(void);

/* tp_cluster_host returns the host name of rank (as MPI reports it), or
 * NULL for a rank out of range or without MPI. The string is static. */
const char *tp_cluster_host(int rank);

#ifdef __cplusplus
}
#endif
#endif
