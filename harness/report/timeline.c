#include "timeline.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"

void hx_timeline_init(struct hx_timeline *tl, int64_t start_ms)
{
    pthread_mutex_init(&tl->lock, NULL);
    tl->entries = json_array();
    tl->start_ms = start_ms;
}

void hx_timeline_cleanup(struct hx_timeline *tl)
{
    json_decref(tl->entries);
    tl->entries = NULL;
    pthread_mutex_destroy(&tl->lock);
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
    pthread_mutex_lock(&tl->lock);
    /* Bounded: a runaway loop must not eat memory. */
    if (json_array_size(tl->entries) < 5000)
        json_array_append_new(tl->entries, json_pack("{s:I, s:s, s:s}", "t",
                                                     (json_int_t)(now_ms - tl->start_ms),
                                                     "source", source, "text", text));
    pthread_mutex_unlock(&tl->lock);
}

char *hx_timeline_text(struct hx_timeline *tl, const char *indent)
{
    pthread_mutex_lock(&tl->lock);
    size_t cap = 256, len = 0;
    char *out = malloc(cap);
    if (out)
        out[0] = '\0';
    size_t i;
    json_t *e;
    json_array_foreach(tl->entries, i, e) {
        char at[32];
        json_int_t t = json_integer_value(json_object_get(e, "t"));
        idp_duration_format(t < 0 ? -t : t, at);
        char line[1400];
        int n = snprintf(line, sizeof(line), "%s%s%-8s %-7s %s\n", indent, t < 0 ? "-" : "+", at,
                         json_string_value(json_object_get(e, "source")),
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
    return out;
}
