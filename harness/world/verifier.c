#include "verifier.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_client.h"
#include "idp_jwt.h"

static const char *const verify_names[] = {
    "ok", "malformed", "algorithm", "unknown_kid", "signature", "expired", "not_yet_valid",
    "issuer", "audience", "jwks_unavailable"};

const char *hx_verify_name(enum hx_verify result)
{
    return verify_names[result];
}

void hx_jwks_cache_init(struct hx_jwks_cache *cache, const char *url, int64_t max_age_ms,
                        bool refetch_unknown_kid, int64_t cooldown_ms)
{
    memset(cache, 0, sizeof(*cache));
    pthread_mutex_init(&cache->lock, NULL);
    snprintf(cache->url, sizeof(cache->url), "%s", url);
    cache->max_age_ms = max_age_ms;
    cache->refetch_unknown_kid = refetch_unknown_kid;
    cache->cooldown_ms = cooldown_ms;
    cache->last_refetch_ms = INT64_MIN / 2;
}

void hx_jwks_cache_cleanup(struct hx_jwks_cache *cache)
{
    json_decref(cache->jwks);
    cache->jwks = NULL;
    pthread_mutex_destroy(&cache->lock);
}

/* Fetches the key set; lock held. jose requires status exactly 200. */
static bool fetch(struct hx_jwks_cache *cache, int64_t now_ms)
{
    struct hx_http_client *client = hx_http_client_new();
    struct hx_http_response resp = {0};
    static const char *const headers[] = {"Accept: application/json, application/jwk-set+json",
                                          NULL};
    bool ok = false;
    if (client && hx_http_request(client, "GET", cache->url, headers, NULL, 0, 5000, &resp) &&
        resp.status == 200) {
        json_t *jwks = json_loadb(resp.body, resp.body_len, 0, NULL);
        if (json_is_array(json_object_get(jwks, "keys"))) {
            json_decref(cache->jwks);
            cache->jwks = jwks;
            cache->fetched_at_ms = now_ms;
            ok = true;
        } else {
            json_decref(jwks);
        }
    }
    cache->fetches++;
    hx_http_response_cleanup(&resp);
    hx_http_client_free(&client);
    return ok;
}

static const json_t *find_key(const json_t *jwks, const char *kid)
{
    size_t i;
    json_t *k;
    json_array_foreach(json_object_get(jwks, "keys"), i, k) {
        const char *kkid = json_string_value(json_object_get(k, "kid"));
        if (kid && kkid && strcmp(kid, kkid) == 0)
            return k;
    }
    return NULL;
}

json_t *hx_token_claims(const char *token)
{
    struct idp_jwt jwt;
    if (!token || idp_jwt_decode(token, &jwt, NULL))
        return NULL;
    json_t *claims = json_incref(jwt.payload);
    idp_jwt_cleanup(&jwt);
    return claims;
}

static bool audience_matches(const json_t *aud, const char *expected)
{
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), expected) == 0;
    size_t i;
    json_t *v;
    json_array_foreach(aud, i, v) if (json_is_string(v) && strcmp(json_string_value(v), expected) == 0) return true;
    return false;
}

enum hx_verify hx_verify_token(struct hx_jwks_cache *cache, const char *token, int64_t now_ms,
                               int64_t leeway_ms, const char *expected_issuer,
                               const char *expected_audience, json_t **claims, char *why,
                               size_t why_size)
{
    struct idp_jwt jwt;
    struct idp_error err;
    if (!token || idp_jwt_decode(token, &jwt, &err)) {
        snprintf(why, why_size, "malformed token: %s", token ? err.message : "missing");
        return HX_VERIFY_MALFORMED;
    }
    enum hx_verify result = HX_VERIFY_OK;
    const char *alg = json_string_value(json_object_get(jwt.header, "alg"));
    const char *kid = json_string_value(json_object_get(jwt.header, "kid"));
    EVP_PKEY *key = NULL;
    if (!alg || strcmp(alg, "RS256") != 0) {
        snprintf(why, why_size, "algorithm %s not accepted", alg ? alg : "(none)");
        result = HX_VERIFY_ALGORITHM;
        goto out;
    }
    pthread_mutex_lock(&cache->lock);
    if (!cache->jwks || now_ms - cache->fetched_at_ms >= cache->max_age_ms)
        fetch(cache, now_ms);
    const json_t *jwk = cache->jwks ? find_key(cache->jwks, kid) : NULL;
    if (cache->jwks && !jwk && cache->refetch_unknown_kid &&
        now_ms - cache->last_refetch_ms >= cache->cooldown_ms) {
        cache->last_refetch_ms = now_ms;
        if (fetch(cache, now_ms))
            jwk = find_key(cache->jwks, kid);
    }
    bool have_jwks = cache->jwks != NULL;
    key = jwk ? idp_jwk_public_key(jwk, NULL) : NULL;
    pthread_mutex_unlock(&cache->lock);
    if (!have_jwks) {
        snprintf(why, why_size, "JWKS unavailable at %s", cache->url);
        result = HX_VERIFY_JWKS_UNAVAILABLE;
        goto out;
    }
    if (!key) {
        snprintf(why, why_size, "no key with kid %s in the cached JWKS", kid ? kid : "(none)");
        result = HX_VERIFY_UNKNOWN_KID;
        goto out;
    }
    if (idp_jwt_verify_rs256(&jwt, key, &err)) {
        snprintf(why, why_size, "%s", err.message);
        result = HX_VERIFY_SIGNATURE;
        goto out;
    }
    json_int_t now_s = now_ms / 1000, leeway_s = leeway_ms / 1000;
    const json_t *exp = json_object_get(jwt.payload, "exp");
    const json_t *nbf = json_object_get(jwt.payload, "nbf");
    if (!json_is_integer(exp) || json_integer_value(exp) <= now_s - leeway_s) {
        /* Unsigned: a forged exp near INT64_MIN must not overflow the age. */
        snprintf(why, why_size, "token expired %llds ago",
                 (long long)((unsigned long long)now_s -
                             (unsigned long long)json_integer_value(exp)));
        result = HX_VERIFY_EXPIRED;
        goto out;
    }
    if (json_is_integer(nbf) && json_integer_value(nbf) > now_s + leeway_s) {
        snprintf(why, why_size, "token not valid for another %llds",
                 (long long)(json_integer_value(nbf) - now_s));
        result = HX_VERIFY_NOT_YET_VALID;
        goto out;
    }
    const char *iss = json_string_value(json_object_get(jwt.payload, "iss"));
    if (expected_issuer && (!iss || strcmp(iss, expected_issuer) != 0)) {
        snprintf(why, why_size, "issuer %s is not %s", iss ? iss : "(none)", expected_issuer);
        result = HX_VERIFY_ISSUER;
        goto out;
    }
    if (expected_audience && !audience_matches(json_object_get(jwt.payload, "aud"), expected_audience)) {
        snprintf(why, why_size, "audience does not include %s", expected_audience);
        result = HX_VERIFY_AUDIENCE;
        goto out;
    }
    if (claims)
        *claims = json_incref(jwt.payload);
out:
    EVP_PKEY_free(key);
    idp_jwt_cleanup(&jwt);
    return result;
}
