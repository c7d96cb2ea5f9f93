/* Shard planning (shard.h): every job lands in exactly one shard, the greedy
 * longest-processing-time plan balances known durations, unknown ones count
 * as the median, the plan is deterministic, and --shard auto reads the CI
 * systems' variables (GitLab 1-based, CircleCI and Buildkite 0-based). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shard.h"

static double max_load(const double *ms, size_t n, int shards, const int *out)
{
    double load[16] = {0}, max = 0;
    for (size_t i = 0; i < n; i++) {
        assert_true(out[i] >= 0 && out[i] < shards); /* exactly one shard each */
        load[out[i]] += ms[i];
    }
    for (int s = 0; s < shards; s++)
        max = load[s] > max ? load[s] : max;
    return max;
}

static void test_round_robin_without_timings(void **state)
{
    int out[7];
    hx_shard_plan(NULL, 7, 3, out);
    for (int i = 0; i < 7; i++)
        assert_int_equal(out[i], i % 3);
}

static void test_lpt_balances_known_durations(void **state)
{
    /* round robin would put 100+100+100 on shard 0 (300 vs 3) */
    double ms[] = {100, 1, 1, 100, 1, 1, 100, 1, 1};
    int out[9], rr[9];
    hx_shard_plan(ms, 9, 3, out);
    hx_shard_plan(NULL, 9, 3, rr);
    assert_int_equal(max_load(ms, 9, 3, rr), 300);
    assert_int_equal(max_load(ms, 9, 3, out), 102); /* the optimum */
}

static void test_lpt_classic_case(void **state)
{
    /* 2 shards, 7+6+5+4+3+3 = 28: LPT reaches 14/14 */
    double ms[] = {3, 7, 4, 6, 3, 5};
    int out[6];
    hx_shard_plan(ms, 6, 2, out);
    assert_int_equal(max_load(ms, 6, 2, out), 14);
}

static void test_plan_is_deterministic_with_ties(void **state)
{
    double ms[] = {5, 5, 5, 5, 5, 5, 5, 5};
    int a[8], b[8];
    hx_shard_plan(ms, 8, 3, a);
    hx_shard_plan(ms, 8, 3, b);
    assert_memory_equal(a, b, sizeof(a));
    /* equal durations: lower index first, to the lower shard */
    assert_int_equal(a[0], 0);
    assert_int_equal(a[1], 1);
    assert_int_equal(a[2], 2);
    assert_int_equal(a[3], 0);
}

static void test_unknown_durations_count_as_median(void **state)
{
    /* known: 10, 20, 30 (median 20); the two unknown count 20 each */
    double ms[] = {10, -1, 30, -1, 20};
    double as_median[] = {10, 20, 30, 20, 20};
    int out[5], expect[5];
    hx_shard_plan(ms, 5, 2, out);
    hx_shard_plan(as_median, 5, 2, expect);
    assert_memory_equal(out, expect, sizeof(out));
    assert_int_equal(max_load(as_median, 5, 2, out), 50);
}

static void test_more_shards_than_jobs(void **state)
{
    double ms[] = {4, 9};
    int out[2];
    hx_shard_plan(ms, 2, 5, out);
    assert_int_equal(out[1], 0); /* longest first, to shard 0 */
    assert_int_equal(out[0], 1);
    hx_shard_plan(ms, 0, 3, out); /* nothing to plan: no crash */
}

static void clear_ci(void)
{
    const char *names[] = {"CI_NODE_INDEX", "CI_NODE_TOTAL", "CIRCLE_NODE_INDEX",
                           "CIRCLE_NODE_TOTAL", "BUILDKITE_PARALLEL_JOB",
                           "BUILDKITE_PARALLEL_JOB_COUNT"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        unsetenv(names[i]);
}

static void auto_ok(int want_index, int want_count, const char *system)
{
    char note[256], error[512];
    int index = -1, count = -1;
    assert_true(hx_shard_auto(&index, &count, note, sizeof(note), error, sizeof(error)));
    assert_int_equal(index, want_index);
    assert_int_equal(count, want_count);
    assert_non_null(strstr(note, system));
}

static void auto_refused(void)
{
    char note[256], error[512];
    int index, count;
    assert_false(hx_shard_auto(&index, &count, note, sizeof(note), error, sizeof(error)));
    assert_non_null(strstr(error, "--shard auto"));
}

static void test_auto_reads_each_ci(void **state)
{
    clear_ci();
    auto_ok(0, 1, "no CI parallel-job variables");
    setenv("CI_NODE_INDEX", "3", 1), setenv("CI_NODE_TOTAL", "3", 1);
    auto_ok(2, 3, "GitLab"); /* 1-based */
    clear_ci();
    setenv("CIRCLE_NODE_INDEX", "0", 1), setenv("CIRCLE_NODE_TOTAL", "4", 1);
    auto_ok(0, 4, "CircleCI");
    clear_ci();
    setenv("BUILDKITE_PARALLEL_JOB", "2", 1), setenv("BUILDKITE_PARALLEL_JOB_COUNT", "3", 1);
    auto_ok(2, 3, "Buildkite");
    clear_ci();
}

static void test_auto_refuses_bad_variables(void **state)
{
    clear_ci();
    setenv("CI_NODE_INDEX", "0", 1), setenv("CI_NODE_TOTAL", "3", 1); /* GitLab starts at 1 */
    auto_refused();
    setenv("CI_NODE_INDEX", "4", 1);
    auto_refused();
    setenv("CI_NODE_INDEX", "1x", 1);
    auto_refused();
    clear_ci();
    setenv("CIRCLE_NODE_INDEX", "3", 1), setenv("CIRCLE_NODE_TOTAL", "3", 1); /* 0-based */
    auto_refused();
    clear_ci();
    setenv("BUILDKITE_PARALLEL_JOB", "1", 1); /* count missing */
    auto_refused();
    clear_ci();
}

static void test_timings_from_a_report(void **state)
{
    char path[] = "/tmp/test_shard_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("{\"results\": [{\"scenario\": \"a\", \"variant\": \"x\", \"duration_ms\": 10},"
          " {\"scenario\": \"a\", \"variant\": \"x\", \"duration_ms\": 30},"
          " {\"scenario\": \"b\", \"variant\": \"y\", \"duration_ms\": 5}]}",
          f);
    fclose(f);
    char error[256];
    json_t *t = hx_shard_timings_load(path, error, sizeof(error));
    assert_non_null(t);
    assert_float_equal(json_real_value(json_object_get(t, "a/x")), 20, 0); /* mean of repeats */
    assert_float_equal(json_real_value(json_object_get(t, "b/y")), 5, 0);
    json_decref(t);
    f = fopen(path, "w");
    fputs("{\"total\": 1}", f);
    fclose(f);
    assert_null(hx_shard_timings_load(path, error, sizeof(error)));
    assert_non_null(strstr(error, "results"));
    unlink(path);
    assert_null(hx_shard_timings_load(path, error, sizeof(error)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_robin_without_timings),
        cmocka_unit_test(test_lpt_balances_known_durations),
        cmocka_unit_test(test_lpt_classic_case),
        cmocka_unit_test(test_plan_is_deterministic_with_ties),
        cmocka_unit_test(test_unknown_durations_count_as_median),
        cmocka_unit_test(test_more_shards_than_jobs),
        cmocka_unit_test(test_auto_reads_each_ci),
        cmocka_unit_test(test_auto_refuses_bad_variables),
        cmocka_unit_test(test_timings_from_a_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
