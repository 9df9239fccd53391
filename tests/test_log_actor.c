/*
 * test_log_actor.c - the logging actor: several processes logging into one
 * file concurrently (every line intact, per-process order kept, every loss
 * reported), rotation under load, the actor stopped or failing and
 * restarted under load with the dropped count reported, malformed input,
 * and errors.
 *
 * Children are plain fork()s: logging does not use nng, so they may log
 * whatever the parent did before. Each child clones the configuration by
 * hand (seed 004's balsa_clone pattern).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "log_int.h"
#include "logtest.h"
#include "testutil.h"

#define NKIDS 4

struct check {
	uint64_t lines[NKIDS], dropped[NKIDS];
	long next[NKIDS];
	int bad;
};

/* Every line must be "<time> <LEVEL> child-K[pid] rec N" with N counting
 * up per child, or a drop warning for that child; gaps must match the
 * warnings. */
static void check_line(struct check *ck, const tp_log_config *c,
                       const char *line)
{
	char name[64];
	pid_t pid;
	int k;
	const char *msg = strstr(line, "] ");
	if (tp_log_line_fields(c, line, strlen(line), name, sizeof(name),
	                       &pid) != TP_OK ||
	    sscanf(name, "child-%d", &k) != 1 || k < 0 || k >= NKIDS ||
	    msg == NULL) {
		if (ck->bad++ < 5)
			fprintf(stderr, "bad line: %s\n", line);
		return;
	}
	msg += 2;
	unsigned long long lost;
	long n;
	if (sscanf(msg, "%llu log records dropped", &lost) == 1) {
		ck->dropped[k] += lost;
		ck->next[k] += (long)lost;
	} else if (sscanf(msg, "rec %ld", &n) == 1 && n == ck->next[k]) {
		ck->lines[k]++;
		ck->next[k] = n + 1;
	} else {
		if (ck->bad++ < 5)
			fprintf(stderr, "out of order (want %ld): %s\n",
			        ck->next[k], line);
	}
}

static tp_log_config *file_config(const char *file, uint64_t max,
                                  unsigned backups, size_t buffer)
{
	char path[128];
	tp_log_config *c;
	lt_path(path, sizeof(path), file);
	TP_OK_OR_FAIL(tp_log_config_new(&c, "test"));
	TP_OK_OR_FAIL(tp_log_config_set_console(c, 0, TP_LOG_COLOUR_NEVER));
	TP_OK_OR_FAIL(tp_log_config_set_file(c, path, max, backups));
	TP_OK_OR_FAIL(tp_log_config_set_delete_existing(c, 1));
	if (buffer > 0)
		TP_OK_OR_FAIL(tp_log_config_set_buffer(c, buffer));
	return c;
}

/* In a child: clone the parent's configuration under child-K. */
static void child_setup(int k)
{
	tp_log_config *cur, *mine;
	char name[32];
	snprintf(name, sizeof(name), "child-%d", k);
	if (tp_log_config_get(&cur) != TP_OK ||
	    tp_log_config_clone(cur, name, &mine) != TP_OK ||
	    tp_log_init(mine) != TP_OK)
		_exit(3);
	tp_log_config_free(cur);
	tp_log_config_free(mine);
}

static void log_range(long from, long to)
{
	for (long i = from; i < to; i++)
		tp_log_info("rec %ld", i);
}

