/*
 * pipe_parent_child - a Pipe between the main process and a child (seed
 * 001, "inter-process using Pipe"; the Python docs example): the child
 * sends [42, None, 'hello'] and closes its end; the parent prints it.
 * Prints: [42, None, 'hello']
 */
#include <stdio.h>

#include "troupe/troupe.h"

static int f(const tp_payload *args, tp_payload *result)
{
	tp_conn *conn;
	tp_payload *msg;
	(void)result;
	if (tp_payload_get_conn(args, 0, &conn) != TP_OK)
		return 1;
	tp_payload_new(&msg);
	tp_payload_add_int(msg, 42);
	tp_payload_add_none(msg);
	tp_payload_add_string(msg, "hello");
	int rv = tp_conn_send(conn, msg);
	tp_payload_free(msg);
	tp_conn_close(conn);
	tp_conn_free(conn);
	return rv;
}
TP_TARGET(f)

/* Prints a payload the way Python prints a list. */
static void print_list(const tp_payload *p)
{
	printf("[");
	for (size_t i = 0; i < tp_payload_count(p); i++) {
		tp_type t;
		int64_t v;
		const char *s;
		tp_payload_type(p, i, &t);
		printf(i ? ", " : "");
		if (t == TP_TINT && tp_payload_get_int(p, i, &v) == TP_OK)
			printf("%lld", (long long)v);
		else if (t == TP_TSTRING &&
		         tp_payload_get_string(p, i, &s) == TP_OK)
			printf("'%s'", s);
		else
			printf("None");
	}
	printf("]\n");
}

int main(void)
{
	tp_conn *parent_conn, *child_conn;
	tp_payload *args, *msg;
	tp_process *p;
	int rv = tp_init(NULL);
	if (rv != TP_OK) {
		fprintf(stderr, "tp_init: %s\n", tp_strerror(rv));
		return 1;
	}
	tp_pipe_new(&parent_conn, &child_conn, 1);
	tp_payload_new(&args);
	tp_payload_add_conn(args, child_conn);
	tp_process_new(&p, f, args, NULL);
	tp_process_start(p);
	if ((rv = tp_conn_recv(parent_conn, &msg, -1)) == TP_OK) {
		print_list(msg); /* prints "[42, None, 'hello']" */
		tp_payload_free(msg);
	} else {
		fprintf(stderr, "recv: %s\n", tp_strerror(rv));
	}
	tp_process_join(p, -1);
	tp_process_free(p);
	tp_payload_free(args);
	tp_conn_free(parent_conn);
	tp_conn_free(child_conn);
	tp_fini();
	return rv == TP_OK ? 0 : 1;
}
