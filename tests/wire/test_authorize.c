/* GET /user_management/authorize and the code it issues (workos-wire.md
 * §2.1, §2.2, checklist §9.3–9.4): a 302 back to redirect_uri with a code and
 * the state verbatim; JSON 400 when the redirect URI cannot be used; errors
 * as redirects otherwise; codes single-use, bound to client and challenge,
 * ten minutes of virtual time, verifiers up to 512 characters. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_server.h"
#include "url.h"

/* A form field's value, url-encoded as a browser posts it (malloc'd). */
static char *idp_test_form_value(const char *text)
{
    json_t *fields = json_pack("{s:s}", "v", text);
    char *encoded = hx_form_encode(fields);
    json_decref(fields);
    char *value = encoded ? strdup(encoded + 2) : NULL; /* past "v=" */
    free(encoded);
    return value;
}

/* A redirect back to redirect_uri carrying error, a description and the
 * state (or none), and no code. */
static void check_error_redirect(struct ts_server *ts, const struct ts_authorize *a,
                                 const char *error, const char *state)
{
    struct hx_http_response resp;
    ts_authorize_resp(ts, a, &resp);
    assert_status(&resp, 302);
    const char *location = ts_header(&resp, "Location");
    assert_non_null(location);
    const char *redirect = a->redirect_uri ? a->redirect_uri : TS_REDIRECT;
    assert_memory_equal(location, redirect, strlen(redirect));
    char *e = ts_query_param(location, "error");
    char *d = ts_query_param(location, "error_description");
    char *s = ts_query_param(location, "state");
    char *code = ts_query_param(location, "code");
    assert_non_null(e);
    assert_string_equal(e, error);
    assert_non_null(d);
    assert_true(strlen(d) > 0);
    if (state) {
        assert_non_null(s);
        assert_string_equal(s, state);
    } else {
        assert_null(s);
    }
    assert_null(code);
    free(e);
    free(d);
    free(s);
    hx_http_response_cleanup(&resp);
}

static void check_json_400(struct ts_server *ts, const struct ts_authorize *a, const char *code)
{
    struct hx_http_response resp;
    ts_authorize_resp(ts, a, &resp);
    assert_code_error(&resp, 400, code);
    assert_null(ts_header(&resp, "Location"));
    hx_http_response_cleanup(&resp);
}

static long exchange(struct ts_server *ts, const char *client, const char *code,
                     const char *verifier, struct hx_http_response *resp)
{
    struct ts_exchange x = {.client_id = client ? client : ts->client_id, .code = code,
                            .verifier = verifier};
    return ts_exchange(ts, &x, resp);
}

/* --- positive ---------------------------------------------------------------- */

static void test_authorize_redirects_with_code_and_verbatim_state(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_pkce pkce;
    ts_pkce(&pkce, 43);
    /* An iron seal and JSON app state, as next and authkit-js send. */
    const char *states[] = {
        "Fe26.2**e2a8bcf4*VraH0t5D_w_LVc9rfYwFCw*ZpclUE902g**b8ec5bcd*08czNkZav",
        "{\"returnTo\":\"/dash board?x=1&y=2\",\"n\":\"é✓ +%20\"}", NULL};
    for (int i = 0; states[i]; i++) {
        struct ts_authorize a = {.state = states[i], .challenge = pkce.challenge};
        struct hx_http_response resp;
        ts_authorize_resp(ts, &a, &resp);
        assert_status(&resp, 302);
        const char *location = ts_header(&resp, "Location");
        assert_non_null(location);
        assert_memory_equal(location, TS_REDIRECT "?", strlen(TS_REDIRECT) + 1);
        char *code = ts_query_param(location, "code");
        char *s = ts_query_param(location, "state");
        assert_non_null(code);
        assert_true(strlen(code) >= 20);
        assert_non_null(s);
        assert_string_equal(s, states[i]);
        assert_null(ts_query_param(location, "error"));
        free(code);
        free(s);
        hx_http_response_cleanup(&resp);
    }
    json_t *entry = ts_journal_last(ts, "authorize");
    assert_string_equal(ts_entry_str(entry, "outcome"), "code_issued");
    assert_string_equal(ts_entry_str(entry, "user_id"), TS_ALICE);
    json_decref(entry);
}

