/*
 * clock.h - internal: deadline arithmetic for every call that takes a
 * timeout in milliseconds (-1: wait forever). Compute the deadline once at
 * the start of a call, then ask how much is left before each wait, so a
 * retried wait never extends the caller's timeout.
 */
#ifndef TP_CLOCK_H
#define TP_CLOCK_H

#include <stdint.h>
#include <time.h>

#define TP_FOREVER INT64_MAX

/* Monotonic milliseconds. */
static inline int64_t tp__now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The deadline of a call with timeout_ms (negative: TP_FOREVER). */
static inline int64_t tp__deadline(int timeout_ms)
{
	return timeout_ms < 0 ? TP_FOREVER : tp__now_ms() + timeout_ms;
}

/* Milliseconds left before deadline: -1 for TP_FOREVER, else >= 0, as
 * poll() takes it. */
static inline int tp__remaining(int64_t deadline)
{
	if (deadline == TP_FOREVER)
		return -1;
	int64_t left = deadline - tp__now_ms();
	return left <= 0 ? 0 : (left > INT32_MAX ? INT32_MAX : (int)left);
}

#endif
