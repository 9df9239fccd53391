/*
 * mgr_core.c - the manager server's core, free of nng so it can be fuzzed
 * directly: per-connection authentication state, the object table, method
 * dispatch, and parked requests (blocking calls answered later, when the
 * object changed or the caller's timeout expired).
 *
 * Security: a connection that has not proved it knows the key may send
 * only a hello then an auth message, each at most TP__MGR_PREAUTH_MAX
 * bytes; anything else closes it without an answer and without decoding
 * more. Authenticated requests are size-checked before decoding, and a
 * malformed one gets a TP_EDECODE answer.
 */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "mgr_int.h"
#include "troupe/error.h"
#include "wire.h"

static const char LABEL_SERVER[] = "troupe-mgr-server";
static const char LABEL_CLIENT[] = "troupe-mgr-client";

enum { CL_NEW, CL_HELLO, CL_AUTHED };

struct client {
	uint32_t id;
	int state;
	uint8_t nonce[TP__AUTH_NONCE];  /* ours */
	uint8_t cnonce[TP__AUTH_NONCE]; /* the client's */
	uint8_t skey[TP__AUTH_MAC];     /* once authenticated */
};

struct obj {
	const struct tp__mgr_type *t; /* built-in */
	const tp_manager_type *u;     /* or user-registered */
	void *state;
};

struct parked {
	struct parked *next;
	uint64_t obj;
	uint32_t client;
	void *token;
	char *method;
	tp_payload *args;
	uint64_t corr;
	int64_t deadline;
	int park_code;
};

struct tp__mgr_core {
	uint8_t *key;
	size_t keylen;
	size_t max_msg;
	struct tp__mgr_io io;
	struct client *cl;
	size_t ncl, capcl;
	struct obj *objs;
	size_t nobj, capobj;
	struct parked *parked; /* FIFO */
	struct named {
		char *name;
		uint64_t id;
	} * names;
	size_t nnames;
	struct tp__mgr_arena arena; /* the request being handled */
};

int tp__mgr_core_new(struct tp__mgr_core **out, const void *key, size_t keylen,
                     size_t max_msg, const struct tp__mgr_io *io)
{
	struct tp__mgr_core *c = calloc(1, sizeof(*c));
	if (c == NULL || (c->key = malloc(keylen ? keylen : 1)) == NULL) {
		free(c);
		return TP_ENOMEM;
	}
	memcpy(c->key, key, keylen);
	c->keylen = keylen;
	c->max_msg = max_msg ? max_msg : TP_MAX_MSG_DEFAULT;
	c->io = *io;
	*out = c;
	return TP_OK;
}

static void parked_free(struct tp__mgr_core *c, struct parked *p, int drop)
{
	if (drop)
		c->io.drop(c->io.arg, p->token);
	free(p->method);
	tp_payload_free(p->args);
	free(p);
}

static void obj_free(struct obj *o)
{
	if (o->u != NULL && o->u->free != NULL)
		o->u->free(o->state);
	else if (o->t != NULL)
		o->t->free(o->state);
	o->t = NULL;
	o->u = NULL;
	o->state = NULL;
}

void tp__mgr_core_free(struct tp__mgr_core *c)
{
	if (c == NULL)
		return;
	while (c->parked != NULL) {
		struct parked *p = c->parked;
		c->parked = p->next;
		parked_free(c, p, 1);
	}
	for (size_t i = 0; i < c->nobj; i++)
		obj_free(&c->objs[i]);
	free(c->objs);
	for (size_t i = 0; i < c->nnames; i++)
		free(c->names[i].name);
	free(c->names);
	free(c->cl);
	tp__mgr_arena_reset(&c->arena);
	memset(c->key, 0, c->keylen);
	free(c->key);
	free(c);
}

static struct client *client_get(struct tp__mgr_core *c, uint32_t id)
{
	for (size_t i = 0; i < c->ncl; i++)
		if (c->cl[i].id == id)
			return &c->cl[i];
	if (c->ncl == c->capcl) {
		size_t cap = c->capcl ? c->capcl * 2 : 8;
		struct client *n = realloc(c->cl, cap * sizeof(*n));
		if (n == NULL)
			return NULL;
		c->cl = n;
		c->capcl = cap;
	}
	struct client *cl = &c->cl[c->ncl++];
	memset(cl, 0, sizeof(*cl));
	cl->id = id;
	return cl;
}

