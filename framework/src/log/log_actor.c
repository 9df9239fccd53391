/*
 * log_actor.c - the logging actor's body: the server that receives every
 * process's batches of records and is the only writer of the console and
 * the file. It runs in a process of its own (tp__log_serve, called by the
 * registered target the layer above starts under a supervisor; see
 * log_actor_ref.c for the handle), so it can be killed -9 and restarted
 * like any other child.
 *
 * It listens on a SOCK_SEQPACKET unix socket at the actor's address and
 * serves every connection on the one reactor (rt/reactor.h: the listener,
 * each connection and the stop signals are its sources), reading a
 * bounded number of batches from each in turn, so one chatty process
 * cannot starve the others; the batches of one connection (one process)
 * are read in order. After every round the sink is flushed.
 *
 * Loss is accounted, never silent: each batch carries the sequence number
 * of its first record, so the actor sees a gap when batches were dropped by
 * the sender (buffer full, actor down) or lost in flight (the actor died
 * with batches queued in its socket), and writes a warning with the count.
 * The table of expected sequence numbers and the counters live in the
 * actor's state file (struct tp__log_astate, shared memory in the run
 * directory), so they survive the server's death: a restarted server
 * reports the gaps. A batch's records are written to the file before its
 * sender's expected number moves past them, so a server killed in between
 * loses nothing silently (the next batch's gap counts them; at worst a
 * record is both written and counted).
 *
 * Stopping: SIGTERM (the supervisor's stop) writes everything already
 * received, then closes the listener and exits; SIGUSR1 does the same and
 * ends with TP_ECANCELED (a failure, for tests).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log_int.h"
#include "pshared.h"
#include "reactor.h"
#include "troupe/error.h"
#include "wire.h"

#define READS_PER_TURN 16

struct srv;

struct conn {
	struct srv *s;
	tp__rsrc *src;
	int fd;
	pid_t pid; /* the sender, once a batch told it */
	struct conn *prev, *next;
};

/* A bump allocator for unpacking one batch: the records' structs and
 * strings come from one block, released together; saves two mallocs and
 * frees per record. What does not fit goes to malloc and is freed on
 * reset. */
struct arena {
	unsigned char *mem;
	size_t used, cap;
	void **big;
	size_t nbig, capbig;
};

static void *arena_alloc(void *data, size_t size)
{
	struct arena *ar = data;
	size = (size + 15) & ~(size_t)15;
	if (ar->used + size <= ar->cap) {
		void *p = ar->mem + ar->used;
		ar->used += size;
		return p;
	}
	if (ar->nbig == ar->capbig) {
		size_t cap = ar->capbig ? ar->capbig * 2 : 16;
		void **b = realloc(ar->big, cap * sizeof(*b));
		if (b == NULL)
			return NULL;
		ar->big = b;
		ar->capbig = cap;
	}
	void *p = malloc(size);
	if (p != NULL)
		ar->big[ar->nbig++] = p;
	return p;
}

static void arena_free(void *data, void *ptr)
{
	(void)data;
	(void)ptr; /* released by arena_reset */
}

static void arena_reset(struct arena *ar)
{
	for (size_t i = 0; i < ar->nbig; i++)
		free(ar->big[i]);
	ar->nbig = 0;
	ar->used = 0;
}

struct srv {
	const tp_log_config *cfg;
	struct tp__log_astate *st; /* shared with the handle */
	int lfd;
	int result; /* of the stop signal */
	tp__reactor *r;
	tp__log_sink *sink;
	struct conn *conns;
	uint64_t rot_base; /* rotations of earlier servers */
	unsigned char *rbuf;
	struct arena arena;
	ProtobufCAllocator alloc;
};

#define ST_ADD(s, field, n)                                                    \
	__atomic_add_fetch(&(s)->st->field, (n), __ATOMIC_RELAXED)

static struct tp__log_apeer *peer_find(struct srv *s, pid_t pid)
{
	struct tp__log_astate *st = s->st;
	uint32_t n = st->npeers < TP_LOG_PEERS ? st->npeers : TP_LOG_PEERS;
	for (uint32_t i = 0; i < n; i++)
		if (st->peers[i].pid == pid)
			return &st->peers[i];
	return NULL;
}

/* A full table replaces its entries in turn: a sender forgotten so
 * reports everything before its next batch as lost (counted, not
 * silent). */
static struct tp__log_apeer *peer_add(struct srv *s, pid_t pid)
{
	struct tp__log_astate *st = s->st;
	struct tp__log_apeer *p;
	if (st->npeers < TP_LOG_PEERS)
		p = &st->peers[st->npeers++];
	else
		p = &st->peers[st->evict++ % TP_LOG_PEERS];
	p->next_seq = 0;
	p->pid = pid;
	return p;
}

static void peer_forget(struct srv *s, pid_t pid)
{
	struct tp__log_apeer *p = peer_find(s, pid);
	if (p != NULL && s->st->npeers > 0)
		*p = s->st->peers[--s->st->npeers];
}

