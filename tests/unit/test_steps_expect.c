/* The step and expectation tables through hx_step_validate and
 * hx_expect_validate: a good and a bad form of every kind, the message of
 * each bad one, and its position when the text is indexed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "expect.h"
#include "jsonpos.h"
#include "steps.h"

struct checked {
    enum idp_status status;
    size_t count;
    struct idp_error err;
};

typedef enum idp_status validate_fn(struct hx_check *, const json_t *, const char *);

static struct checked run_check(validate_fn *fn, const char *text, const char *path)
{
    struct checked out;
    memset(&out, 0, sizeof(out));
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!v)
        fail_msg("test JSON does not parse: %s: %s", text, jerr.text);
    struct hx_check check = {.file = "t.json", .positions = NULL, .err = &out.err};
    out.status = fn(&check, v, path);
    out.count = check.count;
    json_decref(v);
    return out;
}

/* A good form: accepted with no error counted. */
static void good(validate_fn *fn, const char *text)
{
    struct checked c = run_check(fn, text, "/steps/0");
    if (c.status != IDP_OK)
        fail_msg("rejected %s: %s", text, c.err.message);
    assert_int_equal(c.count, 0);
}

/* A bad form: rejected with one error whose message contains want. */
static void bad(validate_fn *fn, const char *text, const char *want)
{
    struct checked c = run_check(fn, text, "/steps/0");
    if (c.status == IDP_OK)
        fail_msg("accepted %s (wanted an error with \"%s\")", text, want);
    assert_int_equal(c.status, IDP_INVALID);
    assert_int_equal(c.count, 1);
    if (!strstr(c.err.message, want))
        fail_msg("%s: message \"%s\" lacks \"%s\"", text, c.err.message, want);
    assert_string_equal(c.err.file, "t.json");
}

#define STEP_OK(t) good(hx_step_validate, t)
#define STEP_BAD(t, w) bad(hx_step_validate, t, w)
#define EXPECT_OK(t) good(hx_expect_validate, t)
#define EXPECT_BAD(t, w) bad(hx_expect_validate, t, w)

static void test_step_shape(void **state)
{
    (void)state;
    STEP_BAD("[]", "a step must be an object");
    STEP_BAD("{}", "empty step");
    STEP_BAD("{\"note\": \"only a note\"}", "empty step");
    STEP_BAD("{\"relaod\": \"/x\"}", "unknown step \"relaod\" (did you mean \"reload\"?)");
    STEP_BAD("{\"wait\": \"1s\"}", "unknown step \"wait\" (steps: sign_in, load,");
    STEP_BAD("{\"load\": \"/x\", \"advance\": \"1s\"}", "a step has one kind; \"load\" and \"advance\" are two");
    STEP_BAD("{\"load\": \"/x\", \"note\": 3}", "note must be a string");
    STEP_OK("{\"load\": \"/x\", \"note\": \"why\"}");
}

static void test_step_sign_in(void **state)
{
    (void)state;
    STEP_OK("{\"sign_in\": true}");
    STEP_OK("{\"sign_in\": \"a@example.com\"}");
    STEP_OK("{\"sign_in\": {\"user\": \"a@example.com\", \"method\": \"password\", \"password\": \"p\"}}");
    STEP_OK("{\"sign_in\": {\"method\": \"magic_auth\", \"organization\": \"org_1\"}}");
    STEP_BAD("{\"sign_in\": false}", "sign_in takes a user's email address");
    STEP_BAD("{\"sign_in\": \"no-at-sign\"}", "sign_in takes a user's email address");
    STEP_BAD("{\"sign_in\": {\"user\": \"bob\"}}", "sign_in user is an email address");
    STEP_BAD("{\"sign_in\": {\"method\": \"sso\"}}", "sign_in method is authkit, password or magic_auth");
    STEP_BAD("{\"sign_in\": {\"method\": \"password\"}}", "password goes with method password");
    STEP_BAD("{\"sign_in\": {\"password\": \"x\"}}", "password goes with method password");
    STEP_BAD("{\"sign_in\": {\"method\": \"password\", \"password\": 1}}", "sign_in password is a string");
    STEP_BAD("{\"sign_in\": {\"organization\": 7}}", "organization is an organization's id or name");
    STEP_BAD("{\"sign_in\": {\"pin\": \"1234\"}}", "unknown key \"pin\" in sign_in");
    STEP_OK("{\"spa_sign_in\": true}");
    STEP_OK("{\"spa_sign_in\": \"bob@example.com\"}");
    STEP_BAD("{\"spa_sign_in\": 3}", "spa_sign_in takes a user's email address or true");
    STEP_BAD("{\"spa_sign_in\": {\"user\": \"bob@example.com\", \"method\": \"password\", "
             "\"password\": \"pw\"}}", "the SPA signs in on AuthKit's hosted page");
}

