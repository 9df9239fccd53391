/*
 * test_cli_top.c - `troupe top` in a real terminal: tmux (a private
 * server) runs it, send-keys types, capture-pane reads the screen; each
 * step polls the screen until what it expects shows up, with a deadline.
 * Keys h (help), any key (closes it), c (sort by CPU), t (tree), q
 * (quits); a resize to 60 columns keeps one line per child.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_util.h"

static char tmux_sock[320];

static int tmux(char *out, size_t len, const char *args)
{
	char cmd[2048];
	snprintf(cmd, sizeof(cmd), "tmux -S %s %s 2>&1", tmux_sock, args);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = out ? fread(out, 1, len - 1, p) : 0;
	if (out)
		out[n] = '\0';
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Polls the screen until it holds want (and not unwanted): 10 s. */
static void screen_shows(char *out, size_t len, const char *want,
                         const char *unwanted)
{
	int64_t end = now_ms() + 10000;
	for (;;) {
		tmux(out, len, "capture-pane -p -t top");
		if (strstr(out, want) &&
		    (unwanted == NULL || !strstr(out, unwanted)))
			return;
		if (now_ms() > end)
			fail_msg("the screen never showed '%s': %s", want, out);
		nap(20);
	}
}

static int top_teardown(void **state)
{
	tmux(NULL, 0, "kill-server");
	return teardown(state);
}

static void test_top_keys_and_resize(void **state)
{
	(void)state;
	char out[16384], args[1024], row[64];
	if (system("command -v tmux >/dev/null 2>&1") != 0) {
		print_message("skipped: tmux is not installed\n");
		return;
	}
	snprintf(tmux_sock, sizeof(tmux_sock), "%s/tmux.sock", dir);
	write_cfg(three);
	pid_t d = daemon_start();
	snprintf(args, sizeof(args),
	         "new-session -d -s top -x 120 -y 30 "
	         "'%s --socket %s top --interval 200'",
	         TROUPE_BIN, sock);
	assert_int_equal(tmux(out, sizeof(out), args), 0);
	screen_shows(out, sizeof(out), "sort: tree", NULL);
	screen_shows(out, sizeof(out), "RESTARTS", NULL);
	/* groups as groups: g/ with b indented under it */
	assert_non_null(strstr(out, "g/"));
	assert_non_null(strstr(out, "\n  b "));
	/* the daemon's logging actor, with its counters */
	assert_non_null(strstr(out, "MSG_IN"));
	tmux(NULL, 0, "send-keys -t top h");
	screen_shows(out, sizeof(out), "troupe top keys", "RESTARTS");
	tmux(NULL, 0, "send-keys -t top x");
	screen_shows(out, sizeof(out), "RESTARTS", "troupe top keys");
	tmux(NULL, 0, "send-keys -t top c");
	screen_shows(out, sizeof(out), "sort: cpu", NULL);
	assert_null(strstr(out, "g/")); /* sorted: programs only */
	tmux(NULL, 0, "send-keys -t top t");
	screen_shows(out, sizeof(out), "sort: tree", NULL);
	/* Narrower: every child still on one line, with its pid. */
	tmux(NULL, 0, "resize-window -t top -x 60 -y 20");
	snprintf(row, sizeof(row), "%d", pid_of("a"));
	screen_shows(out, sizeof(out), row, NULL);
	for (char *l = out; *l;
	     l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l)) {
		size_t n = strcspn(l, "\n");
		if (n > 60)
			fail_msg("a line of %zu columns: %s", n, out);
		if (strncmp(l, "a ", 2) == 0 && !memmem(l, n, row, strlen(row)))
			fail_msg("a's row lost its pid: %s", out);
	}
	/* q quits: the session ends with its only program. */
	tmux(NULL, 0, "send-keys -t top q");
	int64_t end = now_ms() + 10000;
	while (tmux(out, sizeof(out), "has-session -t top") == 0) {
		assert_true(now_ms() < end);
		nap(20);
	}
	kill(d, SIGTERM);
	assert_int_equal(daemon_wait(d), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_top_keys_and_resize, setup,
	                                    top_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
