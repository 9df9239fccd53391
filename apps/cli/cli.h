/*
 * cli.h - internal declarations of the troupe command (daemon and CLI).
 */
#ifndef TP_CLI_H
#define TP_CLI_H

#include <pthread.h>
#include <stddef.h>

#include "internal.h"
#include "troupe.pb-c.h"
#include "troupe/troupe.h"

#define CFG_MAX_GROUPS 128
#define CFG_MAX_PROGS  4096

struct cfg_group {
	char name[64];
	char parent[64]; /* "" : the root */
	tp_sup_flags flags;
	tp_restart restart;
	int priority;  /* supervisord's: lower starts first (default 999) */
	int order;     /* then the order of the sections in the files */
	int instances; /* simple_one_for_one: children started at start */
	int line;
	char file[512];
};

struct cfg_prog {
	char name[64];    /* the process name (process_name expanded) */
	char program[64]; /* its [program:NAME] */
	char group[64];
	int group_line; /* where `group =` was said */
	char command[4096];
	char *argv[256]; /* points into argv_buf */
	char argv_buf[4096];
	char *env[128];
	char env_buf[8192];
	char envraw[8192];
	char actor[256]; /* actor = URL: its TROUPE_ACTOR_ADDR */
	char actor_env[300];
	char directory[1024];
	char log[1024];     /* stdout (and stderr) file; "" captured */
	char err_log[1024]; /* stderr apart (redirect_stderr = false) */
	int err_apart;      /* 1: err_log is used */
	char user[64];
	int priority;
	int order;
	tp_child_spec spec; /* argv/env/cwd/log point into this struct */
	int line;
	char file[512];
};

struct cfg {
	char path[512];
	tp_sup_flags root;
	char socket[256];
	int socket_line;    /* where socket was set (0: not in the file) */
	char http[128];     /* "host:port" for /metrics, or "" */
	char logfile[1024]; /* the daemon's log file, "" for the default */
	uint64_t log_max_bytes;
	unsigned log_backups;
	int loglevel; /* its level, 0 for INFO */
	char pidfile[1024];
	char progs_env[4096]; /* [supervisord] environment, for every program */
	char notes[2048];     /* keys accepted and not used, said at start */
	struct cfg_group groups[CFG_MAX_GROUPS];
	int ngroups;
	struct cfg_prog *progs;
	int nprogs, cap;
};

/*
 * cfg_load parses path (and what it includes) into *c (zeroed first). On
 * error it writes every problem found, one "FILE:LINE: message" a line,
 * into err and returns non-zero; nothing is started. c must be freed with
 * cfg_free either way.
 */
int cfg_load(const char *path, struct cfg *c, char *err, size_t errlen);
/* Frees what c holds and c itself (calloc'ed by the caller); NULL ok. */
void cfg_free(struct cfg *c);

/* The daemon's log file when the config names none:
 * $XDG_STATE_HOME/troupe/NAME.log (~/.local/state), or as root without
 * XDG_STATE_HOME /var/log/troupe/NAME.log; NAME is the config file's name
 * without its extension. It outlives the daemon: `troupe logs -c FILE`
 * can read it after the daemon is gone. */
void cfg_default_log(const struct cfg *c, char *buf, size_t len);

/* Finds a program or group by name, NULL if none. */
struct cfg_prog *cfg_prog(struct cfg *c, const char *name);
struct cfg_group *cfg_group(struct cfg *c, const char *name);

/* Signal names: the framework's (framework/src/ctl_signame.c, shared with
 * every program's control socket; declared in internal.h). */
#define cli_signal  tp__signal_parse
#define cli_signame tp__signal_name

/* The default control socket path: $TROUPE_SOCKET, else the runtime base
 * ($XDG_RUNTIME_DIR/troupe or /tmp/troupe-UID) + "/troupe.sock". */
void cli_default_socket(char *buf, size_t len);

/* Copies a program's section into dst, its pointers moved along. */
void cfg_prog_copy(struct cfg_prog *dst, const struct cfg_prog *src);

/* Which program changed between two configs (1: must be restarted). */
int cfg_prog_changed(const struct cfg_prog *a, const struct cfg_prog *b);

/* The daemon's state, shared by daemon.c, ctl.c, reload.c, metrics.c. */
struct daemon {
	struct cfg *cfg;
	tp_sup *root;
	pthread_mutex_t mu; /* serialises changes (start/stop/reload) */
	char socket[256];
	char log_path[512];      /* the actor's file (or the event file) */
	tp_log_actor *log_actor; /* NULL: per-program files (fallback) */
	int log_down; /* the root ended (failed, auto_shutdown) and stopped
	                 the actor with it: events go to log_path directly */
	tp_log_config *log_cfg;
	void *ctl;  /* ctl.c state */
	void *http; /* metrics.c state */
};

/* Gives c's [supervisord] flags to the program's root supervisor
 * (tp_sup_root) and adds c's groups and programs to it, stopped; *out is
 * the root. */
