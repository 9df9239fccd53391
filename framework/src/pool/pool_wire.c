/*
 * pool_wire.c - reading a batch of tasks (in a worker) or of results (in
 * the parent) in place.
 *
 * protobuf-c's unpack copies every bytes field into a fresh allocation,
 * and the values were then copied once more into a blob: for a batch of
 * 1 KiB arguments, two copies of every byte and two large allocations
 * per message. These readers walk the same bytes (the wire format is
 * unchanged: schemas/troupe.proto) and fill the usual structs with
 * pointers into the received message; the values decoded from them
 * borrow their bytes from it (tp__vread_init_at), and a blob wrapping the
 * message keeps it alive until the last of them goes. Unknown fields are
 * skipped, as protobuf-c does; anything cut or malformed is TP_EDECODE.
 * A result that failed (its error and item errors are rare and small) is
 * handed to protobuf-c whole.
 */
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>

#include "payload_int.h"
#include "pool_int.h"
#include "troupe/error.h"
#include "varint.h"

#define ENV_POOL_TASKS   80
#define ENV_POOL_RESULTS 81

struct field {
	uint32_t num, wt;
	uint64_t v;             /* wire type 0 */
	const unsigned char *p; /* wire type 2: the bytes */
	size_t len;
};

/* Reads the field at *p; 0 at a malformed one. Fixed-size fields are
 * stepped over (none of the messages read here has one that matters). */
static int field_next(const unsigned char **p, const unsigned char *end,
                      struct field *f)
{
	uint64_t key, len;
	if (!tp__varint_get(p, end, &key) || (key >> 3) == 0 ||
	    (key >> 3) > 0x1fffffff)
		return 0;
	f->num = (uint32_t)(key >> 3);
	f->wt = (uint32_t)(key & 7);
	switch (f->wt) {
	case 0:
		return tp__varint_get(p, end, &f->v);
	case 1:
		if (end - *p < 8)
			return 0;
		*p += 8;
		return 1;
	case 5:
		if (end - *p < 4)
			return 0;
		*p += 4;
		return 1;
	case 2:
		if (!tp__varint_get(p, end, &len) || len > (uint64_t)(end - *p))
			return 0;
		f->p = *p;
		f->len = (size_t)len;
		*p += len;
		return 1;
	default: /* groups: never written by troupe */
		return 0;
	}
}

/* The body of an Envelope whose body is field num: 1 found, 0 another
 * body, -1 malformed. */
static int env_body(const void *buf, size_t len, uint32_t num,
                    const unsigned char **body, size_t *blen)
{
	const unsigned char *p = buf, *end = p + len;
	struct field f;
	int found = 0;
	while (p < end) {
		if (!field_next(&p, end, &f))
			return -1;
		if (f.num >= ENV_POOL_TASKS && f.num <= 99 && f.wt == 2) {
			found = f.num == num; /* the last body wins */
			*body = f.p;
			*blen = f.len;
		} else if (f.num > 3 && f.wt == 2) {
			found = 0; /* another module's body */
		}
	}
	return found;
}

static void bytes_set(ProtobufCBinaryData *b, const struct field *f)
{
	b->data = (uint8_t *)f->p;
	b->len = f->len;
}

static int values_read(const struct field *in, Troupe__Values *m)
{
	const unsigned char *p = in->p, *end = p + in->len;
	struct field f;
	troupe__values__init(m);
	while (p < end) {
		if (!field_next(&p, end, &f))
			return TP_EDECODE;
		if (f.num == 1 && f.wt == 0)
			m->count = f.v;
		else if (f.num == 2 && f.wt == 0)
			m->kind = (uint32_t)f.v;
		else if (f.num >= 3 && f.num <= 8 && f.wt != 2)
			return TP_EDECODE;
		else if (f.num == 3)
			bytes_set(&m->kinds, &f);
		else if (f.num == 4)
			bytes_set(&m->ints, &f);
		else if (f.num == 5)
			bytes_set(&m->doubles, &f);
		else if (f.num == 6)
			bytes_set(&m->lens, &f);
		else if (f.num == 7)
			bytes_set(&m->data, &f);
		else if (f.num == 8)
			bytes_set(&m->calls, &f);
	}
	return TP_OK;
}

/* A string field as a NUL-ended copy taken from *strs. */
static char *str_take(char **strs, const struct field *f)
{
	char *s = *strs;
	memcpy(s, f->p, f->len);
	s[f->len] = '\0';
	*strs += f->len + 1;
	return s;
}

