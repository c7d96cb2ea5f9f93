#include "forge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "idp_jwt.h"
#include "keys.h"

const char *const idp_forge_keys[] = {"remove", "set", "expired", "not_yet_valid", "kid",
                                      "sign", "alg", "tamper", "bloat", NULL};

static void bloat(json_t *claims, const json_t *spec)
{
    const char *const lists[] = {"permissions", "feature_flags", NULL};
    for (int i = 0; lists[i]; i++) {
        const json_t *n = json_object_get(spec, lists[i]);
        if (!json_is_integer(n))
            continue;
        json_t *arr = json_array();
        for (json_int_t k = 0; k < json_integer_value(n) && k < IDP_FORGE_MAX_LIST; k++) {
            char item[64];
            snprintf(item, sizeof(item), "%s:generated-entry-%04lld", lists[i], (long long)k);
            json_array_append_new(arr, json_string(item));
        }
        json_object_set_new(claims, lists[i], arr);
    }
}

enum idp_status idp_forge_check(const json_t *bloat_spec, struct idp_error *err)
{
    if (!bloat_spec)
        return IDP_OK;
    if (!json_is_object(bloat_spec))
        return idp_fail(err, IDP_INVALID, "fault: bloat must be an object");
    const struct {
        const char *name;
        json_int_t max;
    } limits[] = {{"permissions", IDP_FORGE_MAX_LIST}, {"feature_flags", IDP_FORGE_MAX_LIST},
                  {"pad_to", IDP_FORGE_MAX_PAD}};
    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        const json_t *v = json_object_get(bloat_spec, limits[i].name);
        if (v && (!json_is_integer(v) || json_integer_value(v) < 0 ||
                  json_integer_value(v) > limits[i].max))
            return idp_fail(err, IDP_INVALID, "fault: bloat.%s must be a whole number from 0 to %lld",
                            limits[i].name, (long long)limits[i].max);
    }
    return IDP_OK;
}

/* Pads the token with a "pad" claim until it is about `target` bytes long. */
static void pad_claims(json_t *claims, long target, size_t current)
{
    if (target <= 0 || (size_t)target <= current + 16)
        return;
    size_t raw = ((size_t)target - current - 16) * 3 / 4;
    char *pad = malloc(raw + 1);
    if (!pad)
        return;
    memset(pad, 'x', raw);
    pad[raw] = '\0';
    json_object_set_new(claims, "pad", json_string(pad));
    free(pad);
}

char *idp_forge_token(const char *token, const json_t *p, EVP_PKEY *signer, EVP_PKEY *stray,
                      int64_t now_ms, struct idp_error *err)
{
    struct idp_jwt jwt = {0};
    if (!token || idp_jwt_decode(token, &jwt, err) != IDP_OK)
        return NULL;
    json_t *claims = jwt.payload, *header = jwt.header;
    json_int_t now_s = now_ms / 1000;
    const json_t *remove = json_object_get(p, "remove");
    for (size_t i = 0; i < json_array_size(remove); i++)
        json_object_del(claims, json_string_value(json_array_get(remove, i)));
    if (json_is_string(remove))
        json_object_del(claims, json_string_value(remove));
    json_object_update(claims, json_object_get(p, "set"));
    if (json_is_true(json_object_get(p, "expired"))) {
        json_int_t ttl = json_integer_value(json_object_get(claims, "exp")) -
                         json_integer_value(json_object_get(claims, "iat"));
        json_object_set_new(claims, "exp", json_integer(now_s - 60));
        json_object_set_new(claims, "iat", json_integer(now_s - 60 - ttl));
    }
    if (json_is_true(json_object_get(p, "not_yet_valid"))) {
        json_object_set_new(claims, "nbf", json_integer(now_s + 3600));
        json_object_set_new(claims, "iat", json_integer(now_s + 3600));
    }
    const json_t *bloat_spec = json_object_get(p, "bloat");
    if (bloat_spec) {
        bloat(claims, bloat_spec);
        /* Pad against the size the bloated claims make, not the original
         * token's: header and signature stay, the payload segment grows. */
        const char *dot1 = strchr(token, '.');
        const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
        size_t current = strlen(token) - (dot2 ? (size_t)(dot2 - dot1 - 1) : 0);
        char *text = json_dumps(claims, JSON_COMPACT | JSON_PRESERVE_ORDER);
        current += text ? (strlen(text) * 4 + 2) / 3 : 0;
        free(text);
        pad_claims(claims, (long)json_integer_value(json_object_get(bloat_spec, "pad_to")),
                   current);
    }
    const char *kid = json_string_value(json_object_get(p, "kid"));
    if (kid)
        json_object_set_new(header, "kid", json_string(strcmp(kid, "unknown") == 0
                                                           ? "sso_oidc_key_pair_01UNKN0WNKEY0000000000000"
                                                           : kid));
    const char *alg = json_string_value(json_object_get(p, "alg"));
    const char *sign = json_string_value(json_object_get(p, "sign"));
    enum idp_jwt_alg how = IDP_JWT_RS256;
    EVP_PKEY *key = signer;
    char *pem = NULL;
    if (alg && strcasecmp(alg, "none") == 0) {
        how = IDP_JWT_NONE;
        json_object_set_new(header, "alg", json_string("none"));
    } else if (alg && strcmp(alg, "HS256") == 0) {
        /* Key confusion: HMAC keyed with the RSA public key's PEM text. */
        how = IDP_JWT_HS256;
        pem = signer ? idp_pem_public(signer) : NULL;
        json_object_set_new(header, "alg", json_string("HS256"));
    } else if (sign && (strcmp(sign, "unpublished") == 0 || strcmp(sign, "wrong_key") == 0) && stray) {
        if (strcmp(sign, "unpublished") == 0) {
            struct idp_key info;
            if (idp_key_init(&info, stray, NULL) == IDP_OK) {
                json_object_set_new(header, "kid", json_string(info.kid));
                idp_key_cleanup(&info);
            }
        }
        key = stray;
    }
    char *forged = idp_jwt_encode(header, claims, how, key, (const unsigned char *)pem,
                                  pem ? strlen(pem) : 0, err);
    if (forged && json_is_true(json_object_get(p, "tamper"))) {
        /* Change the payload after signing: the signature no longer fits. */
        json_object_set_new(claims, "sub", json_string("user_01TAMPEREDSUBJECT00000000"));
        char *retampered = idp_jwt_encode(header, claims, IDP_JWT_NONE, NULL, NULL, 0, NULL);
        const char *old_sig = strrchr(forged, '.');
        if (retampered && old_sig) {
            size_t len = strlen(retampered) + strlen(old_sig) + 1;
            char *joined = malloc(len);
            if (joined) {
                retampered[strlen(retampered) - 1] = '\0'; /* drop the empty signature's dot */
                snprintf(joined, len, "%s%s", retampered, old_sig);
                free(forged);
                forged = joined;
            }
        }
        free(retampered);
    }
    free(pem);
    idp_jwt_cleanup(&jwt);
    return forged;
}
