/* test_runtime.c - tp_init/tp_fini, the runtime directory, addresses. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime_int.h"
#include "testutil.h"

static void test_init_creates_private_dir_and_fini_removes_it(void **state)
{
	(void)state;
	struct stat st;
	char dir[256];
	tp_test_init(TP_START_DEFAULT);
	assert_true(tp_initialized());
	snprintf(dir, sizeof(dir), "%s", tp_runtime_dir());
	assert_int_equal(strncmp(dir, tp_test_base(), strlen(tp_test_base())),
	                 0);
	assert_int_equal(stat(dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(st.st_uid, getuid());
	tp_test_fini();
	assert_false(tp_initialized());
	assert_null(tp_runtime_dir());
	assert_int_equal(stat(dir, &st), -1);
	assert_int_equal(errno, ENOENT);
}

static void test_init_twice_and_fini_without_init(void **state)
{
	(void)state;
	TP_EXPECT(tp_fini(), TP_ENOTINIT);
	tp_test_init(TP_START_DEFAULT);
	TP_EXPECT(tp_init(NULL), TP_EALREADY);
	tp_test_fini();
	TP_EXPECT(tp_fini(), TP_ENOTINIT);
}

static void test_bad_options(void **state)
{
	(void)state;
	tp_init_opts o = {.start_method = (tp_start_method)42,
	                  .runtime_base = tp_test_base()};
	TP_EXPECT(tp_init(&o), TP_EINVAL);
	assert_false(tp_initialized());
	/* A base that is a file, not a private directory, is refused. */
	char path[128];
	snprintf(path, sizeof(path), "%s.file", tp_test_base());
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	o.start_method = TP_START_DEFAULT;
	o.runtime_base = path;
	TP_EXPECT(tp_init(&o), TP_EPERM);
	unlink(path);
	/* A base that others can enter is refused. */
	assert_int_equal(mkdir(path, 0755), 0);
	chmod(path, 0755);
	TP_EXPECT(tp_init(&o), TP_EPERM);
	rmdir(path);
	assert_false(tp_initialized());
}

static void test_stale_dir_of_dead_run_is_removed(void **state)
{
	(void)state;
	unsigned long long start;
	char stale[256], live[256], other[256];
	/* A run whose owner is dead: a child that exited. */
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	mkdir(tp_test_base(), 0700);
	snprintf(stale, sizeof(stale), "%s/%d.12345", tp_test_base(), (int)pid);
	assert_int_equal(mkdir(stale, 0700), 0);
	char sock[300];
	snprintf(sock, sizeof(sock), "%s/q-1-1", stale);
	fclose(fopen(sock, "w"));
	/* A run of a live process (this one), and a foreign name: kept. */
	TP_OK_OR_FAIL(tp__proc_starttime(getpid(), &start));
	snprintf(other, sizeof(other), "%s/not-a-run", tp_test_base());
	assert_int_equal(mkdir(other, 0700), 0);
	snprintf(live, sizeof(live), "%s/%d.%llu", tp_test_base(),
	         (int)getpid(), start);
	assert_int_equal(mkdir(live, 0700), 0);

	tp_test_init(TP_START_DEFAULT);
	struct stat st;
	assert_int_equal(stat(stale, &st), -1);
	assert_int_equal(stat(other, &st), 0);
	assert_int_equal(stat(live, &st), 0); /* it is ours: in use */
	TP_OK_OR_FAIL(tp_fini());
	rmdir(other);
	rmdir(tp_test_base());
}

/* The start time is field 22 of /proc/PID/stat, and does not move when the
 * process grows (field 23, vsize, does). */
