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
#include "url.h"

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

void hx_run_vnote(struct hx_run *run, const char *source, json_t *data, const char *fmt, va_list ap)
{
    char text[1024];
    vsnprintf(text, sizeof(text), fmt, ap);
    hx_timeline_add_data(&run->timeline, idp_clock_now_ms(&run->clock), source, data, "%s", text);
}

void hx_run_note(struct hx_run *run, const char *source, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    hx_run_vnote(run, source, NULL, fmt, ap);
    va_end(ap);
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

bool hx_run_access_token(struct hx_run *run, const char *origin, char *out, size_t size)
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
    if (!origin)
        origin = run->app_origin;
    snprintf(url, sizeof(url), "%s/token", origin);
    snprintf(initiator, sizeof(initiator), "%s/dashboard", origin);
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
        static const char urn[] = "urn:workos:oauth:grant-type:";
        if (grant && strncmp(grant, urn, sizeof(urn) - 1) == 0)
            grant += sizeof(urn) - 1; /* mfa-totp, magic-auth:code, ... */
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

uint64_t hx_run_journal_next(struct hx_run *run)
{
    json_t *j = hx_run_admin(run, "GET", "/_fakeidp/journal?since=9223372036854775807", NULL, NULL);
    uint64_t next = (uint64_t)json_integer_value(json_object_get(j, "next"));
    json_decref(j);
    return next;
}

void hx_run_follow(struct hx_run *run, uint64_t since, int wait_ms)
{
    if (run->exec_follower == 0)
        return;
    double deadline = hx_wall_ms() + wait_ms;
    uint64_t change = 0; /* seq of the clock change (a POST /_fakeidp/clock), 0: not seen yet */
    for (;;) {
        char path[64];
        snprintf(path, sizeof(path), "/_fakeidp/journal?since=%llu", (unsigned long long)since);
        json_t *j = hx_run_admin(run, "GET", path, NULL, NULL);
        size_t i;
        json_t *e;
        bool acknowledged = false;
        json_array_foreach(json_object_get(j, "entries"), i, e) {
            uint64_t seq = (uint64_t)json_integer_value(json_object_get(e, "seq"));
            const char *p = json_string_value(json_object_get(e, "path"));
            const char *m = json_string_value(json_object_get(e, "method"));
            const char *id = json_string_value(json_object_get(e, "request_id"));
            if (!change && p && m && strcmp(p, "/_fakeidp/clock") == 0 && strcmp(m, "POST") == 0)
                change = seq + 1;
            long pid;
            unsigned long long acked;
            if (change && id && sscanf(id, "fakeidp-exec-%ld-%llu", &pid, &acked) == 2 && acked >= change)
                acknowledged = true;
        }
        json_decref(j);
        if (acknowledged) {
            run->exec_follower = 1;
            return;
        }
        if (hx_wall_ms() >= deadline)
            break;
        struct timespec pause = {.tv_sec = 0, .tv_nsec = 10 * 1000000L};
        nanosleep(&pause, NULL);
    }
    if (run->exec_follower == 1)
        hx_run_note(run, "step", "fakeidp exec did not acknowledge the clock change within %d ms",
                    wait_ms);
    else
        run->exec_follower = 0;
}

bool hx_run_advance(struct hx_run *run, int64_t ms)
{
    char text[40];
    snprintf(text, sizeof(text), "%lldms", (long long)ms);
    json_t *body = json_pack("{s:s}", "advance", text);
    long status = 0;
    bool follow = run->exec_follower == 1;
    uint64_t since = follow ? hx_run_journal_next(run) : 0;
    json_decref(hx_run_admin(run, "POST", "/_fakeidp/clock", body, &status));
    json_decref(body);
    if (follow && status == 200)
        hx_run_follow(run, since, 2000);
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

void hx_run_barrier_add(struct hx_run *run, const json_t *barrier, size_t n, char *id, size_t size)
{
    json_t *rule = json_deep_copy(barrier);
    json_object_set_new(rule, "action", json_string("barrier"));
    if (!json_object_get(rule, "hold"))
        json_object_set_new(rule, "hold", json_integer((json_int_t)n));
    /* Replies leave fakeidp 25 ms apart unless told otherwise, so the
     * browser applies them in the order fakeidp decided them. */
    if (!json_object_get(rule, "gap"))
        json_object_set_new(rule, "gap", json_string("25ms"));
    long status = 0;
    json_t *reply = hx_run_admin(run, "POST", "/_fakeidp/faults", rule, &status);
    const char *added = json_string_value(json_array_get(json_object_get(reply, "added"), 0));
    snprintf(id, size, "%s", added ? added : "");
    json_decref(reply);
    json_decref(rule);
}

void hx_run_barrier_remove(struct hx_run *run, const char *id)
{
    if (!id[0])
        return;
    char path[128];
    snprintf(path, sizeof(path), "/_fakeidp/faults/%s", id);
    json_decref(hx_run_admin(run, "DELETE", path, NULL, NULL));
}

struct fan_job {
    struct hx_run *run;
    char url[1200];
    const char *initiator;
};

static void *fan_thread(void *arg)
{
    struct fan_job *job = arg;
    struct hx_navigation nav = {.url = job->url, .subrequest = true, .initiator = job->initiator,
                                .credentials = true};
    struct hx_page page;
    hx_browser_go(&job->run->browser, &nav, &page);
    struct hx_url u;
    hx_url_parse(job->url, &u);
    hx_run_note(job->run, "step", "  fan-out fetch %s -> %ld%s", u.path, page.status,
                hx_run_is_signed_in(job->run, page.status, page.body) ? " signed in" : "");
    hx_page_cleanup(&page);
    hx_http_client_thread_close();
    return NULL;
}

/* A page of an app with a fan_out piece fetches its paths at once from the
 * page, as a framework's prefetch and Server Component requests do. */
static void fan_out(struct hx_run *run, const char *page_url)
{
    struct hx_url url;
    struct hx_world_app *app = hx_url_parse(page_url, &url)
                                   ? hx_world_app_for_host(&run->world, url.host) : NULL;
    if (!app || !app->pieces.fan_out_count)
        return;
    int n = app->pieces.fan_out_count;
    char origin[400], barrier_id[64] = "";
    hx_url_origin(&url, origin, sizeof(origin));
    if (app->pieces.fan_out_barrier)
        hx_run_barrier_add(run, app->pieces.fan_out_barrier, (size_t)n, barrier_id,
                           sizeof(barrier_id));
    hx_timeline_add_data(&run->timeline, hx_run_now(run), "app",
                         json_pack("{s:s}", "component", "page"),
                         "%s%s fans out into %d parallel requests%s", origin, url.path, n,
                         barrier_id[0] ? " (lined up by a barrier at fakeidp)" : "");
    struct fan_job jobs[8];
    pthread_t threads[8];
    bool started[8] = {false};
    for (int i = 0; i < n; i++) {
        jobs[i].run = run;
        jobs[i].initiator = page_url;
        snprintf(jobs[i].url, sizeof(jobs[i].url), "%s%s", origin, app->pieces.fan_out[i]);
        started[i] = pthread_create(&threads[i], NULL, fan_thread, &jobs[i]) == 0;
        if (!started[i])
            fan_thread(&jobs[i]);
    }
    for (int i = 0; i < n; i++)
        if (started[i])
            pthread_join(threads[i], NULL);
    hx_run_barrier_remove(run, barrier_id);
}

bool hx_run_location(struct hx_run *run, const char *where, char *out, size_t size, char *why,
                     size_t why_size)
{
    return hx_world_resolve(&run->world, run->app_origin, where, out, size, why, why_size);
}

void hx_run_load(struct hx_run *run, const char *path, bool subrequest, const char *method,
                 struct hx_observation *out)
{
    char url[1200], initiator[600], why[200];
    if (!hx_run_location(run, path, url, sizeof(url), why, sizeof(why))) {
        hx_run_fail(run, "load %s: %s", path, why);
        return;
    }
    /* A fetch() comes from a page of the same origin. */
    struct hx_url parsed;
    char origin[400] = "";
    if (hx_url_parse(url, &parsed))
        hx_url_origin(&parsed, origin, sizeof(origin));
    snprintf(initiator, sizeof(initiator), "%s/", origin[0] ? origin : run->app_origin);
    struct hx_navigation nav = {.method = method, .url = url, .subrequest = subrequest,
                                .initiator = subrequest ? initiator : NULL, .credentials = true};
    hx_run_visit(run, &nav, subrequest ? "fetch" : "load", path, out);
}

void hx_run_visit(struct hx_run *run, const struct hx_navigation *nav, const char *what,
                  const char *path, struct hx_observation *out)
{
    struct hx_page page;
    hx_browser_go(&run->browser, nav, &page);
    struct hx_observation obs = {.valid = true, .status = page.status,
                                 .login_redirect = page.login_redirect};
    obs.signed_in = hx_run_is_signed_in(run, page.status, page.body);
    snprintf(obs.url, sizeof(obs.url), "%.500s", page.url);
    snprintf(obs.stopped_at, sizeof(obs.stopped_at), "%.500s", page.stopped_at);
    snprintf(obs.body_excerpt, sizeof(obs.body_excerpt), "%s", page.body ? page.body : "");
    snprintf(obs.error, sizeof(obs.error), "%s", page.error);
    /* A load for an observation (the session probe) is the expectation's, not a step. */
    hx_run_note(run, out ? "expect" : "step", "%s%s %s -> %ld%s%s",
                out ? "session probe: " : "", what, path, page.status,
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
    if (!out && !nav->subrequest && page.status == 200 && run->world.routed)
        fan_out(run, page.url);
    hx_page_cleanup(&page);
}
