/* The User Management calls the headless sign-in flows need, with the
 * @workos-inc/node 12 paths and shapes: createUser, listUsers, sendVerificationEmail,
 * verifyEmail, getEmailVerification, createMagicAuth, getMagicAuth,
 * createPasswordReset, getPasswordReset, resetPassword, sendInvitation. Every code WorkOS would e-mail goes to
 * the outbox (GET /_fakeidp/outbox). All need the API key. */
#include "route_accounts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "server_internal.h"

#define MAGIC_AUTH_TTL_MS (INT64_C(10) * 60 * 1000)
#define PASSWORD_RESET_TTL_MS (INT64_C(15) * 60 * 1000)
#define INVITATION_TTL_DAYS 7

static void iso(int64_t ms, char out[32])
{
    idp_format_iso8601(ms, out);
}

/* {"object", "id", "user_id", "email", "expires_at", "code", "created_at",
 * "updated_at"}: the magic auth and email verification objects. */
static json_t *code_object(const char *object, const struct idp_ticket *t, const char *email)
{
    char created[32], expires[32];
    iso(t->created_ms, created);
    iso(t->expires_ms, expires);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "object", object, "id", t->id,
                     "user_id", t->user_id, "email", email, "expires_at", expires, "code", t->code,
                     "created_at", created, "updated_at", created);
}

static const char *user_email(const struct idp_user *user)
{
    return json_string_value(json_object_get(user->object, "email"));
}

static void user_not_found(struct idp_response *resp, const char *id)
{
    idp_response_code_error(resp, 404, "entity_not_found", "User not found: '%s'.", id);
}

static bool bad_body(struct idp_request *req, struct idp_response *resp)
{
    if (!req->params_bad)
        return false;
    idp_response_code_error(resp, 400, "invalid_request_body", "Problems parsing JSON");
    return true;
}

/* 422 {"code":"invalid_request_parameters","message":"Validation failed.",
 * "errors":[{"field","code"}]} as WorkOS answers a missing field. */
static void validation_failed(struct idp_response *resp, const char *field)
{
    idp_response_json(resp, 422,
                      json_pack("{s:s, s:s, s:[{s:s, s:s}]}", "code", "invalid_request_parameters",
                                "message", "Validation failed.", "errors", "field", field, "code",
                                "required"));
}

/* POST /user_management/users (createUser). */
static void create_user(struct idp_server *server, struct idp_request *req,
                        struct idp_response *resp)
{
    const char *email = idp_request_param(req, "email");
    if (!email || !strchr(email, '@')) {
        validation_failed(resp, "email");
        return;
    }
    json_t *spec = json_pack("{s:s}", "email", email);
    static const char *const copied[] = {"password", "first_name", "last_name", "external_id",
                                         "metadata", NULL};
    for (int i = 0; copied[i]; i++) {
        json_t *v = json_object_get(req->params, copied[i]);
        if (v && !json_is_null(v))
            json_object_set(spec, copied[i], v);
    }
    /* Users made through the API have an unverified email unless told. */
    json_t *verified = json_object_get(req->params, "email_verified");
    json_object_set_new(spec, "email_verified", json_boolean(json_is_true(verified)));
    pthread_mutex_lock(&server->lock);
    struct idp_error err;
    json_t *body = NULL;
    bool taken = idp_store_user_by_email(&server->store, email) != NULL;
    enum idp_status status = taken ? IDP_INVALID
                                   : idp_store_add_user(&server->store, spec, req->now_ms, &err);
    if (!status)
        body = json_deep_copy(idp_store_user_by_email(&server->store, email)->object);
    pthread_mutex_unlock(&server->lock);
    json_decref(spec);
    if (taken)
        idp_response_json(resp, 422,
                          json_pack("{s:s, s:s, s:[{s:s, s:s}]}", "code", "user_creation_error",
                                    "message", "Could not create user.", "errors", "code",
                                    "email_not_available", "message",
                                    "This email is not available."));
    else if (status)
        idp_response_code_error(resp, 422, "invalid_request_parameters", "%s", err.message);
    else
        idp_response_json(resp, 201, body);
}

/* GET /user_management/users[?email=&organization_id=] (listUsers): every
 * match in configuration order, then users made at run time; one page. */
