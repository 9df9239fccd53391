/*
 * pipe_share.c - handing a socket to another process of this host, as
 * Python's multiprocessing.resource_sharer does.
 *
 * A process that puts a pipe end into a payload keeps the socket in a
 * table under a random token and serves the table on a Unix socket in the
 * run directory ("share-PID-N"), from one thread started on first use. A
 * process that reads the end connects there, sends the token, and gets the
 * socket back with SCM_RIGHTS; the server checks that the caller runs as
 * the same user (SO_PEERCRED) and hands each token out once. Serving is
 * one poll loop over non-blocking sockets: a caller that connects and
 * stalls, resets or sends garbage costs one slot until a short deadline,
 * never the loop.
 *
 * fork: the child gets no server thread; the inherited table and listening
 * socket are closed in the child (they are the parent's), so a forked
 * child never holds copies of ends it was not given.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "pipe_int.h"
#include "runtime_int.h"
#include "troupe/error.h"

#define SLOTS    32          /* callers served at once */
#define REQ_MS   2000        /* a caller must ask within this */
#define FETCH_MS 5000        /* a reader waits this long for the owner */
#define SH_MAGIC 0x44465054u /* "TPFD" */
#define ST_OK    0
#define ST_TAKEN 1
#define ST_PERM  2

struct req {
	uint32_t magic, pad;
	uint64_t token;
};

struct entry {
	uint64_t token;
	int fd;
	struct entry *next;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct {
	pid_t pid; /* the process whose server this is (0: none) */
	char dir[256];
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int lfd, stopfd[2];
	ino_t ino; /* of the socket file, to notice its removal */
	pthread_t thr;
	struct entry *list;
} sh = {.lfd = -1, .stopfd = {-1, -1}};

static void drop_table(void)
{
	while (sh.list != NULL) {
		struct entry *e = sh.list;
		sh.list = e->next;
		close(e->fd);
		free(e);
	}
}

static void fork_prepare(void)
{
	pthread_mutex_lock(&mu);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&mu);
}

static void fork_child(void)
{
	if (sh.pid != 0) { /* the parent's: not ours to serve or keep */
		close(sh.lfd);
		close(sh.stopfd[0]);
		close(sh.stopfd[1]);
		drop_table();
		sh.pid = 0;
		sh.lfd = sh.stopfd[0] = sh.stopfd[1] = -1;
	}
	pthread_mutex_unlock(&mu);
}

static void at_exit(void)
{
	if (sh.pid == getpid())
		unlink(sh.path);
}

static void setup(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
	atexit(at_exit);
}

/* Takes token's fd out of the table (-1 if absent). Under mu. */
static int take(uint64_t token)
{
	for (struct entry **p = &sh.list; *p != NULL; p = &(*p)->next) {
		if ((*p)->token == token) {
			struct entry *e = *p;
			int fd = e->fd;
			*p = e->next;
			free(e);
			return fd;
		}
	}
	return -1;
}

static int put_back(uint64_t token, int fd)
{
	struct entry *e = malloc(sizeof(*e));
	if (e == NULL)
		return TP_ENOMEM;
	e->token = token;
	e->fd = fd;
	e->next = sh.list;
	sh.list = e;
	return TP_OK;
}

static int same_user(int fd)
{
	struct ucred cr;
	socklen_t n = sizeof(cr);
	return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &n) == 0 &&
	       cr.uid == geteuid();
}

