/*
 * wakeup-rtt.c - one round trip between two processes, through a Unix
 * socketpair (each side sleeps in read: two wake-ups) and through a
 * shared-memory word each side spins on (no wake-up). The gap is what a
 * transport that sleeps pays on this machine for every request/reply.
 *   gcc -O2 scripts/probes/wakeup-rtt.c -o /tmp/wakeup-rtt &&
 *   /tmp/wakeup-rtt
 * Figures: docs/performance.md, "Fresh memory and wake-ups".
 */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double socket_rtt(long n)
{
	int sv[2];
	char b[48] = {0};
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return -1;
	if (fork() == 0) {
		close(sv[0]);
		while (read(sv[1], b, sizeof(b)) > 0)
			if (write(sv[1], b, sizeof(b)) < 0)
				break;
		_exit(0);
	}
	close(sv[1]);
	double t0 = now();
	for (long i = 0; i < n; i++)
		if (write(sv[0], b, sizeof(b)) < 0 ||
		    read(sv[0], b, sizeof(b)) <= 0)
			return -1;
	double dt = (now() - t0) / (double)n;
	close(sv[0]);
	wait(NULL);
	return dt;
}

static double spin_rtt(long n)
{
	_Atomic long *s = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (s == MAP_FAILED)
		return -1;
	atomic_store(&s[0], 0);
	atomic_store(&s[16], 0); /* another cache line */
	if (fork() == 0) {
		for (long i = 1; i <= n; i++) {
			while (atomic_load_explicit(&s[0],
			                            memory_order_acquire) != i)
				__builtin_ia32_pause();
			atomic_store_explicit(&s[16], i, memory_order_release);
		}
		_exit(0);
	}
	double t0 = now();
	for (long i = 1; i <= n; i++) {
		atomic_store_explicit(&s[0], i, memory_order_release);
		while (atomic_load_explicit(&s[16], memory_order_acquire) != i)
			__builtin_ia32_pause();
	}
	double dt = (now() - t0) / (double)n;
	wait(NULL);
	munmap((void *)s, 4096);
	return dt;
}

int main(void)
{
	printf("socketpair round trip %.2f us; shared-memory spin round trip "
	       "%.2f us\n",
	       socket_rtt(20000) * 1e6, spin_rtt(200000) * 1e6);
	return 0;
}
