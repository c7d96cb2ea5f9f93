/* Starting the named apps of a scenario ("apps"): each a reference app with
 * the target's knobs, its own knobs and instances, its hosts, its WorkOS
 * client and its deployment pieces, in the variant's routed world. */
#ifndef HX_APPS_H
#define HX_APPS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "run.h"

/* fakeidp's clients for the apps: one per client id (an app without one
 * uses fakeidp's default client), each allowing every host of its apps over
 * http and https (new reference). The first app's client comes first and so
 * is the default. */
json_t *hx_run_apps_clients(const json_t *apps);
/* Convex-style providers with ${client_id} and ${issuer_base} replaced in
 * their fields (a new array). */
json_t *hx_run_resolve_providers(const json_t *providers, const char *client_id, const char *issuer_base);
/* Starts every app; base holds what they share (fakeidp, clock, timeline,
 * providers). An app that refuses to start leaves run->start_error. */
void hx_run_start_apps(struct hx_run *run, const json_t *target, const struct hx_app_config *base,
                       uint64_t seed);

/* The world's backends ("backends") that one app serves: those naming it
 * in "app", and, for the first app (first: the target in the single-app
 * form, whose name is NULL), those naming none. Each gets its settings and
 * its providers (its own, or the standard WorkOS pair) with ${client_id}
 * (the app's client) and ${issuer_base} replaced. Returns how many it
 * wrote to out; hx_run_backend_specs_cleanup frees them. */
int hx_run_backend_specs(const json_t *doc, const char *app_name, bool first,
                         const char *client_id, const char *issuer_base,
                         struct hx_backend_spec out[HX_MAX_BACKENDS]);
void hx_run_backend_specs_cleanup(struct hx_backend_spec *specs, int count);
/* The running app that serves backend `name`, with its origin in origin;
 * NULL when the variant has no such backend. */
struct hx_app *hx_run_backend_app(struct hx_run *run, const char *name, char *origin,
                                  size_t size);

/* Writes the components' clock offsets (browser, IdP, each app instance,
 * each backend) to the timeline when any is not zero ("clock" line). */
void hx_run_note_clocks(struct hx_run *run);

#endif
