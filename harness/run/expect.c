/* The expectation table. Each row names a key of an "expect" object, parses
 * its value (checks it and keeps it typed) and evaluates it against the
 * run. Counts are exact numbers or {"min", "max"} ranges. Adding an
 * expectation is one row here and its functions in the file of its family
 * (expect_internal.h lists them). Also here: the plain values' parsers and
 * the expectations on time, start-up and the timeline. */
#include "expect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "expect_internal.h"

struct expect_kind {
    const char *name;
    const char *summary;
    hx_expect_parse_fn *parse;
    hx_expect_evaluate_fn *evaluate;
};

/* ---- plain values ------------------------------------------------------- */

static enum idp_status p_boolean(struct hx_check *c, const json_t *v, const char *path,
                                 struct hx_expectation *out)
{
    out->as.flag = json_is_true(v);
    return hx_check_boolean(c, v, path);
}

static enum idp_status p_integer(struct hx_check *c, const json_t *v, const char *path,
                                 struct hx_expectation *out)
{
    out->as.number = json_integer_value(v);
    return hx_check_integer(c, v, path);
}

static enum idp_status p_string(struct hx_check *c, const json_t *v, const char *path,
                                struct hx_expectation *out)
{
    out->as.text = json_string_value(v);
    return hx_check_string(c, v, path);
}

static enum idp_status p_duration(struct hx_check *c, const json_t *v, const char *path,
                                  struct hx_expectation *out)
{
    return hx_check_duration_ms(c, v, path, &out->as.duration_ms);
}

/* A string or an array of strings: evaluated from value. */
static enum idp_status p_strings(struct hx_check *c, const json_t *v, const char *path,
                                 struct hx_expectation *out)
{
    (void)out;
    return hx_check_strings(c, v, path);
}

/* ---- time, start-up and the timeline ---------------------------------- */

static void e_lost_window(struct hx_run *run, int64_t bound_ms, bool after)
{
    pthread_mutex_lock(&run->lock);
    int64_t lost = run->lost_at_ms ? run->lost_at_ms - run->start_ms : -1;
    pthread_mutex_unlock(&run->lock);
    char at[32], bound[32];
    idp_duration_format(lost < 0 ? 0 : lost, at);
    idp_duration_format(bound_ms, bound);
    if (lost < 0)
        hx_run_fail(run, "lost_%s: the session was never observed lost", after ? "after" : "before");
    else if (after && lost < bound_ms)
        hx_run_fail(run, "lost_after: lost at +%s, earlier than +%s", at, bound);
    else if (!after && lost > bound_ms)
        hx_run_fail(run, "lost_before: lost at +%s, later than +%s", at, bound);
}

static void e_lost_after(struct hx_run *run, const struct hx_expectation *e)
{
    e_lost_window(run, e->as.duration_ms, true);
}

/* never_lost: true holds when no observation since the last sign-in showed
 * the user signed out (a 401 on one of three parallel calls counts, even if
 * the session came back); false holds when one did. */
static void e_never_lost(struct hx_run *run, const struct hx_expectation *e)
{
    pthread_mutex_lock(&run->lock);
    int64_t lost = run->lost_at_ms ? run->lost_at_ms - run->start_ms : -1;
    pthread_mutex_unlock(&run->lock);
    char at[32];
    idp_duration_format(lost < 0 ? 0 : lost, at);
    if (e->as.flag && lost >= 0)
        hx_run_fail(run, "never_lost: the session was seen lost at +%s", at);
    else if (!e->as.flag && lost < 0)
        hx_run_fail(run, "never_lost: expected a moment of loss, the session was never seen lost");
}

static void e_lost_before(struct hx_run *run, const struct hx_expectation *e)
{
    e_lost_window(run, e->as.duration_ms, false);
}

static void e_start_error(struct hx_run *run, const struct hx_expectation *e)
{
    if (!run->start_error[0])
        hx_run_fail(run, "start_error: the target started; expected it to refuse with \"%s\"",
                    e->as.text);
    else if (!strstr(run->start_error, e->as.text))
        hx_run_fail(run, "start_error: \"%s\" not in \"%s\"", e->as.text, run->start_error);
}

