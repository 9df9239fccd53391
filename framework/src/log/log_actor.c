/*
 * log_actor.c - the logging actor: a thread that receives every process's
 * batches of records and is the only writer of the console and the file.
 *
 * It listens on a SOCK_SEQPACKET unix socket at tp_address("log", ...)
 * and serves every connection with epoll, reading a bounded number of
 * batches from each in turn, so one chatty process cannot starve the
 * others; the batches of one connection (one process) are read in order.
 * Lines are built in memory and written once per round.
 *
 * Loss is accounted, never silent: each batch carries the sequence number
 * of its first record, so the actor sees a gap when batches were dropped by
 * the sender (buffer full, actor down) or lost in flight (the actor was
 * stopped with batches queued in its socket), and writes a warning with
 * the count. The table of expected sequence numbers survives a restart.
 *
 * Supervision: the thread's exit, by tp_log_actor_stop or by a failure,
 * makes the sentinel readable and tp_log_actor_alive false;
 * tp_log_actor_restart starts it again on the same address.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log_int.h"
#include "troupe/error.h"
#include "troupe/runtime.h"
#include "wire.h"

#define READS_PER_TURN 16
#define MAX_EVENTS     64

struct conn {
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

struct peer {
	pid_t pid;
	uint64_t next_seq;
};

struct tp_log_actor {
	tp_log_config *cfg; /* with the actor's address */
	char address[200];
	pthread_mutex_t mu;   /* guards st, error, running */
	pthread_mutex_t fdmu; /* held while fds are made or closed, so a
	                         fork sees a complete set to close */
	pthread_t thr;
	int running, joinable, error;
	pid_t owner; /* the process whose thread this is */
	int lfd, epfd, stopfd, sentinel;
	tp__log_sink *sink;
	struct conn *conns; /* owned by the thread while it runs */
	struct peer *peers;
	size_t npeers, cappeers;
	tp_log_actor_stats st;
	uint64_t rot_base; /* rotations of earlier runs */
	unsigned char *rbuf;
	struct arena arena;
	ProtobufCAllocator alloc;
	struct tp_log_actor *next;
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static tp_log_actor *registry;

static struct peer *peer_find(tp_log_actor *a, pid_t pid)
{
	for (size_t i = 0; i < a->npeers; i++)
		if (a->peers[i].pid == pid)
			return &a->peers[i];
	return NULL;
}

static struct peer *peer_add(tp_log_actor *a, pid_t pid)
{
	if (a->npeers == a->cappeers) {
		size_t cap = a->cappeers ? a->cappeers * 2 : 16;
		struct peer *p = realloc(a->peers, cap * sizeof(*p));
		if (p == NULL)
			return NULL;
		a->peers = p;
		a->cappeers = cap;
	}
	a->peers[a->npeers] = (struct peer){pid, 0};
	return &a->peers[a->npeers++];
}

static void peer_forget(tp_log_actor *a, pid_t pid)
{
	struct peer *p = peer_find(a, pid);
	if (p != NULL)
		*p = a->peers[--a->npeers];
}

static void warn_lost(tp_log_actor *a, const Troupe__LogBatch *b, uint64_t lost)
{
	char msg[160];
	int n = snprintf(msg, sizeof(msg),
	                 "%llu log records dropped (logging actor slow or "
	                 "down)",
	                 (unsigned long long)lost);
	tp__log_sink_add(a->sink, tp__log_now_us(), TP_LOG_WARNING, b->sender,
	                 strlen(b->sender), b->pid, msg, (size_t)n);
}

