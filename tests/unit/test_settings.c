/* Server settings (settings.h): the defaults are production's behaviour,
 * apply() takes every documented type, every error names the setting and
 * leaves the settings untouched, and to_json() round-trips through apply(). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "settings.h"

/* Applies obj (JSON text) and returns the status; obj must parse. */
static enum idp_status apply_text(struct idp_settings *s, const char *text,
                                  struct idp_error *err)
{
    json_error_t jerr;
    json_t *obj = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!obj)
        fail_msg("bad test JSON %s: %s", text, jerr.text);
    enum idp_status st = idp_settings_apply(s, obj, err);
    json_decref(obj);
    return st;
}

/* Expects applying text to fail with a message naming `name`, and the
 * settings (starting from defaults) to stay byte-for-byte the same. */
static void expect_rejected(const char *text, const char *name)
{
    struct idp_settings s, before;
    idp_settings_defaults(&s);
    memcpy(&before, &s, sizeof(s));
    struct idp_error err = {0};
    enum idp_status st = apply_text(&s, text, &err);
    if (st == IDP_OK)
        fail_msg("%s was accepted", text);
    if (!strstr(err.message, name))
        fail_msg("%s: message \"%s\" does not name %s", text, err.message, name);
    if (memcmp(&s, &before, sizeof(s)) != 0)
        fail_msg("%s: settings changed although apply failed", text);
}

/* --- positive --------------------------------------------------------------- */

static void test_defaults_are_production(void **state)
{
    (void)state;
    struct idp_settings s;
    memset(&s, 0x5a, sizeof(s));
    idp_settings_defaults(&s);
    assert_int_equal(s.access_ttl_ms, 300000);
    assert_int_equal(s.refresh_grace_ms, 30000);
    assert_int_equal(s.issuer_mode, IDP_ISSUER_PER_CLIENT);
    assert_int_equal(s.refresh_mode, IDP_REFRESH_GRACE);
}

static void test_defaults_print_in_human_form(void **state)
{
    (void)state;
    struct idp_settings s;
    idp_settings_defaults(&s);
    json_t *obj = idp_settings_to_json(&s);
    assert_string_equal(json_string_value(json_object_get(obj, "access_ttl")), "5m");
    assert_string_equal(json_string_value(json_object_get(obj, "refresh_grace")), "30s");
    assert_string_equal(json_string_value(json_object_get(obj, "issuer")), "per_client");
    assert_string_equal(json_string_value(json_object_get(obj, "refresh_mode")), "grace");
    json_decref(obj);
}

static void test_apply_sets_every_kind_of_value(void **state)
{
    (void)state;
    struct idp_settings s;
    idp_settings_defaults(&s);
    struct idp_error err = {0};
    assert_int_equal(apply_text(&s,
                                "{\"access_ttl\":\"1h30m\", \"refresh_grace\":5,"
                                " \"refresh_mode\":\"revoke_family\", \"issuer\":\"custom\","
                                " \"issuer_url\":\"https://auth.example.com\","
                                " \"refresh_cookie\":false, \"journal_size\":42,"
                                " \"aud\":\"client_id\"}",
                                &err),
                     IDP_OK);
    assert_int_equal(s.access_ttl_ms, 5400000);
    assert_int_equal(s.refresh_grace_ms, 5000); /* a bare number is seconds */
    assert_int_equal(s.refresh_mode, IDP_REFRESH_REVOKE_FAMILY);
    assert_int_equal(s.issuer_mode, IDP_ISSUER_CUSTOM);
    assert_string_equal(s.issuer_url, "https://auth.example.com");
    assert_false(s.refresh_cookie);
    assert_int_equal(s.journal_size, 42);
    assert_int_equal(s.aud_mode, IDP_AUD_CLIENT_ID);
    /* Untouched settings keep their values. */
    assert_int_equal(s.code_ttl_ms, 600000);
    assert_string_equal(s.issuer_base, "https://api.workos.com");
}

static void test_apply_empty_object_changes_nothing(void **state)
{
    (void)state;
    struct idp_settings s;
    idp_settings_defaults(&s);
    json_t *before = idp_settings_to_json(&s);
    struct idp_error err = {0};
    assert_int_equal(apply_text(&s, "{}", &err), IDP_OK);
    json_t *after = idp_settings_to_json(&s);
    assert_true(json_equal(before, after));
    json_decref(before);
    json_decref(after);
}

