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
 * batch that is queued carries the count. A background thread seals a
 * batch older than FLUSH_US and retries sends; at exit the rest is sent,
 * waiting a bounded time. A process writes the console and the file itself
 * when its configuration names no actor.
 *
 * Why not nng here: a process forked after nng started cannot use nng, and
 * logging must work everywhere (fork children, the fork server's children,
 * before and after nng), and a record written into a unix socket survives
 * its sender's exit, which nng's asynchronous queues do not promise.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log_int.h"
#include "troupe/error.h"

#define HDR        16           /* room for the Envelope's tag and length */
#define BATCH_RECS 1024         /* records per batch at most */
#define FLUSH_US   10000        /* a batch waits at most this long */
#define RETRY_US   20000        /* between connection attempts */
#define RETRY_MS   5            /* between send attempts when full */
#define EXIT_MS    2000         /* bound of the flush at exit */
#define SNDBUF     (512 * 1024) /* the kernel's share of the bound */

struct frame {
	struct frame *next;
	unsigned char *mem;
	size_t off, len;
	unsigned nrec;
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	tp_log_config *cfg;
	tp__log_sink *sink; /* direct mode: this process writes */
	int fd;             /* connection to the actor, -1 when none */
	pid_t pid;
	unsigned char *b; /* the open batch: HDR bytes, then records */
	size_t blen, bcap;
	unsigned nrec;
	uint64_t bseq; /* sequence number of the batch's first record */
	int64_t bt0;   /* when its first record came */
	struct frame *head, *tail;
	size_t pend; /* bytes in sealed batches not yet sent */
	uint64_t seq, pend_dropped;
	uint64_t sync_id, acked; /* flush handshakes asked and confirmed */
	tp_log_stats st;
	int thr_on, thr_stop, thr_waiting;
	pthread_t thr;
	int64_t retry_at;
} L = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, .fd = -1};

int tp__log_threshold = TP_LOG_INFO;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* ---- protobuf wire helpers (varints and length-delimited fields) ---- */

