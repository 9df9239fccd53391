/*
 * mgr.c - the manager's public API: starting a manager server as a child
 * of the program's root supervisor (tp_manager_start: a registered target
 * run by the supervisor core, temporary by default, permanent on request),
 * connecting to one (tp_manager_connect),
 * creating shared objects and the proxies that reach them, and passing
 * proxies inside payloads (a Handle: address, object id, type; never the
 * key, which processes of the run find in the run directory).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "mgr_int.h"
#include "troupe/error.h"
#include "pshared.h"
#include "troupe/log.h"
#include "troupe/process.h"
#include "troupe/runtime.h"
#include "troupe/supervisor.h"

#define CALL_WAIT_MS 30000 /* non-blocking calls: reply expected within */

struct tp_manager {
	struct tp__mgr_conn *c;
	struct tp_manager *live_next; /* the servers this process started */
	int own;        /* 1: its server is our root supervisor's child */
	int permanent;  /* restarted (empty) by the supervisor when it dies */
	char id[64];    /* the child's id under tp_sup_root() */
	pid_t pid;      /* the server started first */
	char mark[600]; /* "<ready>.up": the bound address, for restarts */
	char address[512];
};

/* The managers whose server this process started, for tp__mgr_stats. */
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static tp_manager *live;

static void live_remove(tp_manager *m)
{
	pthread_mutex_lock(&live_mu);
	for (tp_manager **pp = &live; *pp != NULL; pp = &(*pp)->live_next)
		if (*pp == m) {
			*pp = m->live_next;
			break;
		}
	pthread_mutex_unlock(&live_mu);
}

/* A connection of its own, not the program's (one call at a time: a
 * user's blocking call on it would hold the control socket up). */
int tp__mgr_stats(const char *id, int64_t *objects, int64_t *clients)
{
	char addr[512] = "", buf[2048];
	uint8_t key[1024];
	size_t keylen = 0;
	struct tp__mgr_conn *c = NULL;
	struct tp__mgr_tls tls = {0};
	tp_payload *r = NULL;
	pthread_mutex_lock(&live_mu);
	for (tp_manager *m = live; m != NULL; m = m->live_next)
		if (strcmp(m->id, id) == 0)
			snprintf(addr, sizeof(addr), "%s", m->address);
	pthread_mutex_unlock(&live_mu);
	if (addr[0] == '\0')
		return TP_ENOENT;
	int rv = tp__mgr_key_load(addr, key, sizeof(key), &keylen);
	if (rv == TP_OK && strncmp(addr, "tls+tcp://", 10) == 0)
		tp__mgr_tls_load(addr, &tls, buf, sizeof(buf));
	if (rv == TP_OK)
		rv = tp__mgr_conn_open(&c, addr, key, keylen, &tls, 500);
	memset(key, 0, sizeof(key));
	if (rv == TP_OK)
		rv = tp_payload_new(&r);
	if (rv == TP_OK)
		rv = tp__mgr_conn_call(c, TP__MGR_STATS, 0, NULL, NULL, NULL, 0,
		                       500, r, NULL);
	if (rv == TP_OK && (tp_payload_get_int(r, 0, objects) != TP_OK ||
	                    tp_payload_get_int(r, 1, clients) != TP_OK))
		rv = TP_EPROTO;
	if (rv == TP_OK && *clients > 0)
		(*clients)--; /* not this one */
	tp_payload_free(r);
	tp__mgr_conn_unref(c);
	return rv;
}

struct tp_proxy {
	struct tp__mgr_conn *c;
	uint64_t id;
	char type[64];
};

/* The manager child: args are address, key, cert, tls key, max_msg and
 * the file where it says whether it listens. */
struct ready_file {
	const char *path;
	char mark[600]; /* the bound address, kept for a restart */
	int restarted;  /* a restart of a permanent manager that died */
};

/* Writes text to path atomically (a temporary file, then rename). */
static void write_file(const char *path, const char *text)
{
	char tmp[700];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "we");
	if (f == NULL)
		return;
	fputs(text, f);
	if (fclose(f) == 0)
		rename(tmp, path);
	else
		unlink(tmp);
}

