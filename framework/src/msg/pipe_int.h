/* pipe_int.h - internal: a pipe end, shared by pipe.c, pipe_io.c,
 * pipe_share.c and pipe_handle.c (and tests/test_pipe*.c). */
#ifndef TP_PIPE_INT_H
#define TP_PIPE_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "spin.h"
#include "troupe/pipe.h"

#define TP_CONN_OPEN   1
#define TP_CONN_CLOSED 2
#define TP_CONN_SENT   3 /* moved into a payload (pipe_share.c) */

/*
 * Wire format: SOCK_SEQPACKET packets of at most TP_PKT_MAX bytes. A
 * message starts with a packet [tag][u32 LE body length][body...]; a body
 * longer than the first packet holds continues in packets ['C'][body...].
 */
#define TP_PKT_MAX      65536
#define TP_PKT_HDR      5
#define TP_TAG_PAYLOAD  'P'
#define TP_TAG_BYTES    'B'
#define TP_TAG_CONTINUE 'C'
/* Largest body: the tag counts towards TP_MAX_MSG_DEFAULT, as before. */
#define TP_BODY_MAX (TP_MAX_MSG_DEFAULT - 1)

struct tp_conn {
	int fd; /* the socket; -1 once closed or sent */
	int state;
	int readable, writable;
	int eof; /* the peer closed and everything was read */
	uint64_t rejected;
	struct tp__spin spin; /* waits for input spin first (rt/spin.h) */
	/* a whole message received and not yet handed out */
	int have;
	int tag;
	const unsigned char *body;
	size_t len;
	/* a message arriving in several packets */
	int assembling; /* 1 while packets are missing */
	int skipping;   /* dropping the continuations of a rejected one */
	unsigned char *big;
	size_t big_len, big_got;
	unsigned char *rbuf; /* one packet (TP_PKT_MAX) */
	unsigned char *sbuf; /* one packet for sends */
};

/* Makes an end around fd (taken over). */
int tp__conn_wrap(int fd, int readable, int writable, tp_conn **out);

/* Whether c holds input not yet handed out (a message or part of one). */
int tp__conn_buffered(const tp_conn *c);

/*
 * The fd sharer (pipe_share.c): tp__share_put keeps fd for another
 * process of this host and returns its token and the socket it is served
 * on; tp__share_get fetches it (from this process's own table when pid is
 * this process). Errors of get: TP_EALREADY (taken already), TP_ECLOSED
 * (the owner is gone), TP_EPERM (another user), TP_ETIMEDOUT, TP_EPROTO.
 */
int tp__share_put(int fd, uint64_t *token, const char **path);
int tp__share_unput(uint64_t token); /* takes it back: TP_OK, TP_ENOENT */
int tp__share_get(const char *path, pid_t pid, uint64_t token, int *fd);

/* This boot's id (/proc/sys/kernel/random/boot_id), "" if unknown. */
const char *tp__boot_id(void);

#endif
