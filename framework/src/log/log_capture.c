/*
 * log_capture.c - a child's stdout or stderr as records of that child.
 *
 * The supervisor gives a plain program a pipe as its stdout (or stderr)
 * and hands the read end to tp_log_capture_start: the pipe becomes a
 * source of this process's logging loop (log_loop.c; one thread for every
 * capture, not one each), which splits what arrives into lines and logs
 * each one under the child's name and pid through this process's logger,
 * so the child's output reaches the logging actor in order, never
 * interleaved with other writers.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log_int.h"
#include "log_loop.h"
#include "troupe/error.h"

#define LINE_MAX_BYTES 4096

struct tp_log_capture {
	int fd, level;
	pid_t pid;
	char *name;
	tp__rsrc *src;  /* on the loop; NULL once at end of file */
	unsigned epoch; /* tp__log_loop_epoch() of the loop it is on */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	uint64_t lines; /* atomic */
	char buf[LINE_MAX_BYTES];
	size_t len;
};

static void emit_line(tp_log_capture *c, const char *p, size_t n)
{
	tp_log_record(c->level, c->name, c->pid, p, n);
	__atomic_add_fetch(&c->lines, 1, __ATOMIC_RELAXED);
}

/* Logs every complete line in the buffer; keeps the rest. */
static void split(tp_log_capture *c)
{
	char *start = c->buf, *nl;
	size_t left = c->len;
	while ((nl = memchr(start, '\n', left)) != NULL) {
		size_t n = (size_t)(nl - start);
		emit_line(c, start, n > 0 && start[n - 1] == '\r' ? n - 1 : n);
		left -= n + 1;
		start = nl + 1;
	}
	if (left == sizeof(c->buf)) { /* a line too long: cut it */
		emit_line(c, start, left);
		left = 0;
	}
	memmove(c->buf, start, left);
	c->len = left;
}

/* The pipe is readable (or its writers are gone): one read per round, so
 * every capture on the loop gets its turn. Level-triggered, so what is
 * left is read in the next rounds: end of file comes only after the last
 * byte, and the child's last lines are never lost. */
static void on_readable(tp__rsrc *s, uint32_t ev, void *arg)
{
	tp_log_capture *c = arg;
	(void)ev;
	ssize_t n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n > 0) {
		c->len += (size_t)n;
		split(c);
		return;
	}
	if (c->len > 0)
		emit_line(c, c->buf, c->len);
	c->len = 0;
	tp__reactor_del(s);
	c->src = NULL;
	pthread_mutex_lock(&c->mu);
	c->done = 1; /* a waiter may free c from here on */
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static void capture_destroy(tp_log_capture *c)
{
	free(c->name);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c);
}

int tp_log_capture_start(int fd, const char *name, pid_t pid, int level,
                         tp_log_capture **out)
{
	tp_log_capture *c;
	int rv, fl;
	if (fd < 0 || name == NULL || name[0] == '\0' || out == NULL)
		return TP_EINVAL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return TP_ENOMEM;
	c->fd = fd;
	c->pid = pid;
	c->level = level;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	if ((c->name = strdup(name)) == NULL) {
		capture_destroy(c);
		return TP_ENOMEM;
	}
	/* Our read end only (the child holds the write end): a read on the
	 * loop never blocks it. */
	if ((fl = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) {
		rv = tp_err_errno(errno);
		capture_destroy(c);
		return rv;
	}
	c->epoch = tp__log_loop_epoch();
	if ((rv = tp__log_loop_add_fd(c->fd, on_readable, c, &c->src)) !=
	    TP_OK) {
		capture_destroy(c);
		return rv;
	}
	*out = c;
	return TP_OK;
}

int tp_log_capture_wait(tp_log_capture *c, int timeout_ms)
{
	struct timespec dl;
	int rv = TP_OK;
	if (c == NULL)
		return TP_EINVAL;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (dl.tv_nsec >= 1000000000) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&c->mu);
	while (!c->done && rv == TP_OK) {
		if (timeout_ms < 0)
			pthread_cond_wait(&c->cv, &c->mu);
		else if (pthread_cond_timedwait(&c->cv, &c->mu, &dl) ==
		         ETIMEDOUT)
			rv = c->done ? TP_OK : TP_ETIMEDOUT;
	}
	pthread_mutex_unlock(&c->mu);
	return rv;
}

uint64_t tp_log_capture_lines(const tp_log_capture *c)
{
	return c != NULL ? __atomic_load_n(&c->lines, __ATOMIC_RELAXED) : 0;
}

void tp_log_capture_free(tp_log_capture *c)
{
	if (c == NULL)
		return;
	/* Off the loop first, so no callback runs on c any more. A capture
	 * inherited by a fork child is on no loop of the child's, and its
	 * lock may have been held by the parent's loop thread: neither is
	 * touched there. */
	tp__log_loop_del(&c->src, c->epoch);
	close(c->fd);
	capture_destroy(c);
}
