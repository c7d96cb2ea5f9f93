/* Limits and edges of the wire contract: nothing is cut silently (a long
 * Location goes out whole), settings take effect when documented, fault
 * parameters and the clock have bounds, and a refused method says which
 * methods the path takes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_server.h"

/* A 4,100-character redirect_uri comes back whole, with its code, and the
 * code it carries is the one the journal recorded. */
static void test_long_location_is_not_cut(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    enum { PAD = 4100 };
    char *redirect = malloc(PAD + 64);
    assert_non_null(redirect);
    int n = snprintf(redirect, PAD + 64, "%s?pad=", TS_REDIRECT);
    memset(redirect + n, 'a', PAD - (size_t)n);
    redirect[PAD] = '\0';
    struct ts_pkce pkce;
    ts_pkce(&pkce, 43);
    size_t url_size = PAD * 3 + 1024;
    char *url = malloc(url_size);
    assert_non_null(url);
    /* The redirect URI needs no more escaping than its '?' and '='. */
    int len = snprintf(url, url_size,
                       "%s/user_management/authorize?client_id=%s&response_type=code&provider=authkit"
                       "&code_challenge=%s&code_challenge_method=S256&redirect_uri=",
                       ts->url, ts->client_id, pkce.challenge);
    for (const char *p = redirect; *p; p++)
        len += snprintf(url + len, url_size - (size_t)len, *p == '?' ? "%%3F" : *p == '=' ? "%%3D" : "%c", *p);
    struct hx_http_response resp;
    hx_http_request(ts->http, "GET", url, NULL, NULL, 0, TS_TIMEOUT_MS, &resp);
    assert_status(&resp, 302);
    char location[PAD * 2];
    assert_true(hx_http_header(&resp, "Location", location, sizeof(location)));
    assert_true(strlen(location) > PAD);
    assert_memory_equal(location, redirect, PAD);
    char *code = ts_query_param(location, "code");
    assert_non_null(code);
    json_t *entry = ts_journal_last(ts, "authorize");
    assert_string_equal(ts_entry_str(entry, "outcome"), "code_issued");
    json_decref(entry);
    /* The code works: it was not cut either. */
    struct ts_exchange x = {.client_id = ts->client_id, .code = code, .verifier = pkce.verifier};
    struct hx_http_response token;
    ts_exchange(ts, &x, &token);
    assert_status(&token, 200);
    hx_http_response_cleanup(&token);
    hx_http_response_cleanup(&resp);
    free(code);
    free(url);
    free(redirect);
}

static size_t journal_length(struct ts_server *ts)
{
    json_t *entries = ts_journal(ts);
    size_t n = json_array_size(entries);
    json_decref(entries);
    return n;
}

/* journal_size takes effect at once; a reset goes back to the configured
 * size (docs/admin-api.md). */
static void test_journal_size_applies_at_once(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    for (int i = 0; i < 6; i++) {
        struct hx_http_response resp;
        ts_get(ts, "/sso/jwks/" TS_CLIENT, NULL, &resp);
        hx_http_response_cleanup(&resp);
    }
    assert_true(journal_length(ts) >= 6);
    ts_settings(ts, "{\"journal_size\":3}");
    assert_int_equal(journal_length(ts), 3);
    for (int i = 0; i < 4; i++) {
        struct hx_http_response resp;
        ts_get(ts, "/sso/jwks/" TS_CLIENT, NULL, &resp);
        hx_http_response_cleanup(&resp);
    }
    json_t *entries = ts_journal(ts);
    assert_int_equal(json_array_size(entries), 3);
    /* The newest ones, in order. */
    json_int_t first = json_integer_value(json_object_get(json_array_get(entries, 0), "seq"));
    json_int_t last = json_integer_value(json_object_get(json_array_get(entries, 2), "seq"));
    assert_int_equal(last - first, 2);
    json_decref(entries);
    json_decref(ts_admin(ts, "POST", "/_fakeidp/reset", NULL, 200));
    json_t *settings = ts_admin(ts, "GET", "/_fakeidp/settings", NULL, 200);
    assert_int_equal(json_integer_value(json_object_get(settings, "journal_size")), 5000);
    json_decref(settings);
}

