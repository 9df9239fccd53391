/*
 * actor.c - the actor loop (tp_actor_run): one message at a time from an
 * nng rep socket, timers, watched processes (pidfds), and SIGTERM/SIGINT
 * through a signalfd, all in one poll().
 *
 * A cast is acknowledged before it is handled, so the caller learns that
 * it was delivered and nothing more; a call's reply is the handler's
 * payload, or an Error envelope carrying the handler's code.
 */
#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "child_int.h"
#include "clock.h"
#include "troupe/actor.h"
#include "troupe/error.h"
#include "troupe/runtime.h"
#include "troupe/supervisor.h"
#include "runtime_int.h"
#include "wire.h"

#define MAX_TIMERS    64
#define MAX_WATCH     64
#define ACTOR_MAX_MSG (16 * 1024 * 1024)

struct tp_actor {
	const tp_actor_module *m;
	void *state;
	nng_socket sock;
	char address[300];
	int stopping, reason;
	int sigfd;
	struct {
		int64_t due, id;
	} timers[MAX_TIMERS];
	int ntimers;
	struct {
		pid_t pid;
		int fd;
	} watch[MAX_WATCH];
	int nwatch;
	tp_actor_stats stats;
};

void tp_actor_stop(tp_actor *self, int reason)
{
	if (self != NULL && !self->stopping) {
		self->stopping = 1;
		self->reason = reason;
	}
}

const char *tp_actor_address(const tp_actor *self)
{
	return self ? self->address : NULL;
}

void tp_actor_get_stats(const tp_actor *self, tp_actor_stats *out)
{
	if (self != NULL && out != NULL)
		*out = self->stats;
}

int tp_actor_send_after(tp_actor *self, int ms, int64_t id)
{
	if (self == NULL || ms < 0)
		return TP_EINVAL;
	if (self->ntimers == MAX_TIMERS)
		return TP_EFULL;
	self->timers[self->ntimers].due = tp__now_ms() + ms;
	self->timers[self->ntimers++].id = id;
	return TP_OK;
}

int tp_actor_watch(tp_actor *self, pid_t pid)
{
	if (self == NULL || pid <= 0)
		return TP_EINVAL;
	if (self->nwatch == MAX_WATCH)
		return TP_EFULL;
	int fd, rv = tp__pid_watch(pid, &fd); /* proc/'s watch */
	if (rv != TP_OK)
		return rv;
	self->watch[self->nwatch].pid = pid;
	self->watch[self->nwatch++].fd = fd;
	return TP_OK;
}

static void info(tp_actor *a, const tp_actor_info *in)
{
	a->stats.infos++;
	if (a->m->handle_info == NULL)
		return;
	int rv = a->m->handle_info(a, a->state, in);
	if (rv != TP_OK)
		tp_actor_stop(a, rv);
}

static void fire_timers(tp_actor *a)
{
	int64_t now = tp__now_ms();
	for (int i = 0; i < a->ntimers && !a->stopping;) {
		if (a->timers[i].due > now) {
			i++;
			continue;
		}
		tp_actor_info in = {.kind = TP_INFO_TIMER,
		                    .timer_id = a->timers[i].id};
		a->timers[i] = a->timers[--a->ntimers];
		info(a, &in);
	}
}

static void watched_exit(tp_actor *a, int i)
{
	tp_actor_info in = {
	    .kind = TP_INFO_EXIT, .pid = a->watch[i].pid, .exit_code = -1};
	/* Our own child: its status (left for its owner to reap). */
	tp__pid_peek(in.pid, &in.exit_code);
	close(a->watch[i].fd);
	a->watch[i] = a->watch[--a->nwatch];
	info(a, &in);
}

static nng_msg *reply_msg(const tp_payload *p, int code)
{
	Troupe__Envelope env = TROUPE__ENVELOPE__INIT;
	Troupe__Payload pb = TROUPE__PAYLOAD__INIT;
	Troupe__Error err = TROUPE__ERROR__INIT;
	nng_msg *m = NULL;
	void *buf = NULL;
	size_t len;
	if (code == TP_OK && p != NULL &&
	    (code = tp__payload_to_pb(p, &pb)) == TP_OK) {
		env.body_case = TROUPE__ENVELOPE__BODY_PAYLOAD;
		env.payload = &pb;
	} else if (code == TP_OK) {
		env.body_case = TROUPE__ENVELOPE__BODY_PAYLOAD;
		env.payload = &pb;
	}
	if (code != TP_OK) {
		err.code = code;
		err.origin = "actor";
		err.message = (char *)tp_strerror(code);
		env.body_case = TROUPE__ENVELOPE__BODY_ERROR;
		env.error = &err;
	}
	if (tp__envelope_pack(&env, ACTOR_MAX_MSG, &buf, &len) == TP_OK &&
	    nng_msg_alloc(&m, len) == 0)
		memcpy(nng_msg_body(m), buf, len);
	free(buf);
	tp__payload_pb_release(&pb);
	return m;
}

static void send_reply(tp_actor *a, const tp_payload *p, int code)
{
	nng_msg *m = reply_msg(p, code);
	if (m != NULL && nng_sendmsg(a->sock, m, 0) != 0)
		nng_msg_free(m);
	else if (m != NULL)
		a->stats.msgs_out++;
}

