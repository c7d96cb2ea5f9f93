/* The grants that sign a user in without the hosted page (password, magic
 * auth, email verification, organization selection, MFA TOTP), the
 * management calls they need, with @workos-inc/node 12's paths and shapes,
 * and the outbox of e-mails (workos-wire.md §2.2, §2.4). */
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
#include "totp.h"

#define PASSWORD "correct horse battery"
#define GRANT_MAGIC "urn:workos:oauth:grant-type:magic-auth:code"
#define GRANT_EMAIL "urn:workos:oauth:grant-type:email-verification:code"
#define GRANT_ORG "urn:workos:oauth:grant-type:organization-selection"
#define GRANT_TOTP "urn:workos:oauth:grant-type:mfa-totp"

#define CONFIG                                                                                 \
    "{\"api_keys\":[\"" TS_API_KEY "\"],"                                                     \
    "\"clients\":[{\"id\":\"" TS_CLIENT "\",\"redirect_uris\":[\"http://localhost:3000/*\"]}]," \
    "\"organizations\":[{\"id\":\"" TS_ORG_ACME "\",\"name\":\"Acme\"},"                      \
    "{\"id\":\"" TS_ORG_GLOBEX "\",\"name\":\"Globex\"}],"                                    \
    "\"users\":["                                                                              \
    "{\"email\":\"pw@example.com\",\"password\":\"" PASSWORD "\",\"first_name\":\"Pat\"},"      \
    "{\"email\":\"multi@example.com\",\"password\":\"" PASSWORD "\",\"memberships\":["          \
    "{\"organization_id\":\"" TS_ORG_ACME "\",\"role\":\"admin\"},"                           \
    "{\"organization_id\":\"" TS_ORG_GLOBEX "\"}]},"                                          \
    "{\"email\":\"mfa@example.com\",\"password\":\"" PASSWORD "\",\"step_up\":\"mfa_enrollment\"}," \
    "{\"email\":\"choose@example.com\",\"step_up\":\"organization_selection_required\","      \
    "\"memberships\":[{\"organization_id\":\"" TS_ORG_ACME "\"},"                             \
    "{\"organization_id\":\"" TS_ORG_GLOBEX "\"}]}"                                            \
    "]}"

static const char *api_headers(void)
{
    return "Authorization: Bearer " TS_API_KEY;
}

/* POST path with the API key; body (stolen) as JSON. */
static long api_post(struct ts_server *ts, const char *path, json_t *body,
                     struct hx_http_response *resp)
{
    const char *headers[] = {api_headers(), NULL};
    return ts_post_json(ts, NULL, path, headers, body, resp);
}

static json_t *api_get(struct ts_server *ts, const char *path, long expect)
{
    const char *headers[] = {api_headers(), NULL};
    struct hx_http_response resp;
    ts_request(ts, NULL, "GET", path, headers, NULL, &resp);
    assert_status(&resp, expect);
    json_t *body = ts_json(&resp);
    hx_http_response_cleanup(&resp);
    return body;
}

/* POST /user_management/authenticate as the SDK sends a headless grant:
 * client_id and client_secret (the API key) plus the grant's fields. */
static long authenticate(struct ts_server *ts, const char *grant_type, json_t *fields,
                         struct hx_http_response *resp)
{
    json_t *body = json_pack("{s:s, s:s, s:s}", "grant_type", grant_type, "client_id",
                             ts->client_id, "client_secret", TS_API_KEY);
    json_object_update(body, fields);
    json_decref(fields);
    return ts_post_json(ts, NULL, "/user_management/authenticate", NULL, body, resp);
}

static long password_grant(struct ts_server *ts, const char *email, const char *password,
                           struct hx_http_response *resp)
{
    return authenticate(ts, "password", json_pack("{s:s, s:s}", "email", email, "password",
                                                  password), resp);
}

/* A 403 step-up answer: checks the code and returns the body (new ref). */
static json_t *step_up(const struct hx_http_response *resp, const char *code)
{
    assert_status(resp, 403);
    json_t *body = ts_json(resp);
    assert_string_equal(json_string_value(json_object_get(body, "code")), code);
    assert_non_null(json_string_value(json_object_get(body, "message")));
    assert_non_null(json_string_value(json_object_get(body, "pending_authentication_token")));
    return body;
}

static const char *str(const json_t *obj, const char *key)
{
    const char *v = json_string_value(json_object_get(obj, key));
    assert_non_null(v);
    return v;
}

