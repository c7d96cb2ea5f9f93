/* The SPA client's steps: each runs the authkit-js model of spa.c (or the
 * real client in Chromium) in one of its tabs. Rows in steps.c's table. */
#include "steps_internal.h"

#include <stdio.h>
#include <string.h>

/* A tab's name: 1 to HX_SPA_TAB_NAME_MAX characters (the timeline and the
 * Chromium engine name tabs by it, so it is never cut). */
static enum idp_status tab_name_check(struct hx_check *c, const json_t *v, const char *path)
{
    size_t n = json_string_length(v);
    if (n == 0 || n > HX_SPA_TAB_NAME_MAX)
        return hx_check_fail(c, path, false, "a tab name has 1 to %d characters (\"%.40s%s\" has %zu)",
                             HX_SPA_TAB_NAME_MAX, json_string_value(v), n > 40 ? "..." : "", n);
    return IDP_OK;
}

/* true (the default user) or a user's email: the SPA signs in on AuthKit's
 * hosted page, so the password, magic-code and organization forms of
 * sign_in have no meaning here (the schema says the same). */
enum idp_status hx_step_spa_sign_in_parse(struct hx_check *c, const json_t *v, const char *path,
                                          struct hx_step *out)
{
    if (json_is_true(v) || (json_is_string(v) && strchr(json_string_value(v), '@')))
        return hx_step_sign_in_parse(c, v, path, out); /* its plain forms */
    return hx_check_fail(c, path, false, "spa_sign_in takes a user's email address or true (the "
                                         "default user): the SPA signs in on AuthKit's hosted page");
}

enum idp_status hx_step_tab_parse(struct hx_check *c, const json_t *v, const char *path,
                                  struct hx_step *out)
{
    out->as.tab = json_is_string(v) ? json_string_value(v) : "main";
    if (json_is_true(v))
        return IDP_OK;
    if (json_is_string(v))
        return tab_name_check(c, v, path);
    return hx_check_fail(c, path, false, "expected true (the main tab) or a tab name");
}

enum idp_status hx_step_spa_tab_parse(struct hx_check *c, const json_t *v, const char *path,
                                      struct hx_step *out)
{
    static const char *const keys[] = {"open", "hide", "show", "close", NULL};
    enum idp_status st = hx_check_keys(c, v, path, keys, "spa_tab");
    if (!st && json_object_size(v) != 1)
        st = hx_check_fail(c, path, false, "spa_tab takes one of open, hide, show, close");
    const char *key;
    json_t *name;
    json_object_foreach((json_t *)v, key, name) {
        char child[300];
        snprintf(child, sizeof(child), "%s/%s", path, key);
        if (!st && !json_is_string(name))
            st = hx_check_fail(c, path, false, "spa_tab %s takes a tab name", key);
        else if (!st)
            st = tab_name_check(c, name, child);
        out->as.spa_tab.op = key;
        out->as.spa_tab.tab = json_string_value(name);
    }
    return st;
}

bool hx_step_spa_sign_in_run(struct hx_run *run, const struct hx_step *step)
{
    return hx_spa_sign_in(run, step->as.sign_in.email);
}

bool hx_step_spa_reload_run(struct hx_run *run, const struct hx_step *step)
{
    return hx_spa_reload(run, step->as.tab);
}

bool hx_step_spa_wait_run(struct hx_run *run, const struct hx_step *step)
{
    return hx_spa_wait(run, step->as.duration_ms);
}

bool hx_step_spa_tab_run(struct hx_run *run, const struct hx_step *step)
{
    return hx_spa_tab_step(run, step->as.spa_tab.op, step->as.spa_tab.tab);
}

bool hx_step_spa_call_run(struct hx_run *run, const struct hx_step *step)
{
    return hx_spa_call(run, step->as.tab);
}
