/* The configured part of the store: API keys, clients, organizations and
 * users (with their memberships) read from the configuration object
 * (docs/configuration.md), every error naming its path, and the zero-config
 * defaults for what it leaves out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "defaults.h"
#include "random.h"
#include "store.h"

#define DEFAULT_API_KEY IDP_DEFAULT_API_KEY
#define DEFAULT_CLIENT IDP_DEFAULT_CLIENT_ID
#define DEFAULT_USER IDP_DEFAULT_USER_ID

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
        idp_client_free(c);
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

/* A user's keys and their types, before anything is built. */
static enum idp_status check_user(const json_t *spec, const char *path, struct idp_error *err)
{
    static const char *const keys[] = {
        "id", "email", "first_name", "last_name", "email_verified", "profile_picture_url",
        "locale", "external_id", "metadata", "memberships", "claims", "impersonator",
        "authentication_method", "step_up", "password", NULL};
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
    return IDP_OK;
}

/* The id a user gets when the configuration names none: the default user's
 * for the first, then one derived from the email, stable across runs. */
static void user_default_id(const struct idp_store *store, const char *email,
                            char out[IDP_ID_SIZE])
{
    if (store->user_count == 0) {
        snprintf(out, IDP_ID_SIZE, "%s", DEFAULT_USER);
        return;
    }
    snprintf(out, IDP_ID_SIZE, "user_01FAKE1DP%016llX",
             (unsigned long long)idp_hash_text(IDP_HASH_START, email));
    for (char *p = out + 5; *p; p++)
        if (*p == 'I' || *p == 'L' || *p == 'O' || *p == 'U')
            *p = 'X';
}

/* The user's memberships, each with a stable id derived from user and
 * organization, its organization made known to the store. */
static enum idp_status add_memberships(struct idp_store *store, struct idp_user *u,
                                       const json_t *memberships, int64_t now_ms,
                                       const char *path, struct idp_error *err)
{
    size_t count = memberships ? json_array_size(memberships) : 0;
    u->memberships = calloc(count ? count : 1, sizeof(*u->memberships));
    if (!u->memberships)
        return idp_fail(err, IDP_NOMEM, "out of memory");
    for (size_t i = 0; i < count; i++) {
        struct idp_membership *m = &u->memberships[i];
        char mpath[128];
        snprintf(mpath, sizeof(mpath), "%s.memberships[%zu]", path, i);
        enum idp_status status = parse_membership(json_array_get(memberships, i), m, mpath, err);
        if (status)
            return status;
        u->membership_count++;
        snprintf(m->id, sizeof(m->id), "om_01FAKE1DP%016llX",
                 (unsigned long long)idp_hash_text(idp_hash_text(IDP_HASH_START, u->id),
                                                   m->org_id));
        m->created_ms = now_ms;
        if (idp_user_membership(u, m->org_id) != m)
            return idp_fail(err, IDP_INVALID, "%s: a second membership in organization %s",
                            mpath, m->org_id);
        if (!json_object_get(store->organizations, m->org_id) &&
            json_object_set_new(store->organizations, m->org_id,
                                json_pack("{s:s, s:s}", "id", m->org_id, "name", m->org_id)))
            return idp_fail(err, IDP_NOMEM, "out of memory");
    }
    return IDP_OK;
}

/* The user's fields besides id and memberships: password, the WorkOS user
 * object, claims, impersonator, authentication method and step-up. */
static enum idp_status fill_user(struct idp_user *u, const json_t *spec, const char *email,
                                 int64_t now_ms, struct idp_error *err)
{
    const char *password = json_string_value(json_object_get(spec, "password"));
    if (password && !(u->password = strdup(password)))
        return idp_fail(err, IDP_NOMEM, "out of memory");
    const json_t *claims = json_object_get(spec, "claims");
    const json_t *impersonator = json_object_get(spec, "impersonator");
    u->object = user_object(spec, u->id, email, now_ms);
    u->claims = claims ? json_deep_copy(claims) : json_object();
    u->impersonator = impersonator ? json_deep_copy(impersonator) : NULL;
    if (!u->object || !u->claims || (impersonator && !u->impersonator))
        return idp_fail(err, IDP_NOMEM, "out of memory");
    const char *method = json_string_value(json_object_get(spec, "authentication_method"));
    snprintf(u->authentication_method, sizeof(u->authentication_method), "%s",
             method ? method : "Password");
    const char *step_up = json_string_value(json_object_get(spec, "step_up"));
    snprintf(u->step_up, sizeof(u->step_up), "%s", step_up ? step_up : "");
    /* A configured step-up is the state a real user would be in: an email
     * not yet verified, or an organization that requires MFA. */
    if (step_up && strcmp(step_up, "email_verification_required") == 0 &&
        !json_object_get(spec, "email_verified"))
        json_object_set_new(u->object, "email_verified", json_false());
    u->mfa_required = step_up && strcmp(step_up, "mfa_enrollment") == 0;
    return IDP_OK;
}

enum idp_status idp_store_add_user(struct idp_store *store, const json_t *spec,
                                   int64_t now_ms, struct idp_error *err)
{
    char path[64];
    snprintf(path, sizeof(path), "users[%zu]", store->user_count);
    enum idp_status status = check_user(spec, path, err);
    if (status)
        return status;
    const char *email = json_string_value(json_object_get(spec, "email"));
    struct idp_user *u = calloc(1, sizeof(*u));
    if (!u)
        return idp_fail(err, IDP_NOMEM, "out of memory");
    char generated[IDP_ID_SIZE];
    user_default_id(store, email, generated);
    status = copy_id(spec, "id", generated, u->id, sizeof(u->id), path, err);
    if (status)
        goto fail;
    if (idp_map_get(&store->users, u->id) || idp_store_user_by_email(store, email)) {
        status = idp_fail(err, IDP_INVALID, "%s: user %s (%s) is defined twice", path, u->id, email);
        goto fail;
    }
    status = add_memberships(store, u, json_object_get(spec, "memberships"), now_ms, path, err);
    if (!status)
        status = fill_user(u, spec, email, now_ms, err);
    if (status)
        goto fail;
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
    idp_user_free(u);
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
