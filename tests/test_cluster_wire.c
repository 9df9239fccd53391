/* test_cluster_wire.c - the MPI job's own bytes (cluster/cluster_wire.c)
 * are little-endian whatever the host: exact bytes of a start-up record
 * and of a pool's options, round trips of negative and large values, a
 * host name cut at 63 bytes; and a job whose ranks differ in byte order is
 * found (which rank), with the orders named. Without MPI built in there
 * is nothing to test (skipped). */
#include <string.h>

#include "testutil.h"

#ifdef TP_HAVE_MPI
#include "cluster_wire.h"

static void test_le32_bytes(void **state)
{
	(void)state;
	uint8_t b[8];
	tp__cl_le32_put(b, 0x01020304u);
	assert_int_equal(b[0], 4);
	assert_int_equal(b[1], 3);
	assert_int_equal(b[2], 2);
	assert_int_equal(b[3], 1);
	assert_int_equal(tp__cl_le32_get(b), 0x01020304u);
	int32_t in[2] = {-2, 2147483647}, out[2] = {0};
	tp__cl_le32s_put(b, in, 2);
	assert_int_equal(b[0], 0xfe);
	assert_int_equal(b[3], 0xff);
	assert_int_equal(b[4], 0xff);
	assert_int_equal(b[7], 0x7f);
	tp__cl_le32s_get(out, b, 2);
	assert_int_equal(out[0], -2);
	assert_int_equal(out[1], 2147483647);
}

static void test_info_round_trip(void **state)
{
	(void)state;
	struct tp__cl_info in = {0}, out;
	uint8_t b[TP__CL_INFO_SIZE];
	tp__cl_order_mark(in.order);
	in.workers = 258;
	memset(in.host, 'h', sizeof(in.host)); /* no NUL: cut at 63 */
	tp__cl_info_put(b, &in);
	assert_int_equal(b[4], 2); /* 258 = 0x102, low byte first */
	assert_int_equal(b[5], 1);
	assert_int_equal(b[6], 0);
	assert_int_equal(b[8 + 62], 'h');
	assert_int_equal(b[8 + 63], 0);
	tp__cl_info_get(b, &out);
	assert_int_equal(out.workers, 258);
	assert_int_equal(strlen(out.host), 63);
	assert_memory_equal(out.order, in.order, 4);
}

static void test_order_check(void **state)
{
	(void)state;
	struct tp__cl_info all[3] = {0};
	static const uint8_t le[4] = {4, 3, 2, 1}, be[4] = {1, 2, 3, 4};
	uint8_t mine[4];
	tp__cl_order_mark(mine);
	/* every host troupe builds on today is little-endian */
	assert_string_equal(tp__cl_order_name(mine), "little-endian");
	for (int r = 0; r < 3; r++)
		memcpy(all[r].order, le, 4);
	assert_int_equal(tp__cl_order_check(all, 3), -1);
	assert_int_equal(tp__cl_order_check(all, 1), -1);
	memcpy(all[2].order, be, 4);
	assert_int_equal(tp__cl_order_check(all, 3), 2);
	assert_string_equal(tp__cl_order_name(all[2].order), "big-endian");
	memcpy(all[1].order, "\x02\x01\x04\x03", 4);
	assert_int_equal(tp__cl_order_check(all, 3), 1);
	assert_string_equal(tp__cl_order_name(all[1].order), "mixed-endian");
}
#endif

static void test_skip_without_mpi(void **state)
{
	(void)state;
#ifndef TP_HAVE_MPI
	skip();
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#ifdef TP_HAVE_MPI
	    cmocka_unit_test(test_le32_bytes),
	    cmocka_unit_test(test_info_round_trip),
	    cmocka_unit_test(test_order_check),
#endif
	    cmocka_unit_test(test_skip_without_mpi),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
