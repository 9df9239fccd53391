/*
 * conn_int.h - internal: the connection handshake (conn_auth.c), shared
 * by the listener and the client (connection.c), and the tcp relay
 * (conn_relay.c).
 */
#ifndef TP_CONN_INT_H
#define TP_CONN_INT_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "troupe/pipe.h"

/* The handshake's messages, each of a fixed size (so a stream needs no
 * framing and nothing longer is ever read before the peer is proven):
 *   client hello  "TPC1" nonce_c                      36 bytes
 *   server answer "TPS1" nonce_s HMAC(server, nc ns)  68 bytes
 *   client proof  "TPA1" HMAC(client, nc ns)          36 bytes
 *   server verdict "TPOK" or "TPNO"                    4 bytes */
#define TP__HS_HELLO   (4 + TP__AUTH_NONCE)
#define TP__HS_ANSWER  (4 + TP__AUTH_NONCE + TP__AUTH_MAC)
#define TP__HS_PROOF   (4 + TP__AUTH_MAC)
#define TP__HS_VERDICT 4

struct tp__hs_key {
	const uint8_t *key;
	size_t len;
};

/* The server's side: answer to a hello (TP_EPROTO if it is none), then
 * the verdict on a proof (1: welcome). nonces holds nc then ns. */
int tp__hs_answer(const struct tp__hs_key *k, const uint8_t *hello,
                  uint8_t nonces[2 * TP__AUTH_NONCE],
                  uint8_t answer[TP__HS_ANSWER]);
int tp__hs_check_proof(const struct tp__hs_key *k,
                       const uint8_t nonces[2 * TP__AUTH_NONCE],
                       const uint8_t *proof);

/* The client's side, on a blocking fd, until the deadline (ms,
 * tp__deadline): TP_OK with nonces filled, or TP_EAUTH, TP_EPROTO,
 * TP_ETIMEDOUT, wrapped errno. */
int tp__hs_client(int fd, const struct tp__hs_key *k, int64_t deadline,
                  uint8_t nonces[2 * TP__AUTH_NONCE]);

/* Directions of sealed relay frames. */
#define TP__CONN_DIR_C 'c'
#define TP__CONN_DIR_S 's'

/*
 * Makes the tp_conn of an authenticated tcp socket: a socketpair whose
 * one end is returned, the other served by a detached relay thread that
 * seals what the end sends (direction dir) and unseals what arrives
 * (the other direction), with the session key of the key and nonces.
 * Takes tcp in every case. Errors: TP_ENOMEM, wrapped errno.
 */
int tp__conn_relay(int tcp, const struct tp__hs_key *k,
                   const uint8_t nonces[2 * TP__AUTH_NONCE], uint8_t dir,
                   tp_conn **out);

#endif
