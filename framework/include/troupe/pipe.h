/*
 * troupe/pipe.h - multiprocessing.Pipe: a pair of connected ends.
 *
 * tp_pipe_new makes two connection ends joined by an nng pair1 socket pair
 * over ipc. An end is an address and a role until a process first uses it:
 * then it is "materialized" there (end 0 listens, end 1 dials). So an end
 * can be handed to any child (tp_payload_add_conn), and the child opens it
 * itself; use each end in one process only.
 *
 *   tp_conn *parent, *child;
 *   tp_pipe_new(&parent, &child, 1);
 *   ... pass child to a process with tp_payload_add_conn ...
 *   tp_conn_send(parent, msg);
 *   tp_conn_recv(parent, &reply, -1);
 *   tp_conn_free(parent);
 *
 * Messages are payloads (tp_conn_send / tp_conn_recv) or raw bytes
 * (tp_conn_send_bytes / tp_conn_recv_bytes). A message received whole is
 * never split or merged. When one end is closed (or its process dies) the
 * other end first receives everything that was already delivered to it,
 * then gets TP_ECLOSED: it never hangs.
 *
 * nng and fork: materializing an end starts nng in the calling process;
 * from then on that process can only start children with the fork server
 * or spawn methods (see docs/process.md).
 *
 * Timeouts are in milliseconds; -1 waits forever, 0 does not block.
 * A tp_conn is not thread-safe: use an end from one thread at a time.
 */
#ifndef TROUPE_PIPE_H
#define TROUPE_PIPE_H

#include <stddef.h>
#include <stdint.h>

#include "troupe/payload.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tp_conn tp_conn;

/* How long tp_conn_close waits for the peer to read up to its FIN. */
#define TP_CONN_LINGER_MS 2000

/*
 * tp_pipe_new makes a pipe. With duplex != 0 both ends send and receive.
 * With duplex == 0 (Python's Pipe(duplex=False)) *a is the read end and *b
 * the write end. Nothing is opened yet (see above).
 * Errors: TP_EINVAL, TP_ENOTINIT, TP_ENOMEM, TP_ETOOBIG (runtime path too
 * long for a socket).
 */
int tp_pipe_new(tp_conn **a, tp_conn **b, int duplex);

/*
 * tp_conn_close closes the end: the peer gets TP_ECLOSED once it has read
 * everything sent before the close; later calls on c give TP_ECLOSED.
 * Closing twice is allowed. Because nng drops bytes a peer had not yet
 * read when a connection goes away, close sends a FIN after the data and
 * waits for the peer's ACK (its recv sends it on reaching the FIN), up to
 * TP_CONN_LINGER_MS (not at all if nothing was sent or connected). When the
 * peer end is open in this process close does not wait (the peer may be
 * this thread): the FIN is queued and the end's connection is kept, out
 * of sight, until the peer end closes too, so nothing sent is lost (a
 * freed end's memory is released then as well); the peer's sends give
 * TP_ECLOSED from then on. To keep clear of a close
 * hang in nng 1.5.2, a closing end may also wait up to about 100 ms for
 * nng's reconnect attempts to finish, and the end that received the
 * peer's FIN waits (bounded by TP_CONN_LINGER_MS) for the peer to drop
 * the connection first.
 * Errors: TP_EINVAL; TP_ETIMEDOUT when the peer did not read up to the FIN
 * in time (messages may be lost: the loss is reported, not silent); the
 * end is closed in every case.
 */
int tp_conn_close(tp_conn *c);

/* tp_conn_free closes c if needed and frees it. NULL is allowed. */
void tp_conn_free(tp_conn *c);

/* tp_conn_readable / tp_conn_writable: 1 if the end may recv / send. */
int tp_conn_readable(const tp_conn *c);
int tp_conn_writable(const tp_conn *c);

/*
 * tp_conn_send sends a copy of p. Up to 128 messages are buffered; beyond
 * that it blocks until the peer reads (Python's send blocks when the OS
 * pipe is full). A peer that goes away wakes it with TP_ECLOSED.
 * Errors: TP_EINVAL, TP_EPERM (a read-only end), TP_ECLOSED (this end or
 * the peer is closed), TP_ETOOBIG (encoded larger than TP_MAX_MSG_DEFAULT),
 * TP_ENOMEM, wrapped nng errors.
 */
int tp_conn_send(tp_conn *c, const tp_payload *p);

/* tp_conn_send_bytes sends len raw bytes as one message; errors as send. */
int tp_conn_send_bytes(tp_conn *c, const void *buf, size_t len);

/*
 * tp_conn_recv waits up to timeout_ms for the next message and returns it
 * as a new payload in *out (free with tp_payload_free). A message sent
 * with send_bytes arrives as a payload of one bytes value.
 * Errors: TP_EINVAL, TP_EPERM (a write-only end), TP_ETIMEDOUT,
 * TP_ECLOSED (closed end, or peer closed and nothing left), TP_EDECODE (a
 * malformed message: dropped and counted; the end stays usable).
 */
int tp_conn_recv(tp_conn *c, tp_payload **out, int timeout_ms);

/*
 * tp_conn_recv_bytes receives the next message's bytes into buf (maxlen
 * bytes) and stores their number in *len. A message sent with tp_conn_send
 * gives its encoded payload bytes. A message longer than maxlen gives
 * TP_ETOOBIG with *len set to its length, and stays queued: the next recv
 * (with a large enough buffer) returns it. (Python raises OSError and
 * drops it; keeping it loses nothing.) Other errors as tp_conn_recv.
 */
int tp_conn_recv_bytes(tp_conn *c, void *buf, size_t maxlen, size_t *len,
                       int timeout_ms);

/*
 * tp_conn_poll waits up to timeout_ms until a recv would not block: a
 * message is ready (TP_OK) or the peer is gone (TP_OK too; recv then gives
 * TP_ECLOSED, as Python's poll returns True at EOF). Errors: TP_ETIMEDOUT,
 * TP_EINVAL, TP_EPERM (write-only end), TP_ECLOSED (this end closed).
 */
int tp_conn_poll(tp_conn *c, int timeout_ms);

/*
 * tp_conn_fd stores a file descriptor (owned by c) that is readable while
 * a message is waiting, for poll() or tp_wait(). It does not signal the
 * peer's close: after a poll() timeout call tp_conn_poll(c, 0).
 * Errors: TP_EINVAL, TP_EPERM (write-only end), TP_ECLOSED, nng errors.
 */
int tp_conn_fd(tp_conn *c, int *fd);

/* tp_conn_rejected returns how many malformed messages c dropped. */
uint64_t tp_conn_rejected(const tp_conn *c);

/*
 * tp_payload_add_conn appends a reference to end c (its address and role)
 * to p so it can be passed to any process of the run; c itself must then
 * not be used in this process. tp_payload_get_conn makes a new end from
 * value i (free with tp_conn_free).
 * Errors: TP_EINVAL, TP_ENOMEM, TP_ESTATE (add: c was already opened in
 * this process); get: TP_ENOENT, TP_ETYPE (not a pipe end), TP_EDECODE.
 */
int tp_payload_add_conn(tp_payload *p, const tp_conn *c);
int tp_payload_get_conn(const tp_payload *p, size_t i, tp_conn **out);

#ifdef __cplusplus
}
#endif
#endif
