/*
 * tp_actor_counter.c - an actor module for the tests: a counter.
 *
 * Built twice: as a shared object for troupe-actor, and (with
 * TP_ACTOR_LINKED) linked into its own program that calls tp_actor_run.
 * init args: [start value, terminate-log path]. Calls: "get", "add N",
 * "sleep MS", "fail", "timer MS", "watch PID", "stop", "stats". Casts:
 * "add N", "crash". Infos: a timer adds 100, an exit adds 1000.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "troupe/troupe.h"

struct counter {
	int64_t n;
	char log[256];
};

static int init(tp_actor *self, const tp_payload *args, void **state)
{
	struct counter *c = calloc(1, sizeof(*c));
	const char *s;
	(void)self;
	if (c == NULL)
		return TP_ENOMEM;
	if (tp_payload_get_string(args, 0, &s) == TP_OK)
		c->n = atoll(s);
	if (tp_payload_get_string(args, 1, &s) == TP_OK)
		snprintf(c->log, sizeof(c->log), "%s", s);
	if (c->n < 0) {
		free(c);
		return TP_EINVAL; /* a failing init */
	}
	*state = c;
	return TP_OK;
}

static int64_t arg(const tp_payload *p)
{
	int64_t v = 0;
	tp_payload_get_int(p, 1, &v);
	return v;
}

static int handle_call(tp_actor *self, void *state, const tp_payload *req,
                       tp_payload *reply)
{
	struct counter *c = state;
	const char *op = "";
	tp_payload_get_string(req, 0, &op);
	if (strcmp(op, "add") == 0) {
		c->n += arg(req);
	} else if (strcmp(op, "sleep") == 0) {
		struct timespec ts = {0, arg(req) * 1000000L};
		nanosleep(&ts, NULL);
	} else if (strcmp(op, "fail") == 0) {
		return TP_EVALUE;
	} else if (strcmp(op, "timer") == 0) {
		return tp_actor_send_after(self, (int)arg(req), 7);
	} else if (strcmp(op, "watch") == 0) {
		return tp_actor_watch(self, (pid_t)arg(req));
	} else if (strcmp(op, "stop") == 0) {
		tp_actor_stop(self, TP_OK);
	} else if (strcmp(op, "stats") == 0) {
		tp_actor_stats st;
		tp_actor_get_stats(self, &st);
		return tp_payload_add_int(reply, (int64_t)st.msgs_in);
	} else if (strcmp(op, "get") != 0) {
		return TP_EINVAL;
	}
	return tp_payload_add_int(reply, c->n);
}

static int handle_cast(tp_actor *self, void *state, const tp_payload *msg)
{
	struct counter *c = state;
	const char *op = "";
	(void)self;
	tp_payload_get_string(msg, 0, &op);
	if (strcmp(op, "crash") == 0)
		abort();
	if (strcmp(op, "add") == 0)
		c->n += arg(msg);
	return TP_OK;
}

static int handle_info(tp_actor *self, void *state, const tp_actor_info *in)
{
	struct counter *c = state;
	(void)self;
	if (in->kind == TP_INFO_TIMER && in->timer_id == 7)
		c->n += 100;
	else if (in->kind == TP_INFO_EXIT)
		c->n += 1000;
	return TP_OK;
}

static void terminate(tp_actor *self, void *state, int reason)
{
	struct counter *c = state;
	(void)self;
	if (c->log[0] != '\0') {
		char line[64];
		int fd = open(c->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		int n = snprintf(line, sizeof(line), "terminate %d %lld\n",
		                 reason, (long long)c->n);
		if (fd >= 0) {
			(void)!write(fd, line, (size_t)n);
			close(fd);
		}
	}
	free(c);
}

static const tp_actor_module counter = {"counter",   init,        handle_call,
                                        handle_cast, handle_info, terminate};

#ifdef TP_ACTOR_LINKED
int main(int argc, char **argv)
{
	tp_payload *args;
	if (tp_init(NULL) != TP_OK || tp_payload_new(&args) != TP_OK)
		return 1;
	for (int i = 1; i < argc; i++)
		tp_payload_add_string(args, argv[i]);
	int rv = tp_actor_run(&counter, NULL, args);
	tp_payload_free(args);
	tp_fini();
	return rv;
}
#else
TP_ACTOR_MODULE(counter)
#endif
