/*
 * sup_spawn.c - starting, signalling and reaping command-line children of
 * a supervisor, and tp_ready() on the child's side.
 *
 * A child is started with vfork + exec from the supervisor's loop thread.
 * vfork runs no pthread_atfork handlers and the child only makes system
 * calls before exec, so this is safe in a process that has started nng
 * (unlike fork). Before exec the child:
 *  - moves to its own process group, so a stop signal reaches everything
 *    it started;
 *  - asks for SIGKILL when its parent thread dies (PR_SET_PDEATHSIG), then
 *    checks getppid(): if the supervisor died between vfork and prctl the
 *    signal would never come, so the child exits at once (the race);
 *  - gets default signal dispositions and an empty signal mask;
 *  - gets /dev/null as stdin, its log file as stdout and stderr (or, with
 *    spec.capture, two pipes whose read ends become tp_log_capture
 *    readers logging each line as a record of the child), and, when
 *    it reports readiness, the write end of a pipe as fd 3 named by
 *    TROUPE_NOTIFY_FD.
 * An exec failure is reported through a close-on-exec pipe, so the caller
 * gets the errno and never a child that silently failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "log_int.h"
#include "runtime_int.h"
#include "process_int.h"
#include "sup_int.h"
#include "troupe/error.h"

#define NOTIFY_FD  3
#define NOTIFY_ENV "TROUPE_NOTIFY_FD"

extern char **environ;

struct spawn_plan {
	char path[PATH_MAX];
	char **envp;
	int devnull, logfd, errfd, notify_w, err_w;
	int out[2], err[2]; /* spec.capture: stdout and stderr pipes */
	char *logv[2];      /* spec.capture: the logging actor for tp_log_* */
	pid_t parent;
};

static int resolve(const char *prog, char *out, size_t len)
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

/* What a supervisor's own service manager gave it is not for its
 * children: systemd's notify socket, watchdog and sockets, the journal
 * stream (a child's stderr is not the supervisor's), our notify fd, the
 * logging actor we were given (a captured child gets ours, log_env). */
static int private_var(const char *e)
{
	static const char *const v[] = {
	    NOTIFY_ENV "=",     "NOTIFY_SOCKET=",  "WATCHDOG_USEC=",
	    "WATCHDOG_PID=",    "LISTEN_FDS=",     "LISTEN_PID=",
	    "LISTEN_FDNAMES=",  "JOURNAL_STREAM=", TP_ENV_LOG_ADDRESS "=",
	    TP_ENV_LOG_NAME "="};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		if (strncmp(e, v[i], strlen(v[i])) == 0)
			return 1;
	return 0;
}

/* With capture on, the child logs through this process's logging actor
 * under its own id: a program that calls tp_log_* then sends records with
 * its name and level, not lines of captured stderr (log_int.h). */
static int log_env(const tp_child_spec *s, char **addr, char **name)
{
	tp_log_config *c = NULL;
	*addr = *name = NULL;
	if (!s->capture || tp_log_config_get(&c) != TP_OK)
		return 0;
	const char *a = tp_log_config_address(c);
	if (a != NULL && (asprintf(addr, TP_ENV_LOG_ADDRESS "=%s", a) < 0 ||
	                  asprintf(name, TP_ENV_LOG_NAME "=%s", s->id) < 0)) {
		free(*addr);
		*addr = *name = NULL;
	}
	tp_log_config_free(c);
	return *name != NULL;
}

/* environ + extra entries + the notify variable + the logging actor + the
 * run directory. */