static void test_addresses_are_unique_and_inside_the_dir(void **state)
{
	(void)state;
	char a[256], b[256], small[16];
	TP_EXPECT(tp_address("q", a, sizeof(a)), TP_ENOTINIT);
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_address("q", a, sizeof(a)));
	TP_OK_OR_FAIL(tp_address("q", b, sizeof(b)));
	assert_string_not_equal(a, b);
	assert_int_equal(strncmp(a, "ipc://", 6), 0);
	assert_int_equal(
	    strncmp(a + 6, tp_runtime_dir(), strlen(tp_runtime_dir())), 0);
	TP_EXPECT(tp_address("bad/kind", a, sizeof(a)), TP_EINVAL);
	TP_EXPECT(tp_address("", a, sizeof(a)), TP_EINVAL);
	TP_EXPECT(tp_address(NULL, a, sizeof(a)), TP_EINVAL);
	TP_EXPECT(tp_address("q", NULL, 10), TP_EINVAL);
	TP_EXPECT(tp_address("q", small, sizeof(small)), TP_ETOOBIG);
	tp_test_fini();
}

/* The start time must be field 22 of /proc/PID/stat, which never changes
 * while the process lives: parsed another way here, and compared after
 * the process grew (the old parser read field 23, vsize, so live runs
 * looked dead and their segments were unlinked by other runs). */
static void test_starttime_is_field_22_and_stable(void **state)
{
	(void)state;
	unsigned long long a, b, want = 0;
	char buf[1024];
	FILE *f = fopen("/proc/self/stat", "r");
	assert_non_null(f);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')') + 2; /* field 3 */
	for (int field = 3; field <= 22; field++) {
		if (field == 22)
			want = strtoull(p, NULL, 10);
		p = strchr(p, ' ') + 1;
	}
	TP_OK_OR_FAIL(tp__proc_starttime(getpid(), &a));
	assert_true(a == want);
	void *big = malloc(64 << 20); /* vsize grows, start time does not */
	TP_OK_OR_FAIL(tp__proc_starttime(getpid(), &b));
	free(big);
	assert_true(a == b);
}

static void test_strerror_covers_wrapped_errors(void **state)
{
	(void)state;
	assert_string_equal(tp_strerror(TP_OK), "Success");
	assert_non_null(
	    strstr(tp_strerror(tp_err_errno(ENOENT)), "No such file"));
	assert_int_equal(tp_err_errno(ENOENT) & ~TP_ESYSERR, ENOENT);
	assert_non_null(strstr(tp_strerror(tp_err_nng(9999)), "nng"));
	assert_int_equal(tp_err_nng(0), TP_OK);
	assert_non_null(strstr(tp_strerror(123456), "Unknown"));
	for (int e = TP_OK; e <= TP_ENOMODULE; e++)
		assert_null(strstr(tp_strerror(e), "Unknown"));
}

/* Two formatted messages in one expression each keep their own text. */
static void test_strerror_twice_in_one_expression(void **state)
{
	(void)state;
	char line[512];
	snprintf(line, sizeof(line), "%s|%s|%s|%s",
	         tp_strerror(tp_err_errno(ENOENT)),
	         tp_strerror(tp_err_errno(EACCES)), tp_strerror(TP_ETYPE),
	         tp_strerror(424242));
	assert_string_equal(line, "System error: No such file or directory|"
	                          "System error: Permission denied|"
	                          "Wrong value type|Unknown error #424242");
}

static void test_version_matches_the_headers(void **state)
{
	(void)state;
	char want[32];
	snprintf(want, sizeof(want), "%d.%d.%d", TP_VERSION_MAJOR,
	         TP_VERSION_MINOR, TP_VERSION_PATCH);
	assert_string_equal(tp_version(), want);
	assert_string_equal(tp_version(), TP_VERSION_STRING);
	assert_int_equal(TP_VERSION, TP_VERSION_MAJOR * 10000 +
	                                 TP_VERSION_MINOR * 100 +
	                                 TP_VERSION_PATCH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_init_creates_private_dir_and_fini_removes_it),
	    cmocka_unit_test(test_init_twice_and_fini_without_init),
	    cmocka_unit_test(test_bad_options),
	    cmocka_unit_test(test_stale_dir_of_dead_run_is_removed),
	    cmocka_unit_test(test_addresses_are_unique_and_inside_the_dir),
	    cmocka_unit_test(test_strerror_covers_wrapped_errors),
	    cmocka_unit_test(test_strerror_twice_in_one_expression),
	    cmocka_unit_test(test_version_matches_the_headers),
	    cmocka_unit_test(test_starttime_is_field_22_and_stable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
