#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "defaults.h"
#include "random.h"

#define DEFAULT_API_KEY IDP_DEFAULT_API_KEY
#define DEFAULT_CLIENT IDP_DEFAULT_CLIENT_ID
#define DEFAULT_USER IDP_DEFAULT_USER_ID

static void client_free(void *p)
{
    struct idp_client *c = p;
    json_decref(c->redirect_uris);
    json_decref(c->allowed_origins);
    json_decref(c->logout_uris);
    json_decref(c->claims);
    free(c);
}

static void user_free(void *p)
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
    idp_map_cleanup(&store->clients, client_free);
    idp_map_cleanup(&store->users, user_free);
    idp_map_cleanup(&store->users_by_email, NULL);
    idp_map_cleanup(&store->orgs, NULL);
    json_decref(store->api_keys);
    json_decref(store->organizations);
    json_decref(store->outbox);
}

/* --- configuration ------------------------------------------------------ */

static enum idp_status check_keys(const json_t *obj, const char *const allowed[],
                                  const char *path, struct idp_error *err)
{
    if (!json_is_object(obj))
        return idp_fail(err, IDP_INVALID, "%s: expected an object", path);
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)obj, key, value) {
        bool known = false;
        for (int i = 0; allowed[i] && !known; i++)
            known = strcmp(allowed[i], key) == 0;
        if (!known)
            return idp_fail(err, IDP_INVALID, "%s: unknown key \"%s\"", path, key);
    }
    return IDP_OK;
}

static bool string_array(const json_t *value)
{
    if (!json_is_array(value))
        return false;
    size_t i;
    json_t *item;
    json_array_foreach(value, i, item) if (!json_is_string(item)) return false;
    return true;
}

/* Copies a string field into a fixed buffer; absent is fine (uses fallback). */
static enum idp_status copy_id(const json_t *obj, const char *key, const char *fallback,
                               char *out, size_t size, const char *path,
                               struct idp_error *err)
{
    const json_t *v = json_object_get(obj, key);
    if (!v) {
        snprintf(out, size, "%s", fallback ? fallback : "");
        return IDP_OK;
    }
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= size)
        return idp_fail(err, IDP_INVALID, "%s.%s: expected a non-empty string under %zu bytes",
                        path, key, size);
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return IDP_OK;
}

static json_t *array_or_default(const json_t *obj, const char *key, const char *const defaults[])
{
    json_t *v = json_object_get(obj, key);
    if (v)
        return json_deep_copy(v);
    json_t *arr = json_array();
    for (int i = 0; arr && defaults && defaults[i]; i++) {
        if (json_array_append_new(arr, json_string(defaults[i]))) {
            json_decref(arr); /* out of memory */
            return NULL;
        }
    }
    return arr;
}

static const char *const loopback_urls[] = {
    "http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*",
    "https://localhost:*", "https://127.0.0.1:*", "http://localhost/*", NULL};

static enum idp_status add_client(struct idp_store *store, const json_t *spec,
                                  const char *path, struct idp_error *err)
{
    static const char *const keys[] = {"id", "redirect_uris", "allowed_origins",
                                       "logout_uris", "claims", NULL};
    enum idp_status status = check_keys(spec, keys, path, err);
    if (status)
        return status;
    const char *const arrays[] = {"redirect_uris", "allowed_origins", "logout_uris", NULL};
    for (int i = 0; arrays[i]; i++) {
        const json_t *v = json_object_get(spec, arrays[i]);
        if (v && !string_array(v))
            return idp_fail(err, IDP_INVALID, "%s.%s: expected an array of strings", path,
                            arrays[i]);
    }
    const json_t *claims = json_object_get(spec, "claims");
    if (claims && !json_is_object(claims))
        return idp_fail(err, IDP_INVALID, "%s.claims: expected an object", path);
    struct idp_client *c = calloc(1, sizeof(*c));
    if (!c)
        return idp_fail(err, IDP_NOMEM, "out of memory");
    status = copy_id(spec, "id", DEFAULT_CLIENT, c->id, sizeof(c->id), path, err);
    if (status) {
        free(c);
        return status;
    }
    if (idp_map_get(&store->clients, c->id)) {
        status = idp_fail(err, IDP_INVALID, "%s.id: client %s is defined twice", path, c->id);
        free(c);
        return status;
    }
    c->redirect_uris = array_or_default(spec, "redirect_uris", loopback_urls);
    c->allowed_origins = array_or_default(spec, "allowed_origins", loopback_urls);
    c->logout_uris = json_object_get(spec, "logout_uris")
                         ? json_deep_copy(json_object_get(spec, "logout_uris"))
                         : json_deep_copy(c->redirect_uris);
    c->claims = claims ? json_deep_copy(claims) : json_object();
    if (!c->redirect_uris || !c->allowed_origins || !c->logout_uris || !c->claims ||
        !idp_map_put(&store->clients, c->id, c)) {
        client_free(c);
        return idp_fail(err, IDP_NOMEM, "out of memory");
    }
    if (!store->default_client[0])
        snprintf(store->default_client, sizeof(store->default_client), "%s", c->id);
    return IDP_OK;
}

