/* What the server's modules share: the server struct and its reset. It
 * includes the request and response records (http.h) and the handlers of
 * every route family (route_*.h, admin.h), so one include gives a module the
 * server and every handler; each module still includes its own header, and
 * token.h or routes.h where it mints tokens or matches routes. */
#ifndef IDP_SERVER_INTERNAL_H
#define IDP_SERVER_INTERNAL_H

#include <civetweb.h>
#include <jansson.h>
#include <pthread.h>

#include "admin.h"
#include "faults.h"
#include "http.h"
#include "journal.h"
#include "keys.h"
#include "random.h"
#include "route_accounts.h"
#include "route_authenticate.h"
#include "route_authorize.h"
#include "route_grants.h"
#include "route_jwks.h"
#include "route_mfa.h"
#include "route_orgs.h"
#include "route_sessions.h"
#include "server.h"
#include "settings.h"
#include "store.h"
#include "tls.h"

struct idp_server {
    struct mg_context *ctx;
    char url[160];
    char host[64];
    int port;                  /* the port clients use */
    int http_port;             /* CivetWeb's own port (differs behind the TLS front) */
    int keep_alive_s;          /* idle keep-alive connections are closed after this */
    bool tls;
    struct idp_tls_front *tls_front;
    char admin_token[128];
    char rotation_key_dir[1024];
    FILE *log;
    bool log_json;

    /* Everything below is guarded by lock. */
    pthread_mutex_t lock;
    struct idp_clock own_clock;
    struct idp_clock *clock;
    struct idp_random rng;
    struct idp_settings settings;
    struct idp_store store;
    /* Broadcast when a pending refresh settles and when the store is
     * replaced (reset): waiters then look the token up again. Outlives
     * every store, so a reset never destroys it under a waiter. */
    pthread_cond_t refresh_done;
    int active_requests;       /* requests inside the handler */
    pthread_cond_t idle;       /* broadcast when active_requests drops to 0 */
    struct idp_keyset keys;
    struct idp_journal journal;
    struct idp_faults faults;
    json_t *config;            /* kept for /_fakeidp/reset */
    unsigned keys_version;     /* bumped whenever the key set changes */
    char *jwks_body;           /* cached JWKS body ... */
    unsigned jwks_version;     /* ... for this keys_version ... */
    int64_t jwks_valid_from;   /* ... valid in [from, until) of virtual time */
    int64_t jwks_valid_until;
};

/* Resets state to the configuration (lock held). */
enum idp_status idp_server_reset_locked(struct idp_server *server, struct idp_error *err);

#endif
