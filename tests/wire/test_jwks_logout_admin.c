/* JWKS and key rotation on the virtual clock, logout, revoke, the user read,
 * CORS, and the admin API's own contract (workos-wire.md §2.5–2.8, §4,
 * §6.5, checklist §9.1, §9.7–9.9). */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "../assert_prefix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_server.h"

#define AUTH_HEADER "Authorization: Bearer " TS_API_KEY

static bool jwks_has(json_t *keys, const char *kid)
{
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k) if (strcmp(json_string_value(json_object_get(k, "kid")), kid) == 0)
        return true;
    return false;
}

static const char *kid_of(const struct ts_session *s)
{
    return json_string_value(json_object_get(s->header, "kid"));
}

static void check_verifies(struct ts_server *ts, const char *token)
{
    char why[256];
    if (!ts_verify_with_jwks(ts, token, why, sizeof(why)))
        fail_msg("token does not verify with the JWKS: %s", why);
}

/* --- JWKS ------------------------------------------------------------------------ */

static void test_jwks_known_client_returns_one_rs256_key(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    const char *clients[] = {TS_CLIENT, TS_OTHER_CLIENT};
    for (int i = 0; i < 2; i++) {
        char path[128];
        snprintf(path, sizeof(path), "/sso/jwks/%s", clients[i]);
        struct hx_http_response resp;
        ts_get(ts, path, NULL, &resp);
        assert_status(&resp, 200);
        assert_json_response(&resp);
        assert_null(ts_header(&resp, "Cache-Control"));
        assert_null(ts_header(&resp, "Location"));
        json_t *body = ts_json(&resp);
        json_t *keys = json_object_get(body, "keys");
        assert_int_equal(json_array_size(keys), 1);
        json_t *k = json_array_get(keys, 0);
        assert_string_equal(json_string_value(json_object_get(k, "kty")), "RSA");
        assert_string_equal(json_string_value(json_object_get(k, "alg")), "RS256");
        assert_string_equal(json_string_value(json_object_get(k, "use")), "sig");
        assert_string_equal(json_string_value(json_object_get(k, "e")), "AQAB");
        assert_true(strlen(json_string_value(json_object_get(k, "n"))) >= 340);
        assert_string_prefix(json_string_value(json_object_get(k, "kid")), "sso_oidc_key_pair_");
        json_decref(body);
        hx_http_response_cleanup(&resp);
    }
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    check_verifies(ts, s.access_token);
    ts_session_cleanup(&s);
}

static void test_jwks_unknown_client_is_404(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct hx_http_response resp;
    ts_get(ts, "/sso/jwks/client_01NOSUCHCLIENT", NULL, &resp);
    assert_code_error(&resp, 404, "entity_not_found");
    hx_http_response_cleanup(&resp);
    ts_get(ts, "/sso/jwks/", NULL, &resp);
    assert_code_error(&resp, 404, "not_found");
    hx_http_response_cleanup(&resp);
}

static void test_jwks_cache_control_follows_setting(void **state)
{
    struct ts_server *ts = TS_START(state, "{\"settings\":{\"jwks_cache_control\":\"public, max-age=600\"}}");
    struct hx_http_response resp;
    ts_get(ts, "/sso/jwks/" "client_01FAKE1DPC0000000000000000", NULL, &resp);
    assert_status(&resp, 200);
    assert_string_equal(ts_header(&resp, "Cache-Control"), "public, max-age=600");
    hx_http_response_cleanup(&resp);
    ts_settings(ts, "{\"jwks_cache_control\":\"no-store\"}");
    ts_get(ts, "/sso/jwks/" "client_01FAKE1DPC0000000000000000", NULL, &resp);
    assert_string_equal(ts_header(&resp, "Cache-Control"), "no-store");
    hx_http_response_cleanup(&resp);
}

