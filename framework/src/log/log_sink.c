/*
 * log_sink.c - formatting records into lines and writing them: the one
 * writer of the console and the log file.
 *
 * A sink belongs to one thread at a time (the logging actor's, or the
 * logger of a process that writes directly). Lines are built in memory and
 * written in large chunks, so a line is never split between two writes of
 * different processes; the file is rotated between lines (Python's
 * RotatingFileHandler: file -> file.1 -> ... -> file.N). When the file
 * cannot be opened or written, one message says so on stderr and the
 * console takes over, so no record is silently lost.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log_int.h"
#include "troupe/error.h"

#define FLUSH_AT (64 * 1024)

struct buf {
	char *p;
	size_t len, cap;
};

struct tp__log_sink {
	char *app, *format, *path;
	int json, console, colour;
	uint64_t max_bytes;
	unsigned backups;
	int fd;             /* the file, -1 when none */
	uint64_t file_size; /* bytes in the file, written or buffered */
	int file_error;
	uint64_t rotations;
	struct buf line, file, con;
	time_t cached_sec;
	char cached_time[32]; /* "YYYY-MM-DDTHH:MM:SS" of cached_sec */
};

static int buf_reserve(struct buf *b, size_t more)
{
	if (b->len + more <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (p == NULL)
		return -1;
	b->p = p;
	b->cap = cap;
	return 0;
}

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (n > 0 && buf_reserve(b, n) == 0) {
		memcpy(b->p + b->len, s, n);
		b->len += n;
	}
}

static void buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static void buf_uint(struct buf *b, unsigned long long v, int width)
{
	char tmp[24];
	int i = sizeof(tmp);
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
		width--;
	} while (v > 0 || width > 0);
	buf_add(b, tmp + i, sizeof(tmp) - (size_t)i);
}

int64_t tp__log_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void say(const char *what, const char *path, int err)
{
	char msg[512];
	int n = snprintf(msg, sizeof(msg),
	                 "troupe: log file '%s': %s: %s; logging to the "
	                 "console instead\n",
	                 path, what, tp_strerror(err));
	if (n > 0)
		write_all(2, msg,
		          (size_t)n < sizeof(msg) ? (size_t)n
		                                  : sizeof(msg) - 1);
}

/* The file failed: say it once, hand what it had to the console. */
static void file_fail(tp__log_sink *s, const char *what, int err)
{
	say(what, s->path, err);
	s->file_error = err;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	if (!s->console) {
		s->console = 1;
		s->colour = 0;
	}
	buf_add(&s->con, s->file.p, s->file.len);
	s->file.len = 0;
}

static int open_file(tp__log_sink *s, int truncate)
{
	struct stat st;
	int flags = O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC;
	s->fd = open(s->path, flags | (truncate ? O_TRUNC : 0), 0644);
	if (s->fd < 0 || fstat(s->fd, &st) != 0)
		return tp_err_errno(errno);
	s->file_size = (uint64_t)st.st_size;
	/* A writer killed mid-line (an actor's kill -9) left the file
	 * without its last newline: mark that line as cut and end it, so
	 * our first record is not glued to it (its batch is counted as
	 * lost: it was never marked as written). */
	static const char cut[] = TP_LOG_CUT_MARK "\n";
	char last;
	if (st.st_size > 0 && pread(s->fd, &last, 1, st.st_size - 1) == 1 &&
	    last != '\n' &&
	    write(s->fd, cut, sizeof(cut) - 1) == (ssize_t)sizeof(cut) - 1)
		s->file_size += sizeof(cut) - 1;
	return TP_OK;
}

static void write_file(tp__log_sink *s)
{
	int err;
	if (s->fd < 0 || s->file.len == 0)
		return;
	if ((err = write_all(s->fd, s->file.p, s->file.len)) != 0) {
		file_fail(s, "write failed", tp_err_errno(err));
		return;
	}
	s->file.len = 0;
}

static void backup_name(const tp__log_sink *s, unsigned i, char *buf,
                        size_t len)
{
	snprintf(buf, len, "%s.%u", s->path, i);
}

