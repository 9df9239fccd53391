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
 *
 * The spares: the server keeps a few children (tp__server_spares_wanted)
 * cloned ahead of the
 * next requests, so that a start waits for no clone. The server announces
 * each spare (also CLONE_PARENT: the program's child from birth) to the
 * program on the request socket ('P' and its pid), then tells it to go:
 * the program holds the announcement before the spare may take a
 * request, so before its ProcessStarted can arrive. The spare warms up
 * (tp__child_warm) and waits on the request socket and the server's
 * pidfd; a request wakes every waiting spare, one takes it, tells the
 * server on its own note socket ('t'), closes both and runs the child;
 * the server then clones a replacement while the child starts. While
 * spares exist the server does not read the request socket. Without one
 * (the clones failed: the server sends 'N'; or the spares died untaken)
 * the server serves the next request itself, as before, and then clones
 * new spares. A spare exits when the program hangs up the request socket
 * or the server dies. The program lists announced spares, drops each one
 * a start adopted, reaps the dead ones when no start is in flight, and,
 * to stop the server, shuts its side of the socket down, waits until the
 * server and every spare closed theirs, reads the last announcements,
 * then kills and reaps the listed spares.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
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

#include "child_int.h"
#include "clock.h"
#include "pidwatch.h"
#include "process_int.h"
#include "reactor.h"
#include "runtime_int.h"
#include "troupe/error.h"

extern char **environ;

struct server {
	tp__reactor *r; /* its loop: the socket and the program's pidfd */
	int sock;
	tp__rsrc *sock_src;
	int reads; /* the loop reads the requests (no spare): EPOLLIN */
	struct spare {
		struct server *s;
		int note; /* its note socket, -1: a free slot */
		tp__rsrc *src;
	} spare[TP__SPARES_MAX];
	int want; /* how many spares it keeps */
	int nspare;
	int deaths;   /* spares that died untaken since the last take */
	int self_fd;  /* a pidfd of the server itself, -1 where none: its
	                 spares watch it for its death */
	pid_t parent; /* the program: the real parent of every child */
	int *tidaddr; /* glibc's cached tid of this (only) thread */
	void *robust; /* glibc's robust mutex list head */
	size_t robust_len;
};

int tp__server_spares_wanted(void)
{
	const char *e = getenv("TROUPE_FORKSERVER_SPARES");
	char *end = NULL;
	long v = e != NULL && *e != '\0' ? strtol(e, &end, 10) : -1;
	if (end == NULL || *end != '\0' || v < 0)
		return TP__SPARES;
	return v > TP__SPARES_MAX ? TP__SPARES_MAX : (int)v;
}

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

/* In a freshly cloned child or spare: drop the server's loop, its ends of
 * the spares' note sockets (a spare must see its own hang up when the
 * server dies) and its signal setup (the exit log was closed once in the
 * server). */
static void clone_forget(const struct server *s)
{
	for (int i = 0; i < TP__SPARES_MAX; i++)
		if (s->spare[i].note >= 0)
			close(s->spare[i].note);
	tp__reactor_forget(s->r);
	sigint_default(); /* ignored by the server only */
}

/* In a clone about to run its child: the server's socket and pidfd go
 * too (a spare kept them while it waited). */
static void clone_leave(const struct server *s)
{
	close(s->sock);
	if (s->self_fd >= 0)
		close(s->self_fd);
}

/* A start request: the child's channel end (SCM_RIGHTS, close-on-exec),
 * -1 when the datagram carries none (skipped), -2 at end of file or on an
 * error other than EINTR/EAGAIN (the program is gone). */
static int take_request(int sock, int flags)
{
	char name[TP_NAME_MAX];
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = name, .iov_len = sizeof(name) - 1};
	struct msghdr mh = {.msg_iov = &iov,
	                    .msg_iovlen = 1,
	                    .msg_control = cbuf,
	                    .msg_controllen = sizeof(cbuf)};
	ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | flags);
	if (n <= 0)
		return n == 0 || (errno != EINTR && errno != EAGAIN) ? -2 : -1;
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	if (c == NULL || c->cmsg_type != SCM_RIGHTS)
		return -1;
	int fd;
	memcpy(&fd, CMSG_DATA(c), sizeof(fd));
	return fd;
}

