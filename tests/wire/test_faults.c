/* The fault engine as a client sees it (workos-wire.md §1.2, §3.3, §4,
 * checklist §9.10): one test per action proving what arrives on the wire,
 * the triggers, barrier ordering under real concurrency, seeded
 * probability, and the admin API for rules. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "../assert_prefix.h"

#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encoding.h"
#include "idp_jwt.h"
#include "keys.h"
#include "libjwt_check.h"
#include "test_server.h"

#define AUTHENTICATE "/user_management/authenticate"
#define JWKS_PATH "/sso/jwks/" TS_CLIENT

/* One request on a new connection. On a reused keep-alive connection that
 * dies without a byte of response, curl silently retries on a fresh one,
 * which would hide a dropped connection from the test. */
static long fresh_request(struct ts_server *ts, const char *method, const char *path,
                          const char *const *headers, const char *body,
                          struct hx_http_response *resp)
{
    struct hx_http_client *client = hx_http_client_new();
    assert_non_null(client);
    long status = ts_request(ts, client, method, path, headers, body, resp);
    hx_http_client_free(&client);
    return status;
}

static long jwks_status(struct ts_server *ts, const char *const *headers)
{
    struct hx_http_response resp;
    long status = ts_get(ts, JWKS_PATH, headers, &resp);
    hx_http_response_cleanup(&resp);
    return status;
}

/* Statuses of n JWKS fetches as a string of digits' first char: "2" for 200,
 * "5" for 5xx, "4" for 4xx. */
static void jwks_pattern(struct ts_server *ts, int n, char *out)
{
    for (int i = 0; i < n; i++)
        out[i] = (char)('0' + jwks_status(ts, NULL) / 100);
    out[n] = '\0';
}

static void check_entry_fault(struct ts_server *ts, const char *route, const char *fault)
{
    json_t *entry = ts_journal_last(ts, route);
    assert_string_equal(ts_entry_str(entry, "fault"), fault);
    json_decref(entry);
}

/* The JWKS key (public) as a PEM, for the libjwt cross-checks. */
static char *jwks_pem(struct ts_server *ts)
{
    json_t *keys = ts_jwks(ts, NULL);
    EVP_PKEY *pub = idp_jwk_public_key(json_array_get(keys, 0), NULL);
    assert_non_null(pub);
    char *pem = idp_pem_public(pub);
    EVP_PKEY_free(pub);
    json_decref(keys);
    return pem;
}

/* Verifies with the one published key, ignoring the kid. */
static enum idp_status verify_with_published_key(struct ts_server *ts, const char *token)
{
    json_t *keys = ts_jwks(ts, NULL);
    EVP_PKEY *pub = idp_jwk_public_key(json_array_get(keys, 0), NULL);
    struct idp_jwt jwt = {0};
    enum idp_status status = idp_jwt_decode(token, &jwt, NULL);
    if (status == IDP_OK)
        status = idp_jwt_verify_rs256(&jwt, pub, NULL);
    idp_jwt_cleanup(&jwt);
    EVP_PKEY_free(pub);
    json_decref(keys);
    return status;
}

/* The time rules a relying party applies (jose, no tolerance) at the
 * virtual now: NULL when the token is current. */
static const char *time_problem(const json_t *claims, json_int_t now_s)
{
    const json_t *exp = json_object_get(claims, "exp"), *nbf = json_object_get(claims, "nbf");
    if (!json_is_integer(exp) || !json_is_integer(json_object_get(claims, "iat")))
        return "missing exp or iat";
    if (json_integer_value(exp) <= now_s)
        return "expired";
    if (nbf && (!json_is_integer(nbf) || json_integer_value(nbf) > now_s))
        return "not yet valid";
    return NULL;
}

/* --- status, latency, connection faults -------------------------------------------------- */

static void test_fault_status_503_has_workos_body_and_retry_after(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    char *id = ts_add_fault(ts, "{\"id\":\"api-down\",\"route\":\"authenticate\","
                                "\"grant_type\":\"refresh_token\",\"status\":503,"
                                "\"retry_after\":\"3s\",\"count\":1}");
    struct hx_http_response resp;
    ts_refresh(ts, NULL, NULL, s.refresh_token, NULL, NULL, &resp);
    assert_code_error(&resp, 503, "server_error");
    assert_string_equal(ts_header(&resp, "Retry-After"), "3");
    hx_http_response_cleanup(&resp);
    check_entry_fault(ts, "authenticate", "api-down");
    /* before the handler: the token was not spent, the retry rotates it */
    ts_refresh(ts, NULL, NULL, s.refresh_token, NULL, NULL, &resp);
    assert_status(&resp, 200);
    hx_http_response_cleanup(&resp);
    json_t *entry = ts_journal_last(ts, "authenticate");
    assert_string_equal(ts_entry_str(entry, "outcome"), "rotated");
    assert_string_equal(ts_entry_str(entry, "fault"), "");
    json_decref(entry);
    free(id);
    ts_session_cleanup(&s);
}

static void test_fault_status_shapes_for_429_400_and_custom_bodies(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    free(ts_add_fault(ts, "{\"route\":\"jwks\",\"status\":429,\"count\":1}"));
    struct hx_http_response resp;
    ts_get(ts, JWKS_PATH, NULL, &resp);
    assert_code_error(&resp, 429, "rate_limit_exceeded");
    assert_string_equal(ts_header(&resp, "Retry-After"), "1");
    hx_http_response_cleanup(&resp);
    free(ts_add_fault(ts, "{\"route\":\"authenticate\",\"status\":400,\"count\":1}"));
    ts_post_json(ts, NULL, AUTHENTICATE, NULL, json_pack("{}"), &resp);
    assert_oauth_error(&resp, 400, "invalid_grant", "Refresh token already exchanged.");
    assert_null(ts_header(&resp, "Retry-After"));
    hx_http_response_cleanup(&resp);
    free(ts_add_fault(ts, "{\"route\":\"jwks\",\"status\":502,\"count\":1,"
                          "\"body\":{\"message\":\"upstream\",\"code\":\"bad_gateway\"}}"));
    ts_get(ts, JWKS_PATH, NULL, &resp);
    assert_code_error(&resp, 502, "bad_gateway");
    hx_http_response_cleanup(&resp);
    free(ts_add_fault(ts, "{\"route\":\"jwks\",\"status\":500,\"count\":1,"
                          "\"body\":\"oops\",\"content_type\":\"text/plain\"}"));
    ts_get(ts, JWKS_PATH, NULL, &resp);
    assert_status(&resp, 500);
    assert_string_equal(resp.body, "oops");
    assert_string_equal(ts_header(&resp, "Content-Type"), "text/plain");
    hx_http_response_cleanup(&resp);
    assert_int_equal(jwks_status(ts, NULL), 200);
}