static void test_zero_durations_are_accepted(void **state)
{
    (void)state;
    struct idp_settings s;
    idp_settings_defaults(&s);
    struct idp_error err = {0};
    assert_int_equal(apply_text(&s, "{\"session_max_age\":\"8d\"}", &err), IDP_OK);
    assert_int_equal(s.session_max_age_ms, 8LL * 86400000);
    assert_int_equal(apply_text(&s, "{\"session_max_age\":0, \"refresh_ttl\":\"0s\"}", &err),
                     IDP_OK);
    assert_int_equal(s.session_max_age_ms, 0);
    assert_int_equal(s.refresh_ttl_ms, 0);
}

static void test_text_setting_up_to_capacity_is_accepted(void **state)
{
    (void)state;
    struct idp_settings s;
    idp_settings_defaults(&s);
    char text[512];
    char value[sizeof(s.issuer_base)];
    memset(value, 'a', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0'; /* 255 characters: fits with its NUL */
    snprintf(text, sizeof(text), "{\"issuer_base\":\"%s\"}", value);
    struct idp_error err = {0};
    assert_int_equal(apply_text(&s, text, &err), IDP_OK);
    assert_string_equal(s.issuer_base, value);
}

static void test_to_json_roundtrips_through_apply(void **state)
{
    (void)state;
    struct idp_settings s, back;
    idp_settings_defaults(&s);
    struct idp_error err = {0};
    /* Every setting away from its default. */
    assert_int_equal(
        apply_text(&s,
                   "{\"access_ttl\":\"90s\", \"refresh_ttl\":\"1500ms\","
                   " \"session_max_age\":\"8d\", \"inactivity_timeout\":\"1h30m\","
                   " \"code_ttl\":\"1s\", \"refresh_mode\":\"concurrent_429\","
                   " \"refresh_grace\":\"250ms\", \"retry_after\":\"2s\","
                   " \"issuer\":\"legacy\", \"issuer_base\":\"https://b.example\","
                   " \"issuer_url\":\"https://u.example\", \"aud\":\"value\","
                   " \"aud_value\":\"api://x\", \"jwks_cache_control\":\"max-age=60\","
                   " \"refresh_cookie\":false, \"refresh_cookie_name\":\"rt\","
                   " \"journal_size\":7, \"max_sessions\":3, \"max_body_bytes\":4096}",
                   &err),
        IDP_OK);
    json_t *printed = idp_settings_to_json(&s);
    idp_settings_defaults(&back);
    assert_int_equal(idp_settings_apply(&back, printed, &err), IDP_OK);
    json_t *reprinted = idp_settings_to_json(&back);
    assert_true(json_equal(printed, reprinted));
    assert_int_equal(back.access_ttl_ms, 90000);
    assert_int_equal(back.refresh_ttl_ms, 1500);
    assert_int_equal(back.inactivity_timeout_ms, 5400000);
    assert_int_equal(back.refresh_mode, IDP_REFRESH_CONCURRENT_429);
    assert_int_equal(back.issuer_mode, IDP_ISSUER_LEGACY);
    assert_int_equal(back.aud_mode, IDP_AUD_VALUE);
    assert_string_equal(back.aud_value, "api://x");
    assert_string_equal(back.jwks_cache_control, "max-age=60");
    assert_false(back.refresh_cookie);
    assert_int_equal(back.max_body_bytes, 4096);
    json_decref(printed);
    json_decref(reprinted);
}

static void test_defaults_roundtrip_through_apply(void **state)
{
    (void)state;
    struct idp_settings s, back;
    idp_settings_defaults(&s);
    json_t *printed = idp_settings_to_json(&s);
    memset(&back, 0, sizeof(back));
    idp_settings_defaults(&back);
    back.access_ttl_ms = 1; /* must be overwritten by the printed value */
    struct idp_error err = {0};
    assert_int_equal(idp_settings_apply(&back, printed, &err), IDP_OK);
    assert_int_equal(back.access_ttl_ms, 300000);
    json_decref(printed);
}

static void test_refresh_mode_names(void **state)
{
    (void)state;
    assert_string_equal(idp_refresh_mode_name(IDP_REFRESH_GRACE), "grace");
    assert_string_equal(idp_refresh_mode_name(IDP_REFRESH_STRICT), "strict");
    assert_string_equal(idp_refresh_mode_name(IDP_REFRESH_REVOKE_FAMILY), "revoke_family");
    assert_string_equal(idp_refresh_mode_name(IDP_REFRESH_CONCURRENT_429), "concurrent_429");
}

/* --- negative --------------------------------------------------------------- */

static void test_unknown_setting_is_named(void **state)
{
    (void)state;
    expect_rejected("{\"acess_ttl\":\"5m\"}", "acess_ttl");
    expect_rejected("{\"ACCESS_TTL\":\"5m\"}", "ACCESS_TTL");
}

static void test_non_object_is_rejected(void **state)
{
    (void)state;
    struct idp_settings s, before;
    idp_settings_defaults(&s);
    memcpy(&before, &s, sizeof(s));
    struct idp_error err = {0};
    assert_int_not_equal(apply_text(&s, "[\"access_ttl\", \"5m\"]", &err), IDP_OK);
    assert_int_not_equal(apply_text(&s, "\"access_ttl=5m\"", &err), IDP_OK);
    assert_int_not_equal(idp_settings_apply(&s, NULL, &err), IDP_OK);
    assert_memory_equal(&s, &before, sizeof(s));
}

static void test_bad_durations_are_rejected(void **state)
{
    (void)state;
    expect_rejected("{\"access_ttl\":\"5 minutes\"}", "access_ttl");
    expect_rejected("{\"access_ttl\":\"-5s\"}", "access_ttl");
    expect_rejected("{\"access_ttl\":-5}", "access_ttl");
    expect_rejected("{\"access_ttl\":1.5}", "access_ttl");
    expect_rejected("{\"access_ttl\":true}", "access_ttl");
    expect_rejected("{\"access_ttl\":null}", "access_ttl");
    expect_rejected("{\"access_ttl\":\"\"}", "access_ttl");
    expect_rejected("{\"refresh_grace\":[30]}", "refresh_grace");
    expect_rejected("{\"code_ttl\":\"99999999999999999999s\"}", "code_ttl");
}

static void test_bad_whole_numbers_are_rejected(void **state)
{
    (void)state;
    expect_rejected("{\"journal_size\":\"5\"}", "journal_size");
    expect_rejected("{\"journal_size\":-1}", "journal_size");
    expect_rejected("{\"max_sessions\":2.5}", "max_sessions");
    expect_rejected("{\"max_body_bytes\":true}", "max_body_bytes");
    expect_rejected("{\"max_body_bytes\":null}", "max_body_bytes");
}

static void test_bad_booleans_are_rejected(void **state)
{
    (void)state;
    expect_rejected("{\"refresh_cookie\":\"true\"}", "refresh_cookie");
    expect_rejected("{\"refresh_cookie\":1}", "refresh_cookie");
    expect_rejected("{\"refresh_cookie\":null}", "refresh_cookie");
}

static void test_bad_text_is_rejected(void **state)
{
    (void)state;
    expect_rejected("{\"issuer_base\":5}", "issuer_base");
    expect_rejected("{\"aud_value\":null}", "aud_value");
    expect_rejected("{\"refresh_cookie_name\":[\"a\"]}", "refresh_cookie_name");
    /* One byte too long: the value plus its NUL does not fit. */
    struct idp_settings probe;
    char value[sizeof(probe.issuer_base) + 1];
    memset(value, 'a', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    char text[600];
    snprintf(text, sizeof(text), "{\"issuer_base\":\"%s\"}", value);
    expect_rejected(text, "issuer_base");
}

static void test_bad_choices_are_rejected_listing_the_choices(void **state)
{
    (void)state;
    expect_rejected("{\"refresh_mode\":\"bogus\"}", "refresh_mode");
    expect_rejected("{\"refresh_mode\":\"GRACE\"}", "refresh_mode");
    expect_rejected("{\"refresh_mode\":1}", "refresh_mode");
    expect_rejected("{\"issuer\":\"\"}", "issuer");
    expect_rejected("{\"aud\":null}", "aud");
    struct idp_settings s;
    idp_settings_defaults(&s);
    struct idp_error err = {0};
    assert_int_not_equal(apply_text(&s, "{\"refresh_mode\":\"bogus\"}", &err), IDP_OK);
    assert_non_null(strstr(err.message, "strict"));
    assert_non_null(strstr(err.message, "concurrent_429"));
}

static void test_one_bad_setting_rejects_the_whole_object(void **state)
{
    (void)state;
    /* Valid settings before and after the bad one must not be applied. */
    expect_rejected("{\"access_ttl\":\"10m\", \"refresh_mode\":\"bogus\", \"journal_size\":5}",
                    "refresh_mode");
    expect_rejected("{\"issuer_base\":\"https://x\", \"refresh_cookie\":false,"
                    " \"nope\":1}",
                    "nope");
    expect_rejected("{\"refresh_cookie\":false, \"code_ttl\":\"forever\"}", "code_ttl");
}

/* Applies obj in a child process and reports the status and access_ttl_ms,
 * so undefined behaviour stopped by a sanitizer fails this test instead of
 * ending the test program. Returns false if the child did not finish. */
static int apply_in_child(const char *text, enum idp_status *status, int64_t *access_ttl_ms,
                          char message[512])
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        struct {
            enum idp_status st;
            int64_t ttl;
            char msg[512];
        } out;
        memset(&out, 0, sizeof(out));
        struct idp_settings s;
        idp_settings_defaults(&s);
        struct idp_error err = {0};
        json_t *obj = json_loads(text, 0, NULL);
        out.st = idp_settings_apply(&s, obj, &err);
        out.ttl = s.access_ttl_ms;
        memcpy(out.msg, err.message, sizeof(out.msg));
        json_decref(obj); /* the child exits under leak checkers too */
        _exit(write(fds[1], &out, sizeof(out)) == (ssize_t)sizeof(out) ? 0 : 3);
    }
    close(fds[1]);
    struct {
        enum idp_status st;
        int64_t ttl;
        char msg[512];
    } in;
    ssize_t n = read(fds[0], &in, sizeof(in));
    close(fds[0]);
    int wstatus = 0;
    waitpid(pid, &wstatus, 0);
    if (n != (ssize_t)sizeof(in) || !WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0)
        return 0;
    *status = in.st;
    *access_ttl_ms = in.ttl;
    memcpy(message, in.msg, 512);
    return 1;
}