/* file.N-1 -> file.N, ..., file -> file.1, then a fresh file. */
static void rotate(tp__log_sink *s)
{
	char from[4200], to[4200];
	int rv;
	write_file(s);
	if (s->fd < 0)
		return;
	close(s->fd);
	s->fd = -1;
	for (unsigned i = s->backups; i > 1; i--) {
		backup_name(s, i - 1, from, sizeof(from));
		backup_name(s, i, to, sizeof(to));
		rename(from, to);
	}
	backup_name(s, 1, to, sizeof(to));
	if (rename(s->path, to) != 0) {
		file_fail(s, "rotation failed", tp_err_errno(errno));
		return;
	}
	if ((rv = open_file(s, 1)) != TP_OK) {
		file_fail(s, "cannot reopen after rotation", rv);
		return;
	}
	s->rotations++;
}

int tp__log_sink_open(const tp_log_config *c, tp__log_sink **out)
{
	tp__log_sink *s = calloc(1, sizeof(*s));
	int rv;
	if (s == NULL)
		return TP_ENOMEM;
	s->fd = -1;
	s->json = c->json;
	s->console = c->console;
	s->colour = c->colour == TP_LOG_COLOUR_ALWAYS ||
	            (c->colour == TP_LOG_COLOUR_AUTO && isatty(2));
	s->max_bytes = c->max_bytes;
	s->backups = c->backups;
	s->cached_sec = -1;
	if (tp__log_strset(&s->app, c->app) != TP_OK ||
	    tp__log_strset(&s->format, c->format) != TP_OK ||
	    tp__log_strset(&s->path, c->file) != TP_OK) {
		tp__log_sink_close(s);
		return TP_ENOMEM;
	}
	if (s->path != NULL) {
		if (c->delete_existing) {
			char b[4200];
			for (unsigned i = 1; i <= s->backups; i++) {
				backup_name(s, i, b, sizeof(b));
				unlink(b);
			}
		}
		if ((rv = open_file(s, c->delete_existing)) != TP_OK)
			file_fail(s, "cannot open", rv);
	}
	*out = s;
	return TP_OK;
}

void tp__log_sink_close(tp__log_sink *s)
{
	if (s == NULL)
		return;
	tp__log_sink_flush(s);
	if (s->fd >= 0)
		close(s->fd);
	free(s->app);
	free(s->format);
	free(s->path);
	free(s->line.p);
	free(s->file.p);
	free(s->con.p);
	free(s);
}

static void add_time(tp__log_sink *s, struct buf *b, int64_t us)
{
	time_t sec = (time_t)(us / 1000000);
	if (sec != s->cached_sec) {
		struct tm tm;
		gmtime_r(&sec, &tm);
		strftime(s->cached_time, sizeof(s->cached_time),
		         "%Y-%m-%dT%H:%M:%S", &tm);
		s->cached_sec = sec;
	}
	buf_str(b, s->cached_time);
	buf_add(b, ".", 1);
	buf_uint(b, (unsigned long long)(us % 1000000), 6);
	buf_add(b, "Z", 1);
}

static void add_level(struct buf *b, int level)
{
	const char *n = tp__log_level_name(level);
	if (n != NULL) {
		buf_str(b, n);
	} else {
		buf_add(b, "L", 1);
		buf_uint(b, (unsigned)level, 0);
	}
}

/* The message of a text line: trailing newlines cut, inner ones followed
 * by a tab so a reader can tell continuation lines from records. */
static void add_text_msg(struct buf *b, const char *m, size_t n)
{
	while (n > 0 && (m[n - 1] == '\n' || m[n - 1] == '\r'))
		n--;
	for (const char *nl; (nl = memchr(m, '\n', n)) != NULL;) {
		size_t k = (size_t)(nl - m) + 1;
		buf_add(b, m, k);
		buf_add(b, "\t", 1);
		m += k;
		n -= k;
	}
	buf_add(b, m, n);
}

static void add_json_str(struct buf *b, const char *m, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	buf_add(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)m[i];
		size_t run = i;
		while (run < n && (unsigned char)m[run] >= 0x20 &&
		       m[run] != '"' && m[run] != '\\')
			run++;
		if (run > i) {
			buf_add(b, m + i, run - i);
			i = run - 1;
			continue;
		}
		if (ch == '"' || ch == '\\') {
			char e[2] = {'\\', (char)ch};
			buf_add(b, e, 2);
		} else if (ch == '\n') {
			buf_add(b, "\\n", 2);
		} else if (ch == '\t') {
			buf_add(b, "\\t", 2);
		} else {
			char e[6] = {'\\', 'u',          '0',
			             '0',  hex[ch >> 4], hex[ch & 15]};
			buf_add(b, e, 6);
		}
	}
	buf_add(b, "\"", 1);
}

