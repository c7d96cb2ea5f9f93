/* The admin API under /_fakeidp/: the harness's (and a user's) remote
 * control of clock, settings, users, sessions, keys, faults and the journal.
 * One row per route in the table below. */
#include "admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "duration.h"
#include "server_internal.h"

typedef void admin_fn(struct idp_server *, struct idp_request *, struct idp_response *,
                      const char *arg);

static json_t *clock_json(struct idp_server *server)
{
    int64_t now = idp_clock_now_ms(server->clock);
    char iso[32];
    idp_format_iso8601(now, iso);
    return json_pack("{s:I, s:s, s:b}", "now_ms", (json_int_t)now, "now", iso, "frozen",
                     idp_clock_is_frozen(server->clock));
}

static bool duration_param(struct idp_request *req, const char *name, int64_t *out, bool *bad)
{
    json_t *v = json_object_get(req->params, name);
    if (!v)
        return false;
    /* A bare number is seconds, as in scenario and configuration files;
     * only a bare number may be negative here. */
    if (!(json_is_integer(v) ? idp_duration_json(v, true, out) : idp_duration_json(v, false, out)))
        *bad = true;
    return !*bad;
}

static void admin_health(struct idp_server *server, struct idp_request *req,
                         struct idp_response *resp, const char *arg)
{
    idp_response_json(resp, 200, json_pack("{s:s, s:s}", "status", "ok", "url", server->url));
}

static void admin_clock(struct idp_server *server, struct idp_request *req,
                        struct idp_response *resp, const char *arg)
{
    if (strcmp(req->method, "POST") == 0) {
        bool bad = false;
        int64_t ms;
        json_t *set = json_object_get(req->params, "set");
        json_t *freeze = json_object_get(req->params, "freeze");
        if (freeze && !json_is_boolean(freeze))
            bad = true;
        if (set && !json_is_integer(set))
            bad = true;
        /* Validate everything before changing anything: a rejected request
         * leaves the clock as it was. */
        bool advance = duration_param(req, "advance", &ms, &bad);
        /* The instant it leads to must stay in 1970..9999, where every expiry
         * sum and timestamp fits (INT64_MAX once wrapped the clock around). */
        if (!bad && (set || advance)) {
            int64_t target = set ? json_integer_value(set) : idp_clock_now_ms(server->clock);
            if (advance && ((ms > 0 && target > INT64_MAX - ms) || (ms < 0 && target < INT64_MIN - ms)))
                bad = true;
            else if (advance)
                target += ms;
            if (target < 0 || target > IDP_CLOCK_MAX_MS)
                bad = true;
        }
        if (!bad && !req->params_bad) {
            if (freeze)
                idp_clock_freeze(server->clock, json_is_true(freeze));
            if (set)
                idp_clock_set(server->clock, json_integer_value(set));
            if (advance)
                idp_clock_advance(server->clock, ms);
        }
        if (bad || req->params_bad) {
            idp_response_code_error(resp, 422, "invalid_request",
                                    "clock takes {\"advance\": \"5m\", \"set\": <epoch ms>, \"freeze\": true|false}");
            return;
        }
    }
    idp_response_json(resp, 200, clock_json(server));
}

static void admin_settings(struct idp_server *server, struct idp_request *req,
                           struct idp_response *resp, const char *arg)
{
    struct idp_error err;
    pthread_mutex_lock(&server->lock);
    enum idp_status status = IDP_OK;
    struct idp_settings before = server->settings;
    if (strcmp(req->method, "GET") != 0)
        status = req->params_bad ? idp_fail(&err, IDP_PARSE, "Problems parsing JSON")
                                 : idp_settings_apply(&server->settings, req->params, &err);
    /* journal_size applies at once: the ring keeps its newest entries. */
    if (!status && server->settings.journal_size != before.journal_size &&
        !idp_journal_resize(&server->journal, (size_t)server->settings.journal_size)) {
        server->settings = before;
        status = idp_fail(&err, IDP_NOMEM, "out of memory resizing the journal");
    }
    json_t *body = idp_settings_to_json(&server->settings);
    pthread_mutex_unlock(&server->lock);
    if (status) {
        json_decref(body);
        if (status == IDP_NOMEM)
            idp_response_code_error(resp, 500, "server_error", "%s", err.message);
        else
            idp_response_code_error(resp, 422, "invalid_setting", "%s", err.message);
        return;
    }
    idp_response_json(resp, 200, body);
}

