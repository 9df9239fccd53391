/*
 * launch.c - the one place the library starts a process (a fork server
 * clones its children in its own process: forkserver.c). Three ways:
 *  - tp__launch_fork: fork(), the child with an empty signal mask (the
 *    fork start method, and a fork server forked while nng-free);
 *  - tp__launch_self: posix_spawn of /proc/self/exe keeping one fd (the
 *    spawn start method, a spawned fork server);
 *  - tp__child_exec: a command line, vfork + exec (the exec kind of child,
 *    struct tp__exec, for the supervisor's command-line children).
 * What the started process becomes is watched and reaped in watch.c.
 *
 * vfork runs no pthread_atfork handlers and the child only makes system
 * calls before exec, so an exec is safe in a process that has started
 * nng (unlike fork). Before exec the child:
 *  - moves to its own process group (new_group), so a stop signal reaches
 *    everything it started;
 *  - asks for SIGKILL when its parent thread dies (PR_SET_PDEATHSIG), then
 *    checks getppid(): if the parent died between vfork and prctl the
 *    signal would never come, so the child exits at once (the race);
 *  - gets default signal dispositions and an empty signal mask;
 *  - gets the caller's fds as 0, 1, 2 and the readiness pipe as fd 3;
 *  - sets its umask, user and working directory.
 * An exec, setuid or chdir failure is reported through a close-on-exec
 * pipe, so the caller gets the errno and never a child that silently
 * failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "child_int.h"
#include "troupe/error.h"

pid_t tp__launch_fork(void)
{
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid == 0) {
		/* As spawn and the fork server do: a child starts with no
		 * signal blocked, whichever thread (a supervisor's, whose
		 * signals are all blocked) started it. */
		sigset_t none;
		sigemptyset(&none);
		pthread_sigmask(SIG_SETMASK, &none, NULL);
	}
	return pid;
}

int tp__launch_self(int keep_fd, char *const env[], pid_t *pid)
{
	char *argv[] = {program_invocation_name, NULL};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none;
	posix_spawn_file_actions_init(&fa);
	/* dup2 onto itself clears FD_CLOEXEC in the child only. */
	posix_spawn_file_actions_adddup2(&fa, keep_fd, keep_fd);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK);
	fflush(stdout);
	fflush(stderr);
	int e = posix_spawn(pid, "/proc/self/exe", &fa, &at, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	return e == 0 ? TP_OK : tp_err_errno(e);
}

int tp__exec_resolve(const char *prog, char *out, size_t len)
{
	const char *path = getenv("PATH");
	if (strchr(prog, '/') != NULL) {
		snprintf(out, len, "%s", prog);
		return access(out, X_OK) == 0 ? TP_OK : tp_err_errno(errno);
	}
	if (path == NULL)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		const char *end = strchr(path, ':');
		size_t n = end ? (size_t)(end - path) : strlen(path);
		snprintf(out, len, "%.*s/%s", (int)n, n ? path : ".", prog);
		struct stat st;
		if (stat(out, &st) == 0 && S_ISREG(st.st_mode) &&
		    access(out, X_OK) == 0)
			return TP_OK;
		path += n + (end != NULL);
	}
	return tp_err_errno(ENOENT);
}

static _Noreturn void fail(int err_w)
{
	int e = errno;
	(void)!write(err_w, &e, sizeof(e));
	_exit(127);
}

/* In the vforked child: system calls only, until exec. */
static void child_setup(const struct tp__exec *x, pid_t parent, int err_w)
{
	sigset_t none;
	if (x->new_group)
		setpgid(0, 0);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
		_exit(127);
	for (int sig = 1; sig < NSIG; sig++) {
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (x->in >= 0)
		dup2(x->in, 0);
	if (x->out >= 0)
		dup2(x->out, 1);
	if (x->err >= 0)
		dup2(x->err, 2);
	if (x->set_umask)
		umask((mode_t)x->umask);
	if (x->set_user && (setgroups(1, &x->gid) != 0 || setgid(x->gid) != 0 ||
	                    setuid(x->uid) != 0))
		fail(err_w);
	if (x->notify >= 0) {
		if (x->notify == TP_EXEC_NOTIFY_FD)
			fcntl(TP_EXEC_NOTIFY_FD, F_SETFD, 0);
		else
			dup2(x->notify, TP_EXEC_NOTIFY_FD);
	}
	if (x->cwd != NULL && chdir(x->cwd) != 0)
		fail(err_w);
}

static int do_vfork(const struct tp__exec *x, int err_w, pid_t *pid)
{
	sigset_t all, old;
	pid_t parent = getpid();
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid_t k = vfork();
	if (k == 0) {
		child_setup(x, parent, err_w);
		execve(x->path, x->argv, x->envp);
		fail(err_w);
	}
	int saved = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (k < 0)
		return tp_err_errno(saved);
	*pid = k;
	return TP_OK;
}

int tp__child_exec(struct tp__child *k, const struct tp__exec *x)
{
	int errp[2], e = 0, rv;
	pid_t pid;
	if (pipe2(errp, O_CLOEXEC) != 0)
		return tp_err_errno(errno);
	rv = do_vfork(x, errp[1], &pid);
	close(errp[1]);
	if (rv != TP_OK) {
		close(errp[0]);
		return rv;
	}
	tp__child_adopt(k, pid);
	if (read(errp[0], &e, sizeof(e)) == (ssize_t)sizeof(e)) {
		struct tp__exit ev; /* it exits at once: reap it */
		tp__child_reap(k, NULL, -1, &ev);
		tp__child_close(k);
		rv = tp_err_errno(e);
	}
	close(errp[0]);
	return rv;
}
