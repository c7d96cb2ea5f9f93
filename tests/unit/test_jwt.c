/* Compact JWS (idp_jwt.h): RS256 tokens round-trip through encode / decode /
 * verify, verification accepts only RS256 with the right key (no alg none, no
 * HS256 keyed with the public key, no tampering), and decoding refuses
 * anything that is not three base64url segments of JSON objects. One RSA key
 * is generated for the whole file; the "wrong" keys are derived from it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "encoding.h"
#include "idp_jwt.h"
#include "keys.h"

static EVP_PKEY *signing_key; /* RSA-2048, generated once */

static int group_setup(void **state)
{
    (void)state;
    struct idp_error err = {0};
    signing_key = idp_rsa_generate(&err);
    return signing_key ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    EVP_PKEY_free(signing_key);
    return 0;
}

/* --- helpers ---------------------------------------------------------------- */

static char *b64url_text(const char *text)
{
    char *s = idp_base64url_encode((const unsigned char *)text, strlen(text));
    assert_non_null(s);
    return s;
}

/* "<b64(header)>.<b64(payload)>.<signature>" from raw JSON texts. */
static char *make_token(const char *header, const char *payload, const char *signature)
{
    char *h = b64url_text(header), *p = b64url_text(payload);
    size_t len = strlen(h) + strlen(p) + strlen(signature) + 3;
    char *token = malloc(len);
    assert_non_null(token);
    snprintf(token, len, "%s.%s.%s", h, p, signature);
    free(h);
    free(p);
    return token;
}

/* The signing key's modulus as big-endian bytes (malloc'd). */
static unsigned char *modulus(size_t *len)
{
    BIGNUM *n = NULL;
    assert_true(EVP_PKEY_get_bn_param(signing_key, OSSL_PKEY_PARAM_RSA_N, &n));
    *len = (size_t)BN_num_bytes(n);
    unsigned char *buf = malloc(*len);
    assert_non_null(buf);
    BN_bn2bin(n, buf);
    BN_free(n);
    return buf;
}

/* A JWK {"kty":"RSA","n","e"} for the given modulus bytes and exponent. */
static json_t *jwk_for(const unsigned char *n, size_t n_len, unsigned long e)
{
    unsigned char ebuf[8];
    size_t e_len = 0;
    for (int shift = 56; shift >= 0; shift -= 8)
        if (e >> shift || e_len)
            ebuf[e_len++] = (unsigned char)(e >> shift);
    char *n64 = idp_base64url_encode(n, n_len);
    char *e64 = idp_base64url_encode(ebuf, e_len);
    json_t *jwk = json_pack("{s:s, s:s, s:s}", "kty", "RSA", "n", n64, "e", e64);
    free(n64);
    free(e64);
    return jwk;
}

/* The public half of the signing key, built from its JWK form. */
static EVP_PKEY *public_key(void)
{
    size_t n_len;
    unsigned char *n = modulus(&n_len);
    json_t *jwk = jwk_for(n, n_len, 65537);
    struct idp_error err = {0};
    EVP_PKEY *pub = idp_jwk_public_key(jwk, &err);
    json_decref(jwk);
    free(n);
    assert_non_null(pub);
    return pub;
}

static char *sign_rs256(const char *header_text, const char *payload_text)
{
    json_t *header = json_loads(header_text, 0, NULL);
    json_t *payload = json_loads(payload_text, 0, NULL);
    assert_non_null(header);
    assert_non_null(payload);
    struct idp_error err = {0};
    char *token = idp_jwt_encode(header, payload, IDP_JWT_RS256, signing_key, NULL, 0, &err);
    json_decref(header);
    json_decref(payload);
    if (!token)
        fail_msg("encode failed: %s", err.message);
    return token;
}

#define HEADER "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"sso_oidc_key_pair_test\"}"
#define PAYLOAD "{\"sub\":\"user_01\",\"sid\":\"session_01\",\"exp\":1768478700}"

static enum idp_status verify_token(const char *token, EVP_PKEY *key, struct idp_error *err)
{
    struct idp_jwt jwt;
    enum idp_status st = idp_jwt_decode(token, &jwt, err);
    if (st != IDP_OK)
        fail_msg("decode failed (%s) for %s", err->message, token);
    st = idp_jwt_verify_rs256(&jwt, key, err);
    idp_jwt_cleanup(&jwt);
    return st;
}

