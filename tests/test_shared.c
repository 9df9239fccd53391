/* test_shared.c - Value, Array and SharedMemory; and every object type
 * passed through a payload to a freshly exec'd process, which has
 * inherited no mapping. */
#include <fcntl.h>
#include <math.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sync_util.h"

static void test_value_typecodes(void **state)
{
	(void)state;
	static const struct {
		char tc;
		int64_t in, out;
	} cases[] = {
	    {'c', 'x', 'x'},
	    {'b', 200, -56},
	    {'B', 300, 44},
	    {'h', 70000, 4464},
	    {'H', -1, 65535},
	    {'i', (1LL << 32) + 5, 5},
	    {'I', -1, 4294967295LL},
	    {'l', -7, -7},
	    {'L', 7, 7},
	    {'q', INT64_MIN, INT64_MIN},
	    {'Q', -1, -1},
	};
	tp_value *v;
	int64_t x;
	double d;
	tp_test_init(TP_START_FORK);
	/* element sizes: the C type of each typecode; unknown ones are 0 */
	const char *codes = "cbBhHiIlLqQfd";
	const size_t sizes[] = {1, 1, 1, 2, 2, 4, 4, 8, 8, 8, 8, 4, 8};
	for (size_t i = 0; codes[i] != 0; i++)
		assert_int_equal(tp_typecode_size(codes[i]), sizes[i]);
	assert_int_equal(tp_typecode_size('z'), 0);
	assert_int_equal(tp_typecode_size(0), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TP_OK_OR_FAIL(tp_value_new(&v, cases[i].tc, NULL, NULL));
		assert_int_equal(tp_value_typecode(v), cases[i].tc);
		TP_OK_OR_FAIL(tp_value_get_long(v, &x));
		assert_int_equal(x, 0);
		TP_OK_OR_FAIL(tp_value_set_long(v, cases[i].in));
		TP_OK_OR_FAIL(tp_value_get_long(v, &x));
		assert_int_equal(x, cases[i].out);
		TP_EXPECT(tp_value_get_double(v, &d), TP_ETYPE);
		TP_EXPECT(tp_value_set_double(v, 1.0), TP_ETYPE);
		tp_value_free(v);
	}
	int32_t seven = 7;
	TP_OK_OR_FAIL(tp_value_new(&v, 'i', &seven, NULL));
	TP_OK_OR_FAIL(tp_value_get_long(v, &x));
	assert_int_equal(x, 7);
	assert_non_null(tp_value_get_lock(v));
	assert_true(tp_lock_is_recursive(tp_value_get_lock(v)));
	assert_int_equal(*(int32_t *)tp_value_ptr(v), 7);
	tp_value_free(v);
	double pi = 3.25;
	TP_OK_OR_FAIL(tp_rawvalue_new(&v, 'd', &pi));
	assert_null(tp_value_get_lock(v));
	TP_OK_OR_FAIL(tp_value_get_double(v, &d));
	assert_true(d == 3.25);
	TP_EXPECT(tp_value_get_long(v, &x), TP_ETYPE);
	tp_value_free(v);
	TP_OK_OR_FAIL(tp_value_new(&v, 'f', NULL, NULL));
	TP_OK_OR_FAIL(tp_value_set_double(v, 0.5));
	TP_OK_OR_FAIL(tp_value_get_double(v, &d));
	assert_true(d == 0.5);
	TP_EXPECT(tp_value_get_double(v, NULL), TP_EINVAL);
	tp_value_free(v);
	TP_EXPECT(tp_value_new(&v, 'x', NULL, NULL), TP_EINVAL);
	TP_EXPECT(tp_value_new(NULL, 'i', NULL, NULL), TP_EINVAL);
	TP_EXPECT(tp_value_get_long(NULL, &x), TP_EINVAL);
	TP_EXPECT(tp_value_set_long(NULL, 1), TP_EINVAL);
	assert_null(tp_value_get_lock(NULL));
	tp_value_free(NULL);
	su_fini();
}

