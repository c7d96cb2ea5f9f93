/* The steps that call backends: a Convex query through the app's token
 * adapter, and the security controls that present forged tokens (to a
 * backend, or sealed into the session cookie). Rows in steps.c's table. */
#include "steps_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps.h"
#include "defaults.h"
#include "forge.h"
#include "iron.h"
#include "keys.h"

/* Where a step's backend call goes: with "backend", that named backend on
 * the app that serves it (whose token the call carries); otherwise the
 * implicit backend of the app "at" names (the target without it). */
static bool backend_url(struct hx_run *run, const struct hx_step *step, char *origin, size_t size,
                        char *path, size_t path_size)
{
    const char *backend = step->backend;
    if (!backend) {
        snprintf(path, path_size, "/convex/query");
        return hx_step_origin(run, step, origin, size);
    }
    if (!hx_run_backend_app(run, backend, origin, size)) {
        hx_run_fail(run, "backend %s: no such backend is running", backend);
        return false;
    }
    snprintf(path, path_size, "/backends/%s/query", backend);
    return true;
}

/* The Convex client: fetchAccessToken from the adapter, Authenticate, and on
 * AuthError a forced refetch, two attempts, then clearAuth (convex-js
 * authentication_manager). A static adapter hands back the token it
 * captured first, whatever forceRefreshToken says. */
bool hx_step_convex_query_run(struct hx_run *run, const struct hx_step *step)
{
    bool is_static = strcmp(run->convex_adapter, "static_token") == 0;
    int authenticated = 0;
    char error[512] = "", origin[600], query[96], who[64] = "";
    if (!backend_url(run, step, origin, sizeof(origin), query, sizeof(query)))
        return true;
    if (step->backend)
        snprintf(who, sizeof(who), "to %s: ", step->backend);
    for (int attempt = 0; attempt < 3 && !authenticated; attempt++) {
        char token[8192] = "";
        if (is_static && run->convex_token[0]) {
            snprintf(token, sizeof(token), "%s", run->convex_token);
        } else {
            struct hx_observation obs;
            char url[64];
            snprintf(url, sizeof(url), attempt ? "/token?force=1" : "/token");
            struct hx_page page;
            char full[700];
            snprintf(full, sizeof(full), "%s%s", origin, url);
            char initiator[700];
            snprintf(initiator, sizeof(initiator), "%s/dashboard", origin);
            struct hx_navigation nav = {.url = full, .subrequest = true, .initiator = initiator};
            hx_browser_go(&run->browser, &nav, &page);
            json_t *body = page.body ? json_loadb(page.body, strlen(page.body), 0, NULL) : NULL;
            const char *at = json_string_value(json_object_get(body, "accessToken"));
            if (at)
                snprintf(token, sizeof(token), "%s", at);
            json_decref(body);
            hx_page_cleanup(&page);
            (void)obs;
            if (!token[0]) {
                snprintf(error, sizeof(error), "fetchAccessToken returned null");
                break;
            }
            if (is_static && !run->convex_token[0])
                snprintf(run->convex_token, sizeof(run->convex_token), "%s", token);
        }
        char url[700], auth[8300];
        snprintf(url, sizeof(url), "%s%s", origin, query);
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        const char *headers[] = {auth, NULL};
        struct hx_navigation nav = {.url = url, .subrequest = true, .headers = headers};
        struct hx_page page;
        hx_browser_go(&run->browser, &nav, &page);
        json_t *body = page.body ? json_loadb(page.body, strlen(page.body), 0, NULL) : NULL;
        if (page.status == 200 && json_is_object(json_object_get(body, "identity"))) {
            authenticated = 1;
        } else {
            const char *m = json_string_value(json_object_get(body, "message"));
            snprintf(error, sizeof(error), "%s", m ? m : page.error[0] ? page.error : "AuthError");
            hx_run_note(run, "convex", "%sAuthError (attempt %d): %s", who, attempt + 1, error);
        }
        json_decref(body);
        hx_page_cleanup(&page);
    }
    hx_run_note(run, "convex", "%s%s", who, authenticated ? "authenticated" : "clearAuth(): signed out");
    pthread_mutex_lock(&run->lock);
    run->convex_authenticated = authenticated;
    snprintf(run->convex_error, sizeof(run->convex_error), "%s", authenticated ? "" : error);
    if (!authenticated && run->ever_signed_in && !run->lost_at_ms)
        run->lost_at_ms = hx_run_now(run);
    pthread_mutex_unlock(&run->lock);
    return true;
}

