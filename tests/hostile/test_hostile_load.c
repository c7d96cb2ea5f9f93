/* Hostile load against a real in-process server: the server keeps answering
 * its health and admin endpoints whatever its clients do (idle keep-alive
 * connections, clients trickling headers, requests held by a barrier whose
 * clients left), a reset never waits on refreshes in flight, and stopping the
 * server does not wait for faults in flight. Each test is bounded in time. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test_server.h"

#define HEALTH "/_fakeidp/health"
#define JWKS_REQUEST "GET /sso/jwks/client_01FAKE1DPC0000000000000000 HTTP/1.1\r\nHost: x\r\n\r\n"

/* --- raw sockets ------------------------------------------------------------------- */

static int raw_connect(struct ts_server *ts)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)idp_server_port(ts->server))};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    return fd;
}

static void raw_send(int fd, const char *text)
{
    (void)!send(fd, text, strlen(text), MSG_NOSIGNAL);
}

/* The status of the reply that arrives within timeout_ms (0: none). Reads
 * the whole reply when it has a Content-Length. */
static int raw_status(int fd, int timeout_ms)
{
    char buf[8192];
    size_t len = 0;
    double deadline = ts_wall_ms() + timeout_ms;
    while (len < sizeof(buf) - 1) {
        int left = (int)(deadline - ts_wall_ms());
        struct pollfd p = {fd, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, left) <= 0)
            break;
        ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        const char *split = strstr(buf, "\r\n\r\n");
        const char *cl = strstr(buf, "Content-Length:");
        if (split && cl && len >= (size_t)(split + 4 - buf) + strtoul(cl + 15, NULL, 10))
            break;
    }
    buf[len] = '\0';
    return strncmp(buf, "HTTP/1.", 7) == 0 && len > 12 ? atoi(buf + 9) : 0;
}

/* GET /_fakeidp/health on a fresh connection: its time in ms, or fails. */
static double health_ms(struct ts_server *ts, const char *what)
{
    struct hx_http_client *fresh = hx_http_client_new();
    struct hx_http_response resp;
    double start = ts_wall_ms();
    ts_request(ts, fresh, "GET", HEALTH, NULL, NULL, &resp);
    double took = ts_wall_ms() - start;
    if (resp.status != 200)
        fail_msg("%s: health answered %ld (%s) after %.0f ms", what, resp.status, resp.error, took);
    hx_http_response_cleanup(&resp);
    hx_http_client_free(&fresh);
    print_message("%s: health in %.0f ms\n", what, took);
    return took;
}

static int teardown(void **state)
{
    struct ts_server *ts = *state;
    if (ts)
        ts_stop(&ts);
    return 0;
}

/* --- a reset racing refreshes ------------------------------------------------------- */

enum { RACERS = 40, ROUNDS = 150 };

struct racer {
    struct ts_server *ts;
    struct hx_http_client *client;
    pthread_barrier_t *go;
    const char *token;
    long status;
};

static void *race_refresh(void *arg)
{
    struct racer *r = arg;
    pthread_barrier_wait(r->go);
    struct hx_http_response resp;
    r->status = ts_refresh(r->ts, r->client, NULL, r->token, NULL, NULL, &resp);
    hx_http_response_cleanup(&resp);
    return NULL;
}

/* Grace-mode refreshes of one token wait while the first is signing; a reset
 * in that moment replaced the store under them (destroying the condition
 * they wait on) and everything froze for 10 s. */
static void test_reset_wakes_waiting_refreshes(void **state)
{
    struct ts_server *ts = ts_start_tuned("{\"settings\":{\"refresh_mode\":\"grace\"}}",
                                          &(struct ts_tuning){.threads = 64});
    *state = ts;
    struct racer racers[RACERS];
    for (int i = 0; i < RACERS; i++)
        racers[i] = (struct racer){.ts = ts, .client = hx_http_client_new()};
    double worst = 0, start = ts_wall_ms();
    int settled = 0;
    for (int round = 0; round < ROUNDS; round++) {
        struct ts_session s;
        ts_sign_in(ts, NULL, &s);
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, RACERS + 1);
        pthread_t threads[RACERS];
        for (int i = 0; i < RACERS; i++) {
            racers[i].go = &go;
            racers[i].token = s.refresh_token;
            assert_int_equal(pthread_create(&threads[i], NULL, race_refresh, &racers[i]), 0);
        }
        pthread_barrier_wait(&go);
        ts_sleep_ms(round % 4); /* the reset lands at different moments of the race */
        double t0 = ts_wall_ms();
        json_decref(ts_admin(ts, "POST", "/_fakeidp/reset", NULL, 200));
        double reset_ms = ts_wall_ms() - t0;
        for (int i = 0; i < RACERS; i++)
            pthread_join(threads[i], NULL);
        double round_ms = ts_wall_ms() - t0;
        pthread_barrier_destroy(&go);
        for (int i = 0; i < RACERS; i++) {
            /* 200 (exchanged or replayed before the reset) or a clean 400. */
            if (racers[i].status != 200 && racers[i].status != 400)
                fail_msg("round %d: a refresh got %ld", round, racers[i].status);
            settled += racers[i].status == 400;
        }
        if (round_ms > worst)
            worst = round_ms;
        if (reset_ms > 2000 || round_ms > 2000)
            fail_msg("round %d: the reset took %.0f ms, the refreshes %.0f ms", round, reset_ms,
                     round_ms);
        ts_session_cleanup(&s);
    }
    print_message("%d rounds of %d refreshes racing a reset in %.0f ms, slowest round %.0f ms, "
                  "%d refreshes refused after a reset\n",
                  ROUNDS, RACERS, ts_wall_ms() - start, worst, settled);
    for (int i = 0; i < RACERS; i++)
        hx_http_client_free(&racers[i].client);
}

