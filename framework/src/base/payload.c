/*
 * payload.c - typed value lists and their protobuf encoding.
 *
 * Values are stored in a flat array of tagged unions, or, while they are
 * all ints or all doubles, of 8-byte numbers (payload_int.h). A small
 * variable-size value is bump-allocated from the payload's current blob
 * (payload_int.h), a large one owns its malloc'ed block. Encoding builds a
 * Troupe__Payload that points into the payload (no copies) and packs it;
 * decoding copies out of the unpacked message so the payload owns its
 * memory.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "payload_int.h"
#include "troupe/error.h"
#include "wire.h"

/*
 * Each thread keeps the struct of the last payload it freed and hands it to
 * its next tp_payload_new: a received message is usually freed before the
 * next one is decoded, and a malloc and free per message, on a path whose
 * caches the peer's turn has just cooled, cost as much as the decoding. A
 * thread's spare is freed when the thread ends.
 */
static pthread_key_t spare_key;
static pthread_once_t spare_once = PTHREAD_ONCE_INIT;
static _Thread_local tp_payload *spare;
static _Thread_local int spare_keyed; /* this thread's exit frees it */

static void spare_exit(void *arg)
{
	(void)arg;
	free(spare);
	spare = NULL;
}

static void spare_init(void)
{
	if (pthread_key_create(&spare_key, spare_exit) != 0)
		spare_key = (pthread_key_t)-1;
}

/* Keeps p as this thread's spare; 0 if it has one (or cannot keep any). */
static int spare_keep(tp_payload *p)
{
	if (spare != NULL)
		return 0;
	if (!spare_keyed) {
		pthread_once(&spare_once, spare_init);
		if (spare_key == (pthread_key_t)-1 ||
		    pthread_setspecific(spare_key, &spare_keyed) != 0)
			return 0;
		spare_keyed = 1;
	}
	spare = p;
	return 1;
}

int tp_payload_new(tp_payload **out)
{
	tp_payload *p = spare;
	if (out == NULL)
		return TP_EINVAL;
	if (p != NULL) {
		spare = NULL;
		memset(p, 0, sizeof(*p));
	} else if ((p = calloc(1, sizeof(*p))) == NULL) {
		return TP_ENOMEM;
	}
	p->heap = 1;
	p->gv = &p->first;
	p->cap = 1;
	*out = p;
	return TP_OK;
}

#define ARENA_SMALL 2048  /* values up to this size go in the arena */
#define ARENA_FIRST 4096  /* its first blob */
#define ARENA_MAX   65536 /* blobs double up to this */

struct tp__blob *tp__blob_new(size_t cap)
{
	struct tp__blob *b = malloc(sizeof(*b) + (cap ? cap : 1));
	if (b == NULL)
		return NULL;
	atomic_init(&b->refs, 1);
	b->cap = cap;
	b->used = 0;
	b->release = NULL;
	b->ext = NULL;
	return b;
}

struct tp__blob *tp__blob_wrap(void *ext, void (*release)(void *ext))
{
	struct tp__blob *b = tp__blob_new(0);
	if (b != NULL) {
		b->release = release;
		b->ext = ext;
	}
	return b;
}

void tp__blob_ref(struct tp__blob *b, size_t n)
{
	atomic_fetch_add_explicit(&b->refs, n, memory_order_relaxed);
}

void tp__blob_unref(struct tp__blob *b)
{
	if (b != NULL &&
	    atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1) {
		if (b->release != NULL)
			b->release(b->ext);
		free(b);
	}
}

void tp__blob_unref_n(struct tp__blob *b, size_t n)
{
	if (b != NULL && n > 0 &&
	    atomic_fetch_sub_explicit(&b->refs, n, memory_order_acq_rel) == n) {
		if (b->release != NULL)
			b->release(b->ext);
		free(b);
	}
}

void tp__value_release_bytes(struct tp_value *v)
{
	if (v->blob != NULL) {
		tp__blob_unref(v->blob);
	} else if (TP__HAS_BYTES(v->type)) {
		free(v->data); /* a message's type name is in the block */
	}
	v->data = NULL;
	v->blob = NULL;
}

