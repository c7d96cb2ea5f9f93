/* POST /user_management/authenticate, authorization_code grant, and the
 * access token it mints (workos-wire.md §2.2, §3, checklist §9.1–9.2, 9.6):
 * response shape and key order, content type and request ids, JSON and form
 * bodies, every validation error in WorkOS's shape, step-up errors, token
 * claims under each issuer / audience setting, and signatures that verify
 * with the published JWKS key (fakeidp's verifier and libjwt). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "../assert_prefix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encoding.h"
#include "idp_jwt.h"
#include "keys.h"
#include "libjwt_check.h"
#include "test_server.h"

#define AUTHENTICATE "/user_management/authenticate"

/* A fresh code for the default client with a PKCE challenge. */
static char *fresh_code(struct ts_server *ts, struct ts_pkce *pkce, const char *login_hint)
{
    ts_pkce(pkce, 43);
    struct ts_authorize a = {.challenge = pkce->challenge, .login_hint = login_hint};
    return ts_code(ts, &a);
}

static json_t *code_body(struct ts_server *ts, const char *code, const char *verifier)
{
    return json_pack("{s:s, s:s, s:s, s:s}", "grant_type", "authorization_code", "client_id",
                     ts->client_id, "code", code, "code_verifier", verifier);
}

static const char *claim_str(const json_t *claims, const char *name)
{
    return json_string_value(json_object_get(claims, name));
}

/* --- positive: response shape ---------------------------------------------------- */

static void test_authenticate_success_shape_and_key_order(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_pkce pkce;
    char *code = fresh_code(ts, &pkce, NULL);
    struct hx_http_response resp;
    ts_post_json(ts, NULL, AUTHENTICATE, NULL, code_body(ts, code, pkce.verifier), &resp);
    assert_status(&resp, 200);
    assert_json_response(&resp);
    char keys[512];
    ts_top_keys(resp.body, keys, sizeof(keys));
    assert_string_equal(keys, "user,access_token,refresh_token,authentication_method");
    json_t *body = ts_json(&resp);
    json_t *user = json_object_get(body, "user");
    static const char *const required[] = {
        "object", "id", "email", "email_verified", "first_name", "last_name", "name",
        "profile_picture_url", "last_sign_in_at", "locale", "external_id", "metadata",
        "created_at", "updated_at", NULL};
    for (int i = 0; required[i]; i++)
        assert_non_null(json_object_get(user, required[i]));
    assert_string_equal(json_string_value(json_object_get(user, "object")), "user");
    assert_string_equal(json_string_value(json_object_get(user, "id")), TS_ALICE);
    assert_string_equal(json_string_value(json_object_get(user, "email")), "alice@example.com");
    assert_string_equal(json_string_value(json_object_get(user, "name")), "Alice Example");
    assert_true(json_is_true(json_object_get(user, "email_verified")));
    assert_true(json_is_null(json_object_get(user, "profile_picture_url")));
    assert_true(json_is_object(json_object_get(user, "metadata")));
    /* the virtual clock stamps the sign-in */
    assert_string_equal(json_string_value(json_object_get(user, "last_sign_in_at")),
                        "2026-01-15T12:00:00.000Z");
    assert_string_equal(json_string_value(json_object_get(body, "authentication_method")),
                        "Password");
    assert_null(json_object_get(body, "organization_id"));
    assert_null(json_object_get(body, "impersonator"));
    assert_null(json_object_get(body, "sealed_session"));
    assert_true(strlen(json_string_value(json_object_get(body, "refresh_token"))) >= 20);
    json_decref(body);
    json_t *entry = ts_journal_last(ts, "authenticate");
    assert_string_equal(ts_entry_str(entry, "outcome"), "session_created");
    assert_string_equal(ts_entry_str(entry, "grant_type"), "authorization_code");
    assert_int_equal(json_integer_value(json_object_get(entry, "status")), 200);
    json_decref(entry);
    hx_http_response_cleanup(&resp);
    free(code);
}

