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

void tp__cl_progress(struct tp__cl_out *o)
{
	int k = 0;
	for (int i = 0; i < o->n; i++) {
		int done = 0;
		MPI_Test(&o->req[i], &done, MPI_STATUS_IGNORE);
		if (done) {
			release(&o->p[i]);
			continue;
		}
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
	o->req = NULL;
	o->p = NULL;
	o->cap = 0;
}

/* The idle wait: none while there is traffic, then growing to 1 ms. */
void tp__cl_backoff(struct timespec *ts, int *idle, int busy)
{
	long ns;
	*idle = busy ? 0 : *idle + 1;
	ns = *idle < 4 ? 0 : 20000L << (*idle - 4 < 6 ? *idle - 4 : 6);
	if (ns > 1000000L)
		ns = 1000000L;
	ts->tv_sec = 0;
	ts->tv_nsec = ns;
}
