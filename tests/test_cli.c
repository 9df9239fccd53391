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

#include "cli.h"
#include "ctl_int.h"
#include "cli_util.h"
#include "runtime_int.h"
#include "wire.h"

extern char **environ;

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
	assert_string_equal(jstr(c, "group"), "g");
	assert_true(jint(c, "pid") > 0);
	assert_int_equal(jint(root, "daemon_pid"), d);
	json_object_put(root);
	assert_int_equal(troupe(out, sizeof(out), "status a c"), 0);
	assert_int_equal(troupe(out, sizeof(out), "status nope"), 2);
	assert_non_null(strstr(out, "nope: no such program"));
	/* tree */
	assert_int_equal(troupe(out, sizeof(out), "tree"), 0);
	assert_non_null(strstr(out, "g [rest_for_one]"));
	/* g is not the last child: its line goes on past b. */
	assert_non_null(strstr(out, "├─ g [rest_for_one]"));
	assert_non_null(strstr(out, "│  └─ b"));
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
	/* The kill -9 of b above: an unrequested death at ERROR, named with
	 * b's group and the signal. */
	assert_non_null(strstr(out, "g:b killed by SIGKILL"));
	assert_non_null(strstr(out, "ERROR troupe["));
	assert_int_equal(troupe(out, sizeof(out), "logs nope"), 2);
	/* top, one screen */
	assert_int_equal(troupe(out, sizeof(out), "top -n 1"), 0);
	assert_non_null(strstr(out, "RESTARTS"));
	/* the daemon's logging actor is in its tree, with its counters */
	assert_non_null(strstr(out, "MSG_IN"));
	assert_non_null(strstr(out, "logging"));
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
	Troupe__Envelope *rep;
	req.command = (char *)cmd;
	TP_OK_OR_FAIL(ctl_call(sock, &req, &rep, 10000));
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
	int fd;
	char *argv[] = {TROUPE_BIN, "--socket", sock, "logs", "-f", "a", NULL};
	pid_t f = troupe_spawn(argv, &fd);
	assert_int_equal(troupe(out, sizeof(out), "restart a"), 0);
	snprintf(want, sizeof(want), "a[%d] child a up", pid_of("a"));
	const char *wants[] = {want};
	int seen = read_until(fd, out, sizeof(out), wants, 1);
	int st = signal_and_reap(f, SIGINT);
	close(fd);
	if (!seen)
		fail_msg("logs -f: no '%s' in: %s", want, out);
	assert_null(strstr(out, "child b up"));
	assert_int_equal(st, 0);
	kill(d, SIGTERM);
	assert_int_equal(daemon_wait(d), 0);
}

static void test_malformed_request_is_refused(void **state)
{
	(void)state;
	char out[4096];
	unsigned char frame[16] = {12, 0, 0, 0};
	write_cfg(three);
	pid_t d = daemon_start();
	memcpy(frame + 4, "\xff\xff\xff garbage", 12);
	int fd = ctl_connect(sock);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, frame, sizeof(frame)), sizeof(frame));
	/* A TP_EDECODE reply, then the daemon hangs up. */
	Troupe__Envelope *rep = read_reply(fd);
	assert_int_equal(rep->sup_reply->code, TP_EDECODE);
	tp__envelope_free(rep);
	close(fd);
	/* The daemon still works. */
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
	/* NAME PID STATE UPTIME RESTARTS RSS CPU% MSG_IN MSG_OUT */
	char name[32], st[16], up[16], rss[16], cpu[16], in[16], outs[16];
	int pid;
	unsigned restarts;
	assert_non_null(strstr(out, "MSG_IN"));
	assert_int_equal(
	    sscanf(line, "%31s %d %15s %15s %u %15s %15s %15s %15s", name, &pid,
	           st, up, &restarts, rss, cpu, in, outs),
	    9);
	assert_string_equal(st, "running");
	assert_string_equal(in, "0");
	assert_string_equal(outs, "0");
	json_object *root, *c = status_json(&root, "counter");
	/* plain status: not asked, so null */
	json_object *mi;
	assert_true(json_object_object_get_ex(c, "msgs_in", &mi));
	assert_null(mi);
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

/* update NAME...: only the named programs and groups follow the file;
 * the others run on as they were, and reread still lists them. */
