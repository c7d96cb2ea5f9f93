/* Errors are values: every fallible function returns an enum idp_status and,
 * when it fails, fills a caller-owned struct idp_error with a message. */
#ifndef IDP_ERROR_H
#define IDP_ERROR_H

#include <stddef.h>

#define IDP_STATUSES(X)                                 \
    X(OK, "ok")                                         \
    X(NOMEM, "out of memory")                           \
    X(INVALID, "invalid input")                         \
    X(PARSE, "parse error")                             \
    X(CRYPTO, "crypto failure")                         \
    X(IO, "i/o error")                                  \
    X(NOT_FOUND, "not found")                           \
    X(EXPIRED, "expired")                               \
    X(DENIED, "denied")

enum idp_status {
#define IDP_STATUS_ENUM(name, text) IDP_##name,
    IDP_STATUSES(IDP_STATUS_ENUM)
#undef IDP_STATUS_ENUM
};

/* A caller-owned error record. line/col are 0 unless the error points into a
 * file (configuration or scenario), then file names it. */
struct idp_error {
    enum idp_status status;
    char message[512];
    char file[256];
    int line;
    int col;
    /* Where in the input document the error is, as a JSON pointer relative
     * to what the failing function was given ("/users/2/email"); empty when
     * it concerns the whole input. Callers that nest prefix their part. */
    char pointer[256];
};

const char *idp_status_text(enum idp_status status);

/* Sets err (if not NULL) and returns status, so callers can write
 * `return idp_fail(err, IDP_INVALID, "bad %s", what);`. */
enum idp_status idp_fail(struct idp_error *err, enum idp_status status,
                         const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like idp_fail, with a position in a file. */
enum idp_status idp_fail_at(struct idp_error *err, enum idp_status status,
                            const char *file, int line, int col,
                            const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Prefixes err->pointer with a formatted JSON pointer part ("/users/%zu"). */
void idp_error_within(struct idp_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Formats "file:line:col: message" (or just the message) into buf. */
void idp_error_format(const struct idp_error *err, char *buf, size_t size);

#endif
