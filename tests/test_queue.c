/*
 * test_queue.c - Queue, JoinableQueue, SimpleQueue: every call and error,
 * several producer and consumer processes, kill -9 of producers and
 * consumers, close while others block, a scribbled ring, a holder killed
 * inside the lock. Children are plain fork()s: the queue touches no nng.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "queue_int.h"
#include "wire.h"
#include "testutil.h"

typedef int (*child_fn)(tp_queue *q, long arg);

static pid_t start(child_fn fn, tp_queue *q, long arg)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(fn(q, arg));
	assert_true(pid > 0);
	return pid;
}

/* Exit code, or 128 + signal. */
static int reap(pid_t pid)
{
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A counter in memory shared with forked children. */
static volatile long *shared_counter(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	return p;
}

static void wait_counter(volatile long *c, long at_least)
{
	for (int i = 0;
	     i < 20000 && __atomic_load_n(c, __ATOMIC_ACQUIRE) < at_least; i++)
		usleep(500);
	assert_true(*c >= at_least);
}

static void test_put_get_every_type(void **state)
{
	(void)state;
	tp_queue *q;
	tp_payload *p, *r;
	int64_t i;
	double d;
	char *s;
	void *b;
	size_t n;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_queue_new(&q, NULL));
	assert_int_equal(tp_queue_kind_of(q), TP_QUEUE);
	assert_true(tp_queue_empty(q));
	TP_OK_OR_FAIL(tp_queue_put_int(q, -7, -1));
	TP_OK_OR_FAIL(tp_queue_put_double(q, 1.5, -1));
	TP_OK_OR_FAIL(tp_queue_put_string(q, "hello", -1));
	TP_OK_OR_FAIL(tp_queue_put_bytes(q, "\0\1\2", 3, -1));
	TP_OK_OR_FAIL(tp_payload_new(&p));
	TP_OK_OR_FAIL(tp_payload_add_int(p, 1));
	TP_OK_OR_FAIL(tp_payload_add_string(p, "two"));
	TP_OK_OR_FAIL(tp_queue_put_nowait(q, p));
	TP_OK_OR_FAIL(tp_queue_qsize(q, &n));
	assert_int_equal(n, 5);
	assert_false(tp_queue_full(q));
	TP_OK_OR_FAIL(tp_queue_get_int(q, &i, -1));
	assert_int_equal(i, -7);
	TP_OK_OR_FAIL(tp_queue_get_double(q, &d, 0));
	assert_true(d == 1.5);
	TP_OK_OR_FAIL(tp_queue_get_string(q, &s, 0));
	assert_string_equal(s, "hello");
	free(s);
	TP_OK_OR_FAIL(tp_queue_get_bytes(q, &b, &n, 0));
	assert_int_equal(n, 3);
	assert_memory_equal(b, "\0\1\2", 3);
	free(b);
	TP_OK_OR_FAIL(tp_queue_get_nowait(q, &r));
	assert_int_equal(tp_payload_count(r), 2);
	tp_payload_free(r);
	TP_EXPECT(tp_queue_get_nowait(q, &r), TP_EEMPTY);
	TP_EXPECT(tp_queue_get(q, &r, 30), TP_ETIMEDOUT);
	TP_EXPECT(tp_queue_get_int(q, &i, 0), TP_EEMPTY);
	/* bad arguments */
	TP_EXPECT(tp_queue_new(NULL, NULL), TP_EINVAL);
	tp_queue_opts bad = {.capacity = 100};
	TP_EXPECT(tp_queue_new(&q, &bad), TP_EINVAL);
	TP_EXPECT(tp_queue_put(NULL, p, 0), TP_EINVAL);
	TP_EXPECT(tp_queue_put(q, NULL, 0), TP_EINVAL);
	TP_EXPECT(tp_queue_get(q, NULL, 0), TP_EINVAL);
	TP_EXPECT(tp_queue_put_string(q, NULL, 0), TP_EINVAL);
	TP_EXPECT(tp_queue_qsize(q, NULL), TP_EINVAL);
	TP_EXPECT(tp_queue_task_done(q), TP_ESTATE);
	TP_EXPECT(tp_queue_join(q, 0), TP_ESTATE);
	tp_payload_free(p);
	tp_queue_free(q);
	tp_queue_free(NULL);
	tp_test_fini();
}

/* Every payload type, empty strings, 0-length bytes, a user message and a
 * mixed list, put one by one and as one list, come out of the queue in
 * another process exactly as they went in. */
#define MIXED_BIG 3000
#define MIXED_N   9

/* Adds the i-th value of the mixed list to p. */
static void mixed_add(tp_payload *p, int i, Troupe__Error *err, const char *big)
{
	switch (i) {
	case 0:
		TP_OK_OR_FAIL(tp_payload_add_none(p));
		break;
	case 1:
		TP_OK_OR_FAIL(tp_payload_add_int(p, INT64_MIN));
		break;
	case 2:
		TP_OK_OR_FAIL(tp_payload_add_int(p, INT64_MAX));
		break;
	case 3:
		TP_OK_OR_FAIL(tp_payload_add_double(p, -0.0));
		break;
	case 4:
		TP_OK_OR_FAIL(tp_payload_add_string(p, ""));
		break;
	case 5:
		TP_OK_OR_FAIL(tp_payload_add_string(p, "h\xc3\xa9llo"));
		break;
	case 6:
		TP_OK_OR_FAIL(tp_payload_add_bytes(p, "", 0));
		break;
	case 7:
		TP_OK_OR_FAIL(tp_payload_add_bytes(p, big, MIXED_BIG));
		break;
	default:
		TP_OK_OR_FAIL(tp_payload_add_proto(p, &err->base));
		break;
	}
}

static void mixed_payload(tp_payload **out, Troupe__Error *err, char *big)
{
	tp_payload *p;
	for (int i = 0; i < MIXED_BIG; i++)
		big[i] = (char)(i * 7); /* NULs included */
	TP_OK_OR_FAIL(tp_payload_new(&p));
	for (int i = 0; i < MIXED_N; i++)
		mixed_add(p, i, err, big);
	*out = p;
}

