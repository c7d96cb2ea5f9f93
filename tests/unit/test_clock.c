/* The virtual clock (clock.h): running it follows the wall clock plus an
 * offset, frozen it stands still until advanced or set, and the ISO-8601
 * formatter renders epoch milliseconds as "YYYY-MM-DDTHH:MM:SS.mmmZ". */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

/* Generous slack for "about now" comparisons on a loaded CI machine. */
#define SLACK_MS 2000
#define T0 1768478400000LL /* 2026-01-15T12:00:00.000Z */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static int setup_clock(void **state)
{
    static struct idp_clock clock;
    idp_clock_init(&clock);
    *state = &clock;
    return 0;
}

static int teardown_clock(void **state)
{
    idp_clock_cleanup(*state);
    return 0;
}

/* --- running / frozen ----------------------------------------------------- */

static void test_new_clock_runs_at_wall_time(void **state)
{
    struct idp_clock *clock = *state;
    assert_false(idp_clock_is_frozen(clock));
    int64_t wall = idp_wall_now_ms();
    int64_t now = idp_clock_now_ms(clock);
    assert_true(now >= wall - SLACK_MS && now <= wall + SLACK_MS);
}

static void test_running_clock_moves_with_wall_time(void **state)
{
    struct idp_clock *clock = *state;
    int64_t before = idp_clock_now_ms(clock);
    sleep_ms(30);
    int64_t after = idp_clock_now_ms(clock);
    assert_true(after - before >= 25);
}

static void test_frozen_clock_stands_still(void **state)
{
    struct idp_clock *clock = *state;
    idp_clock_freeze(clock, true);
    assert_true(idp_clock_is_frozen(clock));
    int64_t before = idp_clock_now_ms(clock);
    sleep_ms(30);
    assert_int_equal(idp_clock_now_ms(clock), before);
}

static void test_freeze_keeps_current_instant(void **state)
{
    struct idp_clock *clock = *state;
    idp_clock_set(clock, T0);
    int64_t before = idp_clock_now_ms(clock);
    idp_clock_freeze(clock, true);
    int64_t frozen = idp_clock_now_ms(clock);
    assert_true(frozen >= before && frozen - before < SLACK_MS);
}

static void test_freezing_twice_does_not_move_time(void **state)
{
    struct idp_clock *clock = *state;
    idp_clock_freeze(clock, true);
    idp_clock_set(clock, T0);
    sleep_ms(10);
    idp_clock_freeze(clock, true);
    assert_int_equal(idp_clock_now_ms(clock), T0);
    assert_true(idp_clock_is_frozen(clock));
}

static void test_advance_while_frozen_is_exact(void **state)
{
    struct idp_clock *clock = *state;
    idp_clock_freeze(clock, true);
    idp_clock_set(clock, T0);
    idp_clock_advance(clock, 6 * 60 * 1000);
    assert_int_equal(idp_clock_now_ms(clock), T0 + 360000);
    idp_clock_advance(clock, 1);
    assert_int_equal(idp_clock_now_ms(clock), T0 + 360001);
}

static void test_negative_advance_moves_back(void **state)
{
    struct idp_clock *clock = *state;
    idp_clock_freeze(clock, true);
    idp_clock_set(clock, T0);
    idp_clock_advance(clock, -5000);
    assert_int_equal(idp_clock_now_ms(clock), T0 - 5000);
}

static void test_advance_while_running_shifts_time(void **state)
{
    struct idp_clock *clock = *state;
    int64_t hour = 3600000;
    idp_clock_advance(clock, hour);
    int64_t wall = idp_wall_now_ms();
    int64_t now = idp_clock_now_ms(clock);
    assert_true(now >= wall + hour - SLACK_MS && now <= wall + hour + SLACK_MS);
    assert_false(idp_clock_is_frozen(clock));
}

static void test_set_while_frozen_is_exact_and_stays_frozen(void **state)
{
    struct idp_clock *clock = *state;
    idp_clock_freeze(clock, true);
    idp_clock_set(clock, T0);
    assert_int_equal(idp_clock_now_ms(clock), T0);
    assert_true(idp_clock_is_frozen(clock));
    sleep_ms(10);
    assert_int_equal(idp_clock_now_ms(clock), T0);
}

static void test_set_while_running_keeps_running(void **state)
{
    struct idp_clock *clock = *state;
    idp_clock_set(clock, T0);
    assert_false(idp_clock_is_frozen(clock));
    int64_t now = idp_clock_now_ms(clock);
    assert_true(now >= T0 && now < T0 + SLACK_MS);
    sleep_ms(30);
    assert_true(idp_clock_now_ms(clock) >= now + 25);
}

static void test_set_to_the_past_is_allowed(void **state)
{
    struct idp_clock *clock = *state;
    idp_clock_freeze(clock, true);
    idp_clock_set(clock, 0);
    assert_int_equal(idp_clock_now_ms(clock), 0);
    idp_clock_set(clock, -86400000);
    assert_int_equal(idp_clock_now_ms(clock), -86400000);
}