static void test_key_rotation_publishes_before_signing_and_retires_later(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s1;
    ts_sign_in(ts, NULL, &s1);
    char k1[80];
    snprintf(k1, sizeof(k1), "%s", kid_of(&s1));

    json_t *listing = ts_admin(ts, "POST", "/_fakeidp/keys/rotate",
                               "{\"publish_lead\":\"10m\",\"retire_after\":\"20m\"}", 200);
    json_t *listed = json_object_get(listing, "keys");
    assert_int_equal(json_array_size(listed), 2);
    char k2[80] = "";
    size_t i;
    json_t *k;
    json_array_foreach(listed, i, k) {
        const char *kid = json_string_value(json_object_get(k, "kid"));
        if (strcmp(kid, k1) == 0) {
            assert_true(json_is_true(json_object_get(k, "signing")));
            assert_int_equal(json_integer_value(json_object_get(k, "retire_at_ms")),
                             TS_T0_MS + 30 * 60000);
        } else {
            snprintf(k2, sizeof(k2), "%s", kid);
            assert_true(json_is_true(json_object_get(k, "published")));
            assert_false(json_is_true(json_object_get(k, "signing")));
            assert_int_equal(json_integer_value(json_object_get(k, "sign_from_ms")),
                             TS_T0_MS + 10 * 60000);
        }
    }
    json_decref(listing);
    assert_true(k2[0]);
    assert_string_not_equal(k1, k2);

    /* Stage 1: both published, the old key still signs. */
    json_t *keys = ts_jwks(ts, NULL);
    assert_int_equal(json_array_size(keys), 2);
    assert_true(jwks_has(keys, k1) && jwks_has(keys, k2));
    json_decref(keys);
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    assert_string_equal(kid_of(&s), k1);
    ts_session_cleanup(&s);

    /* Stage 2: ten minutes on, the new key signs; the old one stays published. */
    ts_advance(ts, "10m");
    ts_sign_in(ts, NULL, &s);
    assert_string_equal(kid_of(&s), k2);
    check_verifies(ts, s.access_token);
    check_verifies(ts, s1.access_token);
    keys = ts_jwks(ts, NULL);
    assert_int_equal(json_array_size(keys), 2);
    json_decref(keys);
    /* a refresh is signed by the new key too */
    struct hx_http_response resp;
    ts_refresh(ts, NULL, NULL, s.refresh_token, NULL, NULL, &resp);
    struct ts_session r;
    ts_session_parse(&resp, &r);
    assert_string_equal(kid_of(&r), k2);
    ts_session_cleanup(&r);
    hx_http_response_cleanup(&resp);
    ts_session_cleanup(&s);

    /* Stage 3: one second before retirement the old key is still there... */
    ts_advance(ts, "19m59s");
    keys = ts_jwks(ts, NULL);
    assert_true(jwks_has(keys, k1));
    json_decref(keys);
    check_verifies(ts, s1.access_token);
    /* ...and then it is gone; its tokens no longer find a key. */
    ts_advance(ts, "1s");
    keys = ts_jwks(ts, NULL);
    assert_int_equal(json_array_size(keys), 1);
    assert_false(jwks_has(keys, k1));
    assert_true(jwks_has(keys, k2));
    json_decref(keys);
    char why[256];
    assert_false(ts_verify_with_jwks(ts, s1.access_token, why, sizeof(why)));
    assert_non_null(strstr(why, "0 JWKS keys match"));
    ts_sign_in(ts, NULL, &s);
    assert_string_equal(kid_of(&s), k2);
    check_verifies(ts, s.access_token);
    ts_session_cleanup(&s);
    ts_session_cleanup(&s1);
}

static void test_key_rotation_with_bad_durations_is_422(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    json_t *body = ts_admin(ts, "POST", "/_fakeidp/keys/rotate", "{\"publish_lead\":\"soon\"}", 422);
    assert_string_equal(json_string_value(json_object_get(body, "code")), "invalid_request");
    json_decref(body);
    json_decref(ts_admin(ts, "POST", "/_fakeidp/keys/spin", "{}", 404));
    /* nothing rotated */
    json_t *keys = ts_jwks(ts, NULL);
    assert_int_equal(json_array_size(keys), 1);
    json_decref(keys);
}

