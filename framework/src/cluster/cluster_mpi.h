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
	nng_msg *msg; /* freed when sent (or NULL) */
	void *buf;    /* freed when sent (or NULL) */
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
/* Releases what has been sent. */
void tp__cl_progress(struct tp__cl_out *o);
/* Waits until everything is sent, then frees o's arrays. */
void tp__cl_flush(struct tp__cl_out *o);
/* Sets *ts to the next idle wait; busy: there was traffic this round. */
void tp__cl_backoff(struct timespec *ts, int *idle, int busy);

#endif
