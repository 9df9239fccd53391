/*
 * log_read.c - reading log files back: the library side of
 * `troupe logs [-f] [NAME]`.
 *
 * A text line is parsed with the same template it was written with (the
 * configuration's format), so the process name can be found whatever the
 * format; JSON lines are read by key. A line starting with a tab continues
 * the record before it (a message with newlines) and goes with it through
 * the name filter. Follow mode waits like `tail -F`, woken by inotify on
 * the file's directory (a write, a rename or a new file there): when the
 * file is rotated (another inode, or shorter), it reopens the new one.
 */
#include <errno.h>
#include <libgen.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log_int.h"
#include "troupe/error.h"

/* Without inotify (or as a safety net for writes it cannot see, such as
 * another host's on NFS) the file is looked at this often. */
#define FOLLOW_IDLE_MS 1000
#define TIME_LEN       27 /* 2026-01-02T03:04:05.123456Z */

static void copy_name(const char *p, size_t n, char *buf, size_t len)
{
	if (len == 0)
		return;
	if (n >= len)
		n = len - 1;
	memcpy(buf, p, n);
	buf[n] = '\0';
}

static int json_fields(const char *line, size_t len, char *nb, size_t nl,
                       pid_t *pid)
{
	const char *end = line + len, *p;
	char tmp[512];
	size_t k = 0;
	p = memmem(line, len, "\"name\":\"", 8);
	if (p == NULL)
		return TP_EDECODE;
	for (p += 8; p < end && *p != '"'; p++) {
		if (*p == '\\' && p + 1 < end)
			p++;
		if (k < sizeof(tmp))
			tmp[k++] = *p;
	}
	if (p >= end)
		return TP_EDECODE;
	copy_name(tmp, k, nb, nl);
	p = memmem(line, len, "\"pid\":", 6);
	if (p == NULL)
		return TP_EDECODE;
	*pid = (pid_t)strtol(p + 6, NULL, 10);
	return TP_OK;
}

/* The literal text that follows a variable token: up to the next '%'. */
static size_t literal_len(const char *f)
{
	size_t n = 0;
	while (f[n] && f[n] != '%')
		n++;
	return n;
}

static int text_fields(const char *fmt, const char *line, size_t len, char *nb,
                       size_t nl, pid_t *pid)
{
	size_t i = 0;
	int have_name = 0;
	*pid = 0;
	if (len > 0 && line[0] == '\t')
		return TP_EDECODE;
	for (const char *f = fmt; *f; f++) {
		if (*f != '%' || f[1] == '%') {
			if (*f == '%')
				f++;
			if (i >= len || line[i] != *f)
				return TP_EDECODE;
			i++;
			continue;
		}
		char t = *++f;
		if (t == 'T') {
			if (i + TIME_LEN > len || line[i + 10] != 'T' ||
			    line[i + TIME_LEN - 1] != 'Z')
				return TP_EDECODE;
			i += TIME_LEN;
		} else if (t == 'L' || t == 'P') {
			size_t s = i;
			long v = 0;
			while (i < len && ((line[i] >= '0' && line[i] <= '9') ||
			                   (t == 'L' && line[i] >= 'A' &&
			                    line[i] <= 'Z'))) {
				v = v * 10 + (line[i] - '0');
				i++;
			}
			if (i == s)
				return TP_EDECODE;
			if (t == 'P')
				*pid = (pid_t)v;
		} else { /* N, A, M: up to the literal that follows */
			size_t ll = literal_len(f + 1), s = i;
			const char *hit = NULL;
			if (ll == 0) {
				i = len;
			} else if ((hit = memmem(line + i, len - i, f + 1,
			                         ll)) == NULL) {
				return TP_EDECODE;
			} else {
				i = (size_t)(hit - line);
			}
			if (t == 'N') {
				copy_name(line + s, i - s, nb, nl);
				have_name = 1;
			}
		}
	}
	if (!have_name)
		copy_name("", 0, nb, nl);
	return TP_OK;
}

