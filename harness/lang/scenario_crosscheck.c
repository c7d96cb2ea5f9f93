/* The cross-checks of a merged variant, after each section passed on its
 * own: the users steps sign in as exist at the fake, the locations and
 * instances steps name reach an app of the variant's world, hosts are
 * served by one app, clients are ones fakeidp has, and every backend a step
 * or expectation names is declared and served. Every error is recorded
 * (lint reports them all); nothing is returned. */
#include "scenario_internal.h"

#include <stdio.h>
#include <string.h>

#include <strings.h>

#include "backend.h"
#include "defaults.h"
#include "url.h"
#include "world.h"

/* Whether users (the idp section's, or the zero-config default) has email. */
static bool user_known(const json_t *users, const char *email)
{
    if (!users)
        return strcasecmp(email, IDP_DEFAULT_USER_EMAIL) == 0;
    size_t i;
    json_t *u;
    json_array_foreach(users, i, u) {
        const char *e = json_string_value(json_object_get(u, "email"));
        if (e && strcasecmp(e, email) == 0)
            return true;
    }
    return false;
}

/* A check of one step (its JSON pointer in path) of variant doc. */
typedef void step_check(struct hx_check *check, const json_t *doc, const json_t *step,
                        const char *path);

/* Runs check on every step of steps, inside parallel and repeat too. */
static void each_step(struct hx_check *check, const json_t *doc, const json_t *steps,
                      const char *path, step_check *check_one)
{
    size_t i;
    json_t *step;
    json_array_foreach(steps, i, step) {
        char child[400];
        snprintf(child, sizeof(child), "%s/%zu", path, i);
        check_one(check, doc, step, child);
        snprintf(child, sizeof(child), "%s/%zu/parallel", path, i);
        each_step(check, doc, json_object_get(step, "parallel"), child, check_one);
        snprintf(child, sizeof(child), "%s/%zu/repeat/steps", path, i);
        each_step(check, doc, json_object_get(json_object_get(step, "repeat"), "steps"), child,
                  check_one);
    }
}

/* A sign_in / spa_sign_in email names a configured user. */
static void check_step_users(struct hx_check *check, const json_t *doc, const json_t *step,
                             const char *path)
{
    const json_t *users = json_object_get(json_object_get(doc, "idp"), "users");
    static const char *const kinds[] = {"sign_in", "spa_sign_in", NULL};
    for (int k = 0; kinds[k]; k++) {
        char child[500];
        const json_t *v = json_object_get(step, kinds[k]);
        const char *email = json_string_value(json_is_object(v) ? json_object_get(v, "user") : v);
        snprintf(child, sizeof(child), "%s/%s%s", path, kinds[k], json_is_object(v) ? "/user" : "");
        const char *method = json_string_value(json_object_get(v, "method"));
        bool signs_up = method && strcmp(method, "magic_auth") == 0; /* makes unknown users */
        if (email && !signs_up && !user_known(users, email))
            hx_check_fail(check, child, false,
                          "%s: the fake has no user %s (users: %s)", kinds[k], email,
                          users ? "idp.users" : "only " IDP_DEFAULT_USER_EMAIL
                                                " without idp.users");
    }
}

void hx_crosscheck_users(struct hx_check *check, const json_t *doc, const char *steps_path)
{
    each_step(check, doc, json_object_get(doc, "steps"), steps_path, check_step_users);
}

/* The instances of the app a location reaches (0: no such app). */
static int instances_at(const json_t *doc, const char *where)
{
    const json_t *apps = json_object_get(doc, "apps");
    const json_t *entry = NULL;
    if (!apps) {
        entry = json_object_get(doc, "target");
    } else if (where[0] == '/') {
        const char *first;
        json_t *e;
        json_object_foreach((json_t *)apps, first, e) {
            entry = e;
            break;
        }
    } else if (strstr(where, "://")) {
        struct hx_url url;
        const char *name;
        json_t *e;
        if (hx_url_parse(where, &url))
            json_object_foreach((json_t *)apps, name, e) {
                size_t i;
                json_t *h;
                json_array_foreach(json_object_get(e, "hosts"), i, h)
                    if (json_is_string(h) && strcmp(json_string_value(h), url.host) == 0)
                        entry = e;
            }
    } else {
        char name[64];
        snprintf(name, sizeof(name), "%.*s", (int)strcspn(where, "/"), where);
        entry = json_object_get(apps, name);
    }
    if (!entry)
        return 0;
    const json_t *n = json_object_get(entry, "instances");
    if (!n)
        n = json_object_get(json_object_get(doc, "target"), "instances");
    return json_is_array(n) ? (int)json_array_size(n) : n ? (int)json_integer_value(n) : 1;
}

/* The location a step names reaches an app of this variant's world, and
 * the instance it names exists. */
