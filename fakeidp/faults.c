/* The fault engine: rules (match + trigger + phase + action) evaluated around
 * every handler. See faults.h for the contract and docs/faults.md for the
 * JSON form of each kind. */
#include "faults.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <dirent.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "duration.h"
#include "encoding.h"
#include "forge.h"
#include "idp_jwt.h"
#include "names.h"
#include "server_internal.h"

enum phase { BEFORE, AFTER };

#define BARRIER_GENERATIONS 8

struct idp_fault {
    char id[48];
    json_t *rule; /* the rule as given, for listing */
    /* match */
    char route[24], method[8], path[160], grant_type[32], client_id[IDP_ID_SIZE],
        user_id[IDP_ID_SIZE], session_id[IDP_ID_SIZE], header[64];
    /* trigger */
    long nth, first, every, count;
    double probability;
    int64_t window_from_ms, window_until_ms; /* relative to added_ms */
    char after_fault[48];
    enum phase phase;
    int64_t added_ms;
    struct idp_random rng;
    /* action */
    const struct action *action;
    json_t *params;
    /* counters */
    long matched, fired;
    /* lifetime: actions in flight hold references; a removed rule is freed
     * when the last one is dropped */
    int refs;
    bool removed;
    /* barrier state: arrivals fill a generation; a released generation's
     * requests take turns in rank order */
    long barrier_arrived, barrier_generation, barrier_released;
    long barrier_turn, barrier_turn_generation;
    long barrier_sizes[BARRIER_GENERATIONS];
    /* rate limit state */
    int64_t rate_window_start;
    long rate_count;
    struct idp_fault *next;
};

/* What a request is about, resolved once for matching. */
struct facts {
    const char *route, *method, *path, *grant_type, *client_id;
    char session_id[IDP_ID_SIZE], user_id[IDP_ID_SIZE];
};

static void fault_release(struct idp_fault *f);

/* A rule's route picks the bit of its name in the server's route table
 * (idp_route_names); an empty or wildcard route the "any" bit. */
static unsigned route_bit(const char *route)
{
    const char *const *names = idp_route_names();
    for (unsigned i = 0; names[i] && i < 31; i++)
        if (strcmp(names[i], route) == 0)
            return 2u << i;
    return 1u;
}

/* A rule's route is empty, a known route name, or a '*' pattern that
 * matches at least one of them. */
static enum idp_status check_route(const char *route, struct idp_error *err)
{
    const char *const *names = idp_route_names();
    for (size_t i = 0; route[0] && names[i]; i++)
        if (idp_pattern_match(route, names[i]))
            return IDP_OK;
    if (!route[0])
        return IDP_OK;
    char hint[80], list[400] = "";
    idp_did_you_mean(route, names, hint, sizeof(hint));
    for (size_t i = 0; names[i]; i++) {
        strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
        strncat(list, names[i], sizeof(list) - strlen(list) - 1);
    }
    idp_fail(err, IDP_INVALID, "fault: unknown route \"%s\"%s (routes: %s)", route, hint, list);
    idp_error_within(err, "/route");
    return IDP_INVALID;
}

/* Recomputes route_bits after the rule list changed (lock held). */
static void update_route_bits(struct idp_faults *faults)
{
    unsigned bits = 0;
    for (struct idp_fault *f = faults->head; f; f = f->next)
        bits |= !f->route[0] || strchr(f->route, '*') ? 1u : route_bit(f->route);
    __atomic_store_n(&faults->route_bits, bits, __ATOMIC_RELEASE);
}

typedef enum idp_fault_outcome action_fn(struct idp_server *, struct idp_fault *,
                                         struct idp_request *, struct idp_response *);

struct action {
    const char *name;
    enum phase default_phase;
    bool after_only; /* needs the handler's response */
    action_fn *run;
};

/* ---------------------------------------------------------------------- */
/* Helpers for actions                                                     */

#define YEAR_MS (86400000LL * 365)

static int64_t param_duration(const json_t *params, const char *name, int64_t fallback)
{
    const json_t *v = json_object_get(params, name);
    int64_t ms;
    if (json_is_string(v) && idp_duration_parse(json_string_value(v), &ms) && ms < YEAR_MS)
        return ms;
    /* A bare number is seconds, as in every other duration of fakeidp. */
    if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) < 86400LL * 365)
        return json_integer_value(v) * 1000;
    return fallback;
}

/* Real-time bounds on what a fault may hold a request for (docs/faults.md). */
#define MAX_HOLD_MS 300000     /* latency, hang, a barrier's timeout, a dribble in all */
#define MAX_GAP_MS 2000        /* a barrier's gap */
#define MAX_INTERVAL_MS 10000  /* a dribble's interval */
#define POLL_SLICE_MS 100      /* how often a held request looks at its client */

static struct timespec deadline_after(int64_t ms)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (ms % 1000) * 1000000;
    if (t.tv_nsec >= 1000000000) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000;
    }
    return t;
}

