/*
 * cluster_host.h - internal: the two tables between libtroupe and its MPI
 * backend module, libtroupe-mpi.so (docs/cluster.md, "How the backend is
 * loaded").
 *
 * cluster/ is built into its own shared object so that a program that does
 * not ask for MPI never maps libmpi (docs/performance.md: about 10 % per
 * fork-server start). tp_init (mpi_load.c) dlopens it when its options ask
 * for MPI and calls its one exported symbol, tp_mpi_module, with the host
 * table: every libtroupe call cluster/ makes. libtroupe's internals are
 * hidden (only tp_* is exported, and a program linked with libtroupe.a
 * exports nothing), so the module cannot resolve them by name; instead
 * cluster/module/cluster_module.c defines each of them in the module as a
 * call through this table, and the cluster sources stay as they are.
 *
 * A new libtroupe call in cluster/: one TP__MPI_HOST_CALLS line (the
 * module is linked with --no-undefined, so a missing line fails the
 * build, not a run).
 */
#ifndef TP_CLUSTER_HOST_H
#define TP_CLUSTER_HOST_H

#include <nng/nng.h>
#include <pthread.h>
#include <stddef.h>

#include "payload_int.h"
#include "pool_int.h"
#include "process_int.h"
#include "runtime_int.h"
#include "troupe/cluster.h"
#include "troupe/payload.h"
#include "troupe/pool.h"
#include "troupe/process.h"
#include "troupe/runtime.h"
#include "values.h"
#include "wire.h"

/* X(return type, name, (parameters), (arguments)) for the calls that
 * return a value, V(name, (parameters), (arguments)) for the void ones. */
#define TP__MPI_HOST_CALLS(X, V)                                               \
	X(int, tp__cols_add, (struct tp__cols * c, const struct tp_value *v),  \
	  (c, v))                                                              \
	X(int, tp__cols_add_result,                                            \
	  (struct tp__cols * c, const tp_payload *r, int all), (c, r, all))    \
	V(tp__cols_free, (struct tp__cols * c), (c))                           \
	V(tp__cols_pos, (const struct tp__cols *c, struct tp__cols_pos *out),  \
	  (c, out))                                                            \
	V(tp__cols_to_pb,                                                      \
	  (const struct tp__cols *c, const struct tp__cols_pos *a,             \
	   const struct tp__cols_pos *b, Troupe__Values *m),                   \
	  (c, a, b, m))                                                        \
	V(tp__envelope_free, (Troupe__Envelope * env), (env))                  \
	X(int, tp__envelope_unpack,                                            \
	  (const void *buf, size_t len, size_t max, Troupe__Envelope **out),   \
	  (buf, len, max, out))                                                \
	V(tp__nng_used, (void), ())                                            \
	X(int, tp__payload_vread,                                              \
	  (tp_payload * p, struct tp__vread * r, size_t n), (p, r, n))         \
	V(tp__pool_backend_set,                                                \
	  (tp_pool_backend which, const struct tp__pool_backend *b),           \
	  (which, b))                                                          \
	X(int, tp__pool_fast_dial, (const char *path, int *fd), (path, fd))    \
	X(int, tp__pool_fast_drain,                                            \
	  (int fd, void *buf, size_t cap,                                      \
	   void (*fn)(const struct tp__pool_note *n,                           \
	              const unsigned char *bytes, void *arg),                  \
	   void *arg),                                                         \
	  (fd, buf, cap, fn, arg))                                             \
	X(int, tp__pool_fast_path,                                             \
	  (const char *addr, pid_t pid, char *path, size_t size),              \
	  (addr, pid, path, size))                                             \
	X(int, tp__pool_fast_send,                                             \
	  (int fd, uint32_t kind, uint32_t slot, uint64_t len),                \
	  (fd, kind, slot, len))                                               \
	X(int, tp__pool_fast_send_bytes, (int fd, const void *p, size_t len),  \
	  (fd, p, len))                                                        \
	X(int, tp__pool_send, (nng_socket s, const void *env_msg, int flags),  \
	  (s, env_msg, flags))                                                 \
	X(int, tp__pool_worker_dial, (nng_socket s, const char *addr),         \
	  (s, addr))                                                           \
	X(int, tp__pool_wring_bytes,                                           \
	  (struct tp__pool_wring * w, const char *path, uint32_t slot,         \
	   uint64_t len, const unsigned char **out),                           \
	  (w, path, slot, len, out))                                           \
	V(tp__pool_wring_close, (struct tp__pool_wring * w), (w))              \
	V(tp__pool_wring_free, (struct tp__pool_wring * w, uint32_t slot),     \
	  (w, slot))                                                           \
	V(tp__pool_wring_mark,                                                 \
	  (struct tp__pool_wring * w, uint32_t slot, int full),                \
	  (w, slot, full))                                                     \
	X(unsigned char *, tp__pool_wring_take,                                \
	  (struct tp__pool_wring * w, size_t len, uint32_t * slot),            \
	  (w, len, slot))                                                      \
	X(tp_target_fn, tp__target_find, (const char *name), (name))           \
	X(const char *, tp__task_fail_message, (int reset), (reset))           \
	X(int, tp__thread_start,                                               \
	  (pthread_t * t, void *(*fn)(void *), void *arg), (t, fn, arg))       \
	V(tp__vread_done, (struct tp__vread * r), (r))                         \
	X(int, tp__vread_init,                                                 \
	  (struct tp__vread * r, const Troupe__Values *m), (r, m))             \
	X(int, tp_cpu_count, (void), ())                                       \
	X(int, tp_err_errno, (int errnum), (errnum))                           \
	X(int, tp_err_nng, (int nng_err), (nng_err))                           \
	X(int, tp_payload_add_bytes,                                           \
	  (tp_payload * p, const void *data, size_t len), (p, data, len))      \
	X(int, tp_payload_add_int, (tp_payload * p, int64_t v), (p, v))        \
	X(int, tp_payload_add_string, (tp_payload * p, const char *s), (p, s)) \
	V(tp_payload_clear, (tp_payload * p), (p))                             \
	V(tp_payload_free, (tp_payload * p), (p))                              \
	X(int, tp_payload_get_bytes,                                           \
	  (const tp_payload *p, size_t i, const void **data, size_t *len),     \
	  (p, i, data, len))                                                   \
	X(int, tp_payload_get_int,                                             \
	  (const tp_payload *p, size_t i, int64_t *out), (p, i, out))          \
	X(int, tp_payload_get_string,                                          \
	  (const tp_payload *p, size_t i, const char **out), (p, i, out))      \
	X(int, tp_payload_new, (tp_payload * *out), (out))                     \
	X(int, tp_pool_apply_async,                                            \
	  (tp_pool * pool, tp_target_fn fn, const tp_payload *args,            \
	   tp_pool_callback callback, tp_pool_error_callback error_callback,   \
	   void *arg, tp_pool_result **out),                                   \
	  (pool, fn, args, callback, error_callback, arg, out))                \
	V(tp_pool_free, (tp_pool * pool), (pool))                              \
	X(int, tp_pool_new_opts, (tp_pool * *out, const tp_pool_opts *opts),   \
	  (out, opts))                                                         \
	X(int, tp_pool_terminate, (tp_pool * pool), (pool))                    \
	X(const char *, tp_runtime_dir, (void), ())                            \
	X(const char *, tp_strerror, (int err), (err))