int tp_log_line_fields(const tp_log_config *c, const char *line, size_t len,
                       char *name_buf, size_t name_len, pid_t *pid)
{
	if (c == NULL || line == NULL || name_buf == NULL || pid == NULL)
		return TP_EINVAL;
	if (c->json)
		return json_fields(line, len, name_buf, name_len, pid);
	return text_fields(c->format, line, len, name_buf, name_len, pid);
}

struct reader {
	const tp_log_config *c;
	const char *name;
	int last_match; /* the record a continuation line belongs to */
	tp_log_line_fn fn;
	void *arg;
};

static int one_line(struct reader *r, char *line, size_t n)
{
	char nb[256];
	pid_t pid;
	if (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	if (r->name != NULL) {
		if (!r->c->json && n > 0 && line[0] == '\t') {
			if (!r->last_match)
				return 0;
		} else {
			r->last_match =
			    tp_log_line_fields(r->c, line, n, nb, sizeof(nb),
			                       &pid) == TP_OK &&
			    strcmp(nb, r->name) == 0;
			if (!r->last_match)
				return 0;
		}
	}
	return r->fn(line, n, r->arg);
}

/* Reads to the end of f; in follow mode an unfinished last line is left
 * for later. Returns 1 when fn asked to stop. */
static int read_all(struct reader *r, FILE *f, int follow)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int stop = 0;
	while (!stop && (n = getline(&line, &cap, f)) > 0) {
		if (follow && line[n - 1] != '\n') {
			fseeko(f, -(off_t)n, SEEK_CUR);
			break;
		}
		stop = one_line(r, line, (size_t)n);
	}
	free(line);
	clearerr(f);
	return stop;
}

static int rotated(const char *path, FILE *f)
{
	struct stat a, b;
	if (stat(path, &a) != 0 || fstat(fileno(f), &b) != 0)
		return 0;
	return a.st_ino != b.st_ino || a.st_size < ftello(f);
}

/* An inotify fd watching path's directory for writes, renames and new
 * files (rotation), or -1. */
static int watch_dir(const char *path)
{
	char dir[4096];
	int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	snprintf(dir, sizeof(dir), "%s", path);
	if (in >= 0 && inotify_add_watch(in, dirname(dir),
	                                 IN_MODIFY | IN_CREATE | IN_MOVED_TO |
	                                     IN_CLOSE_WRITE | IN_DELETE) < 0) {
		close(in);
		in = -1;
	}
	return in;
}

/* Waits for a change (or FOLLOW_IDLE_MS, or a signal) and drains the
 * events: which file changed does not matter, the caller looks. */
static void wait_change(int in)
{
	char buf[4096];
	struct pollfd p = {.fd = in, .events = POLLIN};
	if (in < 0) {
		struct timespec ts = {0, FOLLOW_IDLE_MS * 1000000L};
		nanosleep(&ts, NULL);
		return;
	}
	if (poll(&p, 1, FOLLOW_IDLE_MS) > 0)
		while (read(in, buf, sizeof(buf)) > 0)
			;
}

int tp_log_read(const tp_log_config *c, const char *name, int follow,
                tp_log_line_fn fn, void *arg)
{
	struct reader r = {c, name, 0, fn, arg};
	FILE *f;
	if (c == NULL || fn == NULL || c->file == NULL)
		return TP_EINVAL;
	if (name != NULL && !c->json && strstr(c->format, "%N") == NULL)
		return TP_EINVAL;
	if ((f = fopen(c->file, "re")) == NULL)
		return tp_err_errno(errno);
	int in = follow ? watch_dir(c->file) : -1;
	while (!read_all(&r, f, follow) && follow) {
		if (fn(NULL, 0, arg) != 0)
			break;
		if (rotated(c->file, f)) {
			FILE *g = fopen(c->file, "re");
			if (g != NULL) {
				read_all(&r, f, 0); /* the old file's tail */
				fclose(f);
				f = g;
			}
			continue;
		}
		wait_change(in);
	}
	if (in >= 0)
		close(in);
	fclose(f);
	return TP_OK;
}
