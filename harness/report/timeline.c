#include "timeline.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "duration.h"

void hx_timeline_init(struct hx_timeline *tl, int64_t start_ms)
{
    pthread_mutex_init(&tl->lock, NULL);
    tl->entries = json_array();
    tl->start_ms = start_ms;
    tl->next_request = 0;
    tl->requests_finished = 0;
}

void hx_timeline_cleanup(struct hx_timeline *tl)
{
    json_decref(tl->entries);
    tl->entries = NULL;
    pthread_mutex_destroy(&tl->lock);
}

static void add_entry(struct hx_timeline *tl, int64_t now_ms, const char *source, json_t *data,
                      const char *text);

static _Thread_local int current_request;
static _Thread_local const char *current_tab;
static _Thread_local int finished_before; /* requests finished when the current one began */

int hx_timeline_request_begin(struct hx_timeline *tl)
{
    if (!tl || !tl->entries)
        return 0;
    pthread_mutex_lock(&tl->lock);
    int req = ++tl->next_request;
    finished_before = tl->requests_finished;
    pthread_mutex_unlock(&tl->lock);
    current_request = req;
    return req;
}

void hx_timeline_request_end(struct hx_timeline *tl, int64_t now_ms, json_t *record)
{
    if (!tl || !tl->entries) {
        json_decref(record);
        return;
    }
    pthread_mutex_lock(&tl->lock);
    int finished = ++tl->requests_finished;
    pthread_mutex_unlock(&tl->lock);
    json_object_set_new(record, "kind", json_string("request"));
    json_object_set_new(record, "finished", json_integer(finished));
    json_object_set_new(record, "finished_before", json_integer(finished_before));
    add_entry(tl, now_ms, "browser", record, NULL);
}

void hx_timeline_request_set(int req)
{
    current_request = req;
}

int hx_timeline_request_current(void)
{
    return current_request;
}

void hx_timeline_tab_set(const char *name)
{
    current_tab = name;
}

const char *hx_timeline_tab_current(void)
{
    return current_tab;
}

void hx_timeline_hash(const char *secret, char out[16])
{
    unsigned char digest[32];
    EVP_Digest(secret, strlen(secret), digest, NULL, EVP_sha256(), NULL);
    snprintf(out, 16, "%02x%02x%02x%02x", digest[0], digest[1], digest[2], digest[3]);
}

static void add_entry(struct hx_timeline *tl, int64_t now_ms, const char *source, json_t *data,
                      const char *text)
{
    json_t *entry = json_pack("{s:I, s:s}", "t", (json_int_t)(now_ms - tl->start_ms), "source", source);
    if (text)
        json_object_set_new(entry, "text", json_string(text));
    if (current_request && !json_object_get(data, "req"))
        json_object_set_new(entry, "req", json_integer(current_request));
    if (current_tab && !json_object_get(data, "tab"))
        json_object_set_new(entry, "tab", json_string(current_tab));
    if (data)
        json_object_update_missing(entry, data);
    json_decref(data);
    if (json_object_get(entry, "req") && json_integer_value(json_object_get(entry, "req")) <= 0)
        json_object_del(entry, "req"); /* data said: no request */
    pthread_mutex_lock(&tl->lock);
    /* Bounded: a runaway loop must not eat memory. */
    if (json_array_size(tl->entries) < 5000)
        json_array_append(tl->entries, entry);
    pthread_mutex_unlock(&tl->lock);
    json_decref(entry);
}

void hx_timeline_add(struct hx_timeline *tl, int64_t now_ms, const char *source, const char *fmt, ...)
{
    if (!tl || !tl->entries)
        return;
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    add_entry(tl, now_ms, source, NULL, text);
}

void hx_timeline_add_data(struct hx_timeline *tl, int64_t now_ms, const char *source, json_t *data,
                          const char *fmt, ...)
{
    if (!tl || !tl->entries) {
        json_decref(data);
        return;
    }
    char text[1024] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
    }
    add_entry(tl, now_ms, source, data, fmt ? text : NULL);
}