/* Confirms a flush handshake: everything before it has been read. A
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

static void handle_batch(tp_log_actor *a, struct conn *c, const void *buf,
                         size_t len)
{
	Troupe__Envelope *env;
	uint64_t lost = 0;
	arena_reset(&a->arena);
	env = troupe__envelope__unpack(&a->alloc, len, buf);
	if (env == NULL || env->body_case != TROUPE__ENVELOPE__BODY_LOG_BATCH)
		goto bad;
	const Troupe__LogBatch *b = env->log_batch;
	struct peer *p = peer_find(a, b->pid);
	if (p != NULL && b->seq >= p->next_seq)
		lost = b->seq - p->next_seq;
	else /* the first batch seen from this process (or from a new one
	        with a reused pid): everything before it is missing */
		lost = b->seq;
	if (p == NULL)
		p = peer_add(a, b->pid);
	if (p != NULL)
		p->next_seq = b->seq + b->n_records;
	c->pid = b->pid;
	if (lost > 0)
		warn_lost(a, b, lost);
	for (size_t i = 0; i < b->n_records; i++) {
		const Troupe__LogRecord *r = b->records[i];
		const char *name = r->name[0] ? r->name : b->sender;
		tp__log_sink_add(a->sink, r->time_us, r->level, name,
		                 strlen(name), r->pid ? r->pid : b->pid,
		                 (const char *)r->message.data, r->message.len);
	}
	if (env->correlation_id != 0)
		ack(c, env->correlation_id);
	pthread_mutex_lock(&a->mu);
	a->st.records += b->n_records;
	a->st.lost += lost;
	a->st.batches++;
	pthread_mutex_unlock(&a->mu);
	return;
bad:
	pthread_mutex_lock(&a->mu);
	a->st.bad++;
	pthread_mutex_unlock(&a->mu);
}

static void conn_close(tp_log_actor *a, struct conn *c, int forget)
{
	pthread_mutex_lock(&a->fdmu);
	epoll_ctl(a->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		a->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&a->fdmu);
	if (forget && c->pid > 0)
		peer_forget(a, c->pid); /* the sender exited */
	free(c);
}

/* Reads up to max batches (0: all there are). Returns -1 when the
 * connection ended and was closed. */
static int conn_read(tp_log_actor *a, struct conn *c, int max)
{
	for (int i = 0; max == 0 || i < max; i++) {
		ssize_t n = recv(c->fd, a->rbuf, TP_LOG_FRAME_MAX,
		                 MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0) {
			conn_close(a, c, 1);
			return -1;
		}
		if (n > TP_LOG_FRAME_MAX) {
			pthread_mutex_lock(&a->mu);
			a->st.bad++;
			pthread_mutex_unlock(&a->mu);
			continue;
		}
		handle_batch(a, c, a->rbuf, (size_t)n);
	}
	return 0;
}

/* Accepts one pending connection; returns 0 when there was none. The fd
 * is made and listed under fdmu, so a fork sees it and closes it. */
