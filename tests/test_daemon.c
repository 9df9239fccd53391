/*
 * test_daemon.c - the operator's daemon without its CLI: supervisord
 * config files that run unchanged (every [program:x] key, groups,
 * includes), every error of a file in one run, systemd's notify protocol
 * on a datagram socket the test owns, children's environment without the
 * service manager's variables, honest event lines, and no process of any
 * program left 2 s after kill -9 of the daemon.
 *
 * Programs are small sh scripts that write what they see into files, so
 * the checks read files rather than the CLI's output.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime_int.h"
#include "testutil.h"

extern char **environ;

static char dir[256], sock[300], cfg[300], out_path[300];
static pid_t daemon_pid;

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* The whole of a file ("" if missing) into buf. */
static char *slurp(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	buf[0] = '\0';
	if (f == NULL)
		return buf;
	size_t n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void path_of(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

/* Waits (bounded) until the file exists and is not empty. */
static void wait_file(const char *name)
{
	char p[400];
	struct stat st;
	path_of(p, sizeof(p), name);
	for (int64_t end = tp_test_now_ms() + 20000;
	     stat(p, &st) != 0 || st.st_size == 0;) {
		if (tp_test_now_ms() > end)
			fail_msg("%s never appeared", p);
		tp_test_nap(10);
	}
}

/* Waits (bounded) until the daemon's output holds text. */
static void wait_output(const char *text)
{
	static char buf[1 << 16];
	for (int64_t end = tp_test_now_ms() + 20000;
	     strstr(slurp(out_path, buf, sizeof(buf)), text) == NULL;) {
		if (tp_test_now_ms() > end)
			fail_msg("no '%s' in the daemon's output:\n%s", text,
			         buf);
		tp_test_nap(10);
	}
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "%s", tp_test_base());
	mkdir(dir, 0700);
	snprintf(sock, sizeof(sock), "%s/ctl.sock", dir);
	snprintf(cfg, sizeof(cfg), "%s/supervisord.conf", dir);
	snprintf(out_path, sizeof(out_path), "%s/daemon.out", dir);
	setenv("XDG_RUNTIME_DIR", dir, 1);
	setenv("XDG_STATE_HOME", dir, 1);
	setenv("T", dir, 1);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("JOURNAL_STREAM");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (daemon_pid > 0) {
		kill(daemon_pid, SIGKILL);
		waitpid(daemon_pid, NULL, 0);
		daemon_pid = 0;
	}
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	/* The reaper kills what the daemon left; give it its 2 s. */
	for (int64_t end = tp_test_now_ms() + 5000;
	     tp_test_children() != 0 && tp_test_now_ms() < end;)
		tp_test_nap(10);
	assert_int_equal(tp_test_children(), 0);
	tp__rmtree(dir);
	return 0;
}

/* `troupe supervise cfg` in the foreground, its output in daemon.out. */
static pid_t daemon_spawn(void)
{
	char *argv[] = {TROUPE_BIN, "supervise", cfg, "--socket", sock, NULL};
	posix_spawn_file_actions_t fa;
	pid_t pid;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, out_path,
	                                 O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	assert_int_equal(
	    posix_spawn(&pid, TROUPE_BIN, &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	daemon_pid = pid;
	return pid;
}

/* Waits (bounded) for the daemon to end by itself: its exit status. */
static int daemon_exit(const char *what)
{
	int st;
	int64_t end = tp_test_now_ms() + 20000;
	while (waitpid(daemon_pid, &st, WNOHANG) == 0) {
		if (tp_test_now_ms() > end)
			fail_msg("the daemon did not %s", what);
		tp_test_nap(10);
	}
	daemon_pid = 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int daemon_stop(void)
{
	assert_int_equal(kill(daemon_pid, SIGTERM), 0);
	return daemon_exit("stop");
}

/* Runs `troupe supervise cfg` to its end; its exit code, output in buf. */
static int supervise_once(char *buf, size_t len)
{
	daemon_spawn();
	int rv = daemon_exit("end");
	slurp(out_path, buf, len);
	return rv;
}

/* Waits (bounded) until the file holds text: the logging actor writes
 * its file on its own schedule. */
static void wait_in_file(const char *name, const char *text)
{
	static char buf[1 << 16];
	char p[400];
	path_of(p, sizeof(p), name);
	for (int64_t end = tp_test_now_ms() + 20000;
	     strstr(slurp(p, buf, sizeof(buf)), text) == NULL;) {
		if (tp_test_now_ms() > end)
			fail_msg("no '%s' in %s:\n%s", text, p, buf);
		tp_test_nap(10);
	}
}

/* Each of the NULL-terminated strings is in hay, in this order. */
static void expect_in_order(const char *hay, ...)
{
	va_list ap;
	const char *at = hay, *s;
	va_start(ap, hay);
	while ((s = va_arg(ap, const char *)) != NULL) {
		const char *found = strstr(at, s);
		if (found == NULL)
			fail_msg("no '%s' after the previous ones in:\n%s", s,
			         hay);
		at = found + strlen(s);
	}
	va_end(ap);
}

static void expect(const char *hay, const char *needle)
{
	if (strstr(hay, needle) == NULL)
		fail_msg("no '%s' in:\n%s", needle, hay);
}

static int read_int(const char *name)
{
	char p[400], buf[64];
	path_of(p, sizeof(p), name);
	return atoi(slurp(p, buf, sizeof(buf)));
}

/* A supervisord.conf as an operator has it, with every [program:x] key,
 * a group, an include, and supervisord's other sections: it runs as is. */
static const char *real_conf =
    "; supervisord.conf\n"
    "[unix_http_server]\n"
    "file = %(here)s/other.sock   ; chmod and chown are accepted\n"
    "chmod = 0700\n\n"
    "[supervisord]\n"
    "logfile = %(here)s/supervisord.log\n"
    "logfile_maxbytes = 50MB\n"
    "logfile_backups = 10\n"
    "loglevel = info\n"
    "pidfile = %(here)s/supervisord.pid\n"
    "nodaemon = true\n"
    "minfds = 1024\n"
    "minprocs = 200\n"
    "environment = GLOBAL=\"g,1\"\n\n"
    "[rpcinterface:supervisor]\n"
    "supervisor.rpcinterface_factory = "
    "supervisor.rpcinterface:make_main_rpcinterface\n\n"
    "[supervisorctl]\n"
    "serverurl = unix://%(here)s/other.sock\n\n"
    "[include]\n"
    "files = conf.d/*.conf\n\n"
    "[program:web]\n"
    "command = /bin/sh -c 'echo \"$A|$B|$GLOBAL|$(umask)|$(pwd)|$LONG\" > "
    "%(ENV_T)s/%(process_num)02d.web; exec sleep 1000'\n"
    "process_name = %(program_name)s_%(process_num)02d\n"
    "numprocs = 2\n"
    "numprocs_start = 0\n"
    "directory = /tmp\n"
    "umask = 027\n"
    "priority = 10\n"
    "autostart = true\n"
    "autorestart = unexpected\n"
    "exitcodes = 0,2\n"
    "startsecs = 0\n"
    "startretries = 3\n"
    "stopsignal = TERM\n"
    "stopwaitsecs = 5\n"
    "stopasgroup = true\n"
    "killasgroup = true\n"
    "user = %(ENV_TEST_USER)s\n"
    "redirect_stderr = false\n"
    "stdout_logfile = %(here)s/%(program_name)s-%(process_num)s.out\n"
    "stdout_logfile_maxbytes = 1MB\n"
    "stdout_logfile_backups = 2\n"
    "stderr_logfile = %(here)s/%(process_num)s.err\n"
    "stderr_logfile_maxbytes = 0\n"
    "stderr_logfile_backups = 0\n"
    "stdout_capture_maxbytes = 0\n"
    "stdout_events_enabled = false\n"
    "stderr_events_enabled = false\n"
    "serverurl = AUTO\n"
    "environment = A=\"x,y\",B=plain,\n"
    "    LONG=\"%(ENV_LONG)s\"\n\n"
    "[program:chatty]\n"
    "command = /bin/sh -c 'i=0; while [ $i -lt 60 ]; do echo "
    "0123456789012345678901234567890123456789012345678; i=$((i+1)); "
    "done; echo oops >&2; echo done > %(ENV_T)s/chatty.done; "
    "exec sleep 1000'\n"
    "stdout_logfile = %(here)s/chatty.out\n"
    "stdout_logfile_maxbytes = 1KB\n"
    "stdout_logfile_backups = 2\n"
    "stderr_logfile = %(here)s/chatty.err\n"
    "priority = 5\n\n"
    "[program:lazy]\n"
    "command = /bin/sh -c 'echo ran > %(ENV_T)s/lazy.ran; exec sleep 1000'\n"
    "autostart = false\n\n"
    "[group:site]\n"
    "programs = web,chatty\n"
    "priority = 1\n";

static void test_supervisord_conf_runs_unchanged(void **state)
{
	(void)state;
	char p[400], buf[8192], longv[301];
	memset(longv, 'L', 300);
	longv[300] = '\0';
	setenv("LONG", longv, 1); /* a line far over inih's 200 bytes */
	char user[64];
	snprintf(user, sizeof(user), "%d", (int)geteuid());
	setenv("TEST_USER", user, 1);
	write_file(cfg, real_conf);
	path_of(p, sizeof(p), "conf.d");
	mkdir(p, 0700);
	path_of(p, sizeof(p), "conf.d/extra.conf");
	write_file(p, "[program:extra]\n"
	              "command = /bin/sh -c 'echo $$ > "
	              "%(here)s/../extra.pid; exec sleep 1000'\n");
	daemon_spawn();
	wait_output("ok: troupe daemon");
	wait_file("00.web");
	wait_file("01.web");
	wait_file("chatty.done");
	wait_file("extra.pid");
	/* environment with supervisord's quoting, [supervisord]
	 * environment, umask, directory, a value over 200 bytes */
	char want[512];
	snprintf(want, sizeof(want), "x,y|plain|g,1|0027|/tmp|%s\n", longv);
	path_of(p, sizeof(p), "00.web");
	assert_string_equal(slurp(p, buf, sizeof(buf)), want);
	/* stdout rotated at 1 KiB into chatty.out.1, stderr apart */
	path_of(p, sizeof(p), "chatty.out.1");
	assert_int_equal(access(p, F_OK), 0);
	path_of(p, sizeof(p), "chatty.err");
	for (int64_t end = tp_test_now_ms() + 20000;
	     strstr(slurp(p, buf, sizeof(buf)), "oops") == NULL;) {
		if (tp_test_now_ms() > end)
			fail_msg("no oops in chatty.err");
		tp_test_nap(10);
	}
	path_of(p, sizeof(p), "chatty.out");
	assert_null(strstr(slurp(p, buf, sizeof(buf)), "oops"));
	path_of(p, sizeof(p), "web-0.out");
	assert_int_equal(access(p, F_OK), 0);
	path_of(p, sizeof(p), "1.err");
	assert_int_equal(access(p, F_OK), 0);
	/* autostart = false: not started */
	path_of(p, sizeof(p), "lazy.ran");
	assert_int_equal(access(p, F_OK), -1);
	/* priority: the group (1) first, in it chatty (5) before web (10),
	 * then the rest; names carry the group */
	expect_in_order(slurp(out_path, buf, sizeof(buf)),
	                "site:chatty started", "site:web_00 started",
	                "site:web_01 started", " extra started", NULL);
	/* the supervisord pidfile, the log file */
	assert_int_equal(read_int("supervisord.pid"), (int)daemon_pid);
	wait_in_file("supervisord.log", "site:web_00 started");
	assert_int_equal(daemon_stop(), 0);
	path_of(p, sizeof(p), "supervisord.pid");
	assert_int_equal(access(p, F_OK), -1);
	unsetenv("LONG");
	unsetenv("TEST_USER");
}

static int lines_in(const char *name);

/* Copies tests/supervisord/NAME into the test's directory as the
 * config (its %(here)s is then that directory). */
static void use_real_file(const char *name)
{
	char src[600], buf[1 << 14];
	snprintf(src, sizeof(src), "%s/%s", TP_SUPERVISORD_DIR, name);
	slurp(src, buf, sizeof(buf));
	assert_true(strlen(buf) > 100);
	write_file(cfg, buf);
}

static void test_real_files_run_unchanged(void **state)
{
	(void)state;
	char p[400], buf[1 << 14];
	/* echo_supervisord_conf's sample, its program and group enabled */
	use_real_file("sample.conf");
	daemon_spawn();
	wait_output("ok: troupe daemon");
	wait_file("theprogramname_0.pid");
	wait_file("theprogramname_1.pid");
	path_of(p, sizeof(p), "theprogramname_0.log");
	assert_int_equal(access(p, F_OK), 0);
	assert_int_equal(read_int("supervisord.pid"), (int)daemon_pid);
	assert_int_equal(daemon_stop(), 0);
	slurp(out_path, buf, sizeof(buf));
	expect(buf, "thegroupname:theprogramname_1 stopped by SIGQUIT");
	/* a Django site: web, 3 celery workers, beat, by priority */
	use_real_file("celery.conf");
	daemon_spawn();
	wait_output("ok: troupe daemon");
	wait_file("web.env");
	wait_file("beat");
	path_of(p, sizeof(p), "web.env");
	assert_string_equal(slurp(p, buf, sizeof(buf)),
	                    "site.settings.production C.UTF-8\n");
	/* numprocs_start = 1: process_num 1, 2, 3 (in any order) */
	path_of(p, sizeof(p), "workers");
	for (int64_t end = tp_test_now_ms() + 20000;
	     lines_in("workers") < 3 ||
	     !strstr(slurp(p, buf, sizeof(buf)), "1\n") ||
	     !strstr(buf, "2\n") || !strstr(buf, "3\n");) {
		if (tp_test_now_ms() > end)
			fail_msg("workers: '%s'", buf);
		tp_test_nap(10);
	}
	path_of(p, sizeof(p), "worker-2.err");
	assert_int_equal(access(p, F_OK), 0);
	expect_in_order(slurp(out_path, buf, sizeof(buf)), "site:web started",
	                "site:worker-3 started", "site:beat started", NULL);
	assert_int_equal(daemon_stop(), 0);
}

static void test_every_error_in_one_run(void **state)
{
	(void)state;
	char buf[8192], name[80];
	memset(name, 'n', 65);
	name[65] = '\0';
	char text[4096];
	snprintf(text, sizeof(text),
	         "[supervisord]\n"                       /* 1 */
	         "loglevel = chatty\n"                   /* 2 */
	         "[unix_http_server]\n"                  /* 3 */
	         "file = /tmp/%0200d.sock\n"             /* 4 */
	         "[program:web]\n"                       /* 5 */
	         "command = /bin/true\n"                 /* 6 */
	         "autorestart = maybe\n"                 /* 7 */
	         "startsecs = nan\n"                     /* 8 */
	         "stopwaitsec = 3\n"                     /* 9 */
	         "environment = A=\"x,y\",B=un closed\n" /* 10 */
	         "[program:%s]\n"                        /* 11 */
	         "command = /bin/true\n"                 /* 12 */
	         "[program:w2]\n"                        /* 13 */
	         "command = /bin/true\n"                 /* 14 */
	         "numprocs = 2\n"                        /* 15 */
	         "[group:g]\n"                           /* 16 */
	         "strategy = sometimes\n",               /* 17 */
	         0, name);
	write_file(cfg, text);
	assert_int_equal(supervise_once(buf, sizeof(buf)), 2);
	char want[600];
	const char *lines[] = {
	    ":2: bad loglevel 'chatty' (allowed: critical, error, warn",
	    ":4: file: the socket path is 210 bytes, over the Unix limit",
	    ":7: bad autorestart 'maybe' (allowed: true, false, unexpected",
	    ":8: bad startsecs 'nan'",
	    ":9: unknown key 'stopwaitsec' in [program:web] (did you mean "
	    "'stopwaitsecs'?)",
	    ":10: bad environment: a blank inside a value must be quoted",
	    ":11: bad program name 'nnnnn",
	    "it is 65 bytes",
	    ":13: process_name '%(program_name)s' must contain "
	    "%(process_num)s",
	    ":17: bad strategy 'sometimes' (allowed: one_for_one"};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		snprintf(want, sizeof(want), "%s", lines[i]);
		expect(buf, want);
	}
	/* nothing started, no socket */
	assert_int_equal(access(sock, F_OK), -1);
	/* a socket path over the limit from the command line */
	char cmd[1024], longsock[200];
	memset(longsock, 's', 150);
	longsock[150] = '\0';
	write_file(cfg, "[program:a]\ncommand = /bin/true\n");
	snprintf(cmd, sizeof(cmd), "%s supervise %s --socket %s/%s 2>&1",
	         TROUPE_BIN, cfg, dir, longsock);
	FILE *f = popen(cmd, "r");
	assert_non_null(f);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	int st = pclose(f);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 2);
	expect(buf, "over the Unix limit of 107");
}

/* Receives datagrams on fd until one holds want (bounded); returns it. */
static void recv_until(int fd, const char *want, char *msg, size_t len)
{
	for (int64_t end = tp_test_now_ms() + 20000;;) {
		ssize_t n = recv(fd, msg, len - 1, MSG_DONTWAIT);
		if (n > 0) {
			msg[n] = '\0';
			if (strstr(msg, want) != NULL)
				return;
			continue;
		}
		if (tp_test_now_ms() > end)
			fail_msg("no %s from the daemon", want);
		tp_test_nap(5);
	}
}

static void test_systemd_notify(void **state)
{
	(void)state;
	char p[400], buf[8192], msg[1024];
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	char np[400];
	path_of(np, sizeof(np), "notify");
	assert_true(strlen(np) < sizeof(a.sun_path));
	memcpy(a.sun_path, np, strlen(np) + 1);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	setenv("NOTIFY_SOCKET", a.sun_path, 1);
	setenv("WATCHDOG_USEC", "400000", 1);
	write_file(cfg, "[program:envdump]\n"
	                "command = /bin/sh -c 'env > %(ENV_T)s/env.txt; "
	                "exec sleep 1000'\n");
	daemon_spawn();
	recv_until(fd, "READY=1", msg, sizeof(msg));
	char mainpid[32];
	snprintf(mainpid, sizeof(mainpid), "MAINPID=%d", (int)daemon_pid);
	expect(msg, mainpid);
	wait_file("env.txt");
	/* The program sees none of the service manager's variables. */
	path_of(p, sizeof(p), "env.txt");
	slurp(p, buf, sizeof(buf));
	assert_null(strstr(buf, "NOTIFY_SOCKET="));
	assert_null(strstr(buf, "WATCHDOG_USEC="));
	assert_null(strstr(buf, "WATCHDOG_PID="));
	expect(buf, "T=");
	/* WATCHDOG=1 at half the period: two within one period. */
	int64_t t0 = tp_test_now_ms();
	recv_until(fd, "WATCHDOG=1", msg, sizeof(msg));
	recv_until(fd, "WATCHDOG=1", msg, sizeof(msg));
	assert_true(tp_test_now_ms() - t0 <
	            2000); /* bounded, not a timing claim */
	/* A reload: RELOADING=1, then READY=1. */
	assert_int_equal(kill(daemon_pid, SIGHUP), 0);
	recv_until(fd, "RELOADING=1", msg, sizeof(msg));
	expect(msg, "MONOTONIC_USEC=");
	recv_until(fd, "READY=1", msg, sizeof(msg));
	/* The stop: STOPPING=1. */
	assert_int_equal(kill(daemon_pid, SIGTERM), 0);
	recv_until(fd, "STOPPING=1", msg, sizeof(msg));
	assert_int_equal(daemon_exit("stop"), 0);
	close(fd);
	unlink(a.sun_path);
}

/* The pids of the processes whose process group is pgid. */
static int group_members(int pgid)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		char path[300], buf[1024];
		int pid = atoi(e->d_name), grp = 0;
		char st = 0;
		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		slurp(path, buf, sizeof(buf));
		char *r = strrchr(buf, ')');
		if (r != NULL && sscanf(r + 2, "%c %*d %d", &st, &grp) == 2 &&
		    grp == pgid && st != 'Z')
			n++;
	}
	closedir(d);
	return n;
}

