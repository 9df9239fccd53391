/*
 * cluster_mpi.h - internal: sends in flight (cluster_mpi.c), shared by the
 * bridge and the agents.
 */
#ifndef TP_CLUSTER_MPI_H
#define TP_CLUSTER_MPI_H

#include <mpi.h>
#include <nng/nng.h>
#include <stddef.h>
#include <time.h>

struct tp__cl_pending {
	nng_msg *msg;                        /* freed when sent (or NULL) */
	void *buf;                           /* freed when sent (or NULL) */
	void (*done)(void *arg, unsigned n); /* called when sent (or NULL) */
	void *arg;
	unsigned n;
};

struct tp__cl_out {
	MPI_Request *req;
	struct tp__cl_pending *p;
	int *idx; /* MPI_Testsome's answer */
	int n, cap, idx_cap;
};

/* Sends m's body (m != NULL) or buf[len] to dest with tag; takes m and
 * buf (NULL buf, NULL m: an empty message). Errors: TP_ENOMEM. */
int tp__cl_send(struct tp__cl_out *o, int dest, int tag, nng_msg *m, void *buf,
                size_t len);
/* Sends data[len], which stays valid until done(arg, n) runs: once it is
 * sent, or at tp__cl_flush. Errors: TP_ENOMEM (done has not run). */
int tp__cl_send_borrowed(struct tp__cl_out *o, int dest, int tag,
                         const void *data, size_t len,
                         void (*done)(void *arg, unsigned n), void *arg,
                         unsigned n);
/* Releases what has been sent. */
void tp__cl_progress(struct tp__cl_out *o);
/* Waits until everything is sent, then frees o's arrays. */
void tp__cl_flush(struct tp__cl_out *o);
/* A matched message being received (MPI_Imrecv) into buf (or m's body). */
struct tp__cl_rx {
	nng_msg *msg; /* the buffer is its body (or NULL) */
	void *buf;    /* or this one (or NULL: an empty message) */
	int count, src, tag;
	/* received into the caller's memory (tp__cl_recv_into): dropped
	 * (tp__cl_recv_flush) calls drop(arg, n); NULL otherwise */
	void (*drop)(void *arg, unsigned n);
	void *arg;
	unsigned n;
};

/* Receives in flight, in the order MPI matched them. */
struct tp__cl_in {
	MPI_Request *req;
	struct tp__cl_rx *rx;
	int *idx; /* MPI_Testsome's answer */
	int n, cap, idx_cap;
};

/* Starts receiving the message mm (matched by MPI_Improbe, status st)
 * into m's body (m != NULL: nng_msg_len(m) == its size) or into a buffer
 * of its own; takes m. A blocking MPI_Mrecv would spin in Open MPI's
 * progress loop until the last byte is in, which for a large message is
 * until its sender's next round. Errors: TP_ENOMEM (the message is
 * received and dropped). */
int tp__cl_recv(struct tp__cl_in *in, MPI_Message *mm, const MPI_Status *st,
                nng_msg *m);
/* Starts receiving mm into dst, the caller's memory of at least the
 * message's size, which stays valid until the message is handed to fn
 * (tp__cl_recv_done: rx->arg and rx->n are the caller's) or dropped:
 * tp__cl_recv_flush then calls drop(arg, n). Errors: TP_ENOMEM (the
 * message is received into dst all the same, before this returns). */
int tp__cl_recv_into(struct tp__cl_in *in, MPI_Message *mm,
                     const MPI_Status *st, void *dst,
                     void (*drop)(void *arg, unsigned n), void *arg,
                     unsigned n);
/* Hands each received message to fn, in the order of matching, as far as
 * they are complete; fn takes rx->msg and rx->buf. Returns how many were
 * handed over; stops early (after that one) when fn returns non-zero, and
 * then returns -1. */
int tp__cl_recv_done(struct tp__cl_in *in,
                     int (*fn)(struct tp__cl_rx *rx, void *arg), void *arg);
/* Waits for every receive in flight, drops them, frees in's arrays. */
void tp__cl_recv_flush(struct tp__cl_in *in);
#endif