static void test_step_paths(void **state)
{
    (void)state;
    const char *const kinds[] = {"load", "reload", "api", NULL};
    for (int i = 0; kinds[i]; i++) {
        char text[128];
        snprintf(text, sizeof(text), "{\"%s\": \"/dashboard\"}", kinds[i]);
        STEP_OK(text);
        snprintf(text, sizeof(text), "{\"%s\": \"Dashboard page\"}", kinds[i]);
        STEP_BAD(text, "expected a path starting with '/'");
        snprintf(text, sizeof(text), "{\"%s\": 5}", kinds[i]);
        STEP_BAD(text, "expected a path starting with '/'");
    }
}

static void test_step_navigation(void **state)
{
    (void)state;
    STEP_OK("{\"navigate\": {\"path\": \"/x\", \"from\": \"cross_site\", \"by\": \"script\"}}");
    STEP_OK("{\"navigate\": {\"path\": \"/x\", \"from\": \"typed\"}}");
    STEP_BAD("{\"navigate\": {\"path\": \"/x\", \"from\": \"elsewhere\"}}", "from is \"app\", \"cross_site\" or \"typed\"");
    STEP_BAD("{\"navigate\": {\"path\": \"Not a path\"}}", "expected a path starting with '/'");
    STEP_BAD("{\"navigate\": {\"path\": \"/x\", \"by\": \"click\"}}", "by is \"link\"");
    STEP_BAD("{\"navigate\": \"/x\"}", "navigate must be an object");
    STEP_OK("{\"form_post\": {\"path\": \"/x\", \"form\": {\"a\": \"b\"}, \"from\": \"app\"}}");
    STEP_BAD("{\"form_post\": {\"path\": \"/x\", \"from\": \"typed\"}}", "a form is on a page");
    STEP_BAD("{\"form_post\": {\"path\": \"/x\", \"form\": {\"n\": 1}}}", "form_post form is an object of strings");
    STEP_BAD("{\"form_post\": {\"path\": \"/x\", \"form\": []}}", "form_post form is an object of strings");
}

static void test_step_time_and_faults(void **state)
{
    (void)state;
    STEP_OK("{\"advance\": \"5m\"}");
    STEP_BAD("{\"advance\": \"5 minutes\"}", "expected a duration");
    STEP_OK("{\"spa_wait\": \"30s\"}");
    STEP_BAD("{\"spa_wait\": true}", "expected a duration");
    STEP_OK("{\"fault\": {\"route\": \"authenticate\", \"status\": 503, \"count\": 1}}");
    STEP_BAD("{\"fault\": {\"route\": \"authenticate\", \"action\": \"explode\"}}", "unknown action \"explode\"");
    STEP_BAD("{\"fault\": {\"route\": \"authenticat\", \"status\": 500}}", "(did you mean \"authenticate\"?)");
    STEP_OK("{\"remove_fault\": \"slow\"}");
    STEP_BAD("{\"remove_fault\": \"\"}", "remove_fault takes the id");
    STEP_BAD("{\"remove_fault\": 1}", "remove_fault takes the id");
    STEP_OK("{\"clear_faults\": true}");
    STEP_BAD("{\"clear_faults\": false}", "expected true");
    STEP_OK("{\"revoke_session\": true}");
    STEP_BAD("{\"revoke_session\": \"yes\"}", "expected true");
    STEP_OK("{\"rotate_keys\": true}");
    STEP_OK("{\"rotate_keys\": {\"publish_lead\": \"1h\", \"retire_after\": \"2h\"}}");
    STEP_BAD("{\"rotate_keys\": {\"publish_lead\": \"soon\"}}", "expected a duration");
    STEP_BAD("{\"rotate_keys\": {\"lead\": \"1h\"}}", "unknown key \"lead\" in rotate_keys");
}

