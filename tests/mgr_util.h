/* mgr_util.h - for the manager's tests: a raw socket to a manager's
 * address (ipc://PATH, tcp:// or tls+tcp://HOST:PORT; for tls, only the
 * TCP connection), as a bad peer or a relay opens it. -1 on failure. */
#ifndef TP_MGR_UTIL_H
#define TP_MGR_UTIL_H

#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "mgr_int.h"
#include "troupe/error.h"

static inline int mgr_raw_connect(const char *addr)
{
	struct addrinfo *ai = NULL;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int ipc = strncmp(addr, "ipc://", 6) == 0, fd;
	if (ipc) {
		size_t n = strlen(addr + 6);
		if (n >= sizeof(sa.sun_path))
			return -1;
		memcpy(sa.sun_path, addr + 6, n);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	} else if (tp__tcp_resolve(addr, 0, &ai) == TP_OK) {
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	} else {
		return -1;
	}
	int rv = fd < 0 ? -1
	         : ipc  ? connect(fd, (struct sockaddr *)&sa, sizeof(sa))
	                : connect(fd, ai->ai_addr, ai->ai_addrlen);
	if (ai != NULL)
		freeaddrinfo(ai);
	if (rv != 0 && fd >= 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

#endif
