/* The reference app (harness/world/refapp*.c) against an in-process fakeidp,
 * driven over HTTP with harness/net/http_client: /login -> authorize ->
 * /callback sets the session cookie; the cookie opens pages and /api/; a
 * tampered cookie sends the browser to /login; /api/ signed out is 401; the
 * knobs reconfigure (cookie name, bad knob) and a short cookie password
 * refuses to start. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "http_client.h"
#include "keys.h"
#include "refapp.h"
#include "server.h"
#include "timeline.h"

#define NOW 1768478400000LL

struct fixture {
    EVP_PKEY *key;
    struct idp_clock clock;
    struct idp_server *server;
    struct hx_timeline timeline;
    struct hx_app *app;
    struct hx_http_client *http;
    char client_id[64], api_key[128];
};

static struct hx_app *start_app(struct fixture *f, const char *knobs_json, struct idp_error *err)
{
    struct hx_app_config config = {.idp_url = idp_server_url(f->server),
                                   .client_id = f->client_id,
                                   .api_key = f->api_key,
                                   .clock = &f->clock,
                                   .timeline = &f->timeline};
    hx_app_knobs_defaults(&config.knobs);
    if (knobs_json) {
        json_t *knobs = json_loads(knobs_json, 0, NULL);
        assert_non_null(knobs);
        const char *bad = NULL;
        assert_int_equal(hx_app_knobs_apply(&config.knobs, knobs, &bad, err), IDP_OK);
        json_decref(knobs);
    }
    return hx_app_start(&config, err);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct idp_error err;
    char path[1024];
    if (!f)
        return -1;
    idp_default_key_cache_path(path, sizeof(path));
    f->key = idp_pem_load_or_generate(path, &err);
    if (!f->key)
        return -1;
    idp_clock_init(&f->clock);
    idp_clock_freeze(&f->clock, true);
    idp_clock_set(&f->clock, NOW);
    struct idp_server_options o = {.host = "127.0.0.1", .port = 0, .key = f->key,
                                   .clock = &f->clock, .threads = 8};
    f->server = idp_server_start(&o, &err);
    if (!f->server)
        return -1;
    idp_server_credentials(f->server, f->client_id, sizeof(f->client_id), f->api_key,
                           sizeof(f->api_key));
    hx_timeline_init(&f->timeline, NOW);
    f->app = start_app(f, NULL, &err);
    if (!f->app)
        return -1;
    f->http = hx_http_client_new();
    if (!f->http)
        return -1;
    /* The app's URLs say localhost: send them to 127.0.0.1, like the browser model. */
    hx_http_client_loopback(f->http, true);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    hx_http_client_free(&f->http);
    hx_app_stop(&f->app);
    idp_server_stop(&f->server);
    hx_timeline_cleanup(&f->timeline);
    idp_clock_cleanup(&f->clock);
    EVP_PKEY_free(f->key);
    free(f);
    return 0;
}

/* GET url (a path is the app's) with an optional Cookie header. */
static long get(struct fixture *f, const char *url, const char *cookie, struct hx_http_response *resp)
{
    char full[8192], header[8192];
    if (url[0] == '/')
        snprintf(full, sizeof(full), "%s%s", hx_app_origin(f->app), url);
    else
        snprintf(full, sizeof(full), "%s", url);
    const char *headers[] = {header, NULL};
    snprintf(header, sizeof(header), "Cookie: %s", cookie ? cookie : "");
    memset(resp, 0, sizeof(*resp));
    if (!hx_http_request(f->http, "GET", full, cookie ? headers : NULL, NULL, 0, 10000, resp))
        fail_msg("GET %s: %s", full, resp->error);
    return resp->status;
}

/* "name=value" of the Set-Cookie for name, or "" when none. */
static void set_cookie(const struct hx_http_response *resp, const char *name, char *out, size_t size)
{
    size_t cursor = 0;
    char value[8192];
    out[0] = '\0';
    while (hx_http_header_next(resp, "Set-Cookie", &cursor, value, sizeof(value))) {
        size_t n = strlen(name);
        if (strncmp(value, name, n) == 0 && value[n] == '=') {
            char *semi = strchr(value, ';');
            if (semi)
                *semi = '\0';
            snprintf(out, size, "%s", value);
            return;
        }
    }
}

