/* test_cluster_opts.c - the MPI backend's options outside an MPI job
 * (the backend itself: tests/cluster/run.sh under mpirun): a TP_POOL_MPI
 * pool without tp_init's mpi is refused with ENOTSUP and starts nothing,
 * an unknown backend is TP_EINVAL, the cluster calls say "no job", a bad
 * mpi option is TP_EINVAL, and without MPI built in tp_init refuses mpi. */
#include <errno.h>
#include <string.h>

#include "testutil.h"

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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
