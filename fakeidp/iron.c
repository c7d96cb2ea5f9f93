/* iron "Fe26.2" seals, following iron-webcrypto 1.2.1 (used by iron-session 8
 * and @workos-inc/node) step by step, so that seals cross in both directions
 * and every failure carries the message iron would throw. */
#include "iron.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "encoding.h"

#define IRON_PREFIX "Fe26.2"
#define IRON_PASSWORD_ID "1"
#define IRON_VERSION_SUFFIX "~2"
#define IRON_FIELDS 8
#define IRON_SALT_BYTES ((size_t)32) /* saltBits 256 -> 64 hex chars */
#define IRON_KEY_BYTES 32  /* AES-256 and HMAC-SHA256 keys */
#define IRON_IV_BYTES 16
#define IRON_BLOCK 16
#define IRON_SKEW_MS 60000 /* iron's timestampSkewSec */

/* Bounds that keep every size computation far from overflow and every int
 * argument to OpenSSL in range. A seal is a cookie or a URL parameter, so
 * 16 MiB of payload is generous; any seal we produce fits IRON_MAX_SEALED. */
#define IRON_MAX_PAYLOAD ((size_t)16 << 20)
#define IRON_MAX_SEALED ((size_t)32 << 20)
/* A salt is used as PBKDF2 salt text; iron's are 64 chars. */
#define IRON_MAX_SALT 1024

#define MSG_SHORT_PASSWORD                                                     \
    "Password string too short (min 32 characters required)"

struct field {
    const char *p;
    size_t len;
};

/* iron measures the password with JavaScript's String.length (UTF-16 code
 * units) and derives keys from its UTF-8 bytes. Counting the same way keeps
 * the two sides agreeing on which non-ASCII passwords are long enough. */
static size_t utf16_length(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p & 0xC0) == 0x80)
            continue; /* continuation byte */
        n += *p >= 0xF0 ? 2 : 1; /* 4-byte sequences are surrogate pairs */
    }
    return n;
}

/* Both seal and unseal refuse the password before touching the input. */
static enum idp_status check_password(const char *password,
                                      struct idp_error *err)
{
    if (!password || !*password)
        return idp_fail(err, IDP_INVALID, "Empty password");
    if (utf16_length(password) < IDP_IRON_MIN_PASSWORD)
        return idp_fail(err, IDP_INVALID, MSG_SHORT_PASSWORD);
    if (strlen(password) > INT_MAX)
        return idp_fail(err, IDP_INVALID, "Password too long");
    return IDP_OK;
}

/* PBKDF2-HMAC-SHA1 of the password with the salt's text (not its decoded
 * bytes) as salt, 1 iteration: iron's generateKey. */
static enum idp_status derive_key(const char *password, const char *salt,
                                  size_t salt_len,
                                  unsigned char key[IRON_KEY_BYTES],
                                  struct idp_error *err)
{
    if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password),
                          (const unsigned char *)salt, (int)salt_len, 1,
                          EVP_sha1(), IRON_KEY_BYTES, key) != 1)
        return idp_fail(err, IDP_CRYPTO, "PBKDF2 failed");
    return IDP_OK;
}

/* Fills salt (65 bytes) with the hex text of 32 random bytes. */
static enum idp_status random_salt(char salt[2 * IRON_SALT_BYTES + 1],
                                   struct idp_error *err)
{
    unsigned char raw[IRON_SALT_BYTES];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return idp_fail(err, IDP_CRYPTO, "RAND_bytes failed");
    char *hex = idp_hex_encode(raw, sizeof(raw));
    if (!hex)
        return idp_fail(err, IDP_NOMEM, "out of memory");
    memcpy(salt, hex, 2 * IRON_SALT_BYTES + 1);
    free(hex);
    return IDP_OK;
}

/* The base64url HMAC-SHA256 of base under a key derived from salt, as iron's
 * hmacWithPassword computes it. On success *digest is malloc'd. */
