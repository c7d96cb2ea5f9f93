/* The step table. Each row: a kind name, how to check its value, how to run
 * it. Adding a step kind is one row here and one function in the file of its
 * family (steps_internal.h lists them). Also here: validating and running
 * one step (its kind, its modifiers "note", "at", "instance", "backend" and
 * "barrier"), and the control steps, which run other steps. */
#include "steps.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expect.h"
#include "steps_internal.h"

struct step_kind {
    const char *name;
    const char *summary;
    hx_step_validate_fn *validate;
    hx_step_run_fn *run;
};

/* ---- the control steps: parallel, repeat, expect ------------------------ */

enum idp_status hx_steps_validate(struct hx_check *c, const json_t *v, const char *path)
{
    if (!json_is_array(v) || !json_array_size(v))
        return hx_check_fail(c, path, false, "expected a non-empty array of steps");
    size_t i;
    json_t *s;
    enum idp_status first = IDP_OK;
    json_array_foreach(v, i, s) { /* every step is checked: lint reports each error */
        char child[300];
        snprintf(child, sizeof(child), "%s/%zu", path, i);
        enum idp_status st = hx_step_validate(c, s, child);
        if (st && !first)
            first = st;
    }
    return first;
}

static enum idp_status v_repeat(struct hx_check *c, const json_t *v, const char *path)
{
    static const char *const keys[] = {"times", "steps", NULL};
    enum idp_status st = hx_check_keys(c, v, path, keys, "repeat");
    if (st)
        return st;
    const json_t *times = json_object_get(v, "times");
    if (!json_is_integer(times) || json_integer_value(times) < 1 || json_integer_value(times) > 100000)
        return hx_check_fail(c, path, false, "repeat needs \"times\" from 1 to 100000");
    char child[300];
    snprintf(child, sizeof(child), "%s/steps", path);
    return hx_steps_validate(c, json_object_get(v, "steps"), child);
}

static enum idp_status v_expect(struct hx_check *c, const json_t *v, const char *path)
{
    return hx_expect_validate(c, v, path);
}

static bool r_expect(struct hx_run *run, const json_t *v, const json_t *step)
{
    hx_expect_evaluate(run, v);
    (void)step;
    return true;
}

static bool r_repeat(struct hx_run *run, const json_t *v, const json_t *step)
{
    json_int_t times = json_integer_value(json_object_get(v, "times"));
    const json_t *steps = json_object_get(v, "steps");
    for (json_int_t i = 0; i < times; i++) {
        size_t j;
        json_t *s;
        json_array_foreach(steps, j, s) if (!hx_step_run(run, s, (int)j)) return false;
        if (json_array_size(run->failures) > 20)
            return false; /* a repeat must not bury the report in failures */
    }
    (void)step;
    return true;
}

struct parallel_job {
    struct hx_run *run;
    const json_t *step;
    int index;
    bool started; /* on a thread of its own (else run in place) */
};

static void *parallel_thread(void *arg)
{
    struct parallel_job *job = arg;
    hx_step_run(job->run, job->step, job->index);
    return NULL;
}

static bool r_parallel(struct hx_run *run, const json_t *v, const json_t *step)
{
    const json_t *barrier = json_object_get(step, "barrier");
    char barrier_id[64] = "";
    if (barrier)
        hx_run_barrier_add(run, barrier, json_array_size(v), barrier_id, sizeof(barrier_id));
    size_t n = json_array_size(v);
    pthread_t *threads = calloc(n, sizeof(*threads));
    struct parallel_job *jobs = calloc(n, sizeof(*jobs));
    hx_run_note(run, "step", "parallel: %zu steps%s", n, barrier ? " behind a barrier at fakeidp" : "");
    for (size_t i = 0; threads && jobs && i < n; i++) {
        jobs[i] = (struct parallel_job){run, json_array_get(v, i), (int)i, false};
        jobs[i].started = pthread_create(&threads[i], NULL, parallel_thread, &jobs[i]) == 0;
        if (!jobs[i].started)
            parallel_thread(&jobs[i]);
    }
    for (size_t i = 0; threads && jobs && i < n; i++)
        if (jobs[i].started)
            pthread_join(threads[i], NULL);
    free(threads);
    free(jobs);
    hx_run_barrier_remove(run, barrier_id);
    return true;
}