static bool before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* True when the client at the other end of fd has closed or reset its side. */
static bool client_gone(int fd)
{
    if (fd < 0)
        return false;
    char byte;
    ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* Waits (lock held) on barrier_changed until deadline, a broadcast, or the
 * server's shutdown; at most POLL_SLICE_MS so callers can look at their
 * client. Returns false once the deadline has passed. */
static bool wait_slice(struct idp_server *server, const struct timespec *deadline)
{
    struct timespec now, until = deadline_after(POLL_SLICE_MS);
    if (before(deadline, &until))
        until = *deadline;
    pthread_cond_timedwait(&server->faults.barrier_changed, &server->lock, &until);
    clock_gettime(CLOCK_REALTIME, &now);
    return before(&now, deadline);
}

/* Sleeps ms of real time, cut short by shutdown or by the client leaving
 * (fd, or -1 not to watch). Returns false when cut short. */
static bool fault_sleep(struct idp_server *server, int64_t ms, int fd)
{
    if (ms <= 0)
        return true;
    struct timespec deadline = deadline_after(ms);
    bool slept = true;
    pthread_mutex_lock(&server->lock);
    while (slept && !server->faults.shutting_down) {
        if (client_gone(fd))
            slept = false;
        else if (!wait_slice(server, &deadline))
            break;
    }
    if (server->faults.shutting_down)
        slept = false;
    pthread_mutex_unlock(&server->lock);
    return slept;
}

/* Finds the socket of this request's connection: the one whose peer is the
 * request's remote address and port. CivetWeb does not expose it. */
static int connection_fd(struct idp_server *server, struct idp_request *req)
{
    DIR *dir = opendir("/proc/self/fd");
    if (!dir)
        return -1;
    int found = -1;
    struct dirent *d;
    while ((d = readdir(dir)) && found < 0) {
        if (!isdigit((unsigned char)d->d_name[0]))
            continue;
        int fd = atoi(d->d_name);
        struct sockaddr_storage peer, local;
        socklen_t plen = sizeof(peer), llen = sizeof(local);
        if (getpeername(fd, (struct sockaddr *)&peer, &plen) != 0 ||
            getsockname(fd, (struct sockaddr *)&local, &llen) != 0)
            continue;
        int peer_port = peer.ss_family == AF_INET6
                            ? ntohs(((struct sockaddr_in6 *)&peer)->sin6_port)
                            : ntohs(((struct sockaddr_in *)&peer)->sin_port);
        int local_port = local.ss_family == AF_INET6
                             ? ntohs(((struct sockaddr_in6 *)&local)->sin6_port)
                             : ntohs(((struct sockaddr_in *)&local)->sin_port);
        if (peer_port == req->info->remote_port && local_port == server->http_port)
            found = fd;
    }
    closedir(dir);
    return found;
}

static void drop_connection(struct idp_server *server, struct idp_request *req, bool reset)
{
    mg_disable_connection_keep_alive(req->conn);
    int fd = connection_fd(server, req);
    if (fd < 0)
        return;
    if (reset) {
        /* connect(AF_UNSPEC) on a connected TCP socket aborts it: Linux sends
         * RST, and CivetWeb's later close of the fd is harmless. */
        struct sockaddr sa = {.sa_family = AF_UNSPEC};
        (void)connect(fd, &sa, sizeof(sa)); /* dissolves the association; nothing to check */
    } else {
        shutdown(fd, SHUT_RDWR);
    }
}

/* Writes a full response by hand: for dribbled and truncated bodies. */
static void write_head(struct idp_request *req, int status, const char *type, size_t length)
{
    mg_printf(req->conn,
              "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nX-Request-ID: %s\r\n"
              "Connection: close\r\n\r\n",
              status, mg_get_response_code_text(req->conn, status), type, length,
              req->request_id);
}

/* ---------------------------------------------------------------------- */
/* Actions                                                                 */

static enum idp_fault_outcome act_status(struct idp_server *server, struct idp_fault *f,
                                         struct idp_request *req, struct idp_response *resp)
{
    const json_t *status_value = json_object_get(f->params, "status");
    int status = json_is_integer(status_value) ? (int)json_integer_value(status_value) : 503;
    const json_t *body = json_object_get(f->params, "body");
    const char *type = json_string_value(json_object_get(f->params, "content_type"));
    idp_response_reset(resp);
    if (json_is_string(body)) {
        idp_response_text(resp, status, type ? type : "text/plain; charset=utf-8",
                          json_string_value(body), json_string_length(body));
    } else if (body) {
        idp_response_json(resp, status, json_deep_copy(body));
    } else if (status == 400) {
        idp_response_oauth_error(resp, 400, "invalid_grant", "Refresh token already exchanged.");
    } else if (status == 401) {
        idp_response_code_error(resp, 401, "unauthorized", "Unauthorized");
    } else if (status == 429) {
        idp_response_code_error(resp, 429, "rate_limit_exceeded", "Too Many Requests");
    } else {
        idp_response_code_error(resp, status, status >= 500 ? "server_error" : "fault",
                                "%s", mg_get_response_code_text(NULL, status));
    }
    if (type && !json_is_string(body))
        snprintf(resp->content_type, sizeof(resp->content_type), "%s", type);
    int64_t retry = param_duration(f->params, "retry_after", status == 429 ? 1000 : -1);
    if (retry >= 0)
        idp_response_header(resp, "Retry-After", "%lld", (long long)((retry + 999) / 1000));
    (void)server;
    (void)req;
    return IDP_FAULT_ANSWERED;
}

static enum idp_fault_outcome act_latency(struct idp_server *server, struct idp_fault *f,
                                          struct idp_request *req, struct idp_response *resp)
{
    int64_t delay = param_duration(f->params, "delay", 1000);
    int64_t jitter = param_duration(f->params, "jitter", 0);
    const char *dist = json_string_value(json_object_get(f->params, "distribution"));
    double ms = (double)delay;
    if (dist && strcmp(dist, "lognormal") == 0) {
        /* delay is the median; sigma the spread of the underlying normal. */
        const json_t *sigma_v = json_object_get(f->params, "sigma");
        double sigma = json_is_number(sigma_v) ? json_number_value(sigma_v) : 0.5;
        double u1 = idp_random_unit(&f->rng), u2 = idp_random_unit(&f->rng);
        double z = sqrt(-2.0 * log(u1 > 0 ? u1 : 1e-12)) * cos(2 * M_PI * u2);
        ms = (double)delay * exp(sigma * z);
    } else if (jitter > 0) {
        ms += (idp_random_unit(&f->rng) * 2 - 1) * (double)jitter;
    }
    /* A latency fault is bounded: at most five minutes of real time. */
    fault_sleep(server, ms < 0 ? 0 : ms > MAX_HOLD_MS ? MAX_HOLD_MS : (int64_t)ms,
                connection_fd(server, req));
    (void)resp;
    return IDP_FAULT_CONTINUE;
}

static enum idp_fault_outcome act_reset(struct idp_server *server, struct idp_fault *f,
                                        struct idp_request *req, struct idp_response *resp)
{
    (void)f;
    resp->status = 0;
    drop_connection(server, req, true);
    return IDP_FAULT_NO_REPLY;
}

static enum idp_fault_outcome act_close(struct idp_server *server, struct idp_fault *f,
                                        struct idp_request *req, struct idp_response *resp)
{
    (void)f;
    resp->status = 0;
    drop_connection(server, req, false);
    return IDP_FAULT_NO_REPLY;
}

static enum idp_fault_outcome act_hang(struct idp_server *server, struct idp_fault *f,
                                       struct idp_request *req, struct idp_response *resp)
{
    int64_t limit = param_duration(f->params, "for", 30000);
    fault_sleep(server, limit > MAX_HOLD_MS ? MAX_HOLD_MS : limit, connection_fd(server, req));
    return act_close(server, f, req, resp);
}

static enum idp_fault_outcome act_garbage(struct idp_server *server, struct idp_fault *f,
                                          struct idp_request *req, struct idp_response *resp)
{
    static const char junk[] = "\x16\x03\x01\x02\x00garbage\xff\xfe not http\r\n\r\n";
    mg_write(req->conn, junk, sizeof(junk) - 1);
    return act_close(server, f, req, resp);
}

static enum idp_fault_outcome act_truncated(struct idp_server *server, struct idp_fault *f,
                                            struct idp_request *req, struct idp_response *resp)
{
    write_head(req, resp->status, resp->content_type, resp->body_len);
    mg_write(req->conn, resp->body, resp->body_len / 2);
    drop_connection(server, req, false);
    (void)f;
    return IDP_FAULT_NO_REPLY;
}

static enum idp_fault_outcome act_dribble(struct idp_server *server, struct idp_fault *f,
                                          struct idp_request *req, struct idp_response *resp)
{
    int64_t interval = param_duration(f->params, "interval", 100);
    if (interval > MAX_INTERVAL_MS)
        interval = MAX_INTERVAL_MS;
    const json_t *chunk_v = json_object_get(f->params, "chunk");
    size_t chunk = json_is_integer(chunk_v) && json_integer_value(chunk_v) > 0
                       ? (size_t)json_integer_value(chunk_v) : 16;
    write_head(req, resp->status, resp->content_type, resp->body_len);
    int fd = connection_fd(server, req);
    int64_t spent = 0;
    for (size_t sent = 0; sent < resp->body_len; sent += chunk) {
        size_t n = resp->body_len - sent < chunk ? resp->body_len - sent : chunk;
        if (mg_write(req->conn, resp->body + sent, n) <= 0)
            break;
        /* The whole dribble is bounded too: the rest goes at once. */
        if (spent + interval > MAX_HOLD_MS || !fault_sleep(server, interval, fd))
            interval = 0;
        spent += interval;
    }
    mg_disable_connection_keep_alive(req->conn);
    return IDP_FAULT_NO_REPLY;
}

static enum idp_fault_outcome act_body(struct idp_server *server, struct idp_fault *f,
                                       struct idp_request *req, struct idp_response *resp)
{
    const char *kind = f->action->name;
    if (strcmp(kind, "wrong_content_type") == 0) {
        const char *type = json_string_value(json_object_get(f->params, "content_type"));
        snprintf(resp->content_type, sizeof(resp->content_type), "%s", type ? type : "text/html");
    } else if (strcmp(kind, "non_json") == 0) {
        static const char html[] = "<html><body><h1>502 Bad Gateway</h1></body></html>";
        idp_response_text(resp, resp->status, "text/html", html, sizeof(html) - 1);
    } else if (strcmp(kind, "empty_200") == 0) {
        idp_response_text(resp, 200, "application/json", "", 0);
    } else if (strcmp(kind, "malformed_json") == 0) {
        size_t keep = resp->body_len > 2 ? resp->body_len / 2 : 0;
        resp->body_len = keep; /* a JSON text cut in the middle */
        if (!keep)
            idp_response_text(resp, resp->status, "application/json", "{\"user\":", 8);
    } else if (strcmp(kind, "redirect") == 0) {
        const char *location = json_string_value(json_object_get(f->params, "location"));
        char fallback[300];
        snprintf(fallback, sizeof(fallback), "%s%s", server->url, req->path);
        const json_t *status_v = json_object_get(f->params, "status");
        idp_response_redirect(resp, location ? location : fallback);
        if (json_is_integer(status_v))
            resp->status = (int)json_integer_value(status_v);
    }
    return IDP_FAULT_CONTINUE;
}

/* Opens the filling generation of a barrier: whoever has arrived is let
 * through, later arrivals fill the next generation. Lock held. */
static void barrier_release(struct idp_server *server, struct idp_fault *f)
{
    long gen = f->barrier_generation;
    f->barrier_sizes[gen % BARRIER_GENERATIONS] = f->barrier_arrived;
    f->barrier_released = gen;
    f->barrier_turn_generation = gen;
    f->barrier_turn = 0;
    f->barrier_generation++;
    f->barrier_arrived = 0;
    pthread_cond_broadcast(&server->faults.barrier_changed);
}

/* Holds matching requests until `hold` have arrived (or the timeout), then
 * lets them through one at a time in the chosen order, or all at once. */
static enum idp_fault_outcome act_barrier(struct idp_server *server, struct idp_fault *f,
                                          struct idp_request *req, struct idp_response *resp)
{
    const json_t *count_v = json_object_get(f->params, "count");
    long count = json_is_integer(count_v) ? (long)json_integer_value(count_v) : 2;
    int64_t timeout = param_duration(f->params, "timeout", 5000);
    if (timeout > MAX_HOLD_MS)
        timeout = MAX_HOLD_MS;
    int64_t gap = param_duration(f->params, "gap", 0);
    int fd = connection_fd(server, req);
    const json_t *order = json_object_get(f->params, "order");
    const char *order_name = json_string_value(order);
    bool concurrent = order_name && strcmp(order_name, "concurrent") == 0;

    pthread_mutex_lock(&server->lock);
    /* Held from arrival: removing the rule must not free it under a waiter. */
    f->refs++;
    req->barrier = f;
    long gen = f->barrier_generation;
    long arrival = f->barrier_arrived++;
    struct timespec deadline = deadline_after(timeout);
    if (f->barrier_arrived >= count)
        barrier_release(server, f);
    /* A held request goes on when its group is complete, at the timeout,
     * when the rule is removed (or the server reset or stopped), and, gone
     * for good, when its client leaves: it then gives its place up. */
    while (f->barrier_released < gen) {
        if (server->faults.shutting_down || f->removed || !wait_slice(server, &deadline)) {
            barrier_release(server, f); /* release whoever came */
        } else if (client_gone(fd)) {
            if (f->barrier_generation == gen && f->barrier_arrived > 0)
                f->barrier_arrived--;
            fault_release(f);
            req->barrier = NULL;
            pthread_mutex_unlock(&server->lock);
            resp->status = 0;
            drop_connection(server, req, false);
            return IDP_FAULT_NO_REPLY;
        }
    }
    long size = f->barrier_sizes[gen % BARRIER_GENERATIONS];
    /* rank: the position in which this request is let through */
    long rank = arrival;
    if (order_name && strcmp(order_name, "reverse") == 0)
        rank = size - 1 - arrival;
    else if (json_is_array(order))
        for (size_t i = 0; i < json_array_size(order); i++)
            if (json_integer_value(json_array_get(order, i)) == arrival)
                rank = (long)i;
    req->barrier_rank = rank;
    req->barrier_generation = gen;
    req->barrier_concurrent = concurrent;
    /* A rank outside the given order, or a predecessor that never finishes,
     * must not hold a request forever: the deadline still bounds the wait. */
    while (!concurrent && f->barrier_turn_generation == gen && f->barrier_turn < rank &&
           !server->faults.shutting_down && !f->removed && !client_gone(fd))
        if (!wait_slice(server, &deadline))
            break;
    pthread_mutex_unlock(&server->lock);
    /* "gap": each successor starts this long after its predecessor finished,
     * so the replies reach clients in release order, not in a race. */
    if (!concurrent && rank > 0)
        fault_sleep(server, gap > MAX_GAP_MS ? MAX_GAP_MS : gap, fd);
    return IDP_FAULT_CONTINUE;
}

/* Called after the handler of a request that went through a barrier. */
static void barrier_done(struct idp_server *server, struct idp_request *req)
{
    struct idp_fault *f = req->barrier;
    if (!f)
        return;
    pthread_mutex_lock(&server->lock);
    if (!req->barrier_concurrent && f->barrier_turn_generation == req->barrier_generation &&
        f->barrier_turn <= req->barrier_rank)
        f->barrier_turn = req->barrier_rank + 1;
    pthread_cond_broadcast(&server->faults.barrier_changed);
    fault_release(f);
    pthread_mutex_unlock(&server->lock);
    req->barrier = NULL;
}

static enum idp_fault_outcome act_token(struct idp_server *server, struct idp_fault *f,
                                        struct idp_request *req, struct idp_response *resp);
static enum idp_fault_outcome act_jwks(struct idp_server *server, struct idp_fault *f,
                                       struct idp_request *req, struct idp_response *resp);

static enum idp_fault_outcome act_idp(struct idp_server *server, struct idp_fault *f,
                                      struct idp_request *req, struct idp_response *resp)
{
    const char *kind = f->action->name;
    pthread_mutex_lock(&server->lock);
    if (strcmp(kind, "refresh_mode") == 0) {
        json_t *settings = json_pack("{s:O}", "refresh_mode", json_object_get(f->params, "mode"));
        idp_settings_apply(&server->settings, settings, NULL);
        json_decref(settings);
    } else if (strcmp(kind, "revoke_session") == 0 || strcmp(kind, "expire_refresh_token") == 0) {
        const char *token = idp_request_param(req, "refresh_token");
        struct idp_refresh *rt = idp_store_refresh(&server->store, token);
        const char *sid = rt ? rt->session_id : idp_request_param(req, "session_id");
        struct idp_session *s = idp_store_session(&server->store, sid);
        if (strcmp(kind, "revoke_session") == 0 && s)
            idp_store_session_end(s, req->now_ms, "revoked_by_fault");
        else if (rt)
            rt->expired = true;
    }
    pthread_mutex_unlock(&server->lock);
    (void)resp;
    return IDP_FAULT_CONTINUE;
}

static enum idp_fault_outcome act_rate_limit(struct idp_server *server, struct idp_fault *f,
                                             struct idp_request *req, struct idp_response *resp)
{
    const json_t *limit_v = json_object_get(f->params, "limit");
    long limit = json_is_integer(limit_v) ? (long)json_integer_value(limit_v) : 0;
    int64_t window = param_duration(f->params, "window", 60000);
    pthread_mutex_lock(&server->lock);
    if (req->now_ms - f->rate_window_start >= window || req->now_ms < f->rate_window_start) {
        f->rate_window_start = req->now_ms;
        f->rate_count = 0;
    }
    bool over = ++f->rate_count > limit;
    int64_t retry = f->rate_window_start + window - req->now_ms;
    pthread_mutex_unlock(&server->lock);
    if (!over)
        return IDP_FAULT_CONTINUE;
    idp_response_reset(resp);
    idp_response_code_error(resp, 429, "rate_limit_exceeded", "Too Many Requests");
    idp_response_header(resp, "Retry-After", "%lld", (long long)((retry + 999) / 1000));
    return IDP_FAULT_ANSWERED;
}

static const struct action actions[] = {
    {"status", BEFORE, false, act_status},
    {"latency", BEFORE, false, act_latency},
    {"reset", BEFORE, false, act_reset},
    {"close", BEFORE, false, act_close},
    {"hang", BEFORE, false, act_hang},
    {"garbage", BEFORE, false, act_garbage},
    {"truncated", AFTER, true, act_truncated},
    {"dribble", AFTER, true, act_dribble},
    {"wrong_content_type", AFTER, true, act_body},
    {"non_json", AFTER, true, act_body},
    {"empty_200", AFTER, true, act_body},
    {"malformed_json", AFTER, true, act_body},
    {"redirect", AFTER, true, act_body},
    {"barrier", BEFORE, false, act_barrier},
    {"token", AFTER, true, act_token},
    {"jwks", AFTER, true, act_jwks},
    {"revoke_session", BEFORE, false, act_idp},
    {"expire_refresh_token", BEFORE, false, act_idp},
    {"refresh_mode", BEFORE, false, act_idp},
    {"rate_limit", BEFORE, false, act_rate_limit},
};

static const struct action *find_action(const char *name)
{
    for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
        if (strcmp(actions[i].name, name) == 0)
            return &actions[i];
    return NULL;
}

json_t *idp_fault_actions(void)
{
    json_t *names = json_array();
    for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
        json_array_append_new(names, json_string(actions[i].name));
    return names;
}

static enum idp_status unknown_action(const char *name, struct idp_error *err)
{
    const char *names[sizeof(actions) / sizeof(actions[0]) + 1];
    for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
        names[i] = actions[i].name;
    names[sizeof(actions) / sizeof(actions[0])] = NULL;
    char hint[80];
    idp_did_you_mean(name, names, hint, sizeof(hint));
    enum idp_status st = idp_fail(err, IDP_INVALID, "fault: unknown action \"%s\"%s", name, hint);
    idp_error_within(err, "/action");
    return st;
}

/* ---------------------------------------------------------------------- */
/* Token and JWKS mutations                                                */

static EVP_PKEY *stray_key(struct idp_server *server)
{
    pthread_mutex_lock(&server->lock);
    EVP_PKEY *key = server->faults.stray_key;
    if (key)
        EVP_PKEY_up_ref(key);
    pthread_mutex_unlock(&server->lock);
    if (key)
        return key;
    /* Generating a key takes 0.1-2 s: with a rotation key cache, the stray
     * key is cached there too, in a file of its own (never a rotation key,
     * so never published). */
    if (server->rotation_key_dir[0]) {
        char path[1100];
        snprintf(path, sizeof(path), "%s/stray-key.pem", server->rotation_key_dir);
        key = idp_pem_load_or_generate(path, NULL);
    } else {
        key = idp_rsa_generate(NULL);
    }
    if (!key)
        return NULL;
    pthread_mutex_lock(&server->lock);
    if (!server->faults.stray_key) {
        server->faults.stray_key = key;
        EVP_PKEY_up_ref(key);
    }
    pthread_mutex_unlock(&server->lock);
    return key;
}

static enum idp_fault_outcome act_token(struct idp_server *server, struct idp_fault *f,
                                        struct idp_request *req, struct idp_response *resp)
{
    if (resp->status != 200 || !resp->body)
        return IDP_FAULT_CONTINUE;
    json_t *body = json_loadb(resp->body, resp->body_len, 0, NULL);
    const char *token = json_string_value(json_object_get(body, "access_token"));
    if (!token) {
        json_decref(body);
        return IDP_FAULT_CONTINUE;
    }
    pthread_mutex_lock(&server->lock);
    const struct idp_key *signer = idp_keyset_signer(&server->keys, req->now_ms);
    EVP_PKEY *key = signer ? signer->pkey : NULL;
    if (key)
        EVP_PKEY_up_ref(key);
    pthread_mutex_unlock(&server->lock);
    const char *sign = json_string_value(json_object_get(f->params, "sign"));
    EVP_PKEY *other = sign ? stray_key(server) : NULL;
    char *forged = idp_forge_token(token, f->params, key, other, req->now_ms, NULL);
    if (forged) {
        json_object_set_new(body, "access_token", json_string(forged));
        char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (text) {
            free(resp->body);
            resp->body = text;
            resp->body_len = strlen(text);
        }
    }
    free(forged);
    EVP_PKEY_free(other);
    EVP_PKEY_free(key);
    json_decref(body);
    return IDP_FAULT_CONTINUE;
}

static enum idp_fault_outcome act_jwks(struct idp_server *server, struct idp_fault *f,
                                       struct idp_request *req, struct idp_response *resp)
{
    if (resp->status != 200 || !resp->body)
        return IDP_FAULT_CONTINUE;
    json_t *body = json_loadb(resp->body, resp->body_len, 0, NULL);
    json_t *keys = json_object_get(body, "keys");
    if (!json_is_array(keys)) {
        json_decref(body);
        return IDP_FAULT_CONTINUE;
    }
    const char *mode = json_string_value(json_object_get(f->params, "keys"));
    if (mode && strcmp(mode, "empty") == 0) {
        json_array_clear(keys);
    } else if (mode && strcmp(mode, "missing_active") == 0) {
        pthread_mutex_lock(&server->lock);
        const struct idp_key *signer = idp_keyset_signer(&server->keys, req->now_ms);
        char kid[64];
        snprintf(kid, sizeof(kid), "%s", signer ? signer->kid : "");
        pthread_mutex_unlock(&server->lock);
        for (size_t i = json_array_size(keys); i-- > 0;)
            if (strcmp(json_string_value(json_object_get(json_array_get(keys, i), "kid")), kid) == 0)
                json_array_remove(keys, i);
    }
    long extra = (long)json_integer_value(json_object_get(f->params, "extra"));
    for (long i = 0; i < extra && i < 64; i++) {
        unsigned char n[256];
        idp_random_bytes(&f->rng, n, sizeof(n));
        n[0] |= 0x80;
        char *n64 = idp_base64url_encode(n, sizeof(n));
        char kid[64];
        snprintf(kid, sizeof(kid), "sso_oidc_key_pair_01EXTRAKEY%016ld", i);
        json_array_append_new(keys, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "alg", "RS256",
                                              "kty", "RSA", "use", "sig", "n", n64 ? n64 : "",
                                              "e", "AQAB", "kid", kid));
        free(n64);
    }
    char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text) {
        free(resp->body);
        resp->body = text;
        resp->body_len = strlen(text);
    }
    json_decref(body);
    const char *cache = json_string_value(json_object_get(f->params, "cache_control"));
    if (cache)
        idp_response_header(resp, "Cache-Control", "%s", cache);
    return IDP_FAULT_CONTINUE;
}

