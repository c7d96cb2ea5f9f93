/* The refresh_token grant (workos-wire.md §2.3, §6, checklist §9.5, §9.9):
 * each refresh mode under real concurrency (eight connections presenting
 * the same token at once), rotation, the replay grace, session limits on the
 * virtual clock, organization re-scoping, logout / revoke, and the browser
 * cookie mode of authkit-js. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_server.h"

#define N 8
#define AUTHENTICATE "/user_management/authenticate"
#define EXCHANGED "Refresh token already exchanged."

static const char *const json_headers[] = {"Content-Type: application/json", NULL};

static char *refresh_body(const char *client_id, const char *token)
{
    json_t *body = json_pack("{s:s, s:s, s:s}", "grant_type", "refresh_token", "client_id",
                             client_id, "refresh_token", token);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    return text;
}

/* Eight connections present the same refresh token at once. */
static void race_refresh(struct ts_server *ts, const char *token,
                         struct hx_http_response resps[N])
{
    char *body = refresh_body(ts->client_id, token);
    ts_race(ts, N, "POST", AUTHENTICATE, json_headers, body, resps);
    free(body);
}

static int count_status(const struct hx_http_response *resps, long status)
{
    int n = 0;
    for (int i = 0; i < N; i++)
        n += resps[i].status == status;
    return n;
}

static int winner(const struct hx_http_response *resps)
{
    for (int i = 0; i < N; i++)
        if (resps[i].status == 200)
            return i;
    fail_msg("no request won");
    return -1;
}

/* How many refresh_token entries in the journal have this outcome. */
static int count_outcome(struct ts_server *ts, const char *outcome)
{
    json_t *entries = ts_journal(ts);
    int n = 0;
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e) {
        if (strcmp(ts_entry_str(e, "route"), "authenticate") == 0 &&
            strcmp(ts_entry_str(e, "grant_type"), "refresh_token") == 0 &&
            strcmp(ts_entry_str(e, "outcome"), outcome) == 0)
            n++;
    }
    json_decref(entries);
    return n;
}

static void cleanup_all(struct hx_http_response *resps)
{
    for (int i = 0; i < N; i++)
        hx_http_response_cleanup(&resps[i]);
}

static void check_last_refresh_outcome(struct ts_server *ts, const char *outcome)
{
    json_t *entry = ts_journal_last(ts, "authenticate");
    assert_string_equal(ts_entry_str(entry, "grant_type"), "refresh_token");
    assert_string_equal(ts_entry_str(entry, "outcome"), outcome);
    json_decref(entry);
}

/* --- concurrency, one test per mode -------------------------------------------------- */

static void test_refresh_grace_concurrent_replays_get_identical_response(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    struct hx_http_response resps[N];
    race_refresh(ts, s.refresh_token, resps);
    assert_int_equal(count_status(resps, 200), N);
    for (int i = 1; i < N; i++) {
        assert_int_equal(resps[i].body_len, resps[0].body_len);
        assert_memory_equal(resps[i].body, resps[0].body, resps[0].body_len);
    }
    struct ts_session next;
    ts_session_parse(&resps[0], &next);
    assert_string_not_equal(next.refresh_token, s.refresh_token);
    assert_string_equal(next.sid, s.sid);
    assert_int_equal(count_outcome(ts, "rotated"), 1);
    assert_int_equal(count_outcome(ts, "replayed"), N - 1);
    ts_session_cleanup(&next);
    cleanup_all(resps);
    ts_session_cleanup(&s);
}

static void test_refresh_strict_concurrent_exactly_one_wins(void **state)
{
    struct ts_server *ts = TS_START(state, "{\"settings\":{\"refresh_mode\":\"strict\"}}");
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    struct hx_http_response resps[N];
    race_refresh(ts, s.refresh_token, resps);
    assert_int_equal(count_status(resps, 200), 1);
    assert_int_equal(count_status(resps, 400), N - 1);
    for (int i = 0; i < N; i++)
        if (resps[i].status != 200)
            assert_oauth_error(&resps[i], 400, "invalid_grant", EXCHANGED);
    assert_int_equal(count_outcome(ts, "rotated"), 1);
    assert_int_equal(count_outcome(ts, "already_exchanged"), N - 1);
    /* the winner's successor works: strict does not revoke the family */
    struct ts_session next;
    ts_session_parse(&resps[winner(resps)], &next);
    struct hx_http_response resp;
    ts_refresh(ts, NULL, NULL, next.refresh_token, NULL, NULL, &resp);
    assert_status(&resp, 200);
    hx_http_response_cleanup(&resp);
    ts_session_cleanup(&next);
    cleanup_all(resps);
    ts_session_cleanup(&s);
}

