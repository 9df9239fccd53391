/*
 * cluster_bridge.c - rank 0's bridge: the one thread of the program that
 * calls MPI once tp_init has returned.
 *
 * It listens on one nng pair1 socket per worker slot (ipc, in the run
 * directory), where that slot's stand-in worker process (cluster_proxy.c)
 * dials. What a stand-in sends (batches of tasks) goes to the slot's agent
 * with the slot and the pool's generation in the tag (a large batch the
 * pool wrote into the stand-in run's ring straight from its slot, which
 * is freed once MPI is done with it); what agents send
 * back (batches of results) goes to the slot's socket, a large batch
 * received straight into a result slot of that ring (the stand-in passes
 * on only where it is, as a worker's note). It beats every
 * hb_ms to every agent and ends the job when one is silent for ten beats
 * (a dead host or a cut link: Open MPI 4.1 has no way to go on without a
 * rank). Beats are not traffic: between batches its waits back off
 * (cluster_wait.c) up to half a beat.
 */
#include <errno.h>
#include <mpi.h>
#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster_int.h"
#include "cluster_mpi.h"
#include "cluster_wait.h"
#include "cluster_wire.h"
#include "pool_int.h"
#include "runtime_int.h"
#include "troupe/error.h"
#include "wire.h"

/* Results a stand-in could not take yet (its socket full, or its slot
 * between a dead stand-in and its replacement): kept in order, tried
 * again each round, so the bridge never blocks on one slot. */
struct pend {
	nng_msg *m;
	int gen;
	struct pend *next;
};

/* A ring of a slot's stand-in run (pool_ring.c): the pool writes a large
 * batch into one of its slots and the stand-in passes on only where it
 * is; the bridge sends the batch from there and frees the slot once MPI
 * is done with its bytes. Mapped while batches from it are in flight;
 * the newest ring of a slot stays mapped for the next ones. */
struct bring {
	struct tp__pool_wring w;
	int inflight;  /* its slots being sent or received into */
	uint32_t pipe; /* the stand-in's pipe whose batch named it */
	struct bring *next;
};

/* A slot's run's local channel (pool_fast.c), dialled here: the pool
 * writes its notes (a batch in the ring's slot S) and small batches to
 * it, and reads ours (results in a result slot, small batches of them),
 * without the stand-in between (a wake-up of its process and two of
 * nng's threads each way). The stand-in's hello says where it is. */
#define FAST_HELD 16 /* notes of batches in a ring not yet named */
struct fast {
	int fd;         /* -1: none (nng carries everything) */
	uint32_t pipe;  /* the stand-in's pipe whose hello named it */
	int tried;      /* dialled (or given up) for that pipe */
	char path[108]; /* from that hello ("" none) */
	struct tp__pool_note held[FAST_HELD];
	int nheld;
};

static struct {
	nng_socket *s;
	/* nslots sockets, nslots local channels, the wait's eventfd */
	struct pollfd *fds;
	struct tp__cl_wait wait;
	pthread_t thr;
	int started;
	atomic_int stop;
	atomic_int gen;
	pthread_mutex_t mu;
	int32_t open_cfg[CL_OPEN_N];
	int open_due;           /* under mu: open_cfg is to be sent */
	double *last;           /* per rank: when it was last heard */
	struct pend **ph, **pt; /* per slot: results not yet delivered */
	struct bring **rings;   /* per slot: its runs' rings, newest first */
	_Atomic uint32_t *pipe; /* per slot: its stand-in's pipe (0: none) */
	struct fast *fast;      /* per slot: its run's local channel */
	unsigned char *fbuf;    /* TP__POOL_FAST_MAX: a record read */
	struct tp__cl_out out;
	struct tp__cl_in in;
} br = {.wait = {.fd = -1}, .mu = PTHREAD_MUTEX_INITIALIZER};

void tp__cl_bridge_open(int32_t *cfg)
{
	int g = (atomic_load(&br.gen) + 1) % TP__CL_GENS;
	cfg[CL_OPEN_GEN] = g;
	pthread_mutex_lock(&br.mu);
	memcpy(br.open_cfg, cfg, sizeof(br.open_cfg));
	br.open_due = 1;
	atomic_store(&br.gen, g);
	pthread_mutex_unlock(&br.mu);
	if (br.started)
		tp__cl_wait_ring(&br.wait);
}

