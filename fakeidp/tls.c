#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

struct relay {
    struct idp_tls_front *front;
    int client, backend;
    SSL *ssl;
    pthread_t thread;
    bool used, done;
    bool handshaken;   /* SSL_accept finished */
    unsigned long seq; /* accept order: the oldest handshake is evicted first */
};

struct idp_tls_front {
    SSL_CTX *ctx;
    int listener;
    int port, backend_port;
    int wake[2]; /* a pipe: writing to it stops the accept loop */
    pthread_t accept_thread;
    pthread_mutex_t lock;
    pthread_cond_t slot_freed;
    bool stopping;
    int timeout_ms;
    unsigned long accepted;
    int relay_count;
    struct relay *relays;
};

static int connect_backend(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Relays bytes both ways until either side closes. */
static void *relay_run(void *arg)
{
    struct relay *r = arg;
    char buf[16384];
    int handshake = SSL_accept(r->ssl);
    pthread_mutex_lock(&r->front->lock);
    r->handshaken = true;
    pthread_mutex_unlock(&r->front->lock);
    if (handshake == 1 && (r->backend = connect_backend(r->front->backend_port)) >= 0) {
        for (;;) {
            struct pollfd p[2] = {{r->client, POLLIN, 0}, {r->backend, POLLIN, 0}};
            /* Data already decrypted inside OpenSSL does not show on the socket. */
            int ready = SSL_pending(r->ssl) > 0 ? 1 : poll(p, 2, 30000);
            if (ready <= 0)
                break;
            if (SSL_pending(r->ssl) > 0 || (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
                int n = SSL_read(r->ssl, buf, sizeof(buf));
                if (n <= 0 || send(r->backend, buf, (size_t)n, MSG_NOSIGNAL) != n)
                    break;
            }
            if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t n = recv(r->backend, buf, sizeof(buf), 0);
                if (n <= 0 || SSL_write(r->ssl, buf, (int)n) != (int)n)
                    break;
            }
        }
    }
    ERR_clear_error();
    SSL_shutdown(r->ssl);
    SSL_free(r->ssl);
    if (r->backend >= 0)
        close(r->backend);
    close(r->client);
    pthread_mutex_lock(&r->front->lock);
    r->done = true;
    pthread_cond_broadcast(&r->front->slot_freed);
    pthread_mutex_unlock(&r->front->lock);
    return NULL;
}

/* Joins finished relays so their slots can be reused. Lock held. */
static struct relay *free_slot(struct idp_tls_front *f)
{
    for (int i = 0; i < f->relay_count; i++) {
        struct relay *r = &f->relays[i];
        if (r->used && r->done) {
            pthread_join(r->thread, NULL);
            r->used = false;
        }
        if (!r->used)
            return r;
    }
    return NULL;
}

/* Every slot is taken: the connection that has been in its handshake the
 * longest is cut, so idle TCP connections cannot lock TLS clients out. Lock
 * held. Returns false when no relay is still in its handshake. */
static bool evict_oldest_handshake(struct idp_tls_front *f)
{
    struct relay *oldest = NULL;
    for (int i = 0; i < f->relay_count; i++) {
        struct relay *r = &f->relays[i];
        if (r->used && !r->done && !r->handshaken && (!oldest || r->seq < oldest->seq))
            oldest = r;
    }
    if (oldest)
        shutdown(oldest->client, SHUT_RDWR);
    return oldest != NULL;
}

static void *accept_run(void *arg)
{
    struct idp_tls_front *f = arg;
    for (;;) {
        struct pollfd p[2] = {{f->listener, POLLIN, 0}, {f->wake[0], POLLIN, 0}};
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        if (p[1].revents)
            break;
        if (!(p[0].revents & POLLIN))
            continue;
        int client = accept(f->listener, NULL, NULL);
        if (client < 0)
            continue;
        /* Every read and write on the client, the handshake above all, is
         * bounded: a client that connects and says nothing is let go. */
        struct timeval tv = {f->timeout_ms / 1000, (f->timeout_ms % 1000) * 1000L};
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        pthread_mutex_lock(&f->lock);
        struct relay *r = f->stopping ? NULL : free_slot(f);
        if (!r && !f->stopping && evict_oldest_handshake(f)) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += 1;
            while (!(r = free_slot(f)) &&
                   pthread_cond_timedwait(&f->slot_freed, &f->lock, &until) == 0) {
            }
        }
        SSL *ssl = r ? SSL_new(f->ctx) : NULL;
        if (!ssl) {
            pthread_mutex_unlock(&f->lock);
            close(client); /* too many connections at once: refuse this one */
            continue;
        }
        SSL_set_fd(ssl, client);
        *r = (struct relay){.front = f, .client = client, .backend = -1, .ssl = ssl, .used = true,
                            .seq = ++f->accepted};
        if (pthread_create(&r->thread, NULL, relay_run, r) != 0) {
            SSL_free(ssl);
            close(client);
            r->used = false;
        }
        pthread_mutex_unlock(&f->lock);
    }
    return NULL;
}