static void test_array(void **state)
{
	(void)state;
	tp_array *a;
	tp_lock *l;
	int32_t init[5] = {0, 1, 2, 3, 4}, out[5];
	int64_t x;
	tp_test_init(TP_START_FORK);
	TP_EXPECT(tp_array_new(&a, 'i', 0, NULL, NULL), TP_EINVAL);
	TP_EXPECT(tp_array_new(&a, '?', 3, NULL, NULL), TP_EINVAL);
	TP_OK_OR_FAIL(tp_lock_new(&l));
	TP_OK_OR_FAIL(tp_array_new(&a, 'i', 5, init, l));
	assert_int_equal(tp_array_len(a), 5);
	assert_int_equal(tp_array_typecode(a), 'i');
	TP_OK_OR_FAIL(tp_array_get_long(a, 4, &x));
	assert_int_equal(x, 4);
	TP_EXPECT(tp_array_get_long(a, 5, &x), TP_ENOENT);
	TP_EXPECT(tp_array_set_long(a, 5, 1), TP_ENOENT);
	TP_EXPECT(tp_array_get_double(a, 0, NULL), TP_EINVAL);
	/* The user's plain Lock, held by us: access does not deadlock. */
	TP_OK_OR_FAIL(tp_lock_acquire(tp_array_get_lock(a), -1));
	assert_true(tp_lock_is_mine(l));
	TP_OK_OR_FAIL(tp_array_set_long(a, 0, -9));
	TP_OK_OR_FAIL(tp_lock_release(l));
	TP_OK_OR_FAIL(tp_array_read(a, 0, 5, out));
	assert_int_equal(out[0], -9);
	assert_int_equal(out[3], 3);
	TP_OK_OR_FAIL(tp_array_write(a, 3, 2, init));
	TP_OK_OR_FAIL(tp_array_read(a, 3, 2, out));
	assert_int_equal(out[0] * 10 + out[1], 1);
	TP_EXPECT(tp_array_read(a, 4, 2, out), TP_ENOENT);
	TP_EXPECT(tp_array_write(a, 6, 0, init), TP_ENOENT);
	TP_EXPECT(tp_array_read(a, 0, 1, NULL), TP_EINVAL);
	assert_int_equal(tp_array_len(NULL), 0);
	assert_null(tp_array_ptr(NULL));
	tp_array_free(a);
	tp_lock_free(l);
	TP_OK_OR_FAIL(tp_rawarray_new(&a, 'd', 3, NULL));
	assert_null(tp_array_get_lock(a));
	TP_OK_OR_FAIL(tp_array_set_double(a, 2, 1.5));
	double d;
	TP_OK_OR_FAIL(tp_array_get_double(a, 2, &d));
	assert_true(d == 1.5);
	tp_array_free(a);
	tp_array_free(NULL);
	assert_int_equal(su_shm_count(), 0);
	su_fini();
}

static tp_payload *g_handles;

/* The seed's f(n, a): n.value = 3.1415927; a[i] = -a[i]. */
static int child_negate(void *arg)
{
	(void)arg;
	tp_payload *q = su_roundtrip(g_handles);
	tp_value *n;
	tp_array *a;
	int64_t x;
	int rv = tp_payload_get_value(q, 0, &n);
	if (rv == TP_OK)
		rv = tp_payload_get_array(q, 1, &a);
	if (rv != TP_OK) {
		fprintf(stderr, "child: %s\n", tp_strerror(rv));
		return 1;
	}
	tp_payload_free(q);
	tp_value_set_double(n, 3.1415927);
	for (size_t i = 0; i < tp_array_len(a); i++) {
		tp_array_get_long(a, i, &x);
		tp_array_set_long(a, i, -x);
	}
	tp_value_free(n);
	tp_array_free(a);
	return 0;
}

