/* Hostile input at the wire: a real fakeidp server in this process
 * (tests/wire/test_server.c) gets oversized headers and bodies, slowloris
 * clients, malformed request lines, invalid UTF-8, deeply nested JSON, huge
 * numbers, duplicated and missing fields, wrong content types and NUL bytes.
 * Every bad input must get a WorkOS-shaped 4xx (JSON with message/code or
 * error/error_description), or a closed connection where HTTP allows no
 * answer; afterwards the server still answers a JWKS request quickly and a
 * session created before is intact (listed active, and its refresh token
 * still rotates). */
#define _GNU_SOURCE
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
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test_server.h"

#define AUTH_HEADER "Authorization: Bearer " TS_API_KEY
#define AUTHENTICATE "/user_management/authenticate"

/* --- raw HTTP ------------------------------------------------------------------- */

struct raw_reply {
    int status;   /* 0: no status line arrived */
    bool closed;  /* the server closed (EOF or reset) */
    char *data;   /* everything received, NUL-terminated */
    size_t len, cap;
    const char *body; /* inside data, after the header block */
    size_t body_len;
};

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

/* Sends everything it can; false once the server has closed or reset. */
static bool raw_send(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        if (poll(&pfd, 1, 5000) <= 0)
            return false;
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static const char *find_header(const char *head, size_t head_len, const char *name,
                               size_t *value_len)
{
    size_t name_len = strlen(name);
    for (const char *line = head; line && line < head + head_len;) {
        const char *end = memmem(line, (size_t)(head + head_len - line), "\r\n", 2);
        if (!end)
            break;
        if ((size_t)(end - line) > name_len && strncasecmp(line, name, name_len) == 0 &&
            line[name_len] == ':') {
            const char *v = line + name_len + 1;
            while (*v == ' ')
                v++;
            *value_len = (size_t)(end - v);
            return v;
        }
        line = end + 2;
    }
    return NULL;
}

/* Reads one reply: until its Content-Length is in (unless until_close), the
 * server closes, or timeout_ms passes. Appends to what r already holds. */
static void raw_read(int fd, struct raw_reply *r, int timeout_ms, bool until_close)
{
    if (!r->data) {
        r->cap = 65536;
        r->data = malloc(r->cap + 1);
        assert_non_null(r->data);
        r->len = 0;
    }
    double deadline = ts_wall_ms() + timeout_ms;
    for (;;) {
        const char *split = r->len ? memmem(r->data, r->len, "\r\n\r\n", 4) : NULL;
        if (split && !until_close) {
            size_t head_len = (size_t)(split - r->data) + 4;
            size_t cl_len;
            const char *cl = find_header(r->data, head_len, "Content-Length", &cl_len);
            if (cl && r->len >= head_len + strtoul(cl, NULL, 10))
                break;
        }
        int left = (int)(deadline - ts_wall_ms());
        if (left <= 0)
            break;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, left) <= 0)
            continue;
        if (r->len == r->cap) {
            r->cap *= 2;
            r->data = realloc(r->data, r->cap + 1);
            assert_non_null(r->data);
        }
        ssize_t n = recv(fd, r->data + r->len, r->cap - r->len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            r->closed = true;
            break;
        }
        r->len += (size_t)n;
    }
    r->data[r->len] = '\0';
    if (strncmp(r->data, "HTTP/1.", 7) == 0 && r->len > 12)
        r->status = atoi(r->data + 9);
    const char *split = memmem(r->data, r->len, "\r\n\r\n", 4);
    r->body = split ? split + 4 : r->data + r->len;
    r->body_len = (size_t)(r->data + r->len - r->body);
    size_t cl_len;
    const char *cl = split ? find_header(r->data, (size_t)(split - r->data) + 4,
                                         "Content-Length", &cl_len)
                           : NULL;
    if (cl && strtoul(cl, NULL, 10) < r->body_len)
        r->body_len = strtoul(cl, NULL, 10);
}

/* Whether the server closes the connection within timeout_ms. */
static bool raw_closes(int fd, int timeout_ms)
{
    double deadline = ts_wall_ms() + timeout_ms;
    char buf[4096];
    for (;;) {
        int left = (int)(deadline - ts_wall_ms());
        if (left <= 0)
            return false;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, left) <= 0)
            continue;
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0)
            return true;
    }
}

static void raw_reply_cleanup(struct raw_reply *r)
{
    free(r->data);
    memset(r, 0, sizeof(*r));
}

/* One request on a fresh connection. */
static void raw_exchange(struct ts_server *ts, const void *request, size_t len,
                         struct raw_reply *r)
{
    memset(r, 0, sizeof(*r));
    int fd = raw_connect(ts);
    raw_send(fd, request, len);
    raw_read(fd, r, 5000, false);
    close(fd);
}

/* --- checks --------------------------------------------------------------------- */

static bool workos_shaped(const char *body, size_t len, char *why, size_t why_size)
{
    json_error_t jerr;
    json_t *json = json_loadb(body, len, 0, &jerr);
    bool ok = json_is_object(json) &&
              ((json_is_string(json_object_get(json, "message")) &&
                json_is_string(json_object_get(json, "code"))) ||
               (json_is_string(json_object_get(json, "error")) &&
                json_is_string(json_object_get(json, "error_description"))));
    if (!ok)
        snprintf(why, why_size, "body is not a WorkOS error: %.*s", (int)(len < 300 ? len : 300),
                 body);
    json_decref(json);
    return ok;
}

static void fail_at(const char *what, const char *why, const char *body, size_t len,
                    const char *file, int line)
{
    print_error("%s:%d: %s: %s\n  body: %.*s\n", file, line, what, why,
                (int)(len < 500 ? len : 500), body ? body : "");
    _fail(file, line);
}

