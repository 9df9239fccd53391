/*
 * pipe_close.c - closing a pipe end without tripping nng 1.5.2's close
 * hangs, and without losing data when both ends live in one process.
 *
 * Measured with a bare nng 1.5.2 reproducer (two pair1 ipc sockets in one
 * process, /tmp-built, 150-300 fresh processes per variant): nng_close()
 * of a DIALER socket hangs forever (its reaper waits for a task that is
 * never run, cf. nanomsg/nng#1543) in about 1 close in 4 when the
 * connection is still up and a message it received is unread or still in
 * flight; 0 hangs when the dialer read everything first and nothing was
 * in flight, and 0 when the listener closed first and the dialer closed
 * after it had seen the loss. A dialer also retries at once after a loss
 * and then on a timer, and a close racing a retry is the other suspect of
 * #1543. So:
 *  - once connected, a dialer's retry interval becomes an hour: after a
 *    loss it makes its one immediate attempt, then sleeps;
 *  - before nng_close a dialer that lost its peer lets SETTLE_MS pass since
 *    the loss (one that never connected waits out the short interval),
 *    then reads and drops whatever is still queued for it;
 *  - the end that received the FIN (it did not start the close) waits,
 *    bounded, for the peer to drop the connection first; the starting end
 *    has read everything up to the ACK, so nothing is left unread;
 *  - both ends in one process: the end closed first is parked (socket
 *    kept open; the peer's sends now fail, as nobody will read them)
 *    until its peer closes; then the listener closes first and the dialer after
 * it saw the loss. Parking also ends the data loss: the parked end's data and
 * FIN stay deliverable until the peer has read them, and close never waits for
 * a reader (the peer may be the calling thread).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "pipe_int.h"
#include "troupe/error.h"

#define LONG_REDIAL_MS (3600 * 1000)
#define REDIAL_MAX_MS  50 /* pipe.c's NNG_OPT_RECONNMAXT */
#define SETTLE_MS      50

static pthread_mutex_t park_lk = PTHREAD_MUTEX_INITIALIZER;
static tp_conn *ends; /* open and parked ends of this process */

void tp__conn_listed(tp_conn *c)
{
	pthread_mutex_lock(&park_lk);
	c->next = ends;
	ends = c;
	pthread_mutex_unlock(&park_lk);
}

/* Under park_lk: the listed end on the other side of c's pipe. */
static tp_conn **find_peer(tp_conn *c)
{
	for (tp_conn **pp = &ends; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->role != c->role && strcmp((*pp)->addr, c->addr) == 0)
			return pp;
	return NULL;
}

/* Under park_lk. */
static void unlist(tp_conn *c)
{
	for (tp_conn **pp = &ends; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			return;
		}
}

static void set_long_redial(tp_conn *c)
{
	if (c->slow_redial)
		return;
	c->slow_redial = 1;
	nng_dialer_set_ms(c->dialer, NNG_OPT_RECONNMAXT, LONG_REDIAL_MS);
	nng_dialer_set_ms(c->dialer, NNG_OPT_RECONNMINT, LONG_REDIAL_MS);
}

void tp__conn_slow_redial(tp_conn *c)
{
	if (c->role != 1)
		c->slow_redial = 1; /* listeners never retry */
	else if (__atomic_load_n(&c->ever, __ATOMIC_ACQUIRE))
		set_long_redial(c);
}

static void sleep_until(int64_t t)
{
	int64_t now;
	while ((now = tp__now_ms()) < t)
		usleep((useconds_t)(t - now) * 1000);
}

static void wait_peer_gone(tp_conn *c)
{
	int64_t dl = tp__now_ms() + TP_CONN_LINGER_MS;
	while (!tp__conn_peer_gone(c) && tp__now_ms() < dl)
		usleep(1000);
}

/* Drops what is queued for c (a close with messages unread can hang). */
static void drain(tp_conn *c)
{
	nng_msg *m;
	while (nng_recvmsg(c->sock, &m, NNG_FLAG_NONBLOCK) == 0)
		nng_msg_free(m);
}

/* Both ends here: d sends a marker and l reads up to it, so nothing is
 * left unread or in flight towards l. */
static void flush_to(tp_conn *d, tp_conn *l)
{
	int64_t dl = tp__now_ms() + TP_CONN_LINGER_MS;
	nng_msg *m;
	int rv;
	if (nng_msg_alloc(&m, 1) != 0)
		return;
	*(char *)nng_msg_body(m) = TP_TAG_MARK;
	while ((rv = nng_sendmsg(d->sock, m, 0)) == NNG_ETIMEDOUT &&
	       tp__now_ms() < dl)
		;
	if (rv != 0) {
		nng_msg_free(m);
		return;
	}
	while (tp__now_ms() < dl) {
		if ((rv = nng_recvmsg(l->sock, &m, 0)) == NNG_ETIMEDOUT)
			continue;
		if (rv != 0)
			return;
		int mark = nng_msg_len(m) == 1 &&
		           *(char *)nng_msg_body(m) == TP_TAG_MARK;
		nng_msg_free(m);
		if (mark)
			return;
	}
}