static void test_refresh_revoke_family_concurrent_ends_session(void **state)
{
    struct ts_server *ts = TS_START(state, "{\"settings\":{\"refresh_mode\":\"revoke_family\"}}");
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    struct hx_http_response resps[N];
    race_refresh(ts, s.refresh_token, resps);
    assert_int_equal(count_status(resps, 200), 1);
    /* The first reuse ends the session ("already exchanged"); later ones
     * find it ended. Every loser gets invalid_grant. */
    for (int i = 0; i < N; i++)
        if (resps[i].status != 200)
            assert_oauth_error(&resps[i], 400, "invalid_grant", NULL);
    int reused = count_outcome(ts, "reuse_revoked_session");
    assert_true(reused >= 1);
    assert_int_equal(reused + count_outcome(ts, "session_ended:refresh_token_reuse"), N - 1);
    /* the reuse ended the session: the winner's new token is dead too */
    struct ts_session next;
    ts_session_parse(&resps[winner(resps)], &next);
    struct hx_http_response resp;
    ts_refresh(ts, NULL, NULL, next.refresh_token, NULL, NULL, &resp);
    assert_oauth_error(&resp, 400, "invalid_grant", NULL);
    hx_http_response_cleanup(&resp);
    check_last_refresh_outcome(ts, "session_ended:refresh_token_reuse");
    ts_session_cleanup(&next);
    cleanup_all(resps);
    ts_session_cleanup(&s);
}

/* An exchange is in flight from its start until its reply leaves, slow
 * replies included: a latency in phase "after" holds the first one there. */
#define HOLD_IN_FLIGHT(ms)                                                                  \
    "{\"route\":\"authenticate\",\"grant_type\":\"refresh_token\",\"action\":\"latency\"," \
    "\"phase\":\"after\",\"delay\":\"" ms "\"}"

static void test_refresh_concurrent_429_one_wins_rest_get_retry_after(void **state)
{
    struct ts_server *ts = TS_START(state, "{\"settings\":{\"refresh_mode\":\"concurrent_429\","
                                           "\"retry_after\":\"2s\"}}");
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    free(ts_add_fault(ts, HOLD_IN_FLIGHT("400ms")));
    struct hx_http_response resps[N];
    race_refresh(ts, s.refresh_token, resps);
    assert_int_equal(count_status(resps, 200), 1);
    assert_int_equal(count_status(resps, 429), N - 1);
    for (int i = 0; i < N; i++) {
        if (resps[i].status != 429)
            continue;
        assert_code_error(&resps[i], 429, "rate_limit_exceeded");
        assert_non_null(ts_header(&resps[i], "Retry-After"));
        assert_string_equal(ts_header(&resps[i], "Retry-After"), "2");
    }
    assert_int_equal(count_outcome(ts, "concurrent_429"), N - 1);
    cleanup_all(resps);
    ts_session_cleanup(&s);
}

struct background_refresh {
    struct ts_server *ts;
    const char *token;
    struct hx_http_response resp;
    pthread_t thread;
};

static void *background_refresh_run(void *arg)
{
    struct background_refresh *b = arg;
    struct hx_http_client *client = hx_http_client_new();
    char *body = refresh_body(b->ts->client_id, b->token);
    ts_request(b->ts, client, "POST", AUTHENTICATE, json_headers, body, &b->resp);
    free(body);
    hx_http_client_free(&client);
    return NULL;
}

/* Both halves of WorkOS's rule: 429 to a replay while the first exchange is
 * in flight, the grace rule (the identical pair) once it has finished. */