static char **build_env(const tp_child_spec *s, int notify, char *logv[2])
{
	size_t n = 0, x = 0, k = 0;
	const char *rd = tp_runtime_dir();
	while (environ[n])
		n++;
	while (s->env && s->env[x])
		x++;
	char **e = calloc(n + x + 5, sizeof(*e));
	if (e == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!private_var(environ[i]))
			e[k++] = environ[i];
	for (size_t i = 0; i < x; i++)
		e[k++] = s->env[i];
	if (notify)
		e[k++] = NOTIFY_ENV "=3";
	if (log_env(s, &logv[0], &logv[1])) {
		e[k++] = logv[0];
		e[k++] = logv[1];
	}
	if (rd != NULL && getenv(TP_ENV_RUNDIR) == NULL) {
		static __thread char buf[300];
		snprintf(buf, sizeof(buf), "%s=%s", TP_ENV_RUNDIR, rd);
		e[k++] = buf;
	}
	return e;
}

static void child_setup(const tp_child_spec *s, struct spawn_plan *p)
{
	sigset_t none;
	setpgid(0, 0);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != p->parent)
		_exit(127);
	for (int sig = 1; sig < NSIG; sig++) {
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	dup2(p->devnull, 0);
	if (p->out[1] >= 0) {
		dup2(p->out[1], 1);
		dup2(p->err[1], 2);
	} else {
		if (p->logfd >= 0)
			dup2(p->logfd, 1);
		if (p->errfd >= 0)
			dup2(p->errfd, 2);
		else if (p->logfd >= 0)
			dup2(p->logfd, 2);
	}
	if (s->set_umask)
		umask((mode_t)s->umask);
	if (s->set_user && (setgroups(1, &s->gid) != 0 || setgid(s->gid) != 0 ||
	                    setuid(s->uid) != 0)) {
		int e = errno;
		(void)!write(p->err_w, &e, sizeof(e));
		_exit(127);
	}
	if (p->notify_w >= 0) {
		if (p->notify_w == NOTIFY_FD)
			fcntl(NOTIFY_FD, F_SETFD, 0);
		else
			dup2(p->notify_w, NOTIFY_FD);
	}
	if (s->cwd != NULL && chdir(s->cwd) != 0) {
		int e = errno;
		(void)!write(p->err_w, &e, sizeof(e));
		_exit(127);
	}
}

/* The child's end of an output: the file itself, or with rotation
 * (max > 0) the write end of a pipe copied into the file by a thread. */
static int open_sink(const char *path, uint64_t max, unsigned backups,
                     struct tp__filecap **cap)
{
	int fds[2];
	if (max == 0)
		return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
		            0600);
	if (pipe2(fds, O_CLOEXEC) != 0)
		return -1;
	if (tp__filecap_start(fds[0], path, max, backups, cap) != TP_OK) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	return fds[1];
}

/* spec.err_log_path: stderr apart ("" discards it); -1: with stdout. */
static int open_err_log(struct sup_child *c)
{
	const tp_child_spec *s = &c->spec;
	if (s->capture || s->err_log_path == NULL)
		return -1;
	if (s->err_log_path[0] == '\0')
		return open("/dev/null", O_WRONLY | O_CLOEXEC);
	return open_sink(s->err_log_path, s->err_log_max_bytes,
	                 s->err_log_backups, &c->fcap[1]);
}

static int open_log(struct sup_child *c)
{
	const char *rd = tp_runtime_dir();
	c->log_path[0] = '\0';
	if (c->spec.capture ||
	    (c->spec.log_path != NULL && c->spec.log_path[0] == '\0'))
		return -1;
	if (c->spec.log_path != NULL) {
		snprintf(c->log_path, sizeof(c->log_path), "%s",
		         c->spec.log_path);
	} else if (rd != NULL) {
		char dir[512];
		snprintf(dir, sizeof(dir), "%s/log", rd);
		mkdir(dir, 0700);
		int n =
		    snprintf(dir, sizeof(dir), "%s/log/%s.log", rd, c->spec.id);
		if (n < 0 || (size_t)n >= sizeof(c->log_path))
			return -1;
		memcpy(c->log_path, dir, (size_t)n + 1);
	} else {
		return -1;
	}
	return open_sink(c->log_path, c->spec.log_max_bytes,
	                 c->spec.log_backups, &c->fcap[0]);
}

