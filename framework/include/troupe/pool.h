/*
 * troupe/pool.h - process pools: multiprocessing.Pool in C.
 *
 * A pool is a supervisor policy: its worker processes are children of the
 * pool's own simple_one_for_one supervisor ("pool-N" under tp_sup_root(),
 * troupe/supervisor.h), which starts them, watches them, replaces one that
 * dies and gives up when they die too often (max_restarts). The pool's
 * thread and its scheduling policy decide which worker gets which task; it
 * batches and pipelines tasks so workers never wait for a round trip, and
 * recycles a worker after maxtasksperchild tasks. A task held by a dead
 * worker is never lost: the one it
 * was running fails with TP_EDIED (or is retried, a per-pool policy) and the
 * ones it had not started run elsewhere. See docs/pool.md.
 *
 *   static int square(const tp_payload *args, tp_payload *result)
 *   {
 *           int64_t x;
 *           tp_payload_get_int(args, 0, &x);
 *           return tp_payload_add_int(result, x * x);
 *   }
 *   TP_TARGET(square);
 *   ...
 *   tp_pool *pool;
 *   tp_pool_new(&pool, 4, NULL, NULL, 0);
 *   tp_pool_map(pool, square, items, 0, &out);   // out[i] = items[i]^2
 *   tp_pool_free(pool);
 *
 * Task functions are tp_target_fn registered with TP_TARGET: workers find
 * them by name, so they work under every start method. A task succeeds when
 * it returns 0; any other value fails it (that value is the error's code)
 * and tp_task_fail() attaches a message. Timeouts are in milliseconds; -1
 * waits forever. Every call is thread-safe.
 */
#ifndef TROUPE_POOL_H
#define TROUPE_POOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "troupe/payload.h"
#include "troupe/process.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tp_pool tp_pool;
/* An AsyncResult / MapResult. */
typedef struct tp_pool_result tp_pool_result;
/* An IMapIterator. */
typedef struct tp_pool_iter tp_pool_iter;

/*
 * The failure of a task, as the caller receives it (Python's
 * RemoteTraceback). Strings are borrowed from the result object.
 *  code:     the task's non-zero return value (a TP_E* code, or the
 *            number it returned); else a TP_E* code: TP_ECANCELED,
 *            TP_ETIMEDOUT (its time limit), TP_EDIED (its worker died,
 *            or the pool gave up on its workers), ...
 *  origin:   "PoolWorker-2 (pid 1234) task 7 square"
 *  message:  the text given to tp_task_fail, or a description
 *  exitcode, signal: how the worker died, when code is TP_EDIED, as in
 *            tp_exit_event: exitcode is its exit status, or minus the
 *            signal that killed it (Python's Process.exitcode: -9 for
 *            SIGKILL), signal that signal (9) or 0 for an exit; both 0
 *            otherwise, and when the pool failed the task without a
 *            death of its own (its workers' supervisor gave up, a remote
 *            node was lost)
 * The same in every path: get/last_err/iter_err and the error callbacks
 * of apply, map, starmap and imap.
 */
typedef struct tp_pool_error {
	int code;
	const char *origin;
	const char *message;
	int rv; /* what get returns for it (TP_EREMOTE, TP_EDIED,
	           TP_ETIMEDOUT, ...); 0 from tp_pool_last_err, whose call
	           returned it */
	int exitcode;
	int signal;
} tp_pool_error;

/*
 * Called in the pool's thread when a result is ready. value is the result
 * (apply: the task's result payload; map/starmap: one value per item),
 * borrowed for the call. A non-zero return marks the callback as failed:
 * the failure is logged and result handling goes on.
 */
typedef int (*tp_pool_callback)(const tp_payload *value, void *arg);

/* Called in the pool's thread when a result failed; err is borrowed. */
typedef int (*tp_pool_error_callback)(const tp_pool_error *err, void *arg);

/* Called in the pool's thread as a map advances: done of total items. */
typedef void (*tp_pool_progress_fn)(size_t done, size_t total, void *arg);

/* What happens to the task a dead worker was running. */
typedef enum tp_pool_on_death {
	TP_POOL_FAIL = 0, /* it fails with TP_EDIED (the default) */
	TP_POOL_RETRY,    /* it runs again elsewhere, up to max_retries
	                     times, then fails with TP_EDIED */
} tp_pool_on_death;