/* bloat has bounds: a 300 MB pad is refused when the rule is added. */
static void test_token_bloat_is_bounded(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    static const char *const refused[] = {
        "{\"route\":\"authenticate\",\"action\":\"token\",\"bloat\":{\"pad_to\":300000000}}",
        "{\"route\":\"authenticate\",\"action\":\"token\",\"bloat\":{\"permissions\":1000000}}",
        "{\"route\":\"authenticate\",\"action\":\"token\",\"bloat\":{\"pad_to\":-1}}",
        "{\"route\":\"authenticate\",\"action\":\"token\",\"bloat\":7}",
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        struct hx_http_response resp;
        const char *headers[] = {"Content-Type: application/json", NULL};
        ts_request(ts, NULL, "POST", "/_fakeidp/faults", headers, refused[i], &resp);
        if (resp.status < 400 || resp.status > 499 || !strstr(resp.body, "bloat"))
            fail_msg("%s: %ld %s", refused[i], resp.status, resp.body);
        hx_http_response_cleanup(&resp);
    }
    /* At the bound it works: a token of about 1 MiB. */
    free(ts_add_fault(ts, "{\"route\":\"authenticate\",\"action\":\"token\",\"bloat\":{\"pad_to\":1048576}}"));
    json_t *faults = ts_admin(ts, "GET", "/_fakeidp/faults", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(faults, "faults")), 1);
    json_decref(faults);
}

/* A running clock set to the last instant stays there. */
static void test_clock_stops_at_its_maximum(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    json_decref(ts_admin(ts, "POST", "/_fakeidp/clock",
                         "{\"set\":253402300799000,\"freeze\":false}", 200));
    ts_sleep_ms(1100);
    json_t *clock = ts_admin(ts, "GET", "/_fakeidp/clock", NULL, 200);
    char *text = json_dumps(clock, JSON_COMPACT);
    print_message("clock after 1.1 s at the maximum: %s\n", text);
    assert_non_null(strstr(text, "9999-12-31T23:59:59.999Z"));
    assert_true(ts_now_ms(ts) <= 253402300799999LL);
    free(text);
    json_decref(clock);
    /* A token minted then still verifies (no overflow in its expiry). */
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    ts_session_cleanup(&s);
}

/* HEAD (and any other refused method) gets 405 with an Allow header naming
 * what the path takes. */
static void test_refused_method_names_allowed_ones(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    static const struct {
        const char *method, *path, *allow;
    } cases[] = {
        {"HEAD", "/sso/jwks/" TS_CLIENT, "GET, OPTIONS"},
        {"HEAD", "/.well-known/openid-configuration", "GET, OPTIONS"},
        {"PUT", "/user_management/authorize", "GET, POST, OPTIONS"},
        {"GET", "/user_management/authenticate", "POST, OPTIONS"},
        {"HEAD", "/_fakeidp/health", "GET"},
        {"DELETE", "/_fakeidp/clock", "GET, POST"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct hx_http_response resp;
        ts_request(ts, NULL, cases[i].method, cases[i].path, NULL, NULL, &resp);
        assert_int_equal(resp.status, 405);
        const char *allow = ts_header(&resp, "Allow");
        if (!allow || strcmp(allow, cases[i].allow) != 0)
            fail_msg("%s %s: Allow %s, expected %s", cases[i].method, cases[i].path,
                     allow ? allow : "(none)", cases[i].allow);
        hx_http_response_cleanup(&resp);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TS_TEST(test_long_location_is_not_cut),
        TS_TEST(test_journal_size_applies_at_once),
        TS_TEST(test_token_bloat_is_bounded),
        TS_TEST(test_clock_stops_at_its_maximum),
        TS_TEST(test_refused_method_names_allowed_ones),
    };
    return cmocka_run_group_tests_name("limits", tests, NULL, NULL);
}
