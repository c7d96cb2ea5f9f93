/* Signing keys (keys.h): the kid is `sso_oidc_key_pair_` + 26 Crockford
 * characters and stable per key, the JWK form round-trips through
 * idp_jwk_public_key, the publish / sign / retire schedule of rotation on the
 * virtual clock, and PEM loading / caching.
 *
 * One RSA-2048 key is generated for the file. Schedule tests need many
 * distinct keys but never sign, so they use public keys sharing its modulus
 * with different exponents (distinct n.e, so distinct kids). The PEM cache
 * test generates the only other key. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "encoding.h"
#include "idp_jwt.h"
#include "keys.h"

#define VARIANTS 20
#define T 1768478400000LL
#define LEAD 60000
#define RETIRE 30000
#define CROCKFORD "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

static EVP_PKEY *rsa_key;            /* generated once */
static EVP_PKEY *variant[VARIANTS];  /* public keys: rsa_key's n, exponents 3, 5, 7, ... */
static char tmpdir[64];

static EVP_PKEY *public_with_exponent(unsigned long exponent)
{
    BIGNUM *n = NULL, *e = BN_new();
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (EVP_PKEY_get_bn_param(rsa_key, OSSL_PKEY_PARAM_RSA_N, &n) && e &&
        BN_set_word(e, exponent) && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) &&
        (params = OSSL_PARAM_BLD_to_param(bld)) && ctx && EVP_PKEY_fromdata_init(ctx) == 1)
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    return pkey;
}

static int group_setup(void **state)
{
    (void)state;
    struct idp_error err = {0};
    rsa_key = idp_rsa_generate(&err);
    if (!rsa_key)
        return -1;
    for (int i = 0; i < VARIANTS; i++)
        if (!(variant[i] = public_with_exponent(3 + 2 * (unsigned long)i)))
            return -1;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/fakeidp-test-keys-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < VARIANTS; i++)
        EVP_PKEY_free(variant[i]);
    EVP_PKEY_free(rsa_key);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static char *tmp_path(const char *name)
{
    static char path[256];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    return path;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static const char *kid_of(EVP_PKEY *pkey, char out[64])
{
    struct idp_key key;
    struct idp_error err = {0};
    assert_int_equal(idp_key_init(&key, pkey, &err), IDP_OK);
    snprintf(out, 64, "%s", key.kid);
    idp_key_cleanup(&key);
    return out;
}

static const struct idp_key *key_of(const struct idp_keyset *set, EVP_PKEY *pkey)
{
    char kid[64];
    return idp_keyset_find(set, kid_of(pkey, kid));
}

/* Whether the JWKS published at now lists pkey's kid, and how many keys. */
static int jwks_lists(const struct idp_keyset *set, int64_t now, EVP_PKEY *pkey, size_t *count)
{
    char kid[64];
    kid_of(pkey, kid);
    json_t *jwks = idp_keyset_jwks(set, now);
    json_t *keys = json_object_get(jwks, "keys");
    assert_true(json_is_array(keys));
    int found = 0;
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k) found |= strcmp(json_string_value(json_object_get(k, "kid")), kid) == 0;
    if (count)
        *count = json_array_size(keys);
    json_decref(jwks);
    return found;
}

/* A set with rsa_key always on, rotated to variant[0] at T. */
static void rotated_set(struct idp_keyset *set)
{
    struct idp_error err = {0};
    idp_keyset_init(set);
    assert_int_equal(idp_keyset_add(set, rsa_key, IDP_TIME_ALWAYS, IDP_TIME_ALWAYS,
                                    IDP_TIME_NEVER, &err),
                     IDP_OK);
    assert_int_equal(idp_keyset_rotate(set, variant[0], T, LEAD, RETIRE, &err), IDP_OK);
}

/* --- kid and JWK ------------------------------------------------------------ */

static void test_kid_has_documented_format(void **state)
{
    (void)state;
    char kid[64];
    kid_of(rsa_key, kid);
    const char *prefix = "sso_oidc_key_pair_";
    assert_int_equal(strncmp(kid, prefix, strlen(prefix)), 0);
    assert_int_equal(strlen(kid), strlen(prefix) + 26);
    assert_int_equal(strspn(kid + strlen(prefix), CROCKFORD), 26);
}