/* 0 if q's value j equals p's value i. */
static int same_value(const tp_payload *p, size_t i, const tp_payload *q,
                      size_t j)
{
	const struct tp_value av = tp__payload_at(p, i), *a = &av;
	const struct tp_value bv = tp__payload_at(q, j), *b = &bv;
	if (a->type != b->type)
		return 1;
	if (a->type == TP_TINT || a->type == TP_TDOUBLE)
		return memcmp(&a->i, &b->i, 8) != 0;
	if (a->type == TP_TNONE)
		return 0;
	if (a->len != b->len || (a->len && memcmp(a->data, b->data, a->len)))
		return 1;
	return a->type == TP_TPROTO &&
	       strcmp(tp__value_type_name(a), tp__value_type_name(b));
}

static int mixed_consumer(tp_queue *q, long arg)
{
	Troupe__Error err = TROUPE__ERROR__INIT;
	static char big[MIXED_BIG];
	tp_payload *want, *got;
	int bad = 0;
	(void)arg;
	err.code = 9;
	err.message = "";
	mixed_payload(&want, &err, big);
	size_t n = tp_payload_count(want);
	for (size_t i = 0; i < n && !bad; i++) { /* one value an item */
		if (tp_queue_get(q, &got, 5000) != TP_OK)
			return 2;
		bad |=
		    tp_payload_count(got) != 1 || same_value(want, i, got, 0);
		tp_payload_free(got);
	}
	if (tp_queue_get(q, &got, 5000) != TP_OK) /* the whole list */
		return 3;
	bad |= tp_payload_count(got) != n;
	for (size_t i = 0; i < n && !bad; i++)
		bad |= same_value(want, i, got, i);
	tp_payload_free(got);
	if (tp_queue_get(q, &got, 5000) != TP_OK) /* an empty payload */
		return 4;
	bad |= tp_payload_count(got) != 0;
	tp_payload_free(got);
	char *s = NULL; /* the typed calls on empties */
	void *b = (void *)1;
	size_t blen = 1;
	if (tp_queue_get_string(q, &s, 5000) != TP_OK ||
	    tp_queue_get_bytes(q, &b, &blen, 5000) != TP_OK)
		return 5;
	bad |= s == NULL || s[0] != '\0' || blen != 0;
	free(s);
	free(b);
	tp_payload_free(want);
	return bad;
}

static void test_mixed_list_every_type(void **state)
{
	Troupe__Error err = TROUPE__ERROR__INIT;
	static char big[MIXED_BIG];
	tp_queue *q;
	tp_payload *p, *one;
	(void)state;
	err.code = 9;
	err.message = "";
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_queue_new(&q, NULL));
	pid_t pid = start(mixed_consumer, q, 0);
	mixed_payload(&p, &err, big);
	assert_int_equal(tp_payload_count(p), MIXED_N);
	for (int i = 0; i < MIXED_N; i++) {
		TP_OK_OR_FAIL(tp_payload_new(&one));
		mixed_add(one, i, &err, big);
		TP_OK_OR_FAIL(tp_queue_put(q, one, -1));
		tp_payload_free(one);
	}
	TP_OK_OR_FAIL(tp_queue_put(q, p, -1));
	TP_OK_OR_FAIL(tp_payload_new(&one));
	TP_OK_OR_FAIL(tp_queue_put(q, one, -1));
	tp_payload_free(one);
	TP_OK_OR_FAIL(tp_queue_put_string(q, "", -1));
	TP_OK_OR_FAIL(tp_queue_put_bytes(q, "", 0, -1));
	assert_int_equal(reap(pid), 0);
	tp_payload_free(p);
	tp_queue_free(q);
	tp_test_fini();
}

static void test_full_and_too_big(void **state)
{
	(void)state;
	tp_queue *q;
	tp_queue_opts o = {.maxsize = 2};
	int64_t i;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_queue_new(&q, &o));
	TP_OK_OR_FAIL(tp_queue_put_int(q, 1, 0));
	TP_OK_OR_FAIL(tp_queue_put_int(q, 2, 0));
	assert_true(tp_queue_full(q));
	TP_EXPECT(tp_queue_put_int(q, 3, 0), TP_EFULL);
	TP_EXPECT(tp_queue_put_int(q, 3, 30), TP_ETIMEDOUT);
	TP_OK_OR_FAIL(tp_queue_get_int(q, &i, 0));
	TP_OK_OR_FAIL(tp_queue_put_int(q, 3, 0));
	tp_queue_free(q);

	/* a byte-full ring blocks too; an item larger than the ring travels
	 * out of band */
	tp_queue_opts small = {.capacity = 4096};
	static char blob[5000];
	void *b;
	size_t n;
	TP_OK_OR_FAIL(tp_queue_new(&q, &small));
	blob[4999] = 7;
	TP_OK_OR_FAIL(tp_queue_put_bytes(q, blob, sizeof(blob), -1));
	TP_OK_OR_FAIL(tp_queue_get_bytes(q, &b, &n, 0));
	assert_int_equal(n, sizeof(blob));
	assert_memory_equal(b, blob, n);
	free(b);
	int puts = 0;
	while (tp_queue_put_bytes(q, blob, 1000, 0) == TP_OK)
		puts++;
	assert_int_equal(puts, 4);
	TP_EXPECT(tp_queue_put_bytes(q, blob, 1000, 0), TP_EFULL);
	TP_OK_OR_FAIL(tp_queue_get_bytes(q, &b, &n, 0));
	free(b);
	TP_OK_OR_FAIL(tp_queue_put_bytes(q, blob, 1000, 0)); /* wraps */
	for (int k = 0; k < 4; k++) {
		TP_OK_OR_FAIL(tp_queue_get_bytes(q, &b, &n, 0));
		assert_int_equal(n, 1000);
		free(b);
	}
	tp_queue_free(q);
	tp_test_fini();
}

