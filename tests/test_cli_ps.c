/*
 * test_cli_ps.c - every troupe program has its own control socket: a
 * program holding two Processes, a pool of two workers, a manager and a
 * logging actor shows in `troupe ps`, and `troupe tree -p PID --json`
 * shows every one of them (the workers under their pool); a pid that is
 * not a troupe program is refused, another user sees nothing of it, and
 * the socket refuses what it does not serve.
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

static void test_ps_and_tree_of_a_program(void **state)
{
	(void)state;
	static char out[65536];
	char args[64];
	tp_init_opts o = {0}; /* the default base: $XDG_RUNTIME_DIR/troupe */
	TP_OK_OR_FAIL(tp_init(&o));
	tp_process *p[2];
	tp_process_opts po = {.name = "svc"};
	TP_OK_OR_FAIL(tp_process_new(&p[0], idle, NULL, &po));
	po.name = "svc2";
	TP_OK_OR_FAIL(tp_process_new(&p[1], idle, NULL, &po));
	for (int i = 0; i < 2; i++)
		TP_OK_OR_FAIL(tp_process_start(p[i]));
	tp_pool *pool;
	TP_OK_OR_FAIL(tp_pool_new(&pool, 2, NULL, NULL, 0));
	tp_manager *m;
	TP_OK_OR_FAIL(tp_manager_start(&m, NULL));
	tp_log_config *lc;
	tp_log_actor *la;
	TP_OK_OR_FAIL(tp_log_config_new(&lc, "ps-test"));
	TP_OK_OR_FAIL(tp_log_config_set_console(lc, 0, TP_LOG_COLOUR_NEVER));
	TP_OK_OR_FAIL(tp_log_actor_start(lc, &la));

	/* troupe ps lists this program with its children. */
	assert_int_equal(troupe_raw(out, sizeof(out), "ps --json"), 0);
	json_object *ps = parse(out), *me = NULL;
	for (size_t i = 0; i < json_object_array_length(ps); i++) {
		json_object *e = json_object_array_get_idx(ps, i);
		if (jint(e, "pid") == (int)getpid())
			me = e;
	}
	assert_non_null(me);
	assert_int_equal(jint(me, "children"), 2 + 1 + 2 + 1 + 1);
	json_object_put(ps);
	assert_int_equal(troupe_raw(out, sizeof(out), "ps"), 0);
	snprintf(args, sizeof(args), "%d ", (int)getpid());
	assert_non_null(strstr(out, args));

	/* tree -p PID --json: every one of them. */
	snprintf(args, sizeof(args), "tree -p %d --json", (int)getpid());
	assert_int_equal(troupe_raw(out, sizeof(out), args), 0);
	json_object *doc = parse(out), *kids;
	assert_true(json_object_object_get_ex(doc, "children", &kids));
	json_object *svc = json_find(kids, "svc");
	assert_non_null(svc);
	assert_string_equal(jstr(svc, "type"), "process");
	assert_string_equal(jstr(svc, "command"), "idle");
	assert_int_equal(jint(svc, "pid"), (int)tp_process_pid(p[0]));
	assert_non_null(json_find(kids, "svc2"));
	assert_int_equal(count_type(kids, "process"), 2);
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

	/* The plain rendering names them too. */
	snprintf(args, sizeof(args), "status -p %d", (int)getpid());
	troupe_raw(out, sizeof(out), args);
	assert_non_null(strstr(out, "svc2"));
	assert_non_null(strstr(out, "pool-1"));

	/* What a program's socket does not serve, and a pid that is not a
	 * troupe program of this user. */
	snprintf(args, sizeof(args), "stop -p %d svc", (int)getpid());
	assert_int_equal(troupe_raw(out, sizeof(out), args), 2); /* usage */
	assert_int_equal(troupe_raw(out, sizeof(out), "tree -p 1"), 2);
	assert_non_null(strstr(out, "no troupe program"));

	char path[300];
	Troupe__SupRequest req = TROUPE__SUP_REQUEST__INIT;
	Troupe__Envelope *env = NULL;
	req.command = "stop";
	snprintf(path, sizeof(path), "%s/ctl.sock", tp_runtime_dir());
	TP_OK_OR_FAIL(ctl_call(path, &req, &env, 10000));
	assert_int_equal(env->sup_reply->code, TP_EINVAL);
	tp__envelope_free(env);

	tp_log_actor_stop(la);
	tp_log_actor_free(la);
	tp_log_config_free(lc);
	tp_manager_shutdown(m);
	tp_pool_terminate(pool);
	tp_pool_join(pool, -1);
	tp_pool_free(pool);
	for (int i = 0; i < 2; i++) {
		tp_process_kill(p[i]);
		tp_process_join(p[i], -1);
		tp_process_free(p[i]);
	}
	TP_OK_OR_FAIL(tp_fini());
}

/* Another user cannot look into the program: run as nobody, the CLI
 * cannot reach its socket (0700 run base, 0600 socket) and shows nothing
 * of it. Needs root to switch users; skipped otherwise. */
static void test_other_uid_refused(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	char pidarg[32], out[4096] = "";
	int fds[2], st;
	tp_init_opts o = {0};
	TP_OK_OR_FAIL(tp_init(&o));
	tp_process *p;
	tp_process_opts po = {.name = "secret"};
	TP_OK_OR_FAIL(tp_process_new(&p, idle, NULL, &po));
	TP_OK_OR_FAIL(tp_process_start(p));
	snprintf(pidarg, sizeof(pidarg), "%d", (int)getpid());
	assert_int_equal(pipe(fds), 0);
	pid_t k = fork();
	if (k == 0) {
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(99);
		execl(TROUPE_BIN, "troupe", "tree", "-p", pidarg, "--json",
		      (char *)NULL);
		_exit(98);
	}
	close(fds[1]);
	size_t got = 0;
	ssize_t n;
	while ((n = read(fds[0], out + got, sizeof(out) - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(k, &st, 0), k);
	assert_true(WIFEXITED(st));
	assert_int_not_equal(WEXITSTATUS(st), 0);
	assert_int_not_equal(WEXITSTATUS(st), 98);
	assert_int_not_equal(WEXITSTATUS(st), 99);
	assert_null(strstr(out, "secret"));
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
