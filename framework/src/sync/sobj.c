/*
 * sobj.c - the base of shared objects: segments with local reference
 * counts, robust process-shared mutexes, sliced waits, liveness checks and
 * the Handle that carries an object through a payload. See sobj.h.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sobj.h"
#include "troupe.pb-c.h"
#include "troupe/error.h"

static const char *const kind_names[TP__KMAX] = {
    [TP__KLOCK] = "lock",       [TP__KRLOCK] = "rlock",
    [TP__KSEM] = "semaphore",   [TP__KBSEM] = "bounded_semaphore",
    [TP__KEVENT] = "event",     [TP__KCOND] = "condition",
    [TP__KBARRIER] = "barrier", [TP__KVALUE] = "value",
    [TP__KARRAY] = "array",     [TP__KSHMEM] = "shared_memory",
};

const char *tp__kind_name(int kind)
{
	return (kind > 0 && kind < TP__KMAX) ? kind_names[kind] : "";
}

static int seg_new(struct tp__seg **out)
{
	*out = calloc(1, sizeof(**out));
	return *out == NULL ? TP_ENOMEM : TP_OK;
}

int tp__seg_create(size_t size, struct tp__seg **out)
{
	struct tp__seg *s;
	int rv;
	if ((rv = seg_new(&s)) != TP_OK)
		return rv;
	if ((rv = tp__shm_create(size, s->name, &s->base)) != TP_OK) {
		free(s);
		return rv;
	}
	s->size = size;
	s->refs = 1;
	s->creator = getpid();
	*out = s;
	return TP_OK;
}

int tp__seg_attach(const char *name, struct tp__seg **out)
{
	struct tp__seg *s;
	int rv;
	if (name == NULL || strlen(name) >= TP_SHM_NAME_MAX)
		return TP_EINVAL;
	if ((rv = seg_new(&s)) != TP_OK)
		return rv;
	if ((rv = tp__shm_attach(name, &s->base, &s->size)) != TP_OK) {
		free(s);
		return rv;
	}
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->refs = 1;
	s->creator = 0;
	*out = s;
	return TP_OK;
}

struct tp__seg *tp__seg_ref(struct tp__seg *s)
{
	__atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
	return s;
}

void tp__seg_unref(struct tp__seg *s)
{
	if (s == NULL || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	if (s->creator == getpid())
		tp__shm_unlink(s->name);
	tp__shm_detach(s->base, s->size);
	free(s);
}

int tp__core_init(struct tp__core *c)
{
	c->seq = 0;
	return tp__mutex_init(&c->m);
}

int tp__core_lock(struct tp__core *c)
{
	int rv = pthread_mutex_lock(&c->m);
	if (rv == EOWNERDEAD) {
		pthread_mutex_consistent(&c->m);
		return TP_EOWNERDEAD;
	}
	return tp_err_errno(rv);
}

void tp__core_unlock(struct tp__core *c)
{
	pthread_mutex_unlock(&c->m);
}

int tp__core_wait(struct tp__core *c, const struct timespec *deadline)
{
	struct timespec slice;
	tp__deadline_ts(&slice, TP__SLICE_MS);
	if (deadline != NULL && tp__ts_before(deadline, &slice))
		slice = *deadline;
	uint32_t seq = __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE);
	pthread_mutex_unlock(&c->m);
	tp__futex_wait(&c->seq, seq, &slice);
	int rv = tp__core_lock(c);
	if (rv != TP_OK)
		return rv;
	if (deadline != NULL && tp__ts_expired(deadline))
		return TP_ETIMEDOUT;
	return TP_OK;
}

void tp__core_wake(struct tp__core *c, int n)
{
	__atomic_add_fetch(&c->seq, 1, __ATOMIC_RELEASE);
	tp__futex_wake(&c->seq, n);
}

void tp__core_broadcast(struct tp__core *c)
{
	tp__core_wake(c, INT32_MAX);
}

int tp__sobj_add(tp_payload *p, int kind, const struct tp__seg *seg,
                 size_t offset)
{
	Troupe__Handle h = TROUPE__HANDLE__INIT;
	if (p == NULL || seg == NULL)
		return TP_EINVAL;
	h.kind = (char *)tp__kind_name(kind);
	h.name = (char *)seg->name;
	h.offset = offset;
	h.size = seg->size;
	return tp_payload_add_proto(p, &h.base);
}

void *tp__sobj_at(struct tp__seg *seg, size_t offset, int kind, size_t need)
{
	if (offset > seg->size || seg->size - offset < need ||
	    need < sizeof(struct tp__shdr) || offset % 8 != 0)
		return NULL;
	struct tp__shdr *h = (struct tp__shdr *)((char *)seg->base + offset);
	if (h->magic != TP__SOBJ_MAGIC || (int)h->kind != kind)
		return NULL;
	return h;
}

static int kind_of(const char *name, const int *kinds)
{
	for (; *kinds != 0; kinds++)
		if (strcmp(name, tp__kind_name(*kinds)) == 0)
			return *kinds;
	return 0;
}

int tp__sobj_get(const tp_payload *p, size_t i, const int *kinds, size_t need,
                 struct tp__seg **seg, void **state, int *kind)
{
	ProtobufCMessage *m = NULL;
	struct tp__seg *s = NULL;
	int rv, k;
	if (seg == NULL || state == NULL)
		return TP_EINVAL;
	rv = tp_payload_get_proto(p, i, &troupe__handle__descriptor, &m);
	if (rv != TP_OK)
		return rv;
	Troupe__Handle *h = (Troupe__Handle *)m;
	if ((k = kind_of(h->kind, kinds)) == 0)
		rv = TP_ETYPE;
	else if ((rv = tp__seg_attach(h->name, &s)) == TP_OK &&
	         (*state = tp__sobj_at(s, h->offset, k, need)) == NULL)
		rv = TP_EDECODE;
	protobuf_c_message_free_unpacked(m, NULL);
	if (rv != TP_OK) {
		tp__seg_unref(s);
		return rv == TP_EINVAL ? TP_EDECODE : rv;
	}
	*seg = s;
	if (kind != NULL)
		*kind = k;
	return TP_OK;
}