/* Sends a new pool's options to every agent, before any of its tasks
 * (the pool starts its stand-ins only after open returned, and a
 * round sends this first). */
static void rings_prune(int s, int all);

static void send_open(void)
{
	int due;
	pthread_mutex_lock(&br.mu);
	due = br.open_due;
	if (br.open_due)
		for (int r = 1; r < tp__cl.size; r++) {
			uint8_t *c = malloc(sizeof(br.open_cfg));
			if (c == NULL)
				tp__cl_abort(1, "out of memory");
			tp__cl_le32s_put(c, br.open_cfg, CL_OPEN_N);
			tp__cl_send(&br.out, r, TP__CL_TAG_OPEN, NULL, c,
			            sizeof(br.open_cfg));
		}
	br.open_due = 0;
	pthread_mutex_unlock(&br.mu);
	/* the last pool's rings: unmapped once their sends are done */
	for (int s = 0; due && s < tp__cl.nslots; s++)
		rings_prune(s, 1);
}

int tp__cl_bridge_addr(int slot, char *buf, size_t len)
{
	const char *dir = tp_runtime_dir();
	if (dir == NULL)
		return TP_ENOTINIT;
	int n = snprintf(buf, len, "ipc://%s/mpi-%d", dir, slot);
	return n < 0 || (size_t)n >= len ? TP_ETOOBIG : TP_OK;
}

/* Unmaps slot s's rings but the newest (all: the newest too), once
 * nothing of them is in flight. */
static void rings_prune(int s, int all)
{
	struct bring **pp = &br.rings[s];
	if (*pp != NULL && !all)
		pp = &(*pp)->next;
	while (*pp != NULL) {
		struct bring *g = *pp;
		if (g->inflight > 0) {
			pp = &g->next;
			continue;
		}
		*pp = g->next;
		tp__pool_wring_close(&g->w);
		free(g);
	}
}

static void ring_sent(void *arg, unsigned slot)
{
	struct bring *g = arg;
	tp__pool_wring_free(&g->w, slot);
	g->inflight--;
}

/* The ring named path of slot s: the newest, or a new one; pipe, the
 * stand-in's pipe whose batch named it. */
static struct bring *ring_of(int s, const char *path, uint32_t pipe)
{
	struct bring *g = br.rings[s];
	if (g != NULL && strcmp(g->w.path, path) == 0)
		return g;
	if ((g = calloc(1, sizeof(*g))) == NULL)
		tp__cl_abort(1, "out of memory");
	g->pipe = pipe;
	g->next = br.rings[s];
	br.rings[s] = g;
	rings_prune(s, 0);
	return g;
}

/* Sends the batch of len bytes in slot n of ring g (named path) on to
 * slot s's agent, from there; the slot is freed once it is sent. */
static void ring_send(int s, int tag, struct bring *g, const char *path,
                      uint32_t n, uint64_t len)
{
	const unsigned char *bytes;
	int rv = tp__pool_wring_bytes(&g->w, path, n, len, &bytes);
	if (rv == TP_OK) {
		g->inflight++;
		if (tp__cl_send_borrowed(&br.out, tp__cl.slot_rank[s], tag,
		                         bytes, (size_t)len, ring_sent, g,
		                         n) != TP_OK)
			tp__cl_abort(1, "out of memory sending to rank %d",
			             tp__cl.slot_rank[s]);
	} else if (rv != TP_ENOENT) /* gone: with its run, whose tasks the
	                               pool settles as a dead worker's */
		tp__cl_abort(1,
		             "slot %d: a batch in the pool's ring could not be "
		             "read: %s",
		             s, tp_strerror(rv));
}

/* m unpacked when it is an Envelope of body (a field from 80 to 95,
 * whose key's bytes are b0 and 0x05) of at most max bytes; else NULL
 * (m is not unpacked at all when its first bytes say another field). */
