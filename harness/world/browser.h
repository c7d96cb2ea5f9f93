/* The browser model: one cookie jar and localStorage shared by tabs, a
 * profile's cookie rules, a client clock offset, and navigation that follows
 * redirects the way a browser does (Set-Cookie on every hop, SameSite by the
 * initiator). Navigations stop at the sign-in page unless told to follow it,
 * so "redirected to sign in" is an observable outcome instead of a silent
 * re-login against the fake. Thread-safe for parallel steps. */
#ifndef HX_BROWSER_H
#define HX_BROWSER_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "chromium.h"
#include "clock.h"
#include "cookies.h"
#include "error.h"
#include "http_client.h"
#include "timeline.h"
#include "url.h"

enum hx_engine { HX_ENGINE_MODEL, HX_ENGINE_CHROMIUM };

struct hx_browser_knobs {
    int engine;              /* enum hx_engine: the C model, or real headless Chromium */
    int profile;             /* enum hx_profile */
    bool block_third_party;  /* on by default, as in a fresh Chromium or WebKit profile */
    int64_t clock_offset_ms; /* the client's clock minus the true time */
    int64_t storage_purge_ms;/* WebKit ITP: script storage wiped after this without a visit (0: never) */
    char app_host[128];      /* host name the browser uses for the app */
    char idp_host[128];      /* host name the browser uses for fakeidp */
    char embedded_in[256];   /* top-level page origin when the app runs in an iframe */
    bool offline;            /* every request fails as "Failed to fetch" */
    char secure_hosts[256];  /* comma-separated hosts treated as https origins (standing in
                                for TLS, which loopback scenarios do not have) */
};

void hx_browser_knobs_defaults(struct hx_browser_knobs *knobs);
/* The browser knob names (a new JSON array), for the schema check. */
json_t *hx_browser_knob_names(void);
enum idp_status hx_browser_knobs_apply(struct hx_browser_knobs *knobs, const json_t *obj,
                                       const char **bad_key, struct idp_error *err);

/* Sends one request without following redirects, like hx_http_request. */
typedef bool (*hx_browser_transport)(void *data, const char *method, const char *url,
                                     const char *const *headers, const char *body, size_t body_len,
                                     struct hx_http_response *resp);

struct hx_browser {
    pthread_mutex_t lock;
    /* NULL: HTTP over loopback. The differential cookie suite answers from
     * its case table instead (tests/browser). */
    hx_browser_transport transport;
    void *transport_data;
    struct hx_browser_knobs knobs;
    struct hx_jar jar;
    json_t *local_storage; /* origin -> {key: value} */
    json_t *last_visit;    /* site -> virtual ms */
    struct idp_clock *clock;
    struct hx_timeline *timeline;
    unsigned authorize_visits;
    /* The Chromium engine, when the variant runs in it (NULL: the model).
     * Navigations and fetches then run in Chromium and the jar mirrors
     * Chromium's after every request (expiry kept on the virtual clock). */
    struct hx_chromium *engine;
    char app_origin[256];    /* where a form with no page of its own is posted from */
};

struct hx_navigation {
    const char *method;      /* default GET */
    const char *url;         /* absolute */
    const char *body;
    const char *const *headers;
    bool subrequest;         /* fetch() from the page, not a navigation */
    bool follow_login;       /* follow redirects into the IdP's authorize */
    bool credentials;        /* subrequests: send cookies cross-site (credentials: 'include') */
    const char *initiator;   /* URL of the page that starts it; NULL: typed in */
    bool by_script;          /* started by location.assign rather than a link (the same to
                                cookies; Chromium's engine does it that way) */
};

struct hx_page {
    long status;             /* last response's status, 0 if none */
    char url[4096];          /* URL of the last response */
    char stopped_at[4096];   /* the sign-in redirect not followed, if any */
    bool login_redirect;     /* stopped at /login or /user_management/authorize */
    char *body;
    char error[256];         /* transport error */
    int hops;
};

void hx_browser_init(struct hx_browser *b, const struct hx_browser_knobs *knobs,
                     struct idp_clock *clock, struct hx_timeline *timeline);
void hx_browser_cleanup(struct hx_browser *b);
int64_t hx_browser_now(struct hx_browser *b);
/* Runs a navigation or subrequest; fills page (caller frees page->body). */
void hx_browser_go(struct hx_browser *b, const struct hx_navigation *nav, struct hx_page *page);
void hx_page_cleanup(struct hx_page *page);
/* Pins this thread's requests to an app instance (1-based; 0: the
 * balancer decides), sent as X-Fakeidp-Instance. Returns the previous pin. */
int hx_browser_pin_instance(int instance);
/* document.cookie of a page at url (malloc'd): no HttpOnly cookies. */
char *hx_browser_document_cookie(struct hx_browser *b, const char *url);
/* Whether a page at url is a secure context (https, a loopback host, or a
 * host the secure_hosts knob stands in for https): without one,
 * crypto.subtle is undefined. */
bool hx_browser_secure_context(const struct hx_browser *b, const char *url);
/* Wipes script storage of sites not visited for storage_purge_ms; with the
 * Chromium engine, moves the page clock and expires cookies. */
void hx_browser_tick(struct hx_browser *b);
/* Sends one request to the Chromium engine (request stolen) with the page
 * clock and the cookies due to expire, mirrors the jar and adds the
 * engine's notes to the timeline. Returns the answer (new reference) or
 * NULL with why. */
json_t *hx_browser_engine_call(struct hx_browser *b, json_t *request, char *why, size_t why_size);
/* Empties the jar (and Chromium's, with the engine). */
void hx_browser_clear_cookies(struct hx_browser *b);
/* After the jar was edited (tamper_cookie, forge_session_cookie): Chromium
 * gets the same cookies. False with why when the engine refused. */
bool hx_browser_push_cookies(struct hx_browser *b, char *why, size_t why_size);

#endif
