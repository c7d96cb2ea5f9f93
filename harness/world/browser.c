#include "browser.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http_client.h"
#include "knobs.h"

static const char *const profiles[] = {"chromium", "firefox", "webkit", NULL};
static const char *const engines[] = {"model", "chromium", NULL};

#define KNOB(f) offsetof(struct hx_browser_knobs, f), sizeof(((struct hx_browser_knobs *)0)->f)
static const struct idp_knob knob_table[] = {
    {"engine", IDP_KNOB_CHOICE, KNOB(engine), engines},
    {"profile", IDP_KNOB_CHOICE, KNOB(profile), profiles},
    {"block_third_party_cookies", IDP_KNOB_BOOLEAN, KNOB(block_third_party), NULL},
    {"clock_offset", IDP_KNOB_SIGNED_DURATION, KNOB(clock_offset_ms), NULL},
    {"storage_purge_after", IDP_KNOB_DURATION, KNOB(storage_purge_ms), NULL},
    {"app_host", IDP_KNOB_TEXT, KNOB(app_host), NULL},
    {"idp_host", IDP_KNOB_TEXT, KNOB(idp_host), NULL},
    {"embedded_in", IDP_KNOB_TEXT, KNOB(embedded_in), NULL},
    {"offline", IDP_KNOB_BOOLEAN, KNOB(offline), NULL},
    {"secure_hosts", IDP_KNOB_TEXT, KNOB(secure_hosts), NULL},
};
#undef KNOB

void hx_browser_knobs_defaults(struct hx_browser_knobs *k)
{
    memset(k, 0, sizeof(*k));
    k->profile = HX_CHROMIUM;
    k->block_third_party = true; /* a fresh Chromium profile blocks third-party cookies */
    snprintf(k->app_host, sizeof(k->app_host), "localhost");
    snprintf(k->idp_host, sizeof(k->idp_host), "127.0.0.1");
}

json_t *hx_browser_knob_names(void)
{
    return idp_knobs_names(knob_table, sizeof(knob_table) / sizeof(knob_table[0]));
}

enum idp_status hx_browser_knobs_apply(struct hx_browser_knobs *knobs, const json_t *obj,
                                       const char **bad_key, struct idp_error *err)
{
    struct hx_browser_knobs copy = *knobs;
    bool profile_given = json_object_get(obj, "profile") != NULL;
    bool block_given = json_object_get(obj, "block_third_party_cookies") != NULL;
    bool purge_given = json_object_get(obj, "storage_purge_after") != NULL;
    enum idp_status status = idp_knobs_apply(knob_table, sizeof(knob_table) / sizeof(knob_table[0]),
                                             &copy, sizeof(copy), obj, "browser knob", bad_key, err);
    if (status)
        return status;
    /* A profile brings its engine's defaults unless given explicitly: a
     * fresh Chromium or WebKit profile blocks third-party cookies (Firefox
     * partitions them, which a single top-level site sees as allowed);
     * WebKit purges script storage after 7 days. */
    if (profile_given && !block_given)
        copy.block_third_party = copy.profile != HX_FIREFOX;
    if (profile_given && copy.profile == HX_WEBKIT && !purge_given)
        copy.storage_purge_ms = 7LL * 86400 * 1000;
    *knobs = copy;
    return IDP_OK;
}

void hx_browser_init(struct hx_browser *b, const struct hx_browser_knobs *knobs,
                     struct idp_clock *clock, struct hx_timeline *timeline)
{
    memset(b, 0, sizeof(*b));
    pthread_mutex_init(&b->lock, NULL);
    b->knobs = *knobs;
    hx_jar_init(&b->jar);
    b->local_storage = json_object();
    b->last_visit = json_object();
    b->clock = clock;
    b->timeline = timeline;
}

void hx_browser_cleanup(struct hx_browser *b)
{
    hx_jar_cleanup(&b->jar);
    json_decref(b->local_storage);
    json_decref(b->last_visit);
    pthread_mutex_destroy(&b->lock);
}

int64_t hx_browser_now(struct hx_browser *b)
{
    return idp_clock_now_ms(b->clock) + b->knobs.clock_offset_ms;
}

static _Thread_local int pinned_instance;

int hx_browser_pin_instance(int instance)
{
    int previous = pinned_instance;
    pinned_instance = instance;
    return previous;
}

void hx_page_cleanup(struct hx_page *page)
{
    free(page->body);
    page->body = NULL;
}

