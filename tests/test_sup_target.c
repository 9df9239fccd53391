/*
 * test_sup_target.c - supervision trees whose children are registered
 * targets of this program (tp_child_spec.target), started through the
 * process layer with the forkserver, spawn and fork methods: kill -9 of a
 * child under one_for_one, one_for_all and rest_for_one restarts what the
 * strategy says; intensity escalates; restart types, arguments, exit codes,
 * shutdown timeouts, simple_one_for_one and spec errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

/* Runs until killed. */
static int idle(const tp_payload *args, tp_payload *result)
{
	(void)args;
	(void)result;
	for (;;)
		pause();
	return 0;
}
TP_TARGET(idle);

/* Returns its first argument. */
static int exit_with(const tp_payload *args, tp_payload *result)
{
	int64_t v = 0;
	(void)result;
	tp_payload_get_int(args, 0, &v);
	return (int)v;
}
TP_TARGET(exit_with);

/* Ignores SIGTERM, then creates the file named by its argument. */
static int stubborn(const tp_payload *args, tp_payload *result)
{
	const char *path = "";
	(void)result;
	signal(SIGTERM, SIG_IGN);
	tp_payload_get_string(args, 0, &path);
	close(open(path, O_WRONLY | O_CREAT, 0600));
	for (;;)
		pause();
	return 0;
}
TP_TARGET(stubborn);

static int not_registered(const tp_payload *args, tp_payload *result)
{
	(void)args;
	(void)result;
	return 0;
}

/* ---- the observer: counts events, keeps exit codes by id ---- */

static pthread_mutex_t ev_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ev_cv = PTHREAD_COND_INITIALIZER;
static int n_ready, n_exited, n_restart, n_escalate;
static struct {
	char id[64];
	int code;
} exits[64];

static void on_event(void *arg, const tp_sup_event *ev)
{
	(void)arg;
	pthread_mutex_lock(&ev_mu);
	if (ev->kind == TP_EV_READY)
		n_ready++;
	else if (ev->kind == TP_EV_RESTART)
		n_restart++;
	else if (ev->kind == TP_EV_ESCALATE)
		n_escalate++;
	else if (ev->kind == TP_EV_EXITED) {
		if (n_exited < 64) {
			snprintf(exits[n_exited].id, 64, "%s", ev->id);
			exits[n_exited].code = ev->exit_code;
		}
		n_exited++;
	}
	pthread_cond_broadcast(&ev_cv);
	pthread_mutex_unlock(&ev_mu);
}

static void ev_reset(void)
{
	pthread_mutex_lock(&ev_mu);
	n_ready = n_exited = n_restart = n_escalate = 0;
	pthread_mutex_unlock(&ev_mu);
}

/* Waits (at most 30 s) until *counter >= want. */
static void wait_count(int *counter, int want)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 30;
	pthread_mutex_lock(&ev_mu);
	while (*counter < want)
		if (pthread_cond_timedwait(&ev_cv, &ev_mu, &ts) == ETIMEDOUT)
			break;
	int got = *counter;
	pthread_mutex_unlock(&ev_mu);
	if (got < want)
		fail_msg("waited for %d events, got %d", want, got);
}

static int get(int *counter)
{
	pthread_mutex_lock(&ev_mu);
	int v = *counter;
	pthread_mutex_unlock(&ev_mu);
	return v;
}

static int exit_code_of(const char *id)
{
	int code = 999;
	pthread_mutex_lock(&ev_mu);
	for (int i = 0; i < n_exited && i < 64; i++)
		if (strcmp(exits[i].id, id) == 0)
			code = exits[i].code;
	pthread_mutex_unlock(&ev_mu);
	return code;
}

/* ---- helpers ---- */

static int setup(void **state)
{
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	ev_reset();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tp_test_fini();
	return 0;
}

static tp_sup *new_sup(tp_strategy st, int intensity)
{
	tp_sup *s;
	tp_sup_flags f = TP_SUP_FLAGS_INIT;
	f.strategy = st;
	f.intensity = intensity;
	f.period_ms = 60000;
	f.on_event = on_event;
	TP_OK_OR_FAIL(tp_sup_new(&s, &f));
	return s;
}

static void add_target(tp_sup *s, const char *id, tp_target_fn fn,
                       const tp_payload *args, tp_restart r, tp_start_method m)
{
	tp_child_spec c = TP_CHILD_SPEC_INIT;
	c.id = id;
	c.target = fn;
	c.args = args;
	c.restart = r;
	c.method = m;
	c.shutdown_ms = 2000;
	TP_OK_OR_FAIL(tp_sup_add_child(s, &c));
}

/* The pids of the n children, in order. */
static void pids(tp_sup *s, pid_t *out, int n)
{
	tp_child_info *v;
	int k;
	TP_OK_OR_FAIL(tp_sup_which_children(s, &v, &k));
	assert_int_equal(k, n);
	for (int i = 0; i < n; i++)
		out[i] = v[i].pid;
	free(v);
}

