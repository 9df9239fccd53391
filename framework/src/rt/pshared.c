/*
 * pshared.c - waiting and locking in shared memory that survive the death
 * of any participant; see pshared.h.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "clock.h"
#include "pshared.h"
#include "troupe/error.h"

__thread pid_t tp__cached_tid;
static pthread_once_t tid_once = PTHREAD_ONCE_INIT;

static pid_t cached_pid;

static void tid_reset(void)
{
	tp__cached_tid = 0;
	cached_pid = 0;
}

static void tid_setup(void)
{
	pthread_atfork(NULL, NULL, tid_reset);
}

pid_t tp__tid_slow(void)
{
	pthread_once(&tid_once, tid_setup);
	tp__cached_tid = (pid_t)syscall(SYS_gettid);
	return tp__cached_tid;
}

pid_t tp__pid(void)
{
	pid_t p = __atomic_load_n(&cached_pid, __ATOMIC_RELAXED);
	if (__builtin_expect(p != 0, 1))
		return p;
	pthread_once(&tid_once, tid_setup);
	p = getpid();
	__atomic_store_n(&cached_pid, p, __ATOMIC_RELAXED);
	return p;
}

char tp__pid_state(pid_t pid)
{
	char path[64], buf[256];
	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');
	return (p != NULL && p[1] == ' ') ? p[2] : '?';
}

int tp__pid_alive(pid_t pid)
{
	if (pid <= 0)
		return 0;
	if (kill(pid, 0) != 0 && errno == ESRCH)
		return 0;
	char st = tp__pid_state(pid);
	return st != 0 && st != 'Z' && st != 'X';
}

int tp__mutex_init(pthread_mutex_t *m)
{
	pthread_mutexattr_t a;
	int rv;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	rv = pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
	return tp_err_errno(rv);
}

void tp__futex_wait(uint32_t *word, uint32_t val, const struct timespec *at)
{
	/* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time. */
	syscall(SYS_futex, word, FUTEX_WAIT_BITSET, val, at, NULL,
	        FUTEX_BITSET_MATCH_ANY);
}

void tp__futex_wake(uint32_t *word, int n)
{
	syscall(SYS_futex, word, FUTEX_WAKE, n, NULL, NULL, 0);
}

uint32_t tp__wpoint_prepare(struct tp__wpoint *w)
{
	__atomic_store_n(&w->flag, 1, __ATOMIC_SEQ_CST);
	uint32_t seq = __atomic_load_n(&w->seq, __ATOMIC_SEQ_CST);
	/* the caller's re-check of its condition comes after the flag */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return seq;
}

void tp__wpoint_sleep(struct tp__wpoint *w, uint32_t seq,
                      const struct timespec *dl)
{
	struct timespec slice;
	tp__deadline_ts(&slice, TP__SLICE_MS);
	if (dl != NULL && tp__ts_before(dl, &slice))
		slice = *dl;
	tp__futex_wait(&w->seq, seq, &slice);
}

void tp__wpoint_broadcast(struct tp__wpoint *w)
{
	__atomic_store_n(&w->flag, 0, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&w->seq, 1, __ATOMIC_SEQ_CST);
	tp__futex_wake(&w->seq, INT32_MAX);
}

void tp__wpoint_signal(struct tp__wpoint *w)
{
	/* the caller's state change comes before the look at the flag */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&w->flag, __ATOMIC_RELAXED) == 0)
		return;
	tp__wpoint_broadcast(w);
}

int tp__mutex_lock_until(pthread_mutex_t *m, const struct timespec *dl)
{
	int rv = pthread_mutex_trylock(m);
	if (rv == EBUSY)
		rv = dl == NULL
		         ? pthread_mutex_lock(m)
		         : pthread_mutex_clocklock(m, CLOCK_MONOTONIC, dl);
	if (rv == EOWNERDEAD) {
		pthread_mutex_consistent(m);
		return TP_EOWNERDEAD;
	}
	if (rv == ETIMEDOUT)
		return TP_ETIMEDOUT;
	return tp_err_errno(rv);
}