/* One announcement to the program: 'P' and a spare's pid, or 'N' (no
 * spare: the next requests are served by a clone each, until a spare
 * exists again). */
static int say(const struct server *s, char tag, pid_t pid)
{
	struct {
		char tag;
		int32_t pid;
	} m = {tag, (int32_t)pid};
	ssize_t n;
	while ((n = send(s->sock, &m, sizeof(m), MSG_NOSIGNAL)) < 0 &&
	       errno == EINTR)
		;
	return n == (ssize_t)sizeof(m) ? 0 : -1;
}

/* Waits for a request on the shared socket, or for the server's death
 * (its pidfd, self_fd: the note's hang-up alone can come late, while a
 * spare cloned after this one still holds the server's end of its note);
 * -2 when the spare should exit. Every spare waiting is woken by a
 * request and one takes it; the others find nothing and wait again.
 * (Not EPOLLEXCLUSIVE: the one spare it wakes may be killed before it
 * takes the request, and no other would be woken for it.) */
static int spare_wait(const struct server *s, int note)
{
	for (;;) {
		struct pollfd pf[3] = {{.fd = s->sock, .events = POLLIN},
		                       {.fd = note, .events = POLLIN},
		                       {.fd = s->self_fd, .events = POLLIN}};
		int n = poll(pf, 3, -1);
		if (n < 0 && errno != EINTR)
			return -2;
		/* The server's death wins over a request that came with it:
		 * the program then finds the server gone and replaces it. */
		if (n > 0 && (pf[1].revents != 0 || pf[2].revents != 0))
			return -2;
		if (n > 0 && pf[0].revents != 0) {
			/* another spare may have taken it: -1, wait again */
			int fd = take_request(s->sock, MSG_DONTWAIT);
			if (fd != -1)
				return fd;
		}
	}
}

/* The spare's life: wait for the server's go (sent once the program was
 * told the spare's pid), then for a request or a hang-up; take it, tell
 * the server, become the child. */
static _Noreturn void spare_run(const struct server *s, int note)
{
	char c;
	clone_forget(s);
	ssize_t n;
	while ((n = recv(note, &c, 1, 0)) < 0 && errno == EINTR)
		;
	if (n != 1) {
		/* The server died, maybe before it announced this spare: it
		 * does so itself (a second listing of a pid that never ran a
		 * child is harmless), so that the program reaps it. */
		say(s, 'P', (pid_t)syscall(SYS_getpid));
		_exit(0);
	}
	tp__child_warm(s->parent);
	int fd = spare_wait(s, note);
	if (fd < 0)
		_exit(0);
	c = 't'; /* (on the stack: a literal's page would fault in now) */
	while (send(note, &c, 1, MSG_NOSIGNAL) < 0 && errno == EINTR)
		; /* a server that died meanwhile: it needs no note */
	close(note);
	clone_leave(s);
	tp__child_run(fd, s->parent);
}

static void on_spare(tp__rsrc *src, uint32_t events, void *arg);

/* Whether the loop reads the request socket (no spare) or only watches
 * it for the program's hang-up. A server that cannot switch exits: the
 * next start replaces it, where a server that never read would hang it. */
static void sock_reads(struct server *s, int on)
{
	if (s->reads == on)
		return;
	if (tp__reactor_mod_fd(s->sock_src, on ? EPOLLIN : EPOLLRDHUP) != TP_OK)
		_exit(1);
	s->reads = on;
}

