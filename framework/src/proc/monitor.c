/*
 * monitor.c - exit events and monitors (Erlang's monitors), tp_wait and
 * tp_cpu_count.
 *
 * Whoever reaps a child (the fork server, or the parent itself for spawn
 * and fork children) appends its exit event to the run's exit log
 * "<rundir>/exits": records [u32 length][packed ExitEvent], each written
 * with one write() on an O_APPEND file so that publishers never
 * interleave (one append costs a few microseconds; a file per event cost
 * hundreds on ext4). A monitor in any process of the run (parent or not)
 * watches the run directory with inotify: its fd becomes readable when the
 * log grows, and it reads the records it has not seen. The crash report
 * the child's fault handler left in "<rundir>/crash-<pid>" becomes the
 * event's report. The log lives until the run directory is removed
 * (tp_fini of the main process): about 30 bytes per exited child.
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

#include "clock.h"
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

/* The run's exit-event log, opened once per publishing process. */
static int log_fd = -1;
static pid_t log_pid;

static void log_path(char *buf, size_t len)
{
	snprintf(buf, len, "%s/exits", tp__rt.dir);
}

/* One write() per record on an O_APPEND file: records from several
 * publishers (fork servers, parents) never interleave. */
static void log_append(const void *ev, size_t len)
{
	char path[300];
	unsigned char small[1024], *rec = small;
	if (log_fd < 0 || log_pid != getpid()) {
		log_path(path, sizeof(path));
		log_fd =
		    open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		log_pid = getpid();
		if (log_fd < 0)
			return;
	}
	if (len + 4 > sizeof(small) && (rec = malloc(len + 4)) == NULL)
		return;
	rec[0] = (unsigned char)len;
	rec[1] = (unsigned char)(len >> 8);
	rec[2] = (unsigned char)(len >> 16);
	rec[3] = (unsigned char)(len >> 24);
	memcpy(rec + 4, ev, len);
	ssize_t w = write(log_fd, rec, len + 4);
	(void)w;
	if (rec != small)
		free(rec);
}

void tp__exit_log_close(void)
{
	if (log_fd >= 0)
		close(log_fd);
	log_fd = -1;
}

int tp__exit_publish(pid_t pid, const char *name, int status, char **report)
{
	Troupe__ExitEvent ev = TROUPE__EXIT_EVENT__INIT;
	char crash[300];
	size_t rlen = 0;
	void *buf;
	size_t len;
	*report = NULL;
	if (WIFSIGNALED(status)) { /* the crash handler re-raises its signal */
		tp__crash_path(pid, crash, sizeof(crash));
		*report = read_file(crash, 65536, &rlen);
		if (*report != NULL)
			unlink(crash);
	}
	ev.pid = pid;
	ev.name = (char *)name;
	if (WIFSIGNALED(status)) {
		ev.signal = WTERMSIG(status);
		ev.core_dumped = WCOREDUMP(status) != 0;
	} else {
		ev.exit_code = WEXITSTATUS(status);
	}
	ev.report = *report != NULL ? *report : "";
	int rv = tp__pack(&ev.base, 0, &buf, &len);
	if (rv == TP_OK) {
		log_append(buf, len);
		free(buf);
	}
	if (*report != NULL && (*report)[0] == '\0') {
		free(*report);
		*report = NULL;
	}
	return rv;
}

/* ---- monitors ---- */

struct tp_monitor {
	pid_t pid;
	int fd;    /* inotify on the run directory */
	int log;   /* the exit log, once it exists */
	off_t off; /* where the next unread record starts */
	int found; /* the last event for pid seen so far is in ev */
	int delivered;
	int alive_at_start;
	tp_exit_event ev;
	char name[TP_NAME_MAX];
	char *report;
};

static void monitor_keep(tp_monitor *m, const Troupe__ExitEvent *e)
{
	free(m->report);
	m->report = strdup(e->report ? e->report : "");
	snprintf(m->name, sizeof(m->name), "%s", e->name ? e->name : "");
	memset(&m->ev, 0, sizeof(m->ev));
	m->ev.pid = e->pid;
	m->ev.name = m->name;
	m->ev.signal = e->signal;
	m->ev.exitcode = e->signal != 0 ? -e->signal : e->exit_code;
	m->ev.core_dumped = e->core_dumped;
	m->ev.report = m->report != NULL ? m->report : "";
	m->found = 1;
}

/* Reads the records appended since the last call; keeps the last one
 * about pid. */
