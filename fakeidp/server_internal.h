/* What the server's modules share: the server struct, the request and
 * response records handlers work on, and the route table. */
#ifndef IDP_SERVER_INTERNAL_H
#define IDP_SERVER_INTERNAL_H

#include <civetweb.h>
#include <jansson.h>
#include <pthread.h>

#include "faults.h"
#include "journal.h"
#include "keys.h"
#include "random.h"
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

struct idp_request {
    struct mg_connection *conn;
    const struct mg_request_info *info;
    const char *method;
    const char *path;
    const char *query;
    char *body;
    size_t body_len;
    json_t *params;       /* query (GET) or body (POST) parameters */
    bool params_bad;      /* the body could not be parsed */
    const char *params_error;
    const char *path_arg; /* the {id} of a route, if any */
    char request_id[48];
    int64_t now_ms;       /* virtual time when the request arrived */
    int64_t wall_start_ms;
    struct idp_journal_entry entry;
    struct idp_fault *barrier; /* the barrier this request went through */
    long barrier_rank;
    long barrier_generation;
    bool barrier_concurrent;
    char refresh_in_flight[64]; /* the refresh token this request is exchanging */
};

struct idp_response {
    int status;
    char content_type[64];
    char *body;
    size_t body_len;
    char *headers; /* "Name: value\r\n" lines */
    size_t headers_len;
};

typedef void idp_route_fn(struct idp_server *server, struct idp_request *req,
                          struct idp_response *resp);

struct idp_route {
    const char *method;  /* NULL: any */
    const char *pattern; /* '*' matches one path segment (captured as path_arg) */
    const char *name;    /* journal / fault-matching name */
    idp_route_fn *handler;
};

/* Response helpers. Bodies are copied; json bodies are stolen. */
void idp_response_json(struct idp_response *resp, int status, json_t *body);
void idp_response_text(struct idp_response *resp, int status, const char *content_type,
                       const char *body, size_t len);
