/* The fault action table, and the actions that rewrite the handler's answer
 * (status, the body mutations, token and JWKS) or the IdP's state (refresh
 * mode, sessions, rate limits). An action is one row of actions[] at the end
 * of this file, {name, phase, parse, run}, and its run function (here, or in
 * fault_wire.c / fault_barrier.c when it acts on the connection); parse
 * checks the parameters only it reads. docs/faults.md describes each. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encoding.h"
#include "fault_internal.h"
#include "forge.h"
#include "names.h"
#include "server_internal.h"

/* Replaces the response body with body's compact text; left as it was when
 * out of memory. */
static void set_json_body(struct idp_response *resp, const json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text) {
        free(resp->body);
        resp->body = text;
        resp->body_len = strlen(text);
    }
}

/* ---------------------------------------------------------------------- */
/* Answers                                                                 */

static enum idp_status parse_status(const json_t *rule, enum idp_fault_phase phase,
                                    struct idp_error *err)
{
    (void)phase;
    const json_t *status = json_object_get(rule, "status");
    if (status && (!json_is_integer(status) || json_integer_value(status) < 100 ||
                   json_integer_value(status) > 599))
        return idp_fail(err, IDP_INVALID, "fault: status must be an HTTP status from 100 to 599");
    return IDP_OK;
}

static enum idp_fault_outcome act_status(struct idp_server *server, struct idp_fault *f,
                                         struct idp_request *req, struct idp_response *resp)
{
    int status = (int)idp_fault_param_integer(f->params, "status", 503);
    const json_t *body = json_object_get(f->params, "body");
    const char *type = json_string_value(json_object_get(f->params, "content_type"));
    idp_response_reset(resp);
    if (json_is_string(body)) {
        idp_response_text(resp, status, type ? type : "text/plain; charset=utf-8",
                          json_string_value(body), json_string_length(body));
    } else if (body) {
        idp_response_json(resp, status, json_deep_copy(body));
    } else if (status == 400) {
        idp_response_oauth_error(resp, 400, "invalid_grant", "Refresh token already exchanged.");
    } else if (status == 401) {
        idp_response_code_error(resp, 401, "unauthorized", "Unauthorized");
    } else if (status == 429) {
        idp_response_code_error(resp, 429, "rate_limit_exceeded", "Too Many Requests");
    } else {
        idp_response_code_error(resp, status, status >= 500 ? "server_error" : "fault",
                                "%s", mg_get_response_code_text(NULL, status));
    }
    if (type && !json_is_string(body))
        snprintf(resp->content_type, sizeof(resp->content_type), "%s", type);
    int64_t retry = idp_fault_param_duration(f->params, "retry_after", status == 429 ? 1000 : -1);
    if (retry >= 0)
        idp_response_header(resp, "Retry-After", "%lld", (long long)((retry + 999) / 1000));
    (void)server;
    (void)req;
    return IDP_FAULT_ANSWERED;
}

static enum idp_fault_outcome act_wrong_content_type(struct idp_server *server,
                                                     struct idp_fault *f,
                                                     struct idp_request *req,
                                                     struct idp_response *resp)
{
    const char *type = json_string_value(json_object_get(f->params, "content_type"));
    snprintf(resp->content_type, sizeof(resp->content_type), "%s", type ? type : "text/html");
    (void)server;
    (void)req;
    return IDP_FAULT_CONTINUE;
}

static enum idp_fault_outcome act_non_json(struct idp_server *server, struct idp_fault *f,
                                           struct idp_request *req, struct idp_response *resp)
{
    static const char html[] = "<html><body><h1>502 Bad Gateway</h1></body></html>";
    idp_response_text(resp, resp->status, "text/html", html, sizeof(html) - 1);
    (void)server;
    (void)f;
    (void)req;
    return IDP_FAULT_CONTINUE;
}

static enum idp_fault_outcome act_empty_200(struct idp_server *server, struct idp_fault *f,
                                            struct idp_request *req, struct idp_response *resp)
{
    idp_response_text(resp, 200, "application/json", "", 0);
    (void)server;
    (void)f;
    (void)req;
    return IDP_FAULT_CONTINUE;
}

static enum idp_fault_outcome act_malformed_json(struct idp_server *server, struct idp_fault *f,
                                                 struct idp_request *req,
                                                 struct idp_response *resp)
{
    size_t keep = resp->body_len > 2 ? resp->body_len / 2 : 0;
    resp->body_len = keep; /* a JSON text cut in the middle */
    if (!keep)
        idp_response_text(resp, resp->status, "application/json", "{\"user\":", 8);
    (void)server;
    (void)f;
    (void)req;
    return IDP_FAULT_CONTINUE;
}