struct idp_tls_front *idp_tls_front_start(const char *host, int port, const char *pem_path,
                                          int backend_port, int max_relays, int timeout_ms,
                                          struct idp_error *err)
{
    struct idp_tls_front *f = calloc(1, sizeof(*f));
    if (max_relays < 1)
        max_relays = 1;
    struct relay *relays = f ? calloc((size_t)max_relays, sizeof(*relays)) : NULL;
    if (!relays) {
        free(f);
        idp_fail(err, IDP_NOMEM, "out of memory");
        return NULL;
    }
    f->relays = relays;
    f->relay_count = max_relays;
    f->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
    pthread_cond_init(&f->slot_freed, NULL);
    f->listener = -1;
    f->wake[0] = f->wake[1] = -1;
    f->backend_port = backend_port;
    pthread_mutex_init(&f->lock, NULL);
    f->ctx = SSL_CTX_new(TLS_server_method());
    if (!f->ctx || SSL_CTX_use_certificate_chain_file(f->ctx, pem_path) != 1 ||
        SSL_CTX_use_PrivateKey_file(f->ctx, pem_path, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(f->ctx) != 1) {
        char detail[256];
        ERR_error_string_n(ERR_get_error(), detail, sizeof(detail));
        ERR_clear_error();
        idp_fail(err, IDP_CRYPTO, "%s: not a PEM file with a certificate and its key (%s)",
                 pem_path, detail);
        goto fail;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char service[16];
    snprintf(service, sizeof(service), "%d", port);
    if (getaddrinfo(host, service, &hints, &ai) != 0 || !ai) {
        idp_fail(err, IDP_IO, "cannot resolve %s", host);
        goto fail;
    }
    f->listener = socket(ai->ai_family, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(f->listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    bool bound = f->listener >= 0 && bind(f->listener, ai->ai_addr, ai->ai_addrlen) == 0 &&
                 listen(f->listener, 128) == 0;
    freeaddrinfo(ai);
    if (!bound) {
        idp_fail(err, IDP_IO, "cannot listen on %s:%d: %s", host, port, strerror(errno));
        goto fail;
    }
    struct sockaddr_storage local;
    socklen_t len = sizeof(local);
    getsockname(f->listener, (struct sockaddr *)&local, &len);
    f->port = ntohs(local.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&local)->sin6_port
                                                : ((struct sockaddr_in *)&local)->sin_port);
    if (pipe(f->wake) != 0 || pthread_create(&f->accept_thread, NULL, accept_run, f) != 0) {
        idp_fail(err, IDP_IO, "cannot start the TLS front");
        goto fail;
    }
    return f;
fail:
    if (f->listener >= 0)
        close(f->listener);
    if (f->wake[0] >= 0) {
        close(f->wake[0]);
        close(f->wake[1]);
    }
    SSL_CTX_free(f->ctx);
    pthread_cond_destroy(&f->slot_freed);
    pthread_mutex_destroy(&f->lock);
    free(f->relays);
    free(f);
    return NULL;
}

int idp_tls_front_port(const struct idp_tls_front *front)
{
    return front->port;
}

void idp_tls_front_stop(struct idp_tls_front **pfront)
{
    struct idp_tls_front *f = *pfront;
    if (!f)
        return;
    pthread_mutex_lock(&f->lock);
    f->stopping = true;
    pthread_mutex_unlock(&f->lock);
    (void)!write(f->wake[1], "x", 1);
    pthread_join(f->accept_thread, NULL);
    pthread_mutex_lock(&f->lock);
    for (int i = 0; i < f->relay_count; i++)
        if (f->relays[i].used && !f->relays[i].done)
            shutdown(f->relays[i].client, SHUT_RDWR); /* ends the relay's poll */
    pthread_mutex_unlock(&f->lock);
    for (int i = 0; i < f->relay_count; i++)
        if (f->relays[i].used)
            pthread_join(f->relays[i].thread, NULL);
    close(f->listener);
    close(f->wake[0]);
    close(f->wake[1]);
    SSL_CTX_free(f->ctx);
    pthread_cond_destroy(&f->slot_freed);
    pthread_mutex_destroy(&f->lock);
    free(f->relays);
    free(f);
    *pfront = NULL;
}