static void wait_kids(pid_t *pids, int n)
{
	for (int i = 0; i < n; i++) {
		int st;
		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
}

struct target {
	tp_log_actor *a;
	uint64_t want;
};

static int actor_has(void *arg)
{
	struct target *t = arg;
	tp_log_actor_stats st;
	tp_log_actor_stats_get(t->a, &st);
	if (getenv("LT_DEBUG"))
		fprintf(
		    stderr, "%.3f records %llu lost %llu bad %llu want %llu\n",
		    (double)tp__log_now_us() / 1e6,
		    (unsigned long long)st.records, (unsigned long long)st.lost,
		    (unsigned long long)st.bad, (unsigned long long)t->want);
	return st.records + st.lost >= t->want;
}

static void check_files(const tp_log_config *c, unsigned backups, long per_kid,
                        struct check *ck)
{
	struct lt_lines l = {0};
	char p[300];
	for (unsigned i = backups; i >= 1; i--) {
		snprintf(p, sizeof(p), "%s.%u", tp_log_config_file(c), i);
		lt_read(&l, p);
	}
	lt_read(&l, tp_log_config_file(c));
	memset(ck, 0, sizeof(*ck));
	for (size_t i = 0; i < l.n; i++)
		check_line(ck, c, l.v[i]);
	lt_free(&l);
	assert_int_equal(ck->bad, 0);
	for (int k = 0; k < NKIDS; k++)
		assert_int_equal(ck->lines[k] + ck->dropped[k], per_kid);
}

static void run_concurrent(const char *file, uint64_t max, unsigned backups,
                           long per_kid, struct check *ck)
{
	tp_log_config *c = file_config(file, max, backups, 0);
	tp_log_actor *a;
	pid_t pids[NKIDS];
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_log_actor_start(c, &a));
	for (int k = 0; k < NKIDS; k++) {
		if ((pids[k] = fork()) == 0) {
			child_setup(k);
			log_range(0, per_kid);
			_exit(tp_log_flush(10000) == TP_OK ? 0 : 4);
		}
	}
	wait_kids(pids, NKIDS);
	struct target t = {a, (uint64_t)NKIDS * per_kid};
	assert_true(lt_wait(actor_has, &t, 20000));
	TP_OK_OR_FAIL(tp_log_actor_stop(a));
	tp_log_actor_stats st;
	TP_OK_OR_FAIL(tp_log_actor_stats_get(a, &st));
	assert_int_equal(st.bad, 0);
	assert_int_equal(st.file_error, 0);
	if (backups > 0)
		assert_true(st.rotations > 0);
	check_files(c, backups, per_kid, ck);
	tp_log_actor_free(a);
	tp_log_config_free(c);
	tp_test_fini();
}

static void test_concurrent_one_file(void **state)
{
	struct check ck;
	(void)state;
	run_concurrent("many.log", 0, 0, 20000, &ck);
}

static void test_rotation_under_load(void **state)
{
	struct check ck;
	char p[300];
	struct stat sb;
	(void)state;
	run_concurrent("rot.log", 64 * 1024, 200, 10000, &ck);
	lt_path(p, sizeof(p), "rot.log.1");
	assert_int_equal(stat(p, &sb), 0);
	assert_true(sb.st_size <= 64 * 1024);
	assert_true(sb.st_size > 60 * 1024);
}

/* Rotation keeps backup_count files: the oldest go. */
static void test_rotation_keeps_backups(void **state)
{
	tp_log_config *c = file_config("keep.log", 4096, 2, 0);
	tp_log_actor *a;
	char p[300];
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_log_actor_start(c, &a));
	log_range(0, 1000);
	TP_OK_OR_FAIL(tp_log_flush(10000));
	struct target t = {a, 1000};
	assert_true(lt_wait(actor_has, &t, 20000));
	TP_OK_OR_FAIL(tp_log_actor_stop(a));
	for (int i = 1; i <= 3; i++) {
		snprintf(p, sizeof(p), "%s.%d", tp_log_config_file(c), i);
		assert_int_equal(access(p, F_OK) == 0, i <= 2);
	}
	tp_log_actor_free(a);
	tp_log_config_free(c);
	tp_test_fini();
}

/* A child and its parent talk through a pipe byte by byte. */
static void tell(int fd)
{
	assert_int_equal(write(fd, "x", 1), 1);
}

static void hear(int fd)
{
	char ch;
	ssize_t n;
	while ((n = read(fd, &ch, 1)) < 0 && errno == EINTR)
		;
	assert_int_equal(n, 1);
}

