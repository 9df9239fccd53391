/*
 * reap.c - the parent watching one child: reading its control channel
 * (result and exit frames), reaping spawn and fork children itself
 * (waitid WNOWAIT, publish the exit event, then waitpid), and printing the
 * crash report when it observes a crash. Everything that learns about a
 * child's exit goes through tp__process_pump.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log_int.h"
#include "process_int.h"
#include "troupe/error.h"
#include "wire.h"

static void on_exit_event(tp_process *p, const Troupe__ExitEvent *ev)
{
	(void)ev;
	p->have_status = 1;
	free(p->report);
	p->report = NULL;
	if (ev->report != NULL && ev->report[0] != '\0')
		p->report = strdup(ev->report);
	if (ev->signal != 0)
		p->status = ev->signal | (ev->core_dumped ? 0x80 : 0);
	else
		p->status = (ev->exit_code & 0xff) << 8;
}

static void on_frame(tp_process *p, Troupe__Envelope *env)
{
	switch (env->body_case) {
	case TROUPE__ENVELOPE__BODY_PROCESS_RESULT:
		tp_payload_free(p->result);
		p->result = NULL;
		if (env->process_result->result != NULL)
			tp__payload_from_pb(env->process_result->result,
			                    &p->result);
		else
			tp_payload_new(&p->result);
		p->have_result = p->result != NULL;
		break;
	case TROUPE__ENVELOPE__BODY_EXIT:
		on_exit_event(p, env->exit);
		break;
	case TROUPE__ENVELOPE__BODY_PROCESS_READY:
		p->ready = 1;
		break;
	default:
		break; /* unknown frames are ignored */
	}
}

/* Sleeps until child pid exits or timeout_ms passes: a pidfd becomes
 * readable at exit, so no polling loop is needed (Linux 5.3+; falls back to
 * a short sleep where pidfd_open is missing). */
static void wait_exit(pid_t pid, int timeout_ms)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0) {
		struct timespec d = {0, 200000};
		nanosleep(&d, NULL);
		return;
	}
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	poll(&pfd, 1, timeout_ms);
	close(fd);
}

/* Waits (up to timeout_ms) for a direct child to exit, publishes its exit
 * event, then reaps it: publish before reap, so that a monitor that finds
 * the pid gone always finds its event. */
static int reap_direct(tp_process *p, int timeout_ms, int *st)
{
	int64_t deadline = tp__deadline(timeout_ms);
	siginfo_t si;
	for (;;) {
		memset(&si, 0, sizeof(si));
		int r = waitid(P_PID, (id_t)p->pid, &si,
		               WEXITED | WNOHANG | WNOWAIT);
		if (r == 0 && si.si_pid == p->pid) {
			*st = tp__wait_status(&si);
			break;
		}
		if (r != 0 && errno != EINTR) {
			*st = SIGKILL; /* someone else reaped it */
			p->status = *st;
			p->have_status = 1;
			return TP_OK;
		}
		int left = tp__remaining(deadline);
		if (left == 0)
			return TP_ETIMEDOUT;
		wait_exit(p->pid, left);
	}
	void *buf = NULL;
	size_t len = 0;
	Troupe__Envelope *env = NULL;
	if (tp__exit_publish(p->pid, p->name, *st, &buf, &len) == TP_OK &&
	    tp__envelope_unpack(buf, len, 0, &env) == TP_OK &&
	    env->body_case == TROUPE__ENVELOPE__BODY_EXIT)
		on_exit_event(p, env->exit);
	tp__envelope_free(env);
	free(buf);
	tp__process_watch_exited(p, *st); /* before the pid is gone */
	while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
		;
	p->status = *st;
	p->have_status = 1;
	return TP_OK;
}

/*
 * Handles every complete frame. A frame that does not decode is skipped; a
 * length over the limit means the stream lost its framing (a child that
 * wrote garbage on its channel): from then on the channel is only drained,
 * and the exit status comes from the exit log (finish_exit).
 */
static void drain_frames(tp_process *p)
{
	Troupe__Envelope *env = NULL;
	int rv;
	while (!p->desync) {
		rv = tp__ctl_next(&p->rb, &env);
		if (rv == TP_ETOOBIG) {
			p->desync = 1;
			break;
		}
		if (rv == TP_OK && env == NULL)
			return;
		if (rv == TP_OK) {
			on_frame(p, env);
			tp__envelope_free(env);
		}
	}
	p->rb.len = 0;
}

/* The exit is known: reap if we are the real parent, report a crash. */
static int finish_exit(tp_process *p, int timeout_ms)
{
	if (!p->have_status && p->direct) {
		int st, rv = reap_direct(p, timeout_ms, &st);
		if (rv != TP_OK)
			return rv;
	}
	if (!p->have_status) {
		/* The exit frame was lost (garbage on the channel): the server
		 * logged the event before sending it. */
		Troupe__ExitEvent *ev = NULL;
		if (tp__exit_lookup(p->pid, &ev) == TP_OK) {
			on_exit_event(p, ev);
			protobuf_c_message_free_unpacked(&ev->base, NULL);
		}
	}
	if (!p->have_status) {
		/* The fork server died without relaying: the child died with
		 * it (PR_SET_PDEATHSIG). */
		p->status = SIGKILL;
		p->have_status = 1;
	}
	if (!p->direct)
		tp__process_watch_exited(p, p->status);
	if (p->report != NULL) /* through the logging actor, if any */
		tp__log_crash_report(p->name, p->pid, p->report);
	/* The fd stays open (at end of file: always readable) until
	 * tp_process_free, so a sentinel held by the caller stays valid. */
	tp__ctlbuf_free(&p->rb);
	p->state = PROC_EXITED;
	return TP_OK;
}

int tp__process_ready(tp_process *p)
{
	if (p->state == PROC_RUNNING && !p->ready)
		tp__process_pump(p, 0);
	return p->ready;
}

/*
 * Reads the control channel for up to timeout_ms (0: only what is there)
 * and handles every complete frame. Returns TP_OK once the child has
 * exited, TP_ETIMEDOUT while it runs.
 */
int tp__process_pump(tp_process *p, int timeout_ms)
{
	int64_t deadline = tp__deadline(timeout_ms);
	for (;;) {
		int rv = tp__ctl_fill(p->fd, &p->rb);
		drain_frames(p);
		if (rv == TP_ECLOSED || (rv != TP_OK && rv != TP_ENOMEM))
			return finish_exit(p, tp__remaining(deadline));
		int wait = tp__remaining(deadline);
		if (wait == 0)
			return TP_ETIMEDOUT;
		struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
		if (poll(&pfd, 1, wait) < 0 && errno != EINTR)
			return tp_err_errno(errno);
	}
}
