/* HAR 1.2 -> scenario skeleton. See har.h and docs/har.md. This half
 * writes the scenario; har_capture.c reads the capture into items.
 *
 * Kept: requests to the app's pages and API (not its static files) and to
 * the IdP (WorkOS, AuthKit or the fake: /user_management/… paths or a
 * workos/authkit host), with their start times, durations, statuses and the
 * names, sizes and attributes of the cookies they set. From those:
 * - the sign-in (login, authorize, callback) becomes one sign_in step;
 * - app requests become load (a document) or api (anything else) steps,
 *   path only (query strings may carry codes and states);
 * - requests that overlapped become a parallel step in the order they
 *   started; when more than one of their responses rewrote the session
 *   cookie, each of them refreshed, and a barrier holds that many refreshes
 *   at fakeidp so the replay overlaps the same way;
 * - pauses of a second or more become advance steps;
 * - a session cookie over 4096 bytes becomes a token-bloat fault (the
 *   browser drops such a Set-Cookie);
 * - the first 401, redirect to sign in or deletion of the session cookie
 *   after sign-in is noted as the point where the session was lost;
 * - the expectation is that the session survives, so the scenario fails the
 *   way production did until the app is fixed. */
#include "har_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"

#define BROWSER_COOKIE_LIMIT 4096

static json_t *request_step(const struct hx_har_item *it)
{
    return json_pack("{s:s}", it->document ? "load" : "api", it->url.path);
}

static void add_note(json_t *step, const char *text)
{
    const char *old = hx_har_string(step, "note");
    if (!old) {
        json_object_set_new(step, "note", json_string(text));
        return;
    }
    size_t len = strlen(old) + strlen(text) + 3;
    char *both = malloc(len);
    if (!both)
        return;
    snprintf(both, len, "%s; %s", old, text);
    json_object_set_new(step, "note", json_string(both));
    free(both);
}

/* Notes for one response: its status, its cookies (name, size, attributes)
 * and whether it lost the session. Returns true when it did. */
static bool describe(const struct hx_har_item *it, const char *session, bool signed_in, json_t *step,
                     size_t *largest, struct hx_har_summary *s, int64_t t0)
{
    char text[1200];
    const json_t *resp = json_object_get(it->entry, "response");
    const json_t *headers = json_object_get(resp, "headers");
    const json_t *h;
    bool lost = false;
    char why[300] = "";
    snprintf(text, sizeof(text), "production: %s %s -> %ld", hx_har_string(json_object_get(it->entry, "request"), "method"),
             it->url.path, it->status);
    add_note(step, text);
    for (size_t k = 0; (h = hx_har_header(headers, "Set-Cookie", k)); k++) {
        struct hx_har_set_cookie c;
        if (!hx_har_set_cookie_parse(hx_har_string(h, "value") ? hx_har_string(h, "value") : "", &c))
            continue;
        snprintf(text, sizeof(text), "Set-Cookie %s: %s%s", c.name,
                 c.deleted ? "deleted" : "", c.attrs);
        if (!c.deleted) {
            char size[40];
            snprintf(size, sizeof(size), "%zu bytes", c.size);
            snprintf(text, sizeof(text), "Set-Cookie %s: %s%s", c.name, size, c.attrs);
        }
        add_note(step, text);
        if (session[0] && strcmp(c.name, session) == 0) {
            if (!c.deleted && c.size > *largest)
                *largest = c.size;
            if (c.deleted && signed_in && !why[0])
                snprintf(why, sizeof(why), "the response deleted %s", c.name);
        }
    }
    char location[600] = "";
    const char *loc = hx_har_string(hx_har_header(headers, "Location", 0), "value");
    if (!loc)
        loc = hx_har_string(resp, "redirectURL");
    snprintf(location, sizeof(location), "%s", loc ? loc : "");
    location[strcspn(location, "?#")] = '\0'; /* codes, states, tokens */
    if (signed_in && !why[0] && it->status == 401)
        snprintf(why, sizeof(why), "401 from %s", it->url.path);
    if (signed_in && !why[0] && it->status >= 300 && it->status < 400 &&
        (strstr(location, "/login") || strstr(location, "/authorize") || strstr(location, "/sign-in")))
        snprintf(why, sizeof(why), "%s redirected to sign in (%s)", it->url.path, location);
    if (why[0]) {
        lost = true;
        char at[32];
        idp_duration_format(it->start_ms - t0, at);
        if (!s->lost[0])
            snprintf(s->lost, sizeof(s->lost), "+%s: %s", at, why);
        snprintf(text, sizeof(text), "production lost the session here: %s", why);
        add_note(step, text);
    }
    return lost;
}

