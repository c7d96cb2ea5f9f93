/* The step table. Each row: a kind name, how to check its value, how to run
 * it. Adding a step kind is one row and one function. */
#include "steps.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps.h"
#include "duration.h"
#include "url.h"
#include "target.h"
#include "expect.h"
#include "faults.h"
#include "settings.h"
#include "forge.h"
#include "keys.h"
#include "iron.h"
#include "totp.h"
#include "defaults.h"

typedef enum idp_status validate_fn(struct hx_check *, const json_t *value, const char *path);
typedef bool run_fn(struct hx_run *, const json_t *value, const json_t *step);

struct step_kind {
    const char *name;
    const char *summary;
    validate_fn *validate;
    run_fn *run;
};

/* ---- validators ---------------------------------------------------- */

bool hx_step_location_ok(const char *text)
{
    if (!text || !text[0])
        return false;
    if (text[0] == '/')
        return true;
    if (strncmp(text, "http://", 7) == 0 || strncmp(text, "https://", 8) == 0) {
        struct hx_url url;
        return hx_url_parse(text, &url);
    }
    size_t name = strspn(text, "abcdefghijklmnopqrstuvwxyz0123456789_-");
    return name > 0 && (text[name] == '\0' || text[name] == '/');
}

/* A location: a path of the target ("/dashboard"), "app/path" on a named
 * app ("stg/dashboard"), or a URL ("https://www.app.test/dashboard"). */
static enum idp_status v_path(struct hx_check *c, const json_t *v, const char *path)
{
    if (!json_is_string(v) || !hx_step_location_ok(json_string_value(v)))
        return hx_check_fail(c, path, false,
                             "expected a path starting with '/', \"app/path\" or an http(s) URL");
    return IDP_OK;
}

static enum idp_status v_true(struct hx_check *c, const json_t *v, const char *path)
{
    if (!json_is_true(v))
        return hx_check_fail(c, path, false, "expected true");
    return IDP_OK;
}

static enum idp_status v_sign_in(struct hx_check *c, const json_t *v, const char *path)
{
    if (json_is_true(v) || (json_is_string(v) && strchr(json_string_value(v), '@')))
        return IDP_OK;
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
    return IDP_OK;
}

static enum idp_status v_sign_out(struct hx_check *c, const json_t *v, const char *path)
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
    return IDP_OK;
}

static enum idp_status v_duration(struct hx_check *c, const json_t *v, const char *path)
{
    return hx_check_duration(c, v, path);
}

static enum idp_status v_idp_settings(struct hx_check *c, const json_t *v, const char *path)
{
    struct idp_settings scratch;
    idp_settings_defaults(&scratch);
    struct idp_error e;
    if (!json_is_object(v))
        return hx_check_fail(c, path, false, "expected an object of settings");
    return idp_settings_apply(&scratch, v, &e) ? hx_check_error(c, path, &e) : IDP_OK;
}

static enum idp_status v_app_knobs(struct hx_check *c, const json_t *v, const char *path)
{
    struct hx_app_knobs scratch;
    hx_app_knobs_defaults(&scratch);
    struct idp_error e;
    const char *bad = NULL;
    if (!json_is_object(v))
        return hx_check_fail(c, path, false, "expected an object of reference-app knobs");
    return hx_app_knobs_apply(&scratch, v, &bad, &e) ? hx_check_error(c, path, &e) : IDP_OK;
}

