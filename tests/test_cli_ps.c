/*
 * test_cli_ps.c - every troupe program has its own control socket: a
 * program holding a Process of each start method, a child of its own
 * under its root supervisor, a pool of two workers, a manager and a
 * logging actor shows in `troupe ps`, and `troupe tree|status|top -p PID`
 * show every one of them (the workers under their pool); `troupe
 * stop|signal|restart|start -p PID NAME` act on its children (the user's
 * join sees it; a Process is not restarted); a pid that is not a troupe
 * program is refused, another user can neither see nor stop anything,
 * and the socket refuses what it does not serve.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_util.h"
#include "cli.h"
#include "internal.h"

static int idle(const tp_payload *args, tp_payload *result)
{
	(void)args;
	(void)result;
	for (;;)
		pause();
	return 0;
}
TP_TARGET(idle);

static json_object *parse(const char *out)
{
	json_object *j = json_tokener_parse(out);
	if (j == NULL)
		fail_msg("not JSON: %s", out);
	return j;
}

static int count_type(json_object *kids, const char *type)
{
	int n = 0;
	for (size_t i = 0; i < json_object_array_length(kids); i++) {
		json_object *c = json_object_array_get_idx(kids, i), *sub;
		if (strcmp(jstr(c, "type"), type) == 0)
			n++;
		if (json_object_object_get_ex(c, "children", &sub))
			n += count_type(sub, type);
	}
	return n;
}

/* One Process per start method, each named "svc-METHOD"; the fork one
 * first, before anything touches nng. Daemonic: a failed test's exit does
 * not wait for them. */
static const char *const svc[3] = {"svc-fork", "svc-forkserver", "svc-spawn"};
static const tp_start_method svc_method[3] = {
    TP_START_FORK, TP_START_FORKSERVER, TP_START_SPAWN};

static pid_t child_pid(const char *id)
{
	tp_child_info *v;
	int n;
	pid_t pid = -1;
	TP_OK_OR_FAIL(tp_sup_which_children(tp_sup_root(), &v, &n));
	for (int i = 0; i < n; i++)
		if (strcmp(v[i].id, id) == 0)
			pid = v[i].pid;
	free(v);
	return pid;
}

/* troupe ARGS -p <this program> ...: its exit status, output in out. */
static int on_me(char *out, size_t len, const char *fmt, const char *name)
{
	char args[256];
	snprintf(args, sizeof(args), fmt, (int)getpid(), name);
	return troupe_raw(out, len, args);
}

