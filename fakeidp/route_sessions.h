/* Logout, session revocation and the user and session reads
 * (route_sessions.c). */
#ifndef IDP_ROUTE_SESSIONS_H
#define IDP_ROUTE_SESSIONS_H

#include "http.h"

void idp_route_logout(struct idp_server *server, struct idp_request *req,
                      struct idp_response *resp);
void idp_route_revoke(struct idp_server *server, struct idp_request *req,
                      struct idp_response *resp);
void idp_route_user(struct idp_server *server, struct idp_request *req,
                    struct idp_response *resp);
void idp_route_sessions_list(struct idp_server *server, struct idp_request *req,
                             struct idp_response *resp);

#endif