static void list_users(struct idp_server *server, struct idp_request *req,
                       struct idp_response *resp)
{
    const char *email = idp_request_param(req, "email");
    const char *org = idp_request_param(req, "organization_id");
    json_t *data = json_array();
    pthread_mutex_lock(&server->lock);
    size_t count = server->store.users.count;
    const struct idp_user **ordered = calloc(count ? count : 1, sizeof(const struct idp_user *));
    size_t n = 0, bucket = 0;
    for (struct idp_map_entry *e = idp_map_next(&server->store.users, &bucket, NULL);
         e && ordered && n < count; e = idp_map_next(&server->store.users, &bucket, e))
        ordered[n++] = e->value;
    /* insertion sort by configuration order: the lists are short */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && ordered[j - 1]->order > ordered[j]->order; j--) {
            const struct idp_user *swap = ordered[j];
            ordered[j] = ordered[j - 1];
            ordered[j - 1] = swap;
        }
    for (size_t i = 0; i < n; i++) {
        const struct idp_user *u = ordered[i];
        if (email && *email && strcasecmp(user_email(u), email) != 0)
            continue;
        if (org && *org && !idp_user_membership(u, org))
            continue;
        json_array_append_new(data, json_deep_copy(u->object));
    }
    pthread_mutex_unlock(&server->lock);
    free(ordered);
    idp_response_json(resp, 200,
                      json_pack("{s:s, s:o, s:{s:n, s:n}}", "object", "list", "data", data,
                                "list_metadata", "before", "after"));
}

/* POST /user_management/magic_auth (createMagicAuth): a code for the email's
 * user, who is created when unknown (a magic-auth sign-up). */
static void create_magic_auth(struct idp_server *server, struct idp_request *req,
                              struct idp_response *resp)
{
    const char *email = idp_request_param(req, "email");
    if (!email || !strchr(email, '@')) {
        validation_failed(resp, "email");
        return;
    }
    pthread_mutex_lock(&server->lock);
    struct idp_user *user = idp_store_user_by_email(&server->store, email);
    if (!user) {
        json_t *spec = json_pack("{s:s, s:b}", "email", email, "email_verified", 0);
        struct idp_error err;
        if (spec && !idp_store_add_user(&server->store, spec, req->now_ms, &err))
            user = idp_store_user_by_email(&server->store, email);
        json_decref(spec);
    }
    struct idp_ticket *t = user ? idp_store_ticket_new(&server->store, &server->rng,
                                                       IDP_TICKET_MAGIC_AUTH, "magic_auth_",
                                                       req->now_ms, MAGIC_AUTH_TTL_MS)
                                : NULL;
    json_t *body = NULL;
    if (t) {
        snprintf(t->user_id, sizeof(t->user_id), "%s", user->id);
        body = code_object("magic_auth", t, user_email(user));
        idp_store_outbox_add(&server->store, &server->rng, req->now_ms,
                             json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "magic_auth", "to",
                                       user_email(user), "user_id", user->id, "code", t->code,
                                       "magic_auth_id", t->id));
    }
    pthread_mutex_unlock(&server->lock);
    if (body)
        idp_response_json(resp, 201, body);
    else
        idp_response_code_error(resp, 500, "server_error", "Out of memory.");
}

/* GET /user_management/magic_auth/{id} and /email_verification/{id}. */
static void get_code(struct idp_server *server, struct idp_request *req,
                     struct idp_response *resp, enum idp_ticket_kind kind, const char *object,
                     const char *what)
{
    pthread_mutex_lock(&server->lock);
    struct idp_ticket *t = idp_store_ticket(&server->store, kind, req->path_arg, req->now_ms);
    struct idp_user *user = t ? idp_store_user(&server->store, t->user_id) : NULL;
    json_t *body = user ? code_object(object, t, user_email(user)) : NULL;
    pthread_mutex_unlock(&server->lock);
    if (body)
        idp_response_json(resp, 200, body);
    else
        idp_response_code_error(resp, 404, "entity_not_found", "%s not found: '%s'.", what,
                                req->path_arg);
}

/* POST /user_management/users/{id}/email_verification/send and …/confirm. */
static void email_verification(struct idp_server *server, struct idp_request *req,
                               struct idp_response *resp, bool confirm)
{
    const char *code = idp_request_param(req, "code");
    if (confirm && (!code || !*code)) {
        validation_failed(resp, "code");
        return;
    }
    pthread_mutex_lock(&server->lock);
    struct idp_user *user = idp_store_user(&server->store, req->path_arg);
    if (!user) {
        pthread_mutex_unlock(&server->lock);
        user_not_found(resp, req->path_arg);
        return;
    }
    if (!confirm) {
        char id[IDP_ID_SIZE];
        idp_email_verification_new(server, user, req->now_ms, id);
    } else {
        struct idp_ticket *match = NULL;
        for (struct idp_ticket *t = server->store.tickets_newest; t && !match; t = t->older)
            if (t->kind == IDP_TICKET_EMAIL_VERIFICATION && t->expires_ms > req->now_ms &&
                strcmp(t->user_id, user->id) == 0 && strcmp(t->code, code) == 0)
                match = t;
        if (!match) {
            pthread_mutex_unlock(&server->lock);
            idp_response_code_error(resp, 400, "invalid_one_time_code", "Invalid one-time code.");
            return;
        }
        idp_store_ticket_delete(&server->store, match);
        json_object_set_new(user->object, "email_verified", json_true());
    }
    json_t *body = json_pack("{s:O}", "user", user->object);
    pthread_mutex_unlock(&server->lock);
    idp_response_json(resp, 200, body);
}