/*
 * Phase 1 with the actor up, phase 2 with it stopped (children drop past
 * their 64 KiB bound), phase 3 after a restart: every child's first
 * delivered batch after the restart reports what was lost.
 */
static void test_stop_restart_reports_drops(void **state)
{
	tp_log_config *c = file_config("restart.log", 0, 0, 64 * 1024);
	tp_log_actor *a;
	pid_t pids[NKIDS];
	int up[2], down[NKIDS][2];
	const long n1 = 3000, n2 = 6000, n3 = 1000;
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_log_actor_start(c, &a));
	assert_int_equal(pipe(up), 0);
	for (int k = 0; k < NKIDS; k++) {
		assert_int_equal(pipe(down[k]), 0);
		if ((pids[k] = fork()) == 0) {
			child_setup(k);
			log_range(0, n1);
			tp_log_flush(10000);
			tell(up[1]);
			hear(down[k][0]);
			log_range(n1, n1 + n2);
			tp_log_flush(0);
			tell(up[1]);
			hear(down[k][0]);
			log_range(n1 + n2, n1 + n2 + n3);
			tp_log_stats st;
			tp_log_stats_get(&st);
			if (getenv("LT_DEBUG"))
				fprintf(stderr,
				        "child %d: rec %llu dropped %llu "
				        "batches %llu\n",
				        k, (unsigned long long)st.records,
				        (unsigned long long)st.dropped,
				        (unsigned long long)st.batches);
			if (st.dropped == 0)
				_exit(5);
			_exit(tp_log_flush(10000) == TP_OK ? 0 : 4);
		}
	}
	for (int k = 0; k < NKIDS; k++)
		hear(up[0]);
	struct target t = {a, (uint64_t)NKIDS * n1};
	assert_true(lt_wait(actor_has, &t, 20000));
	TP_OK_OR_FAIL(tp_log_actor_stop(a));
	TP_OK_OR_FAIL(tp_log_actor_stop(a)); /* twice is fine */
	assert_false(tp_log_actor_alive(a));
	struct pollfd pf = {.fd = tp_log_actor_sentinel(a), .events = POLLIN};
	assert_int_equal(poll(&pf, 1, 0), 1);
	for (int k = 0; k < NKIDS; k++)
		tell(down[k][1]);
	for (int k = 0; k < NKIDS; k++)
		hear(up[0]);
	TP_OK_OR_FAIL(tp_log_actor_restart(a));
	TP_EXPECT(tp_log_actor_restart(a), TP_EALREADY);
	assert_true(tp_log_actor_alive(a));
	assert_int_equal(poll(&pf, 1, 0), 0);
	for (int k = 0; k < NKIDS; k++)
		tell(down[k][1]);
	wait_kids(pids, NKIDS);
	t.want = (uint64_t)NKIDS * (n1 + n2 + n3);
	assert_true(lt_wait(actor_has, &t, 20000));
	TP_OK_OR_FAIL(tp_log_actor_stop(a));
	tp_log_actor_stats st;
	TP_OK_OR_FAIL(tp_log_actor_stats_get(a, &st));
	assert_true(st.lost > 0);
	struct check ck;
	check_files(c, 0, n1 + n2 + n3, &ck);
	for (int k = 0; k < NKIDS; k++) {
		assert_true(ck.dropped[k] > 0);
		assert_true(ck.lines[k] >= (uint64_t)(n1 + n3));
		close(down[k][0]);
		close(down[k][1]);
	}
	close(up[0]);
	close(up[1]);
	tp_log_actor_free(a);
	tp_log_config_free(c);
	tp_test_fini();
}

static int some_written(void *arg)
{
	return actor_has(arg);
}

/* The actor's server fails while children log; its sentinel shows it and
 * its supervisor restarts it; every loss is reported. */
