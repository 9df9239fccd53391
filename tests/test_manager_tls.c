/* test_manager_tls.c - tls+tcp:// managers: the client verifies the
 * server (a CA or a pinned certificate, and the name), a server may
 * require client certificates, a man in the middle with its own
 * certificate is refused, proxies in payloads work in children of the
 * run, and bad peers (connect+close, garbage, a stalled handshake) wedge
 * nothing. GnuTLS is loaded by the first tls+tcp:// use, not by tp_init;
 * run as "test_manager_tls --no-gnutls" with $TROUPE_GNUTLS naming a
 * library that is missing or is not GnuTLS, every tls+tcp:// call fails
 * with TP_ENOMODULE and the other transports work. Certificates are made
 * here by openssl(1) (tls_util.h). */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mgr_int.h"
#include "mgr_util.h"
#include "testutil.h"
#include "tls_util.h"

static const char KEY[] = "tls key";

/* A raw connection (must succeed). */
static int peer(const char *addr)
{
	int fd = mgr_raw_connect(addr);
	assert_true(fd >= 0);
	return fd;
}
static char dir[256];

static const char *pem(const char *name)
{
	static char buf[8][300];
	static int i;
	char *b = buf[i++ % 8];
	snprintf(b, 300, "%s/%s", dir, name);
	return b;
}

static int setup(void **state)
{
	(void)state;
	tp_test_init(TP_START_DEFAULT);
	snprintf(dir, sizeof(dir), "%s/tls", tp_test_base());
	if (!tls_make_certs(dir)) {
		print_message("openssl(1) failed: tls+tcp not tested\n");
		dir[0] = '\0';
	}
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s/tls", tp_test_base());
	assert_int_equal(system(cmd), 0);
	tp_test_fini();
	return 0;
}

/* Starts a tls manager with these files (ca: our own connection's;
 * NULL pins cert); returns its address. */
static const char *start(tp_manager **m, const char *cert, const char *key,
                         const char *ca, const char *client_ca)
{
	tp_manager_opts o = {.address = "tls+tcp://127.0.0.1:0",
	                     .authkey = KEY,
	                     .authkey_len = strlen(KEY),
	                     .tls_cert = pem(cert),
	                     .tls_key = pem(key),
	                     .tls_ca = ca ? pem(ca) : NULL,
	                     .tls_client_ca =
	                         client_ca ? pem(client_ca) : NULL};
	TP_OK_OR_FAIL(tp_manager_start(m, &o));
	return tp_manager_address(*m);
}

/* A client with these TLS settings: its connect's result; on success a
 * dict call must work too. */
static int client(const char *addr, const char *ca, const char *name,
                  const char *cert, const char *key)
{
	tp_manager *c;
	tp_proxy *d;
	int64_t n;
	tp_manager_opts o = {.address = addr,
	                     .authkey = KEY,
	                     .authkey_len = strlen(KEY),
	                     .tls_ca = ca,
	                     .tls_server_name = name,
	                     .tls_cert = cert,
	                     .tls_key = key};
	int rv = tp_manager_connect_opts(&c, &o, 5000);
	if (rv != TP_OK)
		return rv;
	TP_OK_OR_FAIL(tp_manager_get(c, "dict", "d", NULL, &d));
	TP_OK_OR_FAIL(tp_dict_set(d, tp_str("k"), tp_int(1)));
	TP_OK_OR_FAIL(tp_dict_len(d, &n));
	assert_int_equal(n, 1);
	tp_proxy_free(d);
	tp_manager_free(c);
	return TP_OK;
}

static int t_child(const tp_payload *args, tp_payload *res)
{
	tp_proxy *d;
	(void)res;
	if (tp_payload_get_proxy(args, 0, NULL, 0, &d) != TP_OK)
		return 1;
	int rv = tp_dict_set(d, tp_str("child"), tp_int(2));
	tp_proxy_free(d);
	return rv == TP_OK ? 0 : 2;
}
TP_TARGET(t_child);

