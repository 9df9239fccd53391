/* test_smm.c - SharedMemoryManager: every block it made is unlinked at
 * shutdown, at free, at tp_fini, and when the process that made it is
 * killed with SIGKILL (its tracker does it, not the next tp_init); and
 * reached by address and authkey from other programs, whose blocks go at
 * its shutdown too, a client killed with SIGKILL midway included. */
#include <dirent.h>
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

#define SMM_KEY "smm-test-key"
#define MORE    20 /* blocks the killed client has made at least */

/* A second troupe program (forked before this one's tp_init; its own
 * tp_init): connects to the manager whose address arrives on fd r, makes
 * a block and a list through it and says their names on fd w. With loop
 * it goes on making blocks (a line each, up to 200) until it is killed;
 * else it checks it may not shut the manager down and ends cleanly. */
static void client_run(int r, int w, const char *base, int loop)
{
	char addr[512];
	FILE *in = fdopen(r, "r");
	tp_init_opts o = {.start_method = TP_START_FORKSERVER,
	                  .runtime_base = base};
	tp_smm *c;
	tp_shmem *m, *x;
	tp_slist *l;
	tp_payload *it = items();
	int rv;
	if (in == NULL || fgets(addr, sizeof addr, in) == NULL)
		_exit(1);
	addr[strcspn(addr, "\n")] = '\0';
	rv = tp_init(&o);
	if (rv == TP_OK)
		rv = tp_smm_connect(&c, addr, SMM_KEY, strlen(SMM_KEY), 10000);
	if (rv == TP_OK)
		rv = tp_smm_shmem(c, 4096, &m);
	if (rv == TP_OK)
		rv = tp_smm_slist(c, it, &l);
	if (rv != TP_OK) {
		fprintf(stderr, "client: %s\n", tp_strerror(rv));
		_exit(2);
	}
	strcpy(tp_shmem_buf(m), "from the client");
	dprintf(w, "%s %s\n", tp_shmem_name(m), tp_slist_name(l));
	for (int i = 0; loop && i < 200; i++) {
		if (tp_smm_shmem(c, 64, &x) != TP_OK)
			_exit(3);
		tp_shmem_free(x);
		dprintf(w, "more\n");
	}
	while (loop)
		pause();
	if (tp_smm_shutdown(c) != TP_EPERM)
		_exit(4);
	tp_shmem_free(m);
	tp_slist_free(l);
	tp_smm_free(c);
	tp_payload_free(it);
	_exit(tp_fini() == TP_OK ? 0 : 5);
}

/* Forks a client; *to and *from are this side's ends of its pipes. */
static pid_t client_fork(int loop, int *to, FILE **from)
{
	int a[2], b[2];
	assert_int_equal(pipe(a), 0);
	assert_int_equal(pipe(b), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(a[1]);
		close(b[0]);
		client_run(a[0], b[1], tp_test_base(), loop);
	}
	close(a[0]);
	close(b[1]);
	*to = a[1];
	*from = fdopen(b[0], "r");
	return pid;
}

/* How many segments of the group of block name ("/<prefix><n>") exist. */
static int group_count(const char *name)
{
	char prefix[128];
	int n = 0;
	snprintf(prefix, sizeof prefix, "%s", name + 1);
	*(strrchr(prefix, '-') + 1) = '\0';
	DIR *d = opendir("/dev/shm");
	struct dirent *e;
	while (d != NULL && (e = readdir(d)) != NULL)
		n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
	if (d != NULL)
		closedir(d);
	return n;
}

/* Python's SharedMemoryManager(address, authkey) reached from other
 * programs: a client's blocks outlive it (a clean exit, or kill -9 while
 * it makes them) and go at the manager's shutdown; after that a client
 * can make none; wrong keys and plain managers are refused. */
