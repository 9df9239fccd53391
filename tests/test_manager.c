/* test_manager.c - the manager: every shared type from other processes,
 * blocking calls, user types, remote use over loopback TCP with the right
 * and a wrong key, malformed and unauthenticated messages, a client killed
 * while holding a lock, the manager killed while a client waits. */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "mgr_util.h"
#include "runtime_int.h"
#include "testutil.h"
#include "troupe/fmt.h"

static char repr[512];

static const char *rp(tp_proxy *px)
{
	return tp_proxy_repr(px, repr, sizeof(repr));
}

/* Under the fork start method a child inherits the parent's memory,
 * connections included: it must open its own (the cache skips inherited
 * ones) and an inherited proxy refuses to work (TP_ESTATE). */
static tp_proxy *g_inherited;

static int t_forked(const tp_payload *args, tp_payload *res)
{
	tp_proxy *d = arg_proxy(args, 0);
	int64_t n = 0;
	(void)res;
	if (tp_dict_set(d, tp_str("child"), tp_int(1)) != TP_OK ||
	    tp_dict_len(d, &n) != TP_OK || n != 2)
		return 1;
	if (tp_dict_len(g_inherited, &n) != TP_ESTATE)
		return 2;
	tp_proxy_free(d);
	return 0;
}
TP_TARGET(t_forked);

static void test_fork_method_child(void **state)
{
	tp_manager *m;
	tp_proxy *d;
	tp_payload *args;
	(void)state;
	tp_test_init(TP_START_FORK);
	TP_OK_OR_FAIL(tp_manager_start(&m, NULL));
	TP_OK_OR_FAIL(tp_manager_dict(m, &d));
	TP_OK_OR_FAIL(tp_payload_new(&args));
	TP_OK_OR_FAIL(tp_payload_add_proxy(args, d));
	/* a cached connection in the parent, as a child would have */
	TP_OK_OR_FAIL(tp_payload_get_proxy(args, 0, NULL, 0, &g_inherited));
	TP_OK_OR_FAIL(tp_dict_set(g_inherited, tp_str("parent"), tp_int(0)));
	run_child(t_forked, args, 0);
	tp_proxy_free(g_inherited);
	tp_proxy_free(d);
	tp_payload_free(args);
	TP_OK_OR_FAIL(tp_manager_shutdown(m));
	tp_test_fini();
}

/* The seed's f(d, l), plus a namespace, a value and a list. */
static int t_writer(const tp_payload *args, tp_payload *res)
{
	tp_proxy *d = arg_proxy(args, 0), *l = arg_proxy(args, 1);
	tp_proxy *ns = arg_proxy(args, 2), *v = arg_proxy(args, 3);
	(void)res;
	int rv = tp_dict_set(d, tp_int(1), tp_str("1"));
	rv |= tp_dict_set(d, tp_str("2"), tp_int(2));
	rv |= tp_dict_set(d, tp_dbl(0.25), tp_none());
	rv |= tp_list_reverse(l);
	rv |= tp_ns_set(ns, "x", tp_int(7));
	rv |= tp_ns_set(ns, "name", tp_str("it's"));
	rv |= tp_value_set(v, tp_dbl(3.1415927));
	tp_proxy_free(d);
	tp_proxy_free(l);
	tp_proxy_free(ns);
	tp_proxy_free(v);
	return rv == TP_OK ? 0 : 1;
}
TP_TARGET(t_writer);

static void objects_across_processes(tp_start_method method,
                                     const tp_manager_opts *o)
{
	tp_manager *m;
	tp_proxy *d, *l, *ns, *v;
	tp_payload *items, *args, *out;
	tp_test_init(method);
	TP_OK_OR_FAIL(tp_manager_start(&m, o));
	assert_true(tp_manager_pid(m) > 0);
	TP_OK_OR_FAIL(tp_payload_new(&items));
	for (int i = 0; i < 10; i++)
		TP_OK_OR_FAIL(tp_payload_add_int(items, i));
	TP_OK_OR_FAIL(tp_manager_dict(m, &d));
	TP_OK_OR_FAIL(tp_manager_list(m, items, &l));
	TP_OK_OR_FAIL(tp_manager_namespace(m, &ns));
	TP_OK_OR_FAIL(tp_manager_create(m, "value", NULL, &v));
	assert_string_equal(tp_proxy_type(l), "list");
	TP_OK_OR_FAIL(tp_payload_new(&args));
	TP_OK_OR_FAIL(tp_payload_add_proxy(args, d));
	TP_OK_OR_FAIL(tp_payload_add_proxy(args, l));
	TP_OK_OR_FAIL(tp_payload_add_proxy(args, ns));
	TP_OK_OR_FAIL(tp_payload_add_proxy(args, v));
	run_child(t_writer, args, 0);
	assert_string_equal(rp(d), "{1: '1', '2': 2, 0.25: None}");
	assert_string_equal(rp(l), "[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]");
	assert_string_equal(rp(ns), "Namespace(name=\"it's\", x=7)");
	assert_string_equal(rp(v), "Value(None, 3.1415927)");
	TP_OK_OR_FAIL(tp_payload_new(&out));
	TP_OK_OR_FAIL(tp_ns_get(ns, "x", out));
	TP_EXPECT(tp_ns_get(ns, "y", out), TP_ENOENT);
	int64_t x = 0;
	TP_OK_OR_FAIL(tp_payload_get_int(out, 0, &x));
	assert_int_equal(x, 7);
	tp_payload_free(out);
	tp_payload_free(items);
	tp_payload_free(args);
	tp_proxy_free(d);
	tp_proxy_free(l);
	tp_proxy_free(ns);
	tp_proxy_free(v);
	TP_OK_OR_FAIL(tp_manager_shutdown(m));
	tp_test_fini();
}

/* The manager and its clients under the fork server and under spawn. */
static void test_objects_across_processes(void **state)
{
	(void)state;
	objects_across_processes(TP_START_FORKSERVER, NULL);
	objects_across_processes(TP_START_SPAWN, NULL);
}

static int64_t int_at(const tp_payload *p, size_t i)
{
	int64_t v = -999;
	TP_OK_OR_FAIL(tp_payload_get_int(p, i, &v));
	return v;
}

/* Reprs as Python prints them: floats shortest (100.0, not 1e+02), a
 * Namespace sorted as Python sorts "name=value" and without _names. */
static void test_python_reprs(void **state)
{
	tp_manager *m;
	tp_proxy *ns, *v, *d;
	tp_payload *out;
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_manager_start(&m, NULL));
	TP_OK_OR_FAIL(tp_manager_namespace(m, &ns));
	assert_string_equal(rp(ns), "Namespace()");
	TP_OK_OR_FAIL(tp_ns_set(ns, "_secret", tp_int(1)));
	assert_string_equal(rp(ns), "Namespace()");
	TP_OK_OR_FAIL(tp_ns_set(ns, "x", tp_dbl(100.0)));
	TP_OK_OR_FAIL(tp_ns_set(ns, "a", tp_int(1)));
	TP_OK_OR_FAIL(tp_ns_set(ns, "a0", tp_int(2)));
	TP_OK_OR_FAIL(tp_ns_set(ns, "b", tp_dbl(1e16)));
	TP_OK_OR_FAIL(tp_ns_set(ns, "__dunder", tp_str("hidden")));
	/* python3 -c "from multiprocessing.managers import Namespace as N;
	 * print(N(x=100.0, _secret=1, a=1, a0=2, b=1e16))" */
	assert_string_equal(rp(ns), "Namespace(a0=2, a=1, b=1e+16, x=100.0)");
	TP_OK_OR_FAIL(tp_payload_new(&out)); /* hidden from repr, still there */
	TP_OK_OR_FAIL(tp_ns_get(ns, "_secret", out));
	assert_int_equal(int_at(out, 0), 1);
	tp_payload_free(out);
	TP_OK_OR_FAIL(tp_manager_create(m, "value", NULL, &v));
	TP_OK_OR_FAIL(tp_value_set(v, tp_dbl(100.0)));
	assert_string_equal(rp(v), "Value(None, 100.0)");
	TP_OK_OR_FAIL(tp_value_set(v, tp_dbl(0.1 + 0.2)));
	assert_string_equal(rp(v), "Value(None, 0.30000000000000004)");
	TP_OK_OR_FAIL(tp_manager_dict(m, &d));
	TP_OK_OR_FAIL(tp_dict_set(d, tp_dbl(2.5e-05), tp_dbl(-0.0)));
	assert_string_equal(rp(d), "{2.5e-05: -0.0}");
	tp_proxy_free(ns);
	tp_proxy_free(v);
	tp_proxy_free(d);
	TP_OK_OR_FAIL(tp_manager_shutdown(m));
	tp_test_fini();
}