static void format_json(tp__log_sink *s, int64_t us, int level,
                        const char *name, size_t nlen, pid_t pid,
                        const char *msg, size_t mlen)
{
	struct buf *b = &s->line;
	while (mlen > 0 && msg[mlen - 1] == '\n')
		mlen--;
	buf_add(b, "{\"time\":\"", 9);
	add_time(s, b, us);
	buf_add(b, "\",\"level\":\"", 11);
	add_level(b, level);
	buf_add(b, "\",\"app\":", 8);
	add_json_str(b, s->app ? s->app : "", s->app ? strlen(s->app) : 0);
	buf_add(b, ",\"name\":", 8);
	add_json_str(b, name, nlen);
	buf_add(b, ",\"pid\":", 7);
	buf_uint(b, (unsigned)pid, 0);
	buf_add(b, ",\"msg\":", 7);
	add_json_str(b, msg, mlen);
	buf_add(b, "}\n", 2);
}

static void format_text(tp__log_sink *s, int64_t us, int level,
                        const char *name, size_t nlen, pid_t pid,
                        const char *msg, size_t mlen)
{
	struct buf *b = &s->line;
	const char *f = s->format;
	for (const char *p = f; *p; p++) {
		const char *lit = p;
		while (*p && *p != '%')
			p++;
		buf_add(b, lit, (size_t)(p - lit));
		if (*p == '\0')
			break;
		switch (*++p) {
		case 'T':
			add_time(s, b, us);
			break;
		case 'L':
			add_level(b, level);
			break;
		case 'N':
			buf_add(b, name, nlen);
			break;
		case 'P':
			buf_uint(b, (unsigned)pid, 0);
			break;
		case 'A':
			buf_str(b, s->app ? s->app : "");
			break;
		case 'M':
			add_text_msg(b, msg, mlen);
			break;
		default:
			buf_add(b, "%", 1);
			break;
		}
	}
	buf_add(b, "\n", 1);
}

static const char *colour_of(int level)
{
	if (level >= TP_LOG_CRITICAL)
		return "\033[1;31m";
	if (level >= TP_LOG_ERROR)
		return "\033[31m";
	if (level >= TP_LOG_WARNING)
		return "\033[33m";
	if (level >= TP_LOG_INFO)
		return "\033[32m";
	return "\033[36m";
}

void tp__log_sink_add(tp__log_sink *s, int64_t time_us, int level,
                      const char *name, size_t nlen, pid_t pid, const char *msg,
                      size_t mlen)
{
	struct buf *l = &s->line;
	l->len = 0;
	if (s->json)
		format_json(s, time_us, level, name, nlen, pid, msg, mlen);
	else
		format_text(s, time_us, level, name, nlen, pid, msg, mlen);
	if (s->fd >= 0) {
		if (s->backups > 0 && s->max_bytes > 0 && s->file_size > 0 &&
		    s->file_size + l->len > s->max_bytes)
			rotate(s);
		if (s->fd >= 0) {
			buf_add(&s->file, l->p, l->len);
			s->file_size += l->len;
			if (s->file.len >= FLUSH_AT)
				write_file(s);
		}
	}
	if (s->console) {
		if (s->colour) {
			buf_str(&s->con, colour_of(level));
			buf_add(&s->con, l->p, l->len - 1);
			buf_str(&s->con, "\033[0m\n");
		} else {
			buf_add(&s->con, l->p, l->len);
		}
		if (s->con.len >= FLUSH_AT)
			tp__log_sink_flush(s);
	}
}

void tp__log_sink_flush(tp__log_sink *s)
{
	write_file(s);
	if (s->con.len > 0) {
		write_all(2, s->con.p, s->con.len); /* a closed console: lost */
		s->con.len = 0;
	}
}

size_t tp__log_sink_pending(const tp__log_sink *s)
{
	return s->file.len + s->con.len;
}

int tp__log_sink_file_error(const tp__log_sink *s)
{
	return s->file_error;
}

uint64_t tp__log_sink_rotations(const tp__log_sink *s)
{
	return s->rotations;
}