/* The last e-mail in the outbox (new reference). */
static json_t *last_mail(struct ts_server *ts)
{
    json_t *outbox = ts_admin(ts, "GET", "/_fakeidp/outbox", NULL, 200);
    json_t *data = json_object_get(outbox, "data");
    assert_true(json_array_size(data) > 0);
    json_t *mail = json_incref(json_array_get(data, json_array_size(data) - 1));
    json_decref(outbox);
    return mail;
}

/* --- password ------------------------------------------------------------------------ */

static void test_password_grant_signs_in_and_refreshes_like_a_code(void **state)
{
    struct ts_server *ts = TS_START(state, CONFIG);
    struct hx_http_response resp;
    password_grant(ts, "pw@example.com", PASSWORD, &resp);
    struct ts_session s;
    ts_session_parse(&resp, &s);
    char keys[256];
    ts_top_keys(resp.body, keys, sizeof(keys));
    assert_string_equal(keys, "user,access_token,refresh_token,authentication_method");
    assert_string_equal(str(s.body, "authentication_method"), "Password");
    assert_int_equal(json_integer_value(json_object_get(s.claims, "auth_time")), TS_T0_MS / 1000);
    hx_http_response_cleanup(&resp);
    json_t *entry = ts_journal_last(ts, "authenticate");
    assert_string_equal(ts_entry_str(entry, "outcome"), "session_created");
    assert_string_equal(ts_entry_str(entry, "grant_type"), "password");
    json_decref(entry);
    ts_refresh(ts, NULL, NULL, s.refresh_token, NULL, NULL, &resp);
    assert_status(&resp, 200);
    hx_http_response_cleanup(&resp);
    ts_refresh(ts, NULL, NULL, s.refresh_token, NULL, NULL, &resp); /* the grace replay */
    assert_status(&resp, 200);
    hx_http_response_cleanup(&resp);
    ts_session_cleanup(&s);
}

static void test_password_grant_refuses_bad_credentials(void **state)
{
    struct ts_server *ts = TS_START(state, CONFIG);
    struct hx_http_response resp;
    password_grant(ts, "pw@example.com", "wrong", &resp);
    assert_code_error(&resp, 400, "invalid_credentials");
    json_t *body = ts_json(&resp);
    assert_string_equal(str(body, "message"), "Invalid credentials for 'pw@example.com'.");
    json_decref(body);
    hx_http_response_cleanup(&resp);
    password_grant(ts, "nobody@example.com", PASSWORD, &resp);
    assert_code_error(&resp, 400, "invalid_credentials");
    hx_http_response_cleanup(&resp);
    /* a user without a password cannot use the grant */
    password_grant(ts, "choose@example.com", "", &resp);
    assert_oauth_error(&resp, 400, "invalid_request", "password is required.");
    hx_http_response_cleanup(&resp);
    /* the headless grants are for confidential clients */
    json_t *no_secret = json_pack("{s:s, s:s, s:s, s:s}", "grant_type", "password", "client_id",
                                  ts->client_id, "email", "pw@example.com", "password", PASSWORD);
    ts_post_json(ts, NULL, "/user_management/authenticate", NULL, no_secret, &resp);
    assert_oauth_error(&resp, 400, "invalid_client", "client_secret is required.");
    hx_http_response_cleanup(&resp);
}

/* --- magic auth ---------------------------------------------------------------------- */

static void test_magic_auth_code_signs_in_once(void **state)
{
    struct ts_server *ts = TS_START(state, CONFIG);
    struct hx_http_response resp;
    api_post(ts, "/user_management/magic_auth", json_pack("{s:s}", "email", "pw@example.com"),
             &resp);
    assert_status(&resp, 201);
    json_t *magic = ts_json(&resp);
    hx_http_response_cleanup(&resp);
    char keys[256];
    json_t *copy = json_deep_copy(magic);
    char *text = json_dumps(copy, JSON_PRESERVE_ORDER);
    ts_top_keys(text, keys, sizeof(keys));
    free(text);
    json_decref(copy);
    assert_string_equal(keys, "object,id,user_id,email,expires_at,code,created_at,updated_at");
    assert_string_equal(str(magic, "object"), "magic_auth");
    assert_string_equal(str(magic, "expires_at"), "2026-01-15T12:10:00.000Z");
    assert_int_equal(strlen(str(magic, "code")), 6);
    /* the outbox holds the e-mail WorkOS would have sent */
    json_t *mail = last_mail(ts);
    assert_string_equal(str(mail, "type"), "magic_auth");
    assert_string_equal(str(mail, "to"), "pw@example.com");
    assert_string_equal(str(mail, "code"), str(magic, "code"));
    json_decref(mail);
    char path[128];
    snprintf(path, sizeof(path), "/user_management/magic_auth/%s", str(magic, "id"));
    json_t *got = api_get(ts, path, 200);
    assert_string_equal(str(got, "code"), str(magic, "code"));
    json_decref(got);

    authenticate(ts, GRANT_MAGIC, json_pack("{s:s, s:s}", "email", "pw@example.com", "code",
                                            str(magic, "code")), &resp);
    struct ts_session s;
    ts_session_parse(&resp, &s);
    assert_string_equal(str(s.body, "authentication_method"), "MagicAuth");
    hx_http_response_cleanup(&resp);
    ts_session_cleanup(&s);
    /* single use */
    authenticate(ts, GRANT_MAGIC, json_pack("{s:s, s:s}", "email", "pw@example.com", "code",
                                            str(magic, "code")), &resp);
    assert_code_error(&resp, 400, "invalid_one_time_code");
    hx_http_response_cleanup(&resp);
    json_decref(magic);
}

