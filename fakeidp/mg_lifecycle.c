#include "mg_lifecycle.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct waker {
    int port;
    int ipv6;
    atomic_int stopped;
};

static int socket_port(const struct sockaddr_storage *a)
{
    return a->ss_family == AF_INET6 ? ntohs(((const struct sockaddr_in6 *)a)->sin6_port)
                                    : ntohs(((const struct sockaddr_in *)a)->sin_port);
}

/* Shuts down every accepted connection of the server on port (local port
 * port, with a peer): a worker waiting on an idle keep-alive client looks at
 * CivetWeb's stop flag only every 2 s, a shut-down socket wakes it at once. */
static void shutdown_connections(int port)
{
    DIR *dir = opendir("/proc/self/fd");
    if (!dir)
        return;
    struct dirent *d;
    while ((d = readdir(dir))) {
        if (!isdigit((unsigned char)d->d_name[0]))
            continue;
        int fd = atoi(d->d_name);
        struct sockaddr_storage local, peer;
        socklen_t llen = sizeof(local), plen = sizeof(peer);
        if (fd != dirfd(dir) && getsockname(fd, (struct sockaddr *)&local, &llen) == 0 &&
            (local.ss_family == AF_INET || local.ss_family == AF_INET6) &&
            socket_port(&local) == port &&
            getpeername(fd, (struct sockaddr *)&peer, &plen) == 0)
            shutdown(fd, SHUT_RDWR);
    }
    closedir(dir);
}

static void *wake(void *arg)
{
    struct waker *w = arg;
    /* At most 1500 tries, 2 ms apart: bounded even if mg_stop hangs. After
     * 100 ms (time for requests in flight to finish), and every 50 ms from
     * then on, connections still open are shut down. */
    for (int i = 0; i < 1500 && !atomic_load(&w->stopped); i++) {
        if (i >= 50 && i % 25 == 0)
            shutdown_connections(w->port);
        int fd = socket(w->ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
        if (fd >= 0) {
            if (w->ipv6) {
                struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)w->port)};
                a.sin6_addr = in6addr_loopback;
                (void)connect(fd, (struct sockaddr *)&a, sizeof(a)); /* a wake-up: failure is fine */
            } else {
                struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)w->port)};
                a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                (void)connect(fd, (struct sockaddr *)&a, sizeof(a));
            }
            close(fd);
        }
        struct timespec ts = {0, 2L * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static pthread_once_t library_once = PTHREAD_ONCE_INIT;

static void library_init(void)
{
    mg_init_library(0);
}

struct mg_context *idp_mg_start(struct mg_init_data *init, struct mg_error_data *error)
{
    pthread_once(&library_once, library_init);
    return mg_start2(init, error);
}

void idp_mg_stop_fast(struct mg_context *ctx, int port, int ipv6)
{
    struct waker w = {.port = port, .ipv6 = ipv6};
    atomic_init(&w.stopped, 0);
    pthread_t thread;
    int started = port > 0 && pthread_create(&thread, NULL, wake, &w) == 0;
    mg_stop(ctx);
    atomic_store(&w.stopped, 1);
    if (started)
        pthread_join(thread, NULL);
}