/* The names of the calls, in order: both sides must agree. */
#define TP__MPI_HOST_NX(ret, name, params, args) #name ","
#define TP__MPI_HOST_NV(name, params, args)      #name ","
#define TP__MPI_HOST_NAMES                                                     \
	TP__MPI_HOST_CALLS(TP__MPI_HOST_NX, TP__MPI_HOST_NV)                   \
	"tp_target_register"

#define TP__MPI_HOST_X(ret, name, params, args) ret(*name) params;
#define TP__MPI_HOST_V(name, params, args)      void(*name) params;
/* libtroupe's calls, filled by mpi_load.c. */
struct tp__mpi_host {
	size_t size;         /* sizeof(struct tp__mpi_host) */
	const char *version; /* TP_VERSION_STRING of libtroupe */
	const char *calls;   /* TP__MPI_HOST_NAMES of libtroupe */
	TP__MPI_HOST_CALLS(TP__MPI_HOST_X, TP__MPI_HOST_V)
	/* apart: the module's constructors call it before the table is
	 * there (cluster_module.c) */
	int (*tp_target_register)(const char *name, tp_target_fn fn);
};
#undef TP__MPI_HOST_X
#undef TP__MPI_HOST_V

/* The module's entry points (cluster.c's, unchanged). */
struct tp__mpi_module {
	size_t size; /* sizeof(struct tp__mpi_module) */
	int (*init)(const tp_init_opts *opts, int *agent_done);
	void (*fini)(void);
	int (*rank)(void);
	int (*size_of)(void);
	int (*workers)(void);
	const char *(*host_name)(int rank);
};

/* The one symbol libtroupe-mpi.so exports: given libtroupe's table, sets
 * *out to the module's. Errors: TP_EPROTO when the two were not built from
 * the same troupe (version, table size or the calls' names differ). */
#define TP__MPI_ENTRY "tp_mpi_module"
typedef int (*tp__mpi_entry_fn)(const struct tp__mpi_host *host,
                                const struct tp__mpi_module **out);

#endif
