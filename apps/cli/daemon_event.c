/*
 * daemon_event.c - the tree's events as one honest line each, named by the
 * program's group path ("outer/inner:prog", or "prog" at the root).
 *
 *   requested stop     INFO     "web:w_00 stopped by SIGTERM (pid 12)"
 *   stop escalated     WARNING  "... did not stop within 5000 ms of
 *                               SIGTERM: killed with SIGKILL (pid 12)"
 *   crash              ERROR    "crashed: killed by SIGSEGV (Segmentation
 *                               fault) (pid 12), restarts 3: crash report"
 *   failed start       ERROR    "could not start '/bin/x': No such file"
 *
 * Each goes to the logging actor as a record of "troupe" (or to the event
 * file without it) and, in the foreground, to stderr (daemon_log.c).
 * Every started program is also given to the reaper (reaper.c), so that no
 * program outlives a daemon killed with SIGKILL.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Groups cannot change while the daemon runs (reload refuses it): their
 * parents are copied once, so the loop thread never reads a config that
 * a reload is replacing. */
static struct {
	char name[64], parent[64];
} groups[CFG_MAX_GROUPS];
static int ngroups;
static char last_failure[700];
static pthread_mutex_t fail_mu = PTHREAD_MUTEX_INITIALIZER;

void devent_groups(const struct cfg *c)
{
	ngroups = c->ngroups;
	for (int i = 0; i < c->ngroups; i++) {
		snprintf(groups[i].name, sizeof(groups[i].name), "%s",
		         c->groups[i].name);
		snprintf(groups[i].parent, sizeof(groups[i].parent), "%s",
		         c->groups[i].parent);
	}
}

/* "outer/inner:" for a supervisor id, "" for the root. */
static void group_path(const char *sup, char *out, size_t len)
{
	char chain[8][64];
	int n = 0;
	out[0] = '\0';
	while (sup != NULL && sup[0] && n < 8) {
		snprintf(chain[n++], sizeof(chain[0]), "%s", sup);
		const char *up = NULL;
		for (int i = 0; i < ngroups; i++)
			if (strcmp(groups[i].name, sup) == 0)
				up = groups[i].parent;
		sup = up;
	}
	size_t k = 0;
	for (int i = n - 1; i >= 0; i--) {
		int w =
		    snprintf(out + k, len - k, "%s%s", chain[i], i ? "/" : ":");
		if (w < 0 || (size_t)w >= len - k)
			break;
		k += (size_t)w;
	}
}

static void command(char *const *argv, char *out, size_t len)
{
	size_t k = 0;
	out[0] = '\0';
	for (int i = 0; argv != NULL && argv[i] != NULL; i++) {
		int w =
		    snprintf(out + k, len - k, "%s%s", i ? " " : "", argv[i]);
		if (w < 0 || (size_t)w >= len - k)
			break;
		k += (size_t)w;
	}
}

static int exited(const tp_sup_event *ev, const char *who, char *msg,
                  size_t len)
{
	char s1[32], s2[32];
	int code = ev->exit_code, pid = (int)ev->pid;
	if (ev->requested && ev->killed) {
		snprintf(msg, len,
		         "%s did not stop in time after %s: killed with "
		         "SIGKILL (pid %d)",
		         who, cli_signame(ev->stop_signal, s1, sizeof(s1)),
		         pid);
		return TP_LOG_WARNING;
	}
	if (ev->requested && code < 0) {
		snprintf(msg, len, "%s stopped by %s (pid %d)", who,
		         cli_signame(-code, s1, sizeof(s1)), pid);
		return TP_LOG_INFO;
	}
	if (ev->requested) {
		snprintf(msg, len,
		         "%s stopped (pid %d): exit status %d after %s", who,
		         pid, code,
		         cli_signame(ev->stop_signal, s1, sizeof(s1)));
		return TP_LOG_INFO;
	}
	if (ev->killed || code == -SIGKILL) {
		snprintf(msg, len, "%s killed by SIGKILL (pid %d)%s", who, pid,
		         ev->killed ? ": it missed its ready deadline" : "");
		return TP_LOG_ERROR;
	}
	if (code < 0) {
		const char *d = sigdescr_np(-code);
		snprintf(msg, len,
		         "%s crashed: killed by %s (%s) (pid %d); crash "
		         "report: program %s, signal %d, pid %d",
		         who, cli_signame(-code, s1, sizeof(s1)), d ? d : "?",
		         pid, who, -code, pid);
		(void)s2;
		return TP_LOG_ERROR;
	}
	snprintf(msg, len, "%s exited with status %d (pid %d)", who, code, pid);
	return code == 0 ? TP_LOG_INFO : TP_LOG_WARNING;
}