static void check_shaped(long status, const char *content_type, const char *body, size_t len,
                         long lo, long hi, const char *what, const char *file, int line)
{
    char why[400] = "";
    if (status < lo || status > hi)
        snprintf(why, sizeof(why), "status %ld, not %ld-%ld", status, lo, hi);
    else if (!content_type || strncmp(content_type, "application/json", 16) != 0)
        snprintf(why, sizeof(why), "Content-Type %s", content_type ? content_type : "(none)");
    else
        workos_shaped(body, len, why, sizeof(why));
    if (why[0])
        fail_at(what, why, body, len, file, line);
}

static void check_raw(const struct raw_reply *r, bool may_close, long hi, const char *what,
                      const char *file, int line)
{
    if (r->status == 0) {
        if (may_close && r->closed)
            return;
        fail_at(what, r->closed ? "closed without a reply where HTTP wants one"
                                      : "no reply within 5 s",
                     r->data, r->len, file, line);
        return;
    }
    const char *split = memmem(r->data, r->len, "\r\n\r\n", 4);
    size_t head_len = split ? (size_t)(split - r->data) + 4 : r->len;
    size_t ct_len = 0;
    const char *ct = find_header(r->data, head_len, "Content-Type", &ct_len);
    char type[128] = "";
    if (ct)
        snprintf(type, sizeof(type), "%.*s", (int)ct_len, ct);
    check_shaped(r->status, ct ? type : NULL, r->body, r->body_len, 400, hi, what, file, line);
}
/* A WorkOS-shaped 4xx. */
#define assert_raw_rejected(r, what) check_raw((r), false, 499, (what), __FILE__, __LINE__)
/* The same, or the connection closed without a reply. */
#define assert_raw_rejected_or_closed(r, what) check_raw((r), true, 499, (what), __FILE__, __LINE__)

static void check_resp(const struct hx_http_response *resp, const char *what, const char *file,
                       int line)
{
    check_shaped(resp->status, ts_header(resp, "Content-Type"), resp->body ? resp->body : "",
                 resp->body_len, 400, 499, what, file, line);
}
#define assert_rejected(resp, what) check_resp((resp), (what), __FILE__, __LINE__)

/* --- the fixture: a server and a session made before the abuse --------------------- */

struct fixture {
    struct ts_server *ts;
    char sid[64];
    char refresh[128];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->ts = ts_start(TS_CONFIG);
    struct ts_session s;
    ts_sign_in(f->ts, NULL, &s);
    snprintf(f->sid, sizeof(f->sid), "%s", s.sid);
    snprintf(f->refresh, sizeof(f->refresh), "%s", s.refresh_token);
    ts_session_cleanup(&s);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f) {
        ts_stop(&f->ts);
        free(f);
    }
    *state = NULL;
    return 0;
}

/* The server still answers a JWKS request (quickly), lists the session as
 * active with the refreshes it had, and rotates its refresh token. */
static void check_intact(struct fixture *f, const char *file, int line)
{
    struct ts_server *ts = f->ts;
    struct hx_http_client *fresh = hx_http_client_new();
    assert_non_null(fresh);
    struct hx_http_response resp;
    double start = ts_wall_ms();
    ts_request(ts, fresh, "GET", "/sso/jwks/" TS_CLIENT, NULL, NULL, &resp);
    double took = ts_wall_ms() - start;
    if (resp.status != 200 || took > 2000) {
        print_error("%s:%d: JWKS afterwards: status %ld in %.0f ms (%s)\n", file, line,
                    resp.status, took, resp.error);
        _fail(file, line);
    }
    json_t *jwks = ts_json(&resp);
    assert_true(json_array_size(json_object_get(jwks, "keys")) >= 1);
    json_decref(jwks);
    hx_http_response_cleanup(&resp);

    const char *auth[] = {AUTH_HEADER, NULL};
    ts_request(ts, fresh, "GET", "/user_management/users/" TS_ALICE "/sessions", auth, NULL,
               &resp);
    json_t *body = ts_json(&resp);
    hx_http_response_cleanup(&resp);
    const json_t *found = NULL;
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(body, "data"), i, s)
        if (strcmp(ts_entry_str(s, "id"), f->sid) == 0)
            found = s;
    if (!found || strcmp(ts_entry_str(found, "status"), "active") != 0) {
        print_error("%s:%d: session %s is %s after the abuse\n", file, line, f->sid,
                    found ? ts_entry_str(found, "status") : "gone");
        _fail(file, line);
    }
    json_decref(body);

    ts_refresh(ts, fresh, NULL, f->refresh, NULL, NULL, &resp);
    if (resp.status != 200) {
        print_error("%s:%d: refresh afterwards: %ld %s\n", file, line, resp.status,
                    resp.body ? resp.body : resp.error);
        _fail(file, line);
    }
    json_t *pair = ts_json(&resp);
    snprintf(f->refresh, sizeof(f->refresh), "%s",
             json_string_value(json_object_get(pair, "refresh_token")));
    json_decref(pair);
    hx_http_response_cleanup(&resp);
    hx_http_client_free(&fresh);
}
#define assert_intact(f) check_intact((f), __FILE__, __LINE__)

/* The server answers a JWKS request, on a fresh connection, within 2 s. */
static void check_alive(struct ts_server *ts, const char *what, const char *file, int line)
{
    struct hx_http_client *fresh = hx_http_client_new();
    assert_non_null(fresh);
    struct hx_http_response resp;
    double start = ts_wall_ms();
    ts_request(ts, fresh, "GET", "/sso/jwks/" TS_CLIENT, NULL, NULL, &resp);
    double took = ts_wall_ms() - start;
    if (resp.status != 200 || took > 2000) {
        print_error("%s:%d: after %s: JWKS status %ld in %.0f ms (%s)\n", file, line, what,
                    resp.status, took, resp.error);
        _fail(file, line);
    }
    hx_http_response_cleanup(&resp);
    hx_http_client_free(&fresh);
}

