/*
 * auth.c - the authentication primitives shared by the manager (mgr/)
 * and connections (msg/connection.c): HMAC-SHA256 from nettle (no
 * hand-written crypto), constant-time MAC comparison, nonces from
 * getrandom(), and sealed frames; see auth.h.
 */
#include <errno.h>
#include <nettle/hmac.h>
#include <nettle/memops.h>
#include <string.h>
#include <sys/random.h>

#include "auth.h"
#include "troupe/error.h"

void tp__auth_mac(const void *key, size_t keylen, const char *label,
                  const uint8_t *nonce, size_t nlen, uint8_t out[TP__AUTH_MAC])
{
	struct hmac_sha256_ctx ctx;
	hmac_sha256_set_key(&ctx, keylen, key);
	hmac_sha256_update(&ctx, strlen(label) + 1, (const uint8_t *)label);
	hmac_sha256_update(&ctx, nlen, nonce);
	hmac_sha256_digest(&ctx, TP__AUTH_MAC, out);
}

int tp__auth_mac_ok(const void *key, size_t keylen, const char *label,
                    const uint8_t *nonce, size_t nlen, const uint8_t *mac,
                    size_t maclen)
{
	uint8_t want[TP__AUTH_MAC];
	if (maclen != TP__AUTH_MAC)
		return 0;
	tp__auth_mac(key, keylen, label, nonce, nlen, want);
	return memeql_sec(want, mac, TP__AUTH_MAC);
}

int tp__auth_random(void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = getrandom((char *)buf + got, n - got, 0);
		if (r < 0 && errno != EINTR)
			return tp_err_errno(errno);
		if (r > 0)
			got += (size_t)r;
	}
	return TP_OK;
}

void tp__auth_session_key(const void *key, size_t keylen,
                          const uint8_t cnonce[TP__AUTH_NONCE],
                          const uint8_t snonce[TP__AUTH_NONCE],
                          uint8_t out[TP__AUTH_MAC])
{
	struct hmac_sha256_ctx ctx;
	static const char label[] = "troupe-mgr-session";
	hmac_sha256_set_key(&ctx, keylen, key);
	hmac_sha256_update(&ctx, sizeof(label), (const uint8_t *)label);
	hmac_sha256_update(&ctx, TP__AUTH_NONCE, cnonce);
	hmac_sha256_update(&ctx, TP__AUTH_NONCE, snonce);
	hmac_sha256_digest(&ctx, TP__AUTH_MAC, out);
}

static void seq_put(uint8_t *p, uint64_t seq)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(seq >> (8 * i));
}

static void frame_mac(const uint8_t skey[TP__AUTH_MAC], uint8_t dir,
                      const uint8_t seq[8], const void *msg, size_t len,
                      uint8_t out[TP__AUTH_MAC])
{
	struct hmac_sha256_ctx ctx;
	hmac_sha256_set_key(&ctx, TP__AUTH_MAC, skey);
	hmac_sha256_update(&ctx, 1, &dir);
	hmac_sha256_update(&ctx, 8, seq);
	hmac_sha256_update(&ctx, len, msg);
	hmac_sha256_digest(&ctx, TP__AUTH_MAC, out);
}

void tp__auth_seal(const uint8_t skey[TP__AUTH_MAC], uint8_t dir, uint64_t seq,
                   const void *msg, size_t len, uint8_t *out)
{
	seq_put(out, seq);
	memcpy(out + 8, msg, len);
	frame_mac(skey, dir, out, msg, len, out + 8 + len);
}

int tp__auth_unseal(const uint8_t skey[TP__AUTH_MAC], uint8_t dir,
                    uint64_t *last, const uint8_t *buf, size_t len,
                    const uint8_t **msg, size_t *msglen)
{
	uint8_t want[TP__AUTH_MAC];
	uint64_t seq = 0;
	if (len < TP__AUTH_SEAL)
		return TP_EAUTH;
	for (int i = 7; i >= 0; i--)
		seq = seq << 8 | buf[i];
	size_t n = len - TP__AUTH_SEAL;
	frame_mac(skey, dir, buf, buf + 8, n, want);
	if (!memeql_sec(want, buf + 8 + n, TP__AUTH_MAC) || seq <= *last)
		return TP_EAUTH; /* forged, replayed or reordered */
	*last = seq;
	*msg = buf + 8;
	*msglen = n;
	return TP_OK;
}
