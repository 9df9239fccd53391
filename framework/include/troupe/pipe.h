/*
 * troupe/pipe.h - multiprocessing.Pipe: a pair of connected ends.
 *
 * tp_pipe_new makes two connected ends: a Unix SOCK_SEQPACKET socketpair,
 * one socket per end, made at once. An end reaches another process of
 * this host in two ways:
 *  - inherited: a child forked after tp_pipe_new (TP_START_FORK, or a
 *    plain fork()) has both ends, as in Python; close the ones it does not
 *    use, or the peer will not see end of file while that copy is open;
 *  - in a payload (tp_payload_add_conn): process arguments (every start
 *    method), pool tasks, Queue items, Manager values. The socket itself
 *    travels (SCM_RIGHTS, from a server thread in the adding process, to
 *    a reader of the same user), so after the move the adding process
 *    holds no copy and end of file works.
 *
 *   tp_conn *parent, *child;
 *   tp_pipe_new(&parent, &child, 1);
 *   tp_payload_add_conn(args, child);   // child now belongs to args
 *   ... start a process with args; it calls tp_payload_get_conn ...
 *   tp_conn_send(parent, msg);
 *   tp_conn_recv(parent, &reply, -1);
 *   tp_conn_free(parent);
 *   tp_conn_free(child);                // frees the moved-out husk
 *
 * Messages are payloads (tp_conn_send / tp_conn_recv) or raw bytes
 * (tp_conn_send_bytes / tp_conn_recv_bytes); a message is never split or
 * merged. A message sent is a message received: when one end is closed,
 * freed, its process returns, exits or is killed (even right after send),
 * the other end first receives everything sent before, then TP_EOF on
 * every recv. A send is visible to the peer's tp_conn_poll, its fd and
 * tp_wait() when it returns. Closing costs no wait.
 *
 * Changed from the nng version: ends open at tp_pipe_new (not in the
 * first process that uses them); tp_payload_add_conn moves the end (it
 * was a by-address reference, so its tp_conn argument is no longer
 * const); the peer's close gives TP_EOF (was
 * TP_ECLOSED); no close handshake (TP_CONN_LINGER_MS is gone). A pipe
 * never touches nng, so a process using only pipes may still fork.
 * An end cannot leave its host: tp_payload_get_conn on another host (a
 * handle read from a remote Manager) gives TP_EPERM.
 *
 * Timeouts are in milliseconds; -1 waits forever, 0 does not block.
 * A tp_conn is not thread-safe: use an end from one thread at a time, and
 * an inherited end from one process at a time (messages over 64 KiB are
 * several packets, which concurrent writers could interleave).
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

/*
 * tp_pipe_new makes a pipe. With duplex != 0 both ends send and receive.
 * With duplex == 0 (Python's Pipe(duplex=False)) *a is the read end and *b
 * the write end. Errors: TP_EINVAL, TP_ENOTINIT, TP_ENOMEM, wrapped
 * system errors (out of file descriptors).
 */
int tp_pipe_new(tp_conn **a, tp_conn **b, int duplex);

/*
 * tp_conn_close closes the end at once (no wait): the peer receives
 * everything sent before, then TP_EOF (if no other process holds a copy
 * of this end, see above). Later calls on c give TP_ECLOSED; closing twice
 * is allowed; a message received but not yet handed out is dropped.
 * Errors: TP_EINVAL.
 */
int tp_conn_close(tp_conn *c);

/* tp_conn_free closes c if needed and frees it. NULL is allowed. */
void tp_conn_free(tp_conn *c);

/* tp_conn_readable / tp_conn_writable: 1 if the end may recv / send. */
int tp_conn_readable(const tp_conn *c);
int tp_conn_writable(const tp_conn *c);

/*
 * tp_conn_send sends a copy of p. It returns once the message is in the
 * peer's receive queue (the socket buffer, about 200 small messages or
 * 200 KiB); beyond that it blocks until the peer reads (Python's send
 * blocks when the OS pipe is full). Both ends in one thread: do not send
 * more than that buffer holds before reading. A peer that is closed or
 * goes away gives TP_ECLOSED (Python's BrokenPipeError).
 * Errors: TP_EINVAL, TP_EPERM (a read-only end), TP_ECLOSED (this end or
 * the peer is closed), TP_ESTATE (the end was moved into a payload),
 * TP_ETOOBIG (encoded larger than TP_MAX_MSG_DEFAULT - 1 bytes: nothing is
 * sent, the end stays usable), TP_ENOMEM, wrapped system errors.
 */