/* Regression (was a bug, now fixed): the duration case of apply_one (knobs.c, which idp_settings_apply
 * delegates to; earlier inline in settings.c) multiplies an integer number of
 * seconds by 1000 without an overflow check. {"access_ttl": 9223372036854776} (that
 * many seconds do not fit in int64 milliseconds) is a signed overflow
 * (undefined; UBSan stops here); without a sanitizer it is accepted with
 * IDP_OK and access_ttl_ms becomes -9223372036854775616, a negative token
 * lifetime. Expected: IDP_INVALID naming access_ttl, settings unchanged, as
 * for the string form "9223372036854776s" which duration.c rejects. */
static void test_integer_seconds_that_overflow_are_rejected(void **state)
{
    (void)state;
    enum idp_status st = IDP_OK;
    int64_t ttl = 0;
    char message[512] = "";
    if (!apply_in_child("{\"access_ttl\": 9223372036854776}", &st, &ttl, message))
        fail_msg("idp_settings_apply did not return normally "
                 "(undefined behaviour stopped by a sanitizer)");
    if (st == IDP_OK)
        fail_msg("overflowing access_ttl accepted: access_ttl_ms = %lld", (long long)ttl);
    assert_non_null(strstr(message, "access_ttl"));
    assert_int_equal(ttl, 300000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_are_production),
        cmocka_unit_test(test_defaults_print_in_human_form),
        cmocka_unit_test(test_apply_sets_every_kind_of_value),
        cmocka_unit_test(test_apply_empty_object_changes_nothing),
        cmocka_unit_test(test_zero_durations_are_accepted),
        cmocka_unit_test(test_text_setting_up_to_capacity_is_accepted),
        cmocka_unit_test(test_to_json_roundtrips_through_apply),
        cmocka_unit_test(test_defaults_roundtrip_through_apply),
        cmocka_unit_test(test_refresh_mode_names),
        cmocka_unit_test(test_unknown_setting_is_named),
        cmocka_unit_test(test_non_object_is_rejected),
        cmocka_unit_test(test_bad_durations_are_rejected),
        cmocka_unit_test(test_bad_whole_numbers_are_rejected),
        cmocka_unit_test(test_bad_booleans_are_rejected),
        cmocka_unit_test(test_bad_text_is_rejected),
        cmocka_unit_test(test_bad_choices_are_rejected_listing_the_choices),
        cmocka_unit_test(test_one_bad_setting_rejects_the_whole_object),
        cmocka_unit_test(test_integer_seconds_that_overflow_are_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
