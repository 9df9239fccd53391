/* test_slist.c - ShareableList: items of every type, the room of each
 * item, attaching by name and from a payload in another process, a block
 * that is no list, the repr, count and index against Python's. */
#include <math.h>
#include <stdio.h>

#include "sync_util.h"
#include "troupe/fmt.h"

/* [1, 'hello', None, 2.5, b'x\x00y'] */
static tp_payload *sample(void)
{
	tp_payload *p;
	TP_OK_OR_FAIL(tp_payload_new(&p));
	TP_OK_OR_FAIL(tp_payload_add_int(p, 1));
	TP_OK_OR_FAIL(tp_payload_add_string(p, "hello"));
	TP_OK_OR_FAIL(tp_payload_add_none(p));
	TP_OK_OR_FAIL(tp_payload_add_double(p, 2.5));
	TP_OK_OR_FAIL(tp_payload_add_bytes(p, "x\0y", 3));
	return p;
}

static void test_items(void **state)
{
	(void)state;
	tp_slist *l;
	tp_payload *items = sample(), *got;
	char buf[256];
	tp_test_init(TP_START_FORK);
	TP_OK_OR_FAIL(tp_slist_new(&l, items));
	assert_int_equal(tp_slist_len(l), 5);
	TP_OK_OR_FAIL(tp_payload_new(&got));
	TP_OK_OR_FAIL(tp_slist_get_all(l, got));
	assert_string_equal(tp_repr(got, buf, sizeof buf),
	                    "[1, 'hello', None, 2.5, b'x\\x00y']");
	/* any type in any item that fits: 8 bytes for a number, the rounded
	 * length (8 here) for 'hello' */
	TP_OK_OR_FAIL(tp_slist_set_str(l, 0, "12345678"));
	TP_EXPECT(tp_slist_set_str(l, 1, "123456789"), TP_ETOOBIG);
	TP_EXPECT(tp_slist_set_bytes(l, 4, "123456789", 9), TP_ETOOBIG);
	TP_OK_OR_FAIL(tp_slist_set_bool(l, 1, 5));
	TP_OK_OR_FAIL(tp_slist_set_double(l, 2, -0.0));
	TP_OK_OR_FAIL(tp_slist_set_none(l, 3));
	TP_OK_OR_FAIL(tp_slist_set_int(l, 4, -7));
	assert_true(tp_slist_is_bool(l, 1));
	assert_false(tp_slist_is_bool(l, 0));
	assert_false(tp_slist_is_bool(l, 9));
	tp_payload_clear(got);
	TP_OK_OR_FAIL(tp_slist_get_all(l, got));
	assert_string_equal(tp_repr(got, buf, sizeof buf),
	                    "['12345678', 1, -0.0, None, -7]");
	TP_OK_OR_FAIL(tp_slist_set(l, 0, items, 1));
	TP_EXPECT(tp_slist_set(l, 0, items, 5), TP_ENOENT);
	TP_EXPECT(tp_slist_set_int(l, 5, 1), TP_ENOENT);
	TP_EXPECT(tp_slist_get(l, 5, got), TP_ENOENT);
	TP_EXPECT(tp_slist_get(l, 0, NULL), TP_EINVAL);
	TP_EXPECT(tp_slist_set_str(l, 0, NULL), TP_EINVAL);
	TP_EXPECT(tp_slist_set_int(NULL, 0, 1), TP_EINVAL);
	TP_EXPECT(tp_slist_new(NULL, items), TP_EINVAL);
	TP_EXPECT(tp_slist_new(&l, NULL), TP_EINVAL);
	assert_int_equal(tp_slist_len(NULL), 0);
	assert_null(tp_slist_name(NULL));
	/* an empty list, and an empty str that still gets 8 bytes */
	tp_slist *e;
	tp_payload_clear(got);
	TP_OK_OR_FAIL(tp_slist_new(&e, got));
	assert_int_equal(tp_slist_len(e), 0);
	tp_slist_free(e);
	TP_OK_OR_FAIL(tp_payload_add_string(got, ""));
	TP_OK_OR_FAIL(tp_slist_new(&e, got));
	TP_OK_OR_FAIL(tp_slist_set_str(e, 0, "8 bytes!"));
	tp_slist_free(e);
	tp_payload_free(got);
	tp_payload_free(items);
	TP_OK_OR_FAIL(tp_slist_unlink(l));
	TP_EXPECT(tp_slist_unlink(l), TP_EALREADY);
	tp_slist_free(l);
	tp_slist_free(NULL);
	su_fini();
}