/* Role 1, just before nng_close: no connection attempt under way and
 * nothing received left unread (either can hang the close). */
static void dialer_quiesce(tp_conn *c)
{
	int was_long = c->slow_redial;
	int ever = __atomic_load_n(&c->ever, __ATOMIC_ACQUIRE);
	if (c->role != 1)
		return;
	set_long_redial(c);
	if (ever && !tp__conn_peer_gone(c))
		; /* connected: nothing retries */
	else if (ever && was_long)
		sleep_until(__atomic_load_n(&c->lost_ms, __ATOMIC_ACQUIRE) +
		            SETTLE_MS);
	else
		sleep_until(tp__now_ms() + REDIAL_MAX_MS + SETTLE_MS);
	drain(c);
}

static void sock_close(tp_conn *c)
{
	nng_close(c->sock); /* no pipe callbacks after this */
	nng_aio_free(c->raio);
	nng_aio_free(c->saio);
	c->raio = c->saio = NULL;
	nng_msg_free(c->pending);
	c->pending = NULL;
}

/* The peer is in another process (or gone): handshake, then close. */
static int close_remote(tp_conn *c)
{
	int initiated = !c->peer_fin;
	int rv = tp__conn_linger(c);
	if (!initiated)
		wait_peer_gone(c);
	dialer_quiesce(c);
	drain(c);
	sock_close(c);
	return rv;
}

/* Under park_lk: if c's peer end is open in this process, keeps c's
 * socket open until the peer closes and returns 1; the peer's sends fail
 * from now on (nobody will read them). 0 otherwise, or when the FIN cannot
 * be queued now (the caller closes the usual way). */
static int park(tp_conn *c)
{
	tp_conn **pp = find_peer(c);
	if (pp == NULL || !tp__conn_send_fin(c))
		return 0;
	nng_msg_free(c->pending);
	c->pending = NULL;
	c->parked = 1;
	__atomic_store_n(&(*pp)->peer_parked, 1, __ATOMIC_SEQ_CST);
	nng_aio_cancel((*pp)->saio); /* wakes a send blocked on us */
	return 1;
}

/* Under park_lk: the parked peer of c, taken off the list. */
static tp_conn *unpark_peer(tp_conn *c)
{
	tp_conn **pp = find_peer(c);
	tp_conn *p = pp == NULL ? NULL : *pp;
	if (p == NULL || p->parked != 1)
		return NULL;
	*pp = p->next;
	p->parked = 2;
	return p;
}

/* c closes while its peer p is parked: the listener goes first, once it
 * has read all the dialer sent, the dialer once it has seen that and
 * settled. */
static int close_pair(tp_conn *c, tp_conn *p)
{
	tp_conn *d = c->role == 1 ? c : p, *l = c->role == 1 ? p : c;
	int orphan;
	flush_to(d, l);
	sock_close(l);
	wait_peer_gone(d);
	dialer_quiesce(d);
	sock_close(d);
	pthread_mutex_lock(&park_lk);
	p->parked = 0;
	orphan = p->orphan;
	pthread_mutex_unlock(&park_lk);
	if (orphan)
		free(p);
	return TP_OK;
}

int tp_conn_close(tp_conn *c)
{
	tp_conn *p;
	int parked = 0;
	if (c == NULL)
		return TP_EINVAL;
	if (c->state != TP_CONN_OPEN) {
		c->state = TP_CONN_CLOSED;
		return TP_OK;
	}
	c->state = TP_CONN_CLOSED;
	pthread_mutex_lock(&park_lk);
	p = unpark_peer(c);
	if (p == NULL && !c->peer_fin && !tp__conn_peer_gone(c))
		parked = park(c); /* if the peer end is open here */
	if (!parked)
		unlist(c);
	pthread_mutex_unlock(&park_lk);
	if (parked)
		return TP_OK;
	if (p != NULL)
		return close_pair(c, p);
	return close_remote(c);
}

void tp_conn_free(tp_conn *c)
{
	if (c == NULL)
		return;
	tp_conn_close(c);
	pthread_mutex_lock(&park_lk);
	if (c->parked) {
		c->orphan = 1; /* the peer's close frees it */
		c = NULL;
	}
	pthread_mutex_unlock(&park_lk);
	free(c);
}
