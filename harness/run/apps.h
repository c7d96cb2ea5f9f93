/* Starting the named apps of a scenario ("apps"): each a reference app with
 * the target's knobs, its own knobs and instances, its hosts, its WorkOS
 * client and its deployment pieces, in the variant's routed world. */
#ifndef HX_APPS_H
#define HX_APPS_H

#include <jansson.h>
#include <stdint.h>

#include "run.h"

/* fakeidp's clients for the apps: one per client id (an app without one
 * uses fakeidp's default client), each allowing every host of its apps over
 * http and https (new reference). The first app's client comes first and so
 * is the default. */
json_t *hx_run_apps_clients(const json_t *apps);
/* Starts every app; base holds what they share (fakeidp, clock, timeline,
 * providers). An app that refuses to start leaves run->start_error. */
void hx_run_start_apps(struct hx_run *run, const json_t *target, const struct hx_app_config *base,
                       uint64_t seed);

/* Writes the components' clock offsets (browser, IdP, each app instance,
 * each backend) to the timeline when any is not zero ("clock" line). */
void hx_run_note_clocks(struct hx_run *run);

#endif