/* Checks the direct codec against protobuf-c for the one value v. */
static void codec_matches(const struct tp_value *v)
{
	tp_payload p = {.gv = (struct tp_value *)v, .count = 1, .cap = 1};
	unsigned char pre[TP_Q_PREFIX_MAX], mine[2048];
	const void *data;
	size_t dlen, len;
	void *buf;
	struct tp_value back;
	size_t n = tp__q_enc_prefix(v, pre, &data, &dlen);
	assert_true(n > 0 && n + dlen <= sizeof(mine));
	memcpy(mine, pre, n);
	if (dlen > 0)
		memcpy(mine + n, data, dlen);
	TP_OK_OR_FAIL(tp_payload_encode(&p, 0, &buf, &len));
	assert_int_equal(len, n + dlen);
	assert_memory_equal(buf, mine, len); /* the same bytes */
	if (v->type != TP_TNONE) {
		memset(&back, 0, sizeof(back));
		assert_int_equal(tp__q_dec_one(buf, len, v->type, &back), 1);
		/* i, d and data share a union (payload_int.h) */
		if (v->type == TP_TINT)
			assert_int_equal(back.i, v->i);
		if (v->type == TP_TDOUBLE)
			assert_memory_equal(&back.d, &v->d, sizeof(double));
		assert_int_equal(back.len, v->len);
		if (v->len > 0)
			assert_memory_equal(back.data, v->data, v->len);
		/* another type, or one byte short: left to protobuf-c */
		tp_type other = v->type == TP_TINT ? TP_TBYTES : TP_TINT;
		assert_int_equal(tp__q_dec_one(buf, len, other, &back), 0);
		assert_int_equal(tp__q_dec_one(buf, len - 1, v->type, &back),
		                 0);
	}
	free(buf);
}

/* The direct one-value codec writes what protobuf-c writes and reads it
 * back; anything else is left to protobuf-c. */
static void test_codec(void **state)
{
	(void)state;
	static char blob[1500];
	int64_t ints[] = {0, 1, -1, 63, -64, 300, INT64_MAX, INT64_MIN};
	double ds[] = {0.0, -2.5, 1e300};
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		struct tp_value v = {.type = TP_TINT, .i = ints[i]};
		codec_matches(&v);
	}
	for (size_t i = 0; i < sizeof(ds) / sizeof(ds[0]); i++) {
		struct tp_value v = {.type = TP_TDOUBLE, .d = ds[i]};
		codec_matches(&v);
	}
	struct tp_value none = {.type = TP_TNONE};
	struct tp_value s0 = {.type = TP_TSTRING, .data = "", .len = 0};
	struct tp_value s1 = {.type = TP_TSTRING, .data = "abc", .len = 3};
	struct tp_value b0 = {.type = TP_TBYTES, .data = blob, .len = 0};
	struct tp_value b1 = {.type = TP_TBYTES, .data = blob, .len = 1500};
	codec_matches(&none);
	codec_matches(&s0);
	codec_matches(&s1);
	codec_matches(&b0);
	codec_matches(&b1);
	/* two values: not one */
	tp_payload *p;
	void *buf;
	size_t len;
	struct tp_value back;
	TP_OK_OR_FAIL(tp_payload_new(&p));
	TP_OK_OR_FAIL(tp_payload_add_int(p, 1));
	TP_OK_OR_FAIL(tp_payload_add_int(p, 2));
	TP_OK_OR_FAIL(tp_payload_encode(p, 0, &buf, &len));
	assert_int_equal(tp__q_dec_one(buf, len, TP_TINT, &back), 0);
	free(buf);
	tp_payload_free(p);
}

/* The encoded size of a payload holding n bytes. */
static size_t encoded_bytes_item(size_t n)
{
	char *zeros = calloc(1, n + 1);
	tp_payload *p;
	void *buf;
	size_t len;
	TP_OK_OR_FAIL(tp_payload_new(&p));
	TP_OK_OR_FAIL(tp_payload_add_bytes(p, zeros, n));
	TP_OK_OR_FAIL(tp_payload_encode(p, (size_t)1 << 30, &buf, &len));
	free(buf);
	free(zeros);
	tp_payload_free(p);
	return len;
}

/* Items larger than the ring travel out of band: 16 MiB through a default
 * (4 MiB) queue, in order with small ones; the largest accepted item
 * (max_item) goes through, one byte more is TP_ETOOBIG and nothing queued
 * is lost; the out-of-band segments are gone once taken. */
static void test_large_items(void **state)
{
	(void)state;
	tp_queue *q;
	tp_queue_stats st;
	int64_t v;
	void *b;
	size_t n, big = (size_t)16 << 20;
	unsigned char *blob = malloc(big);
	assert_non_null(blob);
	for (size_t i = 0; i < big; i++)
		blob[i] = (unsigned char)(i * 7);
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_queue_new(&q, NULL));
	TP_OK_OR_FAIL(tp_queue_put_int(q, 1, 0));
	TP_OK_OR_FAIL(tp_queue_put_bytes(q, blob, big, 0));
	TP_OK_OR_FAIL(tp_queue_put_int(q, 2, 0));
	TP_OK_OR_FAIL(tp_queue_get_int(q, &v, 0));
	assert_int_equal(v, 1);
	TP_EXPECT(tp_queue_get_int(q, &v, 0), TP_ETYPE); /* stays */
	TP_OK_OR_FAIL(tp_queue_get_bytes(q, &b, &n, 0));
	assert_int_equal(n, big);
	assert_memory_equal(b, blob, big);
	free(b);
	TP_OK_OR_FAIL(tp_queue_get_int(q, &v, 0));
	assert_int_equal(v, 2);
	TP_OK_OR_FAIL(tp_queue_stats_get(q, &st));
	assert_int_equal(st.out_of_band, 1);
	tp_queue_free(q);

	/* the limit, exactly */
	size_t max = (size_t)1 << 20, m = max - 8;
	while (encoded_bytes_item(m) < max)
		m++;
	assert_int_equal(encoded_bytes_item(m), max);
	tp_queue_opts o = {.max_item = max};
	TP_OK_OR_FAIL(tp_queue_new(&q, &o));
	TP_OK_OR_FAIL(tp_queue_put_int(q, 3, 0));
	TP_OK_OR_FAIL(tp_queue_put_bytes(q, blob, m, 0));
	TP_EXPECT(tp_queue_put_bytes(q, blob, m + 1, 0), TP_ETOOBIG);
	TP_OK_OR_FAIL(tp_queue_stats_get(q, &st));
	assert_int_equal(st.count, 2); /* nothing lost, nothing added */
	TP_OK_OR_FAIL(tp_queue_get_int(q, &v, 0));
	assert_int_equal(v, 3);
	TP_OK_OR_FAIL(tp_queue_get_bytes(q, &b, &n, 0));
	assert_int_equal(n, m);
	assert_memory_equal(b, blob, m);
	free(b);
	tp_queue_free(q);
	/* one value holds at most 4 GiB - 1, even when max_item allows more:
	 * refused before the data is read, nothing queued */
	tp_queue_opts wide = {.max_item = TP_QUEUE_ITEM_MAX};
	TP_OK_OR_FAIL(tp_queue_new(&q, &wide));
	TP_EXPECT(tp_queue_put_bytes(q, blob, (size_t)UINT32_MAX + 1, 0),
	          TP_ETOOBIG);
	TP_EXPECT(tp_queue_get_bytes(q, &b, &n, 0), TP_EEMPTY);
	tp_queue_free(q);
	tp_queue_opts huge = {.max_item = TP_QUEUE_ITEM_MAX + 1};
	TP_EXPECT(tp_queue_new(&q, &huge), TP_EINVAL);
	free(blob);
	tp_test_fini();
}