static void check_location(struct hx_check *check, const json_t *doc, const json_t *step,
                           const char *path)
{
    const json_t *apps = json_object_get(doc, "apps");
    const char *idp_host = json_string_value(
        json_object_get(json_object_get(doc, "browser"), "idp_host"));
    char child[500];
    static const char *const kinds[] = {"load", "reload", "api", "at", NULL};
    const char *where = NULL;
    for (int k = 0; kinds[k]; k++)
        if (json_is_string(json_object_get(step, kinds[k]))) {
            where = json_string_value(json_object_get(step, kinds[k]));
            snprintf(child, sizeof(child), "%s/%s", path, kinds[k]);
        }
    static const char *const with_path[] = {"navigate", "form_post", NULL};
    for (int k = 0; with_path[k]; k++)
        if (json_is_string(json_object_get(json_object_get(step, with_path[k]), "path"))) {
            where = json_string_value(json_object_get(json_object_get(step, with_path[k]), "path"));
            snprintf(child, sizeof(child), "%s/%s/path", path, with_path[k]);
        }
    if (where && where[0] != '/') {
        bool url = strstr(where, "://") != NULL;
        struct hx_url parsed;
        if (!apps)
            hx_check_fail(check, child, false,
                          "%s: %s address named apps: declare them in \"apps\"", where,
                          url ? "URLs" : "app names");
        else if (!instances_at(doc, where) &&
                 !(url && hx_url_parse(where, &parsed) && idp_host &&
                   strcmp(parsed.host, idp_host) == 0))
            hx_check_fail(check, child, false, url ? "%s: no app serves this host"
                                                   : "%s: no such app in \"apps\"", where);
    }
    const json_t *instance = json_object_get(step, "instance");
    if (instance) {
        int n = instances_at(doc, where ? where : "/");
        snprintf(child, sizeof(child), "%s/instance", path);
        if (n && json_integer_value(instance) > n)
            hx_check_fail(check, child, false, "instance %lld: the app has %d instance%s",
                          (long long)json_integer_value(instance), n, n == 1 ? "" : "s");
    }
}

/* Cross-checks of a variant's world: locations and instances, host names
 * served by one app only, client ids fakeidp knows. */
void hx_crosscheck_world(struct hx_check *check, const json_t *doc, const char *steps_path,
                        const char *variant)
{
    each_step(check, doc, json_object_get(doc, "steps"), steps_path, check_location);
    const json_t *apps = json_object_get(doc, "apps");
    const json_t *clients = json_object_get(json_object_get(doc, "idp"), "clients");
    char where[300];
    snprintf(where, sizeof(where), "%s%s", variant ? "/variants/" : "", variant ? variant : "");
    const char *name;
    json_t *entry;
    json_t *seen = json_object();
    json_object_foreach((json_t *)apps, name, entry) {
        char child[400];
        if (!json_object_get(entry, "hosts")) {
            snprintf(child, sizeof(child), "%s/apps/%s", where, name);
            hx_check_fail(check, child, true, "app %s has no \"hosts\"", name);
        }
        size_t i;
        json_t *h;
        json_array_foreach(json_object_get(entry, "hosts"), i, h) {
            const char *host = json_string_value(h);
            const char *other = json_string_value(json_object_get(seen, host ? host : ""));
            snprintf(child, sizeof(child), "/apps/%s/hosts/%zu", name, i);
            if (host && other)
                hx_check_fail(check, child, false, "host %s is served by apps %s and %s", host,
                              other, name);
            else if (host)
                json_object_set_new(seen, host, json_string(name));
        }
    }
    json_decref(seen);
    /* A client an app names must be one fakeidp has. */
    const char *ids[HX_WORLD_MAX_APPS + 1] = {NULL};
    char paths[HX_WORLD_MAX_APPS + 1][300];
    int n = 0;
    const char *target_id = json_string_value(json_object_get(json_object_get(doc, "target"), "client_id"));
    const char *app = json_string_value(json_object_get(json_object_get(doc, "target"), "app"));
    if (target_id && !(app && strcmp(app, "external") == 0)) {
        ids[n] = target_id;
        snprintf(paths[n++], sizeof(paths[0]), "/target/client_id");
    }
    json_object_foreach((json_t *)apps, name, entry) {
        const char *id = json_string_value(json_object_get(entry, "client_id"));
        if (id && n < HX_WORLD_MAX_APPS + 1) {
            ids[n] = id;
            snprintf(paths[n++], sizeof(paths[0]), "/apps/%s/client_id", name);
        }
    }
    for (int k = 0; clients && k < n; k++) {
        bool known = false;
        size_t i;
        json_t *c;
        json_array_foreach(clients, i, c) {
            const char *cid = json_string_value(json_object_get(c, "id"));
            known = known || (cid && strcmp(cid, ids[k]) == 0);
        }
        if (!known)
            hx_check_fail(check, paths[k], false, "client %s is not one of idp.clients", ids[k]);
    }
    const char *named = json_string_value(json_object_get(json_object_get(json_object_get(doc, "expect"), "app"), "app"));
    if (named && !json_object_get(apps, named)) {
        char child[400];
        snprintf(child, sizeof(child), "%s/expect/app/app", where);
        hx_check_fail(check, child, false, "expect app: no app named \"%s\" in \"apps\"", named);
    }
    if (apps && app && strcmp(app, "reference") != 0) {
        char child[400];
        snprintf(child, sizeof(child), "/target/app");
        hx_check_fail(check, child, false,
                      "apps are reference apps: a target \"%s\" cannot have \"apps\"", app);
    }
}

