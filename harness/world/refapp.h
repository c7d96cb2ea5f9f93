/* The reference app: the embedded default target. A real HTTP server on
 * loopback that keeps sessions the way AuthKit apps do (authkit-nextjs /
 * authkit-session style sealed-cookie middleware, a Convex-style backend
 * verifier), each behaviour a knob tied to the SDK behaviour it models
 * (docs/reference-app.md). It talks to fakeidp over HTTP and reads the
 * variant's virtual clock. */
#ifndef HX_REFAPP_H
#define HX_REFAPP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "clock.h"
#include "error.h"
#include "timeline.h"

enum hx_password_check { HX_PASSWORD_PER_REQUEST, HX_PASSWORD_AT_START };
enum hx_refresh_policy { HX_REFRESH_ON_FAILURE, HX_REFRESH_PROACTIVE };
enum hx_refresh_errors { HX_ERRORS_DELETE_COOKIE, HX_ERRORS_KEEP_ON_TRANSIENT };
enum hx_cookie_secure { HX_SECURE_AUTO, HX_SECURE_ALWAYS, HX_SECURE_NEVER };
enum hx_same_site { HX_LAX, HX_STRICT, HX_NONE };
enum hx_refresh_where { HX_REFRESH_IN_MIDDLEWARE, HX_REFRESH_IN_RENDER };

enum hx_balancer { HX_LB_ROUND_ROBIN, HX_LB_STICKY, HX_LB_RANDOM, HX_LB_STEP };
enum hx_state_store { HX_STATE_COOKIE, HX_STATE_MEMORY };
enum hx_cache_control { HX_CC_NONE, HX_CC_PUBLIC, HX_CC_PRIVATE };

#define HX_APP_MAX_INSTANCES 8
#define HX_APP_MAX_PASSWORDS 4

/* One entry of an iron password map ({"1": "old…", "2": "new…"}). */
struct hx_app_password {
    char id[16];
    char secret[256];
};

struct hx_app_knobs {
    char cookie_password[256];/* the password that seals (a map's newest) */
    bool cookie_password_set;
    char cookie_password_id[16];                             /* its iron password id */
    struct hx_app_password passwords[HX_APP_MAX_PASSWORDS]; /* a map: unseal by the seal's id */
    int password_count;                                      /* 0: one password, any id */
    int password_check;       /* enum hx_password_check */
    int refresh;              /* enum hx_refresh_policy */
    int64_t refresh_buffer_ms;/* 0: 30 s for tokens of <= 5 min, else 60 s */
    bool dedupe;              /* one in-flight refresh per token per instance */
    int refresh_errors;       /* enum hx_refresh_errors */
    bool retry_429;           /* one retry after Retry-After (clamped 1..10 s, then to retry_429_max) */
    int64_t retry_429_max_ms;
    int refresh_where;        /* render: a new session cannot be written (F7) */
    bool drop_session_cookie; /* the framework loses the callback's Set-Cookie (F21) */
    char cookie_name[64];
    int cookie_secure;        /* enum hx_cookie_secure */
    int cookie_samesite;      /* enum hx_same_site */
    char cookie_domain[128];
    int64_t cookie_max_age_ms;
    bool delete_same_attributes; /* delete with the attributes used to set (F16) */
    bool chunk_cookie;        /* split seals over 4000 bytes into name.0, name.1, … (F13 fix) */
    int64_t jwks_cache_ms;
    bool jwks_refetch_unknown_kid;
    int64_t jwks_cooldown_ms;
    char issuer[256];         /* expected iss; empty: not checked (SDK default) */
    int64_t clock_offset_ms;
    int64_t leeway_ms;
    int64_t instances;        /* server processes behind the balancer */
    int balancer;             /* enum hx_balancer */
    bool trust_proxy;         /* origin from X-Forwarded-Proto/-Host (Express "trust proxy") */
    char redirect_uri[256];   /* "": built from the request; else baked at build time */
    int state_store;          /* enum hx_state_store: where the PKCE state lives */
    int cache_control;        /* enum hx_cache_control on responses that touch the session */
    /* The implicit Convex-style backend (GET /convex/query with a Bearer
     * token): one server behind all instances, so not per instance */
    int64_t convex_jwks_cache_ms;
    bool convex_refetch_unknown_kid;
    int64_t convex_clock_offset_ms; /* the backend's clock minus the true time */
    int64_t convex_leeway_ms;       /* the backend's clock tolerance for exp / nbf */
};

