/*
 * cluster_agent.c - a node agent: what every rank but 0 becomes in
 * tp_init. It owns an ordinary local pool and never returns.
 *
 * Each batch of tasks rank 0 sends for a slot becomes one local task per
 * task (tp__cl_run, the task travelling packed), so the local pool's
 * guarantees hold for remote work as they are: a worker that dies fails
 * its task with TP_EDIED (or retries it, per the pool's on_death), and is
 * replaced. Results are held and go back per slot in batches: at the
 * latest TP__CL_FLUSH_NS after the last batch went, at once when one
 * completes every task the slot has on this host (rank 0 may be waiting
 * for it) or when TP__CL_FLUSH_MAX are held; so a busy agent sends one
 * message and makes one round per few results, not one per result. The
 * agent beats every hb_ms to rank 0 (a beat is not traffic: it does not
 * shorten the idle wait) and exits when rank 0 is silent for ten beats,
 * or when rank 0 says Stop. Out of memory anywhere ends the job with a
 * message (tp__cl_abort), never a lost result and a hang.
 */
#include <malloc.h>
#include <mpi.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster_int.h"
#include "cluster_mpi.h"
#include "cluster_wait.h"
#include "cluster_wire.h"
#include "troupe/error.h"
#include "troupe/pool.h"
#include "varint.h"
#include "wire.h"

/* Results wait at most this long for the next batch to rank 0, and go at
 * once when this many are held. */
#define TP__CL_FLUSH_NS  2000000L
#define TP__CL_FLUSH_MAX 64

/* A result waiting to be sent: a packed PoolResult, in the same block. */
struct done {
	struct done *next;
	int tag;
	size_t len;
	uint8_t buf[];
};

/* One submitted task: where its result goes. */
struct ctx {
	int tag;
	uint64_t id;
};

static struct {
	pthread_mutex_t mu;
	struct done *head, *tail; /* under mu: results, oldest first */
	int held;                 /* under mu: how many */
	int left[TP__CL_SLOTS];   /* under mu: tasks queued, per slot */
	int nleft;                /* under mu: their sum */
	atomic_int oom;           /* a callback could not allocate */
	struct tp__cl_wait wait;
	tp_pool *pool; /* the local pool of rank 0's current MPI pool */
	int gen;       /* its generation */
	int workers;
	char where[96];
	struct tp__cl_out out;
	struct tp__cl_in in;
} ag = {.mu = PTHREAD_MUTEX_INITIALIZER, .wait = {.fd = -1}};

/* A block for a result of len bytes; NULL (and the loop told, which ends
 * the job) when there is no memory. */
static struct done *done_new(int tag, size_t len)
{
	struct done *d = malloc(sizeof(*d) + len + 1);
	if (d == NULL) {
		atomic_store(&ag.oom, 1);
		tp__cl_wait_ring(&ag.wait);
		return NULL;
	}
	d->next = NULL;
	d->tag = tag;
	d->len = len;
	return d;
}

/* A result is in (the local pool's thread); d NULL: none could be made.
 * The loop is woken only when the result must go at once. */
static void push(int tag, struct done *d)
{
	int slot = tag % TP__CL_SLOTS, ring;
	pthread_mutex_lock(&ag.mu);
	if (d != NULL) {
		if (ag.tail != NULL)
			ag.tail->next = d;
		else
			ag.head = d;
		ag.tail = d;
		ag.held++;
	}
	ag.left[slot]--;
	ag.nleft--;
	ring = ag.left[slot] <= 0 || ag.held >= TP__CL_FLUSH_MAX;
	pthread_mutex_unlock(&ag.mu);
	if (ring)
		tp__cl_wait_ring(&ag.wait);
}

static int on_ok(const tp_payload *v, void *arg)
{
	struct ctx *c = arg;
	const void *b;
	size_t len;
	if (tp_payload_get_bytes(v, 0, &b, &len) != TP_OK)
		len = 0;
	struct done *d = done_new(c->tag, len);
	if (d != NULL && len > 0)
		memcpy(d->buf, b, len);
	push(c->tag, d);
	free(c);
	return 0;
}

/* The local pool failed the task (its worker died, ...): so does rank 0's
 * pool, with the same code. */
