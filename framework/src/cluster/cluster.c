/*
 * cluster.c - the MPI job: setting MPI up in tp_init, the layout of ranks
 * and worker slots, the TP_POOL_MPI backend of the pool, and the end.
 *
 * Every rank calls MPI_Init_thread (SERIALIZED: after init only the bridge
 * thread of rank 0, or the agent's loop, calls MPI) and one Allgather of
 * (workers, host name). Rank 0 then starts the bridge and returns; the
 * others become node agents and never return.
 */
#include <errno.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(OPEN_MPI) && OPEN_MPI
#include <mpi-ext.h> /* Open MPI's extensions: ULFM's, where built */
#endif

#include "cluster_int.h"
#include "cluster_wire.h"
#include "pool_int.h"
#include "troupe/cluster.h"
#include "troupe/error.h"
#include "troupe/process.h"

/*
 * ULFM (MPI's fault-tolerance extension: Open MPI 5 built with it, MPICH)
 * would let rank 0 learn that one agent died (an error of class
 * MPIX_ERR_PROC_FAILED) and go on without it, requeuing the batches that
 * agent held. TP__CL_ULFM says whether this MPI has it; troupe does not
 * use it yet: tp__cluster_init keeps MPI_ERRORS_ARE_FATAL on every rank
 * (explicitly, where ULFM exists), so a dead agent ends the job as on
 * Open MPI 4.1, which has no ULFM (docs/cluster.md).
 */
#if defined(MPIX_ERR_PROC_FAILED)
#define TP__CL_ULFM 1
#else
#define TP__CL_ULFM 0
#endif

struct tp__cluster tp__cl = {.rank = -1};
static int mpi_up;
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static int pool_open;

double tp__cl_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void tp__cl_abort(int code, const char *fmt, ...)
{
	va_list ap;
	char msg[512];
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr,
	        "troupe: cluster: rank %d on %s: %s; ending the job "
	        "(exit code %d)\n",
	        tp__cl.rank, tp__cl.host ? tp__cl.host[tp__cl.rank] : "?", msg,
	        code);
	fflush(stderr);
	MPI_Abort(MPI_COMM_WORLD, code);
	_exit(code);
}

static int be_open(const tp_pool_opts *o, int *n)
{
	int32_t cfg[CL_OPEN_N] = {0};
	int rv = TP_OK;
	cfg[CL_OPEN_ON_DEATH] = (int32_t)o->on_death;
	cfg[CL_OPEN_RETRIES] = o->max_retries;
	cfg[CL_OPEN_MAXTASKS] = o->maxtasksperchild;
	cfg[CL_OPEN_TIMEOUT] = o->task_timeout_ms;
	pthread_mutex_lock(&pool_mu);
	if (pool_open)
		rv = tp_err_errno(EBUSY);
	else if (tp__cl.nslots == 0)
		rv = tp_err_errno(ENOTSUP);
	else {
		pool_open = 1;
		tp__cl_bridge_open(cfg);
		*n = tp__cl.nslots;
	}
	pthread_mutex_unlock(&pool_mu);
	return rv;
}

static void be_close(void)
{
	pthread_mutex_lock(&pool_mu);
	pool_open = 0;
	pthread_mutex_unlock(&pool_mu);
}

/* A slot's round trip (pool, stand-in, bridge, MPI, agent, its local pool
 * and back) takes several wake-ups: 20 ms of work in hand per slot keeps
 * every remote worker busy through it (tasks of 1 ms: 22 per slot). */
static const struct tp__pool_backend mpi_backend = {.open = be_open,
                                                    .close = be_close,
                                                    .worker = tp__cl_proxy,
                                                    .depth_ns = 20e6,
                                                    .ring = 1,
                                                    .fast_here = 1};

/* Every rank's workers and host name, in bytes of one order (cluster_
 * wire.c); a job whose ranks differ in byte order is refused here, before
 * any batch travels: the pool's number columns are the host's bytes. */