static void child_ready(void *arg, const char *addr, int err)
{
	struct ready_file *r = arg;
	char tmp[600];
	if (err == TP_OK && r->mark[0] != '\0')
		write_file(r->mark, addr);
	if (r->restarted) {
		/* nobody waits for a restarted server: it says so instead */
		if (err == TP_OK)
			tp_log_warning(
			    "manager restarted EMPTY at %s by its "
			    "supervisor: the objects of the one that "
			    "died are gone, its clients got TP_EDIED",
			    addr);
		else
			fprintf(stderr,
			        "troupe manager: restart: cannot listen on %s: "
			        "%s\n",
			        addr, tp_strerror(err));
		return;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", r->path);
	FILE *f = fopen(tmp, "we");
	if (f == NULL)
		return;
	fprintf(f, "%d %s", err, err == TP_OK ? addr : "-");
	if (fclose(f) == 0)
		rename(tmp, r->path);
	if (err != TP_OK)
		fprintf(stderr, "troupe manager: cannot listen on %s: %s\n",
		        addr, tp_strerror(err));
}

static int tp__mgr_main(const tp_payload *args, tp_payload *result)
{
	tp_manager_opts o = {0};
	const char *ready = NULL, *s;
	int64_t max = 0;
	(void)result;
	tp_payload_get_string(args, 0, &o.address);
	tp_payload_get_bytes(args, 1, &o.authkey, &o.authkey_len);
	if (tp_payload_get_string(args, 2, &s) == TP_OK)
		o.tls_cert = s;
	if (tp_payload_get_string(args, 3, &s) == TP_OK)
		o.tls_key = s;
	tp_payload_get_int(args, 4, &max);
	tp_payload_get_string(args, 5, &ready);
	if (tp_payload_get_string(args, 6, &s) == TP_OK)
		o.tls_client_ca = s;
	o.max_msg = (size_t)max;
	struct ready_file rf = {.path = ready};
	char addr[512];
	snprintf(rf.mark, sizeof(rf.mark), "%s.up", ready);
	FILE *f = fopen(rf.mark, "re");
	if (f != NULL) { /* an earlier server of this manager died */
		if (fscanf(f, "%511s", addr) == 1) {
			o.address = addr; /* the port it had, if it was 0 */
			rf.restarted = 1;
		}
		fclose(f);
	}
	return tp__mgr_serve(&o, child_ready, &rf) == TP_OK ? 0 : 1;
}
TP_TARGET(tp__mgr_main);

static int add_opt_str(tp_payload *p, const char *s)
{
	return s ? tp_payload_add_string(p, s) : tp_payload_add_none(p);
}

static int start_args(const tp_manager_opts *o, const char *addr,
                      const void *key, size_t keylen, const char *ready,
                      tp_payload **out)
{
	tp_payload *p;
	int rv = tp_payload_new(&p);
	if (rv == TP_OK)
		rv = tp_payload_add_string(p, addr);
	if (rv == TP_OK)
		rv = tp_payload_add_bytes(p, key, keylen);
	if (rv == TP_OK)
		rv = add_opt_str(p, o ? o->tls_cert : NULL);
	if (rv == TP_OK)
		rv = add_opt_str(p, o ? o->tls_key : NULL);
	if (rv == TP_OK)
		rv = tp_payload_add_int(p, o ? (int64_t)o->max_msg : 0);
	if (rv == TP_OK)
		rv = tp_payload_add_string(p, ready);
	if (rv == TP_OK)
		rv = add_opt_str(p, o ? o->tls_client_ca : NULL);
	if (rv != TP_OK)
		tp_payload_free(p);
	else
		*out = p;
	return rv;
}

/* The pid of the server that runs now, 0 when none does. */
static pid_t server_pid(const tp_manager *m)
{
	tp_sup *root = tp_sup_root();
	tp_child_info *v = NULL;
	pid_t pid = 0;
	int n = 0;
	if (root == NULL || tp_sup_which_children(root, &v, &n) != TP_OK)
		return 0;
	for (int i = 0; i < n; i++)
		if (strcmp(v[i].id, m->id) == 0)
			pid = v[i].pid;
	free(v);
	return pid;
}

/* Reads the child's ready file, "<err> <address>": -1 while there is
 * none. */
static int read_ready(tp_manager *m, const char *path)
{
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return -1;
	int err = TP_EDIED;
	int n = fscanf(f, "%d %511s", &err, m->address);
	fclose(f);
	unlink(path);
	return n == 2 ? err : TP_EDIED;
}

/* Waits for the child's ready file. A child that wrote it and exited
 * (it cannot listen) is found dead after the file appeared: the file is
 * read once more then, so its error is the one returned. */
static int wait_ready(tp_manager *m, const char *path)
{
	int64_t dl = tp__deadline(20000);
	while (tp__remaining(dl) != 0) {
		int rv = read_ready(m, path);
		if (rv != -1)
			return rv;
		if (!tp__pid_alive(m->pid)) {
			rv = read_ready(m, path);
			return rv == -1 ? TP_EDIED : rv;
		}
		usleep(1000);
	}
	return TP_ETIMEDOUT;
}

/* Starts the server as a child of the root supervisor. */
static int start_child(tp_manager *m, const tp_manager_opts *o,
                       const char *addr, const uint8_t *key, size_t keylen)
{
	char ready[512];
	static int seq;
	tp_payload *args;
	tp_child_spec spec = TP_CHILD_SPEC_INIT;
	tp_sup *root = tp_sup_root();
	if (root == NULL)
		return TP_ENOTINIT;
	int n = __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED);
	snprintf(ready, sizeof(ready), "%s/mgr-ready-%d-%d", tp_runtime_dir(),
	         (int)getpid(), n);
	snprintf(m->mark, sizeof(m->mark), "%s.up", ready);
	snprintf(m->id, sizeof(m->id), "SyncManager-%d", n);
	int rv = start_args(o, addr, key, keylen, ready, &args);
	if (rv != TP_OK)
		return rv;
	spec.id = m->id;
	spec.target = tp__mgr_main;
	spec.args = args;
	spec.restart = m->permanent ? TP_PERMANENT : TP_TEMPORARY;
	spec.restart_delay_ms = 10; /* a server that cannot start backs off */
	spec.restart_delay_max_ms = 2000;
	rv = tp_sup_start_child(root, &spec, NULL);
	tp_payload_free(args);
	if (rv == TP_OK) {
		m->own = 1;
		m->pid = server_pid(m);
		rv = wait_ready(m, ready);
	}
	unlink(ready);
	return rv;
}

