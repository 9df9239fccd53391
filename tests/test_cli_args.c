/*
 * test_cli_args.c - the troupe CLI's arguments and commands: bad input to
 * every option (a message, exit 2), options anywhere, -c FILE, names
 * (NAME, GROUP:NAME, GROUP:*, all), every signal name, status and tree of
 * nested groups (text and the --json schema), pid, reread/update/avail,
 * logs -n and several names, clear, shutdown waiting for the daemon.
 */
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_util.h"

extern char **environ;

static void expect(int code, const char *args, const char *want)
{
	char out[8192];
	int rv = troupe_raw(out, sizeof(out), args);
	if (rv != code || (want != NULL && strstr(out, want) == NULL))
		fail_msg("troupe %s: exit %d (want %d), '%s' wanted in: %s",
		         args, rv, code, want ? want : "", out);
}

static void test_bad_input_exits_2(void **state)
{
	(void)state;
	static const struct {
		const char *args, *want;
	} bad[] = {
	    {"status -x", "unknown option '-x'"},
	    {"--bogus status", "unknown option '--bogus'"},
	    {"status --socket", "missing value"},
	    {"logs -n", "missing value"},
	    {"logs -n abc a", "bad value 'abc'"},
	    {"logs -n -5 a", "bad value '-5'"},
	    {"logs -n 12x", "bad value '12x'"},
	    {"top --interval 0", "bad value '0'"},
	    {"top --interval 99999999999", "bad value"},
	    {"shutdown --timeout soon", "bad value 'soon'"},
	    {"top --json", "--json does not apply"},
	    {"status --follow", "--follow does not apply"},
	    {"tree -n 3", "-n does not apply"},
	    {"start --no-wait a", "--no-wait does not apply"},
	    {"signal", "usage: troupe signal"},
	    {"signal HUP", "usage: troupe signal"},
	    {"signal NOPE a", "bad signal 'NOPE'"},
	    {"signal SIGRTMIN+999 a", "bad signal"},
	    {"start", "usage: troupe start"},
	    {"stop", "usage: troupe stop"},
	    {"restart", "usage: troupe restart"},
	    {"clear", "usage: troupe clear"},
	    {"tree extra", "usage: troupe tree"},
	    {"reread extra", "usage: troupe reread"},
	    {"frobnicate", "unknown command 'frobnicate'"},
	    {"-c /no/such.ini status", "/no/such.ini"},
	    {"supervise", "usage: troupe supervise"},
	    {"", "usage: troupe"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect(2, bad[i].args, bad[i].want);
	expect(0, "--version", "troupe 0.");
	expect(0, "-V", "troupe 0.");
	expect(0, "--help", "GROUP:NAME");
	static const char *cmds[] = {
	    "supervise", "status", "tree",   "start",   "stop",   "restart",
	    "signal",    "pid",    "reread", "reload",  "update", "avail",
	    "logs",      "clear",  "top",    "shutdown"};
	char args[64];
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		snprintf(args, sizeof(args), "%s --help", cmds[i]);
		expect(0, args, "usage: troupe");
		snprintf(args, sizeof(args), "--help %s", cmds[i]);
		expect(0, args, "usage: troupe");
	}
}

/* a, group g (rest_for_one) holding group h (b) and b2, then c with its
 * own log file; the socket named in the file for -c. */
static void write_nested(const char *extra)
{
	char text[4096];
	snprintf(text, sizeof(text),
	         "[supervisor]\nsocket = %s\n\n"
	         "[program:a]\ncommand = %%(ENV_TROUPE_CHILD)s a\n"
	         "ready = notify\n\n"
	         "[group:g]\nstrategy = rest_for_one\n\n"
	         "[group:h]\nstrategy = one_for_all\nparent = g\n\n"
	         "[program:b]\ncommand = %%(ENV_TROUPE_CHILD)s b\n"
	         "ready = notify\ngroup = h\n\n"
	         "[program:b2]\ncommand = %%(ENV_TROUPE_CHILD)s b2\n"
	         "ready = notify\ngroup = g\n\n"
	         "[program:c]\ncommand = %%(ENV_TROUPE_CHILD)s c\n"
	         "ready = notify\nlog = %s/c.log\n%s",
	         sock, dir, extra);
	write_cfg(text);
}

static void test_options_anywhere_and_names(void **state)
{
	(void)state;
	char out[16384], args[1024];
	write_nested("");
	pid_t d = daemon_start();
	/* Options after the command, -c FILE instead of --socket. */
	snprintf(args, sizeof(args), "status --socket %s", sock);
	expect(0, args, "b2");
	snprintf(args, sizeof(args), "status a --socket=%s", sock);
	expect(0, args, "a ");
	snprintf(args, sizeof(args), "status -c %s", cfg);
	expect(0, args, "b2");
	snprintf(args, sizeof(args), "-c %s tree", cfg);
	expect(0, args, "b2");
	/* Signals on groups and all, by any name glibc knows. */
	int a = pid_of("a"), b = pid_of("b");
	assert_int_equal(troupe(out, sizeof(out), "signal HUP g"), 0);
	assert_non_null(strstr(out, "b: signalled"));
	assert_non_null(strstr(out, "b2: signalled"));
	assert_null(strstr(out, "a: signalled"));
	const char *sigs[] = {"WINCH", "sigurg", "SIGCHLD", "cont", "28"};
	for (int i = 0; i < 5; i++) {
		snprintf(args, sizeof(args), "signal %s all", sigs[i]);
		assert_int_equal(troupe(out, sizeof(out), args), 0);
		assert_non_null(strstr(out, "c: signalled"));
	}
	assert_int_equal(pid_of("a"), a); /* those are ignored */
	assert_int_equal(troupe(out, sizeof(out), "signal winch g:*"), 0);
	assert_non_null(strstr(out, "b: signalled"));
	/* GROUP:NAME, GROUP:*, unknown ones. */
	assert_int_equal(troupe(out, sizeof(out), "restart g:b2"), 0);
	assert_int_equal(troupe(out, sizeof(out), "stop h:b2"), 2);
	assert_non_null(strstr(out, "h:b2: no such program in the group"));
	assert_int_equal(troupe(out, sizeof(out), "stop nope:*"), 2);
	assert_int_equal(troupe(out, sizeof(out), "stop ghost a"), 2);
	assert_non_null(strstr(out, "ghost: no such program or group"));
	assert_int_equal(troupe(out, sizeof(out), "stop g:*"), 0);
	/* reverse order: b2 before h */
	char *p1 = strstr(out, "b2: stopped"), *p2 = strstr(out, "h: stopped");
	assert_true(p1 != NULL && p2 != NULL && p1 < p2);
	assert_int_equal(pid_of("b"), 0);
	assert_int_equal(troupe(out, sizeof(out), "status"), 1);
	assert_int_equal(troupe(out, sizeof(out), "start all"), 0);
	assert_true(pid_of("b") > 0 && pid_of("b") != b && pid_of("b2") > 0);
	(void)b;
	kill(d, SIGTERM);
	assert_int_equal(daemon_wait(d), 0);
}

static json_object *jget(json_object *o, const char *k)
{
	json_object *v = NULL;
	if (!json_object_object_get_ex(o, k, &v))
		fail_msg("no key '%s' in %s", k, json_object_to_json_string(o));
	return v;
}

/* The names of a tree, depth first, each with its type and pid: the
 * shape two views of one tree must share. */
static void shape(json_object *kids, char *out, size_t len)
{
	for (size_t i = 0; i < json_object_array_length(kids); i++) {
		json_object *c = json_object_array_get_idx(kids, i), *sub;
		size_t at = strlen(out);
		snprintf(out + at, len - at, "%s:%s:%d ", jstr(c, "name"),
		         jstr(c, "type"), jint(c, "pid"));
		if (json_object_object_get_ex(c, "children", &sub)) {
			at = strlen(out);
			snprintf(out + at, len - at, "( ");
			shape(sub, out, len);
			at = strlen(out);
			snprintf(out + at, len - at, ") ");
		}
	}
}

static void tree_shape(const char *args, char *out, size_t len)
{
	char text[32768];
	assert_int_equal(troupe_raw(text, sizeof(text), args), 0);
	json_object *root = json_tokener_parse(text);
	if (root == NULL)
		fail_msg("not JSON from %s: %s", args, text);
	out[0] = '\0';
	shape(jget(root, "children"), out, len);
	json_object_put(root);
}

static void test_status_and_tree_of_groups(void **state)
{
	(void)state;
	char out[16384];
	write_nested("");
	pid_t d = daemon_start();
	assert_int_equal(troupe(out, sizeof(out), "tree"), 0);
	const char *lines[] = {"├─ a (running",
	                       "├─ g [rest_for_one] (running",
	                       "│  ├─ h [one_for_all] (running",
	                       "│  │  └─ b (running",
	                       "│  └─ b2 (running",
	                       "├─ c (running",
	                       "└─ logging (running, permanent"};
	for (int i = 0; i < 7; i++)
		if (strstr(out, lines[i]) == NULL)
			fail_msg("no '%s' in: %s", lines[i], out);
	assert_int_equal(troupe(out, sizeof(out), "status g"), 0);
	assert_non_null(strstr(out, "g/ "));
	assert_non_null(strstr(out, "  h/ "));
	assert_non_null(strstr(out, "    b "));
	assert_non_null(strstr(out, "  b2 "));
	assert_null(strstr(out, "\na "));
	assert_true(strncmp(out, "a ", 2) != 0);
	/* One schema for both, nested, versioned, null for none. */
	for (int k = 0; k < 2; k++) {
		assert_int_equal(troupe(out, sizeof(out),
		                        k ? "tree --json" : "status --json"),
		                 0);
		json_object *root = json_tokener_parse(out);
		assert_non_null(root);
		assert_int_equal(json_object_get_int(jget(root, "version")), 1);
		assert_int_equal(json_object_get_int(jget(root, "daemon_pid")),
		                 d);
		json_object *kids = jget(root, "children");
		/* a, g, c, and the daemon's own logging actor: the root
		 * supervisor's tree, as `tree -p PID` shows it */
		assert_int_equal(json_object_array_length(kids), 4);
		assert_string_equal(jstr(json_find(kids, "logging"), "type"),
		                    "logging");
		json_object *g = json_find(kids, "g"),
		            *h = json_find(kids, "h");
		assert_string_equal(jstr(g, "type"), "supervisor");
		assert_null(jget(g, "pid"));
		assert_null(jget(g, "command"));
		assert_int_equal(json_object_array_length(jget(g, "children")),
		                 2);
		assert_non_null(json_find(jget(h, "children"), "b"));
		assert_string_equal(jstr(json_find(kids, "b"), "group"), "h");
		assert_null(jget(json_find(kids, "a"), "group"));
		assert_null(jget(json_find(kids, "a"), "msgs_in"));
		json_object_put(root);
	}
	/* The daemon is a troupe program whose root supervisor read the
	 * file: `tree -p PID` on its pid shows the same tree. */
	char args[512], via_daemon[4096], via_pid[4096];
	snprintf(args, sizeof(args), "--socket %s tree --json", sock);
	tree_shape(args, via_daemon, sizeof(via_daemon));
	snprintf(args, sizeof(args), "tree -p %d --json", (int)d);
	tree_shape(args, via_pid, sizeof(via_pid));
	assert_string_equal(via_daemon, via_pid);
	assert_non_null(strstr(via_pid, "logging:logging:"));
	assert_non_null(strstr(via_pid, "g:supervisor:"));
	assert_int_equal(troupe(out, sizeof(out), "stop c"), 0);
	json_object *root, *c = status_json(&root, "c");
	assert_null(jget(c, "pid"));
	assert_null(jget(c, "uptime_ms"));
	assert_int_equal(json_object_get_int(jget(c, "last_exit")), 0);
	json_object_put(root);
	/* pid */
	int a = pid_of("a");
	char want[64];
	assert_int_equal(troupe(out, sizeof(out), "pid"), 0);
	assert_int_equal(atoi(out), d);
	assert_int_equal(troupe(out, sizeof(out), "pid a"), 0);
	assert_int_equal(atoi(out), a);
	assert_int_equal(troupe(out, sizeof(out), "pid all"), 0);
	snprintf(want, sizeof(want), "a %d\n", a);
	assert_non_null(strstr(out, want));
	assert_non_null(strstr(out, "c 0\n"));
	assert_int_equal(troupe(out, sizeof(out), "pid nope"), 2);
	kill(d, SIGTERM);
	assert_int_equal(daemon_wait(d), 0);
}

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_config_commands_logs_clear(void **state)
{
	(void)state;
	char out[16384], path[400];
	write_nested("");
	pid_t d = daemon_start();
	assert_int_equal(troupe(out, sizeof(out), "reread"), 0);
	assert_non_null(strstr(out, "no config updates"));
	write_nested("\n[program:x]\ncommand = %(ENV_TROUPE_CHILD)s x\n");
	assert_int_equal(troupe(out, sizeof(out), "reread"), 0);
	assert_non_null(strstr(out, "x: available"));
	assert_int_equal(troupe(out, sizeof(out), "status x"), 2);
	assert_int_equal(troupe(out, sizeof(out), "avail"), 0);
	assert_non_null(strstr(out, "x "));
	assert_non_null(strstr(out, "avail"));
	assert_int_equal(troupe(out, sizeof(out), "update"), 0);
	assert_non_null(strstr(out, "1 added"));
	assert_true(pid_of("x") > 0);
	/* logs: -n, several names */
	assert_int_equal(troupe(out, sizeof(out), "logs -n 1 a"), 0);
	assert_int_equal(count_lines(out), 1);
	assert_non_null(strstr(out, "child a up"));
	assert_int_equal(troupe(out, sizeof(out), "logs a b2"), 0);
	assert_non_null(strstr(out, "child a up"));
	assert_non_null(strstr(out, "child b2 up"));
	assert_null(strstr(out, "child b up"));
	assert_int_equal(troupe(out, sizeof(out), "logs h"), 0);
	assert_non_null(strstr(out, "child b up"));
	assert_int_equal(troupe(out, sizeof(out), "logs -n 0 a"), 0);
	assert_string_equal(out, "");
	/* c has its own file: shown and cleared. */
	assert_int_equal(troupe(out, sizeof(out), "logs c"), 0);
	assert_non_null(strstr(out, "child c up"));
	assert_int_equal(troupe(out, sizeof(out), "logs -f a c"), 2);
	assert_non_null(strstr(out, "cannot follow"));
	assert_int_equal(troupe(out, sizeof(out), "clear c"), 0);
	snprintf(path, sizeof(path), "%s/c.log", dir);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(troupe(out, sizeof(out), "clear a"), 1);
	assert_non_null(strstr(out, "shared log"));
	assert_int_equal(troupe(out, sizeof(out), "clear nope"), 2);
	/* What changed the tree is in the daemon's log, with who asked. */
	char want[128];
	snprintf(want, sizeof(want), "clear c requested by uid %u pid ",
	         (unsigned)getuid());
	/* The logging actor writes it soon after, not before the reply. */
	for (int64_t end = now_ms() + 10000;;) {
		assert_int_equal(troupe(out, sizeof(out), "logs"), 0);
		if (strstr(out, want) != NULL)
			break;
		if (now_ms() > end)
			fail_msg("no '%s' in: %s", want, out);
		nap(20);
	}
	assert_non_null(strstr(out, "reload requested by uid"));
	assert_null(strstr(out, "reread requested")); /* changes nothing */
	kill(d, SIGTERM);
	assert_int_equal(daemon_wait(d), 0);
}

/* `logs -f a b2` follows both (inotify) and nothing else. */
static void test_logs_follow_several(void **state)
{
	(void)state;
	char out[16384], want[2][64];
	write_nested("");
	pid_t d = daemon_start();
	int fd;
	char *argv[] = {TROUPE_BIN, "--socket", sock, "logs",
	                "-f",       "a",        "b2", NULL};
	pid_t f = troupe_spawn(argv, &fd);
	assert_int_equal(troupe(out, sizeof(out), "restart a b2 c"), 0);
	snprintf(want[0], sizeof(want[0]), "a[%d] child a up", pid_of("a"));
	snprintf(want[1], sizeof(want[1]), "b2[%d] child b2 up", pid_of("b2"));
	const char *wants[] = {want[0], want[1]};
	int seen = read_until(fd, out, sizeof(out), wants, 2);
	int st = signal_and_reap(f, SIGTERM);
	close(fd);
	if (!seen)
		fail_msg("logs -f a b2: no '%s' or '%s' in: %s", want[0],
		         want[1], out);
	assert_null(strstr(out, "child c up"));
	assert_int_equal(st, 0);
	kill(d, SIGTERM);
	assert_int_equal(daemon_wait(d), 0);
}

/* shutdown returns once the daemon's pid is gone (our child: a zombie
 * waiting to be reaped); --no-wait returns at once. */
static void test_shutdown_waits(void **state)
{
	(void)state;
	char out[4096];
	write_nested("");
	pid_t d = daemon_start();
	assert_int_equal(troupe(out, sizeof(out), "shutdown"), 0);
	assert_non_null(strstr(out, "exited"));
	int st;
	assert_int_equal(waitpid(d, &st, WNOHANG), d);
	daemon_pid = 0;
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	d = daemon_start();
	assert_int_equal(troupe(out, sizeof(out), "shutdown --no-wait"), 0);
	assert_int_equal(daemon_wait(d), 0);
	/* A detached daemon (not our child), started and stopped by its
	 * config file alone: gone (or a zombie) when shutdown returns. */
	char args[700], path[64], st8 = 0;
	snprintf(args, sizeof(args), "-c %s supervise --detach", cfg);
	assert_int_equal(troupe_raw(out, sizeof(out), args), 0);
	snprintf(args, sizeof(args), "-c %s pid", cfg);
	assert_int_equal(troupe_raw(out, sizeof(out), args), 0);
	int dpid = atoi(out);
	assert_true(dpid > 0);
	snprintf(args, sizeof(args), "shutdown -c %s", cfg);
	assert_int_equal(troupe_raw(out, sizeof(out), args), 0);
	snprintf(path, sizeof(path), "/proc/%d/stat", dpid);
	FILE *f = fopen(path, "r");
	if (f != NULL) {
		assert_int_equal(fscanf(f, "%*d (%*[^)]) %c", &st8), 1);
		fclose(f);
		assert_int_equal(st8, 'Z');
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_bad_input_exits_2, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_options_anywhere_and_names,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_status_and_tree_of_groups,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_config_commands_logs_clear,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_logs_follow_several, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_shutdown_waits, setup,
	                                    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
