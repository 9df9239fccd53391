/*
 * fuzz_mgr.c - libFuzzer target for the manager's message handling
 * (cmake -DTP_FUZZ=ON, clang). Run:
 *   build-fuzz/tests/fuzz_mgr -max_total_time=60 tests/fuzz/corpus
 */
#include <stddef.h>
#include <stdint.h>

#include "mgr_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tp_mgr_fuzz_one(data, size);
	return 0;
}