static void test_type_mismatch_keeps_item(void **state)
{
	(void)state;
	tp_queue *q;
	int64_t i;
	char *s;
	tp_payload *p;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_queue_new(&q, NULL));
	TP_OK_OR_FAIL(tp_queue_put_string(q, "end", -1));
	TP_EXPECT(tp_queue_get_int(q, &i, 0), TP_ETYPE);
	TP_EXPECT(tp_queue_get_bytes(q, (void **)&s, (size_t *)&i, 0),
	          TP_ETYPE);
	TP_OK_OR_FAIL(tp_queue_get_string(q, &s, 0));
	assert_string_equal(s, "end");
	free(s);
	TP_OK_OR_FAIL(tp_payload_new(&p)); /* two values: not an int */
	TP_OK_OR_FAIL(tp_payload_add_int(p, 1));
	TP_OK_OR_FAIL(tp_payload_add_int(p, 2));
	TP_OK_OR_FAIL(tp_queue_put(q, p, -1));
	tp_payload_free(p);
	TP_EXPECT(tp_queue_get_int(q, &i, 0), TP_ETYPE);
	TP_OK_OR_FAIL(tp_queue_get(q, &p, 0));
	assert_int_equal(tp_payload_count(p), 2);
	tp_payload_free(p);
	tp_queue_free(q);
	tp_test_fini();
}

/* Producer k puts k*1e6 + i for i < n, in order. */
static int producer(tp_queue *q, long k)
{
	for (long i = 0; i < 3000; i++)
		if (tp_queue_put_int(q, k * 1000000 + i, -1) != TP_OK)
			return 1;
	return 0;
}

/* Takes items until a none; checks FIFO per producer; puts its count and
 * sum on the queue of results passed as arg. */
static int consumer(tp_queue *q, long results)
{
	long last[3] = {-1, -1, -1}, count = 0, sum = 0;
	for (;;) {
		tp_payload *p;
		int64_t v;
		int grv = tp_queue_get(q, &p, 10000);
		if (grv != TP_OK) {
			fprintf(stderr, "consumer: get: %s\n",
			        tp_strerror(grv));
			return 1;
		}
		if (tp_payload_get_int(p, 0, &v) != TP_OK) {
			tp_payload_free(p);
			break;
		}
		tp_payload_free(p);
		long k = (long)(v / 1000000), i = (long)(v % 1000000);
		if (k < 0 || k > 2 || i <= last[k])
			return 2;
		last[k] = i;
		count++;
		sum += v;
	}
	tp_payload *res; /* one item: two puts could interleave */
	if (tp_payload_new(&res) != TP_OK || tp_payload_add_int(res, count) ||
	    tp_payload_add_int(res, sum))
		return 3;
	int rv = tp_queue_put((tp_queue *)results, res, -1);
	tp_payload_free(res);
	return rv;
}

static void test_many_producers_consumers(void **state)
{
	(void)state;
	tp_queue *q, *r;
	tp_payload *none;
	pid_t prod[3], cons[2];
	tp_queue_opts o = {.maxsize = 100};
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_queue_new(&q, &o));
	TP_OK_OR_FAIL(tp_queue_new(&r, NULL));
	for (int c = 0; c < 2; c++)
		cons[c] = start(consumer, q, (long)r);
	for (int k = 0; k < 3; k++)
		prod[k] = start(producer, q, k);
	for (int k = 0; k < 3; k++)
		assert_int_equal(reap(prod[k]), 0);
	TP_OK_OR_FAIL(tp_payload_new(&none));
	TP_OK_OR_FAIL(tp_payload_add_none(none));
	for (int c = 0; c < 2; c++)
		TP_OK_OR_FAIL(tp_queue_put(q, none, -1));
	tp_payload_free(none);
	for (int c = 0; c < 2; c++)
		assert_int_equal(reap(cons[c]), 0);
	long count = 0, sum = 0, want = 0;
	for (int c = 0; c < 2; c++) {
		int64_t n, s;
		tp_payload *res;
		TP_OK_OR_FAIL(tp_queue_get(r, &res, 0));
		TP_OK_OR_FAIL(tp_payload_get_int(res, 0, &n));
		TP_OK_OR_FAIL(tp_payload_get_int(res, 1, &s));
		tp_payload_free(res);
		count += n;
		sum += s;
	}
	for (long k = 0; k < 3; k++)
		for (long i = 0; i < 3000; i++)
			want += k * 1000000 + i;
	assert_int_equal(count, 9000);
	assert_int_equal(sum, want);
	tp_queue_stats st;
	TP_OK_OR_FAIL(tp_queue_stats_get(q, &st));
	assert_int_equal(st.puts, 9002);
	assert_int_equal(st.gets, 9002);
	assert_int_equal(st.count, 0);
	tp_queue_free(q);
	tp_queue_free(r);
	tp_test_fini();
}

