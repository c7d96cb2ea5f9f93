/* The expectation table. Each row names a key of an "expect" object, checks
 * its value and evaluates it against the run. Counts are exact numbers or
 * {"min", "max"} ranges. */
#include "expect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps.h"
#include "backend.h"
#include "cookies.h"
#include "duration.h"
#include "verifier.h"

typedef enum idp_status validate_fn(struct hx_check *, const json_t *value, const char *path);
typedef void eval_fn(struct hx_run *, const json_t *value);

struct expect_kind {
    const char *name;
    const char *summary;
    validate_fn *validate;
    eval_fn *evaluate;
};

static bool count_holds(const json_t *spec, long long actual, char *want, size_t size)
{
    if (json_is_integer(spec)) {
        snprintf(want, size, "%lld", (long long)json_integer_value(spec));
        return actual == json_integer_value(spec);
    }
    const json_t *min = json_object_get(spec, "min"), *max = json_object_get(spec, "max");
    if (min && max)
        snprintf(want, size, "%lld..%lld", (long long)json_integer_value(min), (long long)json_integer_value(max));
    else if (min)
        snprintf(want, size, ">= %lld", (long long)json_integer_value(min));
    else
        snprintf(want, size, "<= %lld", (long long)json_integer_value(max));
    return (!min || actual >= json_integer_value(min)) && (!max || actual <= json_integer_value(max));
}

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
        if (!skipped && !count_holds(count, n, want, sizeof(want)))
            hx_run_fail(run, "%s%s: %lld, expected %s", who, key, n, want);
    }
}

/* ---- session ------------------------------------------------------- */

static enum idp_status v_session(struct hx_check *c, const json_t *v, const char *path)
{
    const char *s = json_string_value(v);
    if (!s || (strcmp(s, "survives") != 0 && strcmp(s, "lost") != 0))
        return hx_check_fail(c, path, false, "session is \"survives\" or \"lost\"");
    return IDP_OK;
}

static void e_session(struct hx_run *run, const json_t *v)
{
    const char *want = json_string_value(v);
    const char *app = json_string_value(json_object_get(json_object_get(run->doc, "target"), "app"));
    if (app && strcmp(app, "spa") == 0) {
        /* A single-page app: a reload of the main tab decides. */
        hx_spa_reload(run, NULL);
        int authenticated = hx_spa_tab_authenticated(run, "main");
        if ((strcmp(want, "survives") == 0) != (authenticated == 1))
            hx_run_fail(run, "session: expected it to %s, but a reload of the SPA is %s",
                        strcmp(want, "survives") == 0 ? "survive" : "be lost",
                        authenticated == 1 ? "signed in" : "signed out");
        return;
    }
    const char *path = json_string_value(json_object_get(json_object_get(run->doc, "target"), "protected_path"));
    struct hx_observation obs;
    hx_run_load(run, path ? path : "/dashboard", false, "GET", &obs);
    bool survives = obs.signed_in;
    if (strcmp(want, "survives") == 0 && !survives) {
        hx_run_fail(run, "session: expected it to survive, but %s shows %s (status %ld%s%s)",
                    path ? path : "/dashboard",
                    obs.login_redirect ? "a redirect to sign in" : "no signed-in user", obs.status,
                    obs.error[0] ? ", " : "", obs.error);
        return;
    }
    if (strcmp(want, "lost") == 0 && survives) {
        hx_run_fail(run, "session: expected it to be lost, but %s still shows the signed-in user",
                    path ? path : "/dashboard");
        return;
    }
    if (strcmp(want, "survives") == 0) {
        /* Mechanism: no new trip through authorize since the sign-in. */
        json_t *journal = hx_run_admin(run, "GET", "/_fakeidp/journal", NULL, NULL);
        size_t i, trips = 0;
        json_t *e;
        json_array_foreach(json_object_get(journal, "entries"), i, e) {
            if ((uint64_t)json_integer_value(json_object_get(e, "seq")) >= run->journal_mark &&
                strcmp(json_string_value(json_object_get(e, "route")), "authorize") == 0)
                trips++;
        }
        json_decref(journal);
        if (trips)
            hx_run_fail(run, "session: survived only through %zu new authorize round trip(s)", trips);
    }
}

