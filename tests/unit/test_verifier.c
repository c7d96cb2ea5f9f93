/* The verifier the reference app and the Convex-style backends use: JWKS
 * caching and refetch policy, RS256 only, time and claim checks; and the
 * backends themselves (backend.c): provider matching, their own clock and
 * leeway, counters, settings. A real fakeidp serves the JWKS on loopback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "clock.h"
#include "idp_jwt.h"
#include "keys.h"
#include "server.h"
#include "verifier.h"

#define NOW 1768478400000LL

struct fixture {
    EVP_PKEY *key, *other;
    struct idp_key info;
    struct idp_clock clock;
    struct idp_server *server;
    char jwks_url[300];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct idp_error err;
    char path[1024];
    idp_default_key_cache_path(path, sizeof(path));
    f->key = idp_pem_load_or_generate(path, &err);
    f->other = idp_rsa_generate(&err);
    assert_non_null(f->key);
    assert_non_null(f->other);
    assert_int_equal(idp_key_init(&f->info, f->key, &err), IDP_OK);
    idp_clock_init(&f->clock);
    idp_clock_freeze(&f->clock, true);
    idp_clock_set(&f->clock, NOW);
    struct idp_server_options o = {.port = 0, .key = f->key, .clock = &f->clock, .threads = 4};
    f->server = idp_server_start(&o, &err);
    assert_non_null(f->server);
    snprintf(f->jwks_url, sizeof(f->jwks_url), "%s/sso/jwks/client_01FAKE1DPC0000000000000000",
             idp_server_url(f->server));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    idp_server_stop(&f->server);
    idp_clock_cleanup(&f->clock);
    idp_key_cleanup(&f->info);
    EVP_PKEY_free(f->key);
    EVP_PKEY_free(f->other);
    free(f);
    return 0;
}

/* A token with the given kid, signed by key, valid for [iat, exp]. */
static char *token(EVP_PKEY *key, const char *kid, const char *alg, int64_t iat_s, int64_t exp_s,
                   const char *iss, const char *aud)
{
    json_t *header = json_pack("{s:s, s:s, s:s}", "alg", alg, "typ", "JWT", "kid", kid);
    json_t *claims = json_pack("{s:s, s:s, s:s, s:I, s:I}", "iss", iss, "sub", "user_1", "sid",
                               "session_1", "iat", (json_int_t)iat_s, "exp", (json_int_t)exp_s);
    if (aud)
        json_object_set_new(claims, "aud", json_string(aud));
    enum idp_jwt_alg a = strcmp(alg, "none") == 0 ? IDP_JWT_NONE : IDP_JWT_RS256;
    char *t = idp_jwt_encode(header, claims, a, key, NULL, 0, NULL);
    json_decref(header);
    json_decref(claims);
    return t;
}

static enum hx_verify verify(struct hx_jwks_cache *cache, const char *t, int64_t now, int64_t leeway,
                             const char *iss, const char *aud)
{
    char why[512];
    return hx_verify_token(cache, t, now, leeway, iss, aud, NULL, why, sizeof(why));
}

static void test_valid_token_verifies_and_jwks_is_fetched_once(void **state)
{
    struct fixture *f = *state;
    struct hx_jwks_cache cache;
    hx_jwks_cache_init(&cache, f->jwks_url, 600000, true, 30000);
    char *t = token(f->key, f->info.kid, "RS256", NOW / 1000, NOW / 1000 + 300, "iss", NULL);
    assert_int_equal(verify(&cache, t, NOW, 0, NULL, NULL), HX_VERIFY_OK);
    assert_int_equal(verify(&cache, t, NOW + 1000, 0, NULL, NULL), HX_VERIFY_OK);
    assert_int_equal(cache.fetches, 1);
    free(t);
    hx_jwks_cache_cleanup(&cache);
}

static void test_expiry_and_leeway(void **state)
{
    struct fixture *f = *state;
    struct hx_jwks_cache cache;
    hx_jwks_cache_init(&cache, f->jwks_url, 600000, true, 30000);
    char *t = token(f->key, f->info.kid, "RS256", NOW / 1000 - 300, NOW / 1000 - 5, "iss", NULL);
    assert_int_equal(verify(&cache, t, NOW, 0, NULL, NULL), HX_VERIFY_EXPIRED);
    assert_int_equal(verify(&cache, t, NOW, 10000, NULL, NULL), HX_VERIFY_OK);
    free(t);
    hx_jwks_cache_cleanup(&cache);
}

