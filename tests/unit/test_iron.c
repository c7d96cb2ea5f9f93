/* iron "Fe26.2" seals: round trips, iron's field layout and error messages,
 * seals made by iron-webcrypto 1.2.1 and iron-session 8.0.4 (known answers),
 * and rejection of wrong passwords, tampering, expiry and malformed input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "encoding.h"
#include "iron.h"

#define PASSWORD "fakeidp-unit-test-password-0123456789"
#define OTHER_PASSWORD "fakeidp-unit-test-password-0123456788"
#define NOW 1700000000000LL
#define PAYLOAD "{\"sub\":\"user_01\",\"n\":1}"

/* Known answers, generated with node 20 from tests/interop/iron:
 *   const pw = 'fakeidp-known-answer-password-0123456789';
 *   Iron.seal(crypto, KAT_OBJECT, pw, Iron.defaults)      -> KAT_WEBCRYPTO
 *   sealData(KAT_OBJECT, { password: pw, ttl: 0 })         -> KAT_SESSION
 *   sealData({ sid: 'kat-ttl' }, { password: pw, ttl: 3600 }) -> KAT_TTL
 * KAT_JSON is JSON.stringify(KAT_OBJECT), as UTF-8. */
#define KAT_PASSWORD "fakeidp-known-answer-password-0123456789"
#define KAT_JSON                                                               \
    "{\"user\":{\"id\":\"user_01KAT\",\"email\":\"kat@example.com\"},"         \
    "\"accessToken\":\"at-\xc3\xa9\xe2\x9c\x93\",\"n\":42}"
static const char KAT_WEBCRYPTO[] =
    "Fe26.2**e2a8bcf424f81476c130781e6de45b6495ed1c1ec39b795aa2f4e80325facd45*"
    "VraH0t5D_w_LVc9rfYwFCw*ZpclUE902guywFpCw5kw9ddop8kXU2r77P7945y1lolIbS_4jc"
    "A22xBo34sUziaFxf6PbZPXbYX69DxDyBSCNIWNHdo-yet5za_EF6KKoRpCUUu3ACOclHmrwhM"
    "u2RhK**b8ec5bcd19462bb2916fff57a9c3df71c94a483088cbea8d15c6a817dd532e31*08"
    "czNkZaveaDWS9G0mLNqBeOu950wQOUF_k1aEpyrlY";
static const char KAT_SESSION[] =
    "Fe26.2*1*8325549151adc441e96b4ce2c195bd9efcb9f0b8ea4730d47aa2736c542a6e01"
    "*I8T8Axdl03DO0uqE6def5A*_9FQQzvGoYe6t-ef1AHQbZe8BidDOskESKKayCRQZNJPGKouh"
    "4DtT_rp6Sd5fChtvXZdVDNgsEOVrinvHTB48xUoKWnysO4iBApvn1K7VNFvedJc0wXPi03kj1"
    "PKGHbW**2f60296144eb27fd9b653b7fef280ed15bc503e8ff83c31a4c052fe6cdd6117a*"
    "0kb1AcKHr7SKxQGn_GYEQv0KrP-LNtCI73KZRCpQ0SI~2";
static const char KAT_TTL[] =
    "Fe26.2*1*b16dc1dcb84844bd256402ee6239d872bb9441a24b2b8364d51acd6721d4a7c6"
    "*fLNPrwhG4j_b5tJWS9LWaw*l_mmoj6-QWlF9l08t_Rrc1cqe_UPdpzTJlAARvu4WS4*17957"
    "90543401*7207ddc67d832ba6c696ff387599b673c8b747fef3e93e3ecaa2639d783a422b"
    "*jP5DY4iccqGuYT8nZ_uVNU8qN_7aTm0ulycEH0UXN0Y~2";
#define KAT_TTL_EXP 1795790543401LL
#define KAT_TTL_JSON "{\"sid\":\"kat-ttl\"}"

static char *seal_str(const char *password, const char *payload, int64_t now,
                      int64_t ttl)
{
    struct idp_error err = {0};
    char *s = idp_iron_seal(password, (const unsigned char *)payload,
                            strlen(payload), now, ttl, &err);
    assert_non_null(s);
    return s;
}

/* Unseals and returns the status; on success checks the payload is
 * `expected` (when not NULL) and NUL-terminated. */
