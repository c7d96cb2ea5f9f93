/* The reference app's routes:
 *   GET /            public page
 *   GET /login       PKCE + sealed state, 302 to fakeidp's /user_management/authorize
 *   GET /callback    code exchange, sealed wos-session cookie, 302 to the return path
 *   POST /login/...  a custom sign-in UI: password, magic auth and the step-up
 *                    pages (email verification, organization, TOTP)
 *   GET /logout      deletes the cookie, 302 to fakeidp's logout with the session id
 *   GET /token       the session's access token (getAccessToken); ?force=1 refreshes
 *   GET /convex/query  the app's Convex-style backend: Bearer token -> identity or AuthError
 *   GET /backends/NAME/query  a named backend of the world it serves (backend.c)
 *   anything else    protected: signed in -> 200 JSON; signed out -> 302 /login
 *                    (pages) or 401 (paths under /api/)
 * The session middleware (refapp_session.c: verify, refresh, cookie writes)
 * follows authkit-nextjs and authkit-session; docs/reference-app.md maps
 * each knob to its source. */
#include <civetweb.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encoding.h"
#include "iron.h"
#include "refapp_internal.h"
#include "verifier.h"

static char *url_param(const struct mg_request_info *ri, const char *name)
{
    if (!ri->query_string)
        return NULL;
    size_t size = strlen(ri->query_string) + 1;
    char *out = malloc(size);
    if (out && mg_get_var(ri->query_string, strlen(ri->query_string), name, out, size) < 0) {
        free(out);
        return NULL;
    }
    return out;
}

static char *encode(const char *text)
{
    size_t size = strlen(text) * 3 + 1;
    char *out = malloc(size);
    if (out)
        mg_url_encode(text, out, size);
    return out;
}

static void route_login(struct hx_app *app, const struct hx_app_knobs *k, struct instance *inst,
                        struct mg_connection *conn, struct reply *r)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    unsigned char raw[32], digest[32];
    RAND_bytes(raw, sizeof(raw));
    char *verifier = idp_base64url_encode(raw, sizeof(raw));
    EVP_Digest(verifier, strlen(verifier), digest, NULL, EVP_sha256(), NULL);
    char *challenge = idp_base64url_encode(digest, sizeof(digest));
    char *return_path = url_param(ri, "returnPathname");
    json_t *state_json = json_pack("{s:s, s:s}", "codeVerifier", verifier, "returnPathname",
                                   return_path ? return_path : "/dashboard");
    char *state_text = json_dumps(state_json, JSON_COMPACT);
    int64_t now = refapp_now(app, k);
    char *state = NULL;
    if (k->state_store == HX_STATE_MEMORY) {
        /* The state and verifier stay in this process's memory. */
        unsigned char id[16];
        RAND_bytes(id, sizeof(id));
        state = idp_base64url_encode(id, sizeof(id));
        pthread_mutex_lock(&inst->lock);
        if (state && json_object_size(inst->states) < 1000)
            json_object_set(inst->states, state, state_json);
        pthread_mutex_unlock(&inst->lock);
        refapp_note(app, "login: OAuth state kept in this process's memory");
    } else {
        state = idp_iron_seal_id(k->cookie_password, k->cookie_password_id,
                                 (unsigned char *)state_text, strlen(state_text), now, 600000, NULL);
    }
    char *state_enc = state ? encode(state) : NULL;
    char *redirect_enc = encode(refapp_request_redirect_uri());
    char location[6000];
    snprintf(location, sizeof(location),
             "%s/user_management/authorize?client_id=%s&code_challenge=%s&code_challenge_method=S256"
             "&provider=authkit&redirect_uri=%s&response_type=code&screen_hint=sign-in&state=%s",
             app->idp_public_url, app->client_id, challenge, redirect_enc ? redirect_enc : "",
             state_enc ? state_enc : "");
    refapp_reply_redirect(r, location);
    char attrs[256];
    refapp_cookie_attributes(app, k, false, attrs, sizeof(attrs));
    /* The PKCE cookie: Strict is downgraded to Lax, or the cross-site return
     * from the IdP would not carry it (authkit-nextjs cookie.ts). */
    char *lax = strstr(attrs, "SameSite=Strict");
    if (lax)
        memcpy(lax, "SameSite=Lax;  ", 15), memmove(lax + 12, lax + 15, strlen(lax + 15) + 1);
    if (k->state_store == HX_STATE_COOKIE)
        refapp_reply_header(r, "Set-Cookie", "wos-auth-verifier=%s; Max-Age=600%s", state ? state : "",
                            attrs);
    free(verifier);
    free(challenge);
    free(return_path);
    json_decref(state_json);
    free(state_text);
    free(state);
    free(state_enc);
    free(redirect_enc);
}