/* str() of Python's own proxies for the same objects, from python3 when
 * it runs (else what it printed when this test was written). */
#define PY_PROXIES                                                             \
	"Value('d', 3.1415927)\nValue('i', 0)\nValue(None, 'x')\n"             \
	"Namespace(a0=2, a=1, b=1e+16, x=100.0)\n"                             \
	"{1: '1', '2': 2, 0.25: None}\n[9, 8, 7.5, None, b'\\x00']\n"          \
	"array('d', [1.0, 2.5])\n"

static void test_proxy_reprs_are_pythons(void **state)
{
	tp_manager *m;
	tp_proxy *px[7];
	tp_payload *items;
	char ours[1024] = "", py[1024] = "";
	(void)state;
	FILE *f = popen(
	    "python3 -c \"from multiprocessing import Manager\n"
	    "if __name__ == '__main__':\n"
	    " m = Manager()\n"
	    " for o in [m.Value('d', 3.1415927), m.Value('i', 0), "
	    "m.Value(None, 'x'), m.Namespace(x=100.0, _s=1, a=1, a0=2, "
	    "b=1e16), m.dict({1: '1', '2': 2, 0.25: None}), m.list([9, 8, 7.5, "
	    "None, b'\\\\x00']), m.Array('d', [1, 2.5])]: print(o)\n"
	    " m.shutdown()\" 2>/dev/null",
	    "r");
	size_t n = f != NULL ? fread(py, 1, sizeof(py) - 1, f) : 0;
	py[n] = '\0';
	if (f != NULL)
		pclose(f);
	if (n == 0)
		snprintf(py, sizeof(py), "%s", PY_PROXIES);
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_manager_start(&m, NULL));
	TP_OK_OR_FAIL(tp_manager_value(m, "d", tp_dbl(3.1415927), &px[0]));
	TP_OK_OR_FAIL(tp_manager_valuef(m, &px[1], "i", 0));
	TP_OK_OR_FAIL(tp_manager_value(m, NULL, tp_str("x"), &px[2]));
	TP_OK_OR_FAIL(tp_manager_namespace(m, &px[3]));
	TP_OK_OR_FAIL(tp_ns_set(px[3], "x", tp_dbl(100.0)));
	TP_OK_OR_FAIL(tp_ns_set(px[3], "_s", tp_int(1)));
	TP_OK_OR_FAIL(tp_ns_set(px[3], "a", tp_int(1)));
	TP_OK_OR_FAIL(tp_ns_set(px[3], "a0", tp_int(2)));
	TP_OK_OR_FAIL(tp_ns_set(px[3], "b", tp_dbl(1e16)));
	TP_OK_OR_FAIL(tp_manager_dict(m, &px[4]));
	TP_OK_OR_FAIL(tp_dict_set(px[4], tp_int(1), tp_str("1")));
	TP_OK_OR_FAIL(tp_dict_set(px[4], tp_str("2"), tp_int(2)));
	TP_OK_OR_FAIL(tp_dict_set(px[4], tp_dbl(0.25), tp_none()));
	TP_OK_OR_FAIL(tp_pack_new(&items, "iidnb", 9, 8, 7.5, "\0", (size_t)1));
	TP_OK_OR_FAIL(tp_manager_list(m, items, &px[5]));
	tp_payload_free(items);
	TP_OK_OR_FAIL(tp_pack_new(&items, "id", 1, 2.5));
	TP_OK_OR_FAIL(tp_manager_array(m, 'd', items, &px[6]));
	tp_payload_free(items);
	for (int i = 0; i < 7; i++) {
		size_t k = strlen(ours);
		snprintf(ours + k, sizeof(ours) - k, "%s\n", rp(px[i]));
		tp_proxy_free(px[i]);
	}
	assert_string_equal(ours, py);
	TP_OK_OR_FAIL(tp_manager_shutdown(m));
	tp_test_fini();
}

/* Manager().Array: typecodes, conversions, ranges, reprs as Python's:
 * python3 -c "from multiprocessing import Manager; m = Manager();
 * a = m.Array('i', [1, 2, 3]); a[0] = -5; print(a, len(a));
 * print(m.Array('d', [1, 2.5]), m.Array('f', [0.1]), m.Array('b', []))" */
static void test_array(void **state)
{
	tp_manager *m;
	tp_proxy *a, *d, *f, *e, *bad = NULL;
	tp_payload *items, *out;
	int64_t n;
	double x;
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_manager_start(&m, NULL));
	TP_OK_OR_FAIL(tp_pack_new(&items, "iii", 1, 2, 3));
	TP_OK_OR_FAIL(tp_manager_array(m, 'i', items, &a));
	tp_payload_free(items);
	TP_OK_OR_FAIL(tp_list_set(a, 0, tp_int(-5)));
	assert_string_equal(rp(a), "array('i', [-5, 2, 3])");
	TP_OK_OR_FAIL(tp_list_len(a, &n));
	assert_int_equal(n, 3);
	TP_OK_OR_FAIL(tp_payload_new(&out));
	TP_OK_OR_FAIL(tp_list_get(a, -1, out));
	assert_int_equal(int_at(out, 0), 3);
	tp_payload_clear(out);
	TP_OK_OR_FAIL(tp_proxy_call(a, "typecode", NULL, out, 10000));
	assert_true(tp_is_str(out, 0, "i"));
	tp_payload_clear(out);
	TP_OK_OR_FAIL(tp_proxy_call(a, "tolist", NULL, out, 10000));
	assert_int_equal(tp_payload_count(out), 3);
	tp_payload_clear(out);
	TP_EXPECT(tp_list_get(a, 3, out), TP_ENOENT);
	TP_EXPECT(tp_list_set(a, -4, tp_int(1)), TP_ENOENT);
	TP_EXPECT(tp_list_set(a, 0, tp_dbl(2.5)), TP_ETYPE);
	TP_EXPECT(tp_list_set(a, 0, tp_str("x")), TP_ETYPE);
	TP_EXPECT(tp_list_set(a, 0, tp_int(1LL << 31)), TP_EVALUE);
	assert_string_equal(rp(a), "array('i', [-5, 2, 3])"); /* unchanged */
	TP_OK_OR_FAIL(tp_pack_new(&items, "id", 1, 2.5));
	TP_OK_OR_FAIL(tp_manager_array(m, 'd', items, &d));
	assert_string_equal(rp(d), "array('d', [1.0, 2.5])");
	TP_OK_OR_FAIL(tp_list_set(d, 0, tp_int(7)));
	TP_OK_OR_FAIL(tp_list_get(d, 0, out));
	TP_OK_OR_FAIL(tp_unpack(out, "d", &x));
	assert_true(x == 7.0);
	tp_payload_clear(out);
	TP_EXPECT(tp_manager_array(m, 'i', items, &bad), TP_ETYPE);
	tp_payload_free(items);
	TP_OK_OR_FAIL(tp_pack_new(&items, "d", 0.1));
	TP_OK_OR_FAIL(tp_manager_array(m, 'f', items, &f));
	assert_string_equal(rp(f), "array('f', [0.10000000149011612])");
	tp_payload_free(items);
	TP_OK_OR_FAIL(tp_manager_array(m, 'b', NULL, &e));
	assert_string_equal(rp(e), "array('b')");
	TP_OK_OR_FAIL(tp_pack_new(&items, "i", 200));
	TP_EXPECT(tp_manager_array(m, 'b', items, &bad), TP_EVALUE);
	TP_OK_OR_FAIL(tp_manager_array(m, 'B', items, &bad));
	tp_proxy_free(bad);
	TP_EXPECT(tp_manager_array(m, 'z', items, &bad), TP_EINVAL);
	TP_EXPECT(tp_manager_array(m, '\0', items, &bad), TP_EINVAL);
	TP_EXPECT(tp_manager_array(NULL, 'i', items, &bad), TP_EINVAL);
	TP_EXPECT(tp_manager_array(m, 'i', items, NULL), TP_EINVAL);
	tp_payload_free(items);
	TP_OK_OR_FAIL(tp_pack_new(&items, "s", "x"));
	TP_EXPECT(tp_manager_array(m, 'd', items, &bad), TP_ETYPE);
	tp_payload_free(items);
	tp_payload_free(out);
	tp_proxy_free(a);
	tp_proxy_free(d);
	tp_proxy_free(f);
	tp_proxy_free(e);
	TP_OK_OR_FAIL(tp_manager_shutdown(m));
	tp_test_fini();
}

