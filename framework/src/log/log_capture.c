/*
 * log_capture.c - a child's stdout or stderr as records of that child.
 *
 * The supervisor gives a plain program a pipe as its stdout (or stderr)
 * and hands the read end to tp_log_capture_start: a thread splits what
 * arrives into lines and logs each one under the child's name and pid
 * through this process's logger, so the child's output reaches the
 * logging actor in order, never interleaved with other writers.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "log_int.h"
#include "troupe/error.h"

#define LINE_MAX_BYTES 4096

struct tp_log_capture {
	int fd, stopfd, level;
	pid_t pid;
	char *name;
	pthread_t thr;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	uint64_t lines;
	char buf[LINE_MAX_BYTES];
	size_t len;
};

static void emit_line(tp_log_capture *c, const char *p, size_t n)
{
	tp_log_record(c->level, c->name, c->pid, p, n);
	pthread_mutex_lock(&c->mu);
	c->lines++;
	pthread_mutex_unlock(&c->mu);
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

static void *capture_main(void *arg)
{
	tp_log_capture *c = arg;
	struct pollfd p[2] = {{.fd = c->fd, .events = POLLIN},
	                      {.fd = c->stopfd, .events = POLLIN}};
	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		ssize_t n =
		    read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			if (c->len > 0)
				emit_line(c, c->buf, c->len);
			c->len = 0;
			break;
		}
		c->len += (size_t)n;
		split(c);
	}
	pthread_mutex_lock(&c->mu);
	c->done = 1;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

int tp_log_capture_start(int fd, const char *name, pid_t pid, int level,
                         tp_log_capture **out)
{
	tp_log_capture *c;
	sigset_t all, old;
	int rv;
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
		rv = TP_ENOMEM;
		goto fail;
	}
	if ((c->stopfd = eventfd(0, EFD_CLOEXEC)) < 0) {
		rv = tp_err_errno(errno);
		goto fail;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rv = pthread_create(&c->thr, NULL, capture_main, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rv != 0) {
		close(c->stopfd);
		rv = tp_err_errno(rv);
		goto fail;
	}
	*out = c;
	return TP_OK;
fail:
	free(c->name);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c);
	return rv;
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
	uint64_t n;
	if (c == NULL)
		return 0;
	pthread_mutex_lock((pthread_mutex_t *)&c->mu);
	n = c->lines;
	pthread_mutex_unlock((pthread_mutex_t *)&c->mu);
	return n;
}

void tp_log_capture_free(tp_log_capture *c)
{
	uint64_t one = 1;
	if (c == NULL)
		return;
	if (write(c->stopfd, &one, sizeof(one)) < 0)
		(void)0;
	pthread_join(c->thr, NULL);
	close(c->stopfd);
	close(c->fd);
	free(c->name);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c);
}
