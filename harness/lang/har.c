/* HAR 1.2 -> scenario skeleton. See har.h and docs/har.md.
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
#include "har.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "duration.h"
#include "url.h"

#define MAX_KEPT 2000
#define BROWSER_COOKIE_LIMIT 4096

struct item {
    const json_t *entry;
    struct hx_url url;
    int64_t start_ms, end_ms;
    long status;
    bool idp, document;
};

static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* "2026-12-02T18:45:22.123Z" or with "+01:00"; false when unreadable. */
static bool parse_time(const char *text, int64_t *out_ms)
{
    if (!text)
        return false;
    struct tm tm = {0};
    int y, mo, d, h, mi, s, n = 0;
    if (sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &n) != 6)
        return false;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    int64_t ms = (int64_t)timegm(&tm) * 1000;
    const char *p = text + n;
    if (*p == '.') {
        int64_t frac = 0, scale = 1000;
        for (p++; isdigit((unsigned char)*p); p++) {
            if (scale > 1) {
                scale /= 10;
                frac += (*p - '0') * scale;
            }
        }
        ms += frac;
    }
    if (*p == '+' || *p == '-') {
        int oh = 0, om = 0;
        if (sscanf(p + 1, "%2d:%2d", &oh, &om) < 1)
            return false;
        int64_t off = ((int64_t)oh * 60 + om) * 60000;
        ms += *p == '+' ? -off : off;
    }
    *out_ms = ms;
    return true;
}

static const json_t *header(const json_t *headers, const char *name, size_t nth)
{
    size_t i, seen = 0;
    json_t *h;
    json_array_foreach(headers, i, h) {
        const char *n = str(h, "name");
        if (n && strcasecmp(n, name) == 0 && seen++ == nth)
            return h;
    }
    return NULL;
}

static bool is_idp(const struct hx_url *u)
{
    return strncmp(u->path, "/user_management/", 17) == 0 || strncmp(u->path, "/sso/", 5) == 0 ||
           strstr(u->host, "workos") || strstr(u->host, "authkit");
}

static bool is_static(const json_t *entry, const struct hx_url *u)
{
    const char *type = str(entry, "_resourceType");
    if (type && (strcmp(type, "script") == 0 || strcmp(type, "stylesheet") == 0 ||
                 strcmp(type, "image") == 0 || strcmp(type, "font") == 0 ||
                 strcmp(type, "media") == 0 || strcmp(type, "manifest") == 0 ||
                 strcmp(type, "ping") == 0 || strcmp(type, "websocket") == 0))
        return true;
    static const char *const ext[] = {".js",  ".mjs",   ".css",  ".png", ".jpg", ".jpeg", ".gif",
                                      ".svg", ".ico",   ".webp", ".woff", ".woff2", ".ttf",
                                      ".map", ".avif", NULL};
    size_t len = strlen(u->path);
    for (int i = 0; ext[i]; i++) {
        size_t el = strlen(ext[i]);
        if (len > el && strcasecmp(u->path + len - el, ext[i]) == 0)
            return true;
    }
    return false;
}

static bool is_document(const json_t *entry)
{
    const char *type = str(entry, "_resourceType");
    if (type)
        return strcmp(type, "document") == 0;
    const json_t *headers = json_object_get(json_object_get(entry, "request"), "headers");
    const char *dest = str(header(headers, "Sec-Fetch-Dest", 0), "value");
    if (dest)
        return strcmp(dest, "document") == 0;
    const char *accept = str(header(headers, "Accept", 0), "value");
    return accept && strncmp(accept, "text/html", 9) == 0;
}

/* One Set-Cookie header: name, size of name=value, attributes (values of
 * Domain, Path, SameSite, Max-Age and Expires kept; the cookie's value
 * never). deleted: Max-Age<=0, an expiry in the past or an empty value. */
struct set_cookie {
    char name[128];
    size_t size;
    char attrs[256];
    bool deleted;
};

