/* The timeline's text form and the JUnit / JSON / TAP / console reporters on
 * a hand-built struct hx_results: XML escaping, the replay command and the
 * seed in every reporter, passing variants without failure lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "markup.h"
#include "runner.h"
#include "timeline.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *text = calloc(1, 1 << 16);
    assert_non_null(text);
    size_t n = fread(text, 1, (1 << 16) - 1, f);
    fclose(f);
    text[n] = '\0';
    return text;
}

static void assert_contains(const char *text, const char *want)
{
    if (!strstr(text, want))
        fail_msg("\"%s\" not found in:\n%s", want, text);
}

static void assert_lacks(const char *text, const char *unwanted)
{
    if (strstr(text, unwanted))
        fail_msg("\"%s\" found in:\n%s", unwanted, text);
}

static void test_timeline_text(void **state)
{
    (void)state;
    struct hx_timeline tl;
    hx_timeline_init(&tl, 1000);
    hx_timeline_add(&tl, 1000, "step", "sign_in %s", "alice@example.com");
    hx_timeline_add(&tl, 66500, "app", "refresh ok");
    hx_timeline_add(&tl, -1000, "idp", "clock behind");
    hx_timeline_add_data(&tl, 2000, "browser", json_pack("{s:s}", "kind", "request"), NULL);
    char *text = hx_timeline_text(&tl, "  ");
    assert_non_null(text);
    assert_string_equal(text, "  +0s       step    sign_in alice@example.com\n"
                              "  +1m5s500ms app     refresh ok\n"
                              "  -2s       idp     clock behind\n");
    free(text);
    /* The record without text stays in the entries for the structured
     * reporters. */
    assert_int_equal(json_array_size(tl.entries), 4);
    assert_string_equal(json_string_value(json_object_get(json_array_get(tl.entries, 3), "kind")),
                        "request");
    hx_timeline_cleanup(&tl);

    hx_timeline_init(&tl, 0);
    text = hx_timeline_text(&tl, "");
    assert_non_null(text);
    assert_string_equal(text, "");
    free(text);
    hx_timeline_cleanup(&tl);
}

static void test_timeline_hash(void **state)
{
    (void)state;
    char a[16], b[16], c[16];
    hx_timeline_hash("token-one", a);
    hx_timeline_hash("token-one", b);
    hx_timeline_hash("token-two", c);
    assert_int_equal(strlen(a), 8);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
}

/* Requests are numbered per timeline; entries made while one is current
 * carry it (and the current tab); the end record says which had finished. */
static void test_timeline_requests(void **state)
{
    (void)state;
    struct hx_timeline tl;
    hx_timeline_init(&tl, 0);
    int first = hx_timeline_request_begin(&tl);
    assert_int_equal(first, 1);
    assert_int_equal(hx_timeline_request_current(), 1);
    hx_timeline_tab_set("t2");
    hx_timeline_add(&tl, 10, "app", "in request one");
    hx_timeline_request_end(&tl, 20, json_pack("{s:s, s:i}", "path", "/a", "status", 200));
    int second = hx_timeline_request_begin(&tl);
    assert_int_equal(second, 2);
    hx_timeline_request_set(0);
    hx_timeline_tab_set(NULL);
    hx_timeline_add(&tl, 30, "step", "outside");
    /* data may say "no request" with req 0. */
    hx_timeline_request_set(2);
    hx_timeline_add_data(&tl, 40, "idp", json_pack("{s:i}", "req", 0), "not the browser's");
    hx_timeline_request_set(0);

    assert_int_equal(json_array_size(tl.entries), 4);
    const json_t *e0 = json_array_get(tl.entries, 0), *e1 = json_array_get(tl.entries, 1);
    const json_t *e2 = json_array_get(tl.entries, 2), *e3 = json_array_get(tl.entries, 3);
    assert_int_equal(json_integer_value(json_object_get(e0, "req")), 1);
    assert_string_equal(json_string_value(json_object_get(e0, "tab")), "t2");
    assert_string_equal(json_string_value(json_object_get(e1, "kind")), "request");
    assert_int_equal(json_integer_value(json_object_get(e1, "finished")), 1);
    assert_int_equal(json_integer_value(json_object_get(e1, "finished_before")), 0);
    assert_int_equal(json_integer_value(json_object_get(e1, "t")), 20);
    assert_null(json_object_get(e2, "req"));
    assert_null(json_object_get(e2, "tab"));
    assert_null(json_object_get(e3, "req"));
    hx_timeline_cleanup(&tl);

    /* A timeline with no entries array (cleaned up) takes nothing. */
    struct hx_timeline gone;
    hx_timeline_init(&gone, 0);
    hx_timeline_cleanup(&gone);
    assert_int_equal(hx_timeline_request_begin(&gone), 0);
    hx_timeline_add_data(&gone, 0, "app", json_object(), "dropped");
}