static int on_err(const tp_pool_error *e, void *arg)
{
	struct ctx *c = arg;
	Troupe__PoolResult r = TROUPE__POOL_RESULT__INIT;
	Troupe__Error er = TROUPE__ERROR__INIT;
	char o[512];
	snprintf(o, sizeof(o), "%s: %s", ag.where,
	         e->origin ? e->origin : "pool");
	r.id = c->id;
	/* rank 0's pool reads a negative code as what get returns */
	er.code = -(e->rv != TP_EREMOTE && e->rv > 0 ? e->rv
	            : e->code > 0                    ? e->code
	                                             : TP_EREMOTE);
	er.origin = o;
	er.message = (char *)(e->message ? e->message : "");
	r.error = &er;
	size_t n = troupe__pool_result__get_packed_size(&r);
	struct done *d = done_new(c->tag, n);
	if (d != NULL)
		troupe__pool_result__pack(&r, d->buf);
	push(c->tag, d);
	free(c);
	return 0;
}

/* Queues one task (buf[len]: a packed PoolTask, id its id) on the local
 * pool, as it came: the agent neither unpacks nor repacks it. */
static void submit(int tag, uint64_t id, const uint8_t *buf, size_t len)
{
	struct ctx *c = malloc(sizeof(*c));
	tp_payload *a = NULL;
	int rv;
	if (c == NULL)
		tp__cl_abort(1, "out of memory queuing a task");
	c->tag = tag;
	c->id = id;
	pthread_mutex_lock(&ag.mu);
	ag.left[tag % TP__CL_SLOTS]++;
	ag.nleft++;
	pthread_mutex_unlock(&ag.mu);
	if ((rv = tp_payload_new(&a)) == TP_OK &&
	    (rv = tp_payload_add_bytes(a, buf, len)) == TP_OK &&
	    (rv = tp_payload_add_string(a, ag.where)) == TP_OK)
		rv = tp_pool_apply_async(ag.pool, tp__cl_run, a, on_ok, on_err,
		                         c, NULL);
	tp_payload_free(a);
	if (rv == TP_ENOMEM)
		tp__cl_abort(1, "out of memory queuing a task");
	if (rv != TP_OK) {
		tp_pool_error e = {.code = rv,
		                   .origin = ag.where,
		                   .message =
		                       "the agent could not queue the task",
		                   .rv = rv};
		on_err(&e, c);
	}
}

/* Reads one field's key at *p and steps over its value, giving a
 * length-delimited value's place; 0 when the bytes are malformed. */
static int field(const uint8_t **p, const uint8_t *end, uint32_t *num,
                 uint64_t *v, const uint8_t **val, size_t *len)
{
	uint64_t key = 0;
	*val = NULL;
	*len = 0;
	if (!tp__varint_get(p, end, &key))
		return 0;
	*num = (uint32_t)(key >> 3);
	switch (key & 7) {
	case 0:
		return tp__varint_get(p, end, v);
	case 1:
	case 5: {
		size_t n = (key & 7) == 1 ? 8 : 4;
		if ((size_t)(end - *p) < n)
			return 0;
		*p += n;
		return 1;
	}
	case 2:
		if (!tp__varint_get(p, end, v) || *v > (uint64_t)(end - *p))
			return 0;
		*val = *p;
		*len = (size_t)*v;
		*p += *len;
		return 1;
	default:
		return 0;
	}
}

/* The id (field 1) of a packed PoolTask; 0 when it has none. */
static uint64_t task_id(const uint8_t *p, size_t n)
{
	const uint8_t *end = p + n, *val;
	uint32_t num;
	uint64_t v = 0;
	size_t len;
	while (p < end && field(&p, end, &num, &v, &val, &len))
		if (num == 1 && val == NULL)
			return v;
	return 0;
}

/* Queues each task of a packed Envelope{pool_tasks} (field 80, a
 * PoolTasks whose field 1 repeats each PoolTask), walking the bytes:
 * every task goes on as the slice of buf it is. Returns 0 when the bytes
 * are malformed (what was queued before stays queued). */
static int submit_batch(int tag, const uint8_t *buf, size_t n)
{
	const uint8_t *p = buf, *end = buf + n, *val;
	uint32_t num;
	uint64_t v;
	size_t len;
	while (p < end) {
		if (!field(&p, end, &num, &v, &val, &len))
			return 0;
		if (num != 80 || val == NULL)
			continue;
		const uint8_t *q = val, *qend = val + len, *t;
		size_t tlen;
		while (q < qend) {
			if (!field(&q, qend, &num, &v, &t, &tlen))
				return 0;
			if (num == 1 && t != NULL)
				submit(tag, task_id(t, tlen), t, tlen);
		}
	}
	return 1;
}

/* Rank 0 made a new MPI pool: a new local pool with its options (the old
 * one's late results carry the old generation; rank 0 drops them). */
