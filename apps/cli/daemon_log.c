/*
 * daemon_log.c - the daemon's logging actor (troupe/log.h, issue 8).
 *
 * The daemon runs one logging actor, the only writer of
 * <runtime dir>/log/troupe.log (or the [supervisor] `logfile`), rotated at
 * 10 MiB with 5 backups. Its own events (started, ready, exited - a crash
 * report when the exit is not 0 - restarting, failed) are records of the
 * process "troupe"; every program's stdout and stderr are captured as
 * records of that program (tp_child_spec.capture). The main thread watches
 * the actor's sentinel every 200 ms and restarts a dead actor on the same
 * address (senders reconnect and report what they lost); restarts are
 * counted for `troupe status --json`.
 *
 * If the actor cannot start, the daemon says so once and falls back to
 * the per-program files <runtime dir>/log/<id>.log and a plain event file.
 */
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define LOG_MAX_BYTES (10u << 20)
#define LOG_BACKUPS   5

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static int log_foreground_fd = -1; /* stderr copy for foreground events */

int dlog_start(struct daemon *d, int foreground_fd)
{
	char dir[300];
	tp_log_config *c = NULL;
	int rv;
	snprintf(dir, sizeof(dir), "%s/log", tp_runtime_dir());
	mkdir(dir, 0700);
	if (d->cfg->logfile[0])
		snprintf(d->log_path, sizeof(d->log_path), "%s",
		         d->cfg->logfile);
	else
		snprintf(d->log_path, sizeof(d->log_path), "%s/troupe.log",
		         dir);
	if ((rv = tp_log_config_new(&c, "troupe")) != TP_OK ||
	    (rv = tp_log_config_set_name(c, "troupe")) != TP_OK ||
	    (rv = tp_log_config_set_console(c, 0, TP_LOG_COLOUR_NEVER)) !=
	        TP_OK ||
	    (rv = tp_log_config_set_file(c, d->log_path, LOG_MAX_BYTES,
	                                 LOG_BACKUPS)) != TP_OK ||
	    (d->cfg->loglevel > 0 &&
	     (rv = tp_log_config_set_level(c, d->cfg->loglevel)) != TP_OK) ||
	    (rv = tp_log_actor_start(c, &d->log_actor)) != TP_OK) {
		tp_log_config_free(c);
		d->log_actor = NULL;
		snprintf(d->log_path, sizeof(d->log_path), "%s/troupe.log",
		         dir);
		return rv;
	}
	d->log_cfg = c;
	log_foreground_fd = foreground_fd;
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

void dlog_watch(struct daemon *d)
{
	if (d->log_actor == NULL)
		return;
	pthread_mutex_lock(&log_mu);
	struct pollfd p = {tp_log_actor_sentinel(d->log_actor), POLLIN, 0};
	if (poll(&p, 1, 0) == 1 && !tp_log_actor_alive(d->log_actor)) {
		int why = tp_log_actor_error(d->log_actor);
		int rv = tp_log_actor_restart(d->log_actor);
		if (rv == TP_OK) {
			__atomic_add_fetch(&d->log_restarts, 1,
			                   __ATOMIC_RELAXED);
			tp_log_warning("logging actor restarted (it stopped: "
			               "%s)",
			               why ? tp_strerror(why) : "stopped");
		}
	}
	pthread_mutex_unlock(&log_mu);
}

int dlog_stop_actor(struct daemon *d)
{
	if (d->log_actor == NULL)
		return TP_ESTATE;
	pthread_mutex_lock(&log_mu);
	int rv = tp_log_actor_stop(d->log_actor);
	pthread_mutex_unlock(&log_mu);
	return rv;
}

void dlog_say(struct daemon *d, int level, const char *fmt, ...)
{
	char msg[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (d == NULL || d->log_actor == NULL) {
		fprintf(stderr, "troupe: %s\n", msg);
		return;
	}
	tp_log_record(level, NULL, 0, msg, strlen(msg));
	if (log_foreground_fd >= 0) {
		char line[640];
		int n = snprintf(line, sizeof(line), "troupe: %s\n", msg);
		(void)!write(log_foreground_fd, line, (size_t)n);
	}
}

void dlog_free(struct daemon *d)
{
	if (d->log_actor == NULL)
		return;
	tp_log_flush(1000);
	tp_log_actor_free(d->log_actor);
	tp_log_config_free(d->log_cfg);
	d->log_actor = NULL;
	d->log_cfg = NULL;
}
