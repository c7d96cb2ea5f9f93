/* The reference app's lifecycle: start, reuse between variants, restart
 * with new knobs (hx_app_reconfigure), stop; its instances (each with the
 * app's knobs and its overrides, a JWKS cache and in-memory state) and the
 * balancer in front of them; its backends; counters for expectations.
 * The other modules (refapp_internal.h): refapp_knobs.c (the knob table),
 * refapp_routes.c (the routes and the request handler), refapp_session.c
 * (the sealed session and the middleware), refapp_idp.c (calls to fakeidp),
 * refapp_request.c (one request's context, reply and timeline lines),
 * refapp_balancer.c (the balancer and the count of requests in flight). */
#include <civetweb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "duration.h"
#include "mg_lifecycle.h"
#include "refapp_internal.h"

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
    if (!refapp_password_ok(k) && k->password_check == HX_PASSWORD_AT_START)
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
        refapp_idle_clients_close(app);
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
    struct mg_init_data init = {.callbacks = &callbacks, .user_data = app, .configuration_options = options};
    app->ctx = idp_mg_start(&init, NULL);
    struct mg_server_port port = {0};
    if (!app->ctx || mg_get_server_ports(app->ctx, 1, &port) < 1) {
        idp_fail(err, IDP_IO, "the reference app cannot listen on 127.0.0.1");
        hx_app_stop(&app);
        return NULL;
    }
    app->port = port.port;
    snprintf(app->origin, sizeof(app->origin), "http://%s:%d", app->public_host, app->port);
    mg_set_request_handler(app->ctx, "/", refapp_handle, app);
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
    refapp_idle_clients_close(app);
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