static int reaper_of(pid_t daemon)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int found = 0;
	while (d != NULL && (e = readdir(d)) != NULL) {
		char path[300], buf[1024];
		int pid = atoi(e->d_name), ppid = 0;
		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		slurp(path, buf, sizeof(buf));
		char *r = strrchr(buf, ')');
		if (strstr(buf, "(troupe-reaper)") != NULL && r != NULL &&
		    sscanf(r + 2, "%*c %d", &ppid) == 1 && ppid == daemon)
			found = pid;
	}
	if (d != NULL)
		closedir(d);
	return found;
}

static void wait_group_gone(int pgid, int ms)
{
	for (int64_t end = tp_test_now_ms() + ms; group_members(pgid) != 0;) {
		if (tp_test_now_ms() > end)
			fail_msg("process group %d still has %d processes",
			         pgid, group_members(pgid));
		tp_test_nap(10);
	}
}

static const char *forking_conf =
    "[program:tree]\n"
    "command = /bin/sh -c 'echo $$ > %(ENV_T)s/tree.pid; "
    "sleep 1000 & sleep 1000 & wait'\n"
    "[program:other]\n"
    "command = /bin/sh -c 'echo $$ > %(ENV_T)s/other.pid; "
    "(sleep 1000 &); exec sleep 1000'\n";