/* ---------------------------------------------------------------------- */
/* Rules                                                                   */

static const char *const match_keys[] = {"route", "method", "path", "grant_type", "client_id",
                                         "user_id", "session_id", "header", NULL};
static const char *const control_keys[] = {"id", "action", "phase", "nth", "first", "every",
                                           "count", "probability", "between", "after_fault",
                                           "seed", NULL};
static const char *const param_keys[] = {
    "status", "body", "content_type", "retry_after", "delay", "jitter", "distribution",
    "sigma", "for", "chunk", "interval", "location", "hold", "timeout", "order", "gap", "mode",
    "limit", "window", "remove", "set", "expired", "not_yet_valid", "kid", "sign", "tamper",
    "alg", "bloat", "keys", "extra", "cache_control", NULL};

static bool in_list(const char *const list[], const char *key)
{
    for (int i = 0; list[i]; i++)
        if (strcmp(list[i], key) == 0)
            return true;
    return false;
}

static void fault_free(struct idp_fault *f)
{
    json_decref(f->rule);
    json_decref(f->params);
    idp_random_cleanup(&f->rng);
    free(f);
}

void idp_faults_init(struct idp_faults *faults)
{
    memset(faults, 0, sizeof(*faults));
    faults->next_id = 1;
    pthread_cond_init(&faults->barrier_changed, NULL);
}

