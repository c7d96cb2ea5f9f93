/* Server lifecycle and the one request path every route shares: read and
 * parse the request, match a route, let faults act before and after the
 * handler, send the response, journal it. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mgstop.h"
#include "tls.h"
#include "server_internal.h"

static const struct idp_route routes[] = {
    {"GET", "/user_management/authorize", "authorize", idp_route_authorize},
    {"POST", "/user_management/authorize", "authorize", idp_route_authorize},
    {"POST", "/user_management/authenticate", "authenticate", idp_route_authenticate},
    {"GET", "/sso/jwks/*", "jwks", idp_route_jwks},
    {"GET", "/.well-known/openid-configuration", "discovery", idp_route_discovery},
    {"GET", "/user_management/*/.well-known/openid-configuration", "discovery",
     idp_route_discovery},
    {"GET", "/user_management/sessions/logout", "logout", idp_route_logout},
    {"POST", "/user_management/sessions/revoke", "revoke", idp_route_revoke},
    {"GET", "/user_management/users/*/sessions", "sessions", idp_route_sessions_list},
    {"GET", "/user_management/users/*", "users", idp_route_user},
    {"POST", "/user_management/users", "users", idp_route_create_user},
    {"GET", "/user_management/users", "users", idp_route_list_users},
    {"POST", "/user_management/users/*/email_verification/send", "email_verification",
     idp_route_send_verification_email},
    {"POST", "/user_management/users/*/email_verification/confirm", "email_verification",
     idp_route_verify_email},
    {"GET", "/user_management/email_verification/*", "email_verification",
     idp_route_get_email_verification},
    {"POST", "/user_management/magic_auth", "magic_auth", idp_route_create_magic_auth},
    {"GET", "/user_management/magic_auth/*", "magic_auth", idp_route_get_magic_auth},
    {"POST", "/user_management/password_reset", "password_reset", idp_route_create_password_reset},
    {"POST", "/user_management/password_reset/confirm", "password_reset",
     idp_route_reset_password},
    {"GET", "/user_management/password_reset/*", "password_reset", idp_route_get_password_reset},
    {"POST", "/user_management/invitations", "invitations", idp_route_send_invitation},
    {"POST", "/organizations", "organizations", idp_route_create_organization},
    {"GET", "/organizations/*", "organizations", idp_route_get_organization},
    {"POST", "/user_management/organization_memberships", "memberships",
     idp_route_create_membership},
    {"GET", "/user_management/organization_memberships", "memberships",
     idp_route_list_memberships},
    {"POST", "/user_management/users/*/auth_factors", "auth_factors", idp_route_enroll_factor},
    {"GET", "/user_management/users/*/auth_factors", "auth_factors", idp_route_list_factors},
    {"POST", "/auth/factors/*/challenge", "auth_factors", idp_route_challenge_factor},
    {"POST", "/auth/challenges/*/verify", "auth_factors", idp_route_verify_challenge},
    {NULL, "/_fakeidp/**", "admin", idp_route_admin},
};

#define ROUTE_COUNT (sizeof(routes) / sizeof(routes[0]))
static const char *route_names[ROUTE_COUNT + 2];
static pthread_once_t route_names_once = PTHREAD_ONCE_INIT;

static void collect_route_names(void)
{
    size_t n = 0;
    for (size_t i = 0; i < ROUTE_COUNT; i++) {
        bool seen = false;
        for (size_t j = 0; j < n && !seen; j++)
            seen = strcmp(route_names[j], routes[i].name) == 0;
        if (!seen)
            route_names[n++] = routes[i].name;
    }
    route_names[n++] = IDP_ROUTE_NONE;
    route_names[n] = NULL;
}

const char *const *idp_route_names(void)
{
    pthread_once(&route_names_once, collect_route_names);
    return route_names;
}

/* Matches path against pattern; '*' is one segment (captured), a trailing
 * '**' is the rest of the path. */
static bool route_match(const char *pattern, const char *path, const char **arg,
                        size_t *arg_len)
{
    while (*pattern && *path) {
        if (pattern[0] == '*' && pattern[1] == '*') {
            *arg = path;
            *arg_len = strlen(path);
            return true;
        }
        if (*pattern == '*') {
            const char *end = strchr(path, '/');
            size_t len = end ? (size_t)(end - path) : strlen(path);
            if (len == 0)
                return false;
            *arg = path;
            *arg_len = len;
            path += len;
            pattern++;
            continue;
        }
        if (*pattern != *path)
            return false;
        pattern++;
        path++;
    }
    if (pattern[0] == '*' && pattern[1] == '*' && !*path) {
        *arg = path;
        *arg_len = 0;
        return true;
    }
    return !*pattern && !*path;
}

