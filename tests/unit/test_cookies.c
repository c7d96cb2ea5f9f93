/* The browser model's cookie rules at their boundaries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cookies.h"
#include "url.h"

#define NOW 1768478400000LL

static enum hx_cookie_change set_cookie(struct hx_jar *jar, const char *header, const char *url_text,
                                        enum hx_profile profile, const struct hx_request_context *ctx,
                                        char *why)
{
    struct hx_url url;
    assert_true(hx_url_parse(url_text, &url));
    struct hx_cookie_rules rules = {.profile = profile, .max_bytes = 4096};
    char name[64];
    return hx_jar_set(jar, header, &url, ctx, &rules, NOW, name, sizeof(name), why, 512);
}

static char *header_for(struct hx_jar *jar, const char *url_text, enum hx_profile profile,
                        const struct hx_request_context *ctx, int64_t now)
{
    struct hx_url url;
    assert_true(hx_url_parse(url_text, &url));
    struct hx_cookie_rules rules = {.profile = profile, .max_bytes = 4096};
    return hx_jar_header(jar, &url, ctx, &rules, now);
}

static char *cookie_of_size(size_t total)
{
    /* name "c" + value: total bytes of name and value */
    char *h = malloc(total + 32);
    strcpy(h, "c=");
    memset(h + 2, 'v', total - 1);
    h[total + 1] = '\0';
    return h;
}

static void test_cookie_of_exactly_4096_bytes_is_stored(void **state)
{
    (void)state;
    struct hx_jar jar;
    hx_jar_init(&jar);
    char why[512];
    char *h = cookie_of_size(4096);
    assert_int_equal(set_cookie(&jar, h, "http://localhost:3000/", HX_CHROMIUM, NULL, why), HX_COOKIE_SET);
    free(h);
    hx_jar_cleanup(&jar);
}

static void test_cookie_of_4097_bytes_is_dropped_with_a_reason(void **state)
{
    (void)state;
    struct hx_jar jar;
    hx_jar_init(&jar);
    char why[512];
    char *h = cookie_of_size(4097);
    assert_int_equal(set_cookie(&jar, h, "http://localhost:3000/", HX_CHROMIUM, NULL, why), HX_COOKIE_REJECTED);
    assert_non_null(strstr(why, "4096-byte limit"));
    assert_int_equal(jar.count, 0);
    free(h);
    hx_jar_cleanup(&jar);
}

static void test_oversized_update_keeps_the_old_cookie(void **state)
{
    (void)state;
    struct hx_jar jar;
    hx_jar_init(&jar);
    char why[512];
    set_cookie(&jar, "c=old; Path=/", "http://localhost:3000/", HX_CHROMIUM, NULL, why);
    char *h = cookie_of_size(5000);
    strcat(h, "; Path=/");
    assert_int_equal(set_cookie(&jar, h, "http://localhost:3000/", HX_CHROMIUM, NULL, why), HX_COOKIE_REJECTED);
    char *sent = header_for(&jar, "http://localhost:3000/", HX_CHROMIUM, NULL, NOW);
    assert_string_equal(sent, "c=old");
    free(sent);
    free(h);
    hx_jar_cleanup(&jar);
}

static void test_secure_over_http_localhost_per_profile(void **state)
{
    (void)state;
    const struct {
        enum hx_profile profile;
        enum hx_cookie_change want;
    } cases[] = {{HX_CHROMIUM, HX_COOKIE_SET}, {HX_FIREFOX, HX_COOKIE_SET}, {HX_WEBKIT, HX_COOKIE_REJECTED}};
    for (size_t i = 0; i < 3; i++) {
        struct hx_jar jar;
        hx_jar_init(&jar);
        char why[512];
        assert_int_equal(set_cookie(&jar, "s=1; Secure", "http://localhost:3000/", cases[i].profile, NULL, why),
                         cases[i].want);
        hx_jar_cleanup(&jar);
    }
}

