/* The SPA client model (spa.h): its knobs, the refresh timer's
 * arithmetic, tabs, the refresh token's storage, refreshes and page loads;
 * spa_steps.c has the steps that drive it. Time: the tab's clock is the
 * browser's (true virtual time plus the client offset); timers run by
 * advancing the virtual clock from one due refresh to the next. */
#include "spa_internal.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "knobs.h"
#include "run.h"
#include "verifier.h"

static const char *const dev_modes[] = {"auto", "on", "off", NULL};
static const char *const guards[] = {"fixed", "buggy", NULL};
static const char *const token_error_modes[] = {"retry", "null", NULL};

#define KNOB(f) offsetof(struct hx_spa_knobs, f), sizeof(((struct hx_spa_knobs *)0)->f)
static const struct idp_knob knob_table[] = {
    {"dev_mode", IDP_KNOB_CHOICE, KNOB(dev_mode), dev_modes},
    {"refresh_buffer", IDP_KNOB_DURATION, KNOB(refresh_buffer_ms), NULL},
    {"lock", IDP_KNOB_BOOLEAN, KNOB(lock), NULL},
    {"transient_keeps_session", IDP_KNOB_BOOLEAN, KNOB(transient_keeps), NULL},
    {"relative_expiry", IDP_KNOB_BOOLEAN, KNOB(relative_expiry), NULL},
    {"pause_hidden", IDP_KNOB_BOOLEAN, KNOB(pause_hidden), NULL},
    {"refresh_on_focus", IDP_KNOB_BOOLEAN, KNOB(refresh_on_focus), NULL},
    {"loading_guard", IDP_KNOB_CHOICE, KNOB(loading_guard), guards},
    {"token_errors", IDP_KNOB_CHOICE, KNOB(token_errors), token_error_modes},
    {"reschedule", IDP_KNOB_BOOLEAN, KNOB(reschedule), NULL},
    {"timer_overflow", IDP_KNOB_CHOICE, KNOB(timer_overflow), guards},
    {"min_delay", IDP_KNOB_DURATION, KNOB(min_delay_ms), NULL},
};
#undef KNOB

void hx_spa_knobs_defaults(struct hx_spa_knobs *k)
{
    memset(k, 0, sizeof(*k));
    k->dev_mode = HX_SPA_DEV_AUTO;
    k->refresh_buffer_ms = 10000;
    k->lock = true;
    k->transient_keeps = true;
    k->relative_expiry = true;
    k->pause_hidden = true;
    k->refresh_on_focus = true;
    k->reschedule = true;
}

json_t *hx_spa_knob_names(void)
{
    return idp_knobs_names(knob_table, sizeof(knob_table) / sizeof(knob_table[0]));
}

enum idp_status hx_spa_knobs_apply(struct hx_spa_knobs *knobs, const json_t *obj,
                                   const char **bad_key, struct idp_error *err)
{
    return idp_knobs_apply(knob_table, sizeof(knob_table) / sizeof(knob_table[0]), knobs,
                           sizeof(*knobs), obj, "spa knob", bad_key, err);
}

struct hx_spa_timer hx_spa_timer_plan(const struct hx_spa_knobs *knobs, int64_t delay_ms)
{
    struct hx_spa_timer plan = {HX_SPA_TIMER_ON_TIME, delay_ms > 0 ? delay_ms : 0};
    if (knobs->min_delay_ms > 0 && delay_ms < knobs->min_delay_ms)
        plan = (struct hx_spa_timer){HX_SPA_TIMER_CLAMPED, knobs->min_delay_ms};
    if (plan.fire_in_ms <= HX_SPA_TIMER_MAX_MS)
        return plan;
    if (knobs->timer_overflow == 0) {
        plan.kind = HX_SPA_TIMER_CAPPED; /* fires at the cap, sees it is early, arms again */
        return plan;
    }
    /* setTimeout's delay is a WebIDL long: the value modulo 2^32, the upper
     * half read as negative, and a negative delay is 0 (HTML timer steps). */
    uint32_t low = (uint32_t)((uint64_t)plan.fire_in_ms & 0xffffffffu);
    plan.kind = HX_SPA_TIMER_WRAPPED;
    plan.fire_in_ms = low > (uint32_t)HX_SPA_TIMER_MAX_MS ? 0 : (int64_t)low;
    return plan;
}