static int accept_one(tp_log_actor *a)
{
	struct epoll_event ev = {.events = EPOLLIN};
	struct conn *c = calloc(1, sizeof(*c));
	int fd;
	if (c == NULL)
		return 0;
	pthread_mutex_lock(&a->fdmu);
	fd = accept4(a->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	ev.data.ptr = c;
	if (fd >= 0 && epoll_ctl(a->epfd, EPOLL_CTL_ADD, fd, &ev) == 0) {
		c->fd = fd;
		c->next = a->conns;
		if (a->conns != NULL)
			a->conns->prev = c;
		a->conns = c;
		c = NULL;
	} else if (fd >= 0) {
		close(fd);
	}
	pthread_mutex_unlock(&a->fdmu);
	free(c);
	return fd >= 0;
}

static void accept_all(tp_log_actor *a)
{
	while (accept_one(a)) {
		pthread_mutex_lock(&a->mu);
		a->st.connections++;
		pthread_mutex_unlock(&a->mu);
	}
}

/* Every connection, read to the end of what is queued, then closed. */
static void drain_all(tp_log_actor *a)
{
	accept_all(a);
	while (a->conns != NULL) {
		struct conn *c = a->conns;
		if (conn_read(a, c, 0) == 0)
			conn_close(a, c, 0);
	}
	tp__log_sink_flush(a->sink);
}

static void sync_sink_stats(tp_log_actor *a)
{
	pthread_mutex_lock(&a->mu);
	a->st.rotations = a->rot_base + tp__log_sink_rotations(a->sink);
	a->st.file_error = tp__log_sink_file_error(a->sink);
	pthread_mutex_unlock(&a->mu);
}

static void *actor_main(void *arg)
{
	tp_log_actor *a = arg;
	struct epoll_event evs[MAX_EVENTS];
	int err = 0, stop = 0;
	while (!stop) {
		int n = epoll_wait(a->epfd, evs, MAX_EVENTS, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = tp_err_errno(errno);
			break;
		}
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			if (p == &a->lfd) {
				accept_all(a);
			} else if (p == &a->stopfd) {
				uint64_t v = 0;
				if (read(a->stopfd, &v, sizeof(v)) < 0)
					v = 1;
				stop = 1;
				if (v >= 2)
					err = TP_ECANCELED;
			} else {
				conn_read(a, p, READS_PER_TURN);
			}
		}
		tp__log_sink_flush(a->sink);
		sync_sink_stats(a);
	}
	drain_all(a);
	sync_sink_stats(a);
	/* No more connections into a listener nobody serves: senders see the
	 * actor gone at once and count what they cannot send. */
	pthread_mutex_lock(&a->fdmu);
	close(a->lfd);
	a->lfd = -1;
	unlink(tp__log_addr_path(a->address));
	pthread_mutex_unlock(&a->fdmu);
	pthread_mutex_lock(&a->mu);
	a->running = 0;
	a->error = err;
	pthread_mutex_unlock(&a->mu);
	uint64_t one = 1;
	if (write(a->sentinel, &one, sizeof(one)) < 0)
		(void)0;
	return NULL;
}

static int listen_locked(tp_log_actor *a);

static int listen_on(tp_log_actor *a)
{
	int rv;
	pthread_mutex_lock(&a->fdmu);
	rv = listen_locked(a);
	pthread_mutex_unlock(&a->fdmu);
	return rv;
}

static int listen_locked(tp_log_actor *a)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	const char *path = tp__log_addr_path(a->address);
	if (strlen(path) >= sizeof(sa.sun_path))
		return TP_ETOOBIG;
	strcpy(sa.sun_path, path);
	a->lfd =
	    socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (a->lfd < 0)
		return tp_err_errno(errno);
	unlink(path);
	if (bind(a->lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(a->lfd, 512) != 0)
		return tp_err_errno(errno);
	return TP_OK;
}

/* Releases what one run of the thread used (not the sentinel). */
static void run_cleanup(tp_log_actor *a)
{
	pthread_mutex_lock(&a->fdmu);
	if (a->lfd >= 0) {
		close(a->lfd);
		unlink(tp__log_addr_path(a->address));
	}
	if (a->epfd >= 0)
		close(a->epfd);
	if (a->stopfd >= 0)
		close(a->stopfd);
	a->lfd = a->epfd = a->stopfd = -1;
	pthread_mutex_unlock(&a->fdmu);
	if (a->sink != NULL)
		a->rot_base += tp__log_sink_rotations(a->sink);
	tp__log_sink_close(a->sink);
	a->sink = NULL;
}

/*
 * fork: a child must not keep the actor's sockets, or a stopped actor's
 * connections would stay open in it and swallow its senders' batches.
 * Making and closing those fds happens under fdmu, which the prepare
 * handler takes, so the child sees the complete set and closes it.
 */
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void)
{
	pthread_mutex_lock(&reg_mu);
	for (tp_log_actor *a = registry; a != NULL; a = a->next)
		pthread_mutex_lock(&a->fdmu);
}

static void fork_parent(void)
{
	for (tp_log_actor *a = registry; a != NULL; a = a->next)
		pthread_mutex_unlock(&a->fdmu);
	pthread_mutex_unlock(&reg_mu);
}

