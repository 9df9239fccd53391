/*
 * cli.h - internal declarations of the troupe command (daemon and CLI).
 */
#ifndef TP_CLI_H
#define TP_CLI_H

#include <pthread.h>
#include <stddef.h>

#include "troupe.pb-c.h"
#include "troupe/troupe.h"

#define CFG_MAX_PROGS  128
#define CFG_MAX_GROUPS 32

struct cfg_group {
	char name[64];
	char parent[64]; /* "" : the root */
	tp_sup_flags flags;
	tp_restart restart;
	int line;
};

struct cfg_prog {
	char name[64];
	char group[64];
	char command[1024];
	char *argv[64]; /* points into argv_buf */
	char argv_buf[1024];
	char *env[32];
	char env_buf[1024];
	char envraw[1024];
	char actor[256]; /* actor = URL: its TROUPE_ACTOR_ADDR */
	char actor_env[300];
	char directory[256];
	char log[256];
	tp_child_spec spec; /* argv/env/cwd/log point into this struct */
	int line;
};

struct cfg {
	char path[512];
	tp_sup_flags root;
	char socket[256];
	char http[128];    /* "host:port" for /metrics, or "" */
	char logfile[256]; /* the logging actor's file, "" for the default */
	int loglevel;      /* its level, 0 for INFO */
	struct cfg_group groups[CFG_MAX_GROUPS];
	int ngroups;
	struct cfg_prog progs[CFG_MAX_PROGS];
	int nprogs;
};

/*
 * cfg_load parses path into *c (zeroed first). On error it writes
 * "FILE:LINE: message" into err and returns non-zero; nothing is started.
 */
int cfg_load(const char *path, struct cfg *c, char *err, size_t errlen);

/* Finds a program or group by name, NULL if none. */
struct cfg_prog *cfg_prog(struct cfg *c, const char *name);
struct cfg_group *cfg_group(struct cfg *c, const char *name);

/* signame.c: parses a signal name ("TERM", "sigterm", "RTMIN+2", "15");
 * 0 if unknown. cli_signame writes "SIGTERM" (or "SIGRTMIN+2") in buf. */
int cli_signal(const char *name);
const char *cli_signame(int sig, char *buf, size_t len);

/* The default control socket path: $TROUPE_SOCKET, else the runtime base
 * ($XDG_RUNTIME_DIR/troupe or /tmp/troupe-UID) + "/troupe.sock". */
void cli_default_socket(char *buf, size_t len);

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
	tp_log_config *log_cfg;
	unsigned log_restarts; /* times the actor was restarted */
	void *ctl;             /* ctl.c state */
	void *http;            /* metrics.c state */
};

/* Builds the tree of c under a new root (not started). */
int daemon_build(struct cfg *c, tp_sup **out);

/* Finds the supervisor owning the child name (walks the tree). */
tp_sup *daemon_owner(struct daemon *d, const char *name);

/* reload.c: re-reads the config; message describes what changed. */
int daemon_reload(struct daemon *d, char *msg, size_t len);

/* daemon_log.c: the daemon's logging actor. dlog_start starts it (after
 * tp_init); dlog_apply marks every program of c for capture when it runs;
 * dlog_watch restarts it if it died (main loop); dlog_stop_actor stops it
 * (the control command "log-stop", for tests); dlog_say logs a daemon
 * message (stderr without the actor); dlog_free stops and frees it. */
int dlog_start(struct daemon *d, int foreground_fd);
void dlog_apply(struct daemon *d, struct cfg *c);
void dlog_watch(struct daemon *d);
int dlog_stop_actor(struct daemon *d);
void dlog_say(struct daemon *d, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void dlog_free(struct daemon *d);

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

/* Renders the tree as Prometheus text into a malloc'ed string. */
char *metrics_text(struct daemon *d);

#endif
