/* test_manager_netns.c - a manager and its client on two "hosts": two
 * network namespaces made by this test, joined by a veth pair on the
 * private link 10.213.7.0/30. The manager serves on 10.213.7.1 in one;
 * the client, in the other, connects by address and key. Skipped (with
 * the reason) where namespaces cannot be made; the namespaces are always
 * removed. */
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#define ADDR "tcp://10.213.7.1:47213"
static const char KEY[] = "netns-key";
static char ns_a[32], ns_b[32];

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static void cleanup(void)
{
	sh("ip netns del %s 2>/dev/null", ns_a);
	sh("ip netns del %s 2>/dev/null", ns_b);
}

static int make_link(void)
{
	int pid = (int)getpid();
	snprintf(ns_a, sizeof(ns_a), "tpmgrA-%d", pid);
	snprintf(ns_b, sizeof(ns_b), "tpmgrB-%d", pid);
	if (sh("ip netns add %s 2>/dev/null", ns_a) != 0)
		return -1;
	if (sh("ip netns add %s", ns_b) != 0 ||
	    sh("ip link add tpA%d type veth peer name tpB%d", pid, pid) ||
	    sh("ip link set tpA%d netns %s", pid, ns_a) ||
	    sh("ip link set tpB%d netns %s", pid, ns_b) ||
	    sh("ip -n %s addr add 10.213.7.1/30 dev tpA%d", ns_a, pid) ||
	    sh("ip -n %s addr add 10.213.7.2/30 dev tpB%d", ns_b, pid) ||
	    sh("ip -n %s link set tpA%d up", ns_a, pid) ||
	    sh("ip -n %s link set tpB%d up", ns_b, pid) ||
	    sh("ip -n %s link set lo up", ns_a) ||
	    sh("ip -n %s link set lo up", ns_b)) {
		cleanup();
		return -1;
	}
	return 0;
}

static int enter(const char *ns)
{
	char path[128];
	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rv = fd >= 0 ? setns(fd, CLONE_NEWNET) : -1;
	if (fd >= 0)
		close(fd);
	return rv;
}

static int t_server(const tp_payload *args, tp_payload *res)
{
	const char *ns;
	(void)res;
	tp_payload_get_string(args, 0, &ns);
	if (enter(ns) != 0)
		return 10;
	tp_manager_opts o = {
	    .address = ADDR, .authkey = KEY, .authkey_len = strlen(KEY)};
	return tp_manager_serve(&o, -1);
}
TP_TARGET(t_server);

static int t_client(const tp_payload *args, tp_payload *res)
{
	const char *ns;
	tp_manager *m = NULL;
	tp_proxy *d;
	tp_payload *out;
	int64_t v = 0;
	int rv = TP_ECLOSED;
	(void)res;
	tp_payload_get_string(args, 0, &ns);
	if (enter(ns) != 0)
		return 10;
	/* The server may not listen yet, or the link not be up, and a
	 * loaded machine can make one attempt time out: retry anything but
	 * a refused key for up to 40 s. */
	int64_t end = tp_test_now_ms() + 40000;
	for (;;) {
		rv = tp_manager_connect(&m, ADDR, KEY, strlen(KEY), 5000);
		if (rv == TP_OK || rv == TP_EAUTH || tp_test_now_ms() > end)
			break;
		usleep(10000);
	}
	if (rv != TP_OK) {
		fprintf(stderr, "client: connect: %s\n", tp_strerror(rv));
		return 11;
	}
	tp_manager *bad;
	if (tp_manager_connect(&bad, ADDR, "wrong", 5, 5000) != TP_EAUTH)
		return 12;
	tp_payload_new(&out);
	if (tp_manager_dict(m, &d) != TP_OK ||
	    tp_dict_set(d, tp_str("host"), tp_int(2)) != TP_OK ||
	    tp_dict_get(d, tp_str("host"), out) != TP_OK ||
	    tp_payload_get_int(out, 0, &v) != TP_OK || v != 2)
		return 13;
	tp_payload_free(out);
	tp_proxy_free(d);
	return tp_manager_shutdown(m) == TP_OK ? 0 : 14;
}
TP_TARGET(t_client);

static void test_two_hosts(void **state)
{
	(void)state;
	if (geteuid() != 0 || make_link() != 0) {
		print_message("skipped: cannot create network namespaces "
		              "here (needs root and ip(8))\n");
		skip();
	}
	tp_test_init(TP_START_DEFAULT);
	tp_payload *a, *b;
	tp_process *ps, *pc;
	int cs = -1, cc = -1;
	TP_OK_OR_FAIL(tp_payload_new(&a));
	TP_OK_OR_FAIL(tp_payload_new(&b));
	TP_OK_OR_FAIL(tp_payload_add_string(a, ns_a));
	TP_OK_OR_FAIL(tp_payload_add_string(b, ns_b));
	TP_OK_OR_FAIL(tp_process_new(&ps, t_server, a, NULL));
	TP_OK_OR_FAIL(tp_process_new(&pc, t_client, b, NULL));
	TP_OK_OR_FAIL(tp_process_start(ps));
	TP_OK_OR_FAIL(tp_process_start(pc));
	int j1 = tp_process_join(pc, 60000);
	if (j1 != TP_OK)
		tp_process_kill(pc);
	int j2 = tp_process_join(ps, j1 == TP_OK ? 20000 : 0);
	if (j2 != TP_OK) {
		tp_process_kill(ps);
		tp_process_join(ps, -1);
	}
	tp_process_exitcode(pc, &cc);
	tp_process_exitcode(ps, &cs);
	tp_process_free(ps);
	tp_process_free(pc);
	tp_payload_free(a);
	tp_payload_free(b);
	cleanup();
	assert_int_equal(j1, TP_OK);
	assert_int_equal(cc, 0);
	assert_int_equal(cs, 0);
	tp_test_fini();
}

int main(void)
{
	tp_spawn_guard();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_two_hosts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
