/* POST /user_management/authenticate: the code exchange (with a client
 * secret and/or a PKCE verifier) and the refresh grant with rotation in the
 * mode the settings choose. Every error is WorkOS-shaped. Signing happens
 * outside the server lock; a refresh token being exchanged is PENDING until
 * its response is cached, so concurrent replays see one consistent outcome. */
#include "route_authenticate.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encoding.h"
#include "grant_issue.h"
#include "server_internal.h"

static const struct step_up {
    const char *code;
    int status;
    const char *message;
} step_ups[] = {
    {"email_verification_required", 403, "Email ownership must be verified before authentication."},
    {"mfa_enrollment", 403, "The user must enroll in MFA to finish authenticating."},
    {"mfa_challenge", 403, "The user must complete an MFA challenge to finish authenticating."},
    {"organization_selection_required", 403,
     "The user must choose an organization to finish their authentication."},
    {"sso_required", 400, "User must authenticate using one of the matching connections."},
};

static bool step_up_error(struct idp_server *server, const char *client_id,
                          struct idp_user *user, struct idp_response *resp, int64_t now_ms)
{
    if (!user->step_up[0])
        return false;
    const struct step_up *s = NULL;
    for (size_t i = 0; i < sizeof(step_ups) / sizeof(step_ups[0]); i++)
        if (strcmp(step_ups[i].code, user->step_up) == 0)
            s = &step_ups[i];
    if (!s)
        return false;
    char pending[IDP_ID_SIZE];
    if (!idp_pending_new(server, user, client_id, NULL, user->authentication_method, 0, now_ms,
                         now_ms, pending))
        idp_random_token(&server->rng, pending, 25);
    const char *email = json_string_value(json_object_get(user->object, "email"));
    json_t *body;
    if (strcmp(s->code, "sso_required") == 0) {
        body = json_pack("{s:s, s:s, s:[], s:s, s:s}", "error", s->code, "error_description",
                         s->message, "connection_ids", "email", email,
                         "pending_authentication_token", pending);
    } else {
        body = json_pack("{s:s, s:s, s:s}", "code", s->code, "message", s->message,
                         "pending_authentication_token", pending);
        if (strcmp(s->code, "email_verification_required") == 0) {
            char verification[IDP_ID_SIZE];
            idp_email_verification_new(server, user, now_ms, verification);
            json_object_set_new(body, "email", json_string(email));
            json_object_set_new(body, "email_verification_id", json_string(verification));
        } else {
            json_object_set(body, "user", user->object);
        }
        if (strcmp(s->code, "organization_selection_required") == 0) {
            json_t *orgs = json_array();
            for (size_t i = 0; i < user->membership_count; i++) {
                const char *id = user->memberships[i].org_id;
                json_t *org = json_object_get(server->store.organizations, id);
                json_array_append_new(orgs, org ? json_deep_copy(org) : json_pack("{s:s}", "id", id));
            }
            json_object_set_new(body, "organizations", orgs);
        }
    }
    idp_response_json(resp, s->status, body);
    return true;
}

static bool pkce_matches(const char *verifier, const char *challenge)
{
    unsigned char digest[32];
    EVP_Digest(verifier, strlen(verifier), digest, NULL, EVP_sha256(), NULL);
    char *computed = idp_base64url_encode(digest, sizeof(digest));
    bool ok = computed && strcmp(computed, challenge) == 0;
    free(computed);
    return ok;
}

static void outcome(struct idp_request *req, const char *text)
{
    snprintf(req->entry.outcome, sizeof(req->entry.outcome), "%s", text);
}