/* ---- last observation ----------------------------------------------- */

static enum idp_status v_bool(struct hx_check *c, const json_t *v, const char *path)
{
    return json_is_boolean(v) ? IDP_OK : hx_check_fail(c, path, false, "expected true or false");
}

static enum idp_status v_int(struct hx_check *c, const json_t *v, const char *path)
{
    return json_is_integer(v) ? IDP_OK : hx_check_fail(c, path, false, "expected a whole number");
}

static enum idp_status v_string(struct hx_check *c, const json_t *v, const char *path)
{
    return json_is_string(v) ? IDP_OK : hx_check_fail(c, path, false, "expected a string");
}

static enum idp_status v_strings(struct hx_check *c, const json_t *v, const char *path)
{
    if (json_is_string(v))
        return IDP_OK;
    size_t i;
    json_t *s;
    if (!json_is_array(v))
        return hx_check_fail(c, path, false, "expected a string or an array of strings");
    json_array_foreach(v, i, s) if (!json_is_string(s)) return hx_check_fail(c, path, false, "expected strings");
    return IDP_OK;
}

static void e_signed_in(struct hx_run *run, const json_t *v)
{
    pthread_mutex_lock(&run->lock);
    bool now = run->last.signed_in;
    pthread_mutex_unlock(&run->lock);
    if (now != json_is_true(v))
        hx_run_fail(run, "signed_in: expected %s after the last step, got %s",
                    json_is_true(v) ? "true" : "false", now ? "true" : "false");
}

static enum idp_status v_sign_in(struct hx_check *c, const json_t *v, const char *path)
{
    if (json_is_string(v) && strcmp(json_string_value(v), "fails") == 0)
        return IDP_OK;
    return hx_check_fail(c, path, false, "sign_in takes \"fails\": a sign_in step of this variant "
                                         "must not end signed in (without it, one that does not fails)");
}

/* "fails": every sign_in step is allowed not to end signed in, and one must
 * not (sign_in steps fail by themselves otherwise). */
static void e_sign_in(struct hx_run *run, const json_t *v)
{
    pthread_mutex_lock(&run->lock);
    bool failed = run->sign_in_failed;
    pthread_mutex_unlock(&run->lock);
    if (!failed)
        hx_run_fail(run, "sign_in: expected the sign-in to fail, but it ended signed in");
    (void)v;
}

static void e_status(struct hx_run *run, const json_t *v)
{
    pthread_mutex_lock(&run->lock);
    long status = run->last.status;
    pthread_mutex_unlock(&run->lock);
    if (status != json_integer_value(v))
        hx_run_fail(run, "status: expected %lld from the last step, got %ld",
                    (long long)json_integer_value(v), status);
}

static void e_login_redirect(struct hx_run *run, const json_t *v)
{
    pthread_mutex_lock(&run->lock);
    bool got = run->last.login_redirect;
    pthread_mutex_unlock(&run->lock);
    if (got != json_is_true(v))
        hx_run_fail(run, "login_redirect: expected %s, the last step %s at sign-in",
                    json_is_true(v) ? "a redirect to sign in" : "none",
                    got ? "stopped" : "did not stop");
}

static void e_redirect(struct hx_run *run, const json_t *v)
{
    pthread_mutex_lock(&run->lock);
    char where[512];
    snprintf(where, sizeof(where), "%s", run->last.stopped_at);
    pthread_mutex_unlock(&run->lock);
    if (!strstr(where, json_string_value(v)))
        hx_run_fail(run, "redirect: the last step was sent to \"%s\", not to one containing \"%s\"",
                    where[0] ? where : "(no redirect)", json_string_value(v));
}