json_t *hx_timeline_journal_fields(const json_t *e)
{
    const char *id = json_string_value(json_object_get(e, "request_id"));
    return json_pack("{s:s, s:i, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?}", "kind", "idp", "req",
                     id && strncmp(id, "hxreq-", 6) == 0 ? atoi(id + 6) : 0, "method",
                     json_object_get(e, "method"), "route", json_object_get(e, "route"), "status",
                     json_object_get(e, "status"), "grant_type", json_object_get(e, "grant_type"),
                     "outcome", json_object_get(e, "outcome"), "token",
                     json_object_get(e, "token_hash"), "fault", json_object_get(e, "fault"));
}

/* The requests that ran at the same time as another (each began before the
 * other finished), as an object "N" -> true: their lines carry "[rN]". */
static json_t *overlapping_requests(const json_t *entries)
{
    json_t *out = json_object();
    size_t n = 0, i;
    json_t *e;
    json_array_foreach(entries, i, e) {
        const char *kind = json_string_value(json_object_get(e, "kind"));
        n += kind && strcmp(kind, "request") == 0 && json_object_get(e, "finished");
    }
    /* begin (finished_before) and end (finished) ranks: a and b overlap when
     * each began before the other finished. Only a request that some other
     * request finished during (end - begin > 1) can overlap anything. */
    long long *req = calloc(n ? n : 1, sizeof(*req)), *end = calloc(n ? n : 1, sizeof(*end)),
              *begin = calloc(n ? n : 1, sizeof(*begin));
    size_t k = 0;
    json_array_foreach(entries, i, e) {
        const char *kind = json_string_value(json_object_get(e, "kind"));
        if (!req || !end || !begin || !kind || strcmp(kind, "request") != 0 ||
            !json_object_get(e, "finished"))
            continue;
        req[k] = json_integer_value(json_object_get(e, "req"));
        end[k] = json_integer_value(json_object_get(e, "finished"));
        begin[k] = json_integer_value(json_object_get(e, "finished_before"));
        k++;
    }
    for (size_t b = 0; b < k; b++) {
        if (end[b] - begin[b] <= 1)
            continue; /* nothing finished while it ran: it overlapped only longer ones */
        for (size_t a = 0; a < k; a++) {
            if (a == b || !(begin[a] < end[b] && begin[b] < end[a]))
                continue;
            char key[24];
            snprintf(key, sizeof(key), "%lld", req[a]);
            json_object_set_new(out, key, json_true());
            snprintf(key, sizeof(key), "%lld", req[b]);
            json_object_set_new(out, key, json_true());
        }
    }
    free(req);
    free(end);
    free(begin);
    return out;
}

char *hx_timeline_text(struct hx_timeline *tl, const char *indent)
{
    pthread_mutex_lock(&tl->lock);
    json_t *parallel = overlapping_requests(tl->entries);
    size_t cap = 256, len = 0;
    char *out = malloc(cap);
    if (out)
        out[0] = '\0';
    size_t i;
    json_t *e;
    json_array_foreach(tl->entries, i, e) {
        if (!json_object_get(e, "text"))
            continue; /* a record for the structured reporters */
        char at[32];
        json_int_t t = json_integer_value(json_object_get(e, "t"));
        idp_duration_format(t < 0 ? -t : t, at);
        char line[1400];
        /* The world's name for the component when there is one ("stg#2",
         * "prod/cdn"), else the source. */
        const char *who = json_string_value(json_object_get(e, "component"));
        /* A line of a request that ran in parallel with another names it. */
        char tag[32] = "";
        char key[24];
        snprintf(key, sizeof(key), "%lld", (long long)json_integer_value(json_object_get(e, "req")));
        if (json_object_get(e, "req") && json_object_get(parallel, key))
            snprintf(tag, sizeof(tag), "[r%s] ", key);
        int n = snprintf(line, sizeof(line), "%s%s%-8s %-7s %s%s\n", indent, t < 0 ? "-" : "+", at,
                         who ? who : json_string_value(json_object_get(e, "source")), tag,
                         json_string_value(json_object_get(e, "text")));
        if (n < 0)
            continue;
        if ((size_t)n >= sizeof(line))
            n = sizeof(line) - 1;
        if (out && len + (size_t)n + 1 > cap) {
            while (len + (size_t)n + 1 > cap)
                cap *= 2;
            char *grown = realloc(out, cap);
            if (!grown)
                break;
            out = grown;
        }
        if (out) {
            memcpy(out + len, line, (size_t)n + 1);
            len += (size_t)n;
        }
    }
    pthread_mutex_unlock(&tl->lock);
    json_decref(parallel);
    return out;
}
