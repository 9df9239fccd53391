/*
 * pool_ring.c - a worker run's batch ring: a shared-memory file that the
 * pool and the run both map, with RING_SLOTS slots of RING_SLOT
 * bytes. A large batch is written into a free slot instead of a fresh
 * nng message, and the message carries only where it is
 * (Envelope{pool_tasks_ring}); the worker reads the batch in place and
 * frees the slot when the last value borrowed from it goes.
 *
 * The file is a POSIX shared-memory segment of the run (rt/shm.h: on
 * tmpfs, unlinked at tp_fini or by the next run if this one dies), made
 * sparse; a slot's memory is reserved (fallocate) as far as a batch
 * needs it before the batch is written, so a full /dev/shm sends the
 * batch in its message instead of raising SIGBUS at the write, and a
 * ring holds (and clears) only as much memory as its batches used.
 *
 * Why: a message of a few hundred KiB is fresh memory at every send
 * (nng allocates it zeroed, glibc returns it to the system when it is
 * freed) on both sides, and the kernel copies it twice; a slot's pages
 * stay mapped and warm from one batch to the next, so a batch costs one
 * copy of its bytes (docs/performance.md, "Pool batches through a ring").
 *
 * The header holds one flag per slot: the pool sets it (acquire of a free
 * slot, then the bytes, then the message: nng's send orders them), the
 * worker clears it (release) when the batch's blob is released (the MPI
 * bridge, which passes a batch on from its slot: once it is sent).
 *
 * The second half of the slots carries results the other way, once the
 * worker knows the ring (from its first batch in it): the worker reserves
 * and takes a result slot, writes an Envelope{pool_results} there and
 * sends only where it is (Envelope{pool_results_ring}); the pool copies
 * the bytes out at once (its results outlive the slot) and frees the
 * slot, so a batch of results costs two copies in memory that stays
 * warm, not a fresh message on each side and the kernel's two copies. A run's
 * ring goes with the run: a new run gets a new file, so nothing a dead
 * run held is ever waited for. The worker maps its ring until it exits
 * (values it still holds may point into it).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "payload_int.h"
#include "pool_int.h"
#include "shm.h"
#include "troupe/error.h"

#define RING_SLOTS  16 /* 0..7 tasks (the pool writes), 8..15 results */
#define RING_TSLOTS 8
#define RING_SLOT   ((size_t)1 << 20)
#define RING_HEAD   ((size_t)4096)
#define RING_STEP   ((size_t)64 << 10) /* slots are reserved in these */
#define RING_SIZE   (RING_HEAD + RING_SLOTS * RING_SLOT)

struct ring_head {
	uint32_t magic, slots;
	uint64_t slot_bytes;
	_Atomic uint32_t busy[RING_SLOTS];
};

#define RING_MAGIC 0x74707267u /* "tprg" */

struct tp__pool_ring {
	char name[TP_SHM_NAME_MAX];
	unsigned char *map;
	int fd;                       /* for reserving slots */
	size_t reserved[RING_TSLOTS]; /* bytes of each slot reserved so far */
	size_t seen[RING_TSLOTS];     /* of each result slot, mapped so far */
	int full;                     /* a reservation failed: none grows */
	struct out_chunk *out;        /* where results are copied out to */
};

/*
 * Results copied out of their slots go into chunks of OUT_CHUNK bytes:
 * the results of a large map are tens of MB of fresh memory, whose faults
 * a waiting caller takes ahead of the pool's thread (spare chunks,
 * below). A chunk is freed (or kept as a spare) when the last value
 * copied into it goes (and the ring has moved on).
 */
#define OUT_CHUNK TP__POOL_OUT_CHUNK
struct out_chunk {
	atomic_size_t refs; /* one per batch in it, one for the ring's use */
	size_t used;
	unsigned char *base;
};

/*
 * Spare chunks: mapped and already faulted in, for the next chunk_new. A
 * caller waiting for a map makes them while the workers run (pool_job.c,
 * job_prefault), so the pool's thread copies results into memory whose
 * pages exist instead of faulting each one in (and zeroing it) itself;
 * a chunk whose values are all gone comes back here while fewer than
 * SPARES_KEEP wait. At most SPARES_MAX; tp__pool_out_spares_trim gives
 * back what a map left over.
 */
#define SPARES_MAX  TP__POOL_SPARES_MAX
#define SPARES_KEEP 2
static struct {
	pthread_mutex_t mu;
	unsigned char *base[SPARES_MAX];
	int n;
} spares = {.mu = PTHREAD_MUTEX_INITIALIZER};