static void test_value_array_in_child(void **state)
{
	(void)state;
	tp_value *n;
	tp_array *a;
	int32_t init[10], out[10];
	double d;
	tp_test_init(TP_START_FORK);
	for (int i = 0; i < 10; i++)
		init[i] = i;
	TP_OK_OR_FAIL(tp_value_new(&n, 'd', NULL, NULL));
	TP_OK_OR_FAIL(tp_array_new(&a, 'i', 10, init, NULL));
	TP_OK_OR_FAIL(tp_payload_new(&g_handles));
	TP_OK_OR_FAIL(tp_payload_add_value(g_handles, n));
	TP_OK_OR_FAIL(tp_payload_add_array(g_handles, a));
	tp_value *wrong;
	TP_EXPECT(tp_payload_get_value(g_handles, 1, &wrong), TP_ETYPE);
	assert_int_equal(su_reap(su_fork(child_negate, NULL)), 0);
	TP_OK_OR_FAIL(tp_value_get_double(n, &d));
	assert_true(fabs(d - 3.1415927) < 1e-12);
	TP_OK_OR_FAIL(tp_array_read(a, 0, 10, out));
	for (int i = 0; i < 10; i++)
		assert_int_equal(out[i], -i);
	tp_payload_free(g_handles);
	tp_value_free(n);
	tp_array_free(a);
	su_fini();
}

static int child_ext_lock(void *arg)
{
	(void)arg;
	tp_payload *q = su_roundtrip(g_handles);
	tp_array *a;
	if (tp_payload_get_array(q, 0, &a) != TP_OK)
		return 1;
	tp_payload_free(q);
	/* The parent holds the user's lock: the same lock here. */
	if (tp_lock_acquire(tp_array_get_lock(a), 0) != TP_ETIMEDOUT)
		return 2;
	if (tp_lock_is_recursive(tp_array_get_lock(a)))
		return 3;
	tp_array_free(a);
	return 0;
}

static void test_array_with_user_lock_in_child(void **state)
{
	(void)state;
	tp_lock *l;
	tp_array *a;
	tp_test_init(TP_START_FORK);
	TP_OK_OR_FAIL(tp_lock_new(&l));
	TP_OK_OR_FAIL(tp_array_new(&a, 'h', 4, NULL, l));
	TP_OK_OR_FAIL(tp_payload_new(&g_handles));
	TP_OK_OR_FAIL(tp_payload_add_array(g_handles, a));
	TP_OK_OR_FAIL(tp_lock_acquire(l, -1));
	assert_int_equal(su_reap(su_fork(child_ext_lock, NULL)), 0);
	TP_OK_OR_FAIL(tp_lock_release(l));
	tp_payload_free(g_handles);
	tp_array_free(a);
	tp_lock_free(l);
	assert_int_equal(su_shm_count(), 0);
	su_fini();
}

static tp_value *g_val;

static int child_increment(void *arg)
{
	int k = *(int *)arg;
	tp_lock *l = tp_value_get_lock(g_val);
	int64_t x;
	for (int i = 0; i < k; i++) {
		tp_lock_acquire(l, -1);
		tp_value_get_long(g_val, &x);
		tp_value_set_long(g_val, x + 1);
		tp_lock_release(l);
	}
	return 0;
}

static int child_die_in_value_lock(void *arg)
{
	(void)arg;
	tp_lock_acquire(tp_value_get_lock(g_val), -1);
	raise(SIGKILL);
	return 1;
}

static void test_value_counter_and_dead_holder(void **state)
{
	(void)state;
	int k = 10000;
	int64_t x;
	tp_test_init(TP_START_FORK);
	TP_OK_OR_FAIL(tp_value_new(&g_val, 'i', NULL, NULL));
	pid_t a = su_fork(child_increment, &k);
	pid_t b = su_fork(child_increment, &k);
	assert_int_equal(su_reap(a) + su_reap(b), 0);
	TP_OK_OR_FAIL(tp_value_get_long(g_val, &x));
	assert_int_equal(x, 2 * k);
	assert_int_equal(su_reap(su_fork(child_die_in_value_lock, NULL)),
	                 128 + SIGKILL);
	TP_EXPECT(tp_value_get_long(g_val, &x), TP_EOWNERDEAD);
	assert_int_equal(x, 2 * k);
	TP_OK_OR_FAIL(tp_value_set_long(g_val, 1));
	tp_value_free(g_val);
	su_fini();
}