static int layout(int workers)
{
	struct tp__cl_info me = {0}, *all;
	uint8_t mine[TP__CL_INFO_SIZE], *bytes;
	int len = 0, bad;
	char name[MPI_MAX_PROCESSOR_NAME];
	MPI_Get_processor_name(name, &len);
	tp__cl_order_mark(me.order);
	me.workers = tp__cl.rank == 0 ? 0 : workers;
	memcpy(me.host, name, sizeof(me.host) - 1); /* cut at 63 */
	tp__cl_info_put(mine, &me);
	all = calloc((size_t)tp__cl.size, sizeof(*all));
	bytes = calloc((size_t)tp__cl.size, TP__CL_INFO_SIZE);
	tp__cl.workers = calloc((size_t)tp__cl.size, sizeof(int));
	tp__cl.host = calloc((size_t)tp__cl.size, sizeof(*tp__cl.host));
	if (all == NULL || bytes == NULL || tp__cl.workers == NULL ||
	    tp__cl.host == NULL)
		tp__cl_abort(1, "out of memory");
	MPI_Allgather(mine, TP__CL_INFO_SIZE, MPI_BYTE, bytes, TP__CL_INFO_SIZE,
	              MPI_BYTE, MPI_COMM_WORLD);
	for (int r = 0; r < tp__cl.size; r++) {
		tp__cl_info_get(bytes + (size_t)r * TP__CL_INFO_SIZE, &all[r]);
		tp__cl.workers[r] = all[r].workers;
		memcpy(tp__cl.host[r], all[r].host, sizeof(all[r].host));
		tp__cl.nslots += all[r].workers;
	}
	free(bytes);
	if ((bad = tp__cl_order_check(all, tp__cl.size)) >= 0) {
		char why[320];
		snprintf(
		    why, sizeof(why),
		    "rank %d on host %s is %s and rank 0 on host %s is %s: "
		    "a troupe job runs on hosts of one byte order",
		    bad, all[bad].host, tp__cl_order_name(all[bad].order),
		    all[0].host, tp__cl_order_name(all[0].order));
		free(all);
		tp__cl_abort(TP__CL_EXIT_ORDER, "%s", why);
	}
	free(all);
	if (tp__cl.nslots > TP__CL_SLOTS)
		tp__cl_abort(1, "%d workers, over the %d a job may have",
		             tp__cl.nslots, TP__CL_SLOTS);
	tp__cl.slot_rank = calloc((size_t)tp__cl.nslots + 1, sizeof(int));
	if (tp__cl.slot_rank == NULL)
		tp__cl_abort(1, "out of memory");
	for (int r = 0, s = 0; r < tp__cl.size; r++)
		for (int k = 0; k < tp__cl.workers[r]; k++)
			tp__cl.slot_rank[s++] = r;
	return TP_OK;
}

int tp__cluster_init(const tp_init_opts *opts, int *agent_done)
{
	int provided = 0, workers;
	if (opts->mpi_workers < 0 || opts->mpi_heartbeat_ms < 0)
		return TP_EINVAL;
	if (MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided) !=
	    MPI_SUCCESS)
		return TP_EPROTO;
	mpi_up = 1;
	if (provided < MPI_THREAD_SERIALIZED)
		tp__cl_abort(1, "MPI gives no MPI_THREAD_SERIALIZED");
#if TP__CL_ULFM
	/* a failed rank stays fatal until requeuing is written (above) */
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
#endif
	MPI_Comm_rank(MPI_COMM_WORLD, &tp__cl.rank);
	MPI_Comm_size(MPI_COMM_WORLD, &tp__cl.size);
	tp__cl.hb_ms = opts->mpi_heartbeat_ms ? opts->mpi_heartbeat_ms : 1000;
	workers = opts->mpi_workers ? opts->mpi_workers : tp_cpu_count();
	layout(workers < 1 ? 1 : workers);
	*agent_done = 0;
	if (tp__cl.rank != 0) {
		tp__cluster_agent(workers < 1 ? 1 : workers);
		*agent_done = 1;
		return TP_OK;
	}
	int rv = tp__cl_bridge_start();
	if (rv != TP_OK)
		tp__cl_abort(1, "the bridge did not start: %s",
		             tp_strerror(rv));
	tp__pool_backend_set(TP_POOL_MPI, &mpi_backend);
	return TP_OK;
}

void tp__cluster_fini(void)
{
	if (!mpi_up)
		return;
	tp__pool_backend_set(TP_POOL_MPI, NULL);
	tp__cl_bridge_stop(); /* tells the agents to finish */
	MPI_Finalize();
	mpi_up = 0;
	free(tp__cl.slot_rank);
	free(tp__cl.workers);
	free(tp__cl.host);
	tp__cl = (struct tp__cluster){.rank = -1};
}

int tp_cluster_rank(void)
{
	return tp__cl.rank;
}

int tp_cluster_size(void)
{
	return tp__cl.rank < 0 ? 0 : tp__cl.size;
}

int tp_cluster_workers(void)
{
	return tp__cl.nslots;
}

const char *tp_cluster_host(int rank)
{
	if (tp__cl.host == NULL || rank < 0 || rank >= tp__cl.size)
		return NULL;
	return tp__cl.host[rank];
}