static void test_failure_and_restart_under_load(void **state)
{
	tp_log_config *c = file_config("fail.log", 0, 0, 0);
	tp_log_actor *a;
	pid_t pids[NKIDS];
	const long n = 40000;
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_log_actor_start(c, &a));
	for (int k = 0; k < NKIDS; k++) {
		if ((pids[k] = fork()) == 0) {
			child_setup(k);
			log_range(0, n);
			int frv = tp_log_flush(20000);
			if (getenv("LT_DEBUG")) {
				tp_log_stats st;
				tp_log_stats_get(&st);
				fprintf(stderr,
				        "child %d: rec %llu dropped %llu "
				        "batches %llu flush %d\n",
				        k, (unsigned long long)st.records,
				        (unsigned long long)st.dropped,
				        (unsigned long long)st.batches, frv);
			}
			_exit(frv == TP_OK ? 0 : 4);
		}
	}
	struct target t = {a, 2000};
	assert_true(lt_wait(some_written, &t, 20000));
	pid_t old = tp_log_actor_pid(a);
	struct pollfd pf = {.fd = tp_log_actor_sentinel(a), .events = POLLIN};
	assert_int_equal(poll(&pf, 1, 0), 0);
	TP_OK_OR_FAIL(tp__log_actor_fail(a));
	assert_int_equal(poll(&pf, 1, 20000), 1); /* that server ended */
	/* its supervisor restarts it: nothing polls, nobody calls restart */
	TP_OK_OR_FAIL(tp__log_actor_wait_new(a, old, 20000));
	assert_true(tp_log_actor_alive(a));
	TP_OK_OR_FAIL(tp_log_actor_error(a));
	TP_EXPECT(tp_log_actor_restart(a), TP_EALREADY);
	pf.fd = tp_log_actor_sentinel(a); /* now follows the new server */
	assert_int_equal(poll(&pf, 1, 0), 0);
	wait_kids(pids, NKIDS);
	t.want = (uint64_t)NKIDS * n;
	if (!lt_wait(actor_has, &t, 30000)) {
		/* diagnostics: where each child's records stop */
		tp_log_actor_stop(a);
		struct lt_lines l = {0};
		lt_read(&l, tp_log_config_file(c));
		long last[NKIDS] = {-1, -1, -1, -1};
		for (size_t i = 0; i < l.n; i++) {
			int k;
			long r;
			const char *m = strstr(l.v[i], "child-");
			if (m == NULL || sscanf(m, "child-%d", &k) != 1)
				continue;
			const char *q = strstr(m, "] ");
			if (q != NULL && sscanf(q + 2, "rec %ld", &r) == 1) {
				if (r != last[k] + 1)
					fprintf(stderr,
					        "child %d: %ld -> %ld\n", k,
					        last[k], r);
				last[k] = r;
			} else if (q != NULL) {
				fprintf(stderr, "child %d: %s\n", k, q + 2);
			}
		}
		for (int k = 0; k < NKIDS; k++)
			fprintf(stderr, "child %d: last %ld\n", k, last[k]);
		lt_free(&l);
		fail();
	}
	TP_OK_OR_FAIL(tp_log_actor_stop(a));
	struct check ck;
	check_files(c, 0, n, &ck);
	tp_log_actor_free(a);
	tp_log_config_free(c);
	tp_test_fini();
}

/* Garbage and foreign messages are rejected and counted; the actor keeps
 * serving. */
static void test_malformed_input(void **state)
{
	tp_log_config *c = file_config("bad.log", 0, 0, 0);
	tp_log_actor *a;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_log_actor_start(c, &a));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s",
	         tp__log_addr_path(tp_log_actor_address(a)));
	int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(send(fd, "\xff\xff\xff\xff", 4, 0), 4);
	Troupe__Envelope env = TROUPE__ENVELOPE__INIT;
	unsigned char buf[64];
	env.sender = "intruder";
	size_t n = troupe__envelope__pack(&env, buf);
	assert_int_equal(send(fd, buf, n, 0), (ssize_t)n);
	tp_log_info("rec 0");
	TP_OK_OR_FAIL(tp_log_flush(10000));
	struct target t = {a, 1};
	assert_true(lt_wait(actor_has, &t, 20000));
	close(fd);
	TP_OK_OR_FAIL(tp_log_actor_stop(a));
	tp_log_actor_stats st;
	TP_OK_OR_FAIL(tp_log_actor_stats_get(a, &st));
	assert_int_equal(st.bad, 2);
	assert_int_equal(st.records, 1);
	assert_true(st.connections >= 2);
	tp_log_actor_free(a);
	tp_log_config_free(c);
	tp_test_fini();
}

