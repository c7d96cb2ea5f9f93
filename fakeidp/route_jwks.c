/* GET /sso/jwks/{client_id} and the OpenID discovery documents. The JWKS
 * body is cached per key-set version and for the span of virtual time in
 * which no key is published or retired, so the hot path is a copy. */
#include "route_jwks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server_internal.h"
#include "token.h"

/* The span [from, until) around now in which the published set is stable. */
static void stable_span(const struct idp_keyset *keys, int64_t now, int64_t *from, int64_t *until)
{
    *from = IDP_TIME_ALWAYS;
    *until = IDP_TIME_NEVER;
    for (size_t i = 0; i < keys->count; i++) {
        const int64_t edges[2] = {keys->keys[i].publish_at_ms, keys->keys[i].retire_at_ms};
        for (int j = 0; j < 2; j++) {
            if (edges[j] <= now && edges[j] > *from)
                *from = edges[j];
            if (edges[j] > now && edges[j] < *until)
                *until = edges[j];
        }
    }
}

void idp_route_jwks(struct idp_server *server, struct idp_request *req,
                    struct idp_response *resp)
{
    int64_t now = req->now_ms;
    snprintf(req->entry.client_id, sizeof(req->entry.client_id), "%s", req->path_arg);
    pthread_mutex_lock(&server->lock);
    if (!idp_store_client(&server->store, req->path_arg)) {
        pthread_mutex_unlock(&server->lock);
        idp_response_code_error(resp, 404, "entity_not_found", "Client not found: '%s'.",
                                req->path_arg);
        return;
    }
    if (!server->jwks_body || server->jwks_version != server->keys_version ||
        now < server->jwks_valid_from || now >= server->jwks_valid_until) {
        json_t *jwks = idp_keyset_jwks(&server->keys, now);
        free(server->jwks_body);
        server->jwks_body = json_dumps(jwks, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(jwks);
        server->jwks_version = server->keys_version;
        stable_span(&server->keys, now, &server->jwks_valid_from, &server->jwks_valid_until);
    }
    if (server->jwks_body)
        idp_response_text(resp, 200, "application/json; charset=utf-8", server->jwks_body,
                          strlen(server->jwks_body));
    else
        idp_response_code_error(resp, 500, "server_error", "Out of memory.");
    if (server->settings.jwks_cache_control[0])
        idp_response_header(resp, "Cache-Control", "%s", server->settings.jwks_cache_control);
    pthread_mutex_unlock(&server->lock);
}

void idp_route_discovery(struct idp_server *server, struct idp_request *req,
                         struct idp_response *resp)
{
    pthread_mutex_lock(&server->lock);
    const char *client_id = req->path_arg[0] ? req->path_arg : server->store.default_client;
    if (!idp_store_client(&server->store, client_id)) {
        pthread_mutex_unlock(&server->lock);
        idp_response_code_error(resp, 404, "entity_not_found", "Client not found: '%s'.", client_id);
        return;
    }
    char issuer[512], jwks[512], authorize[300], token[300];
    if (req->path_arg[0]) {
        struct idp_settings per_client = server->settings;
        per_client.issuer_mode = IDP_ISSUER_PER_CLIENT;
        idp_issuer(&per_client, client_id, issuer, sizeof(issuer));
    } else {
        idp_issuer(&server->settings, client_id, issuer, sizeof(issuer));
    }
    pthread_mutex_unlock(&server->lock);
    snprintf(jwks, sizeof(jwks), "%s/sso/jwks/%s", server->url, client_id);
    snprintf(authorize, sizeof(authorize), "%s/user_management/authorize", server->url);
    snprintf(token, sizeof(token), "%s/user_management/authenticate", server->url);
    idp_response_json(resp, 200,
                      json_pack("{s:s, s:s, s:s, s:s, s:[s], s:[s], s:[s], s:[s], s:[s,s]}",
                                "issuer", issuer, "authorization_endpoint", authorize,
                                "token_endpoint", token, "jwks_uri", jwks,
                                "response_types_supported", "code",
                                "subject_types_supported", "public",
                                "id_token_signing_alg_values_supported", "RS256",
                                "code_challenge_methods_supported", "S256",
                                "grant_types_supported", "authorization_code", "refresh_token"));
}
