/* Reading a HAR capture (see har.c): its entries as items (URL, times,
 * status, IdP or app, document or not), its headers and Set-Cookie headers,
 * which entries are kept and which summarised, and the secrets counted as
 * they are dropped. Nothing here writes a step. */
#include "har_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_KEPT 2000

const char *hx_har_string(const json_t *o, const char *key)
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

const json_t *hx_har_header(const json_t *headers, const char *name, size_t nth)
{
    size_t i, seen = 0;
    json_t *h;
    json_array_foreach(headers, i, h) {
        const char *n = hx_har_string(h, "name");
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
    const char *type = hx_har_string(entry, "_resourceType");
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
    const char *type = hx_har_string(entry, "_resourceType");
    if (type)
        return strcmp(type, "document") == 0;
    const json_t *headers = json_object_get(json_object_get(entry, "request"), "headers");
    const char *dest = hx_har_string(hx_har_header(headers, "Sec-Fetch-Dest", 0), "value");
    if (dest)
        return strcmp(dest, "document") == 0;
    const char *accept = hx_har_string(hx_har_header(headers, "Accept", 0), "value");
    return accept && strncmp(accept, "text/html", 9) == 0;
}

bool hx_har_set_cookie_parse(const char *text, struct hx_har_set_cookie *c)
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
static void session_cookie_name(const struct hx_har_item *items, size_t n, char *out, size_t size)
{
    out[0] = '\0';
    for (int pass = 0; pass < 2 && !out[0]; pass++) {
        for (size_t i = 0; i < n && !out[0]; i++) {
            if (pass == 0 && strcmp(items[i].url.path, "/callback") != 0 &&
                !strstr(items[i].url.path, "/callback"))
                continue;
            const json_t *headers = json_object_get(json_object_get(items[i].entry, "response"), "headers");
            const json_t *h;
            for (size_t k = 0; (h = hx_har_header(headers, "Set-Cookie", k)); k++) {
                struct hx_har_set_cookie c;
                if (hx_har_set_cookie_parse(hx_har_string(h, "value") ? hx_har_string(h, "value") : "", &c) && !c.deleted &&
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
    for (size_t k = 0; (h = hx_har_header(json_object_get(req, "headers"), "Cookie", k)); k++) {
        const char *v = hx_har_string(h, "value");
        for (const char *p = v; p && *p; p = strchr(p + 1, ';'))
            s->cookie_values++;
    }
    for (size_t k = 0; hx_har_header(json_object_get(resp, "headers"), "Set-Cookie", k); k++)
        s->cookie_values++;
    for (size_t k = 0; hx_har_header(json_object_get(req, "headers"), "Authorization", k); k++)
        s->auth_headers++;
    s->url_secrets += json_array_size(json_object_get(req, "queryString"));
    const char *body = hx_har_string(json_object_get(req, "postData"), "text");
    if (body && *body)
        s->bodies++;
    const char *content = hx_har_string(json_object_get(resp, "content"), "text");
    if (content && *content)
        s->response_bodies++;
}

static int by_start(const void *a, const void *b)
{
    const struct hx_har_item *x = a, *y = b;
    return x->start_ms < y->start_ms ? -1 : x->start_ms > y->start_ms;
}

bool hx_har_rewrites_cookie(const struct hx_har_item *it, const char *name, bool *set)
{
    const json_t *headers = json_object_get(json_object_get(it->entry, "response"), "headers");
    const json_t *h;
    bool touched = false;
    for (size_t c = 0; (h = hx_har_header(headers, "Set-Cookie", c)); c++) {
        struct hx_har_set_cookie sc;
        if (hx_har_set_cookie_parse(hx_har_string(h, "value") ? hx_har_string(h, "value") : "", &sc) && name[0] &&
            strcmp(sc.name, name) == 0) {
            touched = true;
            if (set)
                *set = !sc.deleted;
        }
    }
    return touched;
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
            const char *n = hx_har_string(h, "name"), *v = hx_har_string(h, "value");
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

/* The app's host: given, or the host of the callback, or of the first
 * response that set a cookie outside the IdP. */
static void find_app_host(const json_t *entries, const char *app_host, char *host, size_t size)
{
    size_t i;
    json_t *e;
    host[0] = '\0';
    if (app_host)
        snprintf(host, size, "%s", app_host);
    for (int pass = 0; pass < 2 && !host[0]; pass++) {
        json_array_foreach(entries, i, e) {
            struct hx_url u;
            if (!hx_url_parse(hx_har_string(json_object_get(e, "request"), "url") ? hx_har_string(json_object_get(e, "request"), "url") : "", &u) || is_idp(&u))
                continue;
            if ((pass == 0 && strcmp(u.path, "/callback") == 0) ||
                (pass == 1 && hx_har_header(json_object_get(json_object_get(e, "response"), "headers"), "Set-Cookie", 0))) {
                snprintf(host, size, "%s", u.host);
                break;
            }
        }
    }
}

/* Keeps the entries to the app's pages and API and to the IdP; counts the
 * others per host in cap->other_hosts. */
static void keep_items(struct hx_har_capture *cap, const json_t *entries, struct hx_har_summary *s)
{
    size_t i;
    json_t *e;
    const char *host = cap->host;
    json_array_foreach(entries, i, e) {
        const json_t *req = json_object_get(e, "request");
        struct hx_har_item it = {.entry = e};
        if (!hx_url_parse(hx_har_string(req, "url") ? hx_har_string(req, "url") : "", &it.url) ||
            !parse_time(hx_har_string(e, "startedDateTime"), &it.start_ms)) {
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
            json_object_set_new(cap->other_hosts, key,
                                json_integer(json_integer_value(json_object_get(cap->other_hosts, key)) + 1));
            continue;
        }
        if (cap->n < MAX_KEPT)
            cap->items[cap->n++] = it;
    }
}

bool hx_har_capture_read(struct hx_har_capture *cap, const json_t *har, const char *app_host,
                         struct hx_har_summary *s, struct idp_error *err)
{
    memset(cap, 0, sizeof(*cap));
    memset(s, 0, sizeof(*s));
    cap->har = json_deep_copy(har);
    if (!cap->har) {
        idp_fail(err, IDP_NOMEM, "out of memory");
        return false;
    }
    split_set_cookies(cap->har);
    const json_t *log = json_object_get(cap->har, "log");
    const json_t *entries = json_object_get(log, "entries");
    if (!json_is_object(log) || !json_is_array(entries)) {
        idp_fail(err, IDP_INVALID, "not a HAR file: no log.entries array");
        hx_har_capture_cleanup(cap);
        return false;
    }
    s->entries = json_array_size(entries);
    cap->items = calloc(s->entries ? s->entries : 1, sizeof(*cap->items));
    cap->other_hosts = json_object();
    if (!cap->items) {
        idp_fail(err, IDP_NOMEM, "out of memory");
        hx_har_capture_cleanup(cap);
        return false;
    }
    find_app_host(entries, app_host, cap->host, sizeof(cap->host));
    keep_items(cap, entries, s);
    snprintf(s->app_host, sizeof(s->app_host), "%s", cap->host);
    bool any_idp = false, any_cookie = false;
    for (size_t i = 0; i < cap->n; i++) {
        const json_t *entry = cap->items[i].entry;
        any_idp |= cap->items[i].idp;
        any_cookie |= hx_har_header(json_object_get(json_object_get(entry, "response"), "headers"),
                                    "Set-Cookie", 0) != NULL ||
                      hx_har_header(json_object_get(json_object_get(entry, "request"), "headers"),
                                    "Cookie", 0) != NULL;
    }
    if (!cap->n || (!any_idp && !any_cookie)) {
        idp_fail(err, IDP_INVALID,
                 "no auth traffic in the capture: no request to WorkOS (/user_management/…) and no "
                 "request to the app (%s) with a session cookie; was the capture started before the "
                 "logout, with \"Preserve log\" on?%s",
                 cap->host[0] ? cap->host : "none found", app_host ? "" : " (or pass --app-host HOST)");
        hx_har_capture_cleanup(cap);
        return false;
    }
    s->auth = cap->n;
    s->no_cookies = !any_cookie;
    qsort(cap->items, cap->n, sizeof(*cap->items), by_start);
    session_cookie_name(cap->items, cap->n, cap->session, sizeof(cap->session));
    cap->t0 = cap->items[0].start_ms;
    return true;
}

void hx_har_capture_cleanup(struct hx_har_capture *cap)
{
    free(cap->items);
    json_decref(cap->other_hosts);
    json_decref(cap->har);
    memset(cap, 0, sizeof(*cap));
}
