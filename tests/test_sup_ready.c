/*
 * test_sup_ready.c - readiness of a supervisor's target children
 * (TP_READY_NOTIFY with tp_child_spec.target): the child's tp_ready()
 * is a frame on its control channel, and the supervisor's start returns
 * only after it, with the forkserver, spawn and fork start methods. A
 * child that never says ready is killed at its start deadline
 * (TP_ETIMEDOUT); one that exits first is a failed start (TP_EDIED);
 * ordered start holds (the next child starts after the previous is
 * ready); a Process outside any tree may call tp_ready() harmlessly.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

/* Creates the file named by its argument, says ready, then idles. */
static int mark_then_ready(const tp_payload *args, tp_payload *result)
{
	const char *path = "";
	(void)result;
	tp_payload_get_string(args, 0, &path);
	tp_test_nap(100); /* work before ready: the start must wait */
	close(open(path, O_WRONLY | O_CREAT, 0600));
	if (tp_ready() != TP_OK)
		return 3;
	for (;;)
		pause();
	return 0;
}
TP_TARGET(mark_then_ready);

static int never_ready(const tp_payload *args, tp_payload *result)
{
	(void)args;
	(void)result;
	for (;;)
		pause();
	return 0;
}
TP_TARGET(never_ready);

static int dies_early(const tp_payload *args, tp_payload *result)
{
	(void)args;
	(void)result;
	return 5;
}
TP_TARGET(dies_early);

/* Says ready (outside any tree: nothing waits) and returns 4. */
static int ready_alone(const tp_payload *args, tp_payload *result)
{
	(void)args;
	(void)result;
	return tp_ready() == TP_OK ? 4 : 1;
}
TP_TARGET(ready_alone);

static const tp_start_method methods[] = {TP_START_FORKSERVER, TP_START_SPAWN,
                                          TP_START_FORK};

static tp_child_spec spec_of(const char *id, tp_target_fn fn,
                             const tp_payload *a, tp_start_method m)
{
	tp_child_spec c = TP_CHILD_SPEC_INIT;
	c.id = id;
	c.target = fn;
	c.args = a;
	c.method = m;
	c.ready = TP_READY_NOTIFY;
	c.start_timeout_ms = 10000;
	c.shutdown_ms = TP_SHUTDOWN_BRUTAL;
	return c;
}

static void run_method(tp_start_method m)
{
	char f1[300], f2[300];
	struct stat st;
	tp_payload *a1, *a2;
	tp_sup *s;
	tp_test_init(m);
	snprintf(f1, sizeof(f1), "%s/ready-1", tp_test_base());
	snprintf(f2, sizeof(f2), "%s/ready-2", tp_test_base());
	TP_OK_OR_FAIL(tp_payload_new(&a1));
	TP_OK_OR_FAIL(tp_payload_add_string(a1, f1));
	TP_OK_OR_FAIL(tp_payload_new(&a2));
	TP_OK_OR_FAIL(tp_payload_add_string(a2, f2));

	/* Ordered start of two: each returns only once ready. */
	TP_OK_OR_FAIL(tp_sup_new(&s, NULL));
	tp_child_spec c1 = spec_of("one", mark_then_ready, a1, m);
	tp_child_spec c2 = spec_of("two", mark_then_ready, a2, m);
	TP_OK_OR_FAIL(tp_sup_add_child(s, &c1));
	TP_OK_OR_FAIL(tp_sup_add_child(s, &c2));
	TP_OK_OR_FAIL(tp_sup_start(s));
	assert_int_equal(stat(f1, &st), 0);
	assert_int_equal(stat(f2, &st), 0);
	tp_child_info *v;
	int n;
	TP_OK_OR_FAIL(tp_sup_which_children(s, &v, &n));
	assert_int_equal(n, 2);
	for (int i = 0; i < n; i++)
		assert_int_equal(v[i].state, TP_CHILD_RUNNING);
	free(v);

	/* Runtime starts: never ready (deadline), dead before ready. */
	tp_child_spec c3 = spec_of("late", never_ready, NULL, m);
	c3.start_timeout_ms = 300;
	TP_EXPECT(tp_sup_start_child(s, &c3, NULL), TP_ETIMEDOUT);
	tp_child_spec c4 = spec_of("early", dies_early, NULL, m);
	TP_EXPECT(tp_sup_start_child(s, &c4, NULL), TP_EDIED);
	unlink(f1);
	tp_child_spec c5 = spec_of("again", mark_then_ready, a1, m);
	TP_OK_OR_FAIL(tp_sup_start_child(s, &c5, NULL));
	assert_int_equal(stat(f1, &st), 0);
	tp_sup_free(s);

	/* A plain Process may call tp_ready(): nothing changes for it. */
	tp_process *p;
	int code;
	TP_OK_OR_FAIL(tp_process_new(&p, ready_alone, NULL, NULL));
	TP_OK_OR_FAIL(tp_process_start(p));
	TP_OK_OR_FAIL(tp_process_join(p, 10000));
	TP_OK_OR_FAIL(tp_process_exitcode(p, &code));
	assert_int_equal(code, 4);
	tp_process_free(p);

	unlink(f1);
	unlink(f2);
	tp_payload_free(a1);
	tp_payload_free(a2);
	tp_test_fini();
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

int main(void)
{
	tp_spawn_guard();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_forkserver),
	    cmocka_unit_test(test_spawn),
	    cmocka_unit_test(test_fork),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
