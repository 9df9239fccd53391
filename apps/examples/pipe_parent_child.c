/* pipe_parent_child - seed 001 "inter-process using Pipe" (the Python
 * documentation's example): the child sends [42, None, 'hello'] through
 * a Pipe and closes its end; the parent prints what it receives. */
#include <troupe/troupe.h>

TP_TASK(f)
{
	tp_conn *conn;
	TP_TRY(tp_unpack(args, "C", &conn));
	int rv = tp_conn_sendf(conn, "ins", 42, "hello");
	return tp_free("C", conn) || rv; /* conn.close() */
}

int main(void)
{
	tp_conn *parent_conn, *child_conn;
	tp_payload *msg = NULL;
	tp_init(NULL), tp_pipe_new(&parent_conn, &child_conn, 1);
	tp_process_startf(NULL, f, "C", child_conn); /* joined by tp_fini */
	if (tp_conn_recv(parent_conn, &msg, -1) == TP_OK)
		tp_print("P", msg); /* prints "[42, None, 'hello']" */
	tp_free("PCC", msg, parent_conn, child_conn);
	return tp_fini();
}