static tp_shmem *g_shm;

static int child_shmem(void *arg)
{
	(void)arg;
	tp_shmem *m;
	if (tp_shmem_attach(&m, tp_shmem_name(g_shm)) != TP_OK)
		return 1;
	if (strcmp(tp_shmem_buf(m), "from parent") != 0)
		return 2;
	strcpy(tp_shmem_buf(m), "from child");
	if (tp_shmem_unlink(m) != TP_EPERM)
		return 3;
	/* Even the inherited creator handle cannot unlink here. */
	if (tp_shmem_unlink(g_shm) != TP_EPERM)
		return 4;
	tp_shmem_free(m);
	return 0;
}

static void test_shared_memory(void **state)
{
	(void)state;
	tp_shmem *m;
	tp_payload *p;
	tp_test_init(TP_START_FORK);
	TP_EXPECT(tp_shmem_new(&m, 0), TP_EINVAL);
	TP_EXPECT(tp_shmem_new(NULL, 8), TP_EINVAL);
	TP_EXPECT(tp_shmem_attach(&m, "/nope"), TP_EINVAL);
	TP_EXPECT(tp_shmem_attach(&m, "/troupe.0.none"), TP_ENOENT);
	TP_OK_OR_FAIL(tp_shmem_new(&g_shm, 4096));
	assert_int_equal(tp_shmem_size(g_shm), 4096);
	assert_int_equal(strncmp(tp_shmem_name(g_shm), "/troupe.", 8), 0);
	assert_int_equal(((char *)tp_shmem_buf(g_shm))[100], 0);
	strcpy(tp_shmem_buf(g_shm), "from parent");
	assert_int_equal(su_reap(su_fork(child_shmem, NULL)), 0);
	assert_string_equal(tp_shmem_buf(g_shm), "from child");
	/* Still there after the attached process closed it. */
	TP_OK_OR_FAIL(tp_shmem_attach(&m, tp_shmem_name(g_shm)));
	assert_string_equal(tp_shmem_buf(m), "from child");
	TP_EXPECT(tp_shmem_unlink(m), TP_EPERM);
	tp_shmem_free(m);
	/* Through a payload. */
	TP_OK_OR_FAIL(tp_payload_new(&p));
	TP_OK_OR_FAIL(tp_payload_add_shmem(p, g_shm));
	TP_EXPECT(tp_payload_add_shmem(p, NULL), TP_EINVAL);
	tp_payload *q = su_roundtrip(p);
	TP_OK_OR_FAIL(tp_payload_get_shmem(q, 0, &m));
	assert_int_equal(tp_shmem_size(m), 4096);
	tp_lock *l;
	TP_EXPECT(tp_payload_get_lock(q, 0, &l), TP_ETYPE);
	tp_shmem_free(m);
	TP_OK_OR_FAIL(tp_shmem_unlink(g_shm));
	TP_EXPECT(tp_shmem_unlink(g_shm), TP_EALREADY);
	TP_EXPECT(tp_payload_get_shmem(q, 0, &m), TP_ENOENT);
	assert_string_equal(tp_shmem_buf(g_shm), "from child");
	tp_shmem_free(g_shm);
	tp_payload_free(q);
	tp_payload_free(p);
	/* A block never unlinked goes at tp_fini. */
	TP_OK_OR_FAIL(tp_shmem_new(&m, 10));
	assert_int_equal(su_shm_count(), 1);
	su_fini();
	tp_shmem_free(m);
	assert_null(tp_shmem_name(NULL));
	tp_shmem_free(NULL);
}

