/*
 * mgr_tls.c - TLS for the manager's tls+tcp:// transport, with GnuTLS
 * (docs/dependencies.md): server credentials (its certificate, and
 * optionally the CA its clients' certificates must chain to), non-blocking
 * server sessions driven by mgr_fast.c's poller, and client sessions that
 * verify the server's certificate against a CA file or a pinned
 * certificate and check its name (gnutls_session_set_verify_cert) before
 * a byte of the manager's protocol is sent. Sockets are non-blocking on
 * both sides: a peer that stalls costs a timeout, never a hang.
 *
 * GnuTLS is loaded when the first tls+tcp:// server or client is made,
 * not linked: it and its seven libraries (p11-kit, idn2, unistring,
 * tasn1, hogweed, gmp, ffi) would otherwise be mapped by every troupe
 * program and copied by every fork, for a transport most programs never
 * use (docs/performance.md, "Process start: GnuTLS on demand").
 */
#include <dlfcn.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "mgr_int.h"
#include "troupe/error.h"

#ifndef TP_GNUTLS_SONAME
#define TP_GNUTLS_SONAME "libgnutls.so.30"
#endif

/* The GnuTLS calls this file makes, resolved once from the library. Each
 * keeps its prototype from gnutls.h. gnutls_transport_set_int is a macro
 * over gnutls_transport_set_int2. */
#define TLS_CALLS(X)                                                           \
	X(gnutls_certificate_allocate_credentials)                             \
	X(gnutls_certificate_free_credentials)                                 \
	X(gnutls_certificate_server_set_request)                               \
	X(gnutls_certificate_set_x509_key_file)                                \
	X(gnutls_certificate_set_x509_trust_file)                              \
	X(gnutls_credentials_set)                                              \
	X(gnutls_deinit)                                                       \
	X(gnutls_error_is_fatal)                                               \
	X(gnutls_handshake)                                                    \
	X(gnutls_init)                                                         \
	X(gnutls_record_check_pending)                                         \
	X(gnutls_record_get_direction)                                         \
	X(gnutls_record_recv)                                                  \
	X(gnutls_record_send)                                                  \
	X(gnutls_server_name_set)                                              \
	X(gnutls_session_set_verify_cert)                                      \
	X(gnutls_set_default_priority)                                         \
	X(gnutls_transport_set_int2)

static struct {
#define TLS_FIELD(name) __typeof__(name) *name;
	TLS_CALLS(TLS_FIELD)
#undef TLS_FIELD
} G;
static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int load_rv = TP_ENOMODULE;

/* $TROUPE_GNUTLS, when set, names the library to load instead (a path or
 * a soname; the tests use it to take the library away). RTLD_LOCAL: its
 * symbols stay out of the program's scope. Never unloaded. */
static void load(void)
{
	const char *env = getenv("TROUPE_GNUTLS");
	const char *lib =
	    env != NULL && env[0] != '\0' ? env : TP_GNUTLS_SONAME;
	void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		fprintf(stderr, "troupe: tls+tcp:// needs GnuTLS: %s\n",
		        dlerror());
		return;
	}