/* --- idle and slow clients ---------------------------------------------------------- */

/* 100 keep-alive connections that made one request each and then say
 * nothing: with 64 workers they held every one for 30 s. */
static void test_idle_keep_alive_does_not_starve(void **state)
{
    /* The server's default threads; a keep-alive timeout short enough to wait out. */
    struct ts_server *ts = ts_start_tuned(NULL, &(struct ts_tuning){.keep_alive_timeout_ms = 2000});
    *state = ts;
    enum { IDLE = 100 };
    int fds[IDLE];
    for (int i = 0; i < IDLE; i++) {
        fds[i] = raw_connect(ts);
        raw_send(fds[i], "GET " HEALTH " HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    int answered = 0;
    double deadline = ts_wall_ms() + 2000;
    for (int i = 0; i < IDLE; i++) {
        int left = (int)(deadline - ts_wall_ms());
        answered += raw_status(fds[i], left > 0 ? left : 0) == 200;
    }
    print_message("%d of %d keep-alive clients answered within 2 s\n", answered, IDLE);
    assert_int_equal(answered, IDLE);
    assert_true(health_ms(ts, "100 idle keep-alive connections") < 1000);
    /* The idle ones are let go after the keep-alive timeout. */
    ts_sleep_ms(2500);
    int closed = 0;
    for (int i = 0; i < IDLE; i++) {
        char byte;
        struct pollfd p = {fds[i], POLLIN, 0};
        closed += poll(&p, 1, 0) == 1 && recv(fds[i], &byte, 1, 0) <= 0;
        close(fds[i]);
    }
    print_message("%d of %d idle connections closed by the server after 2.5 s\n", closed, IDLE);
    assert_int_equal(closed, IDLE);
}

struct trickle {
    struct ts_server *ts;
    int count;
    double ms;
    int *fds;
};

/* Opens count connections and sends each a byte of a header every 200 ms
 * for ms: never a complete request. */
static void *trickle_run(void *arg)
{
    struct trickle *t = arg;
    static const char request[] = "GET /sso/jwks/x HTTP/1.1\r\nHost: x\r\nX-Slow: "
                                  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    for (int i = 0; i < t->count; i++)
        t->fds[i] = raw_connect(t->ts);
    double end = ts_wall_ms() + t->ms;
    for (size_t k = 0; k < sizeof(request) - 1 && ts_wall_ms() < end; k++) {
        for (int i = 0; i < t->count; i++)
            if (t->fds[i] >= 0)
                (void)!send(t->fds[i], request + k, 1, MSG_NOSIGNAL);
        ts_sleep_ms(200);
    }
    return NULL;
}

static void test_slow_headers_do_not_starve(void **state)
{
    struct ts_server *ts = ts_start_tuned(NULL, &(struct ts_tuning){0});
    *state = ts;
    enum { SLOW = 200 };
    int fds[SLOW];
    struct trickle t = {ts, SLOW, 4000, fds};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, trickle_run, &t), 0);
    ts_sleep_ms(1000);
    double worst = 0;
    for (int i = 0; i < 5; i++) {
        double took = health_ms(ts, "200 clients trickling headers");
        worst = took > worst ? took : worst;
        ts_sleep_ms(200);
    }
    double start = ts_wall_ms();
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    ts_session_cleanup(&s);
    double sign_in = ts_wall_ms() - start;
    pthread_join(thread, NULL);
    for (int i = 0; i < SLOW; i++)
        close(fds[i]);
    print_message("under 200 slow clients: health at worst %.0f ms, a sign-in %.0f ms\n", worst,
                  sign_in);
    assert_true(worst < 1000);
    assert_true(sign_in < 2000);
}

/* A client that sends half a request line is cut at the request timeout. */
static void test_request_timeout_cuts_slow_clients(void **state)
{
    struct ts_server *ts = ts_start_tuned(NULL, &(struct ts_tuning){.request_timeout_ms = 1000});
    *state = ts;
    int fd = raw_connect(ts);
    double start = ts_wall_ms();
    double end = start + 4000;
    bool cut = false;
    while (!cut && ts_wall_ms() < end) {
        cut = send(fd, "G", 1, MSG_NOSIGNAL) < 0;
        char byte;
        struct pollfd p = {fd, POLLIN, 0};
        if (!cut && poll(&p, 1, 100) == 1)
            cut = recv(fd, &byte, 1, MSG_DONTWAIT) <= 0 || true;
    }
    double took = ts_wall_ms() - start;
    close(fd);
    print_message("a trickling client was cut after %.0f ms (request timeout 1 s)\n", took);
    assert_true(cut);
    assert_true(took < 3000);
}

