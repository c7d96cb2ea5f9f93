/* The store's lifetime, lookups, codes, sessions and refresh tokens; what
 * the configuration puts in it is read by store_config.c, the one-time
 * tickets and the outbox are tickets.c. */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "random.h"

void idp_client_free(void *p)
{
    struct idp_client *c = p;
    json_decref(c->redirect_uris);
    json_decref(c->allowed_origins);
    json_decref(c->logout_uris);
    json_decref(c->claims);
    free(c);
}

void idp_user_free(void *p)
{
    struct idp_user *u = p;
    json_decref(u->object);
    json_decref(u->claims);
    json_decref(u->impersonator);
    for (size_t i = 0; i < u->membership_count; i++)
        json_decref(u->memberships[i].fields);
    free(u->memberships);
    free(u->password);
    free(u);
}

static void code_free(void *p)
{
    struct idp_code *c = p;
    free(c->redirect_uri);
    free(c);
}

static void reply_unlink(struct idp_store *store, struct idp_refresh *r);

static void refresh_free(void *p)
{
    struct idp_refresh *r = p;
    free(r->cached_body);
    free(r);
}

void idp_store_init(struct idp_store *store)
{
    memset(store, 0, sizeof(*store));
    idp_map_init(&store->clients);
    idp_map_init(&store->users);
    idp_map_init(&store->users_by_email);
    idp_map_init(&store->orgs);
    idp_map_init(&store->codes);
    idp_map_init(&store->sessions);
    idp_map_init(&store->refresh);
    idp_map_init(&store->tickets);
    store->outbox = json_array();
    store->api_keys = json_array();
    store->organizations = json_object();
}

void idp_store_forget_activity(struct idp_store *store)
{
    idp_map_cleanup(&store->codes, code_free);
    idp_map_cleanup(&store->refresh, refresh_free);
    idp_map_cleanup(&store->sessions, free);
    idp_map_cleanup(&store->tickets, free);
    json_array_clear(store->outbox);
    store->tickets_oldest = store->tickets_newest = NULL;
    store->codes_oldest = store->codes_newest = NULL;
    store->sessions_oldest = store->sessions_newest = NULL;
}

void idp_store_cleanup(struct idp_store *store)
{
    idp_store_forget_activity(store);
    idp_map_cleanup(&store->clients, idp_client_free);
    idp_map_cleanup(&store->users, idp_user_free);
    idp_map_cleanup(&store->users_by_email, NULL);
    idp_map_cleanup(&store->orgs, NULL);
    json_decref(store->api_keys);
    json_decref(store->organizations);
    json_decref(store->outbox);
}

/* --- lookups ------------------------------------------------------------ */

struct idp_client *idp_store_client(struct idp_store *store, const char *id)
{
    return id ? idp_map_get(&store->clients, id) : NULL;
}

bool idp_store_api_key_valid(const struct idp_store *store, const char *key)
{
    if (!key || !*key)
        return false;
    size_t i;
    json_t *item;
    json_array_foreach(store->api_keys, i, item) if (strcmp(json_string_value(item), key) == 0) return true;
    return false;
}

struct idp_user *idp_store_user(struct idp_store *store, const char *id)
{
    return id ? idp_map_get(&store->users, id) : NULL;
}

struct idp_user *idp_store_user_by_email(struct idp_store *store, const char *email)
{
    if (!email)
        return NULL;
    struct idp_user *u = idp_map_get(&store->users_by_email, email);
    if (u)
        return u;
    size_t bucket = 0;
    for (struct idp_map_entry *e = idp_map_next(&store->users_by_email, &bucket, NULL); e;
         e = idp_map_next(&store->users_by_email, &bucket, e))
        if (strcasecmp(e->key, email) == 0)
            return e->value;
    return NULL;
}

struct idp_user *idp_store_default_user(struct idp_store *store)
{
    return idp_store_user(store, store->default_user);
}

const struct idp_membership *idp_user_membership(const struct idp_user *user, const char *org_id)
{
    if (!user->membership_count)
        return NULL;
    if (!org_id || !*org_id)
        return &user->memberships[0];
    for (size_t i = 0; i < user->membership_count; i++)
        if (strcmp(user->memberships[i].org_id, org_id) == 0)
            return &user->memberships[i];
    return NULL;
}