static enum idp_status parse_membership(const json_t *spec, struct idp_membership *m,
                                        const char *path, struct idp_error *err)
{
    static const char *const keys[] = {"organization_id", "role", "roles", "permissions",
                                       "entitlements", "feature_flags", NULL};
    enum idp_status status = check_keys(spec, keys, path, err);
    if (status)
        return status;
    status = copy_id(spec, "organization_id", NULL, m->org_id, sizeof(m->org_id), path, err);
    if (status)
        return status;
    if (!m->org_id[0])
        return idp_fail(err, IDP_INVALID, "%s: organization_id is required", path);
    const json_t *role = json_object_get(spec, "role");
    if (role && !json_is_string(role))
        return idp_fail(err, IDP_INVALID, "%s.role: expected a string", path);
    const char *const arrays[] = {"roles", "permissions", "entitlements", "feature_flags", NULL};
    for (int i = 0; arrays[i]; i++) {
        const json_t *v = json_object_get(spec, arrays[i]);
        if (v && !string_array(v))
            return idp_fail(err, IDP_INVALID, "%s.%s: expected an array of strings", path,
                            arrays[i]);
    }
    m->fields = json_object();
    const char *r = role ? json_string_value(role) : "member";
    bool ok = json_object_set_new(m->fields, "role", json_string(r)) == 0;
    const json_t *roles = json_object_get(spec, "roles");
    ok = json_object_set_new(m->fields, "roles",
                             roles ? json_deep_copy(roles) : json_pack("[s]", r)) == 0 && ok;
    for (int i = 1; arrays[i]; i++) {
        const json_t *v = json_object_get(spec, arrays[i]);
        ok = json_object_set_new(m->fields, arrays[i], v ? json_deep_copy(v) : json_array()) == 0 &&
             ok;
    }
    if (!ok) {
        json_decref(m->fields);
        m->fields = NULL;
        return idp_fail(err, IDP_NOMEM, "out of memory");
    }
    return IDP_OK;
}

