/* A variant's timeline: what each step did, what the app and the browser
 * decided, in order. Shown for a failing variant and written to reports.
 * Thread-safe: the reference app appends from its worker threads. */
#ifndef HX_TIMELINE_H
#define HX_TIMELINE_H

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

/* An entry may carry "req": the browser request (numbered from 1 per
 * variant) it happened in, so a report can put an app line or an IdP call
 * under the request that caused it. Entries without "text" are records for
 * the structured reporters (a browser request: "kind":"request") and are not
 * printed in the text timeline. */
struct hx_timeline {
    pthread_mutex_t lock;
    json_t *entries; /* [{"t": ms since start, "source": "step|app|browser|idp", "text": …}] */
    int64_t start_ms;
    int next_request;
    int requests_finished;
};

void hx_timeline_init(struct hx_timeline *tl, int64_t start_ms);
void hx_timeline_cleanup(struct hx_timeline *tl);
void hx_timeline_add(struct hx_timeline *tl, int64_t now_ms, const char *source, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Adds an entry with extra fields (data is stolen, may be NULL; fmt may be
 * NULL for a record without text). */
void hx_timeline_add_data(struct hx_timeline *tl, int64_t now_ms, const char *source, json_t *data,
                          const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The request this thread works for: entries added on it carry its number.
 * hx_timeline_request_begin numbers a new browser request and makes it
 * current; hx_timeline_request_set(0) ends it. */
int hx_timeline_request_begin(struct hx_timeline *tl);
void hx_timeline_request_set(int req);
/* Records the end of this thread's current request (record: method, host,
 * path, status…, stolen) with "finished" (its rank among finished requests)
 * and "finished_before" (how many had finished when it began): two requests
 * overlapped when each began before the other finished. */
void hx_timeline_request_end(struct hx_timeline *tl, int64_t now_ms, json_t *record);
int hx_timeline_request_current(void);
/* The browser tab this thread acts for (NULL: none, the default). Entries
 * added on it carry "tab": the name; a report draws a lane per tab. */
void hx_timeline_tab_set(const char *name);
const char *hx_timeline_tab_current(void);
/* A secret's short hash as fakeidp's journal writes it (the first 4 bytes
 * of its SHA-256 in hex), so a token issued in one place and presented in
 * another carries the same label. */
void hx_timeline_hash(const char *secret, char out[16]);
/* The fields a fakeidp journal entry adds to its timeline entry: "req"
 * (from its X-Request-ID), method, route, status, grant_type, outcome,
 * token (hash) and fault. */
json_t *hx_timeline_journal_fields(const json_t *journal_entry);
/* The entries as text lines "  +5m00s app: …" (malloc'd). */
char *hx_timeline_text(struct hx_timeline *tl, const char *indent);

#endif