void tp__payload_clear_batched(tp_payload *p, struct tp__blob *keep,
                               size_t *kept)
{
	struct tp__blob *a = p->arena;
	size_t mine = 0;
	if (p->kind == TP__PK_GEN)
		for (size_t i = 0; i < p->count; i++) {
			struct tp_value *v = &p->gv[i];
			if (v->blob != NULL &&
			    (v->blob == keep || v->blob == a)) {
				if (v->blob == keep)
					(*kept)++;
				else
					mine++;
				v->blob = NULL;
				v->data = NULL;
			} else {
				tp__value_release(v);
			}
		}
	if (mine > 0) {
		/* p holds one reference, its values mine: if that is all,
		 * nobody else can touch the count */
		if (atomic_load_explicit(&a->refs, memory_order_acquire) ==
		    1 + mine)
			atomic_store_explicit(&a->refs, 1,
			                      memory_order_relaxed);
		else
			atomic_fetch_sub_explicit(&a->refs, mine,
			                          memory_order_acq_rel);
	}
	p->count = p->vcount = p->vnb = p->vbytes = p->vmax = 0;
	/* No value refers to the arena any more: reuse it from the start. */
	if (a != NULL && atomic_load(&a->refs) == 1)
		a->used = 0;
}

void tp_payload_clear(tp_payload *p)
{
	size_t none = 0;
	if (p != NULL)
		tp__payload_clear_batched(p, NULL, &none);
}

void tp_payload_free(tp_payload *p)
{
	if (p == NULL)
		return;
	tp_payload_clear(p);
	tp__blob_unref(p->arena);
	if (!tp__payload_inline(p))
		free(p->gv);
	if (!spare_keep(p))
		free(p);
}

void tp__payload_fini(tp_payload *p)
{
	tp_payload_clear(p);
	if (!tp__payload_inline(p))
		free(p->gv);
	p->gv = NULL;
	p->cap = 0;
	p->kind = TP__PK_GEN;
}

void tp__payload_swap(tp_payload *a, tp_payload *b)
{
	tp_payload t = *a;
	*a = *b;
	*b = t;
	if (a->gv == &b->first)
		a->gv = &a->first;
	if (b->gv == &a->first)
		b->gv = &b->first;
}

/* The bytes of one value of form k. */
static size_t elem_size(unsigned k)
{
	return k == TP__PK_GEN ? sizeof(struct tp_value) : sizeof(int64_t);
}

/* An empty p takes form k: the same array, its room counted anew. */
static void set_kind(tp_payload *p, unsigned k)
{
	size_t bytes = tp__payload_inline(p) ? sizeof(p->first)
	                                     : p->cap * elem_size(p->kind);
	p->kind = (unsigned char)k;
	p->cap = bytes / elem_size(k);
}

int tp__payload_grow(tp_payload *p, size_t n)
{
	size_t cap = p->cap >= 4 ? p->cap + p->cap / 2 : 4; /* 1.5x */
	size_t es = elem_size(p->kind);
	if (cap < p->count + n)
		cap = p->count + n;
	if (cap > SIZE_MAX / es)
		return TP_ENOMEM;
	void *v;
	if (tp__payload_inline(p)) { /* leaving the inline slot */
		if ((v = malloc(cap * es)) == NULL)
			return TP_ENOMEM;
		memcpy(v, &p->first, p->count * es);
	} else if ((v = realloc(p->gv, cap * es)) == NULL) {
		return TP_ENOMEM;
	}
	p->gv = v;
	p->cap = cap;
	return TP_OK;
}