static enum idp_status mac_digest(const char *password, const char *salt,
                                  size_t salt_len, const char *base,
                                  size_t base_len, char **digest,
                                  struct idp_error *err)
{
    unsigned char key[IRON_KEY_BYTES];
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    enum idp_status st = derive_key(password, salt, salt_len, key, err);
    if (st != IDP_OK)
        goto out;
    if (!HMAC(EVP_sha256(), key, sizeof(key), (const unsigned char *)base,
              base_len, mac, &mac_len)) {
        st = idp_fail(err, IDP_CRYPTO, "HMAC failed");
        goto out;
    }
    char *text = idp_base64url_encode(mac, mac_len);
    if (!text) {
        st = idp_fail(err, IDP_NOMEM, "out of memory");
        goto out;
    }
    *digest = text;
out:
    OPENSSL_cleanse(key, sizeof(key));
    return st;
}

/* AES-256-CBC with PKCS#7 padding in either direction (enc 1 or 0). On
 * success *out is malloc'd with room for a trailing NUL, which is written. */
static enum idp_status aes_cbc(int enc, const unsigned char key[IRON_KEY_BYTES],
                               const unsigned char iv[IRON_IV_BYTES],
                               const unsigned char *in, size_t in_len,
                               unsigned char **out, size_t *out_len,
                               struct idp_error *err)
{
    enum idp_status st = IDP_OK;
    EVP_CIPHER_CTX *ctx = NULL;
    /* Callers bound in_len by IRON_MAX_SEALED, so int and the sum are safe. */
    unsigned char *buf = malloc(in_len + IRON_BLOCK + 1);
    int n1 = 0, n2 = 0;
    if (!buf) {
        st = idp_fail(err, IDP_NOMEM, "out of memory");
        goto out;
    }
    ctx = EVP_CIPHER_CTX_new();
    if (!ctx) {
        st = idp_fail(err, IDP_NOMEM, "out of memory");
        goto out;
    }
    if (EVP_CipherInit_ex(ctx, EVP_aes_256_cbc(), NULL, key, iv, enc) != 1 ||
        EVP_CipherUpdate(ctx, buf, &n1, in, (int)in_len) != 1 ||
        EVP_CipherFinal_ex(ctx, buf + n1, &n2) != 1) {
        st = idp_fail(err, IDP_CRYPTO, enc ? "Encryption failed"
                                           : "Decryption failed");
        goto out;
    }
    buf[n1 + n2] = '\0';
    *out = buf;
    *out_len = (size_t)n1 + (size_t)n2;
    buf = NULL;
out:
    free(buf);
    EVP_CIPHER_CTX_free(ctx);
    return st;
}

char *idp_iron_seal(const char *password, const unsigned char *data, size_t len,
                    int64_t now_ms, int64_t ttl_ms, struct idp_error *err)
{
    return idp_iron_seal_id(password, IRON_PASSWORD_ID, data, len, now_ms, ttl_ms, err);
}

bool idp_iron_password_id(const char *sealed, char *out, size_t size)
{
    if (size)
        out[0] = '\0';
    if (!sealed || strncmp(sealed, IRON_PREFIX "*", strlen(IRON_PREFIX) + 1) != 0)
        return false;
    const char *id = sealed + strlen(IRON_PREFIX) + 1;
    size_t len = strcspn(id, "*");
    if (id[len] != '*' || len >= size)
        return false;
    memcpy(out, id, len);
    out[len] = '\0';
    return true;
}

