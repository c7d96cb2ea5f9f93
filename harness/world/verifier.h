/* Access-token verification as the apps and backends do it: a JWKS fetched
 * over HTTP and cached (max age, refetch on an unknown kid with a cooldown,
 * or never), RS256 only, exp/nbf against the verifier's own clock with a
 * leeway, optional exact issuer and audience. Plus Convex-style provider
 * matching (customJwt): a token is accepted only by a provider whose issuer
 * equals iss and, when the provider has an applicationID, whose aud matches. */
#ifndef HX_VERIFIER_H
#define HX_VERIFIER_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct hx_jwks_cache {
    pthread_mutex_t lock;
    char url[512];
    int64_t max_age_ms;
    bool refetch_unknown_kid;
    int64_t cooldown_ms;
    json_t *jwks;           /* last fetched set, or NULL */
    int64_t fetched_at_ms;
    int64_t last_refetch_ms;
    unsigned fetches;
};

enum hx_verify {
    HX_VERIFY_OK,
    HX_VERIFY_MALFORMED,
    HX_VERIFY_ALGORITHM,
    HX_VERIFY_UNKNOWN_KID,
    HX_VERIFY_SIGNATURE,
    HX_VERIFY_EXPIRED,
    HX_VERIFY_NOT_YET_VALID,
    HX_VERIFY_ISSUER,
    HX_VERIFY_AUDIENCE,
    HX_VERIFY_JWKS_UNAVAILABLE,
};

const char *hx_verify_name(enum hx_verify result);

void hx_jwks_cache_init(struct hx_jwks_cache *cache, const char *url, int64_t max_age_ms,
                        bool refetch_unknown_kid, int64_t cooldown_ms);
void hx_jwks_cache_cleanup(struct hx_jwks_cache *cache);

/* Verifies token at now_ms. expected_issuer / expected_audience may be NULL
 * (not checked). On success *claims (if given) is a new reference. why gets a
 * one-line reason on failure. */
enum hx_verify hx_verify_token(struct hx_jwks_cache *cache, const char *token, int64_t now_ms,
                               int64_t leeway_ms, const char *expected_issuer,
                               const char *expected_audience, json_t **claims, char *why,
                               size_t why_size);

/* Reads claims without verifying (for decisions like "expires soon"). */
json_t *hx_token_claims(const char *token);

#endif
