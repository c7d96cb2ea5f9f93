#include "scenario.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <strings.h>

#include "backend.h"
#include "browser.h"
#include "defaults.h"
#include "duration.h"
#include "expect.h"
#include "external.h"
#include "faults.h"
#include "refapp.h"
#include "settings.h"
#include "spa.h"
#include "steps.h"
#include "store.h"
#include "url.h"
#include "world.h"

static bool string_array(const json_t *v)
{
    if (!json_is_array(v))
        return false;
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item) if (!json_is_string(item)) return false;
    return true;
}

/* The idp section is a fakeidp configuration: it is checked by the same code
 * that loads one, on scratch state. */
static enum idp_status check_idp(struct hx_check *check, const json_t *idp, const char *path)
{
    static const char *const keys[] = {"settings", "api_keys", "clients", "organizations",
                                       "users", "faults", NULL};
    enum idp_status st = hx_check_keys(check, idp, path, keys, "idp");
    if (st)
        return st;
    char child[256];
    const json_t *settings = json_object_get(idp, "settings");
    if (settings) {
        struct idp_settings s;
        idp_settings_defaults(&s);
        struct idp_error e;
        if (idp_settings_apply(&s, settings, &e)) {
            snprintf(child, sizeof(child), "%s/settings", path);
            return hx_check_error(check, child, &e);
        }
    }
    const json_t *faults = json_object_get(idp, "faults");
    if (faults) {
        if (!json_is_array(faults)) {
            snprintf(child, sizeof(child), "%s/faults", path);
            return hx_check_fail(check, child, false, "faults must be an array of rules");
        }
        struct idp_faults scratch;
        idp_faults_init(&scratch);
        size_t i;
        json_t *rule;
        json_array_foreach(faults, i, rule) {
            struct idp_error e;
            if (idp_faults_add(&scratch, rule, 0, NULL, 0, &e)) {
                idp_faults_cleanup(&scratch);
                snprintf(child, sizeof(child), "%s/faults/%zu", path, i);
                return hx_check_error(check, child, &e);
            }
        }
        idp_faults_cleanup(&scratch);
    }
    struct idp_store store;
    idp_store_init(&store);
    struct idp_error e;
    json_t *config = json_deep_copy(idp);
    json_object_del(config, "settings");
    json_object_del(config, "faults");
    st = idp_store_configure(&store, config, 0, &e);
    json_decref(config);
    idp_store_cleanup(&store);
    if (st)
        return hx_check_error(check, path, &e);
    return IDP_OK;
}

/* Target keys the runner reads itself; the rest are reference-app knobs. */
static const char *const runner_target_keys[] = {"app", "providers", "convex_adapter", "url",
                                                 "idp_url", "admin_token", "start",
                                                 "protected_path", "login_path", "signed_in_text",
                                                 "spa", "client_id", "api_key", "freeze_clock",
                                                 "signed_in_field", NULL};

json_t *hx_target_knobs(const json_t *target)
{
    json_t *knobs = target ? json_deep_copy(target) : json_object();
    for (int k = 0; runner_target_keys[k]; k++)
        json_object_del(knobs, runner_target_keys[k]);
    return knobs;
}