/*
 * What a scheduling policy sees of one worker. A policy's pick returns the
 * index of the worker that gets the next task, or -1 for "none now"; only
 * workers with ready set and inflight < capacity may be picked.
 */
typedef struct tp_pool_load {
	int ready;       /* started, initialised, accepting tasks */
	size_t inflight; /* tasks sent whose results have not arrived */
	size_t capacity; /* the pipeline depth the pool allows it */
	uint64_t done;   /* tasks it completed */
} tp_pool_load;

/*
 * A scheduling policy: a small vtable. state is a per-pool word the policy
 * may use (zero at start). pick is called in the pool's thread.
 */
typedef struct tp_pool_sched {
	const char *name;
	int (*pick)(const tp_pool_load *workers, int n, uintptr_t *state);
} tp_pool_sched;

/* Least-loaded pull (the default): the ready worker with fewest tasks. */
extern const tp_pool_sched tp_pool_sched_least_loaded;
/* Round-robin: the next ready worker with room, in turn. */
extern const tp_pool_sched tp_pool_sched_round_robin;

/* Where a pool's workers run (docs/cluster.md). */
typedef enum tp_pool_backend {
	TP_POOL_LOCAL = 0, /* processes of this host (the default) */
	TP_POOL_MPI,       /* the workers of every node agent of an MPI job
	                      (tp_init_opts.mpi): processes is the number
	                      they offer; one such pool at a time */
} tp_pool_backend;

typedef struct tp_pool_opts {
	int processes;              /* 0: tp_cpu_count() */
	tp_target_fn initializer;   /* NULL: none; runs once in each worker */
	const tp_payload *initargs; /* its arguments (copied); may be NULL */
	int maxtasksperchild;       /* 0: workers live as long as the pool */
	tp_pool_on_death on_death;
	int max_retries;            /* TP_POOL_RETRY: 0 means 1 */
	const tp_pool_sched *sched; /* NULL: tp_pool_sched_least_loaded */
	int pipeline;               /* most tasks in flight per worker; 0: adapt
	                               to task duration (2 .. 256), and no
	                               more while a worker holds a full
	                               batch (480 KiB) of arguments */
	const char *name;           /* worker name prefix; NULL: "PoolWorker" */
	tp_start_method method;     /* how workers start (Python's context);
	                               TP_START_DEFAULT: the runtime's default */
	int task_timeout_ms;        /* a task running longer fails with
	                               TP_ETIMEDOUT: its worker is killed and
	                               replaced, its other tasks run elsewhere;
	                               0: no limit (see tp_pool_call_opts) */
	size_t max_msg; /* the most bytes one task's arguments, or one task's
	                   results, may take (0: TP_MAX_MSG_DEFAULT); counted
	                   as docs/wire.md's Values: per value 1 byte, +8 for
	                   a number, +5 + its length for bytes or a string */
	tp_pool_backend backend; /* TP_POOL_MPI: tp_err_errno(ENOTSUP) unless
	                            tp_init set MPI up, and with an
	                            initializer; a second live MPI pool is
	                            tp_err_errno(EBUSY) */
	/* The restart intensity of the pool's supervisor (its workers are
	 * children of a supervisor under tp_sup_root(), restarted after an
	 * abnormal exit): when workers die more than max_restarts times
	 * within restart_period_ms, the pool gives up and fails its pending
	 * and later work with TP_EDIED. 0: 30 x (processes + 1) restarts
	 * within 5000 ms. */
	int max_restarts;
	int restart_period_ms;
} tp_pool_opts;

/*
 * tp_pool_new starts a pool of processes workers (0: tp_cpu_count()).
 * initializer(initargs) runs once in each worker before its first task (a
 * non-zero return fails the pool's creation, or is logged for a replacement
 * worker); a worker is replaced after maxtasksperchild tasks (0: never).
 * Returns once every worker has run its initializer.
 * Errors: TP_EINVAL, TP_ENOTINIT, TP_ENOTREG (initializer not registered),
 * TP_EREMOTE (an initializer failed), TP_ENOMEM, wrapped system and nng
 * errors (ENOTSUP, EBUSY: see tp_pool_opts.backend).
 */