/* --- logout ---------------------------------------------------------------------- */

static void test_logout_redirects_to_allowed_return_to_and_clears_cookies(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    char path[512];
    snprintf(path, sizeof(path),
             "/user_management/sessions/logout?session_id=%s&return_to=http%%3A%%2F%%2Flocalhost%%3A3000%%2Fsigned-out%%3Fa%%3D1",
             s.sid);
    struct hx_http_response resp;
    ts_get(ts, path, NULL, &resp);
    assert_status(&resp, 302);
    assert_string_equal(ts_header(&resp, "Location"), "http://localhost:3000/signed-out?a=1");
    const char *cookie = ts_header_starting(&resp, "Set-Cookie", "workos-refresh-token=;");
    assert_non_null(cookie);
    assert_non_null(strstr(cookie, "Max-Age=0"));
    assert_non_null(ts_header_starting(&resp, "Set-Cookie", "workos-has-session=;"));
    hx_http_response_cleanup(&resp);
    json_t *entry = ts_journal_last(ts, "logout");
    assert_string_equal(ts_entry_str(entry, "outcome"), "session_ended");
    assert_string_equal(ts_entry_str(entry, "session_id"), s.sid);
    json_decref(entry);
    ts_session_cleanup(&s);
}

static void test_logout_without_return_to_is_200_json(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    char path[256];
    snprintf(path, sizeof(path), "/user_management/sessions/logout?session_id=%s", s.sid);
    struct hx_http_response resp;
    ts_get(ts, path, NULL, &resp);
    assert_status(&resp, 200);
    assert_json_response(&resp);
    json_t *body = ts_json(&resp);
    assert_true(json_is_true(json_object_get(body, "success")));
    json_decref(body);
    hx_http_response_cleanup(&resp);
    ts_session_cleanup(&s);
}

static void test_logout_disallowed_return_to_is_400_and_keeps_session(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    const char *bad[] = {"https%3A%2F%2Fevil.example%2F",
                         /* another client's logout URI is not this session's */
                         "http%3A%2F%2Flocalhost%3A4000%2Fbye", NULL};
    for (int i = 0; bad[i]; i++) {
        char path[512];
        snprintf(path, sizeof(path), "/user_management/sessions/logout?session_id=%s&return_to=%s",
                 s.sid, bad[i]);
        struct hx_http_response resp;
        ts_get(ts, path, NULL, &resp);
        assert_code_error(&resp, 400, "invalid_redirect_uri");
        assert_null(ts_header(&resp, "Location"));
        hx_http_response_cleanup(&resp);
    }
    struct hx_http_response resp;
    ts_refresh(ts, NULL, NULL, s.refresh_token, NULL, NULL, &resp);
    assert_status(&resp, 200);
    hx_http_response_cleanup(&resp);
    ts_session_cleanup(&s);
}

static void test_logout_return_to_with_userinfo_is_400(void **state)
{
    /* zero configuration: logout URIs default to the loopback patterns */
    struct ts_server *ts = TS_START(state, NULL);
    struct hx_http_response resp;
    ts_get(ts, "/user_management/sessions/logout?session_id=session_01X"
               "&return_to=http%3A%2F%2Flocalhost%3A3000%40evil.example%2F",
           NULL, &resp);
    assert_code_error(&resp, 400, "invalid_redirect_uri");
    assert_null(ts_header(&resp, "Location"));
    hx_http_response_cleanup(&resp);
    ts_get(ts, "/user_management/sessions/logout?session_id=session_01X"
               "&return_to=http%3A%2F%2Flocalhost%3A3000%2Fbye",
           NULL, &resp);
    assert_status(&resp, 302);
    hx_http_response_cleanup(&resp);
}