/* ---- the table ------------------------------------------------------ */

/* The step table: one row per kind, {name, help, validate, run}, in the
 * order lint lists them ("did you mean" and hx_step_kinds). The functions
 * of a row live in the file of its family (steps_internal.h). */
static const struct step_kind kinds[] = {
    {"sign_in", "the full sign-in through the target's /login (email or true)",
     hx_step_sign_in_validate, hx_step_sign_in_run},
    {"load", "a page load (top-level navigation) of a path",
     hx_step_location_validate, hx_step_load_run},
    {"reload", "the same as load",
     hx_step_location_validate, hx_step_load_run},
    {"api", "a fetch() from the page to a path of the target",
     hx_step_location_validate, hx_step_api_run},
    {"navigate", "a navigation a page starts ({path, from: app|cross_site|typed, by: link|script})",
     hx_step_navigate_validate, hx_step_navigate_run},
    {"form_post", "a top-level form POST from a page ({path, form, from: app|cross_site})",
     hx_step_form_post_validate, hx_step_form_post_run},
    {"advance", "move virtual time forward",
     hx_check_duration, hx_step_advance_run},
    {"fault", "add a fault rule at fakeidp",
     hx_step_fault_validate, hx_step_fault_run},
    {"remove_fault", "remove one fault by its id",
     hx_step_remove_fault_validate, hx_step_remove_fault_run},
    {"clear_faults", "remove every fault",
     hx_check_true, hx_step_clear_faults_run},
    {"rotate_keys", "rotate the signing key ({publish_lead, retire_after})",
     hx_step_rotate_keys_validate, hx_step_rotate_keys_run},
    {"revoke_session", "revoke the newest active session at fakeidp",
     hx_check_true, hx_step_revoke_session_run},
    {"sign_out", "sign out: true (GET /logout) or {path, method, form} or {path, next_action}",
     hx_step_sign_out_validate, hx_step_sign_out_run},
    {"idp_settings", "change fakeidp settings",
     hx_step_idp_settings_validate, hx_step_idp_settings_run},
    {"app", "restart the reference app with changed knobs",
     hx_step_app_validate, hx_step_app_run},
    {"restart_app", "restart an external app the harness started (true or {env})",
     hx_step_restart_app_validate, hx_step_restart_app_run},
    {"browser", "change browser knobs",
     hx_step_browser_validate, hx_step_browser_run},
    {"clear_cookies", "empty the cookie jar",
     hx_check_true, hx_step_clear_cookies_run},
    {"tamper_cookie", "corrupt a cookie in the jar ({name, mode})",
     hx_step_tamper_cookie_validate, hx_step_tamper_cookie_run},
    {"convex_query", "a Convex query with the configured adapter",
     hx_check_true, hx_step_convex_query_run},
    {"present_token", "send a forged access token to a backend path ({to, forge})",
     hx_step_present_token_validate, hx_step_present_token_run},
    {"forge_session_cookie", "re-seal wos-session around a forged access token ({forge})",
     hx_step_forge_session_cookie_validate, hx_step_forge_session_cookie_run},
    {"spa_sign_in", "sign in through the SPA client (authkit-js model)",
     hx_step_sign_in_validate, hx_step_spa_sign_in_run},
    {"spa_reload", "reload a tab of the SPA (true: the main tab)",
     hx_step_tab_validate, hx_step_spa_reload_run},
    {"spa_wait", "let time pass with the SPA's refresh timers running",
     hx_check_duration, hx_step_spa_wait_run},
    {"spa_tab", "open, hide, show or close a tab ({\"open\": \"t2\"})",
     hx_step_spa_tab_validate, hx_step_spa_tab_run},
    {"spa_call", "getAccessToken and a backend (Convex) call from a tab",
     hx_step_tab_validate, hx_step_spa_call_run},
    {"parallel", "run steps at once (optional \"barrier\" at fakeidp)",
     hx_steps_validate, r_parallel},
    {"repeat", "run steps N times ({times, steps})",
     v_repeat, r_repeat},
    {"expect", "check expectations now",
     v_expect, r_expect},
};