static void location(const struct hx_http_response *resp, char *out, size_t size)
{
    if (!hx_http_header(resp, "Location", out, size))
        fail_msg("status %ld without Location; body: %s", resp->status, resp->body ? resp->body : "");
}

/* Signs in through /login, the fake's authorize and /callback; returns the
 * session cookie ("wos-session=…") the callback set. */
static void sign_in(struct fixture *f, const char *cookie_name, char *session, size_t size)
{
    struct hx_http_response resp;
    char where[8192], verifier[8192];
    assert_int_equal(get(f, "/login?returnPathname=%2Fdashboard", NULL, &resp), 302);
    location(&resp, where, sizeof(where));
    char want[600];
    snprintf(want, sizeof(want), "%s/user_management/authorize?client_id=%s&", idp_server_url(f->server),
             f->client_id);
    assert_int_equal(strncmp(where, want, strlen(want)), 0);
    set_cookie(&resp, "wos-auth-verifier", verifier, sizeof(verifier));
    assert_true(strlen(verifier) > strlen("wos-auth-verifier="));
    hx_http_response_cleanup(&resp);

    assert_int_equal(get(f, where, NULL, &resp), 302);
    location(&resp, where, sizeof(where));
    snprintf(want, sizeof(want), "%s/callback?", hx_app_origin(f->app));
    if (strncmp(where, want, strlen(want)) != 0)
        fail_msg("authorize sent the browser to %s, expected %s…", where, want);
    assert_non_null(strstr(where, "code="));
    hx_http_response_cleanup(&resp);

    assert_int_equal(get(f, where, verifier, &resp), 302);
    char next[1024];
    location(&resp, next, sizeof(next));
    assert_string_equal(next, "/dashboard");
    set_cookie(&resp, cookie_name, session, size);
    if (strlen(session) <= strlen(cookie_name) + 1)
        fail_msg("the callback set no %s cookie", cookie_name);
    char cleared[256];
    set_cookie(&resp, "wos-auth-verifier", cleared, sizeof(cleared));
    assert_string_equal(cleared, "wos-auth-verifier=");
    hx_http_response_cleanup(&resp);
}

static void test_sign_in_sets_cookie(void **state)
{
    struct fixture *f = *state;
    char session[8192];
    sign_in(f, "wos-session", session, sizeof(session));

    struct hx_http_response resp;
    assert_int_equal(get(f, "/dashboard", session, &resp), 200);
    json_t *body = json_loadb(resp.body, resp.body_len, 0, NULL);
    assert_non_null(body);
    assert_true(json_is_true(json_object_get(body, "signed_in")));
    assert_string_equal(json_string_value(json_object_get(body, "path")), "/dashboard");
    assert_int_equal(strncmp(json_string_value(json_object_get(body, "user_id")), "user_", 5), 0);
    assert_non_null(json_string_value(json_object_get(body, "email")));
    json_decref(body);
    hx_http_response_cleanup(&resp);

    assert_int_equal(get(f, "/api/me", session, &resp), 200);
    hx_http_response_cleanup(&resp);
    assert_int_equal(get(f, "/token", session, &resp), 200);
    body = json_loadb(resp.body, resp.body_len, 0, NULL);
    assert_int_equal(strncmp(json_string_value(json_object_get(body, "accessToken")), "eyJ", 3), 0);
    json_decref(body);
    hx_http_response_cleanup(&resp);

    json_t *stats = json_object();
    hx_app_stats(f->app, stats);
    assert_int_equal(json_integer_value(json_object_get(stats, "refreshes")), 0);
    assert_int_equal(json_integer_value(json_object_get(stats, "jwks_fetches")), 1);
    json_decref(stats);
}

/* An expired access token is refreshed by the middleware: the page still
 * shows the user, a new session cookie is written, and the app counts one
 * refresh; the renewed cookie then needs none. */
