/*
 * pool_bytes.h - what the pool tests of large batches share: items of
 * ITEM bytes (item i filled with i % 251), a target that sums an item's
 * bytes, and the check of a map's sums.
 */
#ifndef TP_POOL_BYTES_H
#define TP_POOL_BYTES_H

#include <string.h>

#include "testutil.h"

#define ITEM 1024

/* The sum of its bytes argument's bytes. */
static int f_sum(const tp_payload *args, tp_payload *res)
{
	const unsigned char *d = NULL;
	size_t n = 0;
	int64_t s = 0;
	if (tp_payload_get_bytes(args, 0, (const void **)&d, &n) != TP_OK)
		return 1;
	for (size_t i = 0; i < n; i++)
		s += d[i];
	return tp_payload_add_int(res, s);
}
TP_TARGET(f_sum);

/* n items of ITEM bytes, item i filled with i % 251. */
static inline tp_payload *items(size_t n)
{
	unsigned char b[ITEM];
	tp_payload *p;
	TP_OK_OR_FAIL(tp_payload_new(&p));
	for (size_t i = 0; i < n; i++) {
		memset(b, (int)(i % 251), sizeof(b));
		TP_OK_OR_FAIL(tp_payload_add_bytes(p, b, sizeof(b)));
	}
	return p;
}

/* out is the sums of items(n). */
static inline void check_sums(const tp_payload *out, size_t n)
{
	assert_int_equal(tp_payload_count(out), n);
	for (size_t i = 0; i < n; i++) {
		int64_t v;
		TP_OK_OR_FAIL(tp_payload_get_int(out, i, &v));
		assert_int_equal(v, (int64_t)(i % 251) * ITEM);
	}
}

#endif