static const struct idp_route *find_route(const char *method, const char *path,
                                          char *arg, size_t arg_size, bool *method_mismatch)
{
    *method_mismatch = false;
    for (size_t i = 0; i < ROUTE_COUNT; i++) {
        const char *a = NULL;
        size_t len = 0;
        if (!route_match(routes[i].pattern, path, &a, &len))
            continue;
        if (routes[i].method && strcmp(routes[i].method, method) != 0) {
            *method_mismatch = true;
            continue;
        }
        snprintf(arg, arg_size, "%.*s", (int)(len < arg_size ? len : arg_size - 1), a ? a : "");
        return &routes[i];
    }
    return NULL;
}

/* The methods path takes, "GET, POST, OPTIONS", for a 405's Allow header
 * (the admin API names its own). */
static void allowed_methods(const char *path, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const char *a = NULL;
        size_t len = 0;
        if (!routes[i].method || !route_match(routes[i].pattern, path, &a, &len) ||
            strstr(out, routes[i].method))
            continue;
        int n = snprintf(out + used, size - used, "%s, ", routes[i].method);
        if (n > 0 && (size_t)n < size - used)
            used += (size_t)n;
    }
    snprintf(out + used, size - used, "OPTIONS");
}

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

static int handle(struct mg_connection *conn, void *data)
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
    const struct idp_route *route = find_route(req.method, req.path, arg, sizeof(arg),
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
            allowed_methods(req.path, allow, sizeof(allow));
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

static int log_message(const struct mg_connection *conn, const char *message)
{
    (void)conn;
    (void)message;
    return 1; /* CivetWeb's own messages are noise here; requests are journaled. */
}

/* CivetWeb answers what it cannot parse (request line, headers, Content-Length,
 * HTTP version) itself, in text/plain and with a status line that echoes the
 * request's version text. Those answers are WorkOS-shaped JSON too, with a
 * status line of our own, and close the connection. */
static int http_error(struct mg_connection *conn, int status, const char *errmsg)
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

/* localhost, ::1 and 127.0.0.0/8 written as an address: a host *name* that
 * starts with "127." (127.example.com) can resolve anywhere. */
static bool is_loopback(const char *host)
{
    struct in_addr v4;
    struct in6_addr v6;
    if (strcmp(host, "localhost") == 0)
        return true;
    if (inet_pton(AF_INET, host, &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    return inet_pton(AF_INET6, host, &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

/* Why host:port cannot be bound (strerror, e.g. "Address already in use"),
 * or "" when it can. */
static void bind_error(const char *host, int port, char *out, size_t size)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV | AI_NUMERICHOST};
    struct addrinfo *ai = NULL;
    char service[16];
    snprintf(service, sizeof(service), "%d", port);
    out[0] = '\0';
    if (getaddrinfo(host, service, &hints, &ai) != 0 || !ai)
        return;
    int fd = socket(ai->ai_family, SOCK_STREAM, 0);
    int one = 1;
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1) != 0)
            snprintf(out, size, "%s", strerror(errno));
        close(fd);
    }
    freeaddrinfo(ai);
}

/* Worker threads that fit the file-descriptor limit. CivetWeb's accept loop
 * spins when accept() fails for want of descriptors, so the server never
 * accepts more than it can hold: a worker per connection, a queue of
 * IDP_ACCEPT_QUEUE, two descriptors per TLS relay, and IDP_FD_RESERVE for
 * everything else (files, the process's own clients). The soft limit is
 * raised to the hard one first. Returns 0 when even one worker does not fit. */
#define IDP_ACCEPT_QUEUE 16
#define IDP_FD_RESERVE 32

static int threads_that_fit(int wanted, bool tls, int *relays)
{
    struct rlimit rl;
    long budget = 1L << 20;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur < rl.rlim_max) {
            struct rlimit raised = {rl.rlim_max, rl.rlim_max};
            if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
                rl = raised;
        }
        if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)budget)
            budget = (long)rl.rlim_cur;
    }
    budget -= IDP_FD_RESERVE + IDP_ACCEPT_QUEUE + 1;
    long threads = wanted;
    if (tls) {
        /* Every relay needs its client, its backend and the backend's worker. */
        long fit = budget / 3;
        *relays = (int)(fit < IDP_TLS_MAX_RELAYS ? fit : IDP_TLS_MAX_RELAYS);
        if (threads > *relays)
            threads = *relays;
    } else if (threads > budget) {
        threads = budget;
    }
    return threads > 0 ? (int)threads : 0;
}