int tp_pool_new(tp_pool **out, int processes, tp_target_fn initializer,
                const tp_payload *initargs, int maxtasksperchild);

/* tp_pool_new_opts is tp_pool_new with every option; opts may be NULL. */
int tp_pool_new_opts(tp_pool **out, const tp_pool_opts *opts);

/*
 * tp_pool_apply runs fn(args) in a worker and waits for it. *out receives
 * the result payload (free it with tp_payload_free). args may be NULL.
 * Errors: TP_EINVAL, TP_ENOTREG, TP_ESTATE (pool closed), TP_EREMOTE (the
 * task failed), TP_EDIED (its worker died), TP_ECANCELED (terminated).
 * tp_pool_last_err gives the failure's details.
 */
int tp_pool_apply(tp_pool *pool, tp_target_fn fn, const tp_payload *args,
                  tp_payload **out);

/*
 * tp_pool_apply_async submits fn(args) and returns at once. callback runs
 * on success, error_callback on failure (either may be NULL), with arg.
 * *out (may be NULL: fire and forget) receives the result object; release
 * it with tp_pool_result_free. A failure with no error_callback that nobody
 * reads with get/successful is logged on stderr when the result is freed,
 * so no error vanishes silently.
 * Errors: TP_EINVAL, TP_ENOTREG, TP_ESTATE (closed), TP_ENOMEM.
 */
int tp_pool_apply_async(tp_pool *pool, tp_target_fn fn, const tp_payload *args,
                        tp_pool_callback callback,
                        tp_pool_error_callback error_callback, void *arg,
                        tp_pool_result **out);

/*
 * tp_pool_map calls fn once per value of items (each call's args hold that
 * one value) and waits. *out receives one value per item, in order: the
 * first value of each call's result (none when it added nothing). Items
 * are sent in chunks of chunksize (0: ceil(n / (4 * processes)), as
 * Python). The first failing item fails the whole map; its error's origin
 * names the item by its index in items ("item 57"); the other items of
 * its chunk still run. A task function that returns non-zero without
 * tp_task_fail gives TP_EREMOTE with that code, and a message naming the
 * function, the code and, for a troupe code, its text ("upper returned 7
 * (Wrong value type)": a getter met a value of another type). Errors: as
 * tp_pool_apply, and TP_ETOOBIG (a chunk's arguments or results over the
 * pool's max_msg).
 */
int tp_pool_map(tp_pool *pool, tp_target_fn fn, const tp_payload *items,
                size_t chunksize, tp_payload **out);

/* tp_pool_map_async: tp_pool_map without waiting (see apply_async). */
int tp_pool_map_async(tp_pool *pool, tp_target_fn fn, const tp_payload *items,
                      size_t chunksize, tp_pool_callback callback,
                      tp_pool_error_callback error_callback, void *arg,
                      tp_pool_result **out);

/*
 * tp_pool_map_int is the packed fast path of tp_pool_map for plain
 * integers: fn gets args holding in[i] and must add an int result, which is
 * stored in out[i] (out has n slots and may be in). Small maps send the
 * integers in messages; from 64k items in chunks of 1024 or more they go
 * through a shared file of the run directory that workers read and write
 * in place. A result that is not an int fails the map with TP_ETYPE. On
 * failure out may be partly written. Errors: as tp_pool_map.
 */
int tp_pool_map_int(tp_pool *pool, tp_target_fn fn, const int64_t *in, size_t n,
                    size_t chunksize, int64_t *out);

/*
 * tp_pool_starmap calls fn(argv[i]) for each of the n argument payloads
 * (Python's starmap: each payload is one call's argument list) and waits;
 * *out as tp_pool_map. argv[i] may be NULL (no arguments).
 */
int tp_pool_starmap(tp_pool *pool, tp_target_fn fn,
                    const tp_payload *const *argv, size_t n, size_t chunksize,
                    tp_payload **out);

/* tp_pool_starmap_async: tp_pool_starmap without waiting. */
int tp_pool_starmap_async(tp_pool *pool, tp_target_fn fn,
                          const tp_payload *const *argv, size_t n,
                          size_t chunksize, tp_pool_callback callback,
                          tp_pool_error_callback error_callback, void *arg,
                          tp_pool_result **out);