static void test_step_sign_out(void **state)
{
    (void)state;
    STEP_OK("{\"sign_out\": true}");
    STEP_OK("{\"sign_out\": {\"path\": \"/logout\", \"method\": \"POST\", \"form\": {\"a\": \"b\"}}}");
    STEP_OK("{\"sign_out\": {\"path\": \"/\", \"next_action\": \"abc\"}}");
    STEP_BAD("{\"sign_out\": false}", "sign_out must be an object");
    STEP_BAD("{\"sign_out\": {\"path\": \"logout\"}}", "sign_out path is a path starting with /");
    STEP_BAD("{\"sign_out\": {\"method\": \"PUT\"}}", "sign_out method is GET or POST");
    STEP_BAD("{\"sign_out\": {\"next_action\": \"a\", \"method\": \"POST\"}}", "without form or method");
    STEP_BAD("{\"sign_out\": {\"form\": {\"a\": 1}}}", "sign_out form is an object of strings");
}

static void test_step_configuration(void **state)
{
    (void)state;
    STEP_OK("{\"idp_settings\": {\"refresh_mode\": \"strict\"}}");
    STEP_BAD("{\"idp_settings\": {\"refresh_mode\": \"lenient\"}}", "setting refresh_mode: expected one of");
    STEP_BAD("{\"idp_settings\": true}", "expected an object of settings");
    STEP_OK("{\"app\": {}}");
    STEP_OK("{\"app\": {\"cookie_password\": \"another-password-of-at-least-32-characters\"}}");
    STEP_BAD("{\"app\": {\"dedup_window\": 1}}", "unknown");
    STEP_BAD("{\"app\": []}", "expected an object of reference-app knobs");
    STEP_OK("{\"browser\": {\"offline\": true}}");
    STEP_BAD("{\"browser\": {\"ofline\": true}}", "ofline");
    STEP_BAD("{\"browser\": 1}", "expected an object of browser knobs");
    STEP_OK("{\"restart_app\": true}");
    STEP_OK("{\"restart_app\": {\"env\": {\"A\": \"b\", \"N\": 1, \"F\": false, \"U\": null}}}");
    STEP_BAD("{\"restart_app\": false}", "restart_app takes true or");
    STEP_BAD("{\"restart_app\": {\"env\": []}}", "restart_app env must be an object");
    STEP_BAD("{\"restart_app\": {\"env\": {\"A\": []}}}", "env values are strings, numbers, booleans or null");
    STEP_BAD("{\"restart_app\": {\"envs\": {}}}", "unknown key \"envs\" in restart_app");
}

