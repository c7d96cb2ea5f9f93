/* A variant's timeline: what each step did, what the app and the browser
 * decided, in order. Shown for a failing variant and written to reports.
 * Thread-safe: the reference app appends from its worker threads. */
#ifndef HX_TIMELINE_H
#define HX_TIMELINE_H

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

struct hx_timeline {
    pthread_mutex_t lock;
    json_t *entries; /* [{"t": ms since start, "source": "step|app|browser|idp", "text": …}] */
    int64_t start_ms;
};

void hx_timeline_init(struct hx_timeline *tl, int64_t start_ms);
void hx_timeline_cleanup(struct hx_timeline *tl);
void hx_timeline_add(struct hx_timeline *tl, int64_t now_ms, const char *source, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The entries as text lines "  +5m00s app: …" (malloc'd). */
char *hx_timeline_text(struct hx_timeline *tl, const char *indent);

#endif
