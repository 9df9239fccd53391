/*
 * test_log_config.c - the logging configuration (clone, encode, decode),
 * level filtering, line formats, direct writing, the console fallback of
 * an unwritable file, capturing a child's output, and reading files back.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sys/wait.h>

#include "log_int.h"
#include "logtest.h"
#include "testutil.h"

static void test_config_defaults_and_errors(void **state)
{
	tp_log_config *c;
	(void)state;
	TP_EXPECT(tp_log_config_new(NULL, "x"), TP_EINVAL);
	TP_OK_OR_FAIL(tp_log_config_new(&c, "myapp"));
	assert_string_equal(tp_log_config_app(c), "myapp");
	assert_string_equal(tp_log_config_name(c), "MainProcess");
	assert_int_equal(tp_log_config_level(c), TP_LOG_INFO);
	assert_string_equal(tp_log_config_file(c), "");
	assert_string_equal(tp_log_config_address(c), "");
	assert_string_equal(tp_log_config_format(c), TP_LOG_FORMAT_DEFAULT);
	TP_EXPECT(tp_log_config_set_level(c, -1), TP_EINVAL);
	TP_EXPECT(tp_log_config_set_level(c, 101), TP_EINVAL);
	TP_EXPECT(tp_log_config_set_level(NULL, 10), TP_EINVAL);
	TP_EXPECT(tp_log_config_set_name(c, ""), TP_EINVAL);
	TP_EXPECT(tp_log_config_set_name(c, NULL), TP_EINVAL);
	TP_EXPECT(tp_log_config_set_format(c, "%T %Q"), TP_EINVAL);
	TP_EXPECT(tp_log_config_set_format(c, "trailing %"), TP_EINVAL);
	TP_EXPECT(tp_log_config_set_console(c, 1, 7), TP_EINVAL);
	TP_EXPECT(tp_log_config_set_file(c, "x", 10, 5000), TP_EINVAL);
	TP_EXPECT(tp_log_config_set_json(NULL, 1), TP_EINVAL);
	TP_EXPECT(tp_log_config_set_buffer(NULL, 1), TP_EINVAL);
	TP_EXPECT(tp_log_config_set_delete_existing(NULL, 1), TP_EINVAL);
	TP_OK_OR_FAIL(tp_log_config_set_format(c, "%% %A %N %M"));
	assert_string_equal(tp_log_config_name(NULL), "");
	assert_int_equal(tp_log_config_level(NULL), 0);
	tp_log_config_free(c);
	tp_log_config_free(NULL);
}

static void test_level_names(void **state)
{
	int l;
	(void)state;
	TP_OK_OR_FAIL(tp_log_level_parse("Warning", &l));
	assert_int_equal(l, TP_LOG_WARNING);
	TP_OK_OR_FAIL(tp_log_level_parse("warn", &l));
	assert_int_equal(l, TP_LOG_WARNING);
	TP_OK_OR_FAIL(tp_log_level_parse("CRITICAL", &l));
	assert_int_equal(l, TP_LOG_CRITICAL);
	TP_OK_OR_FAIL(tp_log_level_parse("15", &l));
	assert_int_equal(l, 15);
	TP_EXPECT(tp_log_level_parse("loud", &l), TP_EINVAL);
	TP_EXPECT(tp_log_level_parse("101", &l), TP_EINVAL);
	TP_EXPECT(tp_log_level_parse("", &l), TP_EINVAL);
	TP_EXPECT(tp_log_level_parse(NULL, &l), TP_EINVAL);
	assert_string_equal(tp_log_level_name(TP_LOG_ERROR), "ERROR");
	assert_null(tp_log_level_name(15));
}

struct follow {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int n;
	tp_log_config *c;
	int rv;
};

static int follow_line(const char *line, size_t len, void *arg)
{
	struct follow *f = arg;
	(void)len;
	if (line == NULL)
		return 0;
	pthread_mutex_lock(&f->mu);
	f->n++;
	pthread_cond_broadcast(&f->cv);
	int stop = f->n >= 10;
	pthread_mutex_unlock(&f->mu);
	return stop;
}

static void *follower(void *arg)
{
	struct follow *f = arg;
	f->rv = tp_log_read(f->c, "MainProcess", 1, follow_line, f);
	return NULL;
}

static int wait_lines(struct follow *f, int n)
{
	struct timespec dl;
	int ok = 1;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 20;
	pthread_mutex_lock(&f->mu);
	while (f->n < n && ok)
		ok = pthread_cond_timedwait(&f->cv, &f->mu, &dl) == 0;
	ok = f->n >= n;
	pthread_mutex_unlock(&f->mu);
	return ok;
}

/* `troupe logs -f`: follows the file across a rotation. */
static void test_follow_across_rotation(void **state)
{
	char path[128];
	tp_log_config *c;
	struct follow f = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
	                   0, NULL, -1};
	pthread_t t;
	(void)state;
	lt_path(path, sizeof(path), "follow.log");
	unlink(path);
	TP_OK_OR_FAIL(tp_log_config_new(&c, "app"));
	TP_OK_OR_FAIL(tp_log_config_set_console(c, 0, TP_LOG_COLOUR_NEVER));
	/* 5 lines of about 60 bytes fit; the sixth rotates */
	TP_OK_OR_FAIL(tp_log_config_set_file(c, path, 400, 3));
	TP_OK_OR_FAIL(tp_log_init(c));
	for (int i = 0; i < 5; i++)
		tp_log_info("line %d", i);
	f.c = c;
	assert_int_equal(pthread_create(&t, NULL, follower, &f), 0);
	assert_true(wait_lines(&f, 5));
	for (int i = 5; i < 10; i++)
		tp_log_info("line %d", i);
	assert_true(wait_lines(&f, 10));
	pthread_join(t, NULL);
	TP_OK_OR_FAIL(f.rv);
	char b1[160];
	snprintf(b1, sizeof(b1), "%s.1", path);
	assert_int_equal(access(b1, F_OK), 0); /* it did rotate */
	tp_log_config_free(c);
	TP_OK_OR_FAIL(tp_log_init(NULL));
}