/* The page that asks the user for the next step of a sign-in the IdP
 * answered with a step-up error (a custom sign-in UI's job): the pending
 * token and what the step needs. For MFA the app enrols a TOTP factor or
 * challenges the user's factor first, as the WorkOS docs' examples do. */
static void step_up_page(struct hx_app *app, const json_t *reply, struct reply *r)
{
    const char *code = json_string_value(json_object_get(reply, "code"));
    const char *pending = json_string_value(json_object_get(reply, "pending_authentication_token"));
    const char *user_id = json_string_value(json_object_get(json_object_get(reply, "user"), "id"));
    const json_t *factors = json_object_get(reply, "authentication_factors");
    const char *factor = json_string_value(json_object_get(json_array_get(factors, 0), "id"));
    json_t *page = json_pack("{s:s, s:s, s:s?}", "page", "sign-in", "needs", code,
                             "pending_authentication_token", pending);
    long status = 0;
    json_t *made = NULL;
    if (strcmp(code, "email_verification_required") == 0) {
        json_object_set(page, "email", json_object_get(reply, "email"));
    } else if (strcmp(code, "organization_selection_required") == 0) {
        json_object_set(page, "organizations", json_object_get(reply, "organizations"));
    } else if (strcmp(code, "mfa_enrollment") == 0 && user_id) {
        char path[300];
        snprintf(path, sizeof(path), "/user_management/users/%s/auth_factors", user_id);
        made = refapp_idp_api(app, path, json_pack("{s:s}", "type", "totp"), &status);
        json_t *made_factor = json_object_get(made, "authentication_factor");
        json_object_set(page, "totp_secret",
                        json_object_get(json_object_get(made_factor, "totp"), "secret"));
        json_object_set(page, "authentication_challenge_id",
                        json_object_get(json_object_get(made, "authentication_challenge"), "id"));
    } else if (strcmp(code, "mfa_challenge") == 0 && factor) {
        char path[300];
        snprintf(path, sizeof(path), "/auth/factors/%s/challenge", factor);
        made = refapp_idp_api(app, path, json_object(), &status);
        json_object_set(page, "authentication_challenge_id", json_object_get(made, "id"));
    }
    refapp_note(app, "sign-in needs another step: %s", code);
    refapp_reply_json(r, 200, page);
    json_decref(made);
}

/* The end of every sign-in: the session cookie and a redirect to where the
 * user was going, the next step's page, or the error. */
static void finish_sign_in(struct hx_app *app, const struct hx_app_knobs *k,
                           struct refresh_result *res, const char *what, const char *return_path,
                           int fail_status, struct reply *r)
{
    const char *code = res ? json_string_value(json_object_get(res->reply, "code")) : NULL;
    if (res && res->status == 403 && code &&
        json_string_value(json_object_get(res->reply, "pending_authentication_token"))) {
        step_up_page(app, res->reply, r);
        return;
    }
    if (!res || res->kind != 0) {
        refapp_note(app, "%s failed: %ld %s", what, res ? res->status : 0L, res ? res->error : "");
        refapp_reply_json(r, fail_status,
                          json_pack("{s:s, s:s?}", "error", "Couldn't sign in", "code", code));
        return;
    }
    char *seal = refapp_session_seal(k, res->access_token, res->refresh_token, res->user,
                                     res->impersonator, refapp_now(app, k));
    refapp_reply_redirect(r, return_path && return_path[0] == '/' ? return_path : "/dashboard");
    if (k->drop_session_cookie)
        refapp_note(app, "sign-in: the framework dropped the session Set-Cookie (production build "
                         "bug)");
    else if (seal)
        refapp_session_cookie_set(app, k, r, seal);
    refapp_note(app, "signed in %s", json_string_value(json_object_get(res->user, "email")));
    free(seal);
}

/* A form field of a POST body (application/x-www-form-urlencoded). */
static char *form_field(const char *body, size_t len, const char *name)
{
    char value[4096];
    int n = body ? mg_get_var(body, len, name, value, sizeof(value)) : -1;
    return n >= 0 ? strdup(value) : NULL;
}

