/* The HTML reporter: one self-contained file (inline CSS and a few lines of
 * script for the filters, nothing fetched) with an overview of the variants
 * and, per variant, its failures, the command that replays it and its
 * swimlane diagram (swimlanes.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "markup.h"
#include "runner.h"
#include "swimlanes.h"

/* ---- the page ---------------------------------------------------------- */

static const char style[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:1em;color:#111;background:#fff}"
    "h1{font-size:1.4em}h2{font-size:1.15em;margin:1.5em 0 .3em}"
    "table{border-collapse:collapse;width:100%}td,th{border:1px solid #bbb;padding:2px 6px;"
    "text-align:left;vertical-align:top}"
    ".PASS{color:#064;font-weight:bold}.FAIL{color:#a00;font-weight:bold}"
    "code{background:#f3f3f3;padding:1px 3px;word-break:break-all}"
    ".filters{margin:.5em 0}.filters button{margin-right:.3em}"
    ".sw{display:grid;gap:2px 0;align-items:center}"
    ".sw.inner{font-size:.95em}"
    ".sw.inner>*{grid-row:auto}"
    ".hd{font-weight:bold;border-bottom:2px solid #333;text-align:center;position:sticky;top:0;"
    "background:#fff}"
    ".at{font:12px monospace;color:#444}"
    ".arr{position:relative;border-bottom:2px solid #246;margin:0 12%;text-align:center;"
    "min-height:1.4em}.arr.right:after{content:'\\25B6';position:absolute;right:-6px;bottom:-9px;"
    "color:#246}.arr.left:before{content:'\\25C0';position:absolute;left:-6px;bottom:-9px;color:#246}"
    ".arr.ret{border-bottom-style:dashed}.arr.bad{border-bottom-color:#a00}"
    ".lbl{font-size:.9em;background:#fff;padding:0 3px}"
    ".st{font-weight:bold;border:1px solid #888;border-radius:3px;padding:0 3px}"
    ".st.s4,.st.s5{background:#fdd;border-color:#a00}.st.s2{background:#dfd}"
    ".tok{font:12px monospace;border:1px solid #555;border-radius:3px;padding:0 3px}"
    ".fault{border:1px dashed #a50;background:#ffe6bf;padding:0 3px;font-size:.85em}"
    ".log{font-size:.85em;color:#333;padding-left:.5em;border-left:3px solid #ccc}"
    ".who{font-weight:bold}"
    ".gap{text-align:center;font-size:.85em;color:#555;border-top:1px dashed #999;"
    "border-bottom:1px dashed #999;margin:.3em 0;background:repeating-linear-gradient(45deg,"
    "#fff,#fff 4px,#eee 4px,#eee 8px)}"
    ".step{font-weight:bold;background:#eef;padding:1px 4px}"
    ".note{font-size:.85em;color:#555}"
    ".fail{border:2px solid #a00;background:#fee;padding:2px 6px;font-weight:bold}"
    ".par{border:2px solid #555;padding:2px;margin:2px 0}.parhd{font-size:.85em;font-weight:bold}"
    ".cols{display:flex;gap:4px}.col{flex:1;min-width:0;border:1px solid #999;padding:2px}"
    ".colhd{font-size:.85em;text-align:center;background:#eee}"
    ".jar{font-size:.8em;border:1px solid #999;padding:2px 4px}.jt{font-weight:bold}"
    ".ck.chg{background:#ffc;outline:1px solid #cc0}.ck.del{text-decoration:line-through}"
    ".ck.del b{text-decoration:none}"
    ".setck{font-size:.8em;padding-left:.5em;border-left:3px solid #cc0}"
    ".setck.deleted{border-left-color:#a00;font-weight:bold}"
    ".variant{border-top:3px solid #333;margin-top:1.5em}"
    "[hidden]{display:none!important}"
    "@media print{.filters{display:none}.variant{break-before:page}.hd{position:static}"
    "body{margin:0;font-size:11px}}";

static const char script[] =
    "function show(kind){var t=document.getElementById('tag').value;"
    "document.querySelectorAll('[data-verdict]').forEach(function(e){"
    "var v=e.getAttribute('data-verdict'),g=' '+e.getAttribute('data-tags')+' ';"
    "e.hidden=!((kind==='all'||kind===v)&&(!t||g.indexOf(' '+t+' ')>=0));});"
    "window.kind=kind;}"
    "document.getElementById('tag').onchange=function(){show(window.kind||'all');};";

static void tags_text(FILE *f, const struct hx_scenario *sc)
{
    size_t i;
    json_t *t;
    json_array_foreach(sc->tags, i, t) {
        if (i)
            fputc(' ', f);
        hx_report_escape(f, json_string_value(t));
    }
}

static void replay(FILE *f, const struct hx_results *results, const struct hx_result *r)
{
    char command[1200];
    hx_report_replay_command(results, r, command, sizeof(command));
    hx_report_escape(f, command);
}

/* The page's head and title, the whole run's replay command, the filters
 * and the overview table's head. */
static void page_head(FILE *f, const struct hx_results *results)
{
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
               "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
               "<title>fakeidp run: %zu passed, %zu failed</title><style>%s</style></head><body>\n",
            results->passed, results->failed, style);
    fprintf(f, "<h1>fakeidp run: %zu passed, %zu failed</h1>\n<p>%zu variants in %.2f s, seed "
               "<code id=\"seed\">%llu</code>. Replay the whole run: <code id=\"replay\">fakeidp run "
               "--seed %llu",
            results->passed, results->failed, results->count, results->wall_ms / 1000.0,
            (unsigned long long)results->seed, (unsigned long long)results->seed);
    if (results->browser_engine) {
        fputs(" --browser ", f);
        hx_report_escape(f, results->browser_engine);
    }
    /* Its scenario files, each once, in the order they ran. */
    json_t *files = json_object();
    for (size_t i = 0; i < results->count; i++) {
        const char *file = results->items[i].scenario->file;
        if (!file || json_object_get(files, file))
            continue;
        json_object_set_new(files, file, json_true());
        fputc(' ', f);
        hx_report_escape(f, file);
    }
    json_decref(files);
    fputs("</code>. Times in the diagrams are virtual.</p>\n", f);
    json_t *all_tags = json_object();
    for (size_t i = 0; i < results->count; i++) {
        size_t j;
        json_t *t;
        json_array_foreach(results->items[i].scenario->tags, j, t)
            json_object_set_new(all_tags, json_string_value(t), json_true());
    }
    fputs("<div class=\"filters\">show: <button onclick=\"show('all')\">all</button>"
          "<button onclick=\"show('fail')\">failed</button><button onclick=\"show('pass')\">"
          "passed</button> tag: <select id=\"tag\"><option value=\"\">any</option>",
          f);
    const char *tag;
    json_t *unused;
    json_object_foreach(all_tags, tag, unused) {
        fputs("<option>", f);
        hx_report_escape(f, tag);
        fputs("</option>", f);
    }
    json_decref(all_tags);
    fputs("</select></div>\n<table id=\"overview\"><thead><tr><th>variant</th><th>verdict</th>"
          "<th>duration</th><th>failure mode</th><th>tags</th><th>first failure</th></tr></thead>"
          "<tbody>\n",
          f);
}