/* Lock held on entry; released on return. */
static void code_grant(struct idp_server *server, struct idp_request *req,
                       struct idp_response *resp, struct idp_client *client, bool confidential)
{
    const char *code_text = idp_request_param(req, "code");
    const char *verifier = idp_request_param(req, "code_verifier");
    const char *redirect_uri = idp_request_param(req, "redirect_uri");
    if (!code_text || !*code_text) {
        pthread_mutex_unlock(&server->lock);
        idp_response_oauth_error(resp, 400, "invalid_request", "code is required.");
        return;
    }
    idp_journal_hash(code_text, req->entry.token_hash);
    struct idp_code *code = idp_store_code(&server->store, code_text);
    if (code && code->expires_ms <= req->now_ms) {
        idp_store_code_delete(&server->store, code);
        code = NULL;
    }
    const char *problem = NULL;
    if (!code || strcmp(code->client_id, client->id) != 0)
        problem = "invalid_grant"; /* NOLINT(bugprone-branch-clone): a bad PKCE pair answers the same */
    else if (code->challenge[0] && !verifier)
        problem = "verifier_missing";
    else if (code->challenge[0] && !pkce_matches(verifier, code->challenge))
        problem = "invalid_grant";
    else if (!code->challenge[0] && !confidential)
        problem = "client_unauthenticated";
    else if (redirect_uri && (!code->redirect_uri || strcmp(redirect_uri, code->redirect_uri) != 0))
        problem = "redirect_uri_mismatch";
    if (problem) {
        pthread_mutex_unlock(&server->lock);
        outcome(req, problem);
        if (strcmp(problem, "verifier_missing") == 0)
            idp_response_oauth_error(resp, 400, "invalid_request", "code_verifier is required.");
        else if (strcmp(problem, "redirect_uri_mismatch") == 0)
            idp_response_oauth_error(resp, 400, "invalid_grant",
                                     "The redirect_uri '%s' does not match the one the code was "
                                     "issued for.", redirect_uri);
        else if (strcmp(problem, "client_unauthenticated") == 0)
            idp_response_oauth_error(resp, 400, "invalid_client",
                                     "client_secret is required when no PKCE code_challenge was sent.");
        else
            idp_response_oauth_error(resp, 400, "invalid_grant",
                                     "The code '%s' has expired or is invalid.", code_text);
        return;
    }
    struct idp_user *user = idp_store_user(&server->store, code->user_id);
    if (!user) {
        idp_store_code_delete(&server->store, code);
        pthread_mutex_unlock(&server->lock);
        idp_response_oauth_error(resp, 400, "invalid_grant",
                                 "The code '%s' has expired or is invalid.", code_text);
        return;
    }
    if (step_up_error(server, client->id, user, resp, req->now_ms)) {
        pthread_mutex_unlock(&server->lock);
        outcome(req, user->step_up);
        return;
    }
    char org[IDP_ID_SIZE], method[32];
    snprintf(org, sizeof(org), "%s", code->org_id);
    snprintf(method, sizeof(method), "%s",
             code->method[0] ? code->method : user->authentication_method);
    int64_t auth_ms = code->auth_ms;
    idp_store_code_delete(&server->store, code);
    idp_sign_in_finish(server, req, resp, client, user, org, method, auth_ms);
}

/* A refresh exchange that does not go through: decided with the lock held,
 * answered once it is released. */
struct refusal {
    char outcome[64];        /* the journal's outcome; "" for none */
    int status;
    const char *oauth_error; /* {"error", "error_description"} when set, */
    const char *code;        /* else {"message", "code"} with this code */
    char message[512];
    bool retry_after;        /* with a Retry-After header of retry_after_s */
    long long retry_after_s;
};

/* Fills the refusal; returns false, for the checks that end with it. */
static bool refuse(struct refusal *no, const char *outcome, int status, const char *oauth_error,
                   const char *code, const char *message)
{
    snprintf(no->outcome, sizeof(no->outcome), "%s", outcome);
    no->status = status;
    no->oauth_error = oauth_error;
    no->code = code;
    snprintf(no->message, sizeof(no->message), "%s", message);
    return false;
}

/* Lock NOT held. */
static void refusal_answer(struct idp_request *req, struct idp_response *resp,
                           const struct refusal *no)
{
    if (no->outcome[0])
        outcome(req, no->outcome);
    if (no->oauth_error)
        idp_response_oauth_error(resp, no->status, no->oauth_error, "%s", no->message);
    else
        idp_response_code_error(resp, no->status, no->code, "%s", no->message);
    if (no->retry_after)
        idp_response_header(resp, "Retry-After", "%lld", no->retry_after_s);
}

/* Waits (lock held) until a pending exchange settles; bounded in wall time. */
static void wait_settled(struct idp_server *server, struct idp_refresh **rt, const char *token)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    while ((*rt = idp_store_refresh(&server->store, token)) && (*rt)->state == IDP_RT_PENDING)
        if (pthread_cond_timedwait(&server->refresh_done, &server->lock, &deadline))
            break;
}

