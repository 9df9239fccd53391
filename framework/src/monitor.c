/*
 * monitor.c - exit events and monitors (Erlang's monitors), tp_wait and
 * tp_cpu_count.
 *
 * Whoever reaps a child (the fork server, or the parent itself for spawn
 * and fork children) publishes its exit event as a file
 * "<rundir>/exit-<pid>" holding a packed ExitEvent, written to a temporary
 * name and renamed so that readers never see half an event. A monitor in
 * any process of the run (parent or not) watches the run directory with
 * inotify: its fd becomes readable when an event appears, and the event
 * file is read then. The crash report the child's fault handler left in
 * "<rundir>/crash-<pid>" becomes the event's report. Event files live
 * until the run directory is removed (tp_fini of the main process).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "process_int.h"
#include "runtime_int.h"
#include "troupe/error.h"
#include "wire.h"

int tp__crash_path(pid_t pid, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/crash-%d", tp__rt.dir, (int)pid);
	return n < 0 || (size_t)n >= len ? TP_ETOOBIG : TP_OK;
}

static char *read_file(const char *path, size_t max, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	char *buf = malloc(max + 1);
	size_t n = 0;
	ssize_t r;
	while (buf != NULL && n < max && (r = read(fd, buf + n, max - n)) > 0)
		n += (size_t)r;
	close(fd);
	if (buf != NULL)
		buf[n] = '\0';
	*len = n;
	return buf;
}

int tp__exit_publish(pid_t pid, const char *name, int status, void **buf,
                     size_t *len)
{
	Troupe__Envelope env = TROUPE__ENVELOPE__INIT;
	Troupe__ExitEvent ev = TROUPE__EXIT_EVENT__INIT;
	char crash[300], path[300], tmp[310];
	size_t rlen = 0;
	void *evbuf = NULL;
	size_t evlen;
	tp__crash_path(pid, crash, sizeof(crash));
	char *report = read_file(crash, 65536, &rlen);
	unlink(crash);
	ev.pid = pid;
	ev.name = (char *)name;
	if (WIFSIGNALED(status)) {
		ev.signal = WTERMSIG(status);
		ev.core_dumped = WCOREDUMP(status) != 0;
	} else {
		ev.exit_code = WEXITSTATUS(status);
	}
	ev.report = report != NULL ? report : "";
	/* The file for monitors, then the envelope for the parent. */
	if (tp__pack(&ev.base, 0, &evbuf, &evlen) == TP_OK) {
		snprintf(path, sizeof(path), "%s/exit-%d", tp__rt.dir,
		         (int)pid);
		snprintf(tmp, sizeof(tmp), "%s.tmp", path);
		int fd =
		    open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd >= 0) {
			ssize_t w = write(fd, evbuf, evlen);
			close(fd);
			if (w == (ssize_t)evlen)
				rename(tmp, path);
			else
				unlink(tmp);
		}
		free(evbuf);
	}
	env.body_case = TROUPE__ENVELOPE__BODY_EXIT;
	env.exit = &ev;
	int rv = tp__envelope_pack(&env, 0, buf, len);
	free(report);
	return rv;
}

/* ---- monitors ---- */

struct tp_monitor {
	pid_t pid;
	int fd; /* inotify on the run directory */
	int delivered;
	char path[300];
	char name[TP_NAME_MAX];
	char *report;
};

/* Reads the event file; 1 when it was there. */
static int monitor_try(tp_monitor *m, tp_exit_event *ev)
{
	size_t len;
	char *buf = read_file(m->path, TP_MAX_MSG_DEFAULT, &len);
	Troupe__ExitEvent *e = NULL;
	if (buf == NULL)
		return 0;
	int rv = tp__unpack(&troupe__exit_event__descriptor, buf, len, 0,
	                    (ProtobufCMessage **)&e);
	free(buf);
	if (rv != TP_OK)
		return 0;
	free(m->report);
	m->report = strdup(e->report ? e->report : "");
	snprintf(m->name, sizeof(m->name), "%s", e->name ? e->name : "");
	memset(ev, 0, sizeof(*ev));
	ev->pid = e->pid;
	ev->name = m->name;
	ev->signal = e->signal;
	ev->exitcode = e->signal != 0 ? -e->signal : e->exit_code;
	ev->core_dumped = e->core_dumped;
	ev->report = m->report != NULL ? m->report : "";
	protobuf_c_message_free_unpacked(&e->base, NULL);
	return 1;
}

