/* The state of one running variant, shared by the step and expectation
 * tables. The runner creates it, starts fakeidp and the target, runs the
 * steps and evaluates the expectations. */
#ifndef HX_RUN_H
#define HX_RUN_H

#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "browser.h"
#include "clock.h"
#include "external.h"
#include "refapp.h"
#include "scenario.h"
#include "server.h"
#include "spa.h"
#include "timeline.h"
#include "world.h"

struct hx_http_client;
struct hx_kept;

/* What a page load / API call last showed. */
struct hx_observation {
    bool valid;
    long status;
    bool signed_in;
    bool login_redirect;
    char url[512];
    char stopped_at[512];
    char body_excerpt[512];
    char error[256];
};

struct hx_run {
    const struct hx_scenario *scenario;
    const struct hx_variant *variant;
    const json_t *doc;              /* the variant's merged document */
    struct idp_clock clock;
    struct hx_timeline timeline;
    struct idp_server *idp;         /* in-process fakeidp (NULL for external) */
    char idp_url[256];              /* server-to-server */
    char idp_public_url[256];       /* as the browser reaches it */
    char admin_token[128];
    char client_id[96], api_key[128];
    struct hx_app *app;             /* the reference app (NULL for external); with "apps",
                                       the first of them */
    struct hx_world world;          /* the named apps and their pieces ("apps") */
    struct hx_kept *kept;           /* the worker's reusable fakeidp and app, or NULL (fresh) */
    struct hx_external *external;   /* an external app the harness started, or NULL */
    bool adopt_orphans;             /* hx_runner_options.adopt_orphans, for external apps */
    char app_origin[256];
    char start_error[512];          /* the target refused to start */
    bool broken;                    /* the run could not be carried out (hx_run_broken) */
    double started_wall_ms;         /* monotonic wall clock when the variant started */
    int64_t timeout_ms;             /* wall-clock limit of the variant; 0: none */
    bool timed_out;
    json_t *owned_target;           /* the external target with ${NAME} expanded */
    json_t *idp_config;             /* the in-process fakeidp's configuration */
    struct hx_browser browser;
    char convex_adapter[32];        /* get_access_token | static_token */
    char convex_token[8192];        /* the token a static adapter captured */
    struct hx_spa spa;              /* the SPA client model (target "spa" knobs), guarded by
                                       spa_lock: SPA steps inside parallel take turns, as
                                       scripts on one event loop do */
    pthread_mutex_t spa_lock;
    EVP_PKEY *key;                  /* fakeidp's signing key (borrowed), for forged tokens */

    pthread_mutex_t lock;           /* guards the fields below during parallel steps */
    struct hx_observation last;
    bool ever_signed_in;
    bool sign_in_failed;            /* a sign_in step did not end signed in */
    json_t *totp_secrets;           /* email -> TOTP secret the user enrolled in this run */
    int64_t signed_in_at_ms;
    int64_t lost_at_ms;             /* first observation of signed out after sign-in; 0: never */
    uint64_t journal_mark;          /* journal seq right after the last sign-in */
    uint64_t journal_seen;          /* journal entries up to here are in the timeline */
    int convex_authenticated;       /* -1 unknown, 0 no, 1 yes */
    char convex_error[512];
    int exec_follower;              /* an external app under `fakeidp exec` follows the fake's
                                       clock: 1 yes (clock changes wait for its acknowledgement),
                                       0 no, -1 not known yet */
    json_t *failures;               /* array of strings */
    int64_t start_ms;
};

/* Admin API call on fakeidp; returns the parsed body (new reference) or
 * NULL, and the status in *status. */
json_t *hx_run_admin(struct hx_run *run, const char *method, const char *path, const json_t *body,
                     long *status);
/* hx_run_admin, with the transport error (no reply at all) in why. */
json_t *hx_run_admin_why(struct hx_run *run, const char *method, const char *path,
                         const json_t *body, long *status, char *why, size_t why_size);
/* Records that the run could not be carried out (an unreachable fake, a
 * target that cannot start): a failure that is not the app's, reported
 * with exit status 3. */
void hx_run_broken(struct hx_run *run, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Records a failed expectation (printf-style). */
void hx_run_fail(struct hx_run *run, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void hx_run_note(struct hx_run *run, const char *source, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same with extra fields for the entry (data is stolen, may be NULL:
 * "tab", "component") and the arguments as a va_list. */
void hx_run_vnote(struct hx_run *run, const char *source, json_t *data, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
int64_t hx_run_now(struct hx_run *run);
/* Monotonic wall-clock milliseconds. */
double hx_wall_ms(void);
/* True once the variant's wall-clock timeout has passed; the first call
 * that finds it so records the failure. Checked before every step, at any
 * depth (inside repeat and parallel too). */
bool hx_run_out_of_time(struct hx_run *run, const char *where);
/* Moves virtual time forward everywhere: fakeidp (admin API), the local
 * clock when fakeidp runs elsewhere, the browser's storage policy and an
 * external app's faketime. Returns false when fakeidp refused. */
bool hx_run_advance(struct hx_run *run, int64_t ms);
/* The journal's next seq (before a clock change), for hx_run_follow. */
uint64_t hx_run_journal_next(struct hx_run *run);
/* For an external app the harness did not start: waits up to wait_ms for a
 * `fakeidp exec` to acknowledge the clock change made after seq `since`
 * (its journaled GET /_fakeidp/health "fakeidp-exec-PID-SEQ" with SEQ past
 * the change, cli/exec.c). The first call finds out whether such a follower
 * exists (run->exec_follower); later calls wait only when it does. */
void hx_run_follow(struct hx_run *run, uint64_t since, int wait_ms);
/* The access token the target holds now: the reference app's session (its
 * /token route; with origin, that app's of the world) or the SPA's main
 * tab. False when there is none. */
bool hx_run_access_token(struct hx_run *run, const char *origin, char *out, size_t size);
/* Copies fakeidp's new journal entries into the timeline (source "idp"). */
void hx_run_sync_journal(struct hx_run *run);
/* Whether a page shows the signed-in user: status 200 and the target's
 * signed_in_text in the body (default "\"signed_in\":true"), or, with
 * signed_in_field, a truthy JSON value at that dot path ("user.email"). */
bool hx_run_is_signed_in(struct hx_run *run, long status, const char *body);
/* Adds a barrier fault rule for n requests at fakeidp (hold n, replies 25 ms
 * apart unless the rule says otherwise); its id goes to id ("" if refused).
 * hx_run_barrier_remove takes it away again. */
void hx_run_barrier_add(struct hx_run *run, const json_t *barrier, size_t n, char *id, size_t size);
void hx_run_barrier_remove(struct hx_run *run, const char *id);
/* A step's location as an absolute URL: "/path" on the target (the first
 * app), "name/path" on a named app's first host, a URL as it is. */
bool hx_run_location(struct hx_run *run, const char *where, char *out, size_t size, char *why,
                     size_t why_size);
/* Loads a location in the browser and records the observation: a path of
 * the target ("/dashboard"), "app/path" on a named app, or a URL. */
void hx_run_load(struct hx_run *run, const char *path, bool subrequest, const char *method,
                 struct hx_observation *out);
/* Runs a navigation (or fetch) and records what it showed, as hx_run_load
 * does; what and path name it in the timeline ("load /dashboard"). */
void hx_run_visit(struct hx_run *run, const struct hx_navigation *nav, const char *what,
                  const char *path, struct hx_observation *out);
/* The page on another site that cross-site navigations start from. */
#define HX_CROSS_SITE_PAGE "http://cross-site.test/"

#endif
