/* POST /user_management/authenticate (route_authenticate.c): the code
 * exchange, the refresh grant, and the session every sign-in ends in. */
#ifndef IDP_ROUTE_AUTHENTICATE_H
#define IDP_ROUTE_AUTHENTICATE_H

#include <stdint.h>

#include "http.h"
#include "store.h"

void idp_route_authenticate(struct idp_server *server, struct idp_request *req,
                            struct idp_response *resp);
/* Ends the exchange of the refresh token the request rotated (if any): its
 * successor pair stays cached for grace replays. Lock NOT held. */
void idp_refresh_settle(struct idp_server *server, struct idp_request *req);
/* With the lock held on entry and released on return: creates the session
 * and answers 200 with the tokens, as every grant that signs a user in does
 * (route_grants.c too). */
void idp_sign_in_finish(struct idp_server *server, struct idp_request *req,
                        struct idp_response *resp, struct idp_client *client,
                        struct idp_user *user, const char *org, const char *method,
                        int64_t auth_ms);

#endif
