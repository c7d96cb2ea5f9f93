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
#include "shard.h"
#include "steps.h"
#include "target.h"
#include "url.h"
#include "apps.h"

/* Every variant starts at the same virtual instant: reports are stable. */
#define RUN_EPOCH_MS 1768478400000LL /* 2026-01-15T12:00:00Z */

/* ---- one variant ------------------------------------------------------ */

static uint64_t mix(uint64_t seed, const char *a, const char *b, int n)
{
    uint64_t h = idp_hash_text(idp_hash_text(seed ^ 0x9e3779b97f4a7c15ULL, a), b);
    h ^= (uint64_t)n * UINT64_C(0xbf58476d1ce4e5b9);
    return h ? h : 1;
}

/* Starts the Chromium engine for the variant once its app and fakeidp are
 * up (their ports are in the origins Chromium is told about). A run that
 * cannot start it is broken (exit 3), with the reason: what to install. */
static bool start_chromium(struct hx_run *run)
{
    const struct hx_browser_knobs *k = &run->browser.knobs;
    json_t *secure = json_array();
    for (const char *p = k->secure_hosts; *p;) {
        size_t len = strcspn(p, ",");
        struct hx_url app;
        char origin[400];
        if (hx_url_parse(run->app_origin, &app) && len == strlen(app.host) &&
            strncmp(p, app.host, len) == 0) {
            snprintf(origin, sizeof(origin), "http://%s:%d", app.host, app.port);
            json_array_append_new(secure, json_string(origin));
        }
        p += len + (p[len] == ',');
    }
    json_t *start = json_pack("{s:s, s:I, s:s, s:b, s:s, s:o}", "op", "start", "now",
                              (json_int_t)hx_browser_now(&run->browser), "idp_host", k->idp_host,
                              "block_third_party", k->block_third_party, "embedded_in", k->embedded_in,
                              "secure_origins", secure);
    char why[600] = "out of memory";
    double started = hx_wall_ms();
    run->browser.engine = start ? hx_chromium_start(start, why, sizeof(why)) : NULL;
    json_decref(start);
    if (!run->browser.engine) {
        hx_run_broken(run, "the Chromium engine could not start: %s", why);
        return false;
    }
    snprintf(run->browser.app_origin, sizeof(run->browser.app_origin), "%s", run->app_origin);
    hx_run_note(run, "browser", "Chromium engine started in %.0f ms", hx_wall_ms() - started);
    return true;
}

static void run_variant(const struct hx_scenario *sc, const struct hx_variant *variant, int repeat,
                        const struct hx_runner_options *opt, uint64_t base_seed,
                        struct hx_kept *world, struct hx_result *result)
{
    double started = hx_wall_ms();
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
    run->kept = world;
    run->key = opt->key;
    run->adopt_orphans = opt->adopt_orphans;
    run->doc = variant->doc;
    run->failures = json_array();
    run->totp_secrets = json_object();
    run->convex_authenticated = -1;
    run->exec_follower = -1;
    run->started_wall_ms = started;
    run->timeout_ms = variant->timeout_ms >= 0 ? variant->timeout_ms : opt->timeout_ms;
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
    hx_world_init(&run->world, &run->clock, &run->timeline);

    if (opt->browser_engine)
        run->browser.knobs.engine = strcmp(opt->browser_engine, "chromium") == 0 ? HX_ENGINE_CHROMIUM
                                                                                : HX_ENGINE_MODEL;
    if (!hx_target_start(run, opt, result->seed))
        goto finish;
    if (!run->start_error[0] && run->browser.knobs.engine == HX_ENGINE_CHROMIUM &&
        !start_chromium(run))
        goto finish;
    hx_run_note_clocks(run);
    for (size_t i = 0; !run->start_error[0] && i < variant->steps.count; i++)
        if (!hx_step_run(run, &variant->steps.items[i]))
            break;
    hx_expect_evaluate(run, &variant->expect);
    if (opt->keep_journal && run->idp_url[0]) {
        json_t *journal = hx_run_admin(run, "GET", "/_fakeidp/journal", NULL, NULL);
        result->journal = json_incref(json_object_get(journal, "entries"));
        json_decref(journal);
    }
finish:
    hx_chromium_free(&run->browser.engine);
    hx_target_stop(run);
    result->failures = run->failures;
    result->broken = run->broken;
    result->passed = json_array_size(run->failures) == 0;
    result->timeline = hx_timeline_text(&run->timeline, "    ");
    result->timeline_json = json_incref(run->timeline.entries);
    hx_browser_cleanup(&run->browser);
    hx_world_cleanup(&run->world);
    hx_timeline_cleanup(&run->timeline);
    idp_clock_cleanup(&run->clock);
    json_decref(run->totp_secrets);
    pthread_mutex_destroy(&run->lock);
    pthread_mutex_destroy(&run->spa_lock);
    free(run);
    result->duration_ms = hx_wall_ms() - started;
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
    /* External targets share a fake (and often an app on a fixed port) that
     * each variant resets: they take turns, whatever -j says, while
     * reference targets (each with its own fake and app) run in parallel. */
    pthread_mutex_t external_turn;
    const struct hx_runner_options *options;
    struct hx_results *results;
    uint64_t seed;
};

