/* hx_scenario_load on files written to a scratch folder: variant merging
 * (objects member by member, "expect" replaced whole, arrays replaced),
 * errors at file:line:col, every error of a file collected, unknown keys
 * with a did-you-mean. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "scenario.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/test_scenario.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Writes text to dir/name; path gets the file's path. */
static void write_file(const char *name, const char *text, char *path, size_t size)
{
    snprintf(path, size, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

static struct hx_scenario *load(const char *name, const char *text, struct idp_error *err,
                                json_t *messages)
{
    char path[256];
    write_file(name, text, path, sizeof(path));
    memset(err, 0, sizeof(*err));
    return hx_scenario_load(path, err, messages);
}

static const struct hx_variant *variant(const struct hx_scenario *sc, const char *name)
{
    for (size_t i = 0; i < sc->variant_count; i++)
        if (strcmp(sc->variants[i].name, name) == 0)
            return &sc->variants[i];
    fail_msg("no variant %s", name);
    return NULL;
}

static void test_no_variants(void **state)
{
    (void)state;
    struct idp_error err;
    struct hx_scenario *sc = load("plain.json",
                                  "{\"name\": \"plain\", \"tags\": [\"a\", \"b\"],\n"
                                  " \"steps\": [{\"sign_in\": true}],\n"
                                  " \"expect\": {\"session\": \"survives\"}}\n",
                                  &err, NULL);
    if (!sc)
        fail_msg("load failed: %s", err.message);
    assert_string_equal(sc->name, "plain");
    assert_int_equal(sc->variant_count, 1);
    assert_string_equal(sc->variants[0].name, "default");
    assert_string_equal(json_string_value(json_object_get(json_object_get(sc->variants[0].doc, "expect"),
                                                          "session")),
                        "survives");
    assert_int_equal(json_array_size(sc->tags), 2);
    assert_string_equal(json_string_value(json_array_get(sc->tags, 1)), "b");
    hx_scenario_free(&sc);
    assert_null(sc);
}

static const char *const merging =
    "{\n"
    "  \"name\": \"merge\",\n"
    "  \"idp\": { \"settings\": { \"access_ttl\": \"5m\", \"refresh_mode\": \"grace\" } },\n"
    "  \"target\": { \"dedupe\": true, \"refresh\": \"proactive\" },\n"
    "  \"steps\": [ { \"sign_in\": true }, { \"advance\": \"6m\" } ],\n"
    "  \"expect\": { \"session\": \"survives\", \"idp\": { \"refreshes\": 1 } },\n"
    "  \"variants\": {\n"
    "    \"strict\": {\n"
    "      \"idp\": { \"settings\": { \"refresh_mode\": \"strict\" } },\n"
    "      \"expect\": { \"session\": \"lost\" }\n"
    "    },\n"
    "    \"short\": {\n"
    "      \"target\": { \"dedupe\": false },\n"
    "      \"steps\": [ { \"advance\": \"1m\" } ]\n"
    "    }\n"
    "  }\n"
    "}\n";

static void test_variant_merge(void **state)
{
    (void)state;
    struct idp_error err;
    struct hx_scenario *sc = load("merge.json", merging, &err, NULL);
    if (!sc)
        fail_msg("load failed: %s", err.message);
    assert_int_equal(sc->variant_count, 2);

    /* Objects merge member by member: the base's access_ttl stays. */
    const json_t *strict = variant(sc, "strict")->doc;
    const json_t *settings = json_object_get(json_object_get(strict, "idp"), "settings");
    assert_string_equal(json_string_value(json_object_get(settings, "refresh_mode")), "strict");
    assert_string_equal(json_string_value(json_object_get(settings, "access_ttl")), "5m");
    /* expect is replaced whole: the base's idp count is gone. */
    const json_t *expect = json_object_get(strict, "expect");
    assert_int_equal(json_object_size(expect), 1);
    assert_string_equal(json_string_value(json_object_get(expect, "session")), "lost");
    assert_null(json_object_get(expect, "idp"));
    /* Sections the variant does not name are the base's. */
    assert_int_equal(json_array_size(json_object_get(strict, "steps")), 2);
    assert_null(json_object_get(strict, "variants"));

    const json_t *shortv = variant(sc, "short")->doc;
    const json_t *target = json_object_get(shortv, "target");
    assert_false(json_is_true(json_object_get(target, "dedupe")));
    assert_true(json_is_false(json_object_get(target, "dedupe")));
    assert_string_equal(json_string_value(json_object_get(target, "refresh")), "proactive");
    /* Arrays replace. */
    const json_t *steps = json_object_get(shortv, "steps");
    assert_int_equal(json_array_size(steps), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(steps, 0), "advance")), "1m");
    /* The variant without expect has the base's. */
    const json_t *base_expect = json_object_get(shortv, "expect");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(base_expect, "idp"), "refreshes")), 1);
    /* The base document is untouched by the merge. */
    const json_t *root_settings = json_object_get(json_object_get(sc->root, "idp"), "settings");
    assert_string_equal(json_string_value(json_object_get(root_settings, "refresh_mode")), "grace");
    hx_scenario_free(&sc);
}