static json_t *user_object(const json_t *spec, const char *id, const char *email,
                           int64_t now_ms)
{
    char now[32];
    idp_format_iso8601(now_ms, now);
    const char *first = json_string_value(json_object_get(spec, "first_name"));
    const char *last = json_string_value(json_object_get(spec, "last_name"));
    json_t *obj = json_object();
    bool ok = obj != NULL;
    ok = json_object_set_new(obj, "object", json_string("user")) == 0 && ok;
    ok = json_object_set_new(obj, "id", json_string(id)) == 0 && ok;
    ok = json_object_set_new(obj, "email", json_string(email)) == 0 && ok;
    const json_t *verified = json_object_get(spec, "email_verified");
    ok = json_object_set_new(obj, "email_verified",
                             json_boolean(!verified || json_is_true(verified))) == 0 && ok;
    ok = json_object_set_new(obj, "first_name", first ? json_string(first) : json_null()) == 0 &&
         ok;
    ok = json_object_set_new(obj, "last_name", last ? json_string(last) : json_null()) == 0 && ok;
    if (first || last) {
        char name[512];
        snprintf(name, sizeof(name), "%s%s%s", first ? first : "", first && last ? " " : "",
                 last ? last : "");
        ok = json_object_set_new(obj, "name", json_string(name)) == 0 && ok;
    } else {
        ok = json_object_set_new(obj, "name", json_null()) == 0 && ok;
    }
    const char *const nullable[] = {"profile_picture_url", "locale", "external_id", NULL};
    for (int i = 0; nullable[i]; i++) {
        const json_t *v = json_object_get(spec, nullable[i]);
        ok = json_object_set_new(obj, nullable[i], v ? json_deep_copy(v) : json_null()) == 0 && ok;
    }
    ok = json_object_set_new(obj, "last_sign_in_at", json_null()) == 0 && ok;
    const json_t *metadata = json_object_get(spec, "metadata");
    ok = json_object_set_new(obj, "metadata",
                             metadata ? json_deep_copy(metadata) : json_object()) == 0 && ok;
    ok = json_object_set_new(obj, "created_at", json_string(now)) == 0 && ok;
    ok = json_object_set_new(obj, "updated_at", json_string(now)) == 0 && ok;
    if (!ok) { /* out of memory: no user rather than one missing fields */
        json_decref(obj);
        return NULL;
    }
    return obj;
}