static void test_kid_is_stable_for_the_same_key(void **state)
{
    (void)state;
    char a[64], b[64], c[64];
    kid_of(rsa_key, a);
    kid_of(rsa_key, b);
    assert_string_equal(a, b);
    /* The same key read back from a PEM file (a different EVP_PKEY object,
     * as after a restart) has the same kid. */
    const char *path = tmp_path("stable.pem");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, rsa_key, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
    struct idp_error err = {0};
    EVP_PKEY *loaded = idp_pem_load(path, &err);
    assert_non_null(loaded);
    kid_of(loaded, c);
    assert_string_equal(a, c);
    EVP_PKEY_free(loaded);
}

static void test_kid_differs_between_keys(void **state)
{
    (void)state;
    char a[64], b[64], c[64];
    kid_of(rsa_key, a);
    kid_of(variant[0], b);
    kid_of(variant[1], c);
    assert_string_not_equal(a, b);
    assert_string_not_equal(b, c);
}

static void test_key_init_takes_its_own_reference(void **state)
{
    (void)state;
    EVP_PKEY *pkey = public_with_exponent(65537);
    assert_non_null(pkey);
    struct idp_key key;
    struct idp_error err = {0};
    assert_int_equal(idp_key_init(&key, pkey, &err), IDP_OK);
    EVP_PKEY_free(pkey); /* the caller's reference */
    assert_int_equal(EVP_PKEY_get_bits(key.pkey), 2048);
    idp_key_cleanup(&key);
}

static void test_new_key_is_always_on(void **state)
{
    (void)state;
    struct idp_key key;
    struct idp_error err = {0};
    assert_int_equal(idp_key_init(&key, rsa_key, &err), IDP_OK);
    assert_true(idp_key_published(&key, 0));
    assert_true(idp_key_published(&key, T));
    assert_true(idp_key_published(&key, INT64_MIN + 1));
    assert_true(idp_key_published(&key, INT64_MAX - 1));
    idp_key_cleanup(&key);
}

static void test_jwk_has_rsa_fields_and_roundtrips_to_the_same_key(void **state)
{
    (void)state;
    struct idp_key key;
    struct idp_error err = {0};
    assert_int_equal(idp_key_init(&key, rsa_key, &err), IDP_OK);
    json_t *jwk = idp_key_jwk(&key);
    assert_string_equal(json_string_value(json_object_get(jwk, "kty")), "RSA");
    assert_string_equal(json_string_value(json_object_get(jwk, "alg")), "RS256");
    assert_string_equal(json_string_value(json_object_get(jwk, "use")), "sig");
    assert_string_equal(json_string_value(json_object_get(jwk, "kid")), key.kid);
    assert_string_equal(json_string_value(json_object_get(jwk, "e")), "AQAB"); /* 65537 */
    const char *n = json_string_value(json_object_get(jwk, "n"));
    size_t n_len = 0;
    unsigned char *raw = idp_base64url_decode(n, strlen(n), &n_len);
    assert_non_null(raw);
    assert_int_equal(n_len, 256); /* no leading zero byte, full 2048 bits */
    assert_true(raw[0] & 0x80);
    free(raw);

    EVP_PKEY *pub = idp_jwk_public_key(jwk, &err);
    assert_non_null(pub);
    assert_int_equal(EVP_PKEY_eq(pub, rsa_key), 1);
    char kid[64];
    assert_string_equal(kid_of(pub, kid), key.kid);
    EVP_PKEY_free(pub);
    json_decref(jwk);
    idp_key_cleanup(&key);
}

/* --- schedule: positive -------------------------------------------------------- */

static void test_rotate_publishes_new_key_before_it_signs(void **state)
{
    (void)state;
    struct idp_keyset set;
    rotated_set(&set);
    const struct idp_key *old = key_of(&set, rsa_key), *new = key_of(&set, variant[0]);
    assert_non_null(old);
    assert_non_null(new);
    size_t count = 0;
    /* Just before the rotation: only the old key is published. */
    assert_false(jwks_lists(&set, T - 1, variant[0], &count));
    assert_int_equal(count, 1);
    /* From the rotation on: both are published, the old one still signs. */
    assert_true(jwks_lists(&set, T, variant[0], &count));
    assert_int_equal(count, 2);
    assert_ptr_equal(idp_keyset_signer(&set, T), old);
    assert_ptr_equal(idp_keyset_signer(&set, T + LEAD - 1), old);
    idp_keyset_cleanup(&set);
}