static void test_clone_and_encode(void **state)
{
	tp_log_config *c, *k, *d;
	void *buf;
	size_t len;
	(void)state;
	TP_OK_OR_FAIL(tp_log_config_new(&c, "myapp"));
	TP_OK_OR_FAIL(tp_log_config_set_name(c, "myname"));
	TP_OK_OR_FAIL(tp_log_config_set_level(c, TP_LOG_DEBUG));
	TP_OK_OR_FAIL(tp_log_config_set_file(c, "/tmp/a.log", 1000, 3));
	TP_OK_OR_FAIL(tp_log_config_set_delete_existing(c, 1));
	TP_OK_OR_FAIL(tp_log_config_set_json(c, 1));
	TP_EXPECT(tp_log_config_clone(c, "", &k), TP_EINVAL);
	TP_EXPECT(tp_log_config_clone(NULL, "w", &k), TP_EINVAL);
	TP_EXPECT(tp_log_config_clone(c, NULL, &k), TP_EINVAL);
	TP_OK_OR_FAIL(tp_log_config_clone(c, "calculate_e", &k));
	assert_string_equal(tp_log_config_name(k), "calculate_e");
	assert_string_equal(tp_log_config_app(k), "myapp");
	assert_string_equal(tp_log_config_file(k), "/tmp/a.log");
	assert_int_equal(tp_log_config_level(k), TP_LOG_DEBUG);
	assert_int_equal(tp_log_config_json(k), 1);
	assert_int_equal(tp_log_config_delete_existing(k), 0);
	assert_int_equal(tp_log_config_delete_existing(c), 1);
	/* config_as_dict -> bytes -> balsa_clone */
	TP_OK_OR_FAIL(tp_log_config_encode(c, &buf, &len));
	TP_OK_OR_FAIL(tp_log_config_decode(buf, len, &d));
	assert_string_equal(tp_log_config_name(d), "myname");
	assert_string_equal(tp_log_config_file(d), "/tmp/a.log");
	assert_int_equal(tp_log_config_delete_existing(d), 1);
	assert_int_equal(tp_log_config_level(d), TP_LOG_DEBUG);
	free(buf);
	TP_EXPECT(tp_log_config_decode("\xff\xff\xff", 3, &d), TP_EDECODE);
	TP_EXPECT(tp_log_config_decode(NULL, 3, &d), TP_EINVAL);
	/* a well-formed message with a bad value */
	Troupe__LogConfig pb = TROUPE__LOG_CONFIG__INIT;
	unsigned char raw[64];
	pb.level = 1000;
	size_t n = troupe__log_config__pack(&pb, raw);
	tp_log_config *bad = NULL;
	TP_EXPECT(tp_log_config_decode(raw, n, &bad), TP_EDECODE);
	assert_null(bad);
	/* an empty message is the defaults */
	TP_OK_OR_FAIL(tp_log_config_decode("", 0, &bad));
	assert_string_equal(tp_log_config_name(bad), "MainProcess");
	tp_log_config_free(bad);
	tp_log_config_free(d);
	tp_log_config_free(k);
	tp_log_config_free(c);
}

