/*
 * mgr_server.c - runs a manager server: the core (mgr_core.c) behind the
 * manager's own stream transport (mgr_fast.c: ipc://, tcp://, tls+tcp://),
 * and a housekeeping thread (the caller's) that answers parked calls whose
 * deadline passed. The transport's thread feeds the core under mu.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "mgr_int.h"
#include "troupe/error.h"

struct srv {
	struct tp__mgr_core *core;
	pthread_mutex_t mu;  /* the core */
	pthread_mutex_t dmu; /* below */
	pthread_cond_t cv;
	int stop;
	int64_t next;
	struct tp__mgr_fast *fast;
};

/* Tokens are (connection id << 1) | 1 (mgr_fast.c). */
static void srv_send(void *arg, void *token, const void *buf, size_t len)
{
	struct srv *s = arg;
	if (s->fast != NULL)
		tp__mgr_fast_send(s->fast, (uint32_t)((uintptr_t)token >> 1),
		                  buf, len);
}

static void srv_drop(void *arg, void *token)
{
	(void)arg;
	(void)token;
}

static void srv_close_client(void *arg, uint32_t client)
{
	struct srv *s = arg;
	if (s->fast != NULL)
		tp__mgr_fast_close(s->fast, client);
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
	if (tp__mgr_core_parked(s->core)) /* else nothing to expire */
		srv_wake(s, tp__mgr_core_expire(s->core, tp__now_ms()), 0);
}

/* Housekeeping until shutdown: expired deadlines. */
static void srv_loop(struct srv *s)
{
	pthread_mutex_lock(&s->dmu);
	while (!s->stop) {
		int64_t now = tp__now_ms();
		if (s->next > now) {
			struct timespec ts;
			int64_t at =
			    s->next == INT64_MAX ? now + 60000 : s->next;
			ts.tv_sec = at / 1000;
			ts.tv_nsec = (at % 1000) * 1000000;
			pthread_cond_timedwait(&s->cv, &s->dmu, &ts);
			continue;
		}
		s->next = INT64_MAX;
		pthread_mutex_unlock(&s->dmu);
		pthread_mutex_lock(&s->mu);
		int64_t next = tp__mgr_core_expire(s->core, tp__now_ms());
		pthread_mutex_unlock(&s->mu);
		pthread_mutex_lock(&s->dmu);
		if (next < s->next)
			s->next = next;
	}
	pthread_mutex_unlock(&s->dmu);
}

static int srv_open(struct srv *s, const tp_manager_opts *o, char *addr,
                    size_t len)
{
	size_t max = o->max_msg ? o->max_msg : TP_MAX_MSG_DEFAULT;
	struct tp__mgr_io io = {s, srv_send, srv_drop, srv_close_client,
	                        srv_shutdown};
	struct tp__mgr_tls_srv *tls = NULL;
	int rv;
	if (strncmp(o->address, "ipc://", 6) != 0 &&
	    strncmp(o->address, "tcp://", 6) != 0 &&
	    strncmp(o->address, "tls+tcp://", 10) != 0)
		return TP_EINVAL; /* no other transport */
	if (strncmp(o->address, "tls+tcp://", 10) == 0 &&
	    (rv = tp__mgr_tls_srv_new(&tls, o->tls_cert, o->tls_key,
	                              o->tls_client_ca)) != TP_OK)
		return rv;
	if ((rv = tp__mgr_core_new(&s->core, o->authkey, o->authkey_len, max,
	                           &io)) != TP_OK) {
		tp__mgr_tls_srv_free(tls);
		return rv;
	}
	/* the transport owns tls from here, even when it fails */
	return tp__mgr_fast_start(&s->fast, o->address, addr, len, tls, s->core,
	                          &s->mu, max, srv_kick, s);
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
	if (rv == TP_OK)
		srv_loop(&s);
	tp__mgr_fast_stop(s.fast); /* flushes the shutdown's reply */
	s.fast = NULL;
	tp__mgr_core_free(s.core);
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
