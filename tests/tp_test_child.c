/*
 * tp_test_child.c - a configurable child program for the supervisor tests.
 *
 *   tp-test-child ID [--mark FILE] [--delay MS] [--no-ready] [--exit CODE]
 *                    [--ignore-term] [--exit-after MS] [--log MSG]
 *                    [--pool N]
 *
 * It appends "up ID", "ready ID" and "down ID" lines to FILE, calls
 * tp_ready() after --delay ms (unless --no-ready), then waits for SIGTERM
 * (exit 0, or ignored with --ignore-term); --exit CODE exits with CODE
 * right after ready (or after --exit-after ms). --log MSG logs MSG with
 * tp_log_warning (and flushes) after "up". --pool N makes it a troupe
 * program with a pool of N workers, one of them busy with the task
 * `busy` until the end (the daemon's metrics of its programs' pools).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "troupe/error.h"
#include "troupe/log.h"
#include "troupe/pool.h"
#include "troupe/runtime.h"
#include "troupe/supervisor.h"

static const char *mark_file, *id = "?";
static volatile sig_atomic_t term;

static void mark(const char *what)
{
	char line[128];
	if (mark_file == NULL)
		return;
	int fd = open(mark_file, O_WRONLY | O_CREAT | O_APPEND, 0600);
	int n = snprintf(line, sizeof(line), "%s %s\n", what, id);
	if (fd >= 0) {
		(void)!write(fd, line, (size_t)n);
		close(fd);
	}
}

static void on_term(int sig)
{
	(void)sig;
	term = 1;
}

static int busy(const tp_payload *args, tp_payload *result)
{
	(void)args;
	(void)result;
	for (;;)
		pause();
	return 0;
}
TP_TARGET(busy);

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && !term)
		;
}

int main(int argc, char **argv)
{
	long delay = 0, code = -1, after = 0, workers = 0;
	const char *logmsg = NULL;
	int ready = 1, ignore = 0;
	tp_pool *pool = NULL;
	tp_pool_result *res = NULL;
	for (int i = 2; i + 1 < argc; i++)
		if (strcmp(argv[i], "--pool") == 0)
			workers = atol(argv[i + 1]);
	if (workers > 0 &&
	    (tp_init(NULL) != TP_OK ||
	     tp_pool_new(&pool, (int)workers, NULL, NULL, 0) != TP_OK ||
	     tp_pool_apply_async(pool, busy, NULL, NULL, NULL, NULL, &res) !=
	         TP_OK))
		return 3;
	if (argc > 1)
		id = argv[1];
	for (int i = 2; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : "0";
		if (strcmp(argv[i], "--mark") == 0)
			mark_file = argv[++i];
		else if (strcmp(argv[i], "--delay") == 0)
			delay = atol(v), i++;
		else if (strcmp(argv[i], "--exit") == 0)
			code = atol(v), i++;
		else if (strcmp(argv[i], "--exit-after") == 0)
			after = atol(v), i++;
		else if (strcmp(argv[i], "--no-ready") == 0)
			ready = 0;
		else if (strcmp(argv[i], "--log") == 0)
			logmsg = v, i++;
		else if (strcmp(argv[i], "--ignore-term") == 0)
			ignore = 1;
		else if (strcmp(argv[i], "--pool") == 0)
			i++;
	}
	signal(SIGTERM, ignore ? SIG_IGN : on_term);
	mark("up");
	printf("child %s up\n", id);
	fflush(stdout);
	if (logmsg != NULL) {
		tp_log_warning("%s", logmsg);
		tp_log_flush(5000);
	}
	if (delay > 0)
		sleep_ms(delay);
	if (ready) {
		mark("ready"); /* before telling: the next child may start */
		tp_ready();
	}
	if (code >= 0) {
		if (after > 0)
			sleep_ms(after);
		return (int)code;
	}
	/* SIGTERM is blocked but while waiting: one that came between the
	 * test of term and pause() would be missed until SIGKILL. */
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &old);
	while (!term)
		sigsuspend(&old);
	mark("down");
	if (pool != NULL) {
		tp_payload *none = NULL;
		tp_pool_terminate(pool);
		tp_pool_result_get(res, &none, 5000);
		tp_payload_free(none);
		tp_pool_join(pool, -1);
		tp_pool_result_free(res);
		tp_pool_free(pool);
		tp_fini();
	}
	return 0;
}
