/*
 * mgr_server.c - runs a manager server: the core (mgr_core.c) behind the
 * manager's own stream transport (mgr_fast.c: ipc://, tcp://, tls+tcp://),
 * all on one reactor (rt/reactor.h) run by the caller's thread: the
 * transport's listener and connections are its fd sources, and one timer
 * source answers parked calls whose deadline passed. A request is read,
 * handled and answered on that one thread: no hand-off, no lock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "mgr_int.h"
#include "reactor.h"
#include "troupe/error.h"

struct srv {
	struct tp__mgr_core *core;
	tp__reactor *r;
	tp__rsrc *timer; /* the next parked call's deadline */
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

static void srv_shutdown(void *arg)
{
	struct srv *s = arg;
	tp__reactor_stop(s->r);
}

/* Answers the parked calls that expired; arms the timer for the next. */
static void srv_expire(struct srv *s)
{
	int64_t next = tp__mgr_core_expire(s->core, tp__now_ms());
	tp__reactor_timer_set(s->timer, next == INT64_MAX ? 0 : next);
}

/* After a request: parked calls may have new deadlines (a field set, no
 * syscall: the timer is read when the round ends). */
static void srv_kick(void *arg)
{
	struct srv *s = arg;
	if (tp__mgr_core_parked(s->core)) /* else nothing to expire */
		srv_expire(s);
}

static void on_deadline(tp__rsrc *src, uint32_t ev, void *arg)
{
	(void)src;
	(void)ev;
	srv_expire(arg);
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
	if ((rv = tp__reactor_new(&s->r)) != TP_OK ||
	    (rv = tp__reactor_add_timer(s->r, 0, on_deadline, s, &s->timer)) !=
	        TP_OK) {
		tp__mgr_tls_srv_free(tls);
		return rv;
	}
	/* the transport owns tls from here, even when it fails */
	return tp__mgr_fast_start(&s->fast, o->address, addr, len, tls, s->core,
	                          s->r, max, srv_kick, s);
}

int tp__mgr_serve(const tp_manager_opts *o,
                  void (*ready)(void *arg, const char *addr, int err),
                  void *arg)
{
	struct srv s;
	char addr[512];
	memset(&s, 0, sizeof(s));
	snprintf(addr, sizeof(addr), "%s", o->address ? o->address : "");
	int rv = srv_open(&s, o, addr, sizeof(addr));
	ready(arg, addr, rv);
	if (rv == TP_OK)
		rv = tp__reactor_run(s.r);
	tp__mgr_fast_stop(s.fast); /* flushes the shutdown's reply */
	s.fast = NULL;
	tp__mgr_core_free(s.core);
	tp__reactor_free(s.r);
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
