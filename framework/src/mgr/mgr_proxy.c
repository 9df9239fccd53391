/*
 * mgr_proxy.c - typed shorthands over tp_proxy_call for the built-in
 * manager types (dict, list, namespace, Value, Queue, Lock, Event), and
 * tp_val, the one-value argument they take.
 */
#include <stdlib.h>
#include <string.h>

#include "mgr_int.h"
#include "troupe/error.h"

#define CALL_WAIT 30000

tp_val tp_none(void)
{
	return (tp_val){.type = TP_TNONE};
}

tp_val tp_int(int64_t v)
{
	return (tp_val){.type = TP_TINT, .i = v};
}

tp_val tp_dbl(double v)
{
	return (tp_val){.type = TP_TDOUBLE, .d = v};
}

tp_val tp_str(const char *s)
{
	return (tp_val){
	    .type = TP_TSTRING, .data = s, .len = s ? strlen(s) : 0};
}

tp_val tp_bytes(const void *data, size_t len)
{
	return (tp_val){.type = TP_TBYTES, .data = data, .len = len};
}

int tp_payload_add_val(tp_payload *p, tp_val v)
{
	switch (v.type) {
	case TP_TNONE:
		return tp_payload_add_none(p);
	case TP_TINT:
		return tp_payload_add_int(p, v.i);
	case TP_TDOUBLE:
		return tp_payload_add_double(p, v.d);
	case TP_TSTRING:
		return v.data ? tp_payload_add_string(p, v.data) : TP_EINVAL;
	case TP_TBYTES:
		return tp_payload_add_bytes(p, v.data, v.len);
	default:
		return TP_EINVAL;
	}
}

/* Calls method with up to two tp_val arguments (n of them). */
static int call_vals(tp_proxy *px, const char *method, int n, tp_val a,
                     tp_val b, tp_payload *out, int timeout_ms)
{
	tp_payload args = {0};
	int rv = TP_OK;
	if (n > 0)
		rv = tp_payload_add_val(&args, a);
	if (rv == TP_OK && n > 1)
		rv = tp_payload_add_val(&args, b);
	if (rv == TP_OK)
		rv = tp_proxy_call(px, method, &args, out, timeout_ms);
	tp__payload_fini(&args);
	return rv;
}

/* Calls method and reads one int result. */
static int call_int(tp_proxy *px, const char *method, int n, tp_val a,
                    int64_t *out)
{
	tp_payload r = {0};
	if (out == NULL)
		return TP_EINVAL;
	int rv = call_vals(px, method, n, a, tp_none(), &r, 0);
	if (rv == TP_OK)
		rv = tp_payload_get_int(&r, 0, out);
	tp__payload_fini(&r);
	return rv;
}

int tp_dict_set(tp_proxy *d, tp_val key, tp_val value)
{
	return call_vals(d, "set", 2, key, value, NULL, 0);
}

int tp_dict_get(tp_proxy *d, tp_val key, tp_payload *out)
{
	return call_vals(d, "get", 1, key, tp_none(), out, 0);
}

int tp_dict_del(tp_proxy *d, tp_val key)
{
	return call_vals(d, "del", 1, key, tp_none(), NULL, 0);
}

int tp_dict_pop(tp_proxy *d, tp_val key, tp_payload *out)
{
	return call_vals(d, "pop", 1, key, tp_none(), out, 0);
}

int tp_dict_contains(tp_proxy *d, tp_val key, int *out)
{
	int64_t v = 0;
	int rv = call_int(d, "contains", 1, key, &v);
	if (rv == TP_OK && out != NULL)
		*out = (int)v;
	return out == NULL ? TP_EINVAL : rv;
}

int tp_dict_len(tp_proxy *d, int64_t *out)
{
	return call_int(d, "len", 0, tp_none(), out);
}

int tp_list_append(tp_proxy *l, tp_val v)
{
	return call_vals(l, "append", 1, v, tp_none(), NULL, 0);
}

int tp_list_get(tp_proxy *l, int64_t index, tp_payload *out)
{
	return call_vals(l, "get", 1, tp_int(index), tp_none(), out, 0);
}

int tp_list_set(tp_proxy *l, int64_t index, tp_val v)
{
	return call_vals(l, "set", 2, tp_int(index), v, NULL, 0);
}

int tp_list_len(tp_proxy *l, int64_t *out)
{
	return call_int(l, "len", 0, tp_none(), out);
}

int tp_list_reverse(tp_proxy *l)
{
	return tp_proxy_call(l, "reverse", NULL, NULL, 0);
}

int tp_ns_set(tp_proxy *ns, const char *name, tp_val v)
{
	return name ? call_vals(ns, "set", 2, tp_str(name), v, NULL, 0)
	            : TP_EINVAL;
}

int tp_ns_get(tp_proxy *ns, const char *name, tp_payload *out)
{
	return name ? call_vals(ns, "get", 1, tp_str(name), tp_none(), out, 0)
	            : TP_EINVAL;
}

