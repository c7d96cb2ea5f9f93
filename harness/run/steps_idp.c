/* The steps at fakeidp and its clock: advance virtual time, add, remove
 * and clear fault rules, rotate the signing key, revoke a session, change
 * settings. Rows in steps.c's table. */
#include "steps_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "faults.h"
#include "settings.h"

/* ---- virtual time ------------------------------------------------------- */

/* advance, spa_wait: a duration ("5m", "1h30m", "250ms"). */
enum idp_status hx_step_duration_parse(struct hx_check *c, const json_t *v, const char *path,
                                       struct hx_step *out)
{
    return hx_check_duration_ms(c, v, path, &out->as.duration_ms);
}

bool hx_step_advance_run(struct hx_run *run, const struct hx_step *step)
{
    bool ok = hx_run_advance(run, step->as.duration_ms);
    char text[32];
    idp_duration_format(step->as.duration_ms, text);
    hx_run_note(run, "step", "advance %s", text);
    return ok;
}

/* ---- fault rules -------------------------------------------------------- */

enum idp_status hx_step_fault_parse(struct hx_check *c, const json_t *v, const char *path,
                                    struct hx_step *out)
{
    (void)out; /* the rule goes to fakeidp as written */
    struct idp_faults scratch;
    idp_faults_init(&scratch);
    struct idp_error e;
    enum idp_status st = idp_faults_add(&scratch, v, 0, NULL, 0, &e);
    idp_faults_cleanup(&scratch);
    return st ? hx_check_error(c, path, &e) : IDP_OK;
}

bool hx_step_fault_run(struct hx_run *run, const struct hx_step *step)
{
    const json_t *v = step->value;
    long status = 0;
    json_t *reply = hx_run_admin(run, "POST", "/_fakeidp/faults", v, &status);
    char *text = json_dumps(v, JSON_COMPACT);
    hx_run_note(run, "step", "fault %s -> %ld", text ? text : "", status);
    free(text);
    json_decref(reply);
    if (status != 201)
        hx_run_fail(run, "fault was refused by fakeidp (%ld)", status);
    return status == 201;
}

enum idp_status hx_step_remove_fault_parse(struct hx_check *c, const json_t *v, const char *path,
                                           struct hx_step *out)
{
    out->as.fault_id = json_string_value(v);
    if (!json_is_string(v) || !json_string_length(v))
        return hx_check_fail(c, path, false, "remove_fault takes the id a fault was given (\"id\")");
    return IDP_OK;
}

bool hx_step_remove_fault_run(struct hx_run *run, const struct hx_step *step)
{
    const char *id = step->as.fault_id;
    char path[200];
    snprintf(path, sizeof(path), "/_fakeidp/faults/%s", id);
    long status = 0;
    json_decref(hx_run_admin(run, "DELETE", path, NULL, &status));
    hx_run_note(run, "step", "fault %s removed", id);
    if (status != 200)
        hx_run_fail(run, "remove_fault: fakeidp has no fault \"%s\" (%ld)", id, status);
    return status == 200;
}

bool hx_step_clear_faults_run(struct hx_run *run, const struct hx_step *step)
{
    json_decref(hx_run_admin(run, "DELETE", "/_fakeidp/faults", NULL, NULL));
    hx_run_note(run, "step", "faults cleared");
    (void)step;
    return true;
}

/* ---- keys, sessions, settings ------------------------------------------- */

enum idp_status hx_step_rotate_keys_parse(struct hx_check *c, const json_t *v, const char *path,
                                          struct hx_step *out)
{
    (void)out; /* the times go to fakeidp as written */
    static const char *const keys[] = {"publish_lead", "retire_after", NULL};
    if (json_is_true(v))
        return IDP_OK;
    enum idp_status st = hx_check_keys(c, v, path, keys, "rotate_keys");
    const char *name;
    json_t *d;
    json_object_foreach((json_t *)v, name, d) {
        char child[300];
        snprintf(child, sizeof(child), "%s/%s", path, name);
        if (!st)
            st = hx_check_duration(c, d, child);
    }
    return st;
}

bool hx_step_rotate_keys_run(struct hx_run *run, const struct hx_step *step)
{
    long status = 0;
    json_t *body = json_is_object(step->value) ? json_incref((json_t *)step->value) : json_object();
    json_t *reply = hx_run_admin(run, "POST", "/_fakeidp/keys/rotate", body, &status);
    json_decref(body);
    hx_run_note(run, "step", "rotate keys -> %zu keys", json_array_size(json_object_get(reply, "keys")));
    json_decref(reply);
    return status == 200;
}

bool hx_step_revoke_session_run(struct hx_run *run, const struct hx_step *step)
{
    json_t *sessions = hx_run_admin(run, "GET", "/_fakeidp/sessions", NULL, NULL);
    const char *id = NULL;
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(sessions, "data"), i, s) {
        if (!id && strcmp(json_string_value(json_object_get(s, "status")), "active") == 0)
            id = json_string_value(json_object_get(s, "id"));
    }
    if (!id) {
        hx_run_fail(run, "revoke_session: no active session at fakeidp");
        json_decref(sessions);
        return true;
    }
    char path[200];
    snprintf(path, sizeof(path), "/_fakeidp/sessions/%s/revoke", id);
    json_decref(hx_run_admin(run, "POST", path, NULL, NULL));
    hx_run_note(run, "step", "revoke session %s", id);
    json_decref(sessions);
    (void)step;
    return true;
}

enum idp_status hx_step_idp_settings_parse(struct hx_check *c, const json_t *v, const char *path,
                                           struct hx_step *out)
{
    (void)out; /* the settings go to fakeidp as written */
    struct idp_settings scratch;
    idp_settings_defaults(&scratch);
    struct idp_error e;
    if (!json_is_object(v))
        return hx_check_fail(c, path, false, "expected an object of settings");
    return idp_settings_apply(&scratch, v, &e) ? hx_check_error(c, path, &e) : IDP_OK;
}

bool hx_step_idp_settings_run(struct hx_run *run, const struct hx_step *step)
{
    const json_t *v = step->value;
    long status = 0;
    json_decref(hx_run_admin(run, "PATCH", "/_fakeidp/settings", v, &status));
    char *text = json_dumps(v, JSON_COMPACT);
    hx_run_note(run, "step", "idp settings %s", text ? text : "");
    free(text);
    if (status != 200)
        hx_run_fail(run, "idp_settings refused (%ld)", status);
    return status == 200;
}