static void fault_release(struct idp_fault *f)
{
    if (--f->refs == 0 && f->removed)
        fault_free(f);
}

static void fault_unlink(struct idp_fault *f)
{
    f->removed = true;
    f->next = NULL;
    if (f->refs == 0)
        fault_free(f);
}

void idp_faults_clear(struct idp_faults *faults)
{
    while (faults->head) {
        struct idp_fault *f = faults->head;
        faults->head = f->next;
        fault_unlink(f);
    }
    __atomic_store_n(&faults->route_bits, 0u, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&faults->barrier_changed);
}

void idp_faults_cleanup(struct idp_faults *faults)
{
    idp_faults_clear(faults);
    EVP_PKEY_free(faults->stray_key);
    faults->stray_key = NULL;
    pthread_cond_destroy(&faults->barrier_changed);
}

static enum idp_status copy_match(const json_t *rule, const char *key, char *out, size_t size,
                                  struct idp_error *err)
{
    const json_t *v = json_object_get(rule, key);
    if (!v)
        return IDP_OK;
    if (!json_is_string(v) || json_string_length(v) >= size) {
        idp_fail(err, IDP_INVALID, "fault: %s must be a string under %zu bytes", key, size);
        idp_error_within(err, "/%s", key);
        return IDP_INVALID;
    }
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return IDP_OK;
}

