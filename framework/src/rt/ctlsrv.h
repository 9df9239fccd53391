/*
 * ctlsrv.h - internal: the control socket server (ctlsrv.c) shared by the
 * troupe daemon (apps/cli) and, later, every program's root supervisor:
 * a Unix stream socket, mode 0600, one request frame in, one reply frame
 * out ([u32 little-endian length][Envelope] each), the peer's uid checked
 * with SO_PEERCRED. What a request does is the owner's handler. Declared
 * for the CLI in internal.h too (init.c checks they agree).
 */
#ifndef TP_CTLSRV_H
#define TP_CTLSRV_H

#include <stddef.h>
#include <stdint.h>

#include "troupe.pb-c.h"

#define TP_CTL_MAX_MSG   (16 * 1024 * 1024) /* a reply (a big tree) */
#define TP_CTL_MAX_REQ   (64 * 1024)        /* a request */
#define TP_CTL_MAX_CONNS 64   /* connections still sending their request */
#define TP_CTL_MAX_QUEUE 64   /* requests read, waiting for a worker */
#define TP_CTL_READ_MS   5000 /* a request must arrive within this */
#define TP_CTL_WRITE_MS  5000 /* a reply must be taken within this */
#define TP_CTL_PAUSE_MS  100  /* out of fds: accept again after this */

/* The peer of a connection (SO_PEERCRED). */
struct tp__ctl_peer {
	int pid;
	unsigned uid;
};

struct tp__ctl_later;

struct tp__ctlsrv_ops {
	/* Fills rep for req; called on a worker thread (or the loop thread
	 * with workers == 0). Only peers of this uid (or root) get here. */
	void (*handle)(void *arg, const Troupe__SupRequest *req,
	               Troupe__SupReply *rep, const struct tp__ctl_peer *peer);
	/* Frees what handle put in rep (not rep itself). */
	void (*reply_free)(Troupe__SupReply *rep);
	/* Optional: called after each reply was written. */
	void (*after_reply)(void *arg);
	/* Optional, with workers == 0: takes a request whose reply comes
	 * later (a program's stop, waiting out a child's shutdown time,
	 * must not hold up the other peers) and returns 1; the owner then
	 * calls tp__ctlsrv_reply_later(later, ...) exactly once, from any
	 * thread. Returns 0 to leave the request to handle. Called on the
	 * loop thread; req is valid only during the call. */
	int (*take)(void *arg, const Troupe__SupRequest *req,
	            const struct tp__ctl_peer *peer,
	            struct tp__ctl_later *later);
	void *arg;
	int workers;        /* threads serving requests; 0: the loop thread
	                       serves them (each reply bounded by its write
	                       deadline) */
	const char *sender; /* the replies' Envelope sender */
	const char *denied; /* the message a peer of another uid gets */
};

struct tp__ctlsrv;

/* Listens at path (0600) and starts the loop and workers. The ops are
 * copied (their strings must outlive the server). Errors: TP_EINVAL (path
 * too long), TP_ENOMEM, wrapped system errors (bind: TP_ESYSERR|EADDRINUSE
 * when a socket file is there). */
int tp__ctlsrv_start(struct tp__ctlsrv **out, const char *path,
                     const struct tp__ctlsrv_ops *ops);

/* Stops the threads, drops pending peers and removes the socket file if
 * it is still the one made by start. NULL is allowed. */
void tp__ctlsrv_stop(struct tp__ctlsrv *s);

/* The reply of a request ops.take took: rep (its fields freed with
 * ops.reply_free, not rep itself) is written to the peer by the loop, as
 * the peer takes it. later is freed. From any thread; after
 * tp__ctlsrv_stop (or once the peer was dropped) the reply is dropped,
 * and the server's memory goes with the last such reply. */
void tp__ctlsrv_reply_later(struct tp__ctl_later *later, Troupe__SupReply *rep);

/* Packs env as one frame into a malloc'ed buffer. Errors: TP_ETOOBIG
 * (over max), TP_ENOMEM. */
int tp__ctl_frame_pack(const Troupe__Envelope *env, size_t max,
                       unsigned char **out, size_t *len);

/* The length of a frame from its 4-byte header. */
uint32_t tp__ctl_frame_len(const unsigned char h[4]);

/* Writes (reads) all of buf on a non-blocking-capable socket by the
 * deadline (tp__now_ms clock). Errors: TP_ETIMEDOUT, TP_ECLOSED,
 * TP_ESYSERR|errno. */
int tp__ctl_write_all(int fd, const void *buf, size_t len, int64_t deadline);
int tp__ctl_read_all(int fd, void *buf, size_t len, int64_t deadline);

#endif
