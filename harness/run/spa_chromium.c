/* The SPA steps in the Chromium engine: the real @workos-inc/authkit-js
 * (pinned in harness/chromium/package-lock.json) runs in a tab per SPA tab,
 * on a page the driver serves at the app's /spa and /spa/callback. Its
 * state (signed in or not) is read back into run->spa, so the expectations
 * read the same fields as with the model. Knobs of the SPA model that stand
 * for other SDK versions or app code (lock, loading_guard, token_errors ...)
 * do not apply: the real SDK is what it is (docs/browser.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "duration.h"
#include "run.h"
#include "spa.h"
#include "url.h"

static json_t *config(struct hx_run *run)
{
    struct hx_url idp;
    hx_url_parse(run->idp_public_url, &idp);
    char redirect[400];
    snprintf(redirect, sizeof(redirect), "%s/spa/callback", run->app_origin);
    int mode = run->spa.knobs.dev_mode;
    return json_pack("{s:s, s:s, s:s, s:i, s:b, s:s, s:o}", "appOrigin", run->app_origin, "clientId",
                     run->client_id, "apiHostname", idp.host, "port", idp.port, "https",
                     strcmp(idp.scheme, "https") == 0, "redirectUri", redirect, "devMode",
                     mode == HX_SPA_DEV_AUTO ? json_null() : json_boolean(mode == HX_SPA_DEV_ON));
}

/* One SPA request to the driver; NULL (the run is broken) when it failed. */
static json_t *spa_call(struct hx_run *run, const char *action, const char *tab)
{
    json_t *request = json_pack("{s:s, s:s, s:s, s:o}", "op", "spa", "action", action, "tab", tab,
                                "config", config(run));
    char why[1024];
    json_t *answer = hx_browser_engine_call(&run->browser, request, why, sizeof(why));
    if (!answer)
        hx_run_broken(run, "spa (%s, tab %s): the Chromium engine failed: %s", action, tab, why);
    return answer;
}

static struct hx_spa_tab *tab_slot(struct hx_run *run, const char *name, bool create)
{
    for (int i = 0; i < HX_SPA_TABS; i++)
        if (run->spa.tabs[i].open && strcmp(run->spa.tabs[i].name, name) == 0)
            return &run->spa.tabs[i];
    for (int i = 0; create && i < HX_SPA_TABS; i++)
        if (!run->spa.tabs[i].open) {
            memset(&run->spa.tabs[i], 0, sizeof(run->spa.tabs[i]));
            snprintf(run->spa.tabs[i].name, sizeof(run->spa.tabs[i].name), "%s", name);
            run->spa.tabs[i].open = true;
            return &run->spa.tabs[i];
        }
    return NULL;
}

/* Copies what the page shows into the tab and the run's observation. */
static void take_state(struct hx_run *run, struct hx_spa_tab *tab, const json_t *state)
{
    tab->authenticated = json_is_true(json_object_get(state, "authenticated"));
    pthread_mutex_lock(&run->lock);
    run->last.valid = true;
    run->last.signed_in = tab->authenticated;
    run->last.status = tab->authenticated ? 200 : 401;
    if (tab->authenticated) {
        run->ever_signed_in = true;
        run->lost_at_ms = 0;
    } else if (run->ever_signed_in && !run->lost_at_ms) {
        run->lost_at_ms = hx_run_now(run);
    }
    pthread_mutex_unlock(&run->lock);
}

/* Why a tab loaded signed out, in the words of the model where the SDK's
 * own check is the same (authkit-js refreshes on load only when
 * workos-has-session is visible, or with a refresh token in devMode). */
static void note_signed_out(struct hx_run *run, const char *tab, const json_t *state)
{
    if (json_is_true(json_object_get(state, "authenticated")))
        return;
    const char *error = json_string_value(json_object_get(state, "sdk_error"));
    if (error && *error)
        hx_spa_note(run, tab, "authkit-js: %s", error);
    else if (!json_is_true(json_object_get(state, "has_session_cookie")))
        hx_spa_note(run, tab, "loaded signed out (no workos-has-session cookie visible to the app, "
                    "and no refresh token in localStorage)");
}

bool hx_spa_chromium_sign_in(struct hx_run *run, const char *email)
{
    if (email) {
        json_t *body = json_pack("{s:s}", "email", email);
        json_decref(hx_run_admin(run, "POST", "/_fakeidp/sign-in-as", body, NULL));
        json_decref(body);
    }
    json_t *state = spa_call(run, "sign_in", "main");
    struct hx_spa_tab *tab = tab_slot(run, "main", true);
    if (!state || !tab)
        return false;
    const char *error = json_string_value(json_object_get(state, "sdk_error"));
    if (error && *error && !json_is_true(json_object_get(state, "secure_context")))
        hx_spa_note(run, tab->name, "sign in: TypeError: crypto.subtle is undefined on %s (not a secure "
                    "context), authkit-js cannot start sign-in (%s)", run->app_origin, error);
    else if (error && *error)
        hx_spa_note(run, tab->name, "sign in: %s", error);
    take_state(run, tab, state);
    hx_spa_note(run, tab->name, "sign in (authkit-js in Chromium): %s",
                tab->authenticated ? "signed in" : "not signed in");
    if (tab->authenticated) {
        json_t *journal = hx_run_admin(run, "GET", "/_fakeidp/journal", NULL, NULL);
        run->journal_mark = (uint64_t)json_integer_value(json_object_get(journal, "next"));
        json_decref(journal);
    }
    json_decref(state);
    return true;
}