static enum idp_status unseal_expect(const char *password, const char *sealed,
                                     int64_t now, const char *expected,
                                     struct idp_error *err)
{
    unsigned char *out = NULL;
    size_t len = 0;
    enum idp_status st =
        idp_iron_unseal(password, sealed, now, &out, &len, err);
    if (st == IDP_OK) {
        assert_non_null(out);
        assert_int_equal(out[len], '\0');
        if (expected) {
            assert_int_equal(len, strlen(expected));
            assert_memory_equal(out, expected, len);
        }
        free(out);
    } else {
        assert_null(out);
        assert_int_equal(len, 0);
    }
    return st;
}

static void assert_unseal_fails(const char *password, const char *sealed,
                                int64_t now, enum idp_status status,
                                const char *message)
{
    struct idp_error err = {0};
    assert_int_equal(unseal_expect(password, sealed, now, NULL, &err), status);
    assert_string_equal(err.message, message);
}

/* Replaces '*'-separated field `index` of a seal (without touching the "~2"
 * suffix) by `value`; returns a malloc'd string. */
static char *replace_field(const char *sealed, int index, const char *value)
{
    size_t cap = strlen(sealed) + strlen(value) + 1;
    char *out = calloc(1, cap);
    assert_non_null(out);
    const char *p = sealed;
    for (int i = 0; i < index; i++) {
        p = strchr(p, '*');
        assert_non_null(p);
        p++;
    }
    const char *end = p + strcspn(p, "*~");
    memcpy(out, sealed, (size_t)(p - sealed));
    strcat(out, value);
    strcat(out, end);
    return out;
}

/* Copies field `index` of a seal into buf. */
static void get_field(const char *sealed, int index, char *buf, size_t size)
{
    const char *p = sealed;
    for (int i = 0; i < index; i++) {
        p = strchr(p, '*');
        assert_non_null(p);
        p++;
    }
    size_t n = strcspn(p, "*~");
    assert_true(n < size);
    memcpy(buf, p, n);
    buf[n] = '\0';
}

/* Builds "Fe26.2*1*<salt>*<iv>*<ct>**<salt>*<mac>" with a correct MAC under
 * `password`, so the checks after MAC verification can be reached. */
static char *forge(const char *password, const char *iv, const char *ct)
{
    static const char salt[] =
        "00000000000000000000000000000000000000000000000000000000000000aa";
    char base[512];
    snprintf(base, sizeof(base), "Fe26.2*1*%s*%s*%s*", salt, iv, ct);
    unsigned char key[32], mac[32];
    unsigned int mac_len = 0;
    assert_int_equal(PKCS5_PBKDF2_HMAC(password, (int)strlen(password),
                                       (const unsigned char *)salt,
                                       (int)strlen(salt), 1, EVP_sha1(), 32,
                                       key),
                     1);
    assert_non_null(HMAC(EVP_sha256(), key, 32, (const unsigned char *)base,
                         strlen(base), mac, &mac_len));
    char *mac_b64 = idp_base64url_encode(mac, mac_len);
    assert_non_null(mac_b64);
    size_t size = strlen(base) + strlen(salt) + strlen(mac_b64) + 3;
    char *out = malloc(size);
    assert_non_null(out);
    snprintf(out, size, "%s*%s*%s", base, salt, mac_b64);
    free(mac_b64);
    return out;
}

/* ---- behaviour that must work ---- */

static void test_seal_then_unseal_roundtrips(void **state)
{
    char *s = seal_str(PASSWORD, PAYLOAD, NOW, 0);
    struct idp_error err = {0};
    assert_int_equal(unseal_expect(PASSWORD, s, NOW, PAYLOAD, &err), IDP_OK);
    /* No expiration: any clock opens it. */
    assert_int_equal(unseal_expect(PASSWORD, s, INT64_MAX, PAYLOAD, &err),
                     IDP_OK);
    free(s);
}

static void test_binary_and_block_boundary_payloads_roundtrip(void **state)
{
    static const size_t sizes[] = {0, 1, 15, 16, 17, 31, 32, 33, 4096, 10001};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        size_t n = sizes[k];
        unsigned char *data = malloc(n + 1);
        assert_non_null(data);
        for (size_t i = 0; i < n; i++)
            data[i] = (unsigned char)(i * 7); /* includes NUL bytes */
        struct idp_error err = {0};
        char *s = idp_iron_seal(PASSWORD, data, n, NOW, 0, &err);
        assert_non_null(s);
        unsigned char *out = NULL;
        size_t len = 99;
        assert_int_equal(idp_iron_unseal(PASSWORD, s, NOW, &out, &len, &err),
                         IDP_OK);
        assert_int_equal(len, n);
        if (n)
            assert_memory_equal(out, data, n);
        assert_int_equal(out[n], '\0');
        free(out);
        free(s);
        free(data);
    }
}

