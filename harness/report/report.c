/* Reporters: console, JUnit XML, TAP, JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "markup.h"
#include "runner.h"

static void variant_name(const struct hx_result *r, char *out, size_t size)
{
    if (r->repeat_index)
        snprintf(out, size, "%s/%s#%d", r->scenario->name, r->variant->name, r->repeat_index + 1);
    else
        snprintf(out, size, "%s/%s", r->scenario->name, r->variant->name);
}

void hx_report_console(const struct hx_results *results, FILE *out, bool verbose)
{
    for (size_t i = 0; i < results->count; i++) {
        const struct hx_result *r = &results->items[i];
        char name[600];
        variant_name(r, name, sizeof(name));
        fprintf(out, "%s %-70s %7.1f ms\n", r->passed ? "ok  " : "FAIL", name, r->duration_ms);
        if (!r->passed || verbose) {
            size_t j;
            json_t *f;
            json_array_foreach(r->failures, j, f) fprintf(out, "    - %s\n", json_string_value(f));
            char replay[1200];
            hx_report_replay_command(results, r, replay, sizeof(replay));
            fprintf(out, "    replay: %s\n    timeline:\n%s", replay, r->timeline ? r->timeline : "");
        }
    }
    fprintf(out, "\n%zu passed, %zu failed (%zu variants in %.2f s, seed %llu)\n", results->passed,
            results->failed, results->count, results->wall_ms / 1000.0,
            (unsigned long long)results->seed);
}

static void junit_link(FILE *f, const struct hx_result *r, const char *html)
{
    char id[700];
    hx_report_html_anchor(r, id, sizeof(id));
    fprintf(f, "      <properties><property name=\"html_report\" value=\"");
    hx_report_escape(f, html);
    fprintf(f, "#%s\"/></properties>\n      <system-out>HTML report: ", id);
    hx_report_escape(f, html);
    fprintf(f, "#%s</system-out>\n", id);
}

bool hx_report_junit(const struct hx_results *results, const char *path, const char *html)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return false;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<testsuites name=\"fakeidp\" tests=\"%zu\" failures=\"%zu\" time=\"%.3f\">\n",
            results->count, results->failed, results->wall_ms / 1000.0);
    /* One testsuite per scenario file, one testcase per variant. */
    for (size_t i = 0; i < results->count; i++) {
        const struct hx_result *r = &results->items[i];
        if (i && results->items[i - 1].scenario == r->scenario)
            continue;
        size_t tests = 0, failures = 0;
        for (size_t j = i; j < results->count && results->items[j].scenario == r->scenario; j++) {
            tests++;
            failures += !results->items[j].passed;
        }
        fprintf(f, "  <testsuite name=\"");
        hx_report_escape(f, r->scenario->name);
        fprintf(f, "\" tests=\"%zu\" failures=\"%zu\" file=\"", tests, failures);
        hx_report_escape(f, r->scenario->file);
        fprintf(f, "\">\n");
        for (size_t j = i; j < results->count && results->items[j].scenario == r->scenario; j++) {
            const struct hx_result *c = &results->items[j];
            char name[600];
            variant_name(c, name, sizeof(name));
            fprintf(f, "    <testcase classname=\"");
            hx_report_escape(f, c->scenario->name);
            fprintf(f, "\" name=\"");
            hx_report_escape(f, name);
            fprintf(f, "\" time=\"%.3f\"", c->duration_ms / 1000.0);
            if (c->passed && !html) {
                fprintf(f, "/>\n");
                continue;
            }
            fprintf(f, ">\n");
            if (html)
                junit_link(f, c, html);
            if (c->passed) {
                fprintf(f, "    </testcase>\n");
                continue;
            }
            fprintf(f, "      <failure message=\"");
            hx_report_escape(f, json_string_value(json_array_get(c->failures, 0)));
            fprintf(f, "\">");
            size_t k;
            json_t *m;
            json_array_foreach(c->failures, k, m) {
                hx_report_escape(f, json_string_value(m));
                fputc('\n', f);
            }
            char replay[1200];
            hx_report_replay_command(results, c, replay, sizeof(replay));
            fprintf(f, "replay: ");
            hx_report_escape(f, replay);
            fprintf(f, "\ntimeline:\n");
            hx_report_escape(f, c->timeline);
            fprintf(f, "</failure>\n    </testcase>\n");
        }
        fprintf(f, "  </testsuite>\n");
    }
    fprintf(f, "</testsuites>\n");
    return fclose(f) == 0;
}

void hx_report_tap(const struct hx_results *results, FILE *out)
{
    fprintf(out, "TAP version 13\n1..%zu\n", results->count);
    for (size_t i = 0; i < results->count; i++) {
        const struct hx_result *r = &results->items[i];
        char name[600];
        variant_name(r, name, sizeof(name));
        fprintf(out, "%s %zu - %s\n", r->passed ? "ok" : "not ok", i + 1, name);
        if (!r->passed) {
            char replay[1200];
            hx_report_replay_command(results, r, replay, sizeof(replay));
            json_t *quoted_replay = json_string(replay);
            char *replay_yaml = json_dumps(quoted_replay, JSON_ENCODE_ANY);
            fprintf(out, "  ---\n  seed: %llu\n  replay: %s\n  failures:\n",
                    (unsigned long long)results->seed, replay_yaml ? replay_yaml : "\"\"");
            free(replay_yaml);
            json_decref(quoted_replay);
            size_t j;
            json_t *m;
            json_array_foreach(r->failures, j, m) {
                char *quoted = json_dumps(m, JSON_ENCODE_ANY);
                fprintf(out, "    - %s\n", quoted ? quoted : "\"\"");
                free(quoted);
            }
            fprintf(out, "  ...\n");
        }
    }
}

bool hx_report_json(const struct hx_results *results, const char *path)
{
    json_t *list = json_array();
    for (size_t i = 0; i < results->count; i++) {
        const struct hx_result *r = &results->items[i];
        char replay[1200];
        hx_report_replay_command(results, r, replay, sizeof(replay));
        json_array_append_new(
            list, json_pack("{s:s, s:s, s:s, s:i, s:b, s:f, s:s, s:o, s:o}", "scenario",
                            r->scenario->name, "variant", r->variant->name, "file", r->scenario->file,
                            "repeat", r->repeat_index, "passed", r->passed, "duration_ms",
                            r->duration_ms, "replay", replay, "failures",
                            r->failures ? json_incref(r->failures) : json_array(), "timeline",
                            r->timeline_json ? json_incref(r->timeline_json) : json_array()));
    }
    json_t *doc = json_pack("{s:I, s:I, s:I, s:f, s:I, s:o}", "total", (json_int_t)results->count,
                            "passed", (json_int_t)results->passed, "failed",
                            (json_int_t)results->failed, "wall_ms", results->wall_ms, "seed",
                            (json_int_t)results->seed, "results", list);
    int rc = json_dump_file(doc, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    return rc == 0;
}