static void expect_parse_error(const char *token)
{
    struct idp_jwt jwt;
    memset(&jwt, 0, sizeof(jwt));
    struct idp_error err = {0};
    enum idp_status st = idp_jwt_decode(token, &jwt, &err);
    if (st != IDP_PARSE) {
        if (st == IDP_OK)
            idp_jwt_cleanup(&jwt);
        fail_msg("decoding \"%s\": status %d, expected IDP_PARSE", token, (int)st);
    }
    assert_string_not_equal(err.message, "");
}

/* --- positive ----------------------------------------------------------------- */

static void test_rs256_token_verifies_with_signing_key(void **state)
{
    (void)state;
    char *token = sign_rs256(HEADER, PAYLOAD);
    struct idp_jwt jwt;
    struct idp_error err = {0};
    assert_int_equal(idp_jwt_decode(token, &jwt, &err), IDP_OK);
    assert_string_equal(json_string_value(json_object_get(jwt.header, "alg")), "RS256");
    assert_string_equal(json_string_value(json_object_get(jwt.payload, "sub")), "user_01");
    assert_int_equal(json_integer_value(json_object_get(jwt.payload, "exp")), 1768478700);
    assert_int_equal(idp_jwt_verify_rs256(&jwt, signing_key, &err), IDP_OK);
    idp_jwt_cleanup(&jwt);
    free(token);
}

static void test_rs256_token_verifies_with_public_key_from_jwk(void **state)
{
    (void)state;
    char *token = sign_rs256(HEADER, PAYLOAD);
    EVP_PKEY *pub = public_key();
    struct idp_error err = {0};
    assert_int_equal(verify_token(token, pub, &err), IDP_OK);
    EVP_PKEY_free(pub);
    free(token);
}

static void test_encode_serializes_compactly_in_insertion_order(void **state)
{
    (void)state;
    /* Keys deliberately out of alphabetical order. */
    char *token = sign_rs256("{\"typ\":\"JWT\", \"kid\":\"k1\", \"alg\":\"RS256\"}",
                             "{\"z\":1, \"a\":[1, 2], \"m\":{\"y\":true, \"b\":null}}");
    const char *dot1 = strchr(token, '.');
    const char *dot2 = strchr(dot1 + 1, '.');
    size_t len = 0;
    unsigned char *header = idp_base64url_decode(token, (size_t)(dot1 - token), &len);
    assert_non_null(header);
    assert_int_equal(len, strlen("{\"typ\":\"JWT\",\"kid\":\"k1\",\"alg\":\"RS256\"}"));
    assert_memory_equal(header, "{\"typ\":\"JWT\",\"kid\":\"k1\",\"alg\":\"RS256\"}", len);
    unsigned char *payload =
        idp_base64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &len);
    assert_non_null(payload);
    const char *want = "{\"z\":1,\"a\":[1,2],\"m\":{\"y\":true,\"b\":null}}";
    assert_int_equal(len, strlen(want));
    assert_memory_equal(payload, want, len);
    free(header);
    free(payload);
    free(token);
}

static void test_decode_exposes_signing_input_and_signature(void **state)
{
    (void)state;
    char *token = sign_rs256(HEADER, PAYLOAD);
    struct idp_jwt jwt;
    struct idp_error err = {0};
    assert_int_equal(idp_jwt_decode(token, &jwt, &err), IDP_OK);
    const char *dot2 = strrchr(token, '.');
    assert_int_equal(strlen(jwt.signing_input), (size_t)(dot2 - token));
    assert_memory_equal(jwt.signing_input, token, (size_t)(dot2 - token));
    assert_int_equal(jwt.signature_len, 256); /* RSA-2048 */
    idp_jwt_cleanup(&jwt);
    free(token);
}

static void test_hs256_signature_is_hmac_sha256_of_signing_input(void **state)
{
    (void)state;
    json_t *header = json_pack("{s:s, s:s}", "alg", "HS256", "typ", "JWT");
    json_t *payload = json_pack("{s:s}", "sub", "user_01");
    const unsigned char secret[] = "hmac-secret-for-unit-tests";
    struct idp_error err = {0};
    char *token = idp_jwt_encode(header, payload, IDP_JWT_HS256, NULL, secret,
                                 sizeof(secret) - 1, &err);
    assert_non_null(token);
    const char *dot2 = strrchr(token, '.');
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), secret, (int)(sizeof(secret) - 1), (const unsigned char *)token,
         (size_t)(dot2 - token), mac, &mac_len);
    char *expected = idp_base64url_encode(mac, mac_len);
    assert_string_equal(dot2 + 1, expected);
    free(expected);
    free(token);
    json_decref(header);
    json_decref(payload);
}

