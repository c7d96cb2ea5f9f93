#include "random.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "encoding.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void idp_random_init(struct idp_random *rng, uint64_t seed)
{
    pthread_mutex_init(&rng->lock, NULL);
    if (seed == 0) {
        if (RAND_bytes((unsigned char *)&seed, sizeof(seed)) != 1 || seed == 0)
            seed = 0x5eed5eed5eedULL;
    }
    rng->seed = seed;
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        rng->state[i] = splitmix64(&x);
}

void idp_random_cleanup(struct idp_random *rng)
{
    pthread_mutex_destroy(&rng->lock);
}

/* xoshiro256** */
static uint64_t next_locked(struct idp_random *rng)
{
    uint64_t *s = rng->state;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t idp_random_u64(struct idp_random *rng)
{
    pthread_mutex_lock(&rng->lock);
    uint64_t v = next_locked(rng);
    pthread_mutex_unlock(&rng->lock);
    return v;
}

void idp_random_bytes(struct idp_random *rng, unsigned char *out, size_t len)
{
    pthread_mutex_lock(&rng->lock);
    for (size_t i = 0; i < len; i += 8) {
        uint64_t v = next_locked(rng);
        size_t n = len - i < 8 ? len - i : 8;
        memcpy(out + i, &v, n);
    }
    pthread_mutex_unlock(&rng->lock);
}

double idp_random_unit(struct idp_random *rng)
{
    return (double)(idp_random_u64(rng) >> 11) * 0x1.0p-53;
}

void idp_random_ulid(struct idp_random *rng, const char *prefix, int64_t now_ms,
                     char *out, size_t out_size)
{
    unsigned char bytes[16];
    uint64_t ts = now_ms < 0 ? 0 : (uint64_t)now_ms;
    for (int i = 0; i < 6; i++)
        bytes[i] = (unsigned char)(ts >> (8 * (5 - i)));
    idp_random_bytes(rng, bytes + 6, 10);
    char ulid[27];
    idp_crockford_ulid(bytes, ulid);
    snprintf(out, out_size, "%s%s", prefix, ulid);
}

void idp_random_token(struct idp_random *rng, char *out, size_t len)
{
    static const char alphabet[] =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    for (size_t i = 0; i < len; i++)
        out[i] = alphabet[idp_random_u64(rng) % 62];
    out[len] = '\0';
}

uint64_t idp_hash_text(uint64_t h, const char *text)
{
    for (; *text; text++)
        h = (h ^ (unsigned char)*text) * 1099511628211ULL;
    return h;
}