static void test_authorize_keeps_existing_redirect_uri_query(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_authorize a = {.redirect_uri = "http://localhost:3000/callback?next=%2Fhome",
                             .state = "s1"};
    char location[2048];
    assert_int_equal(ts_authorize(ts, &a, location, sizeof(location)), 302);
    char *next = ts_query_param(location, "next");
    char *code = ts_query_param(location, "code");
    assert_non_null(next);
    assert_string_equal(next, "/home");
    assert_non_null(code);
    free(next);
    free(code);
}

static void test_code_exchange_with_512_char_verifier_succeeds(void **state)
{
    /* authkit-js sends a 512-character verifier (beyond RFC 7636's 128). */
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_pkce pkce;
    ts_pkce(&pkce, 512);
    assert_int_equal(strlen(pkce.verifier), 512);
    struct ts_authorize a = {.challenge = pkce.challenge};
    char *code = ts_code(ts, &a);
    struct hx_http_response resp;
    exchange(ts, NULL, code, pkce.verifier, &resp);
    struct ts_session s;
    ts_session_parse(&resp, &s);
    assert_string_equal(json_string_value(json_object_get(s.claims, "sub")), TS_ALICE);
    ts_session_cleanup(&s);
    hx_http_response_cleanup(&resp);
    free(code);
}

static void test_code_still_valid_just_before_ten_minutes(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_pkce pkce;
    ts_pkce(&pkce, 64);
    struct ts_authorize a = {.challenge = pkce.challenge};
    char *code = ts_code(ts, &a);
    ts_advance(ts, "9m59s");
    struct hx_http_response resp;
    exchange(ts, NULL, code, pkce.verifier, &resp);
    assert_status(&resp, 200);
    hx_http_response_cleanup(&resp);
    free(code);
}

static void test_failed_verifier_does_not_consume_code(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_pkce pkce, other;
    ts_pkce(&pkce, 43);
    ts_pkce(&other, 43);
    struct ts_authorize a = {.challenge = pkce.challenge};
    char *code = ts_code(ts, &a);
    struct hx_http_response resp;
    exchange(ts, NULL, code, other.verifier, &resp);
    assert_oauth_error(&resp, 400, "invalid_grant", NULL);
    hx_http_response_cleanup(&resp);
    exchange(ts, NULL, code, pkce.verifier, &resp);
    assert_status(&resp, 200);
    hx_http_response_cleanup(&resp);
    free(code);
}

static void test_login_hint_selects_user_case_insensitively(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    struct ts_sign_in in = {.login_hint = "Bob@Example.COM"};
    ts_sign_in(ts, &in, &s);
    assert_string_equal(json_string_value(json_object_get(s.claims, "sub")), TS_BOB);
    ts_session_cleanup(&s);
}

static void test_member_organization_scopes_the_code(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    struct ts_sign_in in = {.login_hint = "bob@example.com", .organization_id = TS_ORG_GLOBEX};
    ts_sign_in(ts, &in, &s);
    assert_string_equal(json_string_value(json_object_get(s.body, "organization_id")),
                        TS_ORG_GLOBEX);
    assert_string_equal(json_string_value(json_object_get(s.claims, "org_id")), TS_ORG_GLOBEX);
    assert_string_equal(json_string_value(json_object_get(s.claims, "role")), "member");
    ts_session_cleanup(&s);
}

/* --- negative: JSON 400 when redirect_uri cannot be used ------------------------- */

static void test_authorize_missing_client_id_is_json_400(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_authorize a = {.client_id = "", .state = "s"};
    check_json_400(ts, &a, "invalid_request");
}

static void test_authorize_unknown_client_is_json_400(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_authorize a = {.client_id = "client_01NOSUCHCLIENT", .state = "s"};
    check_json_400(ts, &a, "invalid_client");
}

static void test_authorize_missing_redirect_uri_is_json_400(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_authorize a = {.redirect_uri = "", .state = "s"};
    check_json_400(ts, &a, "invalid_request");
}

static void test_authorize_disallowed_redirect_uri_is_json_400(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    const char *bad[] = {"https://evil.example/callback", "http://localhost:3001/callback",
                         "http://localhost:4000/callback" /* the other client's */, NULL};
    for (int i = 0; bad[i]; i++) {
        struct ts_authorize a = {.redirect_uri = bad[i], .state = "s"};
        check_json_400(ts, &a, "invalid_redirect_uri");
    }
}

