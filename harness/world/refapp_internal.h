/* What the reference app's modules share (refapp.h is the interface; this
 * header is for refapp*.c only):
 *   refapp.c          lifecycle, instances, counters
 *   refapp_balancer.c the balancer in front of the instances, requests in flight
 *   refapp_knobs.c    the knob table
 *   refapp_routes.c   the request handler and the routes
 *   refapp_session.c  the session cookie, seals and the middleware
 *   refapp_idp.c      calls to fakeidp (token grants, refreshes, the API)
 *   refapp_request.c  one request's context, its reply and timeline lines */
#ifndef HX_REFAPP_INTERNAL_H
#define HX_REFAPP_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "refapp.h"
#include "verifier.h"

struct mg_connection;
struct mg_context;
struct hx_http_client;

#define HX_APP_IDLE_CLIENTS 8

/* A refresh in flight on an instance (the dedupe knob): callers with the
 * same token wait for its result. */
struct inflight {
    char token[128];
    bool done;
    struct refresh_result *result;
    int refs;
    struct inflight *next;
};

/* What a token grant at fakeidp's authenticate came back with. */
struct refresh_result {
    int kind; /* 0 ok, 1 transient, 2 terminal */
    long status;
    char *access_token, *refresh_token;
    json_t *user, *impersonator;
    json_t *reply; /* the IdP's body (step-up errors carry the next step) */
    char error[400];
};

struct instance {
    pthread_mutex_t lock;
    pthread_cond_t settled;
    struct inflight *inflight;
    struct hx_jwks_cache jwks;
    struct hx_app_knobs knobs; /* the app's knobs with this instance's overrides */
    json_t *states;            /* state_store "memory": state -> {codeVerifier, returnPathname} */
    unsigned refreshes, refresh_failures; /* this instance's share (app->lock) */
};

struct hx_app {
    struct mg_context *ctx;
    int port;
    char origin[256];
    char public_host[128];
    char idp_url[256], idp_public_url[256], client_id[96], api_key[128];
    json_t *convex_providers;  /* the implicit backend's, kept for restarts */
    struct idp_clock *clock;
    struct hx_timeline *timeline;
    pthread_mutex_t lock; /* guards knobs swaps, counters and the round-robin */
    struct hx_app_knobs knobs;
    struct instance instances[HX_APP_MAX_INSTANCES];
    struct hx_backend backend; /* the implicit backend (GET /convex/query) */
    struct hx_backend named[HX_MAX_BACKENDS]; /* the world's backends it serves */
    int named_count;
    json_t *overrides;    /* per-instance knob overrides (array) */
    char name[64];        /* "" in the single-app form */
    uint64_t rng;         /* the random balancer's state */
    unsigned next_instance;
    unsigned refreshes, refresh_failures, oversize_cookies;
    int active_requests;  /* requests inside refapp_handle() */
    /* Kept-alive clients to fakeidp (idp_keep_alive), at most one per
     * request in flight; guarded by lock. */
    bool idp_keep_alive;
    bool (*wait_quiet)(void *ctx, int timeout_ms); /* config's idp_wait_quiet */
    void *quiet_ctx;
    struct hx_http_client *idle_clients[HX_APP_IDLE_CLIENTS];
    int idle_count;
    pthread_cond_t idle;  /* broadcast when active_requests drops to 0 */
};

/* The session a request carries (the sealed cookie's content). */
struct session {
    char *access_token, *refresh_token;
    json_t *user, *impersonator;
};

/* The response being built: headers collected, written at once. */
struct reply {
    int status;
    char content_type[48];
    char *body;
    char headers[16384];
    size_t headers_len;
};

/* ---- refapp_balancer.c -------------------------------------------------- */

/* A request comes in: counted in flight (hx_app_idle waits for it) and
 * given an instance by the balancer, whose index it returns; *k gets that
 * instance's knobs, *set_cookie whether the sticky balancer's cookie is to
 * be set. refapp_leave when it is answered. */
int refapp_enter(struct hx_app *app, struct mg_connection *conn, struct hx_app_knobs *k,
                 bool *set_cookie);
void refapp_leave(struct hx_app *app);

/* ---- refapp_knobs.c ----------------------------------------------------- */

/* A cookie password is set and long enough for iron. */
bool refapp_password_ok(const struct hx_app_knobs *k);

/* ---- refapp_routes.c ---------------------------------------------------- */

/* CivetWeb's handler for every path (data: the app). */
int refapp_handle(struct mg_connection *conn, void *data);