static void test_missing_expect(void **state)
{
    (void)state;
    struct idp_error err;
    struct hx_scenario *sc = load("noexpect.json",
                                  "{\"name\": \"n\",\n"
                                  " \"steps\": [{\"sign_in\": true}],\n"
                                  " \"variants\": {\"a\": {\"expect\": {\"session\": \"lost\"}},\n"
                                  "               \"b\": {\"tags\": [\"x\"]}}}\n",
                                  &err, NULL);
    assert_null(sc);
    assert_int_equal(err.status, IDP_INVALID);
    assert_string_equal(err.message, "variant \"b\" has no \"expect\": say what must happen");
    assert_int_equal(err.line, 4);
    assert_int_equal(err.col, 21);
    assert_non_null(strstr(err.file, "noexpect.json"));
}

static void test_unknown_top_key(void **state)
{
    (void)state;
    struct idp_error err;
    struct hx_scenario *sc = load("top.json",
                                  "{\n  \"name\": \"t\",\n  \"stpes\": [],\n  \"steps\": [{\"load\": \"/\"}],\n"
                                  "  \"expect\": {\"status\": 200}\n}\n",
                                  &err, NULL);
    assert_null(sc);
    assert_int_equal(err.line, 3);
    assert_int_equal(err.col, 3);
    assert_non_null(strstr(err.message, "unknown key \"stpes\" in a scenario"));
    char text[1200];
    idp_error_format(&err, text, sizeof(text));
    char want[400];
    snprintf(want, sizeof(want), "%s/top.json:3:3: unknown key \"stpes\"", dir);
    if (strncmp(text, want, strlen(want)) != 0)
        fail_msg("formatted \"%s\", expected it to start with \"%s\"", text, want);
}

/* Every error of a file, each with its own position; the first is err. */
static void test_every_error(void **state)
{
    (void)state;
    struct idp_error err;
    json_t *messages = json_array();
    struct hx_scenario *sc = load("every.json",
                                  "{\n"
                                  "  \"name\": \"every\",\n"
                                  "  \"steps\": [\n"
                                  "    { \"relaod\": \"/dashboard\" },\n"
                                  "    { \"advance\": \"soon\" }\n"
                                  "  ],\n"
                                  "  \"expect\": { \"sesion\": \"lost\" },\n"
                                  "  \"variants\": { \"v\": { \"target\": { \"dedup\": true } } }\n"
                                  "}\n",
                                  &err, messages);
    assert_null(sc);
    assert_int_equal(json_array_size(messages), 4);
    const char *m0 = json_string_value(json_array_get(messages, 0));
    const char *m1 = json_string_value(json_array_get(messages, 1));
    const char *m2 = json_string_value(json_array_get(messages, 2));
    const char *m3 = json_string_value(json_array_get(messages, 3));
    char want[512];
    snprintf(want, sizeof(want), "%s/every.json:4:7: unknown step \"relaod\" (did you mean \"reload\"?)", dir);
    assert_int_equal(strncmp(m0, want, strlen(want)), 0);
    snprintf(want, sizeof(want), "%s/every.json:5:18: expected a duration", dir);
    assert_int_equal(strncmp(m1, want, strlen(want)), 0);
    snprintf(want, sizeof(want), "%s/every.json:7:15: unknown expectation \"sesion\" (did you mean \"session\"?)", dir);
    assert_int_equal(strncmp(m2, want, strlen(want)), 0);
    if (!strstr(m3, "every.json:8:") || !strstr(m3, "dedup"))
        fail_msg("fourth message: %s", m3);
    /* err is the first. */
    assert_int_equal(err.line, 4);
    assert_int_equal(err.col, 7);
    json_decref(messages);
}