/* Password rotation: the seal names its password id; any id opens with the
 * right secret (the caller picks the secret by id); bad ids are refused. */
static void test_seal_with_password_id(void **state)
{
    (void)state;
    char *sealed = idp_iron_seal_id(PASSWORD, "2", (const unsigned char *)PAYLOAD,
                                    strlen(PAYLOAD), NOW, 0, NULL);
    assert_non_null(sealed);
    assert_true(strncmp(sealed, "Fe26.2*2*", 9) == 0);
    char id[16];
    assert_true(idp_iron_password_id(sealed, id, sizeof(id)));
    assert_string_equal(id, "2");
    unsigned char *out = NULL;
    size_t len = 0;
    assert_int_equal(idp_iron_unseal(PASSWORD, sealed, NOW, &out, &len, NULL), IDP_OK);
    assert_memory_equal(out, PAYLOAD, strlen(PAYLOAD));
    free(out);
    assert_int_not_equal(idp_iron_unseal(OTHER_PASSWORD, sealed, NOW, &out, &len, NULL), IDP_OK);
    free(sealed);
    struct idp_error err;
    assert_null(idp_iron_seal_id(PASSWORD, "a*b", (const unsigned char *)"x", 1, NOW, 0, &err));
    assert_string_equal(err.message, "Invalid password id");
    assert_null(idp_iron_seal_id(PASSWORD, "", (const unsigned char *)"x", 1, NOW, 0, &err));
    assert_false(idp_iron_password_id("not-a-seal", id, sizeof(id)));
    assert_false(idp_iron_password_id("Fe26.2*12345678901234567890*x", id, 8));
}

static void test_field_lengths_match_iron(void **state)
{
    /* 23 bytes of payload -> 32 bytes of ciphertext -> 43 base64url chars. */
    char *s = seal_str(PASSWORD, PAYLOAD, NOW, 0);
    static const size_t expected[8] = {6, 1, 64, 22, 43, 0, 64, 43};
    char field[128];
    for (int i = 0; i < 8; i++) {
        get_field(s, i, field, sizeof(field));
        assert_int_equal(strlen(field), expected[i]);
    }
    assert_int_equal(strncmp(s, "Fe26.2*1*", 9), 0);
    size_t len = strlen(s);
    assert_string_equal(s + len - 2, "~2");
    /* Exactly seven separators and one version suffix. */
    size_t stars = 0;
    for (size_t i = 0; i < len; i++)
        stars += s[i] == '*';
    assert_int_equal(stars, 7);
    /* Salts are lowercase hex; the others are base64url without padding. */
    get_field(s, 2, field, sizeof(field));
    assert_int_equal(strspn(field, "0123456789abcdef"), 64);
    get_field(s, 6, field, sizeof(field));
    assert_int_equal(strspn(field, "0123456789abcdef"), 64);
    assert_null(strchr(s, '='));
    free(s);
}

static void test_seal_with_ttl_writes_now_plus_ttl(void **state)
{
    char *s = seal_str(PASSWORD, PAYLOAD, NOW, 3600000);
    char field[32];
    get_field(s, 5, field, sizeof(field));
    assert_string_equal(field, "1700003600000");
    free(s);
}

static void test_seals_of_same_payload_differ(void **state)
{
    char *a = seal_str(PASSWORD, PAYLOAD, NOW, 0);
    char *b = seal_str(PASSWORD, PAYLOAD, NOW, 0);
    char fa[128], fb[128];
    for (int i = 2; i <= 4; i++) { /* salt, iv, ciphertext */
        get_field(a, i, fa, sizeof(fa));
        get_field(b, i, fb, sizeof(fb));
        assert_string_not_equal(fa, fb);
    }
    get_field(a, 6, fa, sizeof(fa));
    get_field(b, 6, fb, sizeof(fb));
    assert_string_not_equal(fa, fb);
    free(a);
    free(b);
}