int daemon_build(struct cfg *c, tp_sup **out);

/* Finds the supervisor owning the child name (walks the tree). */
tp_sup *daemon_owner(struct daemon *d, const char *name);

/* reload.c: re-reads the config and applies it (`reload`, SIGHUP,
 * `update`); with names (n > 0; programs, groups, or all) only to those:
 * the named programs and the programs of the named groups are added,
 * removed or restarted as the file says, every other keeps running as it
 * was (and `reread` still lists its change). An unknown name (in neither
 * the file nor the tree) changes nothing (TP_ENOENT). message describes
 * what changed. */
int daemon_reload(struct daemon *d, char *const *names, size_t n, char *msg,
                  size_t len);

/* daemon_log.c: the daemon's logging actor. dlog_start starts it (after
 * tp_init); dlog_apply marks every program of c for capture when it runs;
 * the root supervisor restarts it when it dies; dlog_kill_actor kills it
 * with SIGKILL (the control command "log-stop", for tests); dlog_restarts
 * counts its restarts; dlog_say logs a daemon
 * message (stderr without the actor); dlog_free stops and frees it. */
int dlog_start(struct daemon *d);
/* Events in the foreground go to stderr too (<N> prefixes when stderr is
 * the journal); detached, they go only to the log. */
void dlog_console_open(int foreground);
/* One event line of the daemon at level (actor, event file, console). */
void dlog_event(struct daemon *d, int level, const char *msg);
void dlog_apply(struct daemon *d, struct cfg *c);
unsigned dlog_restarts(struct daemon *d);
int dlog_kill_actor(struct daemon *d);
void dlog_say(struct daemon *d, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void dlog_free(struct daemon *d);

/* daemon_event.c: the tree's events as lines (on_event of the root);
 * devent_groups copies the group parents for the names; the last failure
 * (a failed start, a crash) is kept for the "did not start" message. */
void devent_groups(const struct cfg *c);
void devent_on_event(void *arg, const tp_sup_event *ev);
void devent_last_failure(char *buf, size_t len);

/* daemon_sd.c: systemd's notify protocol (no-ops without NOTIFY_SOCKET). */
void dsd_init(void);
int dsd_period_ms(void); /* half of WATCHDOG_USEC in ms, 0: none */
void dsd_ready(const char *status);
void dsd_reloading(void);
void dsd_stopping(void);
void dsd_watchdog(void); /* WATCHDOG=1 when half the period has passed */

/* reaper.c: kills every program's process group when the daemon dies.
 * reaper_start (before any thread) first kills what a dead daemon on the
 * same socket left (returns how many groups) and forks the reaper. */
int reaper_start(const char *socket_path);
void reaper_add(pid_t pgid);
void reaper_del(pid_t pgid);
void reaper_stop(void); /* an orderly end: the reaper leaves */

/* daemon.c: `troupe supervise FILE [--detach] [--socket PATH]`. */
int cmd_supervise(int argc, char **argv);

/* ctl.c: the daemon's control server. */
struct daemon;
int ctl_start(struct daemon *d, const char *socket_path);
void ctl_stop(struct daemon *d);

/* ctl_io.c: one request/reply round trip with the daemon whose control
 * socket is socket_path, within timeout_ms; *rep must be freed with
 * tp__envelope_free. Errors: TP_ENOENT (no daemon there), TP_ETIMEDOUT,
 * TP_ECLOSED (it hung up), TP_ETOOBIG, TP_EDECODE, TP_EPROTO. */
int ctl_call(const char *socket_path, const Troupe__SupRequest *req,
             Troupe__Envelope **rep, int timeout_ms);

/* metrics.c: the opt-in Prometheus endpoint. */
int metrics_start(struct daemon *d, const char *hostport);
void metrics_stop(struct daemon *d);

/* Counts a program's exits by reason and the CPU of its ended runs. */
void metrics_on_event(const tp_sup_event *ev);
/* 1 when hostport is HOST:PORT with a loopback HOST (127.0.0.0/8 as an
 * IPv4 literal, localhost, [::1]) and a port 0-65535. */
int metrics_loopback(const char *hostport);

/* Renders the tree as Prometheus text into a malloc'ed string. */
char *metrics_text(struct daemon *d);
/* Appends printf-style text to *buf (len used, cap allocated); a family's
 * HELP and TYPE lines. */
void metrics_append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void metrics_family(char **b, size_t *len, size_t *cap, const char *name,
                    const char *type, const char *help);
/* metrics_pool.c: the pools of those programs that are troupe programs
 * themselves (asked over their own control sockets, 1 s each at most):
 * workers, busy workers, tasks submitted and completed per pool, tasks
 * done and restarts per worker. */
struct mprog {
	const char *name, *group;
	int pid;
};
void metrics_pools(char **b, size_t *len, size_t *cap, const struct mprog *p,
                   int n);

#endif