/* ---- forged tokens (security controls) --------------------------------- */

static enum idp_status v_forge_spec(struct hx_check *c, const json_t *spec, const char *path)
{
    return hx_check_keys(c, spec, path, idp_forge_keys, "a token forgery");
}

enum idp_status hx_step_present_token_parse(struct hx_check *c, const json_t *v, const char *path,
                                            struct hx_step *out)
{
    out->as.forge.to = json_string_value(json_object_get(v, "to"));
    out->as.forge.spec = json_object_get(v, "forge");
    static const char *const keys[] = {"to", "forge", NULL};
    enum idp_status st = hx_check_keys(c, v, path, keys, "present_token");
    if (st)
        return st;
    const json_t *to = json_object_get(v, "to");
    char child[300];
    snprintf(child, sizeof(child), "%s/to", path);
    if (to && (st = hx_step_location_check(c, to, child)))
        return st;
    snprintf(child, sizeof(child), "%s/forge", path);
    return json_object_get(v, "forge") ? v_forge_spec(c, json_object_get(v, "forge"), child)
                                       : hx_check_fail(c, path, false, "present_token needs \"forge\"");
}

enum idp_status hx_step_forge_session_cookie_parse(struct hx_check *c, const json_t *v,
                                                   const char *path, struct hx_step *out)
{
    out->as.forge.spec = json_object_get(v, "forge");
    static const char *const keys[] = {"forge", NULL};
    enum idp_status st = hx_check_keys(c, v, path, keys, "forge_session_cookie");
    char child[300];
    snprintf(child, sizeof(child), "%s/forge", path);
    return st ? st : v_forge_spec(c, json_object_get(v, "forge"), child);
}

static pthread_once_t stray_once = PTHREAD_ONCE_INIT;
static EVP_PKEY *stray;

static void make_stray(void)
{
    /* Lives for the process: one per run, shared. Cached next to the
     * rotation keys (generating one takes 0.1-2 s), the file fakeidp's own
     * forged-token faults use: a key no JWKS publishes. */
    char path[1100];
    idp_default_key_cache_path(path, sizeof(path));
    char *slash = strrchr(path, '/');
    if (slash) {
        snprintf(slash + 1, sizeof(path) - (size_t)(slash + 1 - path), "stray-key.pem");
        stray = idp_pem_load_or_generate(path, NULL);
    }
    if (!stray)
        stray = idp_rsa_generate(NULL);
}

/* A genuine access token of the signed-in session, forged per spec. */
static char *forged_token(struct hx_run *run, const json_t *spec, const char *genuine)
{
    /* stray is read only after pthread_once: another worker may be making it. */
    EVP_PKEY *unpublished = NULL;
    if (json_object_get(spec, "sign")) {
        pthread_once(&stray_once, make_stray);
        unpublished = stray;
    }
    struct idp_error err;
    char *token = idp_forge_token(genuine, spec, run->key, unpublished, hx_run_now(run), &err);
    if (!token)
        hx_run_fail(run, "cannot forge a token: %s", err.message);
    return token;
}

