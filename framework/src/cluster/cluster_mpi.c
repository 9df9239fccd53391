/*
 * cluster_mpi.c - sending without blocking: each message goes out with
 * MPI_Isend and is kept (with its buffer) until MPI says it left, so the
 * bridge and the agents never wait on a peer that is itself sending
 * (two blocking sends of large messages would each wait for the other).
 */
#include <mpi.h>
#include <stdlib.h>

#include "cluster_mpi.h"
#include "troupe/error.h"

int tp__cl_send(struct tp__cl_out *o, int dest, int tag, nng_msg *m, void *buf,
                size_t len)
{
	static char empty;
	if (o->n == o->cap) {
		int cap = o->cap ? o->cap * 2 : 64;
		MPI_Request *r = realloc(o->req, (size_t)cap * sizeof(*r));
		if (r != NULL)
			o->req = r;
		struct tp__cl_pending *p =
		    realloc(o->p, (size_t)cap * sizeof(*p));
		if (r == NULL || p == NULL) {
			if (p != NULL)
				o->p = p;
			return TP_ENOMEM;
		}
		o->p = p;
		o->cap = cap;
	}
	const void *data = m != NULL ? nng_msg_body(m) : buf ? buf : &empty;
	if (m != NULL)
		len = nng_msg_len(m);
	o->p[o->n].msg = m;
	o->p[o->n].buf = buf;
	MPI_Isend(data, (int)len, MPI_BYTE, dest, tag, MPI_COMM_WORLD,
	          &o->req[o->n]);
	o->n++;
	return TP_OK;
}

static void release(struct tp__cl_pending *p)
{
	if (p->msg != NULL)
		nng_msg_free(p->msg);
	free(p->buf);
}

/* One MPI_Testsome for every send in flight: each MPI call runs Open
 * MPI's progress engine (a poll of its sockets), so testing the sends one
 * by one cost one system call each, every round. */
void tp__cl_progress(struct tp__cl_out *o)
{
	int k = 0, ndone = 0;
	if (o->n == 0)
		return;
	if (o->n > o->idx_cap) {
		int *idx = realloc(o->idx, (size_t)o->n * sizeof(*idx));
		if (idx == NULL)
			return; /* tried again next round */
		o->idx = idx;
		o->idx_cap = o->n;
	}
	MPI_Testsome(o->n, o->req, &ndone, o->idx, MPI_STATUSES_IGNORE);
	if (ndone <= 0 || ndone == MPI_UNDEFINED)
		return;
	for (int i = 0; i < ndone; i++)
		release(&o->p[o->idx[i]]);
	/* MPI set each finished request to MPI_REQUEST_NULL */
	for (int i = 0; i < o->n; i++) {
		if (o->req[i] == MPI_REQUEST_NULL)
			continue;
		o->req[k] = o->req[i];
		o->p[k++] = o->p[i];
	}
	o->n = k;
}

void tp__cl_flush(struct tp__cl_out *o)
{
	if (o->n > 0)
		MPI_Waitall(o->n, o->req, MPI_STATUSES_IGNORE);
	for (int i = 0; i < o->n; i++)
		release(&o->p[i]);
	o->n = 0;
	free(o->req);
	free(o->p);
	free(o->idx);
	o->req = NULL;
	o->p = NULL;
	o->idx = NULL;
	o->cap = o->idx_cap = 0;
}

/* The idle wait: one round at once after traffic, then from 10 us
 * doubling to 1 ms. Every round costs system calls (a ppoll, and a poll in
 * each MPI call), so rounds without a wait are kept to one. */
void tp__cl_backoff(struct timespec *ts, int *idle, int busy)
{
	long ns;
	*idle = busy ? 0 : *idle + 1;
	ns = *idle < 2 ? 0 : 10000L << (*idle - 2 < 7 ? *idle - 2 : 7);
	if (ns > 1000000L)
		ns = 1000000L;
	ts->tv_sec = 0;
	ts->tv_nsec = ns;
}
