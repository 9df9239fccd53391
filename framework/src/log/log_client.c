/*
 * log_client.c - this process's logger: level filter, record encoding,
 * batching and the non-blocking hand-off to the logging actor.
 *
 * Records are encoded as they are made, straight into the current batch:
 * a LogBatch is "repeated LogRecord records = 1" followed by its header
 * fields, and protobuf lets fields come in any order, so a batch is the
 * concatenation of packed records plus a short tail. Sealing a batch adds
 * the tail and the Envelope around it (body field log_batch, then the
 * sender), with no copy: room for the Envelope's tag and length is kept in
 * front of the records. The actor decodes it with the generated code.
 *
 * Sealed batches wait in a FIFO bounded by the configuration's buffer
 * size and are sent with non-blocking sends on a SOCK_SEQPACKET unix
 * socket (one message per batch, kept whole and in order by the kernel).
 * A batch that does not fit the bound is dropped and counted; the next
 * batch that is queued carries the count. The flusher, a timer on this
 * process's logging loop (log_loop.c), seals a batch older than
 * TP_LOG_FLUSH_US and retries sends; at exit the rest is sent, waiting a
 * bounded time. A process writes the console and the file itself
 * when its configuration names no actor.
 *
 * Flushing (with the actor's acknowledgement) and the runtime's hooks are
 * in log_flush.c; the shared state is in log_client_int.h.
 *
 * Why not nng here: a process forked after nng started cannot use nng, and
 * logging must work everywhere (fork children, the fork server's children,
 * before and after nng), and a record written into a unix socket survives
 * its sender's exit, which nng's asynchronous queues do not promise.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log_client_int.h"
#include "log_loop.h"
#include "troupe/error.h"
#include "varint.h"

struct tp__log_state tp__logger = {
    .mu = PTHREAD_MUTEX_INITIALIZER, .fd = -1, .idle = 1};

int tp__log_threshold = TP_LOG_INFO;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* ---- protobuf wire helpers (varints and length-delimited fields) ---- */

static unsigned char *sput(unsigned char *p, unsigned tag, const char *s,
                           size_t n)
{
	p = tp__varint_put(p, tag);
	p = tp__varint_put(p, n);
	memcpy(p, s, n);
	return p + n;
}

static size_t ssize(size_t n)
{
	return 1 + tp__varint_size(n) + n;
}

static int reserve(size_t more)
{
	if (tp__logger.b != NULL && tp__logger.blen + more <= tp__logger.bcap)
		return 0;
	size_t cap = tp__logger.bcap ? tp__logger.bcap : TP_LOG_BATCH_MAX + 512;
	while (cap < tp__logger.blen + more)
		cap *= 2;
	unsigned char *b = realloc(tp__logger.b, cap);
	if (b == NULL)
		return -1;
	if (tp__logger.b == NULL)
		tp__logger.blen = TP_LOG_HDR;
	tp__logger.b = b;
	tp__logger.bcap = cap;
	return 0;
}

/* Appends one LogRecord (field 1 of LogBatch). */
static int put_record(int64_t t, int level, const char *name, size_t nlen,
                      pid_t pid, const char *msg, size_t mlen)
{
	uint64_t zt = ((uint64_t)t << 1) ^ (uint64_t)(t >> 63);
	size_t len = 1 + tp__varint_size(zt) + 1 +
	             tp__varint_size((uint32_t)level) + ssize(mlen);
	if (nlen > 0)
		len += ssize(nlen);
	if (pid > 0)
		len += 1 + tp__varint_size((uint32_t)pid);
	if (reserve(1 + tp__varint_size(len) + len) != 0)
		return -1;
	unsigned char *p = tp__logger.b + tp__logger.blen;
	p = tp__varint_put(p, 0x0a);
	p = tp__varint_put(p, len);
	p = tp__varint_put(tp__varint_put(p, 0x08), zt);
	p = tp__varint_put(tp__varint_put(p, 0x10), (uint32_t)level);
	if (nlen > 0)
		p = sput(p, 0x1a, name, nlen);
	if (pid > 0)
		p = tp__varint_put(tp__varint_put(p, 0x20), (uint32_t)pid);
	p = sput(p, 0x2a, msg, mlen);
	tp__logger.blen = (size_t)(p - tp__logger.b);
	return 0;
}

/* ---- sealed batches ---- */

void tp__log_frames_free(void)
{
	while (tp__logger.head != NULL) {
		struct tp__log_frame *f = tp__logger.head;
		tp__logger.head = f->next;
		free(f->mem);
		free(f);
	}
	tp__logger.tail = NULL;
	tp__logger.pend = 0;
}

static void batch_drop(void)
{
	tp__logger.st.dropped += tp__logger.nrec;
	tp__logger.pend_dropped += tp__logger.nrec;
	tp__logger.blen = TP_LOG_HDR;
	tp__logger.nrec = 0;
}