static enum idp_status v_browser_knobs(struct hx_check *c, const json_t *v, const char *path)
{
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

static enum idp_status v_fault(struct hx_check *c, const json_t *v, const char *path)
{
    struct idp_faults scratch;
    idp_faults_init(&scratch);
    struct idp_error e;
    enum idp_status st = idp_faults_add(&scratch, v, 0, NULL, 0, &e);
    idp_faults_cleanup(&scratch);
    return st ? hx_check_error(c, path, &e) : IDP_OK;
}

static enum idp_status v_rotate(struct hx_check *c, const json_t *v, const char *path)
{
    static const char *const keys[] = {"publish_lead", "retire_after", NULL};
    if (json_is_true(v))
        return IDP_OK;
    enum idp_status st = hx_check_keys(c, v, path, keys, "rotate_keys");
    const char *name;
    json_t *d;
    json_object_foreach((json_t *)v, name, d) {
        char child[300];
        snprintf(child, sizeof(child), "%s/%s", path, name);
        if (!st)
            st = hx_check_duration(c, d, child);
    }
    return st;
}

enum idp_status hx_steps_validate(struct hx_check *c, const json_t *v, const char *path)
{
    if (!json_is_array(v) || !json_array_size(v))
        return hx_check_fail(c, path, false, "expected a non-empty array of steps");
    size_t i;
    json_t *s;
    enum idp_status first = IDP_OK;
    json_array_foreach(v, i, s) { /* every step is checked: lint reports each error */
        char child[300];
        snprintf(child, sizeof(child), "%s/%zu", path, i);
        enum idp_status st = hx_step_validate(c, s, child);
        if (st && !first)
            first = st;
    }
    return first;
}

static enum idp_status v_repeat(struct hx_check *c, const json_t *v, const char *path)
{
    static const char *const keys[] = {"times", "steps", NULL};
    enum idp_status st = hx_check_keys(c, v, path, keys, "repeat");
    if (st)
        return st;
    const json_t *times = json_object_get(v, "times");
    if (!json_is_integer(times) || json_integer_value(times) < 1 || json_integer_value(times) > 100000)
        return hx_check_fail(c, path, false, "repeat needs \"times\" from 1 to 100000");
    char child[300];
    snprintf(child, sizeof(child), "%s/steps", path);
    return hx_steps_validate(c, json_object_get(v, "steps"), child);
}

static enum idp_status v_expect(struct hx_check *c, const json_t *v, const char *path)
{
    return hx_expect_validate(c, v, path);
}

static enum idp_status v_restart_app(struct hx_check *c, const json_t *v, const char *path)
{
    if (json_is_true(v))
        return IDP_OK;
    static const char *const keys[] = {"env", NULL};
    if (!json_is_object(v))
        return hx_check_fail(c, path, false, "restart_app takes true or {\"env\": {...}}");
    enum idp_status st = hx_check_keys(c, v, path, keys, "restart_app");
    if (st)
        return st;
    const json_t *env = json_object_get(v, "env");
    if (env && !json_is_object(env))
        return hx_check_fail(c, path, false, "restart_app env must be an object of variables");
    const char *name;
    json_t *value;
    json_object_foreach((json_t *)env, name, value)
        if (!json_is_string(value) && !json_is_number(value) && !json_is_boolean(value) &&
            !json_is_null(value))
            return hx_check_fail(c, path, false,
                                 "restart_app env values are strings, numbers, booleans or null");
    return IDP_OK;
}

static enum idp_status v_tamper(struct hx_check *c, const json_t *v, const char *path)
{
    static const char *const keys[] = {"name", "mode", NULL};
    enum idp_status st = hx_check_keys(c, v, path, keys, "tamper_cookie");
    if (st)
        return st;
    const char *mode = json_string_value(json_object_get(v, "mode"));
    if (!mode || (strcmp(mode, "garbage") && strcmp(mode, "truncate") && strcmp(mode, "flip")))
        return hx_check_fail(c, path, false, "tamper_cookie mode is garbage, truncate or flip");
    return IDP_OK;
}

/* ---- runners -------------------------------------------------------- */

/* The origin a step works on: the target's, or its "at" (an app's name or
 * a URL's origin). */
static bool step_origin(struct hx_run *run, const json_t *step, char *out, size_t size)
{
    const char *at = json_string_value(json_object_get(step, "at"));
    char url[1200], why[200];
    struct hx_url parsed;
    if (!at) {
        snprintf(out, size, "%s", run->app_origin);
        return true;
    }
    if (!hx_run_location(run, at, url, sizeof(url), why, sizeof(why)) || !hx_url_parse(url, &parsed)) {
        hx_run_fail(run, "at %s: %s", at, why);
        return false;
    }
    hx_url_origin(&parsed, out, (unsigned)size);
    return true;
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
static void continue_sign_in(struct hx_run *run, const json_t *v, const char *email,
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
            const char *wanted = json_string_value(json_object_get(v, "organization"));
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

static bool r_sign_in(struct hx_run *run, const json_t *v, const json_t *step)
{
    const char *email = json_is_string(v) ? json_string_value(v)
                                          : json_string_value(json_object_get(v, "user"));
    const char *method = json_string_value(json_object_get(v, "method"));
    method = method ? method : "authkit";
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
    if (!step_origin(run, step, origin, sizeof(origin)))
        return false;
    const char *who = email ? email : IDP_DEFAULT_USER_EMAIL;
    struct hx_page page = {0};
    if (strcmp(method, "password") == 0) {
        post_form(run, origin, "/login/password",
                  json_pack("{s:s, s:s}", "email", who, "password",
                            json_string_value(json_object_get(v, "password"))),
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
    continue_sign_in(run, v, who, origin, &page);
    bool signed_in = hx_run_is_signed_in(run, page.status, page.body);
    hx_run_note(run, "step", "sign in as %s%s%s: %s (%ld)", email ? email : "default user",
                strcmp(method, "authkit") ? " with " : "", strcmp(method, "authkit") ? method : "",
                signed_in ? "signed in" : "not signed in", page.status);
    const char *expected = json_string_value(json_object_get(json_object_get(run->doc, "expect"), "sign_in"));
    bool may_fail = expected && strcmp(expected, "fails") == 0;
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

static bool r_load(struct hx_run *run, const json_t *v, const json_t *step)
{
    hx_run_load(run, json_string_value(v), false, "GET", NULL);
    (void)step;
    return true;
}

static bool r_api(struct hx_run *run, const json_t *v, const json_t *step)
{
    hx_run_load(run, json_string_value(v), true, "GET", NULL);
    (void)step;
    return true;
}

static bool r_advance(struct hx_run *run, const json_t *v, const json_t *step)
{
    int64_t ms = 0;
    idp_duration_json(v, false, &ms); /* checked by lint */
    bool ok = hx_run_advance(run, ms);
    char text[32];
    idp_duration_format(ms, text);
    hx_run_note(run, "step", "advance %s", text);
    (void)step;
    return ok;
}

static bool r_fault(struct hx_run *run, const json_t *v, const json_t *step)
{
    long status = 0;
    json_t *reply = hx_run_admin(run, "POST", "/_fakeidp/faults", v, &status);
    char *text = json_dumps(v, JSON_COMPACT);
    hx_run_note(run, "step", "fault %s -> %ld", text ? text : "", status);
    free(text);
    json_decref(reply);
    if (status != 201)
        hx_run_fail(run, "fault was refused by fakeidp (%ld)", status);
    (void)step;
    return status == 201;
}

static enum idp_status v_fault_id(struct hx_check *c, const json_t *v, const char *path)
{
    if (!json_is_string(v) || !json_string_length(v))
        return hx_check_fail(c, path, false, "remove_fault takes the id a fault was given (\"id\")");
    return IDP_OK;
}

static bool r_remove_fault(struct hx_run *run, const json_t *v, const json_t *step)
{
    char path[200];
    snprintf(path, sizeof(path), "/_fakeidp/faults/%s", json_string_value(v));
    long status = 0;
    json_decref(hx_run_admin(run, "DELETE", path, NULL, &status));
    hx_run_note(run, "step", "fault %s removed", json_string_value(v));
    if (status != 200)
        hx_run_fail(run, "remove_fault: fakeidp has no fault \"%s\" (%ld)", json_string_value(v), status);
    (void)step;
    return status == 200;
}

static bool r_clear_faults(struct hx_run *run, const json_t *v, const json_t *step)
{
    json_decref(hx_run_admin(run, "DELETE", "/_fakeidp/faults", NULL, NULL));
    hx_run_note(run, "step", "faults cleared");
    (void)v;
    (void)step;
    return true;
}

static bool r_rotate(struct hx_run *run, const json_t *v, const json_t *step)
{
    long status = 0;
    json_t *body = json_is_object(v) ? json_incref((json_t *)v) : json_object();
    json_t *reply = hx_run_admin(run, "POST", "/_fakeidp/keys/rotate", body, &status);
    json_decref(body);
    hx_run_note(run, "step", "rotate keys -> %zu keys", json_array_size(json_object_get(reply, "keys")));
    json_decref(reply);
    (void)step;
    return status == 200;
}

static bool r_revoke(struct hx_run *run, const json_t *v, const json_t *step)
{
    json_t *sessions = hx_run_admin(run, "GET", "/_fakeidp/sessions", NULL, NULL);
    const char *id = NULL;
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(sessions, "data"), i, s) {
        if (!id && strcmp(json_string_value(json_object_get(s, "status")), "active") == 0)
            id = json_string_value(json_object_get(s, "id"));
    }
    if (!id) {
        hx_run_fail(run, "revoke_session: no active session at fakeidp");
        json_decref(sessions);
        return true;
    }
    char path[200];
    snprintf(path, sizeof(path), "/_fakeidp/sessions/%s/revoke", id);
    json_decref(hx_run_admin(run, "POST", path, NULL, NULL));
    hx_run_note(run, "step", "revoke session %s", id);
    json_decref(sessions);
    (void)v;
    (void)step;
    return true;
}

/* true: GET /logout. An object: {path, method, form} for a sign-out link,
 * button or form; {path, next_action} for a Next.js Server Action (a POST
 * with the Next-Action header, as the framework's client sends it). */
static bool r_sign_out(struct hx_run *run, const json_t *v, const json_t *step)
{
    const char *path = json_string_value(json_object_get(v, "path"));
    const char *method = json_string_value(json_object_get(v, "method"));
    const char *action = json_string_value(json_object_get(v, "next_action"));
    const json_t *form = json_object_get(v, "form");
    char url[1200], action_header[300], *body = NULL, origin[600];
    if (!step_origin(run, step, origin, sizeof(origin)))
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
    (void)step;
    return true;
}

static bool r_idp_settings(struct hx_run *run, const json_t *v, const json_t *step)
{
    long status = 0;
    json_decref(hx_run_admin(run, "PATCH", "/_fakeidp/settings", v, &status));
    char *text = json_dumps(v, JSON_COMPACT);
    hx_run_note(run, "step", "idp settings %s", text ? text : "");
    free(text);
    if (status != 200)
        hx_run_fail(run, "idp_settings refused (%ld)", status);
    (void)step;
    return status == 200;
}

static bool r_app(struct hx_run *run, const json_t *v, const json_t *step)
{
    /* "at": a named app (by name, or a URL on one of its hosts). */
    const char *at = json_string_value(json_object_get(step, "at"));
    struct hx_app *app = run->app;
    if (at) {
        struct hx_url url;
        char name[64];
        snprintf(name, sizeof(name), "%.*s", (int)strcspn(at, "/"), at);
        struct hx_world_app *wa = strstr(at, "://") ? (hx_url_parse(at, &url)
                                                           ? hx_world_app_for_host(&run->world, url.host)
                                                           : NULL)
                                                    : hx_world_app_named(&run->world, name);
        app = wa ? wa->app : NULL;
    }
    if (!app) {
        hx_run_fail(run, "the app step reconfigures a reference app only%s%s", at ? ": no app " : "",
                    at ? at : "");
        return false;
    }
    struct idp_error e;
    const char *bad = NULL;
    if (hx_app_reconfigure(app, v, &bad, &e)) {
        hx_run_fail(run, "app: %s", e.message);
        return false;
    }
    char *text = json_dumps(v, JSON_COMPACT);
    hx_run_note(run, "step", "app%s%s restarted with %s", at ? " " : "", at ? at : "",
                text ? text : "");
    free(text);
    (void)step;
    return true;
}

static bool r_restart_app(struct hx_run *run, const json_t *v, const json_t *step)
{
    char why[700];
    const json_t *env = json_is_object(v) ? json_object_get(v, "env") : NULL;
    char *text = json_dumps(env ? env : json_object(), JSON_COMPACT);
    hx_run_note(run, "step", "restart the app%s%s", env ? " with env " : "", env && text ? text : "");
    free(text);
    if (!hx_target_restart(run, env, why, sizeof(why))) {
        hx_run_fail(run, "restart_app: %s", why);
        return false;
    }
    (void)step;
    return true;
}

static bool r_browser(struct hx_run *run, const json_t *v, const json_t *step)
{
    struct idp_error e;
    pthread_mutex_lock(&run->browser.lock);
    enum idp_status st = hx_browser_knobs_apply(&run->browser.knobs, v, NULL, &e);
    pthread_mutex_unlock(&run->browser.lock);
    if (st)
        hx_run_fail(run, "browser: %s", e.message);
    (void)step;
    return !st;
}

static bool r_clear_cookies(struct hx_run *run, const json_t *v, const json_t *step)
{
    hx_browser_clear_cookies(&run->browser);
    hx_run_note(run, "step", "cookies cleared");
    (void)v;
    (void)step;
    return true;
}

static bool r_tamper(struct hx_run *run, const json_t *v, const json_t *step)
{
    const char *name = json_string_value(json_object_get(v, "name"));
    const char *mode = json_string_value(json_object_get(v, "mode"));
    if (!name)
        name = "wos-session";
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
    (void)step;
    return true;
}

/* Where a step's backend call goes: with "backend", that named backend on
 * the app that serves it (whose token the call carries); otherwise the
 * implicit backend of the app "at" names (the target without it). */
static bool backend_url(struct hx_run *run, const json_t *step, char *origin, size_t size,
                        char *path, size_t path_size)
{
    const char *backend = json_string_value(json_object_get(step, "backend"));
    if (!backend) {
        snprintf(path, path_size, "/convex/query");
        return step_origin(run, step, origin, size);
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
static bool r_convex(struct hx_run *run, const json_t *v, const json_t *step)
{
    bool is_static = strcmp(run->convex_adapter, "static_token") == 0;
    int authenticated = 0;
    char error[512] = "", origin[600], query[96], who[64] = "";
    if (!backend_url(run, step, origin, sizeof(origin), query, sizeof(query)))
        return true;
    if (json_object_get(step, "backend"))
        snprintf(who, sizeof(who), "to %s: ", json_string_value(json_object_get(step, "backend")));
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
    (void)v;
    (void)step;
    return true;
}

static enum idp_status v_tab(struct hx_check *c, const json_t *v, const char *path)
{
    if (json_is_true(v) || json_is_string(v))
        return IDP_OK;
    return hx_check_fail(c, path, false, "expected true (the main tab) or a tab name");
}

static enum idp_status v_tab_ops(struct hx_check *c, const json_t *v, const char *path)
{
    static const char *const keys[] = {"open", "hide", "show", "close", NULL};
    enum idp_status st = hx_check_keys(c, v, path, keys, "spa_tab");
    if (!st && json_object_size(v) != 1)
        st = hx_check_fail(c, path, false, "spa_tab takes one of open, hide, show, close");
    const char *key;
    json_t *name;
    json_object_foreach((json_t *)v, key, name) if (!st && !json_is_string(name))
        st = hx_check_fail(c, path, false, "spa_tab %s takes a tab name", key);
    return st;
}

static bool r_spa_sign_in(struct hx_run *run, const json_t *v, const json_t *step)
{
    (void)step;
    return hx_spa_sign_in(run, v);
}

static bool r_spa_reload(struct hx_run *run, const json_t *v, const json_t *step)
{
    (void)step;
    return hx_spa_reload(run, v);
}

static bool r_spa_wait(struct hx_run *run, const json_t *v, const json_t *step)
{
    (void)step;
    return hx_spa_wait(run, v);
}

static bool r_spa_tab(struct hx_run *run, const json_t *v, const json_t *step)
{
    (void)step;
    return hx_spa_tab_step(run, v);
}

static bool r_spa_call(struct hx_run *run, const json_t *v, const json_t *step)
{
    (void)step;
    return hx_spa_call(run, v);
}

/* ---- forged tokens (security controls) --------------------------------- */

static enum idp_status v_forge_spec(struct hx_check *c, const json_t *spec, const char *path)
{
    return hx_check_keys(c, spec, path, idp_forge_keys, "a token forgery");
}

static enum idp_status v_present(struct hx_check *c, const json_t *v, const char *path)
{
    static const char *const keys[] = {"to", "forge", NULL};
    enum idp_status st = hx_check_keys(c, v, path, keys, "present_token");
    if (st)
        return st;
    const json_t *to = json_object_get(v, "to");
    char child[300];
    snprintf(child, sizeof(child), "%s/to", path);
    if (to && (st = v_path(c, to, child)))
        return st;
    snprintf(child, sizeof(child), "%s/forge", path);
    return json_object_get(v, "forge") ? v_forge_spec(c, json_object_get(v, "forge"), child)
                                       : hx_check_fail(c, path, false, "present_token needs \"forge\"");
}

static enum idp_status v_forge_cookie(struct hx_check *c, const json_t *v, const char *path)
{
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

static bool r_present(struct hx_run *run, const json_t *v, const json_t *step)
{
    /* The token of the target, or of the app a named backend serves. */
    char genuine[8192], url[800], origin[600], query[96];
    if (!backend_url(run, step, origin, sizeof(origin), query, sizeof(query)))
        return true;
    bool named = json_object_get(step, "backend") != NULL;
    if (!hx_run_access_token(run, named ? origin : NULL, genuine, sizeof(genuine))) {
        hx_run_fail(run, "present_token: the app has no access token to forge from (sign in first)");
        return false;
    }
    char *token = forged_token(run, json_object_get(v, "forge"), genuine);
    if (!token)
        return false;
    const char *to = json_string_value(json_object_get(v, "to"));
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
    char *spec = json_dumps(json_object_get(v, "forge"), JSON_COMPACT);
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
static bool r_forge_cookie(struct hx_run *run, const json_t *v, const json_t *step)
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
    char *token = forged_token(run, json_object_get(v, "forge"),
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
        char *spec = json_dumps(json_object_get(v, "forge"), JSON_COMPACT);
        hx_run_note(run, "step", "wos-session re-sealed around a forged access token %s", spec ? spec : "");
        free(spec);
        free(text);
        free(resealed);
    }
    free(token);
    json_decref(payload);
    free(seal);
    free(data);
    (void)step;
    return ok;
}

static bool r_expect(struct hx_run *run, const json_t *v, const json_t *step)
{
    hx_expect_evaluate(run, v);
    (void)step;
    return true;
}

static bool r_repeat(struct hx_run *run, const json_t *v, const json_t *step)
{
    json_int_t times = json_integer_value(json_object_get(v, "times"));
    const json_t *steps = json_object_get(v, "steps");
    for (json_int_t i = 0; i < times; i++) {
        size_t j;
        json_t *s;
        json_array_foreach(steps, j, s) if (!hx_step_run(run, s, (int)j)) return false;
        if (json_array_size(run->failures) > 20)
            return false; /* a repeat must not bury the report in failures */
    }
    (void)step;
    return true;
}

struct parallel_job {
    struct hx_run *run;
    const json_t *step;
    int index;
};

static void *parallel_thread(void *arg)
{
    struct parallel_job *job = arg;
    hx_step_run(job->run, job->step, job->index);
    return NULL;
}

static bool r_parallel(struct hx_run *run, const json_t *v, const json_t *step)
{
    const json_t *barrier = json_object_get(step, "barrier");
    char barrier_id[64] = "";
    if (barrier)
        hx_run_barrier_add(run, barrier, json_array_size(v), barrier_id, sizeof(barrier_id));
    size_t n = json_array_size(v);
    pthread_t *threads = calloc(n, sizeof(*threads));
    struct parallel_job *jobs = calloc(n, sizeof(*jobs));
    hx_run_note(run, "step", "parallel: %zu steps%s", n, barrier ? " behind a barrier at fakeidp" : "");
    for (size_t i = 0; threads && jobs && i < n; i++) {
        jobs[i] = (struct parallel_job){run, json_array_get(v, i), (int)i};
        if (pthread_create(&threads[i], NULL, parallel_thread, &jobs[i]) != 0)
            parallel_thread(&jobs[i]);
    }
    for (size_t i = 0; threads && jobs && i < n; i++)
        if (threads[i])
            pthread_join(threads[i], NULL);
    free(threads);
    free(jobs);
    hx_run_barrier_remove(run, barrier_id);
    return true;
}

/* ---- navigations a page starts -------------------------------------- */

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

static enum idp_status v_navigate(struct hx_check *c, const json_t *v, const char *path)
{
    static const char *const keys[] = {"path", "from", "by", NULL};
    static const char *const ways[] = {"link", "script", NULL};
    enum idp_status st = hx_check_keys(c, v, path, keys, "navigate");
    if (st)
        return st;
    if ((st = v_path(c, json_object_get(v, "path"), path)))
        return st;
    const json_t *by = json_object_get(v, "by");
    if (by && !one_of(json_string_value(by), ways))
        return hx_check_fail(c, path, false, "by is \"link\" (a click) or \"script\" (location.assign)");
    return v_from(c, v, path, true);
}

static enum idp_status v_form_post(struct hx_check *c, const json_t *v, const char *path)
{
    static const char *const keys[] = {"path", "from", "form", NULL};
    enum idp_status st = hx_check_keys(c, v, path, keys, "form_post");
    if (st)
        return st;
    if ((st = v_path(c, json_object_get(v, "path"), path)))
        return st;
    const json_t *form = json_object_get(v, "form");
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
static const char *start_page(struct hx_run *run, const json_t *v, char *out, size_t size)
{
    const char *from = json_string_value(json_object_get(v, "from"));
    if (from && strcmp(from, "typed") == 0)
        return NULL;
    if (from && strcmp(from, "cross_site") == 0)
        return HX_CROSS_SITE_PAGE;
    snprintf(out, size, "%s/", run->app_origin);
    return out;
}

/* A top-level navigation that a link or a script on a page starts. */
static bool r_navigate(struct hx_run *run, const json_t *v, const json_t *step)
{
    const char *path = json_string_value(json_object_get(v, "path"));
    const char *from = json_string_value(json_object_get(v, "from"));
    const char *by = json_string_value(json_object_get(v, "by"));
    char url[1200], page[600], what[128], why[200];
    if (!hx_run_location(run, path, url, sizeof(url), why, sizeof(why))) {
        hx_run_fail(run, "navigate %s: %s", path, why);
        return false;
    }
    struct hx_navigation nav = {.url = url, .initiator = start_page(run, v, page, sizeof(page)),
                                .by_script = by && strcmp(by, "script") == 0};
    snprintf(what, sizeof(what), "navigate (%s from %s)", by ? by : "link", from ? from : "app");
    hx_run_visit(run, &nav, what, path, NULL);
    (void)step;
    return true;
}

/* A top-level form submission (POST, urlencoded) from a page. */
static bool r_form_post(struct hx_run *run, const json_t *v, const json_t *step)
{
    const char *path = json_string_value(json_object_get(v, "path"));
    const char *from = json_string_value(json_object_get(v, "from"));
    json_t *empty = json_object();
    const json_t *form = json_object_get(v, "form");
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
                                .headers = headers, .initiator = start_page(run, v, page, sizeof(page))};
    snprintf(what, sizeof(what), "form POST (from %s)", from ? from : "app");
    hx_run_visit(run, &nav, what, path, NULL);
    free(body);
    (void)step;
    return true;
}

static const struct step_kind kinds[] = {
    {"sign_in", "the full sign-in through the target's /login (email or true)", v_sign_in, r_sign_in},
    {"load", "a page load (top-level navigation) of a path", v_path, r_load},
    {"reload", "the same as load", v_path, r_load},
    {"api", "a fetch() from the page to a path of the target", v_path, r_api},
    {"navigate", "a navigation a page starts ({path, from: app|cross_site|typed, by: link|script})", v_navigate, r_navigate},
    {"form_post", "a top-level form POST from a page ({path, form, from: app|cross_site})", v_form_post, r_form_post},
    {"advance", "move virtual time forward", v_duration, r_advance},
    {"fault", "add a fault rule at fakeidp", v_fault, r_fault},
    {"remove_fault", "remove one fault by its id", v_fault_id, r_remove_fault},
    {"clear_faults", "remove every fault", v_true, r_clear_faults},
    {"rotate_keys", "rotate the signing key ({publish_lead, retire_after})", v_rotate, r_rotate},
    {"revoke_session", "revoke the newest active session at fakeidp", v_true, r_revoke},
    {"sign_out", "sign out: true (GET /logout) or {path, method, form} or {path, next_action}", v_sign_out, r_sign_out},
    {"idp_settings", "change fakeidp settings", v_idp_settings, r_idp_settings},
    {"app", "restart the reference app with changed knobs", v_app_knobs, r_app},
    {"restart_app", "restart an external app the harness started (true or {env})", v_restart_app, r_restart_app},
    {"browser", "change browser knobs", v_browser_knobs, r_browser},
    {"clear_cookies", "empty the cookie jar", v_true, r_clear_cookies},
    {"tamper_cookie", "corrupt a cookie in the jar ({name, mode})", v_tamper, r_tamper},
    {"convex_query", "a Convex query with the configured adapter", v_true, r_convex},
    {"present_token", "send a forged access token to a backend path ({to, forge})", v_present, r_present},
    {"forge_session_cookie", "re-seal wos-session around a forged access token ({forge})", v_forge_cookie, r_forge_cookie},
    {"spa_sign_in", "sign in through the SPA client (authkit-js model)", v_sign_in, r_spa_sign_in},
    {"spa_reload", "reload a tab of the SPA (true: the main tab)", v_tab, r_spa_reload},
    {"spa_wait", "let time pass with the SPA's refresh timers running", v_duration, r_spa_wait},
    {"spa_tab", "open, hide, show or close a tab ({\"open\": \"t2\"})", v_tab_ops, r_spa_tab},
    {"spa_call", "getAccessToken and a backend (Convex) call from a tab", v_tab, r_spa_call},
    {"parallel", "run steps at once (optional \"barrier\" at fakeidp)", hx_steps_validate, r_parallel},
    {"repeat", "run steps N times ({times, steps})", v_repeat, r_repeat},
    {"expect", "check expectations now", v_expect, r_expect},
};

static const struct step_kind *find_kind(const char *name)
{
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(kinds[i].name, name) == 0)
            return &kinds[i];
    return NULL;
}

enum idp_status hx_step_validate(struct hx_check *check, const json_t *step, const char *path)
{
    if (!json_is_object(step))
        return hx_check_fail(check, path, false, "a step must be an object such as {\"advance\": \"5m\"}");
    const struct step_kind *kind = NULL;
    const char *key, *kind_key = NULL;
    json_t *value;
    json_object_foreach((json_t *)step, key, value) {
        if (strcmp(key, "note") == 0 || strcmp(key, "barrier") == 0 || strcmp(key, "at") == 0 ||
            strcmp(key, "instance") == 0 || strcmp(key, "backend") == 0)
            continue;
        char child[300];
        snprintf(child, sizeof(child), "%s/%s", path, key);
        const struct step_kind *k = find_kind(key);
        if (!k) {
            const char *names[sizeof(kinds) / sizeof(kinds[0]) + 1];
            for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
                names[i] = kinds[i].name;
            names[sizeof(kinds) / sizeof(kinds[0])] = NULL;
            return hx_check_unknown(check, child, "step", "steps", key, names);
        }
        if (kind)
            return hx_check_fail(check, child, true, "a step has one kind; \"%s\" and \"%s\" are two",
                                 kind_key, key);
        kind = k;
        kind_key = key;
    }
    if (!kind)
        return hx_check_fail(check, path, false, "empty step: name a kind such as \"load\"");
    if (json_object_get(step, "note") && !json_is_string(json_object_get(step, "note")))
        return hx_check_fail(check, path, false, "note must be a string");
    const json_t *at = json_object_get(step, "at"), *instance = json_object_get(step, "instance");
    if (at) {
        char child[300];
        snprintf(child, sizeof(child), "%s/at", path);
        if (strcmp(kind->name, "sign_in") != 0 && strcmp(kind->name, "sign_out") != 0 &&
            strcmp(kind->name, "app") != 0 && strcmp(kind->name, "convex_query") != 0)
            return hx_check_fail(check, child, true,
                                 "at goes with sign_in, sign_out, app and convex_query only");
        if (!json_is_string(at) || !hx_step_location_ok(json_string_value(at)))
            return hx_check_fail(check, child, false,
                                 "at is an app's name (\"stg\") or a URL (\"https://www.app.test\")");
    }
    if (instance) {
        char child[300];
        snprintf(child, sizeof(child), "%s/instance", path);
        static const char *const with[] = {"load", "reload", "api", "sign_in", "sign_out", NULL};
        bool ok = false;
        for (int i = 0; with[i]; i++)
            ok = ok || strcmp(kind->name, with[i]) == 0;
        if (!ok)
            return hx_check_fail(check, child, true,
                                 "instance goes with load, reload, api, sign_in and sign_out only");
        if (!json_is_integer(instance) || json_integer_value(instance) < 1 ||
            json_integer_value(instance) > HX_APP_MAX_INSTANCES)
            return hx_check_fail(check, child, false,
                                 "instance is the app instance the balancer sends this step to, "
                                 "1 to %d", HX_APP_MAX_INSTANCES);
    }
    const json_t *backend = json_object_get(step, "backend");
    if (backend) {
        char child[300];
        snprintf(child, sizeof(child), "%s/backend", path);
        if (strcmp(kind->name, "convex_query") != 0 && strcmp(kind->name, "present_token") != 0)
            return hx_check_fail(check, child, true,
                                 "backend goes with convex_query and present_token only");
        if (!json_is_string(backend) || !hx_backend_name_ok(json_string_value(backend)))
            return hx_check_fail(check, child, false,
                                 "backend is the name of one of the scenario's \"backends\"");
        if (at)
            return hx_check_fail(check, child, true,
                                 "backend and at do not go together: a backend receives the "
                                 "tokens of its own app (its \"app\")");
        if (json_object_get(json_object_get(step, kind->name), "to"))
            return hx_check_fail(check, child, true,
                                 "backend and to do not go together: a backend has its own path");
    }
    const json_t *barrier = json_object_get(step, "barrier");
    if (barrier) {
        char child[300];
        snprintf(child, sizeof(child), "%s/barrier", path);
        if (strcmp(kind->name, "parallel") != 0)
            return hx_check_fail(check, child, true, "barrier goes with parallel steps only");
        json_t *rule = json_deep_copy(barrier);
        json_object_set_new(rule, "action", json_string("barrier"));
        enum idp_status st = json_is_object(barrier) ? v_fault(check, rule, child)
                                                     : hx_check_fail(check, child, false, "barrier is a fault rule object");
        json_decref(rule);
        if (st)
            return st;
    }
    char child[300];
    snprintf(child, sizeof(child), "%s/%s", path, kind->name);
    return kind->validate(check, json_object_get(step, kind->name), child);
}

bool hx_step_run(struct hx_run *run, const json_t *step, int index)
{
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)step, key, value) {
        const struct step_kind *k = find_kind(key);
        if (k) {
            char where[64];
            snprintf(where, sizeof(where), "step %d (%s)", index, k->name);
            if (hx_run_out_of_time(run, where))
                return false;
            const char *note = json_string_value(json_object_get(step, "note"));
            if (note)
                hx_run_note(run, "note", "%s", note);
            bool spa = strncmp(k->name, "spa_", 4) == 0;
            if (spa)
                pthread_mutex_lock(&run->spa_lock);
            /* "instance": the balancer sends this step's requests there. */
            int pinned = hx_browser_pin_instance(
                (int)json_integer_value(json_object_get(step, "instance")));
            bool go_on = k->run(run, value, step);
            hx_browser_pin_instance(pinned);
            if (spa)
                pthread_mutex_unlock(&run->spa_lock);
            /* Leaf steps bring what fakeidp saw into the timeline. */
            if (strcmp(k->name, "parallel") != 0 && strcmp(k->name, "repeat") != 0)
                hx_run_sync_journal(run);
            return go_on;
        }
    }
    return false;
}

json_t *hx_step_kinds(void)
{
    json_t *out = json_object();
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        json_object_set_new(out, kinds[i].name, json_string(kinds[i].summary));
    return out;
}
