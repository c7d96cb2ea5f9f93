/* An "expect" object as the runner evaluates it: parsed once when the
 * scenario is loaded (run/expect.c: hx_expect_parse checks each key against
 * its row of the expectation table and fills this), then evaluated as it is
 * (hx_expect_evaluate). Strings and JSON values are borrowed from the
 * variant's document. */
#ifndef HX_EXPECTATION_H
#define HX_EXPECTATION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hx_expectation {
    const char *name; /* the key: "session", "idp", ... */
    const void *row;  /* its row of the expectation table (expect.c) */
    /* The value as written: what the kinds with an object of their own
     * evaluate, checked by their parser (claims, cookie, idp, app,
     * backend, spa_counts: names, flags and counts), and the text lists of
     * timeline_contains and timeline_lacks. */
    const json_t *value;
    union {
        bool flag;           /* signed_in, login_redirect, spa_degraded, never_lost */
        long long number;    /* status */
        const char *text;    /* session, convex, spa, sign_in, body_contains, redirect,
                                convex_error, start_error */
        int64_t duration_ms; /* lost_after, lost_before */
    } as;
};

/* The expectations of one "expect" object, in its order. */
struct hx_expectations {
    struct hx_expectation *items;
    size_t count;
};

#endif
