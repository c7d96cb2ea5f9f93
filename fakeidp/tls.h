/* HTTPS for `fakeidp serve --tls`: a small TLS front (OpenSSL) that accepts
 * TLS connections and relays their bytes to the plain HTTP server on
 * loopback. Debian's CivetWeb 1.15 loads libssl at run time against the
 * OpenSSL 1.1 interface and crashes with OpenSSL 3, so TLS is done here. */
#ifndef IDP_TLS_H
#define IDP_TLS_H

#include "error.h"

struct idp_tls_front;

#define IDP_TLS_MAX_RELAYS 1024

/* Listens on host:port (0: ephemeral) with the certificate and key in
 * pem_path (both in one file, or the key following the chain) and relays
 * each connection to 127.0.0.1:backend_port, at most max_relays at once.
 * Each read or write on a client (the handshake included) waits at most
 * timeout_ms; when every slot is taken, the connection longest in its
 * handshake is cut to make room. */
struct idp_tls_front *idp_tls_front_start(const char *host, int port, const char *pem_path,
                                          int backend_port, int max_relays, int timeout_ms,
                                          struct idp_error *err);
int idp_tls_front_port(const struct idp_tls_front *front);
/* Closes the listener and every relayed connection, joins the threads. */
void idp_tls_front_stop(struct idp_tls_front **front);

#endif