/* Stops the server (if it still runs) and forgets its spec. */
static void mgr_stop_child(tp_manager *m)
{
	tp_sup *root = tp_sup_root();
	if (!m->own)
		return;
	if (root != NULL) {
		tp_sup_terminate_child(root, m->id);
		tp_sup_delete_child(root, m->id);
	}
	unlink(m->mark);
	m->own = 0;
}

int tp_manager_start(tp_manager **out, const tp_manager_opts *opts)
{
	char addr[512];
	uint8_t rnd[TP_MANAGER_KEYLEN];
	const void *key = opts ? opts->authkey : NULL;
	size_t keylen = opts ? opts->authkey_len : 0;
	int rv;
	if (out == NULL || (key != NULL && keylen == 0))
		return TP_EINVAL;
	if (!tp_initialized())
		return TP_ENOTINIT;
	if (opts != NULL && opts->address != NULL)
		snprintf(addr, sizeof(addr), "%s", opts->address);
	else if ((rv = tp_address("mgr", addr, sizeof(addr))) != TP_OK)
		return rv;
	if (key == NULL) {
		if ((rv = tp__auth_random(rnd, sizeof(rnd))) != TP_OK)
			return rv;
		key = rnd;
		keylen = sizeof(rnd);
	}
	tp_manager *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return TP_ENOMEM;
	m->permanent = opts != NULL && opts->permanent;
	/* our own connection to a tls one: its certificate pinned unless a
	 * CA is given; ours to show if it wants one */
	struct tp__mgr_tls tls = {0};
	if (opts != NULL) {
		tls.ca = opts->tls_ca ? opts->tls_ca : opts->tls_cert;
		tls.name = opts->tls_server_name;
		if (opts->tls_client_ca != NULL) {
			tls.cert = opts->tls_cert;
			tls.key = opts->tls_key;
		}
	}
	rv = start_child(m, opts, addr, key, keylen);
	if (rv == TP_OK)
		rv = tp__mgr_key_store(m->address, key, keylen);
	if (rv == TP_OK && strncmp(m->address, "tls+tcp://", 10) == 0)
		rv = tp__mgr_tls_store(m->address, &tls);
	if (rv == TP_OK)
		rv = tp__mgr_conn_open(&m->c, m->address, key, keylen, &tls,
		                       20000);
	if (rv == TP_OK)
		tp__mgr_conn_cache(m->c);
	memset(rnd, 0, sizeof(rnd));
	if (rv != TP_OK) {
		mgr_stop_child(m);
		free(m);
		return rv;
	}
	pthread_mutex_lock(&live_mu);
	m->live_next = live;
	live = m;
	pthread_mutex_unlock(&live_mu);
	*out = m;
	return TP_OK;
}

