/* fakeidp's public face: create a server from options, start it on a port,
 * read its URL, stop it. Everything else (tokens, store, faults, clock) is
 * reached through the HTTP API, the same in-process and out of process. */
#ifndef IDP_SERVER_H
#define IDP_SERVER_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "clock.h"
#include "error.h"

struct idp_server;

#define IDP_MAX_THREADS 1024
#define IDP_DEFAULT_THREADS 256
#define IDP_DEFAULT_REQUEST_TIMEOUT_MS 10000
#define IDP_DEFAULT_KEEP_ALIVE_TIMEOUT_MS 5000

struct idp_server_options {
    const char *host;          /* default 127.0.0.1 */
    int port;                  /* 0: an ephemeral port */
    const json_t *config;      /* configuration object (borrowed), or NULL */
    EVP_PKEY *key;             /* signing key (borrowed; the server takes a reference) */
    bool allow_remote;         /* required for a non-loopback host */
    const char *admin_token;   /* required on /_fakeidp/ when set */
    struct idp_clock *clock;   /* shared virtual clock (borrowed), or NULL for its own */
    uint64_t seed;             /* 0: random */
    int threads;               /* worker threads, default 256, at most IDP_MAX_THREADS;
                                  fewer when the file-descriptor limit is low */
    const char *tls_cert;      /* PEM with certificate and key: serve https */
    FILE *log;                 /* one line per request, or NULL */
    bool log_json;
    int request_timeout_ms;    /* headers, body and TLS handshake; default 10000 */
    int keep_alive_timeout_ms; /* an idle keep-alive connection; default 5000 */
    const char *rotation_key_dir; /* keys for rotation are cached here (NULL: fresh keys) */
};

/* Creates and starts a server. On failure returns NULL with err set (bad
 * configuration, port in use, non-loopback host without allow_remote). */
struct idp_server *idp_server_start(const struct idp_server_options *options,
                                    struct idp_error *err);
/* Stops the server, waits for its threads and frees it. Accepts NULL. */
void idp_server_stop(struct idp_server **server);

/* Brings a running server back to what idp_server_start(options) would have
 * made, without a restart: waits for requests in flight (releasing what
 * faults hold; an error after 2 s), then takes options' configuration,
 * clock, seed and key, and starts over with the configured store, settings,
 * faults (numbered from 1 again), journal and key set. Listening address,
 * threads, timeouts, admin token, log and TLS stay as they were started.
 * On failure the server should be stopped, not used. */
enum idp_status idp_server_reuse(struct idp_server *server,
                                 const struct idp_server_options *options, struct idp_error *err);
/* What GET /_fakeidp/journal?since=SINCE answers (a new reference), read
 * in-process without a request. */
json_t *idp_server_journal(struct idp_server *server, uint64_t since);
/* Waits up to timeout_ms of wall time until no request is inside the
 * server's handlers, without releasing what faults hold; true when none is.
 * For a caller that models a wait (Retry-After) and may end it early once
 * nothing it could wait for is still going on. */
bool idp_server_wait_quiet(struct idp_server *server, int timeout_ms);
/* Releases whatever faults hold (latency, hang, barriers) and waits up to
 * timeout_ms of wall time until no request is inside the handlers; true
 * when none is. For a caller about to free what the server's options point
 * to (the clock) while keeping the server for later. */
bool idp_server_settle(struct idp_server *server, int timeout_ms);
/* "http://127.0.0.1:8787" */
const char *idp_server_url(const struct idp_server *server);
/* The route names requests are journalled and faults matched by, from the
 * route table (each once, in table order), then "none" for requests no
 * route serves; NULL-terminated. The one list of route names. */
const char *const *idp_route_names(void);
#define IDP_ROUTE_NONE "none"
int idp_server_port(const struct idp_server *server);
struct idp_clock *idp_server_clock(struct idp_server *server);
/* The default client id and API key, for `fakeidp env` and tests. */
void idp_server_credentials(struct idp_server *server, char *client_id, size_t client_size,
                            char *api_key, size_t key_size);

#endif