static Troupe__Envelope *envelope_of(nng_msg *m, uint8_t b0, size_t max,
                                     int body)
{
	const uint8_t *b = nng_msg_body(m);
	size_t n = nng_msg_len(m);
	Troupe__Envelope *env = NULL;
	if (n < 2 || n > max || b[0] != b0 || b[1] != 0x05 ||
	    tp__envelope_unpack(b, n, 0, &env) != TP_OK)
		return NULL;
	if ((int)env->body_case != body) {
		tp__envelope_free(env);
		return NULL;
	}
	return env;
}

/* Sends m on to slot s's agent when it says where a batch is in the
 * ring (Envelope{pool_tasks_ring}, field 84: its first bytes are 0xa2
 * 0x05): from there, as the pool wrote it. Returns 0 (m left as it is)
 * for any other message. */
static int from_ring(int s, int tag, nng_msg *m)
{
	Troupe__Envelope *env =
	    envelope_of(m, 0xa2, 1024, TROUPE__ENVELOPE__BODY_POOL_TASKS_RING);
	if (env == NULL)
		return 0;
	const Troupe__PoolTasksRing *r = env->pool_tasks_ring;
	struct bring *g = ring_of(s, r->ring, nng_msg_get_pipe(m).id);
	ring_send(s, tag, g, r->ring, r->slot, r->len);
	tp__envelope_free(env);
	nng_msg_free(m);
	return 1;
}

static void fast_close(int s)
{
	struct fast *f = &br.fast[s];
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	f->nheld = 0; /* the run is gone: the pool settles its tasks */
	br.fds[tp__cl.nslots + s].fd = -1;
}

/* Whether results may go by slot s's channel: it is the run's of the
 * stand-in connected now, whose pipe is pipe. */
static int fast_ok(int s, uint32_t pipe)
{
	const struct fast *f = &br.fast[s];
	return f->fd >= 0 && pipe != 0 && f->pipe == pipe &&
	       atomic_load(&br.pipe[s]) == pipe;
}

/* A stand-in's hello (the first it sends: Envelope{pool_hello}, field
 * 82, whose first bytes are 0x92 0x05): where its run's channel is.
 * Returns 0 (m left as it is) for any other message. */
static int from_hello(int s, nng_msg *m)
{
	Troupe__Envelope *env =
	    envelope_of(m, 0x92, 256, TROUPE__ENVELOPE__BODY_POOL_HELLO);
	if (env == NULL)
		return 0;
	struct fast *f = &br.fast[s];
	fast_close(s); /* a channel of the run before */
	f->pipe = nng_msg_get_pipe(m).id;
	f->tried = 0;
	snprintf(f->path, sizeof(f->path), "%s",
	         env->pool_hello->name ? env->pool_hello->name : "");
	tp__envelope_free(env);
	nng_msg_free(m);
	return 1;
}

/* After the first batch from the stand-in of pipe: the pool listened for
 * its run's channel before it sent that batch; dialled once. */
static void fast_dial(int s, uint32_t pipe)
{
	struct fast *f = &br.fast[s];
	int fd;
	if (f->tried || f->pipe != pipe || f->path[0] == '\0')
		return;
	f->tried = 1;
	if (tp__pool_fast_dial(f->path, &fd) != TP_OK)
		return; /* nng carries everything */
	f->fd = fd;
	br.fds[tp__cl.nslots + s].fd = fd;
	br.fds[tp__cl.nslots + s].events = POLLIN;
}

/* A note of a batch in slot n (len bytes) of the run's ring: sent on
 * when the ring is known (the pool named it in a message first, which
 * the stand-in relays: it may come after the note); 0 when it is not. */
static int fast_tasks(int s, int tag, uint32_t n, uint64_t len)
{
	struct bring *g = br.rings[s];
	if (g == NULL || g->pipe != br.fast[s].pipe)
		return 0;
	if (g->w.map != NULL) /* else gone with its run: so is the batch */
		ring_send(s, tag, g, g->w.path, n, len);
	return 1;
}

struct fast_arg {
	int s, tag, n;
};

