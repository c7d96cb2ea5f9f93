/* The SPA client's testable surface without a run: its knobs (defaults,
 * applying JSON, names) and its refresh timer's arithmetic and life cycle.
 * The SPA steps need a whole run and are covered by the spa scenarios
 * (f31 for the timer). */
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
    assert_true(k.reschedule);
    assert_int_equal(k.timer_overflow, 0);
    assert_int_equal(k.min_delay_ms, 0);
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
    assert_int_equal(apply(&k, "{\"reschedule\": false, \"timer_overflow\": \"buggy\", \"min_delay\": \"15s\"}",
                           &bad, &err),
                     IDP_OK);
    assert_false(k.reschedule);
    assert_int_equal(k.timer_overflow, 1);
    assert_int_equal(k.min_delay_ms, 15000);
    assert_int_equal(apply(&k, "{\"timer_overflow\": \"wrapped\"}", &bad, &err), IDP_INVALID);
    assert_string_equal(bad, "timer_overflow");
    assert_non_null(strstr(err.message, "fixed, buggy"));
    assert_int_equal(apply(&k, "{\"min_delay\": \"-1s\"}", &bad, &err), IDP_INVALID);
    assert_string_equal(bad, "min_delay");
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
    const char *const expected[] = {"dev_mode",   "lock",           "refresh_on_focus", "token_errors",
                                    "reschedule", "timer_overflow", "min_delay",        NULL};
    for (int e = 0; expected[e]; e++) {
        bool found = false;
        json_array_foreach(names, i, name) found = found || strcmp(json_string_value(name), expected[e]) == 0;
        if (!found)
            fail_msg("hx_spa_knob_names lacks %s", expected[e]);
    }
    json_decref(names);
}

static struct hx_spa_knobs knobs_with(bool reschedule, int overflow, int64_t min_delay_ms)
{
    struct hx_spa_knobs k;
    hx_spa_knobs_defaults(&k);
    k.reschedule = reschedule;
    k.timer_overflow = overflow;
    k.min_delay_ms = min_delay_ms;
    return k;
}

#define assert_plan(knobs, delay, want_kind, want_fire_in)                                            \
    do {                                                                                              \
        struct hx_spa_timer plan_ = hx_spa_timer_plan(&(knobs), (delay));                             \
        assert_int_equal(plan_.kind, (want_kind));                                                    \
        assert_int_equal(plan_.fire_in_ms, (want_fire_in));                                           \
    } while (0)

static void test_timer_waits_for_the_delay_or_fires_at_once_when_due(void **state)
{
    (void)state;
    struct hx_spa_knobs k = knobs_with(true, 0, 0);
    assert_plan(k, 290000, HX_SPA_TIMER_ON_TIME, 290000);
    assert_plan(k, 1, HX_SPA_TIMER_ON_TIME, 1);
    assert_plan(k, 0, HX_SPA_TIMER_ON_TIME, 0);
    /* A lifetime shorter than the buffer: already due, at once (no floor). */
    assert_plan(k, -5000, HX_SPA_TIMER_ON_TIME, 0);
}

static void test_timer_overflow_boundary(void **state)
{
    (void)state;
    struct hx_spa_knobs buggy = knobs_with(true, 1, 0), fixed = knobs_with(true, 0, 0);
    /* 2^31-1 ms still fits setTimeout's 32-bit delay, in both modes. */
    assert_plan(buggy, INT64_C(2147483647), HX_SPA_TIMER_ON_TIME, INT64_C(2147483647));
    assert_plan(fixed, INT64_C(2147483647), HX_SPA_TIMER_ON_TIME, INT64_C(2147483647));
    /* 2^31 wraps to -2^31, a negative delay: at once. */
    assert_plan(buggy, INT64_C(2147483648), HX_SPA_TIMER_WRAPPED, 0);
    assert_plan(fixed, INT64_C(2147483648), HX_SPA_TIMER_CAPPED, INT64_C(2147483648));
    /* A 30-day token with the 10 s buffer: 2591990000 ms, at once. */
    assert_plan(buggy, INT64_C(2591990000), HX_SPA_TIMER_WRAPPED, 0);
    assert_plan(fixed, INT64_C(2591990000), HX_SPA_TIMER_CAPPED, INT64_C(2591990000));
    /* Modulo 2^32: just below it is -1 (at once), just above it is small. */
    assert_plan(buggy, INT64_C(4294967295), HX_SPA_TIMER_WRAPPED, 0);
    assert_plan(buggy, INT64_C(4294967296), HX_SPA_TIMER_WRAPPED, 0);
    assert_plan(buggy, INT64_C(4294968296), HX_SPA_TIMER_WRAPPED, 1000);
    assert_plan(buggy, INT64_C(4294967296) + INT64_C(2147483647), HX_SPA_TIMER_WRAPPED,
                INT64_C(2147483647));
    assert_plan(buggy, INT64_C(4294967296) + INT64_C(2147483648), HX_SPA_TIMER_WRAPPED, 0);
}