#define TLS_SYM(name)                                                          \
	if ((*(void **)&G.name = dlsym(h, #name)) == NULL) {                   \
		fprintf(stderr, "troupe: tls+tcp://: %s has no %s\n", lib,     \
		        #name);                                                \
		dlclose(h);                                                    \
		memset(&G, 0, sizeof(G));                                      \
		return;                                                        \
	}
	TLS_CALLS(TLS_SYM)
#undef TLS_SYM
	load_rv = TP_OK;
}

/* TP_OK once GnuTLS is loaded, else TP_ENOMODULE (why: on stderr, once). */
static int tls_load(void)
{
	pthread_once(&load_once, load);
	return load_rv;
}

struct tp__mgr_tls_srv {
	gnutls_certificate_credentials_t cred;
	int require_client;
};

/* GnuTLS's errors in troupe's terms. */
static int tls_err(int rv)
{
	switch (rv) {
	case GNUTLS_E_MEMORY_ERROR:
		return TP_ENOMEM;
	case GNUTLS_E_FILE_ERROR:
		return TP_ENOENT;
	case GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR:
	case GNUTLS_E_CERTIFICATE_ERROR:
	case GNUTLS_E_NO_CERTIFICATE_FOUND:
		return TP_EAUTH;
	default:
		return TP_EPROTO;
	}
}

int tp__mgr_tls_srv_new(struct tp__mgr_tls_srv **out, const char *cert,
                        const char *key, const char *client_ca)
{
	struct tp__mgr_tls_srv *s;
	int rv;
	if (cert == NULL || key == NULL)
		return TP_EINVAL;
	if ((rv = tls_load()) != TP_OK)
		return rv;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return TP_ENOMEM;
	if ((rv = G.gnutls_certificate_allocate_credentials(&s->cred)) < 0) {
		free(s);
		return tls_err(rv);
	}
	rv = G.gnutls_certificate_set_x509_key_file(s->cred, cert, key,
	                                            GNUTLS_X509_FMT_PEM);
	if (rv >= 0 && client_ca != NULL) {
		rv = G.gnutls_certificate_set_x509_trust_file(
		    s->cred, client_ca, GNUTLS_X509_FMT_PEM);
		rv = rv == 0 ? GNUTLS_E_FILE_ERROR : rv; /* no CA in it */
		s->require_client = 1;
	}
	if (rv < 0) {
		tp__mgr_tls_srv_free(s);
		return rv == GNUTLS_E_FILE_ERROR ? TP_ENOENT : TP_EINVAL;
	}
	*out = s;
	return TP_OK;
}

void tp__mgr_tls_srv_free(struct tp__mgr_tls_srv *s)
{
	if (s == NULL)
		return;
	G.gnutls_certificate_free_credentials(s->cred);
	free(s);
}

int tp__mgr_tls_accept(struct tp__mgr_tls_srv *s, int fd, void **out)
{
	gnutls_session_t t;
	int rv = G.gnutls_init(&t, GNUTLS_SERVER | GNUTLS_NONBLOCK);
	if (rv < 0)
		return tls_err(rv);
	if ((rv = G.gnutls_set_default_priority(t)) < 0 ||
	    (rv = G.gnutls_credentials_set(t, GNUTLS_CRD_CERTIFICATE,
	                                   s->cred)) < 0) {
		G.gnutls_deinit(t);
		return tls_err(rv);
	}
	if (s->require_client) /* and verify it during the handshake */
		G.gnutls_session_set_verify_cert(t, NULL, 0);
	G.gnutls_certificate_server_set_request(
	    t, s->require_client ? GNUTLS_CERT_REQUIRE : GNUTLS_CERT_IGNORE);
	G.gnutls_transport_set_int2(t, fd, fd);
	*out = t;
	return TP_OK;
}

int tp__mgr_tls_step(void *sess, int *wr)
{
	int rv = G.gnutls_handshake(sess);
	*wr = G.gnutls_record_get_direction(sess);
	if (rv == GNUTLS_E_SUCCESS)
		return 1;
	if (rv == GNUTLS_E_AGAIN || rv == GNUTLS_E_INTERRUPTED ||
	    !G.gnutls_error_is_fatal(rv))
		return 0;
	return -1;
}

ssize_t tp__mgr_tls_recv(void *sess, void *buf, size_t n)
{
	ssize_t r = G.gnutls_record_recv(sess, buf, n);
	if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
		return -2;
	return r < 0 ? -1 : r;
}

ssize_t tp__mgr_tls_send(void *sess, const void *buf, size_t n, int retry)
{
	ssize_t w = retry ? G.gnutls_record_send(sess, NULL, 0)
	                  : G.gnutls_record_send(sess, buf, n);
	if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED)
		return -2;
	return w < 0 ? -1 : w;
}

int tp__mgr_tls_pending(void *sess)
{
	return G.gnutls_record_check_pending(sess) > 0;
}

void tp__mgr_tls_end(void *sess)
{
	if (sess != NULL)
		G.gnutls_deinit(sess);
}

/* Waits for fd (POLLOUT when wr) until dl: TP_OK or TP_ETIMEDOUT. */
static int tls_wait(int fd, int wr, int64_t dl)
{
	struct pollfd pf = {fd, wr ? POLLOUT : POLLIN, 0};
	int n;
	do
		n = poll(&pf, 1, tp__remaining(dl));
	while (n < 0 && errno == EINTR);
	return n > 0 ? TP_OK : TP_ETIMEDOUT;
}

static int tls_client_init(gnutls_session_t *t,
                           gnutls_certificate_credentials_t *cred,
                           const struct tp__mgr_tls *o, const char *host)
{
	int rv = G.gnutls_certificate_allocate_credentials(cred);
	if (rv < 0)
		return tls_err(rv);
	rv = G.gnutls_certificate_set_x509_trust_file(*cred, o->ca,
	                                              GNUTLS_X509_FMT_PEM);
	if (rv == 0)
		rv = GNUTLS_E_FILE_ERROR; /* no certificate in it */
	if (rv >= 0 && o->cert != NULL && o->key != NULL)
		rv = G.gnutls_certificate_set_x509_key_file(
		    *cred, o->cert, o->key, GNUTLS_X509_FMT_PEM);
	if (rv < 0) {
		G.gnutls_certificate_free_credentials(*cred);
		*cred = NULL;
		return rv == GNUTLS_E_FILE_ERROR ? TP_ENOENT : TP_EINVAL;
	}
	if ((rv = G.gnutls_init(t, GNUTLS_CLIENT | GNUTLS_NONBLOCK)) < 0) {
		G.gnutls_certificate_free_credentials(*cred);
		*cred = NULL;
		return tls_err(rv);
	}
	const char *name = o->name != NULL ? o->name : host;
	if ((rv = G.gnutls_set_default_priority(*t)) < 0 ||
	    (rv = G.gnutls_credentials_set(*t, GNUTLS_CRD_CERTIFICATE, *cred)) <
	        0 ||
	    (rv = G.gnutls_server_name_set(*t, GNUTLS_NAME_DNS, name,
	                                   strlen(name))) < 0) {
		G.gnutls_deinit(*t);
		G.gnutls_certificate_free_credentials(*cred);
		*t = NULL;
		*cred = NULL;
		return tls_err(rv);
	}
	/* the chain to o->ca, and name in the certificate: checked during
	 * the handshake, which fails otherwise */
	G.gnutls_session_set_verify_cert(*t, name, 0);
	return TP_OK;
}

int tp__mgr_tls_connect(int fd, const struct tp__mgr_tls *o, const char *host,
                        int timeout_ms, struct tp__mgr_tls_cli *out)
{
	int64_t dl = tp__deadline(timeout_ms);
	if (o == NULL || o->ca == NULL)
		return TP_EINVAL; /* a tls client must verify its server */
	int rv = tls_load();
	if (rv != TP_OK)
		return rv;
	rv = tls_client_init((gnutls_session_t *)&out->sess,
	                     (gnutls_certificate_credentials_t *)&out->cred, o,
	                     host);
	if (rv != TP_OK)
		return rv;
	G.gnutls_transport_set_int2(out->sess, fd, fd);
	for (;;) {
		int r = G.gnutls_handshake(out->sess);
		if (r == GNUTLS_E_SUCCESS)
			return TP_OK;
		if (r != GNUTLS_E_AGAIN && r != GNUTLS_E_INTERRUPTED &&
		    G.gnutls_error_is_fatal(r)) {
			rv = tls_err(r);
			break;
		}
		if ((rv = tls_wait(fd, G.gnutls_record_get_direction(out->sess),
		                   dl)) != TP_OK)
			break;
	}
	tp__mgr_tls_cli_end(out);
	return rv == TP_EPROTO ? TP_EAUTH : rv;
}

int tp__mgr_tls_cli_send(struct tp__mgr_tls_cli *c, int fd, const void *buf,
                         size_t len, int64_t dl)
{
	const char *p = buf;
	int retry = 0;
	while (len > 0) {
		ssize_t w = tp__mgr_tls_send(c->sess, p, len, retry);
		if (w == -2) {
			retry = 1;
			if (tls_wait(fd, 1, dl) != TP_OK)
				return TP_ETIMEDOUT;
			continue;
		}
		if (w <= 0)
			return TP_EDIED;
		retry = 0;
		p += w;
		len -= (size_t)w;
	}
	return TP_OK;
}

ssize_t tp__mgr_tls_cli_recv(struct tp__mgr_tls_cli *c, int fd, void *buf,
                             size_t len, int64_t dl)
{
	for (;;) {
		ssize_t r = tp__mgr_tls_recv(c->sess, buf, len);
		if (r != -2)
			return r;
		if (tls_wait(fd, 0, dl) != TP_OK)
			return -2;
	}
}

void tp__mgr_tls_cli_end(struct tp__mgr_tls_cli *c)
{
	if (c->sess != NULL)
		G.gnutls_deinit(c->sess);
	if (c->cred != NULL)
		G.gnutls_certificate_free_credentials(c->cred);
	c->sess = c->cred = NULL;
}
