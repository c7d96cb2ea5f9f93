/* Unit tests for harness/net/url.c: parsing, resolving a Location, sites
 * (schemeful, through the public suffix list) and form encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "url.h"

static void test_parse_and_format(void **state)
{
    (void)state;
    struct hx_url u;
    assert_true(hx_url_parse("http://App.Test:8080/a/b?x=1", &u));
    assert_string_equal(u.scheme, "http");
    assert_string_equal(u.host, "app.test");
    assert_int_equal(u.port, 8080);
    assert_string_equal(u.path, "/a/b");
    assert_string_equal(u.query, "x=1");
    char out[200];
    hx_url_origin(&u, out, sizeof(out));
    assert_string_equal(out, "http://app.test:8080");
    assert_false(hx_url_parse("/relative", &u));
    assert_false(hx_url_parse("", &u));
}

static void test_resolve(void **state)
{
    (void)state;
    struct hx_url base, out;
    assert_true(hx_url_parse("http://app.test:3000/login?x=1", &base));
    assert_true(hx_url_resolve(&base, "/callback?code=c", &out));
    assert_string_equal(out.host, "app.test");
    assert_int_equal(out.port, 3000);
    assert_string_equal(out.path, "/callback");
    assert_string_equal(out.query, "code=c");
    assert_true(hx_url_resolve(&base, "http://idp.test:9/authorize", &out));
    assert_string_equal(out.host, "idp.test");
    assert_int_equal(out.port, 9);
}

static void test_sites_are_schemeful_and_use_the_suffix_list(void **state)
{
    (void)state;
    struct hx_url a, b;
    assert_true(hx_url_parse("https://app.example.com/", &a));
    assert_true(hx_url_parse("https://auth.example.com/", &b));
    assert_true(hx_url_same_site(&a, &b));
    assert_true(hx_url_parse("http://app.example.com/", &b));
    assert_false(hx_url_same_site(&a, &b)); /* http and https are two sites */
    /* github.io is a public suffix: two projects there are two sites */
    assert_true(hx_url_parse("https://one.github.io/", &a));
    assert_true(hx_url_parse("https://two.github.io/", &b));
    assert_false(hx_url_same_site(&a, &b));
    assert_true(hx_url_is_public_suffix("github.io"));
    assert_false(hx_url_is_public_suffix("example.com"));
    assert_true(hx_url_is_ip("127.0.0.1"));
    assert_true(hx_url_is_ip("::1"));
    assert_false(hx_url_is_ip("127.0.0.1.example.com"));
}

static void test_form_encode(void **state)
{
    (void)state;
    json_t *form = json_pack("{s:s, s:s, s:s}", "a", "1", "return to", "/x?y=z&w", "e", "é");
    char *body = hx_form_encode(form);
    assert_string_equal(body, "a=1&return+to=%2Fx%3Fy%3Dz%26w&e=%C3%A9");
    free(body);
    json_decref(form);
    json_t *empty = json_object();
    body = hx_form_encode(empty);
    assert_string_equal(body, "");
    free(body);
    json_decref(empty);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_format),
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_sites_are_schemeful_and_use_the_suffix_list),
        cmocka_unit_test(test_form_encode),
    };
    return cmocka_run_group_tests_name("url", tests, NULL, NULL);
}