int tp_manager_connect_opts(tp_manager **out, const tp_manager_opts *o,
                            int timeout_ms)
{
	if (out == NULL || o == NULL || o->address == NULL ||
	    o->authkey == NULL || o->authkey_len == 0 ||
	    strlen(o->address) >= 512)
		return TP_EINVAL;
	struct tp__mgr_tls tls = {o->tls_ca, o->tls_server_name, o->tls_cert,
	                          o->tls_key};
	tp_manager *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return TP_ENOMEM;
	snprintf(m->address, sizeof(m->address), "%s", o->address);
	int rv = tp__mgr_conn_open(&m->c, o->address, o->authkey,
	                           o->authkey_len, &tls, timeout_ms);
	if (rv != TP_OK) {
		free(m);
		return rv;
	}
	tp__mgr_conn_cache(m->c);
	*out = m;
	return TP_OK;
}

int tp_manager_connect(tp_manager **out, const char *address,
                       const void *authkey, size_t authkey_len, int timeout_ms)
{
	tp_manager_opts o = {
	    .address = address, .authkey = authkey, .authkey_len = authkey_len};
	return tp_manager_connect_opts(out, &o, timeout_ms);
}

const char *tp_manager_address(const tp_manager *m)
{
	return m ? m->address : NULL;
}

pid_t tp_manager_pid(const tp_manager *m)
{
	if (m == NULL || !m->own)
		return 0;
	return m->permanent ? server_pid(m) : m->pid;
}

int tp_manager_shutdown(tp_manager *m)
{
	if (m == NULL)
		return TP_OK;
	int rv = TP_OK;
	/* A permanent server is stopped by its supervisor (a shutdown
	 * request would end it, and the supervisor restart it). */
	if (!(m->own && m->permanent))
		rv = tp__mgr_conn_call(m->c, TP__MGR_SHUTDOWN, 0, NULL, NULL,
		                       NULL, 0, 5000, NULL, NULL);
	if (rv == TP_EDIED && m->own)
		rv = TP_OK; /* gone before its reply: still a shutdown */
	live_remove(m);
	tp__mgr_conn_unref(m->c);
	m->c = NULL;
	mgr_stop_child(m);
	free(m);
	return rv;
}

void tp_manager_free(tp_manager *m)
{
	if (m == NULL)
		return;
	if (m->own) {
		tp_manager_shutdown(m);
		return;
	}
	tp__mgr_conn_unref(m->c);
	free(m);
}

static int proxy_new(struct tp__mgr_conn *c, uint64_t id, const char *type,
                     tp_proxy **out)
{
	tp_proxy *px = calloc(1, sizeof(*px));
	if (px == NULL)
		return TP_ENOMEM;
	px->c = c;
	px->id = id;
	snprintf(px->type, sizeof(px->type), "%s", type);
	*out = px;
	return TP_OK;
}

int tp_manager_get(tp_manager *m, const char *type, const char *name,
                   const tp_payload *args, tp_proxy **out)
{
	uint64_t id = 0;
	if (m == NULL || type == NULL || out == NULL || strlen(type) > 63 ||
	    (name != NULL && (name[0] == '\0' || strlen(name) > 255)))
		return TP_EINVAL;
	int rv = tp__mgr_conn_call(m->c, TP__MGR_CREATE, 0, type, name, args, 0,
	                           CALL_WAIT_MS, NULL, &id);
	if (rv == TP_OK && (rv = proxy_new(m->c, id, type, out)) == TP_OK)
		tp__mgr_conn_ref(m->c);
	return rv;
}

