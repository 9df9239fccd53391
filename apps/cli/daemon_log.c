/*
 * daemon_log.c - the daemon's logging actor (troupe/log.h, issue 8) and
 * its console.
 *
 * The daemon runs one logging actor, the only writer of the daemon's log:
 * the [supervisor] `logfile`, or by default a file that outlives the
 * daemon, $XDG_STATE_HOME/troupe/NAME.log (~/.local/state/troupe, or
 * /var/log/troupe as root; cfg_default_log), rotated at logfile_maxbytes
 * (10 MiB) with logfile_backups (5) backups. Its own events are records
 * of the process "troupe"; every program's stdout and stderr are captured
 * as records of that program (tp_child_spec.capture). The actor runs in
 * a child process under the daemon's root supervisor (tp_sup_root), which
 * restarts it on the same address when it dies (senders reconnect and
 * the new actor reports what they lost); nothing here polls it. Its
 * restarts are counted for `troupe status --json`.
 *
 * In the foreground every event is also a line on stderr; when stderr is
 * the journal (JOURNAL_STREAM names it) the line starts with the syslog
 * priority, "<3>" for an error, and has no timestamp of its own.
 *
 * If the actor cannot start, the daemon says so once and falls back to
 * the per-program files <runtime dir>/log/<id>.log and a plain event file
 * at the same path.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define LOG_MAX_BYTES (10u << 20)
#define LOG_BACKUPS   5

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static int console_fd = -1; /* foreground stderr; -1 when detached */
static int journal;         /* stderr is the journal: <N> prefixes */
static FILE *event_file;    /* without the actor */

/* mkdir -p of path's directory. */
static void make_parent(const char *path)
{
	char dir[1024];
	snprintf(dir, sizeof(dir), "%s", path);
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(dir, 0750);
		*p = '/';
	}
}

/* JOURNAL_STREAM=DEV:INODE names stderr when it is the journal. */
static int stderr_is_journal(void)
{
	const char *j = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	return j != NULL && sscanf(j, "%llu:%llu", &dev, &ino) == 2 &&
	       fstat(2, &st) == 0 && (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

void dlog_console_open(int foreground)
{
	if (!foreground) {
		console_fd = -1;
		return;
	}
	console_fd = 2;
	journal = stderr_is_journal();
	/* The loop thread prints events: a full pipe on stderr must not
	 * stall it. Reopening the pipe gives a description of our own, so
	 * O_NONBLOCK does not leak to whoever shares it; an event that does
	 * not fit is dropped (the log file has it). */
	struct stat st;
	if (fstat(2, &st) == 0 && S_ISFIFO(st.st_mode)) {
		int fd =
		    open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd >= 0)
			console_fd = fd;
	}
}

static int syslog_prio(int level)
{
	return level >= TP_LOG_CRITICAL  ? 2
	       : level >= TP_LOG_ERROR   ? 3
	       : level >= TP_LOG_WARNING ? 4
	       : level >= TP_LOG_INFO    ? 6
	                                 : 7;
}

static int format_line(int level, const char *msg, char *line, size_t len,
                       int prio)
{
	char when[32];
	time_t t = time(NULL);
	if (prio)
		return snprintf(line, len, "<%d>troupe: %s\n",
		                syslog_prio(level), msg);
	strftime(when, sizeof(when), "%F %T", localtime(&t));
	return snprintf(line, len, "%s troupe: %s\n", when, msg);
}

void dlog_event(struct daemon *d, int level, const char *msg)
{
	char line[800];
	int n;
	if (d != NULL && d->log_actor != NULL && !d->log_down) {
		tp_log_record(level, NULL, 0, msg, strlen(msg));
	} else if (d != NULL && d->log_actor != NULL) {
		/* The actor ended with the root: the file has no writer. */
		int fd = open(d->log_path,
		              O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		n = format_line(level, msg, line, sizeof(line), 0);
		if (n > (int)sizeof(line) - 1)
			n = (int)sizeof(line) - 1;
		if (fd >= 0) {
			(void)!write(fd, line, (size_t)n);
			close(fd);
		}
	} else if (event_file != NULL) {
		format_line(level, msg, line, sizeof(line), 0);
		pthread_mutex_lock(&log_mu);
		fputs(line, event_file);
		fflush(event_file);
		pthread_mutex_unlock(&log_mu);
	}
	if (console_fd < 0 &&
	    (d == NULL || d->log_actor != NULL || event_file != NULL))
		return;
	n = format_line(level, msg, line, sizeof(line), journal);
	if (n > (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 1;
	(void)!write(console_fd >= 0 ? console_fd : 2, line, (size_t)n);
}

int dlog_start(struct daemon *d)
{
	tp_log_config *c = NULL;
	int rv;
	if (d->cfg->logfile[0])
		snprintf(d->log_path, sizeof(d->log_path), "%s",
		         d->cfg->logfile);
	else
		cfg_default_log(d->cfg, d->log_path, sizeof(d->log_path));
	make_parent(d->log_path);
	uint64_t max =
	    d->cfg->log_max_bytes ? d->cfg->log_max_bytes : LOG_MAX_BYTES;
	unsigned backups =
	    d->cfg->log_backups ? d->cfg->log_backups : LOG_BACKUPS;
	if ((rv = tp_log_config_new(&c, "troupe")) != TP_OK ||
	    (rv = tp_log_config_set_name(c, "troupe")) != TP_OK ||
	    (rv = tp_log_config_set_console(c, 0, TP_LOG_COLOUR_NEVER)) !=
	        TP_OK ||
	    (rv = tp_log_config_set_file(c, d->log_path, max, backups)) !=
	        TP_OK ||
	    (d->cfg->loglevel > 0 &&
	     (rv = tp_log_config_set_level(c, d->cfg->loglevel)) != TP_OK) ||
	    (rv = tp_log_actor_start(c, &d->log_actor)) != TP_OK) {
		tp_log_config_free(c);
		d->log_actor = NULL;
		event_file = fopen(d->log_path, "ae");
		return rv;
	}
	d->log_cfg = c;
	return TP_OK;
}

void dlog_apply(struct daemon *d, struct cfg *c)
{
	/* A program with its own `log = FILE` keeps writing it. */
	for (int i = 0; i < c->nprogs; i++)
		c->progs[i].spec.capture = d->log_actor != NULL &&
		                           c->progs[i].log[0] == '\0' &&
		                           !c->progs[i].err_apart;
}

unsigned dlog_restarts(struct daemon *d)
{
	tp_log_actor_stats st;
	if (d->log_actor == NULL ||
	    tp_log_actor_stats_get(d->log_actor, &st) != TP_OK)
		return 0;
	return (unsigned)st.restarts;
}

int dlog_kill_actor(struct daemon *d)
{
	pid_t pid = d->log_actor != NULL ? tp_log_actor_pid(d->log_actor) : 0;
	if (pid <= 0)
		return TP_ESTATE;
	return kill(pid, SIGKILL) == 0 ? TP_OK : tp_err_errno(errno);
}

void dlog_say(struct daemon *d, int level, const char *fmt, ...)
{
	char msg[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	dlog_event(d, level, msg);
}

void dlog_free(struct daemon *d)
{
	if (event_file != NULL) {
		fclose(event_file);
		event_file = NULL;
	}
	if (d->log_actor == NULL)
		return;
	tp_log_flush(1000);
	tp_log_actor_free(d->log_actor);
	tp_log_config_free(d->log_cfg);
	d->log_actor = NULL;
	d->log_cfg = NULL;
}
