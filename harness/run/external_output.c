/* An external app's output: a reader thread takes its stdout and stderr
 * from a pipe line by line, cleans each line (no ANSI escapes or control
 * characters, valid UTF-8), copies the first TIMELINE_LINES into the
 * timeline and keeps the last TAIL_LINES for error messages. */
#include <errno.h>
#include <stdarg.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "external_internal.h"

#define TIMELINE_LINES 400    /* output lines copied into the timeline */
#define LINE_MAX_BYTES 900    /* longer output lines are cut */
#define DRAIN_MS 500          /* output still read after the group is gone */

int64_t external_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void external_sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

void external_note(struct hx_external *ext, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    hx_timeline_add(ext->timeline, atomic_load(&ext->now_ms), "app", "%s", text);
}

/* Keeps valid UTF-8 and printable ASCII, drops ANSI escape sequences and
 * control characters, replaces invalid bytes by '?'. In place. */
static void clean_line(char *s)
{
    unsigned char *in = (unsigned char *)s, *out = (unsigned char *)s;
    while (*in) {
        if (*in == 0x1b) { /* ESC [ ... final byte, or ESC + one byte */
            in++;
            if (*in == '[') {
                in++;
                while (*in && !(*in >= 0x40 && *in <= 0x7e))
                    in++;
                if (*in)
                    in++;
            } else if (*in) {
                in++;
            }
            continue;
        }
        if (*in < 0x80) {
            if (*in >= 0x20 || *in == '\t')
                *out++ = *in == '\t' ? ' ' : *in;
            in++;
            continue;
        }
        int len = (*in & 0xe0) == 0xc0 ? 2 : (*in & 0xf0) == 0xe0 ? 3 : (*in & 0xf8) == 0xf0 ? 4 : 0;
        bool ok = len > 0;
        for (int i = 1; ok && i < len; i++)
            ok = (in[i] & 0xc0) == 0x80;
        if (!ok) {
            *out++ = '?';
            in++;
            continue;
        }
        for (int i = 0; i < len; i++)
            *out++ = *in++;
    }
    *out = '\0';
    while (out > (unsigned char *)s && out[-1] == ' ')
        *--out = '\0';
}

static void take_line(struct hx_external *ext, char *line)
{
    clean_line(line);
    if (!line[0])
        return;
    pthread_mutex_lock(&ext->lock);
    size_t n = ext->tail_count++;
    free(ext->tail[n % TAIL_LINES]);
    ext->tail[n % TAIL_LINES] = strdup(line);
    pthread_mutex_unlock(&ext->lock);
    if (n < TIMELINE_LINES)
        external_note(ext, "%s", line);
    else if (n == TIMELINE_LINES)
        external_note(ext, "(further output not copied into the timeline)");
}

void external_tail(struct hx_external *ext, size_t want, char *out, size_t size)
{
    out[0] = '\0';
    pthread_mutex_lock(&ext->lock);
    size_t count = ext->tail_count < TAIL_LINES ? ext->tail_count : TAIL_LINES;
    if (want > count)
        want = count;
    size_t used = 0;
    for (size_t i = ext->tail_count - want; i < ext->tail_count && used + 4 < size; i++) {
        const char *line = ext->tail[i % TAIL_LINES];
        int n = snprintf(out + used, size - used, "%s%s", used ? " | " : "", line ? line : "");
        if (n < 0)
            break;
        used += (size_t)n < size - used ? (size_t)n : size - used - 1;
    }
    pthread_mutex_unlock(&ext->lock);
}

void *external_read_output(void *arg)
{
    struct hx_external *ext = arg;
    char buf[4096];
    char line[LINE_MAX_BYTES + 1];
    size_t len = 0;
    int64_t drain_until = 0;
    for (;;) {
        if (atomic_load(&ext->stopping)) {
            if (!drain_until)
                drain_until = external_mono_ms() + DRAIN_MS;
            else if (external_mono_ms() > drain_until)
                break;
        }
        struct pollfd pfd = {.fd = ext->out_fd, .events = POLLIN};
        int r = poll(&pfd, 1, 100);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue;
        ssize_t got = read(ext->out_fd, buf, sizeof(buf));
        if (got < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (got <= 0)
            break; /* EOF: every process holding the pipe is gone */
        for (ssize_t i = 0; i < got; i++) {
            if (buf[i] == '\n' || buf[i] == '\r') {
                line[len] = '\0';
                take_line(ext, line);
                len = 0;
            } else if (len < LINE_MAX_BYTES) {
                line[len++] = buf[i];
            }
        }
    }
    if (len) {
        line[len] = '\0';
        take_line(ext, line);
    }
    return NULL;
}