static const struct step_kind *find_kind(const char *name)
{
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(kinds[i].name, name) == 0)
            return &kinds[i];
    return NULL;
}

/* The kind of a step: its one member that is not a modifier ("note", "at",
 * "instance", "backend", "barrier"). NULL with the error recorded. */
static const struct step_kind *step_kind_of(struct hx_check *check, const json_t *step,
                                            const char *path)
{
    const struct step_kind *kind = NULL;
    const char *key, *kind_key = NULL;
    json_t *value;
    json_object_foreach((json_t *)step, key, value) {
        if (strcmp(key, "note") == 0 || strcmp(key, "barrier") == 0 || strcmp(key, "at") == 0 ||
            strcmp(key, "instance") == 0 || strcmp(key, "backend") == 0)
            continue;
        char child[300];
        snprintf(child, sizeof(child), "%s/%s", path, key);
        const struct step_kind *k = find_kind(key);
        if (!k) {
            const char *names[sizeof(kinds) / sizeof(kinds[0]) + 1];
            for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
                names[i] = kinds[i].name;
            names[sizeof(kinds) / sizeof(kinds[0])] = NULL;
            hx_check_unknown(check, child, "step", "steps", key, names);
            return NULL;
        }
        if (kind) {
            hx_check_fail(check, child, true, "a step has one kind; \"%s\" and \"%s\" are two",
                          kind_key, key);
            return NULL;
        }
        kind = k;
        kind_key = key;
    }
    if (!kind)
        hx_check_fail(check, path, false, "empty step: name a kind such as \"load\"");
    return kind;
}

/* "at" and "instance": where a step's requests go. */
static enum idp_status where_validate(struct hx_check *check, const json_t *step,
                                      const char *path, const char *kind)
{
    const json_t *at = json_object_get(step, "at"), *instance = json_object_get(step, "instance");
    if (at) {
        char child[300];
        snprintf(child, sizeof(child), "%s/at", path);
        if (strcmp(kind, "sign_in") != 0 && strcmp(kind, "sign_out") != 0 &&
            strcmp(kind, "app") != 0 && strcmp(kind, "convex_query") != 0)
            return hx_check_fail(check, child, true,
                                 "at goes with sign_in, sign_out, app and convex_query only");
        if (!json_is_string(at) || !hx_step_location_ok(json_string_value(at)))
            return hx_check_fail(check, child, false,
                                 "at is an app's name (\"stg\") or a URL (\"https://www.app.test\")");
    }
    if (instance) {
        char child[300];
        snprintf(child, sizeof(child), "%s/instance", path);
        static const char *const with[] = {"load", "reload", "api", "sign_in", "sign_out", NULL};
        bool ok = false;
        for (int i = 0; with[i]; i++)
            ok = ok || strcmp(kind, with[i]) == 0;
        if (!ok)
            return hx_check_fail(check, child, true,
                                 "instance goes with load, reload, api, sign_in and sign_out only");
        if (!json_is_integer(instance) || json_integer_value(instance) < 1 ||
            json_integer_value(instance) > HX_APP_MAX_INSTANCES)
            return hx_check_fail(check, child, false,
                                 "instance is the app instance the balancer sends this step to, "
                                 "1 to %d", HX_APP_MAX_INSTANCES);
    }
    return IDP_OK;
}