static void test_magic_auth_code_expires_on_the_virtual_clock(void **state)
{
    struct ts_server *ts = TS_START(state, CONFIG);
    struct hx_http_response resp;
    api_post(ts, "/user_management/magic_auth", json_pack("{s:s}", "email", "pw@example.com"),
             &resp);
    json_t *magic = ts_json(&resp);
    hx_http_response_cleanup(&resp);
    /* another user's email with this code is refused too */
    authenticate(ts, GRANT_MAGIC, json_pack("{s:s, s:s}", "email", "multi@example.com", "code",
                                            str(magic, "code")), &resp);
    assert_code_error(&resp, 400, "invalid_one_time_code");
    hx_http_response_cleanup(&resp);
    ts_advance(ts, "10m");
    authenticate(ts, GRANT_MAGIC, json_pack("{s:s, s:s}", "email", "pw@example.com", "code",
                                            str(magic, "code")), &resp);
    assert_code_error(&resp, 400, "invalid_one_time_code");
    hx_http_response_cleanup(&resp);
    json_decref(magic);
}

/* --- email verification -------------------------------------------------------------- */

static void test_created_user_verifies_email_then_signs_in(void **state)
{
    struct ts_server *ts = TS_START(state, CONFIG);
    struct hx_http_response resp;
    api_post(ts, "/user_management/users",
             json_pack("{s:s, s:s, s:s}", "email", "new@example.com", "password", PASSWORD,
                       "first_name", "Nia"), &resp);
    assert_status(&resp, 201);
    json_t *user = ts_json(&resp);
    hx_http_response_cleanup(&resp);
    assert_string_equal(str(user, "object"), "user");
    assert_false(json_is_true(json_object_get(user, "email_verified")));
    /* the same email twice */
    api_post(ts, "/user_management/users", json_pack("{s:s}", "email", "new@example.com"), &resp);
    assert_status(&resp, 422);
    hx_http_response_cleanup(&resp);

    password_grant(ts, "new@example.com", PASSWORD, &resp);
    json_t *required = step_up(&resp, "email_verification_required");
    hx_http_response_cleanup(&resp);
    assert_string_equal(str(required, "email"), "new@example.com");
    char path[160];
    snprintf(path, sizeof(path), "/user_management/email_verification/%s",
             str(required, "email_verification_id"));
    json_t *verification = api_get(ts, path, 200);
    assert_string_equal(str(verification, "object"), "email_verification");
    assert_string_equal(str(verification, "user_id"), str(user, "id"));
    json_t *mail = last_mail(ts);
    assert_string_equal(str(mail, "type"), "email_verification");
    assert_string_equal(str(mail, "code"), str(verification, "code"));
    json_decref(mail);

    authenticate(ts, GRANT_EMAIL,
                 json_pack("{s:s, s:s}", "pending_authentication_token",
                           str(required, "pending_authentication_token"), "code", "000000x"),
                 &resp);
    assert_code_error(&resp, 400, "invalid_one_time_code");
    hx_http_response_cleanup(&resp);
    authenticate(ts, GRANT_EMAIL,
                 json_pack("{s:s, s:s}", "pending_authentication_token",
                           str(required, "pending_authentication_token"), "code",
                           str(verification, "code")), &resp);
    struct ts_session s;
    ts_session_parse(&resp, &s);
    hx_http_response_cleanup(&resp);
    assert_true(json_is_true(json_object_get(json_object_get(s.body, "user"), "email_verified")));
    assert_string_equal(str(s.body, "authentication_method"), "Password");
    ts_session_cleanup(&s);
    /* the pending token is spent */
    authenticate(ts, GRANT_EMAIL,
                 json_pack("{s:s, s:s}", "pending_authentication_token",
                           str(required, "pending_authentication_token"), "code",
                           str(verification, "code")), &resp);
    assert_code_error(&resp, 400, "invalid_pending_authentication_token");
    hx_http_response_cleanup(&resp);
    /* and the user now signs in directly */
    password_grant(ts, "new@example.com", PASSWORD, &resp);
    assert_status(&resp, 200);
    hx_http_response_cleanup(&resp);
    json_decref(verification);
    json_decref(required);
    json_decref(user);
}

