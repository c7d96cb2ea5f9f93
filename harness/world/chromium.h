/* The Chromium engine: a driver process (harness/chromium/driver.mjs, node
 * and puppeteer-core, started through start.sh) that runs a variant's
 * browser requests in headless Debian Chromium. The runner talks to it in
 * JSON lines, one request and one answer at a time: hx_chromium_call
 * serializes callers, so parallel steps take turns. */
#ifndef HX_CHROMIUM_H
#define HX_CHROMIUM_H

#include <jansson.h>
#include <stddef.h>

struct hx_chromium;

/* The folder holding start.sh and driver.mjs: $FAKEIDP_CHROMIUM_DRIVER, else
 * the source tree's harness/chromium, else the installed share/fakeidp/chromium. */
const char *hx_chromium_driver_dir(void);
/* Starts the driver and sends start (borrowed, an object with "op": "start").
 * NULL with the reason in why when node, npm, Chromium or the driver is
 * missing or fails; the message says what to install. */
struct hx_chromium *hx_chromium_start(const json_t *start, char *why, size_t why_size);
/* Sends one request (borrowed) and returns the answer (new reference), or
 * NULL with why set (the driver died, did not answer in 90 s, or answered
 * {"error": ...}: then why also carries the answer's notes). */
json_t *hx_chromium_call(struct hx_chromium *c, const json_t *request, char *why, size_t why_size);
/* Closes the browser and the driver; accepts NULL; clears *c. */
void hx_chromium_free(struct hx_chromium **c);

#endif