/* Sends status, with fd attached when fd >= 0; 1 if it went out. */
static int reply(int cfd, int32_t status, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = {&status, sizeof(status)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (fd >= 0) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	return sendmsg(cfd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) ==
	       (ssize_t)sizeof(status);
}

/* Answers one caller's request (the fd travels with the reply). */
static void serve_one(int cfd)
{
	struct req r;
	ssize_t n = recv(cfd, &r, sizeof(r), MSG_DONTWAIT);
	if (n != (ssize_t)sizeof(r) || r.magic != SH_MAGIC)
		return; /* garbage or gone: dropped */
	if (!same_user(cfd)) {
		reply(cfd, ST_PERM, -1);
		return;
	}
	/* mu is held until the end has left, so a fork in another thread
	 * never copies an end that is in flight */
	pthread_mutex_lock(&mu);
	int fd = take(r.token);
	if (fd < 0)
		reply(cfd, ST_TAKEN, -1);
	else if (reply(cfd, ST_OK, fd))
		close(fd); /* in flight to the caller: ours was the last copy */
	else if (put_back(r.token, fd) != TP_OK)
		close(
		    fd); /* out of memory: the end is lost, its peer sees EOF */
	pthread_mutex_unlock(&mu);
}

struct slots {
	int fd[SLOTS];
	int64_t dl[SLOTS];
	int n;
};

static void slot_drop(struct slots *s, int i)
{
	close(s->fd[i]);
	s->fd[i] = s->fd[--s->n];
	s->dl[i] = s->dl[s->n];
}

static void accept_one(struct slots *s, int lfd)
{
	int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (cfd < 0)
		return;
	if (s->n == SLOTS) { /* full: the one that waited longest goes */
		int old = 0;
		for (int i = 1; i < s->n; i++)
			if (s->dl[i] < s->dl[old])
				old = i;
		slot_drop(s, old);
	}
	s->fd[s->n] = cfd;
	s->dl[s->n++] = tp__now_ms() + REQ_MS;
}

struct serve_fds {
	int lfd, stop;
};

/* The server thread. Its fds come in arg (a struct serve_fds it frees),
 * never from sh, which a stop may reset before a slow thread first runs. */
static void *serve(void *arg)
{
	struct serve_fds *f = arg;
	int lfd = f->lfd, stop = f->stop;
	struct slots s = {.n = 0};
	struct pollfd pf[2 + SLOTS];
	free(f);
	for (;;) {
		int64_t now = tp__now_ms(), next = -1;
		pf[0] = (struct pollfd){.fd = stop, .events = POLLIN};
		pf[1] = (struct pollfd){.fd = lfd, .events = POLLIN};
		for (int i = 0; i < s.n; i++) {
			pf[2 + i] =
			    (struct pollfd){.fd = s.fd[i], .events = POLLIN};
			if (next < 0 || s.dl[i] < next)
				next = s.dl[i];
		}
		int to = next < 0 ? -1 : next > now ? (int)(next - now) : 0;
		int nf = 2 + s.n;
		if (poll(pf, (nfds_t)nf, to) < 0 && errno != EINTR)
			break;
		if (pf[0].revents != 0)
			break;
		now = tp__now_ms();
		for (int i = nf - 3; i >= 0; i--) { /* answered or expired go */
			if (pf[2 + i].revents != 0)
				serve_one(s.fd[i]);
			if (pf[2 + i].revents != 0 || s.dl[i] <= now)
				slot_drop(&s, i);
		}
		if (pf[1].revents & POLLIN)
			accept_one(&s, lfd);
	}
	while (s.n > 0)
		slot_drop(&s, s.n - 1);
	return NULL;
}

/* Stops this process's server (called under mu, which it releases while
 * it joins the thread: the thread may be waiting for mu). The table is
 * emptied first; a concurrent put starts a fresh server meanwhile. */
static void stop_server(void)
{
	if (sh.pid != getpid())
		return;
	int lfd = sh.lfd, stop0 = sh.stopfd[0], stop1 = sh.stopfd[1];
	pthread_t thr = sh.thr;
	char path[sizeof(sh.path)], one = 1;
	memcpy(path, sh.path, sizeof(path));
	drop_table();
	sh.pid = 0;
	sh.lfd = sh.stopfd[0] = sh.stopfd[1] = -1;
	pthread_mutex_unlock(&mu);
	if (write(stop1, &one, 1) == 1)
		pthread_join(thr, NULL);
	close(lfd);
	close(stop0);
	close(stop1);
	unlink(path);
	pthread_mutex_lock(&mu);
}

static int listen_at(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path); /* a dead process's leftover with our pid */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(fd, 64) != 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* Starts the server in this process for the current run (under mu). */
static int start_server(void)
{
	char addr[sizeof(sh.path) + 8];
	int rv;
	struct stat st;
	if (sh.pid == getpid() && strcmp(sh.dir, tp__rt.dir) == 0 &&
	    stat(sh.path, &st) == 0 && st.st_ino == sh.ino)
		return TP_OK; /* (tp_fini removes the file; a new run may
		                 reuse the directory's name) */
	stop_server();
	if (sh.pid == getpid())
		return TP_OK; /* another thread started it meanwhile */
	if ((rv = tp_address("share", addr, sizeof(addr))) != TP_OK)
		return rv;
	if (strlen(addr) - strlen("ipc://") >= sizeof(sh.path))
		return TP_ETOOBIG;
	memcpy(sh.path, addr + strlen("ipc://"), strlen(addr) - 5);
	if ((sh.lfd = listen_at(sh.path)) < 0)
		return tp_err_errno(-sh.lfd);
	struct serve_fds *f = malloc(sizeof(*f));
	if (f == NULL) {
		rv = TP_ENOMEM;
	} else if (pipe2(sh.stopfd, O_CLOEXEC) != 0) {
		rv = tp_err_errno(errno);
		free(f);
	} else {
		*f = (struct serve_fds){sh.lfd, sh.stopfd[0]};
		if ((rv = pthread_create(&sh.thr, NULL, serve, f)) != 0) {
			free(f);
			close(sh.stopfd[0]);
			close(sh.stopfd[1]);
			rv = tp_err_errno(rv);
		}
	}
	if (rv != TP_OK) {
		close(sh.lfd);
		unlink(sh.path);
		sh.lfd = sh.stopfd[0] = sh.stopfd[1] = -1;
		return rv;
	}
	snprintf(sh.dir, sizeof(sh.dir), "%s", tp__rt.dir);
	sh.ino = stat(sh.path, &st) == 0 ? st.st_ino : 0;
	sh.pid = getpid();
	return TP_OK;
}

int tp__share_put(int fd, uint64_t *token, const char **path)
{
	uint64_t t = 0;
	int rv;
	if (!tp_initialized())
		return TP_ENOTINIT;
	pthread_once(&once, setup);
	while (t == 0)
		if (getrandom(&t, sizeof(t), 0) != sizeof(t))
			return tp_err_errno(errno);
	t &= INT64_MAX; /* travels as an int64 */
	pthread_mutex_lock(&mu);
	if ((rv = start_server()) == TP_OK && (rv = put_back(t, fd)) == TP_OK) {
		*token = t;
		*path = sh.path;
	}
	pthread_mutex_unlock(&mu);
	return rv;
}

int tp__share_unput(uint64_t token)
{
	pthread_mutex_lock(&mu);
	int fd = sh.pid == getpid() ? take(token) : -1;
	pthread_mutex_unlock(&mu);
	return fd < 0 ? TP_ENOENT : TP_OK;
}

/* The fd attached to a reply (others closed), or -1. */
static int attached_fd(struct msghdr *mh)
{
	int fd = -1;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm != NULL;
	     cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int f;
			memcpy(&f, CMSG_DATA(cm) + i * sizeof(int),
			       sizeof(int));
			if (fd < 0)
				fd = f;
			else
				close(f);
		}
	}
	return fd;
}