/* At most 5000 entries: a runaway loop cannot eat memory. */
static void test_timeline_bounded(void **state)
{
    (void)state;
    struct hx_timeline tl;
    hx_timeline_init(&tl, 0);
    for (int i = 0; i < 5100; i++)
        hx_timeline_add(&tl, i, "step", "entry %d", i);
    assert_int_equal(json_array_size(tl.entries), 5000);
    assert_string_equal(json_string_value(json_object_get(json_array_get(tl.entries, 4999), "text")),
                        "entry 4999");
    hx_timeline_cleanup(&tl);
}

static void test_journal_fields(void **state)
{
    (void)state;
    json_t *entry = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:s}", "request_id", "hxreq-12",
                              "method", "POST", "route", "authenticate", "status", 400, "grant_type",
                              "refresh_token", "outcome", "replayed", "token_hash", "ab12cd34");
    json_t *fields = hx_timeline_journal_fields(entry);
    assert_string_equal(json_string_value(json_object_get(fields, "kind")), "idp");
    assert_int_equal(json_integer_value(json_object_get(fields, "req")), 12);
    assert_string_equal(json_string_value(json_object_get(fields, "route")), "authenticate");
    assert_int_equal(json_integer_value(json_object_get(fields, "status")), 400);
    assert_string_equal(json_string_value(json_object_get(fields, "token")), "ab12cd34");
    /* Absent fields are null. */
    assert_true(json_is_null(json_object_get(fields, "fault")));
    json_decref(fields);
    json_decref(entry);
    /* A request id that is not the harness's gives req 0 (no request). */
    entry = json_pack("{s:s}", "request_id", "req_01ABC");
    fields = hx_timeline_journal_fields(entry);
    assert_int_equal(json_integer_value(json_object_get(fields, "req")), 0);
    json_decref(fields);
    json_decref(entry);
}

/* Two scenarios: one with a failing variant whose texts need escaping, one
 * passing with no failure list or timeline at all. */
struct fixture {
    struct hx_scenario sc[2];
    struct hx_variant v[3];
    struct hx_results results;
    char dir[64];
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    if (!fx)
        return -1;
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_report.XXXXXX");
    if (!mkdtemp(fx->dir))
        return -1;
    fx->sc[0].name = "a<b>&\"c\"";
    fx->sc[0].file = "scenarios/a&b.json";
    fx->sc[1].name = "healthy";
    fx->sc[1].file = "scenarios/healthy.json";
    fx->v[0].name = "strict";
    fx->v[1].name = "grace";
    fx->v[2].name = "default";
    fx->results.count = 3;
    fx->results.items = calloc(3, sizeof(struct hx_result));
    if (!fx->results.items)
        return -1;
    struct hx_result *r = fx->results.items;
    r[0].scenario = &fx->sc[0];
    r[0].variant = &fx->v[0];
    r[0].seed = 42;
    r[0].passed = false;
    r[0].duration_ms = 1500;
    r[0].failures = json_pack("[s, s]", "session: expected survives, got <lost> & \"gone\"",
                              "control \x01 and \r here");
    r[0].timeline = strdup("  +0s step load </testcase>\n");
    r[0].timeline_json = json_pack("[{s:i, s:s, s:s}]", "t", 0, "source", "step", "text", "load");
    r[1].scenario = &fx->sc[0];
    r[1].variant = &fx->v[1];
    r[1].seed = 42;
    r[1].passed = true;
    r[1].duration_ms = 20;
    r[1].failures = json_array();
    r[2].scenario = &fx->sc[1];
    r[2].variant = &fx->v[2];
    r[2].seed = 42;
    r[2].passed = true;
    r[2].repeat_index = 1;
    fx->results.passed = 2;
    fx->results.failed = 1;
    fx->results.wall_ms = 2500;
    fx->results.seed = 42;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
    int rc = system(cmd);
    hx_results_cleanup(&fx->results);
    free(fx);
    return rc == 0 ? 0 : -1;
}

