/* The step table. Each row: a kind name, how to parse its value (check it
 * and fill the typed step of lang/step.h), how to run the parsed step.
 * Adding a step kind is one row here and a parse and a run function in the
 * file of its family (steps_internal.h lists them). Also here: parsing and
 * running one step (its kind, its modifiers "note", "at", "instance",
 * "backend" and "barrier"), and the control steps, which run other steps. */
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
    hx_step_parse_fn *parse;
    hx_step_run_fn *run;
};

static enum idp_status step_parse(struct hx_check *check, const json_t *step, const char *path,
                                  struct hx_step *out);

/* ---- the control steps: parallel, repeat, expect ------------------------ */

enum idp_status hx_steps_parse(struct hx_check *c, const json_t *v, const char *path,
                               struct hx_steps *out)
{
    memset(out, 0, sizeof(*out));
    if (!json_is_array(v) || !json_array_size(v))
        return hx_check_fail(c, path, false, "expected a non-empty array of steps");
    out->items = calloc(json_array_size(v), sizeof(*out->items));
    if (!out->items)
        return idp_fail(c->err, IDP_NOMEM, "out of memory");
    out->count = json_array_size(v);
    size_t i;
    json_t *s;
    enum idp_status first = IDP_OK;
    json_array_foreach(v, i, s) { /* every step is checked: lint reports each error */
        char child[300];
        snprintf(child, sizeof(child), "%s/%zu", path, i);
        out->items[i].index = (int)i;
        enum idp_status st = step_parse(c, s, child, &out->items[i]);
        if (st && !first)
            first = st;
    }
    return first;
}

void hx_steps_free(struct hx_steps *steps)
{
    for (size_t i = 0; i < steps->count; i++) {
        hx_steps_free(&steps->items[i].children);
        hx_expectations_free(&steps->items[i].expect);
    }
    free(steps->items);
    steps->items = NULL;
    steps->count = 0;
}

enum idp_status hx_steps_validate(struct hx_check *c, const json_t *v, const char *path)
{
    struct hx_steps scratch;
    enum idp_status st = hx_steps_parse(c, v, path, &scratch);
    hx_steps_free(&scratch);
    return st;
}

enum idp_status hx_step_validate(struct hx_check *c, const json_t *step, const char *path)
{
    struct hx_step scratch;
    memset(&scratch, 0, sizeof(scratch));
    enum idp_status st = step_parse(c, step, path, &scratch);
    hx_steps_free(&scratch.children);
    hx_expectations_free(&scratch.expect);
    return st;
}

static enum idp_status parallel_parse(struct hx_check *c, const json_t *v, const char *path,
                                      struct hx_step *out)
{
    return hx_steps_parse(c, v, path, &out->children);
}

static enum idp_status repeat_parse(struct hx_check *c, const json_t *v, const char *path,
                                    struct hx_step *out)
{
    static const char *const keys[] = {"times", "steps", NULL};
    enum idp_status st = hx_check_keys(c, v, path, keys, "repeat");
    if (st)
        return st;
    const json_t *times = json_object_get(v, "times");
    if (!json_is_integer(times) || json_integer_value(times) < 1 || json_integer_value(times) > 100000)
        return hx_check_fail(c, path, false, "repeat needs \"times\" from 1 to 100000");
    out->as.times = json_integer_value(times);
    char child[300];
    snprintf(child, sizeof(child), "%s/steps", path);
    return hx_steps_parse(c, json_object_get(v, "steps"), child, &out->children);
}

static enum idp_status expect_parse(struct hx_check *c, const json_t *v, const char *path,
                                    struct hx_step *out)
{
    return hx_expect_parse(c, v, path, &out->expect);
}

static enum idp_status true_parse(struct hx_check *c, const json_t *v, const char *path,
                                  struct hx_step *out)
{
    (void)out;
    return hx_check_true(c, v, path);
}