static const char *g_name;

/* Attaches by name, checks, writes item 0, may not unlink. */
static int child_attach(void *arg)
{
	tp_slist *l;
	tp_payload *p;
	char buf[128];
	(void)arg;
	if (tp_slist_attach(&l, g_name) != TP_OK || tp_payload_new(&p))
		return 1;
	if (tp_slist_get(l, 1, p) != TP_OK ||
	    strcmp(tp_repr(p, buf, sizeof buf), "['hello']") != 0)
		return 2;
	if (tp_slist_set_int(l, 0, 42) != TP_OK)
		return 3;
	if (tp_slist_unlink(l) != TP_EPERM)
		return 4;
	tp_payload_free(p);
	tp_slist_free(l);
	return 0;
}

static void test_attach(void **state)
{
	(void)state;
	tp_slist *l, *b;
	tp_payload *items = sample(), *p, *got;
	tp_shmem *m;
	int64_t x;
	tp_test_init(TP_START_FORK);
	TP_OK_OR_FAIL(tp_slist_new_named(&l, "sl-test", items));
	assert_string_equal(tp_slist_name(l), "sl-test");
	TP_EXPECT(tp_slist_new_named(&b, "sl-test", items), TP_EEXIST);
	TP_EXPECT(tp_slist_new_named(&b, "bad name", items), TP_EINVAL);
	g_name = "sl-test";
	assert_int_equal(su_reap(su_fork(child_attach, NULL)), 0);
	/* by its troupe name too */
	TP_OK_OR_FAIL(tp_slist_new(&b, items));
	g_name = tp_slist_name(b);
	assert_int_equal(su_reap(su_fork(child_attach, NULL)), 0);
	TP_OK_OR_FAIL(tp_payload_new(&got));
	TP_OK_OR_FAIL(tp_slist_get(l, 0, got));
	TP_OK_OR_FAIL(tp_slist_get(b, 0, got));
	TP_OK_OR_FAIL(tp_payload_get_int(got, 0, &x));
	assert_int_equal(x, 42);
	TP_OK_OR_FAIL(tp_payload_get_int(got, 1, &x));
	assert_int_equal(x, 42);
	tp_slist_free(b);
	/* through a payload */
	TP_OK_OR_FAIL(tp_payload_new(&p));
	TP_OK_OR_FAIL(tp_payload_add_slist(p, l));
	TP_EXPECT(tp_payload_add_slist(p, NULL), TP_EINVAL);
	tp_payload *q = su_roundtrip(p);
	tp_slist *r;
	TP_OK_OR_FAIL(tp_payload_get_slist(q, 0, &r));
	assert_int_equal(tp_slist_len(r), 5);
	TP_EXPECT(tp_slist_unlink(r), TP_EPERM);
	tp_slist_free(r);
	TP_EXPECT(tp_payload_get_slist(items, 0, &r), TP_ETYPE);
	/* a block that is no list is refused before anything is read */
	TP_OK_OR_FAIL(tp_shmem_new_named(&m, "not-a-list", 64));
	memset(tp_shmem_buf(m), 0xff, 64);
	TP_EXPECT(tp_slist_attach(&r, "not-a-list"), TP_EDECODE);
	tp_payload_clear(p);
	TP_OK_OR_FAIL(tp_payload_add_shmem(p, m));
	TP_EXPECT(tp_payload_get_slist(p, 0, &r), TP_EDECODE);
	/* a list whose slot offset was corrupted */
	TP_OK_OR_FAIL(tp_slist_new_named(&r, "corrupt", items));
	((uint64_t *)tp_shmem_buf(tp_slist_shmem(r)))[3] = 1u << 30;
	TP_EXPECT(tp_slist_attach(&b, "corrupt"), TP_EDECODE);
	tp_slist_free(r);
	TP_EXPECT(tp_slist_attach(&r, "no-such-list"), TP_ENOENT);
	TP_EXPECT(tp_slist_attach(&r, NULL), TP_EINVAL);
	tp_shmem_free(m);
	tp_payload_free(q);
	tp_payload_free(p);
	tp_payload_free(got);
	tp_payload_free(items);
	tp_slist_free(l);
	su_fini(); /* every block left (named or not) is gone */
}

