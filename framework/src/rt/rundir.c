/*
 * rundir.c - the private runtime directory: creation with strict checks,
 * recursive removal, and the clean-up of directories left by dead runs.
 *
 * A run directory is named "<pid>.<starttime>" after the process that made
 * it. The start time (from /proc/<pid>/stat) guards against pid reuse: a
 * directory is stale when no process with that pid and start time exists.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime_int.h"
#include "troupe/error.h"

int tp__private_dir(const char *path)
{
	struct stat st;
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return tp_err_errno(errno);
	if (lstat(path, &st) != 0)
		return tp_err_errno(errno);
	/* Refuse anything another user could have planted or can enter. */
	if (!S_ISDIR(st.st_mode) || st.st_uid != getuid() ||
	    (st.st_mode & 077) != 0)
		return TP_EPERM;
	return TP_OK;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(path) == 0 ? 0 : errno;
	return unlink(path) == 0 ? 0 : errno;
}

int tp__rmtree(const char *path)
{
	int rv = nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	if (rv < 0)
		return tp_err_errno(errno);
	return tp_err_errno(rv);
}

int tp__proc_starttime(pid_t pid, unsigned long long *out)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return tp_err_errno(errno);
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return TP_ENOENT;
	buf[n] = '\0';
	/* The command name may hold spaces and ')': skip to the last ')'. */
	char *p = strrchr(buf, ')');
	if (p == NULL)
		return TP_EDECODE;
	p++;
	/* Field 22 is starttime; after ')' come fields 3, 4, ... */
	for (int field = 3; field < 22 && p != NULL; field++)
		p = strchr(p + 1, ' ');
	if (p == NULL)
		return TP_EDECODE;
	*out = strtoull(p + 1, NULL, 10);
	return TP_OK;
}

/* Parses "<pid>.<starttime>"; returns 1 when the name has that form. */
static int parse_run_name(const char *name, pid_t *pid,
                          unsigned long long *start)
{
	char *end;
	long p = strtol(name, &end, 10);
	if (end == name || *end != '.' || p <= 0)
		return 0;
	const char *s = end + 1;
	unsigned long long t = strtoull(s, &end, 10);
	if (end == s || *end != '\0')
		return 0;
	*pid = (pid_t)p;
	*start = t;
	return 1;
}

int tp__rundir_clean_stale(const char *base)
{
	DIR *d = opendir(base);
	struct dirent *e;
	int removed = 0;
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		unsigned long long start, now;
		pid_t pid;
		char path[512];
		if (!parse_run_name(e->d_name, &pid, &start))
			continue;
		if (tp__proc_starttime(pid, &now) == TP_OK && now == start)
			continue; /* its owner is alive */
		snprintf(path, sizeof(path), "%s/%s", base, e->d_name);
		if (tp__rmtree(path) == TP_OK)
			removed++;
	}
	closedir(d);
	return removed;
}