/* Fills knobs with the defaults: authkit-nextjs 3.x behaviour with a valid
 * password. */
void hx_app_knobs_defaults(struct hx_app_knobs *knobs);
/* Applies a JSON object of knobs ("cookie_password": null unsets it). The
 * convex "providers" member is not a knob and is skipped here. */
/* The reference-app knob names (a new JSON array), for the schema check. */
json_t *hx_app_knob_names(void);
enum idp_status hx_app_knobs_apply(struct hx_app_knobs *knobs, const json_t *obj,
                                   const char **bad_key, struct idp_error *err);
/* Names of all knobs (for the scenario schema and docs), new reference. */
json_t *hx_app_knobs_json(const struct hx_app_knobs *knobs);

struct hx_app_config {
    struct hx_app_knobs knobs;
    const char *public_origin;   /* the origin the browser uses, "http://localhost:PORT" with port 0 filled in */
    const char *public_host;     /* host name in public URLs; default "localhost" */
    const char *idp_url;         /* server-to-server URL of fakeidp */
    const char *idp_public_url;  /* fakeidp as the browser reaches it */
    const char *client_id;
    const char *api_key;
    const json_t *convex_providers; /* the implicit backend's [{issuer, application_id?}], or NULL */
    const struct hx_backend_spec *backends; /* the world's backends it serves ("backends"),
                                               each at GET /backends/<name>/query */
    int backend_count;
    struct idp_clock *clock;
    struct hx_timeline *timeline;
    const char *name;               /* the world's name for the app (timeline component); NULL:
                                       the single-app form, whose lines say "app" */
    const json_t *instance_overrides; /* [{knobs…}, …] per instance, or NULL */
    uint64_t seed;                  /* the "random" balancer's seed */
    bool idp_keep_alive;         /* calls to fakeidp may reuse connections: no fault can cut one */
    /* Waits up to timeout_ms until the IdP has no request in flight (true
     * when it has none), or NULL: waits for Retry-After take their whole
     * time. See the retry in refapp_idp.c. */
    bool (*idp_wait_quiet)(void *ctx, int timeout_ms);
    void *idp_quiet_ctx;
};

struct hx_app;

/* Starts the app on an ephemeral loopback port. Fails (err set) when the
 * port cannot be bound, or when password_check is "startup" and the cookie
 * password is missing or shorter than 32 characters: the fixed build's
 * clear start-up error. */
struct hx_app *hx_app_start(const struct hx_app_config *config, struct idp_error *err);
void hx_app_stop(struct hx_app **app);
/* Brings a running app back to what hx_app_start(config) would have made,
 * on the same port: waits for requests in flight (an error after 2 s),
 * then takes config's knobs, addresses, clock and timeline with empty
 * caches and counters. Fails as hx_app_start does when the knobs refuse to
 * start; the app should then be stopped. */
enum idp_status hx_app_reuse(struct hx_app *app, const struct hx_app_config *config,
                             struct idp_error *err);
/* Waits up to 2 s until the app has no request in flight; false if it
 * still has one. */
bool hx_app_idle(struct hx_app *app);
int hx_app_port(const struct hx_app *app);
/* The cookie password the app seals with (for scenarios that forge cookies). */
void hx_app_cookie_password(struct hx_app *app, char *out, size_t size);
/* The origin the browser should use. */
const char *hx_app_origin(const struct hx_app *app);
/* The clock offsets of its instances and backends that are not zero, as
 * "stg#2 +2m, stg/backend -30s (leeway 0s), billing +6m (leeway 0s)"
 * (empty when all are zero). */
void hx_app_describe_clocks(struct hx_app *app, char *out, size_t size);
/* Refreshes the app attempted / that failed, and cookies it refused to
 * write because they were too large; "instances": each instance's
 * refreshes, refresh_failures and jwks_fetches. */
void hx_app_stats(struct hx_app *app, json_t *out);
/* The counters of the named backend it serves (hx_backend_stats, a new
 * object), or NULL when it serves none of that name. */
json_t *hx_app_backend_stats(struct hx_app *app, const char *name);
/* Replaces the knobs (an app "restart" with new configuration); in-flight
 * state, caches and state kept in memory are dropped, the implicit
 * backend's too (the world's backends keep theirs). An "instances" array
 * in changes replaces the per-instance overrides. */
enum idp_status hx_app_reconfigure(struct hx_app *app, const json_t *changes, const char **bad_key,
                                   struct idp_error *err);

#endif