/* 1 when the open batch fits in the bound next to the queued ones. */
int tp__log_batch_fits(void)
{
	return tp__logger.pend + tp__logger.blen + 64 +
	           strlen(tp__logger.cfg->name) * 2 <=
	       tp__logger.cfg->buffer;
}

/* Closes the open batch: header tail, Envelope around it, into the FIFO. */
void tp__log_seal(void)
{
	const char *name;
	size_t nlen, tail;
	struct tp__log_frame *f;
	if (tp__logger.nrec == 0 || tp__logger.cfg == NULL)
		return;
	name = tp__logger.cfg->name;
	nlen = strlen(name);
	tail = ssize(nlen) + 11 + 11 + 11 + 1 + tp__varint_size(nlen) + nlen;
	if (tp__logger.pend + tp__logger.blen + tail > tp__logger.cfg->buffer)
		tp__log_try_send(); /* make room before dropping anything */
	if (tp__logger.pend + tp__logger.blen + tail > tp__logger.cfg->buffer ||
	    reserve(tail) != 0 || (f = malloc(sizeof(*f))) == NULL) {
		batch_drop();
		return;
	}
	unsigned char *p = tp__logger.b + tp__logger.blen;
	p = sput(p, 0x12, name, nlen);
	p = tp__varint_put(tp__varint_put(p, 0x18), (uint32_t)tp__logger.pid);
	p = tp__varint_put(tp__varint_put(p, 0x20), tp__logger.bseq);
	if (tp__logger.pend_dropped > 0)
		p = tp__varint_put(tp__varint_put(p, 0x28),
		                   tp__logger.pend_dropped);
	size_t blen = (size_t)(p - tp__logger.b) - TP_LOG_HDR;
	p = sput(p, 0x0a, name, nlen); /* Envelope.sender */
	size_t pre = 2 + tp__varint_size(blen);
	unsigned char *q = tp__varint_put(tp__logger.b + TP_LOG_HDR - pre,
	                                  962); /* field 120, LEN */
	tp__varint_put(q, blen);
	f->next = NULL;
	f->mem = tp__logger.b;
	f->off = TP_LOG_HDR - pre;
	f->len = (size_t)(p - tp__logger.b) - f->off;
	f->nrec = tp__logger.nrec;
	if (tp__logger.tail != NULL)
		tp__logger.tail->next = f;
	else
		tp__logger.head = f;
	tp__logger.tail = f;
	tp__logger.pend += f->len;
	tp__logger.pend_dropped = 0;
	tp__logger.b = NULL;
	tp__logger.bcap = 0;
	tp__logger.blen = TP_LOG_HDR;
	tp__logger.nrec = 0;
}

int tp__log_connect(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	const char *path = tp__log_addr_path(tp__logger.cfg->address);
	int64_t now = tp__log_now_us();
	int fd, sz = TP_LOG_SNDBUF;
	if (now < tp__logger.retry_at || strlen(path) >= sizeof(sa.sun_path))
		return -1;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		goto fail;
	}
	tp__logger.fd = fd;
	return 0;
fail:
	tp__logger.retry_at = now + TP_LOG_RETRY_US;
	return -1;
}

void tp__log_disconnect(void)
{
	if (tp__logger.fd >= 0)
		close(tp__logger.fd);
	tp__logger.fd = -1;
}

/* Sends queued batches without blocking: TP_OK (all sent), TP_EFULL (no
 * room now) or TP_ECLOSED (no actor to send to). */
