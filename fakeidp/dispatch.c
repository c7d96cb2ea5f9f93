/* The one request path every route shares: read the request and its body,
 * match a route, let faults act before and after the handler, add CORS,
 * journal the request, send the response in one write, log it. */
#include "dispatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "routes.h"
#include "server_internal.h"

/* CORS: an allowed origin is echoed exactly, with credentials; never '*'. */
static bool origin_allowed(struct idp_server *server, const char *origin)
{
    if (!origin)
        return false;
    bool allowed = false;
    pthread_mutex_lock(&server->lock);
    size_t bucket = 0;
    for (struct idp_map_entry *e = idp_map_next(&server->store.clients, &bucket, NULL);
         e && !allowed; e = idp_map_next(&server->store.clients, &bucket, e)) {
        struct idp_client *c = e->value;
        allowed = idp_patterns_match(c->allowed_origins, origin);
    }
    pthread_mutex_unlock(&server->lock);
    return allowed;
}

static void add_cors(struct idp_server *server, struct idp_request *req,
                     struct idp_response *resp)
{
    const char *origin = idp_request_header(req, "Origin");
    if (!origin_allowed(server, origin))
        return;
    idp_response_header(resp, "Access-Control-Allow-Origin", "%s", origin);
    idp_response_header(resp, "Access-Control-Allow-Credentials", "true");
    idp_response_header(resp, "Vary", "Origin");
}

/* The whole response in one write: CivetWeb's header functions send each
 * header line on its own, which costs a system call (and a packet) apiece. */
static void send_response(struct idp_server *server, struct mg_connection *conn,
                          struct idp_request *req, struct idp_response *resp)
{
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    bool head = strcmp(req->method, "HEAD") == 0;
    size_t body_len = head ? 0 : resp->body_len;
    /* Clients that pool connections (Node's undici) read Keep-Alive and let
     * a connection go before the server closes it under them. */
    char keep_alive[48] = "";
    if (server->keep_alive_s > 0)
        snprintf(keep_alive, sizeof(keep_alive), "Keep-Alive: timeout=%d\r\n", server->keep_alive_s);
#define HEAD_FORMAT "HTTP/1.1 %d %s\r\n%s%s%sContent-Length: %zu\r\nX-Request-ID: %s\r\nDate: %s\r\n%s%.*s\r\n"
#define HEAD_ARGS resp->status, mg_get_response_code_text(conn, resp->status),                 \
                  resp->content_type[0] ? "Content-Type: " : "", resp->content_type,          \
                  resp->content_type[0] ? "\r\n" : "", resp->body_len, req->request_id, date, \
                  keep_alive, (int)resp->headers_len, resp->headers ? resp->headers : ""
    int head_len = snprintf(NULL, 0, HEAD_FORMAT, HEAD_ARGS);
    char *out = head_len > 0 ? malloc((size_t)head_len + body_len + 1) : NULL;
    if (!out) {
        mg_disable_connection_keep_alive(conn); /* no reply could be built: close */
        return;
    }
    snprintf(out, (size_t)head_len + 1, HEAD_FORMAT, HEAD_ARGS);
#undef HEAD_FORMAT
#undef HEAD_ARGS
    if (body_len)
        memcpy(out + head_len, resp->body, body_len);
    mg_write(conn, out, (size_t)head_len + body_len);
    free(out);
}

static void log_request(struct idp_server *server, const struct idp_journal_entry *e)
{
    if (!server->log)
        return;
    if (server->log_json) {
        json_t *j = idp_journal_entry_json(e);
        char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (text)
            fprintf(server->log, "%s\n", text);
        free(text);
        json_decref(j);
    } else {
        fprintf(server->log, "%s %s %d %s%s%s%s%s %.1fms\n", e->method, e->path, e->status,
                e->route, e->grant_type[0] ? " " : "", e->grant_type,
                e->outcome[0] ? " " : "", e->outcome, e->duration_ms);
    }
    fflush(server->log);
}

/* Two Content-Length headers that disagree: which body is meant is unknown
 * (request smuggling works on exactly that), so the request is refused. */