static void *worker(void *arg)
{
    struct pool *pool = arg;
    struct hx_kept *world = pool->options->fresh_worlds ? NULL : hx_kept_new();
    for (;;) {
        pthread_mutex_lock(&pool->lock);
        size_t i = pool->next++;
        pthread_mutex_unlock(&pool->lock);
        if (i >= pool->count) {
            hx_kept_free(&world);
            return NULL;
        }
        struct job *job = &pool->jobs[i];
        const char *app = json_string_value(
            json_object_get(json_object_get(job->variant->doc, "target"), "app"));
        bool external = app && strcmp(app, "external") == 0;
        if (external)
            pthread_mutex_lock(&pool->external_turn);
        run_variant(job->scenario, job->variant, job->repeat, pool->options, pool->seed,
                    external ? NULL : world, &pool->results->items[i]);
        if (external)
            pthread_mutex_unlock(&pool->external_turn);
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
    double started = hx_wall_ms();
    size_t total = 0;
    int repeat = opt->repeat > 0 ? opt->repeat : 1;
    for (size_t s = 0; s < count; s++)
        total += scenarios[s]->variant_count * (size_t)repeat;
    struct pool pool = {.options = opt, .results = results};
    pool.jobs = calloc(total ? total : 1, sizeof(*pool.jobs));
    size_t index = 0;
    int *shard = opt->shard_count > 1
                     ? hx_shard_assign(scenarios, count, repeat, opt->shard_count, opt->shard_timings)
                     : NULL;
    if (opt->shard_count > 1 && !shard) {
        free(pool.jobs);
        pool.jobs = NULL;
    }
    for (size_t s = 0; pool.jobs && s < count; s++)
        for (size_t v = 0; v < scenarios[s]->variant_count; v++)
            for (int r = 0; r < repeat; r++) {
                bool mine = !shard || shard[index++] == opt->shard_index;
                if (mine && selected(scenarios[s], &scenarios[s]->variants[v], opt))
                    pool.jobs[pool.count++] = (struct job){scenarios[s], &scenarios[s]->variants[v], r};
            }
    free(shard);
    if (opt->order_seed) { /* Fisher-Yates with a seeded splitmix64 */
        uint64_t x = opt->order_seed;
        for (size_t i = pool.count; i > 1; i--) {
            uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
            z ^= z >> 31;
            size_t j = (size_t)(z % i);
            struct job t = pool.jobs[i - 1];
            pool.jobs[i - 1] = pool.jobs[j];
            pool.jobs[j] = t;
        }
    }
    results->items = calloc(pool.count ? pool.count : 1, sizeof(*results->items));
    if (!pool.jobs || !results->items) {
        free(pool.jobs);
        free(results->items);
        results->items = NULL;
        snprintf(results->error, sizeof(results->error), "out of memory");
        return;
    }
    results->count = pool.count;
    uint64_t seed = opt->seed;
    if (!seed) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)getpid();
    }
    pool.seed = results->seed = seed;
    results->browser_engine = opt->browser_engine;
    pthread_mutex_init(&pool.lock, NULL);
    pthread_mutex_init(&pool.external_turn, NULL);
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
    pthread_mutex_destroy(&pool.external_turn);
    for (size_t i = 0; results->items && i < results->count; i++) {
        if (results->items[i].passed)
            results->passed++;
        else
            results->failed++;
        if (results->items[i].broken)
            results->broken++;
    }
    results->wall_ms = hx_wall_ms() - started;
}

void hx_results_cleanup(struct hx_results *results)
{
    for (size_t i = 0; i < results->count; i++) {
        json_decref(results->items[i].failures);
        json_decref(results->items[i].timeline_json);
        json_decref(results->items[i].journal);
        free(results->items[i].timeline);
    }
    free(results->items);
    memset(results, 0, sizeof(*results));
}