/* Clones one spare into a free slot: 0, or -1 when it could not. */
static int spare_make(struct server *s)
{
	struct spare *sp = NULL;
	int sv[2];
	for (int i = 0; i < s->want && sp == NULL; i++)
		if (s->spare[i].note < 0)
			sp = &s->spare[i];
	if (sp == NULL ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
		return -1;
	pid_t pid = clone_sibling(s);
	if (pid == 0) {
		close(sv[0]);
		spare_run(s, sv[1]);
	}
	close(sv[1]);
	/* the program learns the pid before the spare may take a request,
	 * so before its ProcessStarted can arrive */
	if (pid > 0 && say(s, 'P', pid) == 0 &&
	    send(sv[0], "g", 1, MSG_NOSIGNAL) == 1 &&
	    tp__reactor_add_fd(s->r, sv[0], EPOLLIN, on_spare, sp, &sp->src) ==
	        TP_OK) {
		sp->note = sv[0];
		s->nspare++;
		return 0;
	}
	close(sv[0]); /* a spare cloned all the same exits on it */
	return -1;
}

/* Clones spares up to s->want (when clone is set); with none, the
 * server reads the requests itself and says so to the program ('N'). */
static void spares_fill(struct server *s, int clone)
{
	while (clone && s->nspare < s->want && spare_make(s) == 0)
		;
	if (s->nspare == 0)
		say(s, 'N', 0);
	sock_reads(s, s->nspare == 0);
}

/* A spare took a request ('t'), or died untaken (end of file). */
static void on_spare(tp__rsrc *src, uint32_t events, void *arg)
{
	struct spare *sp = arg;
	struct server *s = sp->s;
	char c;
	(void)events;
	ssize_t n = recv(sp->note, &c, 1, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	tp__reactor_del(src);
	close(sp->note);
	sp->note = -1;
	sp->src = NULL;
	s->nspare--;
	if (n == 1)
		s->deaths = 0;
	/* A spare killed while waiting is replaced, but after a few in a
	 * row only at the next start (spares that keep dying cost one clone
	 * per start, never a loop). */
	spares_fill(s, n == 1 || ++s->deaths < 4);
}

/* Without a spare: the request read and cloned here, then a spare made. */
static void server_fork(struct server *s)
{
	int fd = take_request(s->sock, 0);
	if (fd == -2)
		_exit(0); /* the parent closed the socket: stop */
	if (fd < 0)
		return;
	pid_t pid = clone_sibling(s);
	if (pid == 0) {
		clone_leave(s);
		clone_forget(s);
		tp__child_run(fd, s->parent);
	}
	if (pid < 0) {
		Troupe__Envelope env = TROUPE__ENVELOPE__INIT;
		Troupe__ProcessStarted st = TROUPE__PROCESS_STARTED__INIT;
		st.error = errno;
		env.body_case = TROUPE__ENVELOPE__BODY_PROCESS_STARTED;
		env.process_started = &st;
		tp__ctl_send(fd, &env);
	}
	close(fd);
	s->deaths = 0;
	spares_fill(s, 1);
}

/* A request on the socket (or its hang-up: the program shut it down or
 * closed it). With a spare, only a hang-up comes here: the spare reads
 * the requests. */
static void on_request(tp__rsrc *src, uint32_t events, void *arg)
{
	struct server *s = arg;
	(void)src;
	if (s->nspare > 0) {
		if (events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP))
			_exit(0);
		return;
	}
	server_fork(s);
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
 * The server's loop is a reactor (rt/reactor.h) with three sources: the
 * request socket (read here only while there is no spare; else only its
 * hang-up), the spare's note socket and the program's pidfd. One
 * epoll_wait more per child than a blocking recvmsg (docs/performance.md,
 * "The fork server on the reactor"); children and spares close what the
 * loop opened.
 */
_Noreturn void tp__server_run(int sock, pid_t parent)
{
	struct server s = {.sock = sock, .reads = 1, .parent = parent};
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
	    tp__reactor_add_fd(s.r, sock, EPOLLIN, on_request, &s,
	                       &s.sock_src) != TP_OK ||
	    tp__reactor_add_pid(s.r, parent, on_parent_exit, NULL, NULL) !=
	        TP_OK)
		_exit(1);
	for (int i = 0; i < TP__SPARES_MAX; i++)
		s.spare[i] = (struct spare){.s = &s, .note = -1};
	s.want = tp__server_spares_wanted();
	if (tp__pid_watch(getpid(), &s.self_fd) != TP_OK) /* cloexec */
		s.self_fd = -1;
	spares_fill(&s, 1);
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

static void spares_new_server(void);

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
	spares_new_server();
	return TP_OK;
}

/*
 * The program's side of the spares. A spare is this process's child from
 * its birth: listed when its announcement is read, dropped when a start
 * adopted it (tp__server_started), reaped here when it died untaken (only
 * while no start is in flight, so that a child that died right after its
 * ProcessStarted is never taken from the start adopting it), killed and
 * reaped when the server stops.
 */
static struct {
	pthread_mutex_t mu;
	pid_t *pid;
	size_t n, cap;
	int none;     /* the server said it has no spare ('N') */
	int want;     /* how many the server keeps (its start's environment) */
	int inflight; /* starts between their request and tp__server_started */
} spares = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* A server was started: it keeps as many spares as its environment,
 * this process's, says. */
static void spares_new_server(void)
{
	pthread_mutex_lock(&spares.mu);
	spares.want = tp__server_spares_wanted();
	pthread_mutex_unlock(&spares.mu);
}

static void spare_list(pid_t pid)
{
	for (size_t i = 0; i < spares.n; i++)
		if (spares.pid[i] == pid)
			return; /* announced again by itself (spare_run) */
	if (spares.n == spares.cap) {
		size_t cap = spares.cap ? spares.cap * 2 : 4;
		pid_t *np = realloc(spares.pid, cap * sizeof(pid_t));
		if (np == NULL)
			return; /* unlisted: reaped by no one until exit */
		spares.pid = np;
		spares.cap = cap;
	}
	spares.pid[spares.n++] = pid;
}

static void spare_unlist(size_t i)
{
	spares.pid[i] = spares.pid[--spares.n];
}

/* Reads every announcement there is (spares.mu held): 1 when the server
 * hung up. A request nobody read when the last holder of the server's
 * end closed it makes the next recv say ECONNRESET, once, before the
 * datagrams still queued (an orphaned spare's announcement among them):
 * reading goes on after it. */
static int spares_drain(void)
{
	struct {
		char tag;
		int32_t pid;
	} m;
	int hup = 0;
	for (;;) {
		ssize_t n = recv(tp__pm.server_fd, &m, sizeof(m), MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == ECONNRESET)) {
			hup |= errno == ECONNRESET;
			continue;
		}
		if (n <= 0)
			return hup || n == 0 || errno != EAGAIN;
		if (n != (ssize_t)sizeof(m))
			continue;
		if (m.tag == 'P' && m.pid > 0) {
			spare_list((pid_t)m.pid);
			spares.none = 0;
		} else if (m.tag == 'N') {
			spares.none = 1;
		}
	}
}

