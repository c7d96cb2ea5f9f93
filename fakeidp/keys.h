/* Signing keys: RSA-2048 test keys, their JWK form, and the publish / sign /
 * retire schedule that models key rotation on the virtual clock.
 *
 * A key is published (listed in the JWKS) from publish_at until retire_at; it
 * signs from sign_from until another key's sign_from passes or it retires.
 * The kid is derived from the public key (`sso_oidc_key_pair_<26 chars>`), so
 * the same PEM always has the same kid across restarts. */
#ifndef IDP_KEYS_H
#define IDP_KEYS_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>

#include "error.h"

#define IDP_KEYS_MAX 16
#define IDP_TIME_NEVER INT64_MAX
#define IDP_TIME_ALWAYS INT64_MIN

struct idp_key {
    EVP_PKEY *pkey; /* owned reference */
    char kid[64];
    char n[400];    /* base64url modulus */
    char e[16];     /* base64url exponent */
    int64_t publish_at_ms;
    int64_t sign_from_ms;
    int64_t retire_at_ms;
};

struct idp_keyset {
    struct idp_key keys[IDP_KEYS_MAX];
    size_t count;
};

/* Fills key from an EVP_PKEY (an RSA private key); takes a new reference, so
 * the caller keeps its own. The schedule starts as always-on. */
enum idp_status idp_key_init(struct idp_key *key, EVP_PKEY *pkey,
                             struct idp_error *err);
void idp_key_cleanup(struct idp_key *key);

/* Reads an RSA private key from a PEM file. Returns a new EVP_PKEY. */
EVP_PKEY *idp_pem_load(const char *path, struct idp_error *err);
/* Generates a fresh RSA-2048 key (about 100-400 ms). */
EVP_PKEY *idp_rsa_generate(struct idp_error *err);
/* Loads the key at path, or generates one and writes it there (mode 0600,
 * creating parent folders) so the next start reuses it. */
EVP_PKEY *idp_pem_load_or_generate(const char *path, struct idp_error *err);
/* A key for rotating to: with dir, the first of dir/rotation-key-N.pem (kept
 * across runs, generated on first use) whose kid is not in set; without,
 * a fresh key. Generating RSA-2048 costs 100-400 ms, so a scenario suite
 * that rotates pays it once per machine instead of once per rotation. */
EVP_PKEY *idp_rotation_key(const char *dir, const struct idp_keyset *set, struct idp_error *err);
/* The default cache path: $FAKEIDP_KEY_CACHE, else
 * $XDG_CACHE_HOME/fakeidp/signing-key.pem, else ~/.cache/fakeidp/…  */
void idp_default_key_cache_path(char *out, size_t size);
/* PEM text of the public key (malloc'd). */
char *idp_pem_public(EVP_PKEY *pkey);

void idp_keyset_init(struct idp_keyset *set);
void idp_keyset_cleanup(struct idp_keyset *set);
/* Adds a key with a schedule; fails when the set is full. */
enum idp_status idp_keyset_add(struct idp_keyset *set, EVP_PKEY *pkey,
                               int64_t publish_at_ms, int64_t sign_from_ms,
                               int64_t retire_at_ms, struct idp_error *err);
/* Rotation: the new key is published now and signs from now + lead; the key
 * that signs now retires retire_after after the new one starts signing.
 * Keys retired before now are dropped to make room. */
enum idp_status idp_keyset_rotate(struct idp_keyset *set, EVP_PKEY *pkey,
                                  int64_t now_ms, int64_t lead_ms,
                                  int64_t retire_after_ms, struct idp_error *err);
/* The key that signs at now: the published key with the latest sign_from that
 * has passed. NULL if none. */
const struct idp_key *idp_keyset_signer(const struct idp_keyset *set, int64_t now_ms);
const struct idp_key *idp_keyset_find(const struct idp_keyset *set, const char *kid);
bool idp_key_published(const struct idp_key *key, int64_t now_ms);
/* {"keys":[…]} of the keys published at now (new reference). */
json_t *idp_keyset_jwks(const struct idp_keyset *set, int64_t now_ms);
/* One key as a JWK object (new reference). */
json_t *idp_key_jwk(const struct idp_key *key);

#endif