static int side_effects;
static int count_call(void)
{
	return ++side_effects;
}

static void use_file(const char *name, int json, int level, char *path,
                     size_t len)
{
	tp_log_config *c;
	lt_path(path, len, name);
	unlink(path);
	TP_OK_OR_FAIL(tp_log_config_new(&c, "app"));
	TP_OK_OR_FAIL(tp_log_config_set_console(c, 0, TP_LOG_COLOUR_NEVER));
	TP_OK_OR_FAIL(tp_log_config_set_file(c, path, 0, 0));
	TP_OK_OR_FAIL(tp_log_config_set_json(c, json));
	TP_OK_OR_FAIL(tp_log_config_set_level(c, level));
	TP_OK_OR_FAIL(tp_log_init(c));
	tp_log_config_free(c);
}

static void test_level_filter(void **state)
{
	char path[128];
	struct lt_lines l = {0};
	(void)state;
	use_file("level.log", 0, TP_LOG_WARNING, path, sizeof(path));
	assert_false(tp_log_enabled(TP_LOG_INFO));
	assert_true(tp_log_enabled(TP_LOG_WARNING));
	side_effects = 0;
	tp_log_debug("debug %d", count_call());
	tp_log_info("info %d", count_call());
	assert_int_equal(side_effects, 0); /* not even evaluated */
	tp_log_warning("warning %d", 1);
	tp_log_error("error %s", "two");
	tp_log_critical("critical %.1f", 3.0);
	TP_OK_OR_FAIL(tp_log_set_level(TP_LOG_DEBUG));
	tp_log_debug("debug now %d", count_call());
	assert_int_equal(side_effects, 1);
	TP_EXPECT(tp_log_set_level(500), TP_EINVAL);
	TP_OK_OR_FAIL(tp_log_flush(0));
	lt_read(&l, path);
	assert_int_equal(l.n, 4);
	assert_non_null(strstr(l.v[0], " WARNING MainProcess["));
	assert_non_null(strstr(l.v[0], "] warning 1"));
	assert_non_null(strstr(l.v[1], " ERROR "));
	assert_non_null(strstr(l.v[2], " CRITICAL "));
	assert_non_null(strstr(l.v[3], " DEBUG "));
	/* time first: 2026-11-22T00:00:00.000000Z */
	assert_int_equal(l.v[0][10], 'T');
	assert_int_equal(l.v[0][26], 'Z');
	char name[64];
	pid_t pid;
	tp_log_config *cur;
	TP_OK_OR_FAIL(tp_log_config_get(&cur));
	TP_OK_OR_FAIL(tp_log_line_fields(cur, l.v[0], strlen(l.v[0]), name,
	                                 sizeof(name), &pid));
	assert_string_equal(name, "MainProcess");
	assert_int_equal(pid, getpid());
	TP_EXPECT(
	    tp_log_line_fields(cur, "garbage", 7, name, sizeof(name), &pid),
	    TP_EDECODE);
	TP_EXPECT(tp_log_line_fields(NULL, "x", 1, name, sizeof(name), &pid),
	          TP_EINVAL);
	tp_log_config_free(cur);
	lt_free(&l);
	TP_OK_OR_FAIL(tp_log_init(NULL));
}