struct hx_spa_timer hx_spa_timer_arm(const struct hx_spa_knobs *knobs, struct hx_spa_tab *tab, int64_t now_ms)
{
    struct hx_spa_timer plan = hx_spa_timer_plan(knobs, tab->expires_at - knobs->refresh_buffer_ms - now_ms);
    tab->timer_armed = true;
    tab->timer_at = now_ms + plan.fire_in_ms;
    tab->timer_late = plan.fire_in_ms > 0 && tab->timer_at > tab->expires_at;
    return plan;
}

void hx_spa_timer_fired(const struct hx_spa_knobs *knobs, struct hx_spa_tab *tab)
{
    tab->timer_armed = knobs->reschedule;
}

void hx_spa_note(struct hx_run *run, const char *tab, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    hx_run_vnote(run, "spa",
                 tab ? json_pack("{s:s, s:o}", "tab", tab, "component", json_sprintf("spa/%s", tab)) : NULL,
                 fmt, ap);
    va_end(ap);
}

void spa_degrade(struct hx_run *run, const char *tab, const char *why)
{
    pthread_mutex_lock(&run->lock);
    if (!run->spa.degraded)
        snprintf(run->spa.degraded_why, sizeof(run->spa.degraded_why), "%s: %s", tab, why);
    run->spa.degraded = true;
    pthread_mutex_unlock(&run->lock);
}

struct hx_spa_tab *spa_tab_named(struct hx_run *run, const char *name, bool create)
{
    struct hx_spa *spa = &run->spa;
    for (int i = 0; i < HX_SPA_TABS; i++)
        if (spa->tabs[i].open && strcmp(spa->tabs[i].name, name) == 0)
            return &spa->tabs[i];
    if (!create)
        return NULL;
    for (int i = 0; i < HX_SPA_TABS; i++) {
        if (!spa->tabs[i].open) {
            memset(&spa->tabs[i], 0, sizeof(spa->tabs[i]));
            snprintf(spa->tabs[i].name, sizeof(spa->tabs[i].name), "%s", name);
            spa->tabs[i].open = true;
            return &spa->tabs[i];
        }
    }
    return NULL;
}

static void storage_key(struct hx_run *run, char *out, size_t size)
{
    snprintf(out, size, "workos:refresh-token:%s", run->client_id);
}

const char *spa_storage_get(struct hx_run *run)
{
    char key[160];
    storage_key(run, key, sizeof(key));
    return json_string_value(json_object_get(json_object_get(run->browser.local_storage, run->app_origin), key));
}

static void storage_set(struct hx_run *run, const char *value)
{
    char key[160];
    storage_key(run, key, sizeof(key));
    pthread_mutex_lock(&run->browser.lock);
    json_t *items = json_object_get(run->browser.local_storage, run->app_origin);
    if (!items)
        json_object_set_new(run->browser.local_storage, run->app_origin, items = json_object());
    if (value)
        json_object_set_new(items, key, json_string(value));
    else
        json_object_del(items, key);
    pthread_mutex_unlock(&run->browser.lock);
}

/* document.cookie on the app's origin lists workos-has-session with our client. */
static bool has_session_marker(struct hx_run *run)
{
    char *cookies = hx_browser_document_cookie(&run->browser, run->app_origin);
    bool found = cookies && strstr(cookies, "workos-has-session=") && strstr(cookies, run->client_id);
    free(cookies);
    return found;
}

int64_t spa_local_now(struct hx_run *run)
{
    return hx_browser_now(&run->browser);
}

long spa_idp_post(struct hx_run *run, json_t *body, json_t **reply, char *error, size_t size)
{
    char url[400], initiator[400];
    snprintf(url, sizeof(url), "%s/user_management/authenticate", run->idp_public_url);
    snprintf(initiator, sizeof(initiator), "%s/spa", run->app_origin);
    char *text = json_dumps(body, JSON_COMPACT);
    static const char *const headers[] = {"Content-Type: application/json", NULL};
    struct hx_navigation nav = {.method = "POST", .url = url, .body = text, .headers = headers,
                                .subrequest = true, .initiator = initiator,
                                .credentials = !run->spa.dev_mode};
    struct hx_page page;
    hx_browser_go(&run->browser, &nav, &page);
    *reply = page.body ? json_loadb(page.body, strlen(page.body), 0, NULL) : NULL;
    snprintf(error, size, "%s", page.error[0] ? page.error : "");
    long status = page.status;
    hx_page_cleanup(&page);
    free(text);
    return status;
}

void spa_signed_duration(int64_t ms, char out[33])
{
    char text[32];
    idp_duration_format(ms < 0 ? -ms : ms, text);
    snprintf(out, 33, "%s%s", ms < 0 ? "-" : "", text);
}