static void test_fault_status_after_commit_spends_token_and_grace_recovers(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    free(ts_add_fault(ts, "{\"route\":\"authenticate\",\"grant_type\":\"refresh_token\","
                          "\"status\":500,\"phase\":\"after\",\"count\":1}"));
    struct hx_http_response resp;
    ts_refresh(ts, NULL, NULL, s.refresh_token, NULL, NULL, &resp);
    assert_code_error(&resp, 500, "server_error");
    hx_http_response_cleanup(&resp);
    json_t *entry = ts_journal_last(ts, "authenticate");
    assert_string_equal(ts_entry_str(entry, "outcome"), "rotated");
    assert_int_equal(json_integer_value(json_object_get(entry, "status")), 500);
    json_decref(entry);
    /* an SDK retry with the same token gets the pair it never saw */
    ts_advance(ts, "2s");
    ts_refresh(ts, NULL, NULL, s.refresh_token, NULL, NULL, &resp);
    assert_status(&resp, 200);
    hx_http_response_cleanup(&resp);
    entry = ts_journal_last(ts, "authenticate");
    assert_string_equal(ts_entry_str(entry, "outcome"), "replayed");
    json_decref(entry);
    ts_session_cleanup(&s);
}

static void test_fault_latency_delays_the_response(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    free(ts_add_fault(ts, "{\"route\":\"jwks\",\"action\":\"latency\",\"delay\":\"250ms\",\"count\":1}"));
    struct hx_http_response resp;
    double start = ts_wall_ms();
    ts_get(ts, JWKS_PATH, NULL, &resp);
    double elapsed = ts_wall_ms() - start;
    assert_status(&resp, 200);
    assert_true(elapsed >= 245);
    assert_true(resp.total_ms >= 245);
    assert_true(elapsed < 5000);
    hx_http_response_cleanup(&resp);
    json_t *entry = ts_journal_last(ts, "jwks");
    assert_true(json_real_value(json_object_get(entry, "duration_ms")) >= 245);
    json_decref(entry);
}

static void test_fault_reset_gives_connection_reset(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    char *id = ts_add_fault(ts, "{\"route\":\"jwks\",\"action\":\"reset\",\"count\":1}");
    struct hx_http_response resp;
    fresh_request(ts, "GET", JWKS_PATH, NULL, NULL, &resp);
    assert_int_equal(resp.status, 0);
    if (!strstr(resp.error, "Connection reset by peer"))
        fail_msg("expected a connection reset, got \"%s\"", resp.error);
    hx_http_response_cleanup(&resp);
    json_t *entry = ts_journal_await(ts, "jwks", NULL, 1);
    assert_int_equal(json_integer_value(json_object_get(entry, "status")), 0);
    assert_string_equal(ts_entry_str(entry, "fault"), id);
    json_decref(entry);
    assert_int_equal(jwks_status(ts, NULL), 200); /* the next connection is fine */
    free(id);
}

static void test_fault_reset_after_refresh_spends_token_without_reply(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    free(ts_add_fault(ts, "{\"route\":\"authenticate\",\"grant_type\":\"refresh_token\","
                          "\"action\":\"reset\",\"phase\":\"after\",\"count\":1}"));
    struct hx_http_response resp;
    struct hx_http_client *client = hx_http_client_new();
    ts_refresh(ts, client, NULL, s.refresh_token, NULL, NULL, &resp);
    hx_http_client_free(&client);
    assert_int_equal(resp.status, 0);
    assert_true(strlen(resp.error) > 0);
    assert_int_equal(resp.body_len, 0);
    hx_http_response_cleanup(&resp);
    /* the server committed the rotation although no reply arrived */
    json_t *entry = ts_journal_await(ts, "authenticate", "refresh_token", 1);
    assert_string_equal(ts_entry_str(entry, "outcome"), "rotated");
    assert_int_equal(json_integer_value(json_object_get(entry, "status")), 0);
    json_decref(entry);
    /* outside the grace the spent token is refused */
    ts_advance(ts, "31s");
    ts_refresh(ts, NULL, NULL, s.refresh_token, NULL, NULL, &resp);
    assert_oauth_error(&resp, 400, "invalid_grant", "Refresh token already exchanged.");
    hx_http_response_cleanup(&resp);
    ts_session_cleanup(&s);
}

static void test_fault_close_gives_an_empty_reply(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    free(ts_add_fault(ts, "{\"route\":\"jwks\",\"action\":\"close\",\"count\":1}"));
    struct hx_http_response resp;
    fresh_request(ts, "GET", JWKS_PATH, NULL, NULL, &resp);
    assert_int_equal(resp.status, 0);
    assert_non_null(strstr(resp.error, "Empty reply"));
    hx_http_response_cleanup(&resp);
    assert_int_equal(jwks_status(ts, NULL), 200);
}

static void test_fault_hang_is_bounded(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    free(ts_add_fault(ts, "{\"route\":\"jwks\",\"action\":\"hang\",\"for\":\"300ms\",\"count\":1}"));
    struct hx_http_response resp;
    double start = ts_wall_ms();
    fresh_request(ts, "GET", JWKS_PATH, NULL, NULL, &resp);
    double elapsed = ts_wall_ms() - start;
    assert_int_equal(resp.status, 0);
    assert_true(elapsed >= 290);
    assert_true(elapsed < 5000);
    hx_http_response_cleanup(&resp);
    assert_int_equal(jwks_status(ts, NULL), 200);
}

static void test_fault_garbage_is_not_http(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    free(ts_add_fault(ts, "{\"route\":\"jwks\",\"action\":\"garbage\",\"count\":1}"));
    struct hx_http_response resp;
    fresh_request(ts, "GET", JWKS_PATH, NULL, NULL, &resp);
    assert_int_equal(resp.status, 0);
    assert_true(strlen(resp.error) > 0);
    hx_http_response_cleanup(&resp);
    assert_int_equal(jwks_status(ts, NULL), 200);
}

static void test_fault_truncated_body_is_shorter_than_content_length(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    free(ts_add_fault(ts, "{\"route\":\"jwks\",\"action\":\"truncated\",\"count\":1}"));
    struct hx_http_response resp;
    fresh_request(ts, "GET", JWKS_PATH, NULL, NULL, &resp);
    assert_int_equal(resp.status, 0); /* curl: transfer closed with bytes remaining */
    assert_non_null(strstr(resp.error, "remaining"));
    const char *length = ts_header(&resp, "Content-Length");
    assert_non_null(length);
    size_t declared = strtoul(length, NULL, 10);
    assert_true(declared > 100);
    assert_true(resp.body_len > 0 && resp.body_len < declared);
    json_t *body = ts_json(&resp);
    assert_null(body);
    hx_http_response_cleanup(&resp);
}