static void test_authorize_javascript_redirect_uri_is_json_400(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    const char *bad[] = {"javascript:alert(1)", "JavaScript:alert(document.cookie)",
                         "data:text/html,<script>alert(1)</script>", NULL};
    for (int i = 0; bad[i]; i++) {
        struct ts_authorize a = {.redirect_uri = bad[i], .state = "s"};
        check_json_400(ts, &a, "invalid_redirect_uri");
    }
}

static void test_authorize_redirect_uri_with_userinfo_is_json_400(void **state)
{
    /* The zero configuration allows "http://localhost:*": a userinfo part
     * must not turn that into a redirect to another host. */
    struct ts_server *ts = TS_START(state, NULL);
    const char *bad[] = {"http://localhost:3000@evil.example/callback",
                         "http://127.0.0.1:1@evil.example/",
                         "http://localhost:3000\\@evil.example/cb", NULL};
    for (int i = 0; bad[i]; i++) {
        struct ts_authorize a = {.redirect_uri = bad[i], .state = "s"};
        check_json_400(ts, &a, "invalid_redirect_uri");
    }
    /* an '@' later in the URL is fine */
    struct ts_authorize ok = {.redirect_uri = "http://localhost:3000/cb/@me?u=a@b", .state = "s"};
    char location[1024];
    assert_int_equal(ts_authorize(ts, &ok, location, sizeof(location)), 302);
    assert_memory_equal(location, "http://localhost:3000/cb/@me?u=a@b&code=", 40);
}

/* --- negative: errors as redirects ----------------------------------------------- */

static void test_authorize_bad_response_type_redirects_with_error(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_authorize a = {.response_type = "token", .state = "st&ate=1"};
    check_error_redirect(ts, &a, "unsupported_response_type", "st&ate=1");
    struct ts_authorize missing = {.response_type = "", .state = "x"};
    check_error_redirect(ts, &missing, "unsupported_response_type", "x");
    json_t *entry = ts_journal_last(ts, "authorize");
    assert_string_equal(ts_entry_str(entry, "outcome"), "unsupported_response_type");
    json_decref(entry);
}

static void test_authorize_without_provider_redirects_with_error(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_authorize a = {.provider = "", .state = "no-provider"};
    check_error_redirect(ts, &a, "invalid_request", "no-provider");
}

static void test_authorize_error_redirect_without_state_has_no_state(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_authorize a = {.provider = ""};
    check_error_redirect(ts, &a, "invalid_request", NULL);
}

static void test_authorize_bad_challenge_method_redirects_with_error(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_pkce pkce;
    ts_pkce(&pkce, 43);
    struct ts_authorize plain = {.challenge = pkce.challenge, .challenge_method = "plain",
                                 .state = "m"};
    check_error_redirect(ts, &plain, "invalid_request", "m");
    struct ts_authorize short_challenge = {.challenge = "tooshort", .state = "m2"};
    check_error_redirect(ts, &short_challenge, "invalid_request", "m2");
}

static void test_authorize_unknown_login_hint_redirects_with_user_not_found(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_authorize a = {.login_hint = "nobody@example.com", .state = "h"};
    check_error_redirect(ts, &a, "user_not_found", "h");
}

static void test_authorize_non_member_organization_redirects_with_error(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    /* alice has no memberships; bob is not in an unknown org */
    struct ts_authorize a = {.organization_id = TS_ORG_ACME, .state = "o"};
    check_error_redirect(ts, &a, "organization_invalid", "o");
    struct ts_authorize b = {.login_hint = "bob@example.com", .organization_id = "org_01NOPE",
                             .state = "o2"};
    check_error_redirect(ts, &b, "organization_invalid", "o2");
}

/* --- negative: the code ----------------------------------------------------------- */

static void test_code_is_single_use(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_pkce pkce;
    ts_pkce(&pkce, 43);
    struct ts_authorize a = {.challenge = pkce.challenge};
    char *code = ts_code(ts, &a);
    struct hx_http_response resp;
    exchange(ts, NULL, code, pkce.verifier, &resp);
    assert_status(&resp, 200);
    hx_http_response_cleanup(&resp);
    exchange(ts, NULL, code, pkce.verifier, &resp);
    char description[256];
    snprintf(description, sizeof(description), "The code '%s' has expired or is invalid.", code);
    assert_oauth_error(&resp, 400, "invalid_grant", description);
    hx_http_response_cleanup(&resp);
    free(code);
}

