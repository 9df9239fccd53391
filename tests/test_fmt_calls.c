/*
 * test_fmt_calls.c - the concise API on troupe's objects (troupe/fmt.h):
 * object letters travel to a child and back, an object of the wrong kind
 * is refused and undone, tp_print/tp_printf print what Python prints, and
 * the shorthands (process, pool, manager) do what their long forms do.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "troupe/fmt.h"

static int setup(void **state)
{
	(void)state;
	tp_test_init(TP_START_FORKSERVER);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tp_test_fini();
	return 0;
}

/* A child gets a Lock, a Queue, an Event, a Value and an Array by letter,
 * uses each, and answers on the queue. */
TP_TASK(use_all)
{
	tp_lock *l;
	tp_queue *q;
	tp_event *e;
	tp_value *v;
	tp_array *a;
	int n;
	TP_TRY(tp_unpack(args, "LQEVAi", &l, &q, &e, &v, &a, &n));
	TP_TRY(tp_lock_acquire(l, 5000));
	tp_value_add_long(v, n, NULL);
	tp_array_set_long(a, 1, n);
	tp_lock_release(l);
	tp_event_set(e);
	tp_queue_put_string(q, "done", 5000);
	return tp_free("LQEVA", l, q, e, v, a);
}

static void test_objects_travel_by_letter(void **state)
{
	(void)state;
	tp_lock *l;
	tp_queue *q;
	tp_event *e;
	tp_value *v;
	tp_array *a;
	tp_process *p;
	tp_payload *got;
	char buf[64];
	TP_OK_OR_FAIL(tp_lock_new(&l));
	TP_OK_OR_FAIL(tp_queue_new(&q, NULL));
	TP_OK_OR_FAIL(tp_event_new(&e));
	TP_OK_OR_FAIL(tp_value_new(&v, 'i', NULL, NULL));
	TP_OK_OR_FAIL(tp_array_new(&a, 'i', 3, NULL, NULL));
	TP_OK_OR_FAIL(
	    tp_process_startf(&p, use_all, "LQEVAi", l, q, e, v, a, 7));
	TP_OK_OR_FAIL(tp_queue_get(q, &got, 10000));
	assert_true(tp_is_str(got, 0, "done"));
	TP_OK_OR_FAIL(tp_process_join(p, 10000));
	assert_int_equal(tp_event_is_set(e), 1);
	assert_string_equal(tp_value_repr(v, buf, sizeof(buf)), "7");
	assert_string_equal(tp_array_repr(a, buf, sizeof(buf)), "[0, 7, 0]");
	int code = -1;
	TP_OK_OR_FAIL(tp_process_exitcode(p, &code));
	assert_int_equal(code, 0);
	assert_int_equal(tp_free("PTLQEVA", got, p, l, q, e, v, a), TP_OK);
}

/* An object of another kind: TP_ETYPE, the ones attached before it are
 * freed and NULLed, nothing leaks (ASan checks). */
static void test_wrong_kind_is_undone(void **state)
{
	(void)state;
	tp_lock *l, *l2 = NULL;
	tp_event *e;
	tp_queue *q = (tp_queue *)&q;
	tp_payload *p;
	char why[160];
	TP_OK_OR_FAIL(tp_lock_new(&l));
	TP_OK_OR_FAIL(tp_event_new(&e));
	TP_OK_OR_FAIL(tp_pack_new(&p, "LE", l, e));
	assert_int_equal(tp_unpack(p, "LQ", &l2, &q), TP_ETYPE);
	assert_null(l2);
	/* A plain value where an object is wanted, with the message. */
	TP_OK_OR_FAIL(tp_pack(p, "i", 3));
	assert_int_equal(tp_unpack_why(p, "..L", why, sizeof(why)), TP_ETYPE);
	assert_string_equal(why, "value 3: format 'L' wants Lock, got int (3)");
	assert_int_equal(tp_pack(p, "L", (tp_lock *)NULL), TP_EINVAL);
	assert_int_equal(tp_payload_count(p), 3);
	assert_int_equal(tp_free("PLE", p, l, e), TP_OK);
	assert_int_equal(tp_free("Z", NULL), TP_EINVAL);
	assert_int_equal(tp_free(NULL), TP_EINVAL);
}

/* Runs fn with stdout into a pipe; returns what it printed. */
static void captured(void (*fn)(void), char *out, size_t len)
{
	int fds[2], saved = dup(1);
	assert_int_equal(pipe(fds), 0);
	fflush(stdout);
	dup2(fds[1], 1);
	close(fds[1]);
	fn();
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	ssize_t n = read(fds[0], out, len - 1);
	out[n > 0 ? n : 0] = '\0';
	close(fds[0]);
}