static void test_alg_none_token_has_empty_signature_and_still_decodes(void **state)
{
    (void)state;
    json_t *header = json_pack("{s:s}", "alg", "none");
    json_t *payload = json_pack("{s:s}", "sub", "user_01");
    struct idp_error err = {0};
    char *token = idp_jwt_encode(header, payload, IDP_JWT_NONE, NULL, NULL, 0, &err);
    assert_non_null(token);
    assert_int_equal(token[strlen(token) - 1], '.');
    struct idp_jwt jwt;
    assert_int_equal(idp_jwt_decode(token, &jwt, &err), IDP_OK);
    assert_int_equal(jwt.signature_len, 0);
    idp_jwt_cleanup(&jwt);
    free(token);
    json_decref(header);
    json_decref(payload);
}

static void test_jwk_public_key_matches_the_private_key(void **state)
{
    (void)state;
    EVP_PKEY *pub = public_key();
    assert_int_equal(EVP_PKEY_get_base_id(pub), EVP_PKEY_RSA);
    assert_int_equal(EVP_PKEY_eq(pub, signing_key), 1);
    EVP_PKEY_free(pub);
}

/* --- negative: verification ----------------------------------------------------- */

static void test_verify_with_wrong_key_fails(void **state)
{
    (void)state;
    char *token = sign_rs256(HEADER, PAYLOAD);
    size_t n_len;
    unsigned char *n = modulus(&n_len);
    struct idp_error err = {0};

    /* Same modulus, different exponent. */
    json_t *jwk = jwk_for(n, n_len, 3);
    EVP_PKEY *other_e = idp_jwk_public_key(jwk, &err);
    assert_non_null(other_e);
    assert_int_not_equal(verify_token(token, other_e, &err), IDP_OK);
    EVP_PKEY_free(other_e);
    json_decref(jwk);

    /* Different modulus (one bit flipped in the middle). */
    n[n_len / 2] ^= 0x10;
    jwk = jwk_for(n, n_len, 65537);
    EVP_PKEY *other_n = idp_jwk_public_key(jwk, &err);
    assert_non_null(other_n);
    assert_int_not_equal(verify_token(token, other_n, &err), IDP_OK);
    EVP_PKEY_free(other_n);
    json_decref(jwk);
    free(n);
    free(token);
}

static void test_verify_without_an_rsa_key_fails(void **state)
{
    (void)state;
    char *token = sign_rs256(HEADER, PAYLOAD);
    struct idp_error err = {0};
    assert_int_not_equal(verify_token(token, NULL, &err), IDP_OK);
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    assert_non_null(ec);
    assert_int_not_equal(verify_token(token, ec, &err), IDP_OK);
    EVP_PKEY_free(ec);
    free(token);
}

static void test_verify_rejects_alg_none(void **state)
{
    (void)state;
    json_t *header = json_pack("{s:s, s:s}", "alg", "none", "typ", "JWT");
    json_t *payload = json_loads(PAYLOAD, 0, NULL);
    struct idp_error err = {0};
    char *token = idp_jwt_encode(header, payload, IDP_JWT_NONE, NULL, NULL, 0, &err);
    assert_non_null(token);
    assert_int_not_equal(verify_token(token, signing_key, &err), IDP_OK);
    /* "None" / "NONE" are alg none too, for a lenient verifier. */
    char *upper = make_token("{\"alg\":\"NONE\"}", PAYLOAD, "");
    assert_int_not_equal(verify_token(upper, signing_key, &err), IDP_OK);
    free(upper);
    free(token);
    json_decref(header);
    json_decref(payload);
}

static void test_verify_rejects_hs256_keyed_with_the_public_key(void **state)
{
    (void)state;
    /* The classic confusion: HMAC keyed with the PEM text of the public key. */
    char *pem = idp_pem_public(signing_key);
    assert_non_null(pem);
    json_t *header = json_pack("{s:s, s:s}", "alg", "HS256", "typ", "JWT");
    json_t *payload = json_loads(PAYLOAD, 0, NULL);
    struct idp_error err = {0};
    char *token = idp_jwt_encode(header, payload, IDP_JWT_HS256, NULL,
                                 (const unsigned char *)pem, strlen(pem), &err);
    assert_non_null(token);
    assert_int_not_equal(verify_token(token, signing_key, &err), IDP_OK);
    EVP_PKEY *pub = public_key();
    assert_int_not_equal(verify_token(token, pub, &err), IDP_OK);
    EVP_PKEY_free(pub);
    free(token);
    free(pem);
    json_decref(header);
    json_decref(payload);
}

