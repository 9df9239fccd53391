/* test_manager_storm.c - kill -9 around a manager. Several clients use a
 * dict, a list, a lock and a queue while the test SIGKILLs one of them at
 * random points (holding the lock or not, mid-call or not) and starts a
 * replacement; afterwards the survivors finish, fresh clients make
 * progress with bounded timeouts, a dead client's lock is free and the
 * list's accounting adds up. And the manager itself killed under load:
 * every client gets TP_EDIED, none hangs. Bounded in time and count. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#define WORKERS 4
#define KILLS   12

/* args: dict, list, lock, queue, stop event. Loops until stop is set:
 * under the lock, the list grows by one and the dict counts it; a queue
 * round trip outside. Exit 0, or the failing step. A killed client's
 * lock must come back, so an acquire that times out is a failure. */
static int t_client(const tp_payload *args, tp_payload *res)
{
	tp_proxy *px[5];
	tp_payload *out;
	int set = 0, rv = TP_OK, step = 0;
	(void)res;
	for (int i = 0; i < 5; i++)
		if (tp_payload_get_proxy(args, (size_t)i, NULL, 0, &px[i]))
			return 90;
	tp_payload_new(&out);
	while (rv == TP_OK && !set) {
		step = 1;
		if ((rv = tp_mlock_acquire(px[2], 10000)) != TP_OK)
			break;
		step = 2;
		if ((rv = tp_list_append(px[1], tp_int(getpid()))) != TP_OK)
			break;
		step = 3;
		tp_payload_clear(out);
		int64_t n = 0;
		if ((rv = tp_list_len(px[1], &n)) != TP_OK ||
		    (rv = tp_dict_set(px[0], tp_str("n"), tp_int(n))) != TP_OK)
			break;
		step = 4;
		if ((rv = tp_mlock_release(px[2])) != TP_OK)
			break;
		step = 5;
		if ((rv = tp_mqueue_put(px[3], tp_int(1), 1000)) != TP_OK)
			break;
		rv = tp_mqueue_get(px[3], out, 50);
		rv = rv == TP_EEMPTY ? TP_OK : rv; /* another took it */
		step = 6;
		if (rv == TP_OK)
			rv = tp_mevent_is_set(px[4], &set);
	}
	if (rv != TP_OK)
		fprintf(stderr, "client %d: step %d: %s\n", (int)getpid(), step,
		        tp_strerror(rv));
	tp_payload_free(out);
	for (int i = 0; i < 5; i++)
		tp_proxy_free(px[i]);
	return rv == TP_OK ? 0 : 10 + step;
}
TP_TARGET(t_client);

static tp_process *start_client(tp_payload *args)
{
	tp_process *p;
	TP_OK_OR_FAIL(tp_process_new(&p, t_client, args, NULL));
	TP_OK_OR_FAIL(tp_process_start(p));
	return p;
}

/* The objects t_client uses, in a payload, and WORKERS clients on it. */
static tp_payload *start_clients(tp_manager *m, tp_proxy *px[5],
                                 tp_process *w[WORKERS])
{
	tp_payload *args;
	TP_OK_OR_FAIL(tp_manager_dict(m, &px[0]));
	TP_OK_OR_FAIL(tp_manager_list(m, NULL, &px[1]));
	TP_OK_OR_FAIL(tp_manager_lock(m, &px[2]));
	TP_OK_OR_FAIL(tp_manager_queue(m, 0, &px[3]));
	TP_OK_OR_FAIL(tp_manager_event(m, &px[4]));
	TP_OK_OR_FAIL(tp_payload_new(&args));
	for (int i = 0; i < 5; i++)
		TP_OK_OR_FAIL(tp_payload_add_proxy(args, px[i]));
	for (int i = 0; i < WORKERS; i++)
		w[i] = start_client(args);
	return args;
}