static void test_step_cookies_and_tokens(void **state)
{
    (void)state;
    STEP_OK("{\"clear_cookies\": true}");
    STEP_BAD("{\"clear_cookies\": 0}", "expected true");
    STEP_OK("{\"tamper_cookie\": {\"name\": \"wos-session\", \"mode\": \"flip\"}}");
    STEP_OK("{\"tamper_cookie\": {\"mode\": \"truncate\"}}");
    STEP_BAD("{\"tamper_cookie\": {\"mode\": \"shred\"}}", "tamper_cookie mode is garbage, truncate or flip");
    STEP_BAD("{\"tamper_cookie\": {}}", "tamper_cookie mode is garbage, truncate or flip");
    STEP_BAD("{\"tamper_cookie\": {\"name\": 7, \"mode\": \"flip\"}}", "tamper_cookie name is a cookie's name");
    STEP_OK("{\"convex_query\": true}");
    STEP_BAD("{\"convex_query\": \"q\"}", "expected true");
    STEP_OK("{\"present_token\": {\"forge\": {\"alg\": \"none\"}}}");
    STEP_OK("{\"present_token\": {\"to\": \"/api/me\", \"forge\": {}}}");
    STEP_BAD("{\"present_token\": {\"to\": \"/api/me\"}}", "present_token needs \"forge\"");
    STEP_BAD("{\"present_token\": {\"to\": \"api now\", \"forge\": {}}}", "expected a path starting with '/'");
    STEP_BAD("{\"present_token\": {\"forge\": {\"algo\": \"none\"}}}", "unknown key \"algo\" in a token forgery");
    STEP_OK("{\"forge_session_cookie\": {\"forge\": {\"tamper\": true}}}");
    STEP_BAD("{\"forge_session_cookie\": {\"forge\": 1}}", "a token forgery must be an object");
    STEP_BAD("{\"forge_session_cookie\": {\"to\": \"/x\"}}", "unknown key \"to\" in forge_session_cookie");
}

static void test_step_spa(void **state)
{
    (void)state;
    STEP_OK("{\"spa_reload\": true}");
    STEP_OK("{\"spa_reload\": \"t2\"}");
    STEP_BAD("{\"spa_reload\": false}", "expected true (the main tab) or a tab name");
    STEP_OK("{\"spa_call\": \"t2\"}");
    STEP_BAD("{\"spa_call\": 2}", "expected true (the main tab) or a tab name");
    STEP_OK("{\"spa_tab\": {\"open\": \"t2\"}}");
    STEP_BAD("{\"spa_tab\": {\"open\": \"t2\", \"hide\": \"t2\"}}", "spa_tab takes one of open, hide, show, close");
    STEP_BAD("{\"spa_tab\": {\"close\": 1}}", "spa_tab close takes a tab name");
    STEP_BAD("{\"spa_tab\": {\"minimise\": \"t2\"}}", "unknown key \"minimise\" in spa_tab");
}

static void test_step_compound(void **state)
{
    (void)state;
    STEP_OK("{\"parallel\": [{\"load\": \"/a\"}, {\"api\": \"/b\"}]}");
    STEP_OK("{\"parallel\": [{\"load\": \"/a\"}], \"barrier\": {\"route\": \"authenticate\", \"hold\": 2}}");
    STEP_BAD("{\"parallel\": []}", "expected a non-empty array of steps");
    STEP_BAD("{\"parallel\": [{\"load\": \"\"}]}", "expected a path starting with '/'");
    STEP_BAD("{\"load\": \"/a\", \"barrier\": {\"hold\": 2}}", "barrier goes with parallel steps only");
    STEP_BAD("{\"parallel\": [{\"load\": \"/a\"}], \"barrier\": 2}", "barrier is a fault rule object");
    STEP_OK("{\"repeat\": {\"times\": 3, \"steps\": [{\"advance\": \"1m\"}]}}");
    STEP_BAD("{\"repeat\": {\"times\": 0, \"steps\": [{\"advance\": \"1m\"}]}}", "repeat needs \"times\" from 1 to 100000");
    STEP_BAD("{\"repeat\": {\"times\": 100001, \"steps\": [{\"advance\": \"1m\"}]}}", "from 1 to 100000");
    STEP_BAD("{\"repeat\": {\"times\": 2}}", "expected a non-empty array of steps");
    STEP_BAD("{\"repeat\": {\"times\": 2, \"steps\": [{\"advance\": \"x\"}]}}", "expected a duration");
    STEP_OK("{\"expect\": {\"signed_in\": true}}");
    STEP_BAD("{\"expect\": {\"signed_in\": \"yes\"}}", "expected true or false");
}

