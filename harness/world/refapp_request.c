/* One request inside the reference app: the instance serving it, the
 * origin and redirect URI it derives from the request, the reply it builds
 * (headers collected, sent in one write), and the app's timeline lines,
 * which carry the browser's request number and the instance. The request's
 * context is kept per thread: CivetWeb serves each request on one worker
 * thread from start to end. */
#include <civetweb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refapp_internal.h"

/* The instance handling this thread's request (0-based), -1 with one. */
static _Thread_local int current_instance = -1;
/* This request's view of the app's public origin and redirect URI. */
static _Thread_local char current_origin[300];
static _Thread_local char current_redirect_uri[300];

int64_t refapp_now(struct hx_app *app, const struct hx_app_knobs *k)
{
    return idp_clock_now_ms(app->clock) + k->clock_offset_ms;
}

/* The browser numbers its requests (X-Request-ID: hxreq-N); the app's log
 * lines and its calls to fakeidp carry the number on. The origin is what
 * the app derives from the request: the Host header and plain http (the
 * hop it was reached on), or, with trust_proxy, what the proxy forwarded in
 * X-Forwarded-Proto / X-Forwarded-Host. The redirect URI is that origin's
 * /callback unless one was baked in at build time. */
void refapp_request_begin(struct hx_app *app, const struct hx_app_knobs *k,
                          struct mg_connection *conn, int instance)
{
    const char *id = mg_get_header(conn, "X-Request-ID");
    int req = 0;
    if (id && strncmp(id, "hxreq-", 6) == 0)
        req = atoi(id + 6);
    hx_timeline_request_set(req > 0 ? req : 0);
    current_instance = k->instances > 1 ? instance : -1;
    if (current_instance >= 0 && req > 0)
        refapp_record(app, json_pack("{s:s}", "kind", "served"));

    const char *host = mg_get_header(conn, "Host");
    const char *proto = "http";
    const char *fwd_proto = k->trust_proxy ? mg_get_header(conn, "X-Forwarded-Proto") : NULL;
    const char *fwd_host = k->trust_proxy ? mg_get_header(conn, "X-Forwarded-Host") : NULL;
    if (fwd_proto && (strcmp(fwd_proto, "https") == 0 || strcmp(fwd_proto, "http") == 0))
        proto = fwd_proto;
    if (fwd_host && fwd_host[0])
        host = fwd_host;
    if (host && host[0] && !strpbrk(host, "/\\@ "))
        snprintf(current_origin, sizeof(current_origin), "%s://%s", proto, host);
    else
        snprintf(current_origin, sizeof(current_origin), "%s", app->origin);
    if (k->redirect_uri[0])
        snprintf(current_redirect_uri, sizeof(current_redirect_uri), "%s", k->redirect_uri);
    else
        snprintf(current_redirect_uri, sizeof(current_redirect_uri), "%s/callback", current_origin);
}

void refapp_request_end(void)
{
    hx_timeline_request_set(0);
    current_instance = -1;
}

const char *refapp_request_origin(void)
{
    return current_origin;
}

const char *refapp_request_redirect_uri(void)
{
    return current_redirect_uri;
}

char *refapp_request_cookie(struct mg_connection *conn, const char *name)
{
    const char *header = mg_get_header(conn, "Cookie");
    if (!header)
        return NULL;
    size_t size = strlen(header) + 1;
    char *value = malloc(size);
    if (value && mg_get_cookie(header, name, value, size) < 0) {
        free(value);
        value = NULL;
    }
    return value;
}

void refapp_note(struct hx_app *app, const char *fmt, ...)
{
    char text[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    json_t *data = current_instance >= 0 ? json_pack("{s:i}", "instance", current_instance) : NULL;
    if (app->name[0]) {
        /* The world's name for the component: "prod", or "stg#2" for an instance. */
        char component[96];
        if (current_instance >= 0)
            snprintf(component, sizeof(component), "%s#%d", app->name, current_instance + 1);
        else
            snprintf(component, sizeof(component), "%s", app->name);
        if (!data)
            data = json_object();
        json_object_set_new(data, "component", json_string(component));
    }
    hx_timeline_add_data(app->timeline, idp_clock_now_ms(app->clock), "app", data, "%s", text);
}

void refapp_record(struct hx_app *app, json_t *data)
{
    if (current_instance >= 0)
        json_object_set_new(data, "instance", json_integer(current_instance));
    hx_timeline_add_data(app->timeline, idp_clock_now_ms(app->clock), "app", data, NULL);
}

void refapp_token_field(json_t *data, const char *key, const char *token)
{
    char hash[16];
    if (!token)
        return;
    hx_timeline_hash(token, hash);
    json_object_set_new(data, key, json_string(hash));
}

void refapp_reply_header(struct reply *r, const char *name, const char *fmt, ...)
{
    char value[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(value, sizeof(value), fmt, ap);
    va_end(ap);
    int n = snprintf(r->headers + r->headers_len, sizeof(r->headers) - r->headers_len,
                     "%s: %s\r\n", name, value);
    if (n > 0 && (size_t)n < sizeof(r->headers) - r->headers_len)
        r->headers_len += (size_t)n;
}

void refapp_reply_json(struct reply *r, int status, json_t *body)
{
    r->status = status;
    snprintf(r->content_type, sizeof(r->content_type), "application/json");
    free(r->body);
    r->body = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(body);
}

void refapp_reply_redirect(struct reply *r, const char *location)
{
    r->status = 302;
    snprintf(r->content_type, sizeof(r->content_type), "text/plain");
    free(r->body);
    r->body = strdup("");
    refapp_reply_header(r, "Location", "%s", location);
}

/* The whole response in one write: CivetWeb's header functions send every
 * header line on its own (a system call and a packet apiece). Frees the
 * body. */
void refapp_reply_send(struct mg_connection *conn, struct reply *r)
{
    size_t body_len = r->body ? strlen(r->body) : 0;
    int status = r->status ? r->status : 500;
    const char *type = r->content_type[0] ? r->content_type : "text/plain";
#define APP_HEAD "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%.*s\r\n"
#define APP_HEAD_ARGS status, mg_get_response_code_text(conn, status), type, body_len, \
                      (int)r->headers_len, r->headers
    int head_len = snprintf(NULL, 0, APP_HEAD, APP_HEAD_ARGS);
    char *out = head_len > 0 ? malloc((size_t)head_len + body_len + 1) : NULL;
    if (out) {
        snprintf(out, (size_t)head_len + 1, APP_HEAD, APP_HEAD_ARGS);
        if (body_len)
            memcpy(out + head_len, r->body, body_len);
        mg_write(conn, out, (size_t)head_len + body_len);
        free(out);
    } else {
        mg_disable_connection_keep_alive(conn);
    }
#undef APP_HEAD
#undef APP_HEAD_ARGS
    free(r->body);
    r->body = NULL;
}
