/* The expectations on what the browser saw: the session (a final load of
 * the protected page, or a reload of the SPA), the last step's page
 * (signed in, status, redirects, body), the sign-in, the access token's
 * claims and the cookie jar. Rows in expect.c's table. */
#include "expect_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cookies.h"
#include "verifier.h"

/* ---- session ------------------------------------------------------- */

enum idp_status hx_expect_session_parse(struct hx_check *c, const json_t *v, const char *path,
                                  struct hx_expectation *out)
{
    out->as.text = json_string_value(v);
    const char *s = json_string_value(v);
    if (!s || (strcmp(s, "survives") != 0 && strcmp(s, "lost") != 0))
        return hx_check_fail(c, path, false, "session is \"survives\" or \"lost\"");
    return IDP_OK;
}

void hx_expect_session_evaluate(struct hx_run *run, const struct hx_expectation *ex)
{
    const char *want = ex->as.text;
    const char *app = json_string_value(json_object_get(json_object_get(run->doc, "target"), "app"));
    if (app && strcmp(app, "spa") == 0) {
        /* A single-page app: a reload of the main tab decides. */
        hx_spa_reload(run, "main");
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

/* ---- the last step ----------------------------------------------------- */

void hx_expect_signed_in_evaluate(struct hx_run *run, const struct hx_expectation *ex)
{
    pthread_mutex_lock(&run->lock);
    bool now = run->last.signed_in;
    pthread_mutex_unlock(&run->lock);
    if (now != ex->as.flag)
        hx_run_fail(run, "signed_in: expected %s after the last step, got %s",
                    ex->as.flag ? "true" : "false", now ? "true" : "false");
}

enum idp_status hx_expect_sign_in_parse(struct hx_check *c, const json_t *v, const char *path,
                                  struct hx_expectation *out)
{
    out->as.text = json_string_value(v);
    if (json_is_string(v) && strcmp(json_string_value(v), "fails") == 0)
        return IDP_OK;
    return hx_check_fail(c, path, false, "sign_in takes \"fails\": a sign_in step of this variant "
                                         "must not end signed in (without it, one that does not fails)");
}

/* "fails": every sign_in step is allowed not to end signed in, and one must
 * not (sign_in steps fail by themselves otherwise). */
void hx_expect_sign_in_evaluate(struct hx_run *run, const struct hx_expectation *ex)
{
    pthread_mutex_lock(&run->lock);
    bool failed = run->sign_in_failed;
    pthread_mutex_unlock(&run->lock);
    if (!failed)
        hx_run_fail(run, "sign_in: expected the sign-in to fail, but it ended signed in");
    (void)ex;
}

void hx_expect_status_evaluate(struct hx_run *run, const struct hx_expectation *ex)
{
    pthread_mutex_lock(&run->lock);
    long status = run->last.status;
    pthread_mutex_unlock(&run->lock);
    if (status != ex->as.number)
        hx_run_fail(run, "status: expected %lld from the last step, got %ld",
                    (long long)ex->as.number, status);
}

void hx_expect_login_redirect_evaluate(struct hx_run *run, const struct hx_expectation *ex)
{
    pthread_mutex_lock(&run->lock);
    bool got = run->last.login_redirect;
    pthread_mutex_unlock(&run->lock);
    if (got != ex->as.flag)
        hx_run_fail(run, "login_redirect: expected %s, the last step %s at sign-in",
                    ex->as.flag ? "a redirect to sign in" : "none",
                    got ? "stopped" : "did not stop");
}

void hx_expect_redirect_evaluate(struct hx_run *run, const struct hx_expectation *ex)
{
    pthread_mutex_lock(&run->lock);
    char where[512];
    snprintf(where, sizeof(where), "%s", run->last.stopped_at);
    pthread_mutex_unlock(&run->lock);
    if (!strstr(where, ex->as.text))
        hx_run_fail(run, "redirect: the last step was sent to \"%s\", not to one containing \"%s\"",
                    where[0] ? where : "(no redirect)", ex->as.text);
}

enum idp_status hx_expect_claims_parse(struct hx_check *c, const json_t *v, const char *path,
                                  struct hx_expectation *out)
{
    (void)out; /* evaluated from its checked object */
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
void hx_expect_claims_evaluate(struct hx_run *run, const struct hx_expectation *ex)
{
    const json_t *v = ex->value;
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

void hx_expect_body_contains_evaluate(struct hx_run *run, const struct hx_expectation *ex)
{
    pthread_mutex_lock(&run->lock);
    bool found = strstr(run->last.body_excerpt, ex->as.text) != NULL;
    char excerpt[200];
    snprintf(excerpt, sizeof(excerpt), "%.190s", run->last.body_excerpt);
    pthread_mutex_unlock(&run->lock);
    if (!found)
        hx_run_fail(run, "body_contains: \"%s\" not in the last response (%s)", ex->as.text, excerpt);
}

/* ---- cookies ---------------------------------------------------------- */

enum idp_status hx_expect_cookie_parse(struct hx_check *c, const json_t *v, const char *path,
                                  struct hx_expectation *out)
{
    (void)out; /* evaluated from its checked object */
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

void hx_expect_cookie_evaluate(struct hx_run *run, const struct hx_expectation *ex)
{
    const json_t *v = ex->value;
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
    if (cnt && !hx_count_holds(cnt, (long long)count, want, sizeof(want)))
        hx_run_fail(run, "cookie %s: %zu stored, expected %s", name, count, want);
}