/* The refresh token the request presents (into token) and its session, when
 * the token can be exchanged or replayed: known, for this client, its
 * session alive, not expired, and not refused as concurrent. Lock held
 * throughout (a grace-mode replay may wait on it for the first exchange);
 * false with the refusal otherwise. */
static bool refresh_usable(struct idp_server *server, struct idp_request *req,
                           const struct idp_client *client, char token[IDP_ID_SIZE],
                           struct idp_refresh **rt, struct idp_session **session,
                           struct refusal *no)
{
    const struct idp_settings *s = &server->settings;
    const char *given = idp_request_param(req, "refresh_token");
    token[0] = '\0';
    if (given)
        snprintf(token, IDP_ID_SIZE, "%s", given);
    else if (s->refresh_cookie)
        idp_request_cookie(req, s->refresh_cookie_name, token, IDP_ID_SIZE);
    if (!token[0])
        return refuse(no, "refresh_token_missing", 400, "invalid_request", NULL,
                      "refresh_token is required.");
    idp_journal_hash(token, req->entry.token_hash);
    *rt = idp_store_refresh(&server->store, token);
    if (*rt && (*rt)->state == IDP_RT_PENDING && s->refresh_mode == IDP_REFRESH_GRACE)
        wait_settled(server, rt, token);
    *session = *rt ? idp_store_session(&server->store, (*rt)->session_id) : NULL;
    if (!*rt || !*session || strcmp((*session)->client_id, client->id) != 0)
        return refuse(no, "unknown_token", 400, "invalid_grant", NULL, "Invalid refresh token.");
    struct idp_session *live = *session;
    snprintf(req->entry.session_id, sizeof(req->entry.session_id), "%s", live->id);
    snprintf(req->entry.user_id, sizeof(req->entry.user_id), "%s", live->user_id);
    int64_t now = req->now_ms;
    if (!live->ended_ms && s->session_max_age_ms && now - live->created_ms >= s->session_max_age_ms)
        idp_store_session_end(live, now, "max_age");
    if (!live->ended_ms && s->inactivity_timeout_ms &&
        now - live->last_activity_ms >= s->inactivity_timeout_ms)
        idp_store_session_end(live, now, "inactivity");
    if (live->ended_ms) {
        char why[64];
        snprintf(why, sizeof(why), "session_ended:%s", live->end_reason);
        return refuse(no, why, 400, "invalid_grant", NULL, "Session has ended.");
    }
    if ((*rt)->expired || (s->refresh_ttl_ms && now - (*rt)->issued_ms >= s->refresh_ttl_ms))
        return refuse(no, "refresh_token_expired", 400, "invalid_grant", NULL,
                      "Refresh token has expired.");
    if ((*rt)->state == IDP_RT_PENDING && s->refresh_mode == IDP_REFRESH_CONCURRENT_429) {
        /* WorkOS refuses a replay only while the first exchange of the token
         * is still in flight; once it finished, the grace rule applies. */
        no->retry_after = true;
        no->retry_after_s = s->retry_after_ms / 1000 + (s->retry_after_ms % 1000 != 0);
        return refuse(no, "concurrent_429", 429, NULL, "rate_limit_exceeded",
                      "Too many concurrent refresh requests.");
    }
    return true;
}

/* A token already exchanged (or being exchanged). Within the grace, the
 * modes that replay answer with the cached reply: true, with a copy in
 * *body (NULL when out of memory) and the cookie settings in g. Otherwise
 * the refusal, the session ended first under revoke_family. Lock held. */
static bool reuse_replays(struct idp_server *server, struct idp_request *req,
                          const struct idp_client *client, struct idp_refresh *rt,
                          struct idp_session *session, struct idp_grant *g, char **body,
                          struct refusal *no)
{
    const struct idp_settings *s = &server->settings;
    bool in_grace = rt->state == IDP_RT_PENDING ||
                    req->now_ms - rt->rotated_ms <= s->refresh_grace_ms;
    bool replays = s->refresh_mode == IDP_REFRESH_GRACE ||
                   s->refresh_mode == IDP_REFRESH_CONCURRENT_429;
    if (replays && in_grace && rt->cached_body) {
        *body = strdup(rt->cached_body);
        /* A browser client whose first reply was lost gets the cookies
         * again, or it would keep presenting the spent token. */
        idp_grant_cookie_settings(server, req, client, g);
        return true;
    }
    if (s->refresh_mode == IDP_REFRESH_REVOKE_FAMILY) {
        idp_store_session_end(session, req->now_ms, "refresh_token_reuse");
        return refuse(no, "reuse_revoked_session", 400, "invalid_grant", NULL,
                      "Refresh token already exchanged.");
    }
    return refuse(no, "already_exchanged", 400, "invalid_grant", NULL,
                  "Refresh token already exchanged.");
}

