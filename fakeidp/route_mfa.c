/* TOTP factors and challenges, with the @workos-inc/node 12 paths and shapes
 * (all on workos.multiFactorAuth): createUserAuthFactor (POST
 * /user_management/users/{id}/auth_factors, answering the factor with its
 * secret and a first challenge), listUserAuthFactors, challengeFactor (POST
 * /auth/factors/{id}/challenge) and verifyChallenge (POST
 * /auth/challenges/{id}/verify). Codes are RFC 6238 on the IdP's clock (the
 * virtual clock plus clock_offset). One factor per user: enrolling again
 * replaces it. All need the API key. */
#include "route_mfa.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "totp.h"
#include "server_internal.h"

#define CHALLENGE_TTL_MS (INT64_C(10) * 60 * 1000)

static bool checked(struct idp_server *server, struct idp_request *req,
                    struct idp_response *resp)
{
    if (!idp_require_api_key(server, req, resp))
        return false;
    if (req->params_bad) {
        idp_response_code_error(resp, 400, "invalid_request_body", "Problems parsing JSON");
        return false;
    }
    return true;
}

static json_t *factor_json(const struct idp_user *user, bool secrets, const char *issuer,
                           const char *account)
{
    char created[32];
    idp_format_iso8601(user->factor_created_ms, created);
    json_t *totp = json_pack("{s:s, s:s}", "issuer", issuer, "user", account);
    if (secrets) {
        char uri[512];
        char *enc_issuer = NULL, *enc_user = NULL;
        size_t a = strlen(issuer) * 3 + 1, b = strlen(account) * 3 + 1;
        enc_issuer = malloc(a);
        enc_user = malloc(b);
        if (enc_issuer && enc_user) {
            mg_url_encode(issuer, enc_issuer, a);
            mg_url_encode(account, enc_user, b);
            snprintf(uri, sizeof(uri), "otpauth://totp/%s:%s?secret=%s&issuer=%s", enc_issuer,
                     enc_user, user->totp_secret, enc_issuer);
        } else {
            uri[0] = '\0';
        }
        free(enc_issuer);
        free(enc_user);
        json_object_set_new(totp, "qr_code", json_string("data:image/png;base64,"));
        json_object_set_new(totp, "secret", json_string(user->totp_secret));
        json_object_set_new(totp, "uri", json_string(uri));
    }
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:s}", "object", "authentication_factor",
                     "id", user->factor_id, "created_at", created, "updated_at", created, "type",
                     "totp", "totp", totp, "user_id", user->id);
}

static json_t *challenge_json(const struct idp_ticket *t)
{
    char created[32], expires[32];
    idp_format_iso8601(t->created_ms, created);
    idp_format_iso8601(t->expires_ms, expires);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "object", "authentication_challenge",
                     "id", t->id, "created_at", created, "updated_at", created, "expires_at",
                     expires, "authentication_factor_id", t->factor_id);
}

static struct idp_ticket *new_challenge(struct idp_server *server, const struct idp_user *user,
                                        int64_t now_ms)
{
    struct idp_ticket *t = idp_store_ticket_new(&server->store, &server->rng,
                                                IDP_TICKET_CHALLENGE, "auth_challenge_", now_ms,
                                                CHALLENGE_TTL_MS);
    if (t) {
        snprintf(t->user_id, sizeof(t->user_id), "%s", user->id);
        snprintf(t->factor_id, sizeof(t->factor_id), "%s", user->factor_id);
    }
    return t;
}

void idp_route_enroll_factor(struct idp_server *server, struct idp_request *req,
                             struct idp_response *resp)
{
    if (!checked(server, req, resp))
        return;
    const char *type = idp_request_param(req, "type");
    if (!type || strcmp(type, "totp") != 0) {
        idp_response_json(resp, 422,
                          json_pack("{s:s, s:s, s:[{s:s, s:s}]}", "code",
                                    "invalid_request_parameters", "message", "Validation failed.",
                                    "errors", "field", "type", "code", "must be totp"));
        return;
    }
    const char *issuer = idp_request_param(req, "totp_issuer");
    const char *account = idp_request_param(req, "totp_user");
    const char *secret = idp_request_param(req, "totp_secret");
    char probe[7];
    if (secret && (strlen(secret) >= 40 || !idp_totp_code(secret, 0, probe))) {
        idp_response_code_error(resp, 422, "invalid_request_parameters",
                                "totp_secret must be base32 (at most 39 characters).");
        return;
    }
    pthread_mutex_lock(&server->lock);
    struct idp_user *user = idp_store_user(&server->store, req->path_arg);
    if (!user) {
        pthread_mutex_unlock(&server->lock);
        idp_response_code_error(resp, 404, "entity_not_found", "User not found: '%s'.",
                                req->path_arg);
        return;
    }
    if (secret) {
        snprintf(user->totp_secret, sizeof(user->totp_secret), "%s", secret);
    } else {
        unsigned char key[20];
        idp_random_bytes(&server->rng, key, sizeof(key));
        idp_base32_encode(key, sizeof(key), user->totp_secret, sizeof(user->totp_secret));
    }
    idp_random_ulid(&server->rng, "auth_factor_", req->now_ms, user->factor_id,
                    sizeof(user->factor_id));
    user->factor_created_ms = req->now_ms;
    const char *email = json_string_value(json_object_get(user->object, "email"));
    struct idp_ticket *challenge = new_challenge(server, user, req->now_ms);
    json_t *body = challenge ? json_pack("{s:o, s:o}", "authentication_factor",
                                         factor_json(user, true, issuer ? issuer : "WorkOS",
                                                     account ? account : email),
                                         "authentication_challenge", challenge_json(challenge))
                             : NULL;
    pthread_mutex_unlock(&server->lock);
    if (body)
        idp_response_json(resp, 201, body);
    else
        idp_response_code_error(resp, 500, "server_error", "Out of memory.");
}