/* A note (or small batch) the pool wrote to slot s's channel. */
static void fast_note(const struct tp__pool_note *nt,
                      const unsigned char *bytes, void *arg)
{
	struct fast_arg *a = arg;
	struct fast *f = &br.fast[a->s];
	a->n++;
	if (nt->kind == TP__POOL_NOTE_BYTES) {
		void *c = malloc(nt->len);
		if (c == NULL)
			tp__cl_abort(1, "out of memory");
		memcpy(c, bytes, nt->len);
		if (tp__cl_send(&br.out, tp__cl.slot_rank[a->s], a->tag, NULL,
		                c, nt->len) != TP_OK)
			tp__cl_abort(1, "out of memory sending to rank %d",
			             tp__cl.slot_rank[a->s]);
	} else if (nt->kind == TP__POOL_NOTE_TASKS &&
	           !fast_tasks(a->s, a->tag, nt->slot, nt->len)) {
		if (f->nheld == FAST_HELD)
			tp__cl_abort(1,
			             "slot %d: more than %d batches in a ring "
			             "not yet named",
			             a->s, FAST_HELD);
		f->held[f->nheld++] = *nt;
	}
}

/* What slot s's run wrote to its channel: on to its agent. */
static int from_fast(int s)
{
	struct fast *f = &br.fast[s];
	struct fast_arg a = {s, s + TP__CL_SLOTS * atomic_load(&br.gen), 0};
	int k = 0;
	/* the notes held until their ring was named, first */
	for (int i = 0; i < f->nheld; i++)
		if (!fast_tasks(s, a.tag, f->held[i].slot, f->held[i].len))
			f->held[k++] = f->held[i];
	f->nheld = k;
	if (f->fd >= 0 && tp__pool_fast_drain(f->fd, br.fbuf, TP__POOL_FAST_MAX,
	                                      fast_note, &a) == TP_ECLOSED)
		fast_close(s);
	return a.n;
}

/* Slot s's stand-in sent something: on to its agent. */
static int from_slot(int s)
{
	nng_msg *m;
	int n = 0;
	int tag = s + TP__CL_SLOTS * atomic_load(&br.gen);
	while (nng_recvmsg(br.s[s], &m, NNG_FLAG_NONBLOCK) == 0) {
		uint32_t pipe = nng_msg_get_pipe(m).id;
		if (from_hello(s, m))
			continue;
		n++;
		fast_dial(s, pipe);
		if (from_ring(s, tag, m))
			continue;
		if (tp__cl_send(&br.out, tp__cl.slot_rank[s], tag, m, NULL,
		                0) != TP_OK) {
			nng_msg_free(m);
			tp__cl_abort(1, "out of memory sending to rank %d",
			             tp__cl.slot_rank[s]);
		}
	}
	return n;
}

/* A result slot received into and then not handed on: free again. */
static void ring_drop(void *arg, unsigned slot)
{
	struct bring *g = arg;
	tp__pool_wring_mark(&g->w, slot, 0);
	g->inflight--;
}

/*
 * Large results for slot s go into a result slot of its stand-in run's
 * ring, as a local worker's do (pool_ring.c), and the stand-in passes on
 * only where they are: no nng message of their size, no copies through
 * two sockets. Only into the ring of the stand-in connected now (its
 * pipe named it): results for a run whose batches all went in messages
 * go in a message, as do those the ring has no free slot for. Returns
 * 1 when the receive has started.
 */
static int into_ring(int s, MPI_Message *mm, const MPI_Status *st, int count)
{
	struct bring *g = br.rings[s];
	unsigned char *dst;
	uint32_t rs;
	if (g == NULL || (size_t)count < TP__POOL_RING_MIN ||
	    g->pipe != atomic_load(&br.pipe[s]) ||
	    (dst = tp__pool_wring_take(&g->w, (size_t)count, &rs)) == NULL)
		return 0;
	tp__pool_wring_mark(&g->w, rs, 1); /* ours until the pool's copy */
	g->inflight++;
	if (tp__cl_recv_into(&br.in, mm, st, dst, ring_drop, g, rs) != TP_OK)
		tp__cl_abort(1, "out of memory receiving from rank %d",
		             st->MPI_SOURCE);
	return 1;
}