static void admin_users(struct idp_server *server, struct idp_request *req,
                        struct idp_response *resp, const char *arg)
{
    struct idp_error err;
    pthread_mutex_lock(&server->lock);
    if (strcmp(req->method, "POST") == 0) {
        if (idp_store_add_user(&server->store, req->params, req->now_ms, &err)) {
            pthread_mutex_unlock(&server->lock);
            idp_response_code_error(resp, 422, "invalid_user", "%s", err.message);
            return;
        }
    }
    json_t *data = json_array();
    size_t bucket = 0;
    for (struct idp_map_entry *e = idp_map_next(&server->store.users, &bucket, NULL); e;
         e = idp_map_next(&server->store.users, &bucket, e))
        json_array_append(data, ((struct idp_user *)e->value)->object);
    pthread_mutex_unlock(&server->lock);
    idp_response_json(resp, 200, json_pack("{s:o}", "data", data));
}

static void admin_sign_in_as(struct idp_server *server, struct idp_request *req,
                             struct idp_response *resp, const char *arg)
{
    const char *email = idp_request_param(req, "email");
    pthread_mutex_lock(&server->lock);
    struct idp_user *user = idp_store_user_by_email(&server->store, email);
    if (user)
        snprintf(server->store.default_user, sizeof(server->store.default_user), "%s", user->id);
    pthread_mutex_unlock(&server->lock);
    if (!user) {
        idp_response_code_error(resp, 404, "entity_not_found", "No user with email '%s'.",
                                email ? email : "");
        return;
    }
    idp_response_json(resp, 200, json_pack("{s:s}", "default_user", email));
}

static void admin_sessions(struct idp_server *server, struct idp_request *req,
                           struct idp_response *resp, const char *arg)
{
    pthread_mutex_lock(&server->lock);
    if (arg[0]) {
        /* POST /_fakeidp/sessions/{id}/revoke */
        char id[IDP_ID_SIZE];
        snprintf(id, sizeof(id), "%.*s", (int)strcspn(arg, "/"), arg);
        struct idp_session *s = idp_store_session(&server->store, id);
        if (!s || strcmp(req->method, "POST") != 0) {
            pthread_mutex_unlock(&server->lock);
            idp_response_code_error(resp, 404, "not_found", "Session not found: '%s'.", id);
            return;
        }
        idp_store_session_end(s, req->now_ms, "revoked");
        json_t *body = idp_session_json(s);
        pthread_mutex_unlock(&server->lock);
        idp_response_json(resp, 200, body);
        return;
    }
    json_t *body = idp_store_sessions_json(&server->store, idp_request_param(req, "user_id"));
    pthread_mutex_unlock(&server->lock);
    idp_response_json(resp, 200, body);
}

static json_t *keys_json(struct idp_server *server, int64_t now)
{
    json_t *keys = json_array();
    const struct idp_key *signer = idp_keyset_signer(&server->keys, now);
    for (size_t i = 0; i < server->keys.count; i++) {
        const struct idp_key *k = &server->keys.keys[i];
        json_t *item = idp_key_jwk(k);
        json_object_set_new(item, "published", json_boolean(idp_key_published(k, now)));
        json_object_set_new(item, "signing", json_boolean(k == signer));
        if (k->publish_at_ms != IDP_TIME_ALWAYS)
            json_object_set_new(item, "publish_at_ms", json_integer(k->publish_at_ms));
        if (k->sign_from_ms != IDP_TIME_ALWAYS)
            json_object_set_new(item, "sign_from_ms", json_integer(k->sign_from_ms));
        if (k->retire_at_ms != IDP_TIME_NEVER)
            json_object_set_new(item, "retire_at_ms", json_integer(k->retire_at_ms));
        json_array_append_new(keys, item);
    }
    return json_pack("{s:o}", "keys", keys);
}

/* Rotates to a freshly generated key (idp_keyset_rotate says what lead_ms
 * and retire_after_ms mean). Lock NOT held. */
