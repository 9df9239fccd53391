/*
 * test_sup_options.c - the supervisor's per-child options and policies at
 * the tp_sup API: exit codes that count as normal, autostart off, a
 * temporary child that keeps its spec, restart backoff with a cap, start
 * retries that give up without escalating, OTP significant children with
 * auto_shutdown (root and nested), honest exit events (requested, killed,
 * the signal, CPU time), a failed start's command and error, rotated log
 * files, and a child environment without systemd's variables.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime_int.h"
#include "testutil.h"

#define MAXEV 512

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static tp_sup_event evs[MAXEV];
static char ids[MAXEV][64], cmds[MAXEV][128];
static int nev;
static char dir[256];

static void on_event(void *arg, const tp_sup_event *ev)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	if (nev < MAXEV) {
		evs[nev] = *ev;
		snprintf(ids[nev], sizeof(ids[0]), "%s", ev->id);
		snprintf(cmds[nev], sizeof(cmds[0]), "%s",
		         ev->argv ? ev->argv[0] : "");
		evs[nev].id = ids[nev];
		evs[nev].sup_id = "";
		evs[nev].argv = NULL;
		nev++;
	}
	pthread_mutex_unlock(&mu);
}

static int count(tp_sup_event_kind k, const char *id)
{
	int n = 0;
	pthread_mutex_lock(&mu);
	for (int i = 0; i < nev; i++)
		n += evs[i].kind == k && strcmp(evs[i].id, id) == 0;
	pthread_mutex_unlock(&mu);
	return n;
}

/* Waits (bounded) for the n-th event k of id; returns its index. */
static int wait_event(tp_sup_event_kind k, const char *id, int n)
{
	for (int64_t end = tp_test_now_ms() + 20000;;) {
		pthread_mutex_lock(&mu);
		for (int i = 0, seen = 0; i < nev; i++)
			if (evs[i].kind == k && strcmp(evs[i].id, id) == 0 &&
			    ++seen == n) {
				pthread_mutex_unlock(&mu);
				return i;
			}
		pthread_mutex_unlock(&mu);
		if (tp_test_now_ms() > end)
			fail_msg("no event %d #%d of %s", (int)k, n, id);
		tp_test_nap(5);
	}
}

