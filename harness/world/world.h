/* The world a variant runs in when its scenario names its apps ("apps"):
 * several reference apps, each on its own loopback port and serving its own
 * host names, with the deployment pieces in front of it (a TLS-terminating
 * proxy, a CDN cache, a serverless adapter, header-size limits). The browser
 * reaches them by name only ("https://app.test/dashboard"): the world's
 * transport stands in for DNS and for ports 80/443, sends each request to
 * the app that serves the host, and plays every piece on the way in and out.
 * The single-app form of a scenario ("target" alone) does not use it. */
#ifndef HX_WORLD_H
#define HX_WORLD_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "clock.h"
#include "error.h"
#include "refapp.h"
#include "timeline.h"

#define HX_WORLD_MAX_APPS 8
#define HX_WORLD_MAX_HOSTS 8

enum hx_adapter { HX_ADAPTER_PASSTHROUGH, HX_ADAPTER_KEEP_FIRST, HX_ADAPTER_KEEP_LAST,
                  HX_ADAPTER_FOLD_COMMA };

/* The deployment pieces between the browser and one app. */
struct hx_pieces {
    bool tls;                 /* a TLS-terminating proxy: the browser speaks https */
    bool forward_proto;       /* … which sends X-Forwarded-Proto */
    bool forward_host;        /* … and keeps Host / sends X-Forwarded-Host */
    bool cdn;                 /* a shared cache keyed by URL */
    bool cdn_honor_origin;    /* it caches only what Cache-Control allows */
    bool cdn_strip_set_cookie;/* it strips Set-Cookie from what it caches */
    int64_t cdn_default_ttl_ms; /* TTL for responses it caches on its own rule */
    int adapter;              /* enum hx_adapter: what survives of several Set-Cookie */
    long request_limit;       /* request header bytes the hop accepts (0: no limit) → 431 */
    long response_limit;      /* response header bytes the hop accepts (0: no limit) → 502 */
    char fan_out[8][256];     /* paths a page load then fetches in parallel (prefetch, RSC) */
    int fan_out_count;
    json_t *fan_out_barrier;  /* a barrier rule lining their refreshes up at fakeidp, or NULL */
    json_t *providers;        /* the app's own backend providers, or NULL: the target's */
};

struct hx_world_app {
    char name[64];
    char hosts[HX_WORLD_MAX_HOSTS][128];
    int host_count;
    char origin[200];         /* the public origin of the first host */
    char client_id[96];
    struct hx_app *app;
    int port;
    struct hx_pieces pieces;
    json_t *cache;            /* the CDN: public URL -> {expires, status, headers, body} */
};

struct hx_world {
    bool routed;              /* the scenario names its apps: hosts are routed here */
    struct hx_world_app apps[HX_WORLD_MAX_APPS];
    int count;
    pthread_mutex_t lock;     /* the CDN caches */
    struct idp_clock *clock;
    struct hx_timeline *timeline;
};

/* Checks one "apps" entry's world keys (hosts, client_id, proxy, cdn,
 * adapter, header_limit) and removes them from entry, leaving its knobs.
 * err->pointer names the offending member. */
enum idp_status hx_world_app_take_pieces(json_t *entry, struct hx_world_app *out,
                                         struct idp_error *err);
/* The keys of an "apps" entry that are not reference-app knobs. */
extern const char *const hx_world_app_keys[];

void hx_world_init(struct hx_world *world, struct idp_clock *clock, struct hx_timeline *timeline);
/* Frees what take_pieces allocated (the fan-out barrier). */
void hx_world_app_cleanup(struct hx_world_app *app);
/* Stops the apps from index `from` on (the first is the run's own app). */
void hx_world_stop_apps(struct hx_world *world, int from);
/* Frees the caches. */
void hx_world_cleanup(struct hx_world *world);
/* The app serving host, or NULL. */
struct hx_world_app *hx_world_app_for_host(struct hx_world *world, const char *host);
struct hx_world_app *hx_world_app_named(struct hx_world *world, const char *name);
/* Turns a step's location into an absolute URL: "/path" on the first app,
 * "name/path" (or "name") on that app's first host, or a URL as it is.
 * False with why set for an unknown app name. */
bool hx_world_resolve(struct hx_world *world, const char *first_origin, const char *where,
                      char *out, size_t size, char *why, size_t why_size);
/* The browser transport of a routed world (hx_browser_transport). */
struct hx_http_response;
bool hx_world_transport(void *world, const char *method, const char *url,
                        const char *const *headers, const char *body, size_t body_len,
                        struct hx_http_response *resp);

#endif