/* fakeidp's access-token lifetime (its default) and the margin past it
 * after which the reference app is sure to refresh. */
#define REPLAY_TOKEN_EXPIRED_MS (300000 + 60000)

static int64_t add_advance(json_t *steps, int64_t gap_ms, const char *note)
{
    if (gap_ms < 1000)
        return 0;
    char text[32];
    gap_ms = gap_ms / 1000 * 1000;
    idp_duration_format(gap_ms, text);
    json_array_append_new(steps, json_pack("{s:s, s:s}", "advance", text, "note", note));
    return gap_ms;
}

static int by_end(const void *a, const void *b)
{
    const struct hx_har_item *x = *(const struct hx_har_item *const *)a, *y = *(const struct hx_har_item *const *)b;
    return x->end_ms < y->end_ms ? -1 : x->end_ms > y->end_ms;
}

/* What the replay has written so far and where it stands. */
struct replay {
    json_t *steps;
    json_t *idp_calls;      /* the browser's own IdP calls after sign-in, described */
    size_t largest;         /* the largest session cookie set, in bytes */
    int64_t since_write;    /* virtual time since the session cookie was last written */
    int64_t last_ms;        /* when the last replayed request ended */
    bool signed_in;
};

/* The sign_in step: everything up to the callback (and the page its
 * redirect loaded) is the sign-in. Returns the index of the first item
 * after it. */
static size_t add_sign_in(struct replay *r, const struct hx_har_capture *cap,
                          struct hx_har_summary *s)
{
    const struct hx_har_item *items = cap->items;
    size_t n = cap->n, callback = n, first = 0;
    for (size_t i = 0; i < n; i++)
        if (!items[i].idp && strcmp(items[i].url.path, "/callback") == 0) {
            callback = i;
            break;
        }
    json_t *sign_in = json_pack("{s:b}", "sign_in", 1); /* the default user: a placeholder */
    if (callback < n) {
        char text[300];
        snprintf(text, sizeof(text), "the capture's sign-in (%zu requests through login, authorize "
                                     "and callback); the user is a placeholder",
                 callback + 1);
        add_note(sign_in, text);
        first = callback + 1;
        r->last_ms = items[callback].end_ms;
        /* The callback's redirect (to /dashboard) is part of the sign-in. */
        const char *loc = hx_har_string(hx_har_header(json_object_get(json_object_get(items[callback].entry, "response"), "headers"), "Location", 0), "value");
        struct hx_url next;
        if (first < n && loc && !items[first].idp && items[first].document &&
            hx_url_resolve(&items[callback].url, loc, &next) &&
            strcmp(next.path, items[first].url.path) == 0) {
            describe(&items[first], cap->session, false, sign_in, &r->largest, s, cap->t0);
            r->last_ms = items[first].end_ms;
            first++;
        }
        describe(&items[callback], cap->session, false, sign_in, &r->largest, s, cap->t0);
    } else {
        add_note(sign_in, "the capture began signed in: this stands for the sign-in before it");
    }
    json_array_append_new(r->steps, sign_in);
    return first;
}

/* Several requests overlapped: whether the order their responses landed
 * in lost the session (the last word on the session cookie deleted it, or
 * a 401 while it was alive), noted on the request that did. */
static void overlap_loss(struct replay *r, const struct hx_har_capture *cap,
                         const struct hx_har_item *const *landed, size_t nl, size_t i, size_t end,
                         json_t *group, struct hx_har_summary *s)
{
    const struct hx_har_item *items = cap->items;
    const char *session = cap->session;
    bool alive = true;
    const struct hx_har_item *killer = NULL;
    for (size_t k = 0; k < nl; k++) {
        bool set = false;
        if (hx_har_rewrites_cookie(landed[k], session, &set)) {
            alive = set;
            killer = set ? NULL : landed[k];
        }
        if (landed[k]->status == 401 && alive) {
            alive = false;
            killer = landed[k];
        }
    }
    if (alive || !killer)
        return;
    r->signed_in = false;
    char at[32], why[400];
    idp_duration_format(killer->end_ms - cap->t0, at);
    if (session[0])
        snprintf(why, sizeof(why), "%s -> %ld landed last among overlapping requests and "
                                   "left %s deleted", killer->url.path, killer->status, session);
    else
        snprintf(why, sizeof(why), "%s -> %ld among overlapping requests",
                 killer->url.path, killer->status);
    snprintf(s->lost, sizeof(s->lost), "+%s: %s", at, why);
    size_t pos = 0;
    for (size_t k = i; k < end; k++) {
        if (items[k].idp)
            continue;
        if (&items[k] == killer) {
            char text[500];
            snprintf(text, sizeof(text), "production lost the session here: %s", why);
            add_note(json_array_get(group, pos), text);
        }
        pos++;
    }
}

