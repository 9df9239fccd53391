/*
 * troupe/connection.h - multiprocessing.connection's Listener and Client:
 * a connection between any two processes of this host (a Unix socket
 * path) or of two hosts (tcp://), opened only after both sides proved
 * they know the same authkey, and then used as a Pipe end (tp_conn,
 * troupe/pipe.h: tp_conn_send / recv / poll / close / free, and
 * tp_payload_add_conn to hand it to another process of the host).
 *
 *   tp_listener *l;                      // the server
 *   tp_listener_new(&l, "tcp://127.0.0.1:0", "secret", 6);
 *   printf("%s\n", tp_listener_address(l));   // the port chosen
 *   tp_conn *c;
 *   tp_listener_accept(l, &c, -1);
 *   tp_conn_recv(c, &msg, -1);
 *
 *   tp_conn *c;                          // the client, anywhere
 *   tp_client_new(&c, address, "secret", 6, 5000);
 *   tp_conn_send(c, msg);
 *
 * Addresses: "ipc:///path" or "/path" (a Unix socket, mode 0600, removed
 * by tp_listener_free) and "tcp://host:port" (port 0: one is chosen;
 * tp_listener_address tells which).
 *
 * Authentication, before any message: the client sends a nonce, the
 * server answers with its own nonce and HMAC-SHA256(authkey, both
 * nonces), the client checks it and answers with its own HMAC, the
 * server checks that and says welcome or not (both sides are proven, as
 * Python's deliver/answer_challenge pair does). Nothing else is read
 * before that: a handshake message has a fixed size, and a peer has
 * handshake_ms (default 5 s) to finish. The listener runs every pending
 * handshake at once inside tp_listener_accept, so a peer that connects
 * and says nothing, vanishes halfway or sends garbage never delays
 * another one; it is dropped and counted (tp_listener_rejected), and
 * accept goes on waiting (where Python's accept raises
 * AuthenticationError).
 *
 * No authkey (NULL, keylen 0: Python's authkey=None) means no
 * authentication: any peer that reaches the address is accepted. The
 * handshake still runs, with the empty key, so the framing is the same
 * (and over tcp:// frames are still sealed with a session key, which
 * then guards against corruption, not against an attacker); a peer whose
 * key differs (one side with a key, the other without) fails with
 * TP_EAUTH at once, where Python's would hang or fail on its first
 * message. A Unix path is mode 0600 either way (only this user).
 *
 * Over tcp:// every message after the handshake is sealed (sequence
 * number and HMAC with a key of this session, base/auth.h), so a relay
 * on the way can neither change, inject, replay nor reorder one; Python
 * sends its messages in the clear. A relay thread of the process that
 * opened the connection carries them between the tcp socket and the
 * tp_conn: a send returns once the message is with that thread, so keep
 * the process (not the tp_conn) alive until the peer has what it needs
 * (close the connection and wait for the peer's answer or end of file).
 * A connection to a Unix path is the socket itself (no thread).
 */
#ifndef TROUPE_CONNECTION_H
#define TROUPE_CONNECTION_H

#include <stddef.h>
#include <stdint.h>

#include "troupe/pipe.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tp_listener tp_listener;

/* The default time a peer has to finish the handshake. */
#define TP_HANDSHAKE_MS_DEFAULT 5000

/*
 * tp_listener_new listens at address (above) for clients that know
 * authkey (keylen bytes, copied; NULL and 0 for no authentication, see
 * above). Errors: TP_EINVAL (NULL address, NULL authkey with keylen > 0,
 * keylen over 1024, an address of another form, a path too long),
 * TP_EEXIST (a listener
 * already serves that path: a stale socket of a dead one is replaced),
 * TP_ENOENT (the host does not resolve), TP_ENOMEM, wrapped system errors
 * (EADDRINUSE for a port taken).
 */
int tp_listener_new(tp_listener **out, const char *address, const void *authkey,
                    size_t keylen);

/* Sets how long a peer has for the handshake (> 0 ms). TP_EINVAL. */
int tp_listener_set_handshake_ms(tp_listener *l, int ms);

/* The address clients use (tcp: with the port chosen for port 0);
 * borrowed, valid until the listener is freed. NULL for NULL. */
const char *tp_listener_address(const tp_listener *l);

/*
 * tp_listener_accept waits up to timeout_ms (-1: forever) for a client
 * that passed the handshake, and returns its connection in *out (the
 * caller frees it with tp_conn_free). Peers that fail are dropped and
 * counted, never returned. Errors: TP_EINVAL, TP_ETIMEDOUT, TP_ENOMEM,
 * wrapped system errors (out of file descriptors: the peer waits in the
 * backlog and the listener stays usable; call again once fds are free).
 */
int tp_listener_accept(tp_listener *l, tp_conn **out, int timeout_ms);

/* Python's last_accepted: the address of the last client accept
 * returned, "tcp://1.2.3.4:56789" or "tcp://[::1]:56789"; "" for a Unix
 * path's (unnamed) client or before the first. Borrowed, NULL for NULL. */
const char *tp_listener_last_accepted(const tp_listener *l);

/* How many peers were dropped: a wrong authkey, garbage, silence past
 * the handshake time, a close halfway, too many pending at once. */
uint64_t tp_listener_rejected(const tp_listener *l);

/* Closes the listener (peers still in the handshake are dropped;
 * accepted connections stay open) and removes its socket path. NULL
 * allowed. */
void tp_listener_free(tp_listener *l);

/*
 * tp_client_new connects to a listener at address with authkey (NULL
 * and 0: none, as the listener's must be) and returns the connection
 * once both sides are proven, within timeout_ms (-1: no limit). Errors:
 * TP_EINVAL (NULL out or address, NULL authkey with keylen > 0),
 * TP_ECLOSED (nobody listens there:
 * refused, or no such path), TP_EAUTH (the authkeys differ: the server
 * refused this client, or could not prove it knows the key), TP_EPROTO
 * (the peer is not a troupe listener, or closed during the handshake),
 * TP_ETIMEDOUT, TP_ENOENT (the host does not resolve), TP_ENOMEM, wrapped
 * system errors.
 */
int tp_client_new(tp_conn **out, const char *address, const void *authkey,
                  size_t keylen, int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