static void test_dict_methods(void **state)
{
	tp_manager *m;
	tp_proxy *d;
	tp_payload *out, *args;
	int in;
	int64_t n;
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_manager_start(&m, NULL));
	TP_OK_OR_FAIL(tp_manager_dict(m, &d));
	TP_OK_OR_FAIL(tp_payload_new(&out));
	TP_OK_OR_FAIL(tp_payload_new(&args));
	for (int i = 0; i < 100; i++)
		TP_OK_OR_FAIL(tp_dict_set(d, tp_int(i), tp_int(i * i)));
	TP_OK_OR_FAIL(tp_dict_len(d, &n));
	assert_int_equal(n, 100);
	TP_OK_OR_FAIL(tp_dict_get(d, tp_int(9), out));
	assert_int_equal(int_at(out, 0), 81);
	TP_EXPECT(tp_dict_get(d, tp_int(100), out), TP_ENOENT);
	TP_EXPECT(tp_dict_get(d, tp_dbl(9.0), out), TP_ENOENT);
	TP_OK_OR_FAIL(tp_dict_contains(d, tp_int(5), &in));
	assert_int_equal(in, 1);
	TP_OK_OR_FAIL(tp_dict_del(d, tp_int(5)));
	TP_EXPECT(tp_dict_del(d, tp_int(5)), TP_ENOENT);
	TP_OK_OR_FAIL(tp_dict_contains(d, tp_int(5), &in));
	assert_int_equal(in, 0);
	tp_payload_clear(out);
	TP_OK_OR_FAIL(tp_dict_pop(d, tp_int(7), out));
	assert_int_equal(int_at(out, 0), 49);
	TP_OK_OR_FAIL(tp_dict_len(d, &n));
	assert_int_equal(n, 98);
	/* deletes and re-inserts keep insertion order and the index */
	for (int i = 0; i < 100; i++)
		tp_dict_del(d, tp_int(i));
	TP_OK_OR_FAIL(tp_dict_set(d, tp_str("b"), tp_int(2)));
	TP_OK_OR_FAIL(tp_dict_set(d, tp_bytes("\x00\xff", 2), tp_none()));
	TP_OK_OR_FAIL(tp_payload_add_string(args, "a"));
	TP_OK_OR_FAIL(tp_payload_add_int(args, 1));
	TP_OK_OR_FAIL(tp_proxy_call(d, "update", args, NULL, 0));
	assert_string_equal(rp(d), "{'b': 2, b'\\x00\\xff': None, 'a': 1}");
	tp_payload_clear(out);
	TP_OK_OR_FAIL(tp_proxy_call(d, "keys", NULL, out, 0));
	assert_int_equal(tp_payload_count(out), 3);
	tp_payload_clear(out);
	TP_OK_OR_FAIL(tp_proxy_call(d, "items", NULL, out, 0));
	assert_int_equal(tp_payload_count(out), 6);
	/* get with a default, errors */
	tp_payload_clear(args);
	TP_OK_OR_FAIL(tp_payload_add_string(args, "zz"));
	TP_OK_OR_FAIL(tp_payload_add_int(args, 42));
	tp_payload_clear(out);
	TP_OK_OR_FAIL(tp_proxy_call(d, "get", args, out, 0));
	assert_int_equal(int_at(out, 0), 42);
	TP_EXPECT(tp_proxy_call(d, "nosuch", NULL, NULL, 0), TP_ENOENT);
	TP_EXPECT(tp_proxy_call(d, "update", out, NULL, 0), TP_EINVAL);
	TP_EXPECT(tp_proxy_call(d, "get", NULL, NULL, 0), TP_EINVAL);
	TP_EXPECT(tp_dict_set(d, tp_dbl(0.0 / 0.0), tp_int(1)), TP_ETYPE);
	TP_OK_OR_FAIL(tp_proxy_call(d, "clear", NULL, NULL, 0));
	assert_string_equal(rp(d), "{}");
	TP_EXPECT(tp_dict_set(NULL, tp_int(1), tp_int(1)), TP_EINVAL);
	tp_payload_free(out);
	tp_payload_free(args);
	/* a released object is gone for every proxy */
	TP_OK_OR_FAIL(tp_proxy_release(d));
	TP_EXPECT(tp_dict_len(d, &n), TP_ECLOSED);
	tp_proxy_free(d);
	TP_OK_OR_FAIL(tp_manager_shutdown(m));
	tp_test_fini();
}