static long positive(const json_t *rule, const char *key, bool *bad)
{
    const json_t *v = json_object_get(rule, key);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 1) {
        *bad = true;
        return 0;
    }
    return (long)json_integer_value(v);
}

enum idp_status idp_faults_add(struct idp_faults *faults, const json_t *rule, int64_t now_ms,
                               char *id_out, size_t id_size, struct idp_error *err)
{
    if (!json_is_object(rule))
        return idp_fail(err, IDP_INVALID, "a fault must be a JSON object");
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)rule, key, value) {
        if (!in_list(match_keys, key) && !in_list(control_keys, key) && !in_list(param_keys, key)) {
            idp_fail(err, IDP_INVALID, "fault: unknown key \"%s\"", key);
            idp_error_within(err, "/%s", key);
            return IDP_INVALID;
        }
    }
    const char *action_name = json_string_value(json_object_get(rule, "action"));
    if (!action_name)
        action_name = json_object_get(rule, "status") ? "status" : NULL;
    if (!action_name)
        return idp_fail(err, IDP_INVALID, "fault: \"action\" is required (or a \"status\")");
    const struct action *action = find_action(action_name);
    if (!action)
        return unknown_action(action_name, err);
    struct idp_fault *f = calloc(1, sizeof(*f));
    if (!f)
        return idp_fail(err, IDP_NOMEM, "out of memory");
    f->action = action;
    f->phase = action->default_phase;
    f->added_ms = now_ms;
    f->barrier_released = -1;
    f->barrier_turn_generation = -1;
    enum idp_status status = IDP_OK;
    static const struct {
        const char *key;
        size_t offset, size;
    } matches[] = {
        {"route", offsetof(struct idp_fault, route), sizeof(f->route)},
        {"method", offsetof(struct idp_fault, method), sizeof(f->method)},
        {"path", offsetof(struct idp_fault, path), sizeof(f->path)},
        {"grant_type", offsetof(struct idp_fault, grant_type), sizeof(f->grant_type)},
        {"client_id", offsetof(struct idp_fault, client_id), sizeof(f->client_id)},
        {"user_id", offsetof(struct idp_fault, user_id), sizeof(f->user_id)},
        {"session_id", offsetof(struct idp_fault, session_id), sizeof(f->session_id)},
        {"header", offsetof(struct idp_fault, header), sizeof(f->header)},
        {"after_fault", offsetof(struct idp_fault, after_fault), sizeof(f->after_fault)},
    };
    for (size_t i = 0; i < sizeof(matches) / sizeof(matches[0]) && !status; i++)
        status = copy_match(rule, matches[i].key, (char *)f + matches[i].offset, matches[i].size, err);
    if (!status)
        status = check_route(f->route, err);
    bool bad = false;
    f->nth = positive(rule, "nth", &bad);
    f->first = positive(rule, "first", &bad);
    f->every = positive(rule, "every", &bad);
    f->count = positive(rule, "count", &bad);
    if (!status && bad)
        status = idp_fail(err, IDP_INVALID, "fault: nth, first, every and count are whole numbers >= 1");
    const json_t *prob = json_object_get(rule, "probability");
    f->probability = prob ? json_number_value(prob) : -1;
    if (!status && prob && (!json_is_number(prob) || f->probability < 0 || f->probability > 1))
        status = idp_fail(err, IDP_INVALID, "fault: probability must be a number from 0 to 1");
    const json_t *between = json_object_get(rule, "between");
    f->window_until_ms = IDP_TIME_NEVER;
    if (!status && between) {
        const char *from = json_string_value(json_array_get(between, 0));
        const char *until = json_string_value(json_array_get(between, 1));
        if (!json_is_array(between) || json_array_size(between) != 2 || !from || !until ||
            !idp_duration_parse(from, &f->window_from_ms) ||
            !idp_duration_parse(until, &f->window_until_ms))
            status = idp_fail(err, IDP_INVALID, "fault: between must be [\"<from>\", \"<until>\"] durations");
    }
    const char *phase = json_string_value(json_object_get(rule, "phase"));
    if (!status && json_object_get(rule, "phase")) {
        if (phase && strcmp(phase, "before") == 0 && !action->after_only)
            f->phase = BEFORE;
        else if (phase && (strcmp(phase, "after") == 0 || strcmp(phase, "after_commit") == 0))
            f->phase = AFTER;
        else
            status = idp_fail(err, IDP_INVALID,
                              "fault: phase must be \"before\" or \"after\"%s",
                              action->after_only ? " (this action needs \"after\")" : "");
    }
    if (!status && action->run == act_barrier && f->phase != BEFORE)
        status = idp_fail(err, IDP_INVALID, "fault: a barrier holds requests before they are handled (phase \"before\")");
    if (!status && action->run == act_idp && strcmp(action->name, "refresh_mode") == 0) {
        struct idp_settings scratch;
        idp_settings_defaults(&scratch);
        json_t *mode = json_pack("{s:O}", "refresh_mode",
                                 json_object_get(rule, "mode") ? json_object_get(rule, "mode") : json_null());
        if (idp_settings_apply(&scratch, mode, NULL))
            status = idp_fail(err, IDP_INVALID,
                              "fault: refresh_mode needs \"mode\": grace, strict, revoke_family or concurrent_429");
        json_decref(mode);
    }
    if (!status && action->run == act_rate_limit &&
        (!json_is_integer(json_object_get(rule, "limit")) || json_integer_value(json_object_get(rule, "limit")) < 0))
        status = idp_fail(err, IDP_INVALID, "fault: rate_limit needs \"limit\", the requests allowed per window");
    if (!status && action->run == act_status && json_object_get(rule, "status") &&
        (!json_is_integer(json_object_get(rule, "status")) ||
         json_integer_value(json_object_get(rule, "status")) < 100 ||
         json_integer_value(json_object_get(rule, "status")) > 599))
        status = idp_fail(err, IDP_INVALID, "fault: status must be an HTTP status from 100 to 599");
    if (!status && action->run == act_token)
        status = idp_forge_check(json_object_get(rule, "bloat"), err);
    const char *id = json_string_value(json_object_get(rule, "id"));
    if (!status && id && (strlen(id) == 0 || strlen(id) >= sizeof(f->id)))
        status = idp_fail(err, IDP_INVALID, "fault: id must be a short non-empty string");
    if (!status && id) {
        for (struct idp_fault *p = faults->head; p; p = p->next)
            if (strcmp(p->id, id) == 0)
                status = idp_fail(err, IDP_INVALID, "fault: id \"%s\" is already in use", id);
    }
    if (status) {
        free(f);
        return status;
    }
    if (id)
        snprintf(f->id, sizeof(f->id), "%s", id);
    else
        snprintf(f->id, sizeof(f->id), "fault-%u", faults->next_id);
    faults->next_id++;
    const json_t *seed = json_object_get(rule, "seed");
    uint64_t s = json_is_integer(seed) ? (uint64_t)json_integer_value(seed) : 0;
    if (!s)
        for (const char *c = f->id; *c; c++)
            s = (s ^ (unsigned char)*c) * 1099511628211ULL + 7;
    idp_random_init(&f->rng, s);
    f->rule = json_deep_copy(rule);
    /* Out of memory anywhere here: no rule, rather than one missing parts. */
    bool built = json_object_set_new(f->rule, "id", json_string(f->id)) == 0;
    built = json_object_set_new(f->rule, "action", json_string(action->name)) == 0 && built;
    built = json_object_set_new(f->rule, "phase",
                                json_string(f->phase == BEFORE ? "before" : "after")) == 0 &&
            built;
    f->params = json_object();
    built = f->params && built;
    json_object_foreach((json_t *)rule, key, value) if (in_list(param_keys, key))
        built = json_object_set(f->params, key, value) == 0 && built;
    if (action->run == act_barrier && json_object_get(rule, "hold"))
        built = json_object_set(f->params, "count", json_object_get(rule, "hold")) == 0 && built;
    if (!built) {
        faults->next_id--;
        fault_free(f);
        return idp_fail(err, IDP_NOMEM, "out of memory");
    }
    /* appended: rules apply in the order they were added */
    struct idp_fault **tail = &faults->head;
    while (*tail)
        tail = &(*tail)->next;
    *tail = f;
    update_route_bits(faults);
    if (id_out)
        snprintf(id_out, id_size, "%s", f->id);
    return IDP_OK;
}