static void test_junit(void **state)
{
    struct fixture *fx = *state;
    char path[128];
    snprintf(path, sizeof(path), "%s/junit.xml", fx->dir);
    assert_true(hx_report_junit(&fx->results, path, NULL));
    char *xml = slurp(path);
    assert_contains(xml, "<testsuites name=\"fakeidp\" tests=\"3\" failures=\"1\" time=\"2.500\">");
    assert_contains(xml, "<testsuite name=\"a&lt;b&gt;&amp;&quot;c&quot;\" tests=\"2\" failures=\"1\" "
                         "file=\"scenarios/a&amp;b.json\">");
    assert_contains(xml, "<testcase classname=\"a&lt;b&gt;&amp;&quot;c&quot;\" "
                         "name=\"a&lt;b&gt;&amp;&quot;c&quot;/strict\" time=\"1.500\">");
    assert_contains(xml, "<failure message=\"session: expected survives, got &lt;lost&gt; &amp; "
                         "&quot;gone&quot;\">");
    assert_contains(xml, "control &#x3f; and &#x0d; here");
    assert_contains(xml, "replay: fakeidp run --seed 42 --filter &#39;a&lt;b&gt;&amp;&quot;c&quot;/strict&#39; "
                         "scenarios/a&amp;b.json");
    assert_contains(xml, "+0s step load &lt;/testcase&gt;");
    /* The passing variants are empty testcases; the repeat is numbered. */
    assert_contains(xml, "name=\"a&lt;b&gt;&amp;&quot;c&quot;/grace\" time=\"0.020\"/>");
    assert_contains(xml, "<testsuite name=\"healthy\" tests=\"1\" failures=\"0\" file=\"scenarios/healthy.json\">");
    assert_contains(xml, "name=\"healthy/default#2\" time=\"0.000\"/>");
    /* No raw special character from the data reached the XML. */
    assert_lacks(xml, "<lost>");
    assert_lacks(xml, "\x01");
    assert_lacks(xml, "\r");
    assert_lacks(xml, "a<b");
    free(xml);
    /* An unwritable path fails. */
    assert_false(hx_report_junit(&fx->results, "/nonexistent-dir/x/junit.xml", NULL));
}

static void test_junit_html_link(void **state)
{
    struct fixture *fx = *state;
    char path[128];
    snprintf(path, sizeof(path), "%s/junit-html.xml", fx->dir);
    assert_true(hx_report_junit(&fx->results, path, "out/report&1.html"));
    char *xml = slurp(path);
    char anchor[700];
    hx_report_html_anchor(&fx->results.items[2], anchor, sizeof(anchor));
    assert_int_equal(strncmp(anchor, "v-", 2), 0);
    char want[900];
    snprintf(want, sizeof(want), "<property name=\"html_report\" value=\"out/report&amp;1.html#%s\"/>", anchor);
    assert_contains(xml, want);
    snprintf(want, sizeof(want), "<system-out>HTML report: out/report&amp;1.html#%s</system-out>", anchor);
    assert_contains(xml, want);
    /* A passing variant with a link is no longer self-closing. */
    assert_lacks(xml, "name=\"healthy/default#2\" time=\"0.000\"/>");
    free(xml);
}

