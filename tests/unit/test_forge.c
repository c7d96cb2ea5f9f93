/* fakeidp/forge.c against the harness's verifier (harness/world/verifier.c):
 * each forge mode gives a token the verifier rejects for the reason the mode
 * stands for, and the untouched token (and a forge with an empty spec)
 * verifies. A real fakeidp on loopback serves the JWKS. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "forge.h"
#include "idp_jwt.h"
#include "keys.h"
#include "server.h"
#include "verifier.h"

#define NOW 1768478400000LL
#define ISS "https://api.workos.com/user_management/client_A"

struct fixture {
    EVP_PKEY *key, *stray;
    struct idp_key info;
    struct idp_clock clock;
    struct idp_server *server;
    struct hx_jwks_cache cache;
    char *token; /* the untouched token */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct idp_error err;
    char path[1024];
    if (!f)
        return -1;
    idp_default_key_cache_path(path, sizeof(path));
    f->key = idp_pem_load_or_generate(path, &err);
    f->stray = idp_rsa_generate(&err);
    if (!f->key || !f->stray || idp_key_init(&f->info, f->key, &err) != IDP_OK)
        return -1;
    idp_clock_init(&f->clock);
    idp_clock_freeze(&f->clock, true);
    idp_clock_set(&f->clock, NOW);
    struct idp_server_options o = {.port = 0, .key = f->key, .clock = &f->clock, .threads = 4};
    f->server = idp_server_start(&o, &err);
    if (!f->server)
        return -1;
    char url[300];
    snprintf(url, sizeof(url), "%s/sso/jwks/client_01FAKE1DPC0000000000000000",
             idp_server_url(f->server));
    /* No refetch on an unknown kid: the JWKS fetched once is the answer. */
    hx_jwks_cache_init(&f->cache, url, 600000, false, 30000);
    json_t *header = json_pack("{s:s, s:s, s:s}", "alg", "RS256", "typ", "JWT", "kid", f->info.kid);
    json_t *claims = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:[s]}", "iss", ISS, "sub",
                               "user_01ALICE", "sid", "session_1", "aud", "client_A", "iat",
                               (json_int_t)(NOW / 1000), "exp", (json_int_t)(NOW / 1000 + 300),
                               "permissions", "posts:read");
    f->token = idp_jwt_encode(header, claims, IDP_JWT_RS256, f->key, NULL, 0, &err);
    json_decref(header);
    json_decref(claims);
    *state = f;
    return f->token ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    free(f->token);
    hx_jwks_cache_cleanup(&f->cache);
    idp_server_stop(&f->server);
    idp_clock_cleanup(&f->clock);
    idp_key_cleanup(&f->info);
    EVP_PKEY_free(f->key);
    EVP_PKEY_free(f->stray);
    free(f);
    return 0;
}

static enum hx_verify verify(struct fixture *f, const char *token, char *why, size_t size)
{
    why[0] = '\0';
    return hx_verify_token(&f->cache, token, NOW, 0, ISS, "client_A", NULL, why, size);
}

/* Forges with spec (JSON text) and returns the verifier's verdict; why gets
 * its reason. The forged token goes to *out when out is given. */
static enum hx_verify forge_verify(struct fixture *f, const char *spec_text, char *why, size_t size,
                                   char **out)
{
    json_t *spec = json_loads(spec_text, 0, NULL);
    assert_non_null(spec);
    struct idp_error err;
    char *forged = idp_forge_token(f->token, spec, f->key, f->stray, NOW, &err);
    json_decref(spec);
    if (!forged)
        fail_msg("forge %s failed: %s", spec_text, err.message);
    enum hx_verify v = verify(f, forged, why, size);
    if (out)
        *out = forged;
    else
        free(forged);
    return v;
}

static json_t *part(const char *token, int which)
{
    struct idp_jwt jwt;
    struct idp_error err;
    if (idp_jwt_decode(token, &jwt, &err) != IDP_OK)
        fail_msg("decode: %s", err.message);
    json_t *out = json_incref(which ? jwt.payload : jwt.header);
    idp_jwt_cleanup(&jwt);
    return out;
}

#define assert_verdict(got, want, why)                                                        \
    do {                                                                                      \
        enum hx_verify got_ = (got);                                                          \
        if (got_ != (want))                                                                   \
            fail_msg("verdict %s, expected %s (%s)", hx_verify_name(got_), hx_verify_name(want), \
                     (why));                                                                  \
    } while (0)

