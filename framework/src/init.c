/*
 * init.c - tp_init and tp_fini: the only file that knows every module.
 *
 * Every layer below offers its own start and stop; this file calls them in
 * order (bottom up to start, top down to stop), so no module calls up into
 * one built on it. tp_init must be called before the program creates
 * threads or touches nng, because the fork server is forked from it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ctl_status.h"
#include "internal.h"
#include "log_client_int.h"
#include "log_int.h"
#include "mpi_load.h"
#include "pool_int.h"
#include "process_int.h"
#include "runtime_int.h"
#include "sup_int.h"
#include "svc.h"
#include "troupe/error.h"
#include "wire.h" /* with internal.h: the compiler checks both agree */

static pid_t init_pid;
static int atexit_done;

static void at_exit(void)
{
	if (tp__rt.initialised && getpid() == init_pid)
		tp_fini();
}

int tp_init(const tp_init_opts *opts)
{
	int rv;
	if (opts != NULL && opts->mpi &&
	    (opts->mpi_workers < 0 || opts->mpi_heartbeat_ms < 0))
		return TP_EINVAL;
	/* Before the fork server: it and its children need the module's
	 * targets (MPI itself starts after it, below). */
	if (opts != NULL && opts->mpi && !tp__rt.initialised &&
	    (rv = tp__mpi_load()) != TP_OK)
		return rv;
	if ((rv = tp__runtime_start(opts)) != TP_OK)
		return rv;
	init_pid = getpid();
	tp__svc_log_register();
	if ((rv = tp__process_init(opts)) != TP_OK) {
		tp__runtime_stop();
		return rv;
	}
	/* After the fork server exists: it must not inherit the thread. */
	if ((rv = tp__ctl_status_start()) != TP_OK) {
		tp__process_fini();
		tp__log_fini();
		tp__runtime_stop();
		return rv;
	}
	if ((rv = tp__root_sup_init()) != TP_OK) {
		tp__ctl_status_stop();
		tp__process_fini();
		tp__log_fini();
		tp__runtime_stop();
		return rv;
	}
	if (!atexit_done && atexit(at_exit) == 0)
		atexit_done = 1;
	/* Last: MPI after the fork server; ranks but 0 never return. */
	int agent_done = 0;
	if (opts != NULL && opts->mpi &&
	    (rv = tp__mpi_init(opts, &agent_done)) != TP_OK) {
		tp_fini();
		return rv;
	}
	if (agent_done) { /* a node agent whose job ended: never returns */
		tp_fini();
		exit(0);
	}
	return TP_OK;
}

int tp_fini(void)
{
	if (!tp__rt.initialised)
		return TP_ENOTINIT;
	tp__ctl_status_stop(); /* first: it acts on the root's tree */
	/* This process's records reach the logging actor while it runs. */
	tp__log_flush_bounded(TP_LOG_EXIT_MS, 1);
	/* Pools first: their supervisors hang under the root, and a logging
	 * actor under the root still writes their last records. */
	tp__pool_fini();
	/* Then the root's children, which use every module. They stop in
	 * reverse start order, so a logging actor started before them writes
	 * their last records; then this process writes directly. */
	tp__root_sup_fini();
	tp__log_actors_unhost();
	tp__mpi_fini(); /* after the pools: its stand-ins are workers */
	tp__process_fini();
	tp__log_fini();
	tp__runtime_stop();
	return TP_OK;
}

void tp_spawn_guard(void)
{
	if ((getenv(TP_ENV_START_FD) != NULL ||
	     getenv(TP_ENV_SERVER_FD) != NULL) &&
	    !tp__rt.initialised) {
		int rv = tp_init(NULL); /* adopts the run dir, runs the child
		                         * or becomes the fork server */
		fprintf(stderr, "troupe: spawned child: tp_init: %s\n",
		        tp_strerror(rv));
		_exit(255); /* never run the caller's main as a child */
	}
}
