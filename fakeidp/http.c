/* Request and response records: what route handlers read and write, and
 * how a request's parameters are read from its query or body. */
#include "http.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server_internal.h"

void idp_response_reset(struct idp_response *resp)
{
    free(resp->body);
    free(resp->headers);
    memset(resp, 0, sizeof(*resp));
}

static void set_body(struct idp_response *resp, int status, const char *content_type,
                     char *body, size_t len)
{
    free(resp->body);
    resp->status = status;
    snprintf(resp->content_type, sizeof(resp->content_type), "%s", content_type);
    resp->body = body;
    resp->body_len = len;
}

void idp_response_json(struct idp_response *resp, int status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(body);
    if (!text) {
        text = strdup("{\"message\":\"Internal error\",\"code\":\"server_error\"}");
        status = 500;
    }
    set_body(resp, status, "application/json; charset=utf-8", text, text ? strlen(text) : 0);
}

void idp_response_text(struct idp_response *resp, int status, const char *content_type,
                       const char *body, size_t len)
{
    char *copy = malloc(len + 1);
    if (copy) {
        memcpy(copy, body, len);
        copy[len] = '\0';
    }
    set_body(resp, status, content_type, copy, copy ? len : 0);
}

void idp_response_oauth_error(struct idp_response *resp, int status, const char *error,
                              const char *fmt, ...)
{
    char description[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(description, sizeof(description), fmt, ap);
    va_end(ap);
    idp_response_json(resp, status,
                      json_pack("{s:s, s:s}", "error", error, "error_description", description));
}

void idp_response_code_error(struct idp_response *resp, int status, const char *code,
                             const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    idp_response_json(resp, status, json_pack("{s:s, s:s}", "message", message, "code", code));
}

void idp_response_header(struct idp_response *resp, const char *name, const char *fmt, ...)
{
    /* Sized to fit: a long Location (a 4 KB redirect_uri with its code) is
     * sent whole, never cut. */
    va_list ap, again;
    va_start(ap, fmt);
    va_copy(again, ap);
    int value_len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    size_t name_len = strlen(name);
    size_t add = value_len < 0 ? 0 : name_len + (size_t)value_len + 4;
    char *grown = add ? realloc(resp->headers, resp->headers_len + add + 1) : NULL;
    if (!grown) {
        va_end(again);
        /* No memory for it: the whole reply is replaced, never sent without it. */
        idp_response_reset(resp);
        resp->status = 500;
        return;
    }
    resp->headers = grown;
    char *line = grown + resp->headers_len;
    snprintf(line, name_len + 3, "%s: ", name);
    vsnprintf(line + name_len + 2, (size_t)value_len + 1, fmt, again);
    va_end(again);
    /* Header injection guard: values never carry line breaks. */
    for (char *p = line + name_len + 2; *p; p++)
        if (*p == '\r' || *p == '\n')
            *p = ' ';
    memcpy(line + name_len + 2 + value_len, "\r\n", 3);
    resp->headers_len += add;
}

void idp_response_redirect(struct idp_response *resp, const char *location)
{
    idp_response_text(resp, 302, "text/plain; charset=utf-8", "", 0);
    idp_response_header(resp, "Location", "%s", location);
}

const char *idp_request_header(const struct idp_request *req, const char *name)
{
    for (int i = 0; i < req->info->num_headers; i++)
        if (strcasecmp(req->info->http_headers[i].name, name) == 0)
            return req->info->http_headers[i].value;
    return NULL;
}

const char *idp_request_param(const struct idp_request *req, const char *name)
{
    return json_string_value(json_object_get(req->params, name));
}

bool idp_request_cookie(const struct idp_request *req, const char *name, char *out, size_t size)
{
    const char *cookie = idp_request_header(req, "Cookie");
    return cookie && mg_get_cookie(cookie, name, out, size) >= 0;
}

const char *idp_request_bearer(const struct idp_request *req)
{
    const char *auth = idp_request_header(req, "Authorization");
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
        return NULL;
    auth += 7;
    while (*auth == ' ')
        auth++;
    return auth;
}

json_t *idp_parse_form(const char *text, size_t len)
{
    json_t *obj = json_object();
    size_t start = 0;
    while (obj && start < len) {
        size_t end = start;
        while (end < len && text[end] != '&')
            end++;
        size_t eq = start;
        while (eq < end && text[eq] != '=')
            eq++;
        size_t key_len = eq - start, value_len = eq < end ? end - eq - 1 : 0;
        char *key = malloc(key_len + 1), *value = malloc(value_len + 1);
        if (key && value && key_len > 0) {
            int k = mg_url_decode(text + start, (int)key_len, key, (int)key_len + 1, 1);
            int v = eq < end ? mg_url_decode(text + eq + 1, (int)value_len, value,
                                             (int)value_len + 1, 1)
                             : 0;
            /* A decoded NUL ("%00") would cut the text short: a token with
             * junk after it would pass as the token. Such a pair is dropped. */
            if (k >= 0 && v >= 0 && !memchr(key, '\0', (size_t)k) &&
                !memchr(value, '\0', (size_t)v)) {
                value[v < 0 ? 0 : v] = '\0';
                /* The first occurrence wins; invalid UTF-8 makes no string. */
                json_t *s = json_string(value);
                if (s && !json_object_get(obj, key))
                    json_object_set_new(obj, key, s);
                else
                    json_decref(s);
            }
        }
        free(key);
        free(value);
        start = end + 1;
    }
    return obj;
}

/* jansson parses recursively and CivetWeb's workers have small stacks (100 KB
 * in Debian's build): a body of a thousand '[' overflowed one and took the
 * server down. Request bodies are shallow; deeper ones are refused unparsed. */
#define IDP_MAX_JSON_DEPTH 64

static bool json_too_deep(const char *text, size_t len)
{
    int depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > IDP_MAX_JSON_DEPTH)
                return true;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return false;
}

void idp_request_parse_params(struct idp_request *req)
{
    if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0 ||
        strcmp(req->method, "DELETE") == 0 || !req->body_len) {
        req->params = req->query ? idp_parse_form(req->query, strlen(req->query)) : json_object();
        return;
    }
    /* A form body is parsed as a form; anything else (or a form-labelled body
     * that is plainly JSON, as `curl -d '{…}'` sends) as JSON. */
    const char *type = idp_request_header(req, "Content-Type");
    size_t lead = strspn(req->body, " \t\r\n");
    if (type && strncasecmp(type, "application/x-www-form-urlencoded", 33) == 0 &&
        req->body[lead] != '{') {
        req->params = idp_parse_form(req->body, req->body_len);
        return;
    }
    json_error_t jerr;
    json_t *body = json_too_deep(req->body, req->body_len)
                       ? NULL
                       : json_loadb(req->body, req->body_len, 0, &jerr);
    if (!json_is_object(body)) {
        json_decref(body);
        req->params = json_object();
        req->params_bad = true;
        req->params_error = "Problems parsing JSON";
        return;
    }
    req->params = body;
}

bool idp_require_api_key(struct idp_server *server, struct idp_request *req,
                         struct idp_response *resp)
{
    const char *key = idp_request_bearer(req);
    pthread_mutex_lock(&server->lock);
    bool ok = idp_store_api_key_valid(&server->store, key);
    pthread_mutex_unlock(&server->lock);
    if (!ok)
        idp_response_code_error(resp, 401, "unauthorized", "Unauthorized");
    return ok;
}