static const tp_start_method methods[] = {TP_START_FORKSERVER, TP_START_SPAWN,
                                          TP_START_FORK};
#define NMETHODS (int)(sizeof(methods) / sizeof(methods[0]))

/*
 * Three idle targets under strategy st; kill -9 the middle one and check
 * which children were restarted (new pid) and which were left alone.
 */
static void run_strategy(tp_strategy st, tp_start_method m,
                         const int *restarted)
{
	static const char *ids[3] = {"a", "b", "c"};
	pid_t before[3], after[3];
	ev_reset();
	tp_sup *s = new_sup(st, 5);
	for (int i = 0; i < 3; i++)
		add_target(s, ids[i], idle, NULL, TP_PERMANENT, m);
	TP_OK_OR_FAIL(tp_sup_start(s));
	assert_int_equal(get(&n_ready), 3);
	pids(s, before, 3);
	int more = 0;
	for (int i = 0; i < 3; i++) {
		assert_true(before[i] > 0);
		assert_int_equal(kill(before[i], 0), 0);
		more += restarted[i];
	}
	assert_int_equal(kill(before[1], SIGKILL), 0);
	wait_count(&n_ready, 3 + more);
	pids(s, after, 3);
	for (int i = 0; i < 3; i++) {
		if (restarted[i])
			assert_int_not_equal(after[i], before[i]);
		else
			assert_int_equal(after[i], before[i]);
		assert_true(after[i] > 0);
	}
	assert_int_equal(exit_code_of("b"), -SIGKILL);
	assert_int_equal(get(&n_restart), 1);
	TP_OK_OR_FAIL(tp_sup_stop(s));
	for (int i = 0; i < 3; i++)
		assert_int_not_equal(kill(after[i], 0), 0); /* all gone */
	assert_int_equal(exit_code_of("a"), -SIGTERM);
	tp_sup_free(s);
}

static void test_one_for_one(void **state)
{
	(void)state;
	static const int r[3] = {0, 1, 0};
	for (int i = 0; i < NMETHODS; i++)
		run_strategy(TP_ONE_FOR_ONE, methods[i], r);
}

static void test_one_for_all(void **state)
{
	(void)state;
	static const int r[3] = {1, 1, 1};
	for (int i = 0; i < NMETHODS; i++)
		run_strategy(TP_ONE_FOR_ALL, methods[i], r);
}

static void test_rest_for_one(void **state)
{
	(void)state;
	static const int r[3] = {0, 1, 1};
	for (int i = 0; i < NMETHODS; i++)
		run_strategy(TP_REST_FOR_ONE, methods[i], r);
}

/* Two kills within the period with intensity 1: the root fails, and every
 * child is stopped. */
static void run_intensity(tp_start_method m)
{
	pid_t p[2];
	ev_reset();
	tp_sup *s = new_sup(TP_ONE_FOR_ONE, 1);
	add_target(s, "a", idle, NULL, TP_PERMANENT, m);
	add_target(s, "b", idle, NULL, TP_PERMANENT, m);
	TP_OK_OR_FAIL(tp_sup_start(s));
	pids(s, p, 2);
	pid_t keep = p[1];
	kill(p[0], SIGKILL);
	wait_count(&n_ready, 3);
	pids(s, p, 2);
	kill(p[0], SIGKILL);
	TP_EXPECT(tp_sup_wait(s, 30000), TP_EDIED);
	assert_int_equal(get(&n_escalate), 1);
	assert_int_not_equal(kill(keep, 0), 0);
	pids(s, p, 2);
	assert_int_equal(p[0], 0);
	assert_int_equal(p[1], 0);
	tp_sup_free(s);
}

static void test_intensity_escalates(void **state)
{
	(void)state;
	run_intensity(TP_START_FORKSERVER);
	run_intensity(TP_START_SPAWN);
}

/* A nested supervisor of targets that fails is a dead child of its
 * parent, which restarts it. */
static void test_nested_escalation(void **state)
{
	(void)state;
	tp_sup *root = new_sup(TP_ONE_FOR_ONE, 3), *sub;
	tp_sup_flags f = TP_SUP_FLAGS_INIT;
	f.intensity = 0;
	f.period_ms = 60000;
	TP_OK_OR_FAIL(tp_sup_add_sup(root, "sub", &f, TP_PERMANENT, &sub));
	add_target(sub, "w", idle, NULL, TP_PERMANENT, TP_START_FORKSERVER);
	TP_OK_OR_FAIL(tp_sup_start(root));
	pid_t p1, p2;
	pids(sub, &p1, 1);
	kill(p1, SIGKILL);
	wait_count(&n_escalate, 1);
	wait_count(&n_ready, 4); /* w, sub, then both again */
	pids(sub, &p2, 1);
	assert_true(p2 > 0 && p2 != p1);
	TP_OK_OR_FAIL(tp_sup_stop(root));
	tp_sup_free(root);
}

