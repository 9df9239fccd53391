/*
 * forkserver.c - the fork server: a small single-threaded, nng-free process
 * that forks children on request. nng cannot be used in a process forked
 * after nng started, so the children of a program that uses nng are forked
 * from this clean copy.
 *
 * Protocol: the parent sends one SOCK_SEQPACKET datagram per start holding
 * the child's name and, with SCM_RIGHTS, the child's end of a fresh control
 * channel. The server clones the child with CLONE_PARENT, so the child is a
 * child of the program, not of the server: the program reaps it and
 * publishes its exit event (as under spawn and fork), the child's
 * PR_SET_PDEATHSIG is tied to the program, and the server keeps nothing per
 * child (it closes its copy of the channel at once). A server that dies
 * therefore takes no child with it; the next start notices (its socket hung
 * up) and starts a new server: forked while the program is nng-free, else
 * spawned from /proc/self/exe (tp_init in the new image becomes the server,
 * TROUPE_FORKSERVER_FD naming its socket). The server dies with the program.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "process_int.h"
#include "reactor.h"
#include "runtime_int.h"
#include "troupe/error.h"

extern char **environ;

struct server {
	tp__reactor *r; /* its loop: the socket and the program's pidfd */
	int sock;
	pid_t parent; /* the program: the real parent of every child */
	int *tidaddr; /* glibc's cached tid of this (only) thread */
	void *robust; /* glibc's robust mutex list head */
	size_t robust_len;
};

/* The exit status of an exited, not yet reaped child (waitid WNOWAIT). */
int tp__wait_status(const siginfo_t *si)
{
	if (si->si_code == CLD_EXITED)
		return (si->si_status & 0xff) << 8;
	return (si->si_status & 0x7f) | (si->si_code == CLD_DUMPED ? 0x80 : 0);
}

/*
 * fork() whose child is the server's sibling. The raw clone skips glibc's
 * fork bookkeeping, harmless in this single-threaded process that holds no
 * lock, except two per-thread kernel registrations the child must redo as
 * glibc's fork does: the tid glibc caches (mutex owners, robust mutexes) and
 * the robust mutex list (so a child killed holding a process-shared robust
 * lock releases it).
 */
static pid_t clone_sibling(const struct server *s)
{
#if defined(__x86_64__)
	/* the kernel stores the tid and registers it, as glibc's fork asks
	 * (x86_64's argument order: flags, stack, ptid, ctid, tls) */
	pid_t pid = (pid_t)syscall(SYS_clone,
	                           CLONE_PARENT | CLONE_CHILD_SETTID |
	                               CLONE_CHILD_CLEARTID | SIGCHLD,
	                           NULL, NULL, s->tidaddr, NULL);
	if (pid != 0)
		return pid;
#else
	pid_t pid = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, NULL,
	                           NULL, NULL, NULL);
	if (pid != 0)
		return pid;
	*s->tidaddr = (int)syscall(SYS_gettid);
	syscall(SYS_set_tid_address, s->tidaddr);
#endif
	if (s->robust != NULL)
		syscall(SYS_set_robust_list, s->robust, s->robust_len);
	return 0;
}

/* SIGINT back to its default action (the server ignores it). On x86_64
 * through syscall(), whose code the clone returned through (signal()'s
 * would be one more page fault per child); the kernel's struct sigaction
 * there: handler, flags, restorer, mask. */
static void sigint_default(void)
{
#if defined(__x86_64__)
	struct {
		void (*handler)(int);
		unsigned long flags;
		void (*restorer)(void);
		unsigned long mask;
	} ka = {.handler = SIG_DFL};
	syscall(SYS_rt_sigaction, SIGINT, &ka, NULL, sizeof(ka.mask));
#else
	signal(SIGINT, SIG_DFL);
#endif
}

/* In the freshly cloned child: drop the server's socket, loop and signal
 * setup (the exit log was closed once in the server). */
static _Noreturn void server_child(const struct server *s, int fd)
{
	close(s->sock);
	tp__reactor_forget(s->r);
	sigint_default(); /* ignored by the server only */
	tp__child_run(fd, s->parent);
}

static void server_fork(const struct server *s)
{
	char name[TP_NAME_MAX];
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = name, .iov_len = sizeof(name) - 1};
	struct msghdr mh = {.msg_iov = &iov,
	                    .msg_iovlen = 1,
	                    .msg_control = cbuf,
	                    .msg_controllen = sizeof(cbuf)};
	ssize_t n = recvmsg(s->sock, &mh, MSG_CMSG_CLOEXEC);
	if (n <= 0) {
		if (n == 0 || (errno != EINTR && errno != EAGAIN))
			_exit(0); /* the parent closed the socket: stop */
		return;
	}
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	if (c == NULL || c->cmsg_type != SCM_RIGHTS)
		return;
	int fd;
	memcpy(&fd, CMSG_DATA(c), sizeof(fd));
	pid_t pid = clone_sibling(s);
	if (pid == 0)
		server_child(s, fd);
	if (pid < 0) {
		Troupe__Envelope env = TROUPE__ENVELOPE__INIT;
		Troupe__ProcessStarted st = TROUPE__PROCESS_STARTED__INIT;
		st.error = errno;
		env.body_case = TROUPE__ENVELOPE__BODY_PROCESS_STARTED;
		env.process_started = &st;
		tp__ctl_send(fd, &env);
	}
	close(fd);
}

/* A request on the socket (or its hang-up: the program closed it). */
static void on_request(tp__rsrc *src, uint32_t events, void *arg)
{
	(void)src;
	(void)events;
	server_fork(arg);
}

/* The program is gone (its pidfd): so is the server. PR_SET_PDEATHSIG
 * says the same at once, but follows the thread that made the server. */