int tp__payload_generic(tp_payload *p)
{
	unsigned k = p->kind;
	size_t n = p->count;
	if (k == TP__PK_GEN)
		return TP_OK;
	tp_type t = k == TP__PK_INTS ? TP_TINT : TP_TDOUBLE;
	if (tp__payload_inline(p) && n <= 1) { /* in place */
		struct tp_value v = {.type = t};
		if (n == 1)
			memcpy(&v.i, p->iv, 8); /* the union's 8 bytes */
		p->first = v;
		p->kind = TP__PK_GEN;
		p->cap = 1;
		return TP_OK;
	}
	size_t cap = n + n / 8 + 4;
	if (cap > SIZE_MAX / sizeof(struct tp_value))
		return TP_ENOMEM;
	struct tp_value *a = malloc(cap * sizeof(*a));
	if (a == NULL)
		return TP_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct tp_value v = {.type = t};
		memcpy(&v.i, p->iv + i, 8);
		a[i] = v;
	}
	if (!tp__payload_inline(p))
		free(p->iv);
	p->gv = a;
	p->cap = cap;
	p->kind = TP__PK_GEN;
	return TP_OK;
}

int tp__payload_reserve_as(tp_payload *p, unsigned k, size_t n)
{
	int rv;
	if (p->count == 0 && p->kind != k)
		set_kind(p, k);
	else if (p->kind != k && (rv = tp__payload_generic(p)) != TP_OK)
		return rv;
	return tp__payload_reserve(p, n);
}

int tp__payload_append_slow(tp_payload *p, const struct tp_value *v)
{
	int rv = tp__payload_reserve_as(p, tp__pk_of(v->type), 1);
	/* now in a form v fits with room for it: the fast path takes it */
	return rv == TP_OK ? tp__payload_append(p, v) : rv;
}

int tp__payload_move_value(tp_payload *dst, tp_payload *src, size_t i)
{
	struct tp_value v = tp__payload_at(src, i);
	int rv = tp__payload_append(dst, &v);
	if (rv == TP_OK && src->kind == TP__PK_GEN)
		memset(&src->gv[i], 0, sizeof(src->gv[i])); /* a none */
	return rv;
}

void *tp__big_alloc(size_t n, size_t size)
{
	/* calloc maps a large array fresh and does not clear it (the
	 * kernel's pages are zero): nothing touches it until results
	 * arrive, so the faults overlap the workers' work (and a waiting
	 * caller takes them ahead of the pool's thread, pool_job.c) instead
	 * of delaying the first task. No huge pages: on this project's VM a
	 * fresh huge page costs 4-5x more to fault in than its 512 small
	 * ones (the host backs it anew), and a one-shot array is always
	 * fresh (docs/performance.md, "Fresh huge pages"). */
	return calloc(n, size);
}

int tp_payload_add_none(tp_payload *p)
{
	struct tp_value v = {.type = TP_TNONE};
	return p == NULL ? TP_EINVAL : tp__payload_append(p, &v);
}

int tp_payload_add_int(tp_payload *p, int64_t i)
{
	struct tp_value v = {.type = TP_TINT, .i = i};
	return p == NULL ? TP_EINVAL : tp__payload_append(p, &v);
}

int tp_payload_add_double(tp_payload *p, double d)
{
	struct tp_value v = {.type = TP_TDOUBLE, .d = d};
	return p == NULL ? TP_EINVAL : tp__payload_append(p, &v);
}

/* Room for need bytes in p's arena (a fresh blob when it is full). */
static char *arena_take(tp_payload *p, size_t need)
{
	struct tp__blob *a = p->arena;
	if (a == NULL || a->cap - a->used < need) {
		size_t cap = a == NULL ? ARENA_FIRST : a->cap * 2;
		if (cap > ARENA_MAX)
			cap = ARENA_MAX;
		struct tp__blob *b = tp__blob_new(cap);
		if (b == NULL)
			return NULL;
		tp__blob_unref(a);
		p->arena = a = b;
	}
	char *d = a->data + a->used;
	a->used += need;
	tp__blob_ref(a, 1);
	return d;
}

/* Appends a value holding a copy of len bytes plus a NUL terminator (and
 * of type_name): in the arena when small and !own, else in its own block. */
