/*
 * start.c - the three start methods. Each makes a control channel (a unix
 * stream socketpair), gets a child running on the other end, writes the
 * ProcessStart request into it and waits for the child's ProcessStarted.
 *  - forkserver: the child's end goes to the fork server (SCM_RIGHTS),
 *    which forks; the server reaps and sends the exit frame.
 *  - spawn: posix_spawn of /proc/self/exe with TROUPE_START_FD naming the
 *    inherited end; the child's tp_init() runs the target (child.c).
 *  - fork: plain fork, only while this process has not touched nng.
 * The processes themselves are started in launch.c.
 * Under every method this process is the real parent: the child becomes a
 * struct tp__child (child_int.h), watched and reaped through watch.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log_int.h"
#include "process_int.h"
#include "runtime_int.h"
#include "troupe/error.h"
#include "wire.h"

extern char **environ;

static int send_start(tp_process *p)
{
	Troupe__Envelope env = TROUPE__ENVELOPE__INIT;
	Troupe__ProcessStart st = TROUPE__PROCESS_START__INIT;
	Troupe__Payload pb;
	Troupe__LogConfig lpb;
	tp_log_config *log = NULL;
	int rv = tp__payload_to_pb(p->args, &pb);
	if (rv != TP_OK)
		return rv;
	if (tp_log_config_get(&log) == TP_OK) { /* cloned by the child */
		tp__log_config_to_pb(log, &lpb);
		st.log_config = &lpb;
	}
	st.target = p->target;
	st.name = p->name;
	st.identity = p->identity;
	st.args = &pb;
	st.daemon = p->daemon;
	st.new_group = p->new_group;
	st.parent_pid = getpid();
	st.parent_name = tp__pm.self.name;
	st.default_method = (int32_t)tp__rt.method;
	env.body_case = TROUPE__ENVELOPE__BODY_PROCESS_START;
	env.process_start = &st;
	rv = tp__ctl_send(p->fd, &env);
	tp__payload_pb_release(&pb);
	tp_log_config_free(log);
	return rv;
}

/* Waits for ProcessStarted; frames after it stay buffered in p->rb. */
static int wait_started(tp_process *p)
{
	Troupe__Envelope *env = NULL;
	int rv = tp__ctl_read(p->fd, &p->rb, &env);
	if (rv != TP_OK)
		return rv == TP_ECLOSED ? TP_EDIED : rv;
	if (env->body_case != TROUPE__ENVELOPE__BODY_PROCESS_STARTED) {
		tp__envelope_free(env);
		return TP_EPROTO;
	}
	int err = env->process_started->error;
	pid_t pid = env->process_started->pid;
	tp__envelope_free(env);
	if (err != 0)
		return tp_err_errno(err);
	if (pid <= 0)
		return TP_EPROTO;
	p->pid = pid;
	if (p->kid.pid != pid) /* a fork server's child: ours now */
		tp__child_adopt(&p->kid, pid);
	return TP_OK;
}

/* Start handshake shared by every method, once the child end is out. */
static int handshake(tp_process *p)
{
	int rv = send_start(p);
	int rv2 = wait_started(p);
	/* A failed fork closes the channel: the server's error wins. */
	return rv2 != TP_OK ? rv2 : rv;
}

static int start_forkserver(tp_process *p, int child_end)
{
	int rv = tp__server_request(child_end, p->name);
	close(child_end);
	if (rv != TP_OK)
		return rv;
	p->direct = 1; /* cloned as our child (CLONE_PARENT): we reap */
	rv = handshake(p);
	tp__server_started(rv == TP_OK ? p->pid : 0);
	return rv;
}

static int start_fork(tp_process *p, int child_end)
{
	pid_t parent = getpid();
	pid_t pid = tp__launch_fork();
	if (pid < 0) {
		int e = errno;
		close(child_end);
		return tp_err_errno(e);
	}
	if (pid == 0) {
		close(p->fd);
		tp__close_inherited();
		tp__child_run(child_end, parent);
	}
	close(child_end);
	p->direct = 1;
	p->pid = pid;
	tp__child_adopt(&p->kid, pid);
	return handshake(p);
}