/* Every step of an array is checked: two bad steps give two errors, and the
 * first is the first step's. */
static void test_steps_every_error(void **state)
{
    (void)state;
    json_t *steps = json_loads("[{\"advance\": \"x\"}, {\"load\": \"/ok\"}, {\"lod\": \"/\"}]", 0, NULL);
    assert_non_null(steps);
    struct idp_error err;
    json_t *messages = json_array();
    struct hx_check check = {.file = "s.json", .err = &err, .messages = messages};
    assert_int_equal(hx_steps_validate(&check, steps, "/steps"), IDP_INVALID);
    assert_int_equal(check.count, 2);
    assert_int_equal(json_array_size(messages), 2);
    assert_non_null(strstr(err.message, "expected a duration"));
    assert_non_null(strstr(json_string_value(json_array_get(messages, 1)), "unknown step \"lod\""));
    json_decref(messages);
    json_decref(steps);

    struct checked c = run_check(hx_steps_validate, "{}", "/steps");
    assert_int_equal(c.status, IDP_INVALID);
    assert_string_equal(c.err.message, "expected a non-empty array of steps");
}

/* With a position index the error points at the value (or the key). */
static void test_positions(void **state)
{
    (void)state;
    const char *text = "{\n  \"steps\": [\n    {\"advance\": \"soon\"},\n    {\"lod\": \"/\"}\n  ]\n}\n";
    json_t *root = json_loads(text, 0, NULL);
    assert_non_null(root);
    struct hx_jsonpos pos = {0};
    hx_jsonpos_build(&pos, text, strlen(text));
    struct idp_error err;
    json_t *messages = json_array();
    struct hx_check check = {.file = "p.json", .positions = &pos, .err = &err, .messages = messages};
    assert_int_equal(hx_steps_validate(&check, json_object_get(root, "steps"), "/steps"), IDP_INVALID);
    assert_int_equal(err.line, 3);
    assert_int_equal(err.col, 17);
    assert_int_equal(json_array_size(messages), 2);
    assert_string_equal(json_string_value(json_array_get(messages, 0)),
                        "p.json:3:17: expected a duration such as \"300s\", \"5m\" or \"8d\"");
    const char *second = json_string_value(json_array_get(messages, 1));
    assert_non_null(second);
    assert_int_equal(strncmp(second, "p.json:4:6: unknown step \"lod\" (did you mean \"load\"?)", 52), 0);
    json_decref(messages);
    hx_jsonpos_cleanup(&pos);
    json_decref(root);
}