/* A row of the overview table. */
static void overview_row(FILE *f, const struct hx_result *r)
{
    char id[700];
    hx_report_html_anchor(r, id, sizeof(id));
    fprintf(f, "<tr data-verdict=\"%s\" data-tags=\"", r->passed ? "pass" : "fail");
    tags_text(f, r->scenario);
    fprintf(f, "\"><td><a href=\"#%s\">", id);
    hx_report_escape(f, r->scenario->name);
    fputc('/', f);
    hx_report_escape(f, r->variant->name);
    if (r->repeat_index)
        fprintf(f, " #%d", r->repeat_index + 1);
    fprintf(f, "</a></td><td class=\"%s\">%s</td><td>%.1f ms</td><td>", r->passed ? "PASS" : "FAIL",
            r->passed ? "PASS" : "FAIL", r->duration_ms);
    hx_report_escape(f, json_string_value(json_object_get(r->scenario->root, "failure_mode")));
    fputs("</td><td>", f);
    tags_text(f, r->scenario);
    fputs("</td><td>", f);
    hx_report_escape(f, json_string_value(json_array_get(r->failures, 0)));
    fputs("</td></tr>\n", f);
}

/* A variant's section: verdict, replay command, failures, diagram. */
static void variant_section(FILE *f, const struct hx_results *results, const struct hx_result *r)
{
    char id[700];
    hx_report_html_anchor(r, id, sizeof(id));
    fprintf(f, "<section class=\"variant\" id=\"%s\" data-verdict=\"%s\" data-tags=\"", id,
            r->passed ? "pass" : "fail");
    tags_text(f, r->scenario);
    fputs("\"><h2>", f);
    hx_report_escape(f, r->scenario->name);
    fputc('/', f);
    hx_report_escape(f, r->variant->name);
    fprintf(f, " <span class=\"%s\">%s</span></h2>\n<p>%.1f ms · replay: <code>",
            r->passed ? "PASS" : "FAIL", r->passed ? "PASS" : "FAIL", r->duration_ms);
    replay(f, results, r);
    fputs("</code></p>\n", f);
    if (json_array_size(r->failures)) {
        fputs("<ul class=\"failures\">", f);
        size_t j;
        json_t *m;
        json_array_foreach(r->failures, j, m) {
            fputs("<li>", f);
            hx_report_escape(f, json_string_value(m));
            fputs("</li>", f);
        }
        fputs("</ul>\n", f);
    }
    hx_swimlanes_write(f, r);
    fputs("</section>\n", f);
}

bool hx_report_html(const struct hx_results *results, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return false;
    page_head(f, results);
    for (size_t i = 0; i < results->count; i++)
        overview_row(f, &results->items[i]);
    fputs("</tbody></table>\n", f);
    for (size_t i = 0; i < results->count; i++)
        variant_section(f, results, &results->items[i]);
    fprintf(f, "<script>%s</script>\n</body></html>\n", script);
    return fclose(f) == 0;
}
