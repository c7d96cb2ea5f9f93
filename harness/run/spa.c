/* The SPA client model. See spa.h. Time: the tab's clock is the browser's
 * (true virtual time plus the client offset); timers run by advancing the
 * virtual clock from one due refresh to the next. */
#include "spa.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "encoding.h"
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

/* ---- helpers --------------------------------------------------------- */

void hx_spa_note(struct hx_run *run, const char *tab, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    hx_run_vnote(run, "spa",
                 tab ? json_pack("{s:s, s:o}", "tab", tab, "component", json_sprintf("spa/%s", tab)) : NULL,
                 fmt, ap);
    va_end(ap);
}

/* The SPA degraded (spa_degraded): the first reason is kept for the
 * expectation's message. */
static void degrade(struct hx_run *run, const char *tab, const char *why)
{
    pthread_mutex_lock(&run->lock);
    if (!run->spa.degraded)
        snprintf(run->spa.degraded_why, sizeof(run->spa.degraded_why), "%s: %s", tab, why);
    run->spa.degraded = true;
    pthread_mutex_unlock(&run->lock);
}

static struct hx_spa_tab *tab_named(struct hx_run *run, const char *name, bool create)
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

static const char *tab_arg(const json_t *value)
{
    const char *name = json_string_value(value);
    if (!name)
        name = json_string_value(json_object_get(value, "tab"));
    return name ? name : "main";
}

static void storage_key(struct hx_run *run, char *out, size_t size)
{
    snprintf(out, size, "workos:refresh-token:%s", run->client_id);
}

static const char *storage_get(struct hx_run *run)
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

static int64_t local_now(struct hx_run *run)
{
    return hx_browser_now(&run->browser);
}

/* POST to fakeidp's authenticate from the page, as authkit-js does. */
static long idp_post(struct hx_run *run, json_t *body, json_t **reply, char *error, size_t size)
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

/* A signed duration for the timeline ("-5s", "15s"). */
static void signed_duration(int64_t ms, char out[33])
{
    char text[32];
    idp_duration_format(ms < 0 ? -ms : ms, text);
    snprintf(out, 33, "%s%s", ms < 0 ? "-" : "", text);
}

/* Arms the tab's refresh timer for the token it holds; the timeline says
 * what the timer did when that is more than waiting for the due time. */
static void arm_timer(struct hx_run *run, struct hx_spa_tab *tab)
{
    const struct hx_spa_knobs *k = &run->spa.knobs;
    int64_t now = local_now(run);
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
    signed_duration(delay, wanted);
    signed_duration(plan.fire_in_ms, fires);
    signed_duration(k->min_delay_ms, floor);
    signed_duration(tab->timer_at - tab->expires_at, late);
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
        signed_duration(tab->lifetime_ms, lives);
        signed_duration(k->refresh_buffer_ms, buffer);
        hx_spa_note(run, tab->name, "timer: the token lives %s, no longer than refresh_buffer %s: due at "
                    "once, every second", lives, buffer);
    }
}

static void take_tokens(struct hx_run *run, struct hx_spa_tab *tab, const json_t *reply)
{
    const char *at = json_string_value(json_object_get(reply, "access_token"));
    const char *rt = json_string_value(json_object_get(reply, "refresh_token"));
    snprintf(tab->access_token, sizeof(tab->access_token), "%s", at ? at : "");
    json_t *claims = hx_token_claims(at);
    json_int_t exp = json_integer_value(json_object_get(claims, "exp"));
    json_int_t iat = json_integer_value(json_object_get(claims, "iat"));
    json_decref(claims);
    tab->lifetime_ms = (exp - iat) * 1000;
    tab->expires_at = run->spa.knobs.relative_expiry ? local_now(run) + tab->lifetime_ms : exp * 1000;
    tab->expiry_noted = false;
    tab->authenticated = true;
    if (run->spa.dev_mode && rt)
        storage_set(run, rt);
    if (tab->timer_armed)
        arm_timer(run, tab);
}

enum refresh_outcome { REFRESHED, TRANSIENT, TERMINAL };

