/* scenarios/schema.json against the tables it describes: every step kind,
 * expectation, setting, knob, fault action and route name is a row in a
 * table of the code, and each must stand in the schema, and nothing more.
 * A new row without a schema entry (or a schema entry left behind) fails
 * here, naming the name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "backend.h"
#include "browser.h"
#include "expect.h"
#include "faults.h"
#include "refapp.h"
#include "server.h"
#include "settings.h"
#include "spa.h"
#include "steps.h"

#ifndef SCHEMA_PATH
#define SCHEMA_PATH "scenarios/schema.json"
#endif

static json_t *schema;

static int load_schema(void **state)
{
    (void)state;
    json_error_t jerr;
    schema = json_load_file(SCHEMA_PATH, 0, &jerr);
    if (!schema)
        fprintf(stderr, "%s:%d: %s\n", SCHEMA_PATH, jerr.line, jerr.text);
    return schema ? 0 : -1;
}

static int free_schema(void **state)
{
    (void)state;
    json_decref(schema);
    return 0;
}

static const json_t *def(const char *name)
{
    const json_t *d = json_object_get(json_object_get(schema, "$defs"), name);
    if (!d)
        fail_msg("schema.json has no $defs/%s", name);
    return d;
}

/* names: an array of strings, or an object whose keys are the names. */
static json_t *name_set(const json_t *names)
{
    json_t *set = json_object();
    if (json_is_array(names)) {
        size_t i;
        json_t *n;
        json_array_foreach(names, i, n) json_object_set_new(set, json_string_value(n), json_true());
    } else {
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)names, key, v) json_object_set_new(set, key, json_true());
    }
    return set;
}

/* Both ways: what the code has, the schema has, and the other way round. */
static void assert_same_names(const char *what, json_t *code, const json_t *in_schema)
{
    json_t *a = name_set(code), *b = name_set(in_schema);
    const char *key;
    json_t *v;
    int missing = 0;
    json_object_foreach(a, key, v) if (!json_object_get(b, key)) {
        fprintf(stderr, "%s \"%s\" is in the code's table but not in scenarios/schema.json\n",
                what, key);
        missing++;
    }
    json_object_foreach(b, key, v) if (!json_object_get(a, key)) {
        fprintf(stderr, "%s \"%s\" is in scenarios/schema.json but not in the code's table\n",
                what, key);
        missing++;
    }
    json_decref(a);
    json_decref(b);
    json_decref(code);
    assert_int_equal(missing, 0);
}

static void test_step_kinds(void **state)
{
    (void)state;
    json_t *in_schema = json_array();
    size_t i;
    json_t *alt;
    json_array_foreach(json_object_get(def("step"), "oneOf"), i, alt)
        json_array_append(in_schema, json_array_get(json_object_get(alt, "required"), 0));
    assert_same_names("step", hx_step_kinds(), in_schema);
    json_decref(in_schema);
}

static void test_expectations(void **state)
{
    (void)state;
    assert_same_names("expectation", hx_expect_kinds(),
                      json_object_get(def("expect"), "properties"));
}

static void test_settings(void **state)
{
    (void)state;
    struct idp_settings s;
    idp_settings_defaults(&s);
    assert_same_names("setting", idp_settings_to_json(&s),
                      json_object_get(def("settings"), "properties"));
}

static void test_knobs(void **state)
{
    (void)state;
    assert_same_names("reference-app knob", hx_app_knob_names(),
                      json_object_get(def("app_knobs"), "properties"));
    assert_same_names("browser knob", hx_browser_knob_names(),
                      json_object_get(def("browser"), "properties"));
    assert_same_names("spa knob", hx_spa_knob_names(),
                      json_object_get(def("spa_knobs"), "properties"));
}

static void test_backends(void **state)
{
    (void)state;
    assert_same_names("backend key", hx_backend_entry_keys(),
                      json_object_get(def("backend"), "properties"));
    json_t *reasons = json_array();
    for (const char *const *r = hx_backend_reason_names(); *r; r++)
        json_array_append_new(reasons, json_string(*r));
    const json_t *per_backend = json_object_get(
        json_object_get(json_object_get(def("expect"), "properties"), "backend"),
        "additionalProperties");
    assert_same_names("backend rejection reason", reasons,
                      json_object_get(json_object_get(json_object_get(per_backend, "properties"),
                                                      "reason"), "enum"));
}

static void test_fault_actions_and_routes(void **state)
{
    (void)state;
    const json_t *fields = json_object_get(def("fault_fields"), "properties");
    assert_same_names("fault action", idp_fault_actions(),
                      json_object_get(json_object_get(fields, "action"), "enum"));
    json_t *routes = json_array();
    for (const char *const *n = idp_route_names(); *n; n++)
        json_array_append_new(routes, json_string(*n));
    const json_t *any = json_object_get(json_object_get(fields, "route"), "anyOf");
    assert_same_names("route", routes, json_object_get(json_array_get(any, 0), "enum"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_step_kinds),
        cmocka_unit_test(test_expectations),
        cmocka_unit_test(test_backends),
        cmocka_unit_test(test_settings),
        cmocka_unit_test(test_knobs),
        cmocka_unit_test(test_fault_actions_and_routes),
    };
    return cmocka_run_group_tests_name("schema", tests, load_schema, free_schema);
}