static void test_org_scoped_sign_in_has_organization_id_after_user(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_pkce pkce;
    char *code = fresh_code(ts, &pkce, "bob@example.com");
    struct hx_http_response resp;
    ts_post_json(ts, NULL, AUTHENTICATE, NULL, code_body(ts, code, pkce.verifier), &resp);
    assert_status(&resp, 200);
    char keys[512];
    ts_top_keys(resp.body, keys, sizeof(keys));
    assert_string_equal(keys,
                        "user,organization_id,access_token,refresh_token,authentication_method");
    json_t *body = ts_json(&resp);
    /* the first membership is chosen when the authorize named none */
    assert_string_equal(json_string_value(json_object_get(body, "organization_id")), TS_ORG_ACME);
    json_decref(body);
    hx_http_response_cleanup(&resp);
    free(code);
}

static void test_impersonated_sign_in_ends_with_impersonator_and_act_claim(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_pkce pkce;
    char *code = fresh_code(ts, &pkce, "carol@example.com");
    struct hx_http_response resp;
    ts_post_json(ts, NULL, AUTHENTICATE, NULL, code_body(ts, code, pkce.verifier), &resp);
    assert_status(&resp, 200);
    char keys[512];
    ts_top_keys(resp.body, keys, sizeof(keys));
    assert_string_equal(keys,
                        "user,access_token,refresh_token,authentication_method,impersonator");
    struct ts_session s;
    ts_session_parse(&resp, &s);
    json_t *imp = json_object_get(s.body, "impersonator");
    assert_string_equal(json_string_value(json_object_get(imp, "email")), "admin@corp.example");
    assert_string_equal(json_string_value(json_object_get(imp, "reason")), "support ticket");
    assert_string_equal(json_string_value(json_object_get(s.body, "authentication_method")),
                        "Impersonation");
    json_t *act = json_object_get(s.claims, "act");
    assert_true(json_is_object(act));
    assert_string_equal(claim_str(act, "sub"), "admin@corp.example");
    ts_session_cleanup(&s);
    hx_http_response_cleanup(&resp);
    free(code);
}

static void test_request_id_is_generated_and_echoed_when_sent(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_pkce pkce;
    char *code = fresh_code(ts, &pkce, NULL);
    struct hx_http_response resp;
    const char *headers[] = {"X-Request-ID: wire-request-0042", NULL};
    ts_post_json(ts, NULL, AUTHENTICATE, headers, code_body(ts, code, pkce.verifier), &resp);
    assert_status(&resp, 200);
    assert_string_equal(ts_header(&resp, "X-Request-ID"), "wire-request-0042");
    hx_http_response_cleanup(&resp);
    /* errors carry one too; without one sent, the server makes a fresh id each time */
    ts_post_json(ts, NULL, AUTHENTICATE, NULL, json_pack("{}"), &resp);
    char first[128];
    snprintf(first, sizeof(first), "%s", ts_header(&resp, "X-Request-ID"));
    assert_string_prefix(first, "req_");
    hx_http_response_cleanup(&resp);
    ts_post_json(ts, NULL, AUTHENTICATE, NULL, json_pack("{}"), &resp);
    assert_string_not_equal(ts_header(&resp, "X-Request-ID"), first);
    hx_http_response_cleanup(&resp);
    json_t *entries = ts_journal(ts);
    bool found = false;
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e) found = found ||
        strcmp(ts_entry_str(e, "request_id"), "wire-request-0042") == 0;
    assert_true(found);
    json_decref(entries);
    free(code);
}