static void test_secure_over_http_lan_host_is_rejected_everywhere(void **state)
{
    (void)state;
    for (int p = HX_CHROMIUM; p <= HX_WEBKIT; p++) {
        struct hx_jar jar;
        hx_jar_init(&jar);
        char why[512];
        assert_int_equal(set_cookie(&jar, "s=1; Secure", "http://app.test:3000/", p, NULL, why), HX_COOKIE_REJECTED);
        assert_non_null(strstr(why, "Secure cookie"));
        hx_jar_cleanup(&jar);
    }
}

static void test_secure_over_https_is_stored_and_not_sent_over_http(void **state)
{
    (void)state;
    struct hx_jar jar;
    hx_jar_init(&jar);
    char why[512];
    assert_int_equal(set_cookie(&jar, "s=1; Secure", "https://app.test/", HX_WEBKIT, NULL, why), HX_COOKIE_SET);
    char *https = header_for(&jar, "https://app.test/", HX_WEBKIT, NULL, NOW);
    char *http = header_for(&jar, "http://app.test/", HX_WEBKIT, NULL, NOW);
    assert_string_equal(https, "s=1");
    assert_string_equal(http, "");
    free(https);
    free(http);
    hx_jar_cleanup(&jar);
}

static void test_samesite_on_cross_site_requests(void **state)
{
    (void)state;
    struct hx_url other;
    assert_true(hx_url_parse("http://other.test/", &other));
    struct hx_jar jar;
    hx_jar_init(&jar);
    char why[512];
    set_cookie(&jar, "lax=1; SameSite=Lax", "http://localhost/", HX_CHROMIUM, NULL, why);
    set_cookie(&jar, "strict=1; SameSite=Strict", "http://localhost/", HX_CHROMIUM, NULL, why);
    set_cookie(&jar, "none=1; SameSite=None; Secure", "http://localhost/", HX_CHROMIUM, NULL, why);
    struct hx_request_context nav = {.site_for_cookies = &other, .top_level_navigation = true, .safe_method = true};
    struct hx_request_context post = {.site_for_cookies = &other, .top_level_navigation = true, .safe_method = false};
    struct hx_request_context sub = {.site_for_cookies = &other};
    char *a = header_for(&jar, "http://localhost/", HX_CHROMIUM, &nav, NOW);
    char *b = header_for(&jar, "http://localhost/", HX_CHROMIUM, &post, NOW);
    char *c = header_for(&jar, "http://localhost/", HX_CHROMIUM, &sub, NOW);
    assert_string_equal(a, "lax=1; none=1");   /* top-level GET: Lax yes, Strict no */
    assert_string_equal(b, "none=1");          /* cross-site POST: Lax no */
    assert_string_equal(c, "none=1");          /* subrequest: only None */
    free(a);
    free(b);
    free(c);
    hx_jar_cleanup(&jar);
}

static void test_samesite_none_without_secure_is_rejected(void **state)
{
    (void)state;
    struct hx_jar jar;
    hx_jar_init(&jar);
    char why[512];
    assert_int_equal(set_cookie(&jar, "n=1; SameSite=None", "http://localhost/", HX_CHROMIUM, NULL, why),
                     HX_COOKIE_REJECTED);
    hx_jar_cleanup(&jar);
}

static void test_third_party_blocking_drops_cross_site_subrequest_cookies(void **state)
{
    (void)state;
    struct hx_url app;
    assert_true(hx_url_parse("http://app.test/", &app));
    struct hx_jar jar;
    hx_jar_init(&jar);
    char why[512];
    struct hx_url idp;
    assert_true(hx_url_parse("https://idp.test/", &idp));
    struct hx_request_context sub = {.site_for_cookies = &app};
    struct hx_cookie_rules block = {.profile = HX_CHROMIUM, .block_third_party = true, .max_bytes = 4096};
    char name[32];
    assert_int_equal(hx_jar_set(&jar, "rt=1; SameSite=None; Secure", &idp, &sub, &block, NOW, name, sizeof(name),
                                why, sizeof(why)),
                     HX_COOKIE_REJECTED);
    assert_non_null(strstr(why, "third-party"));
    struct hx_cookie_rules allow = {.profile = HX_CHROMIUM, .max_bytes = 4096};
    assert_int_equal(hx_jar_set(&jar, "rt=1; SameSite=None; Secure", &idp, &sub, &allow, NOW, name, sizeof(name),
                                why, sizeof(why)),
                     HX_COOKIE_SET);
    hx_jar_cleanup(&jar);
}

