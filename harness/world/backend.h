/* A Convex-style backend: a server that receives an app's access tokens as
 * Bearer tokens and accepts one only through a configured provider (Convex
 * customJwt: the provider's issuer equals iss and, when the provider has an
 * applicationID, aud equals it), verified (verifier.c) against the
 * backend's own JWKS cache, at its own clock, with its own leeway.
 *
 * Every reference app serves one at GET /convex/query: its implicit
 * backend, set up by the convex_* knobs and the "providers" of the app or
 * target. A scenario's "backends" section adds named ones, each served by
 * the app whose tokens it receives at GET /backends/<name>/query. The
 * counters are guarded by the backend's lock: the app verifies on its
 * worker threads. */
#ifndef HX_BACKEND_H
#define HX_BACKEND_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "clock.h"
#include "error.h"
#include "timeline.h"
#include "verifier.h"

#define HX_MAX_BACKENDS 8

/* The tunables of one backend (a knob table, backend.c). */
struct hx_backend_settings {
    int64_t jwks_cache_ms;    /* how long a fetched JWKS is used */
    bool refetch_unknown_kid; /* refetch when the token's kid is not cached */
    int64_t jwks_cooldown_ms; /* at most one such refetch per cooldown */
    int64_t clock_offset_ms;  /* the backend's clock minus the true time */
    int64_t leeway_ms;        /* its clock tolerance for exp / nbf */
};

/* A named backend as the runner hands it to the app that serves it. */
struct hx_backend_spec {
    char name[48];
    struct hx_backend_settings settings;
    json_t *providers; /* resolved [{issuer, application_id?}], owned by the spec */
};

struct hx_backend {
    char component[96];       /* its timeline name: "billing"; "backend" or "prod/backend" for
                                 an app's implicit backend */
    bool named;               /* a "backends" entry: it also notes what it accepts */
    struct hx_backend_settings settings;
    json_t *providers;        /* [{issuer, application_id?}] */
    struct hx_jwks_cache jwks;
    struct idp_clock *clock;
    struct hx_timeline *timeline;
    pthread_mutex_t lock;     /* the counters below */
    unsigned accepted, rejected, anonymous;
    char last[16];            /* "accepted", "rejected", "anonymous"; "" before any request */
    char last_reason[24];     /* the last rejection's reason (hx_backend_reason_names) */
};

/* A backend's name: 1 to 47 lowercase letters, digits, '-' and '_' (its
 * timeline name and the last part of its path). */
bool hx_backend_name_ok(const char *name);
/* The settings of a named backend before its entry applies: Convex's
 * (a 10-minute JWKS cache, no refetch on an unknown kid, a 5-minute
 * cooldown, the true time, no leeway). */
void hx_backend_settings_defaults(struct hx_backend_settings *settings);
/* Checks a "backends" entry: "app" a non-empty string, "providers" an
 * array of {"issuer", "application_id"?} strings, and the settings
 * (leeway, clock_offset, jwks_cache, refetch_unknown_kid, jwks_cooldown),
 * which it applies to settings. Unknown keys fail; err->pointer names the
 * offending member; settings is unchanged on failure. */
enum idp_status hx_backend_entry_apply(struct hx_backend_settings *settings, const json_t *entry,
                                       struct idp_error *err);
/* The keys of a "backends" entry (a new JSON array), for the schema check. */
json_t *hx_backend_entry_keys(void);
/* Whether providers is an array of {"issuer", "application_id"?} strings. */
bool hx_backend_providers_ok(const json_t *providers);
/* The standard WorkOS + Convex providers, the default of a named backend:
 * ${issuer_base}/ with the client as applicationID, and the per-client
 * issuer ${issuer_base}/user_management/${client_id} (a new array, still
 * to be resolved). */
json_t *hx_backend_default_providers(void);
/* Whether reason is a rejection reason a backend reports: the verifier's
 * (hx_verify_name but "ok") and "no_provider". names gets the list
 * (NULL-terminated) for "did you mean". */
bool hx_backend_reason_known(const char *reason);
const char *const *hx_backend_reason_names(void);

/* Sets up a backend with empty caches and counters; jwks_url is the
 * JWKS it fetches (the app's client's /sso/jwks/<client_id>). */
void hx_backend_init(struct hx_backend *backend, const char *component, bool named,
                     const struct hx_backend_settings *settings, const json_t *providers,
                     const char *jwks_url, struct idp_clock *clock, struct hx_timeline *timeline);
void hx_backend_cleanup(struct hx_backend *backend);
/* Answers one query with this Authorization header (NULL: none): 200
 * {"identity": {"subject", "issuer"}} for an accepted token, 200
 * {"identity": null} without a Bearer token, 401 {"error": "AuthError",
 * "message"} otherwise (the text Convex prints). Returns the status; *body
 * is a new reference. */
int hx_backend_query(struct hx_backend *backend, const char *authorization, json_t **body);
/* "billing +6m (leeway 0s)" when its clock offset or leeway is not zero;
 * "" otherwise. */
void hx_backend_describe_clock(const struct hx_backend *backend, char *out, size_t size);
/* {"accepted", "rejected", "anonymous", "jwks_fetches", "last", "reason"}
 * (a new object; "last" and "reason" are "" until they happen). */
json_t *hx_backend_stats(struct hx_backend *backend);

#endif
