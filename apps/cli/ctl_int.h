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

/* The names of a request (framework/src/ctl_names.c, internal.h). */
#define ctl_targets      tp__ctl_targets
#define CTL_CHILDREN     TP_CTL_CHILDREN
#define CTL_PROCS        TP_CTL_PROCS
#define CTL_NODES        TP_CTL_NODES
#define ctl_targets_has  tp__ctl_targets_has
#define ctl_targets_free tp__ctl_targets_free
#define ctl_resolve(d, pats, n, mode, out, rep)                                \
	tp__ctl_resolve((d)->root, pats, n, mode, out, rep)
#define ctl_say tp__ctl_say
struct daemon;

/* ctl_cmd.c: serves one request of peer (its SO_PEERCRED); what changes
 * the tree is logged with the peer's uid and pid. */
#define ctl_peer tp__ctl_peer /* pid, uid */
void ctl_handle(struct daemon *d, const Troupe__SupRequest *req,
                Troupe__SupReply *rep, const struct ctl_peer *peer);
void ctl_reply_free(Troupe__SupReply *rep);

/* ctl_config.c: `reread` (what reload would change, changing nothing),
 * `avail` (every program of the file on disk, in use or not), and
 * `clear` (empties the log files of programs that have their own). */
void ctl_config_cmd(struct daemon *d, const char *cmd, Troupe__SupReply *rep);
void ctl_clear(struct daemon *d, const Troupe__SupRequest *req,
               Troupe__SupReply *rep);
extern int ctl_shutdown_requested;

#endif