static void client_remove(struct tp__mgr_core *c, uint32_t id)
{
	for (size_t i = 0; i < c->ncl; i++) {
		if (c->cl[i].id == id) {
			memset(&c->cl[i], 0, sizeof(c->cl[i]));
			c->cl[i] = c->cl[--c->ncl];
			return;
		}
	}
}

/* Sends a packed reply (rv: whether packing worked, else the request is
 * dropped); frees buf unless it is small. */
static void send_packed(struct tp__mgr_core *c, void *token, int rv, void *buf,
                        size_t len, const void *small)
{
	if (rv != TP_OK) {
		c->io.drop(c->io.arg, token);
		return;
	}
	c->io.send(c->io.arg, token, buf, len);
	if (buf != small)
		free(buf);
}

/* Sends a reply envelope; on an encoding failure, a bare error reply. */
static void reply(struct tp__mgr_core *c, void *token, uint64_t corr,
                  Troupe__MgrReply *r)
{
	Troupe__Envelope env = TROUPE__ENVELOPE__INIT;
	env.correlation_id = corr;
	env.body_case = TROUPE__ENVELOPE__BODY_MGR_REPLY;
	env.mgr_reply = r;
	uint8_t small[512];
	void *buf;
	size_t len;
	int rv = tp__pack_into(&env.base, c->max_msg, small, sizeof(small),
	                       &buf, &len);
	if (rv != TP_OK) {
		Troupe__MgrReply e = TROUPE__MGR_REPLY__INIT;
		e.code = rv;
		env.mgr_reply = &e;
		rv = tp__pack_into(&env.base, 0, small, sizeof(small), &buf,
		                   &len);
	}
	send_packed(c, token, rv, buf, len, small);
}

/* A reply of a code and maybe a result, written directly (mgr_wire.c);
 * one too large for the limit becomes that error's bare reply. */
static void reply_code(struct tp__mgr_core *c, void *token, uint64_t corr,
                       int code, const tp_payload *result)
{
	uint8_t small[512];
	void *buf;
	size_t len;
	if (result != NULL && (result->count == 0 || code != TP_OK))
		result = NULL;
	int rv = tp__mgr_reply_pack(corr, code, result, c->max_msg, small,
	                            sizeof(small), &buf, &len);
	if (rv != TP_OK)
		rv = tp__mgr_reply_pack(corr, rv, NULL, 0, small, sizeof(small),
		                        &buf, &len);
	send_packed(c, token, rv, buf, len, small);
}

int tp__mgr_decode(struct tp__mgr_arena *a, const void *buf, size_t len,
                   size_t max, Troupe__Envelope **out)
{
	int rv = tp__mgr_arena_unpack(a, buf, len, max, out);
	if (rv != TP_OK)
		return rv;
	if ((*out)->body_case != TROUPE__ENVELOPE__BODY_MGR_REQUEST) {
		*out = NULL;
		return TP_EDECODE;
	}
	return TP_OK;
}

/* The handshake: hello (answer the client's challenge, send ours), then
 * auth (check the client's answer). Any deviation closes the client. */
static void preauth(struct tp__mgr_core *c, struct client *cl, void *token,
                    const void *buf, size_t len)
{
	Troupe__Envelope *env = NULL;
	uint32_t id = cl->id;
	if (len > TP__MGR_PREAUTH_MAX ||
	    tp__mgr_decode(&c->arena, buf, len, TP__MGR_PREAUTH_MAX, &env) !=
	        TP_OK)
		goto reject;
	const Troupe__MgrRequest *rq = env->mgr_request;
	if (cl->state == CL_NEW && rq->op == TP__MGR_HELLO &&
	    rq->nonce.len == TP__AUTH_NONCE) {
		uint8_t mac[TP__AUTH_MAC];
		Troupe__MgrReply r = TROUPE__MGR_REPLY__INIT;
		if (tp__auth_random(cl->nonce, sizeof(cl->nonce)) != TP_OK)
			goto reject;
		tp__auth_mac(c->key, c->keylen, LABEL_SERVER, rq->nonce.data,
		             rq->nonce.len, mac);
		r.nonce.data = cl->nonce;
		r.nonce.len = sizeof(cl->nonce);
		r.mac.data = mac;
		r.mac.len = sizeof(mac);
		memcpy(cl->cnonce, rq->nonce.data, TP__AUTH_NONCE);
		cl->state = CL_HELLO;
		reply(c, token, env->correlation_id, &r);
		return;
	}
	if (cl->state == CL_HELLO && rq->op == TP__MGR_AUTH &&
	    tp__auth_mac_ok(c->key, c->keylen, LABEL_CLIENT, cl->nonce,
	                    sizeof(cl->nonce), rq->mac.data, rq->mac.len)) {
		tp__auth_session_key(c->key, c->keylen, cl->cnonce, cl->nonce,
		                     cl->skey);
		cl->state = CL_AUTHED;
		reply_code(c, token, env->correlation_id, TP_OK, NULL);
		return;
	}
reject:
	client_remove(c, id);
	c->io.drop(c->io.arg, token);
	c->io.close_client(c->io.arg, id);
}