/* Reaps the listed spares that died untaken (spares.mu held, no start in
 * flight). */
static void spares_reap_dead(void)
{
	for (size_t i = 0; i < spares.n;)
		if (tp__pid_reap_if_dead(spares.pid[i]))
			spare_unlist(i); /* reaped now, or not ours to reap */
		else
			i++; /* alive: waiting for a request */
}

/* Drops pid from the list: 1 when it was there. */
static int spare_adopted(pid_t pid)
{
	for (size_t i = 0; i < spares.n; i++)
		if (spares.pid[i] == pid) {
			spare_unlist(i);
			return 1;
		}
	return 0;
}

void tp__server_started(pid_t pid)
{
	pthread_mutex_lock(&spares.mu);
	/* Its announcement was read at a request before, as a rule; else it
	 * is queued by now (sent before the spare could take a request) */
	if (pid > 0 && !spare_adopted(pid) && tp__pm.server_fd >= 0) {
		spares_drain();
		spare_adopted(pid);
	}
	if (spares.inflight > 0)
		spares.inflight--;
	pthread_mutex_unlock(&spares.mu);
}

int tp__server_settle(int timeout_ms)
{
	int64_t deadline = tp__deadline(timeout_ms);
	for (;;) {
		pthread_mutex_lock(&spares.mu);
		int hup = tp__pm.server_fd < 0 || spares_drain();
		if (spares.inflight == 0)
			spares_reap_dead();
		int done =
		    hup || spares.n >= (size_t)spares.want || spares.none;
		int fd = tp__pm.server_fd;
		pthread_mutex_unlock(&spares.mu);
		if (done)
			return TP_OK;
		int wait = tp__remaining(deadline);
		if (wait == 0)
			return TP_ETIMEDOUT;
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (poll(&pfd, 1, wait) < 0 && errno != EINTR)
			return tp_err_errno(errno);
	}
}

