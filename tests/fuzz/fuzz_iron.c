/* iron unsealing (the wos-session cookie and the PKCE state) with a fixed
 * password. The first byte picks a mode:
 *   0: the rest is a seal as a client could send it;
 *   1: the rest is fields 0-6 of a seal ('*'-separated) that gets a valid
 *      MAC appended, so the parts after the MAC check (iv, ciphertext,
 *      decryption) see fuzzed input too;
 *   2: the rest is a payload: seal it (ttl from the next byte) and unseal it,
 *      which must give the same bytes back.
 * Failures must carry a status other than OK and a message. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encoding.h"
#include "fuzz.h"
#include "iron.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static void unseal(const char *sealed, int64_t now)
{
    unsigned char *out = NULL;
    size_t out_len = 0;
    struct idp_error err;
    memset(&err, 0, sizeof(err));
    enum idp_status st = idp_iron_unseal(FUZZ_IRON_PASSWORD, sealed, now, &out, &out_len, &err);
    if (st == IDP_OK) {
        if (!out || out[out_len] != '\0')
            abort();
        free(out);
    } else if (err.status != st || !err.message[0]) {
        abort();
    }
}

/* Appends iron's MAC of fields 0-5 under the salt in field 6. */
static char *authentic(const char *fields)
{
    const char *last = strrchr(fields, '*');
    if (!last)
        return NULL;
    const char *salt = last + 1;
    size_t base_len = (size_t)(last - fields);
    unsigned char key[32], mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (PKCS5_PBKDF2_HMAC(FUZZ_IRON_PASSWORD, (int)strlen(FUZZ_IRON_PASSWORD),
                          (const unsigned char *)salt, (int)strlen(salt), 1, EVP_sha1(),
                          sizeof(key), key) != 1 ||
        !HMAC(EVP_sha256(), key, sizeof(key), (const unsigned char *)fields, base_len, mac,
              &mac_len))
        abort();
    char *mac64 = idp_base64url_encode(mac, mac_len);
    size_t size = strlen(fields) + strlen(mac64) + 8;
    char *sealed = malloc(size);
    if (!sealed)
        abort();
    snprintf(sealed, size, "%s*%s~2", fields, mac64);
    free(mac64);
    return sealed;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    const int64_t now = 1768478400000LL;
    unsigned mode = data[0] % 3;
    char *text = fuzz_text(data + 1, size - 1);
    if (mode == 0) {
        unseal(text, now);
    } else if (mode == 1) {
        char *sealed = authentic(text);
        if (sealed)
            unseal(sealed, now);
        free(sealed);
    } else {
        int64_t ttl = size > 1 ? (int64_t)(data[1] % 4) * 60000 - 60000 : 0;
        const unsigned char *payload = size > 2 ? data + 2 : NULL;
        size_t len = size > 2 ? size - 2 : 0;
        struct idp_error err;
        memset(&err, 0, sizeof(err));
        char *sealed = idp_iron_seal(FUZZ_IRON_PASSWORD, payload, len, now, ttl, &err);
        if (!sealed)
            abort();
        unsigned char *out = NULL;
        size_t out_len = 0;
        enum idp_status st =
            idp_iron_unseal(FUZZ_IRON_PASSWORD, sealed, now, &out, &out_len, &err);
        /* A seal that expired a minute ago is past iron's 60 s skew. */
        if (ttl < 0 ? st != IDP_EXPIRED
                    : st != IDP_OK || out_len != len || (len && memcmp(out, payload, len) != 0)) {
            fprintf(stderr, "iron round trip: status %d (%s), %zu bytes for %zu\n", st,
                    err.message, out_len, len);
            abort();
        }
        free(out);
        free(sealed);
    }
    free(text);
    return 0;
}
