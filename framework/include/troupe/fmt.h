/*
 * troupe/fmt.h - the concise API: argument lists built and read in one call
 * from a format string, Python reprs, and shorthands for the common calls.
 *
 *   tp_pack(args, "isd", 7, "bob", 0.5);            // args += (7, 'bob', 0.5)
 *   tp_unpack(args, "isd", &n, &name, &x);          // n, name, x = args
 *   printf("%s\n", tp_repr(res, buf, sizeof buf));  // [1, 4, 9]
 *
 * A format string has one letter per value:
 *
 *   letter  Python  tp_pack takes           tp_unpack stores into
 *   n       None    (nothing)               (nothing: checks it is None)
 *   i       int     int                     int *   (TP_EVALUE if it does
 *                                                    not fit in an int)
 *   l       int     int64_t                 int64_t *
 *   d       float   double                  double *
 *   s       str     const char * (not NULL) const char ** (borrowed)
 *   z       str     const char *, NULL for  const char **, NULL for None
 *           / None  None
 *   b       bytes   const void *, size_t    const void ** (borrowed), size_t *
 *   L S E   Lock, Semaphore, Event: tp_lock *, tp_sem *, tp_event * /
 *           tp_lock **, tp_sem **, tp_event ** (attached: free them)
 *   Q       Queue   tp_queue *              tp_queue ** (free it)
 *   V A     shared Value, Array: tp_value *, tp_array * / tp_value **,
 *           tp_array ** (free them)
 *   C       Pipe end (Connection): tp_conn * / tp_conn ** (free it)
 *   X       Manager proxy: tp_proxy *       tp_proxy ** (connected with
 *                                           the run's key; free it)
 *   r       ints    int start, int stop     (not allowed: tp_pack only)
 *                   appends start, start+1, ..., stop-1 (Python's
 *                   *range(start, stop): map over "r", 0, 10)
 *   .       any     (not allowed)           (nothing: skips one value)
 *   *       (end)   (not allowed)           (nothing: ignore every value
 *                                            left; only last in fmt)
 *
 * Objects travel as handles: the receiver attaches to the same lock,
 * queue, Value or manager object (troupe/sync.h, queue.h, shared.h,
 * manager.h); NULL objects are refused by tp_pack. Spaces in a format are
 * ignored. tp_unpack wants exactly one value per
 * letter (as Python's `a, b = t`) unless the format ends with '*'. The
 * 'i' letter takes a C int on purpose: tp_pack(p, "i", 7) is correct C,
 * whereas a literal 7 passed for an int64_t would not be.
 *
 * Pointers stored by tp_unpack ('s', 'z', 'b') are borrowed from the
 * payload: valid until it is cleared or freed. Nothing here keeps state
 * between calls; every call is as thread-safe as its payload.
 */
#ifndef TROUPE_FMT_H
#define TROUPE_FMT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "troupe/manager.h"
#include "troupe/pipe.h"
#include "troupe/payload.h"
#include "troupe/pool.h"
#include "troupe/process.h"
#include "troupe/queue.h"
#include "troupe/shared.h"
#include "troupe/sync.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * tp_pack appends one value per letter of fmt to p.
 * Errors: TP_EINVAL (p or fmt NULL, a letter tp_pack does not take, a NULL
 * 's' string or a NULL 'b' pointer with a length), TP_ENOMEM. The format and
 * the arguments are checked before anything is added, so on TP_EINVAL p is
 * unchanged; on TP_ENOMEM p may hold the first values of the format.
 */
int tp_pack(tp_payload *p, const char *fmt, ...);
int tp_vpack(tp_payload *p, const char *fmt, va_list ap);

/* tp_pack_new is tp_payload_new + tp_pack: *out is NULL on error. */
int tp_pack_new(tp_payload **out, const char *fmt, ...);

/* tp_range: a new payload of the ints start, start+1, ... stop-1 (Python's
 * range(start, stop), e.g. the items of a map). Errors: TP_EINVAL,
 * TP_ENOMEM; *out is NULL on error. */
int tp_range(tp_payload **out, int64_t start, int64_t stop);

