/*
 * process_fmt.c - Process(target=f, args=(...)).start() in one call, the
 * arguments given inline by a format (troupe/fmt.h). Built on the public
 * process and payload calls only.
 */
#include "troupe/error.h"
#include "troupe/fmt.h"

int tp_process_startf(tp_process **out, tp_target_fn fn, const char *fmt, ...)
{
	tp_payload *args = NULL;
	va_list ap;
	int rv;
	if (out == NULL)
		return TP_EINVAL;
	*out = NULL;
	if ((rv = tp_payload_new(&args)) != TP_OK)
		return rv;
	va_start(ap, fmt);
	rv = tp_vpack(args, fmt, ap);
	va_end(ap);
	if (rv == TP_OK && (rv = tp_process_new(out, fn, args, NULL)) == TP_OK &&
	    (rv = tp_process_start(*out)) != TP_OK) {
		tp_process_free(*out);
		*out = NULL;
	}
	tp_payload_free(args);
	return rv;
}
