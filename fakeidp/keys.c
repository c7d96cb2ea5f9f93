#include "keys.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "encoding.h"

static enum idp_status crypto_fail(struct idp_error *err, const char *what)
{
    char detail[256];
    ERR_error_string_n(ERR_get_error(), detail, sizeof(detail));
    ERR_clear_error();
    return idp_fail(err, IDP_CRYPTO, "%s: %s", what, detail);
}

static bool bignum_b64url(EVP_PKEY *pkey, const char *param, char *out, size_t size)
{
    BIGNUM *bn = NULL;
    if (!EVP_PKEY_get_bn_param(pkey, param, &bn))
        return false;
    int len = BN_num_bytes(bn);
    unsigned char *buf = malloc((size_t)len > 0 ? (size_t)len : 1);
    bool ok = false;
    if (buf) {
        BN_bn2bin(bn, buf);
        char *text = idp_base64url_encode(buf, (size_t)len);
        if (text && strlen(text) < size) {
            memcpy(out, text, strlen(text) + 1);
            ok = true;
        }
        free(text);
    }
    free(buf);
    BN_free(bn);
    return ok;
}

enum idp_status idp_key_init(struct idp_key *key, EVP_PKEY *pkey, struct idp_error *err)
{
    memset(key, 0, sizeof(*key));
    if (!pkey || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA)
        return idp_fail(err, IDP_INVALID, "signing key must be an RSA key");
    if (!bignum_b64url(pkey, OSSL_PKEY_PARAM_RSA_N, key->n, sizeof(key->n)) ||
        !bignum_b64url(pkey, OSSL_PKEY_PARAM_RSA_E, key->e, sizeof(key->e)))
        return crypto_fail(err, "reading RSA key parameters");
    /* kid: a ULID-shaped rendering of SHA-256(n "." e), stable per key. */
    unsigned char digest[32];
    char material[420];
    snprintf(material, sizeof(material), "%s.%s", key->n, key->e);
    EVP_Digest(material, strlen(material), digest, NULL, EVP_sha256(), NULL);
    digest[0] = 0x01; /* ULIDs of this era start with 01 */
    char ulid[27];
    idp_crockford_ulid(digest, ulid);
    snprintf(key->kid, sizeof(key->kid), "sso_oidc_key_pair_%s", ulid);
    EVP_PKEY_up_ref(pkey);
    key->pkey = pkey;
    key->publish_at_ms = IDP_TIME_ALWAYS;
    key->sign_from_ms = IDP_TIME_ALWAYS;
    key->retire_at_ms = IDP_TIME_NEVER;
    return IDP_OK;
}

void idp_key_cleanup(struct idp_key *key)
{
    EVP_PKEY_free(key->pkey);
    key->pkey = NULL;
}

EVP_PKEY *idp_pem_load(const char *path, struct idp_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        idp_fail(err, IDP_IO, "cannot open key file %s: %s", path, strerror(errno));
        return NULL;
    }
    EVP_PKEY *pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (!pkey) {
        ERR_clear_error();
        idp_fail(err, IDP_PARSE, "%s is not a PEM private key", path);
        return NULL;
    }
    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
        EVP_PKEY_free(pkey);
        idp_fail(err, IDP_INVALID, "%s: only RSA keys sign RS256 tokens", path);
        return NULL;
    }
    return pkey;
}

EVP_PKEY *idp_rsa_generate(struct idp_error *err)
{
    EVP_PKEY *pkey = EVP_RSA_gen(2048);
    if (!pkey)
        crypto_fail(err, "generating an RSA-2048 key");
    return pkey;
}

static void make_parents(const char *path)
{
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(buf, 0700);
            *p = '/';
        }
    }
}

EVP_PKEY *idp_pem_load_or_generate(const char *path, struct idp_error *err)
{
    struct stat st;
    if (stat(path, &st) == 0)
        return idp_pem_load(path, err);
    EVP_PKEY *pkey = idp_rsa_generate(err);
    if (!pkey)
        return NULL;
    make_parents(path);
    char tmp[1100];
    snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (f) {
        chmod(tmp, 0600);
        bool ok = PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) == 1;
        ok = (fclose(f) == 0) && ok;
        /* rename() is atomic: two processes racing both end with one valid key
         * file, and each uses the key it generated for this run. */
        if (!ok || rename(tmp, path) != 0)
            unlink(tmp);
    }
    return pkey;
}

EVP_PKEY *idp_rotation_key(const char *dir, const struct idp_keyset *set, struct idp_error *err)
{
    if (!dir || !*dir)
        return idp_rsa_generate(err);
    for (int i = 0; i < 2 * IDP_KEYS_MAX; i++) {
        char path[1200];
        snprintf(path, sizeof(path), "%s/rotation-key-%d.pem", dir, i);
        EVP_PKEY *pkey = idp_pem_load_or_generate(path, err);
        if (!pkey)
            return NULL;
        struct idp_key info;
        bool known = idp_key_init(&info, pkey, NULL) == IDP_OK && idp_keyset_find(set, info.kid);
        idp_key_cleanup(&info);
        if (!known)
            return pkey;
        EVP_PKEY_free(pkey);
    }
    return idp_rsa_generate(err);
}