static enum idp_status check_target(struct hx_check *check, const json_t *target, const char *path)
{
    if (!json_is_object(target))
        return hx_check_fail(check, path, false, "target must be an object");
    const char *app = json_string_value(json_object_get(target, "app"));
    char child[256];
    if (json_object_get(target, "app") && (!app || (strcmp(app, "reference") != 0 &&
                                                   strcmp(app, "spa") != 0 &&
                                                   strcmp(app, "external") != 0))) {
        snprintf(child, sizeof(child), "%s/app", path);
        return hx_check_fail(check, child, false,
                             "target app must be \"reference\", \"spa\" or \"external\"");
    }
    const char *const strings[] = {"signed_in_text", "signed_in_field", "login_path",
                                   "protected_path", "client_id", "api_key", "url", "idp_url",
                                   "admin_token", NULL};
    for (int i = 0; strings[i]; i++) {
        const json_t *v = json_object_get(target, strings[i]);
        if (v && !json_is_string(v)) {
            snprintf(child, sizeof(child), "%s/%s", path, strings[i]);
            return hx_check_fail(check, child, false, "%s is a string", strings[i]);
        }
    }
    const char *adapter = json_string_value(json_object_get(target, "convex_adapter"));
    if (json_object_get(target, "convex_adapter") &&
        (!adapter || (strcmp(adapter, "get_access_token") != 0 && strcmp(adapter, "static_token") != 0))) {
        snprintf(child, sizeof(child), "%s/convex_adapter", path);
        return hx_check_fail(check, child, false,
                             "convex_adapter must be \"get_access_token\" or \"static_token\"");
    }
    const json_t *providers = json_object_get(target, "providers");
    size_t i;
    json_t *p;
    if (providers && !json_is_array(providers)) {
        snprintf(child, sizeof(child), "%s/providers", path);
        return hx_check_fail(check, child, false, "providers must be an array");
    }
    json_array_foreach(providers, i, p) {
        static const char *const keys[] = {"issuer", "application_id", NULL};
        snprintf(child, sizeof(child), "%s/providers/%zu", path, i);
        enum idp_status st = hx_check_keys(check, p, child, keys, "a Convex provider");
        if (st)
            return st;
        if (!json_is_string(json_object_get(p, "issuer")))
            return hx_check_fail(check, child, false, "a provider needs an \"issuer\" string");
    }
    const json_t *spa = json_object_get(target, "spa");
    if (spa) {
        struct hx_spa_knobs scratch;
        hx_spa_knobs_defaults(&scratch);
        struct idp_error e;
        const char *bad = NULL;
        if (hx_spa_knobs_apply(&scratch, spa, &bad, &e)) {
            snprintf(child, sizeof(child), "%s/spa", path);
            return hx_check_error(check, child, &e);
        }
    }
    if (app && strcmp(app, "external") == 0) {
        if (!json_is_string(json_object_get(target, "url")))
            return hx_check_fail(check, path, false, "an external target needs \"url\"");
        const json_t *start = json_object_get(target, "start");
        struct idp_error e;
        if (start && hx_external_validate(start, &e)) {
            snprintf(child, sizeof(child), "%s/start", path);
            return hx_check_fail(check, child, false, "%s", e.message);
        }
        const json_t *freeze = json_object_get(target, "freeze_clock");
        if (freeze && !json_is_boolean(freeze)) {
            snprintf(child, sizeof(child), "%s/freeze_clock", path);
            return hx_check_fail(check, child, false, "freeze_clock is true or false");
        }
        return IDP_OK;
    }
    json_t *knobs = hx_target_knobs(target);
    struct hx_app_knobs scratch;
    hx_app_knobs_defaults(&scratch);
    struct idp_error e;
    const char *bad = NULL;
    enum idp_status st = hx_app_knobs_apply(&scratch, knobs, &bad, &e);
    if (st)
        st = hx_check_error(check, path, &e);
    json_decref(knobs);
    return st;
}

static enum idp_status check_browser(struct hx_check *check, const json_t *browser, const char *path)
{
    struct hx_browser_knobs scratch;
    hx_browser_knobs_defaults(&scratch);
    struct idp_error e;
    const char *bad = NULL;
    return hx_browser_knobs_apply(&scratch, browser, &bad, &e) ? hx_check_error(check, path, &e)
                                                                : IDP_OK;
}

