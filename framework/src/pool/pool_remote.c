/*
 * pool_remote.c - worker kinds: where a pool's workers run.
 *
 * A pool's workers are local processes running the library's worker
 * target (pool_worker.c), unless the pool asks for another backend
 * (tp_pool_opts.backend). A backend is registered from a layer above
 * (cluster/, for TP_POOL_MPI) and gives the number of workers it offers
 * and the target each worker process runs instead: a stand-in that speaks
 * the worker protocol to the pool and forwards it to the real worker
 * elsewhere. The pool's own machinery (batches, pipelines, deaths,
 * retries, results) is the same for every kind.
 */
#include <errno.h>
#include <pthread.h>

#include "pool_int.h"
#include "troupe/error.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static const struct tp__pool_backend *backends[TP_POOL_MPI + 1];

void tp__pool_backend_set(tp_pool_backend which,
                          const struct tp__pool_backend *b)
{
	pthread_mutex_lock(&mu);
	if ((int)which >= 0 && which <= TP_POOL_MPI)
		backends[which] = b;
	pthread_mutex_unlock(&mu);
}

int tp__pool_backend_open(struct tp_pool *pool, const tp_pool_opts *o)
{
	const struct tp__pool_backend *b;
	int n = 0, rv;
	if (o->backend == TP_POOL_LOCAL)
		return TP_OK;
	if ((int)o->backend < 0 || o->backend > TP_POOL_MPI)
		return TP_EINVAL;
	pthread_mutex_lock(&mu);
	b = backends[o->backend];
	pthread_mutex_unlock(&mu);
	if (b == NULL)
		return tp_err_errno(ENOTSUP);
	if (o->initializer != NULL || o->initargs != NULL)
		return tp_err_errno(
		    ENOTSUP); /* not forwarded to remote workers (yet) */
	if ((rv = b->open(o, &n)) != TP_OK)
		return rv;
	pool->backend = b;
	pool->n = n;
	return TP_OK;
}

void tp__pool_backend_close(struct tp_pool *pool)
{
	if (pool->backend != NULL)
		pool->backend->close();
	pool->backend = NULL;
}

tp_target_fn tp__pool_worker_target(const struct tp_pool *pool)
{
	return pool->backend != NULL ? pool->backend->worker : tp__pool_worker;
}