static struct obj *obj_get(struct tp__mgr_core *c, uint64_t id, int *err)
{
	if (id == 0 || id > c->nobj) {
		*err = TP_ENOENT;
		return NULL;
	}
	struct obj *o = &c->objs[id - 1];
	if (o->t == NULL && o->u == NULL) {
		*err = TP_ECLOSED;
		return NULL;
	}
	return o;
}

/* A named object: its id, 0 if none (or released). */
static uint64_t name_find(struct tp__mgr_core *c, const char *name,
                          const char *type)
{
	for (size_t i = 0; i < c->nnames; i++) {
		if (strcmp(c->names[i].name, name) != 0 || c->names[i].id == 0)
			continue;
		struct obj *o = &c->objs[c->names[i].id - 1];
		const char *t = o->t ? o->t->name : NULL;
		if (o->t == NULL && o->u == NULL)
			return 0;
		return t == NULL || strcmp(t, type) == 0 ? c->names[i].id
		                                         : UINT64_MAX;
	}
	return 0;
}

static int name_add(struct tp__mgr_core *c, const char *name, uint64_t id)
{
	struct named *n = realloc(c->names, (c->nnames + 1) * sizeof(*n));
	if (n == NULL)
		return TP_ENOMEM;
	c->names = n;
	for (size_t i = 0; i < c->nnames; i++) {
		if (strcmp(n[i].name, name) == 0) { /* a released one */
			n[i].id = id;
			return TP_OK;
		}
	}
	if ((n[c->nnames].name = strdup(name)) == NULL)
		return TP_ENOMEM;
	n[c->nnames++].id = id;
	return TP_OK;
}

static void op_create(struct tp__mgr_core *c, void *token, uint64_t corr,
                      const char *type, const char *name,
                      const tp_payload *args)
{
	if (name != NULL && name[0] != '\0') {
		uint64_t id = name_find(c, name, type);
		if (id == UINT64_MAX) {
			reply_code(c, token, corr, TP_ETYPE, NULL);
			return;
		}
		if (id != 0) {
			Troupe__MgrReply r = TROUPE__MGR_REPLY__INIT;
			r.object = id;
			reply(c, token, corr, &r);
			return;
		}
		if (strlen(name) > 255) {
			reply_code(c, token, corr, TP_EINVAL, NULL);
			return;
		}
	}
	struct obj o = {0};
	int rv = TP_OK;
	const struct tp__mgr_type *t = tp__mgr_find_type(type);
	const tp_manager_type *u = NULL;
	if (t == NULL && (u = tp__mgr_find_user(type)) == NULL)
		rv = TP_ENOENT;
	if (rv == TP_OK && c->nobj == c->capobj) {
		size_t cap = c->capobj ? c->capobj * 2 : 16;
		struct obj *n = realloc(c->objs, cap * sizeof(*n));
		if (n == NULL)
			rv = TP_ENOMEM;
		else {
			c->objs = n;
			c->capobj = cap;
		}
	}
	if (rv == TP_OK)
		rv = t ? t->init(&o.state, args)
		       : (u->init ? u->init(&o.state, args) : TP_OK);
	if (rv != TP_OK) {
		reply_code(c, token, corr, rv, NULL);
		return;
	}
	o.t = t;
	o.u = u;
	c->objs[c->nobj++] = o;
	if (name != NULL && name[0] != '\0' &&
	    name_add(c, name, c->nobj) != TP_OK) {
		obj_free(&c->objs[--c->nobj]);
		reply_code(c, token, corr, TP_ENOMEM, NULL);
		return;
	}
	Troupe__MgrReply r = TROUPE__MGR_REPLY__INIT;
	r.object = c->nobj;
	reply(c, token, corr, &r);
}