static void test_remote(void **state)
{
	(void)state;
	tp_manager_opts o = {.authkey = SMM_KEY,
	                     .authkey_len = strlen(SMM_KEY)};
	tp_smm *s, *c;
	tp_shmem *m, *x;
	tp_slist *l;
	tp_manager *pm;
	char a[128], b[128], line[300], buf[128];
	int to1, to2;
	FILE *from1, *from2;
	pid_t p1 = client_fork(0, &to1, &from1);
	pid_t p2 = client_fork(1, &to2, &from2);
	tp_test_init(TP_START_FORK);
	TP_EXPECT(tp_smm_start_opts(&s, NULL), TP_EINVAL);
	TP_OK_OR_FAIL(tp_smm_start_opts(&s, &o));
	assert_non_null(tp_smm_address(s));
	dprintf(to1, "%s\n", tp_smm_address(s));
	dprintf(to2, "%s\n", tp_smm_address(s));
	/* a client that ends cleanly: its blocks stay, with its data */
	assert_non_null(fgets(line, sizeof line, from1));
	assert_int_equal(sscanf(line, "%127s %127s", a, b), 2);
	assert_int_equal(su_reap(p1), 0);
	assert_true(exists(a) && exists(b));
	TP_OK_OR_FAIL(tp_shmem_attach(&m, a));
	assert_string_equal(tp_shmem_buf(m), "from the client");
	TP_OK_OR_FAIL(tp_slist_attach(&l, b));
	tp_slist_repr(l, buf, sizeof buf);
	assert_int_equal(strncmp(buf, "ShareableList([7, 'seven', 7.5]", 31),
	                 0);
	/* a client killed with -9 while it makes blocks */
	for (int i = 0; i <= MORE; i++)
		assert_non_null(fgets(line, sizeof line, from2));
	kill(p2, SIGKILL);
	assert_int_equal(su_reap(p2), 128 + SIGKILL);
	/* its run directory (its own blocks: none) stays, as any killed
	 * run's until the next tp_init; the test removes it */
	snprintf(line, sizeof line, "rm -rf %s/%d.*", tp_test_base(), (int)p2);
	assert_int_equal(system(line), 0);
	assert_true(group_count(a) >= 2 + MORE);
	/* this process as a client too; a wrong key; a plain manager */
	TP_EXPECT(tp_smm_connect(&c, tp_smm_address(s), "wrong", 5, 5000),
	          TP_EAUTH);
	TP_EXPECT(tp_smm_connect(&c, NULL, "k", 1, 5000), TP_EINVAL);
	TP_OK_OR_FAIL(tp_manager_start(&pm, &o));
	TP_EXPECT(tp_smm_connect(&c, tp_manager_address(pm), SMM_KEY,
	                         strlen(SMM_KEY), 5000),
	          TP_EPROTO);
	TP_OK_OR_FAIL(tp_manager_shutdown(pm));
	TP_OK_OR_FAIL(tp_smm_connect(&c, tp_smm_address(s), SMM_KEY,
	                             strlen(SMM_KEY), 5000));
	TP_OK_OR_FAIL(tp_smm_shmem(c, 8, &x));
	assert_true(group_count(tp_shmem_name(x)) == group_count(a));
	tp_shmem_free(x);
	TP_EXPECT(tp_smm_shutdown(c), TP_EPERM);
	/* shutdown: every block of the group goes, whoever made it */
	TP_OK_OR_FAIL(tp_smm_shutdown(s));
	assert_int_equal(group_count(a), 0);
	assert_false(exists(a) || exists(b));
	/* a client after the shutdown makes nothing, leaves nothing */
	TP_EXPECT(tp_smm_shmem(c, 8, &x), TP_EDIED);
	tp_payload *it = items();
	tp_slist *l2 = NULL;
	TP_EXPECT(tp_smm_slist(c, it, &l2), TP_EDIED);
	assert_null(l2);
	tp_payload_free(it);
	assert_int_equal(group_count(a), 0);
	tp_smm_free(c);
	tp_smm_free(s);
	tp_slist_free(l);
	tp_shmem_free(m);
	fclose(from1);
	fclose(from2);
	close(to1);
	close(to2);
	su_fini();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_shutdown),
	    cmocka_unit_test(test_kill9),
	    cmocka_unit_test(test_remote),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