static void test_timer_clamped_to_min_delay(void **state)
{
    (void)state;
    struct hx_spa_knobs k = knobs_with(true, 0, 15000);
    /* A 60 s token with a 60 s buffer: due at once, waits 15 s instead. */
    assert_plan(k, 0, HX_SPA_TIMER_CLAMPED, 15000);
    /* A 5 s token with a 10 s buffer: waits 15 s, 10 s past the expiry. */
    assert_plan(k, -5000, HX_SPA_TIMER_CLAMPED, 15000);
    assert_plan(k, 14999, HX_SPA_TIMER_CLAMPED, 15000);
    assert_plan(k, 15000, HX_SPA_TIMER_ON_TIME, 15000);
    assert_plan(k, 15001, HX_SPA_TIMER_ON_TIME, 15001);
    /* A floor over 2^31-1 ms overflows like any delay. */
    struct hx_spa_knobs huge = knobs_with(true, 1, INT64_C(2592000000));
    assert_plan(huge, 0, HX_SPA_TIMER_WRAPPED, 0);
    huge.timer_overflow = 0;
    assert_plan(huge, 0, HX_SPA_TIMER_CAPPED, INT64_C(2592000000));
}

static void test_timer_arm_marks_a_timer_that_fires_after_the_expiry(void **state)
{
    (void)state;
    struct hx_spa_tab tab;
    memset(&tab, 0, sizeof(tab));
    struct hx_spa_knobs k = knobs_with(true, 0, 15000);
    tab.expires_at = 1000000 + 5000; /* a 5 s token taken at 1000 s */
    struct hx_spa_timer plan = hx_spa_timer_arm(&k, &tab, 1000000);
    assert_int_equal(plan.kind, HX_SPA_TIMER_CLAMPED);
    assert_true(tab.timer_armed);
    assert_int_equal(tab.timer_at, 1015000);
    assert_true(tab.timer_late);
    /* A 60 s token with a 60 s buffer: 15 s is before the expiry. */
    tab.expires_at = 1000000 + 60000;
    k.refresh_buffer_ms = 60000;
    hx_spa_timer_arm(&k, &tab, 1000000);
    assert_int_equal(tab.timer_at, 1015000);
    assert_false(tab.timer_late);
    /* Already expired when armed (a clock far ahead): at once, not late. */
    k = knobs_with(true, 0, 0);
    tab.expires_at = 1000;
    hx_spa_timer_arm(&k, &tab, 500000);
    assert_int_equal(tab.timer_at, 500000);
    assert_false(tab.timer_late);
    /* On time: refresh_buffer before the expiry. */
    tab.expires_at = 300000;
    hx_spa_timer_arm(&k, &tab, 0);
    assert_int_equal(tab.timer_at, 290000);
    assert_false(tab.timer_late);
}

static void test_timer_not_rescheduled_after_its_refresh(void **state)
{
    (void)state;
    struct hx_spa_tab tab;
    memset(&tab, 0, sizeof(tab));
    struct hx_spa_knobs fixed = knobs_with(true, 0, 0), buggy = knobs_with(false, 0, 0);
    tab.expires_at = 300000;
    hx_spa_timer_arm(&fixed, &tab, 0);
    hx_spa_timer_fired(&fixed, &tab);
    assert_true(tab.timer_armed);
    hx_spa_timer_arm(&buggy, &tab, 0);
    assert_true(tab.timer_armed); /* armed at sign-in or page load, buggy or not */
    hx_spa_timer_fired(&buggy, &tab);
    assert_false(tab.timer_armed);
    /* Firing again (a page load armed it) stops it again. */
    hx_spa_timer_arm(&buggy, &tab, 290000);
    hx_spa_timer_fired(&buggy, &tab);
    assert_false(tab.timer_armed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_apply),
        cmocka_unit_test(test_apply_rejects),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_timer_waits_for_the_delay_or_fires_at_once_when_due),
        cmocka_unit_test(test_timer_overflow_boundary),
        cmocka_unit_test(test_timer_clamped_to_min_delay),
        cmocka_unit_test(test_timer_arm_marks_a_timer_that_fires_after_the_expiry),
        cmocka_unit_test(test_timer_not_rescheduled_after_its_refresh),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