void idp_route_list_factors(struct idp_server *server, struct idp_request *req,
                            struct idp_response *resp)
{
    if (!checked(server, req, resp))
        return;
    pthread_mutex_lock(&server->lock);
    struct idp_user *user = idp_store_user(&server->store, req->path_arg);
    json_t *data = json_array();
    if (user && user->factor_id[0])
        json_array_append_new(data, factor_json(user, false, "WorkOS",
                                                json_string_value(json_object_get(user->object,
                                                                                  "email"))));
    pthread_mutex_unlock(&server->lock);
    if (!user) {
        json_decref(data);
        idp_response_code_error(resp, 404, "entity_not_found", "User not found: '%s'.",
                                req->path_arg);
        return;
    }
    idp_response_json(resp, 200,
                      json_pack("{s:s, s:o, s:{s:n, s:n}}", "object", "list", "data", data,
                                "list_metadata", "before", "after"));
}

/* The user whose factor has this id; lock held. */
static struct idp_user *factor_owner(struct idp_server *server, const char *factor_id)
{
    size_t bucket = 0;
    for (struct idp_map_entry *e = idp_map_next(&server->store.users, &bucket, NULL); e;
         e = idp_map_next(&server->store.users, &bucket, e)) {
        struct idp_user *u = e->value;
        if (u->factor_id[0] && strcmp(u->factor_id, factor_id) == 0)
            return u;
    }
    return NULL;
}

void idp_route_challenge_factor(struct idp_server *server, struct idp_request *req,
                                struct idp_response *resp)
{
    if (!checked(server, req, resp))
        return;
    pthread_mutex_lock(&server->lock);
    struct idp_user *user = factor_owner(server, req->path_arg);
    struct idp_ticket *t = user ? new_challenge(server, user, req->now_ms) : NULL;
    json_t *body = t ? challenge_json(t) : NULL;
    pthread_mutex_unlock(&server->lock);
    if (body)
        idp_response_json(resp, 201, body);
    else
        idp_response_code_error(resp, 404, "entity_not_found",
                                "Authentication factor not found: '%s'.", req->path_arg);
}

/* Verifies a code without signing in (mfa.verifyChallenge): {"challenge",
 * "valid"}. A valid code spends the challenge. */
void idp_route_verify_challenge(struct idp_server *server, struct idp_request *req,
                                struct idp_response *resp)
{
    if (!checked(server, req, resp))
        return;
    const char *code = idp_request_param(req, "code");
    pthread_mutex_lock(&server->lock);
    struct idp_ticket *t = idp_store_ticket(&server->store, IDP_TICKET_CHALLENGE, req->path_arg,
                                            req->now_ms);
    struct idp_user *user = t ? idp_store_user(&server->store, t->user_id) : NULL;
    if (!t || !user || strcmp(user->factor_id, t->factor_id) != 0) {
        pthread_mutex_unlock(&server->lock);
        idp_response_code_error(resp, 404, "entity_not_found",
                                "Authentication challenge not found: '%s'.", req->path_arg);
        return;
    }
    int64_t idp_now_s = (req->now_ms + server->settings.clock_offset_ms) / 1000;
    bool valid = idp_totp_verify(user->totp_secret, idp_now_s, code);
    json_t *body = json_pack("{s:o, s:b}", "challenge", challenge_json(t), "valid", valid);
    if (valid)
        idp_store_ticket_delete(&server->store, t);
    pthread_mutex_unlock(&server->lock);
    idp_response_json(resp, 200, body);
}