static size_t vsize(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static unsigned char *vput(unsigned char *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	*p++ = (unsigned char)v;
	return p;
}

static unsigned char *sput(unsigned char *p, unsigned tag, const char *s,
                           size_t n)
{
	p = vput(p, tag);
	p = vput(p, n);
	memcpy(p, s, n);
	return p + n;
}

static size_t ssize(size_t n)
{
	return 1 + vsize(n) + n;
}

static int reserve(size_t more)
{
	if (L.b != NULL && L.blen + more <= L.bcap)
		return 0;
	size_t cap = L.bcap ? L.bcap : TP_LOG_BATCH_MAX + 512;
	while (cap < L.blen + more)
		cap *= 2;
	unsigned char *b = realloc(L.b, cap);
	if (b == NULL)
		return -1;
	if (L.b == NULL)
		L.blen = HDR;
	L.b = b;
	L.bcap = cap;
	return 0;
}

/* Appends one LogRecord (field 1 of LogBatch). */
static int put_record(int64_t t, int level, const char *name, size_t nlen,
                      pid_t pid, const char *msg, size_t mlen)
{
	uint64_t zt = ((uint64_t)t << 1) ^ (uint64_t)(t >> 63);
	size_t len = 1 + vsize(zt) + 1 + vsize((uint32_t)level) + ssize(mlen);
	if (nlen > 0)
		len += ssize(nlen);
	if (pid > 0)
		len += 1 + vsize((uint32_t)pid);
	if (reserve(1 + vsize(len) + len) != 0)
		return -1;
	unsigned char *p = L.b + L.blen;
	p = vput(p, 0x0a);
	p = vput(p, len);
	p = vput(vput(p, 0x08), zt);
	p = vput(vput(p, 0x10), (uint32_t)level);
	if (nlen > 0)
		p = sput(p, 0x1a, name, nlen);
	if (pid > 0)
		p = vput(vput(p, 0x20), (uint32_t)pid);
	p = sput(p, 0x2a, msg, mlen);
	L.blen = (size_t)(p - L.b);
	return 0;
}

/* ---- sealed batches ---- */

static void frames_free(void)
{
	while (L.head != NULL) {
		struct frame *f = L.head;
		L.head = f->next;
		free(f->mem);
		free(f);
	}
	L.tail = NULL;
	L.pend = 0;
}

static void batch_drop(void)
{
	L.st.dropped += L.nrec;
	L.pend_dropped += L.nrec;
	L.blen = HDR;
	L.nrec = 0;
}

/* 1 when the open batch fits in the bound next to the queued ones. */
static int batch_fits(void)
{
	return L.pend + L.blen + 64 + strlen(L.cfg->name) * 2 <= L.cfg->buffer;
}

static int try_send(void);

/* Closes the open batch: header tail, Envelope around it, into the FIFO. */
static void seal(void)
{
	const char *name;
	size_t nlen, tail;
	struct frame *f;
	if (L.nrec == 0 || L.cfg == NULL)
		return;
	name = L.cfg->name;
	nlen = strlen(name);
	tail = ssize(nlen) + 11 + 11 + 11 + 1 + vsize(nlen) + nlen;
	if (L.pend + L.blen + tail > L.cfg->buffer)
		try_send(); /* make room before dropping anything */
	if (L.pend + L.blen + tail > L.cfg->buffer || reserve(tail) != 0 ||
	    (f = malloc(sizeof(*f))) == NULL) {
		batch_drop();
		return;
	}
	unsigned char *p = L.b + L.blen;
	p = sput(p, 0x12, name, nlen);
	p = vput(vput(p, 0x18), (uint32_t)L.pid);
	p = vput(vput(p, 0x20), L.bseq);
	if (L.pend_dropped > 0)
		p = vput(vput(p, 0x28), L.pend_dropped);
	size_t blen = (size_t)(p - L.b) - HDR;
	p = sput(p, 0x0a, name, nlen); /* Envelope.sender */
	size_t pre = 2 + vsize(blen);
	unsigned char *q = vput(L.b + HDR - pre, 962); /* field 120, LEN */
	vput(q, blen);
	f->next = NULL;
	f->mem = L.b;
	f->off = HDR - pre;
	f->len = (size_t)(p - L.b) - f->off;
	f->nrec = L.nrec;
	if (L.tail != NULL)
		L.tail->next = f;
	else
		L.head = f;
	L.tail = f;
	L.pend += f->len;
	L.pend_dropped = 0;
	L.b = NULL;
	L.bcap = 0;
	L.blen = HDR;
	L.nrec = 0;
}

static int connect_actor(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	const char *path = tp__log_addr_path(L.cfg->address);
	int64_t now = tp__log_now_us();
	int fd, sz = SNDBUF;
	if (now < L.retry_at || strlen(path) >= sizeof(sa.sun_path))
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
	L.fd = fd;
	return 0;
fail:
	L.retry_at = now + RETRY_US;
	return -1;
}

static void disconnect(void)
{
	if (L.fd >= 0)
		close(L.fd);
	L.fd = -1;
}

/* Sends queued batches without blocking: TP_OK (all sent), TP_EFULL (no
 * room now) or TP_ECLOSED (no actor to send to). */
static int try_send(void)
{
	while (L.head != NULL) {
		struct frame *f = L.head;
		if (L.fd < 0 && connect_actor() != 0)
			return TP_ECLOSED;
		ssize_t n = send(L.fd, f->mem + f->off, f->len,
		                 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return TP_EFULL;
		if (n < 0 && errno != EMSGSIZE) {
			disconnect();
			L.retry_at = tp__log_now_us() + RETRY_US;
			return TP_ECLOSED;
		}
		if (n < 0) /* cannot ever fit: lost, and the gap reports it */
			L.st.dropped += f->nrec;
		else
			L.st.batches++;
		L.head = f->next;
		if (L.head == NULL)
			L.tail = NULL;
		L.pend -= f->len;
		free(f->mem);
		free(f);
	}
	return TP_OK;
}

/* ---- the background flusher ---- */

static void *flusher(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&L.mu);
	while (!L.thr_stop) {
		int64_t now = tp__log_now_us(), wait_us = -1;
		if (L.nrec > 0 && now - L.bt0 >= FLUSH_US && batch_fits())
			seal(); /* no room: the caller's next full batch decides
			         */
		if (L.head != NULL && try_send() != TP_OK)
			wait_us = L.fd < 0 ? RETRY_US : RETRY_MS * 1000;
		else if (L.nrec > 0)
			wait_us = L.bt0 + FLUSH_US - now;
		if (wait_us < 0) {
			L.thr_waiting = 1;
			pthread_cond_wait(&L.cv, &L.mu);
			L.thr_waiting = 0;
			continue;
		}
		int64_t dl = now + wait_us;
		struct timespec ts = {(time_t)(dl / 1000000),
		                      (long)(dl % 1000000) * 1000};
		pthread_cond_timedwait(&L.cv, &L.mu, &ts);
	}
	pthread_mutex_unlock(&L.mu);
	return NULL;
}

static void flusher_start(void)
{
	pthread_attr_t a;
	if (L.thr_on)
		return;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (pthread_create(&L.thr, &a, flusher, NULL) == 0)
		L.thr_on = 1;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&a);
}