static void test_fault_dribble_delivers_slowly_but_completely(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct hx_http_response plain;
    ts_get(ts, JWKS_PATH, NULL, &plain);
    size_t chunks = (plain.body_len + 63) / 64;
    free(ts_add_fault(ts, "{\"route\":\"jwks\",\"action\":\"dribble\",\"chunk\":64,"
                          "\"interval\":\"30ms\",\"count\":1}"));
    struct hx_http_response resp;
    ts_get(ts, JWKS_PATH, NULL, &resp);
    assert_status(&resp, 200);
    assert_int_equal(resp.body_len, plain.body_len);
    assert_string_equal(resp.body, plain.body);
    assert_true(resp.total_ms >= (double)(chunks - 1) * 30 - 5);
    hx_http_response_cleanup(&resp);
    hx_http_response_cleanup(&plain);
}

/* --- bodies and content types -------------------------------------------------------------- */

static void test_fault_wrong_content_type_keeps_json_body(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    free(ts_add_fault(ts, "{\"route\":\"authenticate\",\"action\":\"wrong_content_type\"}"));
    struct ts_pkce pkce;
    ts_pkce(&pkce, 43);
    struct ts_authorize a = {.challenge = pkce.challenge};
    char *code = ts_code(ts, &a);
    struct ts_exchange x = {.client_id = ts->client_id, .code = code, .verifier = pkce.verifier};
    struct hx_http_response resp;
    ts_exchange(ts, &x, &resp);
    assert_status(&resp, 200);
    assert_string_equal(ts_header(&resp, "Content-Type"), "text/html");
    json_t *body = ts_json(&resp);
    assert_non_null(json_object_get(body, "access_token"));
    json_decref(body);
    hx_http_response_cleanup(&resp);
    free(code);
}

static void test_fault_non_json_is_html(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    free(ts_add_fault(ts, "{\"route\":\"authenticate\",\"action\":\"non_json\",\"count\":1}"));
    struct hx_http_response resp;
    ts_refresh(ts, NULL, NULL, s.refresh_token, NULL, NULL, &resp);
    assert_status(&resp, 200);
    assert_string_equal(ts_header(&resp, "Content-Type"), "text/html");
    assert_non_null(strstr(resp.body, "<html>"));
    assert_null(ts_json(&resp));
    hx_http_response_cleanup(&resp);
    ts_session_cleanup(&s);
}

static void test_fault_empty_200_has_json_type_and_no_body(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    free(ts_add_fault(ts, "{\"route\":\"authenticate\",\"action\":\"empty_200\",\"count\":1}"));
    struct hx_http_response resp;
    ts_post_json(ts, NULL, AUTHENTICATE, NULL, json_pack("{}"), &resp); /* would be a 400 */
    assert_status(&resp, 200);
    assert_non_null(strstr(ts_header(&resp, "Content-Type"), "application/json"));
    assert_string_equal(ts_header(&resp, "Content-Length"), "0");
    assert_int_equal(resp.body_len, 0);
    hx_http_response_cleanup(&resp);
}

static void test_fault_malformed_json_is_cut_mid_document(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    free(ts_add_fault(ts, "{\"route\":\"authenticate\",\"action\":\"malformed_json\",\"count\":1}"));
    struct hx_http_response resp;
    ts_refresh(ts, NULL, NULL, s.refresh_token, NULL, NULL, &resp);
    assert_status(&resp, 200);
    assert_non_null(strstr(ts_header(&resp, "Content-Type"), "application/json"));
    assert_int_equal(strtoul(ts_header(&resp, "Content-Length"), NULL, 10), resp.body_len);
    assert_true(resp.body_len > 10);
    assert_int_equal(resp.body[0], '{');
    assert_null(ts_json(&resp));
    hx_http_response_cleanup(&resp);
    ts_session_cleanup(&s);
}

static void test_fault_redirect_on_jwks(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    free(ts_add_fault(ts, "{\"route\":\"jwks\",\"action\":\"redirect\",\"count\":1}"));
    struct hx_http_response resp;
    ts_get(ts, JWKS_PATH, NULL, &resp);
    assert_status(&resp, 302);
    char want[256];
    snprintf(want, sizeof(want), "%s%s", ts->url, JWKS_PATH);
    assert_string_equal(ts_header(&resp, "Location"), want);
    hx_http_response_cleanup(&resp);
    free(ts_add_fault(ts, "{\"route\":\"jwks\",\"action\":\"redirect\",\"status\":307,"
                          "\"location\":\"https://cdn.example/jwks.json\",\"count\":1}"));
    ts_get(ts, JWKS_PATH, NULL, &resp);
    assert_status(&resp, 307);
    assert_string_equal(ts_header(&resp, "Location"), "https://cdn.example/jwks.json");
    hx_http_response_cleanup(&resp);
    assert_int_equal(jwks_status(ts, NULL), 200);
}

/* --- barrier ---------------------------------------------------------------------------------- */

struct barrier_client {
    struct ts_server *ts;
    struct hx_http_client *client;
    char request_id[32];
    const char *body;
    struct hx_http_response resp;
    pthread_t thread;
};

static void *barrier_client_run(void *arg)
{
    struct barrier_client *c = arg;
    char rid[64];
    snprintf(rid, sizeof(rid), "X-Request-ID: %s", c->request_id);
    const char *headers[] = {"Content-Type: application/json", rid, NULL};
    ts_request(c->ts, c->client, "POST", AUTHENTICATE, headers, c->body, &c->resp);
    return NULL;
}

static long fault_counter(struct ts_server *ts, const char *id, const char *counter)
{
    json_t *f = ts_fault_listing(ts, id);
    assert_non_null(f);
    long n = (long)json_integer_value(json_object_get(f, counter));
    json_decref(f);
    return n;
}

/* Three clients present one refresh token (strict mode) and arrive at a
 * hold=3 barrier in a known order (each starts once the previous one is
 * held); expect_winner is the arrival index released first. The journal
 * must list the three in release order, the first released as rotated. */
