/* Targets: what a variant runs against. A reference target is the embedded
 * reference app (or the SPA model) with an in-process fakeidp on ephemeral
 * ports; an external target is the user's app, optionally started by the
 * harness under libfaketime, with a fakeidp that runs elsewhere and is
 * driven over its admin API. The runner calls hx_target_start before the
 * steps and hx_target_stop after the expectations. */
#include "target.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "defaults.h"
#include "apps.h"
#include "http_client.h"

/* Copies value with ${NAME} in every string replaced by the environment
 * variable NAME, so one scenario file serves any ports. An unset variable,
 * or a string that would outgrow HX_TARGET_STRING_MAX, is an error
 * (described in why); nothing is cut. */
#define HX_TARGET_STRING_MAX 65536

static json_t *expand_env(const json_t *value, char *why, size_t size)
{
    if (json_is_string(value)) {
        const char *s = json_string_value(value);
        char *out = malloc(HX_TARGET_STRING_MAX);
        if (!out) {
            snprintf(why, size, "out of memory");
            return json_string("");
        }
        size_t o = 0;
        bool fits = true;
        while (*s && fits) {
            const char *end = s[0] == '$' && s[1] == '{' ? strchr(s, '}') : NULL;
            const char *piece = s;
            size_t len = 1;
            if (end) {
                char name[128];
                snprintf(name, sizeof(name), "%.*s", (int)(end - s - 2), s + 2);
                piece = getenv(name);
                if (!piece) {
                    snprintf(why, size, "the environment variable %s is not set", name);
                    piece = "";
                }
                len = strlen(piece);
                s = end + 1;
            } else {
                s++;
            }
            fits = o + len < HX_TARGET_STRING_MAX;
            if (fits) {
                memcpy(out + o, piece, len);
                o += len;
            }
        }
        if (!fits)
            snprintf(why, size, "a target string is longer than %d bytes once ${...} is expanded",
                     HX_TARGET_STRING_MAX - 1);
        out[o] = '\0';
        json_t *copy = json_string(out);
        free(out);
        return copy;
    }
    if (json_is_object(value)) {
        json_t *copy = json_object();
        const char *key;
        json_t *member;
        json_object_foreach((json_t *)value, key, member)
            json_object_set_new(copy, key, expand_env(member, why, size));
        return copy;
    }
    if (json_is_array(value)) {
        json_t *copy = json_array();
        size_t i;
        json_t *item;
        json_array_foreach(value, i, item) json_array_append_new(copy, expand_env(item, why, size));
        return copy;
    }
    return json_deep_copy(value);
}

static json_t *idp_config_for(const json_t *doc, const char *app_host)
{
    json_t *idp = json_object_get(doc, "idp");
    json_t *config = idp ? json_deep_copy(idp) : json_object();
    if (!json_object_get(config, "clients") && json_object_get(doc, "apps")) {
        json_object_set_new(config, "clients", hx_run_apps_clients(json_object_get(doc, "apps")));
    } else if (!json_object_get(config, "clients")) {
        char http[200], https[200];
        snprintf(http, sizeof(http), "http://%s:*", app_host);
        snprintf(https, sizeof(https), "https://%s:*", app_host);
        json_t *patterns = json_pack("[s,s,s,s]", http, https, "http://localhost:*", "http://127.0.0.1:*");
        json_t *client = json_pack("{s:O, s:O, s:O}", "redirect_uris", patterns,
                                   "allowed_origins", patterns, "logout_uris", patterns);
        /* target.client_id names the app's client (fakeidp's default one otherwise). */
        const json_t *id = json_object_get(json_object_get(doc, "target"), "client_id");
        if (json_is_string(id))
            json_object_set(client, "id", (json_t *)id);
        json_object_set_new(config, "clients", json_pack("[o]", client));
        json_decref(patterns);
    }
    return config;
}

/* The user's app and a fakeidp elsewhere. */
/* Starts an external app from a start block, on the run's clock; a
 * relative cwd is taken from the scenario file's folder. */