/* ---- refapp_session.c --------------------------------------------------- */

/* "; Path=/; HttpOnly; SameSite=…" and Domain (with_domain) and Secure as
 * the knobs and the request's redirect URI say. */
void refapp_cookie_attributes(const struct hx_app *app, const struct hx_app_knobs *k,
                              bool with_domain, char *out, size_t size);
void refapp_session_cookie_set(struct hx_app *app, const struct hx_app_knobs *k, struct reply *r,
                               const char *seal);
void refapp_session_cookie_delete(struct hx_app *app, const struct hx_app_knobs *k,
                                  struct reply *r);
/* Opens a seal with the password, or a password map's entry for its id. */
enum idp_status refapp_unseal(const struct hx_app_knobs *k, const char *seal, int64_t now,
                              unsigned char **data, size_t *len, struct idp_error *err);
/* The request's session from its cookie; false (why says so) without one. */
bool refapp_session_load(struct hx_app *app, const struct hx_app_knobs *k,
                         struct mg_connection *conn, struct session *s, char *why, size_t why_size);
/* A new seal of the tokens, user and impersonator (malloc'd), or NULL. */
char *refapp_session_seal(const struct hx_app_knobs *k, const char *at, const char *rt,
                          const json_t *user, const json_t *impersonator, int64_t now);
void refapp_session_cleanup(struct session *s);

enum refapp_auth { REFAPP_SIGNED_IN, REFAPP_SIGNED_OUT };

/* Decides the request's session, refreshing and writing cookies as the SDK
 * would. On REFAPP_SIGNED_IN, s holds the session to use; either way the
 * caller cleans s up. */
enum refapp_auth refapp_middleware(struct hx_app *app, const struct hx_app_knobs *k,
                                   struct instance *inst, struct mg_connection *conn,
                                   struct reply *r, struct session *s, bool force_refresh);

/* ---- refapp_idp.c ------------------------------------------------------- */

void refapp_result_free(struct refresh_result *r);
/* A token grant (body gets the client's credentials), with one retry
 * after a 429 when retry_429 is set; NULL only without memory. */
struct refresh_result *refapp_authenticate(struct hx_app *app, const struct hx_app_knobs *k,
                                           json_t *body);
/* A refresh grant for token on inst, de-duplicated with the dedupe knob;
 * counted in the app's and the instance's refreshes. */
struct refresh_result *refapp_refresh(struct hx_app *app, const struct hx_app_knobs *k,
                                      struct instance *inst, const char *token);
/* Another call of the WorkOS API (body stolen); the reply's JSON or NULL,
 * *status its status (0: no answer). */
json_t *refapp_idp_api(struct hx_app *app, const char *path, json_t *body, long *status);
/* Closes the kept-alive clients (lock held, or no request in flight). */
void refapp_idle_clients_close(struct hx_app *app);

/* ---- refapp_request.c --------------------------------------------------- */

/* The app's clock: the virtual clock plus the instance's clock_offset. */
int64_t refapp_now(struct hx_app *app, const struct hx_app_knobs *k);
/* Sets this thread's request context: the browser's request number, the
 * instance (named in timeline lines when there are several) and the origin
 * and redirect URI derived from the request. refapp_request_end clears it. */
void refapp_request_begin(struct hx_app *app, const struct hx_app_knobs *k,
                          struct mg_connection *conn, int instance);
void refapp_request_end(void);
/* The public origin and redirect URI of this thread's request. */
const char *refapp_request_origin(void);
const char *refapp_request_redirect_uri(void);
/* A cookie of the request (malloc'd), or NULL. */
char *refapp_request_cookie(struct mg_connection *conn, const char *name);
/* A timeline line of the app (source "app"), with the request's instance. */
void refapp_note(struct hx_app *app, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A record for the structured reporters (no text line): data (stolen)
 * with the instance that added it. */
void refapp_record(struct hx_app *app, json_t *data);
/* A token's short hash (as fakeidp's journal has it) into data[key]. */
void refapp_token_field(json_t *data, const char *key, const char *token);
void refapp_reply_header(struct reply *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The reply's status and JSON body (body stolen). */
void refapp_reply_json(struct reply *r, int status, json_t *body);
void refapp_reply_redirect(struct reply *r, const char *location);
/* Writes the reply (500 when no status was set) and frees its body. */
void refapp_reply_send(struct mg_connection *conn, struct reply *r);

#endif