/* A custom sign-in UI (AuthKit without the hosted page), POST forms:
 *   /login/password            email, password          -> password grant
 *   /login/magic-auth          email                    -> createMagicAuth (code by e-mail)
 *   /login/magic-auth/verify   email, code              -> magic-auth grant
 *   /login/continue            pending_authentication_token and code (email
 *                              verification), organization_id, or
 *                              authentication_challenge_id + code (TOTP)
 * Each ends as the callback does, or with the next step's page. */
static void route_sign_in_form(struct hx_app *app, const struct hx_app_knobs *k, const char *path,
                               const char *body, size_t len, struct reply *r)
{
    static const char *const fields[] = {"email", "password", "code", "pending_authentication_token",
                                         "organization_id", "authentication_challenge_id"};
    char *f[6];
    for (int i = 0; i < 6; i++)
        f[i] = form_field(body, len, fields[i]);
    const char *email = f[0], *password = f[1], *code = f[2], *pending = f[3], *org = f[4],
               *challenge = f[5];
    json_t *grant = NULL;
    if (strcmp(path, "/login/password") == 0 && email && password) {
        grant = json_pack("{s:s, s:s, s:s}", "grant_type", "password", "email", email, "password",
                          password);
    } else if (strcmp(path, "/login/magic-auth") == 0 && email) {
        long status = 0;
        json_decref(refapp_idp_api(app, "/user_management/magic_auth",
                                   json_pack("{s:s}", "email", email), &status));
        refapp_note(app, "magic auth code requested for %s: %ld", email, status);
        refapp_reply_json(r, status == 201 ? 200 : 500,
                          json_pack("{s:s, s:s}", "page", "check-your-email", "email", email));
    } else if (strcmp(path, "/login/magic-auth/verify") == 0 && email && code) {
        grant = json_pack("{s:s, s:s, s:s}", "grant_type",
                          "urn:workos:oauth:grant-type:magic-auth:code", "email", email, "code", code);
    } else if (strcmp(path, "/login/continue") == 0 && pending && org) {
        grant = json_pack("{s:s, s:s, s:s}", "grant_type",
                          "urn:workos:oauth:grant-type:organization-selection",
                          "pending_authentication_token", pending, "organization_id", org);
    } else if (strcmp(path, "/login/continue") == 0 && pending && challenge && code) {
        grant = json_pack("{s:s, s:s, s:s, s:s}", "grant_type", "urn:workos:oauth:grant-type:mfa-totp",
                          "pending_authentication_token", pending, "authentication_challenge_id",
                          challenge, "code", code);
    } else if (strcmp(path, "/login/continue") == 0 && pending && code) {
        grant = json_pack("{s:s, s:s, s:s}", "grant_type",
                          "urn:workos:oauth:grant-type:email-verification:code",
                          "pending_authentication_token", pending, "code", code);
    } else {
        refapp_reply_json(r, 400,
                          json_pack("{s:s}", "error", "missing form fields for this sign-in page"));
    }
    if (grant) {
        struct refresh_result *res = refapp_authenticate(app, k, grant);
        finish_sign_in(app, k, res, path + 1, "/dashboard", 401, r);
        refapp_result_free(res);
    }
    json_decref(grant);
    for (int i = 0; i < 6; i++)
        free(f[i]);
}

static void route_callback(struct hx_app *app, const struct hx_app_knobs *k, struct instance *inst,
                           struct mg_connection *conn, struct reply *r)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    char *code = url_param(ri, "code");
    char *state = url_param(ri, "state");
    char *cookie = refapp_request_cookie(conn, "wos-auth-verifier");
    unsigned char *state_data = NULL;
    size_t state_len = 0;
    int64_t now = refapp_now(app, k);
    json_t *state_json = NULL;
    if (k->state_store == HX_STATE_MEMORY) {
        pthread_mutex_lock(&inst->lock);
        state_json = state ? json_incref(json_object_get(inst->states, state)) : NULL;
        if (state_json)
            json_object_del(inst->states, state);
        pthread_mutex_unlock(&inst->lock);
        if (!code || !state_json) {
            refapp_note(app, "callback: %s", !code ? "no code"
                                                   : "Invalid OAuth state: this process never saw it "
                                                     "(state kept in memory)");
            refapp_reply_json(r, 400, json_pack("{s:s}", "error", "Invalid OAuth state"));
            goto out;
        }
    } else if (!code || !state || !cookie || strcmp(state, cookie) != 0 ||
               refapp_unseal(k, state, now, &state_data, &state_len, NULL) ||
               !(state_json = json_loadb((char *)state_data, state_len, 0, NULL))) {
        refapp_note(app, "callback: %s", !code     ? "no code"
                                         : !cookie ? "no PKCE cookie"
                                                   : "state does not match the PKCE cookie");
        refapp_reply_json(r, 500, json_pack("{s:s}", "error", "Couldn't sign in"));
        goto out;
    }
    json_t *body = json_pack("{s:s, s:s, s:s}", "grant_type", "authorization_code", "code", code,
                             "code_verifier",
                             json_string_value(json_object_get(state_json, "codeVerifier")));
    struct refresh_result *res = refapp_authenticate(app, k, body);
    json_decref(body);
    /* As authkit-nextjs's callback route: the PKCE cookie is deleted first,
     * then the session is saved. */
    if (k->state_store == HX_STATE_COOKIE)
        refapp_reply_header(r, "Set-Cookie",
                            "wos-auth-verifier=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax");
    finish_sign_in(app, k, res, "code exchange",
                   json_string_value(json_object_get(state_json, "returnPathname")), 500, r);
    refapp_result_free(res);