static enum idp_status rotate_keys(struct idp_server *server, int64_t lead_ms, int64_t retire_after_ms,
                                   struct idp_error *err)
{
    /* Pick the key outside the lock (generating one is slow); the snapshot
     * is only read for the kids already in use. */
    pthread_mutex_lock(&server->lock);
    struct idp_keyset snapshot = server->keys;
    pthread_mutex_unlock(&server->lock);
    EVP_PKEY *key = idp_rotation_key(server->rotation_key_dir, &snapshot, err);
    if (!key)
        return err ? err->status : IDP_CRYPTO;
    pthread_mutex_lock(&server->lock);
    enum idp_status status = idp_keyset_rotate(&server->keys, key,
                                               idp_clock_now_ms(server->clock), lead_ms,
                                               retire_after_ms, err);
    server->keys_version++;
    pthread_mutex_unlock(&server->lock);
    EVP_PKEY_free(key);
    return status;
}

static void admin_keys(struct idp_server *server, struct idp_request *req,
                       struct idp_response *resp, const char *arg)
{
    if (strcmp(arg, "rotate") == 0 && strcmp(req->method, "POST") == 0) {
        bool bad = false;
        int64_t lead = 0, retire = 0;
        duration_param(req, "publish_lead", &lead, &bad);
        duration_param(req, "retire_after", &retire, &bad);
        if (bad) {
            idp_response_code_error(resp, 422, "invalid_request",
                                    "rotate takes {\"publish_lead\": \"15m\", \"retire_after\": \"15m\"}");
            return;
        }
        struct idp_error err;
        if (rotate_keys(server, lead, retire, &err)) {
            idp_response_code_error(resp, 500, "server_error", "%s", err.message);
            return;
        }
    } else if (arg[0]) {
        idp_response_code_error(resp, 404, "not_found", "No admin route /_fakeidp/keys/%s.", arg);
        return;
    }
    pthread_mutex_lock(&server->lock);
    json_t *body = keys_json(server, idp_clock_now_ms(server->clock));
    pthread_mutex_unlock(&server->lock);
    idp_response_json(resp, 200, body);
}

static void admin_journal(struct idp_server *server, struct idp_request *req,
                          struct idp_response *resp, const char *arg)
{
    pthread_mutex_lock(&server->lock);
    if (strcmp(req->method, "DELETE") == 0)
        idp_journal_clear(&server->journal);
    const char *since = idp_request_param(req, "since");
    json_t *body = idp_journal_json(&server->journal, since ? strtoull(since, NULL, 10) : 0);
    pthread_mutex_unlock(&server->lock);
    idp_response_json(resp, 200, body);
}

static void admin_faults(struct idp_server *server, struct idp_request *req,
                         struct idp_response *resp, const char *arg)
{
    struct idp_error err;
    pthread_mutex_lock(&server->lock);
    if (strcmp(req->method, "POST") == 0) {
        char id[64];
        json_t *rules = json_object_get(req->params, "faults");
        enum idp_status status = req->params_bad ? idp_fail(&err, IDP_PARSE, "Problems parsing JSON")
                                                 : IDP_OK;
        json_t *added = json_array();
        if (!status && json_is_array(rules)) {
            size_t i;
            json_t *rule;
            json_array_foreach(rules, i, rule) {
                if ((status = idp_faults_add(&server->faults, rule, req->now_ms, id, sizeof(id), &err)))
                    break;
                json_array_append_new(added, json_string(id));
            }
        } else if (!status) {
            status = idp_faults_add(&server->faults, req->params, req->now_ms, id, sizeof(id), &err);
            if (!status)
                json_array_append_new(added, json_string(id));
        }
        if (status) {
            for (size_t i = 0; i < json_array_size(added); i++)
                idp_faults_remove(&server->faults, json_string_value(json_array_get(added, i)));
            pthread_mutex_unlock(&server->lock);
            json_decref(added);
            idp_response_code_error(resp, 422, "invalid_fault", "%s", err.message);
            return;
        }
        pthread_mutex_unlock(&server->lock);
        idp_response_json(resp, 201, json_pack("{s:o}", "added", added));
        return;
    }
    if (strcmp(req->method, "DELETE") == 0) {
        if (arg[0] && !idp_faults_remove(&server->faults, arg)) {
            pthread_mutex_unlock(&server->lock);
            idp_response_code_error(resp, 404, "not_found", "No fault '%s'.", arg);
            return;
        }
        if (!arg[0])
            idp_faults_clear(&server->faults);
    }
    json_t *body = idp_faults_json(&server->faults);
    pthread_mutex_unlock(&server->lock);
    idp_response_json(resp, 200, body);
}