enum idp_status idp_faults_configure(struct idp_faults *faults, const json_t *rules,
                                     int64_t now_ms, struct idp_error *err)
{
    if (rules && !json_is_array(rules))
        return idp_fail(err, IDP_INVALID, "faults: expected an array of rules");
    idp_faults_clear(faults);
    size_t i;
    json_t *rule;
    json_array_foreach(rules, i, rule) {
        enum idp_status status = idp_faults_add(faults, rule, now_ms, NULL, 0, err);
        if (status) {
            char message[sizeof(err->message)];
            snprintf(message, sizeof(message), "%s", err->message);
            idp_fail(err, status, "faults[%zu]: %s", i, message);
            return status;
        }
    }
    return IDP_OK;
}

bool idp_faults_remove(struct idp_faults *faults, const char *id)
{
    for (struct idp_fault **p = &faults->head; *p; p = &(*p)->next) {
        if (strcmp((*p)->id, id) == 0) {
            struct idp_fault *f = *p;
            *p = f->next;
            fault_unlink(f);
            update_route_bits(faults);
            pthread_cond_broadcast(&faults->barrier_changed);
            return true;
        }
    }
    return false;
}

json_t *idp_faults_json(const struct idp_faults *faults)
{
    json_t *list = json_array();
    for (struct idp_fault *f = faults->head; f; f = f->next) {
        json_t *item = json_deep_copy(f->rule);
        json_object_set_new(item, "matched", json_integer(f->matched));
        json_object_set_new(item, "fired", json_integer(f->fired));
        if (f->count)
            json_object_set_new(item, "remaining", json_integer(f->count - f->fired));
        else if (f->first)
            json_object_set_new(item, "remaining",
                                json_integer(f->first - (f->matched < f->first ? f->matched : f->first)));
        json_array_append_new(list, item);
    }
    return json_pack("{s:o}", "faults", list);
}

