/*
 * cli_util.c - what the troupe CLI tests share: a private directory with
 * the control socket and config file, running `troupe` and reading its
 * output, starting and waiting for a daemon, reading `status --json`,
 * and the raw control-socket frames of ctl_io.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli_util.h"
#include "ctl_int.h"
#include "runtime_int.h"
#include "wire.h"

extern char **environ;

char dir[256], sock[300], cfg[300], marks[300];
pid_t daemon_pid; /* killed by teardown if a test failed */

int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void nap(int ms)
{
	struct timespec ts = {0, ms * 1000000L};
	nanosleep(&ts, NULL);
}

/* Runs `troupe ARGS` and returns its exit code; its output (stdout and
 * stderr) is stored in out. */
int troupe_raw(char *out, size_t len, const char *args)
{
	char cmd[2048];
	snprintf(cmd, sizeof(cmd), "%s %s 2>&1", TROUPE_BIN, args);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(out, 1, len - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int troupe(char *out, size_t len, const char *args)
{
	char cmd[1536];
	snprintf(cmd, sizeof(cmd), "--socket %s %s", sock, args);
	return troupe_raw(out, len, cmd);
}

/* Starts troupe with argv, its descriptor `to` on a pipe whose read end
 * is *fd. */
static pid_t spawn_piped(char *const argv[], int to, int *fd)
{
	int fds[2];
	pid_t pid;
	posix_spawn_file_actions_t fa;
	assert_int_equal(pipe(fds), 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], to);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	assert_int_equal(
	    posix_spawn(&pid, TROUPE_BIN, &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	*fd = fds[0];
	return pid;
}

pid_t troupe_spawn(char *const argv[], int *fd)
{
	return spawn_piped(argv, 1, fd);
}

static int has_all(const char *out, const char *const want[], int n)
{
	for (int i = 0; i < n; i++)
		if (strstr(out, want[i]) == NULL)
			return 0;
	return 1;
}

int read_until(int fd, char *out, size_t len, const char *const want[], int n)
{
	size_t got = 0;
	int64_t end = now_ms() + 10000;
	out[0] = '\0';
	while (!has_all(out, want, n) && now_ms() < end && got < len - 1) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 100) <= 0)
			continue;
		ssize_t k = read(fd, out + got, len - 1 - got);
		if (k <= 0)
			break;
		got += (size_t)k;
		out[got] = '\0';
	}
	return has_all(out, want, n);
}

int signal_and_reap(pid_t pid, int sig)
{
	int st;
	kill(pid, sig);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void write_cfg(const char *text)
{
	FILE *f = fopen(cfg, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "%s", tp_test_base());
	mkdir(dir, 0700);
	snprintf(sock, sizeof(sock), "%s/ctl.sock", dir);
	snprintf(cfg, sizeof(cfg), "%s/t.ini", dir);
	snprintf(marks, sizeof(marks), "%s/marks", dir);
	setenv("TROUPE_CHILD", TP_TEST_CHILD, 1);
	setenv("MARKS", marks, 1);
	/* The daemon's own runtime dir goes under the test base too. */
	setenv("XDG_RUNTIME_DIR", dir, 1);
	/* And its log, which outlives it (the default is under the state
	 * directory, /var/log/troupe as root). */
	setenv("XDG_STATE_HOME", dir, 1);
	unlink(marks);
	return 0;
}

/* A detached daemon is not our child: a test that failed before shutting
 * it down leaves it running, so find it by its pid file and kill it. */
static void kill_detached_daemon(void)
{
	char pidfile[sizeof(sock) + 8];
	int pid = 0;
	snprintf(pidfile, sizeof(pidfile), "%s.pid", sock);
	FILE *f = fopen(pidfile, "r");
	if (f == NULL)
		return;
	if (fscanf(f, "%d", &pid) == 1 && pid > 0 && kill(pid, 0) == 0) {
		kill(pid, SIGKILL);
		for (int64_t end = now_ms() + 5000;
		     kill(pid, 0) == 0 && now_ms() < end;)
			nap(5);
	}
	fclose(f);
}

int teardown(void **state)
{
	(void)state;
	if (daemon_pid > 0) {
		kill(daemon_pid, SIGKILL);
		waitpid(daemon_pid, NULL, 0);
		daemon_pid = 0;
	}
	kill_detached_daemon();
	unlink(cfg);
	unlink(marks);
	assert_int_equal(tp_test_children(), 0);
	tp__rmtree(dir);
	return 0;
}

const char *three =
    "[supervisor]\nstrategy = one_for_one\nintensity = 5\n"
    "period = 10000\n\n"
    "[program:a]\ncommand = %(ENV_TROUPE_CHILD)s a --mark %(ENV_MARKS)s\n"
    "ready = notify\n\n"
    "[group:g]\nstrategy = rest_for_one\n\n"
    "[program:b]\ncommand = %(ENV_TROUPE_CHILD)s b --mark %(ENV_MARKS)s\n"
    "ready = notify\ngroup = g\n\n"
    "[program:c]\ncommand = %(ENV_TROUPE_CHILD)s c --mark %(ENV_MARKS)s\n"
    "ready = notify\nrestart = transient\n";

/* Starts `troupe supervise cfg` in the foreground as our child and waits
 * until it answers. */
pid_t daemon_spawn(void)
{
	char *argv[] = {TROUPE_BIN, "supervise", cfg, "--socket", sock, NULL};
	pid_t pid;
	assert_int_equal(
	    posix_spawn(&pid, TROUPE_BIN, NULL, NULL, argv, environ), 0);
	daemon_pid = pid;
	return pid;
}

pid_t daemon_spawn_stderr(int *fd)
{
	char *argv[] = {TROUPE_BIN, "supervise", cfg, "--socket", sock, NULL};
	daemon_pid = spawn_piped(argv, 2, fd);
	return daemon_pid;
}

pid_t daemon_start(void)
{
	char out[4096];
	pid_t pid = daemon_spawn();
	int64_t end = now_ms() + 20000;
	while (troupe(out, sizeof(out), "status") != 0) {
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			daemon_pid = 0; /* reaped: nothing for teardown */
			fail_msg("daemon exited before it answered: %s", out);
		}
		if (now_ms() > end)
			fail_msg("daemon did not come up: %s", out);
		nap(20);
	}
	return pid;
}