/* POSTs body (len bytes, may hold NULs) with the given Content-Type (NULL: none). */
static long post_raw(struct ts_server *ts, const char *path, const char *content_type,
                     const char *body, size_t len, struct hx_http_response *resp)
{
    char url[512], type[600];
    snprintf(url, sizeof(url), "%s%s", ts->url, path);
    const char *headers[2] = {NULL, NULL};
    if (content_type) {
        snprintf(type, sizeof(type), "Content-Type: %s", content_type);
        headers[0] = type;
    }
    struct hx_http_client *client = hx_http_client_new();
    assert_non_null(client);
    hx_http_request(client, "POST", url, headers, body, len, TS_TIMEOUT_MS, resp);
    hx_http_client_free(&client);
    return resp->status;
}

static void post_rejected(struct ts_server *ts, const char *path, const char *content_type,
                          const char *body, size_t len, const char *what, const char *file,
                          int line)
{
    struct hx_http_response resp;
    post_raw(ts, path, content_type, body, len, &resp);
    check_resp(&resp, what, file, line);
    hx_http_response_cleanup(&resp);
    check_alive(ts, what, file, line);
}
#define assert_post_rejected(ts, path, type, body, what) \
    post_rejected((ts), (path), (type), (body), strlen(body), (what), __FILE__, __LINE__)
#define assert_post_rejected_n(ts, path, type, body, len, what) \
    post_rejected((ts), (path), (type), (body), (len), (what), __FILE__, __LINE__)

static char *repeat(const char *unit, size_t times, const char *prefix, const char *suffix)
{
    size_t ul = strlen(unit), pl = strlen(prefix), sl = strlen(suffix);
    char *out = malloc(pl + ul * times + sl + 1);
    assert_non_null(out);
    memcpy(out, prefix, pl);
    for (size_t i = 0; i < times; i++)
        memcpy(out + pl + i * ul, unit, ul);
    memcpy(out + pl + ul * times, suffix, sl + 1);
    return out;
}

/* --- oversized headers and bodies ------------------------------------------------- */

static void test_oversized_headers(void **state)
{
    struct fixture *f = *state;
    /* One header of 100 KB, beyond CivetWeb's 64 KB request limit. */
    char *big = repeat("a", 100000, "GET /sso/jwks/" TS_CLIENT " HTTP/1.1\r\nHost: x\r\nX-Big: ",
                       "\r\n\r\n");
    struct raw_reply r;
    raw_exchange(f->ts, big, strlen(big), &r);
    assert_raw_rejected_or_closed(&r, "a 100 KB header");
    raw_reply_cleanup(&r);
    free(big);

    /* 2000 small headers: over the limit in total. */
    char *many = repeat("X-Many: 0123456789012345678901234567890123456789\r\n", 2000,
                        "GET /sso/jwks/" TS_CLIENT " HTTP/1.1\r\nHost: x\r\n", "\r\n");
    raw_exchange(f->ts, many, strlen(many), &r);
    assert_raw_rejected_or_closed(&r, "2000 headers");
    raw_reply_cleanup(&r);
    free(many);

    /* A 60 KB URL (under the limit): a plain 404. */
    char *url = repeat("a", 60000, "GET /sso/jwks/", " HTTP/1.1\r\nHost: x\r\n\r\n");
    raw_exchange(f->ts, url, strlen(url), &r);
    assert_raw_rejected_or_closed(&r, "a 60 KB path");
    raw_reply_cleanup(&r);
    free(url);

    /* A huge Authorization and Cookie on authenticate: refused, not crashed. */
    char *bearer = repeat("k", 30000, "Authorization: Bearer ", "");
    char *cookie = repeat("c", 30000, "Cookie: workos-refresh-token=", "");
    const char *headers[] = {bearer, cookie, NULL};
    struct hx_http_response resp;
    ts_refresh(f->ts, NULL, NULL, NULL, NULL, headers, &resp);
    assert_rejected(&resp, "30 KB bearer and cookie");
    hx_http_response_cleanup(&resp);
    free(bearer);
    free(cookie);
    assert_intact(f);
}