static enum idp_status v_claims(struct hx_check *c, const json_t *v, const char *path)
{
    static const char *const keys[] = {"has", "lacks", "equals", NULL};
    enum idp_status st = hx_check_keys(c, v, path, keys, "a claims expectation");
    if (st)
        return st;
    const char *const lists[] = {"has", "lacks", NULL};
    for (int i = 0; lists[i]; i++) {
        const json_t *l = json_object_get(v, lists[i]);
        size_t j;
        json_t *item;
        if (l && !json_is_array(l))
            return hx_check_fail(c, path, false, "claims %s is an array of claim names", lists[i]);
        json_array_foreach(l, j, item) if (!json_is_string(item))
            return hx_check_fail(c, path, false, "claims %s is an array of claim names", lists[i]);
    }
    if (json_object_get(v, "equals") && !json_is_object(json_object_get(v, "equals")))
        return hx_check_fail(c, path, false, "claims equals maps claim names to values");
    return IDP_OK;
}

/* The claims of the access token the target holds now. */
static void e_claims(struct hx_run *run, const json_t *v)
{
    char token[8192];
    if (!hx_run_access_token(run, NULL, token, sizeof(token))) {
        hx_run_fail(run, "claims: the target holds no access token");
        return;
    }
    json_t *claims = hx_token_claims(token);
    size_t i;
    json_t *name;
    json_array_foreach(json_object_get(v, "has"), i, name) if (!json_object_get(claims, json_string_value(name)))
        hx_run_fail(run, "claims: the access token has no %s", json_string_value(name));
    json_array_foreach(json_object_get(v, "lacks"), i, name) if (json_object_get(claims, json_string_value(name)))
        hx_run_fail(run, "claims: the access token has %s", json_string_value(name));
    const char *key;
    json_t *want;
    json_object_foreach(json_object_get(v, "equals"), key, want) {
        if (!json_equal(json_object_get(claims, key), want)) {
            char *got = json_dumps(json_object_get(claims, key), JSON_ENCODE_ANY | JSON_COMPACT);
            char *exp = json_dumps(want, JSON_ENCODE_ANY | JSON_COMPACT);
            hx_run_fail(run, "claims: %s is %s, expected %s", key, got ? got : "(absent)", exp ? exp : "?");
            free(got);
            free(exp);
        }
    }
    json_decref(claims);
}

static void e_body_contains(struct hx_run *run, const json_t *v)
{
    pthread_mutex_lock(&run->lock);
    bool found = strstr(run->last.body_excerpt, json_string_value(v)) != NULL;
    char excerpt[200];
    snprintf(excerpt, sizeof(excerpt), "%.190s", run->last.body_excerpt);
    pthread_mutex_unlock(&run->lock);
    if (!found)
        hx_run_fail(run, "body_contains: \"%s\" not in the last response (%s)", json_string_value(v), excerpt);
}

/* ---- cookies ---------------------------------------------------------- */

static enum idp_status v_cookie(struct hx_check *c, const json_t *v, const char *path)
{
    static const char *const keys[] = {"name", "present", "max_bytes", "count", "secure",
                                       "http_only", "same_site", "domain", "host", NULL};
    enum idp_status st = hx_check_keys(c, v, path, keys, "a cookie expectation");
    if (st)
        return st;
    if (!json_is_string(json_object_get(v, "name")))
        return hx_check_fail(c, path, false, "a cookie expectation needs \"name\"");
    char child[300];
    const json_t *present = json_object_get(v, "present"), *max = json_object_get(v, "max_bytes");
    if (present && !json_is_boolean(present))
        return hx_check_fail(c, path, false, "cookie present is true or false");
    const char *const flags[] = {"secure", "http_only", NULL};
    for (int i = 0; flags[i]; i++)
        if (json_object_get(v, flags[i]) && !json_is_boolean(json_object_get(v, flags[i])))
            return hx_check_fail(c, path, false, "cookie %s is true or false", flags[i]);
    const char *ss = json_string_value(json_object_get(v, "same_site"));
    if (json_object_get(v, "same_site") &&
        (!ss || (strcmp(ss, "lax") && strcmp(ss, "strict") && strcmp(ss, "none") && strcmp(ss, "default"))))
        return hx_check_fail(c, path, false, "cookie same_site is lax, strict, none or default");
    if (json_object_get(v, "domain") && !json_is_string(json_object_get(v, "domain")))
        return hx_check_fail(c, path, false, "cookie domain is a string (\"\" for host-only)");
    if (max && (!json_is_integer(max) || json_integer_value(max) < 0))
        return hx_check_fail(c, path, false, "cookie max_bytes is a whole number");
    const char *host = json_string_value(json_object_get(v, "host"));
    struct hx_url url;
    char text[400];
    snprintf(text, sizeof(text), "%s%s", host && !strstr(host, "://") ? "https://" : "",
             host ? host : "");
    if (json_object_get(v, "host") && (!host || !hx_url_parse(text, &url)))
        return hx_check_fail(c, path, false,
                             "cookie host is a host name (\"stg.app.test\") or a URL");
    snprintf(child, sizeof(child), "%s/count", path);
    return json_object_get(v, "count") ? hx_check_count(c, json_object_get(v, "count"), child) : IDP_OK;
}