static int obj_call(struct obj *o, struct tp__mgr_ctx *x)
{
	if (o->u != NULL) {
		int rv = o->u->call ? o->u->call(o->state, x->method, x->args,
		                                 x->result)
		                    : TP_ENOENT;
		return rv < 0 ? TP_EREMOTE : rv; /* user types never park */
	}
	return o->t->call(o->state, x);
}

/* Calls parked requests on object id again, oldest first, until a pass
 * completes none that changed the object. */
static void retry(struct tp__mgr_core *c, uint64_t id)
{
	int again = 1;
	while (again) {
		again = 0;
		struct parked **pp = &c->parked;
		while (*pp != NULL) {
			struct parked *p = *pp;
			int err;
			struct obj *o = obj_get(c, id, &err);
			if (p->obj != id || o == NULL) {
				pp = &p->next;
				continue;
			}
			tp_payload res = {0};
			struct tp__mgr_ctx x = {p->method, p->args, &res,
			                        p->client, 0,       0};
			int rv = obj_call(o, &x);
			if (rv == TP__MGR_PARK) {
				tp__payload_fini(&res);
				pp = &p->next;
				continue;
			}
			reply_code(c, p->token, p->corr, rv, &res);
			tp__payload_fini(&res);
			*pp = p->next;
			parked_free(c, p, 0);
			again |= x.changed;
		}
	}
}

static void park(struct tp__mgr_core *c, void *token, uint64_t corr,
                 uint64_t id, uint32_t client, const char *method,
                 tp_payload *args, int timeout_ms, int code)
{
	struct parked *p = calloc(1, sizeof(*p));
	if (p == NULL || (p->method = strdup(method)) == NULL) {
		free(p);
		tp_payload_free(args);
		reply_code(c, token, corr, TP_ENOMEM, NULL);
		return;
	}
	p->obj = id;
	p->client = client;
	p->token = token;
	p->args = args;
	p->corr = corr;
	p->deadline = tp__deadline(timeout_ms);
	p->park_code = code;
	struct parked **pp = &c->parked;
	while (*pp != NULL)
		pp = &(*pp)->next;
	*pp = p;
}

static void op_call(struct tp__mgr_core *c, void *token, uint64_t corr,
                    uint32_t client, const Troupe__MgrRequest *rq,
                    tp_payload *args)
{
	int rv;
	struct obj *o = obj_get(c, rq->object, &rv);
	if (o == NULL) {
		reply_code(c, token, corr, rv, NULL);
		tp_payload_free(args);
		return;
	}
	tp_payload res = {0};
	struct tp__mgr_ctx x = {rq->name, args, &res, client, 0, 0};
	rv = obj_call(o, &x);
	int exp = TP__MGR_EXP_REPLY;
	if (rv == TP__MGR_PARK && rq->timeout_ms == 0 && o->t != NULL &&
	    o->t->expire != NULL) /* expired at once: the object may care */
		exp = o->t->expire(o->state, client);
	if (rv == TP__MGR_PARK &&
	    (rq->timeout_ms != 0 || exp == TP__MGR_EXP_KEEP)) {
		park(c, token, corr, rq->object, client, rq->name, args,
		     exp == TP__MGR_EXP_KEEP ? -1 : rq->timeout_ms,
		     x.park_code);
		tp__payload_fini(&res);
		/* parking may have changed the object (a condition wait
		 * gives its lock up) */
		if (x.changed || exp != TP__MGR_EXP_REPLY)
			retry(c, rq->object);
		return;
	}
	x.changed |= exp == TP__MGR_EXP_CHANGED;
	reply_code(c, token, corr, rv == TP__MGR_PARK ? x.park_code : rv, &res);
	tp__payload_fini(&res);
	tp_payload_free(args);
	if (x.changed)
		retry(c, rq->object);
}

