/*
 * pool_fmt.c - pool calls with their arguments given inline by a format
 * (troupe/fmt.h): pool.apply(f, (x,)) and pool.apply_async(...) in one
 * line, and `with Pool(n) as p: p.map(f, items)` as one call. Built on
 * the public pool and payload calls only.
 */
#include "troupe/error.h"
#include "troupe/fmt.h"

/* Builds the arguments from fmt and the va_list into *out. */
static int args_of(tp_payload **out, const char *fmt, va_list ap)
{
	int rv = tp_payload_new(out);
	if (rv == TP_OK && (rv = tp_vpack(*out, fmt, ap)) != TP_OK) {
		tp_payload_free(*out);
		*out = NULL;
	}
	return rv;
}

int tp_pool_applyf(tp_pool *pool, tp_target_fn fn, tp_payload **out,
                   const char *fmt, ...)
{
	tp_payload *args;
	va_list ap;
	va_start(ap, fmt);
	int rv = args_of(&args, fmt, ap);
	va_end(ap);
	if (rv == TP_OK)
		rv = tp_pool_apply(pool, fn, args, out);
	tp_payload_free(args);
	return rv;
}

int tp_pool_mapf(tp_pool *pool, tp_target_fn fn, tp_payload **out,
                 const char *fmt, ...)
{
	tp_payload *items;
	va_list ap;
	va_start(ap, fmt);
	int rv = args_of(&items, fmt, ap);
	va_end(ap);
	if (rv == TP_OK)
		rv = tp_pool_map(pool, fn, items, 0, out);
	tp_payload_free(items);
	return rv;
}

int tp_pool_submit(tp_pool *pool, tp_target_fn fn, tp_pool_callback callback,
                   tp_pool_error_callback error_callback, void *arg,
                   tp_pool_result **out, const char *fmt, ...)
{
	tp_payload *args;
	va_list ap;
	va_start(ap, fmt);
	int rv = args_of(&args, fmt, ap);
	va_end(ap);
	if (rv == TP_OK)
		rv = tp_pool_apply_async(pool, fn, args, callback,
		                         error_callback, arg, out);
	tp_payload_free(args);
	return rv;
}

int tp_pool_run_map(int processes, tp_target_fn fn, const tp_payload *items,
                    tp_payload **out)
{
	tp_pool *pool = NULL;
	if (out != NULL)
		*out = NULL;
	if (fn == NULL || items == NULL || out == NULL)
		return TP_EINVAL;
	int rv = tp_pool_new(&pool, processes, NULL, NULL, 0);
	if (rv == TP_OK)
		rv = tp_pool_map(pool, fn, items, 0, out);
	tp_pool_free(pool);
	return rv;
}

int tp_pool_run_mapf(int processes, tp_target_fn fn, tp_payload **out,
                     const char *fmt, ...)
{
	tp_payload *items = NULL;
	va_list ap;
	if (out != NULL)
		*out = NULL;
	va_start(ap, fmt);
	int rv = args_of(&items, fmt, ap);
	va_end(ap);
	if (rv == TP_OK)
		rv = tp_pool_run_map(processes, fn, items, out);
	tp_payload_free(items);
	return rv;
}