static struct hx_cookie_rules rules_of(const struct hx_browser *b)
{
    return (struct hx_cookie_rules){.profile = (enum hx_profile)b->knobs.profile,
                                    .block_third_party = b->knobs.block_third_party,
                                    .max_bytes = 4096,
                                    .secure_hosts = b->knobs.secure_hosts};
}

static bool is_login(const struct hx_url *url, const char *idp_host)
{
    return strcmp(url->path, "/user_management/authorize") == 0 ||
           (strcmp(url->path, "/login") == 0 && strcmp(url->host, idp_host) != 0);
}

static void apply_cookies(struct hx_browser *b, const struct hx_http_response *resp,
                          const struct hx_url *url, const struct hx_request_context *ctx)
{
    size_t cursor = 0;
    char *header = malloc(16384);
    if (!header)
        return;
    struct hx_cookie_rules rules = rules_of(b);
    int64_t now = idp_clock_now_ms(b->clock); /* cookie expiry follows true time */
    while (hx_http_header_next(resp, "Set-Cookie", &cursor, header, 16384)) {
        char name[128], why[512];
        pthread_mutex_lock(&b->lock);
        enum hx_cookie_change change = hx_jar_set(&b->jar, header, url, ctx, &rules, now, name,
                                                  sizeof(name), why, sizeof(why));
        pthread_mutex_unlock(&b->lock);
        static const char *const changes[] = {"set", "deleted", "rejected"};
        bool third_party = change == HX_COOKIE_REJECTED && strstr(why, "third-party");
        hx_timeline_add_data(b->timeline, now, "browser",
                             json_pack("{s:s, s:s}", "cookie", name, "change", changes[change]),
                             "%s%s%s", change == HX_COOKIE_REJECTED ? "cookie rejected: " : "cookie ",
                             why,
                             third_party ? " (browser setting block_third_party_cookies: true, the "
                                           "default of a fresh Chromium or WebKit profile)"
                                         : "");
    }
    free(header);
}

/* ---- the Chromium engine --------------------------------------------- */

static int64_t real_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *same_site_name(enum hx_samesite s)
{
    static const char *const names[] = {"", "Lax", "Strict", "None"};
    return names[s];
}

static json_t *cookie_json(const struct hx_cookie *c)
{
    char domain[260];
    snprintf(domain, sizeof(domain), "%s%s", c->host_only ? "" : ".", c->domain);
    return json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:s, s:f}", "name", c->name, "value", c->value,
                     "domain", domain, "path", c->path, "secure", c->secure, "http_only", c->http_only,
                     "same_site", same_site_name(c->same_site), "expires", -1.0);
}

static const char *text_of(const json_t *item, const char *key, const char *fallback)
{
    const char *text = json_string_value(json_object_get(item, key));
    return text ? text : fallback;
}

/* Replaces the jar with Chromium's cookies. Chromium expires cookies on the
 * real clock; the jar keeps each cookie's expiry on the virtual clock (a
 * cookie first seen now with Max-Age m expires at virtual now + m), and
 * hx_browser_engine_call deletes the ones due before each request. Lock held. */