static void test_expired_token_refreshes(void **state)
{
    struct fixture *f = *state;
    char session[8192], renewed[8192];
    sign_in(f, "wos-session", session, sizeof(session));
    idp_clock_advance(&f->clock, 6 * 60 * 1000);
    struct hx_http_response resp;
    assert_int_equal(get(f, "/api/me", session, &resp), 200);
    set_cookie(&resp, "wos-session", renewed, sizeof(renewed));
    if (strlen(renewed) <= strlen("wos-session="))
        fail_msg("the refresh wrote no new session cookie");
    assert_string_not_equal(renewed, session);
    hx_http_response_cleanup(&resp);
    json_t *stats = json_object();
    hx_app_stats(f->app, stats);
    assert_int_equal(json_integer_value(json_object_get(stats, "refreshes")), 1);
    assert_int_equal(json_integer_value(json_object_get(stats, "refresh_failures")), 0);
    json_decref(stats);
    char *text = hx_timeline_text(&f->timeline, "");
    assert_non_null(strstr(text, "-> refresh"));
    free(text);

    /* The renewed cookie works without another refresh. */
    assert_int_equal(get(f, "/api/me", renewed, &resp), 200);
    hx_http_response_cleanup(&resp);
    stats = json_object();
    hx_app_stats(f->app, stats);
    assert_int_equal(json_integer_value(json_object_get(stats, "refreshes")), 1);
    json_decref(stats);
}

static void test_signed_out(void **state)
{
    struct fixture *f = *state;
    struct hx_http_response resp;
    char where[1024];
    assert_int_equal(get(f, "/api/me", NULL, &resp), 401);
    json_t *body = json_loadb(resp.body, resp.body_len, 0, NULL);
    assert_true(json_is_false(json_object_get(body, "signed_in")));
    assert_string_equal(json_string_value(json_object_get(body, "error")), "Unauthorized");
    json_decref(body);
    hx_http_response_cleanup(&resp);
    assert_int_equal(get(f, "/dashboard", NULL, &resp), 302);
    location(&resp, where, sizeof(where));
    assert_string_equal(where, "/login?returnPathname=%2fdashboard");
    hx_http_response_cleanup(&resp);
    assert_int_equal(get(f, "/", NULL, &resp), 200);
    hx_http_response_cleanup(&resp);
    /* A callback without the PKCE cookie fails the sign-in. */
    assert_int_equal(get(f, "/callback?code=abc&state=xyz", NULL, &resp), 500);
    assert_non_null(strstr(resp.body, "Couldn't sign in"));
    hx_http_response_cleanup(&resp);
    char *text = hx_timeline_text(&f->timeline, "");
    assert_non_null(strstr(text, "callback: no PKCE cookie"));
    free(text);
}

static void test_tampered_cookie(void **state)
{
    struct fixture *f = *state;
    char session[8192];
    sign_in(f, "wos-session", session, sizeof(session));
    /* Flip a character in the middle of the seal. */
    size_t mid = strlen("wos-session=") + (strlen(session) - strlen("wos-session=")) / 2;
    session[mid] = session[mid] == 'A' ? 'B' : 'A';
    struct hx_http_response resp;
    char where[1024];
    assert_int_equal(get(f, "/dashboard", session, &resp), 302);
    location(&resp, where, sizeof(where));
    assert_string_equal(where, "/login?returnPathname=%2fdashboard");
    hx_http_response_cleanup(&resp);
    assert_int_equal(get(f, "/api/me", session, &resp), 401);
    hx_http_response_cleanup(&resp);
    assert_int_equal(get(f, "/api/me", "wos-session=garbage", &resp), 401);
    hx_http_response_cleanup(&resp);
    char *text = hx_timeline_text(&f->timeline, "");
    assert_non_null(strstr(text, "cannot unseal wos-session"));
    free(text);
}