static void test_client_kill_storm(void **state)
{
	tp_manager *m;
	tp_proxy *px[5];
	tp_payload *args, *out;
	tp_process *w[WORKERS];
	int code;
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_manager_start(&m, NULL));
	args = start_clients(m, px, w);
	srand((unsigned)getpid());
	for (int k = 0; k < KILLS; k++) {
		int i = rand() % WORKERS;
		usleep((useconds_t)(rand() % 40000)); /* a random point */
		TP_OK_OR_FAIL(tp_process_kill(w[i]));
		TP_OK_OR_FAIL(tp_process_join(w[i], 10000));
		tp_process_free(w[i]);
		w[i] = start_client(args);
	}
	/* the survivors finish cleanly */
	TP_OK_OR_FAIL(tp_mevent_set(px[4]));
	for (int i = 0; i < WORKERS; i++) {
		TP_OK_OR_FAIL(tp_process_join(w[i], 30000));
		TP_OK_OR_FAIL(tp_process_exitcode(w[i], &code));
		assert_int_equal(code, 0);
		tp_process_free(w[i]);
	}
	/* the lock is free (whoever died holding it), and the count the
	 * dict holds is the list's length at the last completed update */
	TP_OK_OR_FAIL(tp_mlock_acquire(px[2], 5000));
	int64_t len = 0, n = 0;
	TP_OK_OR_FAIL(tp_list_len(px[1], &len));
	TP_OK_OR_FAIL(tp_payload_new(&out));
	TP_OK_OR_FAIL(tp_dict_get(px[0], tp_str("n"), out));
	TP_OK_OR_FAIL(tp_payload_get_int(out, 0, &n));
	assert_true(n > 0);
	/* a client killed between its append and its count leaves one more */
	assert_true(len >= n && len <= n + KILLS);
	TP_OK_OR_FAIL(tp_mlock_release(px[2]));
	tp_payload_free(out);
	tp_payload_free(args);
	for (int i = 0; i < 5; i++)
		tp_proxy_free(px[i]);
	TP_OK_OR_FAIL(tp_manager_shutdown(m));
	tp_test_fini();
}

/* The manager SIGKILLed while clients are busy (one waiting on the lock
 * another holds, others calling): each gets TP_EDIED and exits. */
static void manager_killed_under_load(const tp_manager_opts *o)
{
	tp_manager *m;
	tp_proxy *px[5];
	tp_payload *args;
	tp_process *w[WORKERS];
	int code;
	tp_test_init(TP_START_DEFAULT);
	TP_OK_OR_FAIL(tp_manager_start(&m, o));
	args = start_clients(m, px, w);
	/* they are running once the list grows */
	int64_t len = 0;
	for (int i = 0; i < 100000 && len < 20; i++)
		TP_OK_OR_FAIL(tp_list_len(px[1], &len));
	assert_true(len >= 20);
	assert_int_equal(kill(tp_manager_pid(m), SIGKILL), 0);
	for (int i = 0; i < WORKERS; i++) {
		TP_OK_OR_FAIL(tp_process_join(w[i], 30000)); /* no hang */
		TP_OK_OR_FAIL(tp_process_exitcode(w[i], &code));
		assert_true(code > 10); /* stopped by TP_EDIED at some step */
		tp_process_free(w[i]);
	}
	TP_EXPECT(tp_list_len(px[1], &len), TP_EDIED);
	tp_payload_free(args);
	for (int i = 0; i < 5; i++)
		tp_proxy_free(px[i]);
	TP_OK_OR_FAIL(tp_manager_shutdown(m));
	tp_test_fini();
}

static void test_manager_killed_under_load(void **state)
{
	tp_manager_opts tcp = {.address = "tcp://127.0.0.1:0"};
	(void)state;
	manager_killed_under_load(NULL);
	manager_killed_under_load(&tcp);
}

int main(void)
{
	tp_spawn_guard();
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_client_kill_storm),
	    cmocka_unit_test(test_manager_killed_under_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