static void test_json_and_multiline(void **state)
{
	char path[128], name[64];
	struct lt_lines l = {0};
	tp_log_config *cur;
	pid_t pid;
	(void)state;
	use_file("json.log", 1, TP_LOG_DEBUG, path, sizeof(path));
	tp_log_info("say \"hi\"\nsecond line\t%d\n", 5);
	tp_log_flush(0);
	lt_read(&l, path);
	assert_int_equal(l.n, 1);
	assert_non_null(strstr(l.v[0], "\"level\":\"INFO\""));
	assert_non_null(strstr(l.v[0], "\"app\":\"app\""));
	assert_non_null(
	    strstr(l.v[0], "\"msg\":\"say \\\"hi\\\"\\nsecond line\\t5\"}"));
	TP_OK_OR_FAIL(tp_log_config_get(&cur));
	TP_OK_OR_FAIL(tp_log_line_fields(cur, l.v[0], strlen(l.v[0]), name,
	                                 sizeof(name), &pid));
	assert_string_equal(name, "MainProcess");
	assert_int_equal(pid, getpid());
	tp_log_config_free(cur);
	lt_free(&l);
	/* text: a newline in a message becomes a tab-led continuation */
	use_file("multi.log", 0, TP_LOG_DEBUG, path, sizeof(path));
	tp_log_info("one\ntwo\n");
	lt_read(&l, path);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[1], "\ttwo");
	lt_free(&l);
	TP_OK_OR_FAIL(tp_log_init(NULL));
}

/* An unwritable file: one clear message on stderr, records on the console */
static void test_unwritable_file_falls_back(void **state)
{
	char blocker[128], path[160], errpath[128];
	tp_log_config *c;
	struct lt_lines l = {0};
	(void)state;
	lt_path(blocker, sizeof(blocker), "not-a-dir");
	close(open(blocker, O_WRONLY | O_CREAT, 0600));
	snprintf(path, sizeof(path), "%s/x.log", blocker);
	lt_path(errpath, sizeof(errpath), "stderr.txt");
	int saved = dup(2),
	    fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fd, 2);
	close(fd);
	TP_OK_OR_FAIL(tp_log_config_new(&c, "app"));
	TP_OK_OR_FAIL(tp_log_config_set_console(c, 0, TP_LOG_COLOUR_ALWAYS));
	TP_OK_OR_FAIL(tp_log_config_set_file(c, path, 0, 0));
	TP_OK_OR_FAIL(tp_log_init(c));
	tp_log_info("first");
	tp_log_warning("second");
	dup2(saved, 2);
	close(saved);
	lt_read(&l, errpath);
	assert_int_equal(l.n, 3);
	assert_non_null(strstr(l.v[0], "cannot open"));
	assert_non_null(strstr(l.v[0], "logging to the console instead"));
	assert_non_null(strstr(l.v[1], "] first"));
	assert_null(strstr(l.v[1], "\033[")); /* fallback: no colour */
	assert_non_null(strstr(l.v[2], "] second"));
	lt_free(&l);
	tp_log_config_free(c);
	TP_OK_OR_FAIL(tp_log_init(NULL));
}

