/* The browser SPA client model (authkit-js / authkit-react) and the auth
 * adapter around it: tokens in memory per tab, the refresh token in
 * localStorage (devMode) or in an HttpOnly cookie on the IdP's origin
 * (production mode, gated by a JS-readable workos-has-session cookie), the
 * refresh timer, the cross-tab lock, transient versus terminal errors, and
 * the loading guard and Convex token adapter variants. Each behaviour is a
 * knob (docs/reference-app.md); the client talks to fakeidp through the
 * browser model, so cookie and storage rules apply as in a browser. */
#ifndef HX_SPA_H
#define HX_SPA_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "error.h"

struct hx_run;

enum hx_spa_mode { HX_SPA_DEV_AUTO, HX_SPA_DEV_ON, HX_SPA_DEV_OFF };

struct hx_spa_knobs {
    int dev_mode;              /* enum hx_spa_mode: auto = on for localhost / 127.0.0.1 */
    int64_t refresh_buffer_ms; /* refresh this long before expiry (authkit-js: 10 s) */
    bool lock;                 /* one refresh at a time across tabs (Web Locks) */
    bool transient_keeps;      /* 408/429/5xx/network keep the session (authkit-js >= 0.20) */
    bool relative_expiry;      /* expiry = local now + (exp - iat) (authkit-js) vs local clock vs exp */
    bool pause_hidden;         /* no timer refresh while hidden (authkit-js) */
    bool refresh_on_focus;     /* refresh before resuming when a stale tab is shown (the F8 fix) */
    int loading_guard;         /* 0 fixed, 1 buggy (reports signed out while the first token is in flight) */
    int token_errors;          /* 0 retry (fixed), 1 null (the adapter maps errors to null) */
    bool reschedule;           /* the timer is armed again after its refresh (authkit-js >= 0.10.1) */
    int timer_overflow;        /* 0 fixed (a delay over 2^31-1 ms is capped and re-armed), 1 buggy (wraps) */
    int64_t min_delay_ms;      /* the timer waits at least this long (0: no minimum) */
};

void hx_spa_knobs_defaults(struct hx_spa_knobs *knobs);
/* The SPA knob names (a new JSON array), for the schema check. */
json_t *hx_spa_knob_names(void);
enum idp_status hx_spa_knobs_apply(struct hx_spa_knobs *knobs, const json_t *obj,
                                   const char **bad_key, struct idp_error *err);

/* The refresh timer's arithmetic, apart from any run so that it can be
 * tested alone: what a timer armed with delay_ms (the time until expiry
 * minus refresh_buffer, on the tab's clock; negative when already due)
 * does under the knobs. setTimeout keeps its delay in a 32-bit signed
 * integer: a delay over HX_SPA_TIMER_MAX_MS wraps (WebIDL `long`, then a
 * negative delay is 0), unless the client caps it and re-arms until due. */
#define HX_SPA_TIMER_MAX_MS INT64_C(2147483647)

enum hx_spa_timer_kind {
    HX_SPA_TIMER_ON_TIME = 0, /* fires after the delay, or at once when it is not positive */
    HX_SPA_TIMER_CLAMPED, /* the delay was below min_delay: it waits min_delay */
    HX_SPA_TIMER_WRAPPED, /* over HX_SPA_TIMER_MAX_MS, timer_overflow buggy: the wrapped delay */
    HX_SPA_TIMER_CAPPED,  /* over HX_SPA_TIMER_MAX_MS, timer_overflow fixed: capped, re-armed, on time */
};

struct hx_spa_timer {
    enum hx_spa_timer_kind kind;
    int64_t fire_in_ms; /* from the moment it is armed, >= 0 */
};

struct hx_spa_timer hx_spa_timer_plan(const struct hx_spa_knobs *knobs, int64_t delay_ms);

#define HX_SPA_TABS 4
#define HX_SPA_TAB_NAME_MAX 31 /* characters of a tab's name (lint says so) */

struct hx_spa_tab {
    char name[HX_SPA_TAB_NAME_MAX + 1];
    bool open, hidden;
    bool authenticated;
    char access_token[8192];
    int64_t expires_at;   /* in the tab's notion of time (see relative_expiry) */
    int64_t lifetime_ms;  /* exp - iat of the token it holds */
    /* The refresh timer: armed by sign-in and page load, re-armed with each
     * new token while it runs (not after its own refresh without
     * reschedule). timer_at is on the tab's clock; timer_late says it fires
     * after the token expires (min_delay), so the tab holds an expired
     * token meanwhile; expiry_noted that the timeline said so for this token;
     * timer_told what the timeline last said of its arming (spa.c). */
    bool timer_armed, timer_late, expiry_noted;
    int timer_told;
    int64_t timer_at;
};

struct hx_spa {
    struct hx_spa_knobs knobs;
    struct hx_spa_tab tabs[HX_SPA_TABS];
    bool dev_mode;
    bool convex_signed_out;  /* a null token made Convex sign out (sticky) */
    bool degraded;           /* an unauthenticated flash, or a tab holding an expired token */
    char degraded_why[160];  /* the first time it degraded: "<tab>: what happened" */
    unsigned expired_calls;  /* API calls sent with an expired token */
    unsigned refreshes;
};

/* Step runners (steps.c rows call these), on parsed values: email NULL for
 * the default user, a tab's name ("main"), a duration, a spa_tab operation
 * (open, hide, show or close). Each returns false when the run cannot go
 * on. */
bool hx_spa_sign_in(struct hx_run *run, const char *email);
bool hx_spa_reload(struct hx_run *run, const char *tab);
bool hx_spa_wait(struct hx_run *run, int64_t ms);
bool hx_spa_tab_step(struct hx_run *run, const char *op, const char *tab);
bool hx_spa_call(struct hx_run *run, const char *tab);
/* The same steps with the Chromium engine: the real authkit-js in the page
 * (spa_chromium.c); the hx_spa_* steps call them when the engine runs. */
bool hx_spa_chromium_sign_in(struct hx_run *run, const char *email);
bool hx_spa_chromium_reload(struct hx_run *run, const char *tab);
bool hx_spa_chromium_wait(struct hx_run *run, int64_t ms);
bool hx_spa_chromium_tab(struct hx_run *run, const char *op, const char *tab);
bool hx_spa_chromium_call(struct hx_run *run, const char *tab);
/* A tab's refresh timer, on the tab's clock (now_ms). hx_spa_timer_arm arms
 * it for the token the tab holds (due refresh_buffer before expires_at, as
 * hx_spa_timer_plan says) and returns the plan. hx_spa_timer_fired is the
 * timer firing its refresh: it stays armed, to be armed again for the new
 * token, only with reschedule (authkit-js before 0.10.1 never armed it
 * again, whatever the refresh's outcome: authkit-js#77). */
struct hx_spa_timer hx_spa_timer_arm(const struct hx_spa_knobs *knobs, struct hx_spa_tab *tab, int64_t now_ms);
void hx_spa_timer_fired(const struct hx_spa_knobs *knobs, struct hx_spa_tab *tab);
/* A timeline line of the SPA (source "spa"): with a tab, it carries the tab
 * and is named "spa/<tab>" (a lane of its own in the HTML report); NULL for
 * a line about several tabs. */
void hx_spa_note(struct hx_run *run, const char *tab, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The state of a tab for expectations: 1 authenticated, 0 not, -1 no tab. */
int hx_spa_tab_authenticated(struct hx_run *run, const char *tab);

#endif
