/*
 * test_cli_ctl.c - the daemon's control socket against bad peers: peers
 * that connect and close, reset, stall mid-frame, send garbage at any
 * byte, a truncated frame at any byte, an oversized length, more stalled
 * connections than the daemon keeps; after each, `status` is answered for
 * a good client. And another user is refused with a message and a
 * non-zero exit, not an empty success.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "cli_util.h"
#include "ctl_int.h"
#include "wire.h"

/* A good client: a status request is answered within timeout_ms. */
static void status_within(int timeout_ms)
{
	Troupe__SupRequest req = TROUPE__SUP_REQUEST__INIT;
	Troupe__Envelope *rep;
	req.command = "status";
	TP_OK_OR_FAIL(ctl_call(sock, &req, &rep, timeout_ms));
	assert_int_equal(rep->sup_reply->code, TP_OK);
	/* a, g, b, c, and the daemon's logging actor */
	assert_int_equal(rep->sup_reply->n_children, 5);
	assert_string_equal(rep->sup_reply->children[4]->type, "logging");
	tp__envelope_free(rep);
}

static void status_answers(void)
{
	status_within(10000);
}

static int peer(void)
{
	int fd = ctl_connect(sock);
	if (fd < 0)
		fail_msg("connect: %s", tp_strerror(-fd));
	return fd;
}

/* Waits (10 s at most) until the daemon closes fd, reading what it sends:
 * 1 if it sent anything (a reply) first. */
static int closed_by_daemon(int fd)
{
	char buf[4096];
	int got = 0;
	int64_t end = now_ms() + 10000;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (now_ms() > end)
			fail_msg("the daemon kept a bad connection open");
		if (poll(&p, 1, 100) <= 0)
			continue;
		ssize_t k = read(fd, buf, sizeof(buf));
		if (k <= 0)
			break;
		got = 1;
	}
	close(fd);
	return got;
}

static void test_connect_close_and_reset(void **state)
{
	(void)state;
	write_cfg(three);
	pid_t d = daemon_start();
	for (int i = 0; i < 50; i++) {
		close(peer());
		int fd = peer();
		struct linger l = {.l_onoff = 1, .l_linger = 0};
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		close(fd); /* a reset */
	}
	status_answers();
	/* Half-closed after the request: still answered. */
	size_t len;
	unsigned char *f = status_frame(&len);
	int fd = peer();
	assert_int_equal(write(fd, f, len), (ssize_t)len);
	shutdown(fd, SHUT_WR);
	assert_int_equal(closed_by_daemon(fd), 1);
	/* A request whose peer is gone before the reply. */
	for (int i = 0; i < 20; i++) {
		fd = peer();
		assert_int_equal(write(fd, f, len), (ssize_t)len);
		close(fd);
	}
	free(f);
	status_answers();
	kill(d, SIGTERM);
	assert_int_equal(daemon_wait(d), 0);
}

/* Peers stalled mid-frame do not hold up others, and are dropped after
 * the read deadline; more of them than the daemon keeps pending evict
 * the oldest. */
static void test_stalled_peers(void **state)
{
	(void)state;
	enum { N = CTL_MAX_CONNS * 3 };
	static int fds[N];
	size_t len;
	unsigned char *f = status_frame(&len);
	write_cfg(three);
	pid_t d = daemon_start();
	for (int i = 0; i < N; i++) {
		fds[i] = peer();
		/* nothing, half a header, a header, half the body */
		size_t part = (size_t)(i % 4) * (len / 4);
		if (part > 0)
			assert_int_equal(write(fds[i], f, part), (ssize_t)part);
	}
	status_answers();
	status_answers();
	/* The last ones are still pending; each is closed by its deadline. */
	for (int i = N - 4; i < N; i++)
		assert_int_equal(closed_by_daemon(fds[i]), 0);
	for (int i = 0; i < N - 4; i++)
		close(fds[i]);
	free(f);
	status_answers();
	kill(d, SIGTERM);
	assert_int_equal(daemon_wait(d), 0);
}

