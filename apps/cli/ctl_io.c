/*
 * ctl_io.c - the control socket's wire: a Unix stream socket carrying one
 * request frame and one reply frame, each [u32 little-endian length]
 * [Envelope], the same framing as the process control channel. The
 * client side (ctl_call); the frames and the server are the framework's
 * (rt/ctlsrv.c).
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

int64_t ctl_now_ms(void) /* the clock of tp__now_ms (base/clock.h) */
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ctl_frame_pack(const Troupe__Envelope *env, unsigned char **out,
                   size_t *len)
{
	return tp__ctl_frame_pack(env, CTL_MAX_MSG, out, len);
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
	int rv = tp__ctl_write_all(fd, out, outlen, deadline);
	if (rv == TP_OK)
		rv = tp__ctl_read_all(fd, h, 4, deadline);
	if (rv != TP_OK)
		return rv;
	uint32_t n = ctl_frame_len(h);
	if (n > CTL_MAX_MSG)
		return TP_ETOOBIG;
	if ((buf = malloc(n ? n : 1)) == NULL)
		return TP_ENOMEM;
	rv = tp__ctl_read_all(fd, buf, n, deadline);
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