static void test_no_program_survives_kill9(void **state)
{
	(void)state;
	char p[400];
	write_file(cfg, forking_conf);
	daemon_spawn();
	wait_output("ok: troupe daemon");
	wait_file("tree.pid");
	wait_file("other.pid");
	int g1 = read_int("tree.pid"), g2 = read_int("other.pid");
	for (int64_t end = tp_test_now_ms() + 20000;
	     group_members(g1) < 3 || group_members(g2) < 2;) {
		if (tp_test_now_ms() > end)
			fail_msg("the programs did not fork");
		tp_test_nap(10);
	}
	assert_int_equal(kill(daemon_pid, SIGKILL), 0);
	waitpid(daemon_pid, NULL, 0);
	daemon_pid = 0;
	/* the grandchildren too, within 2 s */
	wait_group_gone(g1, 2000);
	wait_group_gone(g2, 2000);
	/* The reaper's state file is gone with it. */
	snprintf(p, sizeof(p), "%s.groups", sock);
	for (int64_t end = tp_test_now_ms() + 2000; access(p, F_OK) == 0;) {
		if (tp_test_now_ms() > end)
			fail_msg("%s left behind", p);
		tp_test_nap(10);
	}
}

static void test_next_daemon_removes_leftovers(void **state)
{
	(void)state;
	char p[400];
	write_file(cfg, forking_conf);
	daemon_spawn();
	wait_output("ok: troupe daemon");
	wait_file("tree.pid");
	int g1 = read_int("tree.pid");
	for (int64_t end = tp_test_now_ms() + 20000; group_members(g1) < 3;) {
		if (tp_test_now_ms() > end)
			fail_msg("the program did not fork");
		tp_test_nap(10);
	}
	/* The reaper and the daemon both die: the grandchildren survive
	 * (reparented), listed in the state file. */
	int r = reaper_of(daemon_pid);
	assert_true(r > 0);
	assert_int_equal(kill(r, SIGKILL), 0);
	snprintf(p, sizeof(p), "%s.groups", sock);
	assert_int_equal(access(p, F_OK), 0);
	assert_int_equal(kill(daemon_pid, SIGKILL), 0);
	waitpid(daemon_pid, NULL, 0);
	daemon_pid = 0;
	for (int64_t end = tp_test_now_ms() + 5000; group_members(g1) >= 3;) {
		if (tp_test_now_ms() > end)
			break;
		tp_test_nap(10);
	}
	assert_true(group_members(g1) > 0); /* what a crash leaves */
	/* The next daemon on the same socket finds them and removes them. */
	path_of(p, sizeof(p), "tree.pid");
	unlink(p);
	write_file(cfg, "[program:quiet]\ncommand = /bin/sleep 1000\n");
	daemon_spawn();
	wait_output("killed 2 process groups left by a daemon that died");
	wait_group_gone(g1, 2000);
	assert_int_equal(daemon_stop(), 0);
}

