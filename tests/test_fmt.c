/*
 * test_fmt.c - the concise API (troupe/fmt.h): every format letter packed
 * and unpacked, every mismatch refused with a message naming the position
 * and both types, and every repr compared with python3's own output for
 * the same values.
 */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "troupe/fmt.h"

static void test_every_letter_round_trips(void **state)
{
	(void)state;
	tp_payload *p;
	TP_OK_OR_FAIL(tp_pack_new(&p, "n i l d s z z b", 7, (int64_t)1 << 40,
	                          0.5, "bob", "x", NULL, "\0\1", (size_t)2));
	assert_int_equal(tp_payload_count(p), 8);
	int i = 0;
	int64_t l = 0;
	double d = 0;
	const char *s = NULL, *z1 = NULL, *z2 = "unset";
	const void *b = NULL;
	size_t n = 0;
	TP_OK_OR_FAIL(
	    tp_unpack(p, "nildszzb", &i, &l, &d, &s, &z1, &z2, &b, &n));
	assert_int_equal(i, 7);
	assert_true(l == (int64_t)1 << 40);
	assert_true(d == 0.5);
	assert_string_equal(s, "bob");
	assert_string_equal(z1, "x");
	assert_null(z2);
	assert_int_equal(n, 2);
	assert_memory_equal(b, "\0\1", 2);
	/* '.' skips any value, '*' ignores the rest. */
	TP_OK_OR_FAIL(tp_unpack(p, ". i *", &i));
	TP_OK_OR_FAIL(tp_unpack(p, "........*"));
	TP_OK_OR_FAIL(tp_unpack(p, "........"));
	/* An 'l' value is also read by 'i' when it fits. */
	TP_OK_OR_FAIL(tp_pack(p, "l", (int64_t)-5));
	TP_OK_OR_FAIL(tp_unpack(p, "........i", &i));
	assert_int_equal(i, -5);
	tp_payload_free(p);
}

/* Each letter against a value of every other type: TP_ETYPE, a message
 * with the position and both Python type names, nothing stored. */
static void test_every_mismatch_is_named(void **state)
{
	(void)state;
	tp_payload *p;
	TP_OK_OR_FAIL(
	    tp_pack_new(&p, "nldsb", (int64_t)7, 2.5, "hi", "ab", (size_t)2));
	static const char *const pyname[] = {"NoneType", "int", "float", "str",
	                                     "bytes"};
	static const char letters[] = "nidslb";
	static const char *const want[] = {"NoneType", "int", "float",
	                                   "str",      "int", "bytes"};
	static const int type_of[] = {0, 1, 2, 3, 1, 4};
	char fmt[8], why[160], expect[160];
	for (size_t l = 0; l < strlen(letters); l++)
		for (int v = 0; v < 5; v++) {
			if (type_of[l] == v)
				continue;
			/* Value v+1 is checked against letter l. */
			memset(fmt, 0, sizeof(fmt));
			memset(fmt, '.', 5);
			fmt[v] = letters[l];
			assert_int_equal(
			    tp_unpack_why(p, fmt, why, sizeof(why)), TP_ETYPE);
			snprintf(expect, sizeof(expect),
			         "value %d: format '%c' wants %s, got %s (",
			         v + 1, letters[l], want[l], pyname[v]);
			assert_non_null(strstr(why, expect));
		}
	/* 'z' takes str or None only. */
	assert_int_equal(tp_unpack_why(p, ".z...", why, sizeof(why)), TP_ETYPE);
	assert_string_equal(why, "value 2: format 'z' wants str or None, got "
	                         "int (7)");
	/* Nothing is stored when a later value mismatches. */
	int64_t l = 99;
	double d = 99;
	assert_int_equal(tp_unpack(p, ".ldd.", &l, &d, &d), TP_ETYPE);
	assert_true(l == 99 && d == 99);
	/* Counts, unknown letters, ranges, NULLs. */
	assert_int_equal(tp_unpack_why(p, "nl", why, sizeof(why)), TP_ETYPE);
	assert_string_equal(why, "format \"nl\" wants 2 values, got 5");
	assert_int_equal(tp_unpack_why(p, "nldsbn", why, sizeof(why)),
	                 TP_ETYPE);
	assert_int_equal(tp_unpack_why(p, "nldsbn*", why, sizeof(why)),
	                 TP_ETYPE);
	assert_string_equal(
	    why, "format \"nldsbn*\" wants at least 6 values, got 5");
	assert_int_equal(tp_unpack_why(p, "nq", why, sizeof(why)), TP_EINVAL);
	assert_string_equal(why, "format \"nq\": unknown letter 'q'");
	assert_int_equal(tp_unpack(p, "n*.", &l), TP_EINVAL);
	assert_int_equal(tp_unpack(NULL, "n"), TP_EINVAL);
	assert_int_equal(tp_unpack(p, NULL), TP_EINVAL);
	tp_payload_free(p);

	TP_OK_OR_FAIL(tp_pack_new(&p, "l", (int64_t)INT_MAX + 1));
	int i = 3;
	assert_int_equal(tp_unpack(p, "i", &i), TP_EVALUE);
	assert_int_equal(i, 3);
	assert_int_equal(tp_unpack_why(p, "i", why, sizeof(why)), TP_EVALUE);
	assert_string_equal(
	    why, "value 1: format 'i' wants a C int, got 2147483648");
	tp_payload_free(p);
}