static void test_send_and_confirm_verification_email(void **state)
{
    struct ts_server *ts = TS_START(state, CONFIG);
    struct hx_http_response resp;
    api_post(ts, "/user_management/users", json_pack("{s:s}", "email", "v@example.com"), &resp);
    json_t *user = ts_json(&resp);
    hx_http_response_cleanup(&resp);
    char path[160];
    snprintf(path, sizeof(path), "/user_management/users/%s/email_verification/send",
             str(user, "id"));
    api_post(ts, path, json_object(), &resp);
    assert_status(&resp, 200);
    hx_http_response_cleanup(&resp);
    json_t *mail = last_mail(ts);
    snprintf(path, sizeof(path), "/user_management/users/%s/email_verification/confirm",
             str(user, "id"));
    api_post(ts, path, json_pack("{s:s}", "code", "999999x"), &resp);
    assert_code_error(&resp, 400, "invalid_one_time_code");
    hx_http_response_cleanup(&resp);
    api_post(ts, path, json_pack("{s:s}", "code", str(mail, "code")), &resp);
    assert_status(&resp, 200);
    json_t *body = ts_json(&resp);
    assert_true(json_is_true(json_object_get(json_object_get(body, "user"), "email_verified")));
    json_decref(body);
    hx_http_response_cleanup(&resp);
    json_decref(mail);
    json_decref(user);
}

static void test_password_reset_sets_a_new_password_once(void **state)
{
    struct ts_server *ts = TS_START(state, CONFIG);
    struct hx_http_response resp;
    api_post(ts, "/user_management/password_reset", json_pack("{s:s}", "email", "pw@example.com"),
             &resp);
    assert_status(&resp, 201);
    json_t *reset = ts_json(&resp);
    hx_http_response_cleanup(&resp);
    assert_string_equal(str(reset, "object"), "password_reset");
    assert_string_equal(str(reset, "expires_at"), "2026-01-15T12:15:00.000Z");
    json_t *mail = last_mail(ts);
    assert_string_equal(str(mail, "password_reset_url"), str(reset, "password_reset_url"));
    json_decref(mail);
    char path[160];
    snprintf(path, sizeof(path), "/user_management/password_reset/%s", str(reset, "id"));
    json_decref(api_get(ts, path, 200));
    api_post(ts, "/user_management/password_reset/confirm",
             json_pack("{s:s, s:s}", "token", str(reset, "password_reset_token"), "new_password",
                       "a new one"), &resp);
    assert_status(&resp, 200);
    hx_http_response_cleanup(&resp);
    password_grant(ts, "pw@example.com", PASSWORD, &resp);
    assert_code_error(&resp, 400, "invalid_credentials");
    hx_http_response_cleanup(&resp);
    password_grant(ts, "pw@example.com", "a new one", &resp);
    assert_status(&resp, 200);
    hx_http_response_cleanup(&resp);
    /* spent */
    api_post(ts, "/user_management/password_reset/confirm",
             json_pack("{s:s, s:s}", "token", str(reset, "password_reset_token"), "new_password",
                       "again"), &resp);
    assert_code_error(&resp, 404, "entity_not_found");
    hx_http_response_cleanup(&resp);
    api_post(ts, "/user_management/password_reset/confirm", json_pack("{s:s}", "token", "x"),
             &resp);
    assert_status(&resp, 422);
    hx_http_response_cleanup(&resp);
    json_decref(reset);
}

/* --- organization selection ------------------------------------------------------------ */