static void test_expiry_within_skew_accepted(void **state)
{
    char *s = seal_str(PASSWORD, PAYLOAD, NOW, 1000);
    struct idp_error err = {0};
    int64_t exp = NOW + 1000;
    assert_int_equal(unseal_expect(PASSWORD, s, NOW, PAYLOAD, &err), IDP_OK);
    assert_int_equal(unseal_expect(PASSWORD, s, exp, PAYLOAD, &err), IDP_OK);
    assert_int_equal(unseal_expect(PASSWORD, s, exp + 59999, PAYLOAD, &err),
                     IDP_OK);
    free(s);
}

static void test_known_answer_iron_webcrypto_seal_unseals(void **state)
{
    /* Empty password id, no "~2" suffix. */
    struct idp_error err = {0};
    assert_int_equal(unseal_expect(KAT_PASSWORD, KAT_WEBCRYPTO, NOW, KAT_JSON,
                                   &err),
                     IDP_OK);
}

static void test_known_answer_iron_session_seal_unseals(void **state)
{
    /* Password id "1" and the "~2" suffix. */
    struct idp_error err = {0};
    assert_int_equal(
        unseal_expect(KAT_PASSWORD, KAT_SESSION, NOW, KAT_JSON, &err), IDP_OK);
}

static void test_known_answer_with_ttl_honours_skew(void **state)
{
    struct idp_error err = {0};
    assert_int_equal(unseal_expect(KAT_PASSWORD, KAT_TTL, KAT_TTL_EXP - 3600000,
                                   KAT_TTL_JSON, &err),
                     IDP_OK);
    assert_int_equal(unseal_expect(KAT_PASSWORD, KAT_TTL, KAT_TTL_EXP + 59999,
                                   KAT_TTL_JSON, &err),
                     IDP_OK);
    assert_unseal_fails(KAT_PASSWORD, KAT_TTL, KAT_TTL_EXP + 60000,
                        IDP_EXPIRED, "Expired seal");
}

static void test_any_version_suffix_or_none_accepted(void **state)
{
    char *s = seal_str(PASSWORD, PAYLOAD, NOW, 0);
    size_t len = strlen(s);
    char *buf = malloc(len + 8);
    assert_non_null(buf);
    static const char *suffixes[] = {"", "~1", "~3", "~", "~x~y"};
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        memcpy(buf, s, len - 2);
        strcpy(buf + len - 2, suffixes[i]);
        struct idp_error err = {0};
        assert_int_equal(unseal_expect(PASSWORD, buf, NOW, PAYLOAD, &err),
                         IDP_OK);
    }
    free(buf);
    free(s);
}

static void test_multibyte_password_of_32_characters_accepted(void **state)
{
    /* 32 "é" = 32 characters (64 bytes): long enough, as in iron. */
    char pw[65];
    for (int i = 0; i < 32; i++)
        memcpy(pw + 2 * i, "\xc3\xa9", 2);
    pw[64] = '\0';
    char *s = seal_str(pw, PAYLOAD, NOW, 0);
    struct idp_error err = {0};
    assert_int_equal(unseal_expect(pw, s, NOW, PAYLOAD, &err), IDP_OK);
    free(s);
}

/* ---- behaviour that must fail ---- */

static void test_unseal_with_wrong_password_is_bad_hmac(void **state)
{
    char *s = seal_str(PASSWORD, PAYLOAD, NOW, 0);
    assert_unseal_fails(OTHER_PASSWORD, s, NOW, IDP_DENIED, "Bad hmac value");
    assert_unseal_fails(OTHER_PASSWORD, KAT_SESSION, NOW, IDP_DENIED,
                        "Bad hmac value");
    assert_unseal_fails(OTHER_PASSWORD, KAT_WEBCRYPTO, NOW, IDP_DENIED,
                        "Bad hmac value");
    free(s);
}

static void test_tampered_ciphertext_rejected(void **state)
{
    char *s = seal_str(PASSWORD, PAYLOAD, NOW, 0);
    char field[128];
    get_field(s, 4, field, sizeof(field));
    field[0] = field[0] == 'A' ? 'B' : 'A';
    char *t = replace_field(s, 4, field);
    assert_unseal_fails(PASSWORD, t, NOW, IDP_DENIED, "Bad hmac value");
    free(t);
    free(s);
}

