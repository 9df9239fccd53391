/*
 * pipe_util.h - helpers shared by test_pipe.c and test_pipe_storm.c:
 * one-value messages, a forked child that keeps one end, and checks that
 * report from inside children (through their exit code).
 */
#ifndef TP_PIPE_UTIL_H
#define TP_PIPE_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define CK(x)                                                                  \
	do {                                                                   \
		if (!(x)) {                                                    \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__,     \
			        #x);                                           \
			return 1;                                              \
		}                                                              \
	} while (0)

#define CKRV(expr, code)                                                       \
	do {                                                                   \
		int rv_ = (expr);                                              \
		if (rv_ != (code)) {                                           \
			fprintf(stderr, "%s:%d: %s -> %s\n", __FILE__,         \
			        __LINE__, #expr, tp_strerror(rv_));            \
			return 1;                                              \
		}                                                              \
	} while (0)

static inline int pu_send_int(tp_conn *c, int64_t v)
{
	tp_payload *p;
	if (tp_payload_new(&p) != TP_OK)
		return TP_ENOMEM;
	tp_payload_add_int(p, v);
	int rv = tp_conn_send(c, p);
	tp_payload_free(p);
	return rv;
}

static inline int pu_recv_int(tp_conn *c, int64_t *v, int timeout_ms)
{
	tp_payload *p;
	int rv = tp_conn_recv(c, &p, timeout_ms);
	if (rv != TP_OK)
		return rv;
	rv = tp_payload_get_int(p, 0, v);
	tp_payload_free(p);
	return rv;
}

typedef int (*pu_child_fn)(tp_conn *c, long arg);

/* Forks a child that closes drop (its copy of the other end) and exits
 * with fn(keep, arg). The caller closes its own copy of keep. */
static inline pid_t pu_fork(pu_child_fn fn, tp_conn *keep, tp_conn *drop,
                            long arg)
{
	pid_t pid = fork();
	if (pid == 0) {
		if (drop != NULL)
			tp_conn_close(drop);
		_exit(fn(keep, arg));
	}
	assert_true(pid > 0);
	return pid;
}

/* Waits for pid: its exit code, or 128 + the signal that ended it. */
static inline int pu_reap(pid_t pid)
{
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Joins p (bounded), checks that it exited 0, and frees it. */
static inline void pu_join_ok(tp_process *p)
{
	int code = -1;
	TP_OK_OR_FAIL(tp_process_join(p, 20000));
	TP_OK_OR_FAIL(tp_process_exitcode(p, &code));
	assert_int_equal(code, 0);
	tp_process_free(p);
}

#endif
