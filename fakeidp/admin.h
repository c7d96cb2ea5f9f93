/* The admin API under /_fakeidp/ (admin.c): one route that dispatches on
 * its own table, and the key rotation it offers. */
#ifndef IDP_ADMIN_H
#define IDP_ADMIN_H

#include <stdint.h>

#include "error.h"
#include "http.h"

void idp_route_admin(struct idp_server *server, struct idp_request *req,
                     struct idp_response *resp);
/* Rotates to a freshly generated key (idp_keyset_rotate says what lead_ms
 * and retire_after_ms mean). Lock NOT held. */
enum idp_status idp_server_rotate_keys(struct idp_server *server, int64_t lead_ms,
                                       int64_t retire_after_ms, struct idp_error *err);

#endif
