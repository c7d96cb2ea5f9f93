/* GET /sso/jwks/{client_id} and the OpenID discovery documents
 * (route_jwks.c). */
#ifndef IDP_ROUTE_JWKS_H
#define IDP_ROUTE_JWKS_H

#include "http.h"

void idp_route_jwks(struct idp_server *server, struct idp_request *req,
                    struct idp_response *resp);
void idp_route_discovery(struct idp_server *server, struct idp_request *req,
                         struct idp_response *resp);

#endif