static void test_honest_events(void **state)
{
	(void)state;
	char buf[1 << 16];
	write_file(cfg, "[supervisor]\nintensity = 100\n"
	                "[group:g]\n"
	                "[program:calm]\ngroup = g\n"
	                "command = /bin/sleep 1000\n"
	                "[program:stubborn]\n"
	                "command = /bin/sh -c 'trap \"\" TERM; echo x > "
	                "%(ENV_T)s/stubborn.up; while :; do sleep 1; done'\n"
	                "stopwaitsecs = 0.3\n"
	                "[program:segv]\n"
	                "command = /bin/sh -c 'while [ ! -e %(ENV_T)s/go ]; "
	                "do sleep 0.05; done; kill -SEGV $$'\n"
	                "autorestart = false\n");
	daemon_spawn();
	wait_output("ok: troupe daemon");
	wait_file("stubborn.up");
	char p[400];
	path_of(p, sizeof(p), "go");
	write_file(p, "go");
	wait_output("segv crashed: killed by SIGSEGV (Segmentation fault)");
	assert_int_equal(daemon_stop(), 0);
	slurp(out_path, buf, sizeof(buf));
	expect(buf, "g:calm stopped by SIGTERM (pid ");
	expect(buf, "stubborn did not stop in time after SIGTERM: killed with "
	            "SIGKILL (pid ");
	expect(buf, "crash report: program segv, signal 11");
	assert_null(strstr(buf, "pid 0"));
	assert_null(strstr(buf, "exited with -"));
	/* The daemon's log outlives it, under XDG_STATE_HOME. */
	wait_in_file("troupe/supervisord.log", "g:calm stopped by SIGTERM");
	wait_in_file("troupe/supervisord.log", "ERROR troupe[");
	wait_in_file("troupe/supervisord.log", "INFO troupe[");
}