/* The backends a variant declares, as a NULL-terminated list for "did you
 * mean" (at most HX_MAX_BACKENDS, as lint allows). */
static void backend_names(const json_t *doc, const char *names[HX_MAX_BACKENDS + 1])
{
    int n = 0;
    const char *name;
    json_t *entry;
    json_object_foreach(json_object_get(doc, "backends"), name, entry) if (n < HX_MAX_BACKENDS)
        names[n++] = name;
    names[n] = NULL;
}

static void unknown_backend(struct hx_check *check, const json_t *doc, const char *path,
                            const char *name)
{
    const char *names[HX_MAX_BACKENDS + 1];
    backend_names(doc, names);
    if (!names[0])
        hx_check_fail(check, path, false, "backend %s: the scenario declares no \"backends\"", name);
    else
        hx_check_unknown(check, path, "backend", "backends", name, names);
}

/* Every backend an expect object names (its "backend" keys) is declared. */
static void check_expect_backends(struct hx_check *check, const json_t *doc, const json_t *expect,
                                  const char *path)
{
    const char *name;
    json_t *spec;
    json_object_foreach(json_object_get(expect, "backend"), name, spec) {
        char child[400];
        snprintf(child, sizeof(child), "%s/backend/%s", path, name);
        if (!json_object_get(json_object_get(doc, "backends"), name))
            unknown_backend(check, doc, child, name);
    }
}

/* The backend a step or an expect step names is declared. */
static void check_step_backends(struct hx_check *check, const json_t *doc, const json_t *step,
                                const char *path)
{
    char child[500];
    const char *name = json_string_value(json_object_get(step, "backend"));
    snprintf(child, sizeof(child), "%s/backend", path);
    if (name && !json_object_get(json_object_get(doc, "backends"), name))
        unknown_backend(check, doc, child, name);
    snprintf(child, sizeof(child), "%s/expect", path);
    check_expect_backends(check, doc, json_object_get(step, "expect"), child);
}

/* Cross-checks of a variant's backends: each is served by a reference app
 * it names (or the target), its name is not an app's, and every step and
 * expectation names a declared one. own is the variant's own section (NULL
 * for the base or a file without variants): errors point into it where it
 * says the thing. */
void hx_crosscheck_backends(struct hx_check *check, const json_t *doc, const json_t *own,
                               const char *variant)
{
    char base[300], at[400];
    snprintf(base, sizeof(base), "%s%s", variant ? "/variants/" : "", variant ? variant : "");
    const json_t *backends = json_object_get(doc, "backends");
    const json_t *apps = json_object_get(doc, "apps");
    const char *app = json_string_value(json_object_get(json_object_get(doc, "target"), "app"));
    if (backends && app && strcmp(app, "external") == 0) {
        snprintf(at, sizeof(at), "%s/backends", json_object_get(own, "backends") ? base : "");
        hx_check_fail(check, at, true, "backends are served by the reference app: a target "
                                       "\"external\" cannot have \"backends\"");
        return;
    }
    const char *name;
    json_t *entry;
    json_object_foreach((json_t *)backends, name, entry) {
        const json_t *mine = json_object_get(json_object_get(own, "backends"), name);
        const char *served_by = json_string_value(json_object_get(entry, "app"));
        snprintf(at, sizeof(at), "%s/backends/%s/app",
                 json_object_get(mine, "app") ? base : "", name);
        if (served_by && !apps)
            hx_check_fail(check, at, false,
                          "backend %s: app \"%s\": the scenario has no \"apps\" (without apps "
                          "a backend receives the target's tokens: leave app out)", name, served_by);
        else if (served_by && !json_object_get(apps, served_by))
            hx_check_fail(check, at, false, "backend %s: no app named \"%s\" in \"apps\"", name,
                          served_by);
        snprintf(at, sizeof(at), "%s/backends/%s", mine ? base : "", name);
        if (json_object_get(apps, name))
            hx_check_fail(check, at, true, "backend %s: an app has this name (the timeline "
                                           "would mix them up)", name);
    }
    snprintf(at, sizeof(at), "%s/steps", json_object_get(own, "steps") ? base : "");
    each_step(check, doc, json_object_get(doc, "steps"), at, check_step_backends);
    snprintf(at, sizeof(at), "%s/expect", json_object_get(own, "expect") ? base : "");
    check_expect_backends(check, doc, json_object_get(doc, "expect"), at);
}