static void test_logout_missing_session_id_is_422(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct hx_http_response resp;
    ts_get(ts, "/user_management/sessions/logout?return_to=http%3A%2F%2Flocalhost%3A3000%2F",
           NULL, &resp);
    assert_code_error(&resp, 422, "invalid_request");
    assert_null(ts_header(&resp, "Location"));
    hx_http_response_cleanup(&resp);
    ts_get(ts, "/user_management/sessions/logout?session_id=", NULL, &resp);
    assert_code_error(&resp, 422, "invalid_request");
    hx_http_response_cleanup(&resp);
}

/* --- revoke and users -------------------------------------------------------------------- */

static void test_revoke_requires_the_api_key(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    const char *wrong[] = {"Authorization: Bearer sk_test_wrong", NULL};
    for (int i = 0; i < 2; i++) {
        struct hx_http_response resp;
        ts_post_json(ts, NULL, "/user_management/sessions/revoke", i ? wrong : NULL,
                     json_pack("{s:s}", "session_id", s.sid), &resp);
        assert_code_error(&resp, 401, "unauthorized");
        hx_http_response_cleanup(&resp);
    }
    /* the session survived both attempts */
    struct hx_http_response resp;
    ts_refresh(ts, NULL, NULL, s.refresh_token, NULL, NULL, &resp);
    assert_status(&resp, 200);
    hx_http_response_cleanup(&resp);
    ts_session_cleanup(&s);
}

static void test_revoke_unknown_or_missing_session_is_400(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    const char *headers[] = {AUTH_HEADER, NULL};
    struct hx_http_response resp;
    ts_post_json(ts, NULL, "/user_management/sessions/revoke", headers,
                 json_pack("{s:s}", "session_id", "session_01NOSUCHSESSION0000000000"), &resp);
    assert_status(&resp, 400);
    assert_json_response(&resp);
    json_t *body = ts_json(&resp);
    assert_true(strlen(json_string_value(json_object_get(body, "message"))) > 0);
    json_decref(body);
    hx_http_response_cleanup(&resp);
    ts_post_json(ts, NULL, "/user_management/sessions/revoke", headers, json_pack("{}"), &resp);
    assert_code_error(&resp, 400, "invalid_request");
    hx_http_response_cleanup(&resp);
}

static void test_revoke_known_session_is_200(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    const char *headers[] = {AUTH_HEADER, NULL};
    struct hx_http_response resp;
    ts_post_json(ts, NULL, "/user_management/sessions/revoke", headers,
                 json_pack("{s:s}", "session_id", s.sid), &resp);
    assert_status(&resp, 200);
    assert_json_response(&resp);
    hx_http_response_cleanup(&resp);
    json_t *entry = ts_journal_last(ts, "revoke");
    assert_string_equal(ts_entry_str(entry, "outcome"), "session_revoked");
    json_decref(entry);
    /* the session list shows it inactive */
    char path[256];
    snprintf(path, sizeof(path), "/user_management/users/%s/sessions", TS_ALICE);
    ts_get(ts, path, headers, &resp);
    assert_status(&resp, 200);
    json_t *body = ts_json(&resp);
    json_t *first = json_array_get(json_object_get(body, "data"), 0);
    assert_string_equal(json_string_value(json_object_get(first, "id")), s.sid);
    assert_string_equal(json_string_value(json_object_get(first, "status")), "inactive");
    json_decref(body);
    hx_http_response_cleanup(&resp);
    ts_session_cleanup(&s);
}

static void test_get_user_with_api_key_returns_the_user(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    const char *headers[] = {AUTH_HEADER, NULL};
    struct hx_http_response resp;
    ts_get(ts, "/user_management/users/" TS_BOB, headers, &resp);
    assert_status(&resp, 200);
    assert_json_response(&resp);
    json_t *body = ts_json(&resp);
    assert_string_equal(json_string_value(json_object_get(body, "object")), "user");
    assert_string_equal(json_string_value(json_object_get(body, "id")), TS_BOB);
    assert_string_equal(json_string_value(json_object_get(body, "email")), "bob@example.com");
    json_decref(body);
    hx_http_response_cleanup(&resp);
}