static void test_journal_priority_prefixes(void **state)
{
	(void)state;
	char buf[8192], env[64];
	struct stat st;
	write_file(out_path, "");
	assert_int_equal(stat(out_path, &st), 0);
	snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev,
	         (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", env, 1);
	write_file(cfg, "[program:a]\n"
	                "command = /bin/sh -c 'env > %(ENV_T)s/env.txt; "
	                "exec sleep 1000'\n"
	                "[program:b]\ncommand = /bin/sh -c 'sleep 0.2; kill "
	                "-SEGV $$'\n"
	                "autorestart = false\n");
	daemon_spawn();
	unsetenv("JOURNAL_STREAM");
	wait_output("<3>troupe: b crashed: killed by SIGSEGV");
	wait_output("<6>troupe: a started (pid ");
	wait_file("env.txt");
	char p[400];
	path_of(p, sizeof(p), "env.txt");
	assert_null(strstr(slurp(p, buf, sizeof(buf)), "JOURNAL_STREAM="));
	assert_int_equal(daemon_stop(), 0);
}

static void test_failed_start_names_program_and_command(void **state)
{
	(void)state;
	char buf[8192];
	write_file(cfg, "[program:ok]\ncommand = /bin/sleep 1000\n"
	                "[program:broken]\n"
	                "command = /nonexistent/prog --flag\n");
	assert_int_equal(supervise_once(buf, sizeof(buf)), 1);
	expect(buf, "the tree did not start: broken could not start "
	            "'/nonexistent/prog --flag': ");
	expect(buf, "No such file or directory");
	expect(buf, "troupe: the log is ");
	/* and the log is still there to read, with `troupe logs -c FILE` */
	wait_in_file("troupe/supervisord.log", "broken could not start");
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "%s -c %s logs 2>&1", TROUPE_BIN, cfg);
	FILE *f = popen(cmd, "r");
	assert_non_null(f);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	int st = pclose(f);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("troupe -c FILE logs: %s", buf);
	expect(buf, "the daemon is gone; its log is ");
	expect(buf, "broken could not start '/nonexistent/prog --flag'");
}