static bool r_expect(struct hx_run *run, const struct hx_step *step)
{
    hx_expect_evaluate(run, &step->expect);
    return true;
}

static bool r_repeat(struct hx_run *run, const struct hx_step *step)
{
    for (long long i = 0; i < step->as.times; i++) {
        for (size_t j = 0; j < step->children.count; j++)
            if (!hx_step_run(run, &step->children.items[j]))
                return false;
        if (json_array_size(run->failures) > 20)
            return false; /* a repeat must not bury the report in failures */
    }
    return true;
}

struct parallel_job {
    struct hx_run *run;
    const struct hx_step *step;
    bool started; /* on a thread of its own (else run in place) */
};

static void *parallel_thread(void *arg)
{
    struct parallel_job *job = arg;
    hx_step_run(job->run, job->step);
    return NULL;
}

static bool r_parallel(struct hx_run *run, const struct hx_step *step)
{
    size_t n = step->children.count;
    char barrier_id[64] = "";
    if (step->barrier)
        hx_run_barrier_add(run, step->barrier, n, barrier_id, sizeof(barrier_id));
    pthread_t *threads = calloc(n, sizeof(*threads));
    struct parallel_job *jobs = calloc(n, sizeof(*jobs));
    hx_run_note(run, "step", "parallel: %zu steps%s", n, step->barrier ? " behind a barrier at fakeidp" : "");
    for (size_t i = 0; threads && jobs && i < n; i++) {
        jobs[i] = (struct parallel_job){run, &step->children.items[i], false};
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

/* The step table: one row per kind, {name, help, parse, run}, in the
 * order lint lists them ("did you mean" and hx_step_kinds). The functions
 * of a row live in the file of its family (steps_internal.h). */
static const struct step_kind kinds[] = {
    {"sign_in", "the full sign-in through the target's /login (email or true)",
     hx_step_sign_in_parse, hx_step_sign_in_run},
    {"load", "a page load (top-level navigation) of a path",
     hx_step_location_parse, hx_step_load_run},
    {"reload", "the same as load",
     hx_step_location_parse, hx_step_load_run},
    {"api", "a fetch() from the page to a path of the target",
     hx_step_location_parse, hx_step_api_run},
    {"navigate", "a navigation a page starts ({path, from: app|cross_site|typed, by: link|script})",
     hx_step_navigate_parse, hx_step_navigate_run},
    {"form_post", "a top-level form POST from a page ({path, form, from: app|cross_site})",
     hx_step_form_post_parse, hx_step_form_post_run},
    {"advance", "move virtual time forward",
     hx_step_duration_parse, hx_step_advance_run},
    {"fault", "add a fault rule at fakeidp",
     hx_step_fault_parse, hx_step_fault_run},
    {"remove_fault", "remove one fault by its id",
     hx_step_remove_fault_parse, hx_step_remove_fault_run},
    {"clear_faults", "remove every fault",
     true_parse, hx_step_clear_faults_run},
    {"rotate_keys", "rotate the signing key ({publish_lead, retire_after})",
     hx_step_rotate_keys_parse, hx_step_rotate_keys_run},
    {"revoke_session", "revoke the newest active session at fakeidp",
     true_parse, hx_step_revoke_session_run},
    {"sign_out", "sign out: true (GET /logout) or {path, method, form} or {path, next_action}",
     hx_step_sign_out_parse, hx_step_sign_out_run},
    {"idp_settings", "change fakeidp settings",
     hx_step_idp_settings_parse, hx_step_idp_settings_run},
    {"app", "restart the reference app with changed knobs",
     hx_step_app_parse, hx_step_app_run},
    {"restart_app", "restart an external app the harness started (true or {env})",
     hx_step_restart_app_parse, hx_step_restart_app_run},
    {"browser", "change browser knobs",
     hx_step_browser_parse, hx_step_browser_run},
    {"clear_cookies", "empty the cookie jar",
     true_parse, hx_step_clear_cookies_run},
    {"tamper_cookie", "corrupt a cookie in the jar ({name, mode})",
     hx_step_tamper_cookie_parse, hx_step_tamper_cookie_run},
    {"convex_query", "a Convex query with the configured adapter",
     true_parse, hx_step_convex_query_run},
    {"present_token", "send a forged access token to a backend path ({to, forge})",
     hx_step_present_token_parse, hx_step_present_token_run},
    {"forge_session_cookie", "re-seal wos-session around a forged access token ({forge})",
     hx_step_forge_session_cookie_parse, hx_step_forge_session_cookie_run},
    {"spa_sign_in", "sign in through the SPA client (authkit-js model)",
     hx_step_spa_sign_in_parse, hx_step_spa_sign_in_run},
    {"spa_reload", "reload a tab of the SPA (true: the main tab)",
     hx_step_tab_parse, hx_step_spa_reload_run},
    {"spa_wait", "let time pass with the SPA's refresh timers running",
     hx_step_duration_parse, hx_step_spa_wait_run},
    {"spa_tab", "open, hide, show or close a tab ({\"open\": \"t2\"})",
     hx_step_spa_tab_parse, hx_step_spa_tab_run},
    {"spa_call", "getAccessToken and a backend (Convex) call from a tab",
     hx_step_tab_parse, hx_step_spa_call_run},
    {"parallel", "run steps at once (optional \"barrier\" at fakeidp)",
     parallel_parse, r_parallel},
    {"repeat", "run steps N times ({times, steps})",
     repeat_parse, r_repeat},
    {"expect", "check expectations now",
     expect_parse, r_expect},
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
    if (!json_is_object(barrier))
        return hx_check_fail(check, child, false, "barrier is a fault rule object");
    json_t *rule = json_deep_copy(barrier);
    json_object_set_new(rule, "action", json_string("barrier"));
    struct hx_step scratch;
    memset(&scratch, 0, sizeof(scratch));
    enum idp_status st = hx_step_fault_parse(check, rule, child, &scratch);
    json_decref(rule);
    return st;
}

/* One step object: its kind, its modifiers, then its kind's value. */
static enum idp_status step_parse(struct hx_check *check, const json_t *step, const char *path,
                                  struct hx_step *out)
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
    out->kind = kind->name;
    out->row = kind;
    out->value = json_object_get(step, kind->name);
    out->note = json_string_value(json_object_get(step, "note"));
    out->at = json_string_value(json_object_get(step, "at"));
    out->instance = (int)json_integer_value(json_object_get(step, "instance"));
    out->backend = json_string_value(json_object_get(step, "backend"));
    out->barrier = json_object_get(step, "barrier");
    char child[300];
    snprintf(child, sizeof(child), "%s/%s", path, kind->name);
    return kind->parse(check, out->value, child, out);
}

bool hx_step_run(struct hx_run *run, const struct hx_step *step)
{
    const struct step_kind *k = step->row;
    char where[64];
    snprintf(where, sizeof(where), "step %d (%s)", step->index, k->name);
    if (hx_run_out_of_time(run, where))
        return false;
    if (step->note)
        hx_run_note(run, "note", "%s", step->note);
    bool spa = strncmp(k->name, "spa_", 4) == 0;
    if (spa)
        pthread_mutex_lock(&run->spa_lock);
    /* "instance": the balancer sends this step's requests there. */
    int pinned = hx_browser_pin_instance(step->instance);
    bool go_on = k->run(run, step);
    hx_browser_pin_instance(pinned);
    if (spa)
        pthread_mutex_unlock(&run->spa_lock);
    /* Leaf steps bring what fakeidp saw into the timeline. */
    if (k->run != r_parallel && k->run != r_repeat)
        hx_run_sync_journal(run);
    return go_on;
}

json_t *hx_step_kinds(void)
{
    json_t *out = json_object();
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        json_object_set_new(out, kinds[i].name, json_string(kinds[i].summary));
    return out;
}
