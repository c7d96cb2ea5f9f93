/* The fault actions that act on the connection rather than on the answer:
 * latency, reset, close, hang, garbage, truncated and dribble, and what they
 * rest on: holding a request in real time (bounded, cut short when the
 * client leaves or the server stops), finding the request's socket (CivetWeb
 * does not expose it), and writing a response by hand. */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fault_internal.h"
#include "server_internal.h"

#define MAX_INTERVAL_MS 10000 /* a dribble's interval */
#define POLL_SLICE_MS 100     /* how often a held request looks at its client */

/* ---------------------------------------------------------------------- */
/* Holding a request                                                       */

struct timespec idp_fault_deadline(int64_t ms)
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

bool idp_fault_client_gone(int fd)
{
    if (fd < 0)
        return false;
    char byte;
    ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

bool idp_fault_wait_slice(struct idp_server *server, const struct timespec *deadline)
{
    struct timespec now, until = idp_fault_deadline(POLL_SLICE_MS);
    if (before(deadline, &until))
        until = *deadline;
    pthread_cond_timedwait(&server->faults.barrier_changed, &server->lock, &until);
    clock_gettime(CLOCK_REALTIME, &now);
    return before(&now, deadline);
}

bool idp_fault_sleep(struct idp_server *server, int64_t ms, int fd)
{
    if (ms <= 0)
        return true;
    struct timespec deadline = idp_fault_deadline(ms);
    bool slept = true;
    pthread_mutex_lock(&server->lock);
    while (slept && !server->faults.shutting_down) {
        if (idp_fault_client_gone(fd))
            slept = false;
        else if (!idp_fault_wait_slice(server, &deadline))
            break;
    }
    if (server->faults.shutting_down)
        slept = false;
    pthread_mutex_unlock(&server->lock);
    return slept;
}

/* ---------------------------------------------------------------------- */
/* The connection                                                          */

static int port_of(const struct sockaddr_storage *address)
{
    return address->ss_family == AF_INET6
               ? ntohs(((const struct sockaddr_in6 *)address)->sin6_port)
               : ntohs(((const struct sockaddr_in *)address)->sin_port);
}

/* The socket whose peer is the request's remote port and whose local port is
 * CivetWeb's, found among the process's descriptors. */
int idp_fault_connection_fd(struct idp_server *server, struct idp_request *req)
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
        if (port_of(&peer) == req->info->remote_port && port_of(&local) == server->http_port)
            found = fd;
    }
    closedir(dir);
    return found;
}

void idp_fault_drop_connection(struct idp_server *server, struct idp_request *req, bool reset)
{
    mg_disable_connection_keep_alive(req->conn);
    int fd = idp_fault_connection_fd(server, req);
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

/* Writes a response head by hand: for dribbled and truncated bodies. */
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

enum idp_fault_outcome idp_fault_latency(struct idp_server *server, struct idp_fault *f,
                                         struct idp_request *req, struct idp_response *resp)
{
    int64_t delay = idp_fault_param_duration(f->params, "delay", 1000);
    int64_t jitter = idp_fault_param_duration(f->params, "jitter", 0);
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
    idp_fault_sleep(server,
                    ms < 0                        ? 0
                    : ms > IDP_FAULT_MAX_HOLD_MS ? IDP_FAULT_MAX_HOLD_MS
                                                  : (int64_t)ms,
                    idp_fault_connection_fd(server, req));
    (void)resp;
    return IDP_FAULT_CONTINUE;
}

/* No reply at all: the connection ends with an RST (reset) or a shutdown. */
static enum idp_fault_outcome no_reply(struct idp_server *server, struct idp_request *req,
                                       struct idp_response *resp, bool reset)
{
    resp->status = 0;
    idp_fault_drop_connection(server, req, reset);
    return IDP_FAULT_NO_REPLY;
}

enum idp_fault_outcome idp_fault_reset(struct idp_server *server, struct idp_fault *f,
                                       struct idp_request *req, struct idp_response *resp)
{
    (void)f;
    return no_reply(server, req, resp, true);
}

enum idp_fault_outcome idp_fault_close(struct idp_server *server, struct idp_fault *f,
                                       struct idp_request *req, struct idp_response *resp)
{
    (void)f;
    return no_reply(server, req, resp, false);
}

enum idp_fault_outcome idp_fault_hang(struct idp_server *server, struct idp_fault *f,
                                      struct idp_request *req, struct idp_response *resp)
{
    int64_t limit = idp_fault_param_duration(f->params, "for", 30000);
    idp_fault_sleep(server, limit > IDP_FAULT_MAX_HOLD_MS ? IDP_FAULT_MAX_HOLD_MS : limit,
                    idp_fault_connection_fd(server, req));
    return idp_fault_close(server, f, req, resp);
}

enum idp_fault_outcome idp_fault_garbage(struct idp_server *server, struct idp_fault *f,
                                         struct idp_request *req, struct idp_response *resp)
{
    static const char junk[] = "\x16\x03\x01\x02\x00garbage\xff\xfe not http\r\n\r\n";
    mg_write(req->conn, junk, sizeof(junk) - 1);
    return idp_fault_close(server, f, req, resp);
}

enum idp_fault_outcome idp_fault_truncated(struct idp_server *server, struct idp_fault *f,
                                           struct idp_request *req, struct idp_response *resp)
{
    write_head(req, resp->status, resp->content_type, resp->body_len);
    mg_write(req->conn, resp->body, resp->body_len / 2);
    idp_fault_drop_connection(server, req, false);
    (void)f;
    return IDP_FAULT_NO_REPLY;
}

enum idp_fault_outcome idp_fault_dribble(struct idp_server *server, struct idp_fault *f,
                                         struct idp_request *req, struct idp_response *resp)
{
    int64_t interval = idp_fault_param_duration(f->params, "interval", 100);
    if (interval > MAX_INTERVAL_MS)
        interval = MAX_INTERVAL_MS;
    const json_t *chunk_v = json_object_get(f->params, "chunk");
    size_t chunk = json_is_integer(chunk_v) && json_integer_value(chunk_v) > 0
                       ? (size_t)json_integer_value(chunk_v) : 16;
    write_head(req, resp->status, resp->content_type, resp->body_len);
    int fd = idp_fault_connection_fd(server, req);
    int64_t spent = 0;
    for (size_t sent = 0; sent < resp->body_len; sent += chunk) {
        size_t n = resp->body_len - sent < chunk ? resp->body_len - sent : chunk;
        if (mg_write(req->conn, resp->body + sent, n) <= 0)
            break;
        /* The whole dribble is bounded too: the rest goes at once. */
        if (spent + interval > IDP_FAULT_MAX_HOLD_MS || !idp_fault_sleep(server, interval, fd))
            interval = 0;
        spent += interval;
    }
    mg_disable_connection_keep_alive(req->conn);
    return IDP_FAULT_NO_REPLY;
}
