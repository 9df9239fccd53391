/*
 * sync_util.h - helpers for the sync/shared tests: plain fork() children
 * (these objects need no nng), reaping with a deadline, polling a
 * condition, passing a payload through its encoded bytes, and counting
 * this run's /dev/shm segments.
 */
#ifndef TP_SYNC_UTIL_H
#define TP_SYNC_UTIL_H

#include <dirent.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

/* Forks a child that exits with fn(arg). */
static inline pid_t su_fork(int (*fn)(void *), void *arg)
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn(arg));
	return pid;
}

/* Waits for pid: its exit code, or 128 + signal. */
static inline int su_reap(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, 0) < 0)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static inline double su_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Polls cond(arg) every millisecond for up to 10 s; returns it. */
static inline int su_poll(int (*cond)(void *), void *arg)
{
	double end = su_now() + 10;
	while (!cond(arg) && su_now() < end)
		usleep(1000);
	return cond(arg);
}

/* Encodes p and decodes it again, as a message between processes does. */
static inline tp_payload *su_roundtrip(const tp_payload *p)
{
	void *buf;
	size_t len;
	tp_payload *q;
	TP_OK_OR_FAIL(tp_payload_encode(p, 0, &buf, &len));
	TP_OK_OR_FAIL(tp_payload_decode(buf, len, 0, &q));
	free(buf);
	return q;
}

/* Number of /dev/shm segments of runs owned by this process. */
static inline int su_shm_count(void)
{
	char prefix[64];
	int n = 0, len;
	DIR *d = opendir("/dev/shm");
	struct dirent *e;
	len = snprintf(prefix, sizeof(prefix), "troupe.%u.%d.",
	               (unsigned)getuid(), (int)getpid());
	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, prefix, (size_t)len) == 0)
			n++;
	closedir(d);
	return n;
}

/* tp_test_fini, and no segment of this run is left in /dev/shm. */
static inline void su_fini(void)
{
	tp_test_fini();
	assert_int_equal(su_shm_count(), 0);
}

#endif