bool idp_pattern_match(const char *pattern, const char *text)
{
    /* Iterative glob with backtracking to the last '*'. */
    const char *star = NULL, *resume = NULL;
    while (*text) {
        if (*pattern == '*') {
            star = pattern++;
            resume = text;
        } else if (*pattern == *text) {
            pattern++;
            text++;
        } else if (star) {
            pattern = star + 1;
            text = ++resume;
        } else {
            return false;
        }
    }
    while (*pattern == '*')
        pattern++;
    return *pattern == '\0';
}

/* A URL whose authority carries userinfo or a backslash
 * ("http://localhost:1@evil.example/") would match a pattern written for one
 * host ("http://localhost:*") while a browser goes to another. */
static bool deceptive_authority(const char *text)
{
    const char *p = strstr(text, "://");
    if (!p)
        return false;
    p += 3;
    size_t len = strcspn(p, "/?#");
    return memchr(p, '@', len) || memchr(p, '\\', len);
}

bool idp_patterns_match(const json_t *patterns, const char *text)
{
    if (!text || deceptive_authority(text))
        return false;
    size_t i;
    json_t *item;
    json_array_foreach(patterns, i, item) if (idp_pattern_match(json_string_value(item), text)) return true;
    return false;
}

/* --- codes ---------------------------------------------------------------- */

static void code_unlink(struct idp_store *store, struct idp_code *code)
{
    if (code->older)
        code->older->newer = code->newer;
    else
        store->codes_oldest = code->newer;
    if (code->newer)
        code->newer->older = code->older;
    else
        store->codes_newest = code->older;
}

void idp_store_code_delete(struct idp_store *store, struct idp_code *code)
{
    code_unlink(store, code);
    idp_map_remove(&store->codes, code->code);
    code_free(code);
}

struct idp_code *idp_store_code_new(struct idp_store *store, struct idp_random *rng,
                                    int64_t now_ms, int64_t ttl_ms)
{
    /* Expired codes and codes past the limit go first, oldest first. */
    while (store->codes_oldest &&
           (store->codes_oldest->expires_ms <= now_ms || store->codes.count >= IDP_MAX_CODES))
        idp_store_code_delete(store, store->codes_oldest);
    struct idp_code *code = calloc(1, sizeof(*code));
    if (!code)
        return NULL;
    idp_random_token(rng, code->code, 25);
    /* Held at the end of time: the largest code_ttl must not wrap around. */
    code->expires_ms = ttl_ms > INT64_MAX - now_ms ? INT64_MAX : now_ms + ttl_ms;
    code->auth_ms = now_ms;
    if (!idp_map_put(&store->codes, code->code, code)) {
        free(code);
        return NULL;
    }
    code->older = store->codes_newest;
    if (store->codes_newest)
        store->codes_newest->newer = code;
    else
        store->codes_oldest = code;
    store->codes_newest = code;
    return code;
}

struct idp_code *idp_store_code(struct idp_store *store, const char *code)
{
    return code ? idp_map_get(&store->codes, code) : NULL;
}

/* --- sessions and refresh tokens ---------------------------------------- */

static void session_delete(struct idp_store *store, struct idp_session *s)
{
    for (size_t i = 0; i < s->token_count; i++) {
        idp_map_remove(&store->refresh, s->tokens[i]->token);
        reply_unlink(store, s->tokens[i]);
        refresh_free(s->tokens[i]);
    }
    if (s->older)
        s->older->newer = s->newer;
    else
        store->sessions_oldest = s->newer;
    if (s->newer)
        s->newer->older = s->older;
    else
        store->sessions_newest = s->older;
    idp_map_remove(&store->sessions, s->id);
    free(s);
}

struct idp_session *idp_store_session_new(struct idp_store *store, struct idp_random *rng,
                                          int64_t now_ms, int64_t max_sessions)
{
    while (store->sessions_oldest && max_sessions > 0 &&
           (int64_t)store->sessions.count >= max_sessions)
        session_delete(store, store->sessions_oldest);
    struct idp_session *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    idp_random_ulid(rng, "session_", now_ms, s->id, sizeof(s->id));
    s->created_ms = s->auth_time_ms = s->last_activity_ms = now_ms;
    if (!idp_map_put(&store->sessions, s->id, s)) {
        free(s);
        return NULL;
    }
    s->older = store->sessions_newest;
    if (store->sessions_newest)
        store->sessions_newest->newer = s;
    else
        store->sessions_oldest = s;
    store->sessions_newest = s;
    return s;
}

