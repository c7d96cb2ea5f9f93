/* What the SDKs send to authorize beyond the basics (max_age, prompt,
 * screen_hint, domain_hint, connection_id, provider, organization_id), the
 * redirect_uri check of the code exchange, and the settings that shape token
 * times: auth_time, clock_offset and nbf (workos-wire.md §2.1, §2.2, §3.1). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_server.h"

#define T0_S (TS_T0_MS / 1000)

static json_int_t claim_int(const struct ts_session *s, const char *name)
{
    const json_t *v = json_object_get(s->claims, name);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

static void check_error_redirect(struct ts_server *ts, const char *extra, const char *provider,
                                 const char *error)
{
    struct ts_authorize a = {.state = "s1", .extra = extra, .provider = provider};
    char location[2048];
    assert_int_equal(ts_authorize(ts, &a, location, sizeof(location)), 302);
    char *got = ts_query_param(location, "error");
    assert_non_null(got);
    assert_string_equal(got, error);
    free(got);
    char *code = ts_query_param(location, "code");
    assert_null(code);
}

/* --- authorize parameters ---------------------------------------------------------- */

static void test_authorize_accepts_what_the_sdks_send(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    struct ts_sign_in in = {.authorize_extra = "&screen_hint=sign-in&prompt=login&max_age=0"
                                               "&domain_hint=example.com&claim_nonce=n1"};
    ts_sign_in(ts, &in, &s);
    assert_string_equal(json_string_value(json_object_get(s.claims, "sub")), TS_ALICE);
    ts_session_cleanup(&s);
}

static void test_authorize_bad_optional_parameters_redirect_with_invalid_request(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    check_error_redirect(ts, "&max_age=soon", NULL, "invalid_request");
    check_error_redirect(ts, "&max_age=-1", NULL, "invalid_request");
    check_error_redirect(ts, "&max_age=", NULL, "invalid_request");
    check_error_redirect(ts, "&screen_hint=register", NULL, "invalid_request");
}

/* prompt is passed through by the SDKs (any string); screen_hint is
 * AuthKit's: with another provider it neither fails nor signs anyone up. */
static void test_prompt_any_value_and_screen_hint_outside_authkit(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    struct ts_sign_in in = {.authorize_extra = "&prompt=select_account"};
    ts_sign_in(ts, &in, &s);
    ts_session_cleanup(&s);
    struct ts_authorize a = {.provider = "GoogleOAuth", .login_hint = "new@example.com",
                             .extra = "&screen_hint=sign-up"};
    char location[2048];
    assert_int_equal(ts_authorize(ts, &a, location, sizeof(location)), 302);
    char *error = ts_query_param(location, "error");
    assert_non_null(error);
    assert_string_equal(error, "user_not_found");
    free(error);
}

static void test_auth_time_is_the_sign_in_not_the_exchange_nor_a_refresh(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_pkce pkce;
    ts_pkce(&pkce, 43);
    struct ts_authorize a = {.challenge = pkce.challenge};
    char *code = ts_code(ts, &a);
    ts_advance(ts, "2m"); /* the browser takes a while back to the callback */
    struct ts_exchange x = {.client_id = ts->client_id, .code = code, .verifier = pkce.verifier};
    struct hx_http_response resp;
    ts_exchange(ts, &x, &resp);
    struct ts_session s;
    ts_session_parse(&resp, &s);
    hx_http_response_cleanup(&resp);
    assert_int_equal(claim_int(&s, "auth_time"), T0_S);
    assert_int_equal(claim_int(&s, "iat"), T0_S + 120);
    ts_advance(ts, "10m");
    ts_refresh(ts, NULL, NULL, s.refresh_token, NULL, NULL, &resp);
    struct ts_session next;
    ts_session_parse(&resp, &next);
    hx_http_response_cleanup(&resp);
    assert_int_equal(claim_int(&next, "auth_time"), T0_S);
    assert_int_equal(claim_int(&next, "iat"), T0_S + 720);
    ts_session_cleanup(&next);
    ts_session_cleanup(&s);
    free(code);
}

/* The fake keeps no hosted-page session: prompt=login / max_age lead to a
 * new interactive sign-in whose auth_time is now; the earlier session keeps
 * its own auth_time. */
static void test_prompt_login_and_max_age_give_a_fresh_auth_time(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session first, again;
    ts_sign_in(ts, NULL, &first);
    ts_advance(ts, "1h");
    struct ts_sign_in in = {.authorize_extra = "&prompt=login&max_age=60"};
    ts_sign_in(ts, &in, &again);
    assert_int_equal(claim_int(&again, "auth_time"), T0_S + 3600);
    assert_string_not_equal(again.sid, first.sid);
    struct hx_http_response resp;
    ts_refresh(ts, NULL, NULL, first.refresh_token, NULL, NULL, &resp);
    struct ts_session old;
    ts_session_parse(&resp, &old);
    hx_http_response_cleanup(&resp);
    assert_int_equal(claim_int(&old, "auth_time"), T0_S);
    ts_session_cleanup(&old);
    ts_session_cleanup(&again);
    ts_session_cleanup(&first);
}

