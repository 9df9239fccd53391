/*
 * troupe/runtime.h - starting and stopping the troupe runtime.
 *
 * Call tp_init() at the top of main(), before anything else: it is the C
 * counterpart of Python's `if __name__ == "__main__":` guard.
 *  - It chooses the start method for child processes, and (for the default
 *    forkserver method) forks the fork server while the process is still
 *    single-threaded and has not touched nng: nng cannot be used in a child
 *    forked after nng started (see docs/architecture.md).
 *  - In a child started with the spawn method, tp_init() never returns: it
 *    runs the child's target and exits, the way Python's spawn re-imports
 *    the main module but skips the guarded block.
 *  - It creates the private runtime directory (mode 0700) that holds the
 *    sockets of this run, and removes directories left by dead runs.
 * tp_fini() stops what tp_init() started and removes the runtime directory.
 */
#ifndef TROUPE_RUNTIME_H
#define TROUPE_RUNTIME_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* How child processes are started; see docs/process.md. */
typedef enum tp_start_method {
	TP_START_DEFAULT = 0, /* the process-wide default (forkserver) */
	TP_START_FORKSERVER,  /* fork from a server forked at tp_init */
	TP_START_SPAWN,       /* fork + exec of /proc/self/exe */
	TP_START_FORK,        /* plain fork; only before nng started */
} tp_start_method;

typedef struct tp_init_opts {
	/* Default start method for tp_process_start (TP_START_DEFAULT:
	 * forkserver). The fork server is only started when this is
	 * TP_START_DEFAULT or TP_START_FORKSERVER. */
	tp_start_method start_method;
	/* Directory under which the run's private directory is made. NULL:
	 * $XDG_RUNTIME_DIR/troupe, else /tmp/troupe-<uid>. */
	const char *runtime_base;
	/* 1: the program runs under mpirun or srun (docs/cluster.md). MPI is
	 * set up once the fork server exists; rank 0 returns and runs the
	 * program, whose TP_POOL_MPI pools run their tasks on the other
	 * ranks; every other rank becomes a node agent (a local pool of
	 * mpi_workers processes running those tasks) and never returns: it
	 * exits when rank 0 finishes. The MPI backend is a module of its
	 * own, libtroupe-mpi.so beside libtroupe (or the path in the
	 * environment variable TROUPE_MPI_MODULE), loaded only here, so a
	 * program that does not ask for MPI never maps libmpi; TP_ENOMODULE
	 * when it cannot be loaded, tp_err_errno(ENOTSUP) when troupe was
	 * built without MPI. */
	int mpi;
	int mpi_workers;      /* each agent's pool; 0: tp_cpu_count() */
	int mpi_heartbeat_ms; /* 0: 1000; a rank silent for 10 beats ends the
	                         job (docs/cluster.md) */
} tp_init_opts;

/*
 * tp_init starts the runtime. opts may be NULL for the defaults.
 * Errors: TP_EALREADY (called twice without tp_fini), TP_EINVAL (bad
 * option), TP_EPERM (the runtime base exists but is not a private
 * directory of this user), TP_EPROTO (mpi: MPI_Init failed),
 * TP_ENOMODULE (mpi: the MPI backend module could not be loaded; why is
 * written to stderr), tp_err_errno(ENOTSUP) (mpi: built without MPI),
 * wrapped system errors.
 */
int tp_init(const tp_init_opts *opts);

/*
 * tp_fini stops the runtime: children are finished as Python does at exit
 * (daemonic ones terminated, others joined), the fork server is stopped,
 * and the runtime directory is removed. Errors: TP_ENOTINIT.
 */
int tp_fini(void);

/* tp_initialized returns 1 between tp_init and tp_fini, else 0. */
int tp_initialized(void);

/* tp_runtime_dir returns the run's private directory, or NULL. */
const char *tp_runtime_dir(void);

/*
 * tp_address writes a fresh, unique nng ipc address inside the runtime
 * directory into buf, of the form "ipc://DIR/KIND-PID-SEQ". kind names what
 * listens there ("q", "pipe", "sup", ...; letters, digits, '-' and '_').
 * Errors: TP_ENOTINIT, TP_EINVAL (bad kind, NULL buf), TP_ETOOBIG (buf too
 * small, or the path would exceed the Unix socket path limit).
 */
int tp_address(const char *kind, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
