/* What the two halves of the HAR import share: har_capture.c reads a
 * capture into items, har.c writes the scenario from them. */
#ifndef HX_HAR_INTERNAL_H
#define HX_HAR_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "har.h"
#include "url.h"

/* One kept entry: a request to the app's pages or API, or to the IdP. */
struct hx_har_item {
    const json_t *entry;
    struct hx_url url;
    int64_t start_ms, end_ms;
    long status;
    bool idp, document;
};

/* A capture as read: the kept entries in the order they started. */
struct hx_har_capture {
    json_t *har;               /* the capture, Set-Cookie headers one per cookie */
    struct hx_har_item *items;
    size_t n;
    char host[256];            /* the app's */
    char session[128];         /* the session cookie's name, or "" */
    int64_t t0;                /* the first kept request's start */
    json_t *other_hosts;       /* "host" or "host (static files)" -> requests not replayed */
};

/* One Set-Cookie header: name, size of name=value, attributes (values of
 * Domain, Path, SameSite, Max-Age and Expires kept; the cookie's value
 * never). deleted: Max-Age<=0, an expiry in the past or an empty value. */
struct hx_har_set_cookie {
    char name[128];
    size_t size;
    char attrs[256];
    bool deleted;
};

/* Reads har (not changed) into cap and counts into s (zeroed first) what
 * it keeps, summarises and drops. False with err set when it is not a HAR
 * or holds no auth traffic; cap then needs no cleanup. */
bool hx_har_capture_read(struct hx_har_capture *cap, const json_t *har, const char *app_host,
                         struct hx_har_summary *s, struct idp_error *err);
void hx_har_capture_cleanup(struct hx_har_capture *cap);

/* A string member of o, or NULL. */
const char *hx_har_string(const json_t *o, const char *key);
/* The nth header called name (any case) of a HAR headers array, or NULL. */
const json_t *hx_har_header(const json_t *headers, const char *name, size_t nth);
bool hx_har_set_cookie_parse(const char *text, struct hx_har_set_cookie *c);
/* Whether its response sets or deletes cookie name; *set (if given): to
 * a value (true) or deleted (false), as the last such header says. */
bool hx_har_rewrites_cookie(const struct hx_har_item *it, const char *name, bool *set);

#endif
