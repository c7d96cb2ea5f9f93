/* A small HTTP client over libcurl for the harness (browser model, admin API
 * calls, JWKS fetches). One client per thread; it keeps connections alive. */
#ifndef HX_HTTP_CLIENT_H
#define HX_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

struct hx_http_client;

struct hx_http_response {
    long status;         /* 0 when no response arrived */
    char *body;          /* NUL-terminated */
    size_t body_len;
    char *headers;       /* the final response's header block, "Name: value\r\n" lines */
    size_t headers_len;
    double total_ms;
    char error[256];     /* transport error (connection reset, timeout, ...) */
};

struct hx_http_client *hx_http_client_new(void);
/* Sends every request to 127.0.0.1 (same port) whatever the URL's host, so
 * the browser model can use names like app.test and idp.test that carry
 * their own cookie and site rules. */
void hx_http_client_loopback(struct hx_http_client *client, bool on);
void hx_http_client_free(struct hx_http_client **client);
/* The calling thread's own client, created on first use and freed when the
 * thread exits; it keeps connections alive between requests. Not for
 * requests a fault may cut: curl re-sends a request whose reused connection
 * dies before any reply, which would hide the fault. */
struct hx_http_client *hx_http_client_thread(void);
/* Closes the calling thread's kept-alive connections (before the servers
 * they lead to stop: an idle kept-alive connection holds a server thread). */
void hx_http_client_thread_close(void);

/* Sends one request, without following redirects. headers is a NULL-ended
 * list of "Name: value" strings (may be NULL). Returns true when a response
 * arrived; false with resp->error set otherwise. */
bool hx_http_request(struct hx_http_client *client, const char *method, const char *url,
                     const char *const *headers, const char *body, size_t body_len,
                     long timeout_ms, struct hx_http_response *resp);
void hx_http_response_cleanup(struct hx_http_response *resp);

/* Iterates the values of a header (case-insensitive name): pass *cursor = 0
 * first; copies each value into out. */
bool hx_http_header_next(const struct hx_http_response *resp, const char *name, size_t *cursor,
                         char *out, size_t size);
/* The first value of a header, or false. */
bool hx_http_header(const struct hx_http_response *resp, const char *name, char *out, size_t size);

#endif