static void test_list_methods(void **state)
{
	tp_manager *m;
	tp_proxy *l;
	tp_payload *out, *args;
	int64_t n;
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_manager_start(&m, NULL));
	TP_OK_OR_FAIL(tp_manager_list(m, NULL, &l));
	TP_OK_OR_FAIL(tp_payload_new(&out));
	TP_OK_OR_FAIL(tp_payload_new(&args));
	for (int i = 0; i < 5; i++)
		TP_OK_OR_FAIL(tp_list_append(l, tp_int((i * 3) % 5)));
	assert_string_equal(rp(l), "[0, 3, 1, 4, 2]");
	TP_OK_OR_FAIL(tp_list_set(l, -1, tp_dbl(2.5)));
	TP_OK_OR_FAIL(tp_list_get(l, -1, out));
	TP_EXPECT(tp_list_get(l, 5, out), TP_ENOENT);
	TP_EXPECT(tp_list_get(l, -6, out), TP_ENOENT);
	TP_OK_OR_FAIL(tp_proxy_call(l, "sort", NULL, NULL, 0));
	assert_string_equal(rp(l), "[0, 1, 2.5, 3, 4]");
	TP_OK_OR_FAIL(tp_payload_add_int(args, 0));
	TP_OK_OR_FAIL(tp_payload_add_string(args, "s"));
	TP_OK_OR_FAIL(tp_proxy_call(l, "insert", args, NULL, 0));
	TP_EXPECT(tp_proxy_call(l, "sort", NULL, NULL, 0), TP_ETYPE);
	tp_payload_clear(args);
	TP_OK_OR_FAIL(tp_payload_add_string(args, "s"));
	tp_payload_clear(out);
	TP_OK_OR_FAIL(tp_proxy_call(l, "index", args, out, 0));
	TP_OK_OR_FAIL(tp_proxy_call(l, "remove", args, NULL, 0));
	TP_EXPECT(tp_proxy_call(l, "remove", args, NULL, 0), TP_ENOENT);
	TP_OK_OR_FAIL(tp_proxy_call(l, "sort", NULL, NULL, 0));
	tp_payload_clear(args);
	TP_OK_OR_FAIL(tp_payload_add_int(args, 1));
	TP_OK_OR_FAIL(tp_payload_add_int(args, -1));
	tp_payload_clear(out);
	TP_OK_OR_FAIL(tp_proxy_call(l, "slice", args, out, 0));
	assert_int_equal(tp_payload_count(out), 3); /* l[1:-1] */
	TP_OK_OR_FAIL(tp_proxy_call(l, "extend", args, NULL, 0));
	tp_payload_clear(out);
	TP_OK_OR_FAIL(tp_proxy_call(l, "pop", NULL, out, 0));
	assert_int_equal(int_at(out, 0), -1);
	TP_OK_OR_FAIL(tp_list_len(l, &n));
	assert_int_equal(n, 6);
	assert_string_equal(rp(l), "[0, 1, 2.5, 3, 4, 1]");
	tp_payload_free(out);
	tp_payload_free(args);
	tp_proxy_free(l);
	TP_OK_OR_FAIL(tp_manager_shutdown(m));
	tp_test_fini();
}

/* Queue consumer: waits for items the parent puts later. */
static int t_consumer(const tp_payload *args, tp_payload *res)
{
	tp_proxy *q = arg_proxy(args, 0), *e = arg_proxy(args, 1);
	tp_payload *out;
	int64_t sum = 0, v;
	(void)res;
	tp_payload_new(&out);
	if (tp_mevent_set(e) != TP_OK) /* I am about to wait */
		return 2;
	for (int i = 0; i < 3; i++) {
		tp_payload_clear(out);
		if (tp_mqueue_get(q, out, 20000) != TP_OK ||
		    tp_payload_get_int(out, 0, &v) != TP_OK)
			return 3;
		sum += v;
	}
	tp_payload_free(out);
	tp_proxy_free(q);
	tp_proxy_free(e);
	return (int)sum;
}
TP_TARGET(t_consumer);

static void test_queue_event_blocking(void **state)
{
	tp_manager *m;
	tp_proxy *q, *e, *q1;
	tp_payload *args, *out;
	tp_process *p;
	int code = -1, set;
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_manager_start(&m, NULL));
	TP_OK_OR_FAIL(tp_manager_queue(m, 0, &q));
	TP_OK_OR_FAIL(tp_manager_event(m, &e));
	TP_OK_OR_FAIL(tp_payload_new(&args));
	TP_OK_OR_FAIL(tp_payload_new(&out));
	TP_OK_OR_FAIL(tp_payload_add_proxy(args, q));
	TP_OK_OR_FAIL(tp_payload_add_proxy(args, e));
	TP_OK_OR_FAIL(tp_process_new(&p, t_consumer, args, NULL));
	TP_OK_OR_FAIL(tp_process_start(p));
	TP_OK_OR_FAIL(tp_mevent_wait(e, 20000));
	TP_OK_OR_FAIL(tp_mevent_is_set(e, &set));
	assert_int_equal(set, 1);
	for (int i = 1; i <= 3; i++)
		TP_OK_OR_FAIL(tp_mqueue_put(q, tp_int(i * 10), 0));
	TP_OK_OR_FAIL(tp_process_join(p, 30000));
	TP_OK_OR_FAIL(tp_process_exitcode(p, &code));
	assert_int_equal(code, 60);
	tp_process_free(p);
	/* timeouts: empty and full queues, an unset event */
	TP_EXPECT(tp_mqueue_get(q, out, 0), TP_EEMPTY);
	TP_EXPECT(tp_mqueue_get(q, out, 30), TP_EEMPTY);
	TP_OK_OR_FAIL(tp_manager_queue(m, 1, &q1));
	TP_OK_OR_FAIL(tp_mqueue_put(q1, tp_str("a"), 0));
	TP_EXPECT(tp_mqueue_put(q1, tp_str("b"), 0), TP_EFULL);
	TP_EXPECT(tp_mqueue_put(q1, tp_str("b"), 30), TP_EFULL);
	TP_OK_OR_FAIL(tp_mevent_clear(e));
	TP_EXPECT(tp_mevent_wait(e, 30), TP_ETIMEDOUT);
	TP_OK_OR_FAIL(tp_proxy_call(q1, "qsize", NULL, out, 0));
	assert_int_equal(int_at(out, 0), 1);
	tp_payload_free(args);
	tp_payload_free(out);
	tp_proxy_free(q);
	tp_proxy_free(q1);
	tp_proxy_free(e);
	TP_OK_OR_FAIL(tp_manager_shutdown(m));
	tp_test_fini();
}

/* JoinableQueue worker: takes every item, then marks each done. */
static int t_jworker(const tp_payload *args, tp_payload *res)
{
	tp_proxy *q = arg_proxy(args, 0);
	tp_payload *out;
	(void)res;
	tp_payload_new(&out);
	for (int i = 0; i < 3; i++)
		if (tp_mqueue_get(q, out, 20000) != TP_OK ||
		    tp_mqueue_task_done(q) != TP_OK)
			return 1;
	tp_payload_free(out);
	tp_proxy_free(q);
	return 0;
}
TP_TARGET(t_jworker);

static void test_joinable_queue(void **state)
{
	tp_manager *m;
	tp_proxy *q;
	tp_payload *args;
	tp_process *p;
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_manager_start(&m, NULL));
	TP_OK_OR_FAIL(tp_manager_create(m, "joinable_queue", NULL, &q));
	TP_OK_OR_FAIL(tp_mqueue_join(q, 0)); /* nothing put yet */
	for (int i = 0; i < 3; i++)
		TP_OK_OR_FAIL(tp_mqueue_put(q, tp_int(i), 0));
	TP_EXPECT(tp_mqueue_join(q, 20), TP_ETIMEDOUT);
	TP_OK_OR_FAIL(tp_payload_new(&args));
	TP_OK_OR_FAIL(tp_payload_add_proxy(args, q));
	TP_OK_OR_FAIL(tp_process_new(&p, t_jworker, args, NULL));
	TP_OK_OR_FAIL(tp_process_start(p));
	TP_OK_OR_FAIL(tp_mqueue_join(q, 20000)); /* parked until done */
	TP_EXPECT(tp_mqueue_task_done(q), TP_EVALUE);
	TP_OK_OR_FAIL(tp_process_join(p, 20000));
	tp_process_free(p);
	tp_payload_free(args);
	tp_proxy_free(q);
	TP_OK_OR_FAIL(tp_manager_shutdown(m));
	tp_test_fini();
}

