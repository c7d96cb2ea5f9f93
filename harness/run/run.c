/* The run context's services for steps and expectations (run.h): admin
 * calls on fakeidp, failures and notes on the timeline, virtual time, page
 * loads and the signed-in judgement. The runner creates the context; steps
 * and expectations only call down into it. */
#include "run.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http_client.h"

json_t *hx_run_admin(struct hx_run *run, const char *method, const char *path, const json_t *body,
                     long *status)
{
    return hx_run_admin_why(run, method, path, body, status, NULL, 0);
}

json_t *hx_run_admin_why(struct hx_run *run, const char *method, const char *path,
                         const json_t *body, long *status, char *why, size_t why_size)
{
    /* Reading the journal of the in-process fakeidp needs no request (and
     * a request for the journal is never journaled itself). */
    if (run->idp && strcmp(method, "GET") == 0 && strncmp(path, "/_fakeidp/journal", 17) == 0 &&
        (path[17] == '\0' || strncmp(path + 17, "?since=", 7) == 0)) {
        if (status)
            *status = 200;
        if (why && why_size)
            why[0] = '\0';
        return idp_server_journal(run->idp, path[17] ? strtoull(path + 24, NULL, 10) : 0);
    }
    char url[600], auth[200];
    snprintf(url, sizeof(url), "%s%s", run->idp_url, path);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", run->admin_token);
    const char *headers[] = {"Content-Type: application/json", run->admin_token[0] ? auth : NULL, NULL};
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct hx_http_client *client = hx_http_client_thread();
    struct hx_http_response resp = {0};
    json_t *reply = NULL;
    if (client) {
        hx_http_client_loopback(client, false);
        if (hx_http_request(client, method, url, headers, text, text ? strlen(text) : 0, 10000, &resp))
            reply = json_loadb(resp.body, resp.body_len, 0, NULL);
    }
    if (status)
        *status = resp.status;
    if (why && why_size)
        snprintf(why, why_size, "%s", client ? resp.error : "out of memory");
    hx_http_response_cleanup(&resp);
    free(text);
    return reply;
}

void hx_run_fail(struct hx_run *run, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&run->lock);
    if (json_array_size(run->failures) < 50)
        json_array_append_new(run->failures, json_string(text));
    pthread_mutex_unlock(&run->lock);
    hx_timeline_add(&run->timeline, idp_clock_now_ms(&run->clock), "FAIL", "%s", text);
}

void hx_run_broken(struct hx_run *run, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&run->lock);
    run->broken = true;
    pthread_mutex_unlock(&run->lock);
    hx_run_fail(run, "%s", text);
}

void hx_run_note(struct hx_run *run, const char *source, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    hx_timeline_add(&run->timeline, idp_clock_now_ms(&run->clock), source, "%s", text);
}

double hx_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

bool hx_run_out_of_time(struct hx_run *run, const char *where)
{
    if (!run->timeout_ms || hx_wall_ms() - run->started_wall_ms <= (double)run->timeout_ms)
        return false;
    pthread_mutex_lock(&run->lock);
    bool first = !run->timed_out;
    run->timed_out = true;
    pthread_mutex_unlock(&run->lock);
    if (first)
        hx_run_fail(run, "timed out after %lld ms (wall clock) before %s",
                    (long long)run->timeout_ms, where);
    return true;
}

int64_t hx_run_now(struct hx_run *run)
{
    return idp_clock_now_ms(&run->clock);
}

bool hx_run_access_token(struct hx_run *run, char *out, size_t size)
{
    out[0] = '\0';
    const char *app = json_string_value(json_object_get(json_object_get(run->doc, "target"), "app"));
    if (app && strcmp(app, "spa") == 0) {
        for (int i = 0; i < HX_SPA_TABS; i++)
            if (run->spa.tabs[i].open && strcmp(run->spa.tabs[i].name, "main") == 0)
                snprintf(out, size, "%s", run->spa.tabs[i].access_token);
        return out[0] != '\0';
    }
    char url[600], initiator[600];
    snprintf(url, sizeof(url), "%s/token", run->app_origin);
    snprintf(initiator, sizeof(initiator), "%s/dashboard", run->app_origin);
    struct hx_navigation nav = {.url = url, .subrequest = true, .initiator = initiator};
    struct hx_page page;
    hx_browser_go(&run->browser, &nav, &page);
    json_t *body = page.body ? json_loadb(page.body, strlen(page.body), 0, NULL) : NULL;
    const char *at = json_string_value(json_object_get(body, "accessToken"));
    snprintf(out, size, "%s", at ? at : "");
    json_decref(body);
    hx_page_cleanup(&page);
    return out[0] != '\0';
}

