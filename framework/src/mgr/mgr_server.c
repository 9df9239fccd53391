/*
 * mgr_server.c - the manager's nng transport: a raw rep0 socket (so a
 * request can be answered later: a parked call keeps its message, whose
 * header routes the reply back to its pipe), one receive aio whose
 * callback feeds the core, and a housekeeping thread (the caller's) that
 * handles pipe removals and parked-call deadlines. Pipe-removal
 * notifications only queue the pipe id: they run on nng's threads, so
 * they never take the core's lock.
 */
#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/tls/tls.h>
#include <nng/supplemental/util/platform.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "mgr_int.h"
#include "runtime_int.h"
#include "troupe/error.h"

struct srv {
	nng_socket sock;
	nng_aio *raio;
	struct tp__mgr_core *core;
	pthread_mutex_t mu;  /* the core */
	pthread_mutex_t dmu; /* below */
	pthread_cond_t cv;
	uint32_t *dead;
	size_t ndead, capdead;
	int stop;
	int64_t next;
	struct tp__mgr_fast *fast; /* local clients, NULL if none */
};

/* Tokens of fast-path requests are (connection id << 1) | 1; nng
 * messages are aligned pointers. */
static int is_fast(void *token)
{
	return ((uintptr_t)token & 1) != 0;
}

static void srv_send(void *arg, void *token, const void *buf, size_t len)
{
	struct srv *s = arg;
	nng_msg *m = token;
	if (is_fast(token)) {
		if (s->fast != NULL)
			tp__mgr_fast_send(s->fast,
			                  (uint32_t)((uintptr_t)token >> 1),
			                  buf, len);
		return;
	}
	nng_msg_clear(m); /* the header (the route back) stays */
	if (nng_msg_append(m, buf, len) != 0 ||
	    nng_sendmsg(s->sock, m, NNG_FLAG_NONBLOCK) != 0)
		nng_msg_free(m);
}

static void srv_drop(void *arg, void *token)
{
	(void)arg;
	if (!is_fast(token))
		nng_msg_free(token);
}

static void srv_close_client(void *arg, uint32_t client)
{
	struct srv *s = arg;
	if (tp__mgr_fast_is(client)) {
		if (s->fast != NULL)
			tp__mgr_fast_close(s->fast, client);
		return;
	}
	nng_pipe p = NNG_PIPE_INITIALIZER;
	p.id = client;
	nng_pipe_close(p);
}

static void srv_wake(struct srv *s, int64_t next, int stop)
{
	pthread_mutex_lock(&s->dmu);
	/* wake the housekeeper only for news: an earlier deadline or stop
	 * (waking it on every request costs a context switch each) */
	if (stop || next < s->next) {
		s->stop |= stop;
		if (next < s->next)
			s->next = next;
		pthread_cond_signal(&s->cv);
	}
	pthread_mutex_unlock(&s->dmu);
}

static void srv_shutdown(void *arg)
{
	srv_wake(arg, INT64_MAX, 1);
}

/* After a request: parked calls may have new deadlines. Under s->mu. */
static void srv_kick(void *arg)
{
	struct srv *s = arg;
	srv_wake(s, tp__mgr_core_expire(s->core, tp__now_ms()), 0);
}

static void srv_recv_cb(void *arg)
{
	struct srv *s = arg;
	int rv = nng_aio_result(s->raio);
	if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
		return;
	if (rv == 0) {
		nng_msg *m = nng_aio_get_msg(s->raio);
		uint32_t pipe = nng_msg_get_pipe(m).id;
		pthread_mutex_lock(&s->mu);
		tp__mgr_core_request(s->core, pipe, m, nng_msg_body(m),
		                     nng_msg_len(m));
		int64_t next = tp__mgr_core_expire(s->core, tp__now_ms());
		pthread_mutex_unlock(&s->mu);
		srv_wake(s, next, 0);
	}
	nng_recv_aio(s->sock, s->raio);
}

