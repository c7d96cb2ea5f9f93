/* The routed world: apps by host name and the deployment pieces in front of
 * each (world.h). Each piece is a few lines on the request or the response
 * as it passes; each decision goes to the timeline under the app's name
 * ("prod/proxy", "prod/cdn", "prod/adapter"). */
#include "world.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "duration.h"
#include "faults.h"
#include "http_client.h"
#include "url.h"

const char *const hx_world_app_keys[] = {"hosts", "client_id", "proxy", "cdn", "adapter",
                                         "header_limit", "fan_out", "providers", NULL};

static const char *const adapters[] = {"passthrough", "keep_first", "keep_last", "fold_comma",
                                       NULL};

static enum idp_status fail_at(struct idp_error *err, const char *pointer, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static enum idp_status fail_at(struct idp_error *err, const char *pointer, const char *fmt, ...)
{
    char text[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    idp_fail(err, IDP_INVALID, "%s", text);
    snprintf(err->pointer, sizeof(err->pointer), "%s", pointer);
    return IDP_INVALID;
}

static enum idp_status boolean(const json_t *obj, const char *key, bool *out, const char *section,
                               struct idp_error *err)
{
    const json_t *v = json_object_get(obj, key);
    char pointer[96];
    snprintf(pointer, sizeof(pointer), "/%s/%s", section, key);
    if (v && !json_is_boolean(v))
        return fail_at(err, pointer, "%s is true or false", key);
    if (v)
        *out = json_is_true(v);
    return IDP_OK;
}

static enum idp_status only_keys(const json_t *obj, const char *section, const char *const keys[],
                                 struct idp_error *err)
{
    char pointer[96];
    snprintf(pointer, sizeof(pointer), "/%s", section);
    if (!json_is_object(obj))
        return fail_at(err, pointer, "%s must be an object", section);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        bool known = false;
        for (int i = 0; keys[i]; i++)
            known = known || strcmp(keys[i], key) == 0;
        if (!known) {
            char list[200] = "";
            for (int i = 0; keys[i]; i++) {
                strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
                strncat(list, keys[i], sizeof(list) - strlen(list) - 1);
            }
            snprintf(pointer, sizeof(pointer), "/%s/%s", section, key);
            idp_fail(err, IDP_INVALID, "unknown key \"%s\" in %s (expected: %s)", key, section,
                     list);
            snprintf(err->pointer, sizeof(err->pointer), "%s", pointer);
            return IDP_INVALID;
        }
    }
    return IDP_OK;
}

/* "hosts": 1 to HX_WORLD_MAX_HOSTS lowercase names, the first the origin's. */
static enum idp_status take_hosts(const json_t *hosts, struct hx_world_app *out,
                                  struct idp_error *err)
{
    size_t i;
    json_t *h;
    if (!json_is_array(hosts) || !json_array_size(hosts) ||
        json_array_size(hosts) > HX_WORLD_MAX_HOSTS)
        return fail_at(err, "/hosts", "hosts is an array of 1 to 8 host names (%s)",
                       "\"app.test\", \"www.app.test\"");
    json_array_foreach(hosts, i, h) {
        const char *name = json_string_value(h);
        char pointer[32];
        snprintf(pointer, sizeof(pointer), "/hosts/%zu", i);
        if (!name || !name[0] || strlen(name) >= sizeof(out->hosts[0]) ||
            strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789.-") != strlen(name))
            return fail_at(err, pointer, "a host is a lowercase name without scheme or port (%s)",
                           "\"stg.app.test\"");
        snprintf(out->hosts[out->host_count++], sizeof(out->hosts[0]), "%s", name);
    }
    return IDP_OK;
}

/* "proxy": TLS termination and the X-Forwarded-* headers, all on by default. */
static enum idp_status take_proxy(const json_t *proxy, struct hx_pieces *p, struct idp_error *err)
{
    static const char *const keys[] = {"tls", "forward_proto", "forward_host", NULL};
    p->tls = p->forward_proto = p->forward_host = true;
    if (only_keys(proxy, "proxy", keys, err) || boolean(proxy, "tls", &p->tls, "proxy", err) ||
        boolean(proxy, "forward_proto", &p->forward_proto, "proxy", err) ||
        boolean(proxy, "forward_host", &p->forward_host, "proxy", err))
        return IDP_INVALID;
    return IDP_OK;
}

/* "cdn": a shared cache that honours the origin's Cache-Control (or not),
 * keeps or strips Set-Cookie, and caches for default_ttl otherwise. */
static enum idp_status take_cdn(const json_t *cdn, struct hx_pieces *p, struct idp_error *err)
{
    static const char *const keys[] = {"honor_origin", "set_cookie", "default_ttl", NULL};
    p->cdn = p->cdn_honor_origin = true;
    p->cdn_default_ttl_ms = 60000;
    if (only_keys(cdn, "cdn", keys, err) ||
        boolean(cdn, "honor_origin", &p->cdn_honor_origin, "cdn", err))
        return IDP_INVALID;
    const json_t *sc = json_object_get(cdn, "set_cookie");
    const char *scv = json_string_value(sc);
    if (sc && (!scv || (strcmp(scv, "keep") != 0 && strcmp(scv, "strip") != 0)))
        return fail_at(err, "/cdn/set_cookie", "set_cookie is %s", "\"keep\" or \"strip\"");
    p->cdn_strip_set_cookie = scv && strcmp(scv, "strip") == 0;
    const json_t *ttl = json_object_get(cdn, "default_ttl");
    if (ttl && !idp_duration_json(ttl, false, &p->cdn_default_ttl_ms))
        return fail_at(err, "/cdn/default_ttl", "default_ttl is %s", "a duration");
    return IDP_OK;
}

/* "header_limit": the largest request and response header blocks. */
static enum idp_status take_header_limit(const json_t *limit, struct hx_pieces *p,
                                         struct idp_error *err)
{
    static const char *const keys[] = {"request", "response", NULL};
    if (only_keys(limit, "header_limit", keys, err))
        return IDP_INVALID;
    const json_t *rq = json_object_get(limit, "request"), *rs = json_object_get(limit, "response");
    if ((rq && (!json_is_integer(rq) || json_integer_value(rq) < 256)) ||
        (rs && (!json_is_integer(rs) || json_integer_value(rs) < 256)))
        return fail_at(err, "/header_limit", "header_limit sizes are %s",
                       "whole numbers of bytes, at least 256");
    p->request_limit = rq ? (long)json_integer_value(rq) : 0;
    p->response_limit = rs ? (long)json_integer_value(rs) : 0;
    return IDP_OK;
}

/* "fan_out": the paths a page load requests at once, and the barrier fault
 * rule (checked by fakeidp's own parser) that makes their refreshes meet. */
static enum idp_status take_fan_out(const json_t *fan, struct hx_pieces *p, struct idp_error *err)
{
    static const char *const keys[] = {"paths", "barrier", NULL};
    if (only_keys(fan, "fan_out", keys, err))
        return IDP_INVALID;
    const json_t *paths = json_object_get(fan, "paths");
    if (!json_is_array(paths) || !json_array_size(paths) || json_array_size(paths) > 8)
        return fail_at(err, "/fan_out/paths", "fan_out paths is an array of 1 to 8 paths (%s)",
                       "\"/api/me\"");
    size_t i;
    json_t *h;
    json_array_foreach(paths, i, h) {
        const char *path = json_string_value(h);
        char pointer[40];
        snprintf(pointer, sizeof(pointer), "/fan_out/paths/%zu", i);
        if (!path || path[0] != '/' || strlen(path) >= sizeof(p->fan_out[0]))
            return fail_at(err, pointer, "a fan_out path starts with '/'%s", "");
        snprintf(p->fan_out[p->fan_out_count++], sizeof(p->fan_out[0]), "%s", path);
    }
    const json_t *barrier = json_object_get(fan, "barrier");
    if (barrier) {
        json_t *rule = json_is_object(barrier) ? json_deep_copy(barrier) : NULL;
        struct idp_faults scratch;
        idp_faults_init(&scratch);
        struct idp_error inner;
        enum idp_status st = IDP_INVALID;
        if (rule) {
            json_object_set_new(rule, "action", json_string("barrier"));
            st = idp_faults_add(&scratch, rule, 0, NULL, 0, &inner);
        }
        idp_faults_cleanup(&scratch);
        json_decref(rule);
        if (st)
            return fail_at(err, "/fan_out/barrier", "fan_out barrier: %s",
                           rule ? inner.message : "a fault rule object");
        p->fan_out_barrier = json_deep_copy(barrier);
    }
    return IDP_OK;
}

enum idp_status hx_world_app_take_pieces(json_t *entry, struct hx_world_app *out,
                                         struct idp_error *err)
{
    memset(out, 0, sizeof(*out));
    if (!json_is_object(entry))
        return fail_at(err, "", "an app is an object of %s", "hosts, pieces and knobs");
    if (take_hosts(json_object_get(entry, "hosts"), out, err))
        return IDP_INVALID;
    const json_t *client = json_object_get(entry, "client_id");
    if (client && (!json_is_string(client) || !json_string_length(client) ||
                   json_string_length(client) >= sizeof(out->client_id)))
        return fail_at(err, "/client_id", "client_id is %s", "a WorkOS client id string");
    if (client)
        snprintf(out->client_id, sizeof(out->client_id), "%s", json_string_value(client));
    struct hx_pieces *p = &out->pieces;
    const json_t *proxy = json_object_get(entry, "proxy");
    if (proxy && take_proxy(proxy, p, err))
        return IDP_INVALID;
    const json_t *cdn = json_object_get(entry, "cdn");
    if (cdn && take_cdn(cdn, p, err))
        return IDP_INVALID;
    const json_t *adapter = json_object_get(entry, "adapter");
    if (adapter) {
        const char *a = json_string_value(adapter);
        p->adapter = -1;
        for (int k = 0; a && adapters[k]; k++)
            if (strcmp(a, adapters[k]) == 0)
                p->adapter = k;
        if (p->adapter < 0)
            return fail_at(err, "/adapter", "adapter is %s",
                           "\"passthrough\", \"keep_first\", \"keep_last\" or \"fold_comma\"");
    }
    const json_t *limit = json_object_get(entry, "header_limit");
    if (limit && take_header_limit(limit, p, err))
        return IDP_INVALID;
    const json_t *fan = json_object_get(entry, "fan_out");
    if (fan && take_fan_out(fan, p, err))
        return IDP_INVALID;
    const json_t *providers = json_object_get(entry, "providers");
    if (providers) {
        if (!hx_backend_providers_ok(providers)) {
            hx_world_app_cleanup(out);
            return fail_at(err, "/providers", "providers is an array of {%s}",
                           "\"issuer\": …, \"application_id\"?: …");
        }
        p->providers = json_deep_copy(providers);
    }
    for (int k = 0; hx_world_app_keys[k]; k++)
        json_object_del(entry, hx_world_app_keys[k]);
    snprintf(out->origin, sizeof(out->origin), "%s://%s", p->tls ? "https" : "http", out->hosts[0]);
    return IDP_OK;
}

void hx_world_app_cleanup(struct hx_world_app *app)
{
    json_decref(app->pieces.fan_out_barrier);
    app->pieces.fan_out_barrier = NULL;
    json_decref(app->pieces.providers);
    app->pieces.providers = NULL;
}

void hx_world_init(struct hx_world *world, struct idp_clock *clock, struct hx_timeline *timeline)
{
    memset(world, 0, sizeof(*world));
    pthread_mutex_init(&world->lock, NULL);
    world->clock = clock;
    world->timeline = timeline;
}

void hx_world_stop_apps(struct hx_world *world, int from)
{
    for (int i = from; i < world->count; i++)
        hx_app_stop(&world->apps[i].app);
}

void hx_world_cleanup(struct hx_world *world)
{
    for (int i = 0; i < world->count; i++) {
        json_decref(world->apps[i].cache);
        hx_world_app_cleanup(&world->apps[i]);
        world->apps[i].cache = NULL;
    }
    world->count = 0;
    pthread_mutex_destroy(&world->lock);
}

struct hx_world_app *hx_world_app_for_host(struct hx_world *world, const char *host)
{
    for (int i = 0; i < world->count; i++)
        for (int h = 0; h < world->apps[i].host_count; h++)
            if (strcasecmp(world->apps[i].hosts[h], host) == 0)
                return &world->apps[i];
    return NULL;
}

struct hx_world_app *hx_world_app_named(struct hx_world *world, const char *name)
{
    for (int i = 0; i < world->count; i++)
        if (strcmp(world->apps[i].name, name) == 0)
            return &world->apps[i];
    return NULL;
}

bool hx_world_resolve(struct hx_world *world, const char *first_origin, const char *where,
                      char *out, size_t size, char *why, size_t why_size)
{
    if (strstr(where, "://")) {
        snprintf(out, size, "%s", where);
        return true;
    }
    if (where[0] == '/') {
        snprintf(out, size, "%s%s", first_origin, where);
        return true;
    }
    size_t len = strcspn(where, "/");
    char name[64];
    snprintf(name, sizeof(name), "%.*s", (int)(len < sizeof(name) ? len : sizeof(name) - 1), where);
    struct hx_world_app *app = hx_world_app_named(world, name);
    if (!app) {
        snprintf(why, why_size, "no app named \"%s\"", name);
        return false;
    }
    snprintf(out, size, "%s%s", app->origin, where[len] ? where + len : "/");
    return true;
}

/* ---- the pieces -------------------------------------------------------- */

static void piece_note(struct hx_world *world, const struct hx_world_app *app, const char *piece,
                       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void piece_note(struct hx_world *world, const struct hx_world_app *app, const char *piece,
                       const char *fmt, ...)
{
    char text[700], component[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    snprintf(component, sizeof(component), "%s/%s", app->name, piece);
    hx_timeline_add_data(world->timeline, idp_clock_now_ms(world->clock), "app",
                         json_pack("{s:s}", "component", component), "%s", text);
}

/* A response made by a hop itself (431, 502, a cache hit). */
static void synthesize(struct hx_http_response *resp, long status, const char *headers,
                       const char *body)
{
    memset(resp, 0, sizeof(*resp));
    resp->status = status;
    char head[64];
    snprintf(head, sizeof(head), "HTTP/1.1 %ld\r\n", status);
    size_t hl = strlen(head) + strlen(headers ? headers : "");
    resp->headers = malloc(hl + 1);
    if (resp->headers)
        snprintf(resp->headers, hl + 1, "%s%s", head, headers ? headers : "");
    resp->headers_len = resp->headers ? hl : 0;
    resp->body = strdup(body ? body : "");
    resp->body_len = resp->body ? strlen(resp->body) : 0;
}

static bool is_set_cookie(const char *line, size_t len)
{
    return len > 11 && strncasecmp(line, "Set-Cookie:", 11) == 0;
}

/* Rewrites the response's Set-Cookie lines: keep every one, the first, the
 * last, or fold them into one comma-joined header (what Headers.forEach
 * does). Returns how many arrived. */
static int rewrite_set_cookie(struct hx_http_response *resp, int mode, int *kept)
{
    size_t cap = resp->headers_len + 64;
    char *out = malloc(cap), *folded = malloc(resp->headers_len + 32);
    int count = 0;
    for (const char *l = resp->headers; l && *l;) {
        size_t len = strcspn(l, "\n");
        count += is_set_cookie(l, len);
        l += len + (l[len] == '\n');
    }
    *kept = count;
    if (!out || !folded || count == 0 || mode == HX_ADAPTER_PASSTHROUGH) {
        free(out);
        free(folded);
        return count;
    }
    size_t used = 0, fused = 0;
    int seen = 0;
    for (const char *l = resp->headers; *l;) {
        size_t len = strcspn(l, "\n");
        size_t full = len + (l[len] == '\n');
        if (is_set_cookie(l, len)) {
            seen++;
            bool keep = (mode == HX_ADAPTER_KEEP_FIRST && seen == 1) ||
                        (mode == HX_ADAPTER_KEEP_LAST && seen == count);
            if (keep) {
                memcpy(out + used, l, full);
                used += full;
            }
            if (mode == HX_ADAPTER_FOLD_COMMA) {
                size_t vlen = len - 11;
                const char *v = l + 11;
                while (vlen && (*v == ' ')) {
                    v++;
                    vlen--;
                }
                while (vlen && (v[vlen - 1] == '\r'))
                    vlen--;
                fused += (size_t)snprintf(folded + fused, resp->headers_len + 32 - fused, "%s%.*s",
                                          fused ? ", " : "", (int)vlen, v);
            }
        } else {
            memcpy(out + used, l, full);
            used += full;
        }
        l += full;
    }
    out[used] = '\0';
    if (mode == HX_ADAPTER_FOLD_COMMA) {
        char *grown = malloc(used + fused + 32);
        if (grown) {
            snprintf(grown, used + fused + 32, "%sSet-Cookie: %s\r\n", out, folded);
            free(out);
            out = grown;
            used = strlen(out);
        }
    }
    *kept = 1;
    free(resp->headers);
    resp->headers = out;
    resp->headers_len = used;
    free(folded);
    return count;
}

/* Header lines after the status line, without Set-Cookie when strip. */
static char *header_lines(const struct hx_http_response *resp, bool strip)
{
    char *out = calloc(1, resp->headers_len + 1);
    size_t used = 0;
    bool first = true;
    for (const char *l = resp->headers; out && l && *l;) {
        size_t len = strcspn(l, "\n");
        size_t full = len + (l[len] == '\n');
        bool blank = len == 0 || (len == 1 && l[0] == '\r');
        if (!first && !blank && !(strip && is_set_cookie(l, len))) {
            memcpy(out + used, l, full);
            used += full;
        }
        first = false;
        l += full;
    }
    return out;
}

/* How long the CDN keeps a response: 0 = not at all. */
static int64_t cache_ttl(const struct hx_pieces *p, const struct hx_http_response *resp)
{
    if (resp->status != 200)
        return 0;
    char cc[256] = "";
    hx_http_header(resp, "Cache-Control", cc, sizeof(cc));
    if (!p->cdn_honor_origin)
        return p->cdn_default_ttl_ms; /* a rule that ignores the origin ("Cache Everything") */
    if (!cc[0] || strstr(cc, "private") || strstr(cc, "no-store") || strstr(cc, "no-cache"))
        return 0;
    const char *s = strstr(cc, "s-maxage=");
    const char *m = strstr(cc, "max-age=");
    if (s)
        return atoll(s + 9) * 1000;
    if (m)
        return atoll(m + 8) * 1000;
    return strstr(cc, "public") ? p->cdn_default_ttl_ms : 0;
}

static bool send_to(const char *method, const char *url, const char *const *headers,
                    const char *body, size_t body_len, bool fresh_connection,
                    struct hx_http_response *resp)
{
    struct hx_http_client *client = fresh_connection ? hx_http_client_new() : hx_http_client_thread();
    if (!client) {
        memset(resp, 0, sizeof(*resp));
        snprintf(resp->error, sizeof(resp->error), "out of memory");
        return false;
    }
    hx_http_client_loopback(client, true);
    bool got = hx_http_request(client, method, url, headers, body, body_len, 30000, resp);
    if (fresh_connection)
        hx_http_client_free(&client);
    return got;
}

/* The CDN's answer from its cache: true (resp filled) when it holds a
 * fresh copy of public_url. */
static bool cdn_lookup(struct hx_world *world, struct hx_world_app *app, const char *public_url,
                       const char *path, struct hx_http_response *resp)
{
    pthread_mutex_lock(&world->lock);
    json_t *hit = json_object_get(app->cache, public_url);
    bool fresh = hit && json_integer_value(json_object_get(hit, "expires")) >
                            idp_clock_now_ms(world->clock);
    if (fresh)
        synthesize(resp, (long)json_integer_value(json_object_get(hit, "status")),
                   json_string_value(json_object_get(hit, "headers")),
                   json_string_value(json_object_get(hit, "body")));
    pthread_mutex_unlock(&world->lock);
    if (fresh)
        piece_note(world, app, "cdn", "HIT %s (the app never sees the request)", path);
    return fresh;
}

/* The CDN keeps the app's answer for its TTL (cache_ttl); with set_cookie
 * "strip" it keeps it without Set-Cookie, and the browser gets what was
 * kept. */
static void cdn_store(struct hx_world *world, struct hx_world_app *app, const char *public_url,
                      const char *path, struct hx_http_response *resp)
{
    const struct hx_pieces *p = &app->pieces;
    int64_t ttl = cache_ttl(p, resp);
    if (ttl <= 0)
        return;
    char *lines = header_lines(resp, p->cdn_strip_set_cookie);
    pthread_mutex_lock(&world->lock);
    if (!app->cache)
        app->cache = json_object();
    json_object_set_new(app->cache, public_url,
                        json_pack("{s:I, s:i, s:s, s:s}", "expires",
                                  (json_int_t)idp_clock_now_ms(world->clock) + (json_int_t)ttl,
                                  "status", (int)resp->status, "headers", lines ? lines : "",
                                  "body", resp->body ? resp->body : ""));
    pthread_mutex_unlock(&world->lock);
    piece_note(world, app, "cdn", "MISS %s: stored for %llds%s", path, (long long)(ttl / 1000),
               p->cdn_strip_set_cookie ? ", Set-Cookie stripped" : "");
    if (p->cdn_strip_set_cookie && lines) {
        char *saved = resp->body;
        size_t saved_len = resp->body_len;
        resp->body = NULL;
        long status = resp->status;
        hx_http_response_cleanup(resp);
        synthesize(resp, status, lines, NULL);
        free(resp->body);
        resp->body = saved;
        resp->body_len = saved_len;
    }
    free(lines);
}

bool hx_world_transport(void *data, const char *method, const char *url_text,
                        const char *const *headers, const char *body, size_t body_len,
                        struct hx_http_response *resp)
{
    struct hx_world *world = data;
    struct hx_url url;
    struct hx_world_app *app = hx_url_parse(url_text, &url) ? hx_world_app_for_host(world, url.host)
                                                            : NULL;
    bool https = app && strcmp(url.scheme, "https") == 0;
    bool default_port = app && url.port == (https ? 443 : 80);
    if (!app || !default_port) /* the IdP, or a port given outright */
        return send_to(method, url_text, headers, body, body_len, true, resp);
    const struct hx_pieces *p = &app->pieces;
    if (https && !p->tls) {
        memset(resp, 0, sizeof(*resp));
        snprintf(resp->error, sizeof(resp->error),
                 "connection refused: nothing serves https on %s (app %s has no TLS proxy)",
                 url.host, app->name);
        return false;
    }
    /* The hop to the app: http on its port; Host and the forwarded headers
     * as the proxy sends them. */
    char target[4200], host_header[300], proto_header[64], fwd_host[300];
    snprintf(target, sizeof(target), "http://%s:%d%s%s%s", url.host, app->port, url.path,
             url.query[0] ? "?" : "", url.query);
    bool behind_proxy = p->tls;
    if (!behind_proxy || p->forward_host)
        snprintf(host_header, sizeof(host_header), "Host: %s", url.host);
    else
        snprintf(host_header, sizeof(host_header), "Host: 127.0.0.1:%d", app->port);
    snprintf(proto_header, sizeof(proto_header), "X-Forwarded-Proto: %s", url.scheme);
    snprintf(fwd_host, sizeof(fwd_host), "X-Forwarded-Host: %s", url.host);
    const char *hop[40];
    size_t n = 0;
    long request_bytes = 0;
    for (size_t i = 0; headers && headers[i] && n < 34; i++) {
        hop[n++] = headers[i];
        request_bytes += (long)strlen(headers[i]) + 2;
    }
    hop[n++] = host_header;
    if (behind_proxy && p->forward_proto)
        hop[n++] = proto_header;
    if (behind_proxy && p->forward_host)
        hop[n++] = fwd_host;
    hop[n] = NULL;
    if (p->request_limit && request_bytes > p->request_limit) {
        piece_note(world, app, "proxy", "431: request headers are %ld bytes, over the %ld-byte "
                   "limit (the app never sees the request)", request_bytes, p->request_limit);
        synthesize(resp, 431, "Content-Type: text/plain\r\n", "Request Header Fields Too Large");
        return true;
    }
    char public_url[4200];
    hx_url_format(&url, public_url, sizeof(public_url));
    bool cacheable_method = strcmp(method, "GET") == 0;
    if (p->cdn && cacheable_method && cdn_lookup(world, app, public_url, url.path, resp))
        return true;
    bool got = send_to(method, target, hop, body, body_len, false, resp);
    if (!got)
        return false;
    if (p->adapter != HX_ADAPTER_PASSTHROUGH) {
        int kept = 0, count = rewrite_set_cookie(resp, p->adapter, &kept);
        if (count > 1)
            piece_note(world, app, "adapter", "%d Set-Cookie in, %s out (%s)", count,
                       p->adapter == HX_ADAPTER_FOLD_COMMA ? "1 folded" : "1",
                       adapters[p->adapter]);
    }
    if (p->response_limit && (long)resp->headers_len > p->response_limit) {
        piece_note(world, app, "proxy", "502: the app sent %zu bytes of response headers, over the "
                   "%ld-byte buffer (upstream sent too big header)", resp->headers_len,
                   p->response_limit);
        hx_http_response_cleanup(resp);
        synthesize(resp, 502, "Content-Type: text/plain\r\n", "Bad Gateway");
        return true;
    }
    if (p->cdn && cacheable_method)
        cdn_store(world, app, public_url, url.path, resp);
    return true;
}