static void test_backoff_and_significant(void **state)
{
	(void)state;
	char buf[1 << 16];
	write_file(cfg,
	           "[supervisor]\nintensity = 100\nperiod = 60000\n"
	           "auto_shutdown = any_significant\n"
	           "[program:flappy]\n"
	           "command = /bin/sh -c 'exit 3'\n"
	           "restart_delay = 100\nrestart_delay_max = 400\n"
	           "[program:job]\n"
	           "command = /bin/sh -c 'while [ ! -e %(ENV_T)s/done ]; do "
	           "sleep 0.05; done'\n"
	           "restart = transient\nsignificant = true\n");
	daemon_spawn();
	wait_output("flappy restarts in 0.4 s (backoff)");
	wait_output("flappy restarts in 0.4 s (backoff)\n");
	expect_in_order(slurp(out_path, buf, sizeof(buf)),
	                "flappy restarts in 0.1 s", "flappy restarts in 0.2 s",
	                "flappy restarts in 0.4 s", NULL);
	assert_null(strstr(buf, "restarts in 0.8 s")); /* the cap */
	/* The significant job ends normally: the daemon ends, status 0. */
	char p[400];
	path_of(p, sizeof(p), "done");
	write_file(p, "done");
	assert_int_equal(daemon_exit("end with its job"), 0);
	expect(slurp(out_path, buf, sizeof(buf)),
	       "job ended and is significant: the daemon shuts down");
}