static void e_cookie(struct hx_run *run, const json_t *v)
{
    const char *name = json_string_value(json_object_get(v, "name"));
    int64_t now = idp_clock_now_ms(&run->clock);
    /* "host": the cookie as that host sees it (the jar decides), else any. */
    const char *host = json_string_value(json_object_get(v, "host"));
    char text[400];
    struct hx_url url;
    snprintf(text, sizeof(text), "%s%s/", host && !strstr(host, "://") ? "https://" : "",
             host ? host : "");
    bool for_host = host && hx_url_parse(text, &url);
    pthread_mutex_lock(&run->browser.lock);
    const struct hx_cookie *c = hx_jar_find(&run->browser.jar, name, for_host ? &url : NULL, now);
    size_t count = hx_jar_count(&run->browser.jar, name, now);
    size_t size = c ? strlen(c->name) + strlen(c->value) : 0;
    static const char *const same_sites[] = {"default", "lax", "strict", "none"};
    bool secure = c && c->secure, http_only = c && c->http_only;
    const char *same_site = c ? same_sites[c->same_site] : "";
    char domain[256];
    snprintf(domain, sizeof(domain), "%s", c && !c->host_only ? c->domain : "");
    pthread_mutex_unlock(&run->browser.lock);
    if (c) {
        const json_t *want;
        if ((want = json_object_get(v, "secure")) && json_is_true(want) != secure)
            hx_run_fail(run, "cookie %s: Secure is %s", name, secure ? "set" : "not set");
        if ((want = json_object_get(v, "http_only")) && json_is_true(want) != http_only)
            hx_run_fail(run, "cookie %s: HttpOnly is %s", name, http_only ? "set" : "not set");
        if ((want = json_object_get(v, "same_site")) && strcmp(json_string_value(want), same_site) != 0)
            hx_run_fail(run, "cookie %s: SameSite is %s, expected %s", name, same_site, json_string_value(want));
        if ((want = json_object_get(v, "domain")) && strcmp(json_string_value(want), domain) != 0)
            hx_run_fail(run, "cookie %s: Domain is \"%s\", expected \"%s\"", name, domain, json_string_value(want));
    }
    const json_t *present = json_object_get(v, "present");
    if (present && json_is_true(present) != (c != NULL))
        hx_run_fail(run, "cookie %s: expected %s%s%s, it is %s", name,
                    json_is_true(present) ? "present" : "absent", for_host ? " for " : "",
                    for_host ? url.host : "", c ? "present" : "absent");
    const json_t *max = json_object_get(v, "max_bytes");
    if (max && c && (long long)size > json_integer_value(max))
        hx_run_fail(run, "cookie %s: %zu bytes, over %lld", name, size, (long long)json_integer_value(max));
    char want[64];
    const json_t *cnt = json_object_get(v, "count");
    if (cnt && !count_holds(cnt, (long long)count, want, sizeof(want)))
        hx_run_fail(run, "cookie %s: %zu stored, expected %s", name, count, want);
}

/* ---- the IdP's journal ---------------------------------------------- */