/* "backend": the named backend a step calls. */
static enum idp_status backend_validate(struct hx_check *check, const json_t *step,
                                        const char *path, const char *kind)
{
    const json_t *backend = json_object_get(step, "backend");
    if (!backend)
        return IDP_OK;
    char child[300];
    snprintf(child, sizeof(child), "%s/backend", path);
    if (strcmp(kind, "convex_query") != 0 && strcmp(kind, "present_token") != 0)
        return hx_check_fail(check, child, true,
                             "backend goes with convex_query and present_token only");
    if (!json_is_string(backend) || !hx_backend_name_ok(json_string_value(backend)))
        return hx_check_fail(check, child, false,
                             "backend is the name of one of the scenario's \"backends\"");
    if (json_object_get(step, "at"))
        return hx_check_fail(check, child, true,
                             "backend and at do not go together: a backend receives the "
                             "tokens of its own app (its \"app\")");
    if (json_object_get(json_object_get(step, kind), "to"))
        return hx_check_fail(check, child, true,
                             "backend and to do not go together: a backend has its own path");
    return IDP_OK;
}

/* "barrier": a fault rule whose action is barrier, for parallel steps. */
static enum idp_status barrier_validate(struct hx_check *check, const json_t *step,
                                        const char *path, const char *kind)
{
    const json_t *barrier = json_object_get(step, "barrier");
    if (!barrier)
        return IDP_OK;
    char child[300];
    snprintf(child, sizeof(child), "%s/barrier", path);
    if (strcmp(kind, "parallel") != 0)
        return hx_check_fail(check, child, true, "barrier goes with parallel steps only");
    json_t *rule = json_deep_copy(barrier);
    json_object_set_new(rule, "action", json_string("barrier"));
    enum idp_status st = json_is_object(barrier)
                             ? hx_step_fault_validate(check, rule, child)
                             : hx_check_fail(check, child, false, "barrier is a fault rule object");
    json_decref(rule);
    return st;
}

enum idp_status hx_step_validate(struct hx_check *check, const json_t *step, const char *path)
{
    if (!json_is_object(step))
        return hx_check_fail(check, path, false, "a step must be an object such as {\"advance\": \"5m\"}");
    const struct step_kind *kind = step_kind_of(check, step, path);
    if (!kind)
        return IDP_INVALID;
    if (json_object_get(step, "note") && !json_is_string(json_object_get(step, "note")))
        return hx_check_fail(check, path, false, "note must be a string");
    enum idp_status st;
    if ((st = where_validate(check, step, path, kind->name)) ||
        (st = backend_validate(check, step, path, kind->name)) ||
        (st = barrier_validate(check, step, path, kind->name)))
        return st;
    char child[300];
    snprintf(child, sizeof(child), "%s/%s", path, kind->name);
    return kind->validate(check, json_object_get(step, kind->name), child);
}

bool hx_step_run(struct hx_run *run, const json_t *step, int index)
{
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)step, key, value) {
        const struct step_kind *k = find_kind(key);
        if (k) {
            char where[64];
            snprintf(where, sizeof(where), "step %d (%s)", index, k->name);
            if (hx_run_out_of_time(run, where))
                return false;
            const char *note = json_string_value(json_object_get(step, "note"));
            if (note)
                hx_run_note(run, "note", "%s", note);
            bool spa = strncmp(k->name, "spa_", 4) == 0;
            if (spa)
                pthread_mutex_lock(&run->spa_lock);
            /* "instance": the balancer sends this step's requests there. */
            int pinned = hx_browser_pin_instance(
                (int)json_integer_value(json_object_get(step, "instance")));
            bool go_on = k->run(run, value, step);
            hx_browser_pin_instance(pinned);
            if (spa)
                pthread_mutex_unlock(&run->spa_lock);
            /* Leaf steps bring what fakeidp saw into the timeline. */
            if (strcmp(k->name, "parallel") != 0 && strcmp(k->name, "repeat") != 0)
                hx_run_sync_journal(run);
            return go_on;
        }
    }
    return false;
}

json_t *hx_step_kinds(void)
{
    json_t *out = json_object();
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        json_object_set_new(out, kinds[i].name, json_string(kinds[i].summary));
    return out;
}