static void e_timeline(struct hx_run *run, const struct hx_expectation *e)
{
    const json_t *v = e->value;
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

static void e_timeline_lacks(struct hx_run *run, const struct hx_expectation *e)
{
    const json_t *v = e->value;
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

/* ---- the table ------------------------------------------------------ */

/* The expectation table: one row per key of "expect", {name, help,
 * parse, evaluate}, in the order lint lists them. The functions of a
 * row live in the file of its family (expect_internal.h). */
static const struct expect_kind kinds[] = {
    {"session", "survives or lost, judged by a final load of the protected page",
     hx_expect_session_parse, hx_expect_session_evaluate},
    {"signed_in", "the last step's page showed the signed-in user",
     p_boolean, hx_expect_signed_in_evaluate},
    {"status", "the last step's HTTP status",
     p_integer, hx_expect_status_evaluate},
    {"login_redirect", "the last step stopped at a redirect to sign in",
     p_boolean, hx_expect_login_redirect_evaluate},
    {"body_contains", "text in the last step's response",
     p_string, hx_expect_body_contains_evaluate},
    {"redirect", "the last step stopped at a redirect to sign in whose URL contains this",
     p_string, hx_expect_redirect_evaluate},
    {"claims", "{has, lacks, equals} of the access token the target holds now",
     hx_expect_claims_parse, hx_expect_claims_evaluate},
    {"cookie", "{name, present, max_bytes, count, secure, http_only, same_site, domain} in the browser's jar",
     hx_expect_cookie_parse, hx_expect_cookie_evaluate},
    {"idp", "counts from fakeidp's journal",
     hx_expect_idp_parse, hx_expect_idp_evaluate},
    {"app", "counts from the reference app",
     hx_expect_app_parse, hx_expect_app_evaluate},
    {"convex", "the Convex client's state after convex_query / spa_call steps",
     hx_expect_authenticated_parse, hx_expect_convex_evaluate},
    {"backend", "{name: {last, reason, accepted, rejected, anonymous, jwks_fetches}} of named backends",
     hx_expect_backend_parse, hx_expect_backend_evaluate},
    {"spa", "the SPA's main tab: authenticated or unauthenticated",
     hx_expect_authenticated_parse, hx_expect_spa_evaluate},
    {"spa_degraded", "the SPA showed signed out while a token was pending, or held an expired one",
     p_boolean, hx_expect_spa_degraded_evaluate},
    {"spa_counts", "{refreshes, expired_calls} of the SPA client",
     hx_expect_spa_counts_parse, hx_expect_spa_counts_evaluate},
    {"convex_error", "text of the Convex client's last AuthError",
     p_string, hx_expect_convex_error_evaluate},
    {"lost_after", "the session was first seen lost no earlier than this",
     p_duration, e_lost_after},
    {"lost_before", "the session was first seen lost no later than this",
     p_duration, e_lost_before},
    {"never_lost", "no page or call after sign-in showed the user signed out",
     p_boolean, e_never_lost},
    {"start_error", "the target refused to start with this text",
     p_string, e_start_error},
    {"sign_in", "\"fails\": the sign-in must not end signed in",
     hx_expect_sign_in_parse, hx_expect_sign_in_evaluate},
    {"timeline_contains", "text the app, browser or IdP logged",
     p_strings, e_timeline},
    {"timeline_lacks", "text that must not appear in the timeline",
     p_strings, e_timeline_lacks},
};

static const struct expect_kind *kind_named(const char *name)
{
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(kinds[i].name, name) == 0)
            return &kinds[i];
    return NULL;
}

enum idp_status hx_expect_parse(struct hx_check *check, const json_t *expect, const char *path,
                                struct hx_expectations *out)
{
    memset(out, 0, sizeof(*out));
    if (!json_is_object(expect))
        return hx_check_fail(check, path, false, "expect must be an object");
    /* One more than needed: an empty object still has an array. */
    out->items = calloc(json_object_size(expect) + 1, sizeof(*out->items));
    if (!out->items)
        return idp_fail(check->err, IDP_NOMEM, "out of memory");
    const char *key;
    json_t *value;
    enum idp_status first = IDP_OK;
    json_object_foreach((json_t *)expect, key, value) { /* each expectation is checked */
        char child[300];
        snprintf(child, sizeof(child), "%s/%s", path, key);
        const struct expect_kind *k = kind_named(key);
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
        struct hx_expectation *e = &out->items[out->count++];
        e->name = k->name;
        e->row = k;
        e->value = value;
        enum idp_status st = k->parse(check, value, child, e);
        first = first ? first : st;
    }
    return first;
}

void hx_expectations_free(struct hx_expectations *expect)
{
    free(expect->items);
    expect->items = NULL;
    expect->count = 0;
}

const struct hx_expectation *hx_expect_find(const struct hx_expectations *expect, const char *name)
{
    for (size_t i = 0; i < expect->count; i++)
        if (strcmp(expect->items[i].name, name) == 0)
            return &expect->items[i];
    return NULL;
}

enum idp_status hx_expect_validate(struct hx_check *check, const json_t *expect, const char *path)
{
    struct hx_expectations scratch;
    enum idp_status st = hx_expect_parse(check, expect, path, &scratch);
    hx_expectations_free(&scratch);
    return st;
}

void hx_expect_evaluate(struct hx_run *run, const struct hx_expectations *expect)
{
    /* start_error first: nothing else can be judged when the target is down. */
    if (run->start_error[0] && !hx_expect_find(expect, "start_error")) {
        hx_run_fail(run, "the target did not start: %s", run->start_error);
        return;
    }
    /* session first: its probe (a final page load) may refresh, and the
     * journal and app counts must include what it caused. The probe does not
     * replace the last step's observation. */
    const struct expect_kind *session = kind_named("session");
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < expect->count; i++) {
            const struct hx_expectation *e = &expect->items[i];
            const struct expect_kind *k = e->row;
            if ((k == session) == (pass == 0))
                k->evaluate(run, e);
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