/* "apps": named apps, each with hosts, a client, pieces and knobs. */
static enum idp_status check_apps(struct hx_check *check, const json_t *apps, const char *path)
{
    if (!json_is_object(apps) || !json_object_size(apps) ||
        json_object_size(apps) > HX_WORLD_MAX_APPS)
        return hx_check_fail(check, path, false,
                             "apps is an object of 1 to %d named apps ({\"prod\": {\"hosts\": "
                             "[\"app.test\"]}})", HX_WORLD_MAX_APPS);
    const char *name;
    json_t *entry;
    enum idp_status first = IDP_OK;
    json_object_foreach((json_t *)apps, name, entry) {
        char child[300];
        snprintf(child, sizeof(child), "%s/%s", path, name);
        enum idp_status st = IDP_OK;
        if (!name[0] || strlen(name) >= 48 ||
            strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") != strlen(name))
            st = hx_check_fail(check, child, true,
                               "an app's name is lowercase letters, digits, '-' and '_'");
        json_t *rest = json_deep_copy(entry);
        /* A variant may change an app partly; its hosts come from the base
         * (checked once merged). */
        if (strncmp(path, "/variants/", 10) == 0 && json_is_object(rest) &&
            !json_object_get(rest, "hosts"))
            json_object_set_new(rest, "hosts", json_pack("[s]", "from-the-base.test"));
        struct hx_world_app scratch;
        struct idp_error e;
        if (!st && hx_world_app_take_pieces(rest, &scratch, &e))
            st = hx_check_error(check, child, &e);
        else if (!st)
            hx_world_app_cleanup(&scratch);
        if (!st) {
            struct hx_app_knobs knobs;
            hx_app_knobs_defaults(&knobs);
            if (hx_app_knobs_apply(&knobs, rest, NULL, &e))
                st = hx_check_error(check, child, &e);
        }
        json_decref(rest);
        first = first ? first : st;
    }
    return first;
}

/* Timeline sources a backend's name would be mistaken for. */
static const char *const reserved_backend_names[] = {"app", "backend", "browser", "clock", "expect",
                                                     "idp", "note", "runner", "spa", "step", NULL};

/* "backends": named Convex-style backends, each {app, providers, settings}. */
static enum idp_status check_backends(struct hx_check *check, const json_t *backends,
                                      const char *path)
{
    if (!json_is_object(backends) || !json_object_size(backends) ||
        json_object_size(backends) > HX_MAX_BACKENDS)
        return hx_check_fail(check, path, false,
                             "backends is an object of 1 to %d named backends ({\"billing\": "
                             "{\"leeway\": \"0s\"}})", HX_MAX_BACKENDS);
    const char *name;
    json_t *entry;
    enum idp_status first = IDP_OK;
    json_object_foreach((json_t *)backends, name, entry) {
        char child[300];
        snprintf(child, sizeof(child), "%s/%s", path, name);
        enum idp_status st = IDP_OK;
        bool reserved = false;
        for (int i = 0; reserved_backend_names[i]; i++)
            reserved = reserved || strcmp(name, reserved_backend_names[i]) == 0;
        if (!hx_backend_name_ok(name))
            st = hx_check_fail(check, child, true,
                               "a backend's name is 1 to 47 lowercase letters, digits, '-' and '_'");
        else if (reserved)
            st = hx_check_fail(check, child, true,
                               "a backend cannot be called \"%s\": the timeline uses that name "
                               "for something else", name);
        struct hx_backend_settings scratch;
        struct idp_error e;
        hx_backend_settings_defaults(&scratch);
        if (!st && hx_backend_entry_apply(&scratch, entry, &e))
            st = hx_check_error(check, child, &e);
        first = first ? first : st;
    }
    return first;
}

/* Checks a document section by section (the base or a variant's overrides). */
static enum idp_status check_sections(struct hx_check *check, const json_t *doc, const char *prefix)
{
    /* Every section is checked, so that lint reports each error. */
    static const struct {
        const char *name;
        enum idp_status (*check)(struct hx_check *, const json_t *, const char *);
    } sections[] = {
        {"idp", check_idp},       {"target", check_target},       {"browser", check_browser},
        {"apps", check_apps},         {"backends", check_backends},
        {"steps", hx_steps_validate}, {"expect", hx_expect_validate},
    };
    enum idp_status first = IDP_OK;
    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
        const json_t *v = json_object_get(doc, sections[i].name);
        char path[256];
        snprintf(path, sizeof(path), "%s/%s", prefix, sections[i].name);
        enum idp_status st = v ? sections[i].check(check, v, path) : IDP_OK;
        first = first ? first : st;
    }
    return first;
}

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
static void check_world(struct hx_check *check, const json_t *doc, const char *steps_path,
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
static void check_backend_refs(struct hx_check *check, const json_t *doc, const json_t *own,
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

/* Objects merge member by member; anything else replaces. A variant's
 * "expect" replaces the base's whole: each variant states its own outcome. */
static bool merge(json_t *base, const json_t *over)
{
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)over, key, value) {
        json_t *existing = json_object_get(base, key);
        if (json_is_object(existing) && json_is_object(value) && strcmp(key, "expect") != 0) {
            if (!merge(existing, value))
                return false;
        } else if (json_object_set_new(base, key, json_deep_copy(value))) {
            return false; /* out of memory */
        }
    }
    return true;
}

