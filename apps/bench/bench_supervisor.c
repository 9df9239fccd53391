/*
 * bench_supervisor.c - supervisor_restart: the time from kill -9 of a
 * permanent child to its replacement being ready (it called tp_ready()),
 * median over --n restarts (default 200).
 *
 * The child is this very program re-executed with TP_BENCH_SUP_CHILD set:
 * a constructor catches it before main(), reports ready and waits to be
 * killed, so the figure is the supervisor's work (exit noticed through a
 * pidfd, reaped, vfork+exec, readiness read) plus the exec of a small
 * program, with nothing of the child's own start-up in it.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench.h"
#include "troupe/troupe.h"

#define CHILD_ENV "TP_BENCH_SUP_CHILD"

static void __attribute__((constructor)) sup_child(void)
{
	if (getenv(CHILD_ENV) == NULL)
		return;
	tp_ready();
	for (;;)
		pause();
}

struct watch {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pid_t ready_pid;
	double ready_at;
};

static void on_event(void *arg, const tp_sup_event *ev)
{
	struct watch *w = arg;
	if (ev->kind != TP_EV_READY)
		return;
	pthread_mutex_lock(&w->mu);
	w->ready_pid = ev->pid;
	w->ready_at = bench_now();
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* Waits for a ready event of a pid other than old; returns it. */
static pid_t wait_ready(struct watch *w, pid_t old, double *at)
{
	pthread_mutex_lock(&w->mu);
	while (w->ready_pid == old || w->ready_pid == 0)
		pthread_cond_wait(&w->cv, &w->mu);
	pid_t p = w->ready_pid;
	*at = w->ready_at;
	pthread_mutex_unlock(&w->mu);
	return p;
}

int bench_supervisor_restart(int argc, char **argv)
{
	long n = bench_opt_long(argc, argv, "n", 200);
	struct watch w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
	                  0, 0};
	tp_sup_flags f = TP_SUP_FLAGS_INIT;
	tp_child_spec c = TP_CHILD_SPEC_INIT;
	char *cargv[] = {"/proc/self/exe", NULL};
	char *cenv[] = {CHILD_ENV "=1", NULL};
	char exe[4096];
	tp_sup *sup;
	double *xs = calloc((size_t)n, sizeof(*xs)), at;
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (xs == NULL || n <= 0 || len <= 0)
		return 1;
	exe[len] = '\0';
	cargv[0] = exe;
	f.intensity = (int)n + 10;
	f.period_ms = 1000000;
	f.on_event = on_event;
	f.on_event_arg = &w;
	c.id = "victim";
	c.argv = cargv;
	c.env = cenv;
	c.ready = TP_READY_NOTIFY;
	c.log_path = "";
	int rv = tp_sup_new(&sup, &f);
	if (rv == TP_OK)
		rv = tp_sup_add_child(sup, &c);
	if (rv == TP_OK)
		rv = tp_sup_start(sup);
	if (rv != TP_OK) {
		fprintf(stderr, "supervisor_restart: %s\n", tp_strerror(rv));
		tp_sup_free(sup);
		free(xs);
		return 1;
	}
	pid_t pid = wait_ready(&w, 0, &at);
	for (long i = 0; i < n; i++) {
		double t0 = bench_now();
		kill(pid, SIGKILL);
		pid = wait_ready(&w, pid, &at);
		xs[i] = (at - t0) * 1e3;
	}
	fprintf(stderr, "supervisor_restart: %ld restarts\n", n);
	printf("supervisor_restart %.3f ms\n", bench_median(xs, (size_t)n));
	tp_sup_free(sup);
	free(xs);
	return 0;
}
