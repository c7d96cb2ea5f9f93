/* POST /user_management/authenticate (route_authenticate.c): the code
 * exchange and the refresh grant; the other grants are in route_grants.c. */
#ifndef IDP_ROUTE_AUTHENTICATE_H
#define IDP_ROUTE_AUTHENTICATE_H

#include "http.h"
#include "store.h"

void idp_route_authenticate(struct idp_server *server, struct idp_request *req,
                            struct idp_response *resp);
/* Ends the exchange of the refresh token the request rotated (if any): its
 * successor pair stays cached for grace replays. Lock NOT held. */
void idp_refresh_settle(struct idp_server *server, struct idp_request *req);

#endif
