/* The expectations on the app's side: the reference app's counters (per
 * app, per instance), the named backends' outcomes, the Convex client's
 * state and the SPA client's. Rows in expect.c's table. */
#include "expect_internal.h"

#include <stdio.h>
#include <string.h>

#include "apps.h"
#include "backend.h"

/* Fails for each count of spec (the keys but those in skip) that the
 * counter of that name in counters does not meet: "<who><key>: 2,
 * expected 1". */
static void counts_hold(struct hx_run *run, const json_t *spec, const json_t *counters,
                        const char *const skip[], const char *who)
{
    const char *key;
    json_t *count;
    json_object_foreach((json_t *)spec, key, count) {
        bool skipped = false;
        for (int i = 0; skip[i]; i++)
            skipped = skipped || strcmp(key, skip[i]) == 0;
        long long n = json_integer_value(json_object_get(counters, key));
        char want[64];
        if (!skipped && !hx_count_holds(count, n, want, sizeof(want)))
            hx_run_fail(run, "%s%s: %lld, expected %s", who, key, n, want);
    }
}

/* ---- the reference app and the backends ------------------------------- */

enum idp_status hx_expect_app_parse(struct hx_check *c, const json_t *v, const char *path,
                                  struct hx_expectation *out)
{
    (void)out; /* evaluated from its checked object */
    static const char *const keys[] = {"refreshes", "refresh_failures", "oversize_cookies",
                                       "jwks_fetches", "convex_jwks_fetches", "app", "instance",
                                       NULL};
    const json_t *app = json_object_get(v, "app"), *instance = json_object_get(v, "instance");
    if (instance && (!json_is_integer(instance) || json_integer_value(instance) < 1 ||
                     json_integer_value(instance) > HX_APP_MAX_INSTANCES ||
                     json_object_get(v, "oversize_cookies") || json_object_get(v, "convex_jwks_fetches"))) {
        char child[300];
        snprintf(child, sizeof(child), "%s/instance", path);
        return hx_check_fail(c, child, false,
                             "instance is 1 to %d, and an instance counts refreshes, "
                             "refresh_failures and jwks_fetches", HX_APP_MAX_INSTANCES);
    }
    if (app && (!json_is_string(app) || !json_string_length(app))) {
        char child[300];
        snprintf(child, sizeof(child), "%s/app", path);
        return hx_check_fail(c, child, false, "app names one of the scenario's apps");
    }
    json_t *counts = json_deep_copy(v);
    json_object_del(counts, "app");
    json_object_del(counts, "instance");
    enum idp_status st = hx_check_keys(c, v, path, keys, "app expectations");
    if (!st)
        st = hx_check_counts(c, counts, path, keys, "app expectations");
    json_decref(counts);
    return st;
}

void hx_expect_app_evaluate(struct hx_run *run, const struct hx_expectation *ex)
{
    const json_t *v = ex->value;
    /* "app": one of the named apps; the first (the target) otherwise. */
    const char *name = json_string_value(json_object_get(v, "app"));
    struct hx_world_app *named = name ? hx_world_app_named(&run->world, name) : NULL;
    struct hx_app *app = name ? (named ? named->app : NULL) : run->app;
    if (!app) {
        hx_run_fail(run, name ? "app expectations: no running app named %s"
                              : "app expectations need the reference app%s", name ? name : "");
        return;
    }
    json_t *stats = json_object();
    hx_app_stats(app, stats);
    /* "instance": that instance's own counts. */
    json_int_t instance = json_integer_value(json_object_get(v, "instance"));
    json_t *of = stats;
    if (instance) {
        of = json_array_get(json_object_get(stats, "instances"), (size_t)(instance - 1));
        if (!of) {
            hx_run_fail(run, "app expectations: the app has no instance %lld", (long long)instance);
            json_decref(stats);
            return;
        }
    }
    char who[120] = "app ";
    if (name || instance)
        snprintf(who, sizeof(who), "app %s%s%.0lld ",
                 name ? name : run->world.count ? run->world.apps[0].name : "app",
                 instance ? "#" : "",
                 (long long)instance);
    static const char *const not_counts[] = {"app", "instance", NULL};
    counts_hold(run, v, of, not_counts, who);
    json_decref(stats);
}