int tp_conn_send(tp_conn *c, const tp_payload *p);

/* tp_conn_send_bytes sends len raw bytes as one message; errors as send
 * (TP_ETOOBIG above TP_MAX_MSG_DEFAULT - 1 bytes). */
int tp_conn_send_bytes(tp_conn *c, const void *buf, size_t len);

/*
 * tp_conn_recv waits up to timeout_ms for the next message and returns it
 * as a new payload in *out (free with tp_payload_free). A message sent
 * with send_bytes arrives as a payload of one bytes value. A wait first
 * polls the socket for up to 50 us (yielding the CPU between polls), then
 * sleeps: a peer on another CPU answering within that time is seen
 * without a wake-up through the scheduler (on a virtual machine, tens of
 * microseconds). An end whose answers keep coming later spins less and
 * less often; TROUPE_SPIN_US=N in the environment sets the time (0: never
 * spin). timeout_ms 0 only looks. tp_conn_recv_bytes and tp_conn_poll
 * wait the same way.
 * Errors: TP_EINVAL, TP_EPERM (a write-only end), TP_ETIMEDOUT,
 * TP_EOF (the peer closed and everything it sent was received; Python's
 * EOFError), TP_ECLOSED (this end was closed), TP_ESTATE (moved into a
 * payload), TP_EDECODE (a malformed message, or one cut short by a
 * writer that died in the middle of it: dropped and counted; the end
 * stays usable), wrapped system errors.
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
 * tp_conn_poll waits up to timeout_ms until a recv would not block: data
 * is ready (TP_OK) or the peer is gone (TP_OK too; recv then gives
 * TP_EOF, as Python's poll returns True at EOF). It reads nothing.
 * Errors: TP_ETIMEDOUT, TP_EINVAL, TP_EPERM (write-only end), TP_ECLOSED
 * (this end closed), TP_ESTATE (moved into a payload).
 */
int tp_conn_poll(tp_conn *c, int timeout_ms);

/*
 * tp_conn_fd stores the end's socket (owned by c) for poll() or tp_wait():
 * readable while a message waits and at end of file, as soon as the
 * peer's send returned. (A message kept by a recv_bytes that gave
 * TP_ETOOBIG is in c, not in the socket: tp_conn_poll sees it, the fd
 * does not.) Errors: TP_EINVAL, TP_EPERM (write-only end), TP_ECLOSED,
 * TP_ESTATE.
 */
int tp_conn_fd(tp_conn *c, int *fd);

/* tp_conn_rejected returns how many malformed messages c dropped. */
uint64_t tp_conn_rejected(const tp_conn *c);

/*
 * tp_payload_add_conn moves end c into p, so it can go to any process of
 * this host (process arguments, a pool task, a Queue item, a Manager
 * value): this process keeps the socket for the reader in its fd sharer
 * and c becomes an empty husk (calls on it give TP_ESTATE; still free it
 * with tp_conn_free). The reader's tp_payload_get_conn takes the socket
 * from this process, so this process must still be running then (else
 * TP_ECLOSED); an end never read stays kept until this process exits.
 * tp_payload_get_conn makes a new end from value i (free with
 * tp_conn_free). Each end can be taken once: a second get of the same
 * value (in any process) gives TP_EALREADY.
 * Errors of add: TP_EINVAL, TP_ENOMEM, TP_ENOTINIT, TP_ECLOSED (c was
 * closed), TP_ESTATE (c was moved already, or holds received input not yet
 * read: moving it would lose that). Errors of get: TP_EINVAL, TP_ENOENT,
 * TP_ETYPE (not a pipe end), TP_EDECODE, TP_EALREADY (taken already),
 * TP_ECLOSED (the process that added it is gone: the end went with it),
 * TP_EPERM (added on another host, or by another user), TP_ETIMEDOUT (the
 * adding process did not answer in 5 s), TP_EPROTO.
 */
int tp_payload_add_conn(tp_payload *p, tp_conn *c);
int tp_payload_get_conn(const tp_payload *p, size_t i, tp_conn **out);

#ifdef __cplusplus
}
#endif
#endif