/*
 * tp_unpack reads p's values into the pointers, one per letter of fmt.
 * Nothing is stored unless every value matches its letter, so an error
 * leaves the caller's variables as they were - except that an object's
 * kind (Lock or Queue...) is only known when it is attached: if one is of
 * another kind, TP_ETYPE is returned and the objects attached before it
 * are freed and their pointers set to NULL.
 * Errors: TP_EINVAL (p or fmt NULL, unknown letter), TP_ETYPE (a value of
 * another type, or another number of values than letters), TP_EVALUE (an
 * 'i' value outside int's range). tp_unpack_why tells which value and both
 * types.
 */
int tp_unpack(const tp_payload *p, const char *fmt, ...);
int tp_vunpack(const tp_payload *p, const char *fmt, va_list ap);

/*
 * tp_unpack_why checks p against fmt as tp_unpack does, without storing
 * anything. It returns the same code; on an error it writes a sentence into
 * buf (truncated to len) naming the position and both types, e.g.
 * "value 2: format 's' wants str, got int (7)" or "format \"ii\" wants 2
 * values, got 3". On success buf holds "".
 */
int tp_unpack_why(const tp_payload *p, const char *fmt, char *buf, size_t len);

/*
 * TP_TASK(fn) { body } defines a target (process, pool task, initializer)
 * and registers it by name, as `def fn(*args):` does in Python. In body,
 * args is the argument payload and result the payload to fill; either may
 * go unused:
 *
 *   TP_TASK(square) { int x; return tp_unpack(args, "i", &x) ||
 *                     tp_pack(result, "i", x * x); }
 */
#define TP_TASK(fn)                                                            \
	static int fn(const tp_payload *, tp_payload *);                       \
	TP_TARGET(fn)                                                          \
	static int fn(const tp_payload *args __attribute__((unused)),          \
	              tp_payload *result __attribute__((unused)))

/*
 * TP_TASK_INT(fn, x) { body } defines a task of one int argument x
 * (int64_t) whose body returns an int64_t: Python's `def fn(x): return
 * x*x`, the usual function of a map. Given anything but one int, the
 * task fails with TP_ETYPE (see tp_unpack; a pool reports it as
 * TP_EREMOTE with that code).
 *
 *   TP_TASK_INT(square, x) { return x * x; }
 */
