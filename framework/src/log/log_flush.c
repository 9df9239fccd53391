/*
 * log_flush.c - flushing this process's records, and the hooks the
 * runtime (tp_fini) and the process module (child start and exit, crash
 * reports) call.
 *
 * A flush sends every batch, waiting (bounded) for room, then ends with a
 * handshake: an empty batch carrying the next sequence number, which the
 * actor acknowledges once it has read everything before it. A batch lost
 * in flight (the actor died with it queued) shows up there as a gap, so
 * it is reported even when this process is about to exit. When the
 * connection breaks during the handshake, it reconnects and asks again.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log_client_int.h"
#include "troupe/error.h"

/* ---- flushing ---- */

/* Reads the actor's acknowledgements; returns -1 when the connection
 * ended. Called locked. */
static int read_acks(void)
{
	unsigned char buf[64];
	for (;;) {
		ssize_t n = recv(tp__logger.fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0) {
			tp__log_disconnect();
			return -1;
		}
		Troupe__Envelope *e =
		    troupe__envelope__unpack(NULL, (size_t)n, buf);
		if (e != NULL && e->correlation_id > tp__logger.acked)
			tp__logger.acked = e->correlation_id;
		if (e != NULL)
			troupe__envelope__free_unpacked(e, NULL);
	}
}

/* Sends a batch without records that asks for an acknowledgement: its
 * sequence number tells the actor how many records came before it, so
 * batches lost in flight (the actor died with them queued) are reported
 * even when this process sends nothing more. Called locked. */