static void test_refresh_concurrent_429_only_while_first_exchange_in_flight(void **state)
{
    struct ts_server *ts = TS_START(state, "{\"settings\":{\"refresh_mode\":\"concurrent_429\","
                                           "\"retry_after\":\"2s\"}}");
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    char *id = ts_add_fault(ts, "{\"route\":\"authenticate\",\"grant_type\":\"refresh_token\","
                                "\"action\":\"latency\",\"phase\":\"after\",\"delay\":\"1500ms\","
                                "\"count\":1}");
    free(id);
    struct background_refresh first = {.ts = ts, .token = s.refresh_token};
    assert_int_equal(pthread_create(&first.thread, NULL, background_refresh_run, &first), 0);
    /* the first exchange has been handled and is held in its after phase */
    bool rotated = false;
    for (int i = 0; i < 100 && !rotated; i++) {
        ts_sleep_ms(10);
        json_t *sessions = ts_admin(ts, "GET", "/_fakeidp/sessions", NULL, 200);
        json_t *one = json_array_get(json_object_get(sessions, "data"), 0);
        rotated = json_integer_value(json_object_get(one, "refresh_count")) == 1;
        json_decref(sessions);
    }
    assert_true(rotated);
    struct hx_http_response during, after;
    ts_refresh(ts, NULL, NULL, s.refresh_token, NULL, NULL, &during);
    assert_code_error(&during, 429, "rate_limit_exceeded");
    assert_string_equal(ts_header(&during, "Retry-After"), "2");
    check_last_refresh_outcome(ts, "concurrent_429");
    pthread_join(first.thread, NULL);
    assert_status(&first.resp, 200);
    /* finished: a replay (an app retrying after Retry-After) gets the same pair */
    ts_refresh(ts, NULL, NULL, s.refresh_token, NULL, NULL, &after);
    assert_status(&after, 200);
    assert_string_equal(after.body, first.resp.body);
    check_last_refresh_outcome(ts, "replayed");
    hx_http_response_cleanup(&after);
    /* and past the grace, invalid_grant */
    ts_advance(ts, "31s");
    ts_refresh(ts, NULL, NULL, s.refresh_token, NULL, NULL, &after);
    assert_oauth_error(&after, 400, "invalid_grant", EXCHANGED);
    assert_int_equal(count_outcome(ts, "concurrent_429"), 1);
    hx_http_response_cleanup(&after);
    hx_http_response_cleanup(&during);
    hx_http_response_cleanup(&first.resp);
    ts_session_cleanup(&s);
}

/* A barrier that lets requests in one at a time, each 100 ms after its
 * predecessor's handler: every replay arrives after the previous exchange
 * finished, so none is concurrent and none gets 429. */
static void test_refresh_concurrent_429_sequential_replays_get_the_pair(void **state)
{
    struct ts_server *ts = TS_START(state, "{\"settings\":{\"refresh_mode\":\"concurrent_429\"}}");
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    free(ts_add_fault(ts, "{\"route\":\"authenticate\",\"grant_type\":\"refresh_token\","
                          "\"action\":\"barrier\",\"hold\":3,\"gap\":\"100ms\"}"));
    struct hx_http_response resps[3];
    char *body = refresh_body(ts->client_id, s.refresh_token);
    ts_race(ts, 3, "POST", AUTHENTICATE, json_headers, body, resps);
    free(body);
    for (int i = 0; i < 3; i++) {
        assert_status(&resps[i], 200);
        assert_string_equal(resps[i].body, resps[0].body);
    }
    assert_int_equal(count_outcome(ts, "rotated"), 1);
    assert_int_equal(count_outcome(ts, "replayed"), 2);
    for (int i = 0; i < 3; i++)
        hx_http_response_cleanup(&resps[i]);
    ts_session_cleanup(&s);
}

/* The same barrier with a slow reply: the barrier passes its turn when the
 * handler is done, but the exchange is in flight until its reply leaves, so
 * each successor gets 429. */
