/* Stopping a CivetWeb server quickly. mg_stop() waits for the listener's
 * poll() to time out (two seconds in CivetWeb 1.15); a scenario runner that
 * starts and stops two servers per variant cannot afford that, so this wakes
 * the listener with loopback connections while mg_stop() runs, and shuts
 * down the connections still open after 100 ms (a worker waiting on an idle
 * keep-alive client would otherwise notice the stop only after 2 s). */
#ifndef IDP_MGSTOP_H
#define IDP_MGSTOP_H

#include <civetweb.h>

/* Stops ctx, which listens on 127.0.0.1:port (or [::1] when ipv6). */
void idp_mg_stop_fast(struct mg_context *ctx, int port, int ipv6);

#endif