/* Barrier party: waits, returns its arrival index as exit code. */
static int t_party(const tp_payload *args, tp_payload *res)
{
	tp_proxy *b = arg_proxy(args, 0);
	tp_payload *out;
	int64_t idx = -1;
	(void)res;
	tp_payload_new(&out);
	if (tp_proxy_call(b, "wait", NULL, out, 20000) != TP_OK ||
	    tp_payload_get_int(out, 0, &idx) != TP_OK)
		return 99;
	tp_payload_free(out);
	tp_proxy_free(b);
	return (int)idx;
}
TP_TARGET(t_party);

static void test_barrier(void **state)
{
	tp_manager *m;
	tp_proxy *b, *b2;
	tp_payload *args, *out, *init;
	tp_process *p[2];
	int seen = 0, code;
	int64_t idx;
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_manager_start(&m, NULL));
	TP_OK_OR_FAIL(tp_payload_new(&init));
	TP_OK_OR_FAIL(tp_payload_add_int(init, 3));
	TP_OK_OR_FAIL(tp_manager_create(m, "barrier", init, &b));
	TP_OK_OR_FAIL(tp_payload_new(&args));
	TP_OK_OR_FAIL(tp_payload_new(&out));
	TP_OK_OR_FAIL(tp_payload_add_proxy(args, b));
	for (int i = 0; i < 2; i++) {
		TP_OK_OR_FAIL(tp_process_new(&p[i], t_party, args, NULL));
		TP_OK_OR_FAIL(tp_process_start(p[i]));
	}
	TP_OK_OR_FAIL(tp_proxy_call(b, "wait", NULL, out, 20000));
	seen |= 1 << int_at(out, 0);
	for (int i = 0; i < 2; i++) {
		TP_OK_OR_FAIL(tp_process_join(p[i], 20000));
		TP_OK_OR_FAIL(tp_process_exitcode(p[i], &code));
		assert_true(code >= 0 && code < 3);
		seen |= 1 << code;
		tp_process_free(p[i]);
	}
	assert_int_equal(seen, 7); /* indexes 0, 1 and 2 */
	/* a timeout breaks it for everyone; reset mends it */
	tp_payload_clear(init);
	TP_OK_OR_FAIL(tp_payload_add_int(init, 2));
	TP_OK_OR_FAIL(tp_manager_create(m, "barrier", init, &b2));
	TP_EXPECT(tp_proxy_call(b2, "wait", NULL, NULL, 30), TP_EBROKEN);
	TP_EXPECT(tp_proxy_call(b2, "wait", NULL, NULL, 30), TP_EBROKEN);
	tp_payload_clear(out);
	TP_OK_OR_FAIL(tp_proxy_call(b2, "broken", NULL, out, 0));
	assert_int_equal(int_at(out, 0), 1);
	TP_OK_OR_FAIL(tp_proxy_call(b2, "reset", NULL, NULL, 0));
	tp_payload_clear(out);
	TP_OK_OR_FAIL(tp_proxy_call(b2, "broken", NULL, out, 0));
	assert_int_equal(int_at(out, 0), 0);
	/* timeout 0 alone: broken again, and no waiter left behind */
	TP_EXPECT(tp_proxy_call(b2, "wait", NULL, NULL, 0), TP_EBROKEN);
	tp_payload_clear(out);
	TP_OK_OR_FAIL(tp_proxy_call(b2, "n_waiting", NULL, out, 0));
	assert_int_equal(int_at(out, 0), 0);
	tp_payload_clear(init);
	TP_OK_OR_FAIL(tp_payload_add_int(init, 0));
	TP_EXPECT(tp_manager_create(m, "barrier", init, &b2), TP_EVALUE);
	(void)idx;
	tp_payload_free(args);
	tp_payload_free(out);
	tp_payload_free(init);
	tp_proxy_free(b);
	tp_proxy_free(b2);
	TP_OK_OR_FAIL(tp_manager_shutdown(m));
	tp_test_fini();
}

/* Condition: takes the lock (free once the parent waits), notifies. */
static int t_notifier(const tp_payload *args, tp_payload *res)
{
	tp_proxy *k = arg_proxy(args, 0);
	(void)res;
	if (tp_mlock_acquire(k, 20000) != TP_OK ||
	    tp_proxy_call(k, "notify", NULL, NULL, 0) != TP_OK ||
	    tp_mlock_release(k) != TP_OK)
		return 1;
	tp_proxy_free(k);
	return 0;
}
TP_TARGET(t_notifier);

static void test_condition(void **state)
{
	tp_manager *m;
	tp_proxy *k;
	tp_payload *args;
	tp_process *p;
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_manager_start(&m, NULL));
	TP_OK_OR_FAIL(tp_manager_create(m, "condition", NULL, &k));
	TP_EXPECT(tp_proxy_call(k, "wait", NULL, NULL, 0), TP_EPERM);
	TP_EXPECT(tp_proxy_call(k, "notify", NULL, NULL, 0), TP_EPERM);
	TP_OK_OR_FAIL(tp_mlock_acquire(k, 0));
	TP_OK_OR_FAIL(tp_payload_new(&args));
	TP_OK_OR_FAIL(tp_payload_add_proxy(args, k));
	TP_OK_OR_FAIL(tp_process_new(&p, t_notifier, args, NULL));
	TP_OK_OR_FAIL(tp_process_start(p));
	/* releases the lock, wakes on notify holding it again */
	TP_OK_OR_FAIL(tp_proxy_call(k, "wait", NULL, NULL, 20000));
	TP_OK_OR_FAIL(tp_process_join(p, 20000));
	int code = -1;
	TP_OK_OR_FAIL(tp_process_exitcode(p, &code));
	assert_int_equal(code, 0);
	/* a timeout: TP_ETIMEDOUT, and the lock is held again */
	TP_EXPECT(tp_proxy_call(k, "wait", NULL, NULL, 30), TP_ETIMEDOUT);
	TP_EXPECT(tp_proxy_call(k, "wait", NULL, NULL, 0), TP_ETIMEDOUT);
	TP_OK_OR_FAIL(tp_mlock_release(k));
	TP_EXPECT(tp_mlock_release(k), TP_EPERM);
	tp_process_free(p);
	tp_payload_free(args);
	tp_proxy_free(k);
	TP_OK_OR_FAIL(tp_manager_shutdown(m));
	tp_test_fini();
}

/* A pool task: adds its number to the dict it got in its args (Python
 * refuses to pass a Queue to a pool worker; a proxy is fine here). */
static int t_pool_task(const tp_payload *args, tp_payload *res)
{
	tp_proxy *d = arg_proxy(args, 0);
	int64_t i = 0;
	tp_payload_get_int(args, 1, &i);
	int rv = tp_dict_set(d, tp_int(i), tp_int(i * i));
	tp_payload_add_int(res, rv);
	tp_proxy_free(d);
	return rv;
}
TP_TARGET(t_pool_task);

static void test_pool_workers(void **state)
{
	tp_manager *m;
	tp_proxy *d;
	tp_pool *pool;
	tp_payload *args, *out;
	int64_t n;
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_manager_start(&m, NULL));
	TP_OK_OR_FAIL(tp_manager_dict(m, &d));
	TP_OK_OR_FAIL(tp_pool_new(&pool, 2, NULL, NULL, 0));
	for (int i = 0; i < 6; i++) {
		TP_OK_OR_FAIL(tp_payload_new(&args));
		TP_OK_OR_FAIL(tp_payload_add_proxy(args, d));
		TP_OK_OR_FAIL(tp_payload_add_int(args, i));
		TP_OK_OR_FAIL(tp_pool_apply(pool, t_pool_task, args, &out));
		assert_int_equal(int_at(out, 0), TP_OK);
		tp_payload_free(out);
		tp_payload_free(args);
	}
	TP_OK_OR_FAIL(tp_dict_len(d, &n));
	assert_int_equal(n, 6);
	tp_pool_free(pool);
	tp_proxy_free(d);
	TP_OK_OR_FAIL(tp_manager_shutdown(m));
	tp_test_fini();
}

