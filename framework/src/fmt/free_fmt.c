/*
 * free_fmt.c - tp_free: the end of several objects' lives in one call, by
 * the letters of the concise API (troupe/fmt.h).
 */
#include "troupe/error.h"
#include "troupe/fmt.h"

/* Frees one object of letter c (NULL allowed); 0 for an unknown letter. */
static int free_one(char c, void *o)
{
	switch (c) {
	case 'P':
		tp_payload_free(o);
		return 1;
	case 'L':
		tp_lock_free(o);
		return 1;
	case 'S':
		tp_sem_free(o);
		return 1;
	case 'E':
		tp_event_free(o);
		return 1;
	case 'Q':
		tp_queue_free(o);
		return 1;
	case 'V':
		tp_value_free(o);
		return 1;
	case 'A':
		tp_array_free(o);
		return 1;
	case 'X':
		tp_proxy_free(o);
		return 1;
	case 'C':
		tp_conn_free(o);
		return 1;
	case 'T':
		tp_process_free(o);
		return 1;
	case 'O':
		tp_pool_free(o);
		return 1;
	case 'R':
		tp_pool_result_free(o);
		return 1;
	case 'M':
		if (o != NULL)
			tp_manager_shutdown(o);
		return 1;
	default:
		return 0;
	}
}

int tp_free(const char *fmt, ...)
{
	va_list ap;
	int rv = fmt ? TP_OK : TP_EINVAL;
	va_start(ap, fmt);
	for (const char *c = fmt; rv == TP_OK && *c; c++)
		if (*c != ' ' && !free_one(*c, va_arg(ap, void *)))
			rv = TP_EINVAL; /* unknown: its argument's type is not
			                   known */
	va_end(ap);
	return rv;
}
