/* Starting and stopping CivetWeb servers; nothing else calls mg_start or
 * mg_stop (tests/arch/call_graph.py checks).
 *
 * Starting: CivetWeb initialises its library (a global mutex, a thread key)
 * inside the first mg_start unless mg_init_library was called, and that
 * initialisation is not thread-safe: two servers started at once by two
 * threads could re-initialise the global mutex while the other thread held
 * it (glibc then aborts in pthread_mutex_lock, "__owner == 0"). Every start
 * goes through idp_mg_start, which initialises the library once first.
 *
 * Stopping quickly: mg_stop() waits for the listener's
 * poll() to time out (two seconds in CivetWeb 1.15); a scenario runner that
 * starts and stops two servers per variant cannot afford that, so this wakes
 * the listener with loopback connections while mg_stop() runs, and shuts
 * down the connections still open after 100 ms (a worker waiting on an idle
 * keep-alive client would otherwise notice the stop only after 2 s). */
#ifndef IDP_MG_LIFECYCLE_H
#define IDP_MG_LIFECYCLE_H

#include <civetweb.h>

/* mg_start2 after CivetWeb's library initialisation, done once per process
 * whichever thread comes first. */
struct mg_context *idp_mg_start(struct mg_init_data *init, struct mg_error_data *error);

/* Stops ctx, which listens on 127.0.0.1:port (or [::1] when ipv6). */
void idp_mg_stop_fast(struct mg_context *ctx, int port, int ipv6);

#endif
