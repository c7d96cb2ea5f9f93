/* GET and POST /user_management/authorize (route_authorize.c): the hosted
 * sign-in, without the page unless the login_page setting asks for one. */
#ifndef IDP_ROUTE_AUTHORIZE_H
#define IDP_ROUTE_AUTHORIZE_H

#include "http.h"

void idp_route_authorize(struct idp_server *server, struct idp_request *req,
                         struct idp_response *resp);

#endif