static void test_every_single_character_change_rejected(void **state)
{
    char *s = seal_str(PASSWORD, PAYLOAD, NOW, 0);
    size_t len = strlen(s) - 2; /* the "~2" suffix is not authenticated */
    for (size_t i = 0; i < len; i++) {
        char saved = s[i];
        s[i] = saved == 'a' ? 'b' : 'a';
        struct idp_error err = {0};
        assert_int_not_equal(unseal_expect(PASSWORD, s, NOW, NULL, &err),
                             IDP_OK);
        s[i] = saved;
    }
    free(s);
}

static void test_fields_swapped_between_seals_rejected(void **state)
{
    char *a = seal_str(PASSWORD, PAYLOAD, NOW, 0);
    char *b = seal_str(PASSWORD, PAYLOAD, NOW, 0);
    char field[128];
    for (int i = 2; i < 8; i++) {
        if (i == 5)
            continue; /* both empty, as the password ids are both "1" */
        get_field(b, i, field, sizeof(field));
        char *t = replace_field(a, i, field);
        assert_unseal_fails(PASSWORD, t, NOW, IDP_DENIED, "Bad hmac value");
        free(t);
    }
    free(a);
    free(b);
}

static void test_expiration_added_or_changed_rejected(void **state)
{
    /* Adding an expiration to a session seal breaks its MAC... */
    char *s = seal_str(PASSWORD, PAYLOAD, NOW, 0);
    char *t = replace_field(s, 5, "9999999999999");
    assert_unseal_fails(PASSWORD, t, NOW, IDP_DENIED, "Bad hmac value");
    free(t);
    free(s);
    /* ...and so does extending one. */
    s = seal_str(PASSWORD, PAYLOAD, NOW, 1000);
    t = replace_field(s, 5, "1700009999999");
    assert_unseal_fails(PASSWORD, t, NOW, IDP_DENIED, "Bad hmac value");
    free(t);
    free(s);
}

static void test_expired_seal_rejected_after_60s_skew(void **state)
{
    char *s = seal_str(PASSWORD, PAYLOAD, NOW, 1000);
    int64_t exp = NOW + 1000;
    assert_unseal_fails(PASSWORD, s, exp + 60000, IDP_EXPIRED, "Expired seal");
    assert_unseal_fails(PASSWORD, s, INT64_MAX, IDP_EXPIRED, "Expired seal");
    /* Expiry is checked before the MAC, as iron does. */
    assert_unseal_fails(OTHER_PASSWORD, s, exp + 60000, IDP_EXPIRED,
                        "Expired seal");
    free(s);
}

static void test_short_password_rejected_on_seal_and_unseal(void **state)
{
    static const char *msg =
        "Password string too short (min 32 characters required)";
    const char *short_pw = "0123456789012345678901234567890"; /* 31 */
    /* 16 "é": 32 bytes but 16 characters, which iron counts. */
    char multibyte[33];
    for (int i = 0; i < 16; i++)
        memcpy(multibyte + 2 * i, "\xc3\xa9", 2);
    multibyte[32] = '\0';
    const char *pws[] = {short_pw, "x", multibyte};
    for (size_t i = 0; i < 3; i++) {
        struct idp_error err = {0};
        assert_null(idp_iron_seal(pws[i], (const unsigned char *)"x", 1, NOW, 0,
                                  &err));
        assert_int_equal(err.status, IDP_INVALID);
        assert_string_equal(err.message, msg);
        assert_unseal_fails(pws[i], KAT_SESSION, NOW, IDP_INVALID, msg);
    }
}

static void test_empty_password_rejected(void **state)
{
    const char *pws[] = {"", NULL};
    for (size_t i = 0; i < 2; i++) {
        struct idp_error err = {0};
        assert_null(idp_iron_seal(pws[i], (const unsigned char *)"x", 1, NOW, 0,
                                  &err));
        assert_string_equal(err.message, "Empty password");
        assert_unseal_fails(pws[i], KAT_SESSION, NOW, IDP_INVALID,
                            "Empty password");
    }
}

static void test_wrong_prefix_rejected(void **state)
{
    static const char *prefixes[] = {"Fe26.1", "Fe26.3", "fe26.2", "Fe26.2 ",
                                     "", "Fe26"};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        char *t = replace_field(KAT_SESSION, 0, prefixes[i]);
        assert_unseal_fails(KAT_PASSWORD, t, NOW, IDP_PARSE,
                            "Wrong mac prefix");
        free(t);
    }
}

