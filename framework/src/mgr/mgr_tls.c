/*
 * mgr_tls.c - TLS for the manager's tls+tcp:// transport, with GnuTLS
 * (docs/dependencies.md): server credentials (its certificate, and
 * optionally the CA its clients' certificates must chain to), non-blocking
 * server sessions driven by mgr_fast.c's poller, and client sessions that
 * verify the server's certificate against a CA file or a pinned
 * certificate and check its name (gnutls_session_set_verify_cert) before
 * a byte of the manager's protocol is sent. Sockets are non-blocking on
 * both sides: a peer that stalls costs a timeout, never a hang.
 */
#include <errno.h>
#include <gnutls/gnutls.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "mgr_int.h"
#include "troupe/error.h"

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
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return TP_ENOMEM;
	if ((rv = gnutls_certificate_allocate_credentials(&s->cred)) < 0) {
		free(s);
		return tls_err(rv);
	}
	rv = gnutls_certificate_set_x509_key_file(s->cred, cert, key,
	                                          GNUTLS_X509_FMT_PEM);
	if (rv >= 0 && client_ca != NULL) {
		rv = gnutls_certificate_set_x509_trust_file(
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
	gnutls_certificate_free_credentials(s->cred);
	free(s);
}

int tp__mgr_tls_accept(struct tp__mgr_tls_srv *s, int fd, void **out)
{
	gnutls_session_t t;
	int rv = gnutls_init(&t, GNUTLS_SERVER | GNUTLS_NONBLOCK);
	if (rv < 0)
		return tls_err(rv);
	if ((rv = gnutls_set_default_priority(t)) < 0 ||
	    (rv = gnutls_credentials_set(t, GNUTLS_CRD_CERTIFICATE, s->cred)) <
	        0) {
		gnutls_deinit(t);
		return tls_err(rv);
	}
	if (s->require_client) /* and verify it during the handshake */
		gnutls_session_set_verify_cert(t, NULL, 0);
	gnutls_certificate_server_set_request(
	    t, s->require_client ? GNUTLS_CERT_REQUIRE : GNUTLS_CERT_IGNORE);
	gnutls_transport_set_int(t, fd);
	*out = t;
	return TP_OK;
}

int tp__mgr_tls_step(void *sess, int *wr)
{
	int rv = gnutls_handshake(sess);
	*wr = gnutls_record_get_direction(sess);
	if (rv == GNUTLS_E_SUCCESS)
		return 1;
	if (rv == GNUTLS_E_AGAIN || rv == GNUTLS_E_INTERRUPTED ||
	    !gnutls_error_is_fatal(rv))
		return 0;
	return -1;
}

ssize_t tp__mgr_tls_recv(void *sess, void *buf, size_t n)
{
	ssize_t r = gnutls_record_recv(sess, buf, n);
	if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
		return -2;
	return r < 0 ? -1 : r;
}

ssize_t tp__mgr_tls_send(void *sess, const void *buf, size_t n, int retry)
{
	ssize_t w = retry ? gnutls_record_send(sess, NULL, 0)
	                  : gnutls_record_send(sess, buf, n);
	if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED)
		return -2;
	return w < 0 ? -1 : w;
}

int tp__mgr_tls_pending(void *sess)
{
	return gnutls_record_check_pending(sess) > 0;
}

void tp__mgr_tls_end(void *sess)
{
	if (sess != NULL)
		gnutls_deinit(sess);
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
	int rv = gnutls_certificate_allocate_credentials(cred);
	if (rv < 0)
		return tls_err(rv);
	rv = gnutls_certificate_set_x509_trust_file(*cred, o->ca,
	                                            GNUTLS_X509_FMT_PEM);
	if (rv == 0)
		rv = GNUTLS_E_FILE_ERROR; /* no certificate in it */
	if (rv >= 0 && o->cert != NULL && o->key != NULL)
		rv = gnutls_certificate_set_x509_key_file(
		    *cred, o->cert, o->key, GNUTLS_X509_FMT_PEM);
	if (rv < 0) {
		gnutls_certificate_free_credentials(*cred);
		*cred = NULL;
		return rv == GNUTLS_E_FILE_ERROR ? TP_ENOENT : TP_EINVAL;
	}
	if ((rv = gnutls_init(t, GNUTLS_CLIENT | GNUTLS_NONBLOCK)) < 0) {
		gnutls_certificate_free_credentials(*cred);
		*cred = NULL;
		return tls_err(rv);
	}
	const char *name = o->name != NULL ? o->name : host;
	if ((rv = gnutls_set_default_priority(*t)) < 0 ||
	    (rv = gnutls_credentials_set(*t, GNUTLS_CRD_CERTIFICATE, *cred)) <
	        0 ||
	    (rv = gnutls_server_name_set(*t, GNUTLS_NAME_DNS, name,
	                                 strlen(name))) < 0) {
		gnutls_deinit(*t);
		gnutls_certificate_free_credentials(*cred);
		*t = NULL;
		*cred = NULL;
		return tls_err(rv);
	}
	/* the chain to o->ca, and name in the certificate: checked during
	 * the handshake, which fails otherwise */
	gnutls_session_set_verify_cert(*t, name, 0);
	return TP_OK;
}

int tp__mgr_tls_connect(int fd, const struct tp__mgr_tls *o, const char *host,
                        int timeout_ms, struct tp__mgr_tls_cli *out)
{
	int64_t dl = tp__deadline(timeout_ms);
	if (o == NULL || o->ca == NULL)
		return TP_EINVAL; /* a tls client must verify its server */
	int rv = tls_client_init((gnutls_session_t *)&out->sess,
	                         (gnutls_certificate_credentials_t *)&out->cred,
	                         o, host);
	if (rv != TP_OK)
		return rv;
	gnutls_transport_set_int(out->sess, fd);
	for (;;) {
		int r = gnutls_handshake(out->sess);
		if (r == GNUTLS_E_SUCCESS)
			return TP_OK;
		if (r != GNUTLS_E_AGAIN && r != GNUTLS_E_INTERRUPTED &&
		    gnutls_error_is_fatal(r)) {
			rv = tls_err(r);
			break;
		}
		if ((rv = tls_wait(fd, gnutls_record_get_direction(out->sess),
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
		gnutls_deinit(c->sess);
	if (c->cred != NULL)
		gnutls_certificate_free_credentials(c->cred);
	c->sess = c->cred = NULL;
}
