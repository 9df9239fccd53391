/*
 * reaper.c - no program outlives its daemon (issue 13).
 *
 * Each program runs in its own process group, and PR_SET_PDEATHSIG only
 * reaches the program itself, not what it started. So the daemon forks,
 * before it starts any thread, a tiny reaper process that is told every
 * program's process group ("+PGID STARTTIME" / "-PGID" lines on a pipe),
 * keeps them in a state file (SOCKET.groups), and watches the daemon
 * through a pidfd. When the daemon dies, however it dies (kill -9
 * included), the reaper kills every group still listed with SIGKILL and
 * removes the file. It ignores the terminal's signals (it is in a group
 * of its own) and leaves when the daemon is gone.
 *
 * If the reaper itself was killed too, the next daemon on the same socket
 * reads the state file and removes what is left first. A group is killed
 * only while it is still ours: a process group id is not reused while the
 * group has members, so a live process with the leader's pid and another
 * start time means the group is gone and the pid belongs to someone else.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "internal.h"

#define MAX_GROUPS 4096

struct grp {
	int pgid;
	unsigned long long start;
};

static int reaper_fd = -1; /* the daemon's end of the pipe */
static pid_t reaper_pid;

/* Kills the group if it is still the one we started; 1 if signalled. */
static int kill_group(const struct grp *g)
{
	unsigned long long now;
	int rv = tp__proc_starttime(g->pgid, &now);
	if (rv == TP_OK && now != g->start)
		return 0; /* the pid is someone else's: the group is gone */
	return kill(-g->pgid, SIGKILL) == 0;
}

static int load(const char *path, struct grp *v, int max)
{
	FILE *f = fopen(path, "re");
	int n = 0;
	if (f == NULL)
		return 0;
	while (n < max && fscanf(f, "%d %llu", &v[n].pgid, &v[n].start) == 2)
		if (v[n].pgid > 1)
			n++;
	fclose(f);
	return n;
}

static void save(const char *path, const struct grp *v, int n)
{
	char tmp[600];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "we");
	if (f == NULL)
		return;
	for (int i = 0; i < n; i++)
		fprintf(f, "%d %llu\n", v[i].pgid, v[i].start);
	if (fclose(f) == 0)
		rename(tmp, path);
}

static int apply(char *line, struct grp *v, int n)
{
	struct grp g;
	if (line[0] == '+' && n < MAX_GROUPS &&
	    sscanf(line + 1, "%d %llu", &g.pgid, &g.start) == 2 && g.pgid > 1)
		v[n++] = g;
	else if (line[0] == '-' && sscanf(line + 1, "%d", &g.pgid) == 1)
		for (int i = 0; i < n; i++)
			if (v[i].pgid == g.pgid) {
				v[i] = v[--n];
				break;
			}
	return n;
}

static void quiet(int keep)
{
	int nul = open("/dev/null", O_RDWR);
	for (int fd = 0; fd < 3; fd++)
		if (nul >= 0 && fd != keep)
			dup2(nul, fd);
	if (nul > 2)
		close(nul);
	syscall(SYS_close_range, 4, ~0U, 0);
	setpgid(0, 0);
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP && s != SIGCHLD)
			signal(s, SIG_IGN);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	prctl(PR_SET_NAME, "troupe-reaper");
}

static void reaper_main(int in, pid_t daemon, const char *path)
{
	static struct grp v[MAX_GROUPS];
	char buf[4096], line[128];
	size_t ll = 0;
	int n = 0, done = 0;
	if (dup2(in, 3) != 3)
		_exit(1);
	in = 3;
	quiet(in);
	int pidfd = (int)syscall(SYS_pidfd_open, daemon, 0);
	if (pidfd < 0 || getppid() != daemon)
		done = 1; /* the daemon is already gone */
	while (!done) {
		struct pollfd p[2] = {{in, POLLIN, 0}, {pidfd, POLLIN, 0}};
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (!p[0].revents)
			continue;
		ssize_t r = read(in, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break; /* the daemon's end is closed: it is gone */
		for (ssize_t i = 0; i < r; i++) {
			if (buf[i] != '\n') {
				if (ll < sizeof(line) - 1)
					line[ll++] = buf[i];
				continue;
			}
			line[ll] = '\0';
			ll = 0;
			if (line[0] == 'q')
				done = 1;
			else
				n = apply(line, v, n);
		}
		save(path, v, n);
	}
	for (int i = 0; i < n; i++)
		kill_group(&v[i]);
	unlink(path);
	_exit(0);
}

int reaper_start(const char *socket_path)
{
	static struct grp left[MAX_GROUPS];
	char path[600];
	int fds[2], killed = 0;
	snprintf(path, sizeof(path), "%s.groups", socket_path);
	int n = load(path, left, MAX_GROUPS);
	for (int i = 0; i < n; i++)
		killed += kill_group(&left[i]);
	unlink(path);
	if (pipe2(fds, O_CLOEXEC) != 0)
		return -1;
	pid_t daemon = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		close(fds[1]);
		reaper_main(fds[0], daemon, path);
	}
	close(fds[0]);
	reaper_pid = pid;
	reaper_fd = fds[1];
	fcntl(reaper_fd, F_SETFL, O_NONBLOCK);
	return killed;
}

static void tell(const char *line)
{
	if (reaper_fd >= 0)
		(void)!write(reaper_fd, line, strlen(line));
}

void reaper_add(pid_t pgid)
{
	char line[64];
	unsigned long long start = 0;
	if (tp__proc_starttime(pgid, &start) != TP_OK)
		return; /* already gone */
	snprintf(line, sizeof(line), "+%d %llu\n", (int)pgid, start);
	tell(line);
}

void reaper_del(pid_t pgid)
{
	char line[32];
	snprintf(line, sizeof(line), "-%d\n", (int)pgid);
	tell(line);
}

void reaper_stop(void)
{
	tell("q\n");
	if (reaper_fd >= 0)
		close(reaper_fd);
	reaper_fd = -1;
	/* It leaves at once: reap it, so no zombie is left behind. */
	if (reaper_pid > 0)
		waitpid(reaper_pid, NULL, 0);
	reaper_pid = 0;
}