static int send_sync(uint64_t id)
{
	Troupe__Envelope env = TROUPE__ENVELOPE__INIT;
	Troupe__LogBatch b = TROUPE__LOG_BATCH__INIT;
	unsigned char buf[512];
	if (strlen(tp__logger.cfg->name) > 200)
		return TP_ETOOBIG;
	b.sender = tp__logger.cfg->name;
	b.pid = tp__logger.pid;
	b.seq = tp__logger.seq;
	b.dropped = tp__logger.pend_dropped;
	env.sender = tp__logger.cfg->name;
	env.correlation_id = id;
	env.body_case = TROUPE__ENVELOPE__BODY_LOG_BATCH;
	env.log_batch = &b;
	size_t n = troupe__envelope__pack(&env, buf);
	ssize_t w = send(tp__logger.fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (w < 0 && errno == EAGAIN)
		return TP_EFULL;
	if (w < 0) {
		tp__log_disconnect();
		return TP_ECLOSED;
	}
	tp__logger.pend_dropped = 0;
	return TP_OK;
}

/* Waits until the actor confirms it has everything sent so far, up to
 * end; reconnects (and asks again) when the connection breaks. Called
 * locked, with nothing left to send. */
static int sync_actor(int64_t end, int give_up_closed)
{
	uint64_t id = ++tp__logger.sync_id;
	int sent = 0, rv = TP_OK;
	while (tp__logger.acked < id) {
		int64_t left = end - tp__log_now_us();
		if (tp__logger.fd < 0) {
			sent = 0;
			if (left > 0 && !give_up_closed)
				tp__logger.retry_at = 0;
			if (tp__log_connect() != 0) {
				rv = TP_ECLOSED;
				if (give_up_closed || left <= 0)
					break;
			}
		}
		if (tp__logger.fd >= 0 && !sent) {
			rv = send_sync(id);
			sent = rv == TP_OK;
			if (rv == TP_ECLOSED)
				continue;
		}
		if (tp__logger.fd >= 0 && read_acks() < 0)
			continue;
		if (tp__logger.acked >= id)
			break;
		if (left <= 0) {
			rv = TP_ETIMEDOUT;
			break;
		}
		int fd = tp__logger.fd,
		    ms = left / 1000 < 50 ? (int)(left / 1000) + 1 : 50;
		pthread_mutex_unlock(&tp__logger.mu);
		if (fd >= 0) {
			struct pollfd p = {.fd = fd,
			                   .events = sent ? POLLIN : POLLOUT};
			poll(&p, 1, ms);
		} else {
			struct timespec ts = {0, TP_LOG_RETRY_MS * 1000000L};
			nanosleep(&ts, NULL);
		}
		pthread_mutex_lock(&tp__logger.mu);
	}
	return tp__logger.acked >= id ? TP_OK : rv;
}

/* Seals and sends everything, waiting up to timeout_ms for room: the open
 * batch is sealed once it fits, so waiting never drops records; only a
 * timeout does. Called locked; returns what the last send said. */
static int send_all(int64_t end, int timeout_ms, int give_up_closed)
{
	int rv;
	if (tp__logger.sink != NULL)
		tp__log_sink_flush(tp__logger.sink);
	for (;;) {
		rv = tp__log_try_send();
		if (tp__logger.nrec > 0 && tp__log_batch_fits()) {
			tp__log_seal();
			continue;
		}
		if (rv == TP_OK && tp__logger.nrec == 0)
			return rv;
		int64_t now = tp__log_now_us(), left = end - now;
		if (rv == TP_ECLOSED && give_up_closed && tp__logger.fd < 0 &&
		    tp__logger.retry_at > 0) {
			tp__logger.retry_at = 0; /* one last attempt */
			continue;
		}
		if (timeout_ms == 0 || (timeout_ms > 0 && left <= 0) ||
		    (rv == TP_ECLOSED && give_up_closed)) {
			tp__log_seal(); /* drops and counts what does not fit */
			return tp__log_try_send();
		}
		int ms = TP_LOG_RETRY_MS;
		if (timeout_ms > 0 && left / 1000 < ms)
			ms = (int)(left / 1000) + 1;
		int fd = tp__logger.fd;
		pthread_mutex_unlock(&tp__logger.mu);
		if (fd >= 0 && rv == TP_EFULL) {
			struct pollfd p = {.fd = fd, .events = POLLOUT};
			poll(&p, 1, ms);
		} else {
			struct timespec ts = {0, (long)ms * 1000000};
			nanosleep(&ts, NULL);
		}
		pthread_mutex_lock(&tp__logger.mu);
	}
}

int tp__log_flush_bounded(int timeout_ms, int give_up_closed)
{
	int64_t end;
	int rv;
	pthread_mutex_lock(&tp__logger.mu);
	if (tp__logger.cfg == NULL) {
		pthread_mutex_unlock(&tp__logger.mu);
		return TP_OK;
	}
	/* Nothing queued and no actor to sync with (a child that logged
	 * nothing, at its exit): only the direct sink to flush, and no clock
	 * read (the child's first, which faults in clock_gettime and the
	 * vDSO: three page faults per child, docs/performance.md). */
	if (tp__logger.nrec == 0 && tp__logger.head == NULL &&
	    tp__logger.cfg->address == NULL) {
		if (tp__logger.sink != NULL)
			tp__log_sink_flush(tp__logger.sink);
		pthread_mutex_unlock(&tp__logger.mu);
		return TP_OK;
	}
	end = tp__log_now_us() + (int64_t)timeout_ms * 1000;
	rv = send_all(end, timeout_ms, give_up_closed);
	if (rv == TP_OK && tp__logger.nrec == 0 &&
	    tp__logger.cfg->address != NULL && timeout_ms != 0)
		rv = sync_actor(timeout_ms < 0 ? INT64_MAX : end,
		                give_up_closed);
	pthread_mutex_unlock(&tp__logger.mu);
	if (rv == TP_EFULL)
		return TP_ETIMEDOUT;
	return rv;
}

int tp__log_handoff(int timeout_ms)
{
	int64_t end = tp__log_now_us() + (int64_t)timeout_ms * 1000;
	int rv = TP_OK;
	pthread_mutex_lock(&tp__logger.mu);
	if (tp__logger.cfg != NULL &&
	    (tp__logger.nrec > 0 || tp__logger.head != NULL ||
	     tp__logger.sink != NULL))
		rv = send_all(end, timeout_ms, 1);
	pthread_mutex_unlock(&tp__logger.mu);
	return rv == TP_EFULL ? TP_ETIMEDOUT : rv;
}

int tp_log_flush(int timeout_ms)
{
	tp__log_once();
	return tp__log_flush_bounded(timeout_ms, 0);
}

int tp_log_stats_get(tp_log_stats *out)
{
	if (out == NULL)
		return TP_EINVAL;
	pthread_mutex_lock(&tp__logger.mu);
	*out = tp__logger.st;
	pthread_mutex_unlock(&tp__logger.mu);
	return TP_OK;
}

/* ---- hooks ---- */

void tp__log_child_prepare(void)
{
	tp__log_once();
}

void tp__log_child_start(const Troupe__LogConfig *pb, const char *name)
{
	tp_log_config *c = NULL, *clone = NULL;
	if (pb != NULL && tp__log_config_from_pb(pb, &c) != TP_OK)
		c = NULL;
	if (c == NULL && tp_log_config_new(&c, NULL) != TP_OK)
		return;
	if (name != NULL && name[0] != '\0' &&
	    tp_log_config_clone(c, name, &clone) == TP_OK) {
		tp_log_config_free(c);
		c = clone;
	}
	tp_log_init(c);
	tp_log_config_free(c);
}

void tp__log_crash_report(const char *name, pid_t pid, const char *report)
{
	if (!tp_log_enabled(TP_LOG_CRITICAL)) {
		fputs(report, stderr);
		fflush(stderr);
		return;
	}
	tp_log_record(TP_LOG_CRITICAL, name, pid, report, strlen(report));
	tp_log_flush(0);
}

void tp__log_child_exit(void)
{
	tp__log_flush_bounded(TP_LOG_EXIT_MS, 1);
}

void tp__log_fini(void)
{
	tp_log_config *c = NULL;
	tp__log_flush_bounded(TP_LOG_EXIT_MS, 1);
	tp__log_actors_stop_all();
	pthread_mutex_lock(&tp__logger.mu);
	if (tp__logger.cfg != NULL && tp__logger.cfg->address != NULL &&
	    tp__log_config_copy(tp__logger.cfg, &c) == TP_OK) {
		tp__log_strset(&c->address, NULL);
		tp__log_frames_free();
		tp__log_install(c);
	}
	pthread_mutex_unlock(&tp__logger.mu);
}

/* Used by log_actor.c when the current actor goes away for good. */
void tp__log_detach(const char *address)
{
	tp_log_config *c = NULL;
	pthread_mutex_lock(&tp__logger.mu);
	if (tp__logger.cfg != NULL && tp__logger.cfg->address != NULL &&
	    strcmp(tp__logger.cfg->address, address) == 0 &&
	    tp__log_config_copy(tp__logger.cfg, &c) == TP_OK) {
		tp__log_strset(&c->address, NULL);
		tp__log_frames_free();
		tp__log_install(c);
	}
	pthread_mutex_unlock(&tp__logger.mu);
}
