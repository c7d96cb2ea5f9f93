#include "idp_jwt.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "encoding.h"

static char *segment(const json_t *value)
{
    char *text = json_dumps(value, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text)
        return NULL;
    char *encoded = idp_base64url_encode((const unsigned char *)text, strlen(text));
    free(text);
    return encoded;
}

/* SHA-256 fetched once: OpenSSL 3 looks the algorithm up again on every
 * implicit use (EVP_sha256()), a measurable part of each token's cost. */
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;

static void fetch_sha256(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *sha256(void)
{
    pthread_once(&sha256_once, fetch_sha256);
    return sha256_md ? sha256_md : EVP_sha256();
}

static unsigned char *rs256_sign(EVP_PKEY *key, const char *input, size_t *sig_len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char *sig = NULL;
    size_t len = 0;
    if (ctx && EVP_DigestSignInit(ctx, NULL, sha256(), NULL, key) == 1 &&
        EVP_DigestSign(ctx, NULL, &len, (const unsigned char *)input, strlen(input)) == 1) {
        sig = malloc(len);
        if (sig && EVP_DigestSign(ctx, sig, &len, (const unsigned char *)input,
                                  strlen(input)) != 1) {
            free(sig);
            sig = NULL;
        }
    }
    EVP_MD_CTX_free(ctx);
    *sig_len = len;
    return sig;
}

char *idp_jwt_encode(const json_t *header, const json_t *payload,
                     enum idp_jwt_alg alg, EVP_PKEY *rsa_key,
                     const unsigned char *hmac_key, size_t hmac_len,
                     struct idp_error *err)
{
    char *h = segment(header), *p = segment(payload), *input = NULL, *sig64 = NULL;
    char *token = NULL;
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    unsigned char mac[EVP_MAX_MD_SIZE];
    if (!h || !p) {
        idp_fail(err, IDP_NOMEM, "encoding token segments");
        goto out;
    }
    size_t input_len = strlen(h) + strlen(p) + 2;
    input = malloc(input_len);
    if (!input) {
        idp_fail(err, IDP_NOMEM, "encoding token");
        goto out;
    }
    snprintf(input, input_len, "%s.%s", h, p);
    if (alg == IDP_JWT_RS256) {
        sig = rs256_sign(rsa_key, input, &sig_len);
        if (!sig) {
            ERR_clear_error();
            idp_fail(err, IDP_CRYPTO, "RS256 signing failed");
            goto out;
        }
        sig64 = idp_base64url_encode(sig, sig_len);
    } else if (alg == IDP_JWT_HS256) {
        unsigned int mac_len = 0;
        HMAC(EVP_sha256(), hmac_key, (int)hmac_len, (const unsigned char *)input,
             strlen(input), mac, &mac_len);
        sig64 = idp_base64url_encode(mac, mac_len);
    } else {
        sig64 = strdup("");
    }
    if (!sig64) {
        idp_fail(err, IDP_NOMEM, "encoding signature");
        goto out;
    }
    size_t token_len = strlen(input) + strlen(sig64) + 2;
    token = malloc(token_len);
    if (token)
        snprintf(token, token_len, "%s.%s", input, sig64);
    else
        idp_fail(err, IDP_NOMEM, "encoding token");
out:
    free(h);
    free(p);
    free(input);
    free(sig);
    free(sig64);
    return token;
}

static json_t *decode_json_segment(const char *text, size_t len)
{
    size_t raw_len;
    unsigned char *raw = idp_base64url_decode(text, len, &raw_len);
    if (!raw)
        return NULL;
    json_t *value = json_loadb((const char *)raw, raw_len, JSON_REJECT_DUPLICATES, NULL);
    free(raw);
    if (value && !json_is_object(value)) {
        json_decref(value);
        return NULL;
    }
    return value;
}

enum idp_status idp_jwt_decode(const char *token, struct idp_jwt *out,
                               struct idp_error *err)
{
    struct idp_jwt jwt = {0};
    const char *dot1 = strchr(token, '.');
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot1 || !dot2 || strchr(dot2 + 1, '.'))
        return idp_fail(err, IDP_PARSE, "token is not three dot-separated segments");
    jwt.header = decode_json_segment(token, (size_t)(dot1 - token));
    if (!jwt.header) {
        idp_fail(err, IDP_PARSE, "token header is not base64url JSON object");
        goto fail;
    }
    jwt.payload = decode_json_segment(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    if (!jwt.payload) {
        idp_fail(err, IDP_PARSE, "token payload is not base64url JSON object");
        goto fail;
    }
    const char *sig = dot2 + 1;
    jwt.signature = idp_base64url_decode(sig, strlen(sig), &jwt.signature_len);
    if (!jwt.signature) {
        idp_fail(err, IDP_PARSE, "token signature is not base64url");
        goto fail;
    }
    jwt.signing_input = strndup(token, (size_t)(dot2 - token));
    if (!jwt.signing_input) {
        idp_fail(err, IDP_NOMEM, "decoding token");
        goto fail;
    }
    *out = jwt;
    return IDP_OK;
fail:
    idp_jwt_cleanup(&jwt);
    return err ? err->status : IDP_PARSE;
}

void idp_jwt_cleanup(struct idp_jwt *jwt)
{
    json_decref(jwt->header);
    json_decref(jwt->payload);
    free(jwt->signature);
    free(jwt->signing_input);
    memset(jwt, 0, sizeof(*jwt));
}

enum idp_status idp_jwt_verify_rs256(const struct idp_jwt *jwt, EVP_PKEY *key,
                                     struct idp_error *err)
{
    const char *alg = json_string_value(json_object_get(jwt->header, "alg"));
    if (!alg || strcmp(alg, "RS256") != 0)
        return idp_fail(err, IDP_DENIED, "algorithm %s is not accepted (RS256 only)",
                        alg ? alg : "(missing)");
    if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA)
        return idp_fail(err, IDP_DENIED, "no RSA key to verify with");
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestVerifyInit(ctx, NULL, sha256(), NULL, key) == 1 &&
             EVP_DigestVerify(ctx, jwt->signature, jwt->signature_len,
                              (const unsigned char *)jwt->signing_input,
                              strlen(jwt->signing_input)) == 1;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    if (!ok)
        return idp_fail(err, IDP_DENIED, "signature verification failed");
    return IDP_OK;
}

static BIGNUM *jwk_bignum(const json_t *jwk, const char *name)
{
    const char *text = json_string_value(json_object_get(jwk, name));
    if (!text)
        return NULL;
    size_t len;
    unsigned char *raw = idp_base64url_decode(text, strlen(text), &len);
    if (!raw)
        return NULL;
    BIGNUM *bn = BN_bin2bn(raw, (int)len, NULL);
    free(raw);
    return bn;
}

EVP_PKEY *idp_jwk_public_key(const json_t *jwk, struct idp_error *err)
{
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    if (!kty || strcmp(kty, "RSA") != 0) {
        idp_fail(err, IDP_INVALID, "JWK is not an RSA key");
        return NULL;
    }
    BIGNUM *n = jwk_bignum(jwk, "n"), *e = jwk_bignum(jwk, "e");
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pkey = NULL;
    if (!n || !e || !bld || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
        !(params = OSSL_PARAM_BLD_to_param(bld)) ||
        !(ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) ||
        EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        ERR_clear_error();
        idp_fail(err, IDP_INVALID, "JWK has no usable n and e");
        pkey = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    return pkey;
}
