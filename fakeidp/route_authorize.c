/* GET /user_management/authorize: WorkOS's hosted sign-in, without the page.
 * The user is chosen by login_hint or is the default user; the browser is
 * sent straight back to redirect_uri with a single-use code bound to the
 * client, the redirect URI and the PKCE challenge.
 *
 * The fake keeps no session of its own on the hosted page: every authorize is
 * a new interactive sign-in, so auth_time is the authorize's time and
 * max_age and prompt=login are always met (max_age is still checked for
 * form; prompt takes any value, as the SDKs pass it through).
 * screen_hint=sign-up (AuthKit) with an unknown login_hint signs the new user
 * up. With the login_page setting, a valid GET shows a sign-in page instead
 * whose form POSTs the same parameters here; the POST signs in. */
#include "route_authorize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server_internal.h"

static char *url_encode(const char *text)
{
    size_t size = strlen(text) * 3 + 1;
    char *out = malloc(size);
    if (out)
        mg_url_encode(text, out, size);
    return out;
}

/* Appends "key=value" (encoded) to a URL that may already have a query. */
static void append_param(char **url, const char *key, const char *value)
{
    if (!*url || !value)
        return;
    char *encoded = url_encode(value);
    if (!encoded)
        return;
    size_t len = strlen(*url) + strlen(key) + strlen(encoded) + 3;
    char *grown = realloc(*url, len);
    if (grown) {
        char sep = strchr(grown, '?') ? '&' : '?';
        size_t used = strlen(grown);
        snprintf(grown + used, len - used, "%c%s=%s", sep, key, encoded);
        *url = grown;
    }
    free(encoded);
}

/* The sign-in's authentication_method from how it was asked for: an OAuth
 * provider names itself, an SSO connection is "SSO", AuthKit uses the user's. */
static void sign_in_method(const char *provider, const char *connection, char *out, size_t size)
{
    size_t len = provider ? strlen(provider) : 0;
    if (len > 5 && strcmp(provider + len - 5, "OAuth") == 0)
        snprintf(out, size, "%s", provider);
    else if (connection && *connection)
        snprintf(out, size, "SSO");
    else
        out[0] = '\0';
}

/* Checks the optional parameters the SDKs send; NULL when they are fine. */
static const char *optional_problem(const struct idp_request *req)
{
    const char *max_age = idp_request_param(req, "max_age");
    const char *screen_hint = idp_request_param(req, "screen_hint");
    if (max_age && (!*max_age || strspn(max_age, "0123456789") != strlen(max_age) ||
                    strlen(max_age) > 12))
        return "max_age must be a whole number of seconds.";
    if (screen_hint && strcmp(screen_hint, "sign-in") != 0 && strcmp(screen_hint, "sign-up") != 0)
        return "screen_hint must be 'sign-in' or 'sign-up'.";
    return NULL;
}

/* The hosted AuthKit page opened on its sign-up screen (screen_hint is
 * AuthKit's only; other providers ignore it). */
static bool signs_up(const struct idp_request *req)
{
    const char *screen_hint = idp_request_param(req, "screen_hint");
    const char *provider = idp_request_param(req, "provider");
    return screen_hint && strcmp(screen_hint, "sign-up") == 0 && provider &&
           strcmp(provider, "authkit") == 0;
}

/* A user signing up on the hosted page (screen_hint=sign-up with a new
 * email): created as the sign-up form would. Lock held. */
static struct idp_user *sign_up(struct idp_server *server, const char *email, int64_t now_ms)
{
    json_t *spec = json_pack("{s:s}", "email", email);
    struct idp_error err;
    enum idp_status status = spec ? idp_store_add_user(&server->store, spec, now_ms, &err)
                                  : IDP_NOMEM;
    json_decref(spec);
    return status ? NULL : idp_store_user_by_email(&server->store, email);
}

static void redirect_error(struct idp_response *resp, const char *redirect_uri,
                           const char *state, const char *error, const char *description)
{
    char *url = strdup(redirect_uri);
    append_param(&url, "error", error);
    append_param(&url, "error_description", description);
    append_param(&url, "state", state);
    if (url)
        idp_response_redirect(resp, url);
    else
        idp_response_code_error(resp, 500, "server_error", "Out of memory.");
    free(url);
}