/* Answers a grace replay with the cached body (taken). Lock NOT held. */
static void replay_answer(struct idp_request *req, struct idp_response *resp, struct idp_grant *g,
                          char *body)
{
    outcome(req, "replayed");
    if (!body) {
        idp_response_code_error(resp, 500, "server_error", "Out of memory.");
        return;
    }
    json_t *parsed = json_loads(body, 0, NULL);
    const char *token = json_string_value(json_object_get(parsed, "refresh_token"));
    snprintf(g->refresh_token, sizeof(g->refresh_token), "%s", token ? token : "");
    json_decref(parsed);
    idp_respond_body(resp, body);
    if (g->refresh_token[0])
        idp_grant_set_cookies(resp, g);
}

/* Rotates an active token: its successor issued, the token PENDING, the
 * grant prepared in g. Lock held; false with the refusal when the user is
 * gone, not a member of the organization asked for, or out of memory. */
static bool rotate_prepare(struct idp_server *server, struct idp_request *req,
                           const struct idp_client *client, struct idp_session *session,
                           const char *token, struct idp_grant *g, struct refusal *no)
{
    int64_t now = req->now_ms;
    struct idp_user *user = idp_store_user(&server->store, session->user_id);
    const char *org = idp_request_param(req, "organization_id");
    if (!user)
        return refuse(no, "user_deleted", 400, "invalid_grant", NULL, "Invalid refresh token.");
    if (org && *org && !idp_user_membership(user, org)) {
        char message[sizeof(no->message)];
        snprintf(message, sizeof(message), "The user is not a member of organization '%s'.", org);
        return refuse(no, "organization_membership_not_found", 400, NULL,
                      "organization_membership_not_found", message);
    }
    if (org && *org)
        snprintf(session->org_id, sizeof(session->org_id), "%s", org);
    struct idp_refresh *next = idp_store_refresh_new(&server->store, session, &server->rng, now);
    /* Looked up again: issuing the successor may have shifted the list. */
    struct idp_refresh *rt = idp_store_refresh(&server->store, token);
    if (!next || !rt)
        return refuse(no, "", 500, NULL, "server_error", "Out of memory.");
    rt->state = IDP_RT_PENDING;
    idp_store_forget_replies(&server->store, now, server->settings.refresh_grace_ms);
    session->last_activity_ms = now;
    session->refresh_count++;
    idp_grant_prepare(server, req, client, user, session, next->token, g);
    return true;
}

/* Signs the prepared grant and answers; records the outcome on the token.
 * Lock NOT held (taken to record). */
static void rotate_finish(struct idp_server *server, struct idp_request *req,
                          struct idp_response *resp, const char *token, struct idp_grant *g)
{
    struct idp_error err;
    char *body = idp_grant_finish(server, req, g, &err);

    pthread_mutex_lock(&server->lock);
    struct idp_refresh *rt = idp_store_refresh(&server->store, token);
    if (rt) {
        /* A failed exchange leaves the token usable at once; a successful
         * one stays PENDING (in flight) until idp_refresh_settle, with its
         * reply cached for the replays that wait for it. */
        rt->rotated_ms = req->now_ms;
        idp_store_reply_set(&server->store, rt, body ? strdup(body) : NULL);
        if (body)
            snprintf(req->refresh_in_flight, sizeof(req->refresh_in_flight), "%s", token);
        else
            rt->state = IDP_RT_ACTIVE;
    }
    pthread_cond_broadcast(&server->refresh_done);
    pthread_mutex_unlock(&server->lock);
    if (body) {
        idp_respond_body(resp, body);
        idp_grant_set_cookies(resp, g);
        outcome(req, "rotated");
    } else {
        idp_response_code_error(resp, 500, "server_error", "%s", err.message);
    }
}