#define TP_TASK_INT(fn, x)                                                     \
	static int64_t fn##_int_(int64_t);                                     \
	TP_TASK(fn)                                                            \
	{                                                                      \
		int64_t tp_x_;                                                 \
		int tp_rv_ = tp_unpack(args, "l", &tp_x_);                     \
		return tp_rv_ ? tp_rv_                                         \
		              : tp_pack(result, "l", fn##_int_(tp_x_));        \
	}                                                                      \
	static int64_t fn##_int_(int64_t x)

/*
 * TP_ERROR_CALLBACK(fn) { body } defines a pool error callback
 * (tp_pool_error_callback): in body, err is the failure (borrowed) and arg
 * the submit call's arg; either may go unused.
 */
#define TP_ERROR_CALLBACK(fn)                                                  \
	static int fn(const tp_pool_error *err __attribute__((unused)),        \
	              void *arg __attribute__((unused)))

/* ---- Python reprs -------------------------------------------------------
 * Each writes into buf (at most len bytes, always NUL-terminated; a repr
 * that does not fit ends in "...") and returns buf, so it can be used
 * inside printf. A NULL payload gives "[]", an index out of range "". */

/* tp_repr: the payload as a Python list: "[1, 'a', b'\x00', None, 0.5]". */
const char *tp_repr(const tp_payload *p, char *buf, size_t len);

/* tp_repr_at: repr(value i) ("'bob'"); tp_str_at: str(value i) ("bob"),
 * what Python's print shows. */
const char *tp_repr_at(const tp_payload *p, size_t i, char *buf, size_t len);
const char *tp_str_at(const tp_payload *p, size_t i, char *buf, size_t len);

/* tp_is_str: 1 when value i of p is the str s (Python's `x == 'end'`),
 * else 0 (another type, another text, no such value). */
int tp_is_str(const tp_payload *p, size_t i, const char *s);

/* tp_repr_double: repr(float) - the shortest text that reads back as the
 * same double: "2.7182818284590455", "0.1", "1e+16", "-0.0", "inf", "nan". */
const char *tp_repr_double(double v, char *buf, size_t len);

/* tp_value_repr: repr(v.value) of a shared Value ("3.1415927", "7",
 * b'x' for 'c'); tp_array_repr: repr(a[:]) ("[0, -1, -2]"). They read
 * under the object's lock. */
const char *tp_value_repr(tp_value *v, char *buf, size_t len);
const char *tp_array_repr(tp_array *a, char *buf, size_t len);

/* tp_slist_repr: repr(l) of a ShareableList, as Python prints it:
 * "ShareableList([1, 'a', True, None], name='sl1')". The items are read
 * without a lock, as Python's are. */
const char *tp_slist_repr(tp_slist *l, char *buf, size_t len);

/* (A Manager proxy's repr is tp_proxy_repr, troupe/manager.h.) */

/*
 * tp_print: Python's print(*args) - the str() of each argument, separated
 * by spaces, a newline, then stdout is flushed (so a child's line is out
 * before it exits or another process prints). The letters are tp_pack's
 * ('s' prints the text itself, 'd' the float's repr) and:
 *   P  const tp_payload *  its values as a list: [1, 'a']
 *   p  const tp_payload *  its values as print(*values): 1 a
 *   V  tp_value *          a shared Value's value: 3.1415927
 *   A  tp_array *          a shared Array's items: [0, -1, -2]
 *   X  tp_proxy *          a Manager proxy's repr: {1: '1'}
 * tp_print("sid", "pi is", 3, 0.14) prints "pi is 3 0.14". A repr longer
 * than 64 KiB ends in "...". Errors: TP_EINVAL (fmt NULL, or a letter
 * other than these: nothing is printed), TP_ENOMEM.
 */
int tp_print(const char *fmt, ...);

/* tp_printf: printf, then stdout is flushed - Python's print(f"...") from
 * any process. Errors: TP_EINVAL (fmt NULL), wrapped errno. */
int tp_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * tp_free frees one object per letter, in order, each with its own free
 * call (NULL allowed): the letters of tp_pack's objects and P (a payload),
 * T (a process), O (a pool), R (a pool result), M (a manager: shut down).
 * tp_free("PLT", args, lock, p). It returns TP_OK, so a task can end with
 * `return tp_free("L", lock);`; at an unknown letter it stops and returns
 * TP_EINVAL (fmt NULL: TP_EINVAL).
 */
int tp_free(const char *fmt, ...);

/*
 * TP_TRY(call) returns call's error code from the enclosing function when
 * it fails - the C spelling of letting Python's exception propagate:
 *   TP_TRY(tp_unpack(args, "Li", &lock, &i));
 */
#define TP_TRY(call)                                                           \
	do {                                                                   \
		int tp_try_rv_ = (call);                                       \
		if (tp_try_rv_ != 0)                                           \
			return tp_try_rv_;                                     \
	} while (0)

/* ---- Shorthands ---------------------------------------------------------- */

/*
 * tp_pool_applyf is tp_pool_apply with its arguments given inline:
 * tp_pool_applyf(pool, f, &res, "i", 10) is Python's pool.apply(f, (10,)).
 * tp_pool_submit is tp_pool_apply_async likewise:
 * tp_pool_submit(pool, worker, cb, ecb, arg, &r, "i", i) is
 * pool.apply_async(worker, (i,), callback=cb, error_callback=ecb).
 * Errors: as tp_pack, then as tp_pool_apply / tp_pool_apply_async.
 */
int tp_pool_applyf(tp_pool *pool, tp_target_fn fn, tp_payload **out,
                   const char *fmt, ...);
/*
 * tp_pool_mapf is tp_pool_map over items given inline:
 * tp_pool_mapf(pool, f, &out, "iii", 1, 2, 3) is pool.map(f, [1, 2, 3]).
 * Errors: as tp_pack, then as tp_pool_map.
 */
int tp_pool_mapf(tp_pool *pool, tp_target_fn fn, tp_payload **out,
                 const char *fmt, ...);
int tp_pool_submit(tp_pool *pool, tp_target_fn fn, tp_pool_callback callback,
                   tp_pool_error_callback error_callback, void *arg,
                   tp_pool_result **out, const char *fmt, ...);

/*
 * tp_pool_run_map is `with Pool(processes) as p: out = p.map(fn, items)`:
 * a pool of processes workers (0: tp_cpu_count()) made for this one map,
 * terminated and freed before it returns. tp_pool_run_mapf takes the
 * items inline: tp_pool_run_mapf(4, f, &out, "r", 0, 10) is
 * `Pool(4).map(f, range(10))`. *out (the results in order; free it) is
 * NULL on error. Errors: TP_EINVAL (NULL fn, items, out or fmt), as
 * tp_pack, tp_pool_new and tp_pool_map.
 */
int tp_pool_run_map(int processes, tp_target_fn fn, const tp_payload *items,
                    tp_payload **out);
int tp_pool_run_mapf(int processes, tp_target_fn fn, tp_payload **out,
                     const char *fmt, ...);

/*
 * tp_process_startf: p = Process(target=fn, args=(...)); p.start() in one
 * call: tp_process_startf(&p, func_a, "s", "bob"). Free *out with
 * tp_process_free (after tp_process_join, or after tp_fini, which joins
 * every non-daemonic child as Python does at exit). *out is NULL on error.
 * With out NULL the process is the library's, as Python's
 * `Process(target=f).start()` with no name kept: tp_fini joins it, and it
 * is freed when the program exits.
 * Errors: as tp_pack, tp_process_new and tp_process_start.
 */
int tp_process_startf(tp_process **out, tp_target_fn fn, const char *fmt, ...);

/* tp_conn_sendf: conn.send([...]) with the values given inline:
 * tp_conn_sendf(conn, "ins", 42, "hello") sends [42, None, 'hello'].
 * Errors: as tp_pack, then as tp_conn_send. */
int tp_conn_sendf(tp_conn *c, const char *fmt, ...);

/*
 * tp_value_add_long / tp_value_add_double: `with v.get_lock(): v.value +=
 * delta` on a shared Value, as one call; the new value goes to *out (may
 * be NULL). A raw Value (no lock) is updated without one.
 * Errors: as tp_value_get_long / tp_value_get_double, plus lock errors.
 */
int tp_value_add_long(tp_value *v, int64_t delta, int64_t *out);
int tp_value_add_double(tp_value *v, double delta, double *out);

/*
 * tp_mvalue_add: `with lock: v.value += delta` on a Manager Value proxy
 * holding an int, lock a Manager Lock proxy (NULL: no lock, which races
 * exactly as Python's `v.value += delta` does). The new value goes to *out
 * (may be NULL). Errors: TP_ETYPE (the value is not an int), lock and
 * proxy errors (troupe/manager.h).
 */
int tp_mvalue_add(tp_proxy *v, tp_proxy *lock, int64_t delta, int64_t *out);

/* tp_manager_valuef: manager.Value(typecode, x) with x given by a
 * one-letter format: tp_manager_valuef(m, &counter, "i", 0); the letters
 * i, l and d are also the typecode its repr shows ("Value('i', 0)"),
 * other letters show None. Errors: as tp_pack, then as
 * tp_manager_create. */
int tp_manager_valuef(tp_manager *m, tp_proxy **out, const char *fmt, ...);

/* tp_mvalue_long: x = v.value of a Manager Value holding an int.
 * Errors: TP_ETYPE (not an int), TP_EINVAL, proxy errors. */
int tp_mvalue_long(tp_proxy *v, int64_t *out);

/* tp_mqueue_putf: q.put(value) on a Manager Queue proxy, the value given
 * by a one-letter format: tp_mqueue_putf(q, -1, "i", 7).
 * Errors: as tp_pack (TP_EINVAL unless fmt is one letter), then as
 * tp_mqueue_put. */
int tp_mqueue_putf(tp_proxy *q, int timeout_ms, const char *fmt, ...);

#ifdef __cplusplus
}
#endif
#endif