static void test_pack_refuses_before_adding(void **state)
{
	(void)state;
	tp_payload *p;
	TP_OK_OR_FAIL(tp_pack_new(&p, ""));
	assert_int_equal(tp_pack(p, "is", 1, (const char *)NULL), TP_EINVAL);
	assert_int_equal(tp_pack(p, "ib", 1, NULL, (size_t)3), TP_EINVAL);
	assert_int_equal(tp_pack(p, "i.", 1), TP_EINVAL);
	assert_int_equal(tp_pack(p, "i*", 1), TP_EINVAL);
	assert_int_equal(tp_pack(p, "ix", 1), TP_EINVAL);
	assert_int_equal(tp_payload_count(p), 0);
	TP_OK_OR_FAIL(tp_pack(p, "b", NULL, (size_t)0)); /* empty bytes */
	assert_int_equal(tp_pack(NULL, "i", 1), TP_EINVAL);
	assert_int_equal(tp_pack(p, NULL), TP_EINVAL);
	tp_payload *q = (tp_payload *)&q;
	assert_int_equal(tp_pack_new(&q, "s", (const char *)NULL), TP_EINVAL);
	assert_null(q);
	assert_int_equal(tp_pack_new(NULL, "i", 1), TP_EINVAL);
	tp_payload_free(p);
}

/* Runs python3 on code; its stdout into out. */
static void python(const char *code, char *out, size_t len)
{
	char path[] = "/tmp/tp-fmt-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	fputs(code, f);
	fclose(f);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "python3 %s", path);
	FILE *pp = popen(cmd, "r");
	assert_non_null(pp);
	size_t n = fread(out, 1, len - 1, pp);
	out[n] = '\0';
	pclose(pp);
	unlink(path);
}

static const double doubles[] = {2.7182818284590455,
                                 3.1415927,
                                 0.1,
                                 0.5,
                                 1.0,
                                 100.0,
                                 1e15,
                                 1e16,
                                 1e17,
                                 123456789012345678.0,
                                 1e-4,
                                 1e-5,
                                 1.5e-5,
                                 0.0,
                                 -0.0,
                                 -2.5,
                                 1.0 / 3,
                                 2.0 / 3,
                                 5e-324,
                                 DBL_MAX,
                                 DBL_MIN,
                                 1e22,
                                 1e-7,
                                 9007199254740993.0,
                                 0.30000000000000004,
                                 1234.5678,
                                 INFINITY,
                                 -INFINITY};

/* The same doubles in Python's spelling (for inf, which has no literal). */
static void py_double(double d, char *buf, size_t len)
{
	if (isinf(d))
		snprintf(buf, len, "float('%sinf')", d < 0 ? "-" : "");
	else
		snprintf(buf, len, "float('%.17g')", d);
}

static void test_double_repr_is_pythons(void **state)
{
	(void)state;
	char code[8192] = "", ours[8192] = "", theirs[8192], line[64], r[64];
	size_t n = sizeof(doubles) / sizeof(doubles[0]);
	for (size_t i = 0; i < n; i++) {
		py_double(doubles[i], line, sizeof(line));
		snprintf(code + strlen(code), sizeof(code) - strlen(code),
		         "print(repr(%s))\n", line);
		snprintf(ours + strlen(ours), sizeof(ours) - strlen(ours),
		         "%s\n", tp_repr_double(doubles[i], r, sizeof(r)));
	}
	strcat(code, "print(repr(float('nan')))\n");
	strcat(ours, tp_repr_double(NAN, r, sizeof(r)));
	strcat(ours, "\n");
	python(code, theirs, sizeof(theirs));
	assert_string_equal(ours, theirs);
}

/* A payload of every type, as python3 sees the same list. */
static void test_payload_repr_is_pythons(void **state)
{
	(void)state;
	tp_payload *p;
	TP_OK_OR_FAIL(tp_pack_new(
	    &p, "nildssssbbb", -3, (int64_t)INT64_MIN, 2.7182818284590455,
	    "bob", "it's", "say \"hi\" it's", "tab\there\\ \x01\x7f é",
	    "\0\xff'", (size_t)3, "abc", (size_t)3, "", (size_t)0));
	char ours[512], theirs[512], code[1024];
	snprintf(code, sizeof(code), "%s",
	         "print(repr([None, -3, -9223372036854775808, "
	         "2.7182818284590455, 'bob', \"it's\", 'say \"hi\" it\\'s', "
	         "'tab\\there\\\\ \\x01\\x7f é', b\"\\x00\\xff'\", b'abc', "
	         "b'']))\n"
	         "print(str('bob'))\nprint(repr('bob'))\n");
	python(code, theirs, sizeof(theirs));
	char a[64], b[64];
	snprintf(ours, sizeof(ours), "%s\n%s\n%s\n", tp_repr(p, code, 1024),
	         tp_str_at(p, 4, a, sizeof(a)), tp_repr_at(p, 4, b, sizeof(b)));
	assert_string_equal(ours, theirs);
	assert_string_equal(tp_repr_at(p, 99, a, sizeof(a)), "");
	assert_string_equal(tp_repr(NULL, a, sizeof(a)), "[]");
	tp_payload_free(p);
}