/*
 * Per-call options of tp_pool_apply_opts, tp_pool_map_opts and
 * tp_pool_imap_opts. Zero means the default of each field.
 */
typedef struct tp_pool_call_opts {
	size_t chunksize;    /* 0: as tp_pool_map / tp_pool_imap */
	int task_timeout_ms; /* 0: the pool's task_timeout_ms; -1: no limit */
	int unordered;       /* imap: yield in completion order */
	/* Called in the pool's thread once per finished item, done counting
	 * 1, 2, ... total with no value repeated or skipped (a chunk of k
	 * items that finishes gives k calls), failed items included. */
	tp_pool_progress_fn progress;
	void *progress_arg;
} tp_pool_call_opts;

/*
 * tp_pool_apply_opts, tp_pool_map_opts, tp_pool_imap_opts: tp_pool_apply,
 * tp_pool_map and tp_pool_imap with per-call options (opts may be NULL).
 * A task over its time limit gives TP_ETIMEDOUT (its worker is killed and
 * replaced); arguments over the pool's max_msg give TP_ETOOBIG before
 * anything is submitted. Errors: as tp_pool_apply and tp_pool_imap.
 */
int tp_pool_apply_opts(tp_pool *pool, tp_target_fn fn, const tp_payload *args,
                       const tp_pool_call_opts *opts, tp_payload **out);
int tp_pool_map_opts(tp_pool *pool, tp_target_fn fn, const tp_payload *items,
                     const tp_pool_call_opts *opts, tp_payload **out);
int tp_pool_imap_opts(tp_pool *pool, tp_target_fn fn, const tp_payload *items,
                      const tp_pool_call_opts *opts, tp_pool_iter **out);

/*
 * tp_pool_imap and tp_pool_imap_unordered submit a map and return an
 * iterator at once; results are read one at a time with tp_pool_iter_next
 * as they arrive (in item order, or in completion order). chunksize 0
 * means 1, as Python. Errors: as tp_pool_map_async.
 */
int tp_pool_imap(tp_pool *pool, tp_target_fn fn, const tp_payload *items,
                 size_t chunksize, tp_pool_iter **out);
int tp_pool_imap_unordered(tp_pool *pool, tp_target_fn fn,
                           const tp_payload *items, size_t chunksize,
                           tp_pool_iter **out);

/*
 * tp_pool_iter_next waits up to timeout_ms for the next result and moves it
 * into *value (a payload of one value; free it). Errors: TP_ENOENT (no
 * more results: StopIteration), TP_ETIMEDOUT, or the failure of that item
 * (TP_EREMOTE, TP_EDIED, TP_ECANCELED: details with tp_pool_iter_err; the
 * iterator then goes on with the next item). *index (may be NULL)
 * receives the item's index.
 */
int tp_pool_iter_next(tp_pool_iter *it, tp_payload **value, size_t *index,
                      int timeout_ms);

/* tp_pool_iter_err gives the last failure tp_pool_iter_next returned. */
int tp_pool_iter_err(const tp_pool_iter *it, tp_pool_error *err);

/* tp_pool_iter_free releases the iterator. NULL is allowed. */
void tp_pool_iter_free(tp_pool_iter *it);

/*
 * tp_pool_result_get waits up to timeout_ms for the result. On success
 * *out (may be NULL) receives a copy of the value (free it). Errors:
 * TP_ETIMEDOUT (not ready yet; the result stays valid), TP_EREMOTE (the
 * task failed), TP_EDIED (its worker died), TP_ECANCELED (terminated
 * before it ran), TP_ETYPE (a map_int result was not an int), TP_EINVAL.
 */
int tp_pool_result_get(tp_pool_result *r, tp_payload **out, int timeout_ms);

/* tp_pool_result_wait waits up to timeout_ms; TP_ETIMEDOUT if not ready. */
int tp_pool_result_wait(tp_pool_result *r, int timeout_ms);

/* tp_pool_result_ready returns 1 once the result is ready, else 0. */
int tp_pool_result_ready(tp_pool_result *r);

/*
 * tp_pool_result_successful stores 1 (succeeded) or 0 (failed) in *ok.
 * Errors: TP_ESTATE (not ready yet, as Python's ValueError), TP_EINVAL.
 */
