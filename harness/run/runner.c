#include "runner.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "duration.h"
#include "expect.h"
#include "http_client.h"
#include "run.h"
#include "random.h"
#include "steps.h"

/* Every variant starts at the same virtual instant: reports are stable. */
#define RUN_EPOCH_MS 1768478400000LL /* 2026-01-15T12:00:00Z */

static double wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* ---- one variant ------------------------------------------------------ */

/* Replaces ${client_id} and ${issuer_base} in provider fields. */
static json_t *resolve_providers(const json_t *providers, const char *client_id,
                                 const char *issuer_base)
{
    json_t *out = json_array();
    size_t i;
    json_t *p;
    json_array_foreach(providers, i, p) {
        json_t *copy = json_object();
        const char *key;
        json_t *value;
        json_object_foreach(p, key, value) {
            const char *text = json_string_value(value);
            char buf[1024] = "";
            size_t used = 0;
            for (const char *c = text ? text : ""; *c && used < sizeof(buf) - 1;) {
                const char *sub = strncmp(c, "${client_id}", 12) == 0 ? client_id
                                  : strncmp(c, "${issuer_base}", 14) == 0 ? issuer_base : NULL;
                if (sub) {
                    used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s", sub);
                    c += strncmp(c, "${client_id}", 12) == 0 ? 12 : 14;
                } else {
                    buf[used++] = *c++;
                    buf[used] = '\0';
                }
            }
            json_object_set_new(copy, key, json_string(buf));
        }
        json_array_append_new(out, copy);
    }
    return out;
}

/* Copies value with ${NAME} in every string replaced by the environment
 * variable NAME, so one scenario file serves any ports. An unset variable
 * is an error (named in *missing). */
static json_t *expand_env(const json_t *value, char *missing, size_t size)
{
    if (json_is_string(value)) {
        const char *s = json_string_value(value);
        char out[4096];
        size_t o = 0;
        while (*s && o < sizeof(out) - 1) {
            const char *end = s[0] == '$' && s[1] == '{' ? strchr(s, '}') : NULL;
            if (end) {
                char name[128];
                snprintf(name, sizeof(name), "%.*s", (int)(end - s - 2), s + 2);
                const char *v = getenv(name);
                if (!v) {
                    snprintf(missing, size, "%s", name);
                    v = "";
                }
                o += (size_t)snprintf(out + o, sizeof(out) - o, "%s", v);
                if (o >= sizeof(out))
                    o = sizeof(out) - 1;
                s = end + 1;
            } else {
                out[o++] = *s++;
            }
        }
        out[o] = '\0';
        return json_string(out);
    }
    if (json_is_object(value)) {
        json_t *copy = json_object();
        const char *key;
        json_t *member;
        json_object_foreach((json_t *)value, key, member)
            json_object_set_new(copy, key, expand_env(member, missing, size));
        return copy;
    }
    if (json_is_array(value)) {
        json_t *copy = json_array();
        size_t i;
        json_t *item;
        json_array_foreach(value, i, item) json_array_append_new(copy, expand_env(item, missing, size));
        return copy;
    }
    return json_deep_copy(value);
}

static json_t *idp_config_for(const json_t *doc, const char *app_host)
{
    json_t *idp = json_object_get(doc, "idp");
    json_t *config = idp ? json_deep_copy(idp) : json_object();
    if (!json_object_get(config, "clients")) {
        char http[200], https[200];
        snprintf(http, sizeof(http), "http://%s:*", app_host);
        snprintf(https, sizeof(https), "https://%s:*", app_host);
        json_t *patterns = json_pack("[s,s,s,s]", http, https, "http://localhost:*", "http://127.0.0.1:*");
        json_object_set_new(config, "clients",
                            json_pack("[{s:O, s:O, s:O}]", "redirect_uris", patterns,
                                      "allowed_origins", patterns, "logout_uris", patterns));
        json_decref(patterns);
    }
    return config;
}

static void *stop_app(void *arg)
{
    hx_app_stop((struct hx_app **)arg);
    return NULL;
}

static uint64_t mix(uint64_t seed, const char *a, const char *b, int n)
{
    uint64_t h = idp_hash_text(idp_hash_text(seed ^ 0x9e3779b97f4a7c15ULL, a), b);
    h ^= (uint64_t)n * 0xbf58476d1ce4e5b9ULL;
    return h ? h : 1;
}