int daemon_wait(pid_t pid)
{
	int st;
	int64_t end = now_ms() + 20000;
	daemon_pid = 0;
	while (waitpid(pid, &st, WNOHANG) == 0) {
		if (now_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			fail_msg("daemon did not exit");
		}
		nap(10);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The node named name in a --json children array, searched depth first. */
json_object *json_find(json_object *kids, const char *name)
{
	for (size_t i = 0; kids && i < json_object_array_length(kids); i++) {
		json_object *c = json_object_array_get_idx(kids, i), *n, *sub;
		json_object_object_get_ex(c, "name", &n);
		if (strcmp(json_object_get_string(n), name) == 0)
			return c;
		if (json_object_object_get_ex(c, "children", &sub) &&
		    (c = json_find(sub, name)) != NULL)
			return c;
	}
	return NULL;
}

/* Parses `troupe status --json`; returns the child object named name. */
json_object *status_json(json_object **root, const char *name)
{
	char out[16384];
	int rv = troupe(out, sizeof(out), "status --json");
	*root = json_tokener_parse(out);
	if (*root == NULL)
		fail_msg("status --json exited %d with: %s", rv, out);
	json_object *kids;
	assert_true(json_object_object_get_ex(*root, "children", &kids));
	return json_find(kids, name);
}

const char *jstr(json_object *o, const char *k)
{
	json_object *v;
	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v)
	                                           : "";
}

int jint(json_object *o, const char *k)
{
	json_object *v;
	return json_object_object_get_ex(o, k, &v) && v != NULL
	           ? json_object_get_int(v)
	           : -1;
}

int pid_of(const char *name)
{
	json_object *root, *c = status_json(&root, name);
	int pid =
	    c && !strcmp(jstr(c, "state"), "running") && jint(c, "pid") > 0
	        ? jint(c, "pid")
	        : 0;
	json_object_put(root);
	return pid;
}

/* Reads one reply frame from a raw control connection (10 s at most). */
Troupe__Envelope *read_reply(int fd)
{
	unsigned char *buf = malloc(CTL_MAX_REQ);
	size_t got = 0, want = 4;
	int64_t end = now_ms() + 10000;
	assert_non_null(buf);
	while (got < want) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (now_ms() > end)
			fail_msg("no reply within 10 s");
		if (poll(&p, 1, 100) <= 0)
			continue;
		ssize_t k = read(fd, buf + got, want - got);
		if (k <= 0)
			fail_msg("connection closed after %zu bytes", got);
		got += (size_t)k;
		if (got == 4 && want == 4) {
			want = 4 + ctl_frame_len(buf);
			assert_true(want <= CTL_MAX_REQ);
		}
	}
	Troupe__Envelope *env;
	TP_OK_OR_FAIL(tp__envelope_unpack(buf + 4, got - 4, CTL_MAX_REQ, &env));
	free(buf);
	assert_int_equal(env->body_case, TROUPE__ENVELOPE__BODY_SUP_REPLY);
	return env;
}

unsigned char *status_frame(size_t *len)
{
	return command_frame("status", NULL, len);
}

unsigned char *command_frame(const char *command, const char *name, size_t *len)
{
	Troupe__SupRequest req = TROUPE__SUP_REQUEST__INIT;
	Troupe__Envelope env = TROUPE__ENVELOPE__INIT;
	unsigned char *buf;
	char *names[1] = {(char *)name};
	req.command = (char *)command;
	if (name != NULL) {
		req.names = names;
		req.n_names = 1;
	}
	env.body_case = TROUPE__ENVELOPE__BODY_SUP_REQUEST;
	env.sup_request = &req;
	TP_OK_OR_FAIL(ctl_frame_pack(&env, &buf, len));
	return buf;
}