/* A message from an agent begins to arrive: results for a slot go into
 * its ring or an nng message (handed to the slot's stand-in as it is),
 * anything else into a buffer that is dropped (a beat has done its work
 * by arriving). */
static void from_agent(MPI_Message *mm, const MPI_Status *st)
{
	int count = 0, slot = st->MPI_TAG % TP__CL_SLOTS;
	nng_msg *m = NULL;
	MPI_Get_count(st, MPI_BYTE, &count);
	if (st->MPI_TAG < TP__CL_TAG_HB && slot < tp__cl.nslots &&
	    into_ring(slot, mm, st, count))
		return;
	if (st->MPI_TAG >= TP__CL_TAG_HB || slot >= tp__cl.nslots ||
	    nng_msg_alloc(&m, (size_t)count) != 0)
		m = NULL;
	if (tp__cl_recv(&br.in, mm, st, m) != TP_OK)
		tp__cl_abort(1, "out of memory receiving from rank %d",
		             st->MPI_SOURCE);
}

/* Results received into slot n of ring g: the message that says where
 * they are (Envelope{pool_results_ring}, as a worker sends it). */
static nng_msg *ring_note(struct bring *g, unsigned n, int len)
{
	Troupe__PoolTasksRing r = TROUPE__POOL_TASKS_RING__INIT;
	Troupe__Envelope e = TROUPE__ENVELOPE__INIT;
	nng_msg *m;
	r.ring = g->w.path;
	r.slot = n;
	r.len = (uint64_t)len;
	e.body_case = TROUPE__ENVELOPE__BODY_POOL_RESULTS_RING;
	e.pool_results_ring = &r;
	size_t k = troupe__envelope__get_packed_size(&e);
	if (nng_msg_alloc(&m, k) != 0)
		tp__cl_abort(1, "out of memory");
	troupe__envelope__pack(&e, nng_msg_body(m));
	return m;
}

/* A message from an agent is in: results join their slot's queue. *arg
 * counts the messages that are traffic (not beats). */
static int agent_msg(struct tp__cl_rx *x, void *arg)
{
	int slot = x->tag % TP__CL_SLOTS, gen = x->tag / TP__CL_SLOTS;
	free(x->buf);
	if (x->drop != NULL) { /* in a ring's result slot */
		struct bring *g = x->arg;
		if (gen != atomic_load(&br.gen)) {
			ring_drop(g, x->n);
			return 0;
		}
		g->inflight--;
		/* where they are, by the run's channel if it has one */
		if (fast_ok(slot, g->pipe) &&
		    tp__pool_fast_send(br.fast[slot].fd, TP__POOL_NOTE_RESULTS,
		                       x->n, (uint64_t)x->count) == TP_OK) {
			(*(int *)arg)++;
			return 0;
		}
		x->msg = ring_note(g, x->n, x->count);
	}
	if (x->msg == NULL)
		return 0;
	(*(int *)arg)++;
	/* A late answer to a pool that is gone is dropped. */
	if (gen != atomic_load(&br.gen)) {
		nng_msg_free(x->msg);
		return 0;
	}
	/* small ones in one record of the run's channel, when it has one */
	if (x->drop == NULL && nng_msg_len(x->msg) <= TP__POOL_FAST_MAX &&
	    fast_ok(slot, atomic_load(&br.pipe[slot])) &&
	    tp__pool_fast_send_bytes(br.fast[slot].fd, nng_msg_body(x->msg),
	                             nng_msg_len(x->msg)) == TP_OK) {
		nng_msg_free(x->msg);
		return 0;
	}
	struct pend *p = malloc(sizeof(*p));
	if (p == NULL)
		tp__cl_abort(1, "out of memory");
	p->m = x->msg;
	p->gen = gen;
	p->next = NULL;
	if (br.pt[slot] != NULL)
		br.pt[slot]->next = p;
	else
		br.ph[slot] = p;
	br.pt[slot] = p;
	return 0;
}

/* Hands each slot's waiting results to its stand-in, in order, as far as
 * it takes them; drops those of a pool that is gone. Returns 1 when some
 * are still waiting. */