bool hx_spa_chromium_reload(struct hx_run *run, const char *name)
{
    json_t *state = spa_call(run, "load", name);
    struct hx_spa_tab *tab = tab_slot(run, name, true);
    if (!state || !tab)
        return false;
    take_state(run, tab, state);
    note_signed_out(run, name, state);
    hx_spa_note(run, name, "reloaded: %s", tab->authenticated ? "signed in" : "signed out");
    json_decref(state);
    return true;
}

bool hx_spa_chromium_tab(struct hx_run *run, const char *op, const char *name)
{
    const char *action = strcmp(op, "open") == 0 ? "load" : op;
    json_t *state = spa_call(run, action, name);
    if (!state)
        return false;
    struct hx_spa_tab *tab = tab_slot(run, name, strcmp(op, "open") == 0);
    if (strcmp(op, "close") == 0) {
        if (tab)
            tab->open = false;
    } else if (tab) {
        tab->hidden = strcmp(op, "hide") == 0;
        take_state(run, tab, state);
        if (strcmp(op, "open") == 0)
            note_signed_out(run, name, state);
    }
    const char *done = strcmp(op, "open") == 0   ? "opened"
                       : strcmp(op, "hide") == 0 ? "hidden"
                       : strcmp(op, "show") == 0 ? "shown"
                                                 : "closed";
    hx_spa_note(run, name, "%s%s", done,
                tab && tab->open ? (tab->authenticated ? ": signed in" : ": signed out") : "");
    json_decref(state);
    return true;
}

/* Time passes in steps of a minute of virtual time, each followed by a
 * moment of real time in which the pages' once-a-second refresh timers see
 * the new clock and refresh (authkit-js refreshes within its buffer of the
 * expiry it read from the token). */
bool hx_spa_chromium_wait(struct hx_run *run, int64_t total)
{
    int64_t step = 60000;
    if (total / step > 30)
        step = total / 30;
    for (int64_t done = 0; done < total; done += step) {
        if (!hx_run_advance(run, total - done < step ? total - done : step))
            return false;
        usleep(1200 * 1000);
    }
    for (int i = 0; i < HX_SPA_TABS; i++) {
        struct hx_spa_tab *tab = &run->spa.tabs[i];
        if (!tab->open)
            continue;
        json_t *state = spa_call(run, "state", tab->name);
        if (!state)
            return false;
        take_state(run, tab, state);
        json_decref(state);
    }
    char text[32];
    idp_duration_format(total, text);
    hx_run_note(run, "step", "spa_wait %s (authkit-js timers in Chromium)", text);
    return true;
}

/* getAccessToken() in the tab, then a backend (Convex) call with it. */
bool hx_spa_chromium_call(struct hx_run *run, const char *name)
{
    struct hx_spa_tab *tab = tab_slot(run, name, false);
    if (!tab) {
        hx_run_fail(run, "spa_call: no tab %s", name);
        return false;
    }
    bool loaded_signed_out = !tab->authenticated;
    json_t *answer = spa_call(run, "token", name);
    if (!answer)
        return false;
    const char *token = json_string_value(json_object_get(answer, "token"));
    if (loaded_signed_out) {
        struct hx_url app;
        bool local = hx_url_parse(run->app_origin, &app) &&
                     (strcmp(app.host, "localhost") == 0 || strcmp(app.host, "127.0.0.1") == 0);
        int mode = run->spa.knobs.dev_mode;
        bool dev = mode == HX_SPA_DEV_ON || (mode == HX_SPA_DEV_AUTO && local); /* authkit-js's default */
        hx_spa_note(run, name, "getAccessToken() on a tab that loaded signed out: %s",
                    !token ? "no session"
                    : dev  ? "the refresh token in localStorage refreshed, signed in"
                           : "the session cookie refreshed, signed in");
    }
    const char *token_error = json_string_value(json_object_get(answer, "token_error"));
    if (token_error)
        hx_spa_note(run, name, "getAccessToken(): %s", token_error);
    int authenticated = 0;
    if (token) {
        char url[600], *auth = malloc(strlen(token) + 32);
        snprintf(url, sizeof(url), "%s/convex/query", run->app_origin);
        if (auth)
            snprintf(auth, strlen(token) + 32, "Authorization: Bearer %s", token);
        const char *headers[] = {auth, NULL};
        struct hx_navigation nav = {.url = url, .subrequest = true, .headers = auth ? headers : NULL};
        struct hx_page page;
        hx_browser_go(&run->browser, &nav, &page);
        authenticated = page.status == 200 && page.body && strstr(page.body, "\"subject\"");
        hx_page_cleanup(&page);
        free(auth);
    }
    hx_spa_note(run, name, "backend call %s", authenticated ? "authenticated" : "without identity");
    json_t *state = spa_call(run, "state", name);
    if (state)
        take_state(run, tab, state);
    json_decref(state);
    json_decref(answer);
    pthread_mutex_lock(&run->lock);
    run->convex_authenticated = authenticated;
    snprintf(run->convex_error, sizeof(run->convex_error), "%s", authenticated ? "" : "no identity");
    if (!authenticated && run->ever_signed_in && !run->lost_at_ms)
        run->lost_at_ms = hx_run_now(run);
    pthread_mutex_unlock(&run->lock);
    return true;
}
