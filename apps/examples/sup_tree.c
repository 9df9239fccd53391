/*
 * sup_tree - a C program builds its own OTP tree in a few lines: two of
 * its own functions (TP_TARGET) supervised one_for_one, with arguments, a
 * restart type and a shutdown time each. A kill -9 of one is seen and the
 * supervisor restarts it; the other keeps running untouched.
 *
 * Erlang:
 *   init(_) -> {ok, {#{strategy => one_for_one, intensity => 3, period => 5},
 *                    [#{id => db, start => {server, start_link, ["db"]}},
 *                     #{id => web, start => {server, start_link, ["web"]}}]}}.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "troupe/troupe.h"

/* A long-running service: serves until stopped. */
static int server(const tp_payload *args, tp_payload *result)
{
	(void)args;
	(void)result;
	for (;;)
		pause();
	return 0;
}
TP_TARGET(server);

/* The observer: the main thread waits for the restart it caused. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int readies, last_exit;

static void on_event(void *arg, const tp_sup_event *ev)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	if (ev->kind == TP_EV_READY)
		readies++;
	if (ev->kind == TP_EV_EXITED)
		last_exit = ev->exit_code;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

static int add_server(tp_sup *sup, const char *id)
{
	tp_payload *args;
	tp_payload_new(&args);
	tp_payload_add_string(args, id);
	tp_child_spec c = TP_CHILD_SPEC_INIT;
	c.id = id;
	c.target = server; /* a function of this program, not a command */
	c.args = args;     /* copied */
	c.restart = TP_PERMANENT;
	c.shutdown_ms = 2000;
	int rv = tp_sup_add_child(sup, &c);
	tp_payload_free(args);
	return rv;
}

static void show(tp_sup *sup, pid_t *pids)
{
	tp_child_info *v;
	int n;
	tp_sup_which_children(sup, &v, &n);
	for (int i = 0; i < n; i++) {
		printf("%s %s\n", v[i].id, tp_child_state_name(v[i].state));
		pids[i] = v[i].pid;
	}
	free(v);
}

int main(void)
{
	tp_sup *sup;
	tp_sup_flags f = TP_SUP_FLAGS_INIT; /* one_for_one, 3 in 5 s */
	pid_t before[2], after[2];
	int rv;
	f.on_event = on_event;
	if ((rv = tp_init(NULL)) != TP_OK || (rv = tp_sup_new(&sup, &f)) ||
	    (rv = add_server(sup, "db")) || (rv = add_server(sup, "web")) ||
	    (rv = tp_sup_start(sup))) { /* db ready, then web */
		fprintf(stderr, "sup_tree: %s\n", tp_strerror(rv));
		return 1;
	}
	show(sup, before);
	fflush(stdout);

	kill(before[1], SIGKILL); /* web dies; the supervisor restarts it */
	pthread_mutex_lock(&mu);
	while (readies < 3)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	show(sup, after);
	printf("web exited %d, restarted: %s; db untouched: %s\n", last_exit,
	       after[1] != before[1] ? "yes" : "no",
	       after[0] == before[0] ? "yes" : "no");

	tp_sup_stop(sup); /* web, then db */
	tp_sup_free(sup);
	return tp_fini() == TP_OK ? 0 : 1;
}