static void run_variant(const struct hx_scenario *sc, const struct hx_variant *variant, int repeat,
                        const struct hx_runner_options *opt, uint64_t base_seed,
                        struct hx_result *result)
{
    double started = wall_ms();
    struct hx_run *run = calloc(1, sizeof(*run));
    result->scenario = sc;
    result->variant = variant;
    result->repeat_index = repeat;
    result->seed = mix(base_seed, sc->name, variant->name, repeat);
    if (!run) {
        result->failures = json_pack("[s]", "out of memory");
        return;
    }
    run->scenario = sc;
    run->variant = variant;
    run->key = opt->key;
    run->doc = variant->doc;
    run->failures = json_array();
    run->convex_authenticated = -1;
    pthread_mutex_init(&run->lock, NULL);
    pthread_mutex_init(&run->spa_lock, NULL);
    idp_clock_init(&run->clock);
    idp_clock_freeze(&run->clock, true);
    idp_clock_set(&run->clock, RUN_EPOCH_MS);
    run->start_ms = RUN_EPOCH_MS;
    hx_timeline_init(&run->timeline, RUN_EPOCH_MS);

    struct hx_browser_knobs bk;
    hx_browser_knobs_defaults(&bk);
    const json_t *browser = json_object_get(run->doc, "browser");
    if (browser)
        hx_browser_knobs_apply(&bk, browser, NULL, NULL);
    hx_browser_init(&run->browser, &bk, &run->clock, &run->timeline);