/* environ plus the three variables a spawned child needs. */
static char **spawn_env(int fd, char *bufs[3])
{
	size_t n = 0;
	while (environ[n] != NULL)
		n++;
	char **env = calloc(n + 4, sizeof(char *));
	if (env == NULL)
		return NULL;
	size_t j = 0;
	for (size_t i = 0; i < n; i++) {
		if (strncmp(environ[i], TP_ENV_START_FD "=", 16) == 0 ||
		    strncmp(environ[i], TP_ENV_PARENT_PID "=", 18) == 0 ||
		    strncmp(environ[i], TP_ENV_RUNDIR "=", 14) == 0)
			continue;
		env[j++] = environ[i];
	}
	if (asprintf(&bufs[0], TP_ENV_START_FD "=%d", fd) < 0)
		bufs[0] = NULL;
	if (asprintf(&bufs[1], TP_ENV_PARENT_PID "=%d", (int)getpid()) < 0)
		bufs[1] = NULL;
	if (asprintf(&bufs[2], TP_ENV_RUNDIR "=%s", tp__rt.dir) < 0)
		bufs[2] = NULL;
	for (int i = 0; i < 3; i++)
		env[j++] = bufs[i];
	if (bufs[0] == NULL || bufs[1] == NULL || bufs[2] == NULL) {
		for (int i = 0; i < 3; i++)
			free(bufs[i]);
		free(env);
		return NULL;
	}
	return env;
}

static int start_spawn(tp_process *p, int child_end)
{
	char *bufs[3] = {NULL, NULL, NULL};
	pid_t pid;
	char **env = spawn_env(child_end, bufs);
	if (env == NULL) {
		close(child_end);
		return TP_ENOMEM;
	}
	int rv = tp__launch_self(child_end, env, &pid);
	close(child_end);
	for (int i = 0; i < 3; i++)
		free(bufs[i]);
	free(env);
	if (rv != TP_OK)
		return rv;
	p->direct = 1;
	p->pid = pid;
	tp__child_adopt(&p->kid, pid);
	return handshake(p);
}

/* Picks the method this start really uses. */
static int resolve_method(tp_process *p, tp_start_method *m)
{
	*m = p->method != TP_START_DEFAULT ? p->method : tp__rt.method;
	if (*m == TP_START_DEFAULT)
		*m = TP_START_FORKSERVER;
	if (*m == TP_START_FORK && tp__nng_was_used())
		return TP_EFORKNNG;
	if (*m == TP_START_FORKSERVER && tp__pm.server_fd < 0) {
		/* A child (or a program that chose another default) gets its
		 * own server lazily; where none can start, it spawns. */
		if (tp__server_start() != TP_OK)
			*m = TP_START_SPAWN;
	}
	return TP_OK;
}

static int start_once(tp_process *p, tp_start_method m)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return tp_err_errno(errno);
	p->fd = sv[0];
	if (m == TP_START_FORKSERVER)
		return start_forkserver(p, sv[1]);
	if (m == TP_START_FORK)
		return start_fork(p, sv[1]);
	return start_spawn(p, sv[1]);
}

/* A forkserver start that failed because the server is gone. */
static int server_lost(tp_start_method m, int rv)
{
	return m == TP_START_FORKSERVER && rv == TP_EDIED && tp__server_dead();
}

static void start_undo(tp_process *p)
{
	close(p->fd);
	p->fd = -1;
	p->direct = 0;
	p->pid = 0;
	tp__child_close(&p->kid);
	tp__ctlbuf_free(&p->rb);
}

/*
 * A server killed from outside (its children live on: they are ours) is
 * replaced by the next start: resolve_method starts a new one, and the
 * start is retried once on it; where none starts, or the new one is lost
 * too, the start spawns.
 */
int tp__start(tp_process *p)
{
	tp_start_method m;
	int rv;
	for (int attempt = 0; attempt < 2; attempt++) {
		if ((rv = resolve_method(p, &m)) != TP_OK)
			return rv;
		rv = start_once(p, m);
		if (!server_lost(m, rv))
			return rv;
		start_undo(p);
	}
	return start_once(p, TP_START_SPAWN);
}

int tp__spawn_child_check(void)
{
	const char *sfd = getenv(TP_ENV_SERVER_FD);
	if (sfd != NULL && getenv(TP_ENV_PARENT_PID) != NULL) {
		int fd = atoi(sfd);
		pid_t parent = (pid_t)atoi(getenv(TP_ENV_PARENT_PID));
		unsetenv(TP_ENV_SERVER_FD);
		unsetenv(TP_ENV_PARENT_PID);
		if (fd < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
			_exit(255);
		tp__pm.is_child = 1; /* never the run's owner */
		tp__rt.owner = 0;
		tp__server_run(fd, parent);
	}
	const char *fds = getenv(TP_ENV_START_FD);
	const char *pp = getenv(TP_ENV_PARENT_PID);
	if (fds == NULL || pp == NULL)
		return 0;
	int fd = atoi(fds);
	pid_t parent = (pid_t)atoi(pp);
	unsetenv(TP_ENV_START_FD);
	unsetenv(TP_ENV_PARENT_PID);
	if (fd < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
		_exit(255);
	tp__child_run(fd, parent);
}