/* ---- process lifecycle: defaults, fork, exit ---- */

static int flush_bounded(int timeout_ms, int give_up_closed);

static void at_exit(void)
{
	flush_bounded(EXIT_MS, 1);
}

static void fork_prepare(void)
{
	pthread_mutex_lock(&L.mu);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&L.mu);
}

/* The child starts with no batches, no connection and no thread: its
 * records are its own, sent on its own connection. */
static void fork_child(void)
{
	pthread_mutex_init(&L.mu, NULL);
	pthread_cond_init(&L.cv, NULL);
	L.thr_on = L.thr_stop = L.thr_waiting = 0;
	if (L.fd >= 0)
		close(L.fd);
	L.fd = -1;
	frames_free();
	L.blen = HDR;
	L.nrec = 0;
	L.seq = L.pend_dropped = 0;
	L.sync_id = L.acked = 0;
	L.retry_at = 0;
	memset(&L.st, 0, sizeof(L.st));
	L.pid = getpid();
}

static void init_once(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
	atexit(at_exit);
}

/* Installs c (taken) as the configuration; called locked. */
static void install(tp_log_config *c)
{
	seal();
	try_send();
	if (L.sink != NULL)
		tp__log_sink_close(L.sink);
	L.sink = NULL;
	if (L.cfg == NULL || strcmp(tp_log_config_address(L.cfg),
	                            tp_log_config_address(c)) != 0) {
		/* Another actor: what the old one did not take is lost, and
		 * sequence numbers start again, as the new actor expects. */
		for (struct frame *f = L.head; f != NULL; f = f->next)
			L.st.dropped += f->nrec;
		frames_free();
		disconnect();
		L.retry_at = 0;
		L.seq = L.bseq = L.pend_dropped = 0;
	}
	tp_log_config_free(L.cfg);
	L.cfg = c;
	L.pid = getpid();
	if (c->address == NULL && tp__log_sink_open(c, &L.sink) != TP_OK)
		L.sink = NULL; /* out of memory: records are dropped */
	__atomic_store_n(&tp__log_threshold, c->level, __ATOMIC_RELAXED);
}

/* Makes sure a configuration exists; called locked. */
static int ensure_cfg(void)
{
	tp_log_config *c;
	if (L.cfg != NULL)
		return 0;
	if (tp_log_config_new(&c, NULL) != TP_OK)
		return -1;
	install(c);
	return 0;
}

int tp_log_init(const tp_log_config *c)
{
	tp_log_config *n;
	int rv;
	pthread_once(&once, init_once);
	rv = c != NULL ? tp__log_config_copy(c, &n)
	               : tp_log_config_new(&n, NULL);
	if (rv != TP_OK)
		return rv;
	pthread_mutex_lock(&L.mu);
	install(n);
	pthread_mutex_unlock(&L.mu);
	return TP_OK;
}

int tp_log_config_get(tp_log_config **out)
{
	int rv = TP_ENOMEM;
	if (out == NULL)
		return TP_EINVAL;
	pthread_once(&once, init_once);
	pthread_mutex_lock(&L.mu);
	if (ensure_cfg() == 0)
		rv = tp__log_config_copy(L.cfg, out);
	pthread_mutex_unlock(&L.mu);
	return rv;
}

int tp_log_set_level(int level)
{
	if (level < 0 || level > 100)
		return TP_EINVAL;
	pthread_once(&once, init_once);
	pthread_mutex_lock(&L.mu);
	if (ensure_cfg() == 0)
		L.cfg->level = level;
	__atomic_store_n(&tp__log_threshold, level, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&L.mu);
	return TP_OK;
}

/* Back-pressure (block_ms): waits, unlocked, for the actor to take queued
 * batches until the open one fits, the time is up, or the actor is gone.
 * Called locked; other threads may seal the batch meanwhile. */
