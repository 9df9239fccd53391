/*
 * test_svc_supervised.c - the framework's own services are children of
 * the program's root supervisor (issue 14): a manager killed with -9
 * under every start method gives its clients TP_EDIED, never a hang, and
 * is not restarted (temporary); a permanent one is restarted empty on the
 * same address and says so in the log; the logging actor and the manager
 * are listed among the root's children.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "logtest.h"
#include "testutil.h"
#include "troupe/manager.h"
#include "troupe/supervisor.h"

static const tp_start_method methods[] = {TP_START_FORKSERVER, TP_START_SPAWN,
                                          TP_START_FORK};
static const char KEY[] = "svc test key";

/* A client in another process: sets the event, then waits forever on the
 * empty queue. 0 when the wait ended with TP_EDIED (the manager died). */
static int t_waiter(const tp_payload *args, tp_payload *res)
{
	tp_proxy *e, *q;
	tp_payload *out;
	(void)res;
	if (tp_payload_get_proxy(args, 0, NULL, 0, &e) != TP_OK ||
	    tp_payload_get_proxy(args, 1, NULL, 0, &q) != TP_OK ||
	    tp_payload_new(&out) != TP_OK)
		return 2;
	if (tp_mevent_set(e) != TP_OK)
		return 3;
	int rv = tp_mqueue_get(q, out, -1);
	tp_payload_free(out);
	tp_proxy_free(e);
	tp_proxy_free(q);
	return rv == TP_EDIED ? 0 : 4;
}
TP_TARGET(t_waiter);

/* The root's children whose id starts with prefix. */
static int root_children(const char *prefix)
{
	tp_child_info *v = NULL;
	int n = 0, k = 0;
	TP_OK_OR_FAIL(tp_sup_which_children(tp_sup_root(), &v, &n));
	for (int i = 0; i < n; i++)
		k += strncmp(v[i].id, prefix, strlen(prefix)) == 0;
	free(v);
	return k;
}

static void killed_temporary(tp_start_method method)
{
	tp_manager *m;
	tp_proxy *e, *q, *d;
	tp_payload *args, *out;
	tp_process *w;
	int64_t n;
	int code = -1;
	tp_test_init(method);
	TP_OK_OR_FAIL(tp_manager_start(&m, NULL));
	assert_int_equal(root_children("SyncManager"), 1);
	TP_OK_OR_FAIL(tp_manager_event(m, &e));
	TP_OK_OR_FAIL(tp_manager_queue(m, 0, &q));
	TP_OK_OR_FAIL(tp_manager_dict(m, &d));
	TP_OK_OR_FAIL(tp_payload_new(&args));
	TP_OK_OR_FAIL(tp_payload_new(&out));
	TP_OK_OR_FAIL(tp_payload_add_proxy(args, e));
	TP_OK_OR_FAIL(tp_payload_add_proxy(args, q));
	TP_OK_OR_FAIL(tp_process_new(&w, t_waiter, args, NULL));
	TP_OK_OR_FAIL(tp_process_start(w));
	TP_OK_OR_FAIL(tp_mevent_wait(e, 20000)); /* the client is there */
	pid_t pid = tp_manager_pid(m);
	assert_true(pid > 0);
	assert_int_equal(kill(pid, SIGKILL), 0);
	/* this process's blocking call, and the other client's */
	TP_EXPECT(tp_mqueue_get(q, out, -1), TP_EDIED);
	TP_EXPECT(tp_dict_len(d, &n), TP_EDIED);
	TP_OK_OR_FAIL(tp_process_join(w, 30000));
	TP_OK_OR_FAIL(tp_process_exitcode(w, &code));
	assert_int_equal(code, 0);
	/* temporary: not restarted, its spec gone from the root */
	int64_t end = 20000;
	while (root_children("SyncManager") != 0 && end-- > 0)
		tp_sup_wait(tp_sup_root(), 1); /* the loop reaps it */
	assert_int_equal(root_children("SyncManager"), 0);
	tp_process_free(w);
	tp_payload_free(args);
	tp_payload_free(out);
	tp_proxy_free(e);
	tp_proxy_free(q);
	tp_proxy_free(d);
	TP_OK_OR_FAIL(tp_manager_shutdown(m)); /* already gone: still ok */
	tp_test_fini();
}