/* {"<backend>": {"last", "reason", "accepted", "rejected", "anonymous",
 * "jwks_fetches"}}: the named backends' outcomes and counters. */
enum idp_status hx_expect_backend_parse(struct hx_check *c, const json_t *v, const char *path,
                                  struct hx_expectation *out)
{
    (void)out; /* evaluated from its checked object */
    static const char *const keys[] = {"last", "reason", "accepted", "rejected", "anonymous",
                                       "jwks_fetches", NULL};
    static const char *const counts[] = {"accepted", "rejected", "anonymous", "jwks_fetches",
                                         NULL};
    if (!json_is_object(v) || !json_object_size(v))
        return hx_check_fail(c, path, false,
                             "backend maps backend names to expectations ({\"billing\": "
                             "{\"last\": \"rejected\", \"reason\": \"expired\"}})");
    const char *name;
    json_t *spec;
    enum idp_status first = IDP_OK;
    json_object_foreach((json_t *)v, name, spec) {
        char child[300], member[340];
        snprintf(child, sizeof(child), "%s/%s", path, name);
        enum idp_status st = hx_check_keys(c, spec, child, keys, "a backend's expectations");
        const char *last = json_string_value(json_object_get(spec, "last"));
        const json_t *reason = json_object_get(spec, "reason");
        snprintf(member, sizeof(member), "%s/last", child);
        if (!st && json_object_get(spec, "last") &&
            (!last || (strcmp(last, "accepted") && strcmp(last, "rejected") && strcmp(last, "anonymous"))))
            st = hx_check_fail(c, member, false,
                               "last is \"accepted\", \"rejected\" or \"anonymous\" (no token)");
        snprintf(member, sizeof(member), "%s/reason", child);
        if (!st && reason && !json_is_string(reason))
            st = hx_check_fail(c, member, false, "reason is a rejection reason (a string)");
        if (!st && reason && !hx_backend_reason_known(json_string_value(reason)))
            st = hx_check_unknown(c, member, "rejection reason", "reasons",
                                  json_string_value(reason), hx_backend_reason_names());
        if (!st) {
            json_t *numbers = json_deep_copy(spec);
            json_object_del(numbers, "last");
            json_object_del(numbers, "reason");
            st = hx_check_counts(c, numbers, child, counts, "a backend's expectations");
            json_decref(numbers);
        }
        first = first ? first : st;
    }
    return first;
}

void hx_expect_backend_evaluate(struct hx_run *run, const struct hx_expectation *ex)
{
    const json_t *v = ex->value;
    const char *name;
    json_t *spec;
    json_object_foreach((json_t *)v, name, spec) {
        char origin[600];
        struct hx_app *app = hx_run_backend_app(run, name, origin, sizeof(origin));
        json_t *stats = app ? hx_app_backend_stats(app, name) : NULL;
        if (!stats) {
            hx_run_fail(run, "backend %s: no such backend is running", name);
            continue;
        }
        const char *last = json_string_value(json_object_get(stats, "last"));
        const char *reason = json_string_value(json_object_get(stats, "reason"));
        const char *want_last = json_string_value(json_object_get(spec, "last"));
        const char *want_reason = json_string_value(json_object_get(spec, "reason"));
        bool rejected = strcmp(last, "rejected") == 0;
        if (want_last && strcmp(want_last, last) != 0)
            hx_run_fail(run, "backend %s last: expected %s, its last query was %s%s%s", name,
                        want_last, last[0] ? last : "none (it answered no query)",
                        rejected ? ": " : "", rejected ? reason : "");
        if (want_reason && strcmp(want_reason, reason) != 0)
            hx_run_fail(run, "backend %s reason: expected %s, %s%s", name, want_reason,
                        reason[0] ? "its last rejection was " : "it rejected nothing", reason);
        static const char *const not_counts[] = {"last", "reason", NULL};
        char who[96];
        snprintf(who, sizeof(who), "backend %s ", name);
        counts_hold(run, spec, stats, not_counts, who);
        json_decref(stats);
    }
}