static bool parse_set_cookie(const char *text, struct set_cookie *c)
{
    memset(c, 0, sizeof(*c));
    const char *eq = strchr(text, '=');
    const char *semi = strchr(text, ';');
    if (!eq || (semi && semi < eq))
        return false;
    size_t nlen = (size_t)(eq - text);
    while (nlen && isspace((unsigned char)text[nlen - 1]))
        nlen--;
    const char *name = text;
    while (nlen && isspace((unsigned char)*name)) {
        name++;
        nlen--;
    }
    if (!nlen || nlen >= sizeof(c->name))
        return false;
    memcpy(c->name, name, nlen);
    size_t vlen = semi ? (size_t)(semi - eq - 1) : strlen(eq + 1);
    c->size = nlen + vlen;
    c->deleted = vlen == 0;
    size_t used = 0;
    for (const char *p = semi; p && *p;) {
        p++;
        while (isspace((unsigned char)*p))
            p++;
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char attr[160];
        snprintf(attr, sizeof(attr), "%.*s", (int)(len < 150 ? len : 150), p);
        if (strncasecmp(attr, "max-age=", 8) == 0 && atol(attr + 8) <= 0)
            c->deleted = true;
        if (strncasecmp(attr, "expires=", 8) == 0 && strstr(attr, "1970"))
            c->deleted = true;
        if (attr[0] && used + strlen(attr) + 3 < sizeof(c->attrs))
            used += (size_t)snprintf(c->attrs + used, sizeof(c->attrs) - used, "; %s", attr);
        p = end;
    }
    return true;
}

/* The session cookie: the one the callback sets, else one named *session*. */
static void session_cookie_name(const struct item *items, size_t n, char *out, size_t size)
{
    out[0] = '\0';
    for (int pass = 0; pass < 2 && !out[0]; pass++) {
        for (size_t i = 0; i < n && !out[0]; i++) {
            if (pass == 0 && strcmp(items[i].url.path, "/callback") != 0 &&
                !strstr(items[i].url.path, "/callback"))
                continue;
            const json_t *headers = json_object_get(json_object_get(items[i].entry, "response"), "headers");
            const json_t *h;
            for (size_t k = 0; (h = header(headers, "Set-Cookie", k)); k++) {
                struct set_cookie c;
                if (parse_set_cookie(str(h, "value") ? str(h, "value") : "", &c) && !c.deleted &&
                    (pass == 0 || strstr(c.name, "session")))
                    snprintf(out, size, "%s", c.name);
                if (out[0] && strstr(c.name, "session"))
                    break;
            }
        }
    }
}

static void count_secrets(const json_t *entry, struct hx_har_summary *s)
{
    const json_t *req = json_object_get(entry, "request");
    const json_t *resp = json_object_get(entry, "response");
    const json_t *h;
    for (size_t k = 0; (h = header(json_object_get(req, "headers"), "Cookie", k)); k++) {
        const char *v = str(h, "value");
        for (const char *p = v; p && *p; p = strchr(p + 1, ';'))
            s->cookie_values++;
    }
    for (size_t k = 0; header(json_object_get(resp, "headers"), "Set-Cookie", k); k++)
        s->cookie_values++;
    for (size_t k = 0; header(json_object_get(req, "headers"), "Authorization", k); k++)
        s->auth_headers++;
    s->url_secrets += json_array_size(json_object_get(req, "queryString"));
    const char *body = str(json_object_get(req, "postData"), "text");
    if (body && *body)
        s->bodies++;
    const char *content = str(json_object_get(resp, "content"), "text");
    if (content && *content)
        s->response_bodies++;
}

static json_t *request_step(const struct item *it)
{
    return json_pack("{s:s}", it->document ? "load" : "api", it->url.path);
}