static void op_release(struct tp__mgr_core *c, uint64_t id)
{
	int err;
	struct obj *o = obj_get(c, id, &err);
	if (o == NULL)
		return;
	obj_free(o);
	struct parked **pp = &c->parked;
	while (*pp != NULL) {
		struct parked *p = *pp;
		if (p->obj != id) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		reply_code(c, p->token, p->corr, TP_ECLOSED, NULL);
		parked_free(c, p, 0);
	}
}

static void dispatch(struct tp__mgr_core *c, uint32_t client, void *token,
                     uint64_t corr, const Troupe__MgrRequest *rq,
                     tp_payload *args);

/* A string of a directly read request, NUL-ended in the arena. */
static char *req_str(struct tp__mgr_core *c, const uint8_t *s, size_t n)
{
	char *d = tp__mgr_arena_alloc(&c->arena, n + 1);
	if (d != NULL) {
		if (n > 0)
			memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/* The common request, read without protobuf-c (mgr_wire.c): 1 when it
 * was (and is handled), 0 to decode it the general way. */
static int authed_direct(struct tp__mgr_core *c, uint32_t client, void *token,
                         const void *buf, size_t len)
{
	struct tp__mgr_req_in in;
	Troupe__MgrRequest rq = TROUPE__MGR_REQUEST__INIT;
	tp_payload *args = NULL;
	if (len > c->max_msg || !tp__mgr_req_read(buf, len, &in))
		return 0;
	rq.op = in.op;
	rq.object = in.object;
	rq.timeout_ms = in.timeout_ms;
	rq.name = req_str(c, in.name, in.name_len);
	rq.key = req_str(c, in.key, in.key_len);
	if (rq.name == NULL || rq.key == NULL)
		return 0;
	int rv = in.has_args ? tp__payload_unpack(in.args, in.args_len, &args)
	                     : tp_payload_new(&args);
	if (rv == TP_EDECODE)
		return 0; /* the general path gives the error its reply */
	if (rv != TP_OK) {
		reply_code(c, token, in.corr, rv, NULL);
		return 1;
	}
	dispatch(c, client, token, in.corr, &rq, args);
	return 1;
}

static void authed(struct tp__mgr_core *c, uint32_t client, void *token,
                   const void *buf, size_t len)
{
	Troupe__Envelope *env;
	tp_payload *args = NULL;
	if (authed_direct(c, client, token, buf, len))
		return;
	int rv = tp__mgr_decode(&c->arena, buf, len, c->max_msg, &env);
	if (rv != TP_OK) {
		reply_code(c, token, 0, rv, NULL);
		return;
	}
	const Troupe__MgrRequest *rq = env->mgr_request;
	uint64_t corr = env->correlation_id;
	if (rq->args != NULL)
		rv = tp__payload_from_pb(rq->args, &args);
	else
		rv = tp_payload_new(&args);
	if (rv != TP_OK) {
		reply_code(c, token, corr, rv, NULL);
		return;
	}
	dispatch(c, client, token, corr, rq, args);
}

/* Runs one decoded request; args is taken. */
/* The server's figures for `troupe tree -p PID` (ctl_status.c): objects
 * alive and clients authenticated (the asking one included). */
static void op_stats(struct tp__mgr_core *c, void *token, uint64_t corr)
{
	int64_t objects = 0, clients = 0;
	tp_payload *r = NULL;
	for (size_t i = 0; i < c->nobj; i++)
		objects += c->objs[i].t != NULL || c->objs[i].u != NULL;
	for (size_t i = 0; i < c->ncl; i++)
		clients += c->cl[i].state == CL_AUTHED;
	int rv = tp_payload_new(&r);
	if (rv == TP_OK && (rv = tp_payload_add_int(r, objects)) == TP_OK)
		rv = tp_payload_add_int(r, clients);
	reply_code(c, token, corr, rv, r);
	tp_payload_free(r);
}

static void dispatch(struct tp__mgr_core *c, uint32_t client, void *token,
                     uint64_t corr, const Troupe__MgrRequest *rq,
                     tp_payload *args)
{
	/* The types read args in place (tp__arg): generic values, made once
	 * here when the request's were packed. */
	if (tp__payload_generic(args) != TP_OK) {
		reply_code(c, token, corr, TP_ENOMEM, NULL);
		tp_payload_free(args);
		return;
	}
	switch (rq->op) {
	case TP__MGR_CREATE:
		op_create(c, token, corr, rq->name, rq->key, args);
		break;
	case TP__MGR_CALL:
		op_call(c, token, corr, client, rq, args);
		args = NULL; /* taken */
		break;
	case TP__MGR_RELEASE:
		op_release(c, rq->object);
		reply_code(c, token, corr, TP_OK, NULL);
		break;
	case TP__MGR_SHUTDOWN:
		reply_code(c, token, corr, TP_OK, NULL);
		c->io.shutdown(c->io.arg);
		break;
	case TP__MGR_PING:
		reply_code(c, token, corr, TP_OK, NULL);
		break;
	case TP__MGR_STATS:
		op_stats(c, token, corr);
		break;
	default:
		reply_code(c, token, corr, TP_EPROTO, NULL);
	}
	tp_payload_free(args);
}

void tp__mgr_core_request(struct tp__mgr_core *c, uint32_t client, void *token,
                          const void *buf, size_t len)
{
	struct client *cl = client_get(c, client);
	if (cl == NULL) {
		c->io.drop(c->io.arg, token);
		c->io.close_client(c->io.arg, client);
		return;
	}
	if (cl->state != CL_AUTHED)
		preauth(c, cl, token, buf, len);
	else
		authed(c, client, token, buf, len);
	tp__mgr_arena_reset(&c->arena); /* what spilled out of it */
}

void tp__mgr_core_gone(struct tp__mgr_core *c, uint32_t client)
{
	client_remove(c, client);
	struct parked **pp = &c->parked;
	while (*pp != NULL) {
		struct parked *p = *pp;
		if (p->client != client) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		parked_free(c, p, 1);
	}
	for (size_t i = 0; i < c->nobj; i++) {
		struct obj *o = &c->objs[i];
		if (o->t != NULL && o->t->gone != NULL &&
		    o->t->gone(o->state, client))
			retry(c, i + 1);
	}
}

int64_t tp__mgr_core_expire(struct tp__mgr_core *c, int64_t now)
{
	int64_t next = INT64_MAX;
	uint64_t *again = NULL;
	size_t nagain = 0, cap = 0;
	struct parked **pp = &c->parked;
	while (*pp != NULL) {
		struct parked *p = *pp;
		if (p->deadline > now) {
			if (p->deadline < next)
				next = p->deadline;
			pp = &p->next;
			continue;
		}
		int err, r = TP__MGR_EXP_REPLY;
		struct obj *o = obj_get(c, p->obj, &err);
		if (o != NULL && o->t != NULL && o->t->expire != NULL)
			r = o->t->expire(o->state, p->client);
		if (r != TP__MGR_EXP_REPLY && nagain == cap) {
			cap = cap ? cap * 2 : 8;
			uint64_t *n = realloc(again, cap * sizeof(*n));
			if (n == NULL)
				r = TP__MGR_EXP_REPLY; /* no retry list: answer
				                        */
			else
				again = n;
		}
		if (r != TP__MGR_EXP_REPLY)
			again[nagain++] = p->obj;
		if (r == TP__MGR_EXP_KEEP) {
			p->deadline = TP_FOREVER;
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		reply_code(c, p->token, p->corr, p->park_code, NULL);
		parked_free(c, p, 0);
	}
	for (size_t i = 0; i < nagain; i++)
		retry(c, again[i]);
	free(again);
	return next;
}

int tp__mgr_core_authed(struct tp__mgr_core *c, uint32_t client)
{
	for (size_t i = 0; i < c->ncl; i++)
		if (c->cl[i].id == client)
			return c->cl[i].state == CL_AUTHED;
	return 0;
}

const uint8_t *tp__mgr_core_skey(struct tp__mgr_core *c, uint32_t client)
{
	for (size_t i = 0; i < c->ncl; i++)
		if (c->cl[i].id == client)
			return c->cl[i].state == CL_AUTHED ? c->cl[i].skey
			                                   : NULL;
	return NULL;
}

int tp__mgr_core_parked(const struct tp__mgr_core *c)
{
	return c->parked != NULL;
}