/* The password reset object; its token is its id (single use, 15 min). */
static json_t *password_reset_json(struct idp_server *server, const struct idp_ticket *t,
                                   const struct idp_user *user)
{
    char created[32], expires[32], url[200];
    snprintf(url, sizeof(url), "%s/reset-password?token=%s", server->url, t->id);
    iso(t->created_ms, created);
    iso(t->expires_ms, expires);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "object", "password_reset", "id",
                     t->id, "user_id", user->id, "email", user_email(user),
                     "password_reset_token", t->id, "password_reset_url", url, "expires_at",
                     expires, "created_at", created);
}

/* GET /user_management/password_reset/{id} (getPasswordReset). */
static void get_password_reset(struct idp_server *server, struct idp_request *req,
                               struct idp_response *resp)
{
    pthread_mutex_lock(&server->lock);
    struct idp_ticket *t = idp_store_ticket(&server->store, IDP_TICKET_PASSWORD_RESET,
                                            req->path_arg, req->now_ms);
    struct idp_user *user = t ? idp_store_user(&server->store, t->user_id) : NULL;
    json_t *body = user ? password_reset_json(server, t, user) : NULL;
    pthread_mutex_unlock(&server->lock);
    if (body)
        idp_response_json(resp, 200, body);
    else
        idp_response_code_error(resp, 404, "entity_not_found", "Password reset not found: '%s'.",
                                req->path_arg);
}

/* POST /user_management/password_reset/confirm (resetPassword): sets the
 * password, spends the token and, as WorkOS does, verifies the email. */
static void reset_password(struct idp_server *server, struct idp_request *req,
                           struct idp_response *resp)
{
    const char *token = idp_request_param(req, "token");
    const char *password = idp_request_param(req, "new_password");
    if (!token || !*token || !password || !*password) {
        validation_failed(resp, !token || !*token ? "token" : "new_password");
        return;
    }
    pthread_mutex_lock(&server->lock);
    struct idp_ticket *t = idp_store_ticket(&server->store, IDP_TICKET_PASSWORD_RESET, token,
                                            req->now_ms);
    struct idp_user *user = t ? idp_store_user(&server->store, t->user_id) : NULL;
    char *copy = user ? strdup(password) : NULL;
    if (!copy) {
        pthread_mutex_unlock(&server->lock);
        if (user)
            idp_response_code_error(resp, 500, "server_error", "Out of memory.");
        else
            idp_response_code_error(resp, 404, "entity_not_found",
                                    "Password reset not found: '%s'.", token);
        return;
    }
    free(user->password);
    user->password = copy;
    json_object_set_new(user->object, "email_verified", json_true());
    idp_store_ticket_delete(&server->store, t);
    json_t *body = json_pack("{s:O}", "user", user->object);
    pthread_mutex_unlock(&server->lock);
    idp_response_json(resp, 200, body);
}

/* POST /user_management/password_reset (createPasswordReset). */
static void create_password_reset(struct idp_server *server, struct idp_request *req,
                                  struct idp_response *resp)
{
    const char *email = idp_request_param(req, "email");
    if (!email || !*email) {
        validation_failed(resp, "email");
        return;
    }
    pthread_mutex_lock(&server->lock);
    struct idp_user *user = idp_store_user_by_email(&server->store, email);
    struct idp_ticket *t = user ? idp_store_ticket_new(&server->store, &server->rng,
                                                       IDP_TICKET_PASSWORD_RESET,
                                                       "password_reset_", req->now_ms,
                                                       PASSWORD_RESET_TTL_MS)
                                : NULL;
    json_t *body = NULL;
    if (t) {
        snprintf(t->user_id, sizeof(t->user_id), "%s", user->id);
        body = password_reset_json(server, t, user);
        idp_store_outbox_add(&server->store, &server->rng, req->now_ms,
                             json_pack("{s:s, s:s, s:s, s:O, s:O}", "type", "password_reset", "to",
                                       user_email(user), "user_id", user->id,
                                       "password_reset_token",
                                       json_object_get(body, "password_reset_token"),
                                       "password_reset_url",
                                       json_object_get(body, "password_reset_url")));
    }
    pthread_mutex_unlock(&server->lock);
    if (body)
        idp_response_json(resp, 201, body);
    else if (!user)
        idp_response_code_error(resp, 404, "entity_not_found", "User not found: '%s'.", email);
    else
        idp_response_code_error(resp, 500, "server_error", "Out of memory.");
}

