/* The SPA steps of the client model (spa.h): spa_sign_in in the main tab,
 * spa_reload and spa_tab (open, hide, show, close), spa_wait, which runs
 * the tabs' refresh timers by moving the virtual clock from one due
 * refresh to the next, and spa_call (getAccessToken and a backend call).
 * With the Chromium engine each hands over to spa_chromium.c. */
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "encoding.h"
#include "run.h"
#include "spa_internal.h"

static bool sign_in(struct hx_run *run, const char *email)
{
    spa_init_mode(run);
    if (email) {
        json_t *body = json_pack("{s:s}", "email", email);
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
    struct hx_spa_tab *tab = spa_tab_named(run, "main", true);
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
    long status = spa_idp_post(run, body, &reply, error, sizeof(error));
    json_decref(body);
    if (status == 200) {
        tab->timer_armed = false; /* started below, once the sign-in is told */
        spa_take_tokens(run, tab, reply);
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
        spa_arm_timer(run, tab); /* authkit-js schedules its refresh after the code exchange */
    }
    json_decref(reply);
    free(verifier);
    free(challenge);
    return true;
}

/* Sign-in happens in the main tab. */
bool hx_spa_sign_in(struct hx_run *run, const char *email)
{
    if (run->browser.engine)
        return hx_spa_chromium_sign_in(run, email);
    const char *outer = hx_timeline_tab_current();
    hx_timeline_tab_set("main");
    bool ok = sign_in(run, email);
    hx_timeline_tab_set(outer);
    return ok;
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

bool hx_spa_reload(struct hx_run *run, const char *name)
{
    if (run->browser.engine)
        return hx_spa_chromium_reload(run, name);
    struct hx_spa_tab *tab = spa_tab_named(run, name, true);
    if (!tab)
        return false;
    spa_boot(run, tab);
    hx_spa_note(run, tab->name, "reloaded: %s", tab->authenticated ? "signed in" : "signed out");
    observe(run, tab);
    return true;
}

bool hx_spa_tab_step(struct hx_run *run, const char *op, const char *name)
{
    if (run->browser.engine)
        return hx_spa_chromium_tab(run, op, name);
    const char *open = strcmp(op, "open") == 0 ? name : NULL;
    const char *hide = strcmp(op, "hide") == 0 ? name : NULL;
    const char *show = strcmp(op, "show") == 0 ? name : NULL;
    const char *close = strcmp(op, "close") == 0 ? name : NULL;
    if (open) {
        struct hx_spa_tab *tab = spa_tab_named(run, open, true);
        if (!tab) {
            hx_run_fail(run, "spa_tab: at most %d tabs", HX_SPA_TABS);
            return false;
        }
        spa_boot(run, tab);
        hx_spa_note(run, open, "opened: %s", tab->authenticated ? "signed in" : "signed out");
    }
    struct hx_spa_tab *tab = spa_tab_named(run, hide ? hide : show ? show : close ? close : "", false);
    if (tab && hide) {
        tab->hidden = true;
        hx_spa_note(run, hide, "hidden");
    }
    if (tab && close)
        tab->open = false;
    if (tab && show) {
        tab->hidden = false;
        bool stale = tab->authenticated && spa_local_now(run) >= tab->expires_at;
        if (stale && !run->spa.knobs.refresh_on_focus) {
            /* The socket resumes with the stale token before the refresh lands. */
            spa_degrade(run, show, "queries ran unauthenticated until the refresh landed");
            hx_spa_note(run, show, "shown with an expired token: queries ran unauthenticated until the "
                        "refresh landed");
        }
        if (stale)
            spa_refresh(run, tab);
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
    spa_refresh_with(c->run, c->tab, c->have_token ? c->token : NULL);
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
        spa_degrade(run, t->name, "it held an expired access token before a refresh replaced it");
        char late[33];
        spa_signed_duration(t->timer_at - t->expires_at, late);
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
bool hx_spa_wait(struct hx_run *run, int64_t total)
{
    if (run->browser.engine)
        return hx_spa_chromium_wait(run, total);
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
        const char *stored = spa_storage_get(run);
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
                spa_refresh(run, jobs[i].tab); /* under the lock each reads the latest token */
        } else {
            hx_spa_note(run, NULL, "%d tabs refresh at once without a lock", n);
            json_t *rule = json_pack("{s:s, s:s, s:s, s:i, s:s}", "action", "barrier", "route",
                                     "authenticate", "grant_type", "refresh_token", "hold", n, "gap", "25ms");
            json_t *added = hx_run_admin(run, "POST", "/_fakeidp/faults", rule, NULL);
            json_decref(rule);
            pthread_t threads[HX_SPA_TABS];
            bool started[HX_SPA_TABS];
            for (int i = 0; i < n; i++)
                if (!(started[i] = pthread_create(&threads[i], NULL, refresh_thread, &jobs[i]) == 0))
                    refresh_thread(&jobs[i]); /* no thread: the barrier's gap lets it through */
            for (int i = 0; i < n; i++)
                if (started[i])
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
        have = spa_refresh(run, tab) == SPA_REFRESHED;
        hx_spa_note(run, tab->name, "getAccessToken() on a tab that loaded signed out: %s",
                    !have ? "no session"
                    : run->spa.dev_mode ? "the refresh token in localStorage refreshed, signed in"
                                        : "the session cookie refreshed, signed in");
    } else if (have && spa_local_now(run) >= tab->expires_at - run->spa.knobs.refresh_buffer_ms) {
        enum spa_refresh_outcome r = spa_refresh(run, tab);
        if (r != SPA_REFRESHED && run->spa.knobs.token_errors == 1) {
            /* The adapter turned the error into null: Convex signs out, and
             * nothing retries later (convex-backend #523). */
            run->spa.convex_signed_out = true;
            hx_spa_note(run, tab->name, "getAccessToken failed: the adapter returned null, Convex signed out");
        }
        have = tab->authenticated && r == SPA_REFRESHED;
        if (r == SPA_TRANSIENT && tab->authenticated && run->spa.knobs.token_errors == 0)
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

/* getAccessToken() and a backend call with it (a Convex query). */
bool hx_spa_call(struct hx_run *run, const char *name)
{
    if (run->browser.engine)
        return hx_spa_chromium_call(run, name);
    struct hx_spa_tab *tab = spa_tab_named(run, name, false);
    if (!tab) {
        hx_run_fail(run, "spa_call: no tab %s", name);
        return false;
    }
    const char *outer = hx_timeline_tab_current();
    hx_timeline_tab_set(tab->name);
    bool ok = call_in_tab(run, tab);
    hx_timeline_tab_set(outer);
    return ok;
}
