/*
 * mpi_load.h - internal: the MPI backend module, for init.c (mpi_load.c).
 */
#ifndef TP_MPI_LOAD_H
#define TP_MPI_LOAD_H

#include "troupe/runtime.h"

/* Loads libtroupe-mpi.so once (before the fork server exists, so the
 * server and its children have the module's targets). Errors:
 * TP_ENOMODULE (not found, not loadable, or of another troupe build: why
 * is written to stderr), tp_err_errno(ENOTSUP) (built without MPI). */
int tp__mpi_load(void);
/* The module's tp__cluster_init (cluster_int.h); after tp__mpi_load. */
int tp__mpi_init(const tp_init_opts *opts, int *agent_done);
/* The module's tp__cluster_fini, when it is loaded. */
void tp__mpi_fini(void);

#endif
