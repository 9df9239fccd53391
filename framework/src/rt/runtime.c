/*
 * runtime.c - the runtime's process-wide state (one run directory, one
 * start method), its start and stop (called by tp_init / tp_fini in
 * init.c), whether this process touched nng, and address naming.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "runtime_int.h"
#include "shm.h"
#include "troupe/error.h"

struct tp_runtime tp__rt;
static unsigned long address_seq;
static int nng_used;

static int base_path(const tp_init_opts *opts, char *buf, size_t len)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int n;
	if (opts != NULL && opts->runtime_base != NULL)
		n = snprintf(buf, len, "%s", opts->runtime_base);
	else if (xdg != NULL && xdg[0] == '/' && access(xdg, W_OK) == 0)
		n = snprintf(buf, len, "%s/troupe", xdg);
	else
		n = snprintf(buf, len, "/tmp/troupe-%u", (unsigned)getuid());
	return (n < 0 || (size_t)n >= len) ? TP_ETOOBIG : TP_OK;
}

/* Creates this run's directory, named after the owner's pid and start
 * time so that a later run can tell whether its owner is still alive. */
static int make_rundir(const tp_init_opts *opts)
{
	unsigned long long start;
	int rv, n;
	if ((rv = base_path(opts, tp__rt.base, sizeof(tp__rt.base))) != TP_OK)
		return rv;
	if ((rv = tp__private_dir(tp__rt.base)) != TP_OK)
		return rv;
	tp__rundir_clean_stale(tp__rt.base);
	tp__shm_clean_stale();
	if ((rv = tp__proc_starttime(getpid(), &start)) != TP_OK)
		return rv;
	snprintf(tp__rt.id, sizeof(tp__rt.id), "%d.%llu", (int)getpid(), start);
	n = snprintf(tp__rt.dir, sizeof(tp__rt.dir), "%s/%s", tp__rt.base,
	             tp__rt.id);
	if (n < 0 || (size_t)n >= sizeof(tp__rt.dir))
		return TP_ETOOBIG;
	if ((rv = tp__private_dir(tp__rt.dir)) != TP_OK)
		return rv;
	tp__rt.owner = 1;
	return TP_OK;
}

/* A child started by troupe inherits its parent's run directory. */
static int adopt_rundir(const char *dir)
{
	const char *slash = strrchr(dir, '/');
	int n = snprintf(tp__rt.dir, sizeof(tp__rt.dir), "%s", dir);
	if (n < 0 || (size_t)n >= sizeof(tp__rt.dir) || slash == NULL)
		return TP_EINVAL;
	snprintf(tp__rt.base, sizeof(tp__rt.base), "%.*s", (int)(slash - dir),
	         dir);
	snprintf(tp__rt.id, sizeof(tp__rt.id), "%s", slash + 1);
	tp__rt.owner = 0;
	return TP_OK;
}

int tp__runtime_start(const tp_init_opts *opts)
{
	const char *inherited = getenv(TP_ENV_RUNDIR);
	int rv;
	if (tp__rt.initialised)
		return TP_EALREADY;
	if (opts != NULL && (opts->start_method < TP_START_DEFAULT ||
	                     opts->start_method > TP_START_FORK))
		return TP_EINVAL;
	memset(&tp__rt, 0, sizeof(tp__rt));
	tp__rt.method = (opts == NULL || opts->start_method == TP_START_DEFAULT)
	                    ? TP_START_FORKSERVER
	                    : opts->start_method;
	if (inherited != NULL && inherited[0] == '/')
		rv = adopt_rundir(inherited);
	else
		rv = make_rundir(opts);
	if (rv != TP_OK)
		return rv;
	tp__rt.initialised = 1;
	return TP_OK;
}

void tp__runtime_stop(void)
{
	if (tp__rt.owner) {
		tp__shm_clean_run(tp__rt.id);
		tp__rmtree(tp__rt.dir);
	}
	memset(&tp__rt, 0, sizeof(tp__rt));
}

void tp__nng_used(void)
{
	__atomic_store_n(&nng_used, 1, __ATOMIC_RELAXED);
}

int tp__nng_was_used(void)
{
	return __atomic_load_n(&nng_used, __ATOMIC_RELAXED);
}

int tp_initialized(void)
{
	return tp__rt.initialised;
}

const char *tp_runtime_dir(void)
{
	return tp__rt.initialised ? tp__rt.dir : NULL;
}

static int kind_ok(const char *kind)
{
	if (kind == NULL || kind[0] == '\0' || strlen(kind) > 16)
		return 0;
	for (const char *c = kind; *c; c++) {
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '-' || *c == '_'))
			return 0;
	}
	return 1;
}

int tp_address(const char *kind, char *buf, size_t len)
{
	struct sockaddr_un sun;
	unsigned long seq;
	if (!tp__rt.initialised)
		return TP_ENOTINIT;
	if (!kind_ok(kind) || buf == NULL)
		return TP_EINVAL;
	seq = __atomic_add_fetch(&address_seq, 1, __ATOMIC_RELAXED);
	int n = snprintf(buf, len, "ipc://%s/%s-%d-%lu", tp__rt.dir, kind,
	                 (int)getpid(), seq);
	if (n < 0 || (size_t)n >= len)
		return TP_ETOOBIG;
	if ((size_t)n - strlen("ipc://") >= sizeof(sun.sun_path))
		return TP_ETOOBIG;
	return TP_OK;
}