static void fork_child(void)
{
	for (tp_log_actor *a = registry; a != NULL; a = a->next) {
		for (struct conn *c = a->conns; c != NULL; c = c->next) {
			close(c->fd);
		}
		if (a->lfd >= 0)
			close(a->lfd);
		if (a->epfd >= 0)
			close(a->epfd);
		if (a->stopfd >= 0)
			close(a->stopfd);
		a->conns = NULL;
		a->lfd = a->epfd = a->stopfd = -1;
		a->joinable = a->running = 0;
		a->sink = NULL; /* its buffers belong to the parent's thread */
		pthread_mutex_init(&a->fdmu, NULL);
		pthread_mutex_init(&a->mu, NULL);
	}
	registry = NULL;
	pthread_mutex_init(&reg_mu, NULL);
}

static void fork_register(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

static int epoll_add(int epfd, int fd, void *tag)
{
	struct epoll_event ev = {.events = EPOLLIN};
	ev.data.ptr = tag;
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* Opens the socket and the outputs and starts the thread. */
static int run_start(tp_log_actor *a)
{
	sigset_t all, old;
	uint64_t v;
	int rv;
	if ((rv = listen_on(a)) != TP_OK)
		goto fail;
	pthread_mutex_lock(&a->fdmu);
	a->epfd = epoll_create1(EPOLL_CLOEXEC);
	a->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pthread_mutex_unlock(&a->fdmu);
	if (a->epfd < 0 || a->stopfd < 0 ||
	    epoll_add(a->epfd, a->lfd, &a->lfd) != 0 ||
	    epoll_add(a->epfd, a->stopfd, &a->stopfd) != 0) {
		rv = tp_err_errno(errno);
		goto fail;
	}
	if ((rv = tp__log_sink_open(a->cfg, &a->sink)) != TP_OK)
		goto fail;
	a->cfg->delete_existing = 0; /* a restart appends */
	pthread_mutex_lock(&a->mu);
	a->st.file_error = tp__log_sink_file_error(a->sink);
	a->running = 1;
	a->error = 0;
	pthread_mutex_unlock(&a->mu);
	while (read(a->sentinel, &v, sizeof(v)) > 0)
		;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rv = pthread_create(&a->thr, NULL, actor_main, a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rv != 0) {
		a->running = 0;
		rv = tp_err_errno(rv);
		goto fail;
	}
	a->joinable = 1;
	a->owner = getpid();
	return TP_OK;
fail:
	run_cleanup(a);
	return rv;
}

static void run_stop(tp_log_actor *a)
{
	uint64_t one = 1;
	if (!a->joinable || a->owner != getpid())
		return; /* in a forked child the thread does not exist */
	if (write(a->stopfd, &one, sizeof(one)) < 0)
		(void)0;
	pthread_join(a->thr, NULL);
	a->joinable = 0;
	run_cleanup(a);
}

int tp_log_actor_start(const tp_log_config *c, tp_log_actor **out)
{
	tp_log_actor *a;
	int rv;
	if (c == NULL || out == NULL)
		return TP_EINVAL;
	if (!tp_initialized())
		return TP_ENOTINIT;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return TP_ENOMEM;
	a->lfd = a->epfd = a->stopfd = -1;
	pthread_once(&fork_once, fork_register);
	pthread_mutex_init(&a->mu, NULL);
	pthread_mutex_init(&a->fdmu, NULL);
	a->sentinel = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	a->rbuf = malloc(TP_LOG_FRAME_MAX);
	a->arena.cap = 4 * TP_LOG_FRAME_MAX;
	a->arena.mem = malloc(a->arena.cap);
	a->alloc = (ProtobufCAllocator){arena_alloc, arena_free, &a->arena};
	if (a->sentinel < 0 || a->rbuf == NULL || a->arena.mem == NULL) {
		rv = a->sentinel >= 0 ? TP_ENOMEM : tp_err_errno(errno);
		goto fail;
	}
	if ((rv = tp__log_config_copy(c, &a->cfg)) != TP_OK ||
	    (rv = tp_address("log", a->address, sizeof(a->address))) != TP_OK ||
	    (rv = tp__log_strset(&a->cfg->address, a->address)) != TP_OK ||
	    (rv = run_start(a)) != TP_OK)
		goto fail;
	pthread_mutex_lock(&reg_mu);
	a->next = registry;
	registry = a;
	pthread_mutex_unlock(&reg_mu);
	tp_log_init(a->cfg);
	*out = a;
	return TP_OK;
fail:
	if (a->sentinel >= 0)
		close(a->sentinel);
	tp_log_config_free(a->cfg);
	free(a->rbuf);
	free(a->arena.mem);
	pthread_mutex_destroy(&a->mu);
	pthread_mutex_destroy(&a->fdmu);
	free(a);
	return rv;
}

int tp_log_actor_stop(tp_log_actor *a)
{
	if (a == NULL)
		return TP_EINVAL;
	run_stop(a);
	return TP_OK;
}

int tp_log_actor_restart(tp_log_actor *a)
{
	if (a == NULL)
		return TP_EINVAL;
	if (tp_log_actor_alive(a))
		return TP_EALREADY;
	if (!tp_initialized())
		return TP_ENOTINIT;
	run_stop(a); /* a thread that failed: join it, release its run */
	return run_start(a);
}

int tp_log_actor_alive(const tp_log_actor *a)
{
	int r;
	if (a == NULL)
		return 0;
	pthread_mutex_lock((pthread_mutex_t *)&a->mu);
	r = a->running;
	pthread_mutex_unlock((pthread_mutex_t *)&a->mu);
	return r;
}

int tp_log_actor_error(const tp_log_actor *a)
{
	int r;
	if (a == NULL)
		return TP_EINVAL;
	pthread_mutex_lock((pthread_mutex_t *)&a->mu);
	r = a->error;
	pthread_mutex_unlock((pthread_mutex_t *)&a->mu);
	return r;
}

int tp_log_actor_sentinel(const tp_log_actor *a)
{
	return a != NULL ? a->sentinel : -1;
}

const char *tp_log_actor_address(const tp_log_actor *a)
{
	return a != NULL ? a->address : NULL;
}

int tp_log_actor_stats_get(const tp_log_actor *a, tp_log_actor_stats *out)
{
	if (a == NULL || out == NULL)
		return TP_EINVAL;
	pthread_mutex_lock((pthread_mutex_t *)&a->mu);
	*out = a->st;
	pthread_mutex_unlock((pthread_mutex_t *)&a->mu);
	return TP_OK;
}

int tp__log_actor_fail(tp_log_actor *a)
{
	uint64_t two = 2;
	if (a == NULL || !a->joinable || a->owner != getpid())
		return TP_ESTATE;
	if (write(a->stopfd, &two, sizeof(two)) < 0)
		return tp_err_errno(errno);
	return TP_OK;
}

void tp_log_actor_free(tp_log_actor *a)
{
	if (a == NULL)
		return;
	run_stop(a);
	pthread_mutex_lock(&reg_mu);
	for (tp_log_actor **p = &registry; *p != NULL; p = &(*p)->next) {
		if (*p == a) {
			*p = a->next;
			break;
		}
	}
	pthread_mutex_unlock(&reg_mu);
	tp__log_detach(a->address);
	close(a->sentinel);
	tp_log_config_free(a->cfg);
	free(a->peers);
	free(a->rbuf);
	arena_reset(&a->arena);
	free(a->arena.big);
	free(a->arena.mem);
	pthread_mutex_destroy(&a->mu);
	pthread_mutex_destroy(&a->fdmu);
	free(a);
}

void tp__log_actors_stop_all(void)
{
	pthread_mutex_lock(&reg_mu);
	for (tp_log_actor *a = registry; a != NULL; a = a->next)
		run_stop(a);
	pthread_mutex_unlock(&reg_mu);
}

void tp__log_actor_each(void (*fn)(void *arg, tp_log_actor *a), void *arg)
{
	pthread_mutex_lock(&reg_mu);
	for (tp_log_actor *a = registry; a != NULL; a = a->next)
		if (a->owner == getpid())
			fn(arg, a);
	pthread_mutex_unlock(&reg_mu);
}