static void monitor_scan(tp_monitor *m)
{
	char path[300];
	unsigned char hdr[4];
	if (m->log < 0) {
		log_path(path, sizeof(path));
		if ((m->log = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			return;
	}
	for (;;) {
		if (pread(m->log, hdr, 4, m->off) != 4)
			return;
		size_t n = (size_t)hdr[0] | (size_t)hdr[1] << 8 |
		           (size_t)hdr[2] << 16 | (size_t)hdr[3] << 24;
		unsigned char *rec = malloc(n ? n : 1);
		if (rec == NULL ||
		    pread(m->log, rec, n, m->off + 4) != (ssize_t)n) {
			free(rec);
			return;
		}
		m->off += 4 + (off_t)n;
		Troupe__ExitEvent *e = NULL;
		if (tp__unpack(&troupe__exit_event__descriptor, rec, n, 0,
		               (ProtobufCMessage **)&e) == TP_OK) {
			if (e->pid == m->pid)
				monitor_keep(m, e);
			protobuf_c_message_free_unpacked(&e->base, NULL);
		}
		free(rec);
	}
}

int tp__exit_lookup(pid_t pid, Troupe__ExitEvent **out)
{
	tp_monitor m = {.pid = pid, .fd = -1, .log = -1};
	Troupe__ExitEvent ev = TROUPE__EXIT_EVENT__INIT;
	monitor_scan(&m);
	if (m.log >= 0)
		close(m.log);
	if (!m.found) {
		free(m.report);
		return TP_ENOENT;
	}
	/* Rebuild a message the caller frees like an unpacked one. */
	ev.pid = m.ev.pid;
	ev.name = m.name;
	ev.signal = m.ev.signal;
	ev.exit_code = m.ev.signal ? 0 : m.ev.exitcode;
	ev.core_dumped = m.ev.core_dumped;
	ev.report = m.report != NULL ? m.report : "";
	void *buf;
	size_t len;
	int rv = tp__pack(&ev.base, 0, &buf, &len);
	free(m.report);
	if (rv != TP_OK)
		return rv;
	rv = tp__unpack(&troupe__exit_event__descriptor, buf, len, 0,
	                (ProtobufCMessage **)out);
	free(buf);
	return rv;
}

int tp_monitor_new(tp_monitor **out, pid_t pid)
{
	char path[300];
	struct stat st;
	tp_monitor *m;
	if (out == NULL || pid <= 0)
		return TP_EINVAL;
	if (!tp__rt.initialised)
		return TP_ENOTINIT;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return TP_ENOMEM;
	m->pid = pid;
	m->log = -1;
	m->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (m->fd < 0 ||
	    inotify_add_watch(m->fd, tp__rt.dir,
	                      IN_MODIFY | IN_CREATE | IN_ONLYDIR) < 0) {
		int e = errno;
		if (m->fd >= 0)
			close(m->fd);
		free(m);
		return tp_err_errno(e);
	}
	/* The log's size first, then liveness: a process alive after that
	 * moment has its event appended past it, so older records about a
	 * reused pid are skipped. A dead one's event is its last record. */
	log_path(path, sizeof(path));
	off_t size = stat(path, &st) == 0 ? st.st_size : 0;
	if (kill(pid, 0) == 0 || errno == EPERM) {
		m->off = size;
	} else {
		monitor_scan(m);
		if (!m->found) {
			tp_monitor_free(m);
			return TP_ENOENT;
		}
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
	char drain[4096];
	if (m == NULL || ev == NULL || timeout_ms < -1)
		return TP_EINVAL;
	if (m->delivered)
		return TP_ENOENT;
	int64_t deadline = tp__deadline(timeout_ms);
	for (;;) {
		while (read(m->fd, drain, sizeof(drain)) > 0)
			;
		monitor_scan(m);
		if (m->found) {
			*ev = m->ev;
			m->delivered = 1;
			return TP_OK;
		}
		int wait = tp__remaining(deadline);
		if (wait == 0)
			return TP_ETIMEDOUT;
		struct pollfd pfd = {.fd = m->fd, .events = POLLIN};
		if (poll(&pfd, 1, wait) < 0 && errno != EINTR)
			return tp_err_errno(errno);
	}
}

void tp_monitor_free(tp_monitor *m)
{
	if (m == NULL)
		return;
	if (m->fd >= 0)
		close(m->fd);
	if (m->log >= 0)
		close(m->log);
	free(m->report);
	free(m);
}

/* ---- tp_wait, tp_cpu_count ---- */

int tp_wait(const int *fds, int n, int timeout_ms, int *ready)
{
	struct pollfd small[16], *pfds = small;
	int rv, wait = timeout_ms;
	if (fds == NULL || ready == NULL || n <= 0 || timeout_ms < -1)
		return -TP_EINVAL;
	for (int i = 0; i < n; i++)
		if (fds[i] < 0)
			return -TP_EINVAL;
	if (n > 16 && (pfds = calloc((size_t)n, sizeof(*pfds))) == NULL)
		return -TP_ENOMEM;
	int64_t deadline = tp__deadline(timeout_ms);
	for (;;) {
		for (int i = 0; i < n; i++)
			pfds[i] =
			    (struct pollfd){.fd = fds[i], .events = POLLIN};
		rv = poll(pfds, (nfds_t)n, wait);
		if (rv < 0 && errno != EINTR) {
			rv = -tp_err_errno(errno);
			break;
		}
		rv = rv < 0 ? 0 : rv;
		if (rv > 0) {
			rv = 0;
			for (int i = 0; i < n; i++) {
				ready[i] = (pfds[i].revents != 0) &&
				           tp__sentinel_ready(fds[i]);
				rv += ready[i];
			}
			if (rv > 0)
				break;
		}
		if ((wait = tp__remaining(deadline)) == 0) {
			memset(ready, 0, (size_t)n * sizeof(int));
			rv = 0;
			break;
		}
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
