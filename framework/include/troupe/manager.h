/*
 * troupe/manager.h - Manager: a server process that holds shared objects
 * (dict, list, namespace, Queue, Lock, RLock, Semaphore, Event, Value and
 * user-registered types) which any process - pool workers and processes on
 * other hosts included - uses through proxies. multiprocessing.Manager().
 *
 *   tp_manager *m;
 *   tp_proxy *d;
 *   tp_manager_start(&m, NULL);             // a child process, ipc address
 *   tp_manager_dict(m, &d);
 *   tp_dict_set(d, tp_int(1), tp_str("1"));
 *   tp_payload_add_proxy(args, d);          // give it to a child
 *   ...
 *   tp_proxy_free(d);
 *   tp_manager_shutdown(m);                 // stops the server, frees m
 *
 * Every connection proves it knows the manager's authkey (challenge-
 * response with HMAC-SHA256, both ways) before anything else is decoded.
 * Calls are synchronous request/reply; blocking calls (queue get, lock
 * acquire, event wait) are parked in the server, so they never block its
 * other clients, and take the caller's timeout in milliseconds (-1:
 * forever). When the manager dies every call reports TP_EDIED, never
 * hangs. A proxy (and a tp_manager) may be used by one thread at a time
 * per object, as a tp_payload; different proxies may be used from
 * different threads. See docs/manager.md.
 */
#ifndef TROUPE_MANAGER_H
#define TROUPE_MANAGER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "troupe/payload.h"
#include "troupe/shared.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tp_manager tp_manager;
typedef struct tp_proxy tp_proxy;

/* Length of the random authkey a manager makes when none is given. */
#define TP_MANAGER_KEYLEN 32

typedef struct tp_manager_opts {
	/* Address to listen on (or to connect to, tp_manager_connect_opts).
	 * NULL: a fresh ipc:// address in the run directory.
	 * "tcp://127.0.0.1:0"-style addresses serve other hosts (port 0: a
	 * free port, see tp_manager_address): every message after the
	 * handshake carries a MAC with a sequence number, but tcp:// is NOT
	 * confidential (anyone on the path reads it). "tls+tcp://..." is
	 * confidential and needs tls_cert and tls_key on the server and
	 * tls_ca on clients. No other scheme. */
	const char *address;
	/* The shared secret (any bytes). NULL: TP_MANAGER_KEYLEN random
	 * bytes, stored in the run directory (mode 0600) so processes of
	 * this run find it when they take a proxy out of a payload. */
	const void *authkey;
	size_t authkey_len;
	/* PEM files for tls+tcp:// (both or neither): the server's
	 * certificate and key; for a client, its own (optional, needed when
	 * the server sets tls_client_ca). */
	const char *tls_cert;
	const char *tls_key;
	/* Largest request accepted (0: TP_MAX_MSG_DEFAULT); larger ones are
	 * dropped before they are decoded. */
	size_t max_msg;
	/* tls+tcp:// clients: the PEM file of the CA the server's certificate
	 * must chain to, or the server's own certificate (pinning). Required:
	 * a tls client always verifies its server. tp_manager_start's own
	 * connection uses tls_cert when it is NULL. */
	const char *tls_ca;
	/* tls+tcp:// clients: the name the server's certificate must carry
	 * (NULL: the host of the address). */
	const char *tls_server_name;
	/* tls+tcp:// servers: when set, every client must present a
	 * certificate that chains to this CA file (PEM). */
	const char *tls_client_ca;
	/* tp_manager_start: how the program's root supervisor (tp_sup_root,
	 * troupe/supervisor.h), whose child the server is, treats its death.
	 * 0 (the default, TP_TEMPORARY): a server that dies is not restarted
	 * (its objects are gone; every client gets TP_EDIED). 1
	 * (TP_PERMANENT): it is restarted at once on the same address with
	 * the same key, EMPTY: the objects of the dead one are gone, its
	 * clients got TP_EDIED on their connections, and the new server logs
	 * a WARNING saying so; proxies taken out of payloads afterwards, and
	 * tp_manager_connect, reach the new one. */
	int permanent;
} tp_manager_opts;

