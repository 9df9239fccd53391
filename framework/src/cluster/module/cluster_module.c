/*
 * cluster_module.c - the entry of libtroupe-mpi.so, the MPI backend module
 * (cluster_host.h, docs/cluster.md).
 *
 * It defines, inside the module only (the module exports nothing but
 * tp_mpi_module, cluster_module.map), each libtroupe call the cluster
 * sources make as a call through libtroupe's table, and hands libtroupe
 * cluster.c's entry points. The cluster targets (TP_TARGET) register in
 * the module's constructors, which run inside dlopen, before libtroupe has
 * passed its table: their registrations wait here and are made when it
 * arrives.
 */
#include <string.h>

#include "cluster_host.h"
#include "cluster_int.h"
#include "troupe/error.h"
#include "troupe/version.h"

static const struct tp__mpi_host *host;

/* Registrations made before the table arrived (the module's constructors:
 * two targets). */
static struct {
	const char *name;
	tp_target_fn fn;
} early[8];
static int nearly;

#define CL_CALL_X(ret, name, params, args)                                     \
	ret name params                                                        \
	{                                                                      \
		return host->name args;                                        \
	}
#define CL_CALL_V(name, params, args)                                          \
	void name params                                                       \
	{                                                                      \
		host->name args;                                               \
	}
TP__MPI_HOST_CALLS(CL_CALL_X, CL_CALL_V)

int tp_target_register(const char *name, tp_target_fn fn)
{
	if (host != NULL)
		return host->tp_target_register(name, fn);
	if (nearly == (int)(sizeof(early) / sizeof(early[0])))
		return TP_ENOMEM;
	early[nearly].name = name;
	early[nearly].fn = fn;
	nearly++;
	return TP_OK;
}

static const struct tp__mpi_module module = {
    .size = sizeof(struct tp__mpi_module),
    .init = tp__cluster_init,
    .fini = tp__cluster_fini,
    .rank = tp_cluster_rank,
    .size_of = tp_cluster_size,
    .workers = tp_cluster_workers,
    .host_name = tp_cluster_host,
};

int tp_mpi_module(const struct tp__mpi_host *h,
                  const struct tp__mpi_module **out);

int tp_mpi_module(const struct tp__mpi_host *h,
                  const struct tp__mpi_module **out)
{
	if (h == NULL || out == NULL)
		return TP_EINVAL;
	if (h->size != sizeof(*h) || strcmp(h->version, TP_VERSION_STRING) ||
	    strcmp(h->calls, TP__MPI_HOST_NAMES))
		return TP_EPROTO;
	if (host == NULL) {
		host = h;
		for (int i = 0; i < nearly; i++) {
			int rv =
			    h->tp_target_register(early[i].name, early[i].fn);
			if (rv != TP_OK)
				return rv;
		}
	}
	*out = &module;
	return TP_OK;
}