static void test_new_key_signs_exactly_lead_after_rotation(void **state)
{
    (void)state;
    struct idp_keyset set;
    rotated_set(&set);
    const struct idp_key *old = key_of(&set, rsa_key), *new = key_of(&set, variant[0]);
    assert_ptr_equal(idp_keyset_signer(&set, T + LEAD - 1), old);
    assert_ptr_equal(idp_keyset_signer(&set, T + LEAD), new);
    assert_ptr_equal(idp_keyset_signer(&set, T + LEAD + RETIRE + 1000000), new);
    idp_keyset_cleanup(&set);
}

static void test_old_key_retires_retire_after_once_new_key_signs(void **state)
{
    (void)state;
    struct idp_keyset set;
    rotated_set(&set);
    const struct idp_key *old = key_of(&set, rsa_key);
    assert_int_equal(old->retire_at_ms, T + LEAD + RETIRE);
    assert_true(idp_key_published(old, T + LEAD + RETIRE - 1));
    assert_false(idp_key_published(old, T + LEAD + RETIRE));
    size_t count = 0;
    assert_true(jwks_lists(&set, T + LEAD + RETIRE - 1, rsa_key, &count));
    assert_int_equal(count, 2);
    assert_false(jwks_lists(&set, T + LEAD + RETIRE, rsa_key, &count));
    assert_int_equal(count, 1);
    idp_keyset_cleanup(&set);
}

static void test_rotate_with_zero_lead_signs_immediately(void **state)
{
    (void)state;
    struct idp_keyset set;
    struct idp_error err = {0};
    idp_keyset_init(&set);
    assert_int_equal(idp_keyset_add(&set, rsa_key, IDP_TIME_ALWAYS, IDP_TIME_ALWAYS,
                                    IDP_TIME_NEVER, &err),
                     IDP_OK);
    assert_int_equal(idp_keyset_rotate(&set, variant[0], T, 0, RETIRE, &err), IDP_OK);
    assert_ptr_equal(idp_keyset_signer(&set, T), key_of(&set, variant[0]));
    assert_ptr_equal(idp_keyset_signer(&set, T - 1), key_of(&set, rsa_key));
    assert_int_equal(key_of(&set, rsa_key)->retire_at_ms, T + RETIRE);
    idp_keyset_cleanup(&set);
}

static void test_rotate_of_empty_set_publishes_and_signs_after_lead(void **state)
{
    (void)state;
    struct idp_keyset set;
    struct idp_error err = {0};
    idp_keyset_init(&set);
    assert_int_equal(idp_keyset_rotate(&set, variant[0], T, LEAD, RETIRE, &err), IDP_OK);
    assert_int_equal(set.count, 1);
    assert_true(jwks_lists(&set, T, variant[0], NULL));
    assert_null(idp_keyset_signer(&set, T));
    assert_ptr_equal(idp_keyset_signer(&set, T + LEAD), key_of(&set, variant[0]));
    idp_keyset_cleanup(&set);
}

static void test_rotate_drops_keys_retired_before_now(void **state)
{
    (void)state;
    struct idp_keyset set;
    rotated_set(&set);
    char old_kid[64];
    kid_of(rsa_key, old_kid);
    struct idp_error err = {0};
    /* The old key retired at T + LEAD + RETIRE. */
    assert_int_equal(idp_keyset_rotate(&set, variant[1], T + LEAD + RETIRE + 1, LEAD, RETIRE,
                                       &err),
                     IDP_OK);
    assert_null(idp_keyset_find(&set, old_kid));
    assert_int_equal(set.count, 2);
    /* The key signing at the second rotation now retires in turn. */
    assert_int_equal(key_of(&set, variant[0])->retire_at_ms,
                     T + LEAD + RETIRE + 1 + LEAD + RETIRE);
    idp_keyset_cleanup(&set);
}

static void test_rotate_makes_room_in_a_full_set_by_dropping_retired_keys(void **state)
{
    (void)state;
    struct idp_keyset set;
    struct idp_error err = {0};
    idp_keyset_init(&set);
    /* One key retired long ago, fifteen live ones: the set is full. */
    assert_int_equal(idp_keyset_add(&set, variant[0], 0, 0, 1000, &err), IDP_OK);
    for (int i = 1; i < IDP_KEYS_MAX; i++)
        assert_int_equal(idp_keyset_add(&set, variant[i], 0, i, IDP_TIME_NEVER, &err), IDP_OK);
    assert_int_equal(set.count, IDP_KEYS_MAX);
    assert_int_equal(idp_keyset_rotate(&set, variant[IDP_KEYS_MAX], T, LEAD, RETIRE, &err),
                     IDP_OK);
    assert_int_equal(set.count, IDP_KEYS_MAX);
    assert_null(key_of(&set, variant[0]));
    assert_non_null(key_of(&set, variant[IDP_KEYS_MAX]));
    idp_keyset_cleanup(&set);
}