/* A repr that does not fit ends in "..." and stays inside the buffer. */
static void test_repr_truncates(void **state)
{
	(void)state;
	tp_payload *p;
	TP_OK_OR_FAIL(tp_pack_new(&p, "iiii", 1000, 2000, 3000, 4000));
	char buf[12];
	memset(buf, 'X', sizeof(buf));
	assert_string_equal(tp_repr(p, buf, sizeof(buf)), "[1000, 2...");
	assert_string_equal(tp_repr(p, buf, 3), "");
	tp_payload_free(p);
}

/* Shared Value and Array reprs and the locked add, against Python. */
static void test_shared_repr_and_add(void **state)
{
	(void)state;
	tp_test_init(TP_START_FORKSERVER);
	tp_value *v, *f, *c, *ci;
	tp_array *a, *ad;
	double pi = 3.1415927;
	float pf = 3.1415927f;
	char ch = 'x';
	int32_t ints[10];
	double ds[3] = {0.1, 1e16, -0.0};
	for (int i = 0; i < 10; i++)
		ints[i] = -i;
	TP_OK_OR_FAIL(tp_value_new(&v, 'd', &pi, NULL));
	TP_OK_OR_FAIL(tp_value_new(&f, 'f', &pf, NULL));
	TP_OK_OR_FAIL(tp_value_new(&c, 'c', &ch, NULL));
	TP_OK_OR_FAIL(tp_value_new(&ci, 'i', NULL, NULL));
	TP_OK_OR_FAIL(tp_array_new(&a, 'i', 10, ints, NULL));
	TP_OK_OR_FAIL(tp_array_new(&ad, 'd', 3, ds, NULL));
	char ours[512], theirs[512], b[5][128];
	python("from multiprocessing import Value, Array\n"
	       "print(Value('d', 3.1415927).value)\n"
	       "print(Value('f', 3.1415927).value)\n"
	       "print(repr(Value('c', b'x').value))\n"
	       "print(Array('i', [-i for i in range(10)])[:])\n"
	       "print(Array('d', [0.1, 1e16, -0.0])[:])\n",
	       theirs, sizeof(theirs));
	snprintf(ours, sizeof(ours), "%s\n%s\n%s\n%s\n%s\n",
	         tp_value_repr(v, b[0], 128), tp_value_repr(f, b[1], 128),
	         tp_value_repr(c, b[2], 128), tp_array_repr(a, b[3], 128),
	         tp_array_repr(ad, b[4], 128));
	assert_string_equal(ours, theirs);

	int64_t x = 0;
	double y = 0;
	TP_OK_OR_FAIL(tp_value_add_long(ci, 3, &x));
	TP_OK_OR_FAIL(tp_value_add_long(ci, -1, NULL));
	TP_OK_OR_FAIL(tp_value_get_long(ci, &x));
	assert_int_equal(x, 2);
	TP_OK_OR_FAIL(tp_value_add_double(v, 1.0, &y));
	assert_true(y == pi + 1.0);
	assert_int_equal(tp_value_add_long(v, 1, NULL), TP_ETYPE);
	assert_int_equal(tp_value_add_double(ci, 1, NULL), TP_ETYPE);
	assert_int_equal(tp_value_add_long(c, 1, NULL), TP_ETYPE);
	assert_int_equal(tp_value_add_long(NULL, 1, NULL), TP_EINVAL);

	/* A Value sharing a plain (non-recursive) Lock: no self-deadlock. */
	tp_lock *l;
	tp_value *vl;
	TP_OK_OR_FAIL(tp_lock_new(&l));
	TP_OK_OR_FAIL(tp_value_new(&vl, 'q', NULL, l));
	TP_OK_OR_FAIL(tp_value_add_long(vl, 5, &x));
	assert_int_equal(x, 5);
	tp_value_free(vl);
	tp_lock_free(l);
	tp_value_free(v), tp_value_free(f), tp_value_free(c);
	tp_value_free(ci), tp_array_free(a), tp_array_free(ad);
	tp_test_fini();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_letter_round_trips),
	    cmocka_unit_test(test_every_mismatch_is_named),
	    cmocka_unit_test(test_pack_refuses_before_adding),
	    cmocka_unit_test(test_double_repr_is_pythons),
	    cmocka_unit_test(test_payload_repr_is_pythons),
	    cmocka_unit_test(test_repr_truncates),
	    cmocka_unit_test(test_shared_repr_and_add),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