static void srv_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct srv *s = arg;
	(void)ev;
	pthread_mutex_lock(&s->dmu);
	if (s->ndead == s->capdead) {
		size_t cap = s->capdead ? s->capdead * 2 : 16;
		uint32_t *d = realloc(s->dead, cap * sizeof(*d));
		if (d == NULL) { /* the pipe's state is then kept */
			pthread_mutex_unlock(&s->dmu);
			return;
		}
		s->dead = d;
		s->capdead = cap;
	}
	s->dead[s->ndead++] = p.id;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->dmu);
}

/* Housekeeping until shutdown: removed pipes and expired deadlines. */
static void srv_loop(struct srv *s)
{
	pthread_mutex_lock(&s->dmu);
	while (!s->stop) {
		uint32_t *dead = s->dead;
		size_t ndead = s->ndead;
		int64_t now = tp__now_ms();
		if (ndead == 0 && s->next > now) {
			struct timespec ts;
			int64_t at =
			    s->next == INT64_MAX ? now + 60000 : s->next;
			ts.tv_sec = at / 1000;
			ts.tv_nsec = (at % 1000) * 1000000;
			pthread_cond_timedwait(&s->cv, &s->dmu, &ts);
			continue;
		}
		s->dead = NULL;
		s->ndead = s->capdead = 0;
		s->next = INT64_MAX;
		pthread_mutex_unlock(&s->dmu);
		pthread_mutex_lock(&s->mu);
		for (size_t i = 0; i < ndead; i++)
			tp__mgr_core_gone(s->core, dead[i]);
		int64_t next = tp__mgr_core_expire(s->core, tp__now_ms());
		pthread_mutex_unlock(&s->mu);
		free(dead);
		pthread_mutex_lock(&s->dmu);
		if (next < s->next)
			s->next = next;
	}
	pthread_mutex_unlock(&s->dmu);
}

static int read_file(const char *path, char **out)
{
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return tp_err_errno(errno);
	char *buf = calloc(1, 65536);
	size_t n = buf ? fread(buf, 1, 65535, f) : 0;
	fclose(f);
	if (buf == NULL)
		return TP_ENOMEM;
	if (n == 0) {
		free(buf);
		return TP_EINVAL;
	}
	*out = buf;
	return TP_OK;
}

static int srv_tls(nng_listener l, const tp_manager_opts *o)
{
	nng_tls_config *cfg;
	char *cert = NULL, *key = NULL;
	int rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_SERVER);
	if (rv != 0)
		return tp_err_nng(rv);
	if ((rv = read_file(o->tls_cert, &cert)) == TP_OK &&
	    (rv = read_file(o->tls_key, &key)) == TP_OK)
		rv = tp_err_nng(nng_tls_config_own_cert(cfg, cert, key, NULL));
	if (rv == TP_OK)
		rv = tp_err_nng(
		    nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg));
	nng_tls_config_free(cfg);
	free(cert);
	free(key);
	return rv;
}

/* Listens; a tcp port 0 is replaced by the port chosen in addr. */
static int srv_listen(struct srv *s, const tp_manager_opts *o, char *addr,
                      size_t len)
{
	nng_listener l;
	int tls = strncmp(o->address, "tls+tcp://", 10) == 0;
	int rv = nng_listener_create(&l, s->sock, o->address);
	if (rv != 0)
		return tp_err_nng(rv);
	if (tls && (o->tls_cert == NULL || o->tls_key == NULL))
		return TP_EINVAL;
	if (tls && (rv = srv_tls(l, o)) != TP_OK)
		return rv;
	if ((rv = nng_listener_start(l, 0)) != 0)
		return tp_err_nng(rv);
	snprintf(addr, len, "%s", o->address);
	nng_sockaddr sa;
	size_t n = strlen(addr);
	if (n > 2 && strcmp(addr + n - 2, ":0") == 0 &&
	    nng_listener_get_addr(l, NNG_OPT_LOCADDR, &sa) == 0 &&
	    (sa.s_family == NNG_AF_INET || sa.s_family == NNG_AF_INET6)) {
		uint16_t port = sa.s_family == NNG_AF_INET ? sa.s_in.sa_port
		                                           : sa.s_in6.sa_port;
		snprintf(addr + n - 1, len - (n - 1), "%u",
		         (unsigned)((port >> 8) | ((port & 0xff) << 8)));
	}
	return TP_OK;
}