static char g_name[32], g_ghost[32];

static int child_named(void *arg)
{
	tp_shmem *m;
	(void)arg;
	if (tp_shmem_attach(&m, g_name) != TP_OK)
		return 1;
	if (strcmp(tp_shmem_name(m), g_name) != 0 || tp_shmem_size(m) != 64 ||
	    strcmp(tp_shmem_buf(m), "hello") != 0)
		return 2;
	strcpy(tp_shmem_buf(m), "answer");
	if (tp_shmem_unlink(m) != TP_EPERM)
		return 3;
	if (tp_shmem_new_named(&m, g_name, 8) != TP_EEXIST)
		return 4;
	tp_shmem_free(m);
	return 0;
}

/* SharedMemory(name="...", create=True): bad names, a taken name, another
 * process attaching by it, the name freed by unlink, a crashed run's
 * block not counting as taken, and tp_fini removing what is left. */
static void test_shared_memory_named(void **state)
{
	(void)state;
	tp_shmem *m, *a;
	char long_name[60];
	/* names unique to this test process: other runs of the user share
	 * the namespace */
	snprintf(g_name, sizeof(g_name), "blk-%d", (int)getpid());
	snprintf(g_ghost, sizeof(g_ghost), "ghost_%d", (int)getpid());
	memset(long_name, 'x', 41);
	long_name[41] = '\0';
	TP_EXPECT(tp_shmem_new_named(&m, "blk", 8), TP_ENOTINIT);
	tp_test_init(TP_START_FORK);
	TP_EXPECT(tp_shmem_new_named(NULL, "blk", 8), TP_EINVAL);
	TP_EXPECT(tp_shmem_new_named(&m, NULL, 8), TP_EINVAL);
	TP_EXPECT(tp_shmem_new_named(&m, "blk", 0), TP_EINVAL);
	TP_EXPECT(tp_shmem_new_named(&m, "", 8), TP_EINVAL);
	TP_EXPECT(tp_shmem_new_named(&m, "a/b", 8), TP_EINVAL);
	TP_EXPECT(tp_shmem_new_named(&m, "a.n.b", 8), TP_EINVAL);
	TP_EXPECT(tp_shmem_new_named(&m, "sp ace", 8), TP_EINVAL);
	TP_EXPECT(tp_shmem_new_named(&m, long_name, 8), TP_EINVAL);
	TP_EXPECT(tp_shmem_attach(&m, long_name), TP_EINVAL);
	TP_EXPECT(tp_shmem_attach(&m, "a.b"), TP_EINVAL);
	TP_EXPECT(tp_shmem_attach(&m, g_name), TP_ENOENT);
	long_name[40] = '\0'; /* 40 characters: the longest allowed */
	TP_OK_OR_FAIL(tp_shmem_new_named(&m, long_name, 8));
	assert_string_equal(tp_shmem_name(m), long_name);
	TP_OK_OR_FAIL(tp_shmem_unlink(m));
	tp_shmem_free(m);
	TP_OK_OR_FAIL(tp_shmem_new_named(&g_shm, g_name, 64));
	assert_string_equal(tp_shmem_name(g_shm), g_name);
	assert_int_equal(tp_shmem_size(g_shm), 64);
	TP_EXPECT(tp_shmem_new_named(&m, g_name, 8), TP_EEXIST);
	assert_true(strstr(tp_strerror(TP_EEXIST), "in use") != NULL);
	strcpy(tp_shmem_buf(g_shm), "hello");
	assert_int_equal(su_reap(su_fork(child_named, NULL)), 0);
	assert_string_equal(tp_shmem_buf(g_shm), "answer");
	/* Through a payload, the block keeps its name. */
	tp_payload *p, *q;
	TP_OK_OR_FAIL(tp_payload_new(&p));
	TP_OK_OR_FAIL(tp_payload_add_shmem(p, g_shm));
	q = su_roundtrip(p);
	TP_OK_OR_FAIL(tp_payload_get_shmem(q, 0, &a));
	assert_string_equal(tp_shmem_buf(a), "answer");
	assert_string_equal(tp_shmem_name(a), g_name);
	tp_shmem_free(a);
	tp_payload_free(p);
	tp_payload_free(q);
	/* Unlinked: the name is free again (the old mapping stays valid). */
	TP_OK_OR_FAIL(tp_shmem_unlink(g_shm));
	TP_EXPECT(tp_shmem_attach(&m, g_name), TP_ENOENT);
	TP_OK_OR_FAIL(tp_shmem_new_named(&m, g_name, 8));
	assert_int_equal(((char *)tp_shmem_buf(m))[0], 0);
	assert_string_equal(tp_shmem_buf(g_shm), "answer");
	tp_shmem_free(g_shm);
	/* A block under the name left by a run that is gone: not taken. */
	char ghost[128];
	snprintf(ghost, sizeof(ghost), "/troupe.%u.999999999.1.n.%s",
	         (unsigned)getuid(), g_ghost);
	int fd = shm_open(ghost, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 8), 0);
	close(fd);
	TP_EXPECT(tp_shmem_attach(&a, g_ghost), TP_ENOENT);
	fd = shm_open(ghost, O_RDONLY, 0600); /* and it was removed */
	assert_true(fd < 0);
	TP_OK_OR_FAIL(tp_shmem_new_named(&a, g_ghost, 8));
	assert_int_equal(su_shm_count(), 2);
	su_fini(); /* removes both named blocks */
	tp_shmem_free(a);
	tp_shmem_free(m);
	TP_EXPECT(tp_shmem_attach(&m, g_ghost), TP_ENOENT);
}

