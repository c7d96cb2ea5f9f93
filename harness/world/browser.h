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

#include "clock.h"
#include "cookies.h"
#include "error.h"
#include "http_client.h"
#include "timeline.h"
#include "url.h"

struct hx_browser_knobs {
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
/* Wipes script storage of sites not visited for storage_purge_ms. */
void hx_browser_tick(struct hx_browser *b);

#endif
