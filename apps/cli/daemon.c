/*
 * daemon.c - `troupe supervise FILE`: the daemon that keeps a supervision
 * tree described in a config file alive.
 *
 * Order of events: the config is parsed and checked as a whole (an error
 * names file:line and nothing starts); with --detach the process forks
 * here, before it touches nng, and the parent waits for the child's word
 * that the tree is up; signals are blocked in every thread so that the
 * main thread alone takes SIGTERM/SIGINT (orderly reverse shutdown) and
 * SIGHUP (reload) with sigtimedwait; the control socket is opened; the
 * tree is started in order. Children are started by vfork+exec from the
 * supervisor's loop thread and die with the daemon (PR_SET_PDEATHSIG).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "internal.h"

static struct daemon *the_daemon;

/* One child of a level: a group (g) or a program (p), ordered by
 * priority (supervisord's, lower first), then by place in the file. */
struct entry {
	struct cfg_group *g;
	struct cfg_prog *p;
	int priority, index;
};

static int entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	if (x->priority != y->priority)
		return x->priority < y->priority ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* The children of group name ("" the root) in order. */
static int level(struct cfg *c, const char *name, struct entry **out)
{
	struct entry *e =
	    calloc((size_t)(c->ngroups + c->nprogs) + 1, sizeof(*e));
	int n = 0;
	if (e == NULL)
		return -1;
	/* Groups and programs interleave in the order of their sections. */
	for (int i = 0; i < c->ngroups; i++)
		if (strcmp(c->groups[i].parent, name) == 0)
			e[n++] = (struct entry){&c->groups[i], NULL,
			                        c->groups[i].priority,
			                        c->groups[i].order};
	for (int i = 0; i < c->nprogs; i++)
		if (strcmp(c->progs[i].group, name) == 0)
			e[n++] = (struct entry){NULL, &c->progs[i],
			                        c->progs[i].priority,
			                        c->progs[i].order};
	qsort(e, (size_t)n, sizeof(*e), entry_cmp);
	*out = e;
	return n;
}

/* Adds the children of group name ("" the root) to sup, in order; at
 * the root (running) they join stopped, below it they join a group that
 * is itself stopped. */
static int build_level(struct cfg *c, tp_sup *sup, const char *name)
{
	struct entry *e;
	int n = level(c, name, &e), rv = n < 0 ? TP_ENOMEM : TP_OK;
	for (int i = 0; i < n && rv == TP_OK; i++) {
		tp_sup *sub;
		if (e[i].p != NULL)
			rv = tp__sup_add_stopped(sup, &e[i].p->spec);
		else if ((rv = tp_sup_add_sup(sup, e[i].g->name, &e[i].g->flags,
		                              e[i].g->restart, &sub)) == TP_OK)
			rv = build_level(c, sub, e[i].g->name);
	}
	free(n < 0 ? NULL : e);
	return rv;
}

/* The daemon is a troupe program whose root supervisor (tp_sup_root,
 * made by tp_init, already holding the logging actor) reads the config:
 * the [supervisord] flags become the root's, its [program:] and
 * [group:] sections its children (stopped until start_tree). */
int daemon_build(struct cfg *c, tp_sup **out)
{
	tp_sup *root = tp_sup_root();
	c->root.on_event = devent_on_event;
	c->root.on_event_arg = the_daemon;
	int rv = root == NULL ? TP_ESTATE : tp__root_sup_configure(&c->root);
	if (rv == TP_OK)
		rv = build_level(c, root, "");
	*out = root;
	return rv;
}

/* Starts the root's config children in order (each ready before the
 * next), as tp_sup_start would: no_autostart ones stay stopped. */
static int start_level(struct daemon *d)
{
	struct entry *e;
	int n = level(d->cfg, "", &e), rv = n < 0 ? TP_ENOMEM : TP_OK;
	for (int i = 0; i < n && rv == TP_OK; i++) {
		if (e[i].p != NULL && e[i].p->spec.no_autostart)
			continue;
		rv = tp_sup_restart_child(
		    d->root, e[i].p != NULL ? e[i].p->name : e[i].g->name);
	}
	free(n < 0 ? NULL : e);
	return rv;
}

/* Stops the config's children in reverse order, leaving the root's
 * services (the logging actor) to the end of the program. */
static void stop_programs(struct daemon *d)
{
	tp_child_info *v;
	int n;
	if (tp_sup_which_children(d->root, &v, &n) != TP_OK)
		return;
	for (int i = n - 1; i >= 0; i--)
		if (!tp__ctl_is_service(d->root, v[i].id))
			tp_sup_terminate_child(d->root, v[i].id);
	free(v);
}