static void test_organization_selection_then_refresh_switches_org(void **state)
{
    struct ts_server *ts = TS_START(state, CONFIG);
    struct hx_http_response resp;
    password_grant(ts, "multi@example.com", PASSWORD, &resp);
    json_t *required = step_up(&resp, "organization_selection_required");
    hx_http_response_cleanup(&resp);
    json_t *orgs = json_object_get(required, "organizations");
    assert_int_equal(json_array_size(orgs), 2);
    assert_string_equal(str(json_array_get(orgs, 0), "name"), "Acme");
    assert_string_equal(str(json_object_get(required, "user"), "email"), "multi@example.com");
    const char *pending = str(required, "pending_authentication_token");

    authenticate(ts, GRANT_ORG, json_pack("{s:s, s:s}", "pending_authentication_token", pending,
                                          "organization_id", "org_nope"), &resp);
    assert_code_error(&resp, 404, "not_found");
    hx_http_response_cleanup(&resp);
    authenticate(ts, GRANT_ORG, json_pack("{s:s, s:s}", "pending_authentication_token", pending,
                                          "organization_id", TS_ORG_GLOBEX), &resp);
    struct ts_session s;
    ts_session_parse(&resp, &s);
    hx_http_response_cleanup(&resp);
    assert_string_equal(str(s.body, "organization_id"), TS_ORG_GLOBEX);
    assert_string_equal(str(s.claims, "org_id"), TS_ORG_GLOBEX);
    /* refresh with organization_id switches the token's organization */
    ts_refresh(ts, NULL, NULL, s.refresh_token, TS_ORG_ACME, NULL, &resp);
    struct ts_session next;
    ts_session_parse(&resp, &next);
    hx_http_response_cleanup(&resp);
    assert_string_equal(str(next.claims, "org_id"), TS_ORG_ACME);
    assert_string_equal(str(next.claims, "role"), "admin");
    assert_string_equal(next.sid, s.sid);
    /* a membership the user lacks is refused */
    ts_refresh(ts, NULL, NULL, next.refresh_token, "org_01NOTAMEMBER", NULL, &resp);
    assert_code_error(&resp, 400, "organization_membership_not_found");
    hx_http_response_cleanup(&resp);
    ts_session_cleanup(&next);
    ts_session_cleanup(&s);
    json_decref(required);
}

static void test_pending_token_unknown_spent_or_expired_is_refused(void **state)
{
    struct ts_server *ts = TS_START(state, CONFIG);
    struct hx_http_response resp;
    authenticate(ts, GRANT_ORG, json_pack("{s:s, s:s}", "pending_authentication_token",
                                          "not-a-token", "organization_id", TS_ORG_ACME), &resp);
    assert_code_error(&resp, 400, "invalid_pending_authentication_token");
    json_t *body = ts_json(&resp);
    assert_string_equal(str(body, "message"), "Invalid pending authentication token");
    json_decref(body);
    hx_http_response_cleanup(&resp);
    password_grant(ts, "multi@example.com", PASSWORD, &resp);
    json_t *required = step_up(&resp, "organization_selection_required");
    hx_http_response_cleanup(&resp);
    ts_advance(ts, "10m");
    authenticate(ts, GRANT_ORG,
                 json_pack("{s:s, s:s}", "pending_authentication_token",
                           str(required, "pending_authentication_token"), "organization_id",
                           TS_ORG_ACME), &resp);
    assert_code_error(&resp, 400, "invalid_pending_authentication_token");
    hx_http_response_cleanup(&resp);
    json_decref(required);
}

/* A code exchange of a configured step-up user gives a pending token the
 * organization-selection grant redeems. */
static void test_code_exchange_step_up_token_is_redeemable(void **state)
{
    struct ts_server *ts = TS_START(state, CONFIG);
    struct ts_pkce pkce;
    ts_pkce(&pkce, 43);
    struct ts_authorize a = {.challenge = pkce.challenge, .login_hint = "choose@example.com"};
    char *code = ts_code(ts, &a);
    struct ts_exchange x = {.client_id = ts->client_id, .code = code, .verifier = pkce.verifier};
    struct hx_http_response resp;
    ts_exchange(ts, &x, &resp);
    json_t *required = step_up(&resp, "organization_selection_required");
    hx_http_response_cleanup(&resp);
    authenticate(ts, GRANT_ORG,
                 json_pack("{s:s, s:s}", "pending_authentication_token",
                           str(required, "pending_authentication_token"), "organization_id",
                           TS_ORG_ACME), &resp);
    struct ts_session s;
    ts_session_parse(&resp, &s);
    assert_string_equal(str(s.claims, "org_id"), TS_ORG_ACME);
    hx_http_response_cleanup(&resp);
    ts_session_cleanup(&s);
    json_decref(required);
    free(code);
}

/* --- MFA ------------------------------------------------------------------------------- */

static void totp_now(struct ts_server *ts, const char *secret, char code[7])
{
    assert_true(idp_totp_code(secret, ts_now_ms(ts) / 1000, code));
}

