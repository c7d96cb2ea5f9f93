/* The grants of POST /user_management/authenticate that sign a user in
 * without the hosted page: password, magic auth, email verification,
 * organization selection and MFA TOTP. Each runs the same checks in the same
 * order as WorkOS (email verified, MFA, organization) and, when one is not
 * met, answers its 403 with a pending authentication token that the next
 * grant redeems; when all are met, a session is created exactly as for the
 * code exchange, so its refresh behaves the same. */
#include "route_grants.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grant_issue.h"
#include "server_internal.h"
#include "totp.h"

#define PENDING_TTL_MS (INT64_C(10) * 60 * 1000)
#define MAGIC_AUTH_TTL_MS (INT64_C(10) * 60 * 1000)
#define EMAIL_VERIFICATION_TTL_MS (INT64_C(24) * 60 * 60 * 1000)

/* The checks a pending token has already passed. */
enum { STAGE_EMAIL = 1, STAGE_MFA = 2 };

static void outcome(struct idp_request *req, const char *text)
{
    snprintf(req->entry.outcome, sizeof(req->entry.outcome), "%s", text);
}

bool idp_pending_new(struct idp_server *server, const struct idp_user *user,
                     const char *client_id, const char *org_id, const char *method, int stage,
                     int64_t auth_ms, int64_t now_ms, char out[IDP_ID_SIZE])
{
    struct idp_ticket *t = idp_store_ticket_new(&server->store, &server->rng,
                                                IDP_TICKET_PENDING, "", now_ms, PENDING_TTL_MS);
    if (!t)
        return false;
    snprintf(t->user_id, sizeof(t->user_id), "%s", user->id);
    snprintf(t->client_id, sizeof(t->client_id), "%s", client_id ? client_id : "");
    snprintf(t->org_id, sizeof(t->org_id), "%s", org_id ? org_id : "");
    snprintf(t->method, sizeof(t->method), "%s", method);
    t->stage = stage;
    t->auth_ms = auth_ms;
    snprintf(out, IDP_ID_SIZE, "%s", t->id);
    return true;
}

void idp_email_verification_new(struct idp_server *server, struct idp_user *user,
                                int64_t now_ms, char out[IDP_ID_SIZE])
{
    out[0] = '\0';
    struct idp_ticket *t = idp_store_ticket_new(&server->store, &server->rng,
                                                IDP_TICKET_EMAIL_VERIFICATION,
                                                "email_verification_", now_ms,
                                                EMAIL_VERIFICATION_TTL_MS);
    if (!t)
        return;
    snprintf(t->user_id, sizeof(t->user_id), "%s", user->id);
    snprintf(out, IDP_ID_SIZE, "%s", t->id);
    const char *email = json_string_value(json_object_get(user->object, "email"));
    idp_store_outbox_add(&server->store, &server->rng, now_ms,
                         json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "email_verification",
                                   "to", email, "user_id", user->id, "code", t->code,
                                   "email_verification_id", t->id));
}

