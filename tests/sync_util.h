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

/* Number of /dev/shm segments of runs owned by process pid. */
static inline int su_shm_count_of(pid_t pid)
{
	char prefix[64];
	int n = 0, len;
	DIR *d = opendir("/dev/shm");
	struct dirent *e;
	len = snprintf(prefix, sizeof(prefix), "troupe.%u.%d.",
	               (unsigned)getuid(), (int)pid);
	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, prefix, (size_t)len) == 0)
			n++;
	closedir(d);
	return n;
}

/* Number of /dev/shm segments of runs owned by this process. */
static inline int su_shm_count(void)
{
	return su_shm_count_of(getpid());
}

/* tp_test_fini, and no segment of this run is left in /dev/shm. */
static inline void su_fini(void)
{
	tp_test_fini();
	assert_int_equal(su_shm_count(), 0);
}

/* The payload index of each object type in the "every type to a child"
 * tests (test_shared.c, test_sync_process.c). */
enum {
	H_LOCK,
	H_RLOCK,
	H_SEM,
	H_BSEM,
	H_EVENT,
	H_COND,
	H_BAR,
	H_VAL,
	H_ARR,
	H_SHM,
	H_N
};

/* In a child: attaches every handle of p and uses it the way the parent
 * checks afterwards. Returns 0, or the number of the first step that
 * failed (2..11) as the child's exit code. */
static inline int su_use_all(const tp_payload *p)
{
	tp_lock *l, *rl;
	tp_sem *s, *bs;
	tp_event *e;
	tp_cond *c;
	tp_barrier *b;
	tp_value *v;
	tp_array *a;
	tp_shmem *m;
	if (tp_payload_get_lock(p, H_LOCK, &l) || tp_lock_acquire(l, 0) ||
	    tp_lock_release(l))
		return 2;
	if (tp_payload_get_lock(p, H_RLOCK, &rl) || !tp_lock_is_recursive(rl) ||
	    tp_lock_acquire(rl, 0) || tp_lock_acquire(rl, 0) ||
	    tp_lock_release(rl) || tp_lock_release(rl))
		return 3;
	if (tp_payload_get_sem(p, H_SEM, &s) || tp_sem_release(s))
		return 4;
	if (tp_payload_get_sem(p, H_BSEM, &bs) ||
	    tp_sem_release(bs) != TP_EVALUE)
		return 5;
	if (tp_payload_get_cond(p, H_COND, &c) || tp_cond_acquire(c, 0) ||
	    tp_cond_notify_all(c) || tp_cond_release(c))
		return 6;
	if (tp_payload_get_value(p, H_VAL, &v) || tp_value_set_long(v, 42))
		return 7;
	if (tp_payload_get_array(p, H_ARR, &a) ||
	    tp_array_set_double(a, 1, -2.5))
		return 8;
	if (tp_payload_get_shmem(p, H_SHM, &m))
		return 9;
	strcpy(tp_shmem_buf(m), "hello");
	if (tp_payload_get_event(p, H_EVENT, &e) || tp_event_set(e))
		return 10;
	if (tp_payload_get_barrier(p, H_BAR, &b) ||
	    tp_barrier_wait(b, 10000, NULL))
		return 11;
	tp_lock_free(l);
	tp_lock_free(rl);
	tp_sem_free(s);
	tp_sem_free(bs);
	tp_event_free(e);
	tp_cond_free(c);
	tp_barrier_free(b);
	tp_value_free(v);
	tp_array_free(a);
	tp_shmem_free(m);
	return 0;
}

/* Every shareable object, made by the parent for su_use_all in a child. */
struct su_all {
	tp_lock *l, *rl;
	tp_sem *s, *bs;
	tp_event *e;
	tp_cond *c;
	tp_barrier *b;
	tp_value *v;
	tp_array *a;
	tp_shmem *m;
	tp_payload *p; /* one handle of each, at the H_* indices */
};

/* Makes one object of every type and the payload that carries them. */
static inline void su_all_new(struct su_all *o)
{
	TP_OK_OR_FAIL(tp_lock_new(&o->l));
	TP_OK_OR_FAIL(tp_rlock_new(&o->rl));
	TP_OK_OR_FAIL(tp_sem_new(&o->s, 0));
	TP_OK_OR_FAIL(tp_bsem_new(&o->bs, 1));
	TP_OK_OR_FAIL(tp_event_new(&o->e));
	TP_OK_OR_FAIL(tp_cond_new(&o->c, o->rl));
	TP_OK_OR_FAIL(tp_barrier_new(&o->b, 2, NULL, NULL, -1));
	TP_OK_OR_FAIL(tp_value_new(&o->v, 'q', NULL, NULL));
	TP_OK_OR_FAIL(tp_array_new(&o->a, 'd', 2, NULL, NULL));
	TP_OK_OR_FAIL(tp_shmem_new(&o->m, 64));
	TP_OK_OR_FAIL(tp_payload_new(&o->p));
	TP_OK_OR_FAIL(tp_payload_add_lock(o->p, o->l));
	TP_OK_OR_FAIL(tp_payload_add_lock(o->p, o->rl));
	TP_OK_OR_FAIL(tp_payload_add_sem(o->p, o->s));
	TP_OK_OR_FAIL(tp_payload_add_sem(o->p, o->bs));
	TP_OK_OR_FAIL(tp_payload_add_event(o->p, o->e));
	TP_OK_OR_FAIL(tp_payload_add_cond(o->p, o->c));
	TP_OK_OR_FAIL(tp_payload_add_barrier(o->p, o->b));
	TP_OK_OR_FAIL(tp_payload_add_value(o->p, o->v));
	TP_OK_OR_FAIL(tp_payload_add_array(o->p, o->a));
	TP_OK_OR_FAIL(tp_payload_add_shmem(o->p, o->m));
}

/* After su_use_all ran in a child: checks what it did through the
 * parent's own objects, then frees them and unlinks the SharedMemory. */
static inline void su_all_check_free(struct su_all *o)
{
	unsigned sv;
	int64_t x;
	double d;
	TP_OK_OR_FAIL(tp_sem_get_value(o->s, &sv));
	assert_int_equal(sv, 1);
	assert_true(tp_event_is_set(o->e));
	TP_OK_OR_FAIL(tp_value_get_long(o->v, &x));
	assert_int_equal(x, 42);
	TP_OK_OR_FAIL(tp_array_get_double(o->a, 1, &d));
	assert_true(d == -2.5);
	assert_string_equal(tp_shmem_buf(o->m), "hello");
	tp_payload_free(o->p);
	tp_lock_free(o->l);
	tp_lock_free(o->rl);
	tp_sem_free(o->s);
	tp_sem_free(o->bs);
	tp_event_free(o->e);
	tp_cond_free(o->c);
	tp_barrier_free(o->b);
	tp_value_free(o->v);
	tp_array_free(o->a);
	TP_OK_OR_FAIL(tp_shmem_unlink(o->m));
	tp_shmem_free(o->m);
}

#endif