static void test_json(void **state)
{
    struct fixture *fx = *state;
    char path[128];
    snprintf(path, sizeof(path), "%s/report.json", fx->dir);
    assert_true(hx_report_json(&fx->results, path));
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    if (!doc)
        fail_msg("report.json does not parse: %s", jerr.text);
    assert_int_equal(json_integer_value(json_object_get(doc, "seed")), 42);
    assert_int_equal(json_integer_value(json_object_get(doc, "total")), 3);
    assert_int_equal(json_integer_value(json_object_get(doc, "passed")), 2);
    assert_int_equal(json_integer_value(json_object_get(doc, "failed")), 1);
    const json_t *results = json_object_get(doc, "results");
    assert_int_equal(json_array_size(results), 3);
    const json_t *first = json_array_get(results, 0);
    assert_string_equal(json_string_value(json_object_get(first, "scenario")), "a<b>&\"c\"");
    assert_string_equal(json_string_value(json_object_get(first, "variant")), "strict");
    assert_string_equal(json_string_value(json_object_get(first, "replay")),
                        "fakeidp run --seed 42 --filter 'a<b>&\"c\"/strict' scenarios/a&b.json");
    assert_true(json_is_false(json_object_get(first, "passed")));
    assert_int_equal(json_array_size(json_object_get(first, "failures")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(first, "failures"), 1)),
                        "control \x01 and \r here");
    assert_int_equal(json_array_size(json_object_get(first, "timeline")), 1);
    const json_t *third = json_array_get(results, 2);
    assert_int_equal(json_integer_value(json_object_get(third, "repeat")), 1);
    assert_string_equal(json_string_value(json_object_get(third, "replay")),
                        "fakeidp run --seed 42 --filter 'healthy/default' --repeat N scenarios/healthy.json");
    /* A result without failures or timeline reports empty arrays. */
    assert_true(json_is_array(json_object_get(third, "failures")));
    assert_int_equal(json_array_size(json_object_get(third, "failures")), 0);
    assert_int_equal(json_array_size(json_object_get(third, "timeline")), 0);
    json_decref(doc);
    assert_false(hx_report_json(&fx->results, "/nonexistent-dir/x/report.json"));
}

static char *capture(void (*report)(const struct hx_results *, FILE *), const struct hx_results *r)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    assert_non_null(f);
    report(r, f);
    fclose(f);
    return buf;
}

static void console_quiet(const struct hx_results *r, FILE *f)
{
    hx_report_console(r, f, false);
}

static void test_tap_and_console(void **state)
{
    struct fixture *fx = *state;
    char *tap = capture(hx_report_tap, &fx->results);
    assert_int_equal(strncmp(tap, "TAP version 13\n1..3\n", 20), 0);
    assert_contains(tap, "not ok 1 - a<b>&\"c\"/strict\n");
    assert_contains(tap, "  seed: 42\n");
    assert_contains(tap, "  replay: \"fakeidp run --seed 42 --filter 'a<b>&\\\"c\\\"/strict' scenarios/a&b.json\"\n");
    assert_contains(tap, "    - \"control \\u0001 and \\r here\"\n");
    assert_contains(tap, "ok 2 - a<b>&\"c\"/grace\n");
    assert_contains(tap, "ok 3 - healthy/default#2\n");
    free(tap);
    char *console = capture(console_quiet, &fx->results);
    assert_contains(console, "    replay: fakeidp run --seed 42 --filter 'a<b>&\"c\"/strict' scenarios/a&b.json\n");
    assert_contains(console, "2 passed, 1 failed (3 variants in 2.50 s, seed 42)\n");
    /* Passing variants show no replay line when not verbose. */
    assert_lacks(console, "--filter 'healthy/default'");
    free(console);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timeline_text),
        cmocka_unit_test(test_timeline_hash),
        cmocka_unit_test(test_timeline_requests),
        cmocka_unit_test(test_timeline_bounded),
        cmocka_unit_test(test_journal_fields),
        cmocka_unit_test_setup_teardown(test_junit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_junit_html_link, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tap_and_console, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