/* Value + Lock counter of the seeds: add and sub processes. */
static int t_counter(const tp_payload *args, tp_payload *res)
{
	tp_proxy *v = arg_proxy(args, 0), *l = arg_proxy(args, 1);
	int64_t step = 0, x;
	tp_payload *out;
	(void)res;
	tp_payload_get_int(args, 2, &step);
	tp_payload_new(&out);
	for (int i = 0; i < 50; i++) {
		tp_payload_clear(out);
		if (tp_mlock_acquire(l, -1) != TP_OK ||
		    tp_value_get(v, out) != TP_OK ||
		    tp_payload_get_int(out, 0, &x) != TP_OK ||
		    tp_value_set(v, tp_int(x + step)) != TP_OK ||
		    tp_mlock_release(l) != TP_OK)
			return 1;
	}
	tp_payload_free(out);
	tp_proxy_free(v);
	tp_proxy_free(l);
	return 0;
}
TP_TARGET(t_counter);

static void test_value_lock_counter(void **state)
{
	tp_manager *m;
	tp_proxy *v, *l;
	tp_payload *init, *a1, *a2;
	tp_process *p1, *p2;
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_manager_start(&m, NULL));
	TP_OK_OR_FAIL(tp_payload_new(&init));
	TP_OK_OR_FAIL(tp_payload_add_int(init, 100));
	TP_OK_OR_FAIL(tp_manager_create(m, "value", init, &v));
	TP_OK_OR_FAIL(tp_manager_lock(m, &l));
	TP_OK_OR_FAIL(tp_payload_new(&a1));
	TP_OK_OR_FAIL(tp_payload_new(&a2));
	TP_OK_OR_FAIL(tp_payload_add_proxy(a1, v));
	TP_OK_OR_FAIL(tp_payload_add_proxy(a1, l));
	TP_OK_OR_FAIL(tp_payload_add_proxy(a2, v));
	TP_OK_OR_FAIL(tp_payload_add_proxy(a2, l));
	TP_OK_OR_FAIL(tp_payload_add_int(a1, 3));
	TP_OK_OR_FAIL(tp_payload_add_int(a2, -1));
	TP_OK_OR_FAIL(tp_process_new(&p1, t_counter, a1, NULL));
	TP_OK_OR_FAIL(tp_process_new(&p2, t_counter, a2, NULL));
	TP_OK_OR_FAIL(tp_process_start(p1));
	TP_OK_OR_FAIL(tp_process_start(p2));
	TP_OK_OR_FAIL(tp_process_join(p1, 30000));
	TP_OK_OR_FAIL(tp_process_join(p2, 30000));
	assert_string_equal(rp(v), "Value(None, 200)");
	/* lock errors */
	TP_EXPECT(tp_mlock_release(l), TP_EPERM);
	TP_OK_OR_FAIL(tp_mlock_acquire(l, 0));
	TP_EXPECT(tp_mlock_acquire(l, 0), TP_ETIMEDOUT);
	TP_EXPECT(tp_mlock_acquire(l, 20), TP_ETIMEDOUT);
	TP_OK_OR_FAIL(tp_mlock_release(l));
	tp_process_free(p1);
	tp_process_free(p2);
	tp_payload_free(init);
	tp_payload_free(a1);
	tp_payload_free(a2);
	tp_proxy_free(v);
	tp_proxy_free(l);
	TP_OK_OR_FAIL(tp_manager_shutdown(m));
	tp_test_fini();
}

/* Takes the rlock and tries to release the parent's. */
static int t_rlock_other(const tp_payload *args, tp_payload *res)
{
	tp_proxy *r = arg_proxy(args, 0);
	(void)res;
	int rv = tp_mlock_release(r);
	tp_proxy_free(r);
	return rv;
}
TP_TARGET(t_rlock_other);

static void test_rlock_semaphores(void **state)
{
	tp_manager *m;
	tp_proxy *r, *s, *b;
	tp_payload *args, *init;
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_manager_start(&m, NULL));
	TP_OK_OR_FAIL(tp_manager_rlock(m, &r));
	TP_OK_OR_FAIL(tp_mlock_acquire(r, 0));
	TP_OK_OR_FAIL(tp_mlock_acquire(r, 0)); /* recursive */
	TP_OK_OR_FAIL(tp_payload_new(&args));
	TP_OK_OR_FAIL(tp_payload_add_proxy(args, r));
	run_child(t_rlock_other, args, TP_EPERM);
	TP_OK_OR_FAIL(tp_mlock_release(r));
	TP_OK_OR_FAIL(tp_mlock_release(r));
	TP_EXPECT(tp_mlock_release(r), TP_EPERM);
	TP_OK_OR_FAIL(tp_manager_semaphore(m, 2, &s));
	TP_OK_OR_FAIL(tp_mlock_acquire(s, 0));
	TP_OK_OR_FAIL(tp_mlock_acquire(s, 0));
	TP_EXPECT(tp_mlock_acquire(s, 0), TP_ETIMEDOUT);
	TP_OK_OR_FAIL(tp_mlock_release(s));
	TP_OK_OR_FAIL(tp_mlock_release(s));
	TP_OK_OR_FAIL(tp_mlock_release(s)); /* unbounded: allowed */
	TP_OK_OR_FAIL(tp_payload_new(&init));
	TP_OK_OR_FAIL(tp_payload_add_int(init, 1));
	TP_OK_OR_FAIL(tp_manager_create(m, "bounded_semaphore", init, &b));
	TP_EXPECT(tp_mlock_release(b), TP_EVALUE);
	tp_payload_clear(init);
	TP_OK_OR_FAIL(tp_payload_add_int(init, -1));
	TP_EXPECT(tp_manager_create(m, "semaphore", init, &s), TP_EVALUE);
	TP_EXPECT(tp_manager_create(m, "nosuch", NULL, &s), TP_ENOENT);
	tp_payload_free(args);
	tp_payload_free(init);
	tp_proxy_free(r);
	tp_proxy_free(s);
	tp_proxy_free(b);
	TP_OK_OR_FAIL(tp_manager_shutdown(m));
	tp_test_fini();
}

/* A user type: a counter with "add" and "get" (BaseManager.register). */
static int counter_init(void **obj, const tp_payload *args)
{
	int64_t *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return TP_ENOMEM;
	tp_payload_get_int(args, 0, c);
	*obj = c;
	return TP_OK;
}

static int counter_call(void *obj, const char *method, const tp_payload *args,
                        tp_payload *result)
{
	int64_t *c = obj, d = 1;
	if (strcmp(method, "add") == 0) {
		tp_payload_get_int(args, 0, &d);
		*c += d;
		return TP_OK;
	}
	if (strcmp(method, "get") == 0)
		return tp_payload_add_int(result, *c);
	if (strcmp(method, "park") == 0)
		return -1; /* a user type cannot park: TP_EREMOTE */
	return TP_ENOENT;
}

static const tp_manager_type counter_type = {counter_init, counter_call, free};
TP_MANAGER_TYPE(Counter, counter_type);