int tp__log_try_send(void)
{
	while (tp__logger.head != NULL) {
		struct tp__log_frame *f = tp__logger.head;
		if (tp__logger.fd < 0 && tp__log_connect() != 0)
			return TP_ECLOSED;
		ssize_t n = send(tp__logger.fd, f->mem + f->off, f->len,
		                 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return TP_EFULL;
		if (n < 0 && errno != EMSGSIZE) {
			tp__log_disconnect();
			tp__logger.retry_at =
			    tp__log_now_us() + TP_LOG_RETRY_US;
			return TP_ECLOSED;
		}
		if (n < 0) /* cannot ever fit: lost, and the gap reports it */
			tp__logger.st.dropped += f->nrec;
		else
			tp__logger.st.batches++;
		tp__logger.head = f->next;
		if (tp__logger.head == NULL)
			tp__logger.tail = NULL;
		tp__logger.pend -= f->len;
		free(f->mem);
		free(f);
	}
	return TP_OK;
}

/* ---- the flusher (a timer on the loop, log_loop.c) ---- */

int64_t tp__log_flusher_run(void)
{
	int64_t wait_us = -1;
	pthread_mutex_lock(&tp__logger.mu);
	int64_t now = tp__log_now_us();
	if (tp__logger.nrec > 0 && now - tp__logger.bt0 >= TP_LOG_FLUSH_US &&
	    tp__log_batch_fits())
		tp__log_seal(); /* no room: the caller's next full batch decides
		                 */
	if (tp__logger.head != NULL && tp__log_try_send() != TP_OK)
		wait_us = tp__logger.fd < 0 ? TP_LOG_RETRY_US
		                            : TP_LOG_RETRY_MS * 1000;
	else if (tp__logger.nrec > 0)
		wait_us = tp__logger.bt0 + TP_LOG_FLUSH_US - now;
	/* Idle: the next batch opened kicks the loop (emit). */
	tp__logger.idle = wait_us <= 0;
	pthread_mutex_unlock(&tp__logger.mu);
	return wait_us;
}

/* ---- process lifecycle: defaults, fork, exit ---- */

static void at_exit(void)
{
	tp__log_flush_bounded(TP_LOG_EXIT_MS, 1);
}

static void fork_prepare(void)
{
	pthread_mutex_lock(&tp__logger.mu);
	tp__log_loop_fork_prepare();
}

static void fork_parent(void)
{
	tp__log_loop_fork_parent();
	pthread_mutex_unlock(&tp__logger.mu);
}

/* The child starts with no batches, no connection and no loop thread:
 * its records are its own, sent on its own connection, and its loop is
 * made on first use (log_loop.c). */
static void fork_child(void)
{
	pthread_mutex_init(&tp__logger.mu, NULL);
	tp__log_loop_fork_child();
	tp__logger.idle = 1;
	if (tp__logger.fd >= 0)
		close(tp__logger.fd);
	tp__logger.fd = -1;
	tp__log_frames_free();
	tp__logger.blen = TP_LOG_HDR;
	tp__logger.nrec = 0;
	tp__logger.seq = tp__logger.pend_dropped = 0;
	tp__logger.sync_id = tp__logger.acked = 0;
	tp__logger.retry_at = 0;
	memset(&tp__logger.st, 0, sizeof(tp__logger.st));
	tp__logger.pid = getpid();
}

static void init_once(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
	atexit(at_exit);
}

void tp__log_once(void)
{
	pthread_once(&once, init_once);
}

/* Installs c (taken) as the configuration; called locked. */
void tp__log_install(tp_log_config *c)
{
	tp__log_seal();
	tp__log_try_send();
	if (tp__logger.sink != NULL)
		tp__log_sink_close(tp__logger.sink);
	tp__logger.sink = NULL;
	if (tp__logger.cfg == NULL ||
	    strcmp(tp_log_config_address(tp__logger.cfg),
	           tp_log_config_address(c)) != 0) {
		/* Another actor: what the old one did not take is lost, and
		 * sequence numbers start again, as the new actor expects. */
		for (struct tp__log_frame *f = tp__logger.head; f != NULL;
		     f = f->next)
			tp__logger.st.dropped += f->nrec;
		tp__log_frames_free();
		tp__log_disconnect();
		tp__logger.retry_at = 0;
		tp__logger.seq = tp__logger.bseq = tp__logger.pend_dropped = 0;
	}
	tp_log_config_free(tp__logger.cfg);
	tp__logger.cfg = c;
	tp__logger.pid = getpid();
	if (c->address == NULL &&
	    tp__log_sink_open(c, &tp__logger.sink) != TP_OK)
		tp__logger.sink = NULL; /* out of memory: records are dropped */
	__atomic_store_n(&tp__log_threshold, c->level, __ATOMIC_RELAXED);
}

/* Makes sure a configuration exists; called locked. */
static int ensure_cfg(void)
{
	tp_log_config *c;
	if (tp__logger.cfg != NULL)
		return 0;
	if (tp_log_config_new(&c, NULL) != TP_OK)
		return -1;
	tp__log_config_env(c);
	tp__log_install(c);
	return 0;
}

int tp_log_init(const tp_log_config *c)
{
	tp_log_config *n;
	int rv;
	tp__log_once();
	rv = c != NULL ? tp__log_config_copy(c, &n)
	               : tp_log_config_new(&n, NULL);
	if (rv != TP_OK)
		return rv;
	if (c == NULL)
		tp__log_config_env(n);
	pthread_mutex_lock(&tp__logger.mu);
	tp__log_install(n);
	pthread_mutex_unlock(&tp__logger.mu);
	return TP_OK;
}

int tp_log_config_get(tp_log_config **out)
{
	int rv = TP_ENOMEM;
	if (out == NULL)
		return TP_EINVAL;
	tp__log_once();
	pthread_mutex_lock(&tp__logger.mu);
	if (ensure_cfg() == 0)
		rv = tp__log_config_copy(tp__logger.cfg, out);
	pthread_mutex_unlock(&tp__logger.mu);
	return rv;
}

int tp_log_set_level(int level)
{
	if (level < 0 || level > 100)
		return TP_EINVAL;
	tp__log_once();
	pthread_mutex_lock(&tp__logger.mu);
	if (ensure_cfg() == 0)
		tp__logger.cfg->level = level;
	__atomic_store_n(&tp__log_threshold, level, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&tp__logger.mu);
	return TP_OK;
}

/* Back-pressure (block_ms): waits, unlocked, for the actor to take queued
 * batches until the open one fits, the time is up, or the actor is gone.
 * Called locked; other threads may tp__log_seal the batch meanwhile. */
static void wait_room(void)
{
	int64_t t0 = tp__log_now_us(),
	        end = t0 + tp__logger.cfg->block_ms * 1000LL;
	while (tp__log_try_send() == TP_EFULL && tp__logger.nrec > 0 &&
	       !tp__log_batch_fits()) {
		int64_t left = end - tp__log_now_us();
		if (left <= 0)
			break;
		struct pollfd p = {.fd = tp__logger.fd, .events = POLLOUT};
		pthread_mutex_unlock(&tp__logger.mu);
		poll(&p, 1, (int)(left / 1000) + 1);
		pthread_mutex_lock(&tp__logger.mu);
		if (tp__logger.cfg == NULL || tp__logger.fd < 0)
			break;
	}
	tp__logger.st.waited_us += (uint64_t)(tp__log_now_us() - t0);
}

/* ---- records ---- */

static void emit(int level, const char *name, pid_t pid, const char *msg,
                 size_t mlen)
{
	int64_t now = tp__log_now_us();
	size_t nlen = name != NULL ? strlen(name) : 0;
	if (mlen > TP_LOG_MSG_MAX)
		mlen = TP_LOG_MSG_MAX;
	tp__log_once();
	pthread_mutex_lock(&tp__logger.mu);
	if (ensure_cfg() != 0)
		goto out;
	tp__logger.st.records++;
	if (tp__logger.cfg->address == NULL) {
		if (tp__logger.sink == NULL)
			goto out;
		if (name == NULL) {
			name = tp__logger.cfg->name;
			nlen = strlen(name);
		}
		tp__log_sink_add(tp__logger.sink, now, level, name, nlen,
		                 pid > 0 ? pid : tp__logger.pid, msg, mlen);
		tp__log_sink_flush(tp__logger.sink);
		goto out;
	}
	if (tp__logger.nrec == 0) {
		tp__logger.bseq = tp__logger.seq;
		tp__logger.bt0 = now;
		if (tp__logger.idle && tp__log_loop_kick() == TP_OK)
			tp__logger.idle = 0; /* the flusher looks again */
	}
	tp__logger.seq++;
	if (put_record(now, level, name, nlen, pid, msg, mlen) != 0) {
		tp__logger.st.dropped++;
		tp__logger.pend_dropped++;
		if (tp__logger.nrec == 0)
			tp__logger.bseq = tp__logger.seq;
		goto out;
	}
	tp__logger.nrec++;
	if (tp__logger.blen >= TP_LOG_BATCH_MAX ||
	    tp__logger.nrec >= TP_LOG_BATCH_RECS) {
		if (tp__logger.cfg->block_ms > 0 && !tp__log_batch_fits())
			wait_room();
		tp__log_seal();
		tp__log_try_send();
	}
out:
	pthread_mutex_unlock(&tp__logger.mu);
}

void tp_log_vwrite(int level, const char *fmt, va_list ap)
{
	char small[1024], *big = NULL;
	va_list ap2;
	int n;
	if (!tp_log_enabled(level) || fmt == NULL)
		return;
	va_copy(ap2, ap);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	if (n < 0) {
		va_end(ap2);
		return;
	}
	if ((size_t)n >= sizeof(small)) {
		size_t len =
		    (size_t)n < TP_LOG_MSG_MAX ? (size_t)n : TP_LOG_MSG_MAX;
		if ((big = malloc(len + 1)) != NULL) {
			vsnprintf(big, len + 1, fmt, ap2);
			n = (int)len;
		} else {
			n = sizeof(small) - 1;
		}
	}
	va_end(ap2);
	emit(level, NULL, 0, big ? big : small, (size_t)n);
	free(big);
}

void tp_log_write(int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tp_log_vwrite(level, fmt, ap);
	va_end(ap);
}

int tp_log_record(int level, const char *name, pid_t pid, const char *msg,
                  size_t len)
{
	if (msg == NULL && len > 0)
		return TP_EINVAL;
	if (tp_log_enabled(level))
		emit(level, name != NULL && name[0] ? name : NULL, pid,
		     msg ? msg : "", len);
	return TP_OK;
}
