/* The reference app. Routes:
 *   GET /            public page
 *   GET /login       PKCE + sealed state, 302 to fakeidp's /user_management/authorize
 *   GET /callback    code exchange, sealed wos-session cookie, 302 to the return path
 *   POST /login/...  a custom sign-in UI: password, magic auth and the step-up
 *                    pages (email verification, organization, TOTP)
 *   GET /logout      deletes the cookie, 302 to fakeidp's logout with the session id
 *   GET /token       the session's access token (getAccessToken); ?force=1 refreshes
 *   GET /convex/query  the app's Convex-style backend: Bearer token -> identity or AuthError
 *   GET /backends/NAME/query  a named backend of the world it serves (backend.c)
 *   anything else    protected: signed in -> 200 JSON; signed out -> 302 /login
 *                    (pages) or 401 (paths under /api/)
 * The session middleware (verify, refresh, cookie writes) follows authkit-nextjs
 * and authkit-session; docs/reference-app.md maps each knob to its source. */
#include "refapp.h"

#include <civetweb.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "duration.h"
#include "encoding.h"
#include "http_client.h"
#include "iron.h"
#include "knobs.h"
#include "mgstop.h"
#include "backend.h"
#include "verifier.h"

static const char *const password_checks[] = {"request", "startup", NULL};
static const char *const refresh_policies[] = {"on_failure", "proactive", NULL};
static const char *const refresh_error_policies[] = {"delete_cookie", "keep_on_transient", NULL};
static const char *const secure_modes[] = {"auto", "always", "never", NULL};
static const char *const samesite_modes[] = {"lax", "strict", "none", NULL};
static const char *const refresh_places[] = {"middleware", "render", NULL};
static const char *const balancers[] = {"round_robin", "sticky", "random", "step", NULL};
static const char *const state_stores[] = {"cookie", "memory", NULL};
static const char *const cache_controls[] = {"none", "public", "private", NULL};

#define KNOB(f) offsetof(struct hx_app_knobs, f), sizeof(((struct hx_app_knobs *)0)->f)
static const struct idp_knob knob_table[] = {
    {"cookie_password", IDP_KNOB_TEXT, KNOB(cookie_password), NULL},
    {"password_check", IDP_KNOB_CHOICE, KNOB(password_check), password_checks},
    {"refresh", IDP_KNOB_CHOICE, KNOB(refresh), refresh_policies},
    {"refresh_buffer", IDP_KNOB_DURATION, KNOB(refresh_buffer_ms), NULL},
    {"dedupe", IDP_KNOB_BOOLEAN, KNOB(dedupe), NULL},
    {"refresh_errors", IDP_KNOB_CHOICE, KNOB(refresh_errors), refresh_error_policies},
    {"retry_429", IDP_KNOB_BOOLEAN, KNOB(retry_429), NULL},
    {"retry_429_max", IDP_KNOB_DURATION, KNOB(retry_429_max_ms), NULL},
    {"refresh_where", IDP_KNOB_CHOICE, KNOB(refresh_where), refresh_places},
    {"drop_session_cookie", IDP_KNOB_BOOLEAN, KNOB(drop_session_cookie), NULL},
    {"cookie_name", IDP_KNOB_TEXT, KNOB(cookie_name), NULL},
    {"cookie_secure", IDP_KNOB_CHOICE, KNOB(cookie_secure), secure_modes},
    {"cookie_samesite", IDP_KNOB_CHOICE, KNOB(cookie_samesite), samesite_modes},
    {"cookie_domain", IDP_KNOB_TEXT, KNOB(cookie_domain), NULL},
    {"cookie_max_age", IDP_KNOB_DURATION, KNOB(cookie_max_age_ms), NULL},
    {"delete_same_attributes", IDP_KNOB_BOOLEAN, KNOB(delete_same_attributes), NULL},
    {"chunk_cookie", IDP_KNOB_BOOLEAN, KNOB(chunk_cookie), NULL},
    {"jwks_cache", IDP_KNOB_DURATION, KNOB(jwks_cache_ms), NULL},
    {"jwks_refetch_unknown_kid", IDP_KNOB_BOOLEAN, KNOB(jwks_refetch_unknown_kid), NULL},
    {"jwks_cooldown", IDP_KNOB_DURATION, KNOB(jwks_cooldown_ms), NULL},
    {"issuer", IDP_KNOB_TEXT, KNOB(issuer), NULL},
    {"clock_offset", IDP_KNOB_SIGNED_DURATION, KNOB(clock_offset_ms), NULL},
    {"leeway", IDP_KNOB_DURATION, KNOB(leeway_ms), NULL},
    {"instances", IDP_KNOB_INTEGER, KNOB(instances), NULL},
    {"convex_jwks_cache", IDP_KNOB_DURATION, KNOB(convex_jwks_cache_ms), NULL},
    {"convex_refetch_unknown_kid", IDP_KNOB_BOOLEAN, KNOB(convex_refetch_unknown_kid), NULL},
    {"convex_clock_offset", IDP_KNOB_SIGNED_DURATION, KNOB(convex_clock_offset_ms), NULL},
    {"convex_leeway", IDP_KNOB_DURATION, KNOB(convex_leeway_ms), NULL},
    {"balancer", IDP_KNOB_CHOICE, KNOB(balancer), balancers},
    {"trust_proxy", IDP_KNOB_BOOLEAN, KNOB(trust_proxy), NULL},
    {"redirect_uri", IDP_KNOB_TEXT, KNOB(redirect_uri), NULL},
    {"state_store", IDP_KNOB_CHOICE, KNOB(state_store), state_stores},
    {"cache_control", IDP_KNOB_CHOICE, KNOB(cache_control), cache_controls},
};
#undef KNOB
#define KNOB_COUNT (sizeof(knob_table) / sizeof(knob_table[0]))

void hx_app_knobs_defaults(struct hx_app_knobs *k)
{
    memset(k, 0, sizeof(*k));
    snprintf(k->cookie_password, sizeof(k->cookie_password),
             "reference-app-cookie-password-at-least-32-chars");
    k->cookie_password_set = true;
    snprintf(k->cookie_password_id, sizeof(k->cookie_password_id), "1");
    k->password_check = HX_PASSWORD_PER_REQUEST;
    k->refresh = HX_REFRESH_ON_FAILURE;
    k->dedupe = false;
    k->refresh_errors = HX_ERRORS_DELETE_COOKIE;
    k->retry_429_max_ms = 1000;
    k->refresh_where = HX_REFRESH_IN_MIDDLEWARE;
    snprintf(k->cookie_name, sizeof(k->cookie_name), "wos-session");
    k->cookie_secure = HX_SECURE_AUTO;
    k->cookie_samesite = HX_LAX;
    k->cookie_max_age_ms = 34560000LL * 1000;
    k->delete_same_attributes = true;
    k->jwks_cache_ms = 600000;
    k->jwks_refetch_unknown_kid = true;
    k->jwks_cooldown_ms = 30000;
    k->instances = 1;
    k->convex_jwks_cache_ms = 600000;
    k->convex_refetch_unknown_kid = false;
}

/* {"1": "old…", "2": "new…"}: iron-session seals with the highest id and
 * opens a seal with the password its id names. */
static enum idp_status apply_password_map(struct hx_app_knobs *k, const json_t *map,
                                          struct idp_error *err)
{
    size_t n = json_object_size(map);
    if (n < 1 || n > HX_APP_MAX_PASSWORDS)
        return idp_fail(err, IDP_INVALID,
                        "target knob cookie_password: a password map has 1 to %d entries",
                        HX_APP_MAX_PASSWORDS);
    const char *id;
    json_t *secret;
    long best = -1;
    k->password_count = 0;
    json_object_foreach((json_t *)map, id, secret) {
        char *end = NULL;
        long number = strtol(id, &end, 10);
        if (!id[0] || *end || number < 0 || strlen(id) >= sizeof(k->passwords[0].id))
            return idp_fail(err, IDP_INVALID,
                            "target knob cookie_password: password ids are whole numbers (\"%s\")",
                            id);
        if (!json_is_string(secret) || json_string_length(secret) >= sizeof(k->passwords[0].secret))
            return idp_fail(err, IDP_INVALID,
                            "target knob cookie_password: password %s must be a string under 256 "
                            "bytes", id);
        struct hx_app_password *p = &k->passwords[k->password_count++];
        snprintf(p->id, sizeof(p->id), "%s", id);
        snprintf(p->secret, sizeof(p->secret), "%s", json_string_value(secret));
        if (number > best) {
            best = number;
            memcpy(k->cookie_password, p->secret, strlen(p->secret) + 1);
            memcpy(k->cookie_password_id, p->id, strlen(p->id) + 1);
        }
    }
    k->cookie_password_set = true;
    return IDP_OK;
}