int tp__server_spares(pid_t *out, int max)
{
	int n = 0;
	pthread_mutex_lock(&spares.mu);
	if (tp__pm.server_fd >= 0)
		spares_drain();
	for (size_t i = 0; i < spares.n && n < max; i++)
		out[n++] = spares.pid[i];
	pthread_mutex_unlock(&spares.mu);
	return n;
}

void tp__server_forget(void)
{
	/* in a forked child: the spares are its parent's */
	free(spares.pid);
	spares.pid = NULL;
	spares.n = spares.cap = 0;
	spares.none = spares.inflight = 0;
	pthread_mutex_init(&spares.mu, NULL);
}

/* After the shutdown in tp__server_stop: waits (at most 10 s: a stopped
 * spare) until the server and every spare have closed their end of the
 * socket, reading the announcements meanwhile. */
static void spares_wait_gone(void)
{
	int64_t deadline = tp__deadline(10000);
	for (;;) {
		struct pollfd pfd = {.fd = tp__pm.server_fd, .events = POLLIN};
		int wait = tp__remaining(deadline);
		int r = poll(&pfd, 1, wait);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || (pfd.revents & (POLLHUP | POLLERR)))
			return;
		if (spares_drain())
			return;
	}
}

void tp__server_stop(void)
{
	if (tp__pm.server_fd < 0)
		return;
	pthread_mutex_lock(&spares.mu);
	/* The server and a waiting spare see end of file and exit; a spare
	 * the server made but had not announced when it died announces
	 * itself. Once the socket hangs up, each of them is gone and every
	 * announcement is here. */
	shutdown(tp__pm.server_fd, SHUT_WR);
	spares_wait_gone();
	spares_drain();
	close(tp__pm.server_fd);
	tp__pm.server_fd = -1;
	tp__pid_reap(tp__pm.server_pid);
	tp__pm.server_pid = 0;
	/* Listed: spares, and children whose start failed after they took
	 * it; none is a user's child. With no start in flight (tp_fini, a
	 * lone start that found the server dead) they are killed and
	 * reaped. With starts in flight in other threads, a listed child may
	 * be one of theirs, not yet adopted: only the dead are reaped (every
	 * spare that took no request is gone by now), the rest stay listed
	 * for tp__server_started or a later reap. */
	for (size_t i = 0; i < spares.n;) {
		if (spares.inflight == 0) {
			kill(spares.pid[i], SIGKILL);
			tp__pid_reap(spares.pid[i]);
			spare_unlist(i);
		} else if (tp__pid_reap_if_dead(spares.pid[i])) {
			spare_unlist(i);
		} else {
			i++;
		}
	}
	spares.none = 0;
	pthread_mutex_unlock(&spares.mu);
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
	pthread_mutex_lock(&spares.mu);
	spares_drain();
	/* more listed than the server keeps: some died untaken (or took a
	 * start that failed); reaped while no start is in flight */
	if (spares.inflight == 0 && spares.n > (size_t)spares.want)
		spares_reap_dead();
	spares.inflight++;
	pthread_mutex_unlock(&spares.mu);
	int rv = TP_OK;
	while (sendmsg(tp__pm.server_fd, &mh, MSG_NOSIGNAL) < 0) {
		if (errno == EPIPE || errno == ECONNRESET ||
		    errno == ECONNREFUSED || errno == ENOTCONN) {
			rv = TP_EDIED;
			break;
		}
		if (errno != EINTR) {
			rv = tp_err_errno(errno);
			break;
		}
	}
	if (rv != TP_OK)
		tp__server_started(0); /* no start in flight after all */
	return rv;
}
