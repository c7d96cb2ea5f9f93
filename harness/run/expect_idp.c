/* The expectations on fakeidp's journal: counts of authorize trips, code
 * exchanges, refreshes and their outcomes, rate limits, faults fired, a
 * refresh token presented twice, a session ended for a reason. A row in
 * expect.c's table. */
#include "expect_internal.h"

#include <stdio.h>
#include <string.h>

static const char *const idp_counts[] = {
    "authorize", "code_exchanges", "refreshes", "refresh_ok", "refresh_rejected", "replayed",
    "rate_limited", "authorize_after_sign_in", "faults_fired", NULL};

enum idp_status hx_expect_idp_parse(struct hx_check *c, const json_t *v, const char *path,
                                  struct hx_expectation *out)
{
    (void)out; /* evaluated from its checked object */
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
            st = hx_check_boolean(c, value, child);
        else if (strcmp(key, "session_ended") == 0)
            st = hx_check_string(c, value, child);
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

void hx_expect_idp_evaluate(struct hx_run *run, const struct hx_expectation *ex)
{
    const json_t *v = ex->value;
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
        if (spec && !hx_count_holds(spec, counts[k], want, sizeof(want)))
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
        if (!hx_count_holds(spec, n, want, sizeof(want)))
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