/* POST /user_management/invitations (sendInvitation). */
static void send_invitation(struct idp_server *server, struct idp_request *req,
                            struct idp_response *resp)
{
    const char *email = idp_request_param(req, "email");
    const char *org = idp_request_param(req, "organization_id");
    const char *inviter = idp_request_param(req, "inviter_user_id");
    const char *role = idp_request_param(req, "role_slug");
    if (!email || !strchr(email, '@')) {
        validation_failed(resp, "email");
        return;
    }
    json_t *days_v = json_object_get(req->params, "expires_in_days");
    json_int_t days = json_is_integer(days_v) ? json_integer_value(days_v) : INVITATION_TTL_DAYS;
    if (days < 1 || days > 30) {
        validation_failed(resp, "expires_in_days");
        return;
    }
    pthread_mutex_lock(&server->lock);
    if (org && !json_object_get(server->store.organizations, org)) {
        pthread_mutex_unlock(&server->lock);
        idp_response_code_error(resp, 404, "entity_not_found", "Organization not found: '%s'.", org);
        return;
    }
    char id[48], token[32], created[32], expires[32], url[200];
    idp_random_ulid(&server->rng, "invitation_", req->now_ms, id, sizeof(id));
    idp_random_token(&server->rng, token, 25);
    iso(req->now_ms, created);
    iso(req->now_ms + days * 86400000LL, expires);
    snprintf(url, sizeof(url), "%s/invite?invitation_token=%s", server->url, token);
    json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:n, s:n, s:s, s:o, s:o, s:n, s:o, s:s, s:s, "
                             "s:s, s:s}",
                             "object", "invitation", "id", id, "email", email, "state", "pending",
                             "accepted_at", "revoked_at", "expires_at", expires, "organization_id",
                             org ? json_string(org) : json_null(), "inviter_user_id",
                             inviter ? json_string(inviter) : json_null(), "accepted_user_id",
                             "role_slug", role ? json_string(role) : json_null(), "token", token,
                             "accept_invitation_url", url, "created_at", created, "updated_at",
                             created);
    idp_store_outbox_add(&server->store, &server->rng, req->now_ms,
                         json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "invitation", "to", email,
                                   "invitation_id", id, "invitation_token", token,
                                   "accept_invitation_url", url));
    pthread_mutex_unlock(&server->lock);
    idp_response_json(resp, 201, body);
}

static void get_magic_auth(struct idp_server *server, struct idp_request *req,
                           struct idp_response *resp)
{
    get_code(server, req, resp, IDP_TICKET_MAGIC_AUTH, "magic_auth", "Magic Auth");
}

static void get_email_verification(struct idp_server *server, struct idp_request *req,
                                   struct idp_response *resp)
{
    get_code(server, req, resp, IDP_TICKET_EMAIL_VERIFICATION, "email_verification",
             "Email verification");
}

static void send_verification_email(struct idp_server *server, struct idp_request *req,
                                    struct idp_response *resp)
{
    email_verification(server, req, resp, false);
}

static void verify_email(struct idp_server *server, struct idp_request *req,
                         struct idp_response *resp)
{
    email_verification(server, req, resp, true);
}

/* Each route: the API key, a parseable body, then the call. */
#define API_ROUTE(name, run)                                                                 \
    void idp_route_##name(struct idp_server *server, struct idp_request *req,               \
                          struct idp_response *resp)                                         \
    {                                                                                        \
        if (idp_require_api_key(server, req, resp) && !bad_body(req, resp))                  \
            run(server, req, resp);                                                          \
    }
API_ROUTE(create_user, create_user)
API_ROUTE(list_users, list_users)
API_ROUTE(create_magic_auth, create_magic_auth)
API_ROUTE(get_magic_auth, get_magic_auth)
API_ROUTE(get_email_verification, get_email_verification)
API_ROUTE(send_verification_email, send_verification_email)
API_ROUTE(verify_email, verify_email)
API_ROUTE(create_password_reset, create_password_reset)
API_ROUTE(get_password_reset, get_password_reset)
API_ROUTE(reset_password, reset_password)
API_ROUTE(send_invitation, send_invitation)
#undef API_ROUTE
