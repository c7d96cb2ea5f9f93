/* What the SPA client model's two files share (spa.h is the interface):
 * spa.c holds the model (knobs, the refresh timer, tabs, token storage,
 * refreshes, page loads), spa_steps.c the steps that drive it. */
#ifndef HX_SPA_INTERNAL_H
#define HX_SPA_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spa.h"

struct hx_run;

enum spa_refresh_outcome { SPA_REFRESHED, SPA_TRANSIENT, SPA_TERMINAL };

/* The SPA degraded (spa_degraded): the first reason is kept for the
 * expectation's message. */
void spa_degrade(struct hx_run *run, const char *tab, const char *why);
/* The open tab of that name; with create, a new one when there is none
 * (NULL when all HX_SPA_TABS are open). */
struct hx_spa_tab *spa_tab_named(struct hx_run *run, const char *name, bool create);
/* The devMode refresh token in the app origin's localStorage, or NULL. */
const char *spa_storage_get(struct hx_run *run);
/* The tab's clock: the browser's (true virtual time plus its offset). */
int64_t spa_local_now(struct hx_run *run);
/* POST to fakeidp's authenticate from the page, as authkit-js does; the
 * status (0: no answer, error says why) and the reply's JSON in *reply. */
long spa_idp_post(struct hx_run *run, json_t *body, json_t **reply, char *error, size_t size);
/* A signed duration for the timeline ("-5s", "15s"). */
void spa_signed_duration(int64_t ms, char out[33]);
/* Arms the tab's refresh timer for the token it holds; the timeline says
 * what the timer did when that is more than waiting for the due time. */
void spa_arm_timer(struct hx_run *run, struct hx_spa_tab *tab);
/* A token reply (access and refresh token) into the tab. */
void spa_take_tokens(struct hx_run *run, struct hx_spa_tab *tab, const json_t *reply);
/* One refresh for a tab, drawn in its lane of the HTML report; `token` is
 * the devMode refresh token it read (NULL: none). spa_refresh reads it
 * from localStorage first. */
enum spa_refresh_outcome spa_refresh_with(struct hx_run *run, struct hx_spa_tab *tab,
                                          const char *token);
enum spa_refresh_outcome spa_refresh(struct hx_run *run, struct hx_spa_tab *tab);
/* devMode from the knob, or (auto) from the app's host. */
void spa_init_mode(struct hx_run *run);
/* A page load of the tab (authkit-js initialize()). */
void spa_boot(struct hx_run *run, struct hx_spa_tab *tab);

#endif