static void test_capture_fd(void **state)
{
	char path[128];
	int p[2];
	tp_log_capture *cap;
	struct lt_lines l = {0};
	(void)state;
	use_file("capture.log", 0, TP_LOG_DEBUG, path, sizeof(path));
	assert_int_equal(pipe(p), 0);
	TP_EXPECT(tp_log_capture_start(-1, "x", 1, TP_LOG_INFO, &cap),
	          TP_EINVAL);
	TP_EXPECT(tp_log_capture_start(p[0], "", 1, TP_LOG_INFO, &cap),
	          TP_EINVAL);
	TP_EXPECT(tp_log_capture_wait(NULL, 0), TP_EINVAL);
	TP_OK_OR_FAIL(
	    tp_log_capture_start(p[0], "prog", 4242, TP_LOG_INFO, &cap));
	TP_EXPECT(tp_log_capture_wait(cap, 0), TP_ETIMEDOUT);
	char big[5000];
	memset(big, 'x', sizeof(big));
	assert_int_equal(write(p[1], "hello\nworld\r\n", 13), 13);
	assert_int_equal(write(p[1], big, sizeof(big)), (ssize_t)sizeof(big));
	assert_int_equal(write(p[1], "\npartial", 8), 8);
	close(p[1]);
	TP_OK_OR_FAIL(tp_log_capture_wait(cap, 10000));
	assert_int_equal(tp_log_capture_lines(cap), 5);
	tp_log_capture_free(cap);
	tp_log_capture_free(NULL);
	lt_read(&l, path);
	assert_int_equal(l.n, 5);
	assert_non_null(strstr(l.v[0], " INFO prog[4242] hello"));
	assert_non_null(strstr(l.v[1], " INFO prog[4242] world"));
	assert_int_equal(strlen(strstr(l.v[2], "] ") + 2), 4096);
	assert_int_equal(strlen(strstr(l.v[3], "] ") + 2), 5000 - 4096);
	assert_non_null(strstr(l.v[4], "prog[4242] partial"));
	lt_free(&l);
	TP_OK_OR_FAIL(tp_log_init(NULL));
}

/* A crash report when this process logs nothing at CRITICAL: stderr. */
static void test_crash_report_fallback(void **state)
{
	char errpath[128], path[128];
	struct lt_lines l = {0};
	(void)state;
	use_file("crash.log", 0, TP_LOG_DEBUG, path, sizeof(path));
	tp__log_crash_report("Process-9", 99, "Process Process-9: boom\n");
	TP_OK_OR_FAIL(tp_log_set_level(100));
	lt_path(errpath, sizeof(errpath), "crash-stderr.txt");
	int saved = dup(2),
	    fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fd, 2);
	close(fd);
	tp__log_crash_report("Process-9", 99, "Process Process-9: again\n");
	dup2(saved, 2);
	close(saved);
	lt_read(&l, path);
	assert_int_equal(l.n, 1);
	assert_non_null(strstr(l.v[0], " CRITICAL Process-9[99] Process "
	                               "Process-9: boom"));
	lt_free(&l);
	lt_read(&l, errpath);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0], "Process Process-9: again");
	lt_free(&l);
	TP_OK_OR_FAIL(tp_log_init(NULL));
}

/* A capture stopped before end of file frees cleanly. */
static void test_capture_stop_early(void **state)
{
	int p[2];
	tp_log_capture *cap;
	(void)state;
	assert_int_equal(pipe(p), 0);
	TP_OK_OR_FAIL(tp_log_capture_start(p[0], "prog", 1, TP_LOG_INFO, &cap));
	tp_log_capture_free(cap);
	close(p[1]);
}

/* Many captures at once are sources of one loop thread, not a thread
 * each; writers that close right after a burst (a child's exit) lose no
 * line, and each capture's lines keep their order. */
