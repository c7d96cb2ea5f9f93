/* Cold-start probe for bench/server.sh.
 *
 *   coldstart PORT PATH RUNS -- COMMAND [ARGS...]
 *
 * For each run: takes a monotonic timestamp, fork+execs COMMAND (stdout and
 * stderr to /dev/null), then polls http://127.0.0.1:PORT/PATH every 100 us
 * (a fresh connection per attempt) until the status line says 200. The time
 * from just before fork() to that 200 is the cold start. The process is then
 * stopped with SIGTERM (SIGKILL after 3 s), reaped, and the port is checked
 * to be closed before the next run, so a run never sees the previous server.
 *
 * Prints one line per run ("run N: X.XX ms") and a summary line:
 *   median_ms=M min_ms=A max_ms=B runs=N
 * Exit status 1 if any run did not answer 200 within 10 s.
 *
 *   coldstart --bindable PORT
 *
 * exits 0 when 127.0.0.1:PORT can be bound now (with SO_REUSEADDR, as
 * servers do), 1 otherwise: a port that accepts no connection may still be
 * taken, e.g. as the local end of a client connection. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* 1: got a 200; 0: connection refused or another status; -1: connected but no answer. */
static int probe(int port, const char *request)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct timeval tv = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        close(fd);
        return 0;
    }
    size_t len = strlen(request), sent = 0;
    while (sent < len) {
        ssize_t n = write(fd, request + sent, len - sent);
        if (n <= 0) {
            close(fd);
            return -1;
        }
        sent += (size_t)n;
    }
    char buf[64];
    size_t got = 0;
    while (got < 12) {
        ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = 0;
    if (got < 12)
        return -1;
    return strncmp(buf, "HTTP/1.", 7) == 0 && strncmp(buf + 9, "200", 3) == 0;
}

static int port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;
    close(fd);
    return ok;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int bindable(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return 0;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;
    close(fd);
    return ok;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--bindable") == 0)
        return bindable(atoi(argv[2])) ? 0 : 1;
    if (argc < 6 || strcmp(argv[4], "--") != 0) {
        fprintf(stderr, "usage: coldstart PORT PATH RUNS -- COMMAND [ARGS...]\n");
        return 2;
    }
    int port = atoi(argv[1]);
    const char *path = argv[2];
    int runs = atoi(argv[3]);
    char **cmd = argv + 5;
    if (port <= 0 || runs <= 0 || runs > 1000)
        return 2;
    if (port_open(port)) {
        fprintf(stderr, "coldstart: port %d is already in use\n", port);
        return 2;
    }
    char request[512];
    snprintf(request, sizeof(request),
             "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n", path, port);
    double *times = calloc((size_t)runs, sizeof(double));
    int failed = 0;
    for (int r = 0; r < runs; r++) {
        double t0 = now_ms();
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 2;
        }
        if (pid == 0) {
            int null = open("/dev/null", O_RDWR);
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
            execvp(cmd[0], cmd);
            _exit(127);
        }
        double elapsed = -1;
        while (now_ms() - t0 < 10000) {
            if (probe(port, request) == 1) {
                elapsed = now_ms() - t0;
                break;
            }
            int status;
            if (waitpid(pid, &status, WNOHANG) == pid) {
                fprintf(stderr, "coldstart: run %d: %s exited early (status %d)\n", r + 1, cmd[0],
                        WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
                pid = -1;
                break;
            }
            sleep_us(100);
        }
        if (pid > 0) {
            kill(pid, SIGTERM);
            double t_kill = now_ms();
            int status;
            while (waitpid(pid, &status, WNOHANG) == 0) {
                if (now_ms() - t_kill > 3000) {
                    kill(pid, SIGKILL);
                    waitpid(pid, &status, 0);
                    break;
                }
                sleep_us(1000);
            }
        }
        double t_close = now_ms();
        while (port_open(port) && now_ms() - t_close < 3000)
            sleep_us(1000);
        if (elapsed < 0) {
            fprintf(stderr, "coldstart: run %d: no 200 from %s within 10 s\n", r + 1, cmd[0]);
            failed = 1;
            times[r] = 1e9;
        } else {
            times[r] = elapsed;
        }
        printf("run %d: %.2f ms\n", r + 1, times[r]);
        sleep_us(20000); /* let the exit settle before the next launch */
    }
    qsort(times, (size_t)runs, sizeof(double), cmp_double);
    double median = runs % 2 ? times[runs / 2] : (times[runs / 2 - 1] + times[runs / 2]) / 2;
    printf("median_ms=%.2f min_ms=%.2f max_ms=%.2f runs=%d\n", median, times[0], times[runs - 1],
           runs);
    free(times);
    return failed;
}
