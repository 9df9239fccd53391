/*
 * mgr_auth.c - the manager's authentication primitives: HMAC-SHA256 from
 * nettle (no hand-written crypto), constant-time MAC comparison, nonces
 * from getrandom(), and the per-run key files that let every process of
 * the run take a proxy out of a payload without being given the key.
 */
#include <errno.h>
#include <fcntl.h>
#include <nettle/hmac.h>
#include <nettle/memops.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "mgr_int.h"
#include "runtime_int.h"
#include "troupe/error.h"

void tp__mgr_mac(const void *key, size_t keylen, const char *label,
                 const uint8_t *nonce, size_t nlen, uint8_t out[TP__MGR_MAC])
{
	struct hmac_sha256_ctx ctx;
	hmac_sha256_set_key(&ctx, keylen, key);
	hmac_sha256_update(&ctx, strlen(label) + 1, (const uint8_t *)label);
	hmac_sha256_update(&ctx, nlen, nonce);
	hmac_sha256_digest(&ctx, TP__MGR_MAC, out);
}

int tp__mgr_mac_ok(const void *key, size_t keylen, const char *label,
                   const uint8_t *nonce, size_t nlen, const uint8_t *mac,
                   size_t maclen)
{
	uint8_t want[TP__MGR_MAC];
	if (maclen != TP__MGR_MAC)
		return 0;
	tp__mgr_mac(key, keylen, label, nonce, nlen, want);
	return memeql_sec(want, mac, TP__MGR_MAC);
}

int tp__mgr_random(void *buf, size_t n)
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

int tp__mgr_keyfile(const char *address, char *buf, size_t len)
{
	struct sha256_ctx ctx;
	uint8_t d[SHA256_DIGEST_SIZE];
	const char *dir = tp_runtime_dir();
	if (dir == NULL)
		return TP_ENOTINIT;
	sha256_init(&ctx);
	sha256_update(&ctx, strlen(address), (const uint8_t *)address);
	sha256_digest(&ctx, sizeof(d), d);
	int n = snprintf(buf, len, "%s/mgrkey-", dir);
	for (int i = 0; i < 8 && n > 0 && (size_t)n + 2 < len; i++)
		n += snprintf(buf + n, len - (size_t)n, "%02x", d[i]);
	return n > 0 && (size_t)n + 1 < len ? TP_OK : TP_ETOOBIG;
}

int tp__mgr_key_store(const char *address, const void *key, size_t len)
{
	char path[512], tmp[530];
	int rv = tp__mgr_keyfile(address, path, sizeof(path));
	if (rv != TP_OK)
		return rv;
	snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return tp_err_errno(errno);
	ssize_t w = write(fd, key, len);
	int err = (w < 0 || (size_t)w != len) ? EIO : 0;
	if (close(fd) != 0 && err == 0)
		err = errno;
	if (err == 0 && rename(tmp, path) != 0)
		err = errno;
	if (err != 0)
		unlink(tmp);
	return tp_err_errno(err);
}

int tp__mgr_key_load(const char *address, void *key, size_t cap, size_t *len)
{
	char path[512];
	int rv = tp__mgr_keyfile(address, path, sizeof(path));
	if (rv != TP_OK)
		return rv == TP_ENOTINIT ? TP_ENOENT : rv;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? TP_ENOENT : tp_err_errno(errno);
	ssize_t r = read(fd, key, cap);
	close(fd);
	if (r <= 0)
		return TP_ENOENT;
	*len = (size_t)r;
	return TP_OK;
}