/* A 403 step-up answer with a new pending token; lock held, released. */
static void step_up(struct idp_server *server, struct idp_request *req, struct idp_response *resp,
                    const struct idp_client *client, struct idp_user *user, const char *org,
                    const char *method, int stage, int64_t auth_ms, const char *code,
                    const char *message)
{
    char pending[IDP_ID_SIZE];
    if (!idp_pending_new(server, user, client->id, org, method, stage, auth_ms, req->now_ms,
                         pending)) {
        pthread_mutex_unlock(&server->lock);
        idp_response_code_error(resp, 500, "server_error", "Out of memory.");
        return;
    }
    json_t *body = json_pack("{s:s, s:s, s:s}", "code", code, "message", message,
                             "pending_authentication_token", pending);
    if (strcmp(code, "email_verification_required") == 0) {
        char verification[IDP_ID_SIZE];
        idp_email_verification_new(server, user, req->now_ms, verification);
        json_object_set(body, "email", json_object_get(user->object, "email"));
        json_object_set_new(body, "email_verification_id", json_string(verification));
    } else {
        json_object_set_new(body, "user", json_deep_copy(user->object));
    }
    if (strcmp(code, "mfa_challenge") == 0)
        json_object_set_new(body, "authentication_factors",
                            json_pack("[{s:s, s:s}]", "id", user->factor_id, "type", "totp"));
    if (strcmp(code, "organization_selection_required") == 0) {
        json_t *orgs = json_array();
        for (size_t i = 0; i < user->membership_count; i++) {
            const char *id = user->memberships[i].org_id;
            json_t *o = json_object_get(server->store.organizations, id);
            json_array_append_new(orgs, json_pack("{s:s, s:s}", "id", id, "name",
                                                  o ? json_string_value(json_object_get(o, "name"))
                                                    : id));
        }
        json_object_set_new(body, "organizations", orgs);
    }
    pthread_mutex_unlock(&server->lock);
    outcome(req, code);
    idp_response_json(resp, 403, body);
}

/* The checks after the credentials, in WorkOS's order, from stage on; then
 * the session. Lock held on entry, released on return. */
static void continue_sign_in(struct idp_server *server, struct idp_request *req,
                             struct idp_response *resp, struct idp_client *client,
                             struct idp_user *user, const char *org, const char *method,
                             int stage, int64_t auth_ms)
{
    if (stage < STAGE_EMAIL && !json_is_true(json_object_get(user->object, "email_verified"))) {
        step_up(server, req, resp, client, user, org, method, 0, auth_ms,
                "email_verification_required",
                "Email ownership must be verified before authentication.");
        return;
    }
    if (stage < STAGE_MFA && user->factor_id[0]) {
        step_up(server, req, resp, client, user, org, method, STAGE_EMAIL, auth_ms,
                "mfa_challenge", "The user must complete an MFA challenge to finish authenticating.");
        return;
    }
    if (stage < STAGE_MFA && user->mfa_required) {
        step_up(server, req, resp, client, user, org, method, STAGE_EMAIL, auth_ms,
                "mfa_enrollment", "The user must enroll in MFA to finish authenticating.");
        return;
    }
    const char *chosen = org && *org ? org : NULL;
    if (!chosen && user->membership_count > 1) {
        step_up(server, req, resp, client, user, NULL, method, STAGE_MFA, auth_ms,
                "organization_selection_required",
                "The user must choose an organization to finish their authentication.");
        return;
    }
    if (!chosen && user->membership_count == 1)
        chosen = user->memberships[0].org_id;
    idp_sign_in_finish(server, req, resp, client, user, chosen ? chosen : "", method, auth_ms);
}

static void invalid_one_time_code(struct idp_server *server, struct idp_request *req,
                                  struct idp_response *resp)
{
    pthread_mutex_unlock(&server->lock);
    outcome(req, "invalid_one_time_code");
    idp_response_code_error(resp, 400, "invalid_one_time_code", "Invalid one-time code.");
}

/* A parameter the grant needs; answers 400 invalid_request when missing. */
static const char *required(struct idp_server *server, struct idp_request *req,
                            struct idp_response *resp, const char *name)
{
    const char *value = idp_request_param(req, name);
    if (value && *value)
        return value;
    pthread_mutex_unlock(&server->lock);
    outcome(req, "invalid_request");
    idp_response_oauth_error(resp, 400, "invalid_request", "%s is required.", name);
    return NULL;
}

static void password_grant(struct idp_server *server, struct idp_request *req,
                           struct idp_response *resp, struct idp_client *client)
{
    const char *email = required(server, req, resp, "email");
    const char *password = email ? required(server, req, resp, "password") : NULL;
    if (!password)
        return;
    struct idp_user *user = idp_store_user_by_email(&server->store, email);
    if (!user || !user->password || strcmp(user->password, password) != 0) {
        pthread_mutex_unlock(&server->lock);
        outcome(req, "invalid_credentials");
        idp_response_code_error(resp, 400, "invalid_credentials", "Invalid credentials for '%s'.",
                                email);
        return;
    }
    continue_sign_in(server, req, resp, client, user, NULL, "Password", 0, req->now_ms);
}