static void test_signer_is_published_key_with_latest_passed_sign_from(void **state)
{
    (void)state;
    struct idp_keyset set;
    struct idp_error err = {0};
    idp_keyset_init(&set);
    /* Added out of order on purpose. */
    assert_int_equal(idp_keyset_add(&set, variant[0], 0, 200, IDP_TIME_NEVER, &err), IDP_OK);
    assert_int_equal(idp_keyset_add(&set, variant[1], 0, 0, IDP_TIME_NEVER, &err), IDP_OK);
    assert_int_equal(idp_keyset_add(&set, variant[2], 0, 100, IDP_TIME_NEVER, &err), IDP_OK);
    assert_ptr_equal(idp_keyset_signer(&set, 0), key_of(&set, variant[1]));
    assert_ptr_equal(idp_keyset_signer(&set, 99), key_of(&set, variant[1]));
    assert_ptr_equal(idp_keyset_signer(&set, 100), key_of(&set, variant[2]));
    assert_ptr_equal(idp_keyset_signer(&set, 199), key_of(&set, variant[2]));
    assert_ptr_equal(idp_keyset_signer(&set, 200), key_of(&set, variant[0]));
    idp_keyset_cleanup(&set);
}

static void test_find_returns_key_by_kid(void **state)
{
    (void)state;
    struct idp_keyset set;
    rotated_set(&set);
    char kid[64];
    kid_of(variant[0], kid);
    const struct idp_key *k = idp_keyset_find(&set, kid);
    assert_non_null(k);
    assert_string_equal(k->kid, kid);
    assert_int_equal(k->publish_at_ms, T);
    assert_int_equal(k->sign_from_ms, T + LEAD);
    idp_keyset_cleanup(&set);
}

/* --- schedule: negative ---------------------------------------------------------- */

static void test_key_init_rejects_missing_and_non_rsa_keys(void **state)
{
    (void)state;
    struct idp_key key;
    struct idp_error err = {0};
    assert_int_not_equal(idp_key_init(&key, NULL, &err), IDP_OK);
    assert_string_not_equal(err.message, "");
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    assert_non_null(ec);
    err.message[0] = '\0';
    assert_int_not_equal(idp_key_init(&key, ec, &err), IDP_OK);
    assert_string_not_equal(err.message, "");
    struct idp_keyset set;
    idp_keyset_init(&set);
    assert_int_not_equal(idp_keyset_add(&set, ec, 0, 0, IDP_TIME_NEVER, &err), IDP_OK);
    assert_int_equal(set.count, 0);
    EVP_PKEY_free(ec);
}

static void test_full_keyset_rejects_another_key(void **state)
{
    (void)state;
    struct idp_keyset set;
    struct idp_error err = {0};
    idp_keyset_init(&set);
    for (int i = 0; i < IDP_KEYS_MAX; i++)
        assert_int_equal(idp_keyset_add(&set, variant[i], 0, i, IDP_TIME_NEVER, &err), IDP_OK);
    err.message[0] = '\0';
    assert_int_not_equal(
        idp_keyset_add(&set, variant[IDP_KEYS_MAX], 0, 0, IDP_TIME_NEVER, &err), IDP_OK);
    assert_string_not_equal(err.message, "");
    assert_int_equal(set.count, IDP_KEYS_MAX);
    assert_null(key_of(&set, variant[IDP_KEYS_MAX]));
    idp_keyset_cleanup(&set);
}

static void test_rotate_into_full_set_fails_and_keeps_the_schedule(void **state)
{
    (void)state;
    struct idp_keyset set;
    struct idp_error err = {0};
    idp_keyset_init(&set);
    for (int i = 0; i < IDP_KEYS_MAX; i++)
        assert_int_equal(idp_keyset_add(&set, variant[i], 0, i, IDP_TIME_NEVER, &err), IDP_OK);
    const struct idp_key *signer = idp_keyset_signer(&set, T);
    assert_ptr_equal(signer, key_of(&set, variant[IDP_KEYS_MAX - 1]));
    assert_int_not_equal(idp_keyset_rotate(&set, rsa_key, T, LEAD, RETIRE, &err), IDP_OK);
    assert_int_equal(set.count, IDP_KEYS_MAX);
    /* The current signer was not scheduled to retire by the failed rotation. */
    assert_int_equal(signer->retire_at_ms, IDP_TIME_NEVER);
    assert_ptr_equal(idp_keyset_signer(&set, T + LEAD + RETIRE), signer);
    idp_keyset_cleanup(&set);
}

