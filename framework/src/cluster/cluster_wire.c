/*
 * cluster_wire.c - the MPI job's own bytes, little-endian on every host
 * (cluster_wire.h): each rank's start-up record and a new pool's options.
 * Shifts, never a memcpy of a number, so the bytes do not depend on the
 * host's order.
 */
#include <string.h>

#include "cluster_wire.h"

void tp__cl_le32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

uint32_t tp__cl_le32_get(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

void tp__cl_order_mark(uint8_t out[4])
{
	uint32_t v = 0x01020304u;
	memcpy(out, &v, 4); /* the host's order, on purpose */
}

void tp__cl_info_put(uint8_t *out, const struct tp__cl_info *in)
{
	memcpy(out, in->order, 4);
	tp__cl_le32_put(out + 4, (uint32_t)in->workers);
	size_t n = strnlen(in->host, TP__CL_INFO_HOST - 1);
	memset(out + 8, 0, TP__CL_INFO_HOST);
	memcpy(out + 8, in->host, n);
}

void tp__cl_info_get(const uint8_t *in, struct tp__cl_info *out)
{
	memcpy(out->order, in, 4);
	out->workers = (int32_t)tp__cl_le32_get(in + 4);
	memcpy(out->host, in + 8, TP__CL_INFO_HOST);
	out->host[TP__CL_INFO_HOST - 1] = '\0';
}

int tp__cl_order_check(const struct tp__cl_info *all, int n)
{
	for (int r = 1; r < n; r++)
		if (memcmp(all[r].order, all[0].order, 4) != 0)
			return r;
	return -1;
}

const char *tp__cl_order_name(const uint8_t mark[4])
{
	static const uint8_t le[4] = {4, 3, 2, 1}, be[4] = {1, 2, 3, 4};
	if (memcmp(mark, le, 4) == 0)
		return "little-endian";
	if (memcmp(mark, be, 4) == 0)
		return "big-endian";
	return "mixed-endian";
}

void tp__cl_le32s_put(uint8_t *out, const int32_t *in, size_t n)
{
	for (size_t i = 0; i < n; i++)
		tp__cl_le32_put(out + 4 * i, (uint32_t)in[i]);
}

void tp__cl_le32s_get(int32_t *out, const uint8_t *in, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (int32_t)tp__cl_le32_get(in + 4 * i);
}
