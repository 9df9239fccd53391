/*
 * log_filecap.c - a program's stdout or stderr appended to a file that is
 * rotated by size (supervisord's stdout_logfile_maxbytes and _backups).
 *
 * A file the child writes itself cannot be rotated under it, so the child
 * gets the write end of a pipe, a source of this process's logging loop
 * (log_loop.c; one thread for every capture), and what arrives is copied
 * into the file: at max_bytes the file becomes FILE.1 (FILE.1 becomes
 * FILE.2 ... up to `backups`) and a fresh FILE is opened. The source ends
 * when every writer has closed the pipe (the child and its group are
 * gone).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log_int.h"
#include "log_loop.h"
#include "troupe/error.h"

struct tp__filecap {
	int fd, out;
	char *path;
	uint64_t max, size;
	unsigned backups;
	tp__rsrc *src;  /* on the loop; NULL once at end of file */
	unsigned epoch; /* tp__log_loop_epoch() of the loop it is on */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
};

static int reopen(struct tp__filecap *f, int truncate)
{
	int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_APPEND;
	f->out = open(f->path, flags | (truncate ? O_TRUNC : 0), 0600);
	off_t end = f->out >= 0 ? lseek(f->out, 0, SEEK_END) : 0;
	f->size = end > 0 ? (uint64_t)end : 0;
	return f->out >= 0 ? 0 : -1;
}

/* FILE.N-1 -> FILE.N, ..., FILE -> FILE.1, then a fresh FILE; without
 * backups the file starts again empty. */
static void rotate(struct tp__filecap *f)
{
	struct stat st;
	if (fstat(f->out, &st) != 0 || !S_ISREG(st.st_mode)) {
		f->max = 0; /* a device or a pipe is never renamed */
		return;
	}
	size_t n = strlen(f->path) + 16;
	char *from = malloc(n), *to = malloc(n);
	if (from != NULL && to != NULL && f->backups > 0) {
		for (unsigned i = f->backups; i > 1; i--) {
			snprintf(from, n, "%s.%u", f->path, i - 1);
			snprintf(to, n, "%s.%u", f->path, i);
			rename(from, to);
		}
		snprintf(to, n, "%s.1", f->path);
		rename(f->path, to);
	}
	free(from);
	free(to);
	close(f->out);
	reopen(f, 1);
}

static void write_out(struct tp__filecap *f, const char *p, size_t n)
{
	while (n > 0 && f->out >= 0) {
		size_t room = n;
		if (f->max > 0 && f->size + room > f->max)
			room =
			    f->size < f->max ? (size_t)(f->max - f->size) : 0;
		if (room == 0) {
			rotate(f);
			continue;
		}
		ssize_t w = write(f->out, p, room);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* a full disk: the rest is dropped */
		f->size += (uint64_t)w;
		p += w;
		n -= (size_t)w;
	}
}

/* The pipe is readable (or its writers are gone): one read per round,
 * level-triggered, so end of file comes only after the last byte. */
static void on_readable(tp__rsrc *s, uint32_t ev, void *arg)
{
	struct tp__filecap *f = arg;
	char buf[8192];
	(void)ev;
	ssize_t n = read(f->fd, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n > 0) {
		write_out(f, buf, (size_t)n);
		return;
	}
	tp__reactor_del(s);
	f->src = NULL;
	pthread_mutex_lock(&f->mu);
	f->done = 1; /* a waiter may free f from here on */
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

static void filecap_destroy(struct tp__filecap *f)
{
	if (f->out >= 0)
		close(f->out);
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
	free(f->path);
	free(f);
}

int tp__filecap_start(int fd, const char *path, uint64_t max_bytes,
                      unsigned backups, struct tp__filecap **out)
{
	struct tp__filecap *f = calloc(1, sizeof(*f));
	int rv, fl;
	if (f == NULL || (f->path = strdup(path)) == NULL) {
		free(f);
		return TP_ENOMEM;
	}
	f->fd = fd;
	f->max = max_bytes;
	f->backups = backups;
	if (reopen(f, 0) != 0 || (fl = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) {
		rv = tp_err_errno(errno);
		if (f->out >= 0)
			close(f->out);
		free(f->path);
		free(f);
		return rv;
	}
	pthread_mutex_init(&f->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&f->cv, &ca);
	pthread_condattr_destroy(&ca);
	f->epoch = tp__log_loop_epoch();
	if ((rv = tp__log_loop_add_fd(f->fd, on_readable, f, &f->src)) !=
	    TP_OK) {
		filecap_destroy(f);
		return rv;
	}
	*out = f;
	return TP_OK;
}

void tp__filecap_free(struct tp__filecap *f, int wait_ms)
{
	if (f == NULL)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += wait_ms / 1000;
	ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	/* A fork child's inherited capture is on no loop of the child's, and
	 * its lock may have been held by the parent's loop thread: neither
	 * is touched there. */
	if (f->epoch == tp__log_loop_epoch()) {
		pthread_mutex_lock(&f->mu);
		while (!f->done &&
		       pthread_cond_timedwait(&f->cv, &f->mu, &ts) != ETIMEDOUT)
			;
		pthread_mutex_unlock(&f->mu);
	}
	/* An escaped descendant may still hold the pipe: its later output
	 * is not copied. */
	tp__log_loop_del(&f->src, f->epoch);
	close(f->fd);
	filecap_destroy(f);
}
