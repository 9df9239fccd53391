/*
 * cluster_wait.c - the idle wait of the bridge and the agents
 * (cluster_wait.h): ppoll on the caller's descriptors and an eventfd, for
 * a time that backs off exponentially while nothing happens.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "cluster_wait.h"
#include "troupe/error.h"

int tp__cl_wait_init(struct tp__cl_wait *w, long quiet_ns, long cap_ns)
{
	w->idle = 0;
	w->last_ns = w->waited = 0;
	w->quiet_ns = quiet_ns > 0 ? quiet_ns : 0;
	w->cap_ns = cap_ns > 0 ? cap_ns : 1;
	w->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return w->fd < 0 ? tp_err_errno(errno) : TP_OK;
}

void tp__cl_wait_fini(struct tp__cl_wait *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
}

void tp__cl_wait_ring(struct tp__cl_wait *w)
{
	uint64_t one = 1;
	if (write(w->fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is full, so it is rung already */
	}
}

long tp__cl_wait_next(struct tp__cl_wait *w, int busy, int moving)
{
	long ns, cap = w->cap_ns;
	if (busy) {
		w->idle = 0;
		w->last_ns = w->waited = 0;
		return 0;
	}
	if (w->idle < 2)
		w->idle++;
	/* doubling stops at the cap (no overflow however long idle) */
	ns = w->idle < 2            ? 0
	     : w->last_ns == 0      ? TP__CL_WAIT_FIRST_NS
	     : w->last_ns < cap / 2 ? 2 * w->last_ns
	                            : cap;
	if (w->waited < w->quiet_ns && ns > TP__CL_WAIT_SHORT_NS)
		ns = TP__CL_WAIT_SHORT_NS;
	if (ns > cap)
		ns = cap;
	w->last_ns = ns;
	if (w->waited < w->quiet_ns)
		w->waited += ns;
	/* a message moving: a short wait, the back-off kept for after */
	if (moving && ns > TP__CL_WAIT_MOVING_NS)
		return TP__CL_WAIT_MOVING_NS;
	return ns;
}

int tp__cl_wait_for(struct tp__cl_wait *w, struct pollfd *fds, int n, long ns)
{
	struct timespec ts = {.tv_sec = ns / 1000000000L,
	                      .tv_nsec = ns % 1000000000L};
	uint64_t v;
	fds[n].fd = w->fd;
	fds[n].events = POLLIN;
	for (int i = 0; i <= n; i++)
		fds[i].revents = 0;
	if (ppoll(fds, (nfds_t)n + 1, &ts, NULL) <= 0)
		return 0;
	if (!(fds[n].revents & POLLIN))
		return 0;
	if (read(w->fd, &v, sizeof(v)) < 0) {
		/* another round read it first: rung all the same */
	}
	return 1;
}
