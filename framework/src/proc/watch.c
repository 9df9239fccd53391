/*
 * watch.c - the one place the library watches, signals, stops and reaps a
 * child (struct tp__child, child_int.h), and watches any other pid.
 *
 * A child is watched by its pidfd, readable once it exits; it is reaped
 * in two steps: waitid(WNOWAIT) reads the status while the zombie still
 * holds the pid (and so its process group id: what is left of the group
 * can be killed without hitting a stranger), the exit event is published
 * (monitor.c: the crash report the child left becomes its report), then
 * wait4 reaps it with its CPU time. Publish before reap, so that a monitor
 * that finds the pid gone always finds its event. The pidfd itself comes
 * from rt/pidwatch.c (log/ below this layer watches pids too).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "child_int.h"
#include "clock.h"
#include "process_int.h"
#include "spin.h"
#include "troupe/error.h"

void tp__child_init(struct tp__child *k)
{
	memset(k, 0, sizeof(*k));
	k->pidfd = -1;
}

void tp__child_adopt(struct tp__child *k, pid_t pid)
{
	if (k->pidfd >= 0)
		close(k->pidfd);
	k->pid = pid;
	if (tp__pid_watch(pid, &k->pidfd) != TP_OK)
		k->pidfd = -1;
	k->started_ms = tp__now_ms();
	k->cpu_ms = 0;
}

int tp__child_watch_fd(const struct tp__child *k)
{
	return k->pidfd; /* stays readable after the reap, until closed */
}

int tp__child_signal(struct tp__child *k, int sig, int to)
{
	int rv = TP_OK;
	if (k->pid <= 0)
		return TP_OK;
	/* The group first (descendants), then the child itself in case it
	 * left its group. */
	if ((to & TP_SIG_GROUP) && kill(-k->pid, sig) != 0 && errno != ESRCH)
		rv = tp_err_errno(errno);
	if (!(to & TP_SIG_CHILD))
		return rv;
	if (k->pidfd >= 0 && pidfd_send_signal(k->pidfd, sig, NULL, 0) == 0)
		return TP_OK;
	if (kill(k->pid, sig) != 0 && errno != ESRCH)
		return tp_err_errno(errno);
	return TP_OK;
}

int tp__child_wait(struct tp__child *k, int timeout_ms)
{
	if (k->pidfd < 0) {
		/* No pidfd (old kernel, no fd left): a short sleep, the
		 * caller looks again. */
		struct timespec d = {0, 200000};
		if (timeout_ms != 0)
			nanosleep(&d, NULL);
		return TP_ETIMEDOUT;
	}
	struct pollfd pfd = {.fd = k->pidfd, .events = POLLIN};
	if (timeout_ms != 0 &&
	    tp__spin_poll(&k->spin, k->pidfd,
	                  timeout_ms < 0 ? -1 : tp__now_ms() + timeout_ms))
		return TP_OK;
	int r = poll(&pfd, 1, timeout_ms);
	return r == 1 ? TP_OK : TP_ETIMEDOUT;
}

static int64_t cpu_ms(const struct rusage *ru)
{
	return (int64_t)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1000 +
	       (ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) / 1000;
}

/* Waits for k's exit without reaping: 1 with *status, 0 on timeout, -1
 * when the pid is no longer ours to wait for (reaped elsewhere). */
static int wait_status(struct tp__child *k, int timeout_ms, int *status)
{
	int64_t deadline = tp__deadline(timeout_ms);
	siginfo_t si;
	for (;;) {
		memset(&si, 0, sizeof(si));
		int r = waitid(P_PID, (id_t)k->pid, &si,
		               WEXITED | WNOHANG | WNOWAIT);
		if (r == 0 && si.si_pid == k->pid) {
			*status = tp__wait_status(&si);
			return 1;
		}
		if (r != 0 && errno != EINTR)
			return -1;
		int left = tp__remaining(deadline);
		if (left == 0)
			return 0;
		tp__child_wait(k, left);
	}
}

int tp__child_reap(struct tp__child *k, const char *name, int timeout_ms,
                   struct tp__exit *ev)
{
	int st;
	memset(ev, 0, sizeof(*ev));
	if (k->pid <= 0)
		return TP_ESTATE;
	int w = wait_status(k, timeout_ms, &st);
	if (w == 0)
		return TP_ETIMEDOUT;
	if (w < 0) {
		/* Reaped by someone else (SIGCHLD set to SIG_IGN, or a
		 * waitpid(-1) elsewhere): the pid may already be reused, so
		 * its group is left alone and the status is unknown. */
		ev->status = SIGKILL;
		ev->code = -SIGKILL;
		k->pid = 0;
		return TP_OK;
	}
	if (k->reap_group)
		kill(-k->pid, SIGKILL);
	if (name != NULL)
		tp__exit_publish(k->pid, name, st, &ev->report);
	if (k->exited != NULL)
		k->exited(k->exited_arg, st);
	struct rusage ru;
	memset(&ru, 0, sizeof(ru));
	while (wait4(k->pid, NULL, 0, &ru) < 0 && errno == EINTR)
		;
	k->cpu_ms = cpu_ms(&ru);
	k->pid = 0;
	ev->status = st;
	ev->code = WIFSIGNALED(st) ? -WTERMSIG(st) : WEXITSTATUS(st);
	return TP_OK;
}

int tp__child_stop(struct tp__child *k, int sig, int to, int timeout_ms,
                   const char *name, struct tp__exit *ev)
{
	tp__child_signal(k, sig, to);
	int rv = tp__child_reap(k, name, sig == SIGKILL ? -1 : timeout_ms, ev);
	if (rv != TP_ETIMEDOUT)
		return rv;
	tp__child_signal(k, SIGKILL, to | TP_SIG_CHILD);
	return tp__child_reap(k, name, -1, ev);
}

void tp__child_close(struct tp__child *k)
{
	if (k->pidfd >= 0)
		close(k->pidfd);
	k->pidfd = -1;
	k->pid = 0;
}

void tp__pid_reap(pid_t pid)
{
	while (pid > 0 && waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

int tp__pid_reap_if_dead(pid_t pid)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG) != 0 ||
	       si.si_pid != 0;
}

int tp__pid_peek(pid_t pid, int *code)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0 ||
	    si.si_pid != pid)
		return 0;
	*code = si.si_code == CLD_EXITED ? si.si_status : -si.si_status;
	return 1;
}
