/* Logout, session revocation and the user / session reads the SDKs make. */
#include "route_sessions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server_internal.h"

void idp_route_logout(struct idp_server *server, struct idp_request *req,
                      struct idp_response *resp)
{
    const char *session_id = idp_request_param(req, "session_id");
    const char *return_to = idp_request_param(req, "return_to");
    if (!session_id || !*session_id) {
        idp_response_code_error(resp, 422, "invalid_request", "session_id is required");
        return;
    }
    snprintf(req->entry.session_id, sizeof(req->entry.session_id), "%s", session_id);
    pthread_mutex_lock(&server->lock);
    struct idp_session *session = idp_store_session(&server->store, session_id);
    bool allowed = !return_to;
    if (return_to) {
        /* The session's client decides; an unknown session may return to any
         * client's allowed logout URI. */
        size_t bucket = 0;
        for (struct idp_map_entry *e = idp_map_next(&server->store.clients, &bucket, NULL);
             e && !allowed; e = idp_map_next(&server->store.clients, &bucket, e)) {
            struct idp_client *c = e->value;
            if (!session || strcmp(session->client_id, c->id) == 0)
                allowed = idp_patterns_match(c->logout_uris, return_to);
        }
    }
    if (!allowed) {
        pthread_mutex_unlock(&server->lock);
        snprintf(req->entry.outcome, sizeof(req->entry.outcome), "invalid_return_to");
        idp_response_code_error(resp, 400, "invalid_redirect_uri",
                                "return_to '%s' is not an allowed logout redirect.", return_to);
        return;
    }
    if (session) {
        idp_store_session_end(session, req->now_ms, "logout");
        snprintf(req->entry.user_id, sizeof(req->entry.user_id), "%s", session->user_id);
    }
    char cookie_name[64], domain[140] = "";
    snprintf(cookie_name, sizeof(cookie_name), "%s", server->settings.refresh_cookie_name);
    if (server->settings.session_cookie_domain[0])
        snprintf(domain, sizeof(domain), "; Domain=%s", server->settings.session_cookie_domain);
    pthread_mutex_unlock(&server->lock);
    snprintf(req->entry.outcome, sizeof(req->entry.outcome), session ? "session_ended" : "unknown_session");
    if (return_to)
        idp_response_redirect(resp, return_to);
    else
        idp_response_json(resp, 200, json_pack("{s:b}", "success", 1));
    idp_response_header(resp, "Set-Cookie",
                        "%s=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=None%s",
                        cookie_name, domain);
    idp_response_header(resp, "Set-Cookie",
                        "workos-has-session=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Secure; SameSite=None%s",
                        domain);
}

void idp_route_revoke(struct idp_server *server, struct idp_request *req,
                      struct idp_response *resp)
{
    if (!idp_require_api_key(server, req, resp))
        return;
    if (req->params_bad) {
        idp_response_code_error(resp, 400, "invalid_request_body", "Problems parsing JSON");
        return;
    }
    const char *session_id = idp_request_param(req, "session_id");
    if (!session_id || !*session_id) {
        idp_response_code_error(resp, 400, "invalid_request", "session_id is required");
        return;
    }
    snprintf(req->entry.session_id, sizeof(req->entry.session_id), "%s", session_id);
    pthread_mutex_lock(&server->lock);
    struct idp_session *session = idp_store_session(&server->store, session_id);
    if (session)
        idp_store_session_end(session, req->now_ms, "revoked");
    pthread_mutex_unlock(&server->lock);
    if (!session) {
        idp_response_code_error(resp, 400, "not_found", "Session not found: '%s'.", session_id);
        return;
    }
    snprintf(req->entry.outcome, sizeof(req->entry.outcome), "session_revoked");
    idp_response_json(resp, 200, json_pack("{s:b}", "success", 1));
}

/* GET /user_management/users/{id} and …/users/{id}/sessions */
void idp_route_user(struct idp_server *server, struct idp_request *req,
                    struct idp_response *resp)
{
    if (!idp_require_api_key(server, req, resp))
        return;
    pthread_mutex_lock(&server->lock);
    struct idp_user *user = idp_store_user(&server->store, req->path_arg);
    json_t *body = user ? json_deep_copy(user->object) : NULL;
    pthread_mutex_unlock(&server->lock);
    if (!body) {
        idp_response_code_error(resp, 404, "entity_not_found", "User not found: '%s'.",
                                req->path_arg);
        return;
    }
    idp_response_json(resp, 200, body);
}

void idp_route_sessions_list(struct idp_server *server, struct idp_request *req,
                             struct idp_response *resp)
{
    if (!idp_require_api_key(server, req, resp))
        return;
    pthread_mutex_lock(&server->lock);
    bool known = idp_store_user(&server->store, req->path_arg) != NULL;
    json_t *body = known ? idp_store_sessions_json(&server->store, req->path_arg) : NULL;
    pthread_mutex_unlock(&server->lock);
    if (!known) {
        idp_response_code_error(resp, 404, "entity_not_found", "User not found: '%s'.",
                                req->path_arg);
        return;
    }
    idp_response_json(resp, 200, body);
}