static int open_fds(pid_t pid)
{
	char path[64];
	int n = 0;
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	assert_non_null(d);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n - 2;
}

/* A daemon out of file descriptors (stalled peers hold them all) drops
 * the oldest to serve a newcomer instead of spinning on its listener. */
static void test_out_of_fds(void **state)
{
	(void)state;
	enum { N = 40 };
	int fds[N];
	write_cfg(three);
	pid_t d = daemon_start();
	struct rlimit rl = {(rlim_t)open_fds(d) + 8, 0};
	assert_int_equal(prlimit(d, RLIMIT_NOFILE, NULL, &rl), 0);
	rl.rlim_cur = (rlim_t)open_fds(d) + 8;
	assert_int_equal(prlimit(d, RLIMIT_NOFILE, &rl, NULL), 0);
	for (int i = 0; i < N; i++)
		fds[i] = peer();
	/* Sooner than the stalled peers' read deadline (CTL_READ_MS), which
	 * would free their fds anyway: one was dropped for us. */
	status_within(CTL_READ_MS - 500);
	status_within(CTL_READ_MS - 500);
	for (int i = 0; i < N; i++)
		close(fds[i]);
	kill(d, SIGTERM);
	assert_int_equal(daemon_wait(d), 0);
}

/* Every prefix of a request, then a close; every byte turned to garbage;
 * an oversized length: the daemon answers or hangs up, never wedges. */
static void test_garbage_at_every_byte(void **state)
{
	(void)state;
	size_t len;
	unsigned char *f = status_frame(&len), *g = malloc(len);
	write_cfg(three);
	pid_t d = daemon_start();
	for (size_t i = 0; i < len; i++) {
		int fd = peer();
		assert_int_equal(write(fd, f, i), (ssize_t)i);
		close(fd);
		for (int v = 0; v < 3; v++) {
			static const unsigned char junk[] = {0x00, 0xff, 0x80};
			memcpy(g, f, len);
			g[i] = junk[v];
			fd = peer();
			/* A length made smaller leaves bytes over: the daemon
			 * reads one frame and closes, so a write may fail. */
			(void)!send(fd, g, len, MSG_NOSIGNAL);
			shutdown(fd, SHUT_WR);
			closed_by_daemon(fd);
		}
	}
	status_answers();
	/* A length over the request cap: dropped unanswered. */
	unsigned char big[8] = {0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4};
	int fd = peer();
	assert_int_equal(write(fd, big, sizeof(big)), (ssize_t)sizeof(big));
	assert_int_equal(closed_by_daemon(fd), 0);
	/* Garbage that is a full frame: a TP_EDECODE reply. */
	unsigned char bad[9] = {5, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff};
	fd = peer();
	assert_int_equal(write(fd, bad, sizeof(bad)), (ssize_t)sizeof(bad));
	Troupe__Envelope *rep = read_reply(fd);
	assert_int_equal(rep->sup_reply->code, TP_EDECODE);
	tp__envelope_free(rep);
	close(fd);
	free(f);
	free(g);
	status_answers();
	kill(d, SIGTERM);
	assert_int_equal(daemon_wait(d), 0);
}

/* Another user is refused: the socket directory is 0700 and the socket
 * 0600, and behind them the daemon checks SO_PEERCRED. To reach that
 * check, the test opens both, runs `troupe status` and `troupe tree` as
 * nobody from a copy of the binary (the checkout may lie under a 0700
 * directory nobody cannot enter), and expects the refusal printed and
 * exit status 1. */
static int run_as_nobody(const char *bin, const char *cmd, char *out,
                         size_t len)
{
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t c = fork();
	if (c == 0) {
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		close(fds[0]);
		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(99);
		execl(bin, bin, "--socket", sock, cmd, (char *)NULL);
		_exit(98);
	}
	close(fds[1]);
	size_t n = 0;
	ssize_t k;
	while (n < len - 1 && (k = read(fds[0], out + n, len - 1 - n)) > 0)
		n += (size_t)k;
	out[n] = '\0';
	close(fds[0]);
	int st;
	assert_int_equal(waitpid(c, &st, 0), c);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static void copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT, 0755);
	ssize_t k;
	if (in < 0 || out < 0)
		fail_msg("copy %s to %s: %s", from, to, strerror(errno));
	while ((k = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)k), k);
	close(in);
	close(out);
}

