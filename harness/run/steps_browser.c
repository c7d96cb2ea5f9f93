/* The browser's steps: the sign-in (with the step-up pages a custom
 * sign-in asks for), page loads and fetches, navigations and form posts a
 * page starts, the sign-out, browser knobs and the cookie jar. Rows in
 * steps.c's table. */
#include "steps_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "defaults.h"
#include "expect.h"
#include "totp.h"
#include "url.h"

/* ---- sign-in and sign-out ----------------------------------------------- */

enum idp_status hx_step_sign_in_parse(struct hx_check *c, const json_t *v, const char *path,
                                      struct hx_step *out)
{
    out->as.sign_in.method = "authkit";
    if (json_is_true(v))
        return IDP_OK;
    if (json_is_string(v) && strchr(json_string_value(v), '@')) {
        out->as.sign_in.email = json_string_value(v);
        return IDP_OK;
    }
    if (!json_is_object(v))
        return hx_check_fail(c, path, false, "sign_in takes a user's email address, true (the "
                                             "default user) or {user, method, password, organization}");
    static const char *const keys[] = {"user", "method", "password", "organization", NULL};
    enum idp_status st = hx_check_keys(c, v, path, keys, "sign_in");
    if (st)
        return st;
    const json_t *user = json_object_get(v, "user"), *method = json_object_get(v, "method");
    const json_t *password = json_object_get(v, "password"), *org = json_object_get(v, "organization");
    const char *m = method ? json_string_value(method) : "authkit";
    if (user && !(json_is_string(user) && strchr(json_string_value(user), '@')))
        return hx_check_fail(c, path, false, "sign_in user is an email address");
    if (!m || (strcmp(m, "authkit") && strcmp(m, "password") && strcmp(m, "magic_auth")))
        return hx_check_fail(c, path, false, "sign_in method is authkit, password or magic_auth");
    if (password && !json_is_string(password))
        return hx_check_fail(c, path, false, "sign_in password is a string");
    if ((strcmp(m, "password") == 0) != (password != NULL))
        return hx_check_fail(c, path, false, "sign_in password goes with method password, and only with it");
    if (org && !json_is_string(org))
        return hx_check_fail(c, path, false, "sign_in organization is an organization's id or name");
    out->as.sign_in.email = json_string_value(user);
    out->as.sign_in.method = m;
    out->as.sign_in.password = json_string_value(password);
    out->as.sign_in.organization = json_string_value(org);
    return IDP_OK;
}

/* Why a sign-in flow that reached the app did not end signed in, when the
 * browser shows a known cause; "" otherwise. */
static const char *sign_in_cause(const char *start_url, const struct hx_page *page)
{
    struct hx_url start, end;
    if (page->error[0] || strstr(page->url, "/user_management/"))
        return ""; /* the IdP itself answered */
    if (hx_url_parse(start_url, &start) && hx_url_parse(page->url, &end) &&
        strcmp(start.host, end.host) != 0 && page->status != 0)
        return ": the app redirected to another host than the one its cookie was set for "
               "(localhost and 127.0.0.1 are two hosts to a browser)";
    return "";
}

/* The newest code the outbox holds for an address, or "". */
static void outbox_code(struct hx_run *run, const char *email, char *out, size_t size)
{
    char path[400];
    json_t *query = json_pack("{s:s}", "to", email);
    char *enc = hx_form_encode(query);
    json_decref(query);
    snprintf(path, sizeof(path), "/_fakeidp/outbox?%s", enc ? enc : "");
    free(enc);
    json_t *box = hx_run_admin(run, "GET", path, NULL, NULL);
    const json_t *data = json_object_get(box, "data");
    const char *code = json_string_value(json_object_get(json_array_get(data, json_array_size(data) - 1), "code"));
    snprintf(out, size, "%s", code ? code : "");
    json_decref(box);
}

