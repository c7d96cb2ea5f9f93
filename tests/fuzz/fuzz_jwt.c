/* JWT decoding and verification with a fixed RSA key. The first byte picks a
 * mode:
 *   0: the rest is a compact token: idp_jwt_decode, idp_jwt_verify_rs256,
 *      hx_token_claims and hx_verify_token (JWKS cache pre-filled, no fetch);
 *   1: the rest is "<header JSON>\n<payload JSON>": signed with the fixed key,
 *      so hx_verify_token's claim checks (exp, nbf, iss, aud) see fuzzed
 *      claims; a token signed RS256 must decode and verify;
 *   2: the rest is a JWK for idp_jwk_public_key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "idp_jwt.h"
#include "verifier.h"

#define NOW_MS 1768478400000LL

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_jwks();
    return 0;
}

static enum hx_verify verify(const char *token, int64_t leeway_ms, const char *issuer,
                             const char *audience)
{
    struct hx_jwks_cache cache;
    hx_jwks_cache_init(&cache, "http://127.0.0.1:1/sso/jwks/fuzz", INT64_MAX, false, 0);
    cache.jwks = json_incref(fuzz_jwks());
    cache.fetched_at_ms = NOW_MS;
    json_t *claims = NULL;
    char why[300] = "";
    enum hx_verify result = hx_verify_token(&cache, token, NOW_MS, leeway_ms, issuer, audience,
                                            &claims, why, sizeof(why));
    if (result == HX_VERIFY_OK ? !json_is_object(claims) : claims != NULL || !why[0])
        abort();
    if (result == HX_VERIFY_JWKS_UNAVAILABLE || cache.fetches != 0)
        abort(); /* the cache is filled: nothing may be fetched */
    if (!hx_verify_name(result))
        abort();
    json_decref(claims);
    hx_jwks_cache_cleanup(&cache);
    return result;
}

static void raw_token(const char *token)
{
    struct idp_jwt jwt;
    struct idp_error err;
    memset(&err, 0, sizeof(err));
    if (idp_jwt_decode(token, &jwt, &err) == IDP_OK) {
        if (!json_is_object(jwt.header) || !json_is_object(jwt.payload) || !jwt.signing_input)
            abort();
        (void)idp_jwt_verify_rs256(&jwt, fuzz_key(), &err);
        idp_jwt_cleanup(&jwt);
    } else if (!err.message[0]) {
        abort();
    }
    json_decref(hx_token_claims(token));
    verify(token, 60000, NULL, NULL);
}

static void signed_token(const char *text)
{
    const char *nl = strchr(text, '\n');
    if (!nl)
        return;
    json_t *header = json_loadb(text, (size_t)(nl - text), 0, NULL);
    json_t *payload = json_loads(nl + 1, 0, NULL);
    if (json_is_object(header) && json_is_object(payload)) {
        struct idp_error err;
        memset(&err, 0, sizeof(err));
        char *token = idp_jwt_encode(header, payload, IDP_JWT_RS256, fuzz_key(), NULL, 0, &err);
        if (!token)
            abort();
        struct idp_jwt jwt;
        if (idp_jwt_decode(token, &jwt, &err) != IDP_OK) {
            fprintf(stderr, "fuzz: a signed token does not decode: %s\n", err.message);
            abort();
        }
        const char *alg = json_string_value(json_object_get(header, "alg"));
        bool rs256 = alg && strcmp(alg, "RS256") == 0;
        if ((idp_jwt_verify_rs256(&jwt, fuzz_key(), &err) == IDP_OK) != rs256) {
            fprintf(stderr, "fuzz: verification disagrees with alg %s: %s\n", alg, err.message);
            abort();
        }
        idp_jwt_cleanup(&jwt);
        enum hx_verify r = verify(token, 0, NULL, NULL);
        if (rs256 && (r == HX_VERIFY_MALFORMED || r == HX_VERIFY_ALGORITHM ||
                      r == HX_VERIFY_SIGNATURE))
            abort();
        verify(token, 30000, "https://api.workos.com/user_management/" FUZZ_CLIENT, FUZZ_CLIENT);
        verify(token, -5000, "", "");
        free(token);
    }
    json_decref(header);
    json_decref(payload);
}

static void jwk(const uint8_t *data, size_t size)
{
    json_t *value = json_loadb((const char *)data, size, 0, NULL);
    struct idp_error err;
    memset(&err, 0, sizeof(err));
    EVP_PKEY *key = idp_jwk_public_key(value, &err);
    if (!key && !err.message[0])
        abort();
    EVP_PKEY_free(key);
    json_decref(value);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    char *text = fuzz_text(data + 1, size - 1);
    switch (data[0] % 3) {
    case 0:
        raw_token(text);
        break;
    case 1:
        signed_token(text);
        break;
    default:
        jwk(data + 1, size - 1);
        break;
    }
    free(text);
    return 0;
}