out:
    json_decref(state_json);
    free(state_data);
    free(code);
    free(state);
    free(cookie);
}

static void route_logout(struct hx_app *app, const struct hx_app_knobs *k,
                         struct mg_connection *conn, struct reply *r)
{
    struct session s;
    char why[256];
    char location[1024];
    char *sid = NULL;
    if (refapp_session_load(app, k, conn, &s, why, sizeof(why))) {
        json_t *claims = hx_token_claims(s.access_token);
        const char *v = json_string_value(json_object_get(claims, "sid"));
        sid = v ? strdup(v) : NULL;
        json_decref(claims);
        refapp_session_cleanup(&s);
    }
    char home[300];
    snprintf(home, sizeof(home), "%s/", refapp_request_origin());
    char *home_enc = encode(home);
    if (sid)
        snprintf(location, sizeof(location),
                 "%s/user_management/sessions/logout?session_id=%s&return_to=%s",
                 app->idp_public_url, sid, home_enc ? home_enc : "");
    else
        snprintf(location, sizeof(location), "/");
    refapp_reply_redirect(r, location);
    refapp_session_cookie_delete(app, k, r);
    refapp_note(app, "sign out%s", sid ? "" : " (no session)");
    free(sid);
    free(home_enc);
}

static void signed_in_body(struct reply *r, const struct session *s, const char *path)
{
    json_t *claims = hx_token_claims(s->access_token);
    refapp_reply_json(r, 200,
                      json_pack("{s:b, s:s?, s:s?, s:s?, s:s}", "signed_in", 1, "email",
                                json_string_value(json_object_get(s->user, "email")), "user_id",
                                json_string_value(json_object_get(claims, "sub")), "session_id",
                                json_string_value(json_object_get(claims, "sid")), "path", path));
    json_decref(claims);
}

/* A Convex-style backend (backend.c): the implicit one at /convex/query,
 * a named one at /backends/<name>/query; an unknown name is a 404. */
static void route_backend(struct hx_app *app, const char *path, struct mg_connection *conn,
                          struct reply *r)
{
    struct hx_backend *backend = NULL;
    if (strcmp(path, "/convex/query") == 0)
        backend = &app->backend;
    for (int i = 0; i < app->named_count && !backend; i++) {
        const char *name = app->named[i].component;
        size_t len = strlen(name);
        if (strncmp(path + 10, name, len) == 0 && strcmp(path + 10 + len, "/query") == 0)
            backend = &app->named[i];
    }
    if (!backend) {
        refapp_reply_json(r, 404, json_pack("{s:s, s:s}", "error", "not_found", "message",
                                            "no backend is served here"));
        return;
    }
    json_t *body = NULL;
    int status = hx_backend_query(backend, mg_get_header(conn, "Authorization"), &body);
    refapp_reply_json(r, status, body);
}

/* Cache-Control on responses that read or write the session. */
static void cache_headers(const struct hx_app_knobs *k, struct reply *r)
{
    if (k->cache_control == HX_CC_PUBLIC)
        refapp_reply_header(r, "Cache-Control", "public, s-maxage=60");
    else if (k->cache_control == HX_CC_PRIVATE) {
        refapp_reply_header(r, "Cache-Control", "private, no-store");
        refapp_reply_header(r, "Vary", "Cookie");
    }
}