bool hx_step_present_token_run(struct hx_run *run, const struct hx_step *step)
{
    /* The token of the target, or of the app a named backend serves. */
    char genuine[8192], url[800], origin[600], query[96];
    if (!backend_url(run, step, origin, sizeof(origin), query, sizeof(query)))
        return true;
    bool named = step->backend != NULL;
    if (!hx_run_access_token(run, named ? origin : NULL, genuine, sizeof(genuine))) {
        hx_run_fail(run, "present_token: the app has no access token to forge from (sign in first)");
        return false;
    }
    char *token = forged_token(run, step->as.forge.spec, genuine);
    if (!token)
        return false;
    const char *to = step->as.forge.to;
    if (!to)
        to = query;
    snprintf(url, sizeof(url), "%s%s", origin, to);
    char *auth = malloc(strlen(token) + 32);
    snprintf(auth, strlen(token) + 32, "Authorization: Bearer %s", token);
    const char *headers[] = {auth, NULL};
    struct hx_navigation nav = {.url = url, .subrequest = true, .headers = headers};
    struct hx_page page;
    hx_browser_go(&run->browser, &nav, &page);
    bool identity = page.status == 200 && page.body && strstr(page.body, "\"subject\"");
    char *spec = json_dumps(step->as.forge.spec, JSON_COMPACT);
    hx_run_note(run, "step", "present forged token %s to %s -> %ld%s", spec ? spec : "", to,
                page.status, identity ? " ACCEPTED" : " rejected");
    free(spec);
    pthread_mutex_lock(&run->lock);
    memset(&run->last, 0, sizeof(run->last));
    run->last.valid = true;
    run->last.status = page.status;
    run->last.signed_in = identity;
    snprintf(run->last.url, sizeof(run->last.url), "%.500s", page.url);
    snprintf(run->last.error, sizeof(run->last.error), "%s", page.error);
    snprintf(run->last.body_excerpt, sizeof(run->last.body_excerpt), "%s", page.body ? page.body : "");
    run->convex_authenticated = identity;
    const char *m = page.body ? strstr(page.body, "\"message\":\"") : NULL;
    snprintf(run->convex_error, sizeof(run->convex_error), "%.*s", m ? (int)strcspn(m + 11, "\"") : 0,
             m ? m + 11 : "");
    pthread_mutex_unlock(&run->lock);
    hx_page_cleanup(&page);
    free(auth);
    free(token);
    return true;
}

/* Re-seals wos-session with the app's own password around a forged access
 * token: what an attacker who knows the password could present. */
bool hx_step_forge_session_cookie_run(struct hx_run *run, const struct hx_step *step)
{
    if (!run->app) {
        hx_run_fail(run, "forge_session_cookie needs the reference app");
        return false;
    }
    char password[256];
    hx_app_cookie_password(run->app, password, sizeof(password));
    pthread_mutex_lock(&run->browser.lock);
    struct hx_cookie *cookie = NULL;
    for (size_t i = 0; i < run->browser.jar.count; i++)
        if (strcmp(run->browser.jar.items[i].name, "wos-session") == 0)
            cookie = &run->browser.jar.items[i];
    char *seal = cookie ? strdup(cookie->value) : NULL;
    pthread_mutex_unlock(&run->browser.lock);
    unsigned char *data = NULL;
    size_t len = 0;
    json_t *payload = NULL;
    if (!seal || idp_iron_unseal(password, seal, hx_run_now(run), &data, &len, NULL) ||
        !(payload = json_loadb((char *)data, len, 0, NULL))) {
        hx_run_fail(run, "forge_session_cookie: no wos-session cookie the app's password opens");
        free(seal);
        free(data);
        return false;
    }
    char *token = forged_token(run, step->as.forge.spec,
                               json_string_value(json_object_get(payload, "accessToken")));
    bool ok = token != NULL;
    if (token) {
        json_object_set_new(payload, "accessToken", json_string(token));
        char *text = json_dumps(payload, JSON_COMPACT);
        char *resealed = text ? idp_iron_seal(password, (unsigned char *)text, strlen(text),
                                              hx_run_now(run), 0, NULL) : NULL;
        pthread_mutex_lock(&run->browser.lock);
        for (size_t i = 0; resealed && i < run->browser.jar.count; i++)
            if (strcmp(run->browser.jar.items[i].name, "wos-session") == 0) {
                free(run->browser.jar.items[i].value);
                run->browser.jar.items[i].value = strdup(resealed);
            }
        pthread_mutex_unlock(&run->browser.lock);
        char why[300];
        if (resealed && !hx_browser_push_cookies(&run->browser, why, sizeof(why)))
            hx_run_broken(run, "forge_session_cookie: Chromium refused the cookie: %s", why);
        char *spec = json_dumps(step->as.forge.spec, JSON_COMPACT);
        hx_run_note(run, "step", "wos-session re-sealed around a forged access token %s", spec ? spec : "");
        free(spec);
        free(text);
        free(resealed);
    }
    free(token);
    json_decref(payload);
    free(seal);
    free(data);
    return ok;
}
