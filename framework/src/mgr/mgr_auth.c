/*
 * mgr_auth.c - the manager's per-run key files, which let every process
 * of the run take a proxy out of a payload without being given the key,
 * and its TLS client settings. The primitives (HMAC-SHA256, nonces,
 * sealing) are base/auth.c's, shared with msg/'s connections.
 */
#include <errno.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mgr_int.h"
#include "runtime_int.h"
#include "troupe/error.h"

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
