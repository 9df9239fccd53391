/*
 * netaddr.h - internal: tcp:// addresses (the manager's and the
 * connections' listeners and clients).
 */
#ifndef TP_NETADDR_H
#define TP_NETADDR_H

#include <stddef.h>

struct addrinfo;

/* Splits tcp://host:port or tls+tcp://host:port (host may be empty or
 * [v6]). TP_EINVAL for anything else. */
int tp__tcp_split(const char *addr, char *host, size_t hlen, char *port,
                  size_t plen);

/* getaddrinfo for such an address (passive: to bind); TP_EINVAL for a
 * malformed address, TP_ENOENT when it does not resolve. */
int tp__tcp_resolve(const char *addr, int passive, struct addrinfo **out);

/* Connects to such an address within timeout_ms (-1: no limit); *fd is a
 * blocking TCP_NODELAY socket. Errors: those of tp__tcp_resolve,
 * TP_ECLOSED (refused: nobody listens), TP_ETIMEDOUT, wrapped errno. */
int tp__tcp_connect(const char *address, int timeout_ms, int *fd);

#endif