/* An instance's overrides: knobs, but not the ones that shape the set. */
static enum idp_status check_instance_override(const struct hx_app_knobs *base, const json_t *o,
                                               size_t index, struct idp_error *err)
{
    if (!json_is_object(o))
        return idp_fail(err, IDP_INVALID, "target knob instances: entry %zu must be an object of "
                                          "knobs for that instance", index);
    if (json_object_get(o, "instances") || json_object_get(o, "balancer"))
        return idp_fail(err, IDP_INVALID, "target knob instances: entry %zu: %s is set for the "
                                          "whole app, not per instance", index,
                        json_object_get(o, "instances") ? "instances" : "balancer");
    /* The backend is one server behind all instances. */
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)o, key, value) if (strncmp(key, "convex_", 7) == 0)
        return idp_fail(err, IDP_INVALID, "target knob instances: entry %zu: %s is set for the "
                                          "app's backend, not per instance", index, key);
    struct hx_app_knobs scratch = *base;
    struct idp_error inner;
    if (hx_app_knobs_apply(&scratch, o, NULL, &inner))
        return idp_fail(err, IDP_INVALID, "target knob instances: entry %zu: %s", index,
                        inner.message);
    return IDP_OK;
}

enum idp_status hx_app_knobs_apply(struct hx_app_knobs *knobs, const json_t *obj,
                                   const char **bad_key, struct idp_error *err)
{
    json_t *rest = json_deep_copy(obj);
    if (!json_is_object(rest)) {
        json_decref(rest);
        return idp_fail(err, IDP_INVALID, "target must be a JSON object");
    }
    /* Not knobs: the target kind and the Convex providers, read by the runner. */
    json_object_del(rest, "app");
    json_object_del(rest, "providers");
    struct hx_app_knobs copy = *knobs;
    json_t *password = json_object_get(rest, "cookie_password");
    enum idp_status status = IDP_OK;
    if (json_is_null(password)) {
        copy.cookie_password_set = false;
        copy.cookie_password[0] = '\0';
        copy.password_count = 0;
        json_object_del(rest, "cookie_password");
    } else if (json_is_object(password)) {
        status = apply_password_map(&copy, password, err);
        if (status && bad_key)
            *bad_key = "cookie_password";
        json_object_del(rest, "cookie_password");
    } else if (password) {
        copy.cookie_password_set = true;
        copy.password_count = 0;
        snprintf(copy.cookie_password_id, sizeof(copy.cookie_password_id), "1");
    }
    /* "instances": a count, or one object of knob overrides per instance. */
    json_t *instances = json_incref(json_object_get(rest, "instances"));
    if (json_is_array(instances)) {
        json_object_set_new(rest, "instances", json_integer((json_int_t)json_array_size(instances)));
    }
    if (!status)
        status = idp_knobs_apply(knob_table, KNOB_COUNT, &copy, sizeof(copy), rest, "target knob",
                                 bad_key, err);
    if (!status && json_is_array(instances) && json_array_size(instances) >= 1 &&
        json_array_size(instances) <= HX_APP_MAX_INSTANCES) {
        size_t i;
        json_t *o;
        json_array_foreach(instances, i, o) {
            if (!status)
                status = check_instance_override(&copy, o, i, err);
        }
        if (status && bad_key)
            *bad_key = "instances";
    }
    json_decref(instances);
    if (!status && (copy.instances < 1 || copy.instances > HX_APP_MAX_INSTANCES)) {
        status = idp_fail(err, IDP_INVALID, "target knob instances: from 1 to %d",
                          HX_APP_MAX_INSTANCES);
        if (bad_key)
            *bad_key = "instances";
    }
    /* bad_key points into rest: re-point it at obj's own key string. */
    if (status && bad_key && *bad_key) {
        const char *key;
        json_t *value;
        json_object_foreach((json_t *)obj, key, value) if (strcmp(key, *bad_key) == 0) *bad_key = key;
    }
    json_decref(rest);
    if (!status)
        *knobs = copy;
    return status;
}

json_t *hx_app_knob_names(void)
{
    return idp_knobs_names(knob_table, KNOB_COUNT);
}

json_t *hx_app_knobs_json(const struct hx_app_knobs *knobs)
{
    return idp_knobs_to_json(knob_table, KNOB_COUNT, knobs);
}

/* ------------------------------------------------------------------ */

#define HX_APP_IDLE_CLIENTS 8

struct inflight {
    char token[128];
    bool done;
    struct refresh_result *result;
    int refs;
    struct inflight *next;
};

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
    int active_requests;  /* requests inside handle() */
    /* Kept-alive clients to fakeidp (idp_keep_alive), at most one per
     * request in flight; guarded by lock. */
    bool idp_keep_alive;
    bool (*wait_quiet)(void *ctx, int timeout_ms); /* config's idp_wait_quiet */
    void *quiet_ctx;
    struct hx_http_client *idle_clients[HX_APP_IDLE_CLIENTS];
    int idle_count;
    pthread_cond_t idle;  /* broadcast when active_requests drops to 0 */
};

struct session {
    char *access_token, *refresh_token;
    json_t *user, *impersonator;
};

static void session_cleanup(struct session *s)
{
    free(s->access_token);
    free(s->refresh_token);
    json_decref(s->user);
    json_decref(s->impersonator);
    memset(s, 0, sizeof(*s));
}

struct reply {
    int status;
    char content_type[48];
    char *body;
    char headers[16384];
    size_t headers_len;
};

