/*
 * netaddr.c - tcp:// addresses, shared by the manager (mgr/) and
 * connections (msg/connection.c): splitting, resolving, and a connect
 * bounded in time; see netaddr.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netaddr.h"
#include "troupe/error.h"

int tp__tcp_split(const char *addr, char *host, size_t hlen, char *port,
                  size_t plen)
{
	int tls = strncmp(addr, "tls+tcp://", 10) == 0;
	const char *p = addr + (tls ? 10 : 6);
	const char *colon = strrchr(p, ':');
	if ((!tls && strncmp(addr, "tcp://", 6) != 0) || colon == NULL ||
	    colon[1] == '\0')
		return TP_EINVAL;
	size_t n = (size_t)(colon - p);
	if (n >= 2 && p[0] == '[' && p[n - 1] == ']') {
		p++;
		n -= 2;
	}
	if (n >= hlen || strlen(colon + 1) >= plen)
		return TP_EINVAL;
	memcpy(host, p, n);
	host[n] = '\0';
	snprintf(port, plen, "%s", colon + 1);
	return TP_OK;
}

int tp__tcp_resolve(const char *addr, int passive, struct addrinfo **out)
{
	char host[256], port[32];
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
	                         .ai_socktype = SOCK_STREAM,
	                         .ai_flags = passive ? AI_PASSIVE : 0};
	int rv = tp__tcp_split(addr, host, sizeof(host), port, sizeof(port));
	if (rv != TP_OK)
		return rv;
	return getaddrinfo(host[0] ? host : NULL, port, &hints, out) == 0
	           ? TP_OK
	           : TP_ENOENT;
}

/* A connect bounded by timeout_ms. */
static int tcp_connect_one(const struct addrinfo *a, int timeout_ms, int *fd)
{
	*fd =
	    socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (*fd < 0)
		return tp_err_errno(errno);
	int e = 0;
	socklen_t el = sizeof(e);
	if (connect(*fd, a->ai_addr, a->ai_addrlen) != 0) {
		struct pollfd pf = {*fd, POLLOUT, 0};
		e = errno;
		if (e == EINPROGRESS) {
			int n = poll(&pf, 1, timeout_ms);
			e = n == 0 ? ETIMEDOUT : 0;
			if (n > 0)
				getsockopt(*fd, SOL_SOCKET, SO_ERROR, &e, &el);
		}
	}
	int one = 1, fl = fcntl(*fd, F_GETFL);
	if (e == 0 &&
	    (fcntl(*fd, F_SETFL, fl & ~O_NONBLOCK) != 0 ||
	     setsockopt(*fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0))
		e = errno;
	if (e != 0) {
		close(*fd);
		*fd = -1;
		return e == ECONNREFUSED ? TP_ECLOSED
		       : e == ETIMEDOUT  ? TP_ETIMEDOUT
		                         : tp_err_errno(e);
	}
	return TP_OK;
}

int tp__tcp_connect(const char *address, int timeout_ms, int *fd)
{
	struct addrinfo *ai;
	int rv = tp__tcp_resolve(address, 0, &ai);
	if (rv != TP_OK)
		return rv;
	rv = TP_ECLOSED;
	for (struct addrinfo *a = ai; a != NULL && rv != TP_OK; a = a->ai_next)
		rv = tcp_connect_one(a, timeout_ms, fd);
	freeaddrinfo(ai);
	return rv;
}