static void test_server_verified(void **state)
{
	tp_manager *m;
	tp_proxy *d;
	tp_payload *args;
	tp_process *p;
	int code = -1;
	int64_t n;
	(void)state;
	if (dir[0] == '\0')
		return;
	const char *a = start(&m, "srv.pem", "srv.key", "ca.pem", NULL);
	assert_non_null(strstr(a, "tls+tcp://127.0.0.1:"));
	/* the CA, by the address's host or by a name in the certificate */
	TP_OK_OR_FAIL(client(a, pem("ca.pem"), NULL, NULL, NULL));
	TP_OK_OR_FAIL(client(a, pem("ca.pem"), "localhost", NULL, NULL));
	/* another CA, another name, no CA at all, no such file */
	TP_EXPECT(client(a, pem("ca2.pem"), NULL, NULL, NULL), TP_EAUTH);
	TP_EXPECT(client(a, pem("ca.pem"), "other.example", NULL, NULL),
	          TP_EAUTH);
	TP_EXPECT(client(a, NULL, NULL, NULL, NULL), TP_EINVAL);
	TP_EXPECT(client(a, pem("none.pem"), NULL, NULL, NULL), TP_ENOENT);
	tp_manager *c;
	TP_EXPECT(tp_manager_connect(&c, a, KEY, strlen(KEY), 5000), TP_EINVAL);
	/* a child of the run takes a proxy out of a payload */
	TP_OK_OR_FAIL(tp_manager_get(m, "dict", "d", NULL, &d));
	TP_OK_OR_FAIL(tp_payload_new(&args));
	TP_OK_OR_FAIL(tp_payload_add_proxy(args, d));
	TP_OK_OR_FAIL(tp_process_new(&p, t_child, args, NULL));
	TP_OK_OR_FAIL(tp_process_start(p));
	TP_OK_OR_FAIL(tp_process_join(p, 30000));
	TP_OK_OR_FAIL(tp_process_exitcode(p, &code));
	assert_int_equal(code, 0);
	TP_OK_OR_FAIL(tp_dict_len(d, &n));
	assert_int_equal(n, 2);
	tp_process_free(p);
	tp_payload_free(args);
	tp_proxy_free(d);
	TP_OK_OR_FAIL(tp_manager_shutdown(m));
}

/* A server with a self-signed certificate: a client that pins it gets
 * in; one that trusts the CA does not (that is what a man in the middle
 * with his own certificate looks like), nor does a client pinning
 * another certificate. */
static void test_pinned_and_mitm(void **state)
{
	tp_manager *m;
	(void)state;
	if (dir[0] == '\0')
		return;
	const char *a = start(&m, "self.pem", "self.key", NULL, NULL);
	TP_OK_OR_FAIL(client(a, pem("self.pem"), NULL, NULL, NULL));
	TP_EXPECT(client(a, pem("ca.pem"), NULL, NULL, NULL), TP_EAUTH);
	TP_EXPECT(client(a, pem("srv.pem"), NULL, NULL, NULL), TP_EAUTH);
	TP_OK_OR_FAIL(tp_manager_shutdown(m));
}

/* A server that requires client certificates. */
static void test_client_certificates(void **state)
{
	tp_manager *m;
	(void)state;
	if (dir[0] == '\0')
		return;
	const char *a = start(&m, "srv.pem", "srv.key", "ca.pem", "ca.pem");
	TP_OK_OR_FAIL(
	    client(a, pem("ca.pem"), NULL, pem("cli.pem"), pem("cli.key")));
	TP_EXPECT(client(a, pem("ca.pem"), NULL, NULL, NULL), TP_EAUTH);
	TP_EXPECT(
	    client(a, pem("ca.pem"), NULL, pem("self.pem"), pem("self.key")),
	    TP_EAUTH);
	TP_OK_OR_FAIL(
	    client(a, pem("ca.pem"), NULL, pem("cli.pem"), pem("cli.key")));
	TP_OK_OR_FAIL(tp_manager_shutdown(m));
}

/* Bad peers at the TLS listener: nothing wedges. */
/* Whether this process maps GnuTLS (/proc/self/maps). */
static int gnutls_mapped(void)
{
	char line[512];
	int found = 0;
	FILE *f = fopen("/proc/self/maps", "r");
	assert_non_null(f);
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, "libgnutls") != NULL;
	fclose(f);
	return found;
}

/* tp_init does not map GnuTLS; the first tls+tcp:// manager does. Runs
 * first. */
