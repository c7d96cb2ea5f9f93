/* Compact JWS: signing RS256 access tokens, forging the malformed ones the
 * security scenarios need (alg none, HS256 keyed with the public key), and
 * decoding / verifying tokens for `fakeidp inspect` and the reference app's
 * verifier. Named idp_jwt.h, not jwt.h: libjwt installs a <jwt.h>, and a
 * program that links both must be able to include each. */
#ifndef IDP_JWT_H
#define IDP_JWT_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stddef.h>

#include "error.h"

enum idp_jwt_alg { IDP_JWT_RS256, IDP_JWT_NONE, IDP_JWT_HS256 };

/* Encodes header and payload (serialized compactly, keys in insertion order)
 * and signs. RS256 takes rsa_key; HS256 takes hmac_key/hmac_len; none takes
 * neither and leaves an empty signature. Returns a malloc'd token. */
char *idp_jwt_encode(const json_t *header, const json_t *payload,
                     enum idp_jwt_alg alg, EVP_PKEY *rsa_key,
                     const unsigned char *hmac_key, size_t hmac_len,
                     struct idp_error *err);

/* A decoded token. header and payload are owned references. */
struct idp_jwt {
    json_t *header;
    json_t *payload;
    unsigned char *signature;
    size_t signature_len;
    char *signing_input; /* "<header b64>.<payload b64>" */
};

/* Splits and decodes a token without verifying it. Fails with IDP_PARSE
 * ("token is not three base64url segments", "header is not a JSON object",
 * ...) on anything malformed. */
enum idp_status idp_jwt_decode(const char *token, struct idp_jwt *out,
                               struct idp_error *err);
void idp_jwt_cleanup(struct idp_jwt *jwt);

/* Verifies an RS256 signature with key. Any other alg in the header is
 * rejected (no alg:none, no HS256 confusion). */
enum idp_status idp_jwt_verify_rs256(const struct idp_jwt *jwt, EVP_PKEY *key,
                                     struct idp_error *err);

/* Builds a public key from a JWK object with kty RSA, n and e. */
EVP_PKEY *idp_jwk_public_key(const json_t *jwk, struct idp_error *err);

#endif
