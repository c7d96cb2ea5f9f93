/* The request path (dispatch.c): CivetWeb calls idp_dispatch for every
 * request, with the server as its data. It reads the request, finds the
 * route, runs the before-faults, the handler and the after-faults, journals
 * the request and sends the response (or none, when a fault dropped the
 * connection). */
#ifndef IDP_DISPATCH_H
#define IDP_DISPATCH_H

#include <civetweb.h>

/* CivetWeb's request handler; data is the struct idp_server. */
int idp_dispatch(struct mg_connection *conn, void *data);
/* CivetWeb's own log messages: dropped (requests are journaled). */
int idp_dispatch_log_message(const struct mg_connection *conn, const char *message);
/* CivetWeb answers what it cannot parse (request line, headers,
 * Content-Length, HTTP version) itself, in text/plain and with a status line
 * that echoes the request's version text. Those answers are WorkOS-shaped
 * JSON too, with a status line of our own, and close the connection. */
int idp_dispatch_http_error(struct mg_connection *conn, int status, const char *errmsg);

#endif