static int ask(int s, uint64_t token, int *fd)
{
	struct req r = {.magic = SH_MAGIC, .token = token};
	int32_t status = -1;
	union {
		char buf[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = {&status, sizeof(status)};
	struct msghdr mh = {.msg_iov = &iov,
	                    .msg_iovlen = 1,
	                    .msg_control = u.buf,
	                    .msg_controllen = sizeof(u.buf)};
	if (!same_user(s))
		return TP_EPERM;
	if (send(s, &r, sizeof(r), MSG_NOSIGNAL) != (ssize_t)sizeof(r))
		return errno == EAGAIN ? TP_ETIMEDOUT : TP_ECLOSED;
	ssize_t n;
	while ((n = recvmsg(s, &mh, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	if (n < 0)
		return errno == EAGAIN ? TP_ETIMEDOUT : TP_ECLOSED;
	int got = attached_fd(&mh);
	if (n == sizeof(status) && status == ST_OK && got >= 0) {
		*fd = got;
		return TP_OK;
	}
	if (got >= 0)
		close(got);
	if (n == 0)
		return TP_ECLOSED;
	if (n == sizeof(status) && status == ST_TAKEN)
		return TP_EALREADY;
	return n == sizeof(status) && status == ST_PERM ? TP_EPERM : TP_EPROTO;
}

int tp__share_get(const char *path, pid_t pid, uint64_t token, int *fd)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = FETCH_MS / 1000};
	int rv, s;
	if (pid == getpid()) { /* put into a payload and read back here */
		pthread_mutex_lock(&mu);
		*fd = sh.pid == pid ? take(token) : -1;
		pthread_mutex_unlock(&mu);
		return *fd >= 0 ? TP_OK : TP_EALREADY;
	}
	if (strlen(path) >= sizeof(sa.sun_path))
		return TP_EDECODE;
	strcpy(sa.sun_path, path);
	if ((s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) < 0)
		return tp_err_errno(errno);
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		rv = errno == EAGAIN ? TP_ETIMEDOUT
		                     : TP_ECLOSED; /* owner gone */
	else
		rv = ask(s, token, fd);
	close(s);
	return rv;
}