static void on_parent_exit(tp__rsrc *src, uint32_t events, void *arg)
{
	(void)src;
	(void)events;
	(void)arg;
	_exit(0);
}

/*
 * The server's loop is a reactor (rt/reactor.h) with two sources: the
 * request socket and the program's pidfd. One epoll_wait more per child
 * than a blocking recvmsg (docs/performance.md, "The fork server on the
 * reactor"); the children close what the loop opened.
 */
_Noreturn void tp__server_run(int sock, pid_t parent)
{
	struct server s = {.sock = sock, .parent = parent};
	sigset_t set;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);
	prctl(PR_SET_NAME, "troupe-forksrv");
	if (prctl(PR_GET_TID_ADDRESS, &s.tidaddr) != 0 || s.tidaddr == NULL)
		_exit(1);
	if (syscall(SYS_get_robust_list, 0, &s.robust, &s.robust_len) != 0)
		s.robust = NULL;
	signal(SIGINT, SIG_IGN);  /* ^C reaches the group: let the parent act */
	signal(SIGCHLD, SIG_DFL); /* it never has children of its own */
	tp__exit_log_close();     /* it publishes no exit: nor its children */
	tp__child_prepare();      /* once here, not in every child */
	sigemptyset(&set);
	sigprocmask(SIG_SETMASK, &set, NULL);
	if (tp__reactor_new(&s.r) != TP_OK ||
	    tp__reactor_add_fd(s.r, sock, EPOLLIN, on_request, &s, NULL) !=
	        TP_OK ||
	    tp__reactor_add_pid(s.r, parent, on_parent_exit, NULL, NULL) !=
	        TP_OK)
		_exit(1);
	tp__reactor_run(s.r);
	_exit(1); /* epoll_wait failed */
}

/* The new image's tp_init becomes the server (tp__spawn_child_check). */
static int server_spawn(int sock, pid_t *pid)
{
	char fdv[48], ppv[48], *rdv = NULL;
	size_t n = 0, j = 0;
	while (environ[n] != NULL)
		n++;
	char **env = calloc(n + 4, sizeof(char *));
	if (env == NULL ||
	    asprintf(&rdv, TP_ENV_RUNDIR "=%s", tp__rt.dir) < 0) {
		free(env);
		return TP_ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], TP_ENV_SERVER_FD "=", 21) != 0 &&
		    strncmp(environ[i], TP_ENV_PARENT_PID "=", 18) != 0 &&
		    strncmp(environ[i], TP_ENV_START_FD "=", 16) != 0 &&
		    strncmp(environ[i], TP_ENV_RUNDIR "=", 14) != 0)
			env[j++] = environ[i];
	snprintf(fdv, sizeof(fdv), TP_ENV_SERVER_FD "=%d", sock);
	snprintf(ppv, sizeof(ppv), TP_ENV_PARENT_PID "=%d", (int)getpid());
	env[j++] = fdv;
	env[j++] = ppv;
	env[j++] = rdv;
	int rv = tp__launch_self(sock, env, pid);
	free(rdv);
	free(env);
	return rv;
}

int tp__server_start(void)
{
	int sv[2], rv = TP_OK, *probe = NULL;
	pid_t parent = getpid(), pid;
	if (prctl(PR_GET_TID_ADDRESS, &probe) != 0)
		return tp_err_errno(ENOSYS); /* no CONFIG_CHECKPOINT_RESTORE */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
		return tp_err_errno(errno);
	if (tp__nng_was_used()) {
		rv = server_spawn(sv[1], &pid);
	} else {
		pid = tp__launch_fork();
		if (pid < 0)
			rv = tp_err_errno(errno);
		if (pid == 0) {
			close(sv[0]);
			tp__close_inherited();
			tp__server_run(sv[1], parent);
		}
	}
	close(sv[1]);
	if (rv != TP_OK) {
		close(sv[0]);
		return rv;
	}
	tp__pm.server_fd = sv[0];
	tp__pm.server_pid = pid;
	return TP_OK;
}

void tp__server_stop(void)
{
	if (tp__pm.server_fd < 0)
		return;
	close(tp__pm.server_fd);
	tp__pm.server_fd = -1;
	tp__pid_reap(tp__pm.server_pid);
	tp__pm.server_pid = 0;
}

int tp__server_dead(void)
{
	struct pollfd pfd = {.fd = tp__pm.server_fd, .events = 0};
	if (tp__pm.server_fd < 0)
		return 1;
	if (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLHUP | POLLERR))) {
		tp__server_stop(); /* closed its end: it is exiting; reap */
		return 1;
	}
	return 0;
}

int tp__server_request(int child_fd, const char *name)
{
	char cbuf[CMSG_SPACE(sizeof(int))], msg[TP_NAME_MAX];
	int n = snprintf(msg, sizeof(msg), "S%s", name);
	struct iovec iov = {.iov_base = msg,
	                    .iov_len = n < (int)sizeof(msg) ? (size_t)n
	                                                    : sizeof(msg) - 1};
	struct msghdr mh = {.msg_iov = &iov,
	                    .msg_iovlen = 1,
	                    .msg_control = cbuf,
	                    .msg_controllen = sizeof(cbuf)};
	memset(cbuf, 0, sizeof(cbuf));
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &child_fd, sizeof(int));
	while (sendmsg(tp__pm.server_fd, &mh, MSG_NOSIGNAL) < 0) {
		if (errno == EPIPE || errno == ECONNRESET ||
		    errno == ECONNREFUSED || errno == ENOTCONN)
			return TP_EDIED;
		if (errno != EINTR)
			return tp_err_errno(errno);
	}
	return TP_OK;
}