int tp__payload_add_blob(tp_payload *p, tp_type t, const void *data, size_t len,
                         const char *type_name, int own)
{
	struct tp_value v = {.type = t};
	size_t tn = type_name != NULL ? strlen(type_name) + 1 : 0;
	int rv;
	if (len > UINT32_MAX - 1)
		return TP_ETOOBIG;
	/* room first, so the arena is not left with a value's bytes */
	if ((rv = tp__payload_reserve_as(p, TP__PK_GEN, 1)) != TP_OK)
		return rv;
	if (!own && p->heap && len + 1 + tn <= ARENA_SMALL) {
		if ((v.data = arena_take(p, len + 1 + tn)) == NULL)
			return TP_ENOMEM;
		v.blob = p->arena;
	} else if ((v.data = malloc(len + 1 + tn)) == NULL) {
		return TP_ENOMEM;
	}
	if (tn > 0) /* where tp__value_type_name finds it */
		memcpy(v.data + len + 1, type_name, tn);
	if (len > 0)
		memcpy(v.data, data, len);
	v.data[len] = '\0';
	v.len = (uint32_t)len;
	return tp__payload_append(p, &v); /* fits: room was made */
}

int tp_payload_add_string(tp_payload *p, const char *s)
{
	if (p == NULL || s == NULL)
		return TP_EINVAL;
	return tp__payload_add_blob(p, TP_TSTRING, s, strlen(s), NULL, 0);
}

int tp_payload_add_bytes(tp_payload *p, const void *data, size_t len)
{
	if (p == NULL || (data == NULL && len > 0))
		return TP_EINVAL;
	return tp__payload_add_blob(p, TP_TBYTES, data, len, NULL, 0);
}

int tp_payload_add_proto(tp_payload *p, const ProtobufCMessage *msg)
{
	if (p == NULL || msg == NULL || msg->descriptor == NULL)
		return TP_EINVAL;
	size_t len = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = malloc(len ? len : 1);
	if (buf == NULL)
		return TP_ENOMEM;
	protobuf_c_message_pack(msg, buf);
	int rv = tp__payload_add_blob(p, TP_TPROTO, buf, len,
	                              msg->descriptor->name, 0);
	free(buf);
	return rv;
}

size_t tp_payload_count(const tp_payload *p)
{
	return p == NULL ? 0 : p->count;
}

/* Finds value i of type t, with the error codes the getters promise. */
static int value_at(const tp_payload *p, size_t i, tp_type t,
                    struct tp_value *out)
{
	if (p == NULL)
		return TP_EINVAL;
	if (i >= p->count)
		return TP_ENOENT;
	if (tp__payload_type_at(p, i) != t)
		return TP_ETYPE;
	*out = tp__payload_at(p, i);
	return TP_OK;
}

int tp_payload_type(const tp_payload *p, size_t i, tp_type *out)
{
	if (p == NULL || out == NULL)
		return TP_EINVAL;
	if (i >= p->count)
		return TP_ENOENT;
	*out = tp__payload_type_at(p, i);
	return TP_OK;
}

int tp_payload_get_int(const tp_payload *p, size_t i, int64_t *out)
{
	if (out == NULL || p == NULL)
		return TP_EINVAL;
	if (i >= p->count)
		return TP_ENOENT;
	if (p->kind == TP__PK_INTS) {
		*out = p->iv[i];
		return TP_OK;
	}
	if (tp__payload_type_at(p, i) != TP_TINT)
		return TP_ETYPE;
	*out = p->gv[i].i;
	return TP_OK;
}

int tp_payload_get_double(const tp_payload *p, size_t i, double *out)
{
	if (out == NULL || p == NULL)
		return TP_EINVAL;
	if (i >= p->count)
		return TP_ENOENT;
	if (p->kind == TP__PK_DBLS) {
		*out = p->dv[i];
		return TP_OK;
	}
	if (tp__payload_type_at(p, i) != TP_TDOUBLE)
		return TP_ETYPE;
	*out = p->gv[i].d;
	return TP_OK;
}

