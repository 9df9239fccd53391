/* mgr_util.h - for the manager's tests: a raw socket to a manager's
 * address (ipc://PATH, tcp:// or tls+tcp://HOST:PORT; for tls, only the
 * TCP connection), as a bad peer or a relay opens it. -1 on failure. */
#ifndef TP_MGR_UTIL_H
#define TP_MGR_UTIL_H

#include <netdb.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "mgr_int.h"
#include "testutil.h"
#include "troupe/error.h"

/* A proxy from args[i] in a child (exit 90 when there is none). */
static inline tp_proxy *arg_proxy(const tp_payload *args, size_t i)
{
	tp_proxy *px = NULL;
	if (tp_payload_get_proxy(args, i, NULL, 0, &px) != TP_OK)
		exit(90);
	return px;
}

/* Runs fn(args) in a child process; its exit code must be want. */
static inline void run_child(tp_target_fn fn, tp_payload *args, int want)
{
	tp_process *p;
	int code = -1;
	TP_OK_OR_FAIL(tp_process_new(&p, fn, args, NULL));
	TP_OK_OR_FAIL(tp_process_start(p));
	TP_OK_OR_FAIL(tp_process_join(p, 60000));
	TP_OK_OR_FAIL(tp_process_exitcode(p, &code));
	assert_int_equal(code, want);
	tp_process_free(p);
}

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
