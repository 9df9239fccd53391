/*
 * first-touch.c - what fresh anonymous memory costs on this machine: 240 MB
 * written one byte per 4 KiB page, the first time, a second time, after
 * MADV_DONTNEED, after MADV_POPULATE_WRITE, and with MADV_HUGEPAGE.
 *   gcc -O2 scripts/probes/first-touch.c -o /tmp/first-touch &&
 *   /tmp/first-touch
 * Figures and what they mean: docs/performance.md, "Fresh memory".
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mman.h>
#include <time.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double touch(char *p, size_t n, char c)
{
	double t0 = now();
	for (size_t i = 0; i < n; i += 4096)
		p[i] = c;
	return now() - t0;
}

static char *map(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

int main(void)
{
	size_t n = 240u << 20;
	char *p = map(n);
	if (p == NULL)
		return 1;
	double first = touch(p, n, 1), second = touch(p, n, 2);
	madvise(p, n, MADV_DONTNEED);
	double again = touch(p, n, 3);
	munmap(p, n);
	if ((p = map(n)) == NULL)
		return 1;
	double t0 = now();
	int rc = madvise(p, n, MADV_POPULATE_WRITE);
	double pop = now() - t0, after_pop = touch(p, n, 4);
	munmap(p, n);
	if ((p = map(n)) == NULL)
		return 1;
	madvise(p, n, MADV_HUGEPAGE);
	double huge = touch(p, n, 5);
	munmap(p, n);
	printf(
	    "first %.3f s  second %.3f s  after-dontneed %.3f s  "
	    "populate %.3f s (rc %d) + touch %.3f s  hugepage-first %.3f s\n",
	    first, second, again, pop, rc, after_pop, huge);
	return 0;
}