tp_sup *daemon_owner(struct daemon *d, const char *name)
{
	return tp__ctl_owner(d->root, name);
}

/* A live daemon is named by SOCKET.pid ("<pid> <starttime>"): refuse to
 * start a second one; remove the files of a dead one. The socket itself
 * is never probed with a bare connect: nng 1.5 wedges its listener when a
 * peer connects and leaves before the SP handshake (docs/supervisor.md). */
static int socket_busy(const char *path)
{
	char pidfile[300];
	unsigned long long start, now;
	int pid;
	snprintf(pidfile, sizeof(pidfile), "%s.pid", path);
	FILE *f = fopen(pidfile, "r");
	int busy = 0;
	if (f != NULL) {
		busy = fscanf(f, "%d %llu", &pid, &start) == 2 && pid > 0 &&
		       tp__proc_starttime(pid, &now) == TP_OK && now == start;
		fclose(f);
	}
	if (!busy) {
		unlink(path);
		unlink(pidfile);
	}
	return busy;
}

/* SOCKET.pid is written whole under a temporary name and renamed, so a
 * starter never reads it half-written. */
static void write_pidfile(const char *path)
{
	char pidfile[300], tmp[320];
	unsigned long long start = 0;
	snprintf(pidfile, sizeof(pidfile), "%s.pid", path);
	snprintf(tmp, sizeof(tmp), "%s.%d", pidfile, (int)getpid());
	tp__proc_starttime(getpid(), &start);
	FILE *f = fopen(tmp, "w");
	if (f == NULL)
		return;
	fprintf(f, "%d %llu\n", (int)getpid(), start);
	if (fclose(f) != 0 || rename(tmp, pidfile) != 0)
		unlink(tmp);
}

/* Removed only while it still names this process: a daemon that failed
 * and exits late must not remove the pid file of the daemon started after
 * it (a third starter would then take that live daemon for gone). */
static void remove_pidfile(const char *path)
{
	char pidfile[300];
	int pid = 0;
	snprintf(pidfile, sizeof(pidfile), "%s.pid", path);
	FILE *f = fopen(pidfile, "r");
	if (f == NULL)
		return;
	int n = fscanf(f, "%d", &pid);
	fclose(f);
	if (n == 1 && pid == (int)getpid())
		unlink(pidfile);
}

/* The socket's directory must be ours and closed to others. */
static int private_parent(const char *path)
{
	char dir[256];
	struct stat st;
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	mkdir(dir, 0700);
	return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) &&
	       st.st_uid == geteuid() && (st.st_mode & 077) == 0;
}

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: troupe supervise FILE [--detach] [--socket PATH]\n"
	        "Run the supervision tree described in FILE (INI, see "
	        "docs/supervisor.md).\n"
	        "  --detach       run in the background; return once the tree "
	        "is up\n"
	        "  --socket PATH  control socket (default: $TROUPE_SOCKET or "
	        "the runtime dir)\n"
	        "SIGTERM/SIGINT stop the tree in reverse order; SIGHUP "
	        "reloads FILE.\n");
}

/* --detach: the parent waits for a word from the daemon on a pipe. */
static int detach(int *report_fd)
{
	int fds[2];
	char msg[512];
	if (pipe2(fds, O_CLOEXEC) != 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0) {
		close(fds[1]);
		ssize_t n = read(fds[0], msg, sizeof(msg) - 1);
		msg[n > 0 ? n : 0] = '\0';
		if (n <= 0)
			fprintf(stderr, "troupe: daemon exited during start\n");
		else
			fputs(msg, msg[0] == 'o' ? stdout : stderr);
		fflush(stdout);
		_exit(n > 0 && msg[0] == 'o' ? 0 : 1);
	}
	close(fds[0]);
	setsid();
	/* Let go of the caller's terminal or pipe now, before tp_init forks
	 * the fork server (which would keep it open); the log file replaces
	 * stdout/stderr once the run directory exists. */
	int nul = open("/dev/null", O_RDWR);
	if (nul >= 0) {
		dup2(nul, 0);
		dup2(nul, 1);
		dup2(nul, 2);
		if (nul > 2)
			close(nul);
	}
	*report_fd = fds[1];
	return 0;
}

static void report(int fd, const char *fmt, const char *a, const char *b)
{
	char msg[600];
	int n = snprintf(msg, sizeof(msg), fmt, a, b);
	if (fd >= 0)
		(void)!write(fd, msg, (size_t)n);
	else
		fputs(msg, msg[0] == 'o' ? stdout : stderr);
	fflush(stdout);
}