static void test_domain_and_path_matching(void **state)
{
    (void)state;
    struct hx_jar jar;
    hx_jar_init(&jar);
    char why[512];
    assert_int_equal(set_cookie(&jar, "d=1; Domain=example.test; Path=/app", "http://a.example.test/app/x",
                                HX_CHROMIUM, NULL, why), HX_COOKIE_SET);
    assert_int_equal(set_cookie(&jar, "e=1; Domain=other.test", "http://a.example.test/", HX_CHROMIUM, NULL, why),
                     HX_COOKIE_REJECTED);
    char *sib = header_for(&jar, "http://b.example.test/app/page", HX_CHROMIUM, NULL, NOW);
    char *prefix = header_for(&jar, "http://b.example.test/application", HX_CHROMIUM, NULL, NOW);
    char *parent = header_for(&jar, "http://example.test/app", HX_CHROMIUM, NULL, NOW);
    assert_string_equal(sib, "d=1");
    assert_string_equal(prefix, "");  /* /app does not match /application */
    assert_string_equal(parent, "d=1");
    free(sib);
    free(prefix);
    free(parent);
    hx_jar_cleanup(&jar);
}

static void test_delete_needs_the_same_domain(void **state)
{
    (void)state;
    struct hx_jar jar;
    hx_jar_init(&jar);
    char why[512];
    set_cookie(&jar, "s=1; Domain=example.test; Path=/", "http://app.example.test/", HX_CHROMIUM, NULL, why);
    /* Deleting without Domain addresses a host-only cookie: nothing to delete. */
    set_cookie(&jar, "s=; Max-Age=0; Path=/", "http://app.example.test/", HX_CHROMIUM, NULL, why);
    assert_int_equal(hx_jar_count(&jar, "s", NOW), 1);
    assert_int_equal(set_cookie(&jar, "s=; Max-Age=0; Path=/; Domain=example.test", "http://app.example.test/",
                                HX_CHROMIUM, NULL, why), HX_COOKIE_DELETED);
    assert_int_equal(hx_jar_count(&jar, "s", NOW), 0);
    hx_jar_cleanup(&jar);
}

static void test_expiry_and_http_only(void **state)
{
    (void)state;
    struct hx_jar jar;
    hx_jar_init(&jar);
    char why[512];
    set_cookie(&jar, "t=1; Max-Age=60; HttpOnly", "http://localhost/", HX_CHROMIUM, NULL, why);
    set_cookie(&jar, "u=2; Expires=Thu, 01 Jan 1970 00:00:00 GMT", "http://localhost/", HX_CHROMIUM, NULL, why);
    struct hx_request_context script = {.from_script = true};
    char *soon = header_for(&jar, "http://localhost/", HX_CHROMIUM, NULL, NOW + 59000);
    char *later = header_for(&jar, "http://localhost/", HX_CHROMIUM, NULL, NOW + 60000);
    char *js = header_for(&jar, "http://localhost/", HX_CHROMIUM, &script, NOW);
    assert_string_equal(soon, "t=1");
    assert_string_equal(later, "");
    assert_string_equal(js, "");  /* HttpOnly is invisible to document.cookie */
    free(soon);
    free(later);
    free(js);
    hx_jar_cleanup(&jar);
}

static void test_malformed_set_cookie_headers_are_rejected(void **state)
{
    (void)state;
    const char *bad[] = {"", "=", ";", " ; Path=/", "=__Host-x", "__Secure-x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct hx_jar jar;
        hx_jar_init(&jar);
        char why[512];
        assert_int_equal(set_cookie(&jar, bad[i], "http://localhost/", HX_CHROMIUM, NULL, why), HX_COOKIE_REJECTED);
        assert_int_equal(jar.count, 0);
        hx_jar_cleanup(&jar);
    }
}

