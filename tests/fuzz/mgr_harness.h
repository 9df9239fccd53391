/* mgr_harness.h - see mgr_harness.c. Returns 1 when the harness's own
 * handshake succeeded (so replays can check it still does). */
#ifndef TP_MGR_HARNESS_H
#define TP_MGR_HARNESS_H

#include <stddef.h>
#include <stdint.h>

int tp_mgr_fuzz_one(const uint8_t *data, size_t size);

#endif
