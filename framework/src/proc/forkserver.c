/*
 * forkserver.c - the fork server: a small single-threaded process forked at
 * tp_init (before the program starts threads or nng) that forks children on
 * request. nng cannot be used in a process forked after nng started, so the
 * children of a program that uses nng are forked from this clean copy.
 *
 * Protocol: the parent sends one SOCK_SEQPACKET datagram per start holding
 * the child's name and, with SCM_RIGHTS, the child's end of a fresh control
 * channel. The server forks; the child reads its start request from that
 * channel (child.c). The server is the child's real parent: it keeps its
 * copy of the child's end, and when it reaps the child it publishes the
 * exit event and writes it as the last frame on the channel before closing
 * it, so the parent's end reaches end of file only after the exit status
 * has arrived. PDEATHSIG chain: the server dies with the parent, children
 * die with the server.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "process_int.h"
#include "runtime_int.h"
#include "troupe/error.h"

#define SERVER_MAX_KIDS 4096

struct kid {
	pid_t pid;
	int fd;
	char name[TP_NAME_MAX];
	unsigned char *out; /* pending exit frame */
	size_t out_len, out_off;
};

struct server {
	int sock, sfd;
	pid_t pid;
	struct kid *kids;
	int n;
	struct pollfd *pfds;
};

static void kid_drop(struct server *s, int i)
{
	close(s->kids[i].fd);
	free(s->kids[i].out);
	s->kids[i] = s->kids[--s->n];
}

/* Writes as much of the pending exit frame as the socket takes now;
 * closes the channel when done or when the parent end is gone. */
static int kid_flush(struct server *s, int i)
{
	struct kid *k = &s->kids[i];
	while (k->out_off < k->out_len) {
		ssize_t n =
		    send(k->fd, k->out + k->out_off, k->out_len - k->out_off,
		         MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0)
			break;
		k->out_off += (size_t)n;
	}
	kid_drop(s, i);
	return 1;
}

/* The exit status of an exited, not yet reaped child (waitid WNOWAIT). */
int tp__wait_status(const siginfo_t *si)
{
	if (si->si_code == CLD_EXITED)
		return (si->si_status & 0xff) << 8;
	return (si->si_status & 0x7f) | (si->si_code == CLD_DUMPED ? 0x80 : 0);
}

/* Publishes the event of one exited kid, then reaps it: a monitor that
 * finds the pid gone always finds its event. */
static void server_reap_one(struct server *s, const siginfo_t *si)
{
	pid_t pid = si->si_pid;
	int status = tp__wait_status(si), i;
	void *buf = NULL;
	size_t len = 0;
	for (i = 0; i < s->n && s->kids[i].pid != pid; i++)
		;
	if (i == s->n) {
		waitpid(pid, NULL, 0);
		return;
	}
	struct kid *k = &s->kids[i];
	int rv = tp__exit_publish(pid, k->name, status, &buf, &len);
	waitpid(pid, NULL, 0);
	k->pid = 0;
	if (rv != TP_OK || (k->out = malloc(len + 4)) == NULL) {
		free(buf);
		kid_drop(s, i);
		return;
	}
	k->out[0] = (unsigned char)len;
	k->out[1] = (unsigned char)(len >> 8);
	k->out[2] = (unsigned char)(len >> 16);
	k->out[3] = (unsigned char)(len >> 24);
	memcpy(k->out + 4, buf, len);
	free(buf);
	k->out_len = len + 4;
	kid_flush(s, i);
}

static void server_reap(struct server *s)
{
	struct signalfd_siginfo ssi;
	siginfo_t si;
	while (read(s->sfd, &ssi, sizeof(ssi)) > 0)
		;
	for (;;) {
		memset(&si, 0, sizeof(si));
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0 ||
		    si.si_pid == 0)
			return;
		server_reap_one(s, &si);
	}
}

/* In the freshly forked child: drop the server's fds and signal setup. */
static _Noreturn void server_child(struct server *s, int fd)
{
	sigset_t set;
	close(s->sock);
	close(s->sfd);
	for (int i = 0; i < s->n; i++)
		close(s->kids[i].fd);
	tp__exit_log_close();
	sigemptyset(&set);
	sigprocmask(SIG_SETMASK, &set, NULL);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGINT, SIG_DFL); /* ignored by the server only */
	tp__child_run(fd, s->pid);
}

static void server_fork(struct server *s)
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
	name[n] = '\0'; /* name[0] is the 'S' marker: never an empty datagram */
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	if (c == NULL || c->cmsg_type != SCM_RIGHTS)
		return;
	int fd;
	memcpy(&fd, CMSG_DATA(c), sizeof(fd));
	if (s->n == SERVER_MAX_KIDS) {
		close(fd);
		return;
	}
	pid_t pid = fork();
	if (pid == 0)
		server_child(s, fd);
	if (pid < 0) {
		Troupe__Envelope env = TROUPE__ENVELOPE__INIT;
		Troupe__ProcessStarted st = TROUPE__PROCESS_STARTED__INIT;
		st.error = errno;
		env.body_case = TROUPE__ENVELOPE__BODY_PROCESS_STARTED;
		env.process_started = &st;
		tp__ctl_send(fd, &env);
		close(fd);
		return;
	}
	struct kid *k = &s->kids[s->n++];
	memset(k, 0, sizeof(*k));
	k->pid = pid;
	k->fd = fd;
	snprintf(k->name, sizeof(k->name), "%s", name + 1);
}

static _Noreturn void server_main(int sock, pid_t parent)
{
	struct server s = {.sock = sock, .pid = getpid()};
	sigset_t set;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);
	prctl(PR_SET_NAME, "troupe-forksrv");
	signal(SIGINT, SIG_IGN);  /* ^C reaches the group: let the parent act */
	signal(SIGCHLD, SIG_DFL); /* SIG_IGN inherited would auto-reap */
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	s.sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	s.kids = calloc(SERVER_MAX_KIDS, sizeof(*s.kids));
	s.pfds = calloc(SERVER_MAX_KIDS + 2, sizeof(*s.pfds));
	if (s.sfd < 0 || s.kids == NULL || s.pfds == NULL)
		_exit(1);
	for (;;) {
		int np = 2;
		s.pfds[0] = (struct pollfd){.fd = s.sock, .events = POLLIN};
		s.pfds[1] = (struct pollfd){.fd = s.sfd, .events = POLLIN};
		for (int i = 0; i < s.n; i++)
			if (s.kids[i].out != NULL)
				s.pfds[np++] = (struct pollfd){
				    .fd = s.kids[i].fd, .events = POLLOUT};
		if (poll(s.pfds, (nfds_t)np, -1) < 0)
			continue;
		if (s.pfds[1].revents)
			server_reap(&s);
		for (int i = s.n - 1; i >= 0; i--)
			if (s.kids[i].out != NULL)
				kid_flush(&s, i);
		if (s.pfds[0].revents & (POLLIN | POLLHUP))
			server_fork(&s);
	}
}

int tp__server_start(void)
{
	int sv[2];
	pid_t parent = getpid();
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
		return tp_err_errno(errno);
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(sv[0]);
		close(sv[1]);
		return tp_err_errno(e);
	}
	if (pid == 0) {
		close(sv[0]);
		tp__close_inherited();
		server_main(sv[1], parent);
	}
	close(sv[1]);
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
	while (waitpid(tp__pm.server_pid, NULL, 0) < 0 && errno == EINTR)
		;
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