static void test_oversized_bodies(void **state)
{
    struct fixture *f = *state;
    struct raw_reply r;
    /* Declared over max_body_bytes (1 MiB), body never sent: 413 at once, closed. */
    const char *declared = "POST " AUTHENTICATE " HTTP/1.1\r\nHost: x\r\n"
                           "Content-Type: application/json\r\nContent-Length: 2000000\r\n\r\n";
    memset(&r, 0, sizeof(r));
    int fd = raw_connect(f->ts);
    assert_true(raw_send(fd, declared, strlen(declared)));
    raw_read(fd, &r, 5000, false);
    assert_int_equal(r.status, 413);
    assert_raw_rejected(&r, "Content-Length over the limit");
    assert_non_null(strstr(r.body, "payload_too_large"));
    assert_true(r.closed || raw_closes(fd, 3000));
    close(fd);
    raw_reply_cleanup(&r);

    /* A Content-Length beyond any integer. */
    const char *absurd = "POST " AUTHENTICATE " HTTP/1.1\r\nHost: x\r\n"
                         "Content-Length: 99999999999999999999999999\r\n\r\n";
    raw_exchange(f->ts, absurd, strlen(absurd), &r);
    assert_raw_rejected_or_closed(&r, "an absurd Content-Length");
    raw_reply_cleanup(&r);

    /* 1.5 MB actually sent, with a Content-Length and chunked. */
    size_t n = 1500000;
    char *body = malloc(n + 1);
    assert_non_null(body);
    memset(body, ' ', n);
    body[0] = '{';
    body[n - 1] = '}';
    body[n] = '\0';
    struct hx_http_response resp;
    post_raw(f->ts, AUTHENTICATE, "application/json", body, n, &resp);
    if (resp.status != 0) /* or the connection was closed mid-upload */
        assert_int_equal(resp.status, 413);
    hx_http_response_cleanup(&resp);

    char head[256];
    snprintf(head, sizeof(head),
             "POST " AUTHENTICATE " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Transfer-Encoding: chunked\r\n\r\n");
    memset(&r, 0, sizeof(r));
    fd = raw_connect(f->ts);
    bool sending = raw_send(fd, head, strlen(head));
    for (size_t sent = 0; sending && sent < n; sent += 65536) {
        char size_line[32];
        snprintf(size_line, sizeof(size_line), "%x\r\n", 65536);
        sending = raw_send(fd, size_line, strlen(size_line)) && raw_send(fd, body, 65536) &&
                  raw_send(fd, "\r\n", 2);
    }
    if (sending)
        raw_send(fd, "0\r\n\r\n", 5);
    raw_read(fd, &r, 5000, false);
    close(fd);
    assert_raw_rejected_or_closed(&r, "a 1.5 MB chunked body");
    if (r.status)
        assert_int_equal(r.status, 413);
    raw_reply_cleanup(&r);
    free(body);

    /* The limit is the setting: at it the body is read, one byte over is 413. */
    ts_settings(f->ts, "{\"max_body_bytes\": 64}");
    const char *at_limit = "{\"grant_type\":\"password\",\"client_id\":\"x\",\"pad\":\"0123\"}";
    char exact[65];
    snprintf(exact, sizeof(exact), "%-64s", at_limit);
    post_raw(f->ts, AUTHENTICATE, "application/json", exact, 64, &resp);
    assert_int_equal(resp.status, 400);
    assert_rejected(&resp, "a body at max_body_bytes");
    hx_http_response_cleanup(&resp);
    char over[66];
    snprintf(over, sizeof(over), "%-65s", at_limit);
    post_raw(f->ts, AUTHENTICATE, "application/json", over, 65, &resp);
    if (resp.status != 0)
        assert_int_equal(resp.status, 413);
    hx_http_response_cleanup(&resp);
    ts_settings(f->ts, "{\"max_body_bytes\": 1048576}");
    assert_intact(f);
}

/* --- slowloris ------------------------------------------------------------------- */

struct slow_client {
    struct ts_server *ts;
    bool body; /* stall in the body instead of the headers */
    int sent;
};

