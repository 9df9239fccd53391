/*
 * conn_auth.c - the connection handshake (conn_int.h): both sides prove
 * they know the authkey with HMAC-SHA256 over two fresh nonces
 * (base/auth.c), each message of a fixed size.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "clock.h"
#include "conn_int.h"
#include "troupe/error.h"

#define N TP__AUTH_NONCE

static const char server_label[] = "troupe-conn-server";
static const char client_label[] = "troupe-conn-client";

int tp__hs_answer(const struct tp__hs_key *k, const uint8_t *hello,
                  uint8_t nonces[2 * N], uint8_t answer[TP__HS_ANSWER])
{
	int rv;
	if (memcmp(hello, "TPC1", 4) != 0)
		return TP_EPROTO;
	memcpy(nonces, hello + 4, N);
	if ((rv = tp__auth_random(nonces + N, N)) != TP_OK)
		return rv;
	memcpy(answer, "TPS1", 4);
	memcpy(answer + 4, nonces + N, N);
	tp__auth_mac(k->key, k->len, server_label, nonces, 2 * N,
	             answer + 4 + N);
	return TP_OK;
}

int tp__hs_check_proof(const struct tp__hs_key *k, const uint8_t nonces[2 * N],
                       const uint8_t *proof)
{
	return memcmp(proof, "TPA1", 4) == 0 &&
	       tp__auth_mac_ok(k->key, k->len, client_label, nonces, 2 * N,
	                       proof + 4, TP__AUTH_MAC);
}

/* Reads exactly n bytes before the deadline. TP_EPROTO at end of file. */
static int read_full(int fd, uint8_t *buf, size_t n, int64_t dl)
{
	size_t got = 0;
	while (got < n) {
		struct pollfd pf = {fd, POLLIN, 0};
		int p = poll(&pf, 1, tp__remaining(dl));
		if (p == 0)
			return TP_ETIMEDOUT;
		if (p < 0 && errno != EINTR)
			return tp_err_errno(errno);
		if (p < 0)
			continue;
		ssize_t r = recv(fd, buf + got, n - got, MSG_DONTWAIT);
		if (r == 0)
			return TP_EPROTO;
		if (r < 0 && errno != EINTR && errno != EAGAIN)
			return errno == ECONNRESET ? TP_EPROTO
			                           : tp_err_errno(errno);
		if (r > 0)
			got += (size_t)r;
	}
	return TP_OK;
}

static int write_full(int fd, const uint8_t *buf, size_t n)
{
	ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);
	if (w == (ssize_t)n)
		return TP_OK;
	return w < 0 && errno != EPIPE && errno != ECONNRESET
	           ? tp_err_errno(errno)
	           : TP_EPROTO;
}

int tp__hs_client(int fd, const struct tp__hs_key *k, int64_t dl,
                  uint8_t nonces[2 * N])
{
	uint8_t hello[TP__HS_HELLO], ans[TP__HS_ANSWER], proof[TP__HS_PROOF];
	uint8_t verdict[TP__HS_VERDICT];
	int rv = tp__auth_random(nonces, N);
	memcpy(hello, "TPC1", 4);
	memcpy(hello + 4, nonces, N);
	if (rv == TP_OK)
		rv = write_full(fd, hello, sizeof(hello));
	if (rv == TP_OK)
		rv = read_full(fd, ans, sizeof(ans), dl);
	if (rv != TP_OK)
		return rv;
	if (memcmp(ans, "TPS1", 4) != 0)
		return TP_EPROTO;
	memcpy(nonces + N, ans + 4, N);
	if (!tp__auth_mac_ok(k->key, k->len, server_label, nonces, 2 * N,
	                     ans + 4 + N, TP__AUTH_MAC))
		return TP_EAUTH; /* the server does not know the key */
	memcpy(proof, "TPA1", 4);
	tp__auth_mac(k->key, k->len, client_label, nonces, 2 * N, proof + 4);
	if ((rv = write_full(fd, proof, sizeof(proof))) == TP_OK)
		rv = read_full(fd, verdict, sizeof(verdict), dl);
	if (rv == TP_EPROTO || (rv == TP_OK && memcmp(verdict, "TPNO", 4) == 0))
		return TP_EAUTH; /* refused (a server closes after "TPNO") */
	if (rv == TP_OK && memcmp(verdict, "TPOK", 4) != 0)
		return TP_EPROTO;
	return rv;
}