static void run_barrier(void **state, const char *order_json, const int release[3])
{
    struct ts_server *ts = TS_START(state, "{\"settings\":{\"refresh_mode\":\"strict\"}}");
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    char rule[256];
    snprintf(rule, sizeof(rule),
             "{\"id\":\"gate\",\"route\":\"authenticate\",\"grant_type\":\"refresh_token\","
             "\"action\":\"barrier\",\"hold\":3,\"timeout\":\"5s\",\"order\":%s}",
             order_json);
    free(ts_add_fault(ts, rule));
    /* spreads the releases so the journal order is the release order */
    free(ts_add_fault(ts, "{\"id\":\"spread\",\"route\":\"authenticate\","
                          "\"grant_type\":\"refresh_token\",\"action\":\"latency\",\"delay\":\"40ms\"}"));
    json_t *b = json_pack("{s:s, s:s, s:s}", "grant_type", "refresh_token", "client_id",
                          ts->client_id, "refresh_token", s.refresh_token);
    char *body = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    struct barrier_client clients[3];
    for (int i = 0; i < 3; i++) {
        clients[i] = (struct barrier_client){.ts = ts, .client = hx_http_client_new(), .body = body};
        snprintf(clients[i].request_id, sizeof(clients[i].request_id), "arrival-%d", i);
        assert_int_equal(pthread_create(&clients[i].thread, NULL, barrier_client_run, &clients[i]), 0);
        /* wait until this one is held before the next one goes */
        double deadline = ts_wall_ms() + 5000;
        while (fault_counter(ts, "gate", "matched") < i + 1 && ts_wall_ms() < deadline)
            ts_sleep_ms(5);
        ts_sleep_ms(20);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(clients[i].thread, NULL);
        hx_http_client_free(&clients[i].client);
    }
    /* the first released wins */
    for (int i = 0; i < 3; i++) {
        if (i == release[0])
            assert_status(&clients[i].resp, 200);
        else
            assert_oauth_error(&clients[i].resp, 400, "invalid_grant",
                               "Refresh token already exchanged.");
    }
    /* journal: the three refreshes in release order */
    json_t *entries = ts_journal(ts);
    int seen = 0;
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e) {
        if (strcmp(ts_entry_str(e, "route"), "authenticate") != 0 ||
            strcmp(ts_entry_str(e, "grant_type"), "refresh_token") != 0)
            continue;
        char want[32];
        snprintf(want, sizeof(want), "arrival-%d", release[seen]);
        assert_string_equal(ts_entry_str(e, "request_id"), want);
        assert_string_equal(ts_entry_str(e, "outcome"), seen == 0 ? "rotated" : "already_exchanged");
        assert_string_equal(ts_entry_str(e, "fault"), "gate,spread");
        seen++;
    }
    assert_int_equal(seen, 3);
    json_decref(entries);
    for (int k = 0; k < 3; k++)
        hx_http_response_cleanup(&clients[k].resp);
    free(body);
    ts_session_cleanup(&s);
}

static void test_fault_barrier_releases_in_arrival_order(void **state)
{
    static const int release[3] = {0, 1, 2};
    run_barrier(state, "\"arrival\"", release);
}

static void test_fault_barrier_releases_in_reverse_order(void **state)
{
    static const int release[3] = {2, 1, 0};
    run_barrier(state, "\"reverse\"", release);
}

static void test_fault_barrier_releases_in_given_order(void **state)
{
    static const int release[3] = {1, 2, 0};
    run_barrier(state, "[1,2,0]", release);
}

static void test_fault_barrier_times_out_with_fewer_arrivals(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    free(ts_add_fault(ts, "{\"route\":\"jwks\",\"action\":\"barrier\",\"hold\":3,\"timeout\":\"200ms\"}"));
    double start = ts_wall_ms();
    assert_int_equal(jwks_status(ts, NULL), 200);
    double elapsed = ts_wall_ms() - start;
    assert_true(elapsed >= 190 && elapsed < 5000);
}

/* --- token mutations -------------------------------------------------------------------------- */

/* Signs in with a token rule in place; returns the mutated session. */
static void sign_in_with_token_fault(struct ts_server *ts, const char *params,
                                     struct ts_session *s)
{
    char rule[512];
    snprintf(rule, sizeof(rule), "{\"route\":\"authenticate\",\"action\":\"token\",%s}", params);
    free(ts_add_fault(ts, rule));
    ts_sign_in(ts, NULL, s);
}

static void test_fault_token_remove_aud_and_iss(void **state)
{
    struct ts_server *ts = TS_START(state, "{\"settings\":{\"aud\":\"client_id\"}}");
    struct ts_session s;
    sign_in_with_token_fault(ts, "\"remove\":[\"aud\",\"iss\"]", &s);
    assert_null(json_object_get(s.claims, "aud"));
    assert_null(json_object_get(s.claims, "iss"));
    assert_non_null(json_object_get(s.claims, "sub"));
    assert_null(time_problem(s.claims, ts_now_ms(ts) / 1000)); /* only iss/aud checks fail */
    char why[256];
    assert_true(ts_verify_with_jwks(ts, s.access_token, why, sizeof(why))); /* re-signed */
    ts_session_cleanup(&s);
}

static void test_fault_token_set_adds_claims(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    sign_in_with_token_fault(ts, "\"set\":{\"email\":\"alice@example.com\",\"org_id\":\"org_forged\"}", &s);
    assert_string_equal(json_string_value(json_object_get(s.claims, "email")), "alice@example.com");
    assert_string_equal(json_string_value(json_object_get(s.claims, "org_id")), "org_forged");
    ts_session_cleanup(&s);
}

static void test_fault_token_expired(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    sign_in_with_token_fault(ts, "\"expired\":true", &s);
    json_int_t now = ts_now_ms(ts) / 1000;
    json_int_t exp = json_integer_value(json_object_get(s.claims, "exp"));
    json_int_t iat = json_integer_value(json_object_get(s.claims, "iat"));
    assert_true(exp < now);
    assert_int_equal(exp - iat, 300); /* the lifetime is kept, the window moved */
    assert_string_equal(time_problem(s.claims, now), "expired");
    char why[256];
    assert_true(ts_verify_with_jwks(ts, s.access_token, why, sizeof(why)));
    ts_session_cleanup(&s);
}

static void test_fault_token_not_yet_valid(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    sign_in_with_token_fault(ts, "\"not_yet_valid\":true", &s);
    json_int_t now = ts_now_ms(ts) / 1000;
    assert_true(json_integer_value(json_object_get(s.claims, "nbf")) > now + 60);
    assert_string_equal(time_problem(s.claims, now), "not yet valid");
    char why[256];
    assert_true(ts_verify_with_jwks(ts, s.access_token, why, sizeof(why)));
    ts_session_cleanup(&s);
}