static void *slow_client_run(void *arg)
{
    struct slow_client *c = arg;
    int fd = raw_connect(c->ts);
    char request[512];
    if (c->body)
        snprintf(request, sizeof(request),
                 "POST " AUTHENTICATE " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 "Content-Length: 400\r\n\r\n{\"grant_type\":\"refresh_token\",\"pad\":\"%0300d",
                 0);
    else
        snprintf(request, sizeof(request),
                 "GET /sso/jwks/" TS_CLIENT " HTTP/1.1\r\nHost: x\r\nX-Slow: %0300d\r\n\r\n", 0);
    /* In the body case the headers go at once and the body trickles. */
    size_t start = 0;
    if (c->body) {
        start = strstr(request, "\r\n\r\n") + 4 - request;
        raw_send(fd, request, start);
    }
    /* One byte every 100 ms for 3 s: never a complete request. */
    double end = ts_wall_ms() + 3000;
    for (size_t i = start; request[i] && ts_wall_ms() < end; i++) {
        if (!raw_send(fd, request + i, 1))
            break;
        c->sent++;
        ts_sleep_ms(100);
    }
    close(fd);
    return NULL;
}

static void test_slowloris_does_not_block_others(void **state)
{
    struct fixture *f = *state;
    enum { SLOW = 8 };
    struct slow_client clients[SLOW];
    pthread_t threads[SLOW];
    for (int i = 0; i < SLOW; i++) {
        clients[i] = (struct slow_client){f->ts, i % 2 == 1, 0};
        assert_int_equal(pthread_create(&threads[i], NULL, slow_client_run, &clients[i]), 0);
    }
    ts_sleep_ms(500); /* every slow client is mid-request now */
    struct hx_http_client *fresh = hx_http_client_new();
    for (int i = 0; i < 5; i++) {
        struct hx_http_response resp;
        double start = ts_wall_ms();
        ts_request(f->ts, fresh, "GET", "/sso/jwks/" TS_CLIENT, NULL, NULL, &resp);
        double took = ts_wall_ms() - start;
        assert_int_equal(resp.status, 200);
        if (took > 1000)
            fail_msg("a JWKS request took %.0f ms while slow clients stalled", took);
        hx_http_response_cleanup(&resp);
        ts_sleep_ms(200);
    }
    /* A whole sign-in while they are still stalled. */
    double start = ts_wall_ms();
    struct ts_session s;
    ts_sign_in(f->ts, NULL, &s);
    ts_session_cleanup(&s);
    if (ts_wall_ms() - start > 2000)
        fail_msg("a sign-in took %.0f ms while slow clients stalled", ts_wall_ms() - start);
    hx_http_client_free(&fresh);
    for (int i = 0; i < SLOW; i++) {
        pthread_join(threads[i], NULL);
        assert_true(clients[i].sent > 5); /* it really was mid-request */
    }
    assert_intact(f);
}

/* --- malformed HTTP ------------------------------------------------------------------ */

static void test_malformed_request_lines(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *what;
        const char *request;
        size_t len; /* 0: strlen */
    } cases[] = {
        {"garbage", "GARBAGE\r\n\r\n", 0},
        {"method only", "GET\r\n\r\n", 0},
        {"no version", "GET /sso/jwks/x\r\n\r\n", 0},
        {"unknown method", "BREW /sso/jwks/x HTTP/1.1\r\nHost: x\r\n\r\n", 0},
        {"CONNECT", "CONNECT evil.example:443 HTTP/1.1\r\nHost: x\r\n\r\n", 0},
        {"space in path", "GET /sso/jwks/a b HTTP/1.1\r\nHost: x\r\n\r\n", 0},
        {"header without colon", "GET /sso/jwks/x HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", 0},
        {"NUL in the request line", "GET /sso/jw\0ks HTTP/1.1\r\nHost: x\r\n\r\n", 35},
        {"NUL in a header", "GET /sso/jwks/x HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n", 43},
        {"control bytes", "\x01\x02\x03\x04 / HTTP/1.1\r\n\r\n", 0},
        {"negative Content-Length",
         "POST " AUTHENTICATE " HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", 0},
        {"non-numeric Content-Length",
         "POST " AUTHENTICATE " HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 0},
        {"bad chunk size",
         "POST " AUTHENTICATE " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\nabc\r\n0\r\n\r\n", 0},
        {"absolute URI to another host",
         "GET http://evil.example/sso/jwks/" TS_CLIENT " HTTP/1.1\r\nHost: x\r\n\r\n", 0},
        {"percent-encoded NUL in the path", "GET /sso/jwks/a%00b HTTP/1.1\r\nHost: x\r\n\r\n", 0},
        {"bad percent-encoding", "GET /sso/jwks/%zz%4 HTTP/1.1\r\nHost: x\r\n\r\n", 0},
        {"only CRLFs", "\r\n\r\n\r\n\r\n", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct raw_reply r;
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].request);
        raw_exchange(f->ts, cases[i].request, len, &r);
        assert_raw_rejected_or_closed(&r, cases[i].what);
        raw_reply_cleanup(&r);
        check_alive(f->ts, cases[i].what, __FILE__, __LINE__);
    }
    /* An unsupported HTTP version: HTTP's own answer is 505, as WorkOS-shaped JSON. */
    struct raw_reply r;
    const char *v99 = "GET /sso/jwks/" TS_CLIENT " HTTP/9.9\r\nHost: x\r\n\r\n";
    raw_exchange(f->ts, v99, strlen(v99), &r);
    if (r.status != 505)
        assert_raw_rejected_or_closed(&r, "HTTP/9.9");
    else
        check_raw(&r, false, 505, "HTTP/9.9", __FILE__, __LINE__);
    /* Never the request's bytes in our status line. */
    assert_true(r.status == 0 || strncmp(r.data, "HTTP/1.1 ", 9) == 0);
    raw_reply_cleanup(&r);
    const char *inject = "GET /x HTTP/1.1\r\nHost: x\r\n\r\n";
    char split_version[128];
    snprintf(split_version, sizeof(split_version), "GET /a b%s", inject);
    raw_exchange(f->ts, split_version, strlen(split_version), &r);
    assert_true(r.status == 0 || strncmp(r.data, "HTTP/1.1 4", 10) == 0);
    raw_reply_cleanup(&r);
    assert_intact(f);
}

/* --- bodies: UTF-8, nesting, numbers, fields, types, NULs --------------------------------- */

static void test_invalid_utf8(void **state)
{
    struct fixture *f = *state;
    struct ts_server *ts = f->ts;
    static const char *const json_bodies[] = {
        "{\"grant_type\":\"refresh_token\",\"client_id\":\"\xff\xfe\"}",
        "{\"grant_type\":\"refresh\xc3\x28\",\"client_id\":\"" TS_CLIENT "\"}",
        "{\"grant_type\":\"refresh_token\",\"client_id\":\"" TS_CLIENT "\",\"refresh_token\":\"\xc0\xaf\"}",
        "{\"gr\xed\xa0\x80nt\":\"x\"}",
        "{\"grant_type\":\"refresh_token\",\"client_id\":\"\\ud800\"}",
        "\xef\xbb\xbf{\"grant_type\":\"refresh_token\"}",
    };
    for (size_t i = 0; i < sizeof(json_bodies) / sizeof(json_bodies[0]); i++)
        assert_post_rejected(ts, AUTHENTICATE, "application/json", json_bodies[i],
                             "invalid UTF-8 in JSON");
    static const char *const forms[] = {
        "grant_type=refresh_token&client_id=%FF%FE",
        "grant_type=refresh_token&client_id=" TS_CLIENT "&refresh_token=%C3%28",
        "grant_type=refresh_token&client_id=\xff\xfe",
        "grant_type=refresh%ED%A0%80&client_id=" TS_CLIENT,
    };
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++)
        assert_post_rejected(ts, AUTHENTICATE, "application/x-www-form-urlencoded", forms[i],
                             "invalid UTF-8 in a form");
    struct hx_http_response resp;
    ts_get(ts, "/user_management/authorize?client_id=%FF&redirect_uri=http://localhost:3000/cb"
               "&response_type=code&provider=authkit", NULL, &resp);
    assert_rejected(&resp, "invalid UTF-8 in the authorize query");
    hx_http_response_cleanup(&resp);
    assert_post_rejected(ts, "/user_management/sessions/revoke", "application/json",
                         "{\"session_id\":\"\xff\"}", "invalid UTF-8 on revoke");
    const char *admin[] = {"Content-Type: application/json", NULL};
    ts_request(ts, NULL, "PATCH", "/_fakeidp/settings", admin, "{\"issuer_url\":\"\xff\"}", &resp);
    assert_rejected(&resp, "invalid UTF-8 in settings");
    hx_http_response_cleanup(&resp);
    assert_intact(f);
}

