/*
 * cluster_wire.h - internal: the bytes the MPI job's own messages carry
 * (cluster_wire.c), written little-endian whatever the host, and the
 * byte-order check of a job's ranks. No MPI here, so a unit test can call
 * every function (tests/test_cluster_wire.c).
 *
 * The pool's batches themselves are protobuf (varints: one byte order)
 * with number columns (Values.ints, doubles, lens, calls) and map_int
 * arrays copied as the host has them, which is little-endian on every host
 * troupe runs today. A job whose ranks do not all share rank 0's byte
 * order is refused at tp_init (tp__cl_order_check), so in any job that
 * runs every byte of every message has one order.
 */
#ifndef TP_CLUSTER_WIRE_H
#define TP_CLUSTER_WIRE_H

#include <stddef.h>
#include <stdint.h>

/* What each rank tells every other at start (one Allgather). */
#define TP__CL_INFO_HOST 64
#define TP__CL_INFO_SIZE (4 + 4 + TP__CL_INFO_HOST)

struct tp__cl_info {
	uint8_t order[4]; /* the host's bytes of the uint32 0x01020304 */
	int32_t workers;
	char host[TP__CL_INFO_HOST]; /* NUL-terminated, cut at 63 */
};

void tp__cl_le32_put(uint8_t *p, uint32_t v);
uint32_t tp__cl_le32_get(const uint8_t *p);
/* This host's bytes of 0x01020304: 04 03 02 01 little-endian. */
void tp__cl_order_mark(uint8_t out[4]);
/* Writes in as TP__CL_INFO_SIZE bytes at out (host cut at 63 bytes). */
void tp__cl_info_put(uint8_t *out, const struct tp__cl_info *in);
/* Reads TP__CL_INFO_SIZE bytes; the host comes back NUL-terminated. */
void tp__cl_info_get(const uint8_t *in, struct tp__cl_info *out);
/* The first rank of n whose byte-order mark is not rank 0's, or -1. */
int tp__cl_order_check(const struct tp__cl_info *all, int n);
/* A rank's byte order in words ("little-endian", "big-endian", or
 * "mixed-endian" for any other mark). */
const char *tp__cl_order_name(const uint8_t mark[4]);
/* n int32s as 4n little-endian bytes, and back. */
void tp__cl_le32s_put(uint8_t *out, const int32_t *in, size_t n);
void tp__cl_le32s_get(int32_t *out, const uint8_t *in, size_t n);

#endif