static void test_code_is_bound_to_its_client(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_pkce pkce;
    ts_pkce(&pkce, 43);
    struct ts_authorize a = {.challenge = pkce.challenge};
    char *code = ts_code(ts, &a);
    struct hx_http_response resp;
    exchange(ts, TS_OTHER_CLIENT, code, pkce.verifier, &resp);
    assert_oauth_error(&resp, 400, "invalid_grant", NULL);
    hx_http_response_cleanup(&resp);
    free(code);
}

static void test_code_is_bound_to_its_challenge(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_pkce pkce;
    ts_pkce(&pkce, 43);
    struct ts_authorize a = {.challenge = pkce.challenge};
    char *code = ts_code(ts, &a);
    struct hx_http_response resp;
    /* The challenge itself, a truncated verifier, a one-character change. */
    char changed[sizeof(pkce.verifier)];
    snprintf(changed, sizeof(changed), "%s", pkce.verifier);
    changed[0] = changed[0] == 'A' ? 'B' : 'A';
    char truncated[sizeof(pkce.verifier)];
    snprintf(truncated, sizeof(truncated), "%.42s", pkce.verifier);
    const char *wrong[] = {pkce.challenge, truncated, changed, NULL};
    for (int i = 0; wrong[i]; i++) {
        exchange(ts, NULL, code, wrong[i], &resp);
        assert_oauth_error(&resp, 400, "invalid_grant", NULL);
        hx_http_response_cleanup(&resp);
    }
    json_t *entry = ts_journal_last(ts, "authenticate");
    assert_string_equal(ts_entry_str(entry, "outcome"), "invalid_grant");
    json_decref(entry);
    free(code);
}

static void test_code_without_verifier_for_pkce_code_is_invalid_request(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_pkce pkce;
    ts_pkce(&pkce, 43);
    struct ts_authorize a = {.challenge = pkce.challenge};
    char *code = ts_code(ts, &a);
    struct hx_http_response resp;
    exchange(ts, NULL, code, NULL, &resp);
    assert_oauth_error(&resp, 400, "invalid_request", "code_verifier is required.");
    hx_http_response_cleanup(&resp);
    free(code);
}

static void test_code_expires_after_ten_minutes(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_pkce pkce;
    ts_pkce(&pkce, 43);
    struct ts_authorize a = {.challenge = pkce.challenge};
    char *code = ts_code(ts, &a);
    ts_advance(ts, "10m");
    struct hx_http_response resp;
    exchange(ts, NULL, code, pkce.verifier, &resp);
    assert_oauth_error(&resp, 400, "invalid_grant", NULL);
    hx_http_response_cleanup(&resp);
    /* Expired stays expired even if the clock is set back. */
    json_decref(ts_admin(ts, "POST", "/_fakeidp/clock", "{\"set\":1768478400000}", 200));
    exchange(ts, NULL, code, pkce.verifier, &resp);
    assert_oauth_error(&resp, 400, "invalid_grant", NULL);
    hx_http_response_cleanup(&resp);
    free(code);
}

static void test_unknown_code_is_invalid_grant(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct hx_http_response resp;
    exchange(ts, NULL, "NoSuchCode0000000000000000", "x", &resp);
    assert_oauth_error(&resp, 400, "invalid_grant",
                       "The code 'NoSuchCode0000000000000000' has expired or is invalid.");
    hx_http_response_cleanup(&resp);
}

/* --- the interactive sign-in page (setting login_page) ---------------------- */

/* A valid authorize shows a form carrying every parameter, HTML-escaped,
 * and issues no code; posting that form signs in as the email it names. */