static enum idp_fault_outcome act_redirect(struct idp_server *server, struct idp_fault *f,
                                           struct idp_request *req, struct idp_response *resp)
{
    const char *location = json_string_value(json_object_get(f->params, "location"));
    char fallback[300];
    snprintf(fallback, sizeof(fallback), "%s%s", server->url, req->path);
    const json_t *status_v = json_object_get(f->params, "status");
    idp_response_redirect(resp, location ? location : fallback);
    if (json_is_integer(status_v))
        resp->status = (int)json_integer_value(status_v);
    return IDP_FAULT_CONTINUE;
}

/* ---------------------------------------------------------------------- */
/* The IdP's state                                                         */

static enum idp_status parse_refresh_mode(const json_t *rule, enum idp_fault_phase phase,
                                          struct idp_error *err)
{
    (void)phase;
    struct idp_settings scratch;
    idp_settings_defaults(&scratch);
    const json_t *given = json_object_get(rule, "mode");
    json_t *mode = json_pack("{s:O}", "refresh_mode", given ? given : json_null());
    enum idp_status status = IDP_OK;
    if (idp_settings_apply(&scratch, mode, NULL))
        status = idp_fail(err, IDP_INVALID,
                          "fault: refresh_mode needs \"mode\": grace, strict, revoke_family or concurrent_429");
    json_decref(mode);
    return status;
}

static enum idp_fault_outcome act_refresh_mode(struct idp_server *server, struct idp_fault *f,
                                               struct idp_request *req,
                                               struct idp_response *resp)
{
    json_t *settings = json_pack("{s:O}", "refresh_mode", json_object_get(f->params, "mode"));
    pthread_mutex_lock(&server->lock);
    idp_settings_apply(&server->settings, settings, NULL);
    pthread_mutex_unlock(&server->lock);
    json_decref(settings);
    (void)req;
    (void)resp;
    return IDP_FAULT_CONTINUE;
}

/* The refresh token the request presents (*rt, or NULL) and its session, or
 * the session its session_id names. Lock held. */
static struct idp_session *request_session(struct idp_server *server, struct idp_request *req,
                                           struct idp_refresh **rt)
{
    *rt = idp_store_refresh(&server->store, idp_request_param(req, "refresh_token"));
    const char *sid = *rt ? (*rt)->session_id : idp_request_param(req, "session_id");
    return idp_store_session(&server->store, sid);
}

static enum idp_fault_outcome act_revoke_session(struct idp_server *server, struct idp_fault *f,
                                                 struct idp_request *req,
                                                 struct idp_response *resp)
{
    pthread_mutex_lock(&server->lock);
    struct idp_refresh *rt;
    struct idp_session *s = request_session(server, req, &rt);
    if (s)
        idp_store_session_end(s, req->now_ms, "revoked_by_fault");
    else if (rt)
        rt->expired = true;
    pthread_mutex_unlock(&server->lock);
    (void)f;
    (void)resp;
    return IDP_FAULT_CONTINUE;
}

static enum idp_fault_outcome act_expire_refresh_token(struct idp_server *server,
                                                       struct idp_fault *f,
                                                       struct idp_request *req,
                                                       struct idp_response *resp)
{
    pthread_mutex_lock(&server->lock);
    struct idp_refresh *rt = idp_store_refresh(&server->store,
                                               idp_request_param(req, "refresh_token"));
    if (rt)
        rt->expired = true;
    pthread_mutex_unlock(&server->lock);
    (void)f;
    (void)resp;
    return IDP_FAULT_CONTINUE;
}

static enum idp_status parse_rate_limit(const json_t *rule, enum idp_fault_phase phase,
                                        struct idp_error *err)
{
    (void)phase;
    const json_t *limit = json_object_get(rule, "limit");
    if (!json_is_integer(limit) || json_integer_value(limit) < 0)
        return idp_fail(err, IDP_INVALID, "fault: rate_limit needs \"limit\", the requests allowed per window");
    return IDP_OK;
}