void spa_arm_timer(struct hx_run *run, struct hx_spa_tab *tab)
{
    const struct hx_spa_knobs *k = &run->spa.knobs;
    int64_t now = spa_local_now(run);
    int64_t delay = tab->expires_at - k->refresh_buffer_ms - now;
    struct hx_spa_timer plan = hx_spa_timer_arm(k, tab, now);
    bool short_lived = plan.kind == HX_SPA_TIMER_ON_TIME && delay <= 0 && tab->lifetime_ms <= k->refresh_buffer_ms;
    /* What is worth telling (a kind other than ON_TIME, or -1: due at once
     * for a short-lived token), told again only when it changes: a storm of
     * refreshes arms the timer the same way every second. */
    int told = short_lived ? -1 : (int)plan.kind;
    bool tell = told && told != tab->timer_told;
    tab->timer_told = told;
    if (!tell)
        return;
    char wanted[33], fires[33], floor[33], late[33];
    spa_signed_duration(delay, wanted);
    spa_signed_duration(plan.fire_in_ms, fires);
    spa_signed_duration(k->min_delay_ms, floor);
    spa_signed_duration(tab->timer_at - tab->expires_at, late);
    if (plan.kind == HX_SPA_TIMER_WRAPPED)
        hx_spa_note(run, tab->name, "timer: delay %s (%lld ms) exceeds 2^31-1 ms: setTimeout wraps it to "
                    "%lld ms%s", wanted, (long long)delay, (long long)plan.fire_in_ms,
                    plan.fire_in_ms ? "" : ", fires at once");
    else if (plan.kind == HX_SPA_TIMER_CAPPED)
        hx_spa_note(run, tab->name, "timer: delay %s (%lld ms) exceeds 2^31-1 ms: capped and armed again "
                    "until due, fires in %s", wanted, (long long)delay, fires);
    else if (plan.kind == HX_SPA_TIMER_CLAMPED)
        hx_spa_note(run, tab->name, "timer: delay %s is below min_delay %s: waits %s%s%s%s", wanted, floor,
                    fires, tab->timer_late ? " (the token expires " : "", tab->timer_late ? late : "",
                    tab->timer_late ? " before it fires)" : "");
    else {
        char lives[33], buffer[33];
        spa_signed_duration(tab->lifetime_ms, lives);
        spa_signed_duration(k->refresh_buffer_ms, buffer);
        hx_spa_note(run, tab->name, "timer: the token lives %s, no longer than refresh_buffer %s: due at "
                    "once, every second", lives, buffer);
    }
}

void spa_take_tokens(struct hx_run *run, struct hx_spa_tab *tab, const json_t *reply)
{
    const char *at = json_string_value(json_object_get(reply, "access_token"));
    const char *rt = json_string_value(json_object_get(reply, "refresh_token"));
    snprintf(tab->access_token, sizeof(tab->access_token), "%s", at ? at : "");
    json_t *claims = hx_token_claims(at);
    json_int_t exp = json_integer_value(json_object_get(claims, "exp"));
    json_int_t iat = json_integer_value(json_object_get(claims, "iat"));
    json_decref(claims);
    tab->lifetime_ms = (exp - iat) * 1000;
    tab->expires_at =
        run->spa.knobs.relative_expiry ? spa_local_now(run) + tab->lifetime_ms : exp * 1000;
    tab->expiry_noted = false;
    tab->authenticated = true;
    if (run->spa.dev_mode && rt)
        storage_set(run, rt);
    if (tab->timer_armed)
        spa_arm_timer(run, tab);
}

/* One refresh for a tab; `token` is the devMode refresh token it read. */
static enum spa_refresh_outcome refresh_in_tab(struct hx_run *run, struct hx_spa_tab *tab,
                                               const char *token)
{
    json_t *body = json_pack("{s:s, s:s}", "client_id", run->client_id, "grant_type", "refresh_token");
    if (run->spa.dev_mode) {
        if (!token) {
            json_decref(body);
            hx_spa_note(run, tab->name, "no refresh token in localStorage");
            tab->authenticated = false;
            return SPA_TERMINAL;
        }
        json_object_set_new(body, "refresh_token", json_string(token));
    }
    json_t *reply = NULL;
    char error[256];
    long status = spa_idp_post(run, body, &reply, error, sizeof(error));
    json_decref(body);
    run->spa.refreshes++;
    enum spa_refresh_outcome outcome;
    if (status == 200 && json_string_value(json_object_get(reply, "access_token"))) {
        hx_spa_note(run, tab->name, "refreshed");
        spa_take_tokens(run, tab, reply);
        outcome = SPA_REFRESHED;
    } else if (status == 0 || status == 408 || status == 429 || status >= 500) {
        outcome = SPA_TRANSIENT;
        hx_spa_note(run, tab->name, "refresh failed %ld %s (transient)", status, error);
        if (!run->spa.knobs.transient_keeps) {
            hx_spa_note(run, tab->name, "RefreshError: session data removed");
            tab->authenticated = false;
            tab->access_token[0] = '\0';
            if (run->spa.dev_mode)
                storage_set(run, NULL);
            outcome = SPA_TERMINAL;
        }
    } else {
        const char *e = json_string_value(json_object_get(reply, "error"));
        const char *d = json_string_value(json_object_get(reply, "error_description"));
        hx_spa_note(run, tab->name, "refresh failed %ld %s %s: session data removed", status,
                    e ? e : "", d ? d : "");
        tab->authenticated = false;
        tab->access_token[0] = '\0';
        if (run->spa.dev_mode)
            storage_set(run, NULL);
        outcome = SPA_TERMINAL;
    }
    json_decref(reply);
    return outcome;
}