static void test_login_page_form_posts_back_and_signs_in(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    ts_settings(ts, "{\"login_page\":true}");
    struct ts_pkce pkce;
    ts_pkce(&pkce, 43);
    const char *app_state = "\"><script>alert(1)</script>&x='y'";
    struct ts_authorize a = {.state = app_state, .challenge = pkce.challenge};
    struct hx_http_response resp;
    ts_authorize_resp(ts, &a, &resp);
    assert_status(&resp, 200);
    assert_null(ts_header(&resp, "Location"));
    assert_non_null(strstr(ts_header(&resp, "Content-Type"), "text/html"));
    assert_non_null(strstr(resp.body, "<form id=\"fakeidp-login\" method=\"post\" "
                                      "action=\"/user_management/authorize\">"));
    assert_null(strstr(resp.body, "<script>"));
    assert_non_null(strstr(resp.body, "value=\"&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&amp;x=&#39;y&#39;\""));
    assert_non_null(strstr(resp.body, "name=\"login_hint\" value=\""));
    hx_http_response_cleanup(&resp);

    /* The form's fields, posted as a browser submits them. */
    char *challenge = idp_test_form_value(pkce.challenge);
    char *encoded_state = idp_test_form_value(app_state);
    char body[2048];
    snprintf(body, sizeof(body),
             "client_id=%s&redirect_uri=%s&response_type=code&provider=authkit&state=%s"
             "&code_challenge=%s&code_challenge_method=S256&login_hint=%s",
             ts->client_id, TS_REDIRECT, encoded_state, challenge, "alice%40example.com");
    static const char *const form[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    assert_int_equal(ts_request(ts, NULL, "POST", "/user_management/authorize", form, body, &resp), 302);
    const char *location = ts_header(&resp, "Location");
    assert_non_null(location);
    char *code = ts_query_param(location, "code");
    char *back = ts_query_param(location, "state");
    assert_non_null(code);
    assert_string_equal(back, app_state);
    hx_http_response_cleanup(&resp);
    assert_int_equal(exchange(ts, NULL, code, pkce.verifier, &resp), 200);
    json_t *reply = ts_json(&resp);
    assert_string_equal(json_string_value(json_object_get(json_object_get(reply, "user"), "email")),
                        "alice@example.com");
    json_decref(reply);
    hx_http_response_cleanup(&resp);
    free(code);
    free(back);
    free(challenge);
    free(encoded_state);
}

/* The page is shown only for a request that would have signed in: errors
 * still go back to redirect_uri. */
static void test_login_page_not_shown_for_a_bad_request(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    ts_settings(ts, "{\"login_page\":true}");
    struct ts_authorize a = {.response_type = "token", .state = "s1"};
    check_error_redirect(ts, &a, "unsupported_response_type", "s1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TS_TEST(test_authorize_redirects_with_code_and_verbatim_state),
        TS_TEST(test_authorize_keeps_existing_redirect_uri_query),
        TS_TEST(test_code_exchange_with_512_char_verifier_succeeds),
        TS_TEST(test_code_still_valid_just_before_ten_minutes),
        TS_TEST(test_failed_verifier_does_not_consume_code),
        TS_TEST(test_login_hint_selects_user_case_insensitively),
        TS_TEST(test_member_organization_scopes_the_code),
        TS_TEST(test_authorize_missing_client_id_is_json_400),
        TS_TEST(test_authorize_unknown_client_is_json_400),
        TS_TEST(test_authorize_missing_redirect_uri_is_json_400),
        TS_TEST(test_authorize_disallowed_redirect_uri_is_json_400),
        TS_TEST(test_authorize_javascript_redirect_uri_is_json_400),
        TS_TEST(test_authorize_redirect_uri_with_userinfo_is_json_400),
        TS_TEST(test_authorize_bad_response_type_redirects_with_error),
        TS_TEST(test_authorize_without_provider_redirects_with_error),
        TS_TEST(test_authorize_error_redirect_without_state_has_no_state),
        TS_TEST(test_authorize_bad_challenge_method_redirects_with_error),
        TS_TEST(test_authorize_unknown_login_hint_redirects_with_user_not_found),
        TS_TEST(test_authorize_non_member_organization_redirects_with_error),
        TS_TEST(test_code_is_single_use),
        TS_TEST(test_code_is_bound_to_its_client),
        TS_TEST(test_code_is_bound_to_its_challenge),
        TS_TEST(test_code_without_verifier_for_pkce_code_is_invalid_request),
        TS_TEST(test_code_expires_after_ten_minutes),
        TS_TEST(test_unknown_code_is_invalid_grant),
        TS_TEST(test_login_page_form_posts_back_and_signs_in),
        TS_TEST(test_login_page_not_shown_for_a_bad_request),
    };
    return cmocka_run_group_tests_name("authorize", tests, NULL, NULL);
}
