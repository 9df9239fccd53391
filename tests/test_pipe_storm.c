/*
 * test_pipe_storm.c - Pipes under a kill storm. SLOTS writers each hold a
 * pipe to this process (half inherited by fork, half handed to a fork-
 * server child in its arguments) and send numbered messages (some several
 * packets long), each acknowledged before the next. For STORM_MS a
 * writer is SIGKILLed at random every few ms and replaced by a new one on
 * a new pipe. Checked: every writer's messages arrive in order without a
 * gap; a killed writer's pipe ends with TP_EOF after at most one cut
 * message (counted as rejected); nothing hangs (every wait is bounded);
 * after the storm every slot makes progress again; all writers exit
 * cleanly when their pipe closes.
 */
#include <signal.h>
#include <string.h>

#include "clock.h"
#include "pipe_int.h"
#include "pipe_util.h"

#define SLOTS    4
#define STORM_MS 2000
#define AFTER    20 /* round trips each slot must make after the storm */
#define BIG      (2 * TP_PKT_MAX + 3)

struct slot {
	tp_conn *a;    /* this process's end */
	tp_process *p; /* fork-server writer, or NULL */
	pid_t pid;     /* fork writer */
	int64_t next;  /* next sequence number expected */
	long total;    /* messages over every generation */
	int killed;
};

/* The writer: message i (every 5th one BIG bytes), then wait for ack i. */
static int writer(tp_conn *c, long arg)
{
	unsigned char *big = calloc(1, BIG);
	int64_t ack;
	int rv = TP_OK;
	(void)arg;
	CK(big != NULL);
	for (int64_t i = 0; rv == TP_OK; i++) {
		if (i % 5 == 4) {
			memcpy(big, &i, sizeof(i));
			rv = tp_conn_send_bytes(c, big, BIG);
		} else {
			rv = pu_send_int(c, i);
		}
		if (rv == TP_OK && (rv = pu_recv_int(c, &ack, 30000)) == TP_OK)
			CK(ack == i);
	}
	free(big);
	CK(rv == TP_EOF || rv == TP_ECLOSED); /* this process closed */
	return 0;
}

static int writer_target(const tp_payload *args, tp_payload *result)
{
	tp_conn *c;
	(void)result;
	if (tp_payload_get_conn(args, 0, &c) != TP_OK)
		return 1;
	int rv = writer(c, 0);
	tp_conn_free(c);
	return rv;
}
TP_TARGET(writer_target)

static struct slot sl[SLOTS];

static void slot_start(struct slot *s, int i)
{
	tp_conn *b;
	TP_OK_OR_FAIL(tp_pipe_new(&s->a, &b, 1));
	s->next = 0;
	s->p = NULL;
	s->pid = 0;
	if (i % 2 == 0) {
		if ((s->pid = fork()) == 0) {
			for (int j = 0; j < SLOTS; j++) /* copies it must not */
				if (sl[j].a != NULL)    /* keep (would block */
					tp_conn_close(sl[j].a); /* EOF) */
			_exit(writer(b, 0));
		}
		assert_true(s->pid > 0);
	} else {
		tp_payload *args;
		TP_OK_OR_FAIL(tp_payload_new(&args));
		TP_OK_OR_FAIL(tp_payload_add_conn(args, b));
		TP_OK_OR_FAIL(tp_process_new(&s->p, writer_target, args, NULL));
		TP_OK_OR_FAIL(tp_process_start(s->p));
		tp_payload_free(args);
	}
	tp_conn_free(b);
}

static void slot_kill(struct slot *s)
{
	if (s->p != NULL)
		tp_process_kill(s->p);
	else
		kill(s->pid, SIGKILL);
	s->killed++;
}

/* The writer is gone: its pipe must drain, then end. */
static void slot_retire(struct slot *s, int i, int restart)
{
	if (s->p != NULL) {
		TP_OK_OR_FAIL(tp_process_join(s->p, 20000));
		tp_process_free(s->p);
	} else {
		pu_reap(s->pid);
	}
	assert_true(tp_conn_rejected(s->a) <= 1);
	tp_conn_free(s->a);
	s->a = NULL;
	if (restart)
		slot_start(s, i);
}