/* Appends text to a growing buffer, HTML-escaped. */
static void html_append(char **out, size_t *len, size_t *cap, const char *text, bool escape)
{
    for (const char *p = text; *out && *p; p++) {
        const char *piece = NULL;
        char one[2] = {*p, 0};
        if (escape && *p == '&') piece = "&amp;";
        else if (escape && *p == '<') piece = "&lt;";
        else if (escape && *p == '>') piece = "&gt;";
        else if (escape && *p == '"') piece = "&quot;";
        else if (escape && *p == '\'') piece = "&#39;";
        else piece = one;
        size_t n = strlen(piece);
        if (*len + n + 1 > *cap) {
            size_t grown_cap = (*cap + n + 1) * 2;
            char *grown = realloc(*out, grown_cap);
            if (!grown) {
                free(*out);
                *out = NULL;
                return;
            }
            *out = grown;
            *cap = grown_cap;
        }
        memcpy(*out + *len, piece, n + 1);
        *len += n;
    }
}

/* The interactive sign-in page (setting login_page): a form that posts the
 * authorize parameters back with the user's email, so the callback is
 * reached from the IdP's own page, as after a real hosted sign-in. Every
 * parameter rides along as a hidden field; login_hint is the email field. */
static void login_page(struct idp_request *req, struct idp_response *resp, const char *email)
{
    size_t len = 0, cap = 1024;
    char *html = malloc(cap);
    if (html)
        html[0] = '\0';
    html_append(&html, &len, &cap,
                "<!doctype html><html><head><meta charset=\"utf-8\"><title>Sign in (fakeidp)</title>"
                "</head><body><h1>Sign in</h1><form id=\"fakeidp-login\" method=\"post\" "
                "action=\"/user_management/authorize\">", false);
    const char *key;
    json_t *value;
    json_object_foreach(req->params, key, value) {
        if (!json_is_string(value) || strcmp(key, "login_hint") == 0)
            continue;
        html_append(&html, &len, &cap, "<input type=\"hidden\" name=\"", false);
        html_append(&html, &len, &cap, key, true);
        html_append(&html, &len, &cap, "\" value=\"", false);
        html_append(&html, &len, &cap, json_string_value(value), true);
        html_append(&html, &len, &cap, "\">", false);
    }
    html_append(&html, &len, &cap, "<label>Email <input name=\"login_hint\" value=\"", false);
    html_append(&html, &len, &cap, email, true);
    html_append(&html, &len, &cap, "\"></label> <button type=\"submit\">Sign in</button>"
                                   "</form></body></html>", false);
    if (!html) {
        idp_response_code_error(resp, 500, "server_error", "Out of memory.");
        return;
    }
    snprintf(req->entry.outcome, sizeof(req->entry.outcome), "login_page");
    idp_response_text(resp, 200, "text/html; charset=utf-8", html, len);
    free(html);
}

void idp_route_authorize(struct idp_server *server, struct idp_request *req,
                         struct idp_response *resp)
{
    const char *client_id = idp_request_param(req, "client_id");
    const char *redirect_uri = idp_request_param(req, "redirect_uri");
    const char *state = idp_request_param(req, "state");
    const char *response_type = idp_request_param(req, "response_type");
    const char *challenge = idp_request_param(req, "code_challenge");
    const char *method = idp_request_param(req, "code_challenge_method");
    const char *hint = idp_request_param(req, "login_hint");
    const char *org = idp_request_param(req, "organization_id");
    snprintf(req->entry.client_id, sizeof(req->entry.client_id), "%s", client_id ? client_id : "");