static int task_read(const struct field *in, Troupe__PoolTask *t,
                     Troupe__Values *args, char **strs)
{
	const unsigned char *p = in->p, *end = p + in->len;
	struct field f;
	troupe__pool_task__init(t);
	t->func = (char *)"";
	t->seg = (char *)"";
	while (p < end) {
		if (!field_next(&p, end, &f))
			return TP_EDECODE;
		switch (f.num) {
		case 1:
		case 5:
		case 6:
		case 8:
		case 9:
		case 10:
			if (f.wt != 0)
				return TP_EDECODE;
			if (f.num == 1)
				t->id = f.v;
			else if (f.num == 5)
				t->is_int = f.v != 0;
			else if (f.num == 6)
				t->whole = f.v != 0;
			else if (f.num == 8)
				t->first = f.v;
			else if (f.num == 9)
				t->count = f.v;
			else
				t->item0 = f.v;
			break;
		case 2:
		case 3:
		case 4:
		case 7:
			if (f.wt != 2)
				return TP_EDECODE;
			if (f.num == 2)
				t->func = str_take(strs, &f);
			else if (f.num == 7)
				t->seg = str_take(strs, &f);
			else if (f.num == 4)
				bytes_set(&t->ints, &f);
			else if (values_read(&f, args) != TP_OK)
				return TP_EDECODE;
			else
				t->args = args;
			break;
		default:
			break;
		}
	}
	return TP_OK;
}

static void msg_release(void *m)
{
	nng_msg_free(m);
}

void tp__pool_in_free(struct tp__pool_in *in)
{
	for (size_t i = 0; in->own != NULL && i < in->n; i++)
		if (in->own[i])
			protobuf_c_message_free_unpacked(&in->results[i]->base,
			                                 NULL);
	free(in->mem);
	tp__blob_unref(in->blob); /* the message goes with the last value */
	memset(in, 0, sizeof(*in));
}

/* Counts the entries (field 1) of a repeated message body. */
static int count_entries(const unsigned char *p, size_t len, size_t *n,
                         size_t *strs)
{
	const unsigned char *end = p + len;
	struct field f;
	*n = 0;
	*strs = 0;
	while (p < end) {
		if (!field_next(&p, end, &f))
			return TP_EDECODE;
		if (f.num == 1 && f.wt == 2) {
			(*n)++;
			*strs += f.len + 2; /* room for func and seg */
		} else if (f.num == 1) {
			return TP_EDECODE;
		}
	}
	return TP_OK;
}

/* Takes m's ownership in every case. */
static int in_wrap(struct tp__pool_in *in, nng_msg *m)
{
	if ((in->blob = tp__blob_wrap(m, msg_release)) == NULL) {
		nng_msg_free(m);
		return TP_ENOMEM;
	}
	return TP_OK;
}

/* Opens a received batch of kind num: finds its body, wraps m in the
 * blob its values borrow from, and counts its entries (n) and string bytes
 * (strs). TP_ENOENT: another body, m stays the caller's; any other error:
 * m is freed and in is left empty. */
static int in_open(nng_msg *m, uint32_t num, struct tp__pool_in *in,
                   const unsigned char **body, size_t *blen, size_t *n,
                   size_t *strs)
{
	int rv;
	memset(in, 0, sizeof(*in));
	rv = env_body(nng_msg_body(m), nng_msg_len(m), num, body, blen);
	if (rv == 0)
		return TP_ENOENT;
	if (rv < 0) {
		nng_msg_free(m);
		return TP_EDECODE;
	}
	if ((rv = in_wrap(in, m)) != TP_OK ||
	    (rv = count_entries(*body, *blen, n, strs)) != TP_OK)
		tp__pool_in_free(in);
	return rv;
}

/* Reads the n tasks of body into in (whose blob holds body); frees in on
 * failure. */
static int tasks_fill(struct tp__pool_in *in, const unsigned char *body,
                      size_t blen, size_t n, size_t strs)
{
	const unsigned char *p, *end;
	struct field f;
	char *sp;
	int rv;
	/* one block: the tasks, their pointers, their args, their strings */
	in->mem = malloc(n * (sizeof(Troupe__PoolTask) + sizeof(void *) +
	                      sizeof(Troupe__Values)) +
	                 strs + 1);
	if (in->mem == NULL) {
		rv = TP_ENOMEM;
		goto fail;
	}
	Troupe__PoolTask *ts = in->mem;
	in->tasks = (Troupe__PoolTask **)(ts + n);
	Troupe__Values *args = (Troupe__Values *)(in->tasks + n);
	sp = (char *)(args + n);
	p = body;
	end = body + blen;
	while (p < end && field_next(&p, end, &f)) {
		if (f.num != 1)
			continue;
		if ((rv = task_read(&f, &ts[in->n], &args[in->n], &sp)) !=
		    TP_OK)
			goto fail;
		in->tasks[in->n] = &ts[in->n];
		in->n++;
	}
	return TP_OK;
fail:
	tp__pool_in_free(in);
	return rv;
}