static void test_refresh_concurrent_429_barrier_with_slow_reply_gets_429(void **state)
{
    struct ts_server *ts = TS_START(state, "{\"settings\":{\"refresh_mode\":\"concurrent_429\"}}");
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    free(ts_add_fault(ts, "{\"route\":\"authenticate\",\"grant_type\":\"refresh_token\","
                          "\"action\":\"barrier\",\"hold\":3,\"gap\":\"25ms\"}"));
    free(ts_add_fault(ts, HOLD_IN_FLIGHT("500ms")));
    struct hx_http_response resps[3];
    char *body = refresh_body(ts->client_id, s.refresh_token);
    ts_race(ts, 3, "POST", AUTHENTICATE, json_headers, body, resps);
    free(body);
    int ok = 0;
    for (int i = 0; i < 3; i++) {
        ok += resps[i].status == 200;
        if (resps[i].status != 200)
            assert_code_error(&resps[i], 429, "rate_limit_exceeded");
    }
    assert_int_equal(ok, 1);
    assert_int_equal(count_outcome(ts, "concurrent_429"), 2);
    for (int i = 0; i < 3; i++)
        hx_http_response_cleanup(&resps[i]);
    ts_session_cleanup(&s);
}

static void test_refresh_concurrent_429_after_grace_is_invalid_grant(void **state)
{
    struct ts_server *ts = TS_START(state, "{\"settings\":{\"refresh_mode\":\"concurrent_429\"}}");
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    struct hx_http_response resp;
    ts_refresh(ts, NULL, NULL, s.refresh_token, NULL, NULL, &resp);
    assert_status(&resp, 200);
    hx_http_response_cleanup(&resp);
    ts_advance(ts, "31s");
    ts_refresh(ts, NULL, NULL, s.refresh_token, NULL, NULL, &resp);
    assert_oauth_error(&resp, 400, "invalid_grant", EXCHANGED);
    hx_http_response_cleanup(&resp);
    ts_session_cleanup(&s);
}

/* --- rotation and the grace ------------------------------------------------------------ */

static void test_refresh_rotates_tokens_and_keeps_sid(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    struct ts_sign_in in = {.login_hint = "bob@example.com"};
    ts_sign_in(ts, &in, &s);
    ts_advance(ts, "2m");
    struct hx_http_response resp;
    ts_refresh(ts, NULL, NULL, s.refresh_token, NULL, NULL, &resp);
    struct ts_session next;
    ts_session_parse(&resp, &next);
    char keys[512];
    ts_top_keys(resp.body, keys, sizeof(keys));
    assert_string_equal(keys,
                        "user,organization_id,access_token,refresh_token,authentication_method");
    assert_string_not_equal(next.refresh_token, s.refresh_token);
    assert_string_not_equal(next.access_token, s.access_token);
    assert_string_equal(next.sid, s.sid);
    assert_string_not_equal(json_string_value(json_object_get(next.claims, "jti")),
                            json_string_value(json_object_get(s.claims, "jti")));
    assert_int_equal(json_integer_value(json_object_get(next.claims, "iat")),
                     TS_T0_MS / 1000 + 120);
    assert_string_equal(json_string_value(json_object_get(next.claims, "org_id")), TS_ORG_ACME);
    check_last_refresh_outcome(ts, "rotated");
    /* and the successor rotates again */
    hx_http_response_cleanup(&resp);
    ts_refresh(ts, NULL, NULL, next.refresh_token, NULL, NULL, &resp);
    assert_status(&resp, 200);
    hx_http_response_cleanup(&resp);
    ts_session_cleanup(&next);
    ts_session_cleanup(&s);
}

static void test_refresh_reuse_within_grace_returns_same_pair(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    struct hx_http_response first, again;
    ts_refresh(ts, NULL, NULL, s.refresh_token, NULL, NULL, &first);
    assert_status(&first, 200);
    ts_advance(ts, "29s");
    ts_refresh(ts, NULL, NULL, s.refresh_token, NULL, NULL, &again);
    assert_status(&again, 200);
    assert_string_equal(again.body, first.body);
    check_last_refresh_outcome(ts, "replayed");
    /* the successor still works after the replay */
    struct ts_session next;
    ts_session_parse(&first, &next);
    hx_http_response_cleanup(&again);
    ts_refresh(ts, NULL, NULL, next.refresh_token, NULL, NULL, &again);
    assert_status(&again, 200);
    hx_http_response_cleanup(&again);
    hx_http_response_cleanup(&first);
    ts_session_cleanup(&next);
    ts_session_cleanup(&s);
}