/* Back-pressure: a small buffer and block_ms: nothing is dropped while the
 * actor reads; with the actor gone, nothing waits. */
static void test_backpressure(void **state)
{
	tp_log_config *c = file_config("block.log", 0, 0, 64 * 1024);
	tp_log_actor *a;
	pid_t pid;
	const long n = 100000;
	(void)state;
	TP_EXPECT(tp_log_config_set_block(c, 70000), TP_EINVAL);
	TP_EXPECT(tp_log_config_set_block(NULL, 1), TP_EINVAL);
	TP_OK_OR_FAIL(tp_log_config_set_block(c, 10000));
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_log_actor_start(c, &a));
	if ((pid = fork()) == 0) {
		child_setup(0);
		log_range(0, n);
		tp_log_stats st;
		tp_log_stats_get(&st);
		_exit(st.dropped == 0 && tp_log_flush(10000) == TP_OK ? 0 : 4);
	}
	wait_kids(&pid, 1);
	struct target t = {a, n};
	assert_true(lt_wait(actor_has, &t, 20000));
	tp_log_actor_stats st;
	TP_OK_OR_FAIL(tp_log_actor_stats_get(a, &st));
	assert_int_equal(st.records, n);
	assert_int_equal(st.lost, 0);
	/* the actor stopped: a full buffer drops at once */
	TP_OK_OR_FAIL(tp_log_actor_stop(a));
	if ((pid = fork()) == 0) {
		child_setup(1);
		log_range(0, n);
		tp_log_stats st2;
		tp_log_stats_get(&st2);
		_exit(st2.dropped > 0 && tp_log_flush(0) == TP_ECLOSED ? 0 : 4);
	}
	wait_kids(&pid, 1);
	tp_log_actor_free(a);
	tp_log_config_free(c);
	tp_test_fini();
}

/* An unwritable file behind the actor: console instead, error reported. */
static void test_actor_unwritable_file(void **state)
{
	tp_log_config *c;
	tp_log_actor *a;
	tp_log_actor_stats st;
	char blocker[128], path[160];
	(void)state;
	lt_path(blocker, sizeof(blocker), "blocker");
	close(open(blocker, O_WRONLY | O_CREAT, 0600));
	snprintf(path, sizeof(path), "%s/x.log", blocker);
	TP_OK_OR_FAIL(tp_log_config_new(&c, "t"));
	TP_OK_OR_FAIL(tp_log_config_set_console(c, 0, TP_LOG_COLOUR_NEVER));
	TP_OK_OR_FAIL(tp_log_config_set_file(c, path, 0, 0));
	tp_test_init(TP_START_DEFAULT);
	int saved = dup(2), devnull = open("/dev/null", O_WRONLY);
	dup2(devnull, 2);
	close(devnull);
	TP_OK_OR_FAIL(tp_log_actor_start(c, &a));
	tp_log_info("to the console");
	TP_OK_OR_FAIL(tp_log_flush(10000));
	struct target t = {a, 1};
	assert_true(lt_wait(actor_has, &t, 20000));
	TP_OK_OR_FAIL(tp_log_actor_stop(a));
	dup2(saved, 2);
	close(saved);
	TP_OK_OR_FAIL(tp_log_actor_stats_get(a, &st));
	assert_int_equal(st.file_error, TP_ESYSERR | ENOTDIR);
	tp_log_actor_free(a);
	tp_log_config_free(c);
	tp_test_fini();
}

/* A message longer than the record limit is cut, not lost; a NUL inside
 * a message travels. */