static void test_verify_rejects_missing_or_miscased_alg_even_if_rs256_signed(void **state)
{
    (void)state;
    /* Genuine RS256 signatures; only the header's alg is wrong. */
    const char *headers[] = {
        "{\"typ\":\"JWT\"}",
        "{\"alg\":\"rs256\"}",
        "{\"alg\":\"RS256 \"}",
        "{\"alg\":\"RS512\"}",
        "{\"alg\":256}",
        "{\"alg\":null}",
    };
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        char *token = sign_rs256(headers[i], PAYLOAD);
        struct idp_error err = {0};
        if (verify_token(token, signing_key, &err) == IDP_OK)
            fail_msg("header %s accepted", headers[i]);
        free(token);
    }
}

static void test_tampered_payload_fails_verification(void **state)
{
    (void)state;
    char *token = sign_rs256(HEADER, PAYLOAD);
    char *dot1 = strchr(token, '.');
    char *dot2 = strchr(dot1 + 1, '.');
    char *evil = b64url_text("{\"sub\":\"user_02\",\"sid\":\"session_01\",\"exp\":1768478700}");
    size_t len = (size_t)(dot1 - token) + strlen(evil) + strlen(dot2) + 2;
    char *tampered = malloc(len);
    snprintf(tampered, len, "%.*s.%s%s", (int)(dot1 - token), token, evil, dot2);
    struct idp_error err = {0};
    assert_int_not_equal(verify_token(tampered, signing_key, &err), IDP_OK);
    free(tampered);
    free(evil);
    free(token);
}

static void test_tampered_header_fails_verification(void **state)
{
    (void)state;
    char *token = sign_rs256(HEADER, PAYLOAD);
    char *dot1 = strchr(token, '.');
    char *evil = b64url_text("{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"attacker\"}");
    size_t len = strlen(evil) + strlen(dot1) + 1;
    char *tampered = malloc(len);
    snprintf(tampered, len, "%s%s", evil, dot1);
    struct idp_error err = {0};
    assert_int_not_equal(verify_token(tampered, signing_key, &err), IDP_OK);
    free(tampered);
    free(evil);
    free(token);
}

static void test_tampered_or_truncated_signature_fails_verification(void **state)
{
    (void)state;
    char *token = sign_rs256(HEADER, PAYLOAD);
    char *sig = strrchr(token, '.') + 1;
    struct idp_error err = {0};

    /* One character in the middle of the signature changed. */
    char *flipped = strdup(token);
    char *c = flipped + (sig - token) + strlen(sig) / 2;
    *c = *c == 'A' ? 'B' : 'A';
    assert_int_not_equal(verify_token(flipped, signing_key, &err), IDP_OK);
    free(flipped);

    /* Signature cut short (to a valid base64url length). */
    char *cut = strdup(token);
    cut[(sig - token) + 200] = '\0';
    assert_int_not_equal(verify_token(cut, signing_key, &err), IDP_OK);
    free(cut);

    /* Signature removed, header still claiming RS256. */
    char *empty = strdup(token);
    empty[sig - token] = '\0';
    assert_int_not_equal(verify_token(empty, signing_key, &err), IDP_OK);
    free(empty);
    free(token);
}

/* --- negative: decoding -------------------------------------------------------- */

static void test_decode_rejects_wrong_segment_count(void **state)
{
    (void)state;
    char *token = sign_rs256(HEADER, PAYLOAD);
    char *two = strdup(token);
    *strrchr(two, '.') = '\0'; /* header.payload */
    expect_parse_error(two);
    size_t len = strlen(token) + 8;
    char *four = malloc(len);
    snprintf(four, len, "%s.AAAA", token);
    expect_parse_error(four);
    expect_parse_error("");
    expect_parse_error("eyJhbGciOiJSUzI1NiJ9");
    expect_parse_error("...");
    expect_parse_error("a.b.c.d.e");
    free(two);
    free(four);
    free(token);
}

static void test_decode_rejects_bad_base64url(void **state)
{
    (void)state;
    char *h = b64url_text(HEADER), *p = b64url_text(PAYLOAD);
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s!.%s.", h, p); /* '!' in header */
    expect_parse_error(buf);
    snprintf(buf, sizeof(buf), "%s.%s=.", h, p); /* padding in payload */
    expect_parse_error(buf);
    snprintf(buf, sizeof(buf), "%s.%s.ab+/", h, p); /* standard alphabet in signature */
    expect_parse_error(buf);
    snprintf(buf, sizeof(buf), "%s.%s.abcde", h, p); /* impossible signature length */
    expect_parse_error(buf);
    snprintf(buf, sizeof(buf), "%s.%s.AAAA\n", h, p); /* trailing newline */
    expect_parse_error(buf);
    free(h);
    free(p);
}