static void test_issuer_and_audience_are_exact(void **state)
{
    struct fixture *f = *state;
    struct hx_jwks_cache cache;
    hx_jwks_cache_init(&cache, f->jwks_url, 600000, true, 30000);
    char *t = token(f->key, f->info.kid, "RS256", NOW / 1000, NOW / 1000 + 300,
                    "https://api.workos.com", "client_A");
    assert_int_equal(verify(&cache, t, NOW, 0, "https://api.workos.com", "client_A"), HX_VERIFY_OK);
    assert_int_equal(verify(&cache, t, NOW, 0, "https://api.workos.com/", NULL), HX_VERIFY_ISSUER);
    assert_int_equal(verify(&cache, t, NOW, 0, NULL, "client_B"), HX_VERIFY_AUDIENCE);
    free(t);
    hx_jwks_cache_cleanup(&cache);
}

static void test_alg_none_and_wrong_key_are_rejected(void **state)
{
    struct fixture *f = *state;
    struct hx_jwks_cache cache;
    hx_jwks_cache_init(&cache, f->jwks_url, 600000, true, 30000);
    char *none = token(NULL, f->info.kid, "none", NOW / 1000, NOW / 1000 + 300, "iss", NULL);
    char *wrong = token(f->other, f->info.kid, "RS256", NOW / 1000, NOW / 1000 + 300, "iss", NULL);
    assert_int_equal(verify(&cache, none, NOW, 0, NULL, NULL), HX_VERIFY_ALGORITHM);
    assert_int_equal(verify(&cache, wrong, NOW, 0, NULL, NULL), HX_VERIFY_SIGNATURE);
    assert_int_equal(verify(&cache, "not.a.token", NOW, 0, NULL, NULL), HX_VERIFY_MALFORMED);
    assert_int_equal(verify(&cache, NULL, NOW, 0, NULL, NULL), HX_VERIFY_MALFORMED);
    free(none);
    free(wrong);
    hx_jwks_cache_cleanup(&cache);
}

static void test_unknown_kid_refetch_respects_cooldown_and_policy(void **state)
{
    struct fixture *f = *state;
    char *t = token(f->key, "sso_oidc_key_pair_01UNKNOWN", "RS256", NOW / 1000, NOW / 1000 + 300, "iss", NULL);
    struct hx_jwks_cache refetching, never;
    hx_jwks_cache_init(&refetching, f->jwks_url, 600000, true, 30000);
    hx_jwks_cache_init(&never, f->jwks_url, 600000, false, 30000);
    assert_int_equal(verify(&refetching, t, NOW, 0, NULL, NULL), HX_VERIFY_UNKNOWN_KID);
    assert_int_equal(refetching.fetches, 2);  /* the first fetch, then one refetch */
    assert_int_equal(verify(&refetching, t, NOW + 10000, 0, NULL, NULL), HX_VERIFY_UNKNOWN_KID);
    assert_int_equal(refetching.fetches, 2);  /* within the cooldown: no refetch */
    assert_int_equal(verify(&refetching, t, NOW + 31000, 0, NULL, NULL), HX_VERIFY_UNKNOWN_KID);
    assert_int_equal(refetching.fetches, 3);
    assert_int_equal(verify(&never, t, NOW, 0, NULL, NULL), HX_VERIFY_UNKNOWN_KID);
    assert_int_equal(never.fetches, 1);
    free(t);
    hx_jwks_cache_cleanup(&refetching);
    hx_jwks_cache_cleanup(&never);
}

static void test_cache_expiry_refetches(void **state)
{
    struct fixture *f = *state;
    struct hx_jwks_cache cache;
    hx_jwks_cache_init(&cache, f->jwks_url, 600000, false, 30000);
    char *t = token(f->key, f->info.kid, "RS256", NOW / 1000, NOW / 1000 + 3600, "iss", NULL);
    verify(&cache, t, NOW, 0, NULL, NULL);
    verify(&cache, t, NOW + 599000, 0, NULL, NULL);
    assert_int_equal(cache.fetches, 1);
    verify(&cache, t, NOW + 600000, 0, NULL, NULL);
    assert_int_equal(cache.fetches, 2);
    free(t);
    hx_jwks_cache_cleanup(&cache);
}