static void test_site_is_the_registrable_domain(void **state)
{
    (void)state;
    struct hx_url a, b, c;
    assert_true(hx_url_parse("https://app.example.test/x", &a));
    assert_true(hx_url_parse("https://auth.example.test/y", &b));
    assert_true(hx_url_parse("https://api.workos.test/", &c));
    assert_true(hx_url_same_site(&a, &b));
    assert_false(hx_url_same_site(&a, &c));
    assert_true(hx_url_is_loopback_host("localhost"));
    assert_true(hx_url_is_loopback_host("app.localhost"));
    assert_true(hx_url_is_loopback_host("127.0.0.2"));
    assert_false(hx_url_is_loopback_host("localhost.evil.test"));
    assert_false(hx_url_parse("ftp://x/", &a));
    assert_false(hx_url_parse("http://:80/", &a));
    assert_false(hx_url_parse("http://host:99999/", &a));
}

static void test_nameless_cookie_is_stored_and_sent_as_its_value(void **state)
{
    (void)state;
    struct hx_jar jar;
    hx_jar_init(&jar);
    char why[512];
    assert_int_equal(set_cookie(&jar, "bare", "http://localhost/", HX_CHROMIUM, NULL, why), HX_COOKIE_SET);
    assert_int_equal(set_cookie(&jar, "=foo; Path=/x", "http://localhost/", HX_CHROMIUM, NULL, why), HX_COOKIE_SET);
    char *h = header_for(&jar, "http://localhost/x", HX_CHROMIUM, NULL, NOW);
    assert_string_equal(h, "foo; bare");
    free(h);
    hx_jar_cleanup(&jar);
}

static void test_top_level_navigation_sets_every_samesite(void **state)
{
    (void)state;
    struct hx_url other;
    assert_true(hx_url_parse("http://other.test/", &other));
    struct hx_request_context get = {.site_for_cookies = &other, .top_level_navigation = true,
                                     .safe_method = true};
    struct hx_request_context post = {.site_for_cookies = &other, .top_level_navigation = true};
    struct hx_request_context sub = {.site_for_cookies = &other, .safe_method = true};
    struct hx_jar jar;
    hx_jar_init(&jar);
    char why[512];
    assert_int_equal(set_cookie(&jar, "s=1; SameSite=Strict", "http://app.test/", HX_CHROMIUM, &get, why), HX_COOKIE_SET);
    assert_int_equal(set_cookie(&jar, "l=1; SameSite=Lax", "http://app.test/", HX_CHROMIUM, &post, why), HX_COOKIE_SET);
    assert_int_equal(set_cookie(&jar, "d=1", "http://app.test/", HX_CHROMIUM, &post, why), HX_COOKIE_SET);
    assert_int_equal(set_cookie(&jar, "x=1", "http://app.test/", HX_CHROMIUM, &sub, why), HX_COOKIE_REJECTED);
    /* A cross-site POST sends only the default cookie younger than 2 minutes. */
    char *young = header_for(&jar, "http://app.test/", HX_CHROMIUM, &post, NOW + 1000);
    char *old = header_for(&jar, "http://app.test/", HX_CHROMIUM, &post, NOW + HX_LAX_UNSAFE_MS);
    assert_string_equal(young, "d=1");
    assert_string_equal(old, "");
    free(young);
    free(old);
    hx_jar_cleanup(&jar);
}

static void test_http_and_https_are_different_sites(void **state)
{
    (void)state;
    struct hx_url a, b;
    assert_true(hx_url_parse("http://app.test/", &a));
    assert_true(hx_url_parse("https://app.test/", &b));
    assert_false(hx_url_same_site(&a, &b));
}

