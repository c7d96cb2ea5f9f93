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

bool hx_step_advance_run(struct hx_run *run, const json_t *v, const json_t *step)
{
    int64_t ms = 0;
    idp_duration_json(v, false, &ms); /* checked by lint */
    bool ok = hx_run_advance(run, ms);
    char text[32];
    idp_duration_format(ms, text);
    hx_run_note(run, "step", "advance %s", text);
    (void)step;
    return ok;
}

/* ---- fault rules -------------------------------------------------------- */

enum idp_status hx_step_fault_validate(struct hx_check *c, const json_t *v, const char *path)
{
    struct idp_faults scratch;
    idp_faults_init(&scratch);
    struct idp_error e;
    enum idp_status st = idp_faults_add(&scratch, v, 0, NULL, 0, &e);
    idp_faults_cleanup(&scratch);
    return st ? hx_check_error(c, path, &e) : IDP_OK;
}

bool hx_step_fault_run(struct hx_run *run, const json_t *v, const json_t *step)
{
    long status = 0;
    json_t *reply = hx_run_admin(run, "POST", "/_fakeidp/faults", v, &status);
    char *text = json_dumps(v, JSON_COMPACT);
    hx_run_note(run, "step", "fault %s -> %ld", text ? text : "", status);
    free(text);
    json_decref(reply);
    if (status != 201)
        hx_run_fail(run, "fault was refused by fakeidp (%ld)", status);
    (void)step;
    return status == 201;
}

enum idp_status hx_step_remove_fault_validate(struct hx_check *c, const json_t *v, const char *path)
{
    if (!json_is_string(v) || !json_string_length(v))
        return hx_check_fail(c, path, false, "remove_fault takes the id a fault was given (\"id\")");
    return IDP_OK;
}

bool hx_step_remove_fault_run(struct hx_run *run, const json_t *v, const json_t *step)
{
    char path[200];
    snprintf(path, sizeof(path), "/_fakeidp/faults/%s", json_string_value(v));
    long status = 0;
    json_decref(hx_run_admin(run, "DELETE", path, NULL, &status));
    hx_run_note(run, "step", "fault %s removed", json_string_value(v));
    if (status != 200)
        hx_run_fail(run, "remove_fault: fakeidp has no fault \"%s\" (%ld)", json_string_value(v), status);
    (void)step;
    return status == 200;
}

bool hx_step_clear_faults_run(struct hx_run *run, const json_t *v, const json_t *step)
{
    json_decref(hx_run_admin(run, "DELETE", "/_fakeidp/faults", NULL, NULL));
    hx_run_note(run, "step", "faults cleared");
    (void)v;
    (void)step;
    return true;
}

/* ---- keys, sessions, settings ------------------------------------------- */

enum idp_status hx_step_rotate_keys_validate(struct hx_check *c, const json_t *v, const char *path)
{
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

bool hx_step_rotate_keys_run(struct hx_run *run, const json_t *v, const json_t *step)
{
    long status = 0;
    json_t *body = json_is_object(v) ? json_incref((json_t *)v) : json_object();
    json_t *reply = hx_run_admin(run, "POST", "/_fakeidp/keys/rotate", body, &status);
    json_decref(body);
    hx_run_note(run, "step", "rotate keys -> %zu keys", json_array_size(json_object_get(reply, "keys")));
    json_decref(reply);
    (void)step;
    return status == 200;
}

bool hx_step_revoke_session_run(struct hx_run *run, const json_t *v, const json_t *step)
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
    (void)v;
    (void)step;
    return true;
}

enum idp_status hx_step_idp_settings_validate(struct hx_check *c, const json_t *v, const char *path)
{
    struct idp_settings scratch;
    idp_settings_defaults(&scratch);
    struct idp_error e;
    if (!json_is_object(v))
        return hx_check_fail(c, path, false, "expected an object of settings");
    return idp_settings_apply(&scratch, v, &e) ? hx_check_error(c, path, &e) : IDP_OK;
}

bool hx_step_idp_settings_run(struct hx_run *run, const json_t *v, const json_t *step)
{
    long status = 0;
    json_decref(hx_run_admin(run, "PATCH", "/_fakeidp/settings", v, &status));
    char *text = json_dumps(v, JSON_COMPACT);
    hx_run_note(run, "step", "idp settings %s", text ? text : "");
    free(text);
    if (status != 200)
        hx_run_fail(run, "idp_settings refused (%ld)", status);
    (void)step;
    return status == 200;
}
