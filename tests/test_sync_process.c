/* test_sync_process.c - every sync/shared object type passed in the args
 * of a tp_process, to fork-server and spawned children (which inherit no
 * mapping from the parent), used there, and seen by the parent; and a
 * child killed holding a passed Lock. */
#include "sync_util.h"

/* Attaches every handle and uses it; returns the first failed step. */
static int use_all(const tp_payload *args, tp_payload *result)
{
	(void)result;
	return su_use_all(args);
}
TP_TARGET(use_all);

static void every_type(tp_start_method method)
{
	struct su_all o;
	tp_process *proc;
	tp_process_opts opts = {.method = method};
	su_all_new(&o);
	TP_OK_OR_FAIL(tp_process_new(&proc, use_all, o.p, &opts));
	TP_OK_OR_FAIL(tp_process_start(proc));
	int brv = tp_barrier_wait(o.b, 10000, NULL);
	TP_OK_OR_FAIL(tp_process_join(proc, 10000));
	int code = -1;
	TP_OK_OR_FAIL(tp_process_exitcode(proc, &code));
	assert_int_equal(code, 0); /* else: the step that failed */
	TP_OK_OR_FAIL(brv);
	tp_process_free(proc);
	su_all_check_free(&o);
}

static void test_every_type_forkserver_and_spawn(void **state)
{
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	every_type(TP_START_FORKSERVER);
	every_type(TP_START_SPAWN);
	assert_int_equal(su_shm_count(), 0);
	su_fini();
}

static int acted;

static void mark(void *arg)
{
	(void)arg;
	acted = 1;
}

/* Completes a one-party round: 0 if the action ran here, 12 if not. */
static int one_round(const tp_payload *args, tp_payload *result)
{
	tp_barrier *b;
	(void)result;
	if (tp_payload_get_barrier(args, 0, &b) || tp_barrier_wait(b, -1, NULL))
		return 1;
	tp_barrier_free(b);
	return acted ? 0 : 12;
}
TP_TARGET(one_round);

static int run_round(tp_payload *p, tp_start_method method)
{
	tp_process *proc;
	tp_process_opts o = {.method = method};
	int code = -1;
	TP_OK_OR_FAIL(tp_process_new(&proc, one_round, p, &o));
	TP_OK_OR_FAIL(tp_process_start(proc));
	TP_OK_OR_FAIL(tp_process_join(proc, 10000));
	TP_OK_OR_FAIL(tp_process_exitcode(proc, &code));
	tp_process_free(proc);
	return code;
}

static void test_barrier_action_travels(void **state)
{
	(void)state;
	tp_barrier *b;
	tp_payload *p;
	int token;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_barrier_new(&b, 1, mark, NULL, -1));
	TP_OK_OR_FAIL(tp_payload_new(&p));
	TP_OK_OR_FAIL(tp_payload_add_barrier(p, b));
	/* Same program image: the action runs in the child. */
	assert_int_equal(run_round(p, TP_START_FORKSERVER), 0);
	/* A spawned child is another image (with address randomisation, the
	 * kernel's default): no action there. */
	FILE *f = fopen("/proc/sys/kernel/randomize_va_space", "r");
	int aslr = 1;
	if (f != NULL) {
		if (fscanf(f, "%d", &aslr) != 1)
			aslr = 1;
		fclose(f);
	}
	assert_int_equal(run_round(p, TP_START_SPAWN), aslr ? 12 : 0);
	tp_payload_free(p);
	tp_barrier_free(b);
	/* An action with an argument does not travel. */
	TP_OK_OR_FAIL(tp_barrier_new(&b, 1, mark, &token, -1));
	TP_OK_OR_FAIL(tp_payload_new(&p));
	TP_OK_OR_FAIL(tp_payload_add_barrier(p, b));
	assert_int_equal(run_round(p, TP_START_FORKSERVER), 12);
	tp_payload_free(p);
	tp_barrier_free(b);
	su_fini();
}

static int die_holding(const tp_payload *args, tp_payload *result)
{
	tp_lock *l;
	(void)result;
	if (tp_payload_get_lock(args, 0, &l) || tp_lock_acquire(l, -1))
		return 1;
	raise(SIGKILL);
	return 2;
}
TP_TARGET(die_holding);

static void test_killed_holder_in_process(void **state)
{
	(void)state;
	tp_lock *l;
	tp_payload *p;
	tp_process *proc;
	int code;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_lock_new(&l));
	TP_OK_OR_FAIL(tp_payload_new(&p));
	TP_OK_OR_FAIL(tp_payload_add_lock(p, l));
	TP_OK_OR_FAIL(tp_process_new(&proc, die_holding, p, NULL));
	TP_OK_OR_FAIL(tp_process_start(proc));
	TP_OK_OR_FAIL(tp_process_join(proc, 10000));
	TP_OK_OR_FAIL(tp_process_exitcode(proc, &code));
	assert_int_equal(code, -SIGKILL);
	TP_EXPECT(tp_lock_acquire(l, 1000), TP_EOWNERDEAD);
	TP_OK_OR_FAIL(tp_lock_release(l));
	tp_process_free(proc);
	tp_payload_free(p);
	tp_lock_free(l);
	assert_int_equal(su_shm_count(), 0);
	su_fini();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_type_forkserver_and_spawn),
	    cmocka_unit_test(test_killed_holder_in_process),
	    cmocka_unit_test(test_barrier_action_travels),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
