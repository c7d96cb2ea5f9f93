/* The world's app entries (harness/world/world.c): which keys are pieces,
 * their defaults, each refusal with the JSON pointer lint reports at, and
 * how step locations resolve to URLs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "world.h"

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, 0, &jerr);
    assert_non_null(v);
    return v;
}

static void test_pieces_are_taken_out_and_knobs_stay(void **state)
{
    (void)state;
    json_t *entry = parse("{\"hosts\": [\"app.test\", \"www.app.test\"], \"client_id\": \"client_a\","
                          " \"proxy\": {\"forward_host\": false}, \"cdn\": {\"set_cookie\": \"strip\"},"
                          " \"adapter\": \"keep_last\", \"header_limit\": {\"request\": 8192},"
                          " \"fan_out\": {\"paths\": [\"/api/a\", \"/api/b\"]},"
                          " \"cookie_name\": \"wos-session-prod\"}");
    struct hx_world_app app;
    struct idp_error err;
    assert_int_equal(hx_world_app_take_pieces(entry, &app, &err), IDP_OK);
    assert_int_equal(app.host_count, 2);
    assert_string_equal(app.hosts[1], "www.app.test");
    assert_string_equal(app.client_id, "client_a");
    assert_string_equal(app.origin, "https://app.test"); /* behind a TLS proxy */
    assert_true(app.pieces.tls);
    assert_true(app.pieces.forward_proto);
    assert_false(app.pieces.forward_host);
    assert_true(app.pieces.cdn);
    assert_true(app.pieces.cdn_honor_origin);
    assert_true(app.pieces.cdn_strip_set_cookie);
    assert_int_equal(app.pieces.cdn_default_ttl_ms, 60000);
    assert_int_equal(app.pieces.adapter, HX_ADAPTER_KEEP_LAST);
    assert_int_equal(app.pieces.request_limit, 8192);
    assert_int_equal(app.pieces.response_limit, 0);
    assert_int_equal(app.pieces.fan_out_count, 2);
    assert_null(app.pieces.fan_out_barrier);
    /* What is left is knobs only. */
    assert_int_equal(json_object_size(entry), 1);
    assert_non_null(json_object_get(entry, "cookie_name"));
    hx_world_app_cleanup(&app);
    json_decref(entry);
}

static void expect_refused(const char *text, const char *pointer, const char *message)
{
    json_t *entry = parse(text);
    struct hx_world_app app;
    struct idp_error err;
    assert_int_equal(hx_world_app_take_pieces(entry, &app, &err), IDP_INVALID);
    assert_string_equal(err.pointer, pointer);
    if (!strstr(err.message, message))
        fail_msg("\"%s\" does not say \"%s\"", err.message, message);
    json_decref(entry);
}

static void test_refusals_point_at_the_member(void **state)
{
    (void)state;
    expect_refused("{}", "/hosts", "hosts is an array");
    expect_refused("{\"hosts\": []}", "/hosts", "hosts is an array");
    expect_refused("{\"hosts\": [\"https://app.test\"]}", "/hosts/0", "without scheme or port");
    expect_refused("{\"hosts\": [\"app.test:3000\"]}", "/hosts/0", "without scheme or port");
    expect_refused("{\"hosts\": [\"App.Test\"]}", "/hosts/0", "lowercase");
    expect_refused("{\"hosts\": [\"a.test\"], \"client_id\": 7}", "/client_id", "client_id is");
    expect_refused("{\"hosts\": [\"a.test\"], \"proxy\": {\"tls\": \"yes\"}}", "/proxy/tls",
                   "tls is true or false");
    expect_refused("{\"hosts\": [\"a.test\"], \"proxy\": {\"https\": true}}", "/proxy/https",
                   "unknown key \"https\" in proxy");
    expect_refused("{\"hosts\": [\"a.test\"], \"cdn\": {\"set_cookie\": \"drop\"}}",
                   "/cdn/set_cookie", "\"keep\" or \"strip\"");
    expect_refused("{\"hosts\": [\"a.test\"], \"cdn\": {\"default_ttl\": \"soon\"}}",
                   "/cdn/default_ttl", "a duration");
    expect_refused("{\"hosts\": [\"a.test\"], \"adapter\": \"keep_one\"}", "/adapter",
                   "\"keep_first\"");
    expect_refused("{\"hosts\": [\"a.test\"], \"header_limit\": {\"request\": 10}}",
                   "/header_limit", "at least 256");
    expect_refused("{\"hosts\": [\"a.test\"], \"fan_out\": {\"paths\": [\"api\"]}}",
                   "/fan_out/paths/0", "starts with '/'");
    expect_refused("{\"hosts\": [\"a.test\"], \"fan_out\": {\"paths\": [\"/a\"], "
                   "\"barrier\": {\"route\": \"nowhere\"}}}", "/fan_out/barrier", "fan_out barrier");
    expect_refused("{\"hosts\": [\"a.test\"], \"providers\": [{\"iss\": \"x\"}]}", "/providers",
                   "providers is an array");
}

static void test_locations_resolve(void **state)
{
    (void)state;
    struct hx_world world;
    hx_world_init(&world, NULL, NULL);
    json_t *entry = parse("{\"hosts\": [\"stg.app.test\"]}");
    struct idp_error err;
    assert_int_equal(hx_world_app_take_pieces(entry, &world.apps[0], &err), IDP_OK);
    snprintf(world.apps[0].name, sizeof(world.apps[0].name), "stg");
    world.count = 1;
    char url[300], why[100];
    assert_true(hx_world_resolve(&world, "http://app.test", "/dashboard", url, sizeof(url), why,
                                 sizeof(why)));
    assert_string_equal(url, "http://app.test/dashboard");
    assert_true(hx_world_resolve(&world, "http://app.test", "stg/api/me", url, sizeof(url), why,
                                 sizeof(why)));
    assert_string_equal(url, "http://stg.app.test/api/me");
    assert_true(hx_world_resolve(&world, "http://app.test", "stg", url, sizeof(url), why,
                                 sizeof(why)));
    assert_string_equal(url, "http://stg.app.test/");
    assert_true(hx_world_resolve(&world, "http://app.test", "https://x.test/p?q=1", url,
                                 sizeof(url), why, sizeof(why)));
    assert_string_equal(url, "https://x.test/p?q=1");
    assert_false(hx_world_resolve(&world, "http://app.test", "prod/dashboard", url, sizeof(url),
                                  why, sizeof(why)));
    assert_string_equal(why, "no app named \"prod\"");
    assert_ptr_equal(hx_world_app_for_host(&world, "STG.app.test"), &world.apps[0]);
    assert_null(hx_world_app_for_host(&world, "app.test"));
    json_decref(entry);
    hx_world_cleanup(&world);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pieces_are_taken_out_and_knobs_stay),
        cmocka_unit_test(test_refusals_point_at_the_member),
        cmocka_unit_test(test_locations_resolve),
    };
    return cmocka_run_group_tests_name("world", tests, NULL, NULL);
}
