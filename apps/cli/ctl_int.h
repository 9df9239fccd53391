/*
 * ctl_int.h - the control socket's internals shared by ctl.c (the server),
 * ctl_io.c (frames, the client) and ctl_cmd.c (what each request does).
 */
#ifndef TP_CLI_CTL_INT_H
#define TP_CLI_CTL_INT_H

#include <stddef.h>
#include <stdint.h>

#include "troupe.pb-c.h"

#define CTL_MAX_MSG   (16 * 1024 * 1024) /* a reply (status of a big tree) */
#define CTL_MAX_REQ   (64 * 1024)        /* a request: a command and names */
#define CTL_MAX_CONNS 64   /* connections still sending their request */
#define CTL_MAX_QUEUE 64   /* requests read, waiting for a worker */
#define CTL_READ_MS   3000 /* a request must arrive within this */
#define CTL_WRITE_MS  5000 /* a reply must be taken within this */
#define CTL_WORKERS   4

int64_t ctl_now_ms(void);

/* Packs env as one frame ([u32 LE length][bytes]) into a malloc'ed buffer.
 * Errors: TP_ETOOBIG (over CTL_MAX_MSG), TP_ENOMEM. */
int ctl_frame_pack(const Troupe__Envelope *env, unsigned char **out,
                   size_t *len);

/* The length of a frame from its 4-byte header. */
uint32_t ctl_frame_len(const unsigned char h[4]);

/* Writes all of buf to a socket by the deadline (ctl_now_ms() clock).
 * Errors: TP_ETIMEDOUT, TP_ECLOSED, TP_ESYSERR|errno. */
int ctl_write_all(int fd, const void *buf, size_t len, int64_t deadline);

/* Connects to the control socket at path: the fd, or -TP_ENOENT when no
 * daemon listens there, -TP_EINVAL for a path too long, -(TP_ESYSERR|e). */
int ctl_connect(const char *path);

/* ctl_cmd.c */
struct daemon;
void ctl_handle(struct daemon *d, const Troupe__SupRequest *req,
                Troupe__SupReply *rep);
void ctl_reply_free(Troupe__SupReply *rep);
extern int ctl_shutdown_requested;

#endif