/* A parallel step of the group's requests, in the order they started,
 * with the order their responses landed in and, when more than one of
 * them rewrote the session cookie, a barrier holding that many refreshes. */
static json_t *parallel_step(json_t *group, const struct hx_har_item *const *landed, size_t nl,
                             size_t rewrote, const char *session)
{
    json_t *par = json_pack("{s:O}", "parallel", group);
    char text[800];
    snprintf(text, sizeof(text), "%zu requests overlapped in the capture (listed in the order "
                                 "they started)",
             json_array_size(group));
    add_note(par, text);
    size_t used = (size_t)snprintf(text, sizeof(text), "their responses landed in this order:");
    for (size_t k = 0; k < nl && used < sizeof(text); k++)
        used += (size_t)snprintf(text + used, sizeof(text) - used, "%s %s (%ld)", k ? "," : "",
                                 landed[k]->url.path, landed[k]->status);
    add_note(par, text);
    if (rewrote > 1) {
        json_object_set_new(par, "barrier",
                            json_pack("{s:s, s:s, s:I}", "route", "authenticate", "grant_type",
                                      "refresh_token", "hold", (json_int_t)rewrote));
        snprintf(text, sizeof(text), "%zu of their responses rewrote %s: each refreshed; "
                                     "the barrier makes the replay's refreshes overlap too",
                 rewrote, session);
        add_note(par, text);
    }
    return par;
}

/* The app requests from i that began before an earlier one ended: the
 * pause before them, the wait for an expired token when they refreshed,
 * and their steps (one, or a parallel step). Returns the index after them. */
static size_t add_group(struct replay *r, const struct hx_har_capture *cap, size_t i,
                        struct hx_har_summary *s)
{
    const struct hx_har_item *items = cap->items;
    const char *session = cap->session;
    size_t n = cap->n, end = i + 1;
    int64_t group_end = items[i].end_ms;
    while (end < n && items[end].start_ms < group_end) {
        if (items[end].end_ms > group_end)
            group_end = items[end].end_ms;
        end++;
    }
    r->since_write += add_advance(r->steps, items[i].start_ms - r->last_ms, "a pause in the capture");
    bool refreshes = false;
    for (size_t k = i; k < end; k++)
        refreshes |= !items[k].idp && hx_har_rewrites_cookie(&items[k], session, NULL);
    if (refreshes && r->since_write < REPLAY_TOKEN_EXPIRED_MS) {
        /* The app rewrote its session cookie: its access token had
         * expired (production's lifetime may be shorter than the
         * capture's pauses show); the replay waits out fakeidp's. */
        add_advance(r->steps, REPLAY_TOKEN_EXPIRED_MS - r->since_write,
                    "the next response rewrote the session cookie, so the access token had "
                    "expired: past fakeidp's 5-minute access-token lifetime");
        r->since_write = 0;
    } else if (refreshes) {
        r->since_write = 0;
    }
    /* The order the responses landed in decides the cookie. */
    const struct hx_har_item *landed[64];
    size_t nl = 0;
    for (size_t k = i; k < end && nl < 64; k++)
        if (!items[k].idp)
            landed[nl++] = &items[k];
    qsort(landed, nl, sizeof(const struct hx_har_item *), by_end);
    json_t *group = json_array();
    size_t rewrote = 0;
    for (size_t k = i; k < end; k++) {
        if (items[k].idp)
            continue;
        json_t *step = request_step(&items[k]);
        rewrote += hx_har_rewrites_cookie(&items[k], session, NULL);
        /* One request: it lost the session or not. Several: decided
         * below, in the order their responses landed. */
        if (describe(&items[k], session, r->signed_in && nl == 1, step, &r->largest, s, cap->t0))
            r->signed_in = false;
        json_array_append_new(group, step);
    }
    if (nl > 1 && r->signed_in)
        overlap_loss(r, cap, landed, nl, i, end, group, s);
    if (json_array_size(group) == 1)
        json_array_extend(r->steps, group);
    else if (json_array_size(group) > 1)
        json_array_append_new(r->steps, parallel_step(group, landed, nl, rewrote, session));
    json_decref(group);
    r->last_ms = group_end;
    return end;
}

