/* The steps on the app under test: restart a reference app with changed
 * knobs, restart an external app the harness started. Rows in steps.c's
 * table. */
#include "steps_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target.h"
#include "url.h"

enum idp_status hx_step_app_parse(struct hx_check *c, const json_t *v, const char *path,
                                  struct hx_step *out)
{
    (void)out; /* the knobs are applied as written, to the app the step names */
    struct hx_app_knobs scratch;
    hx_app_knobs_defaults(&scratch);
    struct idp_error e;
    const char *bad = NULL;
    if (!json_is_object(v))
        return hx_check_fail(c, path, false, "expected an object of reference-app knobs");
    return hx_app_knobs_apply(&scratch, v, &bad, &e) ? hx_check_error(c, path, &e) : IDP_OK;
}

enum idp_status hx_step_restart_app_parse(struct hx_check *c, const json_t *v, const char *path,
                                          struct hx_step *out)
{
    out->as.env = json_is_object(v) ? json_object_get(v, "env") : NULL;
    if (json_is_true(v))
        return IDP_OK;
    static const char *const keys[] = {"env", NULL};
    if (!json_is_object(v))
        return hx_check_fail(c, path, false, "restart_app takes true or {\"env\": {...}}");
    enum idp_status st = hx_check_keys(c, v, path, keys, "restart_app");
    if (st)
        return st;
    const json_t *env = json_object_get(v, "env");
    if (env && !json_is_object(env))
        return hx_check_fail(c, path, false, "restart_app env must be an object of variables");
    const char *name;
    json_t *value;
    json_object_foreach((json_t *)env, name, value)
        if (!json_is_string(value) && !json_is_number(value) && !json_is_boolean(value) &&
            !json_is_null(value))
            return hx_check_fail(c, path, false,
                                 "restart_app env values are strings, numbers, booleans or null");
    return IDP_OK;
}

bool hx_step_app_run(struct hx_run *run, const struct hx_step *step)
{
    const json_t *v = step->value;
    /* "at": a named app (by name, or a URL on one of its hosts). */
    const char *at = step->at;
    struct hx_app *app = run->app;
    if (at) {
        struct hx_url url;
        char name[64];
        snprintf(name, sizeof(name), "%.*s", (int)strcspn(at, "/"), at);
        struct hx_world_app *wa = strstr(at, "://") ? (hx_url_parse(at, &url)
                                                           ? hx_world_app_for_host(&run->world, url.host)
                                                           : NULL)
                                                    : hx_world_app_named(&run->world, name);
        app = wa ? wa->app : NULL;
    }
    if (!app) {
        hx_run_fail(run, "the app step reconfigures a reference app only%s%s", at ? ": no app " : "",
                    at ? at : "");
        return false;
    }
    struct idp_error e;
    const char *bad = NULL;
    if (hx_app_reconfigure(app, v, &bad, &e)) {
        hx_run_fail(run, "app: %s", e.message);
        return false;
    }
    char *text = json_dumps(v, JSON_COMPACT);
    hx_run_note(run, "step", "app%s%s restarted with %s", at ? " " : "", at ? at : "",
                text ? text : "");
    free(text);
    return true;
}

bool hx_step_restart_app_run(struct hx_run *run, const struct hx_step *step)
{
    char why[700];
    const json_t *env = step->as.env;
    char *text = env ? json_dumps(env, JSON_COMPACT) : NULL;
    hx_run_note(run, "step", "restart the app%s%s", text ? " with env " : "", text ? text : "");
    free(text);
    if (!hx_target_restart(run, env, why, sizeof(why))) {
        hx_run_fail(run, "restart_app: %s", why);
        return false;
    }
    return true;
}
