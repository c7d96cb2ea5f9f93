/* The SPA client's testable surface without a run: its knobs (defaults,
 * applying JSON, names). The SPA steps need a whole run and are covered by
 * the spa scenarios. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "spa.h"

static enum idp_status apply(struct hx_spa_knobs *k, const char *text, const char **bad,
                             struct idp_error *err)
{
    json_t *obj = json_loads(text, 0, NULL);
    assert_non_null(obj);
    /* bad points into obj: keep a copy past the decref. */
    static char bad_copy[64];
    const char *key = NULL;
    enum idp_status st = hx_spa_knobs_apply(k, obj, &key, err);
    snprintf(bad_copy, sizeof(bad_copy), "%s", key ? key : "");
    *bad = key ? bad_copy : NULL;
    json_decref(obj);
    return st;
}

static void test_defaults(void **state)
{
    (void)state;
    struct hx_spa_knobs k;
    memset(&k, 0x5a, sizeof(k));
    hx_spa_knobs_defaults(&k);
    assert_int_equal(k.dev_mode, HX_SPA_DEV_AUTO);
    assert_int_equal(k.refresh_buffer_ms, 10000);
    assert_true(k.lock);
    assert_true(k.transient_keeps);
    assert_true(k.relative_expiry);
    assert_true(k.pause_hidden);
    assert_true(k.refresh_on_focus);
    assert_int_equal(k.loading_guard, 0);
    assert_int_equal(k.token_errors, 0);
}

static void test_apply(void **state)
{
    (void)state;
    struct hx_spa_knobs k;
    struct idp_error err;
    const char *bad;
    hx_spa_knobs_defaults(&k);
    assert_int_equal(apply(&k, "{\"dev_mode\": \"off\", \"refresh_buffer\": \"30s\", \"lock\": false,"
                               " \"transient_keeps_session\": false, \"loading_guard\": \"buggy\","
                               " \"token_errors\": \"null\"}", &bad, &err),
                     IDP_OK);
    assert_int_equal(k.dev_mode, HX_SPA_DEV_OFF);
    assert_int_equal(k.refresh_buffer_ms, 30000);
    assert_false(k.lock);
    assert_false(k.transient_keeps);
    assert_int_equal(k.loading_guard, 1);
    assert_int_equal(k.token_errors, 1);
    /* Knobs not named keep their values. */
    assert_true(k.pause_hidden);
    assert_int_equal(apply(&k, "{}", &bad, &err), IDP_OK);
    assert_int_equal(k.dev_mode, HX_SPA_DEV_OFF);
}

static void test_apply_rejects(void **state)
{
    (void)state;
    struct hx_spa_knobs k;
    struct idp_error err;
    const char *bad;
    hx_spa_knobs_defaults(&k);
    assert_int_equal(apply(&k, "{\"dev_mode\": \"sometimes\"}", &bad, &err), IDP_INVALID);
    assert_string_equal(bad, "dev_mode");
    assert_non_null(strstr(err.message, "auto, on, off"));
    assert_int_equal(apply(&k, "{\"lock\": \"yes\"}", &bad, &err), IDP_INVALID);
    assert_string_equal(bad, "lock");
    assert_int_equal(apply(&k, "{\"refresh_buffer\": \"soon\"}", &bad, &err), IDP_INVALID);
    assert_string_equal(bad, "refresh_buffer");
    assert_int_equal(apply(&k, "{\"loking\": true}", &bad, &err), IDP_INVALID);
    assert_non_null(strstr(err.message, "loking"));
    /* The refused values were not stored. */
    assert_int_equal(k.dev_mode, HX_SPA_DEV_AUTO);
    assert_true(k.lock);
    assert_int_equal(k.refresh_buffer_ms, 10000);
}

static void test_names(void **state)
{
    (void)state;
    json_t *names = hx_spa_knob_names();
    /* Every name is accepted by apply (with a value of some type) as a
     * known knob, and a bogus one is not. */
    size_t i;
    json_t *name;
    assert_true(json_array_size(names) >= 9);
    json_array_foreach(names, i, name) {
        struct hx_spa_knobs k;
        hx_spa_knobs_defaults(&k);
        json_t *obj = json_pack("{s:i}", json_string_value(name), 12345);
        const char *bad = NULL;
        struct idp_error err;
        memset(&err, 0, sizeof(err));
        hx_spa_knobs_apply(&k, obj, &bad, &err);
        if (strstr(err.message, "unknown"))
            fail_msg("%s is listed but unknown to apply: %s", json_string_value(name), err.message);
        json_decref(obj);
    }
    const char *const expected[] = {"dev_mode", "lock", "refresh_on_focus", "token_errors", NULL};
    for (int e = 0; expected[e]; e++) {
        bool found = false;
        json_array_foreach(names, i, name) found = found || strcmp(json_string_value(name), expected[e]) == 0;
        if (!found)
            fail_msg("hx_spa_knob_names lacks %s", expected[e]);
    }
    json_decref(names);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_apply),
        cmocka_unit_test(test_apply_rejects),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