static const char *const idp_counts[] = {
    "authorize", "code_exchanges", "refreshes", "refresh_ok", "refresh_rejected", "replayed",
    "rate_limited", "authorize_after_sign_in", "faults_fired", NULL};

static enum idp_status v_idp(struct hx_check *c, const json_t *v, const char *path)
{
    static const char *const keys[] = {"authorize", "code_exchanges", "refreshes", "refresh_ok",
                                       "refresh_rejected", "replayed", "rate_limited",
                                       "authorize_after_sign_in", "faults_fired",
                                       "token_presented_twice", "outcomes", "session_ended", NULL};
    enum idp_status st = hx_check_keys(c, v, path, keys, "idp expectations");
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)v, key, value) {
        char child[300];
        snprintf(child, sizeof(child), "%s/%s", path, key);
        if (st)
            break;
        if (strcmp(key, "token_presented_twice") == 0)
            st = v_bool(c, value, child);
        else if (strcmp(key, "session_ended") == 0)
            st = v_string(c, value, child);
        else if (strcmp(key, "outcomes") == 0) {
            if (!json_is_object(value))
                st = hx_check_fail(c, child, false, "outcomes maps a journal outcome to a count");
            const char *o;
            json_t *n;
            json_object_foreach(value, o, n) {
                char grand[400];
                snprintf(grand, sizeof(grand), "%s/%s", child, o);
                if (!st)
                    st = hx_check_count(c, n, grand);
            }
        } else
            st = hx_check_count(c, value, child);
    }
    return st;
}

static bool is(const json_t *e, const char *field, const char *value)
{
    const char *s = json_string_value(json_object_get(e, field));
    return s && strcmp(s, value) == 0;
}

static void e_idp(struct hx_run *run, const json_t *v)
{
    json_t *journal = hx_run_admin(run, "GET", "/_fakeidp/journal", NULL, NULL);
    json_t *entries = json_object_get(journal, "entries");
    long long counts[16] = {0};
    json_t *outcomes = json_object(), *hashes = json_object();
    bool twice = false;
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e) {
        bool refresh = is(e, "route", "authenticate") && is(e, "grant_type", "refresh_token");
        long long status = json_integer_value(json_object_get(e, "status"));
        counts[0] += is(e, "route", "authorize");
        counts[1] += is(e, "route", "authenticate") && is(e, "grant_type", "authorization_code");
        counts[2] += refresh;
        counts[3] += refresh && status == 200;
        counts[4] += refresh && status != 200;
        counts[5] += is(e, "outcome", "replayed");
        counts[6] += status == 429;
        counts[7] += is(e, "route", "authorize") &&
                     (uint64_t)json_integer_value(json_object_get(e, "seq")) >= run->journal_mark &&
                     run->journal_mark;
        counts[8] += json_string_value(json_object_get(e, "fault")) != NULL;
        const char *outcome = json_string_value(json_object_get(e, "outcome"));
        if (outcome)
            json_object_set_new(outcomes, outcome,
                                json_integer(json_integer_value(json_object_get(outcomes, outcome)) + 1));
        const char *hash = json_string_value(json_object_get(e, "token_hash"));
        if (refresh && hash) {
            if (json_object_get(hashes, hash))
                twice = true;
            json_object_set_new(hashes, hash, json_true());
        }
    }
    char want[64];
    for (int k = 0; idp_counts[k]; k++) {
        const json_t *spec = json_object_get(v, idp_counts[k]);
        if (spec && !count_holds(spec, counts[k], want, sizeof(want)))
            hx_run_fail(run, "idp %s: %lld, expected %s", idp_counts[k], counts[k], want);
    }
    const json_t *t = json_object_get(v, "token_presented_twice");
    if (t && json_is_true(t) != twice)
        hx_run_fail(run, "idp token_presented_twice: expected %s, journal says %s",
                    json_is_true(t) ? "true" : "false", twice ? "true" : "false");
    const char *o;
    json_t *spec;
    json_object_foreach(json_object_get(v, "outcomes"), o, spec) {
        long long n = json_integer_value(json_object_get(outcomes, o));
        if (!count_holds(spec, n, want, sizeof(want)))
            hx_run_fail(run, "idp outcome %s: %lld, expected %s", o, n, want);
    }
    const char *ended = json_string_value(json_object_get(v, "session_ended"));
    if (ended) {
        char outcome_name[96];
        snprintf(outcome_name, sizeof(outcome_name), "session_ended:%s", ended);
        if (!json_object_get(outcomes, outcome_name))
            hx_run_fail(run, "idp session_ended: no refresh was refused with reason %s", ended);
    }
    json_decref(outcomes);
    json_decref(hashes);
    json_decref(journal);
}