enum idp_status idp_store_add_user(struct idp_store *store, const json_t *spec,
                                   int64_t now_ms, struct idp_error *err)
{
    static const char *const keys[] = {
        "id", "email", "first_name", "last_name", "email_verified", "profile_picture_url",
        "locale", "external_id", "metadata", "memberships", "claims", "impersonator",
        "authentication_method", "step_up", "password", NULL};
    char path[64];
    snprintf(path, sizeof(path), "users[%zu]", store->user_count);
    enum idp_status status = check_keys(spec, keys, path, err);
    if (status)
        return status;
    const char *email = json_string_value(json_object_get(spec, "email"));
    if (!email || !strchr(email, '@'))
        return idp_fail(err, IDP_INVALID, "%s.email: expected an email address", path);
    const char *const strings[] = {"first_name", "last_name", "authentication_method",
                                   "step_up", "password", NULL};
    for (int i = 0; strings[i]; i++) {
        const json_t *v = json_object_get(spec, strings[i]);
        if (v && !json_is_string(v))
            return idp_fail(err, IDP_INVALID, "%s.%s: expected a string", path, strings[i]);
    }
    const json_t *verified = json_object_get(spec, "email_verified");
    if (verified && !json_is_boolean(verified))
        return idp_fail(err, IDP_INVALID, "%s.email_verified: expected true or false", path);
    const json_t *metadata = json_object_get(spec, "metadata");
    if (metadata && !json_is_object(metadata))
        return idp_fail(err, IDP_INVALID, "%s.metadata: expected an object", path);
    const char *const nullable_strings[] = {"locale", "profile_picture_url", "external_id", NULL};
    for (int i = 0; nullable_strings[i]; i++) {
        const json_t *v = json_object_get(spec, nullable_strings[i]);
        if (v && !json_is_string(v) && !json_is_null(v))
            return idp_fail(err, IDP_INVALID, "%s.%s: expected a string or null", path,
                            nullable_strings[i]);
    }
    const json_t *claims = json_object_get(spec, "claims");
    const json_t *memberships = json_object_get(spec, "memberships");
    const json_t *impersonator = json_object_get(spec, "impersonator");
    if ((claims && !json_is_object(claims)) || (impersonator && !json_is_object(impersonator)))
        return idp_fail(err, IDP_INVALID, "%s: claims and impersonator must be objects", path);
    if (memberships && !json_is_array(memberships))
        return idp_fail(err, IDP_INVALID, "%s.memberships: expected an array", path);

    struct idp_user *u = calloc(1, sizeof(*u));
    if (!u)
        return idp_fail(err, IDP_NOMEM, "out of memory");
    char generated[IDP_ID_SIZE];
    snprintf(generated, sizeof(generated), "%s",
             store->user_count == 0 ? DEFAULT_USER : "");
    if (!generated[0]) {
        /* Derive a stable id from the email so configurations need not name one. */
        snprintf(generated, sizeof(generated), "user_01FAKE1DP%016llX",
                 (unsigned long long)idp_hash_text(IDP_HASH_START, email));
        for (char *p = generated + 5; *p; p++)
            if (*p == 'I' || *p == 'L' || *p == 'O' || *p == 'U')
                *p = 'X';
    }
    status = copy_id(spec, "id", generated, u->id, sizeof(u->id), path, err);
    if (status)
        goto fail;
    if (idp_map_get(&store->users, u->id) || idp_store_user_by_email(store, email)) {
        status = idp_fail(err, IDP_INVALID, "%s: user %s (%s) is defined twice", path, u->id, email);
        goto fail;
    }
    size_t count = memberships ? json_array_size(memberships) : 0;
    u->memberships = calloc(count ? count : 1, sizeof(*u->memberships));
    if (!u->memberships) {
        status = idp_fail(err, IDP_NOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < count; i++) {
        char mpath[128];
        snprintf(mpath, sizeof(mpath), "%s.memberships[%zu]", path, i);
        status = parse_membership(json_array_get(memberships, i), &u->memberships[i], mpath, err);
        if (status)
            goto fail;
        u->membership_count++;
        /* Stable ids derived from user and organization, as for users. */
        unsigned long long h = 1469598103934665603ULL;
        for (const char *p = u->id; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ULL;
        for (const char *p = u->memberships[i].org_id; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ULL;
        snprintf(u->memberships[i].id, sizeof(u->memberships[i].id), "om_01FAKE1DP%016llX", h);
        u->memberships[i].created_ms = now_ms;
        if (idp_user_membership(u, u->memberships[i].org_id) != &u->memberships[i]) {
            status = idp_fail(err, IDP_INVALID, "%s: a second membership in organization %s",
                              mpath, u->memberships[i].org_id);
            goto fail;
        }
        const char *org = u->memberships[i].org_id;
        if (!json_object_get(store->organizations, org) &&
            json_object_set_new(store->organizations, org,
                                json_pack("{s:s, s:s}", "id", org, "name", org))) {
            status = idp_fail(err, IDP_NOMEM, "out of memory");
            goto fail;
        }
    }
    const char *password = json_string_value(json_object_get(spec, "password"));
    if (password && !(u->password = strdup(password))) {
        status = idp_fail(err, IDP_NOMEM, "out of memory");
        goto fail;
    }
    u->object = user_object(spec, u->id, email, now_ms);
    u->claims = claims ? json_deep_copy(claims) : json_object();
    u->impersonator = impersonator ? json_deep_copy(impersonator) : NULL;
    if (!u->object || !u->claims || (impersonator && !u->impersonator)) {
        status = idp_fail(err, IDP_NOMEM, "out of memory");
        goto fail;
    }
    const char *method = json_string_value(json_object_get(spec, "authentication_method"));
    snprintf(u->authentication_method, sizeof(u->authentication_method), "%s",
             method ? method : "Password");
    const char *step_up = json_string_value(json_object_get(spec, "step_up"));
    snprintf(u->step_up, sizeof(u->step_up), "%s", step_up ? step_up : "");
    /* A configured step-up is the state a real user would be in: an email
     * not yet verified, or an organization that requires MFA. */
    if (step_up && strcmp(step_up, "email_verification_required") == 0 && !verified)
        json_object_set_new(u->object, "email_verified", json_false());
    u->mfa_required = step_up && strcmp(step_up, "mfa_enrollment") == 0;
    u->order = store->user_count;
    const char *stored_email = json_string_value(json_object_get(u->object, "email"));
    if (!idp_map_put(&store->users, u->id, u) ||
        !idp_map_put(&store->users_by_email, stored_email, u)) {
        idp_map_remove(&store->users, u->id);
        status = idp_fail(err, IDP_NOMEM, "out of memory");
        goto fail;
    }
    if (!store->default_user[0])
        snprintf(store->default_user, sizeof(store->default_user), "%s", u->id);
    store->user_count++;
    return IDP_OK;
fail:
    user_free(u);
    return status;
}

enum idp_status idp_store_configure(struct idp_store *store, const json_t *config,
                                    int64_t now_ms, struct idp_error *err)
{
    json_t *empty = NULL;
    if (!config)
        config = empty = json_object();
    enum idp_status status = IDP_OK;
    const char *section = NULL; /* the array item being read, for the error's pointer */
    size_t section_index = 0;
    const json_t *keys = json_object_get(config, "api_keys");
    if (keys && !string_array(keys)) {
        status = idp_fail(err, IDP_INVALID, "api_keys: expected an array of strings");
        idp_error_within(err, "/api_keys");
        goto out;
    }
    json_array_clear(store->api_keys);
    if (keys && json_array_size(keys) ? json_array_extend(store->api_keys, (json_t *)keys)
                                      : json_array_append_new(store->api_keys,
                                                              json_string(DEFAULT_API_KEY))) {
        status = idp_fail(err, IDP_NOMEM, "out of memory");
        goto out;
    }

    const json_t *orgs = json_object_get(config, "organizations");
    if (orgs && !json_is_array(orgs)) {
        status = idp_fail(err, IDP_INVALID, "organizations: expected an array");
        idp_error_within(err, "/organizations");
        goto out;
    }
    size_t i;
    json_t *item;
    json_array_foreach(orgs, i, item) {
        static const char *const org_keys[] = {"id", "name", NULL};
        section = "organizations";
        section_index = i;
        char path[48];
        snprintf(path, sizeof(path), "organizations[%zu]", i);
        status = check_keys(item, org_keys, path, err);
        if (status)
            goto out;
        const char *id = json_string_value(json_object_get(item, "id"));
        const json_t *name_value = json_object_get(item, "name");
        const char *name = json_string_value(name_value);
        if (!id || !*id) {
            status = idp_fail(err, IDP_INVALID, "%s.id: expected a string", path);
            goto out;
        }
        if (name_value && !name) {
            status = idp_fail(err, IDP_INVALID, "%s.name: expected a string", path);
            goto out;
        }
        if (json_object_get(store->organizations, id)) {
            status = idp_fail(err, IDP_INVALID, "%s.id: organization %s is defined twice", path, id);
            goto out;
        }
        if (json_object_set_new(store->organizations, id,
                                json_pack("{s:s, s:s}", "id", id, "name", name ? name : id))) {
            status = idp_fail(err, IDP_NOMEM, "out of memory");
            goto out;
        }
    }

    section = NULL;
    const json_t *clients = json_object_get(config, "clients");
    if (clients && !json_is_array(clients)) {
        status = idp_fail(err, IDP_INVALID, "clients: expected an array");
        idp_error_within(err, "/clients");
        goto out;
    }
    json_array_foreach(clients, i, item) {
        char path[48];
        snprintf(path, sizeof(path), "clients[%zu]", i);
        section = "clients";
        section_index = i;
        if ((status = add_client(store, item, path, err)))
            goto out;
    }
    section = NULL;
    if (!store->clients.count) {
        json_t *def = json_object();
        status = add_client(store, def, "clients[0]", err);
        json_decref(def);
        if (status)
            goto out;
    }

    const json_t *users = json_object_get(config, "users");
    if (users && !json_is_array(users)) {
        status = idp_fail(err, IDP_INVALID, "users: expected an array");
        idp_error_within(err, "/users");
        goto out;
    }
    json_array_foreach(users, i, item) {
        section = "users";
        section_index = i;
        if ((status = idp_store_add_user(store, item, now_ms, err)))
            goto out;
    }
    section = NULL;
    if (!store->users.count) {
        json_t *alice = json_pack("{s:s, s:s, s:s}", "email", IDP_DEFAULT_USER_EMAIL,
                                  "first_name", "Alice", "last_name", "Example");
        status = idp_store_add_user(store, alice, now_ms, err);
        json_decref(alice);
    }
out:
    if (status && section)
        idp_error_within(err, "/%s/%zu", section, section_index);
    json_decref(empty);
    return status;
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
