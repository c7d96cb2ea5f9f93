#include "http_client.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct hx_http_client {
    CURL *curl;
    struct curl_slist *connect_to;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static pthread_key_t thread_client;

static void thread_client_free(void *client)
{
    struct hx_http_client *c = client;
    hx_http_client_free(&c);
}

static void curl_setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_key_create(&thread_client, thread_client_free);
}

void hx_http_client_thread_close(void)
{
    pthread_once(&curl_once, curl_setup);
    struct hx_http_client *client = pthread_getspecific(thread_client);
    if (client) {
        hx_http_client_free(&client);
        pthread_setspecific(thread_client, NULL);
    }
}

struct hx_http_client *hx_http_client_thread(void)
{
    pthread_once(&curl_once, curl_setup);
    struct hx_http_client *client = pthread_getspecific(thread_client);
    if (!client) {
        client = hx_http_client_new();
        pthread_setspecific(thread_client, client);
    }
    return client;
}

struct hx_http_client *hx_http_client_new(void)
{
    pthread_once(&curl_once, curl_setup);
    struct hx_http_client *client = calloc(1, sizeof(*client));
    if (!client)
        return NULL;
    client->curl = curl_easy_init();
    if (!client->curl) {
        free(client);
        return NULL;
    }
    return client;
}

void hx_http_client_loopback(struct hx_http_client *client, bool on)
{
    curl_slist_free_all(client->connect_to);
    client->connect_to = on ? curl_slist_append(NULL, "::127.0.0.1:") : NULL;
}

void hx_http_client_free(struct hx_http_client **client)
{
    if (!*client)
        return;
    curl_slist_free_all((*client)->connect_to);
    curl_easy_cleanup((*client)->curl);
    free(*client);
    *client = NULL;
}

struct buffer {
    char *data;
    size_t len;
};

static size_t append(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct buffer *b = userdata;
    size_t n = size * nmemb;
    char *grown = realloc(b->data, b->len + n + 1);
    if (!grown)
        return 0;
    memcpy(grown + b->len, ptr, n);
    b->len += n;
    grown[b->len] = '\0';
    b->data = grown;
    return n;
}

static size_t append_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct buffer *b = userdata;
    /* A new status line starts a new header block (after 100 Continue). */
    if (size * nmemb > 5 && strncmp(ptr, "HTTP/", 5) == 0)
        b->len = 0;
    return append(ptr, size, nmemb, userdata);
}

bool hx_http_request(struct hx_http_client *client, const char *method, const char *url,
                     const char *const *headers, const char *body, size_t body_len,
                     long timeout_ms, struct hx_http_response *resp)
{
    memset(resp, 0, sizeof(*resp));
    CURL *c = client->curl;
    curl_easy_reset(c);
    struct buffer out = {0}, head = {0};
    struct curl_slist *list = NULL;
    for (size_t i = 0; headers && headers[i]; i++)
        list = curl_slist_append(list, headers[i]);
    list = curl_slist_append(list, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body_len);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
    if (client->connect_to)
        curl_easy_setopt(c, CURLOPT_CONNECT_TO, client->connect_to);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, append);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, append_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &head);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 30000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L); /* test servers use self-signed certs */
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    char error[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(list);
    double total = 0;
    curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &total);
    resp->total_ms = total * 1000;
    resp->body = out.data ? out.data : calloc(1, 1);
    resp->body_len = out.len;
    resp->headers = head.data ? head.data : calloc(1, 1);
    resp->headers_len = head.len;
    if (rc != CURLE_OK) {
        snprintf(resp->error, sizeof(resp->error), "%s", error[0] ? error : curl_easy_strerror(rc));
        resp->status = 0;
        return false;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    return true;
}

void hx_http_response_cleanup(struct hx_http_response *resp)
{
    free(resp->body);
    free(resp->headers);
    memset(resp, 0, sizeof(*resp));
}

bool hx_http_header_next(const struct hx_http_response *resp, const char *name, size_t *cursor,
                         char *out, size_t size)
{
    size_t name_len = strlen(name);
    const char *h = resp->headers;
    while (h && *cursor < resp->headers_len) {
        const char *line = h + *cursor;
        const char *end = strstr(line, "\r\n");
        size_t line_len = end ? (size_t)(end - line) : strlen(line);
        *cursor += line_len + (end ? 2 : 0);
        if (line_len > name_len && strncasecmp(line, name, name_len) == 0 && line[name_len] == ':') {
            const char *v = line + name_len + 1;
            while (*v == ' ')
                v++;
            size_t vlen = line_len - (size_t)(v - line);
            snprintf(out, size, "%.*s", (int)(vlen < size ? vlen : size - 1), v);
            return true;
        }
        if (!end)
            break;
    }
    return false;
}

bool hx_http_header(const struct hx_http_response *resp, const char *name, char *out, size_t size)
{
    size_t cursor = 0;
    return hx_http_header_next(resp, name, &cursor, out, size);
}