static void test_untouched_verifies(void **state)
{
    struct fixture *f = *state;
    char why[512];
    assert_verdict(verify(f, f->token, why, sizeof(why)), HX_VERIFY_OK, why);
    /* An empty spec re-signs the same claims with the published key. */
    char *same = NULL;
    assert_verdict(forge_verify(f, "{}", why, sizeof(why), &same), HX_VERIFY_OK, why);
    json_t *a = part(f->token, 1), *b = part(same, 1);
    assert_true(json_equal(a, b));
    json_decref(a);
    json_decref(b);
    free(same);
}

static void test_time_modes(void **state)
{
    struct fixture *f = *state;
    char why[512];
    char *t = NULL;
    assert_verdict(forge_verify(f, "{\"expired\": true}", why, sizeof(why), &t), HX_VERIFY_EXPIRED, why);
    assert_string_equal(why, "token expired 60s ago");
    json_t *claims = part(t, 1);
    assert_int_equal(json_integer_value(json_object_get(claims, "exp")), NOW / 1000 - 60);
    /* The lifetime is kept: iat moves back with exp. */
    assert_int_equal(json_integer_value(json_object_get(claims, "iat")), NOW / 1000 - 360);
    json_decref(claims);
    free(t);
    assert_verdict(forge_verify(f, "{\"not_yet_valid\": true}", why, sizeof(why), NULL),
                   HX_VERIFY_NOT_YET_VALID, why);
    assert_string_equal(why, "token not valid for another 3600s");
    assert_verdict(forge_verify(f, "{\"remove\": \"exp\"}", why, sizeof(why), NULL), HX_VERIFY_EXPIRED, why);
    assert_verdict(forge_verify(f, "{\"remove\": [\"sid\", \"exp\"]}", why, sizeof(why), &t),
                   HX_VERIFY_EXPIRED, why);
    claims = part(t, 1);
    assert_null(json_object_get(claims, "sid"));
    assert_null(json_object_get(claims, "exp"));
    assert_string_equal(json_string_value(json_object_get(claims, "sub")), "user_01ALICE");
    json_decref(claims);
    free(t);
}

static void test_key_modes(void **state)
{
    struct fixture *f = *state;
    char why[512];
    char *t = NULL;
    assert_verdict(forge_verify(f, "{\"kid\": \"unknown\"}", why, sizeof(why), NULL),
                   HX_VERIFY_UNKNOWN_KID, why);
    assert_string_equal(why, "no key with kid sso_oidc_key_pair_01UNKN0WNKEY0000000000000 in the cached JWKS");
    assert_verdict(forge_verify(f, "{\"kid\": \"mine\"}", why, sizeof(why), NULL), HX_VERIFY_UNKNOWN_KID, why);
    /* unpublished: the stray key under its own kid, which the JWKS lacks. */
    assert_verdict(forge_verify(f, "{\"sign\": \"unpublished\"}", why, sizeof(why), &t),
                   HX_VERIFY_UNKNOWN_KID, why);
    json_t *header = part(t, 0);
    assert_string_not_equal(json_string_value(json_object_get(header, "kid")), f->info.kid);
    json_decref(header);
    free(t);
    /* wrong_key: the stray key under the published kid. */
    assert_verdict(forge_verify(f, "{\"sign\": \"wrong_key\"}", why, sizeof(why), &t),
                   HX_VERIFY_SIGNATURE, why);
    header = part(t, 0);
    assert_string_equal(json_string_value(json_object_get(header, "kid")), f->info.kid);
    json_decref(header);
    free(t);
    assert_verdict(forge_verify(f, "{\"tamper\": true}", why, sizeof(why), &t), HX_VERIFY_SIGNATURE, why);
    json_t *claims = part(t, 1);
    assert_string_equal(json_string_value(json_object_get(claims, "sub")), "user_01TAMPEREDSUBJECT00000000");
    json_decref(claims);
    /* The signature is the original token's. */
    assert_string_equal(strrchr(t, '.'), strrchr(f->token, '.'));
    free(t);
}

static void test_algorithm_modes(void **state)
{
    struct fixture *f = *state;
    char why[512];
    char *t = NULL;
    assert_verdict(forge_verify(f, "{\"alg\": \"none\"}", why, sizeof(why), &t), HX_VERIFY_ALGORITHM, why);
    assert_string_equal(why, "algorithm none not accepted");
    /* alg none carries no signature. */
    assert_int_equal(t[strlen(t) - 1], '.');
    free(t);
    assert_verdict(forge_verify(f, "{\"alg\": \"HS256\"}", why, sizeof(why), &t), HX_VERIFY_ALGORITHM, why);
    assert_string_equal(why, "algorithm HS256 not accepted");
    json_t *header = part(t, 0);
    assert_string_equal(json_string_value(json_object_get(header, "alg")), "HS256");
    json_decref(header);
    free(t);
}

