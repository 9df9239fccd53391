/*
 * cluster_proxy.c - the stand-in worker: what each worker slot of a
 * TP_POOL_MPI pool runs on rank 0's host (a local process started by the
 * pool like any worker, so the pool's own machinery sees an ordinary
 * worker). It dials the pool's socket and the bridge's socket of its slot,
 * says hello (to the bridge: where its run's local channel is, which the
 * bridge dials to carry the run's notes and small batches both ways
 * itself, pool_fast.c), and relays what goes by nng: batches of tasks to
 * the bridge, batches of results back. It runs no task and calls no MPI. It
 * exits on the pool's Stop, or when either socket fails.
 */
#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <poll.h>
#include <unistd.h>

#include "cluster_int.h"
#include "pool_int.h"
#include "process_int.h"
#include "runtime_int.h"
#include "troupe/error.h"
#include "wire.h"

/* pool: 1 for the pool's socket (this run's own address, pool_sup.c). */
static int dial(nng_socket *s, const char *addr, int pool)
{
	int rv;
	if ((rv = nng_pair1_open(s)) != 0)
		return rv;
	nng_socket_set_size(*s, NNG_OPT_RECVMAXSZ, 0);
	nng_socket_set_int(*s, NNG_OPT_RECVBUF, 64);
	nng_socket_set_int(*s, NNG_OPT_SENDBUF, 64);
	return pool ? tp__pool_worker_dial(*s, addr)
	            : nng_dial(*s, addr, NULL, 0);
}

/* To the pool: its pid and name; to the bridge: its pid and the path of
 * its run's local channel (pool_fast.c), which the bridge dials itself. */
static int hello(nng_socket s, const char *name)
{
	Troupe__PoolHello h = TROUPE__POOL_HELLO__INIT;
	Troupe__Envelope env = TROUPE__ENVELOPE__INIT;
	h.pid = (int32_t)getpid();
	h.name = (char *)name;
	env.body_case = TROUPE__ENVELOPE__BODY_POOL_HELLO;
	env.pool_hello = &h;
	return tp__pool_send(s, &env, 0);
}

/* A Stop is a few bytes; a batch of tasks never is that small. */
static int is_stop(nng_msg *m)
{
	Troupe__Envelope *env = NULL;
	int stop;
	if (nng_msg_len(m) > 16 ||
	    tp__envelope_unpack(nng_msg_body(m), nng_msg_len(m), 64, &env) !=
	        TP_OK)
		return 0;
	stop = env->body_case == TROUPE__ENVELOPE__BODY_POOL_STOP;
	tp__envelope_free(env);
	return stop;
}

/* Moves every waiting message from a to b; 1 when the relay must end. */
static int relay(nng_socket a, nng_socket b, int to_bridge)
{
	nng_msg *m;
	int rv;
	while ((rv = nng_recvmsg(a, &m, NNG_FLAG_NONBLOCK)) == 0) {
		if (to_bridge && is_stop(m)) {
			nng_msg_free(m);
			return 1;
		}
		if (nng_sendmsg(b, m, 0) != 0) {
			nng_msg_free(m);
			return 1;
		}
	}
	return rv != NNG_EAGAIN;
}

/* args: as the pool's worker (address, name, shm, slot, ...). */
int tp__cl_proxy(const tp_payload *args, tp_payload *result)
{
	const char *addr, *name;
	char baddr[300];
	int64_t slot;
	nng_socket p, b;
	struct pollfd fds[2];
	int rv = 1;
	(void)result;
	if (tp_payload_get_string(args, 0, &addr) ||
	    tp_payload_get_string(args, 1, &name) ||
	    tp_payload_get_int(args, 3, &slot) ||
	    tp__cl_bridge_addr((int)slot, baddr, sizeof(baddr)) != TP_OK)
		return 2;
	tp__nng_used();
	tp__cl_keep_freed_memory(); /* its own process: batches pass */
	char fpath[108];
	if (tp__pool_fast_path(addr, getpid(), fpath, sizeof(fpath)) != TP_OK)
		fpath[0] = '\0'; /* the bridge then relays all by nng */
	if (dial(&p, addr, 1) != 0 || dial(&b, baddr, 0) != 0 ||
	    hello(p, name) != TP_OK || hello(b, fpath) != TP_OK ||
	    nng_socket_get_int(p, NNG_OPT_RECVFD, &fds[0].fd) != 0 ||
	    nng_socket_get_int(b, NNG_OPT_RECVFD, &fds[1].fd) != 0)
		return 3;
	fds[0].events = fds[1].events = POLLIN;
	for (;;) {
		if (poll(fds, 2, -1) < 0)
			continue;
		if (relay(p, b, 1) || relay(b, p, 0))
			break;
	}
	rv = 0;
	nng_close(b);
	nng_close(p);
	return rv;
}
TP_TARGET(tp__cl_proxy);
