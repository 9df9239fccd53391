/*
 * auth.h - internal: authentication primitives shared by the manager
 * (mgr/) and connections (msg/connection.c), so neither layer holds its
 * own copy: HMAC-SHA256 (nettle), constant-time comparison, nonces, and
 * sealed frames.
 */
#ifndef TP_AUTH_H
#define TP_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define TP__AUTH_NONCE 32
#define TP__AUTH_MAC   32

/* out = HMAC-SHA256(key, label with its NUL, nonce). */
void tp__auth_mac(const void *key, size_t keylen, const char *label,
                  const uint8_t *nonce, size_t nlen, uint8_t out[TP__AUTH_MAC]);
/* 1 when mac (maclen bytes) is tp__auth_mac of the same input, compared
 * in constant time; else 0. */
int tp__auth_mac_ok(const void *key, size_t keylen, const char *label,
                    const uint8_t *nonce, size_t nlen, const uint8_t *mac,
                    size_t maclen);
/* n random bytes from getrandom(); wrapped errno on failure. */
int tp__auth_random(void *buf, size_t n);

/* After the handshake over a transport that is not private (tcp://),
 * every message is sealed: [u64 seq LE][message][HMAC-SHA256(session key,
 * direction byte, seq, message)]. The session key is
 * HMAC(key, "troupe-mgr-session", client nonce, server nonce); the
 * receiver accepts only strictly increasing sequence numbers, so a relay
 * can neither inject, replay nor reorder. */
#define TP__AUTH_SEAL (8 + TP__AUTH_MAC)
void tp__auth_session_key(const void *key, size_t keylen,
                          const uint8_t cnonce[TP__AUTH_NONCE],
                          const uint8_t snonce[TP__AUTH_NONCE],
                          uint8_t out[TP__AUTH_MAC]);
/* out has room for len + TP__AUTH_SEAL bytes. */
void tp__auth_seal(const uint8_t skey[TP__AUTH_MAC], uint8_t dir, uint64_t seq,
                   const void *msg, size_t len, uint8_t *out);
/* TP_OK with msg/msglen pointing into buf, or TP_EAUTH (bad MAC, or a
 * sequence number not above *last, which it then becomes). */
int tp__auth_unseal(const uint8_t skey[TP__AUTH_MAC], uint8_t dir,
                    uint64_t *last, const uint8_t *buf, size_t len,
                    const uint8_t **msg, size_t *msglen);

#endif
