/*
 * mgr_int.h - internal: the manager's server core (object table, parked
 * requests, per-connection authentication state), the built-in shared
 * types, value helpers and the authentication primitives. The core knows
 * nothing of nng: mgr_server.c feeds it messages and sends its replies,
 * and the fuzz target feeds it bytes directly. Shared by every file of
 * mgr/ (API, connection, fast path, server, core, registry, proxies,
 * values, authentication) and of mgr/types/ (the built-in types).
 */
#ifndef TP_MGR_INT_H
#define TP_MGR_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "payload_int.h"
#include "troupe.pb-c.h"
#include "auth.h"
#include "netaddr.h"
#include "troupe/manager.h"

/* Request ops (MgrRequest.op). */
enum {
	TP__MGR_HELLO = 1,
	TP__MGR_AUTH = 2,
	TP__MGR_CREATE = 3,
	TP__MGR_CALL = 4,
	TP__MGR_RELEASE = 5,
	TP__MGR_SHUTDOWN = 6,
	TP__MGR_PING = 7,
	TP__MGR_STATS = 8, /* reply: [objects alive, clients authenticated] */
	TP__MGR_LANE = 9,  /* ipc://: a shared-memory lane offered (mgr_lane.h);
	                      answered by the transport, not the core */
};

/* Largest message accepted from a connection not yet authenticated. */
#define TP__MGR_PREAUTH_MAX 256
/* A handler's "cannot complete now: park the request" return value. */
#define TP__MGR_PARK (-1)

/* What a method call sees. */
struct tp__mgr_ctx {
	const char *method;
	const tp_payload *args;
	tp_payload *result;
	uint32_t client; /* the caller's connection (nng pipe id) */
	int park_code;   /* set with TP__MGR_PARK: the code on timeout */
	int changed;     /* set when the call may unblock parked calls */
};

struct tp__mgr_type {
	const char *name;
	int (*init)(void **obj, const tp_payload *args);
	int (*call)(void *obj, struct tp__mgr_ctx *c);
	void (*free)(void *obj);
	/* client's connection went away: release what it held; returns 1
	 * when that may unblock parked calls. May be NULL. */
	int (*gone)(void *obj, uint32_t client);
	/* a parked call of client reached its deadline. Returns
	 * TP__MGR_EXP_REPLY (answer park_code now), TP__MGR_EXP_CHANGED (the
	 * same, and the object changed: retry the others) or
	 * TP__MGR_EXP_KEEP (keep it parked without deadline: the object
	 * answers it later, e.g. a condition wait that must first retake
	 * its lock). May be NULL (reply). */
	int (*expire)(void *obj, uint32_t client);
};

enum { TP__MGR_EXP_REPLY, TP__MGR_EXP_CHANGED, TP__MGR_EXP_KEEP };

/* Finds a built-in type, or a user-registered one (mgr_reg.c). */
const struct tp__mgr_type *tp__mgr_find_type(const char *name);
const tp_manager_type *tp__mgr_find_user(const char *name);
extern const struct tp__mgr_type tp__mgr_dict, tp__mgr_list, tp__mgr_ns,
    tp__mgr_value, tp__mgr_queue, tp__mgr_jqueue, tp__mgr_lock, tp__mgr_rlock,
    tp__mgr_sem, tp__mgr_bsem, tp__mgr_event, tp__mgr_barrier, tp__mgr_cond,
    tp__mgr_array;