static volatile long *counter;

static int counting_producer(tp_queue *q, long n)
{
	for (long i = 0; i < n; i++) {
		if (tp_queue_put_int(q, i, -1) != TP_OK)
			return 1;
		__atomic_store_n(counter, i + 1, __ATOMIC_RELEASE);
	}
	pause();
	return 0;
}

/* A producer killed after put returned loses nothing: every item whose
 * put returned is delivered, once, in order. */
static void test_kill_producer(void **state)
{
	(void)state;
	tp_queue *q;
	int64_t v;
	tp_test_init(TP_START_DEFAULT);
	counter = shared_counter();
	TP_OK_OR_FAIL(tp_queue_new(&q, NULL));
	pid_t p = start(counting_producer, q, 1000000);
	wait_counter(counter, 2000);
	kill(p, SIGKILL);
	assert_int_equal(reap(p), 128 + SIGKILL);
	long acked = *counter, got = 0;
	while (tp_queue_get_int(q, &v, 0) == TP_OK) {
		assert_int_equal(v, got);
		got++;
	}
	/* the last put may have returned just before the kill */
	assert_true(got == acked || got == acked + 1);
	tp_queue_stats st;
	TP_OK_OR_FAIL(tp_queue_stats_get(q, &st));
	assert_int_equal(st.puts, got);
	tp_queue_free(q);
	munmap((void *)counter, 4096);
	tp_test_fini();
}

/* The queue still works: x put, then got back. */
static void goes_on(tp_queue *q, int64_t x)
{
	int64_t v = 0;
	TP_OK_OR_FAIL(tp_queue_put_int(q, x, 0));
	TP_OK_OR_FAIL(tp_queue_get_int(q, &v, 0));
	assert_int_equal(v, x);
}

/* A producer killed between its two publishing stores: its put, whole,
 * then its tail store taken back, the journal left open and the lock
 * held, as a kill after `nput` and before `tail` leaves them. */
static int half_published_put(tp_queue *q, long v)
{
	struct q_shared *s = q->s;
	uint64_t tail0 = s->p.tail;
	if (tp_queue_put_int(q, v, -1) != TP_OK)
		return 1;
	if (tp__q_lock(q, &s->prod, NULL) != TP_OK)
		return 2;
	s->prod.jr.pos = s->p.tail;
	s->prod.jr.n = s->p.nput;
	s->prod.jr.active = 1;
	__atomic_store_n(&s->p.tail, tail0, __ATOMIC_RELEASE);
	_exit(0); /* the lock held: its owner dies */
}

/* The put of a producer killed between its two stores is completed by
 * whoever looks next: the count, a get that found the queue empty, and a
 * JoinableQueue's join never see an item consumers cannot get. */
static void test_producer_killed_between_stores(void **state)
{
	(void)state;
	tp_queue_opts o = {.kind = TP_QUEUE_JOINABLE};
	tp_test_init(TP_START_DEFAULT);
	for (int look = 0; look < 3; look++) {
		tp_queue *q;
		int64_t v;
		size_t n;
		tp_queue_stats st;
		TP_OK_OR_FAIL(tp_queue_new(&q, &o));
		assert_int_equal(reap(start(half_published_put, q, 42)), 0);
		if (look == 0) { /* the count first */
			TP_OK_OR_FAIL(tp_queue_qsize(q, &n));
			assert_int_equal(n, 1);
		} else if (look == 1) { /* a join: one task unfinished */
			TP_EXPECT(tp_queue_join(q, 0), TP_ETIMEDOUT);
		}
		TP_OK_OR_FAIL(tp_queue_get_int(q, &v, 0));
		assert_int_equal(v, 42);
		TP_EXPECT(tp_queue_get_int(q, &v, 0), TP_EEMPTY);
		TP_OK_OR_FAIL(tp_queue_task_done(q));
		TP_OK_OR_FAIL(tp_queue_join(q, 0));
		TP_OK_OR_FAIL(tp_queue_stats_get(q, &st));
		assert_int_equal(st.puts, 1);
		assert_int_equal(st.gets, 1);
		assert_int_equal(st.recovered, 1);
		assert_int_equal(st.count, 0);
		goes_on(q, 7);
		tp_queue_free(q);
	}
	tp_test_fini();
}

static void *consume_42(void *arg)
{
	int64_t v = 0;
	if (tp_queue_get_int(arg, &v, -1) != TP_OK || v != 42)
		return (void *)1;
	return tp_queue_task_done(arg) == TP_OK ? NULL : (void *)2;
}

static void *join_20s(void *arg)
{
	return (void *)(intptr_t)tp_queue_join(arg, 20000);
}

/* The same while a consumer waits in get and a join waits for the tasks,
 * both perhaps already asleep when the producer dies: nothing wakes them
 * but their own wait slices, whose re-checks complete the put. The join
 * returns, the consumer gets the item. */
static void test_join_across_producer_killed_between_stores(void **state)
{
	(void)state;
	tp_queue *q;
	pthread_t c, j;
	void *cr, *jr;
	tp_queue_opts o = {.kind = TP_QUEUE_JOINABLE};
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_queue_new(&q, &o));
	assert_int_equal(pthread_create(&c, NULL, consume_42, q), 0);
	assert_int_equal(pthread_create(&j, NULL, join_20s, q), 0);
	assert_int_equal(reap(start(half_published_put, q, 42)), 0);
	pthread_join(c, &cr);
	pthread_join(j, &jr);
	assert_null(cr);
	assert_int_equal((int)(intptr_t)jr, TP_OK);
	tp_queue_free(q);
	tp_test_fini();
}

static int counting_consumer(tp_queue *q, long n)
{
	int64_t v;
	for (long i = 0; i < n; i++) {
		if (tp_queue_get_int(q, &v, -1) != TP_OK || v != i)
			return 1;
		__atomic_store_n(counter, i + 1, __ATOMIC_RELEASE);
		/* Never done before the test's kill: a loaded machine could
		 * let it drain the queue first. The kill lands anywhere from
		 * item 1000 to here. */
		if (i + 1 == n / 2)
			for (;;)
				pause();
	}
	return 0;
}