static void open_pool(const uint8_t *bytes, int count)
{
	tp_pool_opts o = {0};
	int32_t cfg[CL_OPEN_N];
	int rv;
	if (count < (int)(CL_OPEN_N * sizeof(int32_t)))
		return;
	tp__cl_le32s_get(cfg, bytes, CL_OPEN_N);
	if (ag.pool != NULL) {
		tp_pool_terminate(ag.pool);
		tp_pool_free(ag.pool);
		ag.pool = NULL;
	}
	/* the old pool's results (if any are held) go, and are dropped by
	 * rank 0; none of its tasks is left */
	pthread_mutex_lock(&ag.mu);
	memset(ag.left, 0, sizeof(ag.left));
	ag.nleft = 0;
	pthread_mutex_unlock(&ag.mu);
	o.processes = ag.workers;
	o.name = "AgentWorker";
	o.on_death = (tp_pool_on_death)cfg[CL_OPEN_ON_DEATH];
	o.max_retries = cfg[CL_OPEN_RETRIES];
	o.maxtasksperchild = cfg[CL_OPEN_MAXTASKS];
	o.task_timeout_ms = cfg[CL_OPEN_TIMEOUT];
	ag.gen = cfg[CL_OPEN_GEN];
	if ((rv = tp_pool_new_opts(&ag.pool, &o)) != TP_OK)
		tp__cl_abort(1, "the agent's pool did not start: %s",
		             tp_strerror(rv));
}

/* A message from rank 0 is in; returns 1 on Stop. *arg counts the
 * messages that are traffic (not beats). */
static int from_root(struct tp__cl_rx *x, void *arg)
{
	const uint8_t *buf = x->buf;
	if (x->tag != TP__CL_TAG_HB)
		(*(int *)arg)++;
	if (x->tag == TP__CL_TAG_STOP) {
		free(x->buf);
		return 1;
	}
	if (x->tag == TP__CL_TAG_OPEN)
		open_pool(buf, x->count);
	else if (x->tag < TP__CL_TAG_HB && ag.pool != NULL &&
	         x->tag / TP__CL_SLOTS == ag.gen && x->count > 0) {
		/* Only a bug or a corrupted link makes one: its tasks
		 * would never be answered, so the job ends instead. */
		if (!submit_batch(x->tag, buf, (size_t)x->count))
			tp__cl_abort(1,
			             "a malformed batch of tasks from rank "
			             "0 (%d bytes)",
			             x->count);
	}
	free(x->buf);
	return 0;
}

static size_t varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	do {
		p[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v != 0);
	return n;
}

/* Sends the results of one tag as one Envelope{pool_results}, written by
 * hand around the packed results (field 81, then field 1 per result). */
static void send_results(int tag, struct done **list)
{
	size_t inner = 0, k = 0;
	uint8_t tmp[10];
	for (struct done *d = *list; d != NULL; d = d->next)
		if (d->tag == tag)
			inner += 1 + varint(tmp, d->len) + d->len;
	uint8_t *msg = malloc(inner + 16);
	if (msg == NULL)
		tp__cl_abort(1, "out of memory sending results");
	k += varint(msg + k, (81u << 3) | 2);
	k += varint(msg + k, inner);
	for (struct done **pp = list; *pp != NULL;) {
		struct done *d = *pp;
		if (d->tag != tag) {
			pp = &d->next;
			continue;
		}
		msg[k++] = (1u << 3) | 2;
		k += varint(msg + k, d->len);
		if (d->len > 0)
			memcpy(msg + k, d->buf, d->len);
		k += d->len;
		*pp = d->next;
		free(d);
	}
	if (tp__cl_send(&ag.out, 0, tag, NULL, msg, k) != TP_OK) {
		free(msg);
		tp__cl_abort(1, "out of memory sending results");
	}
}

/* Sends every held result, one message per slot. */
static void send_done(void)
{
	struct done *list;
	pthread_mutex_lock(&ag.mu);
	list = ag.head;
	ag.head = ag.tail = NULL;
	ag.held = 0;
	pthread_mutex_unlock(&ag.mu);
	while (list != NULL)
		send_results(list->tag, &list);
}

/* One round: what rank 0 sent, then results when they are due (rung, or
 * the flush time came), the beat. Returns how many messages of traffic
 * came, or -1 on Stop; *due the time of the next flush. */
