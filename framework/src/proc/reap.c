/*
 * reap.c - the parent watching one tp_process: reading its control
 * channel (result and exit frames), reaping the child through the child
 * API (tp__child_reap: the exit event published, then reaped), and
 * printing the crash report when it observes a crash. Everything that
 * learns about a tp_process's exit goes through tp__process_pump.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "child_int.h"
#include "clock.h"
#include "log_int.h"
#include "process_int.h"
#include "spin.h"
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

/* Waits (up to timeout_ms) for a direct child to exit, then reaps it
 * through the child API, which publishes its exit event first. */
static int reap_direct(tp_process *p, int timeout_ms)
{
	struct tp__exit ev;
	int rv = tp__child_reap(&p->kid, p->name, timeout_ms, &ev);
	if (rv != TP_OK)
		return rv;
	if (ev.report != NULL) {
		free(p->report);
		p->report = ev.report;
	}
	p->status = ev.status;
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
		int rv = reap_direct(p, timeout_ms);
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
 *
 * One thread at a time reads a process's channel and reaps it (p->pump_mu,
 * never held across a wait for frames): a join in one thread and
 * tp_active_children or tp_wait in another both pump, and two reapers
 * would wait4 a pid the other took (a wait for pid 0: any child). A look
 * (timeout 0) that finds another thread at it reports the child running.
 */
int tp__process_pump(tp_process *p, int timeout_ms)
{
	int64_t deadline = tp__deadline(timeout_ms);
	for (;;) {
		if (timeout_ms == 0) {
			if (pthread_mutex_trylock(&p->pump_mu) != 0)
				return TP_ETIMEDOUT;
		} else {
			pthread_mutex_lock(&p->pump_mu);
		}
		if (p->state != PROC_RUNNING) { /* another thread finished it */
			pthread_mutex_unlock(&p->pump_mu);
			return TP_OK;
		}
		int rv = tp__ctl_fill(p->fd, &p->rb);
		drain_frames(p);
		/* The result is a child's last frame: from it on, wait for
		 * the exit itself (its pidfd), not for the end of file first,
		 * which comes a moment before the exit and would wake this
		 * thread once more per child. */
		if (rv == TP_ECLOSED || (rv != TP_OK && rv != TP_ENOMEM) ||
		    (p->have_result && p->direct && timeout_ms != 0)) {
			rv = finish_exit(p, tp__remaining(deadline));
			pthread_mutex_unlock(&p->pump_mu);
			return rv;
		}
		pthread_mutex_unlock(&p->pump_mu);
		int wait = tp__remaining(deadline);
		if (wait == 0)
			return TP_ETIMEDOUT;
		struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
		if (!tp__spin_poll(&p->spin, p->fd,
		                   deadline == TP_FOREVER ? -1 : deadline) &&
		    poll(&pfd, 1, wait) < 0 && errno != EINTR)
			return tp_err_errno(errno);
	}
}