#define NCAP   8
#define NLINES 3000
static void test_captures_share_one_loop(void **state)
{
	char path[128], name[16];
	int p[NCAP][2];
	tp_log_capture *cap[NCAP];
	struct lt_lines l = {0};
	long next[NCAP] = {0};
	(void)state;
	use_file("many.log", 0, TP_LOG_DEBUG, path, sizeof(path));
	int before = lt_threads();
	for (int i = 0; i < NCAP; i++) {
		assert_int_equal(pipe(p[i]), 0);
		snprintf(name, sizeof(name), "cap-%d", i);
		TP_OK_OR_FAIL(tp_log_capture_start(p[i][0], name, 100 + i,
		                                   TP_LOG_INFO, &cap[i]));
	}
	assert_true(lt_threads() <= before + 1); /* at most the loop */
	for (int n = 0; n < NLINES; n++)
		for (int i = 0; i < NCAP; i++)
			assert_true(dprintf(p[i][1], "line %d\n", n) > 0);
	for (int i = 0; i < NCAP; i++)
		close(p[i][1]); /* EOF with the pipe still full */
	for (int i = 0; i < NCAP; i++) {
		TP_OK_OR_FAIL(tp_log_capture_wait(cap[i], 20000));
		assert_int_equal(tp_log_capture_lines(cap[i]), NLINES);
		tp_log_capture_free(cap[i]);
	}
	lt_read(&l, path);
	assert_int_equal(l.n, NCAP * NLINES);
	for (size_t j = 0; j < l.n; j++) {
		int i, n;
		const char *r = strstr(l.v[j], " cap-");
		assert_non_null(r);
		assert_int_equal(sscanf(r, " cap-%d[%*d] line %d", &i, &n), 2);
		assert_true(i >= 0 && i < NCAP);
		assert_int_equal(n, next[i]);
		next[i]++;
	}
	lt_free(&l);
	TP_OK_OR_FAIL(tp_log_init(NULL));
}

/* In a fork child of a process whose loop runs: no loop thread is
 * inherited, freeing an inherited capture leaves the parent's alone, and
 * a capture of the child's own gets a loop of the child's. The parent's
 * capture keeps working. */