static struct hx_external *launch(struct hx_run *run, const json_t *start, struct idp_error *err)
{
    char base_dir[1024];
    snprintf(base_dir, sizeof(base_dir), "%s", run->scenario->file);
    char *slash = strrchr(base_dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(base_dir, sizeof(base_dir), ".");
    struct hx_external_env env = {.idp_url = run->idp_url, .client_id = run->client_id,
                                  .api_key = run->api_key, .app_url = run->app_origin,
                                  .virtual_now_ms = hx_run_now(run), .base_dir = base_dir,
                                  .adopt_orphans = run->adopt_orphans};
    return hx_external_start(start, &env, &run->timeline, err);
}

static bool start_external(struct hx_run *run, const json_t *target)
{
    const char *idp_url = json_string_value(json_object_get(target, "idp_url"));
    const char *token = json_string_value(json_object_get(target, "admin_token"));
    snprintf(run->idp_url, sizeof(run->idp_url), "%s", idp_url ? idp_url : IDP_DEFAULT_URL);
    snprintf(run->idp_public_url, sizeof(run->idp_public_url), "%s", run->idp_url);
    snprintf(run->admin_token, sizeof(run->admin_token), "%s", token ? token : "");
    const char *cid = json_string_value(json_object_get(target, "client_id"));
    const char *key = json_string_value(json_object_get(target, "api_key"));
    snprintf(run->client_id, sizeof(run->client_id), "%s", cid ? cid : IDP_DEFAULT_CLIENT_ID);
    snprintf(run->api_key, sizeof(run->api_key), "%s", key ? key : IDP_DEFAULT_API_KEY);
    snprintf(run->app_origin, sizeof(run->app_origin), "%s",
             json_string_value(json_object_get(target, "url")));
    /* An external fake keeps its own clock and state: reset it, and bring
     * its clock to this run's start unless the app runs on the real clock
     * (started by hand, no faketime). */
    long status = 0;
    char why[256] = "";
    json_decref(hx_run_admin_why(run, "POST", "/_fakeidp/reset", NULL, &status, why, sizeof(why)));
    if (status != 200) {
        if (status == 0)
            hx_run_broken(run, "cannot reach fakeidp at %s: %s", run->idp_url, why);
        else
            hx_run_broken(run, "fakeidp at %s refused the reset: HTTP %ld%s", run->idp_url, status,
                          status == 401 ? " (check target.admin_token)" : "");
        return false;
    }
    const json_t *freeze_knob = json_object_get(target, "freeze_clock");
    const json_t *start = json_object_get(target, "start");
    if (!freeze_knob || json_is_true(freeze_knob)) {
        /* An app started by hand under `fakeidp exec` follows the clock
         * about 20 ms later: wait for its acknowledgement (up to 1 s, the
         * first time, to learn whether there is one). */
        uint64_t since = start ? 0 : hx_run_journal_next(run);
        json_t *freeze = json_pack("{s:b, s:I}", "freeze", 1, "set", (json_int_t)run->start_ms);
        json_decref(hx_run_admin(run, "POST", "/_fakeidp/clock", freeze, NULL));
        json_decref(freeze);
        if (!start)
            hx_run_follow(run, since, 1000);
    } else {
        json_t *now = hx_run_admin(run, "GET", "/_fakeidp/clock", NULL, NULL);
        idp_clock_freeze(&run->clock, false);
        idp_clock_set(&run->clock, json_integer_value(json_object_get(now, "now_ms")));
        run->start_ms = run->timeline.start_ms = hx_run_now(run);
        json_decref(now);
    }
    if (start) {
        struct idp_error err = {0};
        run->external = launch(run, start, &err);
        if (!run->external)
            snprintf(run->start_error, sizeof(run->start_error), "%s", err.message);
    }
    return true;
}

bool hx_target_restart(struct hx_run *run, const json_t *env, char *why, size_t why_size)
{
    const json_t *start = json_object_get(run->owned_target, "start");
    if (!run->external || !start) {
        snprintf(why, why_size, "restart_app restarts an external app that the harness started "
                                "(a target with \"start\")");
        return false;
    }
    json_t *changed = json_deep_copy(start);
    if (json_object_size(env)) {
        json_t *e = json_object_get(changed, "env");
        if (!json_is_object(e))
            json_object_set_new(changed, "env", e = json_object());
        json_object_update(e, (json_t *)env);
    }
    hx_external_stop(&run->external);
    struct idp_error err = {0};
    run->external = launch(run, changed, &err);
    json_decref(changed);
    if (!run->external) {
        snprintf(why, why_size, "the app did not start again: %s", err.message);
        return false;
    }
    return true;
}

struct hx_kept {
    struct idp_server *idp;
    struct hx_app *app;
    unsigned variants; /* run in this world so far */
};

struct hx_kept *hx_kept_new(void)
{
    return calloc(1, sizeof(struct hx_kept));
}

void hx_kept_free(struct hx_kept **pkept)
{
    struct hx_kept *world = *pkept;
    if (!world)
        return;
    hx_http_client_thread_close(); /* an idle kept-alive connection holds a server thread */
    hx_app_stop(&world->app);
    idp_server_stop(&world->idp);
    free(world);
    *pkept = NULL;
}

/* The world's fakeidp, reset for this run, or a new one (kept in the world
 * when there is one). A fakeidp that cannot be reset is replaced. */
static struct idp_server *world_idp(struct hx_run *run, const struct idp_server_options *so,
                                    struct idp_error *err)
{
    struct hx_kept *world = run->kept;
    /* The app first: a request of the previous run still in it could call
     * fakeidp after fakeidp's reset. One that does not finish (held by a
     * fault until fakeidp's reset releases it) costs the app its reuse. */
    if (world && world->app && !hx_app_idle(world->app)) {
        hx_run_note(run, "runner", "the app was still busy: starting a new one");
        hx_app_stop(&world->app);
    }
    if (world && world->idp) {
        struct idp_error why = {0};
        if (!idp_server_reuse(world->idp, so, &why))
            return world->idp;
        hx_run_note(run, "runner", "fakeidp could not be reset (%s): starting a new one", why.message);
        hx_http_client_thread_close();
        idp_server_stop(&world->idp);
    }
    struct idp_server *idp = idp_server_start(so, err);
    if (world)
        world->idp = idp;
    return idp;
}

/* The world's reference app, reset for this run, or a new one. An app that
 * refuses this configuration is stopped (as a new one would not start). */
static struct hx_app *world_app(struct hx_run *run, const struct hx_app_config *ac,
                                struct idp_error *err)
{
    struct hx_kept *world = run->kept;
    if (world && world->app) {
        struct idp_error why = {0};
        enum idp_status status = hx_app_reuse(world->app, ac, &why);
        if (!status)
            return world->app;
        hx_app_stop(&world->app);
        if (status == IDP_INVALID) {
            *err = why;
            return NULL;
        }
        hx_run_note(run, "runner", "the app could not be reset (%s): starting a new one", why.message);
    }
    struct hx_app *app = hx_app_start(ac, err);
    if (world)
        world->app = app;
    return app;
}

/* The reference app's Retry-After wait ends once the in-process fakeidp
 * has no request in flight (see refapp_idp.c). */
static bool idp_quiet(void *idp, int timeout_ms)
{
    return idp_server_wait_quiet(idp, timeout_ms);
}

/* Whether a fault in doc (configured or added by a step) may cut a request
 * without a complete reply: any string, or key, naming such an action, in
 * the JSON or in the compact form ("action=reset"). Errs on the side of
 * yes. */
static bool may_cut_requests(const json_t *doc)
{
    static const char *const cutting[] = {"reset", "close", "hang", "garbage", "truncated",
                                          "dribble", NULL};
    if (json_is_string(doc)) {
        const char *text = json_string_value(doc);
        for (int i = 0; cutting[i]; i++) {
            const char *at = strstr(text, cutting[i]);
            if (at && (at == text || at[-1] == '=' || at[-1] == ',') &&
                (at[strlen(cutting[i])] == '\0' || at[strlen(cutting[i])] == ','))
                return true;
        }
        return false;
    }
    const char *key;
    json_t *value;
    size_t i;
    if (json_is_object(doc)) {
        json_object_foreach((json_t *)doc, key, value) {
            for (int c = 0; cutting[c]; c++)
                if (strcmp(key, cutting[c]) == 0)
                    return true;
            if (may_cut_requests(value))
                return true;
        }
    }
    if (json_is_array(doc))
        json_array_foreach(doc, i, value) if (may_cut_requests(value)) return true;
    return false;
}

/* The reference app (or the SPA model's pages) with an in-process fakeidp. */
static bool start_reference(struct hx_run *run, const json_t *target,
                            const struct hx_runner_options *opt, uint64_t seed)
{
    const struct hx_browser_knobs *bk = &run->browser.knobs;
    struct idp_error err = {0};
    run->idp_config = idp_config_for(run->doc, bk->app_host);
    struct idp_server_options so = {.port = 0, .config = run->idp_config, .key = opt->key,
                                    .clock = &run->clock, .seed = seed, .threads = 24,
                                    .log = getenv("FAKEIDP_TRACE") ? stderr : NULL,
                                    .rotation_key_dir = opt->rotation_key_dir};
    run->idp = world_idp(run, &so, &err);
    if (!run->idp) {
        hx_run_broken(run, "fakeidp did not start: %s", err.message);
        return false;
    }
    snprintf(run->idp_url, sizeof(run->idp_url), "%s", idp_server_url(run->idp));
    snprintf(run->idp_public_url, sizeof(run->idp_public_url), "http://%s:%d", bk->idp_host,
             idp_server_port(run->idp));
    idp_server_credentials(run->idp, run->client_id, sizeof(run->client_id), run->api_key,
                           sizeof(run->api_key));
    struct hx_app_config ac = {0};
    hx_app_knobs_defaults(&ac.knobs);
    json_t *knobs = hx_target_knobs(target);
    if (hx_app_knobs_apply(&ac.knobs, knobs, NULL, &err))
        hx_run_fail(run, "target: %s", err.message); /* lint checks this; never silent */
    json_decref(knobs);
    json_t *settings = hx_run_admin(run, "GET", "/_fakeidp/settings", NULL, NULL);
    char issuer_base[256];
    const char *base = json_string_value(json_object_get(settings, "issuer_base"));
    snprintf(issuer_base, sizeof(issuer_base), "%s", base ? base : "https://api.workos.com");
    json_decref(settings);
    json_t *providers = hx_run_resolve_providers(json_object_get(target, "providers"), run->client_id,
                                                    issuer_base);
    const char *own_client = json_string_value(json_object_get(target, "client_id"));
    if (own_client)
        snprintf(run->client_id, sizeof(run->client_id), "%s", own_client);
    ac.public_host = bk->app_host;
    ac.idp_url = run->idp_url;
    ac.idp_public_url = run->idp_public_url;
    ac.client_id = run->client_id;
    ac.api_key = run->api_key;
    ac.convex_providers = providers;
    ac.clock = &run->clock;
    ac.timeline = &run->timeline;
    ac.idp_wait_quiet = run->idp ? idp_quiet : NULL;
    ac.idp_quiet_ctx = run->idp;
    if (json_object_get(run->doc, "apps")) {
        hx_run_start_apps(run, target, &ac, seed);
        json_decref(providers);
        return true;
    }
    json_t *overrides = json_object_get(target, "instances");
    ac.instance_overrides = json_is_array(overrides) ? overrides : NULL;
    ac.idp_keep_alive = !may_cut_requests(run->doc);
    struct hx_backend_spec specs[HX_MAX_BACKENDS];
    ac.backend_count = hx_run_backend_specs(run->doc, NULL, true, run->client_id, issuer_base,
                                            specs);
    ac.backends = specs;
    run->app = world_app(run, &ac, &err);
    hx_run_backend_specs_cleanup(specs, ac.backend_count);
    json_decref(providers);
    if (!run->app) {
        snprintf(run->start_error, sizeof(run->start_error), "%s", err.message);
        hx_run_note(run, "app", "refused to start: %s", err.message);
    } else {
        snprintf(run->app_origin, sizeof(run->app_origin), "%s", hx_app_origin(run->app));
    }
    return true;
}

bool hx_target_start(struct hx_run *run, const struct hx_runner_options *opt, uint64_t seed)
{
    const json_t *target = json_object_get(run->doc, "target");
    const char *kind = json_string_value(json_object_get(target, "app"));
    bool external = kind && strcmp(kind, "external") == 0;
    const char *adapter = json_string_value(json_object_get(target, "convex_adapter"));
    snprintf(run->convex_adapter, sizeof(run->convex_adapter), "%s",
             adapter ? adapter : "get_access_token");
    hx_spa_knobs_defaults(&run->spa.knobs);
    if (json_object_get(target, "spa"))
        hx_spa_knobs_apply(&run->spa.knobs, json_object_get(target, "spa"), NULL, NULL);
    if (!external)
        return start_reference(run, target, opt, seed);
    /* ${NAME} in an external target's strings comes from the environment. */
    char why[256] = "";
    run->owned_target = expand_env(target, why, sizeof(why));
    if (why[0]) {
        hx_run_broken(run, "target: %s", why);
        return false;
    }
    return start_external(run, run->owned_target);
}

static void *stop_app_thread(void *arg)
{
    hx_app_stop((struct hx_app **)arg);
    return NULL;
}

/* Whether the run's fakeidp and app have no request in flight, faults
 * released. Kept servers point to the run's clock and timeline, which are
 * freed with the run (the next run's take their place): no request of this
 * run may still be inside them then. fakeidp first and last: the app's
 * requests may be waiting on it, and may send it one more. */
static bool settled(struct hx_run *run)
{
    return (!run->idp || idp_server_settle(run->idp, 2000)) && (!run->app || hx_app_idle(run->app)) &&
           (!run->idp || idp_server_settle(run->idp, 2000));
}

void hx_target_stop(struct hx_run *run)
{
    hx_external_stop(&run->external);
    /* The apps of a world stop with the run: without this thread's idle
     * kept-alive connections to them, which a stopping server would wait
     * 100 ms for (the admin connection to a kept fakeidp goes too). */
    if (run->world.count)
        hx_http_client_thread_close();
    hx_world_stop_apps(&run->world, 1);
    struct hx_kept *world = run->kept;
    /* Kept for the next variant, unless this one could not be carried out
     * or ran out of time: then nothing it left behind is trusted. The
     * runner's kept-alive admin connection stays with a kept fakeidp. */
    bool keep = world && (run->idp || run->app) && !run->broken && !run->timed_out && settled(run);
    if (!keep)
        hx_http_client_thread_close();
    if (world && (run->idp || run->app)) {
        world->variants++;
        /* The world keeps one app, the single-app form's: the first app of
         * a scenario with "apps" is this run's own and stops with it. */
        bool kept_app = run->app == world->app;
        if (keep) {
            run->idp = NULL;
            if (kept_app)
                run->app = NULL;
        } else {
            world->idp = NULL;
            if (kept_app)
                world->app = NULL;
        }
    }
    /* CivetWeb's mg_stop() polls in 10 ms steps: stop both servers at once. */
    pthread_t stopper;
    bool threaded = run->app && pthread_create(&stopper, NULL, stop_app_thread, &run->app) == 0;
    if (!threaded)
        hx_app_stop(&run->app);
    idp_server_stop(&run->idp);
    if (threaded)
        pthread_join(stopper, NULL);
    json_decref(run->owned_target);
    run->owned_target = NULL;
    json_decref(run->idp_config);
    run->idp_config = NULL;
}