static int agent_round(int rung, double *last0, double *hb_sent, double *due)
{
	int busy = 0, flag = 1;
	double now = tp__cl_now(), hb = tp__cl.hb_ms / 1000.0;
	if (atomic_load(&ag.oom))
		tp__cl_abort(1, "out of memory holding a result");
	while (flag) {
		MPI_Message mm;
		MPI_Status st;
		MPI_Improbe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &mm, &st);
		if (!flag)
			break;
		*last0 = now;
		if (tp__cl_recv(&ag.in, &mm, &st, NULL) != TP_OK)
			tp__cl_abort(1, "out of memory receiving from rank 0");
	}
	if (tp__cl_recv_done(&ag.in, from_root, &busy) < 0)
		return -1;
	if (rung || now >= *due) {
		send_done();
		*due = now + TP__CL_FLUSH_NS * 1e-9;
	}
	tp__cl_progress(&ag.out);
	if (now - *hb_sent >= hb) {
		*hb_sent = now;
		tp__cl_send(&ag.out, 0, TP__CL_TAG_HB, NULL, NULL, 0);
	}
	if (now - *last0 > 10 * hb) {
		fprintf(stderr,
		        "troupe: cluster: rank %d on %s: rank 0 on %s sent "
		        "nothing for %.1f s (heartbeat every %d ms): ending "
		        "this agent (exit code %d)\n",
		        tp__cl.rank, tp__cl.host[tp__cl.rank], tp__cl.host[0],
		        now - *last0, tp__cl.hb_ms, TP__CL_EXIT_LOST);
		/* No MPI_Abort: the way to rank 0 is what failed. The
		 * local workers die with this process. */
		_exit(TP__CL_EXIT_LOST);
	}
	return busy;
}

/* Batches and results of a few hundred KiB each pass through an agent
 * all the time (MPI's buffers, its local pool's messages, held results).
 * glibc maps a block over 128 KiB on its own and gives a free heap top
 * back past 128 KiB, so each was written into fresh pages: a fault and a
 * clear per 4 KiB, more than the copy itself. The agent runs no user code
 * (its workers are forked from the fork server): it keeps up to 64 MiB of
 * freed memory for the next ones, as a pool worker does. */
void tp__cl_keep_freed_memory(void)
{
	(void)mallopt(M_MMAP_THRESHOLD, 4 << 20);
	(void)mallopt(M_TRIM_THRESHOLD, 64 << 20);
}

void tp__cluster_agent(int workers)
{
	struct pollfd pfd[1];
	double last0 = tp__cl_now(), hb_sent = 0, due = 0;
	long ns = 0;
	int rv, rung = 0;
	snprintf(ag.where, sizeof(ag.where), "host %s rank %d",
	         tp__cl.host[tp__cl.rank], tp__cl.rank);
	ag.workers = workers;
	ag.gen = -1;
	tp__cl_keep_freed_memory();
	/* the longest idle wait: half a beat, so beats go out in time, and
	 * at most TP__CL_WAIT_IDLE_NS, so work after a quiet spell waits
	 * little */
	if ((rv = tp__cl_wait_init(&ag.wait, tp__cl.hb_ms * 1000000L,
	                           tp__cl.hb_ms * 500000L < TP__CL_WAIT_IDLE_NS
	                               ? tp__cl.hb_ms * 500000L
	                               : TP__CL_WAIT_IDLE_NS)) != TP_OK)
		tp__cl_abort(1, "no eventfd: %s", tp_strerror(rv));
	for (;;) {
		rung = tp__cl_wait_for(&ag.wait, pfd, 0, ns);
		int busy = agent_round(rung, &last0, &hb_sent, &due);
		if (busy < 0)
			break;
		int moving = ag.in.n + ag.out.n > 0;
		ns = tp__cl_wait_next(&ag.wait, busy, moving);
		/* While tasks run here, most results come without a ring:
		 * the loop wakes for the flush and no sooner (the local pool
		 * has work in hand; rank 0's next tasks are taken then), but
		 * for a message still moving. */
		pthread_mutex_lock(&ag.mu);
		int waiting = ag.nleft > 0 || ag.held > 0;
		pthread_mutex_unlock(&ag.mu);
		if (waiting) {
			double left = due - tp__cl_now();
			long f = left > 0 ? (long)(left * 1e9) : 0;
			if (!moving || ns > f)
				ns = f;
		}
	}
	if (ag.pool != NULL) {
		tp_pool_terminate(ag.pool);
		tp_pool_free(ag.pool);
	}
	tp__cl_flush(&ag.out);
	tp__cl_recv_flush(&ag.in);
	tp__cl_wait_fini(&ag.wait);
}