static void test_http_cannot_overwrite_a_secure_cookie(void **state)
{
    (void)state;
    struct hx_jar jar;
    hx_jar_init(&jar);
    char why[512];
    assert_int_equal(set_cookie(&jar, "s=1; Secure; Path=/", "https://app.test/", HX_CHROMIUM, NULL, why), HX_COOKIE_SET);
    assert_int_equal(set_cookie(&jar, "s=2; Path=/", "http://app.test/", HX_CHROMIUM, NULL, why), HX_COOKIE_REJECTED);
    assert_non_null(strstr(why, "Secure"));
    assert_int_equal(set_cookie(&jar, "s=; Max-Age=0; Path=/", "http://app.test/", HX_CHROMIUM, NULL, why),
                     HX_COOKIE_REJECTED);
    assert_int_equal(set_cookie(&jar, "s=3; Secure; Path=/", "https://app.test/", HX_CHROMIUM, NULL, why), HX_COOKIE_SET);
    hx_jar_cleanup(&jar);
}

static void test_cookie_prefixes_are_enforced(void **state)
{
    (void)state;
    struct hx_jar jar;
    hx_jar_init(&jar);
    char why[512];
    assert_int_equal(set_cookie(&jar, "__Secure-a=1", "https://app.test/", HX_CHROMIUM, NULL, why), HX_COOKIE_REJECTED);
    assert_int_equal(set_cookie(&jar, "__Secure-a=1; Secure", "https://app.test/", HX_CHROMIUM, NULL, why), HX_COOKIE_SET);
    assert_int_equal(set_cookie(&jar, "__Host-b=1; Secure", "https://app.test/x/y", HX_CHROMIUM, NULL, why),
                     HX_COOKIE_REJECTED); /* default path /x */
    assert_int_equal(set_cookie(&jar, "__Host-b=1; Secure; Path=/; Domain=app.test", "https://app.test/",
                                HX_CHROMIUM, NULL, why), HX_COOKIE_REJECTED);
    assert_int_equal(set_cookie(&jar, "__host-b=1; Path=/", "https://app.test/", HX_CHROMIUM, NULL, why),
                     HX_COOKIE_REJECTED); /* case-insensitive */
    assert_int_equal(set_cookie(&jar, "__Host-b=1; Secure; Path=/", "https://app.test/", HX_CHROMIUM, NULL, why),
                     HX_COOKIE_SET);
    hx_jar_cleanup(&jar);
}

static void test_cookie_dates_parse_like_browsers(void **state)
{
    (void)state;
    struct hx_jar jar;
    hx_jar_init(&jar);
    char why[512];
    /* NOW is 2026-01-15; each expires within 400 days or is capped. */
    set_cookie(&jar, "a=1; Expires=Fri, 01-Jan-27 00:00:00 GMT", "http://localhost/", HX_CHROMIUM, NULL, why);
    set_cookie(&jar, "b=1; Expires=Fri Jan 01 2027 00:00:00 GMT+0000 (Coordinated Universal Time)",
               "http://localhost/", HX_CHROMIUM, NULL, why);
    set_cookie(&jar, "c=1; Expires=Thu, 01 Jan 2099 00:00:00 GMT", "http://localhost/", HX_CHROMIUM, NULL, why);
    set_cookie(&jar, "d=1; Max-Age=60; Expires=Thu, 01 Jan 2099 00:00:00 GMT", "http://localhost/", HX_CHROMIUM,
               NULL, why);
    set_cookie(&jar, "e=1; Expires=Thu, 01 Jan 2099 00:00:00 GMT; Max-Age=60", "http://localhost/", HX_CHROMIUM,
               NULL, why);
    int64_t jan_2027 = 1798761600000LL;
    assert_int_equal(hx_jar_find(&jar, "a", NULL, NOW)->expires_ms, jan_2027);
    assert_int_equal(hx_jar_find(&jar, "b", NULL, NOW)->expires_ms, jan_2027);
    assert_int_equal(hx_jar_find(&jar, "c", NULL, NOW)->expires_ms, NOW + 400LL * 86400 * 1000);
    assert_int_equal(hx_jar_find(&jar, "d", NULL, NOW)->expires_ms, NOW + 60000);
    assert_int_equal(hx_jar_find(&jar, "e", NULL, NOW)->expires_ms, NOW + 60000);
    hx_jar_cleanup(&jar);
}