static void test_fault_token_unknown_kid_matches_no_jwks_key(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    sign_in_with_token_fault(ts, "\"kid\":\"unknown\"", &s);
    char why[256];
    assert_false(ts_verify_with_jwks(ts, s.access_token, why, sizeof(why)));
    assert_non_null(strstr(why, "0 JWKS keys match"));
    /* only the kid is wrong: the signature is the real key's */
    assert_int_equal(verify_with_published_key(ts, s.access_token), IDP_OK);
    ts_session_cleanup(&s);
}

static void test_fault_token_signed_by_unpublished_key(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    sign_in_with_token_fault(ts, "\"sign\":\"unpublished\"", &s);
    const char *kid = json_string_value(json_object_get(s.header, "kid"));
    assert_string_prefix(kid, "sso_oidc_key_pair_");
    char why[256];
    assert_false(ts_verify_with_jwks(ts, s.access_token, why, sizeof(why)));
    assert_non_null(strstr(why, "0 JWKS keys match"));
    assert_int_not_equal(verify_with_published_key(ts, s.access_token), IDP_OK);
    ts_session_cleanup(&s);
}

static void test_fault_token_signed_by_wrong_key_keeps_kid(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    sign_in_with_token_fault(ts, "\"sign\":\"wrong_key\"", &s);
    char why[256];
    assert_false(ts_verify_with_jwks(ts, s.access_token, why, sizeof(why)));
    assert_non_null(strstr(why, "signature verification failed"));
    ts_session_cleanup(&s);
}

static void test_fault_token_tampered_fails_signature(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    sign_in_with_token_fault(ts, "\"tamper\":true", &s);
    assert_string_not_equal(json_string_value(json_object_get(s.claims, "sub")), TS_ALICE);
    char why[256];
    assert_false(ts_verify_with_jwks(ts, s.access_token, why, sizeof(why)));
    assert_non_null(strstr(why, "signature verification failed"));
    char *pem = jwks_pem(ts);
    char *alg = NULL, *claims = NULL;
    assert_int_not_equal(lj_decode(s.access_token, pem, &alg, &claims), 0);
    free(pem);
    ts_session_cleanup(&s);
}

static void test_fault_token_alg_none_is_rejected(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    sign_in_with_token_fault(ts, "\"alg\":\"none\"", &s);
    assert_string_equal(json_string_value(json_object_get(s.header, "alg")), "none");
    assert_int_equal(s.access_token[strlen(s.access_token) - 1], '.'); /* empty signature */
    char why[256];
    assert_false(ts_verify_with_jwks(ts, s.access_token, why, sizeof(why)));
    char *pem = jwks_pem(ts);
    char *alg = NULL, *claims = NULL;
    int rc = lj_decode(s.access_token, pem, &alg, &claims);
    /* with a key given, libjwt must not accept an unsigned token as verified */
    assert_true(rc != 0 || (alg && strcmp(alg, "RS256") != 0));
    free(alg);
    free(claims);
    free(pem);
    ts_session_cleanup(&s);
}

static void test_fault_token_hs256_key_confusion_is_rejected(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    sign_in_with_token_fault(ts, "\"alg\":\"HS256\"", &s);
    assert_string_equal(json_string_value(json_object_get(s.header, "alg")), "HS256");
    char why[256];
    assert_false(ts_verify_with_jwks(ts, s.access_token, why, sizeof(why)));
    assert_non_null(strstr(why, "HS256"));
    /* the forgery is genuine: HMAC-SHA256 keyed with the published key's PEM */
    char *pem = jwks_pem(ts);
    const char *last_dot = strrchr(s.access_token, '.');
    unsigned char mac[32];
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), pem, (int)strlen(pem), (const unsigned char *)s.access_token,
         (size_t)(last_dot - s.access_token), mac, &mac_len);
    char *expected = idp_base64url_encode(mac, mac_len);
    assert_string_equal(last_dot + 1, expected);
    free(expected);
    /* a verifier that pins RS256 refuses it whatever libjwt decides */
    char *alg = NULL, *claims = NULL;
    int rc = lj_decode(s.access_token, pem, &alg, &claims);
    assert_true(rc != 0 || strcmp(alg, "RS256") != 0);
    free(alg);
    free(claims);
    free(pem);
    ts_session_cleanup(&s);
}

static void test_fault_token_bloat_reaches_target_size(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    sign_in_with_token_fault(ts, "\"bloat\":{\"permissions\":300,\"pad_to\":16384}", &s);
    size_t len = strlen(s.access_token);
    if (len < 16384 - 64 || len > 16384 + 64)
        fail_msg("bloated token is %zu bytes, wanted about 16384", len);
    assert_int_equal(json_array_size(json_object_get(s.claims, "permissions")), 300);
    char why[256];
    assert_true(ts_verify_with_jwks(ts, s.access_token, why, sizeof(why)));
    ts_session_cleanup(&s);
}

/* --- JWKS mutations ------------------------------------------------------------------------------ */

static void test_fault_jwks_empty_has_no_keys(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    free(ts_add_fault(ts, "{\"route\":\"jwks\",\"action\":\"jwks\",\"keys\":\"empty\","
                          "\"cache_control\":\"max-age=0\"}"));
    struct hx_http_response resp;
    ts_get(ts, JWKS_PATH, NULL, &resp);
    assert_status(&resp, 200);
    assert_string_equal(resp.body, "{\"keys\":[]}");
    assert_string_equal(ts_header(&resp, "Cache-Control"), "max-age=0");
    hx_http_response_cleanup(&resp);
    char why[256];
    assert_false(ts_verify_with_jwks(ts, s.access_token, why, sizeof(why)));
    ts_session_cleanup(&s);
}

static void test_fault_jwks_missing_active_drops_only_the_signer(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    json_decref(ts_admin(ts, "POST", "/_fakeidp/keys/rotate",
                         "{\"publish_lead\":\"1h\",\"retire_after\":\"1h\"}", 200));
    free(ts_add_fault(ts, "{\"route\":\"jwks\",\"action\":\"jwks\",\"keys\":\"missing_active\"}"));
    json_t *keys = ts_jwks(ts, NULL);
    assert_int_equal(json_array_size(keys), 1); /* only the pre-published next key */
    const char *signer = json_string_value(json_object_get(s.header, "kid"));
    assert_string_not_equal(json_string_value(json_object_get(json_array_get(keys, 0), "kid")), signer);
    json_decref(keys);
    char why[256];
    assert_false(ts_verify_with_jwks(ts, s.access_token, why, sizeof(why)));
    ts_session_cleanup(&s);
}

