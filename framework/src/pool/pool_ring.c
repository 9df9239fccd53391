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
 * bridge, which passes a batch on from its slot: once it is sent). A run's
 * ring goes with the run: a new run gets a new file, so nothing a dead
 * run held is ever waited for. The worker maps its ring until it exits
 * (values it still holds may point into it).
 */
#include <errno.h>
#include <fcntl.h>
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

#define RING_SLOTS 8
#define RING_SLOT  ((size_t)1 << 20)
#define RING_HEAD  ((size_t)4096)
#define RING_STEP  ((size_t)64 << 10) /* slots are reserved in these */
#define RING_SIZE  (RING_HEAD + RING_SLOTS * RING_SLOT)

struct ring_head {
	uint32_t magic, slots;
	uint64_t slot_bytes;
	_Atomic uint32_t busy[RING_SLOTS];
};

#define RING_MAGIC 0x74707267u /* "tprg" */

struct tp__pool_ring {
	char name[TP_SHM_NAME_MAX];
	unsigned char *map;
	int fd;                      /* for reserving slots */
	size_t reserved[RING_SLOTS]; /* bytes of each slot reserved so far */
	int full;                    /* a reservation failed: none grows */
};

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
	tp__shm_detach(r->map, RING_SIZE);
	tp__shm_unlink(r->name);
	free(r);
}

const char *tp__pool_ring_path(const struct tp__pool_ring *r)
{
	return r->name;
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
	for (unsigned i = 0; i < RING_SLOTS; i++) {
		if (atomic_load_explicit(&h->busy[i], memory_order_acquire) !=
		    0)
			continue;
		/* reserve what this batch needs, in steps of RING_STEP */
		size_t need = (len + RING_STEP - 1) / RING_STEP * RING_STEP;
		if (r->reserved[i] < need) {
			off_t off = (off_t)(RING_HEAD + (size_t)i * RING_SLOT +
			                    r->reserved[i]);
			if (r->full ||
			    posix_fallocate(r->fd, off,
			                    (off_t)(need - r->reserved[i])) !=
			        0) {
				r->full = 1; /* /dev/shm is full */
				continue;
			}
			r->reserved[i] = need;
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
	}
	if (slot >= RING_SLOTS || len == 0 || len > RING_SLOT)
		return TP_EDECODE;
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
	if (h != NULL && slot < RING_SLOTS)
		slot_release((void *)&h->busy[slot]);
}

void tp__pool_wring_close(struct tp__pool_wring *w)
{
	if (w->map != NULL)
		tp__shm_detach(w->map, w->size);
	w->map = NULL;
	w->path[0] = '\0';
}