/* One refresh for a tab; `token` is the devMode refresh token it read. */
static enum refresh_outcome refresh_in_tab(struct hx_run *run, struct hx_spa_tab *tab, const char *token)
{
    json_t *body = json_pack("{s:s, s:s}", "client_id", run->client_id, "grant_type", "refresh_token");
    if (run->spa.dev_mode) {
        if (!token) {
            json_decref(body);
            hx_spa_note(run, tab->name, "no refresh token in localStorage");
            tab->authenticated = false;
            return TERMINAL;
        }
        json_object_set_new(body, "refresh_token", json_string(token));
    }
    json_t *reply = NULL;
    char error[256];
    long status = idp_post(run, body, &reply, error, sizeof(error));
    json_decref(body);
    run->spa.refreshes++;
    enum refresh_outcome outcome;
    if (status == 200 && json_string_value(json_object_get(reply, "access_token"))) {
        hx_spa_note(run, tab->name, "refreshed");
        take_tokens(run, tab, reply);
        outcome = REFRESHED;
    } else if (status == 0 || status == 408 || status == 429 || status >= 500) {
        outcome = TRANSIENT;
        hx_spa_note(run, tab->name, "refresh failed %ld %s (transient)", status, error);
        if (!run->spa.knobs.transient_keeps) {
            hx_spa_note(run, tab->name, "RefreshError: session data removed");
            tab->authenticated = false;
            tab->access_token[0] = '\0';
            if (run->spa.dev_mode)
                storage_set(run, NULL);
            outcome = TERMINAL;
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
        outcome = TERMINAL;
    }
    json_decref(reply);
    return outcome;
}

/* What a tab does is drawn in its lane of the HTML report. */
static enum refresh_outcome refresh_with(struct hx_run *run, struct hx_spa_tab *tab, const char *token)
{
    const char *outer = hx_timeline_tab_current();
    hx_timeline_tab_set(tab->name);
    enum refresh_outcome outcome = refresh_in_tab(run, tab, token);
    hx_timeline_tab_set(outer);
    return outcome;
}

static enum refresh_outcome refresh(struct hx_run *run, struct hx_spa_tab *tab)
{
    const char *stored = storage_get(run);
    char token[128] = "";
    if (stored)
        snprintf(token, sizeof(token), "%s", stored);
    return refresh_with(run, tab, stored ? token : NULL);
}

static void init_mode(struct hx_run *run)
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
    init_mode(run);
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
    bool try_refresh = run->spa.dev_mode ? storage_get(run) != NULL : has_session_marker(run);
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
        degrade(run, tab->name, "the guard redirected to sign-in while the first token was in flight");
        hx_spa_note(run, tab->name, "adapter reported {isLoading:false, isAuthenticated:false} while the "
                    "first token was in flight: the guard redirected to sign-in");
        refresh(run, tab);
        tab->authenticated = false;
        return;
    }
    refresh(run, tab);
}

static void boot(struct hx_run *run, struct hx_spa_tab *tab)
{
    const char *outer = hx_timeline_tab_current();
    hx_timeline_tab_set(tab->name);
    boot_in_tab(run, tab);
    hx_timeline_tab_set(outer);
}

/* ---- steps -------------------------------------------------------------- */

static bool sign_in(struct hx_run *run, const json_t *value);

/* Sign-in happens in the main tab. */
bool hx_spa_sign_in(struct hx_run *run, const json_t *value)
{
    if (run->browser.engine)
        return hx_spa_chromium_sign_in(run, value);
    const char *outer = hx_timeline_tab_current();
    hx_timeline_tab_set("main");
    bool ok = sign_in(run, value);
    hx_timeline_tab_set(outer);
    return ok;
}

