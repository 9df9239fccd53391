/* listener_shareable_list - multiprocessing.connection and shared_memory
 * together (Python's docs, not the seeds): a Listener with an authkey, a
 * Client in another process, and a ShareableList of a
 * SharedMemoryManager that the client attaches by the name it is sent.
 * The list's block goes when the manager shuts down, or if this program
 * is killed. */
#include <troupe/troupe.h>

#define KEY "secret password"

TP_TASK(client)
{
	const char *address, *name;
	tp_conn *c;
	tp_payload *msg;
	tp_slist *sl;
	TP_TRY(tp_unpack(args, "s", &address));
	TP_TRY(tp_client_new(&c, address, KEY, sizeof KEY - 1, 5000));
	TP_TRY(tp_conn_recv(c, &msg, 5000));
	TP_TRY(tp_unpack(msg, "s", &name));
	TP_TRY(tp_slist_attach(&sl, name));
	tp_slist_set_str(sl, 1, "howdy"), tp_slist_set_bool(sl, 2, 1);
	tp_conn_sendf(c, "s", "done");
	tp_conn_recv(c, &msg, 5000); /* until the listener closes: TP_EOF */
	return tp_free("P", msg), tp_slist_free(sl), tp_free("C", c);
}

int main(void)
{
	tp_listener *l;
	tp_smm *smm;
	tp_slist *sl;
	tp_conn *c;
	tp_payload *items, *reply = NULL;
	char buf[200];
	tp_init(NULL);
	tp_smm_start(&smm);
	tp_pack_new(&items, "isnd", 1, "hello", 0.5);
	tp_smm_slist(smm, items, &sl);
	tp_listener_new(&l, "tcp://127.0.0.1:0", KEY, sizeof KEY - 1);
	tp_process_startf(NULL, client, "s", tp_listener_address(l));
	if (tp_listener_accept(l, &c, 10000) == TP_OK) {
		tp_print("s", "accepted a client that knows the key");
		tp_conn_sendf(c, "s", tp_slist_name(sl));
		tp_conn_recv(c, &reply, 10000);
		tp_print("p", reply);
	}
	tp_print("s", tp_slist_repr(sl, buf, sizeof buf));
	tp_free("PPC", items, reply, c);
	tp_slist_free(sl), tp_smm_free(smm), tp_listener_free(l);
	return tp_fini();
}