void idp_faults_release_all(struct idp_faults *faults)
{
    /* Lock held: a waiter checks the flag and then waits atomically. */
    faults->shutting_down = true;
    pthread_cond_broadcast(&faults->barrier_changed);
}

static json_t *compact_value(const char *text, bool as_text);

static json_t *compact_value(const char *text, bool as_text)
{
    if (strchr(text, '|')) {
        json_t *arr = json_array();
        char *copy = strdup(text), *save = NULL;
        for (char *t = copy ? strtok_r(copy, "|", &save) : NULL; t; t = strtok_r(NULL, "|", &save))
            json_array_append_new(arr, compact_value(t, as_text));
        free(copy);
        return arr;
    }
    if (as_text)
        return json_string(text);
    if (strcmp(text, "true") == 0 || strcmp(text, "false") == 0)
        return json_boolean(strcmp(text, "true") == 0);
    char *end;
    long long n = strtoll(text, &end, 10);
    if (*text && !*end)
        return json_integer(n);
    double d = strtod(text, &end);
    if (*text && !*end)
        return json_real(d);
    return json_string(text);
}

json_t *idp_fault_parse_compact(const char *text, struct idp_error *err)
{
    json_t *rule = json_object();
    char *copy = strdup(text ? text : ""), *save = NULL;
    for (char *item = copy ? strtok_r(copy, ",", &save) : NULL; item;
         item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (!eq || eq == item) {
            idp_fail(err, IDP_INVALID, "fault \"%s\": expected key=value pairs separated by commas", text);
            json_decref(rule);
            free(copy);
            return NULL;
        }
        *eq = '\0';
        /* Names and ids stay text even when they look like numbers. */
        static const char *const text_keys[] = {"id", "route", "method", "path", "grant_type",
                                                "client_id", "user_id", "session_id", "header",
                                                "after_fault", "action", "phase", "remove",
                                                "location", "content_type", "kid", "sign", "alg",
                                                "mode", "keys", "body", "cache_control", NULL};
        bool as_text = false;
        for (int i = 0; text_keys[i]; i++)
            as_text = as_text || strcmp(text_keys[i], item) == 0;
        json_t *value = compact_value(eq + 1, as_text);
        if (strcmp(item, "remove") == 0 && json_is_string(value))
            json_object_set_new(rule, item, json_pack("[O]", value)), json_decref(value);
        else
            json_object_set_new(rule, item, value);
    }
    free(copy);
    return rule;
}

/* ---------------------------------------------------------------------- */
/* Evaluation                                                              */