/* The message of one event and its level. */
static int describe(const tp_sup_event *ev, char *msg, size_t len)
{
	char who[200], path[160], cmd[300];
	group_path(ev->sup_id, path, sizeof(path));
	snprintf(who, sizeof(who), "%s%s", path, ev->id);
	switch (ev->kind) {
	case TP_EV_STARTED:
		snprintf(msg, len, "%s started (pid %d)", who, (int)ev->pid);
		return TP_LOG_INFO;
	case TP_EV_READY:
		if (ev->pid > 0)
			snprintf(msg, len, "%s ready (pid %d)", who,
			         (int)ev->pid);
		else
			snprintf(msg, len, "group %s%s is up", path, ev->id);
		return TP_LOG_INFO;
	case TP_EV_EXITED:
		return exited(ev, who, msg, len);
	case TP_EV_RESTART:
		snprintf(msg, len, "%s restarting", who);
		return TP_LOG_INFO;
	case TP_EV_ESCALATE:
		snprintf(msg, len,
		         "%s failed: restart intensity exceeded; stopping "
		         "its programs",
		         ev->sup_id[0] ? ev->sup_id : "the root supervisor");
		return TP_LOG_ERROR;
	case TP_EV_START_FAILED:
		command(ev->argv, cmd, sizeof(cmd));
		snprintf(msg, len, "%s could not start '%s': %s", who, cmd,
		         tp_strerror(ev->error));
		return TP_LOG_ERROR;
	case TP_EV_AUTO_SHUTDOWN:
		snprintf(msg, len,
		         "%s ended and is significant: %s shuts down "
		         "(auto_shutdown)",
		         who, ev->sup_id[0] ? ev->sup_id : "the daemon");
		return TP_LOG_INFO;
	case TP_EV_BACKOFF:
		snprintf(msg, len, "%s restarts in %.1f s (backoff)", who,
		         ev->delay_ms / 1000.0);
		return TP_LOG_INFO;
	case TP_EV_GAVE_UP:
		snprintf(msg, len,
		         "%s gave up after %d failed starts in a row "
		         "(startretries); it stays stopped",
		         who, ev->exit_code);
		return TP_LOG_ERROR;
	}
	snprintf(msg, len, "%s: event %d", who, (int)ev->kind);
	return TP_LOG_INFO;
}

void devent_on_event(void *arg, const tp_sup_event *ev)
{
	struct daemon *d = arg;
	char msg[700];
	int level = describe(ev, msg, sizeof(msg));
	metrics_on_event(ev);
	if (ev->kind == TP_EV_STARTED && ev->pid > 0)
		reaper_add(ev->pid);
	else if (ev->kind == TP_EV_EXITED && ev->pid > 0)
		reaper_del(ev->pid);
	if (ev->kind == TP_EV_START_FAILED ||
	    (ev->kind == TP_EV_EXITED && level >= TP_LOG_WARNING)) {
		pthread_mutex_lock(&fail_mu);
		snprintf(last_failure, sizeof(last_failure), "%s", msg);
		pthread_mutex_unlock(&fail_mu);
	}
	dlog_event(d, level, msg);
}

void devent_last_failure(char *buf, size_t len)
{
	pthread_mutex_lock(&fail_mu);
	snprintf(buf, len, "%s", last_failure);
	pthread_mutex_unlock(&fail_mu);
}