int tp_payload_get_string(const tp_payload *p, size_t i, const char **out)
{
	struct tp_value v;
	int rv;
	if (out == NULL)
		return TP_EINVAL;
	if ((rv = value_at(p, i, TP_TSTRING, &v)) == TP_OK)
		*out = v.data;
	return rv;
}

int tp_payload_get_bytes(const tp_payload *p, size_t i, const void **data,
                         size_t *len)
{
	struct tp_value v;
	int rv;
	if (data == NULL || len == NULL)
		return TP_EINVAL;
	if ((rv = value_at(p, i, TP_TBYTES, &v)) == TP_OK) {
		*data = v.data;
		*len = v.len;
	}
	return rv;
}

int tp_payload_proto_type(const tp_payload *p, size_t i, const char **out)
{
	struct tp_value v;
	int rv;
	if (out == NULL)
		return TP_EINVAL;
	if ((rv = value_at(p, i, TP_TPROTO, &v)) == TP_OK)
		*out = tp__value_type_name(&v);
	return rv;
}

int tp_payload_get_proto(const tp_payload *p, size_t i,
                         const ProtobufCMessageDescriptor *desc,
                         ProtobufCMessage **out)
{
	struct tp_value v;
	int rv;
	if (desc == NULL || out == NULL)
		return TP_EINVAL;
	if ((rv = value_at(p, i, TP_TPROTO, &v)) != TP_OK)
		return rv;
	if (strcmp(tp__value_type_name(&v), desc->name) != 0)
		return TP_ETYPE;
	*out = protobuf_c_message_unpack(desc, NULL, v.len,
	                                 (const uint8_t *)v.data);
	return *out == NULL ? TP_EDECODE : TP_OK;
}

int tp_payload_copy(const tp_payload *src, tp_payload **out)
{
	tp_payload *p;
	int rv;
	if (src == NULL || out == NULL)
		return TP_EINVAL;
	if ((rv = tp_payload_new(&p)) != TP_OK)
		return rv;
	if (tp__payload_reserve_as(p, src->kind, src->count) != TP_OK) {
		tp_payload_free(p);
		return TP_ENOMEM;
	}
	if (src->kind != TP__PK_GEN) { /* numbers: one copy */
		if (src->count > 0)
			memcpy(p->iv, src->iv, src->count * sizeof(*p->iv));
		p->count = p->vcount = src->count;
		*out = p;
		return TP_OK;
	}
	for (size_t i = 0; i < src->count && rv == TP_OK; i++) {
		struct tp_value v = src->gv[i];
		if (v.blob != NULL) { /* share the bytes: values never change */
			if ((rv = tp__payload_append(p, &v)) == TP_OK)
				tp__blob_ref(v.blob, 1);
		} else if (TP__HAS_BYTES(v.type)) {
			rv = tp__payload_add_blob(p, v.type, v.data, v.len,
			                          tp__value_type_name(&v), 0);
		} else {
			rv = tp__payload_append(p, &v);
		}
	}
	if (rv != TP_OK) {
		tp_payload_free(p);
		return rv;
	}
	*out = p;
	return TP_OK;
}

int tp_payload_encode(const tp_payload *p, size_t max, void **buf, size_t *len)
{
	if (p == NULL || buf == NULL || len == NULL)
		return TP_EINVAL;
	size_t n = tp__payload_packed_size(p);
	if (n > (max == 0 ? TP_MAX_MSG_DEFAULT : max))
		return TP_ETOOBIG;
	if ((*buf = malloc(n ? n : 1)) == NULL)
		return TP_ENOMEM;
	tp__payload_pack_to(p, *buf);
	*len = n;
	return TP_OK;
}

int tp_payload_decode(const void *buf, size_t len, size_t max, tp_payload **out)
{
	if ((buf == NULL && len > 0) || out == NULL)
		return TP_EINVAL;
	if (len > (max == 0 ? TP_MAX_MSG_DEFAULT : max))
		return TP_ETOOBIG;
	return tp__payload_unpack(buf, len, out);
}
