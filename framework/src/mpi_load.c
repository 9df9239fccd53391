/*
 * mpi_load.c - the MPI backend as a module: tp_init loads libtroupe-mpi.so
 * (cluster/, cluster/cluster_host.h) only when its options ask for MPI, so
 * a program that does not use MPI never maps libmpi and its libraries
 * (docs/cluster.md, "How the backend is loaded"), and answers the public
 * tp_cluster_* calls, through the module when it is loaded.
 *
 * Where the module is looked for, first found wins:
 *   1. $TROUPE_MPI_MODULE, a path: then only there;
 *   2. beside the object holding libtroupe (libtroupe.so's directory);
 *   3. by name, through the dynamic loader's search (LD_LIBRARY_PATH, the
 *      program's RUNPATH: $ORIGIN/../lib when installed, the build tree's
 *      framework/ when built);
 *   4. the library directory troupe was installed to.
 * It is never unloaded: MPI cannot start twice in a process, and the
 * module's targets stay registered.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi_load.h"
#include "troupe/cluster.h"
#include "troupe/error.h"
#include "troupe/runtime.h"

#ifdef TP_HAVE_MPI
#include "cluster_host.h"
#include "troupe/version.h"

#define TP_MPI_MODULE_NAME "libtroupe-mpi.so"

static const struct tp__mpi_host host = {
    .size = sizeof(struct tp__mpi_host),
    .version = TP_VERSION_STRING,
    .calls = TP__MPI_HOST_NAMES,
#define HOST_X(ret, name, params, args) .name = name,
#define HOST_V(name, params, args)      .name = name,
    TP__MPI_HOST_CALLS(HOST_X, HOST_V)
#undef HOST_X
#undef HOST_V
        .tp_target_register = tp_target_register,
};

static const struct tp__mpi_module *mod;

static void *open_beside_libtroupe(void)
{
	Dl_info di;
	char path[PATH_MAX];
	if (dladdr((void *)tp_init, &di) == 0 || di.dli_fname == NULL)
		return NULL;
	const char *slash = strrchr(di.dli_fname, '/');
	if (slash == NULL)
		return NULL;
	int n =
	    snprintf(path, sizeof(path), "%.*s/%s", (int)(slash - di.dli_fname),
	             di.dli_fname, TP_MPI_MODULE_NAME);
	if (n < 0 || (size_t)n >= sizeof(path))
		return NULL;
	return dlopen(path, RTLD_NOW | RTLD_GLOBAL);
}

/* RTLD_GLOBAL: Open MPI's own components, which it dlopens, resolve
 * libmpi's and libopen-pal's symbols in the global scope. */
static void *open_module(void)
{
	const char *env = getenv("TROUPE_MPI_MODULE");
	void *h;
	if (env != NULL && env[0] != '\0')
		return dlopen(env, RTLD_NOW | RTLD_GLOBAL);
	if ((h = open_beside_libtroupe()) != NULL)
		return h;
	if ((h = dlopen(TP_MPI_MODULE_NAME, RTLD_NOW | RTLD_GLOBAL)) != NULL)
		return h;
	return dlopen(TP_MPI_MODULE_DIR "/" TP_MPI_MODULE_NAME,
	              RTLD_NOW | RTLD_GLOBAL);
}

int tp__mpi_load(void)
{
	const struct tp__mpi_module *m = NULL;
	if (mod != NULL)
		return TP_OK;
	void *h = open_module();
	if (h == NULL) {
		fprintf(stderr, "troupe: the MPI backend: %s\n", dlerror());
		return TP_ENOMODULE;
	}
	tp__mpi_entry_fn entry = (tp__mpi_entry_fn)dlsym(h, TP__MPI_ENTRY);
	int rv = entry == NULL ? TP_EPROTO : entry(&host, &m);
	if (rv != TP_OK || m == NULL || m->size != sizeof(*m)) {
		fprintf(stderr,
		        "troupe: the MPI backend: %s is not the module of this "
		        "troupe build (%s)\n",
		        TP_MPI_MODULE_NAME, TP_VERSION_STRING);
		dlclose(h);
		return TP_ENOMODULE;
	}
	mod = m;
	return TP_OK;
}

int tp__mpi_init(const tp_init_opts *opts, int *agent_done)
{
	return mod->init(opts, agent_done);
}

void tp__mpi_fini(void)
{
	if (mod != NULL)
		mod->fini();
}

int tp_cluster_rank(void)
{
	return mod != NULL ? mod->rank() : -1;
}

int tp_cluster_size(void)
{
	return mod != NULL ? mod->size_of() : 0;
}

int tp_cluster_workers(void)
{
	return mod != NULL ? mod->workers() : 0;
}

const char *tp_cluster_host(int rank)
{
	return mod != NULL ? mod->host_name(rank) : NULL;
}

#else /* built without MPI (docs/cluster.md): no job to describe */

int tp__mpi_load(void)
{
	return tp_err_errno(ENOTSUP);
}

int tp__mpi_init(const tp_init_opts *opts, int *agent_done)
{
	(void)opts;
	*agent_done = 0;
	return tp_err_errno(ENOTSUP);
}

void tp__mpi_fini(void)
{
}

int tp_cluster_rank(void)
{
	return -1;
}

int tp_cluster_size(void)
{
	return 0;
}

int tp_cluster_workers(void)
{
	return 0;
}

const char *tp_cluster_host(int rank)
{
	(void)rank;
	return NULL;
}
#endif
