/*
 * sup_target.c - supervisor children that run a registered target of this
 * program (spec.target with spec.args): a tp_process, started, watched and
 * reaped through the process layer (the fork server, spawn and fork start
 * methods work as for any Process; proc/'s child API is the only place
 * that forks or watches).
 *
 * The loop watches such a child by its pidfd (tp__child_watch_fd), like a
 * command line. When it fires, what is left of the child's process group
 * is killed while its zombie holds the group id, and tp_process_join(p, 0)
 * collects the exit (the result and exit frames of its control channel,
 * then the reap that publishes the exit event). A channel still held open
 * (or a child with no pidfd) is then watched by its sentinel until the
 * exit is there. The exit code is the target's return value, or -N for
 * signal N, as for command lines.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "child_int.h"
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
	c->pid = tp_process_pid(p);
	/* Without a pidfd, its sentinel tells of its exit. */
	c->proc_wait = tp__child_watch_fd(tp__process_child(p)) < 0;
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
	if (c->proc == NULL && c->mon_m != NULL)
		return tp_monitor_fd(c->mon_m);
	if (c->proc == NULL)
		return tp__child_watch_fd(&c->kid);
	if (c->proc_wait)
		return tp_process_sentinel(c->proc);
	return tp__child_watch_fd(tp__process_child(c->proc));
}

int tp__sup_watch_is_pidfd(const struct sup_child *c)
{
	if (c->proc == NULL)
		return c->mon_m == NULL;
	return !c->proc_wait;
}

int tp__sup_reap_target(struct sup_child *c, int *code)
{
	struct tp__child *k = tp__process_child(c->proc);
	int st;
	/* While its zombie holds the pid, kill what is left of its group,
	 * as for command lines (a descendant may hold the channel open). */
	if (tp__pid_peek(k->pid, &st))
		tp__child_signal(k, SIGKILL, TP_SIG_GROUP);
	int rv = tp_process_join(c->proc, 0);
	if (rv == TP_ETIMEDOUT) {
		c->proc_wait = 1; /* not yet reported: watch the sentinel */
		return 0;
	}
	if (rv != TP_OK || tp_process_exitcode(c->proc, code) != TP_OK)
		*code = -SIGKILL;
	c->last_cpu_ms = k->cpu_ms;
	tp_process_free(c->proc);
	c->proc = NULL;
	c->proc_wait = 0;
	return 1;
}