static void test_mfa_enrollment_then_challenge_with_totp(void **state)
{
    struct ts_server *ts = TS_START(state, CONFIG);
    struct hx_http_response resp;
    password_grant(ts, "mfa@example.com", PASSWORD, &resp);
    json_t *required = step_up(&resp, "mfa_enrollment");
    hx_http_response_cleanup(&resp);
    const char *user_id = str(json_object_get(required, "user"), "id");
    char path[160];
    snprintf(path, sizeof(path), "/user_management/users/%s/auth_factors", user_id);
    api_post(ts, path, json_pack("{s:s, s:s}", "type", "totp", "totp_issuer", "Acme"), &resp);
    assert_status(&resp, 201);
    json_t *enrolled = ts_json(&resp);
    hx_http_response_cleanup(&resp);
    json_t *factor = json_object_get(enrolled, "authentication_factor");
    json_t *challenge = json_object_get(enrolled, "authentication_challenge");
    assert_string_equal(str(factor, "type"), "totp");
    const char *secret = str(json_object_get(factor, "totp"), "secret");
    assert_string_prefix(str(json_object_get(factor, "totp"), "uri"), "otpauth://totp/Acme:");
    assert_string_equal(str(challenge, "authentication_factor_id"), str(factor, "id"));

    char code[7];
    totp_now(ts, secret, code);
    char wrong[7];
    snprintf(wrong, sizeof(wrong), "%06d", (atoi(code) + 1) % 1000000);
    authenticate(ts, GRANT_TOTP,
                 json_pack("{s:s, s:s, s:s}", "pending_authentication_token",
                           str(required, "pending_authentication_token"),
                           "authentication_challenge_id", str(challenge, "id"), "code", wrong),
                 &resp);
    assert_code_error(&resp, 400, "invalid_one_time_code");
    hx_http_response_cleanup(&resp);
    authenticate(ts, GRANT_TOTP,
                 json_pack("{s:s, s:s, s:s}", "pending_authentication_token",
                           str(required, "pending_authentication_token"),
                           "authentication_challenge_id", str(challenge, "id"), "code", code),
                 &resp);
    assert_status(&resp, 200);
    hx_http_response_cleanup(&resp);

    /* enrolled: the next sign-in is challenged, on the virtual clock */
    ts_advance(ts, "1h");
    password_grant(ts, "mfa@example.com", PASSWORD, &resp);
    json_t *challenged = step_up(&resp, "mfa_challenge");
    hx_http_response_cleanup(&resp);
    json_t *factors = json_object_get(challenged, "authentication_factors");
    assert_string_equal(str(json_array_get(factors, 0), "id"), str(factor, "id"));
    snprintf(path, sizeof(path), "/auth/factors/%s/challenge", str(factor, "id"));
    api_post(ts, path, json_object(), &resp);
    assert_status(&resp, 201);
    json_t *second = ts_json(&resp);
    hx_http_response_cleanup(&resp);
    /* the code of an hour ago no longer works */
    authenticate(ts, GRANT_TOTP,
                 json_pack("{s:s, s:s, s:s}", "pending_authentication_token",
                           str(challenged, "pending_authentication_token"),
                           "authentication_challenge_id", str(second, "id"), "code", code),
                 &resp);
    assert_code_error(&resp, 400, "invalid_one_time_code");
    hx_http_response_cleanup(&resp);
    totp_now(ts, secret, code);
    authenticate(ts, GRANT_TOTP,
                 json_pack("{s:s, s:s, s:s}", "pending_authentication_token",
                           str(challenged, "pending_authentication_token"),
                           "authentication_challenge_id", str(second, "id"), "code", code),
                 &resp);
    struct ts_session s;
    ts_session_parse(&resp, &s);
    hx_http_response_cleanup(&resp);
    ts_session_cleanup(&s);
    json_decref(second);
    json_decref(challenged);
    json_decref(enrolled);
    json_decref(required);
}