    if (!client_id || !*client_id) {
        idp_response_code_error(resp, 400, "invalid_request", "client_id is required");
        return;
    }
    if (!redirect_uri || !*redirect_uri) {
        idp_response_code_error(resp, 400, "invalid_request", "redirect_uri is required");
        return;
    }
    if (strncasecmp(redirect_uri, "javascript:", 11) == 0 ||
        strncasecmp(redirect_uri, "data:", 5) == 0) {
        idp_response_code_error(resp, 400, "invalid_redirect_uri",
                                "redirect_uri scheme is not allowed");
        return;
    }
    pthread_mutex_lock(&server->lock);
    struct idp_client *client = idp_store_client(&server->store, client_id);
    if (!client) {
        pthread_mutex_unlock(&server->lock);
        idp_response_code_error(resp, 400, "invalid_client", "Invalid client ID '%s'.", client_id);
        return;
    }
    if (!idp_patterns_match(client->redirect_uris, redirect_uri)) {
        pthread_mutex_unlock(&server->lock);
        idp_response_code_error(resp, 400, "invalid_redirect_uri",
                                "Invalid redirect_uri: '%s' is not allowed for client %s.",
                                redirect_uri, client_id);
        return;
    }
    const char *error = NULL, *description = NULL;
    char detail[256];
    struct idp_user *user = NULL;
    if (!response_type || strcmp(response_type, "code") != 0) {
        error = "unsupported_response_type";
        description = "response_type must be 'code'.";
    } else if (!idp_request_param(req, "provider") && !idp_request_param(req, "connection_id") &&
               !org) {
        error = "invalid_request";
        description = "One of provider, connection_id or organization_id is required.";
    } else if ((method && strcmp(method, "S256") != 0) ||
               (challenge && (strlen(challenge) < 43 || strlen(challenge) > 128))) {
        error = "invalid_request";
        description = "code_challenge must be an S256 challenge (code_challenge_method=S256).";
    } else if ((description = optional_problem(req))) {
        error = "invalid_request";
    } else if (!(user = hint && *hint ? idp_store_user_by_email(&server->store, hint)
                                      : idp_store_default_user(&server->store)) &&
               !(hint && strchr(hint, '@') && signs_up(req) &&
                 (user = sign_up(server, hint, req->now_ms)))) {
        error = "user_not_found";
        snprintf(detail, sizeof(detail), "No user with email '%s'.", hint ? hint : "");
        description = detail;
    } else if (org && *org && !idp_user_membership(user, org)) {
        error = "organization_invalid";
        snprintf(detail, sizeof(detail), "The user is not a member of organization '%s'.", org);
        description = detail;
    }
    if (error) {
        pthread_mutex_unlock(&server->lock);
        snprintf(req->entry.outcome, sizeof(req->entry.outcome), "%s", error);
        redirect_error(resp, redirect_uri, state, error, description);
        return;
    }
    if (server->settings.login_page && strcmp(req->method, "GET") == 0) {
        char email[256];
        const char *address = json_string_value(json_object_get(user->object, "email"));
        snprintf(email, sizeof(email), "%s", address ? address : "");
        pthread_mutex_unlock(&server->lock);
        login_page(req, resp, email);
        return;
    }
    struct idp_code *code = idp_store_code_new(&server->store, &server->rng, req->now_ms,
                                               server->settings.code_ttl_ms);
    char *url = strdup(redirect_uri);
    if (code && url) {
        snprintf(code->client_id, sizeof(code->client_id), "%s", client_id);
        snprintf(code->user_id, sizeof(code->user_id), "%s", user->id);
        const struct idp_membership *m = idp_user_membership(user, org);
        snprintf(code->org_id, sizeof(code->org_id), "%s", m ? m->org_id : "");
        snprintf(code->challenge, sizeof(code->challenge), "%s", challenge ? challenge : "");
        sign_in_method(idp_request_param(req, "provider"), idp_request_param(req, "connection_id"),
                       code->method, sizeof(code->method));
        code->auth_ms = req->now_ms;
        code->redirect_uri = strdup(redirect_uri);
        snprintf(req->entry.user_id, sizeof(req->entry.user_id), "%s", user->id);
        idp_journal_hash(code->code, req->entry.token_hash);
        append_param(&url, "code", code->code);
        append_param(&url, "state", state);
    }
    pthread_mutex_unlock(&server->lock);
    if (code && url) {
        snprintf(req->entry.outcome, sizeof(req->entry.outcome), "code_issued");
        idp_response_redirect(resp, url);
    } else {
        idp_response_code_error(resp, 500, "server_error", "Out of memory.");
    }
    free(url);
}
