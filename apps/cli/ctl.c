/*
 * ctl.c - the daemon's control socket: nng req/rep over ipc, one
 * Envelope{SupRequest} in, one Envelope{SupReply} out.
 *
 * The socket file is made with mode 0600 in a private directory, and each
 * request's peer is checked with SO_PEERCRED (NNG_OPT_IPC_PEER_UID): only
 * the daemon's own user (or root) is served. A malformed request gets a
 * TP_EDECODE reply and changes nothing. Four worker contexts serve
 * requests concurrently, so a `stop` waiting out a slow child's shutdown
 * time does not hold up `status`.
 */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "internal.h"

#define CTL_WORKERS 4
#define CTL_MAX_MSG (1024 * 1024)

struct ctl_worker {
	struct daemon *d;
	nng_ctx ctx;
	pthread_t thr;
};

struct ctl {
	nng_socket sock;
	struct ctl_worker w[CTL_WORKERS];
	int nw;
};

/* ctl_cmd.c */
void ctl_handle(struct daemon *d, const Troupe__SupRequest *req,
                Troupe__SupReply *rep);
void ctl_reply_free(Troupe__SupReply *rep);
extern int ctl_shutdown_requested;

static nng_msg *make_reply(const Troupe__SupReply *rep)
{
	Troupe__Envelope env = TROUPE__ENVELOPE__INIT;
	void *buf;
	size_t len;
	nng_msg *m = NULL;
	env.body_case = TROUPE__ENVELOPE__BODY_SUP_REPLY;
	env.sup_reply = (Troupe__SupReply *)rep;
	env.sender = "troupe";
	if (tp__envelope_pack(&env, CTL_MAX_MSG, &buf, &len) != TP_OK)
		return NULL;
	if (nng_msg_alloc(&m, len) == 0)
		memcpy(nng_msg_body(m), buf, len);
	free(buf);
	return m;
}

static int peer_allowed(nng_msg *m)
{
	uint64_t uid;
	nng_pipe p = nng_msg_get_pipe(m);
	if (nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_UID, &uid) != 0)
		return 0;
	return uid == (uint64_t)geteuid() || uid == 0;
}

static void serve(struct daemon *d, nng_msg *in, Troupe__SupReply *rep)
{
	Troupe__Envelope *env = NULL;
	if (!peer_allowed(in)) {
		rep->code = TP_EPERM;
		rep->message =
		    strdup("permission denied: not the daemon's user");
		return;
	}
	int rv = tp__envelope_unpack(nng_msg_body(in), nng_msg_len(in),
	                             CTL_MAX_MSG, &env);
	if (rv == TP_OK && env->body_case != TROUPE__ENVELOPE__BODY_SUP_REQUEST)
		rv = TP_EDECODE;
	if (rv != TP_OK) {
		rep->code = rv;
		rep->message = strdup("malformed request");
	} else {
		ctl_handle(d, env->sup_request, rep);
	}
	tp__envelope_free(env);
}

static void *worker(void *arg)
{
	struct ctl_worker *w = arg;
	nng_aio *aio;
	if (nng_aio_alloc(&aio, NULL, NULL) != 0)
		return NULL;
	for (;;) {
		nng_ctx_recv(w->ctx, aio);
		nng_aio_wait(aio);
		if (nng_aio_result(aio) == NNG_ECLOSED)
			break;
		if (nng_aio_result(aio) != 0)
			continue;
		nng_msg *in = nng_aio_get_msg(aio);
		Troupe__SupReply rep = TROUPE__SUP_REPLY__INIT;
		serve(w->d, in, &rep);
		nng_msg_free(in);
		nng_msg *out = make_reply(&rep);
		ctl_reply_free(&rep);
		if (out == NULL)
			continue;
		nng_aio_set_msg(aio, out);
		nng_ctx_send(w->ctx, aio);
		nng_aio_wait(aio);
		if (nng_aio_result(aio) != 0)
			nng_msg_free(out);
		if (__atomic_load_n(&ctl_shutdown_requested, __ATOMIC_RELAXED))
			kill(getpid(), SIGTERM); /* after the reply left */
	}
	nng_aio_free(aio);
	return NULL;
}