static void test_deeply_nested_json(void **state)
{
    struct fixture *f = *state;
    char *arrays = repeat("[", 100000, "", "");
    char *objects = repeat("{\"a\":", 100000, "", "");
    char *closed = repeat("[", 3000, "{\"grant_type\":", "");
    char *tail = repeat("]", 3000, closed, "}");
    const char *const bodies[] = {arrays, objects, tail};
    const char *const paths[] = {AUTHENTICATE, "/user_management/sessions/revoke",
                                 "/_fakeidp/settings", "/_fakeidp/faults", "/_fakeidp/users"};
    for (size_t p = 0; p < sizeof(paths) / sizeof(paths[0]); p++)
        for (size_t b = 0; b < 3; b++)
            assert_post_rejected(f->ts, paths[p], "application/json", bodies[b],
                                 "deeply nested JSON");
    free(arrays);
    free(objects);
    free(closed);
    free(tail);
    assert_intact(f);
}

static void test_huge_numbers(void **state)
{
    struct fixture *f = *state;
    struct ts_server *ts = f->ts;
    static const char *const bodies[] = {
        "{\"grant_type\":\"refresh_token\",\"client_id\":1e999999}",
        "{\"grant_type\":\"refresh_token\",\"client_id\":123456789012345678901234567890}",
        "{\"grant_type\":\"refresh_token\",\"client_id\":-9223372036854775809}",
        "{\"grant_type\":\"refresh_token\",\"client_id\":\"" TS_CLIENT "\",\"refresh_token\":9223372036854775807}",
        "{\"grant_type\":\"authorization_code\",\"client_id\":\"" TS_CLIENT "\",\"code\":1e308}",
        "{\"grant_type\":\"refresh_token\",\"client_id\":\"" TS_CLIENT "\",\"refresh_token\":-0.0}",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
        assert_post_rejected(ts, AUTHENTICATE, "application/json", bodies[i], "a huge number");

    const char *json[] = {"Content-Type: application/json", NULL};
    static const char *const settings[] = {
        "{\"access_ttl\":9223372036854775807}", "{\"access_ttl\":-9223372036854775808}",
        "{\"access_ttl\":1e308}", "{\"max_sessions\":-1}", "{\"refresh_grace\":\"99999999999999999999s\"}",
        "{\"access_ttl\":99999999999999999999999}",
    };
    struct hx_http_response resp;
    for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
        ts_request(ts, NULL, "PATCH", "/_fakeidp/settings", json, settings[i], &resp);
        assert_rejected(&resp, settings[i]);
        hx_http_response_cleanup(&resp);
    }
    static const char *const clocks[] = {
        "{\"advance\":9223372036854775807}", "{\"advance\":-9223372036854775807}",
        "{\"advance\":\"106751991167d\"}", "{\"set\":9223372036854775807}",
        "{\"set\":-9223372036854775807}", "{\"advance\":1e400}",
    };
    for (size_t i = 0; i < sizeof(clocks) / sizeof(clocks[0]); i++) {
        ts_request(ts, NULL, "POST", "/_fakeidp/clock", json, clocks[i], &resp);
        assert_rejected(&resp, clocks[i]);
        hx_http_response_cleanup(&resp);
    }
    assert_int_equal(ts_now_ms(ts), TS_T0_MS);

    /* The largest lifetimes a setting takes still mint working codes and tokens. */
    ts_settings(ts, "{\"code_ttl\":\"106751991167d\",\"access_ttl\":\"106751991167d\","
                    "\"refresh_ttl\":\"106751991167d\",\"session_max_age\":\"106751991167d\"}");
    struct ts_session s;
    ts_sign_in(ts, NULL, &s);
    struct hx_http_response r2;
    ts_refresh(ts, NULL, NULL, s.refresh_token, NULL, NULL, &r2);
    assert_int_equal(r2.status, 200);
    hx_http_response_cleanup(&r2);
    ts_session_cleanup(&s);
    ts_settings(ts, "{\"code_ttl\":\"10m\",\"access_ttl\":\"5m\",\"refresh_ttl\":0,"
                    "\"session_max_age\":0}");

    /* The largest Retry-After: a replay in concurrent_429 mode, while the
     * first exchange is in flight (held by a slow reply), still gets its 429. */
    ts_settings(ts, "{\"refresh_mode\":\"concurrent_429\",\"retry_after\":\"106751991167d\"}");
    ts_sign_in(ts, NULL, &s);
    char *slow = ts_add_fault(ts, "{\"route\":\"authenticate\",\"grant_type\":\"refresh_token\","
                                  "\"action\":\"latency\",\"phase\":\"after\",\"delay\":\"300ms\"}");
    json_t *race_body = json_pack("{s:s, s:s, s:s}", "grant_type", "refresh_token", "client_id",
                                  ts->client_id, "refresh_token", s.refresh_token);
    char *race_text = json_dumps(race_body, JSON_COMPACT);
    json_decref(race_body);
    static const char *const race_headers[] = {"Content-Type: application/json", NULL};
    struct hx_http_response race[2];
    ts_race(ts, 2, "POST", "/user_management/authenticate", race_headers, race_text, race);
    free(race_text);
    int limited = race[0].status == 429 ? 0 : 1;
    assert_int_equal(race[1 - limited].status, 200);
    assert_int_equal(race[limited].status, 429);
    assert_string_equal(ts_header(&race[limited], "Retry-After"), "9223372036828800"); /* seconds */
    hx_http_response_cleanup(&race[0]);
    hx_http_response_cleanup(&race[1]);
    char path[128];
    snprintf(path, sizeof(path), "/_fakeidp/faults/%s", slow);
    json_decref(ts_admin(ts, "DELETE", path, NULL, 200));
    free(slow);
    ts_session_cleanup(&s);
    ts_settings(ts, "{\"refresh_mode\":\"grace\",\"retry_after\":\"1s\"}");

    /* A key rotation whose lead and retirement are the largest durations:
     * the current key keeps signing and stays published. */
    json_decref(ts_admin(ts, "POST", "/_fakeidp/keys/rotate",
                         "{\"publish_lead\":\"106751991167d\",\"retire_after\":\"106751991167d\"}",
                         200));
    ts_sign_in(ts, NULL, &s);
    char why[256];
    if (!ts_verify_with_jwks(ts, s.access_token, why, sizeof(why)))
        fail_msg("after a rotation with the largest lead: %s", why);
    ts_session_cleanup(&s);
    assert_intact(f);
}