/* The scenario's description: what was kept and dropped, where production
 * lost the session, what was not replayed. */
static json_t *description(const struct replay *r, const struct hx_har_capture *cap,
                           const struct hx_har_summary *s)
{
    json_t *description = json_array();
    char line[900];
    snprintf(line, sizeof(line), "Generated by fakeidp har from a capture of %zu requests: %zu to the "
                                 "app (%s) and the IdP kept, %zu other requests summarised.",
             s->entries, s->auth, cap->host, s->other);
    json_array_append_new(description, json_string(line));
    if (s->lost[0])
        snprintf(line, sizeof(line), "Production lost the session at %s.", s->lost);
    else
        snprintf(line, sizeof(line), "The capture shows no lost session (no 401, no redirect to "
                                     "sign in, no deleted session cookie after sign-in).");
    json_array_append_new(description, json_string(line));
    snprintf(line, sizeof(line), "Secrets replaced by placeholders: %zu cookie values, %zu query "
                                 "parameters, %zu request bodies, %zu response bodies, %zu Authorization "
                                 "headers; paths, cookie names, sizes and attributes are kept.",
             s->cookie_values, s->url_secrets, s->bodies, s->response_bodies, s->auth_headers);
    json_array_append_new(description, json_string(line));
    if (s->no_cookies)
        json_array_append_new(description, json_string(HX_HAR_NO_COOKIES "."));
    const char *oh;
    json_t *count;
    json_object_foreach(cap->other_hosts, oh, count) {
        snprintf(line, sizeof(line), "Not replayed: %lld requests to %s.",
                 (long long)json_integer_value(count), oh);
        json_array_append_new(description, json_string(line));
    }
    size_t k;
    json_t *call;
    json_array_foreach(r->idp_calls, k, call) {
        snprintf(line, sizeof(line), "The browser called the IdP after sign-in: %s.", json_string_value(call));
        json_array_append_new(description, json_string(line));
    }
    return description;
}

json_t *hx_har_scenario(const json_t *har, const char *app_host, const char *name,
                        struct hx_har_summary *s, struct idp_error *err)
{
    struct hx_har_capture cap;
    if (!hx_har_capture_read(&cap, har, app_host, s, err))
        return NULL;
    struct replay r = {.steps = json_array(), .idp_calls = json_array(), .last_ms = cap.t0,
                       .signed_in = true};
    for (size_t i = add_sign_in(&r, &cap, s); i < cap.n;) {
        if (cap.items[i].idp) {
            /* Browser-side IdP calls (authorize again, an SPA's refresh)
             * are described; the reference app makes its own. */
            char text[300];
            snprintf(text, sizeof(text), "%s %s -> %ld", hx_har_string(json_object_get(cap.items[i].entry, "request"), "method"),
                     cap.items[i].url.path, cap.items[i].status);
            json_array_append_new(r.idp_calls, json_string(text));
            i++;
            continue;
        }
        i = add_group(&r, &cap, i, s);
    }
    json_t *about = description(&r, &cap, s);
    json_t *idp = json_pack("{s:{s:s}}", "settings", "refresh_mode", "strict");
    if (r.largest > BROWSER_COOKIE_LIMIT) {
        /* The browser dropped that Set-Cookie; claims this large make the
         * reference app's session cookie grow past the limit too. */
        json_object_set_new(idp, "faults",
                            json_pack("[{s:s, s:s, s:s, s:{s:i, s:i}}]", "action", "token", "route",
                                      "authenticate", "grant_type", "refresh_token", "bloat",
                                      "permissions", 60, "feature_flags", 40));
        char line[900];
        snprintf(line, sizeof(line), "The session cookie grew to %zu bytes, over the browsers' "
                                     "%d-byte limit: a token-bloat fault makes the refreshed session "
                                     "as large.",
                 r.largest, BROWSER_COOKIE_LIMIT);
        json_array_append_new(about, json_string(line));
    }
    json_t *doc = json_pack("{s:s, s:o, s:[s], s:o, s:o, s:{s:s}}", "name", name, "description",
                            about, "tags", "har", "idp", idp, "steps", r.steps, "expect",
                            "session", "survives");
    json_decref(r.idp_calls);
    hx_har_capture_cleanup(&cap);
    return doc;
}