static void test_form_encoded_body_is_accepted(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_pkce pkce;
    char *code = fresh_code(ts, &pkce, NULL);
    char body[1024];
    snprintf(body, sizeof(body),
             "grant_type=authorization_code&client_id=%s&code=%s&code_verifier=%s", ts->client_id,
             code, pkce.verifier);
    const char *headers[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    struct hx_http_response resp;
    ts_request(ts, NULL, "POST", AUTHENTICATE, headers, body, &resp);
    assert_status(&resp, 200);
    assert_json_response(&resp);
    hx_http_response_cleanup(&resp);
    free(code);
}

static void test_confidential_client_with_secret_or_bearer_succeeds(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    /* next/aks send both; either alone is enough */
    for (int mode = 0; mode < 3; mode++) {
        struct ts_pkce pkce;
        char *code = fresh_code(ts, &pkce, NULL);
        struct ts_exchange x = {.client_id = ts->client_id, .code = code,
                                .verifier = pkce.verifier,
                                .client_secret = mode != 2 ? TS_API_KEY : NULL,
                                .bearer = mode != 1 ? TS_API_KEY : NULL};
        struct hx_http_response resp;
        ts_exchange(ts, &x, &resp);
        assert_status(&resp, 200);
        hx_http_response_cleanup(&resp);
        free(code);
    }
    /* a confidential client may skip PKCE entirely */
    struct ts_authorize a = {0};
    char *code = ts_code(ts, &a);
    struct ts_exchange x = {.client_id = ts->client_id, .code = code, .client_secret = TS_API_KEY};
    struct hx_http_response resp;
    ts_exchange(ts, &x, &resp);
    assert_status(&resp, 200);
    hx_http_response_cleanup(&resp);
    free(code);
}

/* --- positive: the access token ---------------------------------------------------- */

static void test_access_token_default_claims_and_header(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    assert_string_equal(claim_str(s.header, "alg"), "RS256");
    assert_string_equal(claim_str(s.header, "typ"), "JWT");
    assert_string_prefix(claim_str(s.header, "kid"), "sso_oidc_key_pair_");
    assert_string_equal(claim_str(s.claims, "iss"),
                        "https://api.workos.com/user_management/" TS_CLIENT);
    assert_string_equal(claim_str(s.claims, "sub"), TS_ALICE);
    assert_string_prefix(s.sid, "session_");
    assert_int_equal(strlen(claim_str(s.claims, "jti")), 26);
    json_int_t iat = json_integer_value(json_object_get(s.claims, "iat"));
    json_int_t exp = json_integer_value(json_object_get(s.claims, "exp"));
    assert_int_equal(iat, TS_T0_MS / 1000);
    assert_int_equal(exp - iat, 300);
    /* absent unless configured / scoped */
    assert_null(json_object_get(s.claims, "aud"));
    assert_null(json_object_get(s.claims, "org_id"));
    assert_null(json_object_get(s.claims, "act"));
    ts_session_cleanup(&s);
}

static void test_auth_time_and_client_id_survive_refresh_unless_legacy(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    assert_string_equal(claim_str(s.claims, "client_id"), TS_CLIENT);
    assert_int_equal(json_integer_value(json_object_get(s.claims, "auth_time")),
                     TS_T0_MS / 1000);
    /* A refresh six minutes later: new iat, auth_time still the sign-in. */
    ts_advance(ts, "6m");
    struct hx_http_response resp;
    assert_int_equal(ts_refresh(ts, NULL, NULL, s.refresh_token, NULL, NULL, &resp), 200);
    struct ts_session next;
    ts_session_parse(&resp, &next);
    hx_http_response_cleanup(&resp);
    assert_int_equal(json_integer_value(json_object_get(next.claims, "iat")),
                     TS_T0_MS / 1000 + 360);
    assert_int_equal(json_integer_value(json_object_get(next.claims, "auth_time")),
                     TS_T0_MS / 1000);
    assert_string_equal(claim_str(next.claims, "client_id"), TS_CLIENT);
    ts_session_cleanup(&next);
    ts_session_cleanup(&s);
    /* legacy_claims: the older token shape without either claim */
    ts_settings(ts, "{\"legacy_claims\":true}");
    ts_sign_in(ts, NULL, &s);
    assert_null(json_object_get(s.claims, "auth_time"));
    assert_null(json_object_get(s.claims, "client_id"));
    ts_session_cleanup(&s);
}

static void test_issuer_follows_the_issuer_setting(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    static const struct {
        const char *settings, *iss;
    } cases[] = {
        {"{\"issuer\":\"per_client\"}", "https://api.workos.com/user_management/" TS_CLIENT},
        {"{\"issuer\":\"legacy\"}", "https://api.workos.com"},
        {"{\"issuer\":\"custom\",\"issuer_url\":\"https://auth.example.com\"}",
         "https://auth.example.com"},
        {"{\"issuer\":\"per_client\",\"issuer_base\":\"http://127.0.0.1:9\"}",
         "http://127.0.0.1:9/user_management/" TS_CLIENT},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ts_settings(ts, cases[i].settings);
        struct ts_session s;
        ts_sign_in(ts, NULL, &s);
        assert_string_equal(claim_str(s.claims, "iss"), cases[i].iss);
        ts_session_cleanup(&s);
    }
}

static void test_audience_follows_the_aud_setting(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    ts_settings(ts, "{\"aud\":\"client_id\"}");
    ts_sign_in(ts, NULL, &s);
    assert_string_equal(claim_str(s.claims, "aud"), TS_CLIENT);
    ts_session_cleanup(&s);
    struct ts_sign_in other = {.client_id = TS_OTHER_CLIENT};
    ts_sign_in(ts, &other, &s);
    assert_string_equal(claim_str(s.claims, "aud"), TS_OTHER_CLIENT);
    ts_session_cleanup(&s);
    ts_settings(ts, "{\"aud\":\"value\",\"aud_value\":\"convex\"}");
    ts_sign_in(ts, NULL, &s);
    assert_string_equal(claim_str(s.claims, "aud"), "convex");
    ts_session_cleanup(&s);
    ts_settings(ts, "{\"aud\":\"absent\"}");
    ts_sign_in(ts, NULL, &s);
    assert_null(json_object_get(s.claims, "aud"));
    ts_session_cleanup(&s);
}

static void test_org_scoped_token_carries_org_claims(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    struct ts_sign_in in = {.login_hint = "bob@example.com", .organization_id = TS_ORG_ACME};
    ts_sign_in(ts, &in, &s);
    assert_string_equal(claim_str(s.claims, "org_id"), TS_ORG_ACME);
    assert_string_equal(claim_str(s.claims, "role"), "admin");
    json_t *roles = json_object_get(s.claims, "roles");
    assert_int_equal(json_array_size(roles), 1);
    assert_string_equal(json_string_value(json_array_get(roles, 0)), "admin");
    json_t *perms = json_object_get(s.claims, "permissions");
    assert_int_equal(json_array_size(perms), 2);
    assert_string_equal(json_string_value(json_array_get(perms, 1)), "posts:write");
    json_t *ents = json_object_get(s.claims, "entitlements");
    assert_int_equal(json_array_size(ents), 1);
    /* empty optional arrays are left out */
    assert_null(json_object_get(s.claims, "feature_flags"));
    ts_session_cleanup(&s);
}

static void test_access_ttl_setting_sets_exp_minus_iat(void **state)
{
    struct ts_server *ts = TS_START(state, "{\"settings\":{\"access_ttl\":\"10m\"}}");
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    assert_int_equal(json_integer_value(json_object_get(s.claims, "exp")) -
                         json_integer_value(json_object_get(s.claims, "iat")),
                     600);
    ts_session_cleanup(&s);
    ts_settings(ts, "{\"access_ttl\":\"45s\"}");
    ts_advance(ts, "90s");
    ts_sign_in(ts, NULL, &s);
    assert_int_equal(json_integer_value(json_object_get(s.claims, "iat")), TS_T0_MS / 1000 + 90);
    assert_int_equal(json_integer_value(json_object_get(s.claims, "exp")) -
                         json_integer_value(json_object_get(s.claims, "iat")),
                     45);
    ts_session_cleanup(&s);
}

static void test_signature_verifies_with_jwks_key_and_libjwt(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    struct ts_sign_in in = {.login_hint = "bob@example.com"};
    ts_sign_in(ts, &in, &s);
    char why[256];
    if (!ts_verify_with_jwks(ts, s.access_token, why, sizeof(why)))
        fail_msg("token does not verify: %s", why);
    /* libjwt, with the PEM of the JWKS key (not the server's private key) */
    json_t *keys = ts_jwks(ts, NULL);
    assert_int_equal(json_array_size(keys), 1);
    EVP_PKEY *pub = idp_jwk_public_key(json_array_get(keys, 0), NULL);
    assert_non_null(pub);
    char *pem = idp_pem_public(pub);
    assert_non_null(pem);
    char *alg = NULL, *claims_text = NULL;
    assert_int_equal(lj_decode(s.access_token, pem, &alg, &claims_text), 0);
    assert_string_equal(alg, "RS256");
    json_t *claims = json_loads(claims_text, 0, NULL);
    assert_non_null(claims);
    assert_string_equal(claim_str(claims, "sub"), TS_BOB);
    assert_string_equal(claim_str(claims, "sid"), s.sid);
    assert_string_equal(claim_str(claims, "org_id"), TS_ORG_ACME);
    assert_int_equal(json_integer_value(json_object_get(claims, "exp")) -
                         json_integer_value(json_object_get(claims, "iat")),
                     300);
    json_decref(claims);
    free(alg);
    free(claims_text);
    free(pem);
    EVP_PKEY_free(pub);
    json_decref(keys);
    ts_session_cleanup(&s);
}

/* --- negative: the token ------------------------------------------------------------- */

static void test_token_with_changed_payload_fails_verification(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    /* Replace the payload with one naming another user; keep the signature. */
    json_t *claims = json_deep_copy(s.claims);
    json_object_set_new(claims, "sub", json_string(TS_BOB));
    char *text = json_dumps(claims, JSON_COMPACT | JSON_PRESERVE_ORDER);
    char *payload = idp_base64url_encode((const unsigned char *)text, strlen(text));
    const char *dot1 = strchr(s.access_token, '.');
    const char *dot2 = strchr(dot1 + 1, '.');
    char forged[8192];
    snprintf(forged, sizeof(forged), "%.*s.%s%s", (int)(dot1 - s.access_token), s.access_token,
             payload, dot2);
    char why[256] = "";
    assert_false(ts_verify_with_jwks(ts, forged, why, sizeof(why)));
    assert_non_null(strstr(why, "signature"));
    json_t *keys = ts_jwks(ts, NULL);
    EVP_PKEY *pub = idp_jwk_public_key(json_array_get(keys, 0), NULL);
    char *pem = idp_pem_public(pub);
    char *alg = NULL, *claims_text = NULL;
    assert_int_not_equal(lj_decode(forged, pem, &alg, &claims_text), 0);
    free(pem);
    EVP_PKEY_free(pub);
    json_decref(keys);
    free(payload);
    free(text);
    json_decref(claims);
    ts_session_cleanup(&s);
}

static void test_token_does_not_verify_with_another_key(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    EVP_PKEY *other = idp_rsa_generate(NULL);
    assert_non_null(other);
    struct idp_jwt jwt;
    assert_int_equal(idp_jwt_decode(s.access_token, &jwt, NULL), IDP_OK);
    assert_int_not_equal(idp_jwt_verify_rs256(&jwt, other, NULL), IDP_OK);
    idp_jwt_cleanup(&jwt);
    EVP_PKEY_free(other);
    ts_session_cleanup(&s);
}

/* --- negative: request validation ------------------------------------------------------ */

static void test_bad_json_body_is_invalid_request_body(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    const char *headers[] = {"Content-Type: application/json", NULL};
    const char *bodies[] = {"{\"grant_type\":", "[\"grant_type\"]", "not json", NULL};
    for (int i = 0; bodies[i]; i++) {
        struct hx_http_response resp;
        ts_request(ts, NULL, "POST", AUTHENTICATE, headers, bodies[i], &resp);
        assert_code_error(&resp, 400, "invalid_request_body");
        hx_http_response_cleanup(&resp);
    }
}

static void test_missing_grant_type_is_invalid_request(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct hx_http_response resp;
    ts_post_json(ts, NULL, AUTHENTICATE, NULL,
                 json_pack("{s:s, s:s}", "client_id", ts->client_id, "code", "x"), &resp);
    assert_oauth_error(&resp, 400, "invalid_request", "grant_type is required.");
    hx_http_response_cleanup(&resp);
}

static void test_missing_client_id_is_invalid_request(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct hx_http_response resp;
    ts_post_json(ts, NULL, AUTHENTICATE, NULL,
                 json_pack("{s:s, s:s}", "grant_type", "authorization_code", "code", "x"), &resp);
    assert_oauth_error(&resp, 400, "invalid_request", "client_id is required.");
    hx_http_response_cleanup(&resp);
}

static void test_missing_code_is_invalid_request(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct hx_http_response resp;
    ts_post_json(ts, NULL, AUTHENTICATE, NULL,
                 json_pack("{s:s, s:s, s:s}", "grant_type", "authorization_code", "client_id",
                           ts->client_id, "code_verifier", "v"),
                 &resp);
    assert_oauth_error(&resp, 400, "invalid_request", "code is required.");
    hx_http_response_cleanup(&resp);
}

static void test_missing_verifier_is_invalid_request(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_pkce pkce;
    char *code = fresh_code(ts, &pkce, NULL);
    struct hx_http_response resp;
    ts_post_json(ts, NULL, AUTHENTICATE, NULL,
                 json_pack("{s:s, s:s, s:s}", "grant_type", "authorization_code", "client_id",
                           ts->client_id, "code", code),
                 &resp);
    assert_oauth_error(&resp, 400, "invalid_request", "code_verifier is required.");
    hx_http_response_cleanup(&resp);
    free(code);
}

static void test_unsupported_grant_type_is_invalid_request(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct hx_http_response resp;
    ts_post_json(ts, NULL, AUTHENTICATE, NULL,
                 json_pack("{s:s, s:s}", "grant_type", "client_credentials", "client_id",
                           ts->client_id),
                 &resp);
    assert_oauth_error(&resp, 400, "invalid_request",
                       "The grant type is not supported: client_credentials");
    hx_http_response_cleanup(&resp);
}

static void test_unknown_client_is_invalid_client(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_pkce pkce;
    char *code = fresh_code(ts, &pkce, NULL);
    struct ts_exchange x = {.client_id = "client_01NOSUCH", .code = code,
                            .verifier = pkce.verifier};
    struct hx_http_response resp;
    ts_exchange(ts, &x, &resp);
    assert_oauth_error(&resp, 400, "invalid_client", NULL);
    hx_http_response_cleanup(&resp);
    /* the failed attempt did not spend the code */
    x.client_id = ts->client_id;
    ts_exchange(ts, &x, &resp);
    assert_status(&resp, 200);
    hx_http_response_cleanup(&resp);
    free(code);
}

static void test_wrong_client_secret_is_invalid_client(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_pkce pkce;
    char *code = fresh_code(ts, &pkce, NULL);
    struct ts_exchange x = {.client_id = ts->client_id, .code = code, .verifier = pkce.verifier,
                            .client_secret = "sk_test_wrong"};
    struct hx_http_response resp;
    ts_exchange(ts, &x, &resp);
    assert_oauth_error(&resp, 400, "invalid_client", "Invalid client secret.");
    hx_http_response_cleanup(&resp);
    free(code);
}

static void test_bad_bearer_is_401(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_pkce pkce;
    char *code = fresh_code(ts, &pkce, NULL);
    struct ts_exchange x = {.client_id = ts->client_id, .code = code, .verifier = pkce.verifier,
                            .client_secret = TS_API_KEY, .bearer = "sk_test_revoked"};
    struct hx_http_response resp;
    ts_exchange(ts, &x, &resp);
    assert_code_error(&resp, 401, "unauthorized");
    hx_http_response_cleanup(&resp);
    free(code);
}

static void test_public_client_without_pkce_is_invalid_client(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_authorize a = {0}; /* no code_challenge */
    char *code = ts_code(ts, &a);
    struct ts_exchange x = {.client_id = ts->client_id, .code = code};
    struct hx_http_response resp;
    ts_exchange(ts, &x, &resp);
    assert_oauth_error(&resp, 400, "invalid_client", NULL);
    hx_http_response_cleanup(&resp);
    /* a verifier for a code without a challenge does not make it PKCE */
    x.verifier = "some-verifier-that-means-nothing-here-0000000";
    ts_exchange(ts, &x, &resp);
    assert_oauth_error(&resp, 400, "invalid_client", NULL);
    hx_http_response_cleanup(&resp);
    free(code);
}

/* --- negative: step-up users ------------------------------------------------------------ */

static json_t *step_up(struct ts_server *ts, const char *email, long status)
{
    struct ts_pkce pkce;
    char *code = fresh_code(ts, &pkce, email);
    struct hx_http_response resp;
    ts_post_json(ts, NULL, AUTHENTICATE, NULL, code_body(ts, code, pkce.verifier), &resp);
    assert_status(&resp, status);
    assert_json_response(&resp);
    json_t *body = ts_json(&resp);
    assert_null(json_object_get(body, "access_token"));
    assert_null(json_object_get(body, "refresh_token"));
    hx_http_response_cleanup(&resp);
    free(code);
    return body;
}

static void test_step_up_email_verification_is_403(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    json_t *body = step_up(ts, "verify@example.com", 403);
    assert_string_equal(claim_str(body, "code"), "email_verification_required");
    assert_true(strlen(claim_str(body, "message")) > 0);
    assert_true(strlen(claim_str(body, "pending_authentication_token")) > 0);
    assert_string_equal(claim_str(body, "email"), "verify@example.com");
    assert_string_prefix(claim_str(body, "email_verification_id"), "email_verification_");
    json_decref(body);
    json_t *entry = ts_journal_last(ts, "authenticate");
    assert_string_equal(ts_entry_str(entry, "outcome"), "email_verification_required");
    json_decref(entry);
}

static void test_step_up_mfa_is_403_with_user(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    const char *emails[] = {"mfa@example.com", "challenge@example.com"};
    const char *codes[] = {"mfa_enrollment", "mfa_challenge"};
    for (int i = 0; i < 2; i++) {
        json_t *body = step_up(ts, emails[i], 403);
        assert_string_equal(claim_str(body, "code"), codes[i]);
        assert_true(strlen(claim_str(body, "pending_authentication_token")) > 0);
        assert_string_equal(claim_str(json_object_get(body, "user"), "email"), emails[i]);
        json_decref(body);
    }
}

static void test_step_up_organization_selection_is_403_with_organizations(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    json_t *body = step_up(ts, "choose@example.com", 403);
    assert_string_equal(claim_str(body, "code"), "organization_selection_required");
    json_t *orgs = json_object_get(body, "organizations");
    assert_int_equal(json_array_size(orgs), 2);
    assert_string_equal(claim_str(json_array_get(orgs, 0), "id"), TS_ORG_ACME);
    assert_string_equal(claim_str(json_array_get(orgs, 0), "name"), "Acme");
    assert_string_equal(claim_str(json_array_get(orgs, 1), "name"), "Globex");
    assert_string_equal(claim_str(json_object_get(body, "user"), "email"), "choose@example.com");
    json_decref(body);
}

static void test_step_up_sso_required_is_400_oauth_shape(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    json_t *body = step_up(ts, "sso@example.com", 400);
    assert_string_equal(claim_str(body, "error"), "sso_required");
    assert_true(strlen(claim_str(body, "error_description")) > 0);
    assert_true(json_is_array(json_object_get(body, "connection_ids")));
    assert_string_equal(claim_str(body, "email"), "sso@example.com");
    json_decref(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TS_TEST(test_authenticate_success_shape_and_key_order),
        TS_TEST(test_org_scoped_sign_in_has_organization_id_after_user),
        TS_TEST(test_impersonated_sign_in_ends_with_impersonator_and_act_claim),
        TS_TEST(test_request_id_is_generated_and_echoed_when_sent),
        TS_TEST(test_form_encoded_body_is_accepted),
        TS_TEST(test_confidential_client_with_secret_or_bearer_succeeds),
        TS_TEST(test_access_token_default_claims_and_header),
        TS_TEST(test_auth_time_and_client_id_survive_refresh_unless_legacy),
        TS_TEST(test_issuer_follows_the_issuer_setting),
        TS_TEST(test_audience_follows_the_aud_setting),
        TS_TEST(test_org_scoped_token_carries_org_claims),
        TS_TEST(test_access_ttl_setting_sets_exp_minus_iat),
        TS_TEST(test_signature_verifies_with_jwks_key_and_libjwt),
        TS_TEST(test_token_with_changed_payload_fails_verification),
        TS_TEST(test_token_does_not_verify_with_another_key),
        TS_TEST(test_bad_json_body_is_invalid_request_body),
        TS_TEST(test_missing_grant_type_is_invalid_request),
        TS_TEST(test_missing_client_id_is_invalid_request),
        TS_TEST(test_missing_code_is_invalid_request),
        TS_TEST(test_missing_verifier_is_invalid_request),
        TS_TEST(test_unsupported_grant_type_is_invalid_request),
        TS_TEST(test_unknown_client_is_invalid_client),
        TS_TEST(test_wrong_client_secret_is_invalid_client),
        TS_TEST(test_bad_bearer_is_401),
        TS_TEST(test_public_client_without_pkce_is_invalid_client),
        TS_TEST(test_step_up_email_verification_is_403),
        TS_TEST(test_step_up_mfa_is_403_with_user),
        TS_TEST(test_step_up_organization_selection_is_403_with_organizations),
        TS_TEST(test_step_up_sso_required_is_400_oauth_shape),
    };
    return cmocka_run_group_tests_name("authenticate", tests, NULL, NULL);
}