static void test_user_type(void **state)
{
	tp_manager *m;
	tp_proxy *c;
	tp_payload *init, *out;
	(void)state;
	static const tp_manager_type other = {NULL, counter_call, NULL};
	TP_EXPECT(tp_manager_register("Counter", &other), TP_EALREADY);
	TP_OK_OR_FAIL(tp_manager_register("Counter", &counter_type));
	TP_EXPECT(tp_manager_register("dict", &other), TP_EINVAL);
	TP_EXPECT(tp_manager_register("bad name", &other), TP_EINVAL);
	TP_EXPECT(tp_manager_register("x", NULL), TP_EINVAL);
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_manager_start(&m, NULL));
	TP_OK_OR_FAIL(tp_payload_new(&init));
	TP_OK_OR_FAIL(tp_payload_new(&out));
	TP_OK_OR_FAIL(tp_payload_add_int(init, 40));
	TP_OK_OR_FAIL(tp_manager_create(m, "Counter", init, &c));
	TP_OK_OR_FAIL(tp_proxy_call(c, "add", NULL, NULL, 0));
	TP_OK_OR_FAIL(tp_proxy_call(c, "add", NULL, NULL, 0));
	TP_OK_OR_FAIL(tp_proxy_call(c, "get", NULL, out, 0));
	assert_int_equal(int_at(out, 0), 42);
	TP_EXPECT(tp_proxy_call(c, "nope", NULL, NULL, 0), TP_ENOENT);
	TP_EXPECT(tp_proxy_call(c, "park", NULL, NULL, 1000), TP_EREMOTE);
	tp_payload_free(init);
	tp_payload_free(out);
	tp_proxy_free(c);
	TP_OK_OR_FAIL(tp_manager_shutdown(m));
	tp_test_fini();
}

/* Holds the lock, says so on the queue, then waits to be killed. */
static int t_holder(const tp_payload *args, tp_payload *res)
{
	tp_proxy *l = arg_proxy(args, 0), *q = arg_proxy(args, 1);
	(void)res;
	if (tp_mlock_acquire(l, -1) != TP_OK ||
	    tp_mqueue_put(q, tp_str("held"), 0) != TP_OK)
		return 1;
	for (;;)
		pause();
}
TP_TARGET(t_holder);

static void test_killed_holder_releases_lock(void **state)
{
	tp_manager *m;
	tp_proxy *l, *q;
	tp_payload *args, *out;
	tp_process *p;
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_manager_start(&m, NULL));
	TP_OK_OR_FAIL(tp_manager_lock(m, &l));
	TP_OK_OR_FAIL(tp_manager_queue(m, 0, &q));
	TP_OK_OR_FAIL(tp_payload_new(&args));
	TP_OK_OR_FAIL(tp_payload_new(&out));
	TP_OK_OR_FAIL(tp_payload_add_proxy(args, l));
	TP_OK_OR_FAIL(tp_payload_add_proxy(args, q));
	TP_OK_OR_FAIL(tp_process_new(&p, t_holder, args, NULL));
	TP_OK_OR_FAIL(tp_process_start(p));
	TP_OK_OR_FAIL(tp_mqueue_get(q, out, 20000));
	TP_EXPECT(tp_mlock_acquire(l, 0), TP_ETIMEDOUT);
	TP_OK_OR_FAIL(tp_process_kill(p));
	/* the waiter gets the lock when the holder's connection goes */
	TP_OK_OR_FAIL(tp_mlock_acquire(l, 20000));
	TP_OK_OR_FAIL(tp_mlock_release(l));
	TP_OK_OR_FAIL(tp_process_join(p, 20000));
	tp_process_free(p);
	tp_payload_free(args);
	tp_payload_free(out);
	tp_proxy_free(l);
	tp_proxy_free(q);
	TP_OK_OR_FAIL(tp_manager_shutdown(m));
	tp_test_fini();
}

/* Kills the manager (pid in args) a little later. */
static int t_killer(const tp_payload *args, tp_payload *res)
{
	int64_t pid = 0;
	(void)res;
	tp_payload_get_int(args, 0, &pid);
	usleep(100000); /* either order gives TP_EDIED: see the test */
	return kill((pid_t)pid, SIGKILL) == 0 ? 0 : 1;
}
TP_TARGET(t_killer);

static void manager_killed_while_waiting(const tp_manager_opts *o)
{
	tp_manager *m;
	tp_proxy *q, *d;
	tp_payload *args, *out;
	tp_process *k;
	int64_t n;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_manager_start(&m, o));
	TP_OK_OR_FAIL(tp_manager_queue(m, 0, &q));
	TP_OK_OR_FAIL(tp_manager_dict(m, &d));
	TP_OK_OR_FAIL(tp_payload_new(&args));
	TP_OK_OR_FAIL(tp_payload_new(&out));
	TP_OK_OR_FAIL(tp_payload_add_int(args, tp_manager_pid(m)));
	TP_OK_OR_FAIL(tp_process_new(&k, t_killer, args, NULL));
	TP_OK_OR_FAIL(tp_process_start(k));
	/* waits forever on an empty queue: the manager's death ends it */
	TP_EXPECT(tp_mqueue_get(q, out, -1), TP_EDIED);
	TP_EXPECT(tp_dict_len(d, &n), TP_EDIED);
	TP_OK_OR_FAIL(tp_process_join(k, 20000));
	tp_process_free(k);
	tp_payload_free(args);
	tp_payload_free(out);
	tp_proxy_free(q);
	tp_proxy_free(d);
	TP_OK_OR_FAIL(tp_manager_shutdown(m)); /* already gone: still ok */
	tp_test_fini();
}

static void test_manager_killed_while_waiting(void **state)
{
	(void)state;
	manager_killed_while_waiting(NULL);
}

/* The same calls over tcp:// (sealed frames after the handshake). */
static void test_tcp_path(void **state)
{
	tp_manager_opts o = {.address = "tcp://127.0.0.1:0"};
	(void)state;
	objects_across_processes(TP_START_FORKSERVER, &o);
	manager_killed_while_waiting(&o);
}

static void test_shutdown_then_calls(void **state)
{
	tp_manager *m;
	tp_proxy *d;
	int64_t n;
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_manager_start(&m, NULL));
	TP_OK_OR_FAIL(tp_manager_dict(m, &d));
	TP_OK_OR_FAIL(tp_manager_shutdown(m));
	TP_EXPECT(tp_dict_len(d, &n), TP_EDIED);
	tp_proxy_free(d);
	TP_OK_OR_FAIL(tp_manager_shutdown(NULL));
	TP_EXPECT(tp_manager_start(NULL, NULL), TP_EINVAL);
	tp_test_fini();
	TP_EXPECT(tp_manager_start(&m, NULL), TP_ENOTINIT);
}

/* Remote: tcp on loopback, a client process that knows only the
 * address and key, and one with a wrong key. */
static const char KEY[] = "secret key";

static int t_remote_client(const tp_payload *args, tp_payload *res)
{
	const char *addr, *key;
	tp_manager *m;
	tp_proxy *q;
	tp_payload *out;
	(void)res;
	tp_payload_get_string(args, 0, &addr);
	tp_payload_get_string(args, 1, &key);
	int rv = tp_manager_connect(&m, addr, key, strlen(key), 10000);
	if (rv != TP_OK)
		return rv;
	/* the proxy in the payload needs the key: not in this run */
	if ((rv = tp_payload_get_proxy(args, 2, key, strlen(key), &q)) != 0)
		return 100 + rv;
	tp_payload_new(&out);
	rv = tp_mqueue_get(q, out, 10000);
	const char *s = "";
	tp_payload_get_string(out, 0, &s);
	if (rv == TP_OK && strcmp(s, "over tcp") != 0)
		rv = 99;
	tp_payload_free(out);
	tp_proxy_free(q);
	tp_manager_free(m);
	return rv;
}
TP_TARGET(t_remote_client);