char *idp_iron_seal_id(const char *password, const char *password_id, const unsigned char *data,
                       size_t len, int64_t now_ms, int64_t ttl_ms, struct idp_error *err)
{
    char *result = NULL;
    unsigned char key[IRON_KEY_BYTES];
    unsigned char iv[IRON_IV_BYTES];
    char enc_salt[2 * IRON_SALT_BYTES + 1];
    char mac_salt[2 * IRON_SALT_BYTES + 1];
    char expiration[24] = "";
    unsigned char *cipher = NULL;
    size_t cipher_len = 0;
    char *iv_b64 = NULL, *cipher_b64 = NULL, *base = NULL, *mac = NULL;

    if (check_password(password, err) != IDP_OK)
        goto out;
    /* iron's password ids are [a-zA-Z0-9_]+ (passwordId in iron-webcrypto). */
    if (!password_id || !password_id[0] || strlen(password_id) > 64 ||
        strspn(password_id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") !=
            strlen(password_id)) {
        idp_fail(err, IDP_INVALID, "Invalid password id");
        goto out;
    }
    if (!data && len > 0) {
        idp_fail(err, IDP_INVALID, "Missing payload");
        goto out;
    }
    if (len > IRON_MAX_PAYLOAD) {
        idp_fail(err, IDP_INVALID, "Payload too large");
        goto out;
    }
    /* iron writes now + ttl for any non-zero ttl; it must stay a
     * non-negative int64 to read back as digits. */
    if (ttl_ms != 0) {
        if ((ttl_ms > 0 && now_ms > INT64_MAX - ttl_ms) ||
            (ttl_ms < 0 && now_ms < INT64_MIN - ttl_ms) ||
            now_ms + ttl_ms < 0) {
            idp_fail(err, IDP_INVALID, "Invalid ttl");
            goto out;
        }
        snprintf(expiration, sizeof(expiration), "%lld",
                 (long long)now_ms + (long long)ttl_ms);
    }

    if (random_salt(enc_salt, err) != IDP_OK ||
        random_salt(mac_salt, err) != IDP_OK)
        goto out;
    if (RAND_bytes(iv, sizeof(iv)) != 1) {
        idp_fail(err, IDP_CRYPTO, "RAND_bytes failed");
        goto out;
    }
    if (derive_key(password, enc_salt, 2 * IRON_SALT_BYTES, key, err) !=
            IDP_OK ||
        aes_cbc(1, key, iv, data ? data : (const unsigned char *)"", len,
                &cipher, &cipher_len, err) != IDP_OK)
        goto out;

    iv_b64 = idp_base64url_encode(iv, sizeof(iv));
    cipher_b64 = idp_base64url_encode(cipher, cipher_len);
    if (!iv_b64 || !cipher_b64) {
        idp_fail(err, IDP_NOMEM, "out of memory");
        goto out;
    }
    /* Fields 1-6, which the MAC covers. */
    size_t base_len = strlen(IRON_PREFIX "**") + strlen(password_id) +
                      2 * IRON_SALT_BYTES + 1 + strlen(iv_b64) + 1 +
                      strlen(cipher_b64) + 1 + strlen(expiration);
    base = malloc(base_len + 1);
    if (!base) {
        idp_fail(err, IDP_NOMEM, "out of memory");
        goto out;
    }
    snprintf(base, base_len + 1, "%s*%s*%s*%s*%s*%s", IRON_PREFIX,
             password_id, enc_salt, iv_b64, cipher_b64, expiration);
    if (mac_digest(password, mac_salt, 2 * IRON_SALT_BYTES, base, base_len,
                   &mac, err) != IDP_OK)
        goto out;

    if (!mac) { /* mac_digest sets it whenever it succeeds */
        idp_fail(err, IDP_CRYPTO, "HMAC failed");
        goto out;
    }
    size_t total = base_len + 1 + 2 * IRON_SALT_BYTES + 1 + strlen(mac) +
                   strlen(IRON_VERSION_SUFFIX);
    char *sealed = malloc(total + 1);
    if (!sealed) {
        idp_fail(err, IDP_NOMEM, "out of memory");
        goto out;
    }
    snprintf(sealed, total + 1, "%s*%s*%s%s", base, mac_salt, mac,
             IRON_VERSION_SUFFIX);
    result = sealed;
out:
    OPENSSL_cleanse(key, sizeof(key));
    free(cipher);
    free(iv_b64);
    free(cipher_b64);
    free(base);
    free(mac);
    return result;
}

/* Splits s[0..len) at '*' into exactly IRON_FIELDS fields. */
static bool split_fields(const char *s, size_t len,
                         struct field fields[IRON_FIELDS])
{
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != '*')
            continue;
        if (n == IRON_FIELDS)
            return false;
        fields[n].p = s + start;
        fields[n].len = i - start;
        n++;
        start = i + 1;
    }
    return n == IRON_FIELDS;
}

/* Parses iron's /^\d+$/ expiration; values beyond int64 saturate, as a huge
 * JavaScript number simply never expires. */
static bool parse_expiration(const struct field *f, int64_t *out)
{
    if (f->len == 0)
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < f->len; i++) {
        char c = f->p[i];
        if (c < '0' || c > '9')
            return false;
        int d = c - '0';
        v = v > (INT64_MAX - d) / 10 ? INT64_MAX : v * 10 + d;
    }
    *out = v;
    return true;
}