static void test_big_and_binary_messages(void **state)
{
	tp_log_config *c = file_config("big.log", 0, 0, 0);
	tp_log_actor *a;
	size_t n = 100 * 1024;
	char *big = malloc(n + 1);
	(void)state;
	memset(big, 'b', n);
	big[n] = '\0';
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_log_actor_start(c, &a));
	tp_log_info("%s", big);
	TP_OK_OR_FAIL(tp_log_record(TP_LOG_INFO, "bin", 7, "a\0b", 3));
	TP_OK_OR_FAIL(tp_log_flush(10000));
	struct target t = {a, 2};
	assert_true(lt_wait(actor_has, &t, 20000));
	TP_OK_OR_FAIL(tp_log_actor_stop(a));
	FILE *f = fopen(tp_log_config_file(c), "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len = getline(&line, &cap, f);
	assert_non_null(strstr(line, "] bbbb"));
	assert_int_equal(strlen(strstr(line, "] ") + 2), 64 * 1024 + 1);
	len = getline(&line, &cap, f);
	assert_true(len > 5);
	assert_int_equal(memcmp(line + len - 4, "a\0b\n", 4), 0);
	free(line);
	fclose(f);
	free(big);
	tp_log_actor_free(a);
	tp_log_config_free(c);
	tp_test_fini();
}

struct thread_arg {
	int k;
	long n;
};

static void *thread_logger(void *arg)
{
	struct thread_arg *t = arg;
	char name[32];
	snprintf(name, sizeof(name), "child-%d", t->k);
	for (long i = 0; i < t->n; i++) {
		char msg[32];
		int len = snprintf(msg, sizeof(msg), "rec %ld", i);
		tp_log_record(TP_LOG_INFO, name, getpid(), msg, (size_t)len);
	}
	return NULL;
}

/* Threads of one process log at once: each one's records stay in order
 * (the check_line parser treats each thread as a "child-K"). */
static void test_threads_of_one_process(void **state)
{
	tp_log_config *c = file_config("threads.log", 0, 0, 4 << 20);
	tp_log_actor *a;
	pthread_t th[NKIDS];
	struct thread_arg ta[NKIDS];
	const long n = 20000;
	(void)state;
	TP_OK_OR_FAIL(tp_log_config_set_block(c, 10000));
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_log_actor_start(c, &a));
	for (int k = 0; k < NKIDS; k++) {
		ta[k] = (struct thread_arg){k, n};
		assert_int_equal(
		    pthread_create(&th[k], NULL, thread_logger, &ta[k]), 0);
	}
	for (int k = 0; k < NKIDS; k++)
		pthread_join(th[k], NULL);
	TP_OK_OR_FAIL(tp_log_flush(10000));
	struct target t = {a, (uint64_t)NKIDS * n};
	assert_true(lt_wait(actor_has, &t, 20000));
	TP_OK_OR_FAIL(tp_log_actor_stop(a));
	struct check ck;
	check_files(c, 0, n, &ck);
	for (int k = 0; k < NKIDS; k++)
		assert_int_equal(ck.lines[k], n); /* nothing dropped */
	tp_log_actor_free(a);
	tp_log_config_free(c);
	tp_test_fini();
}

/* Records that never fill a batch and are never flushed reach the actor
 * through the flusher's timer on this process's logging loop: before a
 * kill -9 of the actor, while it is down (kept and sent after its
 * restart, or counted as lost), and from a fork child, which has no loop
 * thread of its parent's and makes its own. */
