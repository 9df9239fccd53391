/* test_smm.c - SharedMemoryManager: every block it made is unlinked at
 * shutdown, at free, at tp_fini, and when the process that made it is
 * killed with SIGKILL (its tracker does it, not the next tp_init). */
#include <signal.h>
#include <stdio.h>

#include "sync_util.h"
#include "troupe/fmt.h"
#include "troupe/manager.h"

static int exists(const char *name)
{
	char path[256];
	snprintf(path, sizeof path, "/dev/shm%s", name);
	return access(path, F_OK) == 0;
}

static tp_payload *items(void)
{
	tp_payload *p;
	TP_OK_OR_FAIL(tp_pack_new(&p, "isd", 7, "seven", 7.5));
	return p;
}

static void test_shutdown(void **state)
{
	(void)state;
	tp_smm *s;
	tp_shmem *m, *a;
	tp_slist *l;
	tp_payload *it = items();
	char name[128], lname[128], buf[128];
	tp_test_init(TP_START_FORK);
	int base = su_shm_count();
	TP_OK_OR_FAIL(tp_smm_start(&s));
	TP_OK_OR_FAIL(tp_smm_shmem(s, 100, &m));
	TP_OK_OR_FAIL(tp_smm_slist(s, it, &l));
	snprintf(name, sizeof name, "%s", tp_shmem_name(m));
	snprintf(lname, sizeof lname, "%s", tp_slist_name(l));
	assert_true(exists(name) && exists(lname));
	strcpy(tp_shmem_buf(m), "still mapped");
	TP_OK_OR_FAIL(tp_shmem_attach(&a, name));
	TP_EXPECT(tp_smm_shmem(s, 0, &m), TP_EINVAL);
	TP_EXPECT(tp_smm_slist(s, NULL, &l), TP_EINVAL);
	TP_EXPECT(tp_smm_shmem(NULL, 8, &m), TP_EINVAL);
	TP_OK_OR_FAIL(tp_smm_shutdown(s));
	assert_false(exists(name) || exists(lname));
	assert_int_equal(su_shm_count(), base);
	/* handles stay usable; the names are gone */
	assert_string_equal(tp_shmem_buf(a), "still mapped");
	tp_slist_repr(l, buf, sizeof buf);
	assert_int_equal(
	    strncmp(buf, "ShareableList([7, 'seven', 7.5], name='", 39), 0);
	TP_EXPECT(tp_smm_shutdown(s), TP_EALREADY);
	TP_EXPECT(tp_smm_shmem(s, 8, &m), TP_ESTATE);
	TP_EXPECT(tp_smm_shutdown(NULL), TP_EINVAL);
	tp_smm_free(s);
	tp_slist_free(l);
	tp_shmem_free(a);
	tp_shmem_free(m);
	/* free without shutdown; and tp_fini with one left running */
	TP_OK_OR_FAIL(tp_smm_start(&s));
	TP_OK_OR_FAIL(tp_smm_shmem(s, 10, &m));
	snprintf(name, sizeof name, "%s", tp_shmem_name(m));
	tp_smm_free(s);
	assert_false(exists(name));
	tp_shmem_free(m);
	TP_OK_OR_FAIL(tp_smm_start(&s));
	TP_OK_OR_FAIL(tp_smm_shmem(s, 10, &m));
	tp_payload_free(it);
	su_fini();
	tp_smm_free(s);
	tp_shmem_free(m);
	TP_EXPECT(tp_smm_start(&s), TP_ENOTINIT);
}

/* A separate run (its own tp_init) that makes a list and a block through
 * a manager, says so on fd w, and waits to be killed. */
static void victim(int w, const char *base)
{
	tp_init_opts o = {.start_method = TP_START_FORKSERVER,
	                  .runtime_base = base};
	tp_smm *s;
	tp_shmem *m;
	tp_slist *l;
	tp_payload *it = items();
	int rv = tp_init(&o);
	if (rv == TP_OK)
		rv = tp_smm_start(&s);
	if (rv == TP_OK)
		rv = tp_smm_shmem(s, 4096, &m);
	if (rv == TP_OK)
		rv = tp_smm_slist(s, it, &l);
	if (rv != TP_OK) {
		fprintf(stderr, "victim: %s\n", tp_strerror(rv));
		_exit(1);
	}
	dprintf(w, "%s %s\n", tp_shmem_name(m), tp_slist_name(l));
	for (;;)
		pause();
}

static int gone(void *arg)
{
	return su_shm_count_of(*(pid_t *)arg) == 0;
}

static void test_kill9(void **state)
{
	(void)state;
	char a[128], b[128], line[300];
	int fd[2];
	const char *base = tp_test_base();
	for (int round = 0; round < 3; round++) {
		assert_int_equal(pipe(fd), 0);
		fflush(NULL);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(fd[0]);
			victim(fd[1], base);
		}
		close(fd[1]);
		FILE *f = fdopen(fd[0], "r");
		assert_non_null(fgets(line, sizeof line, f));
		fclose(f);
		assert_int_equal(sscanf(line, "%127s %127s", a, b), 2);
		assert_true(exists(a) && exists(b));
		assert_true(su_shm_count_of(pid) > 0);
		kill(pid, SIGKILL);
		assert_int_equal(su_reap(pid), 128 + SIGKILL);
		/* the tracker removes them (and the rest of the dead run) */
		assert_true(su_poll(gone, &pid));
		assert_false(exists(a) || exists(b));
	}
	tp_test_init(TP_START_FORK); /* removes the dead runs' directories */
	su_fini();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_shutdown),
	    cmocka_unit_test(test_kill9),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