static void prints(void)
{
	tp_payload *p;
	tp_pack_new(&p, "isdn", 1, "a'b", 0.1, NULL);
	tp_print("sid", "pi is", 3, 0.14);
	tp_print("P", p);
	tp_print("p", p);
	tp_print("");
	tp_print("zb", NULL, "\x01", (size_t)1);
	tp_printf("%s=%d\n", "x", 5);
	assert_int_equal(tp_print("s?", "no"), TP_EINVAL);
	tp_payload_free(p);
}

static void test_print_is_pythons(void **state)
{
	(void)state;
	char out[512];
	captured(prints, out, sizeof(out));
	assert_string_equal(out, "pi is 3 0.14\n"
	                         "[1, \"a'b\", 0.1, None]\n"
	                         "1 a'b 0.1 None\n"
	                         "\n"
	                         "None b'\\x01'\n"
	                         "x=5\n");
}

TP_TASK(square)
{
	int x;
	return tp_unpack(args, "i", &x) || tp_pack(result, "i", x * x);
}

static int on_ok(const tp_payload *value, void *arg)
{
	int64_t v;
	if (tp_unpack(value, "l", &v) == TP_OK)
		*(int64_t *)arg = v;
	return 0;
}

/* A Pipe end travels by 'C'; tp_conn_sendf sends an inline list. */
TP_TASK(echo)
{
	tp_conn *c;
	TP_TRY(tp_unpack(args, "C", &c));
	int rv = tp_conn_sendf(c, "ins", 42, "hello");
	return tp_free("C", c) || rv;
}

static void test_pipe_end_by_letter(void **state)
{
	(void)state;
	tp_conn *a, *b;
	tp_payload *msg = NULL;
	tp_process *p;
	char buf[64];
	TP_OK_OR_FAIL(tp_pipe_new(&a, &b, 1));
	TP_OK_OR_FAIL(tp_process_startf(&p, echo, "C", b));
	TP_OK_OR_FAIL(tp_conn_recv(a, &msg, 10000));
	assert_string_equal(tp_repr(msg, buf, sizeof(buf)),
	                    "[42, None, 'hello']");
	TP_OK_OR_FAIL(tp_process_join(p, 10000));
	assert_int_equal(tp_conn_sendf(a, "s", (const char *)NULL), TP_EINVAL);
	assert_int_equal(tp_free("PTCC", msg, p, a, b), TP_OK);
}

static void test_pool_shorthands(void **state)
{
	(void)state;
	tp_pool *pool;
	tp_payload *out = NULL, *range;
	tp_pool_result *r;
	int64_t seen = 0, y;
	char buf[64];
	TP_OK_OR_FAIL(tp_pool_new(&pool, 2, NULL, NULL, 0));
	TP_OK_OR_FAIL(tp_pool_applyf(pool, square, &out, "i", 12));
	TP_OK_OR_FAIL(tp_unpack(out, "l", &y));
	assert_int_equal(y, 144);
	tp_payload_free(out);
	TP_OK_OR_FAIL(tp_pool_mapf(pool, square, &out, "iii", 1, 2, 3));
	assert_string_equal(tp_repr(out, buf, sizeof(buf)), "[1, 4, 9]");
	tp_payload_free(out);
	TP_OK_OR_FAIL(tp_range(&range, 3, 6));
	assert_string_equal(tp_repr(range, buf, sizeof(buf)), "[3, 4, 5]");
	TP_OK_OR_FAIL(
	    tp_pool_submit(pool, square, on_ok, NULL, &seen, &r, "i", 9));
	TP_OK_OR_FAIL(tp_pool_result_get(r, &out, 10000));
	TP_OK_OR_FAIL(tp_unpack(out, "l", &y));
	assert_int_equal(y, 81);
	/* A bad format fails before anything is submitted. */
	assert_int_equal(tp_pool_applyf(pool, square, &out, "i?", 1),
	                 TP_EINVAL);
	assert_int_equal(tp_pool_submit(pool, square, NULL, NULL, NULL, NULL,
	                                "s", (const char *)NULL),
	                 TP_EINVAL);
	/* A task given the wrong type fails with TP_ETYPE. */
	tp_payload *bad = NULL;
	assert_int_not_equal(tp_pool_applyf(pool, square, &bad, "s", "x"),
	                     TP_OK);
	tp_free("PPRO", out, range, r, pool);
	assert_int_equal(seen, 81); /* the callback ran before get returned */
}

TP_TASK_INT(cube, x)
{
	return x * x * x;
}

/* `with Pool(n) as p: p.map(f, range(...))` in one call; "r" is range;
 * TP_TASK_INT checks its argument. */