static void add_note(json_t *step, const char *text)
{
    const char *old = str(step, "note");
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
static bool describe(const struct item *it, const char *session, bool signed_in, json_t *step,
                     size_t *largest, struct hx_har_summary *s, int64_t t0)
{
    char text[1200];
    const json_t *resp = json_object_get(it->entry, "response");
    const json_t *headers = json_object_get(resp, "headers");
    const json_t *h;
    bool lost = false;
    char why[300] = "";
    snprintf(text, sizeof(text), "production: %s %s -> %ld", str(json_object_get(it->entry, "request"), "method"),
             it->url.path, it->status);
    add_note(step, text);
    for (size_t k = 0; (h = header(headers, "Set-Cookie", k)); k++) {
        struct set_cookie c;
        if (!parse_set_cookie(str(h, "value") ? str(h, "value") : "", &c))
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
    const char *loc = str(header(headers, "Location", 0), "value");
    if (!loc)
        loc = str(resp, "redirectURL");
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

static int by_start(const void *a, const void *b)
{
    const struct item *x = a, *y = b;
    return x->start_ms < y->start_ms ? -1 : x->start_ms > y->start_ms;
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

static bool rewrites_cookie(const struct item *it, const char *name, bool *set)
{
    const json_t *headers = json_object_get(json_object_get(it->entry, "response"), "headers");
    const json_t *h;
    bool touched = false;
    for (size_t c = 0; (h = header(headers, "Set-Cookie", c)); c++) {
        struct set_cookie sc;
        if (parse_set_cookie(str(h, "value") ? str(h, "value") : "", &sc) && name[0] &&
            strcmp(sc.name, name) == 0) {
            touched = true;
            if (set)
                *set = !sc.deleted;
        }
    }
    return touched;
}

static int by_end(const void *a, const void *b)
{
    const struct item *x = *(const struct item *const *)a, *y = *(const struct item *const *)b;
    return x->end_ms < y->end_ms ? -1 : x->end_ms > y->end_ms;
}

/* Some exports join a response's cookies into one Set-Cookie header, one
 * per line (as the DevTools protocol reports them): one header each. */
static void split_set_cookies(json_t *har)
{
    size_t i, k;
    json_t *e, *h;
    json_array_foreach(json_object_get(json_object_get(har, "log"), "entries"), i, e) {
        json_t *resp = json_object_get(e, "response");
        json_t *headers = json_object_get(resp, "headers"), *split = json_array();
        json_array_foreach(headers, k, h) {
            const char *n = str(h, "name"), *v = str(h, "value");
            if (!n || strcasecmp(n, "Set-Cookie") != 0 || !v || !strchr(v, '\n')) {
                json_array_append(split, h);
                continue;
            }
            for (const char *p = v; *p;) {
                size_t len = strcspn(p, "\r\n");
                if (len)
                    json_array_append_new(split, json_pack("{s:s, s:s%}", "name", n, "value", p, len));
                p += len;
                p += strspn(p, "\r\n");
            }
        }
        if (json_is_array(headers))
            json_object_set_new(resp, "headers", split);
        else
            json_decref(split);
    }
}

static json_t *scenario_from(const json_t *har, const char *app_host, const char *name,
                             struct hx_har_summary *s, struct idp_error *err);

json_t *hx_har_scenario(const json_t *har, const char *app_host, const char *name,
                        struct hx_har_summary *s, struct idp_error *err)
{
    json_t *copy = json_deep_copy(har);
    if (!copy) {
        memset(s, 0, sizeof(*s));
        idp_fail(err, IDP_NOMEM, "out of memory");
        return NULL;
    }
    split_set_cookies(copy);
    json_t *doc = scenario_from(copy, app_host, name, s, err);
    json_decref(copy);
    return doc;
}

static json_t *scenario_from(const json_t *har, const char *app_host, const char *name,
                             struct hx_har_summary *s, struct idp_error *err)
{
    memset(s, 0, sizeof(*s));
    const json_t *log = json_object_get(har, "log");
    const json_t *entries = json_object_get(log, "entries");
    if (!json_is_object(log) || !json_is_array(entries)) {
        idp_fail(err, IDP_INVALID, "not a HAR file: no log.entries array");
        return NULL;
    }
    s->entries = json_array_size(entries);
    struct item *items = calloc(s->entries ? s->entries : 1, sizeof(*items));
    if (!items) {
        idp_fail(err, IDP_NOMEM, "out of memory");
        return NULL;
    }
    size_t n = 0;
    size_t i;
    json_t *e;
    /* The app's host: given, or the host of the callback, or of the first
     * response that set a cookie outside the IdP. */
    char host[256] = "";
    if (app_host)
        snprintf(host, sizeof(host), "%s", app_host);
    for (int pass = 0; pass < 2 && !host[0]; pass++) {
        json_array_foreach(entries, i, e) {
            struct hx_url u;
            if (!hx_url_parse(str(json_object_get(e, "request"), "url") ? str(json_object_get(e, "request"), "url") : "", &u) || is_idp(&u))
                continue;
            if ((pass == 0 && strcmp(u.path, "/callback") == 0) ||
                (pass == 1 && header(json_object_get(json_object_get(e, "response"), "headers"), "Set-Cookie", 0))) {
                snprintf(host, sizeof(host), "%s", u.host);
                break;
            }
        }
    }
    json_t *other_hosts = json_object();
    json_array_foreach(entries, i, e) {
        const json_t *req = json_object_get(e, "request");
        struct item it = {.entry = e};
        if (!hx_url_parse(str(req, "url") ? str(req, "url") : "", &it.url) ||
            !parse_time(str(e, "startedDateTime"), &it.start_ms)) {
            s->other++;
            continue;
        }
        double time = json_number_value(json_object_get(e, "time"));
        it.end_ms = it.start_ms + (int64_t)(time > 0 ? time : 0);
        it.status = (long)json_integer_value(json_object_get(json_object_get(e, "response"), "status"));
        it.idp = is_idp(&it.url);
        it.document = is_document(e);
        count_secrets(e, s);
        bool app = host[0] && strcmp(it.url.host, host) == 0 && !it.idp;
        if ((!app && !it.idp) || (app && is_static(e, &it.url))) {
            s->other++;
            char key[300];
            snprintf(key, sizeof(key), "%s%s", it.url.host, app ? " (static files)" : "");
            json_object_set_new(other_hosts, key,
                                json_integer(json_integer_value(json_object_get(other_hosts, key)) + 1));
            continue;
        }
        if (n < MAX_KEPT)
            items[n++] = it;
    }
    snprintf(s->app_host, sizeof(s->app_host), "%s", host);
    bool any_idp = false, any_cookie = false;
    for (i = 0; i < n; i++) {
        any_idp |= items[i].idp;
        any_cookie |= header(json_object_get(json_object_get(items[i].entry, "response"), "headers"),
                             "Set-Cookie", 0) != NULL ||
                      header(json_object_get(json_object_get(items[i].entry, "request"), "headers"),
                             "Cookie", 0) != NULL;
    }
    if (!n || (!any_idp && !any_cookie)) {
        idp_fail(err, IDP_INVALID,
                 "no auth traffic in the capture: no request to WorkOS (/user_management/…) and no "
                 "request to the app (%s) with a session cookie; was the capture started before the "
                 "logout, with \"Preserve log\" on?%s",
                 host[0] ? host : "none found", app_host ? "" : " (or pass --app-host HOST)");
        free(items);
        json_decref(other_hosts);
        return NULL;
    }
    s->auth = n;
    s->no_cookies = !any_cookie;
    qsort(items, n, sizeof(*items), by_start);
    char session[128];
    session_cookie_name(items, n, session, sizeof(session));
    int64_t t0 = items[0].start_ms;

    json_t *steps = json_array();
    size_t callback = n;
    for (i = 0; i < n; i++)
        if (!items[i].idp && strcmp(items[i].url.path, "/callback") == 0) {
            callback = i;
            break;
        }
    size_t largest = 0;
    int64_t since_write = 0; /* virtual time since the session cookie was last written */
    bool signed_in = true;
    size_t first = 0;
    int64_t last_ms = t0;
    json_t *sign_in = json_pack("{s:b}", "sign_in", 1); /* the default user: a placeholder */
    if (callback < n) {
        /* Everything up to the callback is the sign-in. */
        char text[300];
        snprintf(text, sizeof(text), "the capture's sign-in (%zu requests through login, authorize "
                                     "and callback); the user is a placeholder",
                 callback + 1);
        add_note(sign_in, text);
        first = callback + 1;
        last_ms = items[callback].end_ms;
        /* The callback's redirect (to /dashboard) is part of the sign-in. */
        const char *loc = str(header(json_object_get(json_object_get(items[callback].entry, "response"), "headers"), "Location", 0), "value");
        struct hx_url next;
        if (first < n && loc && !items[first].idp && items[first].document &&
            hx_url_resolve(&items[callback].url, loc, &next) &&
            strcmp(next.path, items[first].url.path) == 0) {
            describe(&items[first], session, false, sign_in, &largest, s, t0);
            last_ms = items[first].end_ms;
            first++;
        }
        describe(&items[callback], session, false, sign_in, &largest, s, t0);
    } else {
        add_note(sign_in, "the capture began signed in: this stands for the sign-in before it");
    }
    json_array_append_new(steps, sign_in);
    json_t *idp_calls = json_array();
    for (i = first; i < n;) {
        if (items[i].idp) {
            /* Browser-side IdP calls (authorize again, an SPA's refresh)
             * are described; the reference app makes its own. */
            char text[300];
            snprintf(text, sizeof(text), "%s %s -> %ld", str(json_object_get(items[i].entry, "request"), "method"),
                     items[i].url.path, items[i].status);
            json_array_append_new(idp_calls, json_string(text));
            i++;
            continue;
        }
        /* A group: app requests that began before an earlier one ended. */
        size_t end = i + 1;
        int64_t group_end = items[i].end_ms;
        while (end < n && items[end].start_ms < group_end) {
            if (items[end].end_ms > group_end)
                group_end = items[end].end_ms;
            end++;
        }
        since_write += add_advance(steps, items[i].start_ms - last_ms, "a pause in the capture");
        bool refreshes = false;
        for (size_t k = i; k < end; k++)
            refreshes |= !items[k].idp && rewrites_cookie(&items[k], session, NULL);
        if (refreshes && since_write < REPLAY_TOKEN_EXPIRED_MS) {
            /* The app rewrote its session cookie: its access token had
             * expired (production's lifetime may be shorter than the
             * capture's pauses show); the replay waits out fakeidp's. */
            add_advance(steps, REPLAY_TOKEN_EXPIRED_MS - since_write,
                        "the next response rewrote the session cookie, so the access token had "
                        "expired: past fakeidp's 5-minute access-token lifetime");
            since_write = 0;
        } else if (refreshes) {
            since_write = 0;
        }
        /* The order the responses landed in decides the cookie. */
        const struct item *landed[64];
        size_t nl = 0;
        for (size_t k = i; k < end && nl < 64; k++)
            if (!items[k].idp)
                landed[nl++] = &items[k];
        qsort(landed, nl, sizeof(const struct item *), by_end);
        json_t *group = json_array();
        size_t rewrote = 0;
        for (size_t k = i; k < end; k++) {
            if (items[k].idp)
                continue;
            json_t *step = request_step(&items[k]);
            rewrote += rewrites_cookie(&items[k], session, NULL);
            /* One request: it lost the session or not. Several: decided
             * below, in the order their responses landed. */
            if (describe(&items[k], session, signed_in && nl == 1, step, &largest, s, t0))
                signed_in = false;
            json_array_append_new(group, step);
        }
        if (nl > 1 && signed_in) {
            bool alive = true;
            const struct item *killer = NULL;
            for (size_t k = 0; k < nl; k++) {
                bool set = false;
                if (rewrites_cookie(landed[k], session, &set)) {
                    alive = set;
                    killer = set ? NULL : landed[k];
                }
                if (landed[k]->status == 401 && alive) {
                    alive = false;
                    killer = landed[k];
                }
            }
            if (!alive && killer) {
                signed_in = false;
                char at[32], why[400];
                idp_duration_format(killer->end_ms - t0, at);
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
        }
        if (json_array_size(group) == 1) {
            json_array_extend(steps, group);
        } else if (json_array_size(group) > 1) {
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
            json_array_append_new(steps, par);
        }
        json_decref(group);
        last_ms = group_end;
        i = end;
    }
    json_t *description = json_array();
    char line[900];
    snprintf(line, sizeof(line), "Generated by fakeidp har from a capture of %zu requests: %zu to the "
                                 "app (%s) and the IdP kept, %zu other requests summarised.",
             s->entries, s->auth, host, s->other);
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
    json_object_foreach(other_hosts, oh, count) {
        snprintf(line, sizeof(line), "Not replayed: %lld requests to %s.",
                 (long long)json_integer_value(count), oh);
        json_array_append_new(description, json_string(line));
    }
    size_t k;
    json_t *call;
    json_array_foreach(idp_calls, k, call) {
        snprintf(line, sizeof(line), "The browser called the IdP after sign-in: %s.", json_string_value(call));
        json_array_append_new(description, json_string(line));
    }
    json_t *idp = json_pack("{s:{s:s}}", "settings", "refresh_mode", "strict");
    if (largest > BROWSER_COOKIE_LIMIT) {
        /* The browser dropped that Set-Cookie; claims this large make the
         * reference app's session cookie grow past the limit too. */
        json_object_set_new(idp, "faults",
                            json_pack("[{s:s, s:s, s:s, s:{s:i, s:i}}]", "action", "token", "route",
                                      "authenticate", "grant_type", "refresh_token", "bloat",
                                      "permissions", 60, "feature_flags", 40));
        snprintf(line, sizeof(line), "The session cookie grew to %zu bytes, over the browsers' "
                                     "%d-byte limit: a token-bloat fault makes the refreshed session "
                                     "as large.",
                 largest, BROWSER_COOKIE_LIMIT);
        json_array_append_new(description, json_string(line));
    }
    json_t *doc = json_pack("{s:s, s:o, s:[s], s:o, s:o, s:{s:s}}", "name", name, "description",
                            description, "tags", "har", "idp", idp, "steps", steps, "expect",
                            "session", "survives");
    json_decref(idp_calls);
    json_decref(other_hosts);
    free(items);
    return doc;
}