static void test_get_unknown_user_is_404(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    const char *headers[] = {AUTH_HEADER, NULL};
    struct hx_http_response resp;
    ts_get(ts, "/user_management/users/user_01NOSUCHUSER", headers, &resp);
    assert_code_error(&resp, 404, "entity_not_found");
    hx_http_response_cleanup(&resp);
}

static void test_get_user_without_api_key_is_401(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    const char *wrong[] = {"Authorization: Bearer sk_test_wrong", NULL};
    const char *basic[] = {"Authorization: Basic c2s6", NULL};
    const char *const *cases[] = {NULL, wrong, basic};
    for (int i = 0; i < 3; i++) {
        struct hx_http_response resp;
        ts_get(ts, "/user_management/users/" TS_BOB, cases[i], &resp);
        assert_code_error(&resp, 401, "unauthorized");
        assert_null(strstr(resp.body, "bob@example.com"));
        hx_http_response_cleanup(&resp);
    }
}

/* --- CORS --------------------------------------------------------------------------- */

static void test_cors_preflight_allowed_origin_is_echoed_with_credentials(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    const char *origins[] = {TS_ORIGIN, "http://localhost:4000"};
    for (int i = 0; i < 2; i++) {
        char origin[128];
        snprintf(origin, sizeof(origin), "Origin: %s", origins[i]);
        const char *headers[] = {origin, "Access-Control-Request-Method: POST",
                                 "Access-Control-Request-Headers: content-type", NULL};
        struct hx_http_response resp;
        ts_request(ts, NULL, "OPTIONS", "/user_management/authenticate", headers, NULL, &resp);
        const LargestIntegralType preflight_ok[] = {200, 204};
        assert_in_set(resp.status, preflight_ok, 2);
        assert_string_equal(ts_header(&resp, "Access-Control-Allow-Origin"), origins[i]);
        assert_string_equal(ts_header(&resp, "Access-Control-Allow-Credentials"), "true");
        assert_non_null(strstr(ts_header(&resp, "Access-Control-Allow-Methods"), "POST"));
        assert_non_null(strcasestr(ts_header(&resp, "Access-Control-Allow-Headers"), "content-type"));
        assert_non_null(strstr(ts_header(&resp, "Vary"), "Origin"));
        hx_http_response_cleanup(&resp);
    }
}

static void test_cors_other_origins_get_no_cors_headers(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    const char *origins[] = {"Origin: https://evil.example", "Origin: null",
                             "Origin: http://localhost:3000.evil.example",
                             "Origin: http://localhost:30000", NULL};
    for (int i = 0; origins[i]; i++) {
        const char *headers[] = {origins[i], "Access-Control-Request-Method: POST", NULL};
        struct hx_http_response resp;
        ts_request(ts, NULL, "OPTIONS", "/user_management/authenticate", headers, NULL, &resp);
        assert_null(ts_header(&resp, "Access-Control-Allow-Origin"));
        assert_null(ts_header(&resp, "Access-Control-Allow-Credentials"));
        assert_null(ts_header(&resp, "Access-Control-Allow-Methods"));
        hx_http_response_cleanup(&resp);
        /* nor on the actual request */
        const char *post[] = {origins[i], NULL};
        ts_post_json(ts, NULL, "/user_management/authenticate", post, json_pack("{}"), &resp);
        assert_status(&resp, 400);
        assert_null(ts_header(&resp, "Access-Control-Allow-Origin"));
        hx_http_response_cleanup(&resp);
    }
    /* never a wildcard, with or without an Origin */
    struct hx_http_response resp;
    ts_get(ts, "/sso/jwks/" TS_CLIENT, NULL, &resp);
    assert_null(ts_header(&resp, "Access-Control-Allow-Origin"));
    hx_http_response_cleanup(&resp);
}

/* --- admin API -------------------------------------------------------------------------- */

static json_int_t clock_now(json_t *body)
{
    return json_integer_value(json_object_get(body, "now_ms"));
}

