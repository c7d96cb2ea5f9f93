/* Access tokens as WorkOS mints them: claim names, order and issuer forms
 * from the wire reference; RS256 with the key the schedule says signs now. */
#include "token.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idp_jwt.h"
#include "server_internal.h"

void idp_issuer(const struct idp_settings *s, const char *client_id, char *out, size_t size)
{
    switch (s->issuer_mode) {
    case IDP_ISSUER_LEGACY:
        snprintf(out, size, "%s", s->issuer_base);
        break;
    case IDP_ISSUER_CUSTOM:
        snprintf(out, size, "%s", s->issuer_url[0] ? s->issuer_url : s->issuer_base);
        break;
    default:
        snprintf(out, size, "%s/user_management/%s", s->issuer_base, client_id);
        break;
    }
}

static void merge_template(json_t *claims, const json_t *extra)
{
    static const char *const reserved[] = {"iss", "sub", "sid", "jti", "exp", "iat", "nbf", NULL};
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)extra, key, value) {
        bool is_reserved = false;
        for (int i = 0; reserved[i]; i++)
            is_reserved = is_reserved || strcmp(reserved[i], key) == 0;
        if (!is_reserved)
            json_object_set(claims, key, value);
    }
}

/* a + b without wrapping: the largest clock_offset must not turn a token's
 * times negative. */
static int64_t add_saturating(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

json_t *idp_access_claims(struct idp_server *server, const struct idp_client *client,
                          const struct idp_user *user, const struct idp_session *session,
                          int64_t now_ms)
{
    const struct idp_settings *s = &server->settings;
    char iss[512], jti[40];
    idp_issuer(s, client->id, iss, sizeof(iss));
    idp_random_ulid(&server->rng, "", now_ms, jti, sizeof(jti));
    /* The IdP's own clock may run ahead of or behind the scenario's: the
     * times it writes into tokens are on its clock. */
    json_int_t iat = add_saturating(now_ms, s->clock_offset_ms) / 1000;
    json_t *c = json_object();
    json_object_set_new(c, "iss", json_string(iss));
    json_object_set_new(c, "sub", json_string(user->id));
    if (user->impersonator) {
        const char *email = json_string_value(json_object_get(user->impersonator, "email"));
        if (email)
            json_object_set_new(c, "act", json_pack("{s:s}", "sub", email));
    }
    const struct idp_membership *m =
        session->org_id[0] ? idp_user_membership(user, session->org_id) : NULL;
    if (m) {
        json_object_set_new(c, "org_id", json_string(m->org_id));
        const char *key;
        json_t *value;
        json_object_foreach(m->fields, key, value) {
            /* Empty optional arrays are left out, as WorkOS does. */
            bool optional = strcmp(key, "entitlements") == 0 || strcmp(key, "feature_flags") == 0;
            if (!(optional && json_array_size(value) == 0))
                json_object_set(c, key, value);
        }
    }
    json_object_set_new(c, "sid", json_string(session->id));
    json_object_set_new(c, "jti", json_string(jti));
    if (!s->legacy_claims) {
        /* Current tokens name the client and the time of the interactive
         * sign-in (unchanged by refreshes); @workos-inc/node 12 requires
         * auth_time, authkit-nextjs 4's checkRecentAuth reads it. */
        json_object_set_new(c, "client_id", json_string(client->id));
        json_object_set_new(c, "auth_time",
                            json_integer(add_saturating(session->auth_time_ms, s->clock_offset_ms) / 1000));
    }
    if (s->aud_mode == IDP_AUD_CLIENT_ID)
        json_object_set_new(c, "aud", json_string(client->id));
    else if (s->aud_mode == IDP_AUD_VALUE)
        json_object_set_new(c, "aud", json_string(s->aud_value));
    json_object_set_new(c, "exp", json_integer(add_saturating(iat, s->access_ttl_ms / 1000)));
    json_object_set_new(c, "iat", json_integer(iat));
    if (s->nbf)
        json_object_set_new(c, "nbf", json_integer(iat));
    merge_template(c, client->claims);
    merge_template(c, user->claims);
    return c;
}

char *idp_mint(struct idp_server *server, json_t *claims, int64_t now_ms, struct idp_error *err)
{
    pthread_mutex_lock(&server->lock);
    const struct idp_key *key = idp_keyset_signer(&server->keys, now_ms);
    EVP_PKEY *pkey = key ? key->pkey : NULL;
    char kid[64] = "";
    if (key) {
        EVP_PKEY_up_ref(pkey);
        snprintf(kid, sizeof(kid), "%s", key->kid);
    }
    pthread_mutex_unlock(&server->lock);
    if (!pkey) {
        json_decref(claims);
        idp_fail(err, IDP_CRYPTO, "no key signs at this time (all retired or not yet active)");
        return NULL;
    }
    json_t *header = json_pack("{s:s, s:s, s:s}", "alg", "RS256", "typ", "JWT", "kid", kid);
    char *token = idp_jwt_encode(header, claims, IDP_JWT_RS256, pkey, NULL, 0, err);
    json_decref(header);
    json_decref(claims);
    EVP_PKEY_free(pkey);
    return token;
}