static void magic_auth_grant(struct idp_server *server, struct idp_request *req,
                             struct idp_response *resp, struct idp_client *client)
{
    const char *email = required(server, req, resp, "email");
    const char *code = email ? required(server, req, resp, "code") : NULL;
    if (!code)
        return;
    struct idp_user *user = idp_store_user_by_email(&server->store, email);
    /* The newest live code sent to this user. */
    struct idp_ticket *match = NULL;
    for (struct idp_ticket *t = server->store.tickets_newest; t && user && !match; t = t->older)
        if (t->kind == IDP_TICKET_MAGIC_AUTH && t->expires_ms > req->now_ms &&
            strcmp(t->user_id, user->id) == 0 && strcmp(t->code, code) == 0)
            match = t;
    if (!match) {
        invalid_one_time_code(server, req, resp);
        return;
    }
    idp_store_ticket_delete(&server->store, match);
    /* Receiving the code proves the address. */
    json_object_set_new(user->object, "email_verified", json_true());
    continue_sign_in(server, req, resp, client, user, NULL, "MagicAuth", 0, req->now_ms);
}

/* The pending token of the request, for client; answers otherwise. */
static struct idp_ticket *pending(struct idp_server *server, struct idp_request *req,
                                  struct idp_response *resp, struct idp_client *client)
{
    const char *token = required(server, req, resp, "pending_authentication_token");
    if (!token)
        return NULL;
    struct idp_ticket *t = idp_store_ticket(&server->store, IDP_TICKET_PENDING, token, req->now_ms);
    if (t && (!t->client_id[0] || strcmp(t->client_id, client->id) == 0) &&
        idp_store_user(&server->store, t->user_id))
        return t;
    pthread_mutex_unlock(&server->lock);
    outcome(req, "invalid_pending_authentication_token");
    idp_response_code_error(resp, 400, "invalid_pending_authentication_token",
                            "Invalid pending authentication token");
    return NULL;
}

/* Takes what the rest of the sign-in needs from a pending token and spends it. */
struct resumed {
    struct idp_user *user;
    char org[IDP_ID_SIZE], method[32];
    int stage;
    int64_t auth_ms;
};

static void resume(struct idp_server *server, struct idp_ticket *t, struct resumed *r)
{
    r->user = idp_store_user(&server->store, t->user_id);
    snprintf(r->org, sizeof(r->org), "%s", t->org_id);
    snprintf(r->method, sizeof(r->method), "%s", t->method);
    r->stage = t->stage;
    r->auth_ms = t->auth_ms;
    idp_store_ticket_delete(&server->store, t);
}

static void email_verification_grant(struct idp_server *server, struct idp_request *req,
                                     struct idp_response *resp, struct idp_client *client)
{
    struct idp_ticket *t = pending(server, req, resp, client);
    const char *code = t ? required(server, req, resp, "code") : NULL;
    if (!code)
        return;
    struct idp_ticket *match = NULL;
    for (struct idp_ticket *v = server->store.tickets_newest; v && !match; v = v->older)
        if (v->kind == IDP_TICKET_EMAIL_VERIFICATION && v->expires_ms > req->now_ms &&
            strcmp(v->user_id, t->user_id) == 0 && strcmp(v->code, code) == 0)
            match = v;
    if (!match) {
        invalid_one_time_code(server, req, resp);
        return;
    }
    idp_store_ticket_delete(&server->store, match);
    struct resumed r;
    resume(server, t, &r);
    json_object_set_new(r.user->object, "email_verified", json_true());
    continue_sign_in(server, req, resp, client, r.user, r.org, r.method, STAGE_EMAIL, r.auth_ms);
}