static void test_user_switch(void **state)
{
	(void)state;
	struct passwd *pw = getpwnam("nobody");
	char buf[8192], want[32];
	if (geteuid() != 0 || pw == NULL) {
		/* as a plain user, another user is refused with its line */
		write_file(cfg, "[program:a]\ncommand = /bin/true\n"
		                "user = root\n");
		assert_int_equal(supervise_once(buf, sizeof(buf)), 2);
		expect(buf, ":3: user 'root': only a daemon run as root");
		return;
	}
	write_file(cfg, "[program:who]\n"
	                "command = /bin/sh -c 'id -u; id -g; exec sleep "
	                "1000'\n"
	                "user = nobody\n"
	                "stdout_logfile = %(here)s/who.out\n");
	daemon_spawn();
	wait_output("ok: troupe daemon");
	snprintf(want, sizeof(want), "%u\n%u\n", (unsigned)pw->pw_uid,
	         (unsigned)pw->pw_gid);
	wait_in_file("who.out", want);
	assert_int_equal(daemon_stop(), 0);
	write_file(cfg, "[program:a]\ncommand = /bin/true\n"
	                "user = no-such-user-here\n");
	assert_int_equal(supervise_once(buf, sizeof(buf)), 2);
	expect(buf, ":3: user 'no-such-user-here': no such user");
}

static int lines_in(const char *name)
{
	char p[400], buf[4096];
	int n = 0;
	path_of(p, sizeof(p), name);
	slurp(p, buf, sizeof(buf));
	for (char *c = buf; *c; c++)
		n += *c == '\n';
	return n;
}

static void test_simple_one_for_one_instances(void **state)
{
	(void)state;
	char buf[8192];
	write_file(cfg, "[group:pool]\nstrategy = one_for_one\ninstances = 3\n"
	                "[program:worker]\ngroup = pool\n"
	                "command = /bin/sleep 1000\n");
	assert_int_equal(supervise_once(buf, sizeof(buf)), 2);
	expect(buf, ":1: [group:pool]: instances needs strategy = "
	            "simple_one_for_one");
	write_file(cfg, "[group:pool]\nstrategy = simple_one_for_one\n"
	                "instances = 3\n"
	                "[program:worker]\ngroup = pool\n"
	                "command = /bin/sh -c 'echo $$ >> %(ENV_T)s/w.pids; "
	                "exec sleep 1000'\n");
	daemon_spawn();
	wait_output("ok: troupe daemon");
	/* the three were started before "ok" */
	slurp(out_path, buf, sizeof(buf));
	char *r3 = strstr(buf, "pool:worker-3 ready");
	assert_non_null(r3);
	assert_true(r3 < strstr(buf, "ok: troupe daemon"));
	for (int64_t end = tp_test_now_ms() + 20000; lines_in("w.pids") < 3;) {
		if (tp_test_now_ms() > end)
			fail_msg("the instances did not run");
		tp_test_nap(10);
	}
	assert_int_equal(daemon_stop(), 0);
}

/* GET /metrics from 127.0.0.1:port; the body into buf. */
static void scrape(int port, char *buf, size_t len)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	const char *req = "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n";
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	size_t n = 0;
	ssize_t k;
	while (n < len - 1 && (k = read(fd, buf + n, len - 1 - n)) > 0)
		n += (size_t)k;
	buf[n] = '\0';
	close(fd);
	expect(buf, " 200 ");
	char *body = strstr(buf, "\r\n\r\n");
	assert_non_null(body);
	memmove(buf, body + 4, strlen(body + 4) + 1);
}

static int name_ok(const char *n, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!(isalpha((unsigned char)n[i]) || n[i] == '_' ||
		      n[i] == ':' || (i > 0 && isdigit((unsigned char)n[i]))))
			return 0;
	return len > 0;
}

/* The text exposition format, line by line: HELP and TYPE before a
 * family's samples, one TYPE per family, names and labels well formed,
 * values numbers, counters named _total. */