static void test_fault_jwks_extra_keys_have_unique_kids(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    free(ts_add_fault(ts, "{\"route\":\"jwks\",\"action\":\"jwks\",\"extra\":3}"));
    json_t *keys = ts_jwks(ts, NULL);
    assert_int_equal(json_array_size(keys), 4);
    for (size_t i = 0; i < 4; i++) {
        json_t *k = json_array_get(keys, i);
        assert_string_equal(json_string_value(json_object_get(k, "kty")), "RSA");
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(json_string_value(json_object_get(k, "kid")),
                                    json_string_value(json_object_get(json_array_get(keys, j), "kid")));
    }
    json_decref(keys);
    char why[256];
    if (!ts_verify_with_jwks(ts, s.access_token, why, sizeof(why)))
        fail_msg("the real key must still verify: %s", why);
    ts_session_cleanup(&s);
}

/* --- IdP-state actions ---------------------------------------------------------------------------- */

static void test_fault_revoke_session_ends_the_session(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    char *id = ts_add_fault(ts, "{\"route\":\"authenticate\",\"grant_type\":\"refresh_token\","
                                "\"action\":\"revoke_session\",\"count\":1}");
    struct hx_http_response resp;
    ts_refresh(ts, NULL, NULL, s.refresh_token, NULL, NULL, &resp);
    assert_oauth_error(&resp, 400, "invalid_grant", "Session has ended.");
    hx_http_response_cleanup(&resp);
    json_t *entry = ts_journal_last(ts, "authenticate");
    assert_string_equal(ts_entry_str(entry, "outcome"), "session_ended:revoked_by_fault");
    assert_string_equal(ts_entry_str(entry, "fault"), id);
    json_decref(entry);
    free(id);
    ts_session_cleanup(&s);
}

static void test_fault_expire_refresh_token_expires_only_that_token(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s, other;
    ts_sign_in(ts, NULL, &s);
    ts_sign_in(ts, NULL, &other);
    free(ts_add_fault(ts, "{\"route\":\"authenticate\",\"grant_type\":\"refresh_token\","
                          "\"action\":\"expire_refresh_token\",\"count\":1}"));
    struct hx_http_response resp;
    ts_refresh(ts, NULL, NULL, s.refresh_token, NULL, NULL, &resp);
    assert_oauth_error(&resp, 400, "invalid_grant", "Refresh token has expired.");
    hx_http_response_cleanup(&resp);
    ts_refresh(ts, NULL, NULL, other.refresh_token, NULL, NULL, &resp);
    assert_status(&resp, 200);
    hx_http_response_cleanup(&resp);
    ts_session_cleanup(&other);
    ts_session_cleanup(&s);
}

static void test_fault_refresh_mode_switches_the_mode(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    free(ts_add_fault(ts, "{\"route\":\"authenticate\",\"grant_type\":\"refresh_token\","
                          "\"action\":\"refresh_mode\",\"mode\":\"strict\",\"count\":1}"));
    struct hx_http_response resp;
    ts_refresh(ts, NULL, NULL, s.refresh_token, NULL, NULL, &resp);
    assert_status(&resp, 200);
    hx_http_response_cleanup(&resp);
    json_t *settings = ts_admin(ts, "GET", "/_fakeidp/settings", NULL, 200);
    assert_string_equal(json_string_value(json_object_get(settings, "refresh_mode")), "strict");
    json_decref(settings);
    /* a replay inside what would have been the grace is now refused */
    ts_refresh(ts, NULL, NULL, s.refresh_token, NULL, NULL, &resp);
    assert_oauth_error(&resp, 400, "invalid_grant", "Refresh token already exchanged.");
    hx_http_response_cleanup(&resp);
    ts_session_cleanup(&s);
}

static void test_fault_rate_limit_429_until_the_window_passes(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    free(ts_add_fault(ts, "{\"route\":\"jwks\",\"action\":\"rate_limit\",\"limit\":2,\"window\":\"1m\"}"));
    assert_int_equal(jwks_status(ts, NULL), 200);
    assert_int_equal(jwks_status(ts, NULL), 200);
    struct hx_http_response resp;
    ts_get(ts, JWKS_PATH, NULL, &resp);
    assert_code_error(&resp, 429, "rate_limit_exceeded");
    assert_string_equal(ts_header(&resp, "Retry-After"), "60");
    hx_http_response_cleanup(&resp);
    ts_advance(ts, "45s");
    ts_get(ts, JWKS_PATH, NULL, &resp);
    assert_status(&resp, 429);
    assert_string_equal(ts_header(&resp, "Retry-After"), "15");
    hx_http_response_cleanup(&resp);
    ts_advance(ts, "15s");
    assert_int_equal(jwks_status(ts, NULL), 200);
}

/* --- triggers ------------------------------------------------------------------------------------- */

static void test_fault_trigger_nth_fires_once_on_the_nth_match(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    free(ts_add_fault(ts, "{\"route\":\"jwks\",\"status\":500,\"nth\":3}"));
    char pattern[16];
    jwks_pattern(ts, 6, pattern);
    assert_string_equal(pattern, "225222");
}

static void test_fault_trigger_first_fires_on_the_first_matches(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    free(ts_add_fault(ts, "{\"route\":\"jwks\",\"status\":500,\"first\":2}"));
    char pattern[16];
    jwks_pattern(ts, 5, pattern);
    assert_string_equal(pattern, "55222");
}

static void test_fault_trigger_every_fires_periodically(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    free(ts_add_fault(ts, "{\"route\":\"jwks\",\"status\":500,\"every\":3}"));
    char pattern[16];
    jwks_pattern(ts, 9, pattern);
    assert_string_equal(pattern, "225225225");
}

static void test_fault_trigger_count_caps_the_firings(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    free(ts_add_fault(ts, "{\"route\":\"jwks\",\"status\":500,\"count\":2}"));
    free(ts_add_fault(ts, "{\"route\":\"authorize\",\"status\":503,\"every\":2,\"count\":2}"));
    char pattern[16];
    jwks_pattern(ts, 4, pattern);
    assert_string_equal(pattern, "5522");
    char out[8];
    for (int i = 0; i < 6; i++)
        out[i] = (char)('0' + ts_authorize(ts, NULL, NULL, 0) / 100);
    out[6] = '\0';
    assert_string_equal(out, "353533");
}

static void test_fault_trigger_between_uses_virtual_time(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    free(ts_add_fault(ts, "{\"route\":\"jwks\",\"status\":503,\"between\":[\"1m\",\"2m\"]}"));
    assert_int_equal(jwks_status(ts, NULL), 200);
    ts_advance(ts, "59s");
    assert_int_equal(jwks_status(ts, NULL), 200);
    ts_advance(ts, "1s");
    assert_int_equal(jwks_status(ts, NULL), 503);
    ts_advance(ts, "59s");
    assert_int_equal(jwks_status(ts, NULL), 503);
    ts_advance(ts, "1s");
    assert_int_equal(jwks_status(ts, NULL), 200);
}