static void wait_room(void)
{
	int64_t t0 = tp__log_now_us(), end = t0 + L.cfg->block_ms * 1000LL;
	while (try_send() == TP_EFULL && L.nrec > 0 && !batch_fits()) {
		int64_t left = end - tp__log_now_us();
		if (left <= 0)
			break;
		struct pollfd p = {.fd = L.fd, .events = POLLOUT};
		pthread_mutex_unlock(&L.mu);
		poll(&p, 1, (int)(left / 1000) + 1);
		pthread_mutex_lock(&L.mu);
		if (L.cfg == NULL || L.fd < 0)
			break;
	}
	L.st.waited_us += (uint64_t)(tp__log_now_us() - t0);
}

/* ---- records ---- */

static void emit(int level, const char *name, pid_t pid, const char *msg,
                 size_t mlen)
{
	int64_t now = tp__log_now_us();
	size_t nlen = name != NULL ? strlen(name) : 0;
	if (mlen > TP_LOG_MSG_MAX)
		mlen = TP_LOG_MSG_MAX;
	pthread_once(&once, init_once);
	pthread_mutex_lock(&L.mu);
	if (ensure_cfg() != 0)
		goto out;
	L.st.records++;
	if (L.cfg->address == NULL) {
		if (L.sink == NULL)
			goto out;
		if (name == NULL) {
			name = L.cfg->name;
			nlen = strlen(name);
		}
		tp__log_sink_add(L.sink, now, level, name, nlen,
		                 pid > 0 ? pid : L.pid, msg, mlen);
		tp__log_sink_flush(L.sink);
		goto out;
	}
	if (L.nrec == 0) {
		L.bseq = L.seq;
		L.bt0 = now;
		flusher_start();
		if (L.thr_waiting)
			pthread_cond_signal(&L.cv);
	}
	L.seq++;
	if (put_record(now, level, name, nlen, pid, msg, mlen) != 0) {
		L.st.dropped++;
		L.pend_dropped++;
		if (L.nrec == 0)
			L.bseq = L.seq;
		goto out;
	}
	L.nrec++;
	if (L.blen >= TP_LOG_BATCH_MAX || L.nrec >= BATCH_RECS) {
		if (L.cfg->block_ms > 0 && !batch_fits())
			wait_room();
		seal();
		try_send();
	}
out:
	pthread_mutex_unlock(&L.mu);
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

/* ---- flushing ---- */

/* Reads the actor's acknowledgements; returns -1 when the connection
 * ended. Called locked. */
static int read_acks(void)
{
	unsigned char buf[64];
	for (;;) {
		ssize_t n = recv(L.fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0) {
			disconnect();
			return -1;
		}
		Troupe__Envelope *e =
		    troupe__envelope__unpack(NULL, (size_t)n, buf);
		if (e != NULL && e->correlation_id > L.acked)
			L.acked = e->correlation_id;
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
	if (strlen(L.cfg->name) > 200)
		return TP_ETOOBIG;
	b.sender = L.cfg->name;
	b.pid = L.pid;
	b.seq = L.seq;
	b.dropped = L.pend_dropped;
	env.sender = L.cfg->name;
	env.correlation_id = id;
	env.body_case = TROUPE__ENVELOPE__BODY_LOG_BATCH;
	env.log_batch = &b;
	size_t n = troupe__envelope__pack(&env, buf);
	ssize_t w = send(L.fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (w < 0 && errno == EAGAIN)
		return TP_EFULL;
	if (w < 0) {
		disconnect();
		return TP_ECLOSED;
	}
	L.pend_dropped = 0;
	return TP_OK;
}

/* Waits until the actor confirms it has everything sent so far, up to
 * end; reconnects (and asks again) when the connection breaks. Called
 * locked, with nothing left to send. */
static int sync_actor(int64_t end, int give_up_closed)
{
	uint64_t id = ++L.sync_id;
	int sent = 0, rv = TP_OK;
	while (L.acked < id) {
		int64_t left = end - tp__log_now_us();
		if (L.fd < 0) {
			sent = 0;
			if (left > 0 && !give_up_closed)
				L.retry_at = 0;
			if (connect_actor() != 0) {
				rv = TP_ECLOSED;
				if (give_up_closed || left <= 0)
					break;
			}
		}
		if (L.fd >= 0 && !sent) {
			rv = send_sync(id);
			sent = rv == TP_OK;
			if (rv == TP_ECLOSED)
				continue;
		}
		if (L.fd >= 0 && read_acks() < 0)
			continue;
		if (L.acked >= id)
			break;
		if (left <= 0) {
			rv = TP_ETIMEDOUT;
			break;
		}
		int fd = L.fd,
		    ms = left / 1000 < 50 ? (int)(left / 1000) + 1 : 50;
		pthread_mutex_unlock(&L.mu);
		if (fd >= 0) {
			struct pollfd p = {.fd = fd,
			                   .events = sent ? POLLIN : POLLOUT};
			poll(&p, 1, ms);
		} else {
			struct timespec ts = {0, RETRY_MS * 1000000L};
			nanosleep(&ts, NULL);
		}
		pthread_mutex_lock(&L.mu);
	}
	return L.acked >= id ? TP_OK : rv;
}

/* Seals and sends everything, waiting up to timeout_ms for room: the open
 * batch is sealed once it fits, so waiting never drops records; only a
 * timeout does. */
static int flush_bounded(int timeout_ms, int give_up_closed)
{
	int64_t end = tp__log_now_us() + (int64_t)timeout_ms * 1000;
	int rv;
	pthread_mutex_lock(&L.mu);
	if (L.cfg == NULL) {
		pthread_mutex_unlock(&L.mu);
		return TP_OK;
	}
	if (L.sink != NULL)
		tp__log_sink_flush(L.sink);
	for (;;) {
		rv = try_send();
		if (L.nrec > 0 && batch_fits()) {
			seal();
			continue;
		}
		if (rv == TP_OK && L.nrec == 0)
			break;
		int64_t now = tp__log_now_us(), left = end - now;
		if (rv == TP_ECLOSED && give_up_closed && L.fd < 0 &&
		    L.retry_at > 0) {
			L.retry_at = 0; /* one last attempt */
			continue;
		}
		if (timeout_ms == 0 || (timeout_ms > 0 && left <= 0) ||
		    (rv == TP_ECLOSED && give_up_closed)) {
			seal(); /* drops and counts what does not fit */
			rv = try_send();
			break;
		}
		int ms = RETRY_MS;
		if (timeout_ms > 0 && left / 1000 < ms)
			ms = (int)(left / 1000) + 1;
		int fd = L.fd;
		pthread_mutex_unlock(&L.mu);
		if (fd >= 0 && rv == TP_EFULL) {
			struct pollfd p = {.fd = fd, .events = POLLOUT};
			poll(&p, 1, ms);
		} else {
			struct timespec ts = {0, (long)ms * 1000000};
			nanosleep(&ts, NULL);
		}
		pthread_mutex_lock(&L.mu);
	}
	if (rv == TP_OK && L.nrec == 0 && L.cfg->address != NULL &&
	    timeout_ms != 0)
		rv = sync_actor(timeout_ms < 0 ? INT64_MAX : end,
		                give_up_closed);
	pthread_mutex_unlock(&L.mu);
	if (rv == TP_EFULL)
		return TP_ETIMEDOUT;
	return rv;
}

int tp_log_flush(int timeout_ms)
{
	pthread_once(&once, init_once);
	return flush_bounded(timeout_ms, 0);
}

int tp_log_stats_get(tp_log_stats *out)
{
	if (out == NULL)
		return TP_EINVAL;
	pthread_mutex_lock(&L.mu);
	*out = L.st;
	pthread_mutex_unlock(&L.mu);
	return TP_OK;
}

/* ---- hooks ---- */

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
	flush_bounded(EXIT_MS, 1);
}

void tp__log_fini(void)
{
	tp_log_config *c = NULL;
	flush_bounded(EXIT_MS, 1);
	tp__log_actors_stop_all();
	pthread_mutex_lock(&L.mu);
	if (L.cfg != NULL && L.cfg->address != NULL &&
	    tp__log_config_copy(L.cfg, &c) == TP_OK) {
		tp__log_strset(&c->address, NULL);
		frames_free();
		install(c);
	}
	pthread_mutex_unlock(&L.mu);
}

/* Used by log_actor.c when the current actor goes away for good. */
void tp__log_detach(const char *address)
{
	tp_log_config *c = NULL;
	pthread_mutex_lock(&L.mu);
	if (L.cfg != NULL && L.cfg->address != NULL &&
	    strcmp(L.cfg->address, address) == 0 &&
	    tp__log_config_copy(L.cfg, &c) == TP_OK) {
		tp__log_strset(&c->address, NULL);
		frames_free();
		install(c);
	}
	pthread_mutex_unlock(&L.mu);
}