static void test_admin_clock_advance_set_and_freeze(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    json_t *body = ts_admin(ts, "GET", "/_fakeidp/clock", NULL, 200);
    assert_int_equal(clock_now(body), TS_T0_MS);
    assert_true(json_is_true(json_object_get(body, "frozen")));
    assert_string_equal(json_string_value(json_object_get(body, "now")), "2026-01-15T12:00:00.000Z");
    json_decref(body);
    body = ts_admin(ts, "POST", "/_fakeidp/clock", "{\"advance\":\"1h30m\"}", 200);
    assert_int_equal(clock_now(body), TS_T0_MS + 90 * 60000);
    json_decref(body);
    body = ts_admin(ts, "POST", "/_fakeidp/clock", "{\"set\":1800000000000}", 200);
    assert_int_equal(clock_now(body), 1800000000000LL);
    assert_int_equal(ts_now_ms(ts), 1800000000000LL); /* the shared clock moved */
    json_decref(body);
    /* unfrozen it runs with the wall clock */
    body = ts_admin(ts, "POST", "/_fakeidp/clock", "{\"freeze\":false}", 200);
    assert_false(json_is_true(json_object_get(body, "frozen")));
    json_decref(body);
    ts_sleep_ms(30);
    assert_true(ts_now_ms(ts) >= 1800000000000LL + 25);
    body = ts_admin(ts, "POST", "/_fakeidp/clock", "{\"freeze\":true}", 200);
    json_int_t frozen_at = clock_now(body);
    json_decref(body);
    ts_sleep_ms(20);
    assert_int_equal(ts_now_ms(ts), frozen_at);
    /* tokens carry the virtual time */
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    assert_int_equal(json_integer_value(json_object_get(s.claims, "iat")), frozen_at / 1000);
    ts_session_cleanup(&s);
}

static void test_admin_clock_bad_input_is_422_and_changes_nothing(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    const char *bad[] = {"{\"advance\":\"soon\"}", "{\"set\":\"yesterday\"}",
                         "{\"freeze\":\"yes\"}", "{\"set\":1800000000000,\"advance\":\"x\"}",
                         "{\"freeze\":false,\"advance\":\"-5m\"}", "{not json", NULL};
    for (int i = 0; bad[i]; i++) {
        json_t *body = ts_admin(ts, "POST", "/_fakeidp/clock", bad[i], 422);
        assert_string_equal(json_string_value(json_object_get(body, "code")), "invalid_request");
        json_decref(body);
        assert_int_equal(ts_now_ms(ts), TS_T0_MS);
    }
    json_t *body = ts_admin(ts, "GET", "/_fakeidp/clock", NULL, 200);
    assert_true(json_is_true(json_object_get(body, "frozen")));
    json_decref(body);
}

static void test_admin_settings_patch_applies_and_lists(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    json_t *body = ts_admin(ts, "GET", "/_fakeidp/settings", NULL, 200);
    assert_string_equal(json_string_value(json_object_get(body, "access_ttl")), "5m");
    assert_string_equal(json_string_value(json_object_get(body, "refresh_mode")), "grace");
    assert_string_equal(json_string_value(json_object_get(body, "refresh_grace")), "30s");
    json_decref(body);
    body = ts_admin(ts, "PATCH", "/_fakeidp/settings",
                    "{\"access_ttl\":\"15m\",\"refresh_mode\":\"strict\"}", 200);
    assert_string_equal(json_string_value(json_object_get(body, "access_ttl")), "15m");
    assert_string_equal(json_string_value(json_object_get(body, "refresh_mode")), "strict");
    json_decref(body);
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    assert_int_equal(json_integer_value(json_object_get(s.claims, "exp")) -
                         json_integer_value(json_object_get(s.claims, "iat")),
                     900);
    ts_session_cleanup(&s);
}