enum idp_status idp_server_reset_locked(struct idp_server *server, struct idp_error *err)
{
    struct idp_settings settings;
    idp_settings_defaults(&settings);
    const json_t *given = json_object_get(server->config, "settings");
    enum idp_status status = given ? idp_settings_apply(&settings, given, err) : IDP_OK;
    if (status)
        return status;
    struct idp_store store;
    idp_store_init(&store);
    status = idp_store_configure(&store, server->config, idp_clock_now_ms(server->clock), err);
    if (status) {
        idp_store_cleanup(&store);
        return status;
    }
    status = idp_faults_configure(&server->faults, json_object_get(server->config, "faults"),
                                  idp_clock_now_ms(server->clock), err);
    if (status) {
        idp_store_cleanup(&store);
        return status;
    }
    idp_store_cleanup(&server->store);
    server->store = store;
    pthread_cond_broadcast(&server->refresh_done); /* their tokens are gone */
    server->settings = settings;
    idp_journal_cleanup(&server->journal);
    idp_journal_init(&server->journal, (size_t)settings.journal_size);
    return IDP_OK;
}

static enum idp_status check_config_keys(const json_t *config, struct idp_error *err)
{
    static const char *const allowed[] = {"settings", "api_keys", "clients", "organizations",
                                          "users", "faults", NULL};
    if (!config)
        return IDP_OK;
    if (!json_is_object(config))
        return idp_fail(err, IDP_INVALID, "the configuration must be a JSON object");
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)config, key, value) {
        bool known = false;
        for (int i = 0; allowed[i]; i++)
            known = known || strcmp(allowed[i], key) == 0;
        if (!known)
            return idp_fail(err, IDP_INVALID, "unknown configuration key \"%s\"", key);
    }
    return IDP_OK;
}