static void test_update_names(void **state)
{
	(void)state;
	char out[4096];
	write_cfg(three);
	pid_t d = daemon_start();
	int a = pid_of("a"), b = pid_of("b"), c = pid_of("c");
	/* a and b changed, c removed, x new, y new in g. */
	write_cfg("[supervisor]\nstrategy = one_for_one\nintensity = 5\n"
	          "period = 10000\n\n"
	          "[program:a]\ncommand = %(ENV_TROUPE_CHILD)s a --delay 1\n"
	          "ready = notify\n\n"
	          "[group:g]\nstrategy = rest_for_one\n\n"
	          "[program:b]\ncommand = %(ENV_TROUPE_CHILD)s b --delay 1\n"
	          "ready = notify\ngroup = g\n\n"
	          "[program:y]\ncommand = %(ENV_TROUPE_CHILD)s y\n"
	          "group = g\n\n"
	          "[program:x]\ncommand = %(ENV_TROUPE_CHILD)s x\n");
	/* An unknown name changes nothing. */
	assert_int_equal(troupe(out, sizeof(out), "update nosuch"), 2);
	assert_non_null(strstr(out, "nosuch: no such program or group"));
	assert_int_equal(pid_of("a"), a);
	/* update a: a alone. */
	assert_int_equal(troupe(out, sizeof(out), "update a"), 0);
	assert_non_null(strstr(out, "updated: 0 added, 0 removed, 1 changed"));
	assert_true(pid_of("a") > 0 && pid_of("a") != a);
	a = pid_of("a");
	assert_int_equal(pid_of("b"), b);
	assert_int_equal(pid_of("c"), c);
	assert_int_equal(troupe(out, sizeof(out), "status x"), 2);
	assert_int_equal(troupe(out, sizeof(out), "reread"), 0);
	assert_null(strstr(out, "a: changed"));
	assert_non_null(strstr(out, "b: changed"));
	assert_non_null(strstr(out, "c: disappeared"));
	assert_non_null(strstr(out, "x: available"));
	assert_non_null(strstr(out, "y: available"));
	/* update g: its programs, at any depth. */
	assert_int_equal(troupe(out, sizeof(out), "update g"), 0);
	assert_non_null(strstr(out, "updated: 1 added, 0 removed, 1 changed"));
	assert_true(pid_of("b") > 0 && pid_of("b") != b);
	assert_true(pid_of("y") > 0);
	assert_int_equal(pid_of("a"), a);
	assert_int_equal(pid_of("c"), c);
	assert_int_equal(troupe(out, sizeof(out), "status x"), 2);
	/* update c x: c goes, x comes; then nothing is left to do. */
	assert_int_equal(troupe(out, sizeof(out), "update c x"), 0);
	assert_non_null(strstr(out, "updated: 1 added, 1 removed, 0 changed"));
	assert_int_equal(troupe(out, sizeof(out), "status c"), 2);
	assert_true(pid_of("x") > 0);
	assert_int_equal(pid_of("a"), a);
	assert_int_equal(troupe(out, sizeof(out), "reread"), 0);
	assert_non_null(strstr(out, "no config updates"));
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

/* GET /metrics from 127.0.0.1:port into out. */
static void scrape(unsigned port, char *out, size_t len)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	const char *req = "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n";
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	size_t n = 0;
	ssize_t k;
	while ((k = read(fd, out + n, len - 1 - n)) > 0)
		n += (size_t)k;
	out[n] = '\0';
	close(fd);
}

static void test_prometheus_endpoint(void **state)
{
	(void)state;
	static char out[65536];
	const char *const said[] = {"metrics at http://127.0.0.1:",
	                            "/metrics\n"};
	unsigned port = 0;
	int efd;
	/* Port 0: the daemon picks a free port and says which on stderr
	 * once the endpoint listens. */
	write_cfg("[supervisor]\nhttp = 127.0.0.1:0\n"
	          "[program:a]\ncommand = %(ENV_TROUPE_CHILD)s a\n"
	          "ready = notify\n"
	          "[group:g]\n"
	          "[program:p]\ncommand = %(ENV_TROUPE_CHILD)s p --pool 2\n"
	          "ready = notify\ngroup = g\n");
	pid_t d = daemon_spawn_stderr(&efd);
	assert_true(read_until(efd, out, sizeof(out), said, 2));
	assert_int_equal(
	    sscanf(strstr(out, said[0]) + strlen(said[0]), "%u", &port), 1);
	assert_true(port > 0 && port < 65536);
	/* p's pool of two: its busy worker shows once p's task runs. */
	const char *busy = "troupe_pool_workers_busy{program=\"p\",group=\"g\","
	                   "pool=\"pool-1\"} 1\n";
	for (int64_t end = now_ms() + 10000;;) {
		scrape(port, out, sizeof(out));
		if (strstr(out, busy) != NULL || now_ms() > end)
			break;
		nap(50);
	}
	assert_non_null(strstr(out, "200"));
	assert_non_null(strstr(out, busy));
	assert_non_null(strstr(out, "troupe_pool_workers{program=\"p\","
	                            "group=\"g\",pool=\"pool-1\"} 2\n"));
	assert_non_null(strstr(out, "troupe_pool_tasks_submitted_total{"
	                            "program=\"p\",group=\"g\","
	                            "pool=\"pool-1\"} 1\n"));
	assert_non_null(strstr(out,
	                       "troupe_pool_worker_tasks_total{"
	                       "program=\"p\",group=\"g\","
	                       "pool=\"pool-1\",worker=\"PoolWorker-2\"} 0"));
	/* a is no troupe program: no pool series of it */
	assert_null(strstr(out, "{program=\"a\",group=\"\",pool="));
	assert_non_null(
	    strstr(out, "troupe_child_up{program=\"a\",group=\"\"} 1"));
	assert_non_null(strstr(out, "troupe_child_restarts_total"));
	/* p joined the daemon's run, and is a troupe program of its own:
	 * `troupe ps` lists it, `tree -p` shows its pool. */
	char args[64], pidtxt[32];
	int ppid = pid_of("p");
	snprintf(pidtxt, sizeof(pidtxt), "\"pid\":%d,", ppid);
	assert_int_equal(troupe_raw(out, sizeof(out), "ps --json"), 0);
	for (char *sp; (sp = strstr(out, "\"pid\": ")) != NULL;)
		memmove(sp + 6, sp + 7, strlen(sp + 7) + 1);
	assert_non_null(strstr(out, pidtxt));
	snprintf(args, sizeof(args), "tree -p %d", ppid);
	assert_int_equal(troupe_raw(out, sizeof(out), args), 0);
	assert_non_null(strstr(out, "pool-1 [simple_one_for_one]"));
	assert_non_null(strstr(out, ", running busy for "));
	kill(d, SIGTERM);
	assert_int_equal(daemon_wait(d), 0);
	close(efd);
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
	    cmocka_unit_test_setup_teardown(test_actor_under_daemon, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_start_failure_and_detach,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_update_names, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_no_orphans_after_kill9_of_daemon, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_escalation_stops_the_daemon,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_prometheus_endpoint, setup,
	                                    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