static int srv_open(struct srv *s, const tp_manager_opts *o, char *addr,
                    size_t len)
{
	size_t max = o->max_msg ? o->max_msg : TP_MAX_MSG_DEFAULT;
	struct tp__mgr_io io = {s, srv_send, srv_drop, srv_close_client,
	                        srv_shutdown};
	int rv =
	    tp__mgr_core_new(&s->core, o->authkey, o->authkey_len, max, &io);
	if (rv != TP_OK)
		return rv;
	tp__nng_used();
	if ((rv = nng_rep0_open_raw(&s->sock)) != 0)
		return tp_err_nng(rv);
	if ((rv = nng_aio_alloc(&s->raio, srv_recv_cb, s)) != 0 ||
	    (rv = nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ,
	                              max + 4096)) != 0 ||
	    /* replies are sent without blocking: give them a queue */
	    (rv = nng_socket_set_int(s->sock, NNG_OPT_SENDBUF, 8192)) != 0 ||
	    (rv = nng_socket_set_int(s->sock, NNG_OPT_RECVBUF, 1024)) != 0 ||
	    (rv = nng_pipe_notify(s->sock, NNG_PIPE_EV_REM_POST, srv_pipe_cb,
	                          s)) != 0)
		return tp_err_nng(rv);
	if ((rv = srv_listen(s, o, addr, len)) != TP_OK)
		return rv;
	/* local managers also take local clients on a unix socket */
	if (strncmp(addr, "ipc://", 6) == 0 &&
	    tp__mgr_fast_start(&s->fast, addr, s->core, &s->mu, max, srv_kick,
	                       s) != TP_OK)
		s->fast = NULL; /* nng alone still serves everyone */
	return TP_OK;
}

int tp__mgr_serve(const tp_manager_opts *o,
                  void (*ready)(void *arg, const char *addr, int err),
                  void *arg)
{
	struct srv s;
	char addr[512];
	pthread_condattr_t ca;
	memset(&s, 0, sizeof(s));
	snprintf(addr, sizeof(addr), "%s", o->address ? o->address : "");
	s.next = INT64_MAX;
	pthread_mutex_init(&s.mu, NULL);
	pthread_mutex_init(&s.dmu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s.cv, &ca);
	pthread_condattr_destroy(&ca);
	int rv = srv_open(&s, o, addr, sizeof(addr));
	ready(arg, addr, rv);
	if (rv == TP_OK) {
		nng_recv_aio(s.sock, s.raio);
		srv_loop(&s);
		nng_msleep(20); /* let the shutdown reply leave */
	}
	if (s.raio != NULL) /* no more nng requests... */
		nng_aio_stop(s.raio);
	pthread_mutex_lock(&s.mu); /* ...then no more fast ones */
	struct tp__mgr_fast *fast = s.fast;
	s.fast = NULL;
	pthread_mutex_unlock(&s.mu);
	tp__mgr_fast_stop(fast);
	if (nng_socket_id(s.sock) > 0)
		nng_close(s.sock);
	nng_aio_free(s.raio);
	tp__mgr_core_free(s.core);
	free(s.dead);
	pthread_cond_destroy(&s.cv);
	pthread_mutex_destroy(&s.dmu);
	pthread_mutex_destroy(&s.mu);
	return rv;
}

static void fd_ready(void *arg, const char *addr, int err)
{
	int fd = *(int *)arg;
	(void)addr;
	if (fd >= 0) {
		char c = err == TP_OK ? 1 : 0;
		if (write(fd, &c, 1) < 0) {
			/* the waiter is gone; serve anyway */
		}
		close(fd);
	}
}

int tp_manager_serve(const tp_manager_opts *opts, int ready_fd)
{
	if (opts == NULL || opts->address == NULL || opts->authkey == NULL ||
	    opts->authkey_len == 0)
		return TP_EINVAL;
	return tp__mgr_serve(opts, fd_ready, &ready_fd);
}