struct idp_session *idp_store_session(struct idp_store *store, const char *id)
{
    return id ? idp_map_get(&store->sessions, id) : NULL;
}

void idp_store_session_end(struct idp_session *session, int64_t now_ms, const char *reason)
{
    if (session->ended_ms)
        return;
    session->ended_ms = now_ms ? now_ms : 1;
    snprintf(session->end_reason, sizeof(session->end_reason), "%s", reason);
}

json_t *idp_session_json(const struct idp_session *s)
{
    char created[32], activity[32], ended[32];
    idp_format_iso8601(s->created_ms, created);
    idp_format_iso8601(s->last_activity_ms, activity);
    idp_format_iso8601(s->ended_ms, ended);
    return json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s, s:s, s:s, s:s?, s:s?, s:i}",
                     "object", "session", "id", s->id, "user_id", s->user_id, "client_id",
                     s->client_id, "organization_id", s->org_id[0] ? s->org_id : NULL,
                     "status", s->ended_ms ? "inactive" : "active", "created_at", created,
                     "last_activity_at", activity, "ended_at", s->ended_ms ? ended : NULL,
                     "end_reason", s->ended_ms ? s->end_reason : NULL, "refresh_count",
                     (json_int_t)s->refresh_count);
}

json_t *idp_store_sessions_json(struct idp_store *store, const char *user_id)
{
    json_t *data = json_array();
    for (struct idp_session *s = store->sessions_newest; s; s = s->older)
        if (!user_id || strcmp(user_id, s->user_id) == 0)
            json_array_append_new(data, idp_session_json(s));
    return json_pack("{s:o}", "data", data);
}

struct idp_refresh *idp_store_refresh_new(struct idp_store *store, struct idp_session *session,
                                          struct idp_random *rng, int64_t now_ms)
{
    if (session->token_count == IDP_SESSION_TOKENS) {
        /* The oldest token is long spent: forget it (a replay is then simply
         * unknown, which gets the same invalid_grant). */
        struct idp_refresh *old = session->tokens[0];
        idp_map_remove(&store->refresh, old->token);
        reply_unlink(store, old);
        refresh_free(old);
        memmove(session->tokens, session->tokens + 1,
                (IDP_SESSION_TOKENS - 1) * sizeof(struct idp_refresh *));
        session->token_count--;
    }
    struct idp_refresh *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    idp_random_token(rng, r->token, 25);
    snprintf(r->session_id, sizeof(r->session_id), "%s", session->id);
    snprintf(r->org_id, sizeof(r->org_id), "%s", session->org_id);
    r->issued_ms = now_ms;
    r->state = IDP_RT_ACTIVE;
    if (!idp_map_put(&store->refresh, r->token, r)) {
        free(r);
        return NULL;
    }
    session->tokens[session->token_count++] = r;
    return r;
}

static void reply_unlink(struct idp_store *store, struct idp_refresh *r)
{
    if (r->reply_older)
        r->reply_older->reply_newer = r->reply_newer;
    else if (store->replies_oldest == r)
        store->replies_oldest = r->reply_newer;
    if (r->reply_newer)
        r->reply_newer->reply_older = r->reply_older;
    else if (store->replies_newest == r)
        store->replies_newest = r->reply_older;
    r->reply_older = r->reply_newer = NULL;
}

void idp_store_reply_set(struct idp_store *store, struct idp_refresh *r, char *body)
{
    reply_unlink(store, r);
    free(r->cached_body);
    r->cached_body = body;
    if (!body)
        return;
    r->reply_older = store->replies_newest;
    if (store->replies_newest)
        store->replies_newest->reply_newer = r;
    else
        store->replies_oldest = r;
    store->replies_newest = r;
}

void idp_store_forget_replies(struct idp_store *store, int64_t now_ms, int64_t grace_ms)
{
    /* Oldest first; a reply still in flight (not yet rotated) or inside its
     * grace ends the sweep (the next one goes on from there). */
    struct idp_refresh *r;
    while ((r = store->replies_oldest) && r->state == IDP_RT_ROTATED &&
           now_ms - r->rotated_ms > grace_ms) {
        reply_unlink(store, r);
        free(r->cached_body);
        r->cached_body = NULL;
    }
}

struct idp_refresh *idp_store_refresh(struct idp_store *store, const char *token)
{
    return token ? idp_map_get(&store->refresh, token) : NULL;
}