static unsigned char *spare_pop(void)
{
	unsigned char *b = NULL;
	pthread_mutex_lock(&spares.mu);
	if (spares.n > 0)
		b = spares.base[--spares.n];
	pthread_mutex_unlock(&spares.mu);
	return b;
}

/* Keeps b as a spare when fewer than limit wait; 0 if it was not kept. */
static int spare_push(unsigned char *b, int limit)
{
	int kept = 0;
	pthread_mutex_lock(&spares.mu);
	if (spares.n < limit) {
		spares.base[spares.n++] = b;
		kept = 1;
	}
	pthread_mutex_unlock(&spares.mu);
	return kept;
}

static void chunk_unref(void *arg)
{
	struct out_chunk *c = arg;
	if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (!spare_push(c->base, SPARES_KEEP))
		munmap(c->base, OUT_CHUNK);
	free(c);
}

/* A fresh OUT_CHUNK (small pages: see tp__big_alloc in payload.c). */
static unsigned char *chunk_map(void)
{
	void *p = mmap(NULL, OUT_CHUNK, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static struct out_chunk *chunk_new(void)
{
	struct out_chunk *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	if ((c->base = spare_pop()) == NULL &&
	    (c->base = chunk_map()) == NULL) {
		free(c);
		return NULL;
	}
	atomic_init(&c->refs, 1);
	return c;
}

int tp__pool_out_spare_make(void)
{
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif
	pthread_mutex_lock(&spares.mu);
	int full = spares.n >= SPARES_MAX;
	pthread_mutex_unlock(&spares.mu);
	unsigned char *b = full ? NULL : chunk_map();
	if (b == NULL)
		return 0;
	if (madvise(b, OUT_CHUNK, MADV_POPULATE_WRITE) != 0 ||
	    !spare_push(b, SPARES_MAX)) {
		munmap(b, OUT_CHUNK);
		return 0;
	}
	return 1;
}

int tp__pool_out_spares(void)
{
	pthread_mutex_lock(&spares.mu);
	int n = spares.n;
	pthread_mutex_unlock(&spares.mu);
	return n;
}

void tp__pool_out_spares_trim(void)
{
	unsigned char *b;
	for (;;) {
		pthread_mutex_lock(&spares.mu);
		b = spares.n > SPARES_KEEP ? spares.base[--spares.n] : NULL;
		pthread_mutex_unlock(&spares.mu);
		if (b == NULL)
			return;
		munmap(b, OUT_CHUNK);
	}
}

/* Room for len (at most OUT_CHUNK) bytes; *chunk gets a reference. */
static unsigned char *out_take(struct tp__pool_ring *r, size_t len,
                               struct out_chunk **chunk)
{
	len = (len + 63) & ~(size_t)63;
	if (r->out != NULL && OUT_CHUNK - r->out->used < len) {
		chunk_unref(r->out);
		r->out = NULL;
	}
	if (r->out == NULL && (r->out = chunk_new()) == NULL)
		return NULL;
	unsigned char *p = r->out->base + r->out->used;
	r->out->used += len;
	atomic_fetch_add_explicit(&r->out->refs, 1, memory_order_relaxed);
	*chunk = r->out;
	return p;
}

int tp__pool_ring_new(struct tp__pool_ring **out)
{
	struct tp__pool_ring *r = calloc(1, sizeof(*r));
	void *p;
	int rv;
	if (r == NULL)
		return TP_ENOMEM;
	if ((rv = tp__shm_create(RING_SIZE, r->name, &p)) != TP_OK) {
		free(r);
		return rv;
	}
	r->map = p;
	r->fd = shm_open(r->name, O_RDWR | O_CLOEXEC, 0600);
	if (r->fd < 0 || posix_fallocate(r->fd, 0, (off_t)RING_HEAD) != 0) {
		rv = r->fd < 0 ? tp_err_errno(errno) : tp_err_errno(ENOSPC);
		tp__pool_ring_free(r);
		return rv;
	}
	struct ring_head *h = p;
	h->magic = RING_MAGIC;
	h->slots = RING_SLOTS;
	h->slot_bytes = RING_SLOT;
	*out = r;
	return TP_OK;
}

void tp__pool_ring_free(struct tp__pool_ring *r)
{
	if (r == NULL)
		return;
	if (r->fd >= 0)
		close(r->fd);
	if (r->out != NULL)
		chunk_unref(r->out);
	tp__shm_detach(r->map, RING_SIZE);
	tp__shm_unlink(r->name);
	free(r);
}

const char *tp__pool_ring_path(const struct tp__pool_ring *r)
{
	return r->name;
}

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* Linux 5.14 */
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* Maps [from, to) of slot i of the ring at map in this process in one
 * call, instead of a fault per page at first touch (each costs several
 * microseconds on a virtual machine): what a side writes (write) or reads
 * of a slot for the first time. Advice: an older kernel refuses it, and
 * the pages then fault in as they are touched. */
static void slot_map(unsigned char *map, unsigned i, size_t from, size_t to,
                     int write)
{
	if (to > from)
		(void)madvise(map + RING_HEAD + (size_t)i * RING_SLOT + from,
		              to - from,
		              write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ);
}

/* Rounds len up to whole steps of RING_STEP. */
static size_t slot_steps(size_t len)
{
	return (len + RING_STEP - 1) / RING_STEP * RING_STEP;
}

/* Reserves slot i's first len bytes (in steps of RING_STEP) of the ring
 * open at fd and mapped at map, *have of them reserved so far, and maps
 * what it reserved; 0 when /dev/shm is full. */
static int slot_reserve(int fd, unsigned char *map, unsigned i, size_t len,
                        size_t *have)
{
	size_t need = slot_steps(len);
	if (*have >= need)
		return 1;
	off_t off = (off_t)(RING_HEAD + (size_t)i * RING_SLOT + *have);
	if (posix_fallocate(fd, off, (off_t)(need - *have)) != 0)
		return 0;
	slot_map(map, i, *have, need, 1);
	*have = need;
	return 1;
}

/* The reading side: maps what it has not read of slot i yet. */
static void slot_seen(unsigned char *map, unsigned i, size_t len, size_t *seen)
{
	size_t need = slot_steps(len);
	if (*seen < need) {
		slot_map(map, i, *seen, need, 0);
		*seen = need;
	}
}

unsigned char *tp__pool_ring_take(struct tp__pool_ring *r, size_t len,
                                  uint32_t *slot)
{
	struct ring_head *h = (struct ring_head *)r->map;
	if (len > RING_SLOT)
		return NULL;
	/* the lowest free slot: the pages of the first slots stay warm (a
	 * batch written to a slot it had not used costs a page fault per 4
	 * KiB, in the writer and in each reader), and the ring holds only
	 * as many slots' memory as batches were in flight at once */
	for (unsigned i = 0; i < RING_TSLOTS; i++) {
		if (atomic_load_explicit(&h->busy[i], memory_order_acquire) !=
		    0)
			continue;
		/* reserve what this batch needs, in steps of RING_STEP */
		if (r->full ||
		    !slot_reserve(r->fd, r->map, i, len, &r->reserved[i])) {
			r->full = 1; /* /dev/shm is full */
			continue;
		}
		atomic_store_explicit(&h->busy[i], 1, memory_order_relaxed);
		*slot = i;
		return r->map + RING_HEAD + (size_t)i * RING_SLOT;
	}
	return NULL;
}

void tp__pool_ring_put_back(struct tp__pool_ring *r, uint32_t slot)
{
	struct ring_head *h = (struct ring_head *)r->map;
	atomic_store_explicit(&h->busy[slot], 0, memory_order_release);
}

int tp__pool_ring_results(struct tp__pool_ring *r, const char *path,
                          uint32_t slot, uint64_t len, struct tp__pool_in *in)
{
	struct ring_head *h;
	unsigned char *buf;
	memset(in, 0, sizeof(*in));
	if (r == NULL || path == NULL || strcmp(path, r->name) != 0 ||
	    slot < RING_TSLOTS || slot >= RING_SLOTS || len == 0 ||
	    len > RING_SLOT)
		return TP_EDECODE; /* not this run's ring, or out of range */
	h = (struct ring_head *)r->map;
	if (atomic_load_explicit(&h->busy[slot], memory_order_acquire) == 0)
		return TP_EDECODE; /* a slot the worker did not fill */
	/* copied out first: the values outlive the slot, and what is read
	 * is what was copied, whatever the worker writes there later */
	struct out_chunk *c = NULL;
	slot_seen(r->map, slot, (size_t)len, &r->seen[slot - RING_TSLOTS]);
	buf = out_take(r, (size_t)len, &c);
	if (buf != NULL)
		memcpy(buf, r->map + RING_HEAD + (size_t)slot * RING_SLOT,
		       (size_t)len);
	atomic_store_explicit(&h->busy[slot], 0, memory_order_release);
	if (buf == NULL)
		return TP_ENOMEM;
	return tp__pool_results_read_mem(buf, (size_t)len, chunk_unref, c, in);
}

/* Worker side. */

static void slot_release(void *flag)
{
	atomic_store_explicit((_Atomic uint32_t *)flag, 0,
	                      memory_order_release);
}

/* Maps the ring named path into w (once: a run has one ring) and checks
 * slot and len. */
static int wring_map(struct tp__pool_wring *w, const char *path, uint32_t slot,
                     uint64_t len)
{
	if (path == NULL || path[0] == '\0' || strlen(path) >= sizeof(w->path))
		return TP_EDECODE;
	if (w->map != NULL && strcmp(w->path, path) != 0)
		return TP_EDECODE; /* a run has one ring */
	if (w->map == NULL) {
		void *p;
		size_t size;
		int rv = tp__shm_attach(path, &p, &size);
		if (rv == TP_EINVAL)
			return TP_EDECODE; /* not a segment's name */
		if (rv != TP_OK)
			return rv;
		const struct ring_head *h = p;
		if (size != RING_SIZE || h->magic != RING_MAGIC ||
		    h->slots != RING_SLOTS || h->slot_bytes != RING_SLOT) {
			tp__shm_detach(p, size);
			return TP_EDECODE;
		}
		w->map = p;
		w->size = size;
		strcpy(w->path, path);
		/* for reserving result slots; without it results go in
		 * messages */
		w->fd = shm_open(path, O_RDWR | O_CLOEXEC, 0600);
	}
	if (slot >= RING_TSLOTS || len == 0 || len > RING_SLOT)
		return TP_EDECODE;
	slot_seen(w->map, slot, (size_t)len, &w->seen[slot]);
	return TP_OK;
}

int tp__pool_wring_read(struct tp__pool_wring *w, const char *path,
                        uint32_t slot, uint64_t len, struct tp__pool_in *in)
{
	memset(in, 0, sizeof(*in));
	int rv = wring_map(w, path, slot, len);
	if (rv != TP_OK)
		return rv;
	struct ring_head *h = (struct ring_head *)w->map;
	return tp__pool_tasks_read_mem(
	    w->map + RING_HEAD + (size_t)slot * RING_SLOT, (size_t)len,
	    slot_release, (void *)&h->busy[slot], in);
}

unsigned char *tp__pool_wring_take(struct tp__pool_wring *w, size_t len,
                                   uint32_t *slot)
{
	struct ring_head *h = (struct ring_head *)w->map;
	if (h == NULL || w->fd < 0 || w->full || len > RING_SLOT)
		return NULL;
	for (unsigned j = 0; j < RING_SLOTS - RING_TSLOTS; j++) { /* lowest */
		unsigned i = RING_TSLOTS + j;
		if (atomic_load_explicit(&h->busy[i], memory_order_acquire) !=
		    0)
			continue; /* the pool has not copied it out yet */
		if (!slot_reserve(w->fd, w->map, i, len, &w->reserved[j])) {
			w->full = 1; /* /dev/shm is full: messages from now */
			return NULL;
		}
		*slot = i;
		return w->map + RING_HEAD + (size_t)i * RING_SLOT;
	}
	return NULL;
}

void tp__pool_wring_mark(struct tp__pool_wring *w, uint32_t slot, int full)
{
	struct ring_head *h = (struct ring_head *)w->map;
	atomic_store_explicit(&h->busy[slot], full ? 1u : 0u,
	                      memory_order_release);
}

int tp__pool_wring_bytes(struct tp__pool_wring *w, const char *path,
                         uint32_t slot, uint64_t len, const unsigned char **out)
{
	int rv = wring_map(w, path, slot, len);
	if (rv != TP_OK)
		return rv;
	*out = w->map + RING_HEAD + (size_t)slot * RING_SLOT;
	return TP_OK;
}

void tp__pool_wring_free(struct tp__pool_wring *w, uint32_t slot)
{
	struct ring_head *h = (struct ring_head *)w->map;
	if (h != NULL && slot < RING_TSLOTS)
		slot_release((void *)&h->busy[slot]);
}

void tp__pool_wring_close(struct tp__pool_wring *w)
{
	if (w->map != NULL) {
		tp__shm_detach(w->map, w->size);
		if (w->fd >= 0)
			close(w->fd);
	}
	memset(w, 0, sizeof(*w));
}