static void test_remote_tcp_auth(void **state)
{
	tp_manager *m, *bad;
	tp_proxy *q;
	tp_payload *args;
	tp_manager_opts o = {.address = "tcp://127.0.0.1:0",
	                     .authkey = KEY,
	                     .authkey_len = strlen(KEY)};
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_manager_start(&m, &o));
	assert_null(strstr(tp_manager_address(m), ":0"));
	TP_OK_OR_FAIL(tp_manager_queue(m, 0, &q));
	TP_OK_OR_FAIL(tp_mqueue_put(q, tp_str("over tcp"), 0));
	TP_OK_OR_FAIL(tp_payload_new(&args));
	TP_OK_OR_FAIL(tp_payload_add_string(args, tp_manager_address(m)));
	TP_OK_OR_FAIL(tp_payload_add_string(args, KEY));
	TP_OK_OR_FAIL(tp_payload_add_proxy(args, q));
	run_child(t_remote_client, args, 0);
	/* a wrong key: TP_EAUTH, and the manager keeps serving */
	TP_EXPECT(
	    tp_manager_connect(&bad, tp_manager_address(m), "nope", 4, 5000),
	    TP_EAUTH);
	tp_payload_free(args);
	TP_OK_OR_FAIL(tp_payload_new(&args));
	TP_OK_OR_FAIL(tp_payload_add_string(args, tp_manager_address(m)));
	TP_OK_OR_FAIL(tp_payload_add_string(args, "wrong"));
	TP_OK_OR_FAIL(tp_payload_add_proxy(args, q));
	run_child(t_remote_client, args, TP_EAUTH);
	TP_OK_OR_FAIL(tp_mqueue_put(q, tp_str("still"), 0));
	TP_EXPECT(tp_manager_connect(&bad, "tcp://127.0.0.1:1", KEY, 3, 2000),
	          TP_ECLOSED);
	TP_EXPECT(tp_manager_connect(&bad, NULL, KEY, 3, 2000), TP_EINVAL);
	tp_payload_free(args);
	tp_proxy_free(q);
	TP_OK_OR_FAIL(tp_manager_shutdown(m));
	tp_test_fini();
}

/* An authenticated call too big for the manager is refused with
 * TP_ETOOBIG, over ipc and tcp, and the manager keeps serving. (Bad peers
 * before authentication: test_manager_peers.) */
static void too_big(const char *address)
{
	tp_manager *m;
	tp_proxy *d;
	int64_t n;
	tp_test_init(TP_START_DEFAULT);
	tp_manager_opts o = {.address = address, .max_msg = 4096};
	TP_OK_OR_FAIL(tp_manager_start(&m, &o));
	TP_OK_OR_FAIL(tp_manager_dict(m, &d));
	TP_OK_OR_FAIL(tp_dict_set(d, tp_int(1), tp_int(2)));
	char *big = calloc(1, 8000);
	memset(big, 'x', 7999);
	TP_EXPECT(tp_dict_set(d, tp_int(2), tp_str(big)), TP_ETOOBIG);
	free(big);
	TP_OK_OR_FAIL(tp_dict_len(d, &n));
	assert_int_equal(n, 1);
	tp_proxy_free(d);
	TP_OK_OR_FAIL(tp_manager_shutdown(m));
	tp_test_fini();
}

static void test_too_big(void **state)
{
	(void)state;
	too_big(NULL);
	too_big("tcp://127.0.0.1:0");
}

/* Named objects: every client asking for "jobs" gets the same queue. */
static void test_named_objects(void **state)
{
	tp_manager *m, *c;
	tp_proxy *a, *b, *x;
	tp_payload *out;
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	tp_manager_opts o = {.authkey = "k", .authkey_len = 1};
	TP_OK_OR_FAIL(tp_manager_start(&m, &o));
	TP_OK_OR_FAIL(
	    tp_manager_connect(&c, tp_manager_address(m), "k", 1, 5000));
	TP_OK_OR_FAIL(tp_manager_get(m, "queue", "jobs", NULL, &a));
	TP_OK_OR_FAIL(tp_manager_get(c, "queue", "jobs", NULL, &b));
	TP_EXPECT(tp_manager_get(c, "dict", "jobs", NULL, &x), TP_ETYPE);
	TP_EXPECT(tp_manager_get(c, "dict", "", NULL, &x), TP_EINVAL);
	TP_OK_OR_FAIL(tp_mqueue_put(a, tp_int(5), 0));
	TP_OK_OR_FAIL(tp_payload_new(&out));
	TP_OK_OR_FAIL(tp_mqueue_get(b, out, 0));
	assert_int_equal(int_at(out, 0), 5);
	/* released, the name makes a new object */
	TP_OK_OR_FAIL(tp_proxy_release(a));
	TP_OK_OR_FAIL(tp_manager_get(c, "dict", "jobs", NULL, &x));
	TP_OK_OR_FAIL(tp_dict_set(x, tp_int(1), tp_int(1)));
	tp_payload_free(out);
	tp_proxy_free(a);
	tp_proxy_free(b);
	tp_proxy_free(x);
	tp_manager_free(c);
	TP_OK_OR_FAIL(tp_manager_shutdown(m));
	tp_test_fini();
}

static void test_payload_proxy_errors(void **state)
{
	tp_payload *p;
	tp_proxy *px;
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_payload_new(&p));
	TP_OK_OR_FAIL(tp_payload_add_int(p, 1));
	TP_EXPECT(tp_payload_get_proxy(p, 0, NULL, 0, &px), TP_ETYPE);
	TP_EXPECT(tp_payload_get_proxy(p, 1, NULL, 0, &px), TP_ENOENT);
	TP_EXPECT(tp_payload_add_proxy(p, NULL), TP_EINVAL);
	TP_EXPECT(tp_proxy_call(NULL, "x", NULL, NULL, 0), TP_EINVAL);
	tp_proxy_free(NULL);
	tp_manager_free(NULL);
	tp_payload_free(p);
	tp_test_fini();
}

int main(void)
{
	tp_spawn_guard();
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	    /* first: before this process touches nng (fork needs that) */
	    cmocka_unit_test(test_fork_method_child),
	    cmocka_unit_test(test_objects_across_processes),
	    cmocka_unit_test(test_python_reprs),
	    cmocka_unit_test(test_proxy_reprs_are_pythons),
	    cmocka_unit_test(test_array),
	    cmocka_unit_test(test_dict_methods),
	    cmocka_unit_test(test_list_methods),
	    cmocka_unit_test(test_queue_event_blocking),
	    cmocka_unit_test(test_joinable_queue),
	    cmocka_unit_test(test_pool_workers),
	    cmocka_unit_test(test_barrier),
	    cmocka_unit_test(test_condition),
	    cmocka_unit_test(test_value_lock_counter),
	    cmocka_unit_test(test_rlock_semaphores),
	    cmocka_unit_test(test_user_type),
	    cmocka_unit_test(test_killed_holder_releases_lock),
	    cmocka_unit_test(test_manager_killed_while_waiting),
	    cmocka_unit_test(test_tcp_path),
	    cmocka_unit_test(test_shutdown_then_calls),
	    cmocka_unit_test(test_remote_tcp_auth),
	    cmocka_unit_test(test_too_big),
	    cmocka_unit_test(test_named_objects),
	    cmocka_unit_test(test_payload_proxy_errors),
	};
	int rv = cmocka_run_group_tests(tests, NULL, NULL);
	/* nng frees closed sockets' pipes asynchronously: let it finish so
	 * LeakSanitizer sees only real leaks */
	nng_fini();
	return rv;
}