/* ---- the Convex client ------------------------------------------------ */

/* "authenticated" or "unauthenticated": the convex and spa rows. */
enum idp_status hx_expect_authenticated_parse(struct hx_check *c, const json_t *v, const char *path,
                                  struct hx_expectation *out)
{
    out->as.text = json_string_value(v);
    const char *s = json_string_value(v);
    if (!s || (strcmp(s, "authenticated") != 0 && strcmp(s, "unauthenticated") != 0))
        return hx_check_fail(c, path, false, "expected \"authenticated\" or \"unauthenticated\"");
    return IDP_OK;
}

void hx_expect_convex_evaluate(struct hx_run *run, const struct hx_expectation *ex)
{
    bool want = strcmp(ex->as.text, "authenticated") == 0;
    pthread_mutex_lock(&run->lock);
    int got = run->convex_authenticated;
    char error[512];
    snprintf(error, sizeof(error), "%s", run->convex_error);
    pthread_mutex_unlock(&run->lock);
    if (got < 0)
        hx_run_fail(run, "convex: no convex_query step ran");
    else if (got != want)
        hx_run_fail(run, "convex: expected %s, the client is %s%s%s", ex->as.text,
                    got ? "authenticated" : "unauthenticated", error[0] ? ": " : "", error);
}

void hx_expect_convex_error_evaluate(struct hx_run *run, const struct hx_expectation *ex)
{
    pthread_mutex_lock(&run->lock);
    bool found = strstr(run->convex_error, ex->as.text) != NULL;
    char error[512];
    snprintf(error, sizeof(error), "%s", run->convex_error);
    pthread_mutex_unlock(&run->lock);
    if (!found)
        hx_run_fail(run, "convex_error: \"%s\" not in \"%s\"", ex->as.text, error);
}

/* ---- the SPA client --------------------------------------------------- */

void hx_expect_spa_evaluate(struct hx_run *run, const struct hx_expectation *ex)
{
    bool want = strcmp(ex->as.text, "authenticated") == 0;
    int got = hx_spa_tab_authenticated(run, "main");
    if (got != want)
        hx_run_fail(run, "spa: expected the main tab %s, it is %s", ex->as.text,
                    got < 0 ? "not open" : got ? "authenticated" : "unauthenticated");
}

void hx_expect_spa_degraded_evaluate(struct hx_run *run, const struct hx_expectation *ex)
{
    if (run->spa.degraded && !ex->as.flag)
        hx_run_fail(run, "spa_degraded: expected none, but %s", run->spa.degraded_why);
    else if (!run->spa.degraded && ex->as.flag)
        hx_run_fail(run, "spa_degraded: expected a signed-out flash or an expired token held, the SPA "
                    "never degraded");
}

void hx_expect_spa_counts_evaluate(struct hx_run *run, const struct hx_expectation *ex)
{
    const json_t *v = ex->value;
    const char *key;
    json_t *spec;
    char want[64];
    json_object_foreach((json_t *)v, key, spec) {
        long long n = strcmp(key, "refreshes") == 0 ? run->spa.refreshes : run->spa.expired_calls;
        if (!hx_count_holds(spec, n, want, sizeof(want)))
            hx_run_fail(run, "spa_counts %s: %lld, expected %s", key, n, want);
    }
}

enum idp_status hx_expect_spa_counts_parse(struct hx_check *c, const json_t *v, const char *path,
                                  struct hx_expectation *out)
{
    (void)out; /* evaluated from its checked object */
    static const char *const keys[] = {"refreshes", "expired_calls", NULL};
    return hx_check_counts(c, v, path, keys, "spa_counts");
}