static void test_duplicated_and_missing_fields(void **state)
{
    struct fixture *f = *state;
    struct ts_server *ts = f->ts;
    static const char *const bodies[] = {
        "{}",
        "{\"grant_type\":\"refresh_token\"}",
        "{\"client_id\":\"" TS_CLIENT "\"}",
        "{\"grant_type\":\"refresh_token\",\"client_id\":\"" TS_CLIENT "\"}",
        "{\"grant_type\":\"authorization_code\",\"client_id\":\"" TS_CLIENT "\"}",
        "{\"grant_type\":\"authorization_code\",\"client_id\":\"" TS_CLIENT "\",\"code\":\"\"}",
        "{\"grant_type\":\"bogus\",\"grant_type\":\"password\",\"client_id\":\"" TS_CLIENT "\"}",
        "{\"grant_type\":\"refresh_token\",\"client_id\":\"" TS_CLIENT "\",\"client_id\":\"client_x\","
        "\"refresh_token\":\"x\"}",
        "{\"grant_type\":null,\"client_id\":null}",
        "{\"grant_type\":[\"refresh_token\"],\"client_id\":{\"id\":\"" TS_CLIENT "\"}}",
        "{\"grant_type\":\"refresh_token\",\"client_id\":\"" TS_CLIENT "\",\"refresh_token\":true}",
        "[]", "\"refresh_token\"", "42", "null", "",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
        assert_post_rejected(ts, AUTHENTICATE, "application/json", bodies[i],
                             "duplicated, missing or mistyped fields");
    static const char *const forms[] = {
        "grant_type=bogus&grant_type=refresh_token&client_id=" TS_CLIENT,
        "grant_type&client_id&refresh_token",
        "=&=&=",
        "&&&&",
        "grant_type=refresh_token&client_id=" TS_CLIENT "&refresh_token=",
    };
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++)
        assert_post_rejected(ts, AUTHENTICATE, "application/x-www-form-urlencoded", forms[i],
                             "duplicated or missing form fields");
    static const char *const queries[] = {
        "/user_management/authorize",
        "/user_management/authorize?client_id=" TS_CLIENT,
        "/user_management/authorize?redirect_uri=http://localhost:3000/cb",
        "/user_management/authorize?client_id=&redirect_uri=",
        "/user_management/authorize?client_id=client_nope&redirect_uri=http://localhost:3000/cb",
        "/user_management/sessions/logout",
        "/user_management/users/",
    };
    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
        struct hx_http_response resp;
        ts_get(ts, queries[i], NULL, &resp);
        assert_rejected(&resp, queries[i]);
        hx_http_response_cleanup(&resp);
    }
    assert_post_rejected(ts, "/user_management/sessions/revoke", "application/json", "{}",
                         "revoke without session_id");
    assert_intact(f);
}

static void test_wrong_content_types(void **state)
{
    struct fixture *f = *state;
    struct ts_server *ts = f->ts;
    const char *form = "grant_type=refresh_token&client_id=" TS_CLIENT "&refresh_token=nope";
    assert_post_rejected(ts, AUTHENTICATE, "multipart/form-data; boundary=x", form,
                         "a form labelled multipart");
    assert_post_rejected(ts, AUTHENTICATE, NULL, form, "a form without Content-Type");
    assert_post_rejected(ts, AUTHENTICATE, "application/json", form, "a form labelled JSON");
    assert_post_rejected(ts, AUTHENTICATE, "application/xml",
                         "<grant_type>refresh_token</grant_type>", "XML");
    assert_post_rejected(ts, AUTHENTICATE, "text/plain", "refresh please", "text");
    assert_post_rejected(ts, AUTHENTICATE, "application/octet-stream", "\x89PNG\r\n\x1a\n",
                         "binary");
    /* UTF-16 JSON (with a BOM) is not UTF-8 JSON. */
    const char utf16[] = "\xff\xfe{\0\"\0a\0\"\0:\0\"\0b\0\"\0}\0";
    assert_post_rejected_n(ts, AUTHENTICATE, "application/json; charset=utf-16", utf16,
                           sizeof(utf16) - 1, "UTF-16 JSON");
    char *type = repeat("x", 8000, "application/json; charset=", "");
    assert_post_rejected(ts, AUTHENTICATE, type, "{}", "an 8 KB Content-Type");
    free(type);
    /* JSON that is plainly JSON under a form label is read as JSON (documented). */
    assert_post_rejected(ts, AUTHENTICATE, "application/x-www-form-urlencoded",
                         "{\"grant_type\":\"refresh_token\",\"client_id\":\"" TS_CLIENT
                         "\",\"refresh_token\":\"nope\"}",
                         "JSON labelled as a form");
    assert_intact(f);
}