static void test_unreachable_jwks_is_reported(void **state)
{
    struct fixture *f = *state;
    struct hx_jwks_cache cache;
    hx_jwks_cache_init(&cache, "http://127.0.0.1:1/sso/jwks/x", 600000, true, 30000);
    char *t = token(f->key, f->info.kid, "RS256", NOW / 1000, NOW / 1000 + 300, "iss", NULL);
    assert_int_equal(verify(&cache, t, NOW, 0, NULL, NULL), HX_VERIFY_JWKS_UNAVAILABLE);
    free(t);
    hx_jwks_cache_cleanup(&cache);
}

/* A backend with settings s over providers (JSON text), with a timeline. */
struct backend_case {
    struct hx_backend backend;
    struct hx_timeline timeline;
};

static void backend_start(struct backend_case *c, struct fixture *f,
                          const struct hx_backend_settings *s, const char *providers)
{
    hx_timeline_init(&c->timeline, NOW);
    json_t *list = json_loads(providers, 0, NULL);
    assert_non_null(list);
    hx_backend_init(&c->backend, "billing", true, s, list, f->jwks_url, &f->clock, &c->timeline);
    json_decref(list);
}

static void backend_stop(struct backend_case *c)
{
    hx_backend_cleanup(&c->backend);
    hx_timeline_cleanup(&c->timeline);
}

/* Queries with a Bearer token; returns the status. */
static int query(struct backend_case *c, const char *t)
{
    char header[4096];
    snprintf(header, sizeof(header), "Bearer %s", t);
    json_t *body = NULL;
    int status = hx_backend_query(&c->backend, t ? header : NULL, &body);
    assert_non_null(body);
    json_decref(body);
    return status;
}

static const char *stat_text(struct backend_case *c, const char *key)
{
    static char value[64];
    json_t *stats = hx_backend_stats(&c->backend);
    const json_t *v = json_object_get(stats, key);
    if (json_is_string(v))
        snprintf(value, sizeof(value), "%s", json_string_value(v));
    else
        snprintf(value, sizeof(value), "%lld", (long long)json_integer_value(v));
    json_decref(stats);
    return value;
}

static void test_backend_matches_a_provider_by_issuer_and_application_id(void **state)
{
    struct fixture *f = *state;
    struct hx_backend_settings s;
    hx_backend_settings_defaults(&s);
    struct backend_case c;
    backend_start(&c, f, &s, "[{\"issuer\": \"https://api.workos.com/\", \"application_id\": \"client_A\"}]");
    char *no_aud = token(f->key, f->info.kid, "RS256", NOW / 1000, NOW / 1000 + 300,
                         "https://api.workos.com/", NULL);
    char *with_aud = token(f->key, f->info.kid, "RS256", NOW / 1000, NOW / 1000 + 300,
                           "https://api.workos.com/", "client_A");
    assert_int_equal(query(&c, no_aud), 401);
    assert_string_equal(stat_text(&c, "reason"), "no_provider");
    assert_string_equal(stat_text(&c, "jwks_fetches"), "0"); /* no provider: nothing fetched */
    assert_int_equal(query(&c, with_aud), 200);
    assert_string_equal(stat_text(&c, "last"), "accepted");
    assert_string_equal(stat_text(&c, "accepted"), "1");
    assert_string_equal(stat_text(&c, "rejected"), "1");
    assert_string_equal(stat_text(&c, "reason"), "no_provider"); /* the last rejection's */
    assert_int_equal(query(&c, NULL), 200);
    assert_string_equal(stat_text(&c, "last"), "anonymous");
    char *text = hx_timeline_text(&c.timeline, "");
    assert_non_null(strstr(text, "billing NoAuthProvider: No auth provider found"));
    assert_non_null(strstr(text, "billing accepted the token of user_1"));
    free(text);
    free(no_aud);
    free(with_aud);
    backend_stop(&c);
}