/* ---- the app, Convex, time, start-up, timeline ------------------------ */

static enum idp_status v_app(struct hx_check *c, const json_t *v, const char *path)
{
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

static void e_app(struct hx_run *run, const json_t *v)
{
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

static enum idp_status v_convex(struct hx_check *c, const json_t *v, const char *path)
{
    const char *s = json_string_value(v);
    if (!s || (strcmp(s, "authenticated") != 0 && strcmp(s, "unauthenticated") != 0))
        return hx_check_fail(c, path, false, "expected \"authenticated\" or \"unauthenticated\"");
    return IDP_OK;
}

static void e_convex(struct hx_run *run, const json_t *v)
{
    bool want = strcmp(json_string_value(v), "authenticated") == 0;
    pthread_mutex_lock(&run->lock);
    int got = run->convex_authenticated;
    char error[512];
    snprintf(error, sizeof(error), "%s", run->convex_error);
    pthread_mutex_unlock(&run->lock);
    if (got < 0)
        hx_run_fail(run, "convex: no convex_query step ran");
    else if (got != want)
        hx_run_fail(run, "convex: expected %s, the client is %s%s%s", json_string_value(v),
                    got ? "authenticated" : "unauthenticated", error[0] ? ": " : "", error);
}

/* {"<backend>": {"last", "reason", "accepted", "rejected", "anonymous",
 * "jwks_fetches"}}: the named backends' outcomes and counters. */
static enum idp_status v_backend(struct hx_check *c, const json_t *v, const char *path)
{
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

static void e_backend(struct hx_run *run, const json_t *v)
{
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

static void e_convex_error(struct hx_run *run, const json_t *v)
{
    pthread_mutex_lock(&run->lock);
    bool found = strstr(run->convex_error, json_string_value(v)) != NULL;
    char error[512];
    snprintf(error, sizeof(error), "%s", run->convex_error);
    pthread_mutex_unlock(&run->lock);
    if (!found)
        hx_run_fail(run, "convex_error: \"%s\" not in \"%s\"", json_string_value(v), error);
}

static enum idp_status v_duration(struct hx_check *c, const json_t *v, const char *path)
{
    return hx_check_duration(c, v, path);
}

/* Durations here passed lint (hx_check_duration). */
static int64_t duration_ms(const json_t *v)
{
    int64_t ms = 0;
    idp_duration_json(v, false, &ms);
    return ms;
}

static void e_lost_window(struct hx_run *run, const json_t *v, bool after)
{
    pthread_mutex_lock(&run->lock);
    int64_t lost = run->lost_at_ms ? run->lost_at_ms - run->start_ms : -1;
    pthread_mutex_unlock(&run->lock);
    char at[32], bound[32];
    idp_duration_format(lost < 0 ? 0 : lost, at);
    idp_duration_format(duration_ms(v), bound);
    if (lost < 0)
        hx_run_fail(run, "lost_%s: the session was never observed lost", after ? "after" : "before");
    else if (after && lost < duration_ms(v))
        hx_run_fail(run, "lost_after: lost at +%s, earlier than +%s", at, bound);
    else if (!after && lost > duration_ms(v))
        hx_run_fail(run, "lost_before: lost at +%s, later than +%s", at, bound);
}

static void e_lost_after(struct hx_run *run, const json_t *v)
{
    e_lost_window(run, v, true);
}

/* never_lost: true holds when no observation since the last sign-in showed
 * the user signed out (a 401 on one of three parallel calls counts, even if
 * the session came back); false holds when one did. */
static void e_never_lost(struct hx_run *run, const json_t *v)
{
    pthread_mutex_lock(&run->lock);
    int64_t lost = run->lost_at_ms ? run->lost_at_ms - run->start_ms : -1;
    pthread_mutex_unlock(&run->lock);
    char at[32];
    idp_duration_format(lost < 0 ? 0 : lost, at);
    if (json_is_true(v) && lost >= 0)
        hx_run_fail(run, "never_lost: the session was seen lost at +%s", at);
    else if (json_is_false(v) && lost < 0)
        hx_run_fail(run, "never_lost: expected a moment of loss, the session was never seen lost");
}

static void e_lost_before(struct hx_run *run, const json_t *v)
{
    e_lost_window(run, v, false);
}

static void e_start_error(struct hx_run *run, const json_t *v)
{
    if (!run->start_error[0])
        hx_run_fail(run, "start_error: the target started; expected it to refuse with \"%s\"",
                    json_string_value(v));
    else if (!strstr(run->start_error, json_string_value(v)))
        hx_run_fail(run, "start_error: \"%s\" not in \"%s\"", json_string_value(v), run->start_error);
}

static void e_timeline(struct hx_run *run, const json_t *v)
{
    char *text = hx_timeline_text(&run->timeline, "");
    size_t i;
    json_t *s;
    json_t *list = json_is_string(v) ? json_pack("[O]", v) : json_incref((json_t *)v);
    json_array_foreach(list, i, s) {
        if (!text || !strstr(text, json_string_value(s)))
            hx_run_fail(run, "timeline_contains: nothing says \"%s\"", json_string_value(s));
    }
    json_decref(list);
    free(text);
}

static void e_timeline_lacks(struct hx_run *run, const json_t *v)
{
    char *text = hx_timeline_text(&run->timeline, "");
    size_t i;
    json_t *s;
    json_t *list = json_is_string(v) ? json_pack("[O]", v) : json_incref((json_t *)v);
    json_array_foreach(list, i, s) {
        if (text && strstr(text, json_string_value(s)))
            hx_run_fail(run, "timeline_lacks: the timeline says \"%s\"", json_string_value(s));
    }
    json_decref(list);
    free(text);
}

static void e_spa(struct hx_run *run, const json_t *v)
{
    bool want = strcmp(json_string_value(v), "authenticated") == 0;
    int got = hx_spa_tab_authenticated(run, "main");
    if (got != want)
        hx_run_fail(run, "spa: expected the main tab %s, it is %s", json_string_value(v),
                    got < 0 ? "not open" : got ? "authenticated" : "unauthenticated");
}

static void e_spa_degraded(struct hx_run *run, const json_t *v)
{
    if (run->spa.degraded && !json_is_true(v))
        hx_run_fail(run, "spa_degraded: expected none, but %s", run->spa.degraded_why);
    else if (!run->spa.degraded && json_is_true(v))
        hx_run_fail(run, "spa_degraded: expected a signed-out flash or an expired token held, the SPA "
                    "never degraded");
}

static void e_spa_counts(struct hx_run *run, const json_t *v)
{
    const char *key;
    json_t *spec;
    char want[64];
    json_object_foreach((json_t *)v, key, spec) {
        long long n = strcmp(key, "refreshes") == 0 ? run->spa.refreshes : run->spa.expired_calls;
        if (!count_holds(spec, n, want, sizeof(want)))
            hx_run_fail(run, "spa_counts %s: %lld, expected %s", key, n, want);
    }
}

static enum idp_status v_spa_counts(struct hx_check *c, const json_t *v, const char *path)
{
    static const char *const keys[] = {"refreshes", "expired_calls", NULL};
    return hx_check_counts(c, v, path, keys, "spa_counts");
}

static const struct expect_kind kinds[] = {
    {"session", "survives or lost, judged by a final load of the protected page", v_session, e_session},
    {"signed_in", "the last step's page showed the signed-in user", v_bool, e_signed_in},
    {"status", "the last step's HTTP status", v_int, e_status},
    {"login_redirect", "the last step stopped at a redirect to sign in", v_bool, e_login_redirect},
    {"body_contains", "text in the last step's response", v_string, e_body_contains},
    {"redirect", "the last step stopped at a redirect to sign in whose URL contains this", v_string, e_redirect},
    {"claims", "{has, lacks, equals} of the access token the target holds now", v_claims, e_claims},
    {"cookie", "{name, present, max_bytes, count, secure, http_only, same_site, domain} in the browser's jar", v_cookie, e_cookie},
    {"idp", "counts from fakeidp's journal", v_idp, e_idp},
    {"app", "counts from the reference app", v_app, e_app},
    {"convex", "the Convex client's state after convex_query / spa_call steps", v_convex, e_convex},
    {"backend", "{name: {last, reason, accepted, rejected, anonymous, jwks_fetches}} of named backends", v_backend, e_backend},
    {"spa", "the SPA's main tab: authenticated or unauthenticated", v_convex, e_spa},
    {"spa_degraded", "the SPA showed signed out while a token was pending, or held an expired one", v_bool,
     e_spa_degraded},
    {"spa_counts", "{refreshes, expired_calls} of the SPA client", v_spa_counts, e_spa_counts},
    {"convex_error", "text of the Convex client's last AuthError", v_string, e_convex_error},
    {"lost_after", "the session was first seen lost no earlier than this", v_duration, e_lost_after},
    {"lost_before", "the session was first seen lost no later than this", v_duration, e_lost_before},
    {"never_lost", "no page or call after sign-in showed the user signed out", v_bool, e_never_lost},
    {"start_error", "the target refused to start with this text", v_string, e_start_error},
    {"sign_in", "\"fails\": the sign-in must not end signed in", v_sign_in, e_sign_in},
    {"timeline_contains", "text the app, browser or IdP logged", v_strings, e_timeline},
    {"timeline_lacks", "text that must not appear in the timeline", v_strings, e_timeline_lacks},
};

enum idp_status hx_expect_validate(struct hx_check *check, const json_t *expect, const char *path)
{
    if (!json_is_object(expect))
        return hx_check_fail(check, path, false, "expect must be an object");
    const char *key;
    json_t *value;
    enum idp_status first = IDP_OK;
    json_object_foreach((json_t *)expect, key, value) { /* each expectation is checked */
        char child[300];
        snprintf(child, sizeof(child), "%s/%s", path, key);
        const struct expect_kind *k = NULL;
        for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]) && !k; i++)
            if (strcmp(kinds[i].name, key) == 0)
                k = &kinds[i];
        if (!k) {
            const char *names[sizeof(kinds) / sizeof(kinds[0]) + 1];
            for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
                names[i] = kinds[i].name;
            names[sizeof(kinds) / sizeof(kinds[0])] = NULL;
            enum idp_status st = hx_check_unknown(check, child, "expectation", "expectations", key,
                                                  names);
            first = first ? first : st;
            continue;
        }
        enum idp_status st = k->validate(check, value, child);
        first = first ? first : st;
    }
    return first;
}

void hx_expect_evaluate(struct hx_run *run, const json_t *expect)
{
    /* start_error first: nothing else can be judged when the target is down. */
    if (run->start_error[0] && !json_object_get(expect, "start_error")) {
        hx_run_fail(run, "the target did not start: %s", run->start_error);
        return;
    }
    /* session first: its probe (a final page load) may refresh, and the
     * journal and app counts must include what it caused. The probe does not
     * replace the last step's observation. */
    for (int pass = 0; pass < 2; pass++) {
        const char *key;
        json_t *value;
        json_object_foreach((json_t *)expect, key, value) {
            bool probing = strcmp(key, "session") == 0;
            if (probing != (pass == 0))
                continue;
            for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
                if (strcmp(kinds[i].name, key) == 0)
                    kinds[i].evaluate(run, value);
        }
    }
}

json_t *hx_expect_kinds(void)
{
    json_t *out = json_object();
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        json_object_set_new(out, kinds[i].name, json_string(kinds[i].summary));
    return out;
}