static void test_fork_child_loop(void **state)
{
	char path[128];
	int p[2], q[2];
	tp_log_capture *cap;
	struct lt_lines l = {0};
	(void)state;
	use_file("forkloop.log", 0, TP_LOG_DEBUG, path, sizeof(path));
	assert_int_equal(pipe(p), 0);
	TP_OK_OR_FAIL(
	    tp_log_capture_start(p[0], "parent", 1, TP_LOG_INFO, &cap));
	pid_t pid = fork();
	if (pid == 0) {
		alarm(20); /* a hang fails the test */
		if (lt_threads() != 1)
			_exit(2);
		tp_log_capture_free(cap); /* inherited: closes our copy only */
		close(p[1]);
		if (pipe(q) != 0 ||
		    tp_log_capture_start(q[0], "kid", 2, TP_LOG_INFO, &cap) !=
		        TP_OK)
			_exit(3);
		for (int i = 0; i < 100; i++)
			dprintf(q[1], "kid %d\n", i);
		close(q[1]);
		if (tp_log_capture_wait(cap, 10000) != TP_OK ||
		    tp_log_capture_lines(cap) != 100)
			_exit(4);
		tp_log_capture_free(cap);
		_exit(0);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(write(p[1], "still here\n", 11), 11);
	close(p[1]);
	TP_OK_OR_FAIL(tp_log_capture_wait(cap, 10000));
	assert_int_equal(tp_log_capture_lines(cap), 1);
	tp_log_capture_free(cap);
	lt_read(&l, path);
	assert_int_equal(l.n, 101);
	assert_non_null(strstr(l.v[99], "kid[2] kid 99"));
	assert_non_null(strstr(l.v[100], "parent[1] still here"));
	lt_free(&l);
	TP_OK_OR_FAIL(tp_log_init(NULL));
}

struct seen {
	int n, idle;
};

static int count_line(const char *line, size_t len, void *arg)
{
	struct seen *s = arg;
	(void)len;
	if (line == NULL)
		return ++s->idle >= 2;
	s->n++;
	return 0;
}

static void test_read_filter(void **state)
{
	char path[128];
	tp_log_config *c;
	struct seen s = {0};
	(void)state;
	use_file("read.log", 0, TP_LOG_DEBUG, path, sizeof(path));
	tp_log_record(TP_LOG_INFO, "alpha", 11, "a1", 2);
	tp_log_record(TP_LOG_INFO, "beta", 12, "b1\nb1 continued", 16);
	tp_log_record(TP_LOG_INFO, "alpha", 11, "a2", 2);
	TP_EXPECT(tp_log_record(TP_LOG_INFO, "x", 1, NULL, 3), TP_EINVAL);
	TP_OK_OR_FAIL(tp_log_config_get(&c));
	TP_EXPECT(tp_log_read(NULL, NULL, 0, count_line, &s), TP_EINVAL);
	TP_OK_OR_FAIL(tp_log_read(c, NULL, 0, count_line, &s));
	assert_int_equal(s.n, 4);
	s.n = 0;
	TP_OK_OR_FAIL(tp_log_read(c, "alpha", 0, count_line, &s));
	assert_int_equal(s.n, 2);
	s.n = 0;
	TP_OK_OR_FAIL(tp_log_read(c, "beta", 0, count_line, &s));
	assert_int_equal(s.n, 2); /* the continuation line goes with it */
	s.n = 0;
	TP_OK_OR_FAIL(tp_log_read(c, "beta", 1, count_line, &s));
	assert_int_equal(s.n, 2);
	assert_int_equal(s.idle, 2);
	TP_OK_OR_FAIL(tp_log_config_set_format(c, "%L %M"));
	TP_EXPECT(tp_log_read(c, "beta", 0, count_line, &s), TP_EINVAL);
	TP_OK_OR_FAIL(tp_log_config_set_file(c, "/nonexistent/x", 0, 0));
	assert_true(tp_log_read(c, NULL, 0, count_line, &s) & TP_ESYSERR);
	tp_log_config_free(c);
	TP_OK_OR_FAIL(tp_log_init(NULL));
}

/* A fork child keeps its parent's configuration, writes under its own
 * pid and does not inherit the parent's unsent records. */
static void test_fork_child_direct(void **state)
{
	char path[128];
	struct lt_lines l = {0};
	(void)state;
	use_file("fork.log", 0, TP_LOG_DEBUG, path, sizeof(path));
	pid_t pid = fork();
	if (pid == 0) {
		tp_log_info("from child");
		tp_log_flush(1000);
		_exit(0);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	lt_read(&l, path);
	assert_int_equal(l.n, 1);
	char want[64];
	snprintf(want, sizeof(want), "MainProcess[%d] from child", (int)pid);
	assert_non_null(strstr(l.v[0], want));
	lt_free(&l);
	TP_OK_OR_FAIL(tp_log_init(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_config_defaults_and_errors),
	    cmocka_unit_test(test_level_names),
	    cmocka_unit_test(test_follow_across_rotation),
	    cmocka_unit_test(test_clone_and_encode),
	    cmocka_unit_test(test_level_filter),
	    cmocka_unit_test(test_json_and_multiline),
	    cmocka_unit_test(test_unwritable_file_falls_back),
	    cmocka_unit_test(test_capture_fd),
	    cmocka_unit_test(test_capture_stop_early),
	    cmocka_unit_test(test_captures_share_one_loop),
	    cmocka_unit_test(test_fork_child_loop),
	    cmocka_unit_test(test_crash_report_fallback),
	    cmocka_unit_test(test_read_filter),
	    cmocka_unit_test(test_fork_child_direct),
	};
	int rv = cmocka_run_group_tests(tests, NULL, NULL);
	lt_clean();
	return rv;
}