static void test_expect_kinds(void **state)
{
    (void)state;
    EXPECT_BAD("[]", "expect must be an object");
    EXPECT_BAD("{\"sesion\": \"lost\"}", "unknown expectation \"sesion\" (did you mean \"session\"?)");
    EXPECT_OK("{\"session\": \"survives\"}");
    EXPECT_OK("{\"session\": \"lost\"}");
    EXPECT_BAD("{\"session\": \"gone\"}", "session is \"survives\" or \"lost\"");
    const char *const bools[] = {"signed_in", "login_redirect", "spa_degraded", "never_lost", NULL};
    for (int i = 0; bools[i]; i++) {
        char text[96];
        snprintf(text, sizeof(text), "{\"%s\": false}", bools[i]);
        EXPECT_OK(text);
        snprintf(text, sizeof(text), "{\"%s\": \"true\"}", bools[i]);
        EXPECT_BAD(text, "expected true or false");
    }
    EXPECT_OK("{\"status\": 401}");
    EXPECT_BAD("{\"status\": 401.5}", "expected a whole number");
    EXPECT_BAD("{\"status\": \"401\"}", "expected a whole number");
    const char *const strings[] = {"body_contains", "redirect", "convex_error", "start_error", NULL};
    for (int i = 0; strings[i]; i++) {
        char text[96];
        snprintf(text, sizeof(text), "{\"%s\": \"text\"}", strings[i]);
        EXPECT_OK(text);
        snprintf(text, sizeof(text), "{\"%s\": 1}", strings[i]);
        EXPECT_BAD(text, "expected a string");
    }
    EXPECT_OK("{\"timeline_contains\": \"x\", \"timeline_lacks\": [\"a\", \"b\"]}");
    EXPECT_BAD("{\"timeline_contains\": 1}", "expected a string or an array of strings");
    EXPECT_BAD("{\"timeline_lacks\": [\"a\", 2]}", "expected strings");
    EXPECT_OK("{\"sign_in\": \"fails\"}");
    EXPECT_BAD("{\"sign_in\": \"works\"}", "sign_in takes \"fails\"");
    EXPECT_OK("{\"lost_after\": \"5m\", \"lost_before\": \"10m\"}");
    EXPECT_BAD("{\"lost_after\": \"later\"}", "expected a duration");
    EXPECT_BAD("{\"lost_before\": -1}", "duration");
    EXPECT_OK("{\"convex\": \"authenticated\", \"spa\": \"unauthenticated\"}");
    EXPECT_BAD("{\"convex\": \"yes\"}", "expected \"authenticated\" or \"unauthenticated\"");
    EXPECT_BAD("{\"spa\": true}", "expected \"authenticated\" or \"unauthenticated\"");
}

static void test_expect_structured(void **state)
{
    (void)state;
    EXPECT_OK("{\"claims\": {\"has\": [\"sid\"], \"lacks\": [\"org_id\"], \"equals\": {\"sub\": \"u\"}}}");
    EXPECT_BAD("{\"claims\": {\"has\": \"sid\"}}", "claims has is an array of claim names");
    EXPECT_BAD("{\"claims\": {\"lacks\": [1]}}", "claims lacks is an array of claim names");
    EXPECT_BAD("{\"claims\": {\"equals\": []}}", "claims equals maps claim names to values");
    EXPECT_BAD("{\"claims\": {\"contains\": []}}", "unknown key \"contains\" in a claims expectation");
    EXPECT_OK("{\"cookie\": {\"name\": \"wos-session\", \"present\": true, \"max_bytes\": 4096, "
              "\"count\": {\"min\": 1, \"max\": 3}, \"secure\": false, \"http_only\": true, "
              "\"same_site\": \"lax\", \"domain\": \"\"}}");
    EXPECT_BAD("{\"cookie\": {\"present\": true}}", "a cookie expectation needs \"name\"");
    EXPECT_BAD("{\"cookie\": {\"name\": \"c\", \"present\": 1}}", "cookie present is true or false");
    EXPECT_BAD("{\"cookie\": {\"name\": \"c\", \"http_only\": \"yes\"}}", "cookie http_only is true or false");
    EXPECT_BAD("{\"cookie\": {\"name\": \"c\", \"same_site\": \"loose\"}}", "cookie same_site is lax, strict, none or default");
    EXPECT_BAD("{\"cookie\": {\"name\": \"c\", \"domain\": 1}}", "cookie domain is a string");
    EXPECT_BAD("{\"cookie\": {\"name\": \"c\", \"max_bytes\": -1}}", "cookie max_bytes is a whole number");
    EXPECT_BAD("{\"cookie\": {\"name\": \"c\", \"count\": \"two\"}}", "expected a count");
    EXPECT_OK("{\"idp\": {\"refreshes\": 2, \"authorize\": {\"min\": 1}, \"token_presented_twice\": false, "
              "\"session_ended\": \"revoked\", \"outcomes\": {\"ok\": 1}}}");
    EXPECT_BAD("{\"idp\": {\"refreshes\": \"many\"}}", "expected a count");
    EXPECT_BAD("{\"idp\": {\"refreshs\": 1}}", "unknown key \"refreshs\" in idp expectations");
    EXPECT_BAD("{\"idp\": {\"outcomes\": []}}", "outcomes maps a journal outcome to a count");
    EXPECT_BAD("{\"idp\": {\"outcomes\": {\"ok\": \"x\"}}}", "expected a count");
    EXPECT_BAD("{\"idp\": {\"token_presented_twice\": 1}}", "expected true or false");
    EXPECT_BAD("{\"idp\": {\"session_ended\": 1}}", "expected a string");
    EXPECT_OK("{\"app\": {\"refreshes\": 1, \"jwks_fetches\": {\"max\": 2}}}");
    EXPECT_BAD("{\"app\": {\"refreshes\": true}}", "expected a count");
    EXPECT_BAD("{\"app\": {\"refresh\": 1}}", "refresh");
    EXPECT_OK("{\"spa_counts\": {\"refreshes\": 1, \"expired_calls\": 0}}");
    EXPECT_BAD("{\"spa_counts\": {\"calls\": 1}}", "calls");
}

