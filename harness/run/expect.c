/* The expectation table. Each row names a key of an "expect" object, checks
 * its value and evaluates it against the run. Counts are exact numbers or
 * {"min", "max"} ranges. Adding an expectation is one row here and one
 * function in the file of its family (expect_internal.h lists them). Also
 * here: the expectations on time, start-up and the timeline. */
#include "expect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "expect_internal.h"

struct expect_kind {
    const char *name;
    const char *summary;
    hx_expect_validate_fn *validate;
    hx_expect_evaluate_fn *evaluate;
};

/* ---- time, start-up and the timeline ---------------------------------- */

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

/* ---- the table ------------------------------------------------------ */

/* The expectation table: one row per key of "expect", {name, help,
 * validate, evaluate}, in the order lint lists them. The functions of a
 * row live in the file of its family (expect_internal.h). */
static const struct expect_kind kinds[] = {
    {"session", "survives or lost, judged by a final load of the protected page",
     hx_expect_session_validate, hx_expect_session_evaluate},
    {"signed_in", "the last step's page showed the signed-in user",
     hx_check_boolean, hx_expect_signed_in_evaluate},
    {"status", "the last step's HTTP status",
     hx_check_integer, hx_expect_status_evaluate},
    {"login_redirect", "the last step stopped at a redirect to sign in",
     hx_check_boolean, hx_expect_login_redirect_evaluate},
    {"body_contains", "text in the last step's response",
     hx_check_string, hx_expect_body_contains_evaluate},
    {"redirect", "the last step stopped at a redirect to sign in whose URL contains this",
     hx_check_string, hx_expect_redirect_evaluate},
    {"claims", "{has, lacks, equals} of the access token the target holds now",
     hx_expect_claims_validate, hx_expect_claims_evaluate},
    {"cookie", "{name, present, max_bytes, count, secure, http_only, same_site, domain} in the browser's jar",
     hx_expect_cookie_validate, hx_expect_cookie_evaluate},
    {"idp", "counts from fakeidp's journal",
     hx_expect_idp_validate, hx_expect_idp_evaluate},
    {"app", "counts from the reference app",
     hx_expect_app_validate, hx_expect_app_evaluate},
    {"convex", "the Convex client's state after convex_query / spa_call steps",
     hx_expect_authenticated_validate, hx_expect_convex_evaluate},
    {"backend", "{name: {last, reason, accepted, rejected, anonymous, jwks_fetches}} of named backends",
     hx_expect_backend_validate, hx_expect_backend_evaluate},
    {"spa", "the SPA's main tab: authenticated or unauthenticated",
     hx_expect_authenticated_validate, hx_expect_spa_evaluate},
    {"spa_degraded", "the SPA showed signed out while a token was pending, or held an expired one",
     hx_check_boolean, hx_expect_spa_degraded_evaluate},
    {"spa_counts", "{refreshes, expired_calls} of the SPA client",
     hx_expect_spa_counts_validate, hx_expect_spa_counts_evaluate},
    {"convex_error", "text of the Convex client's last AuthError",
     hx_check_string, hx_expect_convex_error_evaluate},
    {"lost_after", "the session was first seen lost no earlier than this",
     hx_check_duration, e_lost_after},
    {"lost_before", "the session was first seen lost no later than this",
     hx_check_duration, e_lost_before},
    {"never_lost", "no page or call after sign-in showed the user signed out",
     hx_check_boolean, e_never_lost},
    {"start_error", "the target refused to start with this text",
     hx_check_string, e_start_error},
    {"sign_in", "\"fails\": the sign-in must not end signed in",
     hx_expect_sign_in_validate, hx_expect_sign_in_evaluate},
    {"timeline_contains", "text the app, browser or IdP logged",
     hx_check_strings, e_timeline},
    {"timeline_lacks", "text that must not appear in the timeline",
     hx_check_strings, e_timeline_lacks},
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