static enum idp_status validate(struct hx_scenario *sc, struct hx_check *check)
{
    static const char *const top[] = {"name", "description", "failure_mode", "sources", "tags",
                                      "idp", "target", "browser", "apps", "backends", "steps",
                                      "expect", "variants", "timeout", "engine_difference", NULL};
    static const char *const variant_keys[] = {"description", "idp", "target", "browser", "apps",
                                               "backends", "steps", "expect", "tags",
                                               "engine_difference", NULL};
    json_t *root = sc->root;
    enum idp_status st = hx_check_keys(check, root, "", top, "a scenario");
    if (st)
        return st;
    const json_t *name = json_object_get(root, "name");
    if (!json_is_string(name) || !json_string_length(name))
        return hx_check_fail(check, name ? "/name" : "", !!name, "a scenario needs a \"name\" string");
    const json_t *desc = json_object_get(root, "description");
    if (desc && !json_is_string(desc) && !string_array(desc))
        return hx_check_fail(check, "/description", false, "description is a string or an array of strings");
    const char *const lists[] = {"sources", "tags", NULL};
    for (int i = 0; lists[i]; i++) {
        const json_t *v = json_object_get(root, lists[i]);
        char path[32];
        snprintf(path, sizeof(path), "/%s", lists[i]);
        if (v && !string_array(v))
            return hx_check_fail(check, path, false, "%s must be an array of strings", lists[i]);
    }
    if (json_object_get(root, "timeout") &&
        (st = hx_check_duration(check, json_object_get(root, "timeout"), "/timeout")))
        return st;
    if (!json_object_get(root, "steps"))
        return hx_check_fail(check, "", false, "a scenario needs \"steps\"");
    const json_t *difference = json_object_get(root, "engine_difference");
    if (difference && (!json_is_string(difference) || !json_string_length(difference)))
        return hx_check_fail(check, "/engine_difference", true,
                             "engine_difference says why the verdict differs in Chromium (a string)");
    check_sections(check, root, "");
    const json_t *variants = json_object_get(root, "variants");
    if (variants && (!json_is_object(variants) || !json_object_size(variants)))
        return hx_check_fail(check, "/variants", false, "variants must be a non-empty object of named variants");
    const char *vname;
    json_t *v;
    json_object_foreach((json_t *)variants, vname, v) {
        char path[256];
        snprintf(path, sizeof(path), "/variants/%s", vname);
        if (!hx_check_keys(check, v, path, variant_keys, "a variant"))
            check_sections(check, v, path);
        difference = json_object_get(v, "engine_difference");
        if (difference && (!json_is_string(difference) || !json_string_length(difference))) {
            snprintf(path, sizeof(path), "/variants/%s/engine_difference", vname);
            hx_check_fail(check, path, true,
                          "engine_difference says why the verdict differs in Chromium (a string)");
        }
    }
    if (check->count)
        return IDP_INVALID;
    /* Every variant (or the base alone) must say what it expects. */
    size_t count = variants ? json_object_size(variants) : 1;
    sc->variants = calloc(count, sizeof(*sc->variants));
    if (!sc->variants)
        return idp_fail(check->err, IDP_NOMEM, "out of memory");
    if (!variants) {
        sc->variants[0].name = strdup("default");
        sc->variants[0].doc = json_deep_copy(root);
        sc->variant_count = 1;
        if (!sc->variants[0].name || !sc->variants[0].doc)
            return idp_fail(check->err, IDP_NOMEM, "out of memory");
    } else {
        json_object_foreach((json_t *)variants, vname, v) {
            json_t *doc = json_deep_copy(root);
            json_object_del(doc, "variants");
            bool merged = merge(doc, v);
            sc->variants[sc->variant_count].name = strdup(vname);
            sc->variants[sc->variant_count].doc = doc;
            sc->variant_count++;
            if (!merged || !sc->variants[sc->variant_count - 1].name)
                return idp_fail(check->err, IDP_NOMEM, "out of memory");
        }
    }
    for (size_t i = 0; i < sc->variant_count; i++) {
        /* Users named by steps exist at the fake (an in-process one: an
         * external fake has users of its own). */
        const json_t *doc = sc->variants[i].doc;
        check_backend_refs(check, doc, variants ? json_object_get(variants, sc->variants[i].name) : NULL,
                           variants ? sc->variants[i].name : NULL);
        const char *app = json_string_value(json_object_get(json_object_get(doc, "target"), "app"));
        if (!(app && strcmp(app, "external") == 0)) {
            const json_t *own = variants ? json_object_get(json_object_get(variants, sc->variants[i].name), "steps") : NULL;
            char path[300];
            snprintf(path, sizeof(path), "%s%s/steps", own ? "/variants/" : "",
                     own ? sc->variants[i].name : "");
            each_step(check, doc, json_object_get(doc, "steps"), path, check_step_users);
            check_world(check, doc, path, variants ? sc->variants[i].name : NULL);
        }
    }
    if (check->count)
        return IDP_INVALID;
    for (size_t i = 0; i < sc->variant_count; i++) {
        if (!json_object_get(sc->variants[i].doc, "expect")) {
            char path[256];
            snprintf(path, sizeof(path), variants ? "/variants/%s" : "", sc->variants[i].name);
            return hx_check_fail(check, path, false,
                                 "variant \"%s\" has no \"expect\": say what must happen",
                                 sc->variants[i].name);
        }
    }
    return IDP_OK;
}