static void check_exposition(const char *text)
{
	char families[64][128], types[64][16];
	int nf = 0;
	char *copy = strdup(text), *save = NULL;
	assert_non_null(copy);
	for (char *l = strtok_r(copy, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		char name[128], type[16];
		if (sscanf(l, "# TYPE %127s %15s", name, type) == 2) {
			for (int i = 0; i < nf; i++)
				if (strcmp(families[i], name) == 0)
					fail_msg("two TYPE lines for %s", name);
			assert_true(nf < 64);
			snprintf(families[nf], 128, "%s", name);
			snprintf(types[nf++], 16, "%s", type);
			if (strcmp(type, "counter") == 0 && strlen(name) > 6 &&
			    strcmp(name + strlen(name) - 6, "_total") != 0)
				fail_msg("counter %s is not named _total",
				         name);
			continue;
		}
		if (l[0] == '#') {
			assert_int_equal(strncmp(l, "# HELP ", 7), 0);
			continue;
		}
		size_t nl = strcspn(l, "{ ");
		if (!name_ok(l, nl))
			fail_msg("bad metric name in '%s'", l);
		int known = 0;
		for (int i = 0; i < nf; i++)
			known |= strlen(families[i]) == nl &&
			         strncmp(families[i], l, nl) == 0;
		if (!known)
			fail_msg("sample before its TYPE: '%s'", l);
		const char *v = l + nl;
		if (*v == '{') {
			/* label="value",... */
			v++;
			while (*v != '}') {
				size_t ln = strcspn(v, "=");
				if (!name_ok(v, ln) || v[ln + 1] != '"')
					fail_msg("bad label in '%s'", l);
				v = strchr(v + ln + 2, '"');
				assert_non_null(v);
				v++;
				if (*v == ',')
					v++;
				else if (*v != '}')
					fail_msg("bad labels in '%s'", l);
			}
			v++;
		}
		char *end;
		assert_int_equal(*v, ' ');
		strtod(v + 1, &end);
		if (end == v + 1 || *end != '\0')
			fail_msg("bad value in '%s'", l);
	}
	free(copy);
}

static double sample(const char *text, const char *series)
{
	const char *p = strstr(text, series);
	if (p == NULL)
		return -1;
	return strtod(p + strlen(series), NULL);
}

static void test_metrics_page(void **state)
{
	(void)state;
	char buf[8192];
	static char page[1 << 16];
	/* A host that is not loopback does not pass for one. */
	write_file(cfg, "[supervisor]\nhttp = 127.0.0.1@0.0.0.0:9\n"
	                "[program:a]\ncommand = /bin/sleep 1000\n");
	assert_int_equal(supervise_once(buf, sizeof(buf)), 2);
	expect(buf, ":2: bad http '127.0.0.1@0.0.0.0:9' (HOST:PORT with a "
	            "loopback host");
	write_file(cfg, "[supervisor]\nhttp = 127.0.0.1:0\nintensity = 1000\n"
	                "period = 1000\n"
	                "[group:g]\n"
	                "[program:busy]\ngroup = g\n"
	                "command = /bin/sh -c 'i=0; while [ $i -lt 20000 ]; "
	                "do i=$((i+1)); done; exit 3'\n"
	                "restart_delay = 50\n"
	                "[program:calm]\ncommand = /bin/sleep 1000\n");
	daemon_spawn();
	wait_output("metrics at http://127.0.0.1:");
	slurp(out_path, buf, sizeof(buf));
	int port = atoi(strstr(buf, "metrics at http://127.0.0.1:") + 28);
	assert_true(port > 0);
	double cpu = 0, exits = 0;
	for (int64_t end = tp_test_now_ms() + 20000; exits < 2;) {
		if (tp_test_now_ms() > end)
			fail_msg("busy never exited twice:\n%s", page);
		scrape(port, page, sizeof(page));
		check_exposition(page);
		double c = sample(page, "troupe_child_cpu_seconds_total{"
		                        "program=\"busy\",group=\"g\"} ");
		assert_true(c >= cpu); /* a counter: never back at a restart */
		cpu = c;
		exits =
		    sample(page, "troupe_child_exits_total{program=\"busy\","
		                 "group=\"g\",reason=\"error\"} ");
		tp_test_nap(20);
	}
	expect(page, "troupe_build_info{version=\"");
	expect(page, "troupe_child_start_time_seconds{program=\"calm\","
	             "group=\"\"} ");
	expect(page, "troupe_child_last_exit_code{program=\"busy\","
	             "group=\"g\"} 3");
	expect(page, "troupe_child_restarts_total{program=\"busy\"");
	expect(page, "troupe_log_dropped_total ");
	expect(page, "troupe_log_lost_total ");
	/* a group is a label, never a program of its own */
	assert_null(strstr(page, "program=\"g\""));
	/* the start time is since the epoch */
	double t = sample(page, "troupe_child_start_time_seconds{program="
	                        "\"calm\",group=\"\"} ");
	assert_true(t > (double)time(NULL) - 3600 &&
	            t < (double)time(NULL) + 60);
	assert_int_equal(daemon_stop(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_supervisord_conf_runs_unchanged, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_real_files_run_unchanged,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_every_error_in_one_run, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_systemd_notify, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_no_program_survives_kill9,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_next_daemon_removes_leftovers,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_honest_events, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_journal_priority_prefixes,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_failed_start_names_program_and_command, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_backoff_and_significant, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_user_switch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_simple_one_for_one_instances,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_metrics_page, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