static void test_duplicate_kid_is_rejected(void **state)
{
    (void)state;
    struct idp_keyset set;
    struct idp_error err = {0};
    idp_keyset_init(&set);
    assert_int_equal(idp_keyset_add(&set, rsa_key, 0, 0, IDP_TIME_NEVER, &err), IDP_OK);
    err.message[0] = '\0';
    assert_int_not_equal(idp_keyset_add(&set, rsa_key, 0, 5, IDP_TIME_NEVER, &err), IDP_OK);
    assert_string_not_equal(err.message, "");
    /* The same public key as a separate object is the same kid too. */
    EVP_PKEY *same = public_with_exponent(65537);
    assert_int_not_equal(idp_keyset_add(&set, same, 0, 5, IDP_TIME_NEVER, &err), IDP_OK);
    EVP_PKEY_free(same);
    assert_int_equal(set.count, 1);
    assert_int_equal(set.keys[0].sign_from_ms, 0);
    idp_keyset_cleanup(&set);
}

static void test_rotate_to_a_key_already_in_the_set_fails_without_retiring(void **state)
{
    (void)state;
    struct idp_keyset set;
    struct idp_error err = {0};
    idp_keyset_init(&set);
    assert_int_equal(idp_keyset_add(&set, rsa_key, IDP_TIME_ALWAYS, IDP_TIME_ALWAYS,
                                    IDP_TIME_NEVER, &err),
                     IDP_OK);
    assert_int_not_equal(idp_keyset_rotate(&set, rsa_key, T, LEAD, RETIRE, &err), IDP_OK);
    assert_int_equal(set.count, 1);
    assert_int_equal(set.keys[0].retire_at_ms, IDP_TIME_NEVER);
    assert_ptr_equal(idp_keyset_signer(&set, T + LEAD + RETIRE), &set.keys[0]);
    idp_keyset_cleanup(&set);
}

static void test_no_signer_before_any_key_signs(void **state)
{
    (void)state;
    struct idp_keyset set;
    struct idp_error err = {0};
    idp_keyset_init(&set);
    assert_null(idp_keyset_signer(&set, T));
    assert_int_equal(idp_keyset_add(&set, variant[0], 0, T, IDP_TIME_NEVER, &err), IDP_OK);
    assert_null(idp_keyset_signer(&set, T - 1));
    assert_non_null(idp_keyset_signer(&set, T));
    idp_keyset_cleanup(&set);
}

static void test_unpublished_or_retired_key_never_signs(void **state)
{
    (void)state;
    struct idp_keyset set;
    struct idp_error err = {0};
    idp_keyset_init(&set);
    /* Signing from 0 but published only from 1000. */
    assert_int_equal(idp_keyset_add(&set, variant[0], 1000, 0, IDP_TIME_NEVER, &err), IDP_OK);
    /* Retired at 500. */
    assert_int_equal(idp_keyset_add(&set, variant[1], 0, 0, 500, &err), IDP_OK);
    assert_ptr_equal(idp_keyset_signer(&set, 499), key_of(&set, variant[1]));
    assert_null(idp_keyset_signer(&set, 500));
    assert_null(idp_keyset_signer(&set, 999));
    assert_ptr_equal(idp_keyset_signer(&set, 1000), key_of(&set, variant[0]));
    idp_keyset_cleanup(&set);
}

static void test_jwks_of_empty_or_unpublished_set_is_empty(void **state)
{
    (void)state;
    struct idp_keyset set;
    struct idp_error err = {0};
    idp_keyset_init(&set);
    size_t count = 99;
    assert_false(jwks_lists(&set, T, rsa_key, &count));
    assert_int_equal(count, 0);
    assert_int_equal(idp_keyset_add(&set, rsa_key, T, T, T + 10, &err), IDP_OK);
    assert_false(jwks_lists(&set, T - 1, rsa_key, &count));
    assert_int_equal(count, 0);
    assert_false(jwks_lists(&set, T + 10, rsa_key, &count));
    assert_int_equal(count, 0);
    idp_keyset_cleanup(&set);
}