static void test_refresh_replay_after_grace_is_invalid_grant(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    struct hx_http_response resp;
    ts_refresh(ts, NULL, NULL, s.refresh_token, NULL, NULL, &resp);
    assert_status(&resp, 200);
    hx_http_response_cleanup(&resp);
    ts_advance(ts, "31s");
    ts_refresh(ts, NULL, NULL, s.refresh_token, NULL, NULL, &resp);
    assert_oauth_error(&resp, 400, "invalid_grant", EXCHANGED);
    hx_http_response_cleanup(&resp);
    check_last_refresh_outcome(ts, "already_exchanged");
    ts_session_cleanup(&s);
}

static void test_refresh_grace_setting_shortens_the_window(void **state)
{
    struct ts_server *ts = TS_START(state, "{\"settings\":{\"refresh_grace\":\"5s\"}}");
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    struct hx_http_response resp;
    ts_refresh(ts, NULL, NULL, s.refresh_token, NULL, NULL, &resp);
    assert_status(&resp, 200);
    hx_http_response_cleanup(&resp);
    ts_advance(ts, "5s");
    ts_refresh(ts, NULL, NULL, s.refresh_token, NULL, NULL, &resp);
    assert_status(&resp, 200); /* 5 s is still inside */
    hx_http_response_cleanup(&resp);
    ts_advance(ts, "1s");
    ts_refresh(ts, NULL, NULL, s.refresh_token, NULL, NULL, &resp);
    assert_oauth_error(&resp, 400, "invalid_grant", EXCHANGED);
    hx_http_response_cleanup(&resp);
    ts_session_cleanup(&s);
}

/* --- session limits on the virtual clock ------------------------------------------------ */

static void test_session_max_age_ends_refresh(void **state)
{
    struct ts_server *ts = TS_START(state, "{\"settings\":{\"session_max_age\":\"1h\"}}");
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    ts_advance(ts, "59m");
    struct hx_http_response resp;
    ts_refresh(ts, NULL, NULL, s.refresh_token, NULL, NULL, &resp);
    struct ts_session next;
    ts_session_parse(&resp, &next);
    hx_http_response_cleanup(&resp);
    ts_advance(ts, "1m");
    ts_refresh(ts, NULL, NULL, next.refresh_token, NULL, NULL, &resp);
    assert_oauth_error(&resp, 400, "invalid_grant", NULL);
    hx_http_response_cleanup(&resp);
    check_last_refresh_outcome(ts, "session_ended:max_age");
    ts_session_cleanup(&next);
    ts_session_cleanup(&s);
}

static void test_inactivity_timeout_ends_refresh_but_activity_extends_it(void **state)
{
    struct ts_server *ts = TS_START(state, "{\"settings\":{\"inactivity_timeout\":\"10m\"}}");
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    char token[128];
    snprintf(token, sizeof(token), "%s", s.refresh_token);
    /* 9 minutes of quiet, three times over: 27 minutes, still alive */
    for (int i = 0; i < 3; i++) {
        ts_advance(ts, "9m");
        struct hx_http_response resp;
        ts_refresh(ts, NULL, NULL, token, NULL, NULL, &resp);
        struct ts_session next;
        ts_session_parse(&resp, &next);
        snprintf(token, sizeof(token), "%s", next.refresh_token);
        ts_session_cleanup(&next);
        hx_http_response_cleanup(&resp);
    }
    ts_advance(ts, "10m");
    struct hx_http_response resp;
    ts_refresh(ts, NULL, NULL, token, NULL, NULL, &resp);
    assert_oauth_error(&resp, 400, "invalid_grant", NULL);
    hx_http_response_cleanup(&resp);
    check_last_refresh_outcome(ts, "session_ended:inactivity");
    ts_session_cleanup(&s);
}

static void test_refresh_ttl_expires_the_token(void **state)
{
    struct ts_server *ts = TS_START(state, "{\"settings\":{\"refresh_ttl\":\"5m\"}}");
    struct ts_session s, t;
    ts_sign_in(ts, NULL, &s);
    ts_sign_in(ts, NULL, &t);
    ts_advance(ts, "4m59s");
    struct hx_http_response resp;
    ts_refresh(ts, NULL, NULL, t.refresh_token, NULL, NULL, &resp);
    assert_status(&resp, 200);
    hx_http_response_cleanup(&resp);
    ts_advance(ts, "1s");
    ts_refresh(ts, NULL, NULL, s.refresh_token, NULL, NULL, &resp);
    assert_oauth_error(&resp, 400, "invalid_grant", "Refresh token has expired.");
    hx_http_response_cleanup(&resp);
    check_last_refresh_outcome(ts, "refresh_token_expired");
    ts_session_cleanup(&s);
    ts_session_cleanup(&t);
}

