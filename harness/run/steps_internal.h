/* What the pieces of the step table share. The table itself (one row per
 * step kind: {name, help, parse, run}) is in steps.c; each row's
 * functions live in the file of its family, declared here:
 *
 *   steps_location.c  where a step acts (locations, the origin of "at")
 *   steps_browser.c   sign-in and sign-out, loads, fetches, navigations,
 *                     form posts, browser knobs, the cookie jar
 *   steps_idp.c       fakeidp and its clock: time, faults, keys, sessions,
 *                     settings
 *   steps_app.c       the app under test: knobs, restarts
 *   steps_spa.c       the SPA client's steps
 *   steps_backend.c   backend calls and forged tokens
 *
 * Each row parses its kind's value into a struct hx_step (lang/step.h)
 * when the scenario is loaded, and runs that struct.
 *
 * The control steps (parallel, repeat, expect) run other steps and stay in
 * steps.c. Family files call the run context (run.h) and steps_location.c,
 * never steps.c. */
#ifndef HX_STEPS_INTERNAL_H
#define HX_STEPS_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "check.h"
#include "run.h"
#include "steps.h"

/* Checks a step's value (value: the member named for the kind; path: its
 * JSON pointer) and fills out's typed fields from it: the one reading of
 * the value. */
typedef enum idp_status hx_step_parse_fn(struct hx_check *check, const json_t *value,
                                         const char *path, struct hx_step *out);
/* Runs a parsed step. Returns false when the run cannot go on. */
typedef bool hx_step_run_fn(struct hx_run *run, const struct hx_step *step);

/* steps_location.c */
/* Whether value is a location (hx_step_location_ok), with the message lint
 * prints; location_parse also keeps it (load, reload, api). */
enum idp_status hx_step_location_check(struct hx_check *check, const json_t *value, const char *path);
hx_step_parse_fn hx_step_location_parse;
/* The origin a step works on: the target's, or its "at" (an app's name or a
 * URL's origin). Fails the run and returns false when "at" reaches nothing. */
bool hx_step_origin(struct hx_run *run, const struct hx_step *step, char *out, size_t size);

/* steps_browser.c */
hx_step_parse_fn hx_step_sign_in_parse, hx_step_sign_out_parse, hx_step_navigate_parse,
    hx_step_form_post_parse, hx_step_browser_parse, hx_step_tamper_cookie_parse;
hx_step_run_fn hx_step_sign_in_run, hx_step_load_run, hx_step_api_run, hx_step_navigate_run,
    hx_step_form_post_run, hx_step_sign_out_run, hx_step_browser_run, hx_step_clear_cookies_run,
    hx_step_tamper_cookie_run;

/* steps_idp.c */
hx_step_parse_fn hx_step_duration_parse, hx_step_fault_parse, hx_step_remove_fault_parse,
    hx_step_rotate_keys_parse, hx_step_idp_settings_parse;
hx_step_run_fn hx_step_advance_run, hx_step_fault_run, hx_step_remove_fault_run,
    hx_step_clear_faults_run, hx_step_rotate_keys_run, hx_step_revoke_session_run,
    hx_step_idp_settings_run;

/* steps_app.c */
hx_step_parse_fn hx_step_app_parse, hx_step_restart_app_parse;
hx_step_run_fn hx_step_app_run, hx_step_restart_app_run;

/* steps_spa.c */
/* true (the main tab) or a tab's name. */
hx_step_parse_fn hx_step_spa_sign_in_parse, hx_step_tab_parse, hx_step_spa_tab_parse;
hx_step_run_fn hx_step_spa_sign_in_run, hx_step_spa_reload_run, hx_step_spa_wait_run,
    hx_step_spa_tab_run, hx_step_spa_call_run;

/* steps_backend.c */
hx_step_parse_fn hx_step_present_token_parse, hx_step_forge_session_cookie_parse;
hx_step_run_fn hx_step_convex_query_run, hx_step_present_token_run,
    hx_step_forge_session_cookie_run;

#endif
