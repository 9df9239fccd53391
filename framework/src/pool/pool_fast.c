/*
 * pool_fast.c - a worker run's local channel: a Unix SOCK_SEQPACKET
 * connection between the pool's thread and the worker's main thread. It
 * carries 16-byte notes, "a batch of tasks (results) is in slot S of the
 * run's ring, L bytes" (struct tp__pool_note), and a batch too small for
 * the ring (at most TP__POOL_FAST_MAX bytes) as a note followed by its
 * bytes in one record. Everything else (hellos, Stop, the first batch in
 * a run's ring, whose message names the ring, batches that found the
 * ring or the socket full) stays on the run's nng socket; the pool sends
 * Stop only to a worker that holds no task, so no batch on the channel is
 * left behind it, and a worker given a note about a ring it has not been
 * told of yet reads its nng messages until it has.
 *
 * Why: with nng 1.5.2 a message from one process's thread to another's
 * passes through four more threads (the sender's nng task thread, the
 * receiver's poll and task threads, and the wake-up of the thread in
 * nng_recvmsg), each a futex wake and a context switch. For a map of large
 * batches that was a third of the CPU that was not the user's function
 * on this 2-CPU machine (docs/performance.md, "A local channel per
 * worker run"). A write on this socket wakes the thread polling the other
 * end directly.
 *
 * The pool listens at "<its address's path>-<pid>.f" for each run (next
 * to the run's nng address, in the run directory), accepts one
 * connection whose peer (SO_PEERCRED) is the run's pid, then closes and
 * removes the listener. A worker connects when its first batch arrives
 * by nng: the pool listened before it sent that batch, so the connect
 * never races the listen, and the pool uses the channel only once it
 * accepted it. A peer that is not the run is closed unread.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "pool_int.h"
#include "troupe/error.h"

int tp__pool_fast_path(const char *addr, pid_t pid, char *path, size_t size)
{
	const char *p = addr;
	if (strncmp(p, "ipc://", 6) != 0)
		return TP_EINVAL; /* a pool's address is local */
	p += 6;
	int n = snprintf(path, size, "%s-%d.f", p, (int)pid);
	if (n < 0 || (size_t)n >= size ||
	    (size_t)n >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return tp_err_errno(ENAMETOOLONG);
	return TP_OK;
}

/* A seqpacket socket (flags: SOCK_*) and path's address for it. */
static int fast_socket(const char *path, int flags, struct sockaddr_un *sa,
                       int *fd)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return tp_err_errno(ENAMETOOLONG);
	strcpy(sa->sun_path, path);
	*fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | flags, 0);
	return *fd < 0 ? tp_err_errno(errno) : TP_OK;
}

int tp__pool_fast_listen(const char *path, int *out)
{
	struct sockaddr_un sa;
	int fd, rv = fast_socket(path, SOCK_NONBLOCK, &sa, &fd);
	if (rv != TP_OK)
		return rv;
	(void)unlink(path); /* a dead run's of the same pid */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(fd, 4) != 0) {
		rv = tp_err_errno(errno);
		close(fd);
		(void)unlink(path);
		return rv;
	}
	*out = fd;
	return TP_OK;
}

int tp__pool_fast_accept(int lfd, pid_t pid, int *out)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK
		           ? TP_EEMPTY
		           : tp_err_errno(errno);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0 ||
	    cr.pid != pid) {
		close(fd); /* not the run: unread */
		return TP_EPERM;
	}
	*out = fd;
	return TP_OK;
}

int tp__pool_fast_dial(const char *path, int *out)
{
	struct sockaddr_un sa;
	int fd, rv = fast_socket(path, 0, &sa, &fd);
	if (rv != TP_OK)
		return rv;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		rv = tp_err_errno(errno);
		close(fd);
		return rv;
	}
	*out = fd;
	return TP_OK;
}

/* What a send of one record of want bytes that returned w means. */
static int sent(ssize_t w, size_t want)
{
	if (w == (ssize_t)want)
		return TP_OK;
	return w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? TP_EFULL
	                                                          : TP_ECLOSED;
}

int tp__pool_fast_send(int fd, uint32_t kind, uint32_t slot, uint64_t len)
{
	struct tp__pool_note n = {.kind = kind, .slot = slot, .len = len};
	ssize_t w;
	do
		w = send(fd, &n, sizeof(n), MSG_DONTWAIT | MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	return sent(w, sizeof(n));
}

int tp__pool_fast_send_bytes(int fd, const void *p, size_t len)
{
	struct tp__pool_note n = {.kind = TP__POOL_NOTE_BYTES, .len = len};
	struct iovec iov[2] = {{.iov_base = &n, .iov_len = sizeof(n)},
	                       {.iov_base = (void *)p, .iov_len = len}};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
	ssize_t w;
	if (len == 0 || len > TP__POOL_FAST_MAX)
		return TP_ETOOBIG;
	do
		w = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	return sent(w, sizeof(n) + len);
}

int tp__pool_fast_drain(int fd, void *buf, size_t cap,
                        void (*fn)(const struct tp__pool_note *n,
                                   const unsigned char *bytes, void *arg),
                        void *arg)
{
	for (;;) {
		struct tp__pool_note n;
		int rv = tp__pool_fast_recv(fd, &n, buf, cap);
		if (rv == TP_EEMPTY)
			return TP_OK;
		if (rv == TP_ECLOSED)
			return TP_ECLOSED;
		if (rv == TP_OK)
			fn(&n, buf, arg);
	}
}

int tp__pool_fast_recv(int fd, struct tp__pool_note *n, void *buf, size_t cap)
{
	struct iovec iov[2] = {{.iov_base = n, .iov_len = sizeof(*n)},
	                       {.iov_base = buf, .iov_len = cap}};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = buf ? 2 : 1};
	ssize_t r;
	do
		r = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_TRUNC);
	while (r < 0 && errno == EINTR);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return TP_EEMPTY;
	if (r <= 0)
		return TP_ECLOSED; /* the other end is gone */
	if ((size_t)r < sizeof(*n))
		return TP_EDECODE; /* a record too short */
	size_t extra = (size_t)r - sizeof(*n);
	if (n->kind == TP__POOL_NOTE_TASKS || n->kind == TP__POOL_NOTE_RESULTS)
		return extra == 0 ? TP_OK : TP_EDECODE;
	if (n->kind == TP__POOL_NOTE_BYTES && buf != NULL)
		return extra == n->len && extra > 0 && extra <= cap
		           ? TP_OK
		           : TP_EDECODE; /* cut (MSG_TRUNC) or mislabelled */
	return TP_EDECODE;
}
