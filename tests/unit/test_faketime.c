/* The libfaketime control file (faketime.h), shared by external apps and
 * fakeidp exec: what each mode writes, that a ticking clock never goes back
 * unless asked, the variables a child gets, and that close leaves nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "faketime.h"

static char tmp_root[] = "/tmp/fakeidp-test-faketime-XXXXXX";

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(tmp_root))
        return -1;
    setenv("TMPDIR", tmp_root, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return rmdir(tmp_root); /* fails if a test left something behind */
}

static void read_rc(const struct hx_faketime *ft, char *out, size_t size)
{
    FILE *f = fopen(ft->rc_path, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, size - 1, f);
    out[n] = '\0';
    fclose(f);
}

static double real_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_frozen_writes_the_absolute_time_and_follows_back(void **state)
{
    (void)state;
    struct hx_faketime ft;
    char text[64];
    assert_true(hx_faketime_open(&ft, HX_CLOCK_FROZEN, "/lib/libfaketime.so.1", 1768478400123));
    assert_int_equal(strncmp(ft.dir, tmp_root, strlen(tmp_root)), 0);
    read_rc(&ft, text, sizeof(text));
    assert_string_equal(text, "1768478400.123\n");
    assert_true(hx_faketime_set(&ft, 1768478760000, false));
    read_rc(&ft, text, sizeof(text));
    assert_string_equal(text, "1768478760.000\n");
    assert_true(hx_faketime_set(&ft, 1768478700000, true));
    read_rc(&ft, text, sizeof(text));
    assert_string_equal(text, "1768478700.000\n");
    hx_faketime_close(&ft);
}

static void test_ticking_writes_an_offset_that_never_goes_back_unless_asked(void **state)
{
    (void)state;
    struct hx_faketime ft;
    char text[64];
    int64_t now_ms = (int64_t)(real_now_s() * 1000);
    assert_true(hx_faketime_open(&ft, HX_CLOCK_TICKING, "/lib/libfaketime.so.1", now_ms + 360000));
    read_rc(&ft, text, sizeof(text));
    double offset = atof(text);
    assert_int_equal(text[0], '+');
    assert_true(offset > 359.0 && offset < 361.0);
    /* Back by a minute: ignored, the file keeps the larger offset. */
    assert_true(hx_faketime_set(&ft, now_ms + 300000, false));
    read_rc(&ft, text, sizeof(text));
    assert_true(atof(text) > 359.0);
    /* Unless asked. */
    assert_true(hx_faketime_set(&ft, now_ms + 300000, true));
    read_rc(&ft, text, sizeof(text));
    assert_true(atof(text) > 299.0 && atof(text) < 301.0);
    hx_faketime_close(&ft);
}

static void test_env_and_preload_for_each_mode(void **state)
{
    (void)state;
    struct hx_faketime ft;
    json_t *vars = json_pack("{s:s, s:s, s:s}", "FAKETIME", "@2000-01-01", "LD_PRELOAD", "/other.so",
                             "FAKETIME_DONT_FAKE_MONOTONIC", "1");
    assert_true(hx_faketime_open(&ft, HX_CLOCK_TICKING, "/lib/libfaketime.so.1", 0));
    hx_faketime_env(&ft, vars);
    hx_faketime_preload(&ft, vars);
    assert_null(json_object_get(vars, "FAKETIME"));
    assert_null(json_object_get(vars, "FAKETIME_DONT_FAKE_MONOTONIC")); /* ticking fakes monotonic clocks */
    assert_string_equal(json_string_value(json_object_get(vars, "FAKETIME_TIMESTAMP_FILE")), ft.rc_path);
    assert_string_equal(json_string_value(json_object_get(vars, "FAKETIME_NO_CACHE")), "1");
    assert_string_equal(json_string_value(json_object_get(vars, "FAKETIME_FMT")), "%s");
    assert_string_equal(json_string_value(json_object_get(vars, "LD_PRELOAD")),
                        "/lib/libfaketime.so.1:/other.so");
    hx_faketime_close(&ft);

    assert_true(hx_faketime_open(&ft, HX_CLOCK_FROZEN, "/lib/libfaketime.so.1", 0));
    hx_faketime_env(&ft, vars);
    assert_string_equal(json_string_value(json_object_get(vars, "FAKETIME_DONT_FAKE_MONOTONIC")), "1");
    hx_faketime_close(&ft);
    json_decref(vars);

    vars = json_pack("{s:s}", "FAKETIME", "+1d");
    assert_true(hx_faketime_open(&ft, HX_CLOCK_OFF, "/lib/libfaketime.so.1", 0));
    assert_string_equal(ft.rc_path, "");
    hx_faketime_env(&ft, vars);
    hx_faketime_preload(&ft, vars);
    assert_int_equal(json_object_size(vars), 0); /* an inherited FAKETIME goes, nothing comes */
    assert_true(hx_faketime_set(&ft, 1, false));
    hx_faketime_close(&ft);
    json_decref(vars);
}

static void test_close_removes_the_folder_and_open_fails_cleanly(void **state)
{
    (void)state;
    struct hx_faketime ft;
    assert_true(hx_faketime_open(&ft, HX_CLOCK_FROZEN, "/lib/libfaketime.so.1", 0));
    char dir[sizeof(ft.dir)];
    snprintf(dir, sizeof(dir), "%s", ft.dir);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    hx_faketime_close(&ft);
    assert_int_not_equal(stat(dir, &st), 0);
    hx_faketime_close(&ft); /* twice is harmless */

    setenv("TMPDIR", "/nonexistent/fakeidp-test", 1);
    assert_false(hx_faketime_open(&ft, HX_CLOCK_FROZEN, "/lib/libfaketime.so.1", 0));
    assert_string_equal(ft.dir, "");
    setenv("TMPDIR", tmp_root, 1);
}

static void test_find_lib_honours_the_variable(void **state)
{
    (void)state;
    char path[4096];
    setenv("FAKEIDP_LIBFAKETIME", "/nonexistent/libfaketime.so.1", 1);
    assert_false(hx_faketime_find_lib(path, sizeof(path)));
    setenv("FAKEIDP_LIBFAKETIME", "/dev/null", 1);
    assert_true(hx_faketime_find_lib(path, sizeof(path)));
    assert_string_equal(path, "/dev/null");
    unsetenv("FAKEIDP_LIBFAKETIME");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frozen_writes_the_absolute_time_and_follows_back),
        cmocka_unit_test(test_ticking_writes_an_offset_that_never_goes_back_unless_asked),
        cmocka_unit_test(test_env_and_preload_for_each_mode),
        cmocka_unit_test(test_close_removes_the_folder_and_open_fails_cleanly),
        cmocka_unit_test(test_find_lib_honours_the_variable),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
