/* The SPA client's steps: each runs the authkit-js model of spa.c (or the
 * real client in Chromium) in one of its tabs. Rows in steps.c's table. */
#include "steps_internal.h"

enum idp_status hx_step_tab_validate(struct hx_check *c, const json_t *v, const char *path)
{
    if (json_is_true(v) || json_is_string(v))
        return IDP_OK;
    return hx_check_fail(c, path, false, "expected true (the main tab) or a tab name");
}

enum idp_status hx_step_spa_tab_validate(struct hx_check *c, const json_t *v, const char *path)
{
    static const char *const keys[] = {"open", "hide", "show", "close", NULL};
    enum idp_status st = hx_check_keys(c, v, path, keys, "spa_tab");
    if (!st && json_object_size(v) != 1)
        st = hx_check_fail(c, path, false, "spa_tab takes one of open, hide, show, close");
    const char *key;
    json_t *name;
    json_object_foreach((json_t *)v, key, name) if (!st && !json_is_string(name))
        st = hx_check_fail(c, path, false, "spa_tab %s takes a tab name", key);
    return st;
}

bool hx_step_spa_sign_in_run(struct hx_run *run, const json_t *v, const json_t *step)
{
    (void)step;
    return hx_spa_sign_in(run, v);
}

bool hx_step_spa_reload_run(struct hx_run *run, const json_t *v, const json_t *step)
{
    (void)step;
    return hx_spa_reload(run, v);
}

bool hx_step_spa_wait_run(struct hx_run *run, const json_t *v, const json_t *step)
{
    (void)step;
    return hx_spa_wait(run, v);
}

bool hx_step_spa_tab_run(struct hx_run *run, const json_t *v, const json_t *step)
{
    (void)step;
    return hx_spa_tab_step(run, v);
}

bool hx_step_spa_call_run(struct hx_run *run, const json_t *v, const json_t *step)
{
    (void)step;
    return hx_spa_call(run, v);
}