/* --- organization re-scoping ------------------------------------------------------------- */

static void test_refresh_rescopes_to_member_organization(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    struct ts_sign_in in = {.login_hint = "bob@example.com", .organization_id = TS_ORG_ACME};
    ts_sign_in(ts, &in, &s);
    assert_string_equal(json_string_value(json_object_get(s.claims, "role")), "admin");
    struct hx_http_response resp;
    ts_refresh(ts, NULL, NULL, s.refresh_token, TS_ORG_GLOBEX, NULL, &resp);
    struct ts_session next;
    ts_session_parse(&resp, &next);
    assert_string_equal(json_string_value(json_object_get(next.body, "organization_id")),
                        TS_ORG_GLOBEX);
    assert_string_equal(json_string_value(json_object_get(next.claims, "org_id")), TS_ORG_GLOBEX);
    assert_string_equal(json_string_value(json_object_get(next.claims, "role")), "member");
    assert_int_equal(json_array_size(json_object_get(next.claims, "permissions")), 1);
    assert_null(json_object_get(next.claims, "entitlements"));
    assert_string_equal(next.sid, s.sid);
    hx_http_response_cleanup(&resp);
    /* the scope sticks on the next refresh without organization_id */
    ts_refresh(ts, NULL, NULL, next.refresh_token, NULL, NULL, &resp);
    struct ts_session third;
    ts_session_parse(&resp, &third);
    assert_string_equal(json_string_value(json_object_get(third.claims, "org_id")), TS_ORG_GLOBEX);
    hx_http_response_cleanup(&resp);
    ts_session_cleanup(&third);
    ts_session_cleanup(&next);
    ts_session_cleanup(&s);
}

static void test_refresh_to_non_member_organization_is_rejected(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    ts_sign_in(ts, NULL, &s); /* alice: no memberships */
    struct hx_http_response resp;
    ts_refresh(ts, NULL, NULL, s.refresh_token, TS_ORG_ACME, NULL, &resp);
    assert_code_error(&resp, 400, "organization_membership_not_found");
    hx_http_response_cleanup(&resp);
    check_last_refresh_outcome(ts, "organization_membership_not_found");
    /* the refusal did not spend the token */
    ts_refresh(ts, NULL, NULL, s.refresh_token, NULL, NULL, &resp);
    assert_status(&resp, 200);
    hx_http_response_cleanup(&resp);
    ts_session_cleanup(&s);
}

/* --- ended sessions and bad tokens ---------------------------------------------------------- */

static void test_logout_then_refresh_is_invalid_grant(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    char path[256];
    snprintf(path, sizeof(path), "/user_management/sessions/logout?session_id=%s", s.sid);
    struct hx_http_response resp;
    ts_get(ts, path, NULL, &resp);
    assert_status(&resp, 200);
    hx_http_response_cleanup(&resp);
    ts_refresh(ts, NULL, NULL, s.refresh_token, NULL, NULL, &resp);
    assert_oauth_error(&resp, 400, "invalid_grant", NULL);
    hx_http_response_cleanup(&resp);
    check_last_refresh_outcome(ts, "session_ended:logout");
    ts_session_cleanup(&s);
}

static void test_revoke_then_refresh_is_invalid_grant(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s, other;
    ts_sign_in(ts, NULL, &s);
    ts_sign_in(ts, NULL, &other);
    const char *headers[] = {"Authorization: Bearer " TS_API_KEY, NULL};
    struct hx_http_response resp;
    ts_post_json(ts, NULL, "/user_management/sessions/revoke", headers,
                 json_pack("{s:s}", "session_id", s.sid), &resp);
    assert_status(&resp, 200);
    hx_http_response_cleanup(&resp);
    ts_refresh(ts, NULL, NULL, s.refresh_token, NULL, NULL, &resp);
    assert_oauth_error(&resp, 400, "invalid_grant", NULL);
    hx_http_response_cleanup(&resp);
    check_last_refresh_outcome(ts, "session_ended:revoked");
    /* another session of the same user is untouched */
    ts_refresh(ts, NULL, NULL, other.refresh_token, NULL, NULL, &resp);
    assert_status(&resp, 200);
    hx_http_response_cleanup(&resp);
    ts_session_cleanup(&other);
    ts_session_cleanup(&s);
}

