/*
 * pipe_fmt.c - conn.send(...) with the message given inline by a format
 * (troupe/fmt.h). Built on the public pipe and payload calls only.
 */
#include "troupe/error.h"
#include "troupe/fmt.h"

int tp_conn_sendf(tp_conn *c, const char *fmt, ...)
{
	tp_payload *msg;
	va_list ap;
	int rv = tp_payload_new(&msg);
	if (rv != TP_OK)
		return rv;
	va_start(ap, fmt);
	rv = tp_vpack(msg, fmt, ap);
	va_end(ap);
	if (rv == TP_OK)
		rv = tp_conn_send(c, msg);
	tp_payload_free(msg);
	return rv;
}
