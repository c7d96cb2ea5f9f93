/* The sections of a scenario (or of a variant's overrides) that configure
 * what a variant runs against: idp, target, browser, apps and backends. Each
 * is checked by the code that will load it (fakeidp's settings, fault and
 * store parsers, the reference app's, browser's, SPA client's and backends'
 * knob tables) on scratch state, so lint and the runner cannot disagree.
 * Also here: which target keys are reference-app knobs (hx_target_knobs). */
#include "scenario_internal.h"

#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "browser.h"
#include "external.h"
#include "faults.h"
#include "refapp.h"
#include "settings.h"
#include "spa.h"
#include "store.h"
#include "world.h"

/* The idp section is a fakeidp configuration: it is checked by the same code
 * that loads one, on scratch state. */
enum idp_status hx_section_check_idp(struct hx_check *check, const json_t *idp, const char *path)
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

enum idp_status hx_section_check_target(struct hx_check *check, const json_t *target, const char *path)
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

enum idp_status hx_section_check_browser(struct hx_check *check, const json_t *browser, const char *path)
{
    struct hx_browser_knobs scratch;
    hx_browser_knobs_defaults(&scratch);
    struct idp_error e;
    const char *bad = NULL;
    return hx_browser_knobs_apply(&scratch, browser, &bad, &e) ? hx_check_error(check, path, &e)
                                                                : IDP_OK;
}

/* "apps": named apps, each with hosts, a client, pieces and knobs. */
enum idp_status hx_section_check_apps(struct hx_check *check, const json_t *apps, const char *path)
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
enum idp_status hx_section_check_backends(struct hx_check *check, const json_t *backends,
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