static void test_wrong_component_count_rejected(void **state)
{
    static const char *msg = "Incorrect number of sealed components";
    assert_unseal_fails(PASSWORD, "", NOW, IDP_PARSE, msg);
    assert_unseal_fails(PASSWORD, "Fe26.2", NOW, IDP_PARSE, msg);
    assert_unseal_fails(PASSWORD, "Fe26.2******", NOW, IDP_PARSE, msg);
    assert_unseal_fails(PASSWORD, "Fe26.2********", NOW, IDP_PARSE, msg);
    assert_unseal_fails(PASSWORD, "Fe26.2******~2*", NOW, IDP_PARSE, msg);
    assert_unseal_fails(PASSWORD, NULL, NOW, IDP_PARSE, msg);
    size_t len = strlen(KAT_SESSION);
    char *extra = malloc(len + 3);
    assert_non_null(extra);
    memcpy(extra, KAT_SESSION, len - 2);
    strcpy(extra + len - 2, "*x~2");
    assert_unseal_fails(KAT_PASSWORD, extra, NOW, IDP_PARSE, msg);
    free(extra);
}

static void test_non_numeric_expiration_rejected(void **state)
{
    static const char *bad[] = {"12a", "-1", "+5", " 1", "1.5", "0x10"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *t = replace_field(KAT_SESSION, 5, bad[i]);
        assert_unseal_fails(KAT_PASSWORD, t, NOW, IDP_PARSE,
                            "Invalid expiration");
        free(t);
    }
    /* A huge all-digit expiration does not overflow into the past. */
    char *t = replace_field(KAT_SESSION, 5, "99999999999999999999999999");
    assert_unseal_fails(KAT_PASSWORD, t, NOW, IDP_DENIED, "Bad hmac value");
    free(t);
}

static void test_empty_salt_rejected_as_bad_hmac(void **state)
{
    for (int i = 2; i <= 6; i += 4) {
        char *t = replace_field(KAT_SESSION, i, "");
        assert_unseal_fails(KAT_PASSWORD, t, NOW, IDP_DENIED, "Bad hmac value");
        free(t);
    }
}

static void test_authentic_but_malformed_seal_rejected(void **state)
{
    static const struct {
        const char *iv, *ct, *message;
    } cases[] = {
        {"AAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAAA", "Invalid iv"},
        {"AAAAAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAAA", "Invalid iv"},
        {"!AAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAAA", "Invalid iv"},
        {"AAAAAAAAAAAAAAAAAAAAAA", "A", "Invalid encrypted data"},
        {"AAAAAAAAAAAAAAAAAAAAAA", "AA=A", "Invalid encrypted data"},
        /* Decodes, but is no multiple of the block size or is empty. */
        {"AAAAAAAAAAAAAAAAAAAAAA", "AAAA", "Decryption failed"},
        {"AAAAAAAAAAAAAAAAAAAAAA", "", "Decryption failed"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *t = forge(PASSWORD, cases[i].iv, cases[i].ct);
        struct idp_error err = {0};
        assert_int_not_equal(unseal_expect(PASSWORD, t, NOW, NULL, &err),
                             IDP_OK);
        assert_string_equal(err.message, cases[i].message);
        free(t);
    }
}

static void test_truncated_and_garbage_inputs_rejected(void **state)
{
    /* Every prefix of a valid seal, cut before its MAC is complete. */
    size_t len = strlen(KAT_SESSION);
    char *buf = malloc(len + 1);
    assert_non_null(buf);
    for (size_t n = 0; n < len - 2; n++) {
        memcpy(buf, KAT_SESSION, n);
        buf[n] = '\0';
        struct idp_error err = {0};
        assert_int_not_equal(unseal_expect(KAT_PASSWORD, buf, NOW, NULL, &err),
                             IDP_OK);
    }
    free(buf);

    static const char *garbage[] = {
        "~2",
        "~",
        "*******",
        "*******~2",
        "Fe26.2*******",
        "Fe26.2*1******~2",
        "Fe26.2*1*salt*iv*ct**salt*mac",
        "Fe26.2*1*00*AAAAAAAAAAAAAAAAAAAAAA*AAAA**00*AAAA",
        "Fe26.2*1*\xff\xfe*\x01*\x80**\xc3*\xe2\x9c",
        "Fe26.2*1*aa*====*====**aa*====",
        "Fe26.2*1*aa*A*A**aa*A",
        "Fe26.2*1*aa*AAAAA*AAAAA*0*aa*AAAAA",
        "Fe26.2*1*aa*AA*AA*00000000000000000000000000*aa*"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "Fe26.2*\n*\n*\n*\n*\n*\n*\n",
        "not a seal at all",
        "Fe26.2%2A1%2Aabc",
    };
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
        struct idp_error err = {0};
        assert_int_not_equal(
            unseal_expect(KAT_PASSWORD, garbage[i], NOW, NULL, &err), IDP_OK);
        assert_string_not_equal(err.message, "");
    }
}

