/* Human durations (duration.h): every documented form parses to the right
 * number of milliseconds, junk / negative / overflowing text is refused, and
 * formatting gives the shortest form that parses back to the same value. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "duration.h"

static int64_t parse_ok(const char *text)
{
    int64_t ms = -12345;
    if (!idp_duration_parse(text, &ms))
        fail_msg("expected \"%s\" to parse", text);
    return ms;
}

static void expect_rejected(const char *text)
{
    int64_t ms = -12345;
    if (idp_duration_parse(text, &ms))
        fail_msg("expected \"%s\" to be rejected, got %lld ms", text, (long long)ms);
}

/* --- parsing: accepted forms ------------------------------------------- */

static void test_parse_documented_forms(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("300s"), 300000);
    assert_int_equal(parse_ok("5m"), 300000);
    assert_int_equal(parse_ok("1h30m"), 5400000);
    assert_int_equal(parse_ok("8d"), 8LL * 86400000);
    assert_int_equal(parse_ok("250ms"), 250);
}

static void test_parse_bare_number_is_seconds(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("300"), 300000);
    assert_int_equal(parse_ok("1"), 1000);
    assert_int_equal(parse_ok("0"), 0);
}

static void test_parse_zero_with_unit(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("0s"), 0);
    assert_int_equal(parse_ok("0ms"), 0);
}

static void test_parse_compound_sums_every_part(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("1d2h3m4s5ms"),
                     86400000LL + 2 * 3600000LL + 3 * 60000LL + 4 * 1000LL + 5);
}

/* --- parsing: rejected forms ------------------------------------------- */

static void test_parse_rejects_empty_and_null(void **state)
{
    (void)state;
    int64_t ms = 0;
    assert_false(idp_duration_parse(NULL, &ms));
    expect_rejected("");
}

static void test_parse_rejects_unknown_units(void **state)
{
    (void)state;
    expect_rejected("5x");
    expect_rejected("5sec");
    expect_rejected("5ss");
    expect_rejected("1y");
    expect_rejected("1e3");
    expect_rejected("0x10");
}

static void test_parse_rejects_unit_without_number(void **state)
{
    (void)state;
    expect_rejected("s");
    expect_rejected("ms");
    expect_rejected("h30m");
}

static void test_parse_rejects_negative_and_signed(void **state)
{
    (void)state;
    expect_rejected("-5s");
    expect_rejected("-1");
    expect_rejected("+5s");
    expect_rejected("1h-30m");
}

static void test_parse_rejects_whitespace_and_fractions(void **state)
{
    (void)state;
    expect_rejected(" 5m");
    expect_rejected("5m ");
    expect_rejected("5 m");
    expect_rejected("1h 30m");
    expect_rejected("5.5s");
    expect_rejected("1,5s");
}

static void test_parse_rejects_bare_number_mixed_with_units(void **state)
{
    (void)state;
    /* A bare number is seconds only on its own. */
    expect_rejected("5m30");
    expect_rejected("1h30");
}

static void test_parse_rejects_overflow(void **state)
{
    (void)state;
    expect_rejected("99999999999999999999");         /* digits overflow */
    expect_rejected("99999999999999999999ms");
    expect_rejected("9999999999999999d");            /* value * unit overflows */
    expect_rejected("106751991167d7h12m55s808ms");   /* INT64_MAX + 1 ms */
    expect_rejected("106751991167d106751991167d");   /* sum overflows */
}

/* --- formatting ---------------------------------------------------------- */

static void expect_format(int64_t ms, const char *expected)
{
    char out[32];
    memset(out, 'X', sizeof(out));
    idp_duration_format(ms, out);
    assert_string_equal(out, expected);
}

static void test_format_shortest_forms(void **state)
{
    (void)state;
    expect_format(0, "0s");
    expect_format(250, "250ms");
    expect_format(1000, "1s");
    expect_format(60000, "1m");
    expect_format(300000, "5m");
    expect_format(3600000, "1h");
    expect_format(5400000, "1h30m");
    expect_format(8LL * 86400000, "8d");
    expect_format(1500, "1s500ms");
    expect_format(90061001, "1d1h1m1s1ms");
}

static void test_format_parses_back_to_same_value(void **state)
{
    (void)state;
    const int64_t values[] = {0,        1,         999,        1000,       1001,
                              59999,    60000,     3599999,    3600000,    86399999,
                              86400000, 604800000, 691200000,  5400000,    1234567890123LL,
                              INT64_MAX / 2, INT64_MAX};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        char out[32];
        idp_duration_format(values[i], out);
        assert_true(strlen(out) < 32);
        int64_t back = -1;
        if (!idp_duration_parse(out, &back) || back != values[i])
            fail_msg("%lld formatted as \"%s\" does not parse back", (long long)values[i], out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_documented_forms),
        cmocka_unit_test(test_parse_bare_number_is_seconds),
        cmocka_unit_test(test_parse_zero_with_unit),
        cmocka_unit_test(test_parse_compound_sums_every_part),
        cmocka_unit_test(test_format_shortest_forms),
        cmocka_unit_test(test_format_parses_back_to_same_value),
        cmocka_unit_test(test_parse_rejects_empty_and_null),
        cmocka_unit_test(test_parse_rejects_unknown_units),
        cmocka_unit_test(test_parse_rejects_unit_without_number),
        cmocka_unit_test(test_parse_rejects_negative_and_signed),
        cmocka_unit_test(test_parse_rejects_whitespace_and_fractions),
        cmocka_unit_test(test_parse_rejects_bare_number_mixed_with_units),
        cmocka_unit_test(test_parse_rejects_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