static void test_unfreeze_resumes_from_frozen_instant(void **state)
{
    struct idp_clock *clock = *state;
    idp_clock_freeze(clock, true);
    idp_clock_set(clock, T0);
    sleep_ms(50); /* wall time passes; virtual time must not jump by it */
    idp_clock_freeze(clock, false);
    assert_false(idp_clock_is_frozen(clock));
    int64_t now = idp_clock_now_ms(clock);
    assert_true(now >= T0 && now < T0 + 40);
    sleep_ms(30);
    assert_true(idp_clock_now_ms(clock) >= now + 25);
}

static void test_unfreeze_of_running_clock_changes_nothing(void **state)
{
    struct idp_clock *clock = *state;
    idp_clock_set(clock, T0);
    idp_clock_freeze(clock, false);
    int64_t now = idp_clock_now_ms(clock);
    assert_false(idp_clock_is_frozen(clock));
    assert_true(now >= T0 && now < T0 + SLACK_MS);
}

struct advancer {
    struct idp_clock *clock;
    int rounds;
};

static void *advance_many(void *arg)
{
    struct advancer *a = arg;
    for (int i = 0; i < a->rounds; i++)
        idp_clock_advance(a->clock, 1);
    return NULL;
}

static void test_concurrent_advances_are_not_lost(void **state)
{
    struct idp_clock *clock = *state;
    idp_clock_freeze(clock, true);
    idp_clock_set(clock, T0);
    pthread_t threads[4];
    struct advancer a = {clock, 20000};
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, advance_many, &a), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(threads[i], NULL);
    assert_int_equal(idp_clock_now_ms(clock), T0 + 4 * 20000);
}

/* --- ISO-8601 ------------------------------------------------------------- */

static void expect_iso(int64_t ms, const char *expected)
{
    char out[32];
    memset(out, 'X', sizeof(out));
    idp_format_iso8601(ms, out);
    assert_string_equal(out, expected);
}

static void test_iso8601_known_instants(void **state)
{
    (void)state;
    expect_iso(0, "1970-01-01T00:00:00.000Z");
    expect_iso(T0, "2026-01-15T12:00:00.000Z");
    expect_iso(T0 + 123, "2026-01-15T12:00:00.123Z");
    expect_iso(1709164799999LL, "2024-02-28T23:59:59.999Z");
    expect_iso(1709164800000LL, "2024-02-29T00:00:00.000Z"); /* leap day */
    expect_iso(951782400000LL, "2000-02-29T00:00:00.000Z");
    expect_iso(253402300799999LL, "9999-12-31T23:59:59.999Z");
}

static void test_iso8601_before_epoch_rounds_down(void **state)
{
    (void)state;
    expect_iso(-1, "1969-12-31T23:59:59.999Z");
    expect_iso(-1000, "1969-12-31T23:59:59.000Z");
    expect_iso(-1001, "1969-12-31T23:59:58.999Z");
    expect_iso(-62167219200000LL, "0000-01-01T00:00:00.000Z");
}

static int is_iso_shape(const char *s)
{
    /* "dddd-dd-ddTdd:dd:dd.dddZ" */
    const char *shape = "dddd-dd-ddTdd:dd:dd.dddZ";
    if (strlen(s) != strlen(shape))
        return 0;
    for (size_t i = 0; shape[i]; i++) {
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            return 0;
    }
    return 1;
}

static void test_iso8601_always_24_characters_of_the_same_shape(void **state)
{
    (void)state;
    const int64_t values[] = {0, 1, -1, T0, 253402300800000LL, -62167219200001LL, INT64_MAX,
                              INT64_MAX - 1, 4102444800000LL};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        char out[32];
        idp_format_iso8601(values[i], out);
        if (!is_iso_shape(out))
            fail_msg("%lld formatted as \"%s\"", (long long)values[i], out);
    }
}

static void test_advance_by_zero_changes_nothing(void **state)
{
    struct idp_clock *clock = *state;
    idp_clock_freeze(clock, true);
    idp_clock_set(clock, T0);
    idp_clock_advance(clock, 0);
    assert_int_equal(idp_clock_now_ms(clock), T0);
    assert_true(idp_clock_is_frozen(clock));
}

static void test_virtual_changes_do_not_touch_wall_clock(void **state)
{
    struct idp_clock *clock = *state;
    int64_t before = idp_wall_now_ms();
    idp_clock_advance(clock, 86400000LL * 365);
    idp_clock_freeze(clock, true);
    idp_clock_set(clock, 0);
    int64_t after = idp_wall_now_ms();
    assert_true(after >= before && after - before < SLACK_MS);
}