static void test_fault_trigger_after_fault_waits_for_the_other(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    free(ts_add_fault(ts, "{\"id\":\"primary\",\"route\":\"jwks\",\"header\":\"X-Trigger\","
                          "\"status\":500,\"count\":1}"));
    free(ts_add_fault(ts, "{\"id\":\"follow-up\",\"route\":\"jwks\",\"after_fault\":\"primary\","
                          "\"status\":429,\"count\":1}"));
    const char *trigger[] = {"X-Trigger: 1", NULL};
    assert_int_equal(jwks_status(ts, NULL), 200); /* primary has not fired yet */
    assert_int_equal(jwks_status(ts, trigger), 500);
    check_entry_fault(ts, "jwks", "primary"); /* follow-up was pre-empted, not spent */
    assert_int_equal(jwks_status(ts, NULL), 429);
    check_entry_fault(ts, "jwks", "follow-up");
    assert_int_equal(jwks_status(ts, NULL), 200);
}

static void test_fault_match_keys_select_requests(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    struct ts_session alice, bob;
    ts_sign_in(ts, NULL, &alice);
    struct ts_sign_in in = {.login_hint = "bob@example.com"};
    ts_sign_in(ts, &in, &bob);
    char rule[256];
    snprintf(rule, sizeof(rule),
             "{\"route\":\"authenticate\",\"user_id\":\"%s\",\"method\":\"POST\",\"status\":503}",
             TS_BOB);
    free(ts_add_fault(ts, rule));
    snprintf(rule, sizeof(rule), "{\"path\":\"/sso/jwks/%s\",\"status\":500}", TS_OTHER_CLIENT);
    free(ts_add_fault(ts, rule));
    struct hx_http_response resp;
    ts_refresh(ts, NULL, NULL, alice.refresh_token, NULL, NULL, &resp);
    assert_status(&resp, 200);
    hx_http_response_cleanup(&resp);
    ts_refresh(ts, NULL, NULL, bob.refresh_token, NULL, NULL, &resp);
    assert_status(&resp, 503);
    hx_http_response_cleanup(&resp);
    assert_int_equal(jwks_status(ts, NULL), 200);
    ts_get(ts, "/sso/jwks/" TS_OTHER_CLIENT, NULL, &resp);
    assert_status(&resp, 500);
    hx_http_response_cleanup(&resp);
    ts_session_cleanup(&alice);
    ts_session_cleanup(&bob);
}

static void test_fault_probability_is_deterministic_per_seed(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    char runs[3][201];
    const int seeds[3] = {42, 42, 43};
    for (int r = 0; r < 3; r++) {
        char rule[160];
        snprintf(rule, sizeof(rule),
                 "{\"route\":\"jwks\",\"status\":503,\"probability\":0.3,\"seed\":%d}", seeds[r]);
        char *id = ts_add_fault(ts, rule);
        jwks_pattern(ts, 200, runs[r]);
        char path[128];
        snprintf(path, sizeof(path), "/_fakeidp/faults/%s", id);
        json_decref(ts_admin(ts, "DELETE", path, NULL, 200));
        free(id);
    }
    assert_string_equal(runs[0], runs[1]);
    assert_string_not_equal(runs[0], runs[2]);
    for (int r = 0; r < 3; r++) {
        int fired = 0;
        for (int i = 0; i < 200; i++)
            fired += runs[r][i] == '5';
        if (fired < 30 || fired > 90)
            fail_msg("seed %d fired %d of 200 at p=0.3", seeds[r], fired);
    }
}

/* --- rules through the admin API and the configuration -------------------------------------------- */

static void test_fault_admin_add_list_remove_clear(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    json_t *added = ts_admin(ts, "POST", "/_fakeidp/faults",
                             "{\"faults\":[{\"id\":\"three\",\"route\":\"jwks\",\"status\":500,\"count\":3},"
                             "{\"route\":\"authorize\",\"status\":503,\"first\":2}]}",
                             201);
    json_t *ids = json_object_get(added, "added");
    assert_int_equal(json_array_size(ids), 2);
    assert_string_equal(json_string_value(json_array_get(ids, 0)), "three");
    char second[64];
    snprintf(second, sizeof(second), "%s", json_string_value(json_array_get(ids, 1)));
    json_decref(added);
    assert_int_equal(jwks_status(ts, NULL), 500);
    for (int i = 0; i < 3; i++)
        ts_authorize(ts, NULL, NULL, 0);
    json_t *three = ts_fault_listing(ts, "three");
    assert_string_equal(json_string_value(json_object_get(three, "action")), "status");
    assert_string_equal(json_string_value(json_object_get(three, "phase")), "before");
    assert_int_equal(json_integer_value(json_object_get(three, "matched")), 1);
    assert_int_equal(json_integer_value(json_object_get(three, "fired")), 1);
    assert_int_equal(json_integer_value(json_object_get(three, "remaining")), 2);
    json_decref(three);
    json_t *other = ts_fault_listing(ts, second);
    assert_int_equal(json_integer_value(json_object_get(other, "matched")), 3);
    assert_int_equal(json_integer_value(json_object_get(other, "fired")), 2);
    assert_int_equal(json_integer_value(json_object_get(other, "remaining")), 0);
    json_decref(other);
    /* remove one, then a missing one, then clear */
    json_t *list = ts_admin(ts, "DELETE", "/_fakeidp/faults/three", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(list, "faults")), 1);
    json_decref(list);
    assert_int_equal(jwks_status(ts, NULL), 200);
    json_t *missing = ts_admin(ts, "DELETE", "/_fakeidp/faults/three", NULL, 404);
    assert_string_equal(json_string_value(json_object_get(missing, "code")), "not_found");
    json_decref(missing);
    list = ts_admin(ts, "DELETE", "/_fakeidp/faults", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(list, "faults")), 0);
    json_decref(list);
    assert_int_equal(ts_authorize(ts, NULL, NULL, 0), 302);
}