/* A consumer killed mid-stream: what it took is gone with it (and its
 * exit is visible), everything else is still delivered exactly once. */
static void test_kill_consumer(void **state)
{
	(void)state;
	tp_queue *q;
	int64_t v;
	const long n = 100000;
	tp_test_init(TP_START_DEFAULT);
	counter = shared_counter();
	TP_OK_OR_FAIL(tp_queue_new(&q, NULL));
	for (long i = 0; i < n; i++)
		TP_OK_OR_FAIL(tp_queue_put_int(q, i, -1));
	pid_t c = start(counting_consumer, q, n);
	wait_counter(counter, 1000);
	kill(c, SIGKILL);
	assert_int_equal(reap(c), 128 + SIGKILL);
	long taken = *counter;
	TP_OK_OR_FAIL(tp_queue_get_int(q, &v, 0));
	assert_true(v == taken || v == taken + 1);
	long next = v + 1;
	while (tp_queue_get_int(q, &v, 0) == TP_OK)
		assert_int_equal(v, next++);
	assert_int_equal(next, n);
	tp_queue_free(q);
	munmap((void *)counter, 4096);
	tp_test_fini();
}

static int blocked_get(tp_queue *q, long arg)
{
	int64_t v;
	(void)arg;
	__atomic_add_fetch(counter, 1, __ATOMIC_ACQ_REL);
	int rv = tp_queue_get_int(q, &v, -1);
	return rv == TP_ECLOSED ? 0 : 1;
}

static int blocked_put(tp_queue *q, long arg)
{
	(void)arg;
	__atomic_add_fetch(counter, 1, __ATOMIC_ACQ_REL);
	return tp_queue_put_int(q, 9, -1) == TP_ECLOSED ? 0 : 1;
}

/* A consumer killed while it waits loses nothing. */
static void test_kill_waiting_consumer(void **state)
{
	(void)state;
	tp_queue *q;
	int64_t v;
	tp_test_init(TP_START_DEFAULT);
	counter = shared_counter();
	TP_OK_OR_FAIL(tp_queue_new(&q, NULL));
	pid_t c = start(blocked_get, q, 0);
	wait_counter(counter, 1);
	kill(c, SIGKILL);
	assert_int_equal(reap(c), 128 + SIGKILL);
	TP_OK_OR_FAIL(tp_queue_put_int(q, 5, -1));
	TP_OK_OR_FAIL(tp_queue_get_int(q, &v, 1000));
	assert_int_equal(v, 5);
	tp_queue_free(q);
	munmap((void *)counter, 4096);
	tp_test_fini();
}

/* close wakes every blocked caller with TP_ECLOSED; items left are still
 * handed out. */
static void test_close_wakes_blocked(void **state)
{
	(void)state;
	tp_queue *q, *full;
	tp_queue_opts one = {.maxsize = 1};
	int64_t v;
	pid_t kids[3];
	tp_test_init(TP_START_DEFAULT);
	counter = shared_counter();
	TP_OK_OR_FAIL(tp_queue_new(&q, NULL));
	kids[0] = start(blocked_get, q, 0);
	kids[1] = start(blocked_get, q, 0);
	wait_counter(counter, 2);
	TP_OK_OR_FAIL(tp_queue_new(&full, &one));
	TP_OK_OR_FAIL(tp_queue_put_int(full, 1, 0));
	kids[2] = start(blocked_put, full, 0);
	wait_counter(counter, 3);
	TP_OK_OR_FAIL(tp_queue_close(q));
	TP_OK_OR_FAIL(tp_queue_close(q)); /* twice is fine */
	TP_OK_OR_FAIL(tp_queue_close(full));
	for (int i = 0; i < 3; i++)
		assert_int_equal(reap(kids[i]), 0);
	assert_true(tp_queue_closed(q));
	TP_EXPECT(tp_queue_put_int(q, 1, 0), TP_ECLOSED);
	TP_OK_OR_FAIL(tp_queue_get_int(full, &v, 0)); /* drained first */
	TP_EXPECT(tp_queue_get_int(full, &v, -1), TP_ECLOSED);
	tp_queue_free(q);
	tp_queue_free(full);
	munmap((void *)counter, 4096);
	tp_test_fini();
}

/* A peer scribbling over the ring: a bad body is one rejected item, a bad
 * record header drops what cannot be framed; the queue keeps working. */
static void test_malformed_ring(void **state)
{
	(void)state;
	tp_queue *q;
	int64_t v;
	tp_queue_stats st;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_queue_new(&q, NULL));
	TP_OK_OR_FAIL(tp_queue_put_int(q, 1, 0));
	uint64_t second = q->s->p.tail;
	TP_OK_OR_FAIL(tp_queue_put_int(q, 2, 0));
	TP_OK_OR_FAIL(tp_queue_put_int(q, 3, 0));
	memset(q->ring + second + TP_Q_HDR, 0xff, 4); /* body */
	TP_OK_OR_FAIL(tp_queue_get_int(q, &v, 0));
	assert_int_equal(v, 1);
	TP_EXPECT(tp_queue_get_int(q, &v, 0), TP_EDECODE);
	TP_OK_OR_FAIL(tp_queue_get_int(q, &v, 0));
	assert_int_equal(v, 3);
	/* header scribbled */
	TP_OK_OR_FAIL(tp_queue_put_int(q, 6, 0));
	TP_OK_OR_FAIL(tp_queue_put_int(q, 7, 0));
	memset(q->ring + q->s->c.head % q->s->cap, 0x42, 8);
	TP_EXPECT(tp_queue_get_int(q, &v, 0), TP_EDECODE);
	TP_OK_OR_FAIL(tp_queue_stats_get(q, &st));
	assert_int_equal(st.count, 0);
	assert_int_equal(st.rejected, 3);
	goes_on(q, 8);
	tp_queue_free(q);
	tp_test_fini();
}

