#include "totp.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

void idp_base32_encode(const unsigned char *bytes, size_t len, char *out, size_t size)
{
    size_t n = 0;
    unsigned buffer = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        buffer = (buffer << 8) | bytes[i];
        bits += 8;
        while (bits >= 5 && n + 1 < size) {
            out[n++] = alphabet[(buffer >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0 && n + 1 < size)
        out[n++] = alphabet[(buffer << (5 - bits)) & 31];
    if (size)
        out[n] = '\0';
}

/* Decodes base32 (upper or lower case, '=' padding and spaces ignored). */
static bool base32_decode(const char *text, unsigned char *out, size_t size, size_t *len)
{
    unsigned buffer = 0;
    int bits = 0;
    size_t n = 0;
    for (const char *p = text; *p; p++) {
        if (*p == '=' || *p == ' ')
            continue;
        char c = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
        const char *at = strchr(alphabet, c);
        if (!at || !c)
            return false;
        buffer = (buffer << 5) | (unsigned)(at - alphabet);
        bits += 5;
        if (bits >= 8) {
            if (n == size)
                return false;
            out[n++] = (unsigned char)(buffer >> (bits - 8));
            bits -= 8;
        }
    }
    *len = n;
    return n > 0;
}

bool idp_totp_code(const char *secret, int64_t now_s, char out[7])
{
    unsigned char key[64];
    size_t key_len;
    if (!base32_decode(secret, key, sizeof(key), &key_len))
        return false;
    uint64_t counter = (uint64_t)(now_s < 0 ? 0 : now_s) / 30;
    unsigned char message[8];
    for (int i = 7; i >= 0; i--) {
        message[i] = (unsigned char)(counter & 0xff);
        counter >>= 8;
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned digest_len = 0;
    if (!HMAC(EVP_sha1(), key, (int)key_len, message, sizeof(message), digest, &digest_len))
        return false;
    int offset = digest[digest_len - 1] & 0x0f;
    uint32_t binary = ((uint32_t)(digest[offset] & 0x7f) << 24) |
                      ((uint32_t)digest[offset + 1] << 16) | ((uint32_t)digest[offset + 2] << 8) |
                      digest[offset + 3];
    snprintf(out, 7, "%06u", binary % 1000000);
    return true;
}

bool idp_totp_verify(const char *secret, int64_t now_s, const char *code)
{
    if (!code || strlen(code) != 6)
        return false;
    for (int step = -1; step <= 1; step++) {
        char expected[7];
        if (idp_totp_code(secret, now_s + (int64_t)step * 30, expected) && strcmp(expected, code) == 0)
            return true;
    }
    return false;
}
