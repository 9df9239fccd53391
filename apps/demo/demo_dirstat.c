/*
 * demo_dirstat.c - a supervised worker doing real work: statistics of a
 * directory tree (files, directories, bytes, the largest file), computed
 * again every few seconds until it is told to stop (SIGTERM). It reports
 * readiness with tp_ready() once the first scan is done. Seed 004's
 * directory worker.
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "troupe/supervisor.h"

static long files, dirs;
static long long bytes, largest;
static char largest_path[512];
static volatile sig_atomic_t stop;

static int visit(const char *path, const struct stat *st, int flag,
                 struct FTW *ftw)
{
	(void)ftw;
	if (flag == FTW_D)
		dirs++;
	else if (flag == FTW_F) {
		files++;
		bytes += st->st_size;
		if (st->st_size > largest) {
			largest = st->st_size;
			snprintf(largest_path, sizeof(largest_path), "%s",
			         path);
		}
	}
	return stop ? 1 : 0;
}

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/usr/include";
	struct sigaction sa = {.sa_handler = on_term};
	sigaction(SIGTERM, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int pass = 1; !stop; pass++) {
		struct timespec t0, t1;
		files = dirs = 0;
		bytes = largest = 0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		nftw(dir, visit, 32, FTW_PHYS);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		printf("dirstat pass %d: %s: %ld files, %ld dirs, %lld bytes, "
		       "largest %s (%lld bytes), %.0f ms\n",
		       pass, dir, files, dirs, bytes, largest_path, largest,
		       (t1.tv_sec - t0.tv_sec) * 1e3 +
		           (t1.tv_nsec - t0.tv_nsec) / 1e6);
		if (pass == 1)
			tp_ready();
		for (int i = 0; i < 20 && !stop; i++)
			usleep(100 * 1000);
	}
	printf("dirstat: stopped\n");
	return 0;
}