/* A child dies holding the producers' lock in the middle of a put: the
 * record is written and the journal armed, tail not yet moved (arg 1), or
 * only the lock taken (arg 0). The next locker completes a journaled put:
 * the item whose bytes were complete is delivered. */
static int die_in_put(tp_queue *q, long arg)
{
	struct q_shared *s = q->s;
	tp_payload *p;
	void *buf;
	size_t len;
	tp__q_lock(q, &s->prod, NULL);
	if (arg == 0)
		_exit(0);
	tp_payload_new(&p);
	tp_payload_add_int(p, 12);
	tp_payload_encode(p, 0, &buf, &len);
	uint32_t hdr[2] = {(uint32_t)len, ~(uint32_t)len ^ TP_Q_CHECK};
	tp__q_ring_write(q, s->p.tail, hdr, TP_Q_HDR);
	tp__q_ring_write(q, s->p.tail + TP_Q_HDR, buf, len);
	s->prod.jr.pos = s->p.tail + tp__q_rec(len);
	s->prod.jr.n = s->p.nput + 1;
	s->prod.jr.active = 1;
	_exit(0);
}

/* ... and in a get, after head moved (arg 1: the item is taken, and
 * reported lost with its consumer) or before (arg 0: it stays). */
static int die_in_get(tp_queue *q, long arg)
{
	struct q_shared *s = q->s;
	int slot = tp__q_slot(q);
	tp__q_lock(q, &s->cons, NULL);
	s->cons.jr.pos = s->c.head + 16; /* an int item's record */
	s->cons.jr.n = s->c.nget + 1;
	s->cons.jr.slot = slot;
	s->cons.jr.active = 1;
	if (arg == 1)
		s->c.head += 16;
	_exit(0);
}

static void test_holder_killed_in_lock(void **state)
{
	(void)state;
	tp_queue *q;
	tp_queue_stats st;
	int64_t v;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_queue_new(&q, NULL));
	TP_OK_OR_FAIL(tp_queue_put_int(q, 11, 0));
	assert_int_equal(reap(start(die_in_put, q, 0)), 0);
	assert_int_equal(reap(start(die_in_put, q, 1)), 0);
	TP_OK_OR_FAIL(tp_queue_put_int(q, 13, 0)); /* recovers twice */
	TP_OK_OR_FAIL(tp_queue_stats_get(q, &st));
	assert_int_equal(st.recovered, 2);
	assert_int_equal(st.count, 3);
	assert_int_equal(reap(start(die_in_get, q, 0)), 0);
	TP_OK_OR_FAIL(tp_queue_get_int(q, &v, 0));
	assert_int_equal(v, 11); /* still there */
	assert_int_equal(reap(start(die_in_get, q, 1)), 0);
	TP_OK_OR_FAIL(tp_queue_get_int(q, &v, 0));
	assert_int_equal(v, 13); /* 12 went with the dead consumer ... */
	TP_OK_OR_FAIL(tp_queue_stats_get(q, &st));
	assert_int_equal(st.recovered, 4);
	assert_int_equal(st.lost, 1); /* ... and that is reported */
	assert_int_equal(st.count, 0);
	TP_EXPECT(tp_queue_get_int(q, &v, 0), TP_EEMPTY);
	tp_queue_free(q);
	tp_test_fini();
}

static int worker_task_done(tp_queue *q, long kill_after)
{
	int64_t v;
	for (long i = 0;; i++) {
		if (tp_queue_get_int(q, &v, -1) != TP_OK)
			return 0;
		if (i == kill_after)
			raise(SIGKILL); /* took an item, never done */
		if (tp_queue_task_done(q) != TP_OK)
			return 1;
	}
}

static void test_joinable(void **state)
{
	(void)state;
	tp_queue *q;
	int64_t v;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_joinable_queue_new(&q, 0));
	assert_int_equal(tp_queue_kind_of(q), TP_QUEUE_JOINABLE);
	TP_OK_OR_FAIL(tp_queue_join(q, 0)); /* nothing put yet */
	TP_OK_OR_FAIL(tp_queue_put_int(q, 1, 0));
	TP_OK_OR_FAIL(tp_queue_put_int(q, 2, 0));
	TP_EXPECT(tp_queue_join(q, 20), TP_ETIMEDOUT);
	TP_OK_OR_FAIL(tp_queue_get_int(q, &v, 0));
	TP_OK_OR_FAIL(tp_queue_task_done(q));
	TP_OK_OR_FAIL(tp_queue_get_int(q, &v, 0));
	TP_OK_OR_FAIL(tp_queue_task_done(q));
	TP_EXPECT(tp_queue_task_done(q), TP_EVALUE);
	TP_OK_OR_FAIL(tp_queue_join(q, 0));

	/* across processes: join returns when the worker is done */
	for (int i = 0; i < 500; i++)
		TP_OK_OR_FAIL(tp_queue_put_int(q, i, -1));
	pid_t w = start(worker_task_done, q, -1);
	TP_OK_OR_FAIL(tp_queue_join(q, 20000));
	TP_OK_OR_FAIL(tp_queue_close(q));
	assert_int_equal(reap(w), 0);
	tp_queue_free(q);

	/* a worker killed after taking an item: the item stays unfinished
	 * (join reports it by timing out), the rest is accounted right */
	TP_OK_OR_FAIL(tp_joinable_queue_new(&q, 0));
	for (int i = 0; i < 10; i++)
		TP_OK_OR_FAIL(tp_queue_put_int(q, i, -1));
	assert_int_equal(reap(start(worker_task_done, q, 3)), 128 + SIGKILL);
	tp_queue_stats st;
	TP_OK_OR_FAIL(tp_queue_stats_get(q, &st));
	assert_int_equal(st.count, 6);
	assert_int_equal(st.unfinished, 7);
	TP_EXPECT(tp_queue_join(q, 20), TP_ETIMEDOUT);
	TP_OK_OR_FAIL(tp_queue_close(q));
	TP_EXPECT(tp_queue_join(q, -1), TP_ECLOSED);
	tp_queue_free(q);
	tp_test_fini();
}

