/* tls_util.h - throw-away certificates for the manager's tls+tcp:// tests,
 * made by openssl(1) in DIR: a CA (ca.pem) and a second one (ca2.pem); a
 * server certificate signed by the CA for localhost and 127.0.0.1
 * (srv.pem, srv.key); a client certificate signed by the CA (cli.pem,
 * cli.key); a self-signed certificate for the same names (self.pem,
 * self.key), for pinning and for a man in the middle. Returns 0 when
 * openssl failed (the caller skips, saying so). */
#ifndef TP_TLS_UTIL_H
#define TP_TLS_UTIL_H

#include <stdio.h>
#include <stdlib.h>

static inline int tls_make_certs(const char *dir)
{
	char cmd[4096];
	snprintf(
	    cmd, sizeof(cmd),
	    "set -e; mkdir -p %s; cd %s; "
	    "K='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'; "
	    "SAN='subjectAltName=DNS:localhost,IP:127.0.0.1'; "
	    "openssl req -x509 $K -keyout ca.key -out ca.pem -days 1 "
	    "-subj /CN=troupe-test-ca; "
	    "openssl req -x509 $K -keyout ca2.key -out ca2.pem -days 1 "
	    "-subj /CN=other-ca; "
	    "openssl req $K -keyout srv.key -out srv.csr -subj /CN=localhost; "
	    "echo $SAN > srv.ext; "
	    "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key "
	    "-CAcreateserial -out srv.pem -days 1 -extfile srv.ext; "
	    "openssl req $K -keyout cli.key -out cli.csr -subj /CN=client; "
	    "openssl x509 -req -in cli.csr -CA ca.pem -CAkey ca.key "
	    "-CAcreateserial -out cli.pem -days 1; "
	    "openssl req -x509 $K -keyout self.key -out self.pem -days 1 "
	    "-subj /CN=localhost -addext $SAN",
	    dir, dir);
	char full[4200];
	snprintf(full, sizeof(full), "(%s) >/dev/null 2>&1", cmd);
	return system(full) == 0;
}

#endif