static void test_unknown_refresh_token_is_invalid_grant(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct hx_http_response resp;
    ts_refresh(ts, NULL, NULL, "NoSuchRefreshToken0000000", NULL, NULL, &resp);
    assert_oauth_error(&resp, 400, "invalid_grant", NULL);
    hx_http_response_cleanup(&resp);
    check_last_refresh_outcome(ts, "unknown_token");
}

static void test_refresh_token_of_another_client_is_invalid_grant(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    struct hx_http_response resp;
    ts_refresh(ts, NULL, TS_OTHER_CLIENT, s.refresh_token, NULL, NULL, &resp);
    assert_oauth_error(&resp, 400, "invalid_grant", NULL);
    hx_http_response_cleanup(&resp);
    /* not spent by the wrong client */
    ts_refresh(ts, NULL, NULL, s.refresh_token, NULL, NULL, &resp);
    assert_status(&resp, 200);
    hx_http_response_cleanup(&resp);
    ts_session_cleanup(&s);
}

/* --- the browser cookie mode ---------------------------------------------------------------- */

static void check_cookies(const struct hx_http_response *resp, const char *token,
                          const char *client_id)
{
    char want[256];
    snprintf(want, sizeof(want), "workos-refresh-token=%s;", token);
    const char *refresh = ts_header_starting(resp, "Set-Cookie", "workos-refresh-token=");
    assert_non_null(refresh);
    assert_memory_equal(refresh, want, strlen(want));
    assert_non_null(strstr(refresh, "HttpOnly"));
    assert_non_null(strstr(refresh, "Path=/"));
    char marker[256];
    snprintf(marker, sizeof(marker), "workos-has-session=%s;", client_id);
    const char *has = ts_header_starting(resp, "Set-Cookie", "workos-has-session=");
    assert_non_null(has);
    assert_memory_equal(has, marker, strlen(marker));
    assert_null(strstr(has, "HttpOnly")); /* authkit-js reads it from document.cookie */
}

static void test_browser_cookie_mode_refreshes_from_the_cookie(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    struct ts_pkce pkce;
    ts_pkce(&pkce, 512);
    struct ts_authorize a = {.challenge = pkce.challenge};
    char *code = ts_code(ts, &a);
    struct ts_exchange x = {.client_id = ts->client_id, .code = code, .verifier = pkce.verifier,
                            .origin = TS_ORIGIN};
    struct hx_http_response resp;
    ts_exchange(ts, &x, &resp);
    ts_session_parse(&resp, &s);
    check_cookies(&resp, s.refresh_token, ts->client_id);
    assert_string_equal(ts_header(&resp, "Access-Control-Allow-Origin"), TS_ORIGIN);
    assert_string_equal(ts_header(&resp, "Access-Control-Allow-Credentials"), "true");
    hx_http_response_cleanup(&resp);
    /* authkit-js production mode: no refresh_token in the body, the cookie instead */
    char cookie[256];
    snprintf(cookie, sizeof(cookie), "Cookie: workos-has-session=%s; workos-refresh-token=%s",
             ts->client_id, s.refresh_token);
    const char *headers[] = {"Origin: " TS_ORIGIN, cookie, NULL};
    ts_refresh(ts, NULL, NULL, NULL, NULL, headers, &resp);
    struct ts_session next;
    ts_session_parse(&resp, &next);
    assert_string_equal(next.sid, s.sid);
    check_cookies(&resp, next.refresh_token, ts->client_id);
    check_last_refresh_outcome(ts, "rotated");
    hx_http_response_cleanup(&resp);
    ts_session_cleanup(&next);
    ts_session_cleanup(&s);
    free(code);
}