static void test_verify_challenge_reports_validity(void **state)
{
    struct ts_server *ts = TS_START(state, CONFIG);
    struct hx_http_response resp;
    api_post(ts, "/user_management/users/user_01NOBODY/auth_factors",
             json_pack("{s:s}", "type", "totp"), &resp);
    assert_code_error(&resp, 404, "entity_not_found");
    hx_http_response_cleanup(&resp);
    json_t *users = ts_admin(ts, "GET", "/_fakeidp/users", NULL, 200);
    (void)users;
    json_decref(users);
    api_post(ts, "/user_management/users", json_pack("{s:s}", "email", "t@example.com"), &resp);
    json_t *user = ts_json(&resp);
    hx_http_response_cleanup(&resp);
    char path[160];
    snprintf(path, sizeof(path), "/user_management/users/%s/auth_factors", str(user, "id"));
    api_post(ts, path, json_pack("{s:s}", "type", "sms"), &resp);
    assert_status(&resp, 422);
    hx_http_response_cleanup(&resp);
    api_post(ts, path, json_pack("{s:s, s:s}", "type", "totp", "totp_secret",
                                 "JBSWY3DPEHPK3PXP"), &resp);
    json_t *enrolled = ts_json(&resp);
    hx_http_response_cleanup(&resp);
    json_t *challenge = json_object_get(enrolled, "authentication_challenge");
    snprintf(path, sizeof(path), "/auth/challenges/%s/verify", str(challenge, "id"));
    api_post(ts, path, json_pack("{s:s}", "code", "000000"), &resp);
    json_t *verdict = ts_json(&resp);
    char expected[7];
    totp_now(ts, "JBSWY3DPEHPK3PXP", expected);
    assert_int_equal(json_is_true(json_object_get(verdict, "valid")),
                     strcmp(expected, "000000") == 0);
    json_decref(verdict);
    hx_http_response_cleanup(&resp);
    api_post(ts, path, json_pack("{s:s}", "code", expected), &resp);
    verdict = ts_json(&resp);
    assert_true(json_is_true(json_object_get(verdict, "valid")));
    json_decref(verdict);
    hx_http_response_cleanup(&resp);
    json_decref(enrolled);
    json_decref(user);
}

/* --- organizations and memberships ------------------------------------------------------- */

static void test_created_membership_scopes_the_session(void **state)
{
    struct ts_server *ts = TS_START(state, CONFIG);
    struct hx_http_response resp;
    api_post(ts, "/organizations", json_pack("{s:s}", "name", "Initech"), &resp);
    assert_status(&resp, 201);
    json_t *org = ts_json(&resp);
    hx_http_response_cleanup(&resp);
    assert_string_equal(str(org, "object"), "organization");
    assert_true(json_is_array(json_object_get(org, "domains")));
    char path[160];
    snprintf(path, sizeof(path), "/organizations/%s", str(org, "id"));
    json_t *got = api_get(ts, path, 200);
    assert_string_equal(str(got, "name"), "Initech");
    json_decref(got);
    json_decref(api_get(ts, "/organizations/org_01MISSING", 404));

    json_t *users = ts_admin(ts, "GET", "/_fakeidp/users", NULL, 200);
    json_decref(users);
    api_post(ts, "/user_management/users",
             json_pack("{s:s, s:s, s:b}", "email", "emp@example.com", "password", PASSWORD,
                       "email_verified", 1), &resp);
    json_t *user = ts_json(&resp);
    hx_http_response_cleanup(&resp);
    api_post(ts, "/user_management/organization_memberships",
             json_pack("{s:s, s:s, s:s}", "organization_id", str(org, "id"), "user_id",
                       str(user, "id"), "role_slug", "editor"), &resp);
    assert_status(&resp, 201);
    json_t *membership = ts_json(&resp);
    hx_http_response_cleanup(&resp);
    assert_string_equal(str(membership, "object"), "organization_membership");
    assert_string_equal(str(membership, "organization_name"), "Initech");
    assert_string_equal(str(json_object_get(membership, "role"), "slug"), "editor");
    api_post(ts, "/user_management/organization_memberships",
             json_pack("{s:s, s:s}", "organization_id", str(org, "id"), "user_id",
                       str(user, "id")), &resp);
    assert_status(&resp, 409);
    hx_http_response_cleanup(&resp);
    snprintf(path, sizeof(path), "/user_management/organization_memberships?user_id=%s",
             str(user, "id"));
    json_t *list = api_get(ts, path, 200);
    assert_int_equal(json_array_size(json_object_get(list, "data")), 1);
    json_decref(list);
    /* listUsers: by organization, by email, all */
    snprintf(path, sizeof(path), "/user_management/users?organization_id=%s", str(org, "id"));
    list = api_get(ts, path, 200);
    assert_int_equal(json_array_size(json_object_get(list, "data")), 1);
    assert_string_equal(str(json_array_get(json_object_get(list, "data"), 0), "email"),
                        "emp@example.com");
    json_decref(list);
    list = api_get(ts, "/user_management/users?email=MULTI%40example.com", 200);
    assert_int_equal(json_array_size(json_object_get(list, "data")), 1);
    json_decref(list);
    list = api_get(ts, "/user_management/users", 200);
    assert_int_equal(json_array_size(json_object_get(list, "data")), 5);
    assert_string_equal(str(json_array_get(json_object_get(list, "data"), 0), "email"),
                        "pw@example.com");
    json_decref(list);

    password_grant(ts, "emp@example.com", PASSWORD, &resp);
    struct ts_session s;
    ts_session_parse(&resp, &s);
    hx_http_response_cleanup(&resp);
    assert_string_equal(str(s.claims, "org_id"), str(org, "id"));
    assert_string_equal(str(s.claims, "role"), "editor");
    ts_session_cleanup(&s);
    json_decref(membership);
    json_decref(user);
    json_decref(org);
}

