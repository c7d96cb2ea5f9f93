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
};

void hx_spa_knobs_defaults(struct hx_spa_knobs *knobs);
/* The SPA knob names (a new JSON array), for the schema check. */
json_t *hx_spa_knob_names(void);
enum idp_status hx_spa_knobs_apply(struct hx_spa_knobs *knobs, const json_t *obj,
                                   const char **bad_key, struct idp_error *err);

#define HX_SPA_TABS 4

struct hx_spa_tab {
    char name[32];
    bool open, hidden;
    bool authenticated;
    char access_token[8192];
    int64_t expires_at;   /* in the tab's notion of time (see relative_expiry) */
};

struct hx_spa {
    struct hx_spa_knobs knobs;
    struct hx_spa_tab tabs[HX_SPA_TABS];
    bool dev_mode;
    bool convex_signed_out;  /* a null token made Convex sign out (sticky) */
    bool degraded;           /* an unauthenticated flash was observed */
    unsigned expired_calls;  /* API calls sent with an expired token */
    unsigned refreshes;
};

/* Step runners (steps.c rows call these). Each returns false when the run
 * cannot go on. */
bool hx_spa_sign_in(struct hx_run *run, const json_t *value);
bool hx_spa_reload(struct hx_run *run, const json_t *value);
bool hx_spa_wait(struct hx_run *run, const json_t *value);
bool hx_spa_tab_step(struct hx_run *run, const json_t *value);
bool hx_spa_call(struct hx_run *run, const json_t *value);
/* The same steps with the Chromium engine: the real authkit-js in the page
 * (spa_chromium.c); the hx_spa_* steps call them when the engine runs. */
bool hx_spa_chromium_sign_in(struct hx_run *run, const json_t *value);
bool hx_spa_chromium_reload(struct hx_run *run, const json_t *value);
bool hx_spa_chromium_wait(struct hx_run *run, const json_t *value);
bool hx_spa_chromium_tab(struct hx_run *run, const json_t *value);
bool hx_spa_chromium_call(struct hx_run *run, const json_t *value);
/* A timeline line of the SPA (source "spa"): with a tab, it carries the tab
 * and is named "spa/<tab>" (a lane of its own in the HTML report); NULL for
 * a line about several tabs. */
void hx_spa_note(struct hx_run *run, const char *tab, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The state of a tab for expectations: 1 authenticated, 0 not, -1 no tab. */
int hx_spa_tab_authenticated(struct hx_run *run, const char *tab);

#endif