/* A result with no error: its fields, pointing into the message. */
static int result_read(const struct field *in, Troupe__PoolResult *r,
                       Troupe__Values *vals, int *plain)
{
	const unsigned char *p = in->p, *end = p + in->len;
	struct field f;
	troupe__pool_result__init(r);
	*plain = 1;
	while (p < end) {
		if (!field_next(&p, end, &f))
			return TP_EDECODE;
		if (f.num == 2 || f.num == 7) {
			*plain = 0; /* errors: protobuf-c reads it */
			return TP_OK;
		}
		if ((f.num == 1 || f.num == 5 || f.num == 6) && f.wt != 0)
			return TP_EDECODE;
		if ((f.num == 3 || f.num == 4) && f.wt != 2)
			return TP_EDECODE;
		if (f.num == 1)
			r->id = f.v;
		else if (f.num == 5)
			r->ns = f.v;
		else if (f.num == 6)
			r->in_seg = f.v != 0;
		else if (f.num == 3)
			bytes_set(&r->ints, &f);
		else if (f.num == 4 && values_read(&f, vals) != TP_OK)
			return TP_EDECODE;
		else if (f.num == 4)
			r->values = vals;
	}
	return TP_OK;
}

/* Reads the n results of body into in (whose blob holds body); frees in
 * on failure. */
static int results_fill(struct tp__pool_in *in, const unsigned char *body,
                        size_t blen, size_t n, size_t strs)
{
	const unsigned char *p, *end;
	struct field f;
	int rv, plain;
	(void)strs; /* results keep no strings of their own */
	in->mem = calloc(1, n * (sizeof(Troupe__PoolResult) + sizeof(void *) +
	                         sizeof(Troupe__Values) + 1) +
	                        1);
	if (in->mem == NULL) {
		rv = TP_ENOMEM;
		goto fail;
	}
	Troupe__PoolResult *rs = in->mem;
	in->results = (Troupe__PoolResult **)(rs + n);
	Troupe__Values *vals = (Troupe__Values *)(in->results + n);
	in->own = (unsigned char *)(vals + n);
	p = body;
	end = body + blen;
	while (p < end && field_next(&p, end, &f)) {
		if (f.num != 1)
			continue;
		Troupe__PoolResult *r = &rs[in->n];
		if ((rv = result_read(&f, r, &vals[in->n], &plain)) != TP_OK)
			goto fail;
		if (!plain) {
			r = troupe__pool_result__unpack(NULL, f.len, f.p);
			if (r == NULL) {
				rv = TP_EDECODE;
				goto fail;
			}
			in->own[in->n] = 1;
		}
		in->results[in->n++] = r;
	}
	return TP_OK;
fail:
	tp__pool_in_free(in);
	return rv;
}

/* in holds buf through a blob released by release(arg) (also now, when
 * that cannot be made); counts its entries. */
static int mem_open(const unsigned char *buf, size_t len, uint32_t num,
                    void (*release)(void *), void *arg, struct tp__pool_in *in,
                    const unsigned char **body, size_t *blen, size_t *n,
                    size_t *strs)
{
	int rv;
	memset(in, 0, sizeof(*in));
	if (env_body(buf, len, num, body, blen) <= 0) {
		release(arg);
		return TP_EDECODE;
	}
	if ((in->blob = tp__blob_wrap(arg, release)) == NULL) {
		release(arg);
		return TP_ENOMEM;
	}
	if ((rv = count_entries(*body, *blen, n, strs)) != TP_OK)
		tp__pool_in_free(in);
	return rv;
}

/* Reads a batch of kind num from m (in_open's ownership rules) or from
 * buf (mem_open's) with fill. */
typedef int (*fill_fn)(struct tp__pool_in *in, const unsigned char *body,
                       size_t blen, size_t n, size_t strs);

static int read_msg(nng_msg *m, uint32_t num, fill_fn fill,
                    struct tp__pool_in *in)
{
	const unsigned char *body = NULL;
	size_t blen = 0, n, strs;
	int rv = in_open(m, num, in, &body, &blen, &n, &strs);
	/* TP_ENOENT: another body, m stays the caller's */
	return rv != TP_OK ? rv : fill(in, body, blen, n, strs);
}

static int read_mem(const unsigned char *buf, size_t len, uint32_t num,
                    fill_fn fill, void (*release)(void *), void *arg,
                    struct tp__pool_in *in)
{
	const unsigned char *body = NULL;
	size_t blen = 0, n, strs;
	int rv =
	    mem_open(buf, len, num, release, arg, in, &body, &blen, &n, &strs);
	return rv != TP_OK ? rv : fill(in, body, blen, n, strs);
}

int tp__pool_tasks_read(nng_msg *m, struct tp__pool_in *in)
{
	return read_msg(m, ENV_POOL_TASKS, tasks_fill, in);
}

int tp__pool_results_read(nng_msg *m, struct tp__pool_in *in)
{
	return read_msg(m, ENV_POOL_RESULTS, results_fill, in);
}

int tp__pool_tasks_read_mem(const unsigned char *buf, size_t len,
                            void (*release)(void *), void *arg,
                            struct tp__pool_in *in)
{
	return read_mem(buf, len, ENV_POOL_TASKS, tasks_fill, release, arg, in);
}

int tp__pool_results_read_mem(const unsigned char *buf, size_t len,
                              void (*release)(void *), void *arg,
                              struct tp__pool_in *in)
{
	return read_mem(buf, len, ENV_POOL_RESULTS, results_fill, release, arg,
	                in);
}