static void warn_lost(struct srv *s, const Troupe__LogBatch *b, uint64_t lost)
{
	char msg[160];
	int n = snprintf(msg, sizeof(msg),
	                 "%llu log records dropped (logging actor slow or "
	                 "down)",
	                 (unsigned long long)lost);
	tp__log_sink_add(s->sink, tp__log_now_us(), TP_LOG_WARNING, b->sender,
	                 strlen(b->sender), b->pid, msg, (size_t)n);
}

/* Confirms a flush handshake: everything before it has been written. A
 * sender that cannot take it (gone, full) asks again. */
static void ack(struct conn *c, uint64_t id)
{
	Troupe__Envelope env = TROUPE__ENVELOPE__INIT;
	unsigned char buf[32];
	env.correlation_id = id;
	size_t n = troupe__envelope__pack(&env, buf);
	if (send(c->fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		(void)0;
}

static void sync_sink_stats(struct srv *s)
{
	__atomic_store_n(&s->st->rotations,
	                 s->rot_base + tp__log_sink_rotations(s->sink),
	                 __ATOMIC_RELAXED);
	__atomic_store_n(&s->st->file_error, tp__log_sink_file_error(s->sink),
	                 __ATOMIC_RELAXED);
}

static void handle_batch(struct srv *s, struct conn *c, const void *buf,
                         size_t len)
{
	Troupe__Envelope *env;
	uint64_t lost = 0;
	arena_reset(&s->arena);
	env = troupe__envelope__unpack(&s->alloc, len, buf);
	if (env == NULL || env->body_case != TROUPE__ENVELOPE__BODY_LOG_BATCH) {
		ST_ADD(s, bad, 1);
		return;
	}
	const Troupe__LogBatch *b = env->log_batch;
	struct tp__log_apeer *p = peer_find(s, b->pid);
	if (p != NULL && b->seq >= p->next_seq)
		lost = b->seq - p->next_seq;
	else /* the first batch seen from this process (or from a new one
	        with a reused pid): everything before it is missing */
		lost = b->seq;
	c->pid = b->pid;
	if (lost > 0)
		warn_lost(s, b, lost);
	for (size_t i = 0; i < b->n_records; i++) {
		const Troupe__LogRecord *r = b->records[i];
		const char *name = r->name[0] ? r->name : b->sender;
		tp__log_sink_add(s->sink, r->time_us, r->level, name,
		                 strlen(name), r->pid ? r->pid : b->pid,
		                 (const char *)r->message.data, r->message.len);
	}
	/* Written first, then counted as taken: a server killed in between
	 * makes the next batch report these as lost, never drops them
	 * silently. */
	tp__log_sink_flush(s->sink);
	if (p == NULL)
		p = peer_add(s, b->pid);
	__atomic_store_n(&p->next_seq, b->seq + b->n_records, __ATOMIC_RELEASE);
	ST_ADD(s, records, b->n_records);
	ST_ADD(s, lost, lost);
	ST_ADD(s, batches, 1);
	if (env->correlation_id != 0)
		ack(c, env->correlation_id);
}

static void conn_close(struct srv *s, struct conn *c, int forget)
{
	tp__reactor_del(c->src);
	close(c->fd);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	if (forget && c->pid > 0)
		peer_forget(s, c->pid); /* the sender exited */
	free(c);
}

/* Reads up to max batches (0: all there are). Returns -1 when the
 * connection ended and was closed. */
static int conn_read(struct srv *s, struct conn *c, int max)
{
	for (int i = 0; max == 0 || i < max; i++) {
		ssize_t n = recv(c->fd, s->rbuf, TP_LOG_FRAME_MAX,
		                 MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0) {
			conn_close(s, c, 1);
			return -1;
		}
		if (n > TP_LOG_FRAME_MAX) {
			ST_ADD(s, bad, 1);
			continue;
		}
		handle_batch(s, c, s->rbuf, (size_t)n);
	}
	return 0;
}

static void on_conn(tp__rsrc *src, uint32_t ev, void *arg)
{
	struct conn *c = arg;
	(void)src;
	(void)ev;
	conn_read(c->s, c, READS_PER_TURN);
}

/* Accepts one pending connection; returns 0 when there was none. */
static int accept_one(struct srv *s)
{
	struct conn *c = calloc(1, sizeof(*c));
	int fd;
	if (c == NULL)
		return 0;
	fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	c->s = s;
	if (fd >= 0 && tp__reactor_add_fd(s->r, fd, EPOLLIN, on_conn, c,
	                                  &c->src) == TP_OK) {
		c->fd = fd;
		c->next = s->conns;
		if (s->conns != NULL)
			s->conns->prev = c;
		s->conns = c;
		c = NULL;
	} else if (fd >= 0) {
		close(fd);
	}
	free(c);
	return fd >= 0;
}

static void accept_all(struct srv *s)
{
	while (accept_one(s))
		ST_ADD(s, connections, 1);
}

/* Every connection, read to the end of what is queued, then closed. */
static void drain_all(struct srv *s)
{
	accept_all(s);
	while (s->conns != NULL) {
		struct conn *c = s->conns;
		if (conn_read(s, c, 0) == 0)
			conn_close(s, c, 0);
	}
	tp__log_sink_flush(s->sink);
}

static void on_listener(tp__rsrc *src, uint32_t ev, void *arg)
{
	(void)src;
	(void)ev;
	accept_all(arg);
}

/* SIGTERM ends the server with TP_OK, SIGUSR1 with TP_ECANCELED. */
static void on_signal(tp__rsrc *src, uint32_t signo, void *arg)
{
	struct srv *s = arg;
	(void)src;
	s->result = signo == SIGUSR1 ? TP_ECANCELED : TP_OK;
	tp__reactor_stop(s->r);
}

/* After every round: what it received is written, and counted. */
static void on_round(void *arg)
{
	struct srv *s = arg;
	tp__log_sink_flush(s->sink);
	sync_sink_stats(s);
}

static int listen_on(struct srv *s)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	const char *path = tp__log_addr_path(s->cfg->address);
	if (strlen(path) >= sizeof(sa.sun_path))
		return TP_ETOOBIG;
	strcpy(sa.sun_path, path);
	s->lfd =
	    socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->lfd < 0)
		return tp_err_errno(errno);
	unlink(path); /* a dead server's socket */
	if (bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(s->lfd, 512) != 0)
		return tp_err_errno(errno);
	return TP_OK;
}

