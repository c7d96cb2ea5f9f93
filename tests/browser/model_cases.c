/* The browser model's side of the differential cookie suite: runs every case
 * of a case table (cookie-cases.json, format in docs/browser.md) through
 * hx_browser_go, with a transport that answers each hop from the table
 * instead of a server, and prints what the model did as JSON:
 *
 *   {"cases": [{"name": ..., "hops": ["GET http://app.test/x: a=1", ...],
 *               "jar": ["a=1; domain=app.test; path=/; ...", ...]}, ...]}
 *
 * differential.mjs compares this with what headless Chromium does on the
 * same table. Usage: model_cases cookie-cases.json [case-name]. Exit 2 on a
 * malformed table or an unknown MODEL_CASES_PROFILE. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "browser.h"
#include "clock.h"
#include "timeline.h"
#include "url.h"

struct transport_state {
    json_t *responses; /* hop key -> {"set": [...], "location": url, "status": n} */
    json_t *hops;      /* what each hop sent, in order */
};

/* Expands "$x(N)" into N 'x' characters, so the table can hold long values
 * and paths without spelling them out (malloc'd). */
static char *expand(const char *text)
{
    size_t cap = strlen(text) + 1;
    for (const char *p = strstr(text, "$x("); p; p = strstr(p + 3, "$x("))
        cap += (size_t)strtoul(p + 3, NULL, 10);
    char *out = malloc(cap), *o = out;
    if (!out)
        return NULL;
    for (const char *p = text; *p;) {
        char *end;
        unsigned long n;
        if (strncmp(p, "$x(", 3) == 0 && (n = strtoul(p + 3, &end, 10)) > 0 && *end == ')') {
            memset(o, 'x', n);
            o += n;
            p = end + 1;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return out;
}

static const char *query_key(const char *url)
{
    const char *k = strstr(url, "?k=");
    if (!k)
        k = strstr(url, "&k=");
    return k ? k + 3 : NULL;
}

/* Answers one request from the table and records its Cookie header. */
static bool table_transport(void *data, const char *method, const char *url_text,
                            const char *const *headers, const char *body, size_t body_len,
                            struct hx_http_response *resp)
{
    (void)body;
    (void)body_len;
    struct transport_state *state = data;
    memset(resp, 0, sizeof(*resp));
    const char *cookie = "";
    for (size_t i = 0; headers && headers[i]; i++)
        if (strncmp(headers[i], "Cookie: ", 8) == 0)
            cookie = headers[i] + 8;
    struct hx_url url;
    hx_url_parse(url_text, &url);
    char line[16384];
    snprintf(line, sizeof(line), "%s %s://%s%s: %s", method, url.scheme, url.host, url.path, cookie);
    json_array_append_new(state->hops, json_string(line));
    const char *key = query_key(url_text);
    json_t *answer = key ? json_object_get(state->responses, key) : NULL;
    const char *location = json_string_value(json_object_get(answer, "location"));
    resp->status = location ? (long)json_integer_value(json_object_get(answer, "status")) : 200;
    size_t cap = 64 + (location ? strlen(location) : 0);
    json_t *set;
    size_t i;
    json_array_foreach(json_object_get(answer, "set"), i, set)
        cap += strlen(json_string_value(set)) + 16;
    resp->headers = malloc(cap);
    resp->body = strdup("ok");
    if (!resp->headers || !resp->body) {
        snprintf(resp->error, sizeof(resp->error), "out of memory");
        return false;
    }
    size_t len = 0;
    resp->headers[0] = '\0';
    if (location)
        len += (size_t)snprintf(resp->headers + len, cap - len, "Location: %s\r\n", location);
    json_array_foreach(json_object_get(answer, "set"), i, set)
        len += (size_t)snprintf(resp->headers + len, cap - len, "Set-Cookie: %s\r\n",
                                json_string_value(set));
    resp->headers_len = len;
    resp->body_len = 2;
    return true;
}

static const char *const same_site_names[] = {"unspecified", "Lax", "Strict", "None"};

/* One line per stored cookie, sorted, in the form differential.mjs also
 * makes from Chromium's cookie store. */
static json_t *jar_lines(const struct hx_jar *jar, int64_t now_ms)
{
    json_t *lines = json_array();
    for (size_t i = 0; i < jar->count; i++) {
        const struct hx_cookie *c = &jar->items[i];
        if (c->expires_ms <= now_ms)
            continue;
        char expires[32];
        if (c->expires_ms == INT64_MAX)
            snprintf(expires, sizeof(expires), "session");
        else
            snprintf(expires, sizeof(expires), "%lldd",
                     (long long)((c->expires_ms - now_ms + 43200000) / 86400000));
        char line[8192];
        snprintf(line, sizeof(line), "%s=%s; domain=%s%s; path=%s;%s%s samesite=%s; expires=%s",
                 c->name, c->value, c->host_only ? "" : ".", c->domain, c->path,
                 c->secure ? " secure;" : "", c->http_only ? " httponly;" : "",
                 same_site_names[c->same_site], expires);
        size_t at = 0;
        while (at < json_array_size(lines) &&
               strcmp(json_string_value(json_array_get(lines, at)), line) < 0)
            at++;
        json_array_insert_new(lines, at, json_string(line));
    }
    return lines;
}

static char *hop_url(const json_t *hop)
{
    const char *url = json_is_string(hop) ? json_string_value(hop)
                                          : json_string_value(json_object_get(hop, "url"));
    return url ? expand(url) : NULL;
}

/* Runs one step (a navigation, form POST or fetch through its hops). */
static bool run_step(struct hx_browser *b, struct transport_state *state, const json_t *step,
                     size_t case_index, size_t step_index)
{
    const char *kind = json_string_value(json_object_get(step, "kind"));
    const char *from = json_string_value(json_object_get(step, "from"));
    const json_t *go = json_object_get(step, "go");
    if (!kind)
        kind = "navigate";
    bool post = strcmp(kind, "post") == 0, fetch = strcmp(kind, "fetch") == 0;
    if ((!post && !fetch && strcmp(kind, "navigate") != 0) || !json_array_size(go) ||
        ((post || fetch) && !from))
        return false;
    char first[8192] = "";
    for (size_t h = 0; h < json_array_size(go); h++) {
        const json_t *hop = json_array_get(go, h);
        char key[64];
        snprintf(key, sizeof(key), "c%zus%zuh%zu", case_index, step_index, h);
        json_t *answer = json_object();
        json_t *sets = json_array();
        const json_t *set;
        size_t i;
        json_array_foreach(json_object_get(hop, "set"), i, set) {
            char *text = expand(json_string_value(set) ? json_string_value(set) : "");
            json_array_append_new(sets, json_string(text ? text : ""));
            free(text);
        }
        json_object_set_new(answer, "set", sets);
        if (h + 1 < json_array_size(go)) {
            char *next = hop_url(json_array_get(go, h + 1));
            char location[8192];
            snprintf(location, sizeof(location), "%s%sk=c%zus%zuh%zu", next ? next : "",
                     next && strchr(next, '?') ? "&" : "?", case_index, step_index, h + 1);
            free(next);
            json_object_set_new(answer, "location", json_string(location));
            json_int_t status = json_integer_value(json_object_get(hop, "status"));
            json_object_set_new(answer, "status", json_integer(status ? status : 302));
        }
        json_object_set_new(state->responses, key, answer);
        if (h == 0) {
            char *url = hop_url(hop);
            if (!url)
                return false;
            snprintf(first, sizeof(first), "%s%sk=%s", url, strchr(url, '?') ? "&" : "?", key);
            free(url);
        }
    }
    struct hx_navigation nav = {.method = post ? "POST" : json_string_value(json_object_get(step, "method")),
                                .url = first,
                                .body = post ? "x=1" : NULL,
                                .subrequest = fetch,
                                .follow_login = true,
                                .credentials = true,
                                .initiator = from};
    struct hx_page page;
    hx_browser_go(b, &nav, &page);
    if (page.error[0])
        fprintf(stderr, "model_cases: %s\n", page.error);
    hx_page_cleanup(&page);
    return true;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: model_cases cookie-cases.json [case-name]\n");
        return 2;
    }
    json_error_t jerr;
    json_t *table = json_load_file(argv[1], 0, &jerr);
    json_t *cases = json_object_get(table, "cases");
    if (!json_is_array(cases)) {
        fprintf(stderr, "%s:%d:%d: %s\n", argv[1], jerr.line, jerr.column,
                table ? "no \"cases\" array" : jerr.text);
        json_decref(table);
        return 2;
    }
    int status = 0;
    json_t *out = json_array();
    const json_t *c;
    size_t ci;
    json_array_foreach(cases, ci, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        if (argc > 2 && (!name || strcmp(name, argv[2]) != 0))
            continue;
        struct idp_clock clock;
        idp_clock_init(&clock);
        idp_clock_set(&clock, idp_wall_now_ms());
        struct hx_timeline timeline;
        hx_timeline_init(&timeline, idp_clock_now_ms(&clock));
        struct hx_browser_knobs knobs;
        hx_browser_knobs_defaults(&knobs);
        /* MODEL_CASES_PROFILE=webkit (or firefox) runs another profile: the
         * suite's own negative test, which must then see a disagreement. */
        const char *profile = getenv("MODEL_CASES_PROFILE");
        if (profile) {
            json_t *obj = json_pack("{s:s}", "profile", profile);
            const char *bad_key = NULL;
            struct idp_error err;
            if (hx_browser_knobs_apply(&knobs, obj, &bad_key, &err)) {
                fprintf(stderr, "model_cases: MODEL_CASES_PROFILE=%s: not a browser profile\n", profile);
                status = 2;
            }
            json_decref(obj);
        }
        struct hx_browser browser;
        hx_browser_init(&browser, &knobs, &clock, &timeline);
        struct transport_state state = {json_object(), json_array()};
        browser.transport = table_transport;
        browser.transport_data = &state;
        const json_t *step;
        size_t si;
        json_array_foreach(json_object_get(c, "steps"), si, step) {
            if (!run_step(&browser, &state, step, ci, si)) {
                fprintf(stderr, "%s: case %s, step %zu: needs \"go\" (hops), a kind of navigate, "
                        "post or fetch, and \"from\" for post and fetch\n", argv[1],
                        name ? name : "?", si + 1);
                status = 2;
            }
        }
        json_t *result = json_pack("{s:s, s:o, s:o}", "name", name ? name : "?", "hops", state.hops,
                                   "jar", jar_lines(&browser.jar, idp_clock_now_ms(&clock)));
        if (getenv("MODEL_CASES_TIMELINE")) {
            char *text = hx_timeline_text(&timeline, "  ");
            fprintf(stderr, "%s:\n%s", name ? name : "?", text ? text : "");
            free(text);
        }
        json_array_append_new(out, result);
        json_decref(state.responses);
        hx_browser_cleanup(&browser);
        hx_timeline_cleanup(&timeline);
        idp_clock_cleanup(&clock);
    }
    json_t *doc = json_pack("{s:o}", "cases", out);
    json_dumpf(doc, stdout, JSON_INDENT(1));
    putchar('\n');
    json_decref(doc);
    json_decref(table);
    hx_http_client_thread_close();
    return status;
}
