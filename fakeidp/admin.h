/* The admin API under /_fakeidp/ (admin.c): one route that dispatches on
 * its own table (key rotation among its routes). */
#ifndef IDP_ADMIN_H
#define IDP_ADMIN_H

#include "http.h"

void idp_route_admin(struct idp_server *server, struct idp_request *req,
                     struct idp_response *resp);

#endif