static void mirror_jar(struct hx_browser *b, const json_t *cookies)
{
    struct hx_jar old = b->jar;
    hx_jar_init(&b->jar);
    int64_t now = idp_clock_now_ms(b->clock), real = real_now_ms();
    size_t i;
    json_t *item;
    json_array_foreach(cookies, i, item) {
        struct hx_cookie c;
        memset(&c, 0, sizeof(c));
        const char *domain = json_string_value(json_object_get(item, "domain"));
        const char *site = json_string_value(json_object_get(item, "same_site"));
        c.name = strdup(text_of(item, "name", ""));
        c.value = strdup(text_of(item, "value", ""));
        if (!c.name || !c.value || !domain) {
            free(c.name);
            free(c.value);
            continue;
        }
        c.host_only = domain[0] != '.';
        snprintf(c.domain, sizeof(c.domain), "%s", domain + !c.host_only);
        snprintf(c.path, sizeof(c.path), "%s", text_of(item, "path", "/"));
        c.secure = json_is_true(json_object_get(item, "secure"));
        c.http_only = json_is_true(json_object_get(item, "http_only"));
        c.same_site = !site ? HX_SAMESITE_DEFAULT : strcmp(site, "Lax") == 0 ? HX_SAMESITE_LAX
                      : strcmp(site, "Strict") == 0 ? HX_SAMESITE_STRICT
                      : strcmp(site, "None") == 0 ? HX_SAMESITE_NONE : HX_SAMESITE_DEFAULT;
        double expires = json_number_value(json_object_get(item, "expires"));
        c.expires_ms = expires < 0 ? INT64_MAX : now + ((int64_t)(expires * 1000) - real);
        c.created_ms = now;
        bool known = false;
        for (size_t k = 0; k < old.count; k++) {
            const struct hx_cookie *o = &old.items[k];
            if (strcmp(o->name, c.name) == 0 && strcmp(o->domain, c.domain) == 0 &&
                o->host_only == c.host_only && strcmp(o->path, c.path) == 0) {
                known = strcmp(o->value, c.value) == 0;
                if (known) {
                    c.expires_ms = o->expires_ms;
                    c.created_ms = o->created_ms;
                }
            }
        }
        struct hx_cookie *grown = realloc(b->jar.items, (b->jar.count + 1) * sizeof(*grown));
        if (!grown) {
            free(c.name);
            free(c.value);
            continue;
        }
        b->jar.items = grown;
        b->jar.items[b->jar.count++] = c;
        if (!known)
            hx_timeline_add_data(b->timeline, now, "browser",
                                 json_pack("{s:s, s:s}", "cookie", c.name, "change", "set"),
                                 "cookie %s set (%zu bytes, in Chromium)", c.name,
                                 strlen(c.name) + strlen(c.value));
    }
    for (size_t k = 0; k < old.count; k++) {
        bool kept = false;
        for (size_t n = 0; n < b->jar.count && !kept; n++)
            kept = strcmp(old.items[k].name, b->jar.items[n].name) == 0 &&
                   strcmp(old.items[k].domain, b->jar.items[n].domain) == 0 &&
                   strcmp(old.items[k].path, b->jar.items[n].path) == 0;
        if (!kept)
            hx_timeline_add_data(b->timeline, now, "browser",
                                 json_pack("{s:s, s:s}", "cookie", old.items[k].name, "change", "deleted"),
                                 "cookie %s deleted (in Chromium)", old.items[k].name);
    }
    hx_jar_cleanup(&old);
}

json_t *hx_browser_engine_call(struct hx_browser *b, json_t *request, char *why, size_t why_size)
{
    if (!request) {
        snprintf(why, why_size, "out of memory");
        return NULL;
    }
    json_t *expire = json_array();
    pthread_mutex_lock(&b->lock);
    int64_t now = idp_clock_now_ms(b->clock);
    for (size_t i = 0; i < b->jar.count; i++)
        if (b->jar.items[i].expires_ms <= now)
            json_array_append_new(expire, cookie_json(&b->jar.items[i]));
    pthread_mutex_unlock(&b->lock);
    json_object_set_new(request, "now", json_integer(hx_browser_now(b)));
    json_object_set_new(request, "expire", expire);
    json_t *answer = hx_chromium_call(b->engine, request, why, why_size);
    json_decref(request);
    if (answer) {
        pthread_mutex_lock(&b->lock);
        mirror_jar(b, json_object_get(answer, "cookies"));
        pthread_mutex_unlock(&b->lock);
        size_t i;
        json_t *note;
        json_array_foreach(json_object_get(answer, "notes"), i, note)
            hx_timeline_add(b->timeline, idp_clock_now_ms(b->clock), "browser", "%s", json_string_value(note));
    }
    return answer;
}