static void test_provider_and_connection_name_the_authentication_method(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_pkce pkce;
    ts_pkce(&pkce, 43);
    const struct {
        const char *provider, *extra, *method;
    } cases[] = {
        {"GoogleOAuth", NULL, "GoogleOAuth"},
        {"", "&connection_id=conn_01WIRE", "SSO"},
        {NULL, NULL, "Password"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ts_authorize a = {.challenge = pkce.challenge, .provider = cases[i].provider,
                                 .extra = cases[i].extra};
        char *code = ts_code(ts, &a);
        struct ts_exchange x = {.client_id = ts->client_id, .code = code, .verifier = pkce.verifier};
        struct hx_http_response resp;
        ts_exchange(ts, &x, &resp);
        json_t *body = ts_json(&resp);
        assert_int_equal(resp.status, 200);
        assert_string_equal(json_string_value(json_object_get(body, "authentication_method")),
                            cases[i].method);
        json_decref(body);
        hx_http_response_cleanup(&resp);
        free(code);
    }
}

static void test_organization_id_alone_scopes_a_member_and_refuses_others(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    struct ts_sign_in in = {.login_hint = "bob@example.com",
                            .authorize_extra = "&organization_id=" TS_ORG_GLOBEX};
    ts_sign_in(ts, &in, &s);
    assert_string_equal(json_string_value(json_object_get(s.claims, "org_id")), TS_ORG_GLOBEX);
    assert_string_equal(json_string_value(json_object_get(s.claims, "role")), "member");
    ts_session_cleanup(&s);
    struct ts_authorize a = {.login_hint = "alice@example.com", .provider = "",
                             .organization_id = TS_ORG_ACME};
    char location[2048];
    assert_int_equal(ts_authorize(ts, &a, location, sizeof(location)), 302);
    char *error = ts_query_param(location, "error");
    assert_non_null(error);
    assert_string_equal(error, "organization_invalid");
    free(error);
}

static void test_sign_up_screen_creates_the_user(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    struct ts_sign_in in = {.login_hint = "newcomer@example.com",
                            .authorize_extra = "&screen_hint=sign-up"};
    ts_sign_in(ts, &in, &s);
    const json_t *user = json_object_get(s.body, "user");
    assert_string_equal(json_string_value(json_object_get(user, "email")), "newcomer@example.com");
    /* without sign-up, an unknown email is still user_not_found */
    check_error_redirect(ts, "&login_hint=stranger%40example.com", NULL, "user_not_found");
    ts_session_cleanup(&s);
}

/* --- redirect_uri in the exchange ---------------------------------------------------- */

static void test_exchange_redirect_uri_must_match_the_authorize(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_pkce pkce;
    ts_pkce(&pkce, 43);
    struct ts_authorize a = {.challenge = pkce.challenge};
    char *code = ts_code(ts, &a);
    struct ts_exchange x = {.client_id = ts->client_id, .code = code, .verifier = pkce.verifier,
                            .redirect_uri = "http://localhost:3000/other"};
    struct hx_http_response resp;
    ts_exchange(ts, &x, &resp);
    assert_oauth_error(&resp, 400, "invalid_grant",
                       "The redirect_uri 'http://localhost:3000/other' does not match the one "
                       "the code was issued for.");
    hx_http_response_cleanup(&resp);
    /* the mismatch did not spend the code; the right one (or none) works */
    x.redirect_uri = TS_REDIRECT;
    ts_exchange(ts, &x, &resp);
    assert_status(&resp, 200);
    hx_http_response_cleanup(&resp);
    free(code);
}

/* --- clock_offset and nbf ------------------------------------------------------------ */

static void test_clock_offset_moves_token_times_not_expiry_decisions(void **state)
{
    struct ts_server *ts = TS_START(state, "{\"settings\":{\"clock_offset\":\"-2m\"}}");
    json_t *settings = ts_admin(ts, "GET", "/_fakeidp/settings", NULL, 200);
    assert_string_equal(json_string_value(json_object_get(settings, "clock_offset")), "-2m");
    json_decref(settings);
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    assert_int_equal(claim_int(&s, "iat"), T0_S - 120);
    assert_int_equal(claim_int(&s, "exp"), T0_S - 120 + 300);
    assert_int_equal(claim_int(&s, "auth_time"), T0_S - 120);
    assert_null(json_object_get(s.claims, "nbf"));
    ts_session_cleanup(&s);
    ts_settings(ts, "{\"clock_offset\":\"90s\",\"nbf\":true}");
    ts_sign_in(ts, NULL, &s);
    assert_int_equal(claim_int(&s, "iat"), T0_S + 90);
    assert_int_equal(claim_int(&s, "nbf"), T0_S + 90);
    ts_session_cleanup(&s);
}

static void test_clock_offset_and_nbf_are_checked(void **state)
{
    struct ts_server *ts = TS_START(state, NULL);
    json_t *body = ts_admin(ts, "PATCH", "/_fakeidp/settings", "{\"clock_offset\":\"soon\"}", 422);
    json_decref(body);
    body = ts_admin(ts, "PATCH", "/_fakeidp/settings", "{\"nbf\":\"yes\"}", 422);
    json_decref(body);
    /* the largest offsets saturate instead of wrapping */
    ts_settings(ts, "{\"clock_offset\":\"-106751991167d\"}");
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    assert_true(claim_int(&s, "iat") < 0);
    ts_session_cleanup(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TS_TEST(test_authorize_accepts_what_the_sdks_send),
        TS_TEST(test_authorize_bad_optional_parameters_redirect_with_invalid_request),
        TS_TEST(test_prompt_any_value_and_screen_hint_outside_authkit),
        TS_TEST(test_auth_time_is_the_sign_in_not_the_exchange_nor_a_refresh),
        TS_TEST(test_prompt_login_and_max_age_give_a_fresh_auth_time),
        TS_TEST(test_provider_and_connection_name_the_authentication_method),
        TS_TEST(test_organization_id_alone_scopes_a_member_and_refuses_others),
        TS_TEST(test_sign_up_screen_creates_the_user),
        TS_TEST(test_exchange_redirect_uri_must_match_the_authorize),
        TS_TEST(test_clock_offset_moves_token_times_not_expiry_decisions),
        TS_TEST(test_clock_offset_and_nbf_are_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