/* {"error": error, "error_description": description} */
void idp_response_oauth_error(struct idp_response *resp, int status, const char *error,
                              const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* {"message": message, "code": code} */
void idp_response_code_error(struct idp_response *resp, int status, const char *code,
                             const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void idp_response_header(struct idp_response *resp, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void idp_response_redirect(struct idp_response *resp, const char *location);
void idp_response_reset(struct idp_response *resp);

const char *idp_request_header(const struct idp_request *req, const char *name);
/* A string parameter, or NULL when absent or not a string. */
const char *idp_request_param(const struct idp_request *req, const char *name);
/* Value of a cookie from the Cookie header into out; false if absent. */
bool idp_request_cookie(const struct idp_request *req, const char *name, char *out, size_t size);
/* The API key from "Authorization: Bearer …", or NULL. */
const char *idp_request_bearer(const struct idp_request *req);
/* Fills req->params from the query (GET, HEAD, DELETE, no body) or the body:
 * a form unless it is plainly JSON; JSON nested deeper than 64 levels or not
 * an object sets params_bad. */
void idp_request_parse_params(struct idp_request *req);
/* Parses "a=1&b=2" (URL-decoded) into a new JSON object of strings. */
json_t *idp_parse_form(const char *text, size_t len);

/* The API key of the management API (Bearer); answers 401 otherwise. */
bool idp_require_api_key(struct idp_server *server, struct idp_request *req,
                         struct idp_response *resp);

/* Routes, one function per WorkOS endpoint family. */
void idp_route_authorize(struct idp_server *, struct idp_request *, struct idp_response *);
void idp_route_authenticate(struct idp_server *, struct idp_request *, struct idp_response *);
/* Ends the exchange of the refresh token the request rotated (if any): its
 * successor pair stays cached for grace replays. Lock NOT held. */
void idp_refresh_settle(struct idp_server *server, struct idp_request *req);
void idp_route_jwks(struct idp_server *, struct idp_request *, struct idp_response *);
void idp_route_discovery(struct idp_server *, struct idp_request *, struct idp_response *);
void idp_route_logout(struct idp_server *, struct idp_request *, struct idp_response *);
void idp_route_revoke(struct idp_server *, struct idp_request *, struct idp_response *);
void idp_route_user(struct idp_server *, struct idp_request *, struct idp_response *);
void idp_route_sessions_list(struct idp_server *, struct idp_request *, struct idp_response *);
void idp_route_admin(struct idp_server *, struct idp_request *, struct idp_response *);
/* route_accounts.c */
void idp_route_create_user(struct idp_server *, struct idp_request *, struct idp_response *);
void idp_route_list_users(struct idp_server *, struct idp_request *, struct idp_response *);
void idp_route_create_magic_auth(struct idp_server *, struct idp_request *, struct idp_response *);
void idp_route_get_magic_auth(struct idp_server *, struct idp_request *, struct idp_response *);
void idp_route_get_email_verification(struct idp_server *, struct idp_request *,
                                      struct idp_response *);
void idp_route_send_verification_email(struct idp_server *, struct idp_request *,
                                       struct idp_response *);
void idp_route_verify_email(struct idp_server *, struct idp_request *, struct idp_response *);
void idp_route_create_password_reset(struct idp_server *, struct idp_request *,
                                     struct idp_response *);
void idp_route_get_password_reset(struct idp_server *, struct idp_request *,
                                  struct idp_response *);
void idp_route_reset_password(struct idp_server *, struct idp_request *, struct idp_response *);
void idp_route_send_invitation(struct idp_server *, struct idp_request *, struct idp_response *);
/* route_orgs.c */
void idp_route_create_organization(struct idp_server *, struct idp_request *,
                                   struct idp_response *);
void idp_route_get_organization(struct idp_server *, struct idp_request *, struct idp_response *);
void idp_route_create_membership(struct idp_server *, struct idp_request *,
                                 struct idp_response *);
void idp_route_list_memberships(struct idp_server *, struct idp_request *, struct idp_response *);
/* route_mfa.c */
void idp_route_enroll_factor(struct idp_server *, struct idp_request *, struct idp_response *);
void idp_route_list_factors(struct idp_server *, struct idp_request *, struct idp_response *);
void idp_route_challenge_factor(struct idp_server *, struct idp_request *, struct idp_response *);
void idp_route_verify_challenge(struct idp_server *, struct idp_request *, struct idp_response *);

/* Sign-ins (route_authenticate.c, route_grants.c). With the lock held on
 * entry and released on return: creates the session and answers 200 with
 * the tokens, as every grant that signs a user in does. */
void idp_sign_in_finish(struct idp_server *server, struct idp_request *req,
                        struct idp_response *resp, struct idp_client *client,
                        struct idp_user *user, const char *org, const char *method,
                        int64_t auth_ms);
/* The grants besides authorization_code and refresh_token (password, magic
 * auth, email verification, organization selection, MFA TOTP). */
bool idp_grant_known(const char *grant_type);
void idp_grant_headless(struct idp_server *server, struct idp_request *req,
                        struct idp_response *resp, struct idp_client *client,
                        const char *grant_type, bool confidential);
/* A pending authentication token for user signing in to client (lock
 * held): the organization already chosen (or NULL), the method and the
 * checks already passed. Writes the token into out; false when out of
 * memory. */
bool idp_pending_new(struct idp_server *server, const struct idp_user *user,
                     const char *client_id, const char *org_id, const char *method, int stage,
                     int64_t auth_ms, int64_t now_ms, char out[IDP_ID_SIZE]);
/* An email verification code for user, e-mailed to the outbox (lock held);
 * writes its id into out ("" when out of memory). */
void idp_email_verification_new(struct idp_server *server, struct idp_user *user,
                                int64_t now_ms, char out[IDP_ID_SIZE]);

/* Token minting (token.c). Builds the access-token claims for a session;
 * called with the lock held. */
json_t *idp_access_claims(struct idp_server *server, const struct idp_client *client,
                          const struct idp_user *user, const struct idp_session *session,
                          int64_t now_ms);
/* Writes the issuer for client_id under the current settings. */
void idp_issuer(const struct idp_settings *settings, const char *client_id, char *out,
                size_t size);
/* Signs claims with the key that signs at now (lock held while choosing the
 * key, not while signing). Steals claims. Returns a malloc'd token. */
char *idp_mint(struct idp_server *server, json_t *claims, int64_t now_ms,
               struct idp_error *err);

/* Keys (admin.c): rotate with a freshly generated key. Lock NOT held. */
enum idp_status idp_server_rotate_keys(struct idp_server *server, int64_t lead_ms,
                                       int64_t retire_after_ms, struct idp_error *err);
/* Resets state to the configuration (lock held). */
enum idp_status idp_server_reset_locked(struct idp_server *server, struct idp_error *err);

#endif
