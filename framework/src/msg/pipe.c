/*
 * pipe.c - multiprocessing.Pipe over nng pair1 (ipc).
 *
 * An end is an address and a role until first use; then it is materialized
 * in the calling process: end 0 listens, end 1 dials without blocking (the
 * dialer retries until the listener exists, so the two processes may open
 * their ends in any order). This is what lets an end travel to any child
 * as a plain troupe.Handle.
 *
 * Close detection: nng never fails a recv because the peer went away (a
 * pair1 socket just waits for a new peer), so a pipe-removal callback
 * marks the peer gone and cancels the send or recv aio blocked on it (no
 * per-call timers: a timer per recv costs a timer-thread wake-up per
 * message); a recv drains what is already queued before TP_ECLOSED.
 *
 * Every message starts with one tag byte: 'P' a tp_payload encoding, 'B'
 * raw bytes from send_bytes, 'F' and 'A' the close handshake.
 *
 * Why a close handshake: when a socket closes, nng's ipc transport on the
 * other side sees the hang-up and drops bytes the kernel still held for
 * it, so "send, send, close" could lose the last messages. So close sends
 * FIN ('F') after the data and waits (up to TP_CONN_LINGER_MS) for the
 * peer's ACK ('A'); the peer's recv hands out everything before the FIN,
 * acknowledges it and then reports TP_ECLOSED. A peer that does not read
 * within the linger time makes close return TP_ETIMEDOUT: the loss is
 * reported, not silent. Closing itself (ordering, parking an end whose
 * peer is in this process, nng 1.5.2's close hang) is in pipe_close.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>

#include "clock.h"
#include "pipe_int.h"
#include "troupe/error.h"
#include "runtime_int.h"
#include "troupe/runtime.h"

#define SLICE_MS 50
#define BUF_MSGS 128

int tp_pipe_new(tp_conn **a, tp_conn **b, int duplex)
{
	char addr[TP_CONN_ADDR_MAX];
	tp_conn *ends[2];
	int rv;
	if (a == NULL || b == NULL)
		return TP_EINVAL;
	if ((rv = tp_address("pipe", addr, sizeof(addr))) != TP_OK)
		return rv;
	for (int i = 0; i < 2; i++) {
		ends[i] = calloc(1, sizeof(*ends[i]));
		if (ends[i] == NULL) {
			free(ends[0]);
			return TP_ENOMEM;
		}
		snprintf(ends[i]->addr, sizeof(ends[i]->addr), "%s", addr);
		ends[i]->role = i;
		ends[i]->readable = duplex || i == 0;
		ends[i]->writable = duplex || i == 1;
	}
	*a = ends[0];
	*b = ends[1];
	return TP_OK;
}

static void on_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	tp_conn *c = arg;
	uint64_t pid = 0;
	if (ev == NNG_PIPE_EV_ADD_POST) {
		if (nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_PID, &pid) == 0)
			__atomic_store_n(&c->peer_pid, (int)pid,
			                 __ATOMIC_RELEASE);
		__atomic_add_fetch(&c->peers, 1, __ATOMIC_ACQ_REL);
		__atomic_store_n(&c->ever, 1, __ATOMIC_RELEASE);
	} else if (ev == NNG_PIPE_EV_REM_POST) {
		/* wake a send or recv blocked without a timeout; a call
		 * starting now sees the count (both sides are seq_cst) */
		if (__atomic_sub_fetch(&c->peers, 1, __ATOMIC_SEQ_CST) == 0) {
			__atomic_store_n(&c->lost_ms, tp__now_ms(),
			                 __ATOMIC_RELEASE);
			nng_aio_cancel(c->raio);
			nng_aio_cancel(c->saio);
		}
	}
}

int tp__conn_peer_gone(tp_conn *c)
{
	return __atomic_load_n(&c->ever, __ATOMIC_ACQUIRE) &&
	       __atomic_load_n(&c->peers, __ATOMIC_SEQ_CST) == 0;
}

static int sock_setup(tp_conn *c)
{
	nng_socket s = c->sock;
	int rv;
	if ((rv = nng_socket_set_int(s, NNG_OPT_RECVBUF, BUF_MSGS)) != 0 ||
	    (rv = nng_socket_set_int(s, NNG_OPT_SENDBUF, BUF_MSGS)) != 0 ||
	    (rv = nng_socket_set_size(s, NNG_OPT_RECVMAXSZ,
	                              TP_MAX_MSG_DEFAULT + 1)) != 0 ||
	    (rv = nng_socket_set_ms(s, NNG_OPT_RECONNMINT, 2)) != 0 ||
	    (rv = nng_socket_set_ms(s, NNG_OPT_RECONNMAXT, 50)) != 0 ||
	    (rv = nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, SLICE_MS)) != 0 ||
	    (rv = nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, SLICE_MS)) != 0 ||
	    (rv = nng_pipe_notify(s, NNG_PIPE_EV_ADD_POST, on_pipe, c)) != 0 ||
	    (rv = nng_pipe_notify(s, NNG_PIPE_EV_REM_POST, on_pipe, c)) != 0)
		return tp_err_nng(rv);
	c->rcv_to = SLICE_MS;
	if (c->role == 0)
		rv = nng_listen(s, c->addr, NULL, 0);
	else
		rv = nng_dial(s, c->addr, &c->dialer, NNG_FLAG_NONBLOCK);
	return rv == 0 ? TP_OK : tp_err_nng(rv);
}

int tp__conn_open(tp_conn *c)
{
	int rv;
	if (c->state == TP_CONN_OPEN)
		return TP_OK;
	if (c->state == TP_CONN_CLOSED)
		return TP_ECLOSED;
	tp__nng_used(); /* from now on, no plain fork for nng children */
	if ((rv = nng_aio_alloc(&c->raio, NULL, NULL)) != 0 ||
	    (rv = nng_aio_alloc(&c->saio, NULL, NULL)) != 0) {
		nng_aio_free(c->raio);
		return tp_err_nng(rv);
	}
	if ((rv = nng_pair1_open(&c->sock)) != 0) {
		rv = tp_err_nng(rv);
	} else if ((rv = sock_setup(c)) != TP_OK) {
		nng_close(c->sock);
	}
	if (rv != TP_OK) {
		nng_aio_free(c->raio);
		nng_aio_free(c->saio);
		c->raio = c->saio = NULL;
		return rv;
	}
	c->state = TP_CONN_OPEN;
	tp__conn_listed(c);
	return TP_OK;
}

int tp_conn_readable(const tp_conn *c)
{
	return c != NULL && c->readable;
}

int tp_conn_writable(const tp_conn *c)
{
	return c != NULL && c->writable;
}

uint64_t tp_conn_rejected(const tp_conn *c)
{
	return c == NULL ? 0 : c->rejected;
}

int tp_conn_fd(tp_conn *c, int *fd)
{
	int rv;
	if (c == NULL || fd == NULL)
		return TP_EINVAL;
	if (!c->readable)
		return TP_EPERM;
	if ((rv = tp__conn_open(c)) != TP_OK)
		return rv;
	rv = nng_socket_get_int(c->sock, NNG_OPT_RECVFD, fd);
	return rv == 0 ? TP_OK : tp_err_nng(rv);
}