static void test_null_bytes(void **state)
{
    struct fixture *f = *state;
    struct ts_server *ts = f->ts;
    /* Raw NULs in JSON, and the \u0000 escape. */
    const char raw_nul[] = "{\"grant_type\":\"refresh_token\0\",\"client_id\":\"x\"}";
    assert_post_rejected_n(ts, AUTHENTICATE, "application/json", raw_nul, sizeof(raw_nul) - 1,
                           "a raw NUL in JSON");
    const char trailing[] = "{\"grant_type\":\"refresh_token\"}\0garbage";
    assert_post_rejected_n(ts, AUTHENTICATE, "application/json", trailing,
                           sizeof(trailing) - 1, "NUL after the JSON");
    char escaped[512];
    snprintf(escaped, sizeof(escaped),
             "{\"grant_type\":\"refresh_token\",\"client_id\":\"" TS_CLIENT
             "\",\"refresh_token\":\"%s\\u0000junk\"}",
             f->refresh);
    assert_post_rejected(ts, AUTHENTICATE, "application/json", escaped,
                         "an escaped NUL after a valid token");
    /* A form value that is a valid token, a NUL and more is not that token. */
    char form[512];
    snprintf(form, sizeof(form),
             "grant_type=refresh_token&client_id=" TS_CLIENT "&refresh_token=%s%%00junk",
             f->refresh);
    assert_post_rejected(ts, AUTHENTICATE, "application/x-www-form-urlencoded", form,
                         "a NUL after a valid token in a form");
    snprintf(form, sizeof(form),
             "grant_type=refresh_token&client_id=" TS_CLIENT "%%00evil&refresh_token=%s",
             f->refresh);
    assert_post_rejected(ts, AUTHENTICATE, "application/x-www-form-urlencoded", form,
                         "a NUL inside the client id");
    const char raw_form[] = "grant_type=refresh_token\0&client_id=x";
    assert_post_rejected_n(ts, AUTHENTICATE, "application/x-www-form-urlencoded", raw_form,
                           sizeof(raw_form) - 1, "a raw NUL in a form");
    struct hx_http_response resp;
    ts_get(ts, "/user_management/authorize?client_id=" TS_CLIENT "%00x&redirect_uri="
               "http://localhost:3000/cb&response_type=code&provider=authkit",
           NULL, &resp);
    assert_rejected(&resp, "a NUL in the authorize query");
    hx_http_response_cleanup(&resp);
    assert_intact(f);
}

/* Everything at once on one keep-alive connection: the server keeps its
 * framing and answers a good request that follows the bad ones. */
static void test_pipelined_garbage_then_good_request(void **state)
{
    struct fixture *f = *state;
    char request[1024];
    snprintf(request, sizeof(request),
             "POST " AUTHENTICATE " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Content-Length: 9\r\n\r\n{\"a\":[[[]"
             "GET /sso/jwks/" TS_CLIENT " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    int fd = raw_connect(f->ts);
    assert_true(raw_send(fd, request, strlen(request)));
    /* The second request asks to close: read both replies to the end. */
    struct raw_reply both;
    memset(&both, 0, sizeof(both));
    raw_read(fd, &both, 5000, true);
    close(fd);
    assert_raw_rejected(&both, "a truncated JSON body");
    const char *second = strstr(both.body + both.body_len, "HTTP/1.1 ");
    if (!second || strncmp(second, "HTTP/1.1 200", 12) != 0)
        fail_msg("no 200 for the request after the bad one: %s", both.data);
    raw_reply_cleanup(&both);
    assert_intact(f);
}

/* Two Content-Length headers that disagree: 400, connection closed; the
 * bytes after the shorter body are never read as a second request. */
static void test_conflicting_content_lengths(void **state)
{
    struct fixture *f = *state;
    static const char request[] =
        "POST " AUTHENTICATE " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 2\r\nContent-Length: 60\r\n\r\n{}"
        "GET /sso/jwks/" TS_CLIENT " HTTP/1.1\r\nHost: x\r\n\r\n";
    int fd = raw_connect(f->ts);
    assert_true(raw_send(fd, request, sizeof(request) - 1));
    struct raw_reply r;
    memset(&r, 0, sizeof(r));
    raw_read(fd, &r, 5000, true);
    close(fd);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "Content-Length"));
    assert_null(strstr(r.body + r.body_len, "HTTP/1.1 200"));
    raw_reply_cleanup(&r);
    /* The same length twice is one length. */
    static const char twice[] =
        "POST " AUTHENTICATE " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 2\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
    raw_exchange(f->ts, twice, sizeof(twice) - 1, &r);
    assert_int_equal(r.status, 400); /* the body lacks grant_type: an OAuth 400 */
    assert_non_null(strstr(r.body, "grant_type"));
    raw_reply_cleanup(&r);
    assert_intact(f);
}

#define HOSTILE_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        HOSTILE_TEST(test_oversized_headers),
        HOSTILE_TEST(test_oversized_bodies),
        HOSTILE_TEST(test_slowloris_does_not_block_others),
        HOSTILE_TEST(test_malformed_request_lines),
        HOSTILE_TEST(test_invalid_utf8),
        HOSTILE_TEST(test_deeply_nested_json),
        HOSTILE_TEST(test_huge_numbers),
        HOSTILE_TEST(test_duplicated_and_missing_fields),
        HOSTILE_TEST(test_wrong_content_types),
        HOSTILE_TEST(test_null_bytes),
        HOSTILE_TEST(test_pipelined_garbage_then_good_request),
        HOSTILE_TEST(test_conflicting_content_lengths),
    };
    return cmocka_run_group_tests_name("hostile wire", tests, NULL, NULL);
}