/* ---- every type to a freshly exec'd process ---- */

/* The exec'd child: attaches each handle and uses it. Exit code = the
 * first step that failed. */
static int fresh_steps(const char *hex);

static int fresh_child(const char *hex)
{
	int rv = fresh_steps(hex);
	if (rv != 0)
		fprintf(stderr, "fresh child: step %d failed\n", rv);
	return rv;
}

static int fresh_steps(const char *hex)
{
	size_t len = strlen(hex) / 2;
	unsigned char *buf = malloc(len + 1);
	tp_payload *p;
	for (size_t i = 0; i < len; i++)
		sscanf(hex + 2 * i, "%2hhx", &buf[i]);
	if (tp_payload_decode(buf, len, 0, &p) != TP_OK)
		return 1;
	free(buf);
	int rv = su_use_all(p);
	tp_payload_free(p);
	return rv;
}

static void test_every_type_to_fresh_process(void **state)
{
	(void)state;
	struct su_all o;
	void *buf;
	size_t len;
	tp_test_init(TP_START_FORK);
	su_all_new(&o);
	TP_OK_OR_FAIL(tp_payload_encode(o.p, 0, &buf, &len));
	char *hex = malloc(2 * len + 1);
	for (size_t i = 0; i < len; i++)
		sprintf(hex + 2 * i, "%02x", ((unsigned char *)buf)[i]);
	free(buf);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *argv[] = {"test_shared", "--fresh-child", hex, NULL};
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	free(hex);
	TP_OK_OR_FAIL(tp_barrier_wait(o.b, 10000, NULL));
	assert_int_equal(su_reap(pid), 0);
	su_all_check_free(&o);
	assert_int_equal(su_shm_count(), 0);
	su_fini();
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--fresh-child") == 0)
		return fresh_child(argv[2]);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_value_typecodes),
	    cmocka_unit_test(test_array),
	    cmocka_unit_test(test_value_array_in_child),
	    cmocka_unit_test(test_array_with_user_lock_in_child),
	    cmocka_unit_test(test_value_counter_and_dead_holder),
	    cmocka_unit_test(test_shared_memory),
	    cmocka_unit_test(test_shared_memory_named),
	    cmocka_unit_test(test_every_type_to_fresh_process),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