/* POSTs a form of a custom sign-in page. */
static void post_form(struct hx_run *run, const char *origin, const char *path, json_t *form,
                      struct hx_page *page)
{
    char url[900];
    snprintf(url, sizeof(url), "%s%s", origin, path);
    char *body = hx_form_encode(form);
    json_decref(form);
    const char *headers[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    struct hx_navigation nav = {.url = url, .method = "POST", .body = body, .headers = headers,
                                .follow_login = true};
    hx_page_cleanup(page);
    hx_browser_go(&run->browser, &nav, page);
    free(body);
}

/* The organization a step-up page offers whose id or name is wanted. */
static const char *pick_organization(const json_t *orgs, const char *wanted)
{
    size_t i;
    const json_t *o;
    json_array_foreach(orgs, i, o) {
        const char *id = json_string_value(json_object_get(o, "id"));
        const char *name = json_string_value(json_object_get(o, "name"));
        if (wanted && ((id && strcmp(id, wanted) == 0) || (name && strcmp(name, wanted) == 0)))
            return id;
    }
    return NULL;
}

/* Plays the user through the app's step-up pages (email verification code
 * from the outbox, an organization, a TOTP code from the authenticator the
 * user enrolled in this run) until the page is no longer one. */
static void continue_sign_in(struct hx_run *run, const char *wanted, const char *email,
                             const char *origin, struct hx_page *page)
{
    for (int round = 0; round < 5 && page->status == 200 && page->body; round++) {
        json_t *doc = json_loads(page->body, 0, NULL);
        const char *needs = json_string_value(json_object_get(doc, "needs"));
        const char *pending = json_string_value(json_object_get(doc, "pending_authentication_token"));
        if (!needs || !pending) {
            json_decref(doc);
            return;
        }
        hx_run_note(run, "step", "sign in: the app asks for %s", needs);
        json_t *form = json_pack("{s:s}", "pending_authentication_token", pending);
        char code[16] = "";
        const char *challenge = json_string_value(json_object_get(doc, "authentication_challenge_id"));
        if (strcmp(needs, "email_verification_required") == 0) {
            const char *to = json_string_value(json_object_get(doc, "email"));
            outbox_code(run, to ? to : email, code, sizeof(code));
            json_object_set_new(form, "code", json_string(code));
        } else if (strcmp(needs, "organization_selection_required") == 0) {
            const json_t *orgs = json_object_get(doc, "organizations");
            const char *id = pick_organization(orgs, wanted);
            if (!id) {
                char *list = json_dumps(orgs, JSON_COMPACT);
                hx_run_fail(run, "sign_in: %s; the app offers %s: name one with sign_in.organization",
                            wanted ? "the organization to choose is not among those offered"
                                   : "the IdP asks to choose an organization",
                            list ? list : "[]");
                free(list);
                json_decref(form);
                json_decref(doc);
                return;
            }
            json_object_set_new(form, "organization_id", json_string(id));
        } else if (strncmp(needs, "mfa_", 4) == 0 && challenge) {
            const char *secret = json_string_value(json_object_get(doc, "totp_secret"));
            pthread_mutex_lock(&run->lock);
            if (secret)
                json_object_set_new(run->totp_secrets, email, json_string(secret));
            const char *known = json_string_value(json_object_get(run->totp_secrets, email));
            if (!known || !idp_totp_code(known, hx_run_now(run) / 1000, code))
                code[0] = '\0';
            pthread_mutex_unlock(&run->lock);
            if (!code[0]) {
                hx_run_fail(run, "sign_in: the IdP asks for a TOTP code of %s, whose factor was "
                                 "not enrolled in this run", email);
                json_decref(form);
                json_decref(doc);
                return;
            }
            json_object_set_new(form, "authentication_challenge_id", json_string(challenge));
            json_object_set_new(form, "code", json_string(code));
        } else {
            hx_run_note(run, "step", "sign in: the app cannot go on from %s", needs);
            json_decref(form);
            json_decref(doc);
            return; /* the page stays as it is */
        }
        json_decref(doc);
        post_form(run, origin, "/login/continue", form, page);
    }
}

bool hx_step_sign_in_run(struct hx_run *run, const struct hx_step *step)
{
    const char *email = step->as.sign_in.email;
    const char *method = step->as.sign_in.method;
    if (email && strcmp(method, "authkit") == 0) {
        json_t *body = json_pack("{s:s}", "email", email);
        long status = 0;
        json_decref(hx_run_admin(run, "POST", "/_fakeidp/sign-in-as", body, &status));
        json_decref(body);
        if (status != 200) {
            hx_run_fail(run, "sign_in: fakeidp has no user %s", email);
            return false;
        }
    }
    char origin[600];
    if (!hx_step_origin(run, step, origin, sizeof(origin)))
        return false;
    const char *who = email ? email : IDP_DEFAULT_USER_EMAIL;
    struct hx_page page = {0};
    if (strcmp(method, "password") == 0) {
        post_form(run, origin, "/login/password",
                  json_pack("{s:s, s:s}", "email", who, "password", step->as.sign_in.password),
                  &page);
    } else if (strcmp(method, "magic_auth") == 0) {
        post_form(run, origin, "/login/magic-auth", json_pack("{s:s}", "email", who), &page);
        char code[16];
        outbox_code(run, who, code, sizeof(code));
        post_form(run, origin, "/login/magic-auth/verify",
                  json_pack("{s:s, s:s}", "email", who, "code", code), &page);
    } else {
        char url[900];
        const char *login = json_string_value(json_object_get(json_object_get(run->doc, "target"), "login_path"));
        snprintf(url, sizeof(url), "%s%s", origin, login ? login : "/login");
        struct hx_navigation nav = {.url = url, .follow_login = true};
        hx_browser_go(&run->browser, &nav, &page);
    }
    continue_sign_in(run, step->as.sign_in.organization, who, origin, &page);
    bool signed_in = hx_run_is_signed_in(run, page.status, page.body);
    hx_run_note(run, "step", "sign in as %s%s%s: %s (%ld)", email ? email : "default user",
                strcmp(method, "authkit") ? " with " : "", strcmp(method, "authkit") ? method : "",
                signed_in ? "signed in" : "not signed in", page.status);
    /* expect.sign_in "fails" (its only value): this sign-in may fail. */
    bool may_fail = hx_expect_find(&run->variant->expect, "sign_in") != NULL;
    if (!signed_in && !may_fail)
        hx_run_fail(run, "sign_in: the flow did not end signed in (%ld at %.*s)%s", page.status,
                    (int)strcspn(page.url, "?#"), page.url, sign_in_cause(origin, &page));
    if (!signed_in) {
        pthread_mutex_lock(&run->lock);
        run->sign_in_failed = true;
        pthread_mutex_unlock(&run->lock);
    }
    pthread_mutex_lock(&run->lock);
    memset(&run->last, 0, sizeof(run->last)); /* nothing of an earlier step carries over */
    run->last.valid = true;
    run->last.status = page.status;
    run->last.signed_in = signed_in;
    run->last.login_redirect = page.login_redirect;
    snprintf(run->last.stopped_at, sizeof(run->last.stopped_at), "%.500s", page.stopped_at);
    snprintf(run->last.url, sizeof(run->last.url), "%.500s", page.url);
    snprintf(run->last.body_excerpt, sizeof(run->last.body_excerpt), "%s", page.body ? page.body : "");
    snprintf(run->last.error, sizeof(run->last.error), "%s", page.error);
    if (signed_in) {
        run->ever_signed_in = true;
        run->signed_in_at_ms = hx_run_now(run);
        run->lost_at_ms = 0;
    }
    pthread_mutex_unlock(&run->lock);
    json_t *journal = hx_run_admin(run, "GET", "/_fakeidp/journal", NULL, NULL);
    pthread_mutex_lock(&run->lock);
    run->journal_mark = (uint64_t)json_integer_value(json_object_get(journal, "next"));
    pthread_mutex_unlock(&run->lock);
    json_decref(journal);
    hx_page_cleanup(&page);
    return true;
}

enum idp_status hx_step_sign_out_parse(struct hx_check *c, const json_t *v, const char *path,
                                       struct hx_step *out)
{
    if (json_is_true(v))
        return IDP_OK;
    static const char *const keys[] = {"path", "method", "form", "next_action", NULL};
    enum idp_status st = hx_check_keys(c, v, path, keys, "sign_out");
    if (st)
        return st;
    const json_t *p = json_object_get(v, "path"), *m = json_object_get(v, "method");
    const json_t *form = json_object_get(v, "form"), *action = json_object_get(v, "next_action");
    if (p && (!json_is_string(p) || json_string_value(p)[0] != '/'))
        return hx_check_fail(c, path, false, "sign_out path is a path starting with /");
    if (m && (!json_is_string(m) || (strcmp(json_string_value(m), "GET") &&
                                     strcmp(json_string_value(m), "POST"))))
        return hx_check_fail(c, path, false, "sign_out method is GET or POST");
    if (action && (!json_is_string(action) || form || m))
        return hx_check_fail(c, path, false,
                             "next_action is the Server Action id (a string), without form or method");
    const char *key;
    json_t *value;
    if (form && !json_is_object(form))
        return hx_check_fail(c, path, false, "sign_out form is an object of strings");
    json_object_foreach((json_t *)form, key, value) if (!json_is_string(value))
        return hx_check_fail(c, path, false, "sign_out form is an object of strings");
    out->as.sign_out.path = json_string_value(p);
    out->as.sign_out.method = json_string_value(m);
    out->as.sign_out.next_action = json_string_value(action);
    out->as.sign_out.form = form;
    return IDP_OK;
}

/* true: GET /logout. An object: {path, method, form} for a sign-out link,
 * button or form; {path, next_action} for a Next.js Server Action (a POST
 * with the Next-Action header, as the framework's client sends it). */
bool hx_step_sign_out_run(struct hx_run *run, const struct hx_step *step)
{
    const char *path = step->as.sign_out.path;
    const char *method = step->as.sign_out.method;
    const char *action = step->as.sign_out.next_action;
    const json_t *form = step->as.sign_out.form;
    char url[1200], action_header[300], *body = NULL, origin[600];
    if (!hx_step_origin(run, step, origin, sizeof(origin)))
        return false;
    snprintf(url, sizeof(url), "%s%s", origin, path ? path : "/logout");
    const char *headers[4] = {NULL};
    if (action) {
        method = "POST";
        snprintf(action_header, sizeof(action_header), "Next-Action: %s", action);
        headers[0] = action_header;
        headers[1] = "Content-Type: text/plain;charset=UTF-8";
        headers[2] = "Accept: text/x-component";
        body = strdup("[]");
    } else if (form) {
        method = method ? method : "POST";
        headers[0] = "Content-Type: application/x-www-form-urlencoded";
        body = hx_form_encode(form);
    }
    struct hx_navigation nav = {.url = url, .method = method, .body = body, .headers = headers,
                                .follow_login = true};
    struct hx_page page;
    hx_browser_go(&run->browser, &nav, &page);
    hx_run_note(run, "step", "sign out: %s %s -> %ld %.*s", method ? method : "GET",
                path ? path : "/logout", page.status, (int)strcspn(page.url, "?#"), page.url);
    hx_page_cleanup(&page);
    free(body);
    return true;
}

/* ---- page loads and fetches --------------------------------------------- */

bool hx_step_load_run(struct hx_run *run, const struct hx_step *step)
{
    hx_run_load(run, step->as.location, false, "GET", NULL);
    return true;
}

bool hx_step_api_run(struct hx_run *run, const struct hx_step *step)
{
    hx_run_load(run, step->as.location, true, "GET", NULL);
    return true;
}

/* ---- navigations a page starts ------------------------------------------ */

static const char *const page_origins[] = {"app", "cross_site", "typed", NULL};

static bool one_of(const char *text, const char *const *names)
{
    for (size_t i = 0; text && names[i]; i++)
        if (strcmp(text, names[i]) == 0)
            return true;
    return false;
}

static enum idp_status v_from(struct hx_check *c, const json_t *v, const char *path, bool typed_ok)
{
    const json_t *from = json_object_get(v, "from");
    if (from && (!one_of(json_string_value(from), page_origins) ||
                 (!typed_ok && strcmp(json_string_value(from), "typed") == 0)))
        return hx_check_fail(c, path, false, typed_ok
                                                 ? "from is \"app\", \"cross_site\" or \"typed\""
                                                 : "from is \"app\" or \"cross_site\" (a form is on a page)");
    return IDP_OK;
}

enum idp_status hx_step_navigate_parse(struct hx_check *c, const json_t *v, const char *path,
                                       struct hx_step *out)
{
    static const char *const keys[] = {"path", "from", "by", NULL};
    static const char *const ways[] = {"link", "script", NULL};
    enum idp_status st = hx_check_keys(c, v, path, keys, "navigate");
    if (st)
        return st;
    if ((st = hx_step_location_check(c, json_object_get(v, "path"), path)))
        return st;
    const json_t *by = json_object_get(v, "by");
    if (by && !one_of(json_string_value(by), ways))
        return hx_check_fail(c, path, false, "by is \"link\" (a click) or \"script\" (location.assign)");
    out->as.page.path = json_string_value(json_object_get(v, "path"));
    out->as.page.from = json_string_value(json_object_get(v, "from"));
    out->as.page.by = json_string_value(by);
    return v_from(c, v, path, true);
}

enum idp_status hx_step_form_post_parse(struct hx_check *c, const json_t *v, const char *path,
                                        struct hx_step *out)
{
    static const char *const keys[] = {"path", "from", "form", NULL};
    enum idp_status st = hx_check_keys(c, v, path, keys, "form_post");
    if (st)
        return st;
    if ((st = hx_step_location_check(c, json_object_get(v, "path"), path)))
        return st;
    const json_t *form = json_object_get(v, "form");
    out->as.page.path = json_string_value(json_object_get(v, "path"));
    out->as.page.from = json_string_value(json_object_get(v, "from"));
    out->as.page.form = form;
    const char *key;
    json_t *value;
    if (form && !json_is_object(form))
        return hx_check_fail(c, path, false, "form_post form is an object of strings");
    json_object_foreach((json_t *)form, key, value) if (!json_is_string(value))
        return hx_check_fail(c, path, false, "form_post form is an object of strings");
    return v_from(c, v, path, false);
}

/* The page a navigation starts from: the app's own page, a page on another
 * site (HX_CROSS_SITE_PAGE), or none (a typed URL). */
static const char *start_page(struct hx_run *run, const char *from, char *out, size_t size)
{
    if (from && strcmp(from, "typed") == 0)
        return NULL;
    if (from && strcmp(from, "cross_site") == 0)
        return HX_CROSS_SITE_PAGE;
    snprintf(out, size, "%s/", run->app_origin);
    return out;
}

/* A top-level navigation that a link or a script on a page starts. */
bool hx_step_navigate_run(struct hx_run *run, const struct hx_step *step)
{
    const char *path = step->as.page.path, *from = step->as.page.from, *by = step->as.page.by;
    char url[1200], page[600], what[128], why[200];
    if (!hx_run_location(run, path, url, sizeof(url), why, sizeof(why))) {
        hx_run_fail(run, "navigate %s: %s", path, why);
        return false;
    }
    struct hx_navigation nav = {.url = url, .initiator = start_page(run, from, page, sizeof(page)),
                                .by_script = by && strcmp(by, "script") == 0};
    snprintf(what, sizeof(what), "navigate (%s from %s)", by ? by : "link", from ? from : "app");
    hx_run_visit(run, &nav, what, path, NULL);
    return true;
}

/* A top-level form submission (POST, urlencoded) from a page. */
bool hx_step_form_post_run(struct hx_run *run, const struct hx_step *step)
{
    const char *path = step->as.page.path, *from = step->as.page.from;
    json_t *empty = json_object();
    const json_t *form = step->as.page.form;
    char *body = hx_form_encode(form ? form : empty);
    json_decref(empty);
    char url[1200], page[600], what[128], why[200];
    if (!hx_run_location(run, path, url, sizeof(url), why, sizeof(why))) {
        hx_run_fail(run, "form_post %s: %s", path, why);
        free(body);
        return false;
    }
    static const char *const headers[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    struct hx_navigation nav = {.url = url, .method = "POST", .body = body ? body : "",
                                .headers = headers, .initiator = start_page(run, from, page, sizeof(page))};
    snprintf(what, sizeof(what), "form POST (from %s)", from ? from : "app");
    hx_run_visit(run, &nav, what, path, NULL);
    free(body);
    return true;
}

/* ---- browser knobs and the cookie jar ----------------------------------- */

enum idp_status hx_step_browser_parse(struct hx_check *c, const json_t *v, const char *path,
                                      struct hx_step *out)
{
    (void)out; /* the knobs are applied as written, to the run's browser */
    struct hx_browser_knobs scratch;
    hx_browser_knobs_defaults(&scratch);
    struct idp_error e;
    const char *bad = NULL;
    if (!json_is_object(v))
        return hx_check_fail(c, path, false, "expected an object of browser knobs");
    static const char *const fixed[] = {"app_host", "idp_host", NULL};
    for (int i = 0; fixed[i]; i++)
        if (json_object_get(v, fixed[i])) {
            char child[300];
            snprintf(child, sizeof(child), "%s/%s", path, fixed[i]);
            return hx_check_fail(c, child, true,
                                 "%s cannot change mid-run: the origins are fixed when the variant "
                                 "starts (declare the hosts in \"apps\" and address them by URL "
                                 "or \"app/path\")", fixed[i]);
        }
    return hx_browser_knobs_apply(&scratch, v, &bad, &e) ? hx_check_error(c, path, &e) : IDP_OK;
}

bool hx_step_browser_run(struct hx_run *run, const struct hx_step *step)
{
    struct idp_error e;
    pthread_mutex_lock(&run->browser.lock);
    enum idp_status st = hx_browser_knobs_apply(&run->browser.knobs, step->value, NULL, &e);
    pthread_mutex_unlock(&run->browser.lock);
    if (st)
        hx_run_fail(run, "browser: %s", e.message);
    return !st;
}

bool hx_step_clear_cookies_run(struct hx_run *run, const struct hx_step *step)
{
    hx_browser_clear_cookies(&run->browser);
    hx_run_note(run, "step", "cookies cleared");
    (void)step;
    return true;
}

enum idp_status hx_step_tamper_cookie_parse(struct hx_check *c, const json_t *v, const char *path,
                                            struct hx_step *out)
{
    static const char *const keys[] = {"name", "mode", NULL};
    enum idp_status st = hx_check_keys(c, v, path, keys, "tamper_cookie");
    if (st)
        return st;
    const char *mode = json_string_value(json_object_get(v, "mode"));
    if (!mode || (strcmp(mode, "garbage") && strcmp(mode, "truncate") && strcmp(mode, "flip")))
        return hx_check_fail(c, path, false, "tamper_cookie mode is garbage, truncate or flip");
    const json_t *name = json_object_get(v, "name");
    if (name && (!json_is_string(name) || !json_string_length(name)))
        return hx_check_fail(c, path, false, "tamper_cookie name is a cookie's name");
    out->as.cookie.name = name ? json_string_value(name) : "wos-session";
    out->as.cookie.mode = mode;
    return IDP_OK;
}

bool hx_step_tamper_cookie_run(struct hx_run *run, const struct hx_step *step)
{
    const char *name = step->as.cookie.name, *mode = step->as.cookie.mode;
    pthread_mutex_lock(&run->browser.lock);
    bool found = false;
    for (size_t i = 0; i < run->browser.jar.count; i++) {
        struct hx_cookie *c = &run->browser.jar.items[i];
        if (strcmp(c->name, name) != 0)
            continue;
        found = true;
        size_t len = strlen(c->value);
        if (strcmp(mode, "truncate") == 0)
            c->value[len / 2] = '\0';
        else if (strcmp(mode, "flip") == 0 && len > 20)
            c->value[len / 3] = c->value[len / 3] == 'A' ? 'B' : 'A';
        else {
            free(c->value);
            c->value = strdup("Fe26.2*1*garbage*not-a-seal");
        }
    }
    pthread_mutex_unlock(&run->browser.lock);
    char why[300];
    if (found && !hx_browser_push_cookies(&run->browser, why, sizeof(why)))
        hx_run_broken(run, "tamper_cookie: Chromium refused the cookie: %s", why);
    hx_run_note(run, "step", "tamper cookie %s (%s)%s", name, mode, found ? "" : ": no such cookie");
    return true;
}