static int deliver(void)
{
	int gen = atomic_load(&br.gen), left = 0;
	for (int s = 0; s < tp__cl.nslots; s++) {
		struct pend *p;
		while ((p = br.ph[s]) != NULL) {
			if (p->gen == gen &&
			    nng_sendmsg(br.s[s], p->m, NNG_FLAG_NONBLOCK) !=
			        0) {
				left = 1;
				break;
			}
			if (p->gen != gen)
				nng_msg_free(p->m);
			br.ph[s] = p->next;
			if (br.ph[s] == NULL)
				br.pt[s] = NULL;
			free(p);
		}
	}
	return left;
}

/* Returns how many messages of traffic (not beats) came in. */
static int from_agents(void)
{
	int n = 0, flag = 1;
	double now = tp__cl_now();
	while (flag) {
		MPI_Message mm;
		MPI_Status st;
		MPI_Improbe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag,
		            &mm, &st);
		if (!flag)
			break;
		br.last[st.MPI_SOURCE] = now;
		from_agent(&mm, &st);
	}
	tp__cl_recv_done(&br.in, agent_msg, &n);
	return n;
}

static void heartbeat(double *sent)
{
	double now = tp__cl_now(), hb = tp__cl.hb_ms / 1000.0;
	if (now - *sent < hb)
		return;
	*sent = now;
	for (int r = 1; r < tp__cl.size; r++) {
		if (now - br.last[r] > 10 * hb)
			tp__cl_abort(
			    TP__CL_EXIT_LOST,
			    "rank %d on host %s sent nothing for %.1f s "
			    "(heartbeat every %d ms): the host or its "
			    "link is down",
			    r, tp__cl.host[r], now - br.last[r], tp__cl.hb_ms);
		tp__cl_send(&br.out, r, TP__CL_TAG_HB, NULL, NULL, 0);
	}
}

static void *bridge_loop(void *arg)
{
	double hb_sent = 0;
	long ns = 0;
	(void)arg;
	while (!atomic_load(&br.stop)) {
		int busy = 0, stuck;
		send_open();
		tp__cl_wait_for(&br.wait, br.fds, 2 * tp__cl.nslots, ns);
		for (int s = 0; s < tp__cl.nslots; s++)
			if (br.fds[s].revents & POLLIN)
				busy += from_slot(s);
		for (int s = 0; s < tp__cl.nslots; s++)
			if (br.fds[tp__cl.nslots + s].revents != 0 ||
			    br.fast[s].nheld > 0)
				busy += from_fast(s);
		busy += from_agents();
		stuck = deliver();
		tp__cl_progress(&br.out);
		heartbeat(&hb_sent);
		ns = tp__cl_wait_next(&br.wait, busy, br.in.n + br.out.n > 0);
		/* a stand-in that could not take its results is tried again
		 * within a millisecond */
		if (stuck && ns > 1000000L)
			ns = 1000000L;
	}
	for (int r = 1; r < tp__cl.size; r++)
		tp__cl_send(&br.out, r, TP__CL_TAG_STOP, NULL, NULL, 0);
	tp__cl_flush(&br.out);
	tp__cl_recv_flush(&br.in);
	return NULL;
}

/* The stand-in of slot s connects (before it can send: its pipe is
 * known before any batch of it) or goes. */
static void pipe_event(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	int s = (int)(intptr_t)arg;
	if (ev == NNG_PIPE_EV_ADD_PRE)
		atomic_store(&br.pipe[s], p.id);
	else
		atomic_store(&br.pipe[s], 0);
}

static int slot_listen(int s)
{
	char addr[300];
	int rv, fd;
	if ((rv = tp__cl_bridge_addr(s, addr, sizeof(addr))) != TP_OK)
		return rv;
	if ((rv = nng_pair1_open(&br.s[s])) != 0)
		return tp_err_nng(rv);
	nng_socket_set_size(br.s[s], NNG_OPT_RECVMAXSZ, 0);
	nng_socket_set_int(br.s[s], NNG_OPT_RECVBUF, 256);
	nng_socket_set_int(br.s[s], NNG_OPT_SENDBUF, 256);
	if ((rv = nng_pipe_notify(br.s[s], NNG_PIPE_EV_ADD_PRE, pipe_event,
	                          (void *)(intptr_t)s)) != 0 ||
	    (rv = nng_pipe_notify(br.s[s], NNG_PIPE_EV_REM_POST, pipe_event,
	                          (void *)(intptr_t)s)) != 0 ||
	    (rv = nng_listen(br.s[s], addr, NULL, 0)) != 0 ||
	    (rv = nng_socket_get_int(br.s[s], NNG_OPT_RECVFD, &fd)) != 0)
		return tp_err_nng(rv);
	br.fds[s].fd = fd;
	br.fds[s].events = POLLIN;
	return TP_OK;
}