/*
 * tp_manager_start starts a manager server in a child process (the
 * runtime's default start method) under the program's root supervisor
 * (temporary by default, see opts.permanent) and connects to it. It
 * returns once the server listens. opts may be NULL. Free with
 * tp_manager_shutdown; tp_fini stops a manager left running.
 * Errors: TP_EINVAL, TP_ENOTINIT, TP_ENOMEM, TP_EDIED (the server could
 * not listen: address in use, bad certificate, ...; the reason is printed
 * on stderr by the server), TP_ENOENT/TP_EINVAL (a tls certificate or
 * key that cannot be read), TP_ENOMODULE (tls+tcp:// and GnuTLS cannot
 * be loaded; why: on stderr), process start errors. GnuTLS (libgnutls.so.30) is
 * loaded when a tls+tcp:// server or client is first made, not before.
 */
int tp_manager_start(tp_manager **out, const tp_manager_opts *opts);

/*
 * tp_manager_serve runs a manager server in the calling process until a
 * client calls tp_manager_shutdown (Python's get_server().serve_forever()):
 * for a program that is only a manager, e.g. on another host. If ready_fd
 * >= 0, one byte is written to it (and it is closed) once the server
 * listens. Errors: as tp_manager_start, TP_ENOTINIT is not needed (it
 * works without tp_init); TP_EINVAL for a NULL authkey (a served manager
 * needs an explicit key); TP_ENOMODULE for tls+tcp:// when GnuTLS cannot
 * be loaded (why: on stderr).
 */
int tp_manager_serve(const tp_manager_opts *opts, int ready_fd);

/*
 * tp_manager_connect connects to a running manager at address with its
 * authkey, waiting up to timeout_ms for it to answer. The result is used
 * like a started manager (create objects, shutdown); tp_manager_free
 * disconnects without stopping it. Errors: TP_EINVAL, TP_EAUTH (the
 * manager does not know this key, or does not answer the challenge
 * properly), TP_ETIMEDOUT, TP_ECLOSED (nothing listens there),
 * TP_ENOENT (a host name that does not resolve), TP_EINVAL (a malformed
 * address, or tls+tcp://, which needs tp_manager_connect_opts and a CA).
 */
int tp_manager_connect(tp_manager **out, const char *address,
                       const void *authkey, size_t authkey_len, int timeout_ms);

/*
 * tp_manager_connect_opts is tp_manager_connect with options: address,
 * authkey and, for tls+tcp://, tls_ca (required), tls_server_name and the
 * client's own tls_cert/tls_key. Proxies taken out of payloads later in
 * this process reuse the connection (and so its TLS settings). Errors: as
 * tp_manager_connect; TP_EINVAL for tls+tcp:// without tls_ca, TP_ENOENT
 * for a certificate file that cannot be read, TP_EAUTH when the server's
 * certificate does not chain to tls_ca or does not carry the name, or the
 * server refuses ours; TP_ENOMODULE for tls+tcp:// when GnuTLS cannot be
 * loaded (why: on stderr).
 */
int tp_manager_connect_opts(tp_manager **out, const tp_manager_opts *opts,
                            int timeout_ms);

/* tp_manager_address returns the address clients connect to (owned by m;
 * a tcp port 0 is replaced by the port chosen). */
const char *tp_manager_address(const tp_manager *m);

/* tp_manager_pid returns the server's pid for a manager this process
 * started, else 0. */
pid_t tp_manager_pid(const tp_manager *m);

/*
 * tp_manager_shutdown asks the server to stop (every object it holds is
 * freed; clients then get TP_EDIED), waits for a started one to exit,
 * and frees m. Proxies must not be used afterwards but must still be
 * freed. Errors: TP_EDIED (the server was already gone; m is freed
 * anyway). NULL is allowed (TP_OK).
 */
int tp_manager_shutdown(tp_manager *m);

