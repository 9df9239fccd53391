/*
 * ctl_io.c - the control socket's wire: a Unix stream socket carrying one
 * request frame and one reply frame, each [u32 little-endian length]
 * [Envelope], the same framing as the process control channel. The
 * client side (ctl_call) and the frame helpers the server uses.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "ctl_int.h"
#include "internal.h"

int64_t ctl_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ctl_frame_pack(const Troupe__Envelope *env, unsigned char **out,
                   size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(&env->base);
	if (n > CTL_MAX_MSG)
		return TP_ETOOBIG;
	unsigned char *buf = malloc(n + 4);
	if (buf == NULL)
		return TP_ENOMEM;
	for (int i = 0; i < 4; i++) /* little-endian */
		buf[i] = (unsigned char)(n >> (8 * i));
	protobuf_c_message_pack(&env->base, buf + 4);
	*out = buf;
	*len = n + 4;
	return TP_OK;
}

uint32_t ctl_frame_len(const unsigned char h[4])
{
	return (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 |
	       (uint32_t)h[3] << 24;
}

/* Waits until fd is ready for ev or the deadline passes. */
static int wait_fd(int fd, short ev, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - ctl_now_ms();
		if (left <= 0)
			return TP_ETIMEDOUT;
		struct pollfd p = {.fd = fd, .events = ev};
		int n = poll(&p, 1, (int)left);
		if (n > 0)
			return TP_OK;
		if (n < 0 && errno != EINTR)
			return tp_err_errno(errno);
	}
}

int ctl_write_all(int fd, const void *buf, size_t len, int64_t deadline)
{
	const unsigned char *p = buf;
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return errno == EPIPE || errno == ECONNRESET
			           ? TP_ECLOSED
			           : tp_err_errno(errno);
		int rv = wait_fd(fd, POLLOUT, deadline);
		if (rv != TP_OK)
			return rv;
	}
	return TP_OK;
}

static int read_all(int fd, void *buf, size_t len, int64_t deadline)
{
	unsigned char *p = buf;
	while (len > 0) {
		ssize_t n = recv(fd, p, len, MSG_DONTWAIT);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == 0)
			return TP_ECLOSED;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return errno == ECONNRESET ? TP_ECLOSED
			                           : tp_err_errno(errno);
		int rv = wait_fd(fd, POLLIN, deadline);
		if (rv != TP_OK)
			return rv;
	}
	return TP_OK;
}

int ctl_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return -TP_EINVAL;
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -tp_err_errno(errno);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;
		close(fd);
		return e == ENOENT || e == ECONNREFUSED ? -TP_ENOENT
		                                        : -tp_err_errno(e);
	}
	return fd;
}

static int roundtrip(int fd, const unsigned char *out, size_t outlen,
                     Troupe__Envelope **rep, int64_t deadline)
{
	unsigned char h[4], *buf;
	int rv = ctl_write_all(fd, out, outlen, deadline);
	if (rv == TP_OK)
		rv = read_all(fd, h, 4, deadline);
	if (rv != TP_OK)
		return rv;
	uint32_t n = ctl_frame_len(h);
	if (n > CTL_MAX_MSG)
		return TP_ETOOBIG;
	if ((buf = malloc(n ? n : 1)) == NULL)
		return TP_ENOMEM;
	rv = read_all(fd, buf, n, deadline);
	if (rv == TP_OK)
		rv = tp__envelope_unpack(buf, n, CTL_MAX_MSG, rep);
	free(buf);
	if (rv == TP_OK &&
	    (*rep)->body_case != TROUPE__ENVELOPE__BODY_SUP_REPLY) {
		tp__envelope_free(*rep);
		rv = TP_EPROTO;
	}
	return rv;
}

int ctl_call(const char *path, const Troupe__SupRequest *req,
             Troupe__Envelope **rep, int timeout_ms)
{
	Troupe__Envelope env = TROUPE__ENVELOPE__INIT;
	unsigned char *buf;
	size_t len;
	int64_t deadline = ctl_now_ms() + timeout_ms;
	env.body_case = TROUPE__ENVELOPE__BODY_SUP_REQUEST;
	env.sup_request = (Troupe__SupRequest *)req;
	env.sender = "troupe-cli";
	int rv = ctl_frame_pack(&env, &buf, &len);
	if (rv != TP_OK)
		return rv;
	int fd = ctl_connect(path);
	if (fd < 0) {
		free(buf);
		return -fd;
	}
	rv = roundtrip(fd, buf, len, rep, deadline);
	free(buf);
	close(fd);
	return rv;
}
