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

/* Monotonic nanoseconds (comparable between processes of one host). */
static inline uint64_t tp__now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Monotonic seconds. */
static inline double tp__now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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

/* timeout_ms as an absolute CLOCK_MONOTONIC time (now, for a negative
 * timeout), for futex and pthread timed waits. */
static inline void tp__deadline_ts(struct timespec *ts, int timeout_ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	if (timeout_ms < 0)
		return;
	ts->tv_sec += timeout_ms / 1000;
	ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* 1 when the time a comes before the time b. */
static inline int tp__ts_before(const struct timespec *a,
                                const struct timespec *b)
{
	return a->tv_sec < b->tv_sec ||
	       (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* 1 when the CLOCK_MONOTONIC time ts has passed. */
static inline int tp__ts_expired(const struct timespec *ts)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > ts->tv_sec ||
	       (now.tv_sec == ts->tv_sec && now.tv_nsec >= ts->tv_nsec);
}

#endif
