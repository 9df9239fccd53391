/*
 * cluster_mpi.c - sending without blocking: each message goes out with
 * MPI_Isend and is kept (with its buffer) until MPI says it left, so the
 * bridge and the agents never wait on a peer that is itself sending
 * (two blocking sends of large messages would each wait for the other).
 */
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_mpi.h"
#include "troupe/error.h"

static int grow_out(struct tp__cl_out *o)
{
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
	return TP_OK;
}

int tp__cl_send(struct tp__cl_out *o, int dest, int tag, nng_msg *m, void *buf,
                size_t len)
{
	static char empty;
	if (grow_out(o) != TP_OK)
		return TP_ENOMEM;
	const void *data = m != NULL ? nng_msg_body(m) : buf ? buf : &empty;
	if (m != NULL)
		len = nng_msg_len(m);
	o->p[o->n] = (struct tp__cl_pending){.msg = m, .buf = buf};
	MPI_Isend(data, (int)len, MPI_BYTE, dest, tag, MPI_COMM_WORLD,
	          &o->req[o->n]);
	o->n++;
	return TP_OK;
}

int tp__cl_send_borrowed(struct tp__cl_out *o, int dest, int tag,
                         const void *data, size_t len,
                         void (*done)(void *arg, unsigned n), void *arg,
                         unsigned n)
{
	if (grow_out(o) != TP_OK)
		return TP_ENOMEM;
	o->p[o->n] = (struct tp__cl_pending){.done = done, .arg = arg, .n = n};
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
	if (p->done != NULL)
		p->done(p->arg, p->n);
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

static int grow_in(struct tp__cl_in *in)
{
	int cap = in->cap ? in->cap * 2 : 64;
	MPI_Request *r = realloc(in->req, (size_t)cap * sizeof(*r));
	if (r != NULL)
		in->req = r;
	struct tp__cl_rx *x = realloc(in->rx, (size_t)cap * sizeof(*x));
	if (x != NULL)
		in->rx = x;
	int *idx = realloc(in->idx, (size_t)cap * sizeof(*idx));
	if (idx != NULL) {
		in->idx = idx;
		in->idx_cap = cap;
	}
	if (r == NULL || x == NULL || idx == NULL)
		return TP_ENOMEM;
	in->cap = cap;
	return TP_OK;
}

int tp__cl_recv(struct tp__cl_in *in, MPI_Message *mm, const MPI_Status *st,
                nng_msg *m)
{
	static char sink[1];
	int count = 0;
	MPI_Get_count(st, MPI_BYTE, &count);
	void *buf = m != NULL || count == 0 ? NULL : malloc((size_t)count);
	if ((m == NULL && count > 0 && buf == NULL) ||
	    (in->n == in->cap && grow_in(in) != TP_OK)) {
		/* received whole, here and now, and dropped */
		void *b = buf != NULL ? buf : malloc((size_t)count + 1);
		MPI_Mrecv(b != NULL ? b : sink, b != NULL ? count : 0, MPI_BYTE,
		          mm, MPI_STATUS_IGNORE);
		free(b);
		if (m != NULL)
			nng_msg_free(m);
		return TP_ENOMEM;
	}
	struct tp__cl_rx *x = &in->rx[in->n];
	*x = (struct tp__cl_rx){.msg = m,
	                        .buf = buf,
	                        .count = count,
	                        .src = st->MPI_SOURCE,
	                        .tag = st->MPI_TAG};
	void *data = m != NULL ? nng_msg_body(m) : buf != NULL ? buf : sink;
	MPI_Imrecv(data, count, MPI_BYTE, mm, &in->req[in->n]);
	in->n++;
	return TP_OK;
}

int tp__cl_recv_into(struct tp__cl_in *in, MPI_Message *mm,
                     const MPI_Status *st, void *dst,
                     void (*drop)(void *arg, unsigned n), void *arg, unsigned n)
{
	int count = 0;
	MPI_Get_count(st, MPI_BYTE, &count);
	if (in->n == in->cap && grow_in(in) != TP_OK) {
		MPI_Mrecv(dst, count, MPI_BYTE, mm, MPI_STATUS_IGNORE);
		return TP_ENOMEM;
	}
	in->rx[in->n] = (struct tp__cl_rx){.count = count,
	                                   .src = st->MPI_SOURCE,
	                                   .tag = st->MPI_TAG,
	                                   .drop = drop,
	                                   .arg = arg,
	                                   .n = n};
	MPI_Imrecv(dst, count, MPI_BYTE, mm, &in->req[in->n]);
	in->n++;
	return TP_OK;
}

int tp__cl_recv_done(struct tp__cl_in *in,
                     int (*fn)(struct tp__cl_rx *rx, void *arg), void *arg)
{
	int ndone = 0, k = 0, stop = 0;
	if (in->n == 0)
		return 0;
	MPI_Testsome(in->n, in->req, &ndone, in->idx, MPI_STATUSES_IGNORE);
	/* MPI set each finished request to MPI_REQUEST_NULL: hand over the
	 * finished ones at the head, in order, keep the rest in order */
	while (k < in->n && in->req[k] == MPI_REQUEST_NULL && !stop)
		stop = fn(&in->rx[k++], arg);
	if (k > 0) {
		memmove(in->req, in->req + k,
		        (size_t)(in->n - k) * sizeof(*in->req));
		memmove(in->rx, in->rx + k,
		        (size_t)(in->n - k) * sizeof(*in->rx));
		in->n -= k;
	}
	return stop ? -1 : k;
}

void tp__cl_recv_flush(struct tp__cl_in *in)
{
	if (in->n > 0)
		MPI_Waitall(in->n, in->req, MPI_STATUSES_IGNORE);
	for (int i = 0; i < in->n; i++) {
		if (in->rx[i].msg != NULL)
			nng_msg_free(in->rx[i].msg);
		free(in->rx[i].buf);
		if (in->rx[i].drop != NULL)
			in->rx[i].drop(in->rx[i].arg, in->rx[i].n);
	}
	free(in->req);
	free(in->rx);
	free(in->idx);
	*in = (struct tp__cl_in){0};
}
