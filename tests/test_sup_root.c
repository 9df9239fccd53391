/*
 * test_sup_root.c - the program's root supervisor holds every Process the
 * program starts (a monitored child) without changing what tp_process
 * means, with the forkserver, spawn and fork start methods:
 *
 * - each started Process is a temporary child of tp_sup_root() (id its
 *   name, its pid, running);
 * - the user still joins it and gets its exit code and result; the tree
 *   then shows it stopped with that exit code (nothing reaped twice);
 * - tp_sup_terminate_child and tp_sup_signal_child reach it, and the
 *   user's join sees the signal; restarting it is refused (TP_ESTATE);
 * - freeing the object removes it from the tree;
 * - a Process still running at tp_fini is joined, not stopped by the tree;
 * - a user's own child of the root shows beside the Processes.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static int idle(const tp_payload *args, tp_payload *result)
{
	(void)args;
	(void)result;
	for (;;)
		pause();
	return 0;
}
TP_TARGET(idle);

/* Returns its first argument and puts "done" in the result. */
static int exit_with(const tp_payload *args, tp_payload *result)
{
	int64_t v = 0;
	tp_payload_get_int(args, 0, &v);
	tp_payload_add_string(result, "done");
	return (int)v;
}
TP_TARGET(exit_with);

/* Outlives its parent's tp_fini by a moment, then exits 7. */
static int slow_seven(const tp_payload *args, tp_payload *result)
{
	(void)args;
	(void)result;
	tp_test_nap(300); /* the work: not a synchronisation */
	return 7;
}
TP_TARGET(slow_seven);

static const tp_start_method methods[] = {TP_START_FORKSERVER, TP_START_SPAWN,
                                          TP_START_FORK};

/* The root's child named id (0: none), its info in *out. */
static int find_child(const char *id, tp_child_info *out)
{
	tp_child_info *v;
	int n, found = 0;
	TP_OK_OR_FAIL(tp_sup_which_children(tp_sup_root(), &v, &n));
	for (int i = 0; i < n; i++)
		if (strcmp(v[i].id, id) == 0) {
			*out = v[i];
			found = 1;
		}
	free(v);
	return found;
}

/* Daemonic, so a failed test's tp_fini at exit does not wait for idle. */
static tp_process *start(tp_target_fn fn, int arg, const char *name)
{
	tp_payload *a;
	tp_process *p;
	tp_process_opts o = {.name = name, .daemon = fn == idle};
	TP_OK_OR_FAIL(tp_payload_new(&a));
	TP_OK_OR_FAIL(tp_payload_add_int(a, arg));
	TP_OK_OR_FAIL(tp_process_new(&p, fn, a, &o));
	TP_OK_OR_FAIL(tp_process_start(p));
	tp_payload_free(a);
	return p;
}

static void run_method(tp_start_method m)
{
	tp_child_info ci;
	tp_payload *res = NULL;
	const char *s = NULL;
	int code;
	tp_test_init(m);
	tp_process *quick = start(exit_with, 3, "quick");
	tp_process *still = start(idle, 0, "still");
	assert_true(find_child("quick", &ci)); /* running or exited */
	assert_true(ci.pid == tp_process_pid(quick) || ci.pid == 0);
	assert_int_equal(ci.restart, TP_TEMPORARY);
	assert_true(find_child("still", &ci));
	assert_int_equal(ci.pid, tp_process_pid(still));
	assert_int_equal(ci.state, TP_CHILD_RUNNING);

	/* The user's semantics: join, exit code, result. */
	TP_OK_OR_FAIL(tp_process_join(quick, 10000));
	TP_OK_OR_FAIL(tp_process_exitcode(quick, &code));
	assert_int_equal(code, 3);
	TP_OK_OR_FAIL(tp_process_result(quick, &res, 0));
	TP_OK_OR_FAIL(tp_payload_get_string(res, 0, &s));
	assert_string_equal(s, "done");
	tp_payload_free(res);
	assert_true(find_child("quick", &ci));
	assert_int_equal(ci.state, TP_CHILD_STOPPED);
	assert_int_equal(ci.pid, 0);
	assert_int_equal(ci.last_exit, 3);
	TP_EXPECT(tp_sup_restart_child(tp_sup_root(), "quick"), TP_ESTATE);
	tp_process_free(quick);
	assert_false(find_child("quick", &ci));

	/* The tree signals and stops it; the user's join sees it. */
	TP_OK_OR_FAIL(tp_sup_signal_child(tp_sup_root(), "still", SIGCONT));
	TP_OK_OR_FAIL(tp_sup_terminate_child(tp_sup_root(), "still"));
	assert_true(find_child("still", &ci));
	assert_int_equal(ci.state, TP_CHILD_STOPPED);
	assert_int_equal(ci.last_exit, -SIGTERM);
	TP_OK_OR_FAIL(tp_process_join(still, 10000));
	TP_OK_OR_FAIL(tp_process_exitcode(still, &code));
	assert_int_equal(code, -SIGTERM);
	tp_process_free(still);
	assert_false(find_child("still", &ci));

	/* Same names again: the ids are free again. A user's child too. */
	tp_process *late = start(slow_seven, 0, "still");
	assert_true(find_child("still", &ci));
	char *argv[] = {"/bin/sleep", "60", NULL};
	tp_child_spec spec = TP_CHILD_SPEC_INIT;
	spec.id = "mine";
	spec.argv = argv;
	spec.log_path = "";
	spec.shutdown_ms = TP_SHUTDOWN_BRUTAL;
	TP_OK_OR_FAIL(tp_sup_start_child(tp_sup_root(), &spec, NULL));
	assert_true(find_child("mine", &ci));
	assert_true(ci.pid > 0);

	/* tp_fini stops "mine" but joins "late" (a non-daemon Process). */
	tp_test_fini();
	TP_OK_OR_FAIL(tp_process_exitcode(late, &code));
	assert_int_equal(code, 7);
	tp_process_free(late);
}

static void test_forkserver(void **state)
{
	(void)state;
	run_method(methods[0]);
}

static void test_spawn(void **state)
{
	(void)state;
	run_method(methods[1]);
}

static void test_fork(void **state)
{
	(void)state;
	run_method(methods[2]);
}

/* Many Processes with one name: unique ids, all listed, all removed. */
static void test_same_names(void **state)
{
	enum { N = 6 };
	tp_process *p[N];
	tp_child_info *v;
	int n;
	(void)state;
	tp_test_init(TP_START_FORKSERVER);
	for (int i = 0; i < N; i++)
		p[i] = start(exit_with, i, "w");
	TP_OK_OR_FAIL(tp_sup_which_children(tp_sup_root(), &v, &n));
	int found = 0;
	for (int i = 0; i < n; i++)
		found += v[i].id[0] == 'w'; /* "w", then "w-PID" */
	free(v);
	assert_int_equal(found, N);
	for (int i = 0; i < N; i++) {
		TP_OK_OR_FAIL(tp_process_join(p[i], 10000));
		tp_process_free(p[i]);
	}
	TP_OK_OR_FAIL(tp_sup_which_children(tp_sup_root(), &v, &n));
	found = 0;
	for (int i = 0; i < n; i++)
		found += v[i].id[0] == 'w';
	free(v);
	assert_int_equal(found, 0);
	tp_test_fini();
}

int main(void)
{
	tp_spawn_guard();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_forkserver),
	    cmocka_unit_test(test_spawn),
	    cmocka_unit_test(test_fork),
	    cmocka_unit_test(test_same_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
