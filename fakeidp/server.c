/* The server's lifecycle: starting CivetWeb (and the TLS front) with a
 * worker count that fits the descriptor limit, resetting state to the
 * configuration, reusing a server for the next run, stopping it, and the
 * accessors of server.h. Requests go through dispatch.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dispatch.h"
#include "mg_lifecycle.h"
#include "tls.h"
#include "server_internal.h"

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

/* A server in the state options describe, its signing key added, not yet
 * listening; NULL with err set. */
static struct idp_server *server_new(const struct idp_server_options *options, const char *host,
                                     struct idp_error *err)
{
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
    return server;
}

/* Starts CivetWeb for server (behind the TLS front with options->tls_cert)
 * with as many workers as fit the descriptor limit, and writes the port and
 * URL clients use; false with err set. Requests still get 404 until
 * idp_dispatch is registered. */
static bool server_listen(struct idp_server *server, const struct idp_server_options *options,
                          const char *host, struct idp_error *err)
{
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
        return false;
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
    callbacks.log_message = idp_dispatch_log_message;
    callbacks.http_error = idp_dispatch_http_error;
    struct mg_init_data init = {.callbacks = &callbacks, .user_data = server,
                                .configuration_options = mg_options};
    struct mg_error_data error = {0};
    char error_text[256] = "";
    error.text = error_text;
    error.text_buffer_size = sizeof(error_text);
    server->ctx = idp_mg_start(&init, &error);
    if (!server->ctx) {
        /* CivetWeb says only "Failed to setup server ports": binding the
         * same address here tells why (address already in use, …). */
        char why[128] = "";
        if (!options->tls_cert)
            bind_error(bind_host, options->port, why, sizeof(why));
        idp_fail(err, IDP_IO, "cannot listen on %s: %s", ports,
                 why[0] ? why : error_text[0] ? error_text : "unknown error");
        return false;
    }
    struct mg_server_port port = {0};
    if (mg_get_server_ports(server->ctx, 1, &port) < 1) {
        idp_fail(err, IDP_IO, "cannot read the listening port");
        return false;
    }
    server->port = server->http_port = port.port;
    if (options->tls_cert) {
        server->tls_front = idp_tls_front_start(bind_host, options->port, options->tls_cert,
                                                server->http_port, relays, request_timeout,
                                                err);
        if (!server->tls_front)
            return false;
        server->port = idp_tls_front_port(server->tls_front);
        server->tls = true;
    }
    snprintf(server->url, sizeof(server->url), v6 ? "%s://[%s]:%d" : "%s://%s:%d",
             server->tls ? "https" : "http", host, server->port);
    return true;
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
    struct idp_server *server = server_new(options, host, err);
    if (!server)
        return NULL;
    if (!server_listen(server, options, host, err)) {
        idp_server_stop(&server);
        return NULL;
    }
    /* Requests are handled only from here on: every field a handler reads
     * (url above all) is written before, and CivetWeb's handler table lock
     * orders the two. Until then CivetWeb answers 404. */
    mg_set_request_handler(server->ctx, "/", idp_dispatch, server);
    return server;
}

/* Waits (lock held) until no request is in flight; false after timeout_ms
 * of wall time. */
static bool wait_no_requests(struct idp_server *server, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (server->active_requests > 0)
        if (pthread_cond_timedwait(&server->idle, &server->lock, &until) != 0 &&
            server->active_requests > 0)
            break;
    return server->active_requests == 0;
}

/* Waits (lock held) until no request is in flight, releasing whatever
 * faults hold; false after timeout_ms of wall time. */
static bool wait_idle(struct idp_server *server, int timeout_ms)
{
    idp_faults_release_all(&server->faults);
    pthread_cond_broadcast(&server->refresh_done);
    bool idle = wait_no_requests(server, timeout_ms);
    server->faults.shutting_down = false;
    return idle;
}

bool idp_server_wait_quiet(struct idp_server *server, int timeout_ms)
{
    pthread_mutex_lock(&server->lock);
    bool quiet = wait_no_requests(server, timeout_ms);
    pthread_mutex_unlock(&server->lock);
    return quiet;
}

bool idp_server_settle(struct idp_server *server, int timeout_ms)
{
    pthread_mutex_lock(&server->lock);
    bool idle = wait_idle(server, timeout_ms);
    pthread_mutex_unlock(&server->lock);
    return idle;
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