static void test_oversized_seal_rejected(void **state)
{
    size_t n = ((size_t)32 << 20) + 16;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, 'A', n);
    memcpy(big, "Fe26.2*", 7);
    big[n] = '\0';
    struct idp_error err = {0};
    assert_int_not_equal(unseal_expect(PASSWORD, big, NOW, NULL, &err), IDP_OK);
    free(big);
}

static void test_unrepresentable_ttl_rejected(void **state)
{
    struct idp_error err = {0};
    const unsigned char *d = (const unsigned char *)"x";
    assert_null(idp_iron_seal(PASSWORD, d, 1, INT64_MAX - 5, 10, &err));
    assert_int_equal(err.status, IDP_INVALID);
    assert_null(idp_iron_seal(PASSWORD, d, 1, NOW, -NOW - 1, &err));
    assert_int_equal(err.status, IDP_INVALID);
    assert_null(idp_iron_seal(PASSWORD, d, 1, INT64_MIN, -1, &err));
    assert_int_equal(err.status, IDP_INVALID);
}

static void test_out_params_untouched_on_failure(void **state)
{
    unsigned char sentinel = 0;
    unsigned char *out = &sentinel;
    size_t len = 12345;
    struct idp_error err = {0};
    assert_int_equal(
        idp_iron_unseal(OTHER_PASSWORD, KAT_SESSION, NOW, &out, &len, &err),
        IDP_DENIED);
    assert_ptr_equal(out, &sentinel);
    assert_int_equal(len, 12345);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seal_then_unseal_roundtrips),
        cmocka_unit_test(test_binary_and_block_boundary_payloads_roundtrip),
        cmocka_unit_test(test_field_lengths_match_iron),
        cmocka_unit_test(test_seal_with_password_id),
        cmocka_unit_test(test_seal_with_ttl_writes_now_plus_ttl),
        cmocka_unit_test(test_seals_of_same_payload_differ),
        cmocka_unit_test(test_expiry_within_skew_accepted),
        cmocka_unit_test(test_known_answer_iron_webcrypto_seal_unseals),
        cmocka_unit_test(test_known_answer_iron_session_seal_unseals),
        cmocka_unit_test(test_known_answer_with_ttl_honours_skew),
        cmocka_unit_test(test_any_version_suffix_or_none_accepted),
        cmocka_unit_test(test_multibyte_password_of_32_characters_accepted),
        cmocka_unit_test(test_unseal_with_wrong_password_is_bad_hmac),
        cmocka_unit_test(test_tampered_ciphertext_rejected),
        cmocka_unit_test(test_every_single_character_change_rejected),
        cmocka_unit_test(test_fields_swapped_between_seals_rejected),
        cmocka_unit_test(test_expiration_added_or_changed_rejected),
        cmocka_unit_test(test_expired_seal_rejected_after_60s_skew),
        cmocka_unit_test(test_short_password_rejected_on_seal_and_unseal),
        cmocka_unit_test(test_empty_password_rejected),
        cmocka_unit_test(test_wrong_prefix_rejected),
        cmocka_unit_test(test_wrong_component_count_rejected),
        cmocka_unit_test(test_non_numeric_expiration_rejected),
        cmocka_unit_test(test_empty_salt_rejected_as_bad_hmac),
        cmocka_unit_test(test_authentic_but_malformed_seal_rejected),
        cmocka_unit_test(test_truncated_and_garbage_inputs_rejected),
        cmocka_unit_test(test_oversized_seal_rejected),
        cmocka_unit_test(test_unrepresentable_ttl_rejected),
        cmocka_unit_test(test_out_params_untouched_on_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
