/*
 * test_cli_stall.c - a program's control socket serves its peers
 * interleaved on its one loop: a peer that stalls while reading a large
 * reply, or while sending its request, holds up no other peer's
 * `status`; the stalled reader still gets its whole reply when it reads,
 * and one that never reads is dropped at the write deadline. A `stop`
 * waiting out a child's shutdown time holds up no other peer either: it
 * is answered when the child is gone, and `status` is answered
 * meanwhile.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "cli_util.h"
#include "ctl_int.h"
#include "internal.h"

enum { KIDS = 3000 };

static char path[512];

/* A stopped subtree of KIDS command lines: a status reply of about a
 * megabyte, more than a socket buffer holds. */
static void big_tree(void)
{
	static char arg[200];
	char *argv[] = {"/bin/true", arg, NULL}, id[64];
	tp_sup *sub;
	memset(arg, 'x', sizeof(arg) - 1);
	TP_OK_OR_FAIL(
	    tp_sup_add_sup(tp_sup_root(), "big", NULL, TP_TEMPORARY, &sub));
	for (int i = 0; i < KIDS; i++) {
		tp_child_spec spec = TP_CHILD_SPEC_INIT;
		snprintf(id, sizeof(id), "child-with-a-long-name-%040d", i);
		spec.id = id;
		spec.argv = argv;
		spec.log_path = "";
		TP_OK_OR_FAIL(tp_sup_add_child(sub, &spec));
	}
}

/* A status request from a good client, answered within 3 s (the write
 * deadline a stalled peer would hold the loop for is 5 s). */
static void status_answers(void)
{
	Troupe__SupRequest req = TROUPE__SUP_REQUEST__INIT;
	Troupe__Envelope *rep;
	req.command = "status";
	TP_OK_OR_FAIL(ctl_call(path, &req, &rep, 3000));
	assert_int_equal(rep->sup_reply->code, TP_OK);
	assert_true(rep->sup_reply->n_children > KIDS);
	tp__envelope_free(rep);
}

/* Reads fd to its end (10 s at most): the bytes read. */
static size_t drain(int fd)
{
	static unsigned char buf[65536];
	size_t total = 0;
	int64_t end = now_ms() + 10000;
	while (now_ms() < end) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 200) <= 0)
			continue;
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			break;
		total += (size_t)n;
	}
	return total;
}

static void test_stalled_peers_do_not_block_status(void **state)
{
	(void)state;
	size_t len;
	unsigned char *f = status_frame(&len), hdr[4];
	snprintf(path, sizeof(path), "%s/ctl.sock", tp_runtime_dir());
	big_tree();
	/* reader: asks, then reads nothing for a while; never: never reads;
	 * half: sends half a request and stalls. */
	int reader = ctl_connect(path), never = ctl_connect(path),
	    half = ctl_connect(path);
	assert_true(reader >= 0 && never >= 0 && half >= 0);
	assert_int_equal(write(reader, f, len), (ssize_t)len);
	assert_int_equal(write(never, f, len), (ssize_t)len);
	assert_int_equal(write(half, f, len / 2), (ssize_t)(len / 2));
	for (int i = 0; i < 3; i++)
		status_answers();
	/* The stalled reader's reply is whole: header, then its length. */
	assert_int_equal(recv(reader, hdr, 4, MSG_WAITALL), 4);
	size_t want = ctl_frame_len(hdr);
	assert_true(want > 256 * 1024);
	assert_int_equal(drain(reader), want);
	/* The one that never read is dropped at the write deadline (its
	 * side sees the hang-up with the reply still unread), holding less
	 * than its reply. */
	struct pollfd p = {.fd = never, .events = POLLRDHUP};
	assert_int_equal(poll(&p, 1, TP_CTL_WRITE_MS + 5000), 1);
	assert_true(drain(never) < want + 4);
	close(reader);
	close(never);
	close(half);
	free(f);
	status_answers();
}

/* The state of child name in a status reply ("" if not there). */
static const char *state_of(const Troupe__SupReply *r, const char *name)
{
	for (size_t i = 0; i < r->n_children; i++)
		if (strcmp(r->children[i]->name, name) == 0)
			return r->children[i]->state;
	return "";
}