static void engine_go(struct hx_browser *b, const struct hx_navigation *nav, struct hx_page *page)
{
    json_t *headers = json_array();
    for (size_t i = 0; nav->headers && nav->headers[i]; i++)
        json_array_append_new(headers, json_string(nav->headers[i]));
    json_t *request = json_pack("{s:s, s:s, s:s, s:b, s:b, s:b, s:b, s:s, s:o}", "op", "go", "url", nav->url,
                                "method", nav->method ? nav->method : "GET", "subrequest", nav->subrequest,
                                "follow_login", nav->follow_login, "credentials", nav->credentials,
                                "by_script", nav->by_script, "app_origin", b->app_origin, "headers", headers);
    if (request && nav->body)
        json_object_set_new(request, "body", json_string(nav->body));
    if (request && nav->initiator)
        json_object_set_new(request, "initiator", json_string(nav->initiator));
    hx_timeline_add(b->timeline, idp_clock_now_ms(b->clock), "browser", "chromium: %s%s %s",
                    nav->subrequest ? "fetch " : "", nav->method ? nav->method : "GET", nav->url);
    json_t *answer = hx_browser_engine_call(b, request, page->error, sizeof(page->error));
    if (!answer)
        return;
    page->status = (long)json_integer_value(json_object_get(answer, "status"));
    const char *url = json_string_value(json_object_get(answer, "url"));
    const char *stopped = json_string_value(json_object_get(answer, "stopped_at"));
    const char *body = json_string_value(json_object_get(answer, "body"));
    const char *error = json_string_value(json_object_get(answer, "error"));
    snprintf(page->url, sizeof(page->url), "%s", url && *url ? url : nav->url);
    snprintf(page->stopped_at, sizeof(page->stopped_at), "%s", stopped ? stopped : "");
    snprintf(page->error, sizeof(page->error), "%s", error ? error : "");
    page->login_redirect = json_is_true(json_object_get(answer, "login_redirect"));
    page->body = body && !page->login_redirect ? strdup(body) : NULL;
    page->hops = 1;
    json_decref(answer);
}

void hx_browser_clear_cookies(struct hx_browser *b)
{
    if (b->engine) {
        char why[256];
        json_decref(hx_browser_engine_call(b, json_pack("{s:s}", "op", "clear_cookies"), why, sizeof(why)));
    }
    pthread_mutex_lock(&b->lock);
    hx_jar_clear(&b->jar);
    pthread_mutex_unlock(&b->lock);
}

bool hx_browser_push_cookies(struct hx_browser *b, char *why, size_t why_size)
{
    if (!b->engine)
        return true;
    json_t *cookies = json_array();
    pthread_mutex_lock(&b->lock);
    int64_t now = idp_clock_now_ms(b->clock), real = real_now_ms();
    for (size_t i = 0; i < b->jar.count; i++) {
        json_t *c = cookie_json(&b->jar.items[i]);
        if (b->jar.items[i].expires_ms != INT64_MAX)
            json_object_set_new(c, "expires", json_real((double)(real + b->jar.items[i].expires_ms - now) / 1000.0));
        json_array_append_new(cookies, c);
    }
    pthread_mutex_unlock(&b->lock);
    json_t *answer = hx_browser_engine_call(b, json_pack("{s:s, s:o}", "op", "set_cookies", "cookies", cookies),
                                            why, why_size);
    json_decref(answer);
    return answer != NULL;
}

/* Reads one attribute of an HTML tag (between tag and its '>'), unescaping
 * the entities the fake writes; false when absent. */