/* One request from the socket. */
static void on_message(tp_actor *a)
{
	nng_msg *m;
	Troupe__Envelope *env = NULL;
	tp_payload *in = NULL, *out = NULL;
	if (nng_recvmsg(a->sock, &m, NNG_FLAG_NONBLOCK) != 0)
		return;
	a->stats.msgs_in++;
	int rv = tp__envelope_unpack(nng_msg_body(m), nng_msg_len(m),
	                             ACTOR_MAX_MSG, &env);
	nng_msg_free(m);
	if (rv == TP_OK &&
	    env->body_case != TROUPE__ENVELOPE__BODY_ACTOR_REQUEST)
		rv = TP_EDECODE;
	if (rv == TP_OK && env->actor_request->payload != NULL)
		rv = tp__payload_from_pb(env->actor_request->payload, &in);
	else if (rv == TP_OK)
		rv = tp_payload_new(&in);
	if (rv != TP_OK) {
		send_reply(a, NULL, rv);
	} else if (env->actor_request->stats) {
		a->stats.msgs_in--; /* monitoring is not traffic */
		if ((rv = tp_payload_new(&out)) == TP_OK) {
			tp_payload_add_int(out, (int64_t)a->stats.msgs_in);
			tp_payload_add_int(out, (int64_t)a->stats.msgs_out);
			tp_payload_add_int(out, (int64_t)a->stats.infos);
		}
		uint64_t sent = a->stats.msgs_out;
		send_reply(a, out, rv);
		a->stats.msgs_out = sent;
	} else if (env->actor_request->cast) {
		send_reply(a, NULL, TP_OK); /* delivered */
		rv = a->m->handle_cast ? a->m->handle_cast(a, a->state, in)
		                       : TP_OK;
		if (rv != TP_OK)
			tp_actor_stop(a, rv);
	} else if (a->m->handle_call == NULL) {
		send_reply(a, NULL, TP_ENOENT);
	} else if ((rv = tp_payload_new(&out)) == TP_OK) {
		rv = a->m->handle_call(a, a->state, in, out);
		send_reply(a, out, rv);
	} else {
		send_reply(a, NULL, rv);
	}
	tp_payload_free(in);
	tp_payload_free(out);
	tp__envelope_free(env);
}

static int next_timeout(tp_actor *a)
{
	if (a->ntimers == 0)
		return -1;
	int64_t now = tp__now_ms(), due = a->timers[0].due;
	for (int i = 1; i < a->ntimers; i++)
		if (a->timers[i].due < due)
			due = a->timers[i].due;
	return due > now ? (int)(due - now) : 0;
}

static void loop(tp_actor *a, int recvfd)
{
	struct pollfd fds[2 + MAX_WATCH];
	while (!a->stopping) {
		int n = 0;
		fds[n++] = (struct pollfd){.fd = recvfd, .events = POLLIN};
		fds[n++] = (struct pollfd){.fd = a->sigfd, .events = POLLIN};
		for (int i = 0; i < a->nwatch; i++)
			fds[n++] = (struct pollfd){.fd = a->watch[i].fd,
			                           .events = POLLIN};
		if (poll(fds, (nfds_t)n, next_timeout(a)) < 0 && errno != EINTR)
			break;
		if (fds[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			(void)!read(a->sigfd, &si, sizeof(si));
			tp_actor_stop(a, TP_ECANCELED);
			break;
		}
		if (fds[0].revents & POLLIN)
			on_message(a);
		for (int i = a->nwatch - 1; i >= 0 && !a->stopping; i--)
			if (fds[2 + i].revents & (POLLIN | POLLHUP))
				watched_exit(a, i);
		fire_timers(a);
	}
}

static int open_socket(tp_actor *a, const char *address, int *recvfd)
{
	const char *env = getenv("TROUPE_ACTOR_ADDR");
	int rv;
	if (address == NULL && env != NULL && env[0] != '\0')
		address = env;
	if (address == NULL) {
		if ((rv = tp_address("actor", a->address,
		                     sizeof(a->address))) != TP_OK)
			return rv;
	} else if (strlen(address) >= sizeof(a->address)) {
		return TP_ETOOBIG;
	} else {
		snprintf(a->address, sizeof(a->address), "%s", address);
	}
	tp__nng_used();
	if ((rv = nng_rep0_open(&a->sock)) != 0)
		return tp_err_nng(rv);
	nng_setopt_size(a->sock, NNG_OPT_RECVMAXSZ, ACTOR_MAX_MSG);
	if ((rv = nng_listen(a->sock, a->address, NULL, 0)) != 0 ||
	    (rv = nng_getopt_int(a->sock, NNG_OPT_RECVFD, recvfd)) != 0) {
		nng_close(a->sock);
		return tp_err_nng(rv);
	}
	return TP_OK;
}

int tp_actor_run(const tp_actor_module *m, const char *address,
                 const tp_payload *args)
{
	tp_actor a = {.m = m, .sigfd = -1};
	tp_payload *empty = NULL;
	sigset_t set;
	int recvfd, rv;
	if (m == NULL || m->init == NULL)
		return 1;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	a.sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (args == NULL && tp_payload_new(&empty) == TP_OK)
		args = empty;
	if (a.sigfd < 0 || args == NULL) {
		rv = a.sigfd < 0 ? tp_err_errno(errno) : TP_ENOMEM;
	} else if ((rv = open_socket(&a, address, &recvfd)) == TP_OK) {
		if ((rv = m->init(&a, args, &a.state)) == TP_OK) {
			tp_ready();
			loop(&a, recvfd);
			if (m->terminate != NULL)
				m->terminate(&a, a.state, a.reason);
			rv = a.reason;
		}
		nng_close(a.sock);
	}
	if (rv != TP_OK && !a.stopping)
		fprintf(stderr, "actor %s: %s\n", m->name ? m->name : "?",
		        tp_strerror(rv));
	for (int i = 0; i < a.nwatch; i++)
		close(a.watch[i].fd);
	if (a.sigfd >= 0)
		close(a.sigfd);
	tp_payload_free(empty);
	return rv == TP_OK ? 0 : 1;
}
