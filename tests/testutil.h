/*
 * testutil.h - shared helpers for the cmocka tests.
 *
 * TP_OK_OR_FAIL(expr) fails the test printing tp_strerror() when expr does
 * not return TP_OK; TP_EXPECT(expr, code) checks a specific error code.
 * tp_test_rundir_setup() gives every test a private runtime base so tests
 * run in parallel without seeing each other, and tp_test_assert_clean()
 * checks that a test left no child process and no runtime directory.
 */
#ifndef TP_TESTUTIL_H
#define TP_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "troupe/troupe.h"

#define TP_OK_OR_FAIL(expr)                                                    \
	do {                                                                   \
		int tp_rv_ = (expr);                                           \
		if (tp_rv_ != TP_OK)                                           \
			fail_msg("%s -> %d (%s)", #expr, tp_rv_,               \
			         tp_strerror(tp_rv_));                         \
	} while (0)

#define TP_EXPECT(expr, code)                                                  \
	do {                                                                   \
		int tp_rv_ = (expr);                                           \
		if (tp_rv_ != (code))                                          \
			fail_msg("%s -> %d (%s), expected %d (%s)", #expr,     \
			         tp_rv_, tp_strerror(tp_rv_), (int)(code),     \
			         tp_strerror(code));                           \
	} while (0)

/* CLOCK_MONOTONIC in ms, and a short pause for a bounded polling loop
 * (never as synchronisation by itself). */
int64_t tp_test_now_ms(void);
void tp_test_nap(int ms);

/* A private runtime base for this test program: /tmp/tp-test-<pid>. */
const char *tp_test_base(void);

/* tp_init with tp_test_base() and the given start method. */
void tp_test_init(tp_start_method method);

/* tp_fini, then asserts that no child is left and the base is empty;
 * removes the base. */
void tp_test_fini(void);

/* Number of live (non-zombie and zombie) children of this process. */
int tp_test_children(void);

#endif