static void test_run_map_and_range(void **state)
{
	(void)state;
	tp_payload *out = NULL, *p;
	char buf[96];
	TP_OK_OR_FAIL(tp_pool_run_mapf(3, cube, &out, "r", 0, 5));
	assert_string_equal(tp_repr(out, buf, sizeof(buf)),
	                    "[0, 1, 8, 27, 64]");
	tp_payload_free(out);
	TP_OK_OR_FAIL(tp_pack_new(&p, "r s r r", -2, 1, "x", 5, 5, 7, 9));
	assert_string_equal(tp_repr(p, buf, sizeof(buf)),
	                    "[-2, -1, 0, 'x', 7, 8]");
	/* 'x' is no int: the task fails, so the map does */
	assert_int_equal(tp_pool_run_map(0, cube, p, &out), TP_EREMOTE);
	assert_null(out);
	int a, b;
	assert_int_equal(tp_unpack(p, "r*", &a, &b), TP_EINVAL);
	tp_payload_clear(p);
	TP_OK_OR_FAIL(tp_pool_run_map(2, cube, p, &out)); /* no items */
	assert_string_equal(tp_repr(out, buf, sizeof(buf)), "[]");
	tp_payload_free(out);
	assert_int_equal(tp_pool_run_map(2, NULL, p, &out), TP_EINVAL);
	assert_int_equal(tp_pool_run_map(2, cube, NULL, &out), TP_EINVAL);
	assert_int_equal(tp_pool_run_map(2, cube, p, NULL), TP_EINVAL);
	assert_int_equal(tp_pool_run_mapf(2, cube, &out, "r?", 1, 2),
	                 TP_EINVAL);
	assert_int_equal(tp_pool_run_mapf(2, cube, &out, NULL), TP_EINVAL);
	assert_int_equal(tp_pool_run_map(-1, cube, p, &out), TP_EINVAL);
	tp_payload_free(p);
}

TP_TASK(noop)
{
	return 0;
}

static void test_process_startf_without_handle(void **state)
{
	(void)state;
	tp_process *p = (tp_process *)&p;
	assert_int_equal(tp_process_startf(&p, noop, "?"), TP_EINVAL);
	assert_null(p);
	for (int i = 0; i < 3; i++) /* kept, joined by fini, freed at exit */
		TP_OK_OR_FAIL(tp_process_startf(NULL, noop, "i", i));
}

static void test_manager_shorthands(void **state)
{
	(void)state;
	tp_manager *m;
	tp_proxy *v, *l, *q, *s;
	tp_payload *got;
	int64_t x = 0;
	TP_OK_OR_FAIL(tp_manager_start(&m, NULL));
	TP_OK_OR_FAIL(tp_manager_valuef(m, &v, "i", 40));
	TP_OK_OR_FAIL(tp_manager_valuef(m, &s, "s", "text"));
	TP_OK_OR_FAIL(tp_manager_lock(m, &l));
	TP_OK_OR_FAIL(tp_manager_queue(m, 0, &q));
	TP_OK_OR_FAIL(tp_mvalue_add(v, l, 2, &x));
	assert_int_equal(x, 42);
	TP_OK_OR_FAIL(tp_mvalue_add(v, NULL, -2, NULL));
	TP_OK_OR_FAIL(tp_mvalue_long(v, &x));
	assert_int_equal(x, 40);
	assert_int_equal(tp_mvalue_add(s, l, 1, NULL), TP_ETYPE);
	assert_int_equal(tp_mvalue_long(s, &x), TP_ETYPE);
	/* the lock was released after the failed add */
	TP_OK_OR_FAIL(tp_mlock_acquire(l, 0));
	TP_OK_OR_FAIL(tp_mlock_release(l));
	TP_OK_OR_FAIL(tp_mqueue_putf(q, -1, "s", "end"));
	TP_OK_OR_FAIL(tp_mqueue_putf(q, -1, "d", 0.5));
	assert_int_equal(tp_mqueue_putf(q, -1, "ii", 1, 2), TP_EINVAL);
	assert_int_equal(tp_manager_valuef(m, &s, "", 0), TP_EINVAL);
	TP_OK_OR_FAIL(tp_pack_new(&got, ""));
	TP_OK_OR_FAIL(tp_mqueue_get(q, got, 1000));
	TP_OK_OR_FAIL(tp_mqueue_get(q, got, 1000));
	char buf[64];
	assert_string_equal(tp_repr(got, buf, sizeof(buf)), "['end', 0.5]");
	tp_free("PXXXXM", got, v, s, l, q, m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_objects_travel_by_letter),
	    cmocka_unit_test(test_wrong_kind_is_undone),
	    cmocka_unit_test(test_print_is_pythons),
	    cmocka_unit_test(test_pipe_end_by_letter),
	    cmocka_unit_test(test_pool_shorthands),
	    cmocka_unit_test(test_run_map_and_range),
	    cmocka_unit_test(test_process_startf_without_handle),
	    cmocka_unit_test(test_manager_shorthands),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