static bool sign_in(struct hx_run *run, const json_t *value)
{
    init_mode(run);
    if (json_is_string(value)) {
        json_t *body = json_pack("{s:s}", "email", json_string_value(value));
        long status = 0;
        json_decref(hx_run_admin(run, "POST", "/_fakeidp/sign-in-as", body, &status));
        json_decref(body);
    }
    /* authkit-js hashes its verifier with crypto.subtle, which a page that
     * is not a secure context does not have: sign-in throws before it
     * leaves the page. */
    if (!hx_browser_secure_context(&run->browser, run->app_origin)) {
        hx_spa_note(run, "main", "sign in (%s mode): TypeError: crypto.subtle is undefined on %s (not a "
                    "secure context: neither https nor loopback), authkit-js cannot start sign-in",
                    run->spa.dev_mode ? "devMode" : "cookie", run->app_origin);
        return true;
    }
    unsigned char raw[96], digest[32];
    RAND_bytes(raw, sizeof(raw));
    char *verifier = idp_base64url_encode(raw, sizeof(raw)); /* 128 characters, as authkit-js */
    EVP_Digest(verifier, strlen(verifier), digest, NULL, EVP_sha256(), NULL);
    char *challenge = idp_base64url_encode(digest, sizeof(digest));
    char url[2048];
    snprintf(url, sizeof(url),
             "%s/user_management/authorize?client_id=%s&redirect_uri=%s/spa/callback&response_type=code"
             "&provider=authkit&code_challenge=%s&code_challenge_method=S256&state=%%7B%%7D",
             run->idp_public_url, run->client_id, run->app_origin, challenge);
    struct hx_navigation nav = {.url = url, .follow_login = true};
    struct hx_page page;
    hx_browser_go(&run->browser, &nav, &page);
    const char *code = strstr(page.url, "code=");
    char code_text[128] = "";
    if (code)
        snprintf(code_text, sizeof(code_text), "%.*s", (int)strcspn(code + 5, "&"), code + 5);
    hx_page_cleanup(&page);
    struct hx_spa_tab *tab = tab_named(run, "main", true);
    if (!code_text[0] || !tab) {
        hx_run_fail(run, "spa_sign_in: no code came back to %s/spa/callback", run->app_origin);
        free(verifier);
        free(challenge);
        return false;
    }
    json_t *body = json_pack("{s:s, s:s, s:s, s:s}", "code", code_text, "client_id", run->client_id,
                             "grant_type", "authorization_code", "code_verifier", verifier);
    json_t *reply = NULL;
    char error[256];
    long status = idp_post(run, body, &reply, error, sizeof(error));
    json_decref(body);
    if (status == 200) {
        tab->timer_armed = false; /* started below, once the sign-in is told */
        take_tokens(run, tab, reply);
        pthread_mutex_lock(&run->lock);
        run->ever_signed_in = true;
        run->lost_at_ms = 0;
        pthread_mutex_unlock(&run->lock);
        json_t *journal = hx_run_admin(run, "GET", "/_fakeidp/journal", NULL, NULL);
        run->journal_mark = (uint64_t)json_integer_value(json_object_get(journal, "next"));
        json_decref(journal);
    }
    hx_spa_note(run, "main", "sign in (%s mode): %s", run->spa.dev_mode ? "devMode" : "cookie",
                status == 200 ? "signed in" : error[0] ? error : "code exchange failed");
    if (status == 200) {
        tab->timer_told = 0;
        arm_timer(run, tab); /* authkit-js schedules its refresh after the code exchange */
    }
    json_decref(reply);
    free(verifier);
    free(challenge);
    return true;
}

static void observe(struct hx_run *run, struct hx_spa_tab *tab)
{
    pthread_mutex_lock(&run->lock);
    run->last.valid = true;
    run->last.signed_in = tab->authenticated;
    run->last.status = tab->authenticated ? 200 : 401;
    if (!tab->authenticated && run->ever_signed_in && !run->lost_at_ms)
        run->lost_at_ms = hx_run_now(run);
    pthread_mutex_unlock(&run->lock);
}

bool hx_spa_reload(struct hx_run *run, const json_t *value)
{
    if (run->browser.engine)
        return hx_spa_chromium_reload(run, value);
    struct hx_spa_tab *tab = tab_named(run, tab_arg(value), true);
    if (!tab)
        return false;
    boot(run, tab);
    hx_spa_note(run, tab->name, "reloaded: %s", tab->authenticated ? "signed in" : "signed out");
    observe(run, tab);
    return true;
}