/* Misspelled names get the closest known one: settings, target and browser
 * knobs, steps, expectations (each section checked, all errors listed).
 * Unknown keys of fixed objects (the top level, a variant, sign_in) list
 * the keys allowed instead. */
static void test_did_you_mean(void **state)
{
    (void)state;
    struct idp_error err;
    json_t *messages = json_array();
    assert_null(load("typos.json",
                     "{\"name\": \"k\",\n"
                     " \"idp\": {\"settings\": {\"acess_ttl\": \"5m\"}},\n"
                     " \"target\": {\"dedup\": true},\n"
                     " \"browser\": {\"ofline\": true},\n"
                     " \"steps\": [{\"sign_in\": {\"usr\": \"a@example.com\"}}],\n"
                     " \"expect\": {\"signed_ni\": true}}\n",
                     &err, messages));
    assert_int_equal(json_array_size(messages), 5);
    static const char *const want[] = {
        "typos.json:2:23: unknown setting \"acess_ttl\" (did you mean \"access_ttl\"?)",
        "typos.json:3:13: unknown target knob \"dedup\" (did you mean \"dedupe\"?)",
        "typos.json:4:14: unknown browser knob \"ofline\" (did you mean \"offline\"?)",
        "typos.json:5:25: unknown key \"usr\" in sign_in (expected: user, method, password, organization)",
        "typos.json:6:13: unknown expectation \"signed_ni\" (did you mean \"signed_in\"?)",
    };
    for (size_t i = 0; i < 5; i++) {
        const char *m = json_string_value(json_array_get(messages, i));
        const char *tail = m ? strstr(m, "typos.json:") : NULL;
        if (!tail || strncmp(tail, want[i], strlen(want[i])) != 0)
            fail_msg("message %zu: \"%s\", expected it to end with \"%s…\"", i, m ? m : "(none)", want[i]);
    }
    json_decref(messages);
}

static void test_read_and_parse_errors(void **state)
{
    (void)state;
    struct idp_error err;
    json_t *messages = json_array();
    char path[256];
    snprintf(path, sizeof(path), "%s/absent.json", dir);
    memset(&err, 0, sizeof(err));
    assert_null(hx_scenario_load(path, &err, messages));
    assert_int_equal(err.status, IDP_IO);
    assert_string_equal(err.file, path);
    assert_int_equal(json_array_size(messages), 0);

    assert_null(load("broken.json", "{\n  \"name\": \"x\",\n  \"steps\": [ { \"load\": \"/\" } ]]\n}\n",
                     &err, messages));
    assert_int_equal(err.status, IDP_PARSE);
    assert_int_equal(err.line, 3);
    assert_int_equal(json_array_size(messages), 0);

    assert_null(load("array.json", "[1, 2]", &err, NULL));
    assert_int_not_equal(err.status, IDP_OK);
    assert_null(load("empty.json", "", &err, NULL));
    assert_int_not_equal(err.status, IDP_OK);
    json_decref(messages);
}

