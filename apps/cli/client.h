/*
 * client.h - the CLI side of `troupe` (every command but supervise):
 * parsed options, the round trip to the daemon, and the renderings.
 *
 * Exit codes: 0 success; 1 the daemon reported an error or refused the
 * caller, or (status) some child is not running; 2 bad usage or an
 * unknown name; 3 no daemon at the socket.
 */
#ifndef TP_CLI_CLIENT_H
#define TP_CLI_CLIENT_H

#include <stdio.h>

#include "troupe.pb-c.h"

struct cli_opts {
	char socket[256];
	const char *config; /* -c FILE: its daemon's socket */
	int help, json, follow, no_wait;
	int lines;       /* -n: logs' last lines (-1: all), top's screens */
	int interval_ms; /* top */
	int timeout_s;   /* shutdown's wait */
	int pid;         /* -p PID: that troupe program's own socket */
};

/* ps.c: `troupe ps`, the live troupe programs of this user. */
int cli_ps(const struct cli_opts *o);

/* ps.c: the control socket of troupe program pid (its run directory under
 * this user's runtime base) into buf. Prints why and returns 2 when there
 * is none, 1 when it belongs to another user; 0 found. */
int cli_program_socket(int pid, char *buf, size_t len);
/* The same, quiet: TP_OK, TP_ENOENT (no troupe program with that pid),
 * TP_EPERM (another user's). */
int cli_program_socket_find(int pid, char *buf, size_t len);

/* Sets o->socket from the config file o->config (its `socket =`, else
 * the default). Prints the file's error and returns 2 if it has one. */
int cli_socket_of_config(struct cli_opts *o);

/* Runs command cmd with its n operands. Returns the exit status. */
int cmd_client(const struct cli_opts *o, const char *cmd, int n, char **names);

/* One request to the daemon. Returns 0 with *env set (free it with
 * tp__envelope_free), or an exit status having printed why: 3 no daemon,
 * 1 a transport error or a refusal (another user, a malformed request),
 * and, with strict, any error reply (2 for an unknown name). */
int cli_call(const struct cli_opts *o, const char *cmd, char **names, int n,
             const char *arg, int strict, Troupe__Envelope **env);
/* Where cli_call says why (NULL: stderr); top holds its words while the
 * screen is ncurses'. */
extern FILE *cli_err;

/* render.c: status (text or --json) and tree (text or --json) of a
 * status reply. Both return the exit status. */
int cli_render_status(const struct cli_opts *o, const Troupe__SupReply *r);
int cli_render_tree(const struct cli_opts *o, const Troupe__SupReply *r);

/* "1:05", "2h03m", "-" for none. */
void cli_fmt_uptime(int64_t ms, char *buf, size_t len);

/* logs.c: `logs [-n N] [-f] [NAME...]`. */
int cli_logs(const struct cli_opts *o, int n, char **names);

/* top.c: `top [-n SCREENS] [--interval MS]`. */
int cli_top(const struct cli_opts *o);

#endif