/* A detached daemon's own stdout/stderr (what is not an event: a crash
 * of a library, a failed assertion) go to LOG.stderr next to its log. */
static void redirect_logs(struct daemon *d, int detached)
{
	char err_path[600];
	dlog_console_open(!detached);
	if (!detached)
		return;
	snprintf(err_path, sizeof(err_path), "%s.stderr", d->log_path);
	int fd = open(err_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
	int nul = open("/dev/null", O_RDONLY);
	if (nul >= 0) {
		dup2(nul, 0);
		close(nul);
	}
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
	setvbuf(stderr, NULL, _IOLBF, 0);
}

/* Waits for a signal; returns 1 to shut down, 0 after a reload. */
static int wait_signal(struct daemon *d, const sigset_t *set, int *failed)
{
	struct timespec ts = {0, 200 * 1000000};
	int wd = dsd_period_ms();
	if (wd > 0 && wd < 200)
		ts.tv_nsec = (long)wd * 1000000L;
	for (;;) {
		dsd_watchdog();
		siginfo_t si;
		int sig = sigtimedwait(set, &si, &ts);
		if (sig == SIGTERM || sig == SIGINT) {
			dlog_say(d, TP_LOG_INFO, "%s from pid %d",
			         sig == SIGTERM ? "SIGTERM" : "SIGINT",
			         (int)si.si_pid);
			return 1;
		}
		if (sig == SIGHUP) {
			char msg[4096];
			dlog_say(d, TP_LOG_INFO,
			         "SIGHUP from pid %d: reloading",
			         (int)si.si_pid);
			daemon_reload(d, NULL, 0, msg, sizeof(msg));
			dlog_say(d, TP_LOG_INFO, "%s", msg);
			return 0;
		}
		int w = tp_sup_wait(d->root, 0);
		if (w == TP_EDIED || w == TP_OK) {
			/* failed, or ended by auto_shutdown: the root stopped
			 * every child, the logging actor too */
			d->log_down = 1;
			*failed = w == TP_EDIED;
			return 1;
		}
	}
}

/* The first line of a config's notes, each said once at start. */
static void say_notes(struct daemon *d)
{
	char *save = NULL, *notes = strdup(d->cfg->notes);
	for (char *l = notes ? strtok_r(notes, "\n", &save) : NULL; l;
	     l = strtok_r(NULL, "\n", &save))
		dlog_say(d, TP_LOG_INFO, "note: %s", l);
	free(notes);
}

static void write_supervisord_pidfile(const char *path)
{
	FILE *f = path[0] ? fopen(path, "we") : NULL;
	if (f != NULL) {
		fprintf(f, "%d\n", (int)getpid());
		fclose(f);
	}
}

/* Starts the tree; on failure reports which program and why. */
static int start_tree(struct daemon *d, int report_fd)
{
	char why[800];
	int rv = start_level(d);
	/* simple_one_for_one groups: their instances, from the template */
	for (int i = 0; rv == TP_OK && i < d->cfg->ngroups; i++) {
		struct cfg_group *g = &d->cfg->groups[i];
		tp_sup *sub =
		    tp_sup_child_sup(daemon_owner(d, g->name), g->name);
		tp_child_spec dyn = TP_CHILD_SPEC_INIT;
		for (int k = 0; sub != NULL && k < g->instances && rv == TP_OK;
		     k++)
			rv = tp_sup_start_child(sub, &dyn, NULL);
	}
	if (rv == TP_OK)
		return TP_OK;
	devent_last_failure(why, sizeof(why));
	if (why[0])
		report(report_fd, "troupe: the tree did not start: %s (%s)\n",
		       why, tp_strerror(rv));
	else
		report(report_fd, "troupe: the tree did not start: %s%s\n",
		       tp_strerror(rv), "");
	report(report_fd, "troupe: the log is %s%s\n", d->log_path, "");
	return rv;
}

static int serve(struct daemon *d, const sigset_t *set, int report_fd)
{
	int failed = 0;
	char msg[700];
	write_pidfile(d->socket);
	write_supervisord_pidfile(d->cfg->pidfile);
	snprintf(msg, sizeof(msg), "ok: troupe daemon %d, control socket %s\n",
	         (int)getpid(), d->socket);
	report(report_fd, "%s%s", msg, "");
	if (report_fd >= 0)
		close(report_fd);
	dsd_ready("the tree is up");
	while (!wait_signal(d, set, &failed))
		;
	dsd_stopping();
	dlog_say(d, failed ? TP_LOG_ERROR : TP_LOG_INFO, "%s",
	         failed ? "the tree failed, stopping"
	                : "shutting down in reverse order");
	return failed;
}

static int run(struct daemon *d, int report_fd, int detached)
{
	sigset_t set;
	int rv, failed = 0;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Before any thread: the reaper is a fork of this process. */
	int leftovers = reaper_start(d->socket);
	dsd_init();
	if ((rv = tp_init(NULL)) != TP_OK) {
		report(report_fd, "troupe: tp_init: %s\n", tp_strerror(rv), "");
		reaper_stop();
		return 1;
	}
	the_daemon = d;
	int lrv = dlog_start(d);
	redirect_logs(d, detached);
	if (lrv != TP_OK)
		dlog_say(d, TP_LOG_WARNING,
		         "the logging actor did not start (%s): programs log "
		         "to %s/log/NAME.log",
		         tp_strerror(lrv), tp_runtime_dir());
	if (leftovers > 0)
		dlog_say(d, TP_LOG_WARNING,
		         "killed %d process groups left by a daemon that died "
		         "on %s",
		         leftovers, d->socket);
	say_notes(d);
	devent_groups(d->cfg);
	pthread_mutex_init(&d->mu, NULL);
	dlog_apply(d, d->cfg);
	if ((rv = daemon_build(d->cfg, &d->root)) != TP_OK ||
	    (rv = ctl_start(d, d->socket)) != TP_OK) {
		report(report_fd, "troupe: %s: %s\n", d->cfg->path,
		       tp_strerror(rv));
		stop_programs(d);
		the_daemon = NULL;
		dlog_free(d);
		reaper_stop();
		tp_fini();
		return 1;
	}
	if ((rv = start_tree(d, report_fd)) != TP_OK) {
	} else if (d->cfg->http[0] &&
	           (rv = metrics_start(d, d->cfg->http)) != TP_OK) {
		report(report_fd, "troupe: http %s: %s\n", d->cfg->http,
		       tp_strerror(rv));
	} else {
		failed = serve(d, &set, report_fd);
	}
	stop_programs(d);
	/* The services stop with the root in tp_fini: no events of theirs. */
	d->cfg->root.on_event = NULL;
	tp__root_sup_configure(&d->cfg->root);
	metrics_stop(d);
	ctl_stop(d);
	remove_pidfile(d->socket);
	if (d->cfg->pidfile[0])
		unlink(d->cfg->pidfile);
	the_daemon = NULL;
	dlog_free(d);
	reaper_stop();
	tp_fini();
	return rv != TP_OK || failed ? 1 : 0;
}

int cmd_supervise(int argc, char **argv)
{
	struct daemon d = {0};
	const char *file = NULL, *sock = NULL;
	int det = 0, report_fd = -1;
	char err[16384];
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--detach") == 0 ||
		           strcmp(argv[i], "-d") == 0) {
			det = 1;
		} else if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) {
			sock = argv[++i];
		} else if (argv[i][0] != '-' && file == NULL) {
			file = argv[i];
		} else {
			fprintf(stderr, "troupe supervise: bad argument '%s'\n",
			        argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (file == NULL) {
		usage(stderr);
		return 2;
	}
	if ((d.cfg = calloc(1, sizeof(*d.cfg))) == NULL)
		return 1;
	if (cfg_load(file, d.cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		cfg_free(d.cfg);
		return 2;
	}
	if (sock != NULL)
		snprintf(d.socket, sizeof(d.socket), "%s", sock);
	else if (d.cfg->socket[0])
		snprintf(d.socket, sizeof(d.socket), "%s", d.cfg->socket);
	else
		cli_default_socket(d.socket, sizeof(d.socket));
	struct sockaddr_un un;
	if (strlen(d.socket) >= sizeof(un.sun_path)) {
		fprintf(stderr,
		        "troupe: the control socket %s is %zu bytes, over the "
		        "Unix limit of %zu (--socket, socket = or "
		        "$XDG_RUNTIME_DIR)\n",
		        d.socket, strlen(d.socket), sizeof(un.sun_path) - 1);
		cfg_free(d.cfg);
		return 2;
	}
	if (!private_parent(d.socket)) {
		fprintf(stderr,
		        "troupe: %s: its directory must be private "
		        "(owned by you, mode 0700)\n",
		        d.socket);
		cfg_free(d.cfg);
		return 1;
	}
	if (socket_busy(d.socket)) {
		fprintf(stderr, "troupe: a daemon already runs at %s\n",
		        d.socket);
		cfg_free(d.cfg);
		return 1;
	}
	if (det && detach(&report_fd) != 0) {
		perror("troupe: fork");
		cfg_free(d.cfg);
		return 1;
	}
	int rv = run(&d, report_fd, det);
	cfg_free(d.cfg);
	return rv;
}
