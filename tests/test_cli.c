/*
 * test_cli.c - the troupe daemon and CLI end to end: config errors with
 * file:line, status/stop/start/restart/signal/logs/tree/top/reload/
 * shutdown against a real daemon, --json parsed, malformed requests, no
 * orphans after kill -9 of the daemon, orderly reverse stop on SIGTERM,
 * escalation, the Prometheus endpoint.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime_int.h"
#include "testutil.h"
#include "wire.h"

extern char **environ;

static char dir[256], sock[300], cfg[300], marks[300];
static pid_t daemon_pid; /* killed by teardown if a test failed */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap(int ms)
{
	struct timespec ts = {0, ms * 1000000L};
	nanosleep(&ts, NULL);
}

/* Runs `troupe --socket SOCK ARGS` and returns its exit code; its output
 * (stdout and stderr) is stored in out. */
static int troupe(char *out, size_t len, const char *args)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "%s --socket %s %s 2>&1", TROUPE_BIN, sock,
	         args);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(out, 1, len - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void write_cfg(const char *text)
{
	FILE *f = fopen(cfg, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
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

static int teardown(void **state)
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

static const char *three =
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
static pid_t daemon_spawn(void)
{
	char *argv[] = {TROUPE_BIN, "supervise", cfg, "--socket", sock, NULL};
	pid_t pid;
	assert_int_equal(
	    posix_spawn(&pid, TROUPE_BIN, NULL, NULL, argv, environ), 0);
	daemon_pid = pid;
	return pid;
}

static pid_t daemon_start(void)
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

static int daemon_wait(pid_t pid)
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

/* Parses `troupe status --json`; returns the child object named name. */
static json_object *status_json(json_object **root, const char *name)
{
	char out[16384];
	int rv = troupe(out, sizeof(out), "status --json");
	*root = json_tokener_parse(out);
	if (*root == NULL)
		fail_msg("status --json exited %d with: %s", rv, out);
	json_object *kids;
	assert_true(json_object_object_get_ex(*root, "children", &kids));
	for (size_t i = 0; i < json_object_array_length(kids); i++) {
		json_object *c = json_object_array_get_idx(kids, i), *n;
		json_object_object_get_ex(c, "name", &n);
		if (strcmp(json_object_get_string(n), name) == 0)
			return c;
	}
	return NULL;
}

static const char *jstr(json_object *o, const char *k)
{
	json_object *v;
	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v)
	                                           : "";
}

static int jint(json_object *o, const char *k)
{
	json_object *v;
	return json_object_object_get_ex(o, k, &v) ? json_object_get_int(v)
	                                           : -1;
}

static int pid_of(const char *name)
{
	json_object *root, *c = status_json(&root, name);
	int pid =
	    c && !strcmp(jstr(c, "state"), "running") ? jint(c, "pid") : 0;
	json_object_put(root);
	return pid;
}

static void expect_config_error(const char *text, const char *where)
{
	char out[4096], want[400];
	write_cfg(text);
	snprintf(want, sizeof(want), "%s:%s", cfg, where);
	char args[400];
	snprintf(args, sizeof(args), "supervise %s", cfg);
	int rv = troupe(out, sizeof(out), args);
	if (rv != 2 || strstr(out, want) == NULL)
		fail_msg("exit %d, expected '%s' in: %s", rv, want, out);
}

static void test_config_errors_name_file_and_line(void **state)
{
	(void)state;
	expect_config_error("[program:a]\ncommand = /bin/true\nbogus = 1\n",
	                    "3: unknown key 'bogus'");
	expect_config_error("[program:a]\ncommand = /bin/true\n"
	                    "restart = sometimes\n",
	                    "3: bad restart 'sometimes'");
	expect_config_error("[supervisor]\nstrategy = one_for_one\n\n"
	                    "[program:a]\nrestart = permanent\n",
	                    "4: [program:a] has no command");
	expect_config_error("[program:a]\ncommand = /bin/true\ngroup = nope\n",
	                    "3: [program:a]: unknown group 'nope'");
	expect_config_error("[thing:a]\nx = 1\n", "1: unknown section");
	expect_config_error("[program:a]\ncommand = /bin/true\n"
	                    "shutdown = soon\n",
	                    "3: bad shutdown 'soon'");
	expect_config_error("[program:a]\ncommand = /bin/true\n"
	                    "[program:a]\ncommand = /bin/false\n",
	                    "3: duplicate section [program:a]");
	expect_config_error("[program:a]\ncommand = /bin/true\n"
	                    "[group:a]\nstrategy = one_for_all\n",
	                    "1: duplicate name 'a'");
	expect_config_error("[supervisor]\nintensity = -1\n"
	                    "[program:a]\ncommand = /bin/true\n",
	                    "2: bad intensity");
	expect_config_error("[program:a]\ncommand = %(ENV_NOPE_X)s\n",
	                    "2: unknown or unset");
	expect_config_error("[supervisor]\nloglevel = loud\n"
	                    "[program:a]\ncommand = /bin/true\n",
	                    "2: bad loglevel 'loud'");
	expect_config_error("[program:a\ncommand = /bin/true\n",
	                    "1: syntax error");
	/* Nothing was started by any of them, and no socket is left. */
	assert_int_equal(tp_test_children(), 0);
	assert_int_equal(access(sock, F_OK), -1);
	char out[1024];
	assert_int_equal(troupe(out, sizeof(out), "supervise /no/such.ini"), 2);
	assert_non_null(strstr(out, "/no/such.ini"));
}

static void test_help_and_unknown(void **state)
{
	(void)state;
	const char *cmds[] = {"supervise", "status",  "tree",    "start",
	                      "stop",      "restart", "signal",  "reload",
	                      "logs",      "top",     "shutdown"};
	char out[4096], args[64];
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		snprintf(args, sizeof(args), "%s --help", cmds[i]);
		assert_int_equal(troupe(out, sizeof(out), args), 0);
		assert_non_null(strstr(out, "usage: troupe"));
	}
	assert_int_equal(troupe(out, sizeof(out), "--help"), 0);
	assert_int_equal(troupe(out, sizeof(out), "frobnicate"), 2);
	assert_non_null(strstr(out, "unknown command 'frobnicate'"));
	/* No daemon: a clear error and exit code 3. */
	assert_int_equal(troupe(out, sizeof(out), "status"), 3);
	assert_non_null(strstr(out, "no daemon"));
}

static void test_cli_end_to_end(void **state)
{
	(void)state;
	char out[16384];
	write_cfg(three);
	pid_t d = daemon_start();
	struct stat st;
	assert_int_equal(stat(sock, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* status, --json */
	assert_int_equal(troupe(out, sizeof(out), "status"), 0);
	json_object *root, *c = status_json(&root, "b");
	assert_non_null(c);
	assert_string_equal(jstr(c, "state"), "running");
	assert_string_equal(jstr(c, "parent"), "g");
	assert_true(jint(c, "pid") > 0);
	assert_int_equal(jint(root, "daemon_pid"), d);
	json_object_put(root);
	assert_int_equal(troupe(out, sizeof(out), "status a c"), 0);
	assert_int_equal(troupe(out, sizeof(out), "status nope"), 2);
	assert_non_null(strstr(out, "nope: no such program"));
	/* tree */
	assert_int_equal(troupe(out, sizeof(out), "tree"), 0);
	assert_non_null(strstr(out, "g [rest_for_one]"));
	assert_non_null(strstr(out, "   └─ b"));
	/* stop / start / restart */
	assert_int_equal(troupe(out, sizeof(out), "stop c"), 0);
	assert_int_equal(troupe(out, sizeof(out), "status"), 1);
	assert_int_equal(pid_of("c"), 0);
	assert_int_equal(troupe(out, sizeof(out), "start c"), 0);
	assert_true(pid_of("c") > 0);
	int a = pid_of("a");
	assert_int_equal(troupe(out, sizeof(out), "restart a"), 0);
	assert_true(pid_of("a") > 0 && pid_of("a") != a);
	assert_int_equal(troupe(out, sizeof(out), "stop ghost"), 2);
	assert_non_null(strstr(out, "ghost: no such program"));
	assert_int_equal(troupe(out, sizeof(out), "stop"), 2);
	/* kill -9 of a permanent child: restarted */
	int b = pid_of("b");
	kill(b, SIGKILL);
	int64_t end = now_ms() + 10000;
	while ((pid_of("b") == 0 || pid_of("b") == b) && now_ms() < end)
		nap(10);
	assert_true(pid_of("b") != b && pid_of("b") > 0);
	/* signal: c is transient and exits 0 on TERM: stays stopped */
	assert_int_equal(troupe(out, sizeof(out), "signal TERM c"), 0);
	end = now_ms() + 10000;
	while (pid_of("c") != 0 && now_ms() < end)
		nap(10);
	assert_int_equal(pid_of("c"), 0);
	assert_int_equal(troupe(out, sizeof(out), "signal BOGUS c"), 2);
	/* logs: a child's stdout lines are its records in the logging
	 * actor's file, and `logs NAME` shows that child's only. */
	assert_int_equal(troupe(out, sizeof(out), "logs a"), 0);
	assert_non_null(strstr(out, " INFO a["));
	assert_non_null(strstr(out, "child a up"));
	assert_null(strstr(out, "child b up"));
	assert_int_equal(troupe(out, sizeof(out), "logs b"), 0);
	assert_non_null(strstr(out, "child b up"));
	assert_null(strstr(out, "child a up"));
	assert_int_equal(troupe(out, sizeof(out), "logs"), 0);
	assert_non_null(strstr(out, "troupe["));
	assert_non_null(strstr(out, "a started (pid"));
	assert_non_null(strstr(out, "child b up"));
	/* The kill -9 of b above is an unrequested death, at ERROR, named
	 * with b's group and the signal's name. */
	assert_non_null(strstr(out, "g:b killed by SIGKILL"));
	assert_non_null(strstr(out, "ERROR troupe["));
	assert_int_equal(troupe(out, sizeof(out), "logs nope"), 2);
	/* top, one screen */
	assert_int_equal(troupe(out, sizeof(out), "top -n 1"), 0);
	assert_non_null(strstr(out, "MAILBOX"));
	/* stop all / start all */
	assert_int_equal(troupe(out, sizeof(out), "stop all"), 0);
	assert_int_equal(pid_of("a"), 0);
	assert_int_equal(troupe(out, sizeof(out), "start all"), 0);
	assert_true(pid_of("a") > 0 && pid_of("b") > 0 && pid_of("c") > 0);
	/* shutdown: reverse order */
	unlink(marks);
	assert_int_equal(troupe(out, sizeof(out), "shutdown"), 0);
	assert_int_equal(daemon_wait(d), 0);
	FILE *f = fopen(marks, "r");
	assert_non_null(f);
	size_t n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	fclose(f);
	assert_string_equal(out, "down c\ndown b\ndown a\n");
	assert_int_equal(access(sock, F_OK), -1);
}

/* Sends the control command cmd (one not offered by the CLI) to the
 * daemon; returns the reply's code. */
static int ctl_raw(const char *cmd)
{
	Troupe__SupRequest req = TROUPE__SUP_REQUEST__INIT;
	Troupe__Envelope env = TROUPE__ENVELOPE__INIT, *rep;
	nng_socket s;
	nng_msg *m;
	void *buf;
	size_t len;
	char url[320];
	req.command = (char *)cmd;
	env.body_case = TROUPE__ENVELOPE__BODY_SUP_REQUEST;
	env.sup_request = &req;
	TP_OK_OR_FAIL(tp__envelope_pack(&env, 1 << 20, &buf, &len));
	snprintf(url, sizeof(url), "ipc://%s", sock);
	assert_int_equal(nng_req0_open(&s), 0);
	nng_setopt_ms(s, NNG_OPT_RECVTIMEO, 10000);
	assert_int_equal(nng_dial(s, url, NULL, 0), 0);
	assert_int_equal(nng_send(s, buf, len, 0), 0);
	free(buf);
	assert_int_equal(nng_recvmsg(s, &m, 0), 0);
	TP_OK_OR_FAIL(tp__envelope_unpack(nng_msg_body(m), nng_msg_len(m),
	                                  1 << 20, &rep));
	nng_msg_free(m);
	nng_close(s);
	assert_int_equal(rep->body_case, TROUPE__ENVELOPE__BODY_SUP_REPLY);
	int code = rep->sup_reply->code;
	tp__envelope_free(rep);
	return code;
}

static int64_t log_restarts(void)
{
	json_object *root;
	status_json(&root, "a");
	int64_t n = jint(root, "log_restarts");
	json_object_put(root);
	return n;
}

/* The logging actor is supervised: stopped, it is restarted by the
 * daemon (counted in status --json), and the records of a child started
 * afterwards still reach `troupe logs`. */
static void test_logging_actor_restarted(void **state)
{
	(void)state;
	char out[16384], want[64], text[2048], file[300];
	/* The [supervisor] keys logfile and loglevel. */
	snprintf(file, sizeof(file), "%s/mine.log", dir);
	snprintf(text, sizeof(text),
	         "[supervisor]\nlogfile = %s\nloglevel = info\n%s", file,
	         three + strlen("[supervisor]\n"));
	write_cfg(text);
	pid_t d = daemon_start();
	json_object *root;
	status_json(&root, "a");
	assert_string_equal(jstr(root, "log_file"), file);
	json_object_put(root);
	assert_int_equal(log_restarts(), 0);
	assert_int_equal(ctl_raw("log-stop"), TP_OK);
	int64_t end = now_ms() + 10000;
	while (log_restarts() < 1 && now_ms() < end)
		nap(20);
	assert_int_equal(log_restarts(), 1);
	/* A record after the restart: a's new stdout line. */
	assert_int_equal(troupe(out, sizeof(out), "restart a"), 0);
	snprintf(want, sizeof(want), "a[%d] child a up", pid_of("a"));
	end = now_ms() + 10000;
	for (;;) {
		assert_int_equal(troupe(out, sizeof(out), "logs a"), 0);
		if (strstr(out, want) != NULL)
			break;
		if (now_ms() > end)
			fail_msg("no '%s' in: %s", want, out);
		nap(20);
	}
	assert_int_equal(troupe(out, sizeof(out), "logs"), 0);
	assert_non_null(strstr(out, "logging actor restarted"));
	/* `logs -f a` follows the file: a line written later shows up, and
	 * SIGINT ends it with status 0. */
	int fds[2];
	pid_t f;
	char *argv[] = {TROUPE_BIN, "--socket", sock, "logs", "-f", "a", NULL};
	posix_spawn_file_actions_t fa;
	assert_int_equal(pipe(fds), 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	assert_int_equal(posix_spawn(&f, TROUPE_BIN, &fa, NULL, argv, environ),
	                 0);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	assert_int_equal(troupe(out, sizeof(out), "restart a"), 0);
	snprintf(want, sizeof(want), "a[%d] child a up", pid_of("a"));
	size_t got = 0;
	end = now_ms() + 10000;
	out[0] = '\0';
	while (strstr(out, want) == NULL && now_ms() < end) {
		ssize_t k = read(fds[0], out + got, sizeof(out) - 1 - got);
		if (k > 0) {
			got += (size_t)k;
			out[got] = '\0';
		} else {
			nap(20);
		}
	}
	kill(f, SIGINT);
	int st;
	assert_int_equal(waitpid(f, &st, 0), f);
	close(fds[0]);
	if (strstr(out, want) == NULL)
		fail_msg("logs -f: no '%s' in: %s", want, out);
	assert_null(strstr(out, "child b up"));
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	kill(d, SIGTERM);
	assert_int_equal(daemon_wait(d), 0);
}

static void test_malformed_request_is_refused(void **state)
{
	(void)state;
	char out[4096];
	write_cfg(three);
	pid_t d = daemon_start();
	nng_socket s;
	nng_msg *m;
	char url[320];
	snprintf(url, sizeof(url), "ipc://%s", sock);
	assert_int_equal(nng_req0_open(&s), 0);
	nng_setopt_ms(s, NNG_OPT_RECVTIMEO, 10000);
	assert_int_equal(nng_dial(s, url, NULL, 0), 0);
	assert_int_equal(nng_send(s, "\xff\xff\xff garbage", 12, 0), 0);
	assert_int_equal(nng_recvmsg(s, &m, 0), 0);
	assert_true(nng_msg_len(m) > 0);
	nng_msg_free(m);
	nng_close(s);
	/* The daemon still works. */
	assert_int_equal(troupe(out, sizeof(out), "status"), 0);
	assert_int_equal(troupe(out, sizeof(out), "shutdown"), 0);
	assert_int_equal(daemon_wait(d), 0);
}

/* Another user cannot reach the daemon: the socket's directory is 0700
 * and the socket 0600 (the daemon also checks SO_PEERCRED on every
 * request, as a second line). */
static void test_other_user_is_refused(void **state)
{
	(void)state;
	char out[4096];
	write_cfg(three);
	pid_t d = daemon_start();
	if (geteuid() == 0) {
		pid_t c = fork();
		if (c == 0) {
			int fd = open("/dev/null", O_WRONLY);
			dup2(fd, 1);
			dup2(fd, 2);
			if (setgid(65534) != 0 || setuid(65534) != 0)
				_exit(99);
			execl(TROUPE_BIN, TROUPE_BIN, "--socket", sock,
			      "status", (char *)NULL);
			_exit(98);
		}
		int st;
		assert_int_equal(waitpid(c, &st, 0), c);
		assert_true(WIFEXITED(st));
		assert_true(WEXITSTATUS(st) == 1 || WEXITSTATUS(st) == 3);
	}
	assert_int_equal(troupe(out, sizeof(out), "status"), 0);
	assert_int_equal(troupe(out, sizeof(out), "shutdown"), 0);
	assert_int_equal(daemon_wait(d), 0);
}

/* An actor module under the daemon: `actor = URL` lets troupe top show
 * its message counters. */
static void test_actor_under_daemon(void **state)
{
	(void)state;
	char text[2048], out[8192];
	snprintf(text, sizeof(text),
	         "[program:counter]\ncommand = %s %s 3\nready = notify\n"
	         "actor = ipc://%s/counter.sock\n",
	         TP_ACTOR_HOST, TP_ACTOR_SO, dir);
	write_cfg(text);
	pid_t d = daemon_start();
	assert_int_equal(troupe(out, sizeof(out), "top -n 1"), 0);
	char *line = strstr(out, "counter");
	assert_non_null(line);
	/* NAME PID STATE UPTIME RESTARTS MAILBOX MSG_IN MSG_OUT */
	char name[32], st[16], up[16], mb[8], in[16], outs[16];
	int pid;
	unsigned restarts;
	assert_int_equal(sscanf(line, "%31s %d %15s %15s %u %7s %15s %15s",
	                        name, &pid, st, up, &restarts, mb, in, outs),
	                 8);
	assert_string_equal(st, "running");
	assert_string_equal(in, "0");
	assert_string_equal(outs, "0");
	json_object *root, *c = status_json(&root, "counter");
	assert_int_equal(jint(c, "msgs_in"), -1); /* plain status: not asked */
	json_object_put(root);
	kill(d, SIGTERM);
	assert_int_equal(daemon_wait(d), 0);
}

/* A tree that cannot start: the daemon says why, exits 1 and leaves
 * nothing (no child, no socket); --detach reports it the same way. */
static void test_start_failure_and_detach(void **state)
{
	(void)state;
	char out[4096], args[400];
	write_cfg("[program:a]\ncommand = %(ENV_TROUPE_CHILD)s a\n"
	          "ready = notify\n"
	          "[program:b]\ncommand = /nonexistent/prog\n");
	snprintf(args, sizeof(args), "supervise %s", cfg);
	assert_int_equal(troupe(out, sizeof(out), args), 1);
	assert_non_null(strstr(out, "did not start"));
	assert_int_equal(access(sock, F_OK), -1);
	snprintf(args, sizeof(args), "supervise %s --detach", cfg);
	assert_int_equal(troupe(out, sizeof(out), args), 1);
	assert_non_null(strstr(out, "did not start"));
	/* A good file, detached: returns once the tree is up. */
	write_cfg(three);
	assert_int_equal(troupe(out, sizeof(out), args), 0);
	assert_non_null(strstr(out, "ok: troupe daemon"));
	json_object *root, *c = status_json(&root, "c");
	int dpid = jint(root, "daemon_pid");
	assert_string_equal(jstr(c, "state"), "running");
	json_object_put(root);
	/* A second daemon on the same socket is refused. */
	assert_int_equal(troupe(out, sizeof(out), args), 1);
	assert_non_null(strstr(out, "already runs"));
	assert_int_equal(troupe(out, sizeof(out), "shutdown"), 0);
	int64_t end = now_ms() + 20000;
	char path[64], st = 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", dpid);
	for (;;) {
		FILE *f = fopen(path, "r");
		if (f == NULL)
			break;
		int ok = fscanf(f, "%*d (%*[^)]) %c", &st);
		fclose(f);
		if (ok == 1 && st == 'Z')
			break;
		assert_true(now_ms() < end);
		nap(10);
	}
}

static void test_reload(void **state)
{
	(void)state;
	char out[4096];
	write_cfg(three);
	pid_t d = daemon_start();
	int a = pid_of("a"), b = pid_of("b");
	/* c removed, a changed, new program x. */
	write_cfg("[supervisor]\nstrategy = one_for_one\nintensity = 5\n"
	          "period = 10000\n\n"
	          "[program:a]\ncommand = %(ENV_TROUPE_CHILD)s a --delay 1\n"
	          "ready = notify\n\n"
	          "[group:g]\nstrategy = rest_for_one\n\n"
	          "[program:b]\ncommand = %(ENV_TROUPE_CHILD)s b --mark "
	          "%(ENV_MARKS)s\nready = notify\ngroup = g\n\n"
	          "[program:x]\ncommand = %(ENV_TROUPE_CHILD)s x\n");
	assert_int_equal(troupe(out, sizeof(out), "reload"), 0);
	assert_non_null(strstr(out, "1 added, 1 removed, 1 changed"));
	assert_true(pid_of("a") > 0 && pid_of("a") != a);
	assert_int_equal(pid_of("b"), b);
	assert_true(pid_of("x") > 0);
	assert_int_equal(troupe(out, sizeof(out), "status c"), 2);
	/* A broken file is refused and changes nothing. */
	write_cfg("[program:a]\ncommand = /bin/true\nbogus = 1\n");
	assert_int_equal(troupe(out, sizeof(out), "reload"), 1);
	assert_non_null(strstr(out, ":3: unknown key"));
	assert_true(pid_of("x") > 0);
	kill(d, SIGTERM);
	assert_int_equal(daemon_wait(d), 0);
}

static void test_no_orphans_after_kill9_of_daemon(void **state)
{
	(void)state;
	write_cfg(three);
	pid_t d = daemon_start();
	int pids[3] = {pid_of("a"), pid_of("b"), pid_of("c")};
	kill(d, SIGKILL);
	waitpid(d, NULL, 0);
	for (int i = 0; i < 3; i++) {
		char path[64], st = 0;
		int64_t end = now_ms() + 10000;
		snprintf(path, sizeof(path), "/proc/%d/stat", pids[i]);
		for (;;) {
			FILE *f = fopen(path, "r");
			if (f == NULL)
				break;
			int ok = fscanf(f, "%*d (%*[^)]) %c", &st);
			fclose(f);
			if (ok == 1 && st == 'Z')
				break;
			if (now_ms() > end)
				fail_msg("orphan %d survived", pids[i]);
			nap(5);
		}
	}
	/* The daemon's stale socket does not block the next one. */
	d = daemon_start();
	kill(d, SIGTERM);
	assert_int_equal(daemon_wait(d), 0);
	/* The killed daemon's run directory is cleaned by the next run. */
}

static void test_escalation_stops_the_daemon(void **state)
{
	(void)state;
	write_cfg("[supervisor]\nintensity = 2\nperiod = 10000\n"
	          "[program:ok]\ncommand = %(ENV_TROUPE_CHILD)s ok --mark "
	          "%(ENV_MARKS)s\nready = notify\n"
	          "[program:bad]\ncommand = %(ENV_TROUPE_CHILD)s bad --exit 1 "
	          "--exit-after 30\nready = notify\n");
	/* The storm may be over before a status request could answer, so
	 * only the daemon's exit is waited for. */
	pid_t d = daemon_spawn();
	assert_int_equal(daemon_wait(d), 1);
	FILE *f = fopen(marks, "r");
	char buf[512] = {0};
	assert_non_null(f);
	(void)!fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	assert_non_null(strstr(buf, "down ok"));
}

static void test_prometheus_endpoint(void **state)
{
	(void)state;
	char text[2048], out[8192];
	int port = 20000 + getpid() % 20000;
	snprintf(text, sizeof(text),
	         "[supervisor]\nhttp = 127.0.0.1:%d\n"
	         "[program:a]\ncommand = %%(ENV_TROUPE_CHILD)s a\n"
	         "ready = notify\n",
	         port);
	write_cfg(text);
	pid_t d = daemon_start();
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons(port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	const char *req = "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n";
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	size_t n = 0;
	ssize_t k;
	while ((k = read(fd, out + n, sizeof(out) - 1 - n)) > 0)
		n += (size_t)k;
	out[n] = '\0';
	close(fd);
	assert_non_null(strstr(out, "200"));
	assert_non_null(
	    strstr(out, "troupe_child_up{program=\"a\",group=\"\"} 1"));
	assert_non_null(strstr(out, "troupe_child_restarts_total"));
	kill(d, SIGTERM);
	assert_int_equal(daemon_wait(d), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_config_errors_name_file_and_line, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_help_and_unknown, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_cli_end_to_end, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_logging_actor_restarted, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_request_is_refused,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_user_is_refused, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_actor_under_daemon, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_start_failure_and_detach,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_no_orphans_after_kill9_of_daemon, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_escalation_stops_the_daemon,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_prometheus_endpoint, setup,
	                                    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