static void test_backend_verifies_at_its_own_clock_with_its_leeway(void **state)
{
    struct fixture *f = *state;
    struct hx_backend_settings s;
    hx_backend_settings_defaults(&s);
    s.clock_offset_ms = 360000; /* 6 minutes ahead of the issuer */
    struct backend_case ahead;
    backend_start(&ahead, f, &s, "[{\"issuer\": \"iss\"}]");
    char *t = token(f->key, f->info.kid, "RS256", NOW / 1000, NOW / 1000 + 300, "iss", NULL);
    assert_int_equal(query(&ahead, t), 401);
    assert_string_equal(stat_text(&ahead, "reason"), "expired");
    char clock[128];
    hx_backend_describe_clock(&ahead.backend, clock, sizeof(clock));
    assert_string_equal(clock, "billing +6m (leeway 0s)");
    backend_stop(&ahead);
    s.leeway_ms = 420000;
    struct backend_case tolerant;
    backend_start(&tolerant, f, &s, "[{\"issuer\": \"iss\"}]");
    assert_int_equal(query(&tolerant, t), 200);
    backend_stop(&tolerant);
    hx_backend_settings_defaults(&s);
    struct backend_case in_sync;
    backend_start(&in_sync, f, &s, "[{\"issuer\": \"iss\"}]");
    hx_backend_describe_clock(&in_sync.backend, clock, sizeof(clock));
    assert_string_equal(clock, "");
    assert_int_equal(query(&in_sync, t), 200);
    assert_string_equal(stat_text(&in_sync, "jwks_fetches"), "1");
    backend_stop(&in_sync);
    free(t);
}

static void test_backend_entries_are_checked(void **state)
{
    (void)state;
    static const struct {
        const char *entry, *pointer, *message;
    } cases[] = {
        {"{\"leway\": \"0s\"}", "/leway", "unknown backend setting \"leway\" (did you mean \"leeway\"?)"},
        {"{\"clock_offset\": \"soon\"}", "/clock_offset", "backend setting clock_offset: expected"},
        {"{\"app\": \"\"}", "/app", "a backend's app names"},
        {"{\"providers\": [{\"iss\": \"x\"}]}", "/providers", "a backend's providers is an array"},
        {"[]", "", "a backend is an object"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct hx_backend_settings s;
        hx_backend_settings_defaults(&s);
        struct idp_error err = {0};
        json_t *entry = json_loads(cases[i].entry, JSON_DECODE_ANY, NULL);
        assert_int_equal(hx_backend_entry_apply(&s, entry, &err), IDP_INVALID);
        assert_string_equal(err.pointer, cases[i].pointer);
        assert_non_null(strstr(err.message, cases[i].message));
        json_decref(entry);
    }
    struct hx_backend_settings s;
    hx_backend_settings_defaults(&s);
    json_t *entry = json_loads("{\"app\": \"stg\", \"clock_offset\": \"-30s\", \"leeway\": 5, "
                               "\"refetch_unknown_kid\": true}", 0, NULL);
    assert_int_equal(hx_backend_entry_apply(&s, entry, NULL), IDP_OK);
    assert_int_equal(s.clock_offset_ms, -30000);
    assert_int_equal(s.leeway_ms, 5000);
    assert_true(s.refetch_unknown_kid);
    assert_int_equal(s.jwks_cache_ms, 600000);
    json_decref(entry);
    assert_true(hx_backend_reason_known("no_provider"));
    assert_true(hx_backend_reason_known("expired"));
    assert_false(hx_backend_reason_known("ok"));
    assert_true(hx_backend_name_ok("billing-2"));
    assert_false(hx_backend_name_ok("Billing"));
    assert_false(hx_backend_name_ok(""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_token_verifies_and_jwks_is_fetched_once),
        cmocka_unit_test(test_expiry_and_leeway),
        cmocka_unit_test(test_issuer_and_audience_are_exact),
        cmocka_unit_test(test_alg_none_and_wrong_key_are_rejected),
        cmocka_unit_test(test_unknown_kid_refetch_respects_cooldown_and_policy),
        cmocka_unit_test(test_cache_expiry_refetches),
        cmocka_unit_test(test_unreachable_jwks_is_reported),
        cmocka_unit_test(test_backend_matches_a_provider_by_issuer_and_application_id),
        cmocka_unit_test(test_backend_verifies_at_its_own_clock_with_its_leeway),
        cmocka_unit_test(test_backend_entries_are_checked),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
