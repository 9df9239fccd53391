/*
 * sup_spawn.c - the supervisor's command-line children: what a child spec
 * asks of a start (its log files or captured output, environment,
 * readiness pipe, user, umask, directory), handed to the process layer's
 * exec kind of child (proc/launch.c: vfork + exec, in its own process
 * group); signalling and reaping through the same child API (proc/
 * watch.c), which publishes the exit event monitors receive. tp_ready()
 * is the child's side of readiness.
 *
 * Before exec the child gets /dev/null as stdin, its log file as stdout
 * and stderr (or, with spec.capture, two pipes whose read ends become
 * tp_log_capture readers logging each line as a record of the child),
 * and, when it reports readiness, the write end of a pipe as fd 3 named
 * by TROUPE_NOTIFY_FD.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "child_int.h"
#include "clock.h"
#include "process_int.h"
#include "log_int.h"
#include "runtime_int.h"
#include "process_int.h"
#include "sup_int.h"
#include "troupe/error.h"

#define NOTIFY_ENV TP_EXEC_NOTIFY_ENV

extern char **environ;

struct spawn_plan {
	char path[PATH_MAX];
	char **envp;
	int devnull, logfd, errfd, notify_w;
	int out[2], err[2]; /* spec.capture: stdout and stderr pipes */
	char *logv[2];      /* spec.capture: the logging actor for tp_log_* */
};

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

/* The exec request of plan p: stdin /dev/null, stdout and stderr the
 * capture pipes, else the log files. */
static void exec_of(const struct sup_child *c, const struct spawn_plan *p,
                    struct tp__exec *x)
{
	const tp_child_spec *s = &c->spec;
	*x = (struct tp__exec){.path = p->path,
	                       .argv = s->argv,
	                       .envp = p->envp,
	                       .cwd = s->cwd,
	                       .in = p->devnull,
	                       .out = p->logfd,
	                       .err = p->errfd >= 0 ? p->errfd : p->logfd,
	                       .notify = p->notify_w,
	                       .new_group = 1,
	                       .set_umask = s->set_umask,
	                       .umask = s->umask,
	                       .set_user = s->set_user,
	                       .uid = s->uid,
	                       .gid = s->gid};
	if (p->out[1] >= 0) {
		x->out = p->out[1];
		x->err = p->err[1];
	}
}

int tp__sup_spawn(struct sup_child *c)
{
	struct spawn_plan p = {.devnull = -1,
	                       .logfd = -1,
	                       .errfd = -1,
	                       .notify_w = -1,
	                       .out = {-1, -1},
	                       .err = {-1, -1}};
	struct tp__exec x;
	int notify[2] = {-1, -1}, rv;
	if (c->mon)
		return TP_ESTATE; /* a user's Process: never started here */
	if (c->spec.target != NULL)
		return tp__sup_spawn_target(c);
	if ((rv = tp__exec_resolve(c->spec.argv[0], p.path, sizeof(p.path))) !=
	    TP_OK)
		return rv;
	int want_notify = c->spec.ready == TP_READY_NOTIFY;
	p.devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	tp__sup_free_captures(c, 0); /* a previous run's */
	p.logfd = open_log(c);
	p.errfd = open_err_log(c);
	p.envp = build_env(&c->spec, want_notify, p.logv);
	if (p.devnull < 0 || p.envp == NULL ||
	    (want_notify && pipe2(notify, O_CLOEXEC) != 0) ||
	    (c->spec.capture &&
	     (pipe2(p.out, O_CLOEXEC) != 0 || pipe2(p.err, O_CLOEXEC) != 0))) {
		rv = p.envp == NULL ? TP_ENOMEM : tp_err_errno(errno);
		goto out;
	}
	p.notify_w = notify[1];
	exec_of(c, &p, &x);
	if ((rv = tp__child_exec(&c->kid, &x)) != TP_OK)
		goto out;
	c->kid.reap_group = 1;
	c->pid = c->kid.pid;
	if (c->spec.capture)
		capture_start(c, &p);
	c->notify_fd = notify[0];
	notify[0] = -1;
	c->started_ms = tp__now_ms();
out:
	for (int i = 0; i < 2; i++)
		if (notify[i] >= 0)
			close(notify[i]);
	plan_close(&p);
	if (rv != TP_OK)
		tp__sup_free_captures(c, 0);
	return rv;
}

struct tp__child *tp__sup_kid(struct sup_child *c)
{
	return c->proc != NULL ? tp__process_child(c->proc) : &c->kid;
}

void tp__sup_signal(struct sup_child *c, int sig)
{
	if (c->pid <= 0)
		return;
	/* The group (descendants) and the child itself in case it left its
	 * group; with stop_pid_only a stop signal reaches the child alone. */
	int to = TP_SIG_CHILD;
	if (!c->spec.stop_pid_only || sig == SIGKILL)
		to |= TP_SIG_GROUP;
	tp__child_signal(tp__sup_kid(c), sig, to);
}

int tp__sup_reap(struct sup_child *c, int *code)
{
	struct tp__exit ev;
	if (c->proc != NULL)
		return tp__sup_reap_target(c, code);
	if (c->mon)
		return tp__sup_mon_reap(c, code);
	if (tp__child_reap(&c->kid, c->spec.id, 0, &ev) != TP_OK)
		return 0; /* still running */
	c->last_cpu_ms = c->kid.cpu_ms;
	*code = ev.code;
	free(ev.report);
	return 1;
}

void tp__sup_close_fds(struct sup_child *c)
{
	tp__child_close(&c->kid);
	if (c->notify_fd >= 0)
		close(c->notify_fd);
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