static void plan_close(struct spawn_plan *p)
{
	if (p->devnull >= 0)
		close(p->devnull);
	if (p->logfd >= 0)
		close(p->logfd);
	if (p->errfd >= 0)
		close(p->errfd);
	for (int i = 0; i < 2; i++) {
		if (p->out[i] >= 0)
			close(p->out[i]);
		if (p->err[i] >= 0)
			close(p->err[i]);
	}
	free(p->envp);
	free(p->logv[0]);
	free(p->logv[1]);
}

/* The parent's ends of the capture pipes become readers of the child. */
static void capture_start(struct sup_child *c, struct spawn_plan *p)
{
	int *fd[2] = {&p->out[0], &p->err[0]};
	int level[2] = {TP_LOG_INFO, TP_LOG_ERROR};
	close(p->out[1]);
	close(p->err[1]);
	p->out[1] = p->err[1] = -1;
	for (int i = 0; i < 2; i++) {
		if (tp_log_capture_start(*fd[i], c->spec.id, c->pid, level[i],
		                         &c->cap[i]) == TP_OK)
			*fd[i] = -1; /* taken; else closed by plan_close */
	}
}

void tp__sup_free_captures(struct sup_child *c, int wait_ms)
{
	int had = 0;
	for (int i = 0; i < 2; i++) {
		tp__filecap_free(c->fcap[i], wait_ms);
		c->fcap[i] = NULL;
	}
	for (int i = 0; i < 2; i++) {
		if (c->cap[i] == NULL)
			continue;
		if (wait_ms > 0)
			tp_log_capture_wait(c->cap[i], wait_ms);
		tp_log_capture_free(c->cap[i]);
		c->cap[i] = NULL;
		had = 1;
	}
	/* The child's last lines are written before its exit is reported
	 * (a `troupe stop` followed by `troupe logs` shows them). */
	if (had && wait_ms > 0)
		tp_log_flush(wait_ms);
}

static int do_vfork(struct sup_child *c, struct spawn_plan *p, pid_t *pid)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid_t k = vfork();
	if (k == 0) {
		child_setup(&c->spec, p);
		execve(p->path, c->spec.argv, p->envp);
		int e = errno;
		(void)!write(p->err_w, &e, sizeof(e));
		_exit(127);
	}
	int saved = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (k < 0)
		return tp_err_errno(saved);
	*pid = k;
	return TP_OK;
}