static void test_timer_delivers_across_kill(void **state)
{
	tp_log_config *c = file_config("timer.log", 0, 0, 0);
	tp_log_actor *a;
	tp_log_actor_stats st;
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_log_actor_start(c, &a));
	log_range(0, 10);
	struct target t = {a, 10};
	assert_true(lt_wait(actor_has, &t, 20000));
	pid_t old = tp_log_actor_pid(a);
	assert_int_equal(kill(old, SIGKILL), 0);
	log_range(10, 20); /* while it is down or restarting */
	TP_OK_OR_FAIL(tp__log_actor_wait_new(a, old, 20000));
	/* A batch the dying actor took into its socket is a gap the next
	 * batch shows (a flush would too): one more record, never flushed. */
	log_range(20, 21);
	t.want = 21;
	assert_true(lt_wait(actor_has, &t, 20000));
	pid_t pid = fork();
	if (pid == 0) {
		alarm(20); /* a hang fails the test */
		if (lt_threads() != 1)
			_exit(2);
		log_range(21, 26);
		t.want = 26;
		_exit(lt_wait(actor_has, &t, 15000) ? 0 : 3); /* no flush */
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	TP_OK_OR_FAIL(tp_log_actor_stats_get(a, &st));
	assert_true(st.records + st.lost >= 26);
	assert_int_equal(st.bad, 0);
	assert_true(st.restarts >= 1);
	tp_log_actor_free(a);
	tp_log_config_free(c);
	tp_test_fini();
}

static void test_actor_errors(void **state)
{
	tp_log_config *c = file_config("err.log", 0, 0, 0);
	tp_log_actor *a;
	tp_log_actor_stats st;
	(void)state;
	TP_EXPECT(tp_log_actor_start(c, &a), TP_ENOTINIT);
	tp_test_init(TP_START_DEFAULT);
	TP_EXPECT(tp_log_actor_start(NULL, &a), TP_EINVAL);
	TP_EXPECT(tp_log_actor_start(c, NULL), TP_EINVAL);
	TP_EXPECT(tp_log_actor_stop(NULL), TP_EINVAL);
	TP_EXPECT(tp_log_actor_restart(NULL), TP_EINVAL);
	TP_EXPECT(tp_log_actor_stats_get(NULL, &st), TP_EINVAL);
	assert_false(tp_log_actor_alive(NULL));
	assert_int_equal(tp_log_actor_sentinel(NULL), -1);
	TP_EXPECT(tp_log_stats_get(NULL), TP_EINVAL);
	tp_log_actor_free(NULL);
	/* An actor left running is stopped by tp_fini; free works after. */
	TP_OK_OR_FAIL(tp_log_actor_start(c, &a));
	assert_true(tp_log_actor_alive(a));
	assert_non_null(strstr(tp_log_actor_address(a), "ipc://"));
	tp_log_config *cur;
	TP_OK_OR_FAIL(tp_log_config_get(&cur));
	assert_string_equal(tp_log_config_address(cur),
	                    tp_log_actor_address(a));
	tp_log_config_free(cur);
	tp_test_fini();
	assert_false(tp_log_actor_alive(a));
	TP_EXPECT(tp_log_actor_restart(a), TP_ENOTINIT);
	tp_log_actor_free(a);
	/* back to writing directly */
	TP_OK_OR_FAIL(tp_log_config_get(&cur));
	assert_string_equal(tp_log_config_address(cur), "");
	tp_log_config_free(cur);
	tp_log_config_free(c);
	TP_OK_OR_FAIL(tp_log_init(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_concurrent_one_file),
	    cmocka_unit_test(test_rotation_under_load),
	    cmocka_unit_test(test_rotation_keeps_backups),
	    cmocka_unit_test(test_stop_restart_reports_drops),
	    cmocka_unit_test(test_failure_and_restart_under_load),
	    cmocka_unit_test(test_malformed_input),
	    cmocka_unit_test(test_backpressure),
	    cmocka_unit_test(test_threads_of_one_process),
	    cmocka_unit_test(test_big_and_binary_messages),
	    cmocka_unit_test(test_actor_unwritable_file),
	    cmocka_unit_test(test_timer_delivers_across_kill),
	    cmocka_unit_test(test_actor_errors),
	};
	signal(SIGPIPE, SIG_IGN);
	if (getenv("LT_FILTER"))
		cmocka_set_test_filter(getenv("LT_FILTER"));
	int rv = cmocka_run_group_tests(tests, NULL, NULL);
	if (getenv("LT_KEEP") == NULL)
		lt_clean();
	return rv;
}
