/*
 * logging_process - seed 004 "Logging Process": named processes that each
 * log under their own name into one file, written by one logging actor.
 *
 *  - "calculate_e" clones the configuration by hand in its run() (balsa's
 *    balsa_clone(self.logging_config, self.name) + init_logger), from the
 *    bytes its parent passed (config_as_dict);
 *  - "walk_dir" does nothing at all about logging: every process troupe
 *    starts already has a clone of its parent's configuration under its
 *    own name;
 *  - a plain program (sh) has its stdout captured as records of its own;
 *  - at the end the file is read back per process, as `troupe logs NAME`
 *    does.
 * The two workers log at the same time; their lines never interleave.
 *
 * Python:
 *   class CalculateE(Process):
 *       def __init__(self, name, logging_config): ...
 *       def run(self):
 *           balsa_log = balsa_clone(self.logging_config, self.name)
 *           balsa_log.init_logger()
 *
 * Usage: logging_process [LOGFILE] (default /tmp/troupe-logging_process.log)
 */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "troupe/troupe.h"

extern char **environ;

static int calculate_e(const tp_payload *args, tp_payload *result)
{
	const void *bytes;
	size_t len;
	tp_log_config *given, *mine;
	double k = 1.0, e_value = 0.0;
	(void)result;
	/* must be done in run(): balsa_clone + init_logger */
	if (tp_payload_get_bytes(args, 0, &bytes, &len) != TP_OK ||
	    tp_log_config_decode(bytes, len, &given) != TP_OK ||
	    tp_log_config_clone(given, tp_process_name(tp_current_process()),
	                        &mine) != TP_OK ||
	    tp_log_init(mine) != TP_OK)
		return 2;
	tp_log_config_free(given);
	tp_log_config_free(mine);
	for (int i = 0; i < 1000; i++) {
		e_value += 1.0 / k;
		k *= i + 1;
		if (i % 100 == 0)
			tp_log_info("step %d: e ~ %.15f", i, e_value);
	}
	tp_log_info("done: e = %.15f", e_value);
	return 0;
}
TP_TARGET(calculate_e);

static int walk_dir(const tp_payload *args, tp_payload *result)
{
	(void)args;
	(void)result;
	for (int i = 0; i < 10; i++)
		tp_log_info("directory step %d of 10", i + 1);
	tp_log_warning("walk_dir: nothing to walk in this demo");
	return 0;
}
TP_TARGET(walk_dir);

/* Runs `sh -c SCRIPT` with its stdout in a pipe captured as records. */
static int run_plain(const char *name, const char *script)
{
	int fds[2];
	pid_t pid;
	posix_spawn_file_actions_t fa;
	char *argv[] = {"sh", "-c", (char *)script, NULL};
	tp_log_capture *cap;
	if (pipe(fds) != 0)
		return 1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	if (posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, environ) != 0)
		return 1;
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (tp_log_capture_start(fds[0], name, pid, TP_LOG_INFO, &cap) != TP_OK)
		return 1;
	tp_log_capture_wait(cap, -1);
	tp_log_capture_free(cap);
	waitpid(pid, NULL, 0);
	return 0;
}

static int print_line(const char *line, size_t len, void *arg)
{
	(void)arg;
	if (line != NULL)
		printf("  %.*s\n", (int)len, line);
	return 0;
}

int main(int argc, char **argv)
{
	const char *file =
	    argc > 1 ? argv[1] : "/tmp/troupe-logging_process.log";
	const char *names[] = {"calculate_e", "walk_dir", "plain_sh"};
	tp_log_config *cfg;
	tp_log_actor *actor;
	tp_payload *args;
	tp_process *p[2];
	void *bytes;
	size_t len;
	int rv = tp_init(NULL);
	if (rv != TP_OK) {
		fprintf(stderr, "tp_init: %s\n", tp_strerror(rv));
		return 1;
	}
	if ((rv = tp_log_config_new(&cfg, "myapp")) != TP_OK ||
	    (rv = tp_log_config_set_file(cfg, file, 1 << 20, 3)) != TP_OK ||
	    (rv = tp_log_config_set_delete_existing(cfg, 1)) != TP_OK ||
	    (rv = tp_log_actor_start(cfg, &actor)) != TP_OK ||
	    (rv = tp_log_config_encode(cfg, &bytes, &len)) != TP_OK ||
	    (rv = tp_payload_new(&args)) != TP_OK ||
	    (rv = tp_payload_add_bytes(args, bytes, len)) != TP_OK) {
		fprintf(stderr, "logging: %s\n", tp_strerror(rv));
		return 1;
	}
	free(bytes);
	tp_process_opts o1 = {.name = names[0]}, o2 = {.name = names[1]};
	if ((rv = tp_process_new(&p[0], calculate_e, args, &o1)) != TP_OK ||
	    (rv = tp_process_new(&p[1], walk_dir, NULL, &o2)) != TP_OK ||
	    (rv = tp_process_start(p[0])) != TP_OK ||
	    (rv = tp_process_start(p[1])) != TP_OK) {
		fprintf(stderr, "start: %s\n", tp_strerror(rv));
		return 1;
	}
	if (run_plain(names[2], "echo hello from a plain program; "
	                        "echo its stdout becomes records") != 0)
		fprintf(stderr, "plain program failed\n");
	for (int i = 0; i < 2; i++) {
		int code = -1;
		tp_process_join(p[i], -1);
		tp_process_exitcode(p[i], &code);
		tp_log_info("%s exited with %d", tp_process_name(p[i]), code);
		tp_process_free(p[i]);
	}
	tp_log_flush(5000);
	tp_log_actor_stop(actor);
	for (int i = 0; i < 3; i++) {
		printf("troupe logs %s:\n", names[i]);
		tp_log_read(cfg, names[i], 0, print_line, NULL);
	}
	tp_payload_free(args);
	tp_log_actor_free(actor);
	tp_log_config_free(cfg);
	return tp_fini();
}