bool hx_spa_tab_step(struct hx_run *run, const json_t *value)
{
    if (run->browser.engine)
        return hx_spa_chromium_tab(run, value);
    const char *open = json_string_value(json_object_get(value, "open"));
    const char *hide = json_string_value(json_object_get(value, "hide"));
    const char *show = json_string_value(json_object_get(value, "show"));
    const char *close = json_string_value(json_object_get(value, "close"));
    if (open) {
        struct hx_spa_tab *tab = tab_named(run, open, true);
        if (!tab) {
            hx_run_fail(run, "spa_tab: at most %d tabs", HX_SPA_TABS);
            return false;
        }
        boot(run, tab);
        hx_spa_note(run, open, "opened: %s", tab->authenticated ? "signed in" : "signed out");
    }
    struct hx_spa_tab *tab = tab_named(run, hide ? hide : show ? show : close ? close : "", false);
    if (tab && hide) {
        tab->hidden = true;
        hx_spa_note(run, hide, "hidden");
    }
    if (tab && close)
        tab->open = false;
    if (tab && show) {
        tab->hidden = false;
        bool stale = tab->authenticated && local_now(run) >= tab->expires_at;
        if (stale && !run->spa.knobs.refresh_on_focus) {
            /* The socket resumes with the stale token before the refresh lands. */
            degrade(run, show, "queries ran unauthenticated until the refresh landed");
            hx_spa_note(run, show, "shown with an expired token: queries ran unauthenticated until the "
                        "refresh landed");
        }
        if (stale)
            refresh(run, tab);
        hx_spa_note(run, show, "shown: %s", tab->authenticated ? "signed in" : "signed out");
        observe(run, tab);
    }
    return true;
}

struct concurrent_refresh {
    struct hx_run *run;
    struct hx_spa_tab *tab;
    char token[128];
    bool have_token;
};

static void *refresh_thread(void *arg)
{
    struct concurrent_refresh *c = arg;
    refresh_with(c->run, c->tab, c->have_token ? c->token : NULL);
    return NULL;
}

/* A tab whose refresh timer runs: open, signed in, armed, and not paused
 * because it is hidden. */
static bool timer_runs(const struct hx_run *run, const struct hx_spa_tab *t)
{
    return t->open && t->authenticated && t->timer_armed && !(t->hidden && run->spa.knobs.pause_hidden);
}

/* A visible tab whose token will expire before any timer replaces it (none
 * runs, or it fires after the expiry), not yet told in the timeline. A
 * hidden tab with a paused timer is refresh_on_focus's story (F8). */
static bool expires_unrefreshed(const struct hx_run *run, const struct hx_spa_tab *t)
{
    return t->open && t->authenticated && !t->expiry_noted && (!t->timer_armed || t->timer_late) &&
           !(t->hidden && run->spa.knobs.pause_hidden);
}

/* The first expiry of such a tab up to limit (true time): moves the clock
 * there and says that the tab now holds an expired token, which the app's
 * calls carry without identity (a degraded session, as a signed-out flash).
 * False when none is due by limit. */
static bool note_expiry(struct hx_run *run, int64_t offset, int64_t limit)
{
    int64_t now = hx_run_now(run), at = INT64_MAX;
    for (int i = 0; i < HX_SPA_TABS; i++) {
        const struct hx_spa_tab *t = &run->spa.tabs[i];
        int64_t expiry = t->expires_at - offset;
        if (expires_unrefreshed(run, t) && (expiry > now ? expiry : now) < at)
            at = expiry > now ? expiry : now;
    }
    if (at == INT64_MAX || at > limit)
        return false;
    if (at > now)
        hx_run_advance(run, at - now);
    for (int i = 0; i < HX_SPA_TABS; i++) {
        struct hx_spa_tab *t = &run->spa.tabs[i];
        if (!expires_unrefreshed(run, t) || t->expires_at - offset > at)
            continue;
        t->expiry_noted = true;
        degrade(run, t->name, "it held an expired access token before a refresh replaced it");
        char late[33];
        signed_duration(t->timer_at - t->expires_at, late);
        if (t->timer_armed)
            hx_spa_note(run, t->name, "the access token expired %s before its refresh timer fires: calls "
                        "with it run without identity meanwhile", late);
        else
            hx_spa_note(run, t->name, "the access token expired and no refresh timer runs: calls with it "
                        "run without identity until something refreshes");
    }
    return true;
}