static void test_gnutls_on_demand(void **state)
{
	tp_manager *m;
	(void)state;
	assert_false(gnutls_mapped());
	if (dir[0] == '\0')
		return;
	start(&m, "srv.pem", "srv.key", "ca.pem", NULL);
	assert_true(gnutls_mapped());
	TP_OK_OR_FAIL(tp_manager_shutdown(m));
}

/* A TCP listener nobody accepts on (the kernel completes the connect):
 * its fd, its address in addr. */
static int listener(char *addr, size_t len)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	snprintf(addr, len, "tls+tcp://127.0.0.1:%u", ntohs(sa.sin_port));
	return fd;
}

/* With $TROUPE_GNUTLS naming no usable GnuTLS: a tls+tcp:// client,
 * server and started manager fail with TP_ENOMODULE, every time, and
 * tcp:// still works. */
static void test_no_gnutls(void **state)
{
	char addr[64];
	tp_manager *m, *c = NULL;
	(void)state;
	if (dir[0] == '\0')
		return;
	int fd = listener(addr, sizeof(addr));
	tp_manager_opts o = {.address = addr,
	                     .authkey = KEY,
	                     .authkey_len = strlen(KEY),
	                     .tls_ca = pem("ca.pem")};
	for (int i = 0; i < 2; i++) /* the second: the failure is kept */
		TP_EXPECT(tp_manager_connect_opts(&c, &o, 5000), TP_ENOMODULE);
	assert_null(c);
	close(fd);
	tp_manager_opts so = {.address = "tls+tcp://127.0.0.1:0",
	                      .authkey = KEY,
	                      .authkey_len = strlen(KEY),
	                      .tls_cert = pem("srv.pem"),
	                      .tls_key = pem("srv.key")};
	TP_EXPECT(tp_manager_serve(&so, -1), TP_ENOMODULE);
	TP_EXPECT(tp_manager_start(&m, &so), TP_ENOMODULE);
	assert_false(gnutls_mapped());
	assert_non_null(strstr(tp_strerror(TP_ENOMODULE), "GnuTLS"));
	tp_manager_opts po = {.address = "tcp://127.0.0.1:0",
	                      .authkey = KEY,
	                      .authkey_len = strlen(KEY)};
	TP_OK_OR_FAIL(tp_manager_start(&m, &po));
	TP_OK_OR_FAIL(client(tp_manager_address(m), NULL, NULL, NULL, NULL));
	TP_OK_OR_FAIL(tp_manager_shutdown(m));
}

static void test_bad_peers(void **state)
{
	tp_manager *m;
	(void)state;
	if (dir[0] == '\0')
		return;
	const char *a = start(&m, "srv.pem", "srv.key", "ca.pem", NULL);
	static const char junk[] = "\x16\x03\x01\xff\xff garbage";
	close(peer(a));
	TP_OK_OR_FAIL(client(a, pem("ca.pem"), NULL, NULL, NULL));
	int fd = peer(a);
	assert_true(send(fd, junk, sizeof(junk), MSG_NOSIGNAL) > 0);
	close(fd);
	TP_OK_OR_FAIL(client(a, pem("ca.pem"), NULL, NULL, NULL));
	int stalled[40];
	for (int i = 0; i < 40; i++) { /* a handshake's first bytes */
		stalled[i] = peer(a);
		assert_true(send(stalled[i], junk, 3, MSG_NOSIGNAL) == 3);
	}
	TP_OK_OR_FAIL(client(a, pem("ca.pem"), NULL, NULL, NULL));
	for (int i = 0; i < 40; i++)
		close(stalled[i]);
	TP_OK_OR_FAIL(client(a, pem("ca.pem"), NULL, NULL, NULL));
	TP_OK_OR_FAIL(tp_manager_shutdown(m));
}

int main(int argc, char **argv)
{
	tp_spawn_guard();
	signal(SIGPIPE, SIG_IGN);
	if (argc > 1 && strcmp(argv[1], "--no-gnutls") == 0) {
		const struct CMUnitTest nolib[] = {
		    cmocka_unit_test(test_no_gnutls),
		};
		return cmocka_run_group_tests(nolib, setup, teardown);
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_gnutls_on_demand),
	    cmocka_unit_test(test_server_verified),
	    cmocka_unit_test(test_pinned_and_mitm),
	    cmocka_unit_test(test_client_certificates),
	    cmocka_unit_test(test_bad_peers),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
