/* The answer every grant that signs a user in or refreshes ends in: what
 * it needs is collected under the server lock (idp_grant_prepare), the
 * access token is signed and the body built outside it (idp_grant_finish),
 * and browser clients get their cookies. idp_sign_in_finish creates the
 * session for the code exchange (route_authenticate.c) and the headless
 * grants (route_grants.c) alike. */
#include "grant_issue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server_internal.h"
#include "token.h"

static void outcome(struct idp_request *req, const char *text)
{
    snprintf(req->entry.outcome, sizeof(req->entry.outcome), "%s", text);
}

void idp_grant_cleanup(struct idp_grant *g)
{
    json_decref(g->claims);
    json_decref(g->user);
    json_decref(g->impersonator);
}

/* Whether and how this request gets the browser-client cookies; lock held. */
void idp_grant_cookie_settings(struct idp_server *server, struct idp_request *req,
                               const struct idp_client *client, struct idp_grant *g)
{
    snprintf(g->client_id, sizeof(g->client_id), "%s", client->id);
    g->refresh_ttl_ms = server->settings.refresh_ttl_ms;
    const char *origin = idp_request_header(req, "Origin");
    g->cookie = server->settings.refresh_cookie && origin &&
                idp_patterns_match(client->allowed_origins, origin);
    snprintf(g->cookie_name, sizeof(g->cookie_name), "%s", server->settings.refresh_cookie_name);
    if (server->settings.session_cookie_domain[0])
        snprintf(g->cookie_domain, sizeof(g->cookie_domain), "; Domain=%s",
                 server->settings.session_cookie_domain);
}

/* Collects what the response needs; lock held. */
void idp_grant_prepare(struct idp_server *server, struct idp_request *req,
                       const struct idp_client *client, struct idp_user *user,
                       struct idp_session *session, const char *refresh_token, struct idp_grant *g)
{
    g->claims = idp_access_claims(server, client, user, session, req->now_ms);
    g->user = json_deep_copy(user->object);
    g->impersonator = user->impersonator ? json_deep_copy(user->impersonator) : NULL;
    snprintf(g->org_id, sizeof(g->org_id), "%s", session->org_id);
    snprintf(g->refresh_token, sizeof(g->refresh_token), "%s", refresh_token);
    snprintf(g->method, sizeof(g->method), "%s", session->authentication_method);
    snprintf(g->client_id, sizeof(g->client_id), "%s", client->id);
    idp_grant_cookie_settings(server, req, client, g);
    snprintf(req->entry.session_id, sizeof(req->entry.session_id), "%s", session->id);
    snprintf(req->entry.user_id, sizeof(req->entry.user_id), "%s", user->id);
}

/* Signs and builds the body; lock NOT held. Returns a malloc'd body or NULL. */
char *idp_grant_finish(struct idp_server *server, struct idp_request *req, struct idp_grant *g,
                       struct idp_error *err)
{
    json_t *claims = g->claims;
    g->claims = NULL;
    char *token = idp_mint(server, claims, req->now_ms, err);
    if (!token)
        return NULL;
    json_t *body = json_object();
    json_object_set(body, "user", g->user);
    if (g->org_id[0])
        json_object_set_new(body, "organization_id", json_string(g->org_id));
    json_object_set_new(body, "access_token", json_string(token));
    json_object_set_new(body, "refresh_token", json_string(g->refresh_token));
    json_object_set_new(body, "authentication_method", json_string(g->method));
    if (g->impersonator)
        json_object_set(body, "impersonator", g->impersonator);
    char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(body);
    free(token);
    if (!text)
        idp_fail(err, IDP_NOMEM, "out of memory");
    return text;
}

/* Browser clients in production mode keep the refresh token in an HttpOnly
 * cookie on the IdP's origin, plus a JS-readable marker (authkit-js). */
void idp_grant_set_cookies(struct idp_response *resp, const struct idp_grant *g)
{
    if (!g->cookie)
        return;
    long long max_age = g->refresh_ttl_ms ? g->refresh_ttl_ms / 1000 : 34560000;
    idp_response_header(resp, "Set-Cookie", "%s=%s; Path=/; Max-Age=%lld; HttpOnly; Secure; SameSite=None%s",
                        g->cookie_name, g->refresh_token, max_age, g->cookie_domain);
    idp_response_header(resp, "Set-Cookie", "workos-has-session=%s; Path=/; Max-Age=%lld; Secure; SameSite=None%s",
                        g->client_id, max_age, g->cookie_domain);
}

void idp_respond_body(struct idp_response *resp, char *body)
{
    free(resp->body);
    resp->status = 200;
    snprintf(resp->content_type, sizeof(resp->content_type), "application/json; charset=utf-8");
    resp->body = body;
    resp->body_len = strlen(body);
}

void idp_sign_in_finish(struct idp_server *server, struct idp_request *req,
                        struct idp_response *resp, struct idp_client *client,
                        struct idp_user *user, const char *org, const char *method,
                        int64_t auth_ms)
{
    struct idp_session *session = idp_store_session_new(&server->store, &server->rng, req->now_ms,
                                                        server->settings.max_sessions);
    struct idp_refresh *rt = session ? idp_store_refresh_new(&server->store, session,
                                                             &server->rng, req->now_ms)
                                     : NULL;
    if (!rt) {
        pthread_mutex_unlock(&server->lock);
        idp_response_code_error(resp, 500, "server_error", "Out of memory.");
        return;
    }
    snprintf(session->user_id, sizeof(session->user_id), "%s", user->id);
    snprintf(session->client_id, sizeof(session->client_id), "%s", client->id);
    snprintf(session->org_id, sizeof(session->org_id), "%s", org);
    snprintf(rt->org_id, sizeof(rt->org_id), "%s", org);
    snprintf(session->authentication_method, sizeof(session->authentication_method), "%s",
             method);
    session->auth_time_ms = auth_ms ? auth_ms : req->now_ms;
    char now_text[32];
    idp_format_iso8601(req->now_ms, now_text);
    json_object_set_new(user->object, "last_sign_in_at", json_string(now_text));
    json_object_set_new(user->object, "updated_at", json_string(now_text));
    struct idp_grant g = {0};
    idp_grant_prepare(server, req, client, user, session, rt->token, &g);
    pthread_mutex_unlock(&server->lock);

    struct idp_error err;
    char *body = idp_grant_finish(server, req, &g, &err);
    if (body) {
        idp_respond_body(resp, body);
        idp_grant_set_cookies(resp, &g);
        outcome(req, "session_created");
    } else {
        idp_response_code_error(resp, 500, "server_error", "%s", err.message);
    }
    idp_grant_cleanup(&g);
}
