/*
 * manager_remote.c - a manager serving a queue over TCP to clients that
 * know only its address and authkey (Python's
 *   class QueueManager(BaseManager): pass
 *   QueueManager.register('get_queue', callable=lambda: queue)
 *   m = QueueManager(address=('', 50000), authkey=b'abracadabra')
 * on the server, and on a client
 *   m = QueueManager(address=(host, 50000), authkey=b'abracadabra')
 *   m.connect(); q = m.get_queue(); q.put('hello')).
 *
 *   manager_remote server [ADDRESS]   serve until a client says stop
 *   manager_remote put ADDRESS TEXT   put TEXT on the shared queue
 *   manager_remote get ADDRESS        take one item and print it
 *   manager_remote stop ADDRESS       shut the server down
 *   manager_remote                    demo: a server process and a
 *                                     client on loopback
 *
 * The key is $TROUPE_AUTHKEY, else "abracadabra". ADDRESS defaults to
 * tcp://127.0.0.1:50000 (loopback); tcp://0.0.0.0:PORT serves other hosts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "troupe/troupe.h"

#define DEFAULT_ADDR "tcp://127.0.0.1:50000"

static const char *key(void)
{
	const char *k = getenv("TROUPE_AUTHKEY");
	return k && *k ? k : "abracadabra";
}

/* m.connect(); q = m.get_queue() */
static int get_queue(const char *addr, tp_manager **m, tp_proxy **q)
{
	int rv = tp_manager_connect(m, addr, key(), strlen(key()), 10000);
	if (rv == TP_OK &&
	    (rv = tp_manager_get(*m, "queue", "queue", NULL, q)) != TP_OK)
		tp_manager_free(*m);
	return rv;
}

static int client(const char *cmd, const char *addr, const char *text)
{
	tp_manager *m;
	tp_proxy *q;
	int rv = get_queue(addr, &m, &q);
	if (rv != TP_OK)
		return rv;
	if (strcmp(cmd, "put") == 0) {
		rv = tp_mqueue_put(q, tp_str(text), -1);
	} else if (strcmp(cmd, "get") == 0) {
		tp_payload *out;
		const char *s;
		tp_payload_new(&out);
		if ((rv = tp_mqueue_get(q, out, 10000)) == TP_OK &&
		    (rv = tp_payload_get_string(out, 0, &s)) == TP_OK)
			printf("got %s\n", s);
		tp_payload_free(out);
	}
	tp_proxy_free(q);
	if (strcmp(cmd, "stop") == 0)
		return tp_manager_shutdown(m);
	tp_manager_free(m);
	return rv;
}

/* The demo: the server as a troupe child, a client in this process. */
static int demo(void)
{
	tp_manager *m;
	tp_manager_opts o = {.address = "tcp://127.0.0.1:0",
	                     .authkey = key(),
	                     .authkey_len = strlen(key())};
	int rv = tp_manager_start(&m, &o);
	if (rv != TP_OK)
		return rv;
	printf("manager listening on %s\n", tp_manager_address(m));
	if ((rv = client("put", tp_manager_address(m), "hello")) == TP_OK)
		rv = client("get", tp_manager_address(m), NULL);
	tp_manager *bad;
	int wrong =
	    tp_manager_connect(&bad, tp_manager_address(m), "wrong", 5, 5000);
	printf("a client with a wrong key: %s\n", tp_strerror(wrong));
	if (wrong == TP_OK)
		tp_manager_free(bad);
	int sr = tp_manager_shutdown(m);
	return rv != TP_OK ? rv : sr;
}

int main(int argc, char **argv)
{
	int rv = tp_init(NULL);
	const char *cmd = argc > 1 ? argv[1] : "demo";
	const char *addr = argc > 2 ? argv[2] : DEFAULT_ADDR;
	if (rv != TP_OK) {
		fprintf(stderr, "tp_init: %s\n", tp_strerror(rv));
		return 1;
	}
	if (strcmp(cmd, "demo") == 0) {
		rv = demo();
	} else if (strcmp(cmd, "server") == 0) {
		tp_manager_opts o = {.address = addr,
		                     .authkey = key(),
		                     .authkey_len = strlen(key())};
		fprintf(stderr, "serving on %s\n", addr);
		rv = tp_manager_serve(&o, -1);
	} else if (strcmp(cmd, "put") == 0 && argc > 3) {
		rv = client(cmd, addr, argv[3]);
	} else if (strcmp(cmd, "get") == 0 || strcmp(cmd, "stop") == 0) {
		rv = client(cmd, addr, NULL);
	} else {
		fprintf(stderr,
		        "usage: %s [server [ADDR] | put ADDR TEXT | "
		        "get ADDR | stop ADDR]\n",
		        argv[0]);
		rv = TP_EINVAL;
	}
	if (rv != TP_OK)
		fprintf(stderr, "manager_remote: %s\n", tp_strerror(rv));
	tp_fini();
	return rv == TP_OK ? 0 : 1;
}