int tp_pool_result_successful(tp_pool_result *r, int *ok);

/*
 * tp_pool_result_err fills *err with the failure (strings borrowed from r).
 * Errors: TP_ESTATE (not ready, or succeeded), TP_EINVAL.
 */
int tp_pool_result_err(tp_pool_result *r, tp_pool_error *err);

/*
 * tp_pool_result_progress stores how many items of the result are done and
 * how many there are (apply: 1 item). tp_pool_result_on_progress installs
 * fn, calls it once at once with the current counts, then from the pool's
 * thread once per item finished after that, done counting up by one with
 * no value repeated or skipped (the last call has done == total).
 */
int tp_pool_result_progress(tp_pool_result *r, size_t *done, size_t *total);
int tp_pool_result_on_progress(tp_pool_result *r, tp_pool_progress_fn fn,
                               void *arg);

/*
 * tp_pool_result_free releases the caller's reference. The result stays
 * readable after the pool is freed. NULL is allowed.
 */
void tp_pool_result_free(tp_pool_result *r);

/*
 * tp_pool_last_err gives the failure details of the last failed synchronous
 * call (apply, map, map_int, starmap) made on this thread; strings stay
 * valid until the next such failure on the thread. Errors: TP_EINVAL,
 * TP_ENOENT (no failure yet).
 */
int tp_pool_last_err(tp_pool_error *err);

/*
 * tp_task_fail is for task functions: it records a message that travels
 * with the failure (Python's remote traceback text) and returns
 * TP_EREMOTE, so `return tp_task_fail(result, "bad x %d", x);` fails the
 * task. result is the task's result payload (it is cleared). The message
 * travels whole up to TP_TASK_MSG_MAX bytes; a longer one is cut there and
 * ends with "[... N more bytes cut]".
 */
#define TP_TASK_MSG_MAX ((size_t)64 << 10)
int tp_task_fail(tp_payload *result, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * tp_pool_close stops new submissions; the workers exit once every task
 * submitted before is done. Calling it twice is allowed.
 */
int tp_pool_close(tp_pool *pool);

/*
 * tp_pool_terminate stops the workers at once (SIGTERM, then SIGKILL)
 * without finishing outstanding work; every unfinished result fails with
 * TP_ECANCELED. Calling it twice is allowed.
 */
int tp_pool_terminate(tp_pool *pool);

/*
 * tp_pool_join waits up to timeout_ms for every worker to exit. Errors:
 * TP_ESTATE (neither close nor terminate was called: as Python's
 * ValueError), TP_ETIMEDOUT.
 */
int tp_pool_join(tp_pool *pool, int timeout_ms);

/*
 * tp_pool_free terminates the pool (as Python's `with Pool()` exit), joins
 * its workers and frees it. Results obtained before stay readable; their
 * unfinished ones fail with TP_ECANCELED. NULL is allowed.
 */
void tp_pool_free(tp_pool *pool);

/* Introspection of one worker slot, for stats and the supervisor CLI. */
typedef struct tp_pool_worker_stats {
	char name[32];
	pid_t pid;           /* 0 while being replaced */
	int busy;            /* it holds tasks */
	size_t inflight;     /* tasks sent, no result yet */
	uint64_t tasks_done; /* by this slot, over every restart */
	uint64_t restarts;   /* replacements (death or recycling) */
	uint64_t deaths;     /* replacements because it died */
	/* The task it runs now (from its shared slot): the registered name
	 * of the task's function ("" when idle), since how long, and its
	 * first item (a map's chunk; 0 for apply). */
	char task[64];
	int64_t task_ms;
	uint64_t task_item;
} tp_pool_worker_stats;

typedef struct tp_pool_stats {
	int processes;
	uint64_t submitted, completed, failed, retried, queued;
} tp_pool_stats;

/*
 * tp_pool_stats fills *stats (may be NULL) and up to max worker entries;
 * returns the number of workers (>= 0) or a negative TP_E* code.
 */
int tp_pool_stats_get(tp_pool *pool, tp_pool_stats *stats,
                      tp_pool_worker_stats *workers, int max);

/* tp_pool_worker_pid returns the pid of worker i (0 if none). */
pid_t tp_pool_worker_pid(tp_pool *pool, int i);

#ifdef __cplusplus
}
#endif
#endif