static void reply_header(struct reply *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void reply_header(struct reply *r, const char *name, const char *fmt, ...)
{
    char value[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(value, sizeof(value), fmt, ap);
    va_end(ap);
    int n = snprintf(r->headers + r->headers_len, sizeof(r->headers) - r->headers_len,
                     "%s: %s\r\n", name, value);
    if (n > 0 && (size_t)n < sizeof(r->headers) - r->headers_len)
        r->headers_len += (size_t)n;
}

static void reply_json(struct reply *r, int status, json_t *body)
{
    r->status = status;
    snprintf(r->content_type, sizeof(r->content_type), "application/json");
    free(r->body);
    r->body = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(body);
}

static void reply_redirect(struct reply *r, const char *location)
{
    r->status = 302;
    snprintf(r->content_type, sizeof(r->content_type), "text/plain");
    free(r->body);
    r->body = strdup("");
    reply_header(r, "Location", "%s", location);
}

static int64_t app_now(struct hx_app *app, const struct hx_app_knobs *k)
{
    return idp_clock_now_ms(app->clock) + k->clock_offset_ms;
}

/* The instance handling this thread's request (0-based), -1 with one. */
static _Thread_local int current_instance = -1;
/* This request's view of the app's public origin and redirect URI. */
static _Thread_local char current_origin[300];
static _Thread_local char current_redirect_uri[300];

/* The origin as the app derives it from the request: the Host header and
 * plain http (the hop it was reached on), or, with trust_proxy, what the
 * proxy forwarded in X-Forwarded-Proto / X-Forwarded-Host. The redirect URI
 * is that origin's /callback unless one was baked in at build time. */
static void request_origin(const struct hx_app *app, const struct hx_app_knobs *k,
                           struct mg_connection *conn)
{
    const char *host = mg_get_header(conn, "Host");
    const char *proto = "http";
    const char *fwd_proto = k->trust_proxy ? mg_get_header(conn, "X-Forwarded-Proto") : NULL;
    const char *fwd_host = k->trust_proxy ? mg_get_header(conn, "X-Forwarded-Host") : NULL;
    if (fwd_proto && (strcmp(fwd_proto, "https") == 0 || strcmp(fwd_proto, "http") == 0))
        proto = fwd_proto;
    if (fwd_host && fwd_host[0])
        host = fwd_host;
    if (host && host[0] && !strpbrk(host, "/\\@ "))
        snprintf(current_origin, sizeof(current_origin), "%s://%s", proto, host);
    else
        snprintf(current_origin, sizeof(current_origin), "%s", app->origin);
    if (k->redirect_uri[0])
        snprintf(current_redirect_uri, sizeof(current_redirect_uri), "%s", k->redirect_uri);
    else
        snprintf(current_redirect_uri, sizeof(current_redirect_uri), "%s/callback", current_origin);
}

static void note(struct hx_app *app, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct hx_app *app, const char *fmt, ...)
{
    char text[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    json_t *data = current_instance >= 0 ? json_pack("{s:i}", "instance", current_instance) : NULL;
    if (app->name[0]) {
        /* The world's name for the component: "prod", or "stg#2" for an instance. */
        char component[96];
        if (current_instance >= 0)
            snprintf(component, sizeof(component), "%s#%d", app->name, current_instance + 1);
        else
            snprintf(component, sizeof(component), "%s", app->name);
        if (!data)
            data = json_object();
        json_object_set_new(data, "component", json_string(component));
    }
    hx_timeline_add_data(app->timeline, idp_clock_now_ms(app->clock), "app", data, "%s", text);
}

/* A record for the structured reporters (no text line): data (stolen)
 * with the instance that added it. */
static void record(struct hx_app *app, json_t *data)
{
    if (current_instance >= 0)
        json_object_set_new(data, "instance", json_integer(current_instance));
    hx_timeline_add_data(app->timeline, idp_clock_now_ms(app->clock), "app", data, NULL);
}

/* A token's short hash (as fakeidp's journal has it) into data[key]. */
static void token_field(json_t *data, const char *key, const char *token)
{
    char hash[16];
    if (!token)
        return;
    hx_timeline_hash(token, hash);
    json_object_set_new(data, key, json_string(hash));
}

/* The browser numbers its requests (X-Request-ID: hxreq-N); the app's log
 * lines and its calls to fakeidp carry the number on. */
static void request_begin(struct hx_app *app, struct mg_connection *conn, int instance,
                          int instances)
{
    const char *id = mg_get_header(conn, "X-Request-ID");
    int req = 0;
    if (id && strncmp(id, "hxreq-", 6) == 0)
        req = atoi(id + 6);
    hx_timeline_request_set(req > 0 ? req : 0);
    current_instance = instances > 1 ? instance : -1;
    if (current_instance >= 0 && req > 0)
        record(app, json_pack("{s:s}", "kind", "served"));
}

static bool password_ok(const struct hx_app_knobs *k)
{
    return k->cookie_password_set && strlen(k->cookie_password) >= IDP_IRON_MIN_PASSWORD;
}

/* ---- cookies ------------------------------------------------------ */

static bool cookie_secure(const struct hx_app *app, const struct hx_app_knobs *k)
{
    if (k->cookie_secure == HX_SECURE_ALWAYS)
        return true;
    if (k->cookie_secure == HX_SECURE_NEVER)
        return false;
    /* authkit-nextjs: Secure when SameSite=None or the redirect URI is https. */
    (void)app;
    return k->cookie_samesite == HX_NONE || strncmp(current_redirect_uri, "https:", 6) == 0;
}

static void cookie_attributes(const struct hx_app *app, const struct hx_app_knobs *k,
                              bool with_domain, char *out, size_t size)
{
    static const char *const names[] = {"Lax", "Strict", "None"};
    snprintf(out, size, "; Path=/; HttpOnly; SameSite=%s%s%s%s", names[k->cookie_samesite],
             with_domain && k->cookie_domain[0] ? "; Domain=" : "",
             with_domain ? k->cookie_domain : "", cookie_secure(app, k) ? "; Secure" : "");
}

static void set_session_cookie(struct hx_app *app, const struct hx_app_knobs *k, struct reply *r,
                               const char *seal)
{
    char attrs[256];
    cookie_attributes(app, k, true, attrs, sizeof(attrs));
    long long max_age = k->cookie_max_age_ms / 1000;
    size_t len = strlen(seal);
    if (k->chunk_cookie && len + strlen(k->cookie_name) > 4000) {
        size_t chunk = 3900, parts = (len + chunk - 1) / chunk;
        for (size_t i = 0; i < parts; i++)
            reply_header(r, "Set-Cookie", "%s.%zu=%.*s; Max-Age=%lld%s", k->cookie_name, i,
                         (int)(len - i * chunk < chunk ? len - i * chunk : chunk), seal + i * chunk,
                         max_age, attrs);
        reply_header(r, "Set-Cookie", "%s=chunked:%zu; Max-Age=%lld%s", k->cookie_name, parts,
                     max_age, attrs);
        note(app, "session cookie written in %zu chunks (%zu bytes)", parts, len);
        return;
    }
    if (len + strlen(k->cookie_name) > 4096) {
        pthread_mutex_lock(&app->lock);
        app->oversize_cookies++;
        pthread_mutex_unlock(&app->lock);
        note(app, "warning: session cookie is %zu bytes, over the browsers' 4096-byte limit",
             len + strlen(k->cookie_name));
    }
    reply_header(r, "Set-Cookie", "%s=%s; Max-Age=%lld%s", k->cookie_name, seal, max_age, attrs);
}

static void delete_session_cookie(struct hx_app *app, const struct hx_app_knobs *k,
                                  struct reply *r)
{
    char attrs[256];
    cookie_attributes(app, k, k->delete_same_attributes, attrs, sizeof(attrs));
    reply_header(r, "Set-Cookie", "%s=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT%s",
                 k->cookie_name, attrs);
}

static char *read_cookie(struct mg_connection *conn, const char *name)
{
    const char *header = mg_get_header(conn, "Cookie");
    if (!header)
        return NULL;
    size_t size = strlen(header) + 1;
    char *value = malloc(size);
    if (value && mg_get_cookie(header, name, value, size) < 0) {
        free(value);
        value = NULL;
    }
    return value;
}

/* The seal, reassembled from chunks when the cookie says "chunked:N". */
static char *read_seal(struct mg_connection *conn, const struct hx_app_knobs *k)
{
    char *value = read_cookie(conn, k->cookie_name);
    if (!value || strncmp(value, "chunked:", 8) != 0)
        return value;
    int parts = atoi(value + 8);
    free(value);
    size_t cap = 1, len = 0;
    char *seal = calloc(1, 1);
    for (int i = 0; seal && i < parts && i < 16; i++) {
        char name[80];
        snprintf(name, sizeof(name), "%s.%d", k->cookie_name, i);
        char *part = read_cookie(conn, name);
        if (!part) {
            free(seal);
            return NULL;
        }
        cap = len + strlen(part) + 1;
        char *grown = realloc(seal, cap);
        if (!grown) {
            free(seal); /* out of memory: no session rather than a leak */
            free(part);
            return NULL;
        }
        memcpy(grown + len, part, strlen(part) + 1);
        len += strlen(part);
        seal = grown;
        free(part);
    }
    return seal;
}

/* Opens a seal with the password (any id), or with a password map's entry
 * for the seal's id, as iron does ("Cannot find password: 3"). */
static enum idp_status unseal(const struct hx_app_knobs *k, const char *seal, int64_t now,
                              unsigned char **data, size_t *len, struct idp_error *err)
{
    if (!k->password_count)
        return idp_iron_unseal(k->cookie_password, seal, now, data, len, err);
    char id[32] = "";
    idp_iron_password_id(seal, id, sizeof(id));
    for (int i = 0; i < k->password_count; i++)
        if (strcmp(k->passwords[i].id, id) == 0)
            return idp_iron_unseal(k->passwords[i].secret, seal, now, data, len, err);
    if (!id[0])
        return idp_iron_unseal(k->cookie_password, seal, now, data, len, err);
    return idp_fail(err, IDP_DENIED, "Cannot find password: %s", id);
}

static bool load_session(struct hx_app *app, const struct hx_app_knobs *k,
                         struct mg_connection *conn, struct session *s, char *why, size_t why_size)
{
    memset(s, 0, sizeof(*s));
    char *seal = read_seal(conn, k);
    if (!seal) {
        snprintf(why, why_size, "no %s cookie", k->cookie_name);
        return false;
    }
    unsigned char *data = NULL;
    size_t len = 0;
    struct idp_error err;
    enum idp_status st = unseal(k, seal, app_now(app, k), &data, &len, &err);
    free(seal);
    if (st) {
        /* authkit-nextjs swallows unseal errors: the session is simply empty. */
        snprintf(why, why_size, "cannot unseal %s: %s", k->cookie_name, err.message);
        return false;
    }
    json_t *payload = json_loadb((const char *)data, len, 0, NULL);
    free(data);
    const char *at = json_string_value(json_object_get(payload, "accessToken"));
    const char *rt = json_string_value(json_object_get(payload, "refreshToken"));
    if (!at || !rt) {
        json_decref(payload);
        snprintf(why, why_size, "sealed session has no tokens");
        return false;
    }
    s->access_token = strdup(at);
    s->refresh_token = strdup(rt);
    s->user = json_incref(json_object_get(payload, "user"));
    s->impersonator = json_incref(json_object_get(payload, "impersonator"));
    json_decref(payload);
    return true;
}

static char *seal_session(const struct hx_app_knobs *k, const char *at, const char *rt,
                          const json_t *user, const json_t *impersonator, int64_t now)
{
    json_t *payload = json_pack("{s:s, s:s, s:O?, s:O?}", "accessToken", at, "refreshToken", rt,
                                "user", user, "impersonator", impersonator);
    char *text = json_dumps(payload, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(payload);
    char *seal = text ? idp_iron_seal_id(k->cookie_password, k->cookie_password_id,
                                         (unsigned char *)text, strlen(text), now, 0, NULL)
                      : NULL;
    free(text);
    return seal;
}

/* ---- talking to the IdP ------------------------------------------ */

static void result_free(struct refresh_result *r)
{
    if (!r)
        return;
    free(r->access_token);
    free(r->refresh_token);
    json_decref(r->user);
    json_decref(r->impersonator);
    json_decref(r->reply);
    free(r);
}

/* A client for a call to fakeidp: a kept-alive one when no fault of the
 * run can cut a request (curl re-sends a request whose reused connection
 * dies before a reply, which would hide the fault), else a new connection. */
static struct hx_http_client *idp_client(struct hx_app *app)
{
    struct hx_http_client *client = NULL;
    pthread_mutex_lock(&app->lock);
    if (app->idp_keep_alive && app->idle_count > 0)
        client = app->idle_clients[--app->idle_count];
    pthread_mutex_unlock(&app->lock);
    return client ? client : hx_http_client_new();
}

static void idp_client_done(struct hx_app *app, struct hx_http_client *client)
{
    pthread_mutex_lock(&app->lock);
    if (client && app->idp_keep_alive && app->idle_count < HX_APP_IDLE_CLIENTS) {
        app->idle_clients[app->idle_count++] = client;
        client = NULL;
    }
    pthread_mutex_unlock(&app->lock);
    hx_http_client_free(&client);
}

static void idle_clients_close(struct hx_app *app)
{
    while (app->idle_count > 0)
        hx_http_client_free(&app->idle_clients[--app->idle_count]);
}

/* POSTs JSON text to fakeidp's API at path (under idp_url) over client, as
 * the SDK does: the app's API key as the Bearer token and, when numbered,
 * the browser's request number (X-Request-ID: hxreq-N), which links the
 * call to that request in fakeidp's journal. The token grants are
 * numbered; the sign-in pages' other calls (idp_api) have never been, and
 * fakeidp names those itself. False when no response came (resp->error). */
static bool idp_post(struct hx_app *app, struct hx_http_client *client, const char *path,
                     const char *text, bool numbered, struct hx_http_response *resp)
{
    char url[600], auth[200], request_id[48];
    snprintf(url, sizeof(url), "%s%s", app->idp_url, path);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", app->api_key);
    int number = numbered ? hx_timeline_request_current() : 0;
    snprintf(request_id, sizeof(request_id), "X-Request-ID: hxreq-%d", number);
    const char *headers[] = {"Content-Type: application/json", "Accept: application/json", auth,
                             number ? request_id : NULL, NULL};
    return client && text &&
           hx_http_request(client, "POST", url, headers, text, strlen(text), 15000, resp);
}

static struct refresh_result *authenticate(struct hx_app *app, const struct hx_app_knobs *k,
                                           json_t *body)
{
    struct refresh_result *res = calloc(1, sizeof(*res));
    if (!res)
        return NULL;
    json_object_set_new(body, "client_id", json_string(app->client_id));
    json_object_set_new(body, "client_secret", json_string(app->api_key));
    char *text = json_dumps(body, JSON_COMPACT);
    struct hx_http_client *client = idp_client(app);
    for (int attempt = 0; attempt < 2; attempt++) {
        struct hx_http_response resp = {0};
        bool got = idp_post(app, client, "/user_management/authenticate", text, true, &resp);
        res->status = resp.status;
        json_t *reply = got ? json_loadb(resp.body, resp.body_len, 0, NULL) : NULL;
        char retry_after[32] = "";
        hx_http_header(&resp, "Retry-After", retry_after, sizeof(retry_after));
        if (got && resp.status == 200 && json_string_value(json_object_get(reply, "access_token"))) {
            res->kind = 0;
            res->access_token = strdup(json_string_value(json_object_get(reply, "access_token")));
            res->refresh_token = strdup(json_string_value(json_object_get(reply, "refresh_token")));
            res->user = json_incref(json_object_get(reply, "user"));
            res->impersonator = json_incref(json_object_get(reply, "impersonator"));
        } else {
            long s = resp.status;
            bool transient = !got || s == 408 || s == 429 || s >= 500 || (s == 200 && !reply);
            res->kind = transient ? 1 : 2;
            const char *e = json_string_value(json_object_get(reply, "error"));
            const char *code = json_string_value(json_object_get(reply, "code"));
            snprintf(res->error, sizeof(res->error), "%s%s%s", got ? "" : resp.error,
                     e ? e : code ? code : "", s == 200 && !reply ? "unparseable 200 body" : "");
        }
        /* Where the call sits among the app's lines, and what it got. */
        json_t *call = json_pack("{s:s, s:i}", "kind", "call", "status", got ? (int)resp.status : 0);
        if (res->kind == 0) {
            token_field(call, "access_token", res->access_token);
            token_field(call, "refresh_token", res->refresh_token);
        }
        record(app, call);
        json_decref(res->reply);
        res->reply = reply;
        hx_http_response_cleanup(&resp);
        if (!(res->status == 429 && k->retry_429 && attempt == 0))
            break;
        /* authkit-session: one retry after Retry-After clamped to 1..10 s. */
        int64_t wait = atoll(retry_after) * 1000;
        wait = wait < 1000 ? 1000 : wait > 10000 ? 10000 : wait;
        if (wait > k->retry_429_max_ms)
            wait = k->retry_429_max_ms;
        note(app, "refresh got 429; retrying after %lldms", (long long)wait);
        /* The wait ends early once the IdP has no request in flight: what
         * the retry waits for (the first exchange's reply leaving) has then
         * happened, nothing else can happen at the IdP before the retry, and
         * the virtual clock stands still during the wait either way. So a
         * Retry-After of seconds costs the time the IdP needs, not seconds. */
        if (app->wait_quiet)
            app->wait_quiet(app->quiet_ctx, (int)wait);
        else
            usleep((useconds_t)wait * 1000);
    }
    idp_client_done(app, client);
    free(text);
    return res;
}

/* Refreshes with the IdP, de-duplicated per instance when the knob says so:
 * concurrent callers with the same token share the first one's result. */
static struct refresh_result *refresh(struct hx_app *app, const struct hx_app_knobs *k,
                                      struct instance *inst, const char *token)
{
    pthread_mutex_lock(&app->lock);
    app->refreshes++;
    inst->refreshes++;
    pthread_mutex_unlock(&app->lock);
    if (!k->dedupe) {
        json_t *body = json_pack("{s:s, s:s}", "grant_type", "refresh_token", "refresh_token", token);
        struct refresh_result *r = authenticate(app, k, body);
        json_decref(body);
        return r;
    }
    pthread_mutex_lock(&inst->lock);
    struct inflight *f = inst->inflight;
    while (f && strcmp(f->token, token) != 0)
        f = f->next;
    bool owner = !f;
    if (owner) {
        f = calloc(1, sizeof(*f));
        if (!f) {
            pthread_mutex_unlock(&inst->lock);
            return NULL;
        }
        snprintf(f->token, sizeof(f->token), "%s", token);
        f->next = inst->inflight;
        inst->inflight = f;
    }
    f->refs++;
    pthread_mutex_unlock(&inst->lock);
    if (owner) {
        json_t *body = json_pack("{s:s, s:s}", "grant_type", "refresh_token", "refresh_token", token);
        struct refresh_result *r = authenticate(app, k, body);
        json_decref(body);
        pthread_mutex_lock(&inst->lock);
        f->result = r;
        f->done = true;
        pthread_cond_broadcast(&inst->settled);
    } else {
        pthread_mutex_lock(&inst->lock);
        while (!f->done)
            pthread_cond_wait(&inst->settled, &inst->lock);
        note(app, "joined an in-flight refresh (dedupe)");
    }
    struct refresh_result *copy = calloc(1, sizeof(*copy));
    if (copy && f->result) {
        *copy = *f->result;
        copy->access_token = f->result->access_token ? strdup(f->result->access_token) : NULL;
        copy->refresh_token = f->result->refresh_token ? strdup(f->result->refresh_token) : NULL;
        json_incref(copy->user);
        json_incref(copy->impersonator);
        json_incref(copy->reply);
    }
    if (--f->refs == 0) {
        for (struct inflight **p = &inst->inflight; *p; p = &(*p)->next)
            if (*p == f) {
                *p = f->next;
                break;
            }
        result_free(f->result);
        free(f);
    }
    pthread_mutex_unlock(&inst->lock);
    return copy;
}

/* ---- the middleware ---------------------------------------------- */

enum auth { SIGNED_IN, SIGNED_OUT };

/* Decides the request's session, refreshing and writing cookies as the SDK
 * would. On SIGNED_IN, s holds the session to use. */
static enum auth middleware(struct hx_app *app, const struct hx_app_knobs *k, struct instance *inst,
                            struct mg_connection *conn, struct reply *r, struct session *s,
                            bool force_refresh)
{
    char why[512];
    if (!load_session(app, k, conn, s, why, sizeof(why))) {
        if (!strstr(why, "no "))
            note(app, "%s", why);
        return SIGNED_OUT;
    }
    json_t *presented = json_pack("{s:s}", "kind", "presented");
    token_field(presented, "access_token", s->access_token);
    record(app, presented);
    int64_t now = app_now(app, k);
    enum hx_verify v = hx_verify_token(&inst->jwks, s->access_token, now, k->leeway_ms,
                                       k->issuer[0] ? k->issuer : NULL, NULL, NULL, why, sizeof(why));
    bool refresh_now = force_refresh || v != HX_VERIFY_OK;
    bool still_valid = v == HX_VERIFY_OK;
    if (v == HX_VERIFY_OK && k->refresh == HX_REFRESH_PROACTIVE) {
        json_t *claims = hx_token_claims(s->access_token);
        json_int_t exp = json_integer_value(json_object_get(claims, "exp"));
        json_int_t iat = json_integer_value(json_object_get(claims, "iat"));
        json_decref(claims);
        int64_t buffer = k->refresh_buffer_ms ? k->refresh_buffer_ms
                                              : exp - iat <= 300 ? 30000 : 60000;
        if (exp * 1000 - now < buffer) {
            refresh_now = true;
            snprintf(why, sizeof(why), "expires in %llds, within the %llds buffer",
                     (long long)(exp - now / 1000), (long long)(buffer / 1000));
        }
    }
    if (!refresh_now)
        return SIGNED_IN;
    note(app, "%s -> refresh", force_refresh ? "forced" : why);
    struct refresh_result *res = refresh(app, k, inst, s->refresh_token);
    if (res && res->kind == 0) {
        char *seal = seal_session(k, res->access_token, res->refresh_token, res->user,
                                  res->impersonator, now);
        if (k->refresh_where == HX_REFRESH_IN_RENDER)
            note(app, "refreshed while rendering: cookies cannot be written here, the new session is lost");
        else if (seal)
            set_session_cookie(app, k, r, seal);
        free(seal);
        session_cleanup(s);
        s->access_token = res->access_token;
        s->refresh_token = res->refresh_token;
        s->user = res->user;
        s->impersonator = res->impersonator;
        res->access_token = res->refresh_token = NULL;
        res->user = res->impersonator = NULL;
        result_free(res);
        return SIGNED_IN;
    }
    pthread_mutex_lock(&app->lock);
    app->refresh_failures++;
    inst->refresh_failures++;
    pthread_mutex_unlock(&app->lock);
    bool transient = !res || res->kind == 1;
    note(app, "refresh failed: %ld %s (%s)", res ? res->status : 0L, res ? res->error : "no memory",
         transient ? "transient" : "terminal");
    result_free(res);
    if (k->refresh == HX_REFRESH_PROACTIVE && still_valid) {
        note(app, "serving the still-valid access token");
        return SIGNED_IN;
    }
    if (transient && k->refresh_errors == HX_ERRORS_KEEP_ON_TRANSIENT) {
        note(app, "transient failure: cookie kept, this request is signed out");
    } else {
        note(app, "deleting the session cookie");
        delete_session_cookie(app, k, r);
    }
    session_cleanup(s);
    return SIGNED_OUT;
}

/* ---- routes -------------------------------------------------------- */

static char *url_param(const struct mg_request_info *ri, const char *name)
{
    if (!ri->query_string)
        return NULL;
    size_t size = strlen(ri->query_string) + 1;
    char *out = malloc(size);
    if (out && mg_get_var(ri->query_string, strlen(ri->query_string), name, out, size) < 0) {
        free(out);
        return NULL;
    }
    return out;
}

static char *encode(const char *text)
{
    size_t size = strlen(text) * 3 + 1;
    char *out = malloc(size);
    if (out)
        mg_url_encode(text, out, size);
    return out;
}

static void route_login(struct hx_app *app, const struct hx_app_knobs *k, struct instance *inst,
                        struct mg_connection *conn, struct reply *r)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    unsigned char raw[32], digest[32];
    RAND_bytes(raw, sizeof(raw));
    char *verifier = idp_base64url_encode(raw, sizeof(raw));
    EVP_Digest(verifier, strlen(verifier), digest, NULL, EVP_sha256(), NULL);
    char *challenge = idp_base64url_encode(digest, sizeof(digest));
    char *return_path = url_param(ri, "returnPathname");
    json_t *state_json = json_pack("{s:s, s:s}", "codeVerifier", verifier, "returnPathname",
                                   return_path ? return_path : "/dashboard");
    char *state_text = json_dumps(state_json, JSON_COMPACT);
    int64_t now = app_now(app, k);
    char *state = NULL;
    if (k->state_store == HX_STATE_MEMORY) {
        /* The state and verifier stay in this process's memory. */
        unsigned char id[16];
        RAND_bytes(id, sizeof(id));
        state = idp_base64url_encode(id, sizeof(id));
        pthread_mutex_lock(&inst->lock);
        if (state && json_object_size(inst->states) < 1000)
            json_object_set(inst->states, state, state_json);
        pthread_mutex_unlock(&inst->lock);
        note(app, "login: OAuth state kept in this process's memory");
    } else {
        state = idp_iron_seal_id(k->cookie_password, k->cookie_password_id,
                                 (unsigned char *)state_text, strlen(state_text), now, 600000, NULL);
    }
    char *state_enc = state ? encode(state) : NULL;
    char *redirect_enc = encode(current_redirect_uri);
    char location[6000];
    snprintf(location, sizeof(location),
             "%s/user_management/authorize?client_id=%s&code_challenge=%s&code_challenge_method=S256"
             "&provider=authkit&redirect_uri=%s&response_type=code&screen_hint=sign-in&state=%s",
             app->idp_public_url, app->client_id, challenge, redirect_enc ? redirect_enc : "",
             state_enc ? state_enc : "");
    reply_redirect(r, location);
    char attrs[256];
    cookie_attributes(app, k, false, attrs, sizeof(attrs));
    /* The PKCE cookie: Strict is downgraded to Lax, or the cross-site return
     * from the IdP would not carry it (authkit-nextjs cookie.ts). */
    char *lax = strstr(attrs, "SameSite=Strict");
    if (lax)
        memcpy(lax, "SameSite=Lax;  ", 15), memmove(lax + 12, lax + 15, strlen(lax + 15) + 1);
    if (k->state_store == HX_STATE_COOKIE)
        reply_header(r, "Set-Cookie", "wos-auth-verifier=%s; Max-Age=600%s", state ? state : "",
                     attrs);
    free(verifier);
    free(challenge);
    free(return_path);
    json_decref(state_json);
    free(state_text);
    free(state);
    free(state_enc);
    free(redirect_enc);
}

/* A call of the WorkOS API with the app's API key (the SDK methods the
 * custom sign-in pages use); the reply's JSON or NULL, *status its status. */
static json_t *idp_api(struct hx_app *app, const char *path, json_t *body, long *status)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    struct hx_http_client *client = idp_client(app);
    struct hx_http_response resp = {0};
    json_t *reply = NULL;
    *status = 0;
    if (idp_post(app, client, path, text, false, &resp)) {
        *status = resp.status;
        reply = json_loadb(resp.body, resp.body_len, 0, NULL);
    }
    hx_http_response_cleanup(&resp);
    idp_client_done(app, client);
    free(text);
    return reply;
}

/* The page that asks the user for the next step of a sign-in the IdP
 * answered with a step-up error (a custom sign-in UI's job): the pending
 * token and what the step needs. For MFA the app enrols a TOTP factor or
 * challenges the user's factor first, as the WorkOS docs' examples do. */
static void step_up_page(struct hx_app *app, const json_t *reply, struct reply *r)
{
    const char *code = json_string_value(json_object_get(reply, "code"));
    const char *pending = json_string_value(json_object_get(reply, "pending_authentication_token"));
    const char *user_id = json_string_value(json_object_get(json_object_get(reply, "user"), "id"));
    const json_t *factors = json_object_get(reply, "authentication_factors");
    const char *factor = json_string_value(json_object_get(json_array_get(factors, 0), "id"));
    json_t *page = json_pack("{s:s, s:s, s:s?}", "page", "sign-in", "needs", code,
                             "pending_authentication_token", pending);
    long status = 0;
    json_t *made = NULL;
    if (strcmp(code, "email_verification_required") == 0) {
        json_object_set(page, "email", json_object_get(reply, "email"));
    } else if (strcmp(code, "organization_selection_required") == 0) {
        json_object_set(page, "organizations", json_object_get(reply, "organizations"));
    } else if (strcmp(code, "mfa_enrollment") == 0 && user_id) {
        char path[300];
        snprintf(path, sizeof(path), "/user_management/users/%s/auth_factors", user_id);
        made = idp_api(app, path, json_pack("{s:s}", "type", "totp"), &status);
        json_t *made_factor = json_object_get(made, "authentication_factor");
        json_object_set(page, "totp_secret",
                        json_object_get(json_object_get(made_factor, "totp"), "secret"));
        json_object_set(page, "authentication_challenge_id",
                        json_object_get(json_object_get(made, "authentication_challenge"), "id"));
    } else if (strcmp(code, "mfa_challenge") == 0 && factor) {
        char path[300];
        snprintf(path, sizeof(path), "/auth/factors/%s/challenge", factor);
        made = idp_api(app, path, json_object(), &status);
        json_object_set(page, "authentication_challenge_id", json_object_get(made, "id"));
    }
    note(app, "sign-in needs another step: %s", code);
    reply_json(r, 200, page);
    json_decref(made);
}

/* The end of every sign-in: the session cookie and a redirect to where the
 * user was going, the next step's page, or the error. */
static void finish_sign_in(struct hx_app *app, const struct hx_app_knobs *k,
                           struct refresh_result *res, const char *what, const char *return_path,
                           int fail_status, struct reply *r)
{
    const char *code = res ? json_string_value(json_object_get(res->reply, "code")) : NULL;
    if (res && res->status == 403 && code &&
        json_string_value(json_object_get(res->reply, "pending_authentication_token"))) {
        step_up_page(app, res->reply, r);
        return;
    }
    if (!res || res->kind != 0) {
        note(app, "%s failed: %ld %s", what, res ? res->status : 0L, res ? res->error : "");
        reply_json(r, fail_status,
                   json_pack("{s:s, s:s?}", "error", "Couldn't sign in", "code", code));
        return;
    }
    char *seal = seal_session(k, res->access_token, res->refresh_token, res->user,
                              res->impersonator, app_now(app, k));
    reply_redirect(r, return_path && return_path[0] == '/' ? return_path : "/dashboard");
    if (k->drop_session_cookie)
        note(app, "sign-in: the framework dropped the session Set-Cookie (production build bug)");
    else if (seal)
        set_session_cookie(app, k, r, seal);
    note(app, "signed in %s", json_string_value(json_object_get(res->user, "email")));
    free(seal);
}

/* A form field of a POST body (application/x-www-form-urlencoded). */
static char *form_field(const char *body, size_t len, const char *name)
{
    char value[4096];
    int n = body ? mg_get_var(body, len, name, value, sizeof(value)) : -1;
    return n >= 0 ? strdup(value) : NULL;
}

/* A custom sign-in UI (AuthKit without the hosted page), POST forms:
 *   /login/password            email, password          -> password grant
 *   /login/magic-auth          email                    -> createMagicAuth (code by e-mail)
 *   /login/magic-auth/verify   email, code              -> magic-auth grant
 *   /login/continue            pending_authentication_token and code (email
 *                              verification), organization_id, or
 *                              authentication_challenge_id + code (TOTP)
 * Each ends as the callback does, or with the next step's page. */
static void route_sign_in_form(struct hx_app *app, const struct hx_app_knobs *k, const char *path,
                               const char *body, size_t len, struct reply *r)
{
    static const char *const fields[] = {"email", "password", "code", "pending_authentication_token",
                                         "organization_id", "authentication_challenge_id"};
    char *f[6];
    for (int i = 0; i < 6; i++)
        f[i] = form_field(body, len, fields[i]);
    const char *email = f[0], *password = f[1], *code = f[2], *pending = f[3], *org = f[4],
               *challenge = f[5];
    json_t *grant = NULL;
    if (strcmp(path, "/login/password") == 0 && email && password) {
        grant = json_pack("{s:s, s:s, s:s}", "grant_type", "password", "email", email, "password",
                          password);
    } else if (strcmp(path, "/login/magic-auth") == 0 && email) {
        long status = 0;
        json_decref(idp_api(app, "/user_management/magic_auth", json_pack("{s:s}", "email", email),
                            &status));
        note(app, "magic auth code requested for %s: %ld", email, status);
        reply_json(r, status == 201 ? 200 : 500,
                   json_pack("{s:s, s:s}", "page", "check-your-email", "email", email));
    } else if (strcmp(path, "/login/magic-auth/verify") == 0 && email && code) {
        grant = json_pack("{s:s, s:s, s:s}", "grant_type",
                          "urn:workos:oauth:grant-type:magic-auth:code", "email", email, "code", code);
    } else if (strcmp(path, "/login/continue") == 0 && pending && org) {
        grant = json_pack("{s:s, s:s, s:s}", "grant_type",
                          "urn:workos:oauth:grant-type:organization-selection",
                          "pending_authentication_token", pending, "organization_id", org);
    } else if (strcmp(path, "/login/continue") == 0 && pending && challenge && code) {
        grant = json_pack("{s:s, s:s, s:s, s:s}", "grant_type", "urn:workos:oauth:grant-type:mfa-totp",
                          "pending_authentication_token", pending, "authentication_challenge_id",
                          challenge, "code", code);
    } else if (strcmp(path, "/login/continue") == 0 && pending && code) {
        grant = json_pack("{s:s, s:s, s:s}", "grant_type",
                          "urn:workos:oauth:grant-type:email-verification:code",
                          "pending_authentication_token", pending, "code", code);
    } else {
        reply_json(r, 400, json_pack("{s:s}", "error", "missing form fields for this sign-in page"));
    }
    if (grant) {
        struct refresh_result *res = authenticate(app, k, grant);
        finish_sign_in(app, k, res, path + 1, "/dashboard", 401, r);
        result_free(res);
    }
    json_decref(grant);
    for (int i = 0; i < 6; i++)
        free(f[i]);
}

static void route_callback(struct hx_app *app, const struct hx_app_knobs *k, struct instance *inst,
                           struct mg_connection *conn, struct reply *r)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    char *code = url_param(ri, "code");
    char *state = url_param(ri, "state");
    char *cookie = read_cookie(conn, "wos-auth-verifier");
    unsigned char *state_data = NULL;
    size_t state_len = 0;
    int64_t now = app_now(app, k);
    json_t *state_json = NULL;
    if (k->state_store == HX_STATE_MEMORY) {
        pthread_mutex_lock(&inst->lock);
        state_json = state ? json_incref(json_object_get(inst->states, state)) : NULL;
        if (state_json)
            json_object_del(inst->states, state);
        pthread_mutex_unlock(&inst->lock);
        if (!code || !state_json) {
            note(app, "callback: %s", !code ? "no code"
                                            : "Invalid OAuth state: this process never saw it "
                                              "(state kept in memory)");
            reply_json(r, 400, json_pack("{s:s}", "error", "Invalid OAuth state"));
            goto out;
        }
    } else if (!code || !state || !cookie || strcmp(state, cookie) != 0 ||
               unseal(k, state, now, &state_data, &state_len, NULL) ||
               !(state_json = json_loadb((char *)state_data, state_len, 0, NULL))) {
        note(app, "callback: %s", !code ? "no code" : !cookie ? "no PKCE cookie" : "state does not match the PKCE cookie");
        reply_json(r, 500, json_pack("{s:s}", "error", "Couldn't sign in"));
        goto out;
    }
    json_t *body = json_pack("{s:s, s:s, s:s}", "grant_type", "authorization_code", "code", code,
                             "code_verifier",
                             json_string_value(json_object_get(state_json, "codeVerifier")));
    struct refresh_result *res = authenticate(app, k, body);
    json_decref(body);
    /* As authkit-nextjs's callback route: the PKCE cookie is deleted first,
     * then the session is saved. */
    if (k->state_store == HX_STATE_COOKIE)
        reply_header(r, "Set-Cookie", "wos-auth-verifier=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax");
    finish_sign_in(app, k, res, "code exchange",
                   json_string_value(json_object_get(state_json, "returnPathname")), 500, r);
    result_free(res);
out:
    json_decref(state_json);
    free(state_data);
    free(code);
    free(state);
    free(cookie);
}

static void route_logout(struct hx_app *app, const struct hx_app_knobs *k,
                         struct mg_connection *conn, struct reply *r)
{
    struct session s;
    char why[256];
    char location[1024];
    char *sid = NULL;
    if (load_session(app, k, conn, &s, why, sizeof(why))) {
        json_t *claims = hx_token_claims(s.access_token);
        const char *v = json_string_value(json_object_get(claims, "sid"));
        sid = v ? strdup(v) : NULL;
        json_decref(claims);
        session_cleanup(&s);
    }
    char home[300];
    snprintf(home, sizeof(home), "%s/", current_origin);
    char *home_enc = encode(home);
    if (sid)
        snprintf(location, sizeof(location),
                 "%s/user_management/sessions/logout?session_id=%s&return_to=%s",
                 app->idp_public_url, sid, home_enc ? home_enc : "");
    else
        snprintf(location, sizeof(location), "/");
    reply_redirect(r, location);
    delete_session_cookie(app, k, r);
    note(app, "sign out%s", sid ? "" : " (no session)");
    free(sid);
    free(home_enc);
}

static void signed_in_body(struct reply *r, const struct session *s, const char *path)
{
    json_t *claims = hx_token_claims(s->access_token);
    reply_json(r, 200, json_pack("{s:b, s:s?, s:s?, s:s?, s:s}", "signed_in", 1, "email",
                                 json_string_value(json_object_get(s->user, "email")), "user_id",
                                 json_string_value(json_object_get(claims, "sub")), "session_id",
                                 json_string_value(json_object_get(claims, "sid")), "path", path));
    json_decref(claims);
}

/* A Convex-style backend (backend.c): the implicit one at /convex/query,
 * a named one at /backends/<name>/query; an unknown name is a 404. */
static void route_backend(struct hx_app *app, const char *path, struct mg_connection *conn,
                          struct reply *r)
{
    struct hx_backend *backend = NULL;
    if (strcmp(path, "/convex/query") == 0)
        backend = &app->backend;
    for (int i = 0; i < app->named_count && !backend; i++) {
        const char *name = app->named[i].component;
        size_t len = strlen(name);
        if (strncmp(path + 10, name, len) == 0 && strcmp(path + 10 + len, "/query") == 0)
            backend = &app->named[i];
    }
    if (!backend) {
        reply_json(r, 404, json_pack("{s:s, s:s}", "error", "not_found", "message",
                                     "no backend is served here"));
        return;
    }
    json_t *body = NULL;
    int status = hx_backend_query(backend, mg_get_header(conn, "Authorization"), &body);
    reply_json(r, status, body);
}

/* The balancer in front of the instances (app->lock held): a step may
 * name its instance (X-Fakeidp-Instance, 1-based); otherwise round-robin,
 * sticky (the "lb-instance" cookie it sets, as an ALB's AWSALB), or seeded
 * random. */
static int choose_instance(struct hx_app *app, struct mg_connection *conn, bool *set_cookie)
{
    int n = (int)app->knobs.instances;
    const char *pinned = mg_get_header(conn, "X-Fakeidp-Instance");
    if (pinned && atoi(pinned) >= 1 && atoi(pinned) <= n)
        return atoi(pinned) - 1;
    if (app->knobs.balancer == HX_LB_STICKY) {
        char *lb = read_cookie(conn, "lb-instance");
        int chosen = lb ? atoi(lb) : 0;
        free(lb);
        if (chosen >= 1 && chosen <= n)
            return chosen - 1;
        *set_cookie = true;
    }
    if (app->knobs.balancer == HX_LB_RANDOM) {
        app->rng ^= app->rng << 13;
        app->rng ^= app->rng >> 7;
        app->rng ^= app->rng << 17;
        return (int)(app->rng % (uint64_t)n);
    }
    return (int)(app->next_instance++ % (unsigned)n);
}

/* Cache-Control on responses that read or write the session. */
static void cache_headers(const struct hx_app_knobs *k, struct reply *r)
{
    if (k->cache_control == HX_CC_PUBLIC)
        reply_header(r, "Cache-Control", "public, s-maxage=60");
    else if (k->cache_control == HX_CC_PRIVATE) {
        reply_header(r, "Cache-Control", "private, no-store");
        reply_header(r, "Vary", "Cookie");
    }
}

static int handle(struct mg_connection *conn, void *data)
{
    struct hx_app *app = data;
    const struct mg_request_info *ri = mg_get_request_info(conn);
    const char *path = ri->local_uri ? ri->local_uri : "/";
    struct reply r = {0};
    bool lb_cookie = false;
    pthread_mutex_lock(&app->lock);
    app->active_requests++;
    int index = choose_instance(app, conn, &lb_cookie);
    struct instance *inst = &app->instances[index];
    struct hx_app_knobs k = inst->knobs;
    pthread_mutex_unlock(&app->lock);
    request_begin(app, conn, index, (int)k.instances);
    request_origin(app, &k, conn);
    if (lb_cookie)
        reply_header(&r, "Set-Cookie", "lb-instance=%d; Path=/; HttpOnly; SameSite=Lax", index + 1);
    /* The body: kept for the sign-in forms, drained for the rest. */
    char form[16384];
    size_t form_len = 0;
    int got;
    while ((got = mg_read(conn, form + form_len, sizeof(form) - 1 - form_len)) > 0)
        if ((form_len += (size_t)got) == sizeof(form) - 1)
            form_len = 0; /* larger than any form here: not a sign-in form */
    form[form_len] = '\0';
    bool to_backend = strcmp(path, "/convex/query") == 0 || strncmp(path, "/backends/", 10) == 0;
    if (!password_ok(&k) && k.password_check == HX_PASSWORD_PER_REQUEST && !to_backend) {
        /* authkit-nextjs middleware throws on every request. */
        note(app, "500: You must provide a valid cookie password that is at least 32 characters "
                  "in the environment variables.");
        reply_json(&r, 500, json_pack("{s:s}", "error",
                                      "You must provide a valid cookie password that is at least "
                                      "32 characters in the environment variables."));
    } else if (strcmp(path, "/") == 0) {
        reply_json(&r, 200, json_pack("{s:s}", "page", "home"));
    } else if (strcmp(path, "/spa") == 0 || strncmp(path, "/spa/", 5) == 0) {
        /* The single-page app's static shell: it signs in in the browser. */
        reply_json(&r, 200, json_pack("{s:s}", "page", "spa"));
    } else if (strcmp(path, "/login") == 0) {
        route_login(app, &k, inst, conn, &r);
    } else if (strncmp(path, "/login/", 7) == 0 && strcmp(ri->request_method, "POST") == 0) {
        route_sign_in_form(app, &k, path, form, form_len, &r);
    } else if (strcmp(path, "/callback") == 0) {
        route_callback(app, &k, inst, conn, &r);
        cache_headers(&k, &r);
    } else if (strcmp(path, "/logout") == 0) {
        route_logout(app, &k, conn, &r);
    } else if (to_backend) {
        route_backend(app, path, conn, &r);
    } else {
        struct session s;
        char *force = url_param(ri, "force");
        bool is_token = strcmp(path, "/token") == 0;
        enum auth a = middleware(app, &k, inst, conn, &r, &s,
                                 is_token && force && strcmp(force, "1") == 0);
        free(force);
        if (a == SIGNED_IN && is_token) {
            reply_json(&r, 200, json_pack("{s:s}", "accessToken", s.access_token));
        } else if (a == SIGNED_IN) {
            signed_in_body(&r, &s, path);
        } else if (is_token || strncmp(path, "/api/", 5) == 0) {
            reply_json(&r, 401, json_pack("{s:b, s:s}", "signed_in", 0, "error", "Unauthorized"));
        } else {
            char *enc = encode(path);
            char location[1200];
            snprintf(location, sizeof(location), "/login?returnPathname=%s", enc ? enc : "/");
            free(enc);
            reply_redirect(&r, location);
        }
        session_cleanup(&s);
        cache_headers(&k, &r);
    }
    /* The whole response in one write: CivetWeb's header functions send
     * every header line on its own (a system call and a packet apiece). */
    size_t body_len = r.body ? strlen(r.body) : 0;
    int status = r.status ? r.status : 500;
    const char *type = r.content_type[0] ? r.content_type : "text/plain";
#define APP_HEAD "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%.*s\r\n"
#define APP_HEAD_ARGS status, mg_get_response_code_text(conn, status), type, body_len, \
                      (int)r.headers_len, r.headers
    int head_len = snprintf(NULL, 0, APP_HEAD, APP_HEAD_ARGS);
    char *out = head_len > 0 ? malloc((size_t)head_len + body_len + 1) : NULL;
    if (out) {
        snprintf(out, (size_t)head_len + 1, APP_HEAD, APP_HEAD_ARGS);
        if (body_len)
            memcpy(out + head_len, r.body, body_len);
        mg_write(conn, out, (size_t)head_len + body_len);
        free(out);
    } else {
        mg_disable_connection_keep_alive(conn);
    }
#undef APP_HEAD
#undef APP_HEAD_ARGS
    free(r.body);
    hx_timeline_request_set(0);
    current_instance = -1;
    pthread_mutex_lock(&app->lock);
    if (--app->active_requests == 0)
        pthread_cond_broadcast(&app->idle);
    pthread_mutex_unlock(&app->lock);
    return r.status ? r.status : 500;
}

static int quiet(const struct mg_connection *conn, const char *message)
{
    (void)conn;
    (void)message;
    return 1;
}

/* Each instance's knobs (the app's, with its overrides), caches and
 * in-memory state, fresh: a (re)started process. */
static void init_caches(struct hx_app *app)
{
    char jwks_url[400];
    snprintf(jwks_url, sizeof(jwks_url), "%s/sso/jwks/%s", app->idp_url, app->client_id);
    for (int i = 0; i < HX_APP_MAX_INSTANCES; i++) {
        struct instance *inst = &app->instances[i];
        inst->knobs = app->knobs;
        const json_t *o = json_array_get(app->overrides, (size_t)i);
        if (json_is_object(o))
            hx_app_knobs_apply(&inst->knobs, o, NULL, NULL); /* checked by lint */
        inst->knobs.instances = app->knobs.instances;
        inst->knobs.balancer = app->knobs.balancer;
        inst->states = json_object();
        inst->refreshes = inst->refresh_failures = 0;
        hx_jwks_cache_init(&inst->jwks, jwks_url, inst->knobs.jwks_cache_ms,
                           inst->knobs.jwks_refetch_unknown_kid, inst->knobs.jwks_cooldown_ms);
    }
    /* The implicit backend, from the convex_* knobs. */
    struct hx_backend_settings bs;
    hx_backend_settings_defaults(&bs);
    bs.jwks_cache_ms = app->knobs.convex_jwks_cache_ms;
    bs.refetch_unknown_kid = app->knobs.convex_refetch_unknown_kid;
    bs.clock_offset_ms = app->knobs.convex_clock_offset_ms;
    bs.leeway_ms = app->knobs.convex_leeway_ms;
    char component[96];
    snprintf(component, sizeof(component), "%s%sbackend", app->name, app->name[0] ? "/" : "");
    hx_backend_init(&app->backend, component, false, &bs, app->convex_providers, jwks_url,
                    app->clock, app->timeline);
}

static void cleanup_caches(struct hx_app *app)
{
    for (int i = 0; i < HX_APP_MAX_INSTANCES; i++) {
        hx_jwks_cache_cleanup(&app->instances[i].jwks);
        json_decref(app->instances[i].states);
        app->instances[i].states = NULL;
    }
    hx_backend_cleanup(&app->backend);
}

/* The world's backends this app serves, fresh (a variant's start); they
 * keep their state when the app restarts (the app step): they are other
 * servers. */
static void named_backends_cleanup(struct hx_app *app)
{
    for (int i = 0; i < app->named_count; i++)
        hx_backend_cleanup(&app->named[i]);
    app->named_count = 0;
}

static void named_backends_init(struct hx_app *app, const struct hx_app_config *config)
{
    char jwks_url[400];
    snprintf(jwks_url, sizeof(jwks_url), "%s/sso/jwks/%s", app->idp_url, app->client_id);
    for (int i = 0; i < config->backend_count && i < HX_MAX_BACKENDS; i++) {
        const struct hx_backend_spec *spec = &config->backends[i];
        hx_backend_init(&app->named[i], spec->name, true, &spec->settings, spec->providers,
                        jwks_url, app->clock, app->timeline);
        app->named_count = i + 1;
    }
}

/* The app's refusal to start (password_check "startup" without a valid
 * password), as the fixed build reports it. */
static enum idp_status refuses_to_start(const struct hx_app_knobs *k, struct idp_error *err)
{
    if (!password_ok(k) && k->password_check == HX_PASSWORD_AT_START)
        return idp_fail(err, IDP_INVALID,
                        "WORKOS_COOKIE_PASSWORD %s: it must be at least 32 characters (refusing to start)",
                        k->cookie_password_set ? "is too short" : "is not set");
    return IDP_OK;
}

/* Takes config's knobs, addresses, credentials, clock and timeline (lock
 * held, or before the server starts); empty caches and counters. */
static void take_config(struct hx_app *app, const struct hx_app_config *config)
{
    app->knobs = config->knobs;
    app->clock = config->clock;
    app->timeline = config->timeline;
    snprintf(app->idp_url, sizeof(app->idp_url), "%s", config->idp_url);
    snprintf(app->idp_public_url, sizeof(app->idp_public_url), "%s",
             config->idp_public_url ? config->idp_public_url : config->idp_url);
    snprintf(app->client_id, sizeof(app->client_id), "%s", config->client_id);
    snprintf(app->api_key, sizeof(app->api_key), "%s", config->api_key);
    snprintf(app->public_host, sizeof(app->public_host), "%s",
             config->public_host ? config->public_host : "localhost");
    json_decref(app->convex_providers);
    app->convex_providers = config->convex_providers ? json_deep_copy(config->convex_providers)
                                                     : json_array();
    json_decref(app->overrides);
    app->overrides = json_is_array(config->instance_overrides)
                         ? json_deep_copy(config->instance_overrides) : json_array();
    snprintf(app->name, sizeof(app->name), "%s", config->name ? config->name : "");
    app->rng = config->seed ? config->seed : 0x9e3779b97f4a7c15ULL;
    app->next_instance = 0;
    app->refreshes = app->refresh_failures = app->oversize_cookies = 0;
    app->idp_keep_alive = config->idp_keep_alive;
    app->wait_quiet = config->idp_wait_quiet;
    app->quiet_ctx = config->idp_quiet_ctx;
    if (!app->idp_keep_alive)
        idle_clients_close(app);
    if (app->port)
        snprintf(app->origin, sizeof(app->origin), "http://%s:%d", app->public_host, app->port);
    init_caches(app);
    named_backends_cleanup(app);
    named_backends_init(app, config);
}

struct hx_app *hx_app_start(const struct hx_app_config *config, struct idp_error *err)
{
    if (refuses_to_start(&config->knobs, err))
        return NULL;
    struct hx_app *app = calloc(1, sizeof(*app));
    if (!app) {
        idp_fail(err, IDP_NOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&app->lock, NULL);
    pthread_cond_init(&app->idle, NULL);
    for (int i = 0; i < HX_APP_MAX_INSTANCES; i++) {
        pthread_mutex_init(&app->instances[i].lock, NULL);
        pthread_cond_init(&app->instances[i].settled, NULL);
    }
    take_config(app, config);
    const char *options[] = {"listening_ports", "127.0.0.1:0", "num_threads", "32", "tcp_nodelay", "1",
                             "enable_keep_alive", "yes", "request_timeout_ms", "30000", NULL};
    struct mg_callbacks callbacks = {0};
    callbacks.log_message = quiet;
    app->ctx = mg_start(&callbacks, app, options);
    struct mg_server_port port = {0};
    if (!app->ctx || mg_get_server_ports(app->ctx, 1, &port) < 1) {
        idp_fail(err, IDP_IO, "the reference app cannot listen on 127.0.0.1");
        hx_app_stop(&app);
        return NULL;
    }
    app->port = port.port;
    snprintf(app->origin, sizeof(app->origin), "http://%s:%d", app->public_host, app->port);
    mg_set_request_handler(app->ctx, "/", handle, app);
    return app;
}

/* Waits (lock held) until no request is in flight; false after seconds. */
static bool wait_idle(struct hx_app *app, int seconds)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += seconds;
    while (app->active_requests > 0)
        if (pthread_cond_timedwait(&app->idle, &app->lock, &until) != 0 && app->active_requests > 0)
            break;
    return app->active_requests == 0;
}

bool hx_app_idle(struct hx_app *app)
{
    pthread_mutex_lock(&app->lock);
    bool idle = wait_idle(app, 2);
    pthread_mutex_unlock(&app->lock);
    return idle;
}

enum idp_status hx_app_reuse(struct hx_app *app, const struct hx_app_config *config,
                             struct idp_error *err)
{
    enum idp_status status = refuses_to_start(&config->knobs, err);
    if (status)
        return status;
    pthread_mutex_lock(&app->lock);
    if (!wait_idle(app, 2)) {
        pthread_mutex_unlock(&app->lock);
        return idp_fail(err, IDP_IO, "requests of the previous run are still in flight");
    }
    cleanup_caches(app);
    take_config(app, config);
    pthread_mutex_unlock(&app->lock);
    return IDP_OK;
}

void hx_app_stop(struct hx_app **papp)
{
    struct hx_app *app = *papp;
    if (!app)
        return;
    if (app->ctx)
        idp_mg_stop_fast(app->ctx, app->port, 0);
    cleanup_caches(app);
    named_backends_cleanup(app);
    idle_clients_close(app);
    for (int i = 0; i < HX_APP_MAX_INSTANCES; i++) {
        pthread_mutex_destroy(&app->instances[i].lock);
        pthread_cond_destroy(&app->instances[i].settled);
    }
    json_decref(app->convex_providers);
    json_decref(app->overrides);
    pthread_cond_destroy(&app->idle);
    pthread_mutex_destroy(&app->lock);
    free(app);
    *papp = NULL;
}

void hx_app_cookie_password(struct hx_app *app, char *out, size_t size)
{
    pthread_mutex_lock(&app->lock);
    snprintf(out, size, "%s", app->knobs.cookie_password);
    pthread_mutex_unlock(&app->lock);
}

int hx_app_port(const struct hx_app *app)
{
    return app->port;
}

const char *hx_app_origin(const struct hx_app *app)
{
    return app->origin;
}

void hx_app_describe_clocks(struct hx_app *app, char *out, size_t size)
{
    out[0] = '\0';
    size_t used = 0;
    const char *label = app->name[0] ? app->name : "app";
    pthread_mutex_lock(&app->lock);
    int n = (int)app->knobs.instances;
    for (int i = 0; i < n && used < size; i++) {
        int64_t off = app->instances[i].knobs.clock_offset_ms;
        if (!off)
            continue;
        char d[32], who[96];
        idp_duration_format(off < 0 ? -off : off, d);
        if (n > 1)
            snprintf(who, sizeof(who), "%s#%d", label, i + 1);
        else
            snprintf(who, sizeof(who), "%s", label);
        used += (size_t)snprintf(out + used, size - used, "%s%s %s%s", used ? ", " : "", who,
                                 off < 0 ? "-" : "+", d);
    }
    /* Its backends: the implicit one, then the world's it serves. */
    for (int i = -1; i < app->named_count && used < size; i++) {
        char part[200];
        hx_backend_describe_clock(i < 0 ? &app->backend : &app->named[i], part, sizeof(part));
        if (part[0])
            used += (size_t)snprintf(out + used, size - used, "%s%s", used ? ", " : "", part);
    }
    pthread_mutex_unlock(&app->lock);
}

void hx_app_stats(struct hx_app *app, json_t *out)
{
    pthread_mutex_lock(&app->lock);
    json_object_set_new(out, "refreshes", json_integer(app->refreshes));
    json_object_set_new(out, "refresh_failures", json_integer(app->refresh_failures));
    json_object_set_new(out, "oversize_cookies", json_integer(app->oversize_cookies));
    unsigned jwks = 0;
    for (int i = 0; i < HX_APP_MAX_INSTANCES; i++)
        jwks += app->instances[i].jwks.fetches;
    json_object_set_new(out, "jwks_fetches", json_integer(jwks));
    json_t *implicit = hx_backend_stats(&app->backend);
    json_object_set(out, "convex_jwks_fetches", json_object_get(implicit, "jwks_fetches"));
    json_decref(implicit);
    json_t *each = json_array();
    for (int i = 0; i < (int)app->knobs.instances; i++)
        json_array_append_new(each, json_pack("{s:i, s:i, s:i}", "refreshes",
                                              (int)app->instances[i].refreshes, "refresh_failures",
                                              (int)app->instances[i].refresh_failures, "jwks_fetches",
                                              (int)app->instances[i].jwks.fetches));
    json_object_set_new(out, "instances", each);
    pthread_mutex_unlock(&app->lock);
}

json_t *hx_app_backend_stats(struct hx_app *app, const char *name)
{
    json_t *stats = NULL;
    pthread_mutex_lock(&app->lock);
    for (int i = 0; i < app->named_count && !stats; i++)
        if (strcmp(app->named[i].component, name) == 0)
            stats = hx_backend_stats(&app->named[i]);
    pthread_mutex_unlock(&app->lock);
    return stats;
}

enum idp_status hx_app_reconfigure(struct hx_app *app, const json_t *changes, const char **bad_key,
                                   struct idp_error *err)
{
    pthread_mutex_lock(&app->lock);
    struct hx_app_knobs k = app->knobs;
    enum idp_status status = hx_app_knobs_apply(&k, changes, bad_key, err);
    if (!status) {
        app->knobs = k;
        const json_t *instances = json_object_get(changes, "instances");
        if (instances) {
            json_decref(app->overrides);
            app->overrides = json_is_array(instances) ? json_deep_copy(instances) : json_array();
        }
        /* A restarted process starts with empty caches and memory. */
        cleanup_caches(app);
        init_caches(app);
    }
    pthread_mutex_unlock(&app->lock);
    return status;
}