struct idp_server *idp_server_start(const struct idp_server_options *options,
                                    struct idp_error *err)
{
    const char *host = options->host ? options->host : "127.0.0.1";
    if (!is_loopback(host) && !options->allow_remote) {
        idp_fail(err, IDP_DENIED,
                 "refusing to listen on %s: fakeidp serves test credentials; pass "
                 "--allow-remote to bind beyond loopback",
                 host);
        return NULL;
    }
    if (!options->key) {
        idp_fail(err, IDP_INVALID, "no signing key");
        return NULL;
    }
    if (check_config_keys(options->config, err))
        return NULL;
    struct idp_server *server = calloc(1, sizeof(*server));
    if (!server) {
        idp_fail(err, IDP_NOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&server->lock, NULL);
    pthread_cond_init(&server->refresh_done, NULL);
    pthread_cond_init(&server->idle, NULL);
    idp_clock_init(&server->own_clock);
    server->clock = options->clock ? options->clock : &server->own_clock;
    idp_random_init(&server->rng, options->seed);
    idp_store_init(&server->store);
    idp_keyset_init(&server->keys);
    idp_faults_init(&server->faults);
    idp_journal_init(&server->journal, 1);
    server->config = options->config ? json_deep_copy(options->config) : json_object();
    server->log = options->log;
    server->log_json = options->log_json;
    snprintf(server->host, sizeof(server->host), "%s", host);
    if (options->admin_token && strlen(options->admin_token) >= sizeof(server->admin_token)) {
        idp_fail(err, IDP_INVALID, "the admin token is %zu bytes; at most %zu are allowed",
                 strlen(options->admin_token), sizeof(server->admin_token) - 1);
        idp_server_stop(&server);
        return NULL;
    }
    if (options->admin_token)
        snprintf(server->admin_token, sizeof(server->admin_token), "%s", options->admin_token);
    if (options->rotation_key_dir)
        snprintf(server->rotation_key_dir, sizeof(server->rotation_key_dir), "%s",
                 options->rotation_key_dir);
    if (!is_loopback(host) && !server->admin_token[0]) {
        /* Reachable from elsewhere: the admin API must not be open. */
        idp_random_token(&server->rng, server->admin_token, 32);
        fprintf(stderr, "fakeidp: admin token (required on /_fakeidp/): %s\n",
                server->admin_token);
    }

    if (idp_server_reset_locked(server, err) ||
        idp_keyset_add(&server->keys, options->key, IDP_TIME_ALWAYS, IDP_TIME_ALWAYS,
                       IDP_TIME_NEVER, err)) {
        idp_server_stop(&server);
        return NULL;
    }

    char ports[128], threads[16], timeout[16], keep_alive[16], queue[16];
    bool v6 = strchr(host, ':') != NULL;
    const char *bind_host = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
    /* With TLS, CivetWeb serves plain HTTP on loopback behind our TLS front. */
    if (options->tls_cert)
        snprintf(ports, sizeof(ports), "127.0.0.1:0");
    else
        snprintf(ports, sizeof(ports), v6 ? "[%s]:%d" : "%s:%d", bind_host, options->port);
    int relays = 0;
    int wanted = options->threads > 0 ? options->threads : IDP_DEFAULT_THREADS;
    int fit = threads_that_fit(wanted > IDP_MAX_THREADS ? IDP_MAX_THREADS : wanted,
                               options->tls_cert != NULL, &relays);
    if (!fit) {
        idp_fail(err, IDP_IO, "too few file descriptors (ulimit -n) to serve requests");
        idp_server_stop(&server);
        return NULL;
    }
    int request_timeout = options->request_timeout_ms > 0 ? options->request_timeout_ms
                                                          : IDP_DEFAULT_REQUEST_TIMEOUT_MS;
    snprintf(threads, sizeof(threads), "%d", fit);
    snprintf(timeout, sizeof(timeout), "%d", request_timeout);
    int keep_alive_ms = options->keep_alive_timeout_ms > 0 ? options->keep_alive_timeout_ms
                                                           : IDP_DEFAULT_KEEP_ALIVE_TIMEOUT_MS;
    snprintf(keep_alive, sizeof(keep_alive), "%d", keep_alive_ms);
    server->keep_alive_s = keep_alive_ms / 1000;
    snprintf(queue, sizeof(queue), "%d", IDP_ACCEPT_QUEUE);
    const char *mg_options[] = {"listening_ports", ports,
                                "num_threads", threads,
                                "request_timeout_ms", timeout,
                                "enable_keep_alive", "yes",
                                "tcp_nodelay", "1",
                                "keep_alive_timeout_ms", keep_alive,
                                "connection_queue", queue,
                                "max_request_size", "65536",
                                /* CORS is ours (exact origin, credentials): CivetWeb
                                 * would answer preflights itself with '*'. */
                                "access_control_allow_origin", "",
                                "access_control_allow_methods", "",
                                NULL, NULL};
    struct mg_callbacks callbacks = {0};
    callbacks.log_message = log_message;
    callbacks.http_error = http_error;
    struct mg_init_data init = {.callbacks = &callbacks, .user_data = server,
                                .configuration_options = mg_options};
    struct mg_error_data error = {0};
    char error_text[256] = "";
    error.text = error_text;
    error.text_buffer_size = sizeof(error_text);
    server->ctx = mg_start2(&init, &error);
    if (!server->ctx) {
        /* CivetWeb says only "Failed to setup server ports": binding the
         * same address here tells why (address already in use, …). */
        char why[128] = "";
        if (!options->tls_cert)
            bind_error(bind_host, options->port, why, sizeof(why));
        idp_fail(err, IDP_IO, "cannot listen on %s: %s", ports,
                 why[0] ? why : error_text[0] ? error_text : "unknown error");
        idp_server_stop(&server);
        return NULL;
    }
    struct mg_server_port port = {0};
    if (mg_get_server_ports(server->ctx, 1, &port) < 1) {
        idp_fail(err, IDP_IO, "cannot read the listening port");
        idp_server_stop(&server);
        return NULL;
    }
    server->port = server->http_port = port.port;
    if (options->tls_cert) {
        server->tls_front = idp_tls_front_start(bind_host, options->port, options->tls_cert,
                                                server->http_port, relays, request_timeout,
                                                err);
        if (!server->tls_front) {
            idp_server_stop(&server);
            return NULL;
        }
        server->port = idp_tls_front_port(server->tls_front);
        server->tls = true;
    }
    snprintf(server->url, sizeof(server->url), v6 ? "%s://[%s]:%d" : "%s://%s:%d",
             server->tls ? "https" : "http", host, server->port);
    /* Requests are handled only from here on: every field a handler reads
     * (url above all) is written before, and CivetWeb's handler table lock
     * orders the two. Until then CivetWeb answers 404. */
    mg_set_request_handler(server->ctx, "/", handle, server);
    return server;
}

/* Waits (lock held) until no request is in flight, releasing whatever
 * faults hold; false after timeout_ms of wall time. */
static bool wait_idle(struct idp_server *server, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    idp_faults_release_all(&server->faults);
    pthread_cond_broadcast(&server->refresh_done);
    while (server->active_requests > 0)
        if (pthread_cond_timedwait(&server->idle, &server->lock, &until) != 0 &&
            server->active_requests > 0)
            break;
    server->faults.shutting_down = false;
    return server->active_requests == 0;
}

enum idp_status idp_server_reuse(struct idp_server *server, const struct idp_server_options *options,
                                 struct idp_error *err)
{
    if (!options->key)
        return idp_fail(err, IDP_INVALID, "no signing key");
    enum idp_status status = check_config_keys(options->config, err);
    if (status)
        return status;
    json_t *config = options->config ? json_deep_copy(options->config) : json_object();
    if (!config)
        return idp_fail(err, IDP_NOMEM, "out of memory");
    pthread_mutex_lock(&server->lock);
    if (!wait_idle(server, 2000)) {
        pthread_mutex_unlock(&server->lock);
        json_decref(config);
        return idp_fail(err, IDP_IO, "requests of the previous run are still in flight");
    }
    json_decref(server->config);
    server->config = config;
    server->clock = options->clock ? options->clock : &server->own_clock;
    if (!options->clock) {
        idp_clock_cleanup(&server->own_clock);
        idp_clock_init(&server->own_clock);
    }
    idp_random_cleanup(&server->rng);
    idp_random_init(&server->rng, options->seed);
    /* Faults are numbered from 1 again, as on a new server; the stray key
     * (a key no JWKS publishes) is kept: any key nobody publishes will do. */
    idp_faults_clear(&server->faults);
    server->faults.next_id = 1;
    idp_keyset_cleanup(&server->keys);
    idp_keyset_init(&server->keys);
    server->keys_version++;
    free(server->jwks_body);
    server->jwks_body = NULL;
    status = idp_server_reset_locked(server, err);
    if (!status)
        status = idp_keyset_add(&server->keys, options->key, IDP_TIME_ALWAYS, IDP_TIME_ALWAYS,
                                IDP_TIME_NEVER, err);
    pthread_mutex_unlock(&server->lock);
    return status;
}

void idp_server_stop(struct idp_server **pserver)
{
    struct idp_server *server = *pserver;
    if (!server)
        return;
    idp_tls_front_stop(&server->tls_front);
    if (server->ctx) {
        pthread_mutex_lock(&server->lock);
        idp_faults_release_all(&server->faults);
        pthread_mutex_unlock(&server->lock);
        idp_mg_stop_fast(server->ctx, server->http_port,
                         !server->tls && strchr(server->host, ':') != NULL);
    }
    idp_faults_cleanup(&server->faults);
    idp_store_cleanup(&server->store);
    idp_keyset_cleanup(&server->keys);
    idp_journal_cleanup(&server->journal);
    idp_random_cleanup(&server->rng);
    idp_clock_cleanup(&server->own_clock);
    json_decref(server->config);
    free(server->jwks_body);
    pthread_cond_destroy(&server->refresh_done);
    pthread_cond_destroy(&server->idle);
    pthread_mutex_destroy(&server->lock);
    free(server);
    *pserver = NULL;
}

json_t *idp_server_journal(struct idp_server *server, uint64_t since)
{
    pthread_mutex_lock(&server->lock);
    json_t *body = idp_journal_json(&server->journal, since);
    pthread_mutex_unlock(&server->lock);
    return body;
}

const char *idp_server_url(const struct idp_server *server)
{
    return server->url;
}

int idp_server_port(const struct idp_server *server)
{
    return server->port;
}

struct idp_clock *idp_server_clock(struct idp_server *server)
{
    return server->clock;
}

void idp_server_credentials(struct idp_server *server, char *client_id, size_t client_size,
                            char *api_key, size_t key_size)
{
    pthread_mutex_lock(&server->lock);
    snprintf(client_id, client_size, "%s", server->store.default_client);
    snprintf(api_key, key_size, "%s", json_string_value(json_array_get(server->store.api_keys, 0)));
    pthread_mutex_unlock(&server->lock);
}