enum idp_status idp_iron_unseal(const char *password, const char *sealed,
                                int64_t now_ms, unsigned char **out,
                                size_t *out_len, struct idp_error *err)
{
    enum idp_status st;
    struct field f[IRON_FIELDS];
    char *mac = NULL;
    unsigned char *iv = NULL, *cipher = NULL, *plain = NULL;
    size_t iv_len = 0, cipher_len = 0, plain_len = 0;
    unsigned char key[IRON_KEY_BYTES];
    /* Cleansed at out: whatever path reaches it. */
    memset(key, 0, sizeof(key));

    st = check_password(password, err);
    if (st != IDP_OK)
        goto out;
    if (!sealed) {
        st = idp_fail(err, IDP_PARSE, "Incorrect number of sealed components");
        goto out;
    }
    size_t len = strnlen(sealed, IRON_MAX_SEALED + 1);
    if (len > IRON_MAX_SEALED) {
        st = idp_fail(err, IDP_PARSE, "Sealed string too long");
        goto out;
    }
    /* iron-session appends "~<major version>" and keeps what precedes the
     * first '~'; the version is not covered by the MAC, so any is accepted. */
    const char *tilde = memchr(sealed, '~', len);
    if (tilde)
        len = (size_t)(tilde - sealed);

    if (!split_fields(sealed, len, f)) {
        st = idp_fail(err, IDP_PARSE, "Incorrect number of sealed components");
        goto out;
    }
    if (f[0].len != strlen(IRON_PREFIX) ||
        memcmp(f[0].p, IRON_PREFIX, f[0].len) != 0) {
        st = idp_fail(err, IDP_PARSE, "Wrong mac prefix");
        goto out;
    }
    if (f[5].len > 0) {
        int64_t exp;
        if (!parse_expiration(&f[5], &exp)) {
            st = idp_fail(err, IDP_PARSE, "Invalid expiration");
            goto out;
        }
        int64_t limit =
            now_ms < INT64_MIN + IRON_SKEW_MS ? INT64_MIN : now_ms - IRON_SKEW_MS;
        if (exp <= limit) {
            st = idp_fail(err, IDP_EXPIRED, "Expired seal");
            goto out;
        }
    }
    /* The password id (field 1) is only a key-rotation hint; with a single
     * password iron accepts any. An empty or oversized salt cannot match: iron
     * replaces an empty one with a random salt, so it also reports a bad
     * hmac. */
    if (f[6].len == 0 || f[6].len > IRON_MAX_SALT || f[2].len == 0 ||
        f[2].len > IRON_MAX_SALT) {
        st = idp_fail(err, IDP_DENIED, "Bad hmac value");
        goto out;
    }

    /* The MAC covers fields 0-5, which are contiguous in the input. */
    size_t base_len = (size_t)(f[6].p - 1 - sealed);
    st = mac_digest(password, f[6].p, f[6].len, sealed, base_len, &mac, err);
    if (st != IDP_OK || !mac) {
        if (st == IDP_OK) /* mac_digest sets it whenever it succeeds */
            st = idp_fail(err, IDP_CRYPTO, "HMAC failed");
        goto out;
    }
    size_t mac_len = strlen(mac);
    if (f[7].len != mac_len ||
        CRYPTO_memcmp(mac, f[7].p, mac_len) != 0) {
        st = idp_fail(err, IDP_DENIED, "Bad hmac value");
        goto out;
    }

    /* Authentic from here on: whatever fails was sealed malformed by a holder
     * of the password. */
    iv = idp_base64url_decode(f[3].p, f[3].len, &iv_len);
    if (!iv || iv_len != IRON_IV_BYTES) {
        st = idp_fail(err, IDP_PARSE, "Invalid iv");
        goto out;
    }
    cipher = idp_base64url_decode(f[4].p, f[4].len, &cipher_len);
    if (!cipher) {
        st = idp_fail(err, IDP_PARSE, "Invalid encrypted data");
        goto out;
    }
    st = derive_key(password, f[2].p, f[2].len, key, err);
    if (st != IDP_OK)
        goto out;
    st = aes_cbc(0, key, iv, cipher, cipher_len, &plain, &plain_len, err);
    if (st != IDP_OK)
        goto out;
    *out = plain;
    *out_len = plain_len;
    plain = NULL;
out:
    OPENSSL_cleanse(key, sizeof(key));
    free(mac);
    free(iv);
    free(cipher);
    free(plain);
    return st;
}