static void test_field_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text, *message;
    } cases[] = {
        {"{\"steps\": [{\"load\": \"/\"}], \"expect\": {}}", "a scenario needs a \"name\" string"},
        {"{\"name\": \"\", \"steps\": [{\"load\": \"/\"}], \"expect\": {}}", "a scenario needs a \"name\" string"},
        {"{\"name\": \"x\", \"expect\": {}}", "a scenario needs \"steps\""},
        {"{\"name\": \"x\", \"tags\": \"t\", \"steps\": [{\"load\": \"/\"}], \"expect\": {}}",
         "tags must be an array of strings"},
        {"{\"name\": \"x\", \"description\": 3, \"steps\": [{\"load\": \"/\"}], \"expect\": {}}",
         "description is a string or an array of strings"},
        {"{\"name\": \"x\", \"timeout\": \"long\", \"steps\": [{\"load\": \"/\"}], \"expect\": {}}",
         "expected a duration"},
        {"{\"name\": \"x\", \"variants\": {}, \"steps\": [{\"load\": \"/\"}], \"expect\": {}}",
         "variants must be a non-empty object of named variants"},
        {"{\"name\": \"x\", \"target\": {\"app\": \"django\"}, \"steps\": [{\"load\": \"/\"}], \"expect\": {}}",
         "target app must be \"reference\", \"spa\" or \"external\""},
        {"{\"name\": \"x\", \"target\": {\"app\": \"external\"}, \"steps\": [{\"load\": \"/\"}], \"expect\": {}}",
         "an external target needs \"url\""},
        {"{\"name\": \"x\", \"idp\": {\"setings\": {}}, \"steps\": [{\"load\": \"/\"}], \"expect\": {}}",
         "unknown key \"setings\" in idp"},
        {"{\"name\": \"x\", \"variants\": {\"v\": {\"name\": \"y\"}}, \"steps\": [{\"load\": \"/\"}], \"expect\": {}}",
         "unknown key \"name\" in a variant"},
        {"{\"name\": \"x\", \"steps\": [{\"sign_in\": \"bob@example.com\"}], \"expect\": {}}",
         "sign_in: the fake has no user bob@example.com"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct idp_error err;
        struct hx_scenario *sc = load("field.json", cases[i].text, &err, NULL);
        if (sc) {
            hx_scenario_free(&sc);
            fail_msg("accepted %s", cases[i].text);
        }
        assert_int_equal(err.status, IDP_INVALID);
        if (!strstr(err.message, cases[i].message))
            fail_msg("%s: \"%s\" lacks \"%s\"", cases[i].text, err.message, cases[i].message);
        assert_int_equal(err.line, 1);
    }
}

/* A user the idp section adds is known to sign_in; one it lacks is not,
 * and magic_auth (which signs users up) may name anyone. */
static void test_users(void **state)
{
    (void)state;
    struct idp_error err;
    struct hx_scenario *sc = load("users.json",
                                  "{\"name\": \"u\", \"idp\": {\"users\": [{\"email\": \"bob@example.com\"}]},\n"
                                  " \"steps\": [{\"sign_in\": \"BOB@example.com\"},\n"
                                  "           {\"sign_in\": {\"user\": \"new@example.com\", \"method\": \"magic_auth\"}}],\n"
                                  " \"expect\": {\"signed_in\": true}}\n",
                                  &err, NULL);
    if (!sc)
        fail_msg("load failed: %s", err.message);
    hx_scenario_free(&sc);
    sc = load("users2.json",
              "{\"name\": \"u\", \"idp\": {\"users\": [{\"email\": \"bob@example.com\"}]},\n"
              " \"steps\": [{\"sign_in\": true}],\n"
              " \"variants\": {\"v\": {\"steps\": [{\"parallel\": [{\"sign_in\": \"eve@example.com\"}]}],\n"
              "                      \"expect\": {\"signed_in\": true}}}}\n",
              &err, NULL);
    assert_null(sc);
    assert_string_equal(err.message, "sign_in: the fake has no user eve@example.com (users: idp.users)");
    assert_int_equal(err.line, 3);
}

static void test_target_knobs(void **state)
{
    (void)state;
    json_t *target = json_pack("{s:s, s:s, s:b, s:s}", "app", "reference", "protected_path", "/p",
                               "dedupe", 1, "refresh", "proactive");
    json_t *knobs = hx_target_knobs(target);
    assert_int_equal(json_object_size(knobs), 2);
    assert_null(json_object_get(knobs, "app"));
    assert_null(json_object_get(knobs, "protected_path"));
    assert_true(json_is_true(json_object_get(knobs, "dedupe")));
    json_decref(knobs);
    json_decref(target);
    knobs = hx_target_knobs(NULL);
    assert_int_equal(json_object_size(knobs), 0);
    json_decref(knobs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_variants),       cmocka_unit_test(test_variant_merge),
        cmocka_unit_test(test_missing_expect),    cmocka_unit_test(test_unknown_top_key),
        cmocka_unit_test(test_every_error),       cmocka_unit_test(test_read_and_parse_errors),
        cmocka_unit_test(test_field_errors),      cmocka_unit_test(test_users),
        cmocka_unit_test(test_target_knobs),      cmocka_unit_test(test_did_you_mean),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
