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

#include "cluster_int.h"
#include "pool_int.h"
#include "troupe/cluster.h"
#include "troupe/error.h"
#include "troupe/process.h"

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

static const struct tp__pool_backend mpi_backend = {
    .open = be_open, .close = be_close, .worker = tp__cl_proxy};

struct rank_info {
	int workers;
	char host[64];
};

static int layout(int workers)
{
	struct rank_info me = {0}, *all;
	int len = 0;
	char name[MPI_MAX_PROCESSOR_NAME];
	MPI_Get_processor_name(name, &len);
	me.workers = tp__cl.rank == 0 ? 0 : workers;
	memcpy(me.host, name, sizeof(me.host) - 1); /* cut at 63 */
	all = calloc((size_t)tp__cl.size, sizeof(*all));
	tp__cl.workers = calloc((size_t)tp__cl.size, sizeof(int));
	tp__cl.host = calloc((size_t)tp__cl.size, sizeof(*tp__cl.host));
	if (all == NULL || tp__cl.workers == NULL || tp__cl.host == NULL)
		tp__cl_abort(1, "out of memory");
	MPI_Allgather(&me, sizeof(me), MPI_BYTE, all, sizeof(me), MPI_BYTE,
	              MPI_COMM_WORLD);
	for (int r = 0; r < tp__cl.size; r++) {
		tp__cl.workers[r] = all[r].workers;
		memcpy(tp__cl.host[r], all[r].host, sizeof(all[r].host));
		tp__cl.host[r][63] = '\0';
		tp__cl.nslots += all[r].workers;
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