static void test_reconfigure(void **state)
{
    struct fixture *f = *state;
    struct idp_error err;
    const char *bad = NULL;
    json_t *changes = json_pack("{s:s}", "cookie_name", "app-session");
    assert_int_equal(hx_app_reconfigure(f->app, changes, &bad, &err), IDP_OK);
    json_decref(changes);
    char session[8192];
    sign_in(f, "app-session", session, sizeof(session));
    struct hx_http_response resp;
    assert_int_equal(get(f, "/api/me", session, &resp), 200);
    hx_http_response_cleanup(&resp);
    /* The old name is no longer read. */
    char renamed[8300];
    snprintf(renamed, sizeof(renamed), "wos-session=%s", strchr(session, '=') + 1);
    assert_int_equal(get(f, "/api/me", renamed, &resp), 401);
    hx_http_response_cleanup(&resp);

    /* A bad knob is refused and changes nothing. */
    changes = json_pack("{s:s, s:s}", "cookie_name", "other", "dedup_window", "1s");
    bad = NULL;
    assert_int_equal(hx_app_reconfigure(f->app, changes, &bad, &err), IDP_INVALID);
    assert_non_null(bad);
    assert_string_equal(bad, "dedup_window");
    assert_non_null(strstr(err.message, "dedup_window"));
    json_decref(changes);
    assert_int_equal(get(f, "/api/me", session, &resp), 200);
    hx_http_response_cleanup(&resp);
    changes = json_pack("{s:s}", "refresh", "sometimes");
    assert_int_equal(hx_app_reconfigure(f->app, changes, &bad, &err), IDP_INVALID);
    json_decref(changes);

    /* A cookie password under 32 characters, checked per request: 500. */
    changes = json_pack("{s:s}", "cookie_password", "short");
    assert_int_equal(hx_app_reconfigure(f->app, changes, &bad, &err), IDP_OK);
    json_decref(changes);
    assert_int_equal(get(f, "/", NULL, &resp), 500);
    assert_non_null(strstr(resp.body, "at least 32 characters"));
    hx_http_response_cleanup(&resp);
    char password[64];
    hx_app_cookie_password(f->app, password, sizeof(password));
    assert_string_equal(password, "short");
}

static void test_start_refuses_short_password(void **state)
{
    struct fixture *f = *state;
    struct idp_error err;
    memset(&err, 0, sizeof(err));
    struct hx_app *app = start_app(f, "{\"password_check\": \"startup\", \"cookie_password\": \"short\"}", &err);
    assert_null(app);
    assert_int_equal(err.status, IDP_INVALID);
    assert_string_equal(err.message,
                        "WORKOS_COOKIE_PASSWORD is too short: it must be at least 32 characters (refusing to start)");
    app = start_app(f, "{\"password_check\": \"startup\", \"cookie_password\": null}", &err);
    assert_null(app);
    assert_string_equal(err.message,
                        "WORKOS_COOKIE_PASSWORD is not set: it must be at least 32 characters (refusing to start)");
    app = start_app(f, "{\"password_check\": \"startup\"}", &err);
    assert_non_null(app);
    assert_true(hx_app_port(app) > 0);
    assert_int_not_equal(hx_app_port(app), hx_app_port(f->app));
    hx_app_stop(&app);
    assert_null(app);
}

static void test_logout(void **state)
{
    struct fixture *f = *state;
    char session[8192];
    sign_in(f, "wos-session", session, sizeof(session));
    struct hx_http_response resp;
    char where[2048];
    assert_int_equal(get(f, "/logout", session, &resp), 302);
    location(&resp, where, sizeof(where));
    char want[600];
    snprintf(want, sizeof(want), "%s/user_management/sessions/logout?session_id=session_", idp_server_url(f->server));
    if (strncmp(where, want, strlen(want)) != 0)
        fail_msg("logout went to %s, expected %s…", where, want);
    char cleared[256];
    set_cookie(&resp, "wos-session", cleared, sizeof(cleared));
    assert_string_equal(cleared, "wos-session=");
    hx_http_response_cleanup(&resp);
    assert_int_equal(get(f, "/logout", NULL, &resp), 302);
    location(&resp, where, sizeof(where));
    assert_string_equal(where, "/");
    hx_http_response_cleanup(&resp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sign_in_sets_cookie, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired_token_refreshes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signed_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tampered_cookie, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconfigure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_refuses_short_password, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logout, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