static void test_other_user_is_refused(void **state)
{
	(void)state;
	char out[4096], bin[300];
	if (geteuid() != 0) {
		print_message("skipped: needs root to run a client as another "
		              "user\n");
		return;
	}
	write_cfg(three);
	pid_t d = daemon_start();
	/* As set up, nobody cannot reach the socket at all. */
	snprintf(bin, sizeof(bin), "%s/troupe-copy", dir);
	copy_file(TROUPE_BIN, bin);
	chmod(dir, 0711);
	int rv = run_as_nobody(bin, "status", out, sizeof(out));
	if (rv != 1 || strstr(out, "Permission denied") == NULL)
		fail_msg("status as nobody, socket 0600: exit %d: %s", rv, out);
	/* Opened up, the daemon itself refuses, and the CLI says so. */
	chmod(sock, 0666);
	const char *cmds[] = {"status", "tree", "shutdown"};
	for (int i = 0; i < 3; i++) {
		int rv = run_as_nobody(bin, cmds[i], out, sizeof(out));
		if (rv != 1 || !strstr(out, "permission denied"))
			fail_msg("%s as nobody: exit %d: %s", cmds[i], rv, out);
	}
	chmod(dir, 0700);
	unlink(bin);
	assert_int_equal(troupe(out, sizeof(out), "status"), 0);
	assert_int_equal(troupe(out, sizeof(out), "shutdown"), 0);
	assert_int_equal(daemon_wait(d), 0);
}

/* A daemon stand-in that answers every request with a refusal. */
struct fake {
	int lfd, n;
};

static void *fake_daemon(void *arg)
{
	struct fake *f = arg;
	Troupe__SupReply rep = TROUPE__SUP_REPLY__INIT;
	Troupe__Envelope env = TROUPE__ENVELOPE__INIT;
	unsigned char *buf, in[4096];
	size_t len;
	rep.code = TP_EPERM;
	rep.message = "permission denied: not the daemon's user\n";
	env.body_case = TROUPE__ENVELOPE__BODY_SUP_REPLY;
	env.sup_reply = &rep;
	if (ctl_frame_pack(&env, &buf, &len) != TP_OK)
		return NULL;
	for (int i = 0; i < f->n; i++) {
		int fd = accept(f->lfd, NULL, NULL);
		if (fd < 0)
			break;
		(void)!read(fd, in, sizeof(in)); /* a small request: one read */
		(void)!write(fd, buf, len);
		close(fd);
	}
	free(buf);
	return NULL;
}

/* status and tree print a refusal and exit 1, never an empty success;
 * the other commands too. Runs without root. */
static void test_error_reply_is_not_success(void **state)
{
	(void)state;
	static const char *cmds[] = {"status",   "tree",    "status --json",
	                             "pid",      "stop a",  "logs",
	                             "top -n 1", "shutdown"};
	enum { N = sizeof(cmds) / sizeof(cmds[0]) };
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct fake f = {socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), N};
	pthread_t t;
	char out[4096];
	assert_true(strlen(sock) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	assert_int_equal(bind(f.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f.lfd, 8), 0);
	assert_int_equal(pthread_create(&t, NULL, fake_daemon, &f), 0);
	for (int i = 0; i < N; i++) {
		int rv = troupe(out, sizeof(out), cmds[i]);
		if (rv != 1 || !strstr(out, "troupe: permission denied"))
			fail_msg("%s refused: exit %d: %s", cmds[i], rv, out);
	}
	pthread_join(t, NULL);
	close(f.lfd);
	unlink(sock);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_connect_close_and_reset, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_stalled_peers, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_garbage_at_every_byte, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_out_of_fds, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_user_is_refused, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_error_reply_is_not_success,
	                                    setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