void tp__mgr_session_key(const void *key, size_t keylen,
                         const uint8_t cnonce[TP__MGR_NONCE],
                         const uint8_t snonce[TP__MGR_NONCE],
                         uint8_t out[TP__MGR_MAC])
{
	struct hmac_sha256_ctx ctx;
	static const char label[] = "troupe-mgr-session";
	hmac_sha256_set_key(&ctx, keylen, key);
	hmac_sha256_update(&ctx, sizeof(label), (const uint8_t *)label);
	hmac_sha256_update(&ctx, TP__MGR_NONCE, cnonce);
	hmac_sha256_update(&ctx, TP__MGR_NONCE, snonce);
	hmac_sha256_digest(&ctx, TP__MGR_MAC, out);
}

static void seq_put(uint8_t *p, uint64_t seq)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(seq >> (8 * i));
}

static void frame_mac(const uint8_t skey[TP__MGR_MAC], uint8_t dir,
                      const uint8_t seq[8], const void *msg, size_t len,
                      uint8_t out[TP__MGR_MAC])
{
	struct hmac_sha256_ctx ctx;
	hmac_sha256_set_key(&ctx, TP__MGR_MAC, skey);
	hmac_sha256_update(&ctx, 1, &dir);
	hmac_sha256_update(&ctx, 8, seq);
	hmac_sha256_update(&ctx, len, msg);
	hmac_sha256_digest(&ctx, TP__MGR_MAC, out);
}

void tp__mgr_seal(const uint8_t skey[TP__MGR_MAC], uint8_t dir, uint64_t seq,
                  const void *msg, size_t len, uint8_t *out)
{
	seq_put(out, seq);
	memcpy(out + 8, msg, len);
	frame_mac(skey, dir, out, msg, len, out + 8 + len);
}

int tp__mgr_unseal(const uint8_t skey[TP__MGR_MAC], uint8_t dir, uint64_t *last,
                   const uint8_t *buf, size_t len, const uint8_t **msg,
                   size_t *msglen)
{
	uint8_t want[TP__MGR_MAC];
	uint64_t seq = 0;
	if (len < TP__MGR_SEAL)
		return TP_EAUTH;
	for (int i = 7; i >= 0; i--)
		seq = seq << 8 | buf[i];
	size_t n = len - TP__MGR_SEAL;
	frame_mac(skey, dir, buf, buf + 8, n, want);
	if (!memeql_sec(want, buf + 8 + n, TP__MGR_MAC) || seq <= *last)
		return TP_EAUTH; /* forged, replayed or reordered */
	*last = seq;
	*msg = buf + 8;
	*msglen = n;
	return TP_OK;
}

/* <keyfile>.tls: the TLS client settings of a tls+tcp:// manager of the
 * run, one per line (ca, name, cert, key; empty: none). */
int tp__mgr_tls_store(const char *address, const struct tp__mgr_tls *t)
{
	char path[520];
	int rv = tp__mgr_keyfile(address, path, sizeof(path) - 4);
	if (rv != TP_OK)
		return rv;
	strcat(path, ".tls");
	FILE *f = fopen(path, "we");
	if (f == NULL)
		return tp_err_errno(errno);
	fprintf(f, "%s\n%s\n%s\n%s\n", t->ca ? t->ca : "",
	        t->name ? t->name : "", t->cert ? t->cert : "",
	        t->key ? t->key : "");
	return fclose(f) == 0 ? TP_OK : tp_err_errno(errno);
}

int tp__mgr_tls_load(const char *address, struct tp__mgr_tls *t, char *buf,
                     size_t len)
{
	char path[520];
	const char **field[] = {&t->ca, &t->name, &t->cert, &t->key};
	memset(t, 0, sizeof(*t));
	int rv = tp__mgr_keyfile(address, path, sizeof(path) - 4);
	if (rv != TP_OK)
		return rv;
	strcat(path, ".tls");
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return TP_ENOENT;
	size_t n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = buf;
	for (int i = 0; i < 4 && *p != '\0'; i++) {
		char *nl = strchr(p, '\n');
		if (nl == NULL)
			break;
		*nl = '\0';
		*field[i] = *p != '\0' ? p : NULL;
		p = nl + 1;
	}
	return TP_OK;
}