static void test_domain_public_suffix_localhost_and_ip(void **state)
{
    (void)state;
    struct hx_jar jar;
    hx_jar_init(&jar);
    char why[512];
    assert_int_equal(set_cookie(&jar, "a=1; Domain=test", "http://app.test/", HX_CHROMIUM, NULL, why), HX_COOKIE_REJECTED);
    assert_non_null(strstr(why, "public suffix"));
    assert_int_equal(set_cookie(&jar, "a=1; Domain=github.io", "https://me.github.io/", HX_CHROMIUM, NULL, why),
                     HX_COOKIE_REJECTED);
    assert_int_equal(set_cookie(&jar, "b=1; Domain=localhost", "http://localhost/", HX_CHROMIUM, NULL, why), HX_COOKIE_SET);
    assert_true(hx_jar_find(&jar, "b", NULL, NOW)->host_only);
    assert_int_equal(set_cookie(&jar, "c=1; Domain=127.0.0.1", "http://127.0.0.1/", HX_CHROMIUM, NULL, why), HX_COOKIE_SET);
    assert_true(hx_jar_find(&jar, "c", NULL, NOW)->host_only);
    assert_int_equal(set_cookie(&jar, "d=1; Domain=0.0.1", "http://127.0.0.1/", HX_CHROMIUM, NULL, why),
                     HX_COOKIE_REJECTED);
    hx_jar_cleanup(&jar);
}

static void test_path_over_1024_bytes_is_ignored(void **state)
{
    (void)state;
    struct hx_jar jar;
    hx_jar_init(&jar);
    char why[512], header[1200];
    snprintf(header, sizeof(header), "p=1; Path=/%01100d", 0);
    assert_int_equal(set_cookie(&jar, header, "http://localhost/a/b", HX_CHROMIUM, NULL, why), HX_COOKIE_SET);
    assert_string_equal(hx_jar_find(&jar, "p", NULL, NOW)->path, "/a");
    hx_jar_cleanup(&jar);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cookie_of_exactly_4096_bytes_is_stored),
        cmocka_unit_test(test_cookie_of_4097_bytes_is_dropped_with_a_reason),
        cmocka_unit_test(test_oversized_update_keeps_the_old_cookie),
        cmocka_unit_test(test_secure_over_http_localhost_per_profile),
        cmocka_unit_test(test_secure_over_http_lan_host_is_rejected_everywhere),
        cmocka_unit_test(test_secure_over_https_is_stored_and_not_sent_over_http),
        cmocka_unit_test(test_samesite_on_cross_site_requests),
        cmocka_unit_test(test_samesite_none_without_secure_is_rejected),
        cmocka_unit_test(test_third_party_blocking_drops_cross_site_subrequest_cookies),
        cmocka_unit_test(test_domain_and_path_matching),
        cmocka_unit_test(test_delete_needs_the_same_domain),
        cmocka_unit_test(test_expiry_and_http_only),
        cmocka_unit_test(test_malformed_set_cookie_headers_are_rejected),
        cmocka_unit_test(test_site_is_the_registrable_domain),
        cmocka_unit_test(test_nameless_cookie_is_stored_and_sent_as_its_value),
        cmocka_unit_test(test_top_level_navigation_sets_every_samesite),
        cmocka_unit_test(test_http_and_https_are_different_sites),
        cmocka_unit_test(test_http_cannot_overwrite_a_secure_cookie),
        cmocka_unit_test(test_cookie_prefixes_are_enforced),
        cmocka_unit_test(test_cookie_dates_parse_like_browsers),
        cmocka_unit_test(test_domain_public_suffix_localhost_and_ip),
        cmocka_unit_test(test_path_over_1024_bytes_is_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