static void test_find_unknown_kid_is_null(void **state)
{
    (void)state;
    struct idp_keyset set;
    rotated_set(&set);
    assert_null(idp_keyset_find(&set, "sso_oidc_key_pair_00000000000000000000000000"));
    assert_null(idp_keyset_find(&set, ""));
    char kid[64];
    kid_of(rsa_key, kid);
    kid[strlen(kid) - 1] = '\0'; /* a prefix of a real kid */
    assert_null(idp_keyset_find(&set, kid));
    idp_keyset_cleanup(&set);
}

/* --- PEM ------------------------------------------------------------------------ */

static void test_pem_load_reads_a_written_private_key(void **state)
{
    (void)state;
    const char *path = tmp_path("written.pem");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, rsa_key, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
    struct idp_error err = {0};
    EVP_PKEY *loaded = idp_pem_load(path, &err);
    assert_non_null(loaded);
    assert_int_equal(EVP_PKEY_eq(loaded, rsa_key), 1);
    EVP_PKEY_free(loaded);
}

static void test_pem_public_is_the_public_key(void **state)
{
    (void)state;
    char *pem = idp_pem_public(rsa_key);
    assert_non_null(pem);
    assert_int_equal(strncmp(pem, "-----BEGIN PUBLIC KEY-----", 26), 0);
    assert_null(strstr(pem, "PRIVATE"));
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *pub = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    assert_non_null(pub);
    assert_int_equal(EVP_PKEY_eq(pub, rsa_key), 1);
    EVP_PKEY_free(pub);
    BIO_free(bio);
    free(pem);
}

static void test_load_or_generate_writes_0600_file_and_reloads_same_key(void **state)
{
    (void)state;
    char path[256];
    snprintf(path, sizeof(path), "%s/cache/nested/signing-key.pem", tmpdir);
    struct idp_error err = {0};
    EVP_PKEY *generated = idp_pem_load_or_generate(path, &err);
    assert_non_null(generated);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    /* The next start reuses the file: same key, same kid. */
    EVP_PKEY *again = idp_pem_load_or_generate(path, &err);
    assert_non_null(again);
    assert_int_equal(EVP_PKEY_eq(again, generated), 1);
    char a[64], b[64];
    assert_string_equal(kid_of(generated, a), kid_of(again, b));
    /* ...and it is a fresh key, not the file's fixed one. */
    assert_string_not_equal(a, kid_of(rsa_key, b));
    /* No temporary file is left next to it. */
    char dir[256];
    snprintf(dir, sizeof(dir), "ls -A '%s/cache/nested' | grep -qv '^signing-key.pem$'", tmpdir);
    assert_int_not_equal(system(dir), 0);
    EVP_PKEY_free(generated);
    EVP_PKEY_free(again);
}

static void test_pem_load_of_missing_file_fails_naming_it(void **state)
{
    (void)state;
    const char *path = tmp_path("does-not-exist.pem");
    struct idp_error err = {0};
    assert_null(idp_pem_load(path, &err));
    assert_int_equal(err.status, IDP_IO);
    assert_non_null(strstr(err.message, path));
}

static void test_pem_load_of_garbage_fails(void **state)
{
    (void)state;
    const char *cases[] = {
        "",
        "not a key at all\n",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        "-----BEGIN PRIVATE KEY-----\n",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *path = tmp_path("garbage.pem");
        write_file(path, cases[i]);
        struct idp_error err = {0};
        EVP_PKEY *k = idp_pem_load(path, &err);
        if (k) {
            EVP_PKEY_free(k);
            fail_msg("garbage case %zu loaded as a key", i);
        }
        assert_int_not_equal(err.status, IDP_OK);
        assert_string_not_equal(err.message, "");
    }
}

static void test_pem_load_of_public_key_only_fails(void **state)
{
    (void)state;
    char *pem = idp_pem_public(rsa_key);
    const char *path = tmp_path("public-only.pem");
    write_file(path, pem);
    free(pem);
    struct idp_error err = {0};
    assert_null(idp_pem_load(path, &err));
    assert_int_not_equal(err.status, IDP_OK);
}

static void test_pem_load_of_non_rsa_key_fails(void **state)
{
    (void)state;
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    const char *path = tmp_path("ec.pem");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, ec, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
    EVP_PKEY_free(ec);
    struct idp_error err = {0};
    assert_null(idp_pem_load(path, &err));
    assert_int_not_equal(err.status, IDP_OK);
    assert_string_not_equal(err.message, "");
}