/* Values (mgr_val.c). */
int tp__val_copy(struct tp_value *dst, const struct tp_value *src);
void tp__val_free(struct tp_value *v);
int tp__val_eq(const struct tp_value *a, const struct tp_value *b);
int tp__val_cmp(const struct tp_value *a, const struct tp_value *b, int *out);
uint64_t tp__val_hash(const struct tp_value *v);
int tp__val_is_key(const struct tp_value *v);
int tp__payload_push(tp_payload *p, const struct tp_value *v);
/* Appends Python's repr of v to the string buffer. */
struct tp__strbuf {
	char *s;
	size_t len, cap;
	int oom;
};
void tp__sb_add(struct tp__strbuf *b, const char *s);
void tp__sb_addf(struct tp__strbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void tp__sb_val(struct tp__strbuf *b, const struct tp_value *v);
/* Finishes a repr: adds it as a string to result. */
int tp__sb_result(struct tp__strbuf *b, tp_payload *result);
/* args value i, or NULL when out of range. */
const struct tp_value *tp__arg(const tp_payload *args, size_t i);
int tp__arg_int(const tp_payload *args, size_t i, int64_t *out);
/* args value i as an index into n items, Python's way (negative counts
 * from the end). TP_ENOENT out of range (IndexError), TP_ETYPE, TP_EINVAL. */
int tp__arg_index(const tp_payload *args, size_t i, size_t n, size_t *out);

/* Authentication: the primitives are base/auth.h's. The directions of
 * sealed frames: */
#define TP__MGR_DIR_C 'C' /* client to server */
#define TP__MGR_DIR_S 'S'
/* <rundir>/mgrkey-<hash of address>; TP_ENOTINIT outside a run. */
int tp__mgr_keyfile(const char *address, char *buf, size_t len);
int tp__mgr_key_store(const char *address, const void *key, size_t len);
int tp__mgr_key_load(const char *address, void *key, size_t cap, size_t *len);
/* The TLS client settings of a tls+tcp:// manager of the run, beside its
 * key file (strings of load point into buf). */
struct tp__mgr_tls;
int tp__mgr_tls_store(const char *address, const struct tp__mgr_tls *t);
int tp__mgr_tls_load(const char *address, struct tp__mgr_tls *t, char *buf,
                     size_t len);

/* The server core (mgr_core.c). A reply is sent by the owner through
 * send(token, bytes); a parked request keeps its token until answered or
 * dropped (drop(token)). */
struct tp__mgr_core;
struct tp__mgr_io {
	void *arg;
	void (*send)(void *arg, void *token, const void *buf, size_t len);
	void (*drop)(void *arg, void *token);
	void (*close_client)(void *arg, uint32_t client);
	void (*shutdown)(void *arg);
};
int tp__mgr_core_new(struct tp__mgr_core **out, const void *key, size_t keylen,
                     size_t max_msg, const struct tp__mgr_io *io);
void tp__mgr_core_free(struct tp__mgr_core *c);
/* Handles one received message; the token is consumed (sent, parked or
 * dropped). */
void tp__mgr_core_request(struct tp__mgr_core *c, uint32_t client, void *token,
                          const void *buf, size_t len);
/* A client's connection went away. */
void tp__mgr_core_gone(struct tp__mgr_core *c, uint32_t client);
/* Answers parked requests whose deadline passed; returns the next
 * deadline (tp__now_ms scale) or INT64_MAX. */
int64_t tp__mgr_core_expire(struct tp__mgr_core *c, int64_t now);
/* A bump allocator for decoding messages (mgr_arena.c): unpack resets it
 * first, so a decoded envelope lives until the next unpack or reset; it
 * is never freed on its own. */
struct tp__mgr_arena {
	_Alignas(16) unsigned char buf[8192];
	size_t used;
	struct spill *spill;
};
void tp__mgr_arena_reset(struct tp__mgr_arena *a);
/* n bytes from a, until its next reset (NULL: out of memory). */
void *tp__mgr_arena_alloc(struct tp__mgr_arena *a, size_t n);
int tp__mgr_arena_unpack(struct tp__mgr_arena *a, const void *buf, size_t len,
                         size_t max, Troupe__Envelope **out);
/* 1 when requests are parked (deadlines to watch). */
int tp__mgr_core_parked(const struct tp__mgr_core *c);
/*
 * A call's request and a reply written directly (mgr_wire.c): the bytes
 * protobuf-c packs for Envelope{correlation_id, MgrRequest{op, object,
 * name, args, timeout_ms, key}} and Envelope{correlation_id,
 * MgrReply{code, result}} (result NULL: none). Into small when they fit
 * cap bytes, else a new buffer (*out tells which). Errors: TP_ETOOBIG
 * (over max; 0: TP_MAX_MSG_DEFAULT), TP_ENOMEM.
 */
struct tp__mgr_req {
	uint64_t corr;
	uint32_t op;
	uint64_t object;
	const char *name, *key;
	const tp_payload *args; /* sent when it has values */
	int32_t timeout_ms;
};
int tp__mgr_req_pack(const struct tp__mgr_req *rq, size_t max, void *small,
                     size_t cap, void **out, size_t *len);
int tp__mgr_reply_pack(uint64_t corr, int code, const tp_payload *result,
                       size_t max, void *small, size_t cap, void **out,
                       size_t *len);
/* Reads a reply in the form tp__mgr_reply_pack writes (fields in any
 * order): 1, or 0 when it holds anything else (then protobuf-c decodes
 * it). result points into buf. */
struct tp__mgr_rep {
	uint64_t corr, object;
	int code;
	int has_result;
	const uint8_t *result;
	size_t result_len;
};
int tp__mgr_reply_read(const void *buf, size_t len, struct tp__mgr_rep *r);
/* Reads a request in the form tp__mgr_req_pack writes (no nonce or mac:
 * the handshake goes through protobuf-c): 1, or 0 for anything else.
 * name, key and args point into buf (name and key not NUL-ended). */
struct tp__mgr_req_in {
	uint64_t corr, object;
	uint32_t op;
	int32_t timeout_ms;
	const uint8_t *name, *key, *args;
	size_t name_len, key_len, args_len;
	int has_args;
};
int tp__mgr_req_read(const void *buf, size_t len, struct tp__mgr_req_in *r);

/* Decodes a request envelope into a (size limit first). */
int tp__mgr_decode(struct tp__mgr_arena *a, const void *buf, size_t len,
                   size_t max, Troupe__Envelope **out);

/* Runs a server until shutdown (mgr_server.c); ready is called once,
 * with the address listened on or the error. */
int tp__mgr_serve(const tp_manager_opts *o,
                  void (*ready)(void *arg, const char *addr, int err),
                  void *arg);

/* mgr.c: the figures of the manager whose server this process started
 * as the root supervisor's child id (SyncManager-N): objects alive and
 * clients connected, asked of the server (at most 500 ms). TP_ENOENT (no
 * such manager here), its transport's errors. For ctl_status.c. */
int tp__mgr_stats(const char *id, int64_t *objects, int64_t *clients);

/* A connection to a manager (mgr_conn.c), shared by proxies. */
struct tp__mgr_conn;
int tp__mgr_conn_open(struct tp__mgr_conn **out, const char *address,
                      const void *key, size_t keylen,
                      const struct tp__mgr_tls *tls, int timeout_ms);
/* Lets proxies taken out of payloads in this process reuse c. */
void tp__mgr_conn_cache(struct tp__mgr_conn *c);
/* The process-wide cached connection to address (opened if needed). */
int tp__mgr_conn_get(struct tp__mgr_conn **out, const char *address,
                     const void *key, size_t keylen);
void tp__mgr_conn_unref(struct tp__mgr_conn *c);
void tp__mgr_conn_ref(struct tp__mgr_conn *c);
/* One request and its reply: returns the reply's code (or a transport
 * error) and appends its results to result (may be NULL); wait_ms bounds
 * the wait for the reply (-1 forever). */
int tp__mgr_conn_call(struct tp__mgr_conn *c, uint32_t op, uint64_t object,
                      const char *name, const char *key, const tp_payload *args,
                      int timeout_ms, int wait_ms, tp_payload *result,
                      uint64_t *obj_out);
const char *tp__mgr_conn_address(const struct tp__mgr_conn *c);
/* The lane (mgr_lane.h): offers fd as c's lane (fd -1: the request
 * without one) and returns the server's answer (TP_OK: accepted; the
 * caller then owns nothing more: c does not use fd's mapping, see
 * tp__mgr_conn_open for the real set-up). For tests. */
int tp__mgr_conn_lane_offer(struct tp__mgr_conn *c, int fd, int wait_ms);
/* c's lane mapping (NULL: none, or turned off), its socket. For tests. */
struct tp__lane_shm *tp__mgr_conn_lane(const struct tp__mgr_conn *c);
int tp__mgr_conn_fd(const struct tp__mgr_conn *c);
/* The connection a proxy uses (mgr.c). */
struct tp__mgr_conn *tp__mgr_proxy_conn(const tp_proxy *px);

/* The manager's stream transport (mgr_fast.c) for ipc:// (a unix socket
 * at the address's path) and tcp:// (sealed frames after the handshake):
 * its listener and connections are sources on the reactor r (rt/reactor.h),
 * served by the thread that runs r; kick runs after each request it hands
 * to the core. bound receives the address listened on (a tcp port 0
 * replaced by the chosen one). */
struct tp__mgr_fast;
struct tp__mgr_tls_srv;
struct tp__reactor;
int tp__mgr_fast_start(struct tp__mgr_fast **out, const char *addr, char *bound,
                       size_t blen, struct tp__mgr_tls_srv *tls,
                       struct tp__mgr_core *core, struct tp__reactor *r,
                       size_t max, void (*kick)(void *), void *kick_arg);
/* Gives queued replies (the shutdown's) one last chance, then closes
 * every connection and the listener; on r's thread, r not running. */
void tp__mgr_fast_stop(struct tp__mgr_fast *f);
int tp__mgr_fast_is(uint32_t client);
void tp__mgr_fast_send(struct tp__mgr_fast *f, uint32_t id, const void *buf,
                       size_t len);
void tp__mgr_fast_close(struct tp__mgr_fast *f, uint32_t id);
/* TLS (mgr_tls.c, GnuTLS). A client's options: the CA file or pinned
 * certificate its server must chain to (required), the name the server's
 * certificate must carry (NULL: the address's host), and its own
 * certificate and key (optional; a server may require one). */
struct tp__mgr_tls {
	const char *ca, *name, *cert, *key;
};
struct tp__mgr_tls_cli {
	void *sess, *cred;
};
struct tp__mgr_tls_srv;
int tp__mgr_tls_srv_new(struct tp__mgr_tls_srv **out, const char *cert,
                        const char *key, const char *client_ca);
void tp__mgr_tls_srv_free(struct tp__mgr_tls_srv *s);
/* A non-blocking server session on fd. */
int tp__mgr_tls_accept(struct tp__mgr_tls_srv *s, int fd, void **sess);
/* One handshake step: 1 done, 0 again (*wr: waiting to write), -1 failed
 * (bad or missing certificate, garbage). */
int tp__mgr_tls_step(void *sess, int *wr);
/* > 0 bytes, 0 end, -1 error, -2 again. A send that returned -2 is
 * retried with retry = 1 (GnuTLS keeps the record). */
ssize_t tp__mgr_tls_recv(void *sess, void *buf, size_t n);
ssize_t tp__mgr_tls_send(void *sess, const void *buf, size_t n, int retry);
int tp__mgr_tls_pending(void *sess);
void tp__mgr_tls_end(void *sess);
/* Client side, on a non-blocking connected socket: handshake with the
 * server verified (TP_EAUTH when it is not who o says), bounded sends and
 * receives (recv: -2 at the deadline). */
int tp__mgr_tls_connect(int fd, const struct tp__mgr_tls *o, const char *host,
                        int timeout_ms, struct tp__mgr_tls_cli *out);
int tp__mgr_tls_cli_send(struct tp__mgr_tls_cli *c, int fd, const void *buf,
                         size_t len, int64_t dl);
ssize_t tp__mgr_tls_cli_recv(struct tp__mgr_tls_cli *c, int fd, void *buf,
                             size_t len, int64_t dl);
void tp__mgr_tls_cli_end(struct tp__mgr_tls_cli *c);
/* tcp:// addresses: rt/netaddr.h. */
/* 1 once client passed the handshake. */
int tp__mgr_core_authed(struct tp__mgr_core *c, uint32_t client);
/* The session key of an authenticated client, else NULL. */
const uint8_t *tp__mgr_core_skey(struct tp__mgr_core *c, uint32_t client);

#endif