static int srv_open(struct srv *s, int restarted)
{
	sigset_t set;
	int rv;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	if ((rv = tp__reactor_new(&s->r)) != TP_OK ||
	    (rv = tp__reactor_add_signals(s->r, &set, on_signal, s, NULL)) !=
	        TP_OK ||
	    (rv = listen_on(s)) != TP_OK ||
	    (rv = tp__reactor_add_fd(s->r, s->lfd, EPOLLIN, on_listener, s,
	                             NULL)) != TP_OK)
		return rv;
	tp__reactor_on_round(s->r, on_round, s);
	tp_log_config *c = (tp_log_config *)s->cfg;
	if (restarted)
		c->delete_existing = 0; /* a restart appends */
	return tp__log_sink_open(c, &s->sink);
}

/* Says in the file that this server replaces one that died. */
static void say_restarted(struct srv *s, pid_t dead)
{
	char msg[160];
	int n = snprintf(msg, sizeof(msg),
	                 "logging actor restarted by its supervisor (the "
	                 "previous one, pid %d, died; what was in flight is "
	                 "reported as lost)",
	                 (int)dead);
	const char *name = "log-actor";
	tp__log_sink_add(s->sink, tp__log_now_us(), TP_LOG_WARNING, name,
	                 strlen(name), getpid(), msg, (size_t)n);
	tp__log_sink_flush(s->sink);
}

static void publish(struct tp__log_astate *st, pid_t pid, int err)
{
	if (pid != 0) {
		__atomic_store_n(&st->error, 0, __ATOMIC_RELAXED);
		__atomic_add_fetch(&st->starts, 1, __ATOMIC_RELAXED);
	} else {
		__atomic_store_n(&st->error, err, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&st->pid, pid, __ATOMIC_RELEASE);
	__atomic_add_fetch(&st->gen, 1, __ATOMIC_RELEASE);
	tp__futex_wake(&st->gen, 1 << 30);
}

int tp__log_serve(const tp_log_config *cfg, const char *state_path)
{
	struct srv s = {.cfg = cfg, .lfd = -1};
	int rv, fd = open(state_path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return tp_err_errno(errno);
	s.st = mmap(NULL, sizeof(*s.st), PROT_READ | PROT_WRITE, MAP_SHARED, fd,
	            0);
	close(fd);
	if (s.st == MAP_FAILED)
		return tp_err_errno(errno);
	pid_t dead = __atomic_load_n(&s.st->pid, __ATOMIC_ACQUIRE);
	s.rot_base = s.st->rotations;
	s.rbuf = malloc(TP_LOG_FRAME_MAX);
	s.arena.cap = 4 * TP_LOG_FRAME_MAX;
	s.arena.mem = malloc(s.arena.cap);
	s.alloc = (ProtobufCAllocator){arena_alloc, arena_free, &s.arena};
	if (s.rbuf == NULL || s.arena.mem == NULL)
		rv = TP_ENOMEM;
	else
		rv = srv_open(&s, s.st->starts > 0);
	if (rv == TP_OK) {
		sync_sink_stats(&s);
		if (dead > 0 && dead != getpid())
			say_restarted(&s, dead);
		publish(s.st, getpid(), 0);
		rv = tp__reactor_run(s.r);
		if (rv == TP_OK)
			rv = s.result;
		drain_all(&s);
		sync_sink_stats(&s);
	}
	/* No more connections into a listener nobody serves: senders see the
	 * actor gone at once and count what they cannot send. */
	if (s.lfd >= 0) {
		close(s.lfd);
		unlink(tp__log_addr_path(cfg->address));
	}
	publish(s.st, 0, rv);
	tp__reactor_free(s.r);
	tp__log_sink_close(s.sink);
	munmap(s.st, sizeof(*s.st));
	arena_reset(&s.arena);
	free(s.arena.big);
	free(s.arena.mem);
	free(s.rbuf);
	return rv;
}