static void totp_grant(struct idp_server *server, struct idp_request *req,
                       struct idp_response *resp, struct idp_client *client)
{
    struct idp_ticket *t = pending(server, req, resp, client);
    const char *challenge_id = t ? required(server, req, resp, "authentication_challenge_id") : NULL;
    const char *code = challenge_id ? required(server, req, resp, "code") : NULL;
    if (!code)
        return;
    struct idp_ticket *challenge = idp_store_ticket(&server->store, IDP_TICKET_CHALLENGE,
                                                    challenge_id, req->now_ms);
    struct idp_user *user = idp_store_user(&server->store, t->user_id);
    if (!challenge || strcmp(challenge->user_id, user->id) != 0 ||
        strcmp(challenge->factor_id, user->factor_id) != 0) {
        pthread_mutex_unlock(&server->lock);
        outcome(req, "authentication_challenge_not_found");
        idp_response_code_error(resp, 404, "entity_not_found",
                                "Authentication challenge not found: '%s'.", challenge_id);
        return;
    }
    int64_t idp_now_s = (req->now_ms + server->settings.clock_offset_ms) / 1000;
    if (!idp_totp_verify(user->totp_secret, idp_now_s, code)) {
        invalid_one_time_code(server, req, resp);
        return;
    }
    idp_store_ticket_delete(&server->store, challenge);
    struct resumed r;
    resume(server, t, &r);
    continue_sign_in(server, req, resp, client, r.user, r.org, r.method, STAGE_MFA, r.auth_ms);
}

static void organization_selection_grant(struct idp_server *server, struct idp_request *req,
                                         struct idp_response *resp, struct idp_client *client)
{
    struct idp_ticket *t = pending(server, req, resp, client);
    const char *org = t ? required(server, req, resp, "organization_id") : NULL;
    if (!org)
        return;
    if (!json_object_get(server->store.organizations, org)) {
        pthread_mutex_unlock(&server->lock);
        outcome(req, "organization_not_found");
        idp_response_code_error(resp, 404, "not_found", "Organization not found");
        return;
    }
    struct idp_user *user = idp_store_user(&server->store, t->user_id);
    if (!idp_user_membership(user, org)) {
        pthread_mutex_unlock(&server->lock);
        outcome(req, "organization_membership_not_found");
        idp_response_code_error(resp, 400, "organization_membership_not_found",
                                "The user is not a member of organization '%s'.", org);
        return;
    }
    struct resumed r;
    resume(server, t, &r);
    continue_sign_in(server, req, resp, client, r.user, org, r.method, r.stage, r.auth_ms);
}

static const struct {
    const char *grant_type;
    void (*run)(struct idp_server *, struct idp_request *, struct idp_response *,
                struct idp_client *);
} grants[] = {
    {"password", password_grant},
    {"urn:workos:oauth:grant-type:magic-auth:code", magic_auth_grant},
    {"urn:workos:oauth:grant-type:email-verification:code", email_verification_grant},
    {"urn:workos:oauth:grant-type:organization-selection", organization_selection_grant},
    {"urn:workos:oauth:grant-type:mfa-totp", totp_grant},
};

bool idp_grant_known(const char *grant_type)
{
    for (size_t i = 0; i < sizeof(grants) / sizeof(grants[0]); i++)
        if (strcmp(grants[i].grant_type, grant_type) == 0)
            return true;
    return false;
}

void idp_grant_headless(struct idp_server *server, struct idp_request *req,
                        struct idp_response *resp, struct idp_client *client,
                        const char *grant_type, bool confidential)
{
    if (!confidential) {
        pthread_mutex_unlock(&server->lock);
        outcome(req, "client_unauthenticated");
        idp_response_oauth_error(resp, 400, "invalid_client", "client_secret is required.");
        return;
    }
    for (size_t i = 0; i < sizeof(grants) / sizeof(grants[0]); i++)
        if (strcmp(grants[i].grant_type, grant_type) == 0)
            grants[i].run(server, req, resp, client);
}