static void test_decode_rejects_json_that_is_not_an_object(void **state)
{
    (void)state;
    const char *not_objects[] = {"[]", "[{\"alg\":\"RS256\"}]", "42", "\"RS256\"", "null",
                                 "true", "{", "{\"alg\":\"RS256\"", "", "{} {}"};
    for (size_t i = 0; i < sizeof(not_objects) / sizeof(not_objects[0]); i++) {
        char *bad_header = make_token(not_objects[i], PAYLOAD, "");
        expect_parse_error(bad_header);
        free(bad_header);
        char *bad_payload = make_token(HEADER, not_objects[i], "");
        expect_parse_error(bad_payload);
        free(bad_payload);
    }
}

static void test_decode_rejects_duplicate_keys(void **state)
{
    (void)state;
    char *dup_header = make_token("{\"alg\":\"RS256\",\"alg\":\"none\"}", PAYLOAD, "");
    expect_parse_error(dup_header);
    char *dup_payload = make_token(HEADER, "{\"sub\":\"user_01\",\"sub\":\"user_02\"}", "");
    expect_parse_error(dup_payload);
    free(dup_header);
    free(dup_payload);
}

static void test_jwk_public_key_rejects_unusable_jwks(void **state)
{
    (void)state;
    size_t n_len;
    unsigned char *n = modulus(&n_len);
    json_t *good = jwk_for(n, n_len, 65537);
    free(n);
    const char *n64 = json_string_value(json_object_get(good, "n"));

    json_t *cases[] = {
        json_pack("{s:s, s:s}", "n", n64, "e", "AQAB"),                      /* no kty */
        json_pack("{s:s, s:s, s:s}", "kty", "EC", "n", n64, "e", "AQAB"),    /* not RSA */
        json_pack("{s:s, s:s, s:s}", "kty", "rsa", "n", n64, "e", "AQAB"),   /* case */
        json_pack("{s:s, s:s}", "kty", "RSA", "e", "AQAB"),                  /* no n */
        json_pack("{s:s, s:s}", "kty", "RSA", "n", n64),                     /* no e */
        json_pack("{s:s, s:s, s:s}", "kty", "RSA", "n", "not base64url!", "e", "AQAB"),
        json_pack("{s:s, s:s, s:s}", "kty", "RSA", "n", n64, "e", "AQA="),
        json_pack("{s:s, s:i, s:s}", "kty", "RSA", "n", 12345, "e", "AQAB"), /* n not text */
        json_array(),
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct idp_error err = {0};
        assert_non_null(cases[i]);
        EVP_PKEY *k = idp_jwk_public_key(cases[i], &err);
        if (k) {
            EVP_PKEY_free(k);
            fail_msg("JWK case %zu accepted", i);
        }
        assert_string_not_equal(err.message, "");
        json_decref(cases[i]);
    }
    json_decref(good);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rs256_token_verifies_with_signing_key),
        cmocka_unit_test(test_rs256_token_verifies_with_public_key_from_jwk),
        cmocka_unit_test(test_encode_serializes_compactly_in_insertion_order),
        cmocka_unit_test(test_decode_exposes_signing_input_and_signature),
        cmocka_unit_test(test_hs256_signature_is_hmac_sha256_of_signing_input),
        cmocka_unit_test(test_alg_none_token_has_empty_signature_and_still_decodes),
        cmocka_unit_test(test_jwk_public_key_matches_the_private_key),
        cmocka_unit_test(test_verify_with_wrong_key_fails),
        cmocka_unit_test(test_verify_without_an_rsa_key_fails),
        cmocka_unit_test(test_verify_rejects_alg_none),
        cmocka_unit_test(test_verify_rejects_hs256_keyed_with_the_public_key),
        cmocka_unit_test(test_verify_rejects_missing_or_miscased_alg_even_if_rs256_signed),
        cmocka_unit_test(test_tampered_payload_fails_verification),
        cmocka_unit_test(test_tampered_header_fails_verification),
        cmocka_unit_test(test_tampered_or_truncated_signature_fails_verification),
        cmocka_unit_test(test_decode_rejects_wrong_segment_count),
        cmocka_unit_test(test_decode_rejects_bad_base64url),
        cmocka_unit_test(test_decode_rejects_json_that_is_not_an_object),
        cmocka_unit_test(test_decode_rejects_duplicate_keys),
        cmocka_unit_test(test_jwk_public_key_rejects_unusable_jwks),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