enum spa_refresh_outcome spa_refresh_with(struct hx_run *run, struct hx_spa_tab *tab, const char *token)
{
    const char *outer = hx_timeline_tab_current();
    hx_timeline_tab_set(tab->name);
    enum spa_refresh_outcome outcome = refresh_in_tab(run, tab, token);
    hx_timeline_tab_set(outer);
    return outcome;
}

enum spa_refresh_outcome spa_refresh(struct hx_run *run, struct hx_spa_tab *tab)
{
    const char *stored = spa_storage_get(run);
    char token[128] = "";
    if (stored)
        snprintf(token, sizeof(token), "%s", stored);
    return spa_refresh_with(run, tab, stored ? token : NULL);
}

void spa_init_mode(struct hx_run *run)
{
    struct hx_spa *spa = &run->spa;
    if (spa->knobs.dev_mode == HX_SPA_DEV_ON)
        spa->dev_mode = true;
    else if (spa->knobs.dev_mode == HX_SPA_DEV_OFF)
        spa->dev_mode = false;
    else
        spa->dev_mode = strcmp(run->browser.knobs.app_host, "localhost") == 0 ||
                        strcmp(run->browser.knobs.app_host, "127.0.0.1") == 0;
}

/* Page load of a tab: authkit-js refreshes only with a devMode token or the
 * workos-has-session marker; the adapter's guard decides what the user sees
 * while that first refresh is in flight. */
static void boot_in_tab(struct hx_run *run, struct hx_spa_tab *tab)
{
    spa_init_mode(run);
    tab->authenticated = false;
    tab->access_token[0] = '\0';
    char site[256];
    struct hx_url app;
    if (hx_url_parse(run->app_origin, &app)) {
        hx_url_site(&app, site, sizeof(site));
        pthread_mutex_lock(&run->browser.lock);
        json_object_set_new(run->browser.last_visit, site, json_integer(idp_clock_now_ms(&run->clock)));
        pthread_mutex_unlock(&run->browser.lock);
    }
    bool try_refresh = run->spa.dev_mode ? spa_storage_get(run) != NULL : has_session_marker(run);
    /* A page load starts the refresh timer afresh (authkit-js initialize()):
     * a timer that stopped after its refresh (reschedule false) runs again. */
    tab->timer_armed = try_refresh;
    tab->timer_told = 0;
    if (!try_refresh) {
        hx_spa_note(run, tab->name, "loaded signed out (%s)",
                    run->spa.dev_mode ? "no refresh token in localStorage"
                                      : "no workos-has-session cookie visible to the app");
        return;
    }
    if (run->spa.knobs.loading_guard == 1) {
        spa_degrade(run, tab->name,
                    "the guard redirected to sign-in while the first token was in flight");
        hx_spa_note(run, tab->name, "adapter reported {isLoading:false, isAuthenticated:false} while the "
                    "first token was in flight: the guard redirected to sign-in");
        spa_refresh(run, tab);
        tab->authenticated = false;
        return;
    }
    spa_refresh(run, tab);
}

void spa_boot(struct hx_run *run, struct hx_spa_tab *tab)
{
    const char *outer = hx_timeline_tab_current();
    hx_timeline_tab_set(tab->name);
    boot_in_tab(run, tab);
    hx_timeline_tab_set(outer);
}

int hx_spa_tab_authenticated(struct hx_run *run, const char *name)
{
    struct hx_spa_tab *tab = spa_tab_named(run, name, false);
    return tab ? tab->authenticated : -1;
}
