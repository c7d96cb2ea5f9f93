/* A seeded generator for every random choice fakeidp makes (ids, tokens,
 * probabilistic faults): the same seed gives the same sequence, so a failing
 * run can be replayed. Not for secrets outside tests. Thread-safe. */
#ifndef IDP_RANDOM_H
#define IDP_RANDOM_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct idp_random {
    pthread_mutex_t lock;
    uint64_t state[4];
    uint64_t seed;
};

/* seed 0 picks a seed from the operating system's generator. */
/* FNV-1a over text, continuing from h (start with IDP_HASH_START): the one
 * string hash of the project (map buckets, derived ids, seeds). */
#define IDP_HASH_START 1469598103934665603ULL
uint64_t idp_hash_text(uint64_t h, const char *text);

void idp_random_init(struct idp_random *rng, uint64_t seed);
void idp_random_cleanup(struct idp_random *rng);
uint64_t idp_random_u64(struct idp_random *rng);
void idp_random_bytes(struct idp_random *rng, unsigned char *out, size_t len);
/* A uniform double in [0, 1). */
double idp_random_unit(struct idp_random *rng);

/* Writes prefix + a ULID (48-bit ms timestamp + 80 random bits) into out,
 * e.g. "session_01J…". out must hold strlen(prefix) + 27 bytes. */
void idp_random_ulid(struct idp_random *rng, const char *prefix, int64_t now_ms,
                     char *out, size_t out_size);

/* A random base62 string of len characters (opaque tokens). */
void idp_random_token(struct idp_random *rng, char *out, size_t len);

#endif