/* Any other path is protected: signed in, the session's page (or token
 * for /token); signed out, 401 for /token and paths under /api/, else a
 * redirect to /login that comes back here. ?force=1 on /token refreshes
 * first (getAccessToken({forceRefresh: true})). */
static void route_protected(struct hx_app *app, const struct hx_app_knobs *k, struct instance *inst,
                            struct mg_connection *conn, const char *path, struct reply *r)
{
    struct session s;
    char *force = url_param(mg_get_request_info(conn), "force");
    bool is_token = strcmp(path, "/token") == 0;
    enum refapp_auth a = refapp_middleware(app, k, inst, conn, r, &s,
                                           is_token && force && strcmp(force, "1") == 0);
    free(force);
    if (a == REFAPP_SIGNED_IN && is_token) {
        refapp_reply_json(r, 200, json_pack("{s:s}", "accessToken", s.access_token));
    } else if (a == REFAPP_SIGNED_IN) {
        signed_in_body(r, &s, path);
    } else if (is_token || strncmp(path, "/api/", 5) == 0) {
        refapp_reply_json(r, 401, json_pack("{s:b, s:s}", "signed_in", 0, "error", "Unauthorized"));
    } else {
        char *enc = encode(path);
        char location[1200];
        snprintf(location, sizeof(location), "/login?returnPathname=%s", enc ? enc : "/");
        free(enc);
        refapp_reply_redirect(r, location);
    }
    refapp_session_cleanup(&s);
    cache_headers(k, r);
}
int refapp_handle(struct mg_connection *conn, void *data)
{
    struct hx_app *app = data;
    const struct mg_request_info *ri = mg_get_request_info(conn);
    const char *path = ri->local_uri ? ri->local_uri : "/";
    struct reply r = {0};
    bool lb_cookie = false;
    struct hx_app_knobs k;
    int index = refapp_enter(app, conn, &k, &lb_cookie);
    struct instance *inst = &app->instances[index];
    refapp_request_begin(app, &k, conn, index);
    if (lb_cookie)
        refapp_reply_header(&r, "Set-Cookie", "lb-instance=%d; Path=/; HttpOnly; SameSite=Lax",
                            index + 1);
    /* The body: kept for the sign-in forms, drained for the rest. */
    char form[16384];
    size_t form_len = 0;
    int got;
    while ((got = mg_read(conn, form + form_len, sizeof(form) - 1 - form_len)) > 0)
        if ((form_len += (size_t)got) == sizeof(form) - 1)
            form_len = 0; /* larger than any form here: not a sign-in form */
    form[form_len] = '\0';
    bool to_backend = strcmp(path, "/convex/query") == 0 || strncmp(path, "/backends/", 10) == 0;
    if (!refapp_password_ok(&k) && k.password_check == HX_PASSWORD_PER_REQUEST && !to_backend) {
        /* authkit-nextjs middleware throws on every request. */
        refapp_note(app, "500: You must provide a valid cookie password that is at least 32 "
                         "characters in the environment variables.");
        refapp_reply_json(&r, 500,
                          json_pack("{s:s}", "error",
                                    "You must provide a valid cookie password that is at least 32 "
                                    "characters in the environment variables."));
    } else if (strcmp(path, "/") == 0) {
        refapp_reply_json(&r, 200, json_pack("{s:s}", "page", "home"));
    } else if (strcmp(path, "/spa") == 0 || strncmp(path, "/spa/", 5) == 0) {
        /* The single-page app's static shell: it signs in in the browser. */
        refapp_reply_json(&r, 200, json_pack("{s:s}", "page", "spa"));
    } else if (strcmp(path, "/login") == 0) {
        route_login(app, &k, inst, conn, &r);
    } else if (strncmp(path, "/login/", 7) == 0 && strcmp(ri->request_method, "POST") == 0) {
        route_sign_in_form(app, &k, path, form, form_len, &r);
    } else if (strcmp(path, "/callback") == 0) {
        route_callback(app, &k, inst, conn, &r);
        cache_headers(&k, &r);
    } else if (strcmp(path, "/logout") == 0) {
        route_logout(app, &k, conn, &r);
    } else if (to_backend) {
        route_backend(app, path, conn, &r);
    } else {
        route_protected(app, &k, inst, conn, path, &r);
    }
    int status = r.status ? r.status : 500;
    refapp_reply_send(conn, &r);
    refapp_request_end();
    refapp_leave(app);
    return status;
}