static void test_fault_admin_rejects_bad_rules_with_422(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    free(ts_add_fault(ts, "{\"id\":\"taken\",\"route\":\"jwks\",\"status\":500,\"nth\":99}"));
    const char *bad[] = {
        "{}",
        "{\"route\":\"jwks\"}",
        "{\"action\":\"explode\"}",
        "{\"status\":99}",
        "{\"status\":\"503\"}",
        "{\"status\":500,\"nth\":0}",
        "{\"status\":500,\"every\":1.5}",
        "{\"status\":500,\"probability\":1.5}",
        "{\"status\":500,\"between\":[\"1m\"]}",
        "{\"status\":500,\"between\":[\"1m\",\"later\"]}",
        "{\"action\":\"truncated\",\"phase\":\"before\"}",
        "{\"action\":\"latency\",\"phase\":\"sometime\"}",
        "{\"status\":500,\"colour\":\"red\"}",
        "{\"status\":500,\"route\":42}",
        "{\"status\":500,\"route\":\"authenticat\"}",
        "{\"status\":500,\"route\":\"nothing*\"}",
        "{\"id\":\"taken\",\"status\":500}",
        "[1,2,3]",
        "{\"faults\":[{\"id\":\"ok-one\",\"status\":500},{\"action\":\"explode\"}]}",
        "{not json",
        NULL};
    for (int i = 0; bad[i]; i++) {
        json_t *body = ts_admin(ts, "POST", "/_fakeidp/faults", bad[i], 422);
        assert_string_equal(json_string_value(json_object_get(body, "code")), "invalid_fault");
        assert_true(strlen(json_string_value(json_object_get(body, "message"))) > 0);
        json_decref(body);
    }
    /* a misspelled route names the one it resembles */
    json_t *typo = ts_admin(ts, "POST", "/_fakeidp/faults",
                            "{\"route\":\"authenticat\",\"status\":503}", 422);
    assert_non_null(strstr(json_string_value(json_object_get(typo, "message")),
                           "did you mean \"authenticate\""));
    json_decref(typo);
    /* nothing half-added */
    json_t *list = ts_admin(ts, "GET", "/_fakeidp/faults", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(list, "faults")), 1);
    json_decref(list);
    assert_null(ts_fault_listing(ts, "ok-one"));
}

static void test_fault_from_configuration_is_active_at_start(void **state)
{
    struct ts_server *ts = TS_START(state, "{\"faults\":[{\"id\":\"boot\",\"route\":\"jwks\","
                                           "\"status\":503,\"count\":1}]}");
    const char *path = "/sso/jwks/client_01FAKE1DPC0000000000000000"; /* the default client */
    struct hx_http_response resp;
    ts_get(ts, path, NULL, &resp);
    assert_code_error(&resp, 503, "server_error");
    hx_http_response_cleanup(&resp);
    check_entry_fault(ts, "jwks", "boot");
    ts_get(ts, path, NULL, &resp);
    assert_status(&resp, 200);
    hx_http_response_cleanup(&resp);
    check_entry_fault(ts, "jwks", "");
}

static void test_fault_bad_rule_in_configuration_fails_start(void **state)
{
    (void)state;
    const char *error = ts_start_error("{\"faults\":[{\"route\":\"jwks\",\"action\":\"explode\"}]}");
    assert_non_null(error);
    assert_non_null(strstr(error, "faults[0]"));
    assert_non_null(strstr(error, "explode"));
    error = ts_start_error("{\"faults\":{\"route\":\"jwks\"}}");
    assert_non_null(error);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TS_TEST(test_fault_status_503_has_workos_body_and_retry_after),
        TS_TEST(test_fault_status_shapes_for_429_400_and_custom_bodies),
        TS_TEST(test_fault_status_after_commit_spends_token_and_grace_recovers),
        TS_TEST(test_fault_latency_delays_the_response),
        TS_TEST(test_fault_reset_gives_connection_reset),
        TS_TEST(test_fault_reset_after_refresh_spends_token_without_reply),
        TS_TEST(test_fault_close_gives_an_empty_reply),
        TS_TEST(test_fault_hang_is_bounded),
        TS_TEST(test_fault_garbage_is_not_http),
        TS_TEST(test_fault_truncated_body_is_shorter_than_content_length),
        TS_TEST(test_fault_dribble_delivers_slowly_but_completely),
        TS_TEST(test_fault_wrong_content_type_keeps_json_body),
        TS_TEST(test_fault_non_json_is_html),
        TS_TEST(test_fault_empty_200_has_json_type_and_no_body),
        TS_TEST(test_fault_malformed_json_is_cut_mid_document),
        TS_TEST(test_fault_redirect_on_jwks),
        TS_TEST(test_fault_barrier_releases_in_arrival_order),
        TS_TEST(test_fault_barrier_releases_in_reverse_order),
        TS_TEST(test_fault_barrier_releases_in_given_order),
        TS_TEST(test_fault_barrier_times_out_with_fewer_arrivals),
        TS_TEST(test_fault_token_remove_aud_and_iss),
        TS_TEST(test_fault_token_set_adds_claims),
        TS_TEST(test_fault_token_expired),
        TS_TEST(test_fault_token_not_yet_valid),
        TS_TEST(test_fault_token_unknown_kid_matches_no_jwks_key),
        TS_TEST(test_fault_token_signed_by_unpublished_key),
        TS_TEST(test_fault_token_signed_by_wrong_key_keeps_kid),
        TS_TEST(test_fault_token_tampered_fails_signature),
        TS_TEST(test_fault_token_alg_none_is_rejected),
        TS_TEST(test_fault_token_hs256_key_confusion_is_rejected),
        TS_TEST(test_fault_token_bloat_reaches_target_size),
        TS_TEST(test_fault_jwks_empty_has_no_keys),
        TS_TEST(test_fault_jwks_missing_active_drops_only_the_signer),
        TS_TEST(test_fault_jwks_extra_keys_have_unique_kids),
        TS_TEST(test_fault_revoke_session_ends_the_session),
        TS_TEST(test_fault_expire_refresh_token_expires_only_that_token),
        TS_TEST(test_fault_refresh_mode_switches_the_mode),
        TS_TEST(test_fault_rate_limit_429_until_the_window_passes),
        TS_TEST(test_fault_trigger_nth_fires_once_on_the_nth_match),
        TS_TEST(test_fault_trigger_first_fires_on_the_first_matches),
        TS_TEST(test_fault_trigger_every_fires_periodically),
        TS_TEST(test_fault_trigger_count_caps_the_firings),
        TS_TEST(test_fault_trigger_between_uses_virtual_time),
        TS_TEST(test_fault_trigger_after_fault_waits_for_the_other),
        TS_TEST(test_fault_match_keys_select_requests),
        TS_TEST(test_fault_probability_is_deterministic_per_seed),
        TS_TEST(test_fault_admin_add_list_remove_clear),
        TS_TEST(test_fault_admin_rejects_bad_rules_with_422),
        TS_TEST(test_fault_from_configuration_is_active_at_start),
        TS_TEST(test_fault_bad_rule_in_configuration_fails_start),
    };
    return cmocka_run_group_tests_name("faults", tests, NULL, NULL);
}