static void test_jwk_and_jwks_never_carry_private_parameters(void **state)
{
    (void)state;
    struct idp_keyset set;
    struct idp_error err = {0};
    idp_keyset_init(&set);
    assert_int_equal(idp_keyset_add(&set, rsa_key, 0, 0, IDP_TIME_NEVER, &err), IDP_OK);
    json_t *jwk = idp_key_jwk(&set.keys[0]);
    json_t *jwks = idp_keyset_jwks(&set, T);
    json_t *listed = json_array_get(json_object_get(jwks, "keys"), 0);
    const char *private_params[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};
    for (size_t i = 0; i < sizeof(private_params) / sizeof(private_params[0]); i++) {
        assert_null(json_object_get(jwk, private_params[i]));
        assert_null(json_object_get(listed, private_params[i]));
    }
    json_decref(jwk);
    json_decref(jwks);
    idp_keyset_cleanup(&set);
}

static void test_key_is_unpublished_outside_its_window(void **state)
{
    (void)state;
    struct idp_keyset set;
    struct idp_error err = {0};
    idp_keyset_init(&set);
    assert_int_equal(idp_keyset_add(&set, variant[0], T, T, T + 1000, &err), IDP_OK);
    const struct idp_key *k = &set.keys[0];
    assert_false(idp_key_published(k, T - 1));
    assert_true(idp_key_published(k, T));
    assert_true(idp_key_published(k, T + 999));
    assert_false(idp_key_published(k, T + 1000));
    assert_false(idp_key_published(k, INT64_MAX));
    idp_keyset_cleanup(&set);
}

static void test_rotate_does_not_retire_keys_that_are_not_signing(void **state)
{
    (void)state;
    struct idp_keyset set;
    struct idp_error err = {0};
    idp_keyset_init(&set);
    /* Signing now, and a published key that signs only later. */
    assert_int_equal(idp_keyset_add(&set, variant[0], 0, 0, IDP_TIME_NEVER, &err), IDP_OK);
    assert_int_equal(idp_keyset_add(&set, variant[1], 0, T * 2, IDP_TIME_NEVER, &err), IDP_OK);
    assert_int_equal(idp_keyset_rotate(&set, variant[2], T, LEAD, RETIRE, &err), IDP_OK);
    assert_int_equal(key_of(&set, variant[0])->retire_at_ms, T + LEAD + RETIRE);
    assert_int_equal(key_of(&set, variant[1])->retire_at_ms, IDP_TIME_NEVER);
    idp_keyset_cleanup(&set);
}

static void test_jwks_lists_each_key_once_across_rotations(void **state)
{
    (void)state;
    struct idp_keyset set;
    struct idp_error err = {0};
    idp_keyset_init(&set);
    int64_t now = T;
    for (int i = 0; i < 5; i++, now += 1000)
        assert_int_equal(idp_keyset_rotate(&set, variant[i], now, LEAD, RETIRE * 100, &err),
                         IDP_OK);
    json_t *jwks = idp_keyset_jwks(&set, now);
    json_t *keys = json_object_get(jwks, "keys");
    for (size_t i = 0; i < json_array_size(keys); i++)
        for (size_t j = i + 1; j < json_array_size(keys); j++)
            assert_string_not_equal(
                json_string_value(json_object_get(json_array_get(keys, i), "kid")),
                json_string_value(json_object_get(json_array_get(keys, j), "kid")));
    assert_int_equal(json_array_size(keys), 5);
    json_decref(jwks);
    idp_keyset_cleanup(&set);
}

static void test_load_or_generate_does_not_replace_an_existing_key(void **state)
{
    (void)state;
    const char *path = tmp_path("existing.pem");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, rsa_key, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
    struct idp_error err = {0};
    EVP_PKEY *loaded = idp_pem_load_or_generate(path, &err);
    assert_non_null(loaded);
    assert_int_equal(EVP_PKEY_eq(loaded, rsa_key), 1);
    EVP_PKEY_free(loaded);
}

static void test_pem_load_of_a_directory_fails(void **state)
{
    (void)state;
    struct idp_error err = {0};
    EVP_PKEY *k = idp_pem_load(tmpdir, &err);
    if (k) {
        EVP_PKEY_free(k);
        fail_msg("a directory loaded as a key");
    }
    assert_int_not_equal(err.status, IDP_OK);
}

/* --- default cache path ------------------------------------------------------------ */

