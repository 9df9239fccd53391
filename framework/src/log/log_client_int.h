/*
 * log_client_int.h - internal: the state of this process's logger, shared
 * by log_client.c (records, batches, sending, lifecycle) and log_flush.c
 * (flushing with the actor's acknowledgement, and the hooks tp_fini
 * (init.c) and the process module call). All of it is guarded by tp__logger.mu.
 */
#ifndef TP_LOG_CLIENT_INT_H
#define TP_LOG_CLIENT_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "log_int.h"

#define TP_LOG_HDR        16    /* room for the Envelope's tag and length */
#define TP_LOG_BATCH_RECS 1024  /* records per batch at most */
#define TP_LOG_FLUSH_US   10000 /* a batch waits at most this long */
#define TP_LOG_RETRY_US   20000 /* between connection attempts */
#define TP_LOG_RETRY_MS   5     /* between send attempts when full */
#define TP_LOG_EXIT_MS    2000  /* bound of the flush at exit */
#define TP_LOG_SNDBUF     (512 * 1024) /* the kernel's share of the bound */

struct tp__log_frame {
	struct tp__log_frame *next;
	unsigned char *mem;
	size_t off, len;
	unsigned nrec;
};

struct tp__log_state {
	pthread_mutex_t mu;
	tp_log_config *cfg;
	tp__log_sink *sink; /* direct mode: this process writes */
	int fd;             /* connection to the actor, -1 when none */
	pid_t pid;
	unsigned char *b; /* the open batch: TP_LOG_HDR bytes, then records */
	size_t blen, bcap;
	unsigned nrec;
	uint64_t bseq; /* sequence number of the batch's first record */
	int64_t bt0;   /* when its first record came */
	struct tp__log_frame *head, *tail;
	size_t pend; /* bytes in sealed batches not yet sent */
	uint64_t seq, pend_dropped;
	uint64_t sync_id, acked; /* flush handshakes asked and confirmed */
	tp_log_stats st;
	int idle; /* the flusher waits for a kick (log_loop.h) */
	int64_t retry_at;
};

extern struct tp__log_state tp__logger;

/* Once per process: fork and exit handlers. */
void tp__log_once(void);
/* The rest are called with tp__logger.mu held. */
int tp__log_try_send(void);
void tp__log_seal(void);
int tp__log_batch_fits(void);
int tp__log_connect(void);
void tp__log_disconnect(void);
void tp__log_frames_free(void);
void tp__log_install(tp_log_config *c);
/* Not locked: flushes, waiting up to timeout_ms (see log_flush.c). */
int tp__log_flush_bounded(int timeout_ms, int give_up_closed);

#endif