static void test_ps_and_tree_of_a_program(void **state)
{
	(void)state;
	static char out[65536];
	char args[64];
	int code;
	tp_init_opts o = {0}; /* the default base: $XDG_RUNTIME_DIR/troupe */
	TP_OK_OR_FAIL(tp_init(&o));
	tp_process *p[3];
	for (int i = 0; i < 3; i++) {
		tp_process_opts po = {
		    .name = svc[i], .method = svc_method[i], .daemon = 1};
		TP_OK_OR_FAIL(tp_process_new(&p[i], idle, NULL, &po));
		TP_OK_OR_FAIL(tp_process_start(p[i]));
	}
	tp_pool *pool;
	TP_OK_OR_FAIL(tp_pool_new(&pool, 2, NULL, NULL, 0));
	tp_manager *m;
	TP_OK_OR_FAIL(tp_manager_start(&m, NULL));
	tp_log_config *lc;
	tp_log_actor *la;
	TP_OK_OR_FAIL(tp_log_config_new(&lc, "ps-test"));
	TP_OK_OR_FAIL(tp_log_config_set_console(lc, 0, TP_LOG_COLOUR_NEVER));
	TP_OK_OR_FAIL(tp_log_actor_start(lc, &la));
	/* A child of the user's own under the root supervisor. */
	char *argv[] = {"/bin/sleep", "600", NULL};
	tp_child_spec spec = TP_CHILD_SPEC_INIT;
	spec.id = "mine";
	spec.argv = argv;
	spec.log_path = "";
	TP_OK_OR_FAIL(tp_sup_start_child(tp_sup_root(), &spec, NULL));

	/* troupe ps lists this program with its children. */
	assert_int_equal(troupe_raw(out, sizeof(out), "ps --json"), 0);
	json_object *ps = parse(out), *me = NULL;
	for (size_t i = 0; i < json_object_array_length(ps); i++) {
		json_object *e = json_object_array_get_idx(ps, i);
		if (jint(e, "pid") == (int)getpid())
			me = e;
	}
	assert_non_null(me);
	/* 3 Processes, the manager, mine, the pool, 2 workers, logging */
	assert_int_equal(jint(me, "children"), 3 + 1 + 1 + 1 + 2 + 1);
	json_object_put(ps);
	assert_int_equal(troupe_raw(out, sizeof(out), "ps"), 0);
	snprintf(args, sizeof(args), "%d ", (int)getpid());
	assert_non_null(strstr(out, args));

	/* tree -p PID --json: every one of them. */
	assert_int_equal(on_me(out, sizeof(out), "tree -p %d --json%s", ""), 0);
	json_object *doc = parse(out), *kids;
	assert_true(json_object_object_get_ex(doc, "children", &kids));
	for (int i = 0; i < 3; i++) {
		json_object *c = json_find(kids, svc[i]);
		assert_non_null(c);
		assert_string_equal(jstr(c, "type"), "process");
		assert_string_equal(jstr(c, "command"), "idle");
		assert_string_equal(jstr(c, "state"), "running");
		assert_string_equal(jstr(c, "restart"), "temporary");
		assert_int_equal(jint(c, "pid"), (int)tp_process_pid(p[i]));
	}
	json_object *mine = json_find(kids, "mine");
	assert_non_null(mine);
	assert_string_equal(jstr(mine, "command"), "/bin/sleep 600");
	assert_int_equal(jint(mine, "pid"), (int)child_pid("mine"));
	assert_int_equal(count_type(kids, "process"), 3);
	assert_int_equal(count_type(kids, "manager"), 1);
	assert_int_equal(count_type(kids, "logging"), 1);
	assert_int_equal(count_type(kids, "pool"), 1);
	json_object *pl = json_find(kids, "pool-1"), *wk;
	assert_non_null(pl);
	assert_true(json_object_object_get_ex(pl, "children", &wk));
	assert_int_equal(json_object_array_length(wk), 2);
	for (int i = 0; i < 2; i++) {
		json_object *w = json_object_array_get_idx(wk, i);
		assert_string_equal(jstr(w, "type"), "worker");
		assert_int_equal(jint(w, "pid"),
		                 (int)tp_pool_worker_pid(pool, i));
	}
	json_object_put(doc);

	/* The manager with its objects and clients; a pool worker with the
	 * task it runs. */
	tp_proxy *dict;
	tp_pool_result *res;
	TP_OK_OR_FAIL(tp_manager_create(m, "dict", NULL, &dict));
	TP_OK_OR_FAIL(
	    tp_pool_apply_async(pool, idle, NULL, NULL, NULL, NULL, &res));
	json_object *busy = NULL, *mgr = NULL;
	for (int64_t end = now_ms() + 10000; busy == NULL;) {
		assert_int_equal(
		    on_me(out, sizeof(out), "tree -p %d --json%s", ""), 0);
		doc = parse(out);
		assert_true(json_object_object_get_ex(doc, "children", &kids));
		json_object *w0 = json_find(kids, "PoolWorker-1"),
		            *w1 = json_find(kids, "PoolWorker-2");
		const char *t0 = w0 ? jstr(w0, "task") : NULL,
		           *t1 = w1 ? jstr(w1, "task") : NULL;
		if ((t0 && strcmp(t0, "idle") == 0) ||
		    (t1 && strcmp(t1, "idle") == 0)) {
			busy = t0 && strcmp(t0, "idle") == 0 ? w0 : w1;
			break;
		}
		json_object_put(doc);
		if (now_ms() > end)
			fail_msg("no worker shows the task idle: %s", out);
		nap(20);
	}
	assert_true(jint(busy, "task_ms") >= 0);
	assert_int_equal(jint(busy, "msgs_out"), 1); /* in flight */
	for (size_t i = 0; i < json_object_array_length(kids); i++)
		if (strcmp(jstr(json_object_array_get_idx(kids, i), "type"),
		           "manager") == 0)
			mgr = json_object_array_get_idx(kids, i);
	assert_non_null(mgr);
	assert_int_equal(jint(mgr, "objects"), 1);
	assert_int_equal(jint(mgr, "clients"), 1); /* this program */
	json_object_put(doc);
	assert_int_equal(on_me(out, sizeof(out), "tree -p %d%s", ""), 0);
	assert_non_null(strstr(out, ", running idle for "));
	assert_non_null(strstr(out, ", 1 object, 1 client)"));
	tp_proxy_free(dict);

	/* The plain rendering names them too; status NAME only that. */
	on_me(out, sizeof(out), "status -p %d%s", "");
	assert_non_null(strstr(out, "svc-spawn"));
	assert_non_null(strstr(out, "pool-1"));
	assert_int_equal(on_me(out, sizeof(out), "status -p %d %s", "mine"), 0);
	assert_non_null(strstr(out, "mine"));
	assert_null(strstr(out, "svc-spawn"));
	/* top -p: one screen as text (stdout is not a terminal). */
	assert_int_equal(on_me(out, sizeof(out), "top -p %d -n 1%s", ""), 0);
	assert_non_null(strstr(out, "svc-forkserver"));

	/* stop, signal: the user's join sees what the CLI did. */
	assert_int_equal(on_me(out, sizeof(out), "stop -p %d %s", svc[2]), 0);
	assert_non_null(strstr(out, "svc-spawn: stopped"));
	TP_OK_OR_FAIL(tp_process_join(p[2], 10000));
	TP_OK_OR_FAIL(tp_process_exitcode(p[2], &code));
	assert_int_equal(code, -SIGTERM);
	assert_int_equal(
	    on_me(out, sizeof(out), "signal -p %d KILL %s", svc[0]), 0);
	TP_OK_OR_FAIL(tp_process_join(p[0], 10000));
	TP_OK_OR_FAIL(tp_process_exitcode(p[0], &code));
	assert_int_equal(code, -SIGKILL);
	assert_int_equal(on_me(out, sizeof(out), "tree -p %d --json%s", ""), 0);
	doc = parse(out);
	assert_true(json_object_object_get_ex(doc, "children", &kids));
	assert_string_equal(jstr(json_find(kids, svc[2]), "state"), "stopped");
	assert_int_equal(jint(json_find(kids, svc[2]), "last_exit"), -SIGTERM);
	assert_int_equal(jint(json_find(kids, svc[0]), "last_exit"), -SIGKILL);
	json_object_put(doc);

	/* restart: the user's child is restarted; a Process is not. */
	pid_t before = child_pid("mine");
	assert_int_equal(on_me(out, sizeof(out), "restart -p %d %s", "mine"),
	                 0);
	assert_true(child_pid("mine") > 0);
	assert_int_not_equal(child_pid("mine"), before);
	assert_int_equal(on_me(out, sizeof(out), "restart -p %d %s", svc[1]),
	                 1);
	assert_non_null(strstr(out, "started by its program"));
	assert_true(tp_process_is_alive(p[1]));
	assert_int_equal(on_me(out, sizeof(out), "stop -p %d %s", "nosuch"), 2);
	assert_int_equal(on_me(out, sizeof(out), "stop -p %d %s", "mine"), 0);
	assert_int_equal(child_pid("mine"), 0);
	assert_int_equal(on_me(out, sizeof(out), "start -p %d %s", "mine"), 0);
	assert_true(child_pid("mine") > 0);

	/* What a program's socket does not serve, and a pid that is not a
	 * troupe program of this user. */
	assert_int_equal(troupe_raw(out, sizeof(out), "tree -p 1"), 2);
	assert_non_null(strstr(out, "no troupe program"));

	char path[300];
	Troupe__SupRequest req = TROUPE__SUP_REQUEST__INIT;
	Troupe__Envelope *env = NULL;
	req.command = "reload";
	snprintf(path, sizeof(path), "%s/ctl.sock", tp_runtime_dir());
	TP_OK_OR_FAIL(ctl_call(path, &req, &env, 10000));
	assert_int_equal(env->sup_reply->code, TP_EINVAL);
	tp__envelope_free(env);

	tp_log_actor_stop(la);
	tp_log_actor_free(la);
	tp_log_config_free(lc);
	tp_manager_shutdown(m);
	tp_pool_terminate(pool);
	tp_payload *none = NULL;
	assert_int_not_equal(tp_pool_result_get(res, &none, 10000), TP_OK);
	tp_pool_join(pool, -1);
	tp_pool_result_free(res);
	tp_pool_free(pool);
	for (int i = 0; i < 3; i++) {
		tp_process_kill(p[i]);
		tp_process_join(p[i], -1);
		tp_process_free(p[i]);
	}
	TP_OK_OR_FAIL(tp_fini());
}