/* Advances virtual time, firing each tab's refresh timer when it is due.
 * Tabs due at the same instant refresh one after the other under the lock,
 * or all at once without it (each having read the same stored token). */
bool hx_spa_wait(struct hx_run *run, const json_t *value)
{
    if (run->browser.engine)
        return hx_spa_chromium_wait(run, value);
    int64_t total = 0;
    idp_duration_json(value, false, &total); /* checked by lint */
    int64_t end = hx_run_now(run) + total;
    /* authkit-js checks its timer once a second: at most one round of
     * refreshes per second of virtual time, and a bounded number per wait. */
    int64_t next_tick = hx_run_now(run);
    for (int guard = 0; guard < 20000; guard++) {
        int64_t offset = run->browser.knobs.clock_offset_ms;
        int64_t due = INT64_MAX;
        /* A timer is set on the tab's clock; in true time it fires at
         * timer_at - offset. */
        for (int i = 0; i < HX_SPA_TABS; i++) {
            const struct hx_spa_tab *t = &run->spa.tabs[i];
            if (timer_runs(run, t) && t->timer_at - offset < due)
                due = t->timer_at - offset;
        }
        if (due < next_tick)
            due = next_tick;
        if (note_expiry(run, offset, due < end ? due : end))
            continue;
        int64_t now = hx_run_now(run);
        if (due == INT64_MAX || due > end)
            break;
        next_tick = due + 1000;
        if (due > now)
            hx_run_advance(run, due - now);
        struct concurrent_refresh jobs[HX_SPA_TABS];
        int n = 0;
        const char *stored = storage_get(run);
        for (int i = 0; i < HX_SPA_TABS; i++) {
            struct hx_spa_tab *t = &run->spa.tabs[i];
            if (timer_runs(run, t) && t->timer_at - offset <= due) {
                jobs[n] = (struct concurrent_refresh){.run = run, .tab = t, .have_token = stored != NULL};
                if (stored)
                    snprintf(jobs[n].token, sizeof(jobs[n].token), "%s", stored);
                hx_spa_timer_fired(&run->spa.knobs, t); /* before the refresh re-arms it */
                n++;
            }
        }
        if (run->spa.knobs.lock || n < 2) {
            for (int i = 0; i < n; i++)
                refresh(run, jobs[i].tab); /* under the lock each reads the latest token */
        } else {
            hx_spa_note(run, NULL, "%d tabs refresh at once without a lock", n);
            json_t *rule = json_pack("{s:s, s:s, s:s, s:i, s:s}", "action", "barrier", "route",
                                     "authenticate", "grant_type", "refresh_token", "hold", n, "gap", "25ms");
            json_t *added = hx_run_admin(run, "POST", "/_fakeidp/faults", rule, NULL);
            json_decref(rule);
            pthread_t threads[HX_SPA_TABS];
            for (int i = 0; i < n; i++)
                pthread_create(&threads[i], NULL, refresh_thread, &jobs[i]);
            for (int i = 0; i < n; i++)
                pthread_join(threads[i], NULL);
            const char *id = json_string_value(json_array_get(json_object_get(added, "added"), 0));
            char path[128];
            snprintf(path, sizeof(path), "/_fakeidp/faults/%s", id ? id : "");
            json_decref(hx_run_admin(run, "DELETE", path, NULL, NULL));
            json_decref(added);
        }
        for (int i = 0; i < n && !run->spa.knobs.reschedule; i++)
            hx_spa_note(run, jobs[i].tab->name, "timer: not armed again after its refresh (reschedule false): "
                        "no timer runs until the page loads again");
        bool any_failed = false;
        for (int i = 0; i < n; i++)
            any_failed = any_failed || !jobs[i].tab->authenticated;
        if (any_failed)
            for (int i = 0; i < n; i++)
                observe(run, jobs[i].tab);
    }
    int64_t now = hx_run_now(run);
    if (end > now)
        hx_run_advance(run, end - now);
    char text[32];
    idp_duration_format(total, text);
    hx_run_note(run, "step", "spa_wait %s (%u refreshes so far)", text, run->spa.refreshes);
    return true;
}

