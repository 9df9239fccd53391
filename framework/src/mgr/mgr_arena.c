/*
 * mgr_arena.c - a bump allocator for decoding the manager's messages.
 * protobuf-c's default unpack makes one malloc per sub-message, string and
 * repeated field and frees them one by one; a manager message lives only
 * while its request or reply is handled (what outlives it is copied into
 * payloads), so both sides decode into an arena that is reset afterwards:
 * no per-field malloc or free on the hot path. Larger messages than the
 * arena spill into malloc'd blocks, freed at the reset.
 */
#include <stdlib.h>

#include "mgr_int.h"
#include "troupe/error.h"
#include "wire.h"

struct spill {
	struct spill *next;
	max_align_t data[];
};

static void *arena_alloc(void *arg, size_t n)
{
	struct tp__mgr_arena *a = arg;
	size_t need = (n + 15) & ~(size_t)15;
	if (need >= n && a->used + need <= sizeof(a->buf)) {
		void *p = a->buf + a->used;
		a->used += need;
		return p;
	}
	struct spill *s = malloc(sizeof(*s) + n);
	if (s == NULL)
		return NULL;
	s->next = a->spill;
	a->spill = s;
	return s->data;
}

static void arena_free(void *arg, void *p)
{
	(void)arg; /* everything goes at the reset */
	(void)p;
}

void *tp__mgr_arena_alloc(struct tp__mgr_arena *a, size_t n)
{
	return arena_alloc(a, n);
}

void tp__mgr_arena_reset(struct tp__mgr_arena *a)
{
	while (a->spill != NULL) {
		struct spill *s = a->spill;
		a->spill = s->next;
		free(s);
	}
	a->used = 0;
}

int tp__mgr_arena_unpack(struct tp__mgr_arena *a, const void *buf, size_t len,
                         size_t max, Troupe__Envelope **out)
{
	ProtobufCAllocator al = {arena_alloc, arena_free, a};
	tp__mgr_arena_reset(a);
	if (len > (max ? max : TP_MAX_MSG_DEFAULT))
		return TP_ETOOBIG;
	*out = troupe__envelope__unpack(&al, len, buf);
	return *out == NULL ? TP_EDECODE : TP_OK;
}
