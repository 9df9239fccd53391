/*
 * ctl.c - the daemon's control server: the framework's control socket
 * server (framework/src/rt/ctlsrv.c: a Unix stream socket, 0600, one
 * request frame in, one reply frame out, peers of another uid refused,
 * bad peers dropped by deadlines and caps) with the daemon's handler
 * (ctl_cmd.c) and CTL_WORKERS threads, so a `stop` waiting out a slow
 * child does not hold up `status`.
 */
#include <signal.h>
#include <unistd.h>

#include "cli.h"
#include "ctl_int.h"
#include "internal.h"

static void handle(void *arg, const Troupe__SupRequest *req,
                   Troupe__SupReply *rep, const struct tp__ctl_peer *peer)
{
	ctl_handle(arg, req, rep, peer);
}

static void after_reply(void *arg)
{
	(void)arg;
	if (__atomic_load_n(&ctl_shutdown_requested, __ATOMIC_RELAXED))
		kill(getpid(), SIGTERM); /* after the reply left */
}

int ctl_start(struct daemon *d, const char *path)
{
	struct tp__ctlsrv_ops ops = {
	    .handle = handle,
	    .reply_free = ctl_reply_free,
	    .after_reply = after_reply,
	    .arg = d,
	    .workers = CTL_WORKERS,
	    .sender = "troupe",
	    .denied = "permission denied: not the daemon's user\n",
	};
	struct tp__ctlsrv *s = NULL;
	int rv = tp__ctlsrv_start(&s, path, &ops);
	d->ctl = s;
	return rv;
}

void ctl_stop(struct daemon *d)
{
	tp__ctlsrv_stop(d->ctl);
	d->ctl = NULL;
}