int tp__sup_spawn(struct sup_child *c)
{
	struct spawn_plan p = {.devnull = -1,
	                       .logfd = -1,
	                       .errfd = -1,
	                       .notify_w = -1,
	                       .out = {-1, -1},
	                       .err = {-1, -1}};
	int notify[2] = {-1, -1}, errp[2] = {-1, -1}, rv, e = 0;
	pid_t pid;
	if (c->mon)
		return TP_ESTATE; /* a user's Process: never started here */
	if (c->spec.target != NULL)
		return tp__sup_spawn_target(c);
	if ((rv = resolve(c->spec.argv[0], p.path, sizeof(p.path))) != TP_OK)
		return rv;
	int want_notify = c->spec.ready == TP_READY_NOTIFY;
	p.parent = getpid();
	p.devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	tp__sup_free_captures(c, 0); /* a previous run's */
	p.logfd = open_log(c);
	p.errfd = open_err_log(c);
	p.envp = build_env(&c->spec, want_notify, p.logv);
	if (p.devnull < 0 || p.envp == NULL ||
	    (want_notify && pipe2(notify, O_CLOEXEC) != 0) ||
	    pipe2(errp, O_CLOEXEC) != 0 ||
	    (c->spec.capture &&
	     (pipe2(p.out, O_CLOEXEC) != 0 || pipe2(p.err, O_CLOEXEC) != 0))) {
		rv = p.envp == NULL ? TP_ENOMEM : tp_err_errno(errno);
		goto out;
	}
	p.notify_w = notify[1];
	p.err_w = errp[1];
	if ((rv = do_vfork(c, &p, &pid)) != TP_OK)
		goto out;
	close(errp[1]);
	errp[1] = -1;
	if (read(errp[0], &e, sizeof(e)) == (ssize_t)sizeof(e)) {
		waitpid(pid, NULL, 0);
		rv = tp_err_errno(e);
		goto out;
	}
	c->pid = pid;
	if (c->spec.capture)
		capture_start(c, &p);
	c->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	c->notify_fd = notify[0];
	notify[0] = -1;
	c->started_ms = tp__now_ms();
out:
	for (int i = 0; i < 2; i++) {
		if (notify[i] >= 0)
			close(notify[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	plan_close(&p);
	if (rv != TP_OK)
		tp__sup_free_captures(c, 0);
	return rv;
}

void tp__sup_signal(struct sup_child *c, int sig)
{
	if (c->pid <= 0)
		return;
	/* The group first (descendants), then the child itself in case it
	 * left its group. */
	if (!c->spec.stop_pid_only || sig == SIGKILL)
		kill(-c->pid, sig);
	if (c->pidfd < 0 ||
	    syscall(SYS_pidfd_send_signal, c->pidfd, sig, NULL, 0) != 0)
		kill(c->pid, sig);
}

int tp__sup_reap(struct sup_child *c, int *code)
{
	siginfo_t si;
	int st;
	if (c->proc != NULL)
		return tp__sup_reap_target(c, code);
	if (c->mon)
		return tp__sup_mon_reap(c, code);
	memset(&si, 0, sizeof(si));
	int w = waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG | WNOWAIT);
	if (w == 0 && si.si_pid == 0)
		return 0; /* still running */
	if (w != 0) {
		/* Reaped by someone else (SIGCHLD set to SIG_IGN, or a
		 * waitpid(-1) elsewhere): the pid may already be reused, so
		 * its group is left alone and the status is unknown. */
		*code = -SIGKILL;
		return 1;
	}
	/* While the zombie holds its pid, the group id cannot be reused:
	 * kill what is left of its group (a grandchild that ignored the
	 * stop), then reap. */
	kill(-c->pid, SIGKILL);
	struct rusage ru;
	memset(&ru, 0, sizeof(ru));
	pid_t r = wait4(c->pid, &st, 0, &ru);
	c->last_cpu_ms =
	    (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
	    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
	if (r < 0)
		*code = -SIGKILL;
	else if (WIFSIGNALED(st))
		*code = -WTERMSIG(st);
	else
		*code = WEXITSTATUS(st);
	return 1;
}

void tp__sup_close_fds(struct sup_child *c)
{
	if (c->pidfd >= 0)
		close(c->pidfd);
	if (c->notify_fd >= 0)
		close(c->notify_fd);
	c->pidfd = -1;
	c->notify_fd = -1;
	tp_process_free(c->proc); /* still running: the runtime reaps it */
	c->proc = NULL;
	/* The child and its group are gone: the pipes end at once unless an
	 * escaped descendant holds them; its later lines are lost. */
	tp__sup_free_captures(c, 200);
}

int tp_ready(void)
{
	static int done;
	const char *v = getenv(NOTIFY_ENV);
	if (v == NULL && !done) {
		/* A target child: a frame on its control channel. */
		int rv = tp__process_ready_send();
		return rv == TP_ENOENT ? TP_OK : rv;
	}
	if (done || v == NULL)
		return TP_OK;
	int fd = atoi(v);
	done = 1;
	unsetenv(NOTIFY_ENV);
	if (fd < 0)
		return TP_EINVAL;
	ssize_t n = write(fd, "READY=1\n", 8);
	int e = errno;
	close(fd);
	return n == 8 ? TP_OK : tp_err_errno(e);
}