static void test_management_calls_need_the_api_key(void **state)
{
    struct ts_server *ts = TS_START(state, CONFIG);
    struct hx_http_response resp;
    ts_post_json(ts, NULL, "/user_management/magic_auth",
                 NULL, json_pack("{s:s}", "email", "pw@example.com"), &resp);
    assert_code_error(&resp, 401, "unauthorized");
    hx_http_response_cleanup(&resp);
    ts_post_json(ts, NULL, "/organizations", NULL, json_pack("{s:s}", "name", "X"), &resp);
    assert_code_error(&resp, 401, "unauthorized");
    hx_http_response_cleanup(&resp);
}

/* --- outbox ------------------------------------------------------------------------------ */

static void test_outbox_lists_filters_clears_and_resets(void **state)
{
    struct ts_server *ts = TS_START(state, CONFIG);
    struct hx_http_response resp;
    api_post(ts, "/user_management/magic_auth", json_pack("{s:s}", "email", "pw@example.com"),
             &resp);
    hx_http_response_cleanup(&resp);
    api_post(ts, "/user_management/password_reset", json_pack("{s:s}", "email", "multi@example.com"),
             &resp);
    assert_status(&resp, 201);
    hx_http_response_cleanup(&resp);
    api_post(ts, "/user_management/invitations",
             json_pack("{s:s, s:s}", "email", "guest@example.com", "organization_id", TS_ORG_ACME),
             &resp);
    assert_status(&resp, 201);
    json_t *invitation = ts_json(&resp);
    assert_string_equal(str(invitation, "state"), "pending");
    json_decref(invitation);
    hx_http_response_cleanup(&resp);
    json_t *outbox = ts_admin(ts, "GET", "/_fakeidp/outbox", NULL, 200);
    json_t *data = json_object_get(outbox, "data");
    assert_int_equal(json_array_size(data), 3);
    assert_string_equal(str(json_array_get(data, 0), "type"), "magic_auth");
    assert_string_equal(str(json_array_get(data, 1), "type"), "password_reset");
    assert_string_equal(str(json_array_get(data, 2), "type"), "invitation");
    assert_string_equal(str(json_array_get(data, 2), "object"), "email");
    json_decref(outbox);
    outbox = ts_admin(ts, "GET", "/_fakeidp/outbox?to=MULTI@example.com", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(outbox, "data")), 1);
    json_decref(outbox);
    outbox = ts_admin(ts, "DELETE", "/_fakeidp/outbox", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(outbox, "data")), 0);
    json_decref(outbox);
    api_post(ts, "/user_management/magic_auth", json_pack("{s:s}", "email", "pw@example.com"),
             &resp);
    hx_http_response_cleanup(&resp);
    json_decref(ts_admin(ts, "POST", "/_fakeidp/reset", NULL, 200));
    outbox = ts_admin(ts, "GET", "/_fakeidp/outbox", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(outbox, "data")), 0);
    json_decref(outbox);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TS_TEST(test_password_grant_signs_in_and_refreshes_like_a_code),
        TS_TEST(test_password_grant_refuses_bad_credentials),
        TS_TEST(test_magic_auth_code_signs_in_once),
        TS_TEST(test_magic_auth_code_expires_on_the_virtual_clock),
        TS_TEST(test_created_user_verifies_email_then_signs_in),
        TS_TEST(test_send_and_confirm_verification_email),
        TS_TEST(test_password_reset_sets_a_new_password_once),
        TS_TEST(test_organization_selection_then_refresh_switches_org),
        TS_TEST(test_pending_token_unknown_spent_or_expired_is_refused),
        TS_TEST(test_code_exchange_step_up_token_is_redeemable),
        TS_TEST(test_mfa_enrollment_then_challenge_with_totp),
        TS_TEST(test_verify_challenge_reports_validity),
        TS_TEST(test_created_membership_scopes_the_session),
        TS_TEST(test_management_calls_need_the_api_key),
        TS_TEST(test_outbox_lists_filters_clears_and_resets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
