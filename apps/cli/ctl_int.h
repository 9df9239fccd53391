/*
 * ctl_int.h - the control socket's internals shared by ctl.c (the server),
 * ctl_io.c (frames, the client) and ctl_cmd.c (what each request does).
 */
#ifndef TP_CLI_CTL_INT_H
#define TP_CLI_CTL_INT_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "troupe.pb-c.h"

/* The server, its frames and limits are the framework's (rt/ctlsrv.c). */
#define CTL_MAX_MSG   TP_CTL_MAX_MSG
#define CTL_MAX_REQ   TP_CTL_MAX_REQ
#define CTL_MAX_CONNS TP_CTL_MAX_CONNS
#define CTL_READ_MS   TP_CTL_READ_MS
#define CTL_WRITE_MS  TP_CTL_WRITE_MS
#define CTL_WORKERS   4

int64_t ctl_now_ms(void);

/* Packs env as one frame ([u32 LE length][bytes]) into a malloc'ed buffer.
 * Errors: TP_ETOOBIG (over CTL_MAX_MSG), TP_ENOMEM. */
int ctl_frame_pack(const Troupe__Envelope *env, unsigned char **out,
                   size_t *len);

#define ctl_frame_len tp__ctl_frame_len

/* Connects to the control socket at path: the fd, or -TP_ENOENT when no
 * daemon listens there, -TP_EINVAL for a path too long, -(TP_ESYSERR|e). */
int ctl_connect(const char *path);

/* ctl_names.c: the names a request resolves to (GROUP:NAME, GROUP:*,
 * all), in tree order, each once. A group is itself (CTL_CHILDREN: stop,
 * restart, status), every program below it (CTL_PROCS: signal, pid,
 * logs, clear) or itself and everything below it (CTL_NODES: start). An unknown
 * name is said in rep (TP_ENOENT, one line each) and returned as TP_ENOENT; the
 * known ones are still listed. */
struct ctl_targets {
	char (*v)[64];
	int n, cap;
	int wild; /* all or GROUP:* was used */
};
enum { CTL_CHILDREN, CTL_PROCS, CTL_NODES };
struct daemon;
int ctl_resolve(struct daemon *d, char **pats, size_t n, int mode,
                struct ctl_targets *out, Troupe__SupReply *rep);
int ctl_targets_has(const struct ctl_targets *t, const char *name);
void ctl_targets_free(struct ctl_targets *t);

/* ctl_cmd.c: appends "fmt..." and a newline to rep->message; a code
 * other than TP_OK becomes rep->code unless one is set already. */
void ctl_say(Troupe__SupReply *rep, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ctl_cmd.c: serves one request of peer (its SO_PEERCRED); what changes
 * the tree is logged with the peer's uid and pid. */
#define ctl_peer tp__ctl_peer /* pid, uid */
void ctl_handle(struct daemon *d, const Troupe__SupRequest *req,
                Troupe__SupReply *rep, const struct ctl_peer *peer);
void ctl_reply_free(Troupe__SupReply *rep);
/* Frees rep's children but not the array. */
void ctl_reply_free_children(Troupe__SupReply *rep);

/* ctl_config.c: `reread` (what reload would change, changing nothing),
 * `avail` (every program of the file on disk, in use or not), and
 * `clear` (empties the log files of programs that have their own). */
void ctl_config_cmd(struct daemon *d, const char *cmd, Troupe__SupReply *rep);
void ctl_clear(struct daemon *d, const Troupe__SupRequest *req,
               Troupe__SupReply *rep);
extern int ctl_shutdown_requested;

#endif
