/* test_cluster_opts.c - the MPI backend's options outside an MPI job
 * (the backend itself: tests/cluster/run.sh under mpirun): a TP_POOL_MPI
 * pool without tp_init's mpi is refused with ENOTSUP and starts nothing,
 * an unknown backend is TP_EINVAL, the cluster calls say "no job", a bad
 * mpi option is TP_EINVAL, and without MPI built in tp_init refuses mpi.
 * The backend is a module loaded on demand: a program (and its fork
 * server) that does not ask for MPI has no libmpi mapped, and a missing or
 * foreign module is TP_ENOMODULE, with nothing started. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "process_int.h"
#include "testutil.h"

/* Whether /proc/PID/maps of pid has a mapping whose path contains what. */
static int maps_has(pid_t pid, const char *what)
{
	char path[64], line[1024];
	int found = 0;
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, what) != NULL;
	fclose(f);
	return found;
}

static void test_no_libmpi_without_mpi(void **state)
{
	(void)state;
	tp_test_init(TP_START_FORKSERVER);
	assert_true(tp__pm.server_pid > 0);
	assert_false(maps_has(getpid(), "libmpi"));
	assert_false(maps_has(tp__pm.server_pid, "libmpi"));
	assert_false(maps_has(getpid(), "libtroupe-mpi"));
	tp_test_fini();
}

#ifdef TP_HAVE_MPI
/* tp_init with mpi and TROUPE_MPI_MODULE=path: TP_ENOMODULE, nothing up. */
static void expect_no_module(const char *path)
{
	tp_init_opts o = {0};
	o.runtime_base = tp_test_base();
	o.mpi = 1;
	assert_int_equal(setenv("TROUPE_MPI_MODULE", path, 1), 0);
	TP_EXPECT(tp_init(&o), TP_ENOMODULE);
	unsetenv("TROUPE_MPI_MODULE");
	assert_int_equal(tp_initialized(), 0);
	assert_int_equal(tp_test_children(), 0);
	assert_int_equal(tp_cluster_rank(), -1);
	assert_non_null(strstr(tp_strerror(TP_ENOMODULE), "libtroupe-mpi.so"));
}

static void test_missing_module(void **state)
{
	(void)state;
	expect_no_module("/nonexistent/libtroupe-mpi.so");
	/* a shared object that is not the module (no entry point) */
	expect_no_module("libm.so.6");
	assert_false(maps_has(getpid(), "libmpi"));
	/* and the program goes on without MPI */
	tp_test_init(TP_START_DEFAULT);
	tp_test_fini();
}
#endif

static void test_mpi_pool_without_job(void **state)
{
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	tp_pool_opts o = {0};
	tp_pool *p = (tp_pool *)&o;
	o.backend = TP_POOL_MPI;
	TP_EXPECT(tp_pool_new_opts(&p, &o), tp_err_errno(ENOTSUP));
	assert_null(p);
	o.backend = (tp_pool_backend)99;
	TP_EXPECT(tp_pool_new_opts(&p, &o), TP_EINVAL);
	assert_null(p);
	assert_int_equal(tp_cluster_rank(), -1);
	assert_int_equal(tp_cluster_size(), 0);
	assert_int_equal(tp_cluster_workers(), 0);
	assert_null(tp_cluster_host(0));
	tp_test_fini();
}

static void test_bad_mpi_options(void **state)
{
	(void)state;
	tp_init_opts o = {0};
	o.runtime_base = tp_test_base();
	o.mpi = 1;
	o.mpi_workers = -1;
	TP_EXPECT(tp_init(&o), TP_EINVAL);
	assert_int_equal(tp_initialized(), 0);
	o.mpi_workers = 0;
	o.mpi_heartbeat_ms = -5;
	TP_EXPECT(tp_init(&o), TP_EINVAL);
	assert_int_equal(tp_initialized(), 0);
#ifndef TP_HAVE_MPI
	o.mpi_heartbeat_ms = 0; /* valid, but not built in */
	TP_EXPECT(tp_init(&o), tp_err_errno(ENOTSUP));
	assert_int_equal(tp_initialized(), 0);
#endif
	assert_int_equal(tp_test_children(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mpi_pool_without_job),
	    cmocka_unit_test(test_bad_mpi_options),
	    cmocka_unit_test(test_no_libmpi_without_mpi),
#ifdef TP_HAVE_MPI
	    cmocka_unit_test(test_missing_module),
#endif
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