static void resolve_facts(struct idp_server *server, struct idp_request *req, struct facts *facts)
{
    memset(facts, 0, sizeof(*facts));
    facts->route = req->entry.route;
    facts->method = req->method;
    facts->path = req->path;
    facts->grant_type = idp_request_param(req, "grant_type");
    facts->client_id = idp_request_param(req, "client_id");
    if (!facts->client_id && strcmp(facts->route, "jwks") == 0)
        facts->client_id = req->path_arg; /* /sso/jwks/{client_id} */
    const char *token = idp_request_param(req, "refresh_token");
    const char *sid = idp_request_param(req, "session_id");
    const char *code = idp_request_param(req, "code");
    struct idp_refresh *rt = idp_store_refresh(&server->store, token);
    struct idp_session *s = idp_store_session(&server->store, rt ? rt->session_id : sid);
    struct idp_code *c = idp_store_code(&server->store, code);
    if (s) {
        snprintf(facts->session_id, sizeof(facts->session_id), "%s", s->id);
        snprintf(facts->user_id, sizeof(facts->user_id), "%s", s->user_id);
    } else if (c) {
        snprintf(facts->user_id, sizeof(facts->user_id), "%s", c->user_id);
    }
}

static bool text_matches(const char *want, const char *have)
{
    return !want[0] || (have && idp_pattern_match(want, have));
}

static bool rule_matches(const struct idp_fault *f, const struct facts *facts,
                         struct idp_request *req)
{
    return text_matches(f->route, facts->route) && text_matches(f->method, facts->method) &&
           text_matches(f->path, facts->path) && text_matches(f->grant_type, facts->grant_type) &&
           text_matches(f->client_id, facts->client_id) &&
           text_matches(f->user_id, facts->user_id) &&
           text_matches(f->session_id, facts->session_id) &&
           (!f->header[0] || idp_request_header(req, f->header));
}

static const struct idp_fault *find_fault(const struct idp_faults *faults, const char *id)
{
    for (const struct idp_fault *p = faults->head; p; p = p->next)
        if (strcmp(p->id, id) == 0)
            return p;
    return NULL;
}

/* Decides whether a matching rule fires now; counts it. Lock held. */
static bool rule_fires(struct idp_server *server, struct idp_fault *f, int64_t now_ms)
{
    if (f->after_fault[0]) {
        const struct idp_fault *other = find_fault(&server->faults, f->after_fault);
        if (!other || other->fired == 0)
            return false;
    }
    int64_t elapsed = now_ms - f->added_ms;
    if (elapsed < f->window_from_ms || elapsed >= f->window_until_ms)
        return false;
    long n = ++f->matched;
    bool fire = true;
    if (f->nth)
        fire = fire && n == f->nth;
    if (f->first)
        fire = fire && n <= f->first;
    if (f->every)
        fire = fire && n % f->every == 0;
    if (f->probability >= 0)
        fire = fire && idp_random_unit(&f->rng) < f->probability;
    if (f->count && f->fired >= f->count)
        fire = false;
    if (fire)
        f->fired++;
    return fire;
}

static void note_fired(struct idp_request *req, const char *id)
{
    size_t used = strlen(req->entry.fault);
    snprintf(req->entry.fault + used, sizeof(req->entry.fault) - used, "%s%s", used ? "," : "", id);
}

static enum idp_fault_outcome run_phase(struct idp_server *server, struct idp_request *req,
                                        struct idp_response *resp, enum phase phase)
{
    /* Pick the rules that fire under the lock, run their actions without it.
     * At most 16 rules act on one request. */
    struct {
        action_fn *run;
        struct idp_fault *fault;
    } fired[16];
    size_t count = 0;
    size_t noted = strlen(req->entry.fault);
    /* No rule can concern this route: nothing to do, not even the lock. The
     * admin API is only faulted by rules that name it. */
    unsigned bits = __atomic_load_n(&server->faults.route_bits, __ATOMIC_ACQUIRE);
    unsigned mine = route_bit(req->entry.route);
    if (!(bits & mine) && !((bits & 1u) && strcmp(req->entry.route, "admin") != 0))
        return IDP_FAULT_CONTINUE;
    pthread_mutex_lock(&server->lock);
    /* Cheap first: does any rule of this phase name this route (or none)?
     * Only then resolve what the request is about. */
    bool candidate = false;
    for (struct idp_fault *f = server->faults.head; f && !candidate; f = f->next)
        candidate = f->phase == phase && (!f->route[0] ? strcmp(req->entry.route, "admin") != 0
                                                       : idp_pattern_match(f->route, req->entry.route));
    if (!candidate) {
        pthread_mutex_unlock(&server->lock);
        return IDP_FAULT_CONTINUE;
    }
    struct facts facts;
    resolve_facts(server, req, &facts);
    bool admin = strcmp(facts.route, "admin") == 0;
    for (struct idp_fault *f = server->faults.head; f && count < 16; f = f->next) {
        /* The admin API stays reachable (to remove the fault!) unless a rule
         * names it explicitly. */
        if (admin && strcmp(f->route, "admin") != 0)
            continue;
        if (f->phase != phase || !rule_matches(f, &facts, req))
            continue;
        if (!rule_fires(server, f, req->now_ms))
            continue;
        note_fired(req, f->id);
        f->refs++;
        fired[count].run = f->action->run;
        fired[count].fault = f;
        count++;
    }
    pthread_mutex_unlock(&server->lock);
    /* Each fired rule is referenced until its action returns, so removing it
     * meanwhile (admin API, reset) cannot free it under the action. */
    enum idp_fault_outcome outcome = IDP_FAULT_CONTINUE;
    size_t ran = 0;
    for (; ran < count && outcome == IDP_FAULT_CONTINUE; ran++)
        outcome = fired[ran].run(server, fired[ran].fault, req, resp);
    pthread_mutex_lock(&server->lock);
    /* Rules after the one that answered never acted: they are not counted
     * as fired (a count budget is not spent) nor named in the journal. */
    req->entry.fault[noted] = '\0';
    for (size_t i = 0; i < count; i++) {
        if (i < ran)
            note_fired(req, fired[i].fault->id);
        else
            fired[i].fault->fired--;
        fault_release(fired[i].fault);
    }
    pthread_mutex_unlock(&server->lock);
    return outcome;
}

enum idp_fault_outcome idp_faults_before(struct idp_server *server, struct idp_request *req,
                                         struct idp_response *resp)
{
    enum idp_fault_outcome outcome = run_phase(server, req, resp, BEFORE);
    /* Answered here, the request never reaches the after phase: release the
     * barrier turn it holds now, or its successors wait out the timeout. */
    if (outcome != IDP_FAULT_CONTINUE)
        barrier_done(server, req);
    return outcome;
}

enum idp_fault_outcome idp_faults_after(struct idp_server *server, struct idp_request *req,
                                        struct idp_response *resp)
{
    barrier_done(server, req);
    return run_phase(server, req, resp, AFTER);
}