static int setup(void **state)
{
	(void)state;
	nev = 0;
	tp_test_init(TP_START_SPAWN);
	snprintf(dir, sizeof(dir), "%s/files", tp_test_base());
	mkdir(dir, 0700);
	setenv("T", dir, 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tp__rmtree(dir);
	tp_test_fini();
	return 0;
}

static tp_sup *new_root(int intensity, tp_auto_shutdown a)
{
	tp_sup *s;
	tp_sup_flags f = TP_SUP_FLAGS_INIT;
	f.intensity = intensity;
	f.period_ms = 60000;
	f.on_event = on_event;
	f.auto_shutdown = a;
	assert_int_equal(tp_sup_new(&s, &f), TP_OK);
	return s;
}

static char *sh_argv[8][4];

/* A child running sh -c script. */
static tp_child_spec sh_child(int slot, const char *id, const char *script)
{
	tp_child_spec c = TP_CHILD_SPEC_INIT;
	sh_argv[slot][0] = "/bin/sh";
	sh_argv[slot][1] = "-c";
	sh_argv[slot][2] = (char *)script;
	sh_argv[slot][3] = NULL;
	c.id = id;
	c.argv = sh_argv[slot];
	c.log_path = "";
	return c;
}

static tp_child_info info_of(tp_sup *s, const char *id)
{
	tp_child_info *v, r;
	int n;
	memset(&r, 0, sizeof(r));
	assert_int_equal(tp_sup_which_children(s, &v, &n), TP_OK);
	for (int i = 0; i < n; i++)
		if (strcmp(v[i].id, id) == 0)
			r = v[i];
	free(v);
	return r;
}

static void test_exit_codes_and_autostart(void **state)
{
	(void)state;
	tp_sup *s = new_root(100, TP_AUTO_NEVER);
	/* exits 2 (normal here) once, then 3 (not normal) */
	tp_child_spec a = sh_child(0, "codes",
	                           "if [ -e $T/once ]; then exit 3; fi; "
	                           "touch $T/once; sleep 0.2; exit 2");
	a.restart = TP_TRANSIENT;
	a.exit_ok[0] = (1u << 0) | (1u << 2);
	tp_child_spec b = sh_child(1, "lazy", "exec sleep 1000");
	b.no_autostart = 1;
	tp_child_spec c = sh_child(2, "once", "exit 0");
	c.restart = TP_TEMPORARY;
	c.keep_temporary = 1;
	assert_int_equal(tp_sup_add_child(s, &a), TP_OK);
	assert_int_equal(tp_sup_add_child(s, &b), TP_OK);
	assert_int_equal(tp_sup_add_child(s, &c), TP_OK);
	assert_int_equal(tp_sup_start(s), TP_OK);
	/* lazy was not started */
	tp_child_info i = info_of(s, "lazy");
	assert_int_equal(i.state, TP_CHILD_STOPPED);
	assert_int_equal(i.pid, 0);
	assert_int_equal(count(TP_EV_STARTED, "lazy"), 0);
	/* exit 2 is normal: no restart */
	int k = wait_event(TP_EV_EXITED, "codes", 1);
	assert_int_equal(evs[k].exit_code, 2);
	wait_event(TP_EV_EXITED, "once", 1);
	assert_int_equal(count(TP_EV_RESTART, "codes"), 0);
	/* a temporary child with keep_temporary stays listed */
	assert_string_equal(info_of(s, "once").id, "once");
	/* a runtime restart starts the lazy one and codes again: exit 3 is
	 * not normal, so it is restarted */
	assert_int_equal(tp_sup_restart_child(s, "lazy"), TP_OK);
	assert_true(info_of(s, "lazy").pid > 0);
	assert_int_equal(tp_sup_restart_child(s, "codes"), TP_OK);
	wait_event(TP_EV_RESTART, "codes", 1);
	tp_sup_free(s);
}

static void test_backoff_doubles_to_the_cap(void **state)
{
	(void)state;
	tp_sup *s = new_root(100, TP_AUTO_NEVER);
	tp_child_spec a = sh_child(0, "flap", "exit 1");
	a.restart_delay_ms = 100;
	a.restart_delay_max_ms = 400;
	assert_int_equal(tp_sup_add_child(s, &a), TP_OK);
	assert_int_equal(tp_sup_start(s), TP_OK);
	int want[] = {100, 200, 400, 400};
	for (int n = 0; n < 4; n++) {
		int k = wait_event(TP_EV_BACKOFF, "flap", n + 1);
		assert_int_equal(evs[k].delay_ms, want[n]);
	}
	/* a stop during a backoff cancels the pending restart */
	assert_int_equal(tp_sup_terminate_child(s, "flap"), TP_OK);
	int started = count(TP_EV_STARTED, "flap");
	assert_int_equal(tp_sup_stop(s), TP_OK);
	assert_int_equal(count(TP_EV_STARTED, "flap"), started);
	tp_sup_free(s);
}

static void test_start_retries_give_up(void **state)
{
	(void)state;
	/* intensity 1: the kill below is the one restart allowed; the
	 * failed starts after it must not count */
	tp_sup *s = new_root(1, TP_AUTO_NEVER);
	tp_child_spec a = sh_child(0, "fragile",
	                           "if [ -e $T/up ]; then exit 1; fi; "
	                           "touch $T/up; exec sleep 1000");
	a.startsecs_ms = 1500; /* a failed start exits well before */
	a.start_retries = 2;
	assert_int_equal(tp_sup_add_child(s, &a), TP_OK);
	assert_int_equal(tp_sup_start(s), TP_OK);
	/* kill it: its restarts now fail (exit before startsecs) */
	assert_int_equal(tp_sup_signal_child(s, "fragile", SIGKILL), TP_OK);
	int k = wait_event(TP_EV_GAVE_UP, "fragile", 1);
	assert_int_equal(evs[k].exit_code, 3);
	assert_int_equal(count(TP_EV_BACKOFF, "fragile"), 2);
	assert_int_equal(tp_sup_wait(s, 0), TP_ETIMEDOUT); /* root alive */
	assert_int_equal(info_of(s, "fragile").state, TP_CHILD_STOPPED);
	tp_sup_free(s);
}

static void test_significant_child_ends_the_tree(void **state)
{
	(void)state;
	tp_sup *s = new_root(3, TP_AUTO_ANY_SIGNIFICANT), *g;
	tp_sup_flags gf = TP_SUP_FLAGS_INIT;
	gf.auto_shutdown = TP_AUTO_ALL_SIGNIFICANT;
	tp_child_spec bg = sh_child(0, "bg", "exec sleep 1000");
	assert_int_equal(tp_sup_add_child(s, &bg), TP_OK);
	assert_int_equal(tp_sup_add_sup(s, "g", &gf, TP_TRANSIENT, &g), TP_OK);
	tp_child_spec j1 = sh_child(1, "j1",
	                            "while [ ! -e $T/j1 ]; do "
	                            "sleep 0.02; done");
	j1.restart = TP_TRANSIENT;
	j1.significant = 1;
	tp_child_spec j2 = sh_child(2, "j2",
	                            "while [ ! -e $T/j2 ]; do "
	                            "sleep 0.02; done");
	j2.restart = TP_TRANSIENT;
	j2.significant = 1;
	assert_int_equal(tp_sup_add_child(g, &j1), TP_OK);
	assert_int_equal(tp_sup_add_child(g, &j2), TP_OK);
	/* the root's significant child: the group itself is not one, so
	 * the group ending (normally) ends nothing but itself */
	tp_child_spec main = sh_child(3, "main",
	                              "while [ ! -e $T/main ]; do "
	                              "sleep 0.02; done");
	main.restart = TP_TEMPORARY;
	main.significant = 1;
	assert_int_equal(tp_sup_add_child(s, &main), TP_OK);
	/* a permanent significant child is refused */
	tp_child_spec bad = sh_child(4, "bad", "true");
	bad.significant = 1;
	assert_int_equal(tp_sup_add_child(s, &bad), TP_EINVAL);
	assert_int_equal(tp_sup_start(s), TP_OK);
	char p[300];
	snprintf(p, sizeof(p), "%s/j1", dir);
	fclose(fopen(p, "w"));
	wait_event(TP_EV_EXITED, "j1", 1);
	/* all_significant: j2 still runs, so g goes on */
	assert_int_equal(info_of(g, "j2").state, TP_CHILD_RUNNING);
	snprintf(p, sizeof(p), "%s/j2", dir);
	fclose(fopen(p, "w"));
	wait_event(TP_EV_AUTO_SHUTDOWN, "j2", 1);
	int k = wait_event(TP_EV_EXITED, "g", 1);
	assert_int_equal(evs[k].exit_code, 0); /* normal: not restarted */
	assert_int_equal(tp_sup_wait(s, 0), TP_ETIMEDOUT);
	assert_int_equal(count(TP_EV_RESTART, "g"), 0);
	snprintf(p, sizeof(p), "%s/main", dir);
	fclose(fopen(p, "w"));
	assert_int_equal(tp_sup_wait(s, 20000), TP_OK); /* not TP_EDIED */
	k = wait_event(TP_EV_EXITED, "bg", 1);
	assert_true(evs[k].requested);
	tp_sup_free(s);
}

static void test_exit_events_say_what_happened(void **state)
{
	(void)state;
	tp_sup *s = new_root(3, TP_AUTO_NEVER);
	tp_child_spec calm = sh_child(0, "calm", "exec sleep 1000");
	/* it says when it ignores TERM: a TERM before the trap would kill
	 * it at once */
	tp_child_spec stub = sh_child(1, "stub",
	                              "trap '' TERM; touch $T/trapped; "
	                              "while :; do : ; done");
	stub.shutdown_ms = 500;
	tp_child_spec hup = sh_child(2, "hup", "exec sleep 1000");
	hup.stop_signal = SIGHUP;
	assert_int_equal(tp_sup_add_child(s, &calm), TP_OK);
	assert_int_equal(tp_sup_add_child(s, &stub), TP_OK);
	assert_int_equal(tp_sup_add_child(s, &hup), TP_OK);
	assert_int_equal(tp_sup_start(s), TP_OK);
	assert_int_equal(tp_sup_terminate_child(s, "hup"), TP_OK);
	char p[300];
	snprintf(p, sizeof(p), "%s/trapped", dir);
	for (int64_t end = tp_test_now_ms() + 20000; access(p, F_OK) != 0;) {
		assert_true(tp_test_now_ms() < end);
		tp_test_nap(5);
	}
	assert_int_equal(tp_sup_terminate_child(s, "stub"), TP_OK);
	assert_int_equal(tp_sup_signal_child(s, "calm", SIGSEGV), TP_OK);
	int k = wait_event(TP_EV_EXITED, "hup", 1);
	assert_true(evs[k].requested && !evs[k].killed);
	assert_int_equal(evs[k].stop_signal, SIGHUP);
	assert_int_equal(evs[k].exit_code, -SIGHUP);
	assert_true(evs[k].pid > 0);
	k = wait_event(TP_EV_EXITED, "stub", 1);
	assert_true(evs[k].requested && evs[k].killed);
	assert_int_equal(evs[k].exit_code, -SIGKILL);
	assert_true(evs[k].cpu_ms > 0); /* it spun for 500 ms */
	k = wait_event(TP_EV_EXITED, "calm", 1);
	assert_true(!evs[k].requested && !evs[k].killed);
	assert_int_equal(evs[k].exit_code, -SIGSEGV);
	/* a start that fails says the command and the error */
	char *argv[] = {"/nonexistent/prog", NULL};
	tp_child_spec bad = TP_CHILD_SPEC_INIT;
	bad.id = "bad";
	bad.argv = argv;
	assert_int_not_equal(tp_sup_start_child(s, &bad, NULL), TP_OK);
	k = wait_event(TP_EV_START_FAILED, "bad", 1);
	assert_string_equal(cmds[k], "/nonexistent/prog");
	assert_int_equal(evs[k].error, tp_err_errno(ENOENT));
	tp_sup_free(s);
}

static void test_rotated_logs_and_env(void **state)
{
	(void)state;
	char out[300], err[300], p[320], buf[4096];
	snprintf(out, sizeof(out), "%s/out.log", dir);
	snprintf(err, sizeof(err), "%s/err.log", dir);
	setenv("NOTIFY_SOCKET", "/run/x", 1);
	setenv("WATCHDOG_USEC", "1000", 1);
	tp_sup *s = new_root(3, TP_AUTO_NEVER);
	tp_child_spec a = sh_child(
	    0, "talk",
	    "i=0; while [ $i -lt 40 ]; do echo 0123456789012345678901234567"
	    "89012345678901234567890123456789; i=$((i+1)); done; "
	    "echo \"env:$NOTIFY_SOCKET:$WATCHDOG_USEC:\"; echo bad >&2; "
	    "touch $T/talked; exec sleep 1000");
	a.log_path = out;
	a.log_max_bytes = 1024;
	a.log_backups = 2;
	a.err_log_path = err;
	assert_int_equal(tp_sup_add_child(s, &a), TP_OK);
	assert_int_equal(tp_sup_start(s), TP_OK);
	snprintf(p, sizeof(p), "%s/talked", dir);
	for (int64_t end = tp_test_now_ms() + 20000; access(p, F_OK) != 0;) {
		assert_true(tp_test_now_ms() < end);
		tp_test_nap(5);
	}
	/* the copy thread is done once the child is gone */
	assert_int_equal(tp_sup_stop(s), TP_OK);
	snprintf(p, sizeof(p), "%s.1", out);
	assert_int_equal(access(p, F_OK), 0);
	snprintf(p, sizeof(p), "%s.2", out);
	assert_int_equal(access(p, F_OK), 0);
	snprintf(p, sizeof(p), "%s.3", out);
	assert_int_equal(access(p, F_OK), -1); /* 2 backups at most */
	struct stat st;
	assert_int_equal(stat(out, &st), 0);
	assert_true(st.st_size <= 1024);
	FILE *f = fopen(out, "r");
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	assert_non_null(strstr(buf, "env:::")); /* no systemd variables */
	assert_null(strstr(buf, "bad"));
	f = fopen(err, "r");
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	assert_string_equal(buf, "bad\n");
	tp_sup_free(s);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_exit_codes_and_autostart,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_backoff_doubles_to_the_cap,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_start_retries_give_up, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(
	        test_significant_child_ends_the_tree, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exit_events_say_what_happened,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rotated_logs_and_env, setup,
	                                    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