static void test_claim_modes(void **state)
{
    struct fixture *f = *state;
    char why[512];
    assert_verdict(forge_verify(f, "{\"set\": {\"iss\": \"https://evil.example/user_management/x\"}}", why,
                                sizeof(why), NULL),
                   HX_VERIFY_ISSUER, why);
    assert_verdict(forge_verify(f, "{\"set\": {\"aud\": \"client_someone_else\"}}", why, sizeof(why), NULL),
                   HX_VERIFY_AUDIENCE, why);
    assert_verdict(forge_verify(f, "{\"remove\": \"aud\"}", why, sizeof(why), NULL), HX_VERIFY_AUDIENCE, why);
    /* A claim the verifier does not check passes re-signed: the forge did
     * not break the signature by itself. */
    char *t = NULL;
    assert_verdict(forge_verify(f, "{\"set\": {\"role\": \"admin\"}}", why, sizeof(why), &t), HX_VERIFY_OK, why);
    json_t *claims = part(t, 1);
    assert_string_equal(json_string_value(json_object_get(claims, "role")), "admin");
    json_decref(claims);
    free(t);
}

static void test_bloat(void **state)
{
    struct fixture *f = *state;
    char why[512];
    char *t = NULL;
    assert_verdict(forge_verify(f, "{\"bloat\": {\"permissions\": 50, \"pad_to\": 6000}}", why, sizeof(why), &t),
                   HX_VERIFY_OK, why);
    size_t len = strlen(t);
    if (len < 5900 || len > 6100)
        fail_msg("bloated token is %zu bytes, expected about 6000", len);
    json_t *claims = part(t, 1);
    assert_int_equal(json_array_size(json_object_get(claims, "permissions")), 50);
    json_decref(claims);
    free(t);

    struct idp_error err;
    json_t *ok = json_pack("{s:i, s:i}", "permissions", 3, "pad_to", IDP_FORGE_MAX_PAD);
    assert_int_equal(idp_forge_check(ok, &err), IDP_OK);
    assert_int_equal(idp_forge_check(NULL, &err), IDP_OK);
    json_t *big = json_pack("{s:i}", "pad_to", IDP_FORGE_MAX_PAD + 1);
    assert_int_equal(idp_forge_check(big, &err), IDP_INVALID);
    assert_string_equal(err.message, "fault: bloat.pad_to must be a whole number from 0 to 1048576");
    json_t *negative = json_pack("{s:i}", "feature_flags", -1);
    assert_int_equal(idp_forge_check(negative, &err), IDP_INVALID);
    assert_string_equal(err.message, "fault: bloat.feature_flags must be a whole number from 0 to 100000");
    json_t *text = json_pack("{s:s}", "permissions", "many");
    assert_int_equal(idp_forge_check(text, &err), IDP_INVALID);
    json_t *array = json_array();
    assert_int_equal(idp_forge_check(array, &err), IDP_INVALID);
    assert_string_equal(err.message, "fault: bloat must be an object");
    json_decref(ok);
    json_decref(big);
    json_decref(negative);
    json_decref(text);
    json_decref(array);
}

static void test_malformed_input(void **state)
{
    struct fixture *f = *state;
    json_t *spec = json_object();
    struct idp_error err;
    memset(&err, 0, sizeof(err));
    assert_null(idp_forge_token("not-a-token", spec, f->key, f->stray, NOW, &err));
    assert_int_not_equal(err.status, IDP_OK);
    assert_null(idp_forge_token(NULL, spec, f->key, f->stray, NOW, &err));
    json_decref(spec);
    char why[512];
    assert_verdict(verify(f, "a.b", why, sizeof(why)), HX_VERIFY_MALFORMED, why);
    assert_int_equal(strncmp(why, "malformed token: ", 17), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_untouched_verifies), cmocka_unit_test(test_time_modes),
        cmocka_unit_test(test_key_modes),          cmocka_unit_test(test_algorithm_modes),
        cmocka_unit_test(test_claim_modes),        cmocka_unit_test(test_bloat),
        cmocka_unit_test(test_malformed_input),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
