/* Forged and mutated access tokens: what the security scenarios present to
 * verifiers and what the "token" fault puts into authenticate responses.
 * One mechanism for both, so a mutation means the same thing everywhere.
 *
 * spec keys: "remove" (claim name or array), "set" (object of claims),
 * "expired" / "not_yet_valid" (true), "kid" ("unknown" or a value), "sign"
 * ("unpublished": a key not in the JWKS, with its own kid; "wrong_key": that
 * key under the published kid), "alg" ("none", or "HS256": HMAC keyed with
 * the RSA public key's PEM, the key-confusion attack), "tamper" (true: the
 * payload changes after signing), "bloat" ({"permissions": N,
 * "feature_flags": N, "pad_to": bytes}). */
#ifndef IDP_FORGE_H
#define IDP_FORGE_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stdint.h>

#include "error.h"

/* The names spec may use (NULL-terminated), for validators. */
extern const char *const idp_forge_keys[];

/* Returns a new token (malloc'd) made from `token` per spec. signer signs
 * normal and HS256-confusion tokens; stray is the unpublished key (needed
 * only for "sign"). NULL with err set when the token cannot be decoded. */
/* Limits of "bloat" (docs/faults.md): a token of at most 1 MiB and lists
 * of at most 100000 entries, so one rule cannot take the server's memory. */
#define IDP_FORGE_MAX_PAD 1048576
#define IDP_FORGE_MAX_LIST 100000
/* Checks a token fault's "bloat" (NULL: none) against those limits. */
enum idp_status idp_forge_check(const json_t *bloat, struct idp_error *err);
char *idp_forge_token(const char *token, const json_t *spec, EVP_PKEY *signer, EVP_PKEY *stray,
                      int64_t now_ms, struct idp_error *err);

#endif
