/* pipe_int.h - internal: a pipe end, shared by pipe.c, pipe_io.c and
 * pipe_close.c. */
#ifndef TP_PIPE_INT_H
#define TP_PIPE_INT_H

#include <stdint.h>

#include <nng/nng.h>

#include "troupe/pipe.h"

#define TP_CONN_ADDR_MAX 128
#define TP_CONN_IDLE     0
#define TP_CONN_OPEN     1
#define TP_CONN_CLOSED   2

struct tp_conn {
	char addr[TP_CONN_ADDR_MAX];
	int role; /* 0 listens, 1 dials */
	int readable, writable;
	int state;
	nng_socket sock;
	nng_aio *raio, *saio; /* blocking recv/send, cancelled when the
	                         peer goes (no per-call timers) */
	nng_msg *pending;     /* received, not yet handed out */
	int peers;            /* connected peers (atomic) */
	int ever;             /* a peer was connected once (atomic) */
	nng_duration rcv_to;  /* current NNG_OPT_RECVTIMEO */
	int peer_fin;         /* the peer closed (FIN received) */
	int peer_pid;         /* the connected peer's pid (atomic) */
	uint64_t sent;
	uint64_t rejected;
	nng_dialer dialer; /* role 1: the dialer, for reconnect times */
	int slow_redial;   /* role 1: reconnect interval made long */
	int64_t lost_ms;   /* when the last peer went (atomic) */
	/* parking (pipe_close.c), under its lock: an end closed while its
	 * peer is open in this process keeps its socket until the peer
	 * closes too */
	int parked;           /* 1 parked, 2 being closed by the peer */
	int orphan;           /* freed by the user while parked */
	int peer_parked;      /* the peer end was closed (atomic) */
	struct tp_conn *next; /* the list of open and parked ends */
};

#define TP_TAG_PAYLOAD 'P'
#define TP_TAG_BYTES   'B'
#define TP_TAG_FIN     'F'
#define TP_TAG_ACK     'A'
#define TP_TAG_MARK    'M' /* pipe_close.c: both ends in one process */

/* The closing half of the handshake: sends FIN, waits for the ACK. */
int tp__conn_linger(tp_conn *c);

/* Queues a FIN without waiting (1 when queued). */
int tp__conn_send_fin(tp_conn *c);

/* Role 1: makes nng's reconnect interval long once connected (see
 * pipe_close.c); cheap when already done. */
void tp__conn_slow_redial(tp_conn *c);

/* Lists an end just opened (pipe_close.c keeps the list). */
void tp__conn_listed(tp_conn *c);

/* Opens the end in this process if not yet done. */
int tp__conn_open(tp_conn *c);

/* 1 when a peer was connected and is gone. */
int tp__conn_peer_gone(tp_conn *c);

#endif