static void test_admin_settings_bad_value_is_422_and_changes_nothing(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    const char *bad[] = {"{\"access_ttl\":\"15m\",\"refresh_mode\":\"bogus\"}",
                         "{\"access_ttl\":\"forever\"}", "{\"no_such_setting\":1}",
                         "{\"refresh_cookie\":\"yes\"}", "{\"max_sessions\":-1}",
                         "[1,2]", "{\"access_ttl\":", NULL};
    for (int i = 0; bad[i]; i++) {
        json_t *body = ts_admin(ts, "PATCH", "/_fakeidp/settings", bad[i], 422);
        assert_string_equal(json_string_value(json_object_get(body, "code")), "invalid_setting");
        assert_true(strlen(json_string_value(json_object_get(body, "message"))) > 0);
        json_decref(body);
    }
    json_t *body = ts_admin(ts, "GET", "/_fakeidp/settings", NULL, 200);
    assert_string_equal(json_string_value(json_object_get(body, "access_ttl")), "5m");
    assert_string_equal(json_string_value(json_object_get(body, "refresh_mode")), "grace");
    json_decref(body);
}

static void test_admin_reset_restores_configuration(void **state)
{
    struct ts_server *ts = TS_START(state, "{\"settings\":{\"access_ttl\":\"2m\"}}");
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    ts_settings(ts, "{\"access_ttl\":\"1h\",\"refresh_mode\":\"strict\"}");
    free(ts_add_fault(ts, "{\"route\":\"jwks\",\"status\":500}"));
    json_t *body = ts_admin(ts, "POST", "/_fakeidp/reset", NULL, 200);
    json_decref(body);
    /* configured settings back, runtime changes gone */
    body = ts_admin(ts, "GET", "/_fakeidp/settings", NULL, 200);
    assert_string_equal(json_string_value(json_object_get(body, "access_ttl")), "2m");
    assert_string_equal(json_string_value(json_object_get(body, "refresh_mode")), "grace");
    json_decref(body);
    body = ts_admin(ts, "GET", "/_fakeidp/faults", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(body, "faults")), 0);
    json_decref(body);
    json_t *keys = ts_jwks(ts, NULL); /* 200: the fault is gone */
    json_decref(keys);
    /* sessions are gone */
    struct hx_http_response resp;
    ts_refresh(ts, NULL, NULL, s.refresh_token, NULL, NULL, &resp);
    assert_oauth_error(&resp, 400, "invalid_grant", NULL);
    hx_http_response_cleanup(&resp);
    ts_session_cleanup(&s);
}

static void test_unknown_route_is_404_json(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    const char *paths[] = {"/", "/user_management/nope", "/_fakeidp/nope", "/sso/jwks", NULL};
    for (int i = 0; paths[i]; i++) {
        struct hx_http_response resp;
        ts_get(ts, paths[i], NULL, &resp);
        assert_code_error(&resp, 404, "not_found");
        hx_http_response_cleanup(&resp);
    }
}