/* --- barriers ------------------------------------------------------------------------ */

#define WEDGE "{\"route\":\"jwks\",\"action\":\"barrier\",\"hold\":100000,\"timeout\":\"52w\"}"

/* A barrier that never fills holds its requests; they must not outlive
 * their clients, the rule, or a reset. */
static void test_barrier_releases_held_requests(void **state)
{
    struct ts_server *ts = ts_start_tuned(NULL, &(struct ts_tuning){.threads = 16});
    *state = ts;
    char *id = ts_add_fault(ts, WEDGE);

    /* 40 clients (more than the 16 workers) give up after 300 ms. */
    enum { GIVE_UP = 40 };
    int fds[GIVE_UP];
    for (int i = 0; i < GIVE_UP; i++) {
        fds[i] = raw_connect(ts);
        raw_send(fds[i], JWKS_REQUEST);
    }
    ts_sleep_ms(300);
    for (int i = 0; i < GIVE_UP; i++)
        close(fds[i]);
    assert_true(health_ms(ts, "40 held requests whose clients left") < 1500);

    /* Removing the rule releases the requests it holds. */
    enum { HELD = 3 };
    for (int i = 0; i < HELD; i++) {
        fds[i] = raw_connect(ts);
        raw_send(fds[i], JWKS_REQUEST);
    }
    ts_sleep_ms(300);
    for (int i = 0; i < HELD; i++)
        assert_int_equal(raw_status(fds[i], 100), 0); /* still held */
    char path[128];
    snprintf(path, sizeof(path), "/_fakeidp/faults/%s", id);
    double start = ts_wall_ms();
    json_decref(ts_admin(ts, "DELETE", path, NULL, 200));
    for (int i = 0; i < HELD; i++) {
        assert_int_equal(raw_status(fds[i], 2000), 200);
        close(fds[i]);
    }
    print_message("removing the rule released its requests in %.0f ms\n", ts_wall_ms() - start);
    assert_true(ts_wall_ms() - start < 1000);
    free(id);

    /* So does a reset. */
    free(ts_add_fault(ts, WEDGE));
    for (int i = 0; i < HELD; i++) {
        fds[i] = raw_connect(ts);
        raw_send(fds[i], JWKS_REQUEST);
    }
    ts_sleep_ms(300);
    start = ts_wall_ms();
    json_decref(ts_admin(ts, "POST", "/_fakeidp/reset", NULL, 200));
    for (int i = 0; i < HELD; i++) {
        assert_int_equal(raw_status(fds[i], 2000), 200);
        close(fds[i]);
    }
    print_message("a reset released held requests in %.0f ms\n", ts_wall_ms() - start);
    assert_true(ts_wall_ms() - start < 1000);
}

/* --- stopping ------------------------------------------------------------------------ */

/* Stopping does not wait for a latency fault or a dribble in flight, nor
 * for an idle keep-alive client. */
static void test_stop_does_not_wait_for_faults(void **state)
{
    struct ts_server *ts = ts_start(NULL);
    free(ts_add_fault(ts, "{\"route\":\"jwks\",\"action\":\"latency\",\"delay\":\"30s\"}"));
    free(ts_add_fault(ts, "{\"route\":\"discovery\",\"action\":\"dribble\",\"chunk\":1,"
                          "\"interval\":\"1h\"}"));
    int slow = raw_connect(ts), dribble = raw_connect(ts), idle = raw_connect(ts);
    raw_send(slow, JWKS_REQUEST);
    raw_send(dribble, "GET /.well-known/openid-configuration HTTP/1.1\r\nHost: x\r\n\r\n");
    raw_send(idle, "GET " HEALTH " HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(raw_status(idle, 2000), 200);
    ts_sleep_ms(300);
    double start = ts_wall_ms();
    ts_stop(&ts);
    double took = ts_wall_ms() - start;
    close(slow);
    close(dribble);
    close(idle);
    *state = NULL;
    print_message("stopped with a latency fault, a dribble and an idle client in %.0f ms\n",
                  took);
    assert_true(took < 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_reset_wakes_waiting_refreshes, teardown),
        cmocka_unit_test_teardown(test_idle_keep_alive_does_not_starve, teardown),
        cmocka_unit_test_teardown(test_slow_headers_do_not_starve, teardown),
        cmocka_unit_test_teardown(test_request_timeout_cuts_slow_clients, teardown),
        cmocka_unit_test_teardown(test_barrier_releases_held_requests, teardown),
        cmocka_unit_test_teardown(test_stop_does_not_wait_for_faults, teardown),
    };
    return cmocka_run_group_tests_name("hostile load", tests, NULL, NULL);
}