int ctl_start(struct daemon *d, const char *path)
{
	struct ctl *c = calloc(1, sizeof(*c));
	nng_listener l;
	char url[300];
	int rv;
	if (c == NULL)
		return TP_ENOMEM;
	snprintf(url, sizeof(url), "ipc://%s", path);
	tp__nng_used();
	if ((rv = nng_rep0_open(&c->sock)) != 0 ||
	    (rv = nng_listener_create(&l, c->sock, url)) != 0 ||
	    (rv = nng_listener_set_int(l, NNG_OPT_IPC_PERMISSIONS, 0600)) !=
	        0 ||
	    (rv = nng_setopt_size(c->sock, NNG_OPT_RECVMAXSZ, CTL_MAX_MSG)) !=
	        0 ||
	    (rv = nng_listener_start(l, 0)) != 0) {
		nng_close(c->sock);
		free(c);
		return tp_err_nng(rv);
	}
	for (c->nw = 0; c->nw < CTL_WORKERS; c->nw++) {
		struct ctl_worker *w = &c->w[c->nw];
		w->d = d;
		if (nng_ctx_open(&w->ctx, c->sock) != 0 ||
		    pthread_create(&w->thr, NULL, worker, w) != 0)
			break;
	}
	d->ctl = c;
	return TP_OK;
}

void ctl_stop(struct daemon *d)
{
	struct ctl *c = d->ctl;
	if (c == NULL)
		return;
	nng_close(c->sock);
	for (int i = 0; i < c->nw; i++)
		pthread_join(c->w[i].thr, NULL);
	unlink(d->socket);
	free(c);
	d->ctl = NULL;
}

int ctl_call(const char *path, const Troupe__SupRequest *req,
             Troupe__Envelope **rep, int timeout_ms)
{
	Troupe__Envelope env = TROUPE__ENVELOPE__INIT;
	nng_socket s;
	nng_msg *m = NULL;
	char url[300];
	void *buf;
	size_t len;
	int rv;
	env.body_case = TROUPE__ENVELOPE__BODY_SUP_REQUEST;
	env.sup_request = (Troupe__SupRequest *)req;
	env.sender = "troupe-cli";
	if ((rv = tp__envelope_pack(&env, CTL_MAX_MSG, &buf, &len)) != TP_OK)
		return rv;
	snprintf(url, sizeof(url), "ipc://%s", path);
	tp__nng_used();
	if ((rv = nng_req0_open(&s)) != 0) {
		free(buf);
		return tp_err_nng(rv);
	}
	nng_setopt_ms(s, NNG_OPT_RECVTIMEO, timeout_ms);
	nng_setopt_ms(s, NNG_OPT_SENDTIMEO, timeout_ms);
	nng_setopt_size(s, NNG_OPT_RECVMAXSZ, CTL_MAX_MSG);
	if ((rv = nng_dial(s, url, NULL, 0)) == 0 &&
	    (rv = nng_msg_alloc(&m, len)) == 0) {
		memcpy(nng_msg_body(m), buf, len);
		if ((rv = nng_sendmsg(s, m, 0)) != 0)
			nng_msg_free(m);
		else if ((rv = nng_recvmsg(s, &m, 0)) == 0) {
			rv = tp__envelope_unpack(
			    nng_msg_body(m), nng_msg_len(m), CTL_MAX_MSG, rep);
			nng_msg_free(m);
			free(buf);
			nng_close(s);
			if (rv == TP_OK &&
			    (*rep)->body_case !=
			        TROUPE__ENVELOPE__BODY_SUP_REPLY) {
				tp__envelope_free(*rep);
				rv = TP_EPROTO;
			}
			return rv;
		}
	}
	free(buf);
	nng_close(s);
	return rv == NNG_ECONNREFUSED || rv == NNG_ENOENT ? TP_ENOENT
	       : rv == NNG_ETIMEDOUT                      ? TP_ETIMEDOUT
	                                                  : tp_err_nng(rv);
}
