#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const status_texts[] = {
#define IDP_STATUS_TEXT(name, text) text,
    IDP_STATUSES(IDP_STATUS_TEXT)
#undef IDP_STATUS_TEXT
};

const char *idp_status_text(enum idp_status status)
{
    if ((size_t)status >= sizeof(status_texts) / sizeof(status_texts[0]))
        return "unknown status";
    return status_texts[status];
}

static void fill(struct idp_error *err, enum idp_status status, const char *fmt,
                 va_list ap)
{
    err->status = status;
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    err->pointer[0] = '\0';
}

enum idp_status idp_fail(struct idp_error *err, enum idp_status status,
                         const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        fill(err, status, fmt, ap);
        va_end(ap);
        err->file[0] = '\0';
        err->line = err->col = 0;
    }
    return status;
}

enum idp_status idp_fail_at(struct idp_error *err, enum idp_status status,
                            const char *file, int line, int col,
                            const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        fill(err, status, fmt, ap);
        va_end(ap);
        snprintf(err->file, sizeof(err->file), "%s", file ? file : "");
        err->line = line;
        err->col = col;
    }
    return status;
}

void idp_error_within(struct idp_error *err, const char *fmt, ...)
{
    if (!err)
        return;
    char part[256], inner[sizeof(err->pointer)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(part, sizeof(part), fmt, ap);
    va_end(ap);
    snprintf(inner, sizeof(inner), "%s", err->pointer);
    snprintf(err->pointer, sizeof(err->pointer), "%s%s", part, inner);
}

void idp_error_format(const struct idp_error *err, char *buf, size_t size)
{
    if (err->file[0])
        snprintf(buf, size, "%s:%d:%d: %s", err->file, err->line, err->col,
                 err->message);
    else
        snprintf(buf, size, "%s", err->message);
}