void idp_default_key_cache_path(char *out, size_t size)
{
    const char *explicit_path = getenv("FAKEIDP_KEY_CACHE");
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (explicit_path && *explicit_path)
        snprintf(out, size, "%s", explicit_path);
    else if (xdg && *xdg)
        snprintf(out, size, "%s/fakeidp/signing-key.pem", xdg);
    else if (home && *home)
        snprintf(out, size, "%s/.cache/fakeidp/signing-key.pem", home);
    else
        snprintf(out, size, "/tmp/fakeidp-signing-key.pem");
}

char *idp_pem_public(EVP_PKEY *pkey)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio)
        return NULL;
    char *out = NULL;
    if (PEM_write_bio_PUBKEY(bio, pkey) == 1) {
        char *data;
        long len = BIO_get_mem_data(bio, &data);
        out = malloc((size_t)len + 1);
        if (out) {
            memcpy(out, data, (size_t)len);
            out[len] = '\0';
        }
    }
    BIO_free(bio);
    return out;
}

void idp_keyset_init(struct idp_keyset *set)
{
    memset(set, 0, sizeof(*set));
}

void idp_keyset_cleanup(struct idp_keyset *set)
{
    for (size_t i = 0; i < set->count; i++)
        idp_key_cleanup(&set->keys[i]);
    set->count = 0;
}

enum idp_status idp_keyset_add(struct idp_keyset *set, EVP_PKEY *pkey,
                               int64_t publish_at_ms, int64_t sign_from_ms,
                               int64_t retire_at_ms, struct idp_error *err)
{
    if (set->count >= IDP_KEYS_MAX)
        return idp_fail(err, IDP_INVALID, "at most %d keys at once", IDP_KEYS_MAX);
    struct idp_key key;
    enum idp_status status = idp_key_init(&key, pkey, err);
    if (status)
        return status;
    if (idp_keyset_find(set, key.kid)) {
        idp_key_cleanup(&key);
        return idp_fail(err, IDP_INVALID, "key %s is already in the key set", key.kid);
    }
    key.publish_at_ms = publish_at_ms;
    key.sign_from_ms = sign_from_ms;
    key.retire_at_ms = retire_at_ms;
    set->keys[set->count++] = key;
    return IDP_OK;
}

static void drop_retired(struct idp_keyset *set, int64_t now_ms)
{
    size_t kept = 0;
    for (size_t i = 0; i < set->count; i++) {
        if (set->keys[i].retire_at_ms <= now_ms)
            idp_key_cleanup(&set->keys[i]);
        else
            set->keys[kept++] = set->keys[i];
    }
    set->count = kept;
}

/* a + b, held at the int64 ends: a lead or retirement of any length must not
 * wrap a schedule around to the past. */
static int64_t add_saturated(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

enum idp_status idp_keyset_rotate(struct idp_keyset *set, EVP_PKEY *pkey,
                                  int64_t now_ms, int64_t lead_ms,
                                  int64_t retire_after_ms, struct idp_error *err)
{
    drop_retired(set, now_ms);
    struct idp_key *current = (struct idp_key *)idp_keyset_signer(set, now_ms);
    int64_t starts = add_saturated(now_ms, lead_ms);
    enum idp_status status = idp_keyset_add(set, pkey, now_ms, starts, IDP_TIME_NEVER, err);
    if (status)
        return status;
    if (current)
        current->retire_at_ms = add_saturated(starts, retire_after_ms);
    return IDP_OK;
}

bool idp_key_published(const struct idp_key *key, int64_t now_ms)
{
    return key->publish_at_ms <= now_ms && now_ms < key->retire_at_ms;
}

const struct idp_key *idp_keyset_signer(const struct idp_keyset *set, int64_t now_ms)
{
    const struct idp_key *best = NULL;
    for (size_t i = 0; i < set->count; i++) {
        const struct idp_key *k = &set->keys[i];
        if (!idp_key_published(k, now_ms) || k->sign_from_ms > now_ms)
            continue;
        if (!best || k->sign_from_ms >= best->sign_from_ms)
            best = k;
    }
    return best;
}

const struct idp_key *idp_keyset_find(const struct idp_keyset *set, const char *kid)
{
    for (size_t i = 0; i < set->count; i++)
        if (strcmp(set->keys[i].kid, kid) == 0)
            return &set->keys[i];
    return NULL;
}

json_t *idp_key_jwk(const struct idp_key *key)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "alg", "RS256", "kty", "RSA",
                     "use", "sig", "n", key->n, "e", key->e, "kid", key->kid);
}

json_t *idp_keyset_jwks(const struct idp_keyset *set, int64_t now_ms)
{
    json_t *keys = json_array();
    for (size_t i = 0; i < set->count; i++)
        if (idp_key_published(&set->keys[i], now_ms))
            json_array_append_new(keys, idp_key_jwk(&set->keys[i]));
    return json_pack("{s:o}", "keys", keys);
}