static bool tag_attribute(const char *tag, const char *end, const char *name, char *out, size_t size)
{
    char key[40];
    snprintf(key, sizeof(key), " %s=\"", name);
    const char *at = strstr(tag, key);
    if (!at || at > end)
        return false;
    at += strlen(key);
    size_t n = 0;
    static const struct { const char *entity; char c; } entities[] = {
        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&#39;", '\''}};
    while (*at && *at != '"' && n + 1 < size) {
        char c = *at++;
        for (size_t i = 0; c == '&' && i < sizeof(entities) / sizeof(entities[0]); i++)
            if (strncmp(at - 1, entities[i].entity, strlen(entities[i].entity)) == 0) {
                at += strlen(entities[i].entity) - 1;
                c = entities[i].c;
                break;
            }
        out[n++] = c;
    }
    out[n] = '\0';
    return true;
}

/* The fake's interactive sign-in page (setting login_page): the form's
 * action and fields as a urlencoded body (malloc'd), as the user's click on
 * "Sign in" submits it; NULL when the page has no such form. */
static char *login_form(const char *html, char *action, size_t action_size)
{
    const char *form = html ? strstr(html, "<form id=\"fakeidp-login\"") : NULL;
    if (!form)
        return NULL;
    const char *form_end = strchr(form, '>');
    if (!form_end || !tag_attribute(form, form_end, "action", action, action_size))
        return NULL;
    json_t *fields = json_object();
    char name[128], *value = malloc(8192);
    for (const char *p = form; value && (p = strstr(p, "<input")) != NULL; p++) {
        const char *end = strchr(p, '>');
        if (!end)
            break;
        if (tag_attribute(p, end, "name", name, sizeof(name)) &&
            tag_attribute(p, end, "value", value, 8192))
            json_object_set_new(fields, name, json_string(value));
    }
    char *body = hx_form_encode(fields);
    json_decref(fields);
    free(value);
    return body;
}

/* The request one hop of a navigation sends; a redirect or the sign-in
 * form makes the next hop's. */
struct hop {
    struct hx_url url;
    const char *method;
    const char *body;
    const char *const *headers; /* the page's own (nav->headers), or the form's */
    struct hx_url initiator;
    bool have_initiator;
};

static const char *const form_headers[] = {"Content-Type: application/x-www-form-urlencoded", NULL};

/* Sends a hop: the jar's cookies for it under ctx (none for a fetch()
 * without credentials that goes cross-site), its request number
 * (X-Request-ID), the pinned instance, Origin for a subrequest and the
 * page's headers; through the world's transport when there is one. The
 * request goes into the timeline and its absolute URL into full. False
 * when nothing came back (resp->error says why). */
static bool send_hop(struct hx_browser *b, const struct hx_navigation *nav, const struct hop *hop,
                     const struct hx_request_context *ctx, const struct hx_cookie_rules *rules,
                     struct hx_http_client *client, char *full, size_t full_size,
                     struct hx_http_response *resp)
{
    pthread_mutex_lock(&b->lock);
    /* fetch() without credentials sends no cookies cross-site. */
    char *cookie = (nav->subrequest && !nav->credentials && hop->have_initiator &&
                    !hx_url_same_site(&hop->url, &hop->initiator))
                       ? strdup("")
                       : hx_jar_header(&b->jar, &hop->url, ctx, rules, idp_clock_now_ms(b->clock));
    char site[256];
    hx_url_site(&hop->url, site, sizeof(site));
    json_object_set_new(b->last_visit, site, json_integer(idp_clock_now_ms(b->clock)));
    if (strcmp(hop->url.path, "/user_management/authorize") == 0)
        b->authorize_visits++;
    pthread_mutex_unlock(&b->lock);
    int request = hx_timeline_request_begin(b->timeline);
    const char *headers[24];
    size_t h = 0;
    char cookie_header[16384], origin_header[400], request_header[48], pin_header[48];
    snprintf(request_header, sizeof(request_header), "X-Request-ID: hxreq-%d", request);
    headers[h++] = request_header;
    if (pinned_instance > 0) {
        snprintf(pin_header, sizeof(pin_header), "X-Fakeidp-Instance: %d", pinned_instance);
        headers[h++] = pin_header;
    }
    if (cookie && cookie[0]) {
        snprintf(cookie_header, sizeof(cookie_header), "Cookie: %s", cookie);
        headers[h++] = cookie_header;
    }
    free(cookie);
    if (nav->subrequest && hop->have_initiator) {
        char origin[300];
        hx_url_origin(&hop->initiator, origin, sizeof(origin));
        snprintf(origin_header, sizeof(origin_header), "Origin: %s", origin);
        headers[h++] = origin_header;
    }
    for (size_t i = 0; hop->headers && hop->headers[i] && h < 22; i++)
        headers[h++] = hop->headers[i];
    headers[h] = NULL;
    hx_url_format(&hop->url, full, full_size);
    const char *body = hop->body;
    bool got = b->transport ? b->transport(b->transport_data, hop->method, full, headers, body,
                                           body ? strlen(body) : 0, resp)
                            : hx_http_request(client, hop->method, full, headers, body,
                                              body ? strlen(body) : 0, 30000, resp);
    json_t *record = json_pack("{s:s, s:s, s:s, s:i, s:b}", "method", hop->method, "host",
                               hop->url.host, "path", hop->url.path,
                               "status", got ? (int)resp->status : 0, "subrequest", nav->subrequest);
    /* A bearer access token the page sent, by its short hash. */
    for (size_t i = 0; nav->headers && nav->headers[i]; i++) {
        if (strncasecmp(nav->headers[i], "Authorization: Bearer ", 22) == 0) {
            char hash[16];
            hx_timeline_hash(nav->headers[i] + 22, hash);
            json_object_set_new(record, "access_token", json_string(hash));
        }
    }
    hx_timeline_request_end(b->timeline, idp_clock_now_ms(b->clock), record);
    return got;
}

enum hop_next { HOP_DONE, HOP_FOLLOW, HOP_STOP };

/* A redirect (pages only; fetch() hands it to the script): HOP_FOLLOW with
 * hop moved to its target (303, and 301/302 after a POST, continue as GET
 * without the body); HOP_STOP at the IdP's sign-in when the navigation does
 * not follow it, or at a second trip through authorize (a login loop);
 * HOP_DONE when resp is no redirect. */
static enum hop_next follow_redirect(struct hx_browser *b, const struct hx_navigation *nav,
                                     struct hop *hop, const struct hx_http_response *resp,
                                     int *authorize_hops, struct hx_page *page)
{
    char location[4096] = "";
    struct hx_url next;
    if (nav->subrequest || resp->status < 300 || resp->status >= 400 ||
        !hx_http_header(resp, "Location", location, sizeof(location)) ||
        !hx_url_resolve(&hop->url, location, &next))
        return HOP_DONE;
    bool authorize = strcmp(next.path, "/user_management/authorize") == 0;
    if (is_login(&next, b->knobs.idp_host) &&
        (!nav->follow_login || (authorize && (*authorize_hops)++ > 0))) {
        /* Not followed, or a second trip through authorize in one
         * navigation: a login loop, stopped here. */
        hx_url_format(&next, page->stopped_at, sizeof(page->stopped_at));
        page->login_redirect = true;
        if (*authorize_hops > 1)
            hx_timeline_add(b->timeline, idp_clock_now_ms(b->clock), "browser",
                            "login loop: sent back to sign in right after signing in");
        return HOP_STOP;
    }
    hop->url = next;
    long status = resp->status;
    if (status == 303 || ((status == 301 || status == 302) && strcmp(hop->method, "POST") == 0)) {
        hop->method = "GET";
        hop->body = NULL;
        if (hop->headers == form_headers)
            hop->headers = NULL;
    }
    return HOP_FOLLOW;
}

/* The fake's interactive sign-in page, on a navigation that follows
 * sign-in: the user submits its form, a POST navigation that the IdP's
 * page starts, so the callback is reached from there. True with hop made
 * that POST, whose body *form_body then owns. */
static bool submit_login_form(struct hx_browser *b, const struct hx_navigation *nav,
                              struct hop *hop, const struct hx_http_response *resp,
                              char **form_body)
{
    char action[1024];
    struct hx_url next;
    char *form = !nav->subrequest && nav->follow_login && resp->status == 200 &&
                         strcmp(hop->url.path, "/user_management/authorize") == 0
                     ? login_form(resp->body, action, sizeof(action))
                     : NULL;
    if (!form || !hx_url_resolve(&hop->url, action, &next)) {
        free(form);
        return false;
    }
    hx_timeline_add(b->timeline, idp_clock_now_ms(b->clock), "browser",
                    "sign-in page: the form is submitted");
    free(*form_body);
    *form_body = form;
    hop->body = form;
    hop->method = "POST";
    hop->headers = form_headers;
    hop->initiator = hop->url;
    hop->have_initiator = true;
    hop->url = next;
    return true;
}

void hx_browser_go(struct hx_browser *b, const struct hx_navigation *nav, struct hx_page *page)
{
    memset(page, 0, sizeof(*page));
    struct hop hop = {.method = nav->method ? nav->method : "GET", .body = nav->body,
                      .headers = nav->headers};
    struct hx_url embed;
    hop.have_initiator = nav->initiator && hx_url_parse(nav->initiator, &hop.initiator);
    bool embedded = b->knobs.embedded_in[0] && hx_url_parse(b->knobs.embedded_in, &embed);
    if (!hx_url_parse(nav->url, &hop.url)) {
        snprintf(page->error, sizeof(page->error), "not an absolute http(s) URL: %s", nav->url);
        return;
    }
    if (b->knobs.offline) {
        snprintf(page->error, sizeof(page->error), "TypeError: Failed to fetch (offline)");
        hx_timeline_add(b->timeline, idp_clock_now_ms(b->clock), "browser", "%s %s: offline",
                        nav->method ? nav->method : "GET", nav->url);
        return;
    }
    if (b->engine) {
        engine_go(b, nav, page);
        return;
    }
    /* Requests the fake may cut (anything sent to the IdP) get a connection
     * of their own; the rest reuse the thread's. */
    bool to_idp = strcmp(hop.url.host, b->knobs.idp_host) == 0;
    /* Numbered, and sent as X-Request-ID: the reference app passes it on to
     * fakeidp, whose journal keeps it, so a report can put each app line
     * and IdP call under the browser request that caused it. */
    int outer_request = hx_timeline_request_current();
    struct hx_http_client *client = to_idp ? hx_http_client_new() : hx_http_client_thread();
    if (!client) {
        snprintf(page->error, sizeof(page->error), "out of memory");
        return;
    }
    hx_http_client_loopback(client, true);
    char *form_body = NULL;
    struct hx_cookie_rules rules = rules_of(b);
    int authorize_hops = strcmp(hop.url.path, "/user_management/authorize") == 0;
    for (int hop_index = 0; hop_index < 20; hop_index++) {
        /* SameSite: a navigation is judged by its initiator, the same page
         * for every hop of its redirect chain (a typed URL has none); inside
         * an iframe and for fetch(), by the top-level page. */
        struct hx_request_context ctx = {
            .site_for_cookies = embedded ? &embed : hop.have_initiator ? &hop.initiator : NULL,
            .top_level_navigation = !nav->subrequest && !embedded,
            .safe_method = strcmp(hop.method, "GET") == 0 || strcmp(hop.method, "HEAD") == 0,
        };
        char full[4096];
        struct hx_http_response resp;
        bool got = send_hop(b, nav, &hop, &ctx, &rules, client, full, sizeof(full), &resp);
        page->hops = hop_index + 1;
        snprintf(page->url, sizeof(page->url), "%s", full);
        page->status = resp.status;
        if (!got) {
            snprintf(page->error, sizeof(page->error), "%s", resp.error);
            hx_timeline_add(b->timeline, idp_clock_now_ms(b->clock), "browser", "%s %s: %s",
                            hop.method, full, resp.error);
            hx_http_response_cleanup(&resp);
            break;
        }
        apply_cookies(b, &resp, &hop.url, &ctx);
        enum hop_next next = follow_redirect(b, nav, &hop, &resp, &authorize_hops, page);
        if (next == HOP_DONE && submit_login_form(b, nav, &hop, &resp, &form_body))
            next = HOP_FOLLOW;
        if (next == HOP_DONE) {
            page->body = resp.body;
            resp.body = NULL;
        }
        hx_http_response_cleanup(&resp);
        if (next != HOP_FOLLOW)
            break;
    }
    free(form_body);
    if (to_idp)
        hx_http_client_free(&client);
    hx_timeline_request_set(outer_request);
}

char *hx_browser_document_cookie(struct hx_browser *b, const char *url_text)
{
    struct hx_url url;
    if (!hx_url_parse(url_text, &url))
        return strdup("");
    struct hx_request_context ctx = {.from_script = true};
    struct hx_cookie_rules rules = rules_of(b);
    pthread_mutex_lock(&b->lock);
    char *cookies = hx_jar_header(&b->jar, &url, &ctx, &rules, idp_clock_now_ms(b->clock));
    pthread_mutex_unlock(&b->lock);
    return cookies;
}

bool hx_browser_secure_context(const struct hx_browser *b, const char *url_text)
{
    struct hx_url url;
    if (!hx_url_parse(url_text, &url))
        return false;
    if (strcmp(url.scheme, "https") == 0 || hx_url_is_loopback_host(url.host))
        return true;
    for (const char *p = b->knobs.secure_hosts; *p;) {
        size_t len = strcspn(p, ",");
        if (len == strlen(url.host) && strncasecmp(p, url.host, len) == 0)
            return true;
        p += len + (p[len] == ',');
    }
    return false;
}

void hx_browser_tick(struct hx_browser *b)
{
    if (b->engine) {
        char why[256];
        json_decref(hx_browser_engine_call(b, json_pack("{s:s}", "op", "clock"), why, sizeof(why)));
    }
    if (!b->knobs.storage_purge_ms)
        return;
    int64_t now = idp_clock_now_ms(b->clock);
    pthread_mutex_lock(&b->lock);
    const char *origin;
    json_t *items;
    void *tmp;
    json_object_foreach_safe(b->local_storage, tmp, origin, items) {
        struct hx_url u;
        char site[256] = "";
        if (hx_url_parse(origin, &u))
            hx_url_site(&u, site, sizeof(site));
        json_int_t last = json_integer_value(json_object_get(b->last_visit, site));
        if (now - last >= b->knobs.storage_purge_ms) {
            hx_timeline_add(b->timeline, now, "browser",
                            "script storage of %s purged (no visit for %lld days)", origin,
                            (long long)((now - last) / 86400000));
            json_object_del(b->local_storage, origin);
        }
    }
    pthread_mutex_unlock(&b->lock);
}
