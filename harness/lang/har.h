/* HAR import: turns a browser's HAR 1.2 capture (Chromium, Firefox, Safari
 * exports) into a scenario skeleton that replays its auth-relevant sequence
 * against the reference app. Secrets never reach the output: it holds
 * paths (no query strings), cookie names, sizes and attributes, statuses and
 * timings; every value is dropped and counted. */
#ifndef HX_HAR_H
#define HX_HAR_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "error.h"

struct hx_har_summary {
    size_t entries;            /* in the capture */
    size_t auth;               /* kept: to the app's pages and API, to the IdP */
    size_t other;              /* summarised: static files, other hosts */
    size_t cookie_values;      /* Cookie and Set-Cookie values dropped */
    size_t url_secrets;        /* query parameters dropped (codes, states, tokens) */
    size_t bodies;             /* request bodies dropped */
    size_t response_bodies;    /* response bodies dropped (tokens, users) */
    size_t auth_headers;       /* Authorization headers dropped */
    bool no_cookies;           /* no Cookie or Set-Cookie header at all: a sanitized export */
    char app_host[256];
    char lost[512];            /* where the session was lost, or "" */
};

/* Said in the scenario's description and by the command when a capture
 * holds no cookie at all. */
#define HX_HAR_NO_COOKIES                                                                          \
    "The capture holds no Cookie or Set-Cookie header (a sanitized export, such as Chromium's "   \
    "default \"Export HAR (sanitized)\"): refreshes, cookie sizes and deletions cannot be seen, "  \
    "so the replay may not fail the way production did; export it with sensitive data (fakeidp " \
    "har never writes the values)"

/* The scenario (new reference), or NULL with err set (a capture without
 * auth traffic, not a HAR). app_host: the app's host name, or NULL to infer
 * it (the host of /callback, or the one that sets cookies). name: the
 * scenario's name. */
json_t *hx_har_scenario(const json_t *har, const char *app_host, const char *name,
                        struct hx_har_summary *summary, struct idp_error *err);

#endif