static void test_simple_queue(void **state)
{
	(void)state;
	tp_queue *q;
	char *s;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_simple_queue_new(&q));
	assert_int_equal(tp_queue_kind_of(q), TP_QUEUE_SIMPLE);
	assert_true(tp_queue_empty(q));
	TP_OK_OR_FAIL(tp_queue_put_string(q, "e", -1));
	assert_false(tp_queue_empty(q));
	TP_OK_OR_FAIL(tp_queue_get_string(q, &s, -1));
	free(s);
	TP_OK_OR_FAIL(tp_queue_close(q));
	TP_EXPECT(tp_queue_get_string(q, &s, -1), TP_ECLOSED);
	tp_queue_free(q);
	tp_test_fini();
}

/* A queue travels inside a payload (as to a pool worker) and the child
 * attaches to it by name. */
static int via_handle(tp_queue *unused, long arg)
{
	const tp_payload *args = (const tp_payload *)arg;
	tp_queue *q;
	(void)unused;
	if (tp_payload_get_queue(args, 1, &q) != TP_OK)
		return 1;
	int rv = tp_queue_put_string(q, "from child", -1);
	tp_queue_free(q);
	return rv;
}

static void test_pass_in_payload(void **state)
{
	(void)state;
	tp_queue *q, *q2;
	tp_payload *args;
	char *s;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_queue_new(&q, NULL));
	TP_OK_OR_FAIL(tp_payload_new(&args));
	TP_OK_OR_FAIL(tp_payload_add_int(args, 0));
	TP_OK_OR_FAIL(tp_payload_add_queue(args, q));
	assert_int_equal(reap(start(via_handle, NULL, (long)args)), 0);
	TP_OK_OR_FAIL(tp_queue_get_string(q, &s, 1000));
	assert_string_equal(s, "from child");
	free(s);
	TP_EXPECT(tp_payload_get_queue(args, 0, &q2), TP_ETYPE);
	TP_EXPECT(tp_payload_get_queue(args, 5, &q2), TP_ENOENT);
	TP_EXPECT(tp_payload_get_queue(args, 1, NULL), TP_EINVAL);
	TP_EXPECT(tp_payload_get_queue(NULL, 1, &q2), TP_EINVAL);
	/* A handle of another kind (a pipe end) is not a queue. */
	tp_conn *ra, *rb;
	TP_OK_OR_FAIL(tp_pipe_new(&ra, &rb, 1));
	TP_OK_OR_FAIL(tp_payload_add_conn(args, ra));
	TP_EXPECT(tp_payload_get_queue(args, 2, &q2), TP_ETYPE);
	tp_conn_free(ra);
	tp_conn_free(rb);
	TP_EXPECT(tp_payload_add_queue(NULL, q), TP_EINVAL);
	tp_payload_free(args);
	tp_queue_free(q);
	tp_test_fini();
}

/* A troupe child (fork server or spawn: a fresh process that never saw
 * the parent's handle) gets the queue in its arguments. */
static int q_target(const tp_payload *args, tp_payload *result)
{
	tp_queue *q;
	int64_t v;
	(void)result;
	int rv = tp_payload_get_queue(args, 0, &q);
	if (rv != TP_OK) {
		fprintf(stderr, "q_target: attach: %s\n", tp_strerror(rv));
		return 1;
	}
	rv = tp_queue_get_int(q, &v, 10000);
	if (rv == TP_OK)
		rv = tp_queue_put_int(q, v * 10, -1);
	if (rv != TP_OK)
		fprintf(stderr, "q_target: %s\n", tp_strerror(rv));
	tp_queue_free(q);
	return rv == TP_OK ? 0 : 2;
}
TP_TARGET(q_target)

static void pass_to_process(tp_start_method m)
{
	tp_queue *q;
	tp_payload *args;
	tp_process *p;
	int code;
	int64_t v;
	tp_test_init(m);
	TP_OK_OR_FAIL(tp_queue_new(&q, NULL));
	TP_OK_OR_FAIL(tp_payload_new(&args));
	TP_OK_OR_FAIL(tp_payload_add_queue(args, q));
	TP_OK_OR_FAIL(tp_process_new(&p, q_target, args, NULL));
	TP_OK_OR_FAIL(tp_process_start(p));
	TP_OK_OR_FAIL(tp_queue_put_int(q, 4, -1));
	TP_OK_OR_FAIL(tp_process_join(p, 20000));
	TP_OK_OR_FAIL(tp_process_exitcode(p, &code));
	assert_int_equal(code, 0);
	TP_OK_OR_FAIL(tp_queue_get_int(q, &v, 0));
	assert_int_equal(v, 40);
	tp_process_free(p);
	tp_payload_free(args);
	tp_queue_free(q);
	tp_test_fini();
}

static void test_pass_to_forkserver_child(void **state)
{
	(void)state;
	pass_to_process(TP_START_FORKSERVER);
}

static void test_pass_to_spawned_child(void **state)
{
	(void)state;
	pass_to_process(TP_START_SPAWN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_put_get_every_type),
	    cmocka_unit_test(test_mixed_list_every_type),
	    cmocka_unit_test(test_full_and_too_big),
	    cmocka_unit_test(test_codec),
	    cmocka_unit_test(test_large_items),
	    cmocka_unit_test(test_type_mismatch_keeps_item),
	    cmocka_unit_test(test_many_producers_consumers),
	    cmocka_unit_test(test_kill_producer),
	    cmocka_unit_test(test_producer_killed_between_stores),
	    cmocka_unit_test(test_join_across_producer_killed_between_stores),
	    cmocka_unit_test(test_kill_consumer),
	    cmocka_unit_test(test_kill_waiting_consumer),
	    cmocka_unit_test(test_close_wakes_blocked),
	    cmocka_unit_test(test_malformed_ring),
	    cmocka_unit_test(test_holder_killed_in_lock),
	    cmocka_unit_test(test_joinable),
	    cmocka_unit_test(test_simple_queue),
	    cmocka_unit_test(test_pass_in_payload),
	    cmocka_unit_test(test_pass_to_forkserver_child),
	    cmocka_unit_test(test_pass_to_spawned_child),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