/* Every expectation of an object is checked, not only the first bad one. */
static void test_expect_every_error(void **state)
{
    (void)state;
    json_t *expect = json_loads("{\"session\": \"x\", \"status\": \"y\", \"signed_in\": true}", 0, NULL);
    struct idp_error err;
    json_t *messages = json_array();
    struct hx_check check = {.file = "e.json", .err = &err, .messages = messages};
    assert_int_equal(hx_expect_validate(&check, expect, "/expect"), IDP_INVALID);
    assert_int_equal(check.count, 2);
    assert_int_equal(json_array_size(messages), 2);
    json_decref(messages);
    json_decref(expect);
}

/* The kind lists name every row. */
static void test_kind_lists(void **state)
{
    (void)state;
    json_t *steps = hx_step_kinds(), *expects = hx_expect_kinds();
    assert_non_null(steps);
    assert_non_null(expects);
    const char *const some_steps[] = {"sign_in", "advance", "parallel", "spa_tab", "expect", NULL};
    for (int i = 0; some_steps[i]; i++)
        if (!json_object_get(steps, some_steps[i]))
            fail_msg("hx_step_kinds lacks %s", some_steps[i]);
    assert_null(json_object_get(steps, "wait"));
    const char *const some_expects[] = {"session", "claims", "cookie", "idp", "timeline_lacks", NULL};
    for (int i = 0; some_expects[i]; i++)
        if (!json_object_get(expects, some_expects[i]))
            fail_msg("hx_expect_kinds lacks %s", some_expects[i]);
    assert_null(json_object_get(expects, "sesion"));
    /* Every listed kind is accepted by the validator (with some value). */
    const char *name;
    json_t *summary;
    json_object_foreach(expects, name, summary) {
        assert_true(json_is_string(summary));
        char text[128];
        snprintf(text, sizeof(text), "{\"%s\": 12345}", name);
        struct checked c = run_check(hx_expect_validate, text, "/expect");
        if (c.status != IDP_OK && strstr(c.err.message, "unknown expectation"))
            fail_msg("%s is listed but unknown to the validator", name);
    }
    json_decref(steps);
    json_decref(expects);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_step_shape),        cmocka_unit_test(test_step_sign_in),
        cmocka_unit_test(test_step_paths),        cmocka_unit_test(test_step_navigation),
        cmocka_unit_test(test_step_time_and_faults), cmocka_unit_test(test_step_sign_out),
        cmocka_unit_test(test_step_configuration), cmocka_unit_test(test_step_cookies_and_tokens),
        cmocka_unit_test(test_step_spa),          cmocka_unit_test(test_step_compound),
        cmocka_unit_test(test_steps_every_error), cmocka_unit_test(test_positions),
        cmocka_unit_test(test_expect_kinds),      cmocka_unit_test(test_expect_structured),
        cmocka_unit_test(test_expect_every_error), cmocka_unit_test(test_kind_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
