/*
 * logtest.h - helpers shared by the logging tests: a scratch directory,
 * reading a log file into lines, and checking the records of one process.
 */
#ifndef TP_LOGTEST_H
#define TP_LOGTEST_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static inline void lt_clean(void);

/* A scratch directory for log files, outside the runtime base; emptied
 * on first use (a dead process with our pid may have left files). */
static inline const char *lt_dir(void)
{
	static char d[64];
	if (d[0] == '\0') {
		snprintf(d, sizeof(d), "/tmp/tp-logtest-%d", (int)getpid());
		lt_clean();
		mkdir(d, 0700);
	}
	return d;
}

static inline void lt_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", lt_dir(), name);
}

/* Removes the scratch directory and everything in it. */
static inline void lt_clean(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", lt_dir());
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", lt_dir());
}

struct lt_lines {
	char **v;
	size_t n, cap;
};

/* Appends the lines of path (without newlines); a missing file adds
 * nothing. */
static inline void lt_read(struct lt_lines *l, const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	if (f == NULL)
		return;
	while ((n = getline(&line, &cap, f)) > 0) {
		if (line[n - 1] == '\n')
			line[n - 1] = '\0';
		if (l->n == l->cap) {
			l->cap = l->cap ? l->cap * 2 : 1024;
			l->v = realloc(l->v, l->cap * sizeof(char *));
		}
		l->v[l->n++] = strdup(line);
	}
	free(line);
	fclose(f);
}

static inline void lt_free(struct lt_lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* Returns 1 once cond(arg) holds, 0 after timeout_ms. Polls every 1 ms:
 * a deadline, not a sleep standing in for synchronisation. */
static inline int lt_wait(int (*cond)(void *), void *arg, int timeout_ms)
{
	struct timespec ts = {0, 1000000};
	for (int i = 0; i < timeout_ms; i++) {
		if (cond(arg))
			return 1;
		nanosleep(&ts, NULL);
	}
	return cond(arg);
}

/* The threads of this process (/proc/self/task). */
static inline int lt_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

#endif