void hx_run_sync_journal(struct hx_run *run)
{
    pthread_mutex_lock(&run->lock);
    uint64_t since = run->journal_seen;
    pthread_mutex_unlock(&run->lock);
    char path[64];
    snprintf(path, sizeof(path), "/_fakeidp/journal?since=%llu", (unsigned long long)since);
    json_t *journal = hx_run_admin(run, "GET", path, NULL, NULL);
    size_t i;
    json_t *e;
    pthread_mutex_lock(&run->lock);
    json_array_foreach(json_object_get(journal, "entries"), i, e) {
        uint64_t seq = (uint64_t)json_integer_value(json_object_get(e, "seq"));
        if (seq < run->journal_seen)
            continue; /* a parallel step copied it already */
        run->journal_seen = seq + 1;
        const char *route = json_string_value(json_object_get(e, "route"));
        if (!route || strcmp(route, "admin") == 0)
            continue;
        const char *grant = json_string_value(json_object_get(e, "grant_type"));
        const char *outcome = json_string_value(json_object_get(e, "outcome"));
        const char *fault = json_string_value(json_object_get(e, "fault"));
        const char *hash = json_string_value(json_object_get(e, "token_hash"));
        hx_timeline_add_data(&run->timeline, json_integer_value(json_object_get(e, "virtual_ms")), "idp",
                        hx_timeline_journal_fields(e), "%s %s%s%s -> %lld%s%s%s%s%s%s",
                        json_string_value(json_object_get(e, "method")),
                        route, grant ? " " : "", grant ? grant : "",
                        (long long)json_integer_value(json_object_get(e, "status")),
                        outcome ? " " : "", outcome ? outcome : "", hash ? " token " : "",
                        hash ? hash : "", fault ? " fault " : "", fault ? fault : "");
    }
    pthread_mutex_unlock(&run->lock);
    json_decref(journal);
}

bool hx_run_advance(struct hx_run *run, int64_t ms)
{
    char text[40];
    snprintf(text, sizeof(text), "%lldms", (long long)ms);
    json_t *body = json_pack("{s:s}", "advance", text);
    long status = 0;
    json_decref(hx_run_admin(run, "POST", "/_fakeidp/clock", body, &status));
    json_decref(body);
    if (!run->idp)
        idp_clock_advance(&run->clock, ms); /* in-process, fakeidp shares this clock */
    hx_browser_tick(&run->browser);
    if (run->external)
        hx_external_set_time(run->external, hx_run_now(run));
    return status == 200;
}

bool hx_run_is_signed_in(struct hx_run *run, long status, const char *body)
{
    if (status != 200 || !body)
        return false;
    const json_t *target = json_object_get(run->doc, "target");
    const char *field = json_string_value(json_object_get(target, "signed_in_field"));
    if (field) {
        json_t *doc = json_loads(body, 0, NULL);
        const json_t *at = doc;
        char path[256];
        snprintf(path, sizeof(path), "%s", field);
        char *save = NULL;
        for (char *part = strtok_r(path, ".", &save); part && at; part = strtok_r(NULL, ".", &save))
            at = json_object_get(at, part);
        bool truthy = at && !json_is_null(at) && !json_is_false(at) &&
                      !(json_is_string(at) && !json_string_length(at));
        json_decref(doc);
        return truthy;
    }
    const char *marker = json_string_value(json_object_get(target, "signed_in_text"));
    return strstr(body, marker ? marker : "\"signed_in\":true") != NULL;
}

void hx_run_load(struct hx_run *run, const char *path, bool subrequest, const char *method,
                 struct hx_observation *out)
{
    char url[1200], initiator[600];
    snprintf(url, sizeof(url), "%s%s", run->app_origin, path);
    snprintf(initiator, sizeof(initiator), "%s/", run->app_origin);
    struct hx_navigation nav = {.method = method, .url = url, .subrequest = subrequest,
                                .initiator = subrequest ? initiator : NULL, .credentials = true};
    struct hx_page page;
    hx_browser_go(&run->browser, &nav, &page);
    struct hx_observation obs = {.valid = true, .status = page.status,
                                 .login_redirect = page.login_redirect};
    obs.signed_in = hx_run_is_signed_in(run, page.status, page.body);
    snprintf(obs.url, sizeof(obs.url), "%.500s", page.url);
    snprintf(obs.stopped_at, sizeof(obs.stopped_at), "%.500s", page.stopped_at);
    snprintf(obs.body_excerpt, sizeof(obs.body_excerpt), "%s", page.body ? page.body : "");
    snprintf(obs.error, sizeof(obs.error), "%s", page.error);
    /* A load for an observation (the session probe) is the expectation's, not a step. */
    hx_run_note(run, out ? "expect" : "step", "%s%s %s -> %ld%s%s",
                out ? "session probe: " : "", subrequest ? "fetch" : "load", path, page.status,
                obs.signed_in ? " signed in" : page.login_redirect ? " redirected to sign in" : "",
                page.error[0] ? page.error : "");
    pthread_mutex_lock(&run->lock);
    if (out)
        *out = obs;
    else
        run->last = obs;
    if (!obs.signed_in && run->ever_signed_in && !run->lost_at_ms)
        run->lost_at_ms = hx_run_now(run);
    pthread_mutex_unlock(&run->lock);
    hx_page_cleanup(&page);
}