/* kill -9 of a manager under every start method: every client gets
 * TP_EDIED (none hangs) and the temporary manager is not restarted. */
static void test_manager_killed_clients_get_edied(void **state)
{
	(void)state;
	for (size_t i = 0; i < 3; i++)
		killed_temporary(methods[i]);
}

static int file_has(const char *path, const char *what)
{
	struct lt_lines l = {0};
	int found = 0;
	lt_read(&l, path);
	for (size_t i = 0; i < l.n; i++)
		found |= strstr(l.v[i], what) != NULL;
	lt_free(&l);
	return found;
}

struct says {
	const char *path, *what;
};

static int says_it(void *arg)
{
	struct says *s = arg;
	return file_has(s->path, s->what);
}

struct reconnect {
	tp_manager *m, *m2;
};

/* The same address answers again (each try bounded). */
static int reconnects(void *arg)
{
	struct reconnect *r = arg;
	return tp_manager_connect(&r->m2, tp_manager_address(r->m), KEY,
	                          sizeof(KEY) - 1, 100) == TP_OK;
}

/* A permanent manager killed with -9: its clients get TP_EDIED, the root
 * supervisor restarts it on the same address, empty, and the new server
 * says so through the logging actor. */
static void test_permanent_manager_restarts_empty(void **state)
{
	tp_manager_opts o = {
	    .authkey = KEY, .authkey_len = sizeof(KEY) - 1, .permanent = 1};
	tp_manager *m, *m2 = NULL;
	tp_proxy *d;
	tp_log_config *c;
	tp_log_actor *a;
	char path[256];
	int64_t n = -1;
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	lt_path(path, sizeof(path), "mgr.log");
	TP_OK_OR_FAIL(tp_log_config_new(&c, "svc"));
	TP_OK_OR_FAIL(tp_log_config_set_console(c, 0, TP_LOG_COLOUR_NEVER));
	TP_OK_OR_FAIL(tp_log_config_set_file(c, path, 0, 0));
	TP_OK_OR_FAIL(tp_log_config_set_delete_existing(c, 1));
	TP_OK_OR_FAIL(tp_log_actor_start(c, &a));
	assert_int_equal(root_children("log-actor"), 1);
	TP_OK_OR_FAIL(tp_manager_start(&m, &o));
	TP_OK_OR_FAIL(tp_manager_dict(m, &d));
	TP_OK_OR_FAIL(tp_dict_set(d, tp_int(1), tp_int(2)));
	pid_t old = tp_manager_pid(m);
	assert_int_equal(kill(old, SIGKILL), 0);
	TP_EXPECT(tp_dict_len(d, &n), TP_EDIED);
	/* the same address answers again: a new server */
	struct reconnect r = {m, NULL};
	assert_true(lt_wait(reconnects, &r, 20000));
	m2 = r.m2;
	assert_non_null(m2);
	pid_t now = tp_manager_pid(m);
	assert_true(now > 0 && now != old);
	tp_proxy *d2;
	TP_OK_OR_FAIL(tp_manager_dict(m2, &d2));
	TP_OK_OR_FAIL(tp_dict_len(d2, &n));
	assert_int_equal(n, 0); /* empty */
	struct says s = {path, "manager restarted EMPTY"};
	assert_true(lt_wait(says_it, &s, 20000));
	tp_proxy_free(d2);
	tp_proxy_free(d);
	tp_manager_free(m2);
	TP_OK_OR_FAIL(tp_manager_shutdown(m)); /* stops it for good */
	assert_int_equal(root_children("SyncManager"), 0);
	tp_log_actor_free(a);
	tp_log_config_free(c);
	tp_test_fini();
}

int main(void)
{
	tp_spawn_guard();
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_manager_killed_clients_get_edied),
	    cmocka_unit_test(test_permanent_manager_restarts_empty),
	};
	int rv = cmocka_run_group_tests(tests, NULL, NULL);
	lt_clean();
	return rv;
}