struct hx_scenario *hx_scenario_load(const char *path, struct idp_error *err, json_t *messages)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        idp_fail_at(err, IDP_IO, path, 0, 0, "cannot open: %s", "no such file or not readable");
        return NULL;
    }
    size_t cap = 8192, len = 0;
    char *text = malloc(cap + 1);
    size_t n;
    while (text && (n = fread(text + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            if (cap >= (16u << 20)) {
                free(text);
                fclose(f);
                idp_fail_at(err, IDP_INVALID, path, 1, 1, "file larger than 16 MiB");
                return NULL;
            }
            char *grown = realloc(text, cap * 2 + 1);
            if (!grown) {
                free(text);
                text = NULL;
                break;
            }
            text = grown;
            cap *= 2;
        }
    }
    fclose(f);
    if (!text) {
        idp_fail(err, IDP_NOMEM, "out of memory");
        return NULL;
    }
    text[len] = '\0';
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        /* jansson leaves the error text empty only when it ran out of memory. */
        if (!jerr.text[0])
            idp_fail(err, IDP_NOMEM, "out of memory");
        else
            idp_fail_at(err, IDP_PARSE, path, jerr.line, jerr.column, "%s", jerr.text);
        free(text);
        return NULL;
    }
    struct hx_scenario *sc = calloc(1, sizeof(*sc));
    if (!sc) {
        json_decref(root);
        free(text);
        idp_fail(err, IDP_NOMEM, "out of memory");
        return NULL;
    }
    sc->file = strdup(path);
    sc->root = root;
    if (!sc->file) {
        hx_scenario_free(&sc);
        free(text);
        idp_fail(err, IDP_NOMEM, "out of memory");
        return NULL;
    }
    hx_jsonpos_build(&sc->positions, text, len);
    free(text);
    struct hx_check check = {sc->file, &sc->positions, err, messages, 0};
    if (validate(sc, &check)) {
        hx_scenario_free(&sc);
        return NULL;
    }
    sc->name = strdup(json_string_value(json_object_get(root, "name")));
    sc->tags = json_object_get(root, "tags");
    if (!sc->name) {
        hx_scenario_free(&sc);
        idp_fail(err, IDP_NOMEM, "out of memory");
    }
    return sc;
}

void hx_scenario_free(struct hx_scenario **psc)
{
    struct hx_scenario *sc = *psc;
    if (!sc)
        return;
    for (size_t i = 0; i < sc->variant_count; i++) {
        free(sc->variants[i].name);
        json_decref(sc->variants[i].doc);
    }
    free(sc->variants);
    hx_jsonpos_cleanup(&sc->positions);
    json_decref(sc->root);
    free(sc->file);
    free(sc->name);
    free(sc);
    *psc = NULL;
}