static void test_refresh_without_token_or_cookie_is_invalid_request(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    const char *headers[] = {"Origin: " TS_ORIGIN, NULL};
    struct hx_http_response resp;
    ts_refresh(ts, NULL, NULL, NULL, NULL, headers, &resp);
    assert_oauth_error(&resp, 400, "invalid_request", "refresh_token is required.");
    hx_http_response_cleanup(&resp);
    /* an unrelated cookie does not count */
    const char *other[] = {"Origin: " TS_ORIGIN, "Cookie: workos-has-session=1", NULL};
    ts_refresh(ts, NULL, NULL, NULL, NULL, other, &resp);
    assert_oauth_error(&resp, 400, "invalid_request", "refresh_token is required.");
    hx_http_response_cleanup(&resp);
    check_last_refresh_outcome(ts, "refresh_token_missing");
}

static void test_no_refresh_cookie_for_disallowed_origin_or_when_disabled(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    /* an origin that is not allowed, then an allowed one with the mode off */
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1)
            ts_settings(ts, "{\"refresh_cookie\":false}");
        struct ts_pkce pkce;
        ts_pkce(&pkce, 43);
        struct ts_authorize a = {.challenge = pkce.challenge};
        char *code = ts_code(ts, &a);
        struct ts_exchange x = {.client_id = ts->client_id, .code = code,
                                .verifier = pkce.verifier,
                                .origin = pass == 0 ? "https://evil.example" : TS_ORIGIN};
        struct hx_http_response resp;
        ts_exchange(ts, &x, &resp);
        assert_status(&resp, 200);
        assert_null(ts_header(&resp, "Set-Cookie"));
        if (pass == 0)
            assert_null(ts_header(&resp, "Access-Control-Allow-Origin"));
        hx_http_response_cleanup(&resp);
        free(code);
    }
    /* with the cookie mode off, a cookie alone is not read */
    ts_sign_in(ts, NULL, &s);
    char cookie[256];
    snprintf(cookie, sizeof(cookie), "Cookie: workos-refresh-token=%s", s.refresh_token);
    const char *headers[] = {"Origin: " TS_ORIGIN, cookie, NULL};
    struct hx_http_response resp;
    ts_refresh(ts, NULL, NULL, NULL, NULL, headers, &resp);
    assert_oauth_error(&resp, 400, "invalid_request", "refresh_token is required.");
    hx_http_response_cleanup(&resp);
    ts_session_cleanup(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TS_TEST(test_refresh_grace_concurrent_replays_get_identical_response),
        TS_TEST(test_refresh_strict_concurrent_exactly_one_wins),
        TS_TEST(test_refresh_revoke_family_concurrent_ends_session),
        TS_TEST(test_refresh_concurrent_429_one_wins_rest_get_retry_after),
        TS_TEST(test_refresh_concurrent_429_only_while_first_exchange_in_flight),
        TS_TEST(test_refresh_concurrent_429_sequential_replays_get_the_pair),
        TS_TEST(test_refresh_concurrent_429_barrier_with_slow_reply_gets_429),
        TS_TEST(test_refresh_concurrent_429_after_grace_is_invalid_grant),
        TS_TEST(test_refresh_rotates_tokens_and_keeps_sid),
        TS_TEST(test_refresh_reuse_within_grace_returns_same_pair),
        TS_TEST(test_refresh_replay_after_grace_is_invalid_grant),
        TS_TEST(test_refresh_grace_setting_shortens_the_window),
        TS_TEST(test_session_max_age_ends_refresh),
        TS_TEST(test_inactivity_timeout_ends_refresh_but_activity_extends_it),
        TS_TEST(test_refresh_ttl_expires_the_token),
        TS_TEST(test_refresh_rescopes_to_member_organization),
        TS_TEST(test_refresh_to_non_member_organization_is_rejected),
        TS_TEST(test_logout_then_refresh_is_invalid_grant),
        TS_TEST(test_revoke_then_refresh_is_invalid_grant),
        TS_TEST(test_unknown_refresh_token_is_invalid_grant),
        TS_TEST(test_refresh_token_of_another_client_is_invalid_grant),
        TS_TEST(test_browser_cookie_mode_refreshes_from_the_cookie),
        TS_TEST(test_refresh_without_token_or_cookie_is_invalid_request),
        TS_TEST(test_no_refresh_cookie_for_disallowed_origin_or_when_disabled),
    };
    return cmocka_run_group_tests_name("refresh", tests, NULL, NULL);
}