static void test_default_key_cache_path_precedence(void **state)
{
    (void)state;
    char *saved[3];
    const char *names[3] = {"FAKEIDP_KEY_CACHE", "XDG_CACHE_HOME", "HOME"};
    for (int i = 0; i < 3; i++)
        saved[i] = getenv(names[i]) ? strdup(getenv(names[i])) : NULL;
    char out[512];

    setenv("FAKEIDP_KEY_CACHE", "/explicit/key.pem", 1);
    setenv("XDG_CACHE_HOME", "/xdg", 1);
    setenv("HOME", "/home/u", 1);
    idp_default_key_cache_path(out, sizeof(out));
    assert_string_equal(out, "/explicit/key.pem");

    setenv("FAKEIDP_KEY_CACHE", "", 1); /* empty counts as unset */
    idp_default_key_cache_path(out, sizeof(out));
    assert_string_equal(out, "/xdg/fakeidp/signing-key.pem");

    unsetenv("FAKEIDP_KEY_CACHE");
    unsetenv("XDG_CACHE_HOME");
    idp_default_key_cache_path(out, sizeof(out));
    assert_string_equal(out, "/home/u/.cache/fakeidp/signing-key.pem");

    for (int i = 0; i < 3; i++) {
        if (saved[i])
            setenv(names[i], saved[i], 1);
        else
            unsetenv(names[i]);
        free(saved[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kid_has_documented_format),
        cmocka_unit_test(test_kid_is_stable_for_the_same_key),
        cmocka_unit_test(test_kid_differs_between_keys),
        cmocka_unit_test(test_key_init_takes_its_own_reference),
        cmocka_unit_test(test_new_key_is_always_on),
        cmocka_unit_test(test_jwk_has_rsa_fields_and_roundtrips_to_the_same_key),
        cmocka_unit_test(test_rotate_publishes_new_key_before_it_signs),
        cmocka_unit_test(test_new_key_signs_exactly_lead_after_rotation),
        cmocka_unit_test(test_old_key_retires_retire_after_once_new_key_signs),
        cmocka_unit_test(test_rotate_with_zero_lead_signs_immediately),
        cmocka_unit_test(test_rotate_of_empty_set_publishes_and_signs_after_lead),
        cmocka_unit_test(test_rotate_drops_keys_retired_before_now),
        cmocka_unit_test(test_rotate_makes_room_in_a_full_set_by_dropping_retired_keys),
        cmocka_unit_test(test_signer_is_published_key_with_latest_passed_sign_from),
        cmocka_unit_test(test_find_returns_key_by_kid),
        cmocka_unit_test(test_pem_load_reads_a_written_private_key),
        cmocka_unit_test(test_pem_public_is_the_public_key),
        cmocka_unit_test(test_load_or_generate_writes_0600_file_and_reloads_same_key),
        cmocka_unit_test(test_default_key_cache_path_precedence),
        cmocka_unit_test(test_key_init_rejects_missing_and_non_rsa_keys),
        cmocka_unit_test(test_full_keyset_rejects_another_key),
        cmocka_unit_test(test_rotate_into_full_set_fails_and_keeps_the_schedule),
        cmocka_unit_test(test_duplicate_kid_is_rejected),
        cmocka_unit_test(test_rotate_to_a_key_already_in_the_set_fails_without_retiring),
        cmocka_unit_test(test_no_signer_before_any_key_signs),
        cmocka_unit_test(test_unpublished_or_retired_key_never_signs),
        cmocka_unit_test(test_jwks_of_empty_or_unpublished_set_is_empty),
        cmocka_unit_test(test_find_unknown_kid_is_null),
        cmocka_unit_test(test_pem_load_of_missing_file_fails_naming_it),
        cmocka_unit_test(test_pem_load_of_garbage_fails),
        cmocka_unit_test(test_pem_load_of_public_key_only_fails),
        cmocka_unit_test(test_pem_load_of_non_rsa_key_fails),
        cmocka_unit_test(test_jwk_and_jwks_never_carry_private_parameters),
        cmocka_unit_test(test_key_is_unpublished_outside_its_window),
        cmocka_unit_test(test_rotate_does_not_retire_keys_that_are_not_signing),
        cmocka_unit_test(test_jwks_lists_each_key_once_across_rotations),
        cmocka_unit_test(test_load_or_generate_does_not_replace_an_existing_key),
        cmocka_unit_test(test_pem_load_of_a_directory_fails),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
