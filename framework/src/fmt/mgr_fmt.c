/*
 * mgr_fmt.c - the concise calls on Manager proxies (troupe/fmt.h): `with
 * lock: v.value += d` and q.put(x) in one call. Built on the public
 * manager and payload calls only.
 */
#include <string.h>

#include "troupe/error.h"
#include "troupe/fmt.h"

/* v.value += delta, the caller holding whatever lock it wants. */
static int add(tp_proxy *v, int64_t delta, int64_t *out)
{
	tp_payload *cur;
	int64_t x;
	int rv = tp_payload_new(&cur);
	if (rv == TP_OK && (rv = tp_value_get(v, cur)) == TP_OK &&
	    (rv = tp_unpack(cur, "l", &x)) == TP_OK &&
	    (rv = tp_value_set(v, tp_int(x += delta))) == TP_OK && out)
		*out = x;
	tp_payload_free(cur);
	return rv;
}

int tp_manager_valuef(tp_manager *m, tp_proxy **out, const char *fmt, ...)
{
	tp_payload *init;
	va_list ap;
	int rv = fmt && strlen(fmt) == 1 ? tp_payload_new(&init) : TP_EINVAL;
	if (rv != TP_OK)
		return rv;
	va_start(ap, fmt);
	rv = tp_vpack(init, fmt, ap);
	va_end(ap);
	/* the letter is the typecode of Python's m.Value('i', 0) */
	if (rv == TP_OK && strchr("ild", fmt[0]) != NULL)
		rv = tp_payload_add_string(init, fmt);
	if (rv == TP_OK)
		rv = tp_manager_create(m, "value", init, out);
	tp_payload_free(init);
	return rv;
}

int tp_mvalue_long(tp_proxy *v, int64_t *out)
{
	tp_payload *cur;
	int rv = out ? tp_payload_new(&cur) : TP_EINVAL;
	if (rv == TP_OK && (rv = tp_value_get(v, cur)) == TP_OK)
		rv = tp_unpack(cur, "l", out);
	if (out != NULL)
		tp_payload_free(cur);
	return rv;
}

int tp_mvalue_add(tp_proxy *v, tp_proxy *lock, int64_t delta, int64_t *out)
{
	if (v == NULL)
		return TP_EINVAL;
	int rv = lock ? tp_mlock_acquire(lock, -1) : TP_OK;
	if (rv != TP_OK)
		return rv;
	rv = add(v, delta, out);
	int rrv = lock ? tp_mlock_release(lock) : TP_OK;
	return rv != TP_OK ? rv : rrv;
}

int tp_mqueue_putf(tp_proxy *q, int timeout_ms, const char *fmt, ...)
{
	tp_payload *item;
	tp_val v = tp_none();
	va_list ap;
	int rv;
	if (fmt == NULL || strlen(fmt) != 1)
		return TP_EINVAL;
	va_start(ap, fmt);
	rv = tp_payload_new(&item);
	if (rv == TP_OK)
		rv = tp_vpack(item, fmt, ap);
	va_end(ap);
	if (rv == TP_OK) {
		const char *s;
		const void *b;
		size_t n;
		if (tp_unpack(item, "l", &v.i) == TP_OK)
			v = tp_int(v.i);
		else if (tp_unpack(item, "d", &v.d) == TP_OK)
			v = tp_dbl(v.d);
		else if (tp_unpack(item, "s", &s) == TP_OK)
			v = tp_str(s);
		else if (tp_unpack(item, "b", &b, &n) == TP_OK)
			v = tp_bytes(b, n);
		rv = tp_mqueue_put(q, v, timeout_ms);
	}
	tp_payload_free(item);
	return rv;
}