/* Runs troupe CMD -p PID [NAME] as nobody: its exit status, output in
 * out. 98/99: could not exec or switch users. */
static int as_nobody(char *out, size_t len, const char *cmd, const char *pid,
                     const char *name, const char *name2)
{
	int fds[2], st;
	size_t got = 0;
	ssize_t n;
	assert_int_equal(pipe(fds), 0);
	pid_t k = fork();
	if (k == 0) {
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(99);
		execl(TROUPE_BIN, "troupe", cmd, "-p", pid, name, name2,
		      (char *)NULL);
		_exit(98);
	}
	close(fds[1]);
	while ((n = read(fds[0], out + got, len - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(k, &st, 0), k);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* Another user cannot look into the program nor act on it: run as
 * nobody, the CLI cannot reach its socket (0700 run base, 0600 socket)
 * and shows nothing of it; its stop changes nothing. Needs root to switch
 * users; skipped otherwise. */
static void test_other_uid_refused(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	char pidarg[32], out[4096] = "";
	tp_init_opts o = {0};
	TP_OK_OR_FAIL(tp_init(&o));
	tp_process *p;
	tp_process_opts po = {.name = "secret", .daemon = 1};
	TP_OK_OR_FAIL(tp_process_new(&p, idle, NULL, &po));
	TP_OK_OR_FAIL(tp_process_start(p));
	snprintf(pidarg, sizeof(pidarg), "%d", (int)getpid());
	int rv = as_nobody(out, sizeof(out), "tree", pidarg, "--json", NULL);
	assert_true(rv != 0 && rv != 98 && rv != 99);
	assert_null(strstr(out, "secret"));
	rv = as_nobody(out, sizeof(out), "stop", pidarg, "secret", NULL);
	assert_true(rv != 0 && rv != 98 && rv != 99);
	assert_null(strstr(out, "stopped"));
	rv = as_nobody(out, sizeof(out), "signal", pidarg, "KILL", "secret");
	assert_true(rv != 0 && rv != 98 && rv != 99);
	assert_null(strstr(out, "signalled"));
	assert_true(tp_process_is_alive(p));
	tp_process_kill(p);
	tp_process_join(p, -1);
	tp_process_free(p);
	TP_OK_OR_FAIL(tp_fini());
}

int main(void)
{
	tp_spawn_guard();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_ps_and_tree_of_a_program,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_uid_refused, setup,
	                                    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