/* Lock held on entry; released on return. Everything is decided under the
 * lock (refresh_usable, then reuse_replays or rotate_prepare) and answered
 * after it: a refusal, a grace replay, or the signed rotation. */
static void refresh_grant(struct idp_server *server, struct idp_request *req,
                          struct idp_response *resp, struct idp_client *client)
{
    struct refusal no = {0};
    struct idp_grant g = {0};
    char token[IDP_ID_SIZE];
    struct idp_refresh *rt = NULL;
    struct idp_session *session = NULL;
    char *replay = NULL;
    enum { REFUSE, REPLAY, ROTATE } next = REFUSE;
    if (refresh_usable(server, req, client, token, &rt, &session, &no)) {
        if (rt->state != IDP_RT_ACTIVE &&
            reuse_replays(server, req, client, rt, session, &g, &replay, &no))
            next = REPLAY;
        else if (rt->state == IDP_RT_ACTIVE &&
                 rotate_prepare(server, req, client, session, token, &g, &no))
            next = ROTATE;
    }
    pthread_mutex_unlock(&server->lock);
    if (next == REPLAY)
        replay_answer(req, resp, &g, replay);
    else if (next == ROTATE)
        rotate_finish(server, req, resp, token, &g);
    else
        refusal_answer(req, resp, &no);
    idp_grant_cleanup(&g);
}

void idp_refresh_settle(struct idp_server *server, struct idp_request *req)
{
    if (!req->refresh_in_flight[0])
        return;
    pthread_mutex_lock(&server->lock);
    struct idp_refresh *rt = idp_store_refresh(&server->store, req->refresh_in_flight);
    if (rt && rt->state == IDP_RT_PENDING)
        rt->state = IDP_RT_ROTATED;
    pthread_cond_broadcast(&server->refresh_done);
    pthread_mutex_unlock(&server->lock);
    req->refresh_in_flight[0] = '\0';
}

void idp_route_authenticate(struct idp_server *server, struct idp_request *req,
                            struct idp_response *resp)
{
    if (req->params_bad) {
        idp_response_code_error(resp, 400, "invalid_request_body", "Problems parsing JSON");
        return;
    }
    const char *grant_type = idp_request_param(req, "grant_type");
    const char *client_id = idp_request_param(req, "client_id");
    snprintf(req->entry.grant_type, sizeof(req->entry.grant_type), "%s",
             grant_type ? grant_type : "");
    snprintf(req->entry.client_id, sizeof(req->entry.client_id), "%s", client_id ? client_id : "");
    if (!grant_type) {
        idp_response_oauth_error(resp, 400, "invalid_request", "grant_type is required.");
        return;
    }
    if (!client_id) {
        idp_response_oauth_error(resp, 400, "invalid_request", "client_id is required.");
        return;
    }
    const char *bearer = idp_request_bearer(req);
    const char *secret = idp_request_param(req, "client_secret");
    pthread_mutex_lock(&server->lock);
    struct idp_client *client = idp_store_client(&server->store, client_id);
    if (!client) {
        pthread_mutex_unlock(&server->lock);
        outcome(req, "invalid_client");
        idp_response_oauth_error(resp, 400, "invalid_client", "Invalid client ID '%s'.", client_id);
        return;
    }
    if (bearer && !idp_store_api_key_valid(&server->store, bearer)) {
        pthread_mutex_unlock(&server->lock);
        outcome(req, "unauthorized");
        idp_response_code_error(resp, 401, "unauthorized", "Unauthorized");
        return;
    }
    if (secret && !idp_store_api_key_valid(&server->store, secret)) {
        pthread_mutex_unlock(&server->lock);
        outcome(req, "invalid_client");
        idp_response_oauth_error(resp, 400, "invalid_client", "Invalid client secret.");
        return;
    }
    bool confidential = bearer || secret;
    if (strcmp(grant_type, "authorization_code") == 0) {
        code_grant(server, req, resp, client, confidential);
    } else if (strcmp(grant_type, "refresh_token") == 0) {
        refresh_grant(server, req, resp, client);
    } else if (idp_grant_known(grant_type)) {
        idp_grant_headless(server, req, resp, client, grant_type, confidential);
    } else {
        pthread_mutex_unlock(&server->lock);
        idp_response_oauth_error(resp, 400, "invalid_request",
                                 "The grant type is not supported: %s", grant_type);
    }
}