int tp__cl_bridge_start(void)
{
	int n = tp__cl.nslots, rv;
	double now = tp__cl_now();
	br.s = calloc((size_t)n + 1, sizeof(*br.s));
	br.fds = calloc(2 * (size_t)n + 1, sizeof(*br.fds));
	br.last = calloc((size_t)tp__cl.size, sizeof(*br.last));
	br.ph = calloc((size_t)n + 1, sizeof(*br.ph));
	br.pt = calloc((size_t)n + 1, sizeof(*br.pt));
	br.rings = calloc((size_t)n + 1, sizeof(*br.rings));
	br.pipe = calloc((size_t)n + 1, sizeof(*br.pipe));
	br.fast = calloc((size_t)n + 1, sizeof(*br.fast));
	br.fbuf = malloc(TP__POOL_FAST_MAX);
	for (int s = 0; br.fast != NULL && br.fds != NULL && s < n; s++) {
		br.fast[s].fd = -1;
		br.fds[n + s].fd = -1;
	}
	if (br.s == NULL || br.fds == NULL || br.last == NULL ||
	    br.ph == NULL || br.pt == NULL || br.rings == NULL ||
	    br.pipe == NULL || br.fast == NULL || br.fbuf == NULL)
		return TP_ENOMEM;
	for (int r = 0; r < tp__cl.size; r++)
		br.last[r] = now;
	tp__nng_used();
	for (int s = 0; s < n; s++)
		if ((rv = slot_listen(s)) != TP_OK)
			return rv;
	/* the longest idle wait: half a beat, so beats go out in time, and
	 * at most TP__CL_WAIT_IDLE_NS, so work after a quiet spell waits
	 * little */
	if ((rv = tp__cl_wait_init(&br.wait, tp__cl.hb_ms * 1000000L,
	                           tp__cl.hb_ms * 500000L < TP__CL_WAIT_IDLE_NS
	                               ? tp__cl.hb_ms * 500000L
	                               : TP__CL_WAIT_IDLE_NS)) != TP_OK)
		return rv;
	if ((rv = tp__thread_start(&br.thr, bridge_loop, NULL)) != TP_OK)
		return rv;
	br.started = 1;
	return TP_OK;
}

void tp__cl_bridge_stop(void)
{
	if (br.started) {
		atomic_store(&br.stop, 1);
		tp__cl_wait_ring(&br.wait);
		pthread_join(br.thr, NULL);
		br.started = 0;
	}
	for (int s = 0; br.s != NULL && s < tp__cl.nslots; s++) {
		if (br.fds[s].fd > 0)
			nng_close(br.s[s]);
		while (br.ph != NULL && br.ph[s] != NULL) {
			struct pend *p = br.ph[s];
			br.ph[s] = p->next;
			nng_msg_free(p->m);
			free(p);
		}
		if (br.rings != NULL) /* every send is done (the loop's
		                         flush) */
			rings_prune(s, 1);
		if (br.fast != NULL && br.fds != NULL)
			fast_close(s);
	}
	tp__cl_wait_fini(&br.wait);
	free(br.s);
	free(br.fds);
	free(br.last);
	free(br.ph);
	free(br.pt);
	free(br.rings);
	free(br.pipe);
	free(br.fast);
	free(br.fbuf);
	br.rings = NULL;
	br.pipe = NULL;
	br.fast = NULL;
	br.fbuf = NULL;
	br.ph = br.pt = NULL;
	br.s = NULL;
	br.fds = NULL;
	br.last = NULL;
}