static void test_slow_stop_does_not_block_status(void **state)
{
	(void)state;
	/* A child that ignores SIGTERM (said ready once it does), with a
	 * shutdown time of 1 s: its stop ends in SIGKILL after 1 s. */
	char *argv[] = {"/bin/sh", "-c",
	                "trap '' TERM; echo READY=1 >&3; exec sleep 60", NULL};
	tp_child_spec spec = TP_CHILD_SPEC_INIT;
	Troupe__SupRequest req = TROUPE__SUP_REQUEST__INIT;
	Troupe__Envelope *rep;
	size_t len;
	spec.id = "slow";
	spec.argv = argv;
	spec.log_path = "";
	spec.ready = TP_READY_NOTIFY;
	spec.shutdown_ms = 1000;
	spec.restart = TP_TEMPORARY;
	spec.keep_temporary = 1;
	snprintf(path, sizeof(path), "%s/ctl.sock", tp_runtime_dir());
	TP_OK_OR_FAIL(tp_sup_start_child(tp_sup_root(), &spec, NULL));
	unsigned char *f = command_frame("stop", "slow", &len);
	int stopper = ctl_connect(path);
	assert_true(stopper >= 0);
	assert_int_equal(write(stopper, f, len), (ssize_t)len);
	free(f);
	/* Another peer's status is answered while the stop is under way:
	 * it sees the child stopping, the stopper has no reply yet. */
	req.command = "status";
	int seen = 0;
	for (int i = 0; i < 200 && !seen; i++) {
		TP_OK_OR_FAIL(ctl_call(path, &req, &rep, 3000));
		assert_int_equal(rep->sup_reply->code, TP_OK);
		const char *st = state_of(rep->sup_reply, "slow");
		seen = strcmp(st, "stopping") == 0;
		if (!seen) /* not begun yet, never over already */
			assert_string_equal(st, "running");
		tp__envelope_free(rep);
	}
	assert_true(seen);
	struct pollfd p = {.fd = stopper, .events = POLLIN};
	assert_int_equal(poll(&p, 1, 0), 0);
	/* The stop's reply comes once the child is gone (killed). */
	rep = read_reply(stopper);
	assert_int_equal(rep->sup_reply->code, TP_OK);
	assert_non_null(strstr(rep->sup_reply->message, "slow: stopped"));
	tp__envelope_free(rep);
	close(stopper);
	TP_OK_OR_FAIL(ctl_call(path, &req, &rep, 3000));
	assert_string_equal(state_of(rep->sup_reply, "slow"), "stopped");
	for (size_t i = 0; i < rep->sup_reply->n_children; i++)
		if (strcmp(rep->sup_reply->children[i]->name, "slow") == 0)
			assert_int_equal(rep->sup_reply->children[i]->last_exit,
			                 -SIGKILL);
	tp__envelope_free(rep);
	/* A stopper that leaves before its reply: the stop is carried out,
	 * its reply dropped, and the others are still served. */
	TP_OK_OR_FAIL(tp_sup_restart_child(tp_sup_root(), "slow"));
	f = command_frame("stop", "slow", &len);
	stopper = ctl_connect(path);
	assert_true(stopper >= 0);
	assert_int_equal(write(stopper, f, len), (ssize_t)len);
	free(f);
	TP_OK_OR_FAIL(ctl_call(path, &req, &rep, 3000)); /* it was read */
	tp__envelope_free(rep);
	close(stopper);
	/* Queued behind that stop: returns once the child is gone. */
	TP_OK_OR_FAIL(tp_sup_terminate_child(tp_sup_root(), "slow"));
	TP_OK_OR_FAIL(ctl_call(path, &req, &rep, 3000));
	assert_string_equal(state_of(rep->sup_reply, "slow"), "stopped");
	tp__envelope_free(rep);
	TP_OK_OR_FAIL(tp_sup_delete_child(tp_sup_root(), "slow"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_slow_stop_does_not_block_status),
	    cmocka_unit_test(test_stalled_peers_do_not_block_status),
	};
	TP_OK_OR_FAIL(tp_init(NULL));
	int rv = cmocka_run_group_tests(tests, NULL, NULL);
	tp_fini();
	return rv;
}