static void admin_reset(struct idp_server *server, struct idp_request *req,
                        struct idp_response *resp, const char *arg)
{
    struct idp_error err;
    pthread_mutex_lock(&server->lock);
    enum idp_status status = idp_server_reset_locked(server, &err);
    pthread_mutex_unlock(&server->lock);
    if (status) {
        idp_response_code_error(resp, 500, "server_error", "%s", err.message);
        return;
    }
    idp_response_json(resp, 200, json_pack("{s:b}", "reset", 1));
}

/* The e-mails WorkOS would have sent (magic auth codes, email verification
 * codes, password resets, invitations), oldest first; DELETE empties it. */
static void admin_outbox(struct idp_server *server, struct idp_request *req,
                         struct idp_response *resp, const char *arg)
{
    (void)arg;
    const char *to = idp_request_param(req, "to");
    pthread_mutex_lock(&server->lock);
    if (strcmp(req->method, "DELETE") == 0)
        json_array_clear(server->store.outbox);
    json_t *data = json_array();
    size_t i;
    json_t *mail;
    json_array_foreach(server->store.outbox, i, mail) {
        const char *address = json_string_value(json_object_get(mail, "to"));
        if (!to || (address && strcasecmp(address, to) == 0))
            json_array_append_new(data, json_deep_copy(mail));
    }
    pthread_mutex_unlock(&server->lock);
    idp_response_json(resp, 200, json_pack("{s:o}", "data", data));
}

static const struct admin_route {
    const char *name; /* first segment after /_fakeidp/ */
    const char *methods;
    admin_fn *fn;
} admin_routes[] = {
    {"health", "GET", admin_health},
    {"clock", "GET POST", admin_clock},
    {"settings", "GET PATCH POST", admin_settings},
    {"users", "GET POST", admin_users},
    {"sign-in-as", "POST", admin_sign_in_as},
    {"sessions", "GET POST", admin_sessions},
    {"keys", "GET POST", admin_keys},
    {"journal", "GET DELETE", admin_journal},
    {"outbox", "GET DELETE", admin_outbox},
    {"faults", "GET POST DELETE", admin_faults},
    {"reset", "POST", admin_reset},
};

void idp_route_admin(struct idp_server *server, struct idp_request *req,
                     struct idp_response *resp)
{
    if (server->admin_token[0]) {
        const char *given = idp_request_bearer(req);
        if (!given)
            given = idp_request_header(req, "X-Fakeidp-Admin-Token");
        if (!given || strcmp(given, server->admin_token) != 0) {
            idp_response_code_error(resp, 401, "unauthorized",
                                    "The admin API needs the admin token (Authorization: Bearer …).");
            return;
        }
    }
    const char *rest = req->path_arg;
    size_t name_len = strcspn(rest, "/");
    const char *arg = rest[name_len] == '/' ? rest + name_len + 1 : "";
    for (size_t i = 0; i < sizeof(admin_routes) / sizeof(admin_routes[0]); i++) {
        const struct admin_route *r = &admin_routes[i];
        if (strlen(r->name) != name_len || strncmp(r->name, rest, name_len) != 0)
            continue;
        const char *m = strstr(r->methods, req->method);
        size_t mlen = strlen(req->method);
        if (!m || (m != r->methods && m[-1] != ' ') || (m[mlen] != ' ' && m[mlen] != '\0')) {
            char allow[64] = "";
            for (const char *p = r->methods; *p; p++)
                snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow), "%s",
                         *p == ' ' ? ", " : (char[]){*p, '\0'});
            idp_response_code_error(resp, 405, "method_not_allowed", "%s /_fakeidp/%s takes %s.",
                                    req->method, r->name, allow);
            idp_response_header(resp, "Allow", "%s", allow);
            return;
        }
        r->fn(server, req, resp, arg);
        return;
    }
    idp_response_code_error(resp, 404, "not_found",
                            "No admin route /_fakeidp/%s (see docs/admin-api.md).", rest);
}