int tp_monitor_new(tp_monitor **out, pid_t pid)
{
	tp_monitor *m;
	if (out == NULL || pid <= 0)
		return TP_EINVAL;
	if (!tp__rt.initialised)
		return TP_ENOTINIT;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return TP_ENOMEM;
	m->pid = pid;
	snprintf(m->path, sizeof(m->path), "%s/exit-%d", tp__rt.dir, (int)pid);
	m->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (m->fd < 0 || inotify_add_watch(m->fd, tp__rt.dir,
	                                   IN_MOVED_TO | IN_ONLYDIR) < 0) {
		int e = errno;
		if (m->fd >= 0)
			close(m->fd);
		free(m);
		return tp_err_errno(e);
	}
	/* Neither running nor already reported: nothing to monitor. */
	if (kill(pid, 0) != 0 && errno == ESRCH && access(m->path, F_OK) != 0) {
		close(m->fd);
		free(m);
		return TP_ENOENT;
	}
	*out = m;
	return TP_OK;
}

int tp_monitor_fd(const tp_monitor *m)
{
	return m == NULL ? -1 : m->fd;
}

int tp_monitor_next(tp_monitor *m, tp_exit_event *ev, int timeout_ms)
{
	struct timespec t0, now;
	char drain[4096];
	if (m == NULL || ev == NULL || timeout_ms < -1)
		return TP_EINVAL;
	if (m->delivered)
		return TP_ENOENT;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		while (read(m->fd, drain, sizeof(drain)) > 0)
			;
		if (monitor_try(m, ev)) {
			m->delivered = 1;
			return TP_OK;
		}
		int wait = -1;
		if (timeout_ms >= 0) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			long el = (now.tv_sec - t0.tv_sec) * 1000 +
			          (now.tv_nsec - t0.tv_nsec) / 1000000;
			if (el >= timeout_ms)
				return TP_ETIMEDOUT;
			wait = (int)(timeout_ms - el);
		}
		struct pollfd pfd = {.fd = m->fd, .events = POLLIN};
		if (poll(&pfd, 1, wait) < 0 && errno != EINTR)
			return tp_err_errno(errno);
	}
}

void tp_monitor_free(tp_monitor *m)
{
	if (m == NULL)
		return;
	close(m->fd);
	free(m->report);
	free(m);
}

/* ---- tp_wait, tp_cpu_count ---- */

int tp_wait(const int *fds, int n, int timeout_ms, int *ready)
{
	struct pollfd small[16], *pfds = small;
	int rv;
	if (fds == NULL || ready == NULL || n <= 0 || timeout_ms < -1)
		return -TP_EINVAL;
	for (int i = 0; i < n; i++)
		if (fds[i] < 0)
			return -TP_EINVAL;
	if (n > 16 && (pfds = calloc((size_t)n, sizeof(*pfds))) == NULL)
		return -TP_ENOMEM;
	for (int i = 0; i < n; i++)
		pfds[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
	while ((rv = poll(pfds, (nfds_t)n, timeout_ms)) < 0 && errno == EINTR)
		;
	if (rv < 0) {
		rv = -tp_err_errno(errno);
	} else {
		for (int i = 0; i < n; i++)
			ready[i] = (pfds[i].revents &
			            (POLLIN | POLLHUP | POLLERR)) != 0;
	}
	if (pfds != small)
		free(pfds);
	return rv;
}

int tp_cpu_count(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		return CPU_COUNT(&set);
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}