static void test_repr(void **state)
{
	(void)state;
	tp_slist *l;
	tp_payload *items = sample();
	char buf[256], py[256] = "";
	tp_test_init(TP_START_FORK);
	TP_OK_OR_FAIL(tp_slist_new_named(&l, "sl_repr", items));
	TP_OK_OR_FAIL(tp_slist_set_bool(l, 2, 1));
	FILE *f = popen("python3 -c \"print(repr([1, 'hello', True, 2.5, "
	                "b'x\\\\x00y']), end='')\" 2>/dev/null",
	                "r");
	if (f != NULL) {
		if (fgets(py, sizeof py, f) == NULL)
			py[0] = '\0';
		pclose(f);
	}
	if (py[0] == '\0')
		strcpy(py, "[1, 'hello', True, 2.5, b'x\\x00y']");
	char want[300];
	snprintf(want, sizeof want, "ShareableList(%s, name='sl_repr')", py);
	assert_string_equal(tp_slist_repr(l, buf, sizeof buf), want);
	assert_string_equal(tp_slist_repr(NULL, buf, sizeof buf), "");
	tp_slist_repr(l, buf, 20);
	assert_int_equal(strlen(buf), 19);
	tp_slist_free(l);
	tp_payload_free(items);
	su_fini();
}

/* The items of the count/index test, as python3 writes them. */
#define CI_ITEMS                                                               \
	"[1, 1.0, True, 'a', b'a', None, 2.5, float('nan'), 2.0**53, 0, -0.0]"
/* The values asked for; each row of want is count, index (-1: the
 * ValueError), python3's answers when it runs (the same otherwise). */
#define CI_PROBES                                                              \
	"[1, 1.0, 'a', b'a', None, 2.5, float('nan'), 2**53 + 1, 2**53, 0, "   \
	"0.0, 'b', b'', 7, True]"

static tp_payload *ci_probes(void)
{
	tp_payload *p;
	TP_OK_OR_FAIL(tp_payload_new(&p));
	TP_OK_OR_FAIL(tp_payload_add_int(p, 1));
	TP_OK_OR_FAIL(tp_payload_add_double(p, 1.0));
	TP_OK_OR_FAIL(tp_payload_add_string(p, "a"));
	TP_OK_OR_FAIL(tp_payload_add_bytes(p, "a", 1));
	TP_OK_OR_FAIL(tp_payload_add_none(p));
	TP_OK_OR_FAIL(tp_payload_add_double(p, 2.5));
	TP_OK_OR_FAIL(tp_payload_add_double(p, NAN));
	TP_OK_OR_FAIL(tp_payload_add_int(p, (INT64_C(1) << 53) + 1));
	TP_OK_OR_FAIL(tp_payload_add_int(p, INT64_C(1) << 53));
	TP_OK_OR_FAIL(tp_payload_add_int(p, 0));
	TP_OK_OR_FAIL(tp_payload_add_double(p, 0.0));
	TP_OK_OR_FAIL(tp_payload_add_string(p, "b"));
	TP_OK_OR_FAIL(tp_payload_add_bytes(p, "", 0));
	TP_OK_OR_FAIL(tp_payload_add_int(p, 7));
	TP_OK_OR_FAIL(tp_payload_add_int(p, 1)); /* True is the int 1 */
	return p;
}