    const json_t *target = json_object_get(run->doc, "target");
    /* ${NAME} in an external target's strings comes from the environment. */
    char missing[128] = "";
    json_t *expanded_target = expand_env(target, missing, sizeof(missing));
    if (json_string_value(json_object_get(target, "app")) &&
        strcmp(json_string_value(json_object_get(target, "app")), "external") == 0)
        target = expanded_target;
    const char *kind = json_string_value(json_object_get(target, "app"));
    const char *adapter = json_string_value(json_object_get(target, "convex_adapter"));
    snprintf(run->convex_adapter, sizeof(run->convex_adapter), "%s", adapter ? adapter : "get_access_token");
    hx_spa_knobs_defaults(&run->spa.knobs);
    if (json_object_get(target, "spa"))
        hx_spa_knobs_apply(&run->spa.knobs, json_object_get(target, "spa"), NULL, NULL);
    struct idp_error err = {0};
    json_t *config = idp_config_for(run->doc, bk.app_host);
    if (kind && strcmp(kind, "external") == 0 && missing[0]) {
        hx_run_fail(run, "target: the environment variable %s is not set", missing);
        goto finish;
    }
    if (kind && strcmp(kind, "external") == 0) {
        const char *idp_url = json_string_value(json_object_get(target, "idp_url"));
        const char *token = json_string_value(json_object_get(target, "admin_token"));
        snprintf(run->idp_url, sizeof(run->idp_url), "%s", idp_url ? idp_url : "http://127.0.0.1:8787");
        snprintf(run->idp_public_url, sizeof(run->idp_public_url), "%s", run->idp_url);
        snprintf(run->admin_token, sizeof(run->admin_token), "%s", token ? token : "");
        const char *cid = json_string_value(json_object_get(target, "client_id"));
        const char *key = json_string_value(json_object_get(target, "api_key"));
        snprintf(run->client_id, sizeof(run->client_id), "%s", cid ? cid : "client_01FAKE1DPC0000000000000000");
        snprintf(run->api_key, sizeof(run->api_key), "%s", key ? key : "sk_test_fakeidp_0000000000000000000000000000");
        snprintf(run->app_origin, sizeof(run->app_origin), "%s",
                 json_string_value(json_object_get(target, "url")));
        /* An external fake keeps its own clock: bring it to this run's start,
         * unless the app runs on the real clock (started by hand, no faketime). */
        json_decref(hx_run_admin(run, "POST", "/_fakeidp/reset", NULL, NULL));
        const json_t *freeze_knob = json_object_get(target, "freeze_clock");
        if (!freeze_knob || json_is_true(freeze_knob)) {
            json_t *freeze = json_pack("{s:b, s:I}", "freeze", 1, "set", (json_int_t)RUN_EPOCH_MS);
            json_decref(hx_run_admin(run, "POST", "/_fakeidp/clock", freeze, NULL));
            json_decref(freeze);
        } else {
            json_t *now = hx_run_admin(run, "GET", "/_fakeidp/clock", NULL, NULL);
            idp_clock_freeze(&run->clock, false);
            idp_clock_set(&run->clock, json_integer_value(json_object_get(now, "now_ms")));
            run->start_ms = run->timeline.start_ms = hx_run_now(run);
            json_decref(now);
        }
        const json_t *start = json_object_get(target, "start");
        if (start) {
            char base_dir[1024];
            snprintf(base_dir, sizeof(base_dir), "%s", sc->file);
            char *slash = strrchr(base_dir, '/');
            if (slash)
                *slash = '\0';
            else
                snprintf(base_dir, sizeof(base_dir), ".");
            struct hx_external_env env = {.idp_url = run->idp_url, .client_id = run->client_id,
                                          .api_key = run->api_key, .app_url = run->app_origin,
                                          .virtual_now_ms = hx_run_now(run), .base_dir = base_dir};
            run->external = hx_external_start(start, &env, &run->timeline, &err);
            if (!run->external)
                snprintf(run->start_error, sizeof(run->start_error), "%s", err.message);
        }
    } else {
        struct idp_server_options so = {.port = 0, .config = config, .key = opt->key,
                                        .clock = &run->clock, .seed = result->seed, .threads = 24,
                                        .log = getenv("FAKEIDP_TRACE") ? stderr : NULL,
                                        .rotation_key_dir = opt->rotation_key_dir};
        run->idp = idp_server_start(&so, &err);
        if (!run->idp) {
            hx_run_fail(run, "fakeidp did not start: %s", err.message);
            goto finish;
        }
        snprintf(run->idp_url, sizeof(run->idp_url), "%s", idp_server_url(run->idp));
        snprintf(run->idp_public_url, sizeof(run->idp_public_url), "http://%s:%d", bk.idp_host,
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
        const char *issuer_base = json_string_value(json_object_get(settings, "issuer_base"));
        json_t *providers = resolve_providers(json_object_get(target, "providers"), run->client_id,
                                              issuer_base ? issuer_base : "https://api.workos.com");
        json_decref(settings);
        ac.public_host = bk.app_host;
        ac.idp_url = run->idp_url;
        ac.idp_public_url = run->idp_public_url;
        ac.client_id = run->client_id;
        ac.api_key = run->api_key;
        ac.convex_providers = providers;
        ac.clock = &run->clock;
        ac.timeline = &run->timeline;
        run->app = hx_app_start(&ac, &err);
        json_decref(providers);
        if (!run->app) {
            snprintf(run->start_error, sizeof(run->start_error), "%s", err.message);
            hx_run_note(run, "app", "refused to start: %s", err.message);
        } else {
            snprintf(run->app_origin, sizeof(run->app_origin), "%s", hx_app_origin(run->app));
        }
    }
    int64_t timeout_ms = opt->timeout_ms;
    const json_t *own = json_object_get(run->doc, "timeout");
    if (own)
        idp_duration_json(own, false, &timeout_ms); /* checked by lint */
    if (!run->start_error[0]) {
        size_t i;
        json_t *step;
        json_array_foreach(json_object_get(run->doc, "steps"), i, step) {
            if (!hx_step_run(run, step, (int)i))
                break;
            if (timeout_ms && wall_ms() - started > (double)timeout_ms) {
                hx_run_fail(run, "timed out after %lld ms at step %zu", (long long)timeout_ms, i);
                break;
            }
        }
    }
    hx_expect_evaluate(run, json_object_get(run->doc, "expect"));
finish:
    json_decref(expanded_target);
    hx_http_client_thread_close();
    hx_external_stop(&run->external);
    {
        /* CivetWeb's mg_stop() polls in 10 ms steps: stop both servers at once. */
        pthread_t stopper;
        bool threaded = run->app && pthread_create(&stopper, NULL, stop_app, &run->app) == 0;
        if (!threaded)
            hx_app_stop(&run->app);
        idp_server_stop(&run->idp);
        if (threaded)
            pthread_join(stopper, NULL);
    }
    json_decref(config);
    result->failures = run->failures;
    result->passed = json_array_size(run->failures) == 0;
    result->timeline = hx_timeline_text(&run->timeline, "    ");
    result->timeline_json = json_incref(run->timeline.entries);
    hx_browser_cleanup(&run->browser);
    hx_timeline_cleanup(&run->timeline);
    idp_clock_cleanup(&run->clock);
    pthread_mutex_destroy(&run->lock);
    pthread_mutex_destroy(&run->spa_lock);
    free(run);
    result->duration_ms = wall_ms() - started;
}

/* ---- the pool --------------------------------------------------------- */

struct job {
    const struct hx_scenario *scenario;
    const struct hx_variant *variant;
    int repeat;
};

struct pool {
    struct job *jobs;
    size_t count;
    size_t next, done;
    pthread_mutex_t lock;
    const struct hx_runner_options *options;
    struct hx_results *results;
    uint64_t seed;
};

static void *worker(void *arg)
{
    struct pool *pool = arg;
    for (;;) {
        pthread_mutex_lock(&pool->lock);
        size_t i = pool->next++;
        pthread_mutex_unlock(&pool->lock);
        if (i >= pool->count)
            return NULL;
        struct job *job = &pool->jobs[i];
        run_variant(job->scenario, job->variant, job->repeat, pool->options, pool->seed,
                    &pool->results->items[i]);
        pthread_mutex_lock(&pool->lock);
        size_t done = ++pool->done;
        if (pool->options->progress) {
            struct hx_result *r = &pool->results->items[i];
            fprintf(pool->options->progress, "\r[%zu/%zu] %s %s/%s\033[K", done, pool->count,
                    r->passed ? "ok  " : "FAIL", job->scenario->name, job->variant->name);
            fflush(pool->options->progress);
        }
        pthread_mutex_unlock(&pool->lock);
    }
}

static bool selected(const struct hx_scenario *sc, const struct hx_variant *v,
                     const struct hx_runner_options *opt)
{
    if (opt->filter) {
        char full[600];
        snprintf(full, sizeof(full), "%s/%s", sc->name, v->name);
        if (!strstr(full, opt->filter))
            return false;
    }
    if (opt->tag) {
        bool found = false;
        size_t i;
        json_t *t;
        json_array_foreach(sc->tags, i, t) found = found || strcmp(json_string_value(t), opt->tag) == 0;
        if (!found)
            return false;
    }
    return true;
}

void hx_runner_run(struct hx_scenario *const *scenarios, size_t count,
                   const struct hx_runner_options *opt, struct hx_results *results)
{
    memset(results, 0, sizeof(*results));
    double started = wall_ms();
    size_t total = 0;
    int repeat = opt->repeat > 0 ? opt->repeat : 1;
    for (size_t s = 0; s < count; s++)
        total += scenarios[s]->variant_count * (size_t)repeat;
    struct pool pool = {.options = opt, .results = results};
    pool.jobs = calloc(total ? total : 1, sizeof(*pool.jobs));
    size_t index = 0;
    for (size_t s = 0; pool.jobs && s < count; s++)
        for (size_t v = 0; v < scenarios[s]->variant_count; v++)
            for (int r = 0; r < repeat; r++) {
                bool mine = opt->shard_count <= 1 ||
                            (int)(index++ % (size_t)opt->shard_count) == opt->shard_index;
                if (mine && selected(scenarios[s], &scenarios[s]->variants[v], opt))
                    pool.jobs[pool.count++] = (struct job){scenarios[s], &scenarios[s]->variants[v], r};
            }
    results->items = calloc(pool.count ? pool.count : 1, sizeof(*results->items));
    results->count = pool.count;
    uint64_t seed = opt->seed;
    if (!seed) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)getpid();
    }
    pool.seed = results->seed = seed;
    pthread_mutex_init(&pool.lock, NULL);
    int jobs = opt->jobs > 0 ? opt->jobs : 2;
    if ((size_t)jobs > pool.count)
        jobs = (int)(pool.count ? pool.count : 1);
    pthread_t *threads = calloc((size_t)jobs, sizeof(*threads));
    int started_threads = 0;
    for (int i = 0; threads && results->items && i < jobs; i++)
        if (pthread_create(&threads[i], NULL, worker, &pool) == 0)
            started_threads++;
    if (!started_threads && results->items)
        worker(&pool);
    for (int i = 0; i < started_threads; i++)
        pthread_join(threads[i], NULL);
    if (opt->progress && pool.count) {
        fprintf(opt->progress, "\r\033[K");
        fflush(opt->progress);
    }
    free(threads);
    free(pool.jobs);
    pthread_mutex_destroy(&pool.lock);
    for (size_t i = 0; i < results->count; i++) {
        if (results->items[i].passed)
            results->passed++;
        else
            results->failed++;
    }
    results->wall_ms = wall_ms() - started;
}

void hx_results_cleanup(struct hx_results *results)
{
    for (size_t i = 0; i < results->count; i++) {
        json_decref(results->items[i].failures);
        json_decref(results->items[i].timeline_json);
        free(results->items[i].timeline);
    }
    free(results->items);
    memset(results, 0, sizeof(*results));
}