static enum idp_fault_outcome act_rate_limit(struct idp_server *server, struct idp_fault *f,
                                             struct idp_request *req, struct idp_response *resp)
{
    long limit = idp_fault_param_integer(f->params, "limit", 0);
    int64_t window = idp_fault_param_duration(f->params, "window", 60000);
    pthread_mutex_lock(&server->lock);
    if (req->now_ms - f->rate_window_start >= window || req->now_ms < f->rate_window_start) {
        f->rate_window_start = req->now_ms;
        f->rate_count = 0;
    }
    bool over = ++f->rate_count > limit;
    int64_t retry = f->rate_window_start + window - req->now_ms;
    pthread_mutex_unlock(&server->lock);
    if (!over)
        return IDP_FAULT_CONTINUE;
    idp_response_reset(resp);
    idp_response_code_error(resp, 429, "rate_limit_exceeded", "Too Many Requests");
    idp_response_header(resp, "Retry-After", "%lld", (long long)((retry + 999) / 1000));
    return IDP_FAULT_ANSWERED;
}

/* ---------------------------------------------------------------------- */
/* Tokens and JWKS                                                         */

/* The key that signs at now_ms (a new reference, or NULL), its kid into kid
 * when not NULL. */
static EVP_PKEY *signer_key(struct idp_server *server, int64_t now_ms, char kid[64])
{
    pthread_mutex_lock(&server->lock);
    const struct idp_key *signer = idp_keyset_signer(&server->keys, now_ms);
    EVP_PKEY *key = signer ? signer->pkey : NULL;
    if (key)
        EVP_PKEY_up_ref(key);
    if (kid)
        snprintf(kid, 64, "%s", signer ? signer->kid : "");
    pthread_mutex_unlock(&server->lock);
    return key;
}

/* A key never published, for tokens signed by a stranger (a new reference). */
static EVP_PKEY *stray_key(struct idp_server *server)
{
    pthread_mutex_lock(&server->lock);
    EVP_PKEY *key = server->faults.stray_key;
    if (key)
        EVP_PKEY_up_ref(key);
    pthread_mutex_unlock(&server->lock);
    if (key)
        return key;
    /* Generating a key takes 0.1-2 s: with a rotation key cache, the stray
     * key is cached there too, in a file of its own (never a rotation key,
     * so never published). */
    if (server->rotation_key_dir[0]) {
        char path[1100];
        snprintf(path, sizeof(path), "%s/stray-key.pem", server->rotation_key_dir);
        key = idp_pem_load_or_generate(path, NULL);
    } else {
        key = idp_rsa_generate(NULL);
    }
    if (!key)
        return NULL;
    pthread_mutex_lock(&server->lock);
    if (!server->faults.stray_key) {
        server->faults.stray_key = key;
        EVP_PKEY_up_ref(key);
    }
    pthread_mutex_unlock(&server->lock);
    return key;
}

static enum idp_status parse_token(const json_t *rule, enum idp_fault_phase phase,
                                   struct idp_error *err)
{
    (void)phase;
    return idp_forge_check(json_object_get(rule, "bloat"), err);
}

static enum idp_fault_outcome act_token(struct idp_server *server, struct idp_fault *f,
                                        struct idp_request *req, struct idp_response *resp)
{
    if (resp->status != 200 || !resp->body)
        return IDP_FAULT_CONTINUE;
    json_t *body = json_loadb(resp->body, resp->body_len, 0, NULL);
    const char *token = json_string_value(json_object_get(body, "access_token"));
    if (!token) {
        json_decref(body);
        return IDP_FAULT_CONTINUE;
    }
    EVP_PKEY *key = signer_key(server, req->now_ms, NULL);
    const char *sign = json_string_value(json_object_get(f->params, "sign"));
    EVP_PKEY *other = sign ? stray_key(server) : NULL;
    char *forged = idp_forge_token(token, f->params, key, other, req->now_ms, NULL);
    if (forged) {
        json_object_set_new(body, "access_token", json_string(forged));
        set_json_body(resp, body);
    }
    free(forged);
    EVP_PKEY_free(other);
    EVP_PKEY_free(key);
    json_decref(body);
    return IDP_FAULT_CONTINUE;
}

/* Appends count (at most 64) RSA keys nobody holds, random moduli. */
static void add_extra_keys(json_t *keys, struct idp_random *rng, long count)
{
    for (long i = 0; i < count && i < 64; i++) {
        unsigned char n[256];
        idp_random_bytes(rng, n, sizeof(n));
        n[0] |= 0x80;
        char *n64 = idp_base64url_encode(n, sizeof(n));
        char kid[64];
        snprintf(kid, sizeof(kid), "sso_oidc_key_pair_01EXTRAKEY%016ld", i);
        json_array_append_new(keys, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "alg", "RS256",
                                              "kty", "RSA", "use", "sig", "n", n64 ? n64 : "",
                                              "e", "AQAB", "kid", kid));
        free(n64);
    }
}