static void test_count_index(void **state)
{
	(void)state;
	long want[15][2] = {{3, 0}, {3, 0},  {1, 3},  {1, 4},  {1, 5},
	                    {1, 6}, {0, -1}, {0, -1}, {1, 8},  {2, 9},
	                    {2, 9}, {0, -1}, {0, -1}, {0, -1}, {3, 0}};
	tp_slist *l;
	tp_payload *items, *probes = ci_probes();
	size_t n, at;
	tp_test_init(TP_START_FORK);
	/* python3 on a real ShareableList, when there is one */
	FILE *f =
	    popen("python3 -c \"from multiprocessing.shared_memory import "
	          "ShareableList as S\nl = S(" CI_ITEMS ")\ntry:\n"
	          " for v in " CI_PROBES ":\n"
	          "  try: i = l.index(v)\n  except ValueError: i = -1\n"
	          "  print(l.count(v), i)\nfinally:\n l.shm.close(); "
	          "l.shm.unlink()\" 2>/dev/null",
	          "r");
	for (int k = 0; f != NULL && k < 15; k++)
		if (fscanf(f, "%ld %ld", &want[k][0], &want[k][1]) != 2)
			break;
	if (f != NULL)
		pclose(f);
	TP_OK_OR_FAIL(tp_payload_new(&items));
	TP_OK_OR_FAIL(tp_payload_add_int(items, 1));
	TP_OK_OR_FAIL(tp_payload_add_double(items, 1.0));
	TP_OK_OR_FAIL(tp_payload_add_int(items, 0)); /* True, set below */
	TP_OK_OR_FAIL(tp_payload_add_string(items, "a"));
	TP_OK_OR_FAIL(tp_payload_add_bytes(items, "a", 1));
	TP_OK_OR_FAIL(tp_payload_add_none(items));
	TP_OK_OR_FAIL(tp_payload_add_double(items, 2.5));
	TP_OK_OR_FAIL(tp_payload_add_double(items, NAN));
	TP_OK_OR_FAIL(tp_payload_add_double(items, 9007199254740992.0));
	TP_OK_OR_FAIL(tp_payload_add_int(items, 0));
	TP_OK_OR_FAIL(tp_payload_add_double(items, -0.0));
	TP_OK_OR_FAIL(tp_slist_new(&l, items));
	TP_OK_OR_FAIL(tp_slist_set_bool(l, 2, 1));
	for (size_t k = 0; k < 15; k++) {
		TP_OK_OR_FAIL(tp_slist_count(l, probes, k, &n));
		assert_int_equal(n, want[k][0]);
		at = 99;
		int rv = tp_slist_index(l, probes, k, &at);
		if (want[k][1] < 0) {
			TP_EXPECT(rv, TP_ENOENT);
			assert_int_equal(at, 99); /* left alone */
		} else {
			TP_OK_OR_FAIL(rv);
			assert_int_equal(at, want[k][1]);
		}
	}
	TP_EXPECT(tp_slist_count(l, probes, 15, &n), TP_EINVAL);
	TP_EXPECT(tp_slist_index(l, NULL, 0, &at), TP_EINVAL);
	TP_EXPECT(tp_slist_index(NULL, probes, 0, &at), TP_EINVAL);
	TP_EXPECT(tp_slist_count(l, probes, 0, NULL), TP_EINVAL);
	tp_slist_free(l);
	tp_payload_free(items);
	tp_payload_free(probes);
	su_fini();
}

/* Makes a list, says so, and waits to be killed. */
static int child_hold(void *arg)
{
	int *fd = arg;
	tp_slist *l;
	tp_payload *items = sample();
	if (tp_slist_new_named(&l, "held", items) != TP_OK)
		return 1;
	if (write(fd[1], "x", 1) != 1)
		return 2;
	for (;;)
		pause();
}

/* A process of the run killed while it holds a list: its block goes at
 * the owner's tp_fini (a SharedMemoryManager's go at once, test_smm.c). */
static void test_holder_killed(void **state)
{
	(void)state;
	int fd[2];
	char c;
	tp_slist *l;
	tp_test_init(TP_START_FORK);
	assert_int_equal(pipe(fd), 0);
	pid_t pid = su_fork(child_hold, fd);
	assert_int_equal(read(fd[0], &c, 1), 1);
	TP_OK_OR_FAIL(tp_slist_attach(&l, "held"));
	assert_int_equal(tp_slist_len(l), 5);
	kill(pid, SIGKILL);
	assert_int_equal(su_reap(pid), 128 + SIGKILL);
	TP_OK_OR_FAIL(tp_slist_set_int(l, 0, 9)); /* still mapped */
	TP_EXPECT(tp_slist_unlink(l), TP_EPERM);
	tp_slist_free(l);
	close(fd[0]);
	close(fd[1]);
	su_fini(); /* asserts /dev/shm holds nothing of the run */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_items),
	    cmocka_unit_test(test_attach),
	    cmocka_unit_test(test_repr),
	    cmocka_unit_test(test_count_index),
	    cmocka_unit_test(test_holder_killed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