int tp_value_get(tp_proxy *v, tp_payload *out)
{
	return tp_proxy_call(v, "get", NULL, out, 0);
}

int tp_value_set(tp_proxy *v, tp_val x)
{
	return call_vals(v, "set", 1, x, tp_none(), NULL, 0);
}

int tp_mqueue_put(tp_proxy *q, tp_val v, int timeout_ms)
{
	return call_vals(q, "put", 1, v, tp_none(), NULL, timeout_ms);
}

int tp_mqueue_get(tp_proxy *q, tp_payload *out, int timeout_ms)
{
	return tp_proxy_call(q, "get", NULL, out, timeout_ms);
}

int tp_mqueue_task_done(tp_proxy *q)
{
	return tp_proxy_call(q, "task_done", NULL, NULL, 0);
}

int tp_mqueue_join(tp_proxy *q, int timeout_ms)
{
	return tp_proxy_call(q, "join", NULL, NULL, timeout_ms);
}

int tp_mlock_acquire(tp_proxy *l, int timeout_ms)
{
	return tp_proxy_call(l, "acquire", NULL, NULL, timeout_ms);
}

int tp_mlock_release(tp_proxy *l)
{
	return tp_proxy_call(l, "release", NULL, NULL, 0);
}

int tp_mevent_set(tp_proxy *e)
{
	return tp_proxy_call(e, "set", NULL, NULL, 0);
}

int tp_mevent_clear(tp_proxy *e)
{
	return tp_proxy_call(e, "clear", NULL, NULL, 0);
}

int tp_mevent_is_set(tp_proxy *e, int *out)
{
	int64_t v = 0;
	int rv = call_int(e, "is_set", 0, tp_none(), &v);
	if (rv == TP_OK && out != NULL)
		*out = (int)v;
	return out == NULL ? TP_EINVAL : rv;
}

int tp_mevent_wait(tp_proxy *e, int timeout_ms)
{
	return tp_proxy_call(e, "wait", NULL, NULL, timeout_ms);
}

/* Shorthands for tp_manager_create. */
int tp_manager_dict(tp_manager *m, tp_proxy **out)
{
	return tp_manager_create(m, "dict", NULL, out);
}

int tp_manager_value(tp_manager *m, const char *typecode, tp_val init,
                     tp_proxy **out)
{
	tp_payload *args;
	int rv = tp_payload_new(&args);
	if (rv == TP_OK)
		rv = tp_payload_add_val(args, init);
	if (rv == TP_OK)
		rv = typecode ? tp_payload_add_string(args, typecode)
		              : tp_payload_add_none(args);
	if (rv == TP_OK)
		rv = tp_manager_create(m, "value", args, out);
	tp_payload_free(args);
	return rv;
}

int tp_manager_list(tp_manager *m, const tp_payload *items, tp_proxy **out)
{
	return tp_manager_create(m, "list", items, out);
}

int tp_manager_array(tp_manager *m, char typecode, const tp_payload *items,
                     tp_proxy **out)
{
	char tc[2] = {typecode, '\0'};
	tp_payload *args;
	int rv;
	if (m == NULL || out == NULL || typecode == '\0')
		return TP_EINVAL;
	if ((rv = tp_payload_new(&args)) != TP_OK)
		return rv;
	rv = tp_payload_add_string(args, tc);
	for (size_t i = 0; rv == TP_OK && i < tp_payload_count(items); i++) {
		struct tp_value v = tp__payload_at(items, i);
		rv = tp__payload_push(args, &v);
	}
	if (rv == TP_OK)
		rv = tp_manager_create(m, "array", args, out);
	tp_payload_free(args);
	return rv;
}

int tp_manager_namespace(tp_manager *m, tp_proxy **out)
{
	return tp_manager_create(m, "namespace", NULL, out);
}

static int create_int(tp_manager *m, const char *type, int64_t v,
                      tp_proxy **out)
{
	tp_payload args = {0};
	int rv = tp_payload_add_int(&args, v);
	if (rv == TP_OK)
		rv = tp_manager_create(m, type, &args, out);
	tp__payload_fini(&args);
	return rv;
}

int tp_manager_queue(tp_manager *m, int64_t maxsize, tp_proxy **out)
{
	return create_int(m, "queue", maxsize, out);
}

int tp_manager_lock(tp_manager *m, tp_proxy **out)
{
	return tp_manager_create(m, "lock", NULL, out);
}

int tp_manager_rlock(tp_manager *m, tp_proxy **out)
{
	return tp_manager_create(m, "rlock", NULL, out);
}

int tp_manager_semaphore(tp_manager *m, int64_t value, tp_proxy **out)
{
	return create_int(m, "semaphore", value, out);
}

int tp_manager_event(tp_manager *m, tp_proxy **out)
{
	return tp_manager_create(m, "event", NULL, out);
}