int tp_manager_create(tp_manager *m, const char *type, const tp_payload *args,
                      tp_proxy **out)
{
	return tp_manager_get(m, type, NULL, args, out);
}

int tp_proxy_call(tp_proxy *px, const char *method, const tp_payload *args,
                  tp_payload *result, int timeout_ms)
{
	if (px == NULL || method == NULL)
		return TP_EINVAL;
	/* a blocking call's reply comes when its timeout expires at the
	 * latest: allow the server that long plus the usual margin */
	int wait = timeout_ms < 0 ? -1
	           : timeout_ms > INT32_MAX - CALL_WAIT_MS
	               ? -1
	               : timeout_ms + CALL_WAIT_MS;
	return tp__mgr_conn_call(px->c, TP__MGR_CALL, px->id, method, NULL,
	                         args, timeout_ms < 0 ? -1 : timeout_ms, wait,
	                         result, NULL);
}

struct tp__mgr_conn *tp__mgr_proxy_conn(const tp_proxy *px)
{
	return px != NULL ? px->c : NULL;
}

const char *tp_proxy_type(const tp_proxy *px)
{
	return px ? px->type : NULL;
}

const char *tp_proxy_repr(tp_proxy *px, char *buf, size_t len)
{
	tp_payload *r;
	const char *s;
	if (buf == NULL || len == 0)
		return "";
	buf[0] = '\0';
	if (tp_payload_new(&r) != TP_OK)
		return buf;
	if (tp_proxy_call(px, "repr", NULL, r, 0) == TP_OK &&
	    tp_payload_get_string(r, 0, &s) == TP_OK)
		snprintf(buf, len, "%s", s);
	tp_payload_free(r);
	return buf;
}

int tp_proxy_release(tp_proxy *px)
{
	if (px == NULL)
		return TP_EINVAL;
	return tp__mgr_conn_call(px->c, TP__MGR_RELEASE, px->id, NULL, NULL,
	                         NULL, 0, CALL_WAIT_MS, NULL, NULL);
}

void tp_proxy_free(tp_proxy *px)
{
	if (px == NULL)
		return;
	tp__mgr_conn_unref(px->c);
	free(px);
}

int tp_payload_add_proxy(tp_payload *p, const tp_proxy *px)
{
	Troupe__Handle h = TROUPE__HANDLE__INIT;
	if (p == NULL || px == NULL)
		return TP_EINVAL;
	h.kind = "manager";
	h.name = (char *)px->type;
	h.address = (char *)tp__mgr_conn_address(px->c);
	h.id = (int64_t)px->id;
	return tp_payload_add_proto(p, &h.base);
}

int tp_payload_get_proxy(const tp_payload *p, size_t i, const void *authkey,
                         size_t authkey_len, tp_proxy **out)
{
	ProtobufCMessage *msg;
	uint8_t key[1024];
	struct tp__mgr_conn *c;
	if (out == NULL || (authkey != NULL && authkey_len == 0))
		return TP_EINVAL;
	int rv = tp_payload_get_proto(p, i, &troupe__handle__descriptor, &msg);
	if (rv != TP_OK)
		return rv == TP_EDECODE ? TP_ETYPE : rv;
	Troupe__Handle *h = (Troupe__Handle *)msg;
	if (strcmp(h->kind, "manager") != 0 || h->id <= 0) {
		rv = TP_ETYPE;
		goto out;
	}
	if (authkey == NULL) {
		rv = tp__mgr_key_load(h->address, key, sizeof(key),
		                      &authkey_len);
		authkey = key;
	}
	if (rv == TP_OK)
		rv = tp__mgr_conn_get(&c, h->address, authkey, authkey_len);
	if (rv == TP_OK &&
	    (rv = proxy_new(c, (uint64_t)h->id, h->name, out)) != TP_OK)
		tp__mgr_conn_unref(c);
out:
	memset(key, 0, sizeof(key));
	protobuf_c_message_free_unpacked(msg, NULL);
	return rv;
}