static bool conflicting_lengths(const struct mg_request_info *info)
{
    const char *first = NULL;
    for (int i = 0; i < info->num_headers; i++) {
        if (strcasecmp(info->http_headers[i].name, "Content-Length") != 0)
            continue;
        if (first && strcmp(first, info->http_headers[i].value) != 0)
            return true;
        first = info->http_headers[i].value;
    }
    return false;
}

static bool read_body(struct mg_connection *conn, struct idp_request *req, int64_t limit)
{
    long long declared = req->info->content_length;
    if (declared > limit)
        return false;
    /* No Content-Length and not chunked: there is no body. (Reading anyway
     * waits on the connection, which over TLS ends in a reset.) */
    const char *te = mg_get_header(conn, "Transfer-Encoding");
    if (declared <= 0 && !(te && strcasecmp(te, "chunked") == 0)) {
        req->body = calloc(1, 1);
        req->body_len = 0;
        return req->body != NULL;
    }
    size_t cap = declared > 0 ? (size_t)declared : 4096, len = 0;
    if ((int64_t)cap > limit) /* a chunked body must not exceed the limit either */
        cap = limit > 0 ? (size_t)limit : 0;
    char *buf = malloc(cap + 1);
    if (!buf)
        return false;
    for (;;) {
        if (len == cap) {
            if ((int64_t)cap >= limit) {
                /* Full at the limit: too large only if more follows. */
                char probe;
                if (mg_read(conn, &probe, 1) <= 0)
                    break;
                free(buf);
                return false;
            }
            cap = cap * 2 > (size_t)limit ? (size_t)limit : cap * 2;
            char *grown = realloc(buf, cap + 1);
            if (!grown) {
                free(buf);
                return false;
            }
            buf = grown;
        }
        int n = mg_read(conn, buf + len, cap - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    req->body = buf;
    req->body_len = len;
    return true;
}

int idp_dispatch(struct mg_connection *conn, void *data)
{
    struct idp_server *server = data;
    struct idp_request req = {0};
    struct idp_response resp = {0};
    req.conn = conn;
    req.info = mg_get_request_info(conn);
    req.method = req.info->request_method;
    req.path = req.info->local_uri ? req.info->local_uri : "/";
    req.query = req.info->query_string;
    req.wall_start_ms = idp_wall_now_ms();
    /* Counted in flight (idp_server_reuse waits for none), and ordered
     * after a reuse's new configuration by the lock. */
    int64_t limit;
    pthread_mutex_lock(&server->lock);
    server->active_requests++;
    limit = server->settings.max_body_bytes;
    pthread_mutex_unlock(&server->lock);
    req.now_ms = idp_clock_now_ms(server->clock);

    const char *given_id = idp_request_header(&req, "X-Request-ID");
    if (given_id && strlen(given_id) < sizeof(req.request_id) && *given_id)
        snprintf(req.request_id, sizeof(req.request_id), "%s", given_id);
    else
        idp_random_ulid(&server->rng, "req_", req.now_ms, req.request_id, sizeof(req.request_id));

    struct idp_journal_entry *e = &req.entry;
    snprintf(e->method, sizeof(e->method), "%s", req.method);
    snprintf(e->path, sizeof(e->path), "%s", req.path);
    snprintf(e->request_id, sizeof(e->request_id), "%s", req.request_id);

    char arg[256];
    bool method_mismatch;
    const struct idp_route *route = idp_route_find(req.method, req.path, arg, sizeof(arg),
                                                   &method_mismatch);
    req.path_arg = arg;
    snprintf(e->route, sizeof(e->route), "%s", route ? route->name : IDP_ROUTE_NONE);

    enum idp_fault_outcome outcome = IDP_FAULT_CONTINUE;
    if (conflicting_lengths(req.info)) {
        idp_response_code_error(&resp, 400, "invalid_request",
                                "Conflicting Content-Length headers.");
        mg_disable_connection_keep_alive(conn);
    } else if (strcmp(req.method, "OPTIONS") == 0) {
        idp_response_text(&resp, 204, "", "", 0);
        const char *origin = idp_request_header(&req, "Origin");
        if (origin_allowed(server, origin)) {
            idp_response_header(&resp, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
            const char *asked = idp_request_header(&req, "Access-Control-Request-Headers");
            idp_response_header(&resp, "Access-Control-Allow-Headers", "%s",
                                asked ? asked : "content-type, authorization");
            idp_response_header(&resp, "Access-Control-Max-Age", "600");
        }
    } else if (!read_body(conn, &req, limit)) {
        idp_response_code_error(&resp, 413, "payload_too_large",
                                "Request body exceeds %lld bytes.", (long long)limit);
        mg_disable_connection_keep_alive(conn);
    } else if (!route) {
        if (method_mismatch) {
            char allow[64];
            idp_route_allowed_methods(req.path, allow, sizeof(allow));
            idp_response_code_error(&resp, 405, "method_not_allowed",
                                    "%s is not allowed on %s (it takes %s).", req.method,
                                    req.path, allow);
            idp_response_header(&resp, "Allow", "%s", allow);
        } else
            idp_response_code_error(&resp, 404, "not_found", "No route for %s %s.", req.method,
                                    req.path);
    } else {
        idp_request_parse_params(&req);
        /* Known before any handler runs, so requests a fault answers are
         * journaled with what they asked for too. */
        const char *grant = idp_request_param(&req, "grant_type");
        const char *client = idp_request_param(&req, "client_id");
        if (strcmp(route->name, "admin") != 0) {
            snprintf(e->grant_type, sizeof(e->grant_type), "%s", grant ? grant : "");
            snprintf(e->client_id, sizeof(e->client_id), "%s", client ? client : "");
        }
        outcome = idp_faults_before(server, &req, &resp);
        if (outcome == IDP_FAULT_CONTINUE) {
            route->handler(server, &req, &resp);
            outcome = idp_faults_after(server, &req, &resp);
            /* A refresh exchange stays in flight until here, after-phase
             * faults (a slow reply) included. */
            idp_refresh_settle(server, &req);
        }
    }
    add_cors(server, &req, &resp);

    if (outcome != IDP_FAULT_NO_REPLY && !resp.status)
        idp_response_code_error(&resp, 500, "server_error", "The handler gave no response.");
    int status = resp.status; /* 0: the connection was dropped without a reply */
    e->status = status;
    e->virtual_ms = req.now_ms;
    e->wall_ms = req.wall_start_ms;
    e->duration_ms = (double)(idp_wall_now_ms() - req.wall_start_ms);
    /* Journal before replying: whoever saw the reply can read its entry. */
    if (strncmp(req.path, "/_fakeidp/journal", 17) != 0) {
        pthread_mutex_lock(&server->lock);
        idp_journal_add(&server->journal, e);
        pthread_mutex_unlock(&server->lock);
    }
    if (outcome != IDP_FAULT_NO_REPLY)
        send_response(server, conn, &req, &resp);
    log_request(server, e);
    json_decref(req.params);
    free(req.body);
    idp_response_reset(&resp);
    pthread_mutex_lock(&server->lock);
    if (--server->active_requests == 0)
        pthread_cond_broadcast(&server->idle);
    pthread_mutex_unlock(&server->lock);
    return status ? status : 1;
}

int idp_dispatch_log_message(const struct mg_connection *conn, const char *message)
{
    (void)conn;
    (void)message;
    return 1; /* CivetWeb's own messages are noise here; requests are journaled. */
}

int idp_dispatch_http_error(struct mg_connection *conn, int status, const char *errmsg)
{
    const char *code = status == 400   ? "invalid_request"
                       : status == 411 ? "length_required"
                       : status == 413 ? "payload_too_large"
                       : status == 505 ? "http_version_not_supported"
                       : status >= 500 ? "server_error"
                                       : "invalid_request";
    json_t *body = json_pack("{s:s, s:s}", "message", errmsg && *errmsg ? errmsg : "Bad request",
                             "code", code);
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(body);
    mg_disable_connection_keep_alive(conn);
    mg_printf(conn,
              "HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=utf-8\r\n"
              "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
              status, mg_get_response_code_text(NULL, status), text ? strlen(text) : 0,
              text ? text : "");
    free(text);
    return 0;
}
