/*
 * sup_target.c - supervisor children that run a registered target of this
 * program (spec.target with spec.args): a tp_process, started and reaped
 * through the process layer, so the fork server, spawn and fork start
 * methods work as for any Process and no second fork site exists.
 *
 * The loop watches such a child by its pidfd, like a command line. When
 * the pidfd fires, tp_process_join(p, 0) collects the exit: at once for a
 * spawn or fork child (this process reaps it); a forkserver child is
 * reaped by the fork server, whose exit report may follow the pidfd by a
 * moment, so the loop then watches the process's sentinel until the
 * report is there. The exit code is the target's return value, or -N for
 * signal N, as for command lines.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "process_int.h"
#include "sup_int.h"
#include "troupe/error.h"

int tp__sup_target_ok(const tp_child_spec *spec)
{
	if (spec->argv != NULL || spec->capture ||
	    spec->method < TP_START_DEFAULT || spec->method > TP_START_FORK)
		return TP_EINVAL;
	return tp__target_name(spec->target) != NULL ? TP_OK : TP_ENOTREG;
}

int tp__sup_spawn_target(struct sup_child *c)
{
	tp_process_opts o = {
	    .name = c->spec.id, .method = c->spec.method, .new_group = 1};
	tp_process *p = NULL;
	int rv = tp_process_new(&p, c->spec.target, c->spec.args, &o);
	if (rv == TP_OK) {
		p->owned = 1; /* this tree's: not a monitored child too */
		rv = tp_process_start(p);
	}
	if (rv != TP_OK) {
		tp_process_free(p);
		return rv;
	}
	c->proc = p;
	c->proc_wait = 0;
	c->pid = tp_process_pid(p);
	c->pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
	/* A forkserver child may be gone and reaped already: its exit
	 * report is on the way, on the sentinel. */
	if (c->pidfd < 0)
		c->proc_wait = 1;
	c->started_ms = tp__now_ms();
	return TP_OK;
}

int tp__sup_ready_fd(const struct sup_child *c)
{
	if (c->proc == NULL || c->proc_wait || c->state != TP_CHILD_STARTING ||
	    c->spec.ready != TP_READY_NOTIFY || c->proc->state != PROC_RUNNING)
		return -1;
	return tp_process_sentinel(c->proc);
}

int tp__sup_target_ready(struct sup_child *c)
{
	return tp__process_ready(c->proc);
}

int tp__sup_watch_fd(const struct sup_child *c)
{
	if (c->proc != NULL && c->proc_wait)
		return tp_process_sentinel(c->proc);
	if (c->mon_m != NULL)
		return tp_monitor_fd(c->mon_m);
	return c->pidfd;
}

int tp__sup_reap_target(struct sup_child *c, int *code)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	/* A spawn or fork child is ours: while its zombie holds the pid,
	 * kill what is left of its group, as for command lines. */
	if (waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG | WNOWAIT) ==
	        0 &&
	    si.si_pid == c->pid)
		kill(-c->pid, SIGKILL);
	int rv = tp_process_join(c->proc, 0);
	if (rv == TP_ETIMEDOUT) {
		c->proc_wait = 1; /* not yet reported: watch the sentinel */
		return 0;
	}
	if (rv != TP_OK || tp_process_exitcode(c->proc, code) != TP_OK)
		*code = -SIGKILL;
	tp_process_free(c->proc);
	c->proc = NULL;
	c->proc_wait = 0;
	return 1;
}