static enum idp_fault_outcome act_jwks(struct idp_server *server, struct idp_fault *f,
                                       struct idp_request *req, struct idp_response *resp)
{
    if (resp->status != 200 || !resp->body)
        return IDP_FAULT_CONTINUE;
    json_t *body = json_loadb(resp->body, resp->body_len, 0, NULL);
    json_t *keys = json_object_get(body, "keys");
    if (!json_is_array(keys)) {
        json_decref(body);
        return IDP_FAULT_CONTINUE;
    }
    const char *mode = json_string_value(json_object_get(f->params, "keys"));
    if (mode && strcmp(mode, "empty") == 0) {
        json_array_clear(keys);
    } else if (mode && strcmp(mode, "missing_active") == 0) {
        char kid[64];
        EVP_PKEY_free(signer_key(server, req->now_ms, kid));
        for (size_t i = json_array_size(keys); i-- > 0;)
            if (strcmp(json_string_value(json_object_get(json_array_get(keys, i), "kid")), kid) == 0)
                json_array_remove(keys, i);
    }
    add_extra_keys(keys, &f->rng, (long)json_integer_value(json_object_get(f->params, "extra")));
    set_json_body(resp, body);
    json_decref(body);
    const char *cache = json_string_value(json_object_get(f->params, "cache_control"));
    if (cache)
        idp_response_header(resp, "Cache-Control", "%s", cache);
    return IDP_FAULT_CONTINUE;
}

/* ---------------------------------------------------------------------- */
/* The table                                                               */

/* The order is the order of idp_fault_actions(); schema.json's action enum
 * must list the same names (test_schema). */
static const struct idp_fault_action actions[] = {
    {"status", IDP_FAULT_BEFORE, parse_status, act_status},
    {"latency", IDP_FAULT_BEFORE, NULL, idp_fault_latency},
    {"reset", IDP_FAULT_BEFORE, NULL, idp_fault_reset},
    {"close", IDP_FAULT_BEFORE, NULL, idp_fault_close},
    {"hang", IDP_FAULT_BEFORE, NULL, idp_fault_hang},
    {"garbage", IDP_FAULT_BEFORE, NULL, idp_fault_garbage},
    {"truncated", IDP_FAULT_AFTER, NULL, idp_fault_truncated},
    {"dribble", IDP_FAULT_AFTER, NULL, idp_fault_dribble},
    {"wrong_content_type", IDP_FAULT_AFTER, NULL, act_wrong_content_type},
    {"non_json", IDP_FAULT_AFTER, NULL, act_non_json},
    {"empty_200", IDP_FAULT_AFTER, NULL, act_empty_200},
    {"malformed_json", IDP_FAULT_AFTER, NULL, act_malformed_json},
    {"redirect", IDP_FAULT_AFTER, NULL, act_redirect},
    {"barrier", IDP_FAULT_BEFORE, idp_fault_barrier_parse, idp_fault_barrier},
    {"token", IDP_FAULT_AFTER, parse_token, act_token},
    {"jwks", IDP_FAULT_AFTER, NULL, act_jwks},
    {"revoke_session", IDP_FAULT_BEFORE, NULL, act_revoke_session},
    {"expire_refresh_token", IDP_FAULT_BEFORE, NULL, act_expire_refresh_token},
    {"refresh_mode", IDP_FAULT_BEFORE, parse_refresh_mode, act_refresh_mode},
    {"rate_limit", IDP_FAULT_BEFORE, parse_rate_limit, act_rate_limit},
};

#define ACTION_COUNT (sizeof(actions) / sizeof(actions[0]))

const struct idp_fault_action *idp_fault_action_find(const char *name, struct idp_error *err)
{
    const char *names[ACTION_COUNT + 1];
    for (size_t i = 0; i < ACTION_COUNT; i++) {
        if (strcmp(actions[i].name, name) == 0)
            return &actions[i];
        names[i] = actions[i].name;
    }
    names[ACTION_COUNT] = NULL;
    char hint[80];
    idp_did_you_mean(name, names, hint, sizeof(hint));
    idp_fail(err, IDP_INVALID, "fault: unknown action \"%s\"%s", name, hint);
    idp_error_within(err, "/action");
    return NULL;
}

json_t *idp_fault_actions(void)
{
    json_t *names = json_array();
    for (size_t i = 0; i < ACTION_COUNT; i++)
        json_array_append_new(names, json_string(actions[i].name));
    return names;
}