/* tp_manager_free disconnects without stopping the server; a manager
 * this process started is shut down. NULL is allowed. */
void tp_manager_free(tp_manager *m);

/*
 * A user-defined shared type (Python's BaseManager.register). The server
 * calls init when a client creates an object (args as given to
 * tp_manager_create), call for every method call (append results to
 * result; return TP_OK or a TP_E* code, which the caller receives), and
 * free when the manager stops or the object is released. The callbacks
 * run in the server process, one at a time.
 */
typedef struct tp_manager_type {
	int (*init)(void **obj, const tp_payload *args);
	int (*call)(void *obj, const char *method, const tp_payload *args,
	            tp_payload *result);
	void (*free)(void *obj);
} tp_manager_type;

/*
 * tp_manager_register registers a type under name (letters, digits, '_',
 * '.', '-'; at most 63 bytes; not a built-in name). The server runs in a
 * child started from the fork server or by spawn, which sees the types
 * registered before tp_init: register with TP_MANAGER_TYPE (before main)
 * or before tp_init. The table is borrowed (keep it static). Errors:
 * TP_EINVAL, TP_EALREADY (name taken by another table), TP_ENOMEM (too
 * many types: 32).
 */
int tp_manager_register(const char *name, const tp_manager_type *type);

#define TP_MANAGER_TYPE(name, table)                                           \
	static void __attribute__((constructor)) tp_mgr_register_##name(void)  \
	{                                                                      \
		tp_manager_register(#name, &(table));                          \
	}

/*
 * tp_manager_create makes a new object of a registered (or built-in) type
 * in the manager and returns a proxy to it (free with tp_proxy_free).
 * Built-in type names: "dict", "list" (args: the initial items),
 * "namespace", "value" (args: the initial value, then the typecode shown
 * by its repr: see tp_manager_value), "queue" (args: maxsize,
 * 0 or none unbounded), "joinable_queue" (the same, plus task_done and
 * join), "lock", "rlock", "semaphore" and
 * "bounded_semaphore" (args: initial value, default 1), "event",
 * "barrier" (args: parties), "condition" (an RLock with wait/notify).
 * Errors: TP_EINVAL, TP_ENOENT (no such type in the server), TP_EDIED,
 * TP_ETIMEDOUT (no answer in 30 s), or init's error.
 */
int tp_manager_create(tp_manager *m, const char *type, const tp_payload *args,
                      tp_proxy **out);

/*
 * tp_manager_get returns a proxy to the object called name in the
 * manager, creating it (with type and args) if there is none: how
 * clients that know only the address find the objects a server shares
 * (Python's register('get_queue', callable=lambda: queue)). name NULL is
 * tp_manager_create. Errors: as tp_manager_create, TP_ETYPE (name exists
 * with another type), TP_EINVAL (name empty or over 255 bytes).
 */
int tp_manager_get(tp_manager *m, const char *type, const char *name,
                   const tp_payload *args, tp_proxy **out);

/* Shorthands for tp_manager_create with the built-in types. */
int tp_manager_dict(tp_manager *m, tp_proxy **out);
int tp_manager_list(tp_manager *m, const tp_payload *items, tp_proxy **out);
int tp_manager_namespace(tp_manager *m, tp_proxy **out);

/*
 * tp_manager_array is Python's Manager().Array(typecode, items): a
 * fixed-length array of one C type held by the manager. typecode is one of
 * Python's array codes b B h H i I l L q Q (ints; 'Q' and 'L' up to
 * INT64_MAX) or f d (floats; ints are converted, 'f' rounds to float).
 * items (NULL: empty) are copied. Read and write it with tp_list_get,
 * tp_list_set and tp_list_len (Python's arr[i], arr[i] = x, len(arr));
 * "tolist" and "typecode" through tp_proxy_call; its repr is Python's:
 * array('i', [1, 2, 3]). Errors: as tp_manager_create, TP_EINVAL (NULL, an
 * unknown typecode), TP_ETYPE (an item that is not a number, or a float
 * for an int code), TP_EVALUE (an int outside the code's range). The same
 * errors from tp_list_set; TP_ENOENT for an index out of range.
 */
int tp_manager_array(tp_manager *m, char typecode, const tp_payload *items,
                     tp_proxy **out);
int tp_manager_queue(tp_manager *m, int64_t maxsize, tp_proxy **out);
int tp_manager_lock(tp_manager *m, tp_proxy **out);
int tp_manager_rlock(tp_manager *m, tp_proxy **out);
int tp_manager_semaphore(tp_manager *m, int64_t value, tp_proxy **out);
int tp_manager_event(tp_manager *m, tp_proxy **out);

/*
 * tp_proxy_call calls method on the object with args (may be NULL) and
 * appends what it returns to result (may be NULL to drop it), waiting up
 * to timeout_ms for a blocking method (-1: forever; the reply itself has
 * no separate limit while the manager lives). Errors: the method's own
 * (TP_ENOENT for an unknown method or missing key, TP_ETYPE, ...),
 * TP_ETIMEDOUT, TP_EDIED (the manager died or closed the connection),
 * TP_ECLOSED (the object was released), TP_ETOOBIG, TP_EINVAL, TP_ESTATE
 * (px was copied into a child by the fork start method: pass proxies to
 * children in their args payload instead).
 */
int tp_proxy_call(tp_proxy *px, const char *method, const tp_payload *args,
                  tp_payload *result, int timeout_ms);

/* tp_proxy_type returns the object's type name (owned by px). */
const char *tp_proxy_type(const tp_proxy *px);

/*
 * tp_proxy_repr writes Python's repr of the object into buf ("{1: '1',
 * '2': 2}", "[9, 8, 7.5]", "Value(100.0)", "Namespace(a=1, x=2)": a
 * Namespace sorted and without the names starting with '_', as Python's)
 * and returns buf ("" on error; truncated to len).
 */
const char *tp_proxy_repr(tp_proxy *px, char *buf, size_t len);

/*
 * tp_proxy_release frees the object in the manager (later calls through
 * any proxy to it give TP_ECLOSED). Objects otherwise live until the
 * manager stops. Errors: TP_EDIED, TP_EINVAL.
 */
int tp_proxy_release(tp_proxy *px);

/* tp_proxy_free frees the proxy (not the object). NULL is allowed. */
void tp_proxy_free(tp_proxy *px);

/*
 * tp_payload_add_proxy appends a reference to px's object (a Handle: the
 * manager's address, the object id and type; never the authkey).
 * tp_payload_get_proxy connects to the object referenced by value i: with
 * authkey NULL the key stored in the run directory by the process that
 * started the manager is used (any process of the run, pool workers
 * included); give the key for a manager of another run or host. Free the
 * proxy with tp_proxy_free. Errors: TP_EINVAL, TP_ENOENT (i out of range,
 * or no stored key), TP_ETYPE (value i is not a proxy), connect errors.
 */
int tp_payload_add_proxy(tp_payload *p, const tp_proxy *px);
int tp_payload_get_proxy(const tp_payload *p, size_t i, const void *authkey,
                         size_t authkey_len, tp_proxy **out);

/*
 * tp_val: one value given to the typed calls below (the types of
 * tp_payload). Make them with tp_none(), tp_int(), tp_dbl(), tp_str(),
 * tp_bytes(). Dict keys may be none, int, double, string or bytes; keys of
 * different types never compare equal (1 and 1.0 are different keys,
 * unlike Python).
 */
typedef struct tp_val {
	tp_type type;
	int64_t i;
	double d;
	const void *data; /* string (NUL-terminated) or bytes */
	size_t len;
} tp_val;

tp_val tp_none(void);
tp_val tp_int(int64_t v);
tp_val tp_dbl(double v);
tp_val tp_str(const char *s);
tp_val tp_bytes(const void *data, size_t len);

/* tp_payload_add_val appends v to p. Errors: as tp_payload_add_*. */
int tp_payload_add_val(tp_payload *p, tp_val v);

/*
 * tp_manager_value is Python's Manager().Value(typecode, value): a Value
 * holding init (any tp_val; set replaces it with a value of any type, as
 * Python's). typecode (NULL: None) is kept for the repr only, as in
 * Python: "Value('i', 0)", "Value(None, 2.5)". A "value" made with
 * tp_manager_create takes the same args (value, then typecode, both
 * optional). Errors: as tp_manager_create; TP_ETYPE for a typecode that
 * is neither a str nor None in create's args.
 */
int tp_manager_value(tp_manager *m, const char *typecode, tp_val init,
                     tp_proxy **out);

/*
 * Dict: string, int, double, none or bytes keys -> payload values;
 * insertion order is kept (as Python 3.7+). Results are appended to out.
 * tp_dict_get, tp_dict_del and tp_dict_pop give TP_ENOENT for a missing
 * key. keys/items append keys (items: key, value, key, value, ...).
 */
int tp_dict_set(tp_proxy *d, tp_val key, tp_val value);
int tp_dict_get(tp_proxy *d, tp_val key, tp_payload *out);
int tp_dict_del(tp_proxy *d, tp_val key);
int tp_dict_pop(tp_proxy *d, tp_val key, tp_payload *out);
int tp_dict_contains(tp_proxy *d, tp_val key, int *out);
int tp_dict_len(tp_proxy *d, int64_t *out);

/* List: items are payload values; negative indices count from the end;
 * a bad index gives TP_ENOENT (Python's IndexError). */
int tp_list_append(tp_proxy *l, tp_val v);
int tp_list_get(tp_proxy *l, int64_t index, tp_payload *out);
int tp_list_set(tp_proxy *l, int64_t index, tp_val v);
int tp_list_len(tp_proxy *l, int64_t *out);
int tp_list_reverse(tp_proxy *l);

/* Namespace: named attributes (TP_ENOENT for a missing one). */
int tp_ns_set(tp_proxy *ns, const char *name, tp_val v);
int tp_ns_get(tp_proxy *ns, const char *name, tp_payload *out);

/* Value ("value" type): one payload value. */
int tp_value_get(tp_proxy *v, tp_payload *out);
int tp_value_set(tp_proxy *v, tp_val x);

/* Queue: put waits for room (maxsize), get for an item, up to timeout_ms;
 * TP_EFULL / TP_EEMPTY when the timeout expires (0: do not wait). */
int tp_mqueue_put(tp_proxy *q, tp_val v, int timeout_ms);
int tp_mqueue_get(tp_proxy *q, tp_payload *out, int timeout_ms);

/* JoinableQueue ("joinable_queue"): task_done after each get; join waits
 * up to timeout_ms until every item put was task_done (TP_ETIMEDOUT);
 * one task_done too many gives TP_EVALUE. */
int tp_mqueue_task_done(tp_proxy *q);
int tp_mqueue_join(tp_proxy *q, int timeout_ms);

/* Lock, RLock, Semaphore: acquire waits up to timeout_ms (TP_ETIMEDOUT);
 * release of a lock not held gives TP_EPERM (RLock: not held by this
 * connection), of a bounded semaphore over its value TP_EVALUE. A holder
 * whose connection goes away (its process died) releases what it held. */
int tp_mlock_acquire(tp_proxy *l, int timeout_ms);
int tp_mlock_release(tp_proxy *l);

/* Event: set, clear, is_set, and wait up to timeout_ms (TP_ETIMEDOUT). */
int tp_mevent_set(tp_proxy *e);
int tp_mevent_clear(tp_proxy *e);
int tp_mevent_is_set(tp_proxy *e, int *out);
int tp_mevent_wait(tp_proxy *e, int timeout_ms);

/* ---- SharedMemoryManager ----------------------------------------------- */

/*
 * Python's multiprocessing.managers.SharedMemoryManager: the SharedMemory
 * blocks and ShareableLists made through it are all unlinked (their names
 * removed; mappings stay valid until each handle is freed) at
 * tp_smm_shutdown, at tp_smm_free, at tp_fini, and when the process that
 * started it dies in any way, kill -9 included. A tracker child under
 * the program's root supervisor (tp_sup_root, id
 * "SharedMemoryManager-<pid>-<n>") watches that process through a pidfd
 * and removes the blocks; it also removes then the blocks of every run
 * whose owner is gone, as the next tp_init would. Blocks are made in the
 * caller; nothing goes through the tracker.
 *
 * tp_smm_start_opts also starts a manager server (SharedMemoryManager(
 * address, authkey).start()) through which other processes of this user
 * on this host - of this run or another troupe program - reach it with
 * tp_smm_connect: they make blocks that belong to it (unlinked at its
 * shutdown with the others, whether or not their maker still lives, kill
 * -9 included; a client's own tp_fini leaves them, as Python's does).
 */
typedef struct tp_smm tp_smm;

/* Starts the tracker and returns once it watches (Python's start()).
 * Errors: TP_EINVAL, TP_ENOTINIT, TP_ENOMEM, TP_EDIED (the tracker could
 * not watch: no pidfd), TP_ETIMEDOUT (it did not answer in 10 s), the
 * supervisor's start errors. */
int tp_smm_start(tp_smm **out);

/*
 * tp_smm_start_opts is tp_smm_start plus a manager server under the root
 * supervisor (as tp_manager_start with opts: address NULL for an ipc://
 * path in the run directory, or tcp://host:port; always temporary)
 * that other processes connect to with opts->authkey, which is required
 * (TP_EINVAL without). Errors: those of tp_smm_start and
 * tp_manager_start.
 */
int tp_smm_start_opts(tp_smm **out, const tp_manager_opts *opts);

/*
 * tp_smm_connect is SharedMemoryManager(address, authkey).connect(): a
 * handle on the manager started elsewhere, used with tp_smm_shmem and
 * tp_smm_slist alike. Errors: TP_EINVAL (NULL, no authkey), those of
 * tp_manager_connect (TP_EAUTH, TP_ECLOSED, TP_ETIMEDOUT, ...), TP_EPROTO
 * (a manager, but not a SharedMemoryManager's: the lookup leaves an empty
 * value named "troupe.SharedMemoryManager" in it), TP_EPERM (one of
 * another user: its blocks could not be shared).
 */
int tp_smm_connect(tp_smm **out, const char *address, const void *authkey,
                   size_t keylen, int timeout_ms);

/* The address clients connect to (borrowed from s); NULL for NULL and
 * for a manager started with tp_smm_start (no server). */
const char *tp_smm_address(const tp_smm *s);

/*
 * smm.SharedMemory(size) and smm.ShareableList(items): as tp_shmem_new and
 * tp_slist_new, the block tracked by s. The caller owns the handle (free
 * it with tp_shmem_free / tp_slist_free; tp_shmem_unlink earlier is
 * allowed). Only the process that started or connected s may use it
 * (TP_EPERM). Through a connected s, the server is asked after the block
 * is made whether it still runs; if not, the block is removed again and
 * the call fails (TP_EDIED), so no block outlives its manager. Errors:
 * those of tp_shmem_new / tp_slist_new, TP_ESTATE after shutdown,
 * TP_EDIED (connected: the manager is gone).
 */
int tp_smm_shmem(tp_smm *s, size_t size, tp_shmem **out);
int tp_smm_slist(tp_smm *s, const tp_payload *items, tp_slist **out);

/* Stops the server (if any), unlinks every block of s, its clients'
 * included, and stops its tracker (Python's shutdown()). Errors:
 * TP_EINVAL, TP_EPERM (another process, or a connected s: only the
 * starter shuts down), TP_EALREADY. */
int tp_smm_shutdown(tp_smm *s);

/* Shuts s down if it is not yet (in the process that started it), or
 * disconnects a connected s, and frees it. NULL allowed. */
void tp_smm_free(tp_smm *s);

#ifdef __cplusplus
}
#endif
#endif