static void test_clocks_are_independent(void **state)
{
    struct idp_clock *clock = *state;
    struct idp_clock other;
    idp_clock_init(&other);
    idp_clock_freeze(clock, true);
    idp_clock_set(clock, T0);
    idp_clock_advance(clock, 3600000);
    assert_false(idp_clock_is_frozen(&other));
    int64_t wall = idp_wall_now_ms();
    int64_t now = idp_clock_now_ms(&other);
    assert_true(now >= wall - SLACK_MS && now <= wall + SLACK_MS);
    idp_clock_cleanup(&other);
}

static void test_iso8601_never_rounds_milliseconds_up(void **state)
{
    (void)state;
    expect_iso(T0 + 999, "2026-01-15T12:00:00.999Z");
    expect_iso(T0 - 1, "2026-01-15T11:59:59.999Z");
}

static void test_iso8601_writes_nothing_past_its_32_byte_buffer(void **state)
{
    (void)state;
    const int64_t values[] = {0, T0, INT64_MAX, -1, 253402300800000LL};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        char buf[48];
        memset(buf, 'Q', sizeof(buf));
        idp_format_iso8601(values[i], buf);
        for (size_t j = 32; j < sizeof(buf); j++)
            assert_int_equal(buf[j], 'Q');
        assert_int_equal(strlen(buf), 24);
    }
}

/* Formats in a child process, so undefined behaviour stopped by a sanitizer
 * fails this test rather than ending the whole test program. Returns false
 * when the child did not finish normally. */
static int format_in_child(int64_t ms, char out[32])
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        char buf[32] = "";
        idp_format_iso8601(ms, buf);
        _exit(write(fds[1], buf, sizeof(buf)) == (ssize_t)sizeof(buf) ? 0 : 3);
    }
    close(fds[1]);
    ssize_t n = read(fds[0], out, 32);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return n == 32 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void test_iso8601_far_future_and_past_are_clamped(void **state)
{
    (void)state;
    char out[32];
    assert_true(format_in_child(INT64_MAX, out));
    assert_string_equal(out, "9999-12-31T23:59:59.999Z");
    assert_true(format_in_child(253402300800000LL, out)); /* year 10000 */
    assert_string_equal(out, "9999-12-31T23:59:59.999Z");
    assert_true(format_in_child(-62167219200001LL, out)); /* year -1 */
    assert_string_equal(out, "0000-01-01T00:00:00.000Z");
}

/* Regression (was a bug, now fixed): clock.c idp_format_iso8601(INT64_MIN) computes `epoch_ms - 999`, a
 * signed overflow (undefined; UBSan stops here). Without a sanitizer the
 * value wraps to a huge positive second count and the most distant past is
 * rendered as "9999-12-31T23:59:59.999Z" instead of the clamped
 * "0000-01-01T00:00:00.000Z". INT64_MIN is IDP_TIME_ALWAYS, the publish /
 * sign-from time of an always-on key, so it is a reachable input. */
static void test_iso8601_most_distant_past_is_clamped_to_year_zero(void **state)
{
    (void)state;
    char out[32] = "";
    if (!format_in_child(INT64_MIN, out))
        fail_msg("idp_format_iso8601(INT64_MIN) did not return normally "
                 "(undefined behaviour stopped by a sanitizer)");
    assert_string_equal(out, "0000-01-01T00:00:00.000Z");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup_clock, teardown_clock)
    const struct CMUnitTest tests[] = {
        T(test_new_clock_runs_at_wall_time),
        T(test_running_clock_moves_with_wall_time),
        T(test_frozen_clock_stands_still),
        T(test_freeze_keeps_current_instant),
        T(test_freezing_twice_does_not_move_time),
        T(test_advance_while_frozen_is_exact),
        T(test_negative_advance_moves_back),
        T(test_advance_while_running_shifts_time),
        T(test_set_while_frozen_is_exact_and_stays_frozen),
        T(test_set_while_running_keeps_running),
        T(test_set_to_the_past_is_allowed),
        T(test_unfreeze_resumes_from_frozen_instant),
        T(test_unfreeze_of_running_clock_changes_nothing),
        T(test_concurrent_advances_are_not_lost),
        T(test_advance_by_zero_changes_nothing),
        T(test_virtual_changes_do_not_touch_wall_clock),
        T(test_clocks_are_independent),
        cmocka_unit_test(test_iso8601_known_instants),
        cmocka_unit_test(test_iso8601_before_epoch_rounds_down),
        cmocka_unit_test(test_iso8601_always_24_characters_of_the_same_shape),
        cmocka_unit_test(test_iso8601_never_rounds_milliseconds_up),
        cmocka_unit_test(test_iso8601_writes_nothing_past_its_32_byte_buffer),
        cmocka_unit_test(test_iso8601_far_future_and_past_are_clamped),
        cmocka_unit_test(test_iso8601_most_distant_past_is_clamped_to_year_zero),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