/* Arguments reach the target; its return value is the exit code;
 * transient after a normal exit and temporary are not restarted. */
static void test_restart_types_and_args(void **state)
{
	(void)state;
	tp_payload *zero, *seven;
	tp_payload_new(&zero);
	tp_payload_add_int(zero, 0);
	tp_payload_new(&seven);
	tp_payload_add_int(seven, 7);
	tp_sup *s = new_sup(TP_ONE_FOR_ONE, 0);
	add_target(s, "tr", exit_with, zero, TP_TRANSIENT, TP_START_SPAWN);
	add_target(s, "tmp", exit_with, seven, TP_TEMPORARY,
	           TP_START_FORKSERVER);
	tp_payload_free(zero);
	tp_payload_free(seven);
	TP_OK_OR_FAIL(tp_sup_start(s));
	wait_count(&n_exited, 2);
	assert_int_equal(exit_code_of("tr"), 0);
	assert_int_equal(exit_code_of("tmp"), 7);
	assert_int_equal(get(&n_restart), 0);
	TP_EXPECT(tp_sup_wait(s, 0), TP_ETIMEDOUT); /* still running */
	tp_child_counts n;
	TP_OK_OR_FAIL(tp_sup_count_children(s, &n));
	assert_int_equal(n.specs, 1); /* the temporary spec is gone */
	assert_int_equal(n.active, 0);
	TP_OK_OR_FAIL(tp_sup_stop(s));
	tp_sup_free(s);
}

/* A target ignoring the stop signal is killed after shutdown_ms. */
static void test_shutdown_timeout(void **state)
{
	(void)state;
	char path[300];
	struct stat st;
	snprintf(path, sizeof(path), "%s/stubborn", tp_runtime_dir());
	tp_payload *a;
	tp_payload_new(&a);
	tp_payload_add_string(a, path);
	tp_sup *s = new_sup(TP_ONE_FOR_ONE, 3);
	tp_child_spec c = TP_CHILD_SPEC_INIT;
	c.id = "stubborn";
	c.target = stubborn;
	c.args = a;
	c.shutdown_ms = 200;
	TP_OK_OR_FAIL(tp_sup_add_child(s, &c));
	tp_payload_free(a);
	TP_OK_OR_FAIL(tp_sup_start(s));
	for (int i = 0; i < 15000 && stat(path, &st) != 0; i++) {
		struct timespec d = {0, 2000000};
		nanosleep(&d, NULL); /* bounded wait for the marker */
	}
	assert_int_equal(stat(path, &st), 0);
	TP_OK_OR_FAIL(tp_sup_stop(s));
	assert_int_equal(exit_code_of("stubborn"), -SIGKILL);
	unlink(path);
	tp_sup_free(s);
}

/* simple_one_for_one over a target: dynamic children with their own
 * arguments. */
static void test_simple_one_for_one(void **state)
{
	(void)state;
	tp_sup *s = new_sup(TP_SIMPLE_ONE_FOR_ONE, 3);
	add_target(s, "w", exit_with, NULL, TP_TEMPORARY, TP_START_FORKSERVER);
	TP_OK_OR_FAIL(tp_sup_start(s));
	tp_payload *a;
	tp_payload_new(&a);
	tp_payload_add_int(a, 5);
	tp_child_spec dyn = {0};
	dyn.args = a;
	char id[64];
	TP_OK_OR_FAIL(tp_sup_start_child(s, &dyn, id));
	tp_payload_free(a);
	assert_string_equal(id, "w-1");
	wait_count(&n_exited, 1);
	assert_int_equal(exit_code_of("w-1"), 5);
	TP_OK_OR_FAIL(tp_sup_stop(s));
	tp_sup_free(s);
}

static void test_spec_errors(void **state)
{
	(void)state;
	tp_sup *s = new_sup(TP_ONE_FOR_ONE, 3);
	char *argv[] = {"/bin/true", NULL};
	tp_child_spec c = TP_CHILD_SPEC_INIT;
	c.id = "x";
	c.target = not_registered;
	TP_EXPECT(tp_sup_add_child(s, &c), TP_ENOTREG);
	c.target = idle;
	c.argv = argv;
	TP_EXPECT(tp_sup_add_child(s, &c), TP_EINVAL); /* both */
	c.argv = NULL;
	c.capture = 1;
	TP_EXPECT(tp_sup_add_child(s, &c), TP_EINVAL);
	c.capture = 0;
	c.method = (tp_start_method)42;
	TP_EXPECT(tp_sup_add_child(s, &c), TP_EINVAL);
	c.method = TP_START_DEFAULT;
	c.target = NULL;
	TP_EXPECT(tp_sup_add_child(s, &c), TP_EINVAL); /* neither */
	tp_sup_free(s);
}

int main(void)
{
	tp_spawn_guard();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_one_for_one, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_one_for_all, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rest_for_one, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_intensity_escalates, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_nested_escalation, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_restart_types_and_args, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_shutdown_timeout, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_simple_one_for_one, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_spec_errors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