static bool call_in_tab(struct hx_run *run, struct hx_spa_tab *tab);

/* getAccessToken() and a backend call with it (a Convex query). */
bool hx_spa_call(struct hx_run *run, const json_t *value)
{
    if (run->browser.engine)
        return hx_spa_chromium_call(run, value);
    struct hx_spa_tab *tab = tab_named(run, tab_arg(value), false);
    if (!tab) {
        hx_run_fail(run, "spa_call: no tab %s", tab_arg(value));
        return false;
    }
    const char *outer = hx_timeline_tab_current();
    hx_timeline_tab_set(tab->name);
    bool ok = call_in_tab(run, tab);
    hx_timeline_tab_set(outer);
    return ok;
}

static bool call_in_tab(struct hx_run *run, struct hx_spa_tab *tab)
{
    bool have = tab->authenticated;
    if (!have) {
        /* getAccessToken() on a tab that loaded signed out (its client still
         * INITIAL) refreshes: with the session cookie in cookie mode, with
         * the refresh token another tab left in localStorage in devMode
         * (authkit-js 0.20.3 #shouldRefresh; measured in Chromium). The
         * model runs the tab's refresh timer from then on, though
         * authkit-js 0.20 schedules none on this path (docs/reference-app.md). */
        tab->timer_armed = true;
        have = refresh(run, tab) == REFRESHED;
        hx_spa_note(run, tab->name, "getAccessToken() on a tab that loaded signed out: %s",
                    !have ? "no session"
                    : run->spa.dev_mode ? "the refresh token in localStorage refreshed, signed in"
                                        : "the session cookie refreshed, signed in");
    } else if (have && local_now(run) >= tab->expires_at - run->spa.knobs.refresh_buffer_ms) {
        enum refresh_outcome r = refresh(run, tab);
        if (r != REFRESHED && run->spa.knobs.token_errors == 1) {
            /* The adapter turned the error into null: Convex signs out, and
             * nothing retries later (convex-backend #523). */
            run->spa.convex_signed_out = true;
            hx_spa_note(run, tab->name, "getAccessToken failed: the adapter returned null, Convex signed out");
        }
        have = tab->authenticated && r == REFRESHED;
        if (r == TRANSIENT && tab->authenticated && run->spa.knobs.token_errors == 0)
            have = true; /* the still-valid (or stale) token is served */
    } else if (run->spa.convex_signed_out && run->spa.knobs.token_errors == 0) {
        run->spa.convex_signed_out = false;
    }
    int authenticated = 0;
    if (have && !run->spa.convex_signed_out) {
        char url[600], auth[8300];
        snprintf(url, sizeof(url), "%s/convex/query", run->app_origin);
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tab->access_token);
        const char *headers[] = {auth, NULL};
        struct hx_navigation nav = {.url = url, .subrequest = true, .headers = headers};
        struct hx_page page;
        hx_browser_go(&run->browser, &nav, &page);
        authenticated = page.status == 200 && page.body && strstr(page.body, "\"subject\"");
        if (!authenticated && page.body && strstr(page.body, "expired"))
            run->spa.expired_calls++;
        hx_page_cleanup(&page);
    }
    hx_spa_note(run, tab->name, "backend call %s",
                authenticated ? "authenticated" : "without identity");
    pthread_mutex_lock(&run->lock);
    run->convex_authenticated = authenticated;
    snprintf(run->convex_error, sizeof(run->convex_error), "%s",
             authenticated ? "" : run->spa.convex_signed_out ? "signed out by a null token" : "no identity");
    if (!authenticated && run->ever_signed_in && !run->lost_at_ms)
        run->lost_at_ms = hx_run_now(run);
    pthread_mutex_unlock(&run->lock);
    return true;
}

int hx_spa_tab_authenticated(struct hx_run *run, const char *name)
{
    struct hx_spa_tab *tab = tab_named(run, name, false);
    return tab ? tab->authenticated : -1;
}