/* Reads what slot s has; returns 1 when its writer is gone. */
static int slot_read(struct slot *s)
{
	tp_payload *m;
	int rv;
	while ((rv = tp_conn_recv(s->a, &m, 0)) == TP_OK || rv == TP_EDECODE) {
		if (rv == TP_EDECODE)
			continue; /* a message cut by the kill: counted */
		int64_t v = -1;
		tp_type t;
		const void *d;
		size_t n;
		TP_OK_OR_FAIL(tp_payload_type(m, 0, &t));
		if (t == TP_TBYTES) {
			TP_OK_OR_FAIL(tp_payload_get_bytes(m, 0, &d, &n));
			assert_int_equal(n, BIG);
			memcpy(&v, d, sizeof(v));
		} else {
			TP_OK_OR_FAIL(tp_payload_get_int(m, 0, &v));
		}
		tp_payload_free(m);
		assert_int_equal(v, s->next); /* in order, no gap, no dup */
		s->next++;
		s->total++;
		rv = pu_send_int(s->a, v);
		if (rv != TP_ECLOSED) /* gone: read on to its TP_EOF */
			TP_OK_OR_FAIL(rv);
		rv = TP_OK;
	}
	if (rv == TP_EOF)
		return 1;
	TP_EXPECT(rv, TP_ETIMEDOUT);
	/* a fork-server writer killed before it took its end: the end is
	 * still in this process's sharer, so watch its sentinel too */
	return s->p != NULL && tp_process_join(s->p, 0) == TP_OK;
}

static void wait_any(struct slot *sl, int timeout_ms)
{
	int fds[2 * SLOTS], ready[2 * SLOTS], n = 0;
	for (int i = 0; i < SLOTS; i++) {
		TP_OK_OR_FAIL(tp_conn_fd(sl[i].a, &fds[n++]));
		if (sl[i].p != NULL)
			fds[n++] = tp_process_sentinel(sl[i].p);
	}
	assert_true(tp_wait(fds, n, timeout_ms, ready) >= 0);
}

static void test_pipe_kill_storm(void **state)
{
	long kills = 0, before[SLOTS];
	(void)state;
	memset(sl, 0, sizeof(sl));
	srand((unsigned)getpid());
	tp_test_init(TP_START_DEFAULT);
	for (int i = 0; i < SLOTS; i++)
		slot_start(&sl[i], i);
	int64_t end = tp__now_ms() + STORM_MS;
	int64_t next_kill = tp__now_ms() + 5 + rand() % 30;
	while (tp__now_ms() < end) {
		wait_any(sl, 10);
		for (int i = 0; i < SLOTS; i++)
			if (slot_read(&sl[i]))
				slot_retire(&sl[i], i, 1);
		if (tp__now_ms() >= next_kill) {
			slot_kill(&sl[rand() % SLOTS]);
			kills++;
			next_kill = tp__now_ms() + 5 + rand() % 30;
		}
	}
	/* no more kills: every slot must make progress again */
	for (int i = 0; i < SLOTS; i++)
		before[i] = sl[i].total;
	int64_t dl = tp__now_ms() + 30000;
	for (int done = 0; !done;) {
		assert_true(tp__now_ms() < dl);
		wait_any(sl, 100);
		done = 1;
		for (int i = 0; i < SLOTS; i++) {
			if (slot_read(&sl[i]))
				slot_retire(&sl[i], i, 1);
			if (sl[i].total - before[i] < AFTER)
				done = 0;
		}
	}
	/* closing this side ends every writer cleanly */
	for (int i = 0; i < SLOTS; i++) {
		tp_conn_close(sl[i].a);
		if (sl[i].p != NULL) {
			pu_join_ok(sl[i].p);
		} else {
			assert_int_equal(pu_reap(sl[i].pid), 0);
		}
		tp_conn_free(sl[i].a);
	}
	fprintf(stderr, "storm: %ld kills\n", kills);
	assert_true(kills > 10);
	tp_test_fini();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pipe_kill_storm),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
