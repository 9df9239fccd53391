/*
 * actor.c - the actor loop (tp_actor_run), the gen_server face of the one
 * reactor (rt/reactor.h): one message at a time from an nng rep socket
 * (its receive fd a source), timers (timer sources), watched processes
 * (pid sources) and SIGTERM/SIGINT (a signals source).
 *
 * A cast is acknowledged before it is handled, so the caller learns that
 * it was delivered and nothing more; a call's reply is the handler's
 * payload, or an Error envelope carrying the handler's code.
 */
#include <sys/epoll.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "child_int.h"
#include "clock.h"
#include "reactor.h"
#include "troupe/actor.h"
#include "troupe/error.h"
#include "troupe/runtime.h"
#include "troupe/supervisor.h"
#include "runtime_int.h"
#include "wire.h"

#define MAX_TIMERS    64
#define MAX_WATCH     64
#define ACTOR_MAX_MSG (16 * 1024 * 1024)

/* A pending timer or watch: its source and what the callback reports. */
struct pending {
	tp_actor *a;
	tp__rsrc *src;
	int64_t id; /* a timer's id */
	struct pending *prev, *next;
};

struct tp_actor {
	const tp_actor_module *m;
	void *state;
	nng_socket sock;
	char address[300];
	int stopping, reason;
	tp__reactor *r;
	int ntimers, nwatch;
	struct pending *pending; /* timers and watches not yet fired */
	tp_actor_stats stats;
};

void tp_actor_stop(tp_actor *self, int reason)
{
	if (self != NULL && !self->stopping) {
		self->stopping = 1;
		self->reason = reason;
		tp__reactor_stop(self->r);
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

static void info(tp_actor *a, const tp_actor_info *in)
{
	a->stats.infos++;
	if (a->m->handle_info == NULL)
		return;
	int rv = a->m->handle_info(a, a->state, in);
	if (rv != TP_OK)
		tp_actor_stop(a, rv);
}

static struct pending *pending_new(tp_actor *a)
{
	struct pending *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->a = a;
	p->next = a->pending;
	if (a->pending != NULL)
		a->pending->prev = p;
	a->pending = p;
	return p;
}

static void pending_free(struct pending *p)
{
	tp_actor *a = p->a;
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		a->pending = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	tp__reactor_del(p->src);
	free(p);
}

static void on_timer(tp__rsrc *src, uint32_t ev, void *arg)
{
	struct pending *p = arg;
	tp_actor *a = p->a;
	tp_actor_info in = {.kind = TP_INFO_TIMER, .timer_id = p->id};
	(void)ev;
	(void)src;
	pending_free(p);
	a->ntimers--;
	info(a, &in);
}

int tp_actor_send_after(tp_actor *self, int ms, int64_t id)
{
	if (self == NULL || ms < 0)
		return TP_EINVAL;
	if (self->ntimers == MAX_TIMERS)
		return TP_EFULL;
	struct pending *p = pending_new(self);
	if (p == NULL)
		return TP_ENOMEM;
	p->id = id;
	int rv = tp__reactor_add_timer(self->r, tp__now_ms() + ms, on_timer, p,
	                               &p->src);
	if (rv != TP_OK) {
		pending_free(p);
		return rv;
	}
	self->ntimers++;
	return TP_OK;
}

/* A watched pid exited: its status (our own child's, left for its owner
 * to reap) to handle_info. */
static void on_exit_of(tp__rsrc *src, uint32_t ev, void *arg)
{
	struct pending *p = arg;
	tp_actor *a = p->a;
	tp_actor_info in = {
	    .kind = TP_INFO_EXIT, .pid = tp__rsrc_pid(src), .exit_code = -1};
	(void)ev;
	tp__pid_peek(in.pid, &in.exit_code);
	pending_free(p);
	a->nwatch--;
	info(a, &in);
}

int tp_actor_watch(tp_actor *self, pid_t pid)
{
	if (self == NULL || pid <= 0)
		return TP_EINVAL;
	if (self->nwatch == MAX_WATCH)
		return TP_EFULL;
	struct pending *p = pending_new(self);
	if (p == NULL)
		return TP_ENOMEM;
	int rv = tp__reactor_add_pid(self->r, pid, on_exit_of, p, &p->src);
	if (rv != TP_OK) {
		pending_free(p);
		return rv;
	}
	self->nwatch++;
	return TP_OK;
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

static void on_recv(tp__rsrc *src, uint32_t ev, void *arg)
{
	(void)src;
	(void)ev;
	on_message(arg);
}

static void on_signal(tp__rsrc *src, uint32_t signo, void *arg)
{
	(void)src;
	(void)signo;
	tp_actor_stop(arg, TP_ECANCELED);
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
	tp_actor a = {.m = m};
	tp_payload *empty = NULL;
	sigset_t set;
	int recvfd, rv;
	if (m == NULL || m->init == NULL)
		return 1;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (args == NULL && tp_payload_new(&empty) == TP_OK)
		args = empty;
	if ((rv = tp__reactor_new(&a.r)) == TP_OK)
		rv = tp__reactor_add_signals(a.r, &set, on_signal, &a, NULL);
	if (rv == TP_OK && args == NULL)
		rv = TP_ENOMEM;
	if (rv == TP_OK && (rv = open_socket(&a, address, &recvfd)) == TP_OK) {
		rv =
		    tp__reactor_add_fd(a.r, recvfd, EPOLLIN, on_recv, &a, NULL);
		if (rv == TP_OK &&
		    (rv = m->init(&a, args, &a.state)) == TP_OK) {
			tp_ready();
			if (!a.stopping && (rv = tp__reactor_run(a.r)) != TP_OK)
				tp_actor_stop(&a, rv);
			if (m->terminate != NULL)
				m->terminate(&a, a.state, a.reason);
			rv = a.reason;
		}
		nng_close(a.sock);
	}
	if (rv != TP_OK && !a.stopping)
		fprintf(stderr, "actor %s: %s\n", m->name ? m->name : "?",
		        tp_strerror(rv));
	while (a.pending != NULL)
		pending_free(a.pending);
	tp__reactor_free(a.r);
	tp_payload_free(empty);
	return rv == TP_OK ? 0 : 1;
}