static void test_wrong_method_is_405_json(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    static const struct {
        const char *method, *path;
    } cases[] = {
        {"GET", "/user_management/authenticate"},
        {"POST", "/sso/jwks/" TS_CLIENT},
        {"DELETE", "/user_management/sessions/revoke"},
        {"DELETE", "/_fakeidp/clock"},
        {"POST", "/_fakeidp/health"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct hx_http_response resp;
        ts_request(ts, NULL, cases[i].method, cases[i].path, NULL, NULL, &resp);
        assert_code_error(&resp, 405, "method_not_allowed");
        hx_http_response_cleanup(&resp);
    }
}

static void test_body_over_the_limit_is_413_json(void **state)
{
    struct ts_server *ts = TS_START(state, "{\"settings\":{\"max_body_bytes\":1024}}");
    char *big = malloc(4097);
    assert_non_null(big);
    memset(big, 'a', 4096);
    big[4096] = '\0';
    big[0] = '{';
    const char *headers[] = {"Content-Type: application/json", NULL};
    struct hx_http_response resp;
    ts_request(ts, NULL, "POST", "/user_management/authenticate", headers, big, &resp);
    assert_code_error(&resp, 413, "payload_too_large");
    hx_http_response_cleanup(&resp);
    /* without a Content-Length (chunked) too, also when under the read buffer */
    const char *chunked[] = {"Content-Type: application/json", "Transfer-Encoding: chunked", NULL};
    ts_request(ts, NULL, "POST", "/user_management/authenticate", chunked, big, &resp);
    assert_code_error(&resp, 413, "payload_too_large");
    hx_http_response_cleanup(&resp);
    big[1025] = '\0';
    ts_request(ts, NULL, "POST", "/user_management/authenticate", chunked, big, &resp);
    assert_code_error(&resp, 413, "payload_too_large");
    hx_http_response_cleanup(&resp);
    free(big);
}

static void test_body_at_the_limit_is_accepted(void **state)
{
    struct ts_server *ts = TS_START(state, "{\"settings\":{\"max_body_bytes\":1024}}");
    /* a refresh request padded to exactly 1024 bytes */
    char body[1025];
    int used = snprintf(body, sizeof(body),
                        "{\"grant_type\":\"refresh_token\",\"client_id\":\"%s\","
                        "\"refresh_token\":\"NoSuchToken\",\"pad\":\"",
                        ts->client_id);
    memset(body + used, 'p', (size_t)(1024 - used - 2));
    memcpy(body + 1022, "\"}", 3);
    assert_int_equal(strlen(body), 1024);
    const char *headers[] = {"Content-Type: application/json", NULL};
    const char *chunked[] = {"Content-Type: application/json", "Transfer-Encoding: chunked", NULL};
    for (int i = 0; i < 2; i++) {
        struct hx_http_response resp;
        ts_request(ts, NULL, "POST", "/user_management/authenticate", i ? chunked : headers, body,
                   &resp);
        assert_oauth_error(&resp, 400, "invalid_grant", NULL);
        hx_http_response_cleanup(&resp);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TS_TEST(test_jwks_known_client_returns_one_rs256_key),
        TS_TEST(test_jwks_unknown_client_is_404),
        TS_TEST(test_jwks_cache_control_follows_setting),
        TS_TEST(test_key_rotation_publishes_before_signing_and_retires_later),
        TS_TEST(test_key_rotation_with_bad_durations_is_422),
        TS_TEST(test_logout_redirects_to_allowed_return_to_and_clears_cookies),
        TS_TEST(test_logout_without_return_to_is_200_json),
        TS_TEST(test_logout_disallowed_return_to_is_400_and_keeps_session),
        TS_TEST(test_logout_return_to_with_userinfo_is_400),
        TS_TEST(test_logout_missing_session_id_is_422),
        TS_TEST(test_revoke_requires_the_api_key),
        TS_TEST(test_revoke_unknown_or_missing_session_is_400),
        TS_TEST(test_revoke_known_session_is_200),
        TS_TEST(test_get_user_with_api_key_returns_the_user),
        TS_TEST(test_get_unknown_user_is_404),
        TS_TEST(test_get_user_without_api_key_is_401),
        TS_TEST(test_cors_preflight_allowed_origin_is_echoed_with_credentials),
        TS_TEST(test_cors_other_origins_get_no_cors_headers),
        TS_TEST(test_admin_clock_advance_set_and_freeze),
        TS_TEST(test_admin_clock_bad_input_is_422_and_changes_nothing),
        TS_TEST(test_admin_settings_patch_applies_and_lists),
        TS_TEST(test_admin_settings_bad_value_is_422_and_changes_nothing),
        TS_TEST(test_admin_reset_restores_configuration),
        TS_TEST(test_unknown_route_is_404_json),
        TS_TEST(test_wrong_method_is_405_json),
        TS_TEST(test_body_over_the_limit_is_413_json),
        TS_TEST(test_body_at_the_limit_is_accepted),
    };
    return cmocka_run_group_tests_name("jwks_logout_admin", tests, NULL, NULL);
}
